//! "Send me a test": the merchant's own number gets the store's first reminder as a shopper would, marked
//! `[Test]`. It is still a text to a person, so a number first gets a confirmation request and receives the
//! reminder only after replying YES. Test texts are counted nowhere (no send record, no past send, no
//! recovery link, no `message.sent`) and are limited per store per hour.

use crate::config::AppUrl;
use crate::consent::Recipient;
use crate::db::DbError;
use crate::model::{LineItem, Settings};
use crate::ports::Texter;
use crate::ports::replies::TestTextStore;
use crate::recovery::{ContentRejected, ReminderContent, render_reminder};
use crate::sms::{OutboundSms, SentSms, SmsError};
use crate::{Phone, StoreHash};
use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Test texts (confirmation requests included) a store may send per hour.
pub const TEST_TEXTS_PER_HOUR: u64 = 5;

/// What starts every test reminder.
pub const TEST_MARK: &str = "[Test]";

/// The `kind` metadata a test text carries (echoed by MessageMedia with the reply).
pub const CONFIRMATION_KIND: &str = "test_confirmation";
pub const REMINDER_KIND: &str = "test_reminder";

/// A merchant's number for test texts at one store: asked, then confirmed by a YES.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestNumber {
    pub store_hash: StoreHash,
    pub phone: Phone,
    /// The merchant user who asked (their email), for the record.
    pub requested_by: String,
    pub requested_at: DateTime<Utc>,
    pub confirmed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, thiserror::Error)]
pub enum TestTextError {
    #[error("{0}")]
    SenderNotApproved(&'static str),
    #[error(transparent)]
    Content(#[from] ContentRejected),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Sms(#[from] SmsError),
}

/// The confirmation request a number gets before any test reminder.
pub fn confirmation_request(brand: &str) -> String {
    format!("{brand}: reply YES to receive test messages from this app. Reply STOP to opt out.")
}

/// The store's first reminder for a sample cart, as a shopper would receive it, marked as a test. The link
/// leads to the store's app URL, not to a cart: no recovery link is created for a test.
pub fn test_reminder(settings: &Settings, phone: &Phone, app_url: &AppUrl) -> Result<String, ContentRejected> {
    let items = [LineItem {
        product_id: 0,
        variant_id: None,
        name: "Sample product".into(),
        quantity: 1,
        price: Decimal::new(2500, 2),
        image_url: None,
    }];
    let link = app_url.join("/r/test");
    let sender_contact = settings.sender_contact(Recipient::resolve(phone, &[]).market);
    let content = ReminderContent {
        brand: &settings.brand_name,
        first_name: None,
        items: &items,
        link: &link,
        discount_code: settings.reminders.discount_code.as_deref(),
        opt_out_link: None,
        sender_contact: sender_contact.as_deref(),
    };
    let rendered = render_reminder(&settings.reminders.template, &content)?;
    Ok(format!("{TEST_MARK} {}", rendered.body))
}

/// Counts one test text against the store's hourly limit; `false` when it is over (nothing may be sent).
pub async fn within_limit(db: &impl TestTextStore, store: &StoreHash, now: DateTime<Utc>) -> Result<bool, DbError> {
    let count = db
        .count_request(&format!("test-text:{store}"), Duration::hours(1), now)
        .await?;
    Ok(count <= TEST_TEXTS_PER_HOUR)
}

/// One test text, through the same sender choice as reminders (the store's approved sender) and the
/// configured provider. Nothing is recorded: the caller keeps what it needs.
#[allow(clippy::too_many_arguments)]
pub async fn send(
    db: &impl TestTextStore,
    sms: &impl Texter,
    store: &StoreHash,
    settings: &Settings,
    phone: &Phone,
    body: String,
    kind: &str,
    callback_url: String,
    idempotency_key: String,
    now: DateTime<Utc>,
) -> Result<SentSms, TestTextError> {
    let sender = db.sender_status(store, settings.sender_id.as_deref()).await?;
    if !sender.may_send() {
        return Err(TestTextError::SenderNotApproved(sender.explanation()));
    }
    let message = OutboundSms {
        to: phone.clone(),
        from: settings.sender_id.clone().filter(|s| !s.trim().is_empty()),
        body,
        metadata: BTreeMap::from([
            ("store_hash".to_owned(), store.to_string()),
            ("kind".to_owned(), kind.to_owned()),
        ]),
        expires_at: Some(now + Duration::hours(1)),
        callback_url: Some(callback_url),
        idempotency_key,
    };
    Ok(sms.send(&message).await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::MerchantUser;

    #[test]
    fn the_test_reminder_is_the_stores_template_for_a_sample_cart_marked_as_a_test() {
        let user = MerchantUser {
            id: 1,
            email: "o@example.com".into(),
        };
        let settings = Settings::defaults(user, "Acme", Utc::now());
        let phone = Phone::parse("+12122010001", None).unwrap();
        let app_url = AppUrl::new("https://app.example.com");
        let body = test_reminder(&settings, &phone, &app_url).unwrap();
        assert!(body.starts_with("[Test] "), "{body}");
        assert!(body.contains("Acme"), "{body}");
        assert!(body.contains("https://app.example.com/r/test"), "{body}");
        assert!(confirmation_request("Acme").contains("reply YES"));
        assert!(confirmation_request("Acme").contains("Reply STOP"));
    }
}
