//! Settings versions already read, kept while the Lambda stays warm. A version is written once
//! (`save_settings`: `attribute_not_exists`), so a kept copy never goes stale and needs no expiry; the store
//! record, which says which version is in force, is always read fresh. A store purged and installed again
//! starts again at version 1 with other settings, so the key holds the install too (`Store::installed_at`).

use crate::StoreHash;
use crate::model::Settings;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

/// Versions kept before the cache starts again empty: about 1 KB each, so a few MB at most.
pub const SETTINGS_CACHE_CAP: usize = 2_000;

/// (store, its install's `installed_at`, settings version).
type Key = (StoreHash, DateTime<Utc>, u32);

/// Shared by a [`super::Db`]'s clones, so by every handler of one execution environment.
#[derive(Debug)]
pub(crate) struct SettingsCache {
    entries: Mutex<HashMap<Key, Settings>>,
    capacity: usize,
}

impl SettingsCache {
    /// Keeps up to `capacity` versions (0: none, every message reads its version).
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            entries: Mutex::default(),
            capacity,
        }
    }

    pub(crate) fn get(&self, store: &StoreHash, installed_at: DateTime<Utc>, version: u32) -> Option<Settings> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.get(&(store.clone(), installed_at, version)).cloned()
    }

    pub(crate) fn insert(&self, store: &StoreHash, installed_at: DateTime<Utc>, version: u32, settings: &Settings) {
        if self.capacity == 0 {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        // Emptying beats tracking recency: one warm Lambda seldom serves this many stores between cold starts.
        if entries.len() >= self.capacity {
            entries.clear();
        }
        entries.insert((store.clone(), installed_at, version), settings.clone());
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::MerchantUser;
    use chrono::TimeZone;

    fn installed(day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, day, 9, 0, 0).unwrap()
    }

    fn settings(version: u32, brand: &str) -> Settings {
        let owner = MerchantUser {
            id: 1,
            email: "owner@example.com".into(),
        };
        let mut settings = Settings::defaults(owner, brand, installed(1));
        settings.version = version;
        settings
    }

    fn store(hash: &str) -> StoreHash {
        StoreHash::parse(hash).unwrap()
    }

    #[test]
    fn a_version_is_found_only_for_its_store_and_install() {
        let cache = SettingsCache::new(SETTINGS_CACHE_CAP);
        cache.insert(&store("abc"), installed(1), 1, &settings(1, "Acme"));
        assert_eq!(cache.get(&store("abc"), installed(1), 1).unwrap().brand_name, "Acme");
        assert_eq!(cache.get(&store("abc"), installed(1), 2), None, "another version");
        assert_eq!(cache.get(&store("xyz"), installed(1), 1), None, "another store");
        assert_eq!(cache.get(&store("abc"), installed(2), 1), None, "another install");
    }

    #[test]
    fn the_cache_empties_when_full_and_keeps_the_newest() {
        let cache = SettingsCache::new(SETTINGS_CACHE_CAP);
        for version in 1..=SETTINGS_CACHE_CAP as u32 {
            cache.insert(&store("abc"), installed(1), version, &settings(version, "Acme"));
        }
        assert_eq!(cache.len(), SETTINGS_CACHE_CAP);
        let newest = SETTINGS_CACHE_CAP as u32 + 1;
        cache.insert(&store("abc"), installed(1), newest, &settings(newest, "Acme"));
        assert_eq!(cache.len(), 1);
        assert!(cache.get(&store("abc"), installed(1), newest).is_some());
        assert!(cache.get(&store("abc"), installed(1), 1).is_none());
    }

    #[test]
    fn a_cache_of_no_capacity_keeps_nothing() {
        let cache = SettingsCache::new(0);
        cache.insert(&store("abc"), installed(1), 1, &settings(1, "Acme"));
        assert_eq!(cache.get(&store("abc"), installed(1), 1), None);
    }
}
