//! Consent capture at checkout: the script (`GET /consent.js`), the store's checkbox text
//! (`GET /consent/disclosure`) and the capture endpoint (`POST /consent`, with its CORS preflight).
//!
//! - The script is the same bytes for every store ([`shared::checkout_script::CONSENT_JS`]), pinned by the
//!   Scripts API with an SRI hash: served with CORS (SRI needs it), an `ETag` of its version, and cached for a
//!   year when asked for by that version.
//! - The disclosure is built on the server from the connected settings, and only for stores that chose the
//!   SMS checkbox.
//! - A capture is refused unless it comes from one of the store's domains (CORS, store information cached
//!   per warm Lambda), is small, names a store collecting checkbox consent, stays under the per-client limit
//!   (an IPv4 address or an IPv6 /64), has a valid phone, and then under the per-store limit (counters in
//!   DynamoDB; only captures that pass everything else spend the store's budget, so a client flooding from
//!   one address cannot refuse every shopper's tick). A tick is recorded with the server's
//!   evidence and authorises nothing until the sync worker verifies the number against the checkout's
//!   billing phone ([`SyncMessage::CheckoutConsent`], queued at once); an untick after a tick in the same
//!   checkout is an opt-out.

use crate::Deps;
use http::{HeaderValue, StatusCode, header};
use lambda_http::request::RequestContext;
use lambda_http::{Error, Request, RequestExt};
use shared::StoreHash;
use shared::checkout_consent::{
    CaptureError, CaptureRequest, RequestEvidence, checkbox_event, ticked_in_checkout, untick_event,
};
use shared::checkout_script::{CONSENT_JS, version};
use shared::consent::{Disclosure, build_disclosure};
use shared::contacts::parse_phone;
use shared::messages::SyncMessage;
use shared::model::{ConsentOption, Settings};
use shared::web::{self, WebResponse};
use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};
use tracing::Instrument;

/// Captures per client (IPv4 address, IPv6 /64) in [`IP_WINDOW_MINUTES`]: a shopper ticks and unticks a few times at most.
pub const IP_LIMIT: u64 = 30;
pub const IP_WINDOW_MINUTES: i64 = 10;
/// Captures per store per minute: far above a busy store's checkouts, far below a flood.
pub const STORE_LIMIT: u64 = 600;
/// How long a warm Lambda trusts a store's domains and disclosure.
const STORE_CACHE_TTL: Duration = Duration::from_secs(300);
const DISCLOSURE_CACHE_TTL: Duration = Duration::from_secs(60);

