//! Bulk (initial) sync: customer groups first, then a chain of customer pages.
//!
//! `StartBulkSync` reads the store's directory (customer groups become contact groups; attribute names and
//! the store country), loads the newsletter subscribers (a customer's marketing status is read by email),
//! counts the customers (for the progress bar) and queues page 1. Pages are read oldest customer first
//! (`sort=date_created:asc`) by cursor: each [`SyncMessage::CustomerPage`] carries the cursor BigCommerce
//! gave at the end of the page before, so customers created or deleted during the sync shift no page (page
//! numbers would). A page queues the next before it counts itself done, and a page already counted queues
//! nothing (it only finishes the job, if the delivery that counted it stopped before), so a crash loses no
//! page, leaves no job running for ever and a redelivery starts no second chain. Each store thus has one
//! page in flight at a time.
//!
//! Each page is idempotent: contacts are merged into what we hold and written in batches, consent events
//! have deterministic keys, and the page is counted on the job once however often it is delivered. A
//! customer whose record is malformed is skipped and reported by id on the job; the rest of the page
//! imports. Every page ends counted: a permanent error (403, 413, 422, ...) counts it failed at once; a
//! retryable one goes back to the queue (partial batch response) and, after the queue's `maxReceiveCount`,
//! to the dead-letter queue, where [`crate::dead_letters`] counts it failed. A page that failed before
//! queueing the next ends the chain there, so the job still finishes ("completed with failures"); retrying
//! it from the settings page continues the chain.
//!
//! The store's API quota is shared with every other app: the client paces itself from the rate-limit
//! headers, and the sync queue's event source caps concurrency (template.yaml). The table's throughput is
//! shared with every other store: each page waits for its share of the deployment's bulk-import budget
//! ([`crate::pace`]) before its writes.

use crate::store_context::StoreContext;
use crate::{Deps, SyncError};
use aws_lambda_events::event::sqs::SqsMessage;
use shared::StoreHash;
use shared::bigcommerce::{CustomerQuery, CustomerSort, SubscriberQuery};
use shared::contacts::{
    ImportJob, PhoneSkip, SubscriberRecord, SyncContext, customer_contact, customer_phone, import_events,
    marketing_status, merge_customer_contact, normalize_email, subscriber_record,
};
use shared::db::{PageCounts, PageState};
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
            after,
        } => {
            let at = PagePosition {
                page: *page,
                per_page: *per_page,
                after: after.as_deref(),
            };
            match import_page(deps, store_hash, job_id, at).await {
                // Retrying cannot help: count the page failed now, so the job still finishes and the
                // settings page can offer the page again.
                Err(error) if !error.is_retryable() => {
                    tracing::error!(job_id, page, %error, "customer page failed permanently");
                    count_page_failed(deps, store_hash, job_id, *page, after.as_deref()).await
                }
                other => other,
            }
        }
        _ => Err(SyncError::Permanent("not a bulk sync message".into())),
    }
}

/// Where a page is in the chain.
#[derive(Debug, Clone, Copy)]
struct PagePosition<'a> {
    page: u32,
    per_page: u32,
    /// The cursor at the end of the page before (none for page 1).
    after: Option<&'a str>,
}

/// The one way bulk-sync messages reach the queue.
async fn queue_pages(deps: &Deps, messages: &[SyncMessage]) -> Result<(), SyncError> {
    deps.aws.sync_queue.send_all(messages).await?;
    Ok(())
}

/// Counts a page failed on its job (once) and finishes the job if that was its last uncounted page. A page
/// that had not queued the next one ends the chain. Also the dead-letter queue's end for a page.
pub(crate) async fn count_page_failed(
    deps: &Deps,
    store_hash: &StoreHash,
    job_id: &str,
    page: u32,
    after: Option<&str>,
) -> Result<(), SyncError> {
    let db = &deps.aws.db;
    let Some((job, _)) = db.sync_page_state(store_hash, job_id, page).await? else {
        tracing::warn!(job_id, page, "failed page of an unknown sync job");
        return Ok(());
    };
    let ends_chain = job.pages_queued <= page;
    let counted = db
        .record_sync_page_failed(store_hash, job_id, page, after, ends_chain)
        .await?;
    let job = db
        .finish_sync_job_if_complete(store_hash, job_id, deps.clock.now())
        .await?;
    tracing::error!(
        job_id,
        page,
        counted,
        ends_chain,
        job_status = ?job.map(|j| j.status),
        "customer page counted failed on the job"
    );
    Ok(())
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
            .filter_map(|s| subscriber_record(s, ctx.now))
            .collect();
        subscribers += records.len();
        db.put_subscribers(store_hash, &records).await?;
        if batch.items.is_empty() || !batch.has_more(PAGE_SIZE) {
            break;
        }
    }

    // One customer per page is enough to learn the total (an estimate: customers come and go meanwhile).
    // Read leniently: a malformed first customer must not stop the sync before it starts.
    let first = ctx.client.customer_page(&CustomerQuery::page(1, 1)).await?;
    let customers = first
        .page
        .pagination
        .map_or((first.page.items.len() + first.malformed.len()) as u64, |p| p.total);
    let pages = customers.div_ceil(u64::from(PAGE_SIZE)).max(1) as u32;
    queue_pages(
        deps,
        &[SyncMessage::CustomerPage {
            store_hash: store_hash.clone(),
            job_id: job_id.to_owned(),
            page: 1,
            per_page: PAGE_SIZE,
            after: None,
        }],
    )
    .await?;
    // Only after page 1 is queued: a redelivered start that sees the total knows the chain started.
    db.set_sync_total_pages(store_hash, job_id, pages, directory.customer_groups.len() as u32)
        .await?;
    // A chain that ended before the total was set could not finish the job.
    db.finish_sync_job_if_complete(store_hash, job_id, ctx.now).await?;
    tracing::info!(
        job_id,
        customers,
        pages,
        subscribers,
        groups = directory.customer_groups.len(),
        "bulk sync started"
    );
    Ok(())
}

