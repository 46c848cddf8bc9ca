//! SMS provider callbacks: inbound replies (STOP, HELP, START, YES, other) and delivery reports.

use crate::Deps;
use lambda_http::{Error, Request};
use shared::web::{self, WebResponse};

pub async fn messagemedia(deps: &Deps, request: &Request, token: &str) -> Result<WebResponse, Error> {
    let _ = (deps, request, token);
    Ok(web::json_error(http::StatusCode::NOT_IMPLEMENTED, "not available yet"))
}

pub async fn twilio(deps: &Deps, request: &Request, token: &str) -> Result<WebResponse, Error> {
    let _ = (deps, request, token);
    Ok(web::json_error(http::StatusCode::NOT_IMPLEMENTED, "not available yet"))
}
