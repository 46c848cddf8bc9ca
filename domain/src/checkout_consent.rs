//! Consent captured by our checkout checkbox, the pure part: reading what the script posts, the ledger events
//! with the server's own evidence, and which ticks a checkout's billing phone verifies.
//!
//! The endpoint is public, so a tick proves nothing about who owns the number: it is recorded as an
//! unverified [`ConsentEventKind::CheckoutCheckbox`] and authorises nothing until the number is shown to be
//! that checkout's billing phone (re-read from BigCommerce: [`ConsentEventKind::CheckoutPhoneVerified`]) or
//! is confirmed by text (the double opt-in). The evidence is the server's: the disclosure text and version we
//! serve, the box's default (our script always renders it unticked), the caller's IP and user agent, and the
//! time; nothing the client says about the wording is kept.

use crate::consent::{ConsentEvent, ConsentEventKind, ConsentState, Disclosure, OptOutMethod, Purpose};
use crate::store_events::is_cart_id;
use crate::{Phone, StoreHash};
use chrono::{DateTime, Utc};
use serde::Deserialize;

/// Larger bodies are refused before parsing.
pub const MAX_CAPTURE_BYTES: usize = 4 * 1024;

/// Our script renders the box unticked, always; this is recorded with every tick.
pub const CHECKBOX_DEFAULT_CHECKED: bool = false;

/// What the checkout script posts to `POST /consent`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureRequest {
    pub store: StoreHash,
    pub cart_id: String,
    /// As typed; read with [`CaptureRequest::country`] or the store's country.
    pub phone: String,
    /// The checkout's country selection (ISO 3166 alpha-2), if the script found one.
    pub country: Option<String>,
    pub checked: bool,
    /// Scheme, host and path only: a query string may carry tokens.
    pub page_url: Option<String>,
    /// The version of the disclosure the shopper was shown. Only compared with the server's current one (a
    /// tick under wording we no longer serve is refused); the recorded text is always the server's.
    pub disclosure_version: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaptureError {
    #[error("the body is larger than {MAX_CAPTURE_BYTES} bytes")]
    TooLarge,
    #[error("the body is not a consent capture: {0}")]
    Malformed(String),
    #[error("{0} is invalid")]
    Invalid(&'static str),
}

impl CaptureRequest {
    pub fn parse(body: &[u8]) -> Result<Self, CaptureError> {
        if body.len() > MAX_CAPTURE_BYTES {
            return Err(CaptureError::TooLarge);
        }
        #[derive(Deserialize)]
        struct Raw {
            store: String,
            cart_id: String,
            phone: String,
            checked: bool,
            #[serde(default)]
            country: Option<String>,
            #[serde(default)]
            page_url: Option<String>,
            #[serde(default)]
            disclosure_version: Option<String>,
        }
        let raw: Raw = serde_json::from_slice(body).map_err(|e| CaptureError::Malformed(e.to_string()))?;
        let store = StoreHash::parse(&raw.store).map_err(|_| CaptureError::Invalid("store"))?;
        let cart_id = raw.cart_id.trim();
        if !is_cart_id(cart_id) {
            return Err(CaptureError::Invalid("cart_id"));
        }
        let phone = raw.phone.trim();
        if phone.is_empty() || phone.len() > 40 {
            return Err(CaptureError::Invalid("phone"));
        }
        let disclosure_version = match raw.disclosure_version {
            Some(v) if v.is_empty() || v.len() > 64 || !v.bytes().all(|b| b.is_ascii_hexdigit()) => {
                return Err(CaptureError::Invalid("disclosure_version"));
            }
            other => other,
        };
        let country = raw
            .country
            .map(|c| c.trim().to_ascii_uppercase())
            .filter(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase()));
        Ok(Self {
            store,
            cart_id: cart_id.to_owned(),
            phone: phone.to_owned(),
            country,
            checked: raw.checked,
            page_url: raw.page_url.as_deref().and_then(page_location),
            disclosure_version,
        })
    }
}

/// `https://shop.example.com/checkout` from a page URL; `None` for anything that is not http(s).
fn page_location(url: &str) -> Option<String> {
    let url = url.trim();
    if url.len() > 2048 || !(url.starts_with("https://") || url.starts_with("http://")) {
        return None;
    }
    let end = url.find(['?', '#']).unwrap_or(url.len());
    Some(url[..end].to_owned()).filter(|u| !u.chars().any(char::is_whitespace))
}

/// What the server itself observed about the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestEvidence {
    pub ip: String,
    pub user_agent: String,
}

