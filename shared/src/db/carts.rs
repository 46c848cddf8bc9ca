//! Carts and the due-time index the sweep reads.
//!
//! A cart with a `next_due_at` is in the sparse `DueCarts` index under `DUE#{hour bucket}#{shard}`. The sweep
//! reads buckets from its watermark up to now, plus the shards of older buckets its watermark lists as still
//! holding due carts (`held`), so its cost grows with the carts that are due, not with the table or with how
//! long a cart that cannot be taken has waited. Writes never land in a bucket older than the current hour, and
//! the watermark never passes an hour before now, so no due cart is skipped.

use super::keys::CART_RETENTION_DAYS;
use super::keys::{
    CART_SK, DUE_CARTS_INDEX, DUE_SHARDS, DueShard, PHONE_CART_PREFIX, SWEEP_PK, SweepWatermark, WATERMARK_SK, cart_pk,
    due_bucket, due_pk, due_shard, due_sk, due_sk_before, phone_cart_sk, phone_pk, timestamp,
};
use super::{Db, DbError, Item, s, to_item, with_ttl};
use crate::StoreHash;
use crate::model::Cart;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Duration, Utc};

/// A cart found in the due index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueCart {
    pub store_hash: StoreHash,
    pub cart_id: String,
    pub due_at: DateTime<Utc>,
}

impl DueCart {
    /// The cart's sort key in the due index: the cursor a sweep worker continues after.
    pub fn due_sk(&self) -> String {
        due_sk(self.due_at, &self.store_hash, &self.cart_id)
    }
}

/// Items one due-index query asks for (DynamoDB stops at 1 MB anyway; an entry is under 100 bytes).
pub const DUE_QUERY_PAGE: usize = 500;

/// One query's worth of one due-index shard ([`Db::due_in_shard`]).
#[derive(Debug, Clone, Default)]
pub struct DueSlice {
    /// Due carts in index order (due time, then store and cart).
    pub carts: Vec<DueCart>,
    /// The shard holds more carts in the range than this query returned.
    pub more: bool,
}

impl DueSlice {
    /// Where the next query of the shard starts (after the last cart returned).
    pub fn cursor(&self) -> Option<String> {
        self.carts.last().map(DueCart::due_sk)
    }
}

/// What one sweep read from the due index.
#[derive(Debug, Clone, Default)]
pub struct DueIndexPage {
    /// Due carts, earliest first.
    pub carts: Vec<DueCart>,
    /// The oldest bucket read.
    pub from_bucket: String,
    /// Queries made.
    pub queries: u32,
}

/// A cart (and its marker under the phone) lives [`CART_RETENTION_DAYS`] after its last activity or change;
/// its send records (proof) are not part of it.
fn cart_expiry(cart: &Cart) -> DateTime<Utc> {
    cart.last_activity_at.max(cart.updated_at) + Duration::days(CART_RETENTION_DAYS)
}

impl Db {
    fn cart_item(cart: &Cart, now: DateTime<Utc>) -> Result<Item, DbError> {
        let mut keys = vec![
            ("pk", cart_pk(&cart.store_hash, &cart.cart_id)),
            ("sk", CART_SK.to_owned()),
        ];
        if let Some(due_at) = cart.next_due_at {
            // A due time in the past is filed under the current hour: the sweep may already have moved on.
            let bucket = due_bucket(due_at.max(now));
            keys.push(("due_pk", due_pk(&bucket, due_shard(&cart.store_hash, &cart.cart_id))));
            keys.push(("due_sk", due_sk(due_at, &cart.store_hash, &cart.cart_id)));
        }
        Ok(with_ttl(to_item(cart, &keys)?, cart_expiry(cart)))
    }

    pub async fn get_cart(&self, store: &StoreHash, cart_id: &str) -> Result<Option<Cart>, DbError> {
        self.get_as(&cart_pk(store, cart_id), CART_SK).await
    }

    /// The marker that lists a cart under its phone (see [`Db::carts_of_phone`]).
    fn phone_cart_item(cart: &Cart) -> Result<Option<Item>, DbError> {
        let Some(phone) = &cart.phone else { return Ok(None) };
        let marker = serde_json::json!({ "cart_id": cart.cart_id });
        let item = to_item(
            &marker,
            &[
                ("pk", phone_pk(&cart.store_hash, phone)),
                ("sk", phone_cart_sk(&cart.cart_id)),
            ],
        )?;
        Ok(Some(with_ttl(item, cart_expiry(cart))))
    }

