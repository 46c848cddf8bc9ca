//! Replies and opt-out, end to end: the SMS sandbox pushes replies, delivery reports and Twilio requests to the
//! real `webhooks` handler over HTTP; the consent ledger, carts and send records live in moto; answers go out
//! through the sandbox; write-backs run through the real sync queue against the BigCommerce simulator; the web
//! opt-out page is driven over HTTP and in headless Chromium.
//!
//! "A reminder due a second later is not sent" runs the real sweep and send function, and also asserts the
//! consent engine's decision from the same one-query snapshot the send function reads (`reminder_decision`).

use chrono::Duration;
use integration_tests::replies::{SENDER, uk_phone, us_phone};
use integration_tests::{SeededStore, TestApp, TestAppOptions, at, builders};
use serde_json::Value;
use shared::consent::content::{double_opt_in_request, opt_out_confirmation};
use shared::consent::{ConsentEventKind, Decision, OptInKeyword, OptOutMethod, Reason};
use shared::model::{OptOutLink, SendRecord, SendStatus, SenderSharing};
use shared::replies::{ReplyOutcome, double_opt_in_confirmed, opt_in_confirmation};
use shared::sms::{OutboundSms, SentSms};
use shared::{Clock, Phone};
use sim::sms::DeliveryStatus;
use std::collections::BTreeMap;

/// Wednesday 10:00 in New York, 15:00 in London: inside every send window.
const DAYTIME: &str = "2026-11-25T15:00:00Z";

async fn app_with(twilio: bool) -> TestApp {
    TestApp::start_with(TestAppOptions {
        start: at(DAYTIME),
        twilio,
        ..TestAppOptions::default()
    })
    .await
}

/// A store texting from [`SENDER`], approved for it by the operator.
async fn store(app: &TestApp, hash: &str) -> SeededStore {
    store_sharing(app, hash, SenderSharing::Exclusive).await
}

async fn store_sharing(app: &TestApp, hash: &str, sharing: SenderSharing) -> SeededStore {
    let store = app.seed_store(hash, |s| s.sender_id = Some(SENDER.into())).await;
    app.approve_sender(&store, sharing).await;
    store
}

fn assert_reason(decision: &Decision, reason: Reason) {
    match decision {
        Decision::Deny { reason: r, .. } => assert_eq!(*r, reason, "{decision:?}"),
        other => panic!("expected a denial ({reason:?}), got {other:?}"),
    }
}

