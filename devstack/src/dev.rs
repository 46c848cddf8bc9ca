//! The app running locally for real (`cargo xtask dev`): moto with the template's resources, every function
//! served by `cargo lambda watch` (one process per function, as in Lambda), the HTTP API routing to them, the
//! SQS event sources and the sweep schedule emulated around them, and — unless real URLs are given — the
//! BigCommerce simulator and the SMS sandbox.

use crate::event_source::SqsEventSource;
use crate::gateway::{Gateway, GatewayListener};
use crate::invoke::{SharedFunction, WatchFunction, invoke_async, scheduled_event};
use crate::moto::Moto;
use crate::provision::{Resources, create_app_secret, provision};
use crate::template::{EventDef, Template};
use chrono::{DateTime, Utc};
use shared::Clock;
use sim::bigcommerce::{SimConfig, StoreSeed};
use sim::{BigCommerceSim, SandboxConfig, SmsSandbox};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

/// A real BigCommerce app (for a sandbox store reached through a tunnel).
#[derive(Debug, Clone)]
pub struct RealBigCommerce {
    pub client_id: String,
    pub client_secret: String,
    pub api_url: String,
    pub login_url: String,
}

#[derive(Debug, Clone)]
pub struct DevOptions {
    /// Where the HTTP API listens (127.0.0.1).
    pub port: u16,
    /// Where `cargo lambda watch` listens (127.0.0.1).
    pub watch_port: u16,
    /// The public URL BigCommerce and shoppers use (a tunnel), if not the local one.
    pub public_url: Option<String>,
    /// Virtual time runs this many times faster than real time (1 = real time).
    pub speed: u32,
    /// Virtual time at start (default: now).
    pub virtual_start: Option<DateTime<Utc>>,
    pub bigcommerce: Option<RealBigCommerce>,
    /// Extra environment for the functions (e.g. a real SMS provider's `SMS_PROVIDER` and credentials; the
    /// credentials go into the app secret, see [`shared::app_secret::SECRET_KEYS`]).
    pub extra_env: Vec<(String, String)>,
    /// Seconds before a failed queue message is retried (Lambda uses the visibility timeout).
    pub retry_after_seconds: i32,
    pub log_dir: PathBuf,
    pub tools_dir: PathBuf,
    /// Cargo features for the functions' build (`cargo lambda watch --features`); see [`build_functions`].
    pub features: Option<String>,
}

