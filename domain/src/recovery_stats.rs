//! Recovery at a glance: the figures the settings page charts, kept as counters while events happen (one
//! item per store and UTC day, see `db::recovery_stats`), and what they add up to over a period.

use crate::consent::{ConsentState, ConsentStatus};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::{Deserialize, Serialize};

/// Days the page charts (today included), and how long a day's counters are kept.
pub const CHART_DAYS: u32 = 30;

/// Why a reminder did not go out, as the merchant can act on it. Many decision codes map to one reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NotSent {
    NoConsent,
    AwaitingDoubleOptIn,
    QuietHours,
    Frequency,
    OptedOut,
    InvalidNumber,
    ContentRefused,
    /// The checkout had no number that is provably the shopper's.
    NoNumber,
    /// Anything else (sender not approved, the reminder's window passed, ...).
    Other,
}

impl NotSent {
    pub const ALL: [NotSent; 9] = [
        Self::NoConsent,
        Self::AwaitingDoubleOptIn,
        Self::QuietHours,
        Self::Frequency,
        Self::OptedOut,
        Self::InvalidNumber,
        Self::ContentRefused,
        Self::NoNumber,
        Self::Other,
    ];

    /// The reason behind a decision code recorded for a reminder (the consent engine's `Reason::code`, the
    /// send job's own codes, or the provider's refusal).
    pub fn from_code(code: &str) -> Self {
        match code {
            "never_subscribed"
            | "transactional_consent_only"
            | "checkbox_not_verified"
            | "checkbox_prechecked"
            | "consent_option_not_met"
            | "regional_floor_not_met"
            | "disclosure_incomplete"
            | "implied_consent_expired"
            | "keyword_not_written_consent"
            | "import_without_business_relationship"
            | "ledger_mismatch" => Self::NoConsent,
            "double_opt_in_pending" | "double_opt_in_required" => Self::AwaitingDoubleOptIn,
            "quiet_hours" | "quiet_hours_past_expiry" | "no_send_window" | "time_zone_unknown" => Self::QuietHours,
            "cart_reminder_limit"
            | "smart_sending_window"
            | "smart_sending_past_expiry"
            | "state_daily_cap"
            | "state_daily_cap_past_expiry" => Self::Frequency,
            "opted_out" | "erased" => Self::OptedOut,
            "invalid_phone" | "invalid_number" | "number_undeliverable" => Self::InvalidNumber,
            "content_rejected" | "message_rejected" => Self::ContentRefused,
            "no_phone" | "phone_not_proven" | "phone_unavailable" => Self::NoNumber,
            _ => Self::Other,
        }
    }

    /// The counter attribute on a day item.
    pub fn counter(self) -> &'static str {
        match self {
            Self::NoConsent => "not_sent_no_consent",
            Self::AwaitingDoubleOptIn => "not_sent_double_opt_in",
            Self::QuietHours => "not_sent_quiet_hours",
            Self::Frequency => "not_sent_frequency",
            Self::OptedOut => "not_sent_opted_out",
            Self::InvalidNumber => "not_sent_invalid_number",
            Self::ContentRefused => "not_sent_content_refused",
            Self::NoNumber => "not_sent_no_number",
            Self::Other => "not_sent_other",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::NoConsent => "No SMS consent",
            Self::AwaitingDoubleOptIn => "Awaiting double opt-in",
            Self::QuietHours => "Quiet hours",
            Self::Frequency => "Frequency limits",
            Self::OptedOut => "Opted out",
            Self::InvalidNumber => "Invalid number",
            Self::ContentRefused => "Content refused",
            Self::NoNumber => "No number to text",
            Self::Other => "Other",
        }
    }

    /// One sentence of advice, completed by the share of abandoned carts it concerns.
    pub fn advice(self, percent: u64) -> String {
        match self {
            Self::NoConsent => {
                format!("{percent} percent of abandoned carts had no SMS consent: most shoppers do not tick the box.")
            }
            Self::AwaitingDoubleOptIn => format!(
                "{percent} percent of abandoned carts waited for the shopper to confirm by text: the double opt-in \
                 request may need a clearer wording."
            ),
            Self::QuietHours => format!(
                "{percent} percent of abandoned carts fell in quiet hours until their reminder expired: a longer \
                 reminder window lets them go out in the morning."
            ),
            Self::Frequency => format!(
                "{percent} percent of abandoned carts hit a frequency limit: fewer reminder steps, further apart, \
                 reach more shoppers."
            ),
            Self::OptedOut => format!("{percent} percent of abandoned carts belonged to shoppers who opted out."),
            Self::InvalidNumber => format!(
                "{percent} percent of abandoned carts had a number that cannot receive texts: ask for a mobile \
                 number at checkout."
            ),
            Self::ContentRefused => format!(
                "{percent} percent of abandoned carts were stopped by the reminder's content: change the template."
            ),
            Self::NoNumber => format!(
                "{percent} percent of abandoned carts had no phone number on the checkout: make the phone field \
                 required."
            ),
            Self::Other => format!(
                "{percent} percent of abandoned carts were not reminded for other reasons: the decisions below \
                 say why."
            ),
        }
    }
}

