//! Recovery at a glance: a scripted day of carts, reminders (sent and held back for several reasons),
//! delivery reports, a click, an order and checkout ticks, all through the real handlers; then the day's
//! counters, what the settings page renders from them, and what a page load costs. Then the contacts by
//! consent state after a bulk sync (with a crash, a redelivered page and STOPs), against every ledger.

use super::capture::{SHOP, capture, disclosure_version, guest_cart, post_capture};
use chrono::Duration;
use futures::StreamExt;
use integration_tests::contact_sync::{contacts_by_phone, start_bulk_sync};
use integration_tests::recovery::{
    LONDON, NY, cart, give_consent, item, link_token, opt_out, phone, save, shopper_cart, sweep_and_send,
};
use integration_tests::replies::SENDER;
use integration_tests::{SeededStore, TestApp, TestAppOptions, at};
use shared::consent::{ConsentState, Purpose};
use shared::failpoint::{Action, arm};
use shared::messages::SendJob;
use shared::model::{ConsentOption, SenderSharing};
use shared::recovery_stats::{CHART_DAYS, ConsentTotals, DayStats, counted_state};
use shared::{Clock, Phone, StoreHash};
use sim::bigcommerce::{BillingAddress, SubscriberSeed};
use sim::sms::DeliveryStatus;

/// Tuesday 4 November 2025, 14:00 UTC: 09:00 in New York, 14:00 in London.
pub(super) const DAYTIME: &str = "2025-11-04T14:00:00Z";
/// Numbers with no consent, and one that opts out.
const NO_CONSENT: &str = "+12122014568";
const OPTED_OUT: &str = "+12122014569";

async fn today(app: &TestApp, store: &StoreHash) -> DayStats {
    let (days, _) = app
        .db()
        .recovery_days(store, app.clock.now().date_naive(), CHART_DAYS)
        .await
        .unwrap();
    assert_eq!(days.len(), CHART_DAYS as usize);
    days.last().cloned().unwrap()
}

/// The carts of the day, filed as the sync function files them, swept and sent.
pub(super) async fn scripted_day(app: &TestApp, store: &SeededStore) -> (String, String) {
    let hash = store.store_hash.as_str();
    let start = at(DAYTIME);
    let (ny, london) = (phone(NY), phone(LONDON));
    give_consent(app, store, &ny, start - Duration::days(1)).await;
    give_consent(app, store, &london, start - Duration::days(1)).await;
    opt_out(app, store, &phone(OPTED_OUT), start - Duration::days(2)).await;
    let (recovered, items) = shopper_cart(app, store, &[("Blue Mug", 2, 12.5), ("Red Hat", 1, 20.0)], None).await;
    save(app, &cart(store, &recovered, Some(&ny), "US", start, items)).await;
    let mug = || vec![item("Blue Mug", 101, 1, 1250)];
    save(app, &cart(store, "cart-london", Some(&london), "GB", start, mug())).await;
    save(
        app,
        &cart(store, "cart-no-consent", Some(&phone(NO_CONSENT)), "US", start, mug()),
    )
    .await;
    save(
        app,
        &cart(store, "cart-opted-out", Some(&phone(OPTED_OUT)), "US", start, mug()),
    )
    .await;
    let (no_phone, items) = shopper_cart(app, store, &[("Red Hat", 1, 20.0)], None).await;
    save(app, &cart(store, &no_phone, None, "US", start, items)).await;

    app.clock.advance(Duration::minutes(30));
    let (report, _) = sweep_and_send(app).await;
    assert_eq!(report.enqueued, 5);
    assert_eq!(app.sms.messages().len(), 2);

    // Both reminders are delivered; the MessageMedia report for one is delivered twice.
    for to in [NY, LONDON] {
        let id = app.sms.messages_to(to)[0].id.clone();
        let report = app
            .sms
            .deliver_report(&id, DeliveryStatus::Delivered, "220")
            .await
            .unwrap();
        assert_eq!(report.status, 200, "{}", report.response_body);
        if to == NY {
            assert_eq!(app.sms.redeliver(&report).await.unwrap().status, 200);
        }
    }
    // The New York shopper clicks (twice), and orders within the hour.
    let token = link_token(&app.sms.messages_to(NY)[0].content);
    app.clock.advance(Duration::minutes(10));
    for _ in 0..2 {
        let response = app.http.get(app.url(&format!("/r/{token}"))).send().await.unwrap();
        assert_eq!(response.status(), 302);
    }
    app.clock.advance(Duration::hours(1));
    app.bigcommerce.hold_webhooks(false);
    let order_id = app.bigcommerce.place_order(hash, &recovered, 11).await;
    app.drain_sync().await;
    // The order's events again (a status change): credited and counted once.
    app.bigcommerce.set_order_status(hash, order_id, 11).await;
    app.drain_sync().await;
    (recovered, no_phone)
}

