//! The sweep's fan-out and workers against the in-memory adapters ([`crate::memory`]): each test files carts in
//! the due index, runs [`sweep`], [`sweep_shard`] or [`work_shards`] and checks the shard messages, the send
//! jobs, the carts and the index. The wiring to DynamoDB and SQS is tested through moto
//! (`tests/tests/integration/sweep_workers.rs`).

use crate::memory::MemoryPorts;
use crate::{MAX_TAKES_PER_SECOND, SweepError, SweepPorts, SweepReport, Take, sweep, sweep_shard, take, work_shards};
use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use chrono::{DateTime, Duration, Timelike, Utc};
use shared::StoreHash;
use shared::db::keys::{DUE_SHARDS, DueShard, SweepWatermark, due_bucket, due_pk, due_shard};
use shared::messages::{SendJob, SweepShard};
use shared::model::{Cart, CartStatus};
use shared::ports::sweep::DueIndex;
use shared::recovery::SWEEP_LEASE;
use std::collections::{BTreeSet, HashSet};

fn t(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339).unwrap().with_timezone(&Utc)
}

/// Half past noon: the current hour bucket is `2026031012`.
fn now() -> DateTime<Utc> {
    t("2026-03-10T12:30:00Z")
}

fn store_hash() -> StoreHash {
    StoreHash::parse("abc123").unwrap()
}

/// `n` cart ids that all fall in `shard`.
fn ids_in_shard(shard: u32, n: usize) -> Vec<String> {
    (0..)
        .map(|i| format!("cart-{i}"))
        .filter(|id| due_shard(&store_hash(), id) == shard)
        .take(n)
        .collect()
}

/// One cart id in each of `n` distinct shards, with its shard.
fn ids_in_distinct_shards(n: usize) -> Vec<(String, u32)> {
    (0..DUE_SHARDS)
        .map(|shard| (ids_in_shard(shard, 1).remove(0), shard))
        .take(n)
        .collect()
}

/// An abandoned cart due at `due_at` for its next reminder, `reminders_sent` sent so far.
fn cart(id: &str, due_at: DateTime<Utc>, reminders_sent: u8) -> Cart {
    Cart {
        store_hash: store_hash(),
        cart_id: id.to_owned(),
        customer_id: 0,
        channel_id: 1,
        email: None,
        first_name: None,
        phone: None,
        country_code: Some("GB".to_owned()),
        state_code: None,
        line_items: Vec::new(),
        amount: Default::default(),
        currency: "GBP".to_owned(),
        status: CartStatus::Abandoned,
        last_activity_at: due_at - Duration::hours(1),
        reminders_sent,
        next_due_at: Some(due_at),
        converted_order_id: None,
        updated_at: due_at - Duration::hours(1),
    }
}

/// Files a cart due at `due_at` as its writer did at `written_at` (the bucket is that of the later of both).
fn file(ports: &MemoryPorts, id: &str, due_at: DateTime<Utc>, written_at: DateTime<Utc>) {
    ports.table.put_cart(&cart(id, due_at, 0), written_at);
}

fn stored(ports: &MemoryPorts, id: &str) -> Cart {
    ports.table.tables().carts[&(store_hash(), id.to_owned())].clone()
}

fn shard_message(due_at: DateTime<Utc>, id: &str) -> SweepShard {
    SweepShard {
        bucket: due_bucket(due_at),
        shard: due_shard(&store_hash(), id),
        until: now(),
        after: None,
    }
}

/// The shard of `id`'s cart in the bucket of `due_at`, as the watermark holds it.
fn held(due_at: DateTime<Utc>, id: &str) -> DueShard {
    DueShard {
        bucket: due_bucket(due_at),
        shard: due_shard(&store_hash(), id),
    }
}

fn watermark(ports: &MemoryPorts) -> Option<SweepWatermark> {
    ports.table.tables().watermark().expect("a well-formed watermark")
}

/// Lets the workers receive every shard message, the hand-ons they send included, until the queue is empty.
async fn drain_shards(ports: &MemoryPorts) -> SweepReport {
    let mut total = SweepReport::default();
    loop {
        let messages = ports.queues.receive_shard_messages();
        if messages.is_empty() {
            return total;
        }
        for message in messages {
            total.add(&sweep_shard(ports, &message).await.expect("the worker runs"));
        }
    }
}

