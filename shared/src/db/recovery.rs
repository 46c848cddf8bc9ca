//! Recovery bookkeeping beside the send claim: the send attempt (so a provider call whose outcome is unknown is
//! never repeated), the per-store send rate, clicks and recovered revenue on send records, and the link from a
//! cart re-created by a recovery link to the reminder that was clicked.
//!
//! Each is one conditional `UpdateItem`, so concurrent writers (a delivery report, a click, an order event)
//! never overwrite each other's fields.

use super::keys::{RECREATED_FROM_SK, SEND_RATE_SK, TTL_ATTRIBUTE, cart_pk, send_rate_pk, send_sk};
use super::{Db, DbError, n, s, to_item};
use crate::StoreHash;
use crate::model::{SendRecord, SendStatus};
use crate::recovery::{RecoveredOrder, RecreatedCart};
use crate::recovery_stats::minor_units;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::builders::UpdateBuilder;
use aws_sdk_dynamodb::types::{TransactWriteItem, Update};
use chrono::{DateTime, Utc};

/// The attribute that marks a provider call in flight on a claimed send.
pub(super) const ATTEMPT_ATTRIBUTE: &str = "attempt_started_at";
/// Who began the attempt (a random id per call), so the SDK retrying `begin_send_attempt` after its answer
/// was lost finds its own attempt rather than someone else's.
pub(super) const ATTEMPT_HOLDER_ATTRIBUTE: &str = "attempt_holder";
/// Unset optional fields of a saved record are stored as NULL, not left out: a field is "not set yet" when it
/// is missing or of this type.
const NULL_TYPE: &str = "NULL";
/// Who is publishing a credit's `cart.recovered` (a random id per invocation), and since when: a later
/// delivery of the order publishes it only if that invocation died (its claim went stale).
const RECOVERY_HOLDER_ATTRIBUTE: &str = "recovery_event_holder";
const RECOVERY_CLAIMED_ATTRIBUTE: &str = "recovery_event_claimed_at";

/// A claimed send, with the provider call in flight (or whose outcome was never recorded), if any.
#[derive(Debug, Clone, PartialEq)]
pub struct SendClaim {
    pub record: SendRecord,
    pub attempt_started_at: Option<DateTime<Utc>>,
}

