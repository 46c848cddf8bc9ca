//! The sync dead-letter queues (of the live and the bulk sync queue): messages that failed every retry
//! (`maxReceiveCount` in template.yaml).
//!
//! A customer page is counted failed on its job (with its cursor), so the job can finish ("completed with
//! failures") and the settings page can offer to retry exactly those pages. Anything else (a store event, a write-back, a
//! checkout consent check) gets one last attempt, which is cheap because every handler re-reads current
//! state; if that fails too it is logged with what it was and dropped, rather than cycling through the
//! dead-letter queue forever. Each queue's alarm counts what arrives here.

use crate::{Deps, SyncError};
use aws_lambda_events::event::sqs::SqsMessage;
use shared::messages::SyncMessage;

/// The function reads four queues: the live and bulk sync queues and their dead-letter queues. A record from
/// any but the first two is a dead letter.
pub fn is_from_dead_letter_queue(deps: &Deps, record: &SqsMessage) -> bool {
    let Some(arn) = record.event_source_arn.as_deref() else {
        return false;
    };
    // An ARN ends in the queue name (`arn:aws:sqs:region:account:name`).
    let source = arn.rsplit(':').next().unwrap_or_default();
    !source.is_empty() && !deps.aws.sync_queue.is_sync_queue(source)
}

pub async fn handle(deps: &Deps, message: SyncMessage, record: &SqsMessage) -> Result<(), SyncError> {
    match &message {
        SyncMessage::CustomerPage {
            store_hash,
            job_id,
            page,
            after,
            ..
        } => {
            tracing::error!(job_id, page, "customer page failed every retry");
            crate::bulk::count_page_failed(deps, store_hash, job_id, *page, after.as_deref()).await
        }
        _ => {
            let what = describe(&message);
            match crate::dispatch(deps, message, record).await {
                Ok(()) => {
                    tracing::warn!(message = %what, "dead-lettered sync message succeeded on its last attempt");
                }
                Err(error) => {
                    tracing::error!(message = %what, %error, "dead-lettered sync message dropped after its last attempt");
                }
            }
            Ok(())
        }
    }
}

/// What a message was, for operators: never a phone number.
fn describe(message: &SyncMessage) -> String {
    match message {
        SyncMessage::StartBulkSync { job_id, .. } => format!("start of bulk sync {job_id}"),
        SyncMessage::CustomerPage { job_id, page, .. } => format!("page {page} of bulk sync {job_id}"),
        SyncMessage::Webhook {
            scope,
            hash,
            created_at,
            ..
        } => format!("{scope} event {hash} of {created_at}"),
        SyncMessage::WriteBackConsent { customer_id, .. } => format!("consent write-back for customer {customer_id}"),
        SyncMessage::CheckoutConsent { cart_id, attempt, .. } => {
            format!("checkout consent check {attempt} of cart {cart_id}")
        }
    }
}
