//! Contact sync end to end: bulk sync through the sync queue (and its dead-letter queue), live sync through
//! BigCommerce's webhooks into the receiver, the sync queue and the worker; the simulator, moto and the real
//! handlers throughout.

use chrono::Duration;
use integration_tests::contact_sync::{
    Delivery, contacts_by_phone, dead_letter_source, drain_with_dead_letters, impatient_sync_source, start_bulk_sync,
    sync_job,
};
use integration_tests::recovery::{NY, give_consent, sweep_and_send};
use integration_tests::{SeededStore, TestApp, TestAppOptions, at};
use shared::consent::{
    ConsentEvent, ConsentEventKind, DecisionInput, MessageKind, OptOutMethod, Purpose, Reason, Recipient, decide,
};
use shared::messages::SyncMessage;
use shared::model::contact::GUEST_GROUP;
use shared::model::{CartStatus, ConsentOption, Settings, SyncJobStatus};
use shared::{Clock, Phone, StoreHash};
use sim::bigcommerce::{
    BillingAddress, CartSeed, CustomerAddress, CustomerSeed, DeliveryRecord, Fault, ItemSeed, SubscriberSeed,
};
use std::collections::BTreeMap;

/// The sim's seeded customers: index → (id, email, phone when usable, group id, accepts-emails flag).
struct Seeded {
    customers: Vec<SeededCustomer>,
    with_valid_phone: usize,
    without_phone: usize,
    with_invalid_phone: usize,
}

struct SeededCustomer {
    index: usize,
    id: u64,
    email: String,
    phone: Option<Phone>,
    group_id: u64,
    accepts_emails: bool,
}

fn seed(app: &TestApp, hash: &str, n: usize) -> Seeded {
    let summary = app.bigcommerce.seed_customers(hash, n);
    let by_id: BTreeMap<u64, sim::bigcommerce::Customer> =
        app.bigcommerce.customers(hash).into_iter().map(|c| (c.id, c)).collect();
    let customers = summary
        .ids
        .iter()
        .enumerate()
        .map(|(index, id)| {
            let c = &by_id[id];
            let country = c.addresses.first().map(|a| a.country_code.as_str());
            SeededCustomer {
                index,
                id: *id,
                email: c.email.to_lowercase(),
                phone: Phone::parse(&c.phone, country).ok(),
                group_id: c.customer_group_id,
                accepts_emails: c.accepts_product_review_abandoned_cart_emails,
            }
        })
        .collect();
    Seeded {
        customers,
        with_valid_phone: summary.with_valid_phone,
        without_phone: summary.without_phone,
        with_invalid_phone: summary.with_invalid_phone,
    }
}

async fn store(app: &TestApp, hash: &str, configure: impl FnOnce(&mut Settings)) -> SeededStore {
    let seeded = app.seed_store(hash, configure).await;
    // Setup noise (subscribers created below) is not what these tests are about.
    app.bigcommerce.hold_webhooks(true);
    seeded
}

/// The ledgers of many phones, read a few at a time.
async fn ledgers<'a>(
    app: &TestApp,
    store: &StoreHash,
    phones: impl Iterator<Item = &'a Phone>,
) -> BTreeMap<Phone, Vec<ConsentEvent>> {
    use futures::StreamExt;
    futures::stream::iter(phones.cloned())
        .map(|phone| async move {
            let ledger = app.db().ledger(store, &phone).await.unwrap();
            (phone, ledger)
        })
        .buffer_unordered(16)
        .collect()
        .await
}

