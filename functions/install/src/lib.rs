//! The `install` function: BigCommerce app callbacks (`/auth`, `/load`, `/uninstall`, `/remove_user`) and the
//! settings page.

use lambda_http::{Body, Error, Request, RequestExt, Response};
use shared::bigcommerce::BigCommerce;
use shared::config::{AppUrl, AwsResources, BigCommerceConfig, Env};
use shared::web::{self, escape_html};
use shared::{Clock, SystemClock, aws::Aws};
use std::sync::Arc;

/// Everything the handler needs, built once per cold start.
pub struct Deps {
    pub aws: Aws,
    pub bigcommerce: BigCommerce,
    pub bigcommerce_config: BigCommerceConfig,
    pub app_url: AppUrl,
    pub clock: Arc<dyn Clock>,
}

impl Deps {
    pub async fn from_env() -> Result<Self, Error> {
        let env = Env::from_process();
        let bigcommerce_config = BigCommerceConfig::from_env(&env)?.require_client_secret()?;
        Ok(Self {
            aws: Aws::from_env(&AwsResources::from_env(&env)?).await,
            bigcommerce: BigCommerce::new(&bigcommerce_config)?,
            bigcommerce_config,
            app_url: AppUrl::from_env(&env)?,
            clock: Arc::new(SystemClock),
        })
    }
}

pub async fn handler(deps: &Deps, request: Request) -> Result<Response<Body>, Error> {
    let _ = deps;
    let query = request.query_string_parameters();
    let response = match (request.method().as_str(), request.uri().path()) {
        ("GET", "/auth") => {
            let missing: Vec<&str> = ["code", "scope", "context"]
                .into_iter()
                .filter(|name| query.first(name).is_none())
                .collect();
            if missing.is_empty() {
                web::html(
                    http::StatusCode::NOT_IMPLEMENTED,
                    "<p>Install is not available yet.</p>",
                )
            } else {
                web::html(
                    http::StatusCode::BAD_REQUEST,
                    format!(
                        "<p>The install link is incomplete: missing {}.</p>",
                        escape_html(&missing.join(", "))
                    ),
                )
            }
        }
        _ => web::html(http::StatusCode::NOT_FOUND, "<p>Not found.</p>"),
    };
    Ok(response.map(Body::from))
}
