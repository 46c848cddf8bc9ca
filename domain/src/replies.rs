//! Inbound texts (STOP, HELP, START, UNSTOP, YES, anything else): what one does to a phone's consent at one
//! store and which answer, if any, goes back; and what a delivery report does to a reminder's send record.
//! Pure: the `webhooks` function reads the ledger, asks this module, and does the I/O.
//!
//! Sources: FCC 24-18 / 47 CFR 64.1200(a)(10)-(12) (docs/consent-rules.md R-US-2: every reasonable opt-out honoured at
//! once, one confirmation with no marketing), CTIA (R-CTIA-2: an opt-in is confirmed with brand, frequency,
//! rates, HELP/STOP; R-CTIA-3: HELP answers with brand, contact and opt-out; R-CTIA-5: cart reminders need a
//! texted double opt-in that names them).
//!
//! Choices (strict side):
//! - Every opt-out appends an event, even from a number already opted out: each is evidence of a revocation.
//!   Only the first of a run of opt-outs is confirmed ([`answer_claim`] keys the confirmation on the consent
//!   the run ended, so concurrent or repeated STOPs share one claim).
//! - YES confirms a pending double opt-in request; without one it is recorded as a keyword opt-in, and the
//!   answer says which.
//! - After START/UNSTOP (or a plain YES) a US number whose store requires double opt-in for cart reminders
//!   is answered with the double opt-in request itself, when the engine allows one now (it names the brand,
//!   cart reminders, frequency, rates, HELP and STOP, so it also confirms the opt-in); otherwise with the
//!   plain opt-in confirmation.

/// The opt-in confirmations live with the other consent texts; re-exported where the answers are chosen.
pub use crate::consent::content::{double_opt_in_confirmed, opt_in_confirmation};
use crate::consent::content::{double_opt_in_request, help_reply, opt_out_confirmation};
use crate::consent::{
    AddressHint, Classification, ConsentEvent, ConsentEventKind, ConsentState, Decision, DecisionInput, Market,
    MessageKind, OptInKeyword, OptOutMethod, PastSend, Purpose, Recipient, ReplyIntent, SentKind, decide,
};
use crate::delivery::{DeliveryOutcome, DeliveryUpdate};
use crate::model::{Contact, SendRecord, SendStatus, Settings};
use crate::{Phone, StoreHash};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One inbound text as the reply handler needs it (whichever provider brought it).
#[derive(Debug, Clone, Copy)]
pub struct InboundText<'a> {
    /// `"messagemedia"` or `"twilio"`.
    pub provider: &'a str,
    /// The provider's id of the inbound message (`reply_id`, `MessageSid`).
    pub message_id: &'a str,
    pub text: &'a str,
    pub received_at: DateTime<Utc>,
}

impl InboundText<'_> {
    /// Stable per inbound message and store: a redelivered reply never appends its event twice.
    pub fn idempotency_key(&self) -> String {
        format!("reply:{}:{}", self.provider, self.message_id)
    }
}

/// The ledger event an inbound text records at one store, if it changes consent: an opt-out for any
/// opt-out wording, a keyword opt-in for START/UNSTOP (and YES with no double opt-in pending), a double
/// opt-in confirmation for YES while a request is pending. HELP and anything else change nothing.
pub fn consent_event(
    store: &StoreHash,
    phone: &Phone,
    text: &InboundText<'_>,
    classification: &Classification,
    ledger: &[ConsentEvent],
    now: DateTime<Utc>,
) -> Option<ConsentEvent> {
    let raw_text = text.text.to_owned();
    let message_id = Some(text.message_id.to_owned());
    let kind = match classification.intent {
        ReplyIntent::OptOut => ConsentEventKind::OptOut(OptOutMethod::Keyword { raw_text, message_id }),
        ReplyIntent::OptIn(OptInKeyword::Yes)
            if ConsentState::fold(ledger, Purpose::Marketing).double_opt_in_pending() =>
        {
            ConsentEventKind::DoubleOptInConfirmed { raw_text, message_id }
        }
        ReplyIntent::OptIn(keyword) => ConsentEventKind::KeywordOptIn {
            keyword,
            raw_text,
            message_id,
        },
        ReplyIntent::Help | ReplyIntent::Other => return None,
    };
    // An opt-out counts from when the provider received it; an opt-in only from when we did (a consent
    // dated early could confirm a request sent after it, or authorise a message sent before it).
    let occurred_at = match kind {
        ConsentEventKind::OptOut(_) => text.received_at,
        _ => now,
    };
    Some(ConsentEvent::new(
        store.clone(),
        phone.clone(),
        Purpose::Marketing,
        occurred_at,
        now,
        text.idempotency_key(),
        kind,
    ))
}

