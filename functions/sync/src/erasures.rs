//! Deleted customers stay erased even when a copy of them is in flight.
//!
//! A bulk page or a live update may have read a customer just before the merchant deleted them. If the
//! contact existed, the erasure's time wins the merge ([`shared::contacts::merge_customer_contact`]). If it did
//! not exist yet, the deletion found nothing to erase: so every deletion leaves a tombstone (a marker with a
//! TTL, written by [`shared::db::Db::erase_person`]), and whoever writes customers' contacts checks the tombstones after writing and erases what they
//! name. Either the writer sees the tombstone, or the deletion, which comes after it, sees the contact.

use crate::{Deps, SyncError};
use chrono::{DateTime, Utc};
use shared::db::keys::{dedupe_pk, deleted_customer_tombstone as tombstone};
use shared::model::Contact;
use shared::{Phone, StoreHash};
use std::collections::HashSet;

/// Erases the just-written contacts whose customer was deleted meanwhile; returns their numbers.
pub async fn erase_deleted(
    deps: &Deps,
    store: &StoreHash,
    contacts: &[Contact],
    now: DateTime<Utc>,
) -> Result<HashSet<Phone>, SyncError> {
    let db = &deps.aws.db;
    let keys: Vec<(String, String)> = contacts
        .iter()
        .filter_map(|c| c.customer_id)
        .map(|id| (dedupe_pk(&tombstone(store, id)), "DEDUPE".to_owned()))
        .collect();
    if keys.is_empty() {
        return Ok(HashSet::new());
    }
    let found: HashSet<String> = db
        .batch_get(keys)
        .await?
        .into_iter()
        .filter_map(|item| item.get("pk").and_then(|v| v.as_s().ok()).cloned())
        .collect();
    let erased: Vec<Contact> = contacts
        .iter()
        .filter(|c| {
            c.customer_id
                .is_some_and(|id| found.contains(&dedupe_pk(&tombstone(store, id))))
        })
        .map(|c| {
            let mut c = c.clone();
            c.erase(now);
            c
        })
        .collect();
    if !erased.is_empty() {
        db.put_contacts(&erased).await?;
        tracing::info!(erased = erased.len(), "customers deleted while being synced: erased");
    }
    Ok(erased.into_iter().map(|c| c.phone).collect())
}
