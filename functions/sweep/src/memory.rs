//! In-memory adapters of the sweep's ports ([`shared::ports::sweep`]), for its unit tests: [`MemoryTable`] (the
//! carts, the due index, the watermark and the uninstalled stores) and [`MemoryQueues`] (the send queue and
//! the sweep shard queue, recording what was sent).
//!
//! The table keeps the DynamoDB adapter's contract: a cart with a due time is filed under
//! `DUE#{due_bucket(max(due, now))}#{due_shard}` at its `due_sk`, and only a write of the cart moves or removes
//! that entry, so a test that edits [`Tables::carts`] directly leaves the index stale, as the eventually
//! consistent index may be; `put_cart_if_due` is a compare-and-set on the stored due time; `due_in_shard`
//! reads one shard in `due_sk` order, from its cursor (inclusive, the cursor's own entry skipped) with one
//! more entry asked for when there is a cursor, like the Query it stands for; the watermark is stored as the
//! item holds it (a timestamp and `{bucket}#{shard}` entries, a malformed one a conflict when read) and a write
//! sets `from` and replaces `held` unless the stored `from` is later (`attribute_not_exists(#from) OR #from <=
//! :to`), never closer than an hour to now.

use crate::SweepPorts;
use chrono::{DateTime, Duration, Utc};
use shared::db::keys::{DueShard, SweepWatermark, due_bucket, due_pk, due_shard, due_sk, due_sk_before, timestamp};
use shared::db::{DbError, DueCart, DueSlice, PurgeDue, PurgeOutcome};
use shared::messages::{SendJob, SweepShard};
use shared::model::Cart;
use shared::ports::sweep::{DueIndex, ReminderQueue, ShardQueue, UninstalledStores};
use shared::queue::QueueError;
use shared::{Clock, ManualClock, StoreHash};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};

type CartKey = (StoreHash, String);

/// Everything the table holds; tests arrange and inspect it through [`MemoryTable::tables`].
#[derive(Default)]
pub struct Tables {
    pub carts: HashMap<CartKey, Cart>,
    /// The `DueCarts` index: `due_pk` → `due_sk` → entry.
    pub due_index: BTreeMap<String, BTreeMap<String, DueCart>>,
    /// Where each cart's index entry is (`due_pk`, `due_sk`), so a write of the cart moves it.
    index_keys: HashMap<CartKey, (String, String)>,
    /// As stored: `from`, a millisecond timestamp, and the `held` entries ([`DueShard::held_entry`]).
    watermark: Option<(String, Vec<String>)>,
    /// Stores filed for purging: `purge_after` and the items their purge deletes.
    pub uninstalled: BTreeMap<StoreHash, (DateTime<Utc>, u32)>,
    pub purged: Vec<StoreHash>,
    /// Carts whose read fails (a throttled or failed request).
    pub failing_reads: HashSet<CartKey>,
    /// Stores whose purge step fails.
    pub failing_purges: HashSet<StoreHash>,
    /// The query of the stores due for purging fails.
    pub purge_listing_fails: bool,
}

impl Tables {
    /// Writes the cart and moves its index entry, as `Db::cart_item` keys it: a due time in the past is filed
    /// under the current hour.
    fn write_cart(&mut self, cart: &Cart, now: DateTime<Utc>) {
        let key = (cart.store_hash.clone(), cart.cart_id.clone());
        if let Some((pk, sk)) = self.index_keys.remove(&key)
            && let Some(partition) = self.due_index.get_mut(&pk)
        {
            partition.remove(&sk);
        }
        if let Some(due_at) = cart.next_due_at {
            let pk = due_pk(&due_bucket(due_at.max(now)), due_shard(&cart.store_hash, &cart.cart_id));
            let sk = due_sk(due_at, &cart.store_hash, &cart.cart_id);
            let entry = DueCart {
                store_hash: cart.store_hash.clone(),
                cart_id: cart.cart_id.clone(),
                due_at,
            };
            self.due_index.entry(pk.clone()).or_default().insert(sk.clone(), entry);
            self.index_keys.insert(key.clone(), (pk, sk));
        }
        self.carts.insert(key, cart.clone());
    }

    /// The cart's index entry (`due_pk`, entry), if it has one.
    pub fn index_entry(&self, store: &StoreHash, cart_id: &str) -> Option<(String, DueCart)> {
        let (pk, sk) = self.index_keys.get(&(store.clone(), cart_id.to_owned()))?;
        Some((pk.clone(), self.due_index[pk][sk].clone()))
    }

