//! The consent ledger: every event that grants, confirms or withdraws SMS consent for one phone at one
//! store. Append-only; the current state is a fold over the events.

use crate::{Phone, StoreHash};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What a message is for. Consent for one purpose never authorises the other: transactional consent never
/// authorises marketing. Cart reminders are marketing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    Marketing,
    Transactional,
}

/// How a person withdrew consent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum OptOutMethod {
    /// A reply such as STOP; the raw text is kept as evidence.
    Keyword {
        raw_text: String,
        message_id: Option<String>,
    },
    /// Our one-click web opt-out page.
    WebPage {
        ip: Option<String>,
        user_agent: Option<String>,
    },
    /// The merchant unsubscribed the contact.
    Merchant { user_email: String },
    /// The SMS provider reported the number opted out at the carrier (e.g. Twilio 21610).
    ProviderReported { provider: String, code: String },
    /// The shopper unticked the checkout checkbox after ticking it.
    CheckboxUnticked,
}

/// The keyword of a texted opt-in. `Yes` is kept apart because, while a double opt-in request is pending,
/// it confirms that request rather than being a plain keyword opt-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptInKeyword {
    Start,
    Unstop,
    Yes,
}

impl OptInKeyword {
    /// The keyword as a shopper would text it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Start => "START",
            Self::Unstop => "UNSTOP",
            Self::Yes => "YES",
        }
    }
}

/// One kind of consent event, with the evidence it carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ConsentEventKind {
    /// The shopper ticked our SMS checkbox at checkout. It authorises nothing until the phone is verified
    /// ([`ConsentEventKind::CheckoutPhoneVerified`]) or confirmed by text, and never if the box was served
    /// pre-ticked or the disclosure text it was served with is incomplete (see [`super::disclosure`]).
    CheckoutCheckbox {
        /// [`super::disclosure::disclosure_version`] of `disclosure_text`.
        disclosure_version: String,
        disclosure_text: String,
        checkbox_default_checked: bool,
        ip: String,
        user_agent: String,
        page_url: Option<String>,
        cart_id: Option<String>,
    },
    /// The server confirmed the checkbox's phone is the checkout's billing phone.
    CheckoutPhoneVerified { checkbox_event_id: String, cart_id: String },
    /// START, UNSTOP or YES texted to the store's number (YES only when no double opt-in was pending:
    /// otherwise it is recorded as [`ConsentEventKind::DoubleOptInConfirmed`]).
    KeywordOptIn {
        keyword: OptInKeyword,
        raw_text: String,
        message_id: Option<String>,
    },
    /// We texted a double opt-in request.
    DoubleOptInRequested {
        message_id: Option<String>,
        /// The request as sent (it must name the brand and mention cart reminders: carrier cart policy).
        #[serde(default)]
        text: String,
    },
    /// The person replied YES to a pending double opt-in request. Without a pending request it confirms
    /// nothing.
    DoubleOptInConfirmed {
        raw_text: String,
        message_id: Option<String>,
    },
    /// BigCommerce's general marketing opt-in or opt-out (subscriber `consents`, or the customer flag). An
    /// opt-out withdraws every basis that is not SMS-specific (general marketing, inferred, import default,
    /// purchase); SMS-specific consent is withdrawn by SMS means (STOP, our opt-out page, the merchant).
    GeneralMarketing { opted_in: bool, evidence: String },
    /// The person gave their phone (at checkout or in their account) where the merchant relies on inferred
    /// consent.
    Inferred { source: String },
    /// Imported by the bulk sync as subscribed-by-default (SMS-checkbox option, MessageMedia seed). The
    /// engine decides what, if anything, this authorises (never a US marketing SMS).
    ImportDefault { sync_job_id: String },
    /// A completed purchase: the basis for implied consent (Canada, 2 years) and, when the checkout offered a
    /// simple way to refuse marketing, soft opt-in (UK). Recorded under [`Purpose::Marketing`].
    Purchase { order_id: u64, opt_out_offered: bool },
    /// Any withdrawal: ends every consent of every purpose recorded before it.
    OptOut(OptOutMethod),
    /// The merchant erased the person; behaves like an opt-out.
    Erasure { requested_by: String },
}

