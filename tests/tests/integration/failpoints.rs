//! One crash at every boundary between two side effects (`shared::failpoint`): the invocation returns an
//! error, or dies there as a Lambda timeout would (no error path runs); then AWS and the senders retry as they
//! really do (SQS redelivery after the visibility timeout, BigCommerce and the SMS provider re-sending the
//! same delivery), and the end state is that of a run without the crash: the opt-out recorded, the reminder
//! cancelled, the write-back made, one confirmation, no SMS twice, no contact or cart lost.

use chrono::Duration;
use devstack::event_source::SqsEventSource;
use integration_tests::contact_sync::{Delivery, contacts_by_phone, start_bulk_sync, sync_job};
use integration_tests::replies::{SENDER, us_phone};
use integration_tests::{SeededStore, TestApp, TestAppOptions, at};
use reqwest::StatusCode;
use serde_json::Value;
use shared::Phone;
use shared::consent::{ConsentEventKind, OptOutMethod, SentKind};
use shared::db::delivery_lease;
use shared::failpoint::{Action, Armed, arm};
use shared::messages::SyncMessage;
use shared::model::sync_job::CUSTOMERS_PER_PAGE;
use shared::model::{Cart, SendStatus, SenderSharing, SyncJobStatus};
use shared::recovery::SWEEP_LEASE;
use sim::bigcommerce::CustomerSeed;
use sim::sms::WebhookDelivery;
use std::sync::atomic::{AtomicBool, Ordering};

/// Wednesday 10:00 in New York: inside every send window.
const DAYTIME: &str = "2026-11-25T15:00:00Z";
/// The send queue's visibility timeout (template.yaml): when a job whose invocation died comes back.
const SEND_VISIBILITY: Duration = Duration::seconds(180);
/// The sync queue's.
const SYNC_VISIBILITY: Duration = Duration::seconds(540);

/// A store texting from [`SENDER`] with a subscribed contact who is a registered customer at BigCommerce
/// (so an opt-out is written back), and a reminder due for them in ten minutes.
struct Subscriber {
    store: SeededStore,
    phone: Phone,
    customer_id: u64,
    cart: Cart,
}

async fn subscriber(app: &TestApp, hash: &str, n: u32) -> Subscriber {
    let store = app.seed_store(hash, |s| s.sender_id = Some(SENDER.into())).await;
    app.approve_sender(&store, SenderSharing::Exclusive).await;
    // Only the deliveries a test makes reach the app.
    app.bigcommerce.hold_webhooks(true);
    let phone = us_phone(n);
    let customer_id = app
        .bigcommerce
        .create_customer(
            hash,
            CustomerSeed {
                phone: phone.as_e164().to_owned(),
                ..CustomerSeed::default()
            },
        )
        .await;
    app.put_contact(&store.store_hash, &phone, Some(customer_id)).await;
    app.subscribe(&store, &phone).await;
    let cart = app
        .cart_due(&store.store_hash, &phone, &format!("cart-{n}"), Duration::minutes(10))
        .await;
    Subscriber {
        store,
        phone,
        customer_id,
        cart,
    }
}

/// A STOP the handset sent, as the provider (re-)sends it: obtained from a push to a wrong token, which
/// processes nothing.
async fn stop_push(app: &TestApp, phone: &Phone) -> WebhookDelivery {
    app.sms
        .set_webhook(&app.url("/webhooks/messagemedia/not-the-token"), &[]);
    let lost = app.sms.reply(phone.as_e164(), SENDER, "STOP").await.unwrap();
    assert_eq!(lost.status, 403, "{}", lost.response_body);
    WebhookDelivery {
        url: app.messagemedia_callback(),
        ..lost
    }
}

/// The provider pushes `delivery`; the invocation handling it must reach `crash` and die there.
async fn push_dies(app: &TestApp, delivery: &WebhookDelivery, crash: &Armed) {
    tokio::select! {
        answered = app.sms.redeliver(delivery) => panic!("the push was answered: {answered:?}"),
        () = crash.reached() => {}
    }
}

