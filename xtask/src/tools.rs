//! The project-local tools folder (.tools/, git-ignored): a Python virtualenv with the pinned packages of
//! xtask/requirements.txt. Nothing is installed globally.

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Tools {
    pub dir: PathBuf,
}

impl Tools {
    /// A program installed in the virtualenv.
    pub fn bin(&self, name: &str) -> PathBuf {
        self.dir.join("venv/bin").join(name)
    }
}

pub fn workspace_root() -> PathBuf {
    devstack::workspace_root()
}

/// The installer of the project-local tools (from PyPI, into the tools' own virtual environment).
const UV_VERSION: &str = "0.9.5";

/// Creates or updates .tools/ when xtask/requirements.txt changed since the last install, and installs
/// Chromium (for the browser tests) when it is missing.
pub fn bootstrap() -> Result<Tools> {
    install_chromium()?;
    let tools = Tools {
        dir: devstack::tools_dir(),
    };
    let requirements = workspace_root().join("xtask/requirements.txt");
    let wanted = hex::encode(Sha256::digest(
        std::fs::read(&requirements).context("reading xtask/requirements.txt")?,
    ));
    let stamp = tools.dir.join("venv/.requirements.sha256");
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str()) && tools.bin("python").exists() {
        println!("project-local tools are up to date in {}", tools.dir.display());
        return Ok(tools);
    }
    let python = find_python()?;
    println!(
        "installing project-local tools into {} (pinned in xtask/requirements.txt)",
        tools.dir.display()
    );
    std::fs::create_dir_all(&tools.dir)?;
    if !tools.bin("python").exists() {
        crate::run(Command::new(&python).args(["-m", "venv"]).arg(tools.dir.join("venv")))?;
    }
    // uv installs the requirements in seconds where pip took most of a minute (CI's first step); pip only
    // installs uv itself.
    crate::run(
        Command::new(tools.bin("python"))
            .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check"])
            .arg(format!("uv=={UV_VERSION}")),
    )?;
    crate::run(
        Command::new(tools.bin("uv"))
            .args(["pip", "install", "--quiet", "--python"])
            .arg(tools.bin("python"))
            .arg("-r")
            .arg(&requirements),
    )?;
    std::fs::write(&stamp, wanted)?;
    Ok(tools)
}

/// Debian's chromium package, for the headless browser tests. Needs root and apt-get; otherwise says what to do.
fn install_chromium() -> Result<()> {
    if devstack::browser::chromium_path().is_some() {
        return Ok(());
    }
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if !is_root || Command::new("apt-get").arg("--version").output().is_err() {
        bail!(
            "Chromium is needed for the browser tests: install Debian's chromium package (or set CHROMIUM to a Chromium binary)"
        );
    }
    println!("installing Chromium (Debian package chromium) for the browser tests");
    crate::run(Command::new("apt-get").args(["update", "-qq"]))?;
    crate::run(
        Command::new("apt-get")
            .args(["install", "-y", "-qq", "--no-install-recommends", "chromium"])
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )?;
    if devstack::browser::chromium_path().is_none() {
        bail!("apt-get installed chromium but no chromium binary was found");
    }
    Ok(())
}

fn find_python() -> Result<PathBuf> {
    for candidate in ["python3", "python"] {
        if let Ok(output) = Command::new(candidate).arg("--version").output()
            && output.status.success()
        {
            return Ok(Path::new(candidate).to_path_buf());
        }
    }
    bail!("Python 3 is needed for the local tools (moto, cfn-lint): install python3 with the venv module")
}
