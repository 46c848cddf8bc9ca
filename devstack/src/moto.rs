//! moto server, the local AWS emulator (DynamoDB, SQS, EventBridge).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use tokio::io::AsyncBufReadExt;
use tokio::process::{Child, Command};

#[derive(Debug, thiserror::Error)]
pub enum MotoError {
    #[error(
        "moto is not installed at {0}. Run `cargo xtask bootstrap` (it installs the project-local tools into .tools/) \
         or set MOTO_URL to a running moto server."
    )]
    NotInstalled(PathBuf),
    #[error("moto server did not start: {0}")]
    Start(String),
}

/// A running moto server. Stops when dropped (and when this process exits).
#[derive(Debug)]
pub struct Moto {
    url: String,
    // Holding the child keeps its stdin open; closing it stops the server.
    _child: Option<Child>,
}

impl Moto {
    /// Uses the server at `MOTO_URL` if set (the test command starts one for every test binary), otherwise
    /// starts one from the project-local tools.
    pub async fn start_or_connect() -> Result<Self, MotoError> {
        match std::env::var("MOTO_URL") {
            Ok(url) if !url.is_empty() => Ok(Self { url, _child: None }),
            _ => Self::start(&crate::tools_dir()).await,
        }
    }

    /// Starts a server with the Python from `tools_dir/venv`.
    pub async fn start(tools_dir: &Path) -> Result<Self, MotoError> {
        let python = tools_dir.join("venv/bin/python");
        let moto = tools_dir.join("venv/bin/moto_server");
        if !python.exists() || !moto.exists() {
            return Err(MotoError::NotInstalled(moto));
        }
        let launcher = Path::new(env!("CARGO_MANIFEST_DIR")).join("moto_launcher.py");
        let mut child = Command::new(python)
            .arg(launcher)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| MotoError::Start(e.to_string()))?;
        let stdout = child.stdout.take().expect("stdout piped");
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let first = tokio::time::timeout(std::time::Duration::from_secs(60), lines.next_line())
            .await
            .map_err(|_| MotoError::Start("no endpoint printed within 60 s".into()))?
            .map_err(|e| MotoError::Start(e.to_string()))?
            .ok_or_else(|| MotoError::Start("launcher exited before printing its endpoint".into()))?;
        if !first.starts_with("http://") {
            return Err(MotoError::Start(format!("unexpected launcher output: {first}")));
        }
        Ok(Self {
            url: first,
            _child: Some(child),
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Stops the server now and waits until it has exited.
    pub async fn stop(mut self) {
        if let Some(child) = self._child.as_mut() {
            let _ = child.kill().await;
        }
    }

    /// Keeps the server running until this process exits (for shared, process-wide servers).
    pub fn leak(self) -> String {
        let url = self.url.clone();
        std::mem::forget(self);
        url
    }

    /// An SDK configuration pointing at this server, with dummy credentials.
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        sdk_config_for(&self.url).await
    }
}

/// An SDK configuration with the SDK's defaults pointing at `endpoint` and dummy credentials, for what stands
/// in for AWS itself and for tests' own calls (no attempt timeout, so SQS long polls work).
pub async fn sdk_config_for(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .test_credentials()
        .load()
        .await
}

/// The SDK configuration a function builds at startup ([`shared::aws::startup_config`]: the retry and timeout
/// policy), pointed at `endpoint` with dummy credentials: for the app's clients run in-process.
pub async fn app_sdk_config_for(endpoint: &str) -> aws_config::SdkConfig {
    shared::aws::with_retries_and_timeouts(aws_config::defaults(aws_config::BehaviorVersion::latest()))
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .test_credentials()
        .load()
        .await
}

/// The environment variables that point a function process at `endpoint`.
pub fn aws_env(endpoint: &str) -> Vec<(String, String)> {
    [
        ("AWS_ENDPOINT_URL", endpoint),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}