/// Runs `source`'s consumer until an invocation reaches `crash` and dies there (the batch stays in the
/// queue, visible again after the event source's retry delay).
async fn poll_until_death(source: &SqsEventSource, crash: &Armed) {
    let died = AtomicBool::new(false);
    for _ in 0..20 {
        source
            .poll_once_until(0, async {
                crash.reached().await;
                died.store(true, Ordering::SeqCst);
            })
            .await
            .unwrap();
        if died.load(Ordering::SeqCst) {
            return;
        }
    }
    panic!("no invocation reached the failpoint");
}

fn result(delivery: &WebhookDelivery) -> Value {
    serde_json::from_str::<Value>(&delivery.response_body).unwrap()["result"].clone()
}

/// The consent status the app mirrored onto the customer at BigCommerce, if any.
fn mirrored_status(app: &TestApp, hash: &str, customer_id: u64) -> Option<String> {
    let metafields = app.bigcommerce.metafields(hash, customer_id);
    let status: Value = serde_json::from_str(&metafields.first()?.value).ok()?;
    status["status"].as_str().map(str::to_owned)
}

/// The end state of a STOP handled once, crash or not: recorded once, the reminder cancelled, the customer
/// marked unsubscribed at BigCommerce, exactly one confirmation; a further retry is a duplicate.
async fn assert_stopped_once(app: &TestApp, who: &Subscriber, delivery: &WebhookDelivery) {
    app.drain_sync().await;
    let ledger = app.db().ledger(&who.store.store_hash, &who.phone).await.unwrap();
    let opt_outs = ledger
        .iter()
        .filter(|e| matches!(e.kind, ConsentEventKind::OptOut(OptOutMethod::Keyword { .. })))
        .count();
    assert_eq!(opt_outs, 1, "the opt-out is recorded once");
    let cart = app
        .db()
        .get_cart(&who.store.store_hash, &who.cart.cart_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cart.next_due_at, None, "the pending reminder is cancelled");
    assert_eq!(
        mirrored_status(app, who.store.store_hash.as_str(), who.customer_id).as_deref(),
        Some("unsubscribed"),
        "the opt-out is written back"
    );
    assert_eq!(app.texts_to(&who.phone).len(), 1, "exactly one confirmation");

    let again = app.sms.redeliver(delivery).await.unwrap();
    assert_eq!(result(&again), "duplicate", "{}", again.response_body);
    assert_eq!(app.drain_sync().await.received, 0);
    assert_eq!(app.texts_to(&who.phone).len(), 1);
}

/// A STOP whose first handling crashes at `point` (scoped to the store, or to the phone where the store is
/// not known yet), then is re-sent by the provider once the delivery's lease lapsed.
async fn stop_crashing_at(point: &'static str, hash: &str, n: u32, action: Action) {
    let app = TestApp::start_at(DAYTIME).await;
    let who = subscriber(&app, hash, n).await;
    let delivery = stop_push(&app, &who.phone).await;
    let scope = match point {
        "sms.after_mark" => who.phone.as_e164().to_owned(),
        _ => hash.to_owned(),
    };
    let crash = arm(point, &scope, action, 1);
    match action {
        Action::Die => {
            push_dies(&app, &delivery, &crash).await;
            app.clock.advance(delivery_lease() + Duration::seconds(1));
        }
        Action::Error => {
            let failed = app.sms.redeliver(&delivery).await.unwrap();
            assert_eq!(failed.status, 503, "{}", failed.response_body);
        }
        Action::Pause => unreachable!("crashes only"),
    }
    let resent = app.sms.redeliver(&delivery).await.unwrap();
    assert_eq!(resent.status, 200, "{}", resent.response_body);
    assert_eq!(result(&resent), "processed", "{}", resent.response_body);
    assert_stopped_once(&app, &who, &delivery).await;
}

#[tokio::test]
async fn a_stop_dying_after_its_delivery_mark_is_handled_on_the_resend() {
    stop_crashing_at("sms.after_mark", "fpsms1", 7001, Action::Die).await;
}

#[tokio::test]
async fn a_stop_dying_after_the_ledger_append_is_handled_on_the_resend() {
    stop_crashing_at("consent.after_append", "fpsms2", 7002, Action::Die).await;
}

#[tokio::test]
async fn a_stop_failing_after_the_ledger_append_is_handled_on_the_resend() {
    stop_crashing_at("consent.after_append", "fpsms3", 7003, Action::Error).await;
}

