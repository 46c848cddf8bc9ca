//! The `sweep` function: finds carts whose next reminder is due and enqueues send jobs, in two roles.
//!
//! **Fan-out** (the 5-minute schedule, [`sweep`]): probes every shard of every hour bucket of the due index
//! from the watermark up to now, and each shard of an older bucket the watermark holds (one Query of one item
//! each, never a scan), and sends one [`SweepShard`] to the sweep shard queue per shard that holds due carts;
//! moves the watermark to an hour before now, holding the shards of older buckets that still hold due carts
//! (so a cart that is never taken costs one probe per fan-out, not 8 for every hour since it was due); purges
//! uninstalled stores whose grace period is over ([`shared::db::Db::purge_store`]).
//!
//! **Worker** (the sweep shard queue, [`sweep_shard`]): reads its shard in pages
//! ([`shared::db::Db::due_in_shard`]), takes each due cart with a compare-and-set on its due time
//! ([`shared::db::Db::put_cart_if_due`]) that moves the due time forward by [`SWEEP_LEASE`], and enqueues one
//! [`SendJob`] per taken cart (deterministic job id), at most [`MAX_TAKES_PER_SECOND`]. After
//! [`Deps::carts_per_worker`] carts it hands the rest of its shard to a new message (a cursor), so every
//! invocation is bounded and the shards run in parallel.
//!
//! Both roles depend on narrow traits ([`shared::ports::sweep`]) bundled in [`SweepPorts`], not on the clients:
//! the function's [`Deps`] implement it, and so do the in-memory adapters of the unit tests (`memory.rs`).
//!
//! Nothing is lost and no cart is taken twice: the lease is the proof. A redelivered or duplicated shard
//! message finds the carts it took already moved on; a worker that dies after taking a cart leaves it due
//! again when its lease ends (filed under a current bucket); a cart that could not be taken stays in its
//! bucket, and every fan-out probes its shard (in the window, then held by the watermark) until it is found
//! empty. Duplicate jobs (a re-enqueued cart whose first job was only slow) are harmless: the send claim lets
//! one SMS out per cart step.

#[cfg(test)]
mod memory;
#[cfg(test)]
mod tests;

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use lambda_runtime::{Error, LambdaEvent};
use shared::config::{AwsResources, Env};
use shared::db::keys::{DUE_SHARDS, DueShard, due_bucket, is_due_bucket};
use shared::db::{DUE_QUERY_PAGE, Db, DbError, DueCart};
use shared::infra::InfraError;
use shared::messages::{SendJob, SweepShard};
use shared::ports::sweep::{DueIndex, ReminderQueue, ShardQueue, UninstalledStores};
use shared::queue::Queue;
use shared::recovery::SWEEP_LEASE;
use shared::{Clock, aws::Aws};
use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;

pub struct Deps {
    pub aws: Aws,
    /// The sweep shard queue (`SWEEP_SHARD_QUEUE_URL`): the fan-out's work for the workers.
    pub shards: Queue,
    pub clock: Arc<dyn Clock>,
    /// Carts one worker invocation reads at most before handing the rest of its shard on.
    pub carts_per_worker: usize,
}

impl Deps {
    /// From the configuration `main.rs` read ([`shared::aws::startup_config`]).
    pub fn from_env(sdk: &aws_config::SdkConfig, env: &Env) -> Result<Self, Error> {
        let aws = Aws::new(sdk, &AwsResources::from_env(env)?);
        Ok(Self {
            shards: aws.send_queue.sibling(env.required("SWEEP_SHARD_QUEUE_URL")?),
            aws,
            clock: shared::clock::clock_from_env(env)?,
            carts_per_worker: CARTS_PER_WORKER,
        })
    }
}

