//! Empty on purpose: this crate only pins one feature set for the third-party crates the workspace's builds
//! share (see its Cargo.toml).
