//! Send windows (rule 4, quiet hours) in the recipient's local time, and the search for the next opening.
//!
//! Sources (docs/consent-rules.md R-US-3, R-ST-1, R-EU-2, P-2):
//! - federal: 08:00-21:00 recipient local time, 47 CFR 64.1200(c)(1);
//! - Florida (FTSA s.501.059), Oklahoma (OTSA), Maryland (Stop the Spam Calls Act), Washington (HB 1497):
//!   08:00-20:00; New Jersey: sources conflict (08:00-21:00 vs 08:00-20:00), P-1 uses 08:00-20:00;
//! - Connecticut (SB 1058): 09:00-20:00;
//! - Texas (SB 140): 09:00-21:00 Monday-Saturday, 12:00-21:00 Sunday;
//! - states listed with low confidence in R-ST-1 (vendor compilations, "verify"): Alabama, Louisiana,
//!   Massachusetts, Mississippi 08:00-20:00; California, Illinois, Michigan, Minnesota 09:00-21:00; Kentucky
//!   10:00-21:00; Rhode Island 09:00-18:00 on weekdays, 10:00-17:00 at weekends. Encoded anyway: a window
//!   narrower than the law costs a few hours of delay, a wider one is a violation;
//! - a US number whose state is unknown: every state's window at once (10:00-18:00 on weekdays, 10:00-17:00
//!   on Saturdays, 12:00-17:00 on Sundays), narrower than the 09:00-20:00 fallback some guides suggest, because of Rhode Island and
//!   Kentucky;
//! - other markets: the store's configurable default (08:00-20:00), never wider than our house limit of
//!   08:00-21:00; France additionally no Sundays (R-EU-2; public holidays not modelled);
//! - the merchant's own narrowing applies on top, so it can only narrow.
//!
//! Windows are half-open `[start, end)`: at 20:00:00 a 08:00-20:00 window is closed. With several candidate
//! zones the window must be open in all of them at the same instant.

use chrono::{DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveTime, TimeZone, Timelike, Utc, Weekday};
use chrono_tz::Tz;
use std::fmt;

/// One day's window, in minutes since local midnight, `[start, end)`. Empty when `start >= end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DayWindow {
    pub start: u16,
    pub end: u16,
}

impl DayWindow {
    pub const CLOSED: Self = Self { start: 0, end: 0 };

    /// A window from whole hours (`hours(8, 20)` is 08:00-20:00). Hours beyond 24 are read as 24.
    pub const fn hours(start: u8, end: u8) -> Self {
        let start = if start > 24 { 24 } else { start };
        let end = if end > 24 { 24 } else { end };
        Self {
            start: start as u16 * 60,
            end: end as u16 * 60,
        }
    }

    pub fn is_closed(self) -> bool {
        self.start >= self.end
    }

    pub fn intersect(self, other: Self) -> Self {
        let w = Self {
            start: self.start.max(other.start),
            end: self.end.min(other.end),
        };
        if w.is_closed() { Self::CLOSED } else { w }
    }

    fn contains(self, seconds_of_day: u32) -> bool {
        !self.is_closed() && seconds_of_day >= u32::from(self.start) * 60 && seconds_of_day < u32::from(self.end) * 60
    }
}

impl fmt::Display for DayWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_closed() {
            f.write_str("closed")
        } else {
            write!(
                f,
                "{:02}:{:02}-{:02}:{:02}",
                self.start / 60,
                self.start % 60,
                self.end / 60,
                self.end % 60
            )
        }
    }
}

/// A window per weekday (Monday first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WeeklyWindow {
    pub days: [DayWindow; 7],
}

impl WeeklyWindow {
    pub const fn every_day(day: DayWindow) -> Self {
        Self { days: [day; 7] }
    }

    /// Monday-Friday one window, Saturday and Sunday another.
    pub const fn weekend_apart(weekdays: DayWindow, weekend: DayWindow) -> Self {
        Self {
            days: [weekdays, weekdays, weekdays, weekdays, weekdays, weekend, weekend],
        }
    }

