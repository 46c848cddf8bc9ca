//! BigCommerce's wire types mapped to the domain ("map at the adapter"): customers, subscribers and orders
//! to contacts and consent events, checkouts to cart contents. `domain::contacts` and `domain::carts` hold
//! the rules; they never see a wire type. Both are re-exported with these functions as `shared::contacts`
//! and `shared::carts`.

use super::{Checkout, Customer, Order, Subscriber, SubscriberConsent};
use crate::carts::CartContents;
use crate::consent::{ConsentEvent, ConsentEventKind, Purpose};
use crate::contacts::{
    CHECKOUT_OFFERS_SMS_OPT_OUT, MarketingStatus, PhoneSkip, ShopperDetails, SubscriberRecord, SyncContext, non_empty,
    normalize_email, parse_phone,
};
use crate::model::contact::BIGCOMMERCE_LABEL;
use crate::model::{Address, Contact, ContactSource, LineItem};
use crate::phone::InvalidPhone;
use crate::{Phone, StoreHash};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

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

/// The subscriber as we keep it; `None` without a usable email.
pub fn subscriber_record(subscriber: &Subscriber, now: DateTime<Utc>) -> Option<SubscriberRecord> {
    let consents = subscriber
        .consents
        .iter()
        .filter_map(|c| match c {
            SubscriberConsent::MarketingNewsletter => Some("marketing_newsletter".to_owned()),
            SubscriberConsent::AbandonedCart => Some("abandoned_cart".to_owned()),
            SubscriberConsent::Other => None,
        })
        .collect();
    Some(SubscriberRecord {
        subscriber_id: subscriber.id,
        email: normalize_email(&subscriber.email)?,
        consents,
        modified_at: subscriber.date_modified.unwrap_or(now).min(now),
    })
}

/// The customer's BigCommerce marketing status, from their account and subscriber record.
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

/// What an order's billing address tells about its shopper.
pub fn shopper_details(order: &Order) -> ShopperDetails {
    let b = &order.billing_address;
    ShopperDetails {
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

/// Reads a checkout. `phone` is the number to text about it: its [`proven_phone`].
pub fn cart_contents(checkout: &Checkout, phone: Option<Phone>) -> CartContents {
    let billing = checkout.billing_address.as_ref();
    let line_items: Vec<LineItem> = checkout
        .cart
        .line_items
        .all()
        .map(|item| LineItem {
            product_id: item.product_id,
            variant_id: item.variant_id,
            name: item.name.clone(),
            quantity: item.quantity,
            price: item.unit_price(),
            image_url: item.image_url.clone(),
        })
        .collect();
    let amount = line_items
        .iter()
        .map(|i| i.price * Decimal::from(i.quantity))
        .sum::<Decimal>()
        .normalize();
    let text = |value: Option<&str>| value.map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned);
    CartContents {
        customer_id: checkout.cart.customer_id,
        channel_id: checkout.cart.channel_id,
        email: text(checkout.cart.email.as_deref())
            .or_else(|| text(billing.and_then(|b| b.email.as_deref())))
            .map(|e| e.to_lowercase()),
        first_name: text(billing.map(|b| b.first_name.as_str())),
        phone,
        country_code: text(billing.map(|b| b.country_code.as_str())).map(|c| c.to_ascii_uppercase()),
        state_code: text(billing.map(|b| b.state_or_province_code.as_str())),
        line_items,
        amount,
        currency: checkout.cart.currency.code.to_ascii_uppercase(),
    }
}

/// The checkout's billing phone read with its billing country: `None` when it has none, an error when it
/// cannot be texted.
pub fn billing_phone(checkout: &Checkout) -> Option<Result<Phone, InvalidPhone>> {
    let raw = checkout.billing_phone().map(str::trim).filter(|raw| !raw.is_empty())?;
    let country = checkout
        .billing_address
        .as_ref()
        .map(|b| b.country_code.as_str())
        .filter(|c| c.len() == 2);
    Some(parse_phone(raw, country))
}

/// The number a checkout proves is its shopper's, the only number a reminder about it may go to: the billing
/// phone, else, for a signed-in customer, `customer_phone` (their own contact's number). A number ticked in
/// the consent checkbox is never one on its own: whoever built the cart may have typed anyone's number there.
pub fn proven_phone(checkout: &Checkout, customer_phone: Option<&Phone>) -> Option<Phone> {
    billing_phone(checkout)
        .and_then(Result::ok)
        .or_else(|| customer_phone.filter(|_| checkout.cart.customer_id != 0).cloned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contacts::{StoreDirectory, merge_customer_contact, shopper_contact};
    use crate::model::contact::GUEST_GROUP;
    use crate::model::{ConsentOption, MerchantUser, Settings};

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

    fn checkout(phone: &str, country: &str, quantity: u32) -> Checkout {
        serde_json::from_value(serde_json::json!({
            "id": "c1",
            "cart": {"id": "c1", "customer_id": 0, "channel_id": 1, "email": "Guest@Example.com",
                     "currency": {"code": "usd"},
                     "line_items": {"physical_items": [{"id": "i1", "product_id": 5, "variant_id": 6, "name": "Mug",
                                    "quantity": quantity, "list_price": 12.5, "sale_price": 10.0,
                                    "image_url": "https://cdn.example.com/mug.jpg"}]}},
            "billing_address": {"first_name": "Ann", "last_name": "Lee", "country_code": country,
                                "state_or_province_code": "FL", "phone": phone},
            "grand_total": 20.0
        }))
        .unwrap()
    }

    fn contents(quantity: u32) -> CartContents {
        let c = checkout("+1 305 555 0100", "US", quantity);
        let phone = Phone::parse(c.billing_phone().unwrap(), Some("US")).ok();
        cart_contents(&c, phone)
    }

    #[test]
    fn only_the_billing_phone_or_a_signed_in_customers_own_number_is_proven() {
        let own = Phone::parse("+61412999888", None).unwrap();
        // The billing phone, read with the billing country.
        let billed = checkout("0412 345 678", "AU", 1);
        assert_eq!(proven_phone(&billed, Some(&own)).unwrap().as_e164(), "+61412345678");
        // A guest without one proves nothing, whatever number is offered.
        let unbilled = checkout("", "AU", 1);
        assert!(billing_phone(&unbilled).is_none());
        assert_eq!(proven_phone(&unbilled, Some(&own)), None);
        // A signed-in customer's own number stands in until the billing step.
        let mut signed_in = unbilled.clone();
        signed_in.cart.customer_id = 7;
        assert_eq!(proven_phone(&signed_in, Some(&own)), Some(own.clone()));
        assert_eq!(proven_phone(&signed_in, None), None);
        // A billing phone that cannot be texted is an error, and proves nothing.
        let landline = checkout("(02) 9374 4000", "AU", 1);
        assert!(matches!(billing_phone(&landline), Some(Err(_))));
        assert_eq!(proven_phone(&landline, None), None);
    }

    #[test]
    fn reads_a_checkout_into_cart_contents() {
        let c = contents(2);
        assert_eq!(c.email.as_deref(), Some("guest@example.com"));
        assert_eq!(c.first_name.as_deref(), Some("Ann"));
        assert_eq!(c.phone.as_ref().unwrap().as_e164(), "+13055550100");
        assert_eq!(c.country_code.as_deref(), Some("US"));
        assert_eq!(c.state_code.as_deref(), Some("FL"));
        assert_eq!(c.currency, "USD");
        assert_eq!(c.line_items[0].price, Decimal::new(10, 0));
        assert_eq!(c.amount, Decimal::new(20, 0));
    }
}
