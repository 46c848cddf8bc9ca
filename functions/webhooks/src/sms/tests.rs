//! The reply handling against the in-memory adapters ([`super::memory`]): each test arranges the stores, delivers
//! replies as a provider's push does (once per provider id, [`super::once`]) and checks what was recorded and
//! what the provider was asked to send. The wiring to DynamoDB and the providers is tested through moto
//! (`tests/tests/integration/replies.rs`, `replies_second_pass.rs`).

use super::memory::{Answer, Happened, MemoryPorts, PROVIDER};
use super::replies::{ANSWER_TIMEOUT, StoreOutcome, handle};
use super::{SmsWebhookError, Summary, once};
use chrono::{DateTime, Duration, Utc};
use futures::FutureExt;
use shared::consent::content::{help_reply, opt_out_confirmation};
use shared::consent::{ConsentEvent, ConsentEventKind, OptInKeyword, OptOutMethod, PastSend, Purpose, SentKind};
use shared::db::delivery_lease;
use shared::model::sender::{SenderApproval, sender_key};
use shared::model::{MerchantUser, Settings, Store, StoreStatus};
use shared::replies::{Answer as Reply, ReplyOutcome};
use shared::sms::{InboundReply, OutboundSms, SendFailure};
use shared::test_text::{REMINDER_KIND, TEST_MARK, TestNumber};
use shared::{Clock, Phone, Secret, StoreHash};
use std::collections::BTreeMap;

/// The number the stores text from (and the shopper texts back to).
const SENDER: &str = "+12125550100";
const BRAND: &str = "Acme";

fn t(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339).unwrap().with_timezone(&Utc)
}

/// Wednesday 10:00 in New York.
fn daytime() -> DateTime<Utc> {
    t("2026-11-25T15:00:00Z")
}

fn hash(name: &str) -> StoreHash {
    StoreHash::parse(name).unwrap()
}

fn phone(n: u32) -> Phone {
    Phone::from_e164(&format!("+1212201{n:04}")).unwrap()
}

/// Installed stores texting from [`SENDER`], which the operator approved for them (shared when several).
fn with_stores(names: &[&str]) -> MemoryPorts {
    let ports = MemoryPorts::new(daytime());
    let owner = MerchantUser {
        id: 1,
        email: "owner@acme.example".to_owned(),
    };
    let installed = t("2026-01-01T00:00:00Z");
    let mut tables = ports.store.tables();
    for name in names {
        let mut settings = Settings::defaults(owner.clone(), BRAND, installed);
        settings.version = 1;
        settings.help_contact = "help@acme.example".to_owned();
        // The double opt-in request carries the full disclosure, links included.
        settings.terms_url = Some("https://acme.example/terms".to_owned());
        settings.privacy_url = Some("https://acme.example/privacy".to_owned());
        settings.sender_id = Some(SENDER.to_owned());
        let store = Store {
            store_hash: hash(name),
            status: StoreStatus::Installed,
            access_token: Default::default(),
            scopes: Vec::new(),
            owner: owner.clone(),
            account_uuid: "account".to_owned(),
            webhook_secret: Secret::new("hook"),
            installed_at: installed,
            updated_at: installed,
            uninstalled_at: None,
            settings_version: 1,
            purge_after: None,
        };
        tables.stores.insert(hash(name), (store, Some(settings)));
    }
    tables.sender_approvals.insert(
        sender_key(SENDER),
        SenderApproval {
            sender: SENDER.to_owned(),
            stores: names.iter().map(|n| hash(n)).collect(),
            shared: names.len() > 1,
            updated_at: installed,
        },
    );
    drop(tables);
    ports
}

/// The store sent the phone a reminder yesterday: a history with it.
fn texted(ports: &MemoryPorts, store: &str, phone: &Phone) {
    let at = ports.clock.now() - Duration::days(1);
    ports
        .store
        .tables()
        .past_sends
        .entry((hash(store), phone.clone()))
        .or_default()
        .push(PastSend {
            sent_at: at,
            kind: SentKind::CartReminder {
                cart_id: "cart-1".to_owned(),
                step: 1,
            },
        });
}

