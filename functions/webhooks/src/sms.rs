//! SMS provider callbacks: inbound replies (STOP, HELP, START, YES, other) and delivery reports.
//!
//! `POST /webhooks/messagemedia/{token}` takes MessageMedia's JSON pushes (replies and delivery reports share
//! the callback URL); `POST /webhooks/twilio/{token}` takes Twilio's form-encoded inbound messages and status
//! callbacks. Every request is authenticated before anything is read or changed:
//! - the path token must be `SMS_WEBHOOK_TOKEN` (compared in constant time);
//! - MessageMedia pushes must also carry a valid RSA signature over request line, `Date` and body, dated
//!   within 5 minutes, by the key `MESSAGEMEDIA_WEBHOOK_PUBLIC_KEY` names. A deployment without that key
//!   refuses them all (503, so MessageMedia retries once the key is set): the token alone would let whoever
//!   learns it text YES or START for any store. Only the local tooling accepts unsigned pushes;
//! - Twilio requests must also carry a valid `X-Twilio-Signature` over the public URL (`APP_URL` + path +
//!   query) and every form parameter, checked with the configured auth token.
//!
//! Each push is processed once: its `reply_id` / `delivery_report_id` / `MessageSid` is claimed first with an
//! `in_progress` lease and marked `done` only after the work, so only a done push makes a retry a duplicate.
//! A retry while the lease lives is answered 503 (the provider comes back later); one after it lapsed (the
//! first invocation died) takes it over and does the work; failed work gives the lease up at once (every step
//! is idempotent; answers are claimed exactly once). What a reply does is in `replies`, what a report does in
//! `delivery`.

mod delivery;
#[cfg(test)]
mod memory;
mod ports;
mod replies;
mod test_text;
#[cfg(test)]
mod tests;

pub use ports::ReplyPorts;

use crate::Deps;
use chrono::Duration;
use lambda_http::{Error, Request, RequestExt};
use shared::config::{MessageMediaCallbacks, SmsConfig};
use shared::db::DeliveryClaim;
use shared::infra::InfraError;
use shared::ports::Texter;
use shared::ports::replies::DeliveryLeases;
use shared::sms::{
    DeliveryUpdate, InboundError, InboundReply, MessageMediaPush, MessageMediaSignature, MessageMediaWebhookKey,
    SignatureProblem, SmsError, TwilioInbound, TwilioStatusCallback, parse_messagemedia_push, verify_twilio_signature,
};
use shared::web::{self, WebResponse};
use std::future::Future;

/// The largest push accepted. Replies are at most a few KB (MessageMedia content ≤ 5,000 characters,
/// Twilio bodies ≤ 1,600); anything bigger is not from a provider.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// How long a processed push id is remembered: longer than either provider keeps retrying.
fn dedupe_window() -> Duration {
    Duration::days(7)
}

