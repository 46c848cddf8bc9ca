//! `signed_payload_jwt` on `/load`, `/uninstall` and `/remove_user`: HS256 keyed with the app's client secret
//! (what every official client verifies; bigcommerce-api.md §1.3), `aud` = our client id, `iss` = `bc`,
//! `sub` = `stores/{hash}`, `exp`/`nbf` with a small leeway. Only HS256 is accepted: a token naming any other
//! algorithm (`none`, RS256 with our secret as a "public key") is refused before its signature is looked at.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;
use shared::model::MerchantUser;
use shared::{Secret, StoreHash};

/// Clock difference tolerated on `exp` and `nbf` (the docs' own example has `nbf` 5 s before `iat`).
pub const LEEWAY_SECONDS: i64 = 30;
/// Far longer than any real token (about 600 bytes); anything bigger is refused unread.
const MAX_TOKEN_LENGTH: usize = 8 * 1024;

/// A verified callback: which store, which user did it, who owns the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedPayload {
    pub store_hash: StoreHash,
    /// The user who opened the app (`/load`) or who was removed (`/remove_user`).
    pub user: MerchantUser,
    pub owner: MerchantUser,
}

/// Why a `signed_payload_jwt` was refused. Every variant answers 401; the text is for logs and the page.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("the signed payload is missing")]
    Missing,
    #[error("the signed payload is not a well-formed JWT")]
    Malformed,
    #[error("the signed payload uses the {0:?} algorithm; only HS256 is accepted")]
    Algorithm(String),
    #[error("the signed payload's signature is not valid")]
    Signature,
    #[error("the signed payload is for another app")]
    Audience,
    #[error("the signed payload was not issued by BigCommerce")]
    Issuer,
    #[error("the signed payload does not name a store")]
    Subject,
    #[error("the signed payload has expired")]
    Expired,
    #[error("the signed payload is not valid yet")]
    NotYetValid,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
}

#[derive(Deserialize)]
struct User {
    id: u64,
    #[serde(default)]
    email: Option<String>,
}

#[derive(Deserialize)]
struct Claims {
    /// A string, or (as JWT allows) an array of strings.
    aud: serde_json::Value,
    iss: String,
    sub: String,
    exp: i64,
    #[serde(default)]
    nbf: Option<i64>,
    user: User,
    owner: User,
}

/// Verifies `token` for the app `client_id` with `client_secret` at `now`.
pub fn verify(
    token: &str,
    client_id: &str,
    client_secret: &Secret,
    now: DateTime<Utc>,
) -> Result<SignedPayload, JwtError> {
    let token = token.trim();
    if token.is_empty() {
        return Err(JwtError::Missing);
    }
    if token.len() > MAX_TOKEN_LENGTH {
        return Err(JwtError::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(header_part), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed);
    };
    let header: Header = decode_json(header_part)?;
    if header.alg != "HS256" {
        return Err(JwtError::Algorithm(header.alg.chars().take(20).collect()));
    }
    let signature = B64URL.decode(signature).map_err(|_| JwtError::Malformed)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(client_secret.expose().as_bytes()).expect("HMAC takes any key length");
    mac.update(header_part.as_bytes());
    mac.update(b".");
    mac.update(payload.as_bytes());
    // `verify_slice` compares in constant time.
    mac.verify_slice(&signature).map_err(|_| JwtError::Signature)?;

    let claims: Claims = decode_json(payload)?;
    let audience_ok = match &claims.aud {
        serde_json::Value::String(aud) => aud == client_id,
        serde_json::Value::Array(auds) => auds.iter().any(|a| a.as_str() == Some(client_id)),
        _ => false,
    };
    if !audience_ok {
        return Err(JwtError::Audience);
    }
    if claims.iss != "bc" {
        return Err(JwtError::Issuer);
    }
    let now = now.timestamp();
    if now > claims.exp + LEEWAY_SECONDS {
        return Err(JwtError::Expired);
    }
    if claims.nbf.is_some_and(|nbf| now + LEEWAY_SECONDS < nbf) {
        return Err(JwtError::NotYetValid);
    }
    let store_hash = StoreHash::from_context(&claims.sub).map_err(|_| JwtError::Subject)?;
    let user = |u: User| MerchantUser {
        id: u.id,
        email: u.email.unwrap_or_default(),
    };
    Ok(SignedPayload {
        store_hash,
        user: user(claims.user),
        owner: user(claims.owner),
    })
}