/// The phone texted START to the store yesterday, and got a reminder since.
fn subscribed(ports: &MemoryPorts, store: &str, phone: &Phone) {
    let at = ports.clock.now() - Duration::days(1);
    let start = ConsentEvent::new(
        hash(store),
        phone.clone(),
        Purpose::Marketing,
        at,
        at,
        format!("start:{store}"),
        ConsentEventKind::KeywordOptIn {
            keyword: OptInKeyword::Start,
            raw_text: "START".to_owned(),
            message_id: None,
        },
    );
    ports
        .store
        .tables()
        .ledger
        .insert((hash(store), phone.clone()), vec![start]);
    texted(ports, store, phone);
}

/// A text from `from` to [`SENDER`], received now, with the metadata a provider echoes (none: a shared
/// sender's reply does not say which store it answers).
fn text(ports: &MemoryPorts, id: &str, from: &Phone, body: &str, metadata: &[(&str, &str)]) -> InboundReply {
    InboundReply {
        provider: PROVIDER,
        id: id.to_owned(),
        from: from.clone(),
        to: Some(SENDER.to_owned()),
        text: body.to_owned(),
        in_reply_to: None,
        metadata: metadata
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect::<BTreeMap<_, _>>(),
        received_at: Some(ports.clock.now()),
    }
}

/// One delivery of the provider's push carrying `reply`: processed once per provider id, as the handler
/// does (`sms-reply:{provider}:{id}`).
async fn deliver(ports: &MemoryPorts, reply: &InboundReply) -> Result<Summary, SmsWebhookError> {
    let key = format!("sms-reply:{}:{}", reply.provider, reply.id);
    let work = async { Box::pin(handle(ports, reply.clone())).await.map(Summary::Reply) };
    once(ports, &key, &reply.from, work).await
}

fn outcomes(summary: Summary) -> Vec<StoreOutcome> {
    match summary {
        Summary::Reply(outcomes) => outcomes,
        Summary::Duplicate => panic!("expected the reply processed, it was a duplicate"),
        Summary::Report(_) => panic!("expected a reply"),
    }
}

fn keyword_opt_outs(ledger: &[ConsentEvent]) -> Vec<String> {
    ledger
        .iter()
        .filter_map(|e| match &e.kind {
            ConsentEventKind::OptOut(OptOutMethod::Keyword { raw_text, .. }) => Some(raw_text.clone()),
            _ => None,
        })
        .collect()
}

fn messages(ports: &MemoryPorts) -> Vec<OutboundSms> {
    ports.texter.messages()
}

fn answers_sent(ports: &MemoryPorts, store: &str, phone: &Phone, kind: SentKind) -> usize {
    ports
        .store
        .tables()
        .past_sends_of(&hash(store), phone)
        .iter()
        .filter(|s| s.kind == kind)
        .count()
}

