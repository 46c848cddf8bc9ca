//! Sinch MessageMedia Messages API: `POST {api_url}/v1/messages` with Basic auth, and the reply and
//! delivery-report pushes (docs/consent-rules.md, SMS providers).

use super::{
    DeliveryOutcome, DeliveryUpdate, InboundError, InboundReply, OutboundSms, SendFailure, SentSms, SharedClock,
    SmsError, is_http_success, scrub,
};
use crate::{Clock, Phone, Secret};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

pub(super) const PROVIDER: &str = "messagemedia";

#[derive(Debug, Clone)]
pub struct MessageMediaClient {
    http: reqwest::Client,
    api_url: String,
    api_key: String,
    api_secret: Secret,
    clock: SharedClock,
    timeout: Duration,
}

impl MessageMediaClient {
    /// `api_url` is the account's regional base URL, e.g. `https://api.messagemedia.com`.
    pub fn new(api_url: &str, api_key: &str, api_secret: Secret, http: reqwest::Client, clock: Arc<dyn Clock>) -> Self {
        Self {
            http,
            api_url: api_url.trim_end_matches('/').to_owned(),
            api_key: api_key.to_owned(),
            api_secret,
            clock: SharedClock(clock),
            timeout: super::DEFAULT_TIMEOUT,
        }
    }

    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub async fn send(&self, message: &OutboundSms) -> Result<SentSms, SmsError> {
        if message.expires_at.is_some_and(|expiry| expiry <= self.clock.0.now()) {
            return Err(SmsError::Expired);
        }
        let response = self
            .http
            .post(format!("{}/v1/messages", self.api_url))
            .basic_auth(&self.api_key, Some(self.api_secret.expose()))
            .header("Idempotency-Key", &message.idempotency_key)
            .timeout(self.timeout)
            .json(&request_body(message))
            .send()
            .await
            .map_err(|e| SmsError::unreachable(PROVIDER, e))?;
        let status = response.status().as_u16();
        let body = response.bytes().await;
        if is_http_success(status) {
            let body = body.map_err(|e| SmsError::Unconfirmed {
                provider: PROVIDER,
                status,
                reason: format!("the body could not be read: {e}"),
            })?;
            return accepted_message_id(&body)
                .map(|message_id| SentSms {
                    provider: PROVIDER,
                    message_id,
                })
                .ok_or(SmsError::Unconfirmed {
                    provider: PROVIDER,
                    status,
                    reason: "no messages[0].message_id in the answer".into(),
                });
        }
        let text = body.map(|b| error_text(&b)).unwrap_or_default();
        Err(SmsError::Refused {
            provider: PROVIDER,
            status,
            code: None,
            failure: classify(status, &text),
            message: scrub(&text),
        })
    }
}

fn request_body(message: &OutboundSms) -> Value {
    let mut body = json!({
        "content": message.body,
        "destination_number": message.to.as_e164(),
        "format": "SMS",
        "delivery_report": true,
    });
    if !message.metadata.is_empty() {
        body["metadata"] = json!(message.metadata);
    }
    if let Some(expiry) = message.expires_at {
        body["message_expiry_timestamp"] = json!(expiry.to_rfc3339_opts(SecondsFormat::Secs, true));
    }
    if let Some(from) = &message.from {
        body["source_number"] = json!(from);
    }
    if let Some(url) = &message.callback_url {
        body["callback_url"] = json!(url);
    }
    json!({ "messages": [body] })
}

fn accepted_message_id(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    value["messages"][0]["message_id"]
        .as_str()
        .filter(|id| !id.is_empty())
        .map(str::to_owned)
}

/// `{message, details[]}` as one line; the raw body when it is not that shape.
fn error_text(body: &[u8]) -> String {
    match serde_json::from_slice::<Value>(body) {
        Ok(value) if value.get("message").is_some() => {
            let mut text = value["message"].as_str().unwrap_or_default().to_owned();
            for detail in value["details"].as_array().into_iter().flatten() {
                text.push_str("; ");
                text.push_str(detail.as_str().unwrap_or_default());
            }
            text
        }
        _ => String::from_utf8_lossy(body).into_owned(),
    }
}

