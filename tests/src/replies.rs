//! Helpers for the reply, opt-out and write-back tests: contacts with consent, carts with a reminder due, the
//! callback URLs, and the consent engine's view of a reminder (what the send function will ask).

use crate::{SeededStore, TestApp};
use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use shared::consent::content::double_opt_in_request;
use shared::consent::{
    ConsentEvent, ConsentEventKind, Decision, DecisionInput, MessageKind, OptInKeyword, Purpose, decide,
};
use shared::model::{Cart, CartStatus, Contact, ContactSource, LineItem, contact::BIGCOMMERCE_LABEL};
use shared::{Clock, Phone, StoreHash};

/// The number the seeded stores text from (their `sender_id`).
pub const SENDER: &str = "+12125550100";

/// A New York mobile number, distinct per `n`.
pub fn us_phone(n: u32) -> Phone {
    Phone::parse(&format!("212201{n:04}"), Some("US")).expect("valid New York number")
}

/// A UK mobile number, distinct per `n`.
pub fn uk_phone(n: u32) -> Phone {
    Phone::parse(&format!("+4479111{n:05}"), None).expect("valid UK mobile")
}

impl TestApp {
    /// The MessageMedia callback URL (with the secret token), also set as the sandbox's account webhook so
    /// replies to numbers we never texted arrive too.
    pub fn messagemedia_callback(&self) -> String {
        let url = self.url(&format!("/webhooks/messagemedia/{}", self.sms_webhook_token.expose()));
        self.sms.set_webhook(&url, &[]);
        url
    }

    /// The URL configured on the store's Twilio number for inbound messages.
    pub fn twilio_callback(&self) -> String {
        self.url(&format!("/webhooks/twilio/{}", self.sms_webhook_token.expose()))
    }

    /// A contact for `phone` at the store (a registered customer when `customer_id` is set).
    pub async fn put_contact(&self, store: &StoreHash, phone: &Phone, customer_id: Option<u64>) -> Contact {
        let now = self.clock.now();
        let contact = Contact {
            first_name: Some("Jane".into()),
            last_name: Some("Doe".into()),
            email: Some("jane.doe@example.com".into()),
            customer_id,
            labels: vec![BIGCOMMERCE_LABEL.to_owned()],
            ..crate::builders::contact(store, phone, ContactSource::LiveSync, now)
        };
        self.db().put_contact(&contact).await.expect("contact saved");
        contact
    }

    /// Consent that authorises cart reminders everywhere, US included: START texted yesterday, then the
    /// double opt-in request (naming the brand and cart reminders) answered YES.
    pub async fn subscribe(&self, store: &SeededStore, phone: &Phone) {
        let now = self.clock.now();
        let day_ago = now - Duration::days(1);
        let event = |minutes: i64, key: &str, kind: ConsentEventKind| {
            let at = day_ago + Duration::minutes(minutes);
            ConsentEvent::new(
                store.store_hash.clone(),
                phone.clone(),
                Purpose::Marketing,
                at,
                at,
                format!("seed:{key}"),
                kind,
            )
        };
        let events = [
            event(
                0,
                "start",
                ConsentEventKind::KeywordOptIn {
                    keyword: OptInKeyword::Start,
                    raw_text: "START".into(),
                    message_id: None,
                },
            ),
            event(
                1,
                "doi",
                ConsentEventKind::DoubleOptInRequested {
                    message_id: None,
                    text: double_opt_in_request(&store.settings),
                },
            ),
            event(
                2,
                "yes",
                ConsentEventKind::DoubleOptInConfirmed {
                    raw_text: "YES".into(),
                    message_id: None,
                },
            ),
        ];
        self.db().append_consents(&events).await.expect("consent recorded");
    }

