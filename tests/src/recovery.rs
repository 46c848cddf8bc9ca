//! Helpers for the abandoned-cart recovery tests: consent in the ledger as the capture and reply flows record
//! it, carts as the sync function files them, shopper carts in the simulator, and a sweep followed by the
//! send queue.

use crate::{SeededStore, TestApp};
use chrono::{DateTime, Duration, Utc};
use devstack::event_source::PollOutcome;
use rust_decimal::prelude::ToPrimitive;
use shared::consent::content::double_opt_in_request;
use shared::consent::{
    AddressHint, ConsentEvent, ConsentEventKind, Market, OptOutMethod, Purpose, Recipient, build_disclosure,
    reminder_schedule,
};
use shared::model::{Cart, CartStatus, LineItem};
use shared::{Clock, Phone};
use sim::bigcommerce::{BillingAddress, CartSeed, ItemSeed};

/// New York, London, Sydney: numbers of the three rule sets the tests exercise.
pub const NY: &str = "+12122014567";
pub const LONDON: &str = "+447911123456";
pub const SYDNEY: &str = "+61412345678";

pub fn phone(e164: &str) -> Phone {
    Phone::from_e164(e164).expect("test numbers are valid")
}

/// Records a verified checkout checkbox (with the store's current disclosure) for `phone`, and for US and
/// unknown-country numbers the confirmed double opt-in that cart reminders there need. Returns the id of the
/// event that authorises reminders.
pub async fn give_consent(app: &TestApp, store: &SeededStore, phone: &Phone, at: DateTime<Utc>) -> String {
    let settings = &store.settings;
    let disclosure = build_disclosure(
        &settings.brand_name,
        settings.terms_url.as_deref().expect("seeded terms"),
        settings.privacy_url.as_deref().expect("seeded privacy"),
    )
    .expect("complete disclosure");
    let checkbox = append(
        app,
        store,
        phone,
        at,
        "checkbox",
        ConsentEventKind::CheckoutCheckbox {
            disclosure_version: disclosure.version.clone(),
            disclosure_text: disclosure.text.clone(),
            checkbox_default_checked: false,
            ip: "203.0.113.7".into(),
            user_agent: "Mozilla/5.0".into(),
            page_url: Some("https://acme.example.com/checkout".into()),
            cart_id: None,
        },
    )
    .await;
    append(
        app,
        store,
        phone,
        at + Duration::seconds(1),
        "verified",
        ConsentEventKind::CheckoutPhoneVerified {
            checkbox_event_id: checkbox.clone(),
            cart_id: "checkout".into(),
        },
    )
    .await;
    if !matches!(Recipient::resolve(phone, &[]).market, Market::Us | Market::Unknown) {
        return checkbox;
    }
    append(
        app,
        store,
        phone,
        at + Duration::seconds(2),
        "doi-request",
        ConsentEventKind::DoubleOptInRequested {
            message_id: None,
            text: double_opt_in_request(settings),
        },
    )
    .await;
    append(
        app,
        store,
        phone,
        at + Duration::seconds(3),
        "doi-yes",
        ConsentEventKind::DoubleOptInConfirmed {
            raw_text: "YES".into(),
            message_id: None,
        },
    )
    .await
}

/// Records a STOP reply from `phone`.
pub async fn opt_out(app: &TestApp, store: &SeededStore, phone: &Phone, at: DateTime<Utc>) -> String {
    append(
        app,
        store,
        phone,
        at,
        "stop",
        ConsentEventKind::OptOut(OptOutMethod::Keyword {
            raw_text: "STOP".into(),
            message_id: None,
        }),
    )
    .await
}

async fn append(
    app: &TestApp,
    store: &SeededStore,
    phone: &Phone,
    at: DateTime<Utc>,
    key: &str,
    kind: ConsentEventKind,
) -> String {
    let event = ConsentEvent::new(
        store.store_hash.clone(),
        phone.clone(),
        Purpose::Marketing,
        at,
        at,
        format!("test:{}:{key}", phone.as_e164()),
        kind,
    );
    app.db().append_consent(&event).await.expect("ledger append");
    event.event_id
}

pub fn item(name: &str, product_id: u64, quantity: u32, cents: i64) -> LineItem {
    LineItem {
        product_id,
        variant_id: None,
        name: name.into(),
        quantity,
        price: rust_decimal::Decimal::new(cents, 2),
        image_url: None,
    }
}

