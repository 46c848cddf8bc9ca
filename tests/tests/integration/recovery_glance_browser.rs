//! Recovery at a glance in a real browser: after a scripted day, headless Chromium opens the settings page as
//! the control panel does and finds the chart drawn, the funnel and reasons shown, and the day's figures in the
//! table once its disclosure is opened.

use super::install_browser::{output_dir, text};
use super::recovery_glance::{DAYTIME, scripted_day};
use devstack::browser::Browser;
use integration_tests::{TestApp, TestAppOptions, at};
use std::time::Duration;

#[tokio::test]
async fn the_chart_funnel_and_reasons_render_in_the_browser() {
    let app = TestApp::start_with(TestAppOptions {
        start: at(DAYTIME),
        ..TestAppOptions::default()
    })
    .await;
    let store = app.seed_store("glance3", |_| {}).await;
    scripted_day(&app, &store).await;
    let browser = Browser::launch().await.expect("headless Chromium starts");
    let jwt = app.bigcommerce.load_jwt("glance3");
    browser
        .navigate(&app.url(&format!("/load?signed_payload_jwt={jwt}")))
        .await
        .unwrap();
    browser
        .wait_for(
            "document.getElementById('recovery-chart') !== null",
            Duration::from_secs(30),
        )
        .await
        .unwrap();

    // The chart is drawn: five series with a point a day, and revenue bars, at a visible size.
    let drawn = browser
        .eval(
            "(() => { const svg = document.getElementById('recovery-chart'); const box = svg.getBoundingClientRect(); \
             return JSON.stringify({ width: Math.round(box.width) > 100, height: Math.round(box.height) > 50, \
             lines: svg.querySelectorAll('polyline').length, \
             points: svg.querySelector('polyline[data-series=sent]').points.numberOfItems, \
             bars: svg.querySelectorAll('rect[data-day]').length, \
             role: svg.getAttribute('role'), title: svg.querySelector('title').textContent }); })()",
        )
        .await
        .unwrap();
    let drawn: serde_json::Value = serde_json::from_str(drawn.as_str().unwrap()).unwrap();
    assert_eq!(
        drawn,
        serde_json::json!({ "width": true, "height": true, "lines": 5, "points": 30, "bars": 1, "role": "img",
            "title": "Recovery over the last 30 days" })
    );

    // The funnel and the reasons, as the merchant reads them.
    assert_eq!(
        text(&browser, "#recovery-funnel tr[data-stage=abandoned] td").await,
        "5"
    );
    assert_eq!(text(&browser, "#recovery-funnel tr[data-stage=sent] td").await, "2");
    assert_eq!(
        text(&browser, "#recovery-funnel tr[data-stage=revenue] td").await,
        "45.00"
    );
    assert_eq!(
        text(&browser, "#not-sent-reasons tr[data-reason=no_consent] td").await,
        "1"
    );
    assert!(
        text(&browser, "#not-sent-advice")
            .await
            .starts_with("20 percent of abandoned carts had no SMS consent")
    );

    // The table behind the disclosure is hidden until opened, then shows today's figures.
    let visible = "document.querySelector('#recovery-days tbody tr').checkVisibility()";
    assert_eq!(browser.eval(visible).await.unwrap(), serde_json::json!(false));
    browser
        .eval("document.querySelector('#recovery-days summary').click(); true")
        .await
        .unwrap();
    assert_eq!(browser.eval(visible).await.unwrap(), serde_json::json!(true));
    let row = text(&browser, "#recovery-days tbody tr").await;
    assert_eq!(
        row, "2025-11-0452221145.00",
        "the cells of 2025-11-04: 5, 2, 2, 2, 1, 1, 45.00"
    );
    browser
        .screenshot(&output_dir().join("recovery-glance.png"))
        .await
        .unwrap();
}
