//! Time as a dependency, so tests can move it (quiet hours, reminder delays, sweeps).

use chrono::{DateTime, Duration, Utc};
use std::sync::Mutex;

pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The real clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock for running the app locally faster than real time (`cargo xtask dev --speed`): virtual time
/// starts at `virtual_start` when real time is `real_start` and runs `speed` times faster. Every function
/// process computes the same virtual time from the same three values.
#[derive(Debug, Clone, Copy)]
pub struct ScaledClock {
    pub real_start: DateTime<Utc>,
    pub virtual_start: DateTime<Utc>,
    pub speed: u32,
}

impl Clock for ScaledClock {
    fn now(&self) -> DateTime<Utc> {
        let elapsed = Utc::now() - self.real_start;
        self.virtual_start + elapsed * self.speed as i32
    }
}

/// A clock that only moves when told to; shared by the handlers a test drives.
#[derive(Debug)]
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        Self(Mutex::new(start))
    }

    pub fn set(&self, now: DateTime<Utc>) {
        *self.0.lock().expect("clock lock") = now;
    }

    pub fn advance(&self, by: Duration) {
        let mut now = self.0.lock().expect("clock lock");
        *now += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().expect("clock lock")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let start = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let clock = ManualClock::new(start);
        assert_eq!(clock.now(), start);
        clock.advance(Duration::minutes(30));
        assert_eq!(clock.now(), start + Duration::minutes(30));
        clock.set(start);
        assert_eq!(clock.now(), start);
    }
}
