//! What Lambda's SQS event source mapping does: receive a batch, invoke the consumer, delete what succeeded,
//! leave failures for redelivery (and, after the queue's `maxReceiveCount`, the dead-letter queue, which moto
//! applies on receive), with at most the mapping's `MaximumConcurrency` batches in flight ([`SqsEventSource::run`]).

use crate::invoke::{InvokeError, SharedFunction};
use crate::provision::Resources;
use crate::template::{EventDef, Template, TemplateError};
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use serde_json::{Value, json};
use std::collections::HashSet;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PollOutcome {
    pub received: usize,
    pub succeeded: usize,
    pub failed: usize,
}

/// One `SQS` event of a function in the template, bound to the created queue.
pub struct SqsEventSource {
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    queue_arn: String,
    batch_size: i32,
    report_batch_item_failures: bool,
    max_concurrency: usize,
    function: SharedFunction,
    /// Seconds before a failed message is visible again. Lambda waits for the visibility timeout; tests use 0.
    pub retry_after_seconds: Option<i32>,
}

impl SqsEventSource {
    /// The (first) SQS event source of `function_logical_id`, as the template declares it.
    pub fn from_template(
        sdk: &aws_config::SdkConfig,
        template: &Template,
        resources: &Resources,
        function_logical_id: &str,
        function: SharedFunction,
    ) -> Result<Self, TemplateError> {
        Self::for_queue(sdk, template, resources, function_logical_id, None, function)
    }

    /// The event source of `function_logical_id` reading `queue_logical_id` (the first SQS event when `None`),
    /// as the template declares it: a function may read several queues (e.g. its dead-letter queue).
    pub fn for_queue(
        sdk: &aws_config::SdkConfig,
        template: &Template,
        resources: &Resources,
        function_logical_id: &str,
        queue_logical_id: Option<&str>,
        function: SharedFunction,
    ) -> Result<Self, TemplateError> {
        let definition = template
            .functions()?
            .into_iter()
            .find(|f| f.logical_id == function_logical_id)
            .ok_or_else(|| TemplateError::Shape(format!("no function {function_logical_id}")))?;
        let (queue, batch_size, report, max_concurrency) = definition
            .events
            .iter()
            .find_map(|(_, e)| match e {
                EventDef::Sqs {
                    queue,
                    batch_size,
                    report_batch_item_failures,
                    max_concurrency,
                } if queue_logical_id.is_none_or(|wanted| wanted == queue) => Some((
                    queue.clone(),
                    *batch_size,
                    *report_batch_item_failures,
                    *max_concurrency,
                )),
                _ => None,
            })
            .ok_or_else(|| TemplateError::Shape(format!("{function_logical_id} has no SQS event")))?;
        let missing = || TemplateError::Shape(format!("queue {queue} was not provisioned"));
        Ok(Self {
            sqs: aws_sdk_sqs::Client::new(sdk),
            queue_url: resources.queue_urls.get(&queue).ok_or_else(missing)?.clone(),
            queue_arn: resources.queue_arns.get(&queue).ok_or_else(missing)?.clone(),
            batch_size: batch_size.clamp(1, 10) as i32,
            report_batch_item_failures: report,
            // Without a `ScalingConfig`, Lambda starts with five concurrent batches.
            max_concurrency: max_concurrency.unwrap_or(5).max(1) as usize,
            function,
            retry_after_seconds: None,
        })
    }

    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }

    /// The mapping's `ScalingConfig.MaximumConcurrency`: how many batches [`SqsEventSource::run`] has in flight.
    pub fn max_concurrency(&self) -> usize {
        self.max_concurrency
    }

    /// Consumes the queue as Lambda does, for ever: [`SqsEventSource::max_concurrency`] pollers, each
    /// receiving a batch (long polling up to `wait_seconds`) and invoking the function with it, so a queue
    /// with a backlog never has more than that many invocations running.
    pub async fn run(&self, wait_seconds: i32) {
        let poller = || async {
            loop {
                if let Err(error) = self.poll_once(wait_seconds).await {
                    tracing::warn!(%error, queue = %self.queue_url, "queue poll failed");
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
            }
        };
        futures::future::join_all((0..self.max_concurrency).map(|_| poller())).await;
    }

    /// Receives one batch (waiting up to `wait_seconds`) and invokes the function with it.
    pub async fn poll_once(&self, wait_seconds: i32) -> Result<PollOutcome, String> {
        self.poll_once_until(wait_seconds, std::future::pending()).await
    }

    /// Like [`Self::poll_once`], but the invocation is stopped when `timeout` completes first, as Lambda stops
    /// one at its timeout: nothing of the batch is deleted, so all of it comes back after the visibility
    /// timeout (`retry_after_seconds` here).
    pub async fn poll_once_until(
        &self,
        wait_seconds: i32,
        timeout: impl std::future::Future<Output = ()>,
    ) -> Result<PollOutcome, String> {
        let output = self
            .sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(self.batch_size)
            .wait_time_seconds(wait_seconds)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())?;
        let messages = output.messages.unwrap_or_default();
        if messages.is_empty() {
            return Ok(PollOutcome::default());
        }
        let records: Vec<Value> = messages
            .iter()
            .map(|m| {
                let attributes: serde_json::Map<String, Value> = m
                    .attributes()
                    .map(|a| {
                        a.iter()
                            .map(|(k, v)| (k.as_str().to_owned(), Value::String(v.clone())))
                            .collect()
                    })
                    .unwrap_or_default();
                json!({
                    "messageId": m.message_id(),
                    "receiptHandle": m.receipt_handle(),
                    "body": m.body(),
                    "attributes": attributes,
                    "messageAttributes": {},
                    "md5OfBody": m.md5_of_body(),
                    "eventSource": "aws:sqs",
                    "eventSourceARN": self.queue_arn,
                    "awsRegion": "us-east-1",
                })
            })
            .collect();
        let invocation = async {
            tokio::select! {
                response = self.function.invoke(json!({ "Records": records })) => response,
                () = timeout => Err(InvokeError::Function("Task timed out".into())),
            }
        };
        let failed: HashSet<String> = match invocation.await {
            Ok(response) if self.report_batch_item_failures => match failed_ids(&response) {
                Some(ids) => ids,
                // An invalid batch response fails the whole batch, as in Lambda.
                None => messages.iter().filter_map(|m| m.message_id.clone()).collect(),
            },
            Ok(_) => HashSet::new(),
            Err(error) => {
                tracing::warn!(%error, queue = %self.queue_url, "consumer failed; the batch will be retried");
                messages.iter().filter_map(|m| m.message_id.clone()).collect()
            }
        };
        let mut outcome = PollOutcome {
            received: messages.len(),
            ..Default::default()
        };
        for message in &messages {
            let id = message.message_id().unwrap_or_default();
            let receipt = message.receipt_handle().unwrap_or_default();
            if failed.contains(id) {
                outcome.failed += 1;
                if let Some(seconds) = self.retry_after_seconds {
                    let _ = self
                        .sqs
                        .change_message_visibility()
                        .queue_url(&self.queue_url)
                        .receipt_handle(receipt)
                        .visibility_timeout(seconds)
                        .send()
                        .await;
                }
            } else {
                outcome.succeeded += 1;
                self.sqs
                    .delete_message()
                    .queue_url(&self.queue_url)
                    .receipt_handle(receipt)
                    .send()
                    .await
                    .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())?;
            }
        }
        Ok(outcome)
    }

    /// Polls until the queue is empty (failed messages come back when their visibility allows, so with
    /// `retry_after_seconds = Some(0)` this runs until they succeed or move to the dead-letter queue).
    pub async fn drain(&self) -> Result<PollOutcome, String> {
        let mut total = PollOutcome::default();
        let mut idle_polls = 0;
        while idle_polls < 2 {
            let outcome = self.poll_once(0).await?;
            if outcome.received == 0 {
                idle_polls += 1;
                continue;
            }
            idle_polls = 0;
            total.received += outcome.received;
            total.succeeded += outcome.succeeded;
            total.failed += outcome.failed;
        }
        Ok(total)
    }

    /// Messages waiting in the queue (visible and in flight).
    pub async fn depth(&self) -> Result<u64, String> {
        queue_depth(&self.sqs, &self.queue_url).await
    }

    /// Messages sent with a delay that has not passed yet (a check scheduled for later).
    pub async fn delayed(&self) -> Result<u64, String> {
        queue_count(
            &self.sqs,
            &self.queue_url,
            &[QueueAttributeName::ApproximateNumberOfMessagesDelayed],
        )
        .await
    }
}

