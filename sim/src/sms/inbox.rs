//! A stand-in for the app's webhook endpoint: records every request and answers with a chosen status.
//! Lets the sandbox's pushes be checked (and a provider client's inbound parsing be tested) without
//! running the app.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use tokio::task::JoinHandle;

/// One request the inbox received.
#[derive(Debug, Clone)]
pub struct ReceivedRequest {
    pub method: String,
    /// Path and query, e.g. `/webhooks/sms?token=abc`.
    pub path_and_query: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl ReceivedRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct Recorded {
    requests: Mutex<Vec<ReceivedRequest>>,
    answer: AtomicU16,
}

/// An HTTP server on `127.0.0.1` that accepts any method on any path. Dropping it stops the server.
pub struct WebhookInbox {
    recorded: Arc<Recorded>,
    addr: SocketAddr,
    server: JoinHandle<()>,
}

impl WebhookInbox {
    /// Starts answering 200 to everything.
    pub async fn start() -> std::io::Result<Self> {
        let recorded = Arc::new(Recorded {
            requests: Mutex::default(),
            answer: AtomicU16::new(200),
        });
        let app = Router::new().fallback(record).with_state(recorded.clone());
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let server = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, app).await {
                tracing::error!(%error, "webhook inbox stopped");
            }
        });
        Ok(Self { recorded, addr, server })
    }

    /// The full URL of `path_and_query` on this inbox (`path_and_query` starts with `/`).
    pub fn url(&self, path_and_query: &str) -> String {
        format!("http://{}{}", self.addr, path_and_query)
    }

    /// From now on, answer every request with `status`.
    pub fn answer_with(&self, status: u16) {
        self.recorded.answer.store(status, Ordering::SeqCst);
    }

    pub fn requests(&self) -> Vec<ReceivedRequest> {
        self.recorded.requests.lock().expect("inbox lock").clone()
    }
}

impl Drop for WebhookInbox {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn record(
    State(recorded): State<Arc<Recorded>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let request = ReceivedRequest {
        method: method.to_string(),
        path_and_query: uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| uri.path().to_owned()),
        headers: headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    recorded.requests.lock().expect("inbox lock").push(request);
    StatusCode::from_u16(recorded.answer.load(Ordering::SeqCst)).unwrap_or(StatusCode::OK)
}
