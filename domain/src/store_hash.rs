//! The BigCommerce store hash: the tenant key of everything we store.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A BigCommerce store hash such as `g5cd38`, parsed from `stores/{hash}` contexts or used directly.
/// Only lowercase ASCII letters and digits, 1 to 32 characters: anything else is not a store we know.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct StoreHash(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a BigCommerce store hash: {0:?}")]
pub struct InvalidStoreHash(pub String);

impl StoreHash {
    pub fn parse(value: &str) -> Result<Self, InvalidStoreHash> {
        let ok = !value.is_empty()
            && value.len() <= 32
            && value.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if ok {
            Ok(Self(value.to_owned()))
        } else {
            Err(InvalidStoreHash(value.chars().take(40).collect()))
        }
    }

    /// Parses the `stores/{hash}` form used by OAuth `context`, JWT `sub` and webhook `producer`.
    pub fn from_context(context: &str) -> Result<Self, InvalidStoreHash> {
        match context.strip_prefix("stores/") {
            Some(hash) => Self::parse(hash),
            None => Err(InvalidStoreHash(context.chars().take(40).collect())),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn context(&self) -> String {
        format!("stores/{}", self.0)
    }
}

impl fmt::Display for StoreHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for StoreHash {
    type Error = InvalidStoreHash;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<StoreHash> for String {
    fn from(value: StoreHash) -> Self {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_contexts_and_plain_hashes() {
        assert_eq!(StoreHash::from_context("stores/g5cd38").unwrap().as_str(), "g5cd38");
        assert_eq!(StoreHash::parse("z4zn3wo").unwrap().context(), "stores/z4zn3wo");
    }

    #[test]
    fn rejects_anything_else() {
        for bad in ["", "G5CD38", "g5cd38/../x", "stores/", "a b", &"a".repeat(33)] {
            assert!(StoreHash::parse(bad).is_err(), "{bad:?} should be rejected");
        }
        assert!(StoreHash::from_context("g5cd38").is_err());
        assert!(StoreHash::from_context("store/g5cd38").is_err());
    }

    #[test]
    fn deserializing_validates() {
        assert!(serde_json::from_str::<StoreHash>("\"abc123\"").is_ok());
        assert!(serde_json::from_str::<StoreHash>("\"ABC\"").is_err());
    }
}