impl Db {
    pub(super) fn update_send_item(&self, store: &StoreHash, cart_id: &str, step: u8) -> UpdateItemFluentBuilder {
        self.counter.call();
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(&cart_pk(store, cart_id)))
            .key("sk", s(&send_sk(step)))
    }

    /// A conditional update of a send record, for a transaction (see [`Db::update_send_counted`]).
    pub(super) fn send_update(&self, store: &StoreHash, cart_id: &str, step: u8) -> UpdateBuilder {
        Update::builder()
            .table_name(&self.table)
            .key("pk", s(&cart_pk(store, cart_id)))
            .key("sk", s(&send_sk(step)))
    }

    /// Runs a conditional update of a send record and `ADD`s to the counters of the day of `at` in one
    /// transaction: the counters move only when the update's condition held, i.e. only for the delivery of the
    /// event that changed the record. `Ok(false)` when the condition failed (nothing written).
    pub(super) async fn update_send_counted(
        &self,
        update: UpdateBuilder,
        store: &StoreHash,
        at: DateTime<Utc>,
        counts: &[(&str, i64)],
    ) -> Result<bool, DbError> {
        let update = update.build().map_err(|e| DbError::Request(e.to_string()))?;
        let mut actions = vec![TransactWriteItem::builder().update(update).build()];
        actions.extend(self.add_to_day(store, at, counts));
        Ok(self.transact(actions).await?.is_ok())
    }

    /// `Ok(true)` when the update ran, `Ok(false)` when its condition failed.
    pub(super) async fn conditional(builder: UpdateItemFluentBuilder) -> Result<bool, DbError> {
        match builder.send().await {
            Ok(_) => Ok(true),
            Err(error) if super::is_update_condition_failed(&error) => Ok(false),
            Err(error) => Err(error.into()),
        }
    }

    /// The send record of `(store, cart, step)` and its attempt in flight.
    pub async fn send_claim(&self, store: &StoreHash, cart_id: &str, step: u8) -> Result<Option<SendClaim>, DbError> {
        let Some(mut item) = self.get(&cart_pk(store, cart_id), &send_sk(step)).await? else {
            return Ok(None);
        };
        item.remove(ATTEMPT_HOLDER_ATTRIBUTE);
        let attempt_started_at = match item.remove(ATTEMPT_ATTRIBUTE) {
            Some(value) => Some(serde_dynamo::from_attribute_value(value)?),
            None => None,
        };
        Ok(Some(SendClaim {
            record: serde_dynamo::from_item(item)?,
            attempt_started_at,
        }))
    }

    /// Starts the provider call of a claimed, unsent reminder: only one caller at a time wins, and only while
    /// no earlier attempt is unaccounted for. `Ok(false)` means: do not call the provider.
    pub async fn begin_send_attempt(
        &self,
        store: &StoreHash,
        cart_id: &str,
        step: u8,
        now: DateTime<Utc>,
    ) -> Result<bool, DbError> {
        Self::conditional(
            self.update_send_item(store, cart_id, step)
                .update_expression("SET #attempt = :now, #holder = :holder")
                .condition_expression(
                    "attribute_exists(pk) AND #status = :claimed AND (attribute_not_exists(#attempt) OR #holder = :holder)",
                )
                .expression_attribute_names("#attempt", ATTEMPT_ATTRIBUTE)
                .expression_attribute_names("#holder", ATTEMPT_HOLDER_ATTRIBUTE)
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":now", serde_dynamo::to_attribute_value(now)?)
                .expression_attribute_values(":holder", s(&uuid::Uuid::new_v4().to_string()))
                .expression_attribute_values(":claimed", serde_dynamo::to_attribute_value(SendStatus::Claimed)?),
        )
        .await
    }

    /// Ends an attempt that certainly sent nothing (the provider answered with an error), so a retry may send.
    /// Does nothing if the attempt is no longer the one started at `started_at`.
    pub async fn release_send_attempt(
        &self,
        store: &StoreHash,
        cart_id: &str,
        step: u8,
        started_at: DateTime<Utc>,
        error: &str,
    ) -> Result<(), DbError> {
        Self::conditional(
            self.update_send_item(store, cart_id, step)
                .update_expression("REMOVE #attempt, #holder SET #error = :error")
                .condition_expression("#attempt = :started AND #status = :claimed")
                .expression_attribute_names("#attempt", ATTEMPT_ATTRIBUTE)
                .expression_attribute_names("#holder", ATTEMPT_HOLDER_ATTRIBUTE)
                .expression_attribute_names("#status", "status")
                .expression_attribute_names("#error", "error")
                .expression_attribute_values(":started", serde_dynamo::to_attribute_value(started_at)?)
                .expression_attribute_values(":claimed", serde_dynamo::to_attribute_value(SendStatus::Claimed)?)
                .expression_attribute_values(":error", s(error)),
        )
        .await
        .map(|_| ())
    }

    /// Takes one of the `limit` sends a store may make in wall-clock second `epoch_second`. `Ok(false)` when
    /// the second is full.
    pub async fn take_send_slot(&self, store: &StoreHash, epoch_second: i64, limit: u32) -> Result<bool, DbError> {
        self.counter.call();
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(&send_rate_pk(store, epoch_second)))
            .key("sk", s(SEND_RATE_SK))
            .update_expression("ADD sent :one SET #ttl = :ttl")
            .condition_expression("attribute_not_exists(sent) OR sent < :limit")
            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":limit", n(limit.max(1)))
            .expression_attribute_values(":ttl", n(epoch_second + 120));
        Self::conditional(update).await
    }

    /// Records the first click on a reminder's link (counted on the day's `clicked` in the same transaction).
    /// `Ok(false)` when it was clicked before (or never sent).
    pub async fn record_click(
        &self,
        store: &StoreHash,
        cart_id: &str,
        step: u8,
        at: DateTime<Utc>,
    ) -> Result<bool, DbError> {
        let update = self
            .send_update(store, cart_id, step)
            .update_expression("SET clicked_at = :at")
            .condition_expression(
                "attribute_exists(pk) AND (attribute_not_exists(clicked_at) OR attribute_type(clicked_at, :null))",
            )
            .expression_attribute_values(":at", serde_dynamo::to_attribute_value(at)?)
            .expression_attribute_values(":null", s(NULL_TYPE));
        self.update_send_counted(update, store, at, &[("clicked", 1)]).await
    }

    /// Credits an order to a reminder as recovered revenue, counted on the day of the credit (`recovered`,
    /// `revenue_minor`) in the same transaction, and claims the publication of its `cart.recovered` for
    /// `holder`. `Ok(false)` when the reminder is already credited (with this order or another) or does not
    /// exist: only the one credit counts and publishes.
    pub async fn record_recovered_order(
        &self,
        store: &StoreHash,
        cart_id: &str,
        step: u8,
        credit: &RecoveredOrder,
        holder: &str,
    ) -> Result<bool, DbError> {
        let update = self
            .send_update(store, cart_id, step)
            .update_expression(
                "SET recovered_order_id = :order, recovered_amount = :amount, recovered_currency = :currency, \
                 recovered_at = :at, recovered_coupon = :coupon, #holder = :holder, #claimed = :at",
            )
            .condition_expression(
                "attribute_exists(pk) AND (attribute_not_exists(recovered_order_id) \
                 OR attribute_type(recovered_order_id, :null))",
            )
            .expression_attribute_names("#holder", RECOVERY_HOLDER_ATTRIBUTE)
            .expression_attribute_names("#claimed", RECOVERY_CLAIMED_ATTRIBUTE)
            .expression_attribute_values(":order", n(credit.order_id))
            .expression_attribute_values(":null", s(NULL_TYPE))
            .expression_attribute_values(":amount", serde_dynamo::to_attribute_value(credit.amount)?)
            .expression_attribute_values(":currency", s(&credit.currency))
            .expression_attribute_values(":coupon", serde_dynamo::to_attribute_value(&credit.coupon)?)
            .expression_attribute_values(":at", serde_dynamo::to_attribute_value(credit.at)?)
            .expression_attribute_values(":holder", s(holder));
        let counts = [("recovered", 1), ("revenue_minor", minor_units(credit.amount))];
        self.update_send_counted(update, store, credit.at, &counts).await
    }

    /// Claims the publication of the `cart.recovered` of a credit nobody has published, when no one holds it
    /// or its holder's claim is older than `stale_before` (that invocation died). `Ok(false)`: leave it.
    pub async fn claim_recovery_event(
        &self,
        send: &SendRecord,
        order_id: u64,
        holder: &str,
        now: DateTime<Utc>,
        stale_before: DateTime<Utc>,
    ) -> Result<bool, DbError> {
        Self::conditional(
            self.update_send_item(&send.store_hash, &send.cart_id, send.step)
                .update_expression("SET #holder = :holder, #claimed = :now")
                .condition_expression(
                    "recovered_order_id = :order \
                     AND (attribute_not_exists(recovery_published_at) OR attribute_type(recovery_published_at, :null)) \
                     AND (attribute_not_exists(#claimed) OR #claimed < :stale)",
                )
                .expression_attribute_names("#holder", RECOVERY_HOLDER_ATTRIBUTE)
                .expression_attribute_names("#claimed", RECOVERY_CLAIMED_ATTRIBUTE)
                .expression_attribute_values(":order", n(order_id))
                .expression_attribute_values(":null", s(NULL_TYPE))
                .expression_attribute_values(":holder", s(holder))
                .expression_attribute_values(":now", serde_dynamo::to_attribute_value(now)?)
                .expression_attribute_values(":stale", serde_dynamo::to_attribute_value(stale_before)?),
        )
        .await
    }

    /// Ends `holder`'s claim on a credit's `cart.recovered`: published at `published_at`, or released (`None`:
    /// the publish failed, so a retry may publish at once).
    pub async fn settle_recovery_event(
        &self,
        store: &StoreHash,
        cart_id: &str,
        step: u8,
        holder: &str,
        published_at: Option<DateTime<Utc>>,
    ) -> Result<(), DbError> {
        let mut update = self
            .update_send_item(store, cart_id, step)
            .condition_expression("#holder = :holder")
            .expression_attribute_names("#holder", RECOVERY_HOLDER_ATTRIBUTE)
            .expression_attribute_names("#claimed", RECOVERY_CLAIMED_ATTRIBUTE)
            .expression_attribute_values(":holder", s(holder));
        update = match published_at {
            Some(at) => update
                .update_expression("REMOVE #holder, #claimed SET recovery_published_at = :at")
                .expression_attribute_values(":at", serde_dynamo::to_attribute_value(at)?),
            None => update.update_expression("REMOVE #holder, #claimed"),
        };
        Self::conditional(update).await.map(|_| ())
    }

    /// Records the unique coupon code of a claimed reminder and the text carrying it (`Ok(code)`), or why it
    /// has none (`Err(reason)`), unless an earlier attempt recorded either: `Ok(false)` then (re-read it).
    pub async fn record_coupon(
        &self,
        record: &SendRecord,
        outcome: Result<(&str, &str, u32), &str>,
    ) -> Result<bool, DbError> {
        let update = self
            .update_send_item(&record.store_hash, &record.cart_id, record.step)
            .condition_expression(
                "#status = :claimed AND (attribute_not_exists(coupon_code) OR attribute_type(coupon_code, :null)) \
                 AND (attribute_not_exists(coupon_error) OR attribute_type(coupon_error, :null))",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":claimed", serde_dynamo::to_attribute_value(SendStatus::Claimed)?)
            .expression_attribute_values(":null", s(NULL_TYPE));
        let update = match outcome {
            Ok((code, body, segments)) => update
                .update_expression("SET coupon_code = :code, #body = :body, #segments = :segments")
                .expression_attribute_names("#body", "body")
                .expression_attribute_names("#segments", "segments")
                .expression_attribute_values(":code", s(code))
                .expression_attribute_values(":body", s(body))
                .expression_attribute_values(":segments", n(segments)),
            Err(reason) => update
                .update_expression("SET coupon_error = :error")
                .expression_attribute_values(":error", s(reason)),
        };
        Self::conditional(update).await
    }

    /// Remembers that `recreated_cart_id` was re-created from a recovery link, so its order is attributed.
    pub async fn put_recreated_cart(
        &self,
        store: &StoreHash,
        recreated_cart_id: &str,
        from: &RecreatedCart,
    ) -> Result<(), DbError> {
        let item = to_item(
            from,
            &[
                ("pk", cart_pk(store, recreated_cart_id)),
                ("sk", RECREATED_FROM_SK.to_owned()),
            ],
        )?;
        let until = from.clicked_at + chrono::Duration::days(super::keys::CART_RETENTION_DAYS);
        self.put(super::with_ttl(item, until)).await
    }

    /// The reminder a cart was re-created from, if it was.
    pub async fn recreated_cart(&self, store: &StoreHash, cart_id: &str) -> Result<Option<RecreatedCart>, DbError> {
        self.get_as(&cart_pk(store, cart_id), RECREATED_FROM_SK).await
    }
}
