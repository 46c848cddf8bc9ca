//! `cargo xtask dev` for real: the functions served by `cargo lambda watch` (one process each), the HTTP API,
//! queue pollers and sweep schedule around them, on a sped-up clock. A merchant installs from the simulated
//! control panel and connects; a customer's live change arrives as a webhook; the sweep finds their cart and
//! the send function texts them.

use chrono::{DateTime, Duration, Timelike, Utc};
use devstack::dev::{DEV_STORE, DevOptions, DevStack, build_functions};
use integration_tests::install::{AppPage, set, sms_form};
use shared::Phone;
use sim::bigcommerce::{CartSeed, CustomerAddress, CustomerSeed, ItemSeed};

/// Virtual time runs this much faster: the 30-minute reminder delay takes 30 s, the sweep runs every 5 s.
const SPEED: u32 = 60;

/// The next 01:00 UTC (midday in Sydney, inside its send window whatever the real time of day).
fn next_sydney_midday(now: DateTime<Utc>) -> DateTime<Utc> {
    let today = now
        .with_hour(1)
        .and_then(|t| t.with_minute(0))
        .and_then(|t| t.with_second(0))
        .unwrap();
    if today > now { today } else { today + Duration::days(1) }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn install_setup_webhook_sweep_and_sms_through_cargo_lambda_watch() {
    // The test build's features: the functions' libraries are already compiled, only the binaries link.
    let features = "shared/failpoints";
    tokio::task::spawn_blocking(move || build_functions(Some(features)))
        .await
        .unwrap()
        .unwrap();
    let watch_port = free_port();
    let stack = DevStack::start(DevOptions {
        port: 0,
        watch_port,
        speed: SPEED,
        virtual_start: Some(next_sydney_midday(Utc::now())),
        retry_after_seconds: 1,
        log_dir: std::env::temp_dir().join(integration_tests::unique_prefix()),
        features: Some(features.to_owned()),
        ..DevOptions::default()
    })
    .await
    .unwrap();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    // The control panel's Install button sends the browser to the app's auth callback.
    let install = http.get(stack.install_url().unwrap()).send().await.unwrap();
    assert_eq!(install.status(), 302);
    let callback = install.headers()["location"].to_str().unwrap().to_owned();
    assert!(callback.starts_with(&format!("{}/auth?", stack.app_url)), "{callback}");
    let setup = AppPage::read(http.get(&callback).send().await.unwrap()).await;
    assert_eq!(setup.status, 200, "{}", setup.html);
    let cookie = setup.cookie.clone().expect("the setup page starts a session");

    // Setup: inferred consent (lawful for Australian recipients), contacts synced.
    let mut form = sms_form();
    set(&mut form, "consent_option", Some("inferred"));
    set(&mut form, "inferred_acknowledged", Some("on"));
    // From the SMS account's own numbers: a sender of the store's own needs the operator's approval first.
    set(&mut form, "sender_id", None);
    set(&mut form, "csrf", Some(&setup.csrf()));
    set(&mut form, "based_on_version", Some(&setup.based_on_version()));
    let connected = AppPage::read(
        http.post(format!("{}/settings", stack.local_url))
            .header("cookie", &cookie)
            .form(&form)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(connected.status, 200, "{}", connected.html);
    let sim = stack.bigcommerce.as_ref().unwrap();
    assert!(!sim.hooks(DEV_STORE).is_empty(), "install registered the webhooks");

    // A new customer signs up and fills a cart: webhooks → webhooks function → sync queue → sync function.
    let phone = Phone::parse("+61412555901", None).unwrap();
    let customer = sim
        .create_customer(
            DEV_STORE,
            CustomerSeed {
                email: "ava@example.com".into(),
                first_name: "Ava".into(),
                last_name: "Nguyen".into(),
                phone: "0412 555 901".into(),
                addresses: vec![CustomerAddress {
                    first_name: "Ava".into(),
                    last_name: "Nguyen".into(),
                    city: "Sydney".into(),
                    country: "Australia".into(),
                    country_code: "AU".into(),
                    phone: "0412 555 901".into(),
                    ..CustomerAddress::default()
                }],
                ..CustomerSeed::default()
            },
        )
        .await;
    sim.create_cart(
        DEV_STORE,
        CartSeed {
            customer_id: customer,
            email: "ava@example.com".into(),
            items: vec![ItemSeed::new("Linen Shirt", 1, 48.0)],
            ..CartSeed::default()
        },
    )
    .await;

    // Thirty virtual minutes later a scheduled sweep finds the cart due and the send function texts Ava.
    let sandbox = stack.sms.as_ref().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(240);
    let reminder = loop {
        if let Some(message) = sandbox.messages_to(phone.as_e164()).into_iter().next() {
            break message;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no reminder within 4 minutes; logs: {}",
            std::fs::read_to_string(&stack.log_file).unwrap_or_default()
        );
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    };
    assert!(reminder.content.contains("Hi Ava"), "{}", reminder.content);
    assert!(reminder.content.contains("Linen Shirt"), "{}", reminder.content);
    assert!(
        reminder.content.contains(&format!("{}/r/", stack.app_url)),
        "{}",
        reminder.content
    );
    assert_eq!(sandbox.messages_to(phone.as_e164()).len(), 1, "exactly one");

    // Ctrl-C's path: everything stops; the watch server no longer listens.
    let log_file = stack.log_file.clone();
    stack.stop().await;
    assert!(
        tokio::net::TcpStream::connect(("127.0.0.1", watch_port)).await.is_err(),
        "the watch server stopped"
    );
    let logs = std::fs::read_to_string(log_file).unwrap();
    for function in ["install", "webhooks", "sync", "sweep", "send"] {
        assert!(
            logs.contains(&format!("function=\"{function}\"")),
            "{function} ran under the watch server"
        );
    }
    assert!(!logs.contains(phone.as_e164()), "no full phone number in the logs");
}
