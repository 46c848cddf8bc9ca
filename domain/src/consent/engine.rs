//! The decision: may this message go to this number now, and if not, why not or when.
//!
//! [`decide`] applies the rules in this order; the first that says no decides, so every Deny names one rule:
//! 0. the ledger must belong to the recipient ([`Reason::LedgerMismatch`]);
//! 1. [opt-out wins](rule_1_opt_out_wins);
//! 2. [the merchant's consent option](rule_2_merchant_option);
//! 3. [the regional floor](rule_3_regional_floor) (and, for US cart reminders, the double opt-in);
//! 6. [cart reminder limits and expiry](rule_6_cart_reminder_limits);
//! 5. frequency (`rule_5_frequency`: the smart-sending window and the [`DAILY_CAP`] of the
//!    [`DAILY_CAP_STATES`]) and the reminder's due time, then
//! 4. quiet hours (`rule_4_quiet_hours`, windows from [`send_window`] and [`super::hours`]): these three only
//!    move the send later, so they are combined into the earliest instant all of them allow; past the
//!    message's expiry that becomes a Deny.
//!
//! Transactional messages (the opt-out confirmation, the HELP reply) need no marketing consent and are not
//! stopped by the opt-out they answer, but they have their own limits, and a double opt-in request is only
//! sent to confirm a consent the person gave.

use super::content::double_opt_in_request;
use super::disclosure::{disclosure_version, validate_disclosure};
use super::hours::{self, COUNTRY_WINDOWS, DayWindow, HOUSE_LIMIT, WeeklyWindow};
use super::ledger::{ConsentEvent, ConsentEventKind, OptOutMethod, Purpose};
use super::region::{Market, Recipient};
use super::state::{Basis, ConsentState, Grant};
use crate::model::{ConsentOption, Settings};
use chrono::{DateTime, Duration, Timelike, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// What is to be sent.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MessageKind {
    /// Reminder `step` (1-based) for a cart abandoned (last activity) at `abandoned_at`. Marketing.
    CartReminder {
        cart_id: String,
        step: u8,
        abandoned_at: DateTime<Utc>,
    },
    /// The one confirmation of an opt-out. Transactional.
    OptOutConfirmation,
    /// The answer to HELP. Transactional.
    HelpReply,
    /// The texted double opt-in request. Transactional: it asks to confirm consent, it sells nothing.
    DoubleOptInRequest,
}

impl MessageKind {
    /// The purpose follows from the kind, so a cart reminder can never be sent as transactional.
    pub fn purpose(&self) -> Purpose {
        match self {
            Self::CartReminder { .. } => Purpose::Marketing,
            Self::OptOutConfirmation | Self::HelpReply | Self::DoubleOptInRequest => Purpose::Transactional,
        }
    }
}

/// A message already sent to this number by this store.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PastSend {
    pub sent_at: DateTime<Utc>,
    pub kind: SentKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SentKind {
    /// Marketing.
    CartReminder {
        cart_id: String,
        step: u8,
    },
    OptOutConfirmation,
    HelpReply,
    DoubleOptInRequest,
}

impl SentKind {
    pub fn is_marketing(&self) -> bool {
        matches!(self, Self::CartReminder { .. })
    }
}

/// Everything a decision depends on. Plain data: the caller reads it, the engine does no I/O.
#[derive(Debug, Clone, Copy)]
pub struct DecisionInput<'a> {
    /// The store's settings version in force.
    pub settings: &'a Settings,
    /// The phone's consent ledger at this store (any order).
    pub ledger: &'a [ConsentEvent],
    pub message: &'a MessageKind,
    /// Messages sent to this number by this store (at least the last 72 hours; more is fine).
    pub sends: &'a [PastSend],
    pub recipient: &'a Recipient,
    pub now: DateTime<Utc>,
}

/// The answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Decision {
    Allow {
        /// The ledger entry that authorises the message (for a HELP reply, none: the person asked).
        ledger_event_id: Option<String>,
        /// The basis of that entry, for marketing.
        basis: Option<Basis>,
        settings_version: u32,
        explanation: String,
    },
    Deny {
        reason: Reason,
        explanation: String,
    },
    /// Not now: ask again at `until`, the earliest instant it could be allowed.
    Defer {
        until: DateTime<Utc>,
        reason: Reason,
        explanation: String,
    },
}

impl Decision {
    /// `allow`, `deny` or `defer`.
    pub fn outcome(&self) -> &'static str {
        match self {
            Self::Allow { .. } => "allow",
            Self::Deny { .. } => "deny",
            Self::Defer { .. } => "defer",
        }
    }

    /// The reason code, or `allowed`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Allow { .. } => "allowed",
            Self::Deny { reason, .. } | Self::Defer { reason, .. } => reason.code(),
        }
    }

    pub fn explanation(&self) -> &str {
        match self {
            Self::Allow { explanation, .. } | Self::Deny { explanation, .. } | Self::Defer { explanation, .. } => {
                explanation
            }
        }
    }

    pub fn is_allow(&self) -> bool {
        matches!(self, Self::Allow { .. })
    }
}

/// Why a message may not go (Deny) or not yet (Defer). Codes are stable snake_case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    // 0. integrity
    /// The ledger holds events of another phone or store.
    LedgerMismatch,
    // 1. opt-out wins
    OptedOut,
    Erased,
    // 2./3. consent
    NeverSubscribed,
    /// Only transactional consent exists; it never authorises marketing.
    TransactionalConsentOnly,
    CheckboxNotVerified,
    CheckboxPrechecked,
    DoubleOptInPending,
    /// Consent exists but not of a kind the merchant's option accepts.
    ConsentOptionNotMet,
    /// Consent exists but not of a kind the recipient's market accepts.
    RegionalFloorNotMet,
    /// The checkbox's disclosure text lacks a required element (or does not match its version).
    DisclosureIncomplete,
    /// Canadian implied consent from a purchase is more than 2 years old.
    ImpliedConsentExpired,
    /// US cart reminders need a confirmed double opt-in.
    DoubleOptInRequired,
    /// A texted keyword alone (START, or YES to nothing) is not US express written consent.
    KeywordNotWrittenConsent,
    /// Australia/New Zealand: an imported customer counts only with an existing business relationship.
    ImportWithoutBusinessRelationship,
    /// Canada/Australia: the store has not given the contact details every marketing text must carry.
    SenderContactMissing,
    // 6. cart reminders
    InvalidStep,
    CartReminderLimit,
    CartReminderExpired,
    // 4./5. timing (Defer), and their Deny forms past the expiry
    NotDueYet,
    QuietHours,
    SmartSendingWindow,
    StateDailyCap,
    QuietHoursPastExpiry,
    SmartSendingPastExpiry,
    StateDailyCapPastExpiry,
    /// The candidate zones never share an open window (or the merchant's narrowing closes it).
    NoSendWindow,
    TimeZoneUnknown,
    // transactional
    NoOptOutToConfirm,
    OptOutAlreadyConfirmed,
    OptOutConfirmationTooLate,
    HelpReplyRateLimited,
    NothingToConfirm,
    DoubleOptInAlreadyConfirmed,
    DoubleOptInAlreadyRequested,
}

