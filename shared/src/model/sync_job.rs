use crate::StoreHash;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Customers per bulk-sync page (BigCommerce's largest `limit` for `/v3/customers`). A failed page is retried
/// with the same size, so it covers the same customers.
pub const CUSTOMERS_PER_PAGE: u32 = 250;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncJobStatus {
    Running,
    Completed,
    /// Finished with pages that failed every retry (they are in the dead-letter queue and can be retried).
    CompletedWithFailures,
}

/// A bulk sync: groups first, then one queue message per page of customers. Counters only ever grow, and
/// each page counts once however often it is delivered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncJob {
    pub store_hash: StoreHash,
    pub job_id: String,
    pub status: SyncJobStatus,
    pub started_at: DateTime<Utc>,
    #[serde(default)]
    pub finished_at: Option<DateTime<Utc>>,
    pub settings_version: u32,
    #[serde(default)]
    pub total_pages: u32,
    #[serde(default)]
    pub pages_done: u32,
    #[serde(default)]
    pub pages_failed: u32,
    #[serde(default)]
    pub groups_synced: u32,
    #[serde(default)]
    pub contacts_imported: u64,
    #[serde(default)]
    pub skipped_no_phone: u64,
    #[serde(default)]
    pub skipped_invalid_phone: u64,
}

impl SyncJob {
    /// A job that has just started: nothing counted yet, the page total unknown until the customers are counted.
    pub fn started(store_hash: StoreHash, job_id: String, settings_version: u32, now: DateTime<Utc>) -> Self {
        Self {
            store_hash,
            job_id,
            status: SyncJobStatus::Running,
            started_at: now,
            finished_at: None,
            settings_version,
            total_pages: 0,
            pages_done: 0,
            pages_failed: 0,
            groups_synced: 0,
            contacts_imported: 0,
            skipped_no_phone: 0,
            skipped_invalid_phone: 0,
        }
    }

    /// Pages finished (successfully or not) out of the total, 0-100, for the settings page progress bar.
    pub fn percent_done(&self) -> u32 {
        if self.total_pages == 0 {
            return if self.status == SyncJobStatus::Running { 0 } else { 100 };
        }
        ((self.pages_done + self.pages_failed) * 100 / self.total_pages).min(100)
    }
}
