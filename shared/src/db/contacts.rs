//! Contacts: by (store, phone), by BigCommerce customer id, by group, and all of a store's.

use super::keys::{CONTACT_SK, customer_lookup, group_pk, phone_pk, store_contacts};
use super::{Db, DbError, Item, to_item};
use crate::model::Contact;
use crate::{Phone, StoreHash};

impl Db {
    pub(super) fn contact_items(contact: &Contact) -> Result<Vec<Item>, DbError> {
        let pk = phone_pk(&contact.store_hash, &contact.phone);
        let mut keys = vec![
            ("pk", pk.clone()),
            ("sk", CONTACT_SK.to_owned()),
            ("gsi2pk", store_contacts(&contact.store_hash)),
            ("gsi2sk", contact.phone.as_e164().to_owned()),
        ];
        if let Some(customer_id) = contact.customer_id {
            keys.push(("gsi1pk", customer_lookup(&contact.store_hash, customer_id)));
            keys.push(("gsi1sk", CONTACT_SK.to_owned()));
        }
        let mut items = vec![to_item(contact, &keys)?];
        for group in &contact.groups {
            let membership = serde_json::json!({ "phone": contact.phone.as_e164(), "group": group });
            items.push(to_item(
                &membership,
                &[
                    ("pk", group_pk(&contact.store_hash, group)),
                    ("sk", contact.phone.as_e164().to_owned()),
                ],
            )?);
        }
        Ok(items)
    }

    pub async fn get_contact(&self, store: &StoreHash, phone: &Phone) -> Result<Option<Contact>, DbError> {
        self.get_as(&phone_pk(store, phone), CONTACT_SK).await
    }

    /// Saves one contact and its group memberships.
    pub async fn put_contact(&self, contact: &Contact) -> Result<(), DbError> {
        let new = self
            .get(&phone_pk(&contact.store_hash, &contact.phone), CONTACT_SK)
            .await?
            .is_none();
        self.batch_put(Self::contact_items(contact)?).await?;
        if new {
            self.count_new_contacts(&contact.store_hash, 1).await?;
        }
        Ok(())
    }

    /// Saves many contacts (and their group memberships) with batched writes, and adds the ones that were not
    /// saved before to the store's contact count (read before the write, so a retried write counts nothing).
    pub async fn put_contacts(&self, contacts: &[Contact]) -> Result<(), DbError> {
        let mut items = Vec::with_capacity(contacts.len() * 2);
        let mut by_store: std::collections::BTreeMap<&StoreHash, std::collections::BTreeSet<&Phone>> =
            Default::default();
        for contact in contacts {
            items.extend(Self::contact_items(contact)?);
            by_store.entry(&contact.store_hash).or_default().insert(&contact.phone);
        }
        let mut new_by_store = Vec::new();
        for (store, phones) in by_store {
            let phones: Vec<Phone> = phones.into_iter().cloned().collect();
            let existing = self.get_contacts(store, &phones).await?.len();
            new_by_store.push((store, (phones.len() - existing.min(phones.len())) as i64));
        }
        self.batch_put(items).await?;
        for (store, new) in new_by_store {
            if new > 0 {
                self.count_new_contacts(store, new).await?;
            }
        }
        Ok(())
    }

    /// Reads the existing contacts among `phones` (batched), e.g. to merge a sync page into them.
    pub async fn get_contacts(&self, store: &StoreHash, phones: &[Phone]) -> Result<Vec<Contact>, DbError> {
        let keys = phones
            .iter()
            .map(|phone| (phone_pk(store, phone), CONTACT_SK.to_owned()))
            .collect();
        let items = self.batch_get(keys).await?;
        Ok(serde_dynamo::from_items(items)?)
    }

    /// The contact of a registered customer (customer ids map to at most one phone).
    pub async fn contact_by_customer(&self, store: &StoreHash, customer_id: u64) -> Result<Option<Contact>, DbError> {
        let item = self
            .lookup_first(&customer_lookup(store, customer_id), Some(CONTACT_SK))
            .await?;
        // The index is eventually consistent: re-read the base item for the current version.
        match item {
            Some(item) => {
                let contact: Contact = serde_dynamo::from_item(item)?;
                let current = self.get_contact(store, &contact.phone).await?;
                Ok(current.filter(|c| c.customer_id == Some(customer_id)))
            }
            None => Ok(None),
        }
    }

    /// The contacts currently in `group`. Membership items left by a group change are ignored.
    pub async fn contacts_in_group(&self, store: &StoreHash, group: &str) -> Result<Vec<Contact>, DbError> {
        let memberships = self.query_partition(&group_pk(store, group), None).await?;
        let phones: Vec<Phone> = memberships
            .iter()
            .filter_map(|item| item.get("sk").and_then(|v| v.as_s().ok()))
            .filter_map(|e164| Phone::from_e164(e164).ok())
            .collect();
        let mut contacts = self.get_contacts(store, &phones).await?;
        contacts.retain(|contact| contact.groups.iter().any(|g| g == group));
        contacts.sort_by(|a, b| a.phone.cmp(&b.phone));
        Ok(contacts)
    }

    /// Every contact of a store (for the settings page counts and exports).
    pub async fn store_contacts(&self, store: &StoreHash) -> Result<Vec<Contact>, DbError> {
        let mut contacts = Vec::new();
        let mut start = None;
        loop {
            let output = self
                .store_list_query(&store_contacts(store))
                .set_exclusive_start_key(start.take())
                .send()
                .await?;
            let items = output.items.unwrap_or_default();
            self.counter.read(items.len());
            contacts.extend(serde_dynamo::from_items::<_, Contact>(items)?);
            match output.last_evaluated_key {
                Some(key) => start = Some(key),
                None => return Ok(contacts),
            }
        }
    }
}