impl Reason {
    /// Stable snake_case code (the same as its serde form).
    pub fn code(self) -> &'static str {
        match self {
            Self::LedgerMismatch => "ledger_mismatch",
            Self::OptedOut => "opted_out",
            Self::Erased => "erased",
            Self::NeverSubscribed => "never_subscribed",
            Self::TransactionalConsentOnly => "transactional_consent_only",
            Self::CheckboxNotVerified => "checkbox_not_verified",
            Self::CheckboxPrechecked => "checkbox_prechecked",
            Self::DoubleOptInPending => "double_opt_in_pending",
            Self::ConsentOptionNotMet => "consent_option_not_met",
            Self::RegionalFloorNotMet => "regional_floor_not_met",
            Self::DisclosureIncomplete => "disclosure_incomplete",
            Self::ImpliedConsentExpired => "implied_consent_expired",
            Self::DoubleOptInRequired => "double_opt_in_required",
            Self::KeywordNotWrittenConsent => "keyword_not_written_consent",
            Self::ImportWithoutBusinessRelationship => "import_without_business_relationship",
            Self::SenderContactMissing => "sender_contact_missing",
            Self::InvalidStep => "invalid_step",
            Self::CartReminderLimit => "cart_reminder_limit",
            Self::CartReminderExpired => "cart_reminder_expired",
            Self::NotDueYet => "not_due_yet",
            Self::QuietHours => "quiet_hours",
            Self::SmartSendingWindow => "smart_sending_window",
            Self::StateDailyCap => "state_daily_cap",
            Self::QuietHoursPastExpiry => "quiet_hours_past_expiry",
            Self::SmartSendingPastExpiry => "smart_sending_past_expiry",
            Self::StateDailyCapPastExpiry => "state_daily_cap_past_expiry",
            Self::NoSendWindow => "no_send_window",
            Self::TimeZoneUnknown => "time_zone_unknown",
            Self::NoOptOutToConfirm => "no_opt_out_to_confirm",
            Self::OptOutAlreadyConfirmed => "opt_out_already_confirmed",
            Self::OptOutConfirmationTooLate => "opt_out_confirmation_too_late",
            Self::HelpReplyRateLimited => "help_reply_rate_limited",
            Self::NothingToConfirm => "nothing_to_confirm",
            Self::DoubleOptInAlreadyConfirmed => "double_opt_in_already_confirmed",
            Self::DoubleOptInAlreadyRequested => "double_opt_in_already_requested",
        }
    }
}

/// Decides whether `input.message` may go to `input.recipient` at `input.now`.
pub fn decide(input: &DecisionInput<'_>) -> Decision {
    if let Some(denial) = ledger_mismatch(input) {
        return denial;
    }
    match input.message {
        MessageKind::CartReminder {
            cart_id,
            step,
            abandoned_at,
        } => decide_cart_reminder(input, cart_id, *step, *abandoned_at),
        MessageKind::OptOutConfirmation => decide_opt_out_confirmation(input),
        MessageKind::HelpReply => decide_help_reply(input),
        MessageKind::DoubleOptInRequest => decide_double_opt_in_request(input),
    }
}

fn deny(reason: Reason, explanation: String) -> Decision {
    Decision::Deny { reason, explanation }
}

fn ledger_mismatch(input: &DecisionInput<'_>) -> Option<Decision> {
    let first = input.ledger.first()?;
    let foreign = input
        .ledger
        .iter()
        .find(|e| e.phone != input.recipient.phone || e.store_hash != first.store_hash)?;
    Some(deny(
        Reason::LedgerMismatch,
        format!(
            "The consent ledger passed in holds event {} for another phone or store, so it cannot prove consent for {}.",
            foreign.event_id, input.recipient.phone
        ),
    ))
}

// ---------------------------------------------------------------------------------------------------------
// Cart reminders (marketing)
// ---------------------------------------------------------------------------------------------------------

fn decide_cart_reminder(input: &DecisionInput<'_>, cart_id: &str, step: u8, abandoned_at: DateTime<Utc>) -> Decision {
    let mut state = ConsentState::fold(input.ledger, Purpose::Marketing);
    // A consent dated after the decision cannot authorise it (clock skew between writers); a withdrawal
    // dated after it still counts.
    let now = input.now;
    state
        .grants
        .retain(|g| g.event.occurred_at <= now && g.related.is_none_or(|r| r.occurred_at <= now));
    let grant = match authorise_marketing(input, &state, true) {
        Ok(grant) => grant,
        Err(denial) => return denial,
    };
    if let Err(denial) = sender_identification(input.settings, input.recipient.market) {
        return denial;
    }
    let timing = match rule_6_cart_reminder_limits(input, cart_id, step, abandoned_at) {
        Ok(timing) => timing,
        Err(denial) => return denial,
    };
    // A consent that lapses (Canadian implied consent) is a deadline too.
    let (expires, expiry_is_consent) = match grant.valid_until {
        Some(until) if until < timing.expires => (until, true),
        _ => (timing.expires, false),
    };
    let mut earliest = Earliest::new(input.now);
    earliest.raise(timing.due, Reason::NotDueYet);
    rule_5_frequency(input, &mut earliest);
    let window = send_window(input.settings, input.recipient);
    match rule_4_quiet_hours(input, &window, earliest, Some(expires), expiry_is_consent) {
        Timed::Now => Decision::Allow {
            ledger_event_id: Some(grant.grant.event.event_id.clone()),
            basis: Some(grant.grant.basis),
            settings_version: input.settings.version,
            explanation: format!(
                "Allowed: {} recorded {} (event {}) authorises marketing texts to this {}number under the {} option, it is inside the send window ({}) and no other marketing text went out in the last {} hours.",
                grant.grant.basis.describe(),
                grant.grant.event.occurred_at.format("%Y-%m-%d"),
                grant.grant.event.event_id,
                market_adjective(input.recipient.market),
                option_name(input.settings.consent_option),
                window.window,
                smart_sending_hours(input.settings),
            ),
        },
        Timed::Later(decision) => decision,
    }
}

/// The consent that authorises a marketing message, and until when it lasts (Canadian implied consent
/// lapses; express consent lasts until withdrawn).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Authorised<'a> {
    pub grant: Grant<'a>,
    pub valid_until: Option<DateTime<Utc>>,
}

/// Rules 1-3 for a marketing message.
fn authorise_marketing<'a>(
    input: &DecisionInput<'_>,
    state: &ConsentState<'a>,
    cart_reminder: bool,
) -> Result<Authorised<'a>, Decision> {
    rule_1_opt_out_wins(state)?;
    let allowed_by_option = rule_2_merchant_option(input.settings, state)?;
    rule_3_regional_floor(input, state, &allowed_by_option, cart_reminder)
}

