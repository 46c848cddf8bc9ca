//! `cargo xtask bench sync`: a bulk sync of 20,000 customers against a store quota of 40 requests per 30
//! seconds, through the real handlers, the bulk sync queue's event source (two consumers, as the template's
//! `MaximumConcurrency`), moto and the simulator. Prints wall time against the quota-bound minimum, the
//! requests made, the 429s, DynamoDB calls per 100 contacts and lost contacts.
//!
//! Options: `-- --customers N` (default 20000), `--quota Q` (default 40 per 30 s). `--customers 2000 --quota 4`
//! is the same shape (as many quota windows) on a table a tenth the size.

use integration_tests::contact_sync::start_bulk_sync;
use integration_tests::{TestApp, TestAppOptions};
use shared::model::SyncJobStatus;
use shared::{Phone, StoreHash};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(30);

fn option(args: &[String], name: &str, default: usize) -> usize {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let customers = option(&args, "--customers", 20_000);
    let quota = option(&args, "--quota", 40) as u32;

    let app = TestApp::start_with(TestAppOptions::default()).await;
    let hash = "bench01";
    let seeded = app.seed_store(hash, |_| {}).await;
    app.bigcommerce.hold_webhooks(true);
    for name in ["Wholesale", "VIP", "Staff"] {
        app.bigcommerce.create_customer_group(hash, name);
    }
    let summary = app.bigcommerce.seed_customers(hash, customers);
    // Distinct usable numbers: what the contact list must hold (some seeded customers share a number).
    let expected: BTreeSet<Phone> = app
        .bigcommerce
        .customers(hash)
        .iter()
        .filter_map(|c| Phone::parse(&c.phone, c.addresses.first().map(|a| a.country_code.as_str())).ok())
        .collect();
    app.bigcommerce.set_rate_limit(hash, quota, WINDOW);
    let store = StoreHash::parse(hash).unwrap();
    let before_requests = app.bigcommerce.stats(hash);
    let before_calls = app.aws.aws.db.counter().calls();
    let client_before = app.sync.bigcommerce.stats();

    let started = Instant::now();
    start_bulk_sync(&app, &store, "bench-job").await;
    // Two consumers, like the event source mapping's MaximumConcurrency: 2.
    let consumer = || async {
        loop {
            let outcome = app.bulk_sync_queue.poll_once(1).await.expect("poll");
            if outcome.received == 0 {
                let job = app.db().get_sync_job(&store, "bench-job").await.unwrap().unwrap();
                if job.status != SyncJobStatus::Running {
                    return;
                }
            }
        }
    };
    tokio::join!(consumer(), consumer());
    let elapsed = started.elapsed();

    let job = app.db().get_sync_job(&store, "bench-job").await.unwrap().unwrap();
    let calls = app.aws.aws.db.counter().calls() - before_calls;
    let stats = app.bigcommerce.stats(hash);
    let client = app.sync.bigcommerce.stats();
    let requests = stats.requests - before_requests.requests;
    let rate_limited = stats.rate_limited - before_requests.rate_limited;
    let stored: BTreeSet<Phone> = app
        .db()
        .store_contacts(&store)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.phone)
        .collect();
    let lost = expected.difference(&stored).count();

    // The fixed window starts with the first request: the last of R requests can go out at the start of
    // window ceil(R / quota), i.e. (ceil(R / quota) - 1) windows after the first.
    let needed = requests - rate_limited;
    let windows = needed.div_ceil(u64::from(quota)).saturating_sub(1);
    let minimum = WINDOW * windows as u32;
    let steady = WINDOW.as_secs_f64() * needed as f64 / f64::from(quota);

    println!(
        "bulk sync benchmark ({} customers, quota {quota} per {}s)",
        customers,
        WINDOW.as_secs()
    );
    println!(
        "  job: {:?}, pages {}/{} ({} failed)",
        job.status, job.pages_done, job.total_pages, job.pages_failed
    );
    println!(
        "  customers: {} with a usable phone, {} without, {} invalid; {} distinct numbers",
        summary.with_valid_phone,
        summary.without_phone,
        summary.with_invalid_phone,
        expected.len()
    );
    println!("  wall time: {:.1} s", elapsed.as_secs_f64());
    println!(
        "  quota-bound minimum: {:.1} s (fixed windows; {:.1} s at the steady rate) -> ratio {:.2}",
        minimum.as_secs_f64(),
        steady,
        elapsed.as_secs_f64() / minimum.as_secs_f64().max(1.0)
    );
    println!(
        "  BigCommerce requests: {requests} ({} needed), 429s: {rate_limited}; client paced {} times, retried {}",
        needed,
        client.paced - client_before.paced,
        client.retries - client_before.retries
    );
    println!(
        "  DynamoDB calls: {calls} = {:.1} per 100 contacts stored ({:.1} per 100 customers with a usable phone)",
        calls as f64 * 100.0 / stored.len().max(1) as f64,
        calls as f64 * 100.0 / summary.with_valid_phone.max(1) as f64
    );
    println!("  contacts stored: {}, lost: {lost}", stored.len());

    assert_eq!(lost, 0, "no contact may be lost");
    assert_eq!(job.status, SyncJobStatus::Completed);
    let _ = seeded;
}
