//! Checkout consent, after the tick: verifying the number and asking US numbers to confirm by text.
//!
//! A tick recorded by `POST /consent` authorises nothing until the number is shown to be the checkout's
//! billing phone, re-read from BigCommerce. That happens whenever we read a checkout or order with a billing
//! phone ([`verify`], called by the cart and order handlers), and through [`SyncMessage::CheckoutConsent`],
//! which the capture sends at once and which comes back with a delay while the billing phone is not there
//! yet (the shopper ticks the box before finishing the address form).
//!
//! Once verified, a US number (with the store's double opt-in setting on) gets the double opt-in request the
//! carrier cart-reminder policy requires, when the consent engine allows it: inside the recipient's send
//! window, once per consent. The send is claimed first (a lease, marked attempted just before the provider
//! call), so retries and overlapping workers never send it twice and a check that dies before sending leaves
//! it to its redelivery; a closed window or a provider hiccup re-queues the check with a delay.

use crate::live::carts::{self, CheckoutState, ConsentCheck};
use crate::store_context::StoreContext;
use crate::{Deps, SyncError};
use chrono::Duration;
use shared::bigcommerce::OrderQuery;
use shared::checkout_consent::{checkboxes_to_verify, double_opt_in_requested_event, verification_event};
use shared::consent::content::double_opt_in_request;
use shared::consent::{
    ConsentEvent, ConsentEventKind, Decision, DecisionInput, Market, MessageKind, PastSend, Recipient, SentKind, decide,
};
use shared::contacts::{ShopperDetails, is_completed_order, parse_phone, shopper_contact};
use shared::db::DeliveryClaim;
use shared::messages::SyncMessage;
use shared::model::{ContactSource, Settings};
use shared::sms::OutboundSms;
use shared::{Phone, StoreHash};

/// Checks for a billing phone: at 2, 5 and 10 minutes, then every 15 (about 1.5 hours in all).
const VERIFY_ATTEMPTS: u32 = 8;
/// Checks while the send window is closed, every 15 minutes at most (a day in all).
const MAX_ATTEMPTS: u32 = 100;
/// A double opt-in request that cannot be delivered within the hour is not worth delivering.
const DOUBLE_OPT_IN_VALIDITY_MINUTES: i64 = 60;
/// How long the send claim lives (its TTL): far longer than any retry.
const CLAIM_DAYS: i64 = 400;

/// `SyncMessage::CheckoutConsent`: the checkbox of `phone` was ticked in checkout `cart_id`.
pub async fn handle(
    deps: &Deps,
    store_hash: &StoreHash,
    cart_id: &str,
    phone: &Phone,
    attempt: u32,
) -> Result<(), SyncError> {
    let Some(ctx) = StoreContext::load(deps, store_hash).await? else {
        return Err(SyncError::Permanent("unknown store".into()));
    };
    if !ctx.store.is_installed() {
        return Ok(());
    }
    // Re-reading the checkout tracks the cart and verifies the tick when the number is the billing phone.
    let check = ConsentCheck { attempt };
    let state = carts::seen(deps, &ctx, cart_id, Some(check)).await?;
    if state == CheckoutState::Gone {
        // Converted meanwhile: the order has the checkout's billing phone.
        let orders = ctx
            .client
            .orders(&OrderQuery {
                cart_id: Some(cart_id.to_owned()),
                ..OrderQuery::default()
            })
            .await?;
        if let Some(order) = orders.iter().find(|o| is_completed_order(o.status_id)) {
            let country = Some(order.billing_address.country_iso2.as_str()).filter(|c| c.len() == 2);
            if let Some(billing) = order
                .billing_address
                .phone
                .as_deref()
                .and_then(|raw| parse_phone(raw, country).ok())
            {
                verify(deps, &ctx, cart_id, &billing, None, attempt).await?;
            }
        }
    }
    if state == CheckoutState::Gone {
        // The order's billing phone was the last word on this checkout.
        return Ok(());
    }
    let ledger = deps.aws.db.ledger(store_hash, phone).await?;
    if !checkboxes_to_verify(&ledger, cart_id).is_empty() {
        if attempt + 1 < VERIFY_ATTEMPTS {
            let delay = match attempt {
                0 => Duration::minutes(2),
                1 => Duration::minutes(5),
                2 => Duration::minutes(10),
                _ => Duration::minutes(15),
            };
            check_again(deps, store_hash, cart_id, phone, attempt + 1, delay).await?;
        } else {
            tracing::info!(cart_id, phone = %phone, "checkbox never matched the billing phone; it stays unverified");
        }
    }
    Ok(())
}

