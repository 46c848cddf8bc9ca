//! The client against the BigCommerce simulator, over real HTTP.

use super::*;
use rust_decimal::Decimal;
use sim::bigcommerce::{
    BigCommerceSim, BillingAddress, CartSeed, CustomerSeed, Fault, ItemSeed, SimConfig, StoreSeed, SubscriberSeed,
};
use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::{Duration, Instant};

const HASH: &str = "store1";

fn config_for(sim: &BigCommerceSim) -> BigCommerceConfig {
    BigCommerceConfig {
        client_id: sim.config().client_id.clone(),
        client_secret: Secret::new(sim.config().client_secret.clone()),
        api_url: sim.api_url(),
        login_url: sim.login_url(),
    }
}

/// Short backoffs so retry tests take milliseconds.
fn quick() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        base_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(80),
        request_timeout: Duration::from_secs(5),
        ..RetryPolicy::default()
    }
}

async fn setup(sim_config: SimConfig) -> (BigCommerceSim, BigCommerce, StoreClient) {
    let sim = BigCommerceSim::start(sim_config).await;
    sim.create_store(HASH, StoreSeed::default());
    let token = Secret::new(sim.issue_token(HASH));
    let client = BigCommerce::with_policy(&config_for(&sim), quick()).unwrap();
    let store = client.store(&StoreHash::parse(HASH).unwrap(), &token);
    (sim, client, store)
}

