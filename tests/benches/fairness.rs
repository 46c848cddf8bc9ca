//! `cargo xtask bench fairness`: does one store's bulk sync delay the other stores' live work?
//!
//! Store A imports its customers (a bulk sync at its own API quota) while stores B..K each receive live
//! customer updates (BigCommerce webhooks, delivered over HTTP to the real `webhooks` handler) and STOP replies
//! (SMS callbacks from the sandbox) at a steady rate. The queues are consumed as Lambda consumes them: each
//! event source of the template with its own `MaximumConcurrency` (`SqsEventSource::run`). Reported for B..K,
//! p50 and p99 of:
//! - update: from the webhook delivery to the contact in DynamoDB carrying the new phone number;
//! - STOP: from the reply's callback to the consent write-back seen by the simulator (the customer's
//!   `sms_consent/status` metafield says unsubscribed);
//!
//! first with A idle, then with A syncing, and their ratio (the goal: p99 within 2x).
//!
//! Environment: `FAIRNESS_CUSTOMERS` (A's customers, default 100000), `FAIRNESS_QUOTA` (A's API requests per
//! 30 s, default 150 as on Standard and Plus plans), `FAIRNESS_EVENTS` (updates and STOPs
//! per store and phase, default 6), `FAIRNESS_INTERVAL_MS` (between one store's events, default 10000),
//! `FAIRNESS_SHARED_QUEUE=1` (bulk sync on the live queue, as before it had its own: the baseline),
//! `FAIRNESS_LOG=path` (every function's JSON log lines, with a timestamp each, written to `path`),
//! `BULK_IMPORT_CONTACTS_PER_SECOND` (the deployment's bulk-import budget, as in template.yaml; unset: unpaced).

use integration_tests::{SeededStore, TestApp, TestAppOptions, at};
use shared::model::SenderSharing;
use shared::{Phone, StoreHash};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

const LIVE_STORES: usize = 10;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// One live store (B..K) and its customers: `updates[i]` gets a new phone number in round i, `stops[i]`
/// (subscribed) replies STOP in round i.
struct LiveStore {
    seeded: SeededStore,
    sender: String,
    updates: Vec<u64>,
    stops: Vec<(u64, Phone)>,
}

#[derive(Default)]
struct Samples {
    update_ms: Vec<f64>,
    stop_ms: Vec<f64>,
    /// The watcher's own DynamoDB reads: how loaded the emulator every function shares is.
    read_ms: Vec<f64>,
}

/// What was sent and not seen yet.
enum Pending {
    Update {
        store: StoreHash,
        phone: Phone,
        customer_id: u64,
        sent: Instant,
    },
    Stop {
        store: String,
        customer_id: u64,
        sent: Instant,
    },
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let customers = env("FAIRNESS_CUSTOMERS", 100_000) as usize;
    let events = env("FAIRNESS_EVENTS", 6) as usize;
    let interval = Duration::from_millis(env("FAIRNESS_INTERVAL_MS", 10_000));
    let shared_queue = env("FAIRNESS_SHARED_QUEUE", 0) == 1;
    let quota = env("FAIRNESS_QUOTA", 150) as u32;
    // The deployment's variable, read as the sync function reads it.
    let budget = shared::config::bulk_import_contacts_per_second(&shared::config::Env::from_process())
        .expect("a valid BULK_IMPORT_CONTACTS_PER_SECOND");
    if let Ok(path) = std::env::var("FAIRNESS_LOG") {
        let file = std::fs::File::create(&path).expect("log file");
        shared::logging::init_writing_to(std::sync::Mutex::new(file));
    }

    let app = Arc::new(
        TestApp::start_with(TestAppOptions {
            start: at("2026-11-25T15:00:00Z"),
            shared_sync_queue: shared_queue,
            bulk_import_contacts_per_second: budget,
            ..TestAppOptions::default()
        })
        .await,
    );
    app.messagemedia_callback();
    // The app's clock follows the wall clock, as on AWS, so leases lapse: a STOP callback whose lease a
    // failed release left held is done by the provider's next retry after the minute, not never.
    tokio::spawn({
        let clock = app.clock.clone();
        async move {
            let mut second = tokio::time::interval(Duration::from_secs(1));
            second.tick().await;
            loop {
                second.tick().await;
                clock.advance(chrono::Duration::seconds(1));
            }
        }
    });
    let bulk = app.seed_store("fairaa", |_| {}).await;
    app.bigcommerce.hold_webhooks(true);
    app.bigcommerce.seed_customers("fairaa", customers);
    app.bigcommerce.set_rate_limit("fairaa", quota, Duration::from_secs(30));
    let mut stores = Vec::new();
    for s in 0..LIVE_STORES {
        stores.push(live_store(&app, s, 2 * events).await);
    }
    app.bigcommerce.hold_webhooks(false);

