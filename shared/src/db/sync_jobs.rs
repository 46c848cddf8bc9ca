//! Bulk sync jobs: progress counters that each page moves exactly once, however often it is delivered.
//!
//! The job item holds the numbers of the pages counted so far (`done_pages`, `failed_pages`: number sets), so
//! counting a page is one conditional UpdateItem on one item: no transaction, no marker items. A failed page's
//! cursor is kept beside it (`failed_cursors`, a string set of `"{page} {cursor}"`) so a retry reads the same
//! place in the listing.

use super::keys::{SYNC_JOB_PREFIX, store_pk, sync_job_sk};
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
    /// Customers whose record was malformed.
    pub skipped_malformed: u64,
}

/// Where one page of a job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageState {
    NotCounted,
    Done,
    Failed,
}

/// A page counted failed, with the cursor it starts after (none for page 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedPage {
    pub page: u32,
    pub after: Option<String>,
}

/// The job item's sets of counted pages.
const DONE_PAGES: &str = "done_pages";
const FAILED_PAGES: &str = "failed_pages";
const FAILED_CURSORS: &str = "failed_cursors";

fn numbers(item: &super::Item, name: &str) -> Vec<u32> {
    let mut pages: Vec<u32> = match item.get(name) {
        Some(AttributeValue::Ns(numbers)) => numbers.iter().filter_map(|n| n.parse().ok()).collect(),
        _ => Vec::new(),
    };
    pages.sort_unstable();
    pages
}

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
            .expression_attribute_values(":prefix", s(SYNC_JOB_PREFIX))
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
            .update_expression(
                "SET total_pages = :total, groups_synced = :groups, pages_queued = if_not_exists(pages_queued, :one)",
            )
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":total", n(total_pages))
            .expression_attribute_values(":groups", n(groups))
            .expression_attribute_values(":one", n(1))
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

    /// The job and where one of its pages stands (one read).
    pub async fn sync_page_state(
        &self,
        store: &StoreHash,
        job_id: &str,
        page: u32,
    ) -> Result<Option<(SyncJob, PageState)>, DbError> {
        let Some(item) = self.get(&store_pk(store), &sync_job_sk(job_id)).await? else {
            return Ok(None);
        };
        let state = if numbers(&item, DONE_PAGES).contains(&page) {
            PageState::Done
        } else if numbers(&item, FAILED_PAGES).contains(&page) {
            PageState::Failed
        } else {
            PageState::NotCounted
        };
        Ok(Some((serde_dynamo::from_item(item)?, state)))
    }

    /// Notes that `page` was queued (by the page before it). The chain goes on past a `last_page` before it
    /// (a failed page retried successfully), so such a job runs again until the new end is counted.
    /// `Ok(false)` if it was noted already.
    pub async fn record_sync_page_queued(&self, store: &StoreHash, job_id: &str, page: u32) -> Result<bool, DbError> {
        let update = self
            .job_update(store, job_id)
            .update_expression("SET pages_queued = :page, #status = :running REMOVE last_page, finished_at")
            .condition_expression(
                "attribute_exists(pk) AND (attribute_not_exists(pages_queued) OR pages_queued < :page) \
                 AND (attribute_not_exists(last_page) OR last_page < :page)",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":page", n(page))
            .expression_attribute_values(":running", serde_dynamo::to_attribute_value(SyncJobStatus::Running)?);
        Self::conditional(update).await
    }

    /// Adds malformed customers' ids to the job's list, while it is short (best effort: the count is exact).
    pub async fn record_skipped_customers(&self, store: &StoreHash, job_id: &str, ids: &[u64]) -> Result<(), DbError> {
        let mut ids: Vec<String> = ids.iter().map(u64::to_string).collect();
        ids.sort();
        ids.dedup();
        if ids.is_empty() {
            return Ok(());
        }
        let update = self
            .job_update(store, job_id)
            .update_expression("ADD skipped_customers :ids")
            .condition_expression(
                "attribute_exists(pk) AND (attribute_not_exists(skipped_customers) OR size(skipped_customers) < :cap)",
            )
            .expression_attribute_values(":ids", AttributeValue::Ns(ids))
            .expression_attribute_values(":cap", n(crate::model::sync_job::SKIPPED_CUSTOMERS_SHOWN as u64));
        Self::conditional(update).await.map(drop)
    }

    /// Counts a page as done, once; `last` ends the chain at this page. `Ok(false)` if it was already counted
    /// (a redelivery) or the job does not exist. A page that had failed and now succeeded moves from the
    /// failed count to the done count.
    pub async fn record_sync_page_done(
        &self,
        store: &StoreHash,
        job_id: &str,
        page: u32,
        counts: PageCounts,
        last: bool,
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
                .expression_attribute_values(":malformed", n(counts.skipped_malformed))
        };
        const COUNTERS: &str = "pages_done :one, #done :page, contacts_imported :imported, \
                                skipped_no_phone :no_phone, skipped_invalid_phone :invalid, \
                                skipped_malformed :malformed";
        let end = if last { "SET last_page = :n " } else { "" };
        // The usual case: a page seen for the first time.
        let first = count(self.page_update(store, job_id))
            .update_expression(format!("{end}ADD {COUNTERS}"))
            .condition_expression("attribute_exists(pk) AND NOT contains(#done, :n) AND NOT contains(#failed, :n)");
        if Self::conditional(first).await? {
            return Ok(true);
        }
        // A page that failed and succeeded on a retry.
        let retried = count(self.page_update(store, job_id))
            .update_expression(format!(
                "{end}ADD {COUNTERS}, pages_failed :minus_one DELETE #failed :page"
            ))
            .condition_expression("contains(#failed, :n) AND NOT contains(#done, :n)")
            .expression_attribute_values(":minus_one", n(-1));
        Self::conditional(retried).await
    }

    /// Counts a page as failed, once, keeping its cursor for a retry; `ends_chain` (it failed before queueing
    /// the next page) ends the chain at this page. A page already done stays done.
    pub async fn record_sync_page_failed(
        &self,
        store: &StoreHash,
        job_id: &str,
        page: u32,
        after: Option<&str>,
        ends_chain: bool,
    ) -> Result<bool, DbError> {
        let mut expression = String::from("ADD pages_failed :one, #failed :page");
        let mut update = self
            .page_update(store, job_id)
            .condition_expression("attribute_exists(pk) AND NOT contains(#done, :n) AND NOT contains(#failed, :n)")
            .expression_attribute_values(":page", page_set(page))
            .expression_attribute_values(":n", AttributeValue::N(page.to_string()))
            .expression_attribute_values(":one", n(1));
        if let Some(after) = after {
            expression.push_str(", #cursors :cursor");
            update = update
                .expression_attribute_names("#cursors", FAILED_CURSORS)
                .expression_attribute_values(":cursor", AttributeValue::Ss(vec![format!("{page} {after}")]));
        }
        if ends_chain {
            expression.push_str(" SET last_page = :n");
        }
        Self::conditional(update.update_expression(expression)).await
    }

    /// The pages of a job counted failed, with their cursors (to offer a retry on the settings page).
    pub async fn failed_sync_pages(&self, store: &StoreHash, job_id: &str) -> Result<Vec<FailedPage>, DbError> {
        let Some(item) = self.get(&store_pk(store), &sync_job_sk(job_id)).await? else {
            return Ok(Vec::new());
        };
        let cursors: Vec<(u32, String)> = match item.get(FAILED_CURSORS) {
            Some(AttributeValue::Ss(entries)) => entries
                .iter()
                .filter_map(|e| e.split_once(' '))
                .filter_map(|(page, cursor)| Some((page.parse().ok()?, cursor.to_owned())))
                .collect(),
            _ => Vec::new(),
        };
        Ok(numbers(&item, FAILED_PAGES)
            .into_iter()
            .map(|page| FailedPage {
                page,
                after: cursors.iter().find(|(p, _)| *p == page).map(|(_, c)| c.clone()),
            })
            .collect())
    }

    /// Marks the job finished when its chain has ended and every page up to the end is counted (done or
    /// failed). Returns the job as it stands. Idempotent: a job already finished with that outcome keeps its
    /// `finished_at`.
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
        // Jobs queued before pages were chained (no `pages_queued`) knew their page total up front.
        let end = match job.last_page {
            Some(last) => last,
            None if job.pages_queued == 0 && job.total_pages > 0 => job.total_pages,
            None => return Ok(Some(job)),
        };
        if counted < end {
            return Ok(Some(job));
        }
        let status = if job.pages_failed > 0 {
            SyncJobStatus::CompletedWithFailures
        } else {
            SyncJobStatus::Completed
        };
        if job.status == status {
            // Finished already (by a delivery of the same page, or another): it keeps its `finished_at`.
            return Ok(Some(job));
        }
        let result = self
            .job_update(store, job_id)
            .update_expression("SET #status = :status, finished_at = :now, total_pages = :end")
            .condition_expression(
                "pages_done = :done AND pages_failed = :failed AND #status <> :status \
                 AND (attribute_not_exists(last_page) OR last_page = :end)",
            )
            .expression_attribute_values(":end", n(end))
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
                job.total_pages = end;
                Ok(Some(job))
            }
            // Another page was counted meanwhile; whoever counted the last page finishes the job.
            Err(error) if super::is_update_condition_failed(&error) => self.get_sync_job(store, job_id).await,
            Err(error) => Err(error.into()),
        }
    }
}
