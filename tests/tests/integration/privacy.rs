//! Privacy: erasure of a person (a customer deleted in BigCommerce, a merchant's erasure request) leaves only
//! the consent proof, checked by scanning the whole table; uninstall deletes the token at once and purges the
//! store after the grace period; BigCommerce error bodies never reach logs or notices.

use chrono::Duration;
use integration_tests::recovery::{NY, cart, give_consent, item, save, sweep_and_send};
use integration_tests::replies::SENDER;
use integration_tests::{SeededStore, TestApp};
use shared::consent::ConsentEventKind;
use shared::db::{ErasureCause, Person, erased_body};
use shared::model::SenderSharing;
use shared::{Clock, Phone};
use sim::bigcommerce::{CustomerSeed, SubscriberSeed};

/// Tuesday 4 November 2025, 14:00 UTC: 09:00 in New York.
const DAYTIME: &str = "2025-11-04T14:00:00Z";
const FIRST: &str = "Rosalind";
const LAST: &str = "Quillfeather";
const EMAIL: &str = "rosalind.quill@example.org";

async fn store(app: &TestApp, hash: &str) -> SeededStore {
    app.messagemedia_callback();
    let store = app.seed_store(hash, |s| s.sender_id = Some(SENDER.into())).await;
    app.approve_sender(&store, SenderSharing::Exclusive).await;
    store
}

/// A customer known everywhere the app keeps people: a synced contact and subscriber record, a cart that got a
/// reminder addressing them by name, and a text they sent. Returns the customer id and the number.
async fn known_customer(app: &TestApp, store: &SeededStore) -> (u64, Phone) {
    let hash = store.store_hash.as_str();
    let number = integration_tests::recovery::phone(NY);
    let customer_id = app
        .bigcommerce
        .create_customer(
            hash,
            CustomerSeed {
                email: EMAIL.into(),
                first_name: FIRST.into(),
                last_name: LAST.into(),
                phone: "(212) 201-4567".into(),
                notes: format!("{FIRST} prefers evening delivery"),
                accepts_product_review_abandoned_cart_emails: true,
                ..CustomerSeed::default()
            },
        )
        .await;
    app.bigcommerce
        .create_subscriber(
            hash,
            SubscriberSeed {
                email: EMAIL.into(),
                first_name: FIRST.into(),
                last_name: LAST.into(),
                consents: vec!["marketing_newsletter".into()],
                ..SubscriberSeed::default()
            },
        )
        .await;
    app.drain_sync().await;
    let contact = app.db().get_contact(&store.store_hash, &number).await.unwrap();
    assert_eq!(
        contact.and_then(|c| c.first_name).as_deref(),
        Some(FIRST),
        "the customer was synced"
    );
    assert!(
        app.db()
            .subscribers_by_email(&store.store_hash, &[EMAIL.into()])
            .await
            .unwrap()
            .contains_key(EMAIL)
    );

    give_consent(app, store, &number, app.clock.now() - Duration::days(1)).await;
    let mut basket = cart(
        store,
        "cart-erase",
        Some(&number),
        "US",
        app.clock.now(),
        vec![item("Monogrammed Robe", 101, 1, 8900)],
    );
    basket.customer_id = customer_id;
    basket.email = Some(EMAIL.into());
    basket.first_name = Some(FIRST.into());
    save(app, &basket).await;
    app.clock.advance(Duration::minutes(30));
    sweep_and_send(app).await;
    let texts = app.sms.messages_to(NY);
    assert_eq!(texts.len(), 1);
    assert!(texts[0].content.contains(FIRST), "{}", texts[0].content);

    let reply = app
        .sms
        .reply(NY, SENDER, &format!("Thanks, this is {FIRST} {LAST}, I'll be back"))
        .await
        .unwrap();
    assert_eq!(reply.status, 200, "{}", reply.response_body);
    assert_eq!(app.db().replies(&store.store_hash, &number).await.unwrap().len(), 1);
    (customer_id, number)
}

/// Every item of the table, as text (keys and values).
async fn scan_table(app: &TestApp) -> Vec<(String, String, String)> {
    let client = aws_sdk_dynamodb::Client::new(&app.aws.sdk);
    let mut rows = Vec::new();
    let mut start = None;
    loop {
        let page = client
            .scan()
            .table_name(app.db().table_name())
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .expect("table scanned");
        for item in page.items() {
            let key = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
            rows.push((key("pk"), key("sk"), format!("{item:?}")));
        }
        match page.last_evaluated_key {
            Some(key) => start = Some(key),
            None => return rows,
        }
    }
}

