//! Consent bases end to end: what a texted keyword, the consent texts and the sender identification do through
//! the real `webhooks`, `sweep` and `send` handlers against moto and the SMS sandbox, on the test's clock.

use chrono::Duration;
use integration_tests::recovery::{cart, give_consent, item, phone, save, sweep_and_send};
use integration_tests::replies::{SENDER, us_phone};
use integration_tests::{SeededStore, TestApp};
use shared::Clock;
use shared::consent::content::{double_opt_in_confirmed, double_opt_in_request};
use shared::consent::{count_segments, validate_disclosure};
use shared::model::{ReminderDecision, SenderSharing};

/// Wednesday 10:00 in New York and Toronto: inside every North American send window.
const DAYTIME: &str = "2026-11-25T15:00:00Z";
/// A Toronto mobile number.
const TORONTO: &str = "+14165550199";

async fn app() -> TestApp {
    let app = TestApp::start_at(DAYTIME).await;
    app.messagemedia_callback();
    app
}

async fn last_decision(app: &TestApp, store: &SeededStore, cart_id: &str) -> ReminderDecision {
    app.db()
        .cart_decisions(&store.store_hash, cart_id)
        .await
        .unwrap()
        .pop()
        .expect("a decision was recorded")
}

#[tokio::test]
async fn a_us_start_out_of_the_blue_gets_the_full_disclosure_and_no_reminder_until_yes() {
    let app = app().await;
    let store = app.seed_store("bases1", |s| s.sender_id = Some(SENDER.into())).await;
    app.approve_sender(&store, SenderSharing::Exclusive).await;
    let brand = store.settings.brand_name.clone();
    let us = us_phone(71);
    app.put_contact(&store.store_hash, &us, None).await;

    // A number never asked texts START: the answer is the double opt-in request, carrying the full disclosure.
    let delivery = app.sms.reply(us.as_e164(), SENDER, "START").await.unwrap();
    assert_eq!(delivery.status, 200, "{}", delivery.response_body);
    let texts = app.texts_to(&us);
    assert_eq!(texts, [double_opt_in_request(&store.settings)]);
    assert_eq!(validate_disclosure(&texts[0], &brand), vec![], "{}", texts[0]);
    for part in [
        "https://acme.example.com/terms",
        "https://acme.example.com/privacy",
        "not a condition of purchase",
        "cart reminders",
    ] {
        assert!(texts[0].contains(part), "{part}: {}", texts[0]);
    }
    assert!(count_segments(&texts[0]).segments <= 2, "{}", texts[0]);

    // Its abandoned cart gets no reminder: the keyword alone is not written consent, the request waits.
    let items = vec![item("Canvas tote", 1, 1, 2500)];
    save(
        &app,
        &cart(&store, "before-yes", Some(&us), "US", app.clock.now(), items.clone()),
    )
    .await;
    app.clock.advance(Duration::minutes(30));
    sweep_and_send(&app).await;
    assert_eq!(app.texts_to(&us).len(), 1, "no reminder before YES");
    let decision = last_decision(&app, &store, "before-yes").await;
    assert_eq!(
        (decision.outcome.as_str(), decision.code.as_str()),
        ("deny", "double_opt_in_pending")
    );
    assert!(
        decision.explanation.contains("keyword alone"),
        "{}",
        decision.explanation
    );

    // YES confirms: the confirmation carries the disclosure too, and the next cart's reminder goes.
    app.sms.reply(us.as_e164(), SENDER, "YES").await.unwrap();
    let texts = app.texts_to(&us);
    assert_eq!(texts[1], double_opt_in_confirmed(&store.settings));
    assert_eq!(validate_disclosure(&texts[1], &brand), vec![], "{}", texts[1]);
    save(
        &app,
        &cart(&store, "after-yes", Some(&us), "US", app.clock.now(), items),
    )
    .await;
    app.clock.advance(Duration::minutes(30));
    sweep_and_send(&app).await;
    let decision = last_decision(&app, &store, "after-yes").await;
    assert_eq!(decision.outcome, "allow", "{}", decision.explanation);
    let texts = app.texts_to(&us);
    assert_eq!(texts.len(), 3, "{texts:?}");
    assert!(texts[2].contains("Canvas tote"), "{}", texts[2]);
}

#[tokio::test]
async fn a_canadian_reminder_carries_the_senders_contact_details_and_none_goes_without_them() {
    let app = app().await;
    let address = "1 Main St, Toronto ON M5V 1A1";
    let with_address = app
        .seed_store("bases2", |s| s.mailing_address = Some(address.into()))
        .await;
    let without = app.seed_store("bases3", |_| {}).await;
    let toronto = phone(TORONTO);
    for store in [&with_address, &without] {
        give_consent(&app, store, &toronto, app.clock.now() - Duration::days(1)).await;
        let items = vec![item("Canvas tote", 1, 1, 2500)];
        save(
            &app,
            &cart(store, "ca-cart", Some(&toronto), "CA", app.clock.now(), items),
        )
        .await;
    }
    app.clock.advance(Duration::minutes(30));
    sweep_and_send(&app).await;

    let sent = app.sms.messages_to(TORONTO);
    assert_eq!(sent.len(), 1, "only the store with its contact details texts");
    assert_eq!(sent[0].metadata["store_hash"], "bases2");
    let body = &sent[0].content;
    let contact = format!("Acme Outfitters, {address}, help@acme.example.com");
    assert!(body.contains(&format!("\n{contact}\n")), "{body}");
    assert!(body.ends_with("Reply STOP to opt out"), "{body}");
    assert!(count_segments(body).segments <= 2, "{body}");

    let decision = last_decision(&app, &without, "ca-cart").await;
    assert_eq!(
        (decision.outcome.as_str(), decision.code.as_str()),
        ("deny", "sender_contact_missing")
    );
    assert!(
        decision.explanation.contains("mailing address"),
        "{}",
        decision.explanation
    );
}
