//! The send job's branches against the in-memory adapters ([`crate::memory`]): each test arranges the store,
//! runs [`job::process`] and checks what was stored and what the provider was asked to send. The wiring to
//! DynamoDB, the provider and BigCommerce is tested through moto (`tests/tests/integration/recovery.rs`).

use crate::memory::{Answer, MemoryPorts, PROVIDER};
use crate::{SendError, SendPorts, job, job::JobOutcome};
use chrono::{DateTime, Duration, Utc};
use shared::consent::{ConsentEvent, ConsentEventKind, OptInKeyword, Purpose};
use shared::db::SendClaim;
use shared::messages::{DomainEvent, SendJob};
use shared::model::sender::SENDER_NOT_APPROVED;
use shared::model::{
    Cart, CartStatus, LineItem, MerchantUser, ReminderClaim, SendRecord, SendStatus, Settings, Store, StoreStatus,
};
use shared::recovery::{SEND_ATTEMPT_TIMEOUT, SWEEP_LEASE, reminder_coupon_code};
use shared::sms::SendFailure;
use shared::{Phone, Secret, StoreHash};
use std::time::{Duration as StdDuration, Instant};

const CART: &str = "cart-1";
/// A London mobile: the UK's send window is 08:00-20:00 local time.
const NUMBER: &str = "+447911123456";

fn t(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339).unwrap().with_timezone(&Utc)
}

fn store_hash() -> StoreHash {
    StoreHash::parse("abc123").unwrap()
}

fn phone() -> Phone {
    Phone::from_e164(NUMBER).unwrap()
}

/// Noon in London, 40 minutes after the shopper left: the first reminder is due and lawful.
fn noon() -> DateTime<Utc> {
    t("2026-03-10T12:00:00Z")
}

/// An installed store whose shopper texted START yesterday, with an abandoned cart due for its first reminder
/// and its checkout at BigCommerce (billing phone: [`NUMBER`]).
fn arranged(now: DateTime<Utc>) -> MemoryPorts {
    let ports = MemoryPorts::new(now);
    let owner = MerchantUser {
        id: 1,
        email: "owner@acme.example".to_owned(),
    };
    let mut settings = Settings::defaults(owner.clone(), "Acme", t("2026-01-01T00:00:00Z"));
    settings.version = 1;
    settings.help_contact = "help@acme.example".to_owned();
    let store = Store {
        store_hash: store_hash(),
        status: StoreStatus::Installed,
        access_token: Default::default(),
        scopes: Vec::new(),
        owner,
        account_uuid: "account".to_owned(),
        webhook_secret: Secret::new("hook"),
        installed_at: t("2026-01-01T00:00:00Z"),
        updated_at: t("2026-01-01T00:00:00Z"),
        uninstalled_at: None,
        settings_version: 1,
        purge_after: None,
    };
    let cart = Cart {
        store_hash: store_hash(),
        cart_id: CART.to_owned(),
        customer_id: 0,
        channel_id: 1,
        email: Some("ann@example.com".to_owned()),
        first_name: Some("Ann".to_owned()),
        phone: Some(phone()),
        country_code: Some("GB".to_owned()),
        state_code: None,
        line_items: vec![LineItem {
            product_id: 7,
            variant_id: None,
            name: "Blue mug".to_owned(),
            quantity: 1,
            price: Default::default(),
            image_url: None,
        }],
        amount: Default::default(),
        currency: "GBP".to_owned(),
        status: CartStatus::Abandoned,
        last_activity_at: now - Duration::minutes(40),
        reminders_sent: 0,
        next_due_at: Some(now - Duration::minutes(10)),
        converted_order_id: None,
        updated_at: now - Duration::minutes(40),
    };
    let checkout = serde_json::from_value(serde_json::json!({
        "id": CART,
        "cart": { "id": CART, "customer_id": 0, "channel_id": 1 },
        "billing_address": { "first_name": "Ann", "country_code": "GB", "phone": NUMBER },
    }))
    .unwrap();
    let start = ConsentEvent::new(
        store_hash(),
        phone(),
        Purpose::Marketing,
        now - Duration::days(1),
        now - Duration::days(1),
        "start-1",
        ConsentEventKind::KeywordOptIn {
            keyword: OptInKeyword::Start,
            raw_text: "START".to_owned(),
            message_id: None,
        },
    );
    let mut tables = ports.store.tables();
    tables.stores.insert(store_hash(), (store, Some(settings)));
    tables.carts.insert((store_hash(), CART.to_owned()), cart);
    tables.checkouts.insert((store_hash(), CART.to_owned()), checkout);
    tables.ledger.insert((store_hash(), phone()), vec![start]);
    drop(tables);
    ports
}

