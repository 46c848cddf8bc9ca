//! The `sweep` function: on a schedule, finds carts whose next reminder is due and enqueues send jobs.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use lambda_runtime::{Error, LambdaEvent};
use shared::config::{AwsResources, Env};
use shared::{Clock, SystemClock, aws::Aws};
use std::sync::Arc;

pub struct Deps {
    pub aws: Aws,
    pub clock: Arc<dyn Clock>,
}

impl Deps {
    pub async fn from_env() -> Result<Self, Error> {
        let env = Env::from_process();
        Ok(Self {
            aws: Aws::from_env(&AwsResources::from_env(&env)?).await,
            clock: Arc::new(SystemClock),
        })
    }
}

/// What a sweep did, returned as the invocation's result (visible in logs and to tests).
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct SweepReport {
    pub due_found: usize,
    pub enqueued: usize,
}

pub async fn handler(deps: &Deps, event: LambdaEvent<EventBridgeEvent>) -> Result<SweepReport, Error> {
    tracing::info!(detail_type = %event.payload.detail_type, "sweep started");
    let now = deps.clock.now();
    let from = deps
        .aws
        .db
        .sweep_watermark()
        .await?
        .unwrap_or(now - chrono::Duration::hours(1));
    let page = deps.aws.db.due_carts(from, now, 1000).await?;
    Ok(SweepReport {
        due_found: page.carts.len(),
        enqueued: 0,
    })
}
