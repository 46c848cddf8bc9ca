//! In-memory adapters of the reply handling's ports ([`shared::ports::replies`]), for its unit tests:
//! [`MemoryStore`] (the table and the consent recorder in one) and [`ScriptedTexter`] (an SMS provider that
//! answers as a test scripts it). Both write to one [`Journal`], so a test can check what happened before
//! what (the opt-out appended before the provider was called).
//!
//! The store honours the conditions of the DynamoDB adapter it stands for: the ledger append is idempotent
//! by key; a delivery lease is taken over only once it lapsed, an attempted or finished one is never claimed
//! again, and only its holder finishes, attempts or releases it; a test number is confirmed once. The
//! consent recorder appends, notes the reminders a withdrawal would cancel and whether the change would be
//! published; the write-back, the cancelled carts and `consent.changed` themselves are tested through moto.

use super::ReplyPorts;
use chrono::{DateTime, Duration, DurationRound, Utc};
use shared::config::AppUrl;
use shared::consent::{ConsentEvent, PastSend};
use shared::consent_changes::Recorded;
use shared::db::{Appended, DbError, DeliveryClaim, DeliveryLease, PhoneSnapshot, delivery_lease};
use shared::infra::InfraError;
use shared::model::sender::{SenderApproval, SenderStatus, sender_key};
use shared::model::{Contact, Settings, Store};
use shared::ports::replies::{ConsentChangeRecorder, DeliveryLeases, ReplyStore, TestTextStore};
use shared::ports::{ConsentRecorder, Texter};
use shared::replies::{ReplyRecord, is_withdrawal};
use shared::sms::{OutboundSms, SentSms, SmsError};
use shared::test_text::TestNumber;
use shared::write_back::ConsentMirror;
use shared::{Clock, ManualClock, Phone, Secret, StoreHash};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

/// What happened, in order, across the store and the provider.
#[derive(Debug, Clone)]
pub enum Happened {
    /// A new event in a store's ledger (a redelivered one appends nothing).
    Appended(ConsentEvent),
    /// The provider was called with this message, whatever it answered.
    ProviderCalled(OutboundSms),
}

#[derive(Clone, Default)]
pub struct Journal(Arc<Mutex<Vec<Happened>>>);

impl Journal {
    fn push(&self, happened: Happened) {
        self.0.lock().expect("journal lock").push(happened);
    }

