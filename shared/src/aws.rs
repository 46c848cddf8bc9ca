//! The AWS adapters a function uses, built once per cold start from the standard AWS configuration
//! (`AWS_REGION`, credentials, and `AWS_ENDPOINT_URL` when pointed at a local emulator).

use crate::bus::Bus;
use crate::config::AwsResources;
use crate::db::Db;
use crate::queue::Queue;

#[derive(Debug, Clone)]
pub struct Aws {
    pub db: Db,
    pub sync_queue: Queue,
    pub send_queue: Queue,
    pub bus: Bus,
}

impl Aws {
    pub fn new(sdk: &aws_config::SdkConfig, resources: &AwsResources) -> Self {
        let sqs = aws_sdk_sqs::Client::new(sdk);
        Self {
            db: Db::new(aws_sdk_dynamodb::Client::new(sdk), &resources.table_name),
            sync_queue: Queue::new(sqs.clone(), &resources.sync_queue_url),
            send_queue: Queue::new(sqs, &resources.send_queue_url),
            bus: Bus::new(aws_sdk_eventbridge::Client::new(sdk), &resources.event_bus_name),
        }
    }

    /// Loads the SDK configuration from the environment and builds the adapters.
    pub async fn from_env(resources: &AwsResources) -> Self {
        let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        Self::new(&sdk, resources)
    }
}
