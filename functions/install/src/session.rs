//! The merchant's session in the control-panel iframe: a cookie holding the store, the user and an expiry,
//! HMAC-signed with a key derived from the client secret, so no session table is needed. It is `HttpOnly`
//! (scripts cannot read it), `Secure` + `SameSite=None` (sent inside BigCommerce's cross-site iframe) and
//! `Partitioned` (CHIPS: browsers that block third-party cookies still keep it, per top-level site).
//!
//! A signed cookie cannot be revoked by itself, so every request also checks that the store is installed, the
//! user is still authorised (`/remove_user` marks the user record), and that the session was issued under the
//! store's current installation and after the user's last removal: a re-install or access given back never
//! revives an older session ([`Session::outlived`]). Every form carries a CSRF token
//! bound to the session: an HMAC of the session's random id, which another site cannot compute. Forms also
//! carry the sealed session itself, for browsers that refuse third-party cookies even partitioned (Safari).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use shared::model::MerchantUser;
use shared::{Secret, StoreHash};

/// `__Host-`: the browser only accepts it `Secure`, for `Path=/`, without a `Domain` (no subdomain can set it).
pub const COOKIE_NAME: &str = "__Host-app_session";
/// How long a session lasts; BigCommerce opens the app with a fresh `/load` whenever the merchant clicks it.
pub const SESSION_HOURS: i64 = 8;

type HmacSha256 = Hmac<Sha256>;

/// Who is using the settings page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub store_hash: StoreHash,
    pub user_id: u64,
    pub email: String,
    /// Random, per session: what the CSRF token is bound to.
    pub id: String,
    /// Epoch seconds, like `expires_at`.
    pub issued_at: i64,
    pub expires_at: i64,
}

impl Session {
    pub fn start(store_hash: StoreHash, user: &MerchantUser, now: DateTime<Utc>) -> Self {
        use rand::RngCore;
        let mut id = [0u8; 16];
        rand::rng().fill_bytes(&mut id);
        Self {
            store_hash,
            user_id: user.id,
            email: user.email.clone(),
            id: hex::encode(id),
            issued_at: now.timestamp(),
            expires_at: (now + Duration::hours(SESSION_HOURS)).timestamp(),
        }
    }

    /// Whether the access this session was issued under has ended since: the store's current installation
    /// began after it (an uninstall came between), or the user was removed at or after it. In whole seconds.
    pub fn outlived(&self, installed_at: DateTime<Utc>, user_removed_at: Option<DateTime<Utc>>) -> bool {
        self.issued_at < installed_at.timestamp()
            || user_removed_at.is_some_and(|removed| self.issued_at <= removed.timestamp())
    }