/// **Rule 1 — opt-out wins, always.** A withdrawal (STOP or any other opt-out word, our web opt-out page, the
/// merchant, the carrier, an unticked checkbox, an erasure) ends every consent recorded before it, and only a
/// new express SMS opt-in restores consent (47 CFR 64.1200(a)(10)-(12), FCC 24-18; CASL s.11; Spam Act s.18;
/// R-US-2, R-US-4, R-CA-2, R-AU-3). The fold ([`ConsentState`]) applies the ordering; this rule
/// turns "no consent in effect after a withdrawal" into the Deny that names it.
pub fn rule_1_opt_out_wins(state: &ConsentState<'_>) -> Result<(), Decision> {
    if !state.grants.is_empty() {
        return Ok(());
    }
    if let Some(request) = state.pending_double_opt_in {
        return Err(deny(
            Reason::DoubleOptInPending,
            format!(
                "The person has not yet replied YES to the double opt-in request sent {}, so no consent is in effect.",
                request.occurred_at.format("%Y-%m-%d %H:%M UTC")
            ),
        ));
    }
    if let Some(checkbox) = state.unverified_checkboxes.last() {
        return Err(deny(
            Reason::CheckboxNotVerified,
            format!(
                "The checkout checkbox ticked {} (event {}) has not been verified for this phone, so it authorises nothing yet.",
                checkbox.occurred_at.format("%Y-%m-%d %H:%M UTC"),
                checkbox.event_id
            ),
        ));
    }
    if let Some(withdrawal) = state.withdrawal {
        let (reason, what) = match &withdrawal.kind {
            ConsentEventKind::Erasure { .. } => (Reason::Erased, "was erased by the merchant".to_owned()),
            ConsentEventKind::OptOut(method) => (Reason::OptedOut, format!("opted out ({})", describe_opt_out(method))),
            _ => (Reason::OptedOut, "opted out".to_owned()),
        };
        return Err(deny(
            reason,
            format!(
                "The person {what} on {} (event {}) and has not opted in again by text or verified checkbox since.",
                withdrawal.occurred_at.format("%Y-%m-%d %H:%M UTC"),
                withdrawal.event_id
            ),
        ));
    }
    if let Some(opt_out) = state.general_marketing_opt_out {
        return Err(deny(
            Reason::OptedOut,
            format!(
                "The person opted out of marketing at BigCommerce on {} (event {}) and has no SMS-specific consent.",
                opt_out.occurred_at.format("%Y-%m-%d %H:%M UTC"),
                opt_out.event_id
            ),
        ));
    }
    if let Some(checkbox) = state.prechecked_checkboxes.last() {
        return Err(deny(
            Reason::CheckboxPrechecked,
            format!(
                "The only consent on record is a checkout checkbox that was served already ticked (event {}), which is not consent.",
                checkbox.event_id
            ),
        ));
    }
    if state.other_purpose_consents > 0 {
        return Err(deny(
            Reason::TransactionalConsentOnly,
            "The person consented only to transactional messages, which never authorises marketing texts.".to_owned(),
        ));
    }
    Err(deny(
        Reason::NeverSubscribed,
        "No consent to marketing texts is on record for this number at this store.".to_owned(),
    ))
}

/// **Rule 2 — the merchant's consent option** (the MessageMedia integration's three opt-in choices):
/// - SMS checkbox → only SMS-specific express consent (verified checkbox, keyword, double opt-in) or the
///   bulk-import default;
/// - general marketing → a BigCommerce marketing opt-in, or SMS-specific express consent; only once the
///   merchant confirmed "Require Consent" is on (otherwise the BigCommerce flag proves nothing);
/// - inferred → inferred consent or any of the above (incl. purchases), only once the merchant acknowledged
///   it is lawful for them; without the acknowledgement only SMS-specific express consent counts.
///
/// Returns the grants the option accepts.
pub fn rule_2_merchant_option<'s, 'a>(
    settings: &Settings,
    state: &'s ConsentState<'a>,
) -> Result<Vec<&'s Grant<'a>>, Decision> {
    let accepted: Vec<&Grant<'a>> = state
        .grants
        .iter()
        .filter(|g| option_accepts(settings, g.basis))
        .collect();
    if !accepted.is_empty() {
        return Ok(accepted);
    }
    let found: Vec<&str> = state.grants.iter().map(|g| g.basis.describe()).collect();
    let caveat = match settings.consent_option {
        ConsentOption::GeneralMarketing if !settings.require_consent_confirmed => {
            " (the merchant has not confirmed BigCommerce's Require Consent setting)"
        }
        ConsentOption::Inferred if !settings.inferred_acknowledged => {
            " (the merchant has not acknowledged that inferred consent is lawful for them)"
        }
        _ => "",
    };
    Err(deny(
        Reason::ConsentOptionNotMet,
        format!(
            "The store's {} option does not accept {}{caveat}.",
            option_name(settings.consent_option),
            found.join(" or ")
        ),
    ))
}

fn option_accepts(settings: &Settings, basis: Basis) -> bool {
    if basis.is_sms_express() {
        return true;
    }
    match settings.consent_option {
        ConsentOption::SmsCheckbox => basis == Basis::ImportDefault,
        ConsentOption::GeneralMarketing => settings.require_consent_confirmed && basis == Basis::GeneralMarketing,
        ConsentOption::Inferred => settings.inferred_acknowledged,
    }
}

/// How long Canadian implied consent from a purchase lasts (CASL s.10(10): 2 years; 730 days, the shorter
/// reading).
pub const CASL_IMPLIED_CONSENT_DAYS: i64 = 730;

