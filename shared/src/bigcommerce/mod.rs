//! The BigCommerce API client: exactly the endpoints the product uses, typed.
//!
//! Build one [`BigCommerce`] per Lambda cold start (with the [`TokenKey`] in the functions that call stores)
//! and take a [`StoreClient`] per installed store, whose sealed token it opens:
//!
//! ```no_run
//! # async fn demo(config: shared::config::BigCommerceConfig, key: shared::access_token::TokenKey,
//! #               store: shared::model::Store) -> Result<(), shared::bigcommerce::BigCommerceError> {
//! use shared::bigcommerce::BigCommerce;
//! let bigcommerce = BigCommerce::new(&config)?.with_token_key(key);
//! let client = bigcommerce.store_client(&store).await?;
//! let first_page = client.customers(&Default::default()).await?;
//! # Ok(()) }
//! ```
//!
//! Every call paces itself from the store's `X-Rate-Limit-*` headers (the quota is shared by every app on the
//! store), waits out 429s, and retries 5xx and transport failures with jittered backoff; see [`RetryPolicy`].
//! Retries include POSTs: BigCommerce rejects duplicate hooks and metafields, and a duplicated re-created
//! cart is harmless.

mod error;
pub mod mapping;
mod transport;
mod types;

pub use error::BigCommerceError;
pub use transport::{ClientStats, RateLimit, RetryPolicy};
pub use types::*;

use crate::access_token::{AccessTokenError, SealedToken, TokenKey};
use crate::config::BigCommerceConfig;
use crate::model::Store;
use crate::{Secret, StoreHash};
use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt;
use std::sync::Arc;
use transport::{Answer, Body, Call, Counters, Pacer, Transport};

/// The webhook scopes the app registers for every store (all delivered to `APP_URL/webhooks/bigcommerce`).
pub const WEBHOOK_SCOPES: &[&str] = &[
    "store/customer/created",
    "store/customer/updated",
    "store/customer/deleted",
    "store/subscriber/created",
    "store/subscriber/updated",
    "store/subscriber/deleted",
    "store/cart/created",
    "store/cart/updated",
    "store/cart/abandoned",
    "store/cart/converted",
    "store/cart/deleted",
    "store/order/created",
    "store/order/statusUpdated",
];

/// Where BigCommerce delivers our webhooks, under `APP_URL`.
pub const WEBHOOK_PATH: &str = "/webhooks/bigcommerce";

/// The custom header every hook is registered with, carrying the store's random webhook secret.
pub const WEBHOOK_SECRET_HEADER: &str = "x-app-webhook-secret";

/// The app's client, shared by every store it talks to.
#[derive(Clone)]
pub struct BigCommerce {
    inner: Arc<Inner>,
    /// Only in the functions that call stores' APIs (see [`crate::access_token`]).
    token_key: Option<TokenKey>,
}

struct Inner {
    transport: Transport,
    api_url: String,
    login_url: String,
    client_id: String,
    client_secret: Secret,
}

impl fmt::Debug for BigCommerce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BigCommerce")
            .field("api_url", &self.inner.api_url)
            .field("login_url", &self.inner.login_url)
            .finish_non_exhaustive()
    }
}

type Result<T> = std::result::Result<T, BigCommerceError>;

fn decode<T: DeserializeOwned>(path: &str, body: &[u8]) -> Result<T> {
    // serde's message may quote a value from the body (a name, an email): keep only where it failed.
    serde_json::from_slice(body).map_err(|e| BigCommerceError::Decode {
        path: path.to_owned(),
        message: format!("{:?} error at line {} column {}", e.classify(), e.line(), e.column()),
    })
}

fn json_body<T: Serialize + ?Sized>(value: &T) -> Result<Body> {
    serde_json::to_vec(value)
        .map(Body::Json)
        .map_err(|_| BigCommerceError::Invalid {
            status: 0,
            code: Some("request_not_encodable".to_owned()),
        })
}

fn join(ids: &[u64]) -> String {
    ids.iter().map(u64::to_string).collect::<Vec<_>>().join(",")
}