#[tokio::test]
async fn stop_is_in_the_ledger_before_the_provider_is_called_and_is_confirmed_exactly_once() {
    let ports = with_stores(&["stop01"]);
    let shopper = phone(1);
    subscribed(&ports, "stop01", &shopper);

    let stop = text(&ports, "r-1", &shopper, "Stop.", &[]);
    let done = outcomes(deliver(&ports, &stop).await.unwrap());
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].outcome, ReplyOutcome::OptedOut);
    assert_eq!(done[0].answer, Some(Reply::OptOutConfirmation));

    // The opt-out was appended before the provider got the confirmation.
    let journal = ports.journal.entries();
    let appended = journal
        .iter()
        .position(|h| matches!(h, Happened::Appended(e) if matches!(e.kind, ConsentEventKind::OptOut(_))))
        .expect("the opt-out is in the ledger");
    let called = journal
        .iter()
        .position(|h| matches!(h, Happened::ProviderCalled(m) if m.body == opt_out_confirmation(BRAND)))
        .expect("the confirmation was sent");
    assert!(appended < called, "{journal:?}");

    // One confirmation, from the number texted, naming the brand, sent with the answer's short timeout.
    let calls = ports.texter.calls();
    assert_eq!(calls.len(), 1);
    let message = &calls[0].message;
    assert_eq!(message.to, shopper);
    assert_eq!(message.body, opt_out_confirmation(BRAND));
    assert_eq!(message.from.as_deref(), Some(SENDER));
    assert_eq!(message.metadata["store_hash"], "stop01");
    assert_eq!(calls[0].timeout, Some(ANSWER_TIMEOUT));
    assert_eq!(
        answers_sent(&ports, "stop01", &shopper, SentKind::OptOutConfirmation),
        1
    );
    {
        let tables = ports.store.tables();
        assert!(tables.reminders_cancelled.contains(&(hash("stop01"), shopper.clone())));
        assert_eq!(tables.consent_changed.len(), 1);
    }

    // A second STOP is recorded as evidence but changes nothing, and gets no second confirmation: the answer
    // is claimed once per run of opt-outs.
    ports.clock.advance(Duration::seconds(1));
    let again = text(&ports, "r-2", &shopper, "STOP", &[]);
    let done = outcomes(deliver(&ports, &again).await.unwrap());
    assert_eq!(done[0].outcome, ReplyOutcome::OptedOut);
    assert_eq!(done[0].answer, None);
    let tables = ports.store.tables();
    assert_eq!(
        keyword_opt_outs(&tables.ledger_of(&hash("stop01"), &shopper)),
        ["Stop.", "STOP"]
    );
    assert_eq!(tables.consent_changed.len(), 1);
    assert_eq!(tables.replies_of(&hash("stop01"), &shopper).len(), 2);
    drop(tables);
    assert_eq!(messages(&ports).len(), 1);
}

#[tokio::test]
async fn a_redelivered_reply_is_processed_once() {
    let ports = with_stores(&["dup001"]);
    let shopper = phone(1);
    subscribed(&ports, "dup001", &shopper);
    let stop = text(&ports, "r-1", &shopper, "STOP", &[]);

    outcomes(deliver(&ports, &stop).await.unwrap());
    ports.clock.advance(Duration::seconds(30));
    assert!(matches!(deliver(&ports, &stop).await, Ok(Summary::Duplicate)));

    let tables = ports.store.tables();
    assert_eq!(keyword_opt_outs(&tables.ledger_of(&hash("dup001"), &shopper)).len(), 1);
    assert_eq!(tables.replies_of(&hash("dup001"), &shopper).len(), 1);
    drop(tables);
    assert_eq!(messages(&ports).len(), 1);
}

#[tokio::test]
async fn a_push_whose_invocation_died_during_the_answer_waits_for_the_lease_and_is_never_answered_twice() {
    let ports = with_stores(&["crash1"]);
    let shopper = phone(1);
    subscribed(&ports, "crash1", &shopper);
    let stop = text(&ports, "r-1", &shopper, "STOP", &[]);

    // The invocation dies while the provider call is in flight (its future is dropped there).
    ports.texter.answer([Answer::Hang]);
    assert!(deliver(&ports, &stop).now_or_never().is_none());
    assert_eq!(messages(&ports).len(), 1);
    assert_eq!(
        keyword_opt_outs(&ports.store.tables().ledger_of(&hash("crash1"), &shopper)).len(),
        1,
        "the opt-out was in force before the call"
    );

    // The provider's retry while the lease lives is told to come back later...
    let early = deliver(&ports, &stop).await;
    assert!(matches!(early, Err(SmsWebhookError::InProgress)), "{early:?}");
    assert_eq!(early.unwrap_err().status(), http::StatusCode::SERVICE_UNAVAILABLE);

    // ...and once it lapsed takes the push over: the reply is kept, the answer that may have gone out is not
    // sent again.
    ports.clock.advance(delivery_lease() + Duration::seconds(1));
    let done = outcomes(deliver(&ports, &stop).await.unwrap());
    assert_eq!(done[0].outcome, ReplyOutcome::OptedOut);
    assert_eq!(done[0].answer, None);
    assert_eq!(messages(&ports).len(), 1);
    let tables = ports.store.tables();
    assert_eq!(keyword_opt_outs(&tables.ledger_of(&hash("crash1"), &shopper)).len(), 1);
    assert_eq!(tables.replies_of(&hash("crash1"), &shopper).len(), 1);
}

