//! The configuration contract: every value comes from the environment (template.yaml sets it in AWS,
//! `cargo xtask dev` and the test harness set it locally). Every external base URL is overridable so the
//! whole system can be pointed at simulators.

use crate::Secret;
use crate::clock::{Clock, ScaledClock, SystemClock};
use chrono::{DateTime, Utc};
use std::collections::HashMap;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    #[error("environment variable {name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

/// Reads variables from a map (tests) or the process environment (Lambda).
#[derive(Clone, Default)]
pub struct Env(HashMap<String, String>);

/// Names only: once the app secret is added (see [`crate::app_secret`]) the values include secrets.
impl std::fmt::Debug for Env {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<_> = self.0.keys().collect();
        names.sort();
        f.debug_tuple("Env").field(&names).finish()
    }
}

impl Env {
    pub fn from_process() -> Self {
        Self(std::env::vars().collect())
    }

    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self(pairs.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect())
    }

    /// Sets a variable (the app secret's values are added this way, see [`crate::app_secret`]).
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        self.0.insert(name.to_owned(), value.into());
    }

    /// A variable that may be absent (empty counts as absent).
    pub fn optional(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str).filter(|v| !v.trim().is_empty())
    }

    /// A variable that must be set.
    pub fn required(&self, name: &'static str) -> Result<String, ConfigError> {
        self.optional(name).map(str::to_owned).ok_or(ConfigError::Missing(name))
    }

    fn url(&self, name: &'static str, default: Option<&str>) -> Result<String, ConfigError> {
        let value = match (self.optional(name), default) {
            (Some(v), _) => v.to_owned(),
            (None, Some(d)) => d.to_owned(),
            (None, None) => return Err(ConfigError::Missing(name)),
        };
        if !(value.starts_with("https://") || value.starts_with("http://")) {
            return Err(ConfigError::Invalid {
                name,
                reason: "must be an http(s) URL".into(),
            });
        }
        Ok(value.trim_end_matches('/').to_owned())
    }
}

/// Where our AWS resources are (`TABLE_NAME`, `SYNC_QUEUE_URL`, `BULK_SYNC_QUEUE_URL`, `SEND_QUEUE_URL`,
/// `EVENT_BUS_NAME`).
/// The SDK itself is configured by the standard AWS variables (`AWS_REGION`, `AWS_ENDPOINT_URL`, ...).
#[derive(Debug, Clone)]
pub struct AwsResources {
    pub table_name: String,
    pub sync_queue_url: String,
    pub bulk_sync_queue_url: String,
    pub send_queue_url: String,
    pub event_bus_name: String,
}

impl AwsResources {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            table_name: env.required("TABLE_NAME")?,
            sync_queue_url: env.required("SYNC_QUEUE_URL")?,
            bulk_sync_queue_url: env.required("BULK_SYNC_QUEUE_URL")?,
            send_queue_url: env.required("SEND_QUEUE_URL")?,
            event_bus_name: env.required("EVENT_BUS_NAME")?,
        })
    }
}

/// `APP_URL`: the public base URL of the app (the HTTP API), used for callback URLs, the checkout script,
/// recovery links and opt-out pages.
#[derive(Debug, Clone)]
pub struct AppUrl(String);

impl AppUrl {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        env.url("APP_URL", None).map(Self)
    }

    pub fn new(url: &str) -> Self {
        Self(url.trim_end_matches('/').to_owned())
    }

    /// `path` must start with `/`.
    pub fn join(&self, path: &str) -> String {
        format!("{}{}", self.0, path)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The app's BigCommerce credentials and API locations (`BC_*`).
#[derive(Debug, Clone)]
pub struct BigCommerceConfig {
    pub client_id: String,
    /// Needed only where tokens are exchanged and callbacks verified (install, webhooks): functions that only
    /// call store APIs with stored tokens run without it. Use [`BigCommerceConfig::require_client_secret`].
    pub client_secret: Secret,
    /// `BC_API_URL`, default `https://api.bigcommerce.com`.
    pub api_url: String,
    /// `BC_LOGIN_URL`, default `https://login.bigcommerce.com`.
    pub login_url: String,
}

impl BigCommerceConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            client_id: env.required("BC_CLIENT_ID")?,
            client_secret: Secret::new(env.optional("BC_CLIENT_SECRET").unwrap_or_default()),
            api_url: env.url("BC_API_URL", Some("https://api.bigcommerce.com"))?,
            login_url: env.url("BC_LOGIN_URL", Some("https://login.bigcommerce.com"))?,
        })
    }
}

impl BigCommerceConfig {
    /// Fails unless `BC_CLIENT_SECRET` was set.
    pub fn require_client_secret(self) -> Result<Self, ConfigError> {
        if self.client_secret.is_empty() {
            Err(ConfigError::Missing("BC_CLIENT_SECRET"))
        } else {
            Ok(self)
        }
    }
}

