//! Live sync: store events (customers, subscribers, orders, carts) re-fetched from the API and applied.
//!
//! Events carry ids only, repeat, and arrive out of order, so every handler reads the current state from
//! BigCommerce and makes ours match it; applying an event twice, or an old one late, changes nothing more.
//! Stores we do not know, or that uninstalled the app, are skipped (their tokens no longer work).

pub mod carts;
pub mod customers;
pub mod orders;
pub mod subscribers;

use crate::store_context::StoreContext;
use crate::{Deps, SyncError};
use shared::StoreHash;
use shared::store_events::StoreEvent;

pub async fn handle(
    deps: &Deps,
    store_hash: &StoreHash,
    scope: &str,
    data: &serde_json::Value,
    hash: &str,
    created_at: i64,
) -> Result<(), SyncError> {
    let event = StoreEvent::from_delivery(scope, data).map_err(|e| SyncError::Permanent(e.to_string()))?;
    let Some(ctx) = StoreContext::load(deps, store_hash).await? else {
        tracing::warn!(scope, hash, "store event for a store we do not know; dropped");
        return Ok(());
    };
    if !ctx.store.is_installed() {
        tracing::info!(scope, hash, "store event after uninstall; dropped");
        return Ok(());
    }
    tracing::info!(scope, hash, created_at, "store event");
    match event {
        StoreEvent::CustomerChanged { customer_id } => customers::changed(deps, &ctx, customer_id).await,
        StoreEvent::CustomerDeleted { customer_id } => customers::deleted(deps, &ctx, customer_id).await,
        StoreEvent::SubscriberChanged { subscriber_id } => subscribers::changed(deps, &ctx, subscriber_id).await,
        StoreEvent::SubscriberDeleted { subscriber_id } => subscribers::deleted(deps, &ctx, subscriber_id).await,
        StoreEvent::OrderChanged { order_id } => orders::changed(deps, &ctx, order_id).await,
        StoreEvent::CartChanged { cart_id } => carts::seen(deps, &ctx, &cart_id, None).await.map(drop),
        StoreEvent::CartAbandoned { cart_id, token } => carts::abandoned(deps, &ctx, cart_id, token).await,
        StoreEvent::CartConverted { cart_id, order_id } => carts::converted(deps, &ctx, &cart_id, order_id).await,
        StoreEvent::CartDeleted { cart_id } => carts::deleted(deps, &ctx, &cart_id).await,
    }
}
