//! Bulk consent import: the bulk sync's ledger events written with batched writes rather than transactions
//! (a page of 250 customers would be five 100-action transactions).
//!
//! Idempotent in two ways. An event whose idempotency marker exists (a redelivered page, a second run) is
//! skipped, as [`Db::append_consent`] would. And the events carry an id and a time derived from their
//! idempotency key ([`crate::contacts::stable_event`]), so two deliveries of one page racing each other write
//! the same items twice instead of two events.
//!
//! The page's phones are then moved between the store's consent counters in batches
//! ([`Db::recount_consent_states`]): a few transactions per page, not one per phone.

use super::keys::{consent_key_sk, consent_sk, phone_pk};
use super::{Db, DbError, to_item};
use crate::consent::ConsentEvent;
use std::collections::HashSet;

impl Db {
    /// Writes the events not yet in their ledgers (by idempotency key); returns how many were new.
    pub async fn import_consents(&self, events: &[ConsentEvent]) -> Result<usize, DbError> {
        let mut seen = HashSet::new();
        let events: Vec<&ConsentEvent> = events
            .iter()
            .filter(|e| seen.insert((phone_pk(&e.store_hash, &e.phone), e.idempotency_key.clone())))
            .collect();
        let markers: Vec<(String, String)> = events
            .iter()
            .map(|e| (phone_pk(&e.store_hash, &e.phone), consent_key_sk(&e.idempotency_key)))
            .collect();
        let recorded: HashSet<(String, String)> = self
            .batch_get(markers.clone())
            .await?
            .into_iter()
            .filter_map(|item| Some((item.get("pk")?.as_s().ok()?.clone(), super::sort_key(&item))))
            .collect();
        let mut items = Vec::with_capacity(events.len() * 2);
        let mut new = 0;
        for (event, (pk, marker_sk)) in events.iter().zip(markers) {
            if recorded.contains(&(pk.clone(), marker_sk.clone())) {
                continue;
            }
            let marker = serde_json::json!({ "event_id": event.event_id });
            items.push(to_item(&marker, &[("pk", pk.clone()), ("sk", marker_sk)])?);
            items.push(to_item(
                *event,
                &[("pk", pk), ("sk", consent_sk(event.occurred_at, &event.event_id))],
            )?);
            new += 1;
        }
        self.batch_put(items).await?;
        // Every phone of the page, not only those with new events: a redelivery after a crash that wrote the
        // events but not the counts still counts them (a phone already counted in its state moves nothing).
        self.recount_consent_states_of(events).await?;
        Ok(new)
    }
}