#[derive(Debug, thiserror::Error)]
pub enum SmsWebhookError {
    #[error("the callback token is not valid")]
    BadToken,
    #[error("the {0} header is missing")]
    MissingSignature(&'static str),
    #[error("the X-Twilio-Signature does not match the request")]
    BadSignature,
    #[error("the MessageMedia signature is not valid: {0}")]
    BadMessageMediaSignature(#[from] SignatureProblem),
    #[error("Twilio is not the configured SMS provider, so its requests cannot be verified")]
    TwilioNotConfigured,
    #[error(
        "MessageMedia callbacks are refused: no webhook signature key (MESSAGEMEDIA_WEBHOOK_PUBLIC_KEY) is configured"
    )]
    MessageMediaUnverifiable,
    #[error("the body is larger than {MAX_BODY_BYTES} bytes")]
    TooLarge,
    #[error("the request cannot be read: {0}")]
    Malformed(String),
    #[error("this push is being processed; retry later")]
    InProgress,
    #[error(transparent)]
    Infra(#[from] InfraError),
    #[error("the automatic answer could not be sent: {0}")]
    Answer(#[from] SmsError),
}

shared::from_infra_errors!(SmsWebhookError);

impl From<InboundError> for SmsWebhookError {
    fn from(error: InboundError) -> Self {
        Self::Malformed(error.to_string())
    }
}

impl SmsWebhookError {
    fn status(&self) -> http::StatusCode {
        use http::StatusCode;
        match self {
            Self::MissingSignature(_) | Self::BadMessageMediaSignature(SignatureProblem::Stale) => {
                StatusCode::UNAUTHORIZED
            }
            Self::BadToken | Self::BadSignature | Self::BadMessageMediaSignature(_) | Self::TwilioNotConfigured => {
                StatusCode::FORBIDDEN
            }
            Self::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Malformed(_) => StatusCode::BAD_REQUEST,
            // The provider retries a 5xx: the push is processed again, idempotently (a refused push once the
            // operator has configured the key).
            Self::InProgress | Self::Infra(_) | Self::Answer(_) | Self::MessageMediaUnverifiable => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
    }

    fn into_response(self) -> WebResponse {
        let status = self.status();
        if matches!(self, Self::InProgress) {
            tracing::info!(%status, "sms callback still being processed; the provider will retry");
            web::json_error(status, &self.to_string())
        } else if matches!(self, Self::MessageMediaUnverifiable) {
            tracing::error!(error = %self, "sms callback refused");
            web::json_error(status, &self.to_string())
        } else if status.is_server_error() {
            tracing::error!(error = %self, "sms callback failed; the provider will retry");
            web::json_error(status, "temporarily unavailable, try again")
        } else {
            tracing::warn!(error = %self, %status, "sms callback refused");
            web::json_error(status, &self.to_string())
        }
    }
}

/// MessageMedia replies and delivery reports.
pub async fn messagemedia(deps: &Deps, request: &Request, token: &str) -> Result<WebResponse, Error> {
    let result = async {
        let body = authenticated_body(deps, request, token)?;
        match &deps.messagemedia_callbacks {
            MessageMediaCallbacks::Signed(key) => verify_messagemedia_signature(deps, key, request, body)?,
            MessageMediaCallbacks::TokenOnly => {}
            MessageMediaCallbacks::Refused => return Err(SmsWebhookError::MessageMediaUnverifiable),
        }
        let (key, work) = match parse_messagemedia_push(body)? {
            MessageMediaPush::Reply(reply) => (
                format!("sms-reply:messagemedia:{}", reply.reply_id),
                Work::Reply(reply.into()),
            ),
            MessageMediaPush::DeliveryReport(report) => {
                let recipient = report.recipient.clone();
                let update = DeliveryUpdate::from(report);
                (
                    format!("sms-report:messagemedia:{}", update.id),
                    Work::Report(update, recipient),
                )
            }
        };
        let phone = work.phone().clone();
        once(deps, &key, &phone, work.run(deps)).await
    }
    .await;
    Ok(match result {
        Ok(summary) => web::json(http::StatusCode::OK, &summary.to_json()),
        Err(error) => error.into_response(),
    })
}

/// Twilio inbound messages and status callbacks.
pub async fn twilio(deps: &Deps, request: &Request, token: &str) -> Result<WebResponse, Error> {
    let result = async {
        let body = authenticated_body(deps, request, token)?;
        let SmsConfig::Twilio { auth_token, .. } = &deps.sms_config else {
            return Err(SmsWebhookError::TwilioNotConfigured);
        };
        let signature = request
            .headers()
            .get("x-twilio-signature")
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
            .ok_or(SmsWebhookError::MissingSignature("X-Twilio-Signature"))?;
        let params: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
            .map_err(|_| SmsWebhookError::Malformed("the body is not form-encoded".into()))?;
        let url = public_url(deps, request);
        if !verify_twilio_signature(auth_token, &url, &params, signature) {
            return Err(SmsWebhookError::BadSignature);
        }
        // Status callbacks carry the message's status; inbound messages do not.
        let work = if params.iter().any(|(name, _)| name == "MessageStatus") {
            let callback = TwilioStatusCallback::parse(&url, &params)?;
            let recipient = callback.recipient.clone();
            let update = DeliveryUpdate::from(callback);
            (
                format!("sms-report:twilio:{}", update.id),
                Work::Report(update, recipient),
            )
        } else {
            let inbound = TwilioInbound::from_params(&params)?;
            (
                format!("sms-reply:twilio:{}", inbound.message_sid),
                Work::Reply(inbound.into()),
            )
        };
        let phone = work.1.phone().clone();
        once(deps, &work.0, &phone, work.1.run(deps)).await
    }
    .await;
    Ok(match result {
        // Twilio reads the answer to an inbound message as TwiML: an empty one sends nothing (answers go
        // through the API, where they are gated, claimed and recorded).
        Ok(summary) => {
            tracing::info!(result = %summary.to_json(), "twilio callback processed");
            http::Response::builder()
                .status(http::StatusCode::OK)
                .header(http::header::CONTENT_TYPE, "text/xml; charset=utf-8")
                .body("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>".to_owned())
                .expect("static response parts are valid")
        }
        Err(error) => error.into_response(),
    })
}

/// The body, once the request is known to come from someone holding the callback token.
fn authenticated_body<'r>(deps: &Deps, request: &'r Request, token: &str) -> Result<&'r [u8], SmsWebhookError> {
    // Checked first: an unauthenticated caller learns nothing else.
    if !deps.sms_webhook_token.matches(token) {
        return Err(SmsWebhookError::BadToken);
    }
    let body: &[u8] = request.body().as_ref();
    if body.len() > MAX_BODY_BYTES {
        return Err(SmsWebhookError::TooLarge);
    }
    Ok(body)
}

/// A signed MessageMedia push: the signature headers present, RSA over `POST {path} HTTP/1.1` + `Date` + body.
fn verify_messagemedia_signature(
    deps: &Deps,
    key: &MessageMediaWebhookKey,
    request: &Request,
    body: &[u8],
) -> Result<(), SmsWebhookError> {
    let header = |name: &'static str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
            .ok_or(SmsWebhookError::MissingSignature(name))
    };
    let signature = MessageMediaSignature {
        signature: header("x-messagemedia-signature")?,
        cipher_type: header("x-messagemedia-cipher-type")?,
        digest_type: header("x-messagemedia-digest-type")?,
        date: header("date")?,
    };
    // The request target as the provider sent it: the public URL's path and query.
    let url = public_url(deps, request);
    let target = url
        .split_once("://")
        .and_then(|(_, rest)| rest.find('/').map(|slash| &rest[slash..]))
        .unwrap_or("/");
    let request_line = format!("{} {target} HTTP/1.1", request.method());
    Ok(key.verify(&signature, &request_line, body, deps.clock.now())?)
}

