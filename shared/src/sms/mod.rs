//! SMS providers: sending one message through Sinch MessageMedia or Twilio, telling the sender what a
//! failure means for the message and the number, and reading (and, for Twilio, verifying) what the
//! providers push back: replies, delivery reports and status callbacks.
//!
//! Sending goes through [`SmsClient`], built once from [`SmsConfig`]. The local sandbox
//! (`SMS_PROVIDER=sandbox`) speaks MessageMedia's API, so it uses the MessageMedia client with the
//! sandbox's fixed credentials.
//!
//! Inbound parsing and signature checks are pure (bytes or form parameters in, typed values out) so the
//! `webhooks` function owns the I/O. Authenticating pushes (the `webhooks` function does both):
//! - every callback URL carries the deployment's secret token in its path (`SMS_WEBHOOK_TOKEN`, compared in
//!   constant time with [`crate::Secret::matches`]);
//! - Twilio signs every request: [`verify_twilio_signature`] before parsing;
//! - MessageMedia signs its pushes with the account's RSA key ([`MessageMediaWebhookKey`]); a deployment
//!   without the public key refuses every MessageMedia push, and only the local tooling accepts unsigned ones.
//!
//! Replies and reports are de-duplicated on `reply_id` / `delivery_report_id` (Twilio: `MessageSid`).
//!
//! Exactly-once is the sender's job (the send claim). Neither provider documents request
//! de-duplication; the client still sends [`OutboundSms::idempotency_key`] as an `Idempotency-Key`
//! header so the sandbox can catch a double send.

mod messagemedia;
mod messagemedia_signature;
pub mod scripted;
mod twilio;

#[cfg(test)]
mod tests;

pub use domain::delivery::{DeliveryOutcome, DeliveryUpdate};
pub use messagemedia::{
    MessageMediaClient, MessageMediaDeliveryReport, MessageMediaPush, MessageMediaReply, MessageMediaStatus,
    parse_messagemedia_push,
};
pub use messagemedia_signature::{
    MessageMediaSignature, MessageMediaWebhookKey, SignatureProblem, messagemedia_signed_content,
};
pub use twilio::{TwilioClient, TwilioInbound, TwilioMessageStatus, TwilioStatusCallback, verify_twilio_signature};

use crate::config::SmsConfig;
use crate::{Clock, Phone, Secret};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// One text message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundSms {
    pub to: Phone,
    /// The sender: a number, short code or alphanumeric tag registered with the provider; for Twilio
    /// also a Messaging Service SID (`MG...`). MessageMedia picks a pool number when absent; Twilio
    /// needs one.
    pub from: Option<String>,
    pub body: String,
    /// Echoed on MessageMedia replies and delivery reports (and on Twilio status callbacks, through the
    /// callback URL): store hash, cart id, step. MessageMedia allows 10 pairs, keys up to 100 and values
    /// up to 256 characters.
    pub metadata: BTreeMap<String, String>,
    /// After this instant the message must not be delivered (a stale cart reminder is worse than none).
    pub expires_at: Option<DateTime<Utc>>,
    /// Where the provider reports delivery (and, for MessageMedia, replies).
    pub callback_url: Option<String>,
    /// Stable across retries of the same send, e.g. `{store}:{cart}:{step}`.
    pub idempotency_key: String,
}

/// The provider accepted the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentSms {
    /// `"messagemedia"` or `"twilio"`.
    pub provider: &'static str,
    /// MessageMedia `message_id` or Twilio `sid`: what delivery reports refer to.
    pub message_id: String,
}

/// What a failed send means, so the sender can act on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SendFailure {
    /// The provider is down, slow or throttling (5xx, 429, Twilio 20429, timeouts, connection errors):
    /// try the same message again later.
    Retryable,
    /// This number can never receive our texts (MessageMedia 400 on the destination; Twilio 21211,
    /// 21612, 21614, 21635): stop the sequence and flag the contact.
    InvalidNumber,
    /// The recipient opted out at the carrier or provider (Twilio 21610): record an opt-out.
    OptedOut,
    /// Our credentials, account or sender setup is wrong (401, 403, Twilio 20003, 21606, 21608, no
    /// sender): no message will go out until someone fixes the configuration.
    Configuration,
    /// The provider refused this message for good (content, length, expired): do not retry it.
    MessageRejected,
    /// The provider said it accepted the message but its answer could not be read: it may have gone
    /// out, so retrying risks a double send.
    Unconfirmed,
}

