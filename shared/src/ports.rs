//! What the send job stores and calls, as narrow traits (the seam of the `send` function): the job depends on
//! these, not on DynamoDB, the SMS provider, BigCommerce or EventBridge, so each of its branches can be tested
//! in memory (`functions/send/src/memory.rs`) while the moto integration tests keep testing the wiring.
//!
//! The production adapters are thin delegations to the existing clients: [`ReminderStore`] for [`Db`],
//! [`Texter`] for [`SmsClient`], [`Shop`] for [`BigCommerce`], [`EventPublisher`] for [`Bus`] and
//! [`ConsentRecorder`] for [`Aws`]. Each method keeps the contract documented on the method it delegates to
//! (the conditional writes above all: an in-memory adapter must honour them the same way).
//!
//! The futures are `Send` so a job can run on any tokio worker.

pub mod replies;
pub mod sweep;

use crate::aws::Aws;
use crate::bigcommerce::{BigCommerce, BigCommerceError, Checkout, CouponCode};
use crate::bus::{Bus, BusError};
use crate::config::AppUrl;
use crate::consent::ConsentEvent;
use crate::db::{ClaimOutcome, Db, DbError, PhoneSnapshot, SendClaim};
use crate::infra::InfraError;
use crate::messages::DomainEvent;
use crate::model::sender::SenderStatus;
use crate::model::{Cart, Contact, ReminderDecision, SendRecord, Settings, Store};
use crate::sms::{OutboundSms, SentSms, SmsClient, SmsError};
use crate::{Phone, Secret, StoreHash};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::future::Future;

