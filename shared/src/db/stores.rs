//! Stores, their authorised users and their versioned settings.

use super::keys::{STORE_SK, settings_sk, store_pk, user_sk};
use super::{Db, DbError, n, s, to_item};
use crate::StoreHash;
use crate::model::{MerchantUser, Settings, Store, StoreStatus, UserAccess};
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use chrono::{DateTime, Utc};

impl Db {
    pub async fn get_store(&self, store: &StoreHash) -> Result<Option<Store>, DbError> {
        self.get_as(&store_pk(store), STORE_SK).await
    }

    /// Saves the store record (install and re-install). The settings version is kept on re-install.
    pub async fn put_store(&self, store: &Store) -> Result<(), DbError> {
        self.put(to_item(
            store,
            &[("pk", store_pk(&store.store_hash)), ("sk", STORE_SK.to_owned())],
        )?)
        .await
    }

    /// Marks the store uninstalled: from this moment nothing is sent for it; its access token is deleted at
    /// once, and its data is filed for purging after [`super::PURGE_GRACE_DAYS`].
    pub async fn mark_uninstalled(&self, store: &StoreHash, at: DateTime<Utc>) -> Result<(), DbError> {
        let purge_after = at + chrono::Duration::days(super::PURGE_GRACE_DAYS);
        // The marker first: one left by a crash before the update is dropped by the purge (store installed).
        if self.get_store(store).await?.is_some() {
            self.file_for_purge(store, purge_after).await?;
        }
        self.counter.call();
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(&store_pk(store)))
            .key("sk", s(STORE_SK))
            .update_expression(
                "SET #status = :uninstalled, uninstalled_at = :at, updated_at = :at, purge_after = :purge \
                 REMOVE access_token",
            )
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(
                ":uninstalled",
                serde_dynamo::to_attribute_value(StoreStatus::Uninstalled)?,
            )
            .expression_attribute_values(":at", serde_dynamo::to_attribute_value(at)?)
            .expression_attribute_values(":purge", serde_dynamo::to_attribute_value(purge_after)?)
            .send()
            .await
            .map(|_| ())
            .or_else(|error| {
                if super::is_update_condition_failed(&error) {
                    Ok(())
                } else {
                    Err(error.into())
                }
            })
    }

    /// Records `user` as authorised (the installing user, trusted through the OAuth code exchange). A removal
    /// instant already recorded is kept.
    pub async fn put_user(&self, store: &StoreHash, user: &MerchantUser) -> Result<(), DbError> {
        self.update_user(store, user, None).await.map(|_| ())
    }

    /// Records `user` as authorised by a callback token issued at BigCommerce's `issued_at`, unless they were
    /// removed at or after `removals_from` (checked in the same write, so a concurrent `/remove_user` wins).
    /// `Ok(false)` when such a removal is recorded and nothing was written.
    pub async fn grant_user(
        &self,
        store: &StoreHash,
        user: &MerchantUser,
        removals_from: DateTime<Utc>,
    ) -> Result<bool, DbError> {
        self.update_user(store, user, Some(removals_from)).await
    }

    async fn update_user(
        &self,
        store: &StoreHash,
        user: &MerchantUser,
        unless_removed_from: Option<DateTime<Utc>>,
    ) -> Result<bool, DbError> {
        self.counter.call();
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(&store_pk(store)))
            .key("sk", s(&user_sk(user.id)))
            .update_expression("SET #id = :id, #email = :email, #removed = :false")
            .expression_attribute_names("#id", "id")
            .expression_attribute_names("#email", "email")
            .expression_attribute_names("#removed", "removed")
            .expression_attribute_values(":id", n(user.id))
            .expression_attribute_values(":email", s(&user.email))
            .expression_attribute_values(":false", AttributeValue::Bool(false));
        if let Some(from) = unless_removed_from {
            request = request
                .condition_expression("attribute_not_exists(#removed_at) OR #removed_at < :from")
                .expression_attribute_names("#removed_at", "removed_at")
                .expression_attribute_values(":from", n(from.timestamp()));
        }
        match request.send().await {
            Ok(_) => Ok(true),
            Err(error) if super::is_update_condition_failed(&error) => Ok(false),
            Err(error) => Err(error.into()),
        }
    }

    /// The store owner removed the user at `at`: they lose access, and the instant is kept (see [`UserAccess`]).
    /// Recorded even for a user who never opened the app, so no older token can bring them in.
    pub async fn remove_user(&self, store: &StoreHash, user: &MerchantUser, at: DateTime<Utc>) -> Result<(), DbError> {
        self.counter.call();
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(&store_pk(store)))
            .key("sk", s(&user_sk(user.id)))
            .update_expression(
                "SET #id = :id, #email = if_not_exists(#email, :email), #removed = :true, #removed_at = :at",
            )
            .expression_attribute_names("#id", "id")
            .expression_attribute_names("#email", "email")
            .expression_attribute_names("#removed", "removed")
            .expression_attribute_names("#removed_at", "removed_at")
            .expression_attribute_values(":id", n(user.id))
            .expression_attribute_values(":email", s(&user.email))
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .expression_attribute_values(":at", n(at.timestamp()))
            .send()
            .await?;
        Ok(())
    }

    /// The user, while they have access to the app at `store`.
    pub async fn get_user(&self, store: &StoreHash, user_id: u64) -> Result<Option<MerchantUser>, DbError> {
        Ok(self.user_access(store, user_id).await?.and_then(|access| access.user()))
    }

    /// The user's access record, removed or not.
    pub async fn user_access(&self, store: &StoreHash, user_id: u64) -> Result<Option<UserAccess>, DbError> {
        self.get_as(&store_pk(store), &user_sk(user_id)).await
    }

    /// Saves `settings` as the next version and makes it current, in one transaction. The caller passes the
    /// version it started from; a concurrent save by another user makes this fail with [`DbError::Conflict`]
    /// instead of silently overwriting.
    pub async fn save_settings(
        &self,
        store: &StoreHash,
        based_on_version: u32,
        mut settings: Settings,
    ) -> Result<Settings, DbError> {
        settings.version = based_on_version + 1;
        let pk = store_pk(store);
        let put = self.put_action(
            to_item(&settings, &[("pk", pk.clone()), ("sk", settings_sk(settings.version))])?,
            Some("attribute_not_exists(pk)"),
        );
        let bump = Update::builder()
            .table_name(&self.table)
            .key("pk", s(&pk))
            .key("sk", s(STORE_SK))
            .update_expression("SET settings_version = :next")
            .condition_expression("settings_version = :current")
            .expression_attribute_values(":next", n(settings.version))
            .expression_attribute_values(":current", n(based_on_version))
            .build()
            .expect("update fields set");
        // Saving a sender proves nothing: the operator's approval (`approve_sender`) makes it usable.
        let actions = vec![put, TransactWriteItem::builder().update(bump).build()];
        match self.transact(actions).await? {
            Ok(()) => Ok(settings),
            Err(_) => Err(DbError::Conflict(format!(
                "settings of {store} changed since version {based_on_version}; reload and save again"
            ))),
        }
    }

    pub async fn settings_version(&self, store: &StoreHash, version: u32) -> Result<Option<Settings>, DbError> {
        self.get_as(&store_pk(store), &settings_sk(version)).await
    }

    /// The store and the settings in force (`None` until the merchant has connected). The store record is
    /// read every time; the settings version it names once per warm Lambda (see `db/settings_cache.rs`).
    pub async fn store_with_settings(&self, store: &StoreHash) -> Result<Option<(Store, Option<Settings>)>, DbError> {
        let Some(record) = self.get_store(store).await? else {
            return Ok(None);
        };
        let settings = match record.settings_version {
            0 => None,
            version => match self.settings_cache.get(store, record.installed_at, version) {
                Some(settings) => Some(settings),
                None => {
                    let settings = self.settings_version(store, version).await?;
                    if let Some(settings) = &settings {
                        self.settings_cache
                            .insert(store, record.installed_at, version, settings);
                    }
                    settings
                }
            },
        };
        Ok(Some((record, settings)))
    }
}