/// What the sweep uses ([`shared::ports::sweep`]): the deployment's clients ([`Deps`]), or the in-memory
/// adapters of the unit tests (`memory.rs`).
pub trait SweepPorts: Sync {
    type Index: DueIndex;
    type Purges: UninstalledStores;
    type Reminders: ReminderQueue;
    type Shards: ShardQueue;
    fn due_index(&self) -> &Self::Index;
    fn uninstalled_stores(&self) -> &Self::Purges;
    /// The send queue.
    fn reminders(&self) -> &Self::Reminders;
    /// The sweep shard queue.
    fn shards(&self) -> &Self::Shards;
    /// The business clock (what is due); the worker's pace is kept on the wall clock.
    fn now(&self) -> DateTime<Utc>;
    /// Carts one worker invocation reads at most before handing the rest of its shard on.
    fn carts_per_worker(&self) -> usize;
    /// Waits `rest` on the wall clock, to keep a worker's pace ([`MAX_TAKES_PER_SECOND`]); a port so the unit
    /// tests record the wait instead of sleeping.
    fn pause(&self, rest: std::time::Duration) -> impl Future<Output = ()> + Send {
        tokio::time::sleep(rest)
    }
}

impl SweepPorts for Deps {
    type Index = Db;
    type Purges = Db;
    type Reminders = Queue;
    type Shards = Queue;
    fn due_index(&self) -> &Db {
        &self.aws.db
    }
    fn uninstalled_stores(&self) -> &Db {
        &self.aws.db
    }
    fn reminders(&self) -> &Queue {
        &self.aws.send_queue
    }
    fn shards(&self) -> &Queue {
        &self.shards
    }
    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
    fn carts_per_worker(&self) -> usize {
        self.carts_per_worker
    }
}

/// The harnesses (tests, benches) share one [`Deps`] between handlers behind an `Arc` and pass `&Arc<Deps>`.
impl<P: SweepPorts + Send> SweepPorts for Arc<P> {
    type Index = P::Index;
    type Purges = P::Purges;
    type Reminders = P::Reminders;
    type Shards = P::Shards;
    fn due_index(&self) -> &P::Index {
        (**self).due_index()
    }
    fn uninstalled_stores(&self) -> &P::Purges {
        (**self).uninstalled_stores()
    }
    fn reminders(&self) -> &P::Reminders {
        (**self).reminders()
    }
    fn shards(&self) -> &P::Shards {
        (**self).shards()
    }
    fn now(&self) -> DateTime<Utc> {
        (**self).now()
    }
    fn carts_per_worker(&self) -> usize {
        (**self).carts_per_worker()
    }
    fn pause(&self, rest: std::time::Duration) -> impl Future<Output = ()> + Send {
        (**self).pause(rest)
    }
}

/// Carts one worker invocation reads at most: 2,000 takes (two DynamoDB calls each, 16 at a time, at most
/// [`MAX_TAKES_PER_SECOND`]) take 5 s, far inside the function's 60 s timeout; a shard of 12,500 due carts
/// (100,000 in one hour bucket, over 8 shards) is done by 7 invocations in turn, in about 31 s.
pub const CARTS_PER_WORKER: usize = 2_000;
/// Carts taken concurrently by one worker (each is a read and a conditional write).
const CONCURRENT_TAKES: usize = 16;
/// The fan-out's due-index probes in flight at once (one bucket's shards, twice).
const CONCURRENT_PROBES: usize = 16;
/// Carts one worker takes per second at most. Each take moves the cart's entry from its due-index partition
/// (`DUE#{bucket}#{shard}`) to the partition of its lease's bucket: with one worker per shard and bucket, and
/// two buckets' workers of the same shard writing into the same new bucket, a partition gets at most 800
/// index writes a second, under DynamoDB's 1,000 WCU per partition (README, Performance).
pub const MAX_TAKES_PER_SECOND: u32 = 400;

