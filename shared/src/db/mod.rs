//! The DynamoDB repository: one table for everything (see `docs/data-model.md` for the access patterns and
//! keys). Each file adds the operations for one kind of record to [`Db`].
//!
//! Rules kept everywhere: claims are conditional writes; two items that must change together change in one
//! transaction; bulk writes go through [`Db::batch_put`] (25 per request, unprocessed items retried).

mod carts;
mod consent;
mod consent_import;
mod contact_summary;
mod contacts;
mod dedupe;
mod erasure;
pub mod keys;
mod outages;
mod pace;
mod person_records;
mod purge;
mod rate_limits;
mod recovery;
mod recovery_stats;
mod replies;
mod senders;
mod sends;
mod settings_cache;
mod store_directory;
mod stores;
mod sync_jobs;
mod test_numbers;
mod tokens;

pub use carts::{DUE_QUERY_PAGE, DueCart, DueIndexPage, DueSlice};
pub use consent::{Appended, PhoneSnapshot};
pub use dedupe::{DeliveryClaim, DeliveryLease, delivery_lease};
pub use erasure::{ErasureCause, ErasureRecord, ErasureReport, Person, TOMBSTONE_DAYS, erased_body};
pub use outages::ProviderOutage;
pub use person_records::{CartRecords, PersonKey, PersonRecords, PhoneRecords};
pub use purge::{PROOF_RETENTION_DAYS, PURGE_GRACE_DAYS, PurgeDue, PurgeOutcome};
pub use recovery::SendClaim;
pub use sends::ClaimOutcome;
pub use settings_cache::SETTINGS_CACHE_CAP;
pub use sync_jobs::{FailedPage, PageCounts, PageState};
pub use tokens::new_token;

use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, TransactWriteItem, WriteRequest};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::time::Duration;

pub type Item = HashMap<String, AttributeValue>;

/// DynamoDB's limit on items per `BatchWriteItem` request.
pub const BATCH_WRITE_LIMIT: usize = 25;
/// DynamoDB's limit on keys per `BatchGetItem` request.
pub const BATCH_GET_LIMIT: usize = 100;
/// DynamoDB's limit on actions per `TransactWriteItems` request.
pub const TRANSACTION_LIMIT: usize = 100;
/// The attribute conditional puts mark their item with: a random id per call, so the SDK's retry of a put
/// that succeeded but whose answer was lost finds its own write instead of failing its condition.
const WRITER_ATTRIBUTE: &str = "written_by";

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The request failed (network, throttling, service error). Worth retrying.
    #[error("DynamoDB request failed: {0}")]
    Request(String),
    /// An item in the table does not have the shape we expect, or a value could not be stored.
    #[error("DynamoDB item mapping failed: {0}")]
    Mapping(#[from] serde_dynamo::Error),
    /// A conditional write lost to a concurrent one where the caller did not expect it.
    #[error("conflicting concurrent update: {0}")]
    Conflict(String),
    /// Batch writes still unprocessed after every retry.
    #[error("{0} items were still unprocessed after retries")]
    Unprocessed(usize),
}

impl DbError {
    /// Whether a retry (SQS redelivery, a client retry) may succeed.
    pub fn is_retryable(&self) -> bool {
        !matches!(self, Self::Mapping(_))
    }
}

impl<E, R> From<SdkError<E, R>> for DbError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    fn from(error: SdkError<E, R>) -> Self {
        Self::Request(DisplayErrorContext(&error).to_string())
    }
}

/// Counts the DynamoDB requests a [`Db`] made, for benchmarks.
#[derive(Debug, Default)]
pub struct RequestCounter {
    calls: std::sync::atomic::AtomicU64,
    items_read: std::sync::atomic::AtomicU64,
}

