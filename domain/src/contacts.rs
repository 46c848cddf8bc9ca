//! Contact sync, the pure part: a BigCommerce customer (or a guest's order, or a verified checkout consent)
//! becomes a [`Contact`], merged with what we already hold; and the consent events each sync records, per
//! the store's consent option (MessageMedia contact-sync seed; Dotdigital seed for the subscriber and
//! customer groups).
//!
//! What the seeds ask for and how it maps:
//! - every contact carries the label "BigCommerce"; customer groups become contact groups; guests go to
//!   [`GUEST_GROUP`]; subscribers and non-subscribed customers go to the groups chosen at setup;
//! - fields: first and last name, phone (E.164), email, customer id, group, notes, tags (the customer's
//!   attribute values, `name: value`), default shipping address (the first address), subscriber status,
//!   source and timestamps;
//! - import consent by option: general marketing → the customer's BigCommerce marketing status as a
//!   [`ConsentEventKind::GeneralMarketing`] event; SMS checkbox → subscribed by default
//!   ([`ConsentEventKind::ImportDefault`]); inferred → [`ConsentEventKind::Inferred`]. What these authorise
//!   is the consent engine's business alone (an import default never authorises a US marketing text).
//!
//! Idempotency keys are deterministic per real-world fact, so a redelivered page or a second bulk run adds
//! no ledger event, while a real change (a new subscription status) does.

use crate::consent::{ConsentEvent, ConsentEventKind, Purpose};
use crate::model::contact::{BIGCOMMERCE_LABEL, GUEST_GROUP};
use crate::model::{Address, ConsentOption, Contact, ContactSource, Settings};
use crate::{Phone, StoreHash};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Why a customer is not an SMS contact (counted on the sync job, never stored).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhoneSkip {
    /// No phone anywhere on the customer or their addresses.
    NoPhone,
    /// Something was typed, but it is not a number a text can reach (junk, a landline, a toll-free number).
    Invalid,
}

/// Reads a typed number with an optional country hint; an unusable hint is dropped rather than failing a
/// number that carries its own `+` prefix.
pub fn parse_phone(raw: &str, country: Option<&str>) -> Result<Phone, crate::phone::InvalidPhone> {
    match Phone::parse(raw, country) {
        Err(crate::phone::InvalidPhone::UnknownCountryHint(_)) => Phone::parse(raw, None),
        other => other,
    }
}

/// Emails compare case-insensitively; `None` for what is not an address.
pub fn normalize_email(email: &str) -> Option<String> {
    let email = email.trim().to_lowercase();
    (email.len() <= 254 && email.contains('@') && !email.contains(char::is_whitespace)).then_some(email)
}

/// A newsletter subscriber as we keep it: enough to tell a customer's marketing status by email, and to
/// find who a deleted subscriber was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriberRecord {
    pub subscriber_id: u64,
    /// Normalised ([`normalize_email`]).
    pub email: String,
    /// `marketing_newsletter` and/or `abandoned_cart`; empty means unsubscribed.
    pub consents: Vec<String>,
    pub modified_at: DateTime<Utc>,
}

impl SubscriberRecord {
    pub fn opted_in(&self) -> bool {
        !self.consents.is_empty()
    }
}

/// A person's BigCommerce marketing status: subscribed when their subscriber record has a consent or their
/// account accepts product-review / abandoned-cart emails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarketingStatus {
    pub opted_in: bool,
    /// What BigCommerce said, for the ledger.
    pub evidence: String,
    /// When the status was last set at BigCommerce (the later of the two records).
    pub as_of: DateTime<Utc>,
}

/// Names the sync needs to turn ids into words: customer groups and customer attributes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreDirectory {
    pub customer_groups: BTreeMap<u64, String>,
    pub attributes: BTreeMap<u64, String>,
    /// The store's country (ISO 3166 alpha-2): the hint for numbers typed without a country.
    pub country_code: Option<String>,
    pub refreshed_at: DateTime<Utc>,
}

/// What every customer of one sync run is read against.
#[derive(Debug, Clone, Copy)]
pub struct SyncContext<'a> {
    pub store: &'a StoreHash,
    pub settings: &'a Settings,
    pub directory: &'a StoreDirectory,
    pub now: DateTime<Utc>,
}

