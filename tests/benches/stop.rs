//! `cargo xtask bench stop`: how soon an inbound STOP is visible to the send decision, against moto.
//!
//! Each round takes a fresh subscribed New York number with a cart reminder due. A poller reads the phone's
//! snapshot and asks the consent engine about the reminder, back to back, exactly as the send function
//! does; meanwhile the STOP is posted, as MessageMedia would post it, to the real `webhooks` handler behind
//! the local HTTP API. Reported per round:
//! - visible: from the moment the request is sent to the end of the first poll that saw the opt-out (an
//!   upper bound: the opt-out was committed before that poll read it);
//! - answered: until the provider got its HTTP answer (the opt-out is recorded before it; the confirmation
//!   text is sent within it).
//!
//! `STOP_BENCH_ROUNDS` sets the number of measured rounds (default 100; 5 more warm up first).

use chrono::Duration;
use integration_tests::replies::{SENDER, us_phone};
use integration_tests::{SeededStore, TestApp, TestAppOptions, at};
use shared::Clock;
use std::sync::Arc;
use std::time::Instant;

const WARM_UP: usize = 5;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run());
}

struct Round {
    visible_ms: f64,
    answered_ms: f64,
    polls: u32,
    /// One snapshot query (+ the decision) against moto, for scale.
    poll_ms: f64,
}

async fn run() {
    let rounds: usize = std::env::var("STOP_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let app = Arc::new(
        TestApp::start_with(TestAppOptions {
            start: at("2026-11-25T15:00:00Z"),
            ..TestAppOptions::default()
        })
        .await,
    );
    let url = app.messagemedia_callback();
    let store: Arc<SeededStore> = Arc::new(app.seed_store("bench1", |s| s.sender_id = Some(SENDER.into())).await);
    app.approve_sender(&store, shared::model::SenderSharing::Exclusive)
        .await;

    let mut measured = Vec::with_capacity(rounds);
    for i in 0..WARM_UP + rounds {
        let round = one_round(&app, &store, &url, i as u32 + 1).await;
        if i >= WARM_UP {
            measured.push(round);
        }
    }

    let visible: Vec<f64> = measured.iter().map(|r| r.visible_ms).collect();
    let answered: Vec<f64> = measured.iter().map(|r| r.answered_ms).collect();
    let polls: Vec<f64> = measured.iter().map(|r| f64::from(r.polls)).collect();
    let poll_ms: Vec<f64> = measured.iter().map(|r| r.poll_ms).collect();
    println!(
        "stop: inbound STOP -> opt-out visible to the send decision (moto at {})",
        moto()
    );
    println!("machine: {}", machine());
    println!("rounds: {} (after {WARM_UP} warm-up)", measured.len());
    report("visible to the send decision", &visible);
    report("provider answered (incl. confirmation)", &answered);
    println!(
        "  polls per round (snapshot + decide, back to back): median {:.0}, one poll median {:.1} ms",
        percentile(&polls, 50.0),
        percentile(&poll_ms, 50.0)
    );
}

async fn one_round(app: &Arc<TestApp>, store: &Arc<SeededStore>, url: &str, n: u32) -> Round {
    let phone = us_phone(n);
    app.put_contact(&store.store_hash, &phone, None).await;
    app.subscribe(store, &phone).await;
    let cart = app
        .cart_due(&store.store_hash, &phone, &format!("bench-{n}"), Duration::seconds(1))
        .await;
    let due = app.clock.now() + Duration::seconds(1);
    assert!(app.reminder_decision(store, &cart, due).await.is_allow());

    let started = Instant::now();
    let poller = {
        let (app, store, cart) = (app.clone(), store.clone(), cart.clone());
        tokio::spawn(async move {
            let mut polls = 0;
            let polling = Instant::now();
            loop {
                polls += 1;
                let decision = app.reminder_decision(&store, &cart, due).await;
                if !decision.is_allow() {
                    assert_eq!(decision.code(), "opted_out", "{decision:?}");
                    let per_poll = polling.elapsed().as_secs_f64() * 1000.0 / f64::from(polls);
                    return (started.elapsed(), polls, per_poll);
                }
            }
        })
    };
    let body = serde_json::json!({
        "reply_id": uuid::Uuid::new_v4().to_string(),
        "message_id": uuid::Uuid::new_v4().to_string(),
        "date_received": app.clock.now().to_rfc3339(),
        "source_number": phone.as_e164(),
        "destination_number": SENDER,
        "content": "STOP",
        "metadata": { "store_hash": store.store_hash.as_str(), "cart_id": cart.cart_id, "step": "1" },
    });
    let response = app.http.post(url).json(&body).send().await.expect("webhook answers");
    let answered = started.elapsed();
    assert_eq!(response.status(), 200);
    let (visible, polls, poll_ms) = poller.await.expect("poller");
    Round {
        visible_ms: visible.as_secs_f64() * 1000.0,
        answered_ms: answered.as_secs_f64() * 1000.0,
        polls,
        poll_ms,
    }
}

fn report(what: &str, samples: &[f64]) {
    println!(
        "  {what}: median {:.1} ms, p95 {:.1} ms, max {:.1} ms",
        percentile(samples, 50.0),
        percentile(samples, 95.0),
        percentile(samples, 100.0)
    );
}

/// Nearest-rank percentile.
fn percentile(samples: &[f64], p: f64) -> f64 {
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
    format!("{cpus} cores available ({model}), {}", std::env::consts::ARCH)
}
