//! BigCommerce webhook deliveries: authenticate, de-duplicate, enqueue, answer fast.

use crate::Deps;
use lambda_http::{Error, Request};
use shared::web::{self, WebResponse};

pub async fn delivery(deps: &Deps, request: &Request) -> Result<WebResponse, Error> {
    let _ = (deps, request);
    Ok(web::json_error(http::StatusCode::NOT_IMPLEMENTED, "not available yet"))
}
