//! What the protocol thread and the worker share ([`Shared`], its mutable part [`State`]
//! under one mutex), and the protocol thread's side of it: flood control's decision, keeping a
//! notification (rendered into the spool, or as it is in memory), queueing it, a window's
//! digest.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use super::clock::Clock;
use super::digest::{notifications, Digest};
use super::figures::{Figures, Outcome};
use super::flood::{Admit, Ended, Flood, FloodLimit};
use super::queue::{backlog_notification, Entry, Pending, Queue, MAX_BYTES};
use super::spool::{Spool, Stamps};
use super::text::quoted;
use crate::notify::channel::{Channel, RenderError, Rendered, Words};
use crate::notify::notification::Notification;

/// What the protocol thread and the worker share.
pub(super) struct Shared {
    pub state: Mutex<State>,
    /// Signalled on every change of `State` the other side may wait for.
    pub changed: Condvar,
    pub clock: Arc<dyn Clock>,
    pub channel: Arc<dyn Channel>,
    pub spool: Option<Spool>,
    pub stamps: Stamps,
    pub flood_limit: Option<FloodLimit>,
    pub grace: Duration,
    /// Notifications kept in memory before merging (for the backlog digest's text).
    pub capacity: usize,
    /// The channel's description, for log lines.
    pub describe: String,
    /// How log lines name what the channel sends.
    pub words: Words,
    /// Flood control's journal cannot be written: said once, not once per held notification.
    pub journal_failing: AtomicBool,
    /// The worker holds a notification that is in memory only (no spool copy) and not
    /// delivered yet: with the queue's in-memory entries, what "delivery is behind" means.
    pub memory_in_hand: AtomicBool,
    /// Delivery figures (`--metrics-textfile`).
    pub figures: Arc<Figures>,
}

pub(super) struct State {
    pub queue: Queue,
    pub flood: Option<Flood>,
    /// Set by shutdown: deliver until then, then report.
    pub deadline: Option<Instant>,
    /// The leftovers have been reported: a notification queued now is reported at once.
    pub closed: bool,
    pub worker_done: bool,
    /// Bumped on each change, so that the worker never sleeps through one.
    pub changes: u64,
    /// The worker waits for work (nothing in hand, nothing queued): only then must a new
    /// entry wake it. A worker waiting to retry the head wakes at its own time; waking it on
    /// every enqueue cost a context switch per event while a channel was down.
    pub worker_idle: bool,
}

impl State {
    /// Close: nothing more is queued; what waits in the queue and in flood control's windows
    /// (their digests, the windows ended now) is handed back to be reported.
    pub fn close_and_drain(&mut self, now: Instant) -> (Vec<Entry>, Vec<Ended>) {
        self.closed = true;
        let rest = self.queue.drain();
        let ended = self
            .flood
            .as_mut()
            .map(|f| f.take_ended(now, true))
            .unwrap_or_default();
        (rest, ended)
    }
}

