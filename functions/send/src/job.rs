//! One send job: re-read the cart, find the number, ask the consent engine, claim the step, render the
//! reminder, send it, record what happened and why, publish `message.sent`, schedule the next step.
//!
//! Every write to the cart is a compare-and-set on its due time (the version the job read), so a conversion or
//! an update the sync function writes meanwhile is never overwritten.

use crate::{SendError, SendPorts, pace};
use chrono::{DateTime, Duration, Utc};
use shared::Phone;
use shared::bigcommerce::BigCommerceError;
use shared::carts::{billing_phone, proven_phone};
use shared::consent::{
    AddressHint, ConsentEvent, ConsentEventKind, Decision, DecisionInput, Market, MessageKind, OptOutMethod, PastSend,
    Purpose, Reason, Recipient, SentKind, decide,
};
use shared::db::{ClaimOutcome, PhoneSnapshot, SendClaim, new_token};
use shared::messages::{DomainEvent, MessageSent, SendJob};
use shared::model::contact::{BIGCOMMERCE_LABEL, GUEST_GROUP};
use shared::model::sender::SENDER_NOT_APPROVED;
use shared::model::{
    Cart, Contact, ContactSource, OptOutLink, RecoveryLink, ReminderClaim, ReminderDecision, SendRecord, SendStatus,
    Settings, Store,
};
use shared::ports::{ConsentRecorder, EventPublisher, ReminderStore, Shop, Texter};
use shared::recovery::{
    COUPON_SLOT, ContentRejected, OPT_OUT_LINK_DAYS, RECOVERY_LINK_DAYS, ReminderContent, SEND_ATTEMPT_TIMEOUT,
    SWEEP_LEASE, next_step_due, opt_out_link_path, recovery_link_path, reminder_coupon_code, render_reminder,
    sender_accepts_replies, step_timing, with_coupon,
};
use shared::recovery_stats::NotSent;
use shared::sms::{OutboundSms, SendFailure, SentSms, SmsError};
use std::collections::BTreeMap;
use std::time::Instant;

/// The marker of a step's counted decision (`db::recovery_stats`).
const COUNTED_DECISION: &str = "DECISION";

/// How long a reminder waits when the SMS provider could not take it twice running.
pub const PROVIDER_RETRY: Duration = Duration::minutes(5);

/// What a job did (logged, and returned to tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobOutcome {
    Sent {
        provider_message_id: String,
    },
    /// Not sent, with the code recorded on the decision (the engine's reason, or `no_phone`,
    /// `number_undeliverable`, `content_rejected`, ...).
    Denied {
        code: String,
    },
    /// Not yet: the cart is due again at `until`.
    Deferred {
        until: DateTime<Utc>,
    },
    /// The provider may or may not have sent it; it is never sent again.
    Unconfirmed,
    /// The provider refused it for good (`invalid_number`, `opted_out`, `message_rejected`).
    Refused {
        failure: &'static str,
    },
    /// Nothing to do: a stale or duplicate job, a cart or store that is gone.
    Dropped {
        reason: &'static str,
    },
}

fn dropped(reason: &'static str) -> Result<JobOutcome, SendError> {
    Ok(JobOutcome::Dropped { reason })
}

/// Denials that concern only this step: the sequence goes on with the next one.
fn ends_only_this_step(reason: Reason) -> bool {
    matches!(
        reason,
        Reason::CartReminderExpired
            | Reason::CartReminderLimit
            | Reason::QuietHoursPastExpiry
            | Reason::SmartSendingPastExpiry
            | Reason::StateDailyCapPastExpiry
    )
}

