//! "Send me a test", end to end: the settings page form (session + CSRF) through the real `install` handler,
//! the SMS sandbox's replies through the real `webhooks` handler, the store's data in moto.

use chrono::Duration;
use integration_tests::install::{AppPage, Merchant};
use integration_tests::replies::{SENDER, us_phone};
use integration_tests::{SeededStore, TestApp, TestAppOptions, at};
use reqwest::StatusCode;
use shared::Phone;
use shared::consent::{ConsentEventKind, OptOutMethod};
use shared::test_text::{TEST_MARK, confirmation_request};

/// Wednesday 10:00 in New York: inside every send window.
const DAYTIME: &str = "2026-11-25T15:00:00Z";

async fn app(twilio: bool) -> TestApp {
    TestApp::start_with(TestAppOptions {
        start: at(DAYTIME),
        twilio,
        ..TestAppOptions::default()
    })
    .await
}

/// A store texting from [`SENDER`] (approved), its settings page open.
async fn store(app: &TestApp, hash: &str) -> (SeededStore, Merchant) {
    let store = app.seed_store(hash, |s| s.sender_id = Some(SENDER.into())).await;
    app.approve_sender(&store, shared::model::SenderSharing::Exclusive)
        .await;
    let merchant = app.open_app(hash, None).await;
    assert!(merchant.page.contains("id=\"send-test\""), "the page offers the test");
    (store, merchant)
}

async fn ask(app: &TestApp, merchant: &mut Merchant, typed: &str) -> AppPage {
    app.submit(
        merchant,
        "/settings/test-text",
        vec![("test_phone".to_owned(), typed.to_owned())],
    )
    .await
}

fn texts_to(app: &TestApp, phone: &Phone) -> Vec<String> {
    app.sms
        .messages_to(phone.as_e164())
        .into_iter()
        .map(|m| m.content)
        .collect()
}

/// Nothing a test text did shows anywhere a reminder would: no send records (reports, recent reminders), no
/// decisions, no past sends (shoppers' frequency), no ledger entry.
async fn assert_counted_nowhere(app: &TestApp, store: &SeededStore, phone: &Phone) {
    let db = app.db();
    assert!(db.recent_sends(&store.store_hash, 50).await.unwrap().is_empty());
    assert!(db.recent_decisions(&store.store_hash, 50).await.unwrap().is_empty());
    let snapshot = db.phone_snapshot(&store.store_hash, phone).await.unwrap();
    assert!(snapshot.sends.is_empty(), "{:?}", snapshot.sends);
    assert!(snapshot.ledger.is_empty(), "{:?}", snapshot.ledger);
}

#[tokio::test]
async fn a_number_gets_the_test_reminder_only_after_replying_yes_and_it_is_counted_nowhere() {
    let app = app(false).await;
    app.messagemedia_callback();
    let (store, mut merchant) = store(&app, "tt0001").await;
    let phone = us_phone(1);

    let page = ask(&app, &mut merchant, "+1 212 201 0001").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(page.contains("reply YES"), "{}", page.html);
    assert_eq!(
        texts_to(&app, &phone),
        vec![confirmation_request("Acme Outfitters")],
        "an unconfirmed number gets only the confirmation request"
    );

    let delivery = app.sms.reply(phone.as_e164(), SENDER, "Yes").await.unwrap();
    assert!(delivery.is_success(), "{}", delivery.response_body);
    let texts = texts_to(&app, &phone);
    assert_eq!(texts.len(), 2, "{texts:?}");
    assert!(texts[1].starts_with(TEST_MARK), "{}", texts[1]);
    assert!(
        texts[1].contains("Acme Outfitters"),
        "rendered from the template: {}",
        texts[1]
    );
    // The same YES again (a provider retry with a new id) sends nothing more.
    app.sms.reply(phone.as_e164(), SENDER, "YES").await.unwrap();
    assert_eq!(texts_to(&app, &phone).len(), 2);

    // A confirmed number gets the reminder straight away.
    let page = ask(&app, &mut merchant, phone.as_e164()).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(page.contains("test reminder is on its way"), "{}", page.html);
    let texts = texts_to(&app, &phone);
    assert_eq!(texts.len(), 3, "{texts:?}");
    assert!(texts[2].starts_with(TEST_MARK), "{}", texts[2]);
    assert_counted_nowhere(&app, &store, &phone).await;
}

#[tokio::test]
async fn a_yes_through_twilio_confirms_the_number_of_the_store_using_that_sender() {
    let app = app(true).await;
    let (store, mut merchant) = store(&app, "tt0002").await;
    let phone = us_phone(2);
    let page = ask(&app, &mut merchant, phone.as_e164()).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert_eq!(texts_to(&app, &phone).len(), 1);

    let delivery = app
        .sms
        .twilio_inbound(phone.as_e164(), SENDER, "YES", &app.twilio_callback())
        .await
        .unwrap();
    assert!(delivery.is_success(), "{}", delivery.response_body);
    let texts = texts_to(&app, &phone);
    assert_eq!(texts.len(), 2, "{texts:?}");
    assert!(texts[1].starts_with(TEST_MARK), "{}", texts[1]);
    assert_counted_nowhere(&app, &store, &phone).await;
}

