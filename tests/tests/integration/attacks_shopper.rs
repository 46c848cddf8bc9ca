//! Attacks on the shopper-facing endpoints, run for real: floods of the checkout consent capture (one address,
//! many addresses), a stranger ticking a subscriber's number on a cart they built (through the sync worker,
//! the sweep and the send function), and a recovery link followed again and again.

use super::capture::{SHOP, capture, disclosure_version, guest_cart, post_capture, post_capture_from};
use chrono::Duration;
use integration_tests::recovery::{
    NY, SYDNEY, cart, give_consent, link_token, phone, save, shopper_cart, sweep_and_send,
};
use integration_tests::{SHOPPER_BROWSER, TestApp, TestAppOptions, at};
use shared::Clock;
use shared::consent::ConsentEventKind;
use shopper::consent::{IP_LIMIT, STORE_LIMIT};
use shopper::recovery::{FOLLOW_LIMIT, RECREATE_LIMIT, RECREATE_WINDOW_MINUTES};
use std::net::{IpAddr, Ipv4Addr};

/// Tuesday 4 November 2025, 01:00 UTC: noon in Sydney, 20:00 the day before in New York.
const SYDNEY_NOON: &str = "2025-11-04T01:00:00Z";
/// Tuesday 4 November 2025, 14:00 UTC: 09:00 in New York.
const NY_MORNING: &str = "2025-11-04T14:00:00Z";

/// A browser at another address (any 127.x.y.z reaches the loopback listener from its own source address).
fn client_at(ip: Ipv4Addr) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::V4(ip))
        .user_agent(SHOPPER_BROWSER)
        .build()
        .expect("client builds")
}

/// Posts `body` `times` times from `client` and returns the statuses. One after another: moto's counters are
/// not atomic under concurrent updates the way DynamoDB's are.
async fn flood(app: &TestApp, client: &reqwest::Client, body: &serde_json::Value, times: u64) -> Vec<u16> {
    let mut statuses = Vec::new();
    for _ in 0..times {
        statuses.push(
            post_capture_from(app, client, Some(SHOP), body.clone())
                .await
                .status()
                .as_u16(),
        );
    }
    statuses
}

#[tokio::test]
async fn a_flood_from_one_address_leaves_the_store_budget_to_real_shoppers() {
    let app = TestApp::start().await;
    let hash = "flood1";
    let seeded = app.seed_store(hash, |_| {}).await;
    let version = disclosure_version(&app, hash).await;
    let attacker_cart = guest_cart(&app, hash).await;
    // One client posts more ticks than the whole store may take in a minute.
    let junk = capture(hash, &attacker_cart, "0412 000 111", "AU", true, &version);
    let statuses = flood(&app, &app.http, &junk, STORE_LIMIT + 10).await;
    assert_eq!(statuses.iter().filter(|s| **s == 200).count() as u64, IP_LIMIT);
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count() as u64,
        STORE_LIMIT + 10 - IP_LIMIT,
        "everything past the address's limit is refused"
    );

    // A real shopper at another address, in the same minute, ticks the box: it is recorded.
    let shopper_cart_id = guest_cart(&app, hash).await;
    let shopper = client_at(Ipv4Addr::new(127, 0, 0, 2));
    let response = post_capture_from(
        &app,
        &shopper,
        Some(SHOP),
        capture(hash, &shopper_cart_id, "0412 345 678", "AU", true, &version),
    )
    .await;
    assert_eq!(response.status(), 200, "the flood did not spend the store's budget");
    let ledger = app.db().ledger(&seeded.store_hash, &phone(SYDNEY)).await.unwrap();
    assert_eq!(ledger.len(), 1);
    assert!(matches!(&ledger[0].kind,
        ConsentEventKind::CheckoutCheckbox { cart_id: Some(c), ip, .. } if *c == shopper_cart_id && ip == "127.0.0.2"));
}

