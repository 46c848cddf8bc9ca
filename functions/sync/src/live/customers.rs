//! Customer events. Created or updated: the customer's contact, re-read with their subscriber record (the
//! marketing status decides the subscriber or customer group), merged into what we hold; a customer whose
//! number changed leaves their old number's contact. Deleted: the person is erased
//! ([`shared::db::Db::erase_person`]); the consent ledger (and any opt-out in it) stays, so suppression survives
//! the deletion.

use crate::store_context::StoreContext;
use crate::{Deps, SyncError};
use shared::bigcommerce::SubscriberQuery;
use shared::consent::{ConsentEvent, ConsentEventKind};
use shared::contacts::{
    SubscriberRecord, SyncContext, customer_contact, customer_phone, live_customer_events, marketing_status,
    merge_customer_contact, normalize_email, subscriber_record,
};
use shared::db::{ErasureCause, Person};
use shared::model::contact::GUEST_GROUP;
use shared::model::{Contact, ContactSource, Settings};
use shared::{Phone, StoreHash};

pub async fn changed(deps: &Deps, ctx: &StoreContext, customer_id: u64) -> Result<(), SyncError> {
    let db = &deps.aws.db;
    // An erasure recorded after this instant wins over what is read below.
    let read_at = deps.clock.now();
    let customer = match ctx.client.customer(customer_id).await {
        Ok(customer) => customer,
        Err(e) if e.is_not_found() => return deleted(deps, ctx, customer_id).await,
        Err(e) => return Err(e.into()),
    };
    let Some(settings) = ctx.contact_sync() else {
        tracing::info!(customer_id, "contact sync is off; customer not synced");
        return Ok(());
    };
    let directory = ctx.directory(deps, Some(customer.customer_group_id)).await?;
    let subscriber = match normalize_email(&customer.email) {
        Some(email) => subscriber_of(ctx, &email).await?,
        None => None,
    };
    if let Some(record) = &subscriber {
        db.put_subscribers(ctx.hash(), std::slice::from_ref(record)).await?;
    }
    let marketing = marketing_status(&customer, subscriber.as_ref(), ctx.now);
    let previous = db.contact_by_customer(ctx.hash(), customer_id).await?;
    let phone = match customer_phone(&customer, directory.country_code.as_deref()) {
        Ok(phone) => phone,
        Err(skip) => {
            if let Some(previous) = previous {
                detach(deps, previous, ctx).await?;
            }
            tracing::info!(customer_id, ?skip, "customer has no usable phone; not a contact");
            return Ok(());
        }
    };
    let existing = match previous {
        Some(previous) if previous.phone == phone => Some(previous),
        Some(previous) => {
            detach(deps, previous, ctx).await?;
            db.get_contact(ctx.hash(), &phone).await?
        }
        None => db.get_contact(ctx.hash(), &phone).await?,
    };
    let sync = SyncContext {
        store: ctx.hash(),
        settings,
        directory: &directory,
        now: ctx.now,
    };
    let incoming = customer_contact(sync, &customer, phone.clone(), &marketing, ContactSource::LiveSync);
    let Some(contact) = merge_customer_contact(existing.as_ref(), incoming, read_at) else {
        tracing::info!(customer_id, "customer erased meanwhile; not synced");
        return Ok(());
    };
    db.put_contact(&contact).await?;
    let erased =
        crate::erasures::erase_deleted(deps, ctx.hash(), std::slice::from_ref(&contact), deps.clock.now()).await?;
    if !erased.is_empty() {
        return Ok(());
    }
    let events = live_customer_events(settings, ctx.hash(), &phone, customer_id, &marketing, ctx.now);
    let events = without_repeated_marketing_status(deps, ctx.hash(), &phone, events).await?;
    let appended = db.append_consents(&events).await?;
    tracing::info!(customer_id, phone = %phone, consent_events = appended, "customer synced");
    Ok(())
}

pub async fn deleted(deps: &Deps, ctx: &StoreContext, customer_id: u64) -> Result<(), SyncError> {
    // Leaves a tombstone first (a copy of the customer being written right now finds it afterwards), then
    // scrubs the contact, carts, reminder bodies, replies and subscriber record; the ledger stays.
    let report = deps
        .aws
        .db
        .erase_person(
            ctx.hash(),
            &Person::default(),
            &ErasureCause::CustomerDeleted { customer_id },
            ctx.now,
        )
        .await?;
    tracing::info!(
        customer_id,
        numbers = report.phones.len(),
        items_scrubbed = report.items_scrubbed,
        items_deleted = report.items_deleted,
        "deleted customer's personal data erased; consent ledger kept"
    );
    Ok(())
}

/// The customer's subscriber record, read by email (one request).
async fn subscriber_of(ctx: &StoreContext, email: &str) -> Result<Option<SubscriberRecord>, SyncError> {
    let page = ctx
        .client
        .subscribers(&SubscriberQuery {
            email: Some(email.to_owned()),
            limit: 5,
            ..SubscriberQuery::default()
        })
        .await?;
    Ok(page
        .items
        .iter()
        .filter_map(|s| subscriber_record(s, ctx.now))
        .find(|s| s.email == email))
}

/// The number no longer belongs to the customer: it leaves them and their groups (a guest stays a guest).
async fn detach(deps: &Deps, mut contact: Contact, ctx: &StoreContext) -> Result<(), SyncError> {
    contact.customer_id = None;
    contact.groups.retain(|g| g == GUEST_GROUP);
    contact.subscribed_in_bigcommerce = None;
    contact.updated_at = ctx.now;
    deps.aws.db.put_contact(&contact).await?;
    tracing::info!(phone = %contact.phone, "number left its customer");
    Ok(())
}

/// Puts the contact in the subscriber or the customer group, as its marketing status says.
pub(crate) fn place_in_marketing_group(contact: &mut Contact, opted_in: bool, settings: &Settings) {
    contact
        .groups
        .retain(|g| *g != settings.subscriber_group && *g != settings.customer_group);
    contact.groups.push(if opted_in {
        settings.subscriber_group.clone()
    } else {
        settings.customer_group.clone()
    });
    contact.subscribed_in_bigcommerce = Some(opted_in);
}

/// Drops a general-marketing event that repeats the status the phone's ledger already has, so repeated
/// customer updates (a new name, say) do not pile up identical events.
pub(crate) async fn without_repeated_marketing_status(
    deps: &Deps,
    store: &StoreHash,
    phone: &Phone,
    events: Vec<ConsentEvent>,
) -> Result<Vec<ConsentEvent>, SyncError> {
    let status = |e: &ConsentEvent| match e.kind {
        ConsentEventKind::GeneralMarketing { opted_in, .. } => Some(opted_in),
        _ => None,
    };
    if !events.iter().any(|e| status(e).is_some()) {
        return Ok(events);
    }
    let ledger = deps.aws.db.ledger(store, phone).await?;
    let current = ledger
        .iter()
        .filter(|e| status(e).is_some())
        .max_by_key(|e| (e.occurred_at, e.recorded_at))
        .and_then(status);
    Ok(events
        .into_iter()
        .filter(|e| status(e).is_none() || status(e) != current)
        .collect())
}