/// One store's counters for one UTC day. Every field is a DynamoDB `ADD` counter (absent means 0).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DayStats {
    /// Filled from the sort key when read.
    #[serde(skip)]
    pub day: Option<NaiveDate>,
    /// Carts whose first reminder was decided (allowed or not): the sweep found them abandoned.
    pub abandoned: u64,
    /// Of those, carts the consent engine allowed a first reminder for.
    pub eligible: u64,
    pub sent: u64,
    pub delivered: u64,
    pub clicked: u64,
    pub recovered: u64,
    /// Recovered revenue in minor units (cents) of the orders' currency.
    pub revenue_minor: i64,
    pub not_sent_no_consent: u64,
    pub not_sent_double_opt_in: u64,
    pub not_sent_quiet_hours: u64,
    pub not_sent_frequency: u64,
    pub not_sent_opted_out: u64,
    pub not_sent_invalid_number: u64,
    pub not_sent_content_refused: u64,
    pub not_sent_no_number: u64,
    pub not_sent_other: u64,
    /// Checkouts whose consent box was shown, and ticks verified against the checkout.
    pub consent_box_shown: u64,
    pub consent_box_ticked: u64,
}

impl DayStats {
    pub fn not_sent(&self, reason: NotSent) -> u64 {
        match reason {
            NotSent::NoConsent => self.not_sent_no_consent,
            NotSent::AwaitingDoubleOptIn => self.not_sent_double_opt_in,
            NotSent::QuietHours => self.not_sent_quiet_hours,
            NotSent::Frequency => self.not_sent_frequency,
            NotSent::OptedOut => self.not_sent_opted_out,
            NotSent::InvalidNumber => self.not_sent_invalid_number,
            NotSent::ContentRefused => self.not_sent_content_refused,
            NotSent::NoNumber => self.not_sent_no_number,
            NotSent::Other => self.not_sent_other,
        }
    }

    /// The sum of several days.
    pub fn total(days: &[DayStats]) -> DayStats {
        let mut sum = DayStats::default();
        for d in days {
            sum.abandoned += d.abandoned;
            sum.eligible += d.eligible;
            sum.sent += d.sent;
            sum.delivered += d.delivered;
            sum.clicked += d.clicked;
            sum.recovered += d.recovered;
            sum.revenue_minor += d.revenue_minor;
            sum.not_sent_no_consent += d.not_sent_no_consent;
            sum.not_sent_double_opt_in += d.not_sent_double_opt_in;
            sum.not_sent_quiet_hours += d.not_sent_quiet_hours;
            sum.not_sent_frequency += d.not_sent_frequency;
            sum.not_sent_opted_out += d.not_sent_opted_out;
            sum.not_sent_invalid_number += d.not_sent_invalid_number;
            sum.not_sent_content_refused += d.not_sent_content_refused;
            sum.not_sent_no_number += d.not_sent_no_number;
            sum.not_sent_other += d.not_sent_other;
            sum.consent_box_shown += d.consent_box_shown;
            sum.consent_box_ticked += d.consent_box_ticked;
        }
        sum
    }

    /// The reasons with a count, largest first.
    pub fn reasons(&self) -> Vec<(NotSent, u64)> {
        let mut reasons: Vec<(NotSent, u64)> = NotSent::ALL
            .iter()
            .map(|r| (*r, self.not_sent(*r)))
            .filter(|(_, count)| *count > 0)
            .collect();
        reasons.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        reasons
    }
}

/// Whole percent of `part` in `whole` (0 when `whole` is 0), rounded half up.
pub fn percent(part: u64, whole: u64) -> u64 {
    if whole == 0 {
        0
    } else {
        (part * 200 + whole) / (2 * whole)
    }
}