#[tokio::test]
async fn a_stop_dying_after_the_reminder_cancellation_is_handled_on_the_resend() {
    stop_crashing_at("consent.after_cancel", "fpsms4", 7004, Action::Die).await;
}

#[tokio::test]
async fn a_stop_dying_after_the_write_back_enqueue_is_handled_on_the_resend() {
    stop_crashing_at("consent.after_write_back", "fpsms5", 7005, Action::Die).await;
}

#[tokio::test]
async fn a_stop_dying_after_its_confirmation_went_out_is_not_confirmed_twice() {
    stop_crashing_at("sms.after_answer", "fpsms6", 7006, Action::Die).await;
}

#[tokio::test]
async fn a_stop_dying_after_claiming_its_confirmation_is_still_confirmed_on_the_resend() {
    stop_crashing_at("sms.answer.after_claim", "fpsms7", 7007, Action::Die).await;
}

#[tokio::test]
async fn a_stop_the_provider_stopped_waiting_for_is_still_handled_to_its_end() {
    // The provider gives up on a slow answer and closes the connection; as on Lambda behind API Gateway, the
    // invocation goes on (it used to be dropped with the connection, losing the write-back: fairness bench).
    let app = TestApp::start_at(DAYTIME).await;
    let who = subscriber(&app, "fpsms8", 7008).await;
    let delivery = stop_push(&app, &who.phone).await;
    let slow = arm("consent.after_append", "fpsms8", Action::Pause, 1);
    let confirmed = arm("sms.after_answer", "fpsms8", Action::Pause, 1);
    tokio::select! {
        answered = app.sms.redeliver(&delivery) => panic!("the push was answered: {answered:?}"),
        () = slow.reached() => {}
    }
    slow.release();
    tokio::time::timeout(std::time::Duration::from_secs(30), confirmed.reached())
        .await
        .expect("the invocation went on after its caller left");
    confirmed.release();
    app.drain_sync().await;
    assert_eq!(
        mirrored_status(&app, who.store.store_hash.as_str(), who.customer_id).as_deref(),
        Some("unsubscribed"),
        "the opt-out is written back"
    );
    let cart = app
        .db()
        .get_cart(&who.store.store_hash, &who.cart.cart_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cart.next_due_at, None, "the pending reminder is cancelled");
    assert_eq!(app.texts_to(&who.phone).len(), 1, "exactly one confirmation");
}

/// A customer update whose delivery crashes at `point`, then is re-sent by BigCommerce: the contact is
/// synced once it is through.
async fn store_event_crashing_at(point: &'static str, hash: &str) {
    let app = TestApp::start_at(DAYTIME).await;
    let store = app.seed_store(hash, |_| {}).await;
    app.bigcommerce.hold_webhooks(true);
    let phone = us_phone(7100);
    let customer_id = app
        .bigcommerce
        .create_customer(
            hash,
            CustomerSeed {
                email: "kai@example.com".into(),
                phone: phone.as_e164().to_owned(),
                ..CustomerSeed::default()
            },
        )
        .await;
    let delivery = Delivery::signed(
        &app,
        hash,
        store.webhook_secret.expose(),
        "store/customer/updated",
        serde_json::json!({ "type": "customer", "id": customer_id }),
    );
    let crash = arm(point, hash, Action::Die, 1);
    tokio::select! {
        answered = delivery.post(&app) => panic!("the delivery was answered: {}", answered.status()),
        () = crash.reached() => {}
    }
    let queued_before_the_crash = app.sync_queue.depth().await.unwrap();
    assert_eq!(
        queued_before_the_crash,
        u64::from(point == "webhooks.bigcommerce.after_enqueue")
    );

    // BigCommerce retries: told to come back while the lease lives, taken over after it.
    assert_eq!(delivery.post(&app).await.status(), StatusCode::SERVICE_UNAVAILABLE);
    app.clock.advance(delivery_lease() + Duration::seconds(1));
    assert_eq!(delivery.post(&app).await.status(), StatusCode::OK);
    assert_eq!(app.sync_queue.depth().await.unwrap(), queued_before_the_crash + 1);
    assert_eq!(delivery.post(&app).await.status(), StatusCode::OK, "a duplicate");
    assert_eq!(app.sync_queue.depth().await.unwrap(), queued_before_the_crash + 1);

    let outcome = app.drain_sync().await;
    assert_eq!(outcome.failed, 0, "{outcome:?}");
    let contacts = contacts_by_phone(&app, &store.store_hash).await;
    assert_eq!(contacts.len(), 1);
    assert_eq!(contacts[&phone].customer_id, Some(customer_id));
}

