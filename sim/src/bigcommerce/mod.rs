//! A stateful BigCommerce: the login service's token endpoint and the store APIs the app uses, served over
//! real HTTP on a loopback port, plus a Rust API for tests to seed stores, act as shoppers and merchants,
//! inject faults and inspect what the app did.
//!
//! Served: `POST /oauth2/token`; under `/stores/{hash}`: v3 `hooks`, `content/scripts`, `customers` (with
//! `attributes`, `attribute-values`, `{id}/metafields`, `subscribers`), `carts` (+ `redirect_urls`),
//! `checkouts/{id}`, `abandoned-carts/{token}` and `abandoned-carts/settings`; v2 `customer_groups`, `orders`,
//! `store`. Redirect URLs point at `/storefront/{hash}/cart.php` on the simulator and work once.
//!
//! Actions taken through the Rust API (`create_customer`, `create_cart`, `place_order`, ...) deliver their
//! webhooks before returning, unless [`BigCommerceSim::hold_webhooks`] is on; events caused by API calls
//! (`POST /v3/carts`) are delivered in the background, as BigCommerce does.
//!
//! ```no_run
//! # async fn demo() {
//! use sim::bigcommerce::{BigCommerceSim, SimConfig, StoreSeed};
//! let bc = BigCommerceSim::start(SimConfig::default()).await;
//! bc.create_store("abc123", StoreSeed::default());
//! let grant = bc.authorize_install("abc123", &["store_v2_customers"]);
//! // The merchant's browser now calls the app's `/auth?{grant.callback_query()}`.
//! # }
//! ```

mod api;
mod jwt;
mod model;
mod seed;
mod webhooks;

pub use jwt::{JwtClaims, JwtUser, sign_jwt};
pub use model::{
    AbandonedCartSettings, Attribute, AttributeValue, BillingAddress, Cart, CartItem, CartSeed, ConsentCategory,
    Customer, CustomerAddress, CustomerGroup, CustomerSeed, Hook, ItemSeed, LoadMethod, Metafield, Order, Promotion,
    PromotionCode, RedirectVisit, Script, ScriptKind, ScriptLocation, StoreSeed, Subscriber, SubscriberSeed,
    Visibility,
};
pub use seed::SeedSummary;
pub use webhooks::{DeliveryRecord, WebhookEvent, webhook_signature};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The app as BigCommerce knows it, and the store quota.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub client_id: String,
    pub client_secret: String,
    /// The app's `/auth` URL; the token exchange must repeat it exactly.
    pub redirect_uri: String,
    pub account_uuid: String,
    /// Requests each store allows per window (150 on Standard and Plus plans).
    pub requests_per_window: u32,
    pub window: Duration,
    /// How long a webhook delivery may take before it counts as failed.
    pub webhook_timeout: Duration,
    /// The waits before delivering again an event a hook did not acknowledge. BigCommerce's are 60 s, 180 s,
    /// 300 s and so on over 48 hours; the default is that schedule's start in seconds instead of minutes, for
    /// tests (the app's own clock, which decides when a stalled delivery may be taken over, is theirs to move).
    pub webhook_retry_intervals: Vec<Duration>,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            client_id: "sim-client-id".into(),
            client_secret: "sim-client-secret".into(),
            redirect_uri: "https://app.example.com/auth".into(),
            account_uuid: "12345678-90ab-cdef-1234-567890abcdef".into(),
            requests_per_window: 150,
            window: Duration::from_secs(30),
            webhook_timeout: Duration::from_secs(10),
            webhook_retry_intervals: [1, 3, 5, 10].map(Duration::from_secs).to_vec(),
        }
    }
}

/// What the merchant's browser brings to the app's `/auth` after accepting the install.
#[derive(Debug, Clone)]
pub struct InstallGrant {
    pub code: String,
    /// Space-separated granted scopes.
    pub scope: String,
    /// `stores/{hash}`.
    pub context: String,
    pub account_uuid: String,
}

impl InstallGrant {
    /// The query string BigCommerce puts on `GET /auth?...`.
    pub fn callback_query(&self) -> String {
        serde_urlencoded::to_string([
            ("account_uuid", self.account_uuid.as_str()),
            ("code", self.code.as_str()),
            ("context", self.context.as_str()),
            ("scope", self.scope.as_str()),
        ])
        .expect("plain strings encode")
    }
}

/// An error or a slow response to return instead of (or before) the normal one.
#[derive(Debug, Clone)]
pub struct Fault {
    /// `None` matches every method.
    pub method: Option<String>,
    /// Matches when the request path and query (e.g. `/stores/abc/v3/customers?page=3&limit=250`) contain
    /// this.
    pub path_contains: String,
    /// The status to return (429 comes without rate-limit headers, like a platform overload). `None` with a
    /// `delay` slows the normal response down.
    pub status: Option<u16>,
    /// How many requests it affects.
    pub times: u32,
    pub delay: Option<Duration>,
    /// The error body to answer with (default: a v3 error naming the status).
    pub body: Option<serde_json::Value>,
}

impl Fault {
    pub fn status(status: u16, path_contains: &str) -> Self {
        Self {
            method: None,
            path_contains: path_contains.into(),
            status: Some(status),
            times: 1,
            delay: None,
            body: None,
        }
    }

    pub fn delay(delay: Duration, path_contains: &str) -> Self {
        Self {
            method: None,
            path_contains: path_contains.into(),
            status: None,
            times: 1,
            delay: Some(delay),
            body: None,
        }
    }

    pub fn method(mut self, method: &str) -> Self {
        self.method = Some(method.to_ascii_uppercase());
        self
    }

    pub fn times(mut self, times: u32) -> Self {
        self.times = times;
        self
    }

    /// Answers with this error body (e.g. one quoting customer data, as BigCommerce's 422s may).
    pub fn body(mut self, body: serde_json::Value) -> Self {
        self.body = Some(body);
        self
    }
}

/// Per-store counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Every API request that reached the store, whatever its answer.
    pub requests: u64,
    /// 429s for exceeding the quota.
    pub rate_limited: u64,
    /// Responses replaced by an injected fault.
    pub faults: u64,
}

