//! Replies, second pass: opt-outs in everyday words (and in styled or invisible characters), the FCC's
//! 5-minute safe harbour for the opt-out confirmation, and HELP answered every time short of a flood. The
//! SMS sandbox pushes to the real `webhooks` handler over HTTP; the ledger and reply records live in moto;
//! the clock is the manual one.

use chrono::Duration;
use integration_tests::replies::{SENDER, us_phone};
use integration_tests::{SeededStore, TestApp, at};
use shared::consent::content::opt_out_confirmation;
use shared::consent::engine::HELP_REPLIES_PER_HOUR;
use shared::consent::{ConsentEventKind, Decision, OptOutMethod, Reason};
use shared::model::SenderSharing;
use shared::replies::{Answer, ReplyOutcome};
use shared::{Clock, Phone};
use sim::sms::{WebhookDelivery, WebhookInbox};

/// Wednesday 10:00 in New York: inside every send window.
const DAYTIME: &str = "2026-11-25T15:00:00Z";

/// A store texting from [`SENDER`], approved for it by the operator.
async fn store(app: &TestApp, hash: &str) -> SeededStore {
    let store = app.seed_store(hash, |s| s.sender_id = Some(SENDER.into())).await;
    app.approve_sender(&store, SenderSharing::Exclusive).await;
    store
}

fn assert_opted_out(decision: &Decision) {
    match decision {
        Decision::Deny { reason, .. } => assert_eq!(*reason, Reason::OptedOut, "{decision:?}"),
        other => panic!("expected the opt-out to deny the reminder, got {other:?}"),
    }
}

/// The keyword opt-outs in the phone's ledger: (raw text, when it counts from).
async fn keyword_opt_outs(
    app: &TestApp,
    store: &SeededStore,
    phone: &Phone,
) -> Vec<(String, chrono::DateTime<chrono::Utc>)> {
    app.db()
        .ledger(&store.store_hash, phone)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|e| match e.kind {
            ConsentEventKind::OptOut(OptOutMethod::Keyword { raw_text, .. }) => Some((raw_text, e.occurred_at)),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn everyday_words_and_styled_letters_opt_out_through_the_webhook() {
    let app = TestApp::start_at(DAYTIME).await;
    app.messagemedia_callback();
    let store = store(&app, "words1").await;
    let brand = store.settings.brand_name.clone();
    let wordings = [
        "I want out",
        "no longer interested",
        "delete me",
        "why do you keep texting me?? leave me alone",
        "please don't ever send me any more of these",
        "Ne m'envoyez plus de SMS",
        "No me manden más mensajes",
        // Fullwidth (CJK keyboard), mathematical bold (font app), a zero-width space inside the word.
        "\u{FF33}\u{FF34}\u{FF2F}\u{FF30}",
        "\u{1D412}\u{1D413}\u{1D40E}\u{1D40F}",
        "S\u{200B}TOP",
    ];
    for (i, wording) in wordings.iter().enumerate() {
        let phone = us_phone(i as u32 + 1);
        app.put_contact(&store.store_hash, &phone, None).await;
        app.subscribe(&store, &phone).await;
        let cart = app
            .cart_due(&store.store_hash, &phone, &format!("cart-{i}"), Duration::minutes(30))
            .await;

        let delivery = app.sms.reply(phone.as_e164(), SENDER, wording).await.unwrap();
        assert_eq!(delivery.status, 200, "{wording:?}: {}", delivery.response_body);

        let opt_outs = keyword_opt_outs(&app, &store, &phone).await;
        assert_eq!(opt_outs.len(), 1, "{wording:?}");
        assert_eq!(opt_outs[0].0, *wording, "the raw text is the evidence");
        assert_opted_out(&app.reminder_decision(&store, &cart, app.clock.now()).await);
        assert_eq!(app.texts_to(&phone), [opt_out_confirmation(&brand)], "{wording:?}");
    }

    // An ordinary question about an order changes nothing and gets no answer.
    let asking = us_phone(50);
    app.put_contact(&store.store_hash, &asking, None).await;
    app.subscribe(&store, &asking).await;
    let delivery = app
        .sms
        .reply(
            asking.as_e164(),
            SENDER,
            "I didn't get the text with my tracking number",
        )
        .await
        .unwrap();
    assert_eq!(delivery.status, 200, "{}", delivery.response_body);
    assert!(keyword_opt_outs(&app, &store, &asking).await.is_empty());
    assert!(app.texts_to(&asking).is_empty());
    let replies = app.db().replies(&store.store_hash, &asking).await.unwrap();
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0].outcome, ReplyOutcome::Stored);
}