fn decode_json<T: serde::de::DeserializeOwned>(part: &str) -> Result<T, JwtError> {
    let bytes = B64URL.decode(part).map_err(|_| JwtError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| JwtError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SECRET: &str = "client-secret";
    const CLIENT: &str = "client-id";

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    fn claims() -> serde_json::Value {
        let t = now().timestamp();
        json!({
            "aud": CLIENT, "iss": "bc", "iat": t, "nbf": t - 5, "exp": t + 86_400,
            "jti": "c5f0bcf5-a504-4ae6-8dcc-0e40eaa5a070", "sub": "stores/abc123",
            "user": {"id": 7, "email": "staff@example.com", "locale": "en-US"},
            "owner": {"id": 1, "email": "owner@example.com"}, "url": "/", "channel_id": null
        })
    }

    fn sign(header: serde_json::Value, claims: &serde_json::Value, secret: &str) -> String {
        let input = format!(
            "{}.{}",
            B64URL.encode(header.to_string()),
            B64URL.encode(claims.to_string())
        );
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(input.as_bytes());
        format!("{input}.{}", B64URL.encode(mac.finalize().into_bytes()))
    }

    fn hs256(claims: &serde_json::Value) -> String {
        sign(json!({"typ": "JWT", "alg": "HS256"}), claims, SECRET)
    }

    fn check(token: &str) -> Result<SignedPayload, JwtError> {
        verify(token, CLIENT, &Secret::new(SECRET), now())
    }

    #[test]
    fn a_valid_token_names_the_store_user_and_owner() {
        let payload = check(&hs256(&claims())).unwrap();
        assert_eq!(payload.store_hash.as_str(), "abc123");
        assert_eq!(payload.user.id, 7);
        assert_eq!(payload.user.email, "staff@example.com");
        assert_eq!(payload.owner.id, 1);
    }

    #[test]
    fn a_token_signed_with_another_secret_is_forged() {
        let token = sign(json!({"alg": "HS256"}), &claims(), "guess");
        assert_eq!(check(&token), Err(JwtError::Signature));
        // Changing the claims after signing breaks the signature too.
        let good = hs256(&claims());
        let mut parts: Vec<&str> = good.split('.').collect();
        let mut tampered = claims();
        tampered["sub"] = json!("stores/other1");
        let body = B64URL.encode(tampered.to_string());
        parts[1] = &body;
        assert_eq!(check(&parts.join(".")), Err(JwtError::Signature));
    }

    #[test]
    fn only_hs256_is_accepted() {
        let unsigned = format!(
            "{}.{}.",
            B64URL.encode(json!({"alg": "none"}).to_string()),
            B64URL.encode(claims().to_string())
        );
        assert_eq!(check(&unsigned), Err(JwtError::Algorithm("none".into())));
        let hs512 = sign(json!({"alg": "HS512"}), &claims(), SECRET);
        assert_eq!(check(&hs512), Err(JwtError::Algorithm("HS512".into())));
    }

    #[test]
    fn audience_issuer_and_subject_are_checked() {
        let mut c = claims();
        c["aud"] = json!("another-app");
        assert_eq!(check(&hs256(&c)), Err(JwtError::Audience));
        c["aud"] = json!(["another-app", CLIENT]);
        assert!(check(&hs256(&c)).is_ok());
        let mut c = claims();
        c["iss"] = json!("evil");
        assert_eq!(check(&hs256(&c)), Err(JwtError::Issuer));
        let mut c = claims();
        c["sub"] = json!("stores/../x");
        assert_eq!(check(&hs256(&c)), Err(JwtError::Subject));
    }

    #[test]
    fn expiry_and_not_before_allow_a_small_leeway() {
        let t = now().timestamp();
        let mut c = claims();
        c["exp"] = json!(t - LEEWAY_SECONDS);
        assert!(check(&hs256(&c)).is_ok());
        c["exp"] = json!(t - LEEWAY_SECONDS - 1);
        assert_eq!(check(&hs256(&c)), Err(JwtError::Expired));
        let mut c = claims();
        c["nbf"] = json!(t + LEEWAY_SECONDS);
        assert!(check(&hs256(&c)).is_ok());
        c["nbf"] = json!(t + LEEWAY_SECONDS + 1);
        assert_eq!(check(&hs256(&c)), Err(JwtError::NotYetValid));
    }

    #[test]
    fn malformed_tokens_are_refused() {
        for bad in ["", "abc", "a.b", "a.b.c.d", "!!.??.**", &"a".repeat(9000)] {
            assert!(check(bad).is_err(), "{bad:?}");
        }
        let no_exp = {
            let mut c = claims();
            c.as_object_mut().unwrap().remove("exp");
            hs256(&c)
        };
        assert_eq!(check(&no_exp), Err(JwtError::Malformed));
    }
}
