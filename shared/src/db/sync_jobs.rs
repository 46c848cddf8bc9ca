//! Bulk sync jobs: progress counters that each page moves exactly once, however often it is delivered.

use super::keys::{store_pk, sync_job_sk, sync_page_sk};
use super::{Db, DbError, n, s, to_item};
use crate::StoreHash;
use crate::model::{SyncJob, SyncJobStatus};
use aws_sdk_dynamodb::types::{TransactWriteItem, Update};
use chrono::{DateTime, Utc};

/// What one page of customers contributed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PageCounts {
    pub imported: u64,
    pub skipped_no_phone: u64,
    pub skipped_invalid_phone: u64,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct PageMarker {
    state: String,
}

const DONE: &str = "done";
const FAILED: &str = "failed";

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
            .consistent_read(true)
            .send()
            .await?;
        match output.items.unwrap_or_default().into_iter().next() {
            Some(item) => Ok(Some(serde_dynamo::from_item(item)?)),
            None => Ok(None),
        }
    }

    fn job_update(
        &self,
        store: &StoreHash,
        job_id: &str,
        expression: &str,
    ) -> aws_sdk_dynamodb::types::builders::UpdateBuilder {
        Update::builder()
            .table_name(&self.table)
            .key("pk", s(&store_pk(store)))
            .key("sk", s(&sync_job_sk(job_id)))
            .update_expression(expression)
            .condition_expression("attribute_exists(pk)")
    }

    pub async fn set_sync_total_pages(
        &self,
        store: &StoreHash,
        job_id: &str,
        total_pages: u32,
        groups: u32,
    ) -> Result<(), DbError> {
        self.counter.call();
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(&store_pk(store)))
            .key("sk", s(&sync_job_sk(job_id)))
            .update_expression("SET total_pages = :total, groups_synced = :groups")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":total", n(total_pages))
            .expression_attribute_values(":groups", n(groups))
            .send()
            .await?;
        Ok(())
    }

    async fn page_state(&self, store: &StoreHash, job_id: &str, page: u32) -> Result<Option<String>, DbError> {
        Ok(self
            .get_as::<PageMarker>(&store_pk(store), &sync_page_sk(job_id, page))
            .await?
            .map(|m| m.state))
    }

    /// Counts a page as done, once. `Ok(false)` if it was already counted (a redelivery). A page that had
    /// failed and now succeeded moves from the failed count to the done count.
    pub async fn record_sync_page_done(
        &self,
        store: &StoreHash,
        job_id: &str,
        page: u32,
        counts: PageCounts,
    ) -> Result<bool, DbError> {
        let previous = self.page_state(store, job_id, page).await?;
        let (condition, failed_delta) = match previous.as_deref() {
            Some(DONE) => return Ok(false),
            Some(_) => ("#state = :failed", -1),
            None => ("attribute_not_exists(pk)", 0),
        };
        let marker = aws_sdk_dynamodb::types::Put::builder()
            .table_name(&self.table)
            .set_item(Some(to_item(
                &PageMarker { state: DONE.into() },
                &[("pk", store_pk(store)), ("sk", sync_page_sk(job_id, page))],
            )?))
            .condition_expression(condition)
            .set_expression_attribute_names(
                previous
                    .is_some()
                    .then(|| [("#state".to_owned(), "state".to_owned())].into()),
            )
            .set_expression_attribute_values(previous.is_some().then(|| [(":failed".to_owned(), s(FAILED))].into()))
            .build()
            .expect("put fields set");
        let counters = self
            .job_update(
                store,
                job_id,
                "ADD pages_done :one, pages_failed :failed_delta, contacts_imported :imported, skipped_no_phone :no_phone, skipped_invalid_phone :invalid",
            )
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":failed_delta", n(failed_delta))
            .expression_attribute_values(":imported", n(counts.imported))
            .expression_attribute_values(":no_phone", n(counts.skipped_no_phone))
            .expression_attribute_values(":invalid", n(counts.skipped_invalid_phone))
            .build()
            .expect("update fields set");
        let actions = vec![
            TransactWriteItem::builder().put(marker).build(),
            TransactWriteItem::builder().update(counters).build(),
        ];
        Ok(self.transact(actions).await?.is_ok())
    }

    /// Counts a page as failed (it went to the dead-letter queue), once. A page already done stays done.
    pub async fn record_sync_page_failed(&self, store: &StoreHash, job_id: &str, page: u32) -> Result<bool, DbError> {
        let marker = self.put_action(
            to_item(
                &PageMarker { state: FAILED.into() },
                &[("pk", store_pk(store)), ("sk", sync_page_sk(job_id, page))],
            )?,
            Some("attribute_not_exists(pk)"),
        );
        let counters = self
            .job_update(store, job_id, "ADD pages_failed :one")
            .expression_attribute_values(":one", n(1))
            .build()
            .expect("update fields set");
        Ok(self
            .transact(vec![marker, TransactWriteItem::builder().update(counters).build()])
            .await?
            .is_ok())
    }

    /// The pages of a job that failed every retry (to offer a retry on the settings page).
    pub async fn failed_sync_pages(&self, store: &StoreHash, job_id: &str) -> Result<Vec<u32>, DbError> {
        let prefix = format!("{}#PAGE#", sync_job_sk(job_id));
        let items = self
            .query_partition(&store_pk(store), Some((&prefix, &format!("{prefix}~"))))
            .await?;
        Ok(items
            .iter()
            .filter(|item| {
                item.get("state")
                    .and_then(|v| v.as_s().ok())
                    .is_some_and(|s| s == FAILED)
            })
            .filter_map(|item| item.get("sk").and_then(|v| v.as_s().ok()))
            .filter_map(|sk| sk.rsplit('#').next()?.parse().ok())
            .collect())
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
        self.counter.call();
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(&store_pk(store)))
            .key("sk", s(&sync_job_sk(job_id)))
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
