//! The HTTP side: the login service's token endpoint, the store APIs under `/stores/{hash}/v2|v3`, and the
//! storefront pages that cart redirect URLs point at.
//!
//! Every store request goes through the same gate, in this order: unknown store (404), injected fault,
//! `X-Auth-Token` (401), quota (429), then the endpoint. Endpoints are plain functions over the locked state.

use super::model::{self, Attribute, AttributeValue, Cart, HookBody, Metafield, Script};
use super::{Inner, ItemSeed, RedirectVisit, RequestRecord, SimState, StoreState};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

pub(crate) fn router(inner: Arc<Inner>) -> Router {
    Router::new()
        .route("/oauth2/token", post(token))
        .route("/stores/{hash}/{*rest}", any(store_api))
        .route("/storefront/{hash}/cart.php", get(storefront_cart))
        .route("/manage/stores/{hash}/install", get(control_panel_install))
        .route("/manage/stores/{hash}/app", get(control_panel_open_app))
        .with_state(inner)
}

/// What the control panel grants when a merchant installs without a `scope` query: every scope an SMS
/// marketing app can ask for (modify and read-only variants), so any app's required list is covered.
pub const CONTROL_PANEL_SCOPES: &[&str] = &[
    "store_v2_customers",
    "store_v2_customers_read_only",
    "store_v2_orders",
    "store_v2_orders_read_only",
    "store_cart",
    "store_cart_read_only",
    "store_checkout",
    "store_checkout_read_only",
    "store_content_checkout",
    "store_v2_content",
    "store_v2_information",
    "store_v2_information_read_only",
    "store_channel_settings_read_only",
    "store_sites_read_only",
    "store_metafield_write",
];

/// The control panel's "Install" button: grants the app its scopes and sends the browser to the app's auth
/// callback, as BigCommerce does. `?scope=a b c` overrides the granted scopes.
async fn control_panel_install(State(inner): State<Arc<Inner>>, Path(hash): Path<String>, uri: Uri) -> Response {
    if !inner.lock().stores.contains_key(&hash) {
        return html(StatusCode::NOT_FOUND, "<h1>Store not found</h1>".into());
    }
    let query: Vec<(String, String)> = serde_urlencoded::from_str(uri.query().unwrap_or_default()).unwrap_or_default();
    let requested = query.iter().find(|(k, _)| k == "scope").map(|(_, v)| v.clone());
    let scopes: Vec<&str> = match &requested {
        Some(list) => list.split([' ', ',']).filter(|s| !s.is_empty()).collect(),
        None => CONTROL_PANEL_SCOPES.to_vec(),
    };
    let grant = inner.authorize_install(&hash, &scopes);
    redirect(&format!("{}?{}", inner.config.redirect_uri, grant.callback_query()))
}

/// The control panel opening the installed app: a fresh `signed_payload_jwt` for the store owner, sent to the
/// app's load callback (the auth callback's sibling `/load`).
async fn control_panel_open_app(State(inner): State<Arc<Inner>>, Path(hash): Path<String>) -> Response {
    if !inner.lock().stores.contains_key(&hash) {
        return html(StatusCode::NOT_FOUND, "<h1>Store not found</h1>".into());
    }
    let jwt = super::sign_jwt(&inner.jwt_claims(&hash), &inner.config.client_secret);
    let load = format!("{}/load", inner.config.redirect_uri.trim_end_matches("/auth"));
    redirect(&format!("{load}?signed_payload_jwt={jwt}"))
}

fn redirect(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(value) => (StatusCode::FOUND, [(header::LOCATION, value)]).into_response(),
        Err(_) => html(StatusCode::INTERNAL_SERVER_ERROR, "<h1>Bad redirect</h1>".into()),
    }
}

/// A JSON answer before headers are added.
struct Reply {
    status: StatusCode,
    body: Option<Value>,
}

impl Reply {
    fn ok(body: Value) -> Self {
        Self {
            status: StatusCode::OK,
            body: Some(body),
        }
    }
    fn created(body: Value) -> Self {
        Self {
            status: StatusCode::CREATED,
            body: Some(body),
        }
    }
    fn no_content() -> Self {
        Self {
            status: StatusCode::NO_CONTENT,
            body: None,
        }
    }
    fn data(data: Value) -> Self {
        Self::ok(json!({"data": data, "meta": {}}))
    }
}

const STATUS_DOC: &str = "/api-docs/getting-started/api-status-codes";

/// v3 error body: `{status, title, type, errors?}`.
fn v3_error(status: StatusCode, title: &str) -> Reply {
    Reply {
        status,
        body: Some(json!({"status": status.as_u16(), "title": title, "type": STATUS_DOC})),
    }
}

fn v3_invalid(title: &str, errors: Value) -> Reply {
    Reply {
        status: StatusCode::UNPROCESSABLE_ENTITY,
        body: Some(json!({"status": 422, "title": title, "type": STATUS_DOC, "errors": errors})),
    }
}

/// v2 error body: a bare array of `{status, message}`.
fn v2_error(status: StatusCode, message: &str) -> Reply {
    Reply {
        status,
        body: Some(json!([{"status": status.as_u16(), "message": message}])),
    }
}

fn json_response(status: StatusCode, body: Option<Value>) -> Response {
    match body {
        Some(body) => (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response(),
        None => status.into_response(),
    }
}

type Events = Vec<(String, Value)>;

/// One store request, parsed.
struct Req<'a> {
    method: &'a Method,
    query: Vec<(String, String)>,
    body: &'a [u8],
    base_url: &'a str,
    client_id: &'a str,
    path: &'a str,
}

impl Req<'_> {
    fn q(&self, key: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// A comma-separated list parameter (`id:in=1,2,3`).
    fn list(&self, key: &str) -> Option<Vec<String>> {
        self.q(key).map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
    }

    fn id_list(&self, key: &str) -> Result<Option<Vec<u64>>, Reply> {
        match self.list(key) {
            None => Ok(None),
            Some(items) => items
                .iter()
                .map(|s| s.parse::<u64>())
                .collect::<Result<Vec<_>, _>>()
                .map(Some)
                .map_err(|_| v3_invalid("The filter is invalid", json!({key: "must be integers"}))),
        }
    }

    fn includes(&self, what: &str) -> bool {
        self.list("include").is_some_and(|list| list.iter().any(|i| i == what))
    }

    fn json<T: DeserializeOwned>(&self) -> Result<T, Reply> {
        serde_json::from_slice(self.body)
            .map_err(|e| v3_invalid("JSON data is missing or invalid", json!({"body": e.to_string()})))
    }

    /// `page` from 1 and `limit` up to 250 (a bigger limit is 413, as BigCommerce answers).
    fn paging(&self, default_limit: usize) -> Result<(usize, usize), Reply> {
        let number = |key: &str, default: usize| match self.q(key) {
            None => Ok(default),
            Some(v) => v
                .parse::<usize>()
                .map_err(|_| v3_invalid("The filter is invalid", json!({key: "must be a positive integer"}))),
        };
        let page = number("page", 1)?.max(1);
        let limit = number("limit", default_limit)?;
        if limit > 250 {
            return Err(v3_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "The limit exceeds the maximum of 250 items per page",
            ));
        }
        Ok((page, limit.max(1)))
    }

    fn date(&self, key: &str) -> Result<Option<DateTime<Utc>>, Reply> {
        match self.q(key) {
            None => Ok(None),
            Some(raw) => parse_date(raw)
                .map(Some)
                .ok_or_else(|| v3_invalid("The filter is invalid", json!({key: "not a date"}))),
        }
    }
}

