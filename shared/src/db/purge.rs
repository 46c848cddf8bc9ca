//! The purge of an uninstalled store, after its grace period: everything the store's data is deleted, except
//! the consent proof (ledger, its idempotency markers, sent markers, send records without their text,
//! erasure records), which gets a TTL of four years after the last message to its number.
//!
//! Uninstall files the store under `PURGE` / `{purge_after}#{store}`; the sweep reads the markers that are due
//! (one Query) and purges each store in bounded steps, so a large store takes several sweeps and a crash
//! loses nothing: every step finds what is left through the store's lists and partitions (never a Scan), and the
//! marker goes last. A re-install within the grace period clears `purge_after`; its marker is then dropped.

use super::keys::{
    CONTACT_SK, PURGE_PK, STORE_SK, TTL_ATTRIBUTE, cart_pk, group_pk, phone_pk, purge_sk, store_contacts,
    store_decisions, store_pk, store_sends, store_subscribers,
};
use super::{Db, DbError, Item, n, s};
use crate::model::contact::GUEST_GROUP;
use crate::model::{SendRecord, StoreStatus};
use crate::{Phone, StoreHash};
use chrono::{DateTime, Duration, Utc};
use std::collections::{BTreeSet, HashSet};

/// Days between an uninstall and the purge of the store's data (a re-install within them keeps everything).
pub const PURGE_GRACE_DAYS: i64 = 30;
/// Consent proof is kept four years (the US limitation period, 28 U.S.C. §1658(a)) after the last message to
/// its number, or after the last ledger event when none was sent.
pub const PROOF_RETENTION_DAYS: i64 = 4 * 365 + 1;

/// A store whose purge is due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurgeDue {
    pub store_hash: StoreHash,
    marker_sk: String,
}

/// What one purge step did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PurgeOutcome {
    /// Nothing of the store is left but its proof (and the marker is gone).
    pub finished: bool,
    /// The store was re-installed (or already purged): nothing was deleted.
    pub skipped: bool,
    pub items_deleted: u32,
    /// Proof items given their four-year TTL.
    pub proof_items_kept: u32,
}

/// Writes one purge step may make; the rest waits for the next sweep.
pub const PURGE_WRITES_PER_STEP: u32 = 1_000;

struct Step<'a> {
    store: &'a StoreHash,
    groups: BTreeSet<String>,
    phones_done: HashSet<Phone>,
    carts_done: HashSet<String>,
    outcome: PurgeOutcome,
    budget: u32,
}

impl Step<'_> {
    fn spent(&self) -> bool {
        self.outcome.items_deleted + self.outcome.proof_items_kept >= self.budget
    }
}

impl Db {
    /// Files the store for purging at `purge_after` (uninstall).
    pub(crate) async fn file_for_purge(&self, store: &StoreHash, purge_after: DateTime<Utc>) -> Result<(), DbError> {
        let item: Item = [
            ("pk".to_owned(), s(PURGE_PK)),
            ("sk".to_owned(), s(&purge_sk(purge_after, store))),
            ("store_hash".to_owned(), s(store.as_str())),
        ]
        .into();
        self.put(item).await
    }

    /// Stores whose purge is due at `now`.
    pub async fn stores_due_for_purge(&self, now: DateTime<Utc>) -> Result<Vec<PurgeDue>, DbError> {
        let items = self
            .query_partition(PURGE_PK, Some(("0", &format!("{}#~", super::keys::timestamp(now)))))
            .await?;
        Ok(items
            .iter()
            .filter_map(|item| {
                let store = item.get("store_hash").and_then(|v| v.as_s().ok())?;
                Some(PurgeDue {
                    store_hash: StoreHash::parse(store).ok()?,
                    marker_sk: item.get("sk").and_then(|v| v.as_s().ok())?.clone(),
                })
            })
            .collect())
    }

