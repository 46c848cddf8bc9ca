//! What the settings page reports once the store is connected: the bulk sync's progress, contacts by consent
//! state, recent reminders with recovered revenue, and the consent decisions behind them.

use futures::StreamExt;
use shared::StoreHash;
use shared::consent::{ConsentState, ConsentStatus, Purpose};
use shared::db::ProviderOutage;
use shared::db::{Db, DbError};
use shared::model::{ReminderDecision, SendRecord, SendStatus, SyncJob};
use shared::recovery::RecoverySummary;
use std::collections::BTreeMap;

/// Contacts whose ledgers the page folds; beyond this it shows the total and says the counts are a sample.
pub const CONSENT_SAMPLE: usize = 100;
/// Ledgers read at once while folding the sample.
const CONCURRENT_LEDGERS: usize = 16;
/// Reminders listed, and summarised (clicks, recovered orders, revenue).
pub const RECENT_REMINDERS: i32 = 50;
/// Decisions listed.
pub const RECENT_DECISIONS: i32 = 20;

#[derive(Debug, Clone, Default)]
pub struct Status {
    pub sync_job: Option<SyncJob>,
    pub failed_pages: Vec<u32>,
    pub contacts_total: u64,
    /// How many contacts' ledgers were folded into [`Status::consent_counts`].
    pub contacts_folded: usize,
    pub consent_counts: ConsentCounts,
    pub recent_sends: Vec<SendRecord>,
    pub recent_decisions: Vec<ReminderDecision>,
    /// What [`Status::recent_sends`] achieved: clicks, recovered orders and their revenue.
    pub recovery: RecoverySummary,
    /// The latest SMS provider outage and what became of the reminders it delayed.
    pub outage: Option<OutageReport>,
}

/// Reminders of an outage whose outcome the page reads; beyond this it reports the first ones.
pub const OUTAGE_REMINDERS: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutageReport {
    pub outage: ProviderOutage,
    /// Delayed reminders sent since.
    pub sent: usize,
    /// Delayed reminders not sent, by why (the code recorded on the send, e.g. `cart_reminder_expired`).
    pub not_sent: BTreeMap<String, usize>,
    /// Delayed reminders not settled yet (still waiting for the provider, or for a lawful time).
    pub waiting: usize,
}

async fn outage_report(db: &Db, store: &StoreHash, outage: ProviderOutage) -> Result<OutageReport, DbError> {
    let delayed: Vec<(String, u8)> = outage.delayed.iter().take(OUTAGE_REMINDERS).cloned().collect();
    let sends: Vec<Result<Option<SendRecord>, DbError>> = futures::stream::iter(delayed)
        .map(|(cart_id, step)| async move { db.get_send(store, &cart_id, step).await })
        .buffer_unordered(CONCURRENT_LEDGERS)
        .collect()
        .await;
    let mut report = OutageReport {
        outage,
        sent: 0,
        not_sent: BTreeMap::new(),
        waiting: 0,
    };
    for send in sends {
        match send? {
            Some(send) if matches!(send.status, SendStatus::Sent | SendStatus::Delivered) => report.sent += 1,
            // An unconfirmed send's error says its outcome is unknown and it is not sent again.
            Some(send) if matches!(send.status, SendStatus::Failed | SendStatus::Unconfirmed) => {
                let error = send.error.unwrap_or_default();
                let why = error.strip_prefix("not sent: ").unwrap_or(&error).to_owned();
                *report.not_sent.entry(why).or_default() += 1;
            }
            _ => report.waiting += 1,
        }
    }
    Ok(report)
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConsentCounts {
    pub subscribed: u64,
    /// Of the subscribed, those whose strongest consent is express and SMS-specific (a verified checkbox, a
    /// texted keyword, a confirmed double opt-in): the only ones a US marketing text may go to.
    pub subscribed_sms_express: u64,
    pub pending_double_opt_in: u64,
    pub unsubscribed: u64,
    pub never_subscribed: u64,
}

impl ConsentCounts {
    fn add(&mut self, state: &ConsentState<'_>) {
        if state.strongest().is_some_and(|grant| grant.basis.is_sms_express()) {
            self.subscribed_sms_express += 1;
        }
        match state.status() {
            ConsentStatus::Subscribed => self.subscribed += 1,
            ConsentStatus::PendingDoubleOptIn => self.pending_double_opt_in += 1,
            ConsentStatus::Unsubscribed => self.unsubscribed += 1,
            ConsentStatus::NeverSubscribed => self.never_subscribed += 1,
        }
    }
}

pub async fn load(db: &Db, store: &StoreHash) -> Result<Status, DbError> {
    let (job, contacts, sends, decisions, outage) = futures::try_join!(
        db.latest_sync_job(store),
        db.store_contact_sample(store, CONSENT_SAMPLE),
        db.recent_sends(store, RECENT_REMINDERS),
        db.recent_decisions(store, RECENT_DECISIONS),
        db.provider_outage(store),
    )?;
    let outage = match outage {
        Some(outage) => Some(outage_report(db, store, outage).await?),
        None => None,
    };
    let failed_pages = match &job {
        Some(job) if job.pages_failed > 0 => db
            .failed_sync_pages(store, &job.job_id)
            .await?
            .into_iter()
            .map(|failed| failed.page)
            .collect(),
        _ => Vec::new(),
    };
    let (contacts_total, sample) = contacts;
    let contacts_folded = sample.len();
    let consent_counts = consent_counts(db, store, sample.into_iter().map(|c| c.phone)).await?;
    Ok(Status {
        recovery: RecoverySummary::of(&sends),
        sync_job: job,
        failed_pages,
        contacts_total,
        contacts_folded,
        consent_counts,
        recent_sends: sends,
        recent_decisions: decisions,
        outage,
    })
}

/// Folds each phone's ledger (a few at once) and counts the contacts by marketing consent status.
pub async fn consent_counts(
    db: &Db,
    store: &StoreHash,
    phones: impl IntoIterator<Item = shared::Phone>,
) -> Result<ConsentCounts, DbError> {
    let ledgers: Vec<Result<_, DbError>> = futures::stream::iter(phones)
        .map(|phone| async move { db.ledger(store, &phone).await })
        .buffer_unordered(CONCURRENT_LEDGERS)
        .collect()
        .await;
    let mut counts = ConsentCounts::default();
    for ledger in ledgers {
        counts.add(&ConsentState::fold(&ledger?, Purpose::Marketing));
    }
    Ok(counts)
}
