//! The AWS adapters a function uses, built once per cold start from the standard AWS configuration
//! (`AWS_REGION`, credentials, and `AWS_ENDPOINT_URL` when pointed at a local emulator).

use crate::app_secret::AppSecretError;
use crate::bus::Bus;
use crate::config::{AwsResources, Env};
use crate::db::Db;
use crate::queue::{Queue, SyncQueue};

#[derive(Debug, Clone)]
pub struct Aws {
    pub db: Db,
    /// The sync function's work: live and bulk, routed by message kind.
    pub sync_queue: SyncQueue,
    pub send_queue: Queue,
    pub bus: Bus,
}

impl Aws {
    pub fn new(sdk: &aws_config::SdkConfig, resources: &AwsResources) -> Self {
        let sqs = aws_sdk_sqs::Client::new(sdk);
        Self {
            db: Db::new(aws_sdk_dynamodb::Client::new(sdk), &resources.table_name),
            sync_queue: SyncQueue::new(
                Queue::new(sqs.clone(), &resources.sync_queue_url),
                Queue::new(sqs.clone(), &resources.bulk_sync_queue_url),
            ),
            send_queue: Queue::new(sqs, &resources.send_queue_url),
            bus: Bus::new(aws_sdk_eventbridge::Client::new(sdk), &resources.event_bus_name),
        }
    }
}

/// What every function's `main.rs` reads once per execution environment: the SDK configuration and the
/// configuration variables, with the app secret's values (`APP_SECRET_ID`, see [`crate::app_secret`]).
pub async fn startup_config() -> Result<(aws_config::SdkConfig, Env), AppSecretError> {
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let env = crate::app_secret::load(&sdk, Env::from_process()).await?;
    Ok((sdk, env))
}
