//! The `sweep` function: on a schedule, finds carts whose next reminder is due and enqueues send jobs.
//!
//! 1. Reads the due index from the watermark up to now ([`shared::db::Db::due_carts`]: a query per hour bucket
//!    and shard, never a scan), so its cost follows the carts that are due, not the table.
//! 2. Takes each due cart with a compare-and-set on its due time ([`shared::db::Db::put_cart_if_due`]) that
//!    moves the due time forward by [`SWEEP_LEASE`]: of overlapping sweeps only one takes a cart, and the next
//!    sweep does not see it again while its job is pending.
//! 3. Enqueues one [`SendJob`] per taken cart (deterministic job id), then advances the watermark.
//! 4. Purges uninstalled stores whose grace period is over ([`shared::db::Db::purge_store`]).
//!
//! A sweep that dies half-way loses nothing: a cart taken but never enqueued is due again when its lease ends,
//! and a cart not yet taken is still due. Duplicate jobs (a re-enqueued cart whose first job was only slow)
//! are harmless: the send claim lets one SMS out per cart step.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use futures::StreamExt;
use lambda_runtime::{Error, LambdaEvent};
use shared::config::{AwsResources, Env};
use shared::db::{DbError, DueCart};
use shared::messages::SendJob;
use shared::queue::QueueError;
use shared::recovery::SWEEP_LEASE;
use shared::{Clock, aws::Aws};
use std::sync::Arc;

pub struct Deps {
    pub aws: Aws,
    pub clock: Arc<dyn Clock>,
}

impl Deps {
    /// From the configuration `main.rs` read ([`shared::aws::startup_config`]).
    pub fn from_env(sdk: &aws_config::SdkConfig, env: &Env) -> Result<Self, Error> {
        Ok(Self {
            aws: Aws::new(sdk, &AwsResources::from_env(env)?),
            clock: shared::clock::clock_from_env(env)?,
        })
    }
}

/// Due carts one sweep takes at most; the rest wait for the next sweep (every 5 minutes), which starts from the
/// same watermark.
pub const MAX_DUE_PER_SWEEP: usize = 2_000;
/// Carts taken concurrently (each is a read and a conditional write).
const CONCURRENT_TAKES: usize = 16;

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
    /// More carts were due than one sweep takes.
    pub truncated: bool,
    /// Uninstalled stores whose purge finished in this sweep.
    #[serde(default)]
    pub stores_purged: usize,
    /// Items the purge deleted in this sweep.
    #[serde(default)]
    pub purge_items_deleted: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error(transparent)]
    Db(#[from] DbError),
    /// The taken carts were not enqueued; they are due again when their lease ends.
    #[error(transparent)]
    Queue(#[from] QueueError),
}

pub async fn handler(deps: &Deps, event: LambdaEvent<EventBridgeEvent>) -> Result<SweepReport, Error> {
    tracing::info!(detail_type = %event.payload.detail_type, "sweep started");
    let report = sweep(deps).await?;
    tracing::info!(
        due_found = report.due_found,
        enqueued = report.enqueued,
        taken_by_others = report.taken_by_others,
        ended = report.ended,
        failed = report.failed,
        queries = report.queries,
        truncated = report.truncated,
        "sweep finished"
    );
    Ok(report)
}

enum Take {
    Enqueue(SendJob),
    TakenByOther,
    Ended,
}

/// One sweep, as the scheduled invocation runs it.
pub async fn sweep(deps: &Deps) -> Result<SweepReport, SweepError> {
    let db = &deps.aws.db;
    let now = deps.clock.now();
    let from = db.sweep_watermark().await?.unwrap_or(now - chrono::Duration::hours(1));
    let page = db.due_carts(from, now, MAX_DUE_PER_SWEEP).await?;
    let mut report = SweepReport {
        due_found: page.carts.len(),
        queries: page.queries,
        truncated: page.carts.len() >= MAX_DUE_PER_SWEEP,
        ..Default::default()
    };
    let outcomes: Vec<Result<Take, DbError>> = futures::stream::iter(page.carts)
        .map(|due| take(deps, due, now))
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
                tracing::warn!(%error, "a due cart could not be taken; the next sweep tries again");
                report.failed += 1;
            }
        }
    }
    deps.aws.send_queue.send_all(&jobs).await?;
    report.enqueued = jobs.len();
    // Carts left behind (failed, or beyond this sweep's share) may sit in any bucket read: start there again.
    if report.failed == 0 && !report.truncated {
        db.advance_sweep_watermark(now, now).await?;
    }
    purge(deps, now, &mut report).await;
    Ok(report)
}

/// Purges the uninstalled stores whose grace period is over, one bounded step each (a large store takes several
/// sweeps). When none is due this is one Query. A failure is logged and retried by the next sweep; it never
/// holds up reminders.
async fn purge(deps: &Deps, now: chrono::DateTime<chrono::Utc>, report: &mut SweepReport) {
    let db = &deps.aws.db;
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
async fn take(deps: &Deps, due: DueCart, now: chrono::DateTime<chrono::Utc>) -> Result<Take, DbError> {
    let db = &deps.aws.db;
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
