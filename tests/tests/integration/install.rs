//! The install flow and the settings page, end to end over HTTP: the simulator plays BigCommerce (OAuth, hooks,
//! scripts, Require Consent, JWTs), moto plays AWS, reqwest plays the merchant's browser.

use aws_sdk_sqs::Client as SqsClient;
use integration_tests::install::{all_scopes, set, sms_form};
use integration_tests::{TestApp, builders};
use reqwest::StatusCode;
use shared::bigcommerce::{HookUpdate, NewScript, WEBHOOK_PATH, WEBHOOK_SCOPES, WEBHOOK_SECRET_HEADER};
use shared::consent::{ConsentEvent, ConsentEventKind, OptInKeyword, OptOutMethod, Purpose};
use shared::messages::SyncMessage;
use shared::model::{ConsentOption, Contact, ContactSource, ReminderDecision, SendRecord, SendStatus, StoreStatus};
use shared::{Phone, StoreHash};

fn hash(value: &str) -> StoreHash {
    StoreHash::parse(value).unwrap()
}

/// The messages waiting in the sync queue (read without running the sync function).
async fn sync_queue_messages(app: &TestApp) -> Vec<SyncMessage> {
    let sqs = SqsClient::new(&app.aws.sdk);
    let mut messages = Vec::new();
    let resources = &app.aws.aws_resources;
    for queue_url in [&resources.sync_queue_url, &resources.bulk_sync_queue_url] {
        messages.extend(take_messages(&sqs, queue_url).await);
    }
    messages
}

