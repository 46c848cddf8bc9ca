//! Recording a consent change the person (or their carrier) made — STOP, START, YES, the web opt-out page, a
//! carrier block — with everything that must follow it. One way to do it for every function that takes such
//! a change (`webhooks`, `shopper`):
//! 1. append the event to the ledger (idempotent by its key): from this moment the send decision sees it;
//! 2. for a withdrawal, end the number's pending reminders ([`crate::db::Db::cancel_reminders`]);
//! 3. if the event changed the number's consent state, queue the write-back to BigCommerce for a registered
//!    customer ([`SyncMessage::WriteBackConsent`]) and publish `consent.changed` with the masked number.
//!
//! A second STOP is recorded (evidence) but changes nothing merchants see, so nothing is queued or published
//! for it. "Changed" (status, since when, on what basis) is judged in the ledger's own order — the state just
//! before the event against the state with it — so of two opt-outs arriving at once exactly the earlier one
//! publishes. Steps 2-3 run again when a redelivered request finds its event already recorded: they are
//! idempotent (the write-back compares before writing; events are at-least-once), so a failure after step 1
//! loses nothing once the request is retried.

use crate::aws::Aws;
use crate::consent::{ConsentEvent, ConsentState, Purpose};
use crate::db::{Appended, PhoneSnapshot};
use crate::infra::InfraError;
use crate::messages::{ConsentChanged, DomainEvent, SyncMessage};
use crate::replies::is_withdrawal;
use crate::write_back::{ConsentMirror, status_code};
use chrono::{DateTime, Utc};

/// What [`record`] did.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub appended: Appended,
    /// The event as the ledger holds it: this one, or the one an earlier delivery recorded with its key.
    pub event: ConsentEvent,
    pub reminders_cancelled: usize,
    /// The phone at this store right after the change (contact, ledger, sends).
    pub snapshot: PhoneSnapshot,
    /// Whether the event changed the number's consent state (and `consent.changed` was published).
    pub changed: bool,
    /// Whether a write-back to BigCommerce was queued (registered customers only).
    pub write_back_queued: bool,
}

/// Records `event` and its consequences (see the module docs).
pub async fn record(aws: &Aws, event: &ConsentEvent, now: DateTime<Utc>) -> Result<Recorded, InfraError> {
    let appended = aws.db.append_consent(event).await?;
    let store = &event.store_hash;
    crate::failpoint!("consent.after_append", store.as_str(), Err(interrupted()));
    let phone = &event.phone;
    let cancel = async {
        if is_withdrawal(&event.kind) {
            aws.db.cancel_reminders(store, phone, now).await
        } else {
            Ok(0)
        }
    };
    let (reminders_cancelled, snapshot) = tokio::try_join!(cancel, aws.db.phone_snapshot(store, phone))?;
    crate::failpoint!("consent.after_cancel", store.as_str(), Err(interrupted()));
    let recorded = snapshot
        .ledger
        .iter()
        .find(|e| e.idempotency_key == event.idempotency_key)
        .cloned()
        .unwrap_or_else(|| event.clone());

    let changed = changes_state(&snapshot.ledger, &recorded);
    let customer_id = snapshot
        .contact
        .as_ref()
        .and_then(|c| c.customer_id)
        .filter(|_| changed);
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
        Ok::<_, InfraError>(())
    };
    let state = ConsentState::fold(&snapshot.ledger, Purpose::Marketing).status();
    let event_changed = DomainEvent::ConsentChanged(ConsentChanged {
        store_hash: store.clone(),
        phone_masked: phone.masked(),
        customer_id,
        state: status_code(state).to_owned(),
        ledger_event_id: recorded.event_id.clone(),
        changed_at: now,
    });
    let publish = async {
        if changed {
            aws.bus.publish(&event_changed).await?;
        }
        Ok::<_, InfraError>(())
    };
    tokio::try_join!(write_back, publish)?;
    crate::failpoint!("consent.after_write_back", store.as_str(), Err(interrupted()));
    tracing::info!(
        phone = %phone,
        ledger_event_id = %recorded.event_id,
        new = appended == Appended::New,
        changed,
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
        changed,
        write_back_queued: customer_id.is_some(),
    })
}

/// The retryable failure a failpoint makes [`record`] return.
#[cfg(feature = "failpoints")]
fn interrupted() -> InfraError {
    InfraError::Db(crate::db::DbError::Request("interrupted at a failpoint".into()))
}

/// Whether `event` changed the consent state as merchants see it ([`ConsentMirror`]: status, since when, on
/// what basis): the events ordered before it against the same with it.
fn changes_state(ledger: &[ConsentEvent], event: &ConsentEvent) -> bool {
    let key = |e: &ConsentEvent| (e.occurred_at, e.recorded_at, e.event_id.clone());
    let mut before: Vec<ConsentEvent> = ledger.iter().filter(|e| key(e) < key(event)).cloned().collect();
    let mirror_before = ConsentMirror::of(&before);
    before.push(event.clone());
    mirror_before != ConsentMirror::of(&before)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consent::{ConsentEventKind, OptInKeyword, OptOutMethod};
    use crate::{Phone, StoreHash};

    fn event(at: &str, kind: ConsentEventKind) -> ConsentEvent {
        let at = DateTime::parse_from_rfc3339(at).unwrap().with_timezone(&Utc);
        ConsentEvent::new(
            StoreHash::parse("abc123").unwrap(),
            Phone::from_e164("+12122014567").unwrap(),
            Purpose::Marketing,
            at,
            at,
            "key",
            kind,
        )
    }

    fn stop(at: &str) -> ConsentEvent {
        event(
            at,
            ConsentEventKind::OptOut(OptOutMethod::Keyword {
                raw_text: "STOP".into(),
                message_id: None,
            }),
        )
    }

    #[test]
    fn only_the_first_of_a_run_of_opt_outs_changes_the_state() {
        let start = event(
            "2026-11-25T10:00:00Z",
            ConsentEventKind::KeywordOptIn {
                keyword: OptInKeyword::Start,
                raw_text: "START".into(),
                message_id: None,
            },
        );
        let first = stop("2026-11-25T11:00:00Z");
        let second = stop("2026-11-25T11:00:01Z");
        // Both already in the ledger (two STOPs processed at once): each judges by the ledger's order.
        let ledger = vec![start.clone(), first.clone(), second.clone()];
        assert!(changes_state(&ledger, &start));
        assert!(changes_state(&ledger, &first));
        assert!(!changes_state(&ledger, &second));
    }
}