    /// Monday-Saturday one window, Sunday another.
    pub const fn sunday_apart(weekdays: DayWindow, sunday: DayWindow) -> Self {
        Self {
            days: [weekdays, weekdays, weekdays, weekdays, weekdays, weekdays, sunday],
        }
    }

    pub fn on(&self, day: Weekday) -> DayWindow {
        self.days[day.num_days_from_monday() as usize]
    }

    pub fn intersect(&self, other: &Self) -> Self {
        let mut days = self.days;
        for (day, o) in days.iter_mut().zip(other.days) {
            *day = day.intersect(o);
        }
        Self { days }
    }

    /// Never open on any day.
    pub fn is_never(&self) -> bool {
        self.days.iter().all(|d| d.is_closed())
    }
}

impl fmt::Display for WeeklyWindow {
    /// "08:00-20:00", or "09:00-21:00 (Sunday 12:00-21:00)" when days differ.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let monday = self.days[0];
        if self.days.iter().all(|d| *d == monday) {
            return write!(f, "{monday}");
        }
        let names = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
        let mut first = true;
        for (name, day) in names.iter().zip(self.days) {
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            write!(f, "{name} {day}")?;
        }
        Ok(())
    }
}

/// Federal telemarketing hours, 47 CFR 64.1200(c)(1).
pub const FEDERAL: WeeklyWindow = WeeklyWindow::every_day(DayWindow::hours(8, 21));

/// Stricter state windows (R-ST-1). States not listed follow the federal window.
pub const US_STATE_WINDOWS: &[(&str, &str, WeeklyWindow)] = &[
    ("FL", "Florida", WeeklyWindow::every_day(DayWindow::hours(8, 20))),
    ("OK", "Oklahoma", WeeklyWindow::every_day(DayWindow::hours(8, 20))),
    ("MD", "Maryland", WeeklyWindow::every_day(DayWindow::hours(8, 20))),
    ("WA", "Washington", WeeklyWindow::every_day(DayWindow::hours(8, 20))),
    ("NJ", "New Jersey", WeeklyWindow::every_day(DayWindow::hours(8, 20))),
    ("CT", "Connecticut", WeeklyWindow::every_day(DayWindow::hours(9, 20))),
    (
        "TX",
        "Texas",
        WeeklyWindow::sunday_apart(DayWindow::hours(9, 21), DayWindow::hours(12, 21)),
    ),
    // Low confidence (R-ST-1); kept because the strict side is the safe side.
    ("AL", "Alabama", WeeklyWindow::every_day(DayWindow::hours(8, 20))),
    ("LA", "Louisiana", WeeklyWindow::every_day(DayWindow::hours(8, 20))),
    ("MA", "Massachusetts", WeeklyWindow::every_day(DayWindow::hours(8, 20))),
    ("MS", "Mississippi", WeeklyWindow::every_day(DayWindow::hours(8, 20))),
    ("CA", "California", WeeklyWindow::every_day(DayWindow::hours(9, 21))),
    ("IL", "Illinois", WeeklyWindow::every_day(DayWindow::hours(9, 21))),
    ("MI", "Michigan", WeeklyWindow::every_day(DayWindow::hours(9, 21))),
    ("MN", "Minnesota", WeeklyWindow::every_day(DayWindow::hours(9, 21))),
    ("KY", "Kentucky", WeeklyWindow::every_day(DayWindow::hours(10, 21))),
    (
        "RI",
        "Rhode Island",
        WeeklyWindow::weekend_apart(DayWindow::hours(9, 18), DayWindow::hours(10, 17)),
    ),
];

/// Our limit for every market: no marketing text before 08:00 or from 21:00 local, whatever is configured.
pub const HOUSE_LIMIT: WeeklyWindow = WeeklyWindow::every_day(DayWindow::hours(8, 21));