/// **Rule 3 — the regional floor** under the merchant's option (docs/consent-rules.md):
/// - US (and US territories; also a number whose country is unknown): express written consent only — a
///   verified checkbox with a complete disclosure, a keyword, or a confirmed double opt-in; never inferred,
///   general-marketing, import-default or purchase-based consent (47 CFR 64.1200(f)(9), R-US-1). Cart
///   reminders also need a confirmed double opt-in while the store's `us_double_opt_in` is on (default on;
///   T-Mobile cart-reminder policy, R-CTIA-5);
/// - Canada: express, or implied from a purchase within 2 years (CASL s.10(9)-(10), R-CA-1);
/// - Australia: express or inferred (Spam Act s.16, R-AU-1): every basis;
/// - UK: SMS-specific express consent, or soft opt-in from a purchase where a way to refuse was offered
///   (PECR reg. 22(2)-(3), R-UK-1, R-UK-2);
/// - EU/EEA: SMS-specific express consent only (GDPR Art. 4(11), 7; R-EU-1);
/// - elsewhere: whatever the merchant's option accepts.
///
/// Everywhere, a checkbox counts only with a complete disclosure (see [`super::disclosure`]) naming the
/// store's brand, whose text matches its recorded version: consent must be informed and provable.
pub fn rule_3_regional_floor<'a>(
    input: &DecisionInput<'_>,
    state: &ConsentState<'a>,
    candidates: &[&Grant<'a>],
    cart_reminder: bool,
) -> Result<Authorised<'a>, Decision> {
    let market = input.recipient.market;
    let brand = &input.settings.brand_name;
    let us_rules = matches!(market, Market::Us | Market::Unknown);
    let inferred_rules = matches!(market, Market::Australia | Market::NewZealand);
    let mut expired_purchase: Option<&ConsentEvent> = None;
    let mut bare_keyword: Option<&ConsentEvent> = None;
    let mut import_without_relationship: Option<&ConsentEvent> = None;
    let mut passing: Vec<(&Grant<'a>, Option<DateTime<Utc>>)> = Vec::new();
    for grant in candidates {
        if !market_accepts(market, grant.basis) {
            continue;
        }
        let mut valid_until = None;
        if market == Market::Canada && matches!(grant.basis, Basis::ImpliedPurchase | Basis::SoftOptIn) {
            let until = grant.event.occurred_at + Duration::days(CASL_IMPLIED_CONSENT_DAYS);
            if until <= input.now {
                expired_purchase = Some(grant.event);
                continue;
            }
            valid_until = Some(until);
        }
        // A keyword restores written consent given before; on its own it is not written consent (R-US-1).
        if us_rules && grant.basis == Basis::Keyword && !restores_written_consent(grant.related, input.settings) {
            bare_keyword = Some(grant.event);
            continue;
        }
        if inferred_rules && grant.basis == Basis::ImportDefault {
            match business_relationship_until(state) {
                Some(until) if until > input.now => valid_until = Some(until),
                _ => {
                    import_without_relationship = Some(grant.event);
                    continue;
                }
            }
        }
        passing.push((grant, valid_until));
    }
    // Consent that lasts first (then the later lapse), then the strongest evidence, then the latest.
    passing.sort_by_key(|(g, until)| {
        std::cmp::Reverse((until.is_none(), *until, g.basis.strength(), g.event.occurred_at))
    });

    // Evidence is checked only for the grants that would be used (it is the costly part of a decision).
    let mut bad_evidence: Option<(&ConsentEvent, String)> = None;
    if cart_reminder && us_rules && input.settings.us_double_opt_in {
        for (grant, _) in passing.iter().filter(|(g, _)| g.basis == Basis::DoubleOptInConfirmed) {
            match double_opt_in_evidence(grant, input.settings) {
                Ok(()) => {
                    return Ok(Authorised {
                        grant: **grant,
                        valid_until: None,
                    });
                }
                Err(problem) => bad_evidence = bad_evidence.or(Some((grant.event, problem))),
            }
        }
        let any_valid = passing
            .iter()
            .any(|(g, _)| g.basis != Basis::CheckboxVerified || checkbox_evidence(g.event, brand).is_ok());
        if any_valid {
            if let Some((event, problem)) = bad_evidence {
                return Err(deny(
                    Reason::DisclosureIncomplete,
                    format!(
                        "The double opt-in (event {}) cannot be relied on for cart reminders because {problem}.",
                        event.event_id
                    ),
                ));
            }
            if let Some(request) = state.pending_double_opt_in {
                return Err(deny(
                    Reason::DoubleOptInPending,
                    format!(
                        "Cart reminders to US numbers need a confirmed double opt-in, and the request sent {} has not been answered YES.",
                        request.occurred_at.format("%Y-%m-%d %H:%M UTC")
                    ),
                ));
            }
            return Err(deny(
                Reason::DoubleOptInRequired,
                "Cart reminders to US numbers need a confirmed double opt-in (reply YES to a request that names cart reminders), and none is on record.".to_owned(),
            ));
        }
        // Nothing but invalid evidence: the floor's own denial below names it.
    }

    for (grant, valid_until) in &passing {
        if grant.basis == Basis::CheckboxVerified
            && let Err(problem) = checkbox_evidence(grant.event, brand)
        {
            bad_evidence = bad_evidence.or(Some((grant.event, format!("its disclosure text {problem}"))));
            continue;
        }
        return Ok(Authorised {
            grant: **grant,
            valid_until: *valid_until,
        });
    }

    if let Some((event, problem)) = bad_evidence {
        return Err(deny(
            Reason::DisclosureIncomplete,
            format!(
                "The consent in event {} cannot be relied on because {problem}.",
                event.event_id
            ),
        ));
    }
    if let Some(keyword) = bare_keyword {
        if let Some(request) = state.pending_double_opt_in {
            return Err(deny(
                Reason::DoubleOptInPending,
                format!(
                    "A texted keyword alone (event {}) is not express written consent for marketing texts to a US number, and the double opt-in request sent {} has not been answered YES.",
                    keyword.event_id,
                    request.occurred_at.format("%Y-%m-%d %H:%M UTC")
                ),
            ));
        }
        return Err(deny(
            Reason::KeywordNotWrittenConsent,
            format!(
                "The person texted {} (event {}) but never gave written consent before (a verified checkout checkbox or a YES to a double opt-in request carrying the full disclosure), and a keyword alone is not express written consent for marketing texts to a US number.",
                keyword_text(keyword),
                keyword.event_id
            ),
        ));
    }
    if let Some(import) = import_without_relationship {
        return Err(deny(
            Reason::ImportWithoutBusinessRelationship,
            format!(
                "In {} a customer imported by the bulk sync (event {}) counts as consenting only by inference from an existing business relationship, a purchase from the store in the last 2 years, and none is on record.",
                market.describe(),
                import.event_id
            ),
        ));
    }
    if let Some(purchase) = expired_purchase {
        return Err(deny(
            Reason::ImpliedConsentExpired,
            format!(
                "Implied consent from the purchase on {} (event {}) lapsed after 2 years under CASL, and there is no express consent.",
                purchase.occurred_at.format("%Y-%m-%d"),
                purchase.event_id
            ),
        ));
    }
    let found: Vec<&str> = candidates.iter().map(|g| g.basis.describe()).collect();
    Err(deny(
        Reason::RegionalFloorNotMet,
        format!(
            "Marketing texts to a number in {} need {}, and the consent on record is only {}.",
            market.describe(),
            floor_description(market),
            found.join(" or ")
        ),
    ))
}

/// For US cart reminders the double opt-in request must have carried the full disclosure (T-Mobile cart
/// policy, R-CTIA-5: "double opt-in via text whose text says the program includes shopping cart reminders";
/// its YES is the written consent, so R-US-1 and R-CTIA-1 apply to its words); the request's text is kept in
/// its ledger event.
fn double_opt_in_evidence(grant: &Grant<'_>, settings: &Settings) -> Result<(), String> {
    let Some(ConsentEventKind::DoubleOptInRequested { text, .. }) = grant.related.map(|r| &r.kind) else {
        return Err("the request it answered is not on record".to_owned());
    };
    request_evidence(text, settings)
}

/// Checks a double opt-in request's text. The request as the store sends it today is complete when the store
/// has both https links (and a brand, which settings always have), so an identical text is not read again:
/// this keeps the decision cheap.
fn request_evidence(text: &str, settings: &Settings) -> Result<(), String> {
    let linked = |url: &Option<String>| url.as_deref().is_some_and(crate::model::settings::is_https_url);
    if linked(&settings.terms_url) && linked(&settings.privacy_url) && text == double_opt_in_request(settings) {
        return Ok(());
    }
    missing_from_request(text, &settings.brand_name)
}

fn missing_from_request(text: &str, brand: &str) -> Result<(), String> {
    let missing = validate_disclosure(text, brand);
    if missing.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = missing.iter().map(ToString::to_string).collect();
    Err(format!("the request's text lacks {}", list.join(", ")))
}