#[tokio::test]
async fn a_store_event_dying_after_its_delivery_mark_is_synced_on_the_resend() {
    store_event_crashing_at("webhooks.bigcommerce.after_claim", "fpbc1").await;
}

#[tokio::test]
async fn a_store_event_dying_after_its_enqueue_is_synced_once_on_the_resend() {
    store_event_crashing_at("webhooks.bigcommerce.after_enqueue", "fpbc2").await;
}

#[tokio::test]
async fn a_customer_page_dying_after_writing_contacts_is_imported_whole_on_redelivery() {
    let app = TestApp::start_at(DAYTIME).await;
    // The same customers at two stores: one import crashes, the other is the run without the crash.
    let crashed = app.seed_store("fpsync1", |_| {}).await;
    let reference = app.seed_store("fpsync2", |_| {}).await;
    app.bigcommerce.hold_webhooks(true);
    for store in [&crashed, &reference] {
        for n in 0..3 {
            app.bigcommerce
                .create_customer(
                    store.store_hash.as_str(),
                    CustomerSeed {
                        email: format!("shopper{n}@example.com"),
                        phone: us_phone(7200 + n).as_e164().to_owned(),
                        accepts_product_review_abandoned_cart_emails: true,
                        ..CustomerSeed::default()
                    },
                )
                .await;
        }
    }
    let crash = arm("sync.page.after_contacts", crashed.store_hash.as_str(), Action::Die, 1);
    start_bulk_sync(&app, &crashed.store_hash, "job-1").await;
    poll_until_death(&app.bulk_sync_queue, &crash).await;
    start_bulk_sync(&app, &reference.store_hash, "job-1").await;
    // SQS redelivers the page after its visibility timeout (at once here).
    let outcome = app.drain_sync().await;
    assert_eq!(outcome.failed, 0, "{outcome:?}");

    for store in [&crashed, &reference] {
        let job = sync_job(&app, &store.store_hash, "job-1").await;
        assert_eq!(job.status, SyncJobStatus::Completed, "{}", store.store_hash);
        assert_eq!((job.total_pages, job.pages_done, job.contacts_imported), (1, 1, 3));
    }
    let state = |store: &SeededStore| {
        let app = &app;
        let hash = store.store_hash.clone();
        async move {
            let contacts = contacts_by_phone(app, &hash).await;
            let mut ledgers = Vec::new();
            for phone in contacts.keys() {
                let ledger = app.db().ledger(&hash, phone).await.unwrap();
                ledgers.push((
                    phone.clone(),
                    ledger.iter().map(|e| format!("{:?}", e.kind)).collect::<Vec<_>>(),
                ));
            }
            (contacts.len(), ledgers)
        }
    };
    let (crashed_state, reference_state) = (state(&crashed).await, state(&reference).await);
    assert_eq!(crashed_state.0, 3);
    assert_eq!(
        crashed_state, reference_state,
        "the same contacts and consent as without the crash"
    );
}

#[tokio::test]
async fn a_last_customer_page_dying_after_it_is_counted_finishes_its_job_on_redelivery() {
    let app = TestApp::start_at(DAYTIME).await;
    let store = app.seed_store("fpsync3", |_| {}).await;
    app.bigcommerce.hold_webhooks(true);
    app.bigcommerce
        .create_customer(
            store.store_hash.as_str(),
            CustomerSeed {
                phone: us_phone(7300).as_e164().to_owned(),
                ..CustomerSeed::default()
            },
        )
        .await;
    let crash = arm("sync.page.after_counted", store.store_hash.as_str(), Action::Die, 1);
    start_bulk_sync(&app, &store.store_hash, "job-1").await;
    poll_until_death(&app.bulk_sync_queue, &crash).await;
    let job = sync_job(&app, &store.store_hash, "job-1").await;
    assert_eq!(
        (job.status, job.pages_done, job.last_page),
        (SyncJobStatus::Running, 1, Some(1))
    );

    // SQS redelivers the page after its visibility timeout (at once here).
    assert_eq!(app.drain_sync().await.failed, 0);
    let job = sync_job(&app, &store.store_hash, "job-1").await;
    assert_eq!(job.status, SyncJobStatus::Completed, "not left running for ever");
    assert_eq!((job.pages_done, job.contacts_imported), (1, 1));
    let finished_at = job.finished_at.expect("finished");

    // A later duplicate of the page changes nothing, its finishing time included.
    app.clock.advance(SYNC_VISIBILITY);
    let page = SyncMessage::CustomerPage {
        store_hash: store.store_hash.clone(),
        job_id: "job-1".into(),
        page: 1,
        per_page: CUSTOMERS_PER_PAGE,
        after: None,
    };
    app.sync.aws.sync_queue.send(&page).await.unwrap();
    assert_eq!(app.drain_sync().await.failed, 0);
    let again = sync_job(&app, &store.store_hash, "job-1").await;
    assert_eq!(
        (again.status, again.finished_at),
        (SyncJobStatus::Completed, Some(finished_at))
    );
}

