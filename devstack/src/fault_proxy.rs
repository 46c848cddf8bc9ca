//! A fault-injecting HTTP proxy in front of moto: the app's AWS calls go through it, and a share of them
//! (`rate`) fail the ways AWS calls fail in production, so tests can check that the app's retries and
//! idempotency lose nothing and double nothing.
//!
//! Faults are drawn from a seeded generator (the seed is printed, so a failing run can be repeated with
//! `FAULT_SEED`; concurrent requests may still draw in another order).

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// How a faulted request fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// No answer until after the SDK's attempt timeout; the request is never forwarded.
    Timeout,
    /// The service's throttling error (DynamoDB `ProvisionedThroughputExceededException` or
    /// `ThrottlingException`, SQS `RequestThrottled`, EventBridge `ThrottlingException`); not forwarded.
    Throttle,
    /// HTTP 500 `InternalServerError`; not forwarded.
    ServerError,
    /// Forwarded and done by moto, but the answer is lost: the client sees a 500 for a call that succeeded.
    /// DynamoDB calls only: there the app must make the SDK's retry harmless. SQS `SendMessage` and
    /// EventBridge `PutEvents` are at least once by design (a retry enqueues or publishes again, and their
    /// consumers take duplicates, which the duplicate-delivery tests cover); their lost answers are drawn
    /// as [`FaultKind::ServerError`], so the suites' exact delivery counts still hold.
    LostReply,
}

impl FaultKind {
    const ALL: [FaultKind; 4] = [Self::Timeout, Self::Throttle, Self::ServerError, Self::LostReply];
}

/// How many faults of each kind the proxy injected, and how many requests it saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultCounts {
    pub requests: u64,
    pub timeouts: u64,
    pub throttles: u64,
    pub server_errors: u64,
    pub lost_replies: u64,
}

impl FaultCounts {
    pub fn total(&self) -> u64 {
        self.timeouts + self.throttles + self.server_errors + self.lost_replies
    }
}

impl std::fmt::Display for FaultCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} requests, {} faulted: {} timeouts, {} throttles, {} server errors, {} lost replies",
            self.requests,
            self.total(),
            self.timeouts,
            self.throttles,
            self.server_errors,
            self.lost_replies
        )
    }
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    by_kind: [AtomicU64; 4],
}

struct Inner {
    upstream: String,
    rate: f64,
    /// How long a timed-out request is held: past the SDK's attempt timeout.
    hold: std::time::Duration,
    rng: Mutex<StdRng>,
    http: reqwest::Client,
    counters: Counters,
    /// The `ClientRequestToken`s of DynamoDB transactions that committed (see [`replayed_transaction`]).
    committed_transactions: Mutex<std::collections::HashSet<String>>,
}

/// A running proxy. It serves until this process exits.
#[derive(Clone)]
pub struct FaultProxy {
    url: String,
    seed: u64,
    inner: Arc<Inner>,
}

impl FaultProxy {
    /// Starts a proxy on a loopback port in front of `upstream` (moto's URL), faulting a `rate` share of requests
    /// (0.0 to 1.0), with faults drawn from `seed`. It runs on a thread of its own, so it outlives the async
    /// runtime of the test that started it (each test has its own).
    pub fn start(upstream: &str, rate: f64, seed: u64) -> std::io::Result<Self> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let url = format!("http://{}", listener.local_addr()?);
        let inner = Arc::new(Inner {
            upstream: upstream.trim_end_matches('/').to_owned(),
            rate: rate.clamp(0.0, 1.0),
            hold: shared::aws::ATTEMPT_TIMEOUT + std::time::Duration::from_millis(500),
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
            http: reqwest::Client::new(),
            counters: Counters::default(),
            committed_transactions: Mutex::default(),
        });
        let app = axum::Router::new().fallback(proxy).with_state(inner.clone());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        std::thread::Builder::new().name("fault-proxy".into()).spawn(move || {
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener on this runtime");
                if let Err(error) = axum::serve(listener, app).await {
                    tracing::error!(%error, "the fault proxy stopped");
                }
            })
        })?;
        Ok(Self { url, seed, inner })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    pub fn rate(&self) -> f64 {
        self.inner.rate
    }

    pub fn counts(&self) -> FaultCounts {
        let c = &self.inner.counters;
        let kind = |k: FaultKind| c.by_kind[k as usize].load(Ordering::Relaxed);
        FaultCounts {
            requests: c.requests.load(Ordering::Relaxed),
            timeouts: kind(FaultKind::Timeout),
            throttles: kind(FaultKind::Throttle),
            server_errors: kind(FaultKind::ServerError),
            lost_replies: kind(FaultKind::LostReply),
        }
    }
}

impl Inner {
    /// Whether to fault the next request, and how; the flag picks between a service's two throttles.
    fn draw(&self) -> Option<(FaultKind, bool)> {
        let mut rng = self.rng.lock().expect("fault generator lock");
        if !rng.random_bool(self.rate) {
            return None;
        }
        Some((
            FaultKind::ALL[rng.random_range(0..FaultKind::ALL.len())],
            rng.random_bool(0.5),
        ))
    }
}

