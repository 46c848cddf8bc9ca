//! `signed_payload_jwt` for the app's `/load`, `/uninstall` and `/remove_user` callbacks: HS256 keyed with
//! the client secret, with the documented claims.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use hmac::{Hmac, Mac};
use serde::Serialize;
use serde_json::json;
use sha2::Sha256;

#[derive(Debug, Clone, Serialize)]
pub struct JwtUser {
    pub id: u64,
    pub email: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
}

/// Every claim BigCommerce documents. Start from [`super::BigCommerceSim::jwt_claims`] and change what a test
/// needs (an expired `exp`, a wrong `aud`, another `user`).
#[derive(Debug, Clone, Serialize)]
pub struct JwtClaims {
    pub aud: String,
    pub iss: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub jti: String,
    pub sub: String,
    pub user: JwtUser,
    pub owner: JwtUser,
    pub url: String,
    pub channel_id: Option<u64>,
}

/// Signs `claims` with `secret`; pass another secret to forge one.
pub fn sign_jwt(claims: &JwtClaims, secret: &str) -> String {
    let header = B64URL.encode(json!({"typ": "JWT", "alg": "HS256"}).to_string());
    let payload = B64URL.encode(serde_json::to_vec(claims).expect("claims serialize"));
    let signing_input = format!("{header}.{payload}");
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(signing_input.as_bytes());
    format!("{signing_input}.{}", B64URL.encode(mac.finalize().into_bytes()))
}
