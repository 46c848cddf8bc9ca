//! The `shopper` function: the checkout consent script and capture, recovery links, the web opt-out page.

use lambda_http::{Body, Error, Request, Response};
use shared::bigcommerce::BigCommerce;
use shared::config::{AppUrl, AwsResources, BigCommerceConfig, Env, SmsConfig, sms_webhook_token};
use shared::sms::SmsClient;
use shared::web;
use shared::{Clock, Secret, SystemClock, aws::Aws};
use std::sync::Arc;

pub struct Deps {
    pub aws: Aws,
    pub bigcommerce: BigCommerce,
    pub sms: SmsClient,
    pub sms_webhook_token: Secret,
    pub app_url: AppUrl,
    pub clock: Arc<dyn Clock>,
}

impl Deps {
    pub async fn from_env() -> Result<Self, Error> {
        let env = Env::from_process();
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        Ok(Self {
            aws: Aws::from_env(&AwsResources::from_env(&env)?).await,
            bigcommerce: BigCommerce::new(&BigCommerceConfig::from_env(&env)?)?,
            sms: SmsClient::new(&SmsConfig::from_env(&env)?, reqwest::Client::new(), clock.clone()),
            sms_webhook_token: sms_webhook_token(&env)?,
            app_url: AppUrl::from_env(&env)?,
            clock,
        })
    }
}

pub async fn handler(deps: &Deps, request: Request) -> Result<Response<Body>, Error> {
    let _ = deps;
    let response = match request.uri().path() {
        path if path.starts_with("/r/") => web::html(http::StatusCode::NOT_FOUND, "<p>This link is not available.</p>"),
        _ => web::html(http::StatusCode::NOT_FOUND, "<p>Not found.</p>"),
    };
    Ok(response.map(Body::from))
}
