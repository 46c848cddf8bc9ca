//! Wires the clients once per cold start; the handler is in lib.rs.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::logging::init();
    let deps = shopper::Deps::from_env().await?;
    lambda_http::run(lambda_http::service_fn(|request| shopper::handler(&deps, request))).await
}
