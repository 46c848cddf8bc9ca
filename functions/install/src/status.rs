//! What the settings page reports once the store is connected: the bulk sync's progress, contacts by consent
//! state, recovery at a glance (30 days of counters), recent reminders with recovered revenue, and the consent
//! decisions behind them.

use chrono::{DateTime, Utc};
use futures::StreamExt;
use shared::StoreHash;
use shared::consent::{ConsentState, ConsentStatus, Purpose};
use shared::db::ProviderOutage;
use shared::db::{Db, DbError};
use shared::model::{ReminderDecision, SendRecord, SendStatus, SyncJob};
use shared::recovery::RecoverySummary;
use shared::recovery_stats::{CHART_DAYS, ConsentTotals, DayStats};
use std::collections::BTreeMap;

/// Ledgers (or sends) read at once.
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
    /// Contacts by consent state, from the store's counters (no ledger is read).
    pub consent_counts: ConsentCounts,
    /// The counters of the last [`CHART_DAYS`] UTC days, oldest first (recovery at a glance).
    pub days: Vec<DayStats>,
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

impl From<ConsentTotals> for ConsentCounts {
    fn from(totals: ConsentTotals) -> Self {
        let count = |n: i64| u64::try_from(n).unwrap_or(0);
        Self {
            subscribed: count(totals.subscribed),
            subscribed_sms_express: count(totals.subscribed_sms_express),
            pending_double_opt_in: count(totals.pending_double_opt_in),
            unsubscribed: count(totals.unsubscribed),
            never_subscribed: count(totals.never_subscribed()),
        }
    }
}

/// What the page shows once connected. Its cost does not grow with the store: every figure about contacts and
/// recovery comes from counters (one `BatchGetItem`), lists are bounded.
pub async fn load(db: &Db, store: &StoreHash, now: DateTime<Utc>) -> Result<Status, DbError> {
    let (job, counters, sends, decisions, outage) = futures::try_join!(
        db.latest_sync_job(store),
        db.recovery_days(store, now.date_naive(), CHART_DAYS),
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
    let (days, totals) = counters;
    Ok(Status {
        recovery: RecoverySummary::of(&sends),
        sync_job: job,
        failed_pages,
        contacts_total: u64::try_from(totals.contacts).unwrap_or(0),
        consent_counts: totals.into(),
        days,
        recent_sends: sends,
        recent_decisions: decisions,
        outage,
    })
}

/// Folds each phone's ledger (a few at once) and counts the contacts by marketing consent status (the demo
/// checks the counters against it).
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
