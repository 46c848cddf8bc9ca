//! The SMS consent state mirrored to BigCommerce for registered customers, so merchants see in their own
//! control panel who is subscribed and who unsubscribed (Dotdigital seed: incremental, never creating
//! customers). Pure: the `sync` function's write-back reads the ledger, asks this module what the customer's
//! attribute and metafield should say, and writes only what differs.
//!
//! Two mirrors, as docs/bigcommerce.md explains: a customer attribute ([`ATTRIBUTE_NAME`], a short
//! sentence the merchant reads and can segment on) and an `app_only` customer metafield (JSON for the app and
//! support). The ledger in DynamoDB stays the evidence; both mirrors are summaries of it.

use crate::consent::{Basis, ConsentEvent, ConsentEventKind, ConsentState, ConsentStatus, OptOutMethod, Purpose};
use crate::replies::is_withdrawal;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

/// The customer attribute the app keeps (type `string`), created when missing.
pub const ATTRIBUTE_NAME: &str = "SMS marketing";
/// The app-only customer metafield.
pub const METAFIELD_NAMESPACE: &str = "sms_consent";
pub const METAFIELD_KEY: &str = "status";
pub const METAFIELD_DESCRIPTION: &str = "SMS marketing consent, mirrored from the SMS consent app's ledger";

/// A phone's SMS marketing consent at a store, summarised for BigCommerce.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentMirror {
    pub status: ConsentStatus,
    /// When the state began (the event that decided it).
    pub since: Option<DateTime<Utc>>,
    /// How: `sms_reply`, `web_opt_out`, `merchant`, `carrier`, `checkbox_unticked`, `erased`,
    /// `bigcommerce_opt_out`, or the basis of the consent in effect (`checkbox_verified`, `keyword`, ...).
    pub source: String,
    pub ledger_event_id: Option<String>,
}

impl ConsentMirror {
    /// The summary of a phone's ledger (any order).
    pub fn of(ledger: &[ConsentEvent]) -> Self {
        let state = ConsentState::fold(ledger, Purpose::Marketing);
        let status = state.status();
        let (event, source) = match status {
            ConsentStatus::Subscribed => {
                let grant = state.strongest().expect("subscribed means a grant is in effect");
                (Some(grant.event), grant.basis.code())
            }
            ConsentStatus::PendingDoubleOptIn => (state.pending_double_opt_in, "double_opt_in_requested"),
            ConsentStatus::Unsubscribed => {
                let event = first_of_last_withdrawals(ledger);
                (event, event.map_or("unknown", |e| withdrawal_source(&e.kind)))
            }
            ConsentStatus::NeverSubscribed => (None, "none"),
        };
        Self {
            status,
            since: event.map(|e| e.occurred_at),
            source: source.to_owned(),
            ledger_event_id: event.map(|e| e.event_id.clone()),
        }
    }

    /// The attribute value a merchant reads, e.g. `Unsubscribed on 2026-11-25 14:00 UTC (replied STOP by
    /// text)`. At most 255 characters, as BigCommerce requires.
    pub fn attribute_value(&self) -> String {
        let label = match self.status {
            ConsentStatus::Subscribed => "Subscribed",
            ConsentStatus::PendingDoubleOptIn => "Waiting for YES to the confirmation text",
            ConsentStatus::Unsubscribed => "Unsubscribed",
            ConsentStatus::NeverSubscribed => "Not subscribed",
        };
        match self.since {
            Some(since) => format!(
                "{label} on {} ({})",
                since.format("%Y-%m-%d %H:%M UTC"),
                source_label(&self.source)
            ),
            None => label.to_owned(),
        }
    }

    /// The metafield value: `{"status", "since", "source", "ledger_event_id"}`.
    pub fn metafield_value(&self) -> String {
        serde_json::json!({
            "status": status_code(self.status),
            "since": self.since.map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true)),
            "source": self.source,
            "ledger_event_id": self.ledger_event_id,
        })
        .to_string()
    }
}

/// The first withdrawal since the last event that was not one: when the person became unsubscribed. A
/// second STOP does not move it, so the mirror (and the write-back) stays the same.
fn first_of_last_withdrawals(ledger: &[ConsentEvent]) -> Option<&ConsentEvent> {
    let mut events: Vec<&ConsentEvent> = ledger.iter().collect();
    events.sort_by_key(|e| (e.occurred_at, e.recorded_at));
    let since = events
        .iter()
        .rposition(|e| !is_withdrawal(&e.kind))
        .map_or(0, |i| i + 1);
    events.get(since).copied()
}

/// The status as a stable code (the same as its serde form), for events and mirrors.
pub fn status_code(status: ConsentStatus) -> &'static str {
    match status {
        ConsentStatus::Subscribed => "subscribed",
        ConsentStatus::PendingDoubleOptIn => "pending_double_opt_in",
        ConsentStatus::Unsubscribed => "unsubscribed",
        ConsentStatus::NeverSubscribed => "never_subscribed",
    }
}

