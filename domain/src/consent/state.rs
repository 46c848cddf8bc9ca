//! The current consent of one phone at one store, for one purpose: a fold over the append-only ledger.
//!
//! Used by the engine ([`super::decide`]), by the settings page (contacts by consent state) and by the reply
//! handler (is a double opt-in pending?). The fold knows nothing about the merchant's option or the
//! recipient's country: it says which consents are *in effect*; the engine decides which of them may
//! authorise a given message.
//!
//! Semantics (docs/consent-rules.md R-US-2, R-US-4, R-CA-1, R-REC):
//! - Events are applied in the order they happened (`occurred_at`); at the same instant a withdrawal is applied
//!   after a grant, so an opt-out always wins a tie.
//! - A withdrawal (any [`ConsentEventKind::OptOut`], or [`ConsentEventKind::Erasure`]) of any purpose ends every
//!   consent recorded before it (FCC "revoke all" reading: a STOP ends all marketing).
//! - Once a person has withdrawn, only their own new *express, SMS-specific* act counts again: a checkbox
//!   ticked after it and verified, a START/UNSTOP/YES keyword, or a YES to a double opt-in request. A later
//!   BigCommerce newsletter opt-in, purchase, inferred or imported consent never revives texting (R-US-4:
//!   "keep suppression until a new, documented opt-in such as START / new PEWC").
//! - A checkout checkbox authorises nothing until verified (a [`ConsentEventKind::CheckoutPhoneVerified`]
//!   naming it, or a later double opt-in confirmation), and never when it was served pre-ticked (TCPA, CASL,
//!   GDPR *Planet49*: a pre-ticked box is not consent).
//! - A BigCommerce general-marketing opt-out withdraws every basis that is not SMS-specific (general
//!   marketing, inferred, import default, purchase); SMS-specific consent stays until withdrawn by SMS means.
//! - Consent for one purpose never authorises another: transactional consent never authorises marketing.

use super::ledger::{ConsentEvent, ConsentEventKind, Purpose};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The legal basis of a consent in effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// Our SMS checkbox at checkout, ticked by the shopper and verified (express written consent, R-US-1).
    CheckboxVerified,
    /// START, UNSTOP or YES texted by the person (express, SMS-specific).
    Keyword,
    /// YES in reply to our double opt-in request (confirmed opt-in, R-CTIA-5).
    DoubleOptInConfirmed,
    /// BigCommerce's general marketing opt-in (not SMS-specific).
    GeneralMarketing,
    /// The phone was given where the merchant relies on inferred consent.
    Inferred,
    /// Imported as subscribed-by-default by the bulk sync (MessageMedia seed).
    ImportDefault,
    /// A purchase: implied consent from an existing business relationship (CASL: 2 years).
    ImpliedPurchase,
    /// A purchase at which a simple way to refuse marketing was offered (PECR reg. 22(3) soft opt-in).
    SoftOptIn,
}

impl Basis {
    /// Every basis, strongest express consent first.
    pub const ALL: [Basis; 8] = [
        Self::CheckboxVerified,
        Self::Keyword,
        Self::DoubleOptInConfirmed,
        Self::GeneralMarketing,
        Self::Inferred,
        Self::ImportDefault,
        Self::ImpliedPurchase,
        Self::SoftOptIn,
    ];

