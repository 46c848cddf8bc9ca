//! EventBridge: the app's event bus carries domain events (`message.sent`, `consent.changed`).

use crate::messages::{DomainEvent, EVENT_SOURCE};
use aws_sdk_eventbridge::types::PutEventsRequestEntry;

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("EventBridge request failed: {0}")]
    Request(String),
    #[error("event could not be serialized: {0}")]
    Serialize(#[from] serde_json::Error),
    #[error("EventBridge refused the event: {0}")]
    Rejected(String),
}

impl<E: std::error::Error + 'static, R: std::fmt::Debug> From<aws_sdk_eventbridge::error::SdkError<E, R>> for BusError {
    fn from(error: aws_sdk_eventbridge::error::SdkError<E, R>) -> Self {
        Self::Request(aws_sdk_eventbridge::error::DisplayErrorContext(&error).to_string())
    }
}

#[derive(Debug, Clone)]
pub struct Bus {
    client: aws_sdk_eventbridge::Client,
    name: String,
}

impl Bus {
    pub fn new(client: aws_sdk_eventbridge::Client, name: impl Into<String>) -> Self {
        Self {
            client,
            name: name.into(),
        }
    }

    pub async fn publish(&self, event: &DomainEvent) -> Result<(), BusError> {
        let entry = PutEventsRequestEntry::builder()
            .event_bus_name(&self.name)
            .source(EVENT_SOURCE)
            .detail_type(event.detail_type())
            .detail(serde_json::to_string(event)?)
            .build();
        let output = self.client.put_events().entries(entry).send().await?;
        if output.failed_entry_count > 0 {
            let reason = output
                .entries
                .iter()
                .flatten()
                .filter_map(|e| e.error_message.clone())
                .next()
                .unwrap_or_else(|| "unknown".into());
            return Err(BusError::Rejected(reason));
        }
        Ok(())
    }
}
