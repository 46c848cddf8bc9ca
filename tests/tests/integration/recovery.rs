//! Abandoned-cart recovery end to end: the sweep (schedule), the send function (SQS) and the recovery link
//! (HTTP) running their real handlers against moto, the BigCommerce simulator and the SMS sandbox, with time
//! moved by the test's clock.
//!
//! Carts are filed with `put_cart` as the sync function files them from cart and checkout webhooks; consent
//! is appended to the ledger as the capture and reply flows record it.

use chrono::{DateTime, Duration, Utc};
use integration_tests::recovery::{
    LONDON, NY, SYDNEY, cart, give_consent, item, link_token, opt_out, phone, save, shopper_cart, sweep_and_send,
    take_send_jobs,
};
use integration_tests::{SeededStore, TestApp, TestAppOptions, at, builders};
use shared::consent::{ConsentEventKind, OptOutMethod};
use shared::messages::SendJob;
use shared::model::{CartStatus, OptOutLink, RecoveryLink, SendStatus};
use shared::sms::SmsClient;
use shared::{Clock, StoreHash};

/// Tuesday 4 November 2025, 14:00 UTC: 09:00 in New York, 14:00 in London.
const DAYTIME: &str = "2025-11-04T14:00:00Z";

async fn start_with(at_rfc3339: &str, twilio: bool) -> TestApp {
    TestApp::start_with(TestAppOptions {
        start: at(at_rfc3339),
        twilio,
        ..TestAppOptions::default()
    })
    .await
}

async fn sent_record(app: &TestApp, store: &SeededStore, cart_id: &str, step: u8) -> shared::model::SendRecord {
    app.db()
        .get_send(&store.store_hash, cart_id, step)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no send record for {cart_id} step {step}"))
}

async fn stored_cart(app: &TestApp, store: &SeededStore, cart_id: &str) -> shared::model::Cart {
    app.db().get_cart(&store.store_hash, cart_id).await.unwrap().unwrap()
}

async fn last_decision(app: &TestApp, store: &SeededStore, cart_id: &str) -> shared::model::ReminderDecision {
    app.db()
        .cart_decisions(&store.store_hash, cart_id)
        .await
        .unwrap()
        .pop()
        .expect("a decision was recorded")
}

#[tokio::test]
async fn an_abandoned_cart_with_consent_gets_exactly_one_sms_with_the_right_content_after_the_delay() {
    let app = TestApp::start_at(DAYTIME).await;
    let store = app.seed_store("rec001", |_| {}).await;
    let ny = phone(NY);
    let authorising = give_consent(&app, &store, &ny, at(DAYTIME) - Duration::days(1)).await;
    let items = vec![
        item("Blue Mug", 101, 2, 1250),
        item("Cabernet Sauvignon 2019", 102, 1, 3000),
    ];
    save(&app, &cart(&store, "cart-1", Some(&ny), "US", at(DAYTIME), items)).await;

    app.clock.advance(Duration::minutes(29));
    let (report, _) = sweep_and_send(&app).await;
    assert_eq!(report.enqueued, 0, "not due before 30 minutes");
    assert!(app.sms.messages().is_empty());

    app.clock.advance(Duration::minutes(1));
    let (report, outcome) = sweep_and_send(&app).await;
    assert_eq!((report.due_found, report.enqueued), (1, 1));
    app.assert_outcome(outcome, 1, 0, "the reminder sent");
    let messages = app.sms.messages();
    assert_eq!(messages.len(), 1);
    let sms = &messages[0];
    assert_eq!(sms.to, NY);
    let token = link_token(&sms.content);
    // Brand, first name, the items (the wine named by no SHAFT-screened text), our link, the opt-out.
    assert_eq!(
        sms.content,
        format!(
            "Acme Outfitters: Hi Jane, you left Blue Mug and 1 more item in your cart. Complete your order: {}\n\
             Reply STOP to opt out",
            app.url(&format!("/r/{token}"))
        )
    );
    assert_eq!(sms.metadata["store_hash"], "rec001");
    assert_eq!(sms.metadata["cart_id"], "cart-1");
    assert_eq!(sms.metadata["step"], "1");
    assert_eq!(sms.expires_at, Some(at(DAYTIME) + Duration::hours(48)), "US: 48 hours");
    assert_eq!(
        sms.callback_url.as_deref(),
        Some(
            app.url(&format!("/webhooks/messagemedia/{}", app.sms_webhook_token.expose()))
                .as_str()
        )
    );
    assert_eq!(sms.idempotency_key.as_deref(), Some("rec001:cart-1:1"));

    // The evidence: what was sent, under which consent and settings, and the decision that allowed it.
    let record = sent_record(&app, &store, "cart-1", 1).await;
    assert_eq!(record.status, SendStatus::Sent);
    assert_eq!(record.provider.as_deref(), Some("messagemedia"));
    assert_eq!(record.provider_message_id.as_deref(), Some(sms.id.as_str()));
    assert_eq!(record.ledger_event_id, authorising);
    assert_eq!(record.settings_version, store.settings.version);
    assert_eq!(record.body, sms.content);
    assert_eq!(record.link_token, token);
    assert_eq!(record.sent_at, Some(app.clock.now()));
    let found = app
        .db()
        .send_by_provider_message("messagemedia", &sms.id)
        .await
        .unwrap();
    assert_eq!(found.map(|r| r.cart_id), Some("cart-1".to_owned()));
    let decision = last_decision(&app, &store, "cart-1").await;
    assert_eq!(
        (decision.outcome.as_str(), decision.code.as_str()),
        ("allow", "allowed")
    );
    assert!(decision.explanation.contains(&authorising), "{}", decision.explanation);
    let link: RecoveryLink = app
        .db()
        .get_token(RecoveryLink::TOKEN_KIND, &token, app.clock.now())
        .await
        .unwrap()
        .expect("the link resolves");
    assert_eq!((link.cart_id.as_str(), link.step), ("cart-1", 1));

    // US: the sequence ends after one reminder, and later sweeps send nothing more.
    let after = stored_cart(&app, &store, "cart-1").await;
    assert_eq!((after.reminders_sent, after.next_due_at), (1, None));
    app.clock.advance(Duration::hours(30));
    sweep_and_send(&app).await;
    assert_eq!(app.sms.messages().len(), 1);
}

#[tokio::test]
async fn a_cart_converted_before_its_reminder_gets_none() {
    let app = TestApp::start_at(DAYTIME).await;
    let store = app.seed_store("rec002", |_| {}).await;
    let ny = phone(NY);
    give_consent(&app, &store, &ny, at(DAYTIME) - Duration::days(1)).await;
    let items = || vec![item("Blue Mug", 101, 1, 1250)];
    save(
        &app,
        &cart(&store, "before-sweep", Some(&ny), "US", at(DAYTIME), items()),
    )
    .await;
    save(
        &app,
        &cart(&store, "after-sweep", Some(&ny), "US", at(DAYTIME), items()),
    )
    .await;

    // Converted before it was due: the sync function ends the sequence.
    app.clock.advance(Duration::minutes(10));
    let mut converted = stored_cart(&app, &store, "before-sweep").await;
    converted.status = CartStatus::Converted;
    converted.next_due_at = None;
    save(&app, &converted).await;

    // The other converts after the sweep took it, before its job ran.
    app.clock.advance(Duration::minutes(20));
    let report: sweep::SweepReport = serde_json::from_value(app.run_sweep().await).unwrap();
    assert_eq!(report.enqueued, 1);
    let mut converted = stored_cart(&app, &store, "after-sweep").await;
    converted.status = CartStatus::Converted;
    save(&app, &converted).await;
    let outcome = app.drain_send().await;
    app.assert_outcome(outcome, 1, 0, "the job ends without a text");

    assert!(app.sms.messages().is_empty());
    assert_eq!(stored_cart(&app, &store, "after-sweep").await.next_due_at, None);
    for cart_id in ["before-sweep", "after-sweep"] {
        assert!(
            app.db()
                .get_send(&store.store_hash, cart_id, 1)
                .await
                .unwrap()
                .is_none()
        );
    }
    app.clock.advance(Duration::hours(1));
    assert_eq!(sweep_and_send(&app).await.0.due_found, 0);
}

