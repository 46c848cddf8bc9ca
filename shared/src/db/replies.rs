//! What replies and delivery reports change in a phone's partition: the inbound texts kept for the merchant,
//! the end of the phone's pending reminders, the undeliverable flag on the contact.

use super::keys::REPLY_RETENTION_DAYS;
use super::keys::{CONTACT_SK, REPLY_PREFIX, phone_pk, reply_sk};
use super::{Db, DbError, s, to_item, with_ttl};
use crate::replies::ReplyRecord;
use crate::{Phone, StoreHash};
use chrono::{DateTime, Utc};

/// Attempts at clearing one cart's due time while other writers (the sweep, live sync) change it.
const CANCEL_ATTEMPTS: u32 = 5;

impl Db {
    /// Keeps an inbound text (and what the app did about it) in the phone's partition. Writing the same
    /// text again overwrites it with the same key.
    pub async fn put_reply(&self, reply: &ReplyRecord) -> Result<(), DbError> {
        let item = to_item(
            reply,
            &[
                ("pk", phone_pk(&reply.store_hash, &reply.phone)),
                ("sk", reply_sk(reply.received_at, &reply.provider, &reply.message_id)),
            ],
        )?;
        let until = reply.received_at + chrono::Duration::days(REPLY_RETENTION_DAYS);
        self.put(with_ttl(item, until)).await
    }

    /// The texts a phone sent to a store, oldest first.
    pub async fn replies(&self, store: &StoreHash, phone: &Phone) -> Result<Vec<ReplyRecord>, DbError> {
        let items = self.query_prefix(&phone_pk(store, phone), REPLY_PREFIX).await?;
        Ok(serde_dynamo::from_items(items)?)
    }

    /// Ends the pending reminders of every cart that has this phone (an opt-out, an undeliverable number):
    /// clears their due time, so the sweep no longer finds them. Each cart is changed with the sweep's own
    /// compare-and-set on `next_due_at`, so a concurrent writer is never overwritten; a lost race is re-read
    /// and retried. Returns how many carts had a reminder pending.
    pub async fn cancel_reminders(
        &self,
        store: &StoreHash,
        phone: &Phone,
        now: DateTime<Utc>,
    ) -> Result<usize, DbError> {
        let mut cancelled = 0;
        for cart_id in self.carts_of_phone(store, phone).await? {
            for attempt in 0.. {
                let Some(mut cart) = self.get_cart(store, &cart_id).await? else {
                    break;
                };
                let Some(due) = cart.next_due_at else { break };
                // The marker outlives a phone change on the cart: only this phone's reminders end.
                if cart.phone.as_ref() != Some(phone) {
                    break;
                }
                cart.next_due_at = None;
                cart.updated_at = now;
                if self.put_cart_if_due(&cart, due, now).await? {
                    cancelled += 1;
                    break;
                }
                if attempt + 1 >= CANCEL_ATTEMPTS {
                    return Err(DbError::Conflict(format!(
                        "cart {cart_id} kept changing while its reminders were being cancelled"
                    )));
                }
            }
        }
        Ok(cancelled)
    }

    /// Flags the contact as undeliverable (a provider reported the number invalid or unable to receive
    /// texts). `Ok(false)` when the store has no contact for the phone.
    pub async fn mark_undeliverable(
        &self,
        store: &StoreHash,
        phone: &Phone,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, DbError> {
        self.counter.call();
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(&phone_pk(store, phone)))
            .key("sk", s(CONTACT_SK))
            .update_expression("SET undeliverable = :reason, updated_at = :now")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":reason", s(reason))
            .expression_attribute_values(":now", serde_dynamo::to_attribute_value(now)?)
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(error) if super::is_update_condition_failed(&error) => Ok(false),
            Err(error) => Err(error.into()),
        }
    }
}
