//! The `shopper` function: the checkout consent script and capture ([`consent`]), recovery links
//! ([`recovery`]), the web opt-out page ([`opt_out`]).

pub mod consent;
pub mod opt_out;
pub mod recovery;

use lambda_http::{Body, Error, Request, RequestExt, Response};
use shared::{pages, web};

/// The clients this function uses, built once in `main.rs`.
pub type Deps = shared::clients::Clients;

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
        _ => web::html(
            http::StatusCode::NOT_FOUND,
            pages::document(pages::Reader::Shopper, "Not found", pages::html! { p { "Not found." } }),
        ),
    };
    Ok(response.map(Body::from))
}
