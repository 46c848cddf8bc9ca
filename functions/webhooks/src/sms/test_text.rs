//! A YES to a "Send me a test" confirmation request ([`shared::test_text`]): the number is confirmed for the
//! store and gets the store's first reminder for a sample cart, marked `[Test]`. It is not a consent to
//! marketing: nothing goes into the ledger, and the normal reply flow does not see it. STOP is not handled
//! here: it goes through the normal flow like any opt-out.

use super::{ReplyPorts, SmsWebhookError, callback_url};
use chrono::{DateTime, Utc};
use shared::StoreHash;
use shared::consent::{ConsentState, ConsentStatus, Purpose};
use shared::ports::replies::{ReplyStore, TestTextStore};
use shared::sms::InboundReply;
use shared::test_text::{CONFIRMATION_KIND, REMINDER_KIND, TestTextError, send, test_reminder, within_limit};
use tracing::Instrument;

/// Handles a YES from a number that was asked to confirm test texts, or that answers a test text. `false`:
/// the YES is not about a test text (the normal reply flow takes it).
pub async fn confirm(
    ports: &impl ReplyPorts,
    reply: &InboundReply,
    now: DateTime<Utc>,
) -> Result<bool, SmsWebhookError> {
    let db = ports.store();
    let named = reply.metadata.get("store_hash").and_then(|h| StoreHash::parse(h).ok());
    let candidates = match (named, reply.to.as_deref()) {
        (Some(hash), _) => vec![hash],
        (None, Some(sender)) => db.stores_using_sender(sender).await?,
        (None, None) => Vec::new(),
    };
    // A YES to one of our test texts (MessageMedia echoes its metadata) is never a consent, even when the
    // number is confirmed already (a second YES).
    let mut handled = reply
        .metadata
        .get("kind")
        .is_some_and(|kind| kind == CONFIRMATION_KIND || kind == REMINDER_KIND);
    for hash in candidates {
        let Some(number) = db.test_number(&hash, &reply.from).await? else {
            continue;
        };
        if number.confirmed_at.is_some() {
            continue;
        }
        handled = true;
        // Once: a redelivered YES finds it confirmed.
        if !db.confirm_test_number(&hash, &reply.from, now).await? {
            continue;
        }
        let span = shared::logging::store_span(&hash);
        async {
            tracing::info!(phone = %reply.from, "test number confirmed");
            send_reminder(ports, reply, &hash, now).await
        }
        .instrument(span)
        .await?;
    }
    Ok(handled)
}

async fn send_reminder(
    ports: &impl ReplyPorts,
    reply: &InboundReply,
    hash: &StoreHash,
    now: DateTime<Utc>,
) -> Result<(), SmsWebhookError> {
    let db = ports.store();
    let phone = &reply.from;
    let Some((store, Some(settings))) = db.store_with_settings(hash).await? else {
        return Ok(());
    };
    if !store.is_installed() {
        return Ok(());
    }
    let ledger = db.ledger(hash, phone).await?;
    if ConsentState::fold(&ledger, Purpose::Marketing).status() == ConsentStatus::Unsubscribed {
        tracing::info!("the number opted out; no test reminder");
        return Ok(());
    }
    let body = match test_reminder(&settings, phone, ports.app_url()) {
        Ok(body) => body,
        Err(rejected) => {
            tracing::warn!(%rejected, "no test reminder: the template fails the content rules");
            return Ok(());
        }
    };
    if !within_limit(db, hash, now).await? {
        tracing::info!("no test reminder: the store's hourly test text limit is reached");
        return Ok(());
    }
    let key = format!("{hash}:test:{}:{}", reply.provider, reply.id);
    match send(
        db,
        ports.texter(),
        hash,
        &settings,
        phone,
        body,
        REMINDER_KIND,
        callback_url(ports),
        key,
        now,
    )
    .await
    {
        Ok(_) => {
            tracing::info!(phone = %phone, "test reminder sent");
            Ok(())
        }
        // Nothing went out: confirmed again by the provider's retry of the YES, which sends it then. (One that
        // may have gone out is not sent again.)
        Err(TestTextError::Sms(error)) if error.can_send_again() => {
            db.unconfirm_test_number(hash, phone).await?;
            Err(error.into())
        }
        Err(TestTextError::Db(error)) => {
            db.unconfirm_test_number(hash, phone).await?;
            Err(error.into())
        }
        Err(error) => {
            tracing::warn!(%error, "no test reminder");
            Ok(())
        }
    }
}
