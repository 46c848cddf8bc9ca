//! Sweep cost against table size: with 1,000 carts due and 0, 10,000 or 100,000 carts not due (filed in the
//! due index over the next two days, some later in the current hour), one sweep should read on the order of
//! the 1,000 due carts, whatever the rest. Prints DynamoDB calls and items read (the `Db` request counter),
//! index queries, jobs enqueued and wall time, then the same for the next sweep (nothing newly due).
//!
//! `cargo xtask bench sweep` (release build, against a fresh moto server; add `-- --quick` for 0 and 10k only).

use chrono::{DateTime, Duration, Timelike, Utc};
use integration_tests::TestAws;
use shared::aws::Aws;
use shared::model::{Cart, CartStatus, LineItem};
use shared::{Clock, ManualClock, Phone, StoreHash};
use std::sync::Arc;
use std::time::Instant;

const DUE: usize = 1_000;

fn cart(store: &StoreHash, i: usize, due: DateTime<Utc>) -> Cart {
    Cart {
        store_hash: store.clone(),
        cart_id: format!("cart-{i:06}"),
        customer_id: 0,
        channel_id: 1,
        email: None,
        first_name: Some("Jane".into()),
        phone: Some(Phone::from_e164(&format!("+4479{:08}", 11_000_000 + i)).expect("valid UK mobile")),
        country_code: Some("GB".into()),
        state_code: None,
        line_items: vec![LineItem {
            product_id: 101,
            variant_id: None,
            name: "Blue Mug".into(),
            quantity: 1,
            price: rust_decimal::Decimal::new(1250, 2),
            image_url: None,
        }],
        amount: rust_decimal::Decimal::new(1250, 2),
        currency: "GBP".into(),
        status: CartStatus::Active,
        last_activity_at: due - Duration::minutes(30),
        reminders_sent: 0,
        next_due_at: Some(due),
        converted_order_id: None,
        updated_at: due - Duration::minutes(30),
    }
}

struct Figures {
    enqueued: usize,
    due_found: usize,
    queries: u32,
    calls: u64,
    items_read: u64,
    millis: u128,
}

async fn run_sweep(env: &TestAws, clock: &Arc<ManualClock>) -> Figures {
    // A fresh adapter: its request counter starts at zero.
    let deps = sweep::Deps {
        aws: Aws::new(&env.sdk, &env.aws_resources),
        clock: clock.clone(),
    };
    let started = Instant::now();
    let report = sweep::sweep(&deps).await.expect("sweep runs");
    Figures {
        enqueued: report.enqueued,
        due_found: report.due_found,
        queries: report.queries,
        calls: deps.aws.db.counter().calls(),
        items_read: deps.aws.db.counter().items_read(),
        millis: started.elapsed().as_millis(),
    }
}

async fn scenario(not_due: usize) -> (Figures, Figures) {
    let env = TestAws::new().await;
    let now = Utc::now().with_nanosecond(0).expect("valid");
    let clock = Arc::new(ManualClock::new(now));
    let store = StoreHash::parse("bench01").expect("valid");
    let mut carts = Vec::with_capacity(DUE + not_due);
    for i in 0..DUE {
        // Due within the last half hour.
        carts.push(cart(&store, i, now - Duration::seconds((i % 1_800) as i64 + 1)));
    }
    for i in 0..not_due {
        // Not due: from a minute from now to two days out (the current hour's bucket included).
        let ahead = Duration::seconds(60 + (i as i64 * 7_919) % (48 * 3_600));
        carts.push(cart(&store, DUE + i, now + ahead));
    }
    let db = &env.aws.db;
    let loading = Instant::now();
    let chunks: Vec<&[Cart]> = carts.chunks(500).collect();
    for group in chunks.chunks(8) {
        let writes = group.iter().map(|chunk| db.put_carts(chunk, clock.now()));
        for result in futures::future::join_all(writes).await {
            result.expect("carts saved");
        }
    }
    eprintln!(
        "  loaded {} carts in {:.1} s",
        carts.len(),
        loading.elapsed().as_secs_f64()
    );
    let first = run_sweep(&env, &clock).await;
    assert_eq!(first.enqueued, DUE, "every due cart is enqueued once");
    // The next sweep, before any of the others falls due: what every sweep costs in between.
    clock.advance(Duration::seconds(30));
    let next = run_sweep(&env, &clock).await;
    assert_eq!(next.enqueued, 0);
    (first, next)
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let sizes: &[usize] = if quick { &[0, 10_000] } else { &[0, 10_000, 100_000] };
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    println!("sweep: {DUE} carts due, N carts not due (DynamoDB via moto)");
    println!(
        "{:>8} | {:>9} {:>8} {:>8} {:>10} {:>9} {:>8} | next sweep: {:>5} {:>10} {:>8}",
        "not due", "due found", "enqueued", "queries", "DDB calls", "items rd", "ms", "calls", "items rd", "ms"
    );
    for &not_due in sizes {
        let (first, next) = runtime.block_on(scenario(not_due));
        println!(
            "{:>8} | {:>9} {:>8} {:>8} {:>10} {:>9} {:>8} | next sweep: {:>5} {:>10} {:>8}",
            not_due,
            first.due_found,
            first.enqueued,
            first.queries,
            first.calls,
            first.items_read,
            first.millis,
            next.calls,
            next.items_read,
            next.millis
        );
    }
}
