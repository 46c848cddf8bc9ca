//! Requests from people, answered from the settings page over HTTP (and in a real browser): look a person up
//! by number or email, export everything held, print the consent evidence, erase; and one store can never
//! reach another store's person.
//!
//! The person's data is made by the real flows where they exist: consent appended as capture and replies record
//! it, a reminder sent by the sweep and the send function through the SMS sandbox.

use crate::install_browser::{output_dir, set_value, submit, text};
use chrono::Duration;
use devstack::browser::Browser;
use integration_tests::install::Merchant;
use integration_tests::recovery::{NY, cart, give_consent, item, opt_out, phone, save, sweep_and_send};
use integration_tests::{SeededStore, TestApp, at};
use reqwest::StatusCode;
use serde_json::Value;
use shared::Clock;
use shared::consent::ConsentEventKind;
use shared::contacts::SubscriberRecord;
use shared::db::ErasureCause;
use shared::pages::Render;

/// Tuesday 4 November 2025, 14:00 UTC: 09:00 in New York.
const DAYTIME: &str = "2025-11-04T14:00:00Z";

/// Text as the pages' templates write it.
fn escape_html(text: &str) -> String {
    text.render().into_string()
}

fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

/// A New York shopper at `hash`: a contact (with an email), a newsletter record, a verified checkbox with the
/// double opt-in, and an abandoned cart whose first reminder is due in 30 minutes. Returns the store and the
/// ledger entry that authorises reminders.
async fn shopper_at(app: &TestApp, hash: &str, cart_id: &str) -> (SeededStore, String) {
    let store = app.seed_store(hash, |_| {}).await;
    let ny = phone(NY);
    app.put_contact(&store.store_hash, &ny, Some(42)).await;
    app.db()
        .put_subscribers(
            &store.store_hash,
            &[SubscriberRecord {
                subscriber_id: 7,
                email: "jane.doe@example.com".into(),
                consents: vec!["marketing_newsletter".into()],
                modified_at: at(DAYTIME) - Duration::days(3),
            }],
        )
        .await
        .unwrap();
    let authorising = give_consent(app, &store, &ny, at(DAYTIME) - Duration::days(1)).await;
    let items = vec![item("Blue Mug", 101, 2, 1250)];
    save(app, &cart(&store, cart_id, Some(&ny), "US", at(DAYTIME), items)).await;
    (store, authorising)
}

/// Sends every reminder due 30 minutes from now.
async fn send_first_reminders(app: &TestApp) {
    app.clock.advance(Duration::minutes(30));
    let (_, outcome) = sweep_and_send(app).await;
    assert_eq!(outcome.failed, 0);
}

/// Posts a settings action from the merchant's page and returns the raw response (headers and body).
async fn post_raw(app: &TestApp, merchant: &Merchant, action: &str, person: &str) -> reqwest::Response {
    let fields = form(&[("csrf", &merchant.page.csrf()), ("person", person)]);
    app.http
        .post(app.url(&format!("/settings/{action}")))
        .header(reqwest::header::COOKIE, &merchant.cookie)
        .form(&fields)
        .send()
        .await
        .unwrap()
}

async fn export(app: &TestApp, merchant: &Merchant, person: &str) -> (String, Value) {
    let response = post_raw(app, merchant, "privacy-export", person).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/json");
    let disposition = response.headers()["content-disposition"].to_str().unwrap().to_owned();
    assert!(
        disposition.starts_with("attachment; filename=\"person-"),
        "{disposition}"
    );
    assert!(
        !disposition.contains("2122014567"),
        "no number in the file name: {disposition}"
    );
    let body = response.text().await.unwrap();
    let json = serde_json::from_str(&body).unwrap();
    (body, json)
}

