//! Wires the clients once per cold start (configuration and the app secret are read here, once per execution
//! environment); the handler is in lib.rs.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::logging::init();
    let (sdk, env) = shared::aws::startup_config().await?;
    let deps = webhooks::Deps::from_env(&sdk, &env)?;
    lambda_http::run(lambda_http::service_fn(|request| webhooks::handler(&deps, request))).await
}
