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

/// Attempts at moving a phone between consent counters when concurrent changes keep winning.
const RECOUNT_ATTEMPTS: usize = 5;

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
    /// every new ledger event. The phone's counted state is an item of its own, written in the same transaction
    /// as the counters and conditional on the state it was read in: a redelivery that appends nothing finds
    /// the state already counted and changes nothing, and two concurrent changes cannot both move it.
    pub async fn recount_consent_state(&self, store: &StoreHash, phone: &Phone) -> Result<(), DbError> {
        let pk = phone_pk(store, phone);
        for _ in 0..RECOUNT_ATTEMPTS {
            let items = self.query_partition(&pk, Some(("CONSENT#", COUNTED_STATE_SK))).await?;
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
            let now = counted_state(&ConsentState::fold(&ledger, Purpose::Marketing));
            let (before, version) = counted.clone().unwrap_or_else(|| ("never_subscribed".to_owned(), 0));
            if before == now {
                return Ok(());
            }
            let mut state_item = Item::new();
            state_item.insert("pk".into(), s(&pk));
            state_item.insert("sk".into(), s(COUNTED_STATE_SK));
            state_item.insert("state".into(), s(now));
            state_item.insert("version".into(), n(version + 1));
            let condition = if counted.is_some() {
                "version = :version"
            } else {
                "attribute_not_exists(pk)"
            };
            let put = aws_sdk_dynamodb::types::Put::builder()
                .table_name(&self.table)
                .set_item(Some(state_item))
                .condition_expression(condition)
                .set_expression_attribute_values(
                    counted
                        .is_some()
                        .then(|| std::collections::HashMap::from([(":version".to_owned(), n(version))])),
                )
                .build()
                .expect("table and item set");
            let mut actions = vec![TransactWriteItem::builder().put(put).build()];
            actions.extend(self.add_action(store, CONSENT_STATS_SK.to_owned(), &state_change(&before, now), None));
            if self.transact(actions).await?.is_ok() {
                return Ok(());
            }
        }
        Err(DbError::Conflict(format!(
            "the consent state of {phone} kept changing while it was counted"
        )))
    }
}
