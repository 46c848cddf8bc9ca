//! What the providers push to the app: MessageMedia replies and delivery reports (JSON), Twilio inbound
//! messages and status callbacks (form-encoded, signed with `X-Twilio-Signature`).

use super::{Inner, ProviderApi, SentMessage, SmsSandbox, twilio_signature};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{Value, json};

/// A MessageMedia delivery report status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    Enroute,
    Submitted,
    Delivered,
    Expired,
    Rejected,
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enroute => "enroute",
            Self::Submitted => "submitted",
            Self::Delivered => "delivered",
            Self::Expired => "expired",
            Self::Rejected => "rejected",
            Self::Failed => "failed",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("the sandbox has no message {0}")]
    NoSuchMessage(String),
    #[error("nowhere to push: the message has no callback URL and no account webhook is set")]
    NoWebhookUrl,
    #[error("message {0} was sent without delivery_report: MessageMedia would push no report")]
    DeliveryReportsOff(String),
    #[error("the push did not complete: {0}")]
    Http(#[from] reqwest::Error),
}

/// One push the sandbox made, and the app's answer. Keep it to push the same thing again
/// ([`SmsSandbox::redeliver`]), as providers do when they retry.
#[derive(Debug, Clone)]
pub struct WebhookDelivery {
    pub url: String,
    /// The request headers the sandbox set (content type, custom headers, signature).
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// The HTTP status the app answered.
    pub status: u16,
    pub response_body: String,
}

impl WebhookDelivery {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The JSON body of a MessageMedia push.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    /// The form parameters of a Twilio push, in the order sent.
    pub fn form_params(&self) -> Vec<(String, String)> {
        serde_urlencoded::from_str(&self.body).unwrap_or_default()
    }
}