    pub fn user(&self) -> MerchantUser {
        MerchantUser {
            id: self.user_id,
            email: self.email.clone(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    #[error("there is no session: open the app from the BigCommerce control panel")]
    Missing,
    #[error("the session is not valid: open the app from the BigCommerce control panel")]
    Invalid,
    #[error("the session has expired: open the app again from the BigCommerce control panel")]
    Expired,
    /// The user's access was removed, or the app was uninstalled.
    #[error("you no longer have access to this app on this store")]
    Revoked,
}

/// The keys sessions and CSRF tokens are signed with, derived from the client secret (rotating the secret
/// ends every session).
pub struct SessionKeys {
    key: [u8; 32],
}

impl SessionKeys {
    pub fn derive(client_secret: &Secret) -> Self {
        let mut mac = HmacSha256::new_from_slice(client_secret.expose().as_bytes()).expect("any key length");
        mac.update(b"install session key v1");
        Self {
            key: mac.finalize().into_bytes().into(),
        }
    }

    fn mac(&self, purpose: &[u8], data: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("any key length");
        mac.update(purpose);
        mac.update(b"\0");
        mac.update(data);
        mac
    }

    /// The cookie value: `base64url(json).base64url(hmac)`.
    pub fn seal(&self, session: &Session) -> String {
        let payload = B64URL.encode(serde_json::to_vec(session).expect("a session serializes"));
        let signature = B64URL.encode(self.mac(b"session", payload.as_bytes()).finalize().into_bytes());
        format!("{payload}.{signature}")
    }

    /// Checks the signature (constant time) and the expiry.
    pub fn open(&self, value: &str, now: DateTime<Utc>) -> Result<Session, SessionError> {
        let (payload, signature) = value.split_once('.').ok_or(SessionError::Invalid)?;
        let signature = B64URL.decode(signature).map_err(|_| SessionError::Invalid)?;
        self.mac(b"session", payload.as_bytes())
            .verify_slice(&signature)
            .map_err(|_| SessionError::Invalid)?;
        let bytes = B64URL.decode(payload).map_err(|_| SessionError::Invalid)?;
        let session: Session = serde_json::from_slice(&bytes).map_err(|_| SessionError::Invalid)?;
        if now.timestamp() >= session.expires_at {
            return Err(SessionError::Expired);
        }
        Ok(session)
    }

    /// The CSRF token of a session's forms.
    pub fn csrf_token(&self, session: &Session) -> String {
        B64URL.encode(self.mac(b"csrf", session.id.as_bytes()).finalize().into_bytes())
    }

    /// Whether `token` is this session's CSRF token (constant time).
    pub fn csrf_matches(&self, session: &Session, token: &str) -> bool {
        B64URL
            .decode(token)
            .is_ok_and(|bytes| self.mac(b"csrf", session.id.as_bytes()).verify_slice(&bytes).is_ok())
    }
}

/// The `Set-Cookie` value that starts a session.
pub fn set_cookie(sealed: &str) -> String {
    format!(
        "{COOKIE_NAME}={sealed}; Path=/; Max-Age={}; HttpOnly; Secure; SameSite=None; Partitioned",
        SESSION_HOURS * 3600
    )
}

/// The `Set-Cookie` value that ends a session.
pub fn clear_cookie() -> String {
    format!("{COOKIE_NAME}=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=None; Partitioned")
}

/// The session cookie's value among the request's `Cookie` headers.
pub fn cookie_value(headers: &http::HeaderMap) -> Option<&str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    fn session() -> Session {
        let user = MerchantUser {
            id: 7,
            email: "staff@example.com".into(),
        };
        Session::start(StoreHash::parse("abc123").unwrap(), &user, now())
    }

    #[test]
    fn a_sealed_session_opens_until_it_expires() {
        let keys = SessionKeys::derive(&Secret::new("s"));
        let session = session();
        let sealed = keys.seal(&session);
        assert_eq!(keys.open(&sealed, now()).unwrap(), session);
        let later = now() + Duration::hours(SESSION_HOURS);
        assert_eq!(keys.open(&sealed, later), Err(SessionError::Expired));
    }

    #[test]
    fn a_session_is_outlived_by_a_later_installation_or_removal() {
        let session = session();
        assert!(!session.outlived(now(), None));
        assert!(!session.outlived(now() - Duration::days(30), Some(now() - Duration::seconds(1))));
        assert!(
            session.outlived(now() + Duration::seconds(1), None),
            "installed again after it"
        );
        assert!(
            session.outlived(now() - Duration::days(30), Some(now())),
            "removed in the same second"
        );
        assert!(session.outlived(now() - Duration::days(30), Some(now() + Duration::hours(1))));
    }

    #[test]
    fn a_session_signed_with_another_secret_or_edited_is_refused() {
        let keys = SessionKeys::derive(&Secret::new("s"));
        let other = SessionKeys::derive(&Secret::new("t"));
        let sealed = other.seal(&session());
        assert_eq!(keys.open(&sealed, now()), Err(SessionError::Invalid));
        // Another user id with the original signature.
        let sealed = keys.seal(&session());
        let (_, signature) = sealed.split_once('.').unwrap();
        let mut edited = session();
        edited.user_id = 1;
        let forged = format!("{}.{signature}", B64URL.encode(serde_json::to_vec(&edited).unwrap()));
        assert_eq!(keys.open(&forged, now()), Err(SessionError::Invalid));
        for bad in ["", "abc", "a.b", ".", "!!.!!"] {
            assert_eq!(keys.open(bad, now()), Err(SessionError::Invalid), "{bad:?}");
        }
    }

    #[test]
    fn csrf_tokens_are_bound_to_the_session() {
        let keys = SessionKeys::derive(&Secret::new("s"));
        let one = session();
        let two = session();
        let token = keys.csrf_token(&one);
        assert!(keys.csrf_matches(&one, &token));
        assert!(!keys.csrf_matches(&two, &token));
        assert!(!keys.csrf_matches(&one, ""));
        assert!(!keys.csrf_matches(&one, "not base64!"));
    }

    #[test]
    fn the_cookie_is_found_among_others_and_is_locked_down() {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            http::header::COOKIE,
            format!("a=1; {COOKIE_NAME}=abc.def; b=2").parse().unwrap(),
        );
        assert_eq!(cookie_value(&headers), Some("abc.def"));
        let cookie = set_cookie("abc.def");
        for attribute in ["HttpOnly", "Secure", "SameSite=None", "Partitioned", "Path=/"] {
            assert!(cookie.contains(attribute), "{attribute}");
        }
        assert!(!cookie.contains("Domain"));
    }
}
