//! `cargo xtask bench cost`: what one typical store costs in AWS requests and Lambda time, through the real
//! handlers (TestApp: moto, the BigCommerce simulator, the SMS sandbox, one manual clock). A 10,000-customer
//! bulk sync, then each day 200 abandoned carts (40 percent ticking the consent box at checkout), 20 of
//! them recovered through the reminder's link, 30 replies and 50 live customer updates, with the sweep every
//! 5 minutes and the send function on what it enqueues. A month is the bulk sync once plus 30 of the days
//! measured: `-- --days N` (default 3) simulated days scaled to 30, `--customers N` (default 10000);
//! `--no-settings-cache` for the baseline without the warm-Lambda cache of settings versions.
//!
//! Counted: every request of the app's DynamoDB (with request units), SQS and EventBridge clients (an SDK
//! interceptor), and every handler invocation with its duration, billed rounded up to the millisecond at the
//! template's memory size. Priced below with AWS's published on-demand prices; the SMS are the provider's.

use chrono::Duration;
use integration_tests::metering::OperationCount;
use integration_tests::{TestApp, TestAppOptions};
use shared::StoreHash;
use sim::bigcommerce::{BillingAddress, CartSeed, ItemSeed};
use std::collections::BTreeMap;

// AWS on-demand prices, us-east-1, as published on the AWS pricing pages on 2026-12-03.
/// DynamoDB on-demand, Standard table class: per million write request units.
const DYNAMODB_PER_MILLION_WRITE_UNITS: f64 = 0.625;
/// DynamoDB on-demand, Standard table class: per million read request units.
const DYNAMODB_PER_MILLION_READ_UNITS: f64 = 0.125;
/// SQS standard queues: per million requests (each 64 KB chunk; beyond the free tier).
const SQS_PER_MILLION_REQUESTS: f64 = 0.40;
/// EventBridge: per million custom events published (each 64 KB chunk).
const EVENTBRIDGE_PER_MILLION_EVENTS: f64 = 1.00;
/// Lambda: per million requests.
const LAMBDA_PER_MILLION_REQUESTS: f64 = 0.20;
/// Lambda on arm64 (Graviton): per GB-second, first pricing tier.
const LAMBDA_ARM_PER_GB_SECOND: f64 = 0.000_013_333_4;
/// The SMS provider's price per message segment (Twilio's published US rate on the same date, before
/// carrier fees; MessageMedia's is by contract).
const SMS_PER_SEGMENT: f64 = 0.0083;

const STORE: &str = "cost01";
const STOREFRONT: &str = "https://sim-store.example.com";
const CARTS_PER_DAY: usize = 200;
const CONSENTED_PER_5: usize = 2;
const RECOVERED_PER_DAY: usize = 20;
const REPLIES_PER_DAY: usize = 30;
const CUSTOMER_UPDATES_PER_DAY: usize = 50;
const TICKS_PER_DAY: usize = 24 * 12;