    /// Stable snake_case code, for records and reports.
    pub fn code(self) -> &'static str {
        match self {
            Self::CheckboxVerified => "checkbox_verified",
            Self::Keyword => "keyword",
            Self::DoubleOptInConfirmed => "double_opt_in_confirmed",
            Self::GeneralMarketing => "general_marketing",
            Self::Inferred => "inferred",
            Self::ImportDefault => "import_default",
            Self::ImpliedPurchase => "implied_purchase",
            Self::SoftOptIn => "soft_opt_in",
        }
    }

    /// Express consent given specifically for text messages by the person themselves.
    pub fn is_sms_express(self) -> bool {
        matches!(
            self,
            Self::CheckboxVerified | Self::Keyword | Self::DoubleOptInConfirmed
        )
    }

    /// How it reads in an explanation.
    pub fn describe(self) -> &'static str {
        match self {
            Self::CheckboxVerified => "a verified SMS checkbox at checkout",
            Self::Keyword => "a texted opt-in keyword",
            Self::DoubleOptInConfirmed => "a confirmed double opt-in",
            Self::GeneralMarketing => "a BigCommerce general marketing opt-in",
            Self::Inferred => "inferred consent",
            Self::ImportDefault => "the bulk-import default",
            Self::ImpliedPurchase => "implied consent from a purchase",
            Self::SoftOptIn => "a soft opt-in from a purchase",
        }
    }

    /// Preference when several consents could authorise a message: the strongest evidence first.
    pub(crate) fn strength(self) -> u8 {
        match self {
            Self::DoubleOptInConfirmed => 7,
            Self::CheckboxVerified => 6,
            Self::Keyword => 5,
            Self::GeneralMarketing => 4,
            Self::SoftOptIn => 3,
            Self::ImpliedPurchase => 2,
            Self::Inferred => 1,
            Self::ImportDefault => 0,
        }
    }
}

/// One consent in effect.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Grant<'a> {
    pub basis: Basis,
    /// The ledger entry that expresses the consent (the checkbox, the keyword, the YES, the purchase): the
    /// entry a sent message records as its authority.
    pub event: &'a ConsentEvent,
    /// For a checkbox: the verification or double opt-in confirmation that made it count. For a double
    /// opt-in confirmation: the request it answered. For a keyword: the written consent given before it (the
    /// checkbox ticked, or the double opt-in request answered YES), which a keyword may restore after an
    /// opt-out; a keyword alone is not written consent (R-US-1).
    pub related: Option<&'a ConsentEvent>,
}

/// The summary the settings page shows per contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentStatus {
    Subscribed,
    PendingDoubleOptIn,
    Unsubscribed,
    NeverSubscribed,
}

/// The fold of a ledger for one purpose. Borrows the ledger: evidence is referenced, never copied.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsentState<'a> {
    pub purpose: Purpose,
    /// Consents in effect, in the order they were given.
    pub grants: Vec<Grant<'a>>,
    /// The latest opt-out or erasure, of any purpose.
    pub withdrawal: Option<&'a ConsentEvent>,
    /// A BigCommerce general-marketing opt-out that withdrew consent, in effect (not followed by a general
    /// opt-in).
    pub general_marketing_opt_out: Option<&'a ConsentEvent>,
    /// A double opt-in request sent after the last withdrawal and not yet answered.
    pub pending_double_opt_in: Option<&'a ConsentEvent>,
    /// Checkboxes ticked after the last withdrawal and not (yet) verified: they authorise nothing.
    pub unverified_checkboxes: Vec<&'a ConsentEvent>,
    /// Checkboxes served pre-ticked: never consent.
    pub prechecked_checkboxes: Vec<&'a ConsentEvent>,
    /// Non-express consents recorded after a withdrawal, which cannot revive texting.
    pub ignored_after_withdrawal: Vec<&'a ConsentEvent>,
    /// How many consent events were recorded for other purposes (they authorise nothing here).
    pub other_purpose_consents: usize,
}