impl Default for DevOptions {
    fn default() -> Self {
        Self {
            port: 3000,
            watch_port: 9000,
            public_url: None,
            speed: 1,
            virtual_start: None,
            bigcommerce: None,
            extra_env: Vec::new(),
            retry_after_seconds: 10,
            log_dir: crate::workspace_root().join(".local/dev"),
            tools_dir: crate::tools_dir(),
            features: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DevError {
    #[error(transparent)]
    Moto(#[from] crate::moto::MotoError),
    #[error(transparent)]
    Provision(#[from] crate::provision::ProvisionError),
    #[error(transparent)]
    Template(#[from] crate::template::TemplateError),
    #[error("{0}")]
    Start(String),
}

/// The local store the simulator starts with.
pub const DEV_STORE: &str = "devstore";

/// A running local app. [`DevStack::stop`] (or dropping it) stops everything it started.
pub struct DevStack {
    pub app_url: String,
    pub local_url: String,
    pub watch_url: String,
    pub resources: Resources,
    pub template: Template,
    pub sdk: aws_config::SdkConfig,
    pub bigcommerce: Option<BigCommerceSim>,
    pub sms: Option<SmsSandbox>,
    /// The virtual clock every function uses.
    pub clock: shared::clock::ScaledClock,
    pub log_file: PathBuf,
    pub env: Vec<(String, String)>,
    _gateway: Gateway,
    watch: Option<Child>,
    tasks: Vec<JoinHandle<()>>,
    _moto: Moto,
}

impl DevStack {
    pub async fn start(options: DevOptions) -> Result<Self, DevError> {
        std::fs::create_dir_all(&options.log_dir).map_err(|e| DevError::Start(e.to_string()))?;
        let moto = Moto::start(&options.tools_dir).await?;
        let sdk = crate::moto::sdk_config_for(moto.url()).await;
        let template = Template::load_default()?;
        let resources = provision(&sdk, &template, "dev").await?;

        let listener = GatewayListener::bind(&format!("127.0.0.1:{}", options.port))
            .await
            .map_err(|e| DevError::Start(format!("cannot listen on port {}: {e}", options.port)))?;
        let local_url = listener.url().to_owned();
        let app_url = options.public_url.clone().unwrap_or_else(|| local_url.clone());

        let now = Utc::now();
        let clock = shared::clock::ScaledClock {
            real_start: now,
            virtual_start: options.virtual_start.unwrap_or(now),
            speed: options.speed.max(1),
        };

        let mut env = crate::moto::aws_env(moto.url());
        env.extend(resources.environment(&template));
        env.extend(resources.function_environment(&template)?);
        env.push(("APP_URL".into(), app_url.clone()));
        env.push(("RUST_LOG".into(), "info".into()));
        // Local tooling: MessageMedia (sandbox) pushes may come unsigned here, never in a deployment.
        env.push(("APP_ENVIRONMENT".into(), "local".into()));
        env.push(("DEV_CLOCK_SPEED".into(), clock.speed.to_string()));
        env.push(("DEV_CLOCK_REAL_START".into(), clock.real_start.to_rfc3339()));
        env.push(("DEV_CLOCK_VIRTUAL_START".into(), clock.virtual_start.to_rfc3339()));
        // Secret values go into the app secret in moto, as in AWS: the functions read it at start-up, and
        // functions.env holds none of them.
        let mut secrets = vec![(
            "SMS_WEBHOOK_TOKEN".to_owned(),
            shared::Secret::random().expose().to_owned(),
        )];

        let bigcommerce = match &options.bigcommerce {
            Some(real) => {
                env.push(("BC_CLIENT_ID".into(), real.client_id.clone()));
                secrets.push(("BC_CLIENT_SECRET".into(), real.client_secret.clone()));
                env.push(("BC_API_URL".into(), real.api_url.clone()));
                env.push(("BC_LOGIN_URL".into(), real.login_url.clone()));
                None
            }
            None => {
                let secret = shared::Secret::random().expose().to_owned();
                let sim = BigCommerceSim::start(SimConfig {
                    client_id: "local-dev-client".into(),
                    client_secret: secret.clone(),
                    redirect_uri: format!("{app_url}/auth"),
                    ..SimConfig::default()
                })
                .await;
                sim.create_store(
                    DEV_STORE,
                    StoreSeed {
                        name: "Local Dev Store".into(),
                        domain: local_url.clone(),
                        ..StoreSeed::default()
                    },
                );
                sim.seed_customers(DEV_STORE, 60);
                env.push(("BC_CLIENT_ID".into(), "local-dev-client".into()));
                secrets.push(("BC_CLIENT_SECRET".into(), secret));
                env.push(("BC_API_URL".into(), sim.api_url()));
                env.push(("BC_LOGIN_URL".into(), sim.login_url()));
                Some(sim)
            }
        };
        let uses_real_sms = options
            .extra_env
            .iter()
            .any(|(k, v)| k == "SMS_PROVIDER" && v != "sandbox");
        let sms = if uses_real_sms {
            None
        } else {
            let sandbox = SmsSandbox::start(SandboxConfig::default())
                .await
                .map_err(|e| DevError::Start(e.to_string()))?;
            sandbox.set_clock(move || clock.now());
            env.push(("SMS_PROVIDER".into(), "sandbox".into()));
            env.push(("SANDBOX_SMS_API_URL".into(), sandbox.api_url()));
            Some(sandbox)
        };
        for (name, value) in &options.extra_env {
            if shared::app_secret::SECRET_KEYS.contains(&name.as_str()) {
                secrets.push((name.clone(), value.clone()));
            } else {
                env.push((name.clone(), value.clone()));
            }
        }
        env.push((
            shared::app_secret::APP_SECRET_ID.into(),
            create_app_secret(&sdk, "dev", &secrets).await?,
        ));

        let log_file = options.log_dir.join("functions.log");
        let watch_url = format!("http://127.0.0.1:{}", options.watch_port);
        let watch = start_watch(&options, &env, &log_file).await?;
        wait_for_port(options.watch_port, Duration::from_secs(120)).await?;

        let functions: BTreeMap<String, SharedFunction> = template
            .functions()?
            .iter()
            .map(|f| (f.logical_id.clone(), WatchFunction::shared(&watch_url, f.crate_name())))
            .collect();
        let gateway = listener.serve(&template, &functions)?;

        let mut tasks = Vec::new();
        for definition in template.functions()? {
            for (_, event) in &definition.events {
                match event {
                    EventDef::Sqs { queue, .. } => {
                        let mut source = SqsEventSource::for_queue(
                            &sdk,
                            &template,
                            &resources,
                            &definition.logical_id,
                            Some(queue),
                            functions[&definition.logical_id].clone(),
                        )?;
                        source.retry_after_seconds = Some(options.retry_after_seconds);
                        tasks.push(tokio::spawn(async move { source.run(1).await }));
                    }
                    EventDef::Schedule { expression } => {
                        let every = schedule_interval(expression)
                            .ok_or_else(|| DevError::Start(format!("unsupported schedule {expression}")))?;
                        let real_every = every / clock.speed.max(1);
                        let function = functions[&definition.logical_id].clone();
                        tasks.push(tokio::spawn(async move {
                            let mut ticks = tokio::time::interval(real_every.max(Duration::from_millis(500)));
                            ticks.tick().await;
                            loop {
                                ticks.tick().await;
                                if let Err(error) = invoke_async(&*function, scheduled_event(clock.now())).await {
                                    tracing::warn!(%error, "scheduled invocation failed");
                                }
                            }
                        }));
                    }
                    EventDef::Http { .. } => {}
                }
            }
        }

        Ok(Self {
            app_url,
            local_url,
            watch_url,
            resources,
            template,
            sdk,
            bigcommerce,
            sms,
            clock,
            log_file,
            env,
            _gateway: gateway,
            watch: Some(watch),
            tasks,
            _moto: moto,
        })
    }

    /// The simulator's "Install" button for the local store (None with a real BigCommerce).
    pub fn install_url(&self) -> Option<String> {
        self.bigcommerce
            .as_ref()
            .map(|sim| format!("{}/manage/stores/{DEV_STORE}/install", sim.api_url()))
    }

    /// The simulator's "Open app" button for the local store.
    pub fn open_app_url(&self) -> Option<String> {
        self.bigcommerce
            .as_ref()
            .map(|sim| format!("{}/manage/stores/{DEV_STORE}/app", sim.api_url()))
    }

    /// Stops the watch server and its function processes, the pollers, the servers and moto.
    pub async fn stop(mut self) {
        self.shutdown().await;
    }

    async fn shutdown(&mut self) {
        for task in self.tasks.drain(..) {
            task.abort();
        }
        if let Some(mut watch) = self.watch.take() {
            if let Some(pid) = watch.id() {
                // The watch server starts the functions as its children: end the whole process group.
                signal_group("TERM", pid);
                if tokio::time::timeout(Duration::from_secs(10), watch.wait())
                    .await
                    .is_err()
                {
                    signal_group("KILL", pid);
                }
            }
            let _ = watch.wait().await;
        }
    }
}

impl Drop for DevStack {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
        if let Some(pid) = self.watch.as_ref().and_then(Child::id) {
            signal_group("KILL", pid);
        }
    }
}

/// Sends a signal to a whole process group (the watch server and what it started).
fn signal_group(signal: &str, pid: u32) {
    let _ = std::process::Command::new("kill")
        .args(["-s", signal, "--", &format!("-{pid}")])
        .status();
}

fn write_private(path: &Path, contents: &str) -> Result<(), DevError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| DevError::Start(e.to_string()))?;
    file.write_all(contents.as_bytes())
        .map_err(|e| DevError::Start(e.to_string()))
}

async fn start_watch(options: &DevOptions, env: &[(String, String)], log_file: &Path) -> Result<Child, DevError> {
    let bin = options.tools_dir.join("venv/bin");
    if !bin.join("cargo-lambda").exists() {
        return Err(DevError::Start(format!(
            "cargo-lambda is not installed in {}: run `cargo xtask bootstrap`",
            bin.display()
        )));
    }
    let log = std::fs::File::create(log_file).map_err(|e| DevError::Start(e.to_string()))?;
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let mut command = Command::from(crate::cargo());
    command
        .current_dir(crate::workspace_root())
        .args(["lambda", "watch", "--invoke-address", "127.0.0.1", "--invoke-port"])
        .arg(options.watch_port.to_string())
        .env("PATH", path)
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(|e| DevError::Start(e.to_string()))?)
        .stderr(log)
        .process_group(0)
        .kill_on_drop(true);
    // Through a file, not arguments: the process list must not show secrets.
    let env_file = log_file.with_file_name("functions.env");
    write_private(
        &env_file,
        &env.iter().map(|(k, v)| format!("{k}={v}\n")).collect::<String>(),
    )?;
    command.arg("--env-file").arg(&env_file);
    if let Some(features) = &options.features {
        command.args(["--features", features]);
    }
    command
        .spawn()
        .map_err(|e| DevError::Start(format!("cannot start cargo lambda watch: {e}")))
}

async fn wait_for_port(port: u16, timeout: Duration) -> Result<(), DevError> {
    let deadline = tokio::time::Instant::now() + timeout;
    while tokio::time::Instant::now() < deadline {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(DevError::Start(format!(
        "cargo lambda watch did not listen on port {port} within {timeout:?}"
    )))
}

/// Builds every function binary of the template (debug), so the watch server's first invocation of each
/// does not wait for a compile. Blocking; cargo's own output goes to stderr. `features` must be the same as
/// [`DevOptions::features`], or the watch server builds again. (The dev stack's test passes
/// `shared/failpoints`, the test build's set, so that its build only links the binaries: the failpoints stay
/// inert, nothing in those processes arms one.)
pub fn build_functions(features: Option<&str>) -> Result<(), DevError> {
    let template = Template::load_default()?;
    let mut command = crate::cargo();
    command
        .current_dir(crate::workspace_root())
        .args(["build", "--quiet", "--bins"]);
    if let Some(features) = features {
        command.args(["--features", features]);
    }
    for function in template.functions()? {
        command.args(["--package", function.crate_name()]);
    }
    let status = command
        .status()
        .map_err(|e| DevError::Start(format!("cannot run cargo build: {e}")))?;
    if status.success() {
        Ok(())
    } else {
        Err(DevError::Start(format!("building the functions failed ({status})")))
    }
}

/// `rate(5 minutes)` → 5 minutes. (The template's schedules are rates.)
pub fn schedule_interval(expression: &str) -> Option<Duration> {
    let inner = expression.strip_prefix("rate(")?.strip_suffix(')')?;
    let (count, unit) = inner.split_once(' ')?;
    let count: u64 = count.parse().ok()?;
    let seconds = match unit.trim_end_matches('s') {
        "minute" => 60,
        "hour" => 3600,
        "day" => 86400,
        _ => return None,
    };
    Some(Duration::from_secs(count * seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rate_schedules() {
        assert_eq!(schedule_interval("rate(5 minutes)"), Some(Duration::from_secs(300)));
        assert_eq!(schedule_interval("rate(1 hour)"), Some(Duration::from_secs(3600)));
        assert_eq!(schedule_interval("cron(0 3 * * ? *)"), None);
    }
}
