//! Twilio's Message resource: `POST /2010-04-01/Accounts/{sid}/Messages.json` (form-encoded) and
//! `GET .../Messages/{sid}.json`, with Twilio's error JSON and codes, plus the `X-Twilio-Signature`
//! computation used for the pushes the sandbox makes.

use super::{Fault, Inner, ProviderApi, SentMessage, basic_credentials, idempotency_key, is_e164};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

const MAX_BODY_CHARS: usize = 1600;
const MAX_VALIDITY_SECONDS: u32 = 36_000;

/// `X-Twilio-Signature` for a request to `url` with these form parameters: base64(HMAC-SHA1(auth token,
/// url + every name and value, sorted by name)).
pub fn twilio_signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(auth_token.as_bytes()).expect("HMAC takes any key");
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Twilio's error body: `{code, message, more_info, status}`.
fn error(status: StatusCode, code: u32, message: &str) -> Response {
    (
        status,
        Json(json!({
            "code": code,
            "message": message,
            "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
            "status": status.as_u16(),
        })),
    )
        .into_response()
}

fn fault_response(status: u16) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    match status.as_u16() {
        429 => error(status, 20429, "Too Many Requests"),
        503 => error(status, 20503, "Service Unavailable"),
        _ => error(status, 20500, "An internal server error has occurred"),
    }
}

fn authorised(inner: &Inner, headers: &HeaderMap) -> bool {
    basic_credentials(headers)
        .is_some_and(|(sid, token)| sid == inner.config.twilio_account_sid && token == inner.config.twilio_auth_token)
}

fn rfc2822(time: DateTime<Utc>) -> String {
    time.format("%a, %d %b %Y %H:%M:%S +0000").to_string()
}

fn resource(message: &SentMessage, account_sid: &str) -> Value {
    json!({
        "sid": message.id,
        "account_sid": account_sid,
        "api_version": "2010-04-01",
        "to": message.to,
        "from": message.from,
        "messaging_service_sid": message.messaging_service_sid,
        "body": message.content,
        "status": message.status,
        "direction": "outbound-api",
        "num_segments": "1",
        "num_media": "0",
        "date_created": rfc2822(message.accepted_at),
        "date_updated": rfc2822(message.accepted_at),
        "date_sent": null,
        "price": null,
        "price_unit": "USD",
        "error_code": null,
        "error_message": null,
        "uri": format!("/2010-04-01/Accounts/{account_sid}/Messages/{}.json", message.id),
    })
}

pub(super) async fn send(
    State(inner): State<Arc<Inner>>,
    Path(account_sid): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut slow_answer = None;
    match inner.next_fault() {
        Some(Fault::Status(status)) => return fault_response(status),
        Some(Fault::SlowAnswer(delay)) => slow_answer = Some(delay),
        None => {}
    }
    if !authorised(&inner, &headers) {
        return error(StatusCode::UNAUTHORIZED, 20003, "Authenticate");
    }
    if account_sid != inner.config.twilio_account_sid {
        return error(StatusCode::NOT_FOUND, 20404, "The requested resource was not found");
    }
    let Ok(params) = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body) else {
        return error(StatusCode::BAD_REQUEST, 20001, "The request body is not form-encoded");
    };
    // Twilio uses the last value of a repeated scalar parameter.
    let param = |name: &str| {
        params
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
    };

    let Some(to) = param("To") else {
        return error(StatusCode::BAD_REQUEST, 21604, "A 'To' phone number is required.");
    };
    let from = param("From");
    let service = param("MessagingServiceSid");
    if from.is_none() && service.is_none() {
        return error(StatusCode::BAD_REQUEST, 21603, "A 'From' phone number is required.");
    }
    let Some(content) = param("Body") else {
        return error(StatusCode::BAD_REQUEST, 21602, "Message body is required.");
    };
    if content.chars().count() > MAX_BODY_CHARS {
        return error(
            StatusCode::BAD_REQUEST,
            21617,
            "The concatenated message body exceeds the 1600 character limit.",
        );
    }
    let validity_period = match param("ValidityPeriod") {
        None => None,
        Some(v) => match v.parse::<u32>() {
            Ok(seconds) if (1..=MAX_VALIDITY_SECONDS).contains(&seconds) => Some(seconds),
            _ => {
                return error(
                    StatusCode::BAD_REQUEST,
                    21624,
                    "Validity period can only be set to integers between 1 and 36,000 seconds.",
                );
            }
        },
    };
    let callback_url = param("StatusCallback");
    if callback_url
        .as_deref()
        .is_some_and(|u| !(u.starts_with("https://") || u.starts_with("http://")))
    {
        return error(StatusCode::BAD_REQUEST, 21609, "Invalid StatusCallback URL.");
    }
    {
        let state = inner.state();
        // Twilio's message quotes the number; ours does not, so test logs stay free of it.
        if !is_e164(&to) || state.invalid.contains(&to) {
            return error(
                StatusCode::BAD_REQUEST,
                21211,
                "The 'To' number is not a valid phone number.",
            );
        }
        if state.opted_out.contains(&to) {
            return error(
                StatusCode::BAD_REQUEST,
                21610,
                "Attempt to send to unsubscribed recipient",
            );
        }
    }

    let accepted_at = inner.now();
    let request: Map<String, Value> = params
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    let message = SentMessage {
        id: format!("SM{}", uuid::Uuid::new_v4().simple()),
        api: ProviderApi::Twilio,
        to,
        // A Messaging Service picks the sender itself and the message starts as `accepted`.
        status: if from.is_none() { "accepted" } else { "queued" }.into(),
        from,
        messaging_service_sid: service,
        content,
        metadata: BTreeMap::new(),
        callback_url,
        delivery_report: true,
        scheduled: None,
        expires_at: validity_period.map(|s| accepted_at + chrono::Duration::seconds(i64::from(s))),
        validity_period,
        idempotency_key: idempotency_key(&headers),
        accepted_at,
        request: Value::Object(request),
    };
    let body = resource(&message, &inner.config.twilio_account_sid);
    inner.state().messages.push(message);
    if let Some(delay) = slow_answer {
        tokio::time::sleep(delay).await;
    }
    (StatusCode::CREATED, Json(body)).into_response()
}

pub(super) async fn get_message(
    State(inner): State<Arc<Inner>>,
    Path((account_sid, file)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if !authorised(&inner, &headers) {
        return error(StatusCode::UNAUTHORIZED, 20003, "Authenticate");
    }
    let sid = file.strip_suffix(".json").unwrap_or(&file);
    let state = inner.state();
    match state
        .messages
        .iter()
        .find(|m| m.api == ProviderApi::Twilio && m.id == sid)
    {
        Some(message) if account_sid == inner.config.twilio_account_sid => {
            (StatusCode::OK, Json(resource(message, &account_sid))).into_response()
        }
        _ => error(StatusCode::NOT_FOUND, 20404, "The requested resource was not found"),
    }
}
