//! Sending one request well: per-store pacing from the rate-limit headers, waiting out 429s, retrying 5xx and
//! transport failures with jittered exponential backoff, and mapping everything else to a typed error.

use super::BigCommerceError;
use crate::{Secret, StoreHash};
use rand::Rng;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How hard to try, and how politely.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts per call, the first included.
    pub max_attempts: u32,
    /// First backoff for 5xx, transport errors and 429s without headers; doubles each time, with jitter.
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    pub request_timeout: Duration,
    /// Requests to leave unused in a window before waiting for it to reset (other apps share the quota).
    pub reserve: u32,
    /// Added to every wait for a window reset, so the request lands in the new window.
    pub reset_margin: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 6,
            base_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(20),
            request_timeout: Duration::from_secs(20),
            reserve: 0,
            reset_margin: Duration::from_millis(25),
        }
    }
}

/// Counters since the client was built, for benchmarks and logs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientStats {
    /// HTTP requests sent, retries included.
    pub requests: u64,
    /// 429 answers received.
    pub rate_limited: u64,
    /// Requests repeated after a 429, a 5xx or a transport failure.
    pub retries: u64,
    /// Times a request waited for the quota window to reset instead of risking a 429.
    pub paced: u64,
}

#[derive(Default)]
pub(crate) struct Counters {
    requests: AtomicU64,
    rate_limited: AtomicU64,
    retries: AtomicU64,
    paced: AtomicU64,
}

impl Counters {
    pub(crate) fn snapshot(&self) -> ClientStats {
        ClientStats {
            requests: self.requests.load(Ordering::Relaxed),
            rate_limited: self.rate_limited.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            paced: self.paced.load(Ordering::Relaxed),
        }
    }
}

/// The `X-Rate-Limit-*` headers of one response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub window: Duration,
    pub reset: Duration,
    pub quota: u32,
    pub left: u32,
}

impl RateLimit {
    /// `None` unless all four headers are present and numeric (a 429 without them is a platform overload).
    pub fn from_headers(headers: &HeaderMap) -> Option<Self> {
        // HeaderMap lookups are case-insensitive, matching BigCommerce's mixed and lower-case names.
        let number = |name: &str| -> Option<u64> { headers.get(name)?.to_str().ok()?.trim().parse().ok() };
        Some(Self {
            window: Duration::from_millis(number("x-rate-limit-time-window-ms")?),
            reset: Duration::from_millis(number("x-rate-limit-time-reset-ms")?),
            quota: u32::try_from(number("x-rate-limit-requests-quota")?).ok()?,
            left: u32::try_from(number("x-rate-limit-requests-left")?).ok()?,
        })
    }
}

/// What this process knows about one store's current window. Requests reserve a slot before they are
/// sent, so concurrent tasks of one Lambda never overrun the quota between two responses.
#[derive(Debug, Clone, Copy)]
struct Window {
    left: u32,
    quota: u32,
    length: Duration,
    resets_at: Instant,
}

/// Two reports of the reset time closer than this describe the same window.
const SAME_WINDOW: Duration = Duration::from_millis(250);

#[derive(Default)]
pub(crate) struct Pacer {
    windows: Mutex<HashMap<StoreHash, Window>>,
}

impl Pacer {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<StoreHash, Window>> {
        self.windows.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits, if needed, until the store's window has room for one more request, and takes it.
    async fn acquire(&self, store: &StoreHash, policy: &RetryPolicy, counters: &Counters) {
        loop {
            let wait = {
                let mut windows = self.lock();
                let Some(window) = windows.get_mut(store) else {
                    return;
                };
                let now = Instant::now();
                if now >= window.resets_at {
                    // A new window: assume it is fresh until a response says otherwise.
                    window.left = window.quota.saturating_sub(1);
                    window.resets_at = now + window.length;
                    return;
                }
                if window.left > policy.reserve {
                    window.left -= 1;
                    return;
                }
                window.resets_at - now + policy.reset_margin
            };
            counters.paced.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(store = %store, wait_ms = wait.as_millis() as u64, "pacing for the quota window");
            tokio::time::sleep(wait).await;
        }
    }