fn sqs_message(id: &str, body: &str) -> SqsMessage {
    let mut message = SqsMessage::default();
    message.message_id = Some(id.to_owned());
    message.body = Some(body.to_owned());
    message
}

fn batch(messages: Vec<SqsMessage>) -> SqsEvent {
    let mut event = SqsEvent::default();
    event.records = messages;
    event
}

fn cart_ids(jobs: &[SendJob]) -> Vec<String> {
    let mut ids: Vec<String> = jobs.iter().map(|job| job.cart_id.clone()).collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn the_fan_out_hands_out_one_message_per_shard_holding_due_carts() {
    let ports = MemoryPorts::new(now());
    let ids = ids_in_distinct_shards(3);
    let (a, b, later) = (&ids[0], &ids[1], &ids[2]);
    // Two due carts in shard a (one message for both), one in shard b, and one in shard c due after now.
    let more_in_a = ids_in_shard(a.1, 2)[1].clone();
    file(&ports, &a.0, t("2026-03-10T12:10:00Z"), t("2026-03-10T12:00:00Z"));
    file(&ports, &more_in_a, t("2026-03-10T12:20:00Z"), t("2026-03-10T12:00:00Z"));
    file(&ports, &b.0, t("2026-03-10T12:25:00Z"), t("2026-03-10T12:00:00Z"));
    file(&ports, &later.0, t("2026-03-10T12:40:00Z"), t("2026-03-10T12:00:00Z"));

    let report = sweep(&ports).await.unwrap();

    let messages: BTreeSet<(String, u32)> = ports
        .queues
        .receive_shard_messages()
        .into_iter()
        .map(|m| {
            assert_eq!((m.until, m.after.as_deref()), (now(), None), "{m:?}");
            (m.bucket, m.shard)
        })
        .collect();
    let bucket = due_bucket(now());
    assert_eq!(messages, BTreeSet::from([(bucket.clone(), a.1), (bucket, b.1)]));
    assert_eq!(report.shards_enqueued, 2);
    // No watermark yet: the hour before now and the current hour, every shard of each probed once.
    assert_eq!(report.queries, 2 * DUE_SHARDS);
    assert_eq!(
        (report.due_found, report.enqueued),
        (0, 0),
        "the fan-out takes nothing itself"
    );
    assert!(ports.queues.jobs().is_empty());
}

#[tokio::test]
async fn the_watermark_moves_to_an_hour_before_now_and_holds_older_shards_still_holding_due_carts() {
    let ports = MemoryPorts::new(now());
    let ids = ids_in_distinct_shards(2);
    ports
        .table
        .advance_sweep_watermark(t("2026-03-10T09:00:00Z"), &[], now())
        .await
        .unwrap();
    // One cart left behind in the 10:00 bucket, one due in the current hour.
    file(&ports, &ids[0].0, t("2026-03-10T10:15:00Z"), t("2026-03-10T10:00:00Z"));
    file(&ports, &ids[1].0, t("2026-03-10T12:10:00Z"), t("2026-03-10T12:00:00Z"));

    let report = sweep(&ports).await.unwrap();
    assert_eq!(report.queries, 4 * DUE_SHARDS, "buckets 09 to 12");
    assert_eq!(report.shards_enqueued, 2);
    let left_behind = held(t("2026-03-10T10:15:00Z"), &ids[0].0);
    assert_eq!(
        watermark(&ports),
        Some(SweepWatermark {
            from: now() - Duration::hours(1),
            held: vec![left_behind.clone()],
        }),
        "an hour back, the 10:00 bucket's shard held (the current hour's is in the window)"
    );

    assert_eq!(
        drain_shards(&ports).await.enqueued,
        2,
        "the cart left behind is found and handed out"
    );
    ports.clock.advance(Duration::minutes(5));
    let next = sweep(&ports).await.unwrap();
    assert_eq!(next.shards_enqueued, 0, "the leased carts are not due yet");
    assert_eq!(
        next.queries,
        2 * DUE_SHARDS + 1,
        "buckets 11 and 12, and the held shard once"
    );
    assert_eq!(
        watermark(&ports),
        Some(SweepWatermark {
            from: ports.now() - Duration::hours(1),
            held: Vec::new(),
        }),
        "the held shard was found empty: dropped"
    );
}

#[tokio::test]
async fn a_worker_takes_each_due_cart_once_and_enqueues_its_next_step() {
    let ports = MemoryPorts::new(now());
    let ids = ids_in_shard(3, 2);
    let (first_due, second_due) = (t("2026-03-10T12:05:00Z"), t("2026-03-10T12:15:00Z"));
    ports
        .table
        .put_cart(&cart(&ids[0], first_due, 0), t("2026-03-10T12:00:00Z"));
    ports
        .table
        .put_cart(&cart(&ids[1], second_due, 1), t("2026-03-10T12:00:00Z"));
    let message = shard_message(first_due, &ids[0]);

    let report = sweep_shard(&ports, &message).await.unwrap();

    assert_eq!((report.due_found, report.enqueued, report.queries), (2, 2, 1));
    let mut jobs = ports.queues.jobs();
    jobs.sort_by(|a, b| a.cart_id.cmp(&b.cart_id));
    let mut expected = vec![
        SendJob::new(store_hash(), ids[0].clone(), 1, first_due),
        SendJob::new(store_hash(), ids[1].clone(), 2, second_due),
    ];
    expected.sort_by(|a, b| a.cart_id.cmp(&b.cart_id));
    assert_eq!(
        jobs, expected,
        "one job per cart, for the step after the reminders sent, at the due time read"
    );
    let leased = now() + SWEEP_LEASE;
    for id in &ids {
        assert_eq!(stored(&ports, id).next_due_at, Some(leased));
        let (pk, entry) = ports.table.tables().index_entry(&store_hash(), id).unwrap();
        assert_eq!(
            pk,
            due_pk(&due_bucket(leased), message.shard),
            "the entry moved with the lease"
        );
        assert_eq!(entry.due_at, leased);
    }

    // The same message delivered again finds the carts moved on.
    let again = sweep_shard(&ports, &message).await.unwrap();
    assert_eq!((again.due_found, again.enqueued), (0, 0));
    assert_eq!(ports.queues.jobs().len(), 2);
}

#[tokio::test]
async fn a_second_worker_that_read_the_same_page_takes_nothing_more() {
    let ports = MemoryPorts::new(now());
    let ids = ids_in_shard(5, 3);
    for (i, id) in ids.iter().enumerate() {
        file(
            &ports,
            id,
            t("2026-03-10T12:00:00Z") + Duration::minutes(i as i64),
            now(),
        );
    }
    let page = ports
        .table
        .due_in_shard(&due_bucket(now()), 5, None, now(), 10)
        .await
        .unwrap();
    assert_eq!(page.carts.len(), 3);

    for due in &page.carts {
        assert!(matches!(take(&ports, due.clone(), now()).await, Ok(Take::Enqueue(_))));
    }
    // An overlapping worker with the same (now stale) page.
    for due in page.carts {
        assert!(matches!(take(&ports, due, now()).await, Ok(Take::TakenByOther)));
    }
    assert!(ports.queues.jobs().is_empty(), "take alone enqueues nothing");
}

#[tokio::test]
async fn a_cart_whose_due_time_changed_since_the_index_was_read_is_taken_by_others() {
    let ports = MemoryPorts::new(now());
    let id = &ids_in_shard(2, 1)[0];
    let due = t("2026-03-10T12:10:00Z");
    file(&ports, id, due, t("2026-03-10T12:00:00Z"));
    // The shopper came back: the cart's next reminder is later, and the index has not caught up yet.
    let rescheduled = t("2026-03-10T13:30:00Z");
    ports
        .table
        .tables()
        .carts
        .get_mut(&(store_hash(), id.clone()))
        .unwrap()
        .next_due_at = Some(rescheduled);

    let report = sweep_shard(&ports, &shard_message(due, id)).await.unwrap();

    assert_eq!((report.due_found, report.taken_by_others, report.enqueued), (1, 1, 0));
    assert!(ports.queues.jobs().is_empty());
    assert_eq!(
        stored(&ports, id).next_due_at,
        Some(rescheduled),
        "the other write stands"
    );
}

#[tokio::test]
async fn a_write_between_the_read_and_the_take_wins_over_the_worker() {
    let ports = MemoryPorts::new(now());
    let id = ids_in_shard(4, 1).remove(0);
    let due = t("2026-03-10T12:10:00Z");
    file(&ports, &id, due, t("2026-03-10T12:00:00Z"));
    let rescheduled = t("2026-03-10T14:00:00Z");
    // Another writer saves the cart after the worker read it: the compare-and-set refuses the take.
    let key = (store_hash(), id.clone());
    ports.table.before_next_take(move |tables| {
        tables.carts.get_mut(&key).unwrap().next_due_at = Some(rescheduled);
    });

    let report = sweep_shard(&ports, &shard_message(due, &id)).await.unwrap();

    assert_eq!((report.due_found, report.taken_by_others, report.enqueued), (1, 1, 0));
    assert!(ports.queues.jobs().is_empty());
    assert_eq!(
        stored(&ports, &id).next_due_at,
        Some(rescheduled),
        "the other write stands"
    );
}

#[tokio::test]
async fn a_converted_or_finished_cart_ends_and_leaves_the_index() {
    let ports = MemoryPorts::new(now());
    let ids = ids_in_shard(6, 3);
    let due = t("2026-03-10T12:10:00Z");
    let written = t("2026-03-10T12:00:00Z");
    let mut converted = cart(&ids[0], due, 1);
    converted.status = CartStatus::Converted;
    ports.table.put_cart(&converted, written);
    // A sequence with no step left to send.
    ports.table.put_cart(&cart(&ids[1], due, u8::MAX), written);
    file(&ports, &ids[2], due, written);

    let report = sweep_shard(&ports, &shard_message(due, &ids[0])).await.unwrap();

    assert_eq!((report.due_found, report.ended, report.enqueued), (3, 2, 1));
    assert_eq!(cart_ids(&ports.queues.jobs()), vec![ids[2].clone()]);
    for id in &ids[..2] {
        assert_eq!(stored(&ports, id).next_due_at, None);
        assert!(
            ports.table.tables().index_entry(&store_hash(), id).is_none(),
            "{id} left the index"
        );
    }
    ports.clock.advance(SWEEP_LEASE + Duration::minutes(1));
    let later = sweep(&ports).await.unwrap();
    assert_eq!(
        later.shards_enqueued, 1,
        "only the taken cart comes back, when its lease ends"
    );
}

#[tokio::test]
async fn a_worker_hands_the_rest_of_its_shard_on_without_losing_or_repeating_a_cart() {
    let mut ports = MemoryPorts::new(now());
    ports.carts_per_worker = 3;
    let ids = ids_in_shard(1, 7);
    let due = |i: usize| t("2026-03-10T12:00:00Z") + Duration::minutes(i as i64);
    for (i, id) in ids.iter().enumerate() {
        file(&ports, id, due(i), t("2026-03-10T12:00:00Z"));
    }
    let message = shard_message(due(0), &ids[0]);

    let first = sweep_shard(&ports, &message).await.unwrap();

    assert_eq!((first.due_found, first.enqueued, first.shards_enqueued), (3, 3, 1));
    assert_eq!(
        cart_ids(&ports.queues.jobs()),
        cart_ids_of(&ids[..3]),
        "the three due first"
    );
    let hand_on = ports.queues.receive_shard_messages();
    let cursor = shared::db::keys::due_sk(due(2), &store_hash(), &ids[2]);
    assert_eq!(
        hand_on,
        vec![SweepShard {
            after: Some(cursor),
            ..message.clone()
        }]
    );
    // The worker kept its pace (on the wall clock) before handing on: at most the floor of one page.
    let pauses = ports.pauses.lock().unwrap().clone();
    let floor = std::time::Duration::from_secs_f64(3.0 / f64::from(MAX_TAKES_PER_SECOND));
    assert!(pauses.len() == 1 && pauses[0] <= floor, "{pauses:?}");

    let mut rest = sweep_shard(&ports, &hand_on[0]).await.unwrap();
    rest.add(&drain_shards(&ports).await);

    assert_eq!(rest.enqueued, 4);
    let jobs = ports.queues.jobs();
    assert_eq!(jobs.len(), 7, "no cart taken twice");
    assert_eq!(cart_ids(&jobs), cart_ids_of(&ids), "none lost");
}

fn cart_ids_of(ids: &[String]) -> Vec<String> {
    let mut ids = ids.to_vec();
    ids.sort();
    ids
}

#[tokio::test]
async fn a_worker_takes_only_carts_due_by_its_own_clock() {
    let ports = MemoryPorts::new(now());
    let ids = ids_in_shard(0, 2);
    file(&ports, &ids[0], t("2026-03-10T12:10:00Z"), t("2026-03-10T12:00:00Z"));
    file(&ports, &ids[1], t("2026-03-10T12:50:00Z"), t("2026-03-10T12:00:00Z"));
    let ahead = SweepShard {
        until: now() + Duration::hours(1),
        ..shard_message(now(), &ids[0])
    };

    let report = sweep_shard(&ports, &ahead).await.unwrap();

    assert_eq!((report.due_found, report.enqueued), (1, 1));
    assert_eq!(cart_ids(&ports.queues.jobs()), vec![ids[0].clone()]);
}

#[tokio::test]
async fn an_invalid_shard_message_is_refused_and_not_retried() {
    let ports = MemoryPorts::new(now());
    let id = &ids_in_shard(0, 1)[0];
    file(&ports, id, t("2026-03-10T12:10:00Z"), t("2026-03-10T12:00:00Z"));
    let valid = shard_message(now(), id);
    for invalid in [
        SweepShard {
            bucket: "2026-03-10".to_owned(),
            ..valid.clone()
        },
        SweepShard {
            shard: DUE_SHARDS,
            ..valid.clone()
        },
    ] {
        let error = sweep_shard(&ports, &invalid).await.unwrap_err();
        assert!(matches!(error, SweepError::Invalid(_)), "{error}");
        assert!(!error.is_retryable());
    }

    let bad_bucket = SweepShard {
        bucket: "DUE#x".to_owned(),
        ..valid
    };
    let (response, report) = work_shards(
        &ports,
        batch(vec![
            sqs_message("unreadable", "{not json"),
            sqs_message("forged", &serde_json::to_string(&bad_bucket).unwrap()),
        ]),
    )
    .await;

    assert!(response.batch_item_failures.is_empty(), "dropped: a retry cannot help");
    assert_eq!(report, SweepReport::default());
    assert!(ports.queues.jobs().is_empty());
}

#[tokio::test]
async fn a_shard_whose_jobs_could_not_be_enqueued_is_retried_and_its_carts_come_back() {
    let ports = MemoryPorts::new(now());
    let ids = ids_in_shard(7, 2);
    let due = t("2026-03-10T12:10:00Z");
    for id in &ids {
        file(&ports, id, due, t("2026-03-10T12:00:00Z"));
    }
    let good = ids_in_shard(2, 1).remove(0);
    file(&ports, &good, due, t("2026-03-10T12:00:00Z"));
    *ports.queues.send_queue_down.lock().unwrap() = true;
    let body = |id: &str| serde_json::to_string(&shard_message(due, id)).unwrap();

    let (response, _) = work_shards(&ports, batch(vec![sqs_message("m1", &body(&ids[0]))])).await;

    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failed, vec!["m1"], "SQS gives it back to the queue");
    // Taken but not enqueued: the carts are due again when their lease ends, and a fan-out finds them.
    *ports.queues.send_queue_down.lock().unwrap() = false;
    ports.clock.advance(SWEEP_LEASE + Duration::seconds(1));
    sweep(&ports).await.unwrap();
    drain_shards(&ports).await;
    let jobs = ports.queues.jobs();
    let mut expected = cart_ids_of(&ids);
    expected.push(good);
    expected.sort();
    assert_eq!(cart_ids(&jobs), expected);
    assert!(
        jobs.iter()
            .filter(|job| ids.contains(&job.cart_id))
            .all(|job| job.due_at == now() + SWEEP_LEASE),
        "re-taken at the lease's end"
    );
}

