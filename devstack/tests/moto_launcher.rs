//! The launcher's changes to moto (`devstack/moto_launcher.py`: partition-only queries, an index kept per
//! global secondary index, sends that do not count the queue, item-level transaction rollback) agree with a
//! model of DynamoDB and SQS (`moto_launcher_model.py`, run with the project's Python from `.tools`).

use std::path::Path;

#[test]
fn the_launchers_moto_answers_as_the_model_says() {
    let python = devstack::tools_dir().join("venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `cargo xtask bootstrap`",
        python.display()
    );
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let output = std::process::Command::new(&python)
        .arg(here.join("tests/moto_launcher_model.py"))
        .arg(&python)
        .arg(here.join("moto_launcher.py"))
        .output()
        .expect("the model check runs");
    assert!(
        output.status.success() && output.stdout.ends_with(b"ok\n"),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
