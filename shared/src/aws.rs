//! The AWS adapters a function uses, built once per cold start from the standard AWS configuration
//! (`AWS_REGION`, credentials, and `AWS_ENDPOINT_URL` when pointed at a local emulator).

use crate::app_secret::AppSecretError;
use crate::bus::Bus;
use crate::config::{AwsResources, Env};
use crate::db::Db;
use crate::queue::{Queue, SyncQueue};

#[derive(Debug, Clone)]
pub struct Aws {
    pub db: Db,
    /// The sync function's work: live and bulk, routed by message kind.
    pub sync_queue: SyncQueue,
    pub send_queue: Queue,
    pub bus: Bus,
}

impl Aws {
    pub fn new(sdk: &aws_config::SdkConfig, resources: &AwsResources) -> Self {
        let sqs = aws_sdk_sqs::Client::new(sdk);
        Self {
            db: Db::new(aws_sdk_dynamodb::Client::new(sdk), &resources.table_name),
            sync_queue: SyncQueue::new(
                Queue::new(sqs.clone(), &resources.sync_queue_url),
                Queue::new(sqs.clone(), &resources.bulk_sync_queue_url),
            ),
            send_queue: Queue::new(sqs, &resources.send_queue_url),
            bus: Bus::new(aws_sdk_eventbridge::Client::new(sdk), &resources.event_bus_name),
        }
    }
}

/// What every function's `main.rs` reads once per execution environment: the SDK configuration and the
/// configuration variables, with the app secret's values (`APP_SECRET_ID`, see [`crate::app_secret`]).
pub async fn startup_config() -> Result<(aws_config::SdkConfig, Env), AppSecretError> {
    let sdk = with_retries_and_timeouts(aws_config::defaults(aws_config::BehaviorVersion::latest()))
        .load()
        .await;
    let env = crate::app_secret::load(&sdk, Env::from_process()).await?;
    Ok((sdk, env))
}

/// How long one attempt of an AWS call may take before the SDK gives up on it and retries. DynamoDB, SQS and
/// EventBridge answer in milliseconds; a call that hangs must fail over to a retry well within a function's
/// timeout (30 s) rather than use it up.
pub const ATTEMPT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Attempts per AWS call (the first and up to four retries, with the SDK's jittered exponential backoff).
/// Throttles (`ProvisionedThroughputExceededException`, `ThrottlingException`), 5xx answers, dropped
/// connections and timeouts are retried; a call still failing after that is an error of the invocation, which
/// Lambda or SQS retries as a whole.
pub const MAX_ATTEMPTS: u32 = 5;

/// The SDK's retry and timeout policy every function uses (and the local tooling, for the app's clients), and
/// its HTTPS client ([`https_client`]).
pub fn with_retries_and_timeouts(loader: aws_config::ConfigLoader) -> aws_config::ConfigLoader {
    use aws_config::retry::RetryConfig;
    use aws_config::timeout::TimeoutConfig;
    use std::time::Duration;
    loader
        .http_client(https_client())
        .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(1))
                .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                // Every attempt timing out, plus the backoff between them.
                .operation_timeout(ATTEMPT_TIMEOUT * MAX_ATTEMPTS + Duration::from_secs(10))
                .build(),
        )
}

/// The SDK's default HTTPS client, trusting Mozilla's roots compiled into the binary (as the app's own HTTP
/// clients do, see [`crate::tls`]) instead of the system's CA files: the default reads and parses the
/// system's bundle and every file of `/etc/ssl/certs` at start-up, the largest part of a function's init
/// beyond the runtime itself (`cargo xtask bench coldstart`). AWS endpoints present Amazon Trust Services
/// certificates, which Mozilla's roots include.
pub fn https_client() -> aws_sdk_dynamodb::config::SharedHttpClient {
    use aws_smithy_http_client::tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode};
    use base64::Engine;
    // The trust store takes PEM; one blob of every root.
    let mut pem = String::new();
    for der in webpki_root_certs::TLS_SERVER_ROOT_CERTS {
        pem.push_str("-----BEGIN CERTIFICATE-----\n");
        pem.push_str(&base64::engine::general_purpose::STANDARD.encode(der.as_ref()));
        pem.push_str("\n-----END CERTIFICATE-----\n");
    }
    let context = TlsContext::builder()
        .with_trust_store(TrustStore::empty().with_pem_certificate(pem))
        .build()
        .expect("the compiled-in roots make a TLS context");
    let client = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
        .tls_context(context)
        .build_https();
    aws_sdk_dynamodb::config::SharedHttpClient::new(ConnectorsOnFirstCall(client))
}

/// The SDK's HTTPS client without its eager check. That client builds a throwaway connector each time a service
/// client is built ("so native certificates load at initialisation"), and a connector parses every root of the
/// trust store: about half a millisecond per service client, five of them in a cold start. Our roots are
/// compiled in, so there is nothing to check early; the inner client still builds each connector once, on the
/// first call, and caches it.
#[derive(Debug)]
struct ConnectorsOnFirstCall(aws_sdk_dynamodb::config::SharedHttpClient);

impl aws_sdk_dynamodb::config::HttpClient for ConnectorsOnFirstCall {
    fn http_connector(
        &self,
        settings: &aws_smithy_runtime_api::client::http::HttpConnectorSettings,
        components: &aws_sdk_dynamodb::config::RuntimeComponents,
    ) -> aws_smithy_runtime_api::client::http::SharedHttpConnector {
        self.0.http_connector(settings, components)
    }

    fn connector_metadata(&self) -> Option<aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata> {
        self.0.connector_metadata()
    }
}