#[tokio::test]
async fn a_cart_that_cannot_be_read_stays_due_while_the_rest_are_taken() {
    let ports = MemoryPorts::new(now());
    ports
        .table
        .advance_sweep_watermark(t("2026-03-10T10:00:00Z"), &[], now())
        .await
        .unwrap();
    let ids = ids_in_shard(3, 3);
    let due = t("2026-03-10T10:20:00Z");
    for id in &ids {
        file(&ports, id, due, t("2026-03-10T10:00:00Z"));
    }
    let unreadable = (store_hash(), ids[1].clone());
    ports.table.tables().failing_reads.insert(unreadable.clone());
    let entry_before = ports.table.tables().index_entry(&store_hash(), &ids[1]);

    let report = sweep_shard(&ports, &shard_message(due, &ids[0])).await.unwrap();

    assert_eq!((report.due_found, report.enqueued, report.failed), (3, 2, 1));
    assert_eq!(
        cart_ids(&ports.queues.jobs()),
        cart_ids_of(&[ids[0].clone(), ids[2].clone()])
    );
    assert_eq!(stored(&ports, &ids[1]).next_due_at, Some(due));
    assert_eq!(
        ports.table.tables().index_entry(&store_hash(), &ids[1]),
        entry_before,
        "still in its bucket"
    );

    // The next fan-out finds it there and holds its shard, the watermark an hour before now.
    ports.table.tables().failing_reads.clear();
    ports.clock.advance(Duration::minutes(5));
    let next = sweep(&ports).await.unwrap();
    assert_eq!(next.shards_enqueued, 1);
    assert_eq!(
        watermark(&ports),
        Some(SweepWatermark {
            from: ports.now() - Duration::hours(1),
            held: vec![held(due, &ids[1])],
        })
    );
    assert_eq!(drain_shards(&ports).await.enqueued, 1);
}

