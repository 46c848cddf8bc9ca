//! What the contact sync keeps of a store's BigCommerce lists besides contacts: the directory of names it
//! reads ids against (customer groups, customer attributes, the store's country) and the newsletter
//! subscribers, by email (a customer's marketing status) and by id (who a deleted subscriber was).

use super::keys::{DIRECTORY_SK, SUBSCRIBER_SK, store_pk, subscriber_email_pk, subscriber_lookup};
use super::{Db, DbError, Item, to_item};
use crate::StoreHash;
use crate::contacts::{StoreDirectory, SubscriberRecord};
use std::collections::HashMap;

impl Db {
    pub async fn put_store_directory(&self, store: &StoreHash, directory: &StoreDirectory) -> Result<(), DbError> {
        self.put(to_item(
            directory,
            &[("pk", store_pk(store)), ("sk", DIRECTORY_SK.to_owned())],
        )?)
        .await
    }

    pub async fn store_directory(&self, store: &StoreHash) -> Result<Option<StoreDirectory>, DbError> {
        self.get_as(&store_pk(store), DIRECTORY_SK).await
    }

    fn subscriber_item(store: &StoreHash, subscriber: &SubscriberRecord) -> Result<Item, DbError> {
        to_item(
            subscriber,
            &[
                ("pk", subscriber_email_pk(store, &subscriber.email)),
                ("sk", SUBSCRIBER_SK.to_owned()),
                ("gsi1pk", subscriber_lookup(store, subscriber.subscriber_id)),
                ("gsi1sk", SUBSCRIBER_SK.to_owned()),
                ("gsi2pk", super::keys::store_subscribers(store)),
                ("gsi2sk", subscriber.email.clone()),
            ],
        )
    }

    /// Saves subscribers with batched writes (the bulk sync's subscriber pages, live subscriber events).
    pub async fn put_subscribers(&self, store: &StoreHash, subscribers: &[SubscriberRecord]) -> Result<(), DbError> {
        // Two records with one email in a batch would be two writes to one item.
        let mut by_email: HashMap<&str, &SubscriberRecord> = HashMap::new();
        for subscriber in subscribers {
            by_email
                .entry(subscriber.email.as_str())
                .and_modify(|kept| {
                    if subscriber.modified_at > kept.modified_at {
                        *kept = subscriber;
                    }
                })
                .or_insert(subscriber);
        }
        let items = by_email
            .values()
            .map(|subscriber| Self::subscriber_item(store, subscriber))
            .collect::<Result<Vec<_>, _>>()?;
        self.batch_put(items).await
    }

    /// The subscribers among `emails` (normalised), keyed by email.
    pub async fn subscribers_by_email(
        &self,
        store: &StoreHash,
        emails: &[String],
    ) -> Result<HashMap<String, SubscriberRecord>, DbError> {
        let mut unique: Vec<&String> = emails.iter().collect();
        unique.sort();
        unique.dedup();
        let keys = unique
            .into_iter()
            .map(|email| (subscriber_email_pk(store, email), SUBSCRIBER_SK.to_owned()))
            .collect();
        let items = self.batch_get(keys).await?;
        let records: Vec<SubscriberRecord> = serde_dynamo::from_items(items)?;
        Ok(records.into_iter().map(|r| (r.email.clone(), r)).collect())
    }

    /// The subscriber with this BigCommerce id, as last seen (the index is eventually consistent).
    pub async fn subscriber_by_id(
        &self,
        store: &StoreHash,
        subscriber_id: u64,
    ) -> Result<Option<SubscriberRecord>, DbError> {
        match self
            .lookup_first(&subscriber_lookup(store, subscriber_id), Some(SUBSCRIBER_SK))
            .await?
        {
            Some(item) => Ok(Some(serde_dynamo::from_item(item)?)),
            None => Ok(None),
        }
    }
}
