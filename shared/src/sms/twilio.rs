//! Twilio Programmable Messaging: `POST {api_url}/2010-04-01/Accounts/{sid}/Messages.json`
//! (form-encoded, Basic auth), inbound message and status callback parameters, and
//! `X-Twilio-Signature` verification (docs/consent-rules.md, SMS providers).

use super::{
    DeliveryOutcome, DeliveryUpdate, InboundError, InboundReply, OutboundSms, SendFailure, SentSms, SharedClock,
    SmsError, is_http_success, scrub,
};
use crate::{Clock, Phone, Secret};
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

pub(super) const PROVIDER: &str = "twilio";

/// Twilio keeps an unsent message at most this long (error 21624 above it).
const MAX_VALIDITY_SECONDS: i64 = 36_000;

/// Twilio echoes nothing of ours on status callbacks, so metadata travels in the `StatusCallback`
/// URL's query string (covered by the signature), under this prefix to stay clear of our own
/// parameters.
const METADATA_PREFIX: &str = "meta_";

#[derive(Debug, Clone)]
pub struct TwilioClient {
    http: reqwest::Client,
    api_url: String,
    account_sid: String,
    auth_token: Secret,
    clock: SharedClock,
    timeout: Duration,
}

impl TwilioClient {
    /// `api_url` is `https://api.twilio.com` in production.
    pub fn new(
        api_url: &str,
        account_sid: &str,
        auth_token: Secret,
        http: reqwest::Client,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            http,
            api_url: api_url.trim_end_matches('/').to_owned(),
            account_sid: account_sid.to_owned(),
            auth_token,
            clock: SharedClock(clock),
            timeout: super::DEFAULT_TIMEOUT,
        }
    }

    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub async fn send(&self, message: &OutboundSms) -> Result<SentSms, SmsError> {
        let from = message.from.as_deref().ok_or(SmsError::NoSender)?;
        let mut params = vec![("To", message.to.as_e164().to_owned()), ("Body", message.body.clone())];
        params.push(if is_messaging_service_sid(from) {
            ("MessagingServiceSid", from.to_owned())
        } else {
            ("From", from.to_owned())
        });
        if let Some(expiry) = message.expires_at {
            let seconds_left = (expiry - self.clock.0.now()).num_seconds();
            if seconds_left < 1 {
                return Err(SmsError::Expired);
            }
            // Beyond Twilio's maximum the default (the maximum) already applies.
            if seconds_left < MAX_VALIDITY_SECONDS {
                params.push(("ValidityPeriod", seconds_left.to_string()));
            }
        }
        if let Some(url) = &message.callback_url {
            params.push(("StatusCallback", status_callback_url(url, &message.metadata)));
        }

        let response = self
            .http
            .post(format!(
                "{}/2010-04-01/Accounts/{}/Messages.json",
                self.api_url, self.account_sid
            ))
            .basic_auth(&self.account_sid, Some(self.auth_token.expose()))
            .header("Idempotency-Key", &message.idempotency_key)
            .timeout(self.timeout)
            .form(&params)
            .send()
            .await
            .map_err(|e| SmsError::unreachable(PROVIDER, e))?;
        let status = response.status().as_u16();
        let body = response.bytes().await;
        let parsed = body.as_ref().ok().and_then(|b| serde_json::from_slice::<Value>(b).ok());
        if is_http_success(status) {
            return parsed
                .as_ref()
                .and_then(|v| v["sid"].as_str())
                .filter(|sid| !sid.is_empty())
                .map(|sid| SentSms {
                    provider: PROVIDER,
                    message_id: sid.to_owned(),
                })
                .ok_or(SmsError::Unconfirmed {
                    provider: PROVIDER,
                    status,
                    reason: "no sid in the answer".into(),
                });
        }
        let code = parsed
            .as_ref()
            .and_then(|v| v["code"].as_u64())
            .and_then(|c| u32::try_from(c).ok());
        let text = parsed
            .as_ref()
            .and_then(|v| v["message"].as_str().map(str::to_owned))
            .or_else(|| body.ok().map(|b| String::from_utf8_lossy(&b).into_owned()))
            .unwrap_or_default();
        Err(SmsError::Refused {
            provider: PROVIDER,
            status,
            code,
            failure: classify(status, code),
            message: scrub(&text),
        })
    }
}

fn is_messaging_service_sid(sender: &str) -> bool {
    sender.len() == 34 && sender.starts_with("MG")
}

