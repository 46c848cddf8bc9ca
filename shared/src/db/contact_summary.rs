//! What the settings page shows about a store's contacts without reading them all: how many there are, and
//! the first few (whose consent it folds).

use super::keys::store_contacts;
use super::{Db, DbError};
use crate::StoreHash;
use crate::model::Contact;
use aws_sdk_dynamodb::types::Select;

impl Db {
    /// The number of contacts of a store, and the first `sample` of them (by phone number). Only the sample
    /// is transferred; the rest is counted by DynamoDB (`Select: COUNT`).
    pub async fn store_contact_sample(&self, store: &StoreHash, sample: usize) -> Result<(u64, Vec<Contact>), DbError> {
        let pk = store_contacts(store);
        let first = self
            .store_list_query(&pk)
            .limit(i32::try_from(sample.max(1)).unwrap_or(i32::MAX))
            .send()
            .await?;
        let items = first.items.unwrap_or_default();
        self.counter.read(items.len());
        let mut contacts: Vec<Contact> = serde_dynamo::from_items(items)?;
        contacts.truncate(sample);
        let mut total = first.count as u64;
        let mut start = first.last_evaluated_key;
        while let Some(key) = start.take() {
            let page = self
                .store_list_query(&pk)
                .select(Select::Count)
                .set_exclusive_start_key(Some(key))
                .send()
                .await?;
            total += page.count as u64;
            start = page.last_evaluated_key;
        }
        Ok((total, contacts))
    }
}