#[tokio::test]
async fn an_opt_out_before_the_reminder_is_due_means_none() {
    let app = TestApp::start_at(DAYTIME).await;
    let store = app.seed_store("rec003", |_| {}).await;
    let ny = phone(NY);
    give_consent(&app, &store, &ny, at(DAYTIME) - Duration::days(1)).await;
    save(
        &app,
        &cart(
            &store,
            "cart-1",
            Some(&ny),
            "US",
            at(DAYTIME),
            vec![item("Blue Mug", 101, 1, 1250)],
        ),
    )
    .await;
    let stop = opt_out(&app, &store, &ny, at(DAYTIME) + Duration::minutes(10)).await;

    app.clock.advance(Duration::minutes(30));
    let (report, outcome) = sweep_and_send(&app).await;
    assert_eq!((report.enqueued, outcome.succeeded), (1, 1));
    assert!(app.sms.messages().is_empty());
    let decision = last_decision(&app, &store, "cart-1").await;
    assert_eq!(
        (decision.outcome.as_str(), decision.code.as_str()),
        ("deny", "opted_out")
    );
    assert!(decision.explanation.contains(&stop), "{}", decision.explanation);
    assert!(
        app.db()
            .get_send(&store.store_hash, "cart-1", 1)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(stored_cart(&app, &store, "cart-1").await.next_due_at, None);
}

#[tokio::test]
async fn quiet_hours_defer_the_reminder_to_the_window_opening() {
    // 01:00 in New York.
    let app = TestApp::start_at("2025-11-04T06:00:00Z").await;
    let store = app.seed_store("rec004", |_| {}).await;
    let ny = phone(NY);
    give_consent(&app, &store, &ny, app.clock.now() - Duration::days(1)).await;
    save(
        &app,
        &cart(
            &store,
            "cart-1",
            Some(&ny),
            "US",
            app.clock.now(),
            vec![item("Blue Mug", 101, 1, 1250)],
        ),
    )
    .await;

    app.clock.advance(Duration::minutes(30));
    sweep_and_send(&app).await;
    assert!(app.sms.messages().is_empty());
    let opening = at("2025-11-04T13:00:00Z"); // 08:00 in New York
    let decision = last_decision(&app, &store, "cart-1").await;
    assert_eq!(
        (decision.outcome.as_str(), decision.code.as_str()),
        ("defer", "quiet_hours")
    );
    assert_eq!(decision.defer_until, Some(opening));
    assert_eq!(stored_cart(&app, &store, "cart-1").await.next_due_at, Some(opening));

    app.clock.set(opening - Duration::minutes(1));
    assert_eq!(sweep_and_send(&app).await.0.enqueued, 0);
    app.clock.set(opening);
    sweep_and_send(&app).await;
    let messages = app.sms.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].accepted_at, opening);
}

#[tokio::test]
async fn a_us_number_gets_one_reminder_at_most() {
    let app = TestApp::start_at(DAYTIME).await;
    let store = app
        .seed_store("rec005", |s| {
            s.reminders.max_steps = 3;
            s.smart_sending_hours = 8;
        })
        .await;
    let ny = phone(NY);
    give_consent(&app, &store, &ny, at(DAYTIME) - Duration::days(1)).await;
    save(
        &app,
        &cart(
            &store,
            "cart-1",
            Some(&ny),
            "US",
            at(DAYTIME),
            vec![item("Blue Mug", 101, 1, 1250)],
        ),
    )
    .await;
    app.clock.advance(Duration::minutes(30));
    sweep_and_send(&app).await;
    assert_eq!(app.sms.messages().len(), 1);
    assert_eq!(stored_cart(&app, &store, "cart-1").await.next_due_at, None);

    // Even if the cart were filed as due again (a bug elsewhere), the carrier rule holds.
    app.clock.advance(Duration::hours(24));
    let mut refiled = stored_cart(&app, &store, "cart-1").await;
    refiled.next_due_at = Some(app.clock.now());
    save(&app, &refiled).await;
    let (report, _) = sweep_and_send(&app).await;
    assert_eq!(report.enqueued, 1);
    let decision = last_decision(&app, &store, "cart-1").await;
    assert_eq!(
        (decision.outcome.as_str(), decision.code.as_str()),
        ("deny", "cart_reminder_limit")
    );
    assert_eq!(app.sms.messages().len(), 1);
    assert_eq!(stored_cart(&app, &store, "cart-1").await.next_due_at, None);
}

#[tokio::test]
async fn an_australian_number_gets_three_reminders_spaced_a_day_apart() {
    // 11:00 in Sydney.
    let start_at = "2025-11-04T00:00:00Z";
    let app = TestApp::start_at(start_at).await;
    let store = app.seed_store("rec006", |_| {}).await;
    let sydney = phone(SYDNEY);
    give_consent(&app, &store, &sydney, at(start_at) - Duration::days(1)).await;
    // The billing state places the mobile number in Sydney's time zone (alone, it could be anywhere in
    // Australia, and the send window would be what all its zones share).
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

    app.clock.advance(Duration::minutes(30));
    sweep_and_send(&app).await;
    for _ in 0..2 {
        app.clock.advance(Duration::hours(12));
        sweep_and_send(&app).await;
        app.clock.advance(Duration::hours(12));
        sweep_and_send(&app).await;
    }
    app.clock.advance(Duration::days(3));
    sweep_and_send(&app).await;

    let messages = app.sms.messages_to(SYDNEY);
    assert_eq!(messages.len(), 3);
    let first = at(start_at) + Duration::minutes(30);
    for (i, sms) in messages.iter().enumerate() {
        assert_eq!(sms.metadata["step"], (i + 1).to_string());
        assert_eq!(sms.accepted_at, first + Duration::hours(24 * i as i64));
    }
    let tokens: std::collections::HashSet<String> = messages.iter().map(|m| link_token(&m.content)).collect();
    assert_eq!(tokens.len(), 3, "each reminder has its own link");
    let after = stored_cart(&app, &store, "cart-1").await;
    assert_eq!((after.reminders_sent, after.next_due_at), (3, None));
}

