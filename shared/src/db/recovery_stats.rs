//! The settings page's counters (recovery at a glance): one item per store and UTC day, and one with the
//! store's contacts by consent state, updated with DynamoDB `ADD` as events happen so a page load reads them
//! with one `BatchGetItem` whatever the store's size.
//!
//! A counter never counts one event twice when a message is redelivered: its `ADD` is an action of the same
//! transaction as the conditional write that records the event (a send marked sent, a click, a credit, a
//! delivery report), or of a marker's conditional put where the event has no write of its own to tie it to
//! (a reminder's decision). A failed condition cancels the `ADD` with it.

use super::keys::{
    CONSENT_STATS_SK, COUNTED_STATE_SK, STATS_RETENTION_DAYS, TTL_ATTRIBUTE, cart_pk, counted_sk, day_stats_sk,
    phone_pk, stats_pk,
};
use super::{Db, DbError, Item, n, s, to_item};
use crate::consent::{ConsentEvent, ConsentState, Purpose};
use crate::recovery_stats::{ConsentTotals, DayStats, counted_state, state_change};
use crate::{Phone, StoreHash};
use aws_sdk_dynamodb::types::{TransactWriteItem, Update};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use futures::{StreamExt, TryStreamExt};
use std::collections::{BTreeMap, BTreeSet};

/// Attempts at moving phones between consent counters when concurrent changes keep winning.
const RECOUNT_ATTEMPTS: usize = 5;
/// Phones moved per transaction: with the counter item's `ADD`, DynamoDB's 100 actions.
const PHONES_PER_RECOUNT: usize = super::TRANSACTION_LIMIT - 1;
/// Phones whose ledgers are read at once when many are recounted.
const RECOUNT_READS_AT_ONCE: usize = 8;

impl Db {
    /// `ADD` of `counts` to one item of the store's counters, as a transaction action (`None` if nothing to add).
    fn add_action(
        &self,
        store: &StoreHash,
        sk: String,
        counts: &[(&str, i64)],
        ttl: Option<i64>,
    ) -> Option<TransactWriteItem> {
        if counts.is_empty() {
            return None;
        }
        let mut update = Update::builder()
            .table_name(&self.table)
            .key("pk", s(&stats_pk(store)))
            .key("sk", s(&sk));
        let mut adds = Vec::with_capacity(counts.len());
        for (i, (name, by)) in counts.iter().enumerate() {
            adds.push(format!("#c{i} :c{i}"));
            update = update
                .expression_attribute_names(format!("#c{i}"), *name)
                .expression_attribute_values(format!(":c{i}"), n(by));
        }
        let mut expression = format!("ADD {}", adds.join(", "));
        if let Some(ttl) = ttl {
            expression.push_str(" SET #ttl = :ttl");
            update = update
                .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
                .expression_attribute_values(":ttl", n(ttl));
        }
        let update = update
            .update_expression(expression)
            .build()
            .expect("table, key and expression set");
        Some(TransactWriteItem::builder().update(update).build())
    }

    /// `ADD` of `counts` to the counters of the UTC day of `at`.
    pub(super) fn add_to_day(
        &self,
        store: &StoreHash,
        at: DateTime<Utc>,
        counts: &[(&str, i64)],
    ) -> Option<TransactWriteItem> {
        let day = at.date_naive();
        let expires = day.and_hms_opt(0, 0, 0).expect("midnight").and_utc() + Duration::days(STATS_RETENTION_DAYS);
        self.add_action(store, day_stats_sk(day), counts, Some(expires.timestamp()))
    }

    /// Adds to a day's counters with no event write to tie it to (a consent box shown: counting one twice
    /// misleads nobody).
    pub async fn add_day_counts(
        &self,
        store: &StoreHash,
        at: DateTime<Utc>,
        counts: &[(&str, i64)],
    ) -> Result<(), DbError> {
        if let Some(action) = self.add_to_day(store, at, counts) {
            self.transact(vec![action])
                .await?
                .map_err(|_| DbError::Conflict("an unconditional ADD failed".into()))?;
        }
        Ok(())
    }

    /// Adds `counts` to the day of `at` once per `(cart, what, step)`: the `ADD` commits with the conditional
    /// put of a marker in the cart's partition, so a redelivered job that decides the same step again counts
    /// nothing. `Ok(false)` when it was counted before.
    pub async fn count_once(
        &self,
        store: &StoreHash,
        cart_id: &str,
        what: &str,
        step: u8,
        at: DateTime<Utc>,
        counts: &[(&str, i64)],
    ) -> Result<bool, DbError> {
        let Some(add) = self.add_to_day(store, at, counts) else {
            return Ok(false);
        };
        let marker = serde_json::json!({ "counted_at": at });
        let until = at + Duration::days(super::keys::CART_RETENTION_DAYS);
        let marker = super::with_ttl(
            to_item(
                &marker,
                &[("pk", cart_pk(store, cart_id)), ("sk", counted_sk(what, step))],
            )?,
            until,
        );
        Ok(self
            .transact(vec![self.put_action(marker, Some("attribute_not_exists(pk)")), add])
            .await?
            .is_ok())
    }