#[derive(Debug, Clone)]
pub struct RequestRecord {
    pub method: String,
    pub path: String,
    pub query: String,
    pub status: u16,
    pub at: DateTime<Utc>,
}

/// A product remembered from carts, so `POST /v3/carts` can name it by id alone.
#[derive(Debug, Clone)]
pub(crate) struct Product {
    pub name: String,
    pub price_cents: i64,
    pub image_url: String,
}

#[derive(Debug, Clone)]
pub(crate) struct RedirectToken {
    pub cart_id: String,
    pub used: bool,
}

#[derive(Debug, Default)]
pub(crate) struct RateWindow {
    pub started: Option<Instant>,
    pub used: u32,
}

pub(crate) struct StoreState {
    pub hash: String,
    pub info: StoreSeed,
    pub store_id: u64,
    pub scopes: Vec<String>,
    pub groups: BTreeMap<u64, CustomerGroup>,
    pub customers: BTreeMap<u64, Customer>,
    pub attributes: BTreeMap<u64, Attribute>,
    pub attribute_values: BTreeMap<u64, AttributeValue>,
    pub metafields: BTreeMap<u64, Metafield>,
    pub subscribers: BTreeMap<u64, Subscriber>,
    pub carts: BTreeMap<String, Cart>,
    pub orders: BTreeMap<u64, Order>,
    pub promotions: BTreeMap<u64, Promotion>,
    /// Coupon codes a store may still create (BigCommerce's limit); `None`: no limit.
    pub coupon_code_quota: Option<u32>,
    pub hooks: BTreeMap<u64, Hook>,
    pub scripts: Vec<Script>,
    pub products: HashMap<u64, Product>,
    pub abandoned_tokens: HashMap<String, String>,
    pub redirect_tokens: HashMap<String, RedirectToken>,
    pub redirect_visits: Vec<RedirectVisit>,
    pub settings: AbandonedCartSettings,
    pub quota: u32,
    pub window: Duration,
    pub rate: RateWindow,
    pub stats: StoreStats,
    pub requests: Vec<RequestRecord>,
    /// Fields that `GET /v3/customers` answers in place of a customer's own (a malformed record).
    pub customer_patches: BTreeMap<u64, serde_json::Map<String, Value>>,
    ids: HashMap<&'static str, u64>,
}

impl StoreState {
    fn new(hash: &str, info: StoreSeed, store_id: u64, config: &SimConfig) -> Self {
        let settings = AbandonedCartSettings {
            merchant_email_address: info.admin_email.clone(),
            ..AbandonedCartSettings::default()
        };
        Self {
            hash: hash.into(),
            info,
            store_id,
            scopes: Vec::new(),
            groups: BTreeMap::new(),
            customers: BTreeMap::new(),
            attributes: BTreeMap::new(),
            attribute_values: BTreeMap::new(),
            metafields: BTreeMap::new(),
            subscribers: BTreeMap::new(),
            carts: BTreeMap::new(),
            orders: BTreeMap::new(),
            promotions: BTreeMap::new(),
            coupon_code_quota: None,
            hooks: BTreeMap::new(),
            scripts: Vec::new(),
            products: HashMap::new(),
            abandoned_tokens: HashMap::new(),
            redirect_tokens: HashMap::new(),
            redirect_visits: Vec::new(),
            settings,
            quota: config.requests_per_window,
            window: config.window,
            rate: RateWindow::default(),
            stats: StoreStats::default(),
            requests: Vec::new(),
            customer_patches: BTreeMap::new(),
            ids: HashMap::new(),
        }
    }

    /// Sequential ids per kind, starting where BigCommerce's examples do (orders in the hundreds).
    pub(crate) fn next_id(&mut self, kind: &'static str) -> u64 {
        let start = match kind {
            "order" => 100,
            "hook" => 18_048_000,
            "product" => 100,
            _ => 1,
        };
        let id = self.ids.entry(kind).or_insert(start);
        let current = *id;
        *id += 1;
        current
    }

    /// Fixed windows that start with the first request after the previous one ended. Returns
    /// `(allowed, requests_left, ms_until_reset)`.
    pub(crate) fn take_quota(&mut self, now: Instant) -> (bool, u32, u64) {
        let expired = self
            .rate
            .started
            .is_none_or(|start| now.duration_since(start) >= self.window);
        if expired {
            self.rate = RateWindow {
                started: Some(now),
                used: 0,
            };
        }
        let start = self.rate.started.unwrap_or(now);
        let reset = self.window.saturating_sub(now.duration_since(start));
        let reset_ms = reset.as_millis().max(1) as u64;
        if self.rate.used >= self.quota {
            return (false, 0, reset_ms);
        }
        self.rate.used += 1;
        (true, self.quota - self.rate.used, reset_ms)
    }

    /// The window as a request would see it, without spending anything: `(requests_left, ms_until_reset)`.
    pub(crate) fn peek_quota(&self, now: Instant) -> (u32, u64) {
        match self.rate.started {
            Some(start) if now.duration_since(start) < self.window => {
                let reset = self.window - now.duration_since(start);
                (
                    self.quota.saturating_sub(self.rate.used),
                    reset.as_millis().max(1) as u64,
                )
            }
            _ => (self.quota, self.window.as_millis() as u64),
        }
    }

    pub(crate) fn upsert_product(&mut self, item: &ItemSeed) -> u64 {
        let id = match item.product_id {
            Some(id) => id,
            None => self.next_id("product"),
        };
        self.products.insert(
            id,
            Product {
                name: item.name.clone(),
                price_cents: model::to_cents(item.price),
                image_url: item.image_url.clone(),
            },
        );
        id
    }

    pub(crate) fn cart_item(&mut self, product_id: u64, item: &ItemSeed) -> CartItem {
        CartItem {
            id: uuid::Uuid::new_v4().to_string(),
            product_id,
            variant_id: item.variant_id.unwrap_or(product_id + 1000),
            sku: format!("SKU-{product_id}"),
            name: item.name.clone(),
            quantity: item.quantity,
            price_cents: model::to_cents(item.price),
            image_url: item.image_url.clone(),
        }
    }

