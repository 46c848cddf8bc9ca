//! Consent capture at checkout: the script (`GET /consent.js`) and the capture endpoint (`POST /consent`).

use crate::Deps;
use lambda_http::{Error, Request};
use shared::web::{self, WebResponse};

pub async fn script(deps: &Deps, request: &Request) -> Result<WebResponse, Error> {
    let _ = (deps, request);
    Ok(web::text(http::StatusCode::NOT_IMPLEMENTED, "not available yet"))
}

pub async fn capture(deps: &Deps, request: &Request) -> Result<WebResponse, Error> {
    let _ = (deps, request);
    Ok(web::json_error(http::StatusCode::NOT_IMPLEMENTED, "not available yet"))
}

pub async fn preflight(deps: &Deps, request: &Request) -> Result<WebResponse, Error> {
    let _ = (deps, request);
    Ok(web::json_error(http::StatusCode::NOT_IMPLEMENTED, "not available yet"))
}