    /// The counters of the `days` UTC days ending with `today` (oldest first; a day without events is all
    /// zeros) and the contacts by consent state: one `BatchGetItem`.
    pub async fn recovery_days(
        &self,
        store: &StoreHash,
        today: NaiveDate,
        days: u32,
    ) -> Result<(Vec<DayStats>, ConsentTotals), DbError> {
        let dates: Vec<NaiveDate> = (0..days)
            .rev()
            .map(|back| today - Duration::days(i64::from(back)))
            .collect();
        let pk = stats_pk(store);
        let mut keys: Vec<(String, String)> = dates.iter().map(|d| (pk.clone(), day_stats_sk(*d))).collect();
        keys.push((pk, CONSENT_STATS_SK.to_owned()));
        let mut found: std::collections::HashMap<String, Item> = self
            .batch_get(keys)
            .await?
            .into_iter()
            .filter_map(|item| {
                let sk = item.get("sk")?.as_s().ok()?.clone();
                Some((sk, item))
            })
            .collect();
        let mut stats = Vec::with_capacity(dates.len());
        for date in dates {
            let mut day: DayStats = match found.remove(&day_stats_sk(date)) {
                Some(item) => serde_dynamo::from_item(item)?,
                None => DayStats::default(),
            };
            day.day = Some(date);
            stats.push(day);
        }
        let totals = match found.remove(CONSENT_STATS_SK) {
            Some(item) => serde_dynamo::from_item(item)?,
            None => ConsentTotals::default(),
        };
        Ok((stats, totals))
    }

    /// Adds newly saved contacts to the store's contact count.
    pub(super) async fn count_new_contacts(&self, store: &StoreHash, new: i64) -> Result<(), DbError> {
        if let Some(action) = self.add_action(store, CONSENT_STATS_SK.to_owned(), &[("contacts", new)], None) {
            self.transact(vec![action])
                .await?
                .map_err(|_| DbError::Conflict("an unconditional ADD failed".into()))?;
        }
        Ok(())
    }

    /// Moves the phone between the store's consent counters to the state its ledger folds to now. Called after
    /// every new ledger event; [`Db::recount_consent_states`] for one phone.
    pub async fn recount_consent_state(&self, store: &StoreHash, phone: &Phone) -> Result<(), DbError> {
        self.recount_consent_states(store, std::slice::from_ref(phone)).await
    }

    /// Moves each phone between the store's consent counters to the state its ledger folds to now. A phone's
    /// counted state is an item of its own, put in the same transaction as the counters and conditional on
    /// the version read: a redelivery that appends nothing finds the state already counted and changes
    /// nothing, and two concurrent changes cannot both move it. The phones are read a few at a time, then
    /// written up to 99 per transaction with ONE `ADD` of their summed change, so a bulk page is a few
    /// transactions on the store's counter item rather than one per phone (which conflicted with each
    /// other). A cancelled transaction (a phone moved meanwhile, or a concurrent transaction on one of its
    /// items) re-reads the phones it names and is retried without those already counted.
    pub async fn recount_consent_states(&self, store: &StoreHash, phones: &[Phone]) -> Result<(), DbError> {
        let counts = self.read_phone_counts(store, phones).await?;
        let mut moves: Vec<PhoneCount> = counts.into_iter().filter(|c| !c.is_counted()).collect();
        while !moves.is_empty() {
            let rest = moves.split_off(moves.len().min(PHONES_PER_RECOUNT));
            self.commit_phone_counts(store, moves).await?;
            moves = rest;
        }
        Ok(())
    }