/// `billing_phone` is the checkout's billing phone, just re-read from BigCommerce: every tick of that number
/// in that checkout is verified. `details` (the checkout's) adds the shopper as a contact when a tick is
/// verified and contacts are synced. Then the double opt-in, where due.
pub async fn verify(
    deps: &Deps,
    ctx: &StoreContext,
    cart_id: &str,
    billing_phone: &Phone,
    details: Option<&ShopperDetails>,
    attempt: u32,
) -> Result<(), SyncError> {
    let db = &deps.aws.db;
    let snapshot = db.phone_snapshot(ctx.hash(), billing_phone).await?;
    let verifications: Vec<ConsentEvent> = checkboxes_to_verify(&snapshot.ledger, cart_id)
        .into_iter()
        .map(|checkbox| verification_event(checkbox, cart_id, ctx.now))
        .collect();
    if !verifications.is_empty() {
        db.append_consents(&verifications).await?;
        // Once per checkout, however often the tick is verified again.
        db.count_once(ctx.hash(), cart_id, "TICKED", 0, ctx.now, &[("consent_box_ticked", 1)])
            .await?;
        tracing::info!(
            cart_id,
            phone = %billing_phone,
            verified = verifications.len(),
            "checkout checkbox verified against the billing phone"
        );
        if let (Some(details), Some(_)) = (details, ctx.contact_sync()) {
            let mut details = details.clone();
            if let Some(customer_id) = details.customer_id
                && db.contact_by_customer(ctx.hash(), customer_id).await?.is_some()
            {
                // The customer already has their contact; this number joins without the link.
                details.customer_id = None;
            }
            let contact = shopper_contact(
                snapshot.contact.as_ref(),
                ctx.hash(),
                billing_phone,
                &details,
                ContactSource::CheckoutConsent,
                ctx.now,
            );
            db.put_contact(&contact).await?;
        }
    }
    let Some(settings) = ctx.reminders() else {
        return Ok(());
    };
    let recipient = Recipient::resolve(billing_phone, &[]);
    if !settings.us_double_opt_in || !matches!(recipient.market, Market::Us | Market::Unknown) {
        return Ok(());
    }
    let mut ledger = snapshot.ledger;
    ledger.extend(verifications);
    let decision = decide(&DecisionInput {
        settings,
        ledger: &ledger,
        message: &MessageKind::DoubleOptInRequest,
        sends: &snapshot.sends,
        recipient: &recipient,
        now: ctx.now,
    });
    match decision {
        Decision::Allow {
            ledger_event_id: Some(target),
            ..
        } if is_checkbox_of(&ledger, &target, cart_id) => {
            request_double_opt_in(deps, ctx, settings, billing_phone, cart_id, &target, attempt).await
        }
        Decision::Defer { until, reason, .. } => {
            tracing::info!(cart_id, code = reason.code(), %until, "double opt-in request deferred");
            // Many events may see the same closed window: one of them starts the chain of later looks, and
            // the chain keeps itself going.
            let waiting = format!("double-opt-in-wait:{}:{cart_id}:{}", ctx.hash(), until.timestamp());
            let continues = attempt > 0 && attempt < MAX_ATTEMPTS;
            if continues || (attempt == 0 && db.first_sighting(&waiting, ctx.now, Duration::days(2)).await?) {
                let wait = (until - ctx.now).max(Duration::seconds(30));
                check_again(deps, ctx.hash(), cart_id, billing_phone, attempt + 1, wait).await?;
            }
            Ok(())
        }
        other => {
            tracing::debug!(
                cart_id,
                outcome = other.outcome(),
                code = other.code(),
                "no double opt-in request"
            );
            Ok(())
        }
    }
}

/// Whether `event_id` is a checkbox ticked in this checkout (the engine may name another consent to
/// confirm; those are not ours to ask about).
fn is_checkbox_of(ledger: &[ConsentEvent], event_id: &str, cart_id: &str) -> bool {
    ledger.iter().any(|e| {
        e.event_id == event_id
            && matches!(&e.kind, ConsentEventKind::CheckoutCheckbox { cart_id: Some(c), .. } if c == cart_id)
    })
}