#[tokio::test]
async fn a_stop_to_a_shared_sender_opts_out_at_every_store_that_texted_the_phone_and_is_answered_once() {
    let ports = with_stores(&["share1", "share2", "share3"]);
    let shopper = phone(1);
    subscribed(&ports, "share2", &shopper);
    subscribed(&ports, "share1", &shopper);

    let stop = text(&ports, "r-1", &shopper, "unsubscribe", &[]);
    let done = outcomes(deliver(&ports, &stop).await.unwrap());
    let stores: Vec<&str> = done.iter().map(|o| o.store_hash.as_str()).collect();
    assert_eq!(stores, ["share1", "share2"]);
    assert!(done.iter().all(|o| o.outcome == ReplyOutcome::OptedOut), "{done:?}");

    let tables = ports.store.tables();
    for store in ["share1", "share2"] {
        assert_eq!(
            keyword_opt_outs(&tables.ledger_of(&hash(store), &shopper)),
            ["unsubscribe"],
            "{store}"
        );
    }
    // A store that never texted the phone records nothing.
    assert!(tables.ledger_of(&hash("share3"), &shopper).is_empty());
    assert!(tables.replies_of(&hash("share3"), &shopper).is_empty());
    // The person sent one text: the first store by hash answers it, the other says why it did not.
    let second = tables.replies_of(&hash("share2"), &shopper);
    assert!(
        second[0]
            .no_answer_reason
            .as_deref()
            .is_some_and(|r| r.contains("Another store")),
        "{second:?}"
    );
    drop(tables);
    let sent = messages(&ports);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].metadata["store_hash"], "share1");
    assert_eq!(sent[0].body, opt_out_confirmation(BRAND));
}

#[tokio::test]
async fn an_opt_in_to_a_shared_sender_naming_no_store_records_nothing() {
    let ports = with_stores(&["share1", "share2"]);
    for (n, keyword) in [(1, "START"), (2, "YES")] {
        let shopper = phone(n);
        texted(&ports, "share1", &shopper);
        texted(&ports, "share2", &shopper);

        let opt_in = text(&ports, &format!("r-{n}"), &shopper, keyword, &[]);
        let done = outcomes(deliver(&ports, &opt_in).await.unwrap());
        assert_eq!(done.len(), 2, "{keyword}");
        let tables = ports.store.tables();
        for store in ["share1", "share2"] {
            assert!(tables.ledger_of(&hash(store), &shopper).is_empty(), "{keyword} {store}");
            let kept = tables.replies_of(&hash(store), &shopper);
            assert_eq!(kept.len(), 1, "{keyword} {store}");
            assert_eq!(kept[0].outcome, ReplyOutcome::AmbiguousStore);
            assert_eq!(kept[0].ledger_event_id, None);
        }
    }
    assert!(messages(&ports).is_empty());
    assert!(ports.journal.entries().is_empty());
}

#[tokio::test]
async fn help_is_answered_with_brand_contact_and_opt_out_and_changes_no_consent() {
    let ports = with_stores(&["help01"]);
    let shopper = phone(1);
    // Named by the metadata MessageMedia echoes: no history needed.
    let help = text(&ports, "r-1", &shopper, "HELP", &[("store_hash", "help01")]);

    let done = outcomes(deliver(&ports, &help).await.unwrap());
    assert_eq!(done[0].outcome, ReplyOutcome::Help);
    assert_eq!(done[0].answer, Some(Reply::HelpReply));
    let sent = messages(&ports);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].body, help_reply(BRAND, "help@acme.example"));
    assert_eq!(answers_sent(&ports, "help01", &shopper, SentKind::HelpReply), 1);
    let tables = ports.store.tables();
    assert!(tables.ledger_of(&hash("help01"), &shopper).is_empty());
    let kept = tables.replies_of(&hash("help01"), &shopper);
    assert_eq!(kept[0].answer, Some(Reply::HelpReply));
    assert_eq!(kept[0].answer_message_id.as_deref(), Some("msg-1"));
}