/// A cart whose worker fails on it every time (its read fails), due `hours_ago` and filed then, with the
/// watermark still at its bucket.
async fn poison_cart(ports: &MemoryPorts, hours_ago: i64) -> (String, DueShard) {
    let id = ids_in_shard(5, 1).remove(0);
    let due = now() - Duration::hours(hours_ago) - Duration::minutes(20);
    ports.table.advance_sweep_watermark(due, &[], now()).await.unwrap();
    file(ports, &id, due, due);
    ports.table.tables().failing_reads.insert((store_hash(), id.clone()));
    let shard = held(due, &id);
    (id, shard)
}

/// Runs the workers on the fan-out's messages; the (bucket, shard)s it handed out.
async fn work_handed_out(ports: &MemoryPorts) -> (BTreeSet<DueShard>, SweepReport) {
    let messages = ports.queues.receive_shard_messages();
    let shards = messages
        .iter()
        .map(|m| DueShard {
            bucket: m.bucket.clone(),
            shard: m.shard,
        })
        .collect();
    let mut workers = SweepReport::default();
    for message in messages {
        workers.add(&sweep_shard(ports, &message).await.unwrap());
    }
    (shards, workers)
}

#[tokio::test]
async fn a_cart_never_taken_costs_one_probe_a_fan_out_and_is_handed_out_every_time() {
    let ports = MemoryPorts::new(now());
    let (_, poison) = poison_cart(&ports, 48).await;

    // Catching up from the watermark 48 hours back reads every shard of every bucket since, once.
    let first = sweep(&ports).await.unwrap();
    assert_eq!(first.queries, 49 * DUE_SHARDS, "48 hours back to 12:00");
    let (shards, workers) = work_handed_out(&ports).await;
    assert_eq!((shards, workers.failed), (BTreeSet::from([poison.clone()]), 1));

    // Then the 5-minute schedule for two more days: each fan-out reads the last hour and the current one (at
    // the top of the hour the previous watermark is still in the hour before last) and the held shard.
    for _ in 0..48 * 12 {
        ports.clock.advance(Duration::minutes(5));
        let report = sweep(&ports).await.unwrap();
        let window = if ports.now().minute() == 0 { 3 } else { 2 };
        assert_eq!(report.queries, window * DUE_SHARDS + 1, "at {}", ports.now());
        let (shards, workers) = work_handed_out(&ports).await;
        assert_eq!(shards, BTreeSet::from([poison.clone()]), "not lost, at {}", ports.now());
        assert_eq!(workers.failed, 1, "its worker fails on it again");
        assert_eq!(
            watermark(&ports),
            Some(SweepWatermark {
                from: ports.now() - Duration::hours(1),
                held: vec![poison.clone()],
            })
        );
    }
}