/// The items that are kept as proof of consent and of each message sent under it: the only ones allowed to
/// hold the number (and none may hold the name or email).
fn is_kept_proof(store: &SeededStore, number: &Phone, pk: &str, sk: &str) -> bool {
    let phone_pk = format!("STORE#{}#PHONE#{}", store.store_hash, number.as_e164());
    let cart_prefix = format!("STORE#{}#CART#", store.store_hash);
    // `COUNTED_STATE`: the consent state the store's counters count the number in (kept with the ledger).
    (pk == phone_pk
        && (sk == "CONTACT"
            || sk == "COUNTED_STATE"
            || ["CONSENT#", "CONSENTKEY#", "SENT#"].iter().any(|p| sk.starts_with(p))))
        || (pk.starts_with(&cart_prefix) && sk.starts_with("SEND#"))
        || (pk == format!("STORE#{}", store.store_hash) && sk.starts_with("ERASURE#"))
}

/// Scans the whole table: the name and email are nowhere, the number only in the kept proof.
async fn assert_only_proof_left(app: &TestApp, store: &SeededStore, number: &Phone) {
    let national = &number.as_e164()[2..];
    for (pk, sk, text) in scan_table(app).await {
        let lower = text.to_lowercase();
        for needle in [FIRST, LAST, EMAIL, "monogrammed robe"] {
            assert!(
                !lower.contains(&needle.to_lowercase()),
                "{needle} left in {pk} / {sk}: {text}"
            );
        }
        if lower.contains(national) || lower.contains("201-4567") {
            assert!(
                is_kept_proof(store, number, &pk, &sk),
                "the number left in {pk} / {sk}: {text}"
            );
        }
    }
}

/// The proof items must carry their TTL; everything else of an uninstalled store must be gone, but for
/// markers and tokens that expire by themselves.
fn is_kept_after_purge(store: &SeededStore, pk: &str, sk: &str, text: &str) -> bool {
    let hash = store.store_hash.as_str();
    let proof = (pk.starts_with(&format!("STORE#{hash}#PHONE#"))
        && ["CONSENT#", "CONSENTKEY#", "SENT#"].iter().any(|p| sk.starts_with(p)))
        || (pk.starts_with(&format!("STORE#{hash}#CART#")) && sk.starts_with("SEND#"))
        || (pk == format!("STORE#{hash}") && sk.starts_with("ERASURE#"));
    let expiring = ["DEDUPE#", "TOKEN#", "RATE#", &format!("STORE#{hash}#RATE#")]
        .iter()
        .any(|p| pk.starts_with(p));
    (proof || expiring) && text.contains("\"expires_at\"") || pk.starts_with("SENDER#")
}