/// Processes one job. The provider is called only if the send slot comes before `latest_start`.
pub async fn process<P: SendPorts>(deps: &P, job: &SendJob, latest_start: Instant) -> Result<JobOutcome, SendError> {
    let db = deps.store();
    let now = deps.now();
    let Some(cart) = db.get_cart(&job.store_hash, &job.cart_id).await? else {
        return dropped("the cart is not tracked");
    };
    if cart.next_due_at.is_none() {
        return dropped("the cart has no reminder due");
    }
    let (store, settings) = match db.store_with_settings(&job.store_hash).await? {
        Some((store, Some(settings))) if store.is_installed() => (store, settings),
        found => {
            end_sequence(db, &cart, now).await?;
            return dropped(match found {
                Some((store, _)) if !store.is_installed() => "the store uninstalled the app",
                Some(_) => "the store has not connected yet",
                None => "the store is unknown",
            });
        }
    };
    let send = Send {
        deps,
        db,
        job,
        store: &store,
        settings: &settings,
        now,
        latest_start,
    };
    if cart.status.is_final() {
        end_sequence(db, &cart, now).await?;
        return dropped("the cart was converted, deleted or expired");
    }
    if job.step <= cart.reminders_sent {
        return dropped("the step was already handled");
    }
    if job.step != cart.reminders_sent + 1 {
        return dropped("the job is not for the cart's next step");
    }
    let claim = db.send_claim(&job.store_hash, &job.cart_id, job.step).await?;
    if let Some(claim) = &claim
        && let Some(outcome) = send.settle_earlier_claim(&cart, claim).await?
    {
        return Ok(outcome);
    }
    send.decide_and_send(cart, claim).await
}

/// One job's context.
struct Send<'a, P: SendPorts> {
    deps: &'a P,
    db: &'a P::Store,
    job: &'a SendJob,
    store: &'a Store,
    settings: &'a Settings,
    now: DateTime<Utc>,
    latest_start: Instant,
}

enum PhoneLookup {
    Found(Phone),
    CartGone,
    Missing { code: &'static str, explanation: String },
}

enum Claim {
    Won(Box<SendRecord>),
    Rejected(ContentRejected),
    Lost,
}

impl<P: SendPorts> Send<'_, P> {
    fn step(&self) -> u8 {
        self.job.step
    }

    fn market_of(&self, cart: &Cart, phone: &Phone) -> Market {
        recipient(cart, phone).market
    }

    /// A claim an earlier delivery (or an overlapping job) made. `None`: it is claimed but nothing was sent
    /// and no attempt is in flight, so this job may send it.
    async fn settle_earlier_claim(&self, cart: &Cart, claim: &SendClaim) -> Result<Option<JobOutcome>, SendError> {
        let record = &claim.record;
        let market = self.market_of(cart, &record.phone);
        match (record.status, claim.attempt_started_at) {
            (SendStatus::Sent | SendStatus::Delivered, _) => {
                // The run that sent it stopped before finishing: finish its work (the event is at least once,
                // keyed by the provider message id).
                self.publish_sent(record).await?;
                self.advance(cart, market).await?;
                Ok(Some(JobOutcome::Dropped {
                    reason: "the step was already sent",
                }))
            }
            (SendStatus::Failed | SendStatus::Unconfirmed, _) => {
                self.advance(cart, market).await?;
                Ok(Some(JobOutcome::Dropped {
                    reason: "the step already failed or its outcome is unknown",
                }))
            }
            (SendStatus::Claimed, Some(started)) if self.now - started < SEND_ATTEMPT_TIMEOUT => {
                Err(SendError::Busy("another delivery of this job is sending it"))
            }
            (SendStatus::Claimed, Some(started)) => {
                let mut record = record.clone();
                self.unconfirmed(
                    &mut record,
                    format!(
                        "the provider call started {} never reported back; not sent again so it cannot arrive twice",
                        started.format("%Y-%m-%d %H:%M:%S UTC")
                    ),
                )
                .await?;
                self.advance(cart, market).await?;
                Ok(Some(JobOutcome::Unconfirmed))
            }
            (SendStatus::Claimed, None) => Ok(None),
        }
    }

