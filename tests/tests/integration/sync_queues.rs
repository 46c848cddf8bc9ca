//! Bulk and live sync work apart: each message kind lands on its own queue (grouped by store, for SQS fair
//! queues), and a store's bulk sync in progress does not hold up another store's live event or opt-out
//! write-back. The real `webhooks` and `sync` handlers behind the template's event sources, against moto, the
//! BigCommerce simulator and the SMS sandbox.

use aws_sdk_sqs::types::MessageSystemAttributeName;
use integration_tests::contact_sync::{start_bulk_sync, sync_job};
use integration_tests::replies::{SENDER, us_phone};
use integration_tests::{TestApp, TestAppOptions, at};
use shared::messages::SyncMessage;
use shared::model::SyncJobStatus;
use shared::{Phone, StoreHash};

/// The messages waiting in one queue with their message group, taken off it (the sync function does not run).
async fn take(app: &TestApp, queue_url: &str) -> Vec<(SyncMessage, Option<String>)> {
    let sqs = aws_sdk_sqs::Client::new(&app.aws.sdk);
    let mut taken = Vec::new();
    loop {
        let output = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .message_system_attribute_names(MessageSystemAttributeName::MessageGroupId)
            .send()
            .await
            .unwrap();
        let batch = output.messages.unwrap_or_default();
        if batch.is_empty() {
            return taken;
        }
        for message in batch {
            let group = message
                .attributes()
                .and_then(|a| a.get(&MessageSystemAttributeName::MessageGroupId))
                .cloned();
            taken.push((serde_json::from_str(message.body().unwrap()).unwrap(), group));
            sqs.delete_message()
                .queue_url(queue_url)
                .receipt_handle(message.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
}

fn kinds(messages: &[(SyncMessage, Option<String>)]) -> Vec<&'static str> {
    let mut kinds: Vec<&'static str> = messages
        .iter()
        .map(|(m, _)| match m {
            SyncMessage::StartBulkSync { .. } => "start_bulk_sync",
            SyncMessage::CustomerPage { .. } => "customer_page",
            SyncMessage::Webhook { .. } => "webhook",
            SyncMessage::WriteBackConsent { .. } => "write_back_consent",
            SyncMessage::CheckoutConsent { .. } => "checkout_consent",
        })
        .collect();
    kinds.sort_unstable();
    kinds
}

#[tokio::test]
async fn each_sync_message_kind_goes_to_its_own_queue_in_its_stores_group() {
    let app = TestApp::start().await;
    let (a, b) = (StoreHash::parse("route1").unwrap(), StoreHash::parse("route2").unwrap());
    let phone = Phone::parse("(512) 555-0143", Some("US")).unwrap();
    let messages = [
        SyncMessage::StartBulkSync {
            store_hash: a.clone(),
            job_id: "job-1".into(),
        },
        SyncMessage::CustomerPage {
            store_hash: a.clone(),
            job_id: "job-1".into(),
            page: 2,
            per_page: 250,
            after: Some("cursor-1".into()),
        },
        SyncMessage::Webhook {
            store_hash: b.clone(),
            scope: "store/customer/updated".into(),
            data: serde_json::json!({"type": "customer", "id": 7}),
            hash: "h1".into(),
            created_at: 1_700_000_000,
        },
        SyncMessage::WriteBackConsent {
            store_hash: b.clone(),
            customer_id: 7,
            phone: phone.clone(),
        },
        SyncMessage::CheckoutConsent {
            store_hash: a.clone(),
            cart_id: "cart-1".into(),
            phone,
            attempt: 0,
        },
    ];
    // Whichever way a message is sent, it is routed by its kind.
    let queue = &app.sync.aws.sync_queue;
    queue.send(&messages[0]).await.unwrap();
    queue.send_all(&messages[1..4]).await.unwrap();
    queue
        .send_delayed(&messages[4], std::time::Duration::ZERO)
        .await
        .unwrap();

    let resources = &app.aws.aws_resources;
    let live = take(&app, &resources.sync_queue_url).await;
    let bulk = take(&app, &resources.bulk_sync_queue_url).await;
    assert_eq!(kinds(&bulk), ["customer_page", "start_bulk_sync"]);
    assert_eq!(kinds(&live), ["checkout_consent", "webhook", "write_back_consent"]);
    for (message, group) in live.iter().chain(&bulk) {
        assert_eq!(group.as_deref(), Some(message.store_hash().as_str()), "{message:?}");
    }
}

#[tokio::test]
async fn a_bulk_sync_in_progress_does_not_delay_another_stores_live_event_or_opt_out_write_back() {
    let app = TestApp::start_with(TestAppOptions {
        start: at("2026-11-25T15:00:00Z"),
        ..TestAppOptions::default()
    })
    .await;
    app.messagemedia_callback();
    let bulk_store = app.seed_store("bulk01", |_| {}).await;
    app.bigcommerce.seed_customers("bulk01", 1_000);
    let live_store = app.seed_store("live01", |s| s.sender_id = Some(SENDER.into())).await;
    app.approve_sender(&live_store, shared::model::SenderSharing::Exclusive)
        .await;

    // Store A starts its bulk sync: the start fans out its pages onto the bulk queue.
    start_bulk_sync(&app, &bulk_store.store_hash, "job-1").await;
    let started = app.bulk_sync_queue.poll_once(0).await.unwrap();
    assert_eq!(started.succeeded, 1);
    let pages_waiting = app.bulk_sync_queue.depth().await.unwrap();
    assert!(pages_waiting >= 1, "A's pages are queued");

    // Store B: a customer signs up (a live store event), and a subscribed customer replies STOP.
    let customer = sim::bigcommerce::CustomerSeed {
        email: "new.customer@example.com".into(),
        phone: "(512) 555-0143".into(),
        ..Default::default()
    };
    let new_customer = app.bigcommerce.create_customer("live01", customer).await;
    let opted_out = us_phone(1);
    let opted_out_id = app
        .bigcommerce
        .create_customer(
            "live01",
            sim::bigcommerce::CustomerSeed {
                email: "subscriber@example.com".into(),
                phone: "(212) 201-0001".into(),
                ..Default::default()
            },
        )
        .await;
    app.put_contact(&live_store.store_hash, &opted_out, Some(opted_out_id))
        .await;
    app.subscribe(&live_store, &opted_out).await;
    app.sms.reply(opted_out.as_e164(), SENDER, "STOP").await.unwrap();

    // Only the live queue's event source runs: B's work is done while every page of A still waits.
    app.sync_queue.drain().await.unwrap();
    let contact = app
        .db()
        .get_contact(
            &live_store.store_hash,
            &Phone::parse("(512) 555-0143", Some("US")).unwrap(),
        )
        .await
        .unwrap()
        .expect("B's new customer is a contact");
    assert_eq!(contact.customer_id, Some(new_customer));
    let written_back = app
        .bigcommerce
        .metafields("live01", opted_out_id)
        .iter()
        .any(|m| m.value.contains("unsubscribed"));
    assert!(written_back, "B's opt-out is written back to BigCommerce");
    assert_eq!(app.bulk_sync_queue.depth().await.unwrap(), pages_waiting);
    let job = sync_job(&app, &bulk_store.store_hash, "job-1").await;
    assert_eq!(job.status, SyncJobStatus::Running);
    assert_eq!(job.pages_done, 0);

    // A's sync then completes on its own queue.
    app.drain_sync().await;
    let job = sync_job(&app, &bulk_store.store_hash, "job-1").await;
    assert_eq!(job.status, SyncJobStatus::Completed);
}

/// Wall-clock milliseconds since the epoch: the bulk-import budget is physical throughput, measured on the
/// wall clock (`sync::pace`).
fn wall_ms() -> i64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    i64::try_from(since_epoch.as_millis()).unwrap()
}

#[tokio::test]
async fn a_bulk_page_waits_for_its_share_of_the_deployments_import_budget() {
    let app = TestApp::start_with(TestAppOptions {
        start: at("2026-11-25T15:00:00Z"),
        bulk_import_contacts_per_second: std::num::NonZeroU32::new(20),
        ..TestAppOptions::default()
    })
    .await;
    let store = app.seed_store("pace01", |_| {}).await;
    app.bigcommerce.seed_customers("pace01", 40);
    // Another store's import holds the deployment's budget for the next 3 s.
    let busy_until = wall_ms() + 3_000;
    assert!(app.db().move_bulk_import_free_at(None, busy_until).await.unwrap());

    start_bulk_sync(&app, &store.store_hash, "job-1").await;
    app.drain_sync().await;

    let job = sync_job(&app, &store.store_hash, "job-1").await;
    assert_eq!(job.status, SyncJobStatus::Completed);
    assert!(
        wall_ms() >= busy_until,
        "the page's writes waited until the other import's share of the budget was used"
    );
    // The page's 40 contacts take 2 s of a budget of 20 a second, after the other store's share.
    let free_at = app
        .db()
        .bulk_import_free_at()
        .await
        .unwrap()
        .expect("the page reserved");
    assert!(
        free_at >= busy_until + 2_000,
        "free at {free_at}, busy until {busy_until}"
    );
}