impl<'a> ConsentState<'a> {
    /// Folds a ledger (any order) into the consents in effect for `purpose`.
    pub fn fold(ledger: &'a [ConsentEvent], purpose: Purpose) -> Self {
        let mut events: Vec<&'a ConsentEvent> = ledger.iter().collect();
        if !events.is_sorted_by_key(|e| order_key(e)) {
            events.sort_by_key(|e| order_key(e));
        }

        let mut state = Self {
            purpose,
            grants: Vec::new(),
            withdrawal: None,
            general_marketing_opt_out: None,
            pending_double_opt_in: None,
            unverified_checkboxes: Vec::new(),
            prechecked_checkboxes: Vec::new(),
            ignored_after_withdrawal: Vec::new(),
            other_purpose_consents: 0,
        };

        // The latest written consent ever given (a verified checkbox, or the request a YES confirmed), kept
        // across withdrawals: a later keyword may restore it.
        let mut written: Option<&'a ConsentEvent> = None;
        for event in events {
            match &event.kind {
                ConsentEventKind::OptOut(_) | ConsentEventKind::Erasure { .. } => {
                    state.withdrawal = Some(event);
                    state.grants.clear();
                    state.unverified_checkboxes.clear();
                    state.pending_double_opt_in = None;
                    state.general_marketing_opt_out = None;
                }
                ConsentEventKind::GeneralMarketing { opted_in: false, .. } => {
                    if purpose == Purpose::Marketing {
                        let before = state.grants.len();
                        state.grants.retain(|g| g.basis.is_sms_express());
                        // A "not subscribed" flag for someone who never was (the bulk import records
                        // one per non-subscriber) is not an opt-out.
                        if state.grants.len() < before {
                            state.general_marketing_opt_out = Some(event);
                        }
                    }
                }
                _ if event.purpose != purpose => {
                    if grants_something(&event.kind) {
                        state.other_purpose_consents += 1;
                    }
                }
                ConsentEventKind::CheckoutCheckbox {
                    checkbox_default_checked,
                    ..
                } => {
                    if *checkbox_default_checked {
                        state.prechecked_checkboxes.push(event);
                    } else {
                        state.unverified_checkboxes.push(event);
                    }
                }
                ConsentEventKind::CheckoutPhoneVerified { checkbox_event_id, .. } => {
                    if let Some(i) = state
                        .unverified_checkboxes
                        .iter()
                        .position(|c| &c.event_id == checkbox_event_id)
                    {
                        let checkbox = state.unverified_checkboxes.remove(i);
                        written = Some(checkbox);
                        state.grants.push(Grant {
                            basis: Basis::CheckboxVerified,
                            event: checkbox,
                            related: Some(event),
                        });
                    }
                }
                ConsentEventKind::KeywordOptIn { .. } => state.grants.push(Grant {
                    basis: Basis::Keyword,
                    event,
                    related: written,
                }),
                ConsentEventKind::DoubleOptInRequested { .. } => {
                    state.pending_double_opt_in = Some(event);
                }
                ConsentEventKind::DoubleOptInConfirmed { .. } => {
                    // A YES with no request pending confirms nothing: the reply handler records it as a
                    // keyword opt-in instead.
                    if let Some(request) = state.pending_double_opt_in.take() {
                        written = Some(request);
                        for checkbox in state.unverified_checkboxes.drain(..) {
                            state.grants.push(Grant {
                                basis: Basis::CheckboxVerified,
                                event: checkbox,
                                related: Some(event),
                            });
                        }
                        state.grants.push(Grant {
                            basis: Basis::DoubleOptInConfirmed,
                            event,
                            related: Some(request),
                        });
                    }
                }
                ConsentEventKind::GeneralMarketing { opted_in: true, .. } => {
                    state.weak_grant(Basis::GeneralMarketing, event);
                    state.general_marketing_opt_out = None;
                }
                ConsentEventKind::Inferred { .. } => state.weak_grant(Basis::Inferred, event),
                ConsentEventKind::ImportDefault { .. } => state.weak_grant(Basis::ImportDefault, event),
                ConsentEventKind::Purchase { opt_out_offered, .. } => {
                    let basis = if *opt_out_offered {
                        Basis::SoftOptIn
                    } else {
                        Basis::ImpliedPurchase
                    };
                    state.weak_grant(basis, event);
                }
            }
        }
        state
    }

    fn weak_grant(&mut self, basis: Basis, event: &'a ConsentEvent) {
        if self.withdrawal.is_some() {
            self.ignored_after_withdrawal.push(event);
        } else {
            self.grants.push(Grant {
                basis,
                event,
                related: None,
            });
        }
    }

    /// The summary for lists and reports.
    pub fn status(&self) -> ConsentStatus {
        if !self.grants.is_empty() {
            ConsentStatus::Subscribed
        } else if self.pending_double_opt_in.is_some() {
            ConsentStatus::PendingDoubleOptIn
        } else if self.withdrawal.is_some() || self.general_marketing_opt_out.is_some() {
            ConsentStatus::Unsubscribed
        } else {
            ConsentStatus::NeverSubscribed
        }
    }