/// Receives and deletes every message of one queue.
async fn take_messages(sqs: &SqsClient, queue_url: &str) -> Vec<SyncMessage> {
    let mut messages = Vec::new();
    loop {
        let output = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        let batch = output.messages.unwrap_or_default();
        if batch.is_empty() {
            return messages;
        }
        for message in batch {
            messages.push(serde_json::from_str(message.body().unwrap()).unwrap());
            sqs.delete_message()
                .queue_url(queue_url)
                .receipt_handle(message.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
}

/// The app's own scripts on the store (the simulator also lists other apps').
fn our_scripts(app: &TestApp, store: &str) -> Vec<sim::bigcommerce::Script> {
    app.bigcommerce
        .scripts(store)
        .into_iter()
        .filter(|s| s.api_client_id == app.bigcommerce_config.client_id)
        .collect()
}

fn assert_hooks_are_ours(app: &TestApp, store: &str, secret: &str) {
    let hooks = app.bigcommerce.hooks(store);
    assert_eq!(hooks.len(), WEBHOOK_SCOPES.len(), "one hook per scope: {hooks:#?}");
    for scope in WEBHOOK_SCOPES {
        let hook = hooks
            .iter()
            .find(|h| h.scope == *scope)
            .expect("a hook for every scope");
        assert_eq!(hook.destination, app.url(WEBHOOK_PATH));
        assert!(hook.is_active, "{scope} is active");
        assert_eq!(
            hook.headers
                .as_ref()
                .and_then(|h| h.get(WEBHOOK_SECRET_HEADER))
                .map(String::as_str),
            Some(secret),
            "{scope} carries the store's secret"
        );
    }
}

#[tokio::test]
async fn installing_saves_the_store_registers_each_webhook_once_and_opens_the_setup_page() {
    let app = TestApp::start().await;
    app.bigcommerce
        .create_store("inst01", sim::bigcommerce::StoreSeed::default());
    let grant = app.bigcommerce.authorize_install("inst01", &all_scopes());
    let install_link = format!("/auth?{}", grant.callback_query());
    let page = &app.get_page(&install_link, None).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(page.contains("Option 1 · SMS marketing opt-in"));
    assert!(page.contains("Option 2 · General marketing opt-in"));
    assert!(page.contains("Option 3 · None (inferred consent)"));
    // The brand starts as the store's name.
    assert_eq!(page.input("brand_name").as_deref(), Some("Sim Store"));
    let set_cookie = page.set_cookie.as_deref().unwrap();
    for attribute in ["HttpOnly", "Secure", "SameSite=None", "Partitioned", "Path=/"] {
        assert!(set_cookie.contains(attribute), "{attribute} in {set_cookie}");
    }

    let store = app.db().get_store(&hash("inst01")).await.unwrap().expect("store saved");
    assert_eq!(store.status, StoreStatus::Installed);
    assert_eq!(store.settings_version, 0);
    assert_eq!(store.owner.email, "owner@sim-store.example.com");
    assert_eq!(store.account_uuid, app.bigcommerce.config().account_uuid);
    assert_eq!(store.scopes.len(), all_scopes().len());
    assert_eq!(store.webhook_secret.expose().len(), 64);
    let owner = app.bigcommerce.jwt_claims("inst01").user;
    assert!(app.db().get_user(&hash("inst01"), owner.id).await.unwrap().is_some());
    // The saved token is the one BigCommerce issued: it works.
    let client = app.install.bigcommerce.store_client(&store).await.unwrap();
    assert_eq!(client.hooks().await.unwrap().len(), WEBHOOK_SCOPES.len());
    assert_hooks_are_ours(&app, "inst01", store.webhook_secret.expose());
    // Nothing is connected yet: no settings, no script, no sync.
    assert!(our_scripts(&app, "inst01").is_empty());
    assert!(app.db().latest_sync_job(&store.store_hash).await.unwrap().is_none());

    // The same install link again: the code is spent, so nothing changes.
    let replay = app.get_page(&install_link, None).await;
    assert_eq!(replay.status, StatusCode::BAD_REQUEST);
    assert!(replay.contains("expired or was already used"));
    assert!(replay.cookie.is_none());
    assert_eq!(app.db().get_store(&hash("inst01")).await.unwrap().unwrap(), store);
}

#[tokio::test]
async fn a_missing_scope_is_listed_and_nothing_is_stored() {
    let app = TestApp::start().await;
    app.bigcommerce
        .create_store("scope1", sim::bigcommerce::StoreSeed::default());
    let scopes: Vec<&str> = all_scopes()
        .into_iter()
        .filter(|s| *s != "store_content_checkout" && *s != "store_v2_orders_read_only")
        .collect();
    let page = app.authorize("scope1", &scopes).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(page.contains("<code>store_content_checkout</code>"), "{}", page.html);
    assert!(page.contains("<code>store_v2_orders_read_only</code>"));
    assert!(!page.contains("<code>store_cart</code>"));
    assert!(page.cookie.is_none());
    assert!(app.db().get_store(&hash("scope1")).await.unwrap().is_none());
    assert!(app.bigcommerce.hooks("scope1").is_empty());
}

#[tokio::test]
async fn incomplete_or_foreign_install_links_are_refused() {
    let app = TestApp::start().await;
    for (query, expected) in [
        ("code=abc", "missing scope, context"),
        (
            "code=abc&scope=store_cart&context=stores%2FBAD%21",
            "does not name a BigCommerce store",
        ),
        ("code=&scope=store_cart&context=stores%2Fabc", "missing code"),
    ] {
        let page = app.get_page(&format!("/auth?{query}"), None).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{query}");
        assert!(page.contains(expected), "{query}: {}", page.html);
    }
    // A real code for one store presented with another store's context.
    app.bigcommerce
        .create_store("real01", sim::bigcommerce::StoreSeed::default());
    let grant = app.bigcommerce.authorize_install("real01", &all_scopes());
    let page = app
        .get_page(
            &format!(
                "/auth?code={}&scope={}&context=stores%2Fother1",
                grant.code,
                grant.scope.replace(' ', "+")
            ),
            None,
        )
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(app.db().get_store(&hash("other1")).await.unwrap().is_none());
    assert!(app.db().get_store(&hash("real01")).await.unwrap().is_none());
}

#[tokio::test]
async fn reinstalling_keeps_the_secret_and_settings_and_never_duplicates_webhooks() {
    let app = TestApp::start().await;
    let mut merchant = app.install_app("again1").await;
    let connected = app.submit(&mut merchant, "/settings", sms_form()).await;
    assert_eq!(connected.status, StatusCode::OK, "{}", connected.html);
    let first = app.db().get_store(&hash("again1")).await.unwrap().unwrap();
    assert_eq!(first.settings_version, 1);
    // BigCommerce deactivated a hook after failed deliveries.
    let hook = app.bigcommerce.hooks("again1")[3].clone();
    app.bigcommerce.deactivate_hook("again1", hook.id);

    // Re-install without uninstalling (a scope change, an owner email change).
    let page = app.authorize("again1", &all_scopes()).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    let second = app.db().get_store(&hash("again1")).await.unwrap().unwrap();
    assert_eq!(second.webhook_secret, first.webhook_secret);
    assert_eq!(second.settings_version, 1);
    assert_eq!(second.installed_at, first.installed_at);
    assert_ne!(second.access_token, first.access_token);
    assert_hooks_are_ours(&app, "again1", first.webhook_secret.expose());
    assert!(page.contains("1 re-enabled"), "{}", page.html);
    // The settings stand: the page shows them connected.
    assert!(page.contains("id=\"connected\""));
    assert_eq!(our_scripts(&app, "again1").len(), 1);

    // Uninstall (BigCommerce deletes our hooks and auto-uninstall script), then install again.
    assert_eq!(app.uninstall_app("again1").await.status, StatusCode::OK);
    assert!(app.bigcommerce.hooks("again1").is_empty());
    assert!(our_scripts(&app, "again1").is_empty());
    let page = app.authorize("again1", &all_scopes()).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    let third = app.db().get_store(&hash("again1")).await.unwrap().unwrap();
    assert!(third.is_installed());
    // The last uninstall is kept: callback tokens issued before it never open the app again.
    assert!(third.uninstalled_at.is_some());
    assert_eq!(third.webhook_secret, first.webhook_secret);
    assert_eq!(third.settings_version, 1);
    assert_hooks_are_ours(&app, "again1", first.webhook_secret.expose());
    // The SMS option is still chosen, so the checkout checkbox comes back.
    assert_eq!(our_scripts(&app, "again1").len(), 1);
}

#[tokio::test]
async fn any_user_of_the_store_can_load_the_app_with_a_valid_jwt() {
    let app = TestApp::start().await;
    app.install_app("load01").await;
    let owner = app.open_app("load01", None).await;
    assert!(owner.page.contains("signed in as owner@sim-store.example.com"));
    let staff = app.open_app("load01", Some((99, "staff@sim-store.example.com"))).await;
    assert!(staff.page.contains("signed in as staff@sim-store.example.com"));
    assert!(app.db().get_user(&hash("load01"), 99).await.unwrap().is_some());
    // The session works on its own afterwards (what the iframe's next requests carry).
    let page = app.get_page("/settings", Some(&staff.cookie)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.contains("signed in as staff@sim-store.example.com"));
    // No session, or a session cookie that was tampered with: 401.
    assert_eq!(app.get_page("/settings", None).await.status, StatusCode::UNAUTHORIZED);
    let tampered = staff.cookie.replacen('.', ".x", 1);
    assert_eq!(
        app.get_page("/settings", Some(&tampered)).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn forged_expired_and_wrong_audience_jwts_get_401_and_change_nothing() {
    let app = TestApp::start().await;
    app.install_app("jwt001").await;
    let before = app.db().get_store(&hash("jwt001")).await.unwrap().unwrap();
    let owner_id = app.bigcommerce.jwt_claims("jwt001").user.id;

    let now = chrono::Utc::now().timestamp();
    let mut forged_user = app.bigcommerce.jwt_claims("jwt001");
    forged_user.user.id = 31337;
    let mut expired = app.bigcommerce.jwt_claims("jwt001");
    expired.iat = now - 2 * 86_400;
    expired.nbf = expired.iat;
    expired.exp = now - 86_400;
    let mut wrong_audience = app.bigcommerce.jwt_claims("jwt001");
    wrong_audience.aud = "another-app".into();
    let mut not_yet = app.bigcommerce.jwt_claims("jwt001");
    not_yet.nbf = now + 3600;
    let tokens = [
        sim::bigcommerce::sign_jwt(&forged_user, "not-the-client-secret"),
        app.bigcommerce.sign_jwt(&expired),
        app.bigcommerce.sign_jwt(&wrong_audience),
        app.bigcommerce.sign_jwt(&not_yet),
        "not.a.jwt".to_owned(),
        String::new(),
    ];
    for path in ["/load", "/uninstall", "/remove_user"] {
        for token in &tokens {
            let page = app.get_page(&format!("{path}?signed_payload_jwt={token}"), None).await;
            assert_eq!(page.status, StatusCode::UNAUTHORIZED, "{path} {token}: {}", page.html);
            assert!(page.cookie.is_none());
        }
    }
    assert_eq!(app.db().get_store(&hash("jwt001")).await.unwrap().unwrap(), before);
    assert!(app.db().get_user(&hash("jwt001"), owner_id).await.unwrap().is_some());
    assert!(app.db().get_user(&hash("jwt001"), 31337).await.unwrap().is_none());
    assert_eq!(app.bigcommerce.hooks("jwt001").len(), WEBHOOK_SCOPES.len());

    // A valid token for a store the app does not know opens nothing.
    app.bigcommerce
        .create_store("nostor", sim::bigcommerce::StoreSeed::default());
    let page = app.load_with(&app.bigcommerce.jwt_claims("nostor")).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(page.cookie.is_none());
}

#[tokio::test]
async fn the_sms_option_needs_both_https_urls_and_previews_the_exact_checkbox_text() {
    let app = TestApp::start().await;
    let mut merchant = app.install_app("sms001").await;

    let mut form = sms_form();
    set(&mut form, "terms_url", None);
    set(&mut form, "privacy_url", Some("http://acme.example.com/privacy"));
    let page = app.submit(&mut merchant, "/settings", form).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("The Terms of Service URL is mandatory"), "{}", page.html);
    assert!(page.contains("The Privacy Policy URL must be a valid https:// address"));
    assert!(page.contains("aria-describedby=\"terms_url-error\""));
    // What the merchant typed stays in the form.
    assert_eq!(
        page.input("privacy_url").as_deref(),
        Some("http://acme.example.com/privacy")
    );
    let store = app.db().get_store(&hash("sms001")).await.unwrap().unwrap();
    assert_eq!(store.settings_version, 0, "nothing saved");
    assert!(our_scripts(&app, "sms001").is_empty());

    // Preview saves nothing but shows the text the shopper will see.
    let page = app.submit(&mut merchant, "/settings/preview", sms_form()).await;
    assert_eq!(page.status, StatusCode::OK);
    let disclosure = shared::consent::build_disclosure(
        "Acme Outfitters",
        "https://acme.example.com/terms",
        "https://acme.example.com/privacy",
    )
    .unwrap();
    assert!(page.contains(&disclosure.html), "{}", page.html);
    assert!(page.contains("Preview only"));
    assert_eq!(
        app.db()
            .get_store(&hash("sms001"))
            .await
            .unwrap()
            .unwrap()
            .settings_version,
        0
    );

    let page = app.submit(&mut merchant, "/settings", sms_form()).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(page.contains(&disclosure.html));
    let (_, settings) = app.db().store_with_settings(&hash("sms001")).await.unwrap().unwrap();
    let settings = settings.expect("settings saved");
    assert_eq!(settings.version, 1);
    assert_eq!(settings.consent_option, ConsentOption::SmsCheckbox);
    assert_eq!(
        settings.disclosure_version.as_deref(),
        Some(disclosure.version.as_str())
    );
    assert_eq!(settings.saved_by.email, "owner@sim-store.example.com");
    assert_eq!(settings.saved_at, app.clock_now());
    assert_eq!(settings.sender_id.as_deref(), Some("+12125550100"));
    // Typing a sender proves nothing: it is the store's only once the operator approves it.
    assert!(app.db().stores_using_sender("+12125550100").await.unwrap().is_empty());
    assert!(page.contains("Not approved for your store yet"), "{}", page.html);
}

#[tokio::test]
async fn general_marketing_needs_the_tick_and_require_consent_really_on() {
    let app = TestApp::start().await;
    let mut merchant = app.install_app("gen001").await;
    let mut form = sms_form();
    set(&mut form, "consent_option", Some("general_marketing"));
    set(&mut form, "terms_url", None);
    set(&mut form, "privacy_url", None);

    let page = app.submit(&mut merchant, "/settings", form.clone()).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.contains("Confirm that BigCommerce's Require Consent setting is on"),
        "{}",
        page.html
    );

    // Ticked, but BigCommerce says Require Consent is off: refused, saying where to switch it on.
    set(&mut form, "require_consent_confirmed", Some("on"));
    let page = app.submit(&mut merchant, "/settings", form.clone()).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.contains("BigCommerce reports that Require Consent is off"),
        "{}",
        page.html
    );
    assert!(page.contains("Settings › General › Miscellaneous"));
    assert_eq!(
        app.db()
            .get_store(&hash("gen001"))
            .await
            .unwrap()
            .unwrap()
            .settings_version,
        0
    );

    app.bigcommerce.set_abandoned_cart_settings("gen001", |s| {
        s.marketing_emails_require_customer_consent = true;
    });
    let page = app.submit(&mut merchant, "/settings", form).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    let (_, settings) = app.db().store_with_settings(&hash("gen001")).await.unwrap().unwrap();
    let settings = settings.unwrap();
    assert_eq!(settings.consent_option, ConsentOption::GeneralMarketing);
    assert!(settings.require_consent_confirmed);
    assert_eq!(settings.disclosure_version, None);
    assert!(
        our_scripts(&app, "gen001").is_empty(),
        "no checkout script for this option"
    );
}

#[tokio::test]
async fn inferred_consent_needs_the_acknowledgement_and_shows_the_warning() {
    let app = TestApp::start().await;
    let mut merchant = app.install_app("inf001").await;
    assert!(merchant.page.contains("confirm that it is compliant with your region"));
    let mut form = sms_form();
    set(&mut form, "consent_option", Some("inferred"));
    let page = app.submit(&mut merchant, "/settings", form.clone()).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("id=\"inferred_acknowledged-error\""), "{}", page.html);
    set(&mut form, "inferred_acknowledged", Some("on"));
    let page = app.submit(&mut merchant, "/settings", form).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    let (_, settings) = app.db().store_with_settings(&hash("inf001")).await.unwrap().unwrap();
    let settings = settings.unwrap();
    assert_eq!(settings.consent_option, ConsentOption::Inferred);
    assert!(settings.inferred_acknowledged);
}

#[tokio::test]
async fn every_other_setting_is_validated_on_the_server() {
    let app = TestApp::start().await;
    let mut merchant = app.install_app("val001").await;
    let mut form = sms_form();
    for (name, value) in [
        ("first_delay_minutes", "10"),
        ("max_steps", "5"),
        ("smart_sending_hours", "soon"),
        ("quiet_start", "6"),
        ("quiet_end", "23"),
        ("brand_name", ""),
        ("help_contact", "ask us"),
        ("customer_group", "Store subscribers"),
        ("sender_id", "not a sender!"),
    ] {
        set(&mut form, name, Some(value));
    }
    let page = app.submit(&mut merchant, "/settings", form).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    for field in [
        "first_delay_minutes",
        "max_steps",
        "smart_sending_hours",
        "quiet_hours",
        "brand_name",
        "help_contact",
        "customer_group",
        "sender_id",
    ] {
        assert!(
            page.contains(&format!("id=\"{field}-error\"")),
            "{field}: {}",
            page.html
        );
    }
    assert_eq!(
        app.db()
            .get_store(&hash("val001"))
            .await
            .unwrap()
            .unwrap()
            .settings_version,
        0
    );
}

#[tokio::test]
async fn connecting_installs_the_script_starts_the_sync_and_other_options_remove_the_script() {
    let app = TestApp::start().await;
    let mut merchant = app.install_app("scr001").await;
    let foreign = app.bigcommerce.add_foreign_script("scr001", "Another app's widget");

    let page = app.submit(&mut merchant, "/settings", sms_form()).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(page.contains("Contact sync started."));
    let scripts = our_scripts(&app, "scr001");
    assert_eq!(scripts.len(), 1);
    let script = &scripts[0];
    assert_eq!(
        script.src,
        shared::checkout_script::src(&app.install.app_url, &hash("scr001"))
    );
    assert_eq!(script.integrity_hashes, vec![shared::checkout_script::sri_hash()]);
    assert!(script.auto_uninstall);
    assert!(script.enabled);
    let json = serde_json::to_value(script).unwrap();
    assert_eq!(json["kind"], "src");
    assert_eq!(json["consent_category"], "essential");
    assert_eq!(json["visibility"], "checkout");
    assert_eq!(json["location"], "footer");
    assert_eq!(json["load_method"], "defer");

    let job = app
        .db()
        .latest_sync_job(&hash("scr001"))
        .await
        .unwrap()
        .expect("a sync job");
    assert_eq!(job.settings_version, 1);
    assert_eq!(
        sync_queue_messages(&app).await,
        vec![SyncMessage::StartBulkSync {
            store_hash: hash("scr001"),
            job_id: job.job_id.clone()
        }]
    );

    // Saving again with the same option and sync on does not re-import everyone.
    let mut form = sms_form();
    set(&mut form, "first_delay_minutes", Some("45"));
    let page = app.submit(&mut merchant, "/settings", form).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(sync_queue_messages(&app).await.is_empty());
    assert_eq!(our_scripts(&app, "scr001").len(), 1);

    // Another option: our script goes, the other app's stays.
    app.bigcommerce.set_abandoned_cart_settings("scr001", |s| {
        s.marketing_emails_require_customer_consent = true;
    });
    let mut form = sms_form();
    set(&mut form, "consent_option", Some("general_marketing"));
    set(&mut form, "require_consent_confirmed", Some("on"));
    let page = app.submit(&mut merchant, "/settings", form).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(page.contains("removed (this option does not use it)"));
    assert!(our_scripts(&app, "scr001").is_empty());
    assert!(app.bigcommerce.scripts("scr001").iter().any(|s| s.uuid == foreign));
    // The option changed: contacts are imported again with its defaults.
    let messages = sync_queue_messages(&app).await;
    assert!(matches!(messages.as_slice(), [SyncMessage::StartBulkSync { job_id, .. }] if *job_id != job.job_id));

    // And back: installed again, exactly once.
    let page = app.submit(&mut merchant, "/settings", sms_form()).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert_eq!(our_scripts(&app, "scr001").len(), 1);
    assert_eq!(
        app.db()
            .get_store(&hash("scr001"))
            .await
            .unwrap()
            .unwrap()
            .settings_version,
        4
    );
}

#[tokio::test]
async fn loading_the_app_repairs_a_deleted_script_a_stale_hash_and_drifted_webhooks() {
    let app = TestApp::start().await;
    let mut merchant = app.install_app("fix001").await;
    app.submit(&mut merchant, "/settings", sms_form()).await;
    let store = app.db().get_store(&hash("fix001")).await.unwrap().unwrap();

    // The merchant deletes the script in Script Manager.
    let uuid = our_scripts(&app, "fix001")[0].uuid.clone();
    app.bigcommerce.delete_script("fix001", &uuid);
    let opened = app.open_app("fix001", None).await;
    assert!(opened.page.contains("reinstalled"), "{}", opened.page.html);
    assert_eq!(our_scripts(&app, "fix001").len(), 1);

    // A script from an older release: another source version and hash.
    let client = app.install.bigcommerce.store_client(&store).await.unwrap();
    let current = our_scripts(&app, "fix001")[0].clone();
    let mut stale: NewScript = ::install::script::desired(&app.install.app_url, &store.store_hash);
    stale.src = stale.src.replace("&v=", "&v=old");
    stale.integrity_hashes = vec!["sha384-b2xkIHNjcmlwdCBoYXNoIGZyb20gYW4gb2xkZXIgcmVsZWFzZQ==".into()];
    client.update_script(&current.uuid, &stale).await.unwrap();
    // Webhook drift: one points elsewhere, one lost its secret, one was deactivated.
    let hooks = app.bigcommerce.hooks("fix001");
    client
        .update_hook(
            hooks[0].id,
            &HookUpdate {
                destination: Some("https://old-app.example.com/webhooks/bigcommerce".into()),
                ..HookUpdate::default()
            },
        )
        .await
        .unwrap();
    client
        .update_hook(
            hooks[1].id,
            &HookUpdate {
                headers: Some([(WEBHOOK_SECRET_HEADER.to_owned(), shared::Secret::new("wrong"))].into()),
                ..HookUpdate::default()
            },
        )
        .await
        .unwrap();
    app.bigcommerce.deactivate_hook("fix001", hooks[2].id);

    let page = app.get_page("/settings", Some(&opened.cookie)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(page.contains("2 repaired"), "{}", page.html);
    assert!(page.contains("1 re-enabled"));
    assert!(page.contains("updated to the current version"));
    let scripts = our_scripts(&app, "fix001");
    assert_eq!(scripts.len(), 1);
    assert_eq!(scripts[0].uuid, current.uuid);
    assert_eq!(scripts[0].integrity_hashes, vec![shared::checkout_script::sri_hash()]);
    assert_eq!(
        scripts[0].src,
        shared::checkout_script::src(&app.install.app_url, &store.store_hash)
    );
    assert_hooks_are_ours(&app, "fix001", store.webhook_secret.expose());

    // Nothing left to repair: loading changes nothing.
    let before = app.bigcommerce.requests("fix001").len();
    let page = app.get_page("/settings", Some(&opened.cookie)).await;
    assert!(!page.contains("repaired"));
    let writes = app.bigcommerce.requests("fix001")[before..]
        .iter()
        .filter(|r| r.method != "GET")
        .count();
    assert_eq!(writes, 0);
}

#[tokio::test]
async fn a_concurrent_save_by_another_user_is_refused_with_a_reload_message() {
    let app = TestApp::start().await;
    app.install_app("conc01").await;
    let mut owner = app.open_app("conc01", None).await;
    let mut staff = app.open_app("conc01", Some((42, "staff@sim-store.example.com"))).await;
    assert_eq!(
        app.submit(&mut owner, "/settings", sms_form()).await.status,
        StatusCode::OK
    );
    let mut form = sms_form();
    set(&mut form, "brand_name", Some("Staff Brand"));
    let page = app.submit(&mut staff, "/settings", form).await;
    assert_eq!(page.status, StatusCode::CONFLICT);
    assert!(page.contains("Someone else saved the settings"), "{}", page.html);
    assert!(page.contains("reload the page"));
    let (store, settings) = app.db().store_with_settings(&hash("conc01")).await.unwrap().unwrap();
    assert_eq!(store.settings_version, 1);
    let settings = settings.unwrap();
    assert_eq!(settings.brand_name, "Acme Outfitters");
    assert_eq!(settings.saved_by.email, "owner@sim-store.example.com");
}

#[tokio::test]
async fn forms_without_the_sessions_csrf_token_are_refused_and_change_nothing() {
    let app = TestApp::start().await;
    let merchant = app.install_app("csrf01").await;
    let other = app.install_app("csrf02").await;
    let mut form = sms_form();
    set(&mut form, "based_on_version", Some("0"));

    let mut attempts: Vec<(Option<String>, Option<String>, StatusCode)> = vec![
        (Some(merchant.cookie.clone()), None, StatusCode::FORBIDDEN),
        (
            Some(merchant.cookie.clone()),
            Some("forged".into()),
            StatusCode::FORBIDDEN,
        ),
        // Another session's token (a page of another store) is not this session's.
        (
            Some(merchant.cookie.clone()),
            Some(other.page.csrf()),
            StatusCode::FORBIDDEN,
        ),
        // A token without the session: no session, 401.
        (None, Some(merchant.page.csrf()), StatusCode::UNAUTHORIZED),
    ];
    for (cookie, csrf, expected) in attempts.drain(..) {
        let mut form = form.clone();
        set(&mut form, "csrf", csrf.as_deref());
        for path in ["/settings", "/settings/sync", "/settings/retry-failed-pages"] {
            let page = app.post_form(path, cookie.as_deref(), &form).await;
            assert_eq!(page.status, expected, "{path} {csrf:?}: {}", page.html);
        }
    }
    // An oversized form is refused before it is read.
    let mut huge = form.clone();
    set(&mut huge, "csrf", Some(&merchant.page.csrf()));
    set(&mut huge, "brand_name", Some(&"x".repeat(40 * 1024)));
    let page = app.post_form("/settings", Some(&merchant.cookie), &huge).await;
    assert_eq!(page.status, StatusCode::PAYLOAD_TOO_LARGE);
    // A field posted twice is ambiguous: refused unread, whichever of the two a reader would take.
    let mut twice = form.clone();
    set(&mut twice, "csrf", Some(&merchant.page.csrf()));
    twice.push(("consent_option".into(), "inferred".into()));
    let page = app.post_form("/settings", Some(&merchant.cookie), &twice).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.html);

    let store = app.db().get_store(&hash("csrf01")).await.unwrap().unwrap();
    assert_eq!(store.settings_version, 0);
    assert!(our_scripts(&app, "csrf01").is_empty());
    assert!(sync_queue_messages(&app).await.is_empty());
}

#[tokio::test]
async fn a_browser_that_refuses_the_cookie_still_connects_with_the_pages_session() {
    let app = TestApp::start().await;
    let merchant = app.install_app("nock01").await;
    // Safari in the control panel's iframe: the Set-Cookie was dropped, the page's forms carry the session.
    let mut form = sms_form();
    set(&mut form, "csrf", Some(&merchant.page.csrf()));
    set(&mut form, "session", merchant.page.input("session").as_deref());
    set(&mut form, "based_on_version", Some("0"));
    let page = app.post_form("/settings", None, &form).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert_eq!(
        app.db()
            .get_store(&hash("nock01"))
            .await
            .unwrap()
            .unwrap()
            .settings_version,
        1
    );
    // The next page carries it on, and "Refresh progress" works the same way.
    let mut refresh = vec![("csrf".to_owned(), page.csrf())];
    set(&mut refresh, "session", page.input("session").as_deref());
    let page = app.post_form("/settings/refresh", None, &refresh).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(page.contains("id=\"sync-progress\""));
    // A session edited in the form is refused like an edited cookie.
    let forged = merchant.page.input("session").unwrap().replacen('.', ".x", 1);
    set(&mut form, "session", Some(&forged));
    assert_eq!(
        app.post_form("/settings", None, &form).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn uninstall_marks_the_store_at_once_and_keeps_consent_records() {
    let app = TestApp::start().await;
    let mut merchant = app.install_app("unin01").await;
    app.submit(&mut merchant, "/settings", sms_form()).await;
    let store = hash("unin01");
    let phone = Phone::from_e164("+14155550123").unwrap();
    let now = app.clock_now();
    app.db().put_contact(&contact(&store, &phone, now)).await.unwrap();
    let opt_in = ConsentEvent::new(
        store.clone(),
        phone.clone(),
        Purpose::Marketing,
        now,
        now,
        "reply:1",
        ConsentEventKind::KeywordOptIn {
            keyword: OptInKeyword::Start,
            raw_text: "START".into(),
            message_id: Some("m1".into()),
        },
    );
    app.db().append_consent(&opt_in).await.unwrap();
    let (before, settings_before) = app.db().store_with_settings(&store).await.unwrap().unwrap();
    let ledger_before = app.db().ledger(&store, &phone).await.unwrap();

    app.clock.advance(chrono::Duration::minutes(5));
    let page = app.uninstall_app("unin01").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);

    let (after, settings_after) = app.db().store_with_settings(&store).await.unwrap().unwrap();
    assert_eq!(after.status, StoreStatus::Uninstalled);
    assert!(!after.is_installed(), "the send function stops on this mark");
    assert_eq!(after.uninstalled_at, Some(app.clock_now()));
    assert_eq!(after.settings_version, before.settings_version);
    assert_eq!(after.webhook_secret, before.webhook_secret);
    assert_eq!(settings_after, settings_before);
    assert_eq!(app.db().ledger(&store, &phone).await.unwrap(), ledger_before);
    assert!(app.db().get_contact(&store, &phone).await.unwrap().is_some());

    // Sessions end with the install, and the app cannot be opened until it is installed again.
    assert_eq!(
        app.get_page("/settings", Some(&merchant.cookie)).await.status,
        StatusCode::UNAUTHORIZED
    );
    let page = app.load_with(&app.bigcommerce.jwt_claims("unin01")).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(page.contains("not installed"));
    // A second uninstall call (BigCommerce retries) changes nothing more.
    let jwt = app.bigcommerce.load_jwt("unin01");
    let page = app
        .get_page(&format!("/uninstall?signed_payload_jwt={jwt}"), None)
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(
        app.db().get_store(&store).await.unwrap().unwrap().uninstalled_at,
        after.uninstalled_at
    );
}

#[tokio::test]
async fn uninstalling_through_the_callback_stops_reminders_that_were_due() {
    use integration_tests::recovery::{NY, cart, give_consent, item, phone, save, sweep_and_send};
    let start = integration_tests::at("2025-11-04T14:00:00Z");
    let app = TestApp::start_with(integration_tests::TestAppOptions {
        start,
        ..integration_tests::TestAppOptions::default()
    })
    .await;
    let kept = app.seed_store("stop01", |_| {}).await;
    let gone = app.seed_store("stop02", |_| {}).await;
    let ny = phone(NY);
    for store in [&kept, &gone] {
        give_consent(&app, store, &ny, start - chrono::Duration::days(1)).await;
        let abandoned = cart(
            store,
            "cart-1",
            Some(&ny),
            "US",
            start,
            vec![item("Blue Mug", 101, 1, 1250)],
        );
        save(&app, &abandoned).await;
    }
    // The merchant uninstalls stop02; BigCommerce calls /uninstall (claims dated by the app's clock).
    app.bigcommerce.uninstall("stop02");
    let mut claims = app.bigcommerce.jwt_claims("stop02");
    claims.iat = start.timestamp();
    claims.nbf = claims.iat;
    claims.exp = claims.iat + 86_400;
    let jwt = app.bigcommerce.sign_jwt(&claims);
    let page = app
        .get_page(&format!("/uninstall?signed_payload_jwt={jwt}"), None)
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);

    app.clock.advance(chrono::Duration::minutes(30));
    sweep_and_send(&app).await;
    assert!(
        app.db()
            .get_send(&kept.store_hash, "cart-1", 1)
            .await
            .unwrap()
            .is_some(),
        "the installed store's reminder goes out"
    );
    assert!(
        app.db()
            .get_send(&gone.store_hash, "cart-1", 1)
            .await
            .unwrap()
            .is_none(),
        "nothing is sent for the uninstalled store"
    );
    assert_eq!(app.sms.messages().len(), 1);
}

#[tokio::test]
async fn remove_user_revokes_that_users_session_only() {
    let app = TestApp::start().await;
    app.install_app("user01").await;
    let owner = app.open_app("user01", None).await;
    let staff = app.open_app("user01", Some((77, "staff@sim-store.example.com"))).await;
    let mut claims = app.bigcommerce.jwt_claims("user01");
    claims.user.id = 77;
    claims.user.email = "staff@sim-store.example.com".into();
    let jwt = app.bigcommerce.sign_jwt(&claims);
    let page = app
        .get_page(&format!("/remove_user?signed_payload_jwt={jwt}"), None)
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(app.db().get_user(&hash("user01"), 77).await.unwrap().is_none());
    let page = app.get_page("/settings", Some(&staff.cookie)).await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    assert!(page.contains("no longer have access"));
    let mut form = sms_form();
    set(&mut form, "csrf", Some(&staff.page.csrf()));
    set(&mut form, "based_on_version", Some("0"));
    assert_eq!(
        app.post_form("/settings", Some(&staff.cookie), &form).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get_page("/settings", Some(&owner.cookie)).await.status,
        StatusCode::OK
    );
}

fn contact(store: &StoreHash, phone: &Phone, now: chrono::DateTime<chrono::Utc>) -> Contact {
    Contact {
        first_name: Some("Sam".into()),
        groups: vec!["Store customers".into()],
        ..builders::contact(store, phone, ContactSource::CheckoutConsent, now)
    }
}

#[tokio::test]
async fn the_status_shows_sync_progress_consent_counts_and_recent_reminders() {
    let app = TestApp::start().await;
    let mut merchant = app.install_app("stat01").await;
    app.submit(&mut merchant, "/settings", sms_form()).await;
    sync_queue_messages(&app).await;
    let store = hash("stat01");
    let now = app.clock_now();

    // The sync got to 10 pages: 5 done, 2 failed every retry.
    let job = app.db().latest_sync_job(&store).await.unwrap().unwrap();
    app.db().set_sync_total_pages(&store, &job.job_id, 10, 2).await.unwrap();
    for page in 1..=5 {
        // Page 3 had a customer record that did not decode.
        let counts = shared::db::PageCounts {
            imported: 240,
            skipped_no_phone: 8,
            skipped_invalid_phone: 2,
            skipped_malformed: u64::from(page == 3),
        };
        if page == 3 {
            app.db()
                .record_skipped_customers(&store, &job.job_id, &[4321])
                .await
                .unwrap();
        }
        app.db()
            .record_sync_page_done(&store, &job.job_id, page, counts, false)
            .await
            .unwrap();
    }
    for page in [6, 9] {
        app.db()
            .record_sync_page_failed(&store, &job.job_id, page, Some(&format!("cursor{page}")), false)
            .await
            .unwrap();
    }

    // Three contacts: subscribed, unsubscribed, never subscribed.
    let phones: Vec<Phone> = ["+14155550101", "+14155550102", "+14155550103"]
        .iter()
        .map(|p| Phone::from_e164(p).unwrap())
        .collect();
    for phone in &phones {
        app.db().put_contact(&contact(&store, phone, now)).await.unwrap();
    }
    let event = |phone: &Phone, key: &str, kind: ConsentEventKind| {
        ConsentEvent::new(store.clone(), phone.clone(), Purpose::Marketing, now, now, key, kind)
    };
    let start = || ConsentEventKind::KeywordOptIn {
        keyword: OptInKeyword::Start,
        raw_text: "START".into(),
        message_id: None,
    };
    app.db().append_consent(&event(&phones[0], "a", start())).await.unwrap();
    app.db().append_consent(&event(&phones[1], "b", start())).await.unwrap();
    app.db()
        .append_consent(&event(
            &phones[1],
            "c",
            ConsentEventKind::OptOut(OptOutMethod::Keyword {
                raw_text: "STOP".into(),
                message_id: None,
            }),
        ))
        .await
        .unwrap();

    // A reminder that recovered an order, and the decision behind it.
    let mut record = SendRecord {
        ..builders::claimed_send(&store, "cart-77", &phones[0], now)
    };
    app.db().claim_send(&record).await.unwrap();
    record.mark_sent("sandbox", "msg-1", now);
    app.db()
        .record_send_sent(&store, "cart-77", 1, "sandbox", "msg-1", now)
        .await
        .unwrap();
    record.status = SendStatus::Delivered;
    assert!(
        app.db()
            .record_delivery_report(SendStatus::Sent, &record)
            .await
            .unwrap()
    );
    assert!(
        app.db()
            .record_recovered_order(
                &store,
                "cart-77",
                1,
                &shared::recovery::RecoveredOrder {
                    order_id: 1001,
                    amount: rust_decimal::Decimal::new(12_950, 2),
                    currency: "USD".into(),
                    coupon: None,
                    at: now,
                },
                "holder",
            )
            .await
            .unwrap()
    );
    app.db()
        .record_decision(&ReminderDecision {
            store_hash: store.clone(),
            cart_id: "cart-77".into(),
            step: 1,
            decided_at: now,
            outcome: "allow".into(),
            code: "evt".into(),
            explanation: "Allowed: START texted <by the shopper>.".into(),
            defer_until: None,
        })
        .await
        .unwrap();

    let page = app.get_page("/settings", Some(&merchant.cookie)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.contains("value=\"70\""),
        "(5 done + 2 failed) of 10 pages: {}",
        page.html
    );
    assert!(page.contains("5 of 10 pages done, 2 failed"));
    assert!(page.contains("1200 contacts imported"));
    assert!(
        page.contains("1 customer record could not be read and was skipped (customer ID: 4321)."),
        "{}",
        page.html
    );
    assert!(page.contains("Retry 2 failed pages"));
    assert!(page.contains("<td data-state=\"subscribed\">1</td>"));
    assert!(
        page.contains("<td data-state=\"subscribed_sms_express\">1</td>"),
        "START is express"
    );
    assert!(page.contains("<td data-state=\"unsubscribed\">1</td>"));
    assert!(page.contains("<td data-state=\"never_subscribed\">1</td>"));
    assert!(page.contains("<td data-state=\"total\">3</td>"));
    assert!(page.contains(&phones[0].masked()));
    assert!(!page.contains(phones[0].as_e164()), "full numbers never shown");
    assert!(page.contains("cart-77"));
    assert!(page.contains("1 sent, 0 clicked, 1 order recovered"), "{}", page.html);
    assert!(page.contains("recovered revenue <strong>129.50</strong>"));
    assert!(page.contains("Allowed: START texted &lt;by the shopper&gt;."));

    let mut merchant = integration_tests::install::Merchant {
        cookie: merchant.cookie.clone(),
        page,
    };
    let page = app
        .submit(&mut merchant, "/settings/retry-failed-pages", Vec::new())
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(page.contains("Retrying 2 failed pages."));
    let mut retried = sync_queue_messages(&app).await;
    retried.sort_by_key(|m| match m {
        SyncMessage::CustomerPage { page, .. } => *page,
        _ => 0,
    });
    let expected: Vec<SyncMessage> = [6, 9]
        .into_iter()
        .map(|page| SyncMessage::CustomerPage {
            store_hash: store.clone(),
            job_id: job.job_id.clone(),
            page,
            per_page: shared::model::sync_job::CUSTOMERS_PER_PAGE,
            after: Some(format!("cursor{page}")),
        })
        .collect();
    assert_eq!(retried, expected);
}

#[tokio::test]
async fn sync_now_starts_a_sync_unless_one_is_running() {
    let app = TestApp::start().await;
    let mut merchant = app.install_app("sync01").await;
    app.submit(&mut merchant, "/settings", sms_form()).await;
    sync_queue_messages(&app).await;
    let page = app.submit(&mut merchant, "/settings/sync", Vec::new()).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.contains("already running"), "{}", page.html);
    assert!(sync_queue_messages(&app).await.is_empty());
    // A sync stuck for over an hour (its start message was lost) can be started again.
    app.clock.advance(chrono::Duration::minutes(61));
    let page = app.submit(&mut merchant, "/settings/sync", Vec::new()).await;
    assert!(page.contains("Contact sync started."), "{}", page.html);
    assert_eq!(sync_queue_messages(&app).await.len(), 1);
    // Unknown actions are refused.
    let page = app
        .submit(&mut merchant, "/settings/delete-everything", Vec::new())
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
}

