//! The purge of an uninstalled store, after its grace period: everything the store's data is deleted, except
//! the consent proof (ledger, its idempotency markers, sent markers, send records without their text,
//! erasure records), which gets a TTL of four years after the last message to its number.
//!
//! Uninstall files the store under `PURGE` / `{purge_after}#{store}`; the sweep reads the markers that are due
//! (one Query) and purges each store in bounded steps, so a large store takes several sweeps and a crash
//! loses nothing: every step finds what is left through the store's lists and partitions (never a Scan), and the
//! marker goes last. A re-install within the grace period clears `purge_after`; its marker is then dropped.

use super::keys::{
    CONSENT_KEY_PREFIX, CONSENT_PREFIX, CONTACT_SK, ERASURE_PREFIX, PHONE_CART_PREFIX, PURGE_PK, SEND_PREFIX,
    SENT_PREFIX, STORE_SK, TTL_ATTRIBUTE, cart_pk, group_pk, phone_pk, purge_due_range, purge_sk, stats_pk,
    store_contacts, store_decisions, store_pk, store_sends, store_subscribers, time_in_sort_key,
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

impl PurgeDue {
    /// The marker uninstall files for `store` at `purge_after`, as [`Db::stores_due_for_purge`] finds it (an
    /// in-memory adapter of the sweep's ports makes its own).
    pub fn filed(store_hash: StoreHash, purge_after: DateTime<Utc>) -> Self {
        Self {
            marker_sk: purge_sk(purge_after, &store_hash),
            store_hash,
        }
    }
}

/// What one purge step did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PurgeOutcome {
    /// Nothing of the store is left but its proof (and the marker is gone).
    pub finished: bool,
    /// The store was re-installed, or its purge had finished but for the marker: nothing was deleted.
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
    /// Write requests made (deletions of items already gone included).
    writes: u32,
}

impl Step<'_> {
    fn spent(&self) -> bool {
        self.writes >= PURGE_WRITES_PER_STEP
    }
}

