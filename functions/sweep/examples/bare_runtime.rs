//! The cold-start yardstick of `cargo xtask bench coldstart`: a bare `lambda_runtime` binary with one AWS
//! client (DynamoDB) and nothing of ours, built with the same release profile as the functions. It lives
//! with `sweep` because that crate already has everything it needs.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    lambda_runtime::run(lambda_runtime::service_fn(
        |_event: lambda_runtime::LambdaEvent<serde_json::Value>| {
            let dynamodb = dynamodb.clone();
            async move {
                // One call, so the first invocation opens a connection like the functions' first ones do.
                let tables = dynamodb.list_tables().limit(1).send().await?;
                Ok::<_, lambda_runtime::Error>(serde_json::json!({ "tables": tables.table_names().len() }))
            }
        },
    ))
    .await
}