    pub fn entries(&self) -> Vec<Happened> {
        self.0.lock().expect("journal lock").clone()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MarkState {
    InProgress,
    Attempted,
    Done,
}

/// A delivery marker: its state, its holder's lease (seconds, like the table's `lease_until`) and its TTL.
#[derive(Debug, Clone)]
pub struct Mark {
    state: MarkState,
    holder: Option<String>,
    lease_until: i64,
    expires_at: DateTime<Utc>,
}

/// Everything the store holds; tests arrange and inspect it through [`MemoryStore::tables`].
#[derive(Default)]
pub struct Tables {
    pub stores: HashMap<StoreHash, (Store, Option<Settings>)>,
    /// By [`sender_key`].
    pub sender_approvals: HashMap<String, SenderApproval>,
    pub contacts: HashMap<(StoreHash, Phone), Contact>,
    pub ledger: HashMap<(StoreHash, Phone), Vec<ConsentEvent>>,
    /// Messages sent to the phone (reminders and automatic answers).
    pub past_sends: HashMap<(StoreHash, Phone), Vec<PastSend>>,
    /// Inbound texts kept for the merchant, one per (store, phone, received at, provider, message id).
    pub replies: Vec<ReplyRecord>,
    pub test_numbers: HashMap<(StoreHash, Phone), TestNumber>,
    /// `count_request` hits by (key, window start).
    pub request_counts: HashMap<(String, DateTime<Utc>), u64>,
    /// Delivery markers by key.
    pub deliveries: HashMap<String, Mark>,
    /// (store, phone) of every withdrawal recorded: its pending reminders would be cancelled.
    pub reminders_cancelled: Vec<(StoreHash, Phone)>,
    /// Events whose change would be published as `consent.changed`.
    pub consent_changed: Vec<ConsentEvent>,
}

impl Tables {
    pub fn ledger_of(&self, store: &StoreHash, phone: &Phone) -> Vec<ConsentEvent> {
        self.ledger
            .get(&(store.clone(), phone.clone()))
            .cloned()
            .unwrap_or_default()
    }

    pub fn replies_of(&self, store: &StoreHash, phone: &Phone) -> Vec<ReplyRecord> {
        self.replies
            .iter()
            .filter(|r| r.store_hash == *store && r.phone == *phone)
            .cloned()
            .collect()
    }

    pub fn past_sends_of(&self, store: &StoreHash, phone: &Phone) -> Vec<PastSend> {
        self.past_sends
            .get(&(store.clone(), phone.clone()))
            .cloned()
            .unwrap_or_default()
    }

    /// The live marker of `key` (one past its TTL is gone).
    fn mark(&mut self, key: &str, now: DateTime<Utc>) -> Option<&mut Mark> {
        if self.deliveries.get(key).is_some_and(|mark| mark.expires_at <= now) {
            self.deliveries.remove(key);
        }
        self.deliveries.get_mut(key)
    }

    /// The marker of `lease`'s key while `lease` holds it.
    fn held(&mut self, lease: &DeliveryLease) -> Option<&mut Mark> {
        self.deliveries
            .get_mut(lease.key())
            .filter(|mark| mark.holder.as_deref() == Some(lease.holder()))
    }
}

pub struct MemoryStore {
    tables: Mutex<Tables>,
    journal: Journal,
    /// Lease holders handed out so far (DynamoDB's adapter uses a UUID).
    holders: Mutex<u64>,
}

impl MemoryStore {
    fn new(journal: Journal) -> Self {
        Self {
            tables: Mutex::default(),
            journal,
            holders: Mutex::default(),
        }
    }

    pub fn tables(&self) -> MutexGuard<'_, Tables> {
        self.tables.lock().expect("memory store lock")
    }

    fn snapshot(tables: &Tables, store: &StoreHash, phone: &Phone) -> PhoneSnapshot {
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
        snapshot
    }

    fn append(&self, tables: &mut Tables, event: &ConsentEvent) -> Appended {
        let ledger = tables
            .ledger
            .entry((event.store_hash.clone(), event.phone.clone()))
            .or_default();
        if ledger.iter().any(|e| e.idempotency_key == event.idempotency_key) {
            return Appended::AlreadyRecorded;
        }
        ledger.push(event.clone());
        self.journal.push(Happened::Appended(event.clone()));
        Appended::New
    }
}

impl ReplyStore for MemoryStore {
    async fn store_with_settings(&self, store: &StoreHash) -> Result<Option<(Store, Option<Settings>)>, DbError> {
        Ok(self.tables().stores.get(store).cloned())
    }

    async fn stores_using_sender(&self, sender: &str) -> Result<Vec<StoreHash>, DbError> {
        let tables = self.tables();
        let mut stores = tables
            .sender_approvals
            .get(&sender_key(sender))
            .map(|approval| approval.stores.clone())
            .unwrap_or_default();
        stores.sort();
        Ok(stores)
    }

    async fn phone_snapshot(&self, store: &StoreHash, phone: &Phone) -> Result<PhoneSnapshot, DbError> {
        Ok(Self::snapshot(&self.tables(), store, phone))
    }

    async fn ledger(&self, store: &StoreHash, phone: &Phone) -> Result<Vec<ConsentEvent>, DbError> {
        Ok(Self::snapshot(&self.tables(), store, phone).ledger)
    }

    async fn put_reply(&self, reply: &ReplyRecord) -> Result<(), DbError> {
        let mut tables = self.tables();
        let same = |r: &ReplyRecord| {
            (&r.store_hash, &r.phone, r.received_at, &r.provider, &r.message_id)
                == (
                    &reply.store_hash,
                    &reply.phone,
                    reply.received_at,
                    &reply.provider,
                    &reply.message_id,
                )
        };
        tables.replies.retain(|r| !same(r));
        tables.replies.push(reply.clone());
        Ok(())
    }

    async fn record_past_send(&self, store: &StoreHash, phone: &Phone, send: &PastSend) -> Result<(), DbError> {
        let mut tables = self.tables();
        let sends = tables.past_sends.entry((store.clone(), phone.clone())).or_default();
        // Keyed by time and kind in the table: the same send written again is one item.
        if !sends.contains(send) {
            sends.push(send.clone());
        }
        Ok(())
    }