/// The written consent a keyword restores: a checkbox with a complete disclosure, or a double opt-in
/// request with one (answered YES).
fn restores_written_consent(written: Option<&ConsentEvent>, settings: &Settings) -> bool {
    match written {
        Some(
            event @ ConsentEvent {
                kind: ConsentEventKind::CheckoutCheckbox { .. },
                ..
            },
        ) => checkbox_evidence(event, &settings.brand_name).is_ok(),
        Some(ConsentEvent {
            kind: ConsentEventKind::DoubleOptInRequested { text, .. },
            ..
        }) => request_evidence(text, settings).is_ok(),
        _ => false,
    }
}

fn keyword_text(event: &ConsentEvent) -> &'static str {
    match &event.kind {
        ConsentEventKind::KeywordOptIn { keyword, .. } => keyword.as_str(),
        _ => "a keyword",
    }
}

/// How long an existing business relationship (a purchase) lets an Australian or New Zealand customer be
/// inferred to expect marketing texts. Neither Act sets a period; the CASL period (2 years) is used as the
/// reasonable expectation, on the strict side.
pub const INFERRED_RELATIONSHIP_DAYS: i64 = CASL_IMPLIED_CONSENT_DAYS;

/// Until when the latest purchase in effect supports inferred consent (Spam Act s.16 and Sch. 2 cl. 2(b);
/// Unsolicited Electronic Messages Act 2007 (NZ) s.4(1)(a)(ii): consent "reasonably inferred from the
/// conduct and the business and other relationships"; R-AU-1).
fn business_relationship_until(state: &ConsentState<'_>) -> Option<DateTime<Utc>> {
    state
        .grants
        .iter()
        .filter(|g| matches!(g.basis, Basis::ImpliedPurchase | Basis::SoftOptIn))
        .map(|g| g.event.occurred_at + Duration::days(INFERRED_RELATIONSHIP_DAYS))
        .max()
}

fn market_accepts(market: Market, basis: Basis) -> bool {
    match market {
        Market::Us | Market::Unknown | Market::Eea => basis.is_sms_express(),
        Market::Canada => basis.is_sms_express() || matches!(basis, Basis::ImpliedPurchase | Basis::SoftOptIn),
        Market::UnitedKingdom => basis.is_sms_express() || basis == Basis::SoftOptIn,
        Market::Australia | Market::NewZealand | Market::Other => true,
    }
}

fn floor_description(market: Market) -> &'static str {
    match market {
        Market::Us | Market::Unknown => {
            "express written consent (a verified checkbox with a complete disclosure, a keyword or a double opt-in)"
        }
        Market::Canada => "express consent or a purchase within the last 2 years",
        Market::UnitedKingdom => "SMS-specific consent or a soft opt-in from a purchase where opting out was offered",
        Market::Eea => "SMS-specific express consent",
        Market::Australia | Market::NewZealand => {
            "consent the store's option accepts (an imported customer only with a purchase in the last 2 years)"
        }
        Market::Other => "consent the store's option accepts",
    }
}

/// Checks a checkbox event's evidence: complete disclosure naming the brand, text matching its version.
fn checkbox_evidence(event: &ConsentEvent, brand: &str) -> Result<(), String> {
    let ConsentEventKind::CheckoutCheckbox {
        disclosure_text,
        disclosure_version: version,
        ..
    } = &event.kind
    else {
        return Ok(());
    };
    let missing = validate_disclosure(disclosure_text, brand);
    if !missing.is_empty() {
        let list: Vec<String> = missing.iter().map(ToString::to_string).collect();
        return Err(format!("lacks {}", list.join(", ")));
    }
    if disclosure_version(disclosure_text) != *version {
        return Err(format!("does not match the recorded version {version}"));
    }
    Ok(())
}

/// **Identification** (with rule 3): every marketing text to Canada identifies the sender with a mailing
/// address and a phone number, email or web address valid for 60 days (CASL s.6(2), CRTC Regs s.2-3;
/// R-CA-3); to Australia with contact details valid for 30 days (Spam Act s.17; R-AU-2). The
/// reminder carries [`Settings::sender_contact`]; without it nothing goes.
pub fn sender_identification(settings: &Settings, market: Market) -> Result<(), Decision> {
    let needed = match market {
        Market::Canada => "a mailing address and a phone number, email or web address (CASL)",
        Market::Australia => "contact details such as a phone number, email or web address (Spam Act)",
        _ => return Ok(()),
    };
    if settings.sender_contact(market).is_some() {
        return Ok(());
    }
    Err(deny(
        Reason::SenderContactMissing,
        format!(
            "Marketing texts to {} must identify the store with {needed}, and the settings page does not give them yet.",
            market.describe()
        ),
    ))
}

/// A step's due time and expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepTiming {
    pub step: u8,
    /// When the reminder should go (before quiet hours and frequency limits).
    pub due: DateTime<Utc>,
    /// After this instant the reminder is stale and is never sent.
    pub expires: DateTime<Utc>,
}

/// The US/CA carrier limit: one reminder per abandoned cart, within 48 hours (R-CTIA-5).
pub const NORTH_AMERICA_REMINDER_HOURS: i64 = 48;
/// The most reminders per cart anywhere (P-5).
pub const MAX_REMINDER_STEPS: u8 = 3;
/// How long a reminder outside the US/CA stays worth sending after it is due.
pub const REMINDER_STALE_HOURS: i64 = 24;

/// The reminder schedule for a cart abandoned at `abandoned_at`, for the sweep and the sender alike.
///
/// - Step 1 is due `first_delay_minutes` after the last cart activity; steps 2-3 are due
///   `later_step_delays_hours[k-2]` hours after step 1's due time.
/// - US, Canada (and unknown countries): one step, expiring 48 hours after abandonment.
/// - Elsewhere: up to `max_steps` (at most 3); each expires 24 hours after it is due or when the next step
///   falls due, whichever is first, so reminders never pile up.
pub fn reminder_schedule(settings: &Settings, market: Market, abandoned_at: DateTime<Utc>) -> Vec<StepTiming> {
    let first_due = abandoned_at + Duration::minutes(i64::from(settings.reminders.first_delay_minutes));
    if matches!(market, Market::Us | Market::Canada | Market::Unknown) {
        let expires = abandoned_at + Duration::hours(NORTH_AMERICA_REMINDER_HOURS);
        return if first_due < expires {
            vec![StepTiming {
                step: 1,
                due: first_due,
                expires,
            }]
        } else {
            Vec::new()
        };
    }
    let steps = settings.reminders.max_steps.min(MAX_REMINDER_STEPS);
    let mut dues = Vec::new();
    for step in 1..=steps {
        let due = if step == 1 {
            first_due
        } else {
            match settings.reminders.later_step_delays_hours.get(usize::from(step) - 2) {
                Some(hours) => first_due + Duration::hours(i64::from(*hours)),
                None => break,
            }
        };
        dues.push(due);
    }
    (0..dues.len())
        .map(|i| {
            let stale = dues[i] + Duration::hours(REMINDER_STALE_HOURS);
            let expires = match dues.get(i + 1) {
                Some(next) if *next > dues[i] => stale.min(*next),
                _ => stale,
            };
            StepTiming {
                step: i as u8 + 1,
                due: dues[i],
                expires,
            }
        })
        .collect()
}

