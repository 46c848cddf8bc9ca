//! What the app's handlers ask of AWS, counted for `cargo xtask bench cost`: every request the app's SDK
//! clients make (an SDK interceptor on the DynamoDB, SQS and EventBridge clients of [`crate::TestAws::aws`],
//! with DynamoDB's request units), and every handler invocation with its duration (a wrapper around each of
//! the [`crate::TestApp`]'s functions).

use aws_sdk_dynamodb::config::interceptors::{
    AfterDeserializationInterceptorContextRef, BeforeSerializationInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use devstack::invoke::{Function, InvokeError, SharedFunction};
use futures::future::BoxFuture;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Requests and (for DynamoDB) request units of one operation.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct OperationCount {
    pub requests: u64,
    /// DynamoDB read request units (on-demand: one per strongly consistent read of up to 4 KB, half that
    /// eventually consistent, two transactional).
    pub read_units: f64,
    /// DynamoDB write request units (one per item write of up to 1 KB, two transactional).
    pub write_units: f64,
}

/// DynamoDB bills by item size, which the client does not see: items are taken as up to 1 KB (what the app's
/// items are), so a read is one unit (half eventually consistent) per item up to 4 per unit for queries.
const ITEMS_PER_READ_UNIT: f64 = 4.0;

/// Counts requests by (service, operation), shared by every client it is attached to; and DynamoDB's reads
/// by the kind of item they read, to see which reads repeat.
#[derive(Debug, Clone, Default)]
pub struct AwsRequests {
    operations: Arc<Mutex<BTreeMap<(String, String), OperationCount>>>,
    reads: Arc<Mutex<BTreeMap<String, u64>>>,
}

impl AwsRequests {
    pub fn snapshot(&self) -> BTreeMap<(String, String), OperationCount> {
        self.operations.lock().unwrap().clone()
    }

    /// DynamoDB `GetItem` and `Query` requests by what they read: `GetItem STORE/SETTINGS` (the key's constant
    /// segments: a settings version), `Query Lookup:PROVIDERMSG` (the index, or `table`, and the partition's).
    pub fn reads(&self) -> BTreeMap<String, u64> {
        self.reads.lock().unwrap().clone()
    }

    /// `GetItem` requests so far for keys of `kind` (as in [`Self::reads`], e.g. `STORE/SETTINGS`).
    pub fn gets_of(&self, kind: &str) -> u64 {
        self.reads()
            .get(&format!("GetItem {kind}"))
            .copied()
            .unwrap_or_default()
    }

    fn add(&self, cfg: &ConfigBag, f: impl FnOnce(&mut OperationCount)) {
        let Some(metadata) = cfg.load::<Metadata>() else {
            return;
        };
        let key = (metadata.service().to_owned(), metadata.name().to_owned());
        f(self.operations.lock().unwrap().entry(key).or_default());
    }

    fn read(&self, what: String) {
        *self.reads.lock().unwrap().entry(what).or_default() += 1;
    }

    /// The app's adapters with every request counted here.
    pub fn instrumented(
        &self,
        sdk: &aws_config::SdkConfig,
        resources: &shared::config::AwsResources,
    ) -> shared::aws::Aws {
        use shared::queue::{Queue, SyncQueue};
        let dynamodb = aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(sdk)
                .interceptor(self.clone())
                .build(),
        );
        let sqs = aws_sdk_sqs::Client::from_conf(
            aws_sdk_sqs::config::Builder::from(sdk)
                .interceptor(self.clone())
                .build(),
        );
        let events = aws_sdk_eventbridge::Client::from_conf(
            aws_sdk_eventbridge::config::Builder::from(sdk)
                .interceptor(self.clone())
                .build(),
        );
        shared::aws::Aws {
            db: shared::db::Db::new(dynamodb, &resources.table_name),
            sync_queue: SyncQueue::new(
                Queue::new(sqs.clone(), &resources.sync_queue_url),
                Queue::new(sqs.clone(), &resources.bulk_sync_queue_url),
            ),
            send_queue: Queue::new(sqs, &resources.send_queue_url),
            bus: shared::bus::Bus::new(events, &resources.event_bus_name),
        }
    }
}

/// A key's constant segments (`STORE#abc#PHONE#+44...` is `STORE#PHONE`, `SETTINGS#0000000002` is
/// `SETTINGS`): the kind of item, without the store, phone or id.
fn key_kind(key: Option<&aws_sdk_dynamodb::types::AttributeValue>) -> String {
    let Some(Ok(key)) = key.map(|v| v.as_s()) else {
        return "?".to_owned();
    };
    let kind: Vec<&str> = key
        .split('#')
        .filter(|segment| !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_uppercase() || b == b'_'))
        .collect();
    if kind.is_empty() {
        "?".to_owned()
    } else {
        kind.join("#")
    }
}

