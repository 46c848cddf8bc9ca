//! An inbound text: which stores it concerns, what it records in their ledgers, which answer goes back.
//!
//! Stores: the one named by the metadata our message carried (MessageMedia echoes it), else every store
//! whose settings use the number the text was sent to and that has a history with the phone (a contact, a
//! send or a ledger entry). An opt-out goes to both: on a shared sender, STOP ends texting from every store
//! that texted the phone from it. An opt-in sent to a shared sender without metadata names no seller, so it
//! records nothing (it is kept for the merchants to read).
//!
//! At each store the opt-out is appended first, before anything else is read, so the suppression is in
//! force as early as possible and always before the provider gets its answer.
//!
//! One text gets at most one answer: when it concerns several stores (a shared sender), only the first (the
//! store its metadata names, else the first by store hash) answers; the person sent one text.

use super::{ReplyPorts, SmsWebhookError, callback_url, dedupe_window};
use chrono::{DateTime, Duration, Utc};
use futures::future::join_all;
use serde::Serialize;
use shared::consent::{
    Classification, ConsentEvent, ConsentEventKind, OptInKeyword, PastSend, Purpose, ReplyIntent, classify,
};
use shared::db::{DbError, DeliveryClaim, PhoneSnapshot};
use shared::model::{Settings, Store};
use shared::ports::Texter;
use shared::ports::replies::{ConsentChangeRecorder, DeliveryLeases, ReplyStore, TestTextStore};
use shared::replies::{
    Answer, AnswerInput, InboundText, ReplyOutcome, ReplyRecord, answer_claim, choose_answer, consent_event, recipient,
};
use shared::sms::{InboundReply, OutboundSms};
use shared::{Phone, StoreHash};
use std::collections::BTreeMap;
use tracing::Instrument;

/// An automatic answer gets this long to reach the provider: the function has to answer the provider
/// within its own timeout.
pub(super) const ANSWER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(4);

/// What the text did at one store (the callback's answer; no phone numbers).
#[derive(Debug, Clone, Serialize)]
pub struct StoreOutcome {
    pub store_hash: StoreHash,
    pub outcome: ReplyOutcome,
    pub ledger_event_id: Option<String>,
    pub answer: Option<Answer>,
}

/// A store the text concerns.
struct Target {
    store: Store,
    settings: Option<Settings>,
    /// The phone at the store before the text, when it was read to find the store.
    before: Option<PhoneSnapshot>,
    /// An opt-in to a shared sender that names no store: record nothing.
    ambiguous: bool,
}

pub async fn handle(ports: &impl ReplyPorts, reply: InboundReply) -> Result<Vec<StoreOutcome>, SmsWebhookError> {
    let now = ports.now();
    let classification = classify(&reply.text);
    let intent = classification.intent;
    // A YES that confirms a test number is not a consent: it only starts the merchant's test reminder.
    if intent == ReplyIntent::OptIn(OptInKeyword::Yes) && super::test_text::confirm(ports, &reply, now).await? {
        return Ok(Vec::new());
    }
    let named = named_target(ports, &reply).await?;
    let named_hash = named.as_ref().map(|t| t.store.store_hash.clone());
    // The named store's opt-out is recorded while the stores sharing the sender are looked up.
    let at_named = async {
        match named {
            Some(target) => Some(at_store(ports, &reply, &classification, target, true, now).await),
            None => None,
        }
    };
    let at_others = async {
        if named_hash.is_some() && intent != ReplyIntent::OptOut {
            return Ok(Vec::new());
        }
        let others = sender_targets(ports, &reply, intent, named_hash.as_ref()).await?;
        let answers_first = named_hash.is_none();
        Ok::<_, SmsWebhookError>(
            join_all(
                others
                    .into_iter()
                    .enumerate()
                    .map(|(i, target)| at_store(ports, &reply, &classification, target, answers_first && i == 0, now)),
            )
            .await,
        )
    };
    let (named_outcome, other_outcomes) = tokio::join!(at_named, at_others);
    let outcomes: Vec<Result<StoreOutcome, SmsWebhookError>> =
        named_outcome.into_iter().chain(other_outcomes?).collect();
    if outcomes.is_empty() {
        tracing::warn!(
            provider = reply.provider,
            phone = %reply.from,
            "a text from a number no store has texted from this sender: nothing to do"
        );
    }
    outcomes.into_iter().collect()
}

/// The store the text's metadata names (echoed from the message it answers), if it is installed here.
async fn named_target(ports: &impl ReplyPorts, reply: &InboundReply) -> Result<Option<Target>, DbError> {
    let Some(hash) = reply.metadata.get("store_hash").and_then(|h| StoreHash::parse(h).ok()) else {
        return Ok(None);
    };
    match ports.store().store_with_settings(&hash).await? {
        Some((store, settings)) => Ok(Some(Target {
            store,
            settings,
            before: None,
            ambiguous: false,
        })),
        None => {
            tracing::warn!(store_hash = %hash, "a text names a store that is not installed here");
            Ok(None)
        }
    }
}