#[derive(Debug, thiserror::Error)]
pub enum SmsError {
    /// No answer: connection refused or reset, DNS, TLS, timeout.
    #[error("{provider} did not answer ({reason})")]
    Unreachable {
        provider: &'static str,
        timed_out: bool,
        /// No connection was made (refused, DNS, connect timeout): the request never reached the provider.
        not_connected: bool,
        reason: String,
    },
    /// The provider answered with an error. `message` is the provider's text with phone numbers removed.
    #[error("{provider} refused the message: HTTP {status}{}: {message}", code_suffix(*.code))]
    Refused {
        provider: &'static str,
        status: u16,
        /// Twilio's error code (MessageMedia has none).
        code: Option<u32>,
        message: String,
        failure: SendFailure,
    },
    #[error("{provider} answered HTTP {status} but the message id could not be read ({reason})")]
    Unconfirmed {
        provider: &'static str,
        status: u16,
        reason: String,
    },
    #[error("the message expired before it could be sent")]
    Expired,
    #[error("twilio needs a sender: a From number or a Messaging Service SID")]
    NoSender,
}

fn code_suffix(code: Option<u32>) -> String {
    code.map(|c| format!(" (code {c})")).unwrap_or_default()
}

impl SmsError {
    pub fn failure(&self) -> SendFailure {
        match self {
            Self::Unreachable { .. } => SendFailure::Retryable,
            Self::Refused { failure, .. } => *failure,
            Self::Unconfirmed { .. } => SendFailure::Unconfirmed,
            Self::Expired => SendFailure::MessageRejected,
            Self::NoSender => SendFailure::Configuration,
        }
    }

    /// Certainly nothing went out: the provider answered with an error, or was never reached. (A timeout or
    /// an unreadable answer after the request was sent may hide a message that went out.)
    pub fn sent_nothing(&self) -> bool {
        matches!(
            self,
            Self::Refused { .. }
                | Self::Expired
                | Self::NoSender
                | Self::Unreachable {
                    not_connected: true,
                    ..
                }
        )
    }

    pub fn is_retryable(&self) -> bool {
        self.failure() == SendFailure::Retryable
    }

    /// The same message may be sent again: the failure is passing and certainly nothing went out. A timeout
    /// after the request was sent is passing too, but the message may be on its way: sending it again could
    /// text the person twice.
    pub fn can_send_again(&self) -> bool {
        self.is_retryable() && self.sent_nothing()
    }

    fn unreachable(provider: &'static str, error: reqwest::Error) -> Self {
        let timed_out = error.is_timeout();
        let not_connected = error.is_connect();
        // reqwest's own text is generic ("error sending request"); the cause is further down the chain.
        let error = error.without_url();
        let mut reason = error.to_string();
        let mut source = std::error::Error::source(&error);
        while let Some(cause) = source {
            reason.push_str(": ");
            reason.push_str(&cause.to_string());
            source = cause.source();
        }
        Self::Unreachable {
            provider,
            timed_out,
            not_connected,
            reason,
        }
    }
}

/// A text from a handset to one of our numbers, whichever provider brought it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundReply {
    pub provider: &'static str,
    /// The provider's id for this inbound message (`reply_id` / `MessageSid`): the de-duplication key.
    pub id: String,
    pub from: Phone,
    /// Our number it was sent to, when the provider says (MessageMedia omits it for pool numbers).
    pub to: Option<String>,
    pub text: String,
    /// The message this answers (MessageMedia only).
    pub in_reply_to: Option<String>,
    /// Echoed from the message this answers (MessageMedia only).
    pub metadata: BTreeMap<String, String>,
    pub received_at: Option<DateTime<Utc>>,
}

