//! Every key the table uses, in one place: partition and sort keys, the sort-key prefixes that range queries
//! and partition reads go by, index keys, and the members of the outage's `delayed` set. No other module
//! spells a key. `docs/data-model.md` documents them as a table.
//!
//! Partitions:
//! - `STORE#{hash}`: the store record, its settings versions, users, sync jobs, the store directory, erasure
//!   records and the latest SMS provider outage.
//! - `STORE#{hash}#PHONE#{e164}`: everything about one phone at one store: the contact, the consent ledger,
//!   idempotency markers of ledger events, the messages sent to it, its carts' markers and its replies (one
//!   query answers a send decision).
//! - `STORE#{hash}#CART#{id}`: a cart, its send claims (one per step) and its reminder decisions.
//! - `STORE#{hash}#RATE#{epoch_second}`: reminders a store sent in one second (its send rate; TTL).
//! - `STORE#{hash}#GROUP#{name}`: membership items of a contact group.
//! - `STORE#{hash}#EMAIL#{email}`: a newsletter subscriber (`SUBSCRIBER`), read by the contact sync.
//! - `DEDUPE#{key}`: de-duplication markers with a TTL (webhook hashes, provider reply ids).
//! - `RATE#{key}#{window}`: request counters of the public shopper endpoints (TTL).
//! - `TOKEN#{token}`: recovery-link and opt-out tokens (sort key: the link's kind).
//! - `SWEEP`: the sweep's watermark.
//! - `PURGE`: uninstalled stores by the time their data is purged.
//! - `PACE#bulk-import`: the deployment's bulk-import budget (when it is next free).
//! - `SENDER#{sender}`: the operator's approval of a sender number or ID (the stores it is proven for).
//! - `STORE#{hash}#STATS`: the settings page's counters: one item per UTC day (`DAY#{date}`, TTL) and the
//!   contacts by consent state (`CONSENT`).
//!
//! Indexes: `Lookup` (`gsi1pk`/`gsi1sk`: contact by customer id, send by provider message id, subscriber by
//! id), `StoreLists` (`gsi2pk`/`gsi2sk`: a store's contacts, sends, reminder decisions and subscribers) and
//! `DueCarts` (`due_pk`/`due_sk`: carts by due time, in hourly buckets sharded [`DUE_SHARDS`] ways).

use crate::consent::SentKind;
use crate::{Phone, StoreHash};
use chrono::{DateTime, SecondsFormat, Utc};

pub const LOOKUP_INDEX: &str = "Lookup";
pub const STORE_LISTS_INDEX: &str = "StoreLists";
pub const DUE_CARTS_INDEX: &str = "DueCarts";
/// The TTL attribute (epoch seconds).
pub const TTL_ATTRIBUTE: &str = "expires_at";
/// Shards per due-time bucket, so carts due in the same hour spread over several partitions.
pub const DUE_SHARDS: u32 = 8;

// Sort-key prefixes: the kind of item a sort key names, for range queries ([`prefix_end`]) and for telling a
// partition's items apart.
/// Store partition: sync jobs.
pub const SYNC_JOB_PREFIX: &str = "SYNCJOB#";
/// Store partition: erasure records.
pub const ERASURE_PREFIX: &str = "ERASURE#";
/// Phone partition: ledger events.
pub const CONSENT_PREFIX: &str = "CONSENT#";
/// Phone partition: ledger idempotency markers.
pub const CONSENT_KEY_PREFIX: &str = "CONSENTKEY#";
/// Phone partition: messages sent to the number.
pub const SENT_PREFIX: &str = "SENT#";
/// Phone partition: texts the number sent us.
pub const REPLY_PREFIX: &str = "REPLY#";
/// Phone partition: markers of the carts that had the number.
pub const PHONE_CART_PREFIX: &str = "CART#";
/// Cart partition: send records (one per reminder step).
pub const SEND_PREFIX: &str = "SEND#";
/// Cart partition: reminder decisions.
pub const DECISION_PREFIX: &str = "DECISION#";

/// The upper end of a range query over every sort key starting with `prefix`: `~` sorts after every
/// character keys use.
pub fn prefix_end(prefix: &str) -> String {
    format!("{prefix}~")
}

pub fn store_pk(store: &StoreHash) -> String {
    format!("STORE#{store}")
}