/// A cart as the sync function files it: abandoned at `last_activity`, first reminder due per the store's
/// schedule for the number's market (the country's when there is no number yet).
pub fn cart(
    store: &SeededStore,
    cart_id: &str,
    phone: Option<&Phone>,
    country: &str,
    last_activity: DateTime<Utc>,
    items: Vec<LineItem>,
) -> Cart {
    let market = match phone {
        Some(phone) => {
            Recipient::resolve(
                phone,
                &[AddressHint {
                    country_code: Some(country),
                    state_or_province: None,
                }],
            )
            .market
        }
        None => Market::of_country(country),
    };
    let first_due = reminder_schedule(&store.settings, market, last_activity)
        .first()
        .map(|step| step.due);
    let amount = items
        .iter()
        .map(|i| i.price * rust_decimal::Decimal::from(i.quantity))
        .sum();
    Cart {
        store_hash: store.store_hash.clone(),
        cart_id: cart_id.into(),
        customer_id: 0,
        channel_id: 1,
        email: Some("jane@example.com".into()),
        first_name: Some("Jane".into()),
        phone: phone.cloned(),
        country_code: Some(country.into()),
        state_code: None,
        line_items: items,
        amount,
        currency: "USD".into(),
        status: CartStatus::Active,
        last_activity_at: last_activity,
        reminders_sent: 0,
        next_due_at: first_due,
        converted_order_id: None,
        updated_at: last_activity,
    }
}

/// The `i`th cart of a store at volume (sweep tests and benchmarks): abandoned half an hour before `due`, its
/// first reminder due then. No checkout behind it: only the sweep, which never calls BigCommerce, reads it.
pub fn due_cart(store: &shared::StoreHash, i: usize, due: DateTime<Utc>) -> Cart {
    Cart {
        store_hash: store.clone(),
        cart_id: format!("cart-{i:06}"),
        customer_id: 0,
        channel_id: 1,
        email: None,
        first_name: Some("Jane".into()),
        phone: Some(Phone::from_e164(&format!("+4479{:08}", 11_000_000 + i % 80_000_000)).expect("valid UK mobile")),
        country_code: Some("GB".into()),
        state_code: None,
        line_items: vec![item("Blue Mug", 101, 1, 1250)],
        amount: rust_decimal::Decimal::new(1250, 2),
        currency: "GBP".into(),
        status: CartStatus::Active,
        last_activity_at: due - Duration::minutes(30),
        reminders_sent: 0,
        next_due_at: Some(due),
        converted_order_id: None,
        updated_at: due - Duration::minutes(30),
    }
}

/// Takes every job waiting in the send queue off it, without running them (what a sweep enqueued).
pub async fn take_send_jobs(app: &TestApp) -> Vec<shared::messages::SendJob> {
    take_send_jobs_with_groups(app)
        .await
        .into_iter()
        .map(|(job, _)| job)
        .collect()
}

/// [`take_send_jobs`], with each job's SQS message group.
pub async fn take_send_jobs_with_groups(app: &TestApp) -> Vec<(shared::messages::SendJob, Option<String>)> {
    let sqs = aws_sdk_sqs::Client::new(&app.aws.sdk);
    take_messages(&sqs, app.send_queue.queue_url()).await
}

/// Takes every message waiting in the queue at `url` off it, each read as JSON with its SQS message group,
/// without running anything on it.
pub async fn take_messages<T: serde::de::DeserializeOwned>(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
) -> Vec<(T, Option<String>)> {
    let mut taken = Vec::new();
    loop {
        let received = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .visibility_timeout(600)
            .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::MessageGroupId)
            .send()
            .await
            .expect("the queue reads");
        let messages = received.messages.unwrap_or_default();
        if messages.is_empty() {
            return taken;
        }
        for message in messages {
            let group = message
                .attributes()
                .and_then(|a| a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::MessageGroupId))
                .cloned();
            let body = message.body().unwrap_or_default();
            let parsed = serde_json::from_str(body).unwrap_or_else(|e| panic!("{body}: {e}"));
            taken.push((parsed, group));
            sqs.delete_message()
                .queue_url(url)
                .receipt_handle(message.receipt_handle().unwrap_or_default())
                .send()
                .await
                .expect("deleted");
        }
    }
}