impl RequestCounter {
    pub fn calls(&self) -> u64 {
        self.calls.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn items_read(&self) -> u64 {
        self.items_read.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn call(&self) {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    fn read(&self, items: usize) {
        self.items_read
            .fetch_add(items as u64, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The app's table. Cheap to clone (the SDK client is reference counted); clones share the request counter
/// and the settings cache.
#[derive(Debug, Clone)]
pub struct Db {
    client: aws_sdk_dynamodb::Client,
    table: String,
    counter: std::sync::Arc<RequestCounter>,
    settings_cache: std::sync::Arc<settings_cache::SettingsCache>,
}

impl Db {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            counter: Default::default(),
            settings_cache: std::sync::Arc::new(settings_cache::SettingsCache::new(SETTINGS_CACHE_CAP)),
        }
    }

    /// This handle (and its later clones) with its own settings cache of `capacity` versions (0: none, as for
    /// the cost bench's baseline).
    pub fn with_settings_cache_capacity(mut self, capacity: usize) -> Self {
        self.settings_cache = std::sync::Arc::new(settings_cache::SettingsCache::new(capacity));
        self
    }

    pub fn table_name(&self) -> &str {
        &self.table
    }

    /// Requests made through this handle (and its clones) so far.
    pub fn counter(&self) -> &RequestCounter {
        &self.counter
    }

    /// A query of one list of the `StoreLists` index (a store's contacts, sends or decisions). Counts the call.
    pub(crate) fn store_list_query(
        &self,
        list: &str,
    ) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
        self.counter.call();
        self.client
            .query()
            .table_name(&self.table)
            .index_name(keys::STORE_LISTS_INDEX)
            .key_condition_expression("gsi2pk = :pk")
            .expression_attribute_values(":pk", s(list))
    }

    /// The first item of the `Lookup` index under `gsi1pk` (and `gsi1sk`, when given). The index is eventually
    /// consistent: callers re-read the base item when they need its current version.
    pub(crate) async fn lookup_first(&self, gsi1pk: &str, gsi1sk: Option<&str>) -> Result<Option<Item>, DbError> {
        self.counter.call();
        let mut query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(keys::LOOKUP_INDEX)
            .expression_attribute_values(":pk", s(gsi1pk));
        query = match gsi1sk {
            Some(sk) => query
                .key_condition_expression("gsi1pk = :pk AND gsi1sk = :sk")
                .expression_attribute_values(":sk", s(sk)),
            None => query.key_condition_expression("gsi1pk = :pk"),
        };
        let items = query.send().await?.items.unwrap_or_default();
        self.counter.read(items.len());
        Ok(items.into_iter().next())
    }

    /// Writes items with `BatchWriteItem`, 25 per request, retrying unprocessed items with backoff.
    pub async fn batch_put(&self, items: Vec<Item>) -> Result<(), DbError> {
        for chunk in items.chunks(BATCH_WRITE_LIMIT) {
            let mut pending: Vec<WriteRequest> = chunk
                .iter()
                .map(|item| {
                    WriteRequest::builder()
                        .put_request(
                            PutRequest::builder()
                                .set_item(Some(item.clone()))
                                .build()
                                .expect("item set"),
                        )
                        .build()
                })
                .collect();
            let mut attempt = 0u32;
            while !pending.is_empty() {
                if attempt > 0 {
                    if attempt > 8 {
                        return Err(DbError::Unprocessed(pending.len()));
                    }
                    tokio::time::sleep(backoff(attempt)).await;
                }
                self.counter.call();
                let output = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, std::mem::take(&mut pending))
                    .send()
                    .await?;
                pending = output
                    .unprocessed_items
                    .and_then(|mut unprocessed| unprocessed.remove(&self.table))
                    .unwrap_or_default();
                attempt += 1;
            }
        }
        Ok(())
    }

    /// Reads items by key with `BatchGetItem`, 100 keys per request, retrying unprocessed keys.
    pub async fn batch_get(&self, keys: Vec<(String, String)>) -> Result<Vec<Item>, DbError> {
        use aws_sdk_dynamodb::types::KeysAndAttributes;
        let mut found = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(BATCH_GET_LIMIT) {
            let mut pending = Some(
                KeysAndAttributes::builder()
                    .set_keys(Some(chunk.iter().map(|(pk, sk)| key(pk, sk)).collect()))
                    .build()
                    .expect("keys set"),
            );
            let mut attempt = 0u32;
            while let Some(request) = pending.take() {
                if attempt > 0 {
                    if attempt > 8 {
                        return Err(DbError::Unprocessed(request.keys().len()));
                    }
                    tokio::time::sleep(backoff(attempt)).await;
                }
                self.counter.call();
                let output = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await?;
                let items = output
                    .responses
                    .and_then(|mut r| r.remove(&self.table))
                    .unwrap_or_default();
                self.counter.read(items.len());
                found.extend(items);
                pending = output
                    .unprocessed_keys
                    .and_then(|mut unprocessed| unprocessed.remove(&self.table))
                    .filter(|rest| !rest.keys().is_empty());
                attempt += 1;
            }
        }
        Ok(found)
    }

    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, DbError> {
        self.counter.call();
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .consistent_read(true)
            .send()
            .await?;
        self.counter.read(usize::from(output.item.is_some()));
        Ok(output.item)
    }

    async fn get_as<T: DeserializeOwned>(&self, pk: &str, sk: &str) -> Result<Option<T>, DbError> {
        match self.get(pk, sk).await? {
            Some(item) => Ok(Some(serde_dynamo::from_item(item)?)),
            None => Ok(None),
        }
    }

    async fn put(&self, item: Item) -> Result<(), DbError> {
        self.counter.call();
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await?;
        Ok(())
    }

    /// Puts `item` only if no item with its key exists. `Ok(false)` when one does.
    async fn put_new(&self, mut item: Item) -> Result<bool, DbError> {
        self.counter.call();
        let writer = s(&uuid::Uuid::new_v4().to_string());
        item.insert(WRITER_ATTRIBUTE.to_owned(), writer.clone());
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk) OR #writer = :writer")
            .expression_attribute_names("#writer", WRITER_ATTRIBUTE)
            .expression_attribute_values(":writer", writer)
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(error) if is_condition_failed(&error) => Ok(false),
            Err(error) => Err(error.into()),
        }
    }