    async fn decide_and_send(&self, mut cart: Cart, claim: Option<SendClaim>) -> Result<JobOutcome, SendError> {
        let mut claimed = claim.map(|c| c.record);
        // Every store shares the provider account: a sender the operator has not approved for this store may
        // be another store's, so nothing goes out from it.
        let sender = self
            .db
            .sender_status(&self.store.store_hash, self.settings.sender_id.as_deref())
            .await?;
        if !sender.may_send() {
            return self
                .deny(
                    &cart,
                    claimed.as_mut(),
                    SENDER_NOT_APPROVED,
                    sender.explanation(),
                    false,
                )
                .await;
        }
        let phone = match self.proven_phone(&mut cart).await? {
            PhoneLookup::Found(phone) => phone,
            PhoneLookup::CartGone => {
                end_sequence(self.db, &cart, self.now).await?;
                return dropped("the cart no longer exists at BigCommerce");
            }
            PhoneLookup::Missing { code, explanation } => {
                return self.deny(&cart, claimed.as_mut(), code, &explanation, false).await;
            }
        };
        let recipient = recipient(&cart, &phone);
        let snapshot = self.db.phone_snapshot(&self.store.store_hash, &phone).await?;

        if let Some(why) = snapshot.contact.as_ref().and_then(|c| c.undeliverable.as_deref()) {
            let explanation = format!("The number was reported undeliverable ({why}), so it is not texted again.");
            return self
                .deny(&cart, claimed.as_mut(), "number_undeliverable", &explanation, false)
                .await;
        }
        // This step's own claim (an earlier delivery that sent nothing) is not a message sent to the number.
        let sends: Vec<PastSend> = snapshot
            .sends
            .iter()
            .filter(|sent| {
                claimed.is_none()
                    || !matches!(&sent.kind, SentKind::CartReminder { cart_id, step }
                        if *cart_id == cart.cart_id && *step == self.step())
            })
            .cloned()
            .collect();
        let message = MessageKind::CartReminder {
            cart_id: cart.cart_id.clone(),
            step: self.step(),
            abandoned_at: cart.last_activity_at,
        };
        let decision = decide(&DecisionInput {
            settings: self.settings,
            ledger: &snapshot.ledger,
            message: &message,
            sends: &sends,
            recipient: &recipient,
            now: self.now,
        });
        match decision {
            Decision::Deny { reason, explanation } => {
                let skip = ends_only_this_step(reason);
                self.deny(&cart, claimed.as_mut(), reason.code(), &explanation, skip)
                    .await
            }
            Decision::Defer {
                until,
                reason,
                explanation,
            } => {
                self.record_decision("defer", reason.code(), &explanation, Some(until))
                    .await?;
                let mut deferred = cart.clone();
                deferred.next_due_at = Some(until);
                save_cart(self.db, &cart, &deferred, self.now).await?;
                Ok(JobOutcome::Deferred { until })
            }
            Decision::Allow {
                ledger_event_id,
                settings_version,
                explanation,
                ..
            } => {
                let record = match claimed {
                    Some(record) => record,
                    None => {
                        let ledger_event_id = ledger_event_id.unwrap_or_default();
                        match self
                            .claim(&cart, &phone, &snapshot, ledger_event_id, settings_version)
                            .await?
                        {
                            Claim::Won(record) => *record,
                            Claim::Rejected(rejected) => {
                                let explanation = format!(
                                    "The consent engine allowed it, but {rejected}; the merchant must change the reminder template."
                                );
                                return self.deny(&cart, None, "content_rejected", &explanation, false).await;
                            }
                            Claim::Lost => return dropped("another delivery of this job claimed the step"),
                        }
                    }
                };
                self.record_decision("allow", "allowed", &explanation, None).await?;
                if self.step() == 1 {
                    self.db
                        .count_once(
                            &self.store.store_hash,
                            &cart.cart_id,
                            COUNTED_DECISION,
                            1,
                            self.now,
                            &[("abandoned", 1), ("eligible", 1)],
                        )
                        .await?;
                }
                self.send(&cart, recipient.market, record).await
            }
        }
    }

    /// The number the cart proves is its shopper's, re-read at send time: the checkout's billing phone, else a
    /// signed-in customer's own number ([`shared::carts::proven_phone`]). The number on the cart record is not
    /// trusted on its own: one that only a tick in the consent box put there is never texted.
    async fn proven_phone(&self, cart: &mut Cart) -> Result<PhoneLookup, SendError> {
        let checkout = match self.deps.shop().checkout(self.store, &cart.cart_id).await {
            Ok(checkout) => checkout,
            Err(error) if error.is_not_found() => return Ok(PhoneLookup::CartGone),
            Err(error) if error.is_retryable() => return Err(error.into()),
            Err(error) => {
                return Ok(PhoneLookup::Missing {
                    code: "phone_unavailable",
                    explanation: format!("The checkout could not be read from BigCommerce ({error})."),
                });
            }
        };
        let billed = billing_phone(&checkout);
        let customer_phone = match (&billed, checkout.cart.customer_id) {
            (Some(Ok(_)), _) | (_, 0) => None,
            (_, customer_id) => self
                .db
                .contact_by_customer(&self.store.store_hash, customer_id)
                .await?
                .filter(|contact| contact.erased_at.is_none())
                .map(|contact| contact.phone),
        };
        let Some(phone) = proven_phone(&checkout, customer_phone.as_ref()) else {
            let (code, explanation) = match (billed, &cart.phone) {
                (Some(Err(error)), _) => (
                    "invalid_phone",
                    format!("The checkout's phone number cannot be texted: {error}."),
                ),
                (_, Some(_)) => (
                    "phone_not_proven",
                    "The number on this cart is neither the checkout's billing phone nor a signed-in customer's \
                     own number (it was only ticked in the consent box, perhaps by someone else), so it is not texted."
                        .to_owned(),
                ),
                (_, None) => (
                    "no_phone",
                    "The checkout has no billing phone and no signed-in customer's number, so there is no one to \
                     remind (a number only ticked in the consent box is never texted)."
                        .to_owned(),
                ),
            };
            return Ok(PhoneLookup::Missing { code, explanation });
        };
        let billing = checkout.billing_address.unwrap_or_default();
        cart.phone = Some(phone.clone());
        if cart.country_code.is_none() && !billing.country_code.is_empty() {
            cart.country_code = Some(billing.country_code.clone());
        }
        if cart.state_code.is_none() && !billing.state_or_province_code.is_empty() {
            cart.state_code = Some(billing.state_or_province_code.clone());
        }
        if cart.first_name.is_none() && !billing.first_name.trim().is_empty() {
            cart.first_name = Some(billing.first_name.trim().to_owned());
        }
        Ok(PhoneLookup::Found(phone))
    }