/// A push that cannot be read. Messages name the field, never its value (which may be a phone
/// number or a text the shopper wrote).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InboundError {
    #[error("the body is not a JSON object")]
    NotJson,
    #[error("the payload is neither a reply nor a delivery report")]
    UnknownKind,
    #[error("{0} is missing")]
    Missing(&'static str),
    #[error("{field} is invalid: {reason}")]
    Invalid { field: &'static str, reason: String },
}

/// Sends through the configured provider.
#[derive(Debug, Clone)]
pub enum SmsClient {
    MessageMedia(MessageMediaClient),
    Twilio(TwilioClient),
}

/// The credentials [`SmsConfig::Sandbox`] uses; the sandbox's default configuration accepts them.
pub const SANDBOX_API_KEY: &str = "sandbox";
pub const SANDBOX_API_SECRET: &str = "sandbox";

/// Per-request timeout unless [`SmsClient::with_timeout`] says otherwise: long enough for a slow
/// provider, short enough for the send function to give the message back to the queue.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

impl SmsClient {
    /// `http` is shared with the function's other clients (one connection pool); `clock` decides
    /// whether a message has expired and what is left of its validity.
    pub fn new(config: &SmsConfig, http: reqwest::Client, clock: Arc<dyn Clock>) -> Self {
        match config {
            SmsConfig::MessageMedia {
                api_key,
                api_secret,
                api_url,
            } => Self::MessageMedia(MessageMediaClient::new(
                api_url,
                api_key,
                api_secret.clone(),
                http,
                clock,
            )),
            SmsConfig::Sandbox { api_url } => Self::MessageMedia(MessageMediaClient::new(
                api_url,
                SANDBOX_API_KEY,
                Secret::new(SANDBOX_API_SECRET),
                http,
                clock,
            )),
            SmsConfig::Twilio {
                account_sid,
                auth_token,
                api_url,
            } => Self::Twilio(TwilioClient::new(api_url, account_sid, auth_token.clone(), http, clock)),
        }
    }

    pub fn with_timeout(self, timeout: Duration) -> Self {
        match self {
            Self::MessageMedia(client) => Self::MessageMedia(client.with_timeout(timeout)),
            Self::Twilio(client) => Self::Twilio(client.with_timeout(timeout)),
        }
    }

    /// `"messagemedia"` or `"twilio"`.
    pub fn provider(&self) -> &'static str {
        match self {
            Self::MessageMedia(_) => messagemedia::PROVIDER,
            Self::Twilio(_) => twilio::PROVIDER,
        }
    }

    /// Where the provider reports replies and delivery to us: the webhooks function's route for this provider.
    pub fn callback_url(&self, app_url: &crate::config::AppUrl, token: &Secret) -> String {
        app_url.join(&format!("/webhooks/{}/{}", self.provider(), token.expose()))
    }

    pub async fn send(&self, message: &OutboundSms) -> Result<SentSms, SmsError> {
        let result = match self {
            Self::MessageMedia(client) => client.send(message).await,
            Self::Twilio(client) => client.send(message).await,
        };
        match &result {
            Ok(sent) => tracing::info!(
                provider = sent.provider,
                message_id = %sent.message_id,
                to = %message.to,
                "sms accepted by provider"
            ),
            Err(error) => tracing::warn!(
                provider = self.provider(),
                to = %message.to,
                failure = ?error.failure(),
                %error,
                "sms send failed"
            ),
        }
        result
    }
}

/// The clock, behind a `Debug` the clients can derive.
#[derive(Clone)]
struct SharedClock(Arc<dyn Clock>);

impl fmt::Debug for SharedClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Clock")
    }
}

/// Provider error texts can quote the destination number ("The 'To' number +1555... is not valid"):
/// replace every run of 7 or more digits, so errors can be logged. Also bounds the length.
fn scrub(text: &str) -> String {
    const MAX_CHARS: usize = 300;
    let mut out = String::with_capacity(text.len().min(MAX_CHARS));
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_ascii_digit() {
            let start = i;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            if i - start >= 7 {
                out.push_str("[number]");
            } else {
                out.extend(&chars[start..i]);
            }
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    if out.chars().count() > MAX_CHARS {
        out = out.chars().take(MAX_CHARS).collect::<String>() + "…";
    }
    out
}

fn is_http_success(status: u16) -> bool {
    (200..300).contains(&status)
}
