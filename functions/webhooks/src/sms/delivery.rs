//! Delivery reports and status callbacks: the reminder's send record follows the message (delivered,
//! failed), and a permanent failure says something about the number — an invalid number flags the contact
//! undeliverable and ends its reminders; a carrier block records an opt-out (`ProviderReported`).
//!
//! Reports about our automatic answers (opt-out confirmations, HELP replies) have no send record; their
//! metadata names the store, which is enough to act on a permanent failure.

use super::SmsWebhookError;
use crate::Deps;
use serde::Serialize;
use shared::consent::{ConsentEvent, ConsentEventKind, OptOutMethod, Purpose};
use shared::consent_changes;
use shared::replies::{delivery_problem, send_after_report};
use shared::sms::{DeliveryOutcome, DeliveryUpdate};
use shared::{Phone, StoreHash};
use tracing::Instrument;

/// What a report changed (the callback's answer; no phone numbers).
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReportOutcome {
    pub store_hash: Option<StoreHash>,
    pub send_updated: bool,
    pub contact_undeliverable: bool,
    pub reminders_cancelled: usize,
    pub opt_out_event_id: Option<String>,
}

pub async fn handle(deps: &Deps, update: DeliveryUpdate, recipient: Phone) -> Result<ReportOutcome, SmsWebhookError> {
    let db = &deps.aws.db;
    let now = deps.clock.now();
    let record = db.send_by_provider_message(update.provider, &update.message_id).await?;
    let store = match &record {
        Some(record) => Some(record.store_hash.clone()),
        None => update.metadata.get("store_hash").and_then(|h| StoreHash::parse(h).ok()),
    };
    let phone = record.as_ref().map_or(recipient, |r| r.phone.clone());
    let Some(store) = store else {
        tracing::info!(provider = update.provider, status = %update.status, "report about a message no store sent");
        return Ok(ReportOutcome::default());
    };
    let span = shared::logging::store_span(&store);
    async move {
        let mut outcome = ReportOutcome {
            store_hash: Some(store.clone()),
            ..ReportOutcome::default()
        };
        // The report only writes what it changes, and only over the status it was judged against; if another
        // report moved the status meanwhile, judge again against the fresh record.
        let mut current = record.clone();
        for _ in 0..3 {
            let Some(seen) = current.as_ref() else { break };
            let Some(next) = send_after_report(seen, &update, now) else {
                break;
            };
            if db.record_delivery_report(seen.status, &next).await? {
                outcome.send_updated = true;
                break;
            }
            current = db.get_send(&next.store_hash, &next.cart_id, next.step).await?;
        }
        let permanent = matches!(
            update.outcome,
            DeliveryOutcome::InvalidNumber | DeliveryOutcome::Suppressed
        );
        if permanent && db.get_store(&store).await?.is_none() {
            tracing::warn!(status = %update.status, "permanent failure for a store that is not installed here");
            return Ok(outcome);
        }
        match update.outcome {
            DeliveryOutcome::InvalidNumber => {
                let problem = delivery_problem(&update);
                let (marked, cancelled) = tokio::try_join!(
                    db.mark_undeliverable(&store, &phone, &problem, now),
                    db.cancel_reminders(&store, &phone, now)
                )?;
                outcome.contact_undeliverable = marked;
                outcome.reminders_cancelled = cancelled;
            }
            DeliveryOutcome::Suppressed => {
                let code = update
                    .error_code
                    .map_or_else(|| update.status.clone(), |c| c.to_string());
                // One event per message, however many reports say so.
                let event = ConsentEvent::new(
                    store.clone(),
                    phone.clone(),
                    Purpose::Marketing,
                    now,
                    now,
                    format!("carrier:{}:{}", update.provider, update.message_id),
                    ConsentEventKind::OptOut(OptOutMethod::ProviderReported {
                        provider: update.provider.to_owned(),
                        code,
                    }),
                );
                let recorded = consent_changes::record(&deps.aws, &event, now).await?;
                outcome.reminders_cancelled = recorded.reminders_cancelled;
                outcome.opt_out_event_id = Some(recorded.event.event_id);
            }
            DeliveryOutcome::InProgress | DeliveryOutcome::Delivered | DeliveryOutcome::Failed => {}
        }
        tracing::info!(
            phone = %phone,
            provider = update.provider,
            status = %update.status,
            error_code = update.error_code,
            send_updated = outcome.send_updated,
            "delivery report processed"
        );
        Ok(outcome)
    }
    .instrument(span)
    .await
}