#[tokio::test]
async fn stop_from_a_test_number_is_recorded_and_ends_its_test_texts() {
    let app = app(true).await;
    let (store, mut merchant) = store(&app, "tt0003").await;
    let phone = us_phone(3);
    ask(&app, &mut merchant, phone.as_e164()).await;
    let delivery = app
        .sms
        .twilio_inbound(phone.as_e164(), SENDER, "STOP", &app.twilio_callback())
        .await
        .unwrap();
    assert!(delivery.is_success(), "{}", delivery.response_body);
    let ledger = app.db().ledger(&store.store_hash, &phone).await.unwrap();
    assert!(
        ledger
            .iter()
            .any(|e| matches!(e.kind, ConsentEventKind::OptOut(OptOutMethod::Keyword { .. }))),
        "the STOP is in the ledger: {ledger:?}"
    );
    let sent = app.sms.messages_to(phone.as_e164()).len();

    let page = ask(&app, &mut merchant, phone.as_e164()).await;
    assert_eq!(page.status, StatusCode::CONFLICT, "{}", page.html);
    assert!(page.contains("replied STOP"), "{}", page.html);
    // A YES after the STOP sends no test either.
    app.sms
        .twilio_inbound(phone.as_e164(), SENDER, "YES", &app.twilio_callback())
        .await
        .unwrap();
    assert!(
        app.sms.messages_to(phone.as_e164())[sent..]
            .iter()
            .all(|m| !m.content.starts_with(TEST_MARK)),
        "no test reminder after STOP"
    );
}

#[tokio::test]
async fn at_most_five_test_texts_go_out_per_store_per_hour() {
    let app = app(false).await;
    let (store, mut merchant) = store(&app, "tt0004").await;
    assert!(merchant.page.contains("At most 5 test texts"), "the page says so");
    for n in 10..15 {
        let page = ask(&app, &mut merchant, us_phone(n).as_e164()).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    }
    let sent = app.sms.messages().len();
    let page = ask(&app, &mut merchant, us_phone(15).as_e164()).await;
    assert_eq!(page.status, StatusCode::TOO_MANY_REQUESTS, "{}", page.html);
    assert!(page.contains("Try again later"), "{}", page.html);
    assert_eq!(app.sms.messages().len(), sent, "the sixth sends nothing");
    assert!(
        app.db()
            .test_number(&store.store_hash, &us_phone(15))
            .await
            .unwrap()
            .is_none(),
        "and stores nothing"
    );

    app.clock.advance(Duration::hours(1));
    let page = ask(&app, &mut merchant, us_phone(15).as_e164()).await;
    assert_eq!(page.status, StatusCode::OK, "a new hour: {}", page.html);
    assert_eq!(app.sms.messages().len(), sent + 1);
}

#[tokio::test]
async fn a_test_request_without_its_csrf_token_is_refused() {
    let app = app(false).await;
    let (store, merchant) = store(&app, "tt0005").await;
    let phone = us_phone(5);
    let page = app
        .post_form(
            "/settings/test-text",
            Some(&merchant.cookie),
            &[("test_phone".to_owned(), phone.as_e164().to_owned())],
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "{}", page.html);
    assert!(app.sms.messages().is_empty());
    assert!(app.db().test_number(&store.store_hash, &phone).await.unwrap().is_none());
}

#[tokio::test]
async fn an_invalid_number_gets_a_clear_error_and_nothing_is_sent() {
    let app = app(false).await;
    let (_store, mut merchant) = store(&app, "tt0006").await;
    for typed in ["", "12345", "not a number"] {
        let page = ask(&app, &mut merchant, typed).await;
        assert_eq!(
            page.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{typed:?}: {}",
            page.html
        );
        assert!(page.contains("No test was sent"), "{}", page.html);
    }
    assert!(app.sms.messages().is_empty());
    // Refused numbers use none of the hourly allowance.
    for n in 20..25 {
        let page = ask(&app, &mut merchant, us_phone(n).as_e164()).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    }
}

#[tokio::test]
async fn a_test_reminder_the_provider_could_not_take_is_sent_on_the_retry_of_the_yes() {
    let app = app(false).await;
    app.messagemedia_callback();
    let (store, mut merchant) = store(&app, "tt0007").await;
    let phone = us_phone(7);
    ask(&app, &mut merchant, phone.as_e164()).await;

    app.sms.fail_next(1, 503);
    let delivery = app.sms.reply(phone.as_e164(), SENDER, "YES").await.unwrap();
    assert_eq!(
        delivery.status, 503,
        "the provider is asked to retry: {}",
        delivery.response_body
    );
    assert_eq!(texts_to(&app, &phone).len(), 1, "nothing went out");
    let number = app.db().test_number(&store.store_hash, &phone).await.unwrap().unwrap();
    assert_eq!(number.confirmed_at, None, "not confirmed until the reminder goes out");

    let retry = app.sms.redeliver(&delivery).await.unwrap();
    assert!(retry.is_success(), "{}", retry.response_body);
    let texts = texts_to(&app, &phone);
    assert_eq!(texts.len(), 2, "{texts:?}");
    assert!(texts[1].starts_with(TEST_MARK), "{}", texts[1]);
}
