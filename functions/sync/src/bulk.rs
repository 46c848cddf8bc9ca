//! Bulk (initial) sync: customer groups first, then one queue message per page of customers.

use crate::{Deps, SyncError};
use aws_lambda_events::event::sqs::SqsMessage;
use shared::messages::SyncMessage;

pub async fn handle(deps: &Deps, message: &SyncMessage, record: &SqsMessage) -> Result<(), SyncError> {
    let _ = (deps, message, record);
    Ok(())
}
