//! Cart events: the [`Cart`] record the recovery flow reads, kept from the cart's checkout.
//!
//! The checkout (one request) holds the cart's items, amounts and email and, once the shopper reaches the
//! billing step, the phone. Before that, the number is a signed-in customer's contact number, or none: a
//! number ticked in our checkbox is never the cart's number, since whoever built the cart may have typed
//! anyone's number there ([`shared::carts::proven_phone`]). The reminder timer and its rules are in
//! [`shared::carts`]. A checkout's billing
//! phone also verifies any checkbox ticked for that number in that checkout ([`crate::checkout_consent`]).

use crate::checkout_consent;
use crate::store_context::StoreContext;
use crate::{Deps, SyncError};
use shared::Phone;
use shared::bigcommerce::{Checkout, OrderQuery};
use shared::carts::{CartSignal, billing_phone, cart_contents, ended_unseen, finish, proven_phone, track};
use shared::contacts::{ShopperDetails, is_completed_order, normalize_email};
use shared::model::{Address, Cart, CartStatus};

/// What re-reading a cart found.
#[derive(Debug, Clone, PartialEq)]
pub enum CheckoutState {
    /// The checkout exists; its billing phone, when it has a usable one.
    Open { billing_phone: Option<Phone> },
    /// Converted, emptied or expired at BigCommerce.
    Gone,
}

/// A checkbox ticked in the checkout, being checked for the `attempt`-th time (the ticked number itself is
/// not the cart's business: only the billing phone verifies it).
#[derive(Debug, Clone, Copy)]
pub struct ConsentCheck {
    pub attempt: u32,
}

/// A cart was created or updated, or is re-read for a checkbox ticked in its checkout.
pub async fn seen(
    deps: &Deps,
    ctx: &StoreContext,
    cart_id: &str,
    consent: Option<ConsentCheck>,
) -> Result<CheckoutState, SyncError> {
    refresh(deps, ctx, cart_id, CartSignal::Seen, consent).await
}

