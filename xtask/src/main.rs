//! Project tooling. `cargo xtask <command>`:
//!
//! - `bootstrap`: install the project-local tools (.tools/: moto, cargo-lambda, cfn-lint, aws-sam-translator)
//! - `test`: everything CI runs: bootstrap, fmt, the domain crate's dependency check, template validation,
//!   clippy while the tests build, unit and integration tests, then the recovery, replies and sync suites again with a tenth
//!   of the app's AWS calls failing (fault proxy)
//! - `validate-template`: transform template.yaml with the SAM translator and lint both with cfn-lint
//! - `dev`: the whole app running locally (cargo lambda watch, moto, simulator, sandbox) until Ctrl-C
//! - `demo`: the main job end to end in about a minute (install, sync, checkout consent, reminders, STOP,
//!   recovered revenue), told in plain sentences; the app's logs go to .local/demo/app.log
//! - `bench <name>`: a benchmark from tests/benches (sync, sweep, stop, settings_page, fairness, coldstart, cost)
//!   against moto, the simulator and the sandbox; it prints its figures (`coldstart` first builds the
//!   functions' release binaries)
//! - `sender <approve | share | revoke | show> <sender> [store_hash]`: the operator approves (or withdraws) a
//!   sender number or ID for a store, after checking it in the SMS provider account

mod dev;
mod domain_guard;
mod senders;
mod tools;

use anyhow::{Context, Result, bail};
use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("bootstrap") => tools::bootstrap().map(|_| ()),
        Some("test") => test(&args[1..]),
        Some("validate-template") => tools::bootstrap().and_then(|tools| validate_template(&tools)),
        Some("bench") if args.len() > 1 => bench(&args[1..]),
        Some("dev") => dev::dev(&args[1..]),
        Some("demo") => demo(),
        Some("sender") => senders::sender(&args[1..]),
        _ => {
            eprintln!(
                "usage: cargo xtask <demo | dev | test | bootstrap | validate-template | bench <name> | sender ...>"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("\nxtask: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs a command in the workspace root, failing with its name if it fails.
pub(crate) fn run(command: &mut Command) -> Result<()> {
    let shown = format!("{command:?}");
    let status = command
        .current_dir(tools::workspace_root())
        .status()
        .with_context(|| format!("cannot start {shown}"))?;
    if !status.success() {
        bail!("{shown} failed ({status})");
    }
    Ok(())
}

pub(crate) use devstack::cargo;

fn step(name: &str) {
    println!("\n==> {name}");
}

/// The test command: what CI runs on a fresh clone. Extra arguments go to `cargo test`.
fn test(extra: &[String]) -> Result<()> {
    step("Bootstrapping project-local tools");
    let tools = tools::bootstrap()?;

    step("Checking formatting (cargo fmt --check)");
    run(cargo().args(["fmt", "--all", "--", "--check"]))?;

    step("Checking that the domain crate depends on no I/O crate (cargo tree -p domain)");
    domain_guard::check()?;

    step("Validating template.yaml (SAM transform + cfn-lint)");
    validate_template(&tools)?;

    step("Linting while building the tests (clippy on every target of the workspace, -D warnings)");
    let lint = Clippy::find()?;
    run(lint.on(cargo().args(["test", "--workspace", "--all-targets", "--no-run"])))?;

    // The fault run starts first, on its own moto server, and runs beside the main suite: it mostly waits (on
    // timeouts and the SDK's backoff) while the main suite mostly computes, so together they take little
    // longer than the main suite alone. Its output goes to a file, shown when it ends.
    step("Starting two AWS emulators (moto): one for the suites, one for the fault run");
    let runtime = tokio::runtime::Runtime::new()?;
    let (moto, fault_moto) = runtime.block_on(async {
        tokio::try_join!(
            devstack::moto::Moto::start(&tools.dir),
            devstack::moto::Moto::start(&tools.dir)
        )
    })?;
    println!("moto servers at {} and {}", moto.url(), fault_moto.url());
    let fault_log = tools::workspace_root().join(".local/fault-run.log");
    let fault_run = FaultRun::start(lint.on(&mut cargo()), fault_moto.url(), &fault_log)?;

    step("Running unit and integration tests");
    let mut suites = cargo();
    lint.on(&mut suites)
        .args(["test", "--workspace"])
        .args(extra)
        .env("MOTO_URL", moto.url());
    // Twice the cores: an integration test mostly waits on moto, the simulator or a timeout (2 at once: 311 s,
    // 4: 139 s). More than that overloads the one moto server past the SDK's 2 s attempt timeout.
    if std::env::var_os("RUST_TEST_THREADS").is_none() {
        suites.env("RUST_TEST_THREADS", SUITE_TEST_THREADS);
    }
    let suites = run(&mut suites);
    step(&format!("{} (output: {})", fault_run.title, fault_log.display()));
    let faults = fault_run.wait(&fault_log);
    drop((moto, fault_moto));
    suites.and(faults)
}

/// Clippy as the compiler of the workspace's own crates (what `cargo clippy` does, but in a build, not a check):
/// the test build lints every target while it compiles, and its dependencies are compiled once, for the tests,
/// instead of once more in check mode for a separate `cargo clippy` (2 minutes on a clean clone). Every later
/// cargo command of the run gets the same variables, or cargo would compile the workspace's crates again.
struct Clippy {
    driver: std::path::PathBuf,
}

impl Clippy {
    fn find() -> Result<Self> {
        let sysroot = Command::new("rustc").args(["--print", "sysroot"]).output()?;
        let driver = std::path::Path::new(String::from_utf8_lossy(&sysroot.stdout).trim()).join("bin/clippy-driver");
        if !driver.exists() {
            bail!("{} is missing: rustup component add clippy", driver.display());
        }
        Ok(Self { driver })
    }

    fn on<'a>(&self, command: &'a mut Command) -> &'a mut Command {
        command
            .env("RUSTC_WORKSPACE_WRAPPER", &self.driver)
            // How `cargo clippy -- -D warnings` hands its arguments to the driver.
            .env("CLIPPY_ARGS", "-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__")
    }
}

/// Tests at once in the main suite (unless `RUST_TEST_THREADS` says otherwise).
const SUITE_TEST_THREADS: &str = "4";

/// The share of the app's AWS calls the fault run fails.
const FAULT_RATE: &str = "0.1";

/// The recovery, replies and sync suites again with the app's AWS calls through the fault proxy
/// (devstack/src/fault_proxy.rs): timeouts, throttles, 500s and lost answers on a tenth of them.
struct FaultRun {
    title: String,
    child: std::process::Child,
    shown: String,
}

impl FaultRun {
    /// `command`: cargo, as the test build ran it.
    fn start(command: &mut Command, moto_url: &str, log: &std::path::Path) -> Result<Self> {
        let seed = std::env::var("FAULT_SEED").unwrap_or_else(|_| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or_default()
                .to_string()
        });
        let title = format!(
            "Recovery, replies and sync with {FAULT_RATE} of AWS calls failing (FAULT_SEED={seed} repeats the draw)"
        );
        if let Some(dir) = log.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let output = std::fs::File::create(log)?;
        // Many more tests at once than cores: the run mostly waits (on attempt timeouts, backoff and the sync's
        // pacing; 48 s of CPU in 204 s with 6 at once). With 16, its five longest tests (90 to 120 s each under
        // faults) start at once instead of last: 144 s alone. Every package's tests, as the build above, so
        // that cargo resolves the same features and compiles nothing; `--tests` leaves out the doc tests, which
        // rustdoc would compile again; the filters select the suites (and the domain's pure `recovery::` and
        // `replies::` unit tests, which take milliseconds).
        command
            .args(["test", "--workspace", "--tests", "--"])
            .args([
                "recovery::",
                "replies::",
                "replies_second_pass::",
                "sync::",
                "--test-threads=16",
            ])
            .env("MOTO_URL", moto_url)
            .env("FAULT_RATE", FAULT_RATE)
            .env("FAULT_SEED", &seed)
            .current_dir(tools::workspace_root())
            .stdout(output.try_clone()?)
            .stderr(output);
        let shown = format!("{command:?}");
        let child = command.spawn().with_context(|| format!("cannot start {shown}"))?;
        Ok(Self { title, child, shown })
    }

    /// Waits for the run; prints its test results (all of its output if it failed).
    fn wait(mut self, log: &std::path::Path) -> Result<()> {
        let status = self.child.wait()?;
        let output = std::fs::read_to_string(log).unwrap_or_default();
        if status.success() {
            for line in output.lines().filter(|line| line.starts_with("test result:")) {
                println!("{line}");
            }
            Ok(())
        } else {
            println!("{output}");
            bail!("{} failed ({status})", self.shown)
        }
    }
}

