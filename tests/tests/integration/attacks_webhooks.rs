//! Attacks on senders, SMS callbacks and webhook de-duplication, end to end: the real install, send, sync and
//! webhooks handlers against moto, the BigCommerce simulator and the SMS sandbox over HTTP.
//!
//! - A store that types another store's sender into its settings sends nothing from it, and replies to that
//!   sender never reach it: only the operator's approval makes a sender a store's.
//! - A deployment without MessageMedia's webhook signature key refuses MessageMedia callbacks (a START or YES
//!   with the path token alone records nothing).
//! - Two different unsigned BigCommerce deliveries in the same second are both processed.

use chrono::Duration;
use integration_tests::contact_sync::Delivery;
use integration_tests::install::sms_form;
use integration_tests::recovery::{NY, cart, give_consent, item, phone, save, sweep_and_send};
use integration_tests::replies::SENDER;
use integration_tests::{TestApp, TestAppOptions, at};
use reqwest::StatusCode;
use shared::db::DbError;
use shared::model::SenderSharing;
use shared::model::sender::SENDER_NOT_APPROVED;
use shared::{Clock, Phone, StoreHash};
use sim::bigcommerce::CustomerSeed;

/// Tuesday 4 November 2025, 14:00 UTC: 09:00 in New York, inside every send window.
const DAYTIME: &str = "2025-11-04T14:00:00Z";

async fn app(deployed: bool) -> TestApp {
    TestApp::start_with(TestAppOptions {
        start: at(DAYTIME),
        deployed,
        ..TestAppOptions::default()
    })
    .await
}

#[tokio::test]
async fn a_store_cannot_send_from_another_stores_sender_nor_receive_its_replies() {
    let app = app(false).await;
    let owner = app.seed_store("senda1", |s| s.sender_id = Some(SENDER.into())).await;
    app.approve_sender(&owner, SenderSharing::Exclusive).await;
    // Store B types A's number into its settings; the operator cannot give it to B as well.
    let intruder = app.seed_store("sendb1", |s| s.sender_id = Some(SENDER.into())).await;
    let refused = app
        .db()
        .approve_sender(SENDER, &intruder.store_hash, SenderSharing::Exclusive, app.clock.now())
        .await;
    assert!(matches!(refused, Err(DbError::Conflict(_))), "{refused:?}");

    let ny = phone(NY);
    for (store, cart_id) in [(&owner, "cart-a"), (&intruder, "cart-b")] {
        give_consent(&app, store, &ny, at(DAYTIME) - Duration::days(1)).await;
        save(
            &app,
            &cart(
                store,
                cart_id,
                Some(&ny),
                "US",
                at(DAYTIME),
                vec![item("Blue Mug", 101, 1, 1250)],
            ),
        )
        .await;
    }
    app.clock.advance(Duration::minutes(30));
    sweep_and_send(&app).await;

    // Only A's reminder went out from the number.
    let sent = app.sms.messages_to(NY);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].from.as_deref(), Some(SENDER));
    assert_eq!(sent[0].metadata["store_hash"], "senda1");
    let decisions = app.db().cart_decisions(&intruder.store_hash, "cart-b").await.unwrap();
    assert_eq!(decisions.len(), 1);
    assert_eq!(
        (decisions[0].outcome.as_str(), decisions[0].code.as_str()),
        ("deny", SENDER_NOT_APPROVED)
    );
    assert!(
        app.db()
            .get_send(&intruder.store_hash, "cart-b", 1)
            .await
            .unwrap()
            .is_none()
    );
    let cart_b = app
        .db()
        .get_cart(&intruder.store_hash, "cart-b")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cart_b.next_due_at, None, "the reminder sequence ends");

    // A reply to the number that names no store reaches only the store the number is approved for.
    app.messagemedia_callback();
    let stranger = phone("+12122019999");
    app.put_contact(&intruder.store_hash, &stranger, None).await;
    let delivery = app.sms.reply(stranger.as_e164(), SENDER, "START").await.unwrap();
    assert_eq!(delivery.status, 200, "{}", delivery.response_body);
    assert!(
        app.db()
            .ledger(&intruder.store_hash, &stranger)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        app.db()
            .replies(&intruder.store_hash, &stranger)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(app.texts_to(&stranger).is_empty());

    // Once the operator withdraws it from A, the number can be approved for B (and only B).
    let now = app.clock.now();
    app.db().revoke_sender(SENDER, &owner.store_hash, now).await.unwrap();
    app.approve_sender(&intruder, SenderSharing::Exclusive).await;
    assert_eq!(
        app.db().stores_using_sender(SENDER).await.unwrap(),
        vec![intruder.store_hash.clone()]
    );
    let refused = app
        .db()
        .approve_sender(SENDER, &owner.store_hash, SenderSharing::Exclusive, now)
        .await;
    assert!(matches!(refused, Err(DbError::Conflict(_))), "{refused:?}");
}

