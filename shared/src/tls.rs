//! The trust roots of the app's own HTTP clients (BigCommerce, the SMS provider): Mozilla's root
//! certificates compiled into the binary (`webpki-root-certs`), not the system's CA bundle. reqwest's default
//! verifier reads and parses every certificate file of the system each time a client is built, which is where
//! the functions with HTTP clients spent the extra start-up time `cargo xtask bench coldstart` shows over
//! `sweep`. BigCommerce and the SMS providers present certificates from public CAs Mozilla trusts.

/// A client builder that trusts exactly Mozilla's roots.
pub fn client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder().tls_certs_only(
        webpki_root_certs::TLS_SERVER_ROOT_CERTS
            .iter()
            .filter_map(|der| reqwest::Certificate::from_der(der).ok()),
    )
}

/// A client with no other settings (the SMS providers').
pub fn client() -> reqwest::Client {
    client_builder().build().expect("a client with built-in roots builds")
}
