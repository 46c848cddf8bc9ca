//! Recovered revenue: an order whose cart received a reminder within the attribution window is credited to
//! that reminder. Called by [`crate::live`] for completed orders.
//!
//! Last touch ([`shared::recovery::attribute`]): the reminder clicked last within the click window (5 days),
//! else the one delivered last within the delivery window (24 hours). An order from a cart re-created by a
//! recovery link belongs to the reminder that was clicked. Idempotent: an order is credited once, to one
//! reminder, however often its events arrive, and its `cart.recovered` is published once: by the invocation that
//! credited it, or (if that one died first) by a later delivery of the order once its claim went stale.

use crate::{Deps, SyncError};
use shared::StoreHash;
use shared::bigcommerce::{Order, StoreClient};
use shared::messages::{CartRecovered, DomainEvent};
use shared::model::SendRecord;
use shared::recovery::{AttributionWindows, RECOVERY_EVENT_LEASE, RecoveredOrder, attribute};

/// Order statuses that are not a purchase: Incomplete (payment never completed), Cancelled, Declined.
const NOT_PURCHASES: &[u32] = &[0, 5, 6];

pub async fn order_completed(
    deps: &Deps,
    store_hash: &StoreHash,
    client: &StoreClient,
    order: &Order,
) -> Result<(), SyncError> {
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
    if let Some(send) = sends.iter().find(|s| s.recovered_order_id == Some(order.id)) {
        // Credited before: publish its event if the invocation that credited it died before doing so.
        return publish_if_unpublished(deps, cart_id, send).await;
    }
    let credited = match &recreated {
        Some(from) if windows.within_click(from.clicked_at, order_at) => sends.iter().find(|s| s.step == from.step),
        Some(_) => None,
        None => attribute(&sends, order_at, windows),
    };
    let Some(send) = credited else {
        return Ok(());
    };
    let credit = RecoveredOrder {
        order_id: order.id,
        amount: order.total_inc_tax,
        currency: order.currency_code.clone(),
        at: deps.clock.now(),
        coupon: redeemed_coupon(client, order.id, send).await?,
    };
    let holder = uuid::Uuid::new_v4().to_string();
    if !db
        .record_recovered_order(store_hash, &send.cart_id, send.step, &credit, &holder)
        .await?
    {
        tracing::info!(
            order_id = order.id,
            step = send.step,
            "the reminder is already credited with an order"
        );
        return Ok(());
    }
    tracing::info!(
        order_id = order.id,
        step = send.step,
        "order credited to a reminder as recovered revenue"
    );
    shared::failpoint!(
        "recovery.after_credit",
        store_hash.as_str(),
        Err(SyncError::Busy("failpoint"))
    );
    let mut credited = send.clone();
    credited.recovered_order_id = Some(credit.order_id);
    credited.recovered_amount = Some(credit.amount);
    credited.recovered_currency = Some(credit.currency);
    credited.recovered_at = Some(credit.at);
    credited.recovered_coupon = credit.coupon;
    publish(deps, cart_id, &credited, &holder).await
}

/// The reminder's unique coupon code, if the order redeemed it.
async fn redeemed_coupon(client: &StoreClient, order_id: u64, send: &SendRecord) -> Result<Option<String>, SyncError> {
    let Some(code) = send.coupon_code.as_deref() else {
        return Ok(None);
    };
    match client.order_coupons(order_id).await {
        Ok(coupons) => Ok(coupons
            .into_iter()
            .filter_map(|c| c.code)
            .find(|redeemed| redeemed.eq_ignore_ascii_case(code))),
        Err(error) if error.is_retryable() => Err(error.into()),
        Err(error) => {
            tracing::warn!(order_id, %error, "the order's coupons could not be read");
            Ok(None)
        }
    }
}

/// A credit whose `cart.recovered` nobody published: claimed and published, unless the invocation that
/// credited it may still be publishing (then the delivery comes back later to check).
async fn publish_if_unpublished(deps: &Deps, order_cart_id: &str, send: &SendRecord) -> Result<(), SyncError> {
    let Some(order_id) = send.recovered_order_id else {
        return Ok(());
    };
    if send.recovery_published_at.is_some() {
        return Ok(());
    }
    let now = deps.clock.now();
    let holder = uuid::Uuid::new_v4().to_string();
    if !deps
        .aws
        .db
        .claim_recovery_event(send, order_id, &holder, now, now - RECOVERY_EVENT_LEASE)
        .await?
    {
        return Err(SyncError::Busy(
            "another invocation is publishing the order's cart.recovered",
        ));
    }
    publish(deps, order_cart_id, send, &holder).await
}

/// Publishes `cart.recovered` for a credited `send` whose publication `holder` claimed, and records that it
/// was published (or releases the claim when it could not be, so a retry publishes it).
async fn publish(deps: &Deps, order_cart_id: &str, send: &SendRecord, holder: &str) -> Result<(), SyncError> {
    let (Some(order_id), Some(amount), Some(recovered_at)) =
        (send.recovered_order_id, send.recovered_amount, send.recovered_at)
    else {
        return Ok(());
    };
    let db = &deps.aws.db;
    let store_hash = &send.store_hash;
    let event = DomainEvent::CartRecovered(CartRecovered {
        event_id: format!("{store_hash}:{}:{}:{order_id}", send.cart_id, send.step),
        store_hash: store_hash.clone(),
        cart_id: send.cart_id.clone(),
        order_cart_id: order_cart_id.to_owned(),
        order_id,
        amount,
        currency: send.recovered_currency.clone().unwrap_or_default(),
        step: send.step,
        provider_message_id: send.provider_message_id.clone(),
        recovered_at,
    });
    if let Err(error) = deps.aws.bus.publish(&event).await {
        db.settle_recovery_event(store_hash, &send.cart_id, send.step, holder, None)
            .await?;
        return Err(error.into());
    }
    db.settle_recovery_event(store_hash, &send.cart_id, send.step, holder, Some(deps.clock.now()))
        .await?;
    Ok(())
}