/// **Rule 6 — cart reminder limits.** US and Canadian numbers get at most one reminder per cart, within 48
/// hours of abandonment (carrier cart-reminder policy, R-CTIA-5; P-5); elsewhere up to the
/// configured steps (at most 3). A step beyond the schedule, a second reminder for the same cart in the US/CA,
/// a step already sent, or a reminder past its expiry ([`reminder_schedule`]) is denied.
pub fn rule_6_cart_reminder_limits(
    input: &DecisionInput<'_>,
    cart_id: &str,
    step: u8,
    abandoned_at: DateTime<Utc>,
) -> Result<StepTiming, Decision> {
    if step == 0 {
        return Err(deny(
            Reason::InvalidStep,
            "Reminder steps are numbered from 1; step 0 does not exist.".to_owned(),
        ));
    }
    let market = input.recipient.market;
    let one_per_cart = matches!(market, Market::Us | Market::Canada | Market::Unknown);
    let already = input.sends.iter().find(|s| match &s.kind {
        SentKind::CartReminder {
            cart_id: sent_cart,
            step: sent_step,
        } => sent_cart == cart_id && (one_per_cart || *sent_step == step),
        _ => false,
    });
    if let Some(sent) = already {
        return Err(deny(
            Reason::CartReminderLimit,
            if one_per_cart {
                format!(
                    "Numbers in {} get at most one reminder per cart, and this cart already had one on {}.",
                    market.describe(),
                    sent.sent_at.format("%Y-%m-%d %H:%M UTC")
                )
            } else {
                format!(
                    "Reminder {step} for this cart was already sent on {}.",
                    sent.sent_at.format("%Y-%m-%d %H:%M UTC")
                )
            },
        ));
    }
    let schedule = reminder_schedule(input.settings, market, abandoned_at);
    let Some(timing) = schedule.iter().find(|t| t.step == step) else {
        return Err(deny(
            Reason::CartReminderLimit,
            if one_per_cart {
                format!(
                    "Numbers in {} get at most one reminder per cart (carrier rule), so step {step} is never sent.",
                    market.describe()
                )
            } else {
                format!(
                    "The store sends at most {} reminder(s) per cart, so step {step} is never sent.",
                    schedule.len()
                )
            },
        ));
    };
    if input.now >= timing.expires {
        return Err(deny(
            Reason::CartReminderExpired,
            format!(
                "Reminder {step} for a cart abandoned {} expired at {}{}.",
                abandoned_at.format("%Y-%m-%d %H:%M UTC"),
                timing.expires.format("%Y-%m-%d %H:%M UTC"),
                if one_per_cart { " (48-hour carrier limit)" } else { "" }
            ),
        ));
    }
    Ok(*timing)
}

/// The latest of several "not before" constraints, remembering which one binds.
#[derive(Debug, Clone, Copy)]
struct Earliest {
    at: DateTime<Utc>,
    reason: Option<Reason>,
    detail: Option<DateTime<Utc>>,
}

impl Earliest {
    fn new(now: DateTime<Utc>) -> Self {
        Self {
            at: now,
            reason: None,
            detail: None,
        }
    }

    fn raise(&mut self, not_before: DateTime<Utc>, reason: Reason) {
        if not_before > self.at {
            self.at = not_before;
            self.reason = Some(reason);
            self.detail = Some(not_before);
        }
    }
}

/// The smart-sending window in hours, clamped to 8-72.
fn smart_sending_hours(settings: &Settings) -> i64 {
    i64::from(settings.smart_sending_hours.clamp(8, 72))
}

/// States that cap marketing texts at 3 per 24 hours (R-ST-2; New Jersey by P-1).
pub const DAILY_CAP_STATES: &[&str] = &["FL", "OK", "MD", "NJ"];
/// The cap.
pub const DAILY_CAP: usize = 3;

/// **Rule 5 — frequency.** No marketing text within the store's smart-sending window (default 24 hours,
/// 8-72 configurable) of the previous one to the same number (P-3); and
/// to numbers in Florida, Oklahoma, Maryland or New Jersey (or a US number whose state is unknown) at most 3
/// marketing texts per rolling 24 hours (FTSA s.501.059(8)(a), OTSA, MD SB 90; R-ST-2). Both only move the
/// send later; [`decide`] turns "later than the expiry" into a Deny.
fn rule_5_frequency(input: &DecisionInput<'_>, earliest: &mut Earliest) {
    let mut marketing: Vec<DateTime<Utc>> = input
        .sends
        .iter()
        .filter(|s| s.kind.is_marketing())
        .map(|s| s.sent_at)
        .collect();
    marketing.sort_unstable_by(|a, b| b.cmp(a));
    if let Some(last) = marketing.first() {
        earliest.raise(
            *last + Duration::hours(smart_sending_hours(input.settings)),
            Reason::SmartSendingWindow,
        );
    }
    if daily_cap_applies(input.recipient)
        && let Some(third_latest) = marketing.get(DAILY_CAP - 1)
    {
        earliest.raise(*third_latest + Duration::hours(24), Reason::StateDailyCap);
    }
}

fn daily_cap_applies(recipient: &Recipient) -> bool {
    match recipient.market {
        Market::Unknown => true,
        Market::Us => {
            recipient.subdivisions.is_empty()
                || recipient
                    .subdivisions
                    .iter()
                    .any(|s| DAILY_CAP_STATES.contains(&s.as_str()))
        }
        _ => false,
    }
}

/// The effective send window for a recipient, with the rules it comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendWindow {
    pub window: WeeklyWindow,
    /// What shaped it, for explanations ("federal", "Florida", "store default", "merchant narrowing").
    pub rules: Vec<&'static str>,
}

/// The window for a recipient: US federal ∩ candidate states (all states when unknown), or elsewhere the
/// store's default ∩ our 08:00-21:00 limit ∩ country rules; then ∩ the merchant's narrowing.
pub fn send_window(settings: &Settings, recipient: &Recipient) -> SendWindow {
    let (mut window, mut rules) = match recipient.market {
        Market::Us => {
            let (w, states) = hours::us_window(&recipient.subdivisions);
            (w, [vec!["federal"], states].concat())
        }
        Market::Unknown => {
            let (w, states) = hours::us_window(&[]);
            (w, [vec!["federal"], states].concat())
        }
        _ => {
            let configured = WeeklyWindow::every_day(DayWindow::hours(
                settings.default_send_window.start_hour,
                settings.default_send_window.end_hour,
            ));
            let mut w = configured.intersect(&HOUSE_LIMIT);
            let mut rules = vec!["store default"];
            if let Some(country) = recipient.country.as_deref() {
                for (code, name, country_window) in COUNTRY_WINDOWS {
                    if *code == country {
                        w = w.intersect(country_window);
                        rules.push(name);
                    }
                }
            }
            (w, rules)
        }
    };
    if let Some(narrowing) = settings.quiet_hours {
        window = window.intersect(&WeeklyWindow::every_day(DayWindow::hours(
            narrowing.start_hour,
            narrowing.end_hour,
        )));
        rules.push("merchant narrowing");
    }
    SendWindow { window, rules }
}