    pub(crate) fn new_customer(&mut self, seed: CustomerSeed) -> u64 {
        let id = self.next_id("customer");
        let now = Utc::now();
        let mut addresses = seed.addresses;
        for address in &mut addresses {
            address.id = self.next_id("address");
            address.customer_id = id;
        }
        self.customers.insert(
            id,
            Customer {
                id,
                email: seed.email,
                first_name: seed.first_name,
                last_name: seed.last_name,
                company: seed.company,
                phone: seed.phone,
                notes: seed.notes,
                customer_group_id: seed.customer_group_id,
                accepts_product_review_abandoned_cart_emails: seed.accepts_product_review_abandoned_cart_emails,
                addresses,
                origin_channel_id: seed.origin_channel_id,
                date_created: now,
                date_modified: now,
            },
        );
        id
    }

    /// Storefront and redirect URLs live on the simulator itself, under `/storefront/{hash}`.
    pub(crate) fn redirect_urls(&mut self, base_url: &str, cart_id: &str) -> Value {
        let mut url = |action: &str, embedded: bool| {
            let token = hex::encode(uuid::Uuid::new_v4().as_bytes());
            self.redirect_tokens.insert(
                token.clone(),
                RedirectToken {
                    cart_id: cart_id.into(),
                    used: false,
                },
            );
            let embedded = if embedded { "embedded=1&" } else { "" };
            format!(
                "{base_url}/storefront/{}/cart.php?{embedded}action={action}&id={cart_id}&token={token}",
                self.hash
            )
        };
        let cart_url = url("load", false);
        let checkout_url = url("loadInCheckout", false);
        let embedded_checkout_url = url("loadInCheckout", true);
        json!({
            "cart_url": cart_url,
            "checkout_url": checkout_url,
            "embedded_checkout_url": embedded_checkout_url,
        })
    }
}

pub(crate) struct Grant {
    pub store_hash: String,
    pub scope: String,
}

#[derive(Default)]
pub(crate) struct SimState {
    pub stores: HashMap<String, StoreState>,
    pub grants: HashMap<String, Grant>,
    /// access token -> store hash
    pub tokens: HashMap<String, String>,
    pub faults: Vec<Fault>,
    pub hold_webhooks: bool,
    pub pending: Vec<WebhookEvent>,
    pub deliveries: Vec<DeliveryRecord>,
    next_store_id: u64,
}

impl SimState {
    /// Takes one use of the first fault matching the request.
    pub(crate) fn take_fault(&mut self, method: &str, path: &str) -> Option<Fault> {
        let index = self.faults.iter().position(|f| {
            f.times > 0 && f.method.as_deref().is_none_or(|m| m == method) && path.contains(&f.path_contains)
        })?;
        let fault = &mut self.faults[index];
        fault.times -= 1;
        let taken = fault.clone();
        if fault.times == 0 {
            self.faults.remove(index);
        }
        Some(taken)
    }
}

/// Where the simulator reads the time its callback JWTs are issued at.
type ClockFn = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

pub(crate) struct Inner {
    pub config: SimConfig,
    pub base_url: String,
    pub state: Mutex<SimState>,
    pub http: reqwest::Client,
    pub jwt_clock: Mutex<ClockFn>,
}

impl Inner {
    pub(crate) fn with_store<T>(&self, hash: &str, f: impl FnOnce(&mut StoreState) -> T) -> T {
        let mut state = self.lock();
        let store = state
            .stores
            .get_mut(hash)
            .unwrap_or_else(|| panic!("no simulated store {hash:?}: call create_store first"));
        f(store)
    }

    pub(crate) fn authorize_install(&self, hash: &str, scopes: &[&str]) -> InstallGrant {
        assert!(self.lock().stores.contains_key(hash), "no simulated store {hash:?}");
        let code = hex::encode(&uuid::Uuid::new_v4().as_bytes()[..8]);
        let scope = scopes.join(" ");
        self.lock().grants.insert(
            code.clone(),
            Grant {
                store_hash: hash.into(),
                scope: scope.clone(),
            },
        );
        InstallGrant {
            code,
            scope,
            context: format!("stores/{hash}"),
            account_uuid: self.config.account_uuid.clone(),
        }
    }

    /// The simulator's time (see [`BigCommerceSim::set_jwt_clock`]).
    pub(crate) fn now(&self) -> DateTime<Utc> {
        let clock = self.jwt_clock.lock().unwrap_or_else(|p| p.into_inner()).clone();
        clock()
    }