pub const STORE_SK: &str = "STORE";
/// Under the store's key: its latest SMS provider outage (`first_failed_at`, `last_failed_at`, `delayed`).
pub const SMS_OUTAGE_SK: &str = "SMS_OUTAGE";

pub fn settings_sk(version: u32) -> String {
    format!("SETTINGS#{version:010}")
}

pub fn user_sk(user_id: u64) -> String {
    format!("USER#{user_id}")
}

/// In a store's partition: the record of one erasure (who asked, why, when).
pub fn erasure_sk(erased_at: DateTime<Utc>) -> String {
    format!("{ERASURE_PREFIX}{}", timestamp(erased_at))
}

/// The de-duplication key (under [`dedupe_pk`]) of a deleted or erased customer's tombstone: whoever writes
/// customers' contacts checks it, so a copy of the customer in flight stays erased.
pub fn deleted_customer_tombstone(store: &StoreHash, customer_id: u64) -> String {
    format!("deleted-customer:{store}:{customer_id}")
}

pub fn sync_job_sk(job_id: &str) -> String {
    format!("{SYNC_JOB_PREFIX}{job_id}")
}

pub fn phone_pk(store: &StoreHash, phone: &Phone) -> String {
    format!("STORE#{store}#PHONE#{}", phone.as_e164())
}

pub const CONTACT_SK: &str = "CONTACT";

/// The merchant's own number for test texts (in the phone's partition, so erasing the number removes it).
pub const TEST_NUMBER_SK: &str = "TEST_NUMBER";

pub fn consent_sk(occurred_at: DateTime<Utc>, event_id: &str) -> String {
    format!("{CONSENT_PREFIX}{}#{event_id}", timestamp(occurred_at))
}

pub fn consent_key_sk(idempotency_key: &str) -> String {
    format!("{CONSENT_KEY_PREFIX}{idempotency_key}")
}

/// A message sent to a phone: `SENT#{at}#{cart}#{step}` for reminders, `SENT#{at}#{kind}` for transactional
/// messages (opt-out confirmation, HELP reply, double opt-in request).
pub fn sent_sk(sent_at: DateTime<Utc>, kind: &SentKind) -> String {
    let what = match kind {
        SentKind::CartReminder { cart_id, step } => format!("{cart_id}#{step}"),
        SentKind::OptOutConfirmation => "opt_out_confirmation".to_owned(),
        SentKind::HelpReply => "help_reply".to_owned(),
        SentKind::DoubleOptInRequest => "double_opt_in_request".to_owned(),
    };
    format!("{SENT_PREFIX}{}#{what}", timestamp(sent_at))
}

/// When a ledger event or a sent message happened, read from its sort key (`CONSENT#{at}#…`, `SENT#{at}#…`).
pub fn time_in_sort_key(sk: &str) -> Option<DateTime<Utc>> {
    let at = sk
        .strip_prefix(CONSENT_PREFIX)
        .or_else(|| sk.strip_prefix(SENT_PREFIX))?
        .split('#')
        .next()?;
    DateTime::parse_from_rfc3339(at).ok().map(|at| at.with_timezone(&Utc))
}

/// An inbound text from the phone, kept for the merchant: `REPLY#{received_at}#{provider}#{message_id}`.
pub fn reply_sk(received_at: DateTime<Utc>, provider: &str, message_id: &str) -> String {
    format!("{REPLY_PREFIX}{}#{provider}#{message_id}", timestamp(received_at))
}

pub fn customer_lookup(store: &StoreHash, customer_id: u64) -> String {
    format!("STORE#{store}#CUSTOMER#{customer_id}")
}

pub fn store_contacts(store: &StoreHash) -> String {
    format!("STORE#{store}#CONTACTS")
}

pub fn store_sends(store: &StoreHash) -> String {
    format!("STORE#{store}#SENDS")
}

/// `StoreLists` sort key of a send record under [`store_sends`]: newest last by claim time.
pub fn store_send_sk(claimed_at: DateTime<Utc>, cart_id: &str, step: u8) -> String {
    format!("{}#{cart_id}#{step:02}", timestamp(claimed_at))
}

pub fn store_decisions(store: &StoreHash) -> String {
    format!("STORE#{store}#DECISIONS")
}

