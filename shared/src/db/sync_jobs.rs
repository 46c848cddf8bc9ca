//! Bulk sync jobs: progress counters that each page moves exactly once, however often it is delivered.
//!
//! The job item holds the numbers of the pages counted so far (`done_pages`, `failed_pages`: number sets), so
//! counting a page is one conditional UpdateItem on one item: no transaction, no marker items.

use super::keys::{store_pk, sync_job_sk};
use super::{Db, DbError, n, s, to_item};
use crate::StoreHash;
use crate::model::{SyncJob, SyncJobStatus};
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};

/// What one page of customers contributed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PageCounts {
    pub imported: u64,
    pub skipped_no_phone: u64,
    pub skipped_invalid_phone: u64,
}

/// The job item's sets of counted pages.
const DONE_PAGES: &str = "done_pages";
const FAILED_PAGES: &str = "failed_pages";

fn page_set(page: u32) -> AttributeValue {
    AttributeValue::Ns(vec![page.to_string()])
}

impl Db {
    pub async fn create_sync_job(&self, job: &SyncJob) -> Result<(), DbError> {
        let item = to_item(
            job,
            &[("pk", store_pk(&job.store_hash)), ("sk", sync_job_sk(&job.job_id))],
        )?;
        if self.put_new(item).await? {
            Ok(())
        } else {
            Err(DbError::Conflict(format!("sync job {} exists", job.job_id)))
        }
    }

    pub async fn get_sync_job(&self, store: &StoreHash, job_id: &str) -> Result<Option<SyncJob>, DbError> {
        self.get_as(&store_pk(store), &sync_job_sk(job_id)).await
    }

    /// The most recent sync job (job ids sort by start time).
    pub async fn latest_sync_job(&self, store: &StoreHash) -> Result<Option<SyncJob>, DbError> {
        self.counter.call();
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .filter_expression("attribute_exists(job_id)")
            .expression_attribute_values(":pk", s(&store_pk(store)))
            .expression_attribute_values(":prefix", s("SYNCJOB#"))
            .scan_index_forward(false)
            .limit(1)
            .consistent_read(true)
            .send()
            .await?;
        match output.items.unwrap_or_default().into_iter().next() {
            Some(item) => Ok(Some(serde_dynamo::from_item(item)?)),
            None => Ok(None),
        }
    }

