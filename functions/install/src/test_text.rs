//! `POST /settings/test-text`: "Send me a test" ([`shared::test_text`]). The merchant's number first gets a
//! confirmation request; once it has replied YES (handled by the `webhooks` function), each request sends the
//! store's first reminder for a sample cart, marked `[Test]`. Authenticated like every form on the page
//! (session and CSRF token); at most [`TEST_TEXTS_PER_HOUR`] texts per store per hour.

use crate::page::Notice;
use crate::session::Session;
use crate::{Deps, InstallError};
use http::StatusCode;
use shared::Phone;
use shared::consent::{ConsentState, ConsentStatus, Purpose};
use shared::db::new_token;
use shared::model::{Settings, Store};
use shared::pages::{Markup, html};
use shared::test_text::{
    CONFIRMATION_KIND, REMINDER_KIND, TEST_TEXTS_PER_HOUR, TestNumber, TestTextError, confirmation_request, send,
    test_reminder, within_limit,
};

pub const ACTION: &str = "test-text";

/// The field with the merchant's number.
const PHONE_FIELD: &str = "test_phone";

/// What the test text form posts: the number, in `PHONE_FIELD`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct TestTextFields {
    test_phone: String,
}

/// The form, shown once settings are in force (the reminder comes from them).
pub fn section(hidden_auth: Markup) -> Markup {
    html! {
        section id="test-text" {
            h2 { "Send me a test" }
            p {
                "Enter your own mobile number to receive the first reminder as a shopper would, for a sample cart, \
                 marked " (shared::test_text::TEST_MARK) ". The first time, the number gets a text asking you to \
                 reply YES; the reminder follows your YES. Test texts are counted nowhere (not in reports, sends \
                 or recent reminders). At most " (TEST_TEXTS_PER_HOUR) " test texts (confirmation requests \
                 included) per hour."
            }
            form method="post" action={ "/settings/" (ACTION) } {
                (hidden_auth)
                label for=(PHONE_FIELD) { "Your mobile number" }
                input type="tel" id=(PHONE_FIELD) name=(PHONE_FIELD) autocomplete="tel";
                div class="actions" {
                    button type="submit" id="send-test" { "Send me a test" }
                }
            }
        }
    }
}

/// Sends the confirmation request or, to a confirmed number, the test reminder. Returns what to tell the
/// merchant and the page's status; nothing is stored or sent for a number that cannot be read, that replied
/// STOP, or over the hourly limit.
pub async fn request(
    deps: &Deps,
    store: &Store,
    settings: &Settings,
    session: &Session,
    form: &TestTextFields,
) -> Result<(Notice, StatusCode), InstallError> {
    let db = &deps.aws.db;
    let hash = &store.store_hash;
    let now = deps.clock.now();
    let refuse = |code: StatusCode, text: String| Ok((Notice::error(text), code));
    let typed = form.test_phone.as_str();
    let country = db.store_directory(hash).await?.and_then(|d| d.country_code);
    let phone = match Phone::parse(typed, country.as_deref()) {
        Ok(phone) => phone,
        Err(error) => {
            return refuse(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!(
                    "No test was sent: {error}. Enter a mobile number, with its country code if it is not in the \
                     store's country."
                ),
            );
        }
    };
    let (ledger, number) = futures::try_join!(db.ledger(hash, &phone), db.test_number(hash, &phone))?;
    if ConsentState::fold(&ledger, Purpose::Marketing).status() == ConsentStatus::Unsubscribed {
        return refuse(
            StatusCode::CONFLICT,
            "No test was sent: this number replied STOP to the store's texts. Text START to the store's number to \
             receive texts again."
                .into(),
        );
    }
    let confirmed = number.as_ref().is_some_and(|n| n.confirmed_at.is_some());
    let (body, kind) = if confirmed {
        match test_reminder(settings, &phone, &deps.app_url) {
            Ok(body) => (body, REMINDER_KIND),
            Err(rejected) => {
                return refuse(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    format!("No test was sent: {rejected}. Reminders are not sent either until the template is fixed."),
                );
            }
        }
    } else {
        (confirmation_request(&settings.brand_name), CONFIRMATION_KIND)
    };
    if !within_limit(db, hash, now).await? {
        return refuse(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "No test was sent: this store has sent {TEST_TEXTS_PER_HOUR} test texts in the last hour, the most \
                 allowed. Try again later."
            ),
        );
    }
    if !confirmed {
        // Recorded before the text goes out, so the YES that answers it always finds it.
        db.put_test_number(&TestNumber {
            store_hash: hash.clone(),
            phone: phone.clone(),
            requested_by: session.email.clone(),
            requested_at: now,
            confirmed_at: None,
        })
        .await?;
    }
    let callback = deps.sms.callback_url(&deps.app_url, &deps.sms_webhook_token);
    let key = format!("{hash}:test:{}", new_token());
    match send(db, &deps.sms, hash, settings, &phone, body, kind, callback, key, now).await {
        Ok(_) => {
            tracing::info!(phone = %phone, kind, "test text sent");
            let text = if confirmed {
                format!("The test reminder is on its way to {}.", phone.as_e164())
            } else {
                format!(
                    "We texted {} asking to reply YES. The test reminder follows your YES.",
                    phone.as_e164()
                )
            };
            Ok((Notice::success(text), StatusCode::OK))
        }
        Err(TestTextError::Db(error)) => Err(error.into()),
        Err(TestTextError::SenderNotApproved(why)) => refuse(StatusCode::CONFLICT, format!("No test was sent: {why}")),
        Err(TestTextError::Content(rejected)) => refuse(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("No test was sent: {rejected}."),
        ),
        Err(TestTextError::Sms(error)) => {
            tracing::warn!(%error, "test text refused by the SMS provider");
            refuse(
                StatusCode::BAD_GATEWAY,
                format!("The SMS provider did not take the test text ({error}). Try again in a minute."),
            )
        }
    }
}