fn status_callback_url(base: &str, metadata: &BTreeMap<String, String>) -> String {
    if metadata.is_empty() {
        return base.to_owned();
    }
    let pairs: Vec<(String, &str)> = metadata
        .iter()
        .map(|(k, v)| (format!("{METADATA_PREFIX}{k}"), v.as_str()))
        .collect();
    let query = serde_urlencoded::to_string(pairs).expect("string pairs always encode");
    let separator = if base.contains('?') { '&' } else { '?' };
    format!("{base}{separator}{query}")
}

/// The metadata [`TwilioClient::send`] put into a status callback URL.
fn metadata_from_url(url: &str) -> BTreeMap<String, String> {
    let without_fragment = url.split('#').next().unwrap_or_default();
    let Some((_, query)) = without_fragment.split_once('?') else {
        return BTreeMap::new();
    };
    serde_urlencoded::from_str::<Vec<(String, String)>>(query)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(k, v)| Some((k.strip_prefix(METADATA_PREFIX)?.to_owned(), v)))
        .collect()
}

/// What an error answer means, by Twilio error code first, then HTTP status.
pub(super) fn classify(status: u16, code: Option<u32>) -> SendFailure {
    match code {
        Some(21610) => SendFailure::OptedOut,
        // Invalid To, unreachable/unroutable, not SMS-capable, landline.
        Some(21211 | 21612 | 21614 | 21635) => SendFailure::InvalidNumber,
        Some(20429) => SendFailure::Retryable,
        // Authentication, unknown account, invalid or incapable From, unverified sender, sending to
        // the region not enabled for the account.
        Some(20003 | 20404 | 21212 | 21408 | 21603 | 21606 | 21608) => SendFailure::Configuration,
        _ => match status {
            401 | 403 | 404 => SendFailure::Configuration,
            408 | 429 | 500..=599 => SendFailure::Retryable,
            _ => SendFailure::MessageRejected,
        },
    }
}

// --- signature -----------------------------------------------------------------------------------

/// Checks `X-Twilio-Signature` as Twilio computes it: base64(HMAC-SHA1(auth token, the full URL exactly
/// as configured in Twilio, then every POST parameter's name and value, sorted by name)). Pass every
/// parameter received (Twilio adds new ones without notice) and the URL Twilio was given, scheme, host,
/// port, path and query included. Compares in constant time.
pub fn verify_twilio_signature(
    auth_token: &Secret,
    full_url: &str,
    params: &[(String, String)],
    signature_header: &str,
) -> bool {
    use subtle::ConstantTimeEq;
    // With an empty key anyone can compute the signature.
    if auth_token.is_empty() || signature_header.is_empty() {
        return false;
    }
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    // By name (byte order, which is code point order, as Twilio sorts); values break ties so a
    // repeated parameter is deterministic.
    sorted.sort();
    let Ok(mut mac) = Hmac::<sha1::Sha1>::new_from_slice(auth_token.expose().as_bytes()) else {
        return false;
    };
    mac.update(full_url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    expected.as_bytes().ct_eq(signature_header.as_bytes()).into()
}

// --- inbound -------------------------------------------------------------------------------------

/// A text to one of our Twilio numbers (the inbound message webhook).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TwilioInbound {
    pub message_sid: String,
    pub account_sid: String,
    pub messaging_service_sid: Option<String>,
    pub from: Phone,
    /// Our number.
    pub to: String,
    pub body: String,
    pub num_media: u32,
}

impl TwilioInbound {
    /// Reads the form parameters of a verified request.
    pub fn from_params(params: &[(String, String)]) -> Result<Self, InboundError> {
        let params = Params(params);
        Ok(Self {
            message_sid: params.required("MessageSid")?,
            account_sid: params.required("AccountSid")?,
            messaging_service_sid: params.optional("MessagingServiceSid"),
            from: params.phone("From")?,
            to: params.required("To")?,
            body: params.get("Body").unwrap_or_default().to_owned(),
            num_media: params.number("NumMedia")?.unwrap_or(0),
        })
    }
}

/// Twilio's message status word.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TwilioMessageStatus {
    Accepted,
    Scheduled,
    Queued,
    Sending,
    Sent,
    Delivered,
    Read,
    PartiallyDelivered,
    Undelivered,
    Failed,
    Canceled,
    /// `receiving`, `received` or a word Twilio added later.
    Other(String),
}