    fn observe(&self, store: &StoreHash, limit: RateLimit) {
        let resets_at = Instant::now() + limit.reset;
        let mut windows = self.lock();
        let fresh = Window {
            left: limit.left,
            quota: limit.quota,
            length: limit.window,
            resets_at,
        };
        windows
            .entry(store.clone())
            .and_modify(|w| {
                let same = w.resets_at.max(resets_at) - w.resets_at.min(resets_at) <= SAME_WINDOW;
                if same {
                    // Responses arrive out of order; the smallest count is the freshest.
                    w.left = w.left.min(limit.left);
                    w.quota = limit.quota;
                    w.length = limit.window;
                } else {
                    *w = fresh;
                }
            })
            .or_insert(fresh);
    }
}

pub(crate) enum Body {
    Json(Vec<u8>),
}

/// One logical call; it may be sent several times.
pub(crate) struct Call<'a> {
    pub store: Option<&'a StoreHash>,
    pub token: Option<&'a Secret>,
    pub method: Method,
    pub url: String,
    /// For logs and errors: the URL without host and query (no personal data from filters).
    pub path: String,
    pub query: Vec<(String, String)>,
    pub body: Option<Body>,
}

pub(crate) struct Answer {
    pub status: StatusCode,
    pub body: Vec<u8>,
}

fn backoff(policy: &RetryPolicy, attempt: u32) -> Duration {
    let exp = policy
        .base_backoff
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
        .min(policy.max_backoff);
    // Half fixed, half random: spreads concurrent retries without ever retrying instantly.
    let jitter = rand::rng().random_range(0.5..=1.0);
    exp.mul_f64(jitter)
}

/// The most useful message in an error body: v3 `title` and `errors`, v2 `[{message}]`, OAuth `error`.
/// BigCommerce's error code in an error body, and nothing else: its messages and field errors may quote the
/// request (a customer's email, name or number), so they never reach logs or notices. The code is the body's
/// `code` / `error_code` / OAuth `error` when it looks like one, else the names (never the messages) of the
/// fields a v3 body says are wrong.
pub(crate) fn error_code(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let first = value.get(0).unwrap_or(&value);
    for key in ["code", "error_code", "error"] {
        match first.get(key) {
            Some(serde_json::Value::String(code)) if is_code(code) => return Some(code.clone()),
            Some(serde_json::Value::Number(code)) => return Some(code.to_string()),
            _ => {}
        }
    }
    let fields: Vec<&str> = value
        .get("errors")
        .and_then(|e| e.as_object())
        .map(|errors| errors.keys().map(String::as_str).filter(|k| is_code(k)).collect())
        .unwrap_or_default();
    (!fields.is_empty()).then(|| format!("fields {}", fields.join(",")))
}

