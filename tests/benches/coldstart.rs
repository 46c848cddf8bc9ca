//! `cargo xtask bench coldstart`: each function's release binary (the deployed profile; xtask builds them
//! first) and a bare `lambda_runtime` binary with one AWS client (the yardstick, functions/sweep/examples/
//! bare_runtime.rs), started N times each against a local Lambda runtime API (a stub serving one sample
//! event from events/<function>/), moto, the BigCommerce simulator and the SMS sandbox. Prints, p50 and p90:
//! init (process start to its first `/invocation/next`), the first invocation (event handed over to its
//! response) and peak resident memory (`VmHWM` when the response arrives).
//!
//! Options: `-- --runs N` (default 15). Runs go round-robin over the binaries so machine noise falls on all.
//! `-- --memory 128,256` runs the set again for each memory size with the CPU share Lambda gives it (one vCPU
//! at 1,769 MB, in proportion below): each process in a CPU cgroup (v1 `cpu.cfs_quota_us`, 100 ms period) of
//! that share. Needs root. The process joins the cgroup through `sh` before its `exec`, which adds about a
//! millisecond to every init in that mode, the yardstick's too.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue};
use axum::routing::{get, post};
use integration_tests::{TestApp, TestAppOptions};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// The binary and the sample event each run gets.
const SUBJECTS: &[(&str, &str)] = &[
    ("bare lambda_runtime", "sweep/schedule.json"),
    ("install", "install/load.json"),
    ("webhooks", "webhooks/cart-abandoned.json"),
    ("shopper", "shopper/consent-script.json"),
    ("sync", "sync/checkout-consent.json"),
    ("sweep", "sweep/schedule.json"),
    ("send", "send/reminder-jobs.json"),
];

/// The template's store in the sample events.
const STORE: &str = "g5cd38";

enum Outcome {
    Response(Bytes),
    Error(Bytes),
    InitError(Bytes),
}

/// One run's runtime API: hands out the event once, then holds every later `/next` open (an idle
/// execution environment) until the process is stopped.
struct Stub {
    event: Bytes,
    first_next: Mutex<Option<Instant>>,
    done: Mutex<Option<oneshot::Sender<(Instant, Outcome)>>>,
}

impl Stub {
    fn finish(&self, outcome: Outcome) {
        if let Some(done) = self.done.lock().unwrap().take() {
            let _ = done.send((Instant::now(), outcome));
        }
    }
}

async fn next(State(stub): State<Arc<Stub>>) -> (HeaderMap, Bytes) {
    let first = {
        let mut first_next = stub.first_next.lock().unwrap();
        let first = first_next.is_none();
        if first {
            *first_next = Some(Instant::now());
        }
        first
    };
    if !first {
        std::future::pending::<()>().await;
    }
    let deadline = chrono::Utc::now().timestamp_millis() + 30_000;
    let mut headers = HeaderMap::new();
    headers.insert(
        "lambda-runtime-aws-request-id",
        HeaderValue::from_static("bench-request-1"),
    );
    headers.insert("lambda-runtime-deadline-ms", HeaderValue::from(deadline));
    headers.insert(
        "lambda-runtime-invoked-function-arn",
        HeaderValue::from_static("arn:aws:lambda:us-east-1:123456789012:function:bench"),
    );
    headers.insert(
        "lambda-runtime-trace-id",
        HeaderValue::from_static("Root=1-00000000-000000000000000000000000"),
    );
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    (headers, stub.event.clone())
}

fn stub_router(stub: Arc<Stub>) -> Router {
    Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(|State(stub): State<Arc<Stub>>, body: Bytes| async move { stub.finish(Outcome::Response(body)) }),
        )
        .route(
            "/2018-06-01/runtime/invocation/{id}/error",
            post(|State(stub): State<Arc<Stub>>, body: Bytes| async move { stub.finish(Outcome::Error(body)) }),
        )
        .route(
            "/2018-06-01/runtime/init/error",
            post(|State(stub): State<Arc<Stub>>, body: Bytes| async move { stub.finish(Outcome::InitError(body)) }),
        )
        .with_state(stub)
}

struct Sample {
    init_ms: f64,
    first_ms: f64,
    peak_kb: u64,
    result: String,
}

/// The peak resident set of a live process, in kB.
fn vm_hwm_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// What the response says, briefly: an HTTP function's status code, or that it answered.
fn summarize(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Response(body) => serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v.get("statusCode").and_then(|s| s.as_u64()))
            .map_or_else(|| "ok".to_owned(), |status| format!("HTTP {status}")),
        Outcome::Error(body) => format!(
            "error {}",
            String::from_utf8_lossy(body).chars().take(80).collect::<String>()
        ),
        Outcome::InitError(body) => format!(
            "init error {}",
            String::from_utf8_lossy(body).chars().take(80).collect::<String>()
        ),
    }
}