/// Which SMS provider sends, with its credentials (`SMS_PROVIDER` and the provider's variables).
#[derive(Debug, Clone)]
pub enum SmsConfig {
    /// `MESSAGEMEDIA_API_KEY`, `MESSAGEMEDIA_API_SECRET`, `MESSAGEMEDIA_API_URL` (default
    /// `https://api.messagemedia.com`).
    MessageMedia {
        api_key: String,
        api_secret: Secret,
        api_url: String,
    },
    /// `TWILIO_ACCOUNT_SID`, `TWILIO_AUTH_TOKEN`, `TWILIO_API_URL` (default `https://api.twilio.com`).
    Twilio {
        account_sid: String,
        auth_token: Secret,
        api_url: String,
    },
    /// The local sandbox provider: MessageMedia's API shape at `SANDBOX_SMS_API_URL`.
    Sandbox { api_url: String },
}

impl SmsConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        match env.optional("SMS_PROVIDER").unwrap_or("sandbox") {
            "messagemedia" => Ok(Self::MessageMedia {
                api_key: env.required("MESSAGEMEDIA_API_KEY")?,
                api_secret: Secret::new(env.required("MESSAGEMEDIA_API_SECRET")?),
                api_url: env.url("MESSAGEMEDIA_API_URL", Some("https://api.messagemedia.com"))?,
            }),
            "twilio" => Ok(Self::Twilio {
                account_sid: env.required("TWILIO_ACCOUNT_SID")?,
                auth_token: Secret::new(env.required("TWILIO_AUTH_TOKEN")?),
                api_url: env.url("TWILIO_API_URL", Some("https://api.twilio.com"))?,
            }),
            "sandbox" => Ok(Self::Sandbox {
                api_url: env.url("SANDBOX_SMS_API_URL", None)?,
            }),
            other => Err(ConfigError::Invalid {
                name: "SMS_PROVIDER",
                reason: format!("{other:?} is not one of messagemedia, twilio, sandbox"),
            }),
        }
    }
}

/// `SMS_WEBHOOK_TOKEN`: the secret path token of our SMS provider callback URLs
/// (`/webhooks/messagemedia/{token}`, `/webhooks/twilio/{token}`): only a caller who knows it gets through;
/// MessageMedia pushes must also be signed in a deployment (see [`messagemedia_callbacks`]).
pub fn sms_webhook_token(env: &Env) -> Result<Secret, ConfigError> {
    let token = env.required("SMS_WEBHOOK_TOKEN")?;
    if token.len() < 16 {
        return Err(ConfigError::Invalid {
            name: "SMS_WEBHOOK_TOKEN",
            reason: "must be at least 16 characters".into(),
        });
    }
    Ok(Secret::new(token))
}

/// The lowest `BULK_IMPORT_CONTACTS_PER_SECOND`: a page of 250 customers then spans at most 12.5 s of the
/// budget, so with the bulk queue's two pollers no page waits longer than a sync invocation can.
pub const MIN_BULK_IMPORT_CONTACTS_PER_SECOND: u32 = 20;

/// `BULK_IMPORT_CONTACTS_PER_SECOND`: the deployment's budget for bulk-imported contacts, shared by every
/// store's bulk sync, so one store's import leaves the table's throughput to the other stores' live work.
/// Unset: no pacing (the local tooling and the tests).
pub fn bulk_import_contacts_per_second(env: &Env) -> Result<Option<std::num::NonZeroU32>, ConfigError> {
    const NAME: &str = "BULK_IMPORT_CONTACTS_PER_SECOND";
    let Some(value) = env.optional(NAME) else {
        return Ok(None);
    };
    match value.trim().parse::<u32>() {
        Ok(budget) if budget >= MIN_BULK_IMPORT_CONTACTS_PER_SECOND => Ok(std::num::NonZeroU32::new(budget)),
        _ => Err(ConfigError::Invalid {
            name: NAME,
            reason: format!(
                "must be a whole number of contacts per second, at least {MIN_BULK_IMPORT_CONTACTS_PER_SECOND}"
            ),
        }),
    }
}

/// `APP_ENVIRONMENT=local`: set only by the local tooling (`cargo xtask dev`, the test harness), never by
/// `template.yaml`. Anything else is a deployment.
pub fn is_local_tooling(env: &Env) -> bool {
    env.optional("APP_ENVIRONMENT") == Some("local")
}

