//! Recording a consent change the person (or their carrier) made — STOP, START, YES, the web opt-out page, a
//! carrier block — with everything that must follow it. One way to do it for every function that takes such
//! a change (`webhooks`, `shopper`):
//! 1. append the event to the ledger (idempotent by its key): from this moment the send decision sees it;
//! 2. for a withdrawal, end the number's pending reminders ([`crate::db::Db::cancel_reminders`]);
//! 3. for a registered customer, queue the write-back to BigCommerce ([`SyncMessage::WriteBackConsent`]);
//! 4. publish `consent.changed` with the masked number.
//!
//! Steps 2-4 run again when a redelivered request finds its event already recorded: they are idempotent
//! (the write-back compares before writing; events are at-least-once), so a failure after step 1 loses
//! nothing once the caller's request is retried.

use crate::aws::Aws;
use crate::bus::BusError;
use crate::consent::{ConsentEvent, ConsentState, Purpose};
use crate::db::{Appended, DbError, PhoneSnapshot};
use crate::messages::{ConsentChanged, DomainEvent, SyncMessage};
use crate::queue::QueueError;
use crate::replies::is_withdrawal;
use crate::write_back::status_code;
use chrono::{DateTime, Utc};

#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error(transparent)]
    Bus(#[from] BusError),
}

impl ChangeError {
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Db(e) => e.is_retryable(),
            Self::Queue(_) | Self::Bus(_) => true,
        }
    }
}

/// What [`record`] did.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub appended: Appended,
    /// The event as the ledger holds it: this one, or the one an earlier delivery recorded with its key.
    pub event: ConsentEvent,
    pub reminders_cancelled: usize,
    /// The phone at this store right after the change (contact, ledger, sends).
    pub snapshot: PhoneSnapshot,
    /// Whether a write-back to BigCommerce was queued (registered customers only).
    pub write_back_queued: bool,
}

/// Records `event` and its consequences (see the module docs).
pub async fn record(aws: &Aws, event: &ConsentEvent, now: DateTime<Utc>) -> Result<Recorded, ChangeError> {
    let appended = aws.db.append_consent(event).await?;
    let store = &event.store_hash;
    let phone = &event.phone;
    let cancel = async {
        if is_withdrawal(&event.kind) {
            aws.db.cancel_reminders(store, phone, now).await
        } else {
            Ok(0)
        }
    };
    let (reminders_cancelled, snapshot) = tokio::try_join!(cancel, aws.db.phone_snapshot(store, phone))?;
    let recorded = snapshot
        .ledger
        .iter()
        .find(|e| e.idempotency_key == event.idempotency_key)
        .cloned()
        .unwrap_or_else(|| event.clone());

    let customer_id = snapshot.contact.as_ref().and_then(|c| c.customer_id);
    let write_back = async {
        if let Some(customer_id) = customer_id {
            aws.sync_queue
                .send(&SyncMessage::WriteBackConsent {
                    store_hash: store.clone(),
                    customer_id,
                    phone: phone.clone(),
                })
                .await?;
        }
        Ok::<_, ChangeError>(())
    };
    let state = ConsentState::fold(&snapshot.ledger, Purpose::Marketing).status();
    let changed = DomainEvent::ConsentChanged(ConsentChanged {
        store_hash: store.clone(),
        phone_masked: phone.masked(),
        customer_id,
        state: status_code(state).to_owned(),
        ledger_event_id: recorded.event_id.clone(),
        changed_at: now,
    });
    let publish = async { aws.bus.publish(&changed).await.map_err(ChangeError::from) };
    tokio::try_join!(write_back, publish)?;
    tracing::info!(
        phone = %phone,
        ledger_event_id = %recorded.event_id,
        new = appended == Appended::New,
        state = status_code(state),
        reminders_cancelled,
        write_back = customer_id.is_some(),
        "consent change recorded"
    );
    Ok(Recorded {
        appended,
        event: recorded,
        reminders_cancelled,
        snapshot,
        write_back_queued: customer_id.is_some(),
    })
}