/// The query string of `GET /v3/customers`; `page` is left out when a cursor is given (BigCommerce ignores it).
fn customer_params(query: &CustomerQuery) -> Vec<(String, String)> {
    let mut q = Vec::new();
    match &query.after {
        Some(after) => q.push(("after".to_owned(), after.clone())),
        None => q.push(("page".to_owned(), query.page.max(1).to_string())),
    }
    q.push(("limit".to_owned(), query.limit.to_string()));
    if let Some(sort) = query.sort {
        q.push(("sort".to_owned(), sort.as_param().to_owned()));
    }
    q.push(("include".to_owned(), "addresses,attributes".to_owned()));
    if !query.ids.is_empty() {
        q.push(("id:in".into(), join(&query.ids)));
    }
    if !query.group_ids.is_empty() {
        q.push(("customer_group_id:in".into(), join(&query.group_ids)));
    }
    if !query.emails.is_empty() {
        q.push(("email:in".into(), query.emails.join(",")));
    }
    if let Some(since) = query.modified_since {
        q.push(("date_modified:min".into(), iso(since)));
    }
    q
}

fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

impl BigCommerce {
    pub fn new(config: &BigCommerceConfig) -> Result<Self> {
        Self::with_policy(config, RetryPolicy::default())
    }

    pub fn with_policy(config: &BigCommerceConfig, policy: RetryPolicy) -> Result<Self> {
        let http = crate::tls::client_builder()
            .user_agent(concat!("sms-consent-app/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| BigCommerceError::Transport(e.to_string()))?;
        Ok(Self {
            inner: Arc::new(Inner {
                transport: Transport {
                    http,
                    policy,
                    pacer: Pacer::default(),
                    counters: Counters::default(),
                },
                api_url: config.api_url.trim_end_matches('/').to_owned(),
                login_url: config.login_url.trim_end_matches('/').to_owned(),
                client_id: config.client_id.clone(),
                client_secret: config.client_secret.clone(),
            }),
            token_key: None,
        })
    }

    /// Gives the client the key that seals and opens stores' access tokens.
    pub fn with_token_key(mut self, key: TokenKey) -> Self {
        self.token_key = Some(key);
        self
    }

    fn token_key(&self) -> Result<&TokenKey> {
        Ok(self.token_key.as_ref().ok_or(AccessTokenError::NoKey)?)
    }

    /// A handle for an installed store's API, with its access token opened (once per warm instance).
    pub async fn store_client(&self, store: &Store) -> Result<StoreClient> {
        let token = self.token_key()?.open(&store.store_hash, &store.access_token).await?;
        Ok(self.store(&store.store_hash, &token))
    }

    /// Seals a store's new access token for storing (install).
    pub async fn seal_token(&self, store: &StoreHash, token: &Secret) -> Result<SealedToken> {
        Ok(self.token_key()?.seal(store, token).await?)
    }

    /// A handle for one store's API with a plain token; cheap, and every handle of a store shares its pacing.
    /// Handlers use [`BigCommerce::store_client`] with the stored record.
    pub fn store(&self, hash: &StoreHash, access_token: &Secret) -> StoreClient {
        StoreClient {
            client: self.clone(),
            hash: hash.clone(),
            token: access_token.clone(),
        }
    }

    pub fn stats(&self) -> ClientStats {
        self.inner.transport.counters.snapshot()
    }

    /// Exchanges the grant code from `/auth?code&scope&context` for the store's access token.
    /// `redirect_uri` must be the app's registered `/auth` URL.
    pub async fn exchange_code(
        &self,
        code: &str,
        scope: &str,
        context: &str,
        redirect_uri: &str,
    ) -> Result<TokenGrant> {
        // The documented request is JSON (the login service also takes a form).
        let body = json_body(&serde_json::json!({
            "client_id": self.inner.client_id,
            "client_secret": self.inner.client_secret.expose(),
            "code": code,
            "scope": scope,
            "grant_type": "authorization_code",
            "redirect_uri": redirect_uri,
            "context": context,
        }))?;
        let path = "/oauth2/token".to_owned();
        let answer = self
            .inner
            .transport
            .execute(Call {
                store: None,
                token: None,
                method: Method::POST,
                url: format!("{}{path}", self.inner.login_url),
                path: path.clone(),
                query: Vec::new(),
                body: Some(body),
            })
            .await?;
        let response: TokenResponse = decode(&path, &answer.body)?;
        let store_hash = StoreHash::from_context(&response.context).map_err(|e| BigCommerceError::Decode {
            path: path.clone(),
            message: e.to_string(),
        })?;
        Ok(TokenGrant {
            access_token: response.access_token,
            store_hash,
            scopes: response.scope.split_whitespace().map(str::to_owned).collect(),
            owner: response.owner.unwrap_or_else(|| response.user.clone()),
            user: response.user,
            account_uuid: response.account_uuid,
        })
    }
}

/// One store's API, authenticated with its access token.
#[derive(Clone)]
pub struct StoreClient {
    client: BigCommerce,
    hash: StoreHash,
    token: Secret,
}

impl fmt::Debug for StoreClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreClient")
            .field("store", &self.hash)
            .field("token", &self.token)
            .finish()
    }
}