#[tokio::test]
async fn a_scripted_day_is_counted_once_and_shown_as_chart_funnel_and_reasons() {
    let app = TestApp::start_with(TestAppOptions {
        start: at(DAYTIME),
        ..TestAppOptions::default()
    })
    .await;
    let store = app.seed_store("glance1", |_| {}).await;
    let hash = store.store_hash.clone();
    scripted_day(&app, &store).await;

    let day = today(&app, &hash).await;
    let expected = DayStats {
        day: day.day,
        abandoned: 5,
        eligible: 2,
        sent: 2,
        delivered: 2,
        clicked: 1,
        recovered: 1,
        revenue_minor: 4500,
        not_sent_no_consent: 1,
        not_sent_opted_out: 1,
        not_sent_no_number: 1,
        ..DayStats::default()
    };
    assert_eq!(day, expected);

    // A send job redelivered after the cart was saved again (as if the run that denied it had crashed before
    // moving the cart on) decides again, and counts nothing again.
    let denied = app.db().get_cart(&hash, "cart-no-consent").await.unwrap().unwrap();
    assert_eq!(denied.next_due_at, None);
    let mut again = denied.clone();
    again.next_due_at = Some(app.clock.now());
    app.db().put_cart(&again, app.clock.now()).await.unwrap();
    let job = SendJob::new(hash.clone(), "cart-no-consent".into(), 1, app.clock.now());
    app.send.aws.send_queue.send(&job).await.unwrap();
    assert_eq!(app.drain_send().await.received, 1);
    assert_eq!(
        app.db().cart_decisions(&hash, "cart-no-consent").await.unwrap().len(),
        2
    );
    assert_eq!(
        today(&app, &hash).await,
        expected,
        "a redelivered job counts nothing twice"
    );
    // So does a redelivered job of a reminder already sent.
    let sent_job = SendJob::new(hash.clone(), "cart-london".into(), 1, app.clock.now());
    app.send.aws.send_queue.send(&sent_job).await.unwrap();
    app.drain_send().await;
    assert_eq!(today(&app, &hash).await, expected);

    // Contacts by consent state come from counters too.
    let (_, totals) = app
        .db()
        .recovery_days(&hash, app.clock.now().date_naive(), 1)
        .await
        .unwrap();
    assert_eq!(
        (totals.subscribed, totals.subscribed_sms_express, totals.unsubscribed),
        (2, 2, 1)
    );

    // The page shows the period, and a load costs the same bounded number of requests.
    let merchant = app.open_app("glance1", None).await;
    let db_before = app.db().counter().calls();
    let page = app.get_page("/settings", Some(&merchant.cookie)).await;
    let requests = app.db().counter().calls() - db_before;
    assert_eq!(page.status, 200, "{}", page.html);
    assert!(requests <= 10, "{requests} DynamoDB requests for one page load");
    for figure in [
        "<svg id=\"recovery-chart\" role=\"img\"",
        "<title id=\"recovery-chart-title\">Recovery over the last 30 days</title>",
        "5 carts abandoned, 2 reminders sent, 2 delivered, 1 clicked, 1 carts recovered for 45.00 in revenue",
        "<tr data-stage=\"abandoned\"><th>Carts abandoned</th><td>5</td><td>100%</td></tr>",
        "<tr data-stage=\"eligible\"><th>Eligible for a reminder</th><td>2</td><td>40%</td></tr>",
        "<tr data-stage=\"clicked\"><th>Clicked</th><td>1</td><td>20%</td></tr>",
        "<tr data-stage=\"recovered\"><th>Carts recovered</th><td>1</td><td>20%</td></tr>",
        "<tr data-stage=\"revenue\"><th>Recovered revenue</th><td>45.00</td>",
        "<tr data-reason=\"no_consent\"><th>No SMS consent</th><td>1</td></tr>",
        "<tr data-reason=\"opted_out\"><th>Opted out</th><td>1</td></tr>",
        "<tr data-reason=\"no_number\"><th>No number to text</th><td>1</td></tr>",
        "20 percent of abandoned carts had no SMS consent: most shoppers do not tick the box.",
        "<tr><td>2025-11-04</td><td>5</td><td>2</td><td>2</td><td>2</td><td>1</td><td>1</td><td>45.00</td></tr>",
        "<td data-state=\"subscribed\">2</td>",
        "<td data-state=\"unsubscribed\">1</td>",
    ] {
        assert!(page.contains(figure), "missing {figure}: {}", page.html);
    }
}

