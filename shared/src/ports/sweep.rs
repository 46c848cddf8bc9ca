//! What the sweep (`functions/sweep`) stores and calls: the due index and the carts it points at
//! ([`DueIndex`]), the uninstalled stores waiting for their purge ([`UninstalledStores`]), the send queue
//! ([`ReminderQueue`]) and the sweep shard queue ([`ShardQueue`]).
//!
//! The production adapters delegate to [`Db`] and [`Queue`]; each method keeps the contract of the method it
//! delegates to (the compare-and-set on a cart's due time, the watermark that never moves back and whose held
//! list each write replaces), which an in-memory adapter (`functions/sweep/src/memory.rs`) must honour the same
//! way.

use crate::StoreHash;
use crate::db::keys::{DueShard, SweepWatermark};
use crate::db::{Db, DbError, DueSlice, PurgeDue, PurgeOutcome};
use crate::messages::{SendJob, SweepShard};
use crate::model::Cart;
use crate::queue::{Queue, QueueError};
use chrono::{DateTime, Utc};
use std::future::Future;

/// The due index (`DUE#{hour bucket}#{shard}`), its watermark, and the carts it points at.
pub trait DueIndex: Sync {
    /// [`Db::sweep_watermark`]: the oldest hour whose every shard the sweep still reads, and the shards of
    /// older buckets still holding due carts (`None` before the first sweep).
    fn sweep_watermark(&self) -> impl Future<Output = Result<Option<SweepWatermark>, DbError>> + Send;
    /// [`Db::advance_sweep_watermark`]: `to` (never closer than an hour to `now`) with `held` in place of the
    /// stored list, unless the stored `from` is later than `to` (never backward).
    fn advance_sweep_watermark(
        &self,
        to: DateTime<Utc>,
        held: &[DueShard],
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), DbError>> + Send;
    /// [`Db::due_in_shard`]: one query of one shard of one bucket, at most `limit` carts due before `until`,
    /// in index order after the cursor `after`; `more` when the shard holds further carts in the range.
    fn due_in_shard(
        &self,
        bucket: &str,
        shard: u32,
        after: Option<&str>,
        until: DateTime<Utc>,
        limit: usize,
    ) -> impl Future<Output = Result<DueSlice, DbError>> + Send;
    /// [`Db::get_cart`].
    fn get_cart(&self, store: &StoreHash, cart_id: &str) -> impl Future<Output = Result<Option<Cart>, DbError>> + Send;
    /// [`Db::put_cart_if_due`]: `Ok(false)` when the stored cart's due time is no longer `expected_due`;
    /// otherwise the cart is saved and its index entry moves with its new due time (or leaves the index).
    fn put_cart_if_due(
        &self,
        cart: &Cart,
        expected_due: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, DbError>> + Send;
}

impl DueIndex for Db {
    async fn sweep_watermark(&self) -> Result<Option<SweepWatermark>, DbError> {
        Db::sweep_watermark(self).await
    }
    async fn advance_sweep_watermark(
        &self,
        to: DateTime<Utc>,
        held: &[DueShard],
        now: DateTime<Utc>,
    ) -> Result<(), DbError> {
        Db::advance_sweep_watermark(self, to, held, now).await
    }
    async fn due_in_shard(
        &self,
        bucket: &str,
        shard: u32,
        after: Option<&str>,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Result<DueSlice, DbError> {
        Db::due_in_shard(self, bucket, shard, after, until, limit).await
    }
    async fn get_cart(&self, store: &StoreHash, cart_id: &str) -> Result<Option<Cart>, DbError> {
        Db::get_cart(self, store, cart_id).await
    }
    async fn put_cart_if_due(
        &self,
        cart: &Cart,
        expected_due: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, DbError> {
        Db::put_cart_if_due(self, cart, expected_due, now).await
    }
}

/// Uninstalled stores whose grace period is over, purged one bounded step at a time.
pub trait UninstalledStores: Sync {
    /// [`Db::stores_due_for_purge`].
    fn stores_due_for_purge(&self, now: DateTime<Utc>) -> impl Future<Output = Result<Vec<PurgeDue>, DbError>> + Send;
    /// [`Db::purge_store`]: one step; called again by later sweeps until `finished`.
    fn purge_store(
        &self,
        due: &PurgeDue,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<PurgeOutcome, DbError>> + Send;
}

impl UninstalledStores for Db {
    async fn stores_due_for_purge(&self, now: DateTime<Utc>) -> Result<Vec<PurgeDue>, DbError> {
        Db::stores_due_for_purge(self, now).await
    }
    async fn purge_store(&self, due: &PurgeDue, now: DateTime<Utc>) -> Result<PurgeOutcome, DbError> {
        Db::purge_store(self, due, now).await
    }
}

/// The send queue, as the sweep fills it.
pub trait ReminderQueue: Sync {
    /// [`Queue::send_all_grouped`], each job in its store's message group: a fair queue, so one store's burst
    /// of reminders does not hold back another store's.
    fn enqueue_reminders(&self, jobs: &[SendJob]) -> impl Future<Output = Result<(), QueueError>> + Send;
}

impl ReminderQueue for Queue {
    async fn enqueue_reminders(&self, jobs: &[SendJob]) -> Result<(), QueueError> {
        self.send_all_grouped(jobs, |job| job.store_hash.as_str()).await
    }
}

/// The sweep shard queue: the fan-out's work for the workers, and a worker's hand-on.
pub trait ShardQueue: Sync {
    /// [`Queue::send_all`]: the fan-out's shard messages.
    fn hand_out(&self, shards: &[SweepShard]) -> impl Future<Output = Result<(), QueueError>> + Send;
    /// [`Queue::send`]: the rest of a worker's shard, after its cursor.
    fn hand_on(&self, rest: &SweepShard) -> impl Future<Output = Result<(), QueueError>> + Send;
}

impl ShardQueue for Queue {
    async fn hand_out(&self, shards: &[SweepShard]) -> Result<(), QueueError> {
        self.send_all(shards).await
    }
    async fn hand_on(&self, rest: &SweepShard) -> Result<(), QueueError> {
        self.send(rest).await
    }
}
