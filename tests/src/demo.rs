//! `cargo xtask demo`: the product's main job, end to end, told in plain sentences.
//!
//! A merchant installs the app into a simulated store with a few hundred customers and connects it with the
//! SMS-checkbox option; the bulk sync imports the contacts; four shoppers go through checkout; sweeps send the
//! reminders the consent engine allows; one shopper replies STOP, another clicks the link and buys. Everything
//! runs through the real handlers, moto, the BigCommerce simulator and the SMS sandbox (see [`TestApp`]), on a
//! manual clock so the hours between steps take no time.

use crate::install::sms_form;
use crate::recovery::link_token;
use crate::{TestApp, TestAppOptions};
use chrono::{DateTime, Duration, Utc};
use install::status::{ConsentCounts, consent_counts};
use rust_decimal::Decimal;
use shared::model::{ReminderDecision, SyncJobStatus};
use shared::recovery::RecoverySummary;
use shared::{Clock, Phone, StoreHash};
use sim::bigcommerce::{BillingAddress, CartSeed, ItemSeed};
use std::collections::BTreeMap;
use std::io::Write;

/// The simulated store.
pub const STORE: &str = "demo01";
/// Customers the store already has when the app is installed.
pub const CUSTOMERS: usize = 600;
/// The store's SMS number (the settings form's sender).
const SENDER: &str = "+12125550100";
/// The storefront's origin, where the checkout script posts from.
const STOREFRONT: &str = "https://sim-store.example.com";
/// A Tuesday, 17:30 in New York and 09:30 (Wednesday) in Sydney: inside both send windows.
const START: &str = "2026-11-24T22:30:00Z";

/// What the demo ends with, for the merchant and for the test that checks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoSummary {
    pub customers_in_store: usize,
    pub contacts_imported: u64,
    pub skipped_no_phone: u64,
    pub skipped_invalid_phone: u64,
    /// Every contact's ledger folded, after the shoppers.
    pub contacts: u64,
    pub consent: ConsentCounts,
    pub reminders_sent: usize,
    pub reminders_denied: usize,
    pub reminders_deferred: usize,
    /// Texts that were not reminders: the double opt-in request and the answers to YES and STOP.
    pub other_texts: usize,
    pub orders_recovered: usize,
    pub recovered_revenue: Decimal,
}

/// A shopper of the story.
struct Shopper {
    name: &'static str,
    city: &'static str,
    state: &'static str,
    country: &'static str,
    /// As typed at checkout.
    phone: &'static str,
    item: (&'static str, u32, f64),
}

impl Shopper {
    fn phone(&self) -> Phone {
        Phone::parse(self.phone, Some(self.country)).expect("the demo's numbers are valid")
    }

    fn billing(&self) -> BillingAddress {
        BillingAddress {
            first_name: self.name.into(),
            last_name: "Example".into(),
            email: format!("{}@example.com", self.name.to_lowercase()),
            city: self.city.into(),
            state_or_province_code: self.state.into(),
            country_code: self.country.into(),
            postal_code: "2000".into(),
            phone: self.phone.into(),
            ..BillingAddress::default()
        }
    }
}

const MIA: Shopper = Shopper {
    name: "Mia",
    city: "Sydney",
    state: "NSW",
    country: "AU",
    phone: "0412 345 678",
    item: ("Linen Shirt", 1, 48.0),
};
const NOAH: Shopper = Shopper {
    name: "Noah",
    city: "Boston",
    state: "MA",
    country: "US",
    phone: "(617) 201-4321",
    item: ("Canvas Tote", 2, 19.5),
};
const LEE: Shopper = Shopper {
    name: "Lee",
    city: "New York",
    state: "NY",
    country: "US",
    phone: "(212) 201-4567",
    item: ("Merino Scarf", 1, 64.0),
};
const ISLA: Shopper = Shopper {
    name: "Isla",
    city: "London",
    state: "",
    country: "GB",
    phone: "07400 123456",
    item: ("Wool Beanie", 1, 25.0),
};

/// Plain sentences on `out`; a progress bar redrawn in place on a terminal, drawn once when finished elsewhere.
struct Story<'a> {
    out: &'a mut dyn Write,
    terminal: bool,
}