    /// One bounded step of a due store's purge (see the module docs); call again until `finished`.
    pub async fn purge_store(&self, due: &PurgeDue, now: DateTime<Utc>) -> Result<PurgeOutcome, DbError> {
        let store = &due.store_hash;
        let record = self.get_store(store).await?;
        let due_now = record
            .as_ref()
            .is_some_and(|r| r.status == StoreStatus::Uninstalled && r.purge_after.is_some_and(|at| at <= now));
        if !due_now {
            // Re-installed (or uninstalled again later, with a newer marker), or purged before a crash.
            self.delete_existing(PURGE_PK, &due.marker_sk).await?;
            return Ok(PurgeOutcome {
                finished: true,
                skipped: record.is_some(),
                ..PurgeOutcome::default()
            });
        }
        let mut step = Step {
            store,
            groups: BTreeSet::from([GUEST_GROUP.to_owned()]),
            phones_done: HashSet::new(),
            carts_done: HashSet::new(),
            outcome: PurgeOutcome::default(),
            budget: PURGE_WRITES_PER_STEP,
        };
        if let Some((_, Some(settings))) = self.store_with_settings(store).await? {
            step.groups.insert(settings.subscriber_group.clone());
            step.groups.insert(settings.customer_group.clone());
        }
        if let Some(directory) = self.store_directory(store).await? {
            step.groups.extend(directory.customer_groups.values().cloned());
        }

        // Contacts: each phone's partition (proof kept, the rest deleted, the contact last).
        let phones = self.list_keys(&store_contacts(store), "phone").await?;
        for e164 in phones {
            if let Ok(phone) = Phone::from_e164(&e164) {
                self.purge_phone(&mut step, &phone, now).await?;
            }
            if step.spent() {
                return Ok(step.outcome);
            }
        }
        // Sends: numbers without a contact, and the carts of every send (sends leave the list once kept).
        for item in self.list_items(&store_sends(store)).await? {
            let record: SendRecord = serde_dynamo::from_item(item)?;
            self.purge_phone(&mut step, &record.phone, now).await?;
            self.purge_cart(&mut step, &record.cart_id, None).await?;
            if step.spent() {
                return Ok(step.outcome);
            }
        }
        for cart_id in self.list_keys(&store_decisions(store), "cart_id").await? {
            self.purge_cart(&mut step, &cart_id, None).await?;
            if step.spent() {
                return Ok(step.outcome);
            }
        }
        for item in self.list_items(&store_subscribers(store)).await? {
            let (Some(pk), Some(sk)) = (
                item.get("pk").and_then(|v| v.as_s().ok()),
                item.get("sk").and_then(|v| v.as_s().ok()),
            ) else {
                continue;
            };
            self.delete_counted(&mut step, pk, sk).await?;
            if step.spent() {
                return Ok(step.outcome);
            }
        }
        // The store's own partition, the store record last; erasure records are proof (they carry their TTL).
        let items = self.query_partition(&store_pk(store), None).await?;
        for item in &items {
            let sk = item.get("sk").and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
            if sk == STORE_SK || sk.starts_with("ERASURE#") {
                continue;
            }
            self.delete_counted(&mut step, &store_pk(store), &sk).await?;
        }
        self.delete_counted(&mut step, &store_pk(store), STORE_SK).await?;
        self.delete_existing(PURGE_PK, &due.marker_sk).await?;
        step.outcome.finished = true;
        Ok(step.outcome)
    }