    // The sync function on each of its queues, as the template's event source mappings run it.
    let consumers = [
        tokio::spawn({
            let app = app.clone();
            async move { app.sync_queue.run(1).await }
        }),
        tokio::spawn({
            let app = app.clone();
            async move { app.bulk_sync_queue.run(1).await }
        }),
    ];

    println!(
        "fairness: store A bulk-syncs {customers} customers (quota {} requests per 30 s) while {LIVE_STORES} \
         stores each get a customer update and a STOP every {} ms ({events} of each per phase)",
        quota,
        interval.as_millis()
    );
    println!(
        "queues: {}; live concurrency {}, bulk concurrency {}",
        if shared_queue {
            "ONE shared sync queue (baseline: bulk sync on the live queue)"
        } else {
            "live and bulk sync queues"
        },
        app.sync_queue.max_concurrency(),
        app.bulk_sync_queue.max_concurrency()
    );
    println!(
        "bulk-import budget: {}",
        budget.map_or("none (unpaced)".to_owned(), |b| format!("{b} contacts per second"))
    );
    println!("machine: {}; moto at {}", machine(), moto());

    let idle = phase(&app, &stores, 0..events, interval).await;
    println!("A idle: done");

    let job = "fairness-job";
    integration_tests::contact_sync::start_bulk_sync(&app, &bulk.store_hash, job).await;
    // Let the start fan out before the live load begins.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let syncing = phase(&app, &stores, events..2 * events, interval).await;
    let progress = app
        .db()
        .get_sync_job(&bulk.store_hash, job)
        .await
        .expect("job read")
        .expect("job exists");
    for consumer in consumers {
        consumer.abort();
    }

    println!(
        "store A at the end: {:?}, {} of {} pages done, {} contacts imported",
        progress.status, progress.pages_done, progress.total_pages, progress.contacts_imported
    );
    println!(
        "{:<38} {:>10} {:>10} {:>10} {:>10} {:>8}",
        "latency for B..K (ms)", "idle p50", "idle p99", "sync p50", "sync p99", "p99 x"
    );
    row("webhook -> contact updated", &idle.update_ms, &syncing.update_ms);
    row("STOP -> write-back in BigCommerce", &idle.stop_ms, &syncing.stop_ms);
    row("(one DynamoDB read in moto)", &idle.read_ms, &syncing.read_ms);
}

/// A live store with its own approved sender, `n` customers to update and `n` subscribed customers to reply
/// STOP (webhooks are held meanwhile, so setting up queues nothing).
async fn live_store(app: &TestApp, s: usize, n: usize) -> LiveStore {
    let sender = format!("+1212555{:04}", 200 + s);
    let seeded = app
        .seed_store(&format!("fair{s:02}"), |settings| {
            settings.sender_id = Some(sender.clone())
        })
        .await;
    app.approve_sender(&seeded, SenderSharing::Exclusive).await;
    let hash = seeded.store_hash.as_str().to_owned();
    let mut updates = Vec::new();
    let mut stops = Vec::new();
    for i in 0..n {
        let customer = |kind: &str, phone: String| sim::bigcommerce::CustomerSeed {
            email: format!("{kind}{i}@{hash}.example.com"),
            phone,
            ..Default::default()
        };
        updates.push(
            app.bigcommerce
                .create_customer(&hash, customer("update", format!("(512) 3{s:02}-{i:04}")))
                .await,
        );
        let phone = Phone::parse(&format!("(212) 4{s:02}-{i:04}"), Some("US")).expect("valid number");
        let id = app
            .bigcommerce
            .create_customer(&hash, customer("stop", phone.as_e164().to_owned()))
            .await;
        app.put_contact(&seeded.store_hash, &phone, Some(id)).await;
        app.subscribe(&seeded, &phone).await;
        stops.push((id, phone));
    }
    LiveStore {
        seeded,
        sender,
        updates,
        stops,
    }
}