/// Short, and only letters, digits and `_.-`: a code or a field name, not a sentence quoting data.
fn is_code(text: &str) -> bool {
    !text.is_empty() && text.len() <= 64 && text.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

pub(crate) struct Transport {
    pub http: reqwest::Client,
    pub policy: RetryPolicy,
    pub pacer: Pacer,
    pub counters: Counters,
}

impl Transport {
    fn request(&self, call: &Call<'_>) -> reqwest::RequestBuilder {
        let mut request = self
            .http
            .request(call.method.clone(), &call.url)
            .header("Accept", "application/json")
            .timeout(self.policy.request_timeout);
        if !call.query.is_empty() {
            request = request.query(&call.query);
        }
        if let Some(token) = call.token {
            request = request.header("X-Auth-Token", token.expose());
        }
        match &call.body {
            Some(Body::Json(bytes)) => request.header("Content-Type", "application/json").body(bytes.clone()),
            None => request,
        }
    }

    pub(crate) async fn execute(&self, call: Call<'_>) -> Result<Answer, BigCommerceError> {
        let policy = &self.policy;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let last = attempt >= policy.max_attempts;
            if let Some(store) = call.store {
                self.pacer.acquire(store, policy, &self.counters).await;
            }
            self.counters.requests.fetch_add(1, Ordering::Relaxed);
            let sent = self.request(&call).send().await;
            let response = match sent {
                Ok(response) => response,
                Err(e) => {
                    let retryable = e.is_timeout() || e.is_connect() || e.is_request();
                    tracing::warn!(method = %call.method, path = %call.path, attempt, error = %e, "BigCommerce request failed");
                    if retryable && !last {
                        self.retry_after(backoff(policy, attempt)).await;
                        continue;
                    }
                    return Err(BigCommerceError::Transport(e.without_url().to_string()));
                }
            };
            let status = response.status();
            let limit = RateLimit::from_headers(response.headers());
            if let (Some(store), Some(limit)) = (call.store, limit) {
                self.pacer.observe(store, limit);
            }
            let body = match response.bytes().await {
                Ok(body) => body.to_vec(),
                Err(e) if !last => {
                    tracing::warn!(path = %call.path, attempt, error = %e, "BigCommerce response body lost");
                    self.retry_after(backoff(policy, attempt)).await;
                    continue;
                }
                Err(e) => return Err(BigCommerceError::Transport(e.without_url().to_string())),
            };
            tracing::debug!(method = %call.method, path = %call.path, status = status.as_u16(), attempt, "BigCommerce");
            if status.is_success() {
                return Ok(Answer { status, body });
            }
            if status == StatusCode::TOO_MANY_REQUESTS {
                self.counters.rate_limited.fetch_add(1, Ordering::Relaxed);
                if last {
                    return Err(BigCommerceError::RateLimited {
                        retry_after: limit.map(|l| l.reset),
                    });
                }
                // With headers: the quota is spent until the reset. Without: the platform is overloaded.
                let wait = match limit {
                    Some(limit) => limit.reset + policy.reset_margin,
                    None => backoff(policy, attempt),
                };
                tracing::info!(path = %call.path, wait_ms = wait.as_millis() as u64, "BigCommerce 429");
                self.retry_after(wait).await;
                continue;
            }
            if status.is_server_error() {
                if last {
                    return Err(BigCommerceError::Server {
                        status: status.as_u16(),
                        code: error_code(&body),
                    });
                }
                tracing::warn!(path = %call.path, status = status.as_u16(), attempt, "BigCommerce server error");
                self.retry_after(backoff(policy, attempt)).await;
                continue;
            }
            return Err(match status {
                StatusCode::NOT_FOUND => BigCommerceError::NotFound { path: call.path },
                StatusCode::UNAUTHORIZED => BigCommerceError::Unauthorized,
                StatusCode::FORBIDDEN => BigCommerceError::Forbidden {
                    code: error_code(&body),
                },
                _ => BigCommerceError::Invalid {
                    status: status.as_u16(),
                    code: error_code(&body),
                },
            });
        }
    }

    async fn retry_after(&self, wait: Duration) {
        self.counters.retries.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(wait).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_headers_are_read_whatever_their_case() {
        let mut headers = HeaderMap::new();
        headers.insert("X-Rate-Limit-Time-Window-Ms", "30000".parse().unwrap());
        headers.insert("x-rate-limit-time-reset-ms", "15000".parse().unwrap());
        headers.insert("X-RATE-LIMIT-REQUESTS-QUOTA", "150".parse().unwrap());
        headers.insert("X-Rate-Limit-Requests-Left", "35".parse().unwrap());
        assert_eq!(
            RateLimit::from_headers(&headers),
            Some(RateLimit {
                window: Duration::from_secs(30),
                reset: Duration::from_secs(15),
                quota: 150,
                left: 35,
            })
        );
        headers.remove("X-Rate-Limit-Requests-Left");
        assert_eq!(RateLimit::from_headers(&headers), None);
    }

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let policy = RetryPolicy {
            base_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(1000),
            ..RetryPolicy::default()
        };
        for attempt in 1..=10 {
            let d = backoff(&policy, attempt);
            let full = Duration::from_millis(100 * (1 << (attempt - 1))).min(Duration::from_millis(1000));
            assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d:?}");
        }
    }

    #[test]
    fn error_codes_keep_no_message_or_quoted_value() {
        assert_eq!(
            error_code(
                br#"{"status":422,"title":"Email jane@example.com is in use","errors":{"email":"jane@example.com exists","0.phone":"bad"}}"#
            ),
            Some("fields 0.phone,email".to_owned())
        );
        assert_eq!(
            error_code(br#"[{"status":404,"message":"Customer Jane Doe was not found."}]"#),
            None
        );
        assert_eq!(
            error_code(br#"{"error":"invalid_grant","error_description":"code used"}"#),
            Some("invalid_grant".to_owned())
        );
        assert_eq!(
            error_code(br#"{"status":400,"code":10003,"title":"x"}"#),
            Some("10003".to_owned())
        );
        assert_eq!(error_code(br#"{"error":"Jane Doe's cart is empty"}"#), None);
        assert_eq!(error_code(b"<html>jane@example.com</html>"), None);
    }
}
