//! "Recovery at a glance" on the settings page: the last 30 days as an inline SVG chart (no script; the same
//! figures in a table behind a disclosure), the funnel from abandoned cart to recovered order, the reasons
//! reminders did not go out with advice for the biggest, and the checkout consent capture rate.
//! Pure: counters in, markup out.

use crate::status::Status;
use shared::pages::{Markup, html};
use shared::recovery_stats::{CHART_DAYS, DayStats, NotSent, percent};

/// The chart's drawing area (SVG user units).
const WIDTH: f64 = 600.0;
const COUNTS_TOP: f64 = 20.0;
const COUNTS_HEIGHT: f64 = 150.0;
const REVENUE_TOP: f64 = 200.0;
const REVENUE_HEIGHT: f64 = 60.0;
const LEFT: f64 = 40.0;

/// The charted counts: label, colour, and the day's value.
type Series = (&'static str, &'static str, fn(&DayStats) -> u64);

const SERIES: [Series; 5] = [
    ("Abandoned", "#8a94a6", |d| d.abandoned),
    ("Sent", "#2f6fde", |d| d.sent),
    ("Delivered", "#16a3b5", |d| d.delivered),
    ("Clicked", "#d98a00", |d| d.clicked),
    ("Recovered", "#1d9d50", |d| d.recovered),
];

/// Minor units as an amount with two decimals (the orders' currency).
pub fn money(minor: i64) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let minor = minor.unsigned_abs();
    format!("{sign}{}.{:02}", minor / 100, minor % 100)
}

fn day_label(day: &DayStats) -> String {
    day.day.map(|d| d.format("%Y-%m-%d").to_string()).unwrap_or_default()
}

pub fn section(status: &Status) -> Markup {
    let days = &status.days;
    let total = DayStats::total(days);
    html! {
        section id="recovery-glance" aria-labelledby="glance-title" {
            h3 id="glance-title" { "Recovery at a glance" }
            p class="muted" {
                "The last " (CHART_DAYS) " days (UTC), counted as carts, reminders, clicks and orders happen. \
                 Revenue is in the store's currency."
            }
            (chart(days, &total))
            (table(days))
            (funnel(&total))
            (reasons(&total))
            (consent_capture(&total))
        }
    }
}

/// SVG coordinates with one decimal.
fn at(value: f64) -> String {
    format!("{value:.1}")
}

// SVG elements are written with explicit end tags: inside `<svg>` an HTML parser honours no void elements.
fn chart(days: &[DayStats], total: &DayStats) -> Markup {
    let max = days
        .iter()
        .flat_map(|d| SERIES.iter().map(move |(_, _, value)| value(d)))
        .max()
        .unwrap_or(0)
        .max(1);
    let max_revenue = days.iter().map(|d| d.revenue_minor).max().unwrap_or(0).max(1);
    let step = (WIDTH - LEFT - 10.0) / (days.len().max(2) - 1) as f64;
    let x = |i: usize| LEFT + step * i as f64;
    let first = days.first().map(day_label).unwrap_or_default();
    let last = days.last().map(day_label).unwrap_or_default();
    let base = COUNTS_TOP + COUNTS_HEIGHT;
    let revenue_base = REVENUE_TOP + REVENUE_HEIGHT;
    let bar = (step * 0.7).max(1.0);
    html! {
        svg id="recovery-chart" role="img" aria-labelledby="recovery-chart-title recovery-chart-desc"
            viewBox={ "0 0 " (WIDTH) " 290" } width="100%" style={ "max-width:" (WIDTH) "px" }
            xmlns="http://www.w3.org/2000/svg" {
            title id="recovery-chart-title" { "Recovery over the last " (days.len()) " days" }
            desc id="recovery-chart-desc" {
                "From " (first) " to " (last) ": " (total.abandoned) " carts abandoned, " (total.sent)
                " reminders sent, " (total.delivered) " delivered, " (total.clicked) " clicked, " (total.recovered)
                " carts recovered for " (money(total.revenue_minor)) " in revenue. The table below has every \
                 day's figures."
            }
            // Axes and scale.
            g stroke="#c8ccd4" stroke-width="1" {
                line x1=(LEFT) y1=(COUNTS_TOP) x2=(LEFT) y2=(base) {}
                line x1=(LEFT) y1=(base) x2=(WIDTH) y2=(base) {}
            }
            g font-size="10" fill="#555" {
                text x=(LEFT - 4.0) y=(COUNTS_TOP + 4.0) text-anchor="end" { (max) }
                text x=(LEFT - 4.0) y=(base) text-anchor="end" { "0" }
                text x=(LEFT) y=(base + 12.0) { (first) }
                text x=(WIDTH) y=(base + 12.0) text-anchor="end" { (last) }
            }
            @for (name, colour, value) in SERIES {
                @let points: Vec<String> = days
                    .iter()
                    .enumerate()
                    .map(|(i, d)| format!("{},{}", at(x(i)), at(base - value(d) as f64 / max as f64 * COUNTS_HEIGHT)))
                    .collect();
                polyline data-series=(name.to_lowercase()) fill="none" stroke=(colour) stroke-width="2"
                    points=(points.join(" ")) {}
            }
            // Legend.
            @for (i, (name, colour, _)) in SERIES.iter().enumerate() {
                @let lx = LEFT + 10.0 + i as f64 * 105.0;
                g font-size="11" {
                    rect x=(lx) y="4" width="10" height="10" fill=(colour) {}
                    text x=(lx + 14.0) y="13" fill="#333" { (name) }
                }
            }
            // Revenue: one bar per day.
            text x=(LEFT) y=(REVENUE_TOP - 6.0) font-size="11" fill="#333" {
                "Recovered revenue (up to " (money(max_revenue)) " a day)"
            }
            line x1=(LEFT) y1=(revenue_base) x2=(WIDTH) y2=(revenue_base) stroke="#c8ccd4" {}
            @for (i, d) in days.iter().enumerate() {
                @if d.revenue_minor > 0 {
                    @let height = d.revenue_minor as f64 / max_revenue as f64 * REVENUE_HEIGHT;
                    rect data-day=(day_label(d)) x=(at(x(i) - bar / 2.0)) y=(at(revenue_base - height))
                        width=(at(bar)) height=(at(height)) fill="#1d9d50" {}
                }
            }
        }
    }
}