/// BigCommerce's abandonment signal: a fallback trigger for carts whose updates we missed.
pub async fn abandoned(
    deps: &Deps,
    ctx: &StoreContext,
    cart_id: Option<String>,
    token: Option<String>,
) -> Result<(), SyncError> {
    let cart_id = match (cart_id, token) {
        (Some(id), _) => id,
        (None, Some(token)) => match ctx.client.abandoned_cart_id(&token).await {
            Ok(id) => id,
            Err(e) if e.is_not_found() => {
                tracing::info!("abandoned-cart token no longer resolves; nothing to track");
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        },
        (None, None) => return Err(SyncError::Permanent("abandoned cart without id or token".into())),
    };
    refresh(deps, ctx, &cart_id, CartSignal::Abandoned, None)
        .await
        .map(drop)
}

pub async fn converted(deps: &Deps, ctx: &StoreContext, cart_id: &str, order_id: Option<u64>) -> Result<(), SyncError> {
    end(deps, ctx, cart_id, CartStatus::Converted, order_id).await
}

pub async fn deleted(deps: &Deps, ctx: &StoreContext, cart_id: &str) -> Result<(), SyncError> {
    end(deps, ctx, cart_id, CartStatus::Deleted, None).await
}

async fn refresh(
    deps: &Deps,
    ctx: &StoreContext,
    cart_id: &str,
    signal: CartSignal,
    consent: Option<ConsentCheck>,
) -> Result<CheckoutState, SyncError> {
    let db = &deps.aws.db;
    let checkout = match ctx.client.checkout(cart_id).await {
        Ok(checkout) => checkout,
        Err(e) if e.is_not_found() => {
            gone(deps, ctx, cart_id).await?;
            return Ok(CheckoutState::Gone);
        }
        Err(e) => return Err(e.into()),
    };
    let billing_phone = billing_phone(&checkout).and_then(Result::ok);
    let existing = db.get_cart(ctx.hash(), cart_id).await?;
    let mut contents = cart_contents(&checkout, billing_phone.clone());
    if contents.customer_id != 0 && (contents.first_name.is_none() || contents.phone.is_none()) {
        // A signed-in shopper before the billing step: their name and number are on their contact.
        if let Some(contact) = db.contact_by_customer(ctx.hash(), contents.customer_id).await? {
            contents.first_name = contents.first_name.or(contact.first_name);
            contents.phone = proven_phone(&checkout, Some(&contact.phone));
        }
    }
    let cart = track(
        existing.clone(),
        ctx.hash(),
        cart_id,
        contents,
        signal,
        checkout.updated_time,
        ctx.reminders(),
        ctx.now,
    );
    save(deps, ctx, existing.as_ref(), &cart).await?;
    if let Some(phone) = &billing_phone {
        // The consent box sits beside the billing phone: a checkout that reached it showed the box (counted
        // once per checkout, however often its events arrive).
        if ctx
            .reminders()
            .is_some_and(|s| s.consent_option == shared::model::ConsentOption::SmsCheckbox)
        {
            db.count_once(ctx.hash(), cart_id, "SHOWN", 0, ctx.now, &[("consent_box_shown", 1)])
                .await?;
        }
        let details = checkout_details(&checkout, ctx.now);
        let attempt = consent.map_or(0, |c| c.attempt);
        checkout_consent::verify(deps, ctx, cart_id, phone, Some(&details), attempt).await?;
    }
    Ok(CheckoutState::Open { billing_phone })
}

/// The checkout is gone at BigCommerce: converted if an order came of it, else deleted.
async fn gone(deps: &Deps, ctx: &StoreContext, cart_id: &str) -> Result<(), SyncError> {
    let Some(cart) = deps.aws.db.get_cart(ctx.hash(), cart_id).await? else {
        return Ok(());
    };
    if matches!(cart.status, CartStatus::Converted | CartStatus::Deleted) {
        return Ok(());
    }
    let order = ctx
        .client
        .orders(&OrderQuery {
            cart_id: Some(cart_id.to_owned()),
            ..OrderQuery::default()
        })
        .await?
        .into_iter()
        .find(|o| is_completed_order(o.status_id));
    let (status, order_id) = match order {
        Some(order) => (CartStatus::Converted, Some(order.id)),
        None => (CartStatus::Deleted, None),
    };
    let ended = finish(cart.clone(), status, order_id, ctx.now);
    save(deps, ctx, Some(&cart), &ended).await
}

async fn end(
    deps: &Deps,
    ctx: &StoreContext,
    cart_id: &str,
    status: CartStatus,
    order_id: Option<u64>,
) -> Result<(), SyncError> {
    let Some(cart) = deps.aws.db.get_cart(ctx.hash(), cart_id).await? else {
        // Its earlier events are late or lost: remember the ending, so they find the cart final.
        let ended = ended_unseen(ctx.hash(), cart_id, status, order_id, ctx.now);
        return save(deps, ctx, None, &ended).await;
    };
    let ended = finish(cart.clone(), status, order_id, ctx.now);
    save(deps, ctx, Some(&cart), &ended).await
}

/// Writes the cart unless nothing but its `updated_at` would change (repeated events cost no write).
async fn save(deps: &Deps, ctx: &StoreContext, before: Option<&Cart>, after: &Cart) -> Result<(), SyncError> {
    let unchanged = before.is_some_and(|b| {
        let mut b = b.clone();
        b.updated_at = after.updated_at;
        b == *after
    });
    if !unchanged {
        deps.aws.db.put_cart(after, ctx.now).await?;
        tracing::info!(
            cart_id = %after.cart_id,
            status = ?after.status,
            next_due_at = ?after.next_due_at,
            has_phone = after.phone.is_some(),
            "cart saved"
        );
    }
    Ok(())
}

/// The shopper's details as the checkout's billing address has them.
fn checkout_details(checkout: &Checkout, now: chrono::DateTime<chrono::Utc>) -> ShopperDetails {
    let billing = checkout.billing_address.clone().unwrap_or_default();
    let text = |v: &str| Some(v.trim()).filter(|v| !v.is_empty()).map(str::to_owned);
    ShopperDetails {
        first_name: text(&billing.first_name),
        last_name: text(&billing.last_name),
        email: billing
            .email
            .as_deref()
            .or(checkout.cart.email.as_deref())
            .and_then(normalize_email),
        address: Some(Address {
            first_name: text(&billing.first_name),
            last_name: text(&billing.last_name),
            address1: None,
            address2: None,
            city: text(&billing.city),
            state_or_province: text(&billing.state_or_province_code),
            postal_code: text(&billing.postal_code),
            country_code: text(&billing.country_code),
        }),
        customer_id: Some(checkout.cart.customer_id).filter(|id| *id != 0),
        guest: checkout.cart.customer_id == 0,
        given_at: checkout.updated_time.unwrap_or(now).min(now),
    }
}
