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

/// The clock a function uses: the real one, unless the local tooling set `DEV_CLOCK_SPEED` (with
/// `DEV_CLOCK_REAL_START` and `DEV_CLOCK_VIRTUAL_START`, RFC 3339). Never set in AWS.
pub fn clock_from_env(env: &crate::config::Env) -> Result<std::sync::Arc<dyn Clock>, crate::config::ConfigError> {
    use crate::config::ConfigError;
    let Some(speed) = env.optional("DEV_CLOCK_SPEED") else {
        return Ok(std::sync::Arc::new(SystemClock));
    };
    let instant = |name: &'static str| -> Result<DateTime<Utc>, ConfigError> {
        let value = env.optional(name).ok_or(ConfigError::Missing(name))?;
        DateTime::parse_from_rfc3339(value)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| ConfigError::Invalid {
                name,
                reason: e.to_string(),
            })
    };
    let speed = speed
        .parse::<u32>()
        .ok()
        .filter(|s| (1..=3600).contains(s))
        .ok_or(ConfigError::Invalid {
            name: "DEV_CLOCK_SPEED",
            reason: "must be a whole number from 1 to 3600".into(),
        })?;
    Ok(std::sync::Arc::new(ScaledClock {
        real_start: instant("DEV_CLOCK_REAL_START")?,
        virtual_start: instant("DEV_CLOCK_VIRTUAL_START")?,
        speed,
    }))
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
    fn the_real_clock_unless_the_local_tooling_speeds_time_up() {
        use crate::config::Env;
        let real = clock_from_env(&Env::default()).unwrap().now();
        assert!((real - Utc::now()).num_seconds().abs() < 5);

        let start = Utc::now() - Duration::seconds(10);
        let env = Env::from_pairs([
            ("DEV_CLOCK_SPEED", "60"),
            ("DEV_CLOCK_REAL_START", &start.to_rfc3339()),
            ("DEV_CLOCK_VIRTUAL_START", "2026-06-03T14:00:00Z"),
        ]);
        let virtual_now = clock_from_env(&env).unwrap().now();
        let expected = DateTime::parse_from_rfc3339("2026-06-03T14:10:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert!(
            (virtual_now - expected).num_seconds().abs() < 60,
            "10 real seconds are 10 minutes: {virtual_now}"
        );

        let bad = Env::from_pairs([("DEV_CLOCK_SPEED", "fast")]);
        assert!(clock_from_env(&bad).is_err());
    }

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
