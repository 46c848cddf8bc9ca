//! Unguessable tokens that stand for something: a recovery link (store, cart, step), an opt-out page (store,
//! phone). The token is the key; the value is whatever the caller stores; an expiry makes it unusable (and lets
//! DynamoDB's TTL delete it later).

use super::keys::{TTL_ATTRIBUTE, token_pk};
use super::{Db, DbError, n, to_item};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A fresh token: 128 random bits, URL-safe base64 (22 characters).
pub fn new_token() -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl Db {
    /// Stores `value` under `token` (of a `kind`, e.g. `recovery`, `opt_out`) until `expires_at`. A token is
    /// written once: re-using one is a conflict.
    pub async fn put_token<T: Serialize>(
        &self,
        kind: &str,
        token: &str,
        value: &T,
        expires_at: DateTime<Utc>,
    ) -> Result<(), DbError> {
        let mut item = to_item(value, &[("pk", token_pk(token)), ("sk", kind.to_owned())])?;
        item.insert(TTL_ATTRIBUTE.to_owned(), n(expires_at.timestamp()));
        if self.put_new(item).await? {
            Ok(())
        } else {
            Err(DbError::Conflict(format!("{kind} token already exists")))
        }
    }

    /// The value behind `token`, if it exists, is of `kind` and has not expired at `now`.
    pub async fn get_token<T: DeserializeOwned>(
        &self,
        kind: &str,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<T>, DbError> {
        let Some(mut item) = self.get(&token_pk(token), kind).await? else {
            return Ok(None);
        };
        let expires_at = item
            .remove(TTL_ATTRIBUTE)
            .and_then(|v| v.as_n().ok().and_then(|n| n.parse::<i64>().ok()));
        // TTL deletion is lazy (up to days late): expiry is checked here, not left to DynamoDB.
        if expires_at.is_none_or(|at| at <= now.timestamp()) {
            return Ok(None);
        }
        Ok(Some(serde_dynamo::from_item(item)?))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_are_long_random_and_url_safe() {
        let a = super::new_token();
        assert_eq!(a.len(), 22);
        assert!(a.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_ne!(a, super::new_token());
        assert!(
            crate::recovery::LinkToken::parse(&a).is_some(),
            "links carry tokens as they are made"
        );
    }
}
