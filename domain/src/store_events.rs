//! BigCommerce webhook deliveries ("store events"): the envelope, the Standard Webhooks signature, and what
//! each scope we subscribe to means. Pure: bytes and headers in, typed values out; the `webhooks` function
//! owns the I/O and the `sync` function acts on the events.
//!
//! Facts (docs/bigcommerce.md, Webhooks): the payload is light (`data` carries ids only), `producer` is
//! `stores/{hash}`, `hash` is the SHA-1 of `data` (so two updates of the same cart carry the same `hash`),
//! retries repeat the body byte for byte, and deliveries are signed per Standard Webhooks with the app's
//! client secret when BigCommerce sends a `webhook-signature` header.

use crate::StoreHash;
use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

/// Deliveries larger than this are not BigCommerce's (the payload carries ids only).
pub const MAX_DELIVERY_BYTES: usize = 16 * 1024;

/// How far a signed delivery's timestamp may be from our clock (the Standard Webhooks libraries' tolerance).
pub const SIGNATURE_TOLERANCE_SECONDS: i64 = 5 * 60;

/// A delivery's envelope, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub scope: String,
    pub store_hash: StoreHash,
    pub data: serde_json::Value,
    pub hash: String,
    pub created_at: i64,
    /// SHA-256 (hex) of the body as received: a retry repeats the body byte for byte.
    pub body_digest: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    #[error("the body is {0} bytes, more than a BigCommerce delivery ever is")]
    TooLarge(usize),
    #[error("the body is not a webhook delivery: {0}")]
    Malformed(String),
    #[error("producer {0:?} is not stores/{{hash}}")]
    UnknownProducer(String),
}

impl Delivery {
    pub fn parse(body: &[u8]) -> Result<Self, DeliveryError> {
        if body.len() > MAX_DELIVERY_BYTES {
            return Err(DeliveryError::TooLarge(body.len()));
        }
        #[derive(Deserialize)]
        struct Envelope {
            scope: String,
            data: serde_json::Value,
            hash: String,
            created_at: i64,
            producer: String,
        }
        let envelope: Envelope = serde_json::from_slice(body).map_err(|e| DeliveryError::Malformed(e.to_string()))?;
        if envelope.scope.is_empty() || envelope.scope.len() > 128 || !envelope.scope.starts_with("store/") {
            return Err(DeliveryError::Malformed("scope is not a store/... scope".into()));
        }
        let hash_ok = !envelope.hash.is_empty()
            && envelope.hash.len() <= 128
            && envelope.hash.bytes().all(|b| b.is_ascii_alphanumeric());
        if !hash_ok {
            return Err(DeliveryError::Malformed("hash is not a hex digest".into()));
        }
        if !envelope.data.is_object() {
            return Err(DeliveryError::Malformed("data is not an object".into()));
        }
        let store_hash = StoreHash::from_context(&envelope.producer)
            .map_err(|_| DeliveryError::UnknownProducer(envelope.producer.chars().take(40).collect()))?;
        Ok(Self {
            scope: envelope.scope,
            store_hash,
            data: envelope.data,
            hash: envelope.hash,
            created_at: envelope.created_at,
            body_digest: hex::encode(<Sha256 as sha2::Digest>::digest(body)),
        })
    }

    /// What identifies this delivery across BigCommerce's retries: the Standard Webhooks message id when the
    /// delivery is signed (unique per event, repeated on retries), else the digest of the whole body (retries
    /// repeat it byte for byte). Not the envelope's `hash` and `created_at`: `created_at` has one-second
    /// resolution and the sender's `hash` is not ours to trust, so two different events in the same second
    /// could share them and the second would be dropped as a duplicate.
    pub fn dedupe_key(&self, webhook_id: Option<&str>) -> String {
        match webhook_id.filter(|id| !id.is_empty() && id.len() <= 128) {
            Some(id) => format!("bcwh:{}:{id}", self.store_hash),
            None => format!("bcwh:{}:body:{}", self.store_hash, self.body_digest),
        }
    }
}

