//! The delivery worker: a thread of its own per outbox, taking the head of the queue and
//! handing it to the channel; retry with backoff, flood digests when their window ends, and
//! the report at the end. Its decisions are one function, [`Worker::step`], which the thread
//! loops over and the tests call with a clock they move by hand.

use std::sync::atomic::Ordering;
use std::time::Instant;

use super::clock::Backoff;
use super::figures::Outcome;
use super::flood::Flood;
use super::queue::Entry;
use super::report::{Leftovers, Unsent};
use super::spool::ReadError;
use super::state::Shared;
use super::text::{human, quoted};
use crate::notify::channel::DeliveryError;

/// The worker's own state: the backoff and the notification at the head.
pub(super) struct Worker {
    backoff: Backoff,
    current: Option<Current>,
}

/// The notification being delivered, taken off the queue.
struct Current {
    unsent: Unsent,
    failures: u32,
    next_try: Instant,
}

/// What the worker does next.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Step {
    Again,
    /// Sleep until then (`None`: until woken), or until `changes` moves past `seen`.
    Wait {
        until: Option<Instant>,
        seen: u64,
    },
    Done,
}

impl Worker {
    pub fn new(backoff: Backoff) -> Worker {
        Worker {
            backoff,
            current: None,
        }
    }

    pub fn run(mut self, sh: &Shared) -> Leftovers {
        loop {
            match self.step(sh) {
                Step::Again => {}
                Step::Wait { until, seen } => sh.wait(until, seen),
                Step::Done => break,
            }
        }
        self.finish(sh)
    }

    /// One decision, and the work it calls for.
    pub fn step(&mut self, sh: &Shared) -> Step {
        let now = sh.clock.now();
        let mut st = sh.lock();
        if st.closed {
            return Step::Done;
        }
        st.worker_idle = false;
        let stopping = st.deadline.is_some();
        let ended = st
            .flood
            .as_mut()
            .map(|f| f.take_ended(now, stopping))
            .unwrap_or_default();
        if !ended.is_empty() {
            drop(st);
            for e in ended {
                if let Some(entry) = sh.digest_entry(e) {
                    sh.enqueue(entry);
                }
            }
            return Step::Again;
        }
        if st.deadline.is_some_and(|d| now >= d) {
            return Step::Done;
        }
        let next_end = st.flood.as_ref().and_then(Flood::next_end);
        let Some(next_try) = self.current.as_ref().map(|c| c.next_try) else {
            return match st.queue.pop() {
                Some(entry) => {
                    let queued = st.queue.len();
                    drop(st);
                    self.current = load(sh, entry, now);
                    let memory = self
                        .current
                        .as_ref()
                        .is_some_and(|c| c.unsent.stamp.is_none());
                    sh.memory_in_hand.store(memory, Ordering::Relaxed);
                    sh.figures.in_hand(self.current.is_some());
                    sh.figures.queued(queued);
                    Step::Again
                }
                None if stopping => Step::Done,
                None => {
                    st.worker_idle = true;
                    Step::Wait {
                        until: next_end,
                        seen: st.changes,
                    }
                }
            };
        };
        if next_try > now {
            // Do not start a wait that ends after the grace time.
            if st.deadline.is_some_and(|d| next_try >= d) {
                return Step::Done;
            }
            return Step::Wait {
                until: Some(next_end.map_or(next_try, |e| e.min(next_try))),
                seen: st.changes,
            };
        }
        drop(st);
        if let Some(cur) = self.current.take() {
            let result = sh.channel.deliver(&cur.unsent.rendered);
            self.settle(sh, cur, result);
            sh.figures.in_hand(self.current.is_some());
        }
        Step::Again
    }

