//! `signed_payload_jwt` on `/load`, `/uninstall` and `/remove_user`: HS256 keyed with the app's client secret
//! (what every official client verifies; docs/bigcommerce.md), `aud` = our client id, `iss` = `bc`,
//! `sub` = `stores/{hash}`, `exp`/`nbf` with a small leeway. Only HS256 is accepted: a token naming any other
//! algorithm (`none`, RS256 with our secret as a "public key") is refused before its signature is looked at.
//!
//! A token lives 24 hours, but BigCommerce issues one for each call and calls at once, so it must also have
//! been issued just now (`iat`) and carry a `jti`: the callbacks use each `jti` once
//! ([`SignedPayload::replay_key`]) and never let a token issued before a user's removal or the app's uninstall
//! grant access ([`SignedPayload::predates`]).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use shared::model::MerchantUser;
use shared::{Secret, StoreHash};

/// Clock difference tolerated on `exp`, `nbf` and `iat` (the docs' own example has `nbf` 5 s before `iat`).
pub const LEEWAY_SECONDS: i64 = 30;
/// How long after its `iat` a token is accepted. BigCommerce sends `/load` through the merchant's browser and
/// `/uninstall`, `/remove_user` from its servers as soon as it issues them; an older token is a kept link.
pub const MAX_AGE_SECONDS: i64 = 5 * 60;
/// BigCommerce's `jti` is a UUID (36 characters); anything much longer is not theirs.
const MAX_JTI_LENGTH: usize = 128;
/// Far longer than any real token (about 600 bytes); anything bigger is refused unread.
const MAX_TOKEN_LENGTH: usize = 8 * 1024;

/// A verified callback: which store, which user did it, who owns the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedPayload {
    pub store_hash: StoreHash,
    /// The user who opened the app (`/load`) or who was removed (`/remove_user`).
    pub user: MerchantUser,
    pub owner: MerchantUser,
    /// `iat`, by BigCommerce's clock.
    pub issued_at: DateTime<Utc>,
    /// `exp`: a used token is remembered until then.
    pub expires_at: DateTime<Utc>,
    /// `jti`: unique per token.
    pub token_id: String,
}

impl SignedPayload {
    /// The de-duplication key that lets this token be used once.
    pub fn replay_key(&self) -> String {
        format!("callback-jwt:{}:{}", self.store_hash, self.token_id)
    }

    /// The earliest removal or uninstall that may have happened after this token was issued: `iat` is
    /// BigCommerce's clock and the revocation instants are ours, so anything within the leeway counts as later.
    pub fn revocations_from(&self) -> DateTime<Utc> {
        self.issued_at - Duration::seconds(LEEWAY_SECONDS)
    }

    /// Whether access ended at `revoked_at` (a removal, an uninstall) possibly after this token was issued, so
    /// the token must not grant it again. Compared in whole seconds, as `iat` is.
    pub fn predates(&self, revoked_at: DateTime<Utc>) -> bool {
        revoked_at.timestamp() >= self.revocations_from().timestamp()
    }
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
    #[error("the signed payload was issued too long ago")]
    Stale,
    #[error("the signed payload was already used")]
    Replayed,
    /// Issued before the user's removal or the app's uninstall.
    #[error("the signed payload was issued before your access to the app ended")]
    Superseded,
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

/// The claims the app reads (`aud` and `iss` are checked by `jsonwebtoken`).
#[derive(Deserialize)]
struct Claims {
    sub: String,
    exp: i64,
    #[serde(default)]
    nbf: Option<i64>,
    iat: i64,
    jti: String,
    user: User,
    owner: User,
}

/// Verifies `token` for the app `client_id` with `client_secret` at `now`.
///
/// The signature, audience and issuer are checked by `jsonwebtoken`; the times are checked here against `now`,
/// because the crate reads the system clock and the app's clock is injected (tests run on a manual one).
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
    if token.len() > MAX_TOKEN_LENGTH || token.split('.').count() != 3 {
        return Err(JwtError::Malformed);
    }
    // Named before anything else is looked at, so `none` or RS256 get their own answer.
    let header: Header = decode_json(token.split('.').next().unwrap_or_default())?;
    if header.alg != "HS256" {
        return Err(JwtError::Algorithm(header.alg.chars().take(20).collect()));
    }
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_audience(&[client_id]);
    validation.set_issuer(&["bc"]);
    validation.validate_exp = false;
    validation.required_spec_claims.clear();
    // Only an empty secret is refused; nothing can be verified with it.
    let key = DecodingKey::from_secret(client_secret.expose().as_bytes()).map_err(|_| JwtError::Signature)?;
    let claims = jsonwebtoken::decode::<Claims>(token, &key, &validation)
        .map_err(|e| match e.kind() {
            ErrorKind::InvalidSignature => JwtError::Signature,
            ErrorKind::InvalidAudience => JwtError::Audience,
            ErrorKind::InvalidIssuer => JwtError::Issuer,
            _ => JwtError::Malformed,
        })?
        .claims;

