//! The deployment's bulk-import budget, shared by every concurrent sync invocation: one item holding the
//! wall-clock instant (epoch milliseconds) from which the budget is free. Pages reserve time on it with a
//! compare-and-set; `sync::pace` computes the reservation.

use super::keys::{BULK_IMPORT_PACE_PK, PACE_SK};
use super::{Db, DbError, n, s};

const FREE_AT: &str = "free_at_ms";

impl Db {
    /// When the bulk-import budget is next free (epoch milliseconds); `None` if never reserved.
    pub async fn bulk_import_free_at(&self) -> Result<Option<i64>, DbError> {
        let item = self.get(BULK_IMPORT_PACE_PK, PACE_SK).await?;
        Ok(item
            .as_ref()
            .and_then(|i| i.get(FREE_AT))
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse().ok()))
    }

    /// Moves the budget's free instant from `seen` (what [`Db::bulk_import_free_at`] read) to `free_at`.
    /// `Ok(false)` when another invocation moved it first: read again.
    pub async fn move_bulk_import_free_at(&self, seen: Option<i64>, free_at: i64) -> Result<bool, DbError> {
        self.counter.call();
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(BULK_IMPORT_PACE_PK))
            .key("sk", s(PACE_SK))
            .update_expression("SET #free = :free")
            .expression_attribute_names("#free", FREE_AT)
            .expression_attribute_values(":free", n(free_at));
        let update = match seen {
            Some(seen) => update
                .condition_expression("#free = :seen")
                .expression_attribute_values(":seen", n(seen)),
            None => update.condition_expression("attribute_not_exists(#free)"),
        };
        Self::conditional(update).await
    }
}