    pub async fn set_sync_total_pages(
        &self,
        store: &StoreHash,
        job_id: &str,
        total_pages: u32,
        groups: u32,
    ) -> Result<(), DbError> {
        self.job_update(store, job_id)
            .update_expression("SET total_pages = :total, groups_synced = :groups")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":total", n(total_pages))
            .expression_attribute_values(":groups", n(groups))
            .send()
            .await?;
        Ok(())
    }

    /// An update of the job item.
    fn job_update(
        &self,
        store: &StoreHash,
        job_id: &str,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        self.counter.call();
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(&store_pk(store)))
            .key("sk", s(&sync_job_sk(job_id)))
    }

    /// An update that reads or changes the sets of counted pages.
    fn page_update(
        &self,
        store: &StoreHash,
        job_id: &str,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        self.job_update(store, job_id)
            .expression_attribute_names("#done", DONE_PAGES)
            .expression_attribute_names("#failed", FAILED_PAGES)
    }

    /// Counts a page as done, once. `Ok(false)` if it was already counted (a redelivery) or the job does not
    /// exist. A page that had failed and now succeeded moves from the failed count to the done count.
    pub async fn record_sync_page_done(
        &self,
        store: &StoreHash,
        job_id: &str,
        page: u32,
        counts: PageCounts,
    ) -> Result<bool, DbError> {
        let page_number = AttributeValue::N(page.to_string());
        let count = |update: aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder| {
            update
                .expression_attribute_values(":page", page_set(page))
                .expression_attribute_values(":n", page_number.clone())
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(":imported", n(counts.imported))
                .expression_attribute_values(":no_phone", n(counts.skipped_no_phone))
                .expression_attribute_values(":invalid", n(counts.skipped_invalid_phone))
        };
        const COUNTERS: &str = "pages_done :one, #done :page, contacts_imported :imported, \
                                skipped_no_phone :no_phone, skipped_invalid_phone :invalid";
        // The usual case: a page seen for the first time.
        let first = count(self.page_update(store, job_id))
            .update_expression(format!("ADD {COUNTERS}"))
            .condition_expression("attribute_exists(pk) AND NOT contains(#done, :n) AND NOT contains(#failed, :n)");
        if Self::conditional(first).await? {
            return Ok(true);
        }
        // A page that went to the dead-letter queue and succeeded on a retry.
        let retried = count(self.page_update(store, job_id))
            .update_expression(format!("ADD {COUNTERS}, pages_failed :minus_one DELETE #failed :page"))
            .condition_expression("contains(#failed, :n) AND NOT contains(#done, :n)")
            .expression_attribute_values(":minus_one", n(-1));
        Self::conditional(retried).await
    }

    /// Counts a page as failed (it went to the dead-letter queue), once. A page already done stays done.
    pub async fn record_sync_page_failed(&self, store: &StoreHash, job_id: &str, page: u32) -> Result<bool, DbError> {
        let update = self
            .page_update(store, job_id)
            .update_expression("ADD pages_failed :one, #failed :page")
            .condition_expression("attribute_exists(pk) AND NOT contains(#done, :n) AND NOT contains(#failed, :n)")
            .expression_attribute_values(":page", page_set(page))
            .expression_attribute_values(":n", AttributeValue::N(page.to_string()))
            .expression_attribute_values(":one", n(1));
        Self::conditional(update).await
    }

    /// The pages of a job that failed every retry (to offer a retry on the settings page).
    pub async fn failed_sync_pages(&self, store: &StoreHash, job_id: &str) -> Result<Vec<u32>, DbError> {
        let Some(item) = self.get(&store_pk(store), &sync_job_sk(job_id)).await? else {
            return Ok(Vec::new());
        };
        let mut pages: Vec<u32> = match item.get(FAILED_PAGES) {
            Some(AttributeValue::Ns(numbers)) => numbers.iter().filter_map(|n| n.parse().ok()).collect(),
            _ => Vec::new(),
        };
        pages.sort_unstable();
        Ok(pages)
    }

    /// Marks the job finished when every page is counted (done or failed). Returns the job as it stands.
    pub async fn finish_sync_job_if_complete(
        &self,
        store: &StoreHash,
        job_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<SyncJob>, DbError> {
        let Some(mut job) = self.get_sync_job(store, job_id).await? else {
            return Ok(None);
        };
        let counted = job.pages_done + job.pages_failed;
        if job.total_pages == 0 || counted < job.total_pages {
            return Ok(Some(job));
        }
        let status = if job.pages_failed > 0 {
            SyncJobStatus::CompletedWithFailures
        } else {
            SyncJobStatus::Completed
        };
        let result = self
            .job_update(store, job_id)
            .update_expression("SET #status = :status, finished_at = :now")
            .condition_expression("pages_done = :done AND pages_failed = :failed")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", serde_dynamo::to_attribute_value(status)?)
            .expression_attribute_values(":now", serde_dynamo::to_attribute_value(now)?)
            .expression_attribute_values(":done", n(job.pages_done))
            .expression_attribute_values(":failed", n(job.pages_failed))
            .send()
            .await;
        match result {
            Ok(_) => {
                job.status = status;
                job.finished_at = Some(now);
                Ok(Some(job))
            }
            // Another page was counted meanwhile; whoever counted the last page finishes the job.
            Err(error) if super::is_update_condition_failed(&error) => self.get_sync_job(store, job_id).await,
            Err(error) => Err(error.into()),
        }
    }
}