fn general_marketing_status(ledger: &[ConsentEvent]) -> Vec<bool> {
    ledger
        .iter()
        .filter_map(|e| match e.kind {
            ConsentEventKind::GeneralMarketing { opted_in, .. } => Some(opted_in),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn bulk_sync_imports_every_contact_once_with_groups_and_consent_through_429s_and_500s() {
    let app = TestApp::start().await;
    let hash = "bulk1k";
    let seeded_store = store(&app, hash, |s| {
        s.consent_option = ConsentOption::GeneralMarketing;
        s.require_consent_confirmed = true;
    })
    .await;
    let wholesale = app.bigcommerce.create_customer_group(hash, "Wholesale");
    let vip = app.bigcommerce.create_customer_group(hash, "VIP");
    let seeded = seed(&app, hash, 1000);
    // Newsletter sign-ups: every 5th customer subscribed, every 10th (+5) signed up then unsubscribed.
    for c in &seeded.customers {
        let consents = match c.index % 10 {
            0 => vec!["marketing_newsletter".to_owned()],
            5 => vec![],
            _ => continue,
        };
        app.bigcommerce
            .create_subscriber(
                hash,
                SubscriberSeed {
                    email: c.email.clone(),
                    consents,
                    ..SubscriberSeed::default()
                },
            )
            .await;
    }
    // Pages after the first are read by cursor (`after=`), one at a time: a platform 429 on page 2, then
    // page 2 failing for longer than the client retries (so the page goes back to the queue once).
    app.bigcommerce.inject_fault(Fault::status(429, "after="));
    app.bigcommerce.inject_fault(Fault::status(500, "after=").times(6));

    start_bulk_sync(&app, &seeded_store.store_hash, "job-1").await;
    let (live, dead) = drain_with_dead_letters(&app).await;
    assert!(live.failed >= 1, "page 3 went back to the queue: {live:?}");
    assert_eq!(dead.received, 0);

    let job = sync_job(&app, &seeded_store.store_hash, "job-1").await;
    assert_eq!(job.status, SyncJobStatus::Completed);
    // Four full pages, then the empty answer that shows the fourth was the last.
    assert_eq!(
        (job.total_pages, job.pages_done, job.pages_failed, job.last_page),
        (5, 5, 0, Some(5))
    );
    assert_eq!(job.groups_synced, 2);
    assert_eq!(job.contacts_imported as usize, seeded.with_valid_phone);
    assert_eq!(job.skipped_no_phone as usize, seeded.without_phone);
    assert_eq!(job.skipped_invalid_phone as usize, seeded.with_invalid_phone);
    assert_eq!(app.bigcommerce.stats(hash).faults, 7);

    let contacts = contacts_by_phone(&app, &seeded_store.store_hash).await;
    assert_eq!(
        contacts.len(),
        seeded.with_valid_phone,
        "every usable phone exactly once"
    );
    let group_name = |id: u64| match id {
        id if id == wholesale => Some("Wholesale"),
        id if id == vip => Some("VIP"),
        _ => None,
    };
    // Two customers in seven (moto answers a query in tens of milliseconds; the sample covers every
    // group, status and phone format, which cycle with shorter periods).
    let sampled = seeded
        .customers
        .iter()
        .filter(|c| c.index % 7 < 2)
        .filter_map(|c| c.phone.as_ref());
    let ledgers = ledgers(&app, &seeded_store.store_hash, sampled).await;
    for c in &seeded.customers {
        let Some(phone) = &c.phone else { continue };
        let contact = &contacts[phone];
        assert_eq!(contact.customer_id, Some(c.id));
        assert_eq!(contact.email.as_deref(), Some(c.email.as_str()));
        assert_eq!(contact.labels, vec!["BigCommerce".to_owned()]);
        let subscribed = c.accepts_emails || c.index % 10 == 0;
        let mut groups: Vec<&str> = group_name(c.group_id).into_iter().collect();
        groups.push(if subscribed {
            "Store subscribers"
        } else {
            "Store customers"
        });
        assert_eq!(contact.groups, groups, "customer {}", c.index);
        assert_eq!(contact.subscribed_in_bigcommerce, Some(subscribed));
        if let Some(ledger) = ledgers.get(phone) {
            assert_eq!(ledger.len(), 1, "one consent event per contact");
            assert_eq!(general_marketing_status(ledger), vec![subscribed]);
        }
    }
    let vips = app
        .db()
        .contacts_in_group(&seeded_store.store_hash, "VIP")
        .await
        .unwrap();
    assert_eq!(
        vips.len(),
        seeded
            .customers
            .iter()
            .filter(|c| c.group_id == vip && c.phone.is_some())
            .count()
    );
}

#[tokio::test]
async fn each_option_imports_its_consent_and_a_rerun_or_redelivery_adds_nothing() {
    let app = TestApp::start().await;
    for (hash, option) in [
        ("optsms", ConsentOption::SmsCheckbox),
        ("optinf", ConsentOption::Inferred),
    ] {
        let seeded_store = store(&app, hash, |s| {
            s.consent_option = option;
            s.inferred_acknowledged = true;
        })
        .await;
        let seeded = seed(&app, hash, 60);
        start_bulk_sync(&app, &seeded_store.store_hash, "job-1").await;
        app.drain_sync().await;
        let first = contacts_by_phone(&app, &seeded_store.store_hash).await;
        assert_eq!(first.len(), seeded.with_valid_phone);
        for phone in first.keys() {
            let ledger = app.db().ledger(&seeded_store.store_hash, phone).await.unwrap();
            assert_eq!(ledger.len(), 1);
            match (option, &ledger[0].kind) {
                (ConsentOption::SmsCheckbox, ConsentEventKind::ImportDefault { sync_job_id }) => {
                    assert_eq!(sync_job_id, "job-1")
                }
                (ConsentOption::Inferred, ConsentEventKind::Inferred { .. }) => {}
                other => panic!("{other:?}"),
            }
        }

        // A redelivered page and a whole second run: the same contacts, no new ledger events.
        app.sync
            .aws
            .sync_queue
            .send(&SyncMessage::CustomerPage {
                store_hash: seeded_store.store_hash.clone(),
                job_id: "job-1".into(),
                page: 1,
                per_page: 250,
                after: None,
            })
            .await
            .unwrap();
        app.clock.advance(Duration::minutes(10));
        start_bulk_sync(&app, &seeded_store.store_hash, "job-2").await;
        app.drain_sync().await;
        let job1 = sync_job(&app, &seeded_store.store_hash, "job-1").await;
        assert_eq!(
            (job1.pages_done, job1.contacts_imported as usize),
            (1, seeded.with_valid_phone)
        );
        let job2 = sync_job(&app, &seeded_store.store_hash, "job-2").await;
        assert_eq!(job2.status, SyncJobStatus::Completed);
        let second = contacts_by_phone(&app, &seeded_store.store_hash).await;
        assert_eq!(second.len(), first.len());
        for (phone, contact) in &second {
            let mut before = first[phone].clone();
            before.updated_at = contact.updated_at;
            assert_eq!(&before, contact);
            assert_eq!(app.db().ledger(&seeded_store.store_hash, phone).await.unwrap().len(), 1);
        }
    }
}

#[tokio::test]
async fn a_page_that_fails_every_retry_is_counted_failed_and_its_retry_completes_the_job() {
    let app = TestApp::start().await;
    let hash = "dlq1";
    let seeded_store = store(&app, hash, |_| {}).await;
    let seeded = seed(&app, hash, 300);
    // Page 2 (read by cursor) answers 503 for a while: more than the queue's 5 deliveries.
    app.bigcommerce.inject_fault(Fault::status(503, "after=").times(5));
    start_bulk_sync(&app, &seeded_store.store_hash, "job-1").await;
    let impatient = impatient_sync_source(&app);
    let outcome = impatient.drain().await.unwrap();
    assert_eq!(outcome.failed, 5, "page 2 failed on each of its 5 deliveries");
    let dead = dead_letter_source(&app).drain().await.unwrap();
    assert_eq!(dead.received, 1, "moto's redrive moved page 2 to the dead-letter queue");

    let job = sync_job(&app, &seeded_store.store_hash, "job-1").await;
    assert_eq!(job.status, SyncJobStatus::CompletedWithFailures);
    assert_eq!((job.total_pages, job.pages_done, job.pages_failed), (2, 1, 1));
    let failed = app
        .db()
        .failed_sync_pages(&seeded_store.store_hash, "job-1")
        .await
        .unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].page, 2);
    assert!(failed[0].after.is_some(), "kept with its cursor");

    retry_failed_pages(&app, &seeded_store.store_hash, "job-1").await;
    let job = sync_job(&app, &seeded_store.store_hash, "job-1").await;
    assert_eq!(job.status, SyncJobStatus::Completed);
    assert_eq!((job.pages_done, job.pages_failed), (2, 0));
    assert_eq!(
        contacts_by_phone(&app, &seeded_store.store_hash).await.len(),
        seeded.with_valid_phone
    );
}

/// What the settings page's "Retry failed pages" sends: each failed page with its cursor. Then drains.
async fn retry_failed_pages(app: &TestApp, store: &StoreHash, job_id: &str) {
    let failed = app.db().failed_sync_pages(store, job_id).await.unwrap();
    for page in failed {
        app.sync
            .aws
            .sync_queue
            .send(&SyncMessage::CustomerPage {
                store_hash: store.clone(),
                job_id: job_id.into(),
                page: page.page,
                per_page: 250,
                after: page.after,
            })
            .await
            .unwrap();
    }
    app.drain_sync().await;
}

#[tokio::test]
async fn a_page_refused_for_good_is_counted_failed_at_once_and_its_retry_continues_the_chain() {
    let app = TestApp::start().await;
    for (hash, status, fault) in [("perm403", 403, "after="), ("perm422", 422, "page=1&limit=250")] {
        let seeded_store = store(&app, hash, |_| {}).await;
        let seeded = seed(&app, hash, 600);
        app.bigcommerce
            .inject_fault(Fault::status(status, &format!("/stores/{hash}/v3/customers?{fault}")));
        start_bulk_sync(&app, &seeded_store.store_hash, "job-1").await;
        let (live, dead) = drain_with_dead_letters(&app).await;
        assert_eq!(
            (live.failed, dead.received),
            (0, 0),
            "{status}: not retried, not dead-lettered"
        );

        // The chain ended at the refused page: the job finished, with that page to retry.
        let job = sync_job(&app, &seeded_store.store_hash, "job-1").await;
        let refused = if status == 403 { 2 } else { 1 };
        assert_eq!(job.status, SyncJobStatus::CompletedWithFailures, "{status}");
        assert_eq!(
            (job.pages_done, job.pages_failed, job.last_page),
            (refused - 1, 1, Some(refused)),
            "{status}"
        );
        let failed = app
            .db()
            .failed_sync_pages(&seeded_store.store_hash, "job-1")
            .await
            .unwrap();
        assert_eq!(failed.iter().map(|f| f.page).collect::<Vec<_>>(), vec![refused]);

        // Retried (the store fixed the scope): the page imports and queues the rest of the chain.
        retry_failed_pages(&app, &seeded_store.store_hash, "job-1").await;
        let job = sync_job(&app, &seeded_store.store_hash, "job-1").await;
        assert_eq!(job.status, SyncJobStatus::Completed, "{status}");
        assert_eq!(
            (job.total_pages, job.pages_done, job.pages_failed, job.last_page),
            (3, 3, 0, Some(3))
        );
        assert_eq!(job.contacts_imported as usize, seeded.with_valid_phone);
        assert_eq!(
            contacts_by_phone(&app, &seeded_store.store_hash).await.len(),
            seeded.with_valid_phone
        );
    }
}

#[tokio::test]
async fn a_malformed_customer_is_skipped_and_reported_and_the_rest_of_the_page_imports() {
    let app = TestApp::start().await;
    let hash = "malf01";
    let seeded_store = store(&app, hash, |_| {}).await;
    let seeded = seed(&app, hash, 250);
    let broken: Vec<&SeededCustomer> = seeded.customers.iter().filter(|c| c.phone.is_some()).take(2).collect();
    app.bigcommerce
        .patch_customer_record(hash, broken[0].id, serde_json::json!({"addresses": "not a list"}));
    app.bigcommerce
        .patch_customer_record(hash, broken[1].id, serde_json::json!({"email": 42}));
    start_bulk_sync(&app, &seeded_store.store_hash, "job-1").await;
    let (live, dead) = drain_with_dead_letters(&app).await;
    assert_eq!((live.failed, dead.received), (0, 0));

    let job = sync_job(&app, &seeded_store.store_hash, "job-1").await;
    assert_eq!(job.status, SyncJobStatus::Completed, "{job:?}");
    assert_eq!(job.pages_failed, 0);
    assert_eq!(job.skipped_malformed, 2);
    let mut skipped = job.skipped_customers.clone();
    skipped.sort_unstable();
    let mut expected = vec![broken[0].id, broken[1].id];
    expected.sort_unstable();
    assert_eq!(skipped, expected);
    assert_eq!(job.contacts_imported as usize, seeded.with_valid_phone - 2);
    let contacts = contacts_by_phone(&app, &seeded_store.store_hash).await;
    assert_eq!(
        contacts.len(),
        seeded.with_valid_phone - 2,
        "the other 248 customers' pages imported"
    );
    for c in &broken {
        assert!(!contacts.contains_key(c.phone.as_ref().unwrap()));
    }
}

#[tokio::test]
async fn customers_deleted_and_created_during_a_sync_shift_no_page() {
    let app = TestApp::start().await;
    let hash = "shift01";
    let seeded_store = store(&app, hash, |_| {}).await;
    let seeded = seed(&app, hash, 1000);
    start_bulk_sync(&app, &seeded_store.store_hash, "job-1").await;

    // One message at a time: the start, then the chain of pages (each queues the next). Between pages the
    // merchant deletes customers already imported at the front of the listing (with page numbers, every
    // later page would shift and the customers at the boundary would be skipped), deletes one not yet read,
    // and adds new customers.
    //
    // In the fault run a page may fail after all its AWS retries: it comes back at once (perhaps beside the
    // successor it had queued) and is no boundary until the job counts it done.
    let mut deleted_unread = Vec::new();
    let mut deleted_imported = Vec::new();
    let mut created = Vec::new();
    let (mut pages, mut redelivered) = (0u32, false);
    for _ in 0..40 {
        let outcome = app.bulk_sync_queue.poll_once(0).await.unwrap();
        if outcome.received == 0 {
            break;
        }
        if !redelivered {
            assert_eq!(outcome.received, 1, "one page in flight at a time");
        }
        redelivered = outcome.failed > 0;
        assert!(
            !redelivered || app.aws.faulted,
            "a page failed without injected faults: {outcome:?}"
        );
        let done = sync_job(&app, &seeded_store.store_hash, "job-1").await.pages_done;
        if done == pages {
            continue; // the start, or a failed page
        }
        pages = done;
        // Pages 1-3 each end at or after the seeded customer at this index (an unread deletion pushes it on).
        let imported = 250 * pages as usize;
        if imported >= seeded.customers.len() {
            continue;
        }
        for c in &seeded.customers[imported - 7..imported] {
            app.bigcommerce.delete_customer(hash, c.id).await;
            deleted_imported.push(c);
        }
        let unread = &seeded.customers[imported + 3];
        app.bigcommerce.delete_customer(hash, unread.id).await;
        deleted_unread.push(unread.id);
        for n in 0..3 {
            let raw = format!("+1512555{:02}{:02}", pages, n);
            let id = app
                .bigcommerce
                .create_customer(
                    hash,
                    CustomerSeed {
                        email: format!("new{pages}-{n}@example.com"),
                        phone: raw.clone(),
                        addresses: vec![us_address(&raw)],
                        ..CustomerSeed::default()
                    },
                )
                .await;
            created.push((id, phone(&raw)));
        }
    }

    let job = sync_job(&app, &seeded_store.store_hash, "job-1").await;
    assert_eq!(job.status, SyncJobStatus::Completed);
    assert_eq!((job.pages_failed, job.last_page), (0, Some(pages)));
    let contacts = contacts_by_phone(&app, &seeded_store.store_hash).await;
    let mut expected: BTreeMap<Phone, u64> = seeded
        .customers
        .iter()
        .filter(|c| !deleted_unread.contains(&c.id))
        .filter_map(|c| Some((c.phone.clone()?, c.id)))
        .collect();
    expected.extend(created.iter().map(|(id, phone)| (phone.clone(), *id)));
    let imported: BTreeMap<Phone, u64> = contacts
        .iter()
        .map(|(phone, c)| (phone.clone(), c.customer_id.unwrap()))
        .collect();
    assert_eq!(imported, expected, "every customer that was there throughout, once");
    assert_eq!(
        job.contacts_imported as usize,
        expected.len(),
        "no customer imported twice"
    );
    assert_eq!(pages, 5);
    // In the fault run, a page that failed beside its successor's first delivery has no changes at its end.
    if !app.aws.faulted {
        assert_eq!(
            (deleted_imported.len(), created.len()),
            (21, 9),
            "changes after pages 1-3"
        );
    }
}

// ---------------------------------------------------------------------------------------------------- live

fn us_address(phone: &str) -> CustomerAddress {
    CustomerAddress {
        first_name: "Jane".into(),
        last_name: "Doe".into(),
        address1: "1 Main St".into(),
        city: "Austin".into(),
        state_or_province: "Texas".into(),
        postal_code: "78701".into(),
        country: "United States".into(),
        country_code: "US".into(),
        phone: phone.into(),
        ..CustomerAddress::default()
    }
}

fn phone(raw: &str) -> Phone {
    Phone::parse(raw, Some("US")).unwrap()
}

#[tokio::test]
async fn customer_events_keep_contacts_and_a_deleted_customer_keeps_their_opt_out() {
    let app = TestApp::start().await;
    let hash = "live01";
    let seeded = app
        .seed_store(hash, |s| {
            s.consent_option = ConsentOption::GeneralMarketing;
            s.require_consent_confirmed = true;
        })
        .await;
    let store = &seeded.store_hash;
    let group = app.bigcommerce.create_customer_group(hash, "Retail");
    let customer_id = app
        .bigcommerce
        .create_customer(
            hash,
            CustomerSeed {
                email: "jane@example.com".into(),
                phone: "(512) 555-0143".into(),
                customer_group_id: group,
                addresses: vec![us_address("")],
                ..CustomerSeed::default()
            },
        )
        .await;
    app.drain_sync().await;
    let first_phone = phone("(512) 555-0143");
    let contact = app.db().get_contact(store, &first_phone).await.unwrap().unwrap();
    assert_eq!(contact.customer_id, Some(customer_id));
    assert_eq!(contact.groups, vec!["Retail".to_owned(), "Store customers".to_owned()]);
    assert_eq!(contact.first_name.as_deref(), Some("Jane"));

    // They subscribe to the newsletter: subscriber group, and a general-marketing opt-in on the ledger.
    app.clock.advance(Duration::seconds(30));
    app.bigcommerce
        .create_subscriber(
            hash,
            SubscriberSeed {
                email: "jane@example.com".into(),
                ..SubscriberSeed::default()
            },
        )
        .await;
    app.drain_sync().await;
    let contact = app.db().get_contact(store, &first_phone).await.unwrap().unwrap();
    assert_eq!(
        contact.groups,
        vec!["Retail".to_owned(), "Store subscribers".to_owned()]
    );
    assert_eq!(
        general_marketing_status(&app.db().ledger(store, &first_phone).await.unwrap()),
        vec![false, true]
    );

    // A new number: the contact moves, the old number leaves the customer. Another update event for the
    // same state changes nothing more.
    app.clock.advance(Duration::seconds(30));
    app.bigcommerce
        .update_customer(hash, customer_id, |c| c.phone = "(512) 555-0199".into())
        .await;
    app.drain_sync().await;
    app.bigcommerce
        .fire_event(
            hash,
            "store/customer/updated",
            serde_json::json!({"type": "customer", "id": customer_id}),
        )
        .await;
    app.drain_sync().await;
    let new_phone = phone("(512) 555-0199");
    let moved = app.db().get_contact(store, &new_phone).await.unwrap().unwrap();
    assert_eq!(moved.customer_id, Some(customer_id));
    assert_eq!(moved.groups, vec!["Retail".to_owned(), "Store subscribers".to_owned()]);
    let left = app.db().get_contact(store, &first_phone).await.unwrap().unwrap();
    assert_eq!(left.customer_id, None);
    assert!(left.groups.is_empty());
    assert_eq!(
        app.db()
            .contact_by_customer(store, customer_id)
            .await
            .unwrap()
            .map(|c| c.phone),
        Some(new_phone.clone())
    );

    // The person texts STOP (recorded by the replies flow), then the merchant deletes the customer.
    let now = app.clock.now();
    app.db()
        .append_consent(&ConsentEvent::new(
            store.clone(),
            new_phone.clone(),
            Purpose::Marketing,
            now,
            now,
            "reply:stop-1",
            ConsentEventKind::OptOut(OptOutMethod::Keyword {
                raw_text: "STOP".into(),
                message_id: None,
            }),
        ))
        .await
        .unwrap();
    app.clock.advance(Duration::seconds(5));
    app.bigcommerce.delete_customer(hash, customer_id).await;
    app.drain_sync().await;
    let erased = app.db().get_contact(store, &new_phone).await.unwrap().unwrap();
    assert!(erased.erased_at.is_some());
    assert_eq!(
        (erased.first_name, erased.email, erased.customer_id),
        (None, None, None)
    );
    assert!(erased.groups.is_empty());
    let snapshot = app.db().phone_snapshot(store, &new_phone).await.unwrap();
    assert!(
        snapshot
            .ledger
            .iter()
            .any(|e| matches!(e.kind, ConsentEventKind::OptOut(_))),
        "the opt-out survives the deletion"
    );
    let settings = app.db().store_with_settings(store).await.unwrap().unwrap().1.unwrap();
    let decision = decide(&DecisionInput {
        settings: &settings,
        ledger: &snapshot.ledger,
        message: &MessageKind::CartReminder {
            cart_id: "c1".into(),
            step: 1,
            abandoned_at: app.clock.now() - Duration::hours(1),
        },
        sends: &snapshot.sends,
        recipient: &Recipient::resolve(&new_phone, &[]),
        now: app.clock.now(),
    });
    assert!(matches!(
        decision,
        shared::consent::Decision::Deny {
            reason: Reason::OptedOut,
            ..
        }
    ));

    // A late update of the deleted customer (out of order) brings nothing back.
    app.bigcommerce
        .fire_event(
            hash,
            "store/customer/updated",
            serde_json::json!({"type": "customer", "id": customer_id}),
        )
        .await;
    app.drain_sync().await;
    let still = app.db().get_contact(store, &new_phone).await.unwrap().unwrap();
    assert_eq!(still.first_name, None);
}

async fn guest_cart(app: &TestApp, hash: &str) -> String {
    app.bigcommerce
        .create_cart(
            hash,
            CartSeed {
                items: vec![ItemSeed::new("Canvas Tote", 2, 19.5)],
                ..CartSeed::default()
            },
        )
        .await
}

fn billing(email: &str, phone: &str, country: &str) -> BillingAddress {
    BillingAddress {
        first_name: "Ann".into(),
        last_name: "Lee".into(),
        email: email.into(),
        city: "Sydney".into(),
        state_or_province: "New South Wales".into(),
        state_or_province_code: "NSW".into(),
        country: "Australia".into(),
        country_code: country.into(),
        postal_code: "2000".into(),
        phone: phone.into(),
        ..BillingAddress::default()
    }
}

#[tokio::test]
async fn carts_get_a_reminder_timer_that_resets_on_change_and_ends_on_conversion_with_a_guest_contact() {
    let app = TestApp::start().await;
    let hash = "carts1";
    let seeded = app.seed_store(hash, |_| {}).await;
    let store = &seeded.store_hash;
    let t0 = app.clock.now();
    let cart_id = guest_cart(&app, hash).await;
    app.drain_sync().await;
    let cart = app.db().get_cart(store, &cart_id).await.unwrap().unwrap();
    assert_eq!(cart.status, CartStatus::Active);
    assert_eq!(cart.phone, None);
    assert_eq!(cart.line_items[0].name, "Canvas Tote");
    assert_eq!(cart.amount.to_string(), "39");
    assert_eq!(cart.next_due_at, Some(t0 + Duration::minutes(30)));

    // The guest types an email with an Australian billing phone: a change, the timer restarts.
    app.clock.advance(Duration::minutes(2));
    app.bigcommerce
        .set_billing_address(hash, &cart_id, billing("ann@example.com", "0412 345 678", "AU"))
        .await;
    app.drain_sync().await;
    let cart = app.db().get_cart(store, &cart_id).await.unwrap().unwrap();
    let au = Phone::parse("+61412345678", None).unwrap();
    assert_eq!(cart.phone.as_ref(), Some(&au));
    assert_eq!(
        (cart.email.as_deref(), cart.first_name.as_deref()),
        (Some("ann@example.com"), Some("Ann"))
    );
    assert_eq!(cart.country_code.as_deref(), Some("AU"));
    assert_eq!(cart.next_due_at, Some(t0 + Duration::minutes(32)));

    // BigCommerce's abandonment signal an hour later (by token) marks it abandoned without moving the timer.
    app.bigcommerce.abandon_cart(hash, &cart_id).await;
    app.drain_sync().await;
    let cart = app.db().get_cart(store, &cart_id).await.unwrap().unwrap();
    assert_eq!(cart.status, CartStatus::Abandoned);
    assert_eq!(cart.next_due_at, Some(t0 + Duration::minutes(32)));

    // The guest comes back and buys: converted, no more reminders, and a guest contact with the purchase.
    let order_id = app.bigcommerce.place_order(hash, &cart_id, 11).await;
    app.drain_sync().await;
    let cart = app.db().get_cart(store, &cart_id).await.unwrap().unwrap();
    assert_eq!(cart.status, CartStatus::Converted);
    assert_eq!(cart.converted_order_id, Some(order_id));
    assert_eq!(cart.next_due_at, None);
    let contact = app.db().get_contact(store, &au).await.unwrap().unwrap();
    assert_eq!(contact.groups, vec![GUEST_GROUP.to_owned()]);
    assert_eq!(contact.customer_id, None);
    assert_eq!(contact.email.as_deref(), Some("ann@example.com"));
    let purchases: Vec<_> = app
        .db()
        .ledger(store, &au)
        .await
        .unwrap()
        .into_iter()
        .filter(
            |e| matches!(e.kind, ConsentEventKind::Purchase { order_id: id, opt_out_offered: false } if id == order_id),
        )
        .collect();
    assert_eq!(purchases.len(), 1);
    // An order status update repeats none of it.
    app.bigcommerce.set_order_status(hash, order_id, 2).await;
    app.drain_sync().await;
    assert_eq!(app.db().ledger(store, &au).await.unwrap().len(), 1);
}

/// A New York shopper's cart, made at the simulator's (the app's) current time, its webhooks held back.
async fn late_us_cart(app: &TestApp, hash: &str) -> (SeededStore, String) {
    let seeded = app.seed_store(hash, |_| {}).await;
    let ny = Phone::from_e164(NY).unwrap();
    give_consent(app, &seeded, &ny, app.clock.now() - Duration::days(1)).await;
    app.bigcommerce.hold_webhooks(true);
    let cart_id = guest_cart(app, hash).await;
    let address = BillingAddress {
        first_name: "Jane".into(),
        email: "jane@example.com".into(),
        city: "New York".into(),
        state_or_province: "New York".into(),
        state_or_province_code: "NY".into(),
        country: "United States".into(),
        country_code: "US".into(),
        postal_code: "10001".into(),
        phone: NY.into(),
        ..BillingAddress::default()
    };
    app.bigcommerce.set_billing_address(hash, &cart_id, address).await;
    (seeded, cart_id)
}

/// Sunday 2 November 2025, 12:00 in New York: 47 and 48 hours later are daytime there too.
const SUNDAY_NOON_NY: &str = "2025-11-02T17:00:00Z";

#[tokio::test]
async fn a_cart_webhook_delivered_47_hours_late_gets_no_us_reminder_past_the_48_hour_mark() {
    let app = TestApp::start_with(TestAppOptions {
        start: at(SUNDAY_NOON_NY),
        ..TestAppOptions::default()
    })
    .await;
    let (seeded, cart_id) = late_us_cart(&app, "late47").await;
    let shopper_left = app.clock.now();

    // BigCommerce delivers the cart's webhooks 47 hours late: the timer starts from its own update time.
    app.clock.advance(Duration::hours(47));
    app.bigcommerce.release_webhooks().await;
    app.drain_sync().await;
    let cart = app.db().get_cart(&seeded.store_hash, &cart_id).await.unwrap().unwrap();
    assert!(cart.phone.is_some());
    assert_eq!(cart.last_activity_at, shopper_left);
    assert_eq!(cart.next_due_at, Some(shopper_left + Duration::minutes(30)));

    // Past the 48-hour mark (the sweep had not run meanwhile): the reminder has expired, nothing is sent.
    app.clock.advance(Duration::minutes(61));
    sweep_and_send(&app).await;
    assert!(app.sms.messages().is_empty(), "{:?}", app.sms.messages());
    let decision = app
        .db()
        .cart_decisions(&seeded.store_hash, &cart_id)
        .await
        .unwrap()
        .pop()
        .expect("the sweep's due step was decided");
    assert_eq!(
        (decision.outcome.as_str(), decision.code.as_str()),
        ("deny", "cart_reminder_expired")
    );
    let cart = app.db().get_cart(&seeded.store_hash, &cart_id).await.unwrap().unwrap();
    assert_eq!(cart.next_due_at, None);
}

#[tokio::test]
async fn a_cart_webhook_delivered_2_hours_late_keeps_its_schedule_from_the_shoppers_time() {
    let app = TestApp::start_with(TestAppOptions {
        start: at(SUNDAY_NOON_NY),
        ..TestAppOptions::default()
    })
    .await;
    let (seeded, cart_id) = late_us_cart(&app, "late02").await;
    let shopper_left = app.clock.now();

    app.clock.advance(Duration::hours(2));
    app.bigcommerce.release_webhooks().await;
    app.drain_sync().await;
    let cart = app.db().get_cart(&seeded.store_hash, &cart_id).await.unwrap().unwrap();
    assert_eq!(cart.last_activity_at, shopper_left);
    assert_eq!(cart.next_due_at, Some(shopper_left + Duration::minutes(30)));

    // Already due: the one US reminder goes now, expiring 48 hours after the shopper left.
    sweep_and_send(&app).await;
    let messages = app.sms.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].expires_at, Some(shopper_left + Duration::hours(48)));
}