/// The demo story (tests/src/demo.rs) on its own moto server, simulator and sandbox, all stopped when it ends.
fn demo() -> Result<()> {
    step("Bootstrapping project-local tools");
    tools::bootstrap()?;
    step("Building and running the demo");
    // The demo starts moto itself (from .tools) and stops it on exit.
    run(cargo()
        .args(["run", "--quiet", "--package", "integration-tests", "--bin", "demo"])
        .env_remove("MOTO_URL"))
}

/// Runs `tests/benches/<name>.rs` (release build) against a fresh moto server.
fn bench(args: &[String]) -> Result<()> {
    let tools = tools::bootstrap()?;
    if args[0] == "coldstart" {
        step("Building the functions as deployed (release profile) and the bare lambda_runtime yardstick");
        run(cargo()
            .args(["build", "--release"])
            .args(FUNCTIONS.iter().flat_map(|f| ["-p", f])))?;
        run(cargo().args(["build", "--release", "-p", "sweep", "--example", "bare_runtime"]))?;
    }
    let runtime = tokio::runtime::Runtime::new()?;
    let moto = runtime.block_on(devstack::moto::Moto::start(&tools.dir))?;
    let result = run(cargo()
        .args(["bench", "--package", "integration-tests", "--bench", &args[0], "--"])
        .args(&args[1..])
        .env("MOTO_URL", moto.url()));
    drop(moto);
    result
}

/// Every function's crate, one Lambda each.
const FUNCTIONS: &[&str] = &["install", "webhooks", "shopper", "sync", "sweep", "send"];

fn validate_template(tools: &tools::Tools) -> Result<()> {
    let root = tools::workspace_root();
    let transformed = root.join("target/template.cfn.json");
    std::fs::create_dir_all(root.join("target"))?;
    // Offline: a region is needed by the libraries, never credentials.
    let offline = [
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_CONFIG_FILE", "/dev/null"),
        ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null"),
    ];
    run(Command::new(tools.bin("cfn-lint")).arg("template.yaml").envs(offline))?;
    run(Command::new(tools.bin("python"))
        .arg("xtask/scripts/sam_transform.py")
        .arg("template.yaml")
        .arg(&transformed)
        .envs(offline))?;
    run(Command::new(tools.bin("cfn-lint")).arg(&transformed).envs(offline))?;
    println!("template.yaml transforms and lints clean");
    Ok(())
}