pub async fn script(_deps: &Deps, request: &Request) -> Result<WebResponse, Error> {
    if query(request, "store")
        .and_then(|s| StoreHash::parse(&s).ok())
        .is_none()
    {
        return Ok(web::text(StatusCode::BAD_REQUEST, "store must be a store hash"));
    }
    let current = version();
    let etag = format!("\"{current}\"");
    let cache_control = if query(request, "v").as_deref() == Some(current.as_str()) {
        // The URL names this exact version: it never changes.
        "public, max-age=31536000, immutable"
    } else {
        "public, max-age=300"
    };
    let not_modified = request
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let (status, body) = if not_modified {
        (StatusCode::NOT_MODIFIED, String::new())
    } else {
        (StatusCode::OK, CONSENT_JS.to_owned())
    };
    Ok(http::Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/javascript; charset=utf-8")
        .header(header::CACHE_CONTROL, cache_control)
        .header(header::ETAG, etag)
        // The Scripts API loads it with an integrity hash, which needs a CORS response.
        .header(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")
        .header("cross-origin-resource-policy", "cross-origin")
        .header("x-content-type-options", "nosniff")
        .body(body)
        .expect("static response parts are valid"))
}

/// `GET /consent/disclosure?store=…`: the checkbox text the script shows, as the server will record it.
pub async fn disclosure(deps: &Deps, request: &Request) -> Result<WebResponse, Error> {
    let Some(store) = query(request, "store").and_then(|s| StoreHash::parse(&s).ok()) else {
        return Ok(public(web::json_error(
            StatusCode::BAD_REQUEST,
            "store must be a store hash",
        )));
    };
    let span = shared::logging::store_span(&store);
    async {
        let response = match checkbox_disclosure(deps, &store).await {
            Ok(Some(disclosure)) => web::json(
                StatusCode::OK,
                &serde_json::json!({ "html": disclosure.html, "version": disclosure.version }),
            ),
            Ok(None) => web::json_error(
                StatusCode::NOT_FOUND,
                "this store does not collect SMS consent at checkout",
            ),
            Err(error) => {
                tracing::error!(%error, "disclosure lookup failed");
                web::json_error(StatusCode::SERVICE_UNAVAILABLE, "try again later")
            }
        };
        Ok(public(response))
    }
    .instrument(span)
    .await
}

pub async fn capture(deps: &Deps, request: &Request) -> Result<WebResponse, Error> {
    let origin = request
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let capture = match CaptureRequest::parse(request.body().as_ref()) {
        Ok(capture) => capture,
        Err(CaptureError::TooLarge) => {
            return Ok(web::json_error(StatusCode::PAYLOAD_TOO_LARGE, "body too large"));
        }
        Err(error) => return Ok(web::json_error(StatusCode::BAD_REQUEST, &error.to_string())),
    };
    let span = shared::logging::store_span(&capture.store);
    async {
        let outcome = record(deps, request, origin.as_deref(), &capture).await;
        let allowed = match &outcome {
            Err(Refusal::Origin) => None,
            _ => origin.as_deref(),
        };
        let response = match outcome {
            Ok(response) => response,
            Err(refusal) => {
                tracing::info!(reason = refusal.message(), "consent capture refused");
                web::json_error(refusal.status(), refusal.message())
            }
        };
        Ok(with_cors(response, allowed))
    }
    .instrument(span)
    .await
}

/// `OPTIONS /consent?store=…`: only the store's domains may post (the script normally sends a simple request
/// that needs no preflight).
pub async fn preflight(deps: &Deps, request: &Request) -> Result<WebResponse, Error> {
    let origin = request.headers().get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let store = query(request, "store").and_then(|s| StoreHash::parse(&s).ok());
    let allowed = match (origin, store) {
        (Some(origin), Some(store)) => match store_domains(deps, &store).await {
            Ok(Some(domains)) if domains.allows(origin) => Some(origin),
            _ => None,
        },
        _ => None,
    };
    let mut response = with_cors(
        http::Response::builder()
            .status(StatusCode::NO_CONTENT)
            .body(String::new())
            .expect("static response parts are valid"),
        allowed,
    );
    if allowed.is_some() {
        let headers = response.headers_mut();
        headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("POST"));
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("content-type"),
        );
        headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
    }
    Ok(response)
}

/// Why a capture was not recorded; every refusal changes nothing.
#[derive(Debug)]
enum Refusal {
    UnknownStore,
    NotCollecting,
    Origin,
    RateLimited,
    InvalidPhone,
    StaleDisclosure,
    Unavailable,
}