/// Every live store sends rounds `rounds` (one update and one STOP each, `interval` apart, stores staggered);
/// a watcher times each until its effect is seen.
async fn phase(
    app: &Arc<TestApp>,
    stores: &[LiveStore],
    rounds: std::ops::Range<usize>,
    interval: Duration,
) -> Samples {
    let pending: Arc<Mutex<Vec<Pending>>> = Arc::default();
    let samples: Arc<Mutex<Samples>> = Arc::default();
    let expected = 2 * stores.len() * rounds.len();
    let watcher = tokio::spawn(watch(app.clone(), pending.clone(), samples.clone(), expected));
    let stagger = interval / stores.len() as u32;
    let senders: Vec<_> = stores
        .iter()
        .enumerate()
        .map(|(s, store)| {
            let (app, pending, rounds) = (app.clone(), pending.clone(), rounds.clone());
            let hash = store.seeded.store_hash.clone();
            let sender = store.sender.clone();
            let updates = store.updates.clone();
            let stops = store.stops.clone();
            async move {
                tokio::time::sleep(stagger * s as u32).await;
                let mut ticks = tokio::time::interval(interval);
                for round in rounds {
                    ticks.tick().await;
                    let customer_id = updates[round];
                    let number = format!("(512) 6{s:02}-{round:04}");
                    let phone = Phone::parse(&number, Some("US")).expect("valid number");
                    let sent = Instant::now();
                    app.bigcommerce
                        .update_customer(hash.as_str(), customer_id, |c| c.phone = number.clone())
                        .await;
                    pending.lock().await.push(Pending::Update {
                        store: hash.clone(),
                        phone,
                        customer_id,
                        sent,
                    });
                    let (customer_id, phone) = &stops[round];
                    let sent = Instant::now();
                    match app.sms.reply(phone.as_e164(), &sender, "STOP").await {
                        Ok(delivery) if delivery.status >= 500 => {
                            // Not taken now: the provider retries (MessageMedia: up to 5 times, 5 to 60 s
                            // apart as the account sets it; here 60 s, past a held 1-minute lease). Timed from
                            // the first push.
                            println!("  a STOP callback was answered {}; retried", delivery.status);
                            let app = app.clone();
                            tokio::spawn(async move {
                                for _ in 0..5 {
                                    tokio::time::sleep(Duration::from_secs(60)).await;
                                    match app.sms.redeliver(&delivery).await {
                                        Ok(answer) if answer.status < 500 => return,
                                        _ => println!("  a STOP callback retry was not taken"),
                                    }
                                }
                            });
                        }
                        Ok(_) => {}
                        Err(error) => {
                            // The sandbox stopped waiting for our answer; the invocation goes on, as on Lambda.
                            println!("  a STOP callback was not answered in time ({error}); still timed");
                        }
                    }
                    pending.lock().await.push(Pending::Stop {
                        store: hash.as_str().to_owned(),
                        customer_id: *customer_id,
                        sent,
                    });
                }
            }
        })
        .collect();
    futures::future::join_all(senders).await;
    // Everything sent is seen within two minutes, or the phase reports what it has.
    let _ = tokio::time::timeout(Duration::from_secs(120), watcher).await;
    let samples = std::mem::take(&mut *samples.lock().await);
    let sent = expected / 2;
    let (updates, stops) = (samples.update_ms.len(), samples.stop_ms.len());
    if updates + stops < expected {
        println!(
            "  not seen within 2 minutes of the last send (left out): {} of {sent} updates, {} of {sent} STOPs",
            sent - updates,
            sent - stops
        );
    }
    samples
}

/// Checks what is pending every 20 ms (a DynamoDB read per pending update; the simulator's state for STOPs).
async fn watch(app: Arc<TestApp>, pending: Arc<Mutex<Vec<Pending>>>, samples: Arc<Mutex<Samples>>, expected: usize) {
    let mut seen = 0;
    while seen < expected {
        let now_pending = std::mem::take(&mut *pending.lock().await);
        let mut still = Vec::new();
        for item in now_pending {
            let done = match &item {
                Pending::Update {
                    store,
                    phone,
                    customer_id,
                    ..
                } => {
                    let read = Instant::now();
                    let contact = app.db().get_contact(store, phone).await.ok().flatten();
                    samples.lock().await.read_ms.push(ms(read));
                    contact.is_some_and(|c| c.customer_id == Some(*customer_id))
                }
                Pending::Stop { store, customer_id, .. } => app
                    .bigcommerce
                    .metafields(store, *customer_id)
                    .iter()
                    .any(|m| m.value.contains("\"unsubscribed\"")),
            };
            if !done {
                still.push(item);
                continue;
            }
            seen += 1;
            let mut samples = samples.lock().await;
            match item {
                Pending::Update { sent, .. } => samples.update_ms.push(ms(sent)),
                Pending::Stop { sent, .. } => samples.stop_ms.push(ms(sent)),
            }
        }
        pending.lock().await.extend(still);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

fn row(what: &str, idle: &[f64], syncing: &[f64]) {
    let (idle_p99, sync_p99) = (percentile(idle, 99.0), percentile(syncing, 99.0));
    println!(
        "{what:<38} {:>10.0} {:>10.0} {:>10.0} {:>10.0} {:>8.2}",
        percentile(idle, 50.0),
        idle_p99,
        percentile(syncing, 50.0),
        sync_p99,
        sync_p99 / idle_p99
    );
}

/// Nearest-rank percentile (NaN without samples).
fn percentile(samples: &[f64], p: f64) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn moto() -> String {
    std::env::var("MOTO_URL").unwrap_or_else(|_| "a local moto server".into())
}

fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    format!("{cpus} cores ({model})")
}