/// The Standard Webhooks headers of a delivery.
#[derive(Debug, Clone, Copy)]
pub struct SignatureHeaders<'a> {
    /// `webhook-id`
    pub id: &'a str,
    /// `webhook-timestamp` (Unix seconds)
    pub timestamp: &'a str,
    /// `webhook-signature`: space-separated `v1,<base64>` entries.
    pub signature: &'a str,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the webhook-id or webhook-timestamp header is missing")]
    MissingHeader,
    #[error("webhook-timestamp is not a Unix time")]
    BadTimestamp,
    #[error("webhook-timestamp is more than 5 minutes from now")]
    Stale,
    #[error("no v1 signature matches")]
    Mismatch,
}

/// Verifies a Standard Webhooks signature: `base64(HMAC-SHA256(client_secret, "{id}.{timestamp}.{body}"))`
/// among the `v1,` entries, with the timestamp within [`SIGNATURE_TOLERANCE_SECONDS`] of `now`. BigCommerce
/// hands the libraries the base64 of the client secret, which they decode again: the key is the secret's
/// raw bytes. The comparison is constant-time.
pub fn verify_signature(
    client_secret: &crate::Secret,
    headers: SignatureHeaders<'_>,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<(), SignatureError> {
    if headers.id.is_empty() || headers.timestamp.is_empty() {
        return Err(SignatureError::MissingHeader);
    }
    let timestamp: i64 = headers
        .timestamp
        .trim()
        .parse()
        .map_err(|_| SignatureError::BadTimestamp)?;
    if (now.timestamp() - timestamp).abs() > SIGNATURE_TOLERANCE_SECONDS {
        return Err(SignatureError::Stale);
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(client_secret.expose().as_bytes()).expect("HMAC takes any key length");
    mac.update(headers.id.as_bytes());
    mac.update(b".");
    mac.update(headers.timestamp.trim().as_bytes());
    mac.update(b".");
    mac.update(body);
    let expected = mac.finalize().into_bytes();
    let matched = headers
        .signature
        .split_whitespace()
        .filter_map(|entry| entry.strip_prefix("v1,"))
        .filter_map(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
        .any(|candidate| {
            use subtle::ConstantTimeEq;
            candidate.len() == expected.len() && bool::from(candidate.ct_eq(&expected))
        });
    if matched { Ok(()) } else { Err(SignatureError::Mismatch) }
}

/// What a delivery asks the sync worker to re-read. Events carry ids only, repeat, and arrive out of order:
/// every handler re-fetches the current state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreEvent {
    CustomerChanged {
        customer_id: u64,
    },
    CustomerDeleted {
        customer_id: u64,
    },
    SubscriberChanged {
        subscriber_id: u64,
    },
    SubscriberDeleted {
        subscriber_id: u64,
    },
    /// Created or status updated.
    OrderChanged {
        order_id: u64,
    },
    CartChanged {
        cart_id: String,
    },
    /// BigCommerce's own abandonment signal (no activity for an hour): `cart_id` when the payload has it,
    /// else the token that `GET /v3/abandoned-carts/{token}` resolves.
    CartAbandoned {
        cart_id: Option<String>,
        token: Option<String>,
    },
    CartConverted {
        cart_id: String,
        order_id: Option<u64>,
    },
    CartDeleted {
        cart_id: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("scope {0} is not one the app subscribes to")]
    UnknownScope(String),
    #[error("the {scope} payload has no usable {field}")]
    MissingField { scope: String, field: &'static str },
}

impl StoreEvent {
    /// Reads a delivery's `data` by its scope (the global cart events use camelCase `orderId`).
    pub fn from_delivery(scope: &str, data: &serde_json::Value) -> Result<Self, EventError> {
        let missing = |field| EventError::MissingField {
            scope: scope.to_owned(),
            field,
        };
        let number_id = || {
            data.get("id")
                .and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok()))
                .filter(|id| *id > 0)
                .ok_or_else(|| missing("id"))
        };
        let cart_id = |value: Option<&serde_json::Value>| {
            value
                .and_then(|v| v.as_str())
                .map(str::trim)
                .filter(|id| is_cart_id(id))
                .map(str::to_owned)
        };
        Ok(match scope {
            "store/customer/created" | "store/customer/updated" => Self::CustomerChanged {
                customer_id: number_id()?,
            },
            "store/customer/deleted" => Self::CustomerDeleted {
                customer_id: number_id()?,
            },
            "store/subscriber/created" | "store/subscriber/updated" => Self::SubscriberChanged {
                subscriber_id: number_id()?,
            },
            "store/subscriber/deleted" => Self::SubscriberDeleted {
                subscriber_id: number_id()?,
            },
            "store/order/created" | "store/order/statusUpdated" => Self::OrderChanged { order_id: number_id()? },
            "store/cart/created" | "store/cart/updated" => Self::CartChanged {
                cart_id: cart_id(data.get("id")).ok_or_else(|| missing("id"))?,
            },
            "store/cart/deleted" => Self::CartDeleted {
                cart_id: cart_id(data.get("id")).ok_or_else(|| missing("id"))?,
            },
            "store/cart/converted" => Self::CartConverted {
                cart_id: cart_id(data.get("id")).ok_or_else(|| missing("id"))?,
                order_id: data.get("orderId").and_then(|v| v.as_u64()).filter(|id| *id > 0),
            },
            "store/cart/abandoned" => {
                let id = cart_id(data.get("id"));
                let token = data
                    .get("token")
                    .and_then(|v| v.as_str())
                    .filter(|t| is_cart_id(t))
                    .map(str::to_owned);
                if id.is_none() && token.is_none() {
                    return Err(missing("id or token"));
                }
                Self::CartAbandoned { cart_id: id, token }
            }
            other => return Err(EventError::UnknownScope(other.to_owned())),
        })
    }
}