fn keyword_opt_outs(ledger: &[shared::consent::ConsentEvent]) -> Vec<String> {
    ledger
        .iter()
        .filter_map(|e| match &e.kind {
            ConsentEventKind::OptOut(OptOutMethod::Keyword { raw_text, .. }) => Some(raw_text.clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn every_opt_out_wording_suppresses_at_once_and_is_confirmed_exactly_once() {
    let app = TestApp::start_at(DAYTIME).await;
    app.messagemedia_callback();
    let store = store(&app, "stop01").await;
    let events = app.catch_domain_events().await;
    let brand = &store.settings.brand_name;
    let wordings = [
        "STOP",
        "Stop.",
        " unsubscribe ",
        "STOPALL",
        "opt out",
        "Revoke",
        "please stop texting me",
    ];
    let mut carts = Vec::new();
    for (i, wording) in wordings.iter().enumerate() {
        let now = app.clock.now();
        let soon = now + Duration::seconds(1);
        let phone = us_phone(i as u32 + 1);
        app.put_contact(&store.store_hash, &phone, None).await;
        app.subscribe(&store, &phone).await;
        let cart = app
            .cart_due(&store.store_hash, &phone, &format!("cart-{i}"), Duration::seconds(1))
            .await;
        // The reminder due a second from now would go out...
        assert!(
            app.reminder_decision(&store, &cart, soon).await.is_allow(),
            "{wording:?}"
        );

        let delivery = app.sms.reply(phone.as_e164(), SENDER, wording).await.unwrap();
        assert_eq!(delivery.status, 200, "{wording:?}: {}", delivery.response_body);

        // ...but the opt-out was in force before the provider had its answer.
        assert_reason(&app.reminder_decision(&store, &cart, now).await, Reason::OptedOut);
        assert_reason(&app.reminder_decision(&store, &cart, soon).await, Reason::OptedOut);
        let ledger = app.db().ledger(&store.store_hash, &phone).await.unwrap();
        assert_eq!(keyword_opt_outs(&ledger), [wording.to_string()]);
        let saved = app
            .db()
            .get_cart(&store.store_hash, &cart.cart_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            saved.next_due_at, None,
            "{wording:?}: the pending reminder is cancelled"
        );

        // Exactly one confirmation, from the number texted, naming the brand, no marketing.
        let sent = app.sms.messages_to(phone.as_e164());
        assert_eq!(sent.len(), 1, "{wording:?}");
        assert_eq!(sent[0].content, opt_out_confirmation(brand));
        assert_eq!(sent[0].from.as_deref(), Some(SENDER));
        assert_eq!(sent[0].metadata["store_hash"], "stop01");

        // A second STOP is recorded as evidence but gets no second confirmation.
        // consent.changed went out, with the number masked.
        let published = events.take().await;
        assert_eq!(published.len(), 1, "{published:?}");
        assert_eq!(published[0]["detail-type"], "consent.changed");
        let detail = &published[0]["detail"];
        assert_eq!(detail["state"], "unsubscribed");
        assert_eq!(detail["store_hash"], "stop01");
        assert_eq!(detail["phone_masked"], phone.masked());
        assert!(!published[0].to_string().contains(phone.as_e164()));

        app.clock.advance(Duration::seconds(1));
        let again = app.sms.reply(phone.as_e164(), SENDER, "STOP").await.unwrap();
        assert_eq!(again.status, 200);
        assert_eq!(app.texts_to(&phone).len(), 1, "{wording:?}: no second confirmation");
        assert!(events.take().await.is_empty(), "nothing changed, nothing published");
        let ledger = app.db().ledger(&store.store_hash, &phone).await.unwrap();
        assert_eq!(keyword_opt_outs(&ledger).len(), 2);
        carts.push((phone, cart));
    }

    // A control number that did not opt out keeps its reminder.
    let control = us_phone(99);
    app.put_contact(&store.store_hash, &control, None).await;
    app.subscribe(&store, &control).await;
    let control_cart = app
        .cart_due(&store.store_hash, &control, "cart-control", Duration::seconds(1))
        .await;

    // A second later the reminders fall due: the sweep finds only the control's cart, and the send path sends
    // nothing to the opted-out numbers.
    app.clock.advance(Duration::seconds(1));
    let sweep = app.run_sweep().await;
    assert_eq!(sweep["due_found"], 1, "{sweep}");
    app.drain_send().await;
    for (phone, cart) in &carts {
        assert_eq!(app.texts_to(phone).len(), 1);
        assert_reason(
            &app.reminder_decision(&store, cart, app.clock.now()).await,
            Reason::OptedOut,
        );
    }
    // The control's reminder went out through the send path, exactly once.
    assert_eq!(app.texts_to(&control).len(), 1);
    let sends = app
        .db()
        .cart_sends(&store.store_hash, &control_cart.cart_id)
        .await
        .unwrap();
    assert_eq!(sends.len(), 1);
    assert!(app.sms.duplicate_idempotency_keys().is_empty());
}

#[tokio::test]
async fn help_is_answered_with_brand_contact_and_opt_out() {
    let app = TestApp::start_at(DAYTIME).await;
    app.messagemedia_callback();
    let store = store(&app, "help01").await;
    let phone = us_phone(1);
    app.put_contact(&store.store_hash, &phone, None).await;

    let delivery = app.sms.reply(phone.as_e164(), SENDER, "HELP").await.unwrap();
    assert_eq!(delivery.status, 200, "{}", delivery.response_body);
    let texts = app.texts_to(&phone);
    assert_eq!(texts.len(), 1);
    for part in ["Acme Outfitters", "help@acme.example.com", "STOP"] {
        assert!(texts[0].contains(part), "{}", texts[0]);
    }
    // HELP changes no consent.
    assert!(app.db().ledger(&store.store_hash, &phone).await.unwrap().is_empty());

    // Every HELP is answered (the flood limit is in `replies_second_pass`).
    app.clock.advance(Duration::hours(2));
    app.sms.reply(phone.as_e164(), SENDER, "info").await.unwrap();
    assert_eq!(app.texts_to(&phone).len(), 2);
    let replies = app.db().replies(&store.store_hash, &phone).await.unwrap();
    assert_eq!(replies.len(), 2);
    assert!(replies.iter().all(|r| r.no_answer_reason.is_none()), "{replies:?}");
}

#[tokio::test]
async fn start_restores_consent_and_a_later_reminder_goes_out() {
    let app = TestApp::start_at(DAYTIME).await;
    app.messagemedia_callback();
    let store = store(&app, "start1").await;
    let brand = store.settings.brand_name.clone();

    // Outside the US a texted keyword is enough for cart reminders.
    let uk = uk_phone(1);
    app.put_contact(&store.store_hash, &uk, None).await;
    app.subscribe(&store, &uk).await;
    app.sms.reply(uk.as_e164(), SENDER, "STOP").await.unwrap();
    app.clock.advance(Duration::minutes(5));
    let delivery = app.sms.reply(uk.as_e164(), SENDER, "START").await.unwrap();
    assert_eq!(delivery.status, 200, "{}", delivery.response_body);
    assert_eq!(
        app.texts_to(&uk),
        [opt_out_confirmation(&brand), opt_in_confirmation(&store.settings)]
    );
    let later = app
        .cart_due(&store.store_hash, &uk, "uk-later", Duration::minutes(10))
        .await;
    let due = app.clock.now() + Duration::minutes(10);
    assert!(app.reminder_decision(&store, &later, due).await.is_allow());

    // A US number also needs the double opt-in again: START is answered with the request, YES confirms it.
    let us = us_phone(2);
    app.put_contact(&store.store_hash, &us, None).await;
    app.subscribe(&store, &us).await;
    app.sms.reply(us.as_e164(), SENDER, "stop").await.unwrap();
    app.clock.advance(Duration::minutes(5));
    app.sms.reply(us.as_e164(), SENDER, "UNSTOP").await.unwrap();
    let cart = app
        .cart_due(&store.store_hash, &us, "us-later", Duration::minutes(10))
        .await;
    let due = app.clock.now() + Duration::minutes(10);
    assert_reason(
        &app.reminder_decision(&store, &cart, due).await,
        Reason::DoubleOptInPending,
    );
    app.sms.reply(us.as_e164(), SENDER, "Yes").await.unwrap();
    assert_eq!(
        app.texts_to(&us),
        [
            opt_out_confirmation(&brand),
            double_opt_in_request(&store.settings),
            double_opt_in_confirmed(&store.settings)
        ]
    );
    assert!(app.reminder_decision(&store, &cart, due).await.is_allow());
    let ledger = app.db().ledger(&store.store_hash, &us).await.unwrap();
    assert!(ledger.iter().any(|e| matches!(
        &e.kind,
        ConsentEventKind::KeywordOptIn {
            keyword: OptInKeyword::Unstop,
            ..
        }
    )));
    assert!(ledger.iter().any(|e| matches!(
        &e.kind,
        ConsentEventKind::DoubleOptInRequested {
            message_id: Some(_),
            ..
        }
    )));

    // Once due, the sweep and the send function deliver both reminders.
    app.clock.advance(Duration::minutes(10));
    assert_eq!(app.run_sweep().await["due_found"], 2);
    app.drain_send().await;
    assert_eq!(
        app.texts_to(&uk).len(),
        3,
        "confirmation, opt-in confirmation, reminder"
    );
    assert_eq!(app.texts_to(&us).len(), 4, "confirmation, request, confirmed, reminder");
    assert!(app.texts_to(&us).last().unwrap().contains(&brand));
}

#[tokio::test]
async fn yes_confirms_a_pending_double_opt_in_and_says_what_it_recorded() {
    let app = TestApp::start_at(DAYTIME).await;
    app.messagemedia_callback();
    let store = store(&app, "yes001").await;
    let brand = store.settings.brand_name.clone();
    let now = app.clock.now();

    // After a US checkout opt-in the double opt-in request went out (checkbox + request in the ledger).
    let phone = us_phone(1);
    app.put_contact(&store.store_hash, &phone, None).await;
    let disclosure = shared::consent::build_disclosure(
        &brand,
        store.settings.terms_url.as_deref().unwrap(),
        store.settings.privacy_url.as_deref().unwrap(),
    )
    .unwrap();
    let checkbox = shared::consent::ConsentEvent::new(
        store.store_hash.clone(),
        phone.clone(),
        shared::consent::Purpose::Marketing,
        now - Duration::minutes(10),
        now - Duration::minutes(10),
        "checkout:c1",
        ConsentEventKind::CheckoutCheckbox {
            disclosure_version: disclosure.version.clone(),
            disclosure_text: disclosure.text.clone(),
            checkbox_default_checked: false,
            ip: "203.0.113.7".into(),
            user_agent: "Mozilla/5.0".into(),
            page_url: None,
            cart_id: Some("c1".into()),
        },
    );
    let request = shared::consent::ConsentEvent::new(
        store.store_hash.clone(),
        phone.clone(),
        shared::consent::Purpose::Marketing,
        now - Duration::minutes(9),
        now - Duration::minutes(9),
        "doi:c1",
        ConsentEventKind::DoubleOptInRequested {
            message_id: None,
            text: double_opt_in_request(&store.settings),
        },
    );
    app.db().append_consents(&[checkbox, request]).await.unwrap();
    let cart = app
        .cart_due(&store.store_hash, &phone, "c1", Duration::minutes(1))
        .await;
    let due = now + Duration::minutes(1);
    assert_reason(
        &app.reminder_decision(&store, &cart, due).await,
        Reason::DoubleOptInPending,
    );

    let delivery = app.sms.reply(phone.as_e164(), SENDER, "YES").await.unwrap();
    assert_eq!(delivery.status, 200, "{}", delivery.response_body);
    assert_eq!(delivery_outcome(&delivery.response_body), "double_opt_in_confirmed");
    assert_eq!(app.texts_to(&phone), [double_opt_in_confirmed(&store.settings)]);
    assert!(app.reminder_decision(&store, &cart, due).await.is_allow());

    // With nothing pending, YES is a keyword opt-in, and the answer says so (for a US number: the request
    // that cart reminders need).
    let other = us_phone(2);
    app.put_contact(&store.store_hash, &other, None).await;
    let delivery = app.sms.reply(other.as_e164(), SENDER, "yes").await.unwrap();
    assert_eq!(delivery_outcome(&delivery.response_body), "opted_in");
    let ledger = app.db().ledger(&store.store_hash, &other).await.unwrap();
    assert!(ledger.iter().any(|e| matches!(
        e.kind,
        ConsentEventKind::KeywordOptIn {
            keyword: OptInKeyword::Yes,
            ..
        }
    )));
    assert!(
        ledger
            .iter()
            .any(|e| matches!(e.kind, ConsentEventKind::DoubleOptInRequested { .. }))
    );
    assert_eq!(app.texts_to(&other), [double_opt_in_request(&store.settings)]);
    let replies = app.db().replies(&store.store_hash, &other).await.unwrap();
    assert_eq!(replies[0].outcome, ReplyOutcome::OptedIn);
}

fn delivery_outcome(body: &str) -> String {
    let json: Value = serde_json::from_str(body).unwrap();
    json["stores"][0]["outcome"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn twilio_requests_are_verified_before_anything_changes() {
    let app = app_with(true).await;
    let store = store(&app, "twil01").await;
    let brand = store.settings.brand_name.clone();
    let phone = us_phone(1);
    app.put_contact(&store.store_hash, &phone, None).await;
    app.subscribe(&store, &phone).await;
    let cart = app
        .cart_due(&store.store_hash, &phone, "c1", Duration::seconds(1))
        .await;
    let url = app.twilio_callback();

    // Forged: a signature made with another auth token.
    let params = [
        ("MessageSid", "SMforged00000000000000000000000001"),
        ("AccountSid", "AC00000000000000000000000000000000"),
        ("From", phone.as_e164()),
        ("To", SENDER),
        ("Body", "STOP"),
        ("NumMedia", "0"),
    ];
    let owned: Vec<(String, String)> = params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let forged = sim::sms::twilio_signature("not-the-auth-token", &url, &owned);
    let post = |signature: Option<String>, url: String, params: Vec<(String, String)>| {
        let mut request = app.http.post(url).form(&params);
        if let Some(signature) = signature {
            request = request.header("x-twilio-signature", signature);
        }
        request.send()
    };
    let response = post(Some(forged), url.clone(), owned.clone()).await.unwrap();
    assert_eq!(response.status(), 403);
    let response = post(None, url.clone(), owned.clone()).await.unwrap();
    assert_eq!(response.status(), 401);
    // A genuine signature over other parameters (the body was tampered with).
    let genuine = sim::sms::twilio_signature(&app.sms.config().twilio_auth_token, &url, &owned);
    let mut tampered = owned.clone();
    tampered[4].1 = "START".into();
    let response = post(Some(genuine.clone()), url.clone(), tampered).await.unwrap();
    assert_eq!(response.status(), 403);
    // The right signature on a URL with another token.
    let wrong_token = app.url("/webhooks/twilio/not-the-token-0123456789");
    let response = post(Some(genuine), wrong_token, owned).await.unwrap();
    assert_eq!(response.status(), 403);
    assert!(
        app.db().ledger(&store.store_hash, &phone).await.unwrap().len() == 3,
        "nothing recorded"
    );
    assert!(app.texts_to(&phone).is_empty());
    assert!(
        app.reminder_decision(&store, &cart, app.clock.now() + Duration::seconds(1))
            .await
            .is_allow()
    );

    // The real thing: Twilio posts a signed "Stop." to the number's webhook.
    let delivery = app
        .sms
        .twilio_inbound(phone.as_e164(), SENDER, "Stop.", &url)
        .await
        .unwrap();
    assert_eq!(delivery.status, 200, "{}", delivery.response_body);
    assert!(delivery.response_body.contains("<Response>"));
    assert_reason(
        &app.reminder_decision(&store, &cart, app.clock.now()).await,
        Reason::OptedOut,
    );
    let sent = app.sms.messages_to(phone.as_e164());
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].content, opt_out_confirmation(&brand));
    assert_eq!(sent[0].from.as_deref(), Some(SENDER));
    // Its status callback comes back signed, with our metadata in the URL, and is accepted.
    let callback = app
        .sms
        .twilio_status_callback(&sent[0].id, "delivered", None)
        .await
        .unwrap();
    assert_eq!(callback.status, 200, "{}", callback.response_body);
    assert!(callback.url.contains("meta_store_hash=twil01"));
    // Redelivered: processed once.
    let again = app.sms.redeliver(&delivery).await.unwrap();
    assert_eq!(again.status, 200);
    assert_eq!(
        keyword_opt_outs(&app.db().ledger(&store.store_hash, &phone).await.unwrap()).len(),
        1
    );
    assert_eq!(app.texts_to(&phone).len(), 1);
}

#[tokio::test]
async fn a_duplicate_reply_is_processed_once() {
    let app = TestApp::start_at(DAYTIME).await;
    app.messagemedia_callback();
    let store = store(&app, "dup001").await;
    let phone = us_phone(1);
    app.put_contact(&store.store_hash, &phone, None).await;
    app.subscribe(&store, &phone).await;

    let first = app.sms.reply(phone.as_e164(), SENDER, "STOP").await.unwrap();
    assert_eq!(first.status, 200);
    let again = app.sms.redeliver(&first).await.unwrap();
    assert_eq!(again.status, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&again.response_body).unwrap()["result"],
        "duplicate"
    );
    let ledger = app.db().ledger(&store.store_hash, &phone).await.unwrap();
    assert_eq!(keyword_opt_outs(&ledger).len(), 1);
    assert_eq!(app.texts_to(&phone).len(), 1);
    assert_eq!(app.db().replies(&store.store_hash, &phone).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_failed_confirmation_is_retried_by_the_provider_and_sent_once() {
    let app = TestApp::start_at(DAYTIME).await;
    app.messagemedia_callback();
    let store = store(&app, "retry1").await;
    let phone = us_phone(1);
    app.put_contact(&store.store_hash, &phone, None).await;
    app.subscribe(&store, &phone).await;

    // The provider is down when the confirmation goes: the opt-out holds, the push is answered 503.
    app.sms.fail_next(1, 503);
    let first = app.sms.reply(phone.as_e164(), SENDER, "STOP").await.unwrap();
    assert_eq!(first.status, 503, "{}", first.response_body);
    assert_eq!(
        keyword_opt_outs(&app.db().ledger(&store.store_hash, &phone).await.unwrap()).len(),
        1
    );
    assert!(app.texts_to(&phone).is_empty());
    // MessageMedia retries the push: the confirmation goes, once.
    let retry = app.sms.redeliver(&first).await.unwrap();
    assert_eq!(retry.status, 200, "{}", retry.response_body);
    let again = app.sms.redeliver(&first).await.unwrap();
    assert_eq!(again.status, 200);
    assert_eq!(app.texts_to(&phone).len(), 1);
    assert_eq!(
        keyword_opt_outs(&app.db().ledger(&store.store_hash, &phone).await.unwrap()).len(),
        1
    );
}

#[tokio::test]
async fn bad_pushes_get_a_clear_error_and_change_nothing() {
    let app = TestApp::start_at(DAYTIME).await;
    let url = app.messagemedia_callback();
    let store = store(&app, "bad001").await;
    let phone = us_phone(1);
    app.put_contact(&store.store_hash, &phone, None).await;
    let stop = serde_json::json!({
        "reply_id": "6f0c2c52-2b54-468b-9850-41a3eab32f74",
        "date_received": "2026-11-25T15:00:00.000Z",
        "source_number": phone.as_e164(),
        "destination_number": SENDER,
        "content": "STOP",
        "metadata": { "store_hash": "bad001" },
    });
    let post = |url: String, body: String| {
        app.http
            .post(url)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };

    let wrong = app.url("/webhooks/messagemedia/not-the-token-0123456789");
    let response = post(wrong, stop.to_string()).await.unwrap();
    assert_eq!(response.status(), 403);
    for (body, status) in [
        ("{not json".to_owned(), 400),
        ("[]".to_owned(), 400),
        (serde_json::json!({ "hello": "world" }).to_string(), 400),
        (
            {
                let mut bad = stop.clone();
                bad["source_number"] = "not a phone".into();
                bad.to_string()
            },
            400,
        ),
        (
            {
                let mut big = stop.clone();
                big["content"] = "x".repeat(70 * 1024).into();
                big.to_string()
            },
            413,
        ),
    ] {
        let response = post(url.clone(), body).await.unwrap();
        assert_eq!(response.status(), status);
        let json: Value = response.json().await.unwrap();
        assert!(json["error"].as_str().is_some_and(|e| !e.is_empty()), "{json}");
    }
    assert!(app.db().ledger(&store.store_hash, &phone).await.unwrap().is_empty());
    assert!(app.sms.messages().is_empty());
    // The genuine push still works afterwards (nothing was marked seen by the bad ones).
    let response = post(url, stop.to_string()).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        keyword_opt_outs(&app.db().ledger(&store.store_hash, &phone).await.unwrap()),
        ["STOP"]
    );
}

#[tokio::test]
async fn other_replies_are_kept_for_the_merchant_without_an_answer() {
    let app = TestApp::start_at(DAYTIME).await;
    app.messagemedia_callback();
    let store = store(&app, "other1").await;
    let phone = us_phone(1);
    app.put_contact(&store.store_hash, &phone, None).await;
    app.subscribe(&store, &phone).await;
    let ledger_before = app.db().ledger(&store.store_hash, &phone).await.unwrap();

    let delivery = app
        .sms
        .reply(phone.as_e164(), SENDER, "Does the blue one come in size 10?")
        .await
        .unwrap();
    assert_eq!(delivery.status, 200);
    assert!(app.texts_to(&phone).is_empty());
    assert_eq!(app.db().ledger(&store.store_hash, &phone).await.unwrap(), ledger_before);
    let replies = app.db().replies(&store.store_hash, &phone).await.unwrap();
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0].text, "Does the blue one come in size 10?");
    assert_eq!(replies[0].outcome, ReplyOutcome::Stored);
    assert_eq!(replies[0].answer, None);
}

#[tokio::test]
async fn on_a_shared_sender_stop_reaches_every_store_that_texted_the_phone() {
    let app = TestApp::start_at(DAYTIME).await;
    app.messagemedia_callback();
    // The operator lets the three stores share the number.
    let a = store_sharing(&app, "share1", SenderSharing::Shared).await;
    let b = store_sharing(&app, "share2", SenderSharing::Shared).await;
    let c = store_sharing(&app, "share3", SenderSharing::Shared).await;
    let phone = us_phone(1);
    for s in [&a, &b] {
        app.put_contact(&s.store_hash, &phone, None).await;
        app.subscribe(s, &phone).await;
    }

    let delivery = app.sms.reply(phone.as_e164(), SENDER, "unsubscribe").await.unwrap();
    assert_eq!(delivery.status, 200, "{}", delivery.response_body);
    for s in [&a, &b] {
        let ledger = app.db().ledger(&s.store_hash, &phone).await.unwrap();
        assert_eq!(keyword_opt_outs(&ledger), ["unsubscribe"], "{}", s.store_hash);
    }
    // A store that never texted the phone records nothing.
    assert!(app.db().ledger(&c.store_hash, &phone).await.unwrap().is_empty());
    assert!(app.db().replies(&c.store_hash, &phone).await.unwrap().is_empty());
    // One text, one confirmation.
    assert_eq!(app.texts_to(&phone).len(), 1);

    // A reply whose metadata names one store still opts the phone out at every store that texted it from
    // the shared number; the named store answers.
    let third = us_phone(3);
    for s in [&a, &b] {
        app.put_contact(&s.store_hash, &third, None).await;
    }
    let push = serde_json::json!({
        "reply_id": "0b6d4c8e-1f1e-4e55-9d7c-4a0f3c2b1a00",
        "date_received": "2026-11-25T15:00:00.000Z",
        "source_number": third.as_e164(),
        "destination_number": SENDER,
        "content": "End",
        "metadata": { "store_hash": "share2" },
    });
    let response = app
        .http
        .post(app.messagemedia_callback())
        .json(&push)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    for s in [&a, &b] {
        let ledger = app.db().ledger(&s.store_hash, &third).await.unwrap();
        assert_eq!(keyword_opt_outs(&ledger), ["End"], "{}", s.store_hash);
    }
    let sent = app.sms.messages_to(third.as_e164());
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].metadata["store_hash"], "share2");

    // START to the shared number names no store: nothing is recorded, the texts are kept.
    let other = us_phone(2);
    for s in [&a, &b] {
        app.put_contact(&s.store_hash, &other, None).await;
    }
    let delivery = app.sms.reply(other.as_e164(), SENDER, "START").await.unwrap();
    assert_eq!(delivery.status, 200);
    for s in [&a, &b] {
        assert!(app.db().ledger(&s.store_hash, &other).await.unwrap().is_empty());
        let replies = app.db().replies(&s.store_hash, &other).await.unwrap();
        assert_eq!(replies[0].outcome, ReplyOutcome::AmbiguousStore);
    }
    assert!(app.texts_to(&other).is_empty());
}