#[tokio::test]
async fn duplicate_and_out_of_order_webhooks_converge_to_the_current_state() {
    let app = TestApp::start().await;
    let hash = "order1";
    let seeded = app.seed_store(hash, |_| {}).await;
    let store = &seeded.store_hash;
    app.bigcommerce.hold_webhooks(true);
    let cart_id = guest_cart(&app, hash).await;
    app.bigcommerce
        .add_cart_item(hash, &cart_id, ItemSeed::new("Water Bottle", 1, 12.0))
        .await;
    app.bigcommerce
        .set_billing_address(hash, &cart_id, billing("kim@example.com", "+61 412 555 111", "AU"))
        .await;
    let order_id = app.bigcommerce.place_order(hash, &cart_id, 11).await;
    let events = app.bigcommerce.pending_webhooks();
    assert!(
        events.len() >= 5,
        "created, updated x3, converted, order created: {}",
        events.len()
    );
    // Newest first, each twice.
    let mut delivered_again = 0;
    for event in events.iter().rev() {
        for _ in 0..2 {
            let records = app.bigcommerce.deliver_until_acknowledged(event).await;
            assert!(records.last().is_some_and(DeliveryRecord::succeeded), "{records:?}");
            delivered_again += records.len() - 1;
        }
    }
    let outcome = app.drain_sync().await;
    if !app.aws.faulted {
        assert_eq!(
            delivered_again, 0,
            "every delivery, the duplicates too, is acknowledged at once"
        );
    }
    // Only a delivery the app failed may have been queued again by its retry (the fault run's AWS failures).
    assert!(
        (events.len()..=events.len() + delivered_again).contains(&outcome.received),
        "duplicates never reach the queue: {} events, {delivered_again} delivered again, {} queued",
        events.len(),
        outcome.received
    );
    let cart = app.db().get_cart(store, &cart_id).await.unwrap().unwrap();
    assert_eq!(cart.status, CartStatus::Converted);
    assert_eq!(cart.converted_order_id, Some(order_id));
    assert_eq!(cart.next_due_at, None);
    let kim = Phone::parse("+61412555111", None).unwrap();
    let contact = app.db().get_contact(store, &kim).await.unwrap().unwrap();
    assert_eq!(contact.groups, vec![GUEST_GROUP.to_owned()]);
    assert_eq!(app.db().ledger(store, &kim).await.unwrap().len(), 1, "one purchase");

    // The same again, in order this time, after the fact: nothing changes.
    let before = app.db().get_cart(store, &cart_id).await.unwrap();
    for event in &events {
        app.bigcommerce.deliver(event).await;
    }
    assert_eq!(app.drain_sync().await.received, 0);
    assert_eq!(app.db().get_cart(store, &cart_id).await.unwrap(), before);
}

