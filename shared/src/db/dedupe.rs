//! De-duplication markers with a TTL: a webhook delivery's `hash`, a provider's reply or report id.

use super::keys::{TTL_ATTRIBUTE, dedupe_pk};
use super::{Db, DbError, Item, n, s};
use chrono::{DateTime, Duration, Utc};

impl Db {
    /// Records `key` as seen. `Ok(true)` the first time, `Ok(false)` for every repeat while the marker lives
    /// (`keep_for`; DynamoDB's TTL deletes it afterwards).
    pub async fn first_sighting(&self, key: &str, now: DateTime<Utc>, keep_for: Duration) -> Result<bool, DbError> {
        let item: Item = [
            ("pk".to_owned(), s(&dedupe_pk(key))),
            ("sk".to_owned(), s("DEDUPE")),
            ("seen_at".to_owned(), s(&super::keys::timestamp(now))),
            (TTL_ATTRIBUTE.to_owned(), n((now + keep_for).timestamp())),
        ]
        .into();
        self.put_new(item).await
    }

    /// Forgets `key`, so a later delivery is processed again (used when enqueueing failed after marking).
    pub async fn forget_sighting(&self, key: &str) -> Result<(), DbError> {
        self.counter.call();
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(&dedupe_pk(key)))
            .key("sk", s("DEDUPE"))
            .send()
            .await?;
        Ok(())
    }
}
