//! Everything a store holds about one person, found by phone number or email: what the settings page shows
//! when a merchant answers a request ("what do you hold about me", "prove I consented"). Read-only.
//!
//! By phone: the phone's partition (contact, ledger, sent markers, replies, cart markers), then the partitions
//! of its carts and of the carts its reminders were for (cart, reminder send records, decisions: an erasure
//! removes the cart markers, and the reminders' proof must stay readable), then the subscriber record of the contact's
//! email. By email: the store's contacts with that email (the `StoreLists` contact list, filtered here:
//! emails are kept as BigCommerce sent them, so the comparison is on normalised values), each as by phone,
//! and the subscriber record of the email. A cart known only by email (no phone) has no key to find it by and
//! holds nothing the app can text.

use super::keys::{
    CART_SK, CONSENT_PREFIX, CONTACT_SK, DECISION_PREFIX, PHONE_CART_PREFIX, REPLY_PREFIX, SEND_PREFIX, SENT_PREFIX,
    cart_pk, phone_pk,
};
use super::{Db, DbError};
use crate::consent::{ConsentEvent, PastSend, SentKind};
use crate::contacts::{SubscriberRecord, normalize_email};
use crate::model::{Cart, Contact, ReminderDecision, SendRecord};
use crate::replies::ReplyRecord;
use crate::{Phone, StoreHash};
use serde::Serialize;

/// What a merchant looks a person up by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PersonKey {
    Phone(Phone),
    /// Normalised ([`normalize_email`]).
    Email(String),
}

/// One cart that had the person's phone, with its reminders and the decisions behind them.
#[derive(Debug, Clone, Serialize)]
pub struct CartRecords {
    pub cart: Cart,
    /// The reminder send records, by step.
    pub sends: Vec<SendRecord>,
    /// Every consent decision taken for the cart, oldest first.
    pub decisions: Vec<ReminderDecision>,
}

/// Everything held under one phone number at one store.
#[derive(Debug, Clone, Serialize)]
pub struct PhoneRecords {
    pub phone: Phone,
    pub contact: Option<Contact>,
    /// The consent ledger, oldest first.
    pub ledger: Vec<ConsentEvent>,
    /// Every message sent to the number (reminders and transactional), oldest first.
    pub messages: Vec<PastSend>,
    /// The texts the number sent, oldest first.
    pub replies: Vec<ReplyRecord>,
    /// The carts that have this number now or had reminders sent to it (with only those reminders).
    pub carts: Vec<CartRecords>,
}

impl PhoneRecords {
    pub fn is_empty(&self) -> bool {
        self.contact.is_none()
            && self.ledger.is_empty()
            && self.messages.is_empty()
            && self.replies.is_empty()
            && self.carts.is_empty()
    }

    /// The reminder send records of every cart, oldest claim first.
    pub fn reminders(&self) -> Vec<&SendRecord> {
        let mut sends: Vec<&SendRecord> = self.carts.iter().flat_map(|c| &c.sends).collect();
        sends.sort_by_key(|s| s.claimed_at);
        sends
    }

    /// The decision that allowed a reminder: the cart's last "allow" for its step at or before the claim.
    pub fn allowing_decision(&self, send: &SendRecord) -> Option<&ReminderDecision> {
        self.carts
            .iter()
            .filter(|c| c.cart.cart_id == send.cart_id)
            .flat_map(|c| &c.decisions)
            .filter(|d| d.step == send.step && d.outcome == "allow" && d.decided_at <= send.claimed_at)
            .max_by_key(|d| d.decided_at)
    }
}

/// Everything a store holds about one person.
#[derive(Debug, Clone, Serialize)]
pub struct PersonRecords {
    pub store_hash: StoreHash,
    /// Every number found for the person, each with what is held under it.
    pub phones: Vec<PhoneRecords>,
    /// Every (normalised) email found for the person.
    pub emails: Vec<String>,
    /// Newsletter subscriber records of those emails.
    pub subscribers: Vec<SubscriberRecord>,
}

impl PersonRecords {
    pub fn is_empty(&self) -> bool {
        self.phones.iter().all(PhoneRecords::is_empty) && self.subscribers.is_empty()
    }
}