/// One ledger entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentEvent {
    /// Unique and sortable by recording time.
    pub event_id: String,
    pub store_hash: StoreHash,
    pub phone: Phone,
    pub purpose: Purpose,
    /// When it happened (the order date, the reply's receipt); the ledger is ordered by it.
    pub occurred_at: DateTime<Utc>,
    /// When we recorded it.
    pub recorded_at: DateTime<Utc>,
    /// Deterministic per real-world event (`reply:{id}`, `import:{customer}`), so a redelivered message
    /// never appends the same event twice.
    pub idempotency_key: String,
    pub kind: ConsentEventKind,
}

impl ConsentEvent {
    /// What happened, in one plain sentence for the merchant (the settings page's person lookup). The full
    /// evidence (disclosure text, user agent) is shown beside it where it matters.
    pub fn sentence(&self) -> String {
        let sentence = match &self.kind {
            ConsentEventKind::CheckoutCheckbox {
                disclosure_version,
                checkbox_default_checked,
                ip,
                page_url,
                cart_id,
                ..
            } => {
                let mut s = format!("Ticked the SMS checkbox at checkout (disclosure version {disclosure_version}");
                if let Some(page) = page_url {
                    s.push_str(&format!(", page {page}"));
                }
                if let Some(cart) = cart_id {
                    s.push_str(&format!(", cart {cart}"));
                }
                s.push_str(&format!(", from IP address {ip})."));
                if *checkbox_default_checked {
                    s.push_str(" The box was served pre-ticked, so this is not consent.");
                }
                s
            }
            ConsentEventKind::CheckoutPhoneVerified { cart_id, .. } => format!(
                "The number was verified as the billing phone of checkout {cart_id}, so the checkbox tick counts."
            ),
            ConsentEventKind::KeywordOptIn { keyword, .. } => format!("Texted {} to opt in.", keyword.as_str()),
            ConsentEventKind::DoubleOptInRequested { .. } => "We texted a double opt-in request.".to_owned(),
            ConsentEventKind::DoubleOptInConfirmed { raw_text, .. } => {
                let shown: String = raw_text.chars().take(40).collect();
                format!("Replied \"{shown}\" to confirm the double opt-in request.")
            }
            ConsentEventKind::GeneralMarketing {
                opted_in: true,
                evidence,
            } => {
                format!("BigCommerce reported a general marketing opt-in ({evidence}).")
            }
            ConsentEventKind::GeneralMarketing {
                opted_in: false,
                evidence,
            } => {
                format!("BigCommerce reported no general marketing opt-in, or an opt-out ({evidence}).")
            }
            ConsentEventKind::Inferred { source } => {
                format!("Gave this number ({source}) while the store relied on inferred consent.")
            }
            ConsentEventKind::ImportDefault { sync_job_id } => {
                format!("Imported as subscribed by default by contact sync {sync_job_id}.")
            }
            ConsentEventKind::Purchase {
                order_id,
                opt_out_offered,
            } => format!(
                "Completed order {order_id}{}.",
                if *opt_out_offered {
                    ", where a simple way to refuse marketing was offered"
                } else {
                    ""
                }
            ),
            ConsentEventKind::OptOut(method) => {
                format!("Opted out ({}).", super::engine::describe_opt_out(method))
            }
            ConsentEventKind::Erasure { requested_by } => {
                format!("Erased at the request of {requested_by}; the number stays suppressed.")
            }
        };
        match self.purpose {
            Purpose::Marketing => sentence,
            Purpose::Transactional => format!("{sentence} (For transactional messages only.)"),
        }
    }

    /// Builds an event recorded at `now`, with a fresh sortable id.
    pub fn new(
        store_hash: StoreHash,
        phone: Phone,
        purpose: Purpose,
        occurred_at: DateTime<Utc>,
        now: DateTime<Utc>,
        idempotency_key: impl Into<String>,
        kind: ConsentEventKind,
    ) -> Self {
        Self {
            event_id: format!(
                "{:013}-{}",
                now.timestamp_millis(),
                &uuid::Uuid::new_v4().simple().to_string()[..12]
            ),
            store_hash,
            phone,
            purpose,
            // An event cannot have happened after we recorded it.
            occurred_at: occurred_at.min(now),
            recorded_at: now,
            idempotency_key: idempotency_key.into(),
            kind,
        }
    }
}