fn read_unit(consistent: Option<bool>) -> f64 {
    if consistent == Some(true) { 1.0 } else { 0.5 }
}

impl Intercept for AwsRequests {
    fn name(&self) -> &'static str {
        "AwsRequests"
    }

    fn read_before_serialization(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        use aws_sdk_dynamodb::operation::{
            batch_write_item::BatchWriteItemInput, delete_item::DeleteItemInput, get_item::GetItemInput,
            put_item::PutItemInput, query::QueryInput, transact_get_items::TransactGetItemsInput,
            transact_write_items::TransactWriteItemsInput, update_item::UpdateItemInput,
        };
        let input = context.input();
        if let Some(get) = input.downcast_ref::<GetItemInput>() {
            let key = get.key();
            self.read(format!(
                "GetItem {}/{}",
                key_kind(key.and_then(|k| k.get("pk"))),
                key_kind(key.and_then(|k| k.get("sk")))
            ));
        } else if let Some(query) = input.downcast_ref::<QueryInput>() {
            let values = query.expression_attribute_values();
            self.read(format!(
                "Query {}:{}",
                query.index_name().unwrap_or("table"),
                key_kind(values.and_then(|v| v.get(":pk")))
            ));
        }
        let (read, write) = if let Some(batch) = input.downcast_ref::<BatchWriteItemInput>() {
            let items = batch
                .request_items()
                .map_or(0, |tables| tables.values().map(Vec::len).sum());
            (0.0, items as f64)
        } else if let Some(transaction) = input.downcast_ref::<TransactWriteItemsInput>() {
            (0.0, 2.0 * transaction.transact_items().len() as f64)
        } else if let Some(transaction) = input.downcast_ref::<TransactGetItemsInput>() {
            (2.0 * transaction.transact_items().len() as f64, 0.0)
        } else if let Some(get) = input.downcast_ref::<GetItemInput>() {
            (read_unit(get.consistent_read()), 0.0)
        } else if input.downcast_ref::<PutItemInput>().is_some()
            || input.downcast_ref::<UpdateItemInput>().is_some()
            || input.downcast_ref::<DeleteItemInput>().is_some()
        {
            (0.0, 1.0)
        } else {
            // Queries and batch reads: counted from their answers.
            (0.0, 0.0)
        };
        self.add(cfg, |count| {
            count.requests += 1;
            count.read_units += read;
            count.write_units += write;
        });
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        use aws_sdk_dynamodb::operation::batch_get_item::BatchGetItemOutput;
        use aws_sdk_dynamodb::operation::query::QueryOutput;
        let Ok(output) = context.output_or_error() else {
            return Ok(());
        };
        let units = if let Some(query) = output.downcast_ref::<QueryOutput>() {
            // Items read before any filter, as billed; taken as eventually consistent (the input is gone by
            // now); a query costs at least one unit.
            (query.scanned_count() as f64 / ITEMS_PER_READ_UNIT).ceil().max(1.0) * 0.5
        } else if let Some(batch) = output.downcast_ref::<BatchGetItemOutput>() {
            let items: usize = batch
                .responses()
                .map_or(0, |tables| tables.values().map(Vec::len).sum());
            items as f64 * 0.5
        } else {
            return Ok(());
        };
        self.add(cfg, |count| count.read_units += units);
        Ok(())
    }
}

/// Invocations and their durations, by function.
#[derive(Debug, Clone, Default)]
pub struct Invocations(Arc<Mutex<BTreeMap<String, Vec<Duration>>>>);

impl Invocations {
    pub fn snapshot(&self) -> BTreeMap<String, Vec<Duration>> {
        self.0.lock().unwrap().clone()
    }

    /// `function` with each invocation timed under `name`.
    pub fn timed(&self, name: &str, function: SharedFunction) -> SharedFunction {
        Arc::new(Timed {
            name: name.to_owned(),
            function,
            invocations: self.clone(),
        })
    }
}

struct Timed {
    name: String,
    function: SharedFunction,
    invocations: Invocations,
}

impl Function for Timed {
    fn invoke(&self, event: serde_json::Value) -> BoxFuture<'_, Result<serde_json::Value, InvokeError>> {
        Box::pin(async move {
            let started = Instant::now();
            let result = self.function.invoke(event).await;
            let elapsed = started.elapsed();
            self.invocations
                .0
                .lock()
                .unwrap()
                .entry(self.name.clone())
                .or_default()
                .push(elapsed);
            result
        })
    }
}
