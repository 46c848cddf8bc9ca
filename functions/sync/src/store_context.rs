//! What every sync handler starts from: the store, its settings in force and an API client, read once per
//! message; and the store's directory of names (customer groups, attributes, country).

use crate::{Deps, SyncError};
use chrono::{DateTime, Utc};
use shared::StoreHash;
use shared::bigcommerce::StoreClient;
use shared::contacts::StoreDirectory;
use shared::model::{Settings, Store};

pub struct StoreContext {
    pub store: Store,
    /// `None` until the merchant connects.
    pub settings: Option<Settings>,
    pub client: StoreClient,
    pub now: DateTime<Utc>,
}

/// A directory older than this is re-read when it lacks a name we need.
const DIRECTORY_REFRESH_MINUTES: i64 = 10;

impl StoreContext {
    /// `None` when we do not know the store.
    pub async fn load(deps: &Deps, store_hash: &StoreHash) -> Result<Option<Self>, SyncError> {
        let Some((store, settings)) = deps.aws.db.store_with_settings(store_hash).await? else {
            return Ok(None);
        };
        let client = deps.bigcommerce.store_client(&store).await?;
        Ok(Some(Self {
            store,
            settings,
            client,
            now: deps.clock.now(),
        }))
    }

    pub fn hash(&self) -> &StoreHash {
        &self.store.store_hash
    }

    /// The settings when reminders may be scheduled: the store is installed and connected.
    pub fn reminders(&self) -> Option<&Settings> {
        self.settings.as_ref().filter(|_| self.store.is_installed())
    }

    /// The settings when contacts are synced.
    pub fn contact_sync(&self) -> Option<&Settings> {
        self.settings.as_ref().filter(|s| s.sync_contacts)
    }

    /// The stored directory; re-read from BigCommerce when there is none, or when it lacks `group_id` and was
    /// read more than a few minutes ago (a group created since).
    pub async fn directory(&self, deps: &Deps, group_id: Option<u64>) -> Result<StoreDirectory, SyncError> {
        let stored = deps.aws.db.store_directory(self.hash()).await?;
        let fresh_enough = |d: &StoreDirectory| {
            let knows_group = group_id.is_none_or(|id| id == 0 || d.customer_groups.contains_key(&id));
            knows_group || self.now - d.refreshed_at < chrono::Duration::minutes(DIRECTORY_REFRESH_MINUTES)
        };
        match stored {
            Some(directory) if fresh_enough(&directory) => Ok(directory),
            _ => self.refresh_directory(deps).await,
        }
    }

    /// Reads the customer groups, attribute names and store country from BigCommerce and keeps them.
    pub async fn refresh_directory(&self, deps: &Deps) -> Result<StoreDirectory, SyncError> {
        let groups = self.client.customer_groups().await?;
        let attributes = self.client.customer_attributes().await?;
        let info = self.client.store_information().await?;
        let directory = StoreDirectory {
            customer_groups: groups.into_iter().map(|g| (g.id, g.name)).collect(),
            attributes: attributes.into_iter().map(|a| (a.id, a.name)).collect(),
            country_code: Some(info.country_code.trim().to_ascii_uppercase()).filter(|c| c.len() == 2),
            refreshed_at: self.now,
        };
        deps.aws.db.put_store_directory(self.hash(), &directory).await?;
        Ok(directory)
    }
}
