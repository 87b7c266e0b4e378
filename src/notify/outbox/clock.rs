//! Time for the outbox, injectable ([`Clock`]), and the waits between attempts ([`Backoff`]).

use std::time::{Duration, Instant, SystemTime};

/// Where the outbox gets the time: [`SystemClock`], or a clock a test moves by hand.
pub trait Clock: Send + Sync {
    /// For windows, backoff and deadlines.
    fn now(&self) -> Instant;
    /// For spool stamps and the times listed in digests.
    fn wall(&self) -> SystemTime;
}

/// The real time.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn wall(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// Waits between attempts to deliver one notification: `first`, then doubled each time, at
/// most `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    /// 1 s, 2 s, 4 s ... 60 s: quick after a blip, one attempt a minute in a long outage.
    fn default() -> Self {
        Backoff {
            first: Duration::from_secs(1),
            max: Duration::from_secs(60),
        }
    }
}

impl Backoff {
    /// The wait after the `failures`-th failed attempt (1-based).
    pub fn delay(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(31);
        self.first.saturating_mul(1 << doublings).min(self.max)
    }
}