impl TwilioMessageStatus {
    fn parse(word: &str) -> Self {
        match word {
            "accepted" => Self::Accepted,
            "scheduled" => Self::Scheduled,
            "queued" => Self::Queued,
            "sending" => Self::Sending,
            "sent" => Self::Sent,
            "delivered" => Self::Delivered,
            "read" => Self::Read,
            "partially_delivered" => Self::PartiallyDelivered,
            "undelivered" => Self::Undelivered,
            "failed" => Self::Failed,
            "canceled" => Self::Canceled,
            other => Self::Other(other.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Accepted => "accepted",
            Self::Scheduled => "scheduled",
            Self::Queued => "queued",
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Read => "read",
            Self::PartiallyDelivered => "partially_delivered",
            Self::Undelivered => "undelivered",
            Self::Failed => "failed",
            Self::Canceled => "canceled",
            Self::Other(word) => word,
        }
    }
}

/// A status callback for a message we sent with a `StatusCallback` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TwilioStatusCallback {
    pub message_sid: String,
    pub account_sid: String,
    /// The handset the message went to (`To`).
    pub recipient: Phone,
    pub status: TwilioMessageStatus,
    /// `ErrorCode`, e.g. 30003 unreachable handset, 30006 landline.
    pub error_code: Option<u32>,
    /// The [`OutboundSms::metadata`] the client put into the callback URL.
    pub metadata: BTreeMap<String, String>,
}

impl TwilioStatusCallback {
    /// Reads a verified request: `full_url` is the URL it was posted to (the one verified), which
    /// carries our metadata.
    pub fn parse(full_url: &str, params: &[(String, String)]) -> Result<Self, InboundError> {
        let params = Params(params);
        let sid = params
            .optional("MessageSid")
            .or_else(|| params.optional("SmsSid"))
            .ok_or(InboundError::Missing("MessageSid"))?;
        let status = params
            .optional("MessageStatus")
            .or_else(|| params.optional("SmsStatus"))
            .ok_or(InboundError::Missing("MessageStatus"))?;
        Ok(Self {
            message_sid: sid,
            account_sid: params.required("AccountSid")?,
            recipient: params.phone("To")?,
            status: TwilioMessageStatus::parse(&status),
            error_code: params.number("ErrorCode")?,
            metadata: metadata_from_url(full_url),
        })
    }

    pub fn outcome(&self) -> DeliveryOutcome {
        use TwilioMessageStatus as S;
        match &self.status {
            S::Delivered | S::Read => DeliveryOutcome::Delivered,
            S::Failed | S::Undelivered => match self.error_code {
                // Unsubscribed recipient; blocked destination (the analogue of MessageMedia's 302/412).
                Some(21610 | 30004) => DeliveryOutcome::Suppressed,
                // Invalid, unroutable, not SMS-capable; unknown handset; landline or unreachable carrier.
                Some(21211 | 21612 | 21614 | 30005 | 30006) => DeliveryOutcome::InvalidNumber,
                _ => DeliveryOutcome::Failed,
            },
            S::Canceled => DeliveryOutcome::Failed,
            _ => DeliveryOutcome::InProgress,
        }
    }
}

/// Form parameter readers whose errors name the parameter, never its value.
struct Params<'a>(&'a [(String, String)]);

impl Params<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    fn optional(&self, name: &str) -> Option<String> {
        self.get(name).filter(|v| !v.trim().is_empty()).map(str::to_owned)
    }

    fn required(&self, name: &'static str) -> Result<String, InboundError> {
        self.optional(name).ok_or(InboundError::Missing(name))
    }

    fn phone(&self, name: &'static str) -> Result<Phone, InboundError> {
        Phone::from_e164(&self.required(name)?).map_err(|e| InboundError::Invalid {
            field: name,
            reason: e.to_string(),
        })
    }

    fn number(&self, name: &'static str) -> Result<Option<u32>, InboundError> {
        self.optional(name)
            .map(|v| {
                v.trim().parse().map_err(|_| InboundError::Invalid {
                    field: name,
                    reason: "must be a number".into(),
                })
            })
            .transpose()
    }
}

impl From<TwilioInbound> for InboundReply {
    fn from(inbound: TwilioInbound) -> Self {
        Self {
            provider: PROVIDER,
            id: inbound.message_sid,
            from: inbound.from,
            to: Some(inbound.to),
            text: inbound.body,
            in_reply_to: None,
            metadata: BTreeMap::new(),
            received_at: None,
        }
    }
}

impl From<TwilioStatusCallback> for DeliveryUpdate {
    fn from(callback: TwilioStatusCallback) -> Self {
        Self {
            provider: PROVIDER,
            outcome: callback.outcome(),
            id: format!("{}:{}", callback.message_sid, callback.status.as_str()),
            message_id: callback.message_sid,
            status: callback.status.as_str().to_owned(),
            error_code: callback.error_code,
            metadata: callback.metadata,
        }
    }
}
