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

use crate::bigcommerce::{Customer, Order, Subscriber};
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

/// The customer's SMS number: the account phone (read with the country of their first address, else the
/// store's), else the first address phone that parses (with that address's country).
pub fn customer_phone(customer: &Customer, store_country: Option<&str>) -> Result<Phone, PhoneSkip> {
    let first_country = customer
        .addresses
        .iter()
        .map(|a| a.country_code.trim())
        .find(|c| c.len() == 2);
    let candidates = std::iter::once((customer.phone.as_str(), first_country.or(store_country))).chain(
        customer.addresses.iter().map(|a| {
            let country = Some(a.country_code.trim()).filter(|c| c.len() == 2);
            (a.phone.as_str(), country.or(store_country))
        }),
    );
    let mut typed_something = false;
    for (raw, country) in candidates {
        if raw.trim().is_empty() {
            continue;
        }
        typed_something = true;
        if let Ok(phone) = parse_phone(raw, country) {
            return Ok(phone);
        }
    }
    Err(if typed_something {
        PhoneSkip::Invalid
    } else {
        PhoneSkip::NoPhone
    })
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
    pub fn from_api(subscriber: &Subscriber, now: DateTime<Utc>) -> Option<Self> {
        use crate::bigcommerce::SubscriberConsent;
        let consents = subscriber
            .consents
            .iter()
            .filter_map(|c| match c {
                SubscriberConsent::MarketingNewsletter => Some("marketing_newsletter".to_owned()),
                SubscriberConsent::AbandonedCart => Some("abandoned_cart".to_owned()),
                SubscriberConsent::Other => None,
            })
            .collect();
        Some(Self {
            subscriber_id: subscriber.id,
            email: normalize_email(&subscriber.email)?,
            consents,
            modified_at: subscriber.date_modified.unwrap_or(now).min(now),
        })
    }

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

pub fn marketing_status(
    customer: &Customer,
    subscriber: Option<&SubscriberRecord>,
    now: DateTime<Utc>,
) -> MarketingStatus {
    let customer_at = customer.date_modified.unwrap_or(now).min(now);
    let subscriber_part = match subscriber {
        Some(s) if s.opted_in() => format!("subscriber {} consents: {}", s.subscriber_id, s.consents.join(", ")),
        Some(s) => format!("subscriber {} has no consents", s.subscriber_id),
        None => "no subscriber record".to_owned(),
    };
    MarketingStatus {
        opted_in: customer.accepts_product_review_abandoned_cart_emails || subscriber.is_some_and(|s| s.opted_in()),
        evidence: format!(
            "BigCommerce customer {}: accepts_product_review_abandoned_cart_emails={}; {subscriber_part}",
            customer.id, customer.accepts_product_review_abandoned_cart_emails
        ),
        as_of: subscriber.map_or(customer_at, |s| s.modified_at.max(customer_at)),
    }
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

/// The contact a customer makes. `phone` comes from [`customer_phone`].
pub fn customer_contact(
    ctx: SyncContext<'_>,
    customer: &Customer,
    phone: Phone,
    marketing: &MarketingStatus,
    source: ContactSource,
) -> Contact {
    let SyncContext {
        store,
        settings,
        directory,
        now,
    } = ctx;
    let mut groups = Vec::new();
    if let Some(name) = directory.customer_groups.get(&customer.customer_group_id) {
        groups.push(name.clone());
    }
    groups.push(if marketing.opted_in {
        settings.subscriber_group.clone()
    } else {
        settings.customer_group.clone()
    });
    groups.dedup();
    let tags = customer
        .attributes
        .iter()
        .filter(|a| !a.value.trim().is_empty())
        .map(|a| match directory.attributes.get(&a.attribute_id) {
            Some(name) => format!("{name}: {}", a.value.trim()),
            None => a.value.trim().to_owned(),
        })
        .collect();
    let shipping_address = customer.addresses.first().map(|a| Address {
        first_name: non_empty(&a.first_name),
        last_name: non_empty(&a.last_name),
        address1: non_empty(&a.address1),
        address2: non_empty(&a.address2),
        city: non_empty(&a.city),
        state_or_province: non_empty(&a.state_or_province),
        postal_code: non_empty(&a.postal_code),
        country_code: non_empty(&a.country_code),
    });
    Contact {
        store_hash: store.clone(),
        phone,
        first_name: non_empty(&customer.first_name),
        last_name: non_empty(&customer.last_name),
        email: normalize_email(&customer.email),
        customer_id: Some(customer.id),
        groups,
        notes: non_empty(&customer.notes),
        tags,
        shipping_address,
        subscribed_in_bigcommerce: Some(marketing.opted_in),
        labels: vec![BIGCOMMERCE_LABEL.to_owned()],
        source,
        created_at: customer.date_created.unwrap_or(now).min(now),
        updated_at: now,
        erased_at: None,
        undeliverable: None,
    }
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

impl ShopperDetails {
    pub fn from_order(order: &Order) -> Self {
        let b = &order.billing_address;
        Self {
            first_name: non_empty(&b.first_name),
            last_name: non_empty(&b.last_name),
            email: b.email.as_deref().and_then(normalize_email),
            address: Some(Address {
                first_name: non_empty(&b.first_name),
                last_name: non_empty(&b.last_name),
                address1: None,
                address2: None,
                city: non_empty(&b.city),
                state_or_province: non_empty(&b.state),
                postal_code: non_empty(&b.zip),
                country_code: non_empty(&b.country_iso2),
            }),
            customer_id: None,
            guest: order.customer_id == 0,
            given_at: order.date_created,
        }
    }
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
/// derive from their idempotency keys ([`stable_event`]), for [`crate::db::Db::import_consents`].
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

/// The purchase behind implied consent (CASL: two years), one per order.
pub fn purchase_event(store: &StoreHash, phone: &Phone, order: &Order, now: DateTime<Utc>) -> ConsentEvent {
    ConsentEvent::new(
        store.clone(),
        phone.clone(),
        Purpose::Marketing,
        order.date_created,
        now,
        format!("purchase:order:{}", order.id),
        ConsentEventKind::Purchase {
            order_id: order.id,
            opt_out_offered: CHECKOUT_OFFERS_SMS_OPT_OUT,
        },
    )
}

fn non_empty(value: &str) -> Option<String> {
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

    fn customer(phone: &str, country: &str) -> Customer {
        serde_json::from_value(serde_json::json!({
            "id": 7, "email": " Jane.Doe@Example.com ", "first_name": "Jane", "last_name": "Doe",
            "phone": phone, "notes": "VIP", "customer_group_id": 2,
            "accepts_product_review_abandoned_cart_emails": false,
            "addresses": [{"first_name": "Jane", "last_name": "Doe", "address1": "1 Main St", "city": "Austin",
                           "state_or_province": "Texas", "postal_code": "78701", "country_code": country,
                           "phone": ""}],
            "attributes": [{"attribute_id": 4, "attribute_value": "gold", "customer_id": 7}],
            "date_created": "2025-05-01T10:00:00Z", "date_modified": "2026-02-01T10:00:00Z"
        }))
        .unwrap()
    }

    fn directory() -> StoreDirectory {
        StoreDirectory {
            customer_groups: [(2, "Wholesale".to_owned())].into(),
            attributes: [(4, "Tier".to_owned())].into(),
            country_code: Some("US".into()),
            refreshed_at: t("2026-03-01T00:00:00Z"),
        }
    }

    #[test]
    fn phones_are_read_with_the_address_country_and_skips_say_why() {
        let c = customer("(201) 555-0123", "US");
        assert_eq!(customer_phone(&c, None).unwrap().as_e164(), "+12015550123");
        let au = customer("0412 345 678", "AU");
        assert_eq!(customer_phone(&au, Some("US")).unwrap().as_e164(), "+61412345678");
        assert_eq!(customer_phone(&customer("", "US"), None), Err(PhoneSkip::NoPhone));
        assert_eq!(customer_phone(&customer("n/a", "US"), None), Err(PhoneSkip::Invalid));
        // The account phone is junk but an address has a good one.
        let mut c = customer("12345", "US");
        c.addresses[0].phone = "+44 7400 123456".into();
        assert_eq!(customer_phone(&c, None).unwrap().as_e164(), "+447400123456");
        // No address: the store's country reads a national number.
        let mut c = customer("(201) 555-0123", "US");
        c.addresses.clear();
        assert_eq!(customer_phone(&c, Some("US")).unwrap().as_e164(), "+12015550123");
    }

    #[test]
    fn a_customer_becomes_a_labelled_contact_in_its_groups() {
        let c = customer("(201) 555-0123", "US");
        let phone = customer_phone(&c, None).unwrap();
        let now = t("2026-03-01T12:00:00Z");
        let status = marketing_status(&c, None, now);
        assert!(!status.opted_in);
        let s = settings(ConsentOption::SmsCheckbox);
        let (store, directory) = (store(), directory());
        let ctx = SyncContext {
            store: &store,
            settings: &s,
            directory: &directory,
            now,
        };
        let contact = customer_contact(ctx, &c, phone, &status, ContactSource::BulkSync);
        assert_eq!(
            contact.groups,
            vec!["Wholesale".to_owned(), "Store customers".to_owned()]
        );
        assert_eq!(contact.labels, vec!["BigCommerce".to_owned()]);
        assert_eq!(contact.email.as_deref(), Some("jane.doe@example.com"));
        assert_eq!(contact.tags, vec!["Tier: gold".to_owned()]);
        assert_eq!(contact.notes.as_deref(), Some("VIP"));
        assert_eq!(contact.customer_id, Some(7));
        assert_eq!(contact.subscribed_in_bigcommerce, Some(false));
        assert_eq!(
            contact.shipping_address.as_ref().unwrap().city.as_deref(),
            Some("Austin")
        );
        assert_eq!(contact.created_at, t("2025-05-01T10:00:00Z"));

        let subscriber = SubscriberRecord {
            subscriber_id: 9,
            email: "jane.doe@example.com".into(),
            consents: vec!["marketing_newsletter".into()],
            modified_at: t("2026-02-15T00:00:00Z"),
        };
        let status = marketing_status(&c, Some(&subscriber), now);
        assert!(status.opted_in);
        assert_eq!(status.as_of, t("2026-02-15T00:00:00Z"));
        let contact = customer_contact(
            ctx,
            &c,
            customer_phone(&c, None).unwrap(),
            &status,
            ContactSource::BulkSync,
        );
        assert_eq!(contact.groups[1], "Store subscribers");
    }

    #[test]
    fn merging_keeps_history_and_never_undoes_a_later_erasure() {
        let c = customer("(201) 555-0123", "US");
        let now = t("2026-03-01T12:00:00Z");
        let s = settings(ConsentOption::SmsCheckbox);
        let status = marketing_status(&c, None, now);
        let phone = customer_phone(&c, None).unwrap();
        let (store, directory) = (store(), directory());
        let ctx = SyncContext {
            store: &store,
            settings: &s,
            directory: &directory,
            now,
        };
        let incoming = customer_contact(ctx, &c, phone.clone(), &status, ContactSource::LiveSync);
        let guest = ShopperDetails {
            guest: true,
            ..Default::default()
        };
        let mut existing = shopper_contact(
            None,
            &store,
            &phone,
            &guest,
            ContactSource::GuestOrder,
            t("2025-01-01T00:00:00Z"),
        );
        existing.undeliverable = Some("invalid number".into());
        let merged = merge_customer_contact(Some(&existing), incoming.clone(), now).unwrap();
        assert_eq!(merged.source, ContactSource::GuestOrder);
        assert_eq!(merged.created_at, t("2025-01-01T00:00:00Z"));
        assert_eq!(merged.undeliverable.as_deref(), Some("invalid number"));
        assert!(merged.groups.iter().any(|g| g == GUEST_GROUP));
        assert_eq!(merged.customer_id, Some(7));

        // Deleted while this copy was read: the erasure stands.
        let mut erased = merged.clone();
        erased.erase(now);
        assert_eq!(merge_customer_contact(Some(&erased), incoming.clone(), now), None);
        // Read after the erasure (a customer with this number exists again): data comes back.
        let later = now + chrono::Duration::minutes(5);
        assert!(merge_customer_contact(Some(&erased), incoming, later).is_some());
    }

    #[test]
    fn guests_join_the_guest_group_without_overwriting_a_customer() {
        let c = customer("(201) 555-0123", "US");
        let now = t("2026-03-01T12:00:00Z");
        let status = marketing_status(&c, None, now);
        let phone = customer_phone(&c, None).unwrap();
        let s = settings(ConsentOption::SmsCheckbox);
        let (store, directory) = (store(), directory());
        let ctx = SyncContext {
            store: &store,
            settings: &s,
            directory: &directory,
            now,
        };
        let registered = customer_contact(ctx, &c, phone.clone(), &status, ContactSource::LiveSync);
        let details = ShopperDetails {
            first_name: Some("J".into()),
            email: Some("other@example.com".into()),
            guest: true,
            ..Default::default()
        };
        let contact = shopper_contact(
            Some(&registered),
            &store,
            &phone,
            &details,
            ContactSource::GuestOrder,
            now,
        );
        assert_eq!(contact.first_name.as_deref(), Some("Jane"));
        assert_eq!(contact.email.as_deref(), Some("jane.doe@example.com"));
        assert_eq!(contact.customer_id, Some(7));
        assert!(contact.groups.iter().any(|g| g == GUEST_GROUP));
        let fresh = shopper_contact(None, &store, &phone, &details, ContactSource::GuestOrder, now);
        assert_eq!(fresh.groups, vec![GUEST_GROUP.to_owned()]);
        assert_eq!(fresh.source, ContactSource::GuestOrder);
        assert_eq!(fresh.labels, vec!["BigCommerce".to_owned()]);
    }

    #[test]
    fn import_events_follow_the_option_with_stable_keys() {
        let c = customer("(201) 555-0123", "US");
        let now = t("2026-03-01T12:00:00Z");
        let phone = customer_phone(&c, None).unwrap();
        let status = marketing_status(&c, None, now);
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
