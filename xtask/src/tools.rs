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

/// Creates or updates .tools/ when xtask/requirements.txt changed since the last install.
pub fn bootstrap() -> Result<Tools> {
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
    crate::run(
        Command::new(tools.bin("python"))
            .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r"])
            .arg(&requirements),
    )?;
    std::fs::write(&stamp, wanted)?;
    Ok(tools)
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