/// Merges a customer's fresh contact into the one we hold for the phone. `read_at` is when the customer was
/// read from BigCommerce: an erasure recorded at or after it wins (the customer was deleted while this copy
/// was in flight), so `None` is returned and nothing is written. Kept from the stored contact: when and how
/// it first came, the undeliverable flag (a provider's verdict on the number), and the guest group.
pub fn merge_customer_contact(
    existing: Option<&Contact>,
    incoming: Contact,
    read_at: DateTime<Utc>,
) -> Option<Contact> {
    let Some(existing) = existing else {
        return Some(incoming);
    };
    if existing.erased_at.is_some_and(|erased| erased >= read_at) {
        return None;
    }
    let mut merged = incoming;
    merged.created_at = existing.created_at.min(merged.created_at);
    merged.source = existing.source;
    merged.undeliverable = existing.undeliverable.clone();
    if existing.groups.iter().any(|g| g == GUEST_GROUP) && !merged.groups.iter().any(|g| g == GUEST_GROUP) {
        merged.groups.push(GUEST_GROUP.to_owned());
    }
    for label in &existing.labels {
        if !merged.labels.contains(label) {
            merged.labels.push(label.clone());
        }
    }
    Some(merged)
}

/// What a shopper told us at checkout or on an order, for [`shopper_contact`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShopperDetails {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub address: Option<Address>,
    /// Links the contact to a registered customer (only when the caller knows no other contact holds it).
    pub customer_id: Option<u64>,
    /// A guest checkout: the contact joins [`GUEST_GROUP`].
    pub guest: bool,
    /// When the shopper gave these details (the order's date, the checkout consent's time). Details older
    /// than an erasure never bring the erased data back.
    pub given_at: DateTime<Utc>,
}

/// A guest's or a checkout's contact: added to what we hold for the phone, never replacing a registered
/// customer's data.
pub fn shopper_contact(
    existing: Option<&Contact>,
    store: &StoreHash,
    phone: &Phone,
    details: &ShopperDetails,
    source: ContactSource,
    now: DateTime<Utc>,
) -> Contact {
    let mut contact = existing.cloned().unwrap_or_else(|| Contact {
        store_hash: store.clone(),
        phone: phone.clone(),
        first_name: None,
        last_name: None,
        email: None,
        customer_id: None,
        groups: Vec::new(),
        notes: None,
        tags: Vec::new(),
        shipping_address: None,
        subscribed_in_bigcommerce: None,
        labels: vec![BIGCOMMERCE_LABEL.to_owned()],
        source,
        created_at: now,
        updated_at: now,
        erased_at: None,
        undeliverable: None,
    });
    if let Some(erased_at) = contact.erased_at {
        if erased_at >= details.given_at {
            return contact;
        }
        contact.erased_at = None;
    }
    contact.first_name = contact.first_name.or_else(|| details.first_name.clone());
    contact.last_name = contact.last_name.or_else(|| details.last_name.clone());
    contact.email = contact.email.or_else(|| details.email.clone());
    contact.shipping_address = contact.shipping_address.or_else(|| details.address.clone());
    if contact.customer_id.is_none() {
        contact.customer_id = details.customer_id;
    }
    if details.guest && !contact.groups.iter().any(|g| g == GUEST_GROUP) {
        contact.groups.push(GUEST_GROUP.to_owned());
    }
    if !contact.labels.iter().any(|l| l == BIGCOMMERCE_LABEL) {
        contact.labels.push(BIGCOMMERCE_LABEL.to_owned());
    }
    contact.updated_at = now;
    contact
}

/// The sync job an import belongs to.
#[derive(Debug, Clone, Copy)]
pub struct ImportJob<'a> {
    pub job_id: &'a str,
    /// When the job started: the time of its import-default and inferred events, the same for every
    /// delivery of its pages.
    pub started_at: DateTime<Utc>,
}

