//! The `shopper` function: the checkout consent script and capture, recovery links, the web opt-out page.

use lambda_http::{Body, Error, Request, Response};
use shared::config::{AppUrl, AwsResources, Env};
use shared::web;
use shared::{Clock, SystemClock, aws::Aws};
use std::sync::Arc;

pub struct Deps {
    pub aws: Aws,
    pub app_url: AppUrl,
    pub clock: Arc<dyn Clock>,
}

impl Deps {
    pub async fn from_env() -> Result<Self, Error> {
        let env = Env::from_process();
        Ok(Self {
            aws: Aws::from_env(&AwsResources::from_env(&env)?).await,
            app_url: AppUrl::from_env(&env)?,
            clock: Arc::new(SystemClock),
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
