//! Send records: the exactly-once claim of one reminder step, and what happened to it.

use super::consent::SentMarker;
use super::keys::{LOOKUP_INDEX, cart_pk, decision_sk, provider_message_lookup, send_sk};
use super::{Db, DbError, s, to_item};
use crate::StoreHash;
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
    /// Claims `(store, cart, step)` for sending: the send record and the phone's sent marker (used by frequency
    /// limits) are written together, conditional on no record existing. Whatever retries or overlapping
    /// sweeps happen, exactly one claim wins.
    pub async fn claim_send(&self, record: &SendRecord) -> Result<ClaimOutcome, DbError> {
        let claim = self.put_action(
            to_item(
                record,
                &[
                    ("pk", cart_pk(&record.store_hash, &record.cart_id)),
                    ("sk", send_sk(record.step)),
                ],
            )?,
            Some("attribute_not_exists(pk)"),
        );
        let marker = SentMarker {
            cart_id: record.cart_id.clone(),
            step: record.step,
            sent_at: record.claimed_at,
        };
        let marker = self.put_action(
            Self::sent_marker_item(&record.store_hash, &record.phone, &marker)?,
            None,
        );
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
        let mut keys = vec![
            ("pk", cart_pk(&record.store_hash, &record.cart_id)),
            ("sk", send_sk(record.step)),
        ];
        if let (Some(provider), Some(id)) = (&record.provider, &record.provider_message_id) {
            keys.push(("gsi1pk", provider_message_lookup(provider, id)));
            keys.push(("gsi1sk", "SEND".to_owned()));
        }
        self.counter.call();
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(record, &keys)?))
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
        self.counter.call();
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(LOOKUP_INDEX)
            .key_condition_expression("gsi1pk = :pk")
            .expression_attribute_values(":pk", s(&provider_message_lookup(provider, message_id)))
            .send()
            .await?;
        let Some(item) = output.items.unwrap_or_default().into_iter().next() else {
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

impl SendRecord {
    pub fn mark_sent(&mut self, provider: &str, message_id: &str, at: DateTime<Utc>) {
        self.status = SendStatus::Sent;
        self.provider = Some(provider.to_owned());
        self.provider_message_id = Some(message_id.to_owned());
        self.sent_at = Some(at);
    }
}