/// Cart ids are UUIDs and abandoned-cart tokens 32 hex digits; anything else is not worth a request.
pub fn is_cart_id(value: &str) -> bool {
    !value.is_empty() && value.len() <= 64 && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Secret;
    use serde_json::json;

    fn at(ts: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(ts, 0).unwrap()
    }

    fn sign(secret: &str, id: &str, ts: i64, body: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{id}.{ts}.{body}").as_bytes());
        format!(
            "v1,{}",
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
        )
    }

    const BODY: &str = r#"{"scope":"store/cart/abandoned","store_id":"1025646","data":{"type":"cart","id":"09346904-4175-44fd-be53-f7e598531b6c","token":"1eed6d2d979776ff18e695ceeb10ea61"},"hash":"352e4afc6dd3fc85ea26bfdf3f91852604d57528","created_at":1561482670,"producer":"stores/g5cd38"}"#;

    #[test]
    fn parses_the_documented_envelope() {
        let delivery = Delivery::parse(BODY.as_bytes()).unwrap();
        assert_eq!(delivery.scope, "store/cart/abandoned");
        assert_eq!(delivery.store_hash.as_str(), "g5cd38");
        assert_eq!(delivery.created_at, 1561482670);
        assert_eq!(
            StoreEvent::from_delivery(&delivery.scope, &delivery.data).unwrap(),
            StoreEvent::CartAbandoned {
                cart_id: Some("09346904-4175-44fd-be53-f7e598531b6c".into()),
                token: Some("1eed6d2d979776ff18e695ceeb10ea61".into()),
            }
        );
    }

    #[test]
    fn rejects_what_is_not_a_delivery() {
        assert!(matches!(Delivery::parse(b"not json"), Err(DeliveryError::Malformed(_))));
        assert!(matches!(Delivery::parse(b"{}"), Err(DeliveryError::Malformed(_))));
        let other_producer = BODY.replace("stores/g5cd38", "apps/123");
        assert!(matches!(
            Delivery::parse(other_producer.as_bytes()),
            Err(DeliveryError::UnknownProducer(_))
        ));
        let bad_hash = BODY.replace("352e4afc", "352e'4afc");
        assert!(matches!(
            Delivery::parse(bad_hash.as_bytes()),
            Err(DeliveryError::Malformed(_))
        ));
        let huge = vec![b' '; MAX_DELIVERY_BYTES + 1];
        assert_eq!(
            Delivery::parse(&huge),
            Err(DeliveryError::TooLarge(MAX_DELIVERY_BYTES + 1))
        );
    }

    #[test]
    fn reads_each_scope_with_its_own_shape() {
        let event = |scope: &str, data: serde_json::Value| StoreEvent::from_delivery(scope, &data);
        assert_eq!(
            event(
                "store/cart/converted",
                json!({"type": "cart", "id": "d30016e2-23c0", "orderId": 252})
            ),
            Ok(StoreEvent::CartConverted {
                cart_id: "d30016e2-23c0".into(),
                order_id: Some(252)
            })
        );
        assert_eq!(
            event(
                "store/order/statusUpdated",
                json!({"type": "order", "id": 250, "status": {"previous_status_id": 0, "new_status_id": 11}})
            ),
            Ok(StoreEvent::OrderChanged { order_id: 250 })
        );
        assert_eq!(
            event("store/customer/deleted", json!({"type": "customer", "id": "32"})),
            Ok(StoreEvent::CustomerDeleted { customer_id: 32 })
        );
        assert!(matches!(
            event("store/cart/updated", json!({"type": "cart", "id": "x y"})),
            Err(EventError::MissingField { .. })
        ));
        assert!(matches!(
            event("store/product/updated", json!({"id": 1})),
            Err(EventError::UnknownScope(_))
        ));
        assert!(matches!(
            event("store/customer/created", json!({"id": 0})),
            Err(EventError::MissingField { .. })
        ));
    }

    #[test]
    fn retries_share_a_dedupe_key_and_later_updates_do_not() {
        let first = Delivery::parse(BODY.as_bytes()).unwrap();
        let later = Delivery::parse(BODY.replace("1561482670", "1561482999").as_bytes()).unwrap();
        assert_eq!(first.dedupe_key(None), first.clone().dedupe_key(None));
        assert_ne!(first.dedupe_key(None), later.dedupe_key(None));
        assert_eq!(first.dedupe_key(Some("msg_1")), later.dedupe_key(Some("msg_1")));
    }

    #[test]
    fn unsigned_deliveries_in_the_same_second_with_different_bodies_do_not_share_a_key() {
        // Same scope, `hash` and `created_at`; another line item id in `data`.
        let first = Delivery::parse(BODY.as_bytes()).unwrap();
        let other = Delivery::parse(BODY.replace("09346904", "19346904").as_bytes()).unwrap();
        assert_eq!(
            (first.hash.as_str(), first.created_at),
            (other.hash.as_str(), other.created_at)
        );
        assert_ne!(first.dedupe_key(None), other.dedupe_key(None));
    }

    #[test]
    fn verifies_standard_webhooks_signatures() {
        let secret = Secret::new("sim-client-secret");
        let signature = sign("sim-client-secret", "msg_1", 1_700_000_000, BODY);
        let headers = SignatureHeaders {
            id: "msg_1",
            timestamp: "1700000000",
            signature: &format!("v1,bm90LXRoaXM= {signature}"),
        };
        assert_eq!(
            verify_signature(&secret, headers, BODY.as_bytes(), at(1_700_000_100)),
            Ok(())
        );
        // Another body, another id, another secret, an old timestamp: all refused.
        assert_eq!(
            verify_signature(&secret, headers, b"{}", at(1_700_000_100)),
            Err(SignatureError::Mismatch)
        );
        let other_id = SignatureHeaders { id: "msg_2", ..headers };
        assert_eq!(
            verify_signature(&secret, other_id, BODY.as_bytes(), at(1_700_000_100)),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(&Secret::new("other"), headers, BODY.as_bytes(), at(1_700_000_100)),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(&secret, headers, BODY.as_bytes(), at(1_700_000_301)),
            Err(SignatureError::Stale)
        );
        let no_v1 = SignatureHeaders {
            signature: "v2,abc",
            ..headers
        };
        assert_eq!(
            verify_signature(&secret, no_v1, BODY.as_bytes(), at(1_700_000_000)),
            Err(SignatureError::Mismatch)
        );
        let bad_ts = SignatureHeaders {
            timestamp: "soon",
            ..headers
        };
        assert_eq!(
            verify_signature(&secret, bad_ts, BODY.as_bytes(), at(1_700_000_000)),
            Err(SignatureError::BadTimestamp)
        );
    }
}
