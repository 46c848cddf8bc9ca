//! MessageMedia's signed webhooks ("Enterprise Webhooks"): once a signature key is enabled on the account,
//! every push carries `X-MESSAGEMEDIA-SIGNATURE`, an RSA signature (PKCS #1 v1.5, SHA-256) over the request
//! line, the `Date` header and the body, concatenated without separators; `X-MESSAGEMEDIA-KEY-ID`,
//! `X-MESSAGEMEDIA-CIPHER-TYPE` (RSA) and `X-MESSAGEMEDIA-DIGEST-TYPE` (SHA256) describe it
//! (docs/consent-rules.md, SMS providers). Verification is pure: the handler passes the parts it received.

use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use rsa::RsaPublicKey;
use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::pkcs8::DecodePublicKey;
use rsa::signature::Verifier;
use sha2::Sha256;

/// How far a push's `Date` may be from our clock: a captured push cannot be replayed later than this.
pub const MAX_CLOCK_SKEW_MINUTES: i64 = 5;

/// The public key of the account's enabled signature key (PEM: `PUBLIC KEY` or `RSA PUBLIC KEY`).
#[derive(Clone)]
pub struct MessageMediaWebhookKey(VerifyingKey<Sha256>);

impl std::fmt::Debug for MessageMediaWebhookKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MessageMediaWebhookKey(RSA)")
    }
}

impl MessageMediaWebhookKey {
    /// Parses a PEM public key. Newlines may be written as `\n` (environment variables and template
    /// parameters are single lines).
    pub fn from_pem(pem: &str) -> Result<Self, String> {
        let pem = pem.replace("\\n", "\n");
        let pem = pem.trim();
        RsaPublicKey::from_public_key_pem(pem)
            .or_else(|_| RsaPublicKey::from_pkcs1_pem(pem))
            .map(|key| Self(VerifyingKey::new(key)))
            .map_err(|e| format!("not an RSA public key in PEM form: {e}"))
    }

    pub fn from_public_key(key: RsaPublicKey) -> Self {
        Self(VerifyingKey::new(key))
    }

    /// Checks a push. `request_line` is `POST /path?query HTTP/1.1` as the provider sent it.
    pub fn verify(
        &self,
        signature: &MessageMediaSignature<'_>,
        request_line: &str,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<(), SignatureProblem> {
        if !signature.cipher_type.eq_ignore_ascii_case("RSA") || !signature.digest_type.eq_ignore_ascii_case("SHA256") {
            return Err(SignatureProblem::UnsupportedAlgorithm);
        }
        let sent_at = DateTime::parse_from_rfc2822(signature.date)
            .map_err(|_| SignatureProblem::BadDate)?
            .with_timezone(&Utc);
        if (now - sent_at).abs() > Duration::minutes(MAX_CLOCK_SKEW_MINUTES) {
            return Err(SignatureProblem::Stale);
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(signature.signature.trim())
            .map_err(|_| SignatureProblem::Mismatch)?;
        let decoded = Signature::try_from(bytes.as_slice()).map_err(|_| SignatureProblem::Mismatch)?;
        self.0
            .verify(
                &messagemedia_signed_content(request_line, signature.date, body),
                &decoded,
            )
            .map_err(|_| SignatureProblem::Mismatch)
    }
}

/// The signature headers of one push.
#[derive(Debug, Clone, Copy)]
pub struct MessageMediaSignature<'a> {
    pub signature: &'a str,
    pub cipher_type: &'a str,
    pub digest_type: &'a str,
    /// The `Date` header, verbatim (it is part of what was signed).
    pub date: &'a str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureProblem {
    #[error("the push is not signed with RSA and SHA-256")]
    UnsupportedAlgorithm,
    #[error("the Date header is not an HTTP date")]
    BadDate,
    #[error("the Date header is more than {MAX_CLOCK_SKEW_MINUTES} minutes from now")]
    Stale,
    #[error("the signature does not match the request")]
    Mismatch,
}

/// What MessageMedia signs: request line, `Date` value and body, with no separators.
pub fn messagemedia_signed_content(request_line: &str, date: &str, body: &[u8]) -> Vec<u8> {
    let mut content = Vec::with_capacity(request_line.len() + date.len() + body.len());
    content.extend_from_slice(request_line.as_bytes());
    content.extend_from_slice(date.as_bytes());
    content.extend_from_slice(body);
    content
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::pkcs8::{EncodePublicKey, LineEnding};
    use rsa::signature::{SignatureEncoding, Signer};

    const LINE: &str = "POST /webhooks/messagemedia/tok HTTP/1.1";
    const BODY: &[u8] = br#"{"reply_id":"r1","content":"STOP"}"#;

    fn keys() -> (rsa::RsaPrivateKey, MessageMediaWebhookKey) {
        let private = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 1024).unwrap();
        let pem = private.to_public_key().to_public_key_pem(LineEnding::LF).unwrap();
        // As an environment variable would carry it.
        let key = MessageMediaWebhookKey::from_pem(&pem.replace('\n', "\\n")).unwrap();
        (private, key)
    }