#[tokio::test]
async fn an_uninstalled_store_still_records_the_opt_out_but_sends_nothing() {
    let app = TestApp::start_at(DAYTIME).await;
    app.messagemedia_callback();
    let store = store(&app, "gone01").await;
    let phone = us_phone(1);
    app.put_contact(&store.store_hash, &phone, None).await;
    app.subscribe(&store, &phone).await;
    app.db()
        .mark_uninstalled(&store.store_hash, app.clock.now())
        .await
        .unwrap();

    let delivery = app.sms.reply(phone.as_e164(), SENDER, "STOP").await.unwrap();
    assert_eq!(delivery.status, 200, "{}", delivery.response_body);
    assert_eq!(
        keyword_opt_outs(&app.db().ledger(&store.store_hash, &phone).await.unwrap()),
        ["STOP"]
    );
    assert!(app.texts_to(&phone).is_empty());
    let replies = app.db().replies(&store.store_hash, &phone).await.unwrap();
    assert!(replies[0].no_answer_reason.as_deref().unwrap().contains("uninstalled"));
}

/// Claims the reminder and records it sent, as the send function does once the provider accepts it.
async fn record_sent(app: &TestApp, record: &mut SendRecord, sent: &SentSms, now: chrono::DateTime<chrono::Utc>) {
    app.db().claim_send(record).await.unwrap();
    record.mark_sent(sent.provider, &sent.message_id, now);
    app.db()
        .record_send_sent(
            &record.store_hash,
            &record.cart_id,
            record.step,
            sent.provider,
            &sent.message_id,
            now,
        )
        .await
        .unwrap();
}

