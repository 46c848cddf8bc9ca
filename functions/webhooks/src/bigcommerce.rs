//! BigCommerce webhook deliveries (`POST /webhooks/bigcommerce`): authenticate, de-duplicate, enqueue,
//! answer fast. The work happens in the `sync` function, which re-reads what each event names.
//!
//! Checks, in order, before anything is written: size and shape (400/413), the store named by `producer`
//! (404 when we do not know it), the per-store secret header that every hook is registered with (401,
//! constant-time), and the Standard Webhooks signature with the app's client secret when BigCommerce sends
//! one (401; 5-minute tolerance). Then one conditional write claims the delivery with an `in_progress` lease,
//! one SQS message carries it to the sync queue, and one more write marks it `done`: only a done delivery
//! makes a retry a duplicate (200, nothing done). A retry while the lease lives is asked to come back (503);
//! one after it lapsed (the first invocation died before enqueueing) takes it over and enqueues. If the
//! enqueue fails the lease is given up and BigCommerce is asked to retry (503). The sync function re-reads
//! what each event names, so enqueueing twice is harmless. Store secrets are cached per warm Lambda, so a
//! delivery costs three AWS calls.

use crate::Deps;
use lambda_http::{Error, Request};
use shared::bigcommerce::{WEBHOOK_SCOPES, WEBHOOK_SECRET_HEADER};
use shared::db::DeliveryClaim;
use shared::messages::SyncMessage;
use shared::store_events::{Delivery, DeliveryError, SignatureHeaders, StoreEvent, verify_signature};
use shared::web::{self, WebResponse};
use shared::{Secret, StoreHash};
use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};
use tracing::Instrument;

/// How long a delivery is remembered: BigCommerce retries for about 48 hours.
const DEDUPE_DAYS: i64 = 3;
/// How long a warm Lambda trusts a store's cached secret and status.
const STORE_CACHE_TTL: Duration = Duration::from_secs(300);

pub async fn delivery(deps: &Deps, request: &Request) -> Result<WebResponse, Error> {
    let body: &[u8] = request.body().as_ref();
    let delivery = match Delivery::parse(body) {
        Ok(delivery) => delivery,
        Err(DeliveryError::TooLarge(size)) => {
            tracing::warn!(size, "webhook delivery refused: too large");
            return Ok(web::json_error(http::StatusCode::PAYLOAD_TOO_LARGE, "body too large"));
        }
        Err(error) => {
            tracing::warn!(%error, "webhook delivery refused: malformed");
            return Ok(web::json_error(http::StatusCode::BAD_REQUEST, &error.to_string()));
        }
    };
    let span = shared::logging::store_span(&delivery.store_hash);
    accept(deps, request, body, delivery).instrument(span).await
}

