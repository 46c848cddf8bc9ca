//! The store's send rate: at most `messages_per_second` reminders in any wall-clock second, across every
//! concurrent invocation (a counter per store and second in the table), so a burst never exceeds the
//! sender's registered throughput.

use crate::SendError;
use shared::StoreHash;
use shared::ports::ReminderStore;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// What a job that reached its latest start (see [`crate::TIME_TO_FINISH_A_JOB`]) before the provider call
/// returns: it holds no attempt, so its redelivery sends it.
pub const NO_TIME_LEFT: SendError = SendError::Busy("no time left in this invocation to send");

/// How long a job waits for a free second before giving its message back to the queue.
const MAX_WAIT: Duration = Duration::from_secs(10);

/// Waits until the store may send one more message, and takes that slot; gives up (the job is retried later)
/// after `MAX_WAIT` ([`SendError::RateUsedUp`]), and takes no slot at or after `latest_start`. Throughput is physical: it is measured on
/// the wall clock, not the business clock the rest of the sender uses.
pub async fn wait_for_slot(
    db: &impl ReminderStore,
    store: &StoreHash,
    messages_per_second: u32,
    latest_start: Instant,
) -> Result<(), SendError> {
    let deadline = latest_start.min(Instant::now() + MAX_WAIT);
    loop {
        if Instant::now() >= latest_start {
            return Err(NO_TIME_LEFT);
        }
        let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let second = i64::try_from(since_epoch.as_secs()).unwrap_or(i64::MAX);
        if db.take_send_slot(store, second, messages_per_second).await? {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(SendError::RateUsedUp);
        }
        let to_next_second = Duration::from_millis(1_000 - u64::from(since_epoch.subsec_millis()));
        tokio::time::sleep(to_next_second).await;
    }
}