/// BigCommerce accepts `2024-05-14T09:34:00`, `2024-05-14`, full ISO-8601 and Unix seconds.
fn parse_date(raw: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Some(t.with_timezone(&Utc));
    }
    if let Ok(t) = NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S") {
        return Some(t.and_utc());
    }
    if let Ok(d) = NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        return d.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
    }
    raw.parse::<i64>().ok().and_then(|s| DateTime::from_timestamp(s, 0))
}

/// One page of `items` with v3 `meta.pagination`.
fn page_of(items: Vec<Value>, page: usize, limit: usize) -> Value {
    let total = items.len();
    let total_pages = total.div_ceil(limit);
    let data: Vec<Value> = items.into_iter().skip((page - 1) * limit).take(limit).collect();
    let mut links = json!({"current": format!("?page={page}&limit={limit}")});
    if page > 1 {
        links["previous"] = json!(format!("?page={}&limit={limit}", page - 1));
    }
    if page < total_pages {
        links["next"] = json!(format!("?page={}&limit={limit}", page + 1));
    }
    json!({
        "data": data.clone(),
        "meta": {"pagination": {
            "total": total,
            "count": data.len(),
            "per_page": limit,
            "current_page": page,
            "total_pages": total_pages,
            "links": links,
        }},
    })
}

fn v2_page(items: Vec<Value>, page: usize, limit: usize) -> Value {
    Value::Array(items.into_iter().skip((page - 1) * limit).take(limit).collect())
}

fn rate_headers(headers: &mut HeaderMap, window_ms: u64, reset_ms: u64, quota: u32, left: u32) {
    let mut set = |name: &'static str, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    };
    set("X-Rate-Limit-Time-Window-Ms", window_ms.to_string());
    set("X-Rate-Limit-Time-Reset-Ms", reset_ms.to_string());
    set("X-Rate-Limit-Requests-Quota", quota.to_string());
    set("X-Rate-Limit-Requests-Left", left.to_string());
}

fn record(store: &mut StoreState, method: &Method, uri: &Uri, status: StatusCode) {
    store.requests.push(RequestRecord {
        method: method.to_string(),
        path: uri.path().into(),
        query: uri.query().unwrap_or_default().into(),
        status: status.as_u16(),
        at: Utc::now(),
    });
}

