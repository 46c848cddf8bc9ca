//! Consent capture at checkout end to end: the script and its text over the HTTP API, the capture endpoint's
//! evidence and refusals, verification against the checkout's billing phone through the sync worker, the
//! US double opt-in request, and a real browser on a page shaped like BigCommerce's one-page checkout.

use chrono::Duration;
use devstack::browser::Browser;
use integration_tests::contact_sync::CheckoutSite;
use integration_tests::{TestApp, TestAppOptions, at};
use shared::checkout_script::{CONSENT_JS, sri_hash, version};
use shared::consent::content::double_opt_in_request;
use shared::consent::{
    Basis, ConsentEvent, ConsentEventKind, ConsentState, Decision, DecisionInput, MessageKind, OptOutMethod, Purpose,
    Reason, Recipient, SentKind, build_disclosure, decide,
};
use shared::messages::SyncMessage;
use shared::model::contact::GUEST_GROUP;
use shared::model::{ConsentOption, ContactSource, Settings};
use shared::{Clock, Phone};
use shopper::consent::{IP_LIMIT, IP_WINDOW_MINUTES};
use sim::bigcommerce::{BillingAddress, CartSeed, ItemSeed};

pub(super) const SHOP: &str = "https://sim-store.example.com";

pub(super) async fn guest_cart(app: &TestApp, hash: &str) -> String {
    app.bigcommerce
        .create_cart(
            hash,
            CartSeed {
                items: vec![ItemSeed::new("Linen Shirt", 1, 48.0)],
                ..CartSeed::default()
            },
        )
        .await
}

fn billing(email: &str, phone: &str, country: &str, state: &str) -> BillingAddress {
    BillingAddress {
        first_name: "Robin".into(),
        last_name: "Park".into(),
        email: email.into(),
        city: "Springfield".into(),
        state_or_province_code: state.into(),
        country_code: country.into(),
        postal_code: "10001".into(),
        phone: phone.into(),
        ..BillingAddress::default()
    }
}

