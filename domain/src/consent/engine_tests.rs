//! Tests of [`decide`], one group per rule, named after it, plus the properties the issue asks for.

use super::*;
use crate::consent::hours::open_at;
use crate::consent::ledger::{OptInKeyword, OptOutMethod};
use crate::consent::region::RegionSource;
use crate::consent::testkit::*;
use crate::model::QuietHours;
use proptest::prelude::*;

fn decide_now(
    settings: &Settings,
    ledger: &Ledger,
    message: &MessageKind,
    sends: &[PastSend],
    recipient: &Recipient,
    now: &str,
) -> Decision {
    decide(&DecisionInput {
        settings,
        ledger: &ledger.events,
        message,
        sends,
        recipient,
        now: t(now),
    })
}

fn reminder(step: u8, abandoned_at: &str) -> MessageKind {
    MessageKind::CartReminder {
        cart_id: "cart-1".to_owned(),
        step,
        abandoned_at: t(abandoned_at),
    }
}

fn sent(at: &str, cart: &str, step: u8) -> PastSend {
    PastSend {
        sent_at: t(at),
        kind: SentKind::CartReminder {
            cart_id: cart.to_owned(),
            step,
        },
    }
}

#[track_caller]
fn assert_allow(decision: &Decision, event: &str) {
    match decision {
        Decision::Allow {
            ledger_event_id,
            settings_version,
            ..
        } => {
            assert_eq!(ledger_event_id.as_deref(), Some(event), "{decision:?}");
            assert_eq!(*settings_version, 7);
        }
        other => panic!("expected Allow by {event}, got {other:?}"),
    }
}

#[track_caller]
fn assert_deny(decision: &Decision, reason: Reason) {
    match decision {
        Decision::Deny { reason: r, explanation } => {
            assert_eq!(*r, reason, "{explanation}");
            assert_one_sentence(explanation);
        }
        other => panic!("expected Deny {reason:?}, got {other:?}"),
    }
}

#[track_caller]
fn assert_defer(decision: &Decision, until: &str, reason: Reason) {
    match decision {
        Decision::Defer {
            until: u,
            reason: r,
            explanation,
        } => {
            assert_eq!((*u, *r), (t(until), reason), "{explanation}");
            assert_one_sentence(explanation);
        }
        other => panic!("expected Defer {reason:?} until {until}, got {other:?}"),
    }
}

#[track_caller]
fn assert_one_sentence(explanation: &str) {
    assert!(explanation.ends_with('.'), "{explanation}");
    assert!(!explanation.contains('\n'), "{explanation}");
    assert!(explanation.len() > 20, "{explanation}");
}

/// A US ledger that satisfies every consent rule for cart reminders: checkbox, request, YES.
fn us_subscribed(e164: &str) -> (Ledger, String) {
    let mut l = Ledger::new(e164);
    let yes = l.double_opted_in("2025-01-01T15:00:00Z");
    (l, yes)
}

// Tuesday 2025-06-03, 12:00 in New York (EDT, UTC-4). A cart abandoned at 11:00 local, step 1 due 11:30.
const ABANDONED: &str = "2025-06-03T15:00:00Z";
const NOON_NY: &str = "2025-06-03T16:00:00Z";

// ---------------------------------------------------------------------------------------------------------
// Rule 1: opt-out wins
// ---------------------------------------------------------------------------------------------------------

#[test]
fn rule_1_opt_out_wins_over_earlier_consent() {
    let s = settings(ConsentOption::SmsCheckbox);
    let (mut l, _) = us_subscribed(NY);
    l.stop("2025-02-01T10:00:00Z");
    let d = decide_now(&s, &l, &reminder(1, ABANDONED), &[], &recipient(NY), NOON_NY);
    assert_deny(&d, Reason::OptedOut);
    assert!(d.explanation().contains("replied \"STOP\""), "{}", d.explanation());
}

#[test]
fn rule_1_erasure_behaves_like_an_opt_out() {
    let s = settings(ConsentOption::SmsCheckbox);
    let (mut l, _) = us_subscribed(NY);
    l.erasure("2025-02-01T10:00:00Z");
    let d = decide_now(&s, &l, &reminder(1, ABANDONED), &[], &recipient(NY), NOON_NY);
    assert_deny(&d, Reason::Erased);
}

#[test]
fn rule_1_every_opt_out_method_withdraws() {
    let s = settings(ConsentOption::SmsCheckbox);
    for method in [
        OptOutMethod::WebPage {
            ip: None,
            user_agent: None,
        },
        OptOutMethod::Merchant {
            user_email: "owner@acme.example".to_owned(),
        },
        OptOutMethod::ProviderReported {
            provider: "twilio".to_owned(),
            code: "21610".to_owned(),
        },
        OptOutMethod::CheckboxUnticked,
    ] {
        let (mut l, _) = us_subscribed(NY);
        l.opt_out("2025-02-01T10:00:00Z", method);
        let d = decide_now(&s, &l, &reminder(1, ABANDONED), &[], &recipient(NY), NOON_NY);
        assert_deny(&d, Reason::OptedOut);
    }
}

#[test]
fn rule_1_only_a_new_express_opt_in_restores_consent() {
    let s = settings(ConsentOption::Inferred);
    let r = recipient(NZ);
    let at_noon_nz = "2025-06-03T00:00:00Z";
    let abandoned = "2025-06-02T23:00:00Z";
    let mut l = Ledger::new(NZ);
    l.inferred("2025-01-01T00:00:00Z");
    l.stop("2025-02-01T00:00:00Z");
    l.inferred("2025-03-01T00:00:00Z");
    l.general("2025-03-02T00:00:00Z", true);
    let d = decide_now(&s, &l, &reminder(1, abandoned), &[], &r, at_noon_nz);
    assert_deny(&d, Reason::OptedOut);
    let start = l.keyword("2025-04-01T00:00:00Z", OptInKeyword::Start);
    let d = decide_now(&s, &l, &reminder(1, abandoned), &[], &r, at_noon_nz);
    assert_allow(&d, &start);
}

#[test]
fn rule_1_consent_dated_after_now_does_not_count_but_an_opt_out_does() {
    let s = settings(ConsentOption::Inferred);
    let mut l = Ledger::new(NZ);
    l.keyword("2025-06-03T00:01:00Z", OptInKeyword::Start);
    assert_deny(&nz_decision(&s, &l), Reason::NeverSubscribed);
    let mut l = Ledger::new(NZ);
    l.keyword("2025-01-01T00:00:00Z", OptInKeyword::Start);
    l.stop("2025-06-03T00:01:00Z");
    assert_deny(&nz_decision(&s, &l), Reason::OptedOut);
}

#[test]
fn rule_1_never_subscribed_and_unverified_checkbox_are_explained() {
    let s = settings(ConsentOption::SmsCheckbox);
    let l = Ledger::new(NY);
    let d = decide_now(&s, &l, &reminder(1, ABANDONED), &[], &recipient(NY), NOON_NY);
    assert_deny(&d, Reason::NeverSubscribed);

    let mut l = Ledger::new(NY);
    l.checkbox("2025-01-01T15:00:00Z");
    let d = decide_now(&s, &l, &reminder(1, ABANDONED), &[], &recipient(NY), NOON_NY);
    assert_deny(&d, Reason::CheckboxNotVerified);

    let mut l = Ledger::new(NY);
    let id = l.checkbox_with("2025-01-01T15:00:00Z", "text", "v", true);
    l.verify("2025-01-01T15:01:00Z", &id);
    let d = decide_now(&s, &l, &reminder(1, ABANDONED), &[], &recipient(NY), NOON_NY);
    assert_deny(&d, Reason::CheckboxPrechecked);
}

#[test]
fn rule_1_transactional_consent_never_authorises_marketing() {
    let s = settings(ConsentOption::Inferred);
    let mut l = Ledger::new(NZ);
    l.push(
        t("2025-01-01T00:00:00Z"),
        Purpose::Transactional,
        ConsentEventKind::KeywordOptIn {
            keyword: OptInKeyword::Start,
            raw_text: "START".to_owned(),
            message_id: None,
        },
    );
    let d = decide_now(
        &s,
        &l,
        &reminder(1, "2025-06-02T23:00:00Z"),
        &[],
        &recipient(NZ),
        "2025-06-03T00:00:00Z",
    );
    assert_deny(&d, Reason::TransactionalConsentOnly);
}

// ---------------------------------------------------------------------------------------------------------
// Rule 2: the merchant's option (tested in New Zealand, where the option alone decides)
// ---------------------------------------------------------------------------------------------------------

const NZ_NOON: &str = "2025-06-03T00:00:00Z";
const NZ_ABANDONED: &str = "2025-06-02T23:00:00Z";

fn nz_decision(s: &Settings, l: &Ledger) -> Decision {
    decide_now(s, l, &reminder(1, NZ_ABANDONED), &[], &recipient(NZ), NZ_NOON)
}

#[test]
fn rule_2_sms_checkbox_option_accepts_sms_consent_and_the_import_default() {
    let s = settings(ConsentOption::SmsCheckbox);
    let mut l = Ledger::new(NZ);
    l.inferred("2025-01-01T00:00:00Z");
    l.general("2025-01-02T00:00:00Z", true);
    l.purchase("2025-01-03T00:00:00Z", true);
    assert_deny(&nz_decision(&s, &l), Reason::ConsentOptionNotMet);
    let import = l.import_default("2025-01-04T00:00:00Z");
    assert_allow(&nz_decision(&s, &l), &import);
    let keyword = l.keyword("2025-01-05T00:00:00Z", OptInKeyword::Start);
    assert_allow(&nz_decision(&s, &l), &keyword);
}

