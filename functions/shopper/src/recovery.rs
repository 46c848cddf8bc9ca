//! Recovery links (`GET /r/{token}`): re-create the cart, redirect into checkout, record the click.

use crate::Deps;
use lambda_http::{Error, Request};
use shared::web::{self, WebResponse};

pub async fn click(deps: &Deps, request: &Request, token: &str) -> Result<WebResponse, Error> {
    let _ = (deps, request, token);
    Ok(web::html(
        http::StatusCode::NOT_FOUND,
        "<p>This link is not available.</p>",
    ))
}
