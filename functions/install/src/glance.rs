//! "Recovery at a glance" on the settings page: the last 30 days as an inline SVG chart (no script; the same
//! figures in a table behind a disclosure), the funnel from abandoned cart to recovered order, the reasons
//! reminders did not go out with advice for the biggest, and the checkout consent capture rate.
//! Pure: counters in, escaped HTML out.

use crate::status::Status;
use shared::recovery_stats::{CHART_DAYS, DayStats, NotSent, percent};
use shared::web::escape_html;
use std::fmt::Write;

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

pub fn section(html: &mut String, status: &Status) {
    let days = &status.days;
    let total = DayStats::total(days);
    html.push_str(
        "<section id=\"recovery-glance\" aria-labelledby=\"glance-title\"><h3 id=\"glance-title\">Recovery at a \
         glance</h3>",
    );
    let _ = write!(
        html,
        "<p class=\"muted\">The last {CHART_DAYS} days (UTC), counted as carts, reminders, clicks and orders \
         happen. Revenue is in the store's currency.</p>"
    );
    chart(html, days, &total);
    table(html, days);
    funnel(html, &total);
    reasons(html, &total);
    consent_capture(html, &total);
    html.push_str("</section>");
}

fn chart(html: &mut String, days: &[DayStats], total: &DayStats) {
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
    let _ = write!(
        html,
        "<svg id=\"recovery-chart\" role=\"img\" aria-labelledby=\"recovery-chart-title recovery-chart-desc\" \
         viewBox=\"0 0 {WIDTH} 290\" width=\"100%\" style=\"max-width:{WIDTH}px\" \
         xmlns=\"http://www.w3.org/2000/svg\"><title id=\"recovery-chart-title\">Recovery over the last {} days</title>\
         <desc id=\"recovery-chart-desc\">From {first} to {last}: {} carts abandoned, {} reminders sent, {} delivered, \
         {} clicked, {} carts recovered for {} in revenue. The table below has every day's figures.</desc>",
        days.len(),
        total.abandoned,
        total.sent,
        total.delivered,
        total.clicked,
        total.recovered,
        money(total.revenue_minor),
    );
    // Axes and scale.
    let base = COUNTS_TOP + COUNTS_HEIGHT;
    let _ = write!(
        html,
        "<g stroke=\"#c8ccd4\" stroke-width=\"1\"><line x1=\"{LEFT}\" y1=\"{COUNTS_TOP}\" x2=\"{LEFT}\" y2=\"{base}\"/>\
         <line x1=\"{LEFT}\" y1=\"{base}\" x2=\"{WIDTH}\" y2=\"{base}\"/></g>\
         <g font-size=\"10\" fill=\"#555\"><text x=\"{}\" y=\"{}\" text-anchor=\"end\">{max}</text>\
         <text x=\"{}\" y=\"{base}\" text-anchor=\"end\">0</text>\
         <text x=\"{LEFT}\" y=\"{}\">{first}</text><text x=\"{WIDTH}\" y=\"{}\" text-anchor=\"end\">{last}</text></g>",
        LEFT - 4.0,
        COUNTS_TOP + 4.0,
        LEFT - 4.0,
        base + 12.0,
        base + 12.0,
    );
    for (name, colour, value) in SERIES {
        let points: Vec<String> = days
            .iter()
            .enumerate()
            .map(|(i, d)| format!("{:.1},{:.1}", x(i), base - value(d) as f64 / max as f64 * COUNTS_HEIGHT))
            .collect();
        let _ = write!(
            html,
            "<polyline data-series=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" points=\"{}\"/>",
            name.to_lowercase(),
            points.join(" ")
        );
    }
    // Legend.
    for (i, (name, colour, _)) in SERIES.iter().enumerate() {
        let lx = LEFT + 10.0 + i as f64 * 105.0;
        let _ = write!(
            html,
            "<g font-size=\"11\"><rect x=\"{lx}\" y=\"4\" width=\"10\" height=\"10\" fill=\"{colour}\"/>\
             <text x=\"{}\" y=\"13\" fill=\"#333\">{name}</text></g>",
            lx + 14.0
        );
    }
    // Revenue: one bar per day.
    let revenue_base = REVENUE_TOP + REVENUE_HEIGHT;
    let _ = write!(
        html,
        "<text x=\"{LEFT}\" y=\"{}\" font-size=\"11\" fill=\"#333\">Recovered revenue (up to {} a day)</text>\
         <line x1=\"{LEFT}\" y1=\"{revenue_base}\" x2=\"{WIDTH}\" y2=\"{revenue_base}\" stroke=\"#c8ccd4\"/>",
        REVENUE_TOP - 6.0,
        money(max_revenue),
    );
    let bar = (step * 0.7).max(1.0);
    for (i, d) in days.iter().enumerate() {
        if d.revenue_minor <= 0 {
            continue;
        }
        let height = d.revenue_minor as f64 / max_revenue as f64 * REVENUE_HEIGHT;
        let _ = write!(
            html,
            "<rect data-day=\"{}\" x=\"{:.1}\" y=\"{:.1}\" width=\"{bar:.1}\" height=\"{height:.1}\" fill=\"#1d9d50\"/>",
            day_label(d),
            x(i) - bar / 2.0,
            revenue_base - height,
        );
    }
    html.push_str("</svg>");
}