/// A reminder as the send function records it, sent through the sandbox so the sandbox can report on it.
async fn sent_reminder(app: &TestApp, store: &SeededStore, phone: &Phone, cart_id: &str) -> SendRecord {
    let now = app.clock.now();
    let metadata = BTreeMap::from([
        ("store_hash".to_owned(), store.store_hash.to_string()),
        ("cart_id".to_owned(), cart_id.to_owned()),
        ("step".to_owned(), "1".to_owned()),
    ]);
    let sent = app
        .send
        .sms
        .send(&OutboundSms {
            to: phone.clone(),
            from: Some(SENDER.into()),
            body: "Acme Outfitters: you left a Canvas tote in your cart. Reply STOP to opt out".into(),
            metadata,
            expires_at: None,
            callback_url: Some(app.messagemedia_callback()),
            idempotency_key: format!("{}:{cart_id}:1", store.store_hash),
        })
        .await
        .unwrap();
    let mut record = SendRecord {
        ledger_event_id: "seed".into(),
        settings_version: store.settings.version,
        body: "Acme Outfitters: ...".into(),
        link_token: "token".into(),
        ..builders::claimed_send(&store.store_hash, cart_id, phone, now)
    };
    record_sent(app, &mut record, &sent, now).await;
    record
}

#[tokio::test]
async fn delivery_reports_update_sends_and_permanent_failures_mark_the_number() {
    let app = TestApp::start_at(DAYTIME).await;
    let store = store(&app, "drep01").await;

    // Delivered.
    let ok = us_phone(1);
    app.put_contact(&store.store_hash, &ok, None).await;
    let record = sent_reminder(&app, &store, &ok, "c-ok").await;
    let id = record.provider_message_id.clone().unwrap();
    let enroute = app
        .sms
        .deliver_report(&id, DeliveryStatus::Enroute, "211")
        .await
        .unwrap();
    assert_eq!(enroute.status, 200, "{}", enroute.response_body);
    let report = app
        .sms
        .deliver_report(&id, DeliveryStatus::Delivered, "220")
        .await
        .unwrap();
    assert_eq!(report.status, 200, "{}", report.response_body);
    let saved = app.db().get_send(&store.store_hash, "c-ok", 1).await.unwrap().unwrap();
    assert_eq!(saved.status, SendStatus::Delivered);
    assert_eq!(saved.delivered_at, Some(app.clock.now()));
    // The same report again is processed once.
    assert_eq!(app.sms.redeliver(&report).await.unwrap().status, 200);

    // Invalid number: the send fails, the contact is flagged, its other reminders end.
    let invalid = us_phone(2);
    app.put_contact(&store.store_hash, &invalid, None).await;
    let pending = app
        .cart_due(&store.store_hash, &invalid, "c-next", Duration::hours(1))
        .await;
    let record = sent_reminder(&app, &store, &invalid, "c-bad").await;
    let report = app
        .sms
        .deliver_report(
            record.provider_message_id.as_ref().unwrap(),
            DeliveryStatus::Rejected,
            "411",
        )
        .await
        .unwrap();
    assert_eq!(report.status, 200, "{}", report.response_body);
    let saved = app.db().get_send(&store.store_hash, "c-bad", 1).await.unwrap().unwrap();
    assert_eq!(saved.status, SendStatus::Failed);
    assert!(saved.error.unwrap().contains("411"));
    let contact = app
        .db()
        .get_contact(&store.store_hash, &invalid)
        .await
        .unwrap()
        .unwrap();
    assert!(contact.undeliverable.unwrap().contains("cannot receive texts"));
    let cart = app
        .db()
        .get_cart(&store.store_hash, &pending.cart_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cart.next_due_at, None);

    // Blocked at the carrier (opted out there): recorded as an opt-out, so nothing more is sent.
    let blocked = us_phone(3);
    app.put_contact(&store.store_hash, &blocked, None).await;
    app.subscribe(&store, &blocked).await;
    let later = app
        .cart_due(&store.store_hash, &blocked, "c-later", Duration::hours(1))
        .await;
    let record = sent_reminder(&app, &store, &blocked, "c-blocked").await;
    app.sms
        .deliver_report(
            record.provider_message_id.as_ref().unwrap(),
            DeliveryStatus::Rejected,
            "412",
        )
        .await
        .unwrap();
    let ledger = app.db().ledger(&store.store_hash, &blocked).await.unwrap();
    assert!(ledger.iter().any(|e| matches!(
        &e.kind,
        ConsentEventKind::OptOut(OptOutMethod::ProviderReported { code, .. }) if code == "412"
    )));
    assert_reason(
        &app.reminder_decision(&store, &later, app.clock.now() + Duration::hours(1))
            .await,
        Reason::OptedOut,
    );
    // No confirmation for an opt-out the person did not text.
    assert_eq!(app.texts_to(&blocked).len(), 1);
}