    /// [`Db::recount_consent_states`] for the phones of `events`, store by store.
    pub(super) async fn recount_consent_states_of<'a>(
        &self,
        events: impl IntoIterator<Item = &'a ConsentEvent>,
    ) -> Result<(), DbError> {
        let mut phones: BTreeMap<&StoreHash, BTreeSet<&Phone>> = BTreeMap::new();
        for event in events {
            phones.entry(&event.store_hash).or_default().insert(&event.phone);
        }
        for (store, phones) in phones {
            let phones: Vec<Phone> = phones.into_iter().cloned().collect();
            self.recount_consent_states(store, &phones).await?;
        }
        Ok(())
    }

    /// Each phone's ledger folded and its counted state, at most [`RECOUNT_READS_AT_ONCE`] Queries at a time.
    async fn read_phone_counts(&self, store: &StoreHash, phones: &[Phone]) -> Result<Vec<PhoneCount>, DbError> {
        // Owned phones: futures borrowing the stream's items are not `Send` for every lifetime (rustc#102211).
        futures::stream::iter(phones.iter().cloned())
            .map(|phone| async move { self.read_phone_count(store, &phone).await })
            .buffered(RECOUNT_READS_AT_ONCE)
            .try_collect()
            .await
    }

    /// One Query of the phone's partition from its ledger (`CONSENT#…`) to its `COUNTED_STATE`.
    async fn read_phone_count(&self, store: &StoreHash, phone: &Phone) -> Result<PhoneCount, DbError> {
        let items = self
            .query_partition(&phone_pk(store, phone), Some(("CONSENT#", COUNTED_STATE_SK)))
            .await?;
        let mut ledger: Vec<ConsentEvent> = Vec::new();
        let mut counted: Option<(String, u64)> = None;
        for item in items {
            let sk = item.get("sk").and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
            if sk == COUNTED_STATE_SK {
                let state = item
                    .get("state")
                    .and_then(|v| v.as_s().ok())
                    .cloned()
                    .unwrap_or_default();
                let version = item
                    .get("version")
                    .and_then(|v| v.as_n().ok())
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                counted = Some((state, version));
            } else if sk.starts_with("CONSENT#") {
                ledger.push(serde_dynamo::from_item(item)?);
            }
        }
        ledger.sort_by(|a, b| {
            a.occurred_at
                .cmp(&b.occurred_at)
                .then(a.recorded_at.cmp(&b.recorded_at))
        });
        Ok(PhoneCount {
            phone: phone.clone(),
            now: counted_state(&ConsentState::fold(&ledger, Purpose::Marketing)),
            counted,
        })
    }

    /// Writes `moves` (at most [`PHONES_PER_RECOUNT`], none already counted) in one transaction, retried
    /// after re-reading the phones a cancellation names.
    async fn commit_phone_counts(&self, store: &StoreHash, mut moves: Vec<PhoneCount>) -> Result<(), DbError> {
        for attempt in 0..RECOUNT_ATTEMPTS as u32 {
            if attempt > 0 {
                tokio::time::sleep(super::backoff(attempt)).await;
            }
            crate::failpoint!(
                "consent.counts.before_write",
                store.as_str(),
                Err(DbError::Request("failpoint".into()))
            );
            let mut change: BTreeMap<&str, i64> = BTreeMap::new();
            for (name, by) in moves.iter().flat_map(PhoneCount::change) {
                *change.entry(name).or_default() += by;
            }
            let change: Vec<(&str, i64)> = change.into_iter().filter(|(_, by)| *by != 0).collect();
            let mut actions: Vec<TransactWriteItem> = moves.iter().map(|c| self.counted_state_put(store, c)).collect();
            actions.extend(self.add_action(store, CONSENT_STATS_SK.to_owned(), &change, None));
            let reasons = match self.transact_or_conflict(actions).await? {
                Ok(()) => return Ok(()),
                Err(reasons) => reasons,
            };
            // The puts come first, one per phone: re-read the phones whose put was named.
            let mut named: Vec<Phone> = Vec::new();
            let mut kept: Vec<PhoneCount> = Vec::new();
            for (i, count) in moves.into_iter().enumerate() {
                if reasons.get(i).is_some_and(Option::is_some) {
                    named.push(count.phone);
                } else {
                    kept.push(count);
                }
            }
            moves = kept;
            moves.extend(
                self.read_phone_counts(store, &named)
                    .await?
                    .into_iter()
                    .filter(|c| !c.is_counted()),
            );
            if moves.is_empty() {
                return Ok(());
            }
        }
        Err(DbError::Conflict(format!(
            "the consent state of {} phones kept changing while it was counted",
            moves.len()
        )))
    }

    /// The conditional put of the phone's new counted state: on the version read (or on there being none).
    fn counted_state_put(&self, store: &StoreHash, count: &PhoneCount) -> TransactWriteItem {
        let pk = phone_pk(store, &count.phone);
        let version = count.counted.as_ref().map(|(_, version)| *version);
        let mut state_item = Item::new();
        state_item.insert("pk".into(), s(&pk));
        state_item.insert("sk".into(), s(COUNTED_STATE_SK));
        state_item.insert("state".into(), s(count.now));
        state_item.insert("version".into(), n(version.unwrap_or(0) + 1));
        let put = aws_sdk_dynamodb::types::Put::builder()
            .table_name(&self.table)
            .set_item(Some(state_item))
            .condition_expression(match version {
                Some(_) => "version = :version",
                None => "attribute_not_exists(pk)",
            })
            .set_expression_attribute_values(
                version.map(|version| std::collections::HashMap::from([(":version".to_owned(), n(version))])),
            )
            .build()
            .expect("table and item set");
        TransactWriteItem::builder().put(put).build()
    }
}

/// A phone's consent state as its ledger folds to now, and as the store's counters count it.
struct PhoneCount {
    phone: Phone,
    now: &'static str,
    /// The counted state and its version; `None` before the phone was first counted.
    counted: Option<(String, u64)>,
}

impl PhoneCount {
    fn before(&self) -> &str {
        self.counted
            .as_ref()
            .map_or("never_subscribed", |(state, _)| state.as_str())
    }

    fn is_counted(&self) -> bool {
        self.before() == self.now
    }

    /// The counters the phone's move changes.
    fn change(&self) -> Vec<(&'static str, i64)> {
        state_change(self.before(), self.now)
    }
}
