//! The `sync` function: bulk sync pages and live store events from the sync queue.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent};
use shared::bigcommerce::BigCommerce;
use shared::config::{AppUrl, AwsResources, BigCommerceConfig, Env};
use shared::messages::SyncMessage;
use shared::{Clock, SystemClock, aws::Aws};
use std::sync::Arc;

pub struct Deps {
    pub aws: Aws,
    pub bigcommerce: BigCommerce,
    pub app_url: AppUrl,
    pub clock: Arc<dyn Clock>,
}

impl Deps {
    pub async fn from_env() -> Result<Self, Error> {
        let env = Env::from_process();
        Ok(Self {
            aws: Aws::from_env(&AwsResources::from_env(&env)?).await,
            bigcommerce: BigCommerce::new(&BigCommerceConfig::from_env(&env)?)?,
            app_url: AppUrl::from_env(&env)?,
            clock: Arc::new(SystemClock),
        })
    }
}

pub async fn handler(deps: &Deps, event: LambdaEvent<SqsEvent>) -> Result<SqsBatchResponse, Error> {
    let _ = deps;
    let mut response = SqsBatchResponse::default();
    for record in event.payload.records {
        let id = record.message_id.clone().unwrap_or_default();
        match serde_json::from_str::<SyncMessage>(record.body.as_deref().unwrap_or_default()) {
            Ok(message) => {
                tracing::info!(store_hash = %message.store_hash(), "sync message received")
            }
            Err(error) => {
                tracing::error!(message_id = %id, %error, "unreadable sync message");
                response.add_failure(id);
            }
        }
    }
    Ok(response)
}
