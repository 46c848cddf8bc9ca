//! Threat-model rows for the queue- and schedule-triggered functions: unreadable, forged and replayed
//! messages on the sync and send queues, and a sweep invoked with a payload that is not the schedule's. The
//! real handlers run behind the template's SQS event sources (partial batch responses, retries, dead-letter
//! queues) against moto, the BigCommerce simulator and the SMS sandbox.

use chrono::Duration;
use integration_tests::contact_sync::contacts_by_phone;
use integration_tests::recovery::{LONDON, NY, SYDNEY, cart, give_consent, item, phone, save, sweep_and_send};
use integration_tests::{TestApp, at};
use shared::messages::{SendJob, SyncMessage};
use shared::{Clock, Phone, StoreHash};
use sim::bigcommerce::CustomerSeed;

/// Tuesday 4 November 2025, 14:00 UTC: 09:00 in New York, 14:00 in London.
const DAYTIME: &str = "2025-11-04T14:00:00Z";

/// Puts `body` on a queue as is, as anyone able to write to it could.
async fn send_raw(app: &TestApp, queue_url: &str, body: &str) {
    aws_sdk_sqs::Client::new(&app.aws.sdk)
        .send_message()
        .queue_url(queue_url)
        .message_body(body)
        .send()
        .await
        .expect("message queued");
}

/// Bodies no function can read: not JSON, JSON of no known message type, a message missing its fields.
const UNREADABLE: [&str; 3] = [
    "not json at all",
    r#"{"type":"drop_all_tables","store_hash":"aq0001"}"#,
    r#"{"job_id":7}"#,
];

#[tokio::test]
async fn unreadable_and_unknown_store_sync_messages_are_dropped_once_beside_a_genuine_event() {
    let app = TestApp::start().await;
    let seeded = app.seed_store("aq0001", |_| {}).await;
    // A store the simulator has (with a customer) but that never installed the app here.
    let unknown = StoreHash::parse("aq0002").unwrap();
    app.bigcommerce
        .create_store("aq0002", sim::bigcommerce::StoreSeed::default());
    app.bigcommerce.hold_webhooks(true);
    let customer = |phone: &str| CustomerSeed {
        email: "jane@example.com".into(),
        phone: phone.into(),
        ..CustomerSeed::default()
    };
    let genuine = app
        .bigcommerce
        .create_customer("aq0001", customer("(512) 555-0143"))
        .await;
    let stranger = app
        .bigcommerce
        .create_customer("aq0002", customer("(512) 555-0199"))
        .await;
    let created = |store: &StoreHash, id: u64| SyncMessage::Webhook {
        store_hash: store.clone(),
        scope: "store/customer/created".into(),
        data: serde_json::json!({"type": "customer", "id": id}),
        hash: format!("hash-{id}"),
        created_at: app.clock.now().timestamp(),
    };

    let queue = app.sync_queue.queue_url().to_owned();
    for body in UNREADABLE {
        send_raw(&app, &queue, body).await;
    }
    let forged = [
        created(&seeded.store_hash, genuine),
        created(&unknown, stranger),
        SyncMessage::StartBulkSync {
            store_hash: unknown.clone(),
            job_id: "job-1".into(),
        },
        SyncMessage::CheckoutConsent {
            store_hash: unknown.clone(),
            cart_id: "cart-1".into(),
            phone: Phone::parse("(512) 555-0199", Some("US")).unwrap(),
            attempt: 0,
        },
    ];
    for message in &forged {
        app.sync.aws.sync_queue.send(message).await.unwrap();
    }
    let outcome = app.drain_sync().await;

    // Each message ran once: none was reported as a batch item failure, so none is retried.
    assert_eq!(
        (outcome.received, outcome.failed),
        (UNREADABLE.len() + forged.len(), 0),
        "{outcome:?}"
    );
    let contacts = contacts_by_phone(&app, &seeded.store_hash).await;
    let expected = Phone::parse("(512) 555-0143", Some("US")).unwrap();
    assert_eq!(contacts.keys().collect::<Vec<_>>(), vec![&expected]);
    assert_eq!(contacts[&expected].customer_id, Some(genuine));
    // Nothing was written for the store the app does not know.
    assert!(app.db().store_contacts(&unknown).await.unwrap().is_empty());
    assert!(app.db().get_store(&unknown).await.unwrap().is_none());
    assert!(app.db().get_sync_job(&unknown, "job-1").await.unwrap().is_none());
}