#[tokio::test]
async fn a_merchant_looks_a_person_up_exports_their_data_and_prints_their_consent_evidence() {
    let app = TestApp::start_at(DAYTIME).await;
    let (store, authorising) = shopper_at(&app, "prv001", "cart-1").await;
    send_first_reminders(&app).await;
    let sms = app.sms.messages().pop().expect("the reminder was sent");
    let ny = phone(NY);
    opt_out(&app, &store, &ny, app.clock.now() + Duration::hours(1)).await;
    app.clock.advance(Duration::hours(2));
    let mut merchant = app.open_app("prv001", None).await;
    assert!(
        merchant.page.contains("id=\"requests\""),
        "the settings page offers the lookup"
    );

    // By number: the state and the whole ledger in sentences.
    let page = app
        .submit(
            &mut merchant,
            "/settings/privacy-lookup",
            form(&[("person", "+1 212 201 4567")]),
        )
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    for sentence in [
        "Unsubscribed since 2025-11-04 15:30:00 UTC",
        "Ticked the SMS checkbox at checkout (disclosure version",
        "from IP address 203.0.113.7",
        "The number was verified as the billing phone of checkout checkout, so the checkbox tick counts.",
        "We texted a double opt-in request.",
        "Replied &quot;YES&quot; to confirm the double opt-in request.",
        "Opted out (replied &quot;STOP&quot;).",
        "Contact: Jane Doe, jane.doe@example.com, customer 42.",
        "1 message sent (1 cart reminder), 1 cart, 0 replies received.",
        "jane.doe@example.com is a newsletter subscriber (BigCommerce id 7), subscribed",
    ] {
        assert!(page.contains(sentence), "{sentence:?} in {}", page.html);
    }

    // By email (as typed, any case): the same person, found through their contact.
    let by_email = app
        .submit(
            &mut merchant,
            "/settings/privacy-lookup",
            form(&[("person", " Jane.Doe@Example.COM ")]),
        )
        .await;
    assert_eq!(by_email.status, StatusCode::OK);
    assert!(by_email.contains("data-phone=\"+12122014567\""), "{}", by_email.html);
    assert!(by_email.contains("Opted out (replied &quot;STOP&quot;)."));

    // Nobody by that number; a number that is not one.
    let nobody = app
        .submit(
            &mut merchant,
            "/settings/privacy-lookup",
            form(&[("person", "+12122019999")]),
        )
        .await;
    assert!(nobody.contains("id=\"nothing-held\""), "{}", nobody.html);
    let invalid = app
        .submit(&mut merchant, "/settings/privacy-lookup", form(&[("person", "12")]))
        .await;
    assert_eq!(invalid.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        invalid.contains("That is not a valid mobile number"),
        "{}",
        invalid.html
    );

    // Export: everything held, as a file, without the recovery link's token.
    let (body, json) = export(&app, &merchant, NY).await;
    assert_eq!(json["store_hash"], "prv001");
    let held = &json["phones"][0];
    assert_eq!(held["phone"], NY);
    assert_eq!(held["contact"]["email"], "jane.doe@example.com");
    let kinds: Vec<&str> = held["ledger"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"]["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "checkout_checkbox",
            "checkout_phone_verified",
            "double_opt_in_requested",
            "double_opt_in_confirmed",
            "opt_out"
        ]
    );
    let cart = &held["carts"][0];
    assert_eq!(cart["cart"]["cart_id"], "cart-1");
    assert_eq!(cart["sends"][0]["body"], sms.content.as_str());
    assert_eq!(cart["sends"][0]["ledger_event_id"], authorising.as_str());
    assert_eq!(cart["decisions"][0]["outcome"], "allow");
    assert_eq!(
        held["messages"].as_array().unwrap().len(),
        1,
        "the reminder's sent marker"
    );
    assert_eq!(json["subscribers"][0]["email"], "jane.doe@example.com");
    let token = integration_tests::recovery::link_token(&sms.content);
    assert!(!body.contains("link_token"));
    assert!(
        !body.contains(&format!("\"{token}\"")),
        "the link token is not a field of the export"
    );

    // The evidence page: for the consent, the exact disclosure, where, when, from which browser, the checkout,
    // the double opt-in exchange, and the reminder sent under it with the decision that allowed it.
    let evidence = app
        .submit(&mut merchant, "/settings/privacy-evidence", form(&[("person", NY)]))
        .await;
    assert_eq!(evidence.status, StatusCode::OK);
    let disclosure = store.settings.disclosure().unwrap().unwrap();
    let decision = app
        .db()
        .cart_decisions(&store.store_hash, "cart-1")
        .await
        .unwrap()
        .pop()
        .unwrap();
    for expected in [
        format!(
            "<blockquote class=\"disclosure\">{}</blockquote>",
            escape_html(&disclosure.text)
        ),
        format!("<th>Disclosure version</th><td>{}</td>", disclosure.version),
        "<th>IP address</th><td>203.0.113.7</td>".to_owned(),
        "<th>Browser (user agent)</th><td>Mozilla/5.0</td>".to_owned(),
        "<th>Page</th><td>https://acme.example.com/checkout</td>".to_owned(),
        "<th>Verified against checkout</th><td>checkout: the number is that checkout's billing phone".to_owned(),
        escape_html(&shared::consent::content::double_opt_in_request(&store.settings)),
        "&quot;YES&quot; received 2025-11-03 14:00:03 UTC".to_owned(),
        escape_html(&sms.content),
        escape_html(&decision.explanation),
        format!(
            "Settings version {}, ledger entry {authorising}.",
            store.settings.version
        ),
        "Opted out (replied &quot;STOP&quot;). Text: &quot;STOP&quot;.".to_owned(),
        "@media print".to_owned(),
    ] {
        assert!(evidence.contains(&expected), "{expected:?} in {}", evidence.html);
    }
    let under_consent = &evidence.html[evidence.html.find(&format!("data-event=\"{authorising}\"")).unwrap()..];
    assert!(
        under_consent.contains("Messages sent under this consent (1)"),
        "the reminder is listed under the consent that allowed it"
    );

    // Erase: a wrong confirmation changes nothing.
    let before = app.db().phone_records(&store.store_hash, &ny).await.unwrap();
    let refused = app
        .submit(
            &mut merchant,
            "/settings/privacy-erase",
            form(&[("person", NY), ("confirm", "+12122019999")]),
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.contains("Nothing was erased"), "{}", refused.html);
    let unchanged = app.db().phone_records(&store.store_hash, &ny).await.unwrap();
    assert_eq!(unchanged.contact, before.contact);
    assert_eq!(unchanged.ledger, before.ledger);

    // The number typed again: erased, recorded with the session's user, the opt-out kept.
    let erased = app
        .submit(
            &mut merchant,
            "/settings/privacy-erase",
            form(&[("person", NY), ("confirm", "+1 (212) 201-4567")]),
        )
        .await;
    assert_eq!(erased.status, StatusCode::OK, "{}", erased.html);
    assert!(erased.contains("Erased +12122014567 on"), "{}", erased.html);
    assert!(erased.contains("+12122014567 stays on record only as consent proof and stays suppressed"));
    let left = app.db().phone_records(&store.store_hash, &ny).await.unwrap();
    let contact = left.contact.as_ref().expect("the erased contact keeps the number");
    assert!(contact.erased_at.is_some() && contact.email.is_none() && contact.first_name.is_none());
    assert!(left.replies.is_empty());
    let send = app
        .db()
        .get_send(&store.store_hash, "cart-1", 1)
        .await
        .unwrap()
        .unwrap();
    assert_ne!(send.body, sms.content, "the message text is gone");
    assert_eq!(
        shared::consent::ConsentState::fold(&left.ledger, shared::consent::Purpose::Marketing).status(),
        shared::consent::ConsentStatus::Unsubscribed
    );
    assert!(
        left.ledger
            .iter()
            .any(|e| matches!(e.kind, ConsentEventKind::OptOut(_))),
        "the opt-out stays"
    );
    let owner = app.bigcommerce.jwt_claims("prv001").user;
    let records = app.db().erasures(&store.store_hash).await.unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(
        records[0].cause,
        ErasureCause::MerchantRequest {
            user_id: owner.id,
            user_email: owner.email.clone()
        }
    );
    assert!(
        app.db()
            .subscribers_by_email(&store.store_hash, &["jane.doe@example.com".to_owned()])
            .await
            .unwrap()
            .is_empty(),
        "the newsletter record found through the contact's email is gone"
    );
    // The page shows what is left: the proof, and the evidence still lists the reminder under its consent.
    assert!(erased.contains("Opted out (replied &quot;STOP&quot;)."));
    let evidence = app
        .submit(&mut merchant, "/settings/privacy-evidence", form(&[("person", NY)]))
        .await;
    let under_consent = &evidence.html[evidence.html.find(&format!("data-event=\"{authorising}\"")).unwrap()..];
    assert!(
        under_consent.contains("Messages sent under this consent (1)"),
        "{}",
        evidence.html
    );
    assert!(
        under_consent.contains(&escape_html(&send.body)),
        "the reminder, its text erased"
    );
    assert!(under_consent.contains(&escape_html(&decision.explanation)));
}