async fn request_double_opt_in(
    deps: &Deps,
    ctx: &StoreContext,
    settings: &Settings,
    phone: &Phone,
    cart_id: &str,
    target: &str,
    attempt: u32,
) -> Result<(), SyncError> {
    let db = &deps.aws.db;
    // A sender the operator has not approved for this store may be another store's: nothing goes out from it.
    let sender = db.sender_status(ctx.hash(), settings.sender_id.as_deref()).await?;
    if !sender.may_send() {
        tracing::warn!(
            cart_id,
            "double opt-in request not sent: the store's sender is not approved for it"
        );
        return Ok(());
    }
    let claim = format!("double-opt-in:{}:{target}", ctx.hash());
    // A lease, not a mark: a check that dies before the provider call leaves the request to its redelivery
    // (after the lease); once the call starts, the claim counts as done for good, so it is never sent twice.
    let lease = match db.claim_delivery(&claim, ctx.now, Duration::days(CLAIM_DAYS)).await? {
        DeliveryClaim::Claimed(lease) => lease,
        DeliveryClaim::Done => {
            tracing::info!(cart_id, target, "double opt-in request already sent");
            return Ok(());
        }
        // Another check is sending it; if it dies, its own redelivery sends it.
        DeliveryClaim::InProgress => {
            tracing::info!(cart_id, target, "double opt-in request being sent by another check");
            return Ok(());
        }
    };
    shared::failpoint!(
        "checkout_consent.after_claim",
        ctx.hash().as_str(),
        Err(shared::db::DbError::Request("failpoint".into()).into())
    );
    if !db.attempt_delivery(&lease).await? {
        tracing::info!(
            cart_id,
            target,
            "double opt-in request claimed by a redelivery meanwhile"
        );
        return Ok(());
    }
    let text = double_opt_in_request(settings);
    let message = OutboundSms {
        to: phone.clone(),
        from: settings.sender_id.clone().filter(|s| !s.is_empty()),
        body: text.clone(),
        metadata: [
            ("store_hash".to_owned(), ctx.hash().to_string()),
            ("kind".to_owned(), "double_opt_in".to_owned()),
            ("cart_id".to_owned(), cart_id.to_owned()),
        ]
        .into(),
        expires_at: Some(ctx.now + Duration::minutes(DOUBLE_OPT_IN_VALIDITY_MINUTES)),
        callback_url: Some(deps.sms.callback_url(&deps.app_url, &deps.sms_webhook_token)),
        idempotency_key: claim.clone(),
    };
    let sent = match deps.sms.send(&message).await {
        Ok(sent) => sent,
        // Nothing went out: the check runs again shortly and sends it then. (One that may have gone out, with
        // no answer in time, is not sent again: the person would get two requests.)
        Err(error) if error.can_send_again() && attempt < MAX_ATTEMPTS => {
            db.release_delivery(&lease).await?;
            tracing::warn!(cart_id, %error, "double opt-in request not sent; trying again shortly");
            return check_again(deps, ctx.hash(), cart_id, phone, attempt + 1, Duration::minutes(1)).await;
        }
        Err(error) => {
            tracing::error!(cart_id, %error, failure = ?error.failure(), "double opt-in request refused or possibly sent; not sent again");
            return Ok(());
        }
    };
    let requested = double_opt_in_requested_event(ctx.hash(), phone, target, &text, &sent.message_id, ctx.now);
    let past = PastSend {
        sent_at: ctx.now,
        kind: SentKind::DoubleOptInRequest,
    };
    // The text is out: recording it must not be lost to one failed write.
    let mut tries: u32 = 0;
    loop {
        tries += 1;
        let recorded = async {
            db.append_consent(&requested).await?;
            db.record_past_send(ctx.hash(), phone, &past).await
        }
        .await;
        match recorded {
            Ok(()) => break,
            Err(error) if tries < 4 => {
                tracing::warn!(%error, tries, "recording the double opt-in request failed; retrying");
                tokio::time::sleep(std::time::Duration::from_millis(200 * u64::from(tries))).await;
            }
            Err(error) => return Err(error.into()),
        }
    }
    if let Err(error) = db.finish_delivery(&lease).await {
        // Attempted counts as done already: nothing is sent again.
        tracing::warn!(%error, cart_id, "could not mark the double opt-in request done");
    }
    tracing::info!(
        cart_id,
        phone = %phone,
        provider = sent.provider,
        message_id = %sent.message_id,
        "double opt-in request sent"
    );
    Ok(())
}

/// Sends the check again after `delay` (SQS caps delays at 15 minutes; a longer wait takes several hops).
async fn check_again(
    deps: &Deps,
    store_hash: &StoreHash,
    cart_id: &str,
    phone: &Phone,
    attempt: u32,
    delay: Duration,
) -> Result<(), SyncError> {
    let message = SyncMessage::CheckoutConsent {
        store_hash: store_hash.clone(),
        cart_id: cart_id.to_owned(),
        phone: phone.clone(),
        attempt,
    };
    let delay = delay.to_std().unwrap_or_default();
    deps.aws.sync_queue.send_delayed(&message, delay).await?;
    Ok(())
}
