use crate::StoreHash;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Customers per bulk-sync page (BigCommerce's largest `limit` for `/v3/customers`). A failed page is retried
/// with the same size and cursor, so it covers the same place in the listing.
pub const CUSTOMERS_PER_PAGE: u32 = 250;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncJobStatus {
    Running,
    Completed,
    /// Finished with pages that failed every retry (they are in the dead-letter queue and can be retried).
    CompletedWithFailures,
}

/// How many malformed customers' ids a job keeps to show the merchant (the count is exact).
pub const SKIPPED_CUSTOMERS_SHOWN: usize = 50;

/// A bulk sync: groups first, then a chain of customer pages, each queueing the next. Each page counts once
/// (done or failed) however often it is delivered; the job finishes when the chain has ended
/// (`last_page`) and every page up to it is counted.
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
    /// The highest page number queued so far (a page queues the next before it counts itself).
    #[serde(default)]
    pub pages_queued: u32,
    /// Where the chain ended: the page that found no more customers, or a page that failed before it could
    /// queue the next. Unset while the chain runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_page: Option<u32>,
    /// Customers whose record did not have the documented shape, skipped (the rest of their page imported).
    #[serde(default)]
    pub skipped_malformed: u64,
    /// About the first [`SKIPPED_CUSTOMERS_SHOWN`] of them, by id (a number set on the item).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped_customers: Vec<u64>,
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
            pages_queued: 0,
            last_page: None,
            skipped_malformed: 0,
            skipped_customers: Vec::new(),
        }
    }

    /// Pages finished (successfully or not) out of the total, 0-100, for the settings page progress bar.
    /// While running the total is the estimate made at the start (customers created meanwhile add pages).
    pub fn percent_done(&self) -> u32 {
        if self.status != SyncJobStatus::Running {
            return 100;
        }
        if self.total_pages == 0 {
            return 0;
        }
        ((self.pages_done + self.pages_failed) * 100 / self.total_pages).min(99)
    }
}