impl Story<'_> {
    fn say(&mut self, line: impl AsRef<str>) {
        let _ = writeln!(self.out, "{}", line.as_ref());
    }

    fn section(&mut self, title: &str) {
        self.say("");
        self.say(title);
        self.say("-".repeat(title.chars().count()));
    }

    fn progress(&mut self, percent: u32, detail: &str, finished: bool) {
        if !self.terminal && !finished {
            return;
        }
        let filled = (percent.min(100) / 4) as usize;
        let bar = format!(
            "[{}{}] {percent:>3}%  {detail}",
            "#".repeat(filled),
            ".".repeat(25 - filled)
        );
        let _ = if self.terminal {
            write!(self.out, "\r  {bar}{}", if finished { "\n" } else { "" })
        } else {
            writeln!(self.out, "  {bar}")
        };
        let _ = self.out.flush();
    }
}

/// Runs the story on a fresh local stack, telling it on `out` (`terminal`: redraw the progress bar in place).
pub async fn run(out: &mut dyn Write, terminal: bool) -> DemoSummary {
    let mut story = Story { out, terminal };
    let app = TestApp::start_with(TestAppOptions {
        start: crate::at(START),
        ..TestAppOptions::default()
    })
    .await;
    app.messagemedia_callback();
    let store = StoreHash::parse(STORE).expect("valid store hash");
    let mut carts: BTreeMap<String, &'static str> = BTreeMap::new();

    story.section("1. The merchant installs the app");
    let mut merchant = app.install_app(STORE).await;
    for group in ["VIP", "Wholesale"] {
        app.bigcommerce.create_customer_group(STORE, group);
    }
    let seeded = app.bigcommerce.seed_customers(STORE, CUSTOMERS);
    story.say(format!(
        "Acme Outfitters (store {STORE}) has {CUSTOMERS} customers in the groups VIP, Wholesale and none: \
         {} with a usable phone (US, Canadian, Australian and UK formats), {} without one, {} with a number that \
         cannot be texted.",
        seeded.with_valid_phone, seeded.without_phone, seeded.with_invalid_phone
    ));
    story.say(format!(
        "The owner clicks Install: the app is authorised, {} webhooks are registered and the setup page opens.",
        app.bigcommerce.hooks(STORE).len()
    ));
    let connected = app.submit(&mut merchant, "/settings", sms_form()).await;
    assert!(connected.status.is_success(), "{}", connected.html);
    story.say(
        "They choose \"SMS checkbox at checkout\", link their Terms and Privacy pages, keep contact sync on and \
         click Connect.",
    );
    // Nothing goes out from a typed-in sender until the operator has checked it is this merchant's.
    app.db()
        .approve_sender(SENDER, &store, shared::model::SenderSharing::Exclusive, app.clock.now())
        .await
        .expect("sender approved");
    story.say(format!(
        "The app's operator checks in the SMS account that {SENDER} was registered for Acme Outfitters and \
         approves it as the store's sender."
    ));
    story.say(format!(
        "The checkout script is installed ({} script on the storefront, integrity-pinned); an unticked box with \
         the store's disclosure will appear under the checkout's phone field.",
        app.bigcommerce.scripts(STORE).len()
    ));

    story.section("2. Contact sync");
    let job = loop {
        app.bulk_sync_queue.poll_once(0).await.expect("bulk sync queue");
        let job = app
            .db()
            .latest_sync_job(&store)
            .await
            .expect("sync job")
            .expect("connect starts a sync");
        let detail = format!(
            "{} of {} pages, {} contacts imported",
            job.pages_done, job.total_pages, job.contacts_imported
        );
        let finished = job.status != SyncJobStatus::Running;
        story.progress(job.percent_done(), &detail, finished);
        if finished {
            break job;
        }
    };
    app.drain_sync().await;
    story.say(format!(
        "{} customers became SMS contacts; {} were skipped for having no phone and {} for a number that cannot \
         be texted.",
        job.contacts_imported, job.skipped_no_phone, job.skipped_invalid_phone
    ));
    for group in ["Store customers", "VIP", "Wholesale"] {
        let members = app.db().contacts_in_group(&store, group).await.expect("group");
        story.say(format!("  group \"{group}\": {} contacts", members.len()));
    }
    story.say(
        "Their consent was imported as the SMS-checkbox option says (subscribed by default, recorded as a bulk \
         import). The consent engine alone decides what that allows: never a marketing text to a US number.",
    );

    story.section("3. Shoppers at checkout");
    let version = disclosure_version(&app).await;
    // Mia ticks the box and leaves.
    let mia_cart = checkout(&app, &MIA).await;
    tick(&app, &MIA, &mia_cart, &version).await;
    app.drain_sync().await;
    carts.insert(mia_cart.clone(), MIA.name);
    story.say(format!(
        "Mia in Sydney ({}) ticks \"Text me offers\" at checkout, fills in her billing details and leaves her \
         {} in the cart.",
        MIA.phone().masked(),
        MIA.item.0
    ));
    // Noah does not tick it.
    app.clock.advance(Duration::minutes(1));
    let noah_cart = checkout(&app, &NOAH).await;
    app.drain_sync().await;
    carts.insert(noah_cart.clone(), NOAH.name);
    story.say(format!(
        "Noah in Boston ({}) checks out as a guest without ticking the box and leaves two {}s in the cart.",
        NOAH.phone().masked(),
        NOAH.item.0
    ));
    // Lee ticks it; a US number confirms by text before any marketing.
    app.clock.advance(Duration::minutes(1));
    let lee_cart = checkout(&app, &LEE).await;
    tick(&app, &LEE, &lee_cart, &version).await;
    app.drain_sync().await;
    carts.insert(lee_cart.clone(), LEE.name);
    let request = app.sms.messages_to(LEE.phone().as_e164());
    story.say(format!(
        "Lee in New York ({}) ticks the box. US rules want a confirmation by text, so the app sends:",
        LEE.phone().masked()
    ));
    for message in &request {
        story.say(format!("    \"{}\"", message.content));
    }
    app.clock.advance(Duration::minutes(2));
    app.sms
        .reply(LEE.phone().as_e164(), SENDER, "Yes")
        .await
        .expect("the reply reaches the app");
    let answers = app.sms.messages_to(LEE.phone().as_e164());
    story.say("Lee replies \"Yes\"; the app records the confirmation and answers:");
    for message in answers.iter().skip(request.len()) {
        story.say(format!("    \"{}\"", message.content));
    }
    story.say("Lee then leaves the scarf in the cart.");
    // Isla ticks it and buys before any reminder.
    app.clock.advance(Duration::minutes(1));
    let isla_cart = checkout(&app, &ISLA).await;
    tick(&app, &ISLA, &isla_cart, &version).await;
    app.drain_sync().await;
    carts.insert(isla_cart.clone(), ISLA.name);
    app.clock.advance(Duration::minutes(10));
    let isla_order = app.bigcommerce.place_order(STORE, &isla_cart, 11).await;
    app.drain_sync().await;
    story.say(format!(
        "Isla in London ({}) ticks the box and, ten minutes later, places order #{isla_order}: her cart is \
         converted and no reminder will go.",
        ISLA.phone().masked()
    ));

    story.section("4. Sweeps send what the consent engine allows");
    let sweep_started = app.clock.now();
    app.clock.advance(Duration::minutes(21));
    let texts_before = app.sms.messages().len();
    run_sweeps(&app).await;
    story.say(format!(
        "Thirty minutes after each cart last changed, the sweep (every 5 minutes) finds them due. Sent at {}:",
        app.clock.now().format("%H:%M UTC")
    ));
    for message in app.sms.messages().iter().skip(texts_before) {
        story.say(format!("  to {}: \"{}\"", masked(&message.to), message.content));
    }
    story.say("The decisions behind them, as the settings page lists them:");
    tell_decisions(&mut story, &app, &store, &carts, sweep_started).await;

    story.section("5. Lee taps the link and buys");
    app.clock.advance(Duration::minutes(40));
    let lee_reminder = app
        .sms
        .messages_to(LEE.phone().as_e164())
        .into_iter()
        .rev()
        .find(|m| m.content.contains("/r/"))
        .expect("Lee got a reminder");
    let click = app
        .http
        .get(app.url(&format!("/r/{}", link_token(&lee_reminder.content))))
        .send()
        .await
        .expect("the link answers");
    let location = click.headers()["location"].to_str().expect("a redirect").to_owned();
    let recreated = query_param(&location, "id").expect("the checkout link names the re-created cart");
    story.say("The link re-creates Lee's cart through the API and opens the store's checkout with it.");
    app.clock.advance(Duration::minutes(4));
    let lee_order = app.bigcommerce.place_order(STORE, &recreated, 11).await;
    app.drain_sync().await;
    let order_total = app
        .bigcommerce
        .order(STORE, lee_order)
        .map(|o| format!("{} {}", Decimal::new(o.total_cents, 2), o.currency_code))
        .unwrap_or_default();
    story.say(format!(
        "Lee pays: order #{lee_order} ({order_total}) is credited to the reminder as recovered revenue."
    ));

    story.section("6. Mia replies STOP");
    app.clock.advance(Duration::minutes(10));
    let before_stop = app.sms.messages_to(MIA.phone().as_e164()).len();
    app.sms
        .reply(MIA.phone().as_e164(), SENDER, "STOP")
        .await
        .expect("the reply reaches the app");
    story.say("Mia replies \"STOP\". The opt-out is on her consent ledger before the provider gets an answer, and she gets one confirmation:");
    for message in app.sms.messages_to(MIA.phone().as_e164()).iter().skip(before_stop) {
        story.say(format!("    \"{}\"", message.content));
    }
    story.say("Her cart's second reminder (due a day after the first in Australia) is cancelled.");
    app.clock.advance(Duration::days(1));
    let mia_again = checkout(&app, &MIA).await;
    app.drain_sync().await;
    carts.insert(mia_again.clone(), MIA.name);
    story.say("The next day Mia fills another cart and leaves it again.");
    let second_sweep = app.clock.now();
    let texts_before = app.sms.messages().len();
    app.clock.advance(Duration::minutes(31));
    run_sweeps(&app).await;
    let new_texts = app.sms.messages().len() - texts_before;
    story.say(format!(
        "The sweeps of that day send {new_texts} texts. Their decisions:"
    ));
    tell_decisions(&mut story, &app, &store, &carts, second_sweep).await;

    let summary = summarise(&app, &store, &job, CUSTOMERS).await;
    story.section("Summary");
    story.say(format!(
        "Contacts: {} ({} imported from {} customers, the rest from checkout).",
        summary.contacts, summary.contacts_imported, summary.customers_in_store
    ));
    story.say(format!(
        "  by consent: {} subscribed ({} of them with express consent for texts; the others only by the import \
         default, which the consent engine accepts where the law allows it, e.g. Australia, and never for US, \
         Canadian or UK numbers), {} awaiting a text confirmation, {} unsubscribed, {} never subscribed",
        summary.consent.subscribed,
        summary.consent.subscribed_sms_express,
        summary.consent.pending_double_opt_in,
        summary.consent.unsubscribed,
        summary.consent.never_subscribed
    ));
    story.say(format!(
        "Reminders: {} sent, {} not sent (denied, with the reason recorded), {} deferred to a lawful hour.",
        summary.reminders_sent, summary.reminders_denied, summary.reminders_deferred
    ));
    story.say(format!(
        "Other texts: {} (double opt-in request and the answers to YES and STOP).",
        summary.other_texts
    ));
    story.say(format!(
        "Recovered revenue: {} from {} order(s).",
        summary.recovered_revenue.round_dp(2),
        summary.orders_recovered
    ));
    summary
}