impl Refusal {
    fn status(&self) -> StatusCode {
        match self {
            Self::UnknownStore => StatusCode::NOT_FOUND,
            Self::NotCollecting | Self::StaleDisclosure => StatusCode::CONFLICT,
            Self::Origin => StatusCode::FORBIDDEN,
            Self::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Self::InvalidPhone => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn message(&self) -> &'static str {
        match self {
            Self::UnknownStore => "unknown store",
            Self::NotCollecting => "this store does not collect SMS consent at checkout",
            Self::Origin => "not allowed from this origin",
            Self::RateLimited => "too many requests",
            Self::InvalidPhone => "the phone number cannot receive text messages",
            Self::StaleDisclosure => "the consent text changed; reload the page",
            Self::Unavailable => "try again later",
        }
    }
}

impl From<shared::db::DbError> for Refusal {
    fn from(error: shared::db::DbError) -> Self {
        tracing::error!(%error, "consent capture: DynamoDB failed");
        Self::Unavailable
    }
}

async fn record(
    deps: &Deps,
    request: &Request,
    origin: Option<&str>,
    capture: &CaptureRequest,
) -> Result<WebResponse, Refusal> {
    let db = &deps.aws.db;
    let now = deps.clock.now();
    let (store, settings) = match db.store_with_settings(&capture.store).await? {
        Some((store, _)) if !store.is_installed() => return Err(Refusal::UnknownStore),
        Some((store, Some(settings))) => (store, settings),
        Some(_) => return Err(Refusal::NotCollecting),
        None => return Err(Refusal::UnknownStore),
    };
    let disclosure = disclosure_of(&settings).ok_or(Refusal::NotCollecting)?;
    let domains = store_domains(deps, &store.store_hash)
        .await
        .map_err(|_| Refusal::Unavailable)?
        .ok_or(Refusal::UnknownStore)?;
    if !origin.is_some_and(|o| domains.allows(o)) {
        return Err(Refusal::Origin);
    }
    let evidence = evidence(request);
    // The client's own limit first: what it refuses never reaches the store's budget, so one client cannot
    // spend it for every shopper.
    let ip_key = format!("consent:ip:{}", hex_digest(&evidence.client()));
    let ip_count = db
        .count_request(&ip_key, chrono::Duration::minutes(IP_WINDOW_MINUTES), now)
        .await?;
    if ip_count > IP_LIMIT {
        return Err(Refusal::RateLimited);
    }
    if capture
        .disclosure_version
        .as_ref()
        .is_some_and(|v| *v != disclosure.version)
    {
        return Err(Refusal::StaleDisclosure);
    }
    let country = capture.country.as_deref().or(domains.country.as_deref());
    let phone = parse_phone(&capture.phone, country).map_err(|_| Refusal::InvalidPhone)?;
    // The store's budget (its ledger writes and BigCommerce reads) is spent only by captures that would be
    // recorded: a flood from many clients still meets it.
    let store_key = format!("consent:store:{}", store.store_hash);
    let store_count = db.count_request(&store_key, chrono::Duration::minutes(1), now).await?;
    if store_count > STORE_LIMIT {
        return Err(Refusal::RateLimited);
    }

    if capture.checked {
        let event = checkbox_event(capture, &phone, &disclosure, &evidence, now);
        db.append_consent(&event).await?;
        tracing::info!(
            cart_id = %capture.cart_id,
            phone = %phone,
            event_id = %event.event_id,
            disclosure_version = %disclosure.version,
            "checkout checkbox ticked; waiting for verification"
        );
        let check = SyncMessage::CheckoutConsent {
            store_hash: store.store_hash.clone(),
            cart_id: capture.cart_id.clone(),
            phone,
            attempt: 0,
        };
        if let Err(error) = deps.aws.sync_queue.send(&check).await {
            // The tick is recorded; the checkout's next cart or order event verifies it instead.
            tracing::warn!(%error, "could not queue the verification of the tick");
        }
        return Ok(web::json(
            StatusCode::OK,
            &serde_json::json!({ "recorded": true, "event_id": event.event_id }),
        ));
    }
    let ledger = db.ledger(&store.store_hash, &phone).await?;
    if !ticked_in_checkout(&ledger, &capture.cart_id) {
        // Nothing was ticked in this checkout for this number: there is no consent to withdraw here.
        return Ok(web::json(StatusCode::OK, &serde_json::json!({ "recorded": false })));
    }
    let event = untick_event(capture, &phone, now);
    db.append_consent(&event).await?;
    tracing::info!(cart_id = %capture.cart_id, phone = %phone, "checkout checkbox unticked: opted out");
    Ok(web::json(
        StatusCode::OK,
        &serde_json::json!({ "recorded": true, "event_id": event.event_id }),
    ))
}

/// The checkbox text for stores that chose the SMS checkbox (and gave both URLs).
fn disclosure_of(settings: &Settings) -> Option<Disclosure> {
    if settings.consent_option != ConsentOption::SmsCheckbox {
        return None;
    }
    build_disclosure(
        &settings.brand_name,
        settings.terms_url.as_deref()?,
        settings.privacy_url.as_deref()?,
    )
    .ok()
}

type DisclosureCache = HashMap<(String, StoreHash), (Option<Disclosure>, Instant)>;
static DISCLOSURES: LazyLock<Mutex<DisclosureCache>> = LazyLock::new(Default::default);

async fn checkbox_disclosure(deps: &Deps, store: &StoreHash) -> Result<Option<Disclosure>, shared::db::DbError> {
    let key = (deps.aws.db.table_name().to_owned(), store.clone());
    if let Some((cached, at)) = DISCLOSURES.lock().unwrap_or_else(|p| p.into_inner()).get(&key)
        && at.elapsed() < DISCLOSURE_CACHE_TTL
    {
        return Ok(cached.clone());
    }
    let disclosure = match deps.aws.db.store_with_settings(store).await? {
        Some((record, Some(settings))) if record.is_installed() => disclosure_of(&settings),
        _ => None,
    };
    DISCLOSURES
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(key, (disclosure.clone(), Instant::now()));
    Ok(disclosure)
}

/// Where a store's checkout may post from, and its country (the hint for national numbers).
#[derive(Debug, Clone)]
struct StoreDomains {
    origins: Vec<String>,
    country: Option<String>,
}

impl StoreDomains {
    fn allows(&self, origin: &str) -> bool {
        let origin = origin.trim_end_matches('/').to_ascii_lowercase();
        self.origins.contains(&origin)
    }
}

type DomainCache = HashMap<(String, StoreHash), (StoreDomains, Instant)>;
static DOMAINS: LazyLock<Mutex<DomainCache>> = LazyLock::new(Default::default);

/// The store's domains from `GET /v2/store` (its domain and secure URL, and the permanent
/// `store-{hash}.mybigcommerce.com` address), cached per warm Lambda.
async fn store_domains(deps: &Deps, store: &StoreHash) -> Result<Option<StoreDomains>, Error> {
    let key = (deps.aws.db.table_name().to_owned(), store.clone());
    if let Some((cached, at)) = DOMAINS.lock().unwrap_or_else(|p| p.into_inner()).get(&key)
        && at.elapsed() < STORE_CACHE_TTL
    {
        return Ok(Some(cached.clone()));
    }
    let Some(record) = deps.aws.db.get_store(store).await? else {
        return Ok(None);
    };
    let info = deps
        .bigcommerce
        .store_client(&record)
        .await?
        .store_information()
        .await?;
    let mut origins = Vec::new();
    let domain = info.domain.trim().trim_end_matches('/').to_ascii_lowercase();
    if !domain.is_empty() {
        origins.push(format!("https://{domain}"));
        origins.push(format!("http://{domain}"));
    }
    if let Some(secure) = origin_of(&info.secure_url) {
        origins.push(secure);
    }
    origins.push(format!("https://store-{store}.mybigcommerce.com"));
    origins.sort();
    origins.dedup();
    let domains = StoreDomains {
        origins,
        country: Some(info.country_code.trim().to_ascii_uppercase()).filter(|c| c.len() == 2),
    };
    DOMAINS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(key, (domains.clone(), Instant::now()));
    Ok(Some(domains))
}

/// `https://shop.example.com` from `https://shop.example.com/any/path`.
fn origin_of(url: &str) -> Option<String> {
    let url = url.trim().to_ascii_lowercase();
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split('/').next().filter(|h| !h.is_empty())?;
    matches!(scheme, "http" | "https").then(|| format!("{scheme}://{host}"))
}

fn evidence(request: &Request) -> RequestEvidence {
    let ip = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => context.http.source_ip.clone(),
        _ => None,
    };
    RequestEvidence {
        ip: ip.unwrap_or_default(),
        user_agent: request
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned(),
    }
}