#[tokio::test]
async fn checkouts_that_show_the_box_and_ticks_verified_give_the_capture_rate() {
    let app = TestApp::start_with(TestAppOptions {
        start: at(DAYTIME),
        ..TestAppOptions::default()
    })
    .await;
    let hash = "glance2";
    let store = app.seed_store(hash, |_| {}).await;
    let version = disclosure_version(&app, hash).await;
    let billing = |phone: &str| BillingAddress {
        first_name: "Robin".into(),
        last_name: "Park".into(),
        email: "robin@example.com".into(),
        city: "Sydney".into(),
        state_or_province_code: "NSW".into(),
        country_code: "AU".into(),
        postal_code: "2000".into(),
        phone: phone.into(),
        ..BillingAddress::default()
    };
    // One shopper ticks the box and gives that number; another leaves it unticked.
    let ticked = guest_cart(&app, hash).await;
    let unticked = guest_cart(&app, hash).await;
    app.drain_sync().await;
    let response = post_capture(
        &app,
        Some(SHOP),
        capture(hash, &ticked, "0412 345 678", "AU", true, &version),
    )
    .await;
    assert_eq!(response.status(), 200);
    app.bigcommerce
        .set_billing_address(hash, &ticked, billing("+61 412 345 678"))
        .await;
    app.bigcommerce
        .set_billing_address(hash, &unticked, billing("+61 412 345 679"))
        .await;
    app.drain_sync().await;
    // More events of the same checkouts count nothing more.
    app.bigcommerce
        .set_billing_address(hash, &ticked, billing("+61412345678"))
        .await;
    app.drain_sync().await;

    let day = today(&app, &store.store_hash).await;
    assert_eq!((day.consent_box_shown, day.consent_box_ticked), (2, 1));
    let merchant = app.open_app(hash, None).await;
    let page = app.get_page("/settings", Some(&merchant.cookie)).await;
    assert!(
        page.contains(
            "<span data-figure=\"shown\">2</span> checkouts showed the SMS consent box; <span \
             data-figure=\"ticked\">1</span> shoppers ticked it (<strong data-figure=\"rate\">50%</strong>)"
        ),
        "{}",
        page.html
    );
}

/// The contacts by consent state as folding every contact's ledger gives them: what the counters must say.
async fn totals_from_ledgers(app: &TestApp, store: &StoreHash) -> ConsentTotals {
    let contacts = contacts_by_phone(app, store).await;
    let states: Vec<&'static str> = futures::stream::iter(contacts.keys())
        .map(|phone| async move {
            let mut ledger = app.db().ledger(store, phone).await.unwrap();
            ledger.sort_by_key(|e| (e.occurred_at, e.recorded_at));
            counted_state(&ConsentState::fold(&ledger, Purpose::Marketing))
        })
        .buffer_unordered(16)
        .collect()
        .await;
    let mut totals = ConsentTotals {
        contacts: contacts.len() as i64,
        ..ConsentTotals::default()
    };
    for state in states {
        match state {
            "subscribed_sms_express" => {
                totals.subscribed += 1;
                totals.subscribed_sms_express += 1;
            }
            "subscribed" => totals.subscribed += 1,
            "pending_double_opt_in" => totals.pending_double_opt_in += 1,
            "unsubscribed" => totals.unsubscribed += 1,
            _ => {}
        }
    }
    totals
}

async fn counted_totals(app: &TestApp, store: &StoreHash) -> ConsentTotals {
    let (_, totals) = app
        .db()
        .recovery_days(store, app.clock.now().date_naive(), 1)
        .await
        .unwrap();
    totals
}

/// A store texting from [`SENDER`] (so its shoppers can reply STOP) with `n` customers importing their
/// general marketing consent: a newsletter subscription for every third, an unsubscribed sign-up for the
/// next. Returns the phones of the newsletter subscribers.
async fn store_with_customers(app: &TestApp, hash: &str, n: usize) -> (SeededStore, Vec<Phone>) {
    app.messagemedia_callback();
    let store = app
        .seed_store(hash, |s| {
            s.sender_id = Some(SENDER.into());
            s.consent_option = ConsentOption::GeneralMarketing;
        })
        .await;
    app.approve_sender(&store, SenderSharing::Exclusive).await;
    app.bigcommerce.hold_webhooks(true);
    app.bigcommerce.seed_customers(hash, n);
    let mut subscribers = Vec::new();
    for (i, customer) in app.bigcommerce.customers(hash).into_iter().enumerate() {
        let consents = match i % 3 {
            0 => vec!["marketing_newsletter".to_owned()],
            1 => vec![],
            _ => continue,
        };
        let country = customer.addresses.first().map(|a| a.country_code.as_str());
        if let (0, Ok(phone)) = (i % 3, Phone::parse(&customer.phone, country)) {
            subscribers.push(phone);
        }
        app.bigcommerce
            .create_subscriber(
                hash,
                SubscriberSeed {
                    email: customer.email.clone(),
                    consents,
                    ..SubscriberSeed::default()
                },
            )
            .await;
    }
    (store, subscribers)
}

