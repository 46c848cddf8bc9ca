//! The sweep at volume: the scheduled fan-out hands every shard of the due index holding due carts to a
//! worker through the sweep shard queue, workers hand the rest of a shard on, and the per-cart lease keeps
//! every due cart to one send job however often a shard message is delivered.

use chrono::Duration;
use integration_tests::recovery::{due_cart, take_messages, take_send_jobs, take_send_jobs_with_groups};
use integration_tests::{TestApp, TestAppOptions, at};
use shared::db::keys::{DUE_SHARDS, DueShard, SweepWatermark, due_bucket, due_shard};
use shared::messages::SweepShard;
use shared::model::Cart;
use shared::recovery::SWEEP_LEASE;
use shared::{Clock, StoreHash};
use std::collections::BTreeMap;

/// 14:30 UTC: the sweep reads the 13:00 and 14:00 buckets.
const NOW: &str = "2026-11-25T14:30:00Z";

async fn app(carts_per_worker: usize) -> TestApp {
    TestApp::start_with(TestAppOptions {
        start: at(NOW),
        sweep_carts_per_worker: carts_per_worker,
        ..TestAppOptions::default()
    })
    .await
}

/// `due` carts due over the last 50 minutes (filed at 13:40, so in the 13:00 and 14:00 buckets) and
/// `not_due` carts due from 10 minutes on, over the next two hours (some in the current bucket), at `hash`.
async fn seed(app: &TestApp, hash: &str, due: usize, not_due: usize) -> Vec<Cart> {
    let store = StoreHash::parse(hash).unwrap();
    let filed_at = at(NOW) - Duration::minutes(50);
    let carts: Vec<Cart> = (0..due + not_due)
        .map(|i| {
            let due_at = if i < due {
                filed_at + Duration::seconds((i * 20 % 3_000) as i64)
            } else {
                at(NOW) + Duration::seconds(600 + (i * 7_919 % 7_200) as i64)
            };
            due_cart(&store, i, due_at)
        })
        .collect();
    app.db().put_carts(&carts, filed_at).await.unwrap();
    carts[..due].to_vec()
}

/// Send jobs by cart id (how many each cart got).
fn jobs_per_cart(jobs: &[shared::messages::SendJob]) -> BTreeMap<String, usize> {
    let mut per_cart = BTreeMap::new();
    for job in jobs {
        *per_cart.entry(job.cart_id.clone()).or_default() += 1;
    }
    per_cart
}

fn assert_once_each(jobs: &[shared::messages::SendJob], due: &[Cart]) {
    let per_cart = jobs_per_cart(jobs);
    let expected: BTreeMap<String, usize> = due.iter().map(|c| (c.cart_id.clone(), 1)).collect();
    assert_eq!(
        per_cart, expected,
        "every due cart has exactly one job, and no other cart has one"
    );
}

