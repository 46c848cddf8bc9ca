//! The `shopper` function: the checkout consent script and capture ([`consent`]), recovery links
//! ([`recovery`]), the web opt-out page ([`opt_out`]).

pub mod consent;
pub mod opt_out;
pub mod recovery;

use lambda_http::{Body, Error, Request, RequestExt, Response};
use shared::bigcommerce::BigCommerce;
use shared::config::{AppUrl, AwsResources, BigCommerceConfig, Env, SmsConfig, sms_webhook_token};
use shared::sms::SmsClient;
use shared::web;
use shared::{Clock, Secret, aws::Aws};
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
        let clock = shared::clock::clock_from_env(&env)?;
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
    let token = request
        .path_parameters_ref()
        .and_then(|p| p.first("token"))
        .map(str::to_owned);
    let response = match (request.method().as_str(), request.uri().path(), token) {
        ("GET", "/consent.js", _) => consent::script(deps, &request).await?,
        ("GET", "/consent/disclosure", _) => consent::disclosure(deps, &request).await?,
        ("POST", "/consent", _) => consent::capture(deps, &request).await?,
        ("OPTIONS", "/consent", _) => consent::preflight(deps, &request).await?,
        ("GET", path, Some(token)) if path.starts_with("/r/") => recovery::click(deps, &request, &token).await?,
        ("GET", path, Some(token)) if path.starts_with("/stop/") => opt_out::page(deps, &request, &token).await?,
        ("POST", path, Some(token)) if path.starts_with("/stop/") => opt_out::submit(deps, &request, &token).await?,
        _ => web::html(http::StatusCode::NOT_FOUND, "<p>Not found.</p>"),
    };
    Ok(response.map(Body::from))
}