impl RequestEvidence {
    /// Whom the per-client rate limit counts: the address, or for IPv6 its /64 (one subscriber's network,
    /// where a client may pick any address).
    pub fn client(&self) -> String {
        match self.ip.parse::<std::net::IpAddr>() {
            Ok(std::net::IpAddr::V6(ip)) if ip.to_ipv4_mapped().is_none() => {
                let s = ip.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
            Ok(ip) => ip.to_canonical().to_string(),
            Err(_) => self.ip.clone(),
        }
    }
}

/// A tick: the disclosure is the server's copy in force for the store.
pub fn checkbox_event(
    request: &CaptureRequest,
    phone: &Phone,
    disclosure: &Disclosure,
    evidence: &RequestEvidence,
    now: DateTime<Utc>,
) -> ConsentEvent {
    ConsentEvent::new(
        request.store.clone(),
        phone.clone(),
        Purpose::Marketing,
        now,
        now,
        format!("checkbox:{}:{}", request.cart_id, uuid::Uuid::new_v4().simple()),
        ConsentEventKind::CheckoutCheckbox {
            disclosure_version: disclosure.version.clone(),
            disclosure_text: disclosure.text.clone(),
            checkbox_default_checked: CHECKBOX_DEFAULT_CHECKED,
            ip: truncate(&evidence.ip, 64),
            user_agent: truncate(&evidence.user_agent, 512),
            page_url: request.page_url.clone(),
            cart_id: Some(request.cart_id.clone()),
        },
    )
}

/// An untick after a tick in the same checkout: a withdrawal.
pub fn untick_event(request: &CaptureRequest, phone: &Phone, now: DateTime<Utc>) -> ConsentEvent {
    ConsentEvent::new(
        request.store.clone(),
        phone.clone(),
        Purpose::Marketing,
        now,
        now,
        format!("untick:{}:{}", request.cart_id, uuid::Uuid::new_v4().simple()),
        ConsentEventKind::OptOut(OptOutMethod::CheckboxUnticked),
    )
}

/// Whether the phone's ledger has a tick from this checkout (an untick means something only after one).
pub fn ticked_in_checkout(ledger: &[ConsentEvent], cart_id: &str) -> bool {
    ledger.iter().any(|e| checkbox_cart(e) == Some(cart_id))
}

/// The ticks of this checkout still waiting for verification (not withdrawn since).
pub fn checkboxes_to_verify<'a>(ledger: &'a [ConsentEvent], cart_id: &str) -> Vec<&'a ConsentEvent> {
    ConsentState::fold(ledger, Purpose::Marketing)
        .unverified_checkboxes
        .into_iter()
        .filter(|e| checkbox_cart(e) == Some(cart_id))
        .collect()
}

/// The checkout's billing phone, re-read from BigCommerce, is the ticked number: one per tick.
pub fn verification_event(checkbox: &ConsentEvent, cart_id: &str, now: DateTime<Utc>) -> ConsentEvent {
    ConsentEvent::new(
        checkbox.store_hash.clone(),
        checkbox.phone.clone(),
        Purpose::Marketing,
        now,
        now,
        format!("checkout-verified:{}", checkbox.event_id),
        ConsentEventKind::CheckoutPhoneVerified {
            checkbox_event_id: checkbox.event_id.clone(),
            cart_id: cart_id.to_owned(),
        },
    )
}

/// The double opt-in request we texted, confirming the consent in `target_event_id`.
pub fn double_opt_in_requested_event(
    store: &StoreHash,
    phone: &Phone,
    target_event_id: &str,
    text: &str,
    message_id: &str,
    now: DateTime<Utc>,
) -> ConsentEvent {
    ConsentEvent::new(
        store.clone(),
        phone.clone(),
        Purpose::Marketing,
        now,
        now,
        format!("double-opt-in-request:{target_event_id}"),
        ConsentEventKind::DoubleOptInRequested {
            message_id: Some(message_id.to_owned()),
            text: text.to_owned(),
        },
    )
}

fn checkbox_cart(event: &ConsentEvent) -> Option<&str> {
    match &event.kind {
        ConsentEventKind::CheckoutCheckbox { cart_id, .. } => cart_id.as_deref(),
        _ => None,
    }
}