/// What the send job reads and writes in the table: the cart, the store and its settings, the step's claim
/// and send record, the phone's snapshot, the coupon, the contact, counters and the store's send rate.
pub trait ReminderStore: Sync {
    /// [`Db::get_cart`].
    fn get_cart(&self, store: &StoreHash, cart_id: &str) -> impl Future<Output = Result<Option<Cart>, DbError>> + Send;
    /// [`Db::put_cart_if_due`]: `Ok(false)` when the stored cart's due time is no longer `expected_due`.
    fn put_cart_if_due(
        &self,
        cart: &Cart,
        expected_due: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, DbError>> + Send;
    /// [`Db::store_with_settings`].
    fn store_with_settings(
        &self,
        store: &StoreHash,
    ) -> impl Future<Output = Result<Option<(Store, Option<Settings>)>, DbError>> + Send;
    /// [`Db::sender_status`].
    fn sender_status(
        &self,
        store: &StoreHash,
        sender: Option<&str>,
    ) -> impl Future<Output = Result<SenderStatus, DbError>> + Send;
    /// [`Db::phone_snapshot`].
    fn phone_snapshot(
        &self,
        store: &StoreHash,
        phone: &Phone,
    ) -> impl Future<Output = Result<PhoneSnapshot, DbError>> + Send;
    /// [`Db::contact_by_customer`].
    fn contact_by_customer(
        &self,
        store: &StoreHash,
        customer_id: u64,
    ) -> impl Future<Output = Result<Option<Contact>, DbError>> + Send;
    /// [`Db::put_contact`].
    fn put_contact(&self, contact: &Contact) -> impl Future<Output = Result<(), DbError>> + Send;
    /// [`Db::mark_undeliverable`]: `Ok(false)` when the store has no contact for the phone.
    fn mark_undeliverable(
        &self,
        store: &StoreHash,
        phone: &Phone,
        reason: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, DbError>> + Send;
    /// [`Db::put_token`].
    fn put_token<T: Serialize + Sync>(
        &self,
        kind: &str,
        token: &str,
        value: &T,
        expires_at: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), DbError>> + Send;
    /// [`Db::record_decision`].
    fn record_decision(&self, decision: &ReminderDecision) -> impl Future<Output = Result<(), DbError>> + Send;
    /// [`Db::count_once`]: `Ok(false)` when `(cart, what, step)` was counted before.
    fn count_once(
        &self,
        store: &StoreHash,
        cart_id: &str,
        what: &str,
        step: u8,
        at: DateTime<Utc>,
        counts: &[(&str, i64)],
    ) -> impl Future<Output = Result<bool, DbError>> + Send;
    /// [`Db::send_claim`].
    fn send_claim(
        &self,
        store: &StoreHash,
        cart_id: &str,
        step: u8,
    ) -> impl Future<Output = Result<Option<SendClaim>, DbError>> + Send;
    /// [`Db::claim_send`]: exactly one claim of a step wins.
    fn claim_send(&self, record: &SendRecord) -> impl Future<Output = Result<ClaimOutcome, DbError>> + Send;
    /// [`Db::get_send`].
    fn get_send(
        &self,
        store: &StoreHash,
        cart_id: &str,
        step: u8,
    ) -> impl Future<Output = Result<Option<SendRecord>, DbError>> + Send;
    /// [`Db::record_coupon`]: `Ok(false)` when an earlier attempt recorded a code or its absence.
    fn record_coupon(
        &self,
        record: &SendRecord,
        outcome: Result<(&str, &str, u32), &str>,
    ) -> impl Future<Output = Result<bool, DbError>> + Send;
    /// [`Db::take_send_slot`]: `Ok(false)` when the second is full.
    fn take_send_slot(
        &self,
        store: &StoreHash,
        epoch_second: i64,
        limit: u32,
    ) -> impl Future<Output = Result<bool, DbError>> + Send;
    /// [`Db::begin_send_attempt`]: `Ok(false)` means do not call the provider.
    fn begin_send_attempt(
        &self,
        store: &StoreHash,
        cart_id: &str,
        step: u8,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, DbError>> + Send;
    /// [`Db::release_send_attempt`].
    fn release_send_attempt(
        &self,
        store: &StoreHash,
        cart_id: &str,
        step: u8,
        started_at: DateTime<Utc>,
        error: &str,
    ) -> impl Future<Output = Result<(), DbError>> + Send;
    /// [`Db::record_provider_failure`].
    fn record_provider_failure(
        &self,
        store: &StoreHash,
        cart_id: &str,
        step: u8,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), DbError>> + Send;
    /// [`Db::record_send_sent`]: [`DbError::Conflict`] when the send is not a claimed, unsent reminder.
    fn record_send_sent(
        &self,
        store: &StoreHash,
        cart_id: &str,
        step: u8,
        provider: &str,
        message_id: &str,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), DbError>> + Send;
    /// [`Db::record_send_failed`]: `Ok(false)` when the send is missing or no longer claimed.
    fn record_send_failed(
        &self,
        store: &StoreHash,
        cart_id: &str,
        step: u8,
        error: &str,
    ) -> impl Future<Output = Result<bool, DbError>> + Send;
    /// [`Db::record_send_unconfirmed`]: `Ok(false)` when the send is missing or no longer claimed.
    fn record_send_unconfirmed(
        &self,
        store: &StoreHash,
        cart_id: &str,
        step: u8,
        error: &str,
    ) -> impl Future<Output = Result<bool, DbError>> + Send;
}

impl ReminderStore for Db {
    async fn get_cart(&self, store: &StoreHash, cart_id: &str) -> Result<Option<Cart>, DbError> {
        Db::get_cart(self, store, cart_id).await
    }
    async fn put_cart_if_due(
        &self,
        cart: &Cart,
        expected_due: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, DbError> {
        Db::put_cart_if_due(self, cart, expected_due, now).await
    }
    async fn store_with_settings(&self, store: &StoreHash) -> Result<Option<(Store, Option<Settings>)>, DbError> {
        Db::store_with_settings(self, store).await
    }
    async fn sender_status(&self, store: &StoreHash, sender: Option<&str>) -> Result<SenderStatus, DbError> {
        Db::sender_status(self, store, sender).await
    }
    async fn phone_snapshot(&self, store: &StoreHash, phone: &Phone) -> Result<PhoneSnapshot, DbError> {
        Db::phone_snapshot(self, store, phone).await
    }
    async fn contact_by_customer(&self, store: &StoreHash, customer_id: u64) -> Result<Option<Contact>, DbError> {
        Db::contact_by_customer(self, store, customer_id).await
    }
    async fn put_contact(&self, contact: &Contact) -> Result<(), DbError> {
        Db::put_contact(self, contact).await
    }
    async fn mark_undeliverable(
        &self,
        store: &StoreHash,
        phone: &Phone,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, DbError> {
        Db::mark_undeliverable(self, store, phone, reason, now).await
    }
    async fn put_token<T: Serialize + Sync>(
        &self,
        kind: &str,
        token: &str,
        value: &T,
        expires_at: DateTime<Utc>,
    ) -> Result<(), DbError> {
        Db::put_token(self, kind, token, value, expires_at).await
    }
    async fn record_decision(&self, decision: &ReminderDecision) -> Result<(), DbError> {
        Db::record_decision(self, decision).await
    }
    async fn count_once(
        &self,
        store: &StoreHash,
        cart_id: &str,
        what: &str,
        step: u8,
        at: DateTime<Utc>,
        counts: &[(&str, i64)],
    ) -> Result<bool, DbError> {
        Db::count_once(self, store, cart_id, what, step, at, counts).await
    }
    async fn send_claim(&self, store: &StoreHash, cart_id: &str, step: u8) -> Result<Option<SendClaim>, DbError> {
        Db::send_claim(self, store, cart_id, step).await
    }
    async fn claim_send(&self, record: &SendRecord) -> Result<ClaimOutcome, DbError> {
        Db::claim_send(self, record).await
    }
    async fn get_send(&self, store: &StoreHash, cart_id: &str, step: u8) -> Result<Option<SendRecord>, DbError> {
        Db::get_send(self, store, cart_id, step).await
    }
    async fn record_coupon(
        &self,
        record: &SendRecord,
        outcome: Result<(&str, &str, u32), &str>,
    ) -> Result<bool, DbError> {
        Db::record_coupon(self, record, outcome).await
    }
    async fn take_send_slot(&self, store: &StoreHash, epoch_second: i64, limit: u32) -> Result<bool, DbError> {
        Db::take_send_slot(self, store, epoch_second, limit).await
    }
    async fn begin_send_attempt(
        &self,
        store: &StoreHash,
        cart_id: &str,
        step: u8,
        now: DateTime<Utc>,
    ) -> Result<bool, DbError> {
        Db::begin_send_attempt(self, store, cart_id, step, now).await
    }
    async fn release_send_attempt(
        &self,
        store: &StoreHash,
        cart_id: &str,
        step: u8,
        started_at: DateTime<Utc>,
        error: &str,
    ) -> Result<(), DbError> {
        Db::release_send_attempt(self, store, cart_id, step, started_at, error).await
    }
    async fn record_provider_failure(
        &self,
        store: &StoreHash,
        cart_id: &str,
        step: u8,
        now: DateTime<Utc>,
    ) -> Result<(), DbError> {
        Db::record_provider_failure(self, store, cart_id, step, now).await
    }
    async fn record_send_sent(
        &self,
        store: &StoreHash,
        cart_id: &str,
        step: u8,
        provider: &str,
        message_id: &str,
        at: DateTime<Utc>,
    ) -> Result<(), DbError> {
        Db::record_send_sent(self, store, cart_id, step, provider, message_id, at).await
    }
    async fn record_send_failed(
        &self,
        store: &StoreHash,
        cart_id: &str,
        step: u8,
        error: &str,
    ) -> Result<bool, DbError> {
        Db::record_send_failed(self, store, cart_id, step, error).await
    }
    async fn record_send_unconfirmed(
        &self,
        store: &StoreHash,
        cart_id: &str,
        step: u8,
        error: &str,
    ) -> Result<bool, DbError> {
        Db::record_send_unconfirmed(self, store, cart_id, step, error).await
    }
}

/// Sends one SMS through the deployment's provider.
pub trait Texter: Sync {
    /// The provider's name (`"messagemedia"`, `"twilio"`), as recorded on sends and in callback URLs.
    fn provider(&self) -> &'static str;
    /// [`SmsClient::callback_url`].
    fn callback_url(&self, app_url: &AppUrl, token: &Secret) -> String;
    /// [`SmsClient::send`]: what a failure means is [`SmsError::failure`]; whether the same message may be
    /// sent again, [`SmsError::can_send_again`].
    fn send(&self, message: &OutboundSms) -> impl Future<Output = Result<SentSms, SmsError>> + Send;
}

impl Texter for SmsClient {
    fn provider(&self) -> &'static str {
        SmsClient::provider(self)
    }
    fn callback_url(&self, app_url: &AppUrl, token: &Secret) -> String {
        SmsClient::callback_url(self, app_url, token)
    }
    async fn send(&self, message: &OutboundSms) -> Result<SentSms, SmsError> {
        SmsClient::send(self, message).await
    }
}

/// What the send job asks of the store's BigCommerce API: the checkout (the proven phone) and a unique coupon
/// code.
pub trait Shop: Sync {
    /// The store's checkout `cart_id` ([`crate::bigcommerce::StoreClient::checkout`]).
    fn checkout(&self, store: &Store, cart_id: &str)
    -> impl Future<Output = Result<Checkout, BigCommerceError>> + Send;
    /// Creates `code` under the coupon promotion ([`crate::bigcommerce::StoreClient::create_coupon_code`]); a
    /// code made before answers 409.
    fn create_coupon_code(
        &self,
        store: &Store,
        promotion_id: u64,
        code: &str,
    ) -> impl Future<Output = Result<CouponCode, BigCommerceError>> + Send;
}

impl Shop for BigCommerce {
    async fn checkout(&self, store: &Store, cart_id: &str) -> Result<Checkout, BigCommerceError> {
        self.store_client(store).await?.checkout(cart_id).await
    }
    async fn create_coupon_code(
        &self,
        store: &Store,
        promotion_id: u64,
        code: &str,
    ) -> Result<CouponCode, BigCommerceError> {
        self.store_client(store)
            .await?
            .create_coupon_code(promotion_id, code)
            .await
    }
}

/// Publishes domain events (at least once).
pub trait EventPublisher: Sync {
    fn publish(&self, event: &DomainEvent) -> impl Future<Output = Result<(), BusError>> + Send;
}

impl EventPublisher for Bus {
    async fn publish(&self, event: &DomainEvent) -> Result<(), BusError> {
        Bus::publish(self, event).await
    }
}

/// Records a consent change and everything that follows it ([`crate::consent_changes::record`]).
pub trait ConsentRecorder: Sync {
    fn record_consent_change(
        &self,
        event: &ConsentEvent,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), InfraError>> + Send;
}

impl ConsentRecorder for Aws {
    async fn record_consent_change(&self, event: &ConsentEvent, now: DateTime<Utc>) -> Result<(), InfraError> {
        crate::consent_changes::record(self, event, now).await.map(|_| ())
    }
}
