//! In-memory adapters of the send job's ports ([`shared::ports`]), for its unit tests: [`MemoryStore`] (the
//! table, the store's BigCommerce API, the event bus and the consent recorder in one) and [`ScriptedTexter`]
//! (an SMS provider that answers as a test scripts it).
//!
//! The store honours the conditions of the DynamoDB adapter it stands for (a step is claimed once; a cart is
//! saved only at the due time it was read with; an attempt begins only on a claimed send without one; a
//! settled send is never settled again), so a branch of the job that leans on one is tested against it. The
//! consent recorder only appends to the ledger: the write-back and `consent.changed` that follow a change
//! are tested through moto.

use crate::SendPorts;
use chrono::{DateTime, Utc};
use shared::bigcommerce::{BigCommerceError, Checkout, CouponCode};
use shared::bus::BusError;
use shared::config::AppUrl;
use shared::consent::{ConsentEvent, PastSend, SentKind};
use shared::db::{ClaimOutcome, DbError, PhoneSnapshot, SendClaim};
use shared::infra::InfraError;
use shared::messages::DomainEvent;
use shared::model::sender::{SenderApproval, SenderStatus, sender_key};
use shared::model::{Cart, Contact, ReminderDecision, SendRecord, SendStatus, Settings, Store};
use shared::ports::{ConsentRecorder, EventPublisher, ReminderStore, Shop, Texter};
use shared::sms::{OutboundSms, SentSms, SmsError};
use shared::{Clock, ManualClock, Phone, Secret, StoreHash};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Mutex, MutexGuard};

/// Everything the store holds; tests arrange and inspect it through [`MemoryStore::tables`].
#[derive(Default)]
pub struct Tables {
    pub carts: HashMap<(StoreHash, String), Cart>,
    pub stores: HashMap<StoreHash, (Store, Option<Settings>)>,
    /// By [`sender_key`].
    pub sender_approvals: HashMap<String, SenderApproval>,
    pub contacts: HashMap<(StoreHash, Phone), Contact>,
    pub ledger: HashMap<(StoreHash, Phone), Vec<ConsentEvent>>,
    /// The phone's sent markers (frequency limits), written with each claim.
    pub past_sends: HashMap<(StoreHash, Phone), Vec<PastSend>>,
    /// Send records with their attempt in flight, by `(store, cart, step)`.
    pub sends: HashMap<(StoreHash, String, u8), SendClaim>,
    /// Link tokens by `(kind, token)`.
    pub tokens: HashMap<(String, String), serde_json::Value>,
    pub decisions: Vec<ReminderDecision>,
    /// `count_once` markers: `(store, cart, what, step)`.
    pub counted: HashSet<(StoreHash, String, String, u8)>,
    /// Counter totals by name (every day together).
    pub counters: HashMap<String, i64>,
    /// `(cart, step)` of every reminder the provider could not take.
    pub provider_failures: Vec<(String, u8)>,
    /// Sends taken per `(store, second)`.
    pub send_slots: HashMap<(StoreHash, i64), u32>,
    /// The checkouts BigCommerce knows; a missing one answers 404.
    pub checkouts: HashMap<(StoreHash, String), Checkout>,
    /// Coupon codes made, by `(promotion, code)`.
    pub coupons: HashSet<(u64, String)>,
    pub published: Vec<DomainEvent>,
}

impl Tables {
    fn send_mut(&mut self, store: &StoreHash, cart_id: &str, step: u8) -> Option<&mut SendClaim> {
        self.sends.get_mut(&(store.clone(), cart_id.to_owned(), step))
    }

    /// The send record of `(store, cart, step)`, if it is still claimed (the condition of every settling write).
    fn claimed_send(&mut self, store: &StoreHash, cart_id: &str, step: u8) -> Option<&mut SendClaim> {
        self.send_mut(store, cart_id, step)
            .filter(|claim| claim.record.status == SendStatus::Claimed)
    }

    fn settle(&mut self, store: &StoreHash, cart_id: &str, step: u8, status: SendStatus, error: &str) -> bool {
        let Some(claim) = self.claimed_send(store, cart_id, step) else {
            return false;
        };
        claim.record.status = status;
        claim.record.error = Some(error.to_owned());
        claim.attempt_started_at = None;
        true
    }

    fn count(&mut self, counts: &[(&str, i64)]) {
        for (name, by) in counts {
            *self.counters.entry((*name).to_owned()).or_default() += by;
        }
    }
}

/// A write made by someone else (an overlapping delivery, a sweep) at a chosen moment.
type Interleaved = Box<dyn FnOnce(&mut Tables) + Send>;