/// An amount in minor units (two decimals, as BigCommerce's order totals carry).
pub fn minor_units(amount: Decimal) -> i64 {
    (amount * Decimal::from(100)).round().to_i64().unwrap_or(0)
}

/// A store's contacts by marketing consent state, kept as counters (see `db::recovery_stats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConsentTotals {
    /// Contacts saved (each phone once).
    pub contacts: i64,
    pub subscribed: i64,
    /// Of the subscribed, those whose strongest consent is express and SMS-specific.
    pub subscribed_sms_express: i64,
    pub pending_double_opt_in: i64,
    pub unsubscribed: i64,
}

impl ConsentTotals {
    /// Contacts with no consent state of their own (never subscribed).
    pub fn never_subscribed(&self) -> i64 {
        (self.contacts - self.subscribed - self.pending_double_opt_in - self.unsubscribed).max(0)
    }
}

/// The consent state of one phone as the counters count it (`subscribed`, `subscribed_sms_express`,
/// `pending_double_opt_in`, `unsubscribed`, or `never_subscribed`, which has no counter of its own).
pub fn counted_state(state: &ConsentState<'_>) -> &'static str {
    match state.status() {
        ConsentStatus::Subscribed if state.strongest().is_some_and(|g| g.basis.is_sms_express()) => {
            "subscribed_sms_express"
        }
        ConsentStatus::Subscribed => "subscribed",
        ConsentStatus::PendingDoubleOptIn => "pending_double_opt_in",
        ConsentStatus::Unsubscribed => "unsubscribed",
        ConsentStatus::NeverSubscribed => "never_subscribed",
    }
}

/// The counters a phone's move from state `from` to `to` changes (`subscribed_sms_express` counts in
/// `subscribed` too).
pub fn state_change(from: &str, to: &str) -> Vec<(&'static str, i64)> {
    fn counters(state: &str) -> &'static [&'static str] {
        match state {
            "subscribed_sms_express" => &["subscribed", "subscribed_sms_express"],
            "subscribed" => &["subscribed"],
            "pending_double_opt_in" => &["pending_double_opt_in"],
            "unsubscribed" => &["unsubscribed"],
            _ => &[],
        }
    }
    let mut change: Vec<(&'static str, i64)> = Vec::new();
    for name in counters(from) {
        change.push((name, -1));
    }
    for name in counters(to) {
        match change.iter().position(|(n, _)| n == name) {
            Some(i) => {
                change.remove(i);
            }
            None => change.push((name, 1)),
        }
    }
    change
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_the_reasons_a_merchant_can_act_on() {
        assert_eq!(NotSent::from_code("never_subscribed"), NotSent::NoConsent);
        assert_eq!(
            NotSent::from_code("double_opt_in_pending"),
            NotSent::AwaitingDoubleOptIn
        );
        assert_eq!(NotSent::from_code("quiet_hours_past_expiry"), NotSent::QuietHours);
        assert_eq!(NotSent::from_code("cart_reminder_limit"), NotSent::Frequency);
        assert_eq!(NotSent::from_code("opted_out"), NotSent::OptedOut);
        assert_eq!(NotSent::from_code("number_undeliverable"), NotSent::InvalidNumber);
        assert_eq!(NotSent::from_code("content_rejected"), NotSent::ContentRefused);
        assert_eq!(NotSent::from_code("sender_not_approved"), NotSent::Other);
    }

    #[test]
    fn percentages_round_and_survive_zero() {
        assert_eq!(percent(0, 0), 0);
        assert_eq!(percent(63, 100), 63);
        assert_eq!(percent(2, 3), 67);
        assert_eq!(minor_units(Decimal::new(4999, 2)), 4999);
        assert_eq!(minor_units(Decimal::new(698_400, 4)), 6984);
    }

    #[test]
    fn a_state_change_moves_one_contact_between_counters() {
        assert_eq!(state_change("never_subscribed", "subscribed"), vec![("subscribed", 1)]);
        assert_eq!(
            state_change("subscribed_sms_express", "unsubscribed"),
            vec![("subscribed", -1), ("subscribed_sms_express", -1), ("unsubscribed", 1)]
        );
        assert_eq!(
            state_change("subscribed", "subscribed_sms_express"),
            vec![("subscribed_sms_express", 1)]
        );
        assert!(state_change("unsubscribed", "unsubscribed").is_empty());
    }
}
