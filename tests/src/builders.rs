//! Records that tests write straight to the table, with only what every such record has: a test names the
//! fields it is about with struct update syntax, `Contact { email: Some(..), ..contact(..) }`.

use chrono::{DateTime, Utc};
use shared::model::{Contact, ContactSource, ReminderClaim, SendRecord};
use shared::{Phone, StoreHash};

/// A contact known by its phone alone: no name, email, customer, groups or labels.
pub fn contact(store: &StoreHash, phone: &Phone, source: ContactSource, at: DateTime<Utc>) -> Contact {
    Contact {
        store_hash: store.clone(),
        phone: phone.clone(),
        first_name: None,
        last_name: None,
        email: None,
        customer_id: None,
        groups: vec![],
        notes: None,
        tags: vec![],
        shipping_address: None,
        subscribed_in_bigcommerce: None,
        labels: vec![],
        source,
        created_at: at,
        updated_at: at,
        erased_at: None,
        undeliverable: None,
    }
}

/// A cart's first reminder as `claim_send` writes it: claimed at `at` under settings version 1, one segment,
/// nothing sent yet.
pub fn claimed_send(store: &StoreHash, cart_id: &str, phone: &Phone, at: DateTime<Utc>) -> SendRecord {
    SendRecord::claimed(ReminderClaim {
        store_hash: store.clone(),
        cart_id: cart_id.to_owned(),
        step: 1,
        phone: phone.clone(),
        claimed_at: at,
        ledger_event_id: "evt".into(),
        settings_version: 1,
        body: "Acme Outfitters: you left something behind".into(),
        segments: 1,
        link_token: "tok".into(),
        coupon_body: None,
    })
}