/// Visible plus in-flight messages of a queue.
pub async fn queue_depth(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> Result<u64, String> {
    queue_count(
        sqs,
        queue_url,
        &[
            QueueAttributeName::ApproximateNumberOfMessages,
            QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
        ],
    )
    .await
}

/// The sum of a queue's approximate message counts named by `counts`.
async fn queue_count(sqs: &aws_sdk_sqs::Client, queue_url: &str, counts: &[QueueAttributeName]) -> Result<u64, String> {
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(queue_url)
        .set_attribute_names(Some(counts.to_vec()))
        .send()
        .await
        .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())?
        .attributes
        .unwrap_or_default();
    Ok(attributes.values().filter_map(|v| v.parse::<u64>().ok()).sum())
}

fn failed_ids(response: &Value) -> Option<HashSet<String>> {
    let failures = match response.get("batchItemFailures") {
        None | Some(Value::Null) => return Some(HashSet::new()),
        Some(Value::Array(items)) => items,
        Some(_) => return None,
    };
    failures
        .iter()
        .map(|f| {
            f.get("itemIdentifier")
                .and_then(Value::as_str)
                .filter(|id| !id.is_empty())
                .map(str::to_owned)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_responses_follow_lambda_rules() {
        assert_eq!(failed_ids(&json!({})).unwrap().len(), 0);
        assert_eq!(failed_ids(&json!({"batchItemFailures": []})).unwrap().len(), 0);
        let ids = failed_ids(&json!({"batchItemFailures": [{"itemIdentifier": "a"}]})).unwrap();
        assert!(ids.contains("a"));
        // An empty or missing identifier makes the whole response invalid.
        assert!(failed_ids(&json!({"batchItemFailures": [{"itemIdentifier": ""}]})).is_none());
        assert!(failed_ids(&json!({"batchItemFailures": [{}]})).is_none());
        assert!(failed_ids(&json!({"batchItemFailures": "x"})).is_none());
    }
}