impl Shared {
    pub fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere must not take the delivery down with it.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Flood control: true when `n` is held back (counted for its window's digest, noted
    /// in the spool's journal).
    pub fn hold_back(&self, key: &str, n: &Notification, now: Instant, wall: SystemTime) -> bool {
        let mut guard = self.lock();
        let st = &mut *guard;
        // Once the worker has reported, nothing may wait in a window that nobody closes: the
        // notification goes on, and `enqueue` reports it.
        if st.closed {
            return false;
        }
        let Some(flood) = st.flood.as_mut() else {
            return false;
        };
        let admit = flood.admit(key, n, now, wall, || self.stamps.next(wall));
        // Wake the worker when a digest is due now, or when a window holds its first
        // notification: the worker may be asleep with no end in sight, and must now wake
        // when this window ends.
        if flood.has_ended() || matches!(admit, Admit::Hold { first: true, .. }) {
            st.changes += 1;
            self.changed.notify_all();
        }
        let Admit::Hold {
            window,
            first,
            until,
            held,
            counted,
        } = admit
        else {
            return false;
        };
        // Under the lock, so that the worker cannot close the window (and delete its journal)
        // between the decision and the note. What the digest lists is noted line by line;
        // what it only counts, as the window's count (one record, overwritten): a storm does
        // not grow the journal.
        if let Some(spool) = &self.spool {
            let noted = match counted {
                Some(span) => spool.note_held_count(window, key, span),
                None => spool.append_held(window, key, &held),
            };
            match noted {
                Ok(()) => self.journal_failing.store(false, Ordering::Relaxed),
                Err(e) if !self.journal_failing.swap(true, Ordering::Relaxed) => log::warn!(
                    "flood control: cannot note a held-back {} in {}/held: {e}; \
                     the count is kept in memory only",
                    self.words.one,
                    spool.dir().display()
                ),
                Err(_) => {}
            }
        }
        drop(guard);
        let w = self.words;
        if first {
            log::warn!(
                "flood control: {key} has had its {} {} for this window; holding back its \
                 {} until {}, then {} one digest",
                self.flood_limit.map_or(0, |l| l.max),
                w.many,
                w.many,
                crate::time::LocalTime::at(until),
                w.sending
            );
        } else {
            log::debug!("flood control: {key}: held back: {}", n.summary());
        }
        self.figures.count(Outcome::Held, 1);
        true
    }

    /// A notification as a queue entry: rendered into the spool when there is one (durably,
    /// before the caller acknowledges its event), else in memory as it is (the worker renders
    /// it when its turn comes). Fails only when it cannot be rendered for the spool.
    pub fn keep(
        &self,
        notification: &Arc<Notification>,
        date: SystemTime,
    ) -> Result<Entry, RenderError> {
        if let Some(spool) = &self.spool {
            let rendered = self.channel.render(notification)?;
            let stamp = self.stamps.next(date);
            match spool.write(stamp, &rendered) {
                Ok(()) => return Ok(Entry::Spooled(stamp)),
                Err(e) => log::error!(
                    "cannot write \"{}\" to the spool {}: {e}; keeping it in memory only \
                     (it is lost if the listener is killed before it is sent)",
                    rendered.summary,
                    spool.dir().display()
                ),
            }
        }
        Ok(Entry::Memory(Box::new(Pending {
            notification: Arc::clone(notification),
            date,
        })))
    }

    /// Queue `entry` and wake the worker.
    pub fn enqueue(&self, entry: Entry) {
        let mut st = self.lock();
        if st.closed {
            drop(st);
            self.report(vec![entry], None);
            return;
        }
        let backlog = st.queue.backlog();
        let merging = st.queue.push(entry);
        st.changes += 1;
        if st.worker_idle {
            self.changed.notify_all();
        }
        let (merged, queued) = (st.queue.backlog().saturating_sub(backlog), st.queue.len());
        drop(st);
        self.figures.count(Outcome::Merged, merged);
        self.figures.queued(queued);
        if merging {
            let w = self.words;
            log::warn!(
                "the {} queue is full ({} {} or {} MiB waiting in memory) while delivery \
                 via {} is failing or slow: merging the oldest notifications into one digest \
                 {} (--spool DIR would keep every {} on disk instead)",
                w.one,
                self.capacity,
                w.many,
                MAX_BYTES >> 20,
                self.describe,
                w.one,
                w.one
            );
        }
    }

    /// A flood-control window's digest, rendered and kept (spooled when possible); its
    /// journal is deleted once the digest is in safe hands.
    pub fn digest_entry(&self, ended: Ended) -> Option<Entry> {
        let wall = self.clock.wall();
        let n = ended.notification(self.flood_limit, self.words, wall);
        let entry = match self.keep(&Arc::new(n), wall) {
            Ok(entry) => {
                log::info!(
                    "flood control: {}: {} held back, {} one digest",
                    ended.key,
                    notifications(ended.held.count()),
                    self.words.sending
                );
                Some(entry)
            }
            Err(e) => {
                log::error!(
                    "flood control: cannot format the digest for {}: {e}; these notifications are lost: {}",
                    ended.key,
                    quoted(&ended.held.names())
                );
                None
            }
        };
        if let Some(spool) = &self.spool {
            spool.remove_held(ended.window, &ended.key);
        }
        entry
    }

    /// The backlog digest (notifications merged because the queue was full), rendered.
    pub fn render_backlog(&self, digest: &Digest) -> Result<Rendered, RenderError> {
        let n = backlog_notification(
            digest,
            self.capacity,
            &self.describe,
            self.words,
            self.clock.wall(),
        );
        self.channel.render(&n)
    }

    /// Wait until `until` (forever: `None`) or a change after `seen`.
    pub fn wait(&self, until: Option<Instant>, seen: u64) {
        let mut st = self.lock();
        while st.changes == seen && !st.closed {
            st = match until {
                None => self
                    .changed
                    .wait(st)
                    .unwrap_or_else(PoisonError::into_inner),
                Some(t) => {
                    let left = t.saturating_duration_since(self.clock.now());
                    if left.is_zero() {
                        break;
                    }
                    self.changed
                        .wait_timeout(st, left)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
            };
        }
    }
}