/// A whole bulk sync of the store (the clock moved on, so a rerun is a new job); every page goes through.
async fn bulk_sync(app: &TestApp, store: &StoreHash, job_id: &str) {
    app.clock.advance(Duration::minutes(10));
    start_bulk_sync(app, store, job_id).await;
    let outcome = app.drain_sync().await;
    assert_eq!(outcome.failed, 0, "{outcome:?}");
}

#[tokio::test]
async fn bulk_imported_consents_are_counted_by_state_once_through_a_crash_a_redelivery_and_a_stop() {
    let app = TestApp::start_with(TestAppOptions {
        start: at(DAYTIME),
        ..TestAppOptions::default()
    })
    .await;
    let (store, subscribers) = store_with_customers(&app, "glance3", 300).await;
    let hash = store.store_hash.clone();

    // A page crashes after writing its consent events, before counting them: its redelivery counts them. A
    // page crashes after counting, before it is marked imported: its redelivery counts nothing twice.
    arm("consent.counts.before_write", hash.as_str(), Action::Error, 1);
    arm("sync.page.after_consents", hash.as_str(), Action::Error, 1);
    start_bulk_sync(&app, &hash, "job-1").await;
    let outcome = app.drain_sync().await;
    assert_eq!(outcome.failed, 2, "both crashes happened: {outcome:?}");
    let expected = totals_from_ledgers(&app, &hash).await;
    assert!(expected.contacts > 200, "{expected:?}");
    assert!(
        expected.subscribed > 0 && expected.subscribed < expected.contacts,
        "mixed consent: {expected:?}"
    );
    assert_eq!(counted_totals(&app, &hash).await, expected);

    // A second run imports every page again and counts nothing twice.
    bulk_sync(&app, &hash, "job-2").await;
    assert_eq!(counted_totals(&app, &hash).await, expected);

    // A STOP afterwards moves its phone once, and a later run does not move it back.
    let stop = app.sms.reply(subscribers[0].as_e164(), SENDER, "STOP").await.unwrap();
    assert_eq!(stop.status, 200, "{}", stop.response_body);
    app.drain_sync().await;
    let after_stop = counted_totals(&app, &hash).await;
    assert_eq!(
        (after_stop.subscribed, after_stop.unsubscribed),
        (expected.subscribed - 1, expected.unsubscribed + 1)
    );
    assert_eq!(after_stop, totals_from_ledgers(&app, &hash).await);
    bulk_sync(&app, &hash, "job-3").await;
    assert_eq!(counted_totals(&app, &hash).await, after_stop);
    assert_eq!(after_stop, totals_from_ledgers(&app, &hash).await);
}

#[tokio::test]
async fn a_stop_while_its_page_is_being_counted_moves_the_phone_once() {
    let app = TestApp::start_with(TestAppOptions {
        start: at(DAYTIME),
        ..TestAppOptions::default()
    })
    .await;
    let (store, subscribers) = store_with_customers(&app, "glance4", 60).await;
    let hash = store.store_hash.clone();

    // The page has read its phones' ledgers and counted states when the STOP comes in: its transaction
    // finds that phone moved, re-reads it and counts the rest.
    let paused = arm("consent.counts.before_write", hash.as_str(), Action::Pause, 1);
    start_bulk_sync(&app, &hash, "job-1").await;
    let (outcome, ()) = tokio::join!(app.drain_sync(), async {
        tokio::time::timeout(std::time::Duration::from_secs(60), paused.reached())
            .await
            .expect("the page reached its counts");
        let stop = app.sms.reply(subscribers[0].as_e164(), SENDER, "STOP").await.unwrap();
        assert_eq!(stop.status, 200, "{}", stop.response_body);
        paused.release();
    });
    assert_eq!(outcome.failed, 0, "{outcome:?}");
    app.drain_sync().await;
    let expected = totals_from_ledgers(&app, &hash).await;
    assert!(expected.unsubscribed > 0 && expected.subscribed > 0, "{expected:?}");
    assert_eq!(counted_totals(&app, &hash).await, expected);
}