/// A reminder due now whose first send crashes at `point`, then is retried as SQS and the sweep do.
async fn reminder_crashing_at(point: &'static str, hash: &str, n: u32, action: Action) -> (TestApp, Subscriber) {
    let app = TestApp::start_at(DAYTIME).await;
    let who = subscriber(&app, hash, n).await;
    app.clock.advance(Duration::minutes(10));
    let crash = arm(point, hash, action, 1);
    let sweep = app.run_sweep().await;
    assert_eq!(sweep["enqueued"], 1, "{sweep}");
    match action {
        Action::Die => poll_until_death(&app.send_queue, &crash).await,
        Action::Error => {
            let outcome = app.send_queue.poll_once(0).await.unwrap();
            assert_eq!(outcome.failed, 1, "{outcome:?}");
        }
        Action::Pause => unreachable!("crashes only"),
    }
    // The job comes back after the queue's visibility timeout.
    app.clock.advance(SEND_VISIBILITY);
    let outcome = app.drain_send().await;
    assert_eq!(outcome.failed, 0, "{outcome:?}");
    assert_sent_once(&app, &who).await;
    (app, who)
}

/// One SMS for the cart's first step, and the cart moved on to its second.
async fn assert_sent_once(app: &TestApp, who: &Subscriber) {
    assert_eq!(app.texts_to(&who.phone).len(), 1, "one SMS for the step");
    assert!(app.sms.duplicate_idempotency_keys().is_empty());
    let cart = app
        .db()
        .get_cart(&who.store.store_hash, &who.cart.cart_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cart.reminders_sent, 1, "the step is recorded");
    // Nothing more goes out for it, however often the sweep looks.
    app.run_sweep().await;
    app.drain_send().await;
    assert_eq!(app.texts_to(&who.phone).len(), 1);
}

async fn send_status(app: &TestApp, who: &Subscriber) -> SendStatus {
    app.db()
        .get_send(&who.store.store_hash, &who.cart.cart_id, 1)
        .await
        .unwrap()
        .expect("the step was claimed")
        .status
}

#[tokio::test]
async fn a_send_job_dying_after_its_claim_sends_on_redelivery() {
    let (app, who) = reminder_crashing_at("send.after_claim", "fpsend1", 7301, Action::Die).await;
    assert_eq!(send_status(&app, &who).await, SendStatus::Sent);
}

#[tokio::test]
async fn a_send_job_failing_after_its_claim_sends_on_redelivery() {
    let (app, who) = reminder_crashing_at("send.after_claim", "fpsend2", 7302, Action::Error).await;
    assert_eq!(send_status(&app, &who).await, SendStatus::Sent);
}

#[tokio::test]
async fn a_send_job_dying_after_the_provider_call_never_sends_again() {
    // The outcome of a call whose invocation died is unknown: the step is settled without a second SMS.
    let (app, who) = reminder_crashing_at("send.after_provider", "fpsend3", 7303, Action::Die).await;
    assert_settled_unconfirmed(&app, &who).await;
}

#[tokio::test]
async fn a_send_job_failing_after_the_provider_call_never_sends_again() {
    let (app, who) = reminder_crashing_at("send.after_provider", "fpsend5", 7305, Action::Error).await;
    assert_settled_unconfirmed(&app, &who).await;
}