    /// The watermark read back as `Db::sweep_watermark` reads it.
    pub fn watermark(&self) -> Result<Option<SweepWatermark>, DbError> {
        let Some((from, held)) = &self.watermark else {
            return Ok(None);
        };
        let from = DateTime::parse_from_rfc3339(from)
            .map_err(|e| DbError::Conflict(format!("bad watermark: {e}")))?
            .with_timezone(&Utc);
        let held = held
            .iter()
            .map(|entry| {
                DueShard::parse_held_entry(entry)
                    .ok_or_else(|| DbError::Conflict(format!("bad watermark held entry: {entry:?}")))
            })
            .collect::<Result<_, _>>()?;
        Ok(Some(SweepWatermark { from, held }))
    }
}

/// A write made by someone else (a cart update, the sender) at a chosen moment.
type Interleaved = Box<dyn FnOnce(&mut Tables) + Send>;

#[derive(Default)]
pub struct MemoryTable {
    tables: Mutex<Tables>,
    before_take: Mutex<Option<Interleaved>>,
}

impl MemoryTable {
    pub fn tables(&self) -> MutexGuard<'_, Tables> {
        self.tables.lock().expect("memory table lock")
    }

    /// Saves the cart and files it in the due index as its writer did at `now` (`Db::put_cart`).
    pub fn put_cart(&self, cart: &Cart, now: DateTime<Utc>) {
        self.tables().write_cart(cart, now);
    }

    /// Runs `write` in the next [`DueIndex::put_cart_if_due`], just before its condition is checked: what
    /// another writer saves between the sweep's read of the cart and its take.
    pub fn before_next_take(&self, write: impl FnOnce(&mut Tables) + Send + 'static) {
        *self.before_take.lock().expect("hook lock") = Some(Box::new(write));
    }
}

fn injected(what: &str) -> DbError {
    DbError::Request(format!("injected failure: {what}"))
}

impl DueIndex for MemoryTable {
    async fn sweep_watermark(&self) -> Result<Option<SweepWatermark>, DbError> {
        self.tables().watermark()
    }

    async fn advance_sweep_watermark(
        &self,
        to: DateTime<Utc>,
        held: &[DueShard],
        now: DateTime<Utc>,
    ) -> Result<(), DbError> {
        let to = timestamp(to.min(now - Duration::hours(1)));
        let mut tables = self.tables();
        if tables.watermark.as_ref().is_none_or(|(from, _)| *from <= to) {
            tables.watermark = Some((to, held.iter().map(DueShard::held_entry).collect()));
        }
        Ok(())
    }