    /// Renders the reminder and claims the step. The link tokens are stored only once the text passed review.
    async fn claim(
        &self,
        cart: &Cart,
        phone: &Phone,
        snapshot: &PhoneSnapshot,
        ledger_event_id: String,
        settings_version: u32,
    ) -> Result<Claim, SendError> {
        let link_token = new_token();
        let link = self.deps.app_url().join(&recovery_link_path(&link_token));
        let opt_out_token = (!sender_accepts_replies(self.settings.sender_id.as_deref())).then(new_token);
        let opt_out_link = opt_out_token
            .as_deref()
            .map(|token| self.deps.app_url().join(&opt_out_link_path(token)));
        let first_name = cart
            .first_name
            .as_deref()
            .or_else(|| snapshot.contact.as_ref().and_then(|c| c.first_name.as_deref()));
        let sender_contact = self.settings.sender_contact(self.market_of(cart, phone));
        let content = ReminderContent {
            brand: &self.settings.brand_name,
            first_name,
            items: &cart.line_items,
            link: &link,
            discount_code: self.settings.reminders.discount_code.as_deref(),
            opt_out_link: opt_out_link.as_deref(),
            sender_contact: sender_contact.as_deref(),
        };
        let rendered = match render_reminder(&self.settings.reminders.template, &content) {
            Ok(rendered) => rendered,
            Err(rejected) => return Ok(Claim::Rejected(rejected)),
        };
        // With unique coupons, the text keeps a slot for the code, filled just before the provider call; the
        // text without it (`body`) goes out if no code can be made.
        let coupon_body = self.settings.reminders.coupon_promotion_id.and_then(|_| {
            let with_slot = ReminderContent {
                discount_code: Some(COUPON_SLOT),
                ..content
            };
            render_reminder(&self.settings.reminders.template, &with_slot)
                .ok()
                .map(|rendered| rendered.body)
        });

        let store_hash = &self.store.store_hash;
        let recovery = RecoveryLink {
            store_hash: store_hash.clone(),
            cart_id: cart.cart_id.clone(),
            step: self.step(),
        };
        self.db
            .put_token(
                RecoveryLink::TOKEN_KIND,
                &link_token,
                &recovery,
                self.now + Duration::days(RECOVERY_LINK_DAYS),
            )
            .await?;
        if let Some(token) = &opt_out_token {
            let opt_out = OptOutLink {
                store_hash: store_hash.clone(),
                phone: phone.clone(),
            };
            self.db
                .put_token(
                    OptOutLink::TOKEN_KIND,
                    token,
                    &opt_out,
                    self.now + Duration::days(OPT_OUT_LINK_DAYS),
                )
                .await?;
        }
        let record = SendRecord::claimed(ReminderClaim {
            store_hash: store_hash.clone(),
            cart_id: cart.cart_id.clone(),
            step: self.step(),
            phone: phone.clone(),
            claimed_at: self.now,
            ledger_event_id,
            settings_version,
            body: rendered.body,
            segments: rendered.segments,
            link_token,
            coupon_body,
        });
        Ok(match self.db.claim_send(&record).await? {
            ClaimOutcome::Claimed => Claim::Won(Box::new(record)),
            ClaimOutcome::AlreadyClaimed => Claim::Lost,
        })
    }

