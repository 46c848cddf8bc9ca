//! Headless Chromium driven over the DevTools protocol, for end-to-end tests of pages a merchant or shopper
//! sees. Chromium comes from Debian's `chromium` package (`cargo xtask bootstrap` installs it when missing).

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::AsyncBufReadExt;
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio::sync::Mutex;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

#[derive(Debug, thiserror::Error)]
pub enum BrowserError {
    #[error(
        "Chromium was not found (looked for $CHROMIUM, /usr/bin/chromium, chromium, chromium-browser). \
         Run `cargo xtask bootstrap`, which installs Debian's chromium package, or set CHROMIUM."
    )]
    NotInstalled,
    #[error("Chromium did not start: {0}")]
    Start(String),
    #[error("DevTools protocol error: {0}")]
    Protocol(String),
    #[error("the page threw: {0}")]
    Script(String),
    #[error("timed out after {0:?} waiting for {1}")]
    Timeout(Duration, String),
}

/// Finds the Chromium binary, if installed.
pub fn chromium_path() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("CHROMIUM").map(PathBuf::from).filter(|p| p.exists()) {
        return Some(path);
    }
    if Path::new("/usr/bin/chromium").exists() {
        return Some(PathBuf::from("/usr/bin/chromium"));
    }
    ["chromium", "chromium-browser"].into_iter().find_map(|name| {
        std::env::var_os("PATH")?
            .to_str()?
            .split(':')
            .map(|dir| Path::new(dir).join(name))
            .find(|p| p.exists())
    })
}

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// One headless Chromium with one page. Killed (and its profile deleted) when dropped.
pub struct Browser {
    child: Child,
    socket: Mutex<Socket>,
    next_id: AtomicU64,
    profile: PathBuf,
}

