use crate::{Phone, StoreHash};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CartStatus {
    Active,
    Abandoned,
    Converted,
    Deleted,
    Expired,
}

impl CartStatus {
    /// Converted, deleted and expired carts never get another reminder.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Converted | Self::Deleted | Self::Expired)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LineItem {
    pub product_id: u64,
    pub variant_id: Option<u64>,
    pub name: String,
    pub quantity: u32,
    pub price: Decimal,
    pub image_url: Option<String>,
}

/// A shopper's cart as the recovery flow tracks it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cart {
    pub store_hash: StoreHash,
    pub cart_id: String,
    /// 0 for guests, as in BigCommerce.
    pub customer_id: u64,
    pub channel_id: u64,
    pub email: Option<String>,
    pub first_name: Option<String>,
    /// The number the checkout proves (`shared::carts::proven_phone`): its billing phone, or a signed-in
    /// customer's own number; never one only ticked in the consent box.
    pub phone: Option<Phone>,
    /// Billing country and state (ISO codes) when known: a region hint for quiet hours.
    pub country_code: Option<String>,
    pub state_code: Option<String>,
    pub line_items: Vec<LineItem>,
    pub amount: Decimal,
    pub currency: String,
    pub status: CartStatus,
    pub last_activity_at: DateTime<Utc>,
    /// Reminders already sent for this cart (0 before the first).
    pub reminders_sent: u8,
    /// When the next reminder is due; `None` when the sequence has ended. The due-time index mirrors it.
    pub next_due_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub converted_order_id: Option<u64>,
    pub updated_at: DateTime<Utc>,
}
