//! Local stand-ins for what AWS does around our functions, driven by template.yaml:
//! [`moto`] runs the AWS emulator, [`provision`] creates the template's resources in it, [`gateway`] serves the
//! HTTP API's routes, [`event_source`] feeds queue messages to consumer functions the way Lambda's SQS event
//! source does, [`invoke`] calls a function in-process or through `cargo lambda watch`, and [`browser`] drives headless
//! Chromium for end-to-end page tests.

pub mod browser;
pub mod dev;
pub mod event_source;
pub mod fault_proxy;
pub mod gateway;
pub mod invoke;
pub mod moto;
pub mod provision;
pub mod template;

use std::path::PathBuf;

/// The repository root.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("devstack is a workspace member")
        .to_path_buf()
}

/// A `cargo` command for a nested build (xtask's steps, the dev stack's builds), without the variables
/// cargo sets for the crate that is running (`CARGO_MANIFEST_DIR`, `CARGO_PKG_*`, ...). Some build scripts
/// (ring's) rerun when `CARGO_MANIFEST_DIR` changes, so a nested build that inherits it rebuilds them and
/// every crate above them, and the next outer build rebuilds them back.
pub fn cargo() -> std::process::Command {
    let mut command = std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    for (name, _) in std::env::vars_os() {
        let Some(name) = name.to_str() else { continue };
        let set_for_running_crate = name.starts_with("CARGO_PKG_")
            || name.starts_with("CARGO_BIN_")
            || matches!(
                name,
                "CARGO_MANIFEST_DIR"
                    | "CARGO_MANIFEST_PATH"
                    | "CARGO_CRATE_NAME"
                    | "CARGO_PRIMARY_PACKAGE"
                    | "CARGO_TARGET_TMPDIR"
                    | "CARGO_RUSTC_CURRENT_DIR"
            );
        if set_for_running_crate {
            command.env_remove(name);
        }
    }
    command
}

/// Where the project-local tools live (`.tools/`, git-ignored), unless `DEVSTACK_TOOLS_DIR` says otherwise.
pub fn tools_dir() -> PathBuf {
    std::env::var_os("DEVSTACK_TOOLS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".tools"))
}