impl Drop for Browser {
    /// Stops Chromium and its helper processes (its own process group), then removes its profile: removed while
    /// they still ran, the profile was written again (128 left behind in /tmp by a day of test runs).
    fn drop(&mut self) {
        if let Some(group) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{group}")])
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.child.start_kill();
        for _ in 0..200 {
            if !matches!(self.child.try_wait(), Ok(None)) {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

impl Browser {
    pub async fn launch() -> Result<Self, BrowserError> {
        let chromium = chromium_path().ok_or(BrowserError::NotInstalled)?;
        let profile = std::env::temp_dir().join(format!("devstack-chromium-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&profile).map_err(|e| BrowserError::Start(e.to_string()))?;
        let mut child = Command::new(chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
                "--window-size=1280,900",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| BrowserError::Start(e.to_string()))?;
        let stderr = child.stderr.take().expect("stderr piped");
        let mut lines = tokio::io::BufReader::new(stderr).lines();
        let browser_ws = tokio::time::timeout(Duration::from_secs(30), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(url) = line.split("DevTools listening on ").nth(1) {
                    return Some(url.trim().to_owned());
                }
            }
            None
        })
        .await
        .map_err(|_| BrowserError::Start("no DevTools endpoint within 30 s".into()))?
        .ok_or_else(|| BrowserError::Start("Chromium exited before listening".into()))?;
        // Keep draining stderr so Chromium never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

        let http_base = browser_ws
            .strip_prefix("ws://")
            .and_then(|rest| rest.split('/').next())
            .map(|host| format!("http://{host}"))
            .ok_or_else(|| BrowserError::Start(format!("unexpected endpoint {browser_ws}")))?;
        let targets: Value = reqwest::get(format!("{http_base}/json/list"))
            .await
            .map_err(|e| BrowserError::Protocol(e.to_string()))?
            .json()
            .await
            .map_err(|e| BrowserError::Protocol(e.to_string()))?;
        let page_ws = targets
            .as_array()
            .into_iter()
            .flatten()
            .find(|t| t["type"] == "page")
            .and_then(|t| t["webSocketDebuggerUrl"].as_str())
            .ok_or_else(|| BrowserError::Protocol("no page target".into()))?
            .to_owned();
        let (socket, _) = tokio_tungstenite::connect_async(page_ws)
            .await
            .map_err(|e| BrowserError::Protocol(e.to_string()))?;
        let browser = Self {
            child,
            socket: Mutex::new(socket),
            next_id: AtomicU64::new(1),
            profile,
        };
        browser.command("Page.enable", json!({})).await?;
        browser.command("Runtime.enable", json!({})).await?;
        Ok(browser)
    }

    /// Sends one DevTools command and waits for its result (events in between are skipped).
    /// Chromium's profile directory (its own, under the temp directory; removed when dropped).
    pub fn profile(&self) -> &Path {
        &self.profile
    }

    pub async fn command(&self, method: &str, params: Value) -> Result<Value, BrowserError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut socket = self.socket.lock().await;
        socket
            .send(Message::text(
                json!({ "id": id, "method": method, "params": params }).to_string(),
            ))
            .await
            .map_err(|e| BrowserError::Protocol(e.to_string()))?;
        loop {
            let message = tokio::time::timeout(Duration::from_secs(60), socket.next())
                .await
                .map_err(|_| BrowserError::Timeout(Duration::from_secs(60), method.to_owned()))?
                .ok_or_else(|| BrowserError::Protocol("connection closed".into()))?
                .map_err(|e| BrowserError::Protocol(e.to_string()))?;
            let Message::Text(text) = message else { continue };
            let value: Value = serde_json::from_str(&text).map_err(|e| BrowserError::Protocol(e.to_string()))?;
            if value["id"].as_u64() == Some(id) {
                if let Some(error) = value.get("error") {
                    return Err(BrowserError::Protocol(format!("{method}: {error}")));
                }
                return Ok(value["result"].clone());
            }
        }
    }

    /// Loads `url` and waits until the document has finished loading.
    pub async fn navigate(&self, url: &str) -> Result<(), BrowserError> {
        self.command("Page.navigate", json!({ "url": url })).await?;
        // A new document starts "loading"; wait for it to finish.
        tokio::time::sleep(Duration::from_millis(50)).await;
        self.wait_for("document.readyState === 'complete'", Duration::from_secs(30))
            .await
            .map(|_| ())
    }

    /// Evaluates JavaScript in the page (promises are awaited) and returns its value.
    pub async fn eval(&self, expression: &str) -> Result<Value, BrowserError> {
        let result = self
            .command(
                "Runtime.evaluate",
                json!({ "expression": expression, "awaitPromise": true, "returnByValue": true, "userGesture": true }),
            )
            .await?;
        if let Some(exception) = result.get("exceptionDetails") {
            let text = exception["exception"]["description"]
                .as_str()
                .or(exception["text"].as_str())
                .unwrap_or("error");
            return Err(BrowserError::Script(text.to_owned()));
        }
        Ok(result["result"]["value"].clone())
    }

    /// Polls `condition` (a JavaScript expression) until it is truthy; returns its value.
    pub async fn wait_for(&self, condition: &str, timeout: Duration) -> Result<Value, BrowserError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match self.eval(condition).await {
                Ok(value) if truthy(&value) => return Ok(value),
                Ok(_) | Err(BrowserError::Script(_)) => {}
                Err(other) => return Err(other),
            }
            if tokio::time::Instant::now() > deadline {
                return Err(BrowserError::Timeout(timeout, condition.to_owned()));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Saves a PNG screenshot of the page.
    pub async fn screenshot(&self, path: &Path) -> Result<(), BrowserError> {
        use base64::Engine;
        let result = self
            .command("Page.captureScreenshot", json!({ "format": "png" }))
            .await?;
        let data = result["data"]
            .as_str()
            .ok_or_else(|| BrowserError::Protocol("no screenshot data".into()))?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(data)
            .map_err(|e| BrowserError::Protocol(e.to_string()))?;
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| BrowserError::Protocol(e.to_string()))?;
        }
        std::fs::write(path, bytes).map_err(|e| BrowserError::Protocol(e.to_string()))
    }
}

fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        _ => true,
    }
}