fn send_job(step: u8, ports: &MemoryPorts) -> SendJob {
    SendJob::new(
        store_hash(),
        CART.to_owned(),
        step,
        ports.store.tables().carts[&cart_key()].next_due_at.unwrap(),
    )
}

fn cart_key() -> (StoreHash, String) {
    (store_hash(), CART.to_owned())
}

/// Runs one delivery of `job` with plenty of time left in the invocation.
async fn deliver(ports: &MemoryPorts, job: &SendJob) -> Result<JobOutcome, SendError> {
    Box::pin(job::process(ports, job, Instant::now() + StdDuration::from_secs(60))).await
}

fn cart(ports: &MemoryPorts) -> Cart {
    ports.store.tables().carts[&cart_key()].clone()
}

fn send_record(ports: &MemoryPorts, step: u8) -> Option<SendClaim> {
    ports
        .store
        .tables()
        .sends
        .get(&(store_hash(), CART.to_owned(), step))
        .cloned()
}

fn counter(ports: &MemoryPorts, name: &str) -> i64 {
    ports.store.tables().counters.get(name).copied().unwrap_or(0)
}

fn messages_sent(ports: &MemoryPorts) -> usize {
    ports
        .store
        .tables()
        .published
        .iter()
        .filter(|e| matches!(e, DomainEvent::MessageSent(_)))
        .count()
}

/// The send record of step 1 as another delivery claimed it a minute before `now`, with `status`.
fn claimed_record(now: DateTime<Utc>, status: SendStatus) -> SendRecord {
    let mut record = SendRecord::claimed(ReminderClaim {
        store_hash: store_hash(),
        cart_id: CART.to_owned(),
        step: 1,
        phone: phone(),
        claimed_at: now - Duration::minutes(1),
        ledger_event_id: "start-1".to_owned(),
        settings_version: 1,
        body: "Acme: Hi Ann, you left Blue mug in your cart.".to_owned(),
        segments: 1,
        link_token: "link".to_owned(),
        coupon_body: None,
    });
    record.status = status;
    if status == SendStatus::Sent {
        record.mark_sent(PROVIDER, "msg-earlier", now - Duration::minutes(1));
    }
    record
}

/// A claim an earlier delivery of step 1 made, with `status` and the attempt it left.
fn earlier_claim(ports: &MemoryPorts, status: SendStatus, attempt_started_at: Option<DateTime<Utc>>) -> SendRecord {
    let record = claimed_record(ports.now(), status);
    ports.store.tables().sends.insert(
        (store_hash(), CART.to_owned(), 1),
        SendClaim {
            record: record.clone(),
            attempt_started_at,
        },
    );
    record
}

#[tokio::test]
async fn happy_path_sends_one_sms_records_it_once_and_a_redelivery_sends_nothing() {
    let ports = arranged(noon());
    let job = send_job(1, &ports);

    let outcome = deliver(&ports, &job).await.unwrap();

    assert_eq!(
        outcome,
        JobOutcome::Sent {
            provider_message_id: "msg-1".to_owned()
        }
    );
    let calls = ports.texter.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].to, phone());
    assert_eq!(calls[0].idempotency_key, format!("{}:{CART}:1", store_hash()));
    let claim = send_record(&ports, 1).unwrap();
    assert_eq!(claim.record.status, SendStatus::Sent);
    assert_eq!(claim.record.provider_message_id.as_deref(), Some("msg-1"));
    assert_eq!(claim.attempt_started_at, None);
    assert_eq!(counter(&ports, "sent"), 1);
    assert_eq!(messages_sent(&ports), 1);
    let cart = cart(&ports);
    assert_eq!(cart.reminders_sent, 1);
    assert!(cart.next_due_at.unwrap() > noon(), "the next step is scheduled");

    // SQS delivers the job again (at least once): nothing more goes out or is counted.
    assert_eq!(
        deliver(&ports, &job).await.unwrap(),
        JobOutcome::Dropped {
            reason: "the step was already handled"
        }
    );
    assert_eq!(ports.texter.calls().len(), 1);
    assert_eq!(counter(&ports, "sent"), 1);
    assert_eq!(messages_sent(&ports), 1);
}