#[tokio::test]
async fn the_same_job_three_times_and_overlapping_sweeps_send_one_sms() {
    let app = TestApp::start_at(DAYTIME).await;
    let store = app.seed_store("rec007", |_| {}).await;
    let (ny, london) = (phone(NY), phone(LONDON));
    give_consent(&app, &store, &ny, at(DAYTIME) - Duration::days(1)).await;
    give_consent(&app, &store, &london, at(DAYTIME) - Duration::days(1)).await;
    let items = || vec![item("Blue Mug", 101, 1, 1250)];
    save(&app, &cart(&store, "cart-1", Some(&ny), "US", at(DAYTIME), items())).await;
    save(&app, &cart(&store, "cart-2", Some(&london), "GB", at(DAYTIME), items())).await;
    let due = at(DAYTIME) + Duration::minutes(30);
    app.clock.set(due);

    // Two sweeps at once take each cart once.
    let (a, b) = tokio::join!(app.run_sweep(), app.run_sweep());
    let (a, b): (sweep::SweepReport, sweep::SweepReport) =
        (serde_json::from_value(a).unwrap(), serde_json::from_value(b).unwrap());
    assert_eq!(a.enqueued + b.enqueued, 2, "{a:?} {b:?}");

    // cart-1's job delivered two more times, in the queue.
    let job = SendJob::new(store.store_hash.clone(), "cart-1".into(), 1, due);
    for _ in 0..2 {
        app.send.aws.send_queue.send(&job).await.unwrap();
    }
    // cart-2's job run three times at once, besides its queued copy.
    let job2 = SendJob::new(store.store_hash.clone(), "cart-2".into(), 1, due);
    let event = serde_json::json!({ "Records": [{
        "messageId": "m", "receiptHandle": "r", "body": serde_json::to_string(&job2).unwrap(),
        "attributes": {}, "messageAttributes": {}, "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:send", "awsRegion": "us-east-1" }] });
    let send = &app.functions["send"];
    let (x, y, z) = tokio::join!(
        send.invoke(event.clone()),
        send.invoke(event.clone()),
        send.invoke(event)
    );
    for response in [x, y, z] {
        response.unwrap();
    }
    let outcome = app.drain_send().await;
    assert_eq!(outcome.received, 4);

    assert_eq!(app.sms.messages_to(NY).len(), 1);
    assert_eq!(app.sms.messages_to(LONDON).len(), 1);
    assert!(app.sms.duplicate_idempotency_keys().is_empty());
    for cart_id in ["cart-1", "cart-2"] {
        assert_eq!(sent_record(&app, &store, cart_id, 1).await.status, SendStatus::Sent);
    }
}

#[tokio::test]
async fn a_sweep_whose_jobs_are_lost_loses_no_cart() {
    let app = TestApp::start_at(DAYTIME).await;
    let store = app.seed_store("rec008", |_| {}).await;
    let ny = phone(NY);
    give_consent(&app, &store, &ny, at(DAYTIME) - Duration::days(1)).await;
    save(
        &app,
        &cart(
            &store,
            "cart-1",
            Some(&ny),
            "US",
            at(DAYTIME),
            vec![item("Blue Mug", 101, 1, 1250)],
        ),
    )
    .await;
    app.clock.advance(Duration::minutes(30));
    let report: sweep::SweepReport = serde_json::from_value(app.run_sweep().await).unwrap();
    assert_eq!(report.enqueued, 1);
    // The job never reaches the sender (a sweep that died between taking the cart and enqueueing).
    aws_sdk_sqs::Client::new(&app.aws.sdk)
        .purge_queue()
        .queue_url(app.send_queue.queue_url())
        .send()
        .await
        .unwrap();
    assert_eq!(app.drain_send().await.received, 0);

    app.clock.advance(Duration::minutes(14));
    assert_eq!(sweep_and_send(&app).await.0.enqueued, 0, "the lease still holds");
    app.clock.advance(Duration::minutes(1));
    let (report, _) = sweep_and_send(&app).await;
    assert_eq!(report.enqueued, 1, "due again when the lease ends");
    assert_eq!(app.sms.messages_to(NY).len(), 1);
}

#[tokio::test]
async fn a_provider_error_then_success_sends_one_sms() {
    let app = TestApp::start_at(DAYTIME).await;
    let store = app.seed_store("rec009", |_| {}).await;
    let ny = phone(NY);
    give_consent(&app, &store, &ny, at(DAYTIME) - Duration::days(1)).await;
    save(
        &app,
        &cart(
            &store,
            "cart-1",
            Some(&ny),
            "US",
            at(DAYTIME),
            vec![item("Blue Mug", 101, 1, 1250)],
        ),
    )
    .await;
    app.sms.fail_next(1, 500);
    app.clock.advance(Duration::minutes(30));
    let (_, outcome) = sweep_and_send(&app).await;
    app.assert_outcome(outcome, 1, 1, "retried through SQS");
    assert_eq!(app.sms.messages_to(NY).len(), 1);
    let record = sent_record(&app, &store, "cart-1", 1).await;
    assert_eq!(record.status, SendStatus::Sent);
    assert_eq!(record.error, None);
    assert!(app.sms.duplicate_idempotency_keys().is_empty());
}

#[tokio::test]
async fn a_provider_timeout_after_the_message_went_out_is_never_sent_twice() {
    let app = TestApp::start_at(DAYTIME).await;
    let store = app.seed_store("rec010", |_| {}).await;
    let ny = phone(NY);
    give_consent(&app, &store, &ny, at(DAYTIME) - Duration::days(1)).await;
    save(
        &app,
        &cart(
            &store,
            "cart-1",
            Some(&ny),
            "US",
            at(DAYTIME),
            vec![item("Blue Mug", 101, 1, 1250)],
        ),
    )
    .await;
    app.clock.advance(Duration::minutes(30));
    assert_eq!(sweep_and_send_only_sweep(&app).await, 1);

    // The provider accepts the message but answers after the sender gave up.
    app.sms.delay_next(1, std::time::Duration::from_secs(2));
    let impatient = send::Deps {
        aws: app.aws.aws.clone(),
        bigcommerce: app.send.bigcommerce.clone(),
        sms: SmsClient::new(&app.sms_config, reqwest::Client::new(), app.clock.clone())
            .with_timeout(std::time::Duration::from_millis(300)),
        sms_webhook_token: app.sms_webhook_token.clone(),
        app_url: app.send.app_url.clone(),
        clock: app.clock.clone(),
        bulk_import_contacts_per_second: None,
    };
    let job = SendJob::new(
        store.store_hash.clone(),
        "cart-1".into(),
        1,
        at(DAYTIME) + Duration::minutes(30),
    );
    let latest_start = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let outcome = send::job::process(&impatient, &job, latest_start).await.unwrap();
    assert_eq!(outcome, send::JobOutcome::Unconfirmed);
    // The queued job, and any retry, find the outcome recorded and send nothing.
    app.drain_send().await;
    assert_eq!(app.sms.messages_to(NY).len(), 1);
    let record = sent_record(&app, &store, "cart-1", 1).await;
    assert_eq!(record.status, SendStatus::Unconfirmed);
    assert!(record.error.unwrap().contains("outcome unknown"));
    assert_eq!(stored_cart(&app, &store, "cart-1").await.reminders_sent, 1);
}

#[tokio::test]
async fn an_attempt_that_never_reported_back_is_not_repeated() {
    let app = TestApp::start_at(DAYTIME).await;
    let store = app.seed_store("rec011", |_| {}).await;
    let ny = phone(NY);
    give_consent(&app, &store, &ny, at(DAYTIME) - Duration::days(1)).await;
    save(
        &app,
        &cart(
            &store,
            "cart-1",
            Some(&ny),
            "US",
            at(DAYTIME),
            vec![item("Blue Mug", 101, 1, 1250)],
        ),
    )
    .await;
    app.clock.advance(Duration::minutes(30));
    assert_eq!(sweep_and_send_only_sweep(&app).await, 1);
    // A sender that crashed during the provider call: its claim and attempt stay behind.
    let (_, claimed) = claim_like_a_crashed_sender(&app, &store, "cart-1").await;
    assert!(claimed);

    // While the attempt may still be running, deliveries back off (and end in the dead-letter queue).
    let outcome = app.drain_send().await;
    assert_eq!(outcome.succeeded, 0);
    // Once it is certainly over, the next sweep's job records the unknown outcome and sends nothing.
    app.clock.advance(Duration::minutes(15));
    sweep_and_send(&app).await;
    assert!(app.sms.messages().is_empty());
    let record = sent_record(&app, &store, "cart-1", 1).await;
    assert_eq!(record.status, SendStatus::Unconfirmed);
    assert!(record.error.unwrap().contains("never reported back"));
}