#[tokio::test]
async fn a_fan_out_over_every_shard_enqueues_every_due_cart_once() {
    // Seven carts per worker invocation: every shard is handed on several times.
    let app = app(7).await;
    let due = seed(&app, "swp001", 150, 40).await;
    let buckets: std::collections::BTreeSet<String> = due
        .iter()
        .map(|c| due_bucket(c.next_due_at.unwrap().max(at(NOW) - Duration::minutes(50))))
        .collect();
    assert_eq!(buckets.len(), 2, "due carts in two hour buckets");

    let fan_out: sweep::SweepReport = serde_json::from_value(
        app.functions["sweep"]
            .invoke(devstack::invoke::scheduled_event(app.clock.now()))
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(fan_out.queries, 2 * DUE_SHARDS, "one probe per shard of each bucket");
    assert_eq!(fan_out.shards_enqueued, 2 * DUE_SHARDS as usize, "{fan_out:?}");
    assert_eq!(fan_out.enqueued, 0, "the fan-out takes no cart itself");

    let workers = app.drain_sweep_shards().await;
    assert_eq!((workers.due_found, workers.enqueued), (150, 150), "{workers:?}");
    assert!(
        workers.shards_enqueued >= 150 / 7 - 16,
        "shards were handed on: {workers:?}"
    );
    assert_once_each(&take_send_jobs(&app).await, &due);
    for cart in &due {
        let stored = app
            .db()
            .get_cart(&cart.store_hash, &cart.cart_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.next_due_at, Some(at(NOW) + SWEEP_LEASE), "leased");
    }

    // The next sweep finds nothing due and moves its watermark past the emptied bucket.
    app.clock.advance(Duration::minutes(5));
    let next: sweep::SweepReport = serde_json::from_value(app.run_sweep().await).unwrap();
    assert_eq!((next.shards_enqueued, next.enqueued), (0, 0), "{next:?}");
    assert!(take_send_jobs(&app).await.is_empty());
    assert_eq!(
        app.db().sweep_watermark().await.unwrap(),
        Some(SweepWatermark {
            from: app.clock.now() - Duration::hours(1),
            held: Vec::new(),
        })
    );
}

#[tokio::test]
async fn a_duplicated_shard_message_enqueues_no_cart_twice() {
    let app = app(10).await;
    let due = seed(&app, "swp002", 60, 10).await;
    // Every shard message of both buckets three times over, as redeliveries and duplicates would bring them,
    // worked concurrently by the event source.
    let mut shards = Vec::new();
    for bucket in [due_bucket(at(NOW) - Duration::hours(1)), due_bucket(at(NOW))] {
        for shard in 0..DUE_SHARDS {
            for _ in 0..3 {
                shards.push(SweepShard {
                    bucket: bucket.clone(),
                    shard,
                    until: at(NOW),
                    after: None,
                });
            }
        }
    }
    app.sweep.shards.send_all(&shards).await.unwrap();
    let workers = app.drain_sweep_shards().await;
    assert_eq!(workers.enqueued, 60, "{workers:?}");
    assert_eq!(workers.failed, 0, "{workers:?}");
    assert_once_each(&take_send_jobs(&app).await, &due);

    // A hand-on delivered again after its shard was done takes nothing either.
    let again = SweepShard {
        bucket: due_bucket(at(NOW)),
        shard: 0,
        until: at(NOW),
        after: Some("2026-11-25T13:00:00.000Z#swp002#cart-000000".into()),
    };
    app.sweep.shards.send(&again).await.unwrap();
    assert_eq!(app.drain_sweep_shards().await.enqueued, 0);
    assert!(take_send_jobs(&app).await.is_empty());
}

#[tokio::test]
async fn a_shard_message_no_fan_out_makes_takes_nothing_and_is_not_retried() {
    let app = app(10).await;
    let due = seed(&app, "swp003", 20, 10).await;
    let sqs = aws_sdk_sqs::Client::new(&app.aws.sdk);
    let forged = [
        serde_json::json!({"bucket": "DUE#2026112514#0", "shard": 0, "until": NOW}),
        serde_json::json!({"bucket": "2026112514", "shard": DUE_SHARDS, "until": NOW}),
        serde_json::json!({"store_hash": "swp003", "cart_id": "cart-000001"}),
    ];
    for body in &forged {
        sqs.send_message()
            .queue_url(app.sweep_shard_queue.queue_url())
            .message_body(body.to_string())
            .send()
            .await
            .unwrap();
    }
    let outcome = app.sweep_shard_queue.drain().await.unwrap();
    assert_eq!(
        (outcome.received, outcome.failed),
        (3, 0),
        "dropped, not retried: {outcome:?}"
    );
    assert!(take_send_jobs(&app).await.is_empty());

    // A message claiming a time ahead takes only what is due by the worker's clock.
    let ahead = SweepShard {
        bucket: due_bucket(at(NOW)),
        shard: 0,
        until: at(NOW) + Duration::days(365),
        after: None,
    };
    app.sweep.shards.send(&ahead).await.unwrap();
    let workers = app.drain_sweep_shards().await;
    let jobs = take_send_jobs(&app).await;
    assert_eq!(jobs.len(), workers.enqueued);
    assert!(jobs.iter().all(|j| due.iter().any(|c| c.cart_id == j.cart_id)));
}

#[tokio::test]
async fn each_stores_send_jobs_are_in_its_own_message_group() {
    // On AWS a standard queue with message groups is a fair queue: a store bursting thousands of reminders does
    // not raise another store's dwell time.
    let app = app(sweep::CARTS_PER_WORKER).await;
    let busy = seed(&app, "swp004", 30, 0).await;
    let quiet = seed(&app, "swp005", 2, 0).await;
    app.run_sweep().await;
    let jobs = take_send_jobs_with_groups(&app).await;
    assert_eq!(jobs.len(), busy.len() + quiet.len());
    for (job, group) in &jobs {
        assert_eq!(group.as_deref(), Some(job.store_hash.as_str()), "{job:?}");
    }
}

/// Takes every message waiting in the sweep shard queue off it, without running a worker.
async fn take_shard_messages(app: &TestApp) -> Vec<SweepShard> {
    let sqs = aws_sdk_sqs::Client::new(&app.aws.sdk);
    take_messages(&sqs, app.sweep_shard_queue.queue_url())
        .await
        .into_iter()
        .map(|(shard, _)| shard)
        .collect()
}

#[tokio::test]
async fn a_shard_left_in_an_old_bucket_is_held_and_probed_once_a_fan_out() {
    let app = app(10).await;
    // Due three hours ago and never taken (no worker runs here), the watermark still at its bucket.
    let filed_at = at(NOW) - Duration::hours(3);
    let cart = due_cart(&StoreHash::parse("swp006").unwrap(), 0, filed_at);
    app.db().put_carts(std::slice::from_ref(&cart), filed_at).await.unwrap();
    app.db()
        .advance_sweep_watermark(filed_at, &[], app.clock.now())
        .await
        .unwrap();
    assert_eq!(app.db().sweep_watermark().await.unwrap().unwrap().from, filed_at);
    let held = DueShard {
        bucket: due_bucket(filed_at),
        shard: due_shard(&cart.store_hash, &cart.cart_id),
    };
    let fan_out = || async {
        let report = app.functions["sweep"]
            .invoke(devstack::invoke::scheduled_event(app.clock.now()))
            .await
            .unwrap();
        serde_json::from_value::<sweep::SweepReport>(report).unwrap()
    };
    let handed_out = |shards: Vec<SweepShard>| -> Vec<DueShard> {
        shards
            .into_iter()
            .map(|m| DueShard {
                bucket: m.bucket,
                shard: m.shard,
            })
            .collect()
    };

    let first = fan_out().await;
    assert_eq!(first.queries, 4 * DUE_SHARDS, "buckets 11:00 to 14:00: {first:?}");
    assert_eq!(handed_out(take_shard_messages(&app).await), vec![held.clone()]);
    assert_eq!(
        app.db().sweep_watermark().await.unwrap(),
        Some(SweepWatermark {
            from: app.clock.now() - Duration::hours(1),
            held: vec![held.clone()],
        }),
        "an hour back, the old bucket's shard held"
    );

    app.clock.advance(Duration::minutes(5));
    let second = fan_out().await;
    assert_eq!(
        second.queries,
        2 * DUE_SHARDS + 1,
        "the last hour and the current one, and the held shard: {second:?}"
    );
    assert_eq!(
        handed_out(take_shard_messages(&app).await),
        vec![held.clone()],
        "still handed out"
    );
    assert_eq!(app.db().sweep_watermark().await.unwrap().unwrap().held, vec![held]);
}