#[tokio::test]
async fn a_held_shard_found_empty_is_dropped() {
    let ports = MemoryPorts::new(now());
    let (id, poison) = poison_cart(&ports, 3).await;
    let first = sweep(&ports).await.unwrap();
    assert_eq!(first.queries, 4 * DUE_SHARDS, "buckets 09 to 12");
    assert_eq!(work_handed_out(&ports).await.1.failed, 1);
    ports.clock.advance(Duration::minutes(5));
    let held_once = sweep(&ports).await.unwrap();
    assert_eq!(held_once.queries, 2 * DUE_SHARDS + 1);

    // Its read works again: the worker takes it (its lease files it under the current hour).
    ports.table.tables().failing_reads.clear();
    let (shards, workers) = work_handed_out(&ports).await;
    assert_eq!((shards, workers.enqueued), (BTreeSet::from([poison.clone()]), 1));
    assert_eq!(cart_ids(&ports.queues.jobs()), vec![id]);

    // The next fan-out probes the held shard once more, finds it empty and drops it.
    ports.clock.advance(Duration::minutes(5));
    let emptied = sweep(&ports).await.unwrap();
    assert_eq!(emptied.queries, 2 * DUE_SHARDS + 1);
    assert_eq!(
        emptied.shards_enqueued, 0,
        "nothing for the old bucket, the lease is not over"
    );
    assert_eq!(watermark(&ports).unwrap().held, Vec::new());
    ports.clock.advance(Duration::minutes(5));
    let after = sweep(&ports).await.unwrap();
    assert_eq!((after.queries, after.shards_enqueued), (2 * DUE_SHARDS, 0));
    assert_eq!(ports.queues.jobs().len(), 1);
}