async fn sweep_and_send_only_sweep(app: &TestApp) -> usize {
    let report: sweep::SweepReport = serde_json::from_value(app.run_sweep().await).unwrap();
    report.enqueued
}

async fn claim_like_a_crashed_sender(app: &TestApp, store: &SeededStore, cart_id: &str) -> (DateTime<Utc>, bool) {
    let now = app.clock.now();
    let record = shared::model::SendRecord {
        ledger_event_id: "e".into(),
        settings_version: store.settings.version,
        body: "Acme Outfitters: ...".into(),
        link_token: shared::db::new_token(),
        ..builders::claimed_send(&store.store_hash, cart_id, &phone(NY), now)
    };
    app.db().claim_send(&record).await.unwrap();
    let began = app
        .db()
        .begin_send_attempt(&store.store_hash, cart_id, 1, now)
        .await
        .unwrap();
    (now, began)
}

#[tokio::test]
async fn a_click_redirects_into_a_recreated_checkout_and_its_order_is_recovered_revenue() {
    let app = TestApp::start_at(DAYTIME).await;
    let store = app.seed_store("rec012", |_| {}).await;
    let hash = store.store_hash.as_str();
    let ny = phone(NY);
    give_consent(&app, &store, &ny, at(DAYTIME) - Duration::days(1)).await;
    let (cart_id, items) = shopper_cart(&app, &store, &[("Blue Mug", 2, 12.5), ("Red Hat", 1, 20.0)], None).await;
    save(
        &app,
        &cart(&store, &cart_id, Some(&ny), "US", at(DAYTIME), items.clone()),
    )
    .await;
    app.clock.advance(Duration::minutes(30));
    sweep_and_send(&app).await;
    let token = link_token(&app.sms.messages_to(NY)[0].content);

    // The messaging app draws the link's preview first: not the shopper, so no click and no cart re-created.
    let carts_before = app.bigcommerce.carts(hash).len();
    for bot in ["facebookexternalhit/1.1 Facebot Twitterbot/1.0", "WhatsApp/2.23.20.0"] {
        let preview = app
            .http
            .get(app.url(&format!("/r/{token}")))
            .header("user-agent", bot)
            .send()
            .await
            .unwrap();
        assert_eq!(preview.status(), 200, "{bot}");
        assert!(preview.text().await.unwrap().contains("Your saved cart"));
    }
    assert_eq!(sent_record(&app, &store, &cart_id, 1).await.clicked_at, None);
    assert_eq!(app.bigcommerce.carts(hash).len(), carts_before);

    app.clock.advance(Duration::minutes(10));
    let clicked_at = app.clock.now();
    let response = app.http.get(app.url(&format!("/r/{token}"))).send().await.unwrap();
    assert_eq!(response.status(), 302);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.contains("action=loadInCheckout"), "{location}");
    let recreated_id = query_param(&location, "id");
    assert_ne!(recreated_id, cart_id);
    let recreated = app
        .bigcommerce
        .cart(hash, &recreated_id)
        .expect("re-created in BigCommerce");
    assert!(recreated.created_by_api);
    let lines: Vec<(u64, u32)> = recreated
        .line_items
        .iter()
        .map(|l| (l.product_id, l.quantity))
        .collect();
    assert_eq!(
        lines,
        items.iter().map(|i| (i.product_id, i.quantity)).collect::<Vec<_>>()
    );
    assert_eq!((recreated.customer_id, recreated.channel_id), (0, 1));
    // The redirect lands in checkout with the cart restored.
    let landing = reqwest::get(&location).await.unwrap();
    assert_eq!(landing.status(), 200);
    assert!(landing.text().await.unwrap().contains("Checkout"));
    assert_eq!(
        sent_record(&app, &store, &cart_id, 1).await.clicked_at,
        Some(clicked_at)
    );

    // Links are single-use at BigCommerce, ours are not: a second click gets a fresh cart; the first click
    // stays the recorded one.
    app.clock.advance(Duration::minutes(1));
    let again = app.http.get(app.url(&format!("/r/{token}"))).send().await.unwrap();
    assert_eq!(again.status(), 302);
    assert_ne!(
        query_param(again.headers()["location"].to_str().unwrap(), "id"),
        recreated_id
    );
    assert_eq!(
        sent_record(&app, &store, &cart_id, 1).await.clicked_at,
        Some(clicked_at)
    );

    // The shopper pays for the re-created cart an hour later.
    app.clock.advance(Duration::hours(1));
    app.bigcommerce.hold_webhooks(false);
    let order_id = app.bigcommerce.place_order(hash, &recreated_id, 11).await;
    // The sync function's live order path hears of it through the webhook and credits the reminder, once
    // however often the order's events repeat.
    app.drain_sync().await;
    app.bigcommerce.set_order_status(hash, order_id, 11).await;
    app.drain_sync().await;
    let record = sent_record(&app, &store, &cart_id, 1).await;
    assert_eq!(record.recovered_order_id, Some(order_id));
    assert_eq!(record.recovered_amount, Some(rust_decimal::Decimal::new(4500, 2)));
    let summary = shared::recovery::RecoverySummary::of(&app.db().recent_sends(&store.store_hash, 10).await.unwrap());
    assert_eq!((summary.sent, summary.clicked, summary.orders_recovered), (1, 1, 1));
}

#[tokio::test]
async fn unknown_expired_and_malformed_links_get_a_friendly_page() {
    let app = TestApp::start_at(DAYTIME).await;
    let store = app.seed_store("rec013", |_| {}).await;
    let token = shared::db::new_token();
    let link = RecoveryLink {
        store_hash: store.store_hash.clone(),
        cart_id: "cart-1".into(),
        step: 1,
    };
    app.db()
        .put_token(
            RecoveryLink::TOKEN_KIND,
            &token,
            &link,
            app.clock.now() + Duration::days(30),
        )
        .await
        .unwrap();
    app.clock.advance(Duration::days(31));
    for path in [
        format!("/r/{token}"),
        format!("/r/{}", shared::db::new_token()),
        "/r/short".to_owned(),
        "/r/%3Cscript%3Ealert(1)%3C%2Fscript%3E".to_owned(),
    ] {
        let response = app.http.get(app.url(&path)).send().await.unwrap();
        assert_eq!(response.status(), 404, "{path}");
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html"),
            "{path}"
        );
        let body = response.text().await.unwrap();
        assert!(body.contains("This link has expired"), "{path}: {body}");
        assert!(
            !body.contains("<script>") && !body.to_lowercase().contains("error"),
            "{path}: {body}"
        );
    }
}

