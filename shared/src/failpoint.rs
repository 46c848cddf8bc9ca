//! Failpoints: named places between two side effects where a test makes an invocation crash, to check that
//! the retries AWS and the providers make lose nothing and send nothing twice.
//!
//! `failpoint!("send.after_claim", store_hash, crash)` marks one. Without the `failpoints` feature (which only
//! the integration tests enable) it expands to nothing. With it, the place fires only when a test armed that
//! name for that scope (a store hash, or a phone number where no store is known yet), so tests running in the
//! same process never hit each other's: `Action::Error` makes it evaluate `crash` (the handler's retryable
//! failure, returned at once), `Action::Die` never completes, as an invocation stopped by its timeout (no
//! error path runs).

/// Marks a place where an invocation may crash in tests: `failpoint!(name, scope, crash)`, where `scope` is a
/// `&str` and `crash` the value the enclosing function returns on [`Action::Error`].
#[cfg(feature = "failpoints")]
#[macro_export]
macro_rules! failpoint {
    ($name:literal, $scope:expr, $crash:expr) => {
        if $crate::failpoint::hit($name, $scope).await {
            return $crash;
        }
    };
}

/// Marks a place where an invocation may crash in tests (compiled out: the `failpoints` feature is off).
#[cfg(not(feature = "failpoints"))]
#[macro_export]
macro_rules! failpoint {
    ($name:literal, $scope:expr, $crash:expr) => {
        let _ = $scope;
    };
}

#[cfg(feature = "failpoints")]
pub use registry::*;

#[cfg(feature = "failpoints")]
mod registry {
    use std::sync::{Arc, LazyLock, Mutex};
    use tokio::sync::Notify;

    /// What an armed failpoint does.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Action {
        /// The enclosing function returns its retryable error.
        Error,
        /// The invocation never finishes (a Lambda timeout).
        Die,
        /// The invocation waits there until the test calls [`Armed::release`] (a slow step: its caller may
        /// give up meanwhile), then goes on.
        Pause,
    }

    struct Entry {
        name: &'static str,
        scope: String,
        action: Action,
        remaining: u32,
        reached: Arc<Notify>,
        release: Arc<Notify>,
    }

    static ARMED: LazyLock<Mutex<Vec<Entry>>> = LazyLock::new(Default::default);

    /// An armed failpoint, to wait until an invocation reached it.
    pub struct Armed {
        reached: Arc<Notify>,
        release: Arc<Notify>,
    }

    impl Armed {
        /// Completes once the failpoint fired (at once if it already did).
        pub async fn reached(&self) {
            self.reached.notified().await;
        }

        /// Lets an invocation paused there ([`Action::Pause`]) go on (at once if it arrives later).
        pub fn release(&self) {
            self.release.notify_one();
        }
    }

    /// Arms `name` for `scope`: the next `times` invocations that pass it there do `action`.
    pub fn arm(name: &'static str, scope: &str, action: Action, times: u32) -> Armed {
        let (reached, release) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
        ARMED.lock().unwrap_or_else(|p| p.into_inner()).push(Entry {
            name,
            scope: scope.to_owned(),
            action,
            remaining: times,
            reached: reached.clone(),
            release: release.clone(),
        });
        Armed { reached, release }
    }

    /// Called by [`failpoint!`]: `true` when the caller must fail now; never returns when it must die.
    pub async fn hit(name: &'static str, scope: &str) -> bool {
        let (action, release) = {
            let mut armed = ARMED.lock().unwrap_or_else(|p| p.into_inner());
            let Some(found) = armed
                .iter_mut()
                .find(|a| a.name == name && a.scope == scope && a.remaining > 0)
            else {
                return false;
            };
            found.remaining -= 1;
            // A stored permit: a test waiting later still sees it.
            found.reached.notify_one();
            (found.action, found.release.clone())
        };
        tracing::warn!(failpoint = name, ?action, "failpoint fired");
        match action {
            Action::Error => true,
            Action::Die => std::future::pending().await,
            Action::Pause => {
                release.notified().await;
                false
            }
        }
    }
}