#[tokio::test]
async fn an_unapproved_sender_sends_nothing_and_the_settings_page_says_how_to_get_it_approved() {
    let app = app(false).await;
    let mut merchant = app.install_app("sendc1").await;
    let page = app.submit(&mut merchant, "/settings", sms_form()).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(page.contains("id=\"sender-status\""), "{}", page.html);
    assert!(page.contains("Not approved for your store yet"));
    assert!(page.contains("ask the app&#39;s support") || page.contains("ask the app's support"));
    let hash = StoreHash::parse("sendc1").unwrap();
    let (_, settings) = app.db().store_with_settings(&hash).await.unwrap().unwrap();
    let store = integration_tests::SeededStore {
        store_hash: hash.clone(),
        token: shared::Secret::new(""),
        webhook_secret: shared::Secret::new(""),
        settings: settings.expect("settings saved"),
    };
    assert_eq!(store.settings.sender_id.as_deref(), Some(SENDER));
    assert!(app.db().stores_using_sender(SENDER).await.unwrap().is_empty());

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
    assert!(
        app.sms.messages().is_empty(),
        "nothing is sent from an unapproved sender"
    );
    let decisions = app.db().cart_decisions(&hash, "cart-1").await.unwrap();
    assert_eq!(decisions.last().map(|d| d.code.as_str()), Some(SENDER_NOT_APPROVED));

    // Once the operator approves it, the page says so and the next cart's reminder goes out from it.
    app.approve_sender(&store, SenderSharing::Exclusive).await;
    let page = app.get_page("/settings", Some(&merchant.cookie)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.contains("Approved for your store"), "{}", page.html);
    let now = app.clock.now();
    save(
        &app,
        &cart(
            &store,
            "cart-2",
            Some(&ny),
            "US",
            now,
            vec![item("Blue Mug", 101, 1, 1250)],
        ),
    )
    .await;
    app.clock.advance(Duration::minutes(30));
    sweep_and_send(&app).await;
    let sent = app.sms.messages_to(NY);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].from.as_deref(), Some(SENDER));
}

#[tokio::test]
async fn a_deployment_without_the_messagemedia_key_refuses_its_callbacks_and_records_nothing() {
    let app = app(true).await;
    let store = app.seed_store("mmkey1", |s| s.sender_id = Some(SENDER.into())).await;
    app.approve_sender(&store, SenderSharing::Exclusive).await;
    let ny = phone(NY);
    app.put_contact(&store.store_hash, &ny, None).await;
    for (id, text) in [
        ("0b6d4c8e-1f1e-4e55-9d7c-4a0f3c2b1a01", "START"),
        ("0b6d4c8e-1f1e-4e55-9d7c-4a0f3c2b1a02", "YES"),
    ] {
        let push = serde_json::json!({
            "reply_id": id,
            "date_received": "2025-11-04T14:00:00.000Z",
            "source_number": ny.as_e164(),
            "destination_number": SENDER,
            "content": text,
            "metadata": { "store_hash": "mmkey1" },
        });
        let response = app
            .http
            .post(app.url(&format!("/webhooks/messagemedia/{}", app.sms_webhook_token.expose())))
            .json(&push)
            .send()
            .await
            .unwrap();
        // Refused in a way MessageMedia retries (once the key is configured the retry is processed).
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE, "{text}");
        let body = response.text().await.unwrap();
        assert!(body.contains("MESSAGEMEDIA_WEBHOOK_PUBLIC_KEY"), "{body}");
    }
    assert!(app.db().ledger(&store.store_hash, &ny).await.unwrap().is_empty());
    assert!(app.db().replies(&store.store_hash, &ny).await.unwrap().is_empty());
    assert!(app.sms.messages().is_empty(), "no answer was sent");
}

#[tokio::test]
async fn two_different_unsigned_deliveries_in_the_same_second_are_both_processed() {
    let app = app(false).await;
    let seeded = app.seed_store("dedup1", |_| {}).await;
    let secret = seeded.webhook_secret.expose().to_owned();
    // Two customers; the simulator's own deliveries are held back, only the test's reach the app.
    app.bigcommerce.hold_webhooks(true);
    let mut customers = Vec::new();
    for (email, number) in [
        ("ana@example.com", "(512) 555-0101"),
        ("ben@example.com", "(512) 555-0102"),
    ] {
        let id = app
            .bigcommerce
            .create_customer(
                "dedup1",
                CustomerSeed {
                    email: email.into(),
                    phone: number.into(),
                    ..CustomerSeed::default()
                },
            )
            .await;
        customers.push((id, Phone::parse(number, Some("US")).unwrap()));
    }
    // Two customer events in one second whose envelopes share scope, `hash` and `created_at`.
    let unsigned = |customer_id: u64| {
        let body = serde_json::json!({
            "scope": "store/customer/updated",
            "store_id": "1000001",
            "data": { "type": "customer", "id": customer_id },
            "hash": "8768ab15aa86c6d73c7e4c3efbaee072110ad1d2",
            "created_at": 1_762_264_800,
            "producer": "stores/dedup1",
        })
        .to_string();
        Delivery {
            body,
            headers: vec![
                ("content-type".into(), "application/json".into()),
                (shared::bigcommerce::WEBHOOK_SECRET_HEADER.into(), secret.clone()),
            ],
        }
    };
    let (first, second) = (unsigned(customers[0].0), unsigned(customers[1].0));
    assert_eq!(first.post(&app).await.status(), StatusCode::OK);
    assert_eq!(second.post(&app).await.status(), StatusCode::OK);
    assert_eq!(app.sync_queue.depth().await.unwrap(), 2, "both deliveries are queued");
    // A retry (the same body again) is still dropped.
    assert_eq!(first.post(&app).await.status(), StatusCode::OK);
    assert_eq!(
        app.sync_queue.depth().await.unwrap(),
        2,
        "the retry is not queued again"
    );
    let outcome = app.drain_sync().await;
    assert_eq!((outcome.received, outcome.failed), (2, 0));
    for (id, phone) in &customers {
        let contact = app.db().get_contact(&seeded.store_hash, phone).await.unwrap();
        assert_eq!(
            contact.and_then(|c| c.customer_id),
            Some(*id),
            "customer {id} was synced"
        );
    }
}