#[tokio::test]
async fn a_twilio_status_callback_marks_a_landline_undeliverable() {
    let app = app_with(true).await;
    let store = store(&app, "tdr001").await;
    let phone = us_phone(1);
    app.put_contact(&store.store_hash, &phone, None).await;
    let now = app.clock.now();
    let mut record = SendRecord {
        ledger_event_id: "seed".into(),
        body: "...".into(),
        link_token: "t".into(),
        ..builders::claimed_send(&store.store_hash, "c1", &phone, now)
    };
    let sent = app
        .send
        .sms
        .send(&OutboundSms {
            to: phone.clone(),
            from: Some(SENDER.into()),
            body: "Acme Outfitters: your cart is waiting. Reply STOP to opt out".into(),
            metadata: BTreeMap::from([("store_hash".to_owned(), "tdr001".to_owned())]),
            expires_at: None,
            callback_url: Some(app.twilio_callback()),
            idempotency_key: "tdr001:c1:1".into(),
        })
        .await
        .unwrap();
    record_sent(&app, &mut record, &sent, now).await;

    let callback = app
        .sms
        .twilio_status_callback(&sent.message_id, "undelivered", Some("30006"))
        .await
        .unwrap();
    assert_eq!(callback.status, 200, "{}", callback.response_body);
    let saved = app.db().get_send(&store.store_hash, "c1", 1).await.unwrap().unwrap();
    assert_eq!(saved.status, SendStatus::Failed);
    let contact = app.db().get_contact(&store.store_hash, &phone).await.unwrap().unwrap();
    assert!(contact.undeliverable.is_some());
}