fn decimal(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

#[tokio::test]
async fn exchanges_an_install_code_for_a_typed_grant() {
    let sim = BigCommerceSim::start(SimConfig::default()).await;
    sim.create_store(HASH, StoreSeed::default());
    let client = BigCommerce::with_policy(&config_for(&sim), quick()).unwrap();
    let grant = sim.authorize_install(HASH, &["store_v2_customers", "store_cart_read_only"]);
    let redirect = &sim.config().redirect_uri;

    let token = client
        .exchange_code(&grant.code, &grant.scope, &grant.context, redirect)
        .await
        .unwrap();
    assert_eq!(token.store_hash.as_str(), HASH);
    assert!(token.has_scope("store_cart_read_only"));
    assert_eq!(token.scopes.len(), 2);
    assert_eq!(token.owner.email, "owner@sim-store.example.com");
    assert!(!format!("{token:?}").contains(token.access_token.expose()));

    let works = client.store(&token.store_hash, &token.access_token);
    assert_eq!(works.store_information().await.unwrap().id, HASH);

    let reused = client
        .exchange_code(&grant.code, &grant.scope, &grant.context, redirect)
        .await;
    assert!(matches!(reused, Err(BigCommerceError::Invalid { status: 400, .. })));

    let mut wrong = config_for(&sim);
    wrong.client_secret = Secret::new("not-the-secret");
    let grant = sim.authorize_install(HASH, &["store_v2_customers"]);
    let refused = BigCommerce::with_policy(&wrong, quick())
        .unwrap()
        .exchange_code(&grant.code, &grant.scope, &grant.context, redirect)
        .await;
    assert!(matches!(refused, Err(BigCommerceError::Unauthorized)));
}

#[tokio::test]
async fn customer_pages_cover_every_customer_once() {
    let (sim, _client, store) = setup(SimConfig::default()).await;
    sim.create_customer_group(HASH, "Wholesale");
    let seeded = sim.seed_customers(HASH, 120);

    let mut seen = Vec::new();
    let mut page_number = 1;
    loop {
        let page = store.customers(&CustomerQuery::page(page_number, 50)).await.unwrap();
        let pagination = page.pagination.unwrap();
        assert_eq!(pagination.total, 120);
        assert_eq!(pagination.total_pages, 3);
        assert!(page.items.iter().all(|c| !c.addresses.is_empty()));
        seen.extend(page.items.iter().map(|c| c.id));
        if !page.has_more(50) {
            break;
        }
        page_number += 1;
    }
    assert_eq!(page_number, 3);
    assert_eq!(seen, seeded.ids);

    let wholesale = store
        .customers(&CustomerQuery {
            group_ids: vec![1],
            ..CustomerQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(wholesale.items.len(), 60);

    let one = store.customer(seeded.ids[3]).await.unwrap();
    assert_eq!(one.addresses[0].country_code, "AU");
    assert!(one.phone.starts_with("+61"));
    assert!(matches!(
        store.customer(999_999).await,
        Err(BigCommerceError::NotFound { .. })
    ));
    let groups = store.customer_groups().await.unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].name, "Wholesale");
}

#[tokio::test]
async fn waits_out_a_429_for_the_reset_then_succeeds() {
    let (sim, client, store) = setup(SimConfig {
        requests_per_window: 2,
        window: Duration::from_millis(700),
        ..SimConfig::default()
    })
    .await;
    // Another app on the same store spends the shared quota.
    let other_app = sim.issue_token(HASH);
    for _ in 0..2 {
        reqwest::Client::new()
            .get(format!("{}/stores/{HASH}/v2/store", sim.api_url()))
            .header("X-Auth-Token", &other_app)
            .send()
            .await
            .unwrap();
    }
    let started = Instant::now();
    let info = store.store_information().await.unwrap();
    assert_eq!(info.id, HASH);
    assert!(started.elapsed() >= Duration::from_millis(500), "waited for the reset");
    assert_eq!(client.stats().rate_limited, 1);
    assert_eq!(client.stats().retries, 1);
    assert_eq!(sim.stats(HASH).rate_limited, 1);
}

#[tokio::test]
async fn a_platform_429_without_headers_backs_off_progressively() {
    let (sim, client, store) = setup(SimConfig::default()).await;
    sim.inject_fault(Fault::status(429, "/v2/store").times(2));
    store.store_information().await.unwrap();
    assert_eq!(client.stats().rate_limited, 2);
    assert_eq!(client.stats().retries, 2);
}

#[tokio::test]
async fn server_errors_are_retried_and_then_reported() {
    let (sim, client, store) = setup(SimConfig::default()).await;
    let cart = sim.create_cart(HASH, CartSeed::default()).await;
    sim.inject_fault(Fault::status(503, "/v3/carts").times(2));
    let fetched = store.cart(&cart).await.unwrap();
    assert_eq!(fetched.id, cart);
    assert_eq!(client.stats().retries, 2);

    sim.inject_fault(Fault::status(500, "/v3/checkouts").times(10));
    let before = sim.stats(HASH).requests;
    let error = store.checkout(&cart).await.unwrap_err();
    assert!(matches!(error, BigCommerceError::Server { status: 500, .. }));
    assert!(error.is_retryable());
    assert_eq!(sim.stats(HASH).requests - before, 4, "bounded attempts");
}

#[tokio::test]
async fn a_timeout_is_retried() {
    let sim = BigCommerceSim::start(SimConfig::default()).await;
    sim.create_store(HASH, StoreSeed::default());
    let token = Secret::new(sim.issue_token(HASH));
    let policy = RetryPolicy {
        request_timeout: Duration::from_millis(150),
        ..quick()
    };
    let client = BigCommerce::with_policy(&config_for(&sim), policy).unwrap();
    let store = client.store(&StoreHash::parse(HASH).unwrap(), &token);
    sim.inject_fault(Fault::delay(Duration::from_millis(400), "/v2/store"));
    store.store_information().await.unwrap();
    assert_eq!(client.stats().retries, 1);
}

#[tokio::test]
async fn client_errors_are_typed_and_never_retried() {
    let (sim, client, store) = setup(SimConfig::default()).await;
    assert!(matches!(
        store.cart("no-such-cart").await,
        Err(BigCommerceError::NotFound { .. })
    ));
    assert!(matches!(
        store.order(424_242).await,
        Err(BigCommerceError::NotFound { .. })
    ));

    let hook = NewHook {
        scope: "store/cart/abandoned".into(),
        destination: "https://app.example.com/webhooks/bc".into(),
        is_active: true,
        headers: BTreeMap::new(),
    };
    store.create_hook(&hook).await.unwrap();
    let duplicate = store.create_hook(&hook).await.unwrap_err();
    match &duplicate {
        BigCommerceError::Invalid { status, .. } => {
            assert_eq!(*status, 422);
            // The body's message is not kept: such messages may quote customer data.
            assert!(!duplicate.to_string().contains("already exists"), "{duplicate}");
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
    assert!(!duplicate.is_retryable());

    sim.uninstall(HASH);
    let revoked = store.hooks().await.unwrap_err();
    assert!(matches!(revoked, BigCommerceError::Unauthorized));
    assert!(!revoked.is_retryable());
    assert_eq!(client.stats().retries, 0);
    assert_eq!(sim.stats(HASH).requests, 5);
}

#[tokio::test]
async fn pacing_keeps_concurrent_calls_under_the_quota() {
    let (sim, client, store) = setup(SimConfig {
        requests_per_window: 4,
        window: Duration::from_millis(500),
        ..SimConfig::default()
    })
    .await;
    // The first answer teaches the client the window; after that it must never see a 429.
    store.store_information().await.unwrap();
    let started = Instant::now();
    let calls = (0..11).map(|_| store.store_information());
    for result in futures::future::join_all(calls).await {
        result.unwrap();
    }
    assert_eq!(sim.stats(HASH).rate_limited, 0);
    assert_eq!(client.stats().rate_limited, 0);
    assert!(client.stats().paced > 0);
    // 12 requests at 4 per window need three windows.
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert_eq!(client.stats().requests, 12);
}

#[tokio::test]
async fn transport_failures_are_typed_and_retryable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let config = BigCommerceConfig {
        client_id: "id".into(),
        client_secret: Secret::new("secret"),
        api_url: format!("http://127.0.0.1:{port}"),
        login_url: format!("http://127.0.0.1:{port}"),
    };
    let client = BigCommerce::with_policy(&config, quick()).unwrap();
    let store = client.store(&StoreHash::parse(HASH).unwrap(), &Secret::new("t"));
    let error = store.store_information().await.unwrap_err();
    assert!(matches!(error, BigCommerceError::Transport(_)));
    assert!(error.is_retryable());
    assert_eq!(client.stats().requests, 4);
}

#[tokio::test]
async fn hooks_and_scripts_round_trip() {
    let (sim, _client, store) = setup(SimConfig::default()).await;
    let secret = Secret::new("per-store-secret-value");
    let hook = store
        .create_hook(&NewHook {
            scope: "store/order/created".into(),
            destination: "https://app.example.com/webhooks/bc".into(),
            is_active: true,
            headers: BTreeMap::from([("X-App-Webhook-Secret".to_owned(), secret.clone())]),
        })
        .await
        .unwrap();
    assert_eq!(hook.headers["X-App-Webhook-Secret"], secret);
    assert!(!format!("{hook:?}").contains(secret.expose()));

    sim.deactivate_hook(HASH, hook.id);
    let listed = store.hooks().await.unwrap();
    assert!(!listed[0].is_active);
    let enabled = store
        .update_hook(
            hook.id,
            &HookUpdate {
                is_active: Some(true),
                ..HookUpdate::default()
            },
        )
        .await
        .unwrap();
    assert!(enabled.is_active);
    assert_eq!(enabled.headers.len(), 1, "headers survive a partial update");
    store.delete_hook(hook.id).await.unwrap();
    assert!(store.hooks().await.unwrap().is_empty());

    sim.add_foreign_script(HASH, "Another app's widget");
    let mut script = NewScript {
        name: "SMS consent".into(),
        description: "Checkout SMS opt-in".into(),
        src: "https://app.example.com/consent.js?store=store1".into(),
        kind: ScriptKind::Src,
        load_method: LoadMethod::Defer,
        location: ScriptLocation::Footer,
        visibility: ScriptVisibility::Checkout,
        auto_uninstall: true,
        consent_category: ConsentCategory::Essential,
        enabled: true,
        channel_id: 1,
        integrity_hashes: vec!["sha384-aaaa".into()],
    };
    let created = store.create_script(&script).await.unwrap();
    assert_eq!(created.consent_category, Some(ConsentCategory::Essential));
    assert_eq!(created.visibility, Some(ScriptVisibility::Checkout));
    assert!(created.auto_uninstall);
    script.integrity_hashes = vec!["sha384-bbbb".into()];
    let updated = store.update_script(&created.uuid, &script).await.unwrap();
    assert_eq!(updated.integrity_hashes, ["sha384-bbbb"]);
    let mine = store.scripts().await.unwrap();
    assert_eq!(mine.len(), 1, "only this app's scripts");
    store.delete_script(&created.uuid).await.unwrap();
    assert!(store.scripts().await.unwrap().is_empty());
    assert_eq!(sim.scripts(HASH).len(), 1);
}

#[tokio::test]
async fn consent_write_back_through_attributes_and_metafields() {
    let (sim, _client, store) = setup(SimConfig::default()).await;
    let customer = sim.create_customer(HASH, CustomerSeed::default()).await;
    let attribute = store
        .create_customer_attribute("SMS marketing", AttributeType::String)
        .await
        .unwrap();
    assert_eq!(store.customer_attributes().await.unwrap().len(), 1);
    let written = store
        .upsert_attribute_values(&[AttributeValueUpsert {
            attribute_id: attribute.id,
            customer_id: customer,
            value: "unsubscribed".into(),
        }])
        .await
        .unwrap();
    assert_eq!(written[0].value, "unsubscribed");
    let read = store.customer(customer).await.unwrap();
    assert_eq!(read.attributes[0].value, "unsubscribed");

    let mut metafield = NewMetafield {
        namespace: "sms_consent".into(),
        key: "status".into(),
        value: r#"{"status":"opted_in"}"#.into(),
        permission_set: PermissionSet::AppOnly,
        description: String::new(),
    };
    let created = store.create_customer_metafield(customer, &metafield).await.unwrap();
    assert_eq!(created.resource_id, Some(customer));
    metafield.value = r#"{"status":"opted_out"}"#.into();
    let updated = store
        .update_customer_metafield(customer, created.id, &metafield)
        .await
        .unwrap();
    assert_eq!(updated.value, metafield.value);
    assert_eq!(store.customer_metafields(customer).await.unwrap().len(), 1);
    assert_eq!(sim.metafields(HASH, customer)[0].value, metafield.value);
}

#[tokio::test]
async fn carts_checkouts_orders_and_settings_decode() {
    let (sim, _client, store) = setup(SimConfig::default()).await;
    sim.set_abandoned_cart_settings(HASH, |s| s.marketing_emails_require_customer_consent = true);
    assert!(
        store
            .abandoned_cart_settings()
            .await
            .unwrap()
            .marketing_emails_require_customer_consent
    );

    let cart_id = sim
        .create_cart(
            HASH,
            CartSeed {
                items: vec![ItemSeed::new("Linen Shirt", 2, 39.99)],
                ..CartSeed::default()
            },
        )
        .await;
    let cart = store.cart(&cart_id).await.unwrap();
    assert_eq!(cart.customer_id, 0);
    assert_eq!(cart.email, None);
    assert_eq!(cart.cart_amount, decimal("79.98"));
    let item = &cart.line_items.physical_items[0];
    assert_eq!(item.unit_price(), decimal("39.99"));
    assert!(item.image_url.is_some());
    assert!(cart.redirect_urls.is_none());

    let checkout = store.checkout(&cart_id).await.unwrap();
    assert_eq!(checkout.billing_phone(), None);
    sim.set_billing_address(
        HASH,
        &cart_id,
        BillingAddress {
            email: "guest@example.com".into(),
            country_code: "AU".into(),
            phone: "0412 345 678".into(),
            ..BillingAddress::default()
        },
    )
    .await;
    let checkout = store.checkout(&cart_id).await.unwrap();
    assert_eq!(checkout.billing_phone(), Some("0412 345 678"));
    assert_eq!(checkout.cart.email.as_deref(), Some("guest@example.com"));

    let token = sim.abandon_cart(HASH, &cart_id).await;
    assert_eq!(store.abandoned_cart_id(&token).await.unwrap(), cart_id);

    let recreated = store
        .create_cart(&NewCart {
            customer_id: 0,
            channel_id: 1,
            line_items: cart
                .line_items
                .all()
                .map(|i| NewLineItem {
                    product_id: i.product_id,
                    variant_id: i.variant_id,
                    quantity: i.quantity,
                    list_price: Some(i.list_price),
                })
                .collect(),
            currency: Some("USD".into()),
            locale: None,
        })
        .await
        .unwrap();
    assert_eq!(recreated.cart_amount, decimal("79.98"));
    let first = recreated.redirect_urls.unwrap().checkout_url;
    let second = store.create_redirect_urls(&recreated.id).await.unwrap().checkout_url;
    assert_ne!(first, second);
    assert!(matches!(
        store.create_redirect_urls(&cart_id).await,
        Err(BigCommerceError::Invalid { status: 422, .. })
    ));

    let none = store
        .orders(&OrderQuery {
            cart_id: Some(cart_id.clone()),
            ..OrderQuery::default()
        })
        .await
        .unwrap();
    assert!(none.is_empty());
    let order_id = sim.place_order(HASH, &cart_id, 11).await;
    let order = store.order(order_id).await.unwrap();
    assert_eq!(order.cart_id.as_deref(), Some(cart_id.as_str()));
    assert_eq!(order.customer_id, 0);
    assert_eq!(order.status_id, 11);
    assert_eq!(order.total_inc_tax, decimal("79.98"));
    assert_eq!(order.billing_address.phone.as_deref(), Some("0412 345 678"));
    assert!((Utc::now() - order.date_created).num_seconds().abs() < 60);
    let by_cart = store
        .orders(&OrderQuery {
            cart_id: Some(cart_id.clone()),
            ..OrderQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(by_cart.len(), 1);
    assert!(store.cart(&cart_id).await.unwrap_err().is_not_found());
}

#[tokio::test]
async fn subscribers_and_store_information_decode() {
    let (sim, _client, store) = setup(SimConfig::default()).await;
    let id = sim
        .create_subscriber(
            HASH,
            SubscriberSeed {
                email: "news@example.com".into(),
                consents: vec!["marketing_newsletter".into(), "abandoned_cart".into()],
                ..SubscriberSeed::default()
            },
        )
        .await;
    sim.create_subscriber(
        HASH,
        SubscriberSeed {
            email: "other@example.com".into(),
            consents: vec![],
            ..SubscriberSeed::default()
        },
    )
    .await;
    let found = store
        .subscribers(&SubscriberQuery {
            email: Some("news@example.com".into()),
            ..SubscriberQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(found.items.len(), 1);
    assert_eq!(
        found.items[0].consents,
        [SubscriberConsent::MarketingNewsletter, SubscriberConsent::AbandonedCart]
    );
    let one = store.subscriber(id).await.unwrap();
    assert_eq!(one.email, "news@example.com");
    assert!(store.subscriber(9999).await.unwrap_err().is_not_found());

    let info = store.store_information().await.unwrap();
    assert_eq!(info.timezone.name, "America/Chicago");
    assert_eq!(info.store_id, Some(sim.store_id(HASH)));
}

#[test]
fn debug_output_never_shows_the_access_token_or_client_secret() {
    let config = BigCommerceConfig {
        client_id: "id".into(),
        client_secret: Secret::new("client-secret-value"),
        api_url: "http://127.0.0.1:9".into(),
        login_url: "http://127.0.0.1:9".into(),
    };
    let client = BigCommerce::new(&config).unwrap();
    let store = client.store(&StoreHash::parse(HASH).unwrap(), &Secret::new("access-token-value"));
    let shown = format!("{client:?} {store:?}");
    assert!(shown.contains(HASH));
    assert!(!shown.contains("access-token-value"));
    assert!(!shown.contains("client-secret-value"));
}

#[test]
fn orders_decode_the_documented_v2_example() {
    let body = r#"{"id":218,"customer_id":11,"date_created":"Tue, 05 Mar 2019 21:40:11 +0000",
        "date_modified":"Mon, 11 Mar 2019 15:17:25 +0000","date_shipped":"","status_id":7,
        "status":"Awaiting Payment","total_ex_tax":"64.5300","total_inc_tax":"69.8400","currency_code":"USD",
        "cart_id":"7e48f7ef-2e88-4817-aea4-b0ed01490114","billing_address":{"first_name":"Jane",
        "last_name":"Doe","company":"","street_1":"555 East Street","street_2":"","city":"Austin","state":"Texas",
        "zip":"78108","country":"United States","country_iso2":"US","phone":"1234567890",
        "email":"janedoe@example.com","form_fields":[]},"is_email_opt_in":false,"channel_id":1}"#;
    let order: Order = serde_json::from_str(body).unwrap();
    assert_eq!(order.total_inc_tax, decimal("69.84"));
    assert_eq!(order.date_created.to_rfc3339(), "2019-03-05T21:40:11+00:00");
    assert_eq!(order.billing_address.country_iso2, "US");

    let guest = body.replace(r#""cart_id":"7e48f7ef-2e88-4817-aea4-b0ed01490114""#, r#""cart_id":"""#);
    assert_eq!(serde_json::from_str::<Order>(&guest).unwrap().cart_id, None);
}

#[test]
fn hooks_decode_with_and_without_headers() {
    let with_null: Hook = serde_json::from_str(
        r#"{"id":1,"client_id":"c","store_hash":"s","scope":"store/cart/*","destination":"https://x",
            "is_active":true,"headers":null,"created_at":1561488106,"updated_at":1561488106}"#,
    )
    .unwrap();
    assert!(with_null.headers.is_empty());
}

#[tokio::test]
async fn creates_single_use_coupon_codes_on_a_coupon_promotion_and_reads_the_codes_an_order_redeemed() {
    let (sim, _client, store) = setup(SimConfig::default()).await;
    let coupon = sim.create_promotion(HASH, "SMS 10% off", true);
    sim.create_promotion(HASH, "Free shipping over $50", false);

    let promotions = store.coupon_promotions().await.unwrap();
    assert_eq!(
        promotions.iter().map(|p| (p.id, p.name.as_str())).collect::<Vec<_>>(),
        vec![(coupon, "SMS 10% off")]
    );

    let created = store.create_coupon_code(coupon, "SMS-ABC123").await.unwrap();
    assert_eq!(created.code, "SMS-ABC123");
    assert_eq!(sim.coupon_codes(HASH, coupon), vec!["SMS-ABC123"]);
    let again = store.create_coupon_code(coupon, "SMS-ABC123").await.unwrap_err();
    assert!(
        matches!(again, BigCommerceError::Invalid { status: 409, .. }),
        "{again:?}"
    );
    let bad = store.create_coupon_code(coupon, "no/slashes").await.unwrap_err();
    assert!(matches!(bad, BigCommerceError::Invalid { status: 422, .. }), "{bad:?}");
    let gone = store.create_coupon_code(coupon + 100, "SMS-OTHER").await.unwrap_err();
    assert!(gone.is_not_found(), "{gone:?}");

    let plain = sim.create_cart(HASH, CartSeed::default()).await;
    let plain_order = sim.place_order(HASH, &plain, 11).await;
    assert!(store.order_coupons(plain_order).await.unwrap().is_empty());
    let cart = sim.create_cart(HASH, CartSeed::default()).await;
    let order = sim.place_order_with_coupon(HASH, &cart, 11, Some("SMS-ABC123")).await;
    let coupons = store.order_coupons(order).await.unwrap();
    assert_eq!(
        coupons,
        vec![OrderCoupon {
            code: Some("SMS-ABC123".into())
        }]
    );
}