/// `StoreLists` sort key of a reminder decision under [`store_decisions`].
pub fn store_decision_sk(decided_at: DateTime<Utc>, cart_id: &str, step: u8) -> String {
    format!("{}#{cart_id}#{step:02}", timestamp(decided_at))
}

pub fn group_pk(store: &StoreHash, group: &str) -> String {
    format!("STORE#{store}#GROUP#{group}")
}

pub fn cart_pk(store: &StoreHash, cart_id: &str) -> String {
    format!("STORE#{store}#CART#{cart_id}")
}

pub const CART_SK: &str = "CART";

/// In a phone's partition: a cart that has (or had) this phone, so an opt-out can end its reminders.
pub fn phone_cart_sk(cart_id: &str) -> String {
    format!("{PHONE_CART_PREFIX}{cart_id}")
}

pub fn send_sk(step: u8) -> String {
    format!("{SEND_PREFIX}{step:02}")
}

pub fn decision_sk(decided_at: DateTime<Utc>, step: u8) -> String {
    format!("{DECISION_PREFIX}{}#{step:02}", timestamp(decided_at))
}

/// In a cart's partition: the reminder a cart re-created from a recovery link came from.
pub const RECREATED_FROM_SK: &str = "RECREATED_FROM";

/// A store's reminders sent in one wall-clock second (the per-store send rate), expiring soon after.
pub fn send_rate_pk(store: &StoreHash, epoch_second: i64) -> String {
    format!("STORE#{store}#RATE#{epoch_second}")
}

pub const SEND_RATE_SK: &str = "RATE";

/// The deployment's bulk-import budget: the wall-clock instant from which it is free (one item for every
/// store, so one store's import cannot crowd out another's live writes, see `sync::pace`).
pub const BULK_IMPORT_PACE_PK: &str = "PACE#bulk-import";

pub const PACE_SK: &str = "PACE";

/// `Lookup` key of a sent reminder by the provider's message id (with [`SEND_LOOKUP_SK`]).
pub fn provider_message_lookup(provider: &str, message_id: &str) -> String {
    format!("PROVIDERMSG#{provider}#{message_id}")
}

pub const SEND_LOOKUP_SK: &str = "SEND";

pub fn dedupe_pk(key: &str) -> String {
    format!("DEDUPE#{key}")
}

pub const DEDUPE_SK: &str = "DEDUPE";

pub fn token_pk(token: &str) -> String {
    format!("TOKEN#{token}")
}

/// One sender number or ID (its [`crate::model::sender::sender_key`]): the operator's approval of it.
pub fn sender_pk(sender_key: &str) -> String {
    format!("SENDER#{sender_key}")
}

/// In a sender's partition: the stores the operator approved it for.
pub const SENDER_APPROVAL_SK: &str = "APPROVAL";

/// In a store's partition: the names the sync reads ids against (customer groups, attributes, country).
pub const DIRECTORY_SK: &str = "DIRECTORY";

/// A newsletter subscriber of a store, by normalised email (one partition per address spreads bulk writes).
pub fn subscriber_email_pk(store: &StoreHash, email: &str) -> String {
    format!("STORE#{store}#EMAIL#{email}")
}

pub const SUBSCRIBER_SK: &str = "SUBSCRIBER";

/// `Lookup` index key of a subscriber by BigCommerce id (to find who a deleted subscriber was).
pub fn subscriber_lookup(store: &StoreHash, subscriber_id: u64) -> String {
    format!("STORE#{store}#SUBSCRIBER#{subscriber_id}")
}

/// A request counter for one rate-limit key in one fixed window (TTL-deleted after the window).
pub fn rate_pk(key: &str, window_start: DateTime<Utc>) -> String {
    format!("RATE#{key}#{}", window_start.timestamp())
}

pub const RATE_LIMIT_SK: &str = "RATE";

/// Uninstalled stores waiting for their purge: `PURGE` / `{purge_after}#{store}` (see `db::purge`).
pub const PURGE_PK: &str = "PURGE";

pub fn purge_sk(purge_after: DateTime<Utc>, store: &StoreHash) -> String {
    format!("{}#{store}", timestamp(purge_after))
}

/// The range of [`purge_sk`]s due at `now`: from the first to every store filed for `now`.
pub fn purge_due_range(now: DateTime<Utc>) -> (&'static str, String) {
    ("0", format!("{}#~", timestamp(now)))
}

