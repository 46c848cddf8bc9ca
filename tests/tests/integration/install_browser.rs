//! The settings page in a real browser: headless Chromium opens the app through the HTTP API the way the
//! control panel's iframe does (`/load` with a signed JWT, which sets the session cookie), fails to connect the
//! SMS option without its URLs, fixes them, connects, and reads the checkbox preview.

use devstack::browser::Browser;
use integration_tests::TestApp;
use serde_json::Value;
use shared::StoreHash;
use shared::model::ConsentOption;
use std::path::PathBuf;
use std::time::Duration;

pub(crate) fn output_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target")));
    let dir = target.join("test-output");
    std::fs::create_dir_all(&dir).expect("test output folder");
    dir
}

/// Clicks a submit button and waits for the page the form post returns.
pub(crate) async fn submit(browser: &Browser, button: &str) {
    browser
        .eval(&format!(
            "window.__before_submit = true; document.getElementById('{button}').click(); true"
        ))
        .await
        .unwrap();
    browser
        .wait_for(
            "window.__before_submit === undefined && document.readyState === 'complete' && \
             document.querySelector('h1') !== null",
            Duration::from_secs(30),
        )
        .await
        .unwrap();
}

pub(crate) async fn set_value(browser: &Browser, id: &str, value: &str) {
    browser
        .eval(&format!(
            "document.getElementById({}).value = {}; true",
            Value::from(id),
            Value::from(value)
        ))
        .await
        .unwrap();
}

pub(crate) async fn text(browser: &Browser, selector: &str) -> String {
    browser
        .eval(&format!(
            "(document.querySelector({}) || {{textContent: ''}}).textContent",
            Value::from(selector)
        ))
        .await
        .unwrap()
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn a_merchant_connects_the_sms_option_in_the_browser() {
    let app = TestApp::start().await;
    app.install_app("brws01").await;
    let browser = Browser::launch().await.expect("headless Chromium starts");

    // The control panel opens the app: the session cookie (Secure, SameSite=None) is set by the response. On
    // http://127.0.0.1 Chromium treats the origin as secure, so it keeps the cookie like it would over https.
    let jwt = app.bigcommerce.load_jwt("brws01");
    browser
        .navigate(&app.url(&format!("/load?signed_payload_jwt={jwt}")))
        .await
        .unwrap();
    assert_eq!(
        text(&browser, "h1").await,
        "SMS consent & cart recovery",
        "the settings page loads"
    );

    // SMS opt-in without the Terms and Privacy URLs.
    browser
        .eval("document.getElementById('option-sms_checkbox').click(); true")
        .await
        .unwrap();
    // The option's details (URL fields, preview) show once it is chosen: CSS only, no script.
    let visible = browser
        .eval("getComputedStyle(document.querySelector('.only-sms')).display !== 'none'")
        .await
        .unwrap();
    assert_eq!(visible, Value::Bool(true));
    set_value(&browser, "terms_url", "").await;
    set_value(&browser, "privacy_url", "").await;
    set_value(&browser, "help_contact", "help@sim-store.example.com").await;
    submit(&browser, "connect").await;
    let problems = text(&browser, "#problems").await;
    assert!(
        problems.contains("The Terms of Service URL is mandatory"),
        "the error is shown (a refused session would show a 401 page instead): {problems:?} / {}",
        text(&browser, "main").await
    );
    assert!(problems.contains("The Privacy Policy URL is mandatory"));
    let field_error_visible = browser
        .eval("document.getElementById('terms_url-error').offsetParent !== null")
        .await
        .unwrap();
    assert_eq!(field_error_visible, Value::Bool(true));
    browser
        .screenshot(&output_dir().join("settings-sms-missing-urls.png"))
        .await
        .unwrap();
    let store = StoreHash::parse("brws01").unwrap();
    assert_eq!(app.db().get_store(&store).await.unwrap().unwrap().settings_version, 0);

    // The form kept the merchant's choice; fill in the URLs and connect.
    assert_eq!(
        browser
            .eval("document.getElementById('option-sms_checkbox').checked")
            .await
            .unwrap(),
        Value::Bool(true)
    );
    set_value(&browser, "terms_url", "https://sim-store.example.com/terms").await;
    set_value(&browser, "privacy_url", "https://sim-store.example.com/privacy").await;
    submit(&browser, "connect").await;
    assert!(
        text(&browser, "#connected")
            .await
            .contains("Option 1 · SMS marketing opt-in"),
        "{}",
        text(&browser, "main").await
    );

    // The preview is the exact text shoppers will see, linking both documents.
    let expected = shared::consent::build_disclosure(
        "Sim Store",
        "https://sim-store.example.com/terms",
        "https://sim-store.example.com/privacy",
    )
    .unwrap();
    let preview_html = browser
        .eval("document.getElementById('disclosure-text').innerHTML")
        .await
        .unwrap();
    assert_eq!(preview_html.as_str().unwrap(), expected.html);
    let preview = text(&browser, "#disclosure-text").await;
    assert!(preview.starts_with("By checking this box, you agree to receive recurring automated marketing text"));
    assert!(preview.contains("Sim Store"));
    let links = browser
        .eval("[...document.querySelectorAll('#disclosure-text a')].map(a => a.href).join(' ')")
        .await
        .unwrap();
    assert_eq!(
        links.as_str().unwrap(),
        "https://sim-store.example.com/terms https://sim-store.example.com/privacy"
    );
    let unchecked = browser
        .eval("document.querySelector('#disclosure-preview input[type=checkbox]').checked === false")
        .await
        .unwrap();
    assert_eq!(unchecked, Value::Bool(true));
    browser
        .screenshot(&output_dir().join("settings-sms-connected-status.png"))
        .await
        .unwrap();
    browser
        .eval("document.getElementById('disclosure-preview').scrollIntoView(); true")
        .await
        .unwrap();
    let shot = output_dir().join("settings-sms-connected.png");
    browser.screenshot(&shot).await.unwrap();
    assert_eq!(&std::fs::read(&shot).unwrap()[..8], b"\x89PNG\r\n\x1a\n");

    // What the browser did is what the app stored and installed.
    let (_, settings) = app.db().store_with_settings(&store).await.unwrap().unwrap();
    let settings = settings.expect("connected");
    assert_eq!(settings.consent_option, ConsentOption::SmsCheckbox);
    assert_eq!(settings.disclosure_version.as_deref(), Some(expected.version.as_str()));
    assert!(
        app.bigcommerce
            .scripts("brws01")
            .iter()
            .any(|s| s.src == shared::checkout_script::src(&app.install.app_url, &store))
    );
}
