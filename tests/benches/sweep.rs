//! The sweep against table size and at volume, through the real fan-out and the real workers: the scheduled
//! `sweep::sweep` sends one message per due-index shard holding due carts to the sweep shard queue, and the
//! template's event source for that queue (its `MaximumConcurrency` pollers) runs `sweep::work_shards` until
//! the queue is empty, hand-ons included.
//!
//! 1. 1,000 carts due and 0, 10,000 or 100,000 not due (filed over the next two days, some later in the
//!    current hour): a sweep should read on the order of the 1,000 due carts, whatever the rest; then the
//!    next sweep (nothing newly due).
//! 2. 10,000 and 100,000 carts due at once (over the last 50 minutes: one or two hour buckets): carts enqueued
//!    per second, workers, worker invocations, DynamoDB calls and items read per cart (the `Db` request
//!    counter), and the hottest due-index partition (the most carts in one shard of one bucket).
//! 3. The send queue under one store's burst: store A has `SEND_BURST` reminders due at once (default 2,000)
//!    at `messages_per_second` `SEND_PACE` (default 10), store B 20 at the same time at 10. The real send handler (TestApp: moto, the
//!    simulator, the sandbox) gets batches of 10, 5 in flight, as the template's event source delivers them;
//!    the bench composes the batches (moto has no fair queues): B alone (A idle); the two message groups
//!    interleaved (a fair queue); A's whole burst first (first in, first out: no fairness, the worst case).
//!    Printed: B's latency (enqueued to accepted by the provider) p50 and p99, and A's achieved rate against
//!    its pace.
//!
//! `cargo xtask bench sweep` (bench build, against a fresh moto server; add `-- --quick` for the small sizes,
//! `-- --volume` for the second and third parts only, `-- --send` for the third only; `SWEEP_VOLUMES=100000`
//! chooses the second part's rows).
//! Against moto the absolute times are moto's (one Python process); calls and items are what DynamoDB would see.

use chrono::{DateTime, Duration, Timelike, Utc};
use devstack::event_source::SqsEventSource;
use futures::StreamExt;
use integration_tests::recovery::{cart, due_cart, give_consent, item, phone, save, take_send_jobs};
use integration_tests::{TestApp, TestAppOptions, TestAws, at};
use shared::aws::Aws;
use shared::db::keys::{due_bucket, due_shard};
use shared::model::Cart;
use shared::{Clock, ManualClock, StoreHash};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Instant;

const DUE: usize = 1_000;

struct Figures {
    report: sweep::SweepReport,
    /// Fan-out probes (the rest of `report.queries` are the workers').
    probes: u32,
    workers: usize,
    invocations: usize,
    calls: u64,
    items_read: u64,
    seconds: f64,
}