pub(super) async fn disclosure_version(app: &TestApp, hash: &str) -> String {
    let body: serde_json::Value = app
        .http
        .get(app.url(&format!("/consent/disclosure?store={hash}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["version"].as_str().unwrap().to_owned()
}

pub(super) async fn post_capture(app: &TestApp, origin: Option<&str>, body: serde_json::Value) -> reqwest::Response {
    post_capture_from(app, &app.http, origin, body).await
}

/// [`post_capture`] from another client (another source address).
pub(super) async fn post_capture_from(
    app: &TestApp,
    client: &reqwest::Client,
    origin: Option<&str>,
    body: serde_json::Value,
) -> reqwest::Response {
    let mut request = client
        .post(app.url("/consent?store=x"))
        .header("content-type", "text/plain;charset=UTF-8")
        .header("user-agent", "Mozilla/5.0 (Macintosh) Safari/605.1.15")
        .body(body.to_string());
    if let Some(origin) = origin {
        request = request.header("origin", origin);
    }
    request.send().await.unwrap()
}

pub(super) fn capture(
    hash: &str,
    cart_id: &str,
    phone: &str,
    country: &str,
    checked: bool,
    version: &str,
) -> serde_json::Value {
    serde_json::json!({
        "store": hash,
        "cart_id": cart_id,
        "phone": phone,
        "country": country,
        "checked": checked,
        "page_url": format!("{SHOP}/checkout?step=billing"),
        "disclosure_version": version,
    })
}

fn reminder(
    settings: &Settings,
    ledger: &[ConsentEvent],
    phone: &Phone,
    now: chrono::DateTime<chrono::Utc>,
) -> Decision {
    decide(&DecisionInput {
        settings,
        ledger,
        message: &MessageKind::CartReminder {
            cart_id: "cart".into(),
            step: 1,
            abandoned_at: now - Duration::hours(1),
        },
        sends: &[],
        recipient: &Recipient::resolve(phone, &[]),
        now,
    })
}

#[tokio::test]
async fn the_script_and_its_text_are_served_as_the_scripts_api_pins_them() {
    let app = TestApp::start().await;
    let seeded = app.seed_store("script1", |_| {}).await;
    let url = app.url(&format!("/consent.js?store=script1&v={}", version()));
    let response = app.http.get(&url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "application/javascript; charset=utf-8");
    assert_eq!(headers["access-control-allow-origin"], "*", "SRI needs a CORS response");
    assert_eq!(headers["cache-control"], "public, max-age=31536000, immutable");
    let etag = headers["etag"].to_str().unwrap().to_owned();
    let body = response.bytes().await.unwrap();
    assert_eq!(body, CONSENT_JS.as_bytes());
    // `sri_hash()` is the digest of these bytes (unit-tested); the browser test has Chromium check it.
    let again = app.http.get(&url).header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(again.status(), 304);
    let unversioned = app.http.get(app.url("/consent.js?store=script1")).send().await.unwrap();
    assert_eq!(unversioned.headers()["cache-control"], "public, max-age=300");
    assert_eq!(
        app.http
            .get(app.url("/consent.js?store=NOT!"))
            .send()
            .await
            .unwrap()
            .status(),
        400
    );

    let text: serde_json::Value = app
        .http
        .get(app.url("/consent/disclosure?store=script1"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(text["version"].as_str(), seeded.settings.disclosure_version.as_deref());
    let html = text["html"].as_str().unwrap();
    assert!(html.contains("Acme Outfitters") && html.contains("href=\"https://acme.example.com/terms\""));
    // Stores on another option show no checkbox.
    app.seed_store("script2", |s| {
        s.consent_option = ConsentOption::Inferred;
        s.inferred_acknowledged = true;
    })
    .await;
    let none = app
        .http
        .get(app.url("/consent/disclosure?store=script2"))
        .send()
        .await
        .unwrap();
    assert_eq!(none.status(), 404);
}

#[tokio::test]
async fn a_tick_records_complete_evidence_and_counts_once_the_billing_phone_matches() {
    let app = TestApp::start().await;
    let hash = "capt01";
    let seeded = app.seed_store(hash, |_| {}).await;
    let store = &seeded.store_hash;
    let cart_id = guest_cart(&app, hash).await;
    app.drain_sync().await;
    let version = disclosure_version(&app, hash).await;

    let response = post_capture(
        &app,
        Some(SHOP),
        capture(hash, &cart_id, "0412 345 678", "AU", true, &version),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["access-control-allow-origin"], SHOP);
    let au = Phone::parse("+61412345678", None).unwrap();
    let ledger = app.db().ledger(store, &au).await.unwrap();
    assert_eq!(ledger.len(), 1);
    let disclosure = build_disclosure(
        "Acme Outfitters",
        "https://acme.example.com/terms",
        "https://acme.example.com/privacy",
    )
    .unwrap();
    match &ledger[0].kind {
        ConsentEventKind::CheckoutCheckbox {
            disclosure_version,
            disclosure_text,
            checkbox_default_checked,
            ip,
            user_agent,
            page_url,
            cart_id: ticked_cart,
        } => {
            assert_eq!(disclosure_version, &disclosure.version);
            assert_eq!(disclosure_text, &disclosure.text, "the server's own text");
            assert!(!checkbox_default_checked);
            assert_eq!(ip, "127.0.0.1");
            assert_eq!(user_agent, "Mozilla/5.0 (Macintosh) Safari/605.1.15");
            assert_eq!(page_url.as_deref(), Some("https://sim-store.example.com/checkout"));
            assert_eq!(ticked_cart.as_deref(), Some(cart_id.as_str()));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(ledger[0].occurred_at, app.clock.now());

    // The verification check finds no billing phone yet: the tick authorises nothing.
    app.drain_sync().await;
    let ledger = app.db().ledger(store, &au).await.unwrap();
    assert_eq!(ledger.len(), 1);
    let settings = seeded.settings.clone();
    assert!(matches!(
        reminder(&settings, &ledger, &au, app.clock.now()),
        Decision::Deny {
            reason: Reason::CheckboxNotVerified,
            ..
        }
    ));
    let cart = app.db().get_cart(store, &cart_id).await.unwrap().unwrap();
    assert_eq!(cart.phone, None, "a ticked number is never the cart's number");

    // The shopper fills in the billing address with that number: the cart event verifies the tick.
    app.bigcommerce
        .set_billing_address(
            hash,
            &cart_id,
            billing("robin@example.com", "+61 412 345 678", "AU", "NSW"),
        )
        .await;
    app.drain_sync().await;
    let ledger = app.db().ledger(store, &au).await.unwrap();
    let checkbox_id = ledger
        .iter()
        .find(|e| matches!(e.kind, ConsentEventKind::CheckoutCheckbox { .. }))
        .unwrap()
        .event_id
        .clone();
    assert!(ledger.iter().any(|e| matches!(&e.kind,
        ConsentEventKind::CheckoutPhoneVerified { checkbox_event_id, cart_id: c } if *checkbox_event_id == checkbox_id && *c == cart_id)));
    let state = ConsentState::fold(&ledger, Purpose::Marketing);
    assert_eq!(state.grants.len(), 1);
    assert_eq!(state.grants[0].basis, Basis::CheckboxVerified);
    let contact = app.db().get_contact(store, &au).await.unwrap().unwrap();
    assert_eq!(contact.source, ContactSource::CheckoutConsent);
    assert_eq!(contact.groups, vec![GUEST_GROUP.to_owned()]);
    assert_eq!(contact.email.as_deref(), Some("robin@example.com"));
    // Another cart event verifies nothing twice.
    app.bigcommerce
        .add_cart_item(hash, &cart_id, ItemSeed::new("Socks", 2, 6.0))
        .await;
    app.drain_sync().await;
    assert_eq!(app.db().ledger(store, &au).await.unwrap().len(), ledger.len());

    // Unticking after ticking withdraws it.
    let untick = post_capture(
        &app,
        Some(SHOP),
        capture(hash, &cart_id, "0412 345 678", "AU", false, &version),
    )
    .await;
    assert_eq!(untick.status(), 200);
    let ledger = app.db().ledger(store, &au).await.unwrap();
    assert!(
        ledger
            .iter()
            .any(|e| e.kind == ConsentEventKind::OptOut(OptOutMethod::CheckboxUnticked))
    );
    assert!(ConsentState::fold(&ledger, Purpose::Marketing).grants.is_empty());
}

#[tokio::test]
async fn a_tick_for_someone_elses_number_is_never_verified() {
    let app = TestApp::start().await;
    let hash = "capt02";
    let seeded = app.seed_store(hash, |_| {}).await;
    let cart_id = guest_cart(&app, hash).await;
    app.bigcommerce
        .set_billing_address(hash, &cart_id, billing("sam@example.com", "0412 999 888", "AU", "NSW"))
        .await;
    let version = disclosure_version(&app, hash).await;
    // Someone types another person's number into the box.
    let response = post_capture(
        &app,
        Some(SHOP),
        capture(hash, &cart_id, "0412 345 678", "AU", true, &version),
    )
    .await;
    assert_eq!(response.status(), 200);
    app.drain_sync().await;
    let order_id = app.bigcommerce.place_order(hash, &cart_id, 11).await;
    app.drain_sync().await;
    assert!(app.bigcommerce.order(hash, order_id).is_some());
    let victim = Phone::parse("+61412345678", None).unwrap();
    let ledger = app.db().ledger(&seeded.store_hash, &victim).await.unwrap();
    assert_eq!(ledger.len(), 1, "the tick only: never verified");
    assert!(matches!(
        reminder(&seeded.settings, &ledger, &victim, app.clock.now()),
        Decision::Deny {
            reason: Reason::CheckboxNotVerified,
            ..
        }
    ));
    assert_eq!(app.db().get_contact(&seeded.store_hash, &victim).await.unwrap(), None);
}

#[tokio::test]
async fn us_numbers_get_one_double_opt_in_request_inside_their_send_window() {
    // 13:00 in New York.
    let app = TestApp::start_with(TestAppOptions {
        start: at("2026-03-03T18:00:00Z"),
        ..TestAppOptions::default()
    })
    .await;
    let hash = "doi001";
    let seeded = app
        .seed_store(hash, |s| s.sender_id = Some("+12125550100".into()))
        .await;
    app.approve_sender(&seeded, shared::model::SenderSharing::Exclusive)
        .await;
    let store = &seeded.store_hash;
    let version = disclosure_version(&app, hash).await;
    let cart_id = guest_cart(&app, hash).await;
    app.bigcommerce
        .set_billing_address(hash, &cart_id, billing("lee@example.com", "(212) 201-4567", "US", "NY"))
        .await;
    app.drain_sync().await;
    let response = post_capture(
        &app,
        Some(SHOP),
        capture(hash, &cart_id, "212-201-4567", "US", true, &version),
    )
    .await;
    assert_eq!(response.status(), 200);
    app.drain_sync().await;

    let us = Phone::parse("+12122014567", None).unwrap();
    let sent = app.sms.messages_to(us.as_e164());
    assert_eq!(sent.len(), 1, "one double opt-in request");
    assert_eq!(sent[0].content, double_opt_in_request(&seeded.settings));
    assert_eq!(sent[0].from.as_deref(), Some("+12125550100"));
    assert_eq!(sent[0].metadata.get("store_hash").map(String::as_str), Some(hash));
    let snapshot = app.db().phone_snapshot(store, &us).await.unwrap();
    // Recorded in the same instant of the test's clock: their order in the ledger is not theirs to keep.
    let kinds: Vec<&ConsentEventKind> = snapshot.ledger.iter().map(|e| &e.kind).collect();
    assert_eq!(kinds.len(), 3);
    assert!(
        kinds
            .iter()
            .any(|k| matches!(k, ConsentEventKind::CheckoutCheckbox { .. }))
    );
    assert!(
        kinds
            .iter()
            .any(|k| matches!(k, ConsentEventKind::CheckoutPhoneVerified { .. }))
    );
    assert!(kinds.iter().any(|k| matches!(k,
        ConsentEventKind::DoubleOptInRequested { message_id, text }
            if message_id.as_deref() == Some(sent[0].id.as_str()) && *text == sent[0].content)));
    assert_eq!(
        snapshot.sends.iter().map(|s| &s.kind).collect::<Vec<_>>(),
        vec![&SentKind::DoubleOptInRequest]
    );
    // Until they answer YES, no cart reminder may go.
    assert!(matches!(
        reminder(&seeded.settings, &snapshot.ledger, &us, app.clock.now()),
        Decision::Deny {
            reason: Reason::DoubleOptInPending,
            ..
        }
    ));
    // Later checks and events never send it again.
    for attempt in [1, 2] {
        app.sync
            .aws
            .sync_queue
            .send(&SyncMessage::CheckoutConsent {
                store_hash: store.clone(),
                cart_id: cart_id.clone(),
                phone: us.clone(),
                attempt,
            })
            .await
            .unwrap();
    }
    app.bigcommerce.place_order(hash, &cart_id, 11).await;
    app.drain_sync().await;
    assert_eq!(app.sms.messages_to(us.as_e164()).len(), 1);
    assert!(app.sms.duplicate_idempotency_keys().is_empty());

    // At 02:00 in New York the request waits for the morning.
    app.clock.set(at("2026-03-04T07:00:00Z"));
    let night_cart = guest_cart(&app, hash).await;
    app.bigcommerce
        .set_billing_address(
            hash,
            &night_cart,
            billing("max@example.com", "(212) 201-4599", "US", "NY"),
        )
        .await;
    let night = Phone::parse("+12122014599", None).unwrap();
    post_capture(
        &app,
        Some(SHOP),
        capture(hash, &night_cart, "(212) 201-4599", "US", true, &version),
    )
    .await;
    app.drain_sync().await;
    assert!(
        app.sms.messages_to(night.as_e164()).is_empty(),
        "not during quiet hours"
    );
    let ledger = app.db().ledger(store, &night).await.unwrap();
    assert!(
        ledger
            .iter()
            .any(|e| matches!(e.kind, ConsentEventKind::CheckoutPhoneVerified { .. }))
    );
    // The delayed check comes back after 08:00 there.
    app.clock.set(at("2026-03-04T13:05:00Z"));
    app.sync
        .aws
        .sync_queue
        .send(&SyncMessage::CheckoutConsent {
            store_hash: store.clone(),
            cart_id: night_cart.clone(),
            phone: night.clone(),
            attempt: 1,
        })
        .await
        .unwrap();
    app.drain_sync().await;
    assert_eq!(app.sms.messages_to(night.as_e164()).len(), 1);
}

/// The provider takes the double opt-in request but answers after the app gave up waiting: the request may be
/// on its way, so no check sends it again (the person would get two). One the provider refused (503) is sent
/// by the check that follows.
#[tokio::test]
async fn a_double_opt_in_request_the_provider_did_not_answer_in_time_is_not_sent_again() {
    let app = TestApp::start_with(TestAppOptions {
        // 13:00 in New York.
        start: at("2026-03-03T18:00:00Z"),
        sms_timeout: std::time::Duration::from_millis(300),
        ..TestAppOptions::default()
    })
    .await;
    let hash = "doi002";
    let seeded = app
        .seed_store(hash, |s| s.sender_id = Some("+12125550100".into()))
        .await;
    app.approve_sender(&seeded, shared::model::SenderSharing::Exclusive)
        .await;
    let version = disclosure_version(&app, hash).await;
    for (number, fault) in [("(212) 201-4568", "no answer in time"), ("(212) 201-4569", "503")] {
        let cart_id = guest_cart(&app, hash).await;
        app.bigcommerce
            .set_billing_address(hash, &cart_id, billing("lee@example.com", number, "US", "NY"))
            .await;
        app.drain_sync().await;
        match fault {
            "503" => app.sms.fail_next(1, 503),
            _ => app.sms.delay_next(1, std::time::Duration::from_secs(2)),
        }
        let response = post_capture(&app, Some(SHOP), capture(hash, &cart_id, number, "US", true, &version)).await;
        assert_eq!(response.status(), 200);
        app.drain_sync().await;

        let phone = Phone::parse(number, Some("US")).unwrap();
        let requested = app.sms.messages_to(phone.as_e164()).len();
        if fault == "503" {
            assert_eq!(requested, 0, "{fault}: the provider took nothing");
            assert_eq!(
                app.sync_queue.delayed().await.unwrap(),
                1,
                "{fault}: a check follows to send it"
            );
        } else {
            assert_eq!(requested, 1, "{fault}: the provider took the request");
            assert_eq!(
                app.sync_queue.delayed().await.unwrap(),
                0,
                "{fault}: no check waits to send it again"
            );
        }
    }
}

#[tokio::test]
async fn refused_captures_change_nothing() {
    let app = TestApp::start().await;
    let hash = "capt03";
    let seeded = app.seed_store(hash, |_| {}).await;
    app.seed_store("gmopt1", |s| {
        s.consent_option = ConsentOption::GeneralMarketing;
        s.require_consent_confirmed = true;
    })
    .await;
    let cart_id = guest_cart(&app, hash).await;
    app.drain_sync().await;
    let version = disclosure_version(&app, hash).await;
    let good = || capture(hash, &cart_id, "0412 345 678", "AU", true, &version);
    let mut bad_version = good();
    bad_version["disclosure_version"] = "deadbeefdeadbeef".into();
    let mut other_store = good();
    other_store["store"] = "gmopt1".into();
    let mut unknown = good();
    unknown["store"] = "nosuchstore".into();
    let mut landline = good();
    landline["phone"] = "(02) 9374 4000".into();

    let cases: Vec<(&str, Option<&str>, String, u16)> = vec![
        (
            "foreign origin",
            Some("https://evil.example.net"),
            good().to_string(),
            403,
        ),
        ("no origin", None, good().to_string(), 403),
        ("unknown store", Some(SHOP), unknown.to_string(), 404),
        ("another option", Some(SHOP), other_store.to_string(), 409),
        ("text changed", Some(SHOP), bad_version.to_string(), 409),
        ("landline", Some(SHOP), landline.to_string(), 422),
        ("malformed", Some(SHOP), "{\"store\":".into(), 400),
        (
            "oversized",
            Some(SHOP),
            format!("{{\"pad\":\"{}\"}}", "x".repeat(5000)),
            413,
        ),
    ];
    for (name, origin, body, status) in cases {
        let mut request = app
            .http
            .post(app.url("/consent"))
            .header("content-type", "text/plain")
            .body(body);
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{name}");
        if status == 403 {
            assert!(
                response.headers().get("access-control-allow-origin").is_none(),
                "{name}"
            );
        }
    }
    // An untick with no tick in this checkout withdraws nothing that was not given here.
    let untick = post_capture(
        &app,
        Some(SHOP),
        capture(hash, &cart_id, "0412 345 678", "AU", false, &version),
    )
    .await;
    assert_eq!(untick.json::<serde_json::Value>().await.unwrap()["recorded"], false);
    let au = Phone::parse("+61412345678", None).unwrap();
    assert!(app.db().ledger(&seeded.store_hash, &au).await.unwrap().is_empty());
    assert_eq!(app.sync_queue.depth().await.unwrap(), 0, "nothing queued");

    // The preflight answers the store's domains only.
    let preflight = |origin: &'static str| {
        app.http
            .request(reqwest::Method::OPTIONS, app.url(&format!("/consent?store={hash}")))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .send()
    };
    let allowed = preflight(SHOP).await.unwrap();
    assert_eq!(allowed.status(), 204);
    assert_eq!(allowed.headers()["access-control-allow-origin"], SHOP);
    assert_eq!(allowed.headers()["access-control-allow-methods"], "POST");
    let refused = preflight("https://evil.example.net").await.unwrap();
    assert!(refused.headers().get("access-control-allow-origin").is_none());

    // Per-IP limit: 30 captures in ten minutes (three were counted above: the changed text, the landline and
    // the untick).
    for _ in 0..27 {
        let response = post_capture(
            &app,
            Some(SHOP),
            capture(hash, &cart_id, "0412 345 678", "AU", false, &version),
        )
        .await;
        assert_eq!(response.status(), 200);
    }
    let limited = post_capture(&app, Some(SHOP), good()).await;
    assert_eq!(limited.status(), 429);
    assert!(app.db().ledger(&seeded.store_hash, &au).await.unwrap().is_empty());
}

/// A page like Optimized One-Page Checkout that loads the consent script as the Scripts API does (SRI-pinned);
/// `head` is more markup before it.
fn one_page_checkout(app: &TestApp, hash: &str, head: &str) -> String {
    let script = format!(
        r#"<script src="{app}/consent.js?store={hash}&v={v}" integrity="{sri}" crossorigin="anonymous" defer></script>"#,
        app = app.url(""),
        v = version(),
        sri = sri_hash(),
    );
    // Like Optimized One-Page Checkout: the app renders the address form (and its phone field) only after
    // the customer step.
    format!(
        r#"<!doctype html><html><head><title>Checkout</title>{head}</head><body>
<div id="checkout-app"><h1>Checkout</h1><div class="checkout-step customer">Customer: guest</div></div>
<script>
setTimeout(function () {{
  var step = document.createElement('div');
  step.className = 'checkout-step shipping';
  step.innerHTML = '<fieldset class="form-fieldset"><div class="dynamic-form-field form-field">' +
    '<label for="countryCodeInput">Country</label><select id="countryCodeInput" name="countryCode">' +
    '<option value="US" selected>United States</option></select></div>' +
    '<div class="dynamic-form-field form-field"><label for="phoneInput">Phone</label>' +
    '<input id="phoneInput" name="phone" type="tel" autocomplete="tel"></div></fieldset>' +
    '<button id="checkout-shipping-continue" type="button">Continue</button>';
  document.getElementById('checkout-app').appendChild(step);
}}, 1500);
</script>
{script}
</body></html>"#
    )
}

#[tokio::test]
async fn a_browser_on_a_one_page_checkout_ticks_the_box_and_the_ledger_records_it() {
    let app = TestApp::start().await;
    let hash = "browse1";
    let seeded = app.seed_store(hash, |_| {}).await;
    let cart_id = guest_cart(&app, hash).await;
    let page = one_page_checkout(&app, hash, "");
    let site = CheckoutSite::start(page, cart_id.clone()).await;
    app.bigcommerce
        .set_store_info(hash, |info| info.domain = site.host().to_owned());

    let browser = Browser::launch().await.expect("Chromium starts");
    browser.navigate(&format!("{}/checkout", site.origin)).await.unwrap();
    assert_eq!(
        browser
            .eval("document.querySelector('#phoneInput') !== null || document.querySelector('#sms-consent-checkbox') === null")
            .await
            .unwrap(),
        true,
        "no box without a phone field"
    );
    browser
        .wait_for(
            "document.querySelector('#sms-consent-checkbox') !== null",
            std::time::Duration::from_secs(20),
        )
        .await
        .expect("the box appears under the phone field");
    assert_eq!(
        browser
            .eval("document.querySelector('#sms-consent-checkbox').checked")
            .await
            .unwrap(),
        false,
        "the box starts unticked"
    );
    assert_eq!(
        browser
            .eval("document.querySelector('#phoneInput').closest('.form-field').nextElementSibling.hasAttribute('data-sms-consent')")
            .await
            .unwrap(),
        true,
        "the box sits right under the phone field"
    );
    let text = browser
        .eval("document.querySelector('[data-sms-consent]').innerText")
        .await
        .unwrap();
    assert!(text.as_str().unwrap().contains("Acme Outfitters"), "{text}");
    assert_eq!(
        browser
            .eval("document.querySelector('[data-sms-consent] a[href=\"https://acme.example.com/privacy\"]') !== null")
            .await
            .unwrap(),
        true
    );
    browser
        .eval(
            "(() => { const p = document.querySelector('#phoneInput'); p.value = '(212) 201-4567'; \
             p.dispatchEvent(new Event('change', { bubbles: true })); \
             document.querySelector('#sms-consent-checkbox').click(); return true; })()",
        )
        .await
        .unwrap();
    let screenshot =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-output/consent-checkbox.png");
    browser.screenshot(&screenshot).await.unwrap();

    let phone = Phone::parse("+12122014567", None).unwrap();
    let mut ledger = Vec::new();
    for _ in 0..100 {
        ledger = app.db().ledger(&seeded.store_hash, &phone).await.unwrap();
        if !ledger.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(ledger.len(), 1, "the tick reached the ledger");
    match &ledger[0].kind {
        ConsentEventKind::CheckoutCheckbox {
            checkbox_default_checked,
            user_agent,
            page_url,
            cart_id: ticked_cart,
            disclosure_version,
            ..
        } => {
            assert!(!checkbox_default_checked);
            assert!(
                user_agent.contains("HeadlessChrome") || user_agent.contains("Chrome"),
                "{user_agent}"
            );
            assert_eq!(page_url.as_deref(), Some(format!("{}/checkout", site.origin).as_str()));
            assert_eq!(ticked_cart.as_deref(), Some(cart_id.as_str()));
            assert_eq!(Some(disclosure_version), seeded.settings.disclosure_version.as_ref());
        }
        other => panic!("{other:?}"),
    }
}

/// Posts unticks from the test's own address (the browser's too) until the address is refused.
async fn exhaust_address(app: &TestApp, origin: &str, hash: &str, cart_id: &str, version: &str) {
    for _ in 0..=IP_LIMIT {
        let untick = capture(hash, cart_id, "0412 000 111", "AU", false, version);
        if post_capture(app, Some(origin), untick).await.status() == 429 {
            return;
        }
    }
    panic!("the address was never refused");
}

/// The number's ledger once it holds `len` events (the browser posts on its own time).
async fn ledger_of_len(app: &TestApp, store: &shared::StoreHash, phone: &Phone, len: usize) -> Vec<ConsentEvent> {
    let mut ledger = Vec::new();
    for _ in 0..200 {
        ledger = app.db().ledger(store, phone).await.unwrap();
        if ledger.len() >= len {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(ledger.len(), len, "{ledger:?}");
    ledger
}

#[tokio::test]
async fn a_refused_tick_is_retried_and_otherwise_the_box_says_it_was_not_saved() {
    let app = TestApp::start().await;
    let hash = "browse2";
    let seeded = app.seed_store(hash, |_| {}).await;
    let store = &seeded.store_hash;
    let cart_id = guest_cart(&app, hash).await;
    let version = disclosure_version(&app, hash).await;
    // Notes the status of every post the page makes (0: no answer); the posts themselves go through.
    let spy = r#"<script>
window.__posts = [];
(function () {
  var realFetch = window.fetch;
  window.fetch = function (url, options) {
    var answer = realFetch.apply(this, arguments);
    if (options && options.method === 'POST') {
      answer.then(function (r) { window.__posts.push(r.status); }, function () { window.__posts.push(0); });
    }
    return answer;
  };
})();
</script>"#;
    let site = CheckoutSite::start(one_page_checkout(&app, hash, spy), cart_id.clone()).await;
    app.bigcommerce
        .set_store_info(hash, |info| info.domain = site.host().to_owned());
    let browser = Browser::launch().await.expect("Chromium starts");
    browser.navigate(&format!("{}/checkout", site.origin)).await.unwrap();
    browser
        .wait_for(
            "document.querySelector('#sms-consent-checkbox') !== null",
            std::time::Duration::from_secs(20),
        )
        .await
        .expect("the box appears under the phone field");
    let error_note =
        "(() => { const n = document.querySelector('[data-sms-consent-error]'); return n ? n.textContent : null; })()";

    // The browser's address has used its captures for this window: the tick is refused, then retried, and
    // the retry lands in the next window.
    exhaust_address(&app, &site.origin, hash, &cart_id, &version).await;
    browser
        .eval(
            "(() => { const p = document.querySelector('#phoneInput'); p.value = '(212) 201-4567'; \
             p.dispatchEvent(new Event('change', { bubbles: true })); \
             document.querySelector('#sms-consent-checkbox').click(); return true; })()",
        )
        .await
        .unwrap();
    browser
        .wait_for("window.__posts.length >= 1", std::time::Duration::from_secs(20))
        .await
        .expect("the tick is posted");
    assert_eq!(browser.eval("window.__posts[0]").await.unwrap(), 429);
    app.clock.advance(Duration::minutes(IP_WINDOW_MINUTES));
    let lee = Phone::parse("+12122014567", None).unwrap();
    let ledger = ledger_of_len(&app, store, &lee, 1).await;
    assert!(matches!(&ledger[0].kind, ConsentEventKind::CheckoutCheckbox { cart_id: Some(c), .. } if *c == cart_id));
    // The ledger is written before the answer reaches the browser: wait for the page to see it.
    browser
        .wait_for(
            "window.__posts[window.__posts.length - 1] === 200",
            std::time::Duration::from_secs(20),
        )
        .await
        .expect("the retry is answered 200");
    assert_eq!(browser.eval(error_note).await.unwrap(), serde_json::Value::Null);
    assert_eq!(
        browser
            .eval("document.querySelector('#sms-consent-checkbox').checked")
            .await
            .unwrap(),
        true
    );

    // Refused for the whole window: the tick for a corrected number is retried, then the box is unticked and
    // says it was not saved.
    exhaust_address(&app, &site.origin, hash, &cart_id, &version).await;
    let posts_before = browser.eval("window.__posts.length").await.unwrap().as_u64().unwrap();
    browser
        .eval(
            "(() => { const p = document.querySelector('#phoneInput'); p.value = '(212) 201-4599'; \
             p.dispatchEvent(new Event('change', { bubbles: true })); return true; })()",
        )
        .await
        .unwrap();
    browser
        .wait_for(
            "document.querySelector('[data-sms-consent-error]') !== null",
            std::time::Duration::from_secs(30),
        )
        .await
        .expect("the box says the choice was not saved");
    assert_eq!(
        browser.eval(error_note).await.unwrap(),
        "We couldn't save your choice, please tick again."
    );
    assert_eq!(
        browser
            .eval("document.querySelector('#sms-consent-checkbox').checked")
            .await
            .unwrap(),
        false
    );
    let statuses = browser
        .eval(&format!("window.__posts.slice({posts_before})"))
        .await
        .unwrap();
    assert_eq!(
        statuses,
        serde_json::json!([429, 429, 429, 429]),
        "one post and three retries"
    );
    let corrected = Phone::parse("+12122014599", None).unwrap();
    assert!(app.db().ledger(store, &corrected).await.unwrap().is_empty());

    // Ticked again once the window has passed: saved, and the note goes.
    app.clock.advance(Duration::minutes(IP_WINDOW_MINUTES));
    browser
        .eval("document.querySelector('#sms-consent-checkbox').click()")
        .await
        .unwrap();
    ledger_of_len(&app, store, &corrected, 1).await;
    browser
        .wait_for(
            "document.querySelector('[data-sms-consent-error]') === null",
            std::time::Duration::from_secs(20),
        )
        .await
        .expect("the note goes once the choice is saved");
}