#[tokio::test]
async fn a_customer_deleted_in_bigcommerce_leaves_only_the_consent_proof() {
    let app = TestApp::start_at(DAYTIME).await;
    let store = store(&app, "priv01").await;
    let (customer_id, number) = known_customer(&app, &store).await;

    app.bigcommerce
        .delete_customer(store.store_hash.as_str(), customer_id)
        .await;
    app.drain_sync().await;

    assert_only_proof_left(&app, &store, &number).await;
    // The proof stays: the ledger, the erased contact (the number only), the reminder without its text.
    let ledger = app.db().ledger(&store.store_hash, &number).await.unwrap();
    assert!(ledger.len() >= 2, "{ledger:?}");
    let contact = app.db().get_contact(&store.store_hash, &number).await.unwrap().unwrap();
    assert!(contact.erased_at.is_some());
    let send = app
        .db()
        .get_send(&store.store_hash, "cart-erase", 1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(send.body, erased_body(1, send.settings_version));
    assert!(send.provider_message_id.is_some() && send.sent_at.is_some());
    let erasures = app.db().erasures(&store.store_hash).await.unwrap();
    assert_eq!(erasures.len(), 1);
    assert_eq!(erasures[0].cause, ErasureCause::CustomerDeleted { customer_id });
    assert_eq!(erasures[0].report.phones, vec![number.clone()]);
}

#[tokio::test]
async fn a_merchant_erasure_leaves_only_the_proof_keeps_the_number_suppressed_and_can_run_twice() {
    let app = TestApp::start_at(DAYTIME).await;
    let store = store(&app, "priv02").await;
    let (_, number) = known_customer(&app, &store).await;
    let person = Person {
        phones: vec![number.clone()],
        emails: vec![EMAIL.into()],
    };
    let cause = ErasureCause::MerchantRequest {
        user_id: 1,
        user_email: "owner@priv02.example.com".into(),
    };

    let report = app
        .db()
        .erase_person(&store.store_hash, &person, &cause, app.clock.now())
        .await
        .unwrap();
    assert_eq!(report.phones, vec![number.clone()]);
    assert_eq!(report.suppressed, vec![number.clone()]);
    assert!(report.items_scrubbed >= 3 && report.items_deleted >= 3, "{report:?}");
    assert_only_proof_left(&app, &store, &number).await;

    // Running it again (a retry, a second request) changes nothing and records no second suppression.
    app.clock.advance(Duration::minutes(1));
    let again = app
        .db()
        .erase_person(&store.store_hash, &person, &cause, app.clock.now())
        .await
        .unwrap();
    assert_eq!((again.items_scrubbed, again.items_deleted), (0, 0), "{again:?}");
    assert!(again.suppressed.is_empty());
    let ledger = app.db().ledger(&store.store_hash, &number).await.unwrap();
    let erasures = ledger
        .iter()
        .filter(|e| matches!(e.kind, ConsentEventKind::Erasure { .. }))
        .count();
    assert_eq!(erasures, 1);
    assert_eq!(app.db().erasures(&store.store_hash).await.unwrap().len(), 2);

    // The number stays suppressed: a later cart with it gets no reminder.
    let later = cart(
        &store,
        "cart-later",
        Some(&number),
        "US",
        app.clock.now(),
        vec![item("Slippers", 102, 1, 2500)],
    );
    save(&app, &later).await;
    app.clock.advance(Duration::minutes(30));
    sweep_and_send(&app).await;
    assert_eq!(app.sms.messages_to(NY).len(), 1, "no second text");
    let decisions = app.db().cart_decisions(&store.store_hash, "cart-later").await.unwrap();
    assert_eq!(
        decisions.last().map(|d| d.code.as_str()),
        Some("erased"),
        "{decisions:?}"
    );
}

/// Log lines written on this thread (the test's runtime runs the handlers in-process) while it is alive.
#[derive(Clone, Default)]
struct CapturedLogs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for CapturedLogs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl CapturedLogs {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[tokio::test]
async fn a_bigcommerce_error_body_quoting_a_customer_reaches_neither_logs_nor_notices() {
    use integration_tests::install::{set, sms_form};
    use tracing_subscriber::util::SubscriberInitExt;
    let logs = CapturedLogs::default();
    let writer = logs.clone();
    let _capture = tracing_subscriber::fmt()
        .json()
        .with_writer(move || writer.clone())
        .with_max_level(tracing_subscriber::filter::LevelFilter::DEBUG)
        .finish()
        .set_default();
    let app = TestApp::start().await;
    let mut merchant = app.install_app("priv04").await;
    let mut form = sms_form();
    set(&mut form, "consent_option", Some("general_marketing"));
    set(&mut form, "require_consent_confirmed", Some("on"));
    app.bigcommerce.inject_fault(
        sim::bigcommerce::Fault::status(422, "/v3/abandoned-carts/settings").body(serde_json::json!({
            "status": 422,
            "title": format!("Customer {FIRST} {LAST} <{EMAIL}> is invalid"),
            "type": "https://developer.bigcommerce.com/api-docs/getting-started/api-status-codes",
            "errors": { "email": format!("{EMAIL} (212) 201-4567 is already in use") }
        })),
    );

    let page = app.submit(&mut merchant, "/settings", form).await;
    assert_eq!(page.status, reqwest::StatusCode::BAD_GATEWAY, "{}", page.html);
    assert!(page.contains("could not be checked"), "{}", page.html);
    assert!(page.contains("422"), "the status is kept: {}", page.html);
    let logged = logs.text();
    assert!(
        logged.contains("Require Consent could not be read"),
        "the failure is logged"
    );
    for quoted in [FIRST, LAST, EMAIL, "201-4567", "already in use"] {
        assert!(!page.html.contains(quoted), "{quoted} in the notice: {}", page.html);
        assert!(!logged.contains(quoted), "{quoted} in the logs");
    }
    assert!(logged.contains("fields email"), "BigCommerce's code is kept");
}

#[tokio::test]
async fn uninstall_deletes_the_token_at_once_and_purges_all_but_the_proof_after_the_grace_period() {
    use integration_tests::recovery::{LONDON, phone};
    let app = TestApp::start_at(DAYTIME).await;
    let gone = store(&app, "priv05").await;
    let (_, number) = known_customer(&app, &gone).await;
    // A second store uninstalls too, but re-installs within the grace period.
    let back = app.seed_store("priv06", |_| {}).await;
    let london = phone(LONDON);
    give_consent(&app, &back, &london, app.clock.now() - Duration::days(1)).await;
    let basket = cart(
        &back,
        "cart-back",
        Some(&london),
        "GB",
        app.clock.now(),
        vec![item("Tea", 7, 1, 900)],
    );
    save(&app, &basket).await;
    let ledger_before = app.db().ledger(&gone.store_hash, &number).await.unwrap();

    let uninstalled_at = app.clock.now();
    for hash in ["priv05", "priv06"] {
        let page = app.uninstall_app(hash).await;
        assert_eq!(page.status, reqwest::StatusCode::OK, "{}", page.html);
    }
    // At once: the access token is gone, and anything that needs it fails as uninstalled.
    let record = app.db().get_store(&gone.store_hash).await.unwrap().unwrap();
    assert!(!record.is_installed());
    assert!(record.access_token.is_deleted());
    assert_eq!(record.purge_after, Some(uninstalled_at + Duration::days(30)));
    let error = app.install.bigcommerce.store_client(&record).await.unwrap_err();
    assert!(error.to_string().contains("uninstalled"), "{error}");
    assert!(!error.is_retryable());

    app.clock.advance(Duration::days(10));
    let page = app.authorize("priv06", &integration_tests::install::all_scopes()).await;
    assert_eq!(page.status, reqwest::StatusCode::OK, "{}", page.html);
    let reinstalled = app.db().get_store(&back.store_hash).await.unwrap().unwrap();
    assert!(reinstalled.is_installed() && reinstalled.purge_after.is_none());

    // Day 29: nothing is purged yet.
    app.clock.advance(Duration::days(19));
    app.sweep_schedule_kept_up().await;
    let report = app.run_sweep().await;
    assert_eq!(report["stores_purged"], 0, "{report}");
    assert!(app.db().get_contact(&gone.store_hash, &number).await.unwrap().is_some());

    // Day 31: the uninstalled store is purged; the re-installed one keeps everything.
    app.clock.advance(Duration::days(2));
    app.sweep_schedule_kept_up().await;
    let report = app.run_sweep().await;
    assert_eq!(report["stores_purged"], 1, "{report}");
    assert!(app.db().get_store(&gone.store_hash).await.unwrap().is_none());
    assert!(app.db().get_contact(&gone.store_hash, &number).await.unwrap().is_none());
    assert!(app.db().get_store(&back.store_hash).await.unwrap().is_some());
    assert!(
        app.db()
            .get_cart(&back.store_hash, "cart-back")
            .await
            .unwrap()
            .is_some()
    );
    assert!(!app.db().ledger(&back.store_hash, &london).await.unwrap().is_empty());

    // Only the proof is left, each item expiring four years after the last message to the number.
    assert_eq!(app.db().ledger(&gone.store_hash, &number).await.unwrap(), ledger_before);
    let hash = gone.store_hash.as_str();
    let sent = app
        .db()
        .get_send(&gone.store_hash, "cart-erase", 1)
        .await
        .unwrap()
        .unwrap();
    let last_message = sent.sent_at.unwrap();
    let proof_until = (last_message + Duration::days(4 * 365 + 1)).timestamp();
    let mut proof_items = 0;
    for (pk, sk, text) in scan_table(&app).await {
        let lower = text.to_lowercase();
        for needle in [FIRST, LAST, EMAIL, "monogrammed robe"] {
            assert!(
                !lower.contains(&needle.to_lowercase()),
                "{needle} left in {pk} / {sk}: {text}"
            );
        }
        if !text.contains(hash) {
            continue;
        }
        assert!(
            is_kept_after_purge(&gone, &pk, &sk, &text),
            "left after the purge: {pk} / {sk}: {text}"
        );
        if pk.starts_with(&format!("STORE#{hash}#PHONE#")) {
            assert!(text.contains(&format!("N(\"{proof_until}\")")), "{pk} / {sk}: {text}");
            proof_items += 1;
        }
    }
    assert!(proof_items >= 4, "ledger, markers and sent markers kept: {proof_items}");
    // Purged once: later sweeps find nothing to do.
    app.clock.advance(Duration::days(1));
    assert_eq!(app.run_sweep().await["stores_purged"], 0);
}