#[tokio::test]
async fn the_customer_record_in_bigcommerce_shows_the_opt_out() {
    let app = TestApp::start_at(DAYTIME).await;
    app.messagemedia_callback();
    let store = store(&app, "wback1").await;
    let hash = "wback1";
    app.bigcommerce.hold_webhooks(true);
    let phone = us_phone(1);
    let customer_id = app
        .bigcommerce
        .create_customer(
            hash,
            sim::bigcommerce::CustomerSeed {
                phone: "(212) 201-0001".into(),
                ..Default::default()
            },
        )
        .await;
    app.put_contact(&store.store_hash, &phone, Some(customer_id)).await;
    app.subscribe(&store, &phone).await;

    app.sms.reply(phone.as_e164(), SENDER, "STOP").await.unwrap();
    app.drain_sync().await;
    let attribute = app
        .bigcommerce
        .attributes(hash)
        .into_iter()
        .find(|a| a.name == "SMS marketing")
        .expect("the app created its attribute");
    let value = |app: &TestApp| {
        app.bigcommerce
            .attribute_values(hash, customer_id)
            .into_iter()
            .find(|v| v.attribute_id == attribute.id)
            .map(|v| v.value)
            .unwrap_or_default()
    };
    assert!(
        value(&app).starts_with("Unsubscribed on 2026-11-25 15:00 UTC"),
        "{}",
        value(&app)
    );
    let metafields = app.bigcommerce.metafields(hash, customer_id);
    assert_eq!(metafields.len(), 1);
    assert_eq!(metafields[0].permission_set, "app_only");
    let status: Value = serde_json::from_str(&metafields[0].value).unwrap();
    assert_eq!(status["status"], "unsubscribed");
    assert_eq!(status["source"], "sms_reply");

    // Incremental: a second STOP changes nothing in the store.
    let writes = |app: &TestApp| {
        app.bigcommerce
            .requests(hash)
            .iter()
            .filter(|r| r.method != "GET")
            .count()
    };
    let before = writes(&app);
    app.clock.advance(Duration::minutes(1));
    app.sms.reply(phone.as_e164(), SENDER, "stop").await.unwrap();
    assert_eq!(
        app.drain_sync().await.received,
        0,
        "no state change, no write-back queued"
    );
    // A redelivered write-back compares before writing.
    app.aws
        .aws
        .sync_queue
        .send(&shared::messages::SyncMessage::WriteBackConsent {
            store_hash: store.store_hash.clone(),
            customer_id,
            phone: phone.clone(),
        })
        .await
        .unwrap();
    assert_eq!(app.drain_sync().await.succeeded, 1);
    assert_eq!(writes(&app), before, "nothing rewritten when the state did not change");

    // A store API failing through all of the client's attempts is retried through the queue; START is
    // mirrored too.
    app.bigcommerce
        .inject_fault(sim::bigcommerce::Fault::status(500, "attribute-values").times(6));
    app.clock.advance(Duration::minutes(1));
    app.sms.reply(phone.as_e164(), SENDER, "START").await.unwrap();
    let outcome = app.drain_sync().await;
    assert!(outcome.failed >= 1, "{outcome:?}");
    assert!(
        value(&app).starts_with("Subscribed on 2026-11-25 15:02 UTC"),
        "{}",
        value(&app)
    );

    // A deleted customer is never re-created: the write-back is dropped.
    app.bigcommerce.delete_customer(hash, customer_id).await;
    app.clock.advance(Duration::minutes(1));
    app.sms.reply(phone.as_e164(), SENDER, "STOP").await.unwrap();
    let outcome = app.drain_sync().await;
    app.assert_outcome(outcome, 1, 0, "dropped, not retried");
    assert!(app.bigcommerce.customer(hash, customer_id).is_none());
    assert!(app.bigcommerce.customers(hash).is_empty());
}

