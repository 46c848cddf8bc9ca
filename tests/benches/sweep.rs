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
//!
//! `cargo xtask bench sweep` (bench build, against a fresh moto server; add `-- --quick` for the small sizes,
//! `-- --volume` for the second part only).
//! Against moto the absolute times are moto's (one Python process); calls and items are what DynamoDB would see.

use chrono::{DateTime, Duration, Timelike, Utc};
use devstack::event_source::SqsEventSource;
use integration_tests::TestAws;
use integration_tests::recovery::due_cart;
use shared::aws::Aws;
use shared::db::keys::{due_bucket, due_shard};
use shared::model::Cart;
use shared::{ManualClock, StoreHash};
use std::collections::HashMap;
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
    assert_eq!(figures.report.enqueued, due, "every due cart is enqueued once");
    (figures, hottest)
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    // `--volume`: only the second table.
    let volume_only = std::env::args().any(|a| a == "--volume");
    let sizes: &[usize] = match (volume_only, quick) {
        (true, _) => &[],
        (false, true) => &[0, 10_000],
        (false, false) => &[0, 10_000, 100_000],
    };
    let volumes: &[usize] = if quick { &[10_000] } else { &[10_000, 100_000] };
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
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