    /// The items of one partition whose sort keys start with `prefix` (one of the prefixes in [`keys`]).
    async fn query_prefix(&self, pk: &str, prefix: &str) -> Result<Vec<Item>, DbError> {
        self.query_partition(pk, Some((prefix, &keys::prefix_end(prefix))))
            .await
    }

    /// Queries one partition (all pages), optionally restricted to sort keys in `[from, to]`.
    async fn query_partition(&self, pk: &str, range: Option<(&str, &str)>) -> Result<Vec<Item>, DbError> {
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let mut request = self
                .client
                .query()
                .table_name(&self.table)
                .consistent_read(true)
                .expression_attribute_values(":pk", s(pk))
                .set_exclusive_start_key(start.take());
            request = match range {
                Some((from, to)) => request
                    .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
                    .expression_attribute_values(":from", s(from))
                    .expression_attribute_values(":to", s(to)),
                None => request.key_condition_expression("pk = :pk"),
            };
            self.counter.call();
            let output = request.send().await?;
            let page = output.items.unwrap_or_default();
            self.counter.read(page.len());
            items.extend(page);
            match output.last_evaluated_key {
                Some(key) => start = Some(key),
                None => return Ok(items),
            }
        }
    }

    /// Runs a transaction. (The SDK gives each call a `ClientRequestToken` it keeps across retries, so DynamoDB
    /// commits a retried transaction once.) `Ok(Err(reasons))` when a condition failed: one entry per action, `Some(code)`
    /// for the actions that caused the cancellation (e.g. `ConditionalCheckFailed`).
    async fn transact(&self, actions: Vec<TransactWriteItem>) -> Result<Result<(), Vec<Option<String>>>, DbError> {
        self.transact_cancellable(actions, &["ConditionalCheckFailed"]).await
    }

    /// [`Db::transact`], where a cancellation for a concurrent transaction on one of the items
    /// (`TransactionConflict`) is `Ok(Err(reasons))` too, for callers that re-read and retry.
    async fn transact_or_conflict(
        &self,
        actions: Vec<TransactWriteItem>,
    ) -> Result<Result<(), Vec<Option<String>>>, DbError> {
        self.transact_cancellable(actions, &["ConditionalCheckFailed", "TransactionConflict"])
            .await
    }

    /// Runs a transaction; a cancellation with one of `codes` among its reasons is `Ok(Err(reasons))`.
    async fn transact_cancellable(
        &self,
        actions: Vec<TransactWriteItem>,
        codes: &[&str],
    ) -> Result<Result<(), Vec<Option<String>>>, DbError> {
        debug_assert!(actions.len() <= TRANSACTION_LIMIT);
        self.counter.call();
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(actions))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Ok(())),
            Err(error) => {
                let cancelled = error.as_service_error().and_then(|service| match service {
                    aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(e) => Some(
                        e.cancellation_reasons()
                            .iter()
                            .map(|reason| reason.code().filter(|code| *code != "None").map(str::to_owned))
                            .collect::<Vec<_>>(),
                    ),
                    _ => None,
                });
                match cancelled {
                    Some(reasons) if reasons.iter().flatten().any(|code| codes.contains(&code.as_str())) => {
                        Ok(Err(reasons))
                    }
                    _ => Err(error.into()),
                }
            }
        }
    }

    fn put_action(&self, item: Item, condition: Option<&str>) -> TransactWriteItem {
        let put = aws_sdk_dynamodb::types::Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .set_condition_expression(condition.map(str::to_owned))
            .build()
            .expect("table and item set");
        TransactWriteItem::builder().put(put).build()
    }
}