    /// An abandoned cart with this phone whose first reminder falls due `due_in` from now.
    pub async fn cart_due(&self, store: &StoreHash, phone: &Phone, cart_id: &str, due_in: Duration) -> Cart {
        let now = self.clock.now();
        let delay = Duration::minutes(30);
        let cart = Cart {
            store_hash: store.clone(),
            cart_id: cart_id.to_owned(),
            customer_id: 0,
            channel_id: 1,
            email: Some("jane.doe@example.com".into()),
            first_name: Some("Jane".into()),
            phone: Some(phone.clone()),
            country_code: None,
            state_code: None,
            line_items: vec![LineItem {
                product_id: 1,
                variant_id: None,
                name: "Canvas tote".into(),
                quantity: 1,
                price: Decimal::new(2500, 2),
                image_url: None,
            }],
            amount: Decimal::new(2500, 2),
            currency: "USD".into(),
            status: CartStatus::Abandoned,
            last_activity_at: now + due_in - delay,
            reminders_sent: 0,
            next_due_at: Some(now + due_in),
            converted_order_id: None,
            updated_at: now,
        };
        crate::recovery::save(self, &cart).await;
        cart
    }

    /// What the consent engine answers, at `at`, for the cart's first reminder (the send function's
    /// question), from the same one-query snapshot the send function reads.
    pub async fn reminder_decision(&self, store: &SeededStore, cart: &Cart, at: DateTime<Utc>) -> Decision {
        let phone = cart.phone.as_ref().expect("cart has a phone");
        let snapshot = self
            .db()
            .phone_snapshot(&store.store_hash, phone)
            .await
            .expect("snapshot");
        let recipient = shared::replies::recipient(phone, snapshot.contact.as_ref());
        decide(&DecisionInput {
            settings: &store.settings,
            ledger: &snapshot.ledger,
            message: &MessageKind::CartReminder {
                cart_id: cart.cart_id.clone(),
                step: 1,
                abandoned_at: cart.last_activity_at,
            },
            sends: &snapshot.sends,
            recipient: &recipient,
            now: at,
        })
    }

    /// The texts the sandbox accepted for `phone`, oldest first.
    pub fn texts_to(&self, phone: &Phone) -> Vec<String> {
        self.sms
            .messages_to(phone.as_e164())
            .into_iter()
            .map(|m| m.content)
            .collect()
    }
}

/// Domain events published on the app's bus, caught by a rule that forwards them to a queue (the way a
/// subscriber would consume them).
pub struct DomainEvents {
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
}

impl TestApp {
    /// Starts catching the app's domain events (those published from now on).
    pub async fn catch_domain_events(&self) -> DomainEvents {
        let sqs = aws_sdk_sqs::Client::new(&self.aws.sdk);
        let events = aws_sdk_eventbridge::Client::new(&self.aws.sdk);
        let name = format!("{}-domain-events", crate::unique_prefix());
        let queue_url = sqs
            .create_queue()
            .queue_name(&name)
            .send()
            .await
            .expect("queue created")
            .queue_url
            .expect("queue url");
        let arn = sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("queue attributes")
            .attributes
            .and_then(|mut a| a.remove(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
            .expect("queue arn");
        let bus = &self.aws.aws_resources.event_bus_name;
        events
            .put_rule()
            .name(&name)
            .event_bus_name(bus)
            .event_pattern(serde_json::json!({ "source": [shared::messages::EVENT_SOURCE] }).to_string())
            .send()
            .await
            .expect("rule created");
        events
            .put_targets()
            .rule(&name)
            .event_bus_name(bus)
            .targets(
                aws_sdk_eventbridge::types::Target::builder()
                    .id("capture")
                    .arn(arn)
                    .build()
                    .expect("target"),
            )
            .send()
            .await
            .expect("target added");
        DomainEvents { sqs, queue_url }
    }
}

impl DomainEvents {
    /// The events caught so far (EventBridge envelopes: `detail-type`, `source`, `detail`), consumed.
    pub async fn take(&self) -> Vec<serde_json::Value> {
        crate::recovery::take_messages(&self.sqs, &self.queue_url)
            .await
            .into_iter()
            .map(|(event, _)| event)
            .collect()
    }
}
