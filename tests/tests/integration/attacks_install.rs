//! Attacks on the install function's callbacks and sessions, end to end over HTTP: replayed and stale
//! `signed_payload_jwt`s, tokens and sessions that outlive a user's removal or the app's uninstall, who may frame
//! the settings page, and what a genuine token for a store the app does not know gets.

use chrono::Duration;
use integration_tests::TestApp;
use integration_tests::install::{AppPage, all_scopes};
use reqwest::StatusCode;
use shared::StoreHash;
use sim::bigcommerce::JwtClaims;

fn hash(value: &str) -> StoreHash {
    StoreHash::parse(value).unwrap()
}

/// Claims BigCommerce would sign now for `user_id` of `store`.
fn claims_for(app: &TestApp, store: &str, user_id: u64) -> JwtClaims {
    let mut claims = app.bigcommerce.jwt_claims(store);
    claims.user.id = user_id;
    claims.user.email = format!("user{user_id}@sim-store.example.com");
    claims
}

/// The same claims with another `jti`: a second token BigCommerce issued at the same instant.
fn with_new_jti(claims: &JwtClaims) -> JwtClaims {
    let mut other = claims.clone();
    other.jti = uuid::Uuid::new_v4().to_string();
    other
}

fn assert_refused(page: &AppPage, what: &str) {
    assert_eq!(page.status, StatusCode::UNAUTHORIZED, "{what}: {}", page.html);
    assert!(page.cookie.is_none(), "{what}: no session may start");
}