/// Serializes `entity` and adds the table keys (and any index keys) to it.
pub(crate) fn to_item<T: Serialize>(entity: &T, keys: &[(&str, String)]) -> Result<Item, DbError> {
    let mut item: Item = serde_dynamo::to_item(entity)?;
    for (name, value) in keys {
        item.insert((*name).to_owned(), s(value));
    }
    Ok(item)
}

/// Adds the TTL attribute: DynamoDB deletes the item (lazily, within days) after `until`.
pub(crate) fn with_ttl(mut item: Item, until: chrono::DateTime<chrono::Utc>) -> Item {
    item.insert(keys::TTL_ATTRIBUTE.to_owned(), n(until.timestamp()));
    item
}

/// An item's sort key (empty for an item without one, which the table does not hold).
pub(crate) fn sort_key(item: &Item) -> String {
    item.get("sk").and_then(|v| v.as_s().ok()).cloned().unwrap_or_default()
}

pub(crate) fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

pub(crate) fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn key(pk: &str, sk: &str) -> Item {
    HashMap::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))])
}

fn is_condition_failed<R>(error: &SdkError<aws_sdk_dynamodb::operation::put_item::PutItemError, R>) -> bool {
    error
        .as_service_error()
        .is_some_and(|e| e.is_conditional_check_failed_exception())
}

fn is_update_condition_failed<R>(
    error: &SdkError<aws_sdk_dynamodb::operation::update_item::UpdateItemError, R>,
) -> bool {
    error
        .as_service_error()
        .is_some_and(|e| e.is_conditional_check_failed_exception())
}

/// Exponential backoff with jitter (half to all of 50 ms, 100 ms, ... capped at 2 s).
pub(crate) fn backoff(attempt: u32) -> Duration {
    use rand::Rng;
    let cap = (50u64 << attempt.min(6)).min(2_000);
    Duration::from_millis(rand::rng().random_range(cap / 2..=cap))
}
