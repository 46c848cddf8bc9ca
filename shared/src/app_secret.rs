//! The app secret: one Secrets Manager secret (a JSON object of strings) holding the client secret, the SMS
//! provider's credentials and the SMS webhook token. A function names it in `APP_SECRET_ID` and reads it once,
//! at start-up (its `main.rs`), so the values live only in the execution environment's memory, never in its
//! environment variables. Without `APP_SECRET_ID` (a bare `cargo lambda watch --env-file`), the same names are
//! read from the environment.

use crate::config::Env;

/// The variable naming the secret (its name or ARN).
pub const APP_SECRET_ID: &str = "APP_SECRET_ID";

/// The keys the secret may hold; each supplies the configuration value of the same name.
pub const SECRET_KEYS: &[&str] = &[
    "BC_CLIENT_SECRET",
    "MESSAGEMEDIA_API_KEY",
    "MESSAGEMEDIA_API_SECRET",
    "TWILIO_ACCOUNT_SID",
    "TWILIO_AUTH_TOKEN",
    "SMS_WEBHOOK_TOKEN",
];

#[derive(Debug, thiserror::Error)]
pub enum AppSecretError {
    #[error("the app secret {id} could not be read: {reason}")]
    Read { id: String, reason: String },
    #[error("the app secret {id} is not a JSON object of strings")]
    NotAnObject { id: String },
    /// A misspelt key would otherwise be silently ignored and its value missed.
    #[error("the app secret {id} holds {key}, which is not one of {SECRET_KEYS:?}")]
    UnknownKey { id: String, key: String },
    /// Two sources for one value: which one is in force would be unclear.
    #[error("{key} is set both in the environment and in the app secret {id}; keep it in the secret only")]
    AlsoInEnvironment { id: String, key: String },
}

/// The environment with the secret's values added: `env` as it is when it names no secret.
/// The secret's text is parsed by [`with_secret_values`].
pub async fn load(sdk: &aws_config::SdkConfig, env: Env) -> Result<Env, AppSecretError> {
    let Some(id) = env.optional(APP_SECRET_ID).map(str::to_owned) else {
        return Ok(env);
    };
    let output = aws_sdk_secretsmanager::Client::new(sdk)
        .get_secret_value()
        .secret_id(&id)
        .send()
        .await
        .map_err(|e| AppSecretError::Read {
            id: id.clone(),
            reason: aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string(),
        })?;
    let text = output
        .secret_string()
        .ok_or_else(|| AppSecretError::NotAnObject { id: id.clone() })?;
    with_secret_values(env, &id, text)
}

/// Adds the values of the secret `id` (its JSON `text`) to `env`. Pure, so every refusal is unit-tested.
pub fn with_secret_values(mut env: Env, id: &str, text: &str) -> Result<Env, AppSecretError> {
    let values: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(text).map_err(|_| AppSecretError::NotAnObject { id: id.to_owned() })?;
    for (key, value) in values {
        if !SECRET_KEYS.contains(&key.as_str()) {
            return Err(AppSecretError::UnknownKey { id: id.to_owned(), key });
        }
        let serde_json::Value::String(value) = value else {
            return Err(AppSecretError::NotAnObject { id: id.to_owned() });
        };
        if env.optional(&key).is_some() {
            return Err(AppSecretError::AlsoInEnvironment { id: id.to_owned(), key });
        }
        env.set(&key, value);
    }
    Ok(env)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{BigCommerceConfig, sms_webhook_token};

    const ID: &str = "app/secrets";

    #[test]
    fn the_secret_supplies_the_configuration_values() {
        let env = Env::from_pairs([("BC_CLIENT_ID", "id"), (APP_SECRET_ID, ID)]);
        let env = with_secret_values(
            env,
            ID,
            r#"{"BC_CLIENT_SECRET":"client-secret","SMS_WEBHOOK_TOKEN":"0123456789abcdef0123"}"#,
        )
        .unwrap();
        let config = BigCommerceConfig::from_env(&env)
            .unwrap()
            .require_client_secret()
            .unwrap();
        assert_eq!(config.client_secret.expose(), "client-secret");
        assert_eq!(sms_webhook_token(&env).unwrap().expose(), "0123456789abcdef0123");
    }

    #[test]
    fn a_malformed_secret_is_refused_with_its_reason() {
        let env = || Env::from_pairs([("BC_CLIENT_ID", "id")]);
        assert!(matches!(
            with_secret_values(env(), ID, "not json"),
            Err(AppSecretError::NotAnObject { .. })
        ));
        assert!(matches!(
            with_secret_values(env(), ID, r#"["BC_CLIENT_SECRET"]"#),
            Err(AppSecretError::NotAnObject { .. })
        ));
        assert!(matches!(
            with_secret_values(env(), ID, r#"{"BC_CLIENT_SECRET": 42}"#),
            Err(AppSecretError::NotAnObject { .. })
        ));
        let error = with_secret_values(env(), ID, r#"{"BC_CLIENT_SECRETS":"x"}"#).unwrap_err();
        assert!(error.to_string().contains("BC_CLIENT_SECRETS"), "{error}");
    }

    #[test]
    fn a_value_in_both_places_is_refused() {
        let env = Env::from_pairs([("BC_CLIENT_SECRET", "from-env")]);
        let error = with_secret_values(env, ID, r#"{"BC_CLIENT_SECRET":"from-secret"}"#).unwrap_err();
        assert!(matches!(error, AppSecretError::AlsoInEnvironment { .. }));
        // The message names the key and never a value.
        let message = error.to_string();
        assert!(message.contains("BC_CLIENT_SECRET"));
        assert!(!message.contains("from-secret") && !message.contains("from-env"));
    }
}