#[tokio::test]
async fn a_flood_from_many_addresses_still_meets_the_store_budget() {
    let app = TestApp::start().await;
    let hash = "flood2";
    let seeded = app.seed_store(hash, |_| {}).await;
    let version = disclosure_version(&app, hash).await;
    let cart_id = guest_cart(&app, hash).await;
    // Unticks of nothing: each passes its address's limit and is answered, recording nothing.
    let untick = capture(hash, &cart_id, "0412 000 111", "AU", false, &version);
    let addresses = STORE_LIMIT.div_ceil(IP_LIMIT) + 1;
    let mut accepted = 0;
    for n in 0..addresses {
        let client = client_at(Ipv4Addr::new(127, 0, 1, u8::try_from(n + 1).unwrap()));
        let statuses = flood(&app, &client, &untick, IP_LIMIT).await;
        accepted += statuses.iter().filter(|s| **s == 200).count() as u64;
    }
    assert_eq!(accepted, STORE_LIMIT, "the store takes its budget and no more");

    // The store's budget is spent for this minute: a shopper's tick is refused, and says so (the script
    // retries and then tells the shopper).
    let shopper = client_at(Ipv4Addr::new(127, 0, 2, 1));
    let tick = capture(hash, &cart_id, "0412 345 678", "AU", true, &version);
    let refused = post_capture_from(&app, &shopper, Some(SHOP), tick.clone()).await;
    assert_eq!(refused.status(), 429);
    assert_eq!(
        refused.headers()["access-control-allow-origin"],
        SHOP,
        "the script can read the refusal"
    );
    assert!(
        app.db()
            .ledger(&seeded.store_hash, &phone(SYDNEY))
            .await
            .unwrap()
            .is_empty()
    );
    // The next minute, its retry is recorded.
    app.clock.advance(Duration::minutes(1));
    let retried = post_capture_from(&app, &shopper, Some(SHOP), tick).await;
    assert_eq!(retried.status(), 200);
    assert_eq!(
        app.db().ledger(&seeded.store_hash, &phone(SYDNEY)).await.unwrap().len(),
        1
    );
}

#[tokio::test]
async fn a_strangers_tick_of_a_subscribers_number_never_texts_it() {
    let app = TestApp::start_with(TestAppOptions {
        start: at(SYDNEY_NOON),
        ..TestAppOptions::default()
    })
    .await;
    let hash = "strng1";
    let seeded = app.seed_store(hash, |_| {}).await;
    let victim = phone(SYDNEY);
    // The number's owner subscribed at this store last week.
    give_consent(&app, &seeded, &victim, app.clock.now() - Duration::days(7)).await;

    // A stranger builds a guest cart and ticks the box with the subscriber's number; they never reach the
    // billing step.
    let stranger_cart = guest_cart(&app, hash).await;
    app.drain_sync().await;
    let version = disclosure_version(&app, hash).await;
    let response = post_capture(
        &app,
        Some(SHOP),
        capture(hash, &stranger_cart, "0412 345 678", "AU", true, &version),
    )
    .await;
    assert_eq!(response.status(), 200);
    app.drain_sync().await;

    // The cart is abandoned; the reminder falls due and the send function decides.
    for _ in 0..3 {
        app.clock.advance(Duration::hours(1));
        sweep_and_send(&app).await;
    }
    assert!(app.sms.messages_to(SYDNEY).is_empty(), "no text to the subscriber");
    let decisions = app
        .db()
        .cart_decisions(&seeded.store_hash, &stranger_cart)
        .await
        .unwrap();
    assert_eq!(decisions.len(), 1, "{decisions:?}");
    assert_eq!(
        (decisions[0].outcome.as_str(), decisions[0].code.as_str()),
        ("deny", "no_phone")
    );
    assert!(
        decisions[0].explanation.contains("ticked"),
        "the merchant reads why: {}",
        decisions[0].explanation
    );
    let filed = app
        .db()
        .get_cart(&seeded.store_hash, &stranger_cart)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(filed.phone, None, "a ticked number is never the cart's number");
}

