//! The checkout consent script: the same bytes are served by the `shopper` function (`GET /consent.js`) and
//! pinned by the `install` function in the Scripts API with an SRI hash, so they must come from one place.
//! The script is identical for every store; per-store text is fetched by the script at run time.

use base64::Engine;
use sha2::{Digest, Sha384};

/// The script's source.
pub const CONSENT_JS: &str = include_str!("../assets/consent.js");

/// The Subresource Integrity hash of [`CONSENT_JS`] (`sha384-…`), for the Scripts API's `integrity_hashes`.
pub fn sri_hash() -> String {
    format!(
        "sha384-{}",
        base64::engine::general_purpose::STANDARD.encode(Sha384::digest(CONSENT_JS.as_bytes()))
    )
}

/// A short version of the script, for cache-busting query strings and `ETag`s.
pub fn version() -> String {
    hex::encode(&Sha384::digest(CONSENT_JS.as_bytes())[..6])
}

/// Where the Scripts API loads it from for a store.
pub fn src(app_url: &crate::config::AppUrl, store: &crate::StoreHash) -> String {
    app_url.join(&format!("/consent.js?store={store}&v={}", version()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sri_hash_is_sha384_of_the_served_bytes() {
        let hash = sri_hash();
        let encoded = hash.strip_prefix("sha384-").unwrap();
        let digest = base64::engine::general_purpose::STANDARD.decode(encoded).unwrap();
        assert_eq!(digest.len(), 48);
        assert_eq!(digest, Sha384::digest(CONSENT_JS.as_bytes()).to_vec());
    }

    #[test]
    fn src_names_the_store_and_version() {
        let app = crate::config::AppUrl::new("https://app.example.com");
        let store = crate::StoreHash::parse("abc123").unwrap();
        assert_eq!(
            src(&app, &store),
            format!("https://app.example.com/consent.js?store=abc123&v={}", version())
        );
    }
}