/// The provider did not take the confirmation (503): the opt-out holds, the answer claim and the push are
/// released, and the provider's retry sends the confirmation, once.
#[tokio::test]
async fn an_answer_the_provider_did_not_take_is_released_and_the_retry_sends_it_once() {
    let ports = with_stores(&["retry1"]);
    let shopper = phone(1);
    subscribed(&ports, "retry1", &shopper);
    let stop = text(&ports, "r-1", &shopper, "STOP", &[]);

    ports.texter.answer([Answer::Unavailable]);
    let first = deliver(&ports, &stop).await;
    assert!(matches!(first, Err(SmsWebhookError::Answer(_))), "{first:?}");
    assert_eq!(first.unwrap_err().status(), http::StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        keyword_opt_outs(&ports.store.tables().ledger_of(&hash("retry1"), &shopper)).len(),
        1
    );
    assert_eq!(
        answers_sent(&ports, "retry1", &shopper, SentKind::OptOutConfirmation),
        0
    );

    // The provider retries the push at once (no lease to wait for), then once more.
    let retry = outcomes(deliver(&ports, &stop).await.unwrap());
    assert_eq!(retry[0].answer, Some(Reply::OptOutConfirmation));
    assert!(matches!(deliver(&ports, &stop).await, Ok(Summary::Duplicate)));

    let calls = messages(&ports);
    assert_eq!(calls.len(), 2, "the failed call and the one that went");
    assert_eq!(calls[0].body, calls[1].body);
    assert_eq!(calls[0].idempotency_key, calls[1].idempotency_key);
    assert_eq!(
        answers_sent(&ports, "retry1", &shopper, SentKind::OptOutConfirmation),
        1
    );
    assert_eq!(
        keyword_opt_outs(&ports.store.tables().ledger_of(&hash("retry1"), &shopper)).len(),
        1
    );
}

/// Refused for good, or possibly sent (no answer in time, or one that could not be read): the push is done and
/// the confirmation is never tried again, not even by a second STOP. A second confirmation after an opt-out is
/// a text the one-confirmation allowance does not cover.
#[tokio::test]
async fn an_answer_refused_for_good_or_possibly_sent_is_never_tried_again() {
    for failure in [
        Answer::Refuse(SendFailure::MessageRejected),
        Answer::TimeOut,
        Answer::Unreadable,
    ] {
        let ports = with_stores(&["final1"]);
        let shopper = phone(1);
        subscribed(&ports, "final1", &shopper);

        ports.texter.answer([failure]);
        let stop = text(&ports, "r-1", &shopper, "STOP", &[]);
        let done = outcomes(deliver(&ports, &stop).await.unwrap());
        assert_eq!(done[0].answer, None, "{failure:?}");
        assert!(matches!(deliver(&ports, &stop).await, Ok(Summary::Duplicate)));

        ports.clock.advance(Duration::seconds(5));
        let again = text(&ports, "r-2", &shopper, "STOP", &[]);
        outcomes(deliver(&ports, &again).await.unwrap());
        assert_eq!(messages(&ports).len(), 1, "{failure:?}");
        // A message that may have gone out counts for the engine's once-only limit.
        let counted = usize::from(failure != Answer::Refuse(SendFailure::MessageRejected));
        assert_eq!(
            answers_sent(&ports, "final1", &shopper, SentKind::OptOutConfirmation),
            counted,
            "{failure:?}"
        );
    }
}

#[tokio::test]
async fn an_opt_in_answered_with_the_double_opt_in_request_records_the_request_as_evidence() {
    let ports = with_stores(&["doi001"]);
    let shopper = phone(1);
    let start = text(&ports, "r-1", &shopper, "START", &[("store_hash", "doi001")]);

    let done = outcomes(deliver(&ports, &start).await.unwrap());
    assert_eq!(done[0].outcome, ReplyOutcome::OptedIn);
    assert_eq!(done[0].answer, Some(Reply::DoubleOptInRequest));
    let sent = messages(&ports);
    assert_eq!(sent.len(), 1);
    let ledger = ports.store.tables().ledger_of(&hash("doi001"), &shopper);
    let kinds: Vec<&ConsentEventKind> = ledger.iter().map(|e| &e.kind).collect();
    assert!(matches!(kinds[0], ConsentEventKind::KeywordOptIn { .. }), "{kinds:?}");
    // The YES that answers it can only confirm what the provider took: its message id and text.
    match kinds[1] {
        ConsentEventKind::DoubleOptInRequested { message_id, text } => {
            assert_eq!(message_id.as_deref(), Some("msg-1"));
            assert_eq!(*text, sent[0].body);
        }
        other => panic!("expected the double opt-in request, got {other:?}"),
    }
    assert_eq!(
        answers_sent(&ports, "doi001", &shopper, SentKind::DoubleOptInRequest),
        1
    );
}