    /// Saves the cart and files it in the due index under its `next_due_at` (or removes it from the index); a
    /// cart with a phone is also listed under the phone.
    pub async fn put_cart(&self, cart: &Cart, now: DateTime<Utc>) -> Result<(), DbError> {
        self.put(Self::cart_item(cart, now)?).await?;
        if let Some(marker) = Self::phone_cart_item(cart)? {
            self.put(marker).await?;
        }
        Ok(())
    }

    /// Saves many carts at once (benchmarks, imports).
    pub async fn put_carts(&self, carts: &[Cart], now: DateTime<Utc>) -> Result<(), DbError> {
        let mut items = Vec::with_capacity(carts.len() * 2);
        for cart in carts {
            items.push(Self::cart_item(cart, now)?);
            items.extend(Self::phone_cart_item(cart)?);
        }
        self.batch_put(items).await
    }

    /// The ids of the carts that have had this phone at this store (to end their reminders on an opt-out).
    pub async fn carts_of_phone(&self, store: &StoreHash, phone: &crate::Phone) -> Result<Vec<String>, DbError> {
        let items = self.query_prefix(&phone_pk(store, phone), PHONE_CART_PREFIX).await?;
        Ok(items
            .iter()
            .filter_map(|i| i.get("cart_id").and_then(|v| v.as_s().ok()).cloned())
            .collect())
    }

    /// Saves `cart` only if the stored cart still has `expected_due` as its due time: the compare-and-set
    /// that lets one sweep (of several overlapping ones) take a due cart. `Ok(false)` if another write won.
    pub async fn put_cart_if_due(
        &self,
        cart: &Cart,
        expected_due: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, DbError> {
        self.counter.call();
        // The writer's id lets the SDK's retry of a put whose answer was lost find its own write.
        let writer = s(&uuid::Uuid::new_v4().to_string());
        let mut item = Self::cart_item(cart, now)?;
        item.insert(super::WRITER_ATTRIBUTE.to_owned(), writer.clone());
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("next_due_at = :expected OR #writer = :writer")
            .expression_attribute_names("#writer", super::WRITER_ATTRIBUTE)
            .expression_attribute_values(":expected", serde_dynamo::to_attribute_value(expected_due)?)
            .expression_attribute_values(":writer", writer)
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(error) if super::is_condition_failed(&error) => Ok(false),
            Err(error) => Err(error.into()),
        }
    }

