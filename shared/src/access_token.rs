//! A store's BigCommerce access token at rest: sealed with a KMS key (`ACCESS_TOKEN_KEY_ID`) that only the
//! functions calling BigCommerce may use (template.yaml), and bound to its store by the encryption context, so
//! a sealed token copied onto another store's record does not open. Functions that only read store records
//! (webhooks, sweep) get the ciphertext and no way to open it.

use crate::config::{ConfigError, Env};
pub use crate::secret::SealedToken;
use crate::{Secret, StoreHash};
use base64::Engine;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

/// The variable naming the KMS key (id, ARN or alias) that seals access tokens.
pub const ACCESS_TOKEN_KEY_ID: &str = "ACCESS_TOKEN_KEY_ID";

/// The encryption context key; its value is the store hash.
const CONTEXT_KEY: &str = "store_hash";

/// Opened tokens a warm instance keeps (one per store it served); past this the cache starts over.
const OPENED_CACHE_LIMIT: usize = 1_000;

#[derive(Debug, thiserror::Error)]
pub enum AccessTokenError {
    /// This function was not given the key: it is not one that calls BigCommerce.
    #[error("access tokens cannot be opened here: {ACCESS_TOKEN_KEY_ID} is not configured")]
    NoKey,
    /// KMS refused or could not be reached (throttling, network, a missing grant). Worth retrying.
    #[error("KMS request failed: {0}")]
    Kms(String),
    /// The stored value is not a token sealed for this store (tampered, copied from another store, or
    /// written before tokens were sealed: re-installing the app stores a fresh one).
    #[error("the stored access token of {0} cannot be opened; re-install the app for this store")]
    NotSealedForStore(StoreHash),
    /// The app was uninstalled from the store: its access token was deleted.
    #[error("the app is uninstalled from {0}: its access token was deleted")]
    Uninstalled(StoreHash),
}

impl AccessTokenError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Kms(_))
    }
}

/// The KMS key that seals and opens access tokens. Cheap to clone; opened tokens are cached per warm instance
/// (by store and ciphertext), so a store's token costs one KMS call per execution environment.
#[derive(Clone)]
pub struct TokenKey {
    inner: Arc<Inner>,
}

struct Inner {
    kms: aws_sdk_kms::Client,
    key_id: String,
    opened: Mutex<HashMap<(StoreHash, String), Secret>>,
}

impl fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenKey")
            .field("key_id", &self.inner.key_id)
            .finish_non_exhaustive()
    }
}

impl TokenKey {
    pub fn new(kms: aws_sdk_kms::Client, key_id: impl Into<String>) -> Self {
        Self {
            inner: Arc::new(Inner {
                kms,
                key_id: key_id.into(),
                opened: Mutex::default(),
            }),
        }
    }

    /// The key named by `ACCESS_TOKEN_KEY_ID`, for the functions that call BigCommerce.
    pub fn from_env(sdk: &aws_config::SdkConfig, env: &Env) -> Result<Self, ConfigError> {
        let key_id = env
            .optional(ACCESS_TOKEN_KEY_ID)
            .ok_or(ConfigError::Missing(ACCESS_TOKEN_KEY_ID))?;
        Ok(Self::new(aws_sdk_kms::Client::new(sdk), key_id))
    }

    pub async fn seal(&self, store: &StoreHash, token: &Secret) -> Result<SealedToken, AccessTokenError> {
        let output = self
            .inner
            .kms
            .encrypt()
            .key_id(&self.inner.key_id)
            .plaintext(aws_sdk_kms::primitives::Blob::new(token.expose().as_bytes()))
            .encryption_context(CONTEXT_KEY, store.as_str())
            .send()
            .await
            .map_err(|e| AccessTokenError::Kms(aws_sdk_kms::error::DisplayErrorContext(e).to_string()))?;
        let blob = output
            .ciphertext_blob
            .ok_or_else(|| AccessTokenError::Kms("Encrypt returned no ciphertext".into()))?;
        Ok(SealedToken::new(
            base64::engine::general_purpose::STANDARD.encode(blob.as_ref()),
        ))
    }

    pub async fn open(&self, store: &StoreHash, sealed: &SealedToken) -> Result<Secret, AccessTokenError> {
        if sealed.is_deleted() {
            return Err(AccessTokenError::Uninstalled(store.clone()));
        }
        let cache_key = (store.clone(), sealed.as_str().to_owned());
        if let Some(token) = self.cache().get(&cache_key) {
            return Ok(token.clone());
        }
        let ciphertext = base64::engine::general_purpose::STANDARD
            .decode(sealed.as_str())
            .map_err(|_| AccessTokenError::NotSealedForStore(store.clone()))?;
        let output = self
            .inner
            .kms
            .decrypt()
            .key_id(&self.inner.key_id)
            .ciphertext_blob(aws_sdk_kms::primitives::Blob::new(ciphertext))
            .encryption_context(CONTEXT_KEY, store.as_str())
            .send()
            .await
            .map_err(|e| match e.as_service_error() {
                Some(service) if service.is_invalid_ciphertext_exception() => {
                    AccessTokenError::NotSealedForStore(store.clone())
                }
                _ => AccessTokenError::Kms(aws_sdk_kms::error::DisplayErrorContext(e).to_string()),
            })?;
        let plaintext = output
            .plaintext
            .ok_or_else(|| AccessTokenError::Kms("Decrypt returned no plaintext".into()))?;
        let token = Secret::new(
            String::from_utf8(plaintext.into_inner())
                .map_err(|_| AccessTokenError::NotSealedForStore(store.clone()))?,
        );
        let mut cache = self.cache();
        if cache.len() >= OPENED_CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(cache_key, token.clone());
        Ok(token)
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<(StoreHash, String), Secret>> {
        self.inner.opened.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_token_never_shows_in_debug_output() {
        let sealed = SealedToken::new("AQICAHh...".into());
        assert_eq!(format!("{sealed:?}"), "SealedToken(..)");
    }

    #[test]
    fn only_kms_failures_are_worth_retrying() {
        let store = StoreHash::parse("abc123").unwrap();
        assert!(AccessTokenError::Kms("throttled".into()).is_retryable());
        assert!(!AccessTokenError::NoKey.is_retryable());
        assert!(!AccessTokenError::NotSealedForStore(store).is_retryable());
    }
}