#[tokio::test]
async fn a_cart_that_cannot_be_recreated_falls_back_to_the_store_cart_page() {
    let app = TestApp::start_at(DAYTIME).await;
    let store = app.seed_store("rec014", |_| {}).await;
    let ny = phone(NY);
    give_consent(&app, &store, &ny, at(DAYTIME) - Duration::days(1)).await;
    let (cart_id, items) = shopper_cart(&app, &store, &[("Blue Mug", 1, 12.5)], None).await;
    save(&app, &cart(&store, &cart_id, Some(&ny), "US", at(DAYTIME), items)).await;
    app.clock.advance(Duration::minutes(30));
    sweep_and_send(&app).await;
    let token = link_token(&app.sms.messages_to(NY)[0].content);
    app.bigcommerce.inject_fault(
        sim::bigcommerce::Fault::status(422, &format!("/stores/{}/v3/carts", store.store_hash)).method("POST"),
    );
    let response = app.http.get(app.url(&format!("/r/{token}"))).send().await.unwrap();
    assert_eq!(response.status(), 302);
    assert_eq!(
        response.headers()["location"].to_str().unwrap(),
        "https://sim-store.example.com/cart.php"
    );
    assert!(sent_record(&app, &store, &cart_id, 1).await.clicked_at.is_some());
}

#[tokio::test]
async fn an_order_within_a_day_of_delivery_is_recovered_and_a_later_one_is_not() {
    let app = TestApp::start_at(DAYTIME).await;
    let store = app.seed_store("rec015", |_| {}).await;
    let hash = store.store_hash.as_str();
    let (ny, london) = (phone(NY), phone(LONDON));
    give_consent(&app, &store, &ny, at(DAYTIME) - Duration::days(1)).await;
    give_consent(&app, &store, &london, at(DAYTIME) - Duration::days(1)).await;
    let (soon, soon_items) = shopper_cart(&app, &store, &[("Blue Mug", 1, 12.5)], None).await;
    let (late, late_items) = shopper_cart(&app, &store, &[("Red Hat", 1, 20.0)], None).await;
    save(&app, &cart(&store, &soon, Some(&ny), "US", at(DAYTIME), soon_items)).await;
    save(&app, &cart(&store, &late, Some(&london), "GB", at(DAYTIME), late_items)).await;
    app.clock.advance(Duration::minutes(30));
    sweep_and_send(&app).await;
    assert_eq!(app.sms.messages().len(), 2);

    // The orders reach the app as BigCommerce tells it of them: webhooks, then the sync function's order path.
    app.bigcommerce.hold_webhooks(false);
    app.clock.advance(Duration::hours(20));
    app.bigcommerce.place_order(hash, &soon, 11).await;
    app.drain_sync().await;
    app.clock.advance(Duration::hours(5));
    app.bigcommerce.place_order(hash, &late, 11).await;
    app.drain_sync().await;

    assert_eq!(
        sent_record(&app, &store, &soon, 1).await.recovered_amount,
        Some(rust_decimal::Decimal::new(1250, 2))
    );
    assert_eq!(sent_record(&app, &store, &late, 1).await.recovered_order_id, None);
}

#[tokio::test]
async fn a_cart_without_a_phone_is_texted_at_its_checkout_billing_phone() {
    let app = TestApp::start_at(DAYTIME).await;
    let store = app.seed_store("rec016", |_| {}).await;
    let ny = phone(NY);
    give_consent(&app, &store, &ny, at(DAYTIME) - Duration::days(1)).await;
    // The shopper typed the number without its country code; the billing country says it is American.
    let (with_phone, items) = shopper_cart(&app, &store, &[("Blue Mug", 1, 12.5)], Some("(212) 201-4567")).await;
    let (without_phone, other_items) = shopper_cart(&app, &store, &[("Red Hat", 1, 20.0)], None).await;
    save(&app, &cart(&store, &with_phone, None, "US", at(DAYTIME), items)).await;
    save(
        &app,
        &cart(&store, &without_phone, None, "US", at(DAYTIME), other_items),
    )
    .await;
    app.clock.advance(Duration::minutes(30));
    sweep_and_send(&app).await;

    assert_eq!(app.sms.messages().len(), 1);
    assert_eq!(app.sms.messages_to(NY).len(), 1);
    assert_eq!(stored_cart(&app, &store, &with_phone).await.phone, Some(ny));
    let decision = last_decision(&app, &store, &without_phone).await;
    assert_eq!(
        (decision.outcome.as_str(), decision.code.as_str()),
        ("deny", "no_phone")
    );
    assert_eq!(stored_cart(&app, &store, &without_phone).await.next_due_at, None);
}

#[tokio::test]
async fn twilio_carrier_opt_outs_and_invalid_numbers_stop_all_further_texts() {
    let app = start_with(DAYTIME, true).await;
    let store = app
        .seed_store("rec017", |s| s.sender_id = Some("+12125550100".into()))
        .await;
    app.approve_sender(&store, shared::model::SenderSharing::Exclusive)
        .await;
    let (ny, london) = (phone(NY), phone(LONDON));
    give_consent(&app, &store, &ny, at(DAYTIME) - Duration::days(1)).await;
    give_consent(&app, &store, &london, at(DAYTIME) - Duration::days(1)).await;
    app.sms.opt_out_at_carrier(NY);
    app.sms.mark_invalid(LONDON);
    let items = || vec![item("Blue Mug", 101, 1, 1250)];
    save(&app, &cart(&store, "cart-ny", Some(&ny), "US", at(DAYTIME), items())).await;
    save(
        &app,
        &cart(&store, "cart-uk", Some(&london), "GB", at(DAYTIME), items()),
    )
    .await;
    app.clock.advance(Duration::minutes(30));
    let (_, outcome) = sweep_and_send(&app).await;
    app.assert_outcome(outcome, 2, 0, "permanent errors are not retried");
    assert!(app.sms.messages().is_empty());

    // 21610: an opt-out in the ledger, reported by the provider.
    let ledger = app.db().ledger(&store.store_hash, &ny).await.unwrap();
    assert!(ledger.iter().any(|e| matches!(
        &e.kind,
        ConsentEventKind::OptOut(OptOutMethod::ProviderReported { provider, code })
            if provider == "twilio" && code == "21610"
    )));
    // Invalid: the contact is flagged.
    let contact = app.db().get_contact(&store.store_hash, &london).await.unwrap().unwrap();
    assert!(contact.undeliverable.is_some());
    for cart_id in ["cart-ny", "cart-uk"] {
        assert_eq!(sent_record(&app, &store, cart_id, 1).await.status, SendStatus::Failed);
        assert_eq!(stored_cart(&app, &store, cart_id).await.next_due_at, None);
    }

    // The next carts of both numbers are never tried at the provider.
    app.sms.opt_in_at_carrier(NY);
    app.clock.advance(Duration::hours(30));
    let now = app.clock.now();
    save(&app, &cart(&store, "cart-ny-2", Some(&ny), "US", now, items())).await;
    save(&app, &cart(&store, "cart-uk-2", Some(&london), "GB", now, items())).await;
    app.clock.advance(Duration::minutes(30));
    sweep_and_send(&app).await;
    assert!(app.sms.messages().is_empty());
    assert_eq!(last_decision(&app, &store, "cart-ny-2").await.code, "opted_out");
    assert_eq!(
        last_decision(&app, &store, "cart-uk-2").await.code,
        "number_undeliverable"
    );
}

