//! SQS: the sync and send queues.

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

    pub fn url(&self) -> &str {
        &self.url
    }

    pub async fn send<T: Serialize>(&self, message: &T) -> Result<(), QueueError> {
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(serde_json::to_string(message)?)
            .send()
            .await?;
        Ok(())
    }

    /// Sends a message that becomes visible only after `delay` (SQS allows at most 15 minutes): a later look
    /// at something that is not ready yet.
    pub async fn send_delayed<T: Serialize>(&self, message: &T, delay: std::time::Duration) -> Result<(), QueueError> {
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(serde_json::to_string(message)?)
            .delay_seconds(delay.as_secs().min(MAX_DELAY_SECONDS) as i32)
            .send()
            .await?;
        Ok(())
    }

    /// Sends many messages, 10 per request; messages SQS refuses are retried once, then reported.
    pub async fn send_all<T: Serialize>(&self, messages: &[T]) -> Result<(), QueueError> {
        for chunk in messages.chunks(SEND_BATCH_LIMIT) {
            let mut entries = chunk
                .iter()
                .enumerate()
                .map(|(i, message)| {
                    Ok(SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(serde_json::to_string(message)?)
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
}
