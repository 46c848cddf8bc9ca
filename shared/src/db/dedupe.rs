//! De-duplication markers with a TTL: first sightings (an answer claimed once, a replayed callback), and
//! delivery leases (a webhook delivery's `hash`, a provider's reply or report id) that count as seen only once
//! the delivery's work is done, so a retry after a crash does the work.

use super::keys::{DEDUPE_SK, TTL_ATTRIBUTE, dedupe_pk};
use super::{Db, DbError, Item, n, s};
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;
use chrono::{DateTime, Duration, Utc};

impl Db {
    /// Records `key` as seen. `Ok(true)` the first time, `Ok(false)` for every repeat while the marker lives
    /// (`keep_for`; DynamoDB's TTL deletes it afterwards).
    pub async fn first_sighting(&self, key: &str, now: DateTime<Utc>, keep_for: Duration) -> Result<bool, DbError> {
        let item: Item = [
            ("pk".to_owned(), s(&dedupe_pk(key))),
            ("sk".to_owned(), s(DEDUPE_SK)),
            ("seen_at".to_owned(), s(&super::keys::timestamp(now))),
            (TTL_ATTRIBUTE.to_owned(), n((now + keep_for).timestamp())),
        ]
        .into();
        self.put_new(item).await
    }

    /// Forgets `key`, so a later delivery is processed again (used when enqueueing failed after marking).
    pub async fn forget_sighting(&self, key: &str) -> Result<(), DbError> {
        self.counter.call();
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(&dedupe_pk(key)))
            .key("sk", s(DEDUPE_SK))
            .send()
            .await?;
        Ok(())
    }
}

/// How long a delivery being processed is held before the provider's retry may take it over: six times the
/// webhooks function's timeout (10 s in template.yaml), so only a dead invocation's lease is ever taken over,
/// and well inside the 5 minutes an opt-out confirmation may still go, so a STOP retried after a crash is
/// still confirmed.
pub fn delivery_lease() -> Duration {
    Duration::minutes(1)
}

/// What [`Db::claim_delivery`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryClaim {
    /// This invocation holds the lease: do the work, then [`Db::finish_delivery`] (or
    /// [`Db::release_delivery`] when it failed).
    Claimed(DeliveryLease),
    /// Another invocation holds a live lease: the provider should retry later.
    InProgress,
    /// The delivery was processed already (or its never-repeated step was attempted): a duplicate.
    Done,
}

/// Proof of holding a delivery's lease: only the holder may finish or release it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryLease {
    key: String,
    holder: String,
}

impl DeliveryLease {
    /// A lease on `key` held by `holder`, for adapters of these markers other than DynamoDB (the in-memory
    /// ones of the unit tests); [`Db::claim_delivery`] makes its own, with a fresh holder.
    pub fn new(key: impl Into<String>, holder: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            holder: holder.into(),
        }
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    pub fn holder(&self) -> &str {
        &self.holder
    }
}

const IN_PROGRESS: &str = "in_progress";
const DONE: &str = "done";
const ATTEMPTED: &str = "attempted";