    fn sign(private: &rsa::RsaPrivateKey, line: &str, date: &str, body: &[u8]) -> String {
        let signer = rsa::pkcs1v15::SigningKey::<Sha256>::new(private.clone());
        let signature = signer.sign(&messagemedia_signed_content(line, date, body));
        base64::engine::general_purpose::STANDARD.encode(signature.to_bytes())
    }

    fn headers<'a>(signature: &'a str, date: &'a str) -> MessageMediaSignature<'a> {
        MessageMediaSignature {
            signature,
            cipher_type: "RSA",
            digest_type: "SHA256",
            date,
        }
    }

    #[test]
    fn a_push_signed_with_the_key_verifies_and_any_change_does_not() {
        let (private, key) = keys();
        let now = Utc::now();
        let date = now.to_rfc2822();
        let signature = sign(&private, LINE, &date, BODY);
        assert_eq!(key.verify(&headers(&signature, &date), LINE, BODY, now), Ok(()));
        // Another body, path or date: the signature no longer matches.
        let other_body = br#"{"reply_id":"r1","content":"START"}"#;
        assert_eq!(
            key.verify(&headers(&signature, &date), LINE, other_body, now),
            Err(SignatureProblem::Mismatch)
        );
        let other_line = "POST /webhooks/messagemedia/other HTTP/1.1";
        assert_eq!(
            key.verify(&headers(&signature, &date), other_line, BODY, now),
            Err(SignatureProblem::Mismatch)
        );
        let later = (now + Duration::seconds(1)).to_rfc2822();
        assert_eq!(
            key.verify(&headers(&signature, &later), LINE, BODY, now),
            Err(SignatureProblem::Mismatch)
        );
        // Another key's signature, and garbage.
        let (stranger, _) = keys();
        let forged = sign(&stranger, LINE, &date, BODY);
        assert_eq!(
            key.verify(&headers(&forged, &date), LINE, BODY, now),
            Err(SignatureProblem::Mismatch)
        );
        assert_eq!(
            key.verify(&headers("bm90IGEgc2lnbmF0dXJl", &date), LINE, BODY, now),
            Err(SignatureProblem::Mismatch)
        );
    }

    #[test]
    fn an_old_date_or_another_algorithm_is_refused() {
        let (private, key) = keys();
        let now = Utc::now();
        let old = (now - Duration::minutes(MAX_CLOCK_SKEW_MINUTES + 1)).to_rfc2822();
        let signature = sign(&private, LINE, &old, BODY);
        assert_eq!(
            key.verify(&headers(&signature, &old), LINE, BODY, now),
            Err(SignatureProblem::Stale)
        );
        assert_eq!(
            key.verify(&headers(&signature, "yesterday"), LINE, BODY, now),
            Err(SignatureProblem::BadDate)
        );
        let date = now.to_rfc2822();
        let signature = sign(&private, LINE, &date, BODY);
        let sha1 = MessageMediaSignature {
            digest_type: "SHA1",
            ..headers(&signature, &date)
        };
        assert_eq!(
            key.verify(&sha1, LINE, BODY, now),
            Err(SignatureProblem::UnsupportedAlgorithm)
        );
    }

    #[test]
    fn keys_that_are_not_rsa_public_keys_are_refused() {
        assert!(MessageMediaWebhookKey::from_pem("").is_err());
        assert!(
            MessageMediaWebhookKey::from_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----").is_err()
        );
    }
}