    /// Claims for a store's owner opening the app, valid for 24 hours from now. Like BigCommerce's, every
    /// token has its own `jti` and is issued now (`iat`).
    pub(crate) fn jwt_claims(&self, hash: &str) -> JwtClaims {
        let info = self.with_store(hash, |s| s.info.clone());
        let clock = self.jwt_clock.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let now = clock().timestamp();
        JwtClaims {
            aud: self.config.client_id.clone(),
            iss: "bc".into(),
            iat: now,
            nbf: now,
            exp: now + 24 * 3600,
            jti: uuid::Uuid::new_v4().to_string(),
            sub: format!("stores/{hash}"),
            user: JwtUser {
                id: info.owner_id,
                email: info.owner_email.clone(),
                locale: Some("en-US".into()),
            },
            owner: JwtUser {
                id: info.owner_id,
                email: info.owner_email,
                locale: None,
            },
            url: "/".into(),
            channel_id: None,
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, SimState> {
        // A panicking test thread must not take every later assertion down with it.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Turns (scope, data) pairs into events and delivers them, or holds them when the test asked to.
    pub(crate) async fn emit(&self, store_hash: &str, events: Vec<(String, Value)>) {
        for (scope, data) in events {
            let event = {
                let mut state = self.lock();
                let Some(store) = state.stores.get(store_hash) else {
                    return;
                };
                let event = WebhookEvent::new(store_hash, store.store_id, &scope, data);
                if state.hold_webhooks {
                    state.pending.push(event);
                    continue;
                }
                event
            };
            self.deliver_until_acknowledged(&event).await;
        }
    }

    /// Posts the event once to every active hook of the store whose scope matches, in hook order.
    pub(crate) async fn deliver(&self, event: &WebhookEvent) -> Vec<DeliveryRecord> {
        let mut records = Vec::new();
        for hook in self.hooks_for(event) {
            records.push(self.post(&hook, event).await);
        }
        records
    }

    /// Delivers the event as BigCommerce does: a hook that did not acknowledge it gets it again after each
    /// of [`SimConfig::webhook_retry_intervals`] until it does. Every attempt's record, in order.
    pub(crate) async fn deliver_until_acknowledged(&self, event: &WebhookEvent) -> Vec<DeliveryRecord> {
        let mut records = Vec::new();
        for hook in self.hooks_for(event) {
            let mut record = self.post(&hook, event).await;
            for interval in &self.config.webhook_retry_intervals {
                if record.succeeded() {
                    break;
                }
                records.push(record);
                tokio::time::sleep(*interval).await;
                record = self.post(&hook, event).await;
            }
            records.push(record);
        }
        records
    }

    fn hooks_for(&self, event: &WebhookEvent) -> Vec<Hook> {
        let state = self.lock();
        state
            .stores
            .get(&event.store_hash)
            .map(|s| {
                s.hooks
                    .values()
                    .filter(|h| h.is_active && h.matches(&event.scope))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// One delivery attempt to one hook, recorded.
    async fn post(&self, hook: &Hook, event: &WebhookEvent) -> DeliveryRecord {
        let timestamp = Utc::now().timestamp();
        let signature = webhook_signature(&self.config.client_secret, &event.id, timestamp, &event.body);
        let mut request = self
            .http
            .post(&hook.destination)
            .header("content-type", "application/json")
            .header("user-agent", "BigCommerce-Simulator-Webhooks")
            .header("webhook-id", &event.id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .timeout(self.config.webhook_timeout)
            .body(event.body.clone());
        for (name, value) in hook.headers.iter().flatten() {
            request = request.header(name.as_str(), value.as_str());
        }
        let (status, error) = match request.send().await {
            Ok(response) => (Some(response.status().as_u16()), None),
            Err(e) => (None, Some(e.to_string())),
        };
        let record = DeliveryRecord {
            event_id: event.id.clone(),
            hook_id: hook.id,
            store_hash: event.store_hash.clone(),
            scope: event.scope.clone(),
            destination: hook.destination.clone(),
            hash: event.hash.clone(),
            status,
            error,
            at: Utc::now(),
        };
        self.lock().deliveries.push(record.clone());
        record
    }
}

/// The running simulator. Dropping it stops the server.
pub struct BigCommerceSim {
    inner: Arc<Inner>,
    addr: SocketAddr,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for BigCommerceSim {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn cart_events(scopes: &[&str], cart_id: &str) -> Vec<(String, Value)> {
    scopes
        .iter()
        .map(|s| (s.to_string(), json!({"type": "cart", "id": cart_id})))
        .collect()
}

impl BigCommerceSim {
    /// Binds 127.0.0.1 on a free port and serves until dropped.
    pub async fn start(config: SimConfig) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let addr = listener.local_addr().expect("bound address");
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("HTTP client");
        let inner = Arc::new(Inner {
            config,
            base_url: format!("http://{addr}"),
            state: Mutex::new(SimState {
                next_store_id: 1_000_001,
                ..SimState::default()
            }),
            http,
            jwt_clock: Mutex::new(Arc::new(Utc::now)),
        });
        let app = api::router(inner.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { inner, addr, server }
    }

    /// `BC_API_URL`: the app appends `/stores/{hash}/v3/...` and `/stores/{hash}/v2/...`.
    pub fn api_url(&self) -> String {
        self.inner.base_url.clone()
    }

    /// `BC_LOGIN_URL`: the app posts to `/oauth2/token` here.
    pub fn login_url(&self) -> String {
        self.inner.base_url.clone()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn config(&self) -> &SimConfig {
        &self.inner.config
    }

    fn with_store<T>(&self, hash: &str, f: impl FnOnce(&mut StoreState) -> T) -> T {
        self.inner.with_store(hash, f)
    }

    // ---- stores and installation ----

    pub fn create_store(&self, hash: &str, seed: StoreSeed) {
        let mut state = self.inner.lock();
        let store_id = state.next_store_id;
        state.next_store_id += 1;
        let store = StoreState::new(hash, seed, store_id, &self.inner.config);
        state.stores.insert(hash.into(), store);
    }

    /// The numeric id BigCommerce puts in webhook `store_id`.
    pub fn store_id(&self, hash: &str) -> u64 {
        self.with_store(hash, |s| s.store_id)
    }

    /// The merchant accepts the app: returns the single-use grant code and what goes on `/auth`.
    pub fn authorize_install(&self, hash: &str, scopes: &[&str]) -> InstallGrant {
        self.inner.authorize_install(hash, scopes)
    }

    /// An access token without the OAuth dance, for tests about other things.
    pub fn issue_token(&self, hash: &str) -> String {
        let token = hex::encode(uuid::Uuid::new_v4().as_bytes());
        let mut state = self.inner.lock();
        assert!(state.stores.contains_key(hash), "no simulated store {hash:?}");
        state.tokens.insert(token.clone(), hash.into());
        token
    }

    /// Scopes granted by the last successful token exchange.
    pub fn granted_scopes(&self, hash: &str) -> Vec<String> {
        self.with_store(hash, |s| s.scopes.clone())
    }

    /// Every token of the store stops working (the app was uninstalled or its scopes changed).
    pub fn revoke_tokens(&self, hash: &str) {
        self.inner.lock().tokens.retain(|_, h| h != hash);
    }

    /// The merchant uninstalls the app: tokens revoked, the app's hooks and `auto_uninstall` scripts deleted.
    /// Returns the `signed_payload_jwt` BigCommerce sends to the app's `/uninstall`.
    pub fn uninstall(&self, hash: &str) -> String {
        self.revoke_tokens(hash);
        let client_id = self.inner.config.client_id.clone();
        self.with_store(hash, |s| {
            s.hooks.retain(|_, h| h.client_id != client_id);
            s.scripts
                .retain(|sc| !(sc.api_client_id == client_id && sc.auto_uninstall));
        });
        self.load_jwt(hash)
    }

    /// Callback JWTs are issued at this clock's time (`iat`, `nbf`, `exp`), and shoppers' carts are stamped
    /// with it (`created_time`, `updated_time`); the system clock by default. Tests that drive the app with a
    /// manual clock hand the same time source here.
    pub fn set_jwt_clock(&self, clock: impl Fn() -> DateTime<Utc> + Send + Sync + 'static) {
        *self.inner.jwt_clock.lock().unwrap_or_else(|p| p.into_inner()) = Arc::new(clock);
    }

    /// Claims for a store's owner opening the app, valid for 24 hours from now.
    pub fn jwt_claims(&self, hash: &str) -> JwtClaims {
        self.inner.jwt_claims(hash)
    }

    /// Signs claims with the app's client secret.
    pub fn sign_jwt(&self, claims: &JwtClaims) -> String {
        sign_jwt(claims, &self.inner.config.client_secret)
    }

    /// A valid `signed_payload_jwt` for `/load` by the store owner.
    pub fn load_jwt(&self, hash: &str) -> String {
        self.sign_jwt(&self.jwt_claims(hash))
    }

    // ---- quota, faults, counters ----

    /// Overrides the quota of one store.
    pub fn set_rate_limit(&self, hash: &str, requests_per_window: u32, window: Duration) {
        self.with_store(hash, |s| {
            s.quota = requests_per_window;
            s.window = window;
            s.rate = RateWindow::default();
        });
    }

    pub fn inject_fault(&self, fault: Fault) {
        self.inner.lock().faults.push(fault);
    }

    pub fn clear_faults(&self) {
        self.inner.lock().faults.clear();
    }

    pub fn stats(&self, hash: &str) -> StoreStats {
        self.with_store(hash, |s| s.stats)
    }

    /// Every API request the store received, oldest first.
    pub fn requests(&self, hash: &str) -> Vec<RequestRecord> {
        self.with_store(hash, |s| s.requests.clone())
    }

    // ---- merchant data ----

    pub fn set_store_info(&self, hash: &str, f: impl FnOnce(&mut StoreSeed)) {
        self.with_store(hash, |s| f(&mut s.info));
    }

    pub fn create_customer_group(&self, hash: &str, name: &str) -> u64 {
        self.with_store(hash, |s| {
            let id = s.next_id("group");
            let now = Utc::now();
            s.groups.insert(
                id,
                CustomerGroup {
                    id,
                    name: name.into(),
                    is_default: false,
                    is_group_for_guests: false,
                    date_created: now,
                    date_modified: now,
                },
            );
            id
        })
    }

    /// Creates a customer and fires `store/customer/created`.
    pub async fn create_customer(&self, hash: &str, seed: CustomerSeed) -> u64 {
        let id = self.with_store(hash, |s| s.new_customer(seed));
        self.inner
            .emit(
                hash,
                vec![("store/customer/created".into(), json!({"type": "customer", "id": id}))],
            )
            .await;
        id
    }

    /// `n` realistic customers spread over the store's groups (and no group), with phones in assorted
    /// formats, some missing and some invalid. The merchant's existing data: no webhooks fire.
    pub fn seed_customers(&self, hash: &str, n: usize) -> SeedSummary {
        self.with_store(hash, |s| seed::seed_customers(s, n))
    }

    /// Changes a customer (bumping `date_modified`) and fires `store/customer/updated`.
    pub async fn update_customer(&self, hash: &str, id: u64, f: impl FnOnce(&mut Customer)) {
        self.with_store(hash, |s| {
            let customer = s.customers.get_mut(&id).unwrap_or_else(|| panic!("no customer {id}"));
            f(customer);
            customer.date_modified = Utc::now();
        });
        self.inner
            .emit(
                hash,
                vec![("store/customer/updated".into(), json!({"type": "customer", "id": id}))],
            )
            .await;
    }

    /// Makes the customer's record in `GET /v3/customers` answers carry these fields instead of its own (a
    /// record not in the documented shape, as a buggy integration or a data migration can leave behind).
    pub fn patch_customer_record(&self, hash: &str, id: u64, fields: Value) {
        self.with_store(hash, |s| {
            if let Value::Object(fields) = fields {
                s.customer_patches.insert(id, fields);
            }
        });
    }

    /// Deletes a customer with its attribute values and metafields; fires `store/customer/deleted`.
    pub async fn delete_customer(&self, hash: &str, id: u64) {
        self.with_store(hash, |s| {
            s.customers.remove(&id);
            s.attribute_values.retain(|_, v| v.customer_id != id);
            s.metafields.retain(|_, m| m.customer_id != id);
        });
        self.inner
            .emit(
                hash,
                vec![("store/customer/deleted".into(), json!({"type": "customer", "id": id}))],
            )
            .await;
    }

    /// A customer attribute the merchant defined (type `string`, `number` or `date`).
    pub fn create_attribute(&self, hash: &str, name: &str, kind: &str) -> u64 {
        self.with_store(hash, |s| {
            let id = s.next_id("attribute");
            let now = Utc::now();
            s.attributes.insert(
                id,
                Attribute {
                    id,
                    name: name.into(),
                    kind: kind.into(),
                    date_created: now,
                    date_modified: now,
                },
            );
            id
        })
    }

    /// The merchant sets an attribute value in the control panel: fires `store/customer/updated` (API
    /// writes of attribute values do not).
    pub async fn set_attribute_value(&self, hash: &str, customer_id: u64, attribute_id: u64, value: &str) {
        self.with_store(hash, |s| {
            let now = Utc::now();
            match s
                .attribute_values
                .values_mut()
                .find(|v| v.customer_id == customer_id && v.attribute_id == attribute_id)
            {
                Some(existing) => {
                    existing.value = value.into();
                    existing.date_modified = now;
                }
                None => {
                    let id = s.next_id("attribute_value");
                    s.attribute_values.insert(
                        id,
                        AttributeValue {
                            id,
                            attribute_id,
                            customer_id,
                            value: value.into(),
                            date_created: now,
                            date_modified: now,
                        },
                    );
                }
            }
        });
        self.inner
            .emit(
                hash,
                vec![(
                    "store/customer/updated".into(),
                    json!({"type": "customer", "id": customer_id}),
                )],
            )
            .await;
    }

    pub async fn create_subscriber(&self, hash: &str, seed: SubscriberSeed) -> u64 {
        let id = self.with_store(hash, |s| {
            let id = s.next_id("subscriber");
            let now = Utc::now();
            s.subscribers.insert(
                id,
                Subscriber {
                    id,
                    email: seed.email,
                    first_name: seed.first_name,
                    last_name: seed.last_name,
                    source: seed.source,
                    order_id: seed.order_id,
                    channel_id: seed.channel_id,
                    consents: seed.consents,
                    date_created: now,
                    date_modified: now,
                },
            );
            id
        });
        self.inner
            .emit(
                hash,
                vec![(
                    "store/subscriber/created".into(),
                    json!({"type": "subscriber", "id": id}),
                )],
            )
            .await;
        id
    }

    pub async fn update_subscriber(&self, hash: &str, id: u64, f: impl FnOnce(&mut Subscriber)) {
        self.with_store(hash, |s| {
            let subscriber = s
                .subscribers
                .get_mut(&id)
                .unwrap_or_else(|| panic!("no subscriber {id}"));
            f(subscriber);
            subscriber.date_modified = Utc::now();
        });
        self.inner
            .emit(
                hash,
                vec![(
                    "store/subscriber/updated".into(),
                    json!({"type": "subscriber", "id": id}),
                )],
            )
            .await;
    }

    pub async fn delete_subscriber(&self, hash: &str, id: u64) {
        self.with_store(hash, |s| s.subscribers.remove(&id));
        self.inner
            .emit(
                hash,
                vec![(
                    "store/subscriber/deleted".into(),
                    json!({"type": "subscriber", "id": id}),
                )],
            )
            .await;
    }

    pub fn set_abandoned_cart_settings(&self, hash: &str, f: impl FnOnce(&mut AbandonedCartSettings)) {
        self.with_store(hash, |s| f(&mut s.settings));
    }

    // ---- shoppers ----

    /// A shopper's storefront cart: fires `store/cart/created` and `store/cart/updated`.
    pub async fn create_cart(&self, hash: &str, seed: CartSeed) -> String {
        let cart_id = uuid::Uuid::new_v4().to_string();
        self.seed_cart(hash, &cart_id, seed, None);
        self.inner
            .emit(
                hash,
                cart_events(&["store/cart/created", "store/cart/updated"], &cart_id),
            )
            .await;
        cart_id
    }

    /// A storefront cart with a given id and billing address that the app was never told about (no webhook):
    /// for tests that file the app's own record of the cart themselves.
    pub fn seed_cart(&self, hash: &str, cart_id: &str, seed: CartSeed, billing_address: Option<BillingAddress>) {
        self.with_store(hash, |s| {
            let items = seed
                .items
                .iter()
                .map(|item| {
                    let product_id = s.upsert_product(item);
                    s.cart_item(product_id, item)
                })
                .collect();
            let now = self.inner.now();
            s.carts.insert(
                cart_id.to_owned(),
                Cart {
                    id: cart_id.to_owned(),
                    customer_id: seed.customer_id,
                    channel_id: seed.channel_id,
                    email: seed.email,
                    currency: seed.currency,
                    locale: "en".into(),
                    line_items: items,
                    created_by_api: false,
                    version: 1,
                    billing_address,
                    abandoned_token: None,
                    created_time: now,
                    updated_time: now,
                },
            );
        });
    }

    fn touch_cart(&self, hash: &str, cart_id: &str, f: impl FnOnce(&mut StoreState, &mut Cart)) {
        let now = self.inner.now();
        self.with_store(hash, |s| {
            let mut cart = s.carts.remove(cart_id).unwrap_or_else(|| panic!("no cart {cart_id}"));
            f(s, &mut cart);
            cart.version += 1;
            cart.updated_time = now;
            s.carts.insert(cart_id.into(), cart);
        });
    }

    /// Adds an item: fires `store/cart/updated`.
    pub async fn add_cart_item(&self, hash: &str, cart_id: &str, item: ItemSeed) {
        self.touch_cart(hash, cart_id, |s, cart| {
            let product_id = s.upsert_product(&item);
            let line = s.cart_item(product_id, &item);
            cart.line_items.push(line);
        });
        self.inner
            .emit(hash, cart_events(&["store/cart/updated"], cart_id))
            .await;
    }

    /// The shopper types an email at checkout: fires `store/cart/updated`.
    pub async fn set_cart_email(&self, hash: &str, cart_id: &str, email: &str) {
        self.touch_cart(hash, cart_id, |_, cart| cart.email = email.into());
        self.inner
            .emit(hash, cart_events(&["store/cart/updated"], cart_id))
            .await;
    }

    /// The shopper fills the checkout's billing address (where the phone lives). The cart email follows the
    /// billing email; `store/cart/updated` fires only when that email changed, as documented.
    pub async fn set_billing_address(&self, hash: &str, cart_id: &str, address: BillingAddress) {
        let mut email_changed = false;
        self.touch_cart(hash, cart_id, |_, cart| {
            if !address.email.is_empty() && address.email != cart.email {
                cart.email = address.email.clone();
                email_changed = true;
            }
            cart.billing_address = Some(address);
        });
        if email_changed {
            self.inner
                .emit(hash, cart_events(&["store/cart/updated"], cart_id))
                .await;
        }
    }

    /// BigCommerce decides the cart is abandoned: fires `store/cart/abandoned` with the token that
    /// `GET /v3/abandoned-carts/{token}` resolves. Returns the token.
    pub async fn abandon_cart(&self, hash: &str, cart_id: &str) -> String {
        let token = hex::encode(uuid::Uuid::new_v4().as_bytes());
        self.with_store(hash, |s| {
            let cart = s.carts.get_mut(cart_id).unwrap_or_else(|| panic!("no cart {cart_id}"));
            cart.abandoned_token = Some(token.clone());
            s.abandoned_tokens.insert(token.clone(), cart_id.into());
        });
        self.inner
            .emit(
                hash,
                vec![(
                    "store/cart/abandoned".into(),
                    json!({"type": "cart", "id": cart_id, "token": token}),
                )],
            )
            .await;
        token
    }

    /// The shopper empties the cart: fires `store/cart/deleted`.
    pub async fn delete_cart(&self, hash: &str, cart_id: &str) {
        self.with_store(hash, |s| s.carts.remove(cart_id));
        self.inner
            .emit(hash, cart_events(&["store/cart/deleted"], cart_id))
            .await;
    }

    /// Checkout completes: the order is created from the cart (guests keep `customer_id` 0), the cart and
    /// its checkout are deleted, and `store/cart/converted` then `store/order/created` fire.
    /// `status_id` 11 is "Awaiting Fulfillment"; 0 "Incomplete" models a failed payment.
    pub async fn place_order(&self, hash: &str, cart_id: &str, status_id: u32) -> u64 {
        self.place_order_with_coupon(hash, cart_id, status_id, None).await
    }

    /// [`Self::place_order`], the shopper having applied coupon `code` at checkout (it must exist and have a
    /// use left; the use is counted).
    pub async fn place_order_with_coupon(&self, hash: &str, cart_id: &str, status_id: u32, code: Option<&str>) -> u64 {
        let order_id = self.with_store(hash, |s| {
            let coupons: Vec<(u64, u64, String)> = code
                .map(|code| {
                    let (promotion_id, found) = s
                        .promotions
                        .values_mut()
                        .find_map(|p| {
                            let id = p.id;
                            p.codes.iter_mut().find(|c| c.code == code).map(|c| (id, c))
                        })
                        .unwrap_or_else(|| panic!("no coupon code {code}"));
                    assert!(
                        found.max_uses == 0 || found.current_uses < found.max_uses,
                        "coupon code {code} is used up"
                    );
                    found.current_uses += 1;
                    vec![(found.id, promotion_id, found.code.clone())]
                })
                .unwrap_or_default();
            let cart = s.carts.remove(cart_id).unwrap_or_else(|| panic!("no cart {cart_id}"));
            let id = s.next_id("order");
            let now = Utc::now();
            let mut billing = cart.billing_address.clone().unwrap_or_default();
            if billing.email.is_empty() {
                billing.email = cart.email.clone();
            }
            let is_email_opt_in = s
                .subscribers
                .values()
                .any(|sub| sub.email == billing.email && !sub.consents.is_empty());
            s.orders.insert(
                id,
                Order {
                    id,
                    customer_id: cart.customer_id,
                    cart_id: Some(cart.id.clone()),
                    status_id,
                    channel_id: cart.channel_id,
                    currency_code: cart.currency.clone(),
                    total_cents: cart.amount_cents(),
                    items_total: cart.line_items.iter().map(|i| i.quantity).sum(),
                    billing_address: billing,
                    is_email_opt_in,
                    products: cart.line_items.clone(),
                    date_created: now,
                    date_modified: now,
                    coupons,
                },
            );
            id
        });
        self.inner
            .emit(
                hash,
                vec![
                    (
                        "store/cart/converted".into(),
                        json!({"type": "cart", "id": cart_id, "orderId": order_id}),
                    ),
                    ("store/order/created".into(), json!({"type": "order", "id": order_id})),
                ],
            )
            .await;
        order_id
    }

    /// A promotion the merchant made in the control panel: a coupon promotion (`coupon`, redeemed with codes)
    /// or an automatic one. Returns its id.
    pub fn create_promotion(&self, hash: &str, name: &str, coupon: bool) -> u64 {
        self.with_store(hash, |s| {
            let id = s.next_id("promotion");
            s.promotions.insert(
                id,
                Promotion {
                    id,
                    name: name.to_owned(),
                    redemption_type: if coupon { "COUPON" } else { "AUTOMATIC" },
                    status: "ENABLED",
                    codes: Vec::new(),
                },
            );
            id
        })
    }

    /// The merchant deletes a promotion (it ended): its endpoints answer 404 from now on.
    pub fn delete_promotion(&self, hash: &str, id: u64) {
        self.with_store(hash, |s| s.promotions.remove(&id));
    }

    /// The codes of a promotion, oldest first.
    pub fn coupon_codes(&self, hash: &str, promotion_id: u64) -> Vec<String> {
        self.with_store(hash, |s| {
            s.promotions
                .get(&promotion_id)
                .map(|p| p.codes.iter().map(|c| c.code.clone()).collect())
                .unwrap_or_default()
        })
    }

    /// How many more coupon codes the store may create before BigCommerce refuses (422); `None`: no limit.
    pub fn set_coupon_code_quota(&self, hash: &str, quota: Option<u32>) {
        self.with_store(hash, |s| s.coupon_code_quota = quota);
    }

    /// The merchant (or payment) moves the order on: fires `store/order/updated` and
    /// `store/order/statusUpdated`.
    pub async fn set_order_status(&self, hash: &str, order_id: u64, status_id: u32) {
        let previous = self.with_store(hash, |s| {
            let order = s
                .orders
                .get_mut(&order_id)
                .unwrap_or_else(|| panic!("no order {order_id}"));
            let previous = order.status_id;
            order.status_id = status_id;
            order.date_modified = Utc::now();
            previous
        });
        self.inner
            .emit(
                hash,
                vec![
                    ("store/order/updated".into(), json!({"type": "order", "id": order_id})),
                    (
                        "store/order/statusUpdated".into(),
                        json!({"type": "order", "id": order_id,
                               "status": {"previous_status_id": previous, "new_status_id": status_id}}),
                    ),
                ],
            )
            .await;
    }

    // ---- webhooks ----

    /// Fires any event with any data (e.g. a `store/cart/abandoned` for a cart the test invents).
    /// Returns the event so the test can redeliver it.
    pub async fn fire_event(&self, hash: &str, scope: &str, data: Value) -> WebhookEvent {
        let store_id = self.store_id(hash);
        let event = WebhookEvent::new(hash, store_id, scope, data);
        let hold = self.inner.lock().hold_webhooks;
        if hold {
            self.inner.lock().pending.push(event.clone());
        } else {
            self.inner.deliver_until_acknowledged(&event).await;
        }
        event
    }

    /// While held, events queue up instead of being delivered; see [`Self::pending_webhooks`].
    pub fn hold_webhooks(&self, hold: bool) {
        self.inner.lock().hold_webhooks = hold;
    }

    /// Events waiting while webhooks are held, oldest first. Deliver them in any order with
    /// [`Self::deliver`].
    pub fn pending_webhooks(&self) -> Vec<WebhookEvent> {
        self.inner.lock().pending.clone()
    }

    /// Delivers every held event in order, as BigCommerce does (again while not acknowledged), and empties
    /// the queue.
    pub async fn release_webhooks(&self) -> Vec<DeliveryRecord> {
        let pending = std::mem::take(&mut self.inner.lock().pending);
        let mut records = Vec::new();
        for event in pending {
            records.extend(self.inner.deliver_until_acknowledged(&event).await);
        }
        records
    }

    /// Delivers (or redelivers: same body, same `hash` and `webhook-id`) one event now, once, and removes it
    /// from the held queue if it was there.
    pub async fn deliver(&self, event: &WebhookEvent) -> Vec<DeliveryRecord> {
        self.inner.lock().pending.retain(|e| e.id != event.id);
        self.inner.deliver(event).await
    }

    /// Delivers one event as BigCommerce does, again while a hook does not acknowledge it (see
    /// [`SimConfig::webhook_retry_intervals`]), and removes it from the held queue if it was there. Every
    /// attempt's record, in order.
    pub async fn deliver_until_acknowledged(&self, event: &WebhookEvent) -> Vec<DeliveryRecord> {
        self.inner.lock().pending.retain(|e| e.id != event.id);
        self.inner.deliver_until_acknowledged(event).await
    }

    /// Every delivery attempt for the store, oldest first.
    pub fn deliveries(&self, hash: &str) -> Vec<DeliveryRecord> {
        self.inner
            .lock()
            .deliveries
            .iter()
            .filter(|d| d.store_hash == hash)
            .cloned()
            .collect()
    }

    // ---- inspection ----

    pub fn hooks(&self, hash: &str) -> Vec<Hook> {
        self.with_store(hash, |s| s.hooks.values().cloned().collect())
    }

    /// Marks a hook deactivated, as BigCommerce does after 48 hours of failed deliveries.
    pub fn deactivate_hook(&self, hash: &str, hook_id: u64) {
        self.with_store(hash, |s| {
            if let Some(hook) = s.hooks.get_mut(&hook_id) {
                hook.is_active = false;
            }
        });
    }

    /// Every script on the store, the app's and others'.
    pub fn scripts(&self, hash: &str) -> Vec<Script> {
        self.with_store(hash, |s| s.scripts.clone())
    }

    /// The merchant deletes a script in Script Manager.
    pub fn delete_script(&self, hash: &str, uuid: &str) {
        self.with_store(hash, |s| s.scripts.retain(|sc| sc.uuid != uuid));
    }

    /// A script another app or the merchant installed: invisible to this app's API calls.
    pub fn add_foreign_script(&self, hash: &str, name: &str) -> String {
        self.with_store(hash, |s| {
            let now = model::iso(Utc::now());
            let uuid = uuid::Uuid::new_v4().to_string();
            s.scripts.push(Script {
                uuid: uuid.clone(),
                name: name.into(),
                description: String::new(),
                html: String::new(),
                src: "https://other-app.example.com/widget.js".into(),
                auto_uninstall: false,
                load_method: LoadMethod::Default,
                location: ScriptLocation::Footer,
                visibility: Visibility::AllPages,
                kind: ScriptKind::Src,
                api_client_id: "another-app".into(),
                consent_category: ConsentCategory::Analytics,
                enabled: true,
                channel_id: 1,
                integrity_hashes: Vec::new(),
                date_created: now.clone(),
                date_modified: now,
            });
            uuid
        })
    }

    pub fn customer(&self, hash: &str, id: u64) -> Option<Customer> {
        self.with_store(hash, |s| s.customers.get(&id).cloned())
    }

    pub fn customers(&self, hash: &str) -> Vec<Customer> {
        self.with_store(hash, |s| s.customers.values().cloned().collect())
    }

    pub fn customer_groups(&self, hash: &str) -> Vec<CustomerGroup> {
        self.with_store(hash, |s| s.groups.values().cloned().collect())
    }

    pub fn attributes(&self, hash: &str) -> Vec<Attribute> {
        self.with_store(hash, |s| s.attributes.values().cloned().collect())
    }

    pub fn attribute_values(&self, hash: &str, customer_id: u64) -> Vec<AttributeValue> {
        self.with_store(hash, |s| {
            s.attribute_values
                .values()
                .filter(|v| v.customer_id == customer_id)
                .cloned()
                .collect()
        })
    }

    pub fn metafields(&self, hash: &str, customer_id: u64) -> Vec<Metafield> {
        self.with_store(hash, |s| {
            s.metafields
                .values()
                .filter(|m| m.customer_id == customer_id)
                .cloned()
                .collect()
        })
    }

    pub fn subscribers(&self, hash: &str) -> Vec<Subscriber> {
        self.with_store(hash, |s| s.subscribers.values().cloned().collect())
    }

    pub fn cart(&self, hash: &str, cart_id: &str) -> Option<Cart> {
        self.with_store(hash, |s| s.carts.get(cart_id).cloned())
    }

    pub fn carts(&self, hash: &str) -> Vec<Cart> {
        self.with_store(hash, |s| s.carts.values().cloned().collect())
    }

    pub fn order(&self, hash: &str, order_id: u64) -> Option<Order> {
        self.with_store(hash, |s| s.orders.get(&order_id).cloned())
    }

    pub fn orders(&self, hash: &str) -> Vec<Order> {
        self.with_store(hash, |s| s.orders.values().cloned().collect())
    }

    pub fn abandoned_cart_settings(&self, hash: &str) -> AbandonedCartSettings {
        self.with_store(hash, |s| s.settings.clone())
    }

    /// Visits to the store's cart redirect URLs, oldest first.
    pub fn redirect_visits(&self, hash: &str) -> Vec<RedirectVisit> {
        self.with_store(hash, |s| s.redirect_visits.clone())
    }
}
