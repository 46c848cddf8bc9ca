//! A local SMS provider for tests and the demo: an HTTP server on `127.0.0.1` speaking the send APIs of
//! Sinch MessageMedia (`POST /v1/messages`) and Twilio (`POST /2010-04-01/Accounts/{sid}/Messages.json`),
//! recording what would have been sent, failing on request, and pushing replies, delivery reports and
//! status callbacks to the app the way the real providers do.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use sim::sms::{SandboxConfig, SmsSandbox};
//! let sandbox = SmsSandbox::start(SandboxConfig::default()).await?;
//! // point the app at sandbox.api_url(), run it, then:
//! assert_eq!(sandbox.messages_to("+12122014567").len(), 1);
//! # Ok(()) }
//! ```
//!
//! For a demo running the functions as separate processes, `GET /_sandbox/messages` (optionally
//! `?to=+E164`) lists what was accepted, as JSON; it needs no credentials, so keep the sandbox on
//! loopback.
//!
//! Idempotency: neither provider documents request de-duplication, so the sandbox does not de-duplicate
//! either (doing so would hide a double send that production would make). It records the
//! `Idempotency-Key` request header on every message instead, so a test can assert that no key was
//! accepted twice ([`SmsSandbox::duplicate_idempotency_keys`]).

mod inbox;
mod messagemedia;
mod push;
mod twilio;

#[cfg(test)]
mod tests;

pub use inbox::{ReceivedRequest, WebhookInbox};
pub use push::{DeliveryStatus, PushError, WebhookDelivery};
pub use twilio::twilio_signature;

use axum::Router;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinHandle;

/// Credentials the sandbox accepts. [`SandboxConfig::default`] matches what the app's client uses for
/// `SMS_PROVIDER=sandbox` (MessageMedia Basic auth `sandbox:sandbox`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxConfig {
    pub api_key: String,
    pub api_secret: String,
    pub twilio_account_sid: String,
    pub twilio_auth_token: String,
    /// When set, MessageMedia pushes are signed with this key, as an account with an enabled signature key
    /// signs them (`X-MESSAGEMEDIA-SIGNATURE` and friends).
    pub messagemedia_signing_key: Option<rsa::RsaPrivateKey>,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            api_key: "sandbox".into(),
            api_secret: "sandbox".into(),
            twilio_account_sid: "AC00000000000000000000000000000000".into(),
            twilio_auth_token: "sandbox-twilio-auth-token".into(),
            messagemedia_signing_key: None,
        }
    }
}

/// Which provider API accepted a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderApi {
    MessageMedia,
    Twilio,
}

/// One accepted message, as the provider would hold it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SentMessage {
    /// MessageMedia `message_id` (UUID) or Twilio `sid` (`SM...`).
    pub id: String,
    pub api: ProviderApi,
    /// `destination_number` / `To`, E.164.
    pub to: String,
    /// `source_number` / `From`.
    pub from: Option<String>,
    /// Twilio `MessagingServiceSid`.
    pub messaging_service_sid: Option<String>,
    pub content: String,
    pub metadata: BTreeMap<String, String>,
    /// MessageMedia `callback_url` / Twilio `StatusCallback`.
    pub callback_url: Option<String>,
    /// MessageMedia `delivery_report` (always true for Twilio, which reports to `StatusCallback`).
    pub delivery_report: bool,
    pub scheduled: Option<DateTime<Utc>>,
    /// MessageMedia `message_expiry_timestamp`, or Twilio's acceptance time plus `ValidityPeriod`.
    pub expires_at: Option<DateTime<Utc>>,
    /// Twilio `ValidityPeriod` in seconds, as sent.
    pub validity_period: Option<u32>,
    /// The `Idempotency-Key` request header, when the client sent one.
    pub idempotency_key: Option<String>,
    pub accepted_at: DateTime<Utc>,
    /// The provider's status word: `queued` until a delivery report or status callback changes it.
    pub status: String,
    /// The message exactly as received: the JSON object, or the form parameters as a JSON object.
    pub request: serde_json::Value,
}