#[tokio::test]
async fn an_older_fan_outs_watermark_write_after_a_newer_ones_changes_nothing() {
    let ports = MemoryPorts::new(now());
    let shard = |bucket: &str, shard| DueShard {
        bucket: bucket.to_owned(),
        shard,
    };
    let (a, b) = (shard("2026030908", 1), shard("2026030910", 6));
    // The newer fan-out (at 12:30) writes first; the older one (at 12:25, slower) writes after it.
    ports
        .table
        .advance_sweep_watermark(now(), std::slice::from_ref(&a), now())
        .await
        .unwrap();
    let older = now() - Duration::minutes(5);
    ports
        .table
        .advance_sweep_watermark(older, &[a.clone(), b], older)
        .await
        .unwrap();
    let newer = SweepWatermark {
        from: now() - Duration::hours(1),
        held: vec![a],
    };
    assert_eq!(
        watermark(&ports),
        Some(newer.clone()),
        "the newer watermark and held list stand"
    );
    assert_eq!(ports.table.sweep_watermark().await.unwrap(), Some(newer));

    // Of two at the same time the last writer wins, its held list (here empty) replacing the other's.
    ports.table.advance_sweep_watermark(now(), &[], now()).await.unwrap();
    assert_eq!(
        watermark(&ports),
        Some(SweepWatermark {
            from: now() - Duration::hours(1),
            held: Vec::new(),
        })
    );
}

