//! MessageMedia's Messages API: `POST /v1/messages` (atomic batches of 1 to 100) and
//! `GET /v1/messages/{id}`, with the validation rules of the API reference.

use super::{Fault, Inner, ProviderApi, SentMessage, basic_credentials, idempotency_key, is_e164};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

const MAX_BATCH: usize = 100;
const MAX_CONTENT_CHARS: usize = 5000;
const MAX_METADATA_PAIRS: usize = 10;
const MAX_METADATA_KEY_CHARS: usize = 100;
const MAX_METADATA_VALUE_CHARS: usize = 256;
const MAX_SUBJECT_CHARS: usize = 64;

const KNOWN_FIELDS: &[&str] = &[
    "content",
    "destination_number",
    "source_number",
    "source_number_type",
    "format",
    "media",
    "subject",
    "delivery_report",
    "callback_url",
    "metadata",
    "scheduled",
    "message_expiry_timestamp",
];

fn error(status: StatusCode, message: &str, details: Vec<String>) -> Response {
    let body = if details.is_empty() {
        json!({ "message": message })
    } else {
        json!({ "message": message, "details": details })
    };
    (status, Json(body)).into_response()
}

fn unauthorized() -> Response {
    error(StatusCode::UNAUTHORIZED, "Invalid authentication credentials", vec![])
}

fn authorised(inner: &Inner, headers: &HeaderMap) -> bool {
    basic_credentials(headers)
        .is_some_and(|(key, secret)| key == inner.config.api_key && secret == inner.config.api_secret)
}

fn fault_response(status: u16) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let message = match status.as_u16() {
        429 => "Too many requests",
        503 => "Service unavailable",
        _ => "An internal error occurred",
    };
    error(status, message, vec![])
}

/// A message that passed validation, ready to record.
struct Accepted {
    request: Map<String, Value>,
    to: String,
    from: Option<String>,
    content: String,
    metadata: BTreeMap<String, String>,
    callback_url: Option<String>,
    delivery_report: bool,
    scheduled: Option<DateTime<Utc>>,
    expires_at: Option<DateTime<Utc>>,
}

pub(super) async fn send(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> Response {
    let mut slow_answer = None;
    match inner.next_fault() {
        Some(Fault::Status(status)) => return fault_response(status),
        Some(Fault::SlowAnswer(delay)) => slow_answer = Some(delay),
        None => {}
    }
    if !authorised(&inner, &headers) {
        return unauthorized();
    }
    let request: Value = match serde_json::from_slice(&body) {
        Ok(value) => value,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                "Request body is not valid JSON",
                vec![e.to_string()],
            );
        }
    };
    let Some(messages) = request.get("messages").and_then(Value::as_array) else {
        return error(
            StatusCode::BAD_REQUEST,
            "Invalid request",
            vec!["messages: is required and must be an array".into()],
        );
    };
    if messages.is_empty() || messages.len() > MAX_BATCH {
        return error(
            StatusCode::BAD_REQUEST,
            "Invalid request",
            vec![format!(
                "messages: must contain 1 to {MAX_BATCH} messages, not {}",
                messages.len()
            )],
        );
    }

    let invalid_numbers = inner.state().invalid.clone();
    let mut details = Vec::new();
    let mut accepted = Vec::new();
    for (index, message) in messages.iter().enumerate() {
        if let Some(ok) = validate(index, message, &mut details) {
            if invalid_numbers.contains(&ok.to) {
                details.push(format!(
                    "messages[{index}].destination_number: is not a valid destination number"
                ));
            } else {
                accepted.push(ok);
            }
        }
    }
    // Atomic batch: one bad message and nothing is sent.
    if !details.is_empty() {
        return error(StatusCode::BAD_REQUEST, "Invalid request", details);
    }

    let accepted_at = inner.now();
    let key = idempotency_key(&headers);
    let mut echoed = Vec::with_capacity(accepted.len());
    {
        let mut state = inner.state();
        for message in accepted {
            let id = uuid::Uuid::new_v4().to_string();
            let mut echo = message.request.clone();
            echo.entry("format").or_insert_with(|| json!("SMS"));
            echo.entry("delivery_report").or_insert_with(|| json!(false));
            echo.insert("message_id".into(), json!(id));
            echo.insert("status".into(), json!("queued"));
            echoed.push(Value::Object(echo));
            state.messages.push(SentMessage {
                id,
                api: ProviderApi::MessageMedia,
                to: message.to,
                from: message.from,
                messaging_service_sid: None,
                content: message.content,
                metadata: message.metadata,
                callback_url: message.callback_url,
                delivery_report: message.delivery_report,
                scheduled: message.scheduled,
                expires_at: message.expires_at,
                validity_period: None,
                idempotency_key: key.clone(),
                accepted_at,
                status: "queued".into(),
                request: Value::Object(message.request),
            });
        }
    }
    if let Some(delay) = slow_answer {
        tokio::time::sleep(delay).await;
    }
    (StatusCode::ACCEPTED, Json(json!({ "messages": echoed }))).into_response()
}