/// One scheduled sweep and every worker it causes, with fresh request counters.
async fn sweep_all(env: &TestAws, clock: &Arc<ManualClock>) -> Figures {
    let deps = Arc::new(env.sweep_deps(
        Aws::new(&env.sdk, &env.aws_resources),
        clock.clone(),
        sweep::CARTS_PER_WORKER,
    ));
    let totals = Arc::new(Mutex::new(sweep::SweepReport::default()));
    let (d, t) = (deps.clone(), totals.clone());
    let source = SqsEventSource::for_queue(
        &env.sdk,
        &env.template,
        &env.resources,
        "SweepFunction",
        Some("SweepShardQueue"),
        devstack::invoke::handler_fn(
            move |e: lambda_runtime::LambdaEvent<aws_lambda_events::event::sqs::SqsEvent>| {
                let (d, t) = (d.clone(), t.clone());
                async move {
                    let (response, report) = sweep::work_shards(&d, e.payload).await;
                    t.lock().expect("not poisoned").add(&report);
                    Ok::<_, lambda_runtime::Error>(response)
                }
            },
        ),
    )
    .expect("the template's sweep shard event source");
    let started = Instant::now();
    let fan_out = sweep::sweep(&deps).await.expect("sweep runs");
    let invocations = std::sync::atomic::AtomicUsize::new(0);
    let poller = || async {
        loop {
            let outcome = source.poll_once(0).await.expect("poll");
            invocations.fetch_add(outcome.received, std::sync::atomic::Ordering::Relaxed);
            if outcome.received == 0 {
                // Empty for now; done once nothing is in flight either (a worker may still hand on).
                if source.depth().await.expect("depth") == 0 {
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        }
    };
    futures::future::join_all((0..source.max_concurrency()).map(|_| poller())).await;
    let seconds = started.elapsed().as_secs_f64();
    let mut report = fan_out.clone();
    report.add(&totals.lock().expect("not poisoned"));
    Figures {
        report,
        probes: fan_out.queries,
        workers: source.max_concurrency(),
        invocations: invocations.into_inner(),
        calls: deps.aws.db.counter().calls(),
        items_read: deps.aws.db.counter().items_read(),
        seconds,
    }
}

/// Saves carts with BatchWriteItem (25 items a call, 8 calls of 500 carts in flight).
async fn load(env: &TestAws, carts: &[Cart], now: DateTime<Utc>) {
    let loading = Instant::now();
    let chunks: Vec<&[Cart]> = carts.chunks(500).collect();
    for group in chunks.chunks(8) {
        let writes = group.iter().map(|chunk| env.aws.db.put_carts(chunk, now));
        for result in futures::future::join_all(writes).await {
            result.expect("carts saved");
        }
    }
    eprintln!(
        "  loaded {} carts in {:.1} s",
        carts.len(),
        loading.elapsed().as_secs_f64()
    );
}

fn now() -> DateTime<Utc> {
    Utc::now().with_nanosecond(0).expect("valid")
}

async fn against_table_size(not_due: usize) -> (Figures, Figures) {
    let env = TestAws::new().await;
    let now = now();
    let clock = Arc::new(ManualClock::new(now));
    let store = StoreHash::parse("bench01").expect("valid");
    let mut carts = Vec::with_capacity(DUE + not_due);
    for i in 0..DUE {
        // Due within the last half hour.
        carts.push(due_cart(&store, i, now - Duration::seconds((i % 1_800) as i64 + 1)));
    }
    for i in 0..not_due {
        // Not due: from a minute from now to two days out (the current hour's bucket included).
        let ahead = Duration::seconds(60 + (i as i64 * 7_919) % (48 * 3_600));
        carts.push(due_cart(&store, DUE + i, now + ahead));
    }
    load(&env, &carts, now).await;
    let first = sweep_all(&env, &clock).await;
    assert_eq!(first.report.enqueued, DUE, "every due cart is enqueued once");
    // The next sweep, before any of the others falls due: what every sweep costs in between.
    clock.advance(Duration::seconds(30));
    let next = sweep_all(&env, &clock).await;
    assert_eq!(next.report.enqueued, 0);
    (first, next)
}

/// `due` carts of 100 stores due over the last 50 minutes (filed 50 minutes ago: one or two hour buckets).
async fn at_volume(due: usize) -> (Figures, usize) {
    let env = TestAws::new().await;
    let now = now();
    let filed_at = now - Duration::minutes(50);
    let clock = Arc::new(ManualClock::new(now));
    let stores: Vec<StoreHash> = (0..100)
        .map(|i| StoreHash::parse(&format!("vol{i:03}")).expect("valid"))
        .collect();
    let carts: Vec<Cart> = (0..due)
        .map(|i| {
            let due_at = filed_at + Duration::milliseconds((i as i64 * 2_999_000 / due as i64).max(0));
            due_cart(&stores[i % stores.len()], i, due_at)
        })
        .collect();
    let mut per_partition: HashMap<(String, u32), usize> = HashMap::new();
    for cart in &carts {
        let bucket = due_bucket(cart.next_due_at.expect("due").max(filed_at));
        *per_partition
            .entry((bucket, due_shard(&cart.store_hash, &cart.cart_id)))
            .or_default() += 1;
    }
    let hottest = per_partition.values().copied().max().unwrap_or_default();
    load(&env, &carts, filed_at).await;
    let figures = sweep_all(&env, &clock).await;
    let first = &figures.report;
    // A cart one sweep could not take (its take failed against the emulator) stays in its bucket for the next.
    let next = if first.enqueued < due {
        clock.advance(Duration::minutes(5));
        sweep_all(&env, &clock).await.report.enqueued
    } else {
        0
    };
    eprintln!(
        "  first sweep: {} enqueued, {} takes failed, {} taken by others, {} ended; the next sweep: {next} enqueued",
        first.enqueued, first.failed, first.taken_by_others, first.ended
    );
    assert_eq!(first.enqueued + next, due, "every due cart is enqueued once");
    (figures, hottest)
}

/// Store B's reminders in the send rows.
const QUIET_JOBS: usize = 20;
/// The send queue's `maxReceiveCount` in the template.
const MAX_RECEIVES: u64 = 5;
/// The template's send event source: `BatchSize`.
const SEND_BATCH: usize = 10;
/// Carts seeded at once: the consent appends are transactions, and moto answers 500 to several at once.
const SEEDING: usize = 1;
/// 14:00 in London: inside the reminders' send window.
const DAYTIME: &str = "2025-11-04T14:00:00Z";

/// How the send function's event source hands store A's burst and store B's reminders over.
#[derive(Clone, Copy)]
enum Delivery {
    /// A idle: B's jobs only.
    Alone,
    /// A fair queue: one job of each message group in turn while both have jobs.
    Interleaved,
    /// First in, first out (moto's order, no fairness): A's whole burst, then B's.
    BurstFirst,
}

impl Delivery {
    fn label(self) -> &'static str {
        match self {
            Self::Alone => "A idle",
            Self::Interleaved => "A bursting, groups interleaved (fair queue)",
            Self::BurstFirst => "A bursting, A's burst first (FIFO)",
        }
    }
}

struct SendFigures {
    /// B's jobs: enqueued to accepted by the provider, ms.
    quiet_ms: Vec<f64>,
    burst_sent: usize,
    /// Enqueued to A's last acceptance.
    burst_seconds: f64,
    /// The most of A's messages accepted in one wall-clock second.
    burst_peak: usize,
    invocations: usize,
    /// Jobs the handler gave back to the queue (retried here at once; after the visibility timeout on AWS).
    requeued: usize,
    /// Jobs given back `MAX_RECEIVES` times.
    dead_letters: usize,
}

/// Store A's `burst` reminders and store B's 20, due at once and sent through the real send handler.
async fn send_burst(burst: usize, pace: u32, delivery: Delivery) -> SendFigures {
    let app = TestApp::start_with(TestAppOptions {
        start: at(DAYTIME),
        // Each job reads its cart's checkout: the store's BigCommerce quota must not be what paces the burst.
        requests_per_window: 1_000_000,
        ..TestAppOptions::default()
    })
    .await;
    let busy = app.seed_store("burst1", |s| s.messages_per_second = pace).await;
    let quiet = app.seed_store("quiet1", |_| {}).await;
    let burst = if matches!(delivery, Delivery::Alone) { 0 } else { burst };
    let seeding = Instant::now();
    let carts = (0..burst)
        .map(|i| (&busy, i))
        .chain((0..QUIET_JOBS).map(|i| (&quiet, burst + i)));
    futures::stream::iter(carts)
        .for_each_concurrent(SEEDING, |(store, i)| {
            let app = &app;
            async move {
                let number = phone(&format!("+4479{:08}", 11_000_000 + i));
                give_consent(app, store, &number, at(DAYTIME) - Duration::days(1)).await;
                let items = vec![item("Blue Mug", 101, 1, 1250)];
                save(
                    app,
                    &cart(store, &format!("cart-{i:05}"), Some(&number), "GB", at(DAYTIME), items),
                )
                .await;
            }
        })
        .await;
    app.clock.advance(Duration::minutes(30));
    app.run_sweep().await;
    let jobs = take_send_jobs(&app).await;
    assert_eq!(jobs.len(), burst + QUIET_JOBS, "every due cart has its job");
    eprintln!(
        "  {}: {} jobs seeded and swept in {:.1} s",
        delivery.label(),
        jobs.len(),
        seeding.elapsed().as_secs_f64()
    );
    let (a, b): (Vec<_>, Vec<_>) = jobs.into_iter().partition(|job| job.store_hash == busy.store_hash);
    let order: Vec<_> = match delivery {
        Delivery::Alone | Delivery::BurstFirst => a.into_iter().chain(b).collect(),
        Delivery::Interleaved => {
            let (mut a, mut b) = (a.into_iter(), b.into_iter());
            std::iter::from_fn(|| match (a.next(), b.next()) {
                (None, None) => None,
                (x, y) => Some(x.into_iter().chain(y)),
            })
            .flatten()
            .collect()
        }
    };
    // The sandbox stamps acceptances with the business clock moved on by the wall clock since `wall`.
    let (business, wall) = (app.clock.now(), Utc::now());
    app.sms.set_clock(move || business + (Utc::now() - wall));
    let queue: Mutex<(VecDeque<serde_json::Value>, usize)> = Mutex::new((
        order
            .iter()
            .enumerate()
            .map(|(i, job)| {
                serde_json::json!({
                    "messageId": format!("m{i}"), "receiptHandle": format!("r{i}"),
                    "body": serde_json::to_string(job).expect("a job"), "attributes": {}, "messageAttributes": {},
                    "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:send",
                    "awsRegion": "us-east-1" })
            })
            .collect(),
        0,
    ));
    let (invocations, requeued, dead_letters) = (Mutex::new(0usize), Mutex::new(0usize), Mutex::new(0usize));
    let send = &app.functions["send"];
    let enqueued = Utc::now();
    let poller = || async {
        loop {
            // The batch is taken and counted in flight at once, so an empty queue with nothing in flight
            // means done.
            let batch: Vec<serde_json::Value> = {
                let mut guard = queue.lock().expect("not poisoned");
                let (waiting, in_flight) = &mut *guard;
                if waiting.is_empty() && *in_flight == 0 {
                    return;
                }
                let n = waiting.len().min(SEND_BATCH);
                if n > 0 {
                    *in_flight += 1;
                }
                waiting.drain(..n).collect()
            };
            if batch.is_empty() {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
            *invocations.lock().expect("not poisoned") += 1;
            let failed: Vec<String> = match send.invoke(serde_json::json!({ "Records": batch.clone() })).await {
                Ok(response) => response["batchItemFailures"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|f| f["itemIdentifier"].as_str().map(str::to_owned))
                    .collect(),
                Err(_) => batch
                    .iter()
                    .filter_map(|r| r["messageId"].as_str().map(str::to_owned))
                    .collect(),
            };
            *requeued.lock().expect("not poisoned") += failed.len();
            let mut guard = queue.lock().expect("not poisoned");
            let (waiting, in_flight) = &mut *guard;
            // The queue's `maxReceiveCount` (5): then the dead-letter queue. The business clock stands still
            // here, so a job whose attempt is in flight (a failure after `begin_send_attempt`) would come back
            // for ever otherwise.
            let mut dead = dead_letters.lock().expect("not poisoned");
            for mut record in batch {
                let id = record["messageId"].as_str().unwrap_or_default().to_owned();
                if !failed.contains(&id) {
                    continue;
                }
                let receives = record["receives"].as_u64().unwrap_or(0) + 1;
                record["receives"] = receives.into();
                if receives >= MAX_RECEIVES {
                    *dead += 1;
                } else {
                    waiting.push_back(record);
                }
            }
            *in_flight -= 1;
        }
    };
    futures::future::join_all((0..app.send_queue.max_concurrency()).map(|_| poller())).await;

    // Not every job need end in a send against a loaded emulator (a lost answer is recorded unconfirmed and
    // never sent again): the rows count what went out.
    let messages = app.sms.messages();
    assert!(app.sms.duplicate_idempotency_keys().is_empty(), "none sent twice");
    let since_enqueued = |m: &sim::sms::SentMessage| (m.accepted_at - business) - (enqueued - wall);
    let of = |store: &StoreHash| {
        let store = store.to_string();
        messages
            .iter()
            .filter(move |m| m.metadata.get("store_hash") == Some(&store))
    };
    let quiet_ms = of(&quiet.store_hash)
        .map(|m| since_enqueued(m).num_milliseconds() as f64)
        .collect();
    let mut per_second: HashMap<i64, usize> = HashMap::new();
    for m in of(&busy.store_hash) {
        *per_second
            .entry((wall + (m.accepted_at - business)).timestamp())
            .or_default() += 1;
    }
    let burst_seconds = of(&busy.store_hash)
        .map(|m| since_enqueued(m).num_milliseconds() as f64 / 1_000.0)
        .fold(0.0, f64::max);
    SendFigures {
        quiet_ms,
        burst_sent: per_second.values().sum(),
        burst_seconds,
        burst_peak: per_second.values().copied().max().unwrap_or_default(),
        invocations: invocations.into_inner().expect("not poisoned"),
        requeued: requeued.into_inner().expect("not poisoned"),
        dead_letters: dead_letters.into_inner().expect("not poisoned"),
    }
}

/// Nearest rank.
fn percentile(samples: &[f64], p: f64) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.saturating_sub(1)).copied().unwrap_or(f64::NAN)
}