/// The URL the provider was given: `APP_URL` + path + query, exactly as received (Twilio signs it).
fn public_url(deps: &Deps, request: &Request) -> String {
    let path = match request.raw_http_path() {
        "" => request.uri().path(),
        raw => raw,
    };
    let mut url = deps.app_url.join(path);
    if let Some(query) = request.uri().query().filter(|q| !q.is_empty()) {
        url.push('?');
        url.push_str(query);
    }
    url
}

/// Where providers report on the answers this function sends (the same routes).
pub(crate) fn callback_url(ports: &impl ReplyPorts) -> String {
    ports.texter().callback_url(ports.app_url(), ports.sms_webhook_token())
}

enum Work {
    Reply(InboundReply),
    Report(DeliveryUpdate, shared::Phone),
}

impl Work {
    /// The handset's number (the failpoints' scope: the store is not known yet).
    fn phone(&self) -> &shared::Phone {
        match self {
            Self::Reply(reply) => &reply.from,
            Self::Report(_, recipient) => recipient,
        }
    }

    async fn run(self, deps: &Deps) -> Result<Summary, SmsWebhookError> {
        match self {
            Self::Reply(reply) => replies::handle(deps, reply).await.map(Summary::Reply),
            Self::Report(update, recipient) => delivery::handle(deps, update, recipient).await.map(Summary::Report),
        }
    }
}

#[derive(Debug)]
enum Summary {
    Duplicate,
    Reply(Vec<replies::StoreOutcome>),
    Report(delivery::ReportOutcome),
}

impl Summary {
    fn to_json(&self) -> serde_json::Value {
        match self {
            Self::Duplicate => serde_json::json!({ "result": "duplicate" }),
            Self::Reply(stores) => serde_json::json!({ "result": "processed", "stores": stores }),
            Self::Report(report) => serde_json::json!({ "result": "processed", "report": report }),
        }
    }
}

/// Runs `work` unless `key` was processed already or is being processed; marks `key` done only after `work`
/// succeeded, and gives it up when `work` fails, so the provider's retry runs it.
async fn once(
    ports: &impl ReplyPorts,
    key: &str,
    phone: &shared::Phone,
    work: impl Future<Output = Result<Summary, SmsWebhookError>>,
) -> Result<Summary, SmsWebhookError> {
    let db = ports.store();
    let lease = match db.claim_delivery(key, ports.now(), dedupe_window()).await? {
        DeliveryClaim::Claimed(lease) => lease,
        DeliveryClaim::Done => {
            tracing::info!(key, "sms callback already processed");
            return Ok(Summary::Duplicate);
        }
        DeliveryClaim::InProgress => return Err(SmsWebhookError::InProgress),
    };
    shared::failpoint!("sms.after_mark", phone.as_e164(), Err(SmsWebhookError::InProgress));
    match work.await {
        Ok(summary) => {
            // The work is done either way: a mark left in progress only means a retry after the lease
            // repeats idempotent work.
            match db.finish_delivery(&lease).await {
                Ok(true) => {}
                Ok(false) => tracing::warn!(key, "sms callback lease was taken over before it was marked done"),
                Err(error) => tracing::error!(key, %error, "could not mark an sms callback done"),
            }
            Ok(summary)
        }
        Err(error) => {
            if let Err(release) = db.release_delivery(&lease).await {
                tracing::error!(key, error = %release, "could not release a failed sms callback; its retry waits for the lease");
            }
            Err(error)
        }
    }
}