#[derive(Default)]
pub struct MemoryStore {
    tables: Mutex<Tables>,
    before_claim: Mutex<Option<Interleaved>>,
}

impl MemoryStore {
    pub fn tables(&self) -> MutexGuard<'_, Tables> {
        self.tables.lock().expect("memory store lock")
    }

    /// Runs `write` in the next [`ReminderStore::claim_send`], just before its condition is checked: what an
    /// overlapping delivery writes between this job's read of the claim and its own claim.
    pub fn before_next_claim(&self, write: impl FnOnce(&mut Tables) + Send + 'static) {
        *self.before_claim.lock().expect("hook lock") = Some(Box::new(write));
    }
}

impl ReminderStore for MemoryStore {
    async fn get_cart(&self, store: &StoreHash, cart_id: &str) -> Result<Option<Cart>, DbError> {
        Ok(self.tables().carts.get(&(store.clone(), cart_id.to_owned())).cloned())
    }

    async fn put_cart_if_due(
        &self,
        cart: &Cart,
        expected_due: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, DbError> {
        let mut tables = self.tables();
        let key = (cart.store_hash.clone(), cart.cart_id.clone());
        if tables.carts.get(&key).and_then(|stored| stored.next_due_at) != Some(expected_due) {
            return Ok(false);
        }
        let mut saved = cart.clone();
        saved.updated_at = now;
        tables.carts.insert(key, saved);
        Ok(true)
    }

    async fn store_with_settings(&self, store: &StoreHash) -> Result<Option<(Store, Option<Settings>)>, DbError> {
        Ok(self.tables().stores.get(store).cloned())
    }

    async fn sender_status(&self, store: &StoreHash, sender: Option<&str>) -> Result<SenderStatus, DbError> {
        let sender = sender.map(str::trim).filter(|s| !s.is_empty());
        let tables = self.tables();
        let approval = sender.and_then(|sender| tables.sender_approvals.get(&sender_key(sender)));
        Ok(SenderStatus::of(store, sender, approval))
    }

    async fn phone_snapshot(&self, store: &StoreHash, phone: &Phone) -> Result<PhoneSnapshot, DbError> {
        let tables = self.tables();
        let key = (store.clone(), phone.clone());
        let mut snapshot = PhoneSnapshot {
            contact: tables.contacts.get(&key).cloned(),
            ledger: tables.ledger.get(&key).cloned().unwrap_or_default(),
            sends: tables.past_sends.get(&key).cloned().unwrap_or_default(),
        };
        snapshot.ledger.sort_by(|a, b| {
            a.occurred_at
                .cmp(&b.occurred_at)
                .then(a.recorded_at.cmp(&b.recorded_at))
        });
        snapshot.sends.sort_by_key(|s| s.sent_at);
        Ok(snapshot)
    }

    async fn contact_by_customer(&self, store: &StoreHash, customer_id: u64) -> Result<Option<Contact>, DbError> {
        Ok(self
            .tables()
            .contacts
            .values()
            .find(|c| c.store_hash == *store && c.customer_id == Some(customer_id))
            .cloned())
    }

    async fn put_contact(&self, contact: &Contact) -> Result<(), DbError> {
        let key = (contact.store_hash.clone(), contact.phone.clone());
        self.tables().contacts.insert(key, contact.clone());
        Ok(())
    }

    async fn mark_undeliverable(
        &self,
        store: &StoreHash,
        phone: &Phone,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, DbError> {
        let mut tables = self.tables();
        let Some(contact) = tables.contacts.get_mut(&(store.clone(), phone.clone())) else {
            return Ok(false);
        };
        contact.undeliverable = Some(reason.to_owned());
        contact.updated_at = now;
        Ok(true)
    }

    async fn put_token<T: serde::Serialize + Sync>(
        &self,
        kind: &str,
        token: &str,
        value: &T,
        _expires_at: DateTime<Utc>,
    ) -> Result<(), DbError> {
        let value = serde_json::to_value(value).map_err(|e| DbError::Request(e.to_string()))?;
        self.tables().tokens.insert((kind.to_owned(), token.to_owned()), value);
        Ok(())
    }

    async fn record_decision(&self, decision: &ReminderDecision) -> Result<(), DbError> {
        self.tables().decisions.push(decision.clone());
        Ok(())
    }

    async fn count_once(
        &self,
        store: &StoreHash,
        cart_id: &str,
        what: &str,
        step: u8,
        _at: DateTime<Utc>,
        counts: &[(&str, i64)],
    ) -> Result<bool, DbError> {
        let mut tables = self.tables();
        if counts.is_empty()
            || !tables
                .counted
                .insert((store.clone(), cart_id.to_owned(), what.to_owned(), step))
        {
            return Ok(false);
        }
        tables.count(counts);
        Ok(true)
    }

    async fn send_claim(&self, store: &StoreHash, cart_id: &str, step: u8) -> Result<Option<SendClaim>, DbError> {
        Ok(self.tables().send_mut(store, cart_id, step).map(|claim| claim.clone()))
    }

    async fn claim_send(&self, record: &SendRecord) -> Result<ClaimOutcome, DbError> {
        let mut tables = self.tables();
        if let Some(write) = self.before_claim.lock().expect("hook lock").take() {
            write(&mut tables);
        }
        let key = (record.store_hash.clone(), record.cart_id.clone(), record.step);
        if tables.sends.contains_key(&key) {
            return Ok(ClaimOutcome::AlreadyClaimed);
        }
        tables.sends.insert(
            key,
            SendClaim {
                record: record.clone(),
                attempt_started_at: None,
            },
        );
        tables
            .past_sends
            .entry((record.store_hash.clone(), record.phone.clone()))
            .or_default()
            .push(PastSend {
                sent_at: record.claimed_at,
                kind: SentKind::CartReminder {
                    cart_id: record.cart_id.clone(),
                    step: record.step,
                },
            });
        Ok(ClaimOutcome::Claimed)
    }

    async fn get_send(&self, store: &StoreHash, cart_id: &str, step: u8) -> Result<Option<SendRecord>, DbError> {
        Ok(self
            .tables()
            .send_mut(store, cart_id, step)
            .map(|claim| claim.record.clone()))
    }

    async fn record_coupon(
        &self,
        record: &SendRecord,
        outcome: Result<(&str, &str, u32), &str>,
    ) -> Result<bool, DbError> {
        let mut tables = self.tables();
        let Some(claim) = tables
            .claimed_send(&record.store_hash, &record.cart_id, record.step)
            .filter(|claim| claim.record.coupon_code.is_none() && claim.record.coupon_error.is_none())
        else {
            return Ok(false);
        };
        match outcome {
            Ok((code, body, segments)) => {
                claim.record.coupon_code = Some(code.to_owned());
                claim.record.body = body.to_owned();
                claim.record.segments = segments;
            }
            Err(reason) => claim.record.coupon_error = Some(reason.to_owned()),
        }
        Ok(true)
    }

    async fn take_send_slot(&self, store: &StoreHash, epoch_second: i64, limit: u32) -> Result<bool, DbError> {
        let mut tables = self.tables();
        let taken = tables.send_slots.entry((store.clone(), epoch_second)).or_default();
        if *taken >= limit.max(1) {
            return Ok(false);
        }
        *taken += 1;
        Ok(true)
    }

    async fn begin_send_attempt(
        &self,
        store: &StoreHash,
        cart_id: &str,
        step: u8,
        now: DateTime<Utc>,
    ) -> Result<bool, DbError> {
        let mut tables = self.tables();
        match tables.claimed_send(store, cart_id, step) {
            Some(claim) if claim.attempt_started_at.is_none() => {
                claim.attempt_started_at = Some(now);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn release_send_attempt(
        &self,
        store: &StoreHash,
        cart_id: &str,
        step: u8,
        started_at: DateTime<Utc>,
        error: &str,
    ) -> Result<(), DbError> {
        let mut tables = self.tables();
        if let Some(claim) = tables
            .claimed_send(store, cart_id, step)
            .filter(|claim| claim.attempt_started_at == Some(started_at))
        {
            claim.attempt_started_at = None;
            claim.record.error = Some(error.to_owned());
        }
        Ok(())
    }

    async fn record_provider_failure(
        &self,
        _store: &StoreHash,
        cart_id: &str,
        step: u8,
        _now: DateTime<Utc>,
    ) -> Result<(), DbError> {
        self.tables().provider_failures.push((cart_id.to_owned(), step));
        Ok(())
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
        let mut tables = self.tables();
        let Some(claim) = tables.claimed_send(store, cart_id, step) else {
            return Err(DbError::Conflict(format!(
                "send {store}/{cart_id} step {step} is not a claimed, unsent reminder"
            )));
        };
        claim.record.mark_sent(provider, message_id, at);
        claim.record.error = None;
        claim.attempt_started_at = None;
        tables.count(&[("sent", 1)]);
        Ok(())
    }

    async fn record_send_failed(
        &self,
        store: &StoreHash,
        cart_id: &str,
        step: u8,
        error: &str,
    ) -> Result<bool, DbError> {
        Ok(self.tables().settle(store, cart_id, step, SendStatus::Failed, error))
    }

    async fn record_send_unconfirmed(
        &self,
        store: &StoreHash,
        cart_id: &str,
        step: u8,
        error: &str,
    ) -> Result<bool, DbError> {
        Ok(self
            .tables()
            .settle(store, cart_id, step, SendStatus::Unconfirmed, error))
    }
}

impl Shop for MemoryStore {
    async fn checkout(&self, store: &Store, cart_id: &str) -> Result<Checkout, BigCommerceError> {
        self.tables()
            .checkouts
            .get(&(store.store_hash.clone(), cart_id.to_owned()))
            .cloned()
            .ok_or_else(|| BigCommerceError::NotFound {
                path: format!("/v3/checkouts/{cart_id}"),
            })
    }

    async fn create_coupon_code(
        &self,
        _store: &Store,
        promotion_id: u64,
        code: &str,
    ) -> Result<CouponCode, BigCommerceError> {
        let mut tables = self.tables();
        if !tables.coupons.insert((promotion_id, code.to_owned())) {
            return Err(BigCommerceError::Invalid {
                status: 409,
                code: None,
            });
        }
        Ok(CouponCode {
            id: tables.coupons.len() as u64,
            code: code.to_owned(),
        })
    }
}

impl EventPublisher for MemoryStore {
    async fn publish(&self, event: &DomainEvent) -> Result<(), BusError> {
        self.tables().published.push(event.clone());
        Ok(())
    }
}

impl ConsentRecorder for MemoryStore {
    async fn record_consent_change(&self, event: &ConsentEvent, _now: DateTime<Utc>) -> Result<(), InfraError> {
        let mut tables = self.tables();
        let ledger = tables
            .ledger
            .entry((event.store_hash.clone(), event.phone.clone()))
            .or_default();
        if !ledger.iter().any(|e| e.idempotency_key == event.idempotency_key) {
            ledger.push(event.clone());
        }
        Ok(())
    }
}

pub use shared::sms::scripted::ScriptedAnswer as Answer;

/// An SMS provider that answers each send with the next scripted [`Answer`] ([`Answer::Accept`] once the
/// script is used up) and keeps every message it was asked to send.
#[derive(Default)]
pub struct ScriptedTexter {
    script: Mutex<VecDeque<Answer>>,
    calls: Mutex<Vec<OutboundSms>>,
}

pub const PROVIDER: &str = "memory";

impl ScriptedTexter {
    pub fn answer(&self, answers: impl IntoIterator<Item = Answer>) {
        self.script.lock().expect("script lock").extend(answers);
    }

    /// Every message the provider was called with, in order.
    pub fn calls(&self) -> Vec<OutboundSms> {
        self.calls.lock().expect("calls lock").clone()
    }
}

impl Texter for ScriptedTexter {
    fn provider(&self) -> &'static str {
        PROVIDER
    }

    fn callback_url(&self, app_url: &AppUrl, token: &Secret) -> String {
        app_url.join(&format!("/webhooks/{PROVIDER}/{}", token.expose()))
    }

    async fn send(&self, message: &OutboundSms) -> Result<SentSms, SmsError> {
        let call = {
            let mut calls = self.calls.lock().expect("calls lock");
            calls.push(message.clone());
            calls.len()
        };
        let answer = self
            .script
            .lock()
            .expect("script lock")
            .pop_front()
            .unwrap_or(Answer::Accept);
        answer.outcome(PROVIDER, call).await
    }
}

/// The send job's ports, all in memory, on a manual clock.
pub struct MemoryPorts {
    pub store: MemoryStore,
    pub texter: ScriptedTexter,
    pub clock: ManualClock,
    pub app_url: AppUrl,
    pub sms_webhook_token: Secret,
}

impl MemoryPorts {
    pub fn new(now: DateTime<Utc>) -> Self {
        Self {
            store: MemoryStore::default(),
            texter: ScriptedTexter::default(),
            clock: ManualClock::new(now),
            app_url: AppUrl::new("https://app.example"),
            sms_webhook_token: Secret::new("webhook-token"),
        }
    }
}

impl SendPorts for MemoryPorts {
    type Store = MemoryStore;
    type Texter = ScriptedTexter;
    type Shop = MemoryStore;
    type Events = MemoryStore;
    type Consent = MemoryStore;
    fn store(&self) -> &MemoryStore {
        &self.store
    }
    fn texter(&self) -> &ScriptedTexter {
        &self.texter
    }
    fn shop(&self) -> &MemoryStore {
        &self.store
    }
    fn events(&self) -> &MemoryStore {
        &self.store
    }
    fn consent(&self) -> &MemoryStore {
        &self.store
    }
    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
    fn app_url(&self) -> &AppUrl {
        &self.app_url
    }
    fn sms_webhook_token(&self) -> &Secret {
        &self.sms_webhook_token
    }
}