impl Db {
    /// Everything `store` holds about the person `key` names. Reads only that store's partitions.
    pub async fn person_records(&self, store: &StoreHash, key: &PersonKey) -> Result<PersonRecords, DbError> {
        let (mut phones, mut emails) = match key {
            PersonKey::Phone(phone) => (vec![phone.clone()], Vec::new()),
            PersonKey::Email(email) => {
                let phones = self
                    .contacts_with_email(store, email)
                    .await?
                    .into_iter()
                    .map(|c| c.phone)
                    .collect();
                (phones, vec![email.clone()])
            }
        };
        phones.sort();
        phones.dedup();
        let mut records = Vec::with_capacity(phones.len());
        for phone in &phones {
            let held = self.phone_records(store, phone).await?;
            if let Some(email) = held
                .contact
                .as_ref()
                .and_then(|c| c.email.as_deref())
                .and_then(normalize_email)
            {
                emails.push(email);
            }
            records.push(held);
        }
        emails.sort();
        emails.dedup();
        let mut subscribers: Vec<SubscriberRecord> =
            self.subscribers_by_email(store, &emails).await?.into_values().collect();
        subscribers.sort_by(|a, b| a.email.cmp(&b.email));
        Ok(PersonRecords {
            store_hash: store.clone(),
            phones: records,
            emails,
            subscribers,
        })
    }

    /// The store's contacts whose email normalises to `email` (already normalised).
    async fn contacts_with_email(&self, store: &StoreHash, email: &str) -> Result<Vec<Contact>, DbError> {
        let mut contacts = self.store_contacts(store).await?;
        contacts.retain(|c| c.email.as_deref().and_then(normalize_email).as_deref() == Some(email));
        Ok(contacts)
    }

    /// Everything held under one phone at one store.
    pub async fn phone_records(&self, store: &StoreHash, phone: &Phone) -> Result<PhoneRecords, DbError> {
        let items = self.query_partition(&phone_pk(store, phone), None).await?;
        let mut held = PhoneRecords {
            phone: phone.clone(),
            contact: None,
            ledger: Vec::new(),
            messages: Vec::new(),
            replies: Vec::new(),
            carts: Vec::new(),
        };
        let mut cart_ids = Vec::new();
        for item in items {
            let sk = super::sort_key(&item);
            if sk == CONTACT_SK {
                held.contact = Some(serde_dynamo::from_item(item)?);
            } else if sk.starts_with(CONSENT_PREFIX) {
                held.ledger.push(serde_dynamo::from_item(item)?);
            } else if sk.starts_with(SENT_PREFIX) {
                let message: PastSend = serde_dynamo::from_item(item)?;
                // A reminder's cart, even once an erasure removed the cart's marker here: the proof of what
                // was sent under which consent stays readable.
                if let SentKind::CartReminder { cart_id, .. } = &message.kind {
                    cart_ids.push(cart_id.clone());
                }
                held.messages.push(message);
            } else if sk.starts_with(REPLY_PREFIX) {
                held.replies.push(serde_dynamo::from_item(item)?);
            } else if let Some(cart_id) = sk.strip_prefix(PHONE_CART_PREFIX) {
                cart_ids.push(cart_id.to_owned());
            }
        }
        held.ledger.sort_by(|a, b| {
            a.occurred_at
                .cmp(&b.occurred_at)
                .then(a.recorded_at.cmp(&b.recorded_at))
        });
        held.messages.sort_by_key(|m| m.sent_at);
        held.replies.sort_by_key(|r| r.received_at);
        cart_ids.sort();
        cart_ids.dedup();
        for cart_id in cart_ids {
            if let Some(mut cart) = self.cart_records(store, &cart_id).await? {
                // A cart's number can change: only reminders sent to this number, and the cart only while it
                // has this number or had reminders sent to it.
                cart.sends.retain(|send| send.phone == *phone);
                if cart.cart.phone.as_ref() == Some(phone) || !cart.sends.is_empty() {
                    held.carts.push(cart);
                }
            }
        }
        Ok(held)
    }

    /// A cart with its send records and decisions, in one query of its partition.
    async fn cart_records(&self, store: &StoreHash, cart_id: &str) -> Result<Option<CartRecords>, DbError> {
        let items = self.query_partition(&cart_pk(store, cart_id), None).await?;
        let mut cart = None;
        let mut sends = Vec::new();
        let mut decisions = Vec::new();
        for item in items {
            let sk = super::sort_key(&item);
            if sk == CART_SK {
                cart = Some(serde_dynamo::from_item(item)?);
            } else if sk.starts_with(SEND_PREFIX) {
                sends.push(serde_dynamo::from_item(item)?);
            } else if sk.starts_with(DECISION_PREFIX) {
                decisions.push(serde_dynamo::from_item(item)?);
            }
        }
        Ok(cart.map(|cart| CartRecords { cart, sends, decisions }))
    }
}