/// Lambda's CPU: one vCPU at 1,769 MB, in proportion below.
const MB_PER_VCPU: u64 = 1_769;

/// A CPU cgroup (v1) capped at the share Lambda gives `memory_mb`; removed on drop.
struct CpuCap {
    dir: PathBuf,
    memory_mb: u64,
}

impl CpuCap {
    fn new(memory_mb: u64) -> Self {
        let dir = PathBuf::from(format!(
            "/sys/fs/cgroup/cpu/coldstart-{memory_mb}mb-{}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| {
            panic!(
                "cannot create the CPU cgroup {} (root and cgroup v1's cpu controller are needed): {e}",
                dir.display()
            )
        });
        let period_us = 100_000;
        std::fs::write(dir.join("cpu.cfs_period_us"), period_us.to_string()).expect("period set");
        std::fs::write(
            dir.join("cpu.cfs_quota_us"),
            (period_us * memory_mb / MB_PER_VCPU).to_string(),
        )
        .expect("quota set");
        Self { dir, memory_mb }
    }

    fn memory_mb(&self) -> u64 {
        self.memory_mb
    }

    fn procs(&self) -> PathBuf {
        self.dir.join("cgroup.procs")
    }
}

impl Drop for CpuCap {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// One binary, its sample event and the environment its function gets.
struct Subject {
    name: &'static str,
    binary: PathBuf,
    event: Bytes,
    env: Vec<(String, String)>,
}

async fn run_once(subject: &Subject, cap: Option<&CpuCap>) -> Sample {
    let Subject {
        name,
        binary,
        event,
        env,
    } = subject;
    let (done, finished) = oneshot::channel();
    let stub = Arc::new(Stub {
        event: event.clone(),
        first_next: Mutex::new(None),
        done: Mutex::new(Some(done)),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("loopback port");
    let address = listener.local_addr().expect("address");
    let server = tokio::spawn(axum::serve(listener, stub_router(stub.clone())).into_future());

    let started = Instant::now();
    let mut command = match cap {
        // The shell moves itself into the cgroup ("0": the writer), then becomes the binary.
        Some(cap) => {
            let mut command = tokio::process::Command::new("/bin/sh");
            command
                .args(["-c", "echo 0 > \"$1\" && exec \"$2\"", "sh"])
                .arg(cap.procs())
                .arg(binary);
            command
        }
        None => tokio::process::Command::new(binary),
    };
    let mut child = command
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("AWS_LAMBDA_RUNTIME_API", address.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", name)
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env(
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
            cap.map_or(256, |c| c.memory_mb()).to_string(),
        )
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
    let pid = child.id().expect("running");
    let (ended, outcome) = tokio::time::timeout(Duration::from_secs(60), finished)
        .await
        .unwrap_or_else(|_| panic!("{name} did not answer within 60 s"))
        .expect("stub answers");
    let peak_kb = vm_hwm_kb(pid);
    child.kill().await.expect("process stops");
    server.abort();
    let first_next = stub.first_next.lock().unwrap().unwrap_or(ended);
    Sample {
        init_ms: (first_next - started).as_secs_f64() * 1e3,
        first_ms: (ended - first_next).as_secs_f64() * 1e3,
        peak_kb,
        result: summarize(&outcome),
    }
}

/// The value below which `p` of the sorted `values` fall (nearest rank).
fn percentile(values: &[f64], p: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn release_dir() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_owned();
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join("release")
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let runs: usize = args
        .iter()
        .position(|a| a == "--runs")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(15);
    let memory_sizes: Vec<u64> = args
        .iter()
        .position(|a| a == "--memory")
        .and_then(|i| args.get(i + 1))
        .map(|list| {
            list.split(',')
                .map(|mb| mb.trim().parse().expect("--memory takes sizes in MB, e.g. 128,256"))
                .collect()
        })
        .unwrap_or_default();

    // moto with the template's resources, the simulator and the sandbox, configured as `cargo xtask dev`
    // configures the function processes.
    let app = TestApp::start_with(TestAppOptions::default()).await;
    app.seed_store(STORE, |_| {}).await;
    let moto = integration_tests::moto_url().await;
    let resources = &app.aws.resources;
    let mut env = devstack::moto::aws_env(&moto);
    env.extend(resources.environment(&app.aws.template));
    env.extend(
        resources
            .function_environment(&app.aws.template)
            .expect("template functions"),
    );
    env.extend(
        [
            ("APP_URL", app.gateway.url().to_owned()),
            ("APP_ENVIRONMENT", "local".to_owned()),
            ("BC_CLIENT_ID", app.bigcommerce_config.client_id.clone()),
            ("BC_API_URL", app.bigcommerce_config.api_url.clone()),
            ("BC_LOGIN_URL", app.bigcommerce_config.login_url.clone()),
            ("SMS_PROVIDER", "sandbox".to_owned()),
            ("SANDBOX_SMS_API_URL", app.sms.api_url()),
            ("RUST_LOG", "info".to_owned()),
        ]
        .map(|(k, v)| (k.to_owned(), v)),
    );
    let secret = devstack::provision::create_app_secret(
        &app.aws.sdk,
        &integration_tests::unique_prefix(),
        &[
            (
                "BC_CLIENT_SECRET".to_owned(),
                app.bigcommerce_config.client_secret.expose().to_owned(),
            ),
            (
                "SMS_WEBHOOK_TOKEN".to_owned(),
                app.sms_webhook_token.expose().to_owned(),
            ),
        ],
    )
    .await
    .expect("app secret created");
    // Only the functions the template gives the secret read it at start-up (`sweep` does not).
    let secret_readers: Vec<String> = app
        .aws
        .template
        .functions()
        .expect("template functions")
        .into_iter()
        .filter(|f| {
            f.environment
                .iter()
                .any(|(name, _)| name == shared::app_secret::APP_SECRET_ID)
        })
        .map(|f| f.crate_name().to_owned())
        .collect();

    let release = release_dir();
    let events = Path::new(env!("CARGO_MANIFEST_DIR")).join("../events");
    let subjects: Vec<Subject> = SUBJECTS
        .iter()
        .map(|(name, event)| {
            let binary = if name.starts_with("bare") {
                release.join("examples/bare_runtime")
            } else {
                release.join(name)
            };
            assert!(
                binary.exists(),
                "{} is missing: run `cargo xtask bench coldstart`",
                binary.display()
            );
            let event = std::fs::read(events.join(event)).expect("sample event");
            let mut env = env.clone();
            if secret_readers.iter().any(|reader| reader == name) {
                env.push((shared::app_secret::APP_SECRET_ID.to_owned(), secret.clone()));
            }
            Subject {
                name,
                binary,
                event: Bytes::from(event),
                env,
            }
        })
        .collect();

    // Uncapped first (the machine's CPU), then each memory size's share of it.
    let caps: Vec<Option<CpuCap>> = std::iter::once(None)
        .chain(memory_sizes.iter().map(|&mb| Some(CpuCap::new(mb))))
        .collect();
    for cap in &caps {
        let mut samples: Vec<Vec<Sample>> = subjects.iter().map(|_| Vec::new()).collect();
        for _ in 0..runs {
            for (i, subject) in subjects.iter().enumerate() {
                samples[i].push(run_once(subject, cap.as_ref()).await);
            }
        }
        print_table(runs, cap.as_ref(), &subjects, &samples);
    }
}

fn print_table(runs: usize, cap: Option<&CpuCap>, subjects: &[Subject], samples: &[Vec<Sample>]) {
    let cpu = match cap {
        None => "the machine's CPU, uncapped".to_owned(),
        Some(cap) => format!(
            "CPU capped at {} MB's share, {:.1}% of one vCPU",
            cap.memory_mb(),
            100.0 * cap.memory_mb() as f64 / MB_PER_VCPU as f64
        ),
    };
    println!("\ncold start: {runs} runs each, release builds, local runtime API stub + moto; {cpu}");
    println!(
        "{:<20} | {:>8} {:>8} {:>9} | {:>9} {:>9} | {:>8} {:>8} | first response",
        "binary", "init p50", "init p90", "x bare", "first p50", "first p90", "RSS p50", "RSS p90"
    );
    let bare_p50 = percentile(&samples[0].iter().map(|s| s.init_ms).collect::<Vec<_>>(), 0.5);
    for (Subject { name, .. }, samples) in subjects.iter().zip(samples) {
        let init: Vec<f64> = samples.iter().map(|s| s.init_ms).collect();
        let first: Vec<f64> = samples.iter().map(|s| s.first_ms).collect();
        let rss: Vec<f64> = samples.iter().map(|s| s.peak_kb as f64 / 1024.0).collect();
        println!(
            "{:<20} | {:>6.1}ms {:>6.1}ms {:>8.2}x | {:>7.1}ms {:>7.1}ms | {:>6.1}MB {:>6.1}MB | {}",
            name,
            percentile(&init, 0.5),
            percentile(&init, 0.9),
            percentile(&init, 0.5) / bare_p50,
            percentile(&first, 0.5),
            percentile(&first, 0.9),
            percentile(&rss, 0.5),
            percentile(&rss, 0.9),
            samples.last().map(|s| s.result.as_str()).unwrap_or_default()
        );
    }
}
