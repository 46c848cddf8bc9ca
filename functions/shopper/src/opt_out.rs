//! The one-click web opt-out page (`GET`/`POST /stop/{token}`).

use crate::Deps;
use lambda_http::{Error, Request};
use shared::web::{self, WebResponse};

pub async fn page(deps: &Deps, request: &Request, token: &str) -> Result<WebResponse, Error> {
    let _ = (deps, request, token);
    Ok(web::html(
        http::StatusCode::NOT_FOUND,
        "<p>This link is not available.</p>",
    ))
}

pub async fn submit(deps: &Deps, request: &Request, token: &str) -> Result<WebResponse, Error> {
    let _ = (deps, request, token);
    Ok(web::html(
        http::StatusCode::NOT_FOUND,
        "<p>This link is not available.</p>",
    ))
}
