//! Erasure of one person at one store: a customer deleted in BigCommerce, or the merchant answering a
//! "delete my data" request. Every item that holds the person's name, email, number or cart contents is
//! scrubbed or deleted; what proves consent and each message sent under it stays (see `docs/retention.md`):
//! the ledger, its idempotency markers, the phone's sent markers, the erased contact (the number only) and the
//! send records with their bodies replaced.
//!
//! Idempotent, and safe to re-run after a crash half-way: suppression is recorded first, every later step
//! finds what is left from the phone's partition, and a cart's marker under the phone is deleted only after
//! the cart and its send records were scrubbed.

use super::keys::{
    ERASURE_PREFIX, SUBSCRIBER_SK, TTL_ATTRIBUTE, cart_pk, deleted_customer_tombstone, erasure_sk, group_pk,
    phone_cart_sk, phone_pk, send_sk, store_pk, subscriber_email_pk, token_pk,
};
use super::{Db, DbError, n, s, to_item};
use crate::consent::{ConsentEvent, ConsentEventKind, Purpose};
use crate::model::contact::GUEST_GROUP;
use crate::model::{CartStatus, Contact, OptOutLink};
use crate::{Phone, StoreHash};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// How long a deleted customer's tombstone keeps in-flight copies of them (sync pages, live events) erased.
pub const TOMBSTONE_DAYS: i64 = 30;

/// Who is to be erased: their numbers and (normalised, [`crate::contacts::normalize_email`]) emails.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Person {
    pub phones: Vec<Phone>,
    pub emails: Vec<String>,
}

/// Why a person is erased.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cause", rename_all = "snake_case")]
pub enum ErasureCause {
    /// The merchant deleted the customer in BigCommerce (`store/customer/deleted`).
    CustomerDeleted { customer_id: u64 },
    /// A merchant user erased the person from the settings page (a shopper's "delete my data" request).
    MerchantRequest { user_id: u64, user_email: String },
}

/// What an erasure did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErasureReport {
    /// Items kept with their personal data removed (contact, carts, send records).
    pub items_scrubbed: u32,
    /// Items deleted (replies, subscriber records, group memberships, cart markers, opt-out links).
    pub items_deleted: u32,
    /// The numbers erased; each stays in the kept proof and stays suppressed if it was opted out or erased.
    pub phones: Vec<Phone>,
    /// The numbers that got an erasure event in their ledger by this run (a merchant request over a ledger
    /// that had consent records).
    pub suppressed: Vec<Phone>,
}

/// The record of one erasure, in the store's partition: who asked, why, when, what was done. It names the
/// numbers (kept in the proof anyway), never the name or email.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErasureRecord {
    pub store_hash: StoreHash,
    pub cause: ErasureCause,
    pub erased_at: DateTime<Utc>,
    pub report: ErasureReport,
}

/// What a send record's body becomes: enough to tell which template sent it (the settings version is kept).
pub fn erased_body(step: u8, settings_version: u32) -> String {
    format!("[erased: reminder step {step} from the template of settings version {settings_version}]")
}

impl ErasureCause {
    /// The ledger's `requested_by` for a merchant's erasure (the user's id: no email of anyone).
    fn requested_by(&self) -> Option<String> {
        match self {
            Self::MerchantRequest { user_id, .. } => Some(format!("merchant user {user_id}")),
            Self::CustomerDeleted { .. } => None,
        }
    }
}

