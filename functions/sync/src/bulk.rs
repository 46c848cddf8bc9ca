//! Bulk (initial) sync: customer groups first, then one queue message per page of customers.
//!
//! `StartBulkSync` reads the store's directory (customer groups become contact groups; attribute names and
//! the store country), loads the newsletter subscribers (a customer's marketing status is read by email),
//! counts the customers and fans out one [`SyncMessage::CustomerPage`] per page of 250. Each page is
//! independent and idempotent: contacts are merged into what we hold and written in batches, consent events
//! have deterministic keys, and the page is counted on the job once however often it is delivered. A page
//! that keeps failing goes back to the queue (partial batch response) and, after the queue's
//! `maxReceiveCount`, to the dead-letter queue, where [`crate::dead_letters`] counts it failed on the job.
//!
//! The store's API quota is shared with every other app: the client paces itself from the rate-limit
//! headers, and the sync queue's event source caps concurrency (template.yaml).

use crate::store_context::StoreContext;
use crate::{Deps, SyncError};
use aws_lambda_events::event::sqs::SqsMessage;
use shared::StoreHash;
use shared::bigcommerce::{CustomerQuery, SubscriberQuery};
use shared::contacts::{
    ImportJob, PhoneSkip, SubscriberRecord, SyncContext, customer_contact, customer_phone, import_events,
    marketing_status, merge_customer_contact, normalize_email,
};
use shared::db::PageCounts;
use shared::messages::SyncMessage;
use shared::model::{ContactSource, SyncJobStatus};
use std::collections::BTreeMap;

/// Customers per page: the API's maximum.
pub const PAGE_SIZE: u32 = 250;

pub async fn handle(deps: &Deps, message: &SyncMessage, _record: &SqsMessage) -> Result<(), SyncError> {
    match message {
        SyncMessage::StartBulkSync { store_hash, job_id } => start(deps, store_hash, job_id).await,
        SyncMessage::CustomerPage {
            store_hash,
            job_id,
            page,
            per_page,
        } => import_page(deps, store_hash, job_id, *page, *per_page).await,
        _ => Err(SyncError::Permanent("not a bulk sync message".into())),
    }
}

async fn context(deps: &Deps, store_hash: &StoreHash) -> Result<StoreContext, SyncError> {
    match StoreContext::load(deps, store_hash).await? {
        Some(ctx) if ctx.store.is_installed() => Ok(ctx),
        Some(_) => Err(SyncError::Permanent("the store uninstalled the app".into())),
        None => Err(SyncError::Permanent("unknown store".into())),
    }
}

async fn start(deps: &Deps, store_hash: &StoreHash, job_id: &str) -> Result<(), SyncError> {
    let db = &deps.aws.db;
    let ctx = context(deps, store_hash).await?;
    let job = db
        .get_sync_job(store_hash, job_id)
        .await?
        .ok_or_else(|| SyncError::Permanent(format!("no sync job {job_id}")))?;
    if job.total_pages > 0 || job.status != SyncJobStatus::Running {
        tracing::info!(job_id, "bulk sync already fanned out");
        return Ok(());
    }
    let directory = ctx.refresh_directory(deps).await?;

    let mut subscribers = 0usize;
    for page in 1.. {
        let batch = ctx
            .client
            .subscribers(&SubscriberQuery {
                page,
                limit: PAGE_SIZE,
                ..SubscriberQuery::default()
            })
            .await?;
        let records: Vec<SubscriberRecord> = batch
            .items
            .iter()
            .filter_map(|s| SubscriberRecord::from_api(s, ctx.now))
            .collect();
        subscribers += records.len();
        db.put_subscribers(store_hash, &records).await?;
        if batch.items.is_empty() || !batch.has_more(PAGE_SIZE) {
            break;
        }
    }

    // One customer per page is enough to learn the total.
    let first = ctx.client.customers(&CustomerQuery::page(1, 1)).await?;
    let customers = first.pagination.map_or(first.items.len() as u64, |p| p.total);
    let pages = customers.div_ceil(u64::from(PAGE_SIZE)).max(1) as u32;
    let messages: Vec<SyncMessage> = (1..=pages)
        .map(|page| SyncMessage::CustomerPage {
            store_hash: store_hash.clone(),
            job_id: job_id.to_owned(),
            page,
            per_page: PAGE_SIZE,
        })
        .collect();
    deps.aws.sync_queue.send_all(&messages).await?;
    // Only after the pages are queued: a redelivered start that sees the total knows the fan-out happened.
    db.set_sync_total_pages(store_hash, job_id, pages, directory.customer_groups.len() as u32)
        .await?;
    // Pages that finished before the total was set could not finish the job.
    db.finish_sync_job_if_complete(store_hash, job_id, ctx.now).await?;
    tracing::info!(
        job_id,
        customers,
        pages,
        subscribers,
        groups = directory.customer_groups.len(),
        "bulk sync fanned out"
    );
    Ok(())
}

