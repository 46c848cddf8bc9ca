//! SQS: the sync queues (live and bulk), the send queue and the sweep shard queue.

use crate::messages::SyncMessage;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use serde::Serialize;

/// SQS's limit on messages per `SendMessageBatch`.
pub const SEND_BATCH_LIMIT: usize = 10;

/// SQS's longest message delay (15 minutes).
pub const MAX_DELAY_SECONDS: u64 = 900;

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("SQS request failed: {0}")]
    Request(String),
    #[error("message could not be serialized: {0}")]
    Serialize(#[from] serde_json::Error),
    #[error("{0} messages were not accepted by SQS")]
    Rejected(usize),
}

impl<E: std::error::Error + 'static, R: std::fmt::Debug> From<aws_sdk_sqs::error::SdkError<E, R>> for QueueError {
    fn from(error: aws_sdk_sqs::error::SdkError<E, R>) -> Self {
        Self::Request(aws_sdk_sqs::error::DisplayErrorContext(&error).to_string())
    }
}

/// One SQS queue we send JSON messages to.
#[derive(Debug, Clone)]
pub struct Queue {
    client: aws_sdk_sqs::Client,
    url: String,
}

impl Queue {
    pub fn new(client: aws_sdk_sqs::Client, url: impl Into<String>) -> Self {
        Self {
            client,
            url: url.into(),
        }
    }

    /// Another queue reached through the same client (a function's own queue, e.g. the sweep's shard queue).
    pub fn sibling(&self, url: impl Into<String>) -> Self {
        Self::new(self.client.clone(), url)
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub async fn send<T: Serialize>(&self, message: &T) -> Result<(), QueueError> {
        self.send_in_group(message, None, None).await
    }

    /// Sends a message that becomes visible only after `delay` (SQS allows at most 15 minutes): a later look
    /// at something that is not ready yet.
    pub async fn send_delayed<T: Serialize>(&self, message: &T, delay: std::time::Duration) -> Result<(), QueueError> {
        self.send_in_group(message, None, Some(delay)).await
    }

    /// Sends many messages, 10 per request; messages SQS refuses are retried once, then reported.
    pub async fn send_all<T: Serialize>(&self, messages: &[T]) -> Result<(), QueueError> {
        let grouped: Vec<(&T, Option<&str>)> = messages.iter().map(|m| (m, None)).collect();
        self.send_all_in_groups(&grouped).await
    }

    /// Like [`Queue::send_all`], each message in the message group `group` names (its store): on a standard
    /// queue that makes a fair queue, where one store's backlog does not raise the others' dwell time.
    pub async fn send_all_grouped<T: Serialize>(
        &self,
        messages: &[T],
        group: impl Fn(&T) -> &str,
    ) -> Result<(), QueueError> {
        let grouped: Vec<(&T, Option<&str>)> = messages.iter().map(|m| (m, Some(group(m)))).collect();
        self.send_all_in_groups(&grouped).await
    }

    /// `group` is the SQS message group: on a standard queue it names the tenant, so SQS fair queues keep one
    /// tenant's backlog from raising the others' dwell time.
    async fn send_in_group<T: Serialize>(
        &self,
        message: &T,
        group: Option<&str>,
        delay: Option<std::time::Duration>,
    ) -> Result<(), QueueError> {
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(serde_json::to_string(message)?)
            .set_message_group_id(group.map(str::to_owned))
            .set_delay_seconds(delay.map(|d| d.as_secs().min(MAX_DELAY_SECONDS) as i32))
            .send()
            .await?;
        Ok(())
    }

    async fn send_all_in_groups<T: Serialize>(&self, messages: &[(&T, Option<&str>)]) -> Result<(), QueueError> {
        for chunk in messages.chunks(SEND_BATCH_LIMIT) {
            let mut entries = chunk
                .iter()
                .enumerate()
                .map(|(i, (message, group))| {
                    Ok(SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(serde_json::to_string(message)?)
                        .set_message_group_id(group.map(str::to_owned))
                        .build()
                        .expect("id and body set"))
                })
                .collect::<Result<Vec<_>, QueueError>>()?;
            for attempt in 0..2 {
                let output = self
                    .client
                    .send_message_batch()
                    .queue_url(&self.url)
                    .set_entries(Some(entries.clone()))
                    .send()
                    .await?;
                let failed: std::collections::HashSet<String> = output.failed.iter().map(|f| f.id.clone()).collect();
                if failed.is_empty() {
                    break;
                }
                if attempt == 1 {
                    return Err(QueueError::Rejected(failed.len()));
                }
                entries.retain(|entry| failed.contains(entry.id()));
            }
        }
        Ok(())
    }

    /// The queue's name: the last part of its URL, as of its ARN.
    pub fn name(&self) -> &str {
        self.url.rsplit('/').next().unwrap_or_default()
    }
}

/// The sync function's work, on two SQS queues, each with its own concurrency in template.yaml: bulk sync
/// (a start and its customer pages, [`SyncMessage::is_bulk`]) on the bulk queue, everything else (store
/// events, write-backs, checkout consent checks) on the live queue, so one store's import of 100,000
/// customers never takes the slots of another store's live events. This is the one place that decides which
/// queue a message goes to.
///
/// Every message's SQS message group is its store: on AWS, standard queues with message groups are fair
/// queues, so within each queue a store with a backlog does not raise the others' dwell time.
#[derive(Debug, Clone)]
pub struct SyncQueue {
    live: Queue,
    bulk: Queue,
}

impl SyncQueue {
    pub fn new(live: Queue, bulk: Queue) -> Self {
        Self { live, bulk }
    }

    pub fn live(&self) -> &Queue {
        &self.live
    }

    pub fn bulk(&self) -> &Queue {
        &self.bulk
    }

    /// The queue `message` belongs on.
    pub fn queue_for(&self, message: &SyncMessage) -> &Queue {
        if message.is_bulk() { &self.bulk } else { &self.live }
    }

    /// Whether `queue_name` is one of the two sync queues (and not, e.g., a dead-letter queue).
    pub fn is_sync_queue(&self, queue_name: &str) -> bool {
        queue_name == self.live.name() || queue_name == self.bulk.name()
    }

    pub async fn send(&self, message: &SyncMessage) -> Result<(), QueueError> {
        let group = message.store_hash().as_str();
        self.queue_for(message).send_in_group(message, Some(group), None).await
    }

    /// See [`Queue::send_delayed`].
    pub async fn send_delayed(&self, message: &SyncMessage, delay: std::time::Duration) -> Result<(), QueueError> {
        let group = message.store_hash().as_str();
        self.queue_for(message)
            .send_in_group(message, Some(group), Some(delay))
            .await
    }

    /// See [`Queue::send_all`]; each message goes to its own queue.
    pub async fn send_all(&self, messages: &[SyncMessage]) -> Result<(), QueueError> {
        for queue in [&self.live, &self.bulk] {
            let grouped: Vec<(&SyncMessage, Option<&str>)> = messages
                .iter()
                .filter(|m| std::ptr::eq(self.queue_for(m), queue))
                .map(|m| (m, Some(m.store_hash().as_str())))
                .collect();
            queue.send_all_in_groups(&grouped).await?;
        }
        Ok(())
    }
}
