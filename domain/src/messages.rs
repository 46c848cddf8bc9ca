//! The bodies of our queue messages and the domain events we publish. Both are contracts between
//! functions: change them compatibly.

use crate::{Phone, StoreHash};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Work for the `sync` function. Bulk sync work and live work go to different SQS queues
/// (`shared::queue::SyncQueue` picks by [`SyncMessage::is_bulk`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SyncMessage {
    /// Start a bulk sync: customer groups first, then the first [`SyncMessage::CustomerPage`].
    StartBulkSync { store_hash: StoreHash, job_id: String },
    /// Import one page of customers (oldest first) and queue the next. Pages form a chain: `after` is the
    /// cursor BigCommerce gave at the end of page `page - 1` (none for page 1).
    CustomerPage {
        store_hash: StoreHash,
        job_id: String,
        page: u32,
        per_page: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<String>,
    },
    /// A BigCommerce webhook delivery, already authenticated and de-duplicated by the receiver.
    Webhook {
        store_hash: StoreHash,
        scope: String,
        /// The delivery's `data` object, as BigCommerce sent it.
        data: serde_json::Value,
        hash: String,
        created_at: i64,
    },
    /// Mirror a contact's SMS consent state to BigCommerce (registered customers only).
    WriteBackConsent {
        store_hash: StoreHash,
        customer_id: u64,
        phone: Phone,
    },
    /// A checkout checkbox was ticked for `phone`: re-read the checkout to verify the number is its billing
    /// phone and, once verified, send the double opt-in request where one is due. Sent again with a delay
    /// while the billing phone is not there yet or the recipient's send window is closed (`attempt` counts).
    CheckoutConsent {
        store_hash: StoreHash,
        cart_id: String,
        phone: Phone,
        attempt: u32,
    },
}

impl SyncMessage {
    pub fn store_hash(&self) -> &StoreHash {
        match self {
            Self::StartBulkSync { store_hash, .. }
            | Self::CustomerPage { store_hash, .. }
            | Self::Webhook { store_hash, .. }
            | Self::WriteBackConsent { store_hash, .. }
            | Self::CheckoutConsent { store_hash, .. } => store_hash,
        }
    }

    /// Bulk sync work (a start and its customer pages): one store's import of its whole customer list, which
    /// must never hold up another store's live events and write-backs.
    pub fn is_bulk(&self) -> bool {
        match self {
            Self::StartBulkSync { .. } | Self::CustomerPage { .. } => true,
            Self::Webhook { .. } | Self::WriteBackConsent { .. } | Self::CheckoutConsent { .. } => false,
        }
    }
}

/// Work for the `send` function (the send queue): one due step of one cart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendJob {
    /// Deterministic: `{store}:{cart}:{step}:{due}`, the same however often the job is enqueued.
    pub job_id: String,
    pub store_hash: StoreHash,
    pub cart_id: String,
    pub step: u8,
    pub due_at: DateTime<Utc>,
}

impl SendJob {
    pub fn new(store_hash: StoreHash, cart_id: String, step: u8, due_at: DateTime<Utc>) -> Self {
        let job_id = format!("{store_hash}:{cart_id}:{step}:{}", due_at.timestamp());
        Self {
            job_id,
            store_hash,
            cart_id,
            step,
            due_at,
        }
    }
}

/// Work for one sweep worker (the sweep shard queue): the carts of one shard of one hour bucket of the due
/// index that are due at `until`, after `after` (a `due_sk`, when a worker hands on the rest of its slice).
/// Only the sweep sends these (IAM); whatever one says, a worker takes only carts due by its own clock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SweepShard {
    pub bucket: String,
    pub shard: u32,
    pub until: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
}

/// Events published on the app's event bus (source [`EVENT_SOURCE`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum DomainEvent {
    MessageSent(MessageSent),
    ConsentChanged(ConsentChanged),
    CartRecovered(CartRecovered),
}

pub const EVENT_SOURCE: &str = "sms-consent-app";

impl DomainEvent {
    /// The EventBridge `detail-type`.
    pub fn detail_type(&self) -> &'static str {
        match self {
            Self::MessageSent(_) => "message.sent",
            Self::ConsentChanged(_) => "consent.changed",
            Self::CartRecovered(_) => "cart.recovered",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageSent {
    pub store_hash: StoreHash,
    pub cart_id: String,
    pub step: u8,
    pub provider: String,
    pub provider_message_id: String,
    pub ledger_event_id: String,
    pub settings_version: u32,
    pub sent_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConsentChanged {
    pub store_hash: StoreHash,
    /// Masked: events leave our boundary, full numbers do not.
    pub phone_masked: String,
    pub customer_id: Option<u64>,
    /// `subscribed`, `unsubscribed`, ...
    pub state: String,
    pub ledger_event_id: String,
    pub changed_at: DateTime<Utc>,
}

/// An order credited to a reminder as recovered revenue (docs/events.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CartRecovered {
    /// `{store}:{cart}:{step}:{order}`: the same for every publication of one credit, for subscribers that
    /// de-duplicate.
    pub event_id: String,
    pub store_hash: StoreHash,
    /// The abandoned cart the reminder was about.
    pub cart_id: String,
    /// The cart the order was placed from: `cart_id`, or the cart a recovery link re-created.
    pub order_cart_id: String,
    pub order_id: u64,
    /// The order's total including tax, as a decimal string.
    pub amount: Decimal,
    /// ISO 4217.
    pub currency: String,
    /// The reminder credited: its step, and the provider's message id (as in `message.sent`).
    pub step: u8,
    pub provider_message_id: Option<String>,
    pub recovered_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_job_ids_are_deterministic() {
        let store = StoreHash::parse("abc").unwrap();
        let due = DateTime::parse_from_rfc3339("2026-11-25T10:30:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let a = SendJob::new(store.clone(), "c1".into(), 1, due);
        let b = SendJob::new(store, "c1".into(), 1, due);
        assert_eq!(a.job_id, b.job_id);
        assert_eq!(a.job_id, "abc:c1:1:1795602600");
    }

    #[test]
    fn sync_messages_are_tagged() {
        let message = SyncMessage::CustomerPage {
            store_hash: StoreHash::parse("abc").unwrap(),
            job_id: "j".into(),
            page: 2,
            per_page: 250,
            after: Some("eyJpZCI6MjA0fQ==".into()),
        };
        let json = serde_json::to_value(&message).unwrap();
        assert_eq!(json["type"], "customer_page");
        assert_eq!(serde_json::from_value::<SyncMessage>(json).unwrap(), message);
    }
}