/// Rate-limit keys hold a digest, not the address (or link token).
pub(crate) fn hex_digest(value: &str) -> String {
    use sha2::Digest;
    hex::encode(&sha2::Sha256::digest(value.as_bytes())[..12])
}

fn query(request: &Request, name: &str) -> Option<String> {
    request
        .query_string_parameters_ref()
        .and_then(|q| q.first(name))
        .map(str::to_owned)
}

/// Answers anyone may read (the script and disclosure are public).
fn public(mut response: WebResponse) -> WebResponse {
    let headers = response.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    if response.status() == StatusCode::OK {
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=60"));
    } else {
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

fn with_cors(mut response: WebResponse, allowed_origin: Option<&str>) -> WebResponse {
    let headers = response.headers_mut();
    headers.insert(header::VARY, HeaderValue::from_static("Origin"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(value) = allowed_origin.and_then(|o| HeaderValue::from_str(o).ok()) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_scheme_and_host() {
        assert_eq!(
            origin_of("https://Shop.Example.com/checkout").as_deref(),
            Some("https://shop.example.com")
        );
        assert_eq!(
            origin_of("http://127.0.0.1:8080").as_deref(),
            Some("http://127.0.0.1:8080")
        );
        assert_eq!(origin_of("ftp://x"), None);
        assert_eq!(origin_of("nonsense"), None);
        let domains = StoreDomains {
            origins: vec!["https://shop.example.com".into()],
            country: None,
        };
        assert!(domains.allows("https://shop.example.com"));
        assert!(domains.allows("https://SHOP.example.com/"));
        assert!(!domains.allows("https://shop.example.com.evil.test"));
        assert!(!domains.allows("null"));
    }
}