/// The consent events the bulk import records for one customer, by the store's option. Their ids and times
/// derive from their idempotency keys ([`stable_event`]), for `shared::db::Db::import_consents`.
pub fn import_events(
    settings: &Settings,
    store: &StoreHash,
    phone: &Phone,
    customer_id: u64,
    marketing: &MarketingStatus,
    job: ImportJob<'_>,
    now: DateTime<Utc>,
) -> Vec<ConsentEvent> {
    let event = match settings.consent_option {
        ConsentOption::GeneralMarketing => general_marketing_event(store, phone, customer_id, marketing, now),
        // The seed: nobody has had the new checkbox yet, so existing customers come in subscribed by default.
        ConsentOption::SmsCheckbox => ConsentEvent::new(
            store.clone(),
            phone.clone(),
            Purpose::Marketing,
            job.started_at,
            now,
            format!("import-default:customer:{customer_id}"),
            ConsentEventKind::ImportDefault {
                sync_job_id: job.job_id.to_owned(),
            },
        ),
        ConsentOption::Inferred => {
            let mut event = inferred_event(store, phone, customer_id, now);
            event.occurred_at = job.started_at.min(now);
            event
        }
    };
    vec![stable_event(event)]
}

/// Gives an event an id derived from its store, phone, idempotency key and time, instead of a random one:
/// written twice, it is the same ledger item.
pub fn stable_event(mut event: ConsentEvent) -> ConsentEvent {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(
        format!(
            "{}|{}|{}",
            event.store_hash,
            event.phone.as_e164(),
            event.idempotency_key
        )
        .as_bytes(),
    );
    event.event_id = format!(
        "{:013}-{}",
        event.occurred_at.timestamp_millis(),
        &hex::encode(digest)[..12]
    );
    event
}

/// The consent events a live customer change records: their marketing status under the general-marketing
/// option, the phone they gave under the inferred option. (Customers created after setup had the checkbox:
/// no import default for them.)
pub fn live_customer_events(
    settings: &Settings,
    store: &StoreHash,
    phone: &Phone,
    customer_id: u64,
    marketing: &MarketingStatus,
    now: DateTime<Utc>,
) -> Vec<ConsentEvent> {
    match settings.consent_option {
        // Dated when we read it: every live read is of the current state, so a later read is newer news
        // (BigCommerce's modification times have one-second resolution).
        ConsentOption::GeneralMarketing => {
            let mut event = general_marketing_event(store, phone, customer_id, marketing, now);
            event.occurred_at = now;
            vec![event]
        }
        ConsentOption::SmsCheckbox => Vec::new(),
        ConsentOption::Inferred => vec![inferred_event(store, phone, customer_id, now)],
    }
}

/// BigCommerce's marketing status as a ledger event, dated and keyed by the status and when it was set: the
/// same status read twice is one event, a change is a new one.
pub fn general_marketing_event(
    store: &StoreHash,
    phone: &Phone,
    customer_id: u64,
    marketing: &MarketingStatus,
    now: DateTime<Utc>,
) -> ConsentEvent {
    ConsentEvent::new(
        store.clone(),
        phone.clone(),
        Purpose::Marketing,
        marketing.as_of,
        now,
        format!(
            "bc-marketing:customer:{customer_id}:{}:{}",
            if marketing.opted_in { "in" } else { "out" },
            marketing.as_of.timestamp()
        ),
        ConsentEventKind::GeneralMarketing {
            opted_in: marketing.opted_in,
            evidence: marketing.evidence.clone(),
        },
    )
}

fn inferred_event(store: &StoreHash, phone: &Phone, customer_id: u64, now: DateTime<Utc>) -> ConsentEvent {
    ConsentEvent::new(
        store.clone(),
        phone.clone(),
        Purpose::Marketing,
        now,
        now,
        format!("inferred:customer:{customer_id}"),
        ConsentEventKind::Inferred {
            source: format!("phone on BigCommerce customer {customer_id}"),
        },
    )
}

/// Our checkout script offers an opt-in (an unticked SMS checkbox), not a way to refuse marketing, so a
/// purchase never counts as a soft opt-in (PECR reg. 22(3)): it is implied consent only (the strict side).
pub const CHECKOUT_OFFERS_SMS_OPT_OUT: bool = false;

/// An order counts as a conversion unless its payment never completed (status 0, "Incomplete").
pub fn is_completed_order(status_id: u32) -> bool {
    status_id != 0
}