/// The SMS went out but its send was never recorded: the record must not say it failed, and the message
/// counts for the number's frequency limits.
async fn assert_settled_unconfirmed(app: &TestApp, who: &Subscriber) {
    let send = app
        .db()
        .get_send(&who.store.store_hash, &who.cart.cart_id, 1)
        .await
        .unwrap()
        .expect("the step was claimed");
    assert_ne!(send.status, SendStatus::Failed, "the SMS went out: {send:?}");
    assert_eq!(send.status, SendStatus::Unconfirmed);
    assert!(
        send.error.as_deref().is_some_and(|e| e.contains("not sent again")),
        "{send:?}"
    );
    let snapshot = app
        .db()
        .phone_snapshot(&who.store.store_hash, &who.phone)
        .await
        .unwrap();
    assert!(
        snapshot
            .sends
            .iter()
            .any(|s| matches!(&s.kind, SentKind::CartReminder { cart_id, step: 1 }
            if *cart_id == who.cart.cart_id)),
        "counted for frequency limits: {:?}",
        snapshot.sends
    );
}

#[tokio::test]
async fn a_send_job_dying_after_recording_the_send_finishes_on_redelivery() {
    let (app, who) = reminder_crashing_at("send.after_record", "fpsend4", 7304, Action::Die).await;
    assert_eq!(send_status(&app, &who).await, SendStatus::Sent);
}

#[tokio::test]
async fn a_sweep_dying_after_taking_a_cart_enqueues_it_after_the_lease() {
    let app = TestApp::start_at(DAYTIME).await;
    let who = subscriber(&app, "fpsweep1", 7400).await;
    app.clock.advance(Duration::minutes(10));
    let crash = arm("sweep.after_lease", "fpsweep1", Action::Die, 1);
    tokio::select! {
        report = app.run_sweep() => panic!("the sweep finished: {report}"),
        () = crash.reached() => {}
    }
    assert_eq!(app.send_queue.depth().await.unwrap(), 0, "nothing enqueued");
    // Taken but never enqueued: due again once the sweep's lease on it ends.
    app.clock.advance(SWEEP_LEASE + Duration::seconds(1));
    let sweep = app.run_sweep().await;
    assert_eq!(sweep["enqueued"], 1, "{sweep}");
    app.drain_send().await;
    assert_sent_once(&app, &who).await;
}

#[tokio::test]
async fn a_sweep_worker_dying_mid_shard_loses_no_cart() {
    use integration_tests::recovery::{due_cart, take_send_jobs};
    let app = TestApp::start_with(TestAppOptions {
        start: at(DAYTIME),
        sweep_carts_per_worker: 5,
        ..TestAppOptions::default()
    })
    .await;
    let store = shared::StoreHash::parse("fpsweep2").unwrap();
    let now = at(DAYTIME);
    let due: Vec<Cart> = (0..40)
        .map(|i| due_cart(&store, i, now - Duration::minutes(1) - Duration::seconds(i as i64)))
        .collect();
    app.db().put_carts(&due, now - Duration::minutes(30)).await.unwrap();
    let fan_out = app.functions["sweep"]
        .invoke(devstack::invoke::scheduled_event(now))
        .await
        .unwrap();
    assert!(fan_out["shards_enqueued"].as_u64().unwrap() > 1, "{fan_out}");
    // A worker dies after taking a cart: its page's carts are leased, none enqueued, its message not done.
    let crash = arm("sweep.after_lease", "fpsweep2", Action::Die, 1);
    poll_until_death(&app.sweep_shard_queue, &crash).await;
    // The message comes back; the other shards and the hand-ons finish.
    let workers = app.drain_sweep_shards().await;
    assert_eq!(workers.failed, 0, "{workers:?}");
    assert!(
        workers.enqueued < due.len(),
        "the dead worker's carts wait for their lease: {workers:?}"
    );
    let once_each = |jobs: Vec<shared::messages::SendJob>| {
        let mut per_cart = std::collections::BTreeMap::<String, usize>::new();
        for job in jobs {
            *per_cart.entry(job.cart_id).or_default() += 1;
        }
        assert!(per_cart.values().all(|&n| n == 1), "no cart twice: {per_cart:?}");
        per_cart.into_keys().collect::<std::collections::BTreeSet<String>>()
    };
    let enqueued = once_each(take_send_jobs(&app).await);
    assert_eq!(enqueued.len(), workers.enqueued);
    // Every cart without a job is leased, so due again when the lease ends: none is lost.
    let waiting: Vec<&Cart> = due.iter().filter(|c| !enqueued.contains(&c.cart_id)).collect();
    for cart in &waiting {
        let stored = app.db().get_cart(&store, &cart.cart_id).await.unwrap().unwrap();
        assert_eq!(stored.next_due_at, Some(now + SWEEP_LEASE), "{}", cart.cart_id);
    }
    // Once the lease ends the next sweep finds them in a current bucket (the others too: their jobs were not
    // run here, and the send claim keeps a cart step to one SMS).
    app.clock.advance(SWEEP_LEASE + Duration::seconds(1));
    let sweep = app.run_sweep().await;
    assert_eq!(sweep["failed"], 0, "{sweep}");
    let again = once_each(take_send_jobs(&app).await);
    assert!(waiting.iter().all(|c| again.contains(&c.cart_id)), "{sweep}");
}