impl Db {
    /// Erases `person` at `store` (see the module docs). `at` is the erasure's time (the clock's now).
    pub async fn erase_person(
        &self,
        store: &StoreHash,
        person: &Person,
        cause: &ErasureCause,
        at: DateTime<Utc>,
    ) -> Result<ErasureReport, DbError> {
        let mut report = ErasureReport::default();
        let mut phones: BTreeSet<Phone> = person.phones.iter().cloned().collect();
        let mut emails: BTreeSet<String> = person.emails.iter().map(|e| e.trim().to_lowercase()).collect();
        let mut customer_ids: BTreeSet<u64> = BTreeSet::new();
        if let ErasureCause::CustomerDeleted { customer_id } = cause {
            customer_ids.insert(*customer_id);
            // First the tombstone: a copy of the customer being written right now finds it afterwards.
            self.first_sighting(
                &deleted_customer_tombstone(store, *customer_id),
                at,
                Duration::days(TOMBSTONE_DAYS),
            )
            .await?;
            if let Some(contact) = self.contact_by_customer(store, *customer_id).await? {
                phones.insert(contact.phone.clone());
            }
        }
        // Group names a membership item of the number may be under (stale ones included).
        let mut groups: BTreeSet<String> = BTreeSet::from([GUEST_GROUP.to_owned()]);
        if let Some((_, Some(settings))) = self.store_with_settings(store).await? {
            groups.insert(settings.subscriber_group.clone());
            groups.insert(settings.customer_group.clone());
        }
        if let Some(directory) = self.store_directory(store).await? {
            groups.extend(directory.customer_groups.values().cloned());
        }

        for phone in &phones {
            self.erase_phone(
                store,
                phone,
                cause,
                at,
                &groups,
                &mut emails,
                &mut customer_ids,
                &mut report,
            )
            .await?;
            report.phones.push(phone.clone());
        }
        // A merchant-requested erasure of a customer: in-flight copies of them stay erased too.
        if matches!(cause, ErasureCause::MerchantRequest { .. }) {
            for customer_id in &customer_ids {
                self.first_sighting(
                    &deleted_customer_tombstone(store, *customer_id),
                    at,
                    Duration::days(TOMBSTONE_DAYS),
                )
                .await?;
            }
        }
        for email in &emails {
            if self
                .delete_existing(&subscriber_email_pk(store, email), SUBSCRIBER_SK)
                .await?
            {
                report.items_deleted += 1;
            }
        }
        let record = ErasureRecord {
            store_hash: store.clone(),
            cause: cause.clone(),
            erased_at: at,
            report: report.clone(),
        };
        let mut item = to_item(&record, &[("pk", store_pk(store)), ("sk", erasure_sk(at))])?;
        // Proof that the request was answered, kept as long as consent proof.
        let until = at + Duration::days(super::PROOF_RETENTION_DAYS);
        item.insert(TTL_ATTRIBUTE.to_owned(), n(until.timestamp()));
        self.put(item).await?;
        Ok(report)
    }

    #[allow(clippy::too_many_arguments)]
    async fn erase_phone(
        &self,
        store: &StoreHash,
        phone: &Phone,
        cause: &ErasureCause,
        at: DateTime<Utc>,
        groups: &BTreeSet<String>,
        emails: &mut BTreeSet<String>,
        customer_ids: &mut BTreeSet<u64>,
        report: &mut ErasureReport,
    ) -> Result<(), DbError> {
        let pk = phone_pk(store, phone);
        let snapshot = self.phone_snapshot(store, phone).await?;
        // Suppression first, so nothing is sent to the number while the rest is scrubbed.
        if let Some(requested_by) = cause.requested_by() {
            let already = snapshot
                .ledger
                .last()
                .is_some_and(|e| matches!(e.kind, ConsentEventKind::Erasure { .. }));
            if !snapshot.ledger.is_empty() && !already {
                let event = ConsentEvent::new(
                    store.clone(),
                    phone.clone(),
                    Purpose::Marketing,
                    at,
                    at,
                    format!("erasure:{}", at.timestamp_millis()),
                    ConsentEventKind::Erasure { requested_by },
                );
                self.append_consent(&event).await?;
                report.suppressed.push(phone.clone());
            }
        }
        self.cancel_reminders(store, phone, at).await?;

        if let Some(contact) = &snapshot.contact {
            emails.extend(contact.email.iter().map(|e| e.trim().to_lowercase()));
            customer_ids.extend(contact.customer_id);
        }
        for cart_id in self.carts_of_phone(store, phone).await? {
            self.erase_cart(store, phone, &cart_id, at, emails, report).await?;
            if self.delete_existing(&pk, &phone_cart_sk(&cart_id)).await? {
                report.items_deleted += 1;
            }
        }
        for reply in self.replies(store, phone).await? {
            let sk = super::keys::reply_sk(reply.received_at, &reply.provider, &reply.message_id);
            if self.delete_existing(&pk, &sk).await? {
                report.items_deleted += 1;
            }
        }
        let mut contact_groups = groups.clone();
        if let Some(contact) = &snapshot.contact {
            contact_groups.extend(contact.groups.iter().cloned());
        }
        for group in &contact_groups {
            if self.delete_existing(&group_pk(store, group), phone.as_e164()).await? {
                report.items_deleted += 1;
            }
        }
        // Last, the contact: kept with the number only, so the store's lists still show it as erased.
        if let Some(mut contact) = snapshot.contact.filter(|c| !is_erased(c)) {
            contact.erase(at);
            contact.subscribed_in_bigcommerce = None;
            contact.labels.clear();
            // Erased, it has no group memberships: one item, one PutItem.
            for item in Self::contact_items(&contact)? {
                self.put(item).await?;
            }
            report.items_scrubbed += 1;
        }
        Ok(())
    }