/// Items read per page of a list.
const LIST_PAGE: i32 = 100;

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
        let (from, to) = purge_due_range(now);
        let items = self.query_partition(PURGE_PK, Some((from, &to))).await?;
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
                skipped: true,
                ..PurgeOutcome::default()
            });
        }
        let mut step = Step {
            store,
            groups: BTreeSet::from([GUEST_GROUP.to_owned()]),
            phones_done: HashSet::new(),
            carts_done: HashSet::new(),
            outcome: PurgeOutcome::default(),
            writes: 0,
        };
        if let Some((_, Some(settings))) = self.store_with_settings(store).await? {
            step.groups.insert(settings.subscriber_group.clone());
            step.groups.insert(settings.customer_group.clone());
        }
        if let Some(directory) = self.store_directory(store).await? {
            step.groups.extend(directory.customer_groups.values().cloned());
        }

        // Each list is read from its start, a page at a time: what is purged leaves it (contacts, decisions and
        // subscribers are deleted, send records lose their list keys). A page with nothing new (the index lags)
        // ends this step; the next sweep goes on, so nothing listed is ever skipped.
        // Contacts: each phone's partition (proof kept, the rest deleted, the contact last).
        loop {
            let page = self.list_page(&store_contacts(store)).await?;
            if page.is_empty() {
                break;
            }
            let mut progressed = false;
            for item in page {
                let Some(phone) = attribute(&item, "phone").and_then(|p| Phone::from_e164(p).ok()) else {
                    continue;
                };
                progressed |= self.purge_phone(&mut step, &phone, now).await?;
                if step.spent() {
                    return Ok(step.outcome);
                }
            }
            if !progressed {
                return Ok(step.outcome);
            }
        }
        // Sends: numbers without a contact, and the carts of every send.
        loop {
            let page = self.list_page(&store_sends(store)).await?;
            if page.is_empty() {
                break;
            }
            let mut progressed = false;
            for item in page {
                let record: SendRecord = serde_dynamo::from_item(item)?;
                progressed |= self.purge_phone(&mut step, &record.phone, now).await?;
                progressed |= self.purge_cart(&mut step, &record.cart_id, None).await?;
                if step.spent() {
                    return Ok(step.outcome);
                }
            }
            if !progressed {
                return Ok(step.outcome);
            }
        }
        // Carts with decisions (but no send), then subscribers.
        for list in [store_decisions(store), store_subscribers(store)] {
            loop {
                let page = self.list_page(&list).await?;
                if page.is_empty() {
                    break;
                }
                let mut progressed = false;
                for item in page {
                    if list.ends_with("#DECISIONS") {
                        if let Some(cart_id) = attribute(&item, "cart_id") {
                            progressed |= self.purge_cart(&mut step, cart_id, None).await?;
                        }
                    } else if let (Some(pk), Some(sk)) = (attribute(&item, "pk"), attribute(&item, "sk")) {
                        progressed |= self.delete_counted(&mut step, pk, sk).await?;
                    }
                    if step.spent() {
                        return Ok(step.outcome);
                    }
                }
                if !progressed {
                    return Ok(step.outcome);
                }
            }
        }
        // The settings page's counters (no personal data; day items would expire anyway).
        for item in self.query_partition(&stats_pk(store), None).await? {
            let sk = item.get("sk").and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
            self.delete_counted(&mut step, &stats_pk(store), &sk).await?;
        }
        // The store's own partition, the store record last; erasure records are proof (they carry their TTL).
        let items = self.query_partition(&store_pk(store), None).await?;
        for item in &items {
            let sk = super::sort_key(item);
            if sk == STORE_SK || sk.starts_with(ERASURE_PREFIX) {
                continue;
            }
            self.delete_counted(&mut step, &store_pk(store), &sk).await?;
        }
        self.delete_counted(&mut step, &store_pk(store), STORE_SK).await?;
        self.delete_existing(PURGE_PK, &due.marker_sk).await?;
        step.outcome.finished = true;
        Ok(step.outcome)
    }

    /// Purges one phone's partition; `Ok(false)` when this step already did.
    async fn purge_phone(&self, step: &mut Step<'_>, phone: &Phone, now: DateTime<Utc>) -> Result<bool, DbError> {
        if !step.phones_done.insert(phone.clone()) {
            return Ok(false);
        }
        let pk = phone_pk(step.store, phone);
        let items = self.query_partition(&pk, None).await?;
        // The last message to the number (or, without one, its last ledger event): sort keys carry the time.
        let last = items
            .iter()
            .filter_map(|item| time_in_sort_key(&super::sort_key(item)))
            .max()
            .unwrap_or(now);
        let proof_until = last + Duration::days(PROOF_RETENTION_DAYS);
        let mut has_contact = false;
        for item in &items {
            let sk = super::sort_key(item);
            if [CONSENT_PREFIX, CONSENT_KEY_PREFIX, SENT_PREFIX]
                .iter()
                .any(|p| sk.starts_with(p))
            {
                self.keep_until(step, &pk, &sk, proof_until).await?;
            } else if let Some(cart_id) = sk.strip_prefix(PHONE_CART_PREFIX) {
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
        Ok(true)
    }

    /// Deletes a cart's items but its send records, which are kept as proof without their text. `Ok(false)` when
    /// this step already did.
    async fn purge_cart(
        &self,
        step: &mut Step<'_>,
        cart_id: &str,
        proof_until: Option<DateTime<Utc>>,
    ) -> Result<bool, DbError> {
        if !step.carts_done.insert(cart_id.to_owned()) {
            return Ok(false);
        }
        let pk = cart_pk(step.store, cart_id);
        for item in self.query_partition(&pk, None).await? {
            let sk = super::sort_key(&item);
            if sk.starts_with(SEND_PREFIX) {
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
                step.writes += 1;
            } else {
                self.delete_counted(step, &pk, &sk).await?;
            }
        }
        Ok(true)
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
        step.writes += 1;
        Ok(())
    }

    /// Deletes one item; `Ok(true)` when it existed.
    async fn delete_counted(&self, step: &mut Step<'_>, pk: &str, sk: &str) -> Result<bool, DbError> {
        step.writes += 1;
        let existed = self.delete_existing(pk, sk).await?;
        if existed {
            step.outcome.items_deleted += 1;
        }
        Ok(existed)
    }

    /// The first page of one `StoreLists` list.
    async fn list_page(&self, list: &str) -> Result<Vec<Item>, DbError> {
        let output = self.store_list_query(list).limit(LIST_PAGE).send().await?;
        let page = output.items.unwrap_or_default();
        self.counter.read(page.len());
        Ok(page)
    }
}

fn attribute<'a>(item: &'a Item, name: &str) -> Option<&'a String> {
    item.get(name).and_then(|v| v.as_s().ok())
}
