//! The `send` function: the final consent decision for one due reminder, then exactly one SMS.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent};
use shared::bigcommerce::BigCommerce;
use shared::config::{AppUrl, AwsResources, BigCommerceConfig, Env, SmsConfig, sms_webhook_token};
use shared::messages::SendJob;
use shared::sms::SmsClient;
use shared::{Clock, Secret, SystemClock, aws::Aws};
use std::sync::Arc;

pub struct Deps {
    pub aws: Aws,
    pub bigcommerce: BigCommerce,
    pub sms: SmsClient,
    pub sms_webhook_token: Secret,
    pub app_url: AppUrl,
    pub clock: Arc<dyn Clock>,
}

impl Deps {
    pub async fn from_env() -> Result<Self, Error> {
        let env = Env::from_process();
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        Ok(Self {
            aws: Aws::from_env(&AwsResources::from_env(&env)?).await,
            bigcommerce: BigCommerce::new(&BigCommerceConfig::from_env(&env)?)?,
            sms: SmsClient::new(&SmsConfig::from_env(&env)?, reqwest::Client::new(), clock.clone()),
            sms_webhook_token: sms_webhook_token(&env)?,
            app_url: AppUrl::from_env(&env)?,
            clock,
        })
    }
}

pub async fn handler(deps: &Deps, event: LambdaEvent<SqsEvent>) -> Result<SqsBatchResponse, Error> {
    let _ = deps;
    let mut response = SqsBatchResponse::default();
    for record in event.payload.records {
        let id = record.message_id.clone().unwrap_or_default();
        match serde_json::from_str::<SendJob>(record.body.as_deref().unwrap_or_default()) {
            Ok(job) => {
                tracing::info!(store_hash = %job.store_hash, step = job.step, "send job received")
            }
            Err(error) => {
                tracing::error!(message_id = %id, %error, "unreadable send job");
                response.add_failure(id);
            }
        }
    }
    Ok(response)
}
