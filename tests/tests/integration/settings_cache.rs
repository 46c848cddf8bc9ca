//! The warm-Lambda cache of settings versions (`shared::db::Db::store_with_settings`), through the real
//! install flow and the real `webhooks` handler answering HELP texts (each answer names the store's brand): a
//! version is read from DynamoDB once, the store record every time, a new version is seen by the next
//! message, and a store purged and installed again never gets the old install's settings. Reads are counted
//! by the SDK interceptor on the app's DynamoDB client (`integration_tests::metering`).

use chrono::Duration;
use integration_tests::TestApp;
use integration_tests::install::{set, sms_form};
use integration_tests::replies::{SENDER, us_phone};
use reqwest::StatusCode;
use shared::model::SenderSharing;
use shared::{Clock, Phone, StoreHash};

/// Wednesday 10:00 in New York: inside every send window.
const DAYTIME: &str = "2026-11-25T15:00:00Z";
const SETTINGS: &str = "STORE/SETTINGS";
const STORE_RECORD: &str = "STORE/STORE";

async fn app() -> TestApp {
    let app = TestApp::start_at(DAYTIME).await;
    app.messagemedia_callback();
    app
}

/// The merchant saves the settings form with `brand` (from the settings page they are on).
async fn save_brand(app: &TestApp, merchant: &mut integration_tests::install::Merchant, brand: &str) {
    let mut form = sms_form();
    set(&mut form, "brand_name", Some(brand));
    let page = app.submit(merchant, "/settings", form).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
}

/// Installs the app through OAuth, connects with `brand`, and the operator approves the store's sender.
async fn install(app: &TestApp, hash: &str, brand: &str) -> StoreHash {
    let mut merchant = app.install_app(hash).await;
    save_brand(app, &mut merchant, brand).await;
    let store = StoreHash::parse(hash).unwrap();
    app.db()
        .approve_sender(SENDER, &store, SenderSharing::Exclusive, app.clock.now())
        .await
        .unwrap();
    store
}

/// `phone` texts HELP to the store's sender; the answer it gets.
async fn help(app: &TestApp, store: &StoreHash, phone: &Phone) -> String {
    app.put_contact(store, phone, None).await;
    let delivery = app.sms.reply(phone.as_e164(), SENDER, "HELP").await.unwrap();
    assert_eq!(delivery.status, 200, "{}", delivery.response_body);
    let texts = app.texts_to(phone);
    texts.last().cloned().expect("HELP is answered")
}

/// (settings versions, store records) read by `GetItem` so far.
fn gets(app: &TestApp) -> (u64, u64) {
    let requests = &app.aws.requests;
    (requests.gets_of(SETTINGS), requests.gets_of(STORE_RECORD))
}

#[tokio::test]
async fn a_settings_version_is_read_once_and_a_new_version_is_seen_by_the_next_message() {
    let app = app().await;
    let store = install(&app, "cache1", "Acme Outfitters").await;

    let (settings_before, records_before) = gets(&app);
    assert!(help(&app, &store, &us_phone(1)).await.contains("Acme Outfitters"));
    let (settings_first, records_first) = gets(&app);
    assert_eq!(
        settings_first - settings_before,
        1,
        "the first message reads the version"
    );
    assert!(records_first > records_before);

    // A second message of the same store: the store record is read again, its settings version no more.
    app.clock.advance(Duration::hours(2));
    assert!(help(&app, &store, &us_phone(2)).await.contains("Acme Outfitters"));
    let (settings_second, records_second) = gets(&app);
    assert_eq!(settings_second, settings_first, "the version comes from the cache");
    assert!(records_second > records_first, "the store record is read fresh");

    // The merchant renames the brand (version 2): the very next message says so.
    let mut merchant = app.open_app("cache1", None).await;
    save_brand(&app, &mut merchant, "Beta Boutique").await;
    assert_eq!(app.db().get_store(&store).await.unwrap().unwrap().settings_version, 2);
    // (The settings page reads its versions itself: counted from here.)
    let (settings_saved, _) = gets(&app);
    let answer = help(&app, &store, &us_phone(3)).await;
    assert!(answer.contains("Beta Boutique") && !answer.contains("Acme"), "{answer}");
    assert_eq!(gets(&app).0, settings_saved + 1, "the new version is read once");
}

#[tokio::test]
async fn a_store_purged_and_installed_again_never_gets_the_old_installs_settings() {
    let app = app().await;
    let store = install(&app, "cache2", "Acme Outfitters").await;
    let phone = us_phone(1);
    assert!(help(&app, &store, &phone).await.contains("Acme Outfitters"));

    // Uninstalled, purged after the grace period (settings versions and store record deleted)...
    assert_eq!(app.uninstall_app("cache2").await.status, StatusCode::OK);
    app.clock.advance(Duration::days(31));
    let report = app.run_sweep().await;
    assert_eq!(report["stores_purged"], 1, "{report}");
    assert!(app.db().get_store(&store).await.unwrap().is_none());

    // ...then installed again: its settings start again at version 1, with another brand.
    let again = install(&app, "cache2", "Beta Boutique").await;
    assert_eq!(app.db().get_store(&again).await.unwrap().unwrap().settings_version, 1);
    let answer = help(&app, &again, &us_phone(2)).await;
    assert!(answer.contains("Beta Boutique") && !answer.contains("Acme"), "{answer}");
}