trait ClockNow {
    fn clock_now(&self) -> chrono::DateTime<chrono::Utc>;
}

impl ClockNow for TestApp {
    fn clock_now(&self) -> chrono::DateTime<chrono::Utc> {
        shared::Clock::now(self.clock.as_ref())
    }
}

#[tokio::test]
async fn the_merchant_chooses_a_coupon_promotion_for_unique_codes_from_those_in_bigcommerce() {
    let app = TestApp::start().await;
    let mut merchant = app.install_app("coupon1").await;
    let coupon = app.bigcommerce.create_promotion("coupon1", "SMS <10%> off", true);
    app.bigcommerce
        .create_promotion("coupon1", "Automatic free shipping", false);
    let page = app.open_app("coupon1", None).await.page;
    assert!(page.html.contains("No unique codes"), "{}", page.html);
    assert!(
        page.html
            .contains(&format!("<option value=\"{coupon}\">SMS &lt;10%&gt; off</option>"))
    );
    assert!(
        !page.html.contains("Automatic free shipping"),
        "only coupon promotions carry codes"
    );

    let mut form = sms_form();
    form.push(("coupon_promotion_id".into(), "not-a-number".into()));
    let refused = app.submit(&mut merchant, "/settings", form).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.html);
    assert!(
        app.db()
            .get_store(&hash("coupon1"))
            .await
            .unwrap()
            .unwrap()
            .settings_version
            == 0
    );

    let mut form = sms_form();
    form.push(("coupon_promotion_id".into(), coupon.to_string()));
    let connected = app.submit(&mut merchant, "/settings", form).await;
    assert_eq!(connected.status, StatusCode::OK, "{}", connected.html);
    let saved = app.db().settings_version(&hash("coupon1"), 1).await.unwrap().unwrap();
    assert_eq!(saved.reminders.coupon_promotion_id, Some(coupon));
    assert!(
        connected
            .html
            .contains(&format!("<option value=\"{coupon}\" selected>")),
        "{}",
        connected.html
    );
}