/// An automatic answer to an inbound text. None of them markets anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    /// The single confirmation of an opt-out (engine-gated).
    OptOutConfirmation,
    /// Brand, help contact, opt-out instructions (engine-gated: every time, short of a flood).
    HelpReply,
    /// START/UNSTOP (or a YES with nothing pending) recorded as a keyword opt-in.
    OptInConfirmation,
    /// YES answered a pending double opt-in request.
    DoubleOptInConfirmed,
    /// The double opt-in request that US cart reminders need (engine-gated), sent in answer to an opt-in
    /// keyword.
    DoubleOptInRequest,
}

impl Answer {
    pub fn code(self) -> &'static str {
        match self {
            Self::OptOutConfirmation => "opt_out_confirmation",
            Self::HelpReply => "help_reply",
            Self::OptInConfirmation => "opt_in_confirmation",
            Self::DoubleOptInConfirmed => "double_opt_in_confirmed",
            Self::DoubleOptInRequest => "double_opt_in_request",
        }
    }

    /// The text, in the store's brand.
    pub fn text(self, settings: &Settings) -> String {
        let brand = settings.brand_name.trim();
        match self {
            Self::OptOutConfirmation => opt_out_confirmation(brand),
            Self::HelpReply => help_reply(brand, &settings.help_contact),
            Self::OptInConfirmation => opt_in_confirmation(settings),
            Self::DoubleOptInConfirmed => double_opt_in_confirmed(settings),
            Self::DoubleOptInRequest => double_opt_in_request(settings),
        }
    }

    /// What to record with `shared::db::Db::record_past_send` once sent, for the engine's once-only and
    /// rate limits. Opt-in confirmations have no limit of their own: each answers one new ledger event.
    pub fn sent_kind(self) -> Option<SentKind> {
        match self {
            Self::OptOutConfirmation => Some(SentKind::OptOutConfirmation),
            Self::HelpReply => Some(SentKind::HelpReply),
            Self::DoubleOptInRequest => Some(SentKind::DoubleOptInRequest),
            Self::OptInConfirmation | Self::DoubleOptInConfirmed => None,
        }
    }
}

/// Which answer goes back, and the engine's decision behind it (for the log and the reply record).
#[derive(Debug, Clone, PartialEq)]
pub struct AnswerChoice {
    pub answer: Option<Answer>,
    /// The engine's decision for engine-gated answers (the one that was not allowed, when none goes).
    pub decision: Option<Decision>,
}

/// Everything the answer depends on. The ledger and sends are the phone's *after* the reply's event (if any)
/// was appended.
#[derive(Debug, Clone, Copy)]
pub struct AnswerInput<'a> {
    pub intent: ReplyIntent,
    /// The event the reply recorded (or that a redelivery had already recorded), if any.
    pub recorded: Option<&'a ConsentEventKind>,
    pub settings: &'a Settings,
    pub ledger: &'a [ConsentEvent],
    pub sends: &'a [PastSend],
    pub recipient: &'a Recipient,
    pub now: DateTime<Utc>,
}