/// The result of the timing rules.
enum Timed {
    Now,
    Later(Decision),
}

/// **Rule 4 — quiet hours in the recipient's local time.** The window ([`send_window`]) must be open in every
/// candidate zone of the recipient (47 CFR 64.1200(c)(1); state laws in [`super::hours`]; R-ST-1). Outside
/// it the message is deferred to the next opening (queued, never dropped: P-2), unless that is at
/// or past the message's expiry, then denied. Also combines the earlier "not before" constraints (due time,
/// rule 5) so the Defer instant satisfies all of them.
fn rule_4_quiet_hours(
    input: &DecisionInput<'_>,
    window: &SendWindow,
    earliest: Earliest,
    expires: Option<DateTime<Utc>>,
    expiry_is_consent: bool,
) -> Timed {
    let zones = &input.recipient.zones;
    if zones.is_empty() {
        return Timed::Later(deny(
            Reason::TimeZoneUnknown,
            "The recipient's time zone cannot be told, so no time can be shown to be inside the legal send window."
                .to_owned(),
        ));
    }
    let Some(opening) = hours::next_opening(earliest.at, zones, &window.window) else {
        return Timed::Later(deny(
            Reason::NoSendWindow,
            format!(
                "The send window {} ({}) is never open in all of the recipient's possible time zones ({}) at once.",
                window.window,
                window.rules.join(", "),
                zone_names(zones)
            ),
        ));
    };
    let (reason, why) = if opening > earliest.at {
        let quiet = quiet_hours_detail(earliest.at, earliest.at == input.now, zones, window);
        let why = match earliest.reason {
            Some(first) => format!("{}, and {quiet}", constraint_detail(first, earliest, input)),
            None => quiet,
        };
        (Reason::QuietHours, why)
    } else {
        match earliest.reason {
            None => return Timed::Now,
            Some(reason) => (reason, constraint_detail(reason, earliest, input)),
        }
    };
    if let Some(expires) = expires
        && opening >= expires
    {
        let (past_reason, deadline) = if expiry_is_consent {
            (Reason::ImpliedConsentExpired, "the implied consent lapses")
        } else {
            (
                match reason {
                    Reason::SmartSendingWindow => Reason::SmartSendingPastExpiry,
                    Reason::StateDailyCap => Reason::StateDailyCapPastExpiry,
                    Reason::QuietHours => Reason::QuietHoursPastExpiry,
                    _ => Reason::CartReminderExpired,
                },
                "the message expires",
            )
        };
        return Timed::Later(deny(
            past_reason,
            format!(
                "The earliest allowed time, {}, is not before {deadline} at {}: {why}.",
                opening.format("%Y-%m-%d %H:%M UTC"),
                expires.format("%Y-%m-%d %H:%M UTC")
            ),
        ));
    }
    Timed::Later(Decision::Defer {
        until: opening,
        reason,
        explanation: format!("Deferred to {}: {why}.", opening.format("%Y-%m-%d %H:%M UTC")),
    })
}

fn quiet_hours_detail(at: DateTime<Utc>, is_now: bool, zones: &[Tz], window: &SendWindow) -> String {
    let closed = zones
        .iter()
        .find(|z| !hours::open_at(at, std::slice::from_ref(*z), &window.window))
        .unwrap_or(&zones[0]);
    let local = at.with_timezone(closed);
    format!(
        "{} {} {:02}:{:02} for the recipient ({}) and texts may go only {} there ({})",
        if is_now { "it is" } else { "then it would be" },
        local.format("%A"),
        local.hour(),
        local.minute(),
        closed.name(),
        window.window,
        window.rules.join(", ")
    )
}

fn constraint_detail(reason: Reason, earliest: Earliest, input: &DecisionInput<'_>) -> String {
    let at = earliest.detail.unwrap_or(earliest.at).format("%Y-%m-%d %H:%M UTC");
    match reason {
        Reason::NotDueYet => format!("the reminder is not due until {at}"),
        Reason::SmartSendingWindow => format!(
            "the previous marketing text was less than {} hours ago (smart sending), so the next may go at {at}",
            smart_sending_hours(input.settings)
        ),
        Reason::StateDailyCap => format!(
            "the recipient's state allows at most {DAILY_CAP} marketing texts in 24 hours, so the next may go at {at}"
        ),
        _ => format!("not before {at}"),
    }
}

fn zone_names(zones: &[Tz]) -> String {
    zones.iter().map(|z| z.name()).collect::<Vec<_>>().join(", ")
}

fn option_name(option: ConsentOption) -> &'static str {
    match option {
        ConsentOption::SmsCheckbox => "SMS checkbox",
        ConsentOption::GeneralMarketing => "general marketing",
        ConsentOption::Inferred => "inferred consent",
    }
}

fn market_adjective(market: Market) -> &'static str {
    match market {
        Market::Us => "US ",
        Market::Canada => "Canadian ",
        Market::Australia => "Australian ",
        Market::NewZealand => "New Zealand ",
        Market::UnitedKingdom => "UK ",
        Market::Eea => "EU/EEA ",
        Market::Other | Market::Unknown => "",
    }
}

pub(crate) fn describe_opt_out(method: &OptOutMethod) -> String {
    match method {
        OptOutMethod::Keyword { raw_text, .. } => {
            let shown: String = raw_text.chars().take(40).collect();
            format!("replied \"{shown}\"")
        }
        OptOutMethod::WebPage { .. } => "on the web opt-out page".to_owned(),
        OptOutMethod::Merchant { .. } => "by the merchant".to_owned(),
        OptOutMethod::ProviderReported { provider, code } => {
            format!("reported by {provider}, code {code}")
        }
        OptOutMethod::CheckboxUnticked => "unticked the checkout checkbox".to_owned(),
    }
}

// ---------------------------------------------------------------------------------------------------------
// Transactional messages
// ---------------------------------------------------------------------------------------------------------

/// How long after the provider received an opt-out its confirmation may still go: the FCC presumes a
/// confirmation within 5 minutes compliant and wants a justification for later ones (R-US-2). Past it (a
/// provider retry after an outage) the opt-out is recorded and no confirmation is sent.
pub const OPT_OUT_CONFIRMATION_MINUTES: i64 = 5;
/// HELP is answered every time (R-CTIA-3: carriers' audits text it repeatedly and check each answer), up to
/// this many answers to one number in any [`HELP_FLOOD_WINDOW_MINUTES`], so two autoresponders answering each
/// other cannot run up a bill.
pub const HELP_REPLIES_PER_HOUR: usize = 5;
pub const HELP_FLOOD_WINDOW_MINUTES: i64 = 60;

