//! The `webhooks` function: BigCommerce webhook deliveries ([`bigcommerce`]) and SMS provider callbacks
//! ([`sms`]: replies and delivery reports).

pub mod bigcommerce;
pub mod sms;

use lambda_http::{Body, Error, Request, RequestExt, Response};
use shared::bigcommerce::BigCommerce;
use shared::config::{
    AppUrl, AwsResources, BigCommerceConfig, Env, MessageMediaCallbacks, SmsConfig, messagemedia_callbacks,
    sms_webhook_token,
};
use shared::sms::SmsClient;
use shared::web;
use shared::{Clock, Secret, aws::Aws};
use std::sync::Arc;

pub struct Deps {
    pub aws: Aws,
    pub bigcommerce: BigCommerce,
    pub bigcommerce_config: BigCommerceConfig,
    pub sms: SmsClient,
    pub sms_config: SmsConfig,
    pub sms_webhook_token: Secret,
    /// How MessageMedia pushes are authenticated: signed with the account's key, or (in a deployment without
    /// one) refused.
    pub messagemedia_callbacks: MessageMediaCallbacks,
    pub app_url: AppUrl,
    pub clock: Arc<dyn Clock>,
}

impl Deps {
    /// From the configuration `main.rs` read ([`shared::aws::startup_config`]). No access-token key: webhooks
    /// never calls a store's API.
    pub fn from_env(sdk: &aws_config::SdkConfig, env: &Env) -> Result<Self, Error> {
        let bigcommerce_config = BigCommerceConfig::from_env(env)?.require_client_secret()?;
        let sms_config = SmsConfig::from_env(env)?;
        let clock = shared::clock::clock_from_env(env)?;
        let messagemedia_callbacks = messagemedia_callbacks(env)?;
        if matches!(messagemedia_callbacks, MessageMediaCallbacks::Refused) {
            tracing::error!(
                "MESSAGEMEDIA_WEBHOOK_PUBLIC_KEY is not set: every MessageMedia callback is refused until the \
                 account's webhook signature key is configured"
            );
        }
        Ok(Self {
            aws: Aws::new(sdk, &AwsResources::from_env(env)?),
            bigcommerce: BigCommerce::new(&bigcommerce_config)?,
            bigcommerce_config,
            sms: SmsClient::new(&sms_config, shared::tls::client(), clock.clone()),
            sms_config,
            sms_webhook_token: sms_webhook_token(env)?,
            messagemedia_callbacks,
            app_url: AppUrl::from_env(env)?,
            clock,
        })
    }
}

pub async fn handler(deps: &Deps, request: Request) -> Result<Response<Body>, Error> {
    let token = request
        .path_parameters_ref()
        .and_then(|p| p.first("token"))
        .map(str::to_owned);
    let response = match (request.uri().path(), token) {
        ("/webhooks/bigcommerce", _) => bigcommerce::delivery(deps, &request).await?,
        (path, Some(token)) if path.starts_with("/webhooks/messagemedia/") => {
            sms::messagemedia(deps, &request, &token).await?
        }
        (path, Some(token)) if path.starts_with("/webhooks/twilio/") => sms::twilio(deps, &request, &token).await?,
        _ => web::json_error(http::StatusCode::NOT_FOUND, "not found"),
    };
    Ok(response.map(Body::from))
}