/// In the store partition's [`SMS_OUTAGE_SK`] item: a reminder the outage delayed, `{step}#{cart_id}` in the
/// `delayed` string set.
pub fn delayed_reminder(cart_id: &str, step: u8) -> String {
    format!("{step}#{cart_id}")
}

/// The `(cart_id, step)` of a [`delayed_reminder`] member.
pub fn parse_delayed_reminder(member: &str) -> Option<(String, u8)> {
    let (step, cart_id) = member.split_once('#')?;
    Some((cart_id.to_owned(), step.parse().ok()?))
}

/// `StoreLists` list of a store's newsletter subscribers (so an uninstalled store's purge finds them).
pub fn store_subscribers(store: &StoreHash) -> String {
    format!("STORE#{store}#SUBSCRIBERS")
}

/// How long items without proof value live after their last write (DynamoDB TTL on [`TTL_ATTRIBUTE`]).
pub const CART_RETENTION_DAYS: i64 = 90;
pub const REPLY_RETENTION_DAYS: i64 = 180;
pub const DECISION_RETENTION_DAYS: i64 = 365;

/// The partition of a store's counters (recovery at a glance).
pub fn stats_pk(store: &StoreHash) -> String {
    format!("STORE#{store}#STATS")
}

/// In [`stats_pk`]: one UTC day's counters (`DAY#2026-11-25`).
pub fn day_stats_sk(day: chrono::NaiveDate) -> String {
    format!("DAY#{}", day.format("%Y-%m-%d"))
}

/// In [`stats_pk`]: the store's contacts by consent state.
pub const CONSENT_STATS_SK: &str = "CONSENT";

/// In a phone's partition: the consent state the store's counters count the phone in.
pub const COUNTED_STATE_SK: &str = "COUNTED_STATE";

/// In a cart's partition: marks that one reminder step's decision (or refusal) was counted, so a redelivered
/// job does not count it again (`COUNTED#DECISION#01`).
pub fn counted_sk(what: &str, step: u8) -> String {
    format!("COUNTED#{what}#{step:02}")
}

/// Day counters outlive the chart's 30 days a little, then expire.
pub const STATS_RETENTION_DAYS: i64 = 35;

pub const SWEEP_PK: &str = "SWEEP";
pub const WATERMARK_SK: &str = "WATERMARK";

/// What the sweep's watermark item (`SWEEP` / `WATERMARK`) holds ([`super::Db::sweep_watermark`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweepWatermark {
    /// The oldest hour whose every shard the next fan-out probes (attribute `from`).
    pub from: DateTime<Utc>,
    /// Shards in buckets older than `from` that still held a due cart at the last fan-out (attribute `held`,
    /// a list of [`DueShard::held_entry`]): the next fan-out probes each once more, not every shard of every
    /// hour since.
    pub held: Vec<DueShard>,
}

/// Fixed-width UTC timestamps, so sort keys order by time.
pub fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The hourly bucket a due time falls in (`2026112514` for 14:xx UTC on 25 Nov 2026).
pub fn due_bucket(at: DateTime<Utc>) -> String {
    at.format("%Y%m%d%H").to_string()
}

/// Whether `bucket` is one [`due_bucket`] makes (what a sweep worker checks of a message it is given).
pub fn is_due_bucket(bucket: &str) -> bool {
    bucket.len() == 10 && chrono::NaiveDateTime::parse_from_str(&format!("{bucket}00"), "%Y%m%d%H%M").is_ok()
}

/// The shard of a cart in every bucket: stable, spread by a hash of the cart's key.
pub fn due_shard(store: &StoreHash, cart_id: &str) -> u32 {
    // FNV-1a: stable across processes and releases (std's hasher is not).
    let mut hash: u32 = 0x811c_9dc5;
    for byte in store.as_str().bytes().chain([b'#']).chain(cart_id.bytes()) {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash % DUE_SHARDS
}

pub fn due_pk(bucket: &str, shard: u32) -> String {
    format!("DUE#{bucket}#{shard}")
}

/// One shard of one hour bucket of the due index (the partition [`due_pk`] names). Ordered by bucket, so by
/// time, then shard.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DueShard {
    pub bucket: String,
    pub shard: u32,
}