impl StoreClient {
    pub fn store_hash(&self) -> &StoreHash {
        &self.hash
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        query: Vec<(String, String)>,
        body: Option<Body>,
    ) -> Result<Answer> {
        let path = format!("/stores/{}{path}", self.hash);
        self.client
            .inner
            .transport
            .execute(Call {
                store: Some(&self.hash),
                token: Some(&self.token),
                method,
                url: format!("{}{path}", self.client.inner.api_url),
                path,
                query,
                body,
            })
            .await
    }

    /// A v3 call whose answer is `{data: T, meta}`.
    async fn v3<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: Vec<(String, String)>,
        body: Option<Body>,
    ) -> Result<T> {
        let answer = self.call(method, path, query, body).await?;
        Ok(decode::<Envelope<T>>(path, &answer.body)?.data)
    }

    async fn v3_page<T: DeserializeOwned>(&self, path: &str, query: Vec<(String, String)>) -> Result<Page<T>> {
        let answer = self.call(Method::GET, path, query, None).await?;
        let envelope: CollectionEnvelope<T> = decode(path, &answer.body)?;
        Ok(Page {
            items: envelope.data,
            pagination: envelope.meta.pagination,
            cursor: envelope.meta.cursor_pagination,
        })
    }

    /// Every page of a small v3 collection (hooks, scripts, metafields, attributes).
    async fn v3_all<T: DeserializeOwned>(&self, path: &str, query: Vec<(String, String)>) -> Result<Vec<T>> {
        const LIMIT: u32 = 250;
        let mut items = Vec::new();
        for page in 1.. {
            let mut q = query.clone();
            q.push(("page".into(), page.to_string()));
            q.push(("limit".into(), LIMIT.to_string()));
            let page = self.v3_page::<T>(path, q).await?;
            let more = page.has_more(LIMIT) && !page.items.is_empty();
            items.extend(page.items);
            if !more {
                break;
            }
        }
        Ok(items)
    }

    /// A v2 call whose answer is a bare object or array; 204 (v2's empty collection) yields `T::default()`.
    async fn v2<T: DeserializeOwned + Default>(&self, path: &str, query: Vec<(String, String)>) -> Result<T> {
        let answer = self.call(Method::GET, path, query, None).await?;
        if answer.status == reqwest::StatusCode::NO_CONTENT || answer.body.is_empty() {
            return Ok(T::default());
        }
        decode(path, &answer.body)
    }

    // ---- hooks ----

    /// This app's webhooks on the store (BigCommerce shows each app only its own).
    pub async fn hooks(&self) -> Result<Vec<Hook>> {
        self.v3_all("/v3/hooks", Vec::new()).await
    }

    /// BigCommerce refuses a second hook with the same scope and destination ([`BigCommerceError::Invalid`]).
    pub async fn create_hook(&self, hook: &NewHook) -> Result<Hook> {
        self.v3(Method::POST, "/v3/hooks", Vec::new(), Some(json_body(hook)?))
            .await
    }

    pub async fn update_hook(&self, id: u64, update: &HookUpdate) -> Result<Hook> {
        self.v3(
            Method::PUT,
            &format!("/v3/hooks/{id}"),
            Vec::new(),
            Some(json_body(update)?),
        )
        .await
    }

    pub async fn delete_hook(&self, id: u64) -> Result<()> {
        self.call(Method::DELETE, &format!("/v3/hooks/{id}"), Vec::new(), None)
            .await
            .map(drop)
    }

    // ---- scripts ----

    /// This app's scripts (others' are invisible).
    pub async fn scripts(&self) -> Result<Vec<Script>> {
        self.v3_all("/v3/content/scripts", Vec::new()).await
    }

    pub async fn create_script(&self, script: &NewScript) -> Result<Script> {
        self.v3(
            Method::POST,
            "/v3/content/scripts",
            Vec::new(),
            Some(json_body(script)?),
        )
        .await
    }

    pub async fn update_script(&self, uuid: &str, script: &NewScript) -> Result<Script> {
        self.v3(
            Method::PUT,
            &format!("/v3/content/scripts/{uuid}"),
            Vec::new(),
            Some(json_body(script)?),
        )
        .await
    }

    pub async fn delete_script(&self, uuid: &str) -> Result<()> {
        self.call(Method::DELETE, &format!("/v3/content/scripts/{uuid}"), Vec::new(), None)
            .await
            .map(drop)
    }

    // ---- customers ----

    /// One page of customers, with addresses and attribute values.
    pub async fn customers(&self, query: &CustomerQuery) -> Result<Page<Customer>> {
        self.v3_page("/v3/customers", customer_params(query)).await
    }

    /// One page of customers like [`Self::customers`], each decoded on its own: a malformed customer is
    /// reported by id and the rest of the page is kept.
    pub async fn customer_page(&self, query: &CustomerQuery) -> Result<CustomerPage> {
        let raw: Page<serde_json::Value> = self.v3_page("/v3/customers", customer_params(query)).await?;
        let mut items = Vec::with_capacity(raw.items.len());
        let mut malformed = Vec::new();
        for value in raw.items {
            let id = value.get("id").and_then(serde_json::Value::as_u64).unwrap_or_default();
            match serde_json::from_value::<Customer>(value) {
                Ok(customer) => items.push(customer),
                Err(error) => {
                    tracing::warn!(customer_id = id, %error, "customer record not in the documented shape; skipped");
                    malformed.push(id);
                }
            }
        }
        Ok(CustomerPage {
            page: Page {
                items,
                pagination: raw.pagination,
                cursor: raw.cursor,
            },
            malformed,
        })
    }

    /// One customer with addresses and attribute values; [`BigCommerceError::NotFound`] when there is none.
    pub async fn customer(&self, id: u64) -> Result<Customer> {
        let page = self
            .customers(&CustomerQuery {
                ids: vec![id],
                limit: 1,
                ..CustomerQuery::default()
            })
            .await?;
        page.items
            .into_iter()
            .find(|c| c.id == id)
            .ok_or_else(|| BigCommerceError::NotFound {
                path: format!("/stores/{}/v3/customers?id:in={id}", self.hash),
            })
    }

    pub async fn customer_attributes(&self) -> Result<Vec<CustomerAttribute>> {
        self.v3_all("/v3/customers/attributes", Vec::new()).await
    }

    pub async fn create_customer_attribute(&self, name: &str, kind: AttributeType) -> Result<CustomerAttribute> {
        #[derive(Serialize)]
        struct Post<'a> {
            name: &'a str,
            #[serde(rename = "type")]
            kind: AttributeType,
        }
        let created: Vec<CustomerAttribute> = self
            .v3(
                Method::POST,
                "/v3/customers/attributes",
                Vec::new(),
                Some(json_body(&[Post { name, kind }])?),
            )
            .await?;
        created.into_iter().next().ok_or_else(|| BigCommerceError::Decode {
            path: "/v3/customers/attributes".into(),
            message: "no attribute in the answer".into(),
        })
    }

    /// Sets attribute values (insert or update); at most 10 per call, else BigCommerce answers 413.
    pub async fn upsert_attribute_values(
        &self,
        values: &[AttributeValueUpsert],
    ) -> Result<Vec<CustomerAttributeValue>> {
        self.v3(
            Method::PUT,
            "/v3/customers/attribute-values",
            Vec::new(),
            Some(json_body(values)?),
        )
        .await
    }

    /// The customer's metafields this app can see.
    pub async fn customer_metafields(&self, customer_id: u64) -> Result<Vec<Metafield>> {
        self.v3_all(&format!("/v3/customers/{customer_id}/metafields"), Vec::new())
            .await
    }

    /// 409 ([`BigCommerceError::Invalid`]) when this app already has the namespace and key on the customer.
    pub async fn create_customer_metafield(&self, customer_id: u64, metafield: &NewMetafield) -> Result<Metafield> {
        let path = format!("/v3/customers/{customer_id}/metafields");
        self.one_metafield(Method::POST, &path, metafield).await
    }

    pub async fn update_customer_metafield(
        &self,
        customer_id: u64,
        metafield_id: u64,
        metafield: &NewMetafield,
    ) -> Result<Metafield> {
        let path = format!("/v3/customers/{customer_id}/metafields/{metafield_id}");
        self.one_metafield(Method::PUT, &path, metafield).await
    }

    async fn one_metafield(&self, method: Method, path: &str, metafield: &NewMetafield) -> Result<Metafield> {
        let written: OneOrMany<Metafield> = self.v3(method, path, Vec::new(), Some(json_body(metafield)?)).await?;
        match written {
            OneOrMany::One(m) => Ok(m),
            OneOrMany::Many(many) => many.into_iter().next().ok_or_else(|| BigCommerceError::Decode {
                path: path.to_owned(),
                message: "no metafield in the answer".into(),
            }),
        }
    }

    /// One page of customer groups (v2; a bare array).
    pub async fn customer_groups_page(&self, page: u32, limit: u32) -> Result<Vec<CustomerGroup>> {
        self.v2(
            "/v2/customer_groups",
            vec![
                ("page".into(), page.max(1).to_string()),
                ("limit".into(), limit.to_string()),
            ],
        )
        .await
    }

    /// Every customer group.
    pub async fn customer_groups(&self) -> Result<Vec<CustomerGroup>> {
        const LIMIT: u32 = 250;
        let mut groups = Vec::new();
        for page in 1.. {
            let batch = self.customer_groups_page(page, LIMIT).await?;
            let full = batch.len() >= LIMIT as usize;
            groups.extend(batch);
            if !full {
                break;
            }
        }
        Ok(groups)
    }

    // ---- subscribers ----

    pub async fn subscribers(&self, query: &SubscriberQuery) -> Result<Page<Subscriber>> {
        let mut q = vec![
            ("page".to_owned(), query.page.max(1).to_string()),
            ("limit".to_owned(), query.limit.to_string()),
        ];
        if let Some(email) = &query.email {
            q.push(("email".into(), email.clone()));
        }
        if !query.ids.is_empty() {
            q.push(("id:in".into(), join(&query.ids)));
        }
        if let Some(since) = query.modified_since {
            q.push(("date_modified:min".into(), iso(since)));
        }
        self.v3_page("/v3/customers/subscribers", q).await
    }

    pub async fn subscriber(&self, id: u64) -> Result<Subscriber> {
        self.v3(
            Method::GET,
            &format!("/v3/customers/subscribers/{id}"),
            Vec::new(),
            None,
        )
        .await
    }

    // ---- carts, checkouts, abandoned carts ----

    /// [`BigCommerceError::NotFound`] once the cart converted, was emptied or expired.
    pub async fn cart(&self, id: &str) -> Result<Cart> {
        self.v3(Method::GET, &format!("/v3/carts/{id}"), Vec::new(), None).await
    }

    /// Creates a cart through the management API and returns it with fresh redirect URLs (the only kind of
    /// cart that has them).
    pub async fn create_cart(&self, cart: &NewCart) -> Result<Cart> {
        let body = NewCartBody {
            customer_id: cart.customer_id,
            channel_id: cart.channel_id,
            line_items: &cart.line_items,
            currency: cart.currency.clone().map(|code| NewCurrency { code }),
            locale: cart.locale.as_deref(),
        };
        self.v3(
            Method::POST,
            "/v3/carts",
            vec![("include".into(), "redirect_urls".into())],
            Some(json_body(&body)?),
        )
        .await
    }

    /// Fresh single-use redirect URLs for an API-created cart.
    pub async fn create_redirect_urls(&self, cart_id: &str) -> Result<RedirectUrls> {
        self.v3(
            Method::POST,
            &format!("/v3/carts/{cart_id}/redirect_urls"),
            Vec::new(),
            None,
        )
        .await
    }

    pub async fn checkout(&self, id: &str) -> Result<Checkout> {
        self.v3(Method::GET, &format!("/v3/checkouts/{id}"), Vec::new(), None)
            .await
    }

    /// The cart id behind a `store/cart/abandoned` token.
    pub async fn abandoned_cart_id(&self, token: &str) -> Result<String> {
        let found: AbandonedCart = self
            .v3(Method::GET, &format!("/v3/abandoned-carts/{token}"), Vec::new(), None)
            .await?;
        Ok(found.cart_id)
    }

    pub async fn abandoned_cart_settings(&self) -> Result<AbandonedCartSettings> {
        self.v3(Method::GET, "/v3/abandoned-carts/settings", Vec::new(), None)
            .await
    }

    // ---- orders ----

    pub async fn order(&self, id: u64) -> Result<Order> {
        let answer = self
            .call(Method::GET, &format!("/v2/orders/{id}"), Vec::new(), None)
            .await?;
        decode(&format!("/v2/orders/{id}"), &answer.body)
    }

    /// Orders matching the filters (e.g. the order of a cart); empty when there are none.
    pub async fn orders(&self, query: &OrderQuery) -> Result<Vec<Order>> {
        let mut q = vec![
            ("page".to_owned(), query.page.max(1).to_string()),
            ("limit".to_owned(), query.limit.to_string()),
        ];
        if let Some(cart_id) = &query.cart_id {
            q.push(("cart_id".into(), cart_id.clone()));
        }
        if let Some(customer_id) = query.customer_id {
            q.push(("customer_id".into(), customer_id.to_string()));
        }
        if let Some(email) = &query.email {
            q.push(("email".into(), email.clone()));
        }
        if let Some(status_id) = query.status_id {
            q.push(("status_id".into(), status_id.to_string()));
        }
        self.v2("/v2/orders", q).await
    }

    // ---- promotions and coupon codes (scope `store_v2_marketing`) ----

    /// The store's enabled coupon promotions (those a shopper redeems with a code), for the merchant to choose
    /// the one a reminder's unique code belongs to.
    pub async fn coupon_promotions(&self) -> Result<Vec<Promotion>> {
        self.v3_all(
            "/v3/promotions",
            vec![
                ("redemption_type".into(), "coupon".into()),
                ("status".into(), "ENABLED".into()),
            ],
        )
        .await
    }

    /// Creates `code` on a coupon promotion, usable once by one shopper. 409 ([`BigCommerceError::Invalid`])
    /// when the code exists already, [`BigCommerceError::NotFound`] when the promotion is gone.
    pub async fn create_coupon_code(&self, promotion_id: u64, code: &str) -> Result<CouponCode> {
        let body = serde_json::json!({ "code": code, "max_uses": 1, "max_uses_per_customer": 1 });
        self.v3(
            Method::POST,
            &format!("/v3/promotions/{promotion_id}/codes"),
            Vec::new(),
            Some(json_body(&body)?),
        )
        .await
    }

    /// The coupon codes an order redeemed; empty when none.
    pub async fn order_coupons(&self, order_id: u64) -> Result<Vec<OrderCoupon>> {
        self.v2(&format!("/v2/orders/{order_id}/coupons"), Vec::new()).await
    }

    // ---- store ----

    pub async fn store_information(&self) -> Result<StoreInformation> {
        let answer = self.call(Method::GET, "/v2/store", Vec::new(), None).await?;
        decode("/v2/store", &answer.body)
    }
}

#[cfg(test)]
mod tests;