#[tokio::test]
async fn the_web_opt_out_page_works_without_login() {
    let app = TestApp::start_at(DAYTIME).await;
    let store = store(&app, "webout").await;
    let hash = "webout";
    app.bigcommerce.hold_webhooks(true);
    let phone = us_phone(1);
    let customer_id = app
        .bigcommerce
        .create_customer(hash, sim::bigcommerce::CustomerSeed::default())
        .await;
    app.put_contact(&store.store_hash, &phone, Some(customer_id)).await;
    app.subscribe(&store, &phone).await;
    let cart = app
        .cart_due(&store.store_hash, &phone, "c1", Duration::minutes(5))
        .await;
    let token = shared::db::new_token();
    let link = OptOutLink {
        store_hash: store.store_hash.clone(),
        phone: phone.clone(),
    };
    let expires = app.clock.now() + Duration::days(30);
    app.db()
        .put_token(OptOutLink::TOKEN_KIND, &token, &link, expires)
        .await
        .unwrap();
    let url = app.url(&format!("/stop/{token}"));

    // The page: brand and masked number, a button, no login, no full number, not cacheable or frameable.
    let response = app.http.get(&url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.headers()["x-frame-options"], "DENY");
    let page = response.text().await.unwrap();
    assert!(page.contains("Acme Outfitters"));
    assert!(page.contains(&phone.masked()));
    assert!(!page.contains(phone.as_e164()));
    assert!(!page.contains(&phone.as_e164()[2..]));
    assert!(page.contains("method=\"post\""));
    assert!(!page.to_lowercase().contains("password"));
    // Showing the page changes nothing (link scanners fetch links).
    assert!(
        app.reminder_decision(&store, &cart, app.clock.now() + Duration::minutes(5))
            .await
            .is_allow()
    );

    // One click in a real browser.
    let events = app.catch_domain_events().await;
    let browser = devstack::browser::Browser::launch().await.expect("Chromium starts");
    browser.navigate(&url).await.unwrap();
    browser.eval("document.getElementById('stop').click()").await.unwrap();
    browser
        .wait_for(
            "document.getElementById('done') !== null",
            std::time::Duration::from_secs(10),
        )
        .await
        .expect("the done page shows");
    let ledger = app.db().ledger(&store.store_hash, &phone).await.unwrap();
    let web: Vec<_> = ledger
        .iter()
        .filter_map(|e| match &e.kind {
            ConsentEventKind::OptOut(OptOutMethod::WebPage { ip, user_agent }) => {
                Some((ip.clone(), user_agent.clone()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(web.len(), 1);
    assert_eq!(web[0].0.as_deref(), Some("127.0.0.1"));
    assert!(web[0].1.as_deref().unwrap_or_default().contains("Chrome"));
    assert_reason(
        &app.reminder_decision(&store, &cart, app.clock.now() + Duration::minutes(5))
            .await,
        Reason::OptedOut,
    );
    let saved = app.db().get_cart(&store.store_hash, "c1").await.unwrap().unwrap();
    assert_eq!(saved.next_due_at, None);
    let published = events.take().await;
    assert_eq!(published.len(), 1, "{published:?}");
    assert_eq!(published[0]["detail"]["state"], "unsubscribed");
    assert_eq!(published[0]["detail"]["customer_id"], customer_id);

    // Idempotent: posting again changes nothing; the page now says so.
    let again = app.http.post(&url).send().await.unwrap();
    assert_eq!(again.status(), 200);
    assert!(again.text().await.unwrap().contains("You are unsubscribed"));
    let ledger = app.db().ledger(&store.store_hash, &phone).await.unwrap();
    assert_eq!(
        ledger
            .iter()
            .filter(|e| matches!(e.kind, ConsentEventKind::OptOut(_)))
            .count(),
        1
    );
    let page = app.http.get(&url).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("You are unsubscribed"));
    assert!(events.take().await.is_empty());

    // The merchant sees it in BigCommerce.
    app.drain_sync().await;
    let values = app.bigcommerce.attribute_values(hash, customer_id);
    assert!(
        values.iter().any(|v| v.value.contains("web opt-out page")),
        "{values:?}"
    );

    // Unknown, malformed and expired links get a friendly page and change nothing.
    for bad in ["AAAAAAAAAAAAAAAAAAAAAA", "..%2F..%2Fetc", "x"] {
        let response = app.http.get(app.url(&format!("/stop/{bad}"))).send().await.unwrap();
        assert_eq!(response.status(), 404);
        assert!(response.text().await.unwrap().contains("not valid"));
        let response = app.http.post(app.url(&format!("/stop/{bad}"))).send().await.unwrap();
        assert_eq!(response.status(), 404);
    }
    let expired = shared::db::new_token();
    let other = us_phone(2);
    app.db()
        .put_token(
            OptOutLink::TOKEN_KIND,
            &expired,
            &OptOutLink {
                store_hash: store.store_hash.clone(),
                phone: other.clone(),
            },
            app.clock.now() - Duration::seconds(1),
        )
        .await
        .unwrap();
    let response = app
        .http
        .post(app.url(&format!("/stop/{expired}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    assert!(app.db().ledger(&store.store_hash, &other).await.unwrap().is_empty());
}

#[tokio::test]
async fn with_signed_messagemedia_webhooks_only_genuine_recent_pushes_count() {
    let app = TestApp::start_with(TestAppOptions {
        start: at(DAYTIME),
        messagemedia_signed_webhooks: true,
        ..TestAppOptions::default()
    })
    .await;
    app.messagemedia_callback();
    let store = store(&app, "sign01").await;
    let (mia, noah) = (us_phone(1), us_phone(2));
    for phone in [&mia, &noah] {
        app.put_contact(&store.store_hash, phone, None).await;
        app.subscribe(&store, phone).await;
    }
    let noah_ledger = app.db().ledger(&store.store_hash, &noah).await.unwrap();

    // A signed STOP is verified and recorded.
    let genuine = app.sms.reply(mia.as_e164(), SENDER, "STOP").await.unwrap();
    assert_eq!(genuine.status, 200, "{}", genuine.response_body);
    assert!(genuine.header("x-messagemedia-signature").is_some());
    let ledger = app.db().ledger(&store.store_hash, &mia).await.unwrap();
    assert_eq!(keyword_opt_outs(&ledger), ["STOP"]);

    // The same signature on another body (someone else's opt-out, a new reply id) is refused.
    let mut forged_body: Value = genuine.json();
    forged_body["source_number"] = Value::String(noah.as_e164().to_owned());
    forged_body["reply_id"] = Value::String("forged-reply-1".into());
    let mut forged = genuine.clone();
    forged.body = forged_body.to_string();
    let answer = app.sms.redeliver(&forged).await.unwrap();
    assert_eq!(answer.status, 403, "{}", answer.response_body);
    // Without the signature headers: 401.
    let mut unsigned = forged.clone();
    unsigned
        .headers
        .retain(|(name, _)| !name.to_ascii_lowercase().starts_with("x-messagemedia-"));
    let answer = app.sms.redeliver(&unsigned).await.unwrap();
    assert_eq!(answer.status, 401, "{}", answer.response_body);
    assert!(answer.response_body.contains("x-messagemedia-signature"));
    // The genuine push replayed ten minutes later: its Date is too old.
    app.clock.advance(Duration::minutes(10));
    let replay = app.sms.redeliver(&genuine).await.unwrap();
    assert_eq!(replay.status, 401, "{}", replay.response_body);

    assert_eq!(
        app.db().ledger(&store.store_hash, &noah).await.unwrap(),
        noah_ledger,
        "refused pushes change nothing"
    );
    assert!(app.texts_to(&noah).is_empty());
    assert_eq!(app.texts_to(&mia).len(), 1, "one confirmation, for the genuine STOP");
}
