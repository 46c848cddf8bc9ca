//! Wires the clients once per cold start (configuration and the app secret are read here, once per execution
//! environment); the handler is in lib.rs.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::logging::init();
    let (sdk, env) = shared::aws::startup_config().await?;
    let deps = sync::Deps::from_env(&sdk, &env)?;
    lambda_runtime::run(lambda_runtime::service_fn(|event| sync::handler(&deps, event))).await
}
