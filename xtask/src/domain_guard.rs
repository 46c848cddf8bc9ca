//! The compiler keeps the domain pure only if the `domain` crate cannot reach I/O crates: this check fails
//! `cargo xtask test` when one of them enters its dependency tree (directly or through another dependency).

use crate::{cargo, tools};
use anyhow::{Context, Result, bail};

/// Crate-name prefixes the domain must never depend on: the AWS SDK (not `aws-lc-rs`, which is only
/// cryptography), HTTP clients and servers, the async runtime and the Lambda runtime.
const FORBIDDEN: &[&str] = &[
    "aws-config",
    "aws-sdk-",
    "aws-smithy-",
    "aws_lambda_events",
    "reqwest",
    "hyper",
    "tokio",
    "lambda_",
];

pub fn check() -> Result<()> {
    let output = cargo()
        .args([
            "tree",
            "--package",
            "domain",
            "--edges",
            "normal,build",
            "--prefix",
            "none",
        ])
        .args(["--format", "{p}"])
        .current_dir(tools::workspace_root())
        .output()
        .context("cannot run cargo tree")?;
    if !output.status.success() {
        bail!(
            "cargo tree -p domain failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let found = forbidden(&String::from_utf8_lossy(&output.stdout));
    if !found.is_empty() {
        bail!("the domain crate depends on I/O crates: {}", found.join(", "));
    }
    println!("domain depends on none of: {}", FORBIDDEN.join(" "));
    Ok(())
}

/// The forbidden packages in `cargo tree --prefix none --format {p}` output (`name vX.Y.Z [(path)]` lines).
fn forbidden(tree: &str) -> Vec<String> {
    let mut found: Vec<String> = tree
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| FORBIDDEN.iter().any(|prefix| name.starts_with(prefix)))
        .map(str::to_owned)
        .collect();
    found.sort();
    found.dedup();
    found
}

#[cfg(test)]
mod tests {
    use super::forbidden;

    #[test]
    fn io_crates_anywhere_in_the_tree_are_named_once() {
        let tree = "domain v0.1.0 (/repo/domain)\nchrono v0.4.42\nserde v1.0.228\naws-lc-rs v1.19.0\n";
        assert!(forbidden(tree).is_empty());
        let tree = "domain v0.1.0 (/repo/domain)\ntokio v1.48.0\naws-sdk-dynamodb v1.136.0\ntokio v1.48.0 (*)\n\
                    reqwest v0.13.1\nlambda_runtime v1.5.0\nhyper-util v0.1.0\naws-smithy-types v1.3.0\n";
        assert_eq!(
            forbidden(tree),
            [
                "aws-sdk-dynamodb",
                "aws-smithy-types",
                "hyper-util",
                "lambda_runtime",
                "reqwest",
                "tokio"
            ]
        );
    }

    #[test]
    fn the_domain_crate_depends_on_no_io_crate() {
        super::check().unwrap();
    }
}