    /// Scrubs one cart of the number (if it still has it) and the bodies of the reminders sent to the number.
    async fn erase_cart(
        &self,
        store: &StoreHash,
        phone: &Phone,
        cart_id: &str,
        at: DateTime<Utc>,
        emails: &mut BTreeSet<String>,
        report: &mut ErasureReport,
    ) -> Result<(), DbError> {
        for send in self.cart_sends(store, cart_id).await? {
            if send.phone != *phone {
                continue;
            }
            let body = erased_body(send.step, send.settings_version);
            if send.body == body {
                continue;
            }
            // The message carried the number's one-click opt-out link: the number is suppressed or erased now.
            for token in opt_out_tokens(&send.body) {
                if self.delete_existing(&token_pk(&token), OptOutLink::TOKEN_KIND).await? {
                    report.items_deleted += 1;
                }
            }
            self.counter.call();
            self.client
                .update_item()
                .table_name(&self.table)
                .key("pk", s(&cart_pk(store, cart_id)))
                .key("sk", s(&send_sk(send.step)))
                .update_expression("SET body = :body")
                .condition_expression("attribute_exists(pk)")
                .expression_attribute_values(":body", s(&body))
                .send()
                .await?;
            report.items_scrubbed += 1;
        }
        let Some(mut cart) = self.get_cart(store, cart_id).await? else {
            return Ok(());
        };
        // The marker outlives a phone change on the cart: a cart that moved to another number is not this
        // person's any more.
        if cart.phone.as_ref() != Some(phone) {
            return Ok(());
        }
        emails.extend(cart.email.iter().map(|e| e.trim().to_lowercase()));
        cart.email = None;
        cart.first_name = None;
        cart.phone = None;
        cart.line_items.clear();
        cart.state_code = None;
        cart.next_due_at = None;
        if !cart.status.is_final() {
            cart.status = CartStatus::Deleted;
        }
        cart.updated_at = at;
        self.put_cart(&cart, at).await?;
        report.items_scrubbed += 1;
        Ok(())
    }

    /// Deletes one item; `Ok(true)` when it existed.
    pub(crate) async fn delete_existing(&self, pk: &str, sk: &str) -> Result<bool, DbError> {
        self.counter.call();
        let output = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await?;
        Ok(output.attributes.is_some_and(|a| !a.is_empty()))
    }

    /// The erasures recorded for a store, oldest first.
    pub async fn erasures(&self, store: &StoreHash) -> Result<Vec<ErasureRecord>, DbError> {
        let items = self.query_prefix(&store_pk(store), ERASURE_PREFIX).await?;
        Ok(serde_dynamo::from_items(items)?)
    }
}

fn is_erased(contact: &Contact) -> bool {
    contact.erased_at.is_some()
        && contact.first_name.is_none()
        && contact.last_name.is_none()
        && contact.email.is_none()
        && contact.customer_id.is_none()
        && contact.shipping_address.is_none()
        && contact.groups.is_empty()
}

/// The tokens of one-click opt-out links (`…/stop/{token}`) in a message body.
fn opt_out_tokens(body: &str) -> Vec<String> {
    body.split("/stop/")
        .skip(1)
        .map(|rest| {
            rest.chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                .collect::<String>()
        })
        .filter(|token| !token.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn opt_out_tokens_are_read_from_bodies() {
        let body = "Acme: Hi, your cart. https://app.example.com/r/abc\nOpt out: https://app.example.com/stop/Tok-en_1";
        assert_eq!(super::opt_out_tokens(body), vec!["Tok-en_1".to_owned()]);
        assert!(super::opt_out_tokens("Reply STOP to opt out").is_empty());
    }
}
