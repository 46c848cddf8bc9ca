//! Send records: the exactly-once claim of one reminder step, and what happened to it.

use super::keys::{cart_pk, decision_sk, provider_message_lookup, send_sk, store_decisions, store_sends, timestamp};
use super::{Db, DbError, Item, to_item};
use crate::StoreHash;
use crate::consent::{PastSend, SentKind};
use crate::model::{ReminderDecision, SendRecord, SendStatus};
use chrono::{DateTime, Utc};

/// The result of trying to claim a send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// This caller owns the send and must send it.
    Claimed,
    /// Someone already claimed this (store, cart, step): do not send.
    AlreadyClaimed,
}

impl Db {
    fn send_item(record: &SendRecord) -> Result<Item, DbError> {
        let mut keys = vec![
            ("pk", cart_pk(&record.store_hash, &record.cart_id)),
            ("sk", send_sk(record.step)),
            ("gsi2pk", store_sends(&record.store_hash)),
            (
                "gsi2sk",
                format!("{}#{}#{:02}", timestamp(record.claimed_at), record.cart_id, record.step),
            ),
        ];
        if let (Some(provider), Some(id)) = (&record.provider, &record.provider_message_id) {
            keys.push(("gsi1pk", provider_message_lookup(provider, id)));
            keys.push(("gsi1sk", "SEND".to_owned()));
        }
        to_item(record, &keys)
    }

    /// Claims `(store, cart, step)` for sending: the send record and the phone's sent marker (used by frequency
    /// limits) are written together, conditional on no record existing. Whatever retries or overlapping
    /// sweeps happen, exactly one claim wins.
    pub async fn claim_send(&self, record: &SendRecord) -> Result<ClaimOutcome, DbError> {
        let claim = self.put_action(Self::send_item(record)?, Some("attribute_not_exists(pk)"));
        let sent = PastSend {
            sent_at: record.claimed_at,
            kind: SentKind::CartReminder {
                cart_id: record.cart_id.clone(),
                step: record.step,
            },
        };
        let marker = self.put_action(Self::past_send_item(&record.store_hash, &record.phone, &sent)?, None);
        match self.transact(vec![claim, marker]).await? {
            Ok(()) => Ok(ClaimOutcome::Claimed),
            Err(_) => Ok(ClaimOutcome::AlreadyClaimed),
        }
    }

    pub async fn get_send(&self, store: &StoreHash, cart_id: &str, step: u8) -> Result<Option<SendRecord>, DbError> {
        self.get_as(&cart_pk(store, cart_id), &send_sk(step)).await
    }

    /// Every send record of a cart, by step.
    pub async fn cart_sends(&self, store: &StoreHash, cart_id: &str) -> Result<Vec<SendRecord>, DbError> {
        let items = self
            .query_partition(&cart_pk(store, cart_id), Some(("SEND#", "SEND#~")))
            .await?;
        Ok(serde_dynamo::from_items(items)?)
    }

    /// Saves the updated record (provider id, delivery status, click, recovered revenue). The record must
    /// have been claimed first.
    pub async fn update_send(&self, record: &SendRecord) -> Result<(), DbError> {
        self.counter.call();
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(Self::send_item(record)?))
            .condition_expression("attribute_exists(pk)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(error) if super::is_condition_failed(&error) => Err(DbError::Conflict(format!(
                "send {}/{} step {} was never claimed",
                record.store_hash, record.cart_id, record.step
            ))),
            Err(error) => Err(error.into()),
        }
    }

    /// Finds a send by the provider's message id (delivery reports, replies).
    pub async fn send_by_provider_message(
        &self,
        provider: &str,
        message_id: &str,
    ) -> Result<Option<SendRecord>, DbError> {
        let Some(item) = self
            .lookup_first(&provider_message_lookup(provider, message_id), None)
            .await?
        else {
            return Ok(None);
        };
        let record: SendRecord = serde_dynamo::from_item(item)?;
        self.get_send(&record.store_hash, &record.cart_id, record.step).await
    }

    /// Records the consent engine's decision for a due reminder (allow, deny or defer, with its reason).
    pub async fn record_decision(&self, decision: &ReminderDecision) -> Result<(), DbError> {
        self.put(to_item(
            decision,
            &[
                ("pk", cart_pk(&decision.store_hash, &decision.cart_id)),
                ("sk", decision_sk(decision.decided_at, decision.step)),
                ("gsi2pk", store_decisions(&decision.store_hash)),
                (
                    "gsi2sk",
                    format!(
                        "{}#{}#{:02}",
                        timestamp(decision.decided_at),
                        decision.cart_id,
                        decision.step
                    ),
                ),
            ],
        )?)
        .await
    }

    /// The decisions taken for a cart, oldest first.
    pub async fn cart_decisions(&self, store: &StoreHash, cart_id: &str) -> Result<Vec<ReminderDecision>, DbError> {
        let items = self
            .query_partition(&cart_pk(store, cart_id), Some(("DECISION#", "DECISION#~")))
            .await?;
        Ok(serde_dynamo::from_items(items)?)
    }
}

impl Db {
    async fn newest_in_list<T: serde::de::DeserializeOwned>(&self, list: &str, limit: i32) -> Result<Vec<T>, DbError> {
        let output = self
            .store_list_query(list)
            .scan_index_forward(false)
            .limit(limit)
            .send()
            .await?;
        let items = output.items.unwrap_or_default();
        self.counter.read(items.len());
        Ok(serde_dynamo::from_items(items)?)
    }

    /// A store's most recent reminders, newest first.
    pub async fn recent_sends(&self, store: &StoreHash, limit: i32) -> Result<Vec<SendRecord>, DbError> {
        self.newest_in_list(&store_sends(store), limit).await
    }

    /// A store's most recent reminder decisions, newest first.
    pub async fn recent_decisions(&self, store: &StoreHash, limit: i32) -> Result<Vec<ReminderDecision>, DbError> {
        self.newest_in_list(&store_decisions(store), limit).await
    }
}

impl SendRecord {
    pub fn mark_sent(&mut self, provider: &str, message_id: &str, at: DateTime<Utc>) {
        self.status = SendStatus::Sent;
        self.provider = Some(provider.to_owned());
        self.provider_message_id = Some(message_id.to_owned());
        self.sent_at = Some(at);
    }
}