/// The other stores whose sender is the number texted and that have a history with the phone, by store
/// hash. An opt-in to several of them with no store named is ambiguous.
async fn sender_targets(
    ports: &impl ReplyPorts,
    reply: &InboundReply,
    intent: ReplyIntent,
    named: Option<&StoreHash>,
) -> Result<Vec<Target>, DbError> {
    let db = ports.store();
    let Some(sender) = reply.to.as_deref() else {
        return Ok(Vec::new());
    };
    let hashes: Vec<StoreHash> = db
        .stores_using_sender(sender)
        .await?
        .into_iter()
        .filter(|h| Some(h) != named)
        .collect();
    let found = join_all(hashes.iter().map(|hash| async move {
        let (store, snapshot) = tokio::try_join!(db.store_with_settings(hash), db.phone_snapshot(hash, &reply.from))?;
        Ok::<_, DbError>(store.map(|s| (s, snapshot)))
    }))
    .await;
    let mut targets = Vec::new();
    for candidate in found {
        let Some(((store, settings), snapshot)) = candidate? else {
            continue;
        };
        let mut has_history = snapshot.contact.is_some() || !snapshot.sends.is_empty() || !snapshot.ledger.is_empty();
        // A merchant's test number has no other history, and its STOP must still be recorded.
        if !has_history && intent == ReplyIntent::OptOut {
            has_history = db.test_number(&store.store_hash, &reply.from).await?.is_some();
        }
        if has_history {
            targets.push(Target {
                store,
                settings,
                before: Some(snapshot),
                ambiguous: false,
            });
        }
    }
    let ambiguous = named.is_none() && targets.len() > 1 && matches!(intent, ReplyIntent::OptIn(_));
    targets.sort_by(|a, b| a.store.store_hash.cmp(&b.store.store_hash));
    for target in &mut targets {
        target.ambiguous = ambiguous;
    }
    Ok(targets)
}

async fn at_store(
    ports: &impl ReplyPorts,
    reply: &InboundReply,
    classification: &Classification,
    target: Target,
    answers: bool,
    now: DateTime<Utc>,
) -> Result<StoreOutcome, SmsWebhookError> {
    let span = shared::logging::store_span(&target.store.store_hash);
    async move {
        let Target {
            store,
            settings,
            before,
            ambiguous,
        } = target;
        let db = ports.store();
        let hash = &store.store_hash;
        let phone = &reply.from;
        let intent = classification.intent;
        let text = InboundText {
            provider: reply.provider,
            message_id: &reply.id,
            text: &reply.text,
            received_at: reply.received_at.unwrap_or(now),
        };
        // An opt-out needs nothing from the ledger: it is recorded before anything is read.
        let before = match before {
            None if intent != ReplyIntent::OptOut => Some(db.phone_snapshot(hash, phone).await?),
            before => before,
        };
        let event = if ambiguous {
            None
        } else {
            let ledger = before.as_ref().map_or(&[][..], |s| &s.ledger[..]);
            consent_event(hash, phone, &text, classification, ledger, now)
        };
        let (recorded, snapshot) = match (&event, before) {
            (Some(event), _) => {
                // Boxed, like the answer below: the callback's futures are deep enough to overflow a debug
                // build's stack otherwise.
                let recorded = Box::pin(ports.consent().record_consent(event, now)).await?;
                (Some(recorded.event), recorded.snapshot)
            }
            (None, Some(before)) => (None, before),
            (None, None) => (None, db.phone_snapshot(hash, phone).await?),
        };
        let recorded_kind = recorded.as_ref().map(|e| &e.kind);
        let outcome = ReplyOutcome::of(intent, recorded_kind);

        let mut answer = None;
        let mut no_answer_reason = None;
        match &settings {
            _ if !answers && intent != ReplyIntent::Other => {
                no_answer_reason = Some("Another store that uses the same sender answered this text.".to_owned());
            }
            Some(settings) if store.is_installed() && !ambiguous => {
                let choice = choose_answer(&AnswerInput {
                    intent,
                    recorded: recorded_kind,
                    settings,
                    ledger: &snapshot.ledger,
                    sends: &snapshot.sends,
                    recipient: &recipient(phone, snapshot.contact.as_ref()),
                    now,
                });
                match choice.answer {
                    Some(chosen) => {
                        let sent =
                            Box::pin(send_answer(ports, hash, settings, phone, chosen, &text, &snapshot, reply, now))
                                .await?;
                        answer = sent.map(|id| (chosen, id));
                    }
                    None => no_answer_reason = choice.decision.map(|d| d.explanation().to_owned()),
                }
            }
            _ if intent != ReplyIntent::Other => {
                no_answer_reason = Some(
                    "Nothing is sent for this store: it is uninstalled, not set up, or the text did not say which store it was for."
                        .to_owned(),
                );
            }
            _ => {}
        }

        db.put_reply(&ReplyRecord {
            store_hash: hash.clone(),
            phone: phone.clone(),
            provider: reply.provider.to_owned(),
            message_id: reply.id.clone(),
            text: reply.text.clone(),
            received_at: text.received_at,
            intent,
            outcome,
            ledger_event_id: recorded.as_ref().map(|e| e.event_id.clone()),
            answer: answer.as_ref().map(|(a, _)| *a),
            answer_message_id: answer.as_ref().map(|(_, id)| id.clone()),
            no_answer_reason: no_answer_reason.clone(),
        })
        .await?;
        tracing::info!(
            phone = %phone,
            outcome = outcome.code(),
            matched = classification.matched,
            answer = answer.as_ref().map(|(a, _)| a.code()),
            no_answer_reason,
            "reply processed"
        );
        Ok(StoreOutcome {
            store_hash: hash.clone(),
            outcome,
            ledger_event_id: recorded.map(|e| e.event_id),
            answer: answer.map(|(a, _)| a),
        })
    }
    .instrument(span)
    .await
}