async fn import_page(
    deps: &Deps,
    store_hash: &StoreHash,
    job_id: &str,
    page: u32,
    per_page: u32,
) -> Result<(), SyncError> {
    let db = &deps.aws.db;
    let ctx = context(deps, store_hash).await?;
    let settings = ctx
        .settings
        .as_ref()
        .ok_or_else(|| SyncError::Permanent("the store has not connected".into()))?;
    let job = db
        .get_sync_job(store_hash, job_id)
        .await?
        .ok_or_else(|| SyncError::Permanent(format!("no sync job {job_id}")))?;
    let import = ImportJob {
        job_id,
        started_at: job.started_at,
    };
    let directory = ctx.directory(deps, None).await?;
    // An erasure recorded after this instant wins over what this page read.
    let read_at = deps.clock.now();
    let customers = ctx
        .client
        .customers(&CustomerQuery::page(page, per_page.clamp(1, PAGE_SIZE)))
        .await?
        .items;
    let emails: Vec<String> = customers.iter().filter_map(|c| normalize_email(&c.email)).collect();
    let subscribers = db.subscribers_by_email(store_hash, &emails).await?;

    let sync = SyncContext {
        store: store_hash,
        settings,
        directory: &directory,
        now: ctx.now,
    };
    let mut counts = PageCounts::default();
    // One contact per phone: two customers sharing a number make one contact (the later customer's data).
    let mut by_phone = BTreeMap::new();
    for customer in &customers {
        let phone = match customer_phone(customer, directory.country_code.as_deref()) {
            Ok(phone) => phone,
            Err(PhoneSkip::NoPhone) => {
                counts.skipped_no_phone += 1;
                continue;
            }
            Err(PhoneSkip::Invalid) => {
                counts.skipped_invalid_phone += 1;
                continue;
            }
        };
        let subscriber = normalize_email(&customer.email).and_then(|e| subscribers.get(&e));
        let marketing = marketing_status(customer, subscriber, ctx.now);
        let contact = customer_contact(sync, customer, phone.clone(), &marketing, ContactSource::BulkSync);
        let events = import_events(settings, store_hash, &phone, customer.id, &marketing, import, ctx.now);
        by_phone.insert(phone, (contact, events));
    }

    let phones: Vec<_> = by_phone.keys().cloned().collect();
    let existing: BTreeMap<_, _> = db
        .get_contacts(store_hash, &phones)
        .await?
        .into_iter()
        .map(|c| (c.phone.clone(), c))
        .collect();
    let mut contacts = Vec::with_capacity(by_phone.len());
    let mut events = Vec::with_capacity(by_phone.len());
    for (phone, (incoming, phone_events)) in by_phone {
        match merge_customer_contact(existing.get(&phone), incoming, read_at) {
            Some(contact) => {
                contacts.push(contact);
                events.extend(phone_events);
            }
            None => tracing::info!(phone = %phone, "customer erased meanwhile; not imported"),
        }
    }
    db.put_contacts(&contacts).await?;
    shared::failpoint!(
        "sync.page.after_contacts",
        store_hash.as_str(),
        Err(shared::db::DbError::Request("failpoint".into()).into())
    );
    let erased = crate::erasures::erase_deleted(deps, store_hash, &contacts, deps.clock.now()).await?;
    events.retain(|e| !erased.contains(&e.phone));
    let appended = db.import_consents(&events).await?;
    counts.imported = (contacts.len() - erased.len()) as u64;
    let counted = db.record_sync_page_done(store_hash, job_id, page, counts).await?;
    let job = db.finish_sync_job_if_complete(store_hash, job_id, ctx.now).await?;
    tracing::info!(
        job_id,
        page,
        imported = counts.imported,
        skipped_no_phone = counts.skipped_no_phone,
        skipped_invalid_phone = counts.skipped_invalid_phone,
        consent_events = appended,
        redelivery = !counted,
        job_status = ?job.map(|j| j.status),
        "customer page imported"
    );
    Ok(())
}
