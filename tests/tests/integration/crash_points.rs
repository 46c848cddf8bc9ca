//! Crash points in the webhook receivers: an invocation that marked a delivery and then died (Lambda timeout)
//! must not make the provider's retry a duplicate. The crashed invocation is reproduced by writing its mark
//! exactly as the handler does (same key, same call), then letting the provider re-send the delivery.

use chrono::Duration;
use integration_tests::contact_sync::Delivery;
use integration_tests::replies::{SENDER, us_phone};
use integration_tests::{SeededStore, TestApp};
use reqwest::StatusCode;
use serde_json::Value;
use shared::consent::{ConsentEventKind, OptOutMethod};
use shared::db::{DeliveryClaim, delivery_lease};
use shared::model::SenderSharing;
use shared::{Clock, Phone};
use sim::sms::WebhookDelivery;

/// Wednesday 10:00 in New York: inside every send window.
const DAYTIME: &str = "2026-11-25T15:00:00Z";

/// The mark a receiver leaves for `key` when it dies right after writing it: its claim, never finished.
async fn crashed_mark(app: &TestApp, key: &str, keep_for: Duration) {
    let claim = app.db().claim_delivery(key, app.clock.now(), keep_for).await.unwrap();
    assert!(matches!(claim, DeliveryClaim::Claimed(_)), "{claim:?}");
}

/// A store texting from [`SENDER`] with a subscribed contact.
async fn subscribed(app: &TestApp, hash: &str) -> (SeededStore, Phone) {
    let store = app.seed_store(hash, |s| s.sender_id = Some(SENDER.into())).await;
    app.approve_sender(&store, SenderSharing::Exclusive).await;
    let phone = us_phone(1);
    app.put_contact(&store.store_hash, &phone, None).await;
    app.subscribe(&store, &phone).await;
    (store, phone)
}

/// A STOP the handset sent whose push timed out before the app answered: what MessageMedia re-sends.
async fn stop_push(app: &TestApp, phone: &Phone) -> (WebhookDelivery, String) {
    // Pushed where nothing is processed (a wrong token), to obtain the provider's request untouched.
    app.sms
        .set_webhook(&app.url("/webhooks/messagemedia/not-the-token"), &[]);
    let lost = app.sms.reply(phone.as_e164(), SENDER, "STOP").await.unwrap();
    assert_eq!(lost.status, 403, "{}", lost.response_body);
    let retry = WebhookDelivery {
        url: app.messagemedia_callback(),
        ..lost
    };
    let key = format!("sms-reply:messagemedia:{}", retry.json()["reply_id"].as_str().unwrap());
    (retry, key)
}

async fn keyword_opt_outs(app: &TestApp, store: &SeededStore, phone: &Phone) -> usize {
    let ledger = app.db().ledger(&store.store_hash, phone).await.unwrap();
    ledger
        .iter()
        .filter(|e| matches!(e.kind, ConsentEventKind::OptOut(OptOutMethod::Keyword { .. })))
        .count()
}

fn result(delivery: &WebhookDelivery) -> Value {
    serde_json::from_str::<Value>(&delivery.response_body).unwrap()["result"].clone()
}

#[tokio::test]
async fn a_stop_whose_first_handling_died_is_recorded_when_the_provider_resends_it() {
    let app = TestApp::start_at(DAYTIME).await;
    let (store, phone) = subscribed(&app, "crash1").await;
    let (retry, key) = stop_push(&app, &phone).await;
    crashed_mark(&app, &key, Duration::days(7)).await;

    app.clock.advance(delivery_lease() + Duration::seconds(1));
    let resent = app.sms.redeliver(&retry).await.unwrap();
    assert_eq!(resent.status, 200, "{}", resent.response_body);
    assert_eq!(result(&resent), "processed");
    assert_eq!(keyword_opt_outs(&app, &store, &phone).await, 1);
    assert_eq!(
        app.texts_to(&phone).len(),
        1,
        "exactly one confirmation: {}",
        resent.response_body
    );

    // Once done, a further retry is a duplicate.
    let again = app.sms.redeliver(&retry).await.unwrap();
    assert_eq!(result(&again), "duplicate");
    assert_eq!(keyword_opt_outs(&app, &store, &phone).await, 1);
    assert_eq!(app.texts_to(&phone).len(), 1);
}

