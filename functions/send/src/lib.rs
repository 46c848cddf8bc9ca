//! The `send` function: the final consent decision for one due reminder, then exactly one SMS ([`job`]), at no
//! more than the store's registered throughput ([`pace`]).
//!
//! Exactly once, whatever retries, duplicate deliveries and overlapping sweeps happen:
//! - a reminder step is sent only under its claim (`claim_send`: one conditional write wins);
//! - the provider is called only inside an attempt (`begin_send_attempt`: a compare-and-set on the claim), so
//!   two deliveries of the job never call it at the same time;
//! - an attempt is released for a retry only when the provider *answered* with an error (5xx, 429): then
//!   nothing went out. When the outcome is unknown (a timeout, an unreadable answer, a crash mid-call) the
//!   message may have gone out, so it is never sent again: the send record says why, and the sequence moves on
//!   as if it had been sent. A lost reminder is a smaller harm than a duplicate.

pub mod job;
#[cfg(test)]
mod memory;
pub mod pace;
#[cfg(test)]
mod tests;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use chrono::{DateTime, Utc};
use lambda_runtime::{Error, LambdaEvent};
use shared::aws::Aws;
use shared::bigcommerce::BigCommerce;
use shared::bus::Bus;
use shared::config::AppUrl;
use shared::db::Db;
use shared::infra::InfraError;
use shared::messages::SendJob;
use shared::ports::{ConsentRecorder, EventPublisher, ReminderStore, Shop, Texter};
use shared::sms::SmsClient;
use shared::{Secret, StoreHash};
use std::time::{Duration, Instant, SystemTime};
use tracing::Instrument;

pub use job::JobOutcome;

/// The clients this function uses, built once in `main.rs`.
pub type Deps = shared::clients::Clients;

/// What a send job uses ([`shared::ports`]): the deployment's clients ([`Deps`]), or the in-memory adapters of
/// the unit tests (`memory.rs`).
pub trait SendPorts: Sync {
    type Store: ReminderStore;
    type Texter: Texter;
    type Shop: Shop;
    type Events: EventPublisher;
    type Consent: ConsentRecorder;
    fn store(&self) -> &Self::Store;
    fn texter(&self) -> &Self::Texter;
    fn shop(&self) -> &Self::Shop;
    fn events(&self) -> &Self::Events;
    fn consent(&self) -> &Self::Consent;
    /// The business clock (consent rules, records); throughput is paced on the wall clock ([`pace`]).
    fn now(&self) -> DateTime<Utc>;
    fn app_url(&self) -> &AppUrl;
    /// The secret path token of the SMS callback URLs.
    fn sms_webhook_token(&self) -> &Secret;
}

impl SendPorts for Deps {
    type Store = Db;
    type Texter = SmsClient;
    type Shop = BigCommerce;
    type Events = Bus;
    type Consent = Aws;
    fn store(&self) -> &Db {
        &self.aws.db
    }
    fn texter(&self) -> &SmsClient {
        &self.sms
    }
    fn shop(&self) -> &BigCommerce {
        &self.bigcommerce
    }
    fn events(&self) -> &Bus {
        &self.aws.bus
    }
    fn consent(&self) -> &Aws {
        &self.aws
    }
    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
    fn app_url(&self) -> &AppUrl {
        &self.app_url
    }
    fn sms_webhook_token(&self) -> &Secret {
        &self.sms_webhook_token
    }
}

/// Why a send job could not be finished now.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error(transparent)]
    Infra(#[from] InfraError),
    /// The provider answered with a temporary error: nothing went out; the job is retried.
    #[error("the SMS provider is unavailable: {0}")]
    ProviderUnavailable(String),
    /// Another delivery of the job is sending, or there is no time left in this invocation: try again shortly.
    #[error("{0}")]
    Busy(&'static str),
    /// The store's send rate stayed used up for as long as a job waits for it: the store's later jobs in
    /// the same batch would wait in vain too, so they go back to the queue at once.
    #[error("the store's send rate is used up")]
    RateUsedUp,
    /// Retrying cannot help (a malformed job).
    #[error("{0}")]
    Permanent(String),
}

impl SendError {
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Infra(e) => e.is_retryable(),
            Self::ProviderUnavailable(_) | Self::Busy(_) | Self::RateUsedUp => true,
            Self::Permanent(_) => false,
        }
    }
}

