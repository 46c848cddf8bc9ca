//! Wires the clients once per cold start; the handler is in lib.rs.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::logging::init();
    let deps = sync::Deps::from_env().await?;
    lambda_runtime::run(lambda_runtime::service_fn(|event| sync::handler(&deps, event))).await
}