#[tokio::test]
async fn an_earlier_claim_with_its_provider_call_in_flight_sends_nothing() {
    let ports = arranged(noon());
    let job = send_job(1, &ports);
    let started = noon() - Duration::seconds(5);
    let record = earlier_claim(&ports, SendStatus::Claimed, Some(started));

    let error = deliver(&ports, &job).await.unwrap_err();

    assert!(matches!(error, SendError::Busy(_)), "{error:?}");
    assert!(
        error.is_retryable(),
        "the job comes back once the other delivery is done"
    );
    assert!(ports.texter.calls().is_empty());
    assert_eq!(
        send_record(&ports, 1),
        Some(SendClaim {
            record,
            attempt_started_at: Some(started)
        })
    );
    assert_eq!(cart(&ports).reminders_sent, 0);
}

#[tokio::test]
async fn a_claim_lost_to_an_overlapping_delivery_sends_nothing() {
    let ports = arranged(noon());
    let job = send_job(1, &ports);
    let theirs = claimed_record(noon(), SendStatus::Claimed);
    let claimed = theirs.clone();
    ports.store.before_next_claim(move |tables| {
        let claim = SendClaim {
            record: claimed,
            attempt_started_at: None,
        };
        tables.sends.insert((store_hash(), CART.to_owned(), 1), claim);
    });

    let outcome = deliver(&ports, &job).await.unwrap();

    assert_eq!(
        outcome,
        JobOutcome::Dropped {
            reason: "another delivery of this job claimed the step"
        }
    );
    assert!(ports.texter.calls().is_empty());
    assert_eq!(send_record(&ports, 1).unwrap().record, theirs, "their claim stands");
    assert_eq!(
        cart(&ports).reminders_sent,
        0,
        "the delivery that claimed it moves the cart on"
    );
}

#[tokio::test]
async fn a_number_without_consent_is_denied_and_nothing_is_claimed() {
    let ports = arranged(noon());
    let job = send_job(1, &ports);
    ports.store.tables().ledger.clear();

    let outcome = deliver(&ports, &job).await.unwrap();

    assert!(matches!(outcome, JobOutcome::Denied { .. }), "{outcome:?}");
    assert!(ports.texter.calls().is_empty());
    assert!(ports.store.tables().sends.is_empty());
    assert_eq!(cart(&ports).next_due_at, None, "the sequence ends");
    assert_eq!(ports.store.tables().decisions[0].outcome, "deny");
}

#[tokio::test]
async fn an_earlier_claim_that_sent_is_finished_without_sending_again() {
    let ports = arranged(noon());
    let job = send_job(1, &ports);
    earlier_claim(&ports, SendStatus::Sent, None);

    let outcome = deliver(&ports, &job).await.unwrap();

    assert_eq!(
        outcome,
        JobOutcome::Dropped {
            reason: "the step was already sent"
        }
    );
    assert!(ports.texter.calls().is_empty());
    assert_eq!(send_record(&ports, 1).unwrap().record.status, SendStatus::Sent);
    // The delivery that sent it stopped before its bookkeeping: this one finishes it.
    assert_eq!(messages_sent(&ports), 1);
    assert_eq!(cart(&ports).reminders_sent, 1);
}

#[tokio::test]
async fn a_job_for_a_step_already_handled_or_not_next_is_dropped() {
    let ports = arranged(noon());
    let before = cart(&ports);

    let ahead = deliver(&ports, &send_job(2, &ports)).await.unwrap();
    assert_eq!(
        ahead,
        JobOutcome::Dropped {
            reason: "the job is not for the cart's next step"
        }
    );

    let mut advanced = before.clone();
    advanced.reminders_sent = 1;
    ports.store.tables().carts.insert(cart_key(), advanced.clone());
    let behind = deliver(&ports, &send_job(1, &ports)).await.unwrap();
    assert_eq!(
        behind,
        JobOutcome::Dropped {
            reason: "the step was already handled"
        }
    );

    assert!(ports.texter.calls().is_empty());
    assert!(ports.store.tables().sends.is_empty());
    assert!(ports.store.tables().decisions.is_empty());
    assert_eq!(cart(&ports), advanced);
}