/// Chooses the answer to an inbound text (see the module docs for the rules).
pub fn choose_answer(input: &AnswerInput<'_>) -> AnswerChoice {
    let gated = |kind: MessageKind, answer: Answer| {
        let decision = decide(&DecisionInput {
            settings: input.settings,
            ledger: input.ledger,
            message: &kind,
            sends: input.sends,
            recipient: input.recipient,
            now: input.now,
        });
        AnswerChoice {
            answer: decision.is_allow().then_some(answer),
            decision: Some(decision),
        }
    };
    match (input.intent, input.recorded) {
        (ReplyIntent::OptOut, _) => gated(MessageKind::OptOutConfirmation, Answer::OptOutConfirmation),
        (ReplyIntent::Help, _) => gated(MessageKind::HelpReply, Answer::HelpReply),
        (ReplyIntent::OptIn(_), Some(ConsentEventKind::DoubleOptInConfirmed { .. })) => AnswerChoice {
            answer: Some(Answer::DoubleOptInConfirmed),
            decision: None,
        },
        (ReplyIntent::OptIn(_), Some(ConsentEventKind::KeywordOptIn { .. })) => {
            let us_rules = matches!(input.recipient.market, Market::Us | Market::Unknown);
            if us_rules && input.settings.us_double_opt_in {
                let choice = gated(MessageKind::DoubleOptInRequest, Answer::DoubleOptInRequest);
                if choice.answer.is_some() {
                    return choice;
                }
            }
            AnswerChoice {
                answer: Some(Answer::OptInConfirmation),
                decision: None,
            }
        }
        _ => AnswerChoice {
            answer: None,
            decision: None,
        },
    }
}

/// The exactly-once claim of an answer (a `shared::db::Db::first_sighting` key). An opt-out confirmation is
/// claimed once per run of opt-outs (keyed on the consent event the run ended, see [`consent_anchor`]), so a
/// second STOP, or two at once, never gets a second confirmation; any other answer once per inbound message.
pub fn answer_claim(
    store: &StoreHash,
    phone: &Phone,
    answer: Answer,
    text: &InboundText<'_>,
    ledger: &[ConsentEvent],
) -> String {
    match answer {
        Answer::OptOutConfirmation => format!(
            "answer:opt_out:{store}:{}:{}",
            phone.as_e164(),
            consent_anchor(ledger).unwrap_or("none")
        ),
        _ => format!("answer:{}:{}:{store}", text.provider, text.message_id),
    }
}

/// The latest ledger event that is not a withdrawal: the consent (or request) a run of opt-outs ended. `None`
/// when the ledger holds nothing else. Two opt-outs with no opt-in between them share it.
pub fn consent_anchor(ledger: &[ConsentEvent]) -> Option<&str> {
    ledger
        .iter()
        .filter(|e| !is_withdrawal(&e.kind))
        .max_by_key(|e| (e.occurred_at, e.recorded_at))
        .map(|e| e.event_id.as_str())
}

/// Whether the person's own last word was an opt-out that still stands (nothing opted them in or asked them
/// to confirm since): a further opt-out changes nothing.
pub fn opted_out(ledger: &[ConsentEvent]) -> bool {
    let state = ConsentState::fold(ledger, Purpose::Marketing);
    state.withdrawal.is_some() && state.grants.is_empty() && state.pending_double_opt_in.is_none()
}

/// Opt-outs, erasures and BigCommerce general-marketing opt-outs.
pub fn is_withdrawal(kind: &ConsentEventKind) -> bool {
    matches!(
        kind,
        ConsentEventKind::OptOut(_)
            | ConsentEventKind::Erasure { .. }
            | ConsentEventKind::GeneralMarketing { opted_in: false, .. }
    )
}

/// The recipient of a message to `phone`, with the contact's address as a region hint.
pub fn recipient(phone: &Phone, contact: Option<&Contact>) -> Recipient {
    let hints: Vec<AddressHint<'_>> = contact
        .and_then(|c| c.shipping_address.as_ref())
        .map(|a| AddressHint {
            country_code: a.country_code.as_deref(),
            state_or_province: a.state_or_province.as_deref(),
        })
        .into_iter()
        .collect();
    Recipient::resolve(phone, &hints)
}

/// What happened to an inbound text at one store, in the merchant's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplyOutcome {
    /// An opt-out was recorded.
    OptedOut,
    /// A keyword opt-in was recorded.
    OptedIn,
    /// A pending double opt-in was confirmed.
    DoubleOptInConfirmed,
    /// HELP: answered, unless the number floods ([`crate::consent::engine::HELP_REPLIES_PER_HOUR`]).
    Help,
    /// Kept for the merchant to read; nothing automatic happens.
    Stored,
    /// An opt-in texted to a sender several stores share, with nothing saying which store it was for: no
    /// consent is recorded (consent must name the seller).
    AmbiguousStore,
}