impl Db {
    /// Claims the delivery `key` for processing: marks it `in_progress` with a lease of [`delivery_lease`] when
    /// it is new or its previous holder's lease expired (that invocation died). The mark lives `keep_for`.
    pub async fn claim_delivery(
        &self,
        key: &str,
        now: DateTime<Utc>,
        keep_for: Duration,
    ) -> Result<DeliveryClaim, DbError> {
        let holder = uuid::Uuid::new_v4().to_string();
        self.counter.call();
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(&dedupe_pk(key)))
            .key("sk", s(DEDUPE_SK))
            .update_expression("SET #state = :in_progress, lease_until = :until, holder = :holder, #ttl = :ttl")
            // The holder's own claim passes too: the SDK retrying this request after its answer was lost.
            .condition_expression(
                "attribute_not_exists(pk) OR (#state = :in_progress AND (lease_until <= :now OR holder = :holder))",
            )
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
            .expression_attribute_values(":in_progress", s(IN_PROGRESS))
            .expression_attribute_values(":until", n((now + delivery_lease()).timestamp()))
            .expression_attribute_values(":now", n(now.timestamp()))
            .expression_attribute_values(":holder", s(&holder))
            .expression_attribute_values(":ttl", n((now + keep_for).timestamp()))
            // A refused claim says what blocked it, so a duplicate costs one call.
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(DeliveryClaim::Claimed(DeliveryLease {
                key: key.to_owned(),
                holder,
            })),
            Err(error) if super::is_update_condition_failed(&error) => {
                let blocking = match error.as_service_error() {
                    Some(UpdateItemError::ConditionalCheckFailedException(failed)) => failed.item().cloned(),
                    _ => None,
                };
                let blocking = match blocking {
                    Some(item) => Some(item),
                    // Older DynamoDB emulators leave the item out: read it.
                    None => self.get(&dedupe_pk(key), DEDUPE_SK).await?,
                };
                let Some(item) = blocking else {
                    // Released in between: the retry will claim it.
                    return Ok(DeliveryClaim::InProgress);
                };
                let state = item.get("state").and_then(|v| v.as_s().ok());
                // A mark without a state predates leases: it was written by a finished delivery.
                Ok(if state.is_some_and(|state| state == IN_PROGRESS) {
                    DeliveryClaim::InProgress
                } else {
                    DeliveryClaim::Done
                })
            }
            Err(error) => Err(error.into()),
        }
    }

    /// Marks the delivery `done`: from now on a retry of it is a duplicate. A lease taken over meanwhile is
    /// left to its new holder (`Ok(false)`); the work is idempotent, so nothing is lost.
    pub async fn finish_delivery(&self, lease: &DeliveryLease) -> Result<bool, DbError> {
        self.counter.call();
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(&dedupe_pk(&lease.key)))
            .key("sk", s(DEDUPE_SK))
            .update_expression("SET #state = :done REMOVE lease_until, holder")
            .condition_expression("holder = :holder")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":done", s(DONE))
            .expression_attribute_values(":holder", s(&lease.holder))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(error) if super::is_update_condition_failed(&error) => Ok(false),
            Err(error) => Err(error.into()),
        }
    }

    /// Marks the delivery `attempted` just before a step that must never run twice (an SMS to the provider):
    /// from now on a claim of it finds it done, even once the lease lapsed, so a crash during or after that
    /// step never repeats it. The holder may still [`Db::release_delivery`] it (the provider answered that
    /// nothing went out) or [`Db::finish_delivery`] it. `Ok(false)`: the lease was taken over meanwhile.
    pub async fn attempt_delivery(&self, lease: &DeliveryLease) -> Result<bool, DbError> {
        self.counter.call();
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(&dedupe_pk(&lease.key)))
            .key("sk", s(DEDUPE_SK))
            .update_expression("SET #state = :attempted")
            // Already `attempted` by this holder: the SDK retrying this request after its answer was lost.
            .condition_expression("holder = :holder AND (#state = :in_progress OR #state = :attempted)")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":attempted", s(ATTEMPTED))
            .expression_attribute_values(":in_progress", s(IN_PROGRESS))
            .expression_attribute_values(":holder", s(&lease.holder))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(error) if super::is_update_condition_failed(&error) => Ok(false),
            Err(error) => Err(error.into()),
        }
    }

    /// Gives the lease up after failed work, so the provider's retry does the work at once.
    pub async fn release_delivery(&self, lease: &DeliveryLease) -> Result<(), DbError> {
        self.counter.call();
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(&dedupe_pk(&lease.key)))
            .key("sk", s(DEDUPE_SK))
            .condition_expression("holder = :holder")
            .expression_attribute_values(":holder", s(&lease.holder))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(error) => Err(error.into()),
        }
    }
}
