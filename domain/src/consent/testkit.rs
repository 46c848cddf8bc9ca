//! Builders for tests: deterministic ledgers, settings and recipients.

use super::content::double_opt_in_request;
use super::disclosure::build_disclosure;
use super::ledger::{ConsentEvent, ConsentEventKind, OptInKeyword, OptOutMethod, Purpose};
use super::region::{AddressHint, Recipient};
use crate::model::{ConsentOption, MerchantUser, Settings};
use crate::{Phone, StoreHash};
use chrono::{DateTime, Utc};

pub(crate) const BRAND: &str = "Acme";

pub(crate) fn t(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339)
        .expect(rfc3339)
        .with_timezone(&Utc)
}

pub(crate) fn store() -> StoreHash {
    StoreHash::parse("abc123").unwrap()
}

pub(crate) fn phone(e164: &str) -> Phone {
    Phone::from_e164(e164).expect(e164)
}

/// New York (212), Florida (305), Texas (214), Connecticut (203), Toronto, Sydney mobile, London mobile,
/// Berlin mobile, Auckland mobile.
pub(crate) const NY: &str = "+12122014567";
pub(crate) const FL: &str = "+13055550123";
pub(crate) const TX: &str = "+12145550123";
pub(crate) const CT: &str = "+12035550123";
pub(crate) const CA: &str = "+14165550199";
pub(crate) const AU: &str = "+61412345678";
pub(crate) const UK: &str = "+447911123456";
pub(crate) const DE: &str = "+4915123456789";
pub(crate) const NZ: &str = "+64211234567";

pub(crate) fn recipient(e164: &str) -> Recipient {
    Recipient::resolve(&phone(e164), &[])
}

pub(crate) fn recipient_in(e164: &str, country: &str, state: &str) -> Recipient {
    Recipient::resolve(
        &phone(e164),
        &[AddressHint {
            country_code: Some(country),
            state_or_province: Some(state),
        }],
    )
}

pub(crate) fn settings(option: ConsentOption) -> Settings {
    let mut s = Settings::defaults(
        MerchantUser {
            id: 1,
            email: "owner@acme.example".to_owned(),
        },
        BRAND,
        t("2024-01-01T00:00:00Z"),
    );
    s.version = 7;
    s.consent_option = option;
    s.require_consent_confirmed = true;
    s.inferred_acknowledged = true;
    s.terms_url = Some("https://acme.example/terms".to_owned());
    s.privacy_url = Some("https://acme.example/privacy".to_owned());
    s.help_contact = "help@acme.example".to_owned();
    s.mailing_address = Some("1 Main St, Toronto ON M5V 1A1".to_owned());
    s
}

/// A ledger for one phone with deterministic event ids `e1`, `e2`, ...
pub(crate) struct Ledger {
    phone: Phone,
    pub(crate) events: Vec<ConsentEvent>,
}

impl Ledger {
    pub(crate) fn new(e164: &str) -> Self {
        Self {
            phone: phone(e164),
            events: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, at: DateTime<Utc>, purpose: Purpose, kind: ConsentEventKind) -> String {
        let id = format!("e{}", self.events.len() + 1);
        self.events.push(ConsentEvent {
            event_id: id.clone(),
            store_hash: store(),
            phone: self.phone.clone(),
            purpose,
            occurred_at: at,
            recorded_at: at,
            idempotency_key: id.clone(),
            kind,
        });
        id
    }

    fn marketing(&mut self, at: &str, kind: ConsentEventKind) -> String {
        self.push(t(at), Purpose::Marketing, kind)
    }

    pub(crate) fn checkbox(&mut self, at: &str) -> String {
        let d = build_disclosure(BRAND, "https://acme.example/terms", "https://acme.example/privacy").unwrap();
        self.checkbox_with(at, &d.text, &d.version, false)
    }

    pub(crate) fn checkbox_with(&mut self, at: &str, text: &str, version: &str, prechecked: bool) -> String {
        self.marketing(
            at,
            ConsentEventKind::CheckoutCheckbox {
                disclosure_version: version.to_owned(),
                disclosure_text: text.to_owned(),
                checkbox_default_checked: prechecked,
                ip: "203.0.113.7".to_owned(),
                user_agent: "test".to_owned(),
                page_url: None,
                cart_id: Some("cart-1".to_owned()),
            },
        )
    }

    pub(crate) fn verify(&mut self, at: &str, checkbox: &str) -> String {
        self.marketing(
            at,
            ConsentEventKind::CheckoutPhoneVerified {
                checkbox_event_id: checkbox.to_owned(),
                cart_id: "cart-1".to_owned(),
            },
        )
    }

    /// A ticked and verified checkbox; returns the checkbox's id.
    pub(crate) fn verified_checkbox(&mut self, at: &str) -> String {
        let id = self.checkbox(at);
        self.verify(at, &id);
        id
    }

    pub(crate) fn keyword(&mut self, at: &str, keyword: OptInKeyword) -> String {
        self.marketing(
            at,
            ConsentEventKind::KeywordOptIn {
                keyword,
                raw_text: keyword.as_str().to_owned(),
                message_id: None,
            },
        )
    }

    pub(crate) fn doi_request(&mut self, at: &str) -> String {
        self.marketing(
            at,
            ConsentEventKind::DoubleOptInRequested {
                message_id: None,
                text: double_opt_in_request(&settings(ConsentOption::SmsCheckbox)),
            },
        )
    }

    pub(crate) fn doi_yes(&mut self, at: &str) -> String {
        self.marketing(
            at,
            ConsentEventKind::DoubleOptInConfirmed {
                raw_text: "YES".to_owned(),
                message_id: None,
            },
        )
    }

    /// Checkbox, request and YES: what US cart reminders need. Returns the YES event's id.
    pub(crate) fn double_opted_in(&mut self, at: &str) -> String {
        self.checkbox(at);
        self.doi_request(at);
        self.doi_yes(at)
    }

    pub(crate) fn general(&mut self, at: &str, opted_in: bool) -> String {
        self.marketing(
            at,
            ConsentEventKind::GeneralMarketing {
                opted_in,
                evidence: "customer flag".to_owned(),
            },
        )
    }

    pub(crate) fn inferred(&mut self, at: &str) -> String {
        self.marketing(
            at,
            ConsentEventKind::Inferred {
                source: "checkout phone".to_owned(),
            },
        )
    }

    pub(crate) fn import_default(&mut self, at: &str) -> String {
        self.marketing(
            at,
            ConsentEventKind::ImportDefault {
                sync_job_id: "job-1".to_owned(),
            },
        )
    }

    pub(crate) fn purchase(&mut self, at: &str, opt_out_offered: bool) -> String {
        self.marketing(
            at,
            ConsentEventKind::Purchase {
                order_id: 100,
                opt_out_offered,
            },
        )
    }

    pub(crate) fn stop(&mut self, at: &str) -> String {
        self.marketing(
            at,
            ConsentEventKind::OptOut(OptOutMethod::Keyword {
                raw_text: "STOP".to_owned(),
                message_id: None,
            }),
        )
    }

    pub(crate) fn opt_out(&mut self, at: &str, method: OptOutMethod) -> String {
        self.marketing(at, ConsentEventKind::OptOut(method))
    }

    pub(crate) fn erasure(&mut self, at: &str) -> String {
        self.marketing(
            at,
            ConsentEventKind::Erasure {
                requested_by: "merchant".to_owned(),
            },
        )
    }
}