async fn store_api(
    State(inner): State<Arc<Inner>>,
    Path((hash, _rest)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fault = {
        let mut state = inner.lock();
        if !state.stores.contains_key(&hash) {
            let reply = v3_error(StatusCode::NOT_FOUND, "Store not found");
            return json_response(reply.status, reply.body);
        }
        // Faults match the query too, so a test can break one page (`page=3`).
        let target = uri.path_and_query().map_or(uri.path(), |pq| pq.as_str());
        state.take_fault(method.as_str(), target)
    };
    if let Some(fault) = fault {
        if let Some(delay) = fault.delay {
            tokio::time::sleep(delay).await;
        }
        if let Some(status) = fault.status {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut state = inner.lock();
            if let Some(store) = state.stores.get_mut(&hash) {
                store.stats.requests += 1;
                store.stats.faults += 1;
                record(store, &method, &uri, status);
            }
            if let Some(body) = fault.body {
                return json_response(status, Some(body));
            }
            let title = status.canonical_reason().unwrap_or("Error");
            let reply = v3_error(status, title);
            return json_response(reply.status, reply.body);
        }
    }

    let token = headers
        .get("x-auth-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let (response, events) = {
        let mut guard = inner.lock();
        let state: &mut SimState = &mut guard;
        let authorized = state.tokens.get(&token).is_some_and(|h| *h == hash);
        let Some(store) = state.stores.get_mut(&hash) else {
            return StatusCode::NOT_FOUND.into_response();
        };
        store.stats.requests += 1;
        if !authorized {
            record(store, &method, &uri, StatusCode::UNAUTHORIZED);
            let reply = v3_error(
                StatusCode::UNAUTHORIZED,
                "Unauthorized - the v3 Auth client ID or token in the request are not a valid combination for this store.",
            );
            let (left, reset_ms) = store.peek_quota(Instant::now());
            let mut response = json_response(reply.status, reply.body);
            rate_headers(
                response.headers_mut(),
                store.window.as_millis() as u64,
                reset_ms,
                store.quota,
                left,
            );
            return response;
        }
        let (allowed, left, reset_ms) = store.take_quota(Instant::now());
        let window_ms = store.window.as_millis() as u64;
        let quota = store.quota;
        let (reply, events) = if allowed {
            let query: Vec<(String, String)> =
                serde_urlencoded::from_str(uri.query().unwrap_or_default()).unwrap_or_default();
            let req = Req {
                method: &method,
                query,
                body: &body,
                base_url: &inner.base_url,
                client_id: &inner.config.client_id,
                path: uri.path(),
            };
            let mut events = Events::new();
            let reply = route(store, &req, &mut events);
            (reply, events)
        } else {
            store.stats.rate_limited += 1;
            (
                v3_error(StatusCode::TOO_MANY_REQUESTS, "Too many requests"),
                Events::new(),
            )
        };
        record(store, &method, &uri, reply.status);
        let mut response = json_response(reply.status, reply.body);
        rate_headers(response.headers_mut(), window_ms, reset_ms, quota, left);
        (response, events)
    };
    if !events.is_empty() {
        // BigCommerce delivers asynchronously; the API answer does not wait for the receiver.
        let inner = inner.clone();
        tokio::spawn(async move { inner.emit(&hash, events).await });
    }
    response
}

fn route(store: &mut StoreState, req: &Req, events: &mut Events) -> Reply {
    let segments: Vec<&str> = req
        .path
        .trim_start_matches('/')
        .split('/')
        .skip(2)
        .filter(|s| !s.is_empty())
        .collect();
    let m = req.method.as_str();
    let result = match (m, segments.as_slice()) {
        ("GET", ["v3", "hooks"]) => list_hooks(store, req),
        ("POST", ["v3", "hooks"]) => create_hook(store, req),
        (_, ["v3", "hooks", id]) => one_hook(store, req, id),
        ("GET", ["v3", "content", "scripts"]) => list_scripts(store, req),
        ("POST", ["v3", "content", "scripts"]) => create_script(store, req),
        (_, ["v3", "content", "scripts", uuid]) => one_script(store, req, uuid),
        ("GET", ["v3", "customers"]) => list_customers(store, req),
        ("GET", ["v3", "customers", "attributes"]) => list_attributes(store, req),
        ("POST", ["v3", "customers", "attributes"]) => create_attributes(store, req),
        ("GET", ["v3", "customers", "attribute-values"]) => list_attribute_values(store, req),
        ("PUT", ["v3", "customers", "attribute-values"]) => upsert_attribute_values(store, req),
        ("GET", ["v3", "customers", "subscribers"]) => list_subscribers(store, req),
        ("GET", ["v3", "customers", "subscribers", id]) => get_subscriber(store, id),
        (_, ["v3", "customers", id, "metafields"]) => customer_metafields(store, req, id),
        (_, ["v3", "customers", id, "metafields", mid]) => customer_metafield(store, req, id, mid),
        ("POST", ["v3", "carts"]) => create_cart(store, req, events),
        ("GET", ["v3", "carts", id]) => get_cart(store, req, id),
        ("POST", ["v3", "carts", id, "redirect_urls"]) => create_redirect_urls(store, req, id),
        ("GET", ["v3", "checkouts", id]) => store
            .carts
            .get(*id)
            .map(|c| Reply::data(c.checkout_v3()))
            .ok_or_else(|| v3_error(StatusCode::NOT_FOUND, "Checkout not found")),
        ("GET", ["v3", "abandoned-carts", "settings"]) => {
            Ok(Reply::data(serde_json::to_value(&store.settings).unwrap_or_default()))
        }
        ("PUT", ["v3", "abandoned-carts", "settings"]) => update_settings(store, req),
        ("GET", ["v3", "abandoned-carts", token]) => store
            .abandoned_tokens
            .get(*token)
            .map(|cart_id| Reply::data(json!({"cart_id": cart_id})))
            .ok_or_else(|| v3_error(StatusCode::NOT_FOUND, "Abandoned cart not found")),
        ("GET", ["v3", "promotions"]) => list_promotions(store, req),
        ("POST", ["v3", "promotions", id, "codes"]) => create_coupon_code(store, req, id),
        ("GET", ["v2", "orders", id, "coupons"]) => id
            .parse::<u64>()
            .ok()
            .and_then(|id| store.orders.get(&id))
            .map(|o| match o.coupons_v2() {
                coupons if coupons.is_empty() => Reply::no_content(),
                coupons => Reply::ok(Value::Array(coupons)),
            })
            .ok_or_else(|| v2_error(StatusCode::NOT_FOUND, "The requested resource was not found.")),
        ("GET", ["v2", "customer_groups"]) => list_groups(store, req),
        ("GET", ["v2", "orders"]) => list_orders(store, req),
        ("GET", ["v2", "orders", id]) => id
            .parse::<u64>()
            .ok()
            .and_then(|id| store.orders.get(&id))
            .map(|o| Reply::ok(o.to_v2(req.base_url, &store.hash)))
            .ok_or_else(|| v2_error(StatusCode::NOT_FOUND, "The requested resource was not found.")),
        ("GET", ["v2", "store"]) => Ok(Reply::ok(store_info(store))),
        (_, ["v2", ..]) => Err(v2_error(StatusCode::NOT_FOUND, "The requested resource was not found.")),
        _ => Err(v3_error(StatusCode::NOT_FOUND, "Not found")),
    };
    result.unwrap_or_else(|e| e)
}

type Answer = Result<Reply, Reply>;

fn store_info(store: &StoreState) -> Value {
    let i = &store.info;
    json!({
        "id": store.hash,
        "account_uuid": "12345678-90ab-cdef-1234-567890abcdef",
        "domain": i.domain,
        "secure_url": format!("https://{}", i.domain),
        "control_panel_base_url": format!("https://store-{}.mybigcommerce.com", store.hash),
        "status": "live",
        "name": i.name,
        "first_name": "Store",
        "last_name": "Owner",
        "address": "",
        "country": "",
        "country_code": i.country_code,
        "phone": "",
        "admin_email": i.admin_email,
        "order_email": i.admin_email,
        "timezone": {"name": i.timezone, "raw_offset": 0, "dst_offset": 0, "dst_correction": false,
                     "date_format": {"display": "M jS Y", "export": "M jS Y", "extended_display": "M jS Y @ g:i A"}},
        "language": "en",
        "currency": i.currency,
        "currency_symbol": "$",
        "decimal_separator": ".",
        "thousands_separator": ",",
        "decimal_places": 2,
        "plan_name": i.plan_name,
        "plan_level": i.plan_name,
        "plan_is_trial": false,
        "store_id": store.store_id,
        "default_channel_id": 1,
        "default_site_id": 1000,
        "features": {"stencil_enabled": true, "checkout_type": "optimized",
                     "shopper_consent_tracking_enabled": false, "multi_storefront_enabled": false},
    })
}

// ---- promotions ----

/// `GET /v3/promotions`, filtered by `redemption_type` (`coupon`/`automatic`, any case) and `status`.
fn list_promotions(store: &mut StoreState, req: &Req) -> Answer {
    let (page, limit) = req.paging(50)?;
    let items = store
        .promotions
        .values()
        .filter(|p| {
            req.q("redemption_type")
                .is_none_or(|t| p.redemption_type.eq_ignore_ascii_case(t))
        })
        .filter(|p| req.q("status").is_none_or(|s| p.status == s))
        .map(model::Promotion::to_v3)
        .collect();
    Ok(Reply::ok(page_of(items, page, limit)))
}

/// `POST /v3/promotions/{id}/codes`: 201 with the code; 404 for an unknown promotion; 422 for a bad code, an
/// automatic promotion, or a store out of codes; 409 for a code the store has already.
fn create_coupon_code(store: &mut StoreState, req: &Req, id: &str) -> Answer {
    #[derive(serde::Deserialize)]
    struct NewCode {
        code: Option<String>,
        #[serde(default)]
        max_uses: u32,
        #[serde(default)]
        max_uses_per_customer: u32,
    }
    let promotion_id = id.parse::<u64>().unwrap_or(0);
    if !store.promotions.contains_key(&promotion_id) {
        return Err(v3_error(StatusCode::NOT_FOUND, "The requested resource was not found."));
    }
    let body: NewCode = req.json()?;
    let code = body.code.unwrap_or_default();
    let valid = code
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | ' ' | '-'));
    if code.is_empty() || code.chars().count() > 50 || !valid {
        return Err(v3_invalid(
            "The code is invalid",
            json!({"code": "letters, numbers, spaces, underscores and hyphens, at most 50"}),
        ));
    }
    if store.promotions[&promotion_id].redemption_type != "COUPON" {
        return Err(v3_invalid(
            "Codes can only be added to coupon promotions",
            json!({"redemption_type": "must be COUPON"}),
        ));
    }
    if store.coupon_code_quota == Some(0) {
        return Err(v3_invalid(
            "The coupon code limit has been reached",
            json!({"code": "limit reached"}),
        ));
    }
    let taken = store
        .promotions
        .values()
        .flat_map(|p| &p.codes)
        .any(|c| c.code.eq_ignore_ascii_case(&code));
    if taken {
        return Err(v3_error(StatusCode::CONFLICT, "The coupon code already exists"));
    }
    if let Some(quota) = store.coupon_code_quota.as_mut() {
        *quota -= 1;
    }
    let created = model::PromotionCode {
        id: store.next_id("coupon_code"),
        code,
        max_uses: body.max_uses,
        max_uses_per_customer: body.max_uses_per_customer,
        current_uses: 0,
        created: Utc::now(),
    };
    let answer = created.to_v3();
    if let Some(promotion) = store.promotions.get_mut(&promotion_id) {
        promotion.codes.push(created);
    }
    Ok(Reply::created(json!({"data": answer, "meta": {}})))
}

// ---- hooks ----

fn find_hook<'a>(store: &'a mut StoreState, req: &Req, id: &str) -> Result<&'a mut model::Hook, Reply> {
    let id_num = id.parse::<u64>().unwrap_or(0);
    store
        .hooks
        .get_mut(&id_num)
        .filter(|h| h.client_id == req.client_id)
        .ok_or_else(|| v3_error(StatusCode::NOT_FOUND, &format!("Webhook with id [{id}] not found")))
}

fn list_hooks(store: &mut StoreState, req: &Req) -> Answer {
    let (page, limit) = req.paging(50)?;
    let active = req.q("is_active").map(|v| v == "true");
    let items = store
        .hooks
        .values()
        .filter(|h| h.client_id == req.client_id)
        .filter(|h| active.is_none_or(|a| h.is_active == a))
        .filter(|h| req.q("scope").is_none_or(|s| h.scope == s))
        .filter(|h| req.q("destination").is_none_or(|d| h.destination == d))
        .map(model::Hook::to_v3)
        .collect();
    Ok(Reply::ok(page_of(items, page, limit)))
}