/// A failure the next send requests meet, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// Answer with this HTTP status and the provider's error body; nothing is recorded.
    Status(u16),
    /// Accept and record the message, then hold the answer back this long: a provider whose response is
    /// lost or late (the client times out although the message went out).
    SlowAnswer(Duration),
}

/// The account-level webhook MessageMedia pushes to when a message carries no `callback_url`.
#[derive(Debug, Clone, Default)]
struct AccountWebhook {
    url: String,
    headers: Vec<(String, String)>,
}

type ClockFn = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

#[derive(Default)]
struct State {
    messages: Vec<SentMessage>,
    faults: VecDeque<Fault>,
    /// The API is down: every send request gets 503 until it is back.
    down: bool,
    opted_out: HashSet<String>,
    invalid: HashSet<String>,
    webhook: Option<AccountWebhook>,
}

struct Inner {
    config: SandboxConfig,
    http: reqwest::Client,
    state: Mutex<State>,
    clock: Mutex<ClockFn>,
}

impl Inner {
    fn now(&self) -> DateTime<Utc> {
        let clock = self.clock.lock().expect("sandbox clock lock").clone();
        clock()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("sandbox state lock")
    }

    fn next_fault(&self) -> Option<Fault> {
        let mut state = self.state();
        if state.down {
            return Some(Fault::Status(503));
        }
        state.faults.pop_front()
    }
}

/// The running sandbox. Dropping it stops the server.
pub struct SmsSandbox {
    inner: Arc<Inner>,
    addr: SocketAddr,
    server: JoinHandle<()>,
}