    async fn due_in_shard(
        &self,
        bucket: &str,
        shard: u32,
        after: Option<&str>,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Result<DueSlice, DbError> {
        let upper = due_sk_before(until);
        if after.is_some_and(|after| after > upper.as_str()) {
            // DynamoDB refuses a BETWEEN whose bounds are reversed.
            return Err(DbError::Request("BETWEEN bounds reversed".into()));
        }
        let tables = self.tables();
        let Some(partition) = tables.due_index.get(&due_pk(bucket, shard)) else {
            return Ok(DueSlice::default());
        };
        // `BETWEEN :after AND :upper` (the cursor's own entry included) or `< :upper`, one more asked for when
        // there is a cursor.
        let in_range: Vec<(&String, &DueCart)> = partition
            .iter()
            .filter(|(sk, _)| after.is_none_or(|after| sk.as_str() >= after) && **sk < upper)
            .collect();
        let asked = limit + usize::from(after.is_some());
        Ok(DueSlice {
            more: in_range.len() > asked,
            carts: in_range
                .into_iter()
                .take(asked)
                .filter(|(sk, _)| after != Some(sk.as_str()))
                .map(|(_, cart)| cart.clone())
                .collect(),
        })
    }

    async fn get_cart(&self, store: &StoreHash, cart_id: &str) -> Result<Option<Cart>, DbError> {
        let tables = self.tables();
        let key = (store.clone(), cart_id.to_owned());
        if tables.failing_reads.contains(&key) {
            return Err(injected("cart read"));
        }
        Ok(tables.carts.get(&key).cloned())
    }

    async fn put_cart_if_due(
        &self,
        cart: &Cart,
        expected_due: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, DbError> {
        let mut tables = self.tables();
        if let Some(write) = self.before_take.lock().expect("hook lock").take() {
            write(&mut tables);
        }
        let key = (cart.store_hash.clone(), cart.cart_id.clone());
        if tables.carts.get(&key).and_then(|stored| stored.next_due_at) != Some(expected_due) {
            return Ok(false);
        }
        tables.write_cart(cart, now);
        Ok(true)
    }
}

impl UninstalledStores for MemoryTable {
    async fn stores_due_for_purge(&self, now: DateTime<Utc>) -> Result<Vec<PurgeDue>, DbError> {
        let tables = self.tables();
        if tables.purge_listing_fails {
            return Err(injected("stores due for purging"));
        }
        Ok(tables
            .uninstalled
            .iter()
            .filter(|(_, (purge_after, _))| *purge_after <= now)
            .map(|(store, (purge_after, _))| PurgeDue::filed(store.clone(), *purge_after))
            .collect())
    }

    async fn purge_store(&self, due: &PurgeDue, _now: DateTime<Utc>) -> Result<PurgeOutcome, DbError> {
        let mut tables = self.tables();
        if tables.failing_purges.contains(&due.store_hash) {
            return Err(injected("purge step"));
        }
        let Some((_, items)) = tables.uninstalled.remove(&due.store_hash) else {
            return Ok(PurgeOutcome {
                finished: true,
                skipped: true,
                ..PurgeOutcome::default()
            });
        };
        tables.purged.push(due.store_hash.clone());
        Ok(PurgeOutcome {
            finished: true,
            skipped: false,
            items_deleted: items,
            proof_items_kept: 0,
        })
    }
}

/// The send queue and the sweep shard queue: what was sent to each, in order.
#[derive(Default)]
pub struct MemoryQueues {
    jobs: Mutex<Vec<SendJob>>,
    shard_messages: Mutex<Vec<SweepShard>>,
    /// The send queue refuses every batch (SQS unavailable).
    pub send_queue_down: Mutex<bool>,
}

impl MemoryQueues {
    /// Every send job enqueued, in order.
    pub fn jobs(&self) -> Vec<SendJob> {
        self.jobs.lock().expect("jobs lock").clone()
    }

    /// The shard messages waiting in the queue, taken off it (as the workers receive them).
    pub fn receive_shard_messages(&self) -> Vec<SweepShard> {
        std::mem::take(&mut *self.shard_messages.lock().expect("shards lock"))
    }
}

impl ReminderQueue for MemoryQueues {
    async fn enqueue_reminders(&self, jobs: &[SendJob]) -> Result<(), QueueError> {
        if *self.send_queue_down.lock().expect("flag lock") && !jobs.is_empty() {
            return Err(QueueError::Request("injected failure: send queue".into()));
        }
        self.jobs.lock().expect("jobs lock").extend_from_slice(jobs);
        Ok(())
    }
}

impl ShardQueue for MemoryQueues {
    async fn hand_out(&self, shards: &[SweepShard]) -> Result<(), QueueError> {
        self.shard_messages
            .lock()
            .expect("shards lock")
            .extend_from_slice(shards);
        Ok(())
    }

    async fn hand_on(&self, rest: &SweepShard) -> Result<(), QueueError> {
        self.shard_messages.lock().expect("shards lock").push(rest.clone());
        Ok(())
    }
}

/// The sweep's ports, all in memory, on a manual clock; the worker's pauses are recorded, not slept.
pub struct MemoryPorts {
    pub table: MemoryTable,
    pub queues: MemoryQueues,
    pub clock: ManualClock,
    pub carts_per_worker: usize,
    pub pauses: Mutex<Vec<std::time::Duration>>,
}

impl MemoryPorts {
    pub fn new(now: DateTime<Utc>) -> Self {
        Self {
            table: MemoryTable::default(),
            queues: MemoryQueues::default(),
            clock: ManualClock::new(now),
            carts_per_worker: crate::CARTS_PER_WORKER,
            pauses: Mutex::default(),
        }
    }
}

impl SweepPorts for MemoryPorts {
    type Index = MemoryTable;
    type Purges = MemoryTable;
    type Reminders = MemoryQueues;
    type Shards = MemoryQueues;
    fn due_index(&self) -> &MemoryTable {
        &self.table
    }
    fn uninstalled_stores(&self) -> &MemoryTable {
        &self.table
    }
    fn reminders(&self) -> &MemoryQueues {
        &self.queues
    }
    fn shards(&self) -> &MemoryQueues {
        &self.queues
    }
    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
    fn carts_per_worker(&self) -> usize {
        self.carts_per_worker
    }
    async fn pause(&self, rest: std::time::Duration) {
        self.pauses.lock().expect("pauses lock").push(rest);
    }
}