impl ReplyOutcome {
    /// What a text with this classification and recorded event did.
    pub fn of(intent: ReplyIntent, recorded: Option<&ConsentEventKind>) -> Self {
        match (intent, recorded) {
            (ReplyIntent::OptOut, _) => Self::OptedOut,
            (_, Some(ConsentEventKind::DoubleOptInConfirmed { .. })) => Self::DoubleOptInConfirmed,
            (ReplyIntent::OptIn(_), Some(_)) => Self::OptedIn,
            (ReplyIntent::OptIn(_), None) => Self::AmbiguousStore,
            (ReplyIntent::Help, _) => Self::Help,
            (ReplyIntent::Other, _) => Self::Stored,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Self::OptedOut => "opted_out",
            Self::OptedIn => "opted_in",
            Self::DoubleOptInConfirmed => "double_opt_in_confirmed",
            Self::Help => "help",
            Self::Stored => "stored",
            Self::AmbiguousStore => "ambiguous_store",
        }
    }
}

/// An inbound text kept in the phone's partition for the merchant to read (every text, not only the ones
/// nothing automatic answers), with what the app did about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyRecord {
    pub store_hash: StoreHash,
    pub phone: Phone,
    pub provider: String,
    pub message_id: String,
    pub text: String,
    pub received_at: DateTime<Utc>,
    pub intent: ReplyIntent,
    pub outcome: ReplyOutcome,
    /// The ledger event it recorded, if any.
    #[serde(default)]
    pub ledger_event_id: Option<String>,
    /// The automatic answer sent, if any, with the provider's message id.
    #[serde(default)]
    pub answer: Option<Answer>,
    #[serde(default)]
    pub answer_message_id: Option<String>,
    /// Why an engine-gated answer was not sent (the decision's explanation).
    #[serde(default)]
    pub no_answer_reason: Option<String>,
}

/// A reminder's send record after a delivery report or status callback, or `None` when the report changes
/// nothing (progress reports, a late report after the final one). Delivered and failed are final; a report
/// never turns a delivered message into a failed one.
pub fn send_after_report(record: &SendRecord, update: &DeliveryUpdate, now: DateTime<Utc>) -> Option<SendRecord> {
    let mut next = record.clone();
    match update.outcome {
        DeliveryOutcome::InProgress => return None,
        DeliveryOutcome::Delivered if record.status != SendStatus::Delivered => {
            next.status = SendStatus::Delivered;
            next.delivered_at = Some(now);
            next.error = None;
        }
        DeliveryOutcome::Failed | DeliveryOutcome::InvalidNumber | DeliveryOutcome::Suppressed
            if matches!(record.status, SendStatus::Claimed | SendStatus::Sent) =>
        {
            next.status = SendStatus::Failed;
            next.error = Some(delivery_problem(update));
        }
        _ => return None,
    }
    Some(next)
}

