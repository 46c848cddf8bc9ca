//! The Chromium driver against a page served on loopback: load, type, click, read back, screenshot; and nothing
//! of it left behind once dropped.

use devstack::browser::Browser;
use std::time::Duration;

const PAGE: &str = r#"<!doctype html><html><body>
<input id="name"><button id="go" onclick="document.getElementById('out').textContent = 'Hello, ' + document.getElementById('name').value">Go</button>
<p id="out"></p>
<script>setTimeout(() => { const late = document.createElement('div'); late.id = 'late'; document.body.append(late); }, 300);</script>
</body></html>"#;

#[tokio::test]
async fn drives_a_page_like_a_user() {
    let app = axum::Router::new().route("/", axum::routing::get(|| async { axum::response::Html(PAGE) }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let browser = Browser::launch().await.expect("headless Chromium starts");
    browser.navigate(&url).await.unwrap();
    // Elements that appear late are waited for, not raced.
    browser
        .wait_for("document.getElementById('late') !== null", Duration::from_secs(5))
        .await
        .unwrap();
    browser
        .eval("document.getElementById('name').value = 'Ada'; document.getElementById('go').click()")
        .await
        .unwrap();
    let text = browser
        .eval("document.getElementById('out').textContent")
        .await
        .unwrap();
    assert_eq!(text, "Hello, Ada");
    // Script errors surface as errors, not as values.
    assert!(browser.eval("undefinedFunction()").await.is_err());

    let shot = std::env::temp_dir().join(format!("devstack-browser-{}.png", std::process::id()));
    browser.screenshot(&shot).await.unwrap();
    let bytes = std::fs::read(&shot).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    std::fs::remove_file(shot).unwrap();
}

#[tokio::test]
async fn a_dropped_browser_leaves_no_profile_behind() {
    let app = axum::Router::new().route("/", axum::routing::get(|| async { axum::response::Html(PAGE) }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    for _ in 0..3 {
        let browser = Browser::launch().await.expect("headless Chromium starts");
        browser.navigate(&url).await.unwrap();
        let profile = browser.profile().to_owned();
        assert!(profile.exists());
        drop(browser);
        // Chromium's helper processes wrote the profile again after it was removed: it must stay gone.
        for _ in 0..10 {
            assert!(!profile.exists(), "{} is left behind", profile.display());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