#[tokio::test]
async fn a_send_job_out_of_time_before_the_provider_call_sends_nothing_and_is_sent_on_redelivery() {
    use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
    use std::time::{SystemTime, UNIX_EPOCH};

    let app = TestApp::start_at(DAYTIME).await;
    let who = subscriber(&app, "fpdead1", 7500).await;
    app.clock.advance(Duration::minutes(10));
    let sweep = app.run_sweep().await;
    assert_eq!(sweep["enqueued"], 1, "{sweep}");

    // The job is received by an invocation with a second more than a job needs; BigCommerce then takes two
    // seconds to answer the checkout read, so the provider call would start too late to finish.
    let sqs = aws_sdk_sqs::Client::new(&app.aws.sdk);
    let received = sqs
        .receive_message()
        .queue_url(app.send_queue.queue_url())
        .send()
        .await
        .unwrap();
    let message = received.messages().first().expect("the job is queued").clone();
    app.bigcommerce.inject_fault(sim::bigcommerce::Fault::delay(
        std::time::Duration::from_secs(2),
        &format!("/v3/checkouts/{}", who.cart.cart_id),
    ));
    let deadline = SystemTime::now() + send::TIME_TO_FINISH_A_JOB + std::time::Duration::from_secs(1);
    let mut context = lambda_runtime::Context::default();
    context.deadline = deadline.duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
    let mut event = SqsEvent::default();
    let mut record = SqsMessage::default();
    record.message_id = message.message_id.clone();
    record.receipt_handle = message.receipt_handle.clone();
    record.body = message.body.clone();
    event.records.push(record);
    let response = send::handler(&app.send, lambda_runtime::LambdaEvent::new(event, context))
        .await
        .unwrap();
    assert_eq!(response.batch_item_failures.len(), 1, "the job goes back to the queue");
    assert!(
        app.texts_to(&who.phone).is_empty(),
        "no provider call after the latest start"
    );
    assert_eq!(send_status(&app, &who).await, SendStatus::Claimed);

    // Redelivered (the event source makes it visible again): sent once.
    sqs.change_message_visibility()
        .queue_url(app.send_queue.queue_url())
        .receipt_handle(message.receipt_handle().unwrap())
        .visibility_timeout(0)
        .send()
        .await
        .unwrap();
    let outcome = app.drain_send().await;
    assert_eq!(outcome.failed, 0, "{outcome:?}");
    assert_sent_once(&app, &who).await;
    assert_eq!(send_status(&app, &who).await, SendStatus::Sent);
}