/// Files the cart, with its checkout at BigCommerce proving its number (see [`checkout_proving`]).
pub async fn save(app: &TestApp, cart: &Cart) {
    checkout_proving(app, cart).await;
    app.db().put_cart(cart, app.clock.now()).await.expect("cart saved");
}

/// Makes the simulator hold the cart's checkout, with the cart's number as its billing phone: the sync
/// function files only a number the checkout proves, and the send function checks it again. The app is not
/// told (no webhook): the test files the app's record itself.
pub async fn checkout_proving(app: &TestApp, cart: &Cart) {
    let hash = cart.store_hash.as_str();
    let billing = |email: String| {
        cart.phone.as_ref().map(|phone| BillingAddress {
            first_name: cart.first_name.clone().unwrap_or_default(),
            email,
            country_code: cart.country_code.clone().unwrap_or_default(),
            phone: phone.as_e164().to_owned(),
            ..BillingAddress::default()
        })
    };
    match app.bigcommerce.cart(hash, &cart.cart_id) {
        None => {
            let seed = CartSeed {
                customer_id: cart.customer_id,
                email: cart.email.clone().unwrap_or_default(),
                channel_id: cart.channel_id,
                currency: cart.currency.clone(),
                items: cart
                    .line_items
                    .iter()
                    .map(|i| ItemSeed::new(&i.name, i.quantity, i.price.to_f64().unwrap_or_default()))
                    .collect(),
            };
            app.bigcommerce.seed_cart(
                hash,
                &cart.cart_id,
                seed,
                billing(cart.email.clone().unwrap_or_default()),
            );
        }
        Some(existing) => {
            let proven = existing.billing_address.as_ref().map(|b| b.phone.as_str());
            // The same email: no `store/cart/updated`.
            if let Some(address) = billing(existing.email.clone())
                && Some(address.phone.as_str()) != proven
            {
                app.bigcommerce.set_billing_address(hash, &cart.cart_id, address).await;
            }
        }
    }
}

/// A shopper's storefront cart in the simulator (its webhooks held back, so only the test decides what the
/// app hears), with a billing address when `billing_phone` is given. Returns the cart id and its items as
/// the app keeps them.
pub async fn shopper_cart(
    app: &TestApp,
    store: &SeededStore,
    items: &[(&str, u32, f64)],
    billing_phone: Option<&str>,
) -> (String, Vec<LineItem>) {
    let hash = store.store_hash.as_str();
    app.bigcommerce.hold_webhooks(true);
    let cart_id = app
        .bigcommerce
        .create_cart(
            hash,
            CartSeed {
                items: items
                    .iter()
                    .map(|(name, quantity, price)| ItemSeed::new(name, *quantity, *price))
                    .collect(),
                ..CartSeed::default()
            },
        )
        .await;
    if let Some(billing_phone) = billing_phone {
        app.bigcommerce
            .set_billing_address(
                hash,
                &cart_id,
                BillingAddress {
                    first_name: "Jane".into(),
                    last_name: "Doe".into(),
                    email: "jane@example.com".into(),
                    city: "New York".into(),
                    state_or_province: "New York".into(),
                    state_or_province_code: "NY".into(),
                    country: "United States".into(),
                    country_code: "US".into(),
                    postal_code: "10001".into(),
                    phone: billing_phone.into(),
                    ..BillingAddress::default()
                },
            )
            .await;
    }
    let sim_cart = app.bigcommerce.cart(hash, &cart_id).expect("cart exists");
    let items = sim_cart
        .line_items
        .iter()
        .map(|line| LineItem {
            product_id: line.product_id,
            variant_id: Some(line.variant_id).filter(|v| *v != 0),
            name: line.name.clone(),
            quantity: line.quantity,
            price: rust_decimal::Decimal::new(line.price_cents, 2),
            image_url: Some(line.image_url.clone()),
        })
        .collect();
    (cart_id, items)
}

/// Runs the sweep, then the send function on everything it enqueued.
pub async fn sweep_and_send(app: &TestApp) -> (sweep::SweepReport, PollOutcome) {
    let report: sweep::SweepReport = serde_json::from_value(app.run_sweep().await).expect("sweep report");
    let outcome = app.drain_send().await;
    (report, outcome)
}

/// The recovery link token in a reminder's text.
pub fn link_token(body: &str) -> String {
    let start = body.find("/r/").expect("the reminder carries a recovery link") + 3;
    body[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}