fn table(days: &[DayStats]) -> Markup {
    html! {
        details id="recovery-days" {
            summary { "The figures, day by day" }
            table {
                thead {
                    tr {
                        th { "Day" } th { "Abandoned" } th { "Eligible" } th { "Sent" } th { "Delivered" }
                        th { "Clicked" } th { "Recovered" } th { "Revenue" }
                    }
                }
                tbody {
                    @for d in days.iter().rev() {
                        tr {
                            td { (day_label(d)) } td { (d.abandoned) } td { (d.eligible) } td { (d.sent) }
                            td { (d.delivered) } td { (d.clicked) } td { (d.recovered) }
                            td { (money(d.revenue_minor)) }
                        }
                    }
                }
            }
        }
    }
}

fn funnel(total: &DayStats) -> Markup {
    let stages = [
        ("abandoned", "Carts abandoned", total.abandoned),
        ("eligible", "Eligible for a reminder", total.eligible),
        ("sent", "Reminders sent", total.sent),
        ("delivered", "Delivered", total.delivered),
        ("clicked", "Clicked", total.clicked),
        ("recovered", "Carts recovered", total.recovered),
    ];
    html! {
        h4 { "Funnel" }
        table id="recovery-funnel" {
            thead { tr { th { "Stage" } th { "Count" } th { "Of abandoned carts" } } }
            tbody {
                @for (key, label, count) in stages {
                    tr data-stage=(key) {
                        th { (label) } td { (count) } td { (percent(count, total.abandoned)) "%" }
                    }
                }
                tr data-stage="revenue" { th { "Recovered revenue" } td { (money(total.revenue_minor)) } td {} }
            }
        }
    }
}

fn reasons(total: &DayStats) -> Markup {
    let reasons = total.reasons();
    html! {
        h4 { "Why reminders did not go out" }
        @if let Some((biggest, count)) = reasons.first().copied() {
            table id="not-sent-reasons" {
                thead { tr { th { "Reason" } th { "Reminders" } } }
                tbody {
                    @for (reason, count) in &reasons {
                        tr data-reason=(reason.counter().trim_start_matches("not_sent_")) {
                            th { (reason.label()) } td { (count) }
                        }
                    }
                }
            }
            // The share of abandoned carts; a reminder after the first can be held too, so it is capped at 100.
            @let share = percent(count, total.abandoned.max(count)).min(100);
            p id="not-sent-advice" { strong { (NotSent::advice(biggest, share)) } }
        } @else {
            p id="not-sent-reasons" { "Every reminder decided in this period went out." }
        }
    }
}

fn consent_capture(total: &DayStats) -> Markup {
    html! {
        h4 { "Checkout consent" }
        @if total.consent_box_shown == 0 {
            p id="consent-capture" {
                "No checkout showed the SMS consent box in this period (it is shown when the store collects \
                 consent with the SMS checkbox)."
            }
        } @else {
            p id="consent-capture" {
                span data-figure="shown" { (total.consent_box_shown) } " checkouts showed the SMS consent box; "
                span data-figure="ticked" { (total.consent_box_ticked) } " shoppers ticked it ("
                strong data-figure="rate" { (percent(total.consent_box_ticked, total.consent_box_shown)) "%" }
                ")."
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(days: Vec<DayStats>) -> Status {
        Status {
            days,
            ..Status::default()
        }
    }

    #[test]
    fn an_empty_period_renders_without_dividing_by_zero() {
        let html = section(&status(vec![DayStats::default(); CHART_DAYS as usize])).into_string();
        assert!(html.contains("role=\"img\""));
        assert!(html.contains("Every reminder decided in this period went out."));
        assert!(html.contains("<tr data-stage=\"sent\"><th>Reminders sent</th><td>0</td><td>0%</td></tr>"));
    }

    #[test]
    fn the_biggest_reason_gets_its_advice() {
        let day = DayStats {
            abandoned: 100,
            eligible: 30,
            not_sent_no_consent: 63,
            not_sent_quiet_hours: 7,
            revenue_minor: 12_345,
            ..DayStats::default()
        };
        let html = section(&status(vec![day])).into_string();
        assert!(
            html.contains("63 percent of abandoned carts had no SMS consent"),
            "{html}"
        );
        assert!(html.contains("<tr data-reason=\"no_consent\"><th>No SMS consent</th><td>63</td></tr>"));
        assert!(html.contains("123.45"));
        assert_eq!(money(-5), "-0.05");
    }
}
