//! What opening the settings page costs: DynamoDB and BigCommerce requests per page, and time per page against
//! moto and the simulator on loopback, for connected stores of 2,000 and 50,000 contacts (the cost must not
//! grow with the store); plus the CPU cost of the per-request checks (JWT, session cookie).
//! `cargo xtask bench settings_page [contacts]`.

use chrono::Utc;
use futures::StreamExt;
use integration_tests::install::sms_form;
use integration_tests::{TestApp, builders};
use shared::consent::{ConsentEvent, ConsentEventKind, OptInKeyword, Purpose};
use shared::model::{Contact, ContactSource};
use shared::{Clock, Phone, Secret, StoreHash};
use std::time::{Duration, Instant};

fn contact(store: &StoreHash, phone: Phone) -> Contact {
    let now = Utc::now();
    Contact {
        first_name: Some("Sam".into()),
        last_name: Some("Example".into()),
        email: Some("sam@example.com".into()),
        groups: vec!["Store customers".into()],
        subscribed_in_bigcommerce: Some(false),
        labels: vec!["BigCommerce".into()],
        ..builders::contact(store, &phone, ContactSource::BulkSync, now)
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Connects a store, seeds `contacts` contacts (the first 200 with a consent event) and 30 days of recovery
/// counters, then measures `GET /settings`.
async fn measure(app: &TestApp, hash: &str, contacts: usize) {
    let mut merchant = app.install_app(hash).await;
    let page = app.submit(&mut merchant, "/settings", sms_form()).await;
    assert_eq!(page.status, 200, "{}", page.html);
    let store = StoreHash::parse(hash).unwrap();

    // Contacts (numbers +1415555xxxx, +1628555xxxx, ... are valid mobiles), written with batched writes
    // (`put_contacts`: BatchGetItem to count the new ones, BatchWriteItem, and a transaction adding to the
    // contact count), one chunk at a time: moto copies the whole table for every transaction's rollback, and a
    // copy taken while another chunk writes fails with a 500.
    let started = Instant::now();
    let area_codes = ["415", "628", "650", "510", "408", "925"];
    let phones: Vec<Phone> = (0..contacts)
        .map(|i| {
            let e164 = format!("+1{}555{:04}", area_codes[i / 10_000], i % 10_000);
            Phone::from_e164(&e164).expect("valid mobile")
        })
        .collect();
    let all: Vec<Contact> = phones.iter().map(|p| contact(&store, p.clone())).collect();
    futures::stream::iter(all.chunks(1_000))
        .map(|chunk| async move { app.db().put_contacts(chunk).await.unwrap() })
        .buffer_unordered(1)
        .collect::<Vec<()>>()
        .await;
    let now = Utc::now();
    let events: Vec<ConsentEvent> = phones
        .iter()
        .take(200)
        .enumerate()
        .map(|(i, phone)| {
            ConsentEvent::new(
                store.clone(),
                phone.clone(),
                Purpose::Marketing,
                now,
                now,
                format!("bench:{i}"),
                ConsentEventKind::KeywordOptIn {
                    keyword: OptInKeyword::Start,
                    raw_text: "START".into(),
                    message_id: None,
                },
            )
        })
        .collect();
    app.db().append_consents(&events).await.unwrap();
    for back in 0..30 {
        app.db()
            .add_day_counts(
                &store,
                app.clock.now() - chrono::Duration::days(back),
                &[
                    ("abandoned", 40),
                    ("eligible", 12),
                    ("sent", 12),
                    ("delivered", 11),
                    ("clicked", 4),
                ],
            )
            .await
            .unwrap();
    }
    println!(
        "{hash}: seeded {contacts} contacts ({} with a consent event) in {:.1?}",
        events.len(),
        started.elapsed()
    );

    // Warm up, then measure GET /settings (what every page view and refresh costs).
    for _ in 0..3 {
        app.get_page("/settings", Some(&merchant.cookie)).await;
    }
    let rounds = 20;
    let db_before = app.aws.aws.db.counter().calls();
    let items_before = app.aws.aws.db.counter().items_read();
    let bc_before = app.bigcommerce.requests(hash).len();
    let mut times = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let started = Instant::now();
        let page = app.get_page("/settings", Some(&merchant.cookie)).await;
        times.push(started.elapsed());
        assert_eq!(page.status, 200, "{}", page.html);
        assert!(page.contains(&format!("<td data-state=\"total\">{contacts}</td>")));
        assert!(page.contains("<td data-state=\"subscribed\">200</td>"));
        assert!(page.contains("id=\"recovery-chart\""));
    }
    times.sort();
    let db_calls = (app.aws.aws.db.counter().calls() - db_before) as f64 / rounds as f64;
    let items = (app.aws.aws.db.counter().items_read() - items_before) as f64 / rounds as f64;
    let bc_calls = (app.bigcommerce.requests(hash).len() - bc_before) as f64 / rounds as f64;
    println!(
        "GET /settings, {contacts} contacts ({rounds} loads): p50 {:.1?}, p95 {:.1?}; per load: {db_calls:.1} \
         DynamoDB requests, {items:.1} items read, {bc_calls:.0} BigCommerce requests",
        percentile(&times, 0.5),
        percentile(&times, 0.95),
    );

    // Where the time goes (the emulators are far slower than DynamoDB and BigCommerce).
    let started = Instant::now();
    app.db()
        .recovery_days(&store, app.clock.now().date_naive(), 30)
        .await
        .unwrap();
    println!(
        "  30 days of counters + contacts by consent state (one BatchGetItem): {:.1?}",
        started.elapsed()
    );
    let record = app.db().get_store(&store).await.unwrap().unwrap();
    let client = app.install.bigcommerce.store_client(&record).await.unwrap();
    let started = Instant::now();
    client.hooks().await.unwrap();
    client.scripts().await.unwrap();
    println!(
        "  webhook and script check (2 BigCommerce requests): {:.1?}",
        started.elapsed()
    );
}

fn main() {
    // `cargo xtask bench settings_page [contacts]`: one size, else 2,000 and 50,000.
    let sizes: Vec<usize> = match std::env::args().skip(1).find_map(|a| a.parse().ok()) {
        Some(contacts) => vec![contacts],
        None => vec![2_000, 50_000],
    };
    // `SETTINGS_PAGE_LOG=path`: every function's JSON log lines, written to `path`.
    if let Ok(path) = std::env::var("SETTINGS_PAGE_LOG") {
        let file = std::fs::File::create(&path).expect("log file");
        shared::logging::init_writing_to(std::sync::Mutex::new(file));
    }
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let app = TestApp::start().await;
        for (i, contacts) in sizes.into_iter().enumerate() {
            measure(&app, &format!("bench{}", i + 1), contacts).await;
        }
    });

    // The per-request checks, on their own.
    let secret = Secret::new("bench-client-secret");
    let now = Utc::now().timestamp();
    let claims = sim::bigcommerce::JwtClaims {
        aud: "bench-client".into(),
        iss: "bc".into(),
        iat: now,
        nbf: now,
        exp: now + 86_400,
        jti: "c5f0bcf5-a504-4ae6-8dcc-0e40eaa5a070".into(),
        sub: "stores/bench1".into(),
        user: sim::bigcommerce::JwtUser {
            id: 1,
            email: "owner@example.com".into(),
            locale: None,
        },
        owner: sim::bigcommerce::JwtUser {
            id: 1,
            email: "owner@example.com".into(),
            locale: None,
        },
        url: "/".into(),
        channel_id: None,
    };
    let jwt = sim::bigcommerce::sign_jwt(&claims, secret.expose());
    let n = 100_000;
    let started = Instant::now();
    for _ in 0..n {
        install::jwt::verify(&jwt, "bench-client", &secret, Utc::now()).expect("valid");
    }
    println!("signed_payload_jwt verification: {:.2?} each", started.elapsed() / n);
    let keys = install::session::SessionKeys::derive(&secret);
    let user = shared::model::MerchantUser {
        id: 1,
        email: "owner@example.com".into(),
    };
    let session = install::session::Session::start(StoreHash::parse("bench1").unwrap(), &user, Utc::now());
    let sealed = keys.seal(&session);
    let token = keys.csrf_token(&session);
    let started = Instant::now();
    for _ in 0..n {
        let keys = install::session::SessionKeys::derive(&secret);
        let opened = keys.open(&sealed, Utc::now()).expect("valid");
        assert!(keys.csrf_matches(&opened, &token));
    }
    println!(
        "session cookie + CSRF check (key derivation included): {:.2?} each",
        started.elapsed() / n
    );
}
