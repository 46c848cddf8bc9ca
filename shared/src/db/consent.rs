//! The consent ledger (append-only, idempotent) and the one-query snapshot a send decision reads.

use super::keys::{CONSENT_PREFIX, CONTACT_SK, SENT_PREFIX, consent_key_sk, consent_sk, phone_pk, sent_sk};
use super::{Db, DbError, Item, TRANSACTION_LIMIT, to_item};
use crate::consent::{ConsentEvent, PastSend};
use crate::model::Contact;
use crate::{Phone, StoreHash};

/// Whether an append wrote a new event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    New,
    /// An event with the same idempotency key was already in the ledger; nothing was written.
    AlreadyRecorded,
}

/// Everything about one phone at one store, read with one query.
#[derive(Debug, Clone, Default)]
pub struct PhoneSnapshot {
    pub contact: Option<Contact>,
    /// The consent ledger, oldest first (by `occurred_at`).
    pub ledger: Vec<ConsentEvent>,
    /// Messages sent to the phone by this store (reminders and transactional replies), oldest first.
    pub sends: Vec<PastSend>,
}

impl Db {
    fn consent_actions(
        &self,
        event: &ConsentEvent,
    ) -> Result<[aws_sdk_dynamodb::types::TransactWriteItem; 2], DbError> {
        let pk = phone_pk(&event.store_hash, &event.phone);
        let marker = serde_json::json!({ "event_id": event.event_id });
        Ok([
            self.put_action(
                to_item(
                    &marker,
                    &[("pk", pk.clone()), ("sk", consent_key_sk(&event.idempotency_key))],
                )?,
                Some("attribute_not_exists(pk)"),
            ),
            self.put_action(
                to_item(
                    event,
                    &[("pk", pk), ("sk", consent_sk(event.occurred_at, &event.event_id))],
                )?,
                None,
            ),
        ])
    }

    /// Appends one event to the ledger unless an event with its idempotency key is already there.
    pub async fn append_consent(&self, event: &ConsentEvent) -> Result<Appended, DbError> {
        match self.transact(self.consent_actions(event)?.into()).await? {
            Ok(()) => {
                // After the append, so the counters follow the ledger (a retry that appends nothing still
                // recounts, which moves nothing when the state is already counted).
                self.recount_consent_state(&event.store_hash, &event.phone).await?;
                Ok(Appended::New)
            }
            Err(_) => {
                self.recount_consent_state(&event.store_hash, &event.phone).await?;
                Ok(Appended::AlreadyRecorded)
            }
        }
    }

    /// Appends many events (bulk sync), 50 per transaction. Events whose idempotency key is already recorded
    /// are skipped; returns how many were new.
    pub async fn append_consents(&self, events: &[ConsentEvent]) -> Result<usize, DbError> {
        // Two events with one key in a transaction would be two actions on one marker item.
        let mut seen = std::collections::HashSet::new();
        let events: Vec<&ConsentEvent> = events
            .iter()
            .filter(|e| seen.insert(e.idempotency_key.as_str()))
            .collect();
        let mut appended = 0;
        for chunk in events.chunks(TRANSACTION_LIMIT / 2) {
            let mut pending: Vec<&ConsentEvent> = chunk.to_vec();
            // Each round either commits or drops at least one already-recorded event, so this ends.
            while !pending.is_empty() {
                let mut actions = Vec::with_capacity(pending.len() * 2);
                for event in &pending {
                    actions.extend(self.consent_actions(event)?);
                }
                match self.transact(actions).await? {
                    Ok(()) => {
                        appended += pending.len();
                        self.recount_consent_states_of(pending.iter().copied()).await?;
                        break;
                    }
                    Err(reasons) => {
                        // Markers are the even-numbered actions; drop the events whose marker exists.
                        let before = pending.len();
                        pending = pending
                            .into_iter()
                            .enumerate()
                            .filter(|(i, _)| reasons.get(i * 2).is_none_or(|r| r.is_none()))
                            .map(|(_, e)| e)
                            .collect();
                        if pending.len() == before {
                            return Err(DbError::Conflict(
                                "ledger transaction cancelled without a known reason".into(),
                            ));
                        }
                    }
                }
            }
        }
        Ok(appended)
    }

    /// The contact, ledger and sends of one phone, in one query.
    pub async fn phone_snapshot(&self, store: &StoreHash, phone: &Phone) -> Result<PhoneSnapshot, DbError> {
        let items = self.query_partition(&phone_pk(store, phone), None).await?;
        let mut snapshot = PhoneSnapshot::default();
        for item in items {
            let sk = super::sort_key(&item);
            if sk == CONTACT_SK {
                snapshot.contact = Some(serde_dynamo::from_item(item)?);
            } else if sk.starts_with(CONSENT_PREFIX) {
                snapshot.ledger.push(serde_dynamo::from_item(item)?);
            } else if sk.starts_with(SENT_PREFIX) {
                snapshot.sends.push(serde_dynamo::from_item(item)?);
            }
        }
        // Sort keys already order both by time; keep it explicit for readers of the snapshot.
        snapshot.ledger.sort_by(|a, b| {
            a.occurred_at
                .cmp(&b.occurred_at)
                .then(a.recorded_at.cmp(&b.recorded_at))
        });
        snapshot.sends.sort_by_key(|s| s.sent_at);
        Ok(snapshot)
    }

    /// The consent ledger of one phone, oldest first.
    pub async fn ledger(&self, store: &StoreHash, phone: &Phone) -> Result<Vec<ConsentEvent>, DbError> {
        let items = self.query_prefix(&phone_pk(store, phone), CONSENT_PREFIX).await?;
        Ok(serde_dynamo::from_items(items)?)
    }

    pub(crate) fn past_send_item(store: &StoreHash, phone: &Phone, send: &PastSend) -> Result<Item, DbError> {
        to_item(
            send,
            &[
                ("pk", phone_pk(store, phone)),
                ("sk", sent_sk(send.sent_at, &send.kind)),
            ],
        )
    }

    /// Records a transactional message sent to a phone (opt-out confirmation, HELP reply, double opt-in
    /// request), so the consent engine's once-only and rate limits see it. Reminders are recorded by
    /// [`Db::claim_send`].
    pub async fn record_past_send(&self, store: &StoreHash, phone: &Phone, send: &PastSend) -> Result<(), DbError> {
        self.put(Self::past_send_item(store, phone, send)?).await
    }
}