    /// The strongest consent in effect (latest among equals), whatever the merchant's option or the
    /// recipient's country; the engine applies those.
    pub fn strongest(&self) -> Option<&Grant<'a>> {
        best(self.grants.iter())
    }

    /// Whether a YES received now would confirm a double opt-in request (the reply handler's question).
    pub fn double_opt_in_pending(&self) -> bool {
        self.pending_double_opt_in.is_some()
    }

    /// The double opt-in confirmation in effect, if any.
    pub fn double_opt_in_confirmed(&self) -> Option<&Grant<'a>> {
        self.grants
            .iter()
            .rev()
            .find(|g| g.basis == Basis::DoubleOptInConfirmed)
    }
}

/// The strongest grant, the latest among equals.
fn best<'g, 'a: 'g>(grants: impl Iterator<Item = &'g Grant<'a>>) -> Option<&'g Grant<'a>> {
    grants.max_by_key(|g| (g.basis.strength(), g.event.occurred_at))
}

/// Whether an event kind grants or requests consent (as opposed to withdrawing it).
fn grants_something(kind: &ConsentEventKind) -> bool {
    !matches!(
        kind,
        ConsentEventKind::OptOut(_)
            | ConsentEventKind::Erasure { .. }
            | ConsentEventKind::GeneralMarketing { opted_in: false, .. }
    )
}