#[test]
fn rule_2_general_marketing_option_accepts_bigcommerce_opt_in_or_sms_consent() {
    let mut s = settings(ConsentOption::GeneralMarketing);
    let mut l = Ledger::new(NZ);
    l.inferred("2025-01-01T00:00:00Z");
    l.import_default("2025-01-02T00:00:00Z");
    assert_deny(&nz_decision(&s, &l), Reason::ConsentOptionNotMet);
    let general = l.general("2025-01-03T00:00:00Z", true);
    assert_allow(&nz_decision(&s, &l), &general);
    // Unless the merchant never confirmed BigCommerce's "Require Consent".
    s.require_consent_confirmed = false;
    let d = nz_decision(&s, &l);
    assert_deny(&d, Reason::ConsentOptionNotMet);
    assert!(d.explanation().contains("Require Consent"));
    let checkbox = l.verified_checkbox("2025-01-04T00:00:00Z");
    assert_allow(&nz_decision(&s, &l), &checkbox);
}

#[test]
fn rule_2_inferred_option_accepts_any_consent_once_acknowledged() {
    let mut s = settings(ConsentOption::Inferred);
    let mut l = Ledger::new(NZ);
    let inferred = l.inferred("2025-01-01T00:00:00Z");
    assert_allow(&nz_decision(&s, &l), &inferred);
    s.inferred_acknowledged = false;
    assert_deny(&nz_decision(&s, &l), Reason::ConsentOptionNotMet);
    s.inferred_acknowledged = true;
    let mut l = Ledger::new(NZ);
    let purchase = l.purchase("2025-01-01T00:00:00Z", false);
    assert_allow(&nz_decision(&s, &l), &purchase);
}