fn withdrawal_source(kind: &ConsentEventKind) -> &'static str {
    match kind {
        ConsentEventKind::OptOut(OptOutMethod::Keyword { .. }) => "sms_reply",
        ConsentEventKind::OptOut(OptOutMethod::WebPage { .. }) => "web_opt_out",
        ConsentEventKind::OptOut(OptOutMethod::Merchant { .. }) => "merchant",
        ConsentEventKind::OptOut(OptOutMethod::ProviderReported { .. }) => "carrier",
        ConsentEventKind::OptOut(OptOutMethod::CheckboxUnticked) => "checkbox_unticked",
        ConsentEventKind::Erasure { .. } => "erased",
        _ => "bigcommerce_opt_out",
    }
}

fn source_label(source: &str) -> &str {
    match source {
        "sms_reply" => "replied STOP by text",
        "web_opt_out" => "web opt-out page",
        "merchant" => "by the merchant",
        "carrier" => "blocked at the carrier",
        "checkbox_unticked" => "unticked the checkout checkbox",
        "erased" => "erased",
        "bigcommerce_opt_out" => "BigCommerce marketing opt-out",
        "double_opt_in_requested" => "confirmation text sent",
        code => Basis::ALL
            .into_iter()
            .find(|b| b.code() == code)
            .map_or(code, |b| b.describe()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consent::OptInKeyword;
    use crate::{Phone, StoreHash};

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn event(at: &str, key: &str, kind: ConsentEventKind) -> ConsentEvent {
        ConsentEvent::new(
            StoreHash::parse("abc123").unwrap(),
            Phone::from_e164("+12122014567").unwrap(),
            Purpose::Marketing,
            t(at),
            t(at),
            key,
            kind,
        )
    }

    fn start(at: &str) -> ConsentEvent {
        event(
            at,
            "start",
            ConsentEventKind::KeywordOptIn {
                keyword: OptInKeyword::Start,
                raw_text: "START".into(),
                message_id: None,
            },
        )
    }

    fn stop(at: &str) -> ConsentEvent {
        event(
            at,
            "stop",
            ConsentEventKind::OptOut(OptOutMethod::Keyword {
                raw_text: "STOP".into(),
                message_id: None,
            }),
        )
    }

    #[test]
    fn an_opt_out_reads_as_unsubscribed_with_when_and_how() {
        let ledger = vec![start("2026-11-01T10:00:00Z"), stop("2026-11-25T14:00:00Z")];
        let mirror = ConsentMirror::of(&ledger);
        assert_eq!(mirror.status, ConsentStatus::Unsubscribed);
        assert_eq!(mirror.source, "sms_reply");
        assert_eq!(mirror.ledger_event_id.as_deref(), Some(ledger[1].event_id.as_str()));
        assert_eq!(
            mirror.attribute_value(),
            "Unsubscribed on 2026-11-25 14:00 UTC (replied STOP by text)"
        );
        let json: serde_json::Value = serde_json::from_str(&mirror.metafield_value()).unwrap();
        assert_eq!(json["status"], "unsubscribed");
        assert_eq!(json["since"], "2026-11-25T14:00:00Z");
    }

    #[test]
    fn a_second_opt_out_does_not_change_the_mirror() {
        let once = vec![start("2026-11-01T10:00:00Z"), stop("2026-11-25T14:00:00Z")];
        let mut twice = once.clone();
        twice.push(stop("2026-11-25T14:05:00Z"));
        assert_eq!(ConsentMirror::of(&once), ConsentMirror::of(&twice));
        // After a new opt-in, the next opt-out starts a new run.
        twice.push(start("2026-11-26T09:00:00Z"));
        twice.push(stop("2026-11-26T10:00:00Z"));
        assert_eq!(ConsentMirror::of(&twice).since, Some(t("2026-11-26T10:00:00Z")));
    }

    #[test]
    fn subscribed_and_never_subscribed() {
        let mirror = ConsentMirror::of(&[start("2026-11-01T10:00:00Z")]);
        assert_eq!(mirror.status, ConsentStatus::Subscribed);
        assert_eq!(
            mirror.attribute_value(),
            "Subscribed on 2026-11-01 10:00 UTC (a texted opt-in keyword)"
        );
        let never = ConsentMirror::of(&[]);
        assert_eq!(never.attribute_value(), "Not subscribed");
        assert_eq!(status_code(never.status), "never_subscribed");
    }

    #[test]
    fn status_codes_match_serde() {
        for status in [
            ConsentStatus::Subscribed,
            ConsentStatus::PendingDoubleOptIn,
            ConsentStatus::Unsubscribed,
            ConsentStatus::NeverSubscribed,
        ] {
            assert_eq!(serde_json::to_value(status).unwrap(), status_code(status));
        }
    }

    #[test]
    fn attribute_values_fit_bigcommerce() {
        let web = event(
            "2026-11-25T14:00:00Z",
            "web",
            ConsentEventKind::OptOut(OptOutMethod::WebPage {
                ip: Some("203.0.113.7".into()),
                user_agent: Some("x".repeat(1000)),
            }),
        );
        let value = ConsentMirror::of(&[web]).attribute_value();
        assert!(value.chars().count() <= 255, "{value}");
        assert!(value.ends_with("(web opt-out page)"));
    }
}
