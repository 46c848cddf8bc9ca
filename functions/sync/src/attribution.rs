//! Recovered revenue: an order whose cart received a reminder within the attribution window is credited to
//! that reminder. Called by [`crate::live`] for completed orders.
//!
//! Last touch ([`shared::recovery::attribute`]): the reminder clicked last within the click window (5 days),
//! else the one delivered last within the delivery window (24 hours). An order from a cart re-created by a
//! recovery link belongs to the reminder that was clicked. Idempotent: an order is credited once, to one
//! reminder, however often its events arrive.

use crate::{Deps, SyncError};
use shared::StoreHash;
use shared::bigcommerce::Order;
use shared::recovery::{AttributionWindows, attribute};

/// Order statuses that are not a purchase: Incomplete (payment never completed), Cancelled, Declined.
const NOT_PURCHASES: &[u32] = &[0, 5, 6];

pub async fn order_completed(deps: &Deps, store_hash: &StoreHash, order: &Order) -> Result<(), SyncError> {
    if NOT_PURCHASES.contains(&order.status_id) {
        return Ok(());
    }
    let Some(cart_id) = order.cart_id.as_deref() else {
        return Ok(());
    };
    let db = &deps.aws.db;
    // A store clock ahead of ours cannot place an order in our future.
    let order_at = order.date_created.min(deps.clock.now());
    let windows = AttributionWindows::default();
    let recreated = db.recreated_cart(store_hash, cart_id).await?;
    let original_cart = recreated.as_ref().map_or(cart_id, |from| from.cart_id.as_str());
    let sends = db.cart_sends(store_hash, original_cart).await?;
    if sends.iter().any(|s| s.recovered_order_id == Some(order.id)) {
        return Ok(());
    }
    let credited = match &recreated {
        Some(from) if windows.within_click(from.clicked_at, order_at) => sends.iter().find(|s| s.step == from.step),
        Some(_) => None,
        None => attribute(&sends, order_at, windows),
    };
    let Some(send) = credited else {
        return Ok(());
    };
    if db
        .record_recovered_order(
            store_hash,
            &send.cart_id,
            send.step,
            order.id,
            order.total_inc_tax,
            order_at,
        )
        .await?
    {
        tracing::info!(
            order_id = order.id,
            step = send.step,
            "order credited to a reminder as recovered revenue"
        );
    } else {
        tracing::info!(
            order_id = order.id,
            step = send.step,
            "the reminder is already credited with another order"
        );
    }
    Ok(())
}