async fn import_page(deps: &Deps, store_hash: &StoreHash, job_id: &str, at: PagePosition<'_>) -> Result<(), SyncError> {
    let db = &deps.aws.db;
    let page = at.page;
    let (job, state) = db
        .sync_page_state(store_hash, job_id, page)
        .await?
        .ok_or_else(|| SyncError::Permanent(format!("no sync job {job_id}")))?;
    if state == PageState::Done {
        // Its successor was queued before it was counted: queueing again would start a second chain. The
        // delivery that counted it may have stopped before it could finish the job, so this one finishes it.
        let job = db
            .finish_sync_job_if_complete(store_hash, job_id, deps.clock.now())
            .await?;
        let job_status = job.map(|j| j.status);
        tracing::info!(
            job_id,
            page,
            ?job_status,
            "customer page already imported; redelivery ignored"
        );
        return Ok(());
    }
    let ctx = context(deps, store_hash).await?;
    let settings = ctx
        .settings
        .as_ref()
        .ok_or_else(|| SyncError::Permanent("the store has not connected".into()))?;
    let import = ImportJob {
        job_id,
        started_at: job.started_at,
    };
    let directory = ctx.directory(deps, None).await?;
    // An erasure recorded after this instant wins over what this page read.
    let read_at = deps.clock.now();
    let limit = at.per_page.clamp(1, PAGE_SIZE);
    let listing = ctx
        .client
        .customer_page(&CustomerQuery {
            limit,
            after: at.after.map(str::to_owned),
            sort: Some(CustomerSort::DateCreatedAsc),
            ..CustomerQuery::default()
        })
        .await?;
    let next = listing.next_cursor(limit).map(str::to_owned);
    // A redelivery or retry of a page whose successor is already queued must not queue it twice.
    let successor_queued = job.pages_queued > page;
    if let (Some(after), false) = (&next, successor_queued) {
        queue_pages(
            deps,
            &[SyncMessage::CustomerPage {
                store_hash: store_hash.clone(),
                job_id: job_id.to_owned(),
                page: page + 1,
                per_page: at.per_page,
                after: Some(after.clone()),
            }],
        )
        .await?;
        db.record_sync_page_queued(store_hash, job_id, page + 1).await?;
    }
    let malformed = listing.malformed;
    let customers = listing.page.items;
    // Every read and write of the page's contacts comes after its share of the bulk-import budget.
    let (budget, held) = crate::pace::hold_page(db, customers.len(), deps.bulk_import_contacts_per_second).await?;
    let emails: Vec<String> = customers.iter().filter_map(|c| normalize_email(&c.email)).collect();
    let subscribers = db.subscribers_by_email(store_hash, &emails).await?;

    let sync = SyncContext {
        store: store_hash,
        settings,
        directory: &directory,
        now: ctx.now,
    };
    let mut counts = PageCounts {
        skipped_malformed: malformed.len() as u64,
        ..PageCounts::default()
    };
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

    // The writes in slices spread over the page's share of the budget, each slice read, merged and written
    // in turn (a redelivery redoes the page: every write is a merge or keyed by its event).
    let mut pending = by_phone.into_iter().peekable();
    let (mut written, mut imported, mut appended) = (0, 0, 0);
    while pending.peek().is_some() {
        let slice: Vec<_> = pending.by_ref().take(crate::pace::SLICE_CONTACTS).collect();
        crate::pace::wait_for_slice(budget.as_ref(), written).await;
        written += slice.len();
        let phones: Vec<_> = slice.iter().map(|(phone, _)| phone.clone()).collect();
        let existing: BTreeMap<_, _> = db
            .get_contacts(store_hash, &phones)
            .await?
            .into_iter()
            .map(|c| (c.phone.clone(), c))
            .collect();
        let mut contacts = Vec::with_capacity(slice.len());
        let mut events = Vec::with_capacity(slice.len());
        for (phone, (incoming, phone_events)) in slice {
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
        appended += db.import_consents(&events).await?;
        shared::failpoint!(
            "sync.page.after_consents",
            store_hash.as_str(),
            Err(shared::db::DbError::Request("failpoint".into()).into())
        );
        imported += contacts.len() - erased.len();
    }
    counts.imported = imported as u64;
    db.record_skipped_customers(store_hash, job_id, &malformed).await?;
    let counted = db
        .record_sync_page_done(store_hash, job_id, page, counts, next.is_none())
        .await?;
    shared::failpoint!(
        "sync.page.after_counted",
        store_hash.as_str(),
        Err(shared::db::DbError::Request("failpoint".into()).into())
    );
    let job = db.finish_sync_job_if_complete(store_hash, job_id, ctx.now).await?;
    tracing::info!(
        job_id,
        page,
        imported = counts.imported,
        skipped_no_phone = counts.skipped_no_phone,
        skipped_invalid_phone = counts.skipped_invalid_phone,
        skipped_malformed = ?malformed,
        last = next.is_none(),
        consent_events = appended,
        redelivery = !counted,
        held_ms = held.as_millis() as u64,
        job_status = ?job.map(|j| j.status),
        "customer page imported"
    );
    Ok(())
}