/// One hook per scope and destination for an API account, and at most 10 per scope.
fn check_hook_limits(store: &StoreState, req: &Req, scope: &str, destination: &str, except: u64) -> Result<(), Reply> {
    let mine = || {
        store
            .hooks
            .values()
            .filter(|h| h.client_id == req.client_id && h.id != except && h.scope == scope)
    };
    if mine().any(|h| h.destination == destination) {
        return Err(v3_invalid(
            "A webhook with this scope and destination already exists",
            json!({"destination": "duplicate for this scope"}),
        ));
    }
    if mine().count() >= 10 {
        return Err(v3_invalid(
            "Webhook limit reached for this scope",
            json!({"scope": "at most 10 webhooks per scope"}),
        ));
    }
    Ok(())
}

fn valid_destination(destination: &str) -> bool {
    destination.starts_with("https://") || destination.starts_with("http://")
}

fn create_hook(store: &mut StoreState, req: &Req) -> Answer {
    let body: HookBody = req.json()?;
    let mut errors = Map::new();
    if body.scope.as_deref().is_none_or(str::is_empty) {
        errors.insert("scope".into(), json!("error.path.missing."));
    }
    match body.destination.as_deref() {
        None | Some("") => {
            errors.insert("destination".into(), json!("error.path.missing."));
        }
        Some(d) if !valid_destination(d) => {
            errors.insert("destination".into(), json!("must be an https URL"));
        }
        Some(_) => {}
    }
    if !errors.is_empty() {
        return Err(v3_invalid("JSON data is missing or invalid", Value::Object(errors)));
    }
    let scope = body.scope.unwrap_or_default();
    let destination = body.destination.unwrap_or_default();
    check_hook_limits(store, req, &scope, &destination, 0)?;
    let id = store.next_id("hook");
    let now = Utc::now().timestamp();
    let hook = model::Hook {
        id,
        client_id: req.client_id.into(),
        store_hash: store.hash.clone(),
        scope,
        destination,
        is_active: body.is_active,
        headers: body.headers,
        created_at: now,
        updated_at: now,
    };
    let out = hook.to_v3();
    store.hooks.insert(id, hook);
    Ok(Reply::data(out))
}