    /// Sends a claimed reminder inside an attempt, at the store's rate.
    async fn send(&self, cart: &Cart, market: Market, record: SendRecord) -> Result<JobOutcome, SendError> {
        let store_hash = &self.store.store_hash;
        shared::failpoint!(
            "send.after_claim",
            store_hash.as_str(),
            Err(SendError::Busy("failpoint"))
        );
        let mut record = self.with_coupon(record).await?;
        pace::wait_for_slot(
            self.db,
            store_hash,
            self.settings.messages_per_second,
            self.latest_start,
        )
        .await?;
        // The slot may have come late: a provider call must end before the invocation does.
        if Instant::now() >= self.latest_start {
            return Err(pace::NO_TIME_LEFT);
        }
        let started = self.now;
        if !self
            .db
            .begin_send_attempt(store_hash, &cart.cart_id, self.step(), started)
            .await?
        {
            return Err(SendError::Busy("another delivery of this job is sending it"));
        }
        let message = OutboundSms {
            to: record.phone.clone(),
            from: self.settings.sender_id.clone().filter(|s| !s.trim().is_empty()),
            body: record.body.clone(),
            metadata: BTreeMap::from([
                ("store_hash".to_owned(), store_hash.to_string()),
                ("cart_id".to_owned(), cart.cart_id.clone()),
                ("step".to_owned(), self.step().to_string()),
            ]),
            expires_at: step_timing(self.settings, market, cart.last_activity_at, self.step()).map(|t| t.expires),
            callback_url: Some(
                self.deps
                    .texter()
                    .callback_url(self.deps.app_url(), self.deps.sms_webhook_token()),
            ),
            idempotency_key: format!("{store_hash}:{}:{}", cart.cart_id, self.step()),
        };
        match self.deps.texter().send(&message).await {
            Ok(sent) => {
                shared::failpoint!(
                    "send.after_provider",
                    store_hash.as_str(),
                    Err(SendError::Busy("failpoint"))
                );
                self.sent(cart, market, record, &sent).await
            }
            Err(error) => self.provider_failed(cart, market, &mut record, started, error).await,
        }
    }

    /// A claimed reminder meant to carry a unique coupon code, with its code: created at BigCommerce (once: the
    /// code is derived from the reminder, so a retry finds it made, 409) and recorded with the text carrying it.
    /// A code that cannot be made leaves the reminder without one, the reason recorded; it never stops it.
    async fn with_coupon(&self, record: SendRecord) -> Result<SendRecord, SendError> {
        let (Some(promotion_id), Some(coupon_body)) = (
            self.settings.reminders.coupon_promotion_id,
            record.coupon_body.as_deref(),
        ) else {
            return Ok(record);
        };
        if record.coupon_code.is_some() || record.coupon_error.is_some() {
            return Ok(record);
        }
        let code = reminder_coupon_code(&record.store_hash, &record.cart_id, record.step);
        let created = self
            .deps
            .shop()
            .create_coupon_code(self.store, promotion_id, &code)
            .await;
        shared::failpoint!(
            "send.after_coupon",
            record.store_hash.as_str(),
            Err(SendError::Busy("failpoint"))
        );
        let outcome = match created {
            Ok(created) => Ok(created.code),
            // Made by an earlier attempt whose answer or record was lost.
            Err(BigCommerceError::Invalid { status: 409, .. }) => Ok(code),
            Err(error) if error.is_not_found() => Err(format!(
                "BigCommerce promotion {promotion_id} no longer exists (ended or deleted)"
            )),
            Err(error) => Err(format!("BigCommerce did not create the coupon code ({error})")),
        };
        let mut updated = record.clone();
        let recorded = match outcome {
            Ok(code) => {
                let (body, segments) = with_coupon(coupon_body, &code);
                let recorded = self.db.record_coupon(&record, Ok((&code, &body, segments))).await?;
                updated.coupon_code = Some(code);
                updated.body = body;
                updated.segments = segments;
                recorded
            }
            Err(reason) => {
                tracing::warn!(step = record.step, reason = %reason, "the reminder goes without its coupon code");
                let recorded = self.db.record_coupon(&record, Err(&reason)).await?;
                updated.coupon_error = Some(reason);
                recorded
            }
        };
        if recorded {
            return Ok(updated);
        }
        // An overlapping delivery recorded its outcome first: send what it recorded.
        Ok(self
            .db
            .get_send(&record.store_hash, &record.cart_id, record.step)
            .await?
            .unwrap_or(record))
    }