/// One confirmation per opt-out the person made (keyword or web page), sent within
/// [`OPT_OUT_CONFIRMATION_MINUTES`], only while they have not opted back in, with no marketing in it
/// (47 CFR 64.1200(a)(12), SoundBite 2012; R-US-2). No consent needed and no quiet hours: it answers the
/// person's own message.
fn decide_opt_out_confirmation(input: &DecisionInput<'_>) -> Decision {
    let state = ConsentState::fold(input.ledger, Purpose::Marketing);
    let Some(withdrawal) = state.withdrawal else {
        return deny(
            Reason::NoOptOutToConfirm,
            "No opt-out is on record for this number, so there is nothing to confirm.".to_owned(),
        );
    };
    let person_asked = matches!(
        &withdrawal.kind,
        ConsentEventKind::OptOut(OptOutMethod::Keyword { .. } | OptOutMethod::WebPage { .. })
    );
    if !person_asked {
        return deny(
            Reason::NoOptOutToConfirm,
            format!(
                "The latest withdrawal (event {}) was not made by the person by text or on the web page, so no confirmation is sent.",
                withdrawal.event_id
            ),
        );
    }
    if !state.grants.is_empty() || state.pending_double_opt_in.is_some() {
        return deny(
            Reason::NoOptOutToConfirm,
            "The person opted in again after opting out, so the opt-out is no longer confirmed.".to_owned(),
        );
    }
    if let Some(sent) = input
        .sends
        .iter()
        .find(|s| s.kind == SentKind::OptOutConfirmation && s.sent_at >= withdrawal.occurred_at)
    {
        return deny(
            Reason::OptOutAlreadyConfirmed,
            format!(
                "The opt-out was already confirmed at {}; only one confirmation is allowed.",
                sent.sent_at.format("%Y-%m-%d %H:%M UTC")
            ),
        );
    }
    let deadline = withdrawal.occurred_at + Duration::minutes(OPT_OUT_CONFIRMATION_MINUTES);
    if input.now > deadline {
        return deny(
            Reason::OptOutConfirmationTooLate,
            format!(
                "The opt-out received at {} was handled more than {OPT_OUT_CONFIRMATION_MINUTES} minutes later (at {}), past the FCC's safe harbour for a confirmation text, so none was sent; the opt-out itself is recorded.",
                withdrawal.occurred_at.format("%Y-%m-%d %H:%M:%S UTC"),
                input.now.format("%Y-%m-%d %H:%M:%S UTC")
            ),
        );
    }
    Decision::Allow {
        ledger_event_id: Some(withdrawal.event_id.clone()),
        basis: None,
        settings_version: input.settings.version,
        explanation: format!(
            "Allowed: the single confirmation of the opt-out at {} (event {}), with no marketing content.",
            withdrawal.occurred_at.format("%Y-%m-%d %H:%M UTC"),
            withdrawal.event_id
        ),
    }
}

/// The answer to HELP: always allowed, even after an opt-out (R-CTIA-3), unless [`HELP_REPLIES_PER_HOUR`]
/// answers already went to the number in the last [`HELP_FLOOD_WINDOW_MINUTES`].
fn decide_help_reply(input: &DecisionInput<'_>) -> Decision {
    let since = input.now - Duration::minutes(HELP_FLOOD_WINDOW_MINUTES);
    let recent = input
        .sends
        .iter()
        .filter(|s| s.kind == SentKind::HelpReply && s.sent_at > since);
    if recent.clone().count() >= HELP_REPLIES_PER_HOUR
        && let Some(oldest) = recent.map(|s| s.sent_at).min()
    {
        return deny(
            Reason::HelpReplyRateLimited,
            format!(
                "{HELP_REPLIES_PER_HOUR} HELP replies already went to this number in the last hour, a flood (two automatic responders answering each other?); HELP is answered again from {}.",
                (oldest + Duration::minutes(HELP_FLOOD_WINDOW_MINUTES)).format("%Y-%m-%d %H:%M:%S UTC")
            ),
        );
    }
    Decision::Allow {
        ledger_event_id: None,
        basis: None,
        settings_version: input.settings.version,
        explanation: "Allowed: a HELP reply answers the person's own request and needs no marketing consent."
            .to_owned(),
    }
}

/// A double opt-in request goes only to confirm SMS-specific consent the person gave after their last
/// opt-out (a ticked checkbox, a keyword), once per such consent, never when one is already confirmed, and
/// inside the send window (R-CTIA-5; CASL: a request for consent is itself a message, so it needs a basis).
fn decide_double_opt_in_request(input: &DecisionInput<'_>) -> Decision {
    let state = ConsentState::fold(input.ledger, Purpose::Marketing);
    if let Some(confirmed) = state.double_opt_in_confirmed() {
        return deny(
            Reason::DoubleOptInAlreadyConfirmed,
            format!(
                "The double opt-in was already confirmed on {} (event {}).",
                confirmed.event.occurred_at.format("%Y-%m-%d %H:%M UTC"),
                confirmed.event.event_id
            ),
        );
    }
    let target = state
        .unverified_checkboxes
        .iter()
        .copied()
        .chain(
            state
                .grants
                .iter()
                .filter(|g| g.basis.is_sms_express())
                .map(|g| g.event),
        )
        .max_by_key(|e| e.occurred_at);
    let Some(target) = target else {
        if let Err(denial) = rule_1_opt_out_wins(&state) {
            // Opted out, erased, pre-ticked box...: the same explanation as for marketing.
            if !matches!(
                denial,
                Decision::Deny {
                    reason: Reason::NeverSubscribed | Reason::TransactionalConsentOnly | Reason::DoubleOptInPending,
                    ..
                }
            ) {
                return denial;
            }
        }
        return deny(
            Reason::NothingToConfirm,
            "No SMS consent given since the last opt-out (a ticked checkbox or a keyword) is waiting for confirmation."
                .to_owned(),
        );
    };
    let requested = state
        .pending_double_opt_in
        .map(|r| r.occurred_at)
        .into_iter()
        .chain(
            input
                .sends
                .iter()
                .filter(|s| s.kind == SentKind::DoubleOptInRequest)
                .map(|s| s.sent_at),
        )
        .filter(|at| *at >= target.occurred_at)
        .max();
    if let Some(at) = requested {
        return deny(
            Reason::DoubleOptInAlreadyRequested,
            format!(
                "A double opt-in request for this consent already went out at {}.",
                at.format("%Y-%m-%d %H:%M UTC")
            ),
        );
    }
    // Its YES becomes the written consent, so the request itself must carry the full disclosure.
    if let Err(problem) = missing_from_request(&double_opt_in_request(input.settings), &input.settings.brand_name) {
        return deny(
            Reason::DisclosureIncomplete,
            format!(
                "The double opt-in request is not sent because {problem} (the Terms and Privacy links are set on the settings page)."
            ),
        );
    }
    let window = send_window(input.settings, input.recipient);
    match rule_4_quiet_hours(input, &window, Earliest::new(input.now), None, false) {
        Timed::Now => Decision::Allow {
            ledger_event_id: Some(target.event_id.clone()),
            basis: None,
            settings_version: input.settings.version,
            explanation: format!(
                "Allowed: a double opt-in request to confirm the consent given {} (event {}), inside the send window ({}).",
                target.occurred_at.format("%Y-%m-%d %H:%M UTC"),
                target.event_id,
                window.window
            ),
        },
        Timed::Later(decision) => decision,
    }
}

#[cfg(test)]
#[path = "engine_tests.rs"]
mod tests;
