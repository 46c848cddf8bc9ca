//! What the reply handling (`webhooks`, `functions/webhooks/src/sms/replies.rs`) stores and calls.
//!
//! An inbound text reads the stores it concerns and the phone's partition there, records its consent event
//! ([`ConsentChangeRecorder`]), claims its answer exactly once ([`DeliveryLeases`], the same leases that make a
//! provider's push processed once), sends it ([`crate::ports::Texter`]) and keeps the text for the merchant
//! ([`ReplyStore`]); a YES from a merchant's test number starts the test reminder instead ([`TestTextStore`]).
//! The production adapters delegate to [`Db`] and [`Aws`]; each method keeps the contract documented on the
//! method it delegates to, so an in-memory adapter must honour it the same way (the ledger append idempotent
//! by key, the lease taken over only once it lapsed, an attempted delivery never claimed again).

use crate::aws::Aws;
use crate::consent::{ConsentEvent, PastSend};
use crate::consent_changes::Recorded;
use crate::db::{Appended, Db, DbError, DeliveryClaim, DeliveryLease, PhoneSnapshot};
use crate::infra::InfraError;
use crate::model::sender::SenderStatus;
use crate::model::{Settings, Store};
use crate::ports::ConsentRecorder;
use crate::replies::ReplyRecord;
use crate::test_text::TestNumber;
use crate::{Phone, StoreHash};
use chrono::{DateTime, Duration, Utc};
use std::future::Future;

/// What the reply handling reads and writes in the phone's partition at each store it concerns.
pub trait ReplyStore: Sync {
    /// [`Db::store_with_settings`].
    fn store_with_settings(
        &self,
        store: &StoreHash,
    ) -> impl Future<Output = Result<Option<(Store, Option<Settings>)>, DbError>> + Send;
    /// [`Db::stores_using_sender`]: the stores the operator approved `sender` for.
    fn stores_using_sender(&self, sender: &str) -> impl Future<Output = Result<Vec<StoreHash>, DbError>> + Send;
    /// [`Db::phone_snapshot`]: contact, ledger and past sends, each oldest first.
    fn phone_snapshot(
        &self,
        store: &StoreHash,
        phone: &Phone,
    ) -> impl Future<Output = Result<PhoneSnapshot, DbError>> + Send;
    /// [`Db::ledger`]: oldest first.
    fn ledger(
        &self,
        store: &StoreHash,
        phone: &Phone,
    ) -> impl Future<Output = Result<Vec<ConsentEvent>, DbError>> + Send;
    /// [`Db::put_reply`]: the same text (received at, provider, message id) overwrites its record.
    fn put_reply(&self, reply: &ReplyRecord) -> impl Future<Output = Result<(), DbError>> + Send;
    /// [`Db::record_past_send`]: an automatic answer, for the consent engine's once-only and rate limits.
    fn record_past_send(
        &self,
        store: &StoreHash,
        phone: &Phone,
        send: &PastSend,
    ) -> impl Future<Output = Result<(), DbError>> + Send;
    /// [`Db::append_consent`]: [`Appended::AlreadyRecorded`] (and nothing written) when an event with the same
    /// idempotency key is in the ledger.
    fn append_consent(&self, event: &ConsentEvent) -> impl Future<Output = Result<Appended, DbError>> + Send;
}

impl ReplyStore for Db {
    async fn store_with_settings(&self, store: &StoreHash) -> Result<Option<(Store, Option<Settings>)>, DbError> {
        Db::store_with_settings(self, store).await
    }
    async fn stores_using_sender(&self, sender: &str) -> Result<Vec<StoreHash>, DbError> {
        Db::stores_using_sender(self, sender).await
    }
    async fn phone_snapshot(&self, store: &StoreHash, phone: &Phone) -> Result<PhoneSnapshot, DbError> {
        Db::phone_snapshot(self, store, phone).await
    }
    async fn ledger(&self, store: &StoreHash, phone: &Phone) -> Result<Vec<ConsentEvent>, DbError> {
        Db::ledger(self, store, phone).await
    }
    async fn put_reply(&self, reply: &ReplyRecord) -> Result<(), DbError> {
        Db::put_reply(self, reply).await
    }
    async fn record_past_send(&self, store: &StoreHash, phone: &Phone, send: &PastSend) -> Result<(), DbError> {
        Db::record_past_send(self, store, phone, send).await
    }
    async fn append_consent(&self, event: &ConsentEvent) -> Result<Appended, DbError> {
        Db::append_consent(self, event).await
    }
}