/// Country rules outside the US (R-EU-2, P-2). France: no marketing texts on Sundays.
pub const COUNTRY_WINDOWS: &[(&str, &str, WeeklyWindow)] = &[(
    "FR",
    "France",
    WeeklyWindow::sunday_apart(DayWindow::hours(8, 20), DayWindow::CLOSED),
)];

/// The US window for a set of candidate states (empty: unknown, so every state's rules apply).
pub fn us_window(states: &[String]) -> (WeeklyWindow, Vec<&'static str>) {
    let mut window = FEDERAL;
    let mut applied = Vec::new();
    for (code, name, state_window) in US_STATE_WINDOWS {
        if states.is_empty() || states.iter().any(|s| s == code) {
            window = window.intersect(state_window);
            applied.push(*name);
        }
    }
    (window, applied)
}

/// Whether `t` lies inside `window` in every zone.
pub fn open_at(t: DateTime<Utc>, zones: &[Tz], window: &WeeklyWindow) -> bool {
    !zones.is_empty()
        && zones.iter().all(|zone| {
            let local = t.with_timezone(zone);
            window.on(local.weekday()).contains(local.num_seconds_from_midnight())
        })
}

/// How far ahead [`next_opening`] looks: a week of weekday rules plus DST slack.
const HORIZON_DAYS: i64 = 9;

/// The earliest instant at or after `from` when `window` is open in every zone, within nine days; `None`
/// when the zones never share an open instant (or nothing is known about them).
///
/// The open set is an intersection of half-open intervals, so its earliest point after `from` is `from`
/// itself or the start of some zone's window: those are the only candidates checked. A start that falls in a
/// DST gap moves to the first local minute that exists.
pub fn next_opening(from: DateTime<Utc>, zones: &[Tz], window: &WeeklyWindow) -> Option<DateTime<Utc>> {
    if zones.is_empty() || window.is_never() {
        return None;
    }
    if open_at(from, zones, window) {
        return Some(from);
    }
    let horizon = from + Duration::days(HORIZON_DAYS);
    let mut candidates: Vec<DateTime<Utc>> = Vec::with_capacity(zones.len() * 11);
    for zone in zones {
        let first_day = from.with_timezone(zone).date_naive() - Duration::days(1);
        for offset in 0..=HORIZON_DAYS + 1 {
            let date = first_day + Duration::days(offset);
            let day = window.on(date.weekday());
            if day.is_closed() {
                continue;
            }
            if let Some(start) = local_instant(zone, date, day.start)
                && start > from
                && start <= horizon
            {
                candidates.push(start);
            }
        }
    }
    candidates.sort_unstable();
    candidates.into_iter().find(|t| open_at(*t, zones, window))
}