async fn disclosure_version(app: &TestApp) -> String {
    let body: serde_json::Value = app
        .http
        .get(app.url(&format!("/consent/disclosure?store={STORE}")))
        .send()
        .await
        .expect("the disclosure answers")
        .json()
        .await
        .expect("JSON");
    body["version"].as_str().expect("a version").to_owned()
}

/// The shopper fills a cart and types their billing details (webhooks tell the app).
async fn checkout(app: &TestApp, shopper: &Shopper) -> String {
    let (name, quantity, price) = shopper.item;
    let cart_id = app
        .bigcommerce
        .create_cart(
            STORE,
            CartSeed {
                items: vec![ItemSeed::new(name, quantity, price)],
                ..CartSeed::default()
            },
        )
        .await;
    app.bigcommerce
        .set_billing_address(STORE, &cart_id, shopper.billing())
        .await;
    cart_id
}

/// What the checkout script posts when the shopper ticks the box.
async fn tick(app: &TestApp, shopper: &Shopper, cart_id: &str, disclosure_version: &str) {
    let body = serde_json::json!({
        "store": STORE,
        "cart_id": cart_id,
        "phone": shopper.phone,
        "country": shopper.country,
        "checked": true,
        "page_url": format!("{STOREFRONT}/checkout"),
        "disclosure_version": disclosure_version,
    });
    let response = app
        .http
        .post(app.url("/consent"))
        .header("origin", STOREFRONT)
        .header("content-type", "text/plain;charset=UTF-8")
        .header("user-agent", "Mozilla/5.0 (demo shopper)")
        .body(body.to_string())
        .send()
        .await
        .expect("the capture endpoint answers");
    assert!(response.status().is_success(), "{}", response.status());
}