#[tokio::test]
async fn the_send_function_texts_only_the_number_the_checkout_proves() {
    let app = TestApp::start_with(TestAppOptions {
        start: at(NY_MORNING),
        ..TestAppOptions::default()
    })
    .await;
    let hash = "strng2";
    let seeded = app.seed_store(hash, |_| {}).await;
    let victim = phone(NY);
    give_consent(&app, &seeded, &victim, app.clock.now() - Duration::days(7)).await;

    // A cart filed with the subscriber's number (as the sync function did from a tick) whose checkout has no
    // billing phone: the send function re-reads the checkout and finds nothing proving the number.
    let (stranger_cart, items) = shopper_cart(&app, &seeded, &[("Blue Mug", 1, 12.5)], None).await;
    let filed = cart(&seeded, &stranger_cart, Some(&victim), "US", app.clock.now(), items);
    app.db().put_cart(&filed, app.clock.now()).await.unwrap();
    app.clock.advance(Duration::minutes(30));
    sweep_and_send(&app).await;
    assert!(app.sms.messages_to(NY).is_empty(), "no text to the subscriber");
    let decision = app
        .db()
        .cart_decisions(&seeded.store_hash, &stranger_cart)
        .await
        .unwrap()
        .pop()
        .expect("a decision was recorded");
    assert_eq!(
        (decision.outcome.as_str(), decision.code.as_str()),
        ("deny", "phone_not_proven")
    );
    assert!(
        decision.explanation.contains("billing phone"),
        "{}",
        decision.explanation
    );
    let after = app
        .db()
        .get_cart(&seeded.store_hash, &stranger_cart)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.next_due_at, None, "the cart's reminders end");

    // The subscriber's own cart, whose checkout carries their number as its billing phone, is reminded.
    let (own_cart, own_items) = shopper_cart(&app, &seeded, &[("Red Hat", 1, 20.0)], Some("(212) 201-4567")).await;
    save(
        &app,
        &cart(&seeded, &own_cart, Some(&victim), "US", app.clock.now(), own_items),
    )
    .await;
    app.clock.advance(Duration::minutes(30));
    sweep_and_send(&app).await;
    assert_eq!(app.sms.messages_to(NY).len(), 1);
}

#[tokio::test]
async fn a_recovery_link_followed_again_and_again_recreates_a_bounded_number_of_carts() {
    let app = TestApp::start_with(TestAppOptions {
        start: at(NY_MORNING),
        ..TestAppOptions::default()
    })
    .await;
    let seeded = app.seed_store("rlink1", |_| {}).await;
    let hash = seeded.store_hash.as_str();
    let ny = phone(NY);
    give_consent(&app, &seeded, &ny, app.clock.now() - Duration::days(1)).await;
    let (cart_id, items) = shopper_cart(&app, &seeded, &[("Blue Mug", 2, 12.5)], Some("(212) 201-4567")).await;
    save(&app, &cart(&seeded, &cart_id, Some(&ny), "US", app.clock.now(), items)).await;
    app.clock.advance(Duration::minutes(30));
    sweep_and_send(&app).await;
    let token = link_token(&app.sms.messages_to(NY)[0].content);
    let carts_before = app.bigcommerce.carts(hash).len();

    let follow = || async {
        let response = app.http.get(app.url(&format!("/r/{token}"))).send().await.unwrap();
        assert_eq!(response.status(), 302);
        response.headers()["location"].to_str().unwrap().to_owned()
    };
    let mut locations = Vec::new();
    for _ in 0..(RECREATE_LIMIT + 20) {
        locations.push(follow().await);
    }
    assert_eq!(
        app.bigcommerce.carts(hash).len() - carts_before,
        RECREATE_LIMIT as usize,
        "at most {RECREATE_LIMIT} carts re-created per link in the window"
    );
    for location in &locations[..RECREATE_LIMIT as usize] {
        assert!(location.contains("action=loadInCheckout"), "{location}");
    }
    for location in &locations[RECREATE_LIMIT as usize..] {
        assert_eq!(location, "https://sim-store.example.com/cart.php");
    }
    // Past the follow limit the link is answered without calling BigCommerce.
    for _ in locations.len()..FOLLOW_LIMIT as usize {
        follow().await;
    }
    let requests_before = app.bigcommerce.requests(hash).len();
    let flooded = app.http.get(app.url(&format!("/r/{token}"))).send().await.unwrap();
    assert_eq!(flooded.status(), 429);
    assert!(flooded.text().await.unwrap().contains("try it again in an hour"));
    assert_eq!(
        app.bigcommerce.requests(hash).len(),
        requests_before,
        "no BigCommerce call"
    );

    // In the next window the link re-creates the cart again.
    app.clock.advance(Duration::minutes(RECREATE_WINDOW_MINUTES));
    assert!(follow().await.contains("action=loadInCheckout"));
    assert_eq!(
        app.bigcommerce.carts(hash).len() - carts_before,
        RECREATE_LIMIT as usize + 1
    );
}