/// What an error answer means. MessageMedia has no error codes: a 400 that names the destination is a
/// bad number (the API validates numbers before anything else is sent, and a batch of one fails whole).
pub(super) fn classify(status: u16, text: &str) -> SendFailure {
    match status {
        400 if text.to_ascii_lowercase().contains("destination") => SendFailure::InvalidNumber,
        // 403: a feature is disabled for the account; 404: wrong base URL; 422: the account's region
        // needs a newer TLS version.
        401 | 403 | 404 | 422 => SendFailure::Configuration,
        408 | 429 => SendFailure::Retryable,
        500..=599 => SendFailure::Retryable,
        _ => SendFailure::MessageRejected,
    }
}

// --- pushes -------------------------------------------------------------------------------------

/// A reply from a handset (MO message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageMediaReply {
    pub reply_id: String,
    /// The message this answers (`message_id`), when MessageMedia could match one.
    pub message_id: Option<String>,
    /// The handset (`source_number`).
    pub from: Phone,
    /// Our number (`destination_number`); absent when the original went out from the shared pool.
    pub to: Option<String>,
    pub content: String,
    /// Echoed from the message this answers.
    pub metadata: BTreeMap<String, String>,
    /// `date_received`.
    pub received_at: Option<DateTime<Utc>>,
}

/// MessageMedia's delivery report status word.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MessageMediaStatus {
    Enroute,
    Submitted,
    Delivered,
    Expired,
    Rejected,
    Failed,
    /// A word the API reference does not list; kept for the record.
    Other(String),
}

impl MessageMediaStatus {
    fn parse(word: &str) -> Self {
        match word.to_ascii_lowercase().as_str() {
            "enroute" => Self::Enroute,
            "submitted" => Self::Submitted,
            "delivered" => Self::Delivered,
            "expired" => Self::Expired,
            "rejected" => Self::Rejected,
            "failed" => Self::Failed,
            _ => Self::Other(word.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Enroute => "enroute",
            Self::Submitted => "submitted",
            Self::Delivered => "delivered",
            Self::Expired => "expired",
            Self::Rejected => "rejected",
            Self::Failed => "failed",
            Self::Other(word) => word,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageMediaDeliveryReport {
    pub delivery_report_id: String,
    pub message_id: String,
    /// The handset the message went to (the report's `source_number`).
    pub recipient: Phone,
    pub status: MessageMediaStatus,
    /// `error_code`, e.g. 220 delivered, 411 invalid destination.
    pub error_code: Option<u32>,
    pub metadata: BTreeMap<String, String>,
    /// `date_received`.
    pub received_at: Option<DateTime<Utc>>,
    /// `submitted_date`.
    pub submitted_at: Option<DateTime<Utc>>,
}

impl MessageMediaDeliveryReport {
    /// Reference §2.1: 411/413 mean the number is invalid, 302/412 that the destination is blocked
    /// (likely opted out); otherwise the status word decides.
    pub fn outcome(&self) -> DeliveryOutcome {
        let by_code = |code: Option<u32>| match code {
            Some(411 | 413) => DeliveryOutcome::InvalidNumber,
            Some(302 | 412) => DeliveryOutcome::Suppressed,
            _ => DeliveryOutcome::Failed,
        };
        match &self.status {
            MessageMediaStatus::Delivered => DeliveryOutcome::Delivered,
            MessageMediaStatus::Enroute | MessageMediaStatus::Submitted => DeliveryOutcome::InProgress,
            MessageMediaStatus::Expired | MessageMediaStatus::Rejected | MessageMediaStatus::Failed => {
                by_code(self.error_code)
            }
            // An unlisted word: the code still tells (2xx progress and delivery, 3xx/4xx failures).
            MessageMediaStatus::Other(_) => match self.error_code {
                Some(220 | 221) => DeliveryOutcome::Delivered,
                None | Some(0..=299) => DeliveryOutcome::InProgress,
                code => by_code(code),
            },
        }
    }
}

/// Either push MessageMedia sends to a callback URL (replies and delivery reports share it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageMediaPush {
    Reply(MessageMediaReply),
    DeliveryReport(MessageMediaDeliveryReport),
}

/// Reads a MessageMedia push body. Authenticate the request first (see the module docs).
pub fn parse_messagemedia_push(body: &[u8]) -> Result<MessageMediaPush, InboundError> {
    let value: Value = serde_json::from_slice(body).map_err(|_| InboundError::NotJson)?;
    let fields = Fields(value.as_object().ok_or(InboundError::NotJson)?);
    if fields.0.contains_key("delivery_report_id") {
        Ok(MessageMediaPush::DeliveryReport(MessageMediaDeliveryReport {
            delivery_report_id: fields.id("delivery_report_id")?,
            message_id: fields.id("message_id")?,
            recipient: fields.phone("source_number")?,
            status: MessageMediaStatus::parse(&fields.id("status")?),
            error_code: fields.code("error_code")?,
            metadata: fields.metadata()?,
            received_at: fields.time("date_received")?,
            submitted_at: fields.time("submitted_date")?,
        }))
    } else if fields.0.contains_key("reply_id") {
        Ok(MessageMediaPush::Reply(MessageMediaReply {
            reply_id: fields.id("reply_id")?,
            message_id: fields.optional_text("message_id")?,
            from: fields.phone("source_number")?,
            to: fields.optional_text("destination_number")?,
            content: fields
                .optional_text("content")?
                .ok_or(InboundError::Missing("content"))?,
            metadata: fields.metadata()?,
            received_at: fields.time("date_received")?,
        }))
    } else {
        Err(InboundError::UnknownKind)
    }
}

/// Field readers whose errors name the field and never echo the value.
struct Fields<'a>(&'a Map<String, Value>);

impl Fields<'_> {
    fn invalid(field: &'static str, reason: impl Into<String>) -> InboundError {
        InboundError::Invalid {
            field,
            reason: reason.into(),
        }
    }

    /// A string, `None` when absent or null.
    fn optional_text(&self, field: &'static str) -> Result<Option<String>, InboundError> {
        match self.0.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(Self::invalid(field, "must be a string")),
        }
    }