pub(super) async fn get_message(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if !authorised(&inner, &headers) {
        return unauthorized();
    }
    let state = inner.state();
    let found = state
        .messages
        .iter()
        .find(|m| m.api == ProviderApi::MessageMedia && m.id == id);
    match found {
        Some(message) => {
            let mut body = message.request.as_object().cloned().unwrap_or_default();
            body.entry("format").or_insert_with(|| json!("SMS"));
            body.entry("delivery_report").or_insert_with(|| json!(false));
            body.insert("message_id".into(), json!(message.id));
            body.insert("status".into(), json!(message.status));
            (StatusCode::OK, Json(Value::Object(body))).into_response()
        }
        None => error(StatusCode::NOT_FOUND, "Resource not found", vec![]),
    }
}

/// Checks one message against the API's rules, adding a `messages[i].field: problem` detail per
/// violation (every violation, not just the first, as the API does).
fn validate(index: usize, message: &Value, details: &mut Vec<String>) -> Option<Accepted> {
    let before = details.len();
    let mut problem = |field: &str, text: &str| {
        details.push(format!("messages[{index}].{field}: {text}"));
    };
    let Some(object) = message.as_object() else {
        problem("", "must be an object");
        return None;
    };
    for field in object.keys() {
        match field.as_str() {
            "message_id" | "status" => problem(field, "is set by the API and must not be sent"),
            f if !KNOWN_FIELDS.contains(&f) => problem(field, "is not a known field"),
            _ => {}
        }
    }

    let content = match object.get("content") {
        Some(Value::String(s)) if (1..=MAX_CONTENT_CHARS).contains(&s.chars().count()) => Some(s.clone()),
        Some(Value::String(_)) => {
            problem("content", &format!("must be 1 to {MAX_CONTENT_CHARS} characters"));
            None
        }
        Some(_) => {
            problem("content", "must be a string");
            None
        }
        None => {
            problem("content", "is required");
            None
        }
    };

    let to = match object.get("destination_number") {
        Some(Value::String(s)) if is_e164(s) => Some(s.clone()),
        Some(_) => {
            problem("destination_number", "must be an E.164 number: + and 8 to 15 digits");
            None
        }
        None => {
            problem("destination_number", "is required");
            None
        }
    };

    let source_type = match object.get("source_number_type") {
        None => None,
        Some(Value::String(t)) if ["INTERNATIONAL", "ALPHANUMERIC", "SHORTCODE"].contains(&t.as_str()) => {
            Some(t.as_str())
        }
        Some(_) => {
            problem("source_number_type", "must be INTERNATIONAL, ALPHANUMERIC or SHORTCODE");
            None
        }
    };
    let from = match object.get("source_number") {
        None => {
            if object.contains_key("source_number_type") {
                problem("source_number_type", "is only valid with source_number");
            }
            None
        }
        Some(Value::String(s)) => {
            if source_number_fits(s, source_type) {
                Some(s.clone())
            } else {
                problem(
                    "source_number",
                    "must be an E.164 number, a short code or an alphanumeric sender of up to 11 characters",
                );
                None
            }
        }
        Some(_) => {
            problem("source_number", "must be a string");
            None
        }
    };

    match object.get("format") {
        None => {}
        Some(Value::String(f)) if f == "SMS" || f == "TTS" => {}
        Some(Value::String(f)) if f == "MMS" => {
            let has_media = object
                .get("media")
                .and_then(Value::as_array)
                .is_some_and(|m| !m.is_empty() && m.iter().all(is_http_url));
            if !has_media {
                problem("media", "MMS needs at least one media URL");
            }
        }
        Some(_) => problem("format", "must be SMS, MMS or TTS"),
    }
    if let Some(subject) = object.get("subject") {
        match subject.as_str() {
            Some(s) if s.chars().count() <= MAX_SUBJECT_CHARS => {}
            _ => problem(
                "subject",
                &format!("must be a string of up to {MAX_SUBJECT_CHARS} characters"),
            ),
        }
    }

    let delivery_report = match object.get("delivery_report") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            problem("delivery_report", "must be a boolean");
            false
        }
    };

    let callback_url = match object.get("callback_url") {
        None => None,
        Some(value) if is_http_url(value) => value.as_str().map(str::to_owned),
        Some(_) => {
            problem("callback_url", "must be an http(s) URL");
            None
        }
    };

    let mut metadata = BTreeMap::new();
    match object.get("metadata") {
        None => {}
        Some(Value::Object(pairs)) => {
            if pairs.len() > MAX_METADATA_PAIRS {
                problem("metadata", &format!("must have at most {MAX_METADATA_PAIRS} pairs"));
            }
            for (key, value) in pairs {
                if key.is_empty() || key.chars().count() > MAX_METADATA_KEY_CHARS {
                    problem(
                        "metadata",
                        &format!("keys must be 1 to {MAX_METADATA_KEY_CHARS} characters"),
                    );
                }
                match value.as_str() {
                    Some(v) if v.chars().count() <= MAX_METADATA_VALUE_CHARS => {
                        metadata.insert(key.clone(), v.to_owned());
                    }
                    _ => problem(
                        &format!("metadata.{key}"),
                        &format!("must be a string of up to {MAX_METADATA_VALUE_CHARS} characters"),
                    ),
                }
            }
        }
        Some(_) => problem("metadata", "must be an object"),
    }

    let mut timestamp = |field: &str| match object.get(field) {
        None => None,
        Some(Value::String(s)) => match DateTime::parse_from_rfc3339(s) {
            Ok(t) => Some(t.with_timezone(&Utc)),
            Err(_) => {
                problem(field, "must be an ISO-8601 date-time with a time zone");
                None
            }
        },
        Some(_) => {
            problem(field, "must be an ISO-8601 date-time string");
            None
        }
    };
    let scheduled = timestamp("scheduled");
    let expires_at = timestamp("message_expiry_timestamp");
    if let (Some(scheduled), Some(expiry)) = (scheduled, expires_at)
        && expiry <= scheduled
    {
        problem("message_expiry_timestamp", "must be after scheduled");
    }

    if details.len() > before {
        return None;
    }
    Some(Accepted {
        request: object.clone(),
        to: to?,
        from,
        content: content?,
        metadata,
        callback_url,
        delivery_report,
        scheduled,
        expires_at,
    })
}

fn is_http_url(value: &Value) -> bool {
    value
        .as_str()
        .is_some_and(|s| s.starts_with("https://") || s.starts_with("http://"))
}

/// A sender is a number (E.164), a short code (3 to 8 digits) or an alphanumeric tag (up to 11 letters,
/// digits and spaces); a declared `source_number_type` narrows it to one of those.
fn source_number_fits(value: &str, declared: Option<&str>) -> bool {
    let international = is_e164(value);
    let short_code = (3..=8).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_digit());
    let alphanumeric = (1..=11).contains(&value.len())
        && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b' ')
        && value.bytes().any(|b| b.is_ascii_alphabetic());
    match declared {
        Some("INTERNATIONAL") => international,
        Some("SHORTCODE") => short_code,
        Some("ALPHANUMERIC") => alphanumeric,
        _ => international || short_code || alphanumeric,
    }
}