fn table(html: &mut String, days: &[DayStats]) {
    html.push_str(
        "<details id=\"recovery-days\"><summary>The figures, day by day</summary><table><thead><tr><th>Day</th>\
         <th>Abandoned</th><th>Eligible</th><th>Sent</th><th>Delivered</th><th>Clicked</th><th>Recovered</th>\
         <th>Revenue</th></tr></thead><tbody>",
    );
    for d in days.iter().rev() {
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            day_label(d),
            d.abandoned,
            d.eligible,
            d.sent,
            d.delivered,
            d.clicked,
            d.recovered,
            money(d.revenue_minor)
        );
    }
    html.push_str("</tbody></table></details>");
}

fn funnel(html: &mut String, total: &DayStats) {
    let stages = [
        ("abandoned", "Carts abandoned", total.abandoned),
        ("eligible", "Eligible for a reminder", total.eligible),
        ("sent", "Reminders sent", total.sent),
        ("delivered", "Delivered", total.delivered),
        ("clicked", "Clicked", total.clicked),
        ("recovered", "Carts recovered", total.recovered),
    ];
    html.push_str(
        "<h4>Funnel</h4><table id=\"recovery-funnel\"><thead><tr><th>Stage</th><th>Count</th>\
         <th>Of abandoned carts</th></tr></thead><tbody>",
    );
    for (key, label, count) in stages {
        let _ = write!(
            html,
            "<tr data-stage=\"{key}\"><th>{label}</th><td>{count}</td><td>{}%</td></tr>",
            percent(count, total.abandoned)
        );
    }
    let _ = write!(
        html,
        "<tr data-stage=\"revenue\"><th>Recovered revenue</th><td>{}</td><td></td></tr></tbody></table>",
        money(total.revenue_minor)
    );
}

fn reasons(html: &mut String, total: &DayStats) {
    html.push_str("<h4>Why reminders did not go out</h4>");
    let reasons = total.reasons();
    let Some((biggest, count)) = reasons.first().copied() else {
        html.push_str("<p id=\"not-sent-reasons\">Every reminder decided in this period went out.</p>");
        return;
    };
    html.push_str("<table id=\"not-sent-reasons\"><thead><tr><th>Reason</th><th>Reminders</th></tr></thead><tbody>");
    for (reason, count) in &reasons {
        let _ = write!(
            html,
            "<tr data-reason=\"{}\"><th>{}</th><td>{count}</td></tr>",
            reason.counter().trim_start_matches("not_sent_"),
            reason.label()
        );
    }
    html.push_str("</tbody></table>");
    // The share of abandoned carts; a reminder after the first can be held too, so it is capped at 100.
    let share = percent(count, total.abandoned.max(count)).min(100);
    let _ = write!(
        html,
        "<p id=\"not-sent-advice\"><strong>{}</strong></p>",
        escape_html(&NotSent::advice(biggest, share))
    );
}

fn consent_capture(html: &mut String, total: &DayStats) {
    html.push_str("<h4>Checkout consent</h4>");
    if total.consent_box_shown == 0 {
        html.push_str(
            "<p id=\"consent-capture\">No checkout showed the SMS consent box in this period (it is shown when the \
             store collects consent with the SMS checkbox).</p>",
        );
        return;
    }
    let _ = write!(
        html,
        "<p id=\"consent-capture\"><span data-figure=\"shown\">{}</span> checkouts showed the SMS consent box; \
         <span data-figure=\"ticked\">{}</span> shoppers ticked it (<strong data-figure=\"rate\">{}%</strong>).</p>",
        total.consent_box_shown,
        total.consent_box_ticked,
        percent(total.consent_box_ticked, total.consent_box_shown)
    );
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
        let mut html = String::new();
        section(&mut html, &status(vec![DayStats::default(); CHART_DAYS as usize]));
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
        let mut html = String::new();
        section(&mut html, &status(vec![day]));
        assert!(
            html.contains("63 percent of abandoned carts had no SMS consent"),
            "{html}"
        );
        assert!(html.contains("<tr data-reason=\"no_consent\"><th>No SMS consent</th><td>63</td></tr>"));
        assert!(html.contains("123.45"));
        assert_eq!(money(-5), "-0.05");
    }
}