fn option(args: &[String], name: &str, default: usize) -> usize {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The template's `MemorySize` (Globals), in MB.
fn memory_mb() -> f64 {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml")).expect("template");
    text.lines()
        .find_map(|line| line.trim().strip_prefix("MemorySize:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("template sets MemorySize")
}

/// What the app asked of AWS over a stretch of the script.
#[derive(Debug, Clone, Default)]
struct Usage {
    requests: BTreeMap<(String, String), OperationCount>,
    /// DynamoDB reads by the kind of item read (see `AwsRequests::reads`).
    reads: BTreeMap<String, u64>,
    /// Invocations and billed milliseconds (each rounded up), by function.
    invocations: BTreeMap<String, (u64, u64)>,
}

impl Usage {
    fn now(app: &TestApp) -> Self {
        let invocations = app
            .invocations
            .snapshot()
            .into_iter()
            .map(|(name, durations)| {
                let billed = durations.iter().map(|d| d.as_micros().div_ceil(1000) as u64).sum();
                (name, (durations.len() as u64, billed))
            })
            .collect();
        Self {
            requests: app.aws.requests.snapshot(),
            reads: app.aws.requests.reads(),
            invocations,
        }
    }

    fn minus(&self, earlier: &Usage) -> Usage {
        let mut requests = self.requests.clone();
        for (key, before) in &earlier.requests {
            let count = requests.entry(key.clone()).or_default();
            count.requests -= before.requests;
            count.read_units -= before.read_units;
            count.write_units -= before.write_units;
        }
        let mut reads = self.reads.clone();
        for (kind, before) in &earlier.reads {
            *reads.entry(kind.clone()).or_default() -= before;
        }
        let mut invocations = self.invocations.clone();
        for (name, (n, ms)) in &earlier.invocations {
            let entry = invocations.entry(name.clone()).or_default();
            entry.0 -= n;
            entry.1 -= ms;
        }
        Usage {
            requests,
            reads,
            invocations,
        }
    }

    fn plus_scaled(&self, other: &Usage, factor: f64) -> Usage {
        let mut sum = self.clone();
        for (key, count) in &other.requests {
            let entry = sum.requests.entry(key.clone()).or_default();
            entry.requests += (count.requests as f64 * factor).round() as u64;
            entry.read_units += count.read_units * factor;
            entry.write_units += count.write_units * factor;
        }
        for (kind, n) in &other.reads {
            *sum.reads.entry(kind.clone()).or_default() += (*n as f64 * factor).round() as u64;
        }
        for (name, (n, ms)) in &other.invocations {
            let entry = sum.invocations.entry(name.clone()).or_default();
            entry.0 += (*n as f64 * factor).round() as u64;
            entry.1 += (*ms as f64 * factor).round() as u64;
        }
        sum
    }

    fn service(&self, service: &str) -> OperationCount {
        self.requests
            .iter()
            .filter(|((s, _), _)| s.eq_ignore_ascii_case(service))
            .fold(OperationCount::default(), |mut total, (_, c)| {
                total.requests += c.requests;
                total.read_units += c.read_units;
                total.write_units += c.write_units;
                total
            })
    }

    fn operation(&self, service: &str, operation: &str) -> u64 {
        self.requests
            .iter()
            .filter(|((s, o), _)| s.eq_ignore_ascii_case(service) && o == operation)
            .map(|(_, c)| c.requests)
            .sum()
    }
}

/// Dollars by service.
struct Bill {
    dynamodb: f64,
    sqs: f64,
    eventbridge: f64,
    lambda_requests: f64,
    lambda_duration: f64,
}

impl Bill {
    fn of(usage: &Usage, memory_mb: f64) -> Self {
        let dynamodb = usage.service("dynamodb");
        // Lambda's SQS pollers receive and delete each message (batches of one at the template's sizes
        // for send; an upper bound elsewhere); their empty long polls are per deployment, not per store.
        let sent = usage.operation("sqs", "SendMessage") + usage.operation("sqs", "SendMessageBatch");
        let sqs = usage.service("sqs").requests + 2 * sent;
        let events = usage.operation("eventbridge", "PutEvents");
        let (invocations, billed_ms) = usage
            .invocations
            .values()
            .fold((0, 0), |(n, ms), (i, m)| (n + i, ms + m));
        Self {
            dynamodb: dynamodb.write_units * DYNAMODB_PER_MILLION_WRITE_UNITS / 1e6
                + dynamodb.read_units * DYNAMODB_PER_MILLION_READ_UNITS / 1e6,
            sqs: sqs as f64 * SQS_PER_MILLION_REQUESTS / 1e6,
            eventbridge: events as f64 * EVENTBRIDGE_PER_MILLION_EVENTS / 1e6,
            lambda_requests: invocations as f64 * LAMBDA_PER_MILLION_REQUESTS / 1e6,
            lambda_duration: billed_ms as f64 / 1000.0 * memory_mb / 1024.0 * LAMBDA_ARM_PER_GB_SECOND,
        }
    }

    fn total(&self) -> f64 {
        self.dynamodb + self.sqs + self.eventbridge + self.lambda_requests + self.lambda_duration
    }
}

fn uk_phone(n: usize) -> String {
    format!("+447700{:06}", 100_000 + n)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let days = option(&args, "--days", 3);
    let customers = option(&args, "--customers", 10_000);
    let memory = memory_mb();
    let settings_cache = !args.iter().any(|a| a == "--no-settings-cache");

    let app = TestApp::start_with(TestAppOptions {
        // A Monday, midnight in London (the shoppers' time zone).
        start: integration_tests::at("2026-11-02T00:00:00Z"),
        // A Plus plan's quota: the bulk sync is not what is measured here, its requests are.
        requests_per_window: 10_000,
        settings_versions_kept: if settings_cache {
            shared::db::SETTINGS_CACHE_CAP
        } else {
            0
        },
        ..TestAppOptions::default()
    })
    .await;
    let store = app.seed_store(STORE, |_| {}).await;
    let hash = StoreHash::parse(STORE).expect("valid");

    // 1. The bulk sync of the store's customers (once).
    app.bigcommerce.hold_webhooks(true);
    app.bigcommerce.seed_customers(STORE, customers);
    app.bigcommerce.hold_webhooks(false);
    let start = Usage::now(&app);
    integration_tests::contact_sync::start_bulk_sync(&app, &hash, "cost-bulk").await;
    app.drain_sync().await;
    let after_bulk = Usage::now(&app);
    let bulk = after_bulk.minus(&start);
    let customer_ids: Vec<u64> = app.bigcommerce.customers(STORE).iter().map(|c| c.id).collect();

    // 2. The days.
    let version = store.settings.disclosure_version.clone().expect("seeded disclosure");
    let mut sweeps = Usage::default();
    let mut carts = 0usize;
    let mut reminded: Vec<(String, String)> = Vec::new();
    let mut recovered = 0usize;
    let mut replies = 0usize;
    let mut updates = 0usize;
    let mut capture_failures = 0usize;
    let sms_before = app.sms.messages().len();
    for day in 0..days {
        let mut day_recovered = 0;
        let mut day_replies = 0;
        for tick in 0..TICKS_PER_DAY {
            app.clock.advance(Duration::minutes(5));
            // Carts spread over the day.
            let due_carts = (tick + 1) * CARTS_PER_DAY / TICKS_PER_DAY - tick * CARTS_PER_DAY / TICKS_PER_DAY;
            for _ in 0..due_carts {
                let phone = uk_phone(carts);
                let cart_id = app
                    .bigcommerce
                    .create_cart(
                        STORE,
                        CartSeed {
                            items: vec![ItemSeed::new("Linen Shirt", 1, 48.0)],
                            ..CartSeed::default()
                        },
                    )
                    .await;
                app.bigcommerce
                    .set_billing_address(
                        STORE,
                        &cart_id,
                        BillingAddress {
                            first_name: "Jane".into(),
                            last_name: "Example".into(),
                            email: format!("shopper{carts}@example.com"),
                            city: "London".into(),
                            country_code: "GB".into(),
                            postal_code: "N1 9GU".into(),
                            phone: phone.clone(),
                            ..BillingAddress::default()
                        },
                    )
                    .await;
                if carts % 5 < CONSENTED_PER_5 {
                    let body = serde_json::json!({
                        "store": STORE,
                        "cart_id": cart_id,
                        "phone": phone,
                        "country": "GB",
                        "checked": true,
                        "page_url": format!("{STOREFRONT}/checkout"),
                        "disclosure_version": version,
                    });
                    let response = app
                        .http
                        .post(app.url("/consent"))
                        .header("origin", STOREFRONT)
                        .header("content-type", "text/plain;charset=UTF-8")
                        .body(body.to_string())
                        .send()
                        .await
                        .expect("the capture endpoint answers");
                    // Under this VM's load an AWS call can run out of retries (503): counted, not fatal.
                    if !response.status().is_success() {
                        capture_failures += 1;
                    }
                }
                carts += 1;
            }
            let due_updates =
                (tick + 1) * CUSTOMER_UPDATES_PER_DAY / TICKS_PER_DAY - tick * CUSTOMER_UPDATES_PER_DAY / TICKS_PER_DAY;
            for _ in 0..due_updates {
                let id = customer_ids[(updates * 7_919) % customer_ids.len()];
                app.bigcommerce
                    .update_customer(STORE, id, |c| c.last_name = format!("Updated{updates}"))
                    .await;
                updates += 1;
            }
            app.drain_sync().await;

            let before = Usage::now(&app);
            app.run_sweep().await;
            sweeps = sweeps.plus_scaled(&Usage::now(&app).minus(&before), 1.0);
            app.drain_send().await;

            // Shoppers who got a reminder: some come back through its link and buy, some reply.
            for message in app.sms.messages().iter().skip(sms_before + reminded.len()) {
                if let Some(cart_id) = message.metadata.get("cart_id").map(String::as_str) {
                    reminded.push((message.to.clone(), cart_id.to_owned()));
                    let token = integration_tests::recovery::link_token(&message.content);
                    if day_recovered < RECOVERED_PER_DAY && reminded.len().is_multiple_of(3) {
                        app.http
                            .get(app.url(&format!("/r/{token}")))
                            .send()
                            .await
                            .expect("the recovery link answers");
                        app.bigcommerce.place_order(STORE, cart_id, 11).await;
                        day_recovered += 1;
                        recovered += 1;
                    } else if day_replies < REPLIES_PER_DAY {
                        let text = if day_replies % 10 == 0 { "STOP" } else { "Thanks!" };
                        app.sms
                            .reply(
                                &message.to,
                                message.from.as_deref().unwrap_or(integration_tests::replies::SENDER),
                                text,
                            )
                            .await
                            .expect("the reply reaches the app");
                        day_replies += 1;
                        replies += 1;
                    }
                }
            }
            app.drain_sync().await;
            if tick % 48 == 47 {
                eprintln!(
                    "  day {}, hour {}: {carts} carts, {} reminders",
                    day + 1,
                    (tick + 1) / 12,
                    reminded.len()
                );
            }
        }
        eprintln!(
            "  day {}: {carts} carts, {} reminders, {recovered} recovered, {replies} replies, {updates} updates, \
             {capture_failures} consent captures failed",
            day + 1,
            reminded.len()
        );
    }
    let period = Usage::now(&app).minus(&after_bulk);
    let reminders = reminded.len();
    let texts = app.sms.messages().len() - sms_before;

    let scale = 30.0 / days as f64;
    let month = bulk.plus_scaled(&period, scale);
    let bill = Bill::of(&month, memory);
    let sweep_bill = Bill::of(&Usage::default().plus_scaled(&sweeps, scale), memory);
    let bulk_bill = Bill::of(&bulk, memory);
    let month_reminders = reminders as f64 * scale;

    println!(
        "cost per store: a month = bulk sync of {customers} customers + {days} simulated days x {scale:.1} \
         (2-core VM, moto; durations as measured here, at MemorySize {memory} MB, arm64, us-east-1); \
         settings cache {}",
        if settings_cache { "on" } else { "off" }
    );
    println!(
        "  per day measured: {} carts, {} reminders sent, {} recovered, {} replies, {} customer updates, {} texts in all",
        carts / days,
        reminders / days,
        recovered / days,
        replies / days,
        updates / days,
        texts / days
    );
    println!("  requests per month:");
    for ((service, operation), count) in &month.requests {
        if count.requests == 0 {
            continue;
        }
        println!(
            "    {service:<12} {operation:<22} {:>10}   RRU {:>10.0}  WRU {:>10.0}",
            count.requests, count.read_units, count.write_units
        );
    }
    println!("  DynamoDB reads per month by item kind (most first):");
    let mut reads: Vec<_> = month.reads.iter().filter(|(_, n)| **n > 0).collect();
    reads.sort_by_key(|(_, n)| std::cmp::Reverse(**n));
    for (kind, n) in reads {
        println!("    {kind:<44} {n:>10}");
    }
    println!("  invocations per month (billed ms, rounded up per invocation):");
    for (name, (n, ms)) in &month.invocations {
        println!(
            "    {name:<10} {n:>8} invocations {:>10.1} s  ({:.1} ms mean)",
            *ms as f64 / 1000.0,
            *ms as f64 / (*n).max(1) as f64
        );
    }
    println!("  monthly cost per store (USD):");
    for (name, value, sweep_part) in [
        ("DynamoDB", bill.dynamodb, sweep_bill.dynamodb),
        ("SQS", bill.sqs, sweep_bill.sqs),
        ("EventBridge", bill.eventbridge, sweep_bill.eventbridge),
        ("Lambda requests", bill.lambda_requests, sweep_bill.lambda_requests),
        ("Lambda duration", bill.lambda_duration, sweep_bill.lambda_duration),
    ] {
        println!("    {name:<16} {value:>9.4}   (sweep schedule: {sweep_part:.4})");
    }
    println!(
        "    {:<16} {:>9.4}   (sweep schedule {:.4}, shared by every store of a deployment; bulk sync {:.4})",
        "total AWS",
        bill.total(),
        sweep_bill.total(),
        bulk_bill.total()
    );
    println!(
        "  per 1,000 reminders sent: AWS {:.4} USD ({:.4} without the sweep schedule); SMS apart: {:.2} USD \
         ({} texts a month incl. replies' answers, at {SMS_PER_SEGMENT} per segment)",
        bill.total() / month_reminders * 1000.0,
        (bill.total() - sweep_bill.total()) / month_reminders * 1000.0,
        1000.0 * SMS_PER_SEGMENT,
        (texts as f64 * scale).round()
    );
}
