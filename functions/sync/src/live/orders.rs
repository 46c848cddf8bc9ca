//! Order events (created, status updated). A completed order (any status but 0, "Incomplete"):
//! - ends its cart's reminders (converted);
//! - verifies checkbox ticks of its billing phone in that checkout (the order has the checkout's billing
//!   address);
//! - records the purchase on the billing phone's ledger (implied consent; not when cancelled or declined);
//! - adds the shopper as a contact: a guest in "BigCommerce - Guests", a registered customer's number
//!   linked to them when they have no contact yet;
//! - goes to recovered-revenue attribution.

use super::carts;
use crate::checkout_consent;
use crate::store_context::StoreContext;
use crate::{Deps, SyncError};
use shared::Phone;
use shared::bigcommerce::Order;
use shared::contacts::{
    is_completed_order, is_purchase, parse_phone, purchase_event, shopper_contact, shopper_details,
};
use shared::model::ContactSource;

pub async fn changed(deps: &Deps, ctx: &StoreContext, order_id: u64) -> Result<(), SyncError> {
    let order = match ctx.client.order(order_id).await {
        Ok(order) => order,
        Err(e) if e.is_not_found() => {
            tracing::info!(order_id, "order no longer exists; nothing to do");
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    if !is_completed_order(order.status_id) {
        tracing::info!(order_id, status_id = order.status_id, "order not completed yet");
        return Ok(());
    }
    if let Some(cart_id) = &order.cart_id {
        carts::converted(deps, ctx, cart_id, Some(order.id)).await?;
    }
    let country = Some(order.billing_address.country_iso2.as_str()).filter(|c| c.len() == 2);
    let phone = order
        .billing_address
        .phone
        .as_deref()
        .and_then(|raw| parse_phone(raw, country).ok());
    if let Some(phone) = &phone {
        if let Some(cart_id) = &order.cart_id {
            checkout_consent::verify(deps, ctx, cart_id, phone, None, 0).await?;
        }
        if is_purchase(order.status_id) {
            deps.aws
                .db
                .append_consent(&purchase_event(ctx.hash(), phone, &order, ctx.now))
                .await?;
        }
        if ctx.contact_sync().is_some() {
            link_contact(deps, ctx, &order, phone).await?;
        }
    }
    crate::attribution::order_completed(deps, ctx.hash(), &ctx.client, &order).await
}

async fn link_contact(deps: &Deps, ctx: &StoreContext, order: &Order, phone: &Phone) -> Result<(), SyncError> {
    let db = &deps.aws.db;
    let existing = db.get_contact(ctx.hash(), phone).await?;
    let mut details = shopper_details(order);
    if order.customer_id != 0
        && existing.as_ref().is_none_or(|c| c.customer_id.is_none())
        && db.contact_by_customer(ctx.hash(), order.customer_id).await?.is_none()
    {
        details.customer_id = Some(order.customer_id);
    }
    let source = if details.guest {
        ContactSource::GuestOrder
    } else {
        ContactSource::LiveSync
    };
    let contact = shopper_contact(existing.as_ref(), ctx.hash(), phone, &details, source, ctx.now);
    let unchanged = existing.as_ref().is_some_and(|e| {
        let mut e = e.clone();
        e.updated_at = contact.updated_at;
        e == contact
    });
    if !unchanged {
        db.put_contact(&contact).await?;
        tracing::info!(
            order_id = order.id,
            guest = details.guest,
            "order's shopper saved as a contact"
        );
    }
    Ok(())
}