/// How MessageMedia pushes are authenticated beyond the path token.
#[derive(Debug, Clone)]
pub enum MessageMediaCallbacks {
    /// `MESSAGEMEDIA_WEBHOOK_PUBLIC_KEY` is set: every push must be signed with the account's key.
    Signed(crate::sms::MessageMediaWebhookKey),
    /// Local tooling without a key: the path token alone (the sandbox signs only when asked to).
    TokenOnly,
    /// A deployment without a key: the path token alone would let anyone who learns it text YES or START
    /// for any store, so every push is refused until a key is configured.
    Refused,
}

/// `MESSAGEMEDIA_WEBHOOK_PUBLIC_KEY`: the public key of the MessageMedia account's enabled signature key.
/// Required in a deployment (without it MessageMedia callbacks are [`MessageMediaCallbacks::Refused`]);
/// optional for the local tooling ([`is_local_tooling`]).
pub fn messagemedia_callbacks(env: &Env) -> Result<MessageMediaCallbacks, ConfigError> {
    match env.optional("MESSAGEMEDIA_WEBHOOK_PUBLIC_KEY") {
        Some(pem) => crate::sms::MessageMediaWebhookKey::from_pem(pem)
            .map(MessageMediaCallbacks::Signed)
            .map_err(|reason| ConfigError::Invalid {
                name: "MESSAGEMEDIA_WEBHOOK_PUBLIC_KEY",
                reason,
            }),
        None if is_local_tooling(env) => Ok(MessageMediaCallbacks::TokenOnly),
        None => Ok(MessageMediaCallbacks::Refused),
    }
}