    let now = now.timestamp();
    if now > claims.exp.saturating_add(LEEWAY_SECONDS) {
        return Err(JwtError::Expired);
    }
    if claims.nbf.is_some_and(|nbf| now + LEEWAY_SECONDS < nbf) || now + LEEWAY_SECONDS < claims.iat {
        return Err(JwtError::NotYetValid);
    }
    if now > claims.iat.saturating_add(MAX_AGE_SECONDS + LEEWAY_SECONDS) {
        return Err(JwtError::Stale);
    }
    if claims.jti.is_empty() || claims.jti.len() > MAX_JTI_LENGTH || !claims.jti.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(JwtError::Malformed);
    }
    let store_hash = StoreHash::from_context(&claims.sub).map_err(|_| JwtError::Subject)?;
    let instant = |seconds: i64| DateTime::from_timestamp(seconds, 0).ok_or(JwtError::Malformed);
    let user = |u: User| MerchantUser {
        id: u.id,
        email: u.email.unwrap_or_default(),
    };
    Ok(SignedPayload {
        store_hash,
        user: user(claims.user),
        owner: user(claims.owner),
        issued_at: instant(claims.iat)?,
        expires_at: instant(claims.exp)?,
        token_id: claims.jti,
    })
}

fn decode_json<T: serde::de::DeserializeOwned>(part: &str) -> Result<T, JwtError> {
    let bytes = B64URL.decode(part).map_err(|_| JwtError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| JwtError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hmac::{Hmac, Mac};
    use serde_json::json;
    use sha2::Sha256;

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
    fn a_token_must_have_been_issued_just_now() {
        let t = now().timestamp();
        let mut c = claims();
        c["iat"] = json!(t - MAX_AGE_SECONDS - LEEWAY_SECONDS);
        assert!(check(&hs256(&c)).is_ok());
        // Unexpired (its 24 hours run), but issued too long ago: a kept link.
        c["iat"] = json!(t - MAX_AGE_SECONDS - LEEWAY_SECONDS - 1);
        assert_eq!(check(&hs256(&c)), Err(JwtError::Stale));
        c["iat"] = json!(t + LEEWAY_SECONDS + 1);
        assert_eq!(check(&hs256(&c)), Err(JwtError::NotYetValid));
        c["iat"] = json!(i64::MAX);
        c["exp"] = json!(i64::MAX);
        assert_eq!(check(&hs256(&c)), Err(JwtError::NotYetValid));
    }

    #[test]
    fn a_token_carries_its_id_and_times() {
        let payload = check(&hs256(&claims())).unwrap();
        assert_eq!(payload.token_id, "c5f0bcf5-a504-4ae6-8dcc-0e40eaa5a070");
        assert_eq!(payload.issued_at, now());
        assert_eq!(payload.expires_at, now() + Duration::days(1));
        assert_eq!(
            payload.replay_key(),
            "callback-jwt:abc123:c5f0bcf5-a504-4ae6-8dcc-0e40eaa5a070"
        );
        for bad in [json!(""), json!("a".repeat(129)), json!("has space"), json!(7)] {
            let mut c = claims();
            c["jti"] = bad.clone();
            assert_eq!(check(&hs256(&c)), Err(JwtError::Malformed), "{bad}");
        }
        for claim in ["jti", "iat"] {
            let mut c = claims();
            c.as_object_mut().unwrap().remove(claim);
            assert_eq!(check(&hs256(&c)), Err(JwtError::Malformed), "without {claim}");
        }
    }

    #[test]
    fn a_token_predates_any_revocation_up_to_the_leeway_after_it() {
        let payload = check(&hs256(&claims())).unwrap();
        let issued = payload.issued_at;
        assert!(payload.predates(issued + Duration::hours(1)));
        assert!(payload.predates(issued));
        // BigCommerce's clock may run up to the leeway ahead of ours.
        assert!(payload.predates(issued - Duration::seconds(LEEWAY_SECONDS)));
        assert!(!payload.predates(issued - Duration::seconds(LEEWAY_SECONDS + 1)));
        assert_eq!(payload.revocations_from(), issued - Duration::seconds(LEEWAY_SECONDS));
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