/// Ten minutes of the schedule: a sweep every five minutes, the send function on what each enqueued.
async fn run_sweeps(app: &TestApp) {
    for _ in 0..2 {
        app.clock.advance(Duration::minutes(5));
        app.run_sweep().await;
        app.drain_send().await;
    }
}

async fn tell_decisions(
    story: &mut Story<'_>,
    app: &TestApp,
    store: &StoreHash,
    carts: &BTreeMap<String, &'static str>,
    since: DateTime<Utc>,
) {
    let mut decisions: Vec<ReminderDecision> = all_decisions(app, store)
        .await
        .into_iter()
        .filter(|d| d.decided_at >= since)
        .collect();
    decisions.sort_by_key(|d| d.decided_at);
    for decision in decisions {
        let whose = carts.get(&decision.cart_id).copied().unwrap_or("another shopper");
        let outcome = match decision.outcome.as_str() {
            "allow" => "sent",
            "deny" => "not sent",
            _ => "deferred",
        };
        story.say(format!(
            "  {whose}'s cart, reminder {}: {outcome}. {}",
            decision.step, decision.explanation
        ));
    }
}

async fn all_decisions(app: &TestApp, store: &StoreHash) -> Vec<ReminderDecision> {
    app.db().recent_decisions(store, 1000).await.expect("decisions")
}