    async fn sent(
        &self,
        cart: &Cart,
        market: Market,
        mut record: SendRecord,
        sent: &SentSms,
    ) -> Result<JobOutcome, SendError> {
        record.mark_sent(sent.provider, &sent.message_id, self.now);
        record.error = None;
        self.db
            .record_send_sent(
                &record.store_hash,
                &record.cart_id,
                record.step,
                sent.provider,
                &sent.message_id,
                self.now,
            )
            .await?;
        shared::failpoint!(
            "send.after_record",
            record.store_hash.as_str(),
            Err(SendError::Busy("failpoint"))
        );
        self.publish_sent(&record).await?;
        self.advance(cart, market).await?;
        Ok(JobOutcome::Sent {
            provider_message_id: sent.message_id.clone(),
        })
    }

    async fn provider_failed(
        &self,
        cart: &Cart,
        market: Market,
        record: &mut SendRecord,
        started: DateTime<Utc>,
        error: SmsError,
    ) -> Result<JobOutcome, SendError> {
        let store_hash = &self.store.store_hash;
        match error.failure() {
            // Nothing went out (the provider answered with an error, or was never reached): release the
            // attempt. The first time SQS brings the job back at once (a blip); when this claim failed so
            // before, the provider is down: the reminder is due again later, and the consent engine decides
            // again then (quiet hours, the reminder's expiry), so it goes out late only if still lawful.
            SendFailure::Retryable if error.sent_nothing() => {
                let failed_before = record.error.is_some();
                self.db
                    .release_send_attempt(store_hash, &cart.cart_id, self.step(), started, &error.to_string())
                    .await?;
                self.db
                    .record_provider_failure(store_hash, &cart.cart_id, self.step(), self.now)
                    .await?;
                if !failed_before {
                    return Err(SendError::ProviderUnavailable(error.to_string()));
                }
                let until = self.now + PROVIDER_RETRY;
                let explanation = format!(
                    "The SMS provider could not take the reminder ({error}); it is tried again at {}.",
                    until.format("%Y-%m-%d %H:%M UTC")
                );
                self.record_decision("defer", "provider_unavailable", &explanation, Some(until))
                    .await?;
                let mut later = cart.clone();
                later.next_due_at = Some(until);
                save_cart(self.db, cart, &later, self.now).await?;
                Ok(JobOutcome::Deferred { until })
            }
            SendFailure::Retryable | SendFailure::Unconfirmed => {
                self.unconfirmed(
                    record,
                    format!("outcome unknown ({error}); not sent again so it cannot arrive twice"),
                )
                .await?;
                self.advance(cart, market).await?;
                Ok(JobOutcome::Unconfirmed)
            }
            SendFailure::InvalidNumber => {
                self.fail(record, error.to_string()).await?;
                self.count_refusal(cart, "invalid_number").await?;
                self.mark_undeliverable(cart, record, &error).await?;
                end_sequence(self.db, cart, self.now).await?;
                Ok(JobOutcome::Refused {
                    failure: "invalid_number",
                })
            }
            SendFailure::OptedOut => {
                self.fail(record, error.to_string()).await?;
                self.count_refusal(cart, "opted_out").await?;
                self.record_carrier_opt_out(record, &error).await?;
                end_sequence(self.db, cart, self.now).await?;
                Ok(JobOutcome::Refused { failure: "opted_out" })
            }
            // Nothing will go out until the merchant or we fix the account: keep the claim, try again after a
            // lease (not through SQS retries, which would only fill the dead-letter queue).
            SendFailure::Configuration => {
                tracing::error!(%error, "the SMS provider configuration refuses reminders");
                self.db
                    .release_send_attempt(store_hash, &cart.cart_id, self.step(), started, &error.to_string())
                    .await?;
                let until = self.now + SWEEP_LEASE;
                let mut later = cart.clone();
                later.next_due_at = Some(until);
                save_cart(self.db, cart, &later, self.now).await?;
                Ok(JobOutcome::Deferred { until })
            }
            SendFailure::MessageRejected => {
                self.fail(record, error.to_string()).await?;
                self.count_refusal(cart, "message_rejected").await?;
                self.advance(cart, market).await?;
                Ok(JobOutcome::Refused {
                    failure: "message_rejected",
                })
            }
        }
    }