/// Leases on work that must be done once: a provider's push (its reply or report id) and each automatic
/// answer ([`crate::replies::answer_claim`]).
pub trait DeliveryLeases: Sync {
    /// [`Db::claim_delivery`]: [`DeliveryClaim::Claimed`] when `key` is new or its holder's lease lapsed;
    /// [`DeliveryClaim::InProgress`] while a lease lives; [`DeliveryClaim::Done`] once finished or attempted.
    fn claim_delivery(
        &self,
        key: &str,
        now: DateTime<Utc>,
        keep_for: Duration,
    ) -> impl Future<Output = Result<DeliveryClaim, DbError>> + Send;
    /// [`Db::attempt_delivery`]: from now on a claim finds it done; `Ok(false)` when the lease was taken over.
    fn attempt_delivery(&self, lease: &DeliveryLease) -> impl Future<Output = Result<bool, DbError>> + Send;
    /// [`Db::finish_delivery`]: `Ok(false)` when the lease was taken over (left to its new holder).
    fn finish_delivery(&self, lease: &DeliveryLease) -> impl Future<Output = Result<bool, DbError>> + Send;
    /// [`Db::release_delivery`]: forgets `key` if `lease` still holds it, so a retry claims it at once.
    fn release_delivery(&self, lease: &DeliveryLease) -> impl Future<Output = Result<(), DbError>> + Send;
}

impl DeliveryLeases for Db {
    async fn claim_delivery(
        &self,
        key: &str,
        now: DateTime<Utc>,
        keep_for: Duration,
    ) -> Result<DeliveryClaim, DbError> {
        Db::claim_delivery(self, key, now, keep_for).await
    }
    async fn attempt_delivery(&self, lease: &DeliveryLease) -> Result<bool, DbError> {
        Db::attempt_delivery(self, lease).await
    }
    async fn finish_delivery(&self, lease: &DeliveryLease) -> Result<bool, DbError> {
        Db::finish_delivery(self, lease).await
    }
    async fn release_delivery(&self, lease: &DeliveryLease) -> Result<(), DbError> {
        Db::release_delivery(self, lease).await
    }
}

/// Test texts ([`crate::test_text`]): the merchant's test numbers, the store's sender and its hourly limit.
pub trait TestTextStore: Sync {
    /// [`Db::test_number`].
    fn test_number(
        &self,
        store: &StoreHash,
        phone: &Phone,
    ) -> impl Future<Output = Result<Option<TestNumber>, DbError>> + Send;
    /// [`Db::confirm_test_number`]: `Ok(false)` when never requested or confirmed already (confirmed once).
    fn confirm_test_number(
        &self,
        store: &StoreHash,
        phone: &Phone,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, DbError>> + Send;
    /// [`Db::unconfirm_test_number`].
    fn unconfirm_test_number(
        &self,
        store: &StoreHash,
        phone: &Phone,
    ) -> impl Future<Output = Result<(), DbError>> + Send;
    /// [`Db::sender_status`].
    fn sender_status(
        &self,
        store: &StoreHash,
        sender: Option<&str>,
    ) -> impl Future<Output = Result<SenderStatus, DbError>> + Send;
    /// [`Db::count_request`]: the count in `window` so far, this one included.
    fn count_request(
        &self,
        key: &str,
        window: Duration,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<u64, DbError>> + Send;
}

impl TestTextStore for Db {
    async fn test_number(&self, store: &StoreHash, phone: &Phone) -> Result<Option<TestNumber>, DbError> {
        Db::test_number(self, store, phone).await
    }
    async fn confirm_test_number(&self, store: &StoreHash, phone: &Phone, at: DateTime<Utc>) -> Result<bool, DbError> {
        Db::confirm_test_number(self, store, phone, at).await
    }
    async fn unconfirm_test_number(&self, store: &StoreHash, phone: &Phone) -> Result<(), DbError> {
        Db::unconfirm_test_number(self, store, phone).await
    }
    async fn sender_status(&self, store: &StoreHash, sender: Option<&str>) -> Result<SenderStatus, DbError> {
        Db::sender_status(self, store, sender).await
    }
    async fn count_request(&self, key: &str, window: Duration, now: DateTime<Utc>) -> Result<u64, DbError> {
        Db::count_request(self, key, window, now).await
    }
}

/// A [`ConsentRecorder`] that says what it recorded: the reply handling answers from the ledger as it is
/// right after the change, and names the event the ledger holds (an earlier delivery's, for a redelivery).
pub trait ConsentChangeRecorder: ConsentRecorder {
    /// [`crate::consent_changes::record`].
    fn record_consent(
        &self,
        event: &ConsentEvent,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Recorded, InfraError>> + Send;
}

impl ConsentChangeRecorder for Aws {
    async fn record_consent(&self, event: &ConsentEvent, now: DateTime<Utc>) -> Result<Recorded, InfraError> {
        crate::consent_changes::record(self, event, now).await
    }
}