#[test]
fn rule_2_prefers_the_strongest_consent() {
    let s = settings(ConsentOption::Inferred);
    let mut l = Ledger::new(NZ);
    let keyword = l.keyword("2025-01-01T00:00:00Z", OptInKeyword::Start);
    l.inferred("2025-02-01T00:00:00Z");
    match nz_decision(&s, &l) {
        Decision::Allow {
            ledger_event_id, basis, ..
        } => {
            assert_eq!(ledger_event_id, Some(keyword));
            assert_eq!(basis, Some(Basis::Keyword));
        }
        other => panic!("{other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------------------
// Rule 3: the regional floor
// ---------------------------------------------------------------------------------------------------------

#[test]
fn rule_3_us_needs_express_written_consent() {
    let s = settings(ConsentOption::Inferred);
    for build in [
        Ledger::inferred as fn(&mut Ledger, &str) -> String,
        |l: &mut Ledger, at: &str| l.general(at, true),
        Ledger::import_default,
        |l: &mut Ledger, at: &str| l.purchase(at, true),
    ] {
        let mut l = Ledger::new(NY);
        build(&mut l, "2025-01-01T15:00:00Z");
        let d = decide_now(&s, &l, &reminder(1, ABANDONED), &[], &recipient(NY), NOON_NY);
        assert_deny(&d, Reason::RegionalFloorNotMet);
        assert!(d.explanation().contains("the United States"));
    }
}

#[test]
fn rule_3_us_import_default_never_authorises_even_under_sms_option() {
    let s = settings(ConsentOption::SmsCheckbox);
    let mut l = Ledger::new(NY);
    l.import_default("2025-01-01T15:00:00Z");
    let d = decide_now(&s, &l, &reminder(1, ABANDONED), &[], &recipient(NY), NOON_NY);
    assert_deny(&d, Reason::RegionalFloorNotMet);
}

#[test]
fn rule_3_us_cart_reminders_need_a_confirmed_double_opt_in() {
    let mut s = settings(ConsentOption::SmsCheckbox);
    assert!(s.us_double_opt_in, "on by default");
    let mut l = Ledger::new(NY);
    let checkbox = l.verified_checkbox("2025-01-01T15:00:00Z");
    let d = decide_now(&s, &l, &reminder(1, ABANDONED), &[], &recipient(NY), NOON_NY);
    assert_deny(&d, Reason::DoubleOptInRequired);

    l.doi_request("2025-01-01T15:01:00Z");
    let d = decide_now(&s, &l, &reminder(1, ABANDONED), &[], &recipient(NY), NOON_NY);
    assert_deny(&d, Reason::DoubleOptInPending);

    let yes = l.doi_yes("2025-01-01T15:05:00Z");
    let d = decide_now(&s, &l, &reminder(1, ABANDONED), &[], &recipient(NY), NOON_NY);
    assert_allow(&d, &yes);

    // With the setting off, the verified checkbox itself is enough.
    s.us_double_opt_in = false;
    let mut l = Ledger::new(NY);
    let checkbox_only = l.verified_checkbox("2025-01-01T15:00:00Z");
    let d = decide_now(&s, &l, &reminder(1, ABANDONED), &[], &recipient(NY), NOON_NY);
    assert_allow(&d, &checkbox_only);
    assert_eq!(checkbox, "e1");
}

#[test]
fn rule_3_us_double_opt_in_request_must_name_the_brand_and_cart_reminders() {
    let s = settings(ConsentOption::SmsCheckbox);
    let full = double_opt_in_request(&s);
    for (text, expected) in [
        ("Acme: reply YES to get marketing texts.".to_owned(), "cart reminders"),
        ("Reply YES for shopping cart reminders.".to_owned(), "the brand name"),
        (String::new(), "the brand name"),
        // Brand and cart reminders are not enough: the YES is written consent, so the full disclosure.
        (
            "Acme: reply YES to get recurring automated marketing texts incl. cart reminders. Reply HELP for help, STOP to cancel.".to_owned(),
            "that consent is not a condition of purchase",
        ),
        (full.replace(" Terms: https://acme.example/terms", ""), "a link to the Terms"),
        (full.replace(" Privacy: https://acme.example/privacy", ""), "a link to the Privacy Policy"),
        (full.replace("Msg frequency varies. ", ""), "the message frequency"),
        (full.replace("Msg & data rates may apply. ", ""), "Msg & data rates"),
    ] {
        let mut l = Ledger::new(NY);
        l.verified_checkbox("2025-01-01T15:00:00Z");
        l.push(
            t("2025-01-01T15:01:00Z"),
            Purpose::Marketing,
            ConsentEventKind::DoubleOptInRequested {
                message_id: None,
                text: text.clone(),
            },
        );
        l.doi_yes("2025-01-01T15:02:00Z");
        let d = decide_now(&s, &l, &reminder(1, ABANDONED), &[], &recipient(NY), NOON_NY);
        assert_deny(&d, Reason::DisclosureIncomplete);
        assert!(d.explanation().contains(expected), "{}", d.explanation());
    }
}

#[test]
fn rule_3_us_keyword_alone_is_not_express_written_consent() {
    for doi in [false, true] {
        let mut s = settings(ConsentOption::SmsCheckbox);
        s.us_double_opt_in = doi;
        // START out of the blue, or YES to a request never sent.
        for keyword in [OptInKeyword::Start, OptInKeyword::Unstop, OptInKeyword::Yes] {
            let mut l = Ledger::new(NY);
            l.keyword("2025-01-01T15:00:00Z", keyword);
            let d = decide_now(&s, &l, &reminder(1, ABANDONED), &[], &recipient(NY), NOON_NY);
            assert_deny(&d, Reason::KeywordNotWrittenConsent);
            assert!(d.explanation().contains(keyword.as_str()), "{}", d.explanation());
            assert!(
                d.explanation().contains("not express written consent"),
                "{}",
                d.explanation()
            );
        }
        // Nor after a checkbox whose disclosure was incomplete: that was never written consent either.
        let mut l = Ledger::new(NY);
        let text = build_disclosure_text().replace("Consent is not a condition of purchase. ", "");
        let checkbox = l.checkbox_with("2025-01-01T15:00:00Z", &text, &disclosure_version(&text), false);
        l.verify("2025-01-01T15:00:00Z", &checkbox);
        l.stop("2025-01-02T15:00:00Z");
        l.keyword("2025-01-03T15:00:00Z", OptInKeyword::Start);
        let d = decide_now(&s, &l, &reminder(1, ABANDONED), &[], &recipient(NY), NOON_NY);
        assert_deny(&d, Reason::KeywordNotWrittenConsent);
        // While the double opt-in request it started waits for YES, the decision says so.
        l.doi_request("2025-01-03T15:01:00Z");
        let d = decide_now(&s, &l, &reminder(1, ABANDONED), &[], &recipient(NY), NOON_NY);
        assert_deny(&d, Reason::DoubleOptInPending);
        assert!(d.explanation().contains("keyword alone"), "{}", d.explanation());
    }
}

#[test]
fn rule_3_us_keyword_restores_written_consent_given_before() {
    let mut s = settings(ConsentOption::SmsCheckbox);
    s.us_double_opt_in = false;
    // A verified checkbox, STOP, START: the START restores the written consent.
    let mut l = Ledger::new(NY);
    l.verified_checkbox("2025-01-01T15:00:00Z");
    l.stop("2025-01-02T15:00:00Z");
    let start = l.keyword("2025-01-03T15:00:00Z", OptInKeyword::Start);
    let d = decide_now(&s, &l, &reminder(1, ABANDONED), &[], &recipient(NY), NOON_NY);
    assert_allow(&d, &start);
    // A confirmed double opt-in, STOP, UNSTOP: restored too.
    let mut l = Ledger::new(NY);
    l.keyword("2025-01-01T15:00:00Z", OptInKeyword::Start);
    l.doi_request("2025-01-01T15:01:00Z");
    l.doi_yes("2025-01-01T15:02:00Z");
    l.stop("2025-01-02T15:00:00Z");
    let unstop = l.keyword("2025-01-03T15:00:00Z", OptInKeyword::Unstop);
    let d = decide_now(&s, &l, &reminder(1, ABANDONED), &[], &recipient(NY), NOON_NY);
    assert_allow(&d, &unstop);
    // Cart reminders with the double opt-in on: START out of the blue starts one, and its YES authorises.
    s.us_double_opt_in = true;
    let mut l = Ledger::new(NY);
    l.keyword("2025-01-01T15:00:00Z", OptInKeyword::Start);
    assert_allow(
        &decide_now(&s, &l, &MessageKind::DoubleOptInRequest, &[], &recipient(NY), NOON_NY),
        "e1",
    );
    l.doi_request("2025-01-01T15:01:00Z");
    let yes = l.doi_yes("2025-01-01T15:02:00Z");
    let d = decide_now(&s, &l, &reminder(1, ABANDONED), &[], &recipient(NY), NOON_NY);
    assert_allow(&d, &yes);
    // Outside the US a keyword is express consent on its own.
    let mut l = Ledger::new(UK);
    let start = l.keyword("2025-01-01T15:00:00Z", OptInKeyword::Start);
    assert_allow(
        &decide_now(&s, &l, &reminder(1, LONDON_ABANDONED), &[], &recipient(UK), LONDON_NOON),
        &start,
    );
}

#[test]
fn rule_3_checkbox_needs_a_complete_disclosure_matching_its_version() {
    let mut s = settings(ConsentOption::SmsCheckbox);
    s.us_double_opt_in = false;
    let good = build_disclosure_text();
    let incomplete = good.replace("Msg & data rates may apply. ", "");
    let cases = [
        (incomplete.clone(), disclosure_version(&incomplete), "Msg & data rates"),
        (good.clone(), "0000000000000000".to_owned(), "does not match"),
    ];
    for (text, version, expected) in cases {
        let mut l = Ledger::new(NY);
        let id = l.checkbox_with("2025-01-01T15:00:00Z", &text, &version, false);
        l.verify("2025-01-01T15:01:00Z", &id);
        let d = decide_now(&s, &l, &reminder(1, ABANDONED), &[], &recipient(NY), NOON_NY);
        assert_deny(&d, Reason::DisclosureIncomplete);
        assert!(d.explanation().contains(expected), "{}", d.explanation());
    }
    // A disclosure that names another brand is not consent to this seller's texts.
    s.brand_name = "Zenith".to_owned();
    let mut l = Ledger::new(NY);
    l.verified_checkbox("2025-01-01T15:00:00Z");
    let d = decide_now(&s, &l, &reminder(1, ABANDONED), &[], &recipient(NY), NOON_NY);
    assert_deny(&d, Reason::DisclosureIncomplete);
}

fn build_disclosure_text() -> String {
    crate::consent::disclosure::build_disclosure(BRAND, "https://acme.example/terms", "https://acme.example/privacy")
        .unwrap()
        .text
}

// Toronto, Tuesday 2025-06-03 12:00 EDT.
const CA_NOON: &str = "2025-06-03T16:00:00Z";

#[test]
fn rule_3_canada_express_or_purchase_within_two_years() {
    let s = settings(ConsentOption::Inferred);
    let r = recipient(CA);
    assert_eq!(r.market, Market::Canada);
    let mut l = Ledger::new(CA);
    l.inferred("2025-01-01T00:00:00Z");
    l.general("2025-01-01T00:00:00Z", true);
    assert_deny(
        &decide_now(&s, &l, &reminder(1, ABANDONED), &[], &r, CA_NOON),
        Reason::RegionalFloorNotMet,
    );
    let purchase = l.purchase("2024-06-10T00:00:00Z", false);
    assert_allow(
        &decide_now(&s, &l, &reminder(1, ABANDONED), &[], &r, CA_NOON),
        &purchase,
    );

    let mut old = Ledger::new(CA);
    old.purchase("2023-06-01T00:00:00Z", false);
    assert_deny(
        &decide_now(&s, &old, &reminder(1, ABANDONED), &[], &r, CA_NOON),
        Reason::ImpliedConsentExpired,
    );
    // Express consent never lapses, and Canada needs no double opt-in.
    let checkbox = old.verified_checkbox("2025-01-01T00:00:00Z");
    assert_allow(
        &decide_now(&s, &old, &reminder(1, ABANDONED), &[], &r, CA_NOON),
        &checkbox,
    );
}

#[test]
fn rule_3_canada_implied_consent_lapsing_before_the_window_opens_is_denied() {
    let s = settings(ConsentOption::Inferred);
    let r = recipient(CA);
    // 02:00 EDT on 2025-06-03; the purchase's 730 days end at 05:00 EDT, before the 08:00 opening.
    let mut l = Ledger::new(CA);
    l.purchase("2023-06-04T09:00:00Z", false);
    let d = decide_now(
        &s,
        &l,
        &reminder(1, "2025-06-03T05:00:00Z"),
        &[],
        &r,
        "2025-06-03T06:00:00Z",
    );
    assert_deny(&d, Reason::ImpliedConsentExpired);
    // A newer purchase lasts longer and is preferred.
    let newer = l.purchase("2024-01-01T00:00:00Z", false);
    let d = decide_now(
        &s,
        &l,
        &reminder(1, "2025-06-03T05:00:00Z"),
        &[],
        &r,
        "2025-06-03T06:00:00Z",
    );
    assert_defer(&d, "2025-06-03T12:00:00Z", Reason::QuietHours);
    let d = decide_now(
        &s,
        &l,
        &reminder(1, "2025-06-03T05:00:00Z"),
        &[],
        &r,
        "2025-06-03T12:00:00Z",
    );
    assert_allow(&d, &newer);
}

// Melbourne, Tuesday 2025-06-03 12:00 AEST (UTC+10).
const MEL_NOON: &str = "2025-06-03T02:00:00Z";
const MEL_ABANDONED: &str = "2025-06-03T01:00:00Z";

fn melbourne() -> Recipient {
    let r = recipient_in(AU, "AU", "Victoria");
    assert_eq!(r.zones, [chrono_tz::Tz::Australia__Melbourne]);
    r
}

#[test]
fn rule_3_australia_express_or_inferred() {
    let s = settings(ConsentOption::Inferred);
    let mut l = Ledger::new(AU);
    let inferred = l.inferred("2025-01-01T00:00:00Z");
    assert_allow(
        &decide_now(&s, &l, &reminder(1, MEL_ABANDONED), &[], &melbourne(), MEL_NOON),
        &inferred,
    );
}

#[test]
fn rule_3_australia_and_new_zealand_count_an_import_only_with_a_business_relationship() {
    let s = settings(ConsentOption::SmsCheckbox);
    // Auckland, Tuesday 2025-06-03 12:00 NZST.
    for (e164, r, abandoned, now) in [
        (AU, melbourne(), MEL_ABANDONED, MEL_NOON),
        (NZ, recipient(NZ), NZ_ABANDONED, NZ_NOON),
    ] {
        let decision = |l: &Ledger| decide_now(&s, l, &reminder(1, abandoned), &[], &r, now);
        let mut l = Ledger::new(e164);
        let import = l.import_default("2025-01-01T00:00:00Z");
        let d = decision(&l);
        assert_deny(&d, Reason::ImportWithoutBusinessRelationship);
        assert!(d.explanation().contains("purchase"), "{}", d.explanation());
        // A purchase more than 2 years ago is no reasonable expectation of texts today.
        l.purchase("2023-05-01T00:00:00Z", false);
        assert_deny(&decision(&l), Reason::ImportWithoutBusinessRelationship);
        // A recent purchase: the existing business relationship the inference rests on.
        l.purchase("2025-03-01T00:00:00Z", false);
        assert_allow(&decision(&l), &import);
        // A later BigCommerce marketing opt-out withdraws both.
        l.general("2025-04-01T00:00:00Z", false);
        assert_deny(&decision(&l), Reason::OptedOut);
    }
    // Express consent needs no purchase.
    let mut l = Ledger::new(AU);
    l.import_default("2025-01-01T00:00:00Z");
    let start = l.keyword("2025-02-01T00:00:00Z", OptInKeyword::Start);
    assert_allow(
        &decide_now(&s, &l, &reminder(1, MEL_ABANDONED), &[], &melbourne(), MEL_NOON),
        &start,
    );
}

#[test]
fn canada_and_australia_need_the_senders_contact_details() {
    let mut s = settings(ConsentOption::SmsCheckbox);
    s.mailing_address = None;
    let mut ca = Ledger::new(CA);
    ca.verified_checkbox("2025-01-01T00:00:00Z");
    let d = decide_now(&s, &ca, &reminder(1, ABANDONED), &[], &recipient(CA), CA_NOON);
    assert_deny(&d, Reason::SenderContactMissing);
    assert!(d.explanation().contains("mailing address"), "{}", d.explanation());
    // Australia asks for contact details: the help contact is enough, until it is missing too.
    let mut au = Ledger::new(AU);
    let checkbox = au.verified_checkbox("2025-01-01T00:00:00Z");
    let au_decision = |s: &Settings| decide_now(s, &au, &reminder(1, MEL_ABANDONED), &[], &melbourne(), MEL_NOON);
    assert_allow(&au_decision(&s), &checkbox);
    s.help_contact = String::new();
    assert_deny(&au_decision(&s), Reason::SenderContactMissing);
    // Elsewhere no contact details are needed.
    let mut uk = Ledger::new(UK);
    let uk_checkbox = uk.verified_checkbox("2025-01-01T00:00:00Z");
    assert_allow(
        &decide_now(
            &s,
            &uk,
            &reminder(1, LONDON_ABANDONED),
            &[],
            &recipient(UK),
            LONDON_NOON,
        ),
        &uk_checkbox,
    );
    s.help_contact = "help@acme.example".to_owned();
    s.mailing_address = Some("1 Main St, Toronto ON".to_owned());
    assert_allow(
        &decide_now(&s, &ca, &reminder(1, ABANDONED), &[], &recipient(CA), CA_NOON),
        "e1",
    );
}

// London, Tuesday 2025-06-03 12:00 BST.
const LONDON_NOON: &str = "2025-06-03T11:00:00Z";
const LONDON_ABANDONED: &str = "2025-06-03T10:00:00Z";

#[test]
fn rule_3_uk_sms_specific_consent_or_soft_opt_in() {
    let s = settings(ConsentOption::Inferred);
    let r = recipient(UK);
    assert_eq!(r.market, Market::UnitedKingdom);
    let decision = |l: &Ledger| decide_now(&s, l, &reminder(1, LONDON_ABANDONED), &[], &r, LONDON_NOON);
    let mut l = Ledger::new(UK);
    l.general("2025-01-01T00:00:00Z", true);
    l.inferred("2025-01-01T00:00:00Z");
    l.purchase("2025-01-02T00:00:00Z", false);
    assert_deny(&decision(&l), Reason::RegionalFloorNotMet);
    let soft = l.purchase("2025-01-03T00:00:00Z", true);
    match decision(&l) {
        Decision::Allow {
            ledger_event_id, basis, ..
        } => {
            assert_eq!(ledger_event_id, Some(soft));
            assert_eq!(basis, Some(Basis::SoftOptIn));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn rule_3_eea_sms_specific_express_only() {
    let s = settings(ConsentOption::Inferred);
    let r = recipient(DE);
    assert_eq!(r.market, Market::Eea);
    // Berlin, 12:00 CEST.
    let decision = |l: &Ledger| {
        decide_now(
            &s,
            l,
            &reminder(1, "2025-06-03T09:00:00Z"),
            &[],
            &r,
            "2025-06-03T10:00:00Z",
        )
    };
    let mut l = Ledger::new(DE);
    l.purchase("2025-01-01T00:00:00Z", true);
    l.inferred("2025-01-01T00:00:00Z");
    l.general("2025-01-01T00:00:00Z", true);
    assert_deny(&decision(&l), Reason::RegionalFloorNotMet);
    let checkbox = l.verified_checkbox("2025-01-02T00:00:00Z");
    assert_allow(&decision(&l), &checkbox);
}

#[test]
fn rule_3_elsewhere_the_merchant_option_decides() {
    let s = settings(ConsentOption::Inferred);
    let mut l = Ledger::new(NZ);
    let inferred = l.inferred("2025-01-01T00:00:00Z");
    assert_allow(&nz_decision(&s, &l), &inferred);
}

#[test]
fn rule_3_unknown_country_gets_us_rules() {
    let s = settings(ConsentOption::Inferred);
    let mut r = recipient(NY);
    r.market = Market::Unknown;
    r.country = None;
    let mut l = Ledger::new(NY);
    l.inferred("2025-01-01T00:00:00Z");
    assert_deny(
        &decide_now(&s, &l, &reminder(1, ABANDONED), &[], &r, NOON_NY),
        Reason::RegionalFloorNotMet,
    );
    l.verified_checkbox("2025-01-02T00:00:00Z");
    assert_deny(
        &decide_now(&s, &l, &reminder(1, ABANDONED), &[], &r, NOON_NY),
        Reason::DoubleOptInRequired,
    );
}

// ---------------------------------------------------------------------------------------------------------
// Rule 4: quiet hours
// ---------------------------------------------------------------------------------------------------------

#[test]
fn rule_4_federal_window_defers_to_0800_local() {
    let s = settings(ConsentOption::SmsCheckbox);
    let (l, yes) = us_subscribed(NY);
    // 07:00 EDT.
    let d = decide_now(
        &s,
        &l,
        &reminder(1, "2025-06-03T10:00:00Z"),
        &[],
        &recipient(NY),
        "2025-06-03T11:00:00Z",
    );
    assert_defer(&d, "2025-06-03T12:00:00Z", Reason::QuietHours);
    assert!(d.explanation().contains("America/New_York"), "{}", d.explanation());
    // 20:30 EDT is fine in New York, 21:00 is not.
    let d = decide_now(
        &s,
        &l,
        &reminder(1, "2025-06-03T23:00:00Z"),
        &[],
        &recipient(NY),
        "2025-06-04T00:30:00Z",
    );
    assert_allow(&d, &yes);
    let d = decide_now(
        &s,
        &l,
        &reminder(1, "2025-06-03T23:00:00Z"),
        &[],
        &recipient(NY),
        "2025-06-04T01:00:00Z",
    );
    assert_defer(&d, "2025-06-04T12:00:00Z", Reason::QuietHours);
}

#[test]
fn rule_4_florida_oklahoma_maryland_washington_end_at_2000() {
    let s = settings(ConsentOption::SmsCheckbox);
    let (l, _) = us_subscribed(FL);
    // 20:30 EDT in Miami.
    let d = decide_now(
        &s,
        &l,
        &reminder(1, "2025-06-03T23:00:00Z"),
        &[],
        &recipient(FL),
        "2025-06-04T00:30:00Z",
    );
    assert_defer(&d, "2025-06-04T12:00:00Z", Reason::QuietHours);
    assert!(d.explanation().contains("Florida"), "{}", d.explanation());
    for (e164, zone_offset_hours) in [("+14055550123", 5), ("+14105550123", 4), ("+12065550123", 7)] {
        // OK (Central), MD (Eastern), WA (Pacific): 20:30 local on 2025-06-03.
        let (l, _) = us_subscribed(e164);
        let now = t("2025-06-03T20:30:00Z") + Duration::hours(zone_offset_hours);
        let abandoned = now - Duration::hours(1);
        let d = decide(&DecisionInput {
            settings: &s,
            ledger: &l.events,
            message: &MessageKind::CartReminder {
                cart_id: "c".to_owned(),
                step: 1,
                abandoned_at: abandoned,
            },
            sends: &[],
            recipient: &recipient(e164),
            now,
        });
        assert_eq!(d.code(), "quiet_hours", "{e164}: {d:?}");
    }
}

#[test]
fn rule_4_connecticut_starts_at_0900() {
    let s = settings(ConsentOption::SmsCheckbox);
    let (l, _) = us_subscribed(CT);
    // 08:30 EDT.
    let d = decide_now(
        &s,
        &l,
        &reminder(1, "2025-06-03T11:00:00Z"),
        &[],
        &recipient(CT),
        "2025-06-03T12:30:00Z",
    );
    assert_defer(&d, "2025-06-03T13:00:00Z", Reason::QuietHours);
    // 20:00 EDT closes.
    let d = decide_now(
        &s,
        &l,
        &reminder(1, "2025-06-03T23:00:00Z"),
        &[],
        &recipient(CT),
        "2025-06-04T00:00:00Z",
    );
    assert_defer(&d, "2025-06-04T13:00:00Z", Reason::QuietHours);
}

#[test]
fn rule_4_texas_sunday_from_noon() {
    let s = settings(ConsentOption::SmsCheckbox);
    let (l, yes) = us_subscribed(TX);
    // Sunday 2025-06-08 10:00 CDT → noon CDT.
    let d = decide_now(
        &s,
        &l,
        &reminder(1, "2025-06-08T14:00:00Z"),
        &[],
        &recipient(TX),
        "2025-06-08T15:00:00Z",
    );
    assert_defer(&d, "2025-06-08T17:00:00Z", Reason::QuietHours);
    // Saturday 10:00 CDT is open.
    let d = decide_now(
        &s,
        &l,
        &reminder(1, "2025-06-07T14:00:00Z"),
        &[],
        &recipient(TX),
        "2025-06-07T15:00:00Z",
    );
    assert_allow(&d, &yes);
    // 08:30 on a weekday waits for 09:00.
    let d = decide_now(
        &s,
        &l,
        &reminder(1, "2025-06-03T12:00:00Z"),
        &[],
        &recipient(TX),
        "2025-06-03T13:30:00Z",
    );
    assert_defer(&d, "2025-06-03T14:00:00Z", Reason::QuietHours);
}

fn unknown_state_recipient() -> Recipient {
    let mut r = recipient(NY);
    r.subdivisions.clear();
    r.subdivision_source = RegionSource::Unknown;
    r
}

#[test]
fn rule_4_unknown_us_state_is_most_restrictive() {
    let s = settings(ConsentOption::SmsCheckbox);
    let (l, yes) = us_subscribed(NY);
    let r = unknown_state_recipient();
    // Sunday 11:00 EDT → noon.
    let d = decide_now(
        &s,
        &l,
        &reminder(1, "2025-06-08T14:00:00Z"),
        &[],
        &r,
        "2025-06-08T15:00:00Z",
    );
    assert_defer(&d, "2025-06-08T16:00:00Z", Reason::QuietHours);
    // Weekday 08:30 → 10:00 (Kentucky); 20:00 → next day 10:00.
    let d = decide_now(
        &s,
        &l,
        &reminder(1, "2025-06-03T12:00:00Z"),
        &[],
        &r,
        "2025-06-03T12:30:00Z",
    );
    assert_defer(&d, "2025-06-03T14:00:00Z", Reason::QuietHours);
    let d = decide_now(
        &s,
        &l,
        &reminder(1, "2025-06-03T23:00:00Z"),
        &[],
        &r,
        "2025-06-04T00:00:00Z",
    );
    assert_defer(&d, "2025-06-04T14:00:00Z", Reason::QuietHours);
    // 18:30 on a weekday is past Rhode Island's 18:00: the next morning at 10:00 (Kentucky's opening).
    let d = decide_now(
        &s,
        &l,
        &reminder(1, "2025-06-03T21:00:00Z"),
        &[],
        &r,
        "2025-06-03T22:30:00Z",
    );
    assert_defer(&d, "2025-06-04T14:00:00Z", Reason::QuietHours);
    let d = decide_now(
        &s,
        &l,
        &reminder(1, "2025-06-03T15:00:00Z"),
        &[],
        &r,
        "2025-06-03T16:00:00Z",
    );
    assert_allow(&d, &yes);
}

#[test]
fn rule_4_non_us_default_window_is_configurable_but_capped() {
    let mut s = settings(ConsentOption::Inferred);
    let mut l = Ledger::new(AU);
    let inferred = l.inferred("2025-01-01T00:00:00Z");
    let r = melbourne();
    // Abandoned Tue 06:00 AEST (step 1 due 06:30) and Tue 18:00 AEST (due 18:30).
    let morning = "2025-06-02T20:00:00Z";
    let evening = "2025-06-03T08:00:00Z";
    // 07:00 AEST → 08:00; 20:00 → Wednesday 08:00.
    let at = |abandoned: &str, now: &str| decide_now(&s, &l, &reminder(1, abandoned), &[], &r, now);
    assert_defer(
        &at(morning, "2025-06-02T21:00:00Z"),
        "2025-06-02T22:00:00Z",
        Reason::QuietHours,
    );
    assert_defer(
        &at(evening, "2025-06-03T10:00:00Z"),
        "2025-06-03T22:00:00Z",
        Reason::QuietHours,
    );
    // The morning cart's step 1 expires Wednesday 06:30, before Wednesday's opening.
    assert_deny(&at(morning, "2025-06-03T10:00:00Z"), Reason::QuietHoursPastExpiry);
    // Narrower default: 09-17.
    s.default_send_window = QuietHours {
        start_hour: 9,
        end_hour: 17,
    };
    let at = |abandoned: &str, now: &str| decide_now(&s, &l, &reminder(1, abandoned), &[], &r, now);
    assert_defer(
        &at(morning, "2025-06-02T22:30:00Z"),
        "2025-06-02T23:00:00Z",
        Reason::QuietHours,
    );
    // A wider setting cannot pass 08:00-21:00.
    s.default_send_window = QuietHours {
        start_hour: 5,
        end_hour: 24,
    };
    let at = |abandoned: &str, now: &str| decide_now(&s, &l, &reminder(1, abandoned), &[], &r, now);
    assert_defer(
        &at(morning, "2025-06-02T21:00:00Z"),
        "2025-06-02T22:00:00Z",
        Reason::QuietHours,
    );
    assert_allow(&at(evening, "2025-06-03T10:30:00Z"), &inferred);
    assert_defer(
        &at(evening, "2025-06-03T11:00:00Z"),
        "2025-06-03T22:00:00Z",
        Reason::QuietHours,
    );
}

#[test]
fn rule_4_several_candidate_zones_must_all_be_open() {
    let s = settings(ConsentOption::SmsCheckbox);
    let panhandle = "+18505550123";
    let (l, _) = us_subscribed(panhandle);
    let r = recipient(panhandle);
    assert_eq!(r.zones.len(), 2);
    // 08:00 EDT is 07:00 CDT: wait for 08:00 CDT = 13:00Z.
    let d = decide_now(
        &s,
        &l,
        &reminder(1, "2025-06-03T11:00:00Z"),
        &[],
        &r,
        "2025-06-03T12:00:00Z",
    );
    assert_defer(&d, "2025-06-03T13:00:00Z", Reason::QuietHours);
    // 19:30 CDT is 20:30 EDT, past Florida's 20:00 in the eastern half.
    let d = decide_now(
        &s,
        &l,
        &reminder(1, "2025-06-03T23:00:00Z"),
        &[],
        &r,
        "2025-06-04T00:30:00Z",
    );
    assert_defer(&d, "2025-06-04T13:00:00Z", Reason::QuietHours);
}

#[test]
fn rule_4_merchant_narrowing_only_narrows() {
    let mut s = settings(ConsentOption::SmsCheckbox);
    let (l, yes) = us_subscribed(NY);
    s.quiet_hours = Some(QuietHours {
        start_hour: 10,
        end_hour: 18,
    });
    // 09:00 EDT → 10:00.
    let d = decide_now(
        &s,
        &l,
        &reminder(1, "2025-06-03T12:00:00Z"),
        &[],
        &recipient(NY),
        "2025-06-03T13:00:00Z",
    );
    assert_defer(&d, "2025-06-03T14:00:00Z", Reason::QuietHours);
    assert!(d.explanation().contains("merchant narrowing"));
    // A "narrowing" wider than the law changes nothing: 07:00 still waits for 08:00, 21:30 for tomorrow.
    s.quiet_hours = Some(QuietHours {
        start_hour: 0,
        end_hour: 24,
    });
    let d = decide_now(
        &s,
        &l,
        &reminder(1, "2025-06-03T10:00:00Z"),
        &[],
        &recipient(NY),
        "2025-06-03T11:00:00Z",
    );
    assert_defer(&d, "2025-06-03T12:00:00Z", Reason::QuietHours);
    let d = decide_now(
        &s,
        &l,
        &reminder(1, "2025-06-04T00:00:00Z"),
        &[],
        &recipient(NY),
        "2025-06-04T01:30:00Z",
    );
    assert_defer(&d, "2025-06-04T12:00:00Z", Reason::QuietHours);
    let d = decide_now(&s, &l, &reminder(1, ABANDONED), &[], &recipient(NY), NOON_NY);
    assert_allow(&d, &yes);
}

#[test]
fn rule_4_a_closed_window_is_denied() {
    let mut s = settings(ConsentOption::SmsCheckbox);
    let (l, _) = us_subscribed(NY);
    s.quiet_hours = Some(QuietHours {
        start_hour: 22,
        end_hour: 23,
    });
    let d = decide_now(&s, &l, &reminder(1, ABANDONED), &[], &recipient(NY), NOON_NY);
    assert_deny(&d, Reason::NoSendWindow);

    let s = settings(ConsentOption::Inferred);
    let mut l = Ledger::new(NZ);
    l.inferred("2025-01-01T00:00:00Z");
    let mut r = recipient(NZ);
    // Twelve hours apart in June: two 08:00-20:00 windows never overlap.
    r.zones = vec![chrono_tz::Tz::Asia__Shanghai, chrono_tz::Tz::America__New_York];
    assert_deny(&nz_decision_for(&s, &l, &r), Reason::NoSendWindow);
    r.zones.clear();
    assert_deny(&nz_decision_for(&s, &l, &r), Reason::TimeZoneUnknown);
}

fn nz_decision_for(s: &Settings, l: &Ledger, r: &Recipient) -> Decision {
    decide_now(s, l, &reminder(1, NZ_ABANDONED), &[], r, NZ_NOON)
}

#[test]
fn rule_4_opening_past_the_expiry_is_denied() {
    let s = settings(ConsentOption::SmsCheckbox);
    let (l, _) = us_subscribed(NY);
    // Abandoned 2025-06-01 03:30 EDT; the 48 hours end 2025-06-03 03:30 EDT; at 02:00 EDT the next
    // opening (08:00) is past them.
    let d = decide_now(
        &s,
        &l,
        &reminder(1, "2025-06-01T07:30:00Z"),
        &[],
        &recipient(NY),
        "2025-06-03T06:00:00Z",
    );
    assert_deny(&d, Reason::QuietHoursPastExpiry);
}

#[test]
fn rule_4_dst_spring_forward_new_york_defers_to_local_0800() {
    let s = settings(ConsentOption::SmsCheckbox);
    let (l, _) = us_subscribed(NY);
    // Saturday 2025-03-08 23:30 EST; clocks jump 02:00 → 03:00; 08:00 EDT Sunday is 12:00Z.
    let d = decide_now(
        &s,
        &l,
        &reminder(1, "2025-03-09T04:00:00Z"),
        &[],
        &recipient(NY),
        "2025-03-09T04:30:00Z",
    );
    assert_defer(&d, "2025-03-09T12:00:00Z", Reason::QuietHours);
    // In Connecticut the opening is 09:00 EDT, 13:00Z.
    let (l, _) = us_subscribed(CT);
    let d = decide_now(
        &s,
        &l,
        &reminder(1, "2025-03-09T04:00:00Z"),
        &[],
        &recipient(CT),
        "2025-03-09T04:30:00Z",
    );
    assert_defer(&d, "2025-03-09T13:00:00Z", Reason::QuietHours);
}

#[test]
fn rule_4_dst_spring_forward_sydney_clock_defers_to_local_0800() {
    let s = settings(ConsentOption::Inferred);
    let mut l = Ledger::new(AU);
    l.inferred("2025-01-01T00:00:00Z");
    // Saturday 2025-10-04 22:00 AEST; clocks jump 02:00 → 03:00; 08:00 AEDT Sunday is 21:00Z Saturday.
    let d = decide_now(
        &s,
        &l,
        &reminder(1, "2025-10-04T11:00:00Z"),
        &[],
        &melbourne(),
        "2025-10-04T12:00:00Z",
    );
    assert_defer(&d, "2025-10-04T21:00:00Z", Reason::QuietHours);
    let sydney = recipient_in(AU, "AU", "ACT");
    assert_eq!(sydney.zones, [chrono_tz::Tz::Australia__Sydney]);
    let d = decide_now(
        &s,
        &l,
        &reminder(1, "2025-10-04T11:00:00Z"),
        &[],
        &sydney,
        "2025-10-04T12:00:00Z",
    );
    assert_defer(&d, "2025-10-04T21:00:00Z", Reason::QuietHours);
}

// ---------------------------------------------------------------------------------------------------------
// Rule 5: frequency
// ---------------------------------------------------------------------------------------------------------

#[test]
fn rule_5_smart_sending_window_since_the_previous_marketing_text() {
    let s = settings(ConsentOption::Inferred);
    let mut l = Ledger::new(AU);
    let inferred = l.inferred("2025-01-01T00:00:00Z");
    let r = melbourne();
    // Abandoned Mon 10:00 AEST; step 1 sent at 15:00; step 2 due Tue 10:30 must wait for Tue 15:00.
    let abandoned = "2025-06-02T00:00:00Z";
    let sends = [sent("2025-06-02T05:00:00Z", "cart-1", 1)];
    let d = decide_now(&s, &l, &reminder(2, abandoned), &sends, &r, "2025-06-03T00:30:00Z");
    assert_defer(&d, "2025-06-03T05:00:00Z", Reason::SmartSendingWindow);
    assert!(d.explanation().contains("24 hours"), "{}", d.explanation());
    let d = decide_now(&s, &l, &reminder(2, abandoned), &sends, &r, "2025-06-03T05:00:00Z");
    assert_allow(&d, &inferred);
    // Transactional sends do not count.
    let help = [PastSend {
        sent_at: t("2025-06-03T00:00:00Z"),
        kind: SentKind::HelpReply,
    }];
    let d = decide_now(&s, &l, &reminder(1, abandoned), &help, &r, "2025-06-02T01:00:00Z");
    assert_allow(&d, &inferred);
}

#[test]
fn rule_5_smart_sending_hours_are_clamped_to_8_72() {
    let mut s = settings(ConsentOption::Inferred);
    let mut l = Ledger::new(AU);
    l.inferred("2025-01-01T00:00:00Z");
    let r = melbourne();
    let other_cart = [sent("2025-06-03T00:00:00Z", "cart-0", 1)];
    s.smart_sending_hours = 1;
    let d = decide_now(
        &s,
        &l,
        &reminder(1, "2025-06-03T00:00:00Z"),
        &other_cart,
        &r,
        "2025-06-03T02:00:00Z",
    );
    assert_defer(&d, "2025-06-03T08:00:00Z", Reason::SmartSendingWindow);
    s.smart_sending_hours = 500;
    let d = decide_now(
        &s,
        &l,
        &reminder(1, "2025-06-03T00:00:00Z"),
        &other_cart,
        &r,
        "2025-06-03T02:00:00Z",
    );
    // 72 hours would be past step 1's expiry (24 hours after it was due).
    assert_deny(&d, Reason::SmartSendingPastExpiry);
}

#[test]
fn rule_5_florida_caps_marketing_at_three_per_24_hours() {
    let mut s = settings(ConsentOption::SmsCheckbox);
    s.smart_sending_hours = 8;
    let sends = [
        sent("2025-06-02T17:00:00Z", "a", 1),
        sent("2025-06-03T01:00:00Z", "b", 1),
        sent("2025-06-03T07:00:00Z", "c", 1),
    ];
    // Noon EDT: smart sending (last + 8 h = 15:00Z) has passed; the third-latest send + 24 h is 17:00Z.
    let (l, _) = us_subscribed(FL);
    let d = decide_now(&s, &l, &reminder(1, ABANDONED), &sends, &recipient(FL), NOON_NY);
    assert_defer(&d, "2025-06-03T17:00:00Z", Reason::StateDailyCap);
    // New York has no such cap.
    let (l, yes) = us_subscribed(NY);
    let d = decide_now(&s, &l, &reminder(1, ABANDONED), &sends, &recipient(NY), NOON_NY);
    assert_allow(&d, &yes);
    // Oklahoma, Maryland and an unknown US state are capped too.
    for r in [
        recipient("+14055550123"),
        recipient("+14105550123"),
        unknown_state_recipient(),
    ] {
        let (l, _) = us_subscribed(r.phone.as_e164());
        let d = decide_now(&s, &l, &reminder(1, ABANDONED), &sends, &r, NOON_NY);
        assert_eq!(d.code(), "state_daily_cap", "{:?}", r.subdivisions);
    }
}

#[test]
fn rule_5_frequency_past_the_expiry_is_denied() {
    let s = settings(ConsentOption::SmsCheckbox);
    let (l, _) = us_subscribed(NY);
    // Abandoned 30 hours ago (expires in 18), a marketing text an hour ago (next in 23).
    let sends = [sent("2025-06-03T15:00:00Z", "other", 1)];
    let d = decide_now(
        &s,
        &l,
        &reminder(1, "2025-06-02T10:00:00Z"),
        &sends,
        &recipient(NY),
        NOON_NY,
    );
    assert_deny(&d, Reason::SmartSendingPastExpiry);
}

// ---------------------------------------------------------------------------------------------------------
// Rule 6: cart reminders
// ---------------------------------------------------------------------------------------------------------

#[test]
fn rule_6_us_and_canada_one_reminder_per_cart() {
    let s = settings(ConsentOption::SmsCheckbox);
    let (l, _) = us_subscribed(NY);
    let d = decide_now(&s, &l, &reminder(2, ABANDONED), &[], &recipient(NY), NOON_NY);
    assert_deny(&d, Reason::CartReminderLimit);
    let already = [sent("2025-06-03T15:30:00Z", "cart-1", 1)];
    let d = decide_now(&s, &l, &reminder(1, ABANDONED), &already, &recipient(NY), NOON_NY);
    assert_deny(&d, Reason::CartReminderLimit);

    let mut ca = Ledger::new(CA);
    ca.verified_checkbox("2025-01-01T00:00:00Z");
    let d = decide_now(&s, &ca, &reminder(2, ABANDONED), &[], &recipient(CA), CA_NOON);
    assert_deny(&d, Reason::CartReminderLimit);
}

#[test]
fn rule_6_us_reminder_within_48_hours_of_abandonment() {
    let s = settings(ConsentOption::SmsCheckbox);
    let (l, yes) = us_subscribed(NY);
    let d = decide_now(
        &s,
        &l,
        &reminder(1, "2025-06-01T16:00:00Z"),
        &[],
        &recipient(NY),
        NOON_NY,
    );
    assert_deny(&d, Reason::CartReminderExpired);
    let d = decide_now(
        &s,
        &l,
        &reminder(1, "2025-06-01T16:01:00Z"),
        &[],
        &recipient(NY),
        NOON_NY,
    );
    assert_allow(&d, &yes);
}

#[test]
fn rule_6_other_regions_up_to_the_configured_steps() {
    let mut s = settings(ConsentOption::Inferred);
    let mut l = Ledger::new(AU);
    let inferred = l.inferred("2025-01-01T00:00:00Z");
    let r = melbourne();
    // Abandoned Mon 2025-06-02 10:00 AEST: step 3 due Wed 10:30 AEST.
    let abandoned = "2025-06-02T00:00:00Z";
    let step3_due = "2025-06-04T00:30:00Z";
    assert_allow(
        &decide_now(&s, &l, &reminder(3, abandoned), &[], &r, step3_due),
        &inferred,
    );
    assert_deny(
        &decide_now(&s, &l, &reminder(4, abandoned), &[], &r, step3_due),
        Reason::CartReminderLimit,
    );
    s.reminders.max_steps = 2;
    assert_deny(
        &decide_now(&s, &l, &reminder(3, abandoned), &[], &r, step3_due),
        Reason::CartReminderLimit,
    );
    s.reminders.max_steps = 9;
    assert_deny(
        &decide_now(&s, &l, &reminder(4, abandoned), &[], &r, step3_due),
        Reason::CartReminderLimit,
    );
    s.reminders.max_steps = 3;
    let done = [sent("2025-06-04T00:30:00Z", "cart-1", 3)];
    assert_deny(
        &decide_now(&s, &l, &reminder(3, abandoned), &done, &r, "2025-06-04T03:00:00Z"),
        Reason::CartReminderLimit,
    );
    // A step that cannot go before the next falls due is stale.
    assert_deny(
        &decide_now(&s, &l, &reminder(1, abandoned), &[], &r, "2025-06-03T00:30:00Z"),
        Reason::CartReminderExpired,
    );
}

#[test]
fn rule_6_a_reminder_before_its_due_time_is_deferred() {
    let s = settings(ConsentOption::SmsCheckbox);
    let (l, _) = us_subscribed(NY);
    let d = decide_now(
        &s,
        &l,
        &reminder(1, "2025-06-03T15:50:00Z"),
        &[],
        &recipient(NY),
        NOON_NY,
    );
    assert_defer(&d, "2025-06-03T16:20:00Z", Reason::NotDueYet);
}

#[test]
fn rule_6_step_zero_is_invalid() {
    let s = settings(ConsentOption::SmsCheckbox);
    let (l, _) = us_subscribed(NY);
    let d = decide_now(&s, &l, &reminder(0, ABANDONED), &[], &recipient(NY), NOON_NY);
    assert_deny(&d, Reason::InvalidStep);
}

#[test]
fn rule_6_reminder_schedule_and_expiries() {
    let s = settings(ConsentOption::Inferred);
    let at = t("2025-06-02T00:00:00Z");
    let schedule = reminder_schedule(&s, Market::Australia, at);
    let hours = |h: i64, m: i64| at + Duration::hours(h) + Duration::minutes(m);
    assert_eq!(
        schedule,
        vec![
            StepTiming {
                step: 1,
                due: hours(0, 30),
                expires: hours(24, 30)
            },
            StepTiming {
                step: 2,
                due: hours(24, 30),
                expires: hours(48, 30)
            },
            StepTiming {
                step: 3,
                due: hours(48, 30),
                expires: hours(72, 30)
            },
        ]
    );
    let us = reminder_schedule(&s, Market::Us, at);
    assert_eq!(
        us,
        vec![StepTiming {
            step: 1,
            due: hours(0, 30),
            expires: hours(48, 0)
        }]
    );
    assert_eq!(reminder_schedule(&s, Market::Canada, at).len(), 1);
}

// ---------------------------------------------------------------------------------------------------------
// Transactional messages
// ---------------------------------------------------------------------------------------------------------

#[test]
fn transactional_opt_out_confirmation_once_right_after_the_opt_out() {
    let s = settings(ConsentOption::SmsCheckbox);
    let (mut l, _) = us_subscribed(NY);
    // STOP at 23:00 EDT: the confirmation goes at once, quiet hours do not apply.
    let stop = l.stop("2025-06-04T03:00:00Z");
    let confirm = MessageKind::OptOutConfirmation;
    let d = decide_now(&s, &l, &confirm, &[], &recipient(NY), "2025-06-04T03:00:30Z");
    assert_allow(&d, &stop);
    assert_eq!(d.code(), "allowed");
    let done = [PastSend {
        sent_at: t("2025-06-04T03:00:40Z"),
        kind: SentKind::OptOutConfirmation,
    }];
    assert_deny(
        &decide_now(&s, &l, &confirm, &done, &recipient(NY), "2025-06-04T03:01:00Z"),
        Reason::OptOutAlreadyConfirmed,
    );
    // The FCC's safe harbour: within 5 minutes of the provider's receipt, not a second later.
    assert_allow(
        &decide_now(&s, &l, &confirm, &[], &recipient(NY), "2025-06-04T03:05:00Z"),
        &stop,
    );
    let late = decide_now(&s, &l, &confirm, &[], &recipient(NY), "2025-06-04T03:05:01Z");
    assert_deny(&late, Reason::OptOutConfirmationTooLate);
    assert!(late.explanation().contains("opt-out itself is recorded"), "{late:?}");
    // Nothing to confirm: no opt-out, a merchant's opt-out, or already opted back in.
    let (fresh, _) = us_subscribed(NY);
    assert_deny(
        &decide_now(&s, &fresh, &confirm, &[], &recipient(NY), NOON_NY),
        Reason::NoOptOutToConfirm,
    );
    let (mut merchant, _) = us_subscribed(NY);
    merchant.opt_out(
        "2025-06-03T15:59:00Z",
        OptOutMethod::Merchant {
            user_email: "owner@acme.example".to_owned(),
        },
    );
    assert_deny(
        &decide_now(&s, &merchant, &confirm, &[], &recipient(NY), NOON_NY),
        Reason::NoOptOutToConfirm,
    );
    l.keyword("2025-06-04T03:00:20Z", OptInKeyword::Start);
    assert_deny(
        &decide_now(&s, &l, &confirm, &[], &recipient(NY), "2025-06-04T03:00:30Z"),
        Reason::NoOptOutToConfirm,
    );
}

#[test]
fn transactional_help_reply_needs_no_consent_and_survives_opt_out() {
    let s = settings(ConsentOption::SmsCheckbox);
    let mut l = Ledger::new(NY);
    l.stop("2025-06-01T00:00:00Z");
    let help = MessageKind::HelpReply;
    // 02:00 EDT, opted out: still answered.
    let d = decide_now(&s, &l, &help, &[], &recipient(NY), "2025-06-03T06:00:00Z");
    assert!(
        matches!(
            d,
            Decision::Allow {
                ledger_event_id: None,
                ..
            }
        ),
        "{d:?}"
    );
    // Answered every time (carrier audits repeat HELP)...
    let help_at = |minute: u32| PastSend {
        sent_at: t(&format!("2025-06-03T05:{minute:02}:00Z")),
        kind: SentKind::HelpReply,
    };
    let recent: Vec<PastSend> = (0..4).map(|i| help_at(10 + i)).collect();
    assert!(decide_now(&s, &l, &help, &recent, &recipient(NY), "2025-06-03T05:30:00Z").is_allow());
    // ...until 5 answers in an hour (a flood), and again once the oldest is an hour old.
    let flood: Vec<PastSend> = (0..5).map(|i| help_at(10 + i)).collect();
    let denied = decide_now(&s, &l, &help, &flood, &recipient(NY), "2025-06-03T06:09:59Z");
    assert_deny(&denied, Reason::HelpReplyRateLimited);
    assert!(denied.explanation().contains("2025-06-03 06:10:00 UTC"), "{denied:?}");
    assert!(decide_now(&s, &l, &help, &flood, &recipient(NY), "2025-06-03T06:10:00Z").is_allow());
}

#[test]
fn transactional_double_opt_in_request_confirms_a_consent_once() {
    let s = settings(ConsentOption::SmsCheckbox);
    let request = MessageKind::DoubleOptInRequest;
    let mut l = Ledger::new(NY);
    assert_deny(
        &decide_now(&s, &l, &request, &[], &recipient(NY), NOON_NY),
        Reason::NothingToConfirm,
    );
    let checkbox = l.checkbox("2025-06-03T15:59:00Z");
    assert_allow(&decide_now(&s, &l, &request, &[], &recipient(NY), NOON_NY), &checkbox);
    // At 23:00 EDT it waits for the morning.
    assert_defer(
        &decide_now(&s, &l, &request, &[], &recipient(NY), "2025-06-04T03:00:00Z"),
        "2025-06-04T12:00:00Z",
        Reason::QuietHours,
    );
    l.doi_request("2025-06-03T16:00:00Z");
    assert_deny(
        &decide_now(&s, &l, &request, &[], &recipient(NY), "2025-06-03T16:05:00Z"),
        Reason::DoubleOptInAlreadyRequested,
    );
    l.doi_yes("2025-06-03T16:10:00Z");
    assert_deny(
        &decide_now(&s, &l, &request, &[], &recipient(NY), "2025-06-03T16:15:00Z"),
        Reason::DoubleOptInAlreadyConfirmed,
    );
    l.stop("2025-06-03T16:20:00Z");
    assert_deny(
        &decide_now(&s, &l, &request, &[], &recipient(NY), "2025-06-03T16:25:00Z"),
        Reason::OptedOut,
    );
    // Without the Terms and Privacy links the request cannot carry the full disclosure: it is not sent.
    let mut unlinked = settings(ConsentOption::GeneralMarketing);
    unlinked.terms_url = None;
    let mut fresh = Ledger::new(NY);
    fresh.keyword("2025-06-03T15:59:00Z", OptInKeyword::Start);
    let d = decide_now(&unlinked, &fresh, &request, &[], &recipient(NY), NOON_NY);
    assert_deny(&d, Reason::DisclosureIncomplete);
    assert!(d.explanation().contains("a link to the Terms"), "{}", d.explanation());
    let mut pre = Ledger::new(NY);
    pre.checkbox_with("2025-06-03T15:59:00Z", "text", "v", true);
    assert_deny(
        &decide_now(&s, &pre, &request, &[], &recipient(NY), NOON_NY),
        Reason::CheckboxPrechecked,
    );
}

// ---------------------------------------------------------------------------------------------------------
// Integrity, codes, explanations
// ---------------------------------------------------------------------------------------------------------

#[test]
fn a_ledger_of_another_phone_proves_nothing() {
    let s = settings(ConsentOption::SmsCheckbox);
    let (l, _) = us_subscribed(FL);
    let d = decide_now(&s, &l, &reminder(1, ABANDONED), &[], &recipient(NY), NOON_NY);
    assert_deny(&d, Reason::LedgerMismatch);
    assert!(
        !d.explanation().contains("2014567"),
        "phones are masked in explanations"
    );
}

#[test]
fn message_purpose_follows_its_kind() {
    assert_eq!(reminder(1, ABANDONED).purpose(), Purpose::Marketing);
    assert_eq!(MessageKind::HelpReply.purpose(), Purpose::Transactional);
    assert_eq!(MessageKind::OptOutConfirmation.purpose(), Purpose::Transactional);
    assert_eq!(MessageKind::DoubleOptInRequest.purpose(), Purpose::Transactional);
}

const ALL_REASONS: &[Reason] = &[
    Reason::LedgerMismatch,
    Reason::OptedOut,
    Reason::Erased,
    Reason::NeverSubscribed,
    Reason::TransactionalConsentOnly,
    Reason::CheckboxNotVerified,
    Reason::CheckboxPrechecked,
    Reason::DoubleOptInPending,
    Reason::ConsentOptionNotMet,
    Reason::RegionalFloorNotMet,
    Reason::DisclosureIncomplete,
    Reason::ImpliedConsentExpired,
    Reason::DoubleOptInRequired,
    Reason::InvalidStep,
    Reason::CartReminderLimit,
    Reason::CartReminderExpired,
    Reason::NotDueYet,
    Reason::QuietHours,
    Reason::SmartSendingWindow,
    Reason::StateDailyCap,
    Reason::QuietHoursPastExpiry,
    Reason::SmartSendingPastExpiry,
    Reason::StateDailyCapPastExpiry,
    Reason::NoSendWindow,
    Reason::TimeZoneUnknown,
    Reason::NoOptOutToConfirm,
    Reason::OptOutAlreadyConfirmed,
    Reason::OptOutConfirmationTooLate,
    Reason::HelpReplyRateLimited,
    Reason::NothingToConfirm,
    Reason::DoubleOptInAlreadyConfirmed,
    Reason::DoubleOptInAlreadyRequested,
    Reason::KeywordNotWrittenConsent,
    Reason::ImportWithoutBusinessRelationship,
    Reason::SenderContactMissing,
];

#[test]
fn reason_codes_are_stable_unique_snake_case_and_match_serde() {
    let mut seen = std::collections::HashSet::new();
    for reason in ALL_REASONS {
        let code = reason.code();
        assert!(seen.insert(code), "duplicate {code}");
        assert!(code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "{code}");
        assert_eq!(serde_json::to_string(reason).unwrap(), format!("\"{code}\""));
    }
}

#[test]
fn decisions_serialise_with_their_outcome() {
    let d = Decision::Defer {
        until: t(NOON_NY),
        reason: Reason::QuietHours,
        explanation: "x.".to_owned(),
    };
    let json = serde_json::to_value(&d).unwrap();
    assert_eq!(json["outcome"], "defer");
    assert_eq!(json["reason"], "quiet_hours");
    assert_eq!(d.outcome(), "defer");
    assert_eq!(serde_json::from_value::<Decision>(json).unwrap(), d);
}

// ---------------------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------------------

const PROP_RECIPIENTS: &[(&str, Option<(&str, &str)>)] = &[
    (NY, None),
    (FL, None),
    (TX, None),
    (CT, None),
    ("+18505550123", None),
    (NY, Some(("US", "Florida"))),
    (CA, None),
    (AU, Some(("AU", "VIC"))),
    (AU, None),
    (UK, None),
    (DE, None),
    (NZ, None),
];

fn prop_recipient(i: usize) -> Recipient {
    let (e164, address) = PROP_RECIPIENTS[i];
    match address {
        Some((country, state)) => recipient_in(e164, country, state),
        None => recipient(e164),
    }
}

/// One generated ledger event: minutes after 2024-01-01 and a kind selector.
fn add_event(l: &mut Ledger, minutes: u32, kind: u8) {
    let at = (t("2024-01-01T00:00:00Z") + Duration::minutes(i64::from(minutes))).to_rfc3339();
    match kind {
        0 => {
            l.checkbox(&at);
        }
        1 => {
            // Verify the latest checkbox, if any.
            if let Some(id) = l
                .events
                .iter()
                .rev()
                .find(|e| matches!(e.kind, ConsentEventKind::CheckoutCheckbox { .. }))
                .map(|e| e.event_id.clone())
            {
                l.verify(&at, &id);
            }
        }
        2 => {
            l.keyword(&at, OptInKeyword::Start);
        }
        3 => {
            l.doi_request(&at);
        }
        4 => {
            l.doi_yes(&at);
        }
        5 => {
            l.general(&at, true);
        }
        6 => {
            l.general(&at, false);
        }
        7 => {
            l.inferred(&at);
        }
        8 => {
            l.import_default(&at);
        }
        9 => {
            l.purchase(&at, minutes.is_multiple_of(2));
        }
        10 => {
            l.stop(&at);
        }
        _ => {
            l.erasure(&at);
        }
    }
}

fn prop_settings(option: u8, doi: bool, smart: u32, max_steps: u8) -> Settings {
    let mut s = settings(match option % 3 {
        0 => ConsentOption::SmsCheckbox,
        1 => ConsentOption::GeneralMarketing,
        _ => ConsentOption::Inferred,
    });
    s.us_double_opt_in = doi;
    s.smart_sending_hours = smart;
    s.reminders.max_steps = max_steps;
    s
}

fn events() -> impl Strategy<Value = Vec<(u32, u8)>> {
    prop::collection::vec((0u32..1_200_000, 0u8..12), 0..14)
}

/// "now" between 2025-01-01 and 2026-01-01 (minute resolution), covering both DST changes of each zone.
fn now_strategy() -> impl Strategy<Value = DateTime<Utc>> {
    (0i64..525_600).prop_map(|m| t("2025-01-01T00:00:00Z") + Duration::minutes(m))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, .. ProptestConfig::default() })]

    /// No ledger whose latest event is an opt-out (or erasure) ever yields Allow for marketing.
    #[test]
    fn prop_latest_opt_out_never_allows_marketing(
        ledger in events(),
        erase in any::<bool>(),
        who in 0..PROP_RECIPIENTS.len(),
        option in 0u8..3, doi in any::<bool>(), smart in 0u32..100, max_steps in 0u8..5,
        step in 1u8..4, abandoned_ago in 0i64..4000, now in now_strategy(),
    ) {
        let r = prop_recipient(who);
        let mut l = Ledger::new(r.phone.as_e164());
        for (minutes, kind) in &ledger {
            add_event(&mut l, *minutes, *kind);
        }
        let latest = l.events.iter().map(|e| e.occurred_at).max().unwrap_or(now).max(now - Duration::days(30));
        let at = latest.to_rfc3339();
        if erase { l.erasure(&at); } else { l.stop(&at); }
        let s = prop_settings(option, doi, smart, max_steps);
        let message = MessageKind::CartReminder { cart_id: "c".into(), step, abandoned_at: now - Duration::minutes(abandoned_ago) };
        let d = decide(&DecisionInput { settings: &s, ledger: &l.events, message: &message, sends: &[], recipient: &r, now });
        prop_assert!(!d.is_allow(), "{:?}", d);
        prop_assert!(matches!(d, Decision::Deny { reason: Reason::OptedOut | Reason::Erased, .. }), "{:?}", d);
    }

    /// Appending an opt-out, at any time, never turns a Deny (or Defer) into an Allow.
    #[test]
    fn prop_appending_an_opt_out_never_turns_deny_into_allow(
        ledger in events(),
        opt_out_at in 0u32..1_200_000,
        who in 0..PROP_RECIPIENTS.len(),
        option in 0u8..3, doi in any::<bool>(), smart in 0u32..100, max_steps in 0u8..5,
        step in 1u8..4, abandoned_ago in 0i64..4000, now in now_strategy(),
    ) {
        let r = prop_recipient(who);
        let mut l = Ledger::new(r.phone.as_e164());
        for (minutes, kind) in &ledger {
            add_event(&mut l, *minutes, *kind);
        }
        let s = prop_settings(option, doi, smart, max_steps);
        let message = MessageKind::CartReminder { cart_id: "c".into(), step, abandoned_at: now - Duration::minutes(abandoned_ago) };
        let before = decide(&DecisionInput { settings: &s, ledger: &l.events, message: &message, sends: &[], recipient: &r, now });
        add_event(&mut l, opt_out_at, 10);
        let after = decide(&DecisionInput { settings: &s, ledger: &l.events, message: &message, sends: &[], recipient: &r, now });
        if !before.is_allow() {
            prop_assert!(!after.is_allow(), "before {:?}, after {:?}", before, after);
        }
    }

    /// A Defer instant is after now, inside the recipient's window in every zone, and before the reminder
    /// expires; an Allow happens only inside the window.
    #[test]
    fn prop_defer_lies_inside_the_window_and_after_now(
        who in 0..PROP_RECIPIENTS.len(),
        smart in 0u32..100,
        narrowing in prop::option::of((0u8..24, 1u8..25)),
        step in 1u8..4, abandoned_ago in -120i64..3000, now in now_strategy(),
        sends_ago in prop::collection::vec(0i64..3000, 0..4),
    ) {
        let r = prop_recipient(who);
        let mut l = Ledger::new(r.phone.as_e164());
        l.double_opted_in("2024-06-01T00:00:00Z");
        l.purchase("2024-12-01T00:00:00Z", true);
        let mut s = prop_settings(2, true, smart, 3);
        s.quiet_hours = narrowing.map(|(start_hour, end_hour)| QuietHours { start_hour, end_hour });
        let abandoned_at = now - Duration::minutes(abandoned_ago);
        let message = MessageKind::CartReminder { cart_id: "c".into(), step, abandoned_at };
        let sends: Vec<PastSend> = sends_ago.iter().enumerate().map(|(i, ago)| PastSend {
            sent_at: now - Duration::minutes(*ago),
            kind: SentKind::CartReminder { cart_id: format!("other-{i}"), step: 1 },
        }).collect();
        let d = decide(&DecisionInput { settings: &s, ledger: &l.events, message: &message, sends: &sends, recipient: &r, now });
        let window = send_window(&s, &r).window;
        match &d {
            Decision::Defer { until, .. } => {
                prop_assert!(*until > now, "{:?}", d);
                prop_assert!(open_at(*until, &r.zones, &window), "{:?} window {}", d, window);
                let expires = reminder_schedule(&s, r.market, abandoned_at).iter().find(|st| st.step == step).map(|st| st.expires);
                prop_assert!(expires.is_some_and(|e| *until < e), "{:?}", d);
            }
            Decision::Allow { .. } => prop_assert!(open_at(now, &r.zones, &window), "{:?}", d),
            Decision::Deny { .. } => {}
        }
    }

    /// Across the spring-forward nights, a deferral lands on the first local minute of the window.
    #[test]
    fn prop_dst_nights_defer_to_the_local_opening(minute in 0i64..(7 * 60)) {
        let s = settings(ConsentOption::Inferred);
        // New York, from 00:00 EST on Sunday 2025-03-09 (05:00Z): 08:00 EDT = 12:00Z; Connecticut 09:00 EDT.
        for (e164, opening) in [(NY, "2025-03-09T12:00:00Z"), (CT, "2025-03-09T13:00:00Z")] {
            let (l, _) = us_subscribed(e164);
            let now = t("2025-03-09T05:00:00Z") + Duration::minutes(minute);
            let message = MessageKind::CartReminder { cart_id: "c".into(), step: 1, abandoned_at: now - Duration::hours(1) };
            match decide(&DecisionInput { settings: &s, ledger: &l.events, message: &message, sends: &[], recipient: &recipient(e164), now }) {
                Decision::Defer { until, .. } => prop_assert_eq!(until, t(opening)),
                other => prop_assert!(false, "{:?}", other),
            }
        }
        // Melbourne, from 00:00 AEST on Sunday 2025-10-05 (2025-10-04T14:00Z): 08:00 AEDT = 21:00Z.
        let mut l = Ledger::new(AU);
        l.inferred("2025-01-01T00:00:00Z");
        let now = t("2025-10-04T14:00:00Z") + Duration::minutes(minute);
        let message = MessageKind::CartReminder { cart_id: "c".into(), step: 1, abandoned_at: now - Duration::hours(1) };
        match decide(&DecisionInput { settings: &s, ledger: &l.events, message: &message, sends: &[], recipient: &melbourne(), now }) {
            Decision::Defer { until, .. } => prop_assert_eq!(until, t("2025-10-04T21:00:00Z")),
            other => prop_assert!(false, "{:?}", other),
        }
    }

    /// A US number whose ledger holds no written consent (only keywords, opt-outs and non-express bases: no
    /// checkbox, no double opt-in) never gets a marketing text, whatever the option or the settings.
    #[test]
    fn prop_us_keywords_without_written_consent_never_allow(
        ledger in prop::collection::vec((0u32..1_200_000, prop::sample::select(vec![2u8, 5, 6, 7, 8, 9, 10, 11])), 1..14),
        who in 0usize..6,
        option in 0u8..3, doi in any::<bool>(), smart in 0u32..100,
        abandoned_ago in 0i64..4000, now in now_strategy(),
    ) {
        let r = prop_recipient(who);
        prop_assert_eq!(r.market, Market::Us);
        let mut l = Ledger::new(r.phone.as_e164());
        for (minutes, kind) in &ledger {
            add_event(&mut l, *minutes, *kind);
        }
        let s = prop_settings(option, doi, smart, 1);
        let message = MessageKind::CartReminder { cart_id: "c".into(), step: 1, abandoned_at: now - Duration::minutes(abandoned_ago) };
        let d = decide(&DecisionInput { settings: &s, ledger: &l.events, message: &message, sends: &[], recipient: &r, now });
        prop_assert!(!d.is_allow(), "{:?}", d);
    }

    /// Under the SMS-checkbox option, an Australian or New Zealand customer known only from the import (with
    /// any mix of non-express events) is texted only when a purchase within 2 years is in effect, and the
    /// Allow then names the import or a purchase-backed basis.
    #[test]
    fn prop_au_nz_import_counts_only_with_a_recent_purchase(
        ledger in prop::collection::vec((0u32..1_200_000, prop::sample::select(vec![5u8, 6, 7, 8, 9])), 1..10),
        nz in any::<bool>(),
        now in now_strategy(),
    ) {
        let r = if nz { recipient(NZ) } else { melbourne() };
        let mut l = Ledger::new(r.phone.as_e164());
        for (minutes, kind) in &ledger {
            add_event(&mut l, *minutes, *kind);
        }
        let s = settings(ConsentOption::SmsCheckbox);
        let message = MessageKind::CartReminder { cart_id: "c".into(), step: 1, abandoned_at: now - Duration::minutes(40) };
        let d = decide(&DecisionInput { settings: &s, ledger: &l.events, message: &message, sends: &[], recipient: &r, now });
        if d.is_allow() {
            let state = ConsentState::fold(&l.events, Purpose::Marketing);
            let recent_purchase = state.grants.iter().any(|g| {
                matches!(g.basis, Basis::ImpliedPurchase | Basis::SoftOptIn)
                    && g.event.occurred_at + Duration::days(INFERRED_RELATIONSHIP_DAYS) > now
            });
            prop_assert!(recent_purchase, "{:?}", d);
        }
    }
}