#[tokio::test]
async fn a_job_for_a_converted_cart_ends_its_sequence_without_sending() {
    let ports = arranged(noon());
    let job = send_job(1, &ports);
    ports.store.tables().carts.get_mut(&cart_key()).unwrap().status = CartStatus::Converted;

    let outcome = deliver(&ports, &job).await.unwrap();

    assert_eq!(
        outcome,
        JobOutcome::Dropped {
            reason: "the cart was converted, deleted or expired"
        }
    );
    assert!(ports.texter.calls().is_empty());
    assert_eq!(cart(&ports).next_due_at, None);
}

#[tokio::test]
async fn quiet_hours_defer_the_reminder_and_send_nothing() {
    // 22:30 in London: outside the UK's 08:00-20:00 window.
    let late = t("2026-03-10T22:30:00Z");
    let ports = arranged(late);
    let job = send_job(1, &ports);

    let outcome = deliver(&ports, &job).await.unwrap();

    let JobOutcome::Deferred { until } = outcome else {
        panic!("expected a deferral, got {outcome:?}");
    };
    assert_eq!(until, t("2026-03-11T08:00:00Z"), "the window opens at 08:00 in London");
    assert!(ports.texter.calls().is_empty());
    assert!(ports.store.tables().sends.is_empty(), "nothing is claimed");
    let cart = cart(&ports);
    assert_eq!(cart.next_due_at, Some(until));
    assert_eq!(cart.reminders_sent, 0);
    let tables = ports.store.tables();
    let [decision] = tables.decisions.as_slice() else {
        panic!("one decision expected: {:?}", tables.decisions);
    };
    assert_eq!(decision.outcome, "defer");
    assert_eq!(decision.defer_until, Some(until));
}

#[tokio::test]
async fn a_provider_timeout_is_recorded_unconfirmed_and_never_resent() {
    let ports = arranged(noon());
    let job = send_job(1, &ports);
    ports.texter.answer([Answer::TimeOut]);

    assert_eq!(deliver(&ports, &job).await.unwrap(), JobOutcome::Unconfirmed);

    assert_eq!(ports.texter.calls().len(), 1);
    let claim = send_record(&ports, 1).unwrap();
    assert_eq!(claim.record.status, SendStatus::Unconfirmed);
    assert!(claim.record.error.as_deref().unwrap().contains("outcome unknown"));
    assert_eq!(claim.attempt_started_at, None);
    assert_eq!(counter(&ports, "sent"), 0);
    assert_eq!(messages_sent(&ports), 0);
    assert_eq!(cart(&ports).reminders_sent, 1, "the step counts as done");

    // Redelivered: never sent again, whether the step had moved on or (the delivery died before moving it)
    // not.
    assert_eq!(
        deliver(&ports, &job).await.unwrap(),
        JobOutcome::Dropped {
            reason: "the step was already handled"
        }
    );
    let mut not_moved_on = cart(&ports);
    not_moved_on.reminders_sent = 0;
    ports.store.tables().carts.insert(cart_key(), not_moved_on);
    assert_eq!(
        deliver(&ports, &job).await.unwrap(),
        JobOutcome::Dropped {
            reason: "the step already failed or its outcome is unknown"
        }
    );
    assert_eq!(ports.texter.calls().len(), 1);
    assert_eq!(cart(&ports).reminders_sent, 1);
}

#[tokio::test]
async fn an_attempt_that_never_reported_back_is_settled_unconfirmed_without_sending() {
    // A delivery claimed the step, began its provider call and died: its attempt outlived the timeout.
    let ports = arranged(noon());
    let job = send_job(1, &ports);
    earlier_claim(&ports, SendStatus::Claimed, Some(noon() - SEND_ATTEMPT_TIMEOUT));

    assert_eq!(deliver(&ports, &job).await.unwrap(), JobOutcome::Unconfirmed);

    assert!(ports.texter.calls().is_empty());
    let claim = send_record(&ports, 1).unwrap();
    assert_eq!(claim.record.status, SendStatus::Unconfirmed);
    assert!(claim.record.error.as_deref().unwrap().contains("never reported back"));
    assert_eq!(cart(&ports).reminders_sent, 1);
}