    /// Records a non-send: the decision, the claim (if an earlier delivery made one) as failed, and the cart
    /// moved to its next step (`skip_step`) or out of the sequence.
    async fn deny(
        &self,
        cart: &Cart,
        claimed: Option<&mut SendRecord>,
        code: &str,
        explanation: &str,
        skip_step: bool,
    ) -> Result<JobOutcome, SendError> {
        self.record_decision("deny", code, explanation, None).await?;
        // Counted before the cart moves on: a redelivery after a crash decides again, and the marker written
        // with the count keeps it from counting twice.
        let mut counts = vec![(NotSent::from_code(code).counter(), 1)];
        if self.step() == 1 {
            counts.push(("abandoned", 1));
        }
        self.db
            .count_once(
                &cart.store_hash,
                &cart.cart_id,
                COUNTED_DECISION,
                self.step(),
                self.now,
                &counts,
            )
            .await?;
        if let Some(record) = claimed {
            self.fail(record, format!("not sent: {code}")).await?;
        }
        if skip_step && let Some(phone) = &cart.phone {
            self.advance(cart, self.market_of(cart, phone)).await?;
        } else {
            end_sequence(self.db, cart, self.now).await?;
        }
        Ok(JobOutcome::Denied { code: code.to_owned() })
    }

    /// The provider refused a reminder the engine allowed: counted once per step among the reasons.
    async fn count_refusal(&self, cart: &Cart, failure: &str) -> Result<(), SendError> {
        self.db
            .count_once(
                &cart.store_hash,
                &cart.cart_id,
                "REFUSED",
                self.step(),
                self.now,
                &[(NotSent::from_code(failure).counter(), 1)],
            )
            .await?;
        Ok(())
    }

    async fn record_decision(
        &self,
        outcome: &str,
        code: &str,
        explanation: &str,
        defer_until: Option<DateTime<Utc>>,
    ) -> Result<(), SendError> {
        self.db
            .record_decision(&ReminderDecision {
                store_hash: self.job.store_hash.clone(),
                cart_id: self.job.cart_id.clone(),
                step: self.step(),
                decided_at: self.now,
                outcome: outcome.to_owned(),
                code: code.to_owned(),
                explanation: explanation.to_owned(),
                defer_until,
            })
            .await?;
        Ok(())
    }

    async fn fail(&self, record: &mut SendRecord, error: String) -> Result<(), SendError> {
        if !self
            .db
            .record_send_failed(&record.store_hash, &record.cart_id, record.step, &error)
            .await?
        {
            // An overlapping delivery of this job settled it first: its outcome stands.
            tracing::warn!(step = record.step, "the send was settled meanwhile; not marked failed");
        }
        record.status = SendStatus::Failed;
        record.error = Some(error);
        Ok(())
    }

    /// Records a claimed reminder whose provider call never answered: it may have gone out, so it is never
    /// sent again, and the step counts as done.
    async fn unconfirmed(&self, record: &mut SendRecord, error: String) -> Result<(), SendError> {
        if !self
            .db
            .record_send_unconfirmed(&record.store_hash, &record.cart_id, record.step, &error)
            .await?
        {
            tracing::warn!(
                step = record.step,
                "the send was settled meanwhile; not marked unconfirmed"
            );
        }
        record.status = SendStatus::Unconfirmed;
        record.error = Some(error);
        Ok(())
    }

    /// This step is done (sent, or skipped): the cart moves to the next step of its schedule, or out of it.
    async fn advance(&self, cart: &Cart, market: Market) -> Result<(), SendError> {
        let step = self.step();
        let next_due = next_step_due(self.settings, market, cart.last_activity_at, step);
        let mut current = cart.clone();
        // The step must be recorded even if the cart changed meanwhile: re-read and apply it again.
        for _ in 0..3 {
            if current.reminders_sent >= step || current.next_due_at.is_none() {
                return Ok(());
            }
            let mut advanced = current.clone();
            advanced.reminders_sent = step;
            advanced.next_due_at = next_due;
            if save_cart(self.db, &current, &advanced, self.now).await? {
                return Ok(());
            }
            match self.db.get_cart(&current.store_hash, &current.cart_id).await? {
                Some(reread) => current = reread,
                None => return Ok(()),
            }
        }
        Err(SendError::Busy(
            "the cart kept changing while its reminder was recorded",
        ))
    }