#[tokio::test]
async fn an_alphanumeric_sender_carries_a_web_opt_out_link() {
    let app = TestApp::start_at(DAYTIME).await;
    let store = app.seed_store("rec018", |s| s.sender_id = Some("ACME".into())).await;
    app.approve_sender(&store, shared::model::SenderSharing::Exclusive)
        .await;
    let london = phone(LONDON);
    give_consent(&app, &store, &london, at(DAYTIME) - Duration::days(1)).await;
    save(
        &app,
        &cart(
            &store,
            "cart-1",
            Some(&london),
            "GB",
            at(DAYTIME),
            vec![item("Blue Mug", 101, 1, 1250)],
        ),
    )
    .await;
    app.clock.advance(Duration::minutes(30));
    sweep_and_send(&app).await;
    let sms = &app.sms.messages_to(LONDON)[0];
    assert_eq!(sms.from.as_deref(), Some("ACME"));
    assert!(!sms.content.contains("Reply STOP"), "{}", sms.content);
    let prefix = format!("\nOpt out: {}", app.url("/stop/"));
    let token = &sms.content[sms.content.find(&prefix).expect(&sms.content) + prefix.len()..];
    let link: OptOutLink = app
        .db()
        .get_token(OptOutLink::TOKEN_KIND, token, app.clock.now())
        .await
        .unwrap()
        .expect("the opt-out link resolves");
    assert_eq!((link.store_hash, link.phone), (store.store_hash.clone(), london));
}

#[tokio::test]
async fn a_burst_is_sent_at_the_stores_registered_rate() {
    let app = TestApp::start_at(DAYTIME).await;
    let store = app.seed_store("rec019", |s| s.messages_per_second = 1).await;
    let numbers = ["+447911123456", "+447911123457", "+447911123458"];
    for (i, number) in numbers.iter().enumerate() {
        let number = phone(number);
        give_consent(&app, &store, &number, at(DAYTIME) - Duration::days(1)).await;
        let cart_id = format!("cart-{i}");
        save(
            &app,
            &cart(
                &store,
                &cart_id,
                Some(&number),
                "GB",
                at(DAYTIME),
                vec![item("Blue Mug", 101, 1, 1250)],
            ),
        )
        .await;
    }
    app.clock.advance(Duration::minutes(30));
    let started = std::time::Instant::now();
    sweep_and_send(&app).await;
    // Three messages at one per second span at least two second boundaries.
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(app.sms.messages().len(), 3);

    let other = StoreHash::parse("rate00").unwrap();
    let db = app.db();
    assert!(db.take_send_slot(&other, 42, 2).await.unwrap());
    assert!(db.take_send_slot(&other, 42, 2).await.unwrap());
    assert!(
        !db.take_send_slot(&other, 42, 2).await.unwrap(),
        "a third in the same second waits"
    );
    assert!(db.take_send_slot(&other, 43, 2).await.unwrap());
}

/// SQS fills a batch from several message groups (stores): a store waiting for its send rate must not hold
/// another store's reminder in the same batch behind that wait.
///
/// The busy store's next seconds are used up before the batch arrives, so its first job waits the longest a
/// job waits for a slot (10 s) and goes back to the queue with the store's other jobs. Handled one store after
/// the other, the quiet store's reminder (last in the batch) would go out after that wait; side by side, at
/// once. A test of wall-clock latency, so its AWS calls skip the fault run's proxy (whose 2 s timeouts would
/// delay the quiet job by chance).
#[tokio::test]
async fn a_store_at_its_send_rate_does_not_hold_another_stores_reminder_in_the_same_batch() {
    let app = TestApp::start_with(TestAppOptions {
        start: at(DAYTIME),
        aws_faults: false,
        ..TestAppOptions::default()
    })
    .await;
    let busy = app.seed_store("rec031", |s| s.messages_per_second = 1).await;
    let quiet = app.seed_store("rec032", |_| {}).await;
    let quiet_number = phone("+447911123470");
    let numbers = ["+447911123460", "+447911123461", "+447911123462", "+447911123463"];
    let carts = numbers
        .iter()
        .map(|number| (&busy, phone(number)))
        .chain([(&quiet, quiet_number.clone())]);
    for (i, (store, number)) in carts.enumerate() {
        give_consent(&app, store, &number, at(DAYTIME) - Duration::days(1)).await;
        let items = vec![item("Blue Mug", 101, 1, 1250)];
        save(
            &app,
            &cart(store, &format!("cart-{i}"), Some(&number), "GB", at(DAYTIME), items),
        )
        .await;
    }
    app.clock.advance(Duration::minutes(30));
    app.run_sweep().await;
    let mut jobs = take_send_jobs(&app).await;
    // One batch, the busy store's four jobs first.
    jobs.sort_by_key(|job| job.store_hash == quiet.store_hash);
    let records: Vec<serde_json::Value> = jobs
        .iter()
        .enumerate()
        .map(|(i, job)| {
            serde_json::json!({
                "messageId": format!("m{i}"), "receiptHandle": format!("r{i}"),
                "body": serde_json::to_string(job).unwrap(), "attributes": {}, "messageAttributes": {},
                "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:send",
                "awsRegion": "us-east-1" })
        })
        .collect();
    assert_eq!(records.len(), 5);
    // Every slot of the busy store's next 20 seconds (its rate is one a second) is taken.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    for second in now..now + 20 {
        assert!(app.db().take_send_slot(&busy.store_hash, second, 1).await.unwrap());
    }

    let started = std::time::Instant::now();
    let send = app.functions["send"].clone();
    let batch = tokio::spawn(async move { send.invoke(serde_json::json!({ "Records": records })).await });
    let quiet_after = loop {
        if app.sms.messages().iter().any(|m| m.to == quiet_number.as_e164()) {
            break started.elapsed();
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(120),
            "the quiet store's reminder never went out"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert!(
        quiet_after < std::time::Duration::from_secs(5),
        "the quiet store's reminder waited {quiet_after:?} behind the busy store's send rate"
    );
    let response = batch.await.unwrap().unwrap();
    // One wait for the busy store, not one per job (four would be 40 s).
    assert!(
        started.elapsed() < std::time::Duration::from_secs(25),
        "{:?}",
        started.elapsed()
    );
    // The busy store's four jobs go back to the queue for a later second; the quiet store's is done, once.
    let failed: Vec<&str> = response["batchItemFailures"]
        .as_array()
        .expect("a batch response")
        .iter()
        .map(|failure| failure["itemIdentifier"].as_str().unwrap())
        .collect();
    assert_eq!(failed, ["m0", "m1", "m2", "m3"], "{response}");
    let sent: Vec<String> = app.sms.messages().into_iter().map(|m| m.to).collect();
    assert_eq!(
        sent,
        [quiet_number.as_e164()],
        "only the quiet store's reminder went out"
    );
}

#[tokio::test]
async fn an_uninstalled_store_and_a_shaft_template_send_nothing() {
    let app = TestApp::start_at(DAYTIME).await;
    let gone = app.seed_store("rec020", |_| {}).await;
    let shaft = app
        .seed_store("rec021", |s| {
            s.reminders.template = "{brand}: your cold beer is waiting! {link}".into();
        })
        .await;
    let ny = phone(NY);
    for store in [&gone, &shaft] {
        give_consent(&app, store, &ny, at(DAYTIME) - Duration::days(1)).await;
        save(
            &app,
            &cart(
                store,
                "cart-1",
                Some(&ny),
                "US",
                at(DAYTIME),
                vec![item("Blue Mug", 101, 1, 1250)],
            ),
        )
        .await;
    }
    app.db().mark_uninstalled(&gone.store_hash, at(DAYTIME)).await.unwrap();
    app.clock.advance(Duration::minutes(30));
    let (report, outcome) = sweep_and_send(&app).await;
    assert_eq!((report.enqueued, outcome.succeeded), (2, 2));
    assert!(app.sms.messages().is_empty());
    assert_eq!(stored_cart(&app, &gone, "cart-1").await.next_due_at, None);
    let decision = last_decision(&app, &shaft, "cart-1").await;
    assert_eq!(
        (decision.outcome.as_str(), decision.code.as_str()),
        ("deny", "content_rejected")
    );
    assert!(decision.explanation.contains("shaft"), "{}", decision.explanation);
    assert!(
        app.db()
            .get_send(&shaft.store_hash, "cart-1", 1)
            .await
            .unwrap()
            .is_none()
    );
}

fn query_param(url: &str, name: &str) -> String {
    let query = url.split_once('?').map(|(_, q)| q).unwrap_or_default();
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
        .unwrap_or_else(|| panic!("{name} in {url}"))
}

#[tokio::test]
async fn a_job_is_not_started_without_time_to_finish_its_provider_call() {
    let app = TestApp::start_at(DAYTIME).await;
    let store = app.seed_store("rec022", |_| {}).await;
    let ny = phone(NY);
    give_consent(&app, &store, &ny, at(DAYTIME) - Duration::days(1)).await;
    save(
        &app,
        &cart(
            &store,
            "cart-1",
            Some(&ny),
            "US",
            at(DAYTIME),
            vec![item("Blue Mug", 101, 1, 1250)],
        ),
    )
    .await;
    app.clock.advance(Duration::minutes(30));
    let job = SendJob::new(store.store_hash.clone(), "cart-1".into(), 1, app.clock.now());
    let event: aws_lambda_events::event::sqs::SqsEvent = serde_json::from_value(serde_json::json!({ "Records": [{
        "messageId": "late-job", "receiptHandle": "r", "body": serde_json::to_string(&job).unwrap(),
        "attributes": {}, "messageAttributes": {}, "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:send", "awsRegion": "us-east-1" }] }))
    .unwrap();
    // Ten seconds left in the invocation: less than a provider call may take.
    let mut context = lambda_runtime::Context::default();
    let deadline = std::time::SystemTime::now() + std::time::Duration::from_secs(10);
    context.deadline = deadline.duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    let response = send::handler(&app.send, lambda_runtime::LambdaEvent::new(event, context))
        .await
        .unwrap();
    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failed, ["late-job"], "given back to the queue untouched");
    assert!(app.sms.messages().is_empty());
    assert!(
        app.db()
            .get_send(&store.store_hash, "cart-1", 1)
            .await
            .unwrap()
            .is_none()
    );
}