    async fn purge_phone(&self, step: &mut Step<'_>, phone: &Phone, now: DateTime<Utc>) -> Result<(), DbError> {
        if !step.phones_done.insert(phone.clone()) {
            return Ok(());
        }
        let pk = phone_pk(step.store, phone);
        let items = self.query_partition(&pk, None).await?;
        // The last message to the number (or, without one, its last ledger event): sort keys carry the time.
        let last = items
            .iter()
            .filter_map(|item| item.get("sk").and_then(|v| v.as_s().ok()))
            .filter(|sk| sk.starts_with("SENT#") || sk.starts_with("CONSENT#"))
            .filter_map(|sk| sk.split('#').nth(1))
            .filter_map(|at| DateTime::parse_from_rfc3339(at).ok())
            .map(|at| at.with_timezone(&Utc))
            .max()
            .unwrap_or(now);
        let proof_until = last + Duration::days(PROOF_RETENTION_DAYS);
        let mut has_contact = false;
        for item in &items {
            let sk = item.get("sk").and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
            if ["CONSENT#", "CONSENTKEY#", "SENT#"].iter().any(|p| sk.starts_with(p)) {
                self.keep_until(step, &pk, &sk, proof_until).await?;
            } else if let Some(cart_id) = sk.strip_prefix("CART#") {
                self.purge_cart(step, cart_id, Some(proof_until)).await?;
                self.delete_counted(step, &pk, &sk).await?;
            } else if sk == CONTACT_SK {
                has_contact = true;
            } else {
                self.delete_counted(step, &pk, &sk).await?;
            }
        }
        for group in step.groups.clone() {
            self.delete_counted(step, &group_pk(step.store, &group), phone.as_e164())
                .await?;
        }
        if has_contact {
            self.delete_counted(step, &pk, CONTACT_SK).await?;
        }
        Ok(())
    }

    /// Deletes a cart's items but its send records, which are kept as proof without their text.
    async fn purge_cart(
        &self,
        step: &mut Step<'_>,
        cart_id: &str,
        proof_until: Option<DateTime<Utc>>,
    ) -> Result<(), DbError> {
        if !step.carts_done.insert(cart_id.to_owned()) {
            return Ok(());
        }
        let pk = cart_pk(step.store, cart_id);
        for item in self.query_partition(&pk, None).await? {
            let sk = item.get("sk").and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
            if sk.starts_with("SEND#") {
                let record: SendRecord = serde_dynamo::from_item(item)?;
                let until = proof_until.unwrap_or_else(|| {
                    record.sent_at.unwrap_or(record.claimed_at) + Duration::days(PROOF_RETENTION_DAYS)
                });
                self.counter.call();
                self.client
                    .update_item()
                    .table_name(&self.table)
                    .key("pk", s(&pk))
                    .key("sk", s(&sk))
                    .update_expression("SET body = :body, #ttl = :until REMOVE gsi2pk, gsi2sk")
                    .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
                    .expression_attribute_values(":body", s(&super::erased_body(record.step, record.settings_version)))
                    .expression_attribute_values(":until", n(until.timestamp()))
                    .send()
                    .await?;
                step.outcome.proof_items_kept += 1;
            } else {
                self.delete_counted(step, &pk, &sk).await?;
            }
        }
        Ok(())
    }

    async fn keep_until(&self, step: &mut Step<'_>, pk: &str, sk: &str, until: DateTime<Utc>) -> Result<(), DbError> {
        self.counter.call();
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .update_expression("SET #ttl = :until")
            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
            .expression_attribute_values(":until", n(until.timestamp()))
            .send()
            .await?;
        step.outcome.proof_items_kept += 1;
        Ok(())
    }

    async fn delete_counted(&self, step: &mut Step<'_>, pk: &str, sk: &str) -> Result<(), DbError> {
        if self.delete_existing(pk, sk).await? {
            step.outcome.items_deleted += 1;
        }
        Ok(())
    }

    /// Every item of one `StoreLists` list.
    async fn list_items(&self, list: &str) -> Result<Vec<Item>, DbError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let output = self
                .store_list_query(list)
                .set_exclusive_start_key(start.take())
                .send()
                .await?;
            let page = output.items.unwrap_or_default();
            self.counter.read(page.len());
            items.extend(page);
            match output.last_evaluated_key {
                Some(key) => start = Some(key),
                None => return Ok(items),
            }
        }
    }

    /// One attribute of every item of a `StoreLists` list, without repeats.
    async fn list_keys(&self, list: &str, attribute: &str) -> Result<Vec<String>, DbError> {
        let mut seen = BTreeSet::new();
        for item in self.list_items(list).await? {
            if let Some(value) = item.get(attribute).and_then(|v| v.as_s().ok()) {
                seen.insert(value.clone());
            }
        }
        Ok(seen.into_iter().collect())
    }
}
