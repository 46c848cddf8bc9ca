use crate::{Phone, StoreHash};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SendStatus {
    /// The send is claimed: no other attempt may send this (store, cart, step).
    Claimed,
    /// The provider accepted the message.
    Sent,
    Delivered,
    /// The provider or carrier could not deliver it.
    Failed,
    /// The provider call started but its answer never came back (a timeout, or the invocation died right
    /// after it): the message may have gone out, so it is never sent again and counts as this step's
    /// reminder (the step moves on; frequency limits count it from its claim).
    Unconfirmed,
}

/// One reminder for one cart step: the exactly-once claim and the evidence of what was sent and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SendRecord {
    pub store_hash: StoreHash,
    pub cart_id: String,
    pub step: u8,
    pub phone: Phone,
    pub status: SendStatus,
    pub claimed_at: DateTime<Utc>,
    /// The consent ledger event that authorised the message.
    pub ledger_event_id: String,
    /// The settings version in force when it was allowed.
    pub settings_version: u32,
    pub body: String,
    pub segments: u32,
    /// Token of the recovery link carried by the message.
    pub link_token: String,
    #[serde(default)]
    pub provider: Option<String>,
    #[serde(default)]
    pub provider_message_id: Option<String>,
    #[serde(default)]
    pub sent_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub delivered_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub clicked_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub recovered_order_id: Option<u64>,
    #[serde(default)]
    pub recovered_amount: Option<Decimal>,
    /// ISO 4217 code of `recovered_amount`.
    #[serde(default)]
    pub recovered_currency: Option<String>,
    /// When the order was credited.
    #[serde(default)]
    pub recovered_at: Option<DateTime<Utc>>,
    /// The unique coupon code the text carries (created before the provider call, once per reminder).
    #[serde(default)]
    pub coupon_code: Option<String>,
    /// Why a reminder meant to carry a unique code went without one.
    #[serde(default)]
    pub coupon_error: Option<String>,
    /// The text with a placeholder for the unique code ([`crate::recovery::COUPON_SLOT`]), kept until the code
    /// is created.
    #[serde(default)]
    pub coupon_body: Option<String>,
    /// The reminder's unique code, when the credited order redeemed it.
    #[serde(default)]
    pub recovered_coupon: Option<String>,
    /// When `cart.recovered` was published for the credit (unset: not yet).
    #[serde(default)]
    pub recovery_published_at: Option<DateTime<Utc>>,
}

/// The consent engine's answer for one due reminder, kept so every decision can be explained later.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReminderDecision {
    pub store_hash: StoreHash,
    pub cart_id: String,
    pub step: u8,
    pub decided_at: DateTime<Utc>,
    /// `allow`, `deny` or `defer`.
    pub outcome: String,
    /// Machine-readable reason code (deny) or authorising ledger event (allow).
    pub code: String,
    /// One sentence a merchant or reviewer can read.
    pub explanation: String,
    #[serde(default)]
    pub defer_until: Option<DateTime<Utc>>,
}

/// What a reminder is claimed with, before the provider is called; the rest of its [`SendRecord`] starts empty.
#[derive(Debug, Clone)]
pub struct ReminderClaim {
    pub store_hash: StoreHash,
    pub cart_id: String,
    pub step: u8,
    pub phone: Phone,
    pub claimed_at: DateTime<Utc>,
    pub ledger_event_id: String,
    pub settings_version: u32,
    pub body: String,
    pub segments: u32,
    pub link_token: String,
    pub coupon_body: Option<String>,
}

impl SendRecord {
    /// A reminder as its claim writes it: nothing sent, delivered, clicked or recovered yet.
    pub fn claimed(claim: ReminderClaim) -> Self {
        let ReminderClaim {
            store_hash,
            cart_id,
            step,
            phone,
            claimed_at,
            ledger_event_id,
            settings_version,
            body,
            segments,
            link_token,
            coupon_body,
        } = claim;
        Self {
            store_hash,
            cart_id,
            step,
            phone,
            status: SendStatus::Claimed,
            claimed_at,
            ledger_event_id,
            settings_version,
            body,
            segments,
            link_token,
            provider: None,
            provider_message_id: None,
            sent_at: None,
            delivered_at: None,
            error: None,
            clicked_at: None,
            recovered_order_id: None,
            recovered_amount: None,
            recovered_currency: None,
            recovered_at: None,
            coupon_code: None,
            coupon_error: None,
            coupon_body,
            recovered_coupon: None,
            recovery_published_at: None,
        }
    }

    pub fn mark_sent(&mut self, provider: &str, message_id: &str, at: DateTime<Utc>) {
        self.status = SendStatus::Sent;
        self.provider = Some(provider.to_owned());
        self.provider_message_id = Some(message_id.to_owned());
        self.sent_at = Some(at);
    }
}