shared::from_infra_errors!(SendError);

/// The function's timeout in template.yaml, for invocations that carry no deadline (local tooling).
const FUNCTION_TIMEOUT: Duration = Duration::from_secs(30);
/// What a job needs after waiting for its send slot: the provider call (10 s timeout) and the writes after it.
/// A job is started only if that much time is left, so the function is never stopped in the middle of a
/// provider call (whose outcome would then be unknown, and the reminder lost).
pub const TIME_TO_FINISH_A_JOB: Duration = Duration::from_secs(15);

/// Processes each job on its own; only retryable failures go back to the queue (partial batch response), and
/// so do the jobs there is no time left for. A batch mixes stores (SQS fills it from several message groups):
/// each store's jobs run in order, the stores side by side, so a store waiting for its send rate
/// (`pace::wait_for_slot`) never holds another store's reminders.
pub async fn handler(deps: &Deps, event: LambdaEvent<SqsEvent>) -> Result<SqsBatchResponse, Error> {
    let remaining = Some(event.context.deadline())
        .filter(|_| event.context.deadline > 0)
        .and_then(|deadline| deadline.duration_since(SystemTime::now()).ok())
        .unwrap_or(FUNCTION_TIMEOUT);
    let latest_start = Instant::now() + remaining.saturating_sub(TIME_TO_FINISH_A_JOB);
    let mut stores: Vec<(Option<StoreHash>, StoreJobs)> = Vec::new();
    for record in event.payload.records {
        let job = read_job(&record);
        let store = job.as_ref().ok().map(|job| job.store_hash.clone());
        match stores.iter_mut().find(|(s, _)| store.is_some() && *s == store) {
            Some((_, jobs)) => jobs.push((record, job)),
            None => stores.push((store, vec![(record, job)])),
        }
    }
    let failed = futures::future::join_all(
        stores
            .into_iter()
            .map(|(_, jobs)| process_in_order(deps, jobs, latest_start)),
    )
    .await;
    let mut response = SqsBatchResponse::default();
    for id in failed.into_iter().flatten() {
        response.add_failure(id);
    }
    Ok(response)
}

/// One store's records of a batch, in their order, each with its job (or why it cannot be read).
type StoreJobs = Vec<(SqsMessage, Result<SendJob, SendError>)>;

/// One store's jobs of a batch, one after the other: the ids of those that go back to the queue.
async fn process_in_order(deps: &Deps, jobs: StoreJobs, latest_start: Instant) -> Vec<String> {
    let mut failed = Vec::new();
    let mut rate_used_up = false;
    for (record, job) in jobs {
        let id = record.message_id.clone().unwrap_or_default();
        if Instant::now() >= latest_start || rate_used_up {
            tracing::info!(message_id = %id, "no time or send rate left in this invocation; the job goes back to the queue");
            failed.push(id);
            continue;
        }
        match process(deps, job, latest_start).await {
            Ok(outcome) => tracing::info!(message_id = %id, outcome = ?outcome, "send job done"),
            Err(SendError::RateUsedUp) => {
                tracing::info!(message_id = %id, "the store's send rate is used up; its jobs go back to the queue");
                rate_used_up = true;
                failed.push(id);
            }
            Err(error) if error.is_retryable() => {
                tracing::warn!(message_id = %id, %error, "send job failed; it will be retried");
                failed.push(id);
            }
            Err(error) => tracing::error!(message_id = %id, %error, "send job dropped: retrying cannot help"),
        }
    }
    failed
}

fn read_job(record: &SqsMessage) -> Result<SendJob, SendError> {
    serde_json::from_str(record.body.as_deref().unwrap_or_default())
        .map_err(|e| SendError::Permanent(format!("unreadable send job: {e}")))
}

async fn process(deps: &Deps, job: Result<SendJob, SendError>, latest_start: Instant) -> Result<JobOutcome, SendError> {
    let job = job?;
    let span = shared::logging::store_span(&job.store_hash);
    async {
        tracing::info!(job_id = %job.job_id, step = job.step, "send job received");
        // Boxed: the job's state machine is deep enough to overflow the compiler's layout query otherwise.
        Box::pin(job::process(deps, &job, latest_start)).await
    }
    .instrument(span)
    .await
}
