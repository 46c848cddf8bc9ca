use super::*;
use serde_json::{Value, json};

const US_PHONE: &str = "+12122014567";
const AU_PHONE: &str = "+61491570156";
const OUR_NUMBER: &str = "+61491570157";

async fn sandbox() -> SmsSandbox {
    SmsSandbox::start(SandboxConfig::default()).await.unwrap()
}

fn mm_post(sandbox: &SmsSandbox, body: &Value) -> reqwest::RequestBuilder {
    let config = sandbox.config();
    reqwest::Client::new()
        .post(format!("{}/v1/messages", sandbox.api_url()))
        .basic_auth(&config.api_key, Some(&config.api_secret))
        .json(body)
}

fn twilio_post(sandbox: &SmsSandbox, params: &[(&str, &str)]) -> reqwest::RequestBuilder {
    let config = sandbox.config();
    reqwest::Client::new()
        .post(format!(
            "{}/2010-04-01/Accounts/{}/Messages.json",
            sandbox.api_url(),
            config.twilio_account_sid
        ))
        .basic_auth(&config.twilio_account_sid, Some(&config.twilio_auth_token))
        .form(params)
}

async fn status_and_json(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn valid_message() -> Value {
    json!({
        "content": "Your cart is waiting. Reply STOP to opt out",
        "destination_number": US_PHONE,
        "delivery_report": true,
        "metadata": {"store_hash": "abc123", "cart_id": "c-1", "step": "1"},
        "message_expiry_timestamp": "2030-01-01T12:00:00Z",
    })
}

#[tokio::test]
async fn sms_messagemedia_rejects_wrong_or_missing_credentials() {
    let sandbox = sandbox().await;
    let url = format!("{}/v1/messages", sandbox.api_url());
    let body = json!({"messages": [valid_message()]});
    for request in [
        reqwest::Client::new()
            .post(&url)
            .basic_auth("sandbox", Some("wrong"))
            .json(&body),
        reqwest::Client::new().post(&url).json(&body),
    ] {
        let (status, json) = status_and_json(request).await;
        assert_eq!(status, 401);
        assert_eq!(json, json!({"message": "Invalid authentication credentials"}));
    }
    assert!(sandbox.messages().is_empty());
}

#[tokio::test]
async fn sms_messagemedia_accepts_and_records_a_batch() {
    let sandbox = sandbox().await;
    let mut second = valid_message();
    second["destination_number"] = json!(AU_PHONE);
    second["source_number"] = json!(OUR_NUMBER);
    let (status, json) = status_and_json(
        mm_post(&sandbox, &json!({"messages": [valid_message(), second]})).header("Idempotency-Key", "abc123/c-1/1"),
    )
    .await;
    assert_eq!(status, 202);
    let echoed = json["messages"].as_array().unwrap();
    assert_eq!(echoed.len(), 2);
    for message in echoed {
        assert_eq!(message["status"], "queued");
        let id = message["message_id"].as_str().unwrap();
        assert_eq!(id.len(), 36);
        assert!(uuid::Uuid::parse_str(id).is_ok());
        assert_eq!(message["format"], "SMS");
    }
    assert_eq!(echoed[0]["metadata"]["cart_id"], "c-1");

    let recorded = sandbox.messages_to(US_PHONE);
    assert_eq!(recorded.len(), 1);
    let message = &recorded[0];
    assert_eq!(message.api, ProviderApi::MessageMedia);
    assert_eq!(message.id, echoed[0]["message_id"].as_str().unwrap());
    assert_eq!(message.metadata["store_hash"], "abc123");
    assert!(message.delivery_report);
    assert_eq!(message.expires_at.unwrap().to_rfc3339(), "2030-01-01T12:00:00+00:00");
    assert_eq!(message.idempotency_key.as_deref(), Some("abc123/c-1/1"));
    assert_eq!(sandbox.messages_to(AU_PHONE)[0].from.as_deref(), Some(OUR_NUMBER));
    // Two messages of one request share its key: that is a double send to the sandbox's eyes.
    assert_eq!(sandbox.duplicate_idempotency_keys(), vec!["abc123/c-1/1"]);

    let config = sandbox.config();
    let (status, fetched) = status_and_json(
        reqwest::Client::new()
            .get(format!("{}/v1/messages/{}", sandbox.api_url(), message.id))
            .basic_auth(&config.api_key, Some(&config.api_secret)),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(fetched["status"], "queued");
    assert_eq!(fetched["destination_number"], US_PHONE);

    sandbox.clear();
    assert!(sandbox.messages().is_empty());
}

#[tokio::test]
async fn sms_messagemedia_batch_is_atomic_and_reports_every_problem() {
    let sandbox = sandbox().await;
    let mut bad = valid_message();
    bad["content"] = json!("");
    bad["destination_number"] = json!("0412345678");
    let (status, json) = status_and_json(mm_post(&sandbox, &json!({"messages": [valid_message(), bad]}))).await;
    assert_eq!(status, 400);
    let details: Vec<&str> = json["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap())
        .collect();
    assert_eq!(details.len(), 2, "{details:?}");
    assert!(details[0].starts_with("messages[1].content"));
    assert!(details[1].starts_with("messages[1].destination_number"));
    assert!(json["message"].is_string());
    assert!(sandbox.messages().is_empty(), "nothing of a bad batch is sent");
}

#[tokio::test]
async fn sms_messagemedia_validation_rules() {
    let sandbox = sandbox().await;
    let eleven_pairs: serde_json::Map<String, Value> = (0..11).map(|i| (format!("k{i}"), json!("v"))).collect();
    let cases: Vec<(&str, Value)> = vec![
        ("content", json!("x".repeat(5001))),
        ("destination_number", json!("+1234567")),
        ("destination_number", json!("+1234567890123456")),
        ("destination_number", json!(12122014567u64)),
        ("metadata", Value::Object(eleven_pairs)),
        ("metadata", json!({ "k".repeat(101): "v" })),
        ("metadata", json!({"cart_id": "v".repeat(257)})),
        ("metadata", json!({"step": 1})),
        ("message_expiry_timestamp", json!("tomorrow")),
        ("scheduled", json!("2030-01-01T12:00:00")),
        ("delivery_report", json!("yes")),
        ("callback_url", json!("ftp://example.com")),
        ("source_number", json!("Too long a sender")),
        ("source_number_type", json!("INTERNATIONAL")),
        ("format", json!("FAX")),
        ("message_id", json!("client-chosen")),
        ("message_expiry", json!("2030-01-01T12:00:00Z")),
    ];
    for (field, value) in cases {
        let shown: String = value.to_string().chars().take(40).collect();
        let mut message = valid_message();
        message[field] = value;
        let (status, json) = status_and_json(mm_post(&sandbox, &json!({"messages": [message]}))).await;
        assert_eq!(status, 400, "{field} = {shown}");
        assert!(json["details"][0].as_str().unwrap().contains(field), "{field}: {json}");
    }
    // Expiry before the scheduled time can never be delivered.
    let mut message = valid_message();
    message["scheduled"] = json!("2030-01-02T00:00:00Z");
    let (status, _) = status_and_json(mm_post(&sandbox, &json!({"messages": [message]}))).await;
    assert_eq!(status, 400);

    let batch = |n: usize| json!({"messages": vec![valid_message(); n]});
    assert_eq!(status_and_json(mm_post(&sandbox, &batch(0))).await.0, 400);
    assert_eq!(status_and_json(mm_post(&sandbox, &batch(101))).await.0, 400);
    assert_eq!(status_and_json(mm_post(&sandbox, &batch(100))).await.0, 202);
    assert_eq!(sandbox.messages().len(), 100);

    // The edges that are allowed.
    let mut message = valid_message();
    message["content"] = json!("é".repeat(5000));
    message["metadata"] = Value::Object(
        (0..10)
            .map(|i| (format!("{i}{}", "k".repeat(99)), json!("v".repeat(256))))
            .collect(),
    );
    message["source_number"] = json!("MyShop");
    message["source_number_type"] = json!("ALPHANUMERIC");
    let (status, json) = status_and_json(mm_post(&sandbox, &json!({"messages": [message]}))).await;
    assert_eq!(status, 202, "{json}");
}

#[tokio::test]
async fn sms_marked_invalid_numbers_are_refused_by_both_apis() {
    let sandbox = sandbox().await;
    sandbox.mark_invalid(US_PHONE);
    let (status, json) = status_and_json(mm_post(&sandbox, &json!({"messages": [valid_message()]}))).await;
    assert_eq!(status, 400);
    assert!(json["details"][0].as_str().unwrap().contains("destination_number"));

    let (status, json) = status_and_json(twilio_post(
        &sandbox,
        &[("To", US_PHONE), ("From", "+12125550100"), ("Body", "hi")],
    ))
    .await;
    assert_eq!(status, 400);
    assert_eq!(json["code"], 21211);
    assert!(sandbox.messages().is_empty());
}

#[tokio::test]
async fn sms_twilio_send_records_and_answers_201() {
    let sandbox = sandbox().await;
    let (status, json) = status_and_json(
        twilio_post(
            &sandbox,
            &[
                ("To", US_PHONE),
                ("From", "+12125550100"),
                ("Body", "Your cart is waiting"),
                ("StatusCallback", "https://app.example.com/twilio/status"),
                ("ValidityPeriod", "3600"),
            ],
        )
        .header("Idempotency-Key", "k1"),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(json["status"], "queued");
    let sid = json["sid"].as_str().unwrap();
    assert!(sid.starts_with("SM") && sid.len() == 34, "{sid}");

    let message = sandbox.message(sid).unwrap();
    assert_eq!(message.api, ProviderApi::Twilio);
    assert_eq!(message.to, US_PHONE);
    assert_eq!(message.from.as_deref(), Some("+12125550100"));
    assert_eq!(message.validity_period, Some(3600));
    assert_eq!(
        message.expires_at.unwrap() - message.accepted_at,
        chrono::Duration::hours(1)
    );
    assert_eq!(
        message.callback_url.as_deref(),
        Some("https://app.example.com/twilio/status")
    );
    assert_eq!(message.request["Body"], "Your cart is waiting");

    let config = sandbox.config();
    let (status, fetched) = status_and_json(
        reqwest::Client::new()
            .get(format!(
                "{}/2010-04-01/Accounts/{}/Messages/{sid}.json",
                sandbox.api_url(),
                config.twilio_account_sid
            ))
            .basic_auth(&config.twilio_account_sid, Some(&config.twilio_auth_token)),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(fetched["sid"], sid);
}

#[tokio::test]
async fn sms_twilio_errors_use_twilio_codes() {
    let sandbox = sandbox().await;
    sandbox.opt_out_at_carrier(AU_PHONE);
    let from = ("From", "+12125550100");
    let long_body = "x".repeat(1601);
    type Params<'a> = Vec<(&'a str, &'a str)>;
    let cases: Vec<(Params, u16, u32)> = vec![
        (vec![("To", AU_PHONE), from, ("Body", "hi")], 400, 21610),
        (vec![("To", "12122014567"), from, ("Body", "hi")], 400, 21211),
        (vec![from, ("Body", "hi")], 400, 21604),
        (vec![("To", US_PHONE), ("Body", "hi")], 400, 21603),
        (vec![("To", US_PHONE), from], 400, 21602),
        (vec![("To", US_PHONE), from, ("Body", &long_body)], 400, 21617),
        (
            vec![("To", US_PHONE), from, ("Body", "hi"), ("ValidityPeriod", "36001")],
            400,
            21624,
        ),
    ];
    for (params, status, code) in cases {
        let (got_status, json) = status_and_json(twilio_post(&sandbox, &params)).await;
        assert_eq!(
            (got_status, json["code"].as_u64()),
            (status, Some(code as u64)),
            "{params:?}"
        );
        assert_eq!(json["status"], status);
    }

    let (status, json) = status_and_json(
        reqwest::Client::new()
            .post(format!(
                "{}/2010-04-01/Accounts/{}/Messages.json",
                sandbox.api_url(),
                sandbox.config().twilio_account_sid
            ))
            .basic_auth(&sandbox.config().twilio_account_sid, Some("wrong"))
            .form(&[("To", US_PHONE), from, ("Body", "hi")]),
    )
    .await;
    assert_eq!((status, json["code"].as_u64()), (401, Some(20003)));

    // A Messaging Service instead of From is fine, and the number can opt back in.
    sandbox.opt_in_at_carrier(AU_PHONE);
    let (status, json) = status_and_json(twilio_post(
        &sandbox,
        &[
            ("To", AU_PHONE),
            ("MessagingServiceSid", "MG00000000000000000000000000000000"),
            ("Body", "hi"),
        ],
    ))
    .await;
    assert_eq!(status, 201);
    assert_eq!(json["status"], "accepted");
    assert_eq!(sandbox.messages().len(), 1);
}

#[tokio::test]
async fn sms_faults_fail_the_next_sends_in_order() {
    let sandbox = sandbox().await;
    sandbox.fail_next(1, 500);
    sandbox.fail_next(1, 503);
    let body = json!({"messages": [valid_message()]});
    let (status, json) = status_and_json(mm_post(&sandbox, &body)).await;
    assert_eq!(status, 500);
    assert!(json["message"].is_string());
    let (status, json) = status_and_json(twilio_post(
        &sandbox,
        &[("To", US_PHONE), ("From", "+12125550100"), ("Body", "hi")],
    ))
    .await;
    assert_eq!((status, json["code"].as_u64()), (503, Some(20503)));
    assert!(sandbox.messages().is_empty());
    assert_eq!(status_and_json(mm_post(&sandbox, &body)).await.0, 202);

    sandbox.fail_next(3, 500);
    sandbox.clear_faults();
    assert_eq!(status_and_json(mm_post(&sandbox, &body)).await.0, 202);
}

#[tokio::test]
async fn sms_slow_answers_still_send() {
    let sandbox = sandbox().await;
    sandbox.delay_next(1, Duration::from_millis(500));
    let result = mm_post(&sandbox, &json!({"messages": [valid_message()]}))
        .timeout(Duration::from_millis(100))
        .send()
        .await;
    assert!(result.unwrap_err().is_timeout());
    assert_eq!(
        sandbox.messages().len(),
        1,
        "the provider took the message although the client gave up"
    );
}

#[tokio::test]
async fn sms_reply_echoes_the_original_message_to_its_callback_url() {
    let sandbox = sandbox().await;
    let inbox = WebhookInbox::start().await.unwrap();
    let mut message = valid_message();
    message["source_number"] = json!(OUR_NUMBER);
    message["callback_url"] = json!(inbox.url("/webhooks/messagemedia/secret-token"));
    message["destination_number"] = json!(AU_PHONE);
    let (_, sent) = status_and_json(mm_post(&sandbox, &json!({"messages": [message]}))).await;
    let message_id = sent["messages"][0]["message_id"].as_str().unwrap();
    sandbox.set_webhook(&inbox.url("/account-hook"), &[("X-Hook-Secret", "s3")]);

    let delivery = sandbox.reply(AU_PHONE, OUR_NUMBER, "STOP").await.unwrap();
    assert_eq!(delivery.status, 200);
    let requests = inbox.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.path_and_query, "/webhooks/messagemedia/secret-token");
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(
        request.header("x-hook-secret"),
        None,
        "per-message callbacks carry no custom headers"
    );
    let payload: Value = serde_json::from_str(&request.body).unwrap();
    assert_eq!(payload["message_id"], message_id);
    assert_eq!(payload["source_number"], AU_PHONE);
    assert_eq!(payload["destination_number"], OUR_NUMBER);
    assert_eq!(payload["content"], "STOP");
    assert_eq!(payload["metadata"]["cart_id"], "c-1");
    assert_eq!(payload["vendor_account_id"]["vendor_id"], "MessageMedia");
    assert!(uuid::Uuid::parse_str(payload["reply_id"].as_str().unwrap()).is_ok());
    assert!(chrono::DateTime::parse_from_rfc3339(payload["date_received"].as_str().unwrap()).is_ok());

    // A provider retry sends the very same reply.
    inbox.answer_with(500);
    let again = sandbox.redeliver(&delivery).await.unwrap();
    assert_eq!(again.status, 500);
    let requests = inbox.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[1].body, requests[0].body);
}

#[tokio::test]
async fn sms_reply_without_an_original_goes_to_the_account_webhook() {
    let sandbox = sandbox().await;
    let inbox = WebhookInbox::start().await.unwrap();
    assert!(matches!(
        sandbox.reply(AU_PHONE, OUR_NUMBER, "hi").await,
        Err(PushError::NoWebhookUrl)
    ));
    sandbox.set_webhook(&inbox.url("/account-hook"), &[("X-Hook-Secret", "s3")]);
    let delivery = sandbox.reply(AU_PHONE, OUR_NUMBER, "hello?").await.unwrap();
    assert!(delivery.is_success());
    let request = &inbox.requests()[0];
    assert_eq!(request.path_and_query, "/account-hook");
    assert_eq!(request.header("x-hook-secret"), Some("s3"));
    let payload = delivery.json();
    assert_eq!(payload["destination_number"], OUR_NUMBER);
    assert!(payload.get("message_id").is_none());
    assert!(payload.get("metadata").is_none());
}

#[tokio::test]
async fn sms_reply_to_a_pool_number_message_has_no_destination_number() {
    let sandbox = sandbox().await;
    let inbox = WebhookInbox::start().await.unwrap();
    sandbox.set_webhook(&inbox.url("/hook"), &[]);
    let (_, sent) = status_and_json(mm_post(&sandbox, &json!({"messages": [valid_message()]}))).await;
    let delivery = sandbox.reply(US_PHONE, "+12125550100", "Stop.").await.unwrap();
    let payload = delivery.json();
    assert_eq!(payload["message_id"], sent["messages"][0]["message_id"]);
    assert!(payload.get("destination_number").is_none());
    assert_eq!(payload["metadata"]["store_hash"], "abc123");
}

#[tokio::test]
async fn sms_delivery_report_describes_the_original_and_updates_its_status() {
    let sandbox = sandbox().await;
    let inbox = WebhookInbox::start().await.unwrap();
    let mut message = valid_message();
    message["callback_url"] = json!(inbox.url("/dr"));
    let (_, sent) = status_and_json(mm_post(&sandbox, &json!({"messages": [message]}))).await;
    let id = sent["messages"][0]["message_id"].as_str().unwrap();

    let delivery = sandbox
        .deliver_report(id, DeliveryStatus::Rejected, "412")
        .await
        .unwrap();
    assert_eq!(delivery.status, 200);
    let payload = delivery.json();
    assert_eq!(payload["message_id"], id);
    assert_eq!(payload["source_number"], US_PHONE);
    assert_eq!(payload["status"], "rejected");
    assert_eq!(payload["error_code"], "412");
    assert_eq!(payload["metadata"]["step"], "1");
    assert!(payload["delivery_report_id"].is_string());
    assert_eq!(sandbox.message(id).unwrap().status, "rejected");

    assert!(matches!(
        sandbox.deliver_report("nope", DeliveryStatus::Delivered, "220").await,
        Err(PushError::NoSuchMessage(_))
    ));
    let mut quiet = valid_message();
    quiet["delivery_report"] = json!(false);
    quiet["callback_url"] = json!(inbox.url("/dr"));
    let (_, sent) = status_and_json(mm_post(&sandbox, &json!({"messages": [quiet]}))).await;
    let id = sent["messages"][0]["message_id"].as_str().unwrap();
    assert!(matches!(
        sandbox.deliver_report(id, DeliveryStatus::Delivered, "220").await,
        Err(PushError::DeliveryReportsOff(_))
    ));
}

/// Computed independently with Python:
/// `base64.b64encode(hmac.new(b"12345", (url + "".join(k + v for k, v in sorted(params))).encode(),
/// hashlib.sha1).digest())` over Twilio's documented example; the result matches Twilio's docs.
#[test]
fn sms_twilio_signature_matches_an_independent_computation() {
    let params: Vec<(String, String)> = [
        ("To", "+18005551212"),
        ("Caller", "+12349013030"),
        ("Digits", "1234"),
        ("From", "+12349013030"),
        ("CallSid", "CA1234567890ABCDE"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    assert_eq!(
        twilio_signature("12345", "https://mycompany.com/myapp.php?foo=1&bar=2", &params),
        "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    );
}

#[tokio::test]
async fn sms_twilio_inbound_is_form_encoded_and_signed() {
    let sandbox = sandbox().await;
    let inbox = WebhookInbox::start().await.unwrap();
    let url = inbox.url("/webhooks/twilio?store=abc123");
    let delivery = sandbox
        .twilio_inbound(US_PHONE, "+12125550100", "STOP", &url)
        .await
        .unwrap();
    assert_eq!(delivery.status, 200);
    let request = &inbox.requests()[0];
    assert_eq!(request.path_and_query, "/webhooks/twilio?store=abc123");
    assert_eq!(
        request.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    let params: Vec<(String, String)> = serde_urlencoded::from_str(&request.body).unwrap();
    let get = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    assert_eq!(get("From"), Some(US_PHONE));
    assert_eq!(get("Body"), Some("STOP"));
    assert_eq!(get("AccountSid"), Some(sandbox.config().twilio_account_sid.as_str()));
    assert!(get("MessageSid").unwrap().starts_with("SM"));
    let expected = twilio_signature(&sandbox.config().twilio_auth_token, &url, &params);
    assert_eq!(request.header("x-twilio-signature"), Some(expected.as_str()));
    // The signature covers the URL: a different one does not match.
    assert_ne!(
        twilio_signature(
            &sandbox.config().twilio_auth_token,
            &inbox.url("/webhooks/twilio"),
            &params
        ),
        expected
    );
}

#[tokio::test]
async fn sms_twilio_status_callback_goes_to_the_message_status_callback() {
    let sandbox = sandbox().await;
    let inbox = WebhookInbox::start().await.unwrap();
    let callback = inbox.url("/twilio/status");
    let (_, json) = status_and_json(twilio_post(
        &sandbox,
        &[
            ("To", US_PHONE),
            ("From", "+12125550100"),
            ("Body", "hi"),
            ("StatusCallback", &callback),
        ],
    ))
    .await;
    let sid = json["sid"].as_str().unwrap();
    let delivery = sandbox
        .twilio_status_callback(sid, "undelivered", Some("30006"))
        .await
        .unwrap();
    assert_eq!(delivery.url, callback);
    let params = delivery.form_params();
    assert!(params.contains(&("MessageStatus".into(), "undelivered".into())));
    assert!(params.contains(&("ErrorCode".into(), "30006".into())));
    assert!(params.contains(&("MessageSid".into(), sid.to_owned())));
    assert_eq!(
        delivery.header("X-Twilio-Signature"),
        Some(twilio_signature(&sandbox.config().twilio_auth_token, &callback, &params).as_str())
    );
    assert_eq!(sandbox.message(sid).unwrap().status, "undelivered");
    assert_eq!(inbox.requests().len(), 1);
}

#[tokio::test]
async fn sms_sandbox_clock_stamps_messages() {
    let sandbox = sandbox().await;
    let fixed = chrono::DateTime::parse_from_rfc3339("2025-03-01T09:00:00Z")
        .unwrap()
        .with_timezone(&Utc);
    sandbox.set_clock(move || fixed);
    status_and_json(mm_post(&sandbox, &json!({"messages": [valid_message()]}))).await;
    assert_eq!(sandbox.messages()[0].accepted_at, fixed);
}

#[tokio::test]
async fn sms_sandbox_lists_messages_over_http_for_the_demo() {
    let sandbox = sandbox().await;
    let mut other = valid_message();
    other["destination_number"] = json!(AU_PHONE);
    status_and_json(mm_post(&sandbox, &json!({"messages": [valid_message(), other]}))).await;
    let url = format!("{}/_sandbox/messages", sandbox.api_url());
    let (status, all) = status_and_json(reqwest::Client::new().get(&url)).await;
    assert_eq!(status, 200);
    assert_eq!(all.as_array().unwrap().len(), 2);
    let (_, to_au) = status_and_json(reqwest::Client::new().get(&url).query(&[("to", AU_PHONE)])).await;
    let to_au = to_au.as_array().unwrap();
    assert_eq!(to_au.len(), 1);
    assert_eq!(to_au[0]["to"], AU_PHONE);
    assert_eq!(to_au[0]["api"], "messagemedia");
    assert_eq!(to_au[0]["metadata"]["cart_id"], "c-1");
}
