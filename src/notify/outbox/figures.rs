//! One outbox's delivery figures: what became of its notifications, its retries, what waits,
//! its last success. Kept where delivery happens, in atomics (a few relaxed additions per
//! notification, no lock of their own), and read by `notify::textfile` for
//! `--metrics-textfile` (docs/notify.md, "Delivery figures"). A change calls the watcher that
//! textfile set, if any: it only marks the file out of date and wakes its writer, so a
//! change costs the protocol loop no I/O.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::OnceLock;
use std::time::SystemTime;

/// What became of a notification, for `superlance_notifications_total{outcome}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The channel took it (a digest counts as one).
    Delivered,
    /// Given up: refused for good by the channel, impossible to render, or lost at shutdown.
    Failed,
    /// Not delivered by this run: left in the spool at shutdown, for the next start.
    Spooled,
    /// Folded into a backlog digest because the queue was full.
    Merged,
    /// Held back by flood control, for its window's digest.
    Held,
}

impl Outcome {
    pub const ALL: [Outcome; 5] = [
        Outcome::Delivered,
        Outcome::Failed,
        Outcome::Spooled,
        Outcome::Merged,
        Outcome::Held,
    ];

    /// The label value.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Delivered => "delivered",
            Outcome::Failed => "failed",
            Outcome::Spooled => "spooled",
            Outcome::Merged => "merged",
            Outcome::Held => "held",
        }
    }
}

/// Called on every change (set once, by whoever exports the figures).
type Watcher = Box<dyn Fn() + Send + Sync>;

#[derive(Default)]
pub struct Figures {
    outcomes: [AtomicU64; 5],
    retries: AtomicU64,
    queued: AtomicU64,
    /// The worker holds a notification it has not delivered yet (being tried, or waiting to
    /// be tried again): it is waiting too, though no longer in the queue.
    in_hand: AtomicBool,
    /// Seconds since the epoch of the last delivery; 0: none yet.
    last_success: AtomicU64,
    watcher: OnceLock<Watcher>,
}

/// The figures at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Snapshot {
    /// By [`Outcome::ALL`]'s order.
    pub outcomes: [u64; 5],
    pub retries: u64,
    /// Notifications waiting to be delivered (a digest counts as one).
    pub waiting: u64,
    pub last_success: Option<u64>,
}

impl Figures {
    pub fn count(&self, outcome: Outcome, n: u64) {
        if n == 0 {
            return;
        }
        let i = Outcome::ALL.iter().position(|&o| o == outcome).unwrap_or(0);
        self.outcomes[i].fetch_add(n, Relaxed);
        self.changed();
    }

    /// A delivery at `wall`.
    pub fn delivered(&self, wall: SystemTime) {
        let secs = wall
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.last_success.store(secs, Relaxed);
        self.count(Outcome::Delivered, 1);
    }

    /// An attempt failed and will be tried again.
    pub fn retry(&self) {
        self.retries.fetch_add(1, Relaxed);
        self.changed();
    }

    /// The queue's length now.
    pub fn queued(&self, queued: usize) {
        if self.queued.swap(queued as u64, Relaxed) != queued as u64 {
            self.changed();
        }
    }

    /// Whether the worker holds a notification it has not delivered yet.
    pub fn in_hand(&self, in_hand: bool) {
        if self.in_hand.swap(in_hand, Relaxed) != in_hand {
            self.changed();
        }
    }

    /// Have `watcher` called on every change from now on; false if one was set already.
    pub fn watch(&self, watcher: Watcher) -> bool {
        self.watcher.set(watcher).is_ok()
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            outcomes: std::array::from_fn(|i| self.outcomes[i].load(Relaxed)),
            retries: self.retries.load(Relaxed),
            waiting: self.queued.load(Relaxed) + u64::from(self.in_hand.load(Relaxed)),
            last_success: Some(self.last_success.load(Relaxed)).filter(|&s| s > 0),
        }
    }

    fn changed(&self) {
        if let Some(w) = self.watcher.get() {
            w();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn figures_count_and_call_the_watcher_on_change_only() {
        let f = Figures::default();
        let calls = Arc::new(AtomicUsize::new(0));
        let c = Arc::clone(&calls);
        assert!(f.watch(Box::new(move || {
            c.fetch_add(1, Relaxed);
        })));
        assert!(!f.watch(Box::new(|| {})));
        f.delivered(SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000));
        f.count(Outcome::Merged, 3);
        f.count(Outcome::Failed, 0);
        f.retry();
        f.queued(2);
        f.in_hand(true);
        f.queued(2);
        f.in_hand(true);
        let s = f.snapshot();
        assert_eq!(s.outcomes, [1, 0, 0, 3, 0]);
        assert_eq!((s.retries, s.waiting), (1, 3));
        assert_eq!(s.last_success, Some(1_800_000_000));
        assert_eq!(calls.load(Relaxed), 5);
        assert_eq!(Figures::default().snapshot().last_success, None);
    }
}