fn one_hook(store: &mut StoreState, req: &Req, id: &str) -> Answer {
    match req.method.as_str() {
        "GET" => Ok(Reply::data(find_hook(store, req, id)?.to_v3())),
        "DELETE" => {
            let hook_id = find_hook(store, req, id)?.id;
            let hook = store.hooks.remove(&hook_id).map(|h| h.to_v3());
            Ok(Reply::data(hook.unwrap_or_default()))
        }
        "PUT" => {
            let update: Map<String, Value> = req.json()?;
            if update.is_empty() {
                return Err(v3_error(StatusCode::BAD_REQUEST, "At least one field is required"));
            }
            let current = find_hook(store, req, id)?.clone();
            let scope = match update.get("scope") {
                Some(Value::String(s)) if !s.is_empty() => s.clone(),
                None => current.scope.clone(),
                Some(_) => {
                    return Err(v3_invalid(
                        "JSON data is missing or invalid",
                        json!({"scope": "invalid"}),
                    ));
                }
            };
            let destination = match update.get("destination") {
                Some(Value::String(d)) if valid_destination(d) => d.clone(),
                None => current.destination.clone(),
                Some(_) => {
                    return Err(v3_invalid(
                        "JSON data is missing or invalid",
                        json!({"destination": "must be an https URL"}),
                    ));
                }
            };
            let is_active = match update.get("is_active") {
                Some(Value::Bool(b)) => *b,
                None => current.is_active,
                Some(_) => {
                    return Err(v3_invalid(
                        "JSON data is missing or invalid",
                        json!({"is_active": "must be a boolean"}),
                    ));
                }
            };
            let headers = match update.get("headers") {
                None => current.headers.clone(),
                Some(v) => serde_json::from_value::<Option<BTreeMap<String, String>>>(v.clone()).map_err(|_| {
                    v3_invalid(
                        "JSON data is missing or invalid",
                        json!({"headers": "must map strings to strings"}),
                    )
                })?,
            };
            check_hook_limits(store, req, &scope, &destination, current.id)?;
            let hook = find_hook(store, req, id)?;
            hook.scope = scope;
            hook.destination = destination;
            hook.is_active = is_active;
            hook.headers = headers;
            hook.updated_at = Utc::now().timestamp();
            Ok(Reply::data(hook.to_v3()))
        }
        _ => Err(v3_error(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed")),
    }
}

// ---- scripts ----

fn script_json(script: &Script) -> Value {
    serde_json::to_value(script).unwrap_or_default()
}

fn validate_script(script: &Script) -> Result<(), Reply> {
    let mut errors = Map::new();
    if script.name.is_empty() || script.name.len() > 255 {
        errors.insert("name".into(), json!("must be 1 to 255 characters"));
    }
    match script.kind {
        model::ScriptKind::Src if script.src.is_empty() => {
            errors.insert("src".into(), json!("required when kind is src"));
        }
        model::ScriptKind::ScriptTag if script.html.is_empty() => {
            errors.insert("html".into(), json!("required when kind is script_tag"));
        }
        model::ScriptKind::ScriptTag if script.load_method != model::LoadMethod::Default => {
            errors.insert("load_method".into(), json!("must be default for script_tag"));
        }
        _ => {}
    }
    if script.integrity_hashes.len() > 5 {
        errors.insert("integrity_hashes".into(), json!("at most 5"));
    }
    if script.html.len() > 65536 {
        errors.insert("html".into(), json!("at most 65536 characters"));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(v3_invalid("The script is invalid", Value::Object(errors)))
    }
}

fn parse_script(value: Value) -> Result<Script, Reply> {
    serde_json::from_value(value)
        .map_err(|e| v3_invalid("JSON data is missing or invalid", json!({"body": e.to_string()})))
}

fn list_scripts(store: &mut StoreState, req: &Req) -> Answer {
    let (page, limit) = req.paging(50)?;
    let items = store
        .scripts
        .iter()
        .filter(|s| s.api_client_id == req.client_id)
        .map(script_json)
        .collect();
    Ok(Reply::ok(page_of(items, page, limit)))
}

fn create_script(store: &mut StoreState, req: &Req) -> Answer {
    let mut body: Value = req.json()?;
    for read_only in ["uuid", "api_client_id", "date_created", "date_modified"] {
        if let Some(object) = body.as_object_mut() {
            object.remove(read_only);
        }
    }
    let mut script = parse_script(body)?;
    validate_script(&script)?;
    if store
        .scripts
        .iter()
        .filter(|s| s.api_client_id == req.client_id)
        .count()
        >= 10
    {
        return Err(v3_invalid(
            "Script limit reached",
            json!({"scripts": "at most 10 per app"}),
        ));
    }
    let now = model::iso(Utc::now());
    script.uuid = uuid::Uuid::new_v4().to_string();
    script.api_client_id = req.client_id.into();
    script.date_created = now.clone();
    script.date_modified = now;
    let out = script_json(&script);
    store.scripts.push(script);
    Ok(Reply::data(out))
}

fn one_script(store: &mut StoreState, req: &Req, uuid: &str) -> Answer {
    let index = store
        .scripts
        .iter()
        .position(|s| s.uuid == uuid && s.api_client_id == req.client_id)
        .ok_or_else(|| v3_error(StatusCode::NOT_FOUND, "Script not found"))?;
    match req.method.as_str() {
        "GET" => Ok(Reply::data(script_json(&store.scripts[index]))),
        "DELETE" => {
            store.scripts.remove(index);
            Ok(Reply::no_content())
        }
        "PUT" => {
            let update: Map<String, Value> = req.json()?;
            let mut merged = script_json(&store.scripts[index]);
            for (k, v) in update {
                if !matches!(k.as_str(), "uuid" | "api_client_id" | "date_created" | "date_modified") {
                    merged[k] = v;
                }
            }
            let mut script = parse_script(merged)?;
            validate_script(&script)?;
            script.date_modified = model::iso(Utc::now());
            let out = script_json(&script);
            store.scripts[index] = script;
            Ok(Reply::data(out))
        }
        _ => Err(v3_error(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed")),
    }
}

// ---- customers, attributes, metafields, subscribers, groups ----

fn list_customers(store: &mut StoreState, req: &Req) -> Answer {
    let (page, limit) = req.paging(50)?;
    let ids = req.id_list("id:in")?;
    let groups = req.id_list("customer_group_id:in")?;
    let emails: Option<Vec<String>> = req
        .list("email:in")
        .map(|l| l.iter().map(|e| e.to_lowercase()).collect());
    let modified_min = req.date("date_modified:min")?;
    let modified_max = req.date("date_modified:max")?;
    let created_min = req.date("date_created:min")?;
    let created_max = req.date("date_created:max")?;
    let sort = CustomerSort::parse(req.q("sort"))?;
    let cursor = match (req.q("after"), req.q("before")) {
        (Some(_), Some(_)) => {
            return Err(v3_invalid(
                "The filter is invalid",
                json!({"after": "cannot be combined with before"}),
            ));
        }
        (Some(after), None) => Some((true, CustomerCursor::decode(after)?)),
        (None, Some(before)) => Some((false, CustomerCursor::decode(before)?)),
        (None, None) => None,
    };
    let mut matching: Vec<_> = store
        .customers
        .values()
        .filter(|c| ids.as_ref().is_none_or(|ids| ids.contains(&c.id)))
        .filter(|c| groups.as_ref().is_none_or(|g| g.contains(&c.customer_group_id)))
        .filter(|c| emails.as_ref().is_none_or(|e| e.contains(&c.email.to_lowercase())))
        .filter(|c| modified_min.is_none_or(|t| c.date_modified >= t))
        .filter(|c| modified_max.is_none_or(|t| c.date_modified <= t))
        .filter(|c| created_min.is_none_or(|t| c.date_created >= t))
        .filter(|c| created_max.is_none_or(|t| c.date_created <= t))
        .collect();
    // Every order ends in the id, so a position (sort key, id) is unique and a cursor survives deletions.
    matching.sort_by(|a, b| sort.compare(&sort.cursor(a), &sort.cursor(b)));
    let with_addresses = req.includes("addresses");
    let with_attributes = req.includes("attributes");
    let render = |c: &model::Customer| {
        let attributes = with_attributes.then(|| {
            store
                .attribute_values
                .values()
                .filter(|v| v.customer_id == c.id)
                .take(10)
                .collect()
        });
        let mut record = c.to_v3(with_addresses, attributes);
        if let (Some(patch), Value::Object(fields)) = (store.customer_patches.get(&c.id), &mut record) {
            fields.extend(patch.clone());
        }
        record
    };
    let Some((forward, cursor)) = cursor else {
        let first_cursors = (page == 1).then(|| {
            let shown: Vec<_> = matching.iter().take(limit).collect();
            let more = matching.len() > shown.len();
            cursor_meta(
                shown.first().map(|c| sort.cursor(c)),
                shown.last().map(|c| sort.cursor(c)),
                shown.len(),
                limit,
                more,
            )
        });
        let items = matching.iter().map(|c| render(c)).collect();
        let mut answer = page_of(items, page, limit);
        if let Some(meta) = first_cursors {
            answer["meta"]["cursor_pagination"] = meta;
        }
        return Ok(Reply::ok(answer));
    };
    // Strictly after (or before) the cursor's position in the sort order: no offset, so customers created
    // or deleted meanwhile shift nothing.
    let shown: Vec<_> = if forward {
        matching
            .into_iter()
            .filter(|c| sort.compare(&sort.cursor(c), &cursor).is_gt())
            .collect()
    } else {
        matching
            .into_iter()
            .filter(|c| sort.compare(&sort.cursor(c), &cursor).is_lt())
            .collect()
    };
    let more = shown.len() > limit;
    let shown: Vec<_> = if forward {
        shown.into_iter().take(limit).collect()
    } else {
        let skip = shown.len().saturating_sub(limit);
        shown.into_iter().skip(skip).collect()
    };
    let data: Vec<Value> = shown.iter().map(|c| render(c)).collect();
    let meta = cursor_meta(
        shown.first().map(|c| sort.cursor(c)),
        shown.last().map(|c| sort.cursor(c)),
        shown.len(),
        limit,
        more && forward,
    );
    Ok(Reply::ok(json!({"data": data, "meta": {"cursor_pagination": meta}})))
}

/// The orders `GET /v3/customers` offers, each completed by id.
#[derive(Clone, Copy)]
enum CustomerSort {
    Id,
    DateCreated(bool),
    DateModified(bool),
    LastName(bool),
}

/// A position in a customer listing: the sort key (absent for the default order by id) and the id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
struct CustomerCursor {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key: Option<CursorKey>,
    id: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
enum CursorKey {
    Time(i64),
    Text(String),
}

impl CustomerSort {
    fn parse(raw: Option<&str>) -> Result<Self, Reply> {
        Ok(match raw {
            None => Self::Id,
            Some("date_created:asc") => Self::DateCreated(true),
            Some("date_created:desc") => Self::DateCreated(false),
            Some("date_modified:asc") => Self::DateModified(true),
            Some("date_modified:desc") => Self::DateModified(false),
            Some("last_name:asc") => Self::LastName(true),
            Some("last_name:desc") => Self::LastName(false),
            Some(_) => return Err(v3_invalid("The filter is invalid", json!({"sort": "unknown sort"}))),
        })
    }

    fn cursor(self, c: &model::Customer) -> CustomerCursor {
        let time = |t: DateTime<Utc>| Some(CursorKey::Time(t.timestamp_micros()));
        let key = match self {
            Self::Id => None,
            Self::DateCreated(_) => time(c.date_created),
            Self::DateModified(_) => time(c.date_modified),
            Self::LastName(_) => Some(CursorKey::Text(c.last_name.clone())),
        };
        CustomerCursor { key, id: c.id }
    }

    fn compare(self, a: &CustomerCursor, b: &CustomerCursor) -> std::cmp::Ordering {
        let ascending = match self {
            Self::Id => true,
            Self::DateCreated(asc) | Self::DateModified(asc) | Self::LastName(asc) => asc,
        };
        if ascending { a.cmp(b) } else { b.cmp(a) }
    }
}

impl CustomerCursor {
    fn encode(&self) -> String {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    fn decode(raw: &str) -> Result<Self, Reply> {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .decode(raw)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or_else(|| v3_invalid("The filter is invalid", json!({"cursor": "not a cursor"})))
    }
}

/// `meta.cursor_pagination`; `links.next` only when more follow.
fn cursor_meta(
    start: Option<CustomerCursor>,
    end: Option<CustomerCursor>,
    count: usize,
    limit: usize,
    more: bool,
) -> Value {
    let start = start.map(|c| c.encode());
    let end = end.map(|c| c.encode());
    let mut links = json!({});
    if let Some(start) = &start {
        links["previous"] = json!(format!("?limit={limit}&before={start}"));
    }
    if let (true, Some(end)) = (more, &end) {
        links["next"] = json!(format!("?limit={limit}&after={end}"));
    }
    json!({
        "count": count,
        "per_page": limit,
        "start_cursor": start,
        "end_cursor": end,
        "links": links,
    })
}

fn list_attributes(store: &mut StoreState, req: &Req) -> Answer {
    let (page, limit) = req.paging(50)?;
    let items = store
        .attributes
        .values()
        .filter(|a| req.q("name").is_none_or(|n| a.name == n))
        .filter(|a| req.q("type").is_none_or(|t| a.kind == t))
        .map(Attribute::to_v3)
        .collect();
    Ok(Reply::ok(page_of(items, page, limit)))
}

#[derive(serde::Deserialize)]
struct AttributePost {
    name: String,
    #[serde(rename = "type")]
    kind: String,
}

fn create_attributes(store: &mut StoreState, req: &Req) -> Answer {
    let posts: Vec<AttributePost> = req.json()?;
    if posts.len() > 10 {
        return Err(v3_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "At most 10 attributes per request",
        ));
    }
    for post in &posts {
        if !matches!(post.kind.as_str(), "string" | "number" | "date") {
            return Err(v3_invalid(
                "The attribute is invalid",
                json!({"type": "one of string, number, date"}),
            ));
        }
        if post.name.is_empty() || post.name.len() > 255 {
            return Err(v3_invalid(
                "The attribute is invalid",
                json!({"name": "1 to 255 characters"}),
            ));
        }
        if store.attributes.values().any(|a| a.name == post.name) {
            return Err(v3_invalid(
                "The attribute is invalid",
                json!({"name": "already exists"}),
            ));
        }
    }
    if store.attributes.len() + posts.len() > 50 {
        return Err(v3_invalid(
            "The attribute is invalid",
            json!({"attributes": "at most 50 per store"}),
        ));
    }
    let now = Utc::now();
    let mut out = Vec::new();
    for post in posts {
        let id = store.next_id("attribute");
        let attribute = Attribute {
            id,
            name: post.name,
            kind: post.kind,
            date_created: now,
            date_modified: now,
        };
        out.push(attribute.to_v3());
        store.attributes.insert(id, attribute);
    }
    Ok(Reply::data(Value::Array(out)))
}

fn list_attribute_values(store: &mut StoreState, req: &Req) -> Answer {
    let (page, limit) = req.paging(50)?;
    let customers = req.id_list("customer_id:in")?;
    let attributes = req.id_list("attribute_id:in")?;
    let items = store
        .attribute_values
        .values()
        .filter(|v| customers.as_ref().is_none_or(|c| c.contains(&v.customer_id)))
        .filter(|v| attributes.as_ref().is_none_or(|a| a.contains(&v.attribute_id)))
        .map(AttributeValue::to_v3)
        .collect();
    Ok(Reply::ok(page_of(items, page, limit)))
}

#[derive(serde::Deserialize)]
struct AttributeValuePut {
    attribute_id: u64,
    value: String,
    customer_id: u64,
}

fn upsert_attribute_values(store: &mut StoreState, req: &Req) -> Answer {
    let puts: Vec<AttributeValuePut> = req.json()?;
    if puts.len() > 10 {
        return Err(v3_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "At most 10 attribute values per request",
        ));
    }
    for put in &puts {
        if !store.attributes.contains_key(&put.attribute_id) {
            return Err(v3_invalid(
                "The attribute value is invalid",
                json!({"attribute_id": "no such attribute"}),
            ));
        }
        if !store.customers.contains_key(&put.customer_id) {
            return Err(v3_invalid(
                "The attribute value is invalid",
                json!({"customer_id": "no such customer"}),
            ));
        }
        if put.value.chars().count() > 255 {
            return Err(v3_invalid(
                "The attribute value is invalid",
                json!({"value": "at most 255 characters"}),
            ));
        }
    }
    let now = Utc::now();
    let mut out = Vec::new();
    for put in puts {
        let existing = store
            .attribute_values
            .values_mut()
            .find(|v| v.attribute_id == put.attribute_id && v.customer_id == put.customer_id);
        let value = match existing {
            Some(v) => {
                v.value = put.value;
                v.date_modified = now;
                v.clone()
            }
            None => {
                let id = store.next_id("attribute_value");
                let v = AttributeValue {
                    id,
                    attribute_id: put.attribute_id,
                    customer_id: put.customer_id,
                    value: put.value,
                    date_created: now,
                    date_modified: now,
                };
                store.attribute_values.insert(id, v.clone());
                v
            }
        };
        out.push(value.to_v3());
    }
    Ok(Reply::data(Value::Array(out)))
}

fn customer_id(store: &StoreState, id: &str) -> Result<u64, Reply> {
    id.parse::<u64>()
        .ok()
        .filter(|id| store.customers.contains_key(id))
        .ok_or_else(|| v3_error(StatusCode::NOT_FOUND, "Customer not found"))
}

fn visible_metafield(m: &Metafield, client_id: &str) -> bool {
    m.client_id == client_id || m.permission_set != "app_only"
}

#[derive(serde::Deserialize)]
struct MetafieldBody {
    namespace: Option<String>,
    key: Option<String>,
    value: Option<String>,
    permission_set: Option<String>,
    description: Option<String>,
}

fn check_metafield(m: &Metafield) -> Result<(), Reply> {
    let mut errors = Map::new();
    if m.namespace.is_empty() || m.namespace.len() > 64 {
        errors.insert("namespace".into(), json!("1 to 64 characters"));
    }
    if m.key.is_empty() || m.key.len() > 64 {
        errors.insert("key".into(), json!("1 to 64 characters"));
    }
    if m.value.is_empty() || m.value.len() > 65535 {
        errors.insert("value".into(), json!("1 to 65535 characters"));
    }
    if !matches!(
        m.permission_set.as_str(),
        "app_only" | "read" | "write" | "read_and_sf_access" | "write_and_sf_access"
    ) {
        errors.insert("permission_set".into(), json!("invalid"));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(v3_invalid("The metafield is invalid", Value::Object(errors)))
    }
}

/// The spec answers metafield writes with a collection (`data` is an array of one).
fn metafield_write_reply(m: &Metafield) -> Reply {
    Reply::ok(json!({"data": [m.to_v3()], "errors": [], "meta": {}}))
}

fn customer_metafields(store: &mut StoreState, req: &Req, id: &str) -> Answer {
    let customer = customer_id(store, id)?;
    match req.method.as_str() {
        "GET" => {
            let (page, limit) = req.paging(50)?;
            let items = store
                .metafields
                .values()
                .filter(|m| m.customer_id == customer && visible_metafield(m, req.client_id))
                .filter(|m| req.q("namespace").is_none_or(|n| m.namespace == n))
                .filter(|m| req.q("key").is_none_or(|k| m.key == k))
                .map(Metafield::to_v3)
                .collect();
            Ok(Reply::ok(page_of(items, page, limit)))
        }
        "POST" => {
            let body: MetafieldBody = req.json()?;
            let now = Utc::now();
            let metafield = Metafield {
                id: 0,
                customer_id: customer,
                namespace: body.namespace.unwrap_or_default(),
                key: body.key.unwrap_or_default(),
                value: body.value.unwrap_or_default(),
                permission_set: body.permission_set.unwrap_or_default(),
                description: body.description.unwrap_or_default(),
                client_id: req.client_id.into(),
                date_created: now,
                date_modified: now,
            };
            check_metafield(&metafield)?;
            let duplicate = store.metafields.values().any(|m| {
                m.customer_id == customer
                    && m.client_id == metafield.client_id
                    && m.namespace == metafield.namespace
                    && m.key == metafield.key
            });
            if duplicate {
                return Err(v3_error(
                    StatusCode::CONFLICT,
                    "A metafield with this namespace and key already exists for this customer",
                ));
            }
            let id = store.next_id("metafield");
            let metafield = Metafield { id, ..metafield };
            let reply = metafield_write_reply(&metafield);
            store.metafields.insert(id, metafield);
            Ok(reply)
        }
        _ => Err(v3_error(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed")),
    }
}

fn customer_metafield(store: &mut StoreState, req: &Req, id: &str, mid: &str) -> Answer {
    let customer = customer_id(store, id)?;
    let not_found = || v3_error(StatusCode::NOT_FOUND, "The resource at that URL is not found.");
    let metafield_id = mid.parse::<u64>().map_err(|_| not_found())?;
    let metafield = store
        .metafields
        .get_mut(&metafield_id)
        .filter(|m| m.customer_id == customer && visible_metafield(m, req.client_id))
        .ok_or_else(not_found)?;
    match req.method.as_str() {
        "GET" => Ok(Reply::data(metafield.to_v3())),
        "PUT" => {
            if metafield.client_id != req.client_id {
                return Err(v3_error(
                    StatusCode::FORBIDDEN,
                    "Only the owning app may change this metafield",
                ));
            }
            let body: MetafieldBody = req.json()?;
            let mut updated = metafield.clone();
            if let Some(v) = body.namespace {
                updated.namespace = v;
            }
            if let Some(v) = body.key {
                updated.key = v;
            }
            if let Some(v) = body.value {
                updated.value = v;
            }
            if let Some(v) = body.permission_set {
                updated.permission_set = v;
            }
            if let Some(v) = body.description {
                updated.description = v;
            }
            check_metafield(&updated)?;
            updated.date_modified = Utc::now();
            *metafield = updated;
            Ok(metafield_write_reply(metafield))
        }
        _ => Err(v3_error(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed")),
    }
}

fn list_subscribers(store: &mut StoreState, req: &Req) -> Answer {
    let (page, limit) = req.paging(50)?;
    let ids = req.id_list("id:in")?;
    let id = req.id_list("id")?;
    let order_id = req.id_list("order_id")?;
    let modified_min = req.date("date_modified:min")?;
    let items = store
        .subscribers
        .values()
        .filter(|s| ids.as_ref().is_none_or(|ids| ids.contains(&s.id)))
        .filter(|s| id.as_ref().is_none_or(|ids| ids.contains(&s.id)))
        .filter(|s| {
            order_id
                .as_ref()
                .is_none_or(|o| s.order_id.is_some_and(|id| o.contains(&id)))
        })
        .filter(|s| req.q("email").is_none_or(|e| s.email.eq_ignore_ascii_case(e)))
        .filter(|s| req.q("first_name").is_none_or(|n| s.first_name == n))
        .filter(|s| req.q("last_name").is_none_or(|n| s.last_name == n))
        .filter(|s| req.q("source").is_none_or(|src| s.source == src))
        .filter(|s| modified_min.is_none_or(|t| s.date_modified >= t))
        .map(model::Subscriber::to_v3)
        .collect();
    Ok(Reply::ok(page_of(items, page, limit)))
}

fn get_subscriber(store: &mut StoreState, id: &str) -> Answer {
    id.parse::<u64>()
        .ok()
        .and_then(|id| store.subscribers.get(&id))
        .map(|s| Reply::data(s.to_v3()))
        .ok_or_else(|| v3_error(StatusCode::NOT_FOUND, "Subscriber not found"))
}

fn list_groups(store: &mut StoreState, req: &Req) -> Answer {
    let (page, limit) = req.paging(50)?;
    let items = store
        .groups
        .values()
        .filter(|g| req.q("name").is_none_or(|n| g.name == n))
        .filter(|g| {
            req.q("is_group_for_guests")
                .is_none_or(|v| g.is_group_for_guests == (v == "true"))
        })
        .map(model::CustomerGroup::to_v2)
        .collect();
    Ok(Reply::ok(v2_page(items, page, limit)))
}

// ---- carts, checkouts, orders, settings ----

fn get_cart(store: &mut StoreState, req: &Req, id: &str) -> Answer {
    let cart = store
        .carts
        .get(id)
        .ok_or_else(|| v3_error(StatusCode::NOT_FOUND, "Cart not found"))?;
    let mut out = cart.to_v3();
    if req.includes("redirect_urls") && cart.created_by_api {
        out["redirect_urls"] = store.redirect_urls(req.base_url, id);
    }
    Ok(Reply::data(out))
}

#[derive(serde::Deserialize)]
struct LineItemPost {
    quantity: u32,
    product_id: u64,
    variant_id: Option<u64>,
    list_price: Option<f64>,
    name: Option<String>,
}

#[derive(serde::Deserialize)]
struct CustomItemPost {
    sku: Option<String>,
    name: String,
    quantity: u32,
    list_price: f64,
    image_url: Option<String>,
}

#[derive(serde::Deserialize)]
struct CurrencyPost {
    code: String,
}

#[derive(serde::Deserialize)]
struct CartPost {
    #[serde(default)]
    customer_id: u64,
    #[serde(default)]
    line_items: Vec<LineItemPost>,
    #[serde(default)]
    custom_items: Vec<CustomItemPost>,
    channel_id: Option<u64>,
    currency: Option<CurrencyPost>,
    locale: Option<String>,
}

fn create_cart(store: &mut StoreState, req: &Req, events: &mut Events) -> Answer {
    let post: CartPost = req.json()?;
    if post.line_items.is_empty() && post.custom_items.is_empty() {
        return Err(v3_invalid(
            "The cart is invalid",
            json!({"line_items": "at least one item is required"}),
        ));
    }
    if post.customer_id != 0 && !store.customers.contains_key(&post.customer_id) {
        return Err(v3_invalid(
            "The cart is invalid",
            json!({"customer_id": "no such customer"}),
        ));
    }
    let mut items = Vec::new();
    for line in &post.line_items {
        if line.quantity == 0 {
            return Err(v3_invalid(
                "The cart is invalid",
                json!({"quantity": "must be at least 1"}),
            ));
        }
        let known = store.products.get(&line.product_id).cloned();
        let (name, price_cents, image_url) = match (&known, &line.name, line.list_price) {
            (Some(p), name, price) => (
                name.clone().unwrap_or_else(|| p.name.clone()),
                price.map_or(p.price_cents, model::to_cents),
                p.image_url.clone(),
            ),
            (None, Some(name), Some(price)) => (name.clone(), model::to_cents(price), String::new()),
            (None, _, _) => {
                return Err(v3_invalid(
                    "The cart is invalid",
                    json!({"product_id": format!("product {} not found", line.product_id)}),
                ));
            }
        };
        let seed = ItemSeed {
            product_id: Some(line.product_id),
            variant_id: line.variant_id,
            name,
            quantity: line.quantity,
            price: price_cents as f64 / 100.0,
            image_url,
        };
        items.push(store.cart_item(line.product_id, &seed));
    }
    for custom in &post.custom_items {
        items.push(model::CartItem {
            id: uuid::Uuid::new_v4().to_string(),
            product_id: 0,
            variant_id: 0,
            sku: custom.sku.clone().unwrap_or_default(),
            name: custom.name.clone(),
            quantity: custom.quantity,
            price_cents: model::to_cents(custom.list_price),
            image_url: custom.image_url.clone().unwrap_or_default(),
        });
    }
    let id = uuid::Uuid::new_v4().to_string();
    let now = Utc::now();
    let email = store
        .customers
        .get(&post.customer_id)
        .map(|c| c.email.clone())
        .unwrap_or_default();
    let cart = Cart {
        id: id.clone(),
        customer_id: post.customer_id,
        channel_id: post.channel_id.unwrap_or(1),
        email,
        currency: post
            .currency
            .map_or_else(|| store.info.currency.clone(), |c| c.code.to_uppercase()),
        locale: post.locale.unwrap_or_else(|| "en".into()),
        line_items: items,
        created_by_api: true,
        version: 1,
        billing_address: None,
        abandoned_token: None,
        created_time: now,
        updated_time: now,
    };
    let mut out = cart.to_v3();
    store.carts.insert(id.clone(), cart);
    if req.includes("redirect_urls") {
        out["redirect_urls"] = store.redirect_urls(req.base_url, &id);
    }
    for scope in ["store/cart/created", "store/cart/updated"] {
        events.push((scope.into(), json!({"type": "cart", "id": id})));
    }
    Ok(Reply::created(json!({"data": out, "meta": {}})))
}

fn create_redirect_urls(store: &mut StoreState, req: &Req, id: &str) -> Answer {
    let cart = store
        .carts
        .get(id)
        .ok_or_else(|| v3_error(StatusCode::NOT_FOUND, "Cart not found"))?;
    if !cart.created_by_api {
        return Err(v3_invalid(
            "Redirect URLs can only be generated for carts created through the REST Management API",
            json!({"cart_id": "created on the storefront"}),
        ));
    }
    let extra = if req.body.is_empty() {
        String::new()
    } else {
        let body: Value = req.json()?;
        match body.get("query_params") {
            Some(Value::Object(params)) => {
                let pairs: Vec<(String, String)> = params
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
                    .collect();
                format!("&{}", serde_urlencoded::to_string(pairs).unwrap_or_default())
            }
            _ => String::new(),
        }
    };
    let mut urls = store.redirect_urls(req.base_url, id);
    if let Some(object) = urls.as_object_mut() {
        for value in object.values_mut() {
            if let Some(url) = value.as_str() {
                *value = json!(format!("{url}{extra}"));
            }
        }
    }
    Ok(Reply::created(json!({"data": urls, "meta": {}})))
}

fn update_settings(store: &mut StoreState, req: &Req) -> Answer {
    let update: Map<String, Value> = req.json()?;
    let mut merged = serde_json::to_value(&store.settings).unwrap_or_default();
    for (k, v) in update {
        merged[k] = v;
    }
    store.settings = serde_json::from_value(merged)
        .map_err(|e| v3_invalid("JSON data is missing or invalid", json!({"body": e.to_string()})))?;
    Ok(Reply::data(serde_json::to_value(&store.settings).unwrap_or_default()))
}

fn list_orders(store: &mut StoreState, req: &Req) -> Answer {
    let (page, limit) = req.paging(50)?;
    let number = |key: &str| -> Result<Option<u64>, Reply> {
        req.q(key)
            .map(|v| {
                v.parse::<u64>()
                    .map_err(|_| v2_error(StatusCode::BAD_REQUEST, &format!("{key} must be an integer")))
            })
            .transpose()
    };
    let customer = number("customer_id")?;
    let status = number("status_id")?;
    let min_id = number("min_id")?;
    let max_id = number("max_id")?;
    let items = store
        .orders
        .values()
        .filter(|o| customer.is_none_or(|c| o.customer_id == c))
        .filter(|o| status.is_none_or(|s| u64::from(o.status_id) == s))
        .filter(|o| min_id.is_none_or(|m| o.id >= m))
        .filter(|o| max_id.is_none_or(|m| o.id <= m))
        .filter(|o| req.q("cart_id").is_none_or(|c| o.cart_id.as_deref() == Some(c)))
        .filter(|o| {
            req.q("email")
                .is_none_or(|e| o.billing_address.email.eq_ignore_ascii_case(e))
        })
        .map(|o| o.to_v2(req.base_url, &store.hash))
        .collect();
    Ok(Reply::ok(v2_page(items, page, limit)))
}

// ---- the login service ----

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    json_response(status, Some(json!({"error": error, "error_description": description})))
}

async fn token(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> Response {
    let fault = inner.lock().take_fault("POST", "/oauth2/token");
    if let Some(fault) = fault {
        if let Some(delay) = fault.delay {
            tokio::time::sleep(delay).await;
        }
        if let Some(status) = fault.status {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return oauth_error(status, "server_error", "injected fault");
        }
    }
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    // Official clients send JSON (node) or a form (Python); both are accepted.
    let fields: Option<HashMap<String, String>> = if is_json {
        serde_json::from_slice::<HashMap<String, Value>>(&body).ok().map(|m| {
            m.into_iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_owned())))
                .collect()
        })
    } else {
        serde_urlencoded::from_bytes(&body).ok()
    };
    let Some(fields) = fields else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the body is neither JSON nor a form",
        );
    };
    let field = |name: &str| fields.get(name).map(String::as_str).unwrap_or_default();
    for required in [
        "client_id",
        "client_secret",
        "code",
        "context",
        "grant_type",
        "redirect_uri",
    ] {
        if field(required).is_empty() {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                &format!("{required} is required"),
            );
        }
    }
    let config = &inner.config;
    if field("client_id") != config.client_id || field("client_secret") != config.client_secret {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "unknown client or wrong secret",
        );
    }
    if field("grant_type") != "authorization_code" {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "grant_type must be authorization_code",
        );
    }
    if field("redirect_uri") != config.redirect_uri {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "redirect_uri does not match the app's auth callback",
        );
    }
    let mut state = inner.lock();
    let Some(grant) = state.grants.get(field("code")) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "the code is unknown or already used",
        );
    };
    let hash = grant.store_hash.clone();
    let scope = grant.scope.clone();
    if field("context") != format!("stores/{hash}") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "the context does not match the code",
        );
    }
    state.grants.remove(field("code"));
    let access_token = hex::encode(uuid::Uuid::new_v4().as_bytes());
    state.tokens.insert(access_token.clone(), hash.clone());
    let Some(store) = state.stores.get_mut(&hash) else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "the store no longer exists");
    };
    store.scopes = scope.split(' ').filter(|s| !s.is_empty()).map(str::to_owned).collect();
    let owner = json!({"id": store.info.owner_id, "username": store.info.owner_email, "email": store.info.owner_email});
    json_response(
        StatusCode::OK,
        Some(json!({
            "access_token": access_token,
            "scope": scope,
            "user": owner,
            "owner": owner,
            "context": format!("stores/{hash}"),
            "account_uuid": config.account_uuid,
        })),
    )
}