#[tokio::test]
async fn a_retry_while_the_first_handling_still_holds_the_lease_is_told_to_retry_and_not_processed() {
    let app = TestApp::start_at(DAYTIME).await;
    let (store, phone) = subscribed(&app, "crash2").await;
    let (retry, key) = stop_push(&app, &phone).await;
    crashed_mark(&app, &key, Duration::days(7)).await;

    // Still within the lease: the first invocation may yet finish, so nothing is done and MessageMedia,
    // which retries a 5xx, is asked to come back.
    app.clock.advance(delivery_lease() - Duration::seconds(1));
    let early = app.sms.redeliver(&retry).await.unwrap();
    assert_eq!(early.status, 503, "{}", early.response_body);
    assert_eq!(keyword_opt_outs(&app, &store, &phone).await, 0);
    assert!(app.texts_to(&phone).is_empty());

    // Its next retry, after the lease lapsed, does the work once.
    app.clock.advance(Duration::seconds(2));
    let later = app.sms.redeliver(&retry).await.unwrap();
    assert_eq!(result(&later), "processed", "{}", later.response_body);
    assert_eq!(keyword_opt_outs(&app, &store, &phone).await, 1);
    assert_eq!(app.texts_to(&phone).len(), 1);
}

#[tokio::test]
async fn a_store_event_whose_first_delivery_died_reaches_the_sync_queue_when_bigcommerce_resends_it() {
    let app = TestApp::start_at(DAYTIME).await;
    let seeded = app.seed_store("crash3", |_| {}).await;
    let delivery = Delivery::signed(
        &app,
        "crash3",
        seeded.webhook_secret.expose(),
        "store/customer/updated",
        serde_json::json!({ "type": "customer", "id": 7 }),
    );
    let webhook_id = delivery
        .headers
        .iter()
        .find(|(name, _)| name == "webhook-id")
        .map(|(_, id)| id.clone());
    let key = shared::store_events::Delivery::parse(delivery.body.as_bytes())
        .unwrap()
        .dedupe_key(webhook_id.as_deref());
    crashed_mark(&app, &key, Duration::days(3)).await;

    // While the lease lives BigCommerce is asked to retry (it retries any non-2xx) and nothing is queued.
    let early = delivery.post(&app).await;
    assert_eq!(early.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(app.sync_queue.depth().await.unwrap(), 0);

    app.clock.advance(delivery_lease() + Duration::seconds(1));
    assert_eq!(delivery.post(&app).await.status(), StatusCode::OK);
    assert_eq!(app.sync_queue.depth().await.unwrap(), 1, "the event is queued");
    // Done: a further retry is a duplicate.
    assert_eq!(delivery.post(&app).await.status(), StatusCode::OK);
    assert_eq!(app.sync_queue.depth().await.unwrap(), 1, "and queued once");
}

#[tokio::test]
async fn only_the_invocation_holding_the_lease_marks_a_delivery_done() {
    let app = TestApp::start_at(DAYTIME).await;
    let db = app.db();
    let key = "bcwh:crash4:msg_lease";
    let DeliveryClaim::Claimed(dead) = db
        .claim_delivery(key, app.clock.now(), Duration::days(3))
        .await
        .unwrap()
    else {
        panic!("a new delivery is claimed");
    };
    app.clock.advance(delivery_lease());
    let DeliveryClaim::Claimed(retry) = db
        .claim_delivery(key, app.clock.now(), Duration::days(3))
        .await
        .unwrap()
    else {
        panic!("a lapsed lease is taken over");
    };
    // The first invocation wakes up late: it may neither mark the delivery done nor give it up.
    assert!(!db.finish_delivery(&dead).await.unwrap());
    db.release_delivery(&dead).await.unwrap();
    assert_eq!(
        db.claim_delivery(key, app.clock.now(), Duration::days(3))
            .await
            .unwrap(),
        DeliveryClaim::InProgress
    );
    assert!(db.finish_delivery(&retry).await.unwrap());
    app.clock.advance(delivery_lease() * 2);
    assert_eq!(
        db.claim_delivery(key, app.clock.now(), Duration::days(3))
            .await
            .unwrap(),
        DeliveryClaim::Done
    );
}