/// What a sweep did, returned as the invocation's result (visible in logs and to tests).
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SweepReport {
    /// Entries of the due index at or before now.
    pub due_found: usize,
    /// Carts this sweep took (and enqueued a job for).
    pub enqueued: usize,
    /// Carts another writer changed first (an overlapping sweep, a cart update, the sender).
    pub taken_by_others: usize,
    /// Converted, deleted or expired carts removed from the index.
    pub ended: usize,
    /// Carts that could not be read or taken (they stay due for the next sweep).
    pub failed: usize,
    /// Index queries made.
    pub queries: u32,
    /// Shard messages sent: by the fan-out, one per shard holding due carts; by a worker, its hand-on.
    #[serde(default)]
    pub shards_enqueued: usize,
    /// Uninstalled stores whose purge finished in this sweep.
    #[serde(default)]
    pub stores_purged: usize,
    /// Items the purge deleted in this sweep.
    #[serde(default)]
    pub purge_items_deleted: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// A read or take failed, or taken carts were not enqueued (they are due again when their lease ends).
    #[error(transparent)]
    Infra(#[from] InfraError),
    /// A shard message no fan-out makes; retrying cannot help.
    #[error("invalid sweep shard message: {0}")]
    Invalid(String),
}

impl SweepError {
    fn is_retryable(&self) -> bool {
        match self {
            Self::Infra(error) => error.is_retryable(),
            Self::Invalid(_) => false,
        }
    }
}

shared::from_infra_errors!(SweepError);

impl SweepReport {
    /// Adds a worker's figures to these (what tests and the bench total over all workers).
    pub fn add(&mut self, other: &SweepReport) {
        self.due_found += other.due_found;
        self.enqueued += other.enqueued;
        self.taken_by_others += other.taken_by_others;
        self.ended += other.ended;
        self.failed += other.failed;
        self.queries += other.queries;
        self.shards_enqueued += other.shards_enqueued;
        self.stores_purged += other.stores_purged;
        self.purge_items_deleted += other.purge_items_deleted;
    }
}

/// What the function is invoked with: the schedule (fan-out) or a batch from the sweep shard queue (workers).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(untagged)]
pub enum SweepEvent {
    /// Told apart by its `Records`, which an EventBridge event never has.
    Shards(SqsEvent),
    Schedule(EventBridgeEvent),
}

#[derive(Debug, Clone, serde::Serialize)]
#[serde(untagged)]
pub enum SweepResponse {
    Swept(SweepReport),
    Shards(SqsBatchResponse),
}

pub async fn handler<P: SweepPorts>(ports: &P, event: LambdaEvent<SweepEvent>) -> Result<SweepResponse, Error> {
    match event.payload {
        SweepEvent::Schedule(schedule) => {
            tracing::info!(detail_type = %schedule.detail_type, "sweep started");
            let report = sweep(ports).await?;
            log_report("sweep fan-out finished", &report);
            Ok(SweepResponse::Swept(report))
        }
        SweepEvent::Shards(batch) => Ok(SweepResponse::Shards(work_shards(ports, batch).await.0)),
    }
}

/// Runs every shard message of a batch; the ones that failed retryably are given back to the queue. Also
/// returns the workers' figures, totalled.
pub async fn work_shards<P: SweepPorts>(ports: &P, batch: SqsEvent) -> (SqsBatchResponse, SweepReport) {
    let mut response = SqsBatchResponse::default();
    let mut total = SweepReport::default();
    for record in batch.records {
        let id = record.message_id.clone().unwrap_or_default();
        let outcome = match serde_json::from_str::<SweepShard>(record.body.as_deref().unwrap_or_default()) {
            Ok(shard) => sweep_shard(ports, &shard).await,
            Err(error) => Err(SweepError::Invalid(error.to_string())),
        };
        match outcome {
            Ok(report) => {
                log_report("sweep worker finished", &report);
                total.add(&report);
            }
            Err(error) if error.is_retryable() => {
                tracing::warn!(message_id = %id, %error, "sweep shard failed; it will be retried");
                response.add_failure(id);
            }
            Err(error) => tracing::error!(message_id = %id, %error, "sweep shard dropped: retrying cannot help"),
        }
    }
    (response, total)
}

fn log_report(what: &'static str, report: &SweepReport) {
    tracing::info!(
        due_found = report.due_found,
        enqueued = report.enqueued,
        taken_by_others = report.taken_by_others,
        ended = report.ended,
        failed = report.failed,
        queries = report.queries,
        shards_enqueued = report.shards_enqueued,
        "{what}"
    );
}

enum Take {
    Enqueue(SendJob),
    TakenByOther,
    Ended,
}

/// The scheduled fan-out: one shard message per shard of the due index holding carts due now, the watermark
/// moved to an hour before now with the older shards still holding due carts, then the purge duty.
pub async fn sweep<P: SweepPorts>(ports: &P) -> Result<SweepReport, SweepError> {
    let db = ports.due_index();
    let now = ports.now();
    let watermark = db.sweep_watermark().await?;
    let from = watermark
        .as_ref()
        .map_or(now - chrono::Duration::hours(1), |watermark| watermark.from)
        .min(now);
    let from_bucket = due_bucket(from);
    // The shards held in older buckets first, once each (one the window covers anyway is probed there), then
    // every shard of every bucket from the watermark's to now's.
    let held: BTreeSet<DueShard> = watermark
        .map(|watermark| watermark.held)
        .unwrap_or_default()
        .into_iter()
        .filter(|held| held.bucket < from_bucket)
        .collect();
    let mut probes: Vec<DueShard> = held.into_iter().collect();
    let mut hour = from;
    loop {
        let bucket = due_bucket(hour);
        probes.extend((0..DUE_SHARDS).map(|shard| DueShard {
            bucket: bucket.clone(),
            shard,
        }));
        if bucket == due_bucket(now) {
            break;
        }
        hour += chrono::Duration::hours(1);
    }
    // The probes side by side: 16 one-item Queries in turn were most of a fan-out's time.
    let mut results = futures::stream::iter(probes)
        .map(|probe| async move {
            let found = db.due_in_shard(&probe.bucket, probe.shard, None, now, 1).await;
            (probe, found)
        })
        .buffered(CONCURRENT_PROBES);
    // The watermark always moves to an hour before now, so the window stays the last hour or two however long
    // a cart that cannot be taken waits: a shard of an older bucket still holding a due cart is held instead.
    let to = now - chrono::Duration::hours(1);
    let to_bucket = due_bucket(to);
    let mut report = SweepReport::default();
    let mut shards = Vec::new();
    let mut held = Vec::new();
    while let Some((probe, found)) = results.next().await {
        report.queries += 1;
        if found?.carts.is_empty() {
            continue;
        }
        if probe.bucket < to_bucket {
            held.push(probe.clone());
        }
        shards.push(SweepShard {
            bucket: probe.bucket,
            shard: probe.shard,
            until: now,
            after: None,
        });
    }
    drop(results);
    ports.shards().hand_out(&shards).await?;
    report.shards_enqueued = shards.len();
    // A shard with due carts left (not yet worked, or a cart that could not be taken) is read again, in the
    // window or held. A shard of a bucket older than the new watermark's that is empty stays empty: writers
    // never file under a bucket older than the current hour.
    db.advance_sweep_watermark(to, &held, now).await?;
    purge(ports, now, &mut report).await;
    Ok(report)
}

/// One worker: takes the carts of `shard` due by `until` (and by this worker's clock), page by page, and
/// hands the rest on after [`SweepPorts::carts_per_worker`].
pub async fn sweep_shard<P: SweepPorts>(ports: &P, shard: &SweepShard) -> Result<SweepReport, SweepError> {
    if !is_due_bucket(&shard.bucket) || shard.shard >= DUE_SHARDS {
        return Err(SweepError::Invalid(format!(
            "bucket {:?} shard {}",
            shard.bucket, shard.shard
        )));
    }
    let db = ports.due_index();
    let now = ports.now();
    let until = shard.until.min(now);
    let mut report = SweepReport::default();
    let mut after = shard.after.clone();
    let page_size = ports.carts_per_worker().clamp(1, DUE_QUERY_PAGE);
    loop {
        let started = std::time::Instant::now();
        let page = db
            .due_in_shard(&shard.bucket, shard.shard, after.as_deref(), until, page_size)
            .await?;
        report.queries += 1;
        let page_len = page.carts.len();
        report.due_found += page_len;
        after = page.cursor().or(after);
        let outcomes: Vec<Result<Take, DbError>> = futures::stream::iter(page.carts)
            .map(|due| take(ports, due, now))
            .buffer_unordered(CONCURRENT_TAKES)
            .collect()
            .await;
        let mut jobs = Vec::new();
        for outcome in outcomes {
            match outcome {
                Ok(Take::Enqueue(job)) => jobs.push(job),
                Ok(Take::TakenByOther) => report.taken_by_others += 1,
                Ok(Take::Ended) => report.ended += 1,
                Err(error) => {
                    // Left in its bucket: the next fan-out finds it there.
                    tracing::warn!(%error, "a due cart could not be taken; the next sweep tries again");
                    report.failed += 1;
                }
            }
        }
        // Each store's jobs in their own message group ([`ReminderQueue::enqueue_reminders`]).
        ports.reminders().enqueue_reminders(&jobs).await?;
        report.enqueued += jobs.len();
        if !page.more {
            break;
        }
        // Physical throughput, so measured on the wall clock (like the send pace), not the business clock.
        let floor = std::time::Duration::from_secs_f64(page_len as f64 / f64::from(MAX_TAKES_PER_SECOND));
        if let Some(rest) = floor.checked_sub(started.elapsed()) {
            ports.pause(rest).await;
        }
        if report.due_found >= ports.carts_per_worker() {
            let rest = SweepShard {
                after: after.clone(),
                ..shard.clone()
            };
            ports.shards().hand_on(&rest).await?;
            report.shards_enqueued += 1;
            break;
        }
    }
    Ok(report)
}

/// Purges the uninstalled stores whose grace period is over, one bounded step each (a large store takes several
/// sweeps). When none is due this is one Query. A failure is logged and retried by the next sweep; it never
/// holds up reminders.
async fn purge<P: SweepPorts>(ports: &P, now: DateTime<Utc>, report: &mut SweepReport) {
    let db = ports.uninstalled_stores();
    let due = match db.stores_due_for_purge(now).await {
        Ok(due) => due,
        Err(error) => {
            tracing::warn!(%error, "stores due for purging could not be read; the next sweep tries again");
            return;
        }
    };
    for store in due {
        match db.purge_store(&store, now).await {
            Ok(outcome) => {
                report.purge_items_deleted += outcome.items_deleted;
                if outcome.finished && !outcome.skipped {
                    report.stores_purged += 1;
                }
                tracing::info!(
                    store_hash = %store.store_hash,
                    finished = outcome.finished,
                    skipped = outcome.skipped,
                    items_deleted = outcome.items_deleted,
                    proof_items_kept = outcome.proof_items_kept,
                    "uninstalled store purged"
                );
            }
            Err(error) => {
                tracing::warn!(store_hash = %store.store_hash, %error, "purge step failed; the next sweep goes on");
            }
        }
    }
}

/// Takes one due cart: moves its due time forward by the lease if nobody changed it since the index was read.
async fn take<P: SweepPorts>(ports: &P, due: DueCart, now: DateTime<Utc>) -> Result<Take, DbError> {
    let db = ports.due_index();
    let Some(mut cart) = db.get_cart(&due.store_hash, &due.cart_id).await? else {
        return Ok(Take::TakenByOther);
    };
    // The index is eventually consistent: the cart itself says whether it is still due at that time.
    if cart.next_due_at != Some(due.due_at) {
        return Ok(Take::TakenByOther);
    }
    if cart.status.is_final() || cart.reminders_sent == u8::MAX {
        cart.next_due_at = None;
        return Ok(if db.put_cart_if_due(&cart, due.due_at, now).await? {
            Take::Ended
        } else {
            Take::TakenByOther
        });
    }
    let step = cart.reminders_sent + 1;
    cart.next_due_at = Some(now + SWEEP_LEASE);
    if !db.put_cart_if_due(&cart, due.due_at, now).await? {
        return Ok(Take::TakenByOther);
    }
    shared::failpoint!(
        "sweep.after_lease",
        due.store_hash.as_str(),
        Err(DbError::Request("failpoint".into()))
    );
    Ok(Take::Enqueue(SendJob::new(
        due.store_hash,
        due.cart_id,
        step,
        due.due_at,
    )))
}
