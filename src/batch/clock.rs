//! When a batch is due: by the TICK events' own stamps ([`BatchClock`]), or by the listener's
//! own clock while no TICK comes ([`Watchdog`]).

use std::time::{Duration, Instant};

/// When a batch is due, by the `when:` stamps of the TICK events (seconds since 1970 by
/// supervisord's clock, a multiple of the tick's period).
///
/// A TICK_N stamped `when` stands for the N seconds before it: the first tick opens the batch
/// at `when - N`. So `-i 1` with TICK_60 mails at every TICK_60 and with TICK_5 at every 12th,
/// as superlance did when `-e` matched; any mix of TICK_5/TICK_60/TICK_3600 works the same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchClock {
    interval_ms: u64,
    /// When the batch being collected began, by supervisord's clock (seconds).
    start: Option<u64>,
}

impl BatchClock {
    pub fn new(interval: Duration) -> BatchClock {
        BatchClock {
            interval_ms: u64::try_from(interval.as_millis()).unwrap_or(u64::MAX),
            start: None,
        }
    }

    /// A TICK_`period` stamped `when` arrived: true when the batch is due (the next one starts
    /// now).
    pub fn tick(&mut self, period: u32, when: u64) -> bool {
        let start = *self
            .start
            .get_or_insert(when.saturating_sub(u64::from(period)));
        if when < start {
            // supervisord's clock was set back: start over from here.
            self.start = Some(when);
            return false;
        }
        if (when - start).saturating_mul(1000) >= self.interval_ms {
            self.start = Some(when);
            return true;
        }
        false
    }
}

/// Flushes by the listener's own clock while no TICK comes (see the module doc). Its times
/// are passed in, so tests run without sleeping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watchdog {
    interval: Duration,
    last_tick: Instant,
    /// On our own clock since this flush; `None` while TICKs come.
    own: Option<Instant>,
    warned: bool,
}

/// What the [`Watchdog`] says when woken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    Nothing,
    /// No TICK for two intervals: warn (the first time) and flush.
    NoTicks {
        first: bool,
    },
    /// On our own clock: flush.
    Flush,
}

impl Watchdog {
    /// The listener's own clock never runs faster than once a second.
    const MIN_INTERVAL: Duration = Duration::from_secs(1);

    pub fn new(interval: Duration, now: Instant) -> Watchdog {
        Watchdog {
            interval: interval.max(Self::MIN_INTERVAL),
            last_tick: now,
            own: None,
            warned: false,
        }
    }

    /// A TICK came. True if we were on our own clock until now.
    pub fn ticked(&mut self, now: Instant) -> bool {
        self.last_tick = now;
        self.own.take().is_some()
    }

    pub fn next(&self) -> Instant {
        match self.own {
            None => self.last_tick + self.interval * 2,
            Some(flushed) => flushed + self.interval,
        }
    }

    pub fn wake(&mut self, now: Instant) -> Due {
        if now < self.next() {
            return Due::Nothing;
        }
        let was_own = self.own.replace(now).is_some();
        if was_own {
            return Due::Flush;
        }
        let first = !self.warned;
        self.warned = true;
        Due::NoTicks { first }
    }
}
