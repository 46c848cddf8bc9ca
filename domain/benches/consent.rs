//! Consent engine throughput: decisions per second for ledgers of 1, 10 and 100 events, and reply
//! classifications per second. Run with `cargo bench -p domain --bench consent`.

use chrono::{DateTime, Duration, Utc};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use domain::consent::{
    ConsentEvent, ConsentEventKind, DecisionInput, MessageKind, OptInKeyword, PastSend, Purpose, Recipient, SentKind,
    build_disclosure, classify, content::double_opt_in_request, decide,
};
use domain::model::{ConsentOption, MerchantUser, Settings};
use domain::{Phone, StoreHash};
use std::hint::black_box;

fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339).unwrap().with_timezone(&Utc)
}

/// A ledger of `n` events for a New York number whose history ends in a confirmed double opt-in, so the
/// decision walks every rule and allows: the slowest path. Earlier events are the everyday mix (purchases,
/// newsletter toggles, inferred and imported consent, checkboxes).
fn ledger(n: usize, phone: &Phone, settings: &Settings) -> Vec<ConsentEvent> {
    let store = StoreHash::parse("bench1").unwrap();
    let disclosure = build_disclosure("Acme", "https://acme.example/terms", "https://acme.example/privacy").unwrap();
    let start = at("2024-01-01T00:00:00Z");
    let tail = [
        ConsentEventKind::CheckoutCheckbox {
            disclosure_version: disclosure.version.clone(),
            disclosure_text: disclosure.text.clone(),
            checkbox_default_checked: false,
            ip: "203.0.113.7".into(),
            user_agent: "bench".into(),
            page_url: None,
            cart_id: Some("cart".into()),
        },
        ConsentEventKind::DoubleOptInRequested {
            message_id: None,
            text: double_opt_in_request(settings),
        },
        ConsentEventKind::DoubleOptInConfirmed {
            raw_text: "YES".into(),
            message_id: None,
        },
    ];
    let filler = |i: usize| match i % 5 {
        0 => ConsentEventKind::Purchase {
            order_id: i as u64,
            opt_out_offered: true,
        },
        1 => ConsentEventKind::GeneralMarketing {
            opted_in: true,
            evidence: "flag".into(),
        },
        2 => ConsentEventKind::Inferred {
            source: "checkout".into(),
        },
        3 => ConsentEventKind::ImportDefault {
            sync_job_id: "job".into(),
        },
        _ => ConsentEventKind::KeywordOptIn {
            keyword: OptInKeyword::Start,
            raw_text: "START".into(),
            message_id: None,
        },
    };
    let kinds: Vec<ConsentEventKind> = if n < tail.len() {
        vec![
            ConsentEventKind::KeywordOptIn {
                keyword: OptInKeyword::Yes,
                raw_text: "YES".into(),
                message_id: None,
            };
            n
        ]
    } else {
        (0..n - tail.len()).map(filler).chain(tail).collect()
    };
    kinds
        .into_iter()
        .enumerate()
        .map(|(i, kind)| ConsentEvent {
            event_id: format!("e{i:04}"),
            store_hash: store.clone(),
            phone: phone.clone(),
            purpose: Purpose::Marketing,
            occurred_at: start + Duration::hours(i as i64),
            recorded_at: start + Duration::hours(i as i64),
            idempotency_key: format!("k{i}"),
            kind,
        })
        .collect()
}

fn decisions(c: &mut Criterion) {
    let phone = Phone::parse("+12122014567", None).unwrap();
    let recipient = Recipient::resolve(&phone, &[]);
    let mut settings = Settings::defaults(
        MerchantUser {
            id: 1,
            email: "owner@acme.example".into(),
        },
        "Acme",
        at("2024-01-01T00:00:00Z"),
    );
    settings.consent_option = ConsentOption::SmsCheckbox;
    settings.terms_url = Some("https://acme.example/terms".into());
    settings.privacy_url = Some("https://acme.example/privacy".into());
    let now = at("2025-06-03T16:00:00Z"); // Tuesday noon in New York
    let message = MessageKind::CartReminder {
        cart_id: "cart-1".into(),
        step: 1,
        abandoned_at: now - Duration::hours(1),
    };
    let sends = vec![PastSend {
        sent_at: now - Duration::hours(30),
        kind: SentKind::CartReminder {
            cart_id: "cart-0".into(),
            step: 1,
        },
    }];

    let mut group = c.benchmark_group("decide");
    group.throughput(Throughput::Elements(1));
    for n in [1usize, 10, 100] {
        // A one-event ledger cannot hold written consent, and a keyword alone is not written consent in the
        // US: measure it with the keyword alone from a UK number (17:00 in London), where a keyword is enough.
        let (phone, recipient) = if n >= 3 {
            (phone.clone(), recipient.clone())
        } else {
            let uk = Phone::parse("+447911123456", None).unwrap();
            let recipient = Recipient::resolve(&uk, &[]);
            (uk, recipient)
        };
        let events = ledger(n, &phone, &settings);
        let input = DecisionInput {
            settings: &settings,
            ledger: &events,
            message: &message,
            sends: &sends,
            recipient: &recipient,
            now,
        };
        assert!(decide(&input).is_allow(), "the benchmark must measure the full path");
        group.bench_with_input(BenchmarkId::new("ledger_events", n), &input, |b, input| {
            b.iter(|| decide(black_box(input)))
        });
    }
    // The same 100-event ledger at 23:00 local: the quiet-hours search for the next opening.
    let events = ledger(100, &phone, &settings);
    let night = at("2025-06-04T03:00:00Z");
    let late = MessageKind::CartReminder {
        cart_id: "cart-1".into(),
        step: 1,
        abandoned_at: night - Duration::hours(1),
    };
    let input = DecisionInput {
        settings: &settings,
        ledger: &events,
        message: &late,
        sends: &sends,
        recipient: &recipient,
        now: night,
    };
    assert_eq!(decide(&input).outcome(), "defer");
    group.bench_with_input(BenchmarkId::new("deferred_ledger_events", 100), &input, |b, input| {
        b.iter(|| decide(black_box(input)))
    });
    group.finish();
}

fn classifications(c: &mut Criterion) {
    let replies = [
        "STOP",
        "Stop.",
        " unsubscribe ",
        "yes",
        "HELP",
        "please stop texting me",
        "No más",
        "stpo",
        "Is the blue one still in stock? I might come by the store on Saturday afternoon.",
        "thanks!",
    ];
    let mut group = c.benchmark_group("classify");
    group.throughput(Throughput::Elements(replies.len() as u64));
    group.bench_function("mixed_replies", |b| {
        b.iter(|| {
            for reply in &replies {
                black_box(classify(black_box(reply)));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, decisions, classifications);
criterion_main!(benches);