#[tokio::test]
async fn a_purge_failure_does_not_fail_the_sweep() {
    let ports = MemoryPorts::new(now());
    let id = &ids_in_shard(0, 1)[0];
    file(&ports, id, t("2026-03-10T12:10:00Z"), t("2026-03-10T12:00:00Z"));
    let (failing, purged, waiting) = (
        StoreHash::parse("fail01").unwrap(),
        StoreHash::parse("gone01").unwrap(),
        StoreHash::parse("wait01").unwrap(),
    );
    {
        let mut tables = ports.table.tables();
        tables
            .uninstalled
            .insert(failing.clone(), (now() - Duration::days(1), 10));
        tables
            .uninstalled
            .insert(purged.clone(), (now() - Duration::days(1), 25));
        tables
            .uninstalled
            .insert(waiting.clone(), (now() + Duration::days(1), 5));
        tables.failing_purges.insert(failing.clone());
    }

    let report = sweep(&ports).await.unwrap();

    assert_eq!((report.stores_purged, report.purge_items_deleted), (1, 25));
    assert_eq!(report.shards_enqueued, 1, "reminders are not held up");
    {
        let tables = ports.table.tables();
        assert_eq!(tables.purged, vec![purged]);
        let left: HashSet<&StoreHash> = tables.uninstalled.keys().collect();
        assert_eq!(
            left,
            HashSet::from([&failing, &waiting]),
            "the failed one waits for the next sweep"
        );
    }

    // Nor does a failure to find the stores due for purging.
    ports.table.tables().purge_listing_fails = true;
    ports.clock.advance(Duration::minutes(5));
    let next = sweep(&ports).await.unwrap();
    assert_eq!((next.stores_purged, next.shards_enqueued), (0, 1));
}
