//! SMS provider outages as a store saw them: when its reminders first and last found the provider unreachable,
//! and which reminders were delayed (one item per store, for the settings page).

use super::keys::{SMS_OUTAGE_SK, delayed_reminder, parse_delayed_reminder, store_pk, timestamp};
use super::{Db, DbError, Item, s};
use crate::StoreHash;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Duration, Utc};

/// Failures further apart than this belong to separate outages (the item then starts over).
const OUTAGE_GAP_HOURS: i64 = 24;

/// The store's latest outage of the SMS provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderOutage {
    pub first_failed_at: DateTime<Utc>,
    pub last_failed_at: DateTime<Utc>,
    /// The reminders it delayed: `(cart_id, step)`.
    pub delayed: Vec<(String, u8)>,
}

impl Db {
    /// Records that the provider could not take reminder `step` of `cart_id` at `now` (nothing was sent).
    pub async fn record_provider_failure(
        &self,
        store: &StoreHash,
        cart_id: &str,
        step: u8,
        now: DateTime<Utc>,
    ) -> Result<(), DbError> {
        let reminder = AttributeValue::Ss(vec![delayed_reminder(cart_id, step)]);
        self.counter.call();
        // SET and ADD to a set: a retried call changes nothing more.
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(&store_pk(store)))
            .key("sk", s(SMS_OUTAGE_SK))
            .update_expression(
                "SET first_failed_at = if_not_exists(first_failed_at, :now), last_failed_at = :now ADD delayed :one",
            )
            .condition_expression("attribute_not_exists(pk) OR last_failed_at >= :since")
            .expression_attribute_values(":now", s(&timestamp(now)))
            .expression_attribute_values(":since", s(&timestamp(now - Duration::hours(OUTAGE_GAP_HOURS))))
            .expression_attribute_values(":one", reminder.clone())
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(error) if super::is_update_condition_failed(&error) => {
                // The last outage is long over: this failure starts a new one.
                let item: Item = [
                    ("pk".to_owned(), s(&store_pk(store))),
                    ("sk".to_owned(), s(SMS_OUTAGE_SK)),
                    ("first_failed_at".to_owned(), s(&timestamp(now))),
                    ("last_failed_at".to_owned(), s(&timestamp(now))),
                    ("delayed".to_owned(), reminder),
                ]
                .into();
                self.put(item).await
            }
            Err(error) => Err(error.into()),
        }
    }

    /// The store's latest provider outage, if it ever had one.
    pub async fn provider_outage(&self, store: &StoreHash) -> Result<Option<ProviderOutage>, DbError> {
        let Some(item) = self.get(&store_pk(store), SMS_OUTAGE_SK).await? else {
            return Ok(None);
        };
        let at = |name: &str| -> Result<DateTime<Utc>, DbError> {
            let text = item
                .get(name)
                .and_then(|v| v.as_s().ok())
                .map(String::as_str)
                .unwrap_or_default();
            DateTime::parse_from_rfc3339(text)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|e| DbError::Conflict(format!("bad {name} on the outage record: {e}")))
        };
        let mut delayed: Vec<(String, u8)> = item
            .get("delayed")
            .and_then(|v| v.as_ss().ok())
            .into_iter()
            .flatten()
            .filter_map(|member| parse_delayed_reminder(member))
            .collect();
        delayed.sort();
        Ok(Some(ProviderOutage {
            first_failed_at: at("first_failed_at")?,
            last_failed_at: at("last_failed_at")?,
            delayed,
        }))
    }
}
