//! The `install` function: BigCommerce app callbacks ([`auth`]: `/auth`; [`callbacks`]: `/load`,
//! `/uninstall`, `/remove_user`) and the settings page ([`settings`]: `GET`/`POST /settings`,
//! `POST /settings/{action}`).
//!
//! Trust: `/auth` is trusted through the code exchange, the callbacks through their `signed_payload_jwt`
//! ([`jwt`]), the settings page through a signed session cookie and a CSRF token on every form ([`session`]).
//! Store setup is idempotent and repairs itself on every load: webhooks ([`hooks`]) and the checkout consent
//! script ([`script`]).

pub mod auth;
pub mod callbacks;
pub mod form;
pub mod glance;
pub mod hooks;
pub mod jwt;
pub mod page;
pub mod privacy;
pub mod script;
pub mod session;
pub mod settings;
pub mod settings_page;
pub mod status;
pub mod test_text;

use http::StatusCode;
use lambda_http::{Body, Error, Request, RequestExt, Response};
use shared::access_token::TokenKey;
use shared::bigcommerce::{BigCommerce, BigCommerceError};
use shared::config::{AppUrl, AwsResources, BigCommerceConfig, Env, SmsConfig, sms_webhook_token};
use shared::db::DbError;
use shared::queue::QueueError;
use shared::sms::SmsClient;
use shared::web::WebResponse;
use shared::{Clock, Secret, SystemClock, aws::Aws};
use std::sync::Arc;

/// Everything the handler needs, built once per cold start.
pub struct Deps {
    pub aws: Aws,
    pub bigcommerce: BigCommerce,
    pub bigcommerce_config: BigCommerceConfig,
    pub app_url: AppUrl,
    /// Sends the settings page's test texts ([`test_text`]).
    pub sms: SmsClient,
    /// The secret path token of the SMS callback URLs, so replies to a test text come back.
    pub sms_webhook_token: Secret,
    pub clock: Arc<dyn Clock>,
}

impl Deps {
    /// From the configuration `main.rs` read ([`shared::aws::startup_config`]).
    pub fn from_env(sdk: &aws_config::SdkConfig, env: &Env) -> Result<Self, Error> {
        let bigcommerce_config = BigCommerceConfig::from_env(env)?.require_client_secret()?;
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        Ok(Self {
            aws: Aws::new(sdk, &AwsResources::from_env(env)?),
            bigcommerce: BigCommerce::new(&bigcommerce_config)?.with_token_key(TokenKey::from_env(sdk, env)?),
            bigcommerce_config,
            app_url: AppUrl::from_env(env)?,
            sms: SmsClient::new(&SmsConfig::from_env(env)?, shared::tls::client(), clock.clone()),
            sms_webhook_token: sms_webhook_token(env)?,
            // The real clock even under `cargo xtask dev --speed`: JWTs and session cookies are checked against
            // BigCommerce's and the browser's time, which a virtual clock would put hours apart.
            clock,
        })
    }
}

/// Why a request was refused or failed. Each maps to a status and a page at the handler boundary.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// The request itself is wrong (missing parameters, an unreadable form).
    #[error("{0}")]
    BadRequest(String),
    #[error(transparent)]
    Jwt(#[from] jwt::JwtError),
    #[error(transparent)]
    Session(#[from] session::SessionError),
    #[error("the form did not come from this app's settings page (or the page is too old)")]
    Csrf,
    #[error("{0}")]
    NotInstalled(String),
    #[error(transparent)]
    Form(#[from] form::FormError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    BigCommerce(#[from] BigCommerceError),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

impl InstallError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Jwt(_) | Self::Session(_) => StatusCode::UNAUTHORIZED,
            Self::Csrf => StatusCode::FORBIDDEN,
            Self::NotInstalled(_) => StatusCode::NOT_FOUND,
            Self::Form(form::FormError::TooLarge) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Form(form::FormError::Unreadable) => StatusCode::BAD_REQUEST,
            Self::BigCommerce(_) => StatusCode::BAD_GATEWAY,
            Self::Db(_) | Self::Queue(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The page the merchant sees. Internal details stay in the logs.
    pub fn page(&self) -> WebResponse {
        let (heading, text) = match self {
            Self::BadRequest(_) | Self::Form(_) | Self::NotInstalled(_) => ("Something is not right", self.to_string()),
            Self::Jwt(_) => (
                "Not authorised",
                format!("{self}. Open the app from your BigCommerce control panel."),
            ),
            Self::Session(_) => ("Please open the app again", capitalise(&self.to_string())),
            Self::Csrf => (
                "Please reload the page",
                "The form did not come from this app's settings page, or the page is too old. Nothing was changed: \
                 reload the app and try again."
                    .to_owned(),
            ),
            Self::BigCommerce(_) => (
                "BigCommerce could not be reached",
                "BigCommerce did not answer as expected. Nothing was changed: please try again in a minute.".to_owned(),
            ),
            Self::Db(_) | Self::Queue(_) => (
                "Temporarily unavailable",
                "The app could not complete this just now. Please try again in a minute.".to_owned(),
            ),
        };
        page::message(self.status(), heading, &text)
    }
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

pub async fn handler(deps: &Deps, request: Request) -> Result<Response<Body>, Error> {
    let action = request
        .path_parameters_ref()
        .and_then(|p| p.first("action"))
        .map(str::to_owned);
    let result = match (request.method().as_str(), request.uri().path(), action) {
        ("GET", "/auth", _) => auth::install(deps, &request).await,
        ("GET", "/load", _) => callbacks::load(deps, &request).await,
        ("GET", "/uninstall", _) => callbacks::uninstall(deps, &request).await,
        ("GET", "/remove_user", _) => callbacks::remove_user(deps, &request).await,
        ("GET", "/settings", _) => settings::show(deps, &request).await,
        ("POST", "/settings", _) => settings::connect(deps, &request).await,
        ("POST", path, Some(action)) if path.starts_with("/settings/") => {
            settings::action(deps, &request, &action).await
        }
        _ => Ok(page::message(
            StatusCode::NOT_FOUND,
            "Not found",
            "There is no such page.",
        )),
    };
    let response = result.unwrap_or_else(|error| {
        if error.status().is_server_error() {
            tracing::error!(%error, path = request.uri().path(), "request failed");
        } else {
            tracing::warn!(%error, path = request.uri().path(), "request refused");
        }
        error.page()
    });
    Ok(response.map(Body::from))
}