#[tokio::test]
async fn a_refused_number_is_recorded_failed_flagged_and_not_retried() {
    let ports = arranged(noon());
    let job = send_job(1, &ports);
    ports.texter.answer([Answer::Refuse(SendFailure::InvalidNumber)]);

    assert_eq!(
        deliver(&ports, &job).await.unwrap(),
        JobOutcome::Refused {
            failure: "invalid_number"
        }
    );

    assert_eq!(ports.texter.calls().len(), 1);
    let claim = send_record(&ports, 1).unwrap();
    assert_eq!(claim.record.status, SendStatus::Failed);
    assert_eq!(claim.attempt_started_at, None);
    assert_eq!(cart(&ports).next_due_at, None, "the sequence ends");
    let contact = ports.store.tables().contacts[&(store_hash(), phone())].clone();
    assert!(contact.undeliverable.unwrap().starts_with(PROVIDER));
    assert_eq!(counter(&ports, "sent"), 0);

    // A redelivery finds the sequence ended and sends nothing.
    assert_eq!(
        deliver(&ports, &job).await.unwrap(),
        JobOutcome::Dropped {
            reason: "the cart has no reminder due"
        }
    );
    assert_eq!(ports.texter.calls().len(), 1);
}

#[tokio::test]
async fn a_rejected_message_is_recorded_failed_and_the_sequence_goes_on() {
    let ports = arranged(noon());
    let job = send_job(1, &ports);
    ports.texter.answer([Answer::Refuse(SendFailure::MessageRejected)]);

    assert_eq!(
        deliver(&ports, &job).await.unwrap(),
        JobOutcome::Refused {
            failure: "message_rejected"
        }
    );

    assert_eq!(send_record(&ports, 1).unwrap().record.status, SendStatus::Failed);
    let cart = cart(&ports);
    assert_eq!(cart.reminders_sent, 1);
    assert!(cart.next_due_at.is_some(), "the next step is still due");
    assert_eq!(messages_sent(&ports), 0);
}

#[tokio::test]
async fn a_carrier_opt_out_is_recorded_in_the_ledger() {
    let ports = arranged(noon());
    let job = send_job(1, &ports);
    ports.texter.answer([Answer::Refuse(SendFailure::OptedOut)]);

    assert_eq!(
        deliver(&ports, &job).await.unwrap(),
        JobOutcome::Refused { failure: "opted_out" }
    );

    assert_eq!(send_record(&ports, 1).unwrap().record.status, SendStatus::Failed);
    let tables = ports.store.tables();
    let ledger = &tables.ledger[&(store_hash(), phone())];
    assert_eq!(ledger.len(), 2);
    assert!(
        matches!(ledger[1].kind, ConsentEventKind::OptOut(_)),
        "{:?}",
        ledger[1].kind
    );
    assert_eq!(tables.carts[&cart_key()].next_due_at, None);
}

#[tokio::test]
async fn an_unavailable_provider_is_retried_and_the_retry_sends_once() {
    let ports = arranged(noon());
    let job = send_job(1, &ports);
    ports.texter.answer([Answer::Unavailable]);

    let error = deliver(&ports, &job).await.unwrap_err();

    assert!(matches!(error, SendError::ProviderUnavailable(_)), "{error:?}");
    assert!(error.is_retryable());
    let claim = send_record(&ports, 1).unwrap();
    assert_eq!(
        claim.record.status,
        SendStatus::Claimed,
        "the claim is kept for the retry"
    );
    assert_eq!(
        claim.attempt_started_at, None,
        "the attempt is released: nothing went out"
    );
    assert!(claim.record.error.is_some());
    assert_eq!(counter(&ports, "sent"), 0);
    assert_eq!(cart(&ports).reminders_sent, 0);
    assert_eq!(ports.store.tables().provider_failures, vec![(CART.to_owned(), 1)]);

    // SQS brings it back: the kept claim is sent, once.
    assert_eq!(
        deliver(&ports, &job).await.unwrap(),
        JobOutcome::Sent {
            provider_message_id: "msg-2".to_owned()
        }
    );
    assert_eq!(ports.texter.calls().len(), 2);
    assert_eq!(send_record(&ports, 1).unwrap().record.status, SendStatus::Sent);
    assert_eq!(counter(&ports, "sent"), 1);
    assert_eq!(messages_sent(&ports), 1);
}

