//! Fixed-window request counters with a TTL, for public endpoints (the checkout consent capture): one atomic
//! `ADD` per request, so concurrent Lambdas share the count.

use super::keys::{RATE_LIMIT_SK, TTL_ATTRIBUTE, rate_pk};
use super::{Db, DbError, n, s};
use aws_sdk_dynamodb::types::ReturnValue;
use chrono::{DateTime, Duration, DurationRound, Utc};

impl Db {
    /// Counts one request under `key` in the current `window` and returns the count so far (this one
    /// included). The counter expires with its window.
    pub async fn count_request(&self, key: &str, window: Duration, now: DateTime<Utc>) -> Result<u64, DbError> {
        let window_start = now.duration_trunc(window).unwrap_or(now);
        self.counter.call();
        let output = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(&rate_pk(key, window_start)))
            .key("sk", s(RATE_LIMIT_SK))
            .update_expression("ADD hits :one SET #ttl = if_not_exists(#ttl, :ttl)")
            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":ttl", n((window_start + window * 2).timestamp()))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await?;
        Ok(output
            .attributes
            .and_then(|a| a.get("hits").and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok()))
            .unwrap_or(1))
    }
}