#[tokio::test]
async fn uninstalled_and_unconnected_stores_get_no_reminder_timers() {
    let app = TestApp::start().await;
    let seeded = app.seed_store("unconn", |_| {}).await;
    // Not connected: a store record without settings.
    let mut record = app.db().get_store(&seeded.store_hash).await.unwrap().unwrap();
    record.settings_version = 0;
    app.db().put_store(&record).await.unwrap();
    let cart_id = guest_cart(&app, "unconn").await;
    app.drain_sync().await;
    let cart = app.db().get_cart(&seeded.store_hash, &cart_id).await.unwrap().unwrap();
    assert_eq!(cart.next_due_at, None);

    // Uninstalled: events are not even read.
    app.db()
        .mark_uninstalled(&seeded.store_hash, app.clock.now())
        .await
        .unwrap();
    let other = guest_cart(&app, "unconn").await;
    app.drain_sync().await;
    assert_eq!(app.db().get_cart(&seeded.store_hash, &other).await.unwrap(), None);
}

#[tokio::test]
async fn forged_and_unauthenticated_deliveries_are_rejected_and_change_nothing() {
    let app = TestApp::start().await;
    let seeded = app.seed_store("forge1", |_| {}).await;
    let secret = seeded.webhook_secret.expose().to_owned();
    let data = serde_json::json!({"type": "customer", "id": 1});
    let valid = || Delivery::signed(&app, "forge1", &secret, "store/customer/created", data.clone());

    let cases: Vec<(&str, Delivery, u16)> = vec![
        (
            "no secret header",
            valid().without(shared::bigcommerce::WEBHOOK_SECRET_HEADER),
            401,
        ),
        (
            "wrong secret",
            valid().with(shared::bigcommerce::WEBHOOK_SECRET_HEADER, "guess"),
            401,
        ),
        ("bad signature", valid().with("webhook-signature", "v1,AAAA"), 401),
        ("signed for another id", valid().with("webhook-id", "msg_other"), 401),
        (
            "stale timestamp",
            valid().with("webhook-timestamp", &(chrono::Utc::now().timestamp() - 600).to_string()),
            401,
        ),
        (
            "unknown store",
            Delivery::signed(&app, "nosuch", &secret, "store/customer/created", data.clone()),
            404,
        ),
        (
            "malformed",
            Delivery {
                body: "{not json".into(),
                headers: valid().headers,
            },
            400,
        ),
        (
            "oversized",
            Delivery {
                body: format!("{{\"pad\":\"{}\"}}", "x".repeat(20_000)),
                headers: valid().headers,
            },
            413,
        ),
        (
            "missing id",
            Delivery::signed(
                &app,
                "forge1",
                &secret,
                "store/customer/created",
                serde_json::json!({"type": "customer"}),
            ),
            400,
        ),
    ];
    for (name, delivery, status) in cases {
        assert_eq!(delivery.post(&app).await.status().as_u16(), status, "{name}");
    }
    assert_eq!(app.sync_queue.depth().await.unwrap(), 0, "nothing was queued");

    // The genuine delivery is accepted once; a retry of it is acknowledged and dropped. Warm, a retry costs one
    // DynamoDB call (the refused claim), a new delivery two (its claim, then `done`) besides the SQS send.
    let genuine = valid();
    assert_eq!(genuine.post(&app).await.status(), 200);
    let calls = app.aws.aws.db.counter().calls();
    assert_eq!(genuine.post(&app).await.status(), 200);
    assert_eq!(
        app.aws.aws.db.counter().calls() - calls,
        1,
        "a warm delivery reads nothing"
    );
    let another = valid();
    let calls = app.aws.aws.db.counter().calls();
    assert_eq!(another.post(&app).await.status(), 200);
    assert_eq!(app.aws.aws.db.counter().calls() - calls, 2);
    assert_eq!(app.sync_queue.depth().await.unwrap(), 2);

    // Unsigned deliveries (BigCommerce does not sign every account yet) need the secret header alone.
    let unsigned = valid().without("webhook-signature");
    assert_eq!(unsigned.post(&app).await.status(), 200);
    let store_hash = StoreHash::parse("forge1").unwrap();
    assert!(app.db().store_contacts(&store_hash).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_signed_in_customers_cart_carries_their_number_before_the_billing_step() {
    let app = TestApp::start().await;
    let hash = "signin";
    let seeded = app.seed_store(hash, |_| {}).await;
    let customer_id = app
        .bigcommerce
        .create_customer(
            hash,
            CustomerSeed {
                email: "kai@example.com".into(),
                first_name: "Kai".into(),
                phone: "(512) 555-0177".into(),
                addresses: vec![us_address("")],
                ..CustomerSeed::default()
            },
        )
        .await;
    app.drain_sync().await;
    let cart_id = app
        .bigcommerce
        .create_cart(
            hash,
            CartSeed {
                customer_id,
                email: "kai@example.com".into(),
                items: vec![ItemSeed::new("Desk Lamp", 1, 64.0)],
                ..CartSeed::default()
            },
        )
        .await;
    app.drain_sync().await;
    let cart = app.db().get_cart(&seeded.store_hash, &cart_id).await.unwrap().unwrap();
    assert_eq!(cart.customer_id, customer_id);
    assert_eq!(cart.phone, Some(phone("(512) 555-0177")));
    assert_eq!(cart.first_name.as_deref(), Some("Kai"));
    assert_eq!(cart.next_due_at, Some(app.clock.now() + Duration::minutes(30)));
}

#[tokio::test]
async fn a_customer_deleted_while_their_page_is_in_flight_stays_erased() {
    let app = TestApp::start().await;
    let hash = "race01";
    let seeded_store = app.seed_store(hash, |_| {}).await;
    let seeded = seed(&app, hash, 20);
    let victim = seeded.customers.iter().find(|c| c.phone.is_some()).unwrap();
    // The deletion is processed first, but the page below still reads the customer: as if the page had read
    // them just before the merchant deleted them.
    app.bigcommerce
        .fire_event(
            hash,
            "store/customer/deleted",
            serde_json::json!({"type": "customer", "id": victim.id}),
        )
        .await;
    app.drain_sync().await;
    start_bulk_sync(&app, &seeded_store.store_hash, "job-1").await;
    app.drain_sync().await;

    let phone = victim.phone.as_ref().unwrap();
    let contact = app
        .db()
        .get_contact(&seeded_store.store_hash, phone)
        .await
        .unwrap()
        .unwrap();
    assert!(contact.erased_at.is_some());
    assert_eq!((contact.email, contact.customer_id), (None, None));
    assert!(
        app.db()
            .ledger(&seeded_store.store_hash, phone)
            .await
            .unwrap()
            .is_empty()
    );
    let job = sync_job(&app, &seeded_store.store_hash, "job-1").await;
    assert_eq!(job.contacts_imported as usize, seeded.with_valid_phone - 1);
}