    /// Carts due at or before `now`, earliest first, reading every bucket from `from` (inclusive) to now.
    /// At most `limit` carts are returned.
    pub async fn due_carts(
        &self,
        from: DateTime<Utc>,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<DueIndexPage, DbError> {
        let mut page = DueIndexPage {
            from_bucket: due_bucket(from),
            ..Default::default()
        };
        let mut hour = from.min(now);
        loop {
            let bucket = due_bucket(hour);
            for shard in 0..DUE_SHARDS {
                let mut after = None;
                loop {
                    let slice = self
                        .due_in_shard(&bucket, shard, after.as_deref(), now, DUE_QUERY_PAGE)
                        .await?;
                    page.queries += 1;
                    after = slice.cursor().or(after);
                    page.carts.extend(slice.carts);
                    if !slice.more || page.carts.len() >= limit {
                        break;
                    }
                }
            }
            if due_bucket(hour) == due_bucket(now) || page.carts.len() >= limit {
                break;
            }
            hour += Duration::hours(1);
        }
        page.carts
            .sort_by(|a, b| a.due_at.cmp(&b.due_at).then_with(|| a.cart_id.cmp(&b.cart_id)));
        page.carts.truncate(limit);
        Ok(page)
    }

    /// One query of one shard of one hour bucket of the due index: at most `limit` carts due at or before
    /// `until`, in index order, after the cursor `after` (a `due_sk` this shard returned before). One Query
    /// call; `more` says whether the shard holds further carts in the range.
    pub async fn due_in_shard(
        &self,
        bucket: &str,
        shard: u32,
        after: Option<&str>,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Result<DueSlice, DbError> {
        let upper = due_sk_before(until);
        self.counter.call();
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(DUE_CARTS_INDEX)
            .expression_attribute_values(":pk", s(&due_pk(bucket, shard)))
            .expression_attribute_values(":upper", s(&upper))
            .projection_expression("store_hash, cart_id, next_due_at")
            // The cursor's own entry comes back too (BETWEEN is inclusive): one more, skipped below.
            .limit(i32::try_from(limit + usize::from(after.is_some())).unwrap_or(i32::MAX));
        let query = match after {
            Some(after) => query
                .key_condition_expression("due_pk = :pk AND due_sk BETWEEN :after AND :upper")
                .expression_attribute_values(":after", s(after)),
            None => query.key_condition_expression("due_pk = :pk AND due_sk < :upper"),
        };
        let output = query.send().await?;
        let items = output.items.unwrap_or_default();
        self.counter.read(items.len());
        let mut slice = DueSlice {
            carts: Vec::with_capacity(items.len()),
            more: output.last_evaluated_key.is_some(),
        };
        for item in items {
            #[derive(serde::Deserialize)]
            struct Row {
                store_hash: StoreHash,
                cart_id: String,
                next_due_at: DateTime<Utc>,
            }
            let row: Row = serde_dynamo::from_item(item)?;
            let cart = DueCart {
                store_hash: row.store_hash,
                cart_id: row.cart_id,
                due_at: row.next_due_at,
            };
            if after.is_some_and(|after| cart.due_sk() == after) {
                continue;
            }
            slice.carts.push(cart);
        }
        Ok(slice)
    }

    /// The sweep's watermark (`None` before the first sweep): the oldest hour whose every shard it still
    /// reads, and the shards of older buckets still holding due carts. An item written without `held` has none.
    pub async fn sweep_watermark(&self) -> Result<Option<SweepWatermark>, DbError> {
        let Some(item) = self.get(SWEEP_PK, WATERMARK_SK).await? else {
            return Ok(None);
        };
        let from = item
            .get("from")
            .and_then(|v| v.as_s().ok())
            .ok_or_else(|| DbError::Conflict("watermark without from".into()))?;
        let from = DateTime::parse_from_rfc3339(from)
            .map_err(|e| DbError::Conflict(format!("bad watermark: {e}")))?
            .with_timezone(&Utc);
        let held = match item.get("held") {
            None => Vec::new(),
            Some(held) => held
                .as_l()
                .map_err(|_| DbError::Conflict("watermark held is not a list".into()))?
                .iter()
                .map(|entry| {
                    entry
                        .as_s()
                        .ok()
                        .and_then(|entry| DueShard::parse_held_entry(entry))
                        .ok_or_else(|| DbError::Conflict(format!("bad watermark held entry: {entry:?}")))
                })
                .collect::<Result<_, _>>()?,
        };
        Ok(Some(SweepWatermark { from, held }))
    }

    /// Sets the watermark to `to` (never closer than an hour to `now`, so a writer whose clock runs slightly
    /// behind cannot file a cart under a bucket the sweep has passed) with `held`, the shards of older buckets
    /// that still hold due carts, replacing the list. Never backward: of overlapping fan-outs the last writer
    /// wins and an older one never overwrites a newer one. That is safe because a bucket older than an hour
    /// only loses entries (writers file under the current hour), so a newer fan-out's `held` lacks nothing an
    /// older one found still due.
    pub async fn advance_sweep_watermark(
        &self,
        to: DateTime<Utc>,
        held: &[DueShard],
        now: DateTime<Utc>,
    ) -> Result<(), DbError> {
        let to = timestamp(to.min(now - Duration::hours(1)));
        let held = AttributeValue::L(held.iter().map(|shard| s(&shard.held_entry())).collect());
        self.counter.call();
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(SWEEP_PK))
            .key("sk", s(WATERMARK_SK))
            .update_expression("SET #from = :to, #held = :held")
            .condition_expression("attribute_not_exists(#from) OR #from <= :to")
            .expression_attribute_names("#from", "from")
            .expression_attribute_names("#held", "held")
            .expression_attribute_values(":to", s(&to))
            .expression_attribute_values(":held", held)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(error) if super::is_update_condition_failed(&error) => Ok(()),
            Err(error) => Err(error.into()),
        }
    }
}