/// The clock a function uses: the real one, unless the local tooling set `DEV_CLOCK_SPEED` (with
/// `DEV_CLOCK_REAL_START` and `DEV_CLOCK_VIRTUAL_START`, RFC 3339). Never set in AWS.
pub fn clock_from_env(env: &Env) -> Result<std::sync::Arc<dyn Clock>, ConfigError> {
    let Some(speed) = env.optional("DEV_CLOCK_SPEED") else {
        return Ok(std::sync::Arc::new(SystemClock));
    };
    let instant = |name: &'static str| -> Result<DateTime<Utc>, ConfigError> {
        let value = env.optional(name).ok_or(ConfigError::Missing(name))?;
        DateTime::parse_from_rfc3339(value)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| ConfigError::Invalid {
                name,
                reason: e.to_string(),
            })
    };
    let speed = speed
        .parse::<u32>()
        .ok()
        .filter(|s| (1..=3600).contains(s))
        .ok_or(ConfigError::Invalid {
            name: "DEV_CLOCK_SPEED",
            reason: "must be a whole number from 1 to 3600".into(),
        })?;
    Ok(std::sync::Arc::new(ScaledClock {
        real_start: instant("DEV_CLOCK_REAL_START")?,
        virtual_start: instant("DEV_CLOCK_VIRTUAL_START")?,
        speed,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_real_clock_unless_the_local_tooling_speeds_time_up() {
        use chrono::Duration;
        let real = clock_from_env(&Env::default()).unwrap().now();
        assert!((real - Utc::now()).num_seconds().abs() < 5);

        let start = Utc::now() - Duration::seconds(10);
        let env = Env::from_pairs([
            ("DEV_CLOCK_SPEED", "60"),
            ("DEV_CLOCK_REAL_START", &start.to_rfc3339()),
            ("DEV_CLOCK_VIRTUAL_START", "2026-06-03T14:00:00Z"),
        ]);
        let virtual_now = clock_from_env(&env).unwrap().now();
        let expected = DateTime::parse_from_rfc3339("2026-06-03T14:10:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert!(
            (virtual_now - expected).num_seconds().abs() < 60,
            "10 real seconds are 10 minutes: {virtual_now}"
        );

        let bad = Env::from_pairs([("DEV_CLOCK_SPEED", "fast")]);
        assert!(clock_from_env(&bad).is_err());
    }

    #[test]
    fn aws_resources_need_every_variable() {
        let env = Env::from_pairs([("TABLE_NAME", "t"), ("SYNC_QUEUE_URL", "q1"), ("SEND_QUEUE_URL", "q2")]);
        assert!(matches!(
            AwsResources::from_env(&env),
            Err(ConfigError::Missing("BULK_SYNC_QUEUE_URL"))
        ));
        let env = Env::from_pairs([
            ("TABLE_NAME", "t"),
            ("SYNC_QUEUE_URL", "q1"),
            ("BULK_SYNC_QUEUE_URL", "q3"),
            ("SEND_QUEUE_URL", "q2"),
        ]);
        assert!(matches!(
            AwsResources::from_env(&env),
            Err(ConfigError::Missing("EVENT_BUS_NAME"))
        ));
    }

    #[test]
    fn bigcommerce_urls_default_to_production_and_can_be_overridden() {
        let env = Env::from_pairs([("BC_CLIENT_ID", "id")]);
        assert!(matches!(
            BigCommerceConfig::from_env(&env).unwrap().require_client_secret(),
            Err(ConfigError::Missing("BC_CLIENT_SECRET"))
        ));
        let env = Env::from_pairs([("BC_CLIENT_ID", "id"), ("BC_CLIENT_SECRET", "s")]);
        let config = BigCommerceConfig::from_env(&env)
            .unwrap()
            .require_client_secret()
            .unwrap();
        assert_eq!(config.api_url, "https://api.bigcommerce.com");
        assert_eq!(config.login_url, "https://login.bigcommerce.com");

        let env = Env::from_pairs([
            ("BC_CLIENT_ID", "id"),
            ("BC_CLIENT_SECRET", "s"),
            ("BC_API_URL", "http://127.0.0.1:9/"),
        ]);
        assert_eq!(BigCommerceConfig::from_env(&env).unwrap().api_url, "http://127.0.0.1:9");
    }

    #[test]
    fn secrets_do_not_show_in_debug_output() {
        let env = Env::from_pairs([("BC_CLIENT_ID", "id"), ("BC_CLIENT_SECRET", "very-secret")]);
        let config = BigCommerceConfig::from_env(&env).unwrap();
        assert!(!format!("{config:?}").contains("very-secret"));
        let shown = format!("{env:?}");
        assert!(
            shown.contains("BC_CLIENT_SECRET") && !shown.contains("very-secret"),
            "{shown}"
        );
    }

    #[test]
    fn sms_provider_selection() {
        let env = Env::from_pairs([("SMS_PROVIDER", "carrier-pigeon")]);
        assert!(matches!(SmsConfig::from_env(&env), Err(ConfigError::Invalid { .. })));
        let env = Env::from_pairs([("SMS_PROVIDER", "twilio"), ("TWILIO_ACCOUNT_SID", "AC1")]);
        assert!(matches!(
            SmsConfig::from_env(&env),
            Err(ConfigError::Missing("TWILIO_AUTH_TOKEN"))
        ));
        let env = Env::from_pairs([("SANDBOX_SMS_API_URL", "http://127.0.0.1:1")]);
        assert!(matches!(SmsConfig::from_env(&env), Ok(SmsConfig::Sandbox { .. })));
    }

    #[test]
    fn a_deployment_without_a_messagemedia_key_refuses_its_callbacks() {
        let deployed = Env::from_pairs([]);
        assert!(matches!(
            messagemedia_callbacks(&deployed),
            Ok(MessageMediaCallbacks::Refused)
        ));
        // Only the local tooling's own flag relaxes it.
        let other = Env::from_pairs([("APP_ENVIRONMENT", "production")]);
        assert!(matches!(
            messagemedia_callbacks(&other),
            Ok(MessageMediaCallbacks::Refused)
        ));
        let local = Env::from_pairs([("APP_ENVIRONMENT", "local")]);
        assert!(matches!(
            messagemedia_callbacks(&local),
            Ok(MessageMediaCallbacks::TokenOnly)
        ));
        let bad = Env::from_pairs([("MESSAGEMEDIA_WEBHOOK_PUBLIC_KEY", "not a key")]);
        assert!(matches!(
            messagemedia_callbacks(&bad),
            Err(ConfigError::Invalid {
                name: "MESSAGEMEDIA_WEBHOOK_PUBLIC_KEY",
                ..
            })
        ));
    }

    #[test]
    fn urls_must_be_http() {
        let env = Env::from_pairs([("APP_URL", "ftp://x")]);
        assert!(AppUrl::from_env(&env).is_err());
        let env = Env::from_pairs([("APP_URL", "https://app.example.com/")]);
        assert_eq!(
            AppUrl::from_env(&env).unwrap().join("/auth"),
            "https://app.example.com/auth"
        );
    }

    #[test]
    fn the_bulk_import_budget_is_unpaced_unless_set_and_refuses_nonsense() {
        assert_eq!(bulk_import_contacts_per_second(&Env::default()).unwrap(), None);
        let env = Env::from_pairs([("BULK_IMPORT_CONTACTS_PER_SECOND", "500")]);
        assert_eq!(
            bulk_import_contacts_per_second(&env).unwrap().map(|b| b.get()),
            Some(500)
        );
        for bad in ["0", "19", "fast", "-5", "2.5"] {
            let env = Env::from_pairs([("BULK_IMPORT_CONTACTS_PER_SECOND", bad)]);
            assert!(
                matches!(
                    bulk_import_contacts_per_second(&env),
                    Err(ConfigError::Invalid {
                        name: "BULK_IMPORT_CONTACTS_PER_SECOND",
                        ..
                    })
                ),
                "{bad}"
            );
        }
    }
}
