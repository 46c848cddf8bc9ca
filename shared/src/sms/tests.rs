use super::*;
use crate::ManualClock;
use crate::config::SmsConfig;
use sim::sms::{DeliveryStatus, SandboxConfig, SmsSandbox, WebhookInbox};

const US: &str = "+12122014567";
const AU: &str = "+61412345678";

fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339).unwrap().with_timezone(&Utc)
}

fn now() -> DateTime<Utc> {
    at("2025-06-02T15:00:00Z")
}

fn clock() -> Arc<dyn Clock> {
    Arc::new(ManualClock::new(now()))
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

fn reminder(to: &str) -> OutboundSms {
    OutboundSms {
        to: Phone::from_e164(to).unwrap(),
        from: None,
        body: "Acme: you left something in your cart. Reply STOP to opt out".into(),
        metadata: BTreeMap::from([
            ("store_hash".to_owned(), "abc123".to_owned()),
            ("cart_id".to_owned(), "cart-9".to_owned()),
            ("step".to_owned(), "1".to_owned()),
        ]),
        expires_at: Some(at("2025-06-02T17:00:00Z")),
        callback_url: None,
        idempotency_key: "abc123:cart-9:1".into(),
    }
}

async fn sandbox() -> SmsSandbox {
    SmsSandbox::start(SandboxConfig::default()).await.unwrap()
}

fn sandbox_client(sandbox: &SmsSandbox) -> SmsClient {
    SmsClient::new(
        &SmsConfig::Sandbox {
            api_url: sandbox.api_url(),
        },
        reqwest::Client::new(),
        clock(),
    )
}

fn twilio_client(sandbox: &SmsSandbox, auth_token: &str) -> SmsClient {
    SmsClient::new(
        &SmsConfig::Twilio {
            account_sid: sandbox.config().twilio_account_sid.clone(),
            auth_token: Secret::new(auth_token),
            api_url: sandbox.api_url(),
        },
        reqwest::Client::new(),
        clock(),
    )
}

fn twilio_reminder(to: &str) -> OutboundSms {
    OutboundSms {
        from: Some("+12125550100".into()),
        ..reminder(to)
    }
}

// --- sending through the sandbox ------------------------------------------------------------------

#[tokio::test]
async fn messagemedia_send_is_recorded_with_metadata_expiry_and_reports() {
    let sandbox = sandbox().await;
    let client = sandbox_client(&sandbox);
    assert_eq!(client.provider(), "messagemedia");
    let message = OutboundSms {
        from: Some("+61412000111".into()),
        callback_url: Some("https://app.example.com/webhooks/sms/tok".into()),
        ..reminder(US)
    };
    let sent = client.send(&message).await.unwrap();
    assert_eq!(sent.provider, "messagemedia");

    let recorded = sandbox.messages_to(US);
    assert_eq!(recorded.len(), 1);
    let recorded = &recorded[0];
    assert_eq!(recorded.id, sent.message_id);
    assert_eq!(recorded.api, sim::sms::ProviderApi::MessageMedia);
    assert_eq!(recorded.content, message.body);
    assert_eq!(recorded.metadata, message.metadata);
    assert_eq!(recorded.expires_at, message.expires_at);
    assert!(recorded.delivery_report, "delivery reports must be on");
    assert_eq!(recorded.from.as_deref(), Some("+61412000111"));
    assert_eq!(
        recorded.callback_url.as_deref(),
        Some("https://app.example.com/webhooks/sms/tok")
    );
    assert_eq!(recorded.idempotency_key.as_deref(), Some("abc123:cart-9:1"));
}

#[tokio::test]
async fn messagemedia_without_optional_fields_sends_the_minimum() {
    let sandbox = sandbox().await;
    let message = OutboundSms {
        metadata: BTreeMap::new(),
        expires_at: None,
        ..reminder(AU)
    };
    sandbox_client(&sandbox).send(&message).await.unwrap();
    let recorded = &sandbox.messages_to(AU)[0];
    assert_eq!(recorded.from, None);
    assert_eq!(recorded.expires_at, None);
    assert!(recorded.request.get("metadata").is_none());
    assert!(recorded.request.get("source_number").is_none());
}

#[tokio::test]
async fn server_errors_are_retryable_and_the_retry_goes_through() {
    let sandbox = sandbox().await;
    let client = sandbox_client(&sandbox);
    sandbox.fail_next(1, 500);
    sandbox.fail_next(1, 503);
    for expected_status in [500, 503] {
        let error = client.send(&reminder(US)).await.unwrap_err();
        assert!(error.is_retryable(), "{error}");
        assert!(error.can_send_again(), "an error answer sends nothing: {error}");
        assert!(matches!(error, SmsError::Refused { status, .. } if status == expected_status));
    }
    assert!(sandbox.messages().is_empty());
    client.send(&reminder(US)).await.unwrap();
    assert_eq!(sandbox.messages_to(US).len(), 1);
}

#[tokio::test]
async fn wrong_credentials_are_a_configuration_error() {
    let sandbox = sandbox().await;
    let client = SmsClient::new(
        &SmsConfig::MessageMedia {
            api_key: "sandbox".into(),
            api_secret: Secret::new("not-the-secret"),
            api_url: sandbox.api_url(),
        },
        reqwest::Client::new(),
        clock(),
    );
    let error = client.send(&reminder(US)).await.unwrap_err();
    assert_eq!(error.failure(), SendFailure::Configuration);
    assert!(!error.is_retryable());
    assert!(error.to_string().contains("401"));
    assert!(!error.to_string().contains("not-the-secret"));

    let error = twilio_client(&sandbox, "wrong")
        .send(&twilio_reminder(US))
        .await
        .unwrap_err();
    assert_eq!(error.failure(), SendFailure::Configuration);
    assert!(matches!(error, SmsError::Refused { code: Some(20003), .. }));
}

#[tokio::test]
async fn invalid_numbers_are_permanent_for_the_number() {
    let sandbox = sandbox().await;
    sandbox.mark_invalid(US);
    let error = sandbox_client(&sandbox).send(&reminder(US)).await.unwrap_err();
    assert_eq!(error.failure(), SendFailure::InvalidNumber, "{error}");

    let twilio = twilio_client(&sandbox, &sandbox.config().twilio_auth_token);
    let error = twilio.send(&twilio_reminder(US)).await.unwrap_err();
    assert_eq!(error.failure(), SendFailure::InvalidNumber);
    assert!(matches!(error, SmsError::Refused { code: Some(21211), .. }));
    assert!(sandbox.messages().is_empty());
}

#[tokio::test]
async fn a_message_the_provider_refuses_is_not_retried() {
    let sandbox = sandbox().await;
    let message = OutboundSms {
        body: "x".repeat(5001),
        ..reminder(US)
    };
    let error = sandbox_client(&sandbox).send(&message).await.unwrap_err();
    assert_eq!(error.failure(), SendFailure::MessageRejected, "{error}");
}

#[tokio::test]
async fn twilio_opted_out_numbers_map_to_opted_out() {
    let sandbox = sandbox().await;
    sandbox.opt_out_at_carrier(US);
    let error = twilio_client(&sandbox, &sandbox.config().twilio_auth_token)
        .send(&twilio_reminder(US))
        .await
        .unwrap_err();
    assert_eq!(error.failure(), SendFailure::OptedOut);
    assert!(!error.is_retryable());
    assert!(error.to_string().contains("21610"));
}

#[tokio::test]
async fn twilio_send_carries_validity_sender_and_callback_metadata() {
    let sandbox = sandbox().await;
    let client = twilio_client(&sandbox, &sandbox.config().twilio_auth_token);
    assert_eq!(client.provider(), "twilio");
    let message = OutboundSms {
        callback_url: Some("https://app.example.com/webhooks/twilio/status?token=t1".into()),
        ..twilio_reminder(US)
    };
    let sent = client.send(&message).await.unwrap();
    assert_eq!(sent.provider, "twilio");
    assert!(sent.message_id.starts_with("SM"));

    let recorded = sandbox.message(&sent.message_id).unwrap();
    assert_eq!(recorded.to, US);
    assert_eq!(recorded.from.as_deref(), Some("+12125550100"));
    assert_eq!(recorded.content, message.body);
    // Two hours left on the manual clock, whatever the wall clock says.
    assert_eq!(recorded.validity_period, Some(7200));
    assert_eq!(
        recorded.callback_url.as_deref(),
        Some(
            "https://app.example.com/webhooks/twilio/status?token=t1\
             &meta_cart_id=cart-9&meta_step=1&meta_store_hash=abc123"
        )
    );
    assert_eq!(recorded.idempotency_key.as_deref(), Some("abc123:cart-9:1"));

    // A Messaging Service SID goes as MessagingServiceSid; a far expiry leaves Twilio's default.
    let message = OutboundSms {
        from: Some("MG00000000000000000000000000000001".into()),
        expires_at: Some(now() + chrono::Duration::hours(48)),
        ..reminder(AU)
    };
    let sent = client.send(&message).await.unwrap();
    let recorded = sandbox.message(&sent.message_id).unwrap();
    assert_eq!(recorded.from, None);
    assert_eq!(
        recorded.messaging_service_sid.as_deref(),
        Some("MG00000000000000000000000000000001")
    );
    assert_eq!(recorded.validity_period, None);
}

#[tokio::test]
async fn twilio_needs_a_sender_and_throttling_is_retryable() {
    let sandbox = sandbox().await;
    let client = twilio_client(&sandbox, &sandbox.config().twilio_auth_token);
    let error = client.send(&reminder(US)).await.unwrap_err();
    assert!(matches!(error, SmsError::NoSender));
    assert_eq!(error.failure(), SendFailure::Configuration);

    sandbox.fail_next(1, 429);
    let error = client.send(&twilio_reminder(US)).await.unwrap_err();
    assert!(error.is_retryable());
    assert!(matches!(error, SmsError::Refused { code: Some(20429), .. }));
    assert!(sandbox.messages().is_empty());
}

#[tokio::test]
async fn expired_messages_are_never_sent() {
    let sandbox = sandbox().await;
    let stale = OutboundSms {
        expires_at: Some(now()),
        ..twilio_reminder(US)
    };
    for client in [
        sandbox_client(&sandbox),
        twilio_client(&sandbox, &sandbox.config().twilio_auth_token),
    ] {
        let error = client.send(&stale).await.unwrap_err();
        assert!(matches!(error, SmsError::Expired));
        assert_eq!(error.failure(), SendFailure::MessageRejected);
    }
    assert!(sandbox.messages().is_empty());
}

#[tokio::test]
async fn no_answer_is_retryable_but_may_have_sent_the_message() {
    let sandbox = sandbox().await;
    sandbox.delay_next(1, std::time::Duration::from_millis(800));
    let client = sandbox_client(&sandbox).with_timeout(std::time::Duration::from_millis(100));
    let error = client.send(&reminder(US)).await.unwrap_err();
    assert!(
        matches!(error, SmsError::Unreachable { timed_out: true, .. }),
        "{error:?}"
    );
    assert!(error.is_retryable());
    assert!(!error.sent_nothing(), "the message may have gone out");
    assert!(!error.can_send_again(), "a second send could text the person twice");

    // Nothing listens on a port the sandbox just released.
    let closed_url = {
        let gone = SmsSandbox::start(SandboxConfig::default()).await.unwrap();
        gone.api_url()
    };
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let client = SmsClient::new(
        &SmsConfig::Sandbox { api_url: closed_url },
        reqwest::Client::new(),
        clock(),
    );
    let error = client.send(&reminder(US)).await.unwrap_err();
    assert!(
        matches!(error, SmsError::Unreachable { timed_out: false, .. }),
        "{error:?}"
    );
    assert!(error.is_retryable());
    assert!(error.sent_nothing(), "a refused connection sends nothing");
    assert!(error.can_send_again());
}

// --- pushes from the sandbox ----------------------------------------------------------------------

#[tokio::test]
async fn messagemedia_reply_and_delivery_report_parse() {
    let sandbox = sandbox().await;
    let inbox = WebhookInbox::start().await.unwrap();
    let client = sandbox_client(&sandbox);
    let message = OutboundSms {
        from: Some("+61412000111".into()),
        callback_url: Some(inbox.url("/webhooks/messagemedia/tok")),
        ..reminder(AU)
    };
    let sent = client.send(&message).await.unwrap();

    let delivery = sandbox.reply(AU, "+61412000111", "Stop texting me").await.unwrap();
    let MessageMediaPush::Reply(reply) = parse_messagemedia_push(delivery.body.as_bytes()).unwrap() else {
        panic!("not a reply");
    };
    assert_eq!(reply.from.as_e164(), AU);
    assert_eq!(reply.to.as_deref(), Some("+61412000111"));
    assert_eq!(reply.message_id.as_deref(), Some(sent.message_id.as_str()));
    assert_eq!(reply.content, "Stop texting me");
    assert_eq!(reply.metadata, message.metadata);
    assert!(reply.received_at.is_some());
    let reply_id = reply.reply_id.clone();
    let normalised = InboundReply::from(reply);
    assert_eq!(normalised.id, reply_id);
    assert_eq!(normalised.provider, "messagemedia");
    assert_eq!(normalised.in_reply_to, Some(sent.message_id.clone()));

    // The provider retrying delivers the same reply id: the de-duplication key holds.
    let again = sandbox.redeliver(&delivery).await.unwrap();
    let MessageMediaPush::Reply(second) = parse_messagemedia_push(again.body.as_bytes()).unwrap() else {
        panic!("not a reply");
    };
    assert_eq!(second.reply_id, reply_id);

    let delivery = sandbox
        .deliver_report(&sent.message_id, DeliveryStatus::Failed, "411")
        .await
        .unwrap();
    let MessageMediaPush::DeliveryReport(report) = parse_messagemedia_push(delivery.body.as_bytes()).unwrap() else {
        panic!("not a delivery report");
    };
    assert_eq!(report.message_id, sent.message_id);
    assert_eq!(report.recipient.as_e164(), AU);
    assert_eq!(report.status, MessageMediaStatus::Failed);
    assert_eq!(report.error_code, Some(411));
    assert_eq!(report.metadata["cart_id"], "cart-9");
    assert_eq!(report.outcome(), DeliveryOutcome::InvalidNumber);
    let update = DeliveryUpdate::from(report.clone());
    assert_eq!(update.id, report.delivery_report_id);
    assert_eq!(update.outcome, DeliveryOutcome::InvalidNumber);
    assert_eq!(inbox.requests().len(), 3);
}

#[tokio::test]
async fn twilio_inbound_signature_from_the_sandbox_verifies_and_forgeries_do_not() {
    let sandbox = sandbox().await;
    let inbox = WebhookInbox::start().await.unwrap();
    let url = inbox.url("/webhooks/twilio/inbound?store=abc123");
    let token = Secret::new(sandbox.config().twilio_auth_token.clone());
    sandbox.twilio_inbound(US, "+12125550100", "STOP", &url).await.unwrap();
    let request = &inbox.requests()[0];
    let params: Vec<(String, String)> = serde_urlencoded::from_str(&request.body).unwrap();
    let signature = request.header("x-twilio-signature").unwrap();

    assert!(verify_twilio_signature(&token, &url, &params, signature));
    assert!(!verify_twilio_signature(
        &Secret::new("another-token"),
        &url,
        &params,
        signature
    ));
    assert!(!verify_twilio_signature(
        &token,
        &inbox.url("/webhooks/twilio/inbound?store=other"),
        &params,
        signature
    ));
    let mut changed = params.clone();
    for (name, value) in &mut changed {
        if name == "Body" {
            *value = "START".into();
        }
    }
    assert!(!verify_twilio_signature(&token, &url, &changed, signature));
    let mut added = params.clone();
    added.push(("Extra".into(), "1".into()));
    assert!(!verify_twilio_signature(&token, &url, &added, signature));
    assert!(!verify_twilio_signature(
        &token,
        &url,
        &params,
        "AAAAAAAAAAAAAAAAAAAAAAAAAAA="
    ));

    let inbound = TwilioInbound::from_params(&params).unwrap();
    assert_eq!(inbound.from.as_e164(), US);
    assert_eq!(inbound.to, "+12125550100");
    assert_eq!(inbound.body, "STOP");
    assert_eq!(inbound.account_sid, sandbox.config().twilio_account_sid);
    assert_eq!(inbound.num_media, 0);
    let reply = InboundReply::from(inbound.clone());
    assert_eq!(reply.id, inbound.message_sid);
    assert_eq!(reply.provider, "twilio");
}

#[tokio::test]
async fn twilio_status_callback_carries_our_metadata_back() {
    let sandbox = sandbox().await;
    let inbox = WebhookInbox::start().await.unwrap();
    let client = twilio_client(&sandbox, &sandbox.config().twilio_auth_token);
    let message = OutboundSms {
        callback_url: Some(inbox.url("/webhooks/twilio/status")),
        ..twilio_reminder(US)
    };
    let sent = client.send(&message).await.unwrap();
    let delivery = sandbox
        .twilio_status_callback(&sent.message_id, "undelivered", Some("30006"))
        .await
        .unwrap();

    let request = &inbox.requests()[0];
    let full_url = inbox.url(&request.path_and_query);
    let params: Vec<(String, String)> = serde_urlencoded::from_str(&request.body).unwrap();
    let token = Secret::new(sandbox.config().twilio_auth_token.clone());
    assert!(verify_twilio_signature(
        &token,
        &full_url,
        &params,
        delivery.header("X-Twilio-Signature").unwrap()
    ));

    let callback = TwilioStatusCallback::parse(&full_url, &params).unwrap();
    assert_eq!(callback.message_sid, sent.message_id);
    assert_eq!(callback.status, TwilioMessageStatus::Undelivered);
    assert_eq!(callback.error_code, Some(30006));
    assert_eq!(callback.recipient.as_e164(), US);
    assert_eq!(callback.metadata, message.metadata);
    assert_eq!(callback.outcome(), DeliveryOutcome::InvalidNumber);
    let update = DeliveryUpdate::from(callback);
    assert_eq!(update.id, format!("{}:undelivered", sent.message_id));
    assert_eq!(update.message_id, sent.message_id);
}

// --- pure functions -------------------------------------------------------------------------------

/// Both signatures were computed independently with Python's standard library:
/// `base64.b64encode(hmac.new(token.encode(), (url + "".join(k + v for k, v in sorted(params))).encode(),
/// hashlib.sha1).digest())`. The first is Twilio's documented example and matches its docs.
#[test]
fn twilio_signature_matches_known_vectors() {
    let docs_params = pairs(&[
        ("CallSid", "CA1234567890ABCDE"),
        ("Caller", "+12349013030"),
        ("Digits", "1234"),
        ("From", "+12349013030"),
        ("To", "+18005551212"),
    ]);
    let docs_url = "https://mycompany.com/myapp.php?foo=1&bar=2";
    assert!(verify_twilio_signature(
        &Secret::new("12345"),
        docs_url,
        &docs_params,
        "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    ));

    // Our own: an inbound STOP to a webhook URL with a query string, parameters in arrival order.
    let params = pairs(&[
        ("To", "+61491570157"),
        ("From", "+61491570156"),
        ("Body", "Stop please"),
        ("MessageSid", "SM0123456789abcdef0123456789abcdef"),
        ("AccountSid", "AC00000000000000000000000000000000"),
        ("NumMedia", "0"),
    ]);
    let url = "https://app.example.com/webhooks/twilio/inbound?store=abc123";
    let token = Secret::new("test-auth-token-1");
    let signature = "ZW4cSX0LWFg/p6okqw36eajC8uY=";
    assert!(verify_twilio_signature(&token, url, &params, signature));
    let mut reversed = params.clone();
    reversed.reverse();
    assert!(verify_twilio_signature(&token, url, &reversed, signature));

    assert!(!verify_twilio_signature(
        &token,
        "https://app.example.com/webhooks/twilio/inbound",
        &params,
        signature
    ));
    let mut tampered = params.clone();
    tampered[2].1 = "Stop please!".into();
    assert!(!verify_twilio_signature(&token, url, &tampered, signature));
    assert!(!verify_twilio_signature(
        &token,
        url,
        &params,
        "ZW4cSX0LWFg/p6okqw36eajC8uZ="
    ));
    assert!(!verify_twilio_signature(&token, url, &params, ""));
    assert!(!verify_twilio_signature(&Secret::new(""), url, &params, signature));
}

#[test]
fn messagemedia_error_classification() {
    use messagemedia::classify;
    let cases = [
        (
            400,
            "Invalid request; messages[0].destination_number: not valid",
            SendFailure::InvalidNumber,
        ),
        (
            400,
            "Invalid request; messages[0].content: too long",
            SendFailure::MessageRejected,
        ),
        (401, "Invalid authentication credentials", SendFailure::Configuration),
        (403, "Feature disabled", SendFailure::Configuration),
        (404, "", SendFailure::Configuration),
        (422, "TLS 1.3 required", SendFailure::Configuration),
        (429, "", SendFailure::Retryable),
        (500, "", SendFailure::Retryable),
        (503, "", SendFailure::Retryable),
        (409, "", SendFailure::MessageRejected),
    ];
    for (status, text, expected) in cases {
        assert_eq!(classify(status, text), expected, "{status} {text}");
    }
}

#[test]
fn twilio_error_classification() {
    use twilio::classify;
    let cases = [
        (400, Some(21610), SendFailure::OptedOut),
        (400, Some(21211), SendFailure::InvalidNumber),
        (400, Some(21612), SendFailure::InvalidNumber),
        (400, Some(21614), SendFailure::InvalidNumber),
        (400, Some(21606), SendFailure::Configuration),
        (400, Some(21608), SendFailure::Configuration),
        (401, Some(20003), SendFailure::Configuration),
        (429, Some(20429), SendFailure::Retryable),
        (400, Some(20429), SendFailure::Retryable),
        (400, Some(21602), SendFailure::MessageRejected),
        (400, Some(21617), SendFailure::MessageRejected),
        (500, Some(20500), SendFailure::Retryable),
        (502, None, SendFailure::Retryable),
        (403, None, SendFailure::Configuration),
    ];
    for (status, code, expected) in cases {
        assert_eq!(classify(status, code), expected, "{status} {code:?}");
    }
}

#[test]
fn provider_error_texts_lose_phone_numbers() {
    assert_eq!(
        scrub("The 'To' number +12122014567 is not a valid phone number."),
        "The 'To' number +[number] is not a valid phone number."
    );
    assert_eq!(scrub("error 21211 at 10:30"), "error 21211 at 10:30");
    assert_eq!(scrub(&"é".repeat(400)).chars().count(), 301);
    let error = SmsError::Refused {
        provider: "twilio",
        status: 400,
        code: Some(21211),
        message: scrub("The 'To' number +12122014567 is not valid"),
        failure: SendFailure::InvalidNumber,
    };
    assert!(!error.to_string().contains("2122014567"));
    assert!(error.to_string().contains("code 21211"));
}

#[test]
fn messagemedia_documented_reply_parses() {
    // The reference's example, with numbers that are valid mobiles.
    let body = br#"{"metadata":{"key1":"value1"},"message_id":"877c19ef-fa2e-4cec-827a-e1df9b5509f7",
        "reply_id":"a175e797-2b54-468b-9850-41a3eab32f74","date_received":"2016-12-07T08:43:00.850Z",
        "callback_url":"https://my.callback.url.com","destination_number":"+61412000111",
        "source_number":"+61412345678",
        "vendor_account_id":{"vendor_id":"MessageMedia","account_id":"MyAccount"},
        "content":"My first reply!"}"#;
    let MessageMediaPush::Reply(reply) = parse_messagemedia_push(body).unwrap() else {
        panic!("not a reply");
    };
    assert_eq!(reply.reply_id, "a175e797-2b54-468b-9850-41a3eab32f74");
    assert_eq!(
        reply.message_id.as_deref(),
        Some("877c19ef-fa2e-4cec-827a-e1df9b5509f7")
    );
    assert_eq!(reply.from.as_e164(), "+61412345678");
    assert_eq!(reply.to.as_deref(), Some("+61412000111"));
    assert_eq!(reply.content, "My first reply!");
    assert_eq!(reply.metadata["key1"], "value1");
    assert_eq!(reply.received_at, Some(at("2016-12-07T08:43:00.850Z")));
}

#[test]
fn messagemedia_documented_delivery_report_parses() {
    let body = br#"{"callback_url":"https://my.callback.url.com","delivery_report_id":"693e87f2-1111",
        "source_number":"+61412345678","date_received":"2016-11-03T11:49:02.807Z","status":"delivered",
        "delay":0,"billing_units":1,"submitted_date":"2016-11-03T11:49:01.551Z",
        "original_text":"Hello world!","message_id":"389dc1a8-2222",
        "vendor_account_id":{"vendor_id":"MessageMedia","account_id":"MyAccount"},
        "error_code":"220","metadata":{"key":"value"}}"#;
    let MessageMediaPush::DeliveryReport(report) = parse_messagemedia_push(body).unwrap() else {
        panic!("not a delivery report");
    };
    assert_eq!(report.delivery_report_id, "693e87f2-1111");
    assert_eq!(report.message_id, "389dc1a8-2222");
    assert_eq!(report.recipient.as_e164(), "+61412345678");
    assert_eq!(report.status, MessageMediaStatus::Delivered);
    assert_eq!(report.error_code, Some(220));
    assert_eq!(report.submitted_at, Some(at("2016-11-03T11:49:01.551Z")));
    assert_eq!(report.outcome(), DeliveryOutcome::Delivered);
}

#[test]
fn messagemedia_delivery_outcomes_follow_the_reference() {
    use MessageMediaStatus as S;
    let report = |status: S, code: Option<u32>| MessageMediaDeliveryReport {
        delivery_report_id: "dr".into(),
        message_id: "m".into(),
        recipient: Phone::from_e164(AU).unwrap(),
        status,
        error_code: code,
        metadata: BTreeMap::new(),
        received_at: None,
        submitted_at: None,
    };
    let cases = [
        (S::Delivered, Some(220), DeliveryOutcome::Delivered),
        (S::Enroute, Some(211), DeliveryOutcome::InProgress),
        (S::Submitted, Some(200), DeliveryOutcome::InProgress),
        (S::Failed, Some(411), DeliveryOutcome::InvalidNumber),
        (S::Rejected, Some(413), DeliveryOutcome::InvalidNumber),
        (S::Rejected, Some(302), DeliveryOutcome::Suppressed),
        (S::Failed, Some(412), DeliveryOutcome::Suppressed),
        (S::Rejected, Some(301), DeliveryOutcome::Failed),
        (S::Expired, Some(401), DeliveryOutcome::Failed),
        (S::Failed, None, DeliveryOutcome::Failed),
        (S::Other("held".into()), Some(151), DeliveryOutcome::InProgress),
        (S::Other("done".into()), Some(221), DeliveryOutcome::Delivered),
        (S::Other("odd".into()), Some(412), DeliveryOutcome::Suppressed),
    ];
    for (status, code, expected) in cases {
        assert_eq!(report(status.clone(), code).outcome(), expected, "{status:?} {code:?}");
    }
    assert!(!DeliveryOutcome::InProgress.is_final());
    assert!(DeliveryOutcome::Suppressed.is_final());
}

#[test]
fn malformed_messagemedia_pushes_are_refused_without_echoing_values() {
    let cases: [(&[u8], InboundError); 6] = [
        (b"not json", InboundError::NotJson),
        (b"[1,2]", InboundError::NotJson),
        (br#"{"hello":"world"}"#, InboundError::UnknownKind),
        (
            br#"{"reply_id":"","source_number":"+61412345678","content":"x"}"#,
            InboundError::Missing("reply_id"),
        ),
        (
            br#"{"reply_id":"r","source_number":"+61412345678"}"#,
            InboundError::Missing("content"),
        ),
        (
            br#"{"delivery_report_id":"d","source_number":"+61412345678","status":"delivered"}"#,
            InboundError::Missing("message_id"),
        ),
    ];
    for (body, expected) in cases {
        assert_eq!(
            parse_messagemedia_push(body).unwrap_err(),
            expected,
            "{}",
            String::from_utf8_lossy(body)
        );
    }

    for body in [
        &br#"{"reply_id":"r","source_number":"+6141234","content":"x"}"#[..],
        br#"{"reply_id":"r","source_number":61412345678,"content":"x"}"#,
    ] {
        let error = parse_messagemedia_push(body).unwrap_err();
        assert!(matches!(
            error,
            InboundError::Invalid {
                field: "source_number",
                ..
            }
        ));
        assert!(!error.to_string().contains("6141234"), "{error}");
    }
    let error = parse_messagemedia_push(
        br#"{"reply_id":"r","source_number":"+61412345678","content":"x","metadata":{"a":{"b":1}}}"#,
    )
    .unwrap_err();
    assert!(matches!(error, InboundError::Invalid { field: "metadata", .. }));
    let error = parse_messagemedia_push(
        br#"{"delivery_report_id":"d","message_id":"m","source_number":"+61412345678","status":"failed","error_code":"x41"}"#,
    )
    .unwrap_err();
    assert!(matches!(
        error,
        InboundError::Invalid {
            field: "error_code",
            ..
        }
    ));
}

#[test]
fn twilio_inbound_needs_its_identity_fields() {
    let full = pairs(&[
        ("MessageSid", "SM1"),
        ("AccountSid", "AC1"),
        ("From", US),
        ("To", "+12125550100"),
        ("Body", "HELP"),
        ("NumMedia", "1"),
        ("MessagingServiceSid", "MG1"),
    ]);
    let inbound = TwilioInbound::from_params(&full).unwrap();
    assert_eq!(inbound.num_media, 1);
    assert_eq!(inbound.messaging_service_sid.as_deref(), Some("MG1"));
    assert_eq!(inbound.body, "HELP");

    for missing in ["MessageSid", "AccountSid", "From", "To"] {
        let params: Vec<_> = full.iter().filter(|(k, _)| k != missing).cloned().collect();
        assert!(
            matches!(TwilioInbound::from_params(&params), Err(InboundError::Missing(m)) if m == missing),
            "{missing}"
        );
    }
    let mut bad_from = full.clone();
    bad_from[2].1 = "12122014567".into();
    let error = TwilioInbound::from_params(&bad_from).unwrap_err();
    assert!(matches!(error, InboundError::Invalid { field: "From", .. }));
    assert!(!error.to_string().contains("2122014567"));
}

#[test]
fn twilio_status_outcomes() {
    let callback = |status: &str, code: Option<&str>| {
        let mut params = pairs(&[
            ("MessageSid", "SM1"),
            ("AccountSid", "AC1"),
            ("To", US),
            ("MessageStatus", status),
        ]);
        if let Some(code) = code {
            params.push(("ErrorCode".into(), code.into()));
        }
        TwilioStatusCallback::parse("https://app.example.com/status", &params).unwrap()
    };
    let cases = [
        ("queued", None, DeliveryOutcome::InProgress),
        ("sent", None, DeliveryOutcome::InProgress),
        ("delivered", None, DeliveryOutcome::Delivered),
        ("read", None, DeliveryOutcome::Delivered),
        ("failed", Some("21610"), DeliveryOutcome::Suppressed),
        ("undelivered", Some("30004"), DeliveryOutcome::Suppressed),
        ("undelivered", Some("30006"), DeliveryOutcome::InvalidNumber),
        ("failed", Some("21211"), DeliveryOutcome::InvalidNumber),
        ("undelivered", Some("30003"), DeliveryOutcome::Failed),
        ("failed", None, DeliveryOutcome::Failed),
        ("canceled", None, DeliveryOutcome::Failed),
    ];
    for (status, code, expected) in cases {
        assert_eq!(callback(status, code).outcome(), expected, "{status} {code:?}");
    }
    // An empty ErrorCode is no error code; SmsStatus stands in for MessageStatus.
    let params = pairs(&[
        ("SmsSid", "SM2"),
        ("AccountSid", "AC1"),
        ("To", US),
        ("SmsStatus", "delivered"),
        ("ErrorCode", ""),
    ]);
    let parsed = TwilioStatusCallback::parse("https://x.test/s?meta_step=2#f", &params).unwrap();
    assert_eq!(parsed.message_sid, "SM2");
    assert_eq!(parsed.error_code, None);
    assert_eq!(parsed.metadata["step"], "2");
    assert_eq!(parsed.metadata.len(), 1);
}
