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

/// Where the project-local tools live (`.tools/`, git-ignored), unless `DEVSTACK_TOOLS_DIR` says otherwise.
pub fn tools_dir() -> PathBuf {
    std::env::var_os("DEVSTACK_TOOLS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".tools"))
}