fn send_rows(runtime: &tokio::runtime::Runtime, burst: usize, pace: u32) {
    println!();
    println!(
        "send queue: store A bursts {burst} reminders at {pace} messages per second, store B has {QUIET_JOBS} at \
         the same time at 10; batches of {SEND_BATCH}, 5 in flight"
    );
    println!(
        "{:<44} | {:>6} {:>8} {:>8} | {:>6} {:>7} {:>8} {:>8} | {:>11} {:>9} {:>5}",
        "delivery",
        "B sent",
        "B p50 ms",
        "B p99 ms",
        "A sent",
        "A s",
        "A per s",
        "A max/s",
        "invocations",
        "requeued",
        "dead"
    );
    for delivery in [Delivery::Alone, Delivery::Interleaved, Delivery::BurstFirst] {
        let f = runtime.block_on(send_burst(burst, pace, delivery));
        println!(
            "{:<44} | {:>6} {:>8.0} {:>8.0} | {:>6} {:>7.1} {:>8.1} {:>8} | {:>11} {:>9} {:>5}",
            delivery.label(),
            f.quiet_ms.len(),
            percentile(&f.quiet_ms, 50.0),
            percentile(&f.quiet_ms, 99.0),
            f.burst_sent,
            f.burst_seconds,
            f.burst_sent as f64 / f.burst_seconds.max(f64::MIN_POSITIVE),
            f.burst_peak,
            f.invocations,
            f.requeued,
            f.dead_letters
        );
    }
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    // `--volume`: only the second and third tables; `--send`: only the third.
    let volume_only = std::env::args().any(|a| a == "--volume");
    let send_only = std::env::args().any(|a| a == "--send");
    let sizes: &[usize] = match (volume_only || send_only, quick) {
        (true, _) => &[],
        (false, true) => &[0, 10_000],
        (false, false) => &[0, 10_000, 100_000],
    };
    // `SWEEP_VOLUMES=100000`: only these rows of the volume table.
    let chosen_volumes: Option<Vec<usize>> = std::env::var("SWEEP_VOLUMES").ok().map(|list| {
        list.split(',')
            .map(|n| {
                n.trim()
                    .parse()
                    .expect("SWEEP_VOLUMES takes numbers of due carts, e.g. 100000")
            })
            .collect()
    });
    let volumes: &[usize] = match (send_only, quick, &chosen_volumes) {
        (true, _, _) => &[],
        (false, _, Some(chosen)) => chosen,
        (false, true, None) => &[10_000],
        (false, false, None) => &[10_000, 100_000],
    };
    let burst = std::env::var("SEND_BURST")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 200 } else { 2_000 });
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    if !sizes.is_empty() {
        table_size_rows(&runtime, sizes);
    }
    if !volumes.is_empty() {
        volume_rows(&runtime, volumes);
    }
    let pace = std::env::var("SEND_PACE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    // `SEND_BURST=0`: no send rows.
    if burst > 0 {
        send_rows(&runtime, burst, pace);
    }
}

