//! The deployment's bulk-import budget (`BULK_IMPORT_CONTACTS_PER_SECOND`): every store's bulk sync shares
//! one, so a store importing 100,000 customers leaves the table's throughput (on-demand tables have
//! per-partition and account limits) to the other stores' live events and opt-outs. Each page reserves the
//! time its contacts take of the budget on one item in the table (shared by every concurrent invocation)
//! and holds its writes until its reservation starts, then spreads them over it in slices of
//! [`SLICE_CONTACTS`] (a page's writes in one burst would hold up every live request that arrives meanwhile).
//! Like the send rate (`send::pace`) it is physical throughput, so it is measured on the wall clock, not the
//! business clock.

use crate::SyncError;
use shared::db::Db;
use std::num::NonZeroU32;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The longest a page is held: well inside the sync function's timeout. A page is never reserved further
/// out, so a backlog cannot push the budget's free instant ever later.
pub const MAX_HOLD: Duration = Duration::from_secs(30);

/// Compare-and-set attempts on the budget before the page goes back to the queue.
const ATTEMPTS: usize = 10;

/// Contacts a page writes at once within its reservation: one `BatchWriteItem`. A page of 250 at the
/// template's lowest budget (20 a second) writes for 12.5 s after at most [`MAX_HOLD`]: inside the sync
/// function's 90 s timeout.
pub const SLICE_CONTACTS: usize = 25;

/// Where a page sits on the budget (epoch milliseconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reservation {
    /// When the page's writes may start.
    pub start_ms: i64,
    /// When the budget is free again for the next page.
    pub free_at_ms: i64,
}

/// Reserves `contacts` of a budget of `per_second` contacts a second that is free from `free_at_ms` on
/// (`None`: never used): the page starts when the budget is free (now, if it is already), at most
/// [`MAX_HOLD`] from now, and occupies it for `contacts / per_second` seconds.
pub fn reserve(free_at_ms: Option<i64>, now_ms: i64, contacts: usize, per_second: NonZeroU32) -> Reservation {
    let span_ms = (contacts as u64 * 1_000).div_ceil(u64::from(per_second.get()));
    let latest_start = now_ms + MAX_HOLD.as_millis() as i64;
    let start_ms = free_at_ms.unwrap_or(now_ms).clamp(now_ms, latest_start);
    Reservation {
        start_ms,
        free_at_ms: start_ms + span_ms as i64,
    }
}

impl Reservation {
    /// When the slice that follows the page's first `contacts_before` contacts may be written: the
    /// reservation's start plus their share of the budget.
    pub fn slice_start_ms(&self, contacts_before: usize, per_second: NonZeroU32) -> i64 {
        let offset_ms = (contacts_before as u64 * 1_000) / u64::from(per_second.get());
        (self.start_ms + offset_ms as i64).min(self.free_at_ms)
    }
}

/// A page's place on the budget, once reserved (no budget: writes go at once).
#[derive(Debug, Clone, Copy)]
pub struct PageBudget {
    reservation: Reservation,
    per_second: NonZeroU32,
}

/// Reserves the budget for a page of `contacts`, then holds it until its reservation starts (no budget: not
/// at all); returns the reservation, for [`wait_for_slice`], and how long the page was held.
pub async fn hold_page(
    db: &Db,
    contacts: usize,
    per_second: Option<NonZeroU32>,
) -> Result<(Option<PageBudget>, Duration), SyncError> {
    let Some(per_second) = per_second.filter(|_| contacts > 0) else {
        return Ok((None, Duration::ZERO));
    };
    for _ in 0..ATTEMPTS {
        let seen = db.bulk_import_free_at().await?;
        let reservation = reserve(seen, now_ms(), contacts, per_second);
        if db.move_bulk_import_free_at(seen, reservation.free_at_ms).await? {
            let hold = until(reservation.start_ms);
            tokio::time::sleep(hold).await;
            return Ok((
                Some(PageBudget {
                    reservation,
                    per_second,
                }),
                hold,
            ));
        }
    }
    Err(SyncError::Busy("the bulk-import budget is contended"))
}

/// Waits until the page's slice after its first `contacts_before` contacts may be written.
pub async fn wait_for_slice(budget: Option<&PageBudget>, contacts_before: usize) {
    if let Some(budget) = budget {
        let start = budget.reservation.slice_start_ms(contacts_before, budget.per_second);
        tokio::time::sleep(until(start)).await;
    }
}

/// From now until `at_ms` (zero if it has passed).
fn until(at_ms: i64) -> Duration {
    Duration::from_millis(u64::try_from(at_ms - now_ms()).unwrap_or(0))
}

fn now_ms() -> i64 {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_796_000_000_000;

    fn budget(per_second: u32) -> NonZeroU32 {
        NonZeroU32::new(per_second).unwrap()
    }

    #[test]
    fn a_page_on_a_free_budget_starts_now_and_occupies_it_for_its_contacts() {
        let first = reserve(None, NOW, 250, budget(100));
        assert_eq!(
            first,
            Reservation {
                start_ms: NOW,
                free_at_ms: NOW + 2_500
            }
        );
        // Budget freed in the past: no credit is banked for the idle time.
        let later = reserve(Some(NOW - 60_000), NOW, 250, budget(100));
        assert_eq!(later, first);
    }

    #[test]
    fn pages_in_a_row_are_held_to_the_budget() {
        // Three pages of 250 arriving together at 100 contacts a second: 750 contacts over 7.5 s, each page's
        // writes no sooner than its predecessor's share of the budget allows.
        let mut free_at = None;
        let mut starts = Vec::new();
        for _ in 0..3 {
            let r = reserve(free_at, NOW, 250, budget(100));
            starts.push(r.start_ms - NOW);
            free_at = Some(r.free_at_ms);
        }
        assert_eq!(starts, [0, 2_500, 5_000]);
        assert_eq!(free_at, Some(NOW + 7_500));
        // A page arriving while another holds the budget waits only for the rest of it.
        let r = reserve(Some(NOW + 1_000), NOW, 50, budget(100));
        assert_eq!(
            r,
            Reservation {
                start_ms: NOW + 1_000,
                free_at_ms: NOW + 1_500
            }
        );
    }

    #[test]
    fn a_pages_slices_are_spread_over_its_reservation() {
        // 175 contacts at 20 a second: 8.75 s, a slice of 25 every 1.25 s, none after the reservation ends.
        let r = reserve(Some(NOW + 2_000), NOW, 175, budget(20));
        let starts: Vec<i64> = (0..175)
            .step_by(SLICE_CONTACTS)
            .map(|before| r.slice_start_ms(before, budget(20)) - NOW)
            .collect();
        assert_eq!(starts, [2_000, 3_250, 4_500, 5_750, 7_000, 8_250, 9_500]);
        assert_eq!(r.free_at_ms - NOW, 10_750);
        assert_eq!(r.slice_start_ms(1_000, budget(20)), r.free_at_ms);
    }

    #[test]
    fn a_partial_page_takes_its_share_rounded_up() {
        assert_eq!(reserve(None, NOW, 1, budget(3)).free_at_ms, NOW + 334);
        assert_eq!(reserve(None, NOW, 0, budget(3)).free_at_ms, NOW);
    }

    #[test]
    fn no_page_is_held_longer_than_an_invocation_can_wait() {
        let far = NOW + 10 * 60_000;
        let r = reserve(Some(far), NOW, 250, budget(20));
        assert_eq!(r.start_ms - NOW, MAX_HOLD.as_millis() as i64);
        assert_eq!(r.free_at_ms, r.start_ms + 12_500);
    }
}
