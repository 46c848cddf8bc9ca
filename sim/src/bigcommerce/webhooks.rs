//! Webhook events and their delivery: BigCommerce's light payload plus Standard Webhooks signature headers.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha1::{Digest, Sha1};
use sha2::Sha256;

/// One event as BigCommerce would send it. Redelivering it sends the very same body (and so the same `hash`
/// and `webhook-id`), with a fresh timestamp and signature.
#[derive(Debug, Clone)]
pub struct WebhookEvent {
    /// The Standard Webhooks message id (`webhook-id`).
    pub id: String,
    pub store_hash: String,
    pub scope: String,
    pub data: Value,
    /// SHA-1 hex of the JSON-encoded `data`.
    pub hash: String,
    pub created_at: i64,
    /// The exact JSON body delivered.
    pub body: String,
}

impl WebhookEvent {
    pub(crate) fn new(store_hash: &str, store_id: u64, scope: &str, data: Value) -> Self {
        let data_json = data.to_string();
        let hash = hex::encode(Sha1::digest(data_json.as_bytes()));
        let created_at = Utc::now().timestamp();
        let body = json!({
            "scope": scope,
            "store_id": store_id.to_string(),
            "data": data,
            "hash": hash,
            "created_at": created_at,
            "producer": format!("stores/{store_hash}"),
        })
        .to_string();
        Self {
            id: format!("msg_{}", uuid::Uuid::new_v4().simple()),
            store_hash: store_hash.into(),
            scope: scope.into(),
            data,
            hash,
            created_at,
            body,
        }
    }
}

/// The result of posting one event to one hook.
#[derive(Debug, Clone)]
pub struct DeliveryRecord {
    pub event_id: String,
    pub hook_id: u64,
    pub store_hash: String,
    pub scope: String,
    pub destination: String,
    pub hash: String,
    /// The receiver's HTTP status; `None` when the request failed (`error` says why).
    pub status: Option<u16>,
    pub error: Option<String>,
    pub at: DateTime<Utc>,
}

impl DeliveryRecord {
    pub fn succeeded(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// `v1,<base64 HMAC-SHA256(secret, "{id}.{timestamp}.{body}")>`: the Standard Webhooks signature, keyed with
/// the raw bytes of the app's client secret (BigCommerce hands the libraries the base64 of the secret, which
/// they decode again).
pub fn webhook_signature(client_secret: &str, id: &str, timestamp: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(client_secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    format!("v1,{}", B64.encode(mac.finalize().into_bytes()))
}