fn table_size_rows(runtime: &tokio::runtime::Runtime, sizes: &[usize]) {
    println!("sweep: {DUE} carts due, N carts not due (DynamoDB via moto)");
    println!(
        "{:>8} | {:>9} {:>8} {:>8} {:>10} {:>9} {:>8} | next sweep: {:>5} {:>10} {:>8}",
        "not due", "due found", "enqueued", "queries", "DDB calls", "items rd", "ms", "calls", "items rd", "ms"
    );
    for &not_due in sizes {
        let (first, next) = runtime.block_on(against_table_size(not_due));
        println!(
            "{:>8} | {:>9} {:>8} {:>8} {:>10} {:>9} {:>8.0} | next sweep: {:>5} {:>10} {:>8.0}",
            not_due,
            first.report.due_found,
            first.report.enqueued,
            first.report.queries,
            first.calls,
            first.items_read,
            first.seconds * 1_000.0,
            next.calls,
            next.items_read,
            next.seconds * 1_000.0
        );
    }
}

fn volume_rows(runtime: &tokio::runtime::Runtime, volumes: &[usize]) {
    println!();
    println!(
        "sweep at volume: N carts of 100 stores due at once, over the last 50 minutes ({} carts per worker invocation)",
        sweep::CARTS_PER_WORKER
    );
    println!(
        "{:>8} | {:>7} {:>11} {:>6} {:>8} {:>9} | {:>10} {:>10} {:>10} | {:>14}",
        "due",
        "workers",
        "invocations",
        "probes",
        "s",
        "carts/s",
        "DDB calls",
        "calls/cart",
        "items/cart",
        "hottest shard"
    );
    for &due in volumes {
        let (figures, hottest) = runtime.block_on(at_volume(due));
        let enqueued = figures.report.enqueued.max(1) as f64;
        println!(
            "{:>8} | {:>7} {:>11} {:>6} {:>8.1} {:>9.0} | {:>10} {:>10.3} {:>10.3} | {:>8} carts",
            due,
            figures.workers,
            figures.invocations,
            figures.probes,
            figures.seconds,
            enqueued / figures.seconds,
            figures.calls,
            figures.calls as f64 / enqueued,
            figures.items_read as f64 / enqueued,
            hottest
        );
    }
}