#[tokio::test]
async fn a_provider_unavailable_twice_running_defers_the_reminder() {
    let ports = arranged(noon());
    let job = send_job(1, &ports);
    ports.texter.answer([Answer::Unavailable, Answer::Unavailable]);

    deliver(&ports, &job).await.unwrap_err();
    let outcome = deliver(&ports, &job).await.unwrap();

    assert_eq!(
        outcome,
        JobOutcome::Deferred {
            until: noon() + job::PROVIDER_RETRY
        }
    );
    assert_eq!(cart(&ports).next_due_at, Some(noon() + job::PROVIDER_RETRY));
    assert_eq!(send_record(&ports, 1).unwrap().record.status, SendStatus::Claimed);
    assert_eq!(counter(&ports, "sent"), 0);
}

fn change_settings(ports: &MemoryPorts, change: impl FnOnce(&mut Settings)) {
    let mut tables = ports.store.tables();
    let (_, settings) = tables.stores.get_mut(&store_hash()).unwrap();
    change(settings.as_mut().unwrap());
}

#[tokio::test]
async fn a_misconfigured_provider_keeps_the_claim_and_defers_by_a_lease() {
    let ports = arranged(noon());
    let job = send_job(1, &ports);
    ports.texter.answer([Answer::Refuse(SendFailure::Configuration)]);

    let outcome = deliver(&ports, &job).await.unwrap();

    let until = noon() + SWEEP_LEASE;
    assert_eq!(outcome, JobOutcome::Deferred { until });
    let claim = send_record(&ports, 1).unwrap();
    assert_eq!(claim.record.status, SendStatus::Claimed);
    assert_eq!(
        claim.attempt_started_at, None,
        "nothing went out: the attempt is released"
    );
    assert_eq!(cart(&ports).next_due_at, Some(until));
    assert_eq!(counter(&ports, "sent"), 0);
}

#[tokio::test]
async fn a_sender_the_operator_has_not_approved_sends_nothing() {
    let ports = arranged(noon());
    let job = send_job(1, &ports);
    change_settings(&ports, |settings| settings.sender_id = Some("ACME".to_owned()));

    let outcome = deliver(&ports, &job).await.unwrap();

    assert_eq!(
        outcome,
        JobOutcome::Denied {
            code: SENDER_NOT_APPROVED.to_owned()
        }
    );
    assert!(ports.texter.calls().is_empty());
    assert!(ports.store.tables().sends.is_empty());
    assert_eq!(cart(&ports).next_due_at, None);
}

#[tokio::test]
async fn a_cart_gone_at_bigcommerce_ends_its_sequence_without_sending() {
    let ports = arranged(noon());
    let job = send_job(1, &ports);
    ports.store.tables().checkouts.clear();

    let outcome = deliver(&ports, &job).await.unwrap();

    assert_eq!(
        outcome,
        JobOutcome::Dropped {
            reason: "the cart no longer exists at BigCommerce"
        }
    );
    assert!(ports.texter.calls().is_empty());
    assert_eq!(cart(&ports).next_due_at, None);
}

#[tokio::test]
async fn a_unique_coupon_code_is_made_once_and_goes_out_in_the_text() {
    let ports = arranged(noon());
    let job = send_job(1, &ports);
    change_settings(&ports, |settings| {
        settings.reminders.coupon_promotion_id = Some(42);
        settings.reminders.template = "{brand}: you left {items}. Code {discount}: {link}".to_owned();
    });
    let code = reminder_coupon_code(&store_hash(), CART, 1);
    // An earlier attempt made the code but its answer was lost: BigCommerce answers 409 now.
    ports.store.tables().coupons.insert((42, code.clone()));

    deliver(&ports, &job).await.unwrap();

    let calls = ports.texter.calls();
    assert_eq!(calls.len(), 1);
    assert!(calls[0].body.contains(&code), "{}", calls[0].body);
    let record = send_record(&ports, 1).unwrap().record;
    assert_eq!(record.coupon_code, Some(code));
    assert_eq!(record.coupon_error, None);
    assert_eq!(ports.store.tables().coupons.len(), 1, "no second code");
}