/// A completed order that is also a purchase for implied consent: not cancelled (5) or declined (6).
pub fn is_purchase(status_id: u32) -> bool {
    is_completed_order(status_id) && !matches!(status_id, 5 | 6)
}

/// Trimmed text, `None` when blank: how optional text from BigCommerce is kept.
pub fn non_empty(value: &str) -> Option<String> {
    Some(value.trim()).filter(|v| !v.is_empty()).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::MerchantUser;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn store() -> StoreHash {
        StoreHash::parse("abc123").unwrap()
    }

    fn settings(option: ConsentOption) -> Settings {
        let mut s = Settings::defaults(
            MerchantUser {
                id: 1,
                email: "o@example.com".into(),
            },
            "Acme",
            t("2026-01-01T00:00:00Z"),
        );
        s.consent_option = option;
        s
    }

    #[test]
    fn import_events_follow_the_option_with_stable_keys() {
        let now = t("2026-03-01T12:00:00Z");
        let phone = Phone::parse("+12015550123", None).unwrap();
        let status = MarketingStatus {
            opted_in: false,
            evidence: "BigCommerce customer 7: not subscribed".into(),
            as_of: t("2026-02-01T10:00:00Z"),
        };
        let job = |job_id| ImportJob {
            job_id,
            started_at: t("2026-03-01T11:00:00Z"),
        };
        let kinds = |option| {
            import_events(&settings(option), &store(), &phone, 7, &status, job("job-1"), now)
                .into_iter()
                .map(|e| (e.idempotency_key, e.kind))
                .collect::<Vec<_>>()
        };
        let general = kinds(ConsentOption::GeneralMarketing);
        assert_eq!(general.len(), 1);
        assert!(matches!(
            general[0].1,
            ConsentEventKind::GeneralMarketing { opted_in: false, .. }
        ));
        assert_eq!(
            general[0].0,
            format!("bc-marketing:customer:7:out:{}", status.as_of.timestamp())
        );
        assert_eq!(
            kinds(ConsentOption::SmsCheckbox),
            vec![(
                "import-default:customer:7".to_owned(),
                ConsentEventKind::ImportDefault {
                    sync_job_id: "job-1".into()
                }
            )]
        );
        assert!(matches!(
            kinds(ConsentOption::Inferred)[0].1,
            ConsentEventKind::Inferred { .. }
        ));
        // A second run (another job) produces the same keys, so the ledger gets nothing new.
        let first = import_events(
            &settings(ConsentOption::SmsCheckbox),
            &store(),
            &phone,
            7,
            &status,
            job("job-1"),
            now,
        );
        let again = import_events(
            &settings(ConsentOption::SmsCheckbox),
            &store(),
            &phone,
            7,
            &status,
            job("job-2"),
            now,
        );
        assert_eq!(again[0].idempotency_key, "import-default:customer:7");
        // A redelivered page builds the very same events (ids and times included).
        let redelivered = import_events(
            &settings(ConsentOption::SmsCheckbox),
            &store(),
            &phone,
            7,
            &status,
            job("job-1"),
            now + chrono::Duration::minutes(3),
        );
        assert_eq!(
            (first[0].event_id.clone(), first[0].occurred_at),
            (redelivered[0].event_id.clone(), redelivered[0].occurred_at)
        );
        assert_eq!(first[0].occurred_at, t("2026-03-01T11:00:00Z"));
        assert!(
            live_customer_events(&settings(ConsentOption::SmsCheckbox), &store(), &phone, 7, &status, now).is_empty()
        );
    }

    #[test]
    fn orders_count_as_purchases_only_when_paid_and_kept() {
        assert!(!is_completed_order(0));
        assert!(is_completed_order(11));
        assert!(is_completed_order(5));
        assert!(!is_purchase(5));
        assert!(!is_purchase(6));
        assert!(is_purchase(10));
    }

    #[test]
    fn emails_normalise() {
        assert_eq!(normalize_email(" A@B.com ").as_deref(), Some("a@b.com"));
        assert_eq!(normalize_email("nope"), None);
        assert_eq!(normalize_email("a b@c.com"), None);
    }
}