    /// After an attempt: done, retry later, or give up.
    fn settle(&mut self, sh: &Shared, mut cur: Current, result: Result<(), DeliveryError>) {
        let w = sh.words;
        let summary = &cur.unsent.rendered.summary;
        let to = sh.channel.recipients(&cur.unsent.rendered);
        if !matches!(
            result,
            Err(DeliveryError::Transient(_) | DeliveryError::Later { .. })
        ) {
            sh.memory_in_hand.store(false, Ordering::Relaxed);
        }
        match result {
            Ok(()) => {
                sh.figures.delivered(sh.clock.wall());
                if let (Some(spool), Some(stamp)) = (&sh.spool, cur.unsent.stamp) {
                    if let Err(e) = spool.remove(stamp) {
                        log::warn!(
                            "{} \"{summary}\" but cannot delete {}: {e}; it will be sent again at the next start",
                            w.sent,
                            spool.path(stamp).display()
                        );
                    }
                }
                let after = if cur.failures > 0 {
                    format!(" (attempt {})", cur.failures + 1)
                } else {
                    String::new()
                };
                log::info!("{} \"{summary}\"{to} via {}{after}", w.sent, sh.describe);
            }
            // The error's own text: a transient one ends "(will retry)".
            Err(why @ (DeliveryError::Transient(_) | DeliveryError::Later { .. })) => {
                cur.failures = cur.failures.saturating_add(1);
                sh.figures.retry();
                let delay = match &why {
                    // At least what the server asked for (429/503 Retry-After), but never
                    // longer than the longest backoff: a server asking for a day must not
                    // silence a channel for a day.
                    DeliveryError::Later { after, .. } => self
                        .backoff
                        .delay(cur.failures)
                        .max((*after).min(self.backoff.max)),
                    _ => self.backoff.delay(cur.failures),
                };
                cur.next_try = sh.clock.now() + delay;
                let behind = sh.lock().queue.len();
                let behind = if behind > 0 {
                    format!("; {} waiting behind it", w.count(behind))
                } else {
                    String::new()
                };
                log::warn!(
                    "cannot deliver \"{summary}\" via {} (attempt {}): {why}; next attempt in {}{behind}",
                    sh.describe,
                    cur.failures,
                    human(delay)
                );
                self.current = Some(cur);
            }
            Err(why @ DeliveryError::Permanent(_)) => {
                sh.figures.count(Outcome::Failed, 1);
                let kept = match (&sh.spool, cur.unsent.stamp) {
                    (Some(spool), Some(stamp)) => match spool.fail(stamp) {
                        Ok(p) => format!("; the message is kept in {}", p.display()),
                        Err(e) => format!("; cannot move it to failed/: {e}"),
                    },
                    _ => String::new(),
                };
                log::error!(
                    "{} refused \"{summary}\"{to}: {why}; giving up on this {}{kept}",
                    sh.describe,
                    w.one
                );
            }
        }
    }

    /// After the last step: report what was not delivered, and say that the worker is done.
    pub fn finish(mut self, sh: &Shared) -> Leftovers {
        let (rest, ended) = {
            let mut st = sh.lock();
            let already = st.closed;
            let (rest, ended) = st.close_and_drain(sh.clock.now());
            if already {
                // shutdown gave up waiting and reported the queue; only ours is left.
                (Vec::new(), Vec::new())
            } else {
                (rest, ended)
            }
        };
        let rest = rest
            .into_iter()
            .chain(ended.into_iter().filter_map(|e| sh.digest_entry(e)))
            .collect();
        let left = sh.report(rest, self.current.take().map(|c| c.unsent));
        sh.figures.in_hand(false);
        sh.lock().worker_done = true;
        sh.changed.notify_all();
        left
    }
}

/// The head of the queue as a notification to deliver (`None`: nothing to deliver after all).
fn load(sh: &Shared, entry: Entry, now: Instant) -> Option<Current> {
    let (rendered, stamp, names) = match entry {
        Entry::Spooled(stamp) => {
            let spool = sh.spool.as_ref()?;
            let path = spool.path(stamp);
            match spool.read(stamp) {
                Ok(r) => {
                    let names = vec![r.summary.clone()];
                    (r, Some(stamp), names)
                }
                Err(ReadError::Corrupt(why)) => {
                    let moved = spool.fail(stamp).map_or_else(
                        |e| format!("cannot move it to failed/: {e}"),
                        |p| format!("moved to {}", p.display()),
                    );
                    log::error!(
                        "spool file {} is not a {} this program can send ({why}); {moved}",
                        path.display(),
                        sh.words.one
                    );
                    sh.figures.count(Outcome::Failed, 1);
                    return None;
                }
                Err(ReadError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                    log::warn!(
                        "spool file {} is gone before it was sent (deleted by hand?); skipping it",
                        path.display()
                    );
                    return None;
                }
                Err(ReadError::Io(e)) => {
                    log::error!(
                        "cannot read spool file {}: {e}; it stays there and is tried again at the next start",
                        path.display()
                    );
                    return None;
                }
            }
        }
        // Rendered now, on this thread: the protocol loop only queued it.
        Entry::Memory(p) => match sh.channel.render(&p.notification) {
            Ok(r) => {
                let names = vec![r.summary.clone()];
                (r, None, names)
            }
            Err(e) => {
                log::error!(
                    "cannot make \"{}\" into a {} via {}: {e}; not {}",
                    p.notification.summary(),
                    sh.words.one,
                    sh.describe,
                    sh.words.sent
                );
                return None;
            }
        },
        Entry::Backlog(d) => match sh.render_backlog(&d) {
            Ok(r) => (r, None, d.names()),
            Err(e) => {
                log::error!(
                    "cannot format the digest of merged notifications: {e}; these are lost: {}",
                    quoted(&d.names())
                );
                return None;
            }
        },
    };
    Some(Current {
        unsent: Unsent {
            rendered,
            stamp,
            names,
        },
        failures: 0,
        next_try: now,
    })
}