/// The SMS provider is down for an hour over several due reminders: each is deferred (not dropped, not marked
/// unconfirmed), and afterwards goes out once if still lawful or is denied with its reason; the settings page
/// says what happened.
#[tokio::test]
async fn reminders_due_while_the_provider_is_down_for_an_hour_go_out_once_afterwards_if_still_lawful() {
    // 19:55 in New York (federal window 08:00-21:00).
    let start_at = "2025-11-05T00:55:00Z";
    let app = TestApp::start_at(start_at).await;
    let store = app.seed_store("out001", |_| {}).await;
    let phones = ["+12122014567", "+12122014568", "+12122014569"].map(phone);
    for p in &phones {
        give_consent(&app, &store, p, at(start_at) - Duration::days(3)).await;
    }
    let mug = || vec![item("Blue Mug", 101, 1, 1250)];
    // Due at 01:00 and 01:10 UTC (20:00 and 20:10 in New York).
    save(
        &app,
        &cart(
            &store,
            "cart-a",
            Some(&phones[0]),
            "US",
            at("2025-11-05T00:30:00Z"),
            mug(),
        ),
    )
    .await;
    save(
        &app,
        &cart(
            &store,
            "cart-c",
            Some(&phones[2]),
            "US",
            at("2025-11-05T00:40:00Z"),
            mug(),
        ),
    )
    .await;
    // Abandoned almost 48 hours ago: its only reminder may go out until 01:20 UTC.
    let mut old = cart(
        &store,
        "cart-b",
        Some(&phones[1]),
        "US",
        at("2025-11-03T01:20:00Z"),
        mug(),
    );
    old.next_due_at = Some(at(start_at));
    save(&app, &old).await;

    app.sms.set_down(true);
    sweep_and_send(&app).await;
    for _ in 0..12 {
        app.clock.advance(Duration::minutes(5));
        sweep_and_send(&app).await;
    }
    assert!(app.sms.messages().is_empty());
    for cart_id in ["cart-a", "cart-c"] {
        let record = sent_record(&app, &store, cart_id, 1).await;
        assert_eq!(record.status, SendStatus::Claimed, "{cart_id} is still to be sent");
        assert_eq!(last_decision(&app, &store, cart_id).await.code, "provider_unavailable");
    }
    let expired = sent_record(&app, &store, "cart-b", 1).await;
    assert_eq!(expired.status, SendStatus::Failed);
    assert_eq!(expired.error.as_deref(), Some("not sent: cart_reminder_expired"));
    let denied = last_decision(&app, &store, "cart-b").await;
    assert_eq!(
        (denied.outcome.as_str(), denied.code.as_str()),
        ("deny", "cart_reminder_expired")
    );

    // Back at 02:00 UTC: 21:00 in New York, too late to text. The engine defers them to the morning.
    app.sms.set_down(false);
    app.clock.advance(Duration::minutes(5));
    sweep_and_send(&app).await;
    assert!(app.sms.messages().is_empty(), "nothing is sent in quiet hours");
    for cart_id in ["cart-a", "cart-c"] {
        let decision = last_decision(&app, &store, cart_id).await;
        assert_eq!(decision.outcome, "defer", "{cart_id}: {decision:?}");
        assert_ne!(decision.code, "provider_unavailable");
    }
    app.clock.set(at("2025-11-05T13:05:00Z"));
    sweep_and_send(&app).await;
    for (cart_id, p) in [("cart-a", &phones[0]), ("cart-c", &phones[2])] {
        assert_eq!(app.sms.messages_to(p.as_e164()).len(), 1, "{cart_id} is sent once");
        assert_eq!(sent_record(&app, &store, cart_id, 1).await.status, SendStatus::Sent);
    }
    assert!(app.sms.messages_to(phones[1].as_e164()).is_empty());
    assert!(app.sms.duplicate_idempotency_keys().is_empty());

    let page = app.open_app("out001", None).await.page;
    assert!(
        page.html.contains(
            "The SMS provider could not be reached between 2025-11-05 00:55 UTC and 2025-11-05 01:55 UTC; 3 \
             reminders were delayed: 2 sent afterwards, 1 not sent (cart reminder expired: 1)."
        ),
        "{}",
        page.html
    );
}