impl SmsSandbox {
    /// Binds `127.0.0.1` on a free port and serves until dropped. Must be called inside a Tokio runtime.
    pub async fn start(config: SandboxConfig) -> std::io::Result<Self> {
        // How long the provider waits for the app to answer a push. MessageMedia lets an account set up to 60 s;
        // 30 s leaves room for the app's AWS retries under the fault re-run (each timed-out attempt costs 2 s).
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(std::io::Error::other)?;
        let inner = Arc::new(Inner {
            config,
            http,
            state: Mutex::new(State::default()),
            clock: Mutex::new(Arc::new(Utc::now)),
        });
        let app = Router::new()
            .route("/v1/messages", post(messagemedia::send))
            .route("/v1/messages/{id}", get(messagemedia::get_message))
            .route("/2010-04-01/Accounts/{sid}/Messages.json", post(twilio::send))
            .route("/2010-04-01/Accounts/{sid}/Messages/{file}", get(twilio::get_message))
            .route("/_sandbox/messages", get(list_messages))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let server = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, app).await {
                tracing::error!(%error, "sms sandbox server stopped");
            }
        });
        Ok(Self { inner, addr, server })
    }

    /// Base URL for both API shapes, e.g. `http://127.0.0.1:40123` (no trailing slash).
    pub fn api_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn config(&self) -> &SandboxConfig {
        &self.inner.config
    }

    /// Timestamps (acceptance, `date_received`, Twilio expiry) come from this clock; the system clock by
    /// default. Tests that drive the app with a manual clock hand the same time source here.
    pub fn set_clock(&self, clock: impl Fn() -> DateTime<Utc> + Send + Sync + 'static) {
        *self.inner.clock.lock().expect("sandbox clock lock") = Arc::new(clock);
    }

    // --- inspection -------------------------------------------------------------------------------

    /// Every accepted message, oldest first.
    pub fn messages(&self) -> Vec<SentMessage> {
        self.inner.state().messages.clone()
    }

    /// Accepted messages to one E.164 number, oldest first.
    pub fn messages_to(&self, e164: &str) -> Vec<SentMessage> {
        self.inner
            .state()
            .messages
            .iter()
            .filter(|m| m.to == e164)
            .cloned()
            .collect()
    }

    /// One message by MessageMedia `message_id` or Twilio `sid`.
    pub fn message(&self, id: &str) -> Option<SentMessage> {
        self.inner.state().messages.iter().find(|m| m.id == id).cloned()
    }

    /// Idempotency keys that were accepted more than once: what a double send looks like.
    pub fn duplicate_idempotency_keys(&self) -> Vec<String> {
        let state = self.inner.state();
        let mut seen = HashSet::new();
        let mut duplicates = Vec::new();
        for key in state.messages.iter().filter_map(|m| m.idempotency_key.as_ref()) {
            if !seen.insert(key) && !duplicates.contains(key) {
                duplicates.push(key.clone());
            }
        }
        duplicates
    }

    /// Forgets recorded messages (faults and number markings stay).
    pub fn clear(&self) {
        self.inner.state().messages.clear();
    }

    // --- fault injection --------------------------------------------------------------------------

    /// The next `count` send requests (either API) get HTTP `status` with the provider's error body and
    /// send nothing. 500, 503 and 429 are the interesting ones.
    pub fn fail_next(&self, count: usize, status: u16) {
        let mut state = self.inner.state();
        state.faults.extend(std::iter::repeat_n(Fault::Status(status), count));
    }

    /// The next `count` send requests are accepted and recorded, but answered only after `delay`: a
    /// client with a shorter timeout sees a timeout for a message that did go out.
    pub fn delay_next(&self, count: usize, delay: Duration) {
        let mut state = self.inner.state();
        state
            .faults
            .extend(std::iter::repeat_n(Fault::SlowAnswer(delay), count));
    }

    /// An outage of the provider's API (`true`) until it is back (`false`): every send request, either API,
    /// gets HTTP 503 with the provider's error body and sends nothing.
    pub fn set_down(&self, down: bool) {
        self.inner.state().down = down;
    }

    /// Drops pending faults.
    pub fn clear_faults(&self) {
        self.inner.state().faults.clear();
    }

    /// The number replied STOP to the carrier or provider: Twilio refuses sends with error 21610.
    /// (MessageMedia accepts such a send; its delivery report then says rejected with code 302 or 412:
    /// simulate that with [`SmsSandbox::deliver_report`].)
    pub fn opt_out_at_carrier(&self, e164: &str) {
        self.inner.state().opted_out.insert(e164.to_owned());
    }

    /// Undoes [`SmsSandbox::opt_out_at_carrier`] (the recipient texted START).
    pub fn opt_in_at_carrier(&self, e164: &str) {
        self.inner.state().opted_out.remove(e164);
    }

    /// The number is well-formed but unusable: MessageMedia answers 400 on `destination_number`, Twilio
    /// 21211.
    pub fn mark_invalid(&self, e164: &str) {
        self.inner.state().invalid.insert(e164.to_owned());
    }

    // --- MessageMedia account webhook -------------------------------------------------------------

    /// The account-level webhook (MessageMedia's `POST /v1/webhooks/messages`): replies and delivery
    /// reports for messages without a `callback_url` go here, with these extra headers (which is how the
    /// app authenticates unsigned pushes). Pushes to a message's own `callback_url` carry no custom
    /// headers, as in production.
    pub fn set_webhook(&self, url: &str, headers: &[(&str, &str)]) {
        self.inner.state().webhook = Some(AccountWebhook {
            url: url.to_owned(),
            headers: headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        });
    }

    pub fn clear_webhook(&self) {
        self.inner.state().webhook = None;
    }
}

impl Drop for SmsSandbox {
    fn drop(&mut self) {
        self.server.abort();
    }
}

#[derive(serde::Deserialize)]
struct MessagesQuery {
    to: Option<String>,
}

async fn list_messages(
    axum::extract::State(inner): axum::extract::State<Arc<Inner>>,
    axum::extract::Query(query): axum::extract::Query<MessagesQuery>,
) -> axum::Json<Vec<SentMessage>> {
    let state = inner.state();
    axum::Json(
        state
            .messages
            .iter()
            .filter(|m| query.to.as_deref().is_none_or(|to| m.to == to))
            .cloned()
            .collect(),
    )
}

/// `+` and 8 to 15 digits, not starting with 0: the E.164 form both providers require.
fn is_e164(value: &str) -> bool {
    value.strip_prefix('+').is_some_and(|digits| {
        (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0')
    })
}

/// The `user:password` pair of a Basic `Authorization` header.
fn basic_credentials(headers: &axum::http::HeaderMap) -> Option<(String, String)> {
    use base64::Engine;
    let value = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

fn idempotency_key(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}