/// The UTC instant of a local wall-clock minute; the earlier one when it occurs twice, and the first
/// existing minute after it when a DST gap skips it.
fn local_instant(zone: &Tz, date: NaiveDate, minute_of_day: u16) -> Option<DateTime<Utc>> {
    let mut naive = date.and_time(NaiveTime::from_num_seconds_from_midnight_opt(
        u32::from(minute_of_day) * 60,
        0,
    )?);
    for _ in 0..=180 {
        match zone.from_local_datetime(&naive) {
            LocalResult::Single(t) => return Some(t.with_timezone(&Utc)),
            LocalResult::Ambiguous(earliest, _) => return Some(earliest.with_timezone(&Utc)),
            LocalResult::None => naive += Duration::minutes(1),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn unknown_us_state_is_the_most_restrictive_window() {
        let (window, applied) = us_window(&[]);
        assert_eq!(window.on(Weekday::Mon), DayWindow::hours(10, 18));
        assert_eq!(window.on(Weekday::Sat), DayWindow::hours(10, 17));
        assert_eq!(window.on(Weekday::Sun), DayWindow::hours(12, 17));
        assert_eq!(applied.len(), US_STATE_WINDOWS.len());
        // Every known state's window contains the unknown-state window.
        for (code, _, _) in US_STATE_WINDOWS {
            let (state, _) = us_window(&[code.to_string()]);
            assert_eq!(state.intersect(&window), window, "{code}");
        }
    }

    #[test]
    fn state_windows() {
        let on = |state: &str, day| us_window(&[state.to_owned()]).0.on(day);
        assert_eq!(on("NY", Weekday::Sun), DayWindow::hours(8, 21));
        assert_eq!(on("FL", Weekday::Mon), DayWindow::hours(8, 20));
        assert_eq!(on("WA", Weekday::Mon), DayWindow::hours(8, 20));
        assert_eq!(on("CT", Weekday::Mon), DayWindow::hours(9, 20));
        assert_eq!(on("CA", Weekday::Sun), DayWindow::hours(9, 21));
        assert_eq!(on("KY", Weekday::Wed), DayWindow::hours(10, 21));
        assert_eq!(on("RI", Weekday::Fri), DayWindow::hours(9, 18));
        assert_eq!(on("RI", Weekday::Sat), DayWindow::hours(10, 17));
        assert_eq!(on("NY", Weekday::Sat), DayWindow::hours(8, 21), "federal only");
        assert_eq!(on("TX", Weekday::Sat), DayWindow::hours(9, 21));
        assert_eq!(on("TX", Weekday::Sun), DayWindow::hours(12, 21));
        // Two candidates: both apply.
        let (both, applied) = us_window(&["TX".to_owned(), "FL".to_owned()]);
        assert_eq!(both.on(Weekday::Sun), DayWindow::hours(12, 20));
        assert_eq!(applied, ["Florida", "Texas"]);
    }

    #[test]
    fn window_boundaries_are_half_open() {
        let ny = [Tz::America__New_York];
        // 2025-06-02 is a Monday; New York is UTC-4 in June.
        assert!(!open_at(utc("2025-06-02T11:59:59Z"), &ny, &FEDERAL));
        assert!(open_at(utc("2025-06-02T12:00:00Z"), &ny, &FEDERAL));
        assert!(open_at(utc("2025-06-03T00:59:59Z"), &ny, &FEDERAL));
        assert!(!open_at(utc("2025-06-03T01:00:00Z"), &ny, &FEDERAL));
        assert!(!open_at(utc("2025-06-02T15:00:00Z"), &[], &FEDERAL));
    }

    #[test]
    fn next_opening_is_the_next_local_morning() {
        let ny = [Tz::America__New_York];
        // 23:30 local Monday → 08:00 local Tuesday.
        assert_eq!(
            next_opening(utc("2025-06-03T03:30:00Z"), &ny, &FEDERAL),
            Some(utc("2025-06-03T12:00:00Z"))
        );
        // Already open: now.
        let now = utc("2025-06-02T15:00:00Z");
        assert_eq!(next_opening(now, &ny, &FEDERAL), Some(now));
    }

    #[test]
    fn texas_sunday_opens_at_noon() {
        let chicago = [Tz::America__Chicago];
        let (tx, _) = us_window(&["TX".to_owned()]);
        // Sunday 2025-06-08 09:30 CDT (14:30Z) → noon CDT.
        assert_eq!(
            next_opening(utc("2025-06-08T14:30:00Z"), &chicago, &tx),
            Some(utc("2025-06-08T17:00:00Z"))
        );
    }

    #[test]
    fn several_zones_must_all_be_open() {
        let zones = [Tz::America__New_York, Tz::America__Los_Angeles];
        // 08:00 in New York is 05:00 in Los Angeles: wait for 08:00 Pacific (11:00 Eastern).
        assert_eq!(
            next_opening(utc("2025-06-02T12:00:00Z"), &zones, &FEDERAL),
            Some(utc("2025-06-02T15:00:00Z"))
        );
        // Zones twelve hours apart never share a 08:00-20:00 window.
        let apart = [Tz::America__New_York, Tz::Asia__Shanghai];
        let eight_to_eight = WeeklyWindow::every_day(DayWindow::hours(8, 20));
        assert_eq!(next_opening(utc("2025-06-02T12:00:00Z"), &apart, &eight_to_eight), None);
    }

    #[test]
    fn dst_spring_forward_new_york() {
        // Sunday 2025-03-09 02:00 EST → 03:00 EDT. At 23:00 EST Saturday the next opening is 08:00 EDT
        // Sunday = 12:00Z (not 13:00Z, which a fixed -5 offset would give).
        assert_eq!(
            next_opening(utc("2025-03-09T04:00:00Z"), &[Tz::America__New_York], &FEDERAL),
            Some(utc("2025-03-09T12:00:00Z"))
        );
        // Unknown-state window on that Sunday: noon EDT = 16:00Z.
        let (unknown, _) = us_window(&[]);
        assert_eq!(
            next_opening(utc("2025-03-09T04:00:00Z"), &[Tz::America__New_York], &unknown),
            Some(utc("2025-03-09T16:00:00Z"))
        );
    }

    #[test]
    fn dst_fall_back_new_york() {
        // Sunday 2025-11-02 02:00 EDT → 01:00 EST: 08:00 EST = 13:00Z.
        assert_eq!(
            next_opening(utc("2025-11-02T04:30:00Z"), &[Tz::America__New_York], &FEDERAL),
            Some(utc("2025-11-02T13:00:00Z"))
        );
    }

    #[test]
    fn dst_spring_forward_sydney() {
        // Sunday 2025-10-05 02:00 AEST → 03:00 AEDT. From 22:00 AEST Saturday (12:00Z) the next 08:00 is
        // 08:00 AEDT = 21:00Z Saturday.
        let eight_to_eight = WeeklyWindow::every_day(DayWindow::hours(8, 20));
        assert_eq!(
            next_opening(utc("2025-10-04T12:00:00Z"), &[Tz::Australia__Sydney], &eight_to_eight),
            Some(utc("2025-10-04T21:00:00Z"))
        );
        // And the autumn change, Sunday 2025-04-06 03:00 AEDT → 02:00 AEST: 08:00 AEST = 22:00Z Saturday.
        assert_eq!(
            next_opening(utc("2025-04-05T12:00:00Z"), &[Tz::Australia__Sydney], &eight_to_eight),
            Some(utc("2025-04-05T22:00:00Z"))
        );
    }

    #[test]
    fn window_starting_inside_a_dst_gap_starts_when_the_clock_jumps() {
        // A (made-up) window from 02:30 on the New York spring-forward day: 02:30 does not exist, so the
        // window opens at the jump, 03:00 EDT = 07:00Z.
        let early = WeeklyWindow::every_day(DayWindow { start: 150, end: 600 });
        assert_eq!(
            next_opening(utc("2025-03-09T05:00:00Z"), &[Tz::America__New_York], &early),
            Some(utc("2025-03-09T07:00:00Z"))
        );
    }

    #[test]
    fn a_closed_sunday_skips_to_monday() {
        let (_, _, france) = COUNTRY_WINDOWS[0];
        // Saturday 2025-06-07 21:00 CEST (19:00Z) → Monday 08:00 CEST = 06:00Z.
        assert_eq!(
            next_opening(utc("2025-06-07T19:00:00Z"), &[Tz::Europe__Paris], &france),
            Some(utc("2025-06-09T06:00:00Z"))
        );
        assert_eq!(
            next_opening(
                utc("2025-06-07T19:00:00Z"),
                &[Tz::Europe__Paris],
                &WeeklyWindow::every_day(DayWindow::CLOSED)
            ),
            None
        );
    }

    #[test]
    fn display() {
        assert_eq!(FEDERAL.to_string(), "08:00-21:00");
        let (tx, _) = us_window(&["TX".to_owned()]);
        assert!(tx.to_string().ends_with("Sat 09:00-21:00, Sun 12:00-21:00"));
    }
}
