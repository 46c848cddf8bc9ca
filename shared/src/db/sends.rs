//! Send records: the exactly-once claim of one reminder step, and what happened to it.

use super::keys::{
    DECISION_PREFIX, SEND_LOOKUP_SK, SEND_PREFIX, cart_pk, decision_sk, provider_message_lookup, send_sk,
    store_decision_sk, store_decisions, store_send_sk, store_sends,
};
use super::recovery::{ATTEMPT_ATTRIBUTE, ATTEMPT_HOLDER_ATTRIBUTE};
use super::{Db, DbError, Item, s, to_item};
use crate::StoreHash;
use crate::consent::{PastSend, SentKind};
use crate::model::{ReminderDecision, SendRecord, SendStatus};
use aws_sdk_dynamodb::types::AttributeValue;
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
            ("gsi2sk", store_send_sk(record.claimed_at, &record.cart_id, record.step)),
        ];
        if let (Some(provider), Some(id)) = (&record.provider, &record.provider_message_id) {
            keys.push(("gsi1pk", provider_message_lookup(provider, id)));
            keys.push(("gsi1sk", SEND_LOOKUP_SK.to_owned()));
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
        let items = self.query_prefix(&cart_pk(store, cart_id), SEND_PREFIX).await?;
        Ok(serde_dynamo::from_items(items)?)
    }

    /// Records that the provider accepted a claimed reminder: status, provider, message id (and its lookup),
    /// send time; ends the attempt and clears a released attempt's error. Only these fields are written, so a
    /// click or credit written meanwhile stays. `DbError::Conflict` when the send was never claimed or is no
    /// longer `claimed` (another writer settled it).
    pub async fn record_send_sent(
        &self,
        store: &StoreHash,
        cart_id: &str,
        step: u8,
        provider: &str,
        message_id: &str,
        at: DateTime<Utc>,
    ) -> Result<(), DbError> {
        // The day's `sent` counter moves in the same transaction as the claimed -> sent change.
        let updated = self
            .update_send_counted(
                self.send_update(store, cart_id, step)
                    .update_expression(
                        "SET #status = :sent, provider = :provider, provider_message_id = :id, sent_at = :at, \
                     #error = :null, gsi1pk = :lookup, gsi1sk = :lookup_sk REMOVE #attempt, #holder",
                    )
                    .condition_expression("attribute_exists(pk) AND #status = :claimed")
                    .expression_attribute_names("#status", "status")
                    .expression_attribute_names("#error", "error")
                    .expression_attribute_names("#attempt", ATTEMPT_ATTRIBUTE)
                    .expression_attribute_names("#holder", ATTEMPT_HOLDER_ATTRIBUTE)
                    .expression_attribute_values(":sent", serde_dynamo::to_attribute_value(SendStatus::Sent)?)
                    .expression_attribute_values(":claimed", serde_dynamo::to_attribute_value(SendStatus::Claimed)?)
                    .expression_attribute_values(":provider", s(provider))
                    .expression_attribute_values(":id", s(message_id))
                    .expression_attribute_values(":at", serde_dynamo::to_attribute_value(at)?)
                    .expression_attribute_values(":null", AttributeValue::Null(true))
                    .expression_attribute_values(":lookup", s(&provider_message_lookup(provider, message_id)))
                    .expression_attribute_values(":lookup_sk", s(SEND_LOOKUP_SK)),
                store,
                at,
                &[("sent", 1)],
            )
            .await?;
        if updated {
            Ok(())
        } else {
            Err(DbError::Conflict(format!(
                "send {store}/{cart_id} step {step} is not a claimed, unsent reminder"
            )))
        }
    }

    /// Records that a claimed reminder was not sent (denied or refused): status and error only; ends the attempt. `Ok(false)` when the send is missing or no longer `claimed`, e.g. an
    /// overlapping delivery of the job sent it: a sent reminder is never turned into a failed one.
    pub async fn record_send_failed(
        &self,
        store: &StoreHash,
        cart_id: &str,
        step: u8,
        error: &str,
    ) -> Result<bool, DbError> {
        self.settle_send(store, cart_id, step, SendStatus::Failed, error).await
    }

    /// Settles a claimed send whose provider call never answered as [`SendStatus::Unconfirmed`], under the
    /// same condition as [`Self::record_send_failed`].
    pub async fn record_send_unconfirmed(
        &self,
        store: &StoreHash,
        cart_id: &str,
        step: u8,
        error: &str,
    ) -> Result<bool, DbError> {
        self.settle_send(store, cart_id, step, SendStatus::Unconfirmed, error)
            .await
    }

    async fn settle_send(
        &self,
        store: &StoreHash,
        cart_id: &str,
        step: u8,
        status: SendStatus,
        error: &str,
    ) -> Result<bool, DbError> {
        Self::conditional(
            self.update_send_item(store, cart_id, step)
                .update_expression("SET #status = :status, #error = :error REMOVE #attempt, #holder")
                .condition_expression("attribute_exists(pk) AND #status = :claimed")
                .expression_attribute_names("#status", "status")
                .expression_attribute_names("#error", "error")
                .expression_attribute_names("#attempt", ATTEMPT_ATTRIBUTE)
                .expression_attribute_names("#holder", ATTEMPT_HOLDER_ATTRIBUTE)
                .expression_attribute_values(":status", serde_dynamo::to_attribute_value(status)?)
                .expression_attribute_values(":claimed", serde_dynamo::to_attribute_value(SendStatus::Claimed)?)
                .expression_attribute_values(":error", s(error)),
        )
        .await
    }

    /// Records what a delivery report says (`next`'s status, delivery time and error), only if the send's
    /// status is still `seen`, the one the report was judged against: two reports racing cannot undo each
    /// other, and clicks and credits written meanwhile stay. `Ok(false)` when the status moved on (re-read and
    /// judge again) or the send is missing.
    /// The report that first marks the send delivered counts on the day's `delivered` (delivery day), in the
    /// same transaction.
    pub async fn record_delivery_report(&self, seen: SendStatus, next: &SendRecord) -> Result<bool, DbError> {
        let update = self
            .send_update(&next.store_hash, &next.cart_id, next.step)
            .update_expression("SET #status = :status, delivered_at = :delivered, #error = :error")
            .condition_expression("attribute_exists(pk) AND #status = :seen")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#error", "error")
            .expression_attribute_values(":status", serde_dynamo::to_attribute_value(next.status)?)
            .expression_attribute_values(":seen", serde_dynamo::to_attribute_value(seen)?)
            .expression_attribute_values(":delivered", serde_dynamo::to_attribute_value(next.delivered_at)?)
            .expression_attribute_values(":error", serde_dynamo::to_attribute_value(&next.error)?);
        let delivered_now = next.status == SendStatus::Delivered && seen != SendStatus::Delivered;
        let counts: &[(&str, i64)] = if delivered_now { &[("delivered", 1)] } else { &[] };
        let at = next.delivered_at.or(next.sent_at).unwrap_or(next.claimed_at);
        self.update_send_counted(update, &next.store_hash, at, counts).await
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
        let until = decision.decided_at + chrono::Duration::days(super::keys::DECISION_RETENTION_DAYS);
        self.put(super::with_ttl(
            to_item(
                decision,
                &[
                    ("pk", cart_pk(&decision.store_hash, &decision.cart_id)),
                    ("sk", decision_sk(decision.decided_at, decision.step)),
                    ("gsi2pk", store_decisions(&decision.store_hash)),
                    (
                        "gsi2sk",
                        store_decision_sk(decision.decided_at, &decision.cart_id, decision.step),
                    ),
                ],
            )?,
            until,
        ))
        .await
    }

    /// The decisions taken for a cart, oldest first.
    pub async fn cart_decisions(&self, store: &StoreHash, cart_id: &str) -> Result<Vec<ReminderDecision>, DbError> {
        let items = self.query_prefix(&cart_pk(store, cart_id), DECISION_PREFIX).await?;
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