/// Sends one answer exactly once (claimed first), records it for the engine's limits, and returns the
/// provider's message id. `Ok(None)` when it was already claimed or the provider refused it for good.
#[allow(clippy::too_many_arguments)]
async fn send_answer(
    ports: &impl ReplyPorts,
    store: &StoreHash,
    settings: &Settings,
    phone: &Phone,
    answer: Answer,
    text: &InboundText<'_>,
    snapshot: &PhoneSnapshot,
    reply: &InboundReply,
    now: DateTime<Utc>,
) -> Result<Option<String>, SmsWebhookError> {
    let db = ports.store();
    let claim = answer_claim(store, phone, answer, text, &snapshot.ledger);
    // A lease, not a mark: an invocation that dies before the provider call leaves the answer to the
    // provider's retry (after the lease); once the call starts, the claim counts as done for good.
    let lease = match db.claim_delivery(&claim, now, dedupe_window()).await? {
        DeliveryClaim::Claimed(lease) => lease,
        DeliveryClaim::Done => {
            tracing::info!(answer = answer.code(), "answer already sent for this reply or opt-out");
            return Ok(None);
        }
        // Another text's invocation is answering; if it dies, its own provider's retry answers.
        DeliveryClaim::InProgress => {
            tracing::info!(answer = answer.code(), "answer being sent for this reply or opt-out");
            return Ok(None);
        }
    };
    shared::failpoint!(
        "sms.answer.after_claim",
        store.as_str(),
        Err(SmsWebhookError::InProgress)
    );
    if !db.attempt_delivery(&lease).await? {
        tracing::info!(answer = answer.code(), "answer claimed by a retry meanwhile");
        return Ok(None);
    }
    let body = answer.text(settings);
    let message = OutboundSms {
        to: phone.clone(),
        // From the number the person texted, so the answer lands in the same conversation.
        from: reply.to.clone().or_else(|| settings.sender_id.clone()),
        body: body.clone(),
        metadata: BTreeMap::from([
            ("store_hash".to_owned(), store.to_string()),
            ("kind".to_owned(), answer.code().to_owned()),
        ]),
        expires_at: Some(now + Duration::hours(1)),
        callback_url: Some(callback_url(ports)),
        idempotency_key: format!("{store}:{}:{}:{}", answer.code(), text.provider, text.message_id),
    };
    let sent = match ports.answer_texter(ANSWER_TIMEOUT).send(&message).await {
        Ok(sent) => Some(sent.message_id),
        Err(error) if error.can_send_again() => {
            // Nothing went out: release the claim so the provider's retry sends it.
            db.release_delivery(&lease).await?;
            return Err(error.into());
        }
        // It may have gone out (no answer in time, or one that could not be read): count it as sent, never
        // risk a second one.
        Err(error) if !error.sent_nothing() => {
            tracing::warn!(%error, answer = answer.code(), "answer possibly sent; not retried");
            None
        }
        Err(error) => {
            tracing::warn!(%error, failure = ?error.failure(), answer = answer.code(), "answer refused by the provider");
            return Ok(None);
        }
    };
    shared::failpoint!("sms.after_answer", store.as_str(), Err(SmsWebhookError::InProgress));
    if let Some(kind) = answer.sent_kind() {
        db.record_past_send(store, phone, &PastSend { sent_at: now, kind })
            .await?;
    }
    if answer == Answer::DoubleOptInRequest
        && let Some(message_id) = &sent
    {
        // The request is evidence: the YES that answers it confirms the double opt-in.
        let requested = ConsentEvent::new(
            store.clone(),
            phone.clone(),
            Purpose::Marketing,
            now,
            now,
            format!("doi-request:{}:{}", text.provider, text.message_id),
            ConsentEventKind::DoubleOptInRequested {
                message_id: Some(message_id.clone()),
                text: body,
            },
        );
        db.append_consent(&requested).await?;
    }
    if let Err(error) = db.finish_delivery(&lease).await {
        // Attempted counts as done already: nothing is sent again.
        tracing::warn!(%error, answer = answer.code(), "could not mark the answer done");
    }
    Ok(sent)
}