// ---- the storefront ----

fn html(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
}

/// Redirect URLs are single-use: the first visit lands in the cart or checkout, later ones see "expired".
async fn storefront_cart(State(inner): State<Arc<Inner>>, Path(hash): Path<String>, uri: Uri) -> Response {
    let query: Vec<(String, String)> = serde_urlencoded::from_str(uri.query().unwrap_or_default()).unwrap_or_default();
    let get = |k: &str| {
        query
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let (token, cart_id, action) = (get("token"), get("id"), get("action"));
    let mut state = inner.lock();
    let Some(store) = state.stores.get_mut(&hash) else {
        return html(StatusCode::NOT_FOUND, "<h1>Store not found</h1>".into());
    };
    let cart_exists = store.carts.contains_key(&cart_id);
    let accepted = match store.redirect_tokens.get_mut(&token) {
        Some(t) if !t.used && t.cart_id == cart_id && cart_exists => {
            t.used = true;
            true
        }
        _ => false,
    };
    store.redirect_visits.push(RedirectVisit {
        cart_id: cart_id.clone(),
        action: action.clone(),
        accepted,
        query: uri.query().unwrap_or_default().into(),
    });
    if accepted {
        let page = if action == "loadInCheckout" {
            "Checkout"
        } else {
            "Your cart"
        };
        html(
            StatusCode::OK,
            format!("<h1>{page}</h1><p data-cart-id=\"{cart_id}\">Cart {cart_id} restored.</p>"),
        )
    } else {
        html(
            StatusCode::GONE,
            "<h1>This link has expired</h1><p>Your cart link was already used or is no longer valid.</p>".into(),
        )
    }
}