async fn summarise(
    app: &TestApp,
    store: &StoreHash,
    job: &shared::model::SyncJob,
    customers_in_store: usize,
) -> DemoSummary {
    let contacts = app.db().store_contacts(store).await.expect("contacts");
    let consent = consent_counts(app.db(), store, contacts.iter().map(|c| c.phone.clone()))
        .await
        .expect("ledgers");
    let sends = app.db().recent_sends(store, 1000).await.expect("sends");
    let recovery = RecoverySummary::of(&sends);
    let decisions = all_decisions(app, store).await;
    let count = |outcome: &str| decisions.iter().filter(|d| d.outcome == outcome).count();
    DemoSummary {
        customers_in_store,
        contacts_imported: job.contacts_imported,
        skipped_no_phone: job.skipped_no_phone,
        skipped_invalid_phone: job.skipped_invalid_phone,
        contacts: contacts.len() as u64,
        consent,
        reminders_sent: recovery.sent,
        reminders_denied: count("deny"),
        reminders_deferred: count("defer"),
        other_texts: app.sms.messages().len() - recovery.sent,
        orders_recovered: recovery.orders_recovered,
        recovered_revenue: recovery.revenue,
    }
}

fn masked(e164: &str) -> String {
    Phone::from_e164(e164)
        .map(|p| p.masked())
        .unwrap_or_else(|_| "an invalid number".into())
}

fn query_param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}