fn timestamp(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl Inner {
    /// Where MessageMedia pushes about `message`: its own `callback_url` (no custom headers), else the
    /// account webhook (with its headers).
    fn messagemedia_target(&self, message: Option<&SentMessage>) -> Result<(String, Vec<(String, String)>), PushError> {
        if let Some(url) = message.and_then(|m| m.callback_url.clone()) {
            return Ok((url, Vec::new()));
        }
        let state = self.state();
        let webhook = state.webhook.as_ref().ok_or(PushError::NoWebhookUrl)?;
        Ok((webhook.url.clone(), webhook.headers.clone()))
    }

    fn vendor_account(&self) -> Value {
        json!({ "vendor_id": "MessageMedia", "account_id": self.config.api_key })
    }

    async fn post(
        &self,
        url: String,
        headers: Vec<(String, String)>,
        body: String,
    ) -> Result<WebhookDelivery, PushError> {
        let mut request = self.http.post(&url).body(body.clone());
        for (name, value) in &headers {
            request = request.header(name, value);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let response_body = response.text().await.unwrap_or_default();
        Ok(WebhookDelivery {
            url,
            headers,
            body,
            status,
            response_body,
        })
    }
}

impl SmsSandbox {
    /// The handset `from_phone` texts `content` to `to_number` (MessageMedia shape). The reply answers
    /// the latest MessageMedia message sent to `from_phone` from `to_number` (or from the shared pool, if
    /// the message had no `source_number`): its `message_id` and `metadata` are echoed, and it goes to
    /// that message's `callback_url`, else to the account webhook. As documented, `destination_number`
    /// is left out when the original message had no `source_number`.
    pub async fn reply(&self, from_phone: &str, to_number: &str, content: &str) -> Result<WebhookDelivery, PushError> {
        let original = {
            let state = self.inner.state();
            state
                .messages
                .iter()
                .rev()
                .find(|m| {
                    m.api == ProviderApi::MessageMedia
                        && m.to == from_phone
                        && m.from.as_deref().is_none_or(|f| f == to_number)
                })
                .cloned()
        };
        let (url, custom_headers) = self.inner.messagemedia_target(original.as_ref())?;
        let mut payload = json!({
            "reply_id": uuid::Uuid::new_v4().to_string(),
            "date_received": timestamp(self.inner.now()),
            "callback_url": url,
            "source_number": from_phone,
            "content": content,
            "vendor_account_id": self.inner.vendor_account(),
        });
        match &original {
            Some(message) => {
                payload["message_id"] = json!(message.id);
                payload["metadata"] = json!(message.metadata);
                if message.from.is_some() {
                    payload["destination_number"] = json!(to_number);
                }
            }
            None => payload["destination_number"] = json!(to_number),
        }
        self.push_json(url, custom_headers, &payload).await
    }

    /// A delivery report for a MessageMedia message: `status` and the DR `error_code` (e.g. `"220"`
    /// delivered, `"411"` invalid destination, `"412"` destination blocked). Updates the message's status.
    pub async fn deliver_report(
        &self,
        message_id: &str,
        status: DeliveryStatus,
        error_code: &str,
    ) -> Result<WebhookDelivery, PushError> {
        let message = self
            .message(message_id)
            .filter(|m| m.api == ProviderApi::MessageMedia)
            .ok_or_else(|| PushError::NoSuchMessage(message_id.to_owned()))?;
        if !message.delivery_report {
            return Err(PushError::DeliveryReportsOff(message_id.to_owned()));
        }
        let (url, custom_headers) = self.inner.messagemedia_target(Some(&message))?;
        let payload = json!({
            "callback_url": url,
            "delivery_report_id": uuid::Uuid::new_v4().to_string(),
            // In a delivery report the source is the handset the message went to.
            "source_number": message.to,
            "date_received": timestamp(self.inner.now()),
            "status": status.as_str(),
            "delay": 0,
            "billing_units": 1,
            "submitted_date": timestamp(message.accepted_at),
            "original_text": message.content,
            "message_id": message.id,
            "vendor_account_id": self.inner.vendor_account(),
            "error_code": error_code,
            "metadata": message.metadata,
        });
        self.set_status(message_id, status.as_str());
        self.push_json(url, custom_headers, &payload).await
    }

    /// The handset `from` texts `body` to our Twilio number `to`; Twilio posts it to `url` (the number's
    /// configured webhook, exactly as configured: the signature covers it) with a valid
    /// `X-Twilio-Signature`.
    pub async fn twilio_inbound(
        &self,
        from: &str,
        to: &str,
        body: &str,
        url: &str,
    ) -> Result<WebhookDelivery, PushError> {
        let sid = format!("SM{}", uuid::Uuid::new_v4().simple());
        let params: [(&str, &str); 11] = [
            ("SmsMessageSid", &sid),
            ("NumMedia", "0"),
            ("SmsSid", &sid),
            ("SmsStatus", "received"),
            ("Body", body),
            ("To", to),
            ("NumSegments", "1"),
            ("MessageSid", &sid),
            ("AccountSid", &self.inner.config.twilio_account_sid),
            ("From", from),
            ("ApiVersion", "2010-04-01"),
        ];
        let params: Vec<(String, String)> = params.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        self.push_twilio_form(url, &params).await
    }

    /// Twilio's status callback for a message sent with `StatusCallback`: `status` is Twilio's word
    /// (`sent`, `delivered`, `undelivered`, `failed`...), `error_code` e.g. `"30003"`. Updates the
    /// message's status.
    pub async fn twilio_status_callback(
        &self,
        message_sid: &str,
        status: &str,
        error_code: Option<&str>,
    ) -> Result<WebhookDelivery, PushError> {
        let message = self
            .message(message_sid)
            .filter(|m| m.api == ProviderApi::Twilio)
            .ok_or_else(|| PushError::NoSuchMessage(message_sid.to_owned()))?;
        let url = message.callback_url.clone().ok_or(PushError::NoWebhookUrl)?;
        let mut params = vec![
            ("SmsSid", message.id.clone()),
            ("SmsStatus", status.to_owned()),
            ("MessageStatus", status.to_owned()),
            ("To", message.to.clone()),
            ("MessageSid", message.id.clone()),
            ("AccountSid", self.inner.config.twilio_account_sid.clone()),
            ("ApiVersion", "2010-04-01".to_owned()),
        ];
        if let Some(from) = &message.from {
            params.push(("From", from.clone()));
        }
        if let Some(service) = &message.messaging_service_sid {
            params.push(("MessagingServiceSid", service.clone()));
        }
        if let Some(code) = error_code {
            params.push(("ErrorCode", code.to_owned()));
        }
        let params: Vec<(String, String)> = params.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        self.set_status(message_sid, status);
        self.push_twilio_form(&url, &params).await
    }

    /// Pushes exactly the same request again (same `reply_id`, `delivery_report_id` or `MessageSid`, same
    /// signature): a provider retrying after a timeout or a non-2xx answer.
    pub async fn redeliver(&self, delivery: &WebhookDelivery) -> Result<WebhookDelivery, PushError> {
        self.inner
            .post(delivery.url.clone(), delivery.headers.clone(), delivery.body.clone())
            .await
    }

    fn set_status(&self, id: &str, status: &str) {
        if let Some(message) = self.inner.state().messages.iter_mut().find(|m| m.id == id) {
            message.status = status.to_owned();
        }
    }

    async fn push_json(
        &self,
        url: String,
        mut headers: Vec<(String, String)>,
        payload: &Value,
    ) -> Result<WebhookDelivery, PushError> {
        headers.insert(0, ("Content-Type".into(), "application/json".into()));
        let body = payload.to_string();
        if let Some(key) = &self.inner.config.messagemedia_signing_key {
            headers.extend(messagemedia_signature_headers(key, &url, &body, self.inner.now()));
        }
        self.inner.post(url, headers, body).await
    }

    async fn push_twilio_form(&self, url: &str, params: &[(String, String)]) -> Result<WebhookDelivery, PushError> {
        let signature = twilio_signature(&self.inner.config.twilio_auth_token, url, params);
        let body = serde_urlencoded::to_string(params).expect("string pairs always encode");
        let headers = vec![
            (
                "Content-Type".to_owned(),
                "application/x-www-form-urlencoded".to_owned(),
            ),
            ("X-Twilio-Signature".to_owned(), signature),
        ];
        self.inner.post(url.to_owned(), headers, body).await
    }
}

/// The headers of a signed MessageMedia push: RSA (PKCS #1 v1.5, SHA-256) over request line, `Date` and body.
fn messagemedia_signature_headers(
    key: &rsa::RsaPrivateKey,
    url: &str,
    body: &str,
    now: DateTime<Utc>,
) -> Vec<(String, String)> {
    use base64::Engine;
    use rsa::signature::{SignatureEncoding, Signer};
    let target = url
        .split_once("://")
        .and_then(|(_, rest)| rest.find('/').map(|slash| &rest[slash..]))
        .unwrap_or("/");
    let date = now.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    let mut signed = format!("POST {target} HTTP/1.1{date}").into_bytes();
    signed.extend_from_slice(body.as_bytes());
    let signature = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(key.clone()).sign(&signed);
    vec![
        ("Date".into(), date),
        ("X-MESSAGEMEDIA-KEY-ID".into(), "sandbox-signature-key".into()),
        ("X-MESSAGEMEDIA-CIPHER-TYPE".into(), "RSA".into()),
        ("X-MESSAGEMEDIA-DIGEST-TYPE".into(), "SHA256".into()),
        (
            "X-MESSAGEMEDIA-SIGNATURE".into(),
            base64::engine::general_purpose::STANDARD.encode(signature.to_bytes()),
        ),
    ]
}