async fn proxy(State(inner): State<Arc<Inner>>, request: Request) -> Response {
    inner.counters.requests.fetch_add(1, Ordering::Relaxed);
    let target = request
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let (fault, other_throttle) = match inner.draw() {
        Some((FaultKind::LostReply, flag)) if !target.starts_with(DYNAMODB) => (Some(FaultKind::ServerError), flag),
        Some((kind, flag)) => (Some(kind), flag),
        None => (None, false),
    };
    if let Some(kind) = fault {
        inner.counters.by_kind[kind as usize].fetch_add(1, Ordering::Relaxed);
    }
    match fault {
        Some(FaultKind::Timeout) => {
            // The SDK gives up first and drops the connection, which ends this handler.
            tokio::time::sleep(inner.hold).await;
            return StatusCode::GATEWAY_TIMEOUT.into_response();
        }
        Some(FaultKind::Throttle) => return throttled(&target, other_throttle),
        Some(FaultKind::ServerError) => return server_error(),
        Some(FaultKind::LostReply) | None => {}
    }
    let (parts, body) = request.into_parts();
    let body: Bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
    let transaction_token = (target == TRANSACT_WRITE_ITEMS)
        .then(|| client_request_token(&body))
        .flatten();
    if let Some(token) = &transaction_token
        && inner.committed_transactions.lock().expect("lock").contains(token)
    {
        return replayed_transaction();
    }
    let forwarded = match forward(&inner, parts, body).await {
        Ok(response) => response,
        Err(error) => return (StatusCode::BAD_GATEWAY, format!("fault proxy: {error}")).into_response(),
    };
    if let Some(token) = transaction_token
        && forwarded.status().is_success()
    {
        inner.committed_transactions.lock().expect("lock").insert(token);
    }
    match fault {
        Some(FaultKind::LostReply) => server_error(),
        _ => forwarded,
    }
}

const DYNAMODB: &str = "DynamoDB_";
const TRANSACT_WRITE_ITEMS: &str = "DynamoDB_20120810.TransactWriteItems";

fn client_request_token(body: &[u8]) -> Option<String> {
    let request: serde_json::Value = serde_json::from_slice(body).ok()?;
    request.get("ClientRequestToken")?.as_str().map(str::to_owned)
}

/// DynamoDB answers a transaction whose `ClientRequestToken` already committed with success and changes
/// nothing (the SDK sets one token per call and keeps it across retries, so a retry after a lost answer is
/// harmless). moto does not implement this, so the proxy does, for the calls it forwarded.
fn replayed_transaction() -> Response {
    let mut response = (StatusCode::OK, "{}").into_response();
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("application/x-amz-json-1.0"));
    response
}

async fn forward(inner: &Inner, parts: axum::http::request::Parts, body: Bytes) -> Result<Response, reqwest::Error> {
    let path = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let mut headers = parts.headers.clone();
    headers.remove(axum::http::header::HOST);
    let upstream = inner
        .http
        .request(parts.method, format!("{}{path}", inner.upstream))
        .headers(headers)
        .body(body)
        .send()
        .await?;
    let status = upstream.status();
    let mut headers = HeaderMap::new();
    for (name, value) in upstream.headers() {
        if name != axum::http::header::TRANSFER_ENCODING && name != axum::http::header::CONNECTION {
            headers.append(name.clone(), value.clone());
        }
    }
    let body = upstream.bytes().await?;
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    Ok(response)
}

/// The throttling error of the service the request is for (by its `X-Amz-Target`), in the service's protocol
/// (all three use AWS JSON; SQS adds the `x-amzn-query-error` header its SDK reads the code from).
fn throttled(target: &str, capacity: bool) -> Response {
    let (error_type, query_error) = if target.starts_with("AmazonSQS.") {
        ("com.amazonaws.sqs#RequestThrottled", Some("RequestThrottled;Sender"))
    } else if target.starts_with(DYNAMODB) {
        // Both of DynamoDB's throttles: the table's capacity, and the account's control plane / on-demand limits.
        if capacity {
            (
                "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
                None,
            )
        } else {
            ("com.amazonaws.dynamodb.v20120810#ThrottlingException", None)
        }
    } else {
        ("ThrottlingException", None)
    };
    let body = serde_json::json!({ "__type": error_type, "message": "Rate exceeded (fault proxy)" }).to_string();
    let mut response = (StatusCode::BAD_REQUEST, body).into_response();
    let headers = response.headers_mut();
    headers.insert("content-type", HeaderValue::from_static("application/x-amz-json-1.0"));
    if let Some(value) = query_error {
        headers.insert("x-amzn-query-error", HeaderValue::from_static(value));
    }
    response
}

fn server_error() -> Response {
    let body = serde_json::json!({
        "__type": "InternalServerError",
        "message": "Internal server error (fault proxy)",
    })
    .to_string();
    let mut response = (StatusCode::INTERNAL_SERVER_ERROR, body).into_response();
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("application/x-amz-json-1.0"));
    response
}