/// Application order: by time; at the same instant grants, then confirmations, then withdrawals.
fn order_key(event: &ConsentEvent) -> (DateTime<Utc>, u8, DateTime<Utc>, &str) {
    let rank = match &event.kind {
        ConsentEventKind::OptOut(_)
        | ConsentEventKind::Erasure { .. }
        | ConsentEventKind::GeneralMarketing { opted_in: false, .. } => 2,
        ConsentEventKind::CheckoutPhoneVerified { .. } | ConsentEventKind::DoubleOptInConfirmed { .. } => 1,
        _ => 0,
    };
    (event.occurred_at, rank, event.recorded_at, &event.event_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consent::ledger::{OptInKeyword, OptOutMethod};
    use crate::consent::testkit::{Ledger, NY, t};

    fn fold(ledger: &Ledger) -> ConsentState<'_> {
        ConsentState::fold(&ledger.events, Purpose::Marketing)
    }

    fn bases(state: &ConsentState<'_>) -> Vec<Basis> {
        state.grants.iter().map(|g| g.basis).collect()
    }

    #[test]
    fn empty_ledger_is_never_subscribed() {
        let state = ConsentState::fold(&[], Purpose::Marketing);
        assert_eq!(state.status(), ConsentStatus::NeverSubscribed);
        assert!(state.strongest().is_none());
    }

    #[test]
    fn checkbox_authorises_nothing_until_verified() {
        let mut l = Ledger::new(NY);
        let checkbox = l.checkbox("2025-01-01T10:00:00Z");
        let state = fold(&l);
        assert_eq!(state.status(), ConsentStatus::NeverSubscribed);
        assert_eq!(state.unverified_checkboxes.len(), 1);

        l.verify("2025-01-01T10:01:00Z", &checkbox);
        let state = fold(&l);
        assert_eq!(state.status(), ConsentStatus::Subscribed);
        let grant = state.strongest().unwrap();
        assert_eq!(grant.basis, Basis::CheckboxVerified);
        // The authorising entry is the checkbox (it holds the disclosure), verified by the later event.
        assert_eq!(grant.event.event_id, checkbox);
        assert_eq!(grant.related.unwrap().event_id, "e2");
    }

    #[test]
    fn verification_of_an_unknown_or_withdrawn_checkbox_does_nothing() {
        let mut l = Ledger::new(NY);
        let checkbox = l.checkbox("2025-01-01T10:00:00Z");
        l.verify("2025-01-01T10:01:00Z", "no-such-event");
        assert_eq!(fold(&l).status(), ConsentStatus::NeverSubscribed);
        l.stop("2025-01-01T10:02:00Z");
        l.verify("2025-01-01T10:03:00Z", &checkbox);
        assert_eq!(fold(&l).status(), ConsentStatus::Unsubscribed);
    }

    #[test]
    fn prechecked_checkbox_is_never_consent() {
        let mut l = Ledger::new(NY);
        let id = l.checkbox_with("2025-01-01T10:00:00Z", "text", "v", true);
        l.verify("2025-01-01T10:01:00Z", &id);
        let state = fold(&l);
        assert_eq!(state.status(), ConsentStatus::NeverSubscribed);
        assert_eq!(state.prechecked_checkboxes.len(), 1);
    }

    #[test]
    fn double_opt_in_confirmation_verifies_the_checkbox() {
        let mut l = Ledger::new(NY);
        let checkbox = l.checkbox("2025-01-01T10:00:00Z");
        let request = l.doi_request("2025-01-01T10:00:05Z");
        let state = fold(&l);
        assert_eq!(state.status(), ConsentStatus::PendingDoubleOptIn);
        assert!(state.double_opt_in_pending());

        let yes = l.doi_yes("2025-01-01T10:03:00Z");
        let state = fold(&l);
        assert!(!state.double_opt_in_pending());
        assert_eq!(bases(&state), [Basis::CheckboxVerified, Basis::DoubleOptInConfirmed]);
        assert_eq!(state.grants[0].event.event_id, checkbox);
        let confirmed = state.double_opt_in_confirmed().unwrap();
        assert_eq!(confirmed.event.event_id, yes);
        assert_eq!(confirmed.related.unwrap().event_id, request);
        assert_eq!(state.strongest().unwrap().basis, Basis::DoubleOptInConfirmed);
    }

    #[test]
    fn yes_without_a_pending_request_confirms_nothing() {
        let mut l = Ledger::new(NY);
        l.doi_yes("2025-01-01T10:00:00Z");
        assert_eq!(fold(&l).status(), ConsentStatus::NeverSubscribed);
    }

    #[test]
    fn later_opt_out_beats_every_earlier_opt_in() {
        let mut l = Ledger::new(NY);
        l.verified_checkbox("2025-01-01T10:00:00Z");
        l.keyword("2025-01-02T10:00:00Z", OptInKeyword::Start);
        l.inferred("2025-01-03T10:00:00Z");
        let stop = l.stop("2025-01-04T10:00:00Z");
        let state = fold(&l);
        assert_eq!(state.status(), ConsentStatus::Unsubscribed);
        assert!(state.grants.is_empty());
        assert_eq!(state.withdrawal.unwrap().event_id, stop);
    }

    #[test]
    fn only_a_new_express_opt_in_restores_consent() {
        let mut l = Ledger::new(NY);
        l.inferred("2025-01-01T10:00:00Z");
        l.stop("2025-01-02T10:00:00Z");
        l.general("2025-01-03T10:00:00Z", true);
        l.inferred("2025-01-03T11:00:00Z");
        l.import_default("2025-01-03T12:00:00Z");
        l.purchase("2025-01-03T13:00:00Z", true);
        let state = fold(&l);
        assert_eq!(state.status(), ConsentStatus::Unsubscribed);
        assert_eq!(state.ignored_after_withdrawal.len(), 4);

        // START restores; UNSTOP and a verified checkbox would too.
        l.keyword("2025-01-04T10:00:00Z", OptInKeyword::Start);
        assert_eq!(bases(&fold(&l)), [Basis::Keyword]);
        // Weak consent after the re-subscription still does not count: the person once opted out.
        l.inferred("2025-01-05T10:00:00Z");
        assert_eq!(bases(&fold(&l)), [Basis::Keyword]);
    }

    #[test]
    fn erasure_behaves_like_an_opt_out() {
        let mut l = Ledger::new(NY);
        l.verified_checkbox("2025-01-01T10:00:00Z");
        l.erasure("2025-01-02T10:00:00Z");
        assert_eq!(fold(&l).status(), ConsentStatus::Unsubscribed);
        l.keyword("2025-01-03T10:00:00Z", OptInKeyword::Unstop);
        assert_eq!(fold(&l).status(), ConsentStatus::Subscribed);
    }

    #[test]
    fn unticked_checkbox_withdraws() {
        let mut l = Ledger::new(NY);
        l.verified_checkbox("2025-01-01T10:00:00Z");
        l.opt_out("2025-01-01T10:05:00Z", OptOutMethod::CheckboxUnticked);
        assert_eq!(fold(&l).status(), ConsentStatus::Unsubscribed);
    }

    #[test]
    fn an_opt_out_wins_a_tie() {
        let mut l = Ledger::new(NY);
        // Recorded in the "wrong" order at the same instant: the opt-out still applies last.
        l.stop("2025-01-01T10:00:00Z");
        l.keyword("2025-01-01T10:00:00Z", OptInKeyword::Start);
        assert_eq!(fold(&l).status(), ConsentStatus::Unsubscribed);
    }

    #[test]
    fn order_of_the_slice_does_not_matter() {
        let mut l = Ledger::new(NY);
        l.keyword("2025-01-01T10:00:00Z", OptInKeyword::Start);
        l.stop("2025-01-02T10:00:00Z");
        l.events.reverse();
        assert_eq!(fold(&l).status(), ConsentStatus::Unsubscribed);
    }

    #[test]
    fn general_marketing_opt_out_withdraws_only_non_sms_consent() {
        let mut l = Ledger::new(NY);
        l.general("2025-01-01T10:00:00Z", true);
        l.purchase("2025-01-01T11:00:00Z", false);
        l.keyword("2025-01-01T12:00:00Z", OptInKeyword::Start);
        let opt_out = l.general("2025-01-02T10:00:00Z", false);
        let state = fold(&l);
        assert_eq!(bases(&state), [Basis::Keyword]);
        assert_eq!(state.general_marketing_opt_out.unwrap().event_id, opt_out);
        // A "not subscribed" flag for someone who never was is not an opt-out.
        let mut never = Ledger::new(NY);
        never.general("2025-01-01T10:00:00Z", false);
        assert_eq!(fold(&never).status(), ConsentStatus::NeverSubscribed);
        // Without SMS consent the person shows as unsubscribed; a new general opt-in counts again.
        let mut l = Ledger::new(NY);
        l.general("2025-01-01T10:00:00Z", true);
        l.general("2025-01-02T10:00:00Z", false);
        assert_eq!(fold(&l).status(), ConsentStatus::Unsubscribed);
        l.general("2025-01-03T10:00:00Z", true);
        assert_eq!(bases(&fold(&l)), [Basis::GeneralMarketing]);
    }

    #[test]
    fn transactional_consent_never_authorises_marketing() {
        let mut l = Ledger::new(NY);
        l.push(
            t("2025-01-01T10:00:00Z"),
            Purpose::Transactional,
            ConsentEventKind::KeywordOptIn {
                keyword: OptInKeyword::Start,
                raw_text: "START".to_owned(),
                message_id: None,
            },
        );
        let marketing = fold(&l);
        assert_eq!(marketing.status(), ConsentStatus::NeverSubscribed);
        assert_eq!(marketing.other_purpose_consents, 1);
        let transactional = ConsentState::fold(&l.events, Purpose::Transactional);
        assert_eq!(transactional.status(), ConsentStatus::Subscribed);
    }

    #[test]
    fn an_opt_out_of_any_purpose_ends_marketing_consent() {
        let mut l = Ledger::new(NY);
        l.keyword("2025-01-01T10:00:00Z", OptInKeyword::Start);
        l.push(
            t("2025-01-02T10:00:00Z"),
            Purpose::Transactional,
            ConsentEventKind::OptOut(OptOutMethod::WebPage {
                ip: None,
                user_agent: None,
            }),
        );
        assert_eq!(fold(&l).status(), ConsentStatus::Unsubscribed);
    }

    #[test]
    fn purchases_give_implied_or_soft_opt_in() {
        let mut l = Ledger::new(NY);
        l.purchase("2025-01-01T10:00:00Z", false);
        l.purchase("2025-01-02T10:00:00Z", true);
        assert_eq!(bases(&fold(&l)), [Basis::ImpliedPurchase, Basis::SoftOptIn]);
    }

    #[test]
    fn basis_codes_match_serde() {
        for basis in Basis::ALL {
            assert_eq!(serde_json::to_string(&basis).unwrap(), format!("\"{}\"", basis.code()));
        }
    }
}