#[tokio::test]
async fn unreadable_and_forged_send_jobs_send_nothing_beside_a_genuine_reminder() {
    let app = TestApp::start_at(DAYTIME).await;
    let store = app.seed_store("aq0003", |_| {}).await;
    let gone = app.seed_store("aq0004", |_| {}).await;
    let (ny, london) = (phone(NY), phone(LONDON));
    let items = || vec![item("Blue Mug", 101, 1, 1250)];
    give_consent(&app, &store, &ny, at(DAYTIME) - Duration::days(1)).await;
    give_consent(&app, &gone, &london, at(DAYTIME) - Duration::days(1)).await;
    give_consent(&app, &store, &london, at(DAYTIME) - Duration::days(1)).await;
    save(&app, &cart(&store, "cart-1", Some(&ny), "US", at(DAYTIME), items())).await;
    // Carts still being shopped (not due yet), so only a forged job could name them now.
    let recent = at(DAYTIME) + Duration::minutes(20);
    let not_due = cart(&store, "cart-2", Some(&london), "GB", recent, items());
    save(&app, &not_due).await;
    save(&app, &cart(&gone, "cart-9", Some(&london), "GB", recent, items())).await;
    app.db().mark_uninstalled(&gone.store_hash, at(DAYTIME)).await.unwrap();
    let due = at(DAYTIME) + Duration::minutes(30);
    app.clock.set(due);
    let report: sweep::SweepReport = serde_json::from_value(app.run_sweep().await).unwrap();
    assert_eq!(report.enqueued, 1);

    let queue = app.send_queue.queue_url().to_owned();
    for body in UNREADABLE {
        send_raw(&app, &queue, body).await;
    }
    let forged = [
        SendJob::new(store.store_hash.clone(), "no-such-cart".into(), 1, due),
        SendJob::new(StoreHash::parse("aq0005").unwrap(), "cart-1".into(), 1, due),
        SendJob::new(gone.store_hash.clone(), "cart-9".into(), 1, due),
        SendJob::new(store.store_hash.clone(), "cart-2".into(), 1, due),
    ];
    for job in &forged {
        app.send.aws.send_queue.send(job).await.unwrap();
    }
    let outcome = app.drain_send().await;

    assert_eq!(
        (outcome.received, outcome.failed),
        (1 + UNREADABLE.len() + forged.len(), 0),
        "{outcome:?}"
    );
    let messages = app.sms.messages();
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(
        (messages[0].to.as_str(), messages[0].metadata["cart_id"].as_str()),
        (NY, "cart-1")
    );
    // The cart not due yet keeps its own due time (the consent engine defers a step before it is due).
    let waiting = app.db().get_cart(&store.store_hash, "cart-2").await.unwrap().unwrap();
    assert_eq!((waiting.reminders_sent, waiting.next_due_at), (0, not_due.next_due_at));
    // The uninstalled store's cart is not reminded later either, and nothing was claimed for it.
    let left = app.db().get_cart(&gone.store_hash, "cart-9").await.unwrap().unwrap();
    assert_eq!((left.reminders_sent, left.next_due_at), (0, None));
    assert!(
        app.db()
            .get_send(&gone.store_hash, "cart-9", 1)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        app.db()
            .get_cart(&store.store_hash, "no-such-cart")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn a_send_job_replayed_after_its_step_was_sent_sends_nothing_more() {
    // 11:00 in Sydney: three reminders a day apart.
    let start_at = "2025-11-04T00:00:00Z";
    let app = TestApp::start_at(start_at).await;
    let store = app.seed_store("aq0006", |_| {}).await;
    let sydney = phone(SYDNEY);
    give_consent(&app, &store, &sydney, at(start_at) - Duration::days(1)).await;
    let mut abandoned = cart(
        &store,
        "cart-1",
        Some(&sydney),
        "AU",
        at(start_at),
        vec![item("Blue Mug", 101, 1, 1250)],
    );
    abandoned.state_code = Some("NSW".into());
    save(&app, &abandoned).await;
    let first_due = abandoned.next_due_at.unwrap();
    app.clock.set(first_due);
    sweep_and_send(&app).await;
    assert_eq!(app.sms.messages_to(SYDNEY).len(), 1);
    let after_first = app.db().get_cart(&store.store_hash, "cart-1").await.unwrap().unwrap();
    assert_eq!(after_first.reminders_sent, 1);

    // The step-1 job (the sweep's own, deterministic) comes back while step 2 waits, and again when it is due.
    let replay = SendJob::new(store.store_hash.clone(), "cart-1".into(), 1, first_due);
    app.clock.advance(Duration::hours(1));
    app.send.aws.send_queue.send(&replay).await.unwrap();
    let outcome = app.drain_send().await;
    assert_eq!((outcome.received, outcome.failed), (1, 0));
    assert_eq!(app.sms.messages_to(SYDNEY).len(), 1);
    let unchanged = app.db().get_cart(&store.store_hash, "cart-1").await.unwrap().unwrap();
    assert_eq!(
        (unchanged.reminders_sent, unchanged.next_due_at),
        (1, after_first.next_due_at),
        "the replay neither advanced nor ended the sequence"
    );

    app.clock.set(after_first.next_due_at.unwrap());
    app.send.aws.send_queue.send(&replay).await.unwrap();
    sweep_and_send(&app).await;
    let steps: Vec<String> = app
        .sms
        .messages_to(SYDNEY)
        .iter()
        .map(|m| m.metadata["step"].clone())
        .collect();
    assert_eq!(steps, ["1", "2"]);
    assert!(app.sms.duplicate_idempotency_keys().is_empty());
}

#[tokio::test]
async fn a_sweep_invoked_with_a_forged_payload_still_takes_only_due_carts() {
    let app = TestApp::start_at(DAYTIME).await;
    let store = app.seed_store("aq0007", |_| {}).await;
    let ny = phone(NY);
    let items = || vec![item("Blue Mug", 101, 1, 1250)];
    save(&app, &cart(&store, "due", Some(&ny), "US", at(DAYTIME), items())).await;
    let tomorrow = at(DAYTIME) + Duration::days(1);
    save(&app, &cart(&store, "not-due", Some(&ny), "US", tomorrow, items())).await;
    app.clock.advance(Duration::minutes(30));

    // A schedule-shaped event claiming a time a year ahead, with a detail asking for everything.
    let forged = serde_json::json!({
        "version": "0", "id": "forged", "detail-type": "Scheduled Event", "source": "attacker",
        "account": "000000000000", "time": "2026-11-04T14:00:00Z", "region": "us-east-1", "resources": [],
        "detail": {"now": "2026-11-04T14:00:00Z", "store_hash": "aq0007", "cart_id": "not-due", "all": true}
    });
    let fan_out = app.functions["sweep"].invoke(forged).await.unwrap();
    assert_eq!(fan_out["shards_enqueued"], 1, "{fan_out}");
    let report = app.drain_sweep_shards().await;
    assert_eq!((report.due_found, report.enqueued), (1, 1), "{report:?}");
    // Something that is not an EventBridge event at all is refused before any work.
    assert!(
        app.functions["sweep"]
            .invoke(serde_json::json!({"cart_id": "not-due"}))
            .await
            .is_err()
    );

    let sqs = aws_sdk_sqs::Client::new(&app.aws.sdk);
    let received = sqs
        .receive_message()
        .queue_url(app.send_queue.queue_url())
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap();
    let carts: Vec<String> = received
        .messages()
        .iter()
        .map(|m| serde_json::from_str::<SendJob>(m.body().unwrap()).unwrap().cart_id)
        .collect();
    assert_eq!(carts, ["due"]);
    let not_due = app.db().get_cart(&store.store_hash, "not-due").await.unwrap().unwrap();
    assert_eq!(not_due.next_due_at, Some(tomorrow + Duration::minutes(30)));
}