#[tokio::test]
async fn one_store_cannot_look_up_export_or_print_another_stores_person() {
    let app = TestApp::start_at(DAYTIME).await;
    // The same number at both stores: store A only has the contact; store B has consent and sent a reminder.
    let a = app.seed_store("prva01", |_| {}).await;
    app.put_contact(&a.store_hash, &phone(NY), None).await;
    let (_, b_authorising) = shopper_at(&app, "prvb01", "cart-only-at-b").await;
    send_first_reminders(&app).await;
    let b_reminder = app.sms.messages().pop().expect("store B's reminder").content;
    let b_marks = [b_authorising.as_str(), "cart-only-at-b", "203.0.113.7"];
    let mut merchant_a = app.open_app("prva01", None).await;
    let merchant_b = app.open_app("prvb01", None).await;

    let page = app
        .submit(&mut merchant_a, "/settings/privacy-lookup", form(&[("person", NY)]))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.contains("data-phone=\"+12122014567\""), "{}", page.html);
    assert!(page.contains("Never subscribed to marketing texts."), "{}", page.html);
    assert!(
        page.contains("0 messages sent (0 cart reminders), 0 carts"),
        "{}",
        page.html
    );
    let evidence = app
        .submit(&mut merchant_a, "/settings/privacy-evidence", form(&[("person", NY)]))
        .await;
    assert_eq!(evidence.status, StatusCode::OK);
    let (body, json) = export(&app, &merchant_a, NY).await;
    assert_eq!(json["store_hash"], "prva01");
    for html in [&page.html, &evidence.html, &body] {
        for mark in b_marks.iter().copied().chain([escape_html(&b_reminder).as_str()]) {
            assert!(!html.contains(mark), "store B's {mark:?} leaked to store A");
        }
    }

    // A's session cannot borrow B's page: B's CSRF token with A's session, A's token with B's session.
    for (cookie, csrf) in [
        (&merchant_a.cookie, merchant_b.page.csrf()),
        (&merchant_b.cookie, merchant_a.page.csrf()),
    ] {
        for action in ["privacy-lookup", "privacy-export", "privacy-evidence"] {
            let refused = app
                .post_form(
                    &format!("/settings/{action}"),
                    Some(cookie),
                    &form(&[("csrf", &csrf), ("person", NY)]),
                )
                .await;
            assert_eq!(refused.status, StatusCode::FORBIDDEN, "{action}");
            assert!(!refused.contains("+12122014567"));
        }
    }

    // A erases the number: only A's person goes; B's contact, ledger and messages are untouched.
    let ny = phone(NY);
    let b_store = shared::StoreHash::parse("prvb01").unwrap();
    let b_before = app.db().phone_records(&b_store, &ny).await.unwrap();
    let erased = app
        .submit(
            &mut merchant_a,
            "/settings/privacy-erase",
            form(&[("person", NY), ("confirm", NY)]),
        )
        .await;
    assert_eq!(erased.status, StatusCode::OK, "{}", erased.html);
    let a_left = app.db().phone_records(&a.store_hash, &ny).await.unwrap();
    assert!(a_left.contact.unwrap().erased_at.is_some());
    let b_after = app.db().phone_records(&b_store, &ny).await.unwrap();
    assert_eq!(b_after.contact, b_before.contact);
    assert_eq!(b_after.ledger, b_before.ledger);
    assert_eq!(b_after.carts[0].sends[0].body, b_reminder);
    assert!(app.db().erasures(&b_store).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_merchant_answers_a_request_in_the_browser() {
    let app = TestApp::start_at(DAYTIME).await;
    let (store, authorising) = shopper_at(&app, "prvbr1", "cart-1").await;
    send_first_reminders(&app).await;
    let browser = Browser::launch().await.expect("headless Chromium starts");
    // The pages' CSP forbids scripts to connect anywhere; the test's own script (the export below) needs to.
    browser
        .command("Page.setBypassCSP", serde_json::json!({ "enabled": true }))
        .await
        .unwrap();
    let jwt = app.bigcommerce.load_jwt("prvbr1");
    browser
        .navigate(&app.url(&format!("/load?signed_payload_jwt={jwt}")))
        .await
        .unwrap();

    // Look up by email.
    set_value(&browser, "person", "jane.doe@example.com").await;
    submit(&browser, "lookup").await;
    assert_eq!(
        text(&browser, "#person-records .state").await,
        "Subscribed to marketing texts, through a confirmed double opt-in.",
        "{}",
        text(&browser, "main").await
    );
    let ledger = text(&browser, "#person-records ol.ledger").await;
    assert!(
        ledger.contains("Replied \"YES\" to confirm the double opt-in request."),
        "{ledger}"
    );
    browser
        .screenshot(&output_dir().join("privacy-lookup.png"))
        .await
        .unwrap();

    // Export: the export button's own form, posted as the browser posts it. (Headless Chromium here leaves a
    // download at `.crdownload`, so the test's script reads the answer instead.)
    let answer = browser
        .eval(
            "(async () => { const form = document.getElementById('export').form; \
             const response = await fetch(form.action, { method: 'POST', body: new URLSearchParams(new FormData(form)) }); \
             return { disposition: response.headers.get('content-disposition'), body: await response.text() }; })()",
        )
        .await
        .unwrap();
    assert!(
        answer["disposition"]
            .as_str()
            .unwrap()
            .starts_with("attachment; filename=\"person-prvbr1-"),
        "{answer}"
    );
    let json: Value = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
    assert_eq!(json["phones"][0]["phone"], NY);
    assert_eq!(
        json["phones"][0]["carts"][0]["sends"][0]["ledger_event_id"],
        authorising.as_str()
    );
    assert_eq!(text(&browser, "h1").await, "Requests from people", "the page stays");

    // The evidence page, as printed.
    submit(&browser, "evidence").await;
    assert_eq!(text(&browser, "h1").await, "Consent evidence");
    let disclosure = store.settings.disclosure().unwrap().unwrap();
    assert_eq!(text(&browser, "blockquote.disclosure").await, disclosure.text);
    browser
        .screenshot(&output_dir().join("privacy-evidence.png"))
        .await
        .unwrap();
    browser
        .command("Emulation.setEmulatedMedia", serde_json::json!({ "media": "print" }))
        .await
        .unwrap();
    let hidden_in_print = browser
        .eval("getComputedStyle(document.getElementById('back-to-lookup').closest('.no-print')).display")
        .await
        .unwrap();
    assert_eq!(hidden_in_print, Value::from("none"), "buttons are not printed");
    browser
        .command("Emulation.setEmulatedMedia", serde_json::json!({ "media": "" }))
        .await
        .unwrap();
    submit(&browser, "back-to-lookup").await;
    assert_eq!(text(&browser, "h1").await, "Requests from people");
    assert!(text(&browser, "#person-records").await.contains("+12122014567"));

    // Erase, confirmed by typing the email again.
    set_value(&browser, "erase-confirm", "jane.doe@example.com").await;
    submit(&browser, "erase").await;
    let notices = text(&browser, "main").await;
    assert!(
        notices.contains("Erased jane.doe@example.com on 2025-11-04 14:30:00 UTC"),
        "{notices}"
    );
    assert!(notices.contains("+12122014567 stays on record only as consent proof and stays suppressed"));
    let proof = text(&browser, "#person-records").await;
    assert!(
        proof.contains("Erased at the request of merchant user"),
        "what is left is shown: {proof}"
    );
    assert!(!proof.contains("Jane"), "{proof}");
    browser
        .screenshot(&output_dir().join("privacy-erased.png"))
        .await
        .unwrap();
    let left = app.db().phone_records(&store.store_hash, &phone(NY)).await.unwrap();
    assert!(left.contact.unwrap().erased_at.is_some());
    assert_eq!(
        shared::consent::ConsentState::fold(&left.ledger, shared::consent::Purpose::Marketing).status(),
        shared::consent::ConsentStatus::Unsubscribed,
        "the erased number is suppressed"
    );
}