#[tokio::test]
async fn a_credited_order_publishes_one_cart_recovered_however_often_its_events_arrive() {
    let app = TestApp::start_at(DAYTIME).await;
    let store = app.seed_store("rec030", |_| {}).await;
    let hash = store.store_hash.as_str();
    let ny = phone(NY);
    give_consent(&app, &store, &ny, at(DAYTIME) - Duration::days(1)).await;
    let (cart_id, items) = shopper_cart(&app, &store, &[("Blue Mug", 2, 12.5)], None).await;
    save(&app, &cart(&store, &cart_id, Some(&ny), "US", at(DAYTIME), items)).await;
    app.clock.advance(Duration::minutes(30));
    sweep_and_send(&app).await;
    let events = app.catch_domain_events().await;

    app.bigcommerce.hold_webhooks(false);
    app.clock.advance(Duration::hours(2));
    let credited_at = app.clock.now();
    let order_id = app.bigcommerce.place_order(hash, &cart_id, 11).await;
    app.drain_sync().await;
    // The order's later events, and BigCommerce re-sending them, credit nothing new and publish nothing.
    app.bigcommerce.set_order_status(hash, order_id, 10).await;
    app.drain_sync().await;
    app.bigcommerce.set_order_status(hash, order_id, 11).await;
    app.drain_sync().await;

    let record = sent_record(&app, &store, &cart_id, 1).await;
    let published: Vec<_> = events
        .take()
        .await
        .into_iter()
        .filter(|e| e["detail-type"] == "cart.recovered")
        .collect();
    assert_eq!(published.len(), 1, "{published:?}");
    assert_eq!(published[0]["source"], shared::messages::EVENT_SOURCE);
    let detail = &published[0]["detail"];
    assert_eq!(detail["event_id"], format!("{hash}:{cart_id}:1:{order_id}"));
    assert_eq!(detail["store_hash"], hash);
    assert_eq!(
        (&detail["cart_id"], &detail["order_cart_id"]),
        (&cart_id.clone().into(), &cart_id.into())
    );
    assert_eq!(detail["order_id"], order_id);
    assert_eq!(detail["amount"], "25.0000", "as BigCommerce reports it");
    assert_eq!(detail["currency"], "USD");
    assert_eq!(detail["step"], 1);
    assert_eq!(
        detail["provider_message_id"].as_str(),
        record.provider_message_id.as_deref()
    );
    assert_eq!(detail["recovered_at"], serde_json::to_value(credited_at).unwrap());
    assert!(
        !published[0].to_string().contains(ny.as_e164()),
        "no phone number leaves"
    );
    assert_eq!(record.recovered_currency.as_deref(), Some("USD"));
    assert_eq!(record.recovered_at, Some(credited_at));
    assert_eq!(record.recovery_published_at, Some(credited_at));
}

/// A store whose reminders carry unique codes of its coupon promotion (the first promotion: id 1), with a
/// consented New York number and its abandoned cart due in 30 minutes.
async fn coupon_store(app: &TestApp, hash: &str) -> (SeededStore, String, u64) {
    let store = app
        .seed_store(hash, |s| {
            s.reminders.coupon_promotion_id = Some(1);
            s.reminders.template = "{brand}: Hi {first_name}, your {items} is waiting. {discount} {link}".into();
        })
        .await;
    let promotion = app.bigcommerce.create_promotion(hash, "SMS 10% off", true);
    assert_eq!(promotion, 1);
    let ny = phone(NY);
    give_consent(app, &store, &ny, at(DAYTIME) - Duration::days(1)).await;
    let (cart_id, items) = shopper_cart(app, &store, &[("Blue Mug", 2, 12.5)], None).await;
    save(app, &cart(&store, &cart_id, Some(&ny), "US", at(DAYTIME), items)).await;
    app.clock.advance(Duration::minutes(30));
    (store, cart_id, promotion)
}

#[tokio::test]
async fn a_reminder_carries_its_own_coupon_code_and_the_order_redeeming_it_is_credited_with_the_code() {
    let app = TestApp::start_at(DAYTIME).await;
    let (store, cart_id, promotion) = coupon_store(&app, "rec031").await;
    let hash = store.store_hash.as_str();
    sweep_and_send(&app).await;

    let codes = app.bigcommerce.coupon_codes(hash, promotion);
    assert_eq!(codes.len(), 1, "{codes:?}");
    let code = &codes[0];
    let texts = app.sms.messages_to(NY);
    assert_eq!(texts.len(), 1);
    assert!(
        texts[0].content.contains(&format!("Use code {code} at checkout.")),
        "{}",
        texts[0].content
    );
    assert!(!texts[0].content.contains("{coupon}"));
    let record = sent_record(&app, &store, &cart_id, 1).await;
    assert_eq!(record.coupon_code.as_deref(), Some(code.as_str()));
    assert_eq!(record.body, texts[0].content);
    assert_eq!(record.coupon_error, None);

    app.bigcommerce.hold_webhooks(false);
    app.clock.advance(Duration::hours(2));
    app.bigcommerce
        .place_order_with_coupon(hash, &cart_id, 11, Some(code))
        .await;
    app.drain_sync().await;
    let record = sent_record(&app, &store, &cart_id, 1).await;
    assert!(record.recovered_order_id.is_some());
    assert_eq!(record.recovered_coupon.as_deref(), Some(code.as_str()));
    // The merchant's recent reminders show the revenue with the code that brought it.
    let page = app.open_app(hash, None).await.page.html;
    assert!(page.contains(&format!("25.00 with code {code}")), "{page}");
}

#[tokio::test]
async fn a_retried_reminder_reuses_its_coupon_code() {
    use shared::failpoint::{Action, arm};
    let app = TestApp::start_at(DAYTIME).await;
    let (store, cart_id, promotion) = coupon_store(&app, "rec032").await;
    let hash = store.store_hash.as_str();
    // The first delivery dies after BigCommerce created the code, before it was recorded; the second is
    // refused by the provider after recording it; the third sends.
    arm("send.after_coupon", hash, Action::Error, 1);
    app.sms.fail_next(1, 500);
    let (_, outcome) = sweep_and_send(&app).await;
    app.assert_outcome(outcome, 1, 2, "retried through SQS");

    let codes = app.bigcommerce.coupon_codes(hash, promotion);
    assert_eq!(codes.len(), 1, "one code for one reminder: {codes:?}");
    let texts = app.sms.messages_to(NY);
    assert_eq!(texts.len(), 1);
    assert!(texts[0].content.contains(&codes[0]), "{}", texts[0].content);
    let record = sent_record(&app, &store, &cart_id, 1).await;
    assert_eq!(record.coupon_code.as_ref(), Some(&codes[0]));
}

#[tokio::test]
async fn a_reminder_whose_promotion_ended_or_is_out_of_codes_goes_without_one_and_says_why() {
    let app = TestApp::start_at(DAYTIME).await;
    let (store, cart_id, promotion) = coupon_store(&app, "rec033").await;
    let hash = store.store_hash.as_str();
    app.bigcommerce.delete_promotion(hash, promotion);
    sweep_and_send(&app).await;

    let texts = app.sms.messages_to(NY);
    assert_eq!(texts.len(), 1, "the reminder is sent all the same");
    assert!(!texts[0].content.contains("Use code"), "{}", texts[0].content);
    assert!(!texts[0].content.contains("{coupon}"));
    let record = sent_record(&app, &store, &cart_id, 1).await;
    assert_eq!(record.status, SendStatus::Sent);
    assert_eq!(record.coupon_code, None);
    assert!(
        record
            .coupon_error
            .as_deref()
            .is_some_and(|e| e.contains("no longer exists")),
        "{:?}",
        record.coupon_error
    );

    // A store out of codes (BigCommerce answers 422): the same.
    let (other, other_cart, _) = coupon_store(&app, "rec034").await;
    app.bigcommerce.set_coupon_code_quota("rec034", Some(0));
    sweep_and_send(&app).await;
    let record = sent_record(&app, &other, &other_cart, 1).await;
    assert_eq!(record.status, SendStatus::Sent);
    assert!(
        record.coupon_error.as_deref().is_some_and(|e| e.contains("422")),
        "{:?}",
        record.coupon_error
    );
}