#[tokio::test]
async fn an_opt_out_first_handled_after_5_minutes_is_recorded_but_not_confirmed() {
    let app = TestApp::start_at(DAYTIME).await;
    let callback = app.messagemedia_callback();
    let store = store(&app, "late01").await;
    let phone = us_phone(1);
    app.put_contact(&store.store_hash, &phone, None).await;
    app.subscribe(&store, &phone).await;
    let cart = app
        .cart_due(&store.store_hash, &phone, "cart-late", Duration::minutes(30))
        .await;
    let received = app.clock.now();

    // Our endpoint is down when MessageMedia pushes the STOP...
    let down = WebhookInbox::start().await.unwrap();
    down.answer_with(503);
    app.sms.set_webhook(&down.url("/webhooks/messagemedia/down"), &[]);
    let failed = app.sms.reply(phone.as_e164(), SENDER, "STOP").await.unwrap();
    assert_eq!(failed.status, 503);
    assert_eq!(down.requests().len(), 1);

    // ...and its retry reaches us 6 minutes after it was received.
    app.clock.advance(Duration::minutes(6));
    let retry = WebhookDelivery {
        url: callback,
        ..failed
    };
    let delivery = app.sms.redeliver(&retry).await.unwrap();
    assert_eq!(delivery.status, 200, "{}", delivery.response_body);

    // The opt-out counts from the provider's receipt and suppresses at once...
    assert_eq!(
        keyword_opt_outs(&app, &store, &phone).await,
        [("STOP".to_owned(), received)]
    );
    assert_opted_out(&app.reminder_decision(&store, &cart, app.clock.now()).await);
    // ...but no confirmation goes out past the safe harbour, and the reply record says why.
    assert!(app.texts_to(&phone).is_empty(), "{:?}", app.texts_to(&phone));
    let replies = app.db().replies(&store.store_hash, &phone).await.unwrap();
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0].outcome, ReplyOutcome::OptedOut);
    assert_eq!(replies[0].answer, None);
    let reason = replies[0].no_answer_reason.as_deref().unwrap();
    assert!(reason.contains("more than 5 minutes"), "{reason}");
    assert!(reason.contains("opt-out itself is recorded"), "{reason}");

    // A second retry of the same push changes nothing.
    app.clock.advance(Duration::minutes(1));
    assert_eq!(app.sms.redeliver(&retry).await.unwrap().status, 200);
    assert_eq!(keyword_opt_outs(&app, &store, &phone).await.len(), 1);
    assert!(app.texts_to(&phone).is_empty());
}

#[tokio::test]
async fn an_opt_out_retried_inside_5_minutes_is_still_confirmed_once() {
    let app = TestApp::start_at(DAYTIME).await;
    app.messagemedia_callback();
    let store = store(&app, "late02").await;
    let brand = store.settings.brand_name.clone();
    let phone = us_phone(1);
    app.put_contact(&store.store_hash, &phone, None).await;
    app.subscribe(&store, &phone).await;
    let received = app.clock.now();

    // The provider's API is down when the confirmation is sent: the opt-out is recorded, the push fails...
    app.sms.fail_next(1, 503);
    let failed = app.sms.reply(phone.as_e164(), SENDER, "please stop").await.unwrap();
    assert_eq!(failed.status, 503, "{}", failed.response_body);
    assert_eq!(
        keyword_opt_outs(&app, &store, &phone).await,
        [("please stop".to_owned(), received)]
    );
    assert!(app.texts_to(&phone).is_empty());

    // ...and its retry 4 minutes 59 seconds after receipt still gets the one confirmation.
    app.clock.advance(Duration::minutes(5) - Duration::seconds(1));
    let delivery = app.sms.redeliver(&failed).await.unwrap();
    assert_eq!(delivery.status, 200, "{}", delivery.response_body);
    assert_eq!(app.texts_to(&phone), [opt_out_confirmation(&brand)]);
    let replies = app.db().replies(&store.store_hash, &phone).await.unwrap();
    assert_eq!(replies[0].answer, Some(Answer::OptOutConfirmation));

    // A later retry (provider at-least-once) sends no second one.
    app.clock.advance(Duration::minutes(10));
    assert_eq!(app.sms.redeliver(&failed).await.unwrap().status, 200);
    assert_eq!(app.texts_to(&phone).len(), 1);
}

#[tokio::test]
async fn help_is_answered_every_time_until_a_number_floods() {
    let app = TestApp::start_at(DAYTIME).await;
    app.messagemedia_callback();
    let store = store(&app, "help02").await;
    let phone = us_phone(1);
    app.put_contact(&store.store_hash, &phone, None).await;
    let limit = HELP_REPLIES_PER_HOUR;
    assert!(limit >= 3, "a carrier audit's repeated HELPs must all be answered");

    // A carrier audit texts HELP (and INFO) again and again: every one is answered.
    for i in 0..limit {
        let word = if i % 2 == 0 { "HELP" } else { "info" };
        let delivery = app.sms.reply(phone.as_e164(), SENDER, word).await.unwrap();
        assert_eq!(delivery.status, 200, "{}", delivery.response_body);
        assert_eq!(app.texts_to(&phone).len(), i + 1, "HELP number {} is answered", i + 1);
        app.clock.advance(Duration::minutes(5));
    }
    let texts = app.texts_to(&phone);
    for part in ["Acme Outfitters", "help@acme.example.com", "STOP"] {
        assert!(texts.iter().all(|t| t.contains(part)), "{texts:?}");
    }

    // One more inside the hour is a flood (two autoresponders talking): not answered, and the record says why.
    app.sms.reply(phone.as_e164(), SENDER, "HELP").await.unwrap();
    assert_eq!(app.texts_to(&phone).len(), limit);
    let replies = app.db().replies(&store.store_hash, &phone).await.unwrap();
    let last = replies.last().unwrap();
    assert_eq!(last.outcome, ReplyOutcome::Help);
    assert_eq!(last.answer, None);
    let reason = last.no_answer_reason.as_deref().unwrap();
    assert!(reason.contains(&format!("{limit} HELP replies")), "{reason}");

    // Once the first answer is an hour old, HELP is answered again.
    let first_answer = at(DAYTIME);
    let now = app.clock.now();
    app.clock
        .advance(first_answer + Duration::hours(1) + Duration::seconds(1) - now);
    app.sms.reply(phone.as_e164(), SENDER, "help").await.unwrap();
    assert_eq!(app.texts_to(&phone).len(), limit + 1);
    // HELP never changes consent.
    assert!(app.db().ledger(&store.store_hash, &phone).await.unwrap().is_empty());
}