#[tokio::test]
async fn a_double_opt_in_check_dying_after_claiming_the_request_sends_it_once_on_redelivery() {
    use super::capture::{SHOP, capture, disclosure_version, guest_cart, post_capture};

    let app = TestApp::start_at(DAYTIME).await;
    let hash = "fpdoi1";
    let seeded = app.seed_store(hash, |s| s.sender_id = Some(SENDER.into())).await;
    app.approve_sender(&seeded, SenderSharing::Exclusive).await;
    let version = disclosure_version(&app, hash).await;
    let cart_id = guest_cart(&app, hash).await;
    let phone = us_phone(7600);
    app.bigcommerce
        .set_billing_address(
            hash,
            &cart_id,
            sim::bigcommerce::BillingAddress {
                first_name: "Robin".into(),
                email: "robin@example.com".into(),
                state_or_province_code: "NY".into(),
                country_code: "US".into(),
                phone: phone.as_e164().to_owned(),
                ..Default::default()
            },
        )
        .await;
    app.drain_sync().await;

    let crash = arm("checkout_consent.after_claim", hash, Action::Die, 1);
    let ticked = post_capture(
        &app,
        Some(SHOP),
        capture(hash, &cart_id, phone.as_e164(), "US", true, &version),
    )
    .await;
    assert_eq!(ticked.status(), 200);
    poll_until_death(&app.sync_queue, &crash).await;
    assert!(app.texts_to(&phone).is_empty());

    // SQS redelivers the check after its visibility timeout; the request's lease has lapsed by then.
    app.clock.advance(SYNC_VISIBILITY);
    let outcome = app.drain_sync().await;
    assert_eq!(outcome.failed, 0, "{outcome:?}");
    assert_eq!(app.texts_to(&phone).len(), 1, "one double opt-in request");
    let requested = |app: &TestApp| {
        let store = seeded.store_hash.clone();
        let phone = phone.clone();
        let db = app.db().clone();
        async move {
            db.ledger(&store, &phone)
                .await
                .unwrap()
                .iter()
                .filter(|e| matches!(e.kind, ConsentEventKind::DoubleOptInRequested { .. }))
                .count()
        }
    };
    assert_eq!(requested(&app).await, 1, "the request is on record");

    // Later checks never send it again.
    app.sync
        .aws
        .sync_queue
        .send(&shared::messages::SyncMessage::CheckoutConsent {
            store_hash: seeded.store_hash.clone(),
            cart_id: cart_id.clone(),
            phone: phone.clone(),
            attempt: 1,
        })
        .await
        .unwrap();
    app.drain_sync().await;
    assert_eq!(app.texts_to(&phone).len(), 1);
    assert_eq!(requested(&app).await, 1);
}

#[tokio::test]
async fn an_order_credited_by_an_invocation_that_died_is_published_once_when_sqs_redelivers_it() {
    use integration_tests::recovery::{NY, cart, give_consent, phone, save, shopper_cart, sweep_and_send};
    let app = TestApp::start_at(DAYTIME).await;
    let store = app.seed_store("fprec01", |_| {}).await;
    let hash = store.store_hash.as_str();
    let ny = phone(NY);
    give_consent(&app, &store, &ny, at(DAYTIME) - Duration::days(1)).await;
    let (cart_id, items) = shopper_cart(&app, &store, &[("Blue Mug", 1, 12.5)], None).await;
    save(&app, &cart(&store, &cart_id, Some(&ny), "US", at(DAYTIME), items)).await;
    app.clock.advance(Duration::minutes(30));
    sweep_and_send(&app).await;
    let events = app.catch_domain_events().await;
    let recovered = || async {
        events
            .take()
            .await
            .into_iter()
            .filter(|e| e["detail-type"] == "cart.recovered")
            .count()
    };

    let crash = arm("recovery.after_credit", hash, Action::Die, 1);
    app.bigcommerce.hold_webhooks(false);
    let order_id = app.bigcommerce.place_order(hash, &cart_id, 11).await;
    poll_until_death(&app.sync_queue, &crash).await;
    let record = app
        .db()
        .get_send(&store.store_hash, &cart_id, 1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.recovered_order_id, Some(order_id));
    assert_eq!(record.recovery_published_at, None);
    assert_eq!(recovered().await, 0);

    // SQS brings the order back after its visibility timeout: the dead invocation's claim is stale, so this
    // delivery publishes; the order's later events publish nothing more.
    app.clock.advance(SYNC_VISIBILITY);
    let outcome = app.drain_sync().await;
    assert_eq!(outcome.failed, 0, "{outcome:?}");
    app.bigcommerce.set_order_status(hash, order_id, 10).await;
    app.drain_sync().await;
    assert_eq!(recovered().await, 1);
    let record = app
        .db()
        .get_send(&store.store_hash, &cart_id, 1)
        .await
        .unwrap()
        .unwrap();
    assert!(record.recovery_published_at.is_some());
}