/// A failed delivery in words, for the send record and the contact (no phone numbers).
pub fn delivery_problem(update: &DeliveryUpdate) -> String {
    let what = match update.outcome {
        DeliveryOutcome::InvalidNumber => "the number cannot receive texts",
        DeliveryOutcome::Suppressed => "the number is blocked at the carrier (opted out)",
        _ => "not delivered",
    };
    match update.error_code {
        Some(code) => format!("{what}: {} {} (code {code})", update.provider, update.status),
        None => format!("{what}: {} {}", update.provider, update.status),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consent::classify;
    use crate::consent::content::double_opt_in_request;
    use crate::model::{ConsentOption, MerchantUser, ReminderClaim};

    const US: &str = "+12122014567";
    const UK: &str = "+447911123456";

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn store() -> StoreHash {
        StoreHash::parse("abc123").unwrap()
    }

    fn phone(e164: &str) -> Phone {
        Phone::from_e164(e164).unwrap()
    }

    fn settings() -> Settings {
        let mut s = Settings::defaults(
            MerchantUser {
                id: 1,
                email: "owner@acme.example".into(),
            },
            "Acme",
            t("2025-01-01T00:00:00Z"),
        );
        s.version = 1;
        s.consent_option = ConsentOption::SmsCheckbox;
        s.help_contact = "help@acme.example".into();
        s.terms_url = Some("https://acme.example/terms".into());
        s.privacy_url = Some("https://acme.example/privacy".into());
        s
    }

    fn text<'a>(id: &'a str, body: &'a str, at: &str) -> InboundText<'a> {
        InboundText {
            provider: "messagemedia",
            message_id: id,
            text: body,
            received_at: t(at),
        }
    }

    fn record(ledger: &mut Vec<ConsentEvent>, e164: &str, id: &str, body: &str, at: &str) -> Option<ConsentEvent> {
        let inbound = text(id, body, at);
        let event = consent_event(&store(), &phone(e164), &inbound, &classify(body), ledger, t(at))?;
        ledger.push(event.clone());
        Some(event)
    }

    fn choose(ledger: &[ConsentEvent], sends: &[PastSend], e164: &str, body: &str, at: &str) -> AnswerChoice {
        let intent = classify(body).intent;
        // The event this text recorded: the latest one, unless the text records nothing.
        let recorded = ledger
            .last()
            .filter(|_| matches!(intent, ReplyIntent::OptOut | ReplyIntent::OptIn(_)));
        let s = settings();
        choose_answer(&AnswerInput {
            intent,
            recorded: recorded.map(|e| &e.kind),
            settings: &s,
            ledger,
            sends,
            recipient: &recipient(&phone(e164), None),
            now: t(at),
        })
    }

    #[test]
    fn opt_out_wordings_record_an_opt_out_with_the_raw_text() {
        for body in [
            "STOP",
            "Stop.",
            " unsubscribe ",
            "STOPALL",
            "opt out",
            "Revoke",
            "please stop texting me",
        ] {
            let mut ledger = Vec::new();
            let event = record(&mut ledger, US, "r1", body, "2025-06-01T15:00:00Z").unwrap();
            assert_eq!(event.idempotency_key, "reply:messagemedia:r1");
            assert_eq!(
                event.kind,
                ConsentEventKind::OptOut(OptOutMethod::Keyword {
                    raw_text: body.to_owned(),
                    message_id: Some("r1".into())
                }),
                "{body:?}"
            );
            let choice = choose(&ledger, &[], US, body, "2025-06-01T15:00:01Z");
            assert_eq!(choice.answer, Some(Answer::OptOutConfirmation), "{body:?}");
        }
    }

    #[test]
    fn yes_confirms_a_pending_request_and_is_a_keyword_opt_in_otherwise() {
        let mut ledger = Vec::new();
        let yes = record(&mut ledger, US, "r1", "YES", "2025-06-01T15:00:00Z").unwrap();
        assert_eq!(yes.occurred_at, t("2025-06-01T15:00:00Z"));
        assert!(matches!(
            yes.kind,
            ConsentEventKind::KeywordOptIn {
                keyword: OptInKeyword::Yes,
                ..
            }
        ));

        let mut ledger = vec![ConsentEvent::new(
            store(),
            phone(US),
            Purpose::Marketing,
            t("2025-06-01T14:00:00Z"),
            t("2025-06-01T14:00:00Z"),
            "doi",
            ConsentEventKind::DoubleOptInRequested {
                message_id: None,
                text: double_opt_in_request(&settings()),
            },
        )];
        let yes = record(&mut ledger, US, "r2", "Yes!", "2025-06-01T15:00:00Z").unwrap();
        assert!(matches!(yes.kind, ConsentEventKind::DoubleOptInConfirmed { .. }));
        let choice = choose(&ledger, &[], US, "Yes!", "2025-06-01T15:00:01Z");
        assert_eq!(choice.answer, Some(Answer::DoubleOptInConfirmed));
        assert!(Answer::DoubleOptInConfirmed.text(&settings()).contains("confirmed"));
    }

    #[test]
    fn opt_outs_count_from_the_providers_receipt_opt_ins_from_ours() {
        let late = t("2025-06-01T15:05:00Z");
        let stop = text("r1", "STOP", "2025-06-01T15:00:00Z");
        let event = consent_event(&store(), &phone(US), &stop, &classify("STOP"), &[], late).unwrap();
        assert_eq!(event.occurred_at, t("2025-06-01T15:00:00Z"));
        let start = text("r2", "START", "2025-06-01T15:00:00Z");
        let event = consent_event(&store(), &phone(US), &start, &classify("START"), &[], late).unwrap();
        assert_eq!(event.occurred_at, late);
    }

    #[test]
    fn help_and_other_change_nothing() {
        let mut ledger = Vec::new();
        assert!(record(&mut ledger, US, "r1", "HELP", "2025-06-01T15:00:00Z").is_none());
        assert!(record(&mut ledger, US, "r2", "what size is it?", "2025-06-01T15:00:00Z").is_none());
        let help = choose(&ledger, &[], US, "HELP", "2025-06-01T15:00:00Z");
        assert_eq!(help.answer, Some(Answer::HelpReply));
        let text = Answer::HelpReply.text(&settings());
        assert!(text.contains("Acme") && text.contains("help@acme.example") && text.contains("STOP"));
        let helped = |minute: u32| PastSend {
            sent_at: t(&format!("2025-06-01T14:{minute:02}:00Z")),
            kind: SentKind::HelpReply,
        };
        let answered_before: Vec<PastSend> = (0..4).map(|i| helped(10 * i)).collect();
        let again = choose(&ledger, &answered_before, US, "HELP", "2025-06-01T14:45:00Z");
        assert_eq!(again.answer, Some(Answer::HelpReply));
        let flood: Vec<PastSend> = (0..5).map(|i| helped(10 * i + 5)).collect();
        let rate_limited = choose(&ledger, &flood, US, "HELP", "2025-06-01T14:50:00Z");
        assert_eq!(rate_limited.answer, None);
        assert_eq!(rate_limited.decision.unwrap().code(), "help_reply_rate_limited");
        assert_eq!(
            choose(&ledger, &[], US, "what size is it?", "2025-06-01T15:00:00Z").answer,
            None
        );
    }

    #[test]
    fn start_asks_a_us_number_for_the_double_opt_in_inside_the_send_window() {
        let mut ledger = Vec::new();
        record(&mut ledger, US, "r1", "STOP", "2025-06-01T15:00:00Z");
        record(&mut ledger, US, "r2", "START", "2025-06-01T15:10:00Z");
        // 11:10 in New York: the request may go.
        let day = choose(&ledger, &[], US, "START", "2025-06-01T15:10:01Z");
        assert_eq!(day.answer, Some(Answer::DoubleOptInRequest));
        assert!(Answer::DoubleOptInRequest.text(&settings()).contains("cart reminders"));
        // 23:30 in New York: no request at night, the opt-in is confirmed plainly.
        let mut night = Vec::new();
        record(&mut night, US, "r3", "START", "2025-06-02T03:30:00Z");
        assert_eq!(
            choose(&night, &[], US, "START", "2025-06-02T03:30:01Z").answer,
            Some(Answer::OptInConfirmation)
        );
        // Outside the US, a keyword is enough for reminders: a plain confirmation.
        let mut uk = Vec::new();
        record(&mut uk, UK, "r4", "UNSTOP", "2025-06-01T12:00:00Z");
        assert_eq!(
            choose(&uk, &[], UK, "UNSTOP", "2025-06-01T12:00:01Z").answer,
            Some(Answer::OptInConfirmation)
        );
        let text = Answer::OptInConfirmation.text(&settings());
        for part in ["Acme", "Msg & data rates", "HELP", "STOP"] {
            assert!(text.contains(part), "{text}");
        }
    }

    #[test]
    fn a_run_of_opt_outs_shares_one_confirmation_claim() {
        let mut ledger = Vec::new();
        let start = record(&mut ledger, US, "r1", "START", "2025-06-01T15:00:00Z").unwrap();
        record(&mut ledger, US, "r2", "STOP", "2025-06-01T15:01:00Z");
        let first = answer_claim(
            &store(),
            &phone(US),
            Answer::OptOutConfirmation,
            &text("r2", "STOP", "2025-06-01T15:01:00Z"),
            &ledger,
        );
        record(&mut ledger, US, "r3", "stop!!", "2025-06-01T15:02:00Z");
        let second = answer_claim(
            &store(),
            &phone(US),
            Answer::OptOutConfirmation,
            &text("r3", "stop!!", "2025-06-01T15:02:00Z"),
            &ledger,
        );
        assert_eq!(first, second);
        assert!(first.ends_with(&start.event_id));
        // After a new opt-in, the next opt-out is a new run.
        record(&mut ledger, US, "r4", "START", "2025-06-01T15:03:00Z");
        record(&mut ledger, US, "r5", "STOP", "2025-06-01T15:04:00Z");
        let third = answer_claim(
            &store(),
            &phone(US),
            Answer::OptOutConfirmation,
            &text("r5", "STOP", "2025-06-01T15:04:00Z"),
            &ledger,
        );
        assert_ne!(first, third);
        // Other answers are claimed per inbound message.
        assert_eq!(
            answer_claim(
                &store(),
                &phone(US),
                Answer::HelpReply,
                &text("r6", "HELP", "2025-06-01T15:05:00Z"),
                &ledger
            ),
            "answer:messagemedia:r6:abc123"
        );
    }

    fn send_record(status: SendStatus) -> SendRecord {
        let mut record = SendRecord::claimed(ReminderClaim {
            store_hash: store(),
            cart_id: "c1".into(),
            step: 1,
            phone: phone(US),
            claimed_at: t("2025-06-01T15:00:00Z"),
            ledger_event_id: "e1".into(),
            settings_version: 1,
            body: "Acme: ...".into(),
            segments: 1,
            link_token: "tok".into(),
            coupon_body: None,
        });
        record.mark_sent("messagemedia", "m1", t("2025-06-01T15:00:01Z"));
        record.status = status;
        record
    }

    fn report(outcome: DeliveryOutcome, status: &str, code: Option<u32>) -> DeliveryUpdate {
        DeliveryUpdate {
            provider: "messagemedia",
            id: "dr1".into(),
            message_id: "m1".into(),
            outcome,
            status: status.into(),
            error_code: code,
            metadata: Default::default(),
        }
    }

    #[test]
    fn delivery_reports_move_send_records_forward_only() {
        let now = t("2025-06-01T15:01:00Z");
        let sent = send_record(SendStatus::Sent);
        assert!(send_after_report(&sent, &report(DeliveryOutcome::InProgress, "enroute", Some(211)), now).is_none());
        let delivered =
            send_after_report(&sent, &report(DeliveryOutcome::Delivered, "delivered", Some(220)), now).unwrap();
        assert_eq!(delivered.status, SendStatus::Delivered);
        assert_eq!(delivered.delivered_at, Some(now));
        // A late failure never undoes a delivery; a repeated delivery changes nothing.
        assert!(send_after_report(&delivered, &report(DeliveryOutcome::Failed, "failed", Some(400)), now).is_none());
        assert!(
            send_after_report(
                &delivered,
                &report(DeliveryOutcome::Delivered, "delivered", Some(220)),
                now
            )
            .is_none()
        );
        let failed = send_after_report(
            &sent,
            &report(DeliveryOutcome::InvalidNumber, "rejected", Some(411)),
            now,
        )
        .unwrap();
        assert_eq!(failed.status, SendStatus::Failed);
        assert_eq!(
            failed.error.as_deref(),
            Some("the number cannot receive texts: messagemedia rejected (code 411)")
        );
    }

    #[test]
    fn outcomes_name_what_happened() {
        let yes = ConsentEventKind::DoubleOptInConfirmed {
            raw_text: "YES".into(),
            message_id: None,
        };
        assert_eq!(
            ReplyOutcome::of(ReplyIntent::OptIn(OptInKeyword::Yes), Some(&yes)),
            ReplyOutcome::DoubleOptInConfirmed
        );
        assert_eq!(
            ReplyOutcome::of(ReplyIntent::OptIn(OptInKeyword::Start), None),
            ReplyOutcome::AmbiguousStore
        );
        assert_eq!(ReplyOutcome::of(ReplyIntent::Other, None).code(), "stored");
        let json = serde_json::to_value(ReplyOutcome::OptedOut).unwrap();
        assert_eq!(json, ReplyOutcome::OptedOut.code());
    }
}
