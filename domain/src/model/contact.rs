use crate::{Phone, StoreHash};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The contact group every guest lands in (MessageMedia contact-sync seed).
pub const GUEST_GROUP: &str = "BigCommerce - Guests";
/// The label every synced contact carries.
pub const BIGCOMMERCE_LABEL: &str = "BigCommerce";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContactSource {
    BulkSync,
    LiveSync,
    GuestOrder,
    CheckoutConsent,
    InboundMessage,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Address {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub address1: Option<String>,
    pub address2: Option<String>,
    pub city: Option<String>,
    pub state_or_province: Option<String>,
    pub postal_code: Option<String>,
    pub country_code: Option<String>,
}

/// A person the store may text, keyed by (store, phone). Consent is not stored here: it is the fold of the
/// phone's consent ledger (see [`crate::consent`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Contact {
    pub store_hash: StoreHash,
    pub phone: Phone,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    /// The BigCommerce customer id; `None` for guests.
    pub customer_id: Option<u64>,
    /// Contact groups: the customer's BigCommerce group, the subscriber/customer destination group,
    /// [`GUEST_GROUP`] for guests.
    pub groups: Vec<String>,
    pub notes: Option<String>,
    pub tags: Vec<String>,
    pub shipping_address: Option<Address>,
    /// Whether BigCommerce lists the person as a marketing subscriber.
    pub subscribed_in_bigcommerce: Option<bool>,
    pub labels: Vec<String>,
    pub source: ContactSource,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Set when the merchant deleted the customer: personal data is erased, the consent ledger (and any
    /// opt-out) is kept.
    #[serde(default)]
    pub erased_at: Option<DateTime<Utc>>,
    /// Set when a provider reported the number permanently undeliverable (invalid, blocked).
    #[serde(default)]
    pub undeliverable: Option<String>,
}

impl Contact {
    /// Removes personal data after a customer deletion; the phone (the ledger key) stays so suppression
    /// survives.
    pub fn erase(&mut self, at: DateTime<Utc>) {
        self.first_name = None;
        self.last_name = None;
        self.email = None;
        self.customer_id = None;
        self.notes = None;
        self.tags.clear();
        self.shipping_address = None;
        self.groups.clear();
        self.erased_at = Some(at);
        self.updated_at = at;
    }
}