async fn accept(deps: &Deps, request: &Request, body: &[u8], delivery: Delivery) -> Result<WebResponse, Error> {
    let header = |name: &str| request.headers().get(name).and_then(|v| v.to_str().ok());
    let store = match known_store(deps, &delivery.store_hash, header(WEBHOOK_SECRET_HEADER)).await {
        Ok(Lookup::Authenticated(store)) => store,
        Ok(Lookup::Unknown) => {
            tracing::warn!(scope = %delivery.scope, "webhook delivery for a store we do not know");
            return Ok(web::json_error(http::StatusCode::NOT_FOUND, "unknown store"));
        }
        Ok(Lookup::WrongSecret) => {
            tracing::warn!(scope = %delivery.scope, "webhook delivery refused: missing or wrong secret header");
            return Ok(web::json_error(http::StatusCode::UNAUTHORIZED, "not authenticated"));
        }
        Err(error) => {
            tracing::error!(%error, "store lookup failed; BigCommerce will retry");
            return Ok(web::json_error(
                http::StatusCode::SERVICE_UNAVAILABLE,
                "try again later",
            ));
        }
    };
    let now = deps.clock.now();
    if let Some(signature) = header("webhook-signature") {
        let headers = SignatureHeaders {
            id: header("webhook-id").unwrap_or_default(),
            timestamp: header("webhook-timestamp").unwrap_or_default(),
            signature,
        };
        // Replay protection compares BigCommerce's wall-clock timestamp with ours; the injected clock is the
        // app's business time (consent, quiet hours), which tests move freely.
        let wall_clock = chrono::Utc::now();
        if let Err(error) = verify_signature(&deps.bigcommerce_config.client_secret, headers, body, wall_clock) {
            tracing::warn!(%error, scope = %delivery.scope, "webhook delivery refused: bad signature");
            return Ok(web::json_error(http::StatusCode::UNAUTHORIZED, "bad signature"));
        }
    }
    if !store.installed || !WEBHOOK_SCOPES.contains(&delivery.scope.as_str()) {
        tracing::info!(scope = %delivery.scope, installed = store.installed, "webhook delivery ignored");
        return Ok(acknowledged());
    }
    if let Err(error) = StoreEvent::from_delivery(&delivery.scope, &delivery.data) {
        tracing::warn!(%error, "webhook delivery refused: unusable data");
        return Ok(web::json_error(http::StatusCode::BAD_REQUEST, &error.to_string()));
    }

    let db = &deps.aws.db;
    // Only a signed delivery's id is trusted as its identity.
    let webhook_id = header("webhook-signature").and(header("webhook-id"));
    let key = delivery.dedupe_key(webhook_id);
    let lease = match db.claim_delivery(&key, now, chrono::Duration::days(DEDUPE_DAYS)).await {
        Ok(DeliveryClaim::Claimed(lease)) => lease,
        Ok(DeliveryClaim::Done) => {
            tracing::info!(scope = %delivery.scope, hash = %delivery.hash, "duplicate webhook delivery ignored");
            return Ok(acknowledged());
        }
        Ok(DeliveryClaim::InProgress) => {
            tracing::info!(scope = %delivery.scope, hash = %delivery.hash, "webhook delivery still being processed; BigCommerce will retry");
            return Ok(web::json_error(
                http::StatusCode::SERVICE_UNAVAILABLE,
                "try again later",
            ));
        }
        Err(error) => {
            tracing::error!(%error, "could not claim the delivery; BigCommerce will retry");
            return Ok(web::json_error(
                http::StatusCode::SERVICE_UNAVAILABLE,
                "try again later",
            ));
        }
    };
    shared::failpoint!(
        "webhooks.bigcommerce.after_claim",
        delivery.store_hash.as_str(),
        Ok(web::json_error(
            http::StatusCode::SERVICE_UNAVAILABLE,
            "try again later"
        ))
    );
    let message = SyncMessage::Webhook {
        store_hash: delivery.store_hash.clone(),
        scope: delivery.scope.clone(),
        data: delivery.data,
        hash: delivery.hash.clone(),
        created_at: delivery.created_at,
    };
    if let Err(error) = deps.aws.sync_queue.send(&message).await {
        tracing::error!(%error, scope = %delivery.scope, "enqueue failed; BigCommerce will retry");
        if let Err(release) = db.release_delivery(&lease).await {
            // The retry waits for the lease to lapse: say so loudly.
            tracing::error!(error = %release, hash = %delivery.hash, "could not release the delivery");
        }
        return Ok(web::json_error(
            http::StatusCode::SERVICE_UNAVAILABLE,
            "try again later",
        ));
    }
    shared::failpoint!(
        "webhooks.bigcommerce.after_enqueue",
        delivery.store_hash.as_str(),
        Ok(web::json_error(
            http::StatusCode::SERVICE_UNAVAILABLE,
            "try again later"
        ))
    );
    // Queued either way: a mark left in progress only means a retry after the lease enqueues again.
    if let Err(error) = db.finish_delivery(&lease).await {
        tracing::error!(%error, hash = %delivery.hash, "could not mark the delivery done");
    }
    tracing::info!(scope = %delivery.scope, hash = %delivery.hash, "webhook delivery queued");
    Ok(acknowledged())
}

/// BigCommerce wants a 2xx and no body.
fn acknowledged() -> WebResponse {
    http::Response::builder()
        .status(http::StatusCode::OK)
        .body(String::new())
        .expect("static response parts are valid")
}

#[derive(Clone)]
struct KnownStore {
    webhook_secret: Secret,
    installed: bool,
    fetched: Instant,
}

enum Lookup {
    Authenticated(KnownStore),
    Unknown,
    WrongSecret,
}

/// Per table (tests run several apps in one process) and store.
type StoreCache = HashMap<(String, StoreHash), KnownStore>;
static STORES: LazyLock<Mutex<StoreCache>> = LazyLock::new(Default::default);

/// The store, if the delivery presents its secret. A cached secret that does not match is re-read once (the
/// store may have been re-installed), so a warm Lambda never rejects a correct secret.
async fn known_store(deps: &Deps, store: &StoreHash, presented: Option<&str>) -> Result<Lookup, shared::db::DbError> {
    let db = &deps.aws.db;
    let key = (db.table_name().to_owned(), store.clone());
    let cached = {
        let cache = STORES.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .get(&key)
            .filter(|s| s.fetched.elapsed() < STORE_CACHE_TTL)
            .cloned()
    };
    let matches =
        |s: &KnownStore| presented.is_some_and(|p| !s.webhook_secret.is_empty() && s.webhook_secret.matches(p));
    if let Some(store) = cached.as_ref().filter(|s| matches(s)) {
        return Ok(Lookup::Authenticated(store.clone()));
    }
    let Some(record) = db.get_store(store).await? else {
        return Ok(Lookup::Unknown);
    };
    let fresh = KnownStore {
        webhook_secret: record.webhook_secret.clone(),
        installed: record.is_installed(),
        fetched: Instant::now(),
    };
    STORES
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(key, fresh.clone());
    Ok(if matches(&fresh) {
        Lookup::Authenticated(fresh)
    } else {
        Lookup::WrongSecret
    })
}