    /// A required, non-empty string.
    fn id(&self, field: &'static str) -> Result<String, InboundError> {
        self.optional_text(field)?
            .filter(|s| !s.trim().is_empty())
            .ok_or(InboundError::Missing(field))
    }

    fn phone(&self, field: &'static str) -> Result<Phone, InboundError> {
        Phone::from_e164(&self.id(field)?).map_err(|e| Self::invalid(field, e.to_string()))
    }

    fn time(&self, field: &'static str) -> Result<Option<DateTime<Utc>>, InboundError> {
        self.optional_text(field)?
            .map(|s| {
                DateTime::parse_from_rfc3339(&s)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|_| Self::invalid(field, "must be an ISO-8601 date-time"))
            })
            .transpose()
    }

    /// `"220"` or `220`.
    fn code(&self, field: &'static str) -> Result<Option<u32>, InboundError> {
        match self.0.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => s
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| Self::invalid(field, "must be a number")),
            Some(Value::Number(n)) => n
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .map(Some)
                .ok_or_else(|| Self::invalid(field, "must be a number")),
            Some(_) => Err(Self::invalid(field, "must be a number")),
        }
    }

    /// String pairs; numbers and booleans are read as their text (account webhook templates may
    /// produce them).
    fn metadata(&self) -> Result<BTreeMap<String, String>, InboundError> {
        match self.0.get("metadata") {
            None | Some(Value::Null) => Ok(BTreeMap::new()),
            Some(Value::Object(pairs)) => pairs
                .iter()
                .map(|(key, value)| match value {
                    Value::String(s) => Ok((key.clone(), s.clone())),
                    Value::Number(n) => Ok((key.clone(), n.to_string())),
                    Value::Bool(b) => Ok((key.clone(), b.to_string())),
                    _ => Err(Self::invalid("metadata", "values must be strings")),
                })
                .collect(),
            Some(_) => Err(Self::invalid("metadata", "must be an object")),
        }
    }
}

impl From<MessageMediaReply> for InboundReply {
    fn from(reply: MessageMediaReply) -> Self {
        Self {
            provider: PROVIDER,
            id: reply.reply_id,
            from: reply.from,
            to: reply.to,
            text: reply.content,
            in_reply_to: reply.message_id,
            metadata: reply.metadata,
            received_at: reply.received_at,
        }
    }
}

impl From<MessageMediaDeliveryReport> for DeliveryUpdate {
    fn from(report: MessageMediaDeliveryReport) -> Self {
        Self {
            provider: PROVIDER,
            outcome: report.outcome(),
            id: report.delivery_report_id,
            message_id: report.message_id,
            status: report.status.as_str().to_owned(),
            error_code: report.error_code,
            metadata: report.metadata,
        }
    }
}
