//! The operator's sender approvals: one item per sender listing the stores it is proven for (see
//! [`crate::model::sender`]). Approving is one conditional write, so two stores never both own a sender.

use super::keys::{SENDER_APPROVAL_SK, sender_pk};
use super::{Db, DbError, Item, s};
use crate::StoreHash;
use crate::model::sender::{SenderApproval, SenderSharing, SenderStatus, sender_key};
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};

impl Db {
    /// The operator approves `sender` for `store`. [`SenderSharing::Exclusive`] fails with
    /// [`DbError::Conflict`] when another store already has the sender and it is not shared; approving a store
    /// twice changes nothing. [`SenderSharing::Shared`] marks the sender shared and adds the store.
    pub async fn approve_sender(
        &self,
        sender: &str,
        store: &StoreHash,
        sharing: SenderSharing,
        now: DateTime<Utc>,
    ) -> Result<(), DbError> {
        self.counter.call();
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(&sender_pk(&sender_key(sender))))
            .key("sk", s(SENDER_APPROVAL_SK))
            .expression_attribute_values(":store", AttributeValue::Ss(vec![store.to_string()]))
            .expression_attribute_values(":sender", s(sender.trim()))
            .expression_attribute_values(":at", s(&super::keys::timestamp(now)))
            .expression_attribute_values(":yes", AttributeValue::Bool(true))
            // `shared` is a reserved word; every name goes through a placeholder.
            .expression_attribute_names("#stores", "stores")
            .expression_attribute_names("#sender", "sender")
            .expression_attribute_names("#shared", "shared")
            .expression_attribute_names("#at", "updated_at");
        let update = match sharing {
            SenderSharing::Exclusive => update
                .update_expression(
                    "ADD #stores :store SET #sender = :sender, #at = :at, #shared = if_not_exists(#shared, :no)",
                )
                .expression_attribute_values(":no", AttributeValue::Bool(false))
                .expression_attribute_values(":one", s(store.as_str()))
                .condition_expression("attribute_not_exists(#stores) OR contains(#stores, :one) OR #shared = :yes"),
            SenderSharing::Shared => {
                update.update_expression("ADD #stores :store SET #sender = :sender, #at = :at, #shared = :yes")
            }
        };
        match update.send().await {
            Ok(_) => Ok(()),
            Err(error) if super::is_update_condition_failed(&error) => Err(DbError::Conflict(format!(
                "the sender is approved for another store; approve it as shared to let {store} use it too"
            ))),
            Err(error) => Err(error.into()),
        }
    }

    /// The operator withdraws `sender` from `store` (nothing is sent from it for that store any more).
    pub async fn revoke_sender(&self, sender: &str, store: &StoreHash, now: DateTime<Utc>) -> Result<(), DbError> {
        self.counter.call();
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(&sender_pk(&sender_key(sender))))
            .key("sk", s(SENDER_APPROVAL_SK))
            .update_expression("DELETE #stores :store SET #at = :at")
            .expression_attribute_names("#stores", "stores")
            .expression_attribute_names("#at", "updated_at")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":store", AttributeValue::Ss(vec![store.to_string()]))
            .expression_attribute_values(":at", s(&super::keys::timestamp(now)))
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

    /// The operator's approval of `sender`, if any.
    pub async fn sender_approval(&self, sender: &str) -> Result<Option<SenderApproval>, DbError> {
        let Some(item) = self.get(&sender_pk(&sender_key(sender)), SENDER_APPROVAL_SK).await? else {
            return Ok(None);
        };
        Ok(Some(approval_from(item)?))
    }

    /// Whether `store` may send from `sender` (its settings' sender; `None` for the account's own numbers).
    /// Reads nothing when no sender is set.
    pub async fn sender_status(&self, store: &StoreHash, sender: Option<&str>) -> Result<SenderStatus, DbError> {
        let sender = sender.map(str::trim).filter(|s| !s.is_empty());
        let approval = match sender {
            Some(sender) => self.sender_approval(sender).await?,
            None => None,
        };
        Ok(SenderStatus::of(store, sender, approval.as_ref()))
    }

    /// The stores `sender` is approved for: the stores a reply to it may concern.
    pub async fn stores_using_sender(&self, sender: &str) -> Result<Vec<StoreHash>, DbError> {
        Ok(self
            .sender_approval(sender)
            .await?
            .map(|approval| approval.stores)
            .unwrap_or_default())
    }
}

fn approval_from(item: Item) -> Result<SenderApproval, DbError> {
    /// The item as stored (`stores` is a string set, absent once the last store was withdrawn).
    #[derive(serde::Deserialize)]
    struct Stored {
        sender: String,
        #[serde(default)]
        stores: Vec<StoreHash>,
        #[serde(default)]
        shared: bool,
        updated_at: DateTime<Utc>,
    }
    let stored: Stored = serde_dynamo::from_item(item)?;
    let mut stores = stored.stores;
    stores.sort();
    Ok(SenderApproval {
        sender: stored.sender,
        stores,
        shared: stored.shared,
        updated_at: stored.updated_at,
    })
}