fn truncate(value: &str, max_chars: usize) -> String {
    value.chars().take(max_chars).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn clients_are_addresses_and_ipv6_networks() {
        let client = |ip: &str| {
            super::RequestEvidence {
                ip: ip.into(),
                user_agent: String::new(),
            }
            .client()
        };
        assert_eq!(client("203.0.113.7"), "203.0.113.7");
        assert_eq!(client("::ffff:203.0.113.7"), "203.0.113.7");
        assert_eq!(client("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(client("2001:db8:1:2:ffff:1:2:3"), client("2001:db8:1:2::9"));
        assert_ne!(client("2001:db8:1:2::1"), client("2001:db8:1:3::1"));
        assert_eq!(client(""), "");
    }

    use super::*;
    use crate::consent::build_disclosure;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn request(checked: bool) -> CaptureRequest {
        CaptureRequest::parse(
            format!(
                r#"{{"store":"abc123","cart_id":"09346904-4175-44fd-be53-f7e598531b6c","phone":"(305) 555-0100",
                    "checked":{checked},"country":"us","page_url":"https://shop.example.com/checkout?token=x#pay"}}"#
            )
            .as_bytes(),
        )
        .unwrap()
    }

    #[test]
    fn parses_what_the_script_posts_and_refuses_the_rest() {
        let r = request(true);
        assert_eq!(r.country.as_deref(), Some("US"));
        assert_eq!(r.page_url.as_deref(), Some("https://shop.example.com/checkout"));
        assert!(r.checked);
        let bad = |body: &str| CaptureRequest::parse(body.as_bytes()).unwrap_err();
        assert!(matches!(bad("nope"), CaptureError::Malformed(_)));
        assert_eq!(
            bad(r#"{"store":"ABC!","cart_id":"c1","phone":"1","checked":true}"#),
            CaptureError::Invalid("store")
        );
        assert_eq!(
            bad(r#"{"store":"abc","cart_id":"c 1","phone":"1","checked":true}"#),
            CaptureError::Invalid("cart_id")
        );
        assert_eq!(
            bad(r#"{"store":"abc","cart_id":"c1","phone":"  ","checked":true}"#),
            CaptureError::Invalid("phone")
        );
        let huge = format!(r#"{{"store":"abc","pad":"{}"}}"#, "x".repeat(MAX_CAPTURE_BYTES));
        assert_eq!(bad(&huge), CaptureError::TooLarge);
        let js_url = CaptureRequest::parse(
            br#"{"store":"abc","cart_id":"c1","phone":"1","checked":true,"page_url":"javascript:alert(1)"}"#,
        )
        .unwrap();
        assert_eq!(js_url.page_url, None);
    }

    #[test]
    fn a_tick_carries_the_server_evidence_and_waits_for_verification() {
        let r = request(true);
        let phone = Phone::parse(&r.phone, r.country.as_deref()).unwrap();
        let disclosure =
            build_disclosure("Acme", "https://acme.example/terms", "https://acme.example/privacy").unwrap();
        let evidence = RequestEvidence {
            ip: "203.0.113.7".into(),
            user_agent: "Mozilla/5.0".into(),
        };
        let now = t("2026-03-02T15:00:00Z");
        let tick = checkbox_event(&r, &phone, &disclosure, &evidence, now);
        match &tick.kind {
            ConsentEventKind::CheckoutCheckbox {
                disclosure_version,
                disclosure_text,
                checkbox_default_checked,
                ip,
                cart_id,
                ..
            } => {
                assert_eq!(disclosure_version, &disclosure.version);
                assert_eq!(disclosure_text, &disclosure.text);
                assert!(!checkbox_default_checked);
                assert_eq!(ip, "203.0.113.7");
                assert_eq!(cart_id.as_deref(), Some(r.cart_id.as_str()));
            }
            other => panic!("{other:?}"),
        }
        let mut ledger = vec![tick.clone()];
        assert!(ticked_in_checkout(&ledger, &r.cart_id));
        assert!(!ticked_in_checkout(&ledger, "another-cart"));
        assert_eq!(checkboxes_to_verify(&ledger, &r.cart_id), vec![&tick]);
        assert!(checkboxes_to_verify(&ledger, "another-cart").is_empty());

        // Verified once: nothing left to verify, and the key is stable.
        let verified = verification_event(&tick, &r.cart_id, now);
        assert_eq!(verified.idempotency_key, format!("checkout-verified:{}", tick.event_id));
        ledger.push(verified);
        assert!(checkboxes_to_verify(&ledger, &r.cart_id).is_empty());
    }

    #[test]
    fn an_untick_withdraws_the_tick_before_it_is_verified() {
        let r = request(true);
        let phone = Phone::parse(&r.phone, r.country.as_deref()).unwrap();
        let disclosure =
            build_disclosure("Acme", "https://acme.example/terms", "https://acme.example/privacy").unwrap();
        let evidence = RequestEvidence {
            ip: "203.0.113.7".into(),
            user_agent: "x".into(),
        };
        let tick = checkbox_event(&r, &phone, &disclosure, &evidence, t("2026-03-02T15:00:00Z"));
        let untick = untick_event(&request(false), &phone, t("2026-03-02T15:00:05Z"));
        assert_eq!(untick.kind, ConsentEventKind::OptOut(OptOutMethod::CheckboxUnticked));
        let ledger = vec![tick, untick];
        assert!(checkboxes_to_verify(&ledger, &r.cart_id).is_empty());
    }
}
