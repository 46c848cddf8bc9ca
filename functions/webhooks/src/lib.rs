//! The `webhooks` function: BigCommerce webhook deliveries and SMS provider callbacks.

use lambda_http::{Body, Error, Request, Response};
use shared::config::{AwsResources, BigCommerceConfig, Env};
use shared::web;
use shared::{Clock, SystemClock, aws::Aws};
use std::sync::Arc;

pub struct Deps {
    pub aws: Aws,
    pub bigcommerce: BigCommerceConfig,
    pub clock: Arc<dyn Clock>,
}

impl Deps {
    pub async fn from_env() -> Result<Self, Error> {
        let env = Env::from_process();
        Ok(Self {
            aws: Aws::from_env(&AwsResources::from_env(&env)?).await,
            bigcommerce: BigCommerceConfig::from_env(&env)?,
            clock: Arc::new(SystemClock),
        })
    }
}

pub async fn handler(deps: &Deps, request: Request) -> Result<Response<Body>, Error> {
    let _ = deps;
    let response = match request.uri().path() {
        "/webhooks/bigcommerce" => web::json_error(http::StatusCode::NOT_IMPLEMENTED, "not available yet"),
        _ => web::json_error(http::StatusCode::NOT_FOUND, "not found"),
    };
    Ok(response.map(Body::from))
}
