//! The `sync` function, on the sync queue: bulk sync ([`bulk`]), live store events ([`live`]), recovered revenue
//! attribution of orders (`attribution`) and consent write-back to BigCommerce ([`write_back`]); checkout
//! consent verification ([`checkout_consent`]); and, on the dead-letter queue, what failed every retry
//! ([`dead_letters`]).

mod attribution;
pub mod bulk;
pub mod checkout_consent;
pub mod dead_letters;
pub mod erasures;
pub mod live;
pub mod pace;
pub mod store_context;
pub mod write_back;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_runtime::{Error, LambdaEvent};
use shared::infra::InfraError;
use shared::messages::SyncMessage;
use tracing::Instrument;

/// The clients this function uses, built once in `main.rs`.
pub type Deps = shared::clients::Clients;

/// Why a sync message could not be processed.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Infra(#[from] InfraError),
    /// Another invocation is doing this work now: try again later.
    #[error("{0}")]
    Busy(&'static str),
    /// Retrying cannot help (a malformed message, a store that no longer exists).
    #[error("{0}")]
    Permanent(String),
}

impl SyncError {
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Infra(e) => e.is_retryable(),
            Self::Busy(_) => true,
            Self::Permanent(_) => false,
        }
    }
}

shared::from_infra_errors!(SyncError);

/// Processes each message on its own; only retryable failures go back to the queue (partial batch response),
/// so one bad message never re-runs the good ones.
pub async fn handler(deps: &Deps, event: LambdaEvent<SqsEvent>) -> Result<SqsBatchResponse, Error> {
    let mut response = SqsBatchResponse::default();
    for record in event.payload.records {
        let id = record.message_id.clone().unwrap_or_default();
        if let Err(error) = process(deps, &record).await {
            if error.is_retryable() {
                tracing::warn!(message_id = %id, %error, "sync message failed; it will be retried");
                response.add_failure(id);
            } else {
                tracing::error!(message_id = %id, %error, "sync message dropped: retrying cannot help");
            }
        }
    }
    Ok(response)
}

async fn process(deps: &Deps, record: &SqsMessage) -> Result<(), SyncError> {
    let message: SyncMessage = serde_json::from_str(record.body.as_deref().unwrap_or_default())
        .map_err(|e| SyncError::Permanent(format!("unreadable sync message: {e}")))?;
    let span = shared::logging::store_span(message.store_hash());
    if dead_letters::is_from_dead_letter_queue(deps, record) {
        return dead_letters::handle(deps, message, record).instrument(span).await;
    }
    dispatch(deps, message, record).instrument(span).await
}

/// Runs one message's work.
pub(crate) async fn dispatch(deps: &Deps, message: SyncMessage, record: &SqsMessage) -> Result<(), SyncError> {
    match message {
        SyncMessage::StartBulkSync { .. } | SyncMessage::CustomerPage { .. } => {
            bulk::handle(deps, &message, record).await
        }
        SyncMessage::Webhook {
            store_hash,
            scope,
            data,
            hash,
            created_at,
        } => live::handle(deps, &store_hash, &scope, &data, &hash, created_at).await,
        SyncMessage::WriteBackConsent {
            store_hash,
            customer_id,
            phone,
        } => write_back::handle(deps, &store_hash, customer_id, &phone).await,
        SyncMessage::CheckoutConsent {
            store_hash,
            cart_id,
            phone,
            attempt,
        } => checkout_consent::handle(deps, &store_hash, &cart_id, &phone, attempt).await,
    }
}
