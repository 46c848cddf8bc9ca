//! The BigCommerce simulator over plain HTTP: what the app's client will meet.

use axum::body::Bytes;
use axum::http::HeaderMap;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha1::Digest;
use sim::bigcommerce::{BigCommerceSim, BillingAddress, CartSeed, CustomerSeed, Fault, ItemSeed, SimConfig, StoreSeed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const HASH: &str = "abc123";

async fn sim_with_store(config: SimConfig) -> (BigCommerceSim, String) {
    let sim = BigCommerceSim::start(config).await;
    sim.create_store(HASH, StoreSeed::default());
    let token = sim.issue_token(HASH);
    (sim, token)
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn url(sim: &BigCommerceSim, path: &str) -> String {
    format!("{}/stores/{HASH}{path}", sim.api_url())
}

async fn get(sim: &BigCommerceSim, token: &str, path: &str) -> reqwest::Response {
    http()
        .get(url(sim, path))
        .header("X-Auth-Token", token)
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap()
}

async fn send(
    sim: &BigCommerceSim,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Value,
) -> reqwest::Response {
    http()
        .request(method, url(sim, path))
        .header("X-Auth-Token", token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response.headers().get(name).map(|v| v.to_str().unwrap().to_owned())
}

#[tokio::test]
async fn oauth_code_exchange_checks_every_field_and_codes_are_single_use() {
    let config = SimConfig::default();
    let sim = BigCommerceSim::start(config.clone()).await;
    sim.create_store(HASH, StoreSeed::default());
    let grant = sim.authorize_install(HASH, &["store_v2_customers", "store_cart"]);
    assert!(grant.callback_query().contains("context=stores%2Fabc123"));
    assert!(grant.callback_query().contains("scope=store_v2_customers+store_cart"));

    let token_url = format!("{}/oauth2/token", sim.login_url());
    let body = |overrides: &[(&str, &str)]| {
        let mut fields = vec![
            ("client_id", config.client_id.clone()),
            ("client_secret", config.client_secret.clone()),
            ("code", grant.code.clone()),
            ("context", grant.context.clone()),
            ("scope", grant.scope.clone()),
            ("grant_type", "authorization_code".to_owned()),
            ("redirect_uri", config.redirect_uri.clone()),
        ];
        for (k, v) in overrides {
            fields.iter_mut().find(|(f, _)| f == k).unwrap().1 = (*v).to_owned();
        }
        fields
            .into_iter()
            .map(|(k, v)| (k.to_owned(), Value::String(v)))
            .collect::<serde_json::Map<_, _>>()
    };
    let attempt = |b: serde_json::Map<String, Value>| http().post(&token_url).json(&b).send();

    for (overrides, status) in [
        (vec![("client_secret", "wrong")], 401),
        (vec![("client_id", "someone-else")], 401),
        (vec![("redirect_uri", "https://evil.example.com/auth")], 400),
        (vec![("context", "stores/other")], 400),
        (vec![("grant_type", "client_credentials")], 400),
        (vec![("code", "not-a-code")], 400),
        (vec![("code", "")], 400),
    ] {
        let response = attempt(body(&overrides)).await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{overrides:?}");
    }

    // Form-encoded, as the Python client sends it.
    let form: Vec<(String, String)> = body(&[])
        .into_iter()
        .map(|(k, v)| (k, v.as_str().unwrap().to_owned()))
        .collect();
    let response = http().post(&token_url).form(&form).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let granted: Value = response.json().await.unwrap();
    assert_eq!(granted["context"], "stores/abc123");
    assert_eq!(granted["scope"], "store_v2_customers store_cart");
    assert_eq!(granted["user"]["email"], "owner@sim-store.example.com");
    assert_eq!(granted["owner"]["id"], 7654321);
    assert_eq!(granted["account_uuid"], config.account_uuid);
    let access_token = granted["access_token"].as_str().unwrap().to_owned();
    assert_eq!(sim.granted_scopes(HASH), vec!["store_v2_customers", "store_cart"]);

    let again = attempt(body(&[])).await.unwrap();
    assert_eq!(again.status(), 400, "a code works once");

    assert_eq!(get(&sim, &access_token, "/v2/store").await.status(), 200);
}

#[tokio::test]
async fn api_calls_need_the_stores_token() {
    let (sim, token) = sim_with_store(SimConfig::default()).await;
    sim.create_store("other1", StoreSeed::default());
    let other_token = sim.issue_token("other1");

    assert_eq!(get(&sim, &token, "/v3/customers").await.status(), 200);
    let missing = get(&sim, "", "/v3/customers").await;
    assert_eq!(missing.status(), 401);
    assert_eq!(
        header(&missing, "X-Rate-Limit-Requests-Left").as_deref(),
        Some("149"),
        "a refused request shows the quota without spending it"
    );
    assert_eq!(get(&sim, "nonsense", "/v3/customers").await.status(), 401);
    assert_eq!(get(&sim, &other_token, "/v3/customers").await.status(), 401);

    let unknown = http()
        .get(format!("{}/stores/nosuch/v3/customers", sim.api_url()))
        .header("X-Auth-Token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);

    sim.uninstall(HASH);
    let after = get(&sim, &token, "/v3/customers").await;
    assert_eq!(after.status(), 401);
    let body: Value = after.json().await.unwrap();
    assert_eq!(body["status"], 401);
}

#[tokio::test]
async fn customers_paginate_filter_include_and_refuse_big_pages() {
    let (sim, token) = sim_with_store(SimConfig::default()).await;
    let vip = sim.create_customer_group(HASH, "VIP");
    let summary = sim.seed_customers(HASH, 120);
    assert_eq!(summary.ids.len(), 120);

    let mut seen = Vec::new();
    for page in 1..=3 {
        let body: Value = get(&sim, &token, &format!("/v3/customers?page={page}&limit=50"))
            .await
            .json()
            .await
            .unwrap();
        let pagination = &body["meta"]["pagination"];
        assert_eq!(pagination["total"], 120);
        assert_eq!(pagination["total_pages"], 3);
        assert_eq!(pagination["current_page"], page);
        let data = body["data"].as_array().unwrap();
        assert_eq!(data.len(), if page < 3 { 50 } else { 20 });
        assert!(data[0].get("addresses").is_none(), "addresses only on request");
        seen.extend(data.iter().map(|c| c["id"].as_u64().unwrap()));
    }
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), 120, "pages neither overlap nor skip");

    let too_big = get(&sim, &token, "/v3/customers?limit=251").await;
    assert_eq!(too_big.status(), 413);

    let body: Value = get(&sim, &token, "/v3/customers?id:in=1,2,3&include=addresses,attributes")
        .await
        .json()
        .await
        .unwrap();
    let data = body["data"].as_array().unwrap();
    assert_eq!(data.len(), 3);
    assert!(data[0]["addresses"][0]["country_code"].is_string());
    assert!(data[0]["attributes"].is_array());
    assert!(data[0]["date_modified"].as_str().unwrap().ends_with('Z'));

    let body: Value = get(
        &sim,
        &token,
        &format!("/v3/customers?customer_group_id:in={vip}&limit=250"),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(body["meta"]["pagination"]["total"], 60, "half go to VIP");
    assert!(
        body["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["customer_group_id"] == vip)
    );

    let groups: Value = get(&sim, &token, "/v2/customer_groups").await.json().await.unwrap();
    assert_eq!(groups[0]["name"], "VIP", "v2 is a bare array");
}

#[tokio::test]
async fn seeded_phones_are_as_valid_as_the_summary_says() {
    let sim = BigCommerceSim::start(SimConfig::default()).await;
    sim.create_store(HASH, StoreSeed::default());
    let summary = sim.seed_customers(HASH, 40);
    let mut valid = 0;
    let mut missing = 0;
    for customer in sim.customers(HASH) {
        if customer.phone.is_empty() {
            missing += 1;
            continue;
        }
        let country: phonenumber::country::Id = customer.addresses[0].country_code.parse().unwrap();
        if phonenumber::parse(Some(country), &customer.phone).is_ok_and(|n| phonenumber::is_valid(&n)) {
            valid += 1;
        }
    }
    assert_eq!(valid, summary.with_valid_phone);
    assert_eq!(missing, summary.without_phone);
    assert_eq!(40 - valid - missing, summary.with_invalid_phone);
    assert!(summary.with_invalid_phone > 0 && summary.without_phone > 0);
}

#[tokio::test]
async fn every_response_carries_rate_limit_headers_and_the_quota_binds() {
    let config = SimConfig {
        requests_per_window: 3,
        window: Duration::from_millis(800),
        ..SimConfig::default()
    };
    let (sim, token) = sim_with_store(config).await;

    let mut lefts = Vec::new();
    for _ in 0..3 {
        let response = get(&sim, &token, "/v2/store").await;
        assert_eq!(response.status(), 200);
        assert_eq!(header(&response, "x-rate-limit-time-window-ms").as_deref(), Some("800"));
        assert_eq!(header(&response, "X-Rate-Limit-Requests-Quota").as_deref(), Some("3"));
        let reset: u64 = header(&response, "X-Rate-Limit-Time-Reset-Ms")
            .unwrap()
            .parse()
            .unwrap();
        assert!(reset > 0 && reset <= 800);
        lefts.push(header(&response, "X-Rate-Limit-Requests-Left").unwrap());
    }
    assert_eq!(lefts, ["2", "1", "0"]);

    let limited = get(&sim, &token, "/v3/customers/99/metafields").await;
    assert_eq!(limited.status(), 429);
    assert_eq!(header(&limited, "X-Rate-Limit-Requests-Left").as_deref(), Some("0"));
    let reset: u64 = header(&limited, "X-Rate-Limit-Time-Reset-Ms").unwrap().parse().unwrap();
    assert_eq!(sim.stats(HASH).rate_limited, 1);
    assert_eq!(sim.stats(HASH).requests, 4);

    tokio::time::sleep(Duration::from_millis(reset + 20)).await;
    let fresh = get(&sim, &token, "/v2/store").await;
    assert_eq!(fresh.status(), 200);
    assert_eq!(header(&fresh, "X-Rate-Limit-Requests-Left").as_deref(), Some("2"));
}

#[tokio::test]
async fn injected_faults_fire_the_requested_number_of_times() {
    let (sim, token) = sim_with_store(SimConfig::default()).await;
    sim.inject_fault(Fault::status(503, "/v3/customers").times(2));
    sim.inject_fault(Fault::status(429, "/v2/store").method("GET"));
    sim.inject_fault(Fault::delay(Duration::from_millis(300), "/v2/customer_groups"));

    sim.inject_fault(Fault::status(500, "page=2"));

    let statuses: Vec<u16> = futures_lite(&sim, &token, "/v3/customers", 3).await;
    assert_eq!(statuses, [503, 503, 200]);
    let pages: Vec<u16> = futures_lite(&sim, &token, "/v3/customers?page=2", 2).await;
    assert_eq!(pages, [500, 200], "a fault can target one page");

    let overload = get(&sim, &token, "/v2/store").await;
    assert_eq!(overload.status(), 429);
    assert!(
        header(&overload, "X-Rate-Limit-Requests-Left").is_none(),
        "a platform 429 has no quota headers"
    );
    assert_eq!(get(&sim, &token, "/v2/store").await.status(), 200);

    let started = Instant::now();
    assert_eq!(get(&sim, &token, "/v2/customer_groups").await.status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(sim.stats(HASH).faults, 4);
    let log = sim.requests(HASH);
    assert_eq!(log[0].status, 503);
    assert_eq!(log[0].path, "/stores/abc123/v3/customers");
}

async fn futures_lite(sim: &BigCommerceSim, token: &str, path: &str, n: usize) -> Vec<u16> {
    let mut statuses = Vec::new();
    for _ in 0..n {
        statuses.push(get(sim, token, path).await.status().as_u16());
    }
    statuses
}

#[tokio::test]
async fn redirect_urls_exist_only_for_api_carts_and_work_once() {
    let (sim, token) = sim_with_store(SimConfig::default()).await;
    let storefront_cart = sim
        .create_cart(
            HASH,
            CartSeed {
                items: vec![ItemSeed::new("Red Scarf", 2, 19.99)],
                ..CartSeed::default()
            },
        )
        .await;
    let refused = send(
        &sim,
        &token,
        reqwest::Method::POST,
        &format!("/v3/carts/{storefront_cart}/redirect_urls"),
        json!({}),
    )
    .await;
    assert_eq!(refused.status(), 422);

    let cart: Value = get(&sim, &token, &format!("/v3/carts/{storefront_cart}"))
        .await
        .json()
        .await
        .unwrap();
    let item = &cart["data"]["line_items"]["physical_items"][0];
    assert_eq!(item["name"], "Red Scarf");
    assert_eq!(item["list_price"], 19.99);
    assert_eq!(cart["data"]["cart_amount"], 39.98);
    assert_eq!(cart["data"]["customer_id"], 0);

    // Re-create it through the management API, naming the product by id only.
    let created = send(
        &sim,
        &token,
        reqwest::Method::POST,
        "/v3/carts?include=redirect_urls",
        json!({"customer_id": 0, "channel_id": 1,
               "line_items": [{"product_id": item["product_id"], "quantity": 2}]}),
    )
    .await;
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    assert_eq!(created["data"]["line_items"]["physical_items"][0]["name"], "Red Scarf");
    let first_url = created["data"]["redirect_urls"]["checkout_url"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(first_url.contains("/cart.php?action=loadInCheckout&id="));

    let new_cart = created["data"]["id"].as_str().unwrap();
    let fresh = send(
        &sim,
        &token,
        reqwest::Method::POST,
        &format!("/v3/carts/{new_cart}/redirect_urls"),
        json!({"query_params": {"utm_source": "sms"}}),
    )
    .await;
    assert_eq!(fresh.status(), 201);
    let fresh: Value = fresh.json().await.unwrap();
    let second_url = fresh["data"]["checkout_url"].as_str().unwrap().to_owned();
    assert!(second_url.ends_with("&utm_source=sms"));

    assert_eq!(http().get(&first_url).send().await.unwrap().status(), 200);
    let reused = http().get(&first_url).send().await.unwrap();
    assert_eq!(reused.status(), 410);
    assert!(reused.text().await.unwrap().contains("expired"));
    assert_eq!(
        http().get(&second_url).send().await.unwrap().status(),
        200,
        "each URL has its own single use"
    );
    let visits = sim.redirect_visits(HASH);
    assert_eq!(
        visits.iter().map(|v| v.accepted).collect::<Vec<_>>(),
        [true, false, true]
    );
}

#[tokio::test]
async fn an_order_converts_the_cart_in_v2_shapes() {
    let (sim, token) = sim_with_store(SimConfig::default()).await;
    let cart = sim.create_cart(HASH, CartSeed::default()).await;
    sim.set_billing_address(
        HASH,
        &cart,
        BillingAddress {
            first_name: "Ana".into(),
            email: "ana@example.com".into(),
            country_code: "US".into(),
            phone: "+1 201 555 0199".into(),
            ..BillingAddress::default()
        },
    )
    .await;
    let checkout: Value = get(&sim, &token, &format!("/v3/checkouts/{cart}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(checkout["data"]["billing_address"]["phone"], "+1 201 555 0199");
    assert_eq!(checkout["data"]["cart"]["email"], "ana@example.com");

    let abandoned_token = sim.abandon_cart(HASH, &cart).await;
    let lookup: Value = get(&sim, &token, &format!("/v3/abandoned-carts/{abandoned_token}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(lookup["data"]["cart_id"], cart.as_str());

    let order_id = sim.place_order(HASH, &cart, 11).await;
    assert_eq!(get(&sim, &token, &format!("/v3/carts/{cart}")).await.status(), 404);
    assert_eq!(get(&sim, &token, &format!("/v3/checkouts/{cart}")).await.status(), 404);
    let order: Value = get(&sim, &token, &format!("/v2/orders/{order_id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(order["cart_id"], cart.as_str());
    assert_eq!(order["customer_id"], 0);
    assert_eq!(order["status"], "Awaiting Fulfillment");
    assert_eq!(order["total_inc_tax"], "12.5000");
    assert_eq!(order["billing_address"]["phone"], "+1 201 555 0199");
    let created = order["date_created"].as_str().unwrap();
    assert!(chrono::DateTime::parse_from_rfc2822(created).is_ok());

    let by_cart: Value = get(&sim, &token, &format!("/v2/orders?cart_id={cart}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(by_cart.as_array().unwrap().len(), 1);
    let missing = get(&sim, &token, "/v2/orders/999999").await;
    assert_eq!(missing.status(), 404);
    let missing: Value = missing.json().await.unwrap();
    assert_eq!(missing[0]["status"], 404);
}

#[tokio::test]
async fn scripts_and_hooks_belong_to_the_app_that_made_them() {
    let (sim, token) = sim_with_store(SimConfig::default()).await;
    sim.add_foreign_script(HASH, "Someone else's widget");
    let created = send(
        &sim,
        &token,
        reqwest::Method::POST,
        "/v3/content/scripts",
        json!({"name": "SMS consent", "kind": "src", "src": "https://app.example.com/consent.js",
               "load_method": "defer", "location": "footer", "visibility": "checkout",
               "auto_uninstall": true, "consent_category": "essential", "channel_id": 1,
               "integrity_hashes": ["sha384-abc"]}),
    )
    .await;
    assert_eq!(created.status(), 200);
    let created: Value = created.json().await.unwrap();
    assert_eq!(created["data"]["api_client_id"], sim.config().client_id);
    let bad = send(
        &sim,
        &token,
        reqwest::Method::POST,
        "/v3/content/scripts",
        json!({"name": "x", "kind": "src", "src": "https://a/b.js", "consent_category": "whatever"}),
    )
    .await;
    assert_eq!(bad.status(), 422);

    let listed: Value = get(&sim, &token, "/v3/content/scripts").await.json().await.unwrap();
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    assert_eq!(sim.scripts(HASH).len(), 2);

    let hook = json!({"scope": "store/cart/abandoned", "destination": "https://app.example.com/wh",
                      "is_active": true, "headers": {"X-Secret": "s"}});
    let first = send(&sim, &token, reqwest::Method::POST, "/v3/hooks", hook.clone()).await;
    assert_eq!(first.status(), 200);
    let first: Value = first.json().await.unwrap();
    let duplicate = send(&sim, &token, reqwest::Method::POST, "/v3/hooks", hook).await;
    assert_eq!(duplicate.status(), 422);
    let missing = send(
        &sim,
        &token,
        reqwest::Method::POST,
        "/v3/hooks",
        json!({"scope": "store/cart/created"}),
    )
    .await;
    let missing: Value = missing.json().await.unwrap();
    assert_eq!(missing["errors"]["destination"], "error.path.missing.");

    let id = first["data"]["id"].as_u64().unwrap();
    sim.deactivate_hook(HASH, id);
    let inactive: Value = get(&sim, &token, "/v3/hooks?is_active=false")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(inactive["data"][0]["id"], id);
    let enabled = send(
        &sim,
        &token,
        reqwest::Method::PUT,
        &format!("/v3/hooks/{id}"),
        json!({"is_active": true}),
    )
    .await;
    let enabled: Value = enabled.json().await.unwrap();
    assert_eq!(enabled["data"]["is_active"], true);
    assert_eq!(enabled["data"]["headers"]["X-Secret"], "s");

    sim.uninstall(HASH);
    assert!(sim.hooks(HASH).is_empty());
    assert_eq!(sim.scripts(HASH).len(), 1, "auto_uninstall scripts go with the app");
}

#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<(HeaderMap, String)>>>);

async fn receiver(status: u16) -> (String, Received) {
    receiver_answering(vec![status]).await
}

/// A receiver answering `statuses` in turn, then the last one again.
async fn receiver_answering(statuses: Vec<u16>) -> (String, Received) {
    let received = Received::default();
    let store = received.clone();
    let app = axum::Router::new().route(
        "/wh",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let store = store.clone();
            let statuses = statuses.clone();
            async move {
                let mut received = store.0.lock().unwrap();
                let status = statuses[received.len().min(statuses.len() - 1)];
                received.push((headers, String::from_utf8(body.to_vec()).unwrap()));
                axum::http::StatusCode::from_u16(status).unwrap()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/wh"), received)
}

#[tokio::test]
async fn webhooks_are_signed_carry_custom_headers_and_redeliver_identically() {
    let (sim, token) = sim_with_store(SimConfig::default()).await;
    let (destination, received) = receiver(200).await;
    for scope in ["store/customer/created", "store/cart/*"] {
        let response = send(
            &sim,
            &token,
            reqwest::Method::POST,
            "/v3/hooks",
            json!({"scope": scope, "destination": destination,
                   "headers": {"X-App-Webhook-Secret": "per-store-secret"}}),
        )
        .await;
        assert_eq!(response.status(), 200);
    }

    let customer = sim.create_customer(HASH, CustomerSeed::default()).await;
    let (headers, body) = received.0.lock().unwrap()[0].clone();
    assert_eq!(headers["x-app-webhook-secret"], "per-store-secret");
    let id = headers["webhook-id"].to_str().unwrap();
    let timestamp = headers["webhook-timestamp"].to_str().unwrap();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(sim.config().client_secret.as_bytes()).unwrap();
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    let expected = format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    );
    assert_eq!(headers["webhook-signature"].to_str().unwrap(), expected);

    let payload: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(payload["scope"], "store/customer/created");
    assert_eq!(payload["data"], json!({"type": "customer", "id": customer}));
    assert_eq!(payload["store_id"], sim.store_id(HASH).to_string());
    assert_eq!(payload["producer"], "stores/abc123");
    assert!(payload["created_at"].is_i64());
    let data_sha1 = hex::encode(sha1::Sha1::digest(payload["data"].to_string().as_bytes()));
    assert_eq!(payload["hash"], data_sha1);

    // Storefront carts fire created and updated, both matching the wildcard hook.
    let cart = sim.create_cart(HASH, CartSeed::default()).await;
    let scopes: Vec<String> = received.0.lock().unwrap()[1..]
        .iter()
        .map(|(_, b)| {
            serde_json::from_str::<Value>(b).unwrap()["scope"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(scopes, ["store/cart/created", "store/cart/updated"]);

    // Held events can be delivered out of order, and any event again.
    sim.hold_webhooks(true);
    let abandoned = sim.abandon_cart(HASH, &cart).await;
    sim.delete_cart(HASH, &cart).await;
    let pending = sim.pending_webhooks();
    assert_eq!(pending.len(), 2);
    assert_eq!(pending[0].data["token"], abandoned.as_str());
    sim.deliver(&pending[1]).await;
    sim.deliver(&pending[0]).await;
    let again = sim.deliver(&pending[0]).await;
    assert!(again[0].succeeded());
    let log = received.0.lock().unwrap().clone();
    let tail: Vec<Value> = log[3..].iter().map(|(_, b)| serde_json::from_str(b).unwrap()).collect();
    assert_eq!(tail[0]["scope"], "store/cart/deleted");
    assert_eq!(tail[1]["scope"], "store/cart/abandoned");
    assert_eq!(tail[1], tail[2], "a redelivery is the same body");
    assert_eq!(log[4].0["webhook-id"], log[5].0["webhook-id"]);
    assert!(sim.pending_webhooks().is_empty());

    let explicit = sim
        .fire_event(HASH, "store/order/created", json!({"type": "order", "id": 250}))
        .await;
    assert_eq!(explicit.scope, "store/order/created");
    let deliveries = sim.deliveries(HASH);
    assert_eq!(deliveries.len(), 6, "no hook matches store/order/created");
    assert!(deliveries.iter().all(|d| d.status == Some(200)));
}

#[tokio::test]
async fn failed_deliveries_are_recorded_and_delivered_again_until_acknowledged() {
    // A store whose subscriber hook answers `statuses` in turn; retries 10 ms apart.
    let store_answering = |statuses: Vec<u16>| async move {
        let config = SimConfig {
            webhook_retry_intervals: vec![Duration::from_millis(10); 3],
            ..SimConfig::default()
        };
        let (sim, token) = sim_with_store(config).await;
        let (destination, received) = receiver_answering(statuses).await;
        let hook = json!({"scope": "store/subscriber/*", "destination": destination});
        send(&sim, &token, reqwest::Method::POST, "/v3/hooks", hook).await;
        sim.create_subscriber(HASH, Default::default()).await;
        (sim, received)
    };

    // Refused twice, then acknowledged: three attempts of the same delivery, and no more.
    let (sim, received) = store_answering(vec![500, 503, 200]).await;
    let deliveries = sim.deliveries(HASH);
    let statuses: Vec<Option<u16>> = deliveries.iter().map(|d| d.status).collect();
    assert_eq!(statuses, [Some(500), Some(503), Some(200)]);
    assert!(!deliveries[0].succeeded() && deliveries[2].succeeded());
    assert!(deliveries.iter().all(|d| d.scope == "store/subscriber/created"));
    let log = received.0.lock().unwrap().clone();
    assert_eq!(log.len(), 3);
    assert!(
        log.iter()
            .all(|(headers, body)| headers["webhook-id"] == log[0].0["webhook-id"] && *body == log[0].1)
    );

    // Never acknowledged: the first delivery and one per retry interval. A test's own deliver is one attempt.
    let (sim, _received) = store_answering(vec![500]).await;
    assert_eq!(sim.deliveries(HASH).len(), 4);
    sim.hold_webhooks(true);
    sim.create_subscriber(HASH, Default::default()).await;
    let held = sim.pending_webhooks();
    assert_eq!(sim.deliver(&held[0]).await.len(), 1);
    assert_eq!(sim.deliveries(HASH).len(), 5);
}

#[tokio::test]
async fn attribute_values_upsert_and_metafields_stay_private() {
    let (sim, token) = sim_with_store(SimConfig::default()).await;
    let customer = sim.create_customer(HASH, CustomerSeed::default()).await;
    let created = send(
        &sim,
        &token,
        reqwest::Method::POST,
        "/v3/customers/attributes",
        json!([{"name": "SMS marketing", "type": "string"}]),
    )
    .await;
    let created: Value = created.json().await.unwrap();
    let attribute = created["data"][0]["id"].as_u64().unwrap();
    for value in ["subscribed", "unsubscribed"] {
        let put = send(
            &sim,
            &token,
            reqwest::Method::PUT,
            "/v3/customers/attribute-values",
            json!([{"attribute_id": attribute, "customer_id": customer, "value": value}]),
        )
        .await;
        let put: Value = put.json().await.unwrap();
        assert_eq!(put["data"][0]["attribute_value"], value);
    }
    let values = sim.attribute_values(HASH, customer);
    assert_eq!(values.len(), 1, "an upsert, not a second value");
    assert_eq!(values[0].value, "unsubscribed");

    let path = format!("/v3/customers/{customer}/metafields");
    let metafield = json!({"namespace": "sms", "key": "consent", "value": "opted_out",
                           "permission_set": "app_only"});
    let first = send(&sim, &token, reqwest::Method::POST, &path, metafield.clone()).await;
    assert_eq!(first.status(), 200);
    let first: Value = first.json().await.unwrap();
    assert_eq!(first["data"][0]["resource_id"], customer);
    let conflict = send(&sim, &token, reqwest::Method::POST, &path, metafield).await;
    assert_eq!(conflict.status(), 409);
    let id = first["data"][0]["id"].as_u64().unwrap();
    let updated = send(
        &sim,
        &token,
        reqwest::Method::PUT,
        &format!("{path}/{id}"),
        json!({"value": "subscribed"}),
    )
    .await;
    assert_eq!(updated.status(), 200);
    assert_eq!(sim.metafields(HASH, customer)[0].value, "subscribed");
    let nobody = send(
        &sim,
        &token,
        reqwest::Method::POST,
        "/v3/customers/9999/metafields",
        json!({}),
    )
    .await;
    assert_eq!(nobody.status(), 404);
}

#[tokio::test]
async fn settings_and_store_information() {
    let (sim, token) = sim_with_store(SimConfig::default()).await;
    let settings: Value = get(&sim, &token, "/v3/abandoned-carts/settings")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(settings["data"]["marketing_emails_require_customer_consent"], false);
    sim.set_abandoned_cart_settings(HASH, |s| s.marketing_emails_require_customer_consent = true);
    let settings: Value = get(&sim, &token, "/v3/abandoned-carts/settings")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(settings["data"]["marketing_emails_require_customer_consent"], true);

    let store: Value = get(&sim, &token, "/v2/store").await.json().await.unwrap();
    assert_eq!(store["id"], HASH);
    assert_eq!(store["domain"], "sim-store.example.com");
    assert_eq!(store["timezone"]["name"], "America/Chicago");
}

#[tokio::test]
async fn signed_payload_jwt_verifies_with_the_client_secret() {
    let sim = BigCommerceSim::start(SimConfig::default()).await;
    sim.create_store(HASH, StoreSeed::default());
    let jwt = sim.load_jwt(HASH);
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3);
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(sim.config().client_secret.as_bytes()).unwrap();
    mac.update(format!("{}.{}", parts[0], parts[1]).as_bytes());
    assert_eq!(engine.decode(parts[2]).unwrap(), mac.finalize().into_bytes().to_vec());
    let claims: Value = serde_json::from_slice(&engine.decode(parts[1]).unwrap()).unwrap();
    assert_eq!(claims["aud"], sim.config().client_id);
    assert_eq!(claims["iss"], "bc");
    assert_eq!(claims["sub"], "stores/abc123");
    assert_eq!(claims["channel_id"], Value::Null);
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["nbf"].as_i64().unwrap(),
        24 * 3600
    );
    let header: Value = serde_json::from_slice(&engine.decode(parts[0]).unwrap()).unwrap();
    assert_eq!(header["alg"], "HS256");
}

#[tokio::test]
async fn every_callback_jwt_has_its_own_jti_and_is_issued_by_the_clock() {
    let sim = BigCommerceSim::start(SimConfig::default()).await;
    sim.create_store(HASH, StoreSeed::default());
    let at = chrono::DateTime::parse_from_rfc3339("2026-11-25T14:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    sim.set_jwt_clock(move || at);
    let (one, two) = (sim.jwt_claims(HASH), sim.jwt_claims(HASH));
    assert_ne!(one.jti, two.jti);
    assert_eq!(one.iat, at.timestamp());
    assert_eq!(one.nbf, one.iat);
    assert_eq!(one.exp, one.iat + 24 * 3600);
}

#[tokio::test]
async fn api_and_merchant_changes_fire_webhooks_too() {
    let (sim, token) = sim_with_store(SimConfig::default()).await;
    let (destination, received) = receiver(200).await;
    for scope in ["store/cart/created", "store/customer/updated"] {
        send(
            &sim,
            &token,
            reqwest::Method::POST,
            "/v3/hooks",
            json!({"scope": scope, "destination": destination}),
        )
        .await;
    }
    let customer = sim.create_customer(HASH, CustomerSeed::default()).await;
    let attribute = sim.create_attribute(HASH, "Loyalty tier", "string");
    sim.set_attribute_value(HASH, customer, attribute, "gold").await;
    assert_eq!(sim.attribute_values(HASH, customer)[0].value, "gold");

    let created = send(
        &sim,
        &token,
        reqwest::Method::POST,
        "/v3/carts",
        json!({"customer_id": customer,
               "line_items": [{"product_id": 77, "quantity": 1, "name": "Gift Card", "list_price": 25}]}),
    )
    .await;
    assert_eq!(created.status(), 201);
    let cart: Value = created.json().await.unwrap();
    assert_eq!(cart["data"]["email"], "jane.doe@example.com");

    // API-caused events arrive in the background.
    let deadline = Instant::now() + Duration::from_secs(2);
    while received.0.lock().unwrap().len() < 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let scopes: Vec<String> = received
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|(_, b)| {
            serde_json::from_str::<Value>(b).unwrap()["scope"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(scopes, ["store/customer/updated", "store/cart/created"]);
}

#[tokio::test]
async fn the_control_panel_installs_and_opens_the_app_like_bigcommerce() {
    let config = SimConfig {
        redirect_uri: "https://app.example.com/auth".into(),
        ..SimConfig::default()
    };
    let (sim, _) = sim_with_store(config).await;

    // "Install": a code for every scope an SMS app may ask for, handed to the app's auth callback.
    let response = http()
        .get(format!("{}/manage/stores/{HASH}/install", sim.api_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 302);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let (callback, query) = location.split_once('?').unwrap();
    assert_eq!(callback, "https://app.example.com/auth");
    let params: std::collections::HashMap<String, String> = serde_urlencoded::from_str(query).unwrap();
    assert_eq!(params["context"], format!("stores/{HASH}"));
    assert!(params["scope"].split(' ').any(|s| s == "store_content_checkout"));
    // The code exchanges once, as a real one does.
    let exchange = json!({
        "client_id": sim.config().client_id, "client_secret": sim.config().client_secret, "code": params["code"],
        "context": params["context"], "scope": params["scope"], "grant_type": "authorization_code",
        "redirect_uri": "https://app.example.com/auth",
    });
    let token = http()
        .post(format!("{}/oauth2/token", sim.login_url()))
        .json(&exchange)
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), 200);

    // A scope list can be narrowed, to test an app's missing-scope page.
    let response = http()
        .get(format!(
            "{}/manage/stores/{HASH}/install?scope=store_v2_orders",
            sim.api_url()
        ))
        .send()
        .await
        .unwrap();
    assert!(
        response.headers()["location"]
            .to_str()
            .unwrap()
            .contains("scope=store_v2_orders&")
            || response.headers()["location"]
                .to_str()
                .unwrap()
                .ends_with("scope=store_v2_orders")
    );

    // "Open app": the owner's fresh JWT to the app's load callback.
    let response = http()
        .get(format!("{}/manage/stores/{HASH}/app", sim.api_url()))
        .send()
        .await
        .unwrap();
    let location = response.headers()["location"].to_str().unwrap();
    assert!(
        location.starts_with("https://app.example.com/load?signed_payload_jwt="),
        "{location}"
    );
    let jwt = location.split_once("signed_payload_jwt=").unwrap().1;
    assert_eq!(jwt.split('.').count(), 3, "a JWT has three parts");

    assert_eq!(
        http()
            .get(format!("{}/manage/stores/nope/install", sim.api_url()))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}