    async fn publish_sent(&self, record: &SendRecord) -> Result<(), SendError> {
        let (Some(provider), Some(provider_message_id), Some(sent_at)) =
            (&record.provider, &record.provider_message_id, record.sent_at)
        else {
            return Ok(());
        };
        self.deps
            .events()
            .publish(&DomainEvent::MessageSent(MessageSent {
                store_hash: record.store_hash.clone(),
                cart_id: record.cart_id.clone(),
                step: record.step,
                provider: provider.clone(),
                provider_message_id: provider_message_id.clone(),
                ledger_event_id: record.ledger_event_id.clone(),
                settings_version: record.settings_version,
                sent_at,
            }))
            .await?;
        Ok(())
    }

    /// The provider says the number can never receive texts: flag the contact (created if the number was only
    /// known from the cart) so nothing is tried again.
    async fn mark_undeliverable(&self, cart: &Cart, record: &SendRecord, error: &SmsError) -> Result<(), SendError> {
        let reason = format!("{}: {error}", self.deps.texter().provider());
        let store_hash = &self.store.store_hash;
        if !self
            .db
            .mark_undeliverable(store_hash, &record.phone, &reason, self.now)
            .await?
        {
            let mut contact = new_contact(cart, &record.phone, self.now);
            contact.undeliverable = Some(reason);
            self.db.put_contact(&contact).await?;
        }
        Ok(())
    }

    /// The number opted out at the carrier (Twilio 21610): an opt-out like any other, recorded the one way
    /// consent changes are recorded (ledger, reminders ended, write-back, `consent.changed`).
    async fn record_carrier_opt_out(&self, record: &SendRecord, error: &SmsError) -> Result<(), SendError> {
        let provider = self.deps.texter().provider();
        let code = match error {
            SmsError::Refused { code: Some(code), .. } => code.to_string(),
            _ => "opted_out".to_owned(),
        };
        let event = ConsentEvent::new(
            self.store.store_hash.clone(),
            record.phone.clone(),
            Purpose::Marketing,
            self.now,
            self.now,
            format!("provider-opt-out:{provider}:{}:{}", record.cart_id, record.step),
            ConsentEventKind::OptOut(OptOutMethod::ProviderReported {
                provider: provider.to_owned(),
                code,
            }),
        );
        self.deps.consent().record_consent_change(&event, self.now).await?;
        Ok(())
    }
}

fn recipient(cart: &Cart, phone: &Phone) -> Recipient {
    Recipient::resolve(
        phone,
        &[AddressHint {
            country_code: cart.country_code.as_deref(),
            state_or_province: cart.state_code.as_deref(),
        }],
    )
}

/// A contact for a number first seen on a cart (it is flagged, so it must exist).
fn new_contact(cart: &Cart, phone: &Phone, now: DateTime<Utc>) -> Contact {
    let guest = cart.customer_id == 0;
    Contact {
        store_hash: cart.store_hash.clone(),
        phone: phone.clone(),
        first_name: cart.first_name.clone(),
        last_name: None,
        email: cart.email.clone(),
        customer_id: (!guest).then_some(cart.customer_id),
        groups: if guest {
            vec![GUEST_GROUP.to_owned()]
        } else {
            Vec::new()
        },
        notes: None,
        tags: Vec::new(),
        shipping_address: None,
        subscribed_in_bigcommerce: None,
        labels: vec![BIGCOMMERCE_LABEL.to_owned()],
        source: ContactSource::LiveSync,
        created_at: now,
        updated_at: now,
        erased_at: None,
        undeliverable: None,
    }
}

/// Saves `updated` if the stored cart still has `read`'s due time (nobody changed it since). `Ok(false)` if
/// someone did: their version stands.
async fn save_cart(
    db: &impl ReminderStore,
    read: &Cart,
    updated: &Cart,
    now: DateTime<Utc>,
) -> Result<bool, SendError> {
    let Some(expected) = read.next_due_at else {
        return Ok(false);
    };
    Ok(db.put_cart_if_due(updated, expected, now).await?)
}

/// Ends the cart's reminders (takes it out of the due index), unless it changed meanwhile.
async fn end_sequence(db: &impl ReminderStore, cart: &Cart, now: DateTime<Utc>) -> Result<(), SendError> {
    let mut ended = cart.clone();
    ended.next_due_at = None;
    save_cart(db, cart, &ended, now).await?;
    Ok(())
}
