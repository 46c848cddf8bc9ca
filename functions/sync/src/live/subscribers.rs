//! Subscriber events. A subscriber is a newsletter sign-up, by email; it is not a contact (it has no phone),
//! but it is a customer's BigCommerce marketing status. So each event updates our subscriber record and then
//! the contacts of the customers with that email: their subscriber/customer group and, under the
//! general-marketing option, a general-marketing consent event when the status changed.

use super::customers::{place_in_marketing_group, without_repeated_marketing_status};
use crate::store_context::StoreContext;
use crate::{Deps, SyncError};
use shared::bigcommerce::CustomerQuery;
use shared::contacts::{SubscriberRecord, live_customer_events, marketing_status, normalize_email, subscriber_record};
use shared::model::ConsentOption;

pub async fn changed(deps: &Deps, ctx: &StoreContext, subscriber_id: u64) -> Result<(), SyncError> {
    let subscriber = match ctx.client.subscriber(subscriber_id).await {
        Ok(subscriber) => subscriber,
        Err(e) if e.is_not_found() => return deleted(deps, ctx, subscriber_id).await,
        Err(e) => return Err(e.into()),
    };
    let Some(record) = subscriber_record(&subscriber, ctx.now) else {
        tracing::warn!(subscriber_id, "subscriber without a usable email; ignored");
        return Ok(());
    };
    apply(deps, ctx, record).await
}

pub async fn deleted(deps: &Deps, ctx: &StoreContext, subscriber_id: u64) -> Result<(), SyncError> {
    let Some(mut record) = deps.aws.db.subscriber_by_id(ctx.hash(), subscriber_id).await? else {
        tracing::info!(subscriber_id, "deleted subscriber was never seen; nothing to do");
        return Ok(());
    };
    // Gone from the list: no longer subscribed.
    record.consents.clear();
    record.modified_at = ctx.now;
    apply(deps, ctx, record).await
}

async fn apply(deps: &Deps, ctx: &StoreContext, record: SubscriberRecord) -> Result<(), SyncError> {
    let db = &deps.aws.db;
    db.put_subscribers(ctx.hash(), std::slice::from_ref(&record)).await?;
    let Some(settings) = ctx.contact_sync() else {
        return Ok(());
    };
    let customers = ctx
        .client
        .customers(&CustomerQuery {
            emails: vec![record.email.clone()],
            limit: 10,
            ..CustomerQuery::default()
        })
        .await?
        .items;
    for customer in customers
        .iter()
        .filter(|c| normalize_email(&c.email).as_deref() == Some(record.email.as_str()))
    {
        let Some(mut contact) = db.contact_by_customer(ctx.hash(), customer.id).await? else {
            continue;
        };
        let marketing = marketing_status(customer, Some(&record), ctx.now);
        let before = contact.clone();
        place_in_marketing_group(&mut contact, marketing.opted_in, settings);
        if contact != before {
            contact.updated_at = ctx.now;
            db.put_contact(&contact).await?;
        }
        if settings.consent_option == ConsentOption::GeneralMarketing {
            let events = live_customer_events(settings, ctx.hash(), &contact.phone, customer.id, &marketing, ctx.now);
            let events = without_repeated_marketing_status(deps, ctx.hash(), &contact.phone, events).await?;
            db.append_consents(&events).await?;
        }
        tracing::info!(
            customer_id = customer.id,
            subscribed = marketing.opted_in,
            "customer's marketing status synced from their subscriber record"
        );
    }
    Ok(())
}