    async fn append_consent(&self, event: &ConsentEvent) -> Result<Appended, DbError> {
        Ok(self.append(&mut self.tables(), event))
    }
}

impl DeliveryLeases for MemoryStore {
    async fn claim_delivery(
        &self,
        key: &str,
        now: DateTime<Utc>,
        keep_for: Duration,
    ) -> Result<DeliveryClaim, DbError> {
        let holder = {
            let mut holders = self.holders.lock().expect("holders lock");
            *holders += 1;
            format!("holder-{holders}")
        };
        let mut tables = self.tables();
        let mark = Mark {
            state: MarkState::InProgress,
            holder: Some(holder.clone()),
            lease_until: (now + delivery_lease()).timestamp(),
            expires_at: now + keep_for,
        };
        match tables.mark(key, now) {
            None => {}
            Some(existing) if existing.state == MarkState::InProgress && existing.lease_until <= now.timestamp() => {}
            Some(existing) if existing.state == MarkState::InProgress => return Ok(DeliveryClaim::InProgress),
            Some(_) => return Ok(DeliveryClaim::Done),
        }
        tables.deliveries.insert(key.to_owned(), mark);
        Ok(DeliveryClaim::Claimed(DeliveryLease::new(key, holder)))
    }

    async fn attempt_delivery(&self, lease: &DeliveryLease) -> Result<bool, DbError> {
        let mut tables = self.tables();
        match tables
            .held(lease)
            .filter(|mark| matches!(mark.state, MarkState::InProgress | MarkState::Attempted))
        {
            Some(mark) => {
                mark.state = MarkState::Attempted;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn finish_delivery(&self, lease: &DeliveryLease) -> Result<bool, DbError> {
        let mut tables = self.tables();
        match tables.held(lease) {
            Some(mark) => {
                mark.state = MarkState::Done;
                mark.holder = None;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn release_delivery(&self, lease: &DeliveryLease) -> Result<(), DbError> {
        let mut tables = self.tables();
        if tables.held(lease).is_some() {
            tables.deliveries.remove(lease.key());
        }
        Ok(())
    }
}

impl TestTextStore for MemoryStore {
    async fn test_number(&self, store: &StoreHash, phone: &Phone) -> Result<Option<TestNumber>, DbError> {
        Ok(self.tables().test_numbers.get(&(store.clone(), phone.clone())).cloned())
    }

    async fn confirm_test_number(&self, store: &StoreHash, phone: &Phone, at: DateTime<Utc>) -> Result<bool, DbError> {
        let mut tables = self.tables();
        match tables.test_numbers.get_mut(&(store.clone(), phone.clone())) {
            Some(number) if number.confirmed_at.is_none() => {
                number.confirmed_at = Some(at);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn unconfirm_test_number(&self, store: &StoreHash, phone: &Phone) -> Result<(), DbError> {
        if let Some(number) = self.tables().test_numbers.get_mut(&(store.clone(), phone.clone())) {
            number.confirmed_at = None;
        }
        Ok(())
    }

    async fn sender_status(&self, store: &StoreHash, sender: Option<&str>) -> Result<SenderStatus, DbError> {
        let sender = sender.map(str::trim).filter(|s| !s.is_empty());
        let tables = self.tables();
        let approval = sender.and_then(|sender| tables.sender_approvals.get(&sender_key(sender)));
        Ok(SenderStatus::of(store, sender, approval))
    }

    async fn count_request(&self, key: &str, window: Duration, now: DateTime<Utc>) -> Result<u64, DbError> {
        let window_start = now.duration_trunc(window).unwrap_or(now);
        let mut tables = self.tables();
        let hits = tables.request_counts.entry((key.to_owned(), window_start)).or_default();
        *hits += 1;
        Ok(*hits)
    }
}

impl ConsentRecorder for MemoryStore {
    async fn record_consent_change(&self, event: &ConsentEvent, now: DateTime<Utc>) -> Result<(), InfraError> {
        self.record_consent(event, now).await.map(|_| ())
    }
}

impl ConsentChangeRecorder for MemoryStore {
    /// What `shared::consent_changes::record` does, in one step: append, cancel on a withdrawal, and judge in
    /// the ledger's order whether the event changed the state (then it would be written back and published).
    async fn record_consent(&self, event: &ConsentEvent, _now: DateTime<Utc>) -> Result<Recorded, InfraError> {
        let mut tables = self.tables();
        let appended = self.append(&mut tables, event);
        if is_withdrawal(&event.kind) {
            tables
                .reminders_cancelled
                .push((event.store_hash.clone(), event.phone.clone()));
        }
        let snapshot = Self::snapshot(&tables, &event.store_hash, &event.phone);
        let recorded = snapshot
            .ledger
            .iter()
            .find(|e| e.idempotency_key == event.idempotency_key)
            .cloned()
            .unwrap_or_else(|| event.clone());
        let key = |e: &ConsentEvent| (e.occurred_at, e.recorded_at, e.event_id.clone());
        let mut before: Vec<ConsentEvent> = snapshot
            .ledger
            .iter()
            .filter(|e| key(e) < key(&recorded))
            .cloned()
            .collect();
        let mirror_before = ConsentMirror::of(&before);
        before.push(recorded.clone());
        let changed = mirror_before != ConsentMirror::of(&before);
        if changed && !tables.consent_changed.iter().any(|e| e.event_id == recorded.event_id) {
            tables.consent_changed.push(recorded.clone());
        }
        Ok(Recorded {
            appended,
            event: recorded,
            reminders_cancelled: 0,
            snapshot,
            changed,
            write_back_queued: false,
        })
    }
}

pub use shared::sms::scripted::ScriptedAnswer as Answer;

/// One call of the provider: the message and the timeout it was sent with (`None`: the client's own).
#[derive(Debug, Clone)]
pub struct Call {
    pub message: OutboundSms,
    pub timeout: Option<std::time::Duration>,
}

#[derive(Default)]
struct Script {
    answers: Mutex<VecDeque<Answer>>,
    calls: Mutex<Vec<Call>>,
}

/// An SMS provider that answers each send with the next scripted [`Answer`] ([`Answer::Accept`] once the
/// script is used up) and keeps every call. Clones share the script and the calls (one provider, several
/// clients, as [`ReplyPorts::answer_texter`] makes).
#[derive(Clone)]
pub struct ScriptedTexter {
    script: Arc<Script>,
    journal: Journal,
    timeout: Option<std::time::Duration>,
}

pub const PROVIDER: &str = "memory";

impl ScriptedTexter {
    pub fn answer(&self, answers: impl IntoIterator<Item = Answer>) {
        self.script.answers.lock().expect("script lock").extend(answers);
    }

    /// Every call, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.script.calls.lock().expect("calls lock").clone()
    }

    /// Every message the provider was called with, in order.
    pub fn messages(&self) -> Vec<OutboundSms> {
        self.calls().into_iter().map(|call| call.message).collect()
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
            let mut calls = self.script.calls.lock().expect("calls lock");
            calls.push(Call {
                message: message.clone(),
                timeout: self.timeout,
            });
            calls.len()
        };
        self.journal.push(Happened::ProviderCalled(message.clone()));
        let answer = self
            .script
            .answers
            .lock()
            .expect("script lock")
            .pop_front()
            .unwrap_or(Answer::Accept);
        answer.outcome(PROVIDER, call).await
    }
}

/// The reply handling's ports, all in memory, on a manual clock.
pub struct MemoryPorts {
    pub store: MemoryStore,
    pub texter: ScriptedTexter,
    pub clock: ManualClock,
    pub journal: Journal,
    pub app_url: AppUrl,
    pub sms_webhook_token: Secret,
}

impl MemoryPorts {
    pub fn new(now: DateTime<Utc>) -> Self {
        let journal = Journal::default();
        Self {
            store: MemoryStore::new(journal.clone()),
            texter: ScriptedTexter {
                script: Arc::default(),
                journal: journal.clone(),
                timeout: None,
            },
            clock: ManualClock::new(now),
            journal,
            app_url: AppUrl::new("https://app.example"),
            sms_webhook_token: Secret::new("webhook-token"),
        }
    }
}

impl ReplyPorts for MemoryPorts {
    type Store = MemoryStore;
    type Texter = ScriptedTexter;
    type Consent = MemoryStore;
    fn store(&self) -> &MemoryStore {
        &self.store
    }
    fn texter(&self) -> &ScriptedTexter {
        &self.texter
    }
    fn answer_texter(&self, timeout: std::time::Duration) -> ScriptedTexter {
        ScriptedTexter {
            timeout: Some(timeout),
            ..self.texter.clone()
        }
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