impl DueShard {
    /// As the watermark's `held` list stores it: `{bucket}#{shard}` (`2026112514#3`).
    pub fn held_entry(&self) -> String {
        format!("{}#{}", self.bucket, self.shard)
    }

    /// A [`DueShard::held_entry`] read back: `None` unless a bucket [`due_bucket`] makes and a shard below
    /// [`DUE_SHARDS`].
    pub fn parse_held_entry(entry: &str) -> Option<Self> {
        let (bucket, shard) = entry.split_once('#')?;
        let shard: u32 = shard.parse().ok()?;
        (is_due_bucket(bucket) && shard < DUE_SHARDS).then(|| Self {
            bucket: bucket.to_owned(),
            shard,
        })
    }
}

pub fn due_sk(due_at: DateTime<Utc>, store: &StoreHash, cart_id: &str) -> String {
    format!("{}#{store}#{cart_id}", timestamp(due_at))
}

/// The upper bound of the [`due_sk`]s due before `now`: `$` sorts after the `#` that follows the timestamp.
pub fn due_sk_before(now: DateTime<Utc>) -> String {
    format!("{}$", timestamp(now))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn timestamps_sort_like_time() {
        let a = timestamp(at("2026-11-25T09:59:59.999Z"));
        let b = timestamp(at("2026-11-25T10:00:00Z"));
        let c = timestamp(at("2026-11-25T10:00:00.001Z"));
        assert!(a < b && b < c, "{a} {b} {c}");
        assert_eq!(b, "2026-11-25T10:00:00.000Z");
    }

    #[test]
    fn times_and_delayed_reminders_read_back_from_their_keys() {
        let sent = at("2026-11-25T10:00:00Z");
        let reminder = SentKind::CartReminder {
            cart_id: "c1".into(),
            step: 2,
        };
        assert_eq!(time_in_sort_key(&sent_sk(sent, &reminder)), Some(sent));
        assert_eq!(time_in_sort_key(&consent_sk(sent, "e1")), Some(sent));
        assert_eq!(time_in_sort_key(&consent_key_sk("k")), None);
        assert_eq!(time_in_sort_key(CONTACT_SK), None);
        assert_eq!(
            parse_delayed_reminder(&delayed_reminder("c#1", 3)),
            Some(("c#1".to_owned(), 3))
        );
        assert_eq!(parse_delayed_reminder("x#c1"), None);
        // Each prefix's range holds its keys and no other kind's.
        let (from, to) = (CONSENT_PREFIX, prefix_end(CONSENT_PREFIX));
        assert!(from <= consent_sk(sent, "e1").as_str() && consent_sk(sent, "e1") <= to);
        assert!(consent_key_sk("k") > to);
    }

    #[test]
    fn due_buckets_are_hours_and_shards_are_stable() {
        assert_eq!(due_bucket(at("2026-11-25T14:59:00Z")), "2026112514");
        assert!(is_due_bucket("2026112514"));
        for bad in ["2026112524", "202611251", "20261125145", "2026-11-25", "DUE#x"] {
            assert!(!is_due_bucket(bad), "{bad}");
        }
        let store = StoreHash::parse("abc123").unwrap();
        let shard = due_shard(&store, "cart-1");
        assert!(shard < DUE_SHARDS);
        assert_eq!(shard, due_shard(&store, "cart-1"));
        let shards: std::collections::HashSet<u32> =
            (0..200).map(|i| due_shard(&store, &format!("cart-{i}"))).collect();
        assert_eq!(shards.len() as u32, DUE_SHARDS, "carts spread over every shard");
    }

    #[test]
    fn held_due_shards_read_back_and_malformed_entries_are_refused() {
        let held = DueShard {
            bucket: due_bucket(at("2026-11-25T14:10:00Z")),
            shard: DUE_SHARDS - 1,
        };
        assert_eq!(held.held_entry(), "2026112514#7");
        assert_eq!(DueShard::parse_held_entry(&held.held_entry()), Some(held));
        for bad in [
            "2026112514",
            "2026112514#8",
            "2026112514#-1",
            "2026112524#0",
            "x#0",
            "2026112514#0#1",
            "",
        ] {
            assert_eq!(DueShard::parse_held_entry(bad), None, "{bad}");
        }
    }
}