fn test_number_requested(ports: &MemoryPorts, store: &str, phone: &Phone) {
    ports.store.tables().test_numbers.insert(
        (hash(store), phone.clone()),
        TestNumber {
            store_hash: hash(store),
            phone: phone.clone(),
            requested_by: "owner@acme.example".to_owned(),
            requested_at: ports.clock.now() - Duration::minutes(5),
            confirmed_at: None,
        },
    );
}

#[tokio::test]
async fn a_yes_confirming_a_test_number_starts_the_test_reminder_and_records_no_consent() {
    let ports = with_stores(&["test01"]);
    let merchant = phone(1);
    test_number_requested(&ports, "test01", &merchant);

    let yes = text(&ports, "r-1", &merchant, "yes", &[]);
    let done = outcomes(deliver(&ports, &yes).await.unwrap());
    assert!(done.is_empty(), "{done:?}");

    let sent = messages(&ports);
    assert_eq!(sent.len(), 1);
    assert!(sent[0].body.starts_with(TEST_MARK), "{}", sent[0].body);
    assert_eq!(sent[0].metadata["kind"], REMINDER_KIND);
    assert_eq!(sent[0].metadata["store_hash"], "test01");
    let tables = ports.store.tables();
    assert!(
        tables.test_numbers[&(hash("test01"), merchant.clone())]
            .confirmed_at
            .is_some()
    );
    assert!(tables.ledger_of(&hash("test01"), &merchant).is_empty());
    assert!(tables.replies_of(&hash("test01"), &merchant).is_empty());
    assert!(tables.past_sends_of(&hash("test01"), &merchant).is_empty());
}

#[tokio::test]
async fn a_test_reminder_the_provider_did_not_take_is_sent_by_the_retry_of_the_yes() {
    let ports = with_stores(&["test02"]);
    let merchant = phone(1);
    test_number_requested(&ports, "test02", &merchant);
    let yes = text(&ports, "r-1", &merchant, "YES", &[]);

    ports.texter.answer([Answer::Unavailable]);
    let first = deliver(&ports, &yes).await;
    assert!(matches!(first, Err(SmsWebhookError::Answer(_))), "{first:?}");
    // Unconfirmed again, so the retry is still a test confirmation and not a consent.
    assert!(
        ports.store.tables().test_numbers[&(hash("test02"), merchant.clone())]
            .confirmed_at
            .is_none()
    );

    assert!(outcomes(deliver(&ports, &yes).await.unwrap()).is_empty());
    let sent = messages(&ports);
    assert_eq!(sent.len(), 2);
    assert!(sent[1].body.starts_with(TEST_MARK));
    assert!(ports.store.tables().ledger_of(&hash("test02"), &merchant).is_empty());
}

/// The provider's answer to the test reminder never came: it may have gone out, so the retry of the YES does
/// not send a second one.
#[tokio::test]
async fn a_test_reminder_that_may_have_gone_out_is_not_sent_again_by_the_retry_of_the_yes() {
    let ports = with_stores(&["test03"]);
    let merchant = phone(1);
    test_number_requested(&ports, "test03", &merchant);
    let yes = text(&ports, "r-1", &merchant, "YES", &[]);

    ports.texter.answer([Answer::TimeOut]);
    assert!(outcomes(deliver(&ports, &yes).await.unwrap()).is_empty());
    assert!(matches!(deliver(&ports, &yes).await, Ok(Summary::Duplicate)));

    assert_eq!(messages(&ports).len(), 1, "one call, not repeated");
    assert!(
        ports.store.tables().test_numbers[&(hash("test03"), merchant.clone())]
            .confirmed_at
            .is_some(),
        "the number stays confirmed"
    );
}