#[tokio::test]
async fn each_callback_token_works_once() {
    let app = TestApp::start().await;
    app.install_app("rply01").await;
    let jwt = app.bigcommerce.load_jwt("rply01");
    let load = format!("/load?signed_payload_jwt={jwt}");
    let first = app.get_page(&load, None).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.html);
    assert!(first.cookie.is_some());
    let replay = app.get_page(&load, None).await;
    assert_refused(&replay, "the same /load link again");
    assert!(replay.contains("already used"), "{}", replay.html);

    // A removal replayed after the owner gave the user access again does not take it away a second time.
    let staff = claims_for(&app, "rply01", 61);
    assert_eq!(app.load_with(&staff).await.status, StatusCode::OK);
    let removal = claims_for(&app, "rply01", 61);
    let removal_jwt = app.bigcommerce.sign_jwt(&removal);
    let remove = format!("/remove_user?signed_payload_jwt={removal_jwt}");
    assert_eq!(app.get_page(&remove, None).await.status, StatusCode::OK);
    app.clock.advance(Duration::minutes(2));
    let again = app.load_with(&claims_for(&app, "rply01", 61)).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.html);
    assert_refused(&app.get_page(&remove, None).await, "the same /remove_user call again");
    assert!(app.db().get_user(&hash("rply01"), 61).await.unwrap().is_some());
    assert_eq!(
        app.get_page("/settings", again.cookie.as_deref()).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_token_issued_before_remove_user_never_restores_the_user() {
    let app = TestApp::start().await;
    app.install_app("rmvd01").await;
    // The staff user opens the app and keeps the iframe's URL; BigCommerce issued another token at that time.
    let kept = claims_for(&app, "rmvd01", 77);
    let opened = app.load_with(&claims_for(&app, "rmvd01", 77)).await;
    assert_eq!(opened.status, StatusCode::OK);
    let old_session = opened.cookie.clone().unwrap();

    app.clock.advance(Duration::minutes(1));
    let removed = app.callback_with("/remove_user", &claims_for(&app, "rmvd01", 77)).await;
    assert_eq!(removed.status, StatusCode::OK, "{}", removed.html);

    // Tokens from before the removal, even never used or with a jti never seen, restore nothing.
    assert_refused(&app.load_with(&kept).await, "an unused token from before the removal");
    assert_refused(
        &app.load_with(&with_new_jti(&kept)).await,
        "a token from before the removal with a new jti",
    );
    assert!(app.db().get_user(&hash("rmvd01"), 77).await.unwrap().is_none());
    assert_refused(&app.get_page("/settings", Some(&old_session)).await, "the old session");

    // The owner gives the user access again: BigCommerce's next token opens the app, the old session stays dead.
    app.clock.advance(Duration::minutes(1));
    let back = app.load_with(&claims_for(&app, "rmvd01", 77)).await;
    assert_eq!(back.status, StatusCode::OK, "{}", back.html);
    assert_eq!(
        app.get_page("/settings", back.cookie.as_deref()).await.status,
        StatusCode::OK
    );
    let old = app.get_page("/settings", Some(&old_session)).await;
    assert_refused(&old, "a session from before the removal, after access was given back");
    assert!(old.contains("no longer have access"), "{}", old.html);
}

#[tokio::test]
async fn a_token_not_issued_just_now_is_refused() {
    let app = TestApp::start().await;
    app.install_app("stal01").await;
    let before = app.db().get_store(&hash("stal01")).await.unwrap().unwrap();
    let now = app.clock_now().timestamp();
    // Signed by BigCommerce and unexpired (24 hours), but issued an hour ago: a link kept from earlier.
    let mut stale = claims_for(&app, "stal01", 55);
    stale.iat = now - 3600;
    stale.nbf = stale.iat;
    stale.exp = stale.iat + 86_400;
    // Issued an hour from now (nbf says now).
    let mut future = claims_for(&app, "stal01", 55);
    future.iat = now + 3600;
    for claims in [&stale, &future] {
        for path in ["/load", "/remove_user", "/uninstall"] {
            let page = app.callback_with(path, claims).await;
            assert_refused(&page, &format!("{path} iat {}", claims.iat - now));
        }
    }
    assert!(app.db().get_user(&hash("stal01"), 55).await.unwrap().is_none());
    assert_eq!(app.db().get_store(&hash("stal01")).await.unwrap().unwrap(), before);
}

#[tokio::test]
async fn sessions_and_tokens_from_before_an_uninstall_do_not_survive_a_reinstall() {
    let app = TestApp::start().await;
    let owner = app.install_app("rein01").await;
    let staff = app.load_with(&claims_for(&app, "rein01", 88)).await;
    assert_eq!(staff.status, StatusCode::OK);
    let kept = claims_for(&app, "rein01", 88);

    app.clock.advance(Duration::minutes(1));
    let uninstall_jwt = app.bigcommerce.uninstall("rein01");
    let uninstall = format!("/uninstall?signed_payload_jwt={uninstall_jwt}");
    assert_eq!(app.get_page(&uninstall, None).await.status, StatusCode::OK);
    app.clock.advance(Duration::minutes(1));
    let reinstalled = app.authorize("rein01", &all_scopes()).await;
    assert_eq!(reinstalled.status, StatusCode::OK, "{}", reinstalled.html);

    for (who, cookie) in [("owner", &owner.cookie), ("staff", staff.cookie.as_ref().unwrap())] {
        let page = app.get_page("/settings", Some(cookie)).await;
        assert_refused(&page, &format!("the {who}'s session from before the uninstall"));
    }
    assert_refused(&app.load_with(&kept).await, "an unused token from before the uninstall");
    assert_refused(&app.get_page(&uninstall, None).await, "the uninstall call replayed");
    assert!(
        app.db()
            .get_store(&hash("rein01"))
            .await
            .unwrap()
            .unwrap()
            .is_installed()
    );

    // The new installation's sessions work; BigCommerce's next token for the staff user opens the app.
    assert_eq!(
        app.get_page("/settings", reinstalled.cookie.as_deref()).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.load_with(&claims_for(&app, "rein01", 88)).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn only_the_stores_control_panel_may_frame_its_settings_page() {
    let app = TestApp::start().await;
    let installed = app.install_app("csp001").await;
    app.install_app("csp002").await;
    let allowed = |store: &str| {
        vec![
            format!("https://store-{store}.mybigcommerce.com"),
            "https://login.bigcommerce.com".to_owned(),
        ]
    };
    assert_eq!(installed.page.frame_ancestors(), allowed("csp001"), "after /auth");
    let loaded = app.open_app("csp001", None).await;
    assert_eq!(loaded.page.frame_ancestors(), allowed("csp001"), "after /load");
    let shown = app.get_page("/settings", Some(&loaded.cookie)).await;
    assert_eq!(shown.status, StatusCode::OK);
    assert_eq!(shown.frame_ancestors(), allowed("csp001"), "GET /settings");
    let other = app.open_app("csp002", None).await;
    assert_eq!(other.page.frame_ancestors(), allowed("csp002"));
}

#[tokio::test]
async fn a_bad_token_is_401_before_a_genuine_one_learns_the_store_is_unknown() {
    let app = TestApp::start().await;
    app.bigcommerce
        .create_store("unkn01", sim::bigcommerce::StoreSeed::default());
    for path in ["/load", "/uninstall", "/remove_user"] {
        let genuine = app.callback_with(path, &claims_for(&app, "unkn01", 5)).await;
        assert_eq!(genuine.status, StatusCode::NOT_FOUND, "{path}: {}", genuine.html);
        assert!(genuine.contains("not installed"), "{path}: {}", genuine.html);
        assert!(genuine.cookie.is_none());
        let forged = sim::bigcommerce::sign_jwt(&claims_for(&app, "unkn01", 5), "not-the-client-secret");
        let page = app.get_page(&format!("{path}?signed_payload_jwt={forged}"), None).await;
        assert_refused(&page, path);
    }
    assert!(app.db().get_store(&hash("unkn01")).await.unwrap().is_none());
    assert!(app.db().get_user(&hash("unkn01"), 5).await.unwrap().is_none());
}

trait ClockNow {
    fn clock_now(&self) -> chrono::DateTime<chrono::Utc>;
}

impl ClockNow for TestApp {
    fn clock_now(&self) -> chrono::DateTime<chrono::Utc> {
        shared::Clock::now(self.clock.as_ref())
    }
}
