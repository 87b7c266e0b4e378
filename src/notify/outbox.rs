//! The outbox: the delivery of one channel's notifications, with a bounded queue, a delivery
//! worker, retry with backoff, spool, flood control and digests. It knows nothing of mail or
//! HTTP: it hands each notification to its [`Channel`] to render and, on the worker, to
//! deliver. See the theory of operation in `notify/mod.rs`; docs/mail.md tells users.
//!
//! Two threads share one `Shared` (`state.rs`) under a mutex. The protocol loop calls
//! [`Outbox::submit`]: flood control first (a notification held back is only counted: no
//! rendering, no fsync, so a crash loop costs next to nothing), then render, write to the
//! spool, queue, wake the worker. The worker (`worker.rs`), a thread of its own, takes the
//! head of the queue and calls [`Channel::deliver`] without the lock; a transient failure keeps
//! that notification at the head and retries it after 1 s, 2 s, 4 s ... up to 60 s
//! ([`Backoff`]), and the ones behind it wait, so that they arrive in the order they happened.
//! The worker also sends flood-control digests: it never sleeps past the next window's end,
//! so a digest goes out even when no event follows.
//!
//! Time comes from a [`Clock`]. The worker's decisions are one function, `Worker::step`, that
//! returns what to do next (deliver, wait until, stop): the thread loops over it with real
//! time, and the tests call it with a clock they move by hand, so that ten minutes of flood
//! window or a minute of backoff take no time at all.
//!
//! Shutdown (SIGTERM): new notifications are still taken, flood windows are closed into their
//! digests, the worker delivers what it can until `shutdown_grace` is over (it does not start
//! a wait that would end after it), then reports (`report.rs`): what is in the spool is said
//! once with a count, what was only in memory is named one by one in the log. Nothing is lost
//! silently.
//!
//! Modules: `state` (what the two threads share, and the protocol thread's side of it),
//! `worker` (the delivery thread's decisions), `report` (what is left at the end), `queue`,
//! `spool`, `flood`, `digest`, `clock` (time and backoff), `text` (words for log lines),
//! `figures` (what was delivered, failed, retried, what waits: `--metrics-textfile`).

mod clock;
mod counts;
mod digest;
mod figures;
mod flood;
mod queue;
mod report;
mod spool;
mod state;
#[cfg(test)]
pub(in crate::notify) mod tests;
mod text;
mod worker;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use crate::notify::channel::Channel;
use crate::notify::notification::Notification;
use crate::Error;
use flood::{Ended, Flood};
use queue::{Entry, Queue};
use report::Leftovers;
use spool::{Spool, Stamps};
use state::{Shared, State};
use text::human;
#[cfg(test)]
use worker::Step;
use worker::Worker;

pub use clock::{Backoff, Clock, SystemClock};
pub use counts::Counted;
pub use figures::{Figures, Outcome, Snapshot};
pub use flood::FloodLimit;

/// How long `shutdown` waits, past the grace time, for a delivery that is under way (the
/// channel's own timeout bounds it) before it gives up and reports without it.
const JOIN_MARGIN: Duration = Duration::from_secs(1);

/// How an [`Outbox`] behaves; built from the shared options (`channel::mail::options`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxConfig {
    /// `--spool DIR`: persist each notification before it is acknowledged. The notifier gives
    /// each channel its own directory ([`Channel::spool_dir`]).
    pub spool: Option<std::path::PathBuf>,
    /// `None`: flood control off (`--max-mails 0`).
    pub flood: Option<FloodLimit>,
    /// Notifications held in memory before the oldest are folded into a digest (no spool).
    pub queue_capacity: usize,
    /// At shutdown, how long to keep trying to deliver before spooling or giving up. supervisord
    /// sends SIGKILL `stopwaitsecs` (default 10 s) after SIGTERM, so this stays below that.
    pub shutdown_grace: Duration,
}

/// A listener's handle on the delivery worker of one channel.
pub struct Outbox {
    shared: Arc<Shared>,
    worker: Run,
}

enum Run {
    Thread(JoinHandle<Leftovers>),
    /// Tests: no thread; the test runs the worker's steps and moves the clock.
    #[cfg(test)]
    Manual(Box<Worker>, Arc<tests::TestClock>, Option<Step>),
    Stopped,
}

/// Where [`Outbox::hand_over`] put a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::notify) enum Kept {
    /// Counted for a flood-control digest.
    HeldBack,
    /// Could not be rendered (an invalid address); logged.
    Refused,
    Spooled,
    InMemory,
}

impl Outbox {
    /// Start the delivery worker; notifications left in the spool by an earlier run are
    /// queued first.
    pub fn start(channel: Arc<dyn Channel>, config: OutboxConfig) -> Result<Outbox, Error> {
        Outbox::start_with(channel, config, Backoff::default(), Arc::new(SystemClock))
    }

    /// [`Outbox::start`] with a chosen backoff and clock. The worker sleeps in real time
    /// (a condition variable's timeout) until the instants `clock` gives: a clock other than
    /// [`SystemClock`] suits short tests only.
    pub fn start_with(
        channel: Arc<dyn Channel>,
        config: OutboxConfig,
        backoff: Backoff,
        clock: Arc<dyn Clock>,
    ) -> Result<Outbox, Error> {
        let name = channel.name().to_owned();
        let (shared, worker) = prepare(channel, config, backoff, clock)?;
        let for_worker = Arc::clone(&shared);
        let thread = format!("{name} delivery");
        let handle = std::thread::Builder::new()
            .name(thread.clone())
            .spawn(move || {
                yield_to_the_protocol_loop(&thread);
                worker.run(&for_worker)
            })
            .map_err(|e| Error::Setup(format!("cannot start the {name} delivery thread: {e}")))?;
        Ok(Outbox {
            shared,
            worker: Run::Thread(handle),
        })
    }

    /// The channel's name (`mail`, `webhook`, ...).
    pub fn channel_name(&self) -> &str {
        self.shared.channel.name()
    }

    /// This channel's delivery figures.
    pub fn figures(&self) -> &Arc<Figures> {
        &self.shared.figures
    }

    /// Hand over a notification; never waits for delivery. Errors are logged here.
    pub fn submit(&self, n: Notification) {
        let sh = &*self.shared;
        self.hand_over(Arc::new(n), sh.clock.now(), sh.clock.wall());
    }

    /// Batch mailers (src/batch.rs): the lines of a batch an earlier run collected and did
    /// not send, kept in the spool (empty without one).
    pub fn batch_left(&self) -> Vec<String> {
        self.shared
            .spool
            .as_ref()
            .map(Spool::batch_left)
            .unwrap_or_default()
    }

    /// Batch mailers: `line` joins the batch being collected. With a spool it is noted there
    /// at once, so that a crash or a kill between two batches loses no line.
    pub fn batch_line(&self, line: &str) {
        let sh = &*self.shared;
        if let Some(spool) = &sh.spool {
            match spool.append_batch(line) {
                Ok(()) => sh.journal_failing.store(false, Ordering::Relaxed),
                Err(e) if !sh.journal_failing.swap(true, Ordering::Relaxed) => log::warn!(
                    "cannot note the batch's line in {}: {e}; the batch is kept in memory \
                     only until it is sent",
                    spool.dir().display()
                ),
                Err(_) => {}
            }
        }
    }

    /// Batch mailers: a program's lines beyond `--max-lines` in the batch being collected,
    /// counted. With a spool the count is noted there at once (overwriting the program's
    /// last one), so that a kill loses none of it.
    pub fn batch_count(&self, c: &Counted) {
        let sh = &*self.shared;
        if let Some(spool) = &sh.spool {
            match spool.note_count(c) {
                Ok(()) => sh.journal_failing.store(false, Ordering::Relaxed),
                Err(e) if !sh.journal_failing.swap(true, Ordering::Relaxed) => log::warn!(
                    "cannot note the batch's counts in {}: {e}; they are kept in memory \
                     only until the batch is sent",
                    spool.dir().display()
                ),
                Err(_) => {}
            }
        }
    }

    /// Batch mailers: the counts of a batch an earlier run collected and did not send.
    pub fn batch_counts_left(&self) -> Vec<Counted> {
        self.shared
            .spool
            .as_ref()
            .map(Spool::counts_left)
            .unwrap_or_default()
    }

    /// A notification waits in memory, queued or being retried: delivery is behind. A batch
    /// mailer then holds its next batch rather than queue it beside it (src/batch.rs).
    pub fn behind_in_memory(&self) -> bool {
        let sh = &*self.shared;
        sh.memory_in_hand.load(Ordering::Relaxed) || sh.lock().queue.in_memory() > 0
    }

    /// Batch mailers: the collected batch as one notification. Its noted lines are forgotten
    /// once the batch itself is in the spool (or could not be made at all: that is logged).
    pub fn submit_batch(&self, n: Notification) {
        let sh = &*self.shared;
        if self.hand_over(Arc::new(n), sh.clock.now(), sh.clock.wall()) != Kept::InMemory {
            self.clear_batch();
        }
    }

    /// Forget the noted lines of the batch (it is in safe hands).
    pub(in crate::notify) fn clear_batch(&self) {
        if let Some(spool) = &self.shared.spool {
            spool.clear_batch();
        }
    }

    /// The noted lines become `lines` (see [`Spool::replace_batch`]).
    pub(in crate::notify) fn keep_batch(&self, lines: &[String]) {
        if let Some(spool) = &self.shared.spool {
            if let Err(e) = spool.replace_batch(lines) {
                log::warn!(
                    "cannot note the batch's lines in {}: {e}; the batch is kept in memory \
                     only until it is sent",
                    spool.dir().display()
                );
            }
        }
    }

    /// [`Outbox::submit`] at the time `now`/`wall` (the notifier reads the clock once for
    /// every channel, so that their flood controls decide alike), saying where it went.
    pub(in crate::notify) fn hand_over(
        &self,
        n: Arc<Notification>,
        now: Instant,
        wall: SystemTime,
    ) -> Kept {
        let sh = &*self.shared;
        if let Some(key) = n.key.as_deref() {
            if sh.hold_back(key, &n, now, wall) {
                return Kept::HeldBack;
            }
        }
        let entry = match sh.keep(&n, wall) {
            Ok(entry) => entry,
            Err(e) => {
                log::error!(
                    "cannot make \"{}\" into a {} via {}: {e}; not {}",
                    n.summary(),
                    sh.words.one,
                    sh.describe,
                    sh.words.sent
                );
                sh.figures.count(Outcome::Failed, 1);
                return Kept::Refused;
            }
        };
        let kept = match entry {
            Entry::Spooled(_) => Kept::Spooled,
            Entry::Memory(_) | Entry::Backlog(_) => Kept::InMemory,
        };
        sh.enqueue(entry);
        kept
    }

    /// Deliver what is queued within the grace time, spool the rest, stop the worker.
    pub fn shutdown(&mut self) {
        let _ = self.stop();
    }

    /// [`Outbox::shutdown`], returning what was left undelivered (`None`: already stopped).
    fn stop(&mut self) -> Option<Leftovers> {
        let run = std::mem::replace(&mut self.worker, Run::Stopped);
        let sh = &*self.shared;
        let deadline = sh.clock.now() + sh.grace;
        let waiting = {
            let mut st = sh.lock();
            if st.deadline.is_none() {
                st.deadline = Some(deadline);
            }
            st.changes += 1;
            sh.changed.notify_all();
            st.queue.len()
        };
        if waiting > 0 && !matches!(run, Run::Stopped) {
            log::info!(
                "shutdown: delivering the {} waiting, for up to {}",
                sh.words.count(waiting),
                human(sh.grace)
            );
        }
        match run {
            Run::Stopped => None,
            Run::Thread(handle) => {
                let give_up = deadline + JOIN_MARGIN;
                let mut st = sh.lock();
                while !st.worker_done {
                    let left = give_up.saturating_duration_since(sh.clock.now());
                    if left.is_zero() {
                        break;
                    }
                    st = sh
                        .changed
                        .wait_timeout(st, left)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                }
                if st.worker_done {
                    drop(st);
                    return handle.join().ok();
                }
                // The channel is stuck past its grace: report the rest without waiting for
                // it (the thread is left to finish or die with the process).
                let (rest, ended) = st.close_and_drain(sh.clock.now());
                drop(st);
                log::error!(
                    "shutdown: delivery via {} is still under way after {}; not waiting for it",
                    sh.describe,
                    human(sh.grace + JOIN_MARGIN)
                );
                let rest = rest
                    .into_iter()
                    .chain(ended.into_iter().filter_map(|e| sh.digest_entry(e)))
                    .collect();
                Some(sh.report(rest, None))
            }
            #[cfg(test)]
            Run::Manual(mut worker, clock, _) => {
                loop {
                    match worker.step(sh) {
                        Step::Again => {}
                        Step::Wait { until: Some(t), .. } => clock.set(t),
                        Step::Wait { until: None, .. } | Step::Done => break,
                    }
                }
                Some(worker.finish(sh))
            }
        }
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Build the shared state and the worker; queue the spool's leftovers.
fn prepare(
    channel: Arc<dyn Channel>,
    config: OutboxConfig,
    backoff: Backoff,
    clock: Arc<dyn Clock>,
) -> Result<(Arc<Shared>, Worker), Error> {
    let words = channel.words();
    // A spool that another listener holds is reported and not used: a listener that does not
    // start goes FATAL in supervisord and reports nothing at all.
    let spool = config
        .spool
        .as_deref()
        .and_then(|dir| match Spool::open(dir) {
            Ok(spool) if channel.envelope() => Some(spool),
            Ok(spool) => Some(spool.without_envelope()),
            Err(e) => {
                log::error!(
                    "{e}; {} kept in memory only (lost if the listener dies)",
                    words.mass
                );
                None
            }
        });
    let stamps = Stamps::default();
    let mut queue = Queue::new(config.queue_capacity);
    let capacity = queue.capacity();
    let figures = Arc::new(Figures::default());
    let mut journals = Vec::new();
    if let Some(spool) = &spool {
        let left = spool.leftovers();
        journals = spool.held_left();
        for stamp in left.iter().chain(journals.iter().map(|(w, _, _, _)| w)) {
            stamps.raise(*stamp);
        }
        if !left.is_empty() {
            log::info!(
                "{} left in the spool {} by an earlier run: sending {} first",
                words.count(left.len()),
                spool.dir().display(),
                if left.len() == 1 { "it" } else { "them" }
            );
        }
        for stamp in left {
            queue.push(Entry::Spooled(stamp));
        }
    }
    figures.queued(queue.len());
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            queue,
            flood: config.flood.map(Flood::new),
            deadline: None,
            closed: false,
            worker_done: false,
            changes: 0,
            worker_idle: false,
        }),
        changed: Condvar::new(),
        clock,
        spool,
        stamps,
        flood_limit: config.flood,
        grace: config.shutdown_grace,
        capacity,
        describe: channel.describe(),
        words,
        channel,
        journal_failing: AtomicBool::new(false),
        memory_in_hand: AtomicBool::new(false),
        figures,
    });
    for (window, key, held, counted) in journals {
        let ended = Ended::recovered(key, window, &held, counted);
        if let Some(entry) = shared.digest_entry(ended) {
            shared.enqueue(entry);
        }
    }
    Ok((Arc::clone(&shared), Worker::new(backoff)))
}

/// Lower the delivery thread's priority (nice 10; the sendmail commands it starts inherit it).
/// Answering supervisord is what must not wait: on a busy machine the bench measured the
/// protocol thread queued behind `sh`/`cat` for ~40 us per event at equal priority, and at
/// nice 10 the crash path answered ~2x faster (docs/performance.md). Notifications go out a
/// little later under load, which the queue, the spool and the digests absorb.
fn yield_to_the_protocol_loop(thread: &str) {
    // SAFETY: gettid and setpriority take plain integers and touch no memory of ours.
    let failed = unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, 10) != 0
    };
    if failed {
        log::debug!(
            "cannot lower the {thread} thread's priority: {}",
            std::io::Error::last_os_error()
        );
    }
}

#[cfg(test)]
impl Outbox {
    /// An outbox without a thread: the test runs the worker ([`Outbox::run_pending`]) and
    /// moves the clock.
    pub(in crate::notify) fn manual(
        channel: Arc<dyn Channel>,
        config: OutboxConfig,
        clock: &Arc<tests::TestClock>,
    ) -> Result<Outbox, Error> {
        let (shared, worker) = prepare(channel, config, Backoff::default(), clock.clone())?;
        Ok(Outbox {
            shared,
            worker: Run::Manual(Box::new(worker), Arc::clone(clock), None),
        })
    }

    /// Run the worker until it would wait; returns until when (`None`: until woken). Like
    /// the thread, a worker that waits stays asleep until its time comes or the state
    /// changes: a change that forgets to wake it shows here too.
    pub(in crate::notify) fn run_pending(&mut self) -> Option<Instant> {
        let Run::Manual(worker, clock, asleep) = &mut self.worker else {
            panic!("not a manual outbox")
        };
        if let Some(Step::Wait { until, seen }) = *asleep {
            let st = self.shared.lock();
            if st.changes == seen && !st.closed && until.is_none_or(|t| clock.now() < t) {
                return until;
            }
        }
        loop {
            match worker.step(&self.shared) {
                Step::Again => {}
                Step::Wait { until, seen } => {
                    *asleep = Some(Step::Wait { until, seen });
                    return until;
                }
                Step::Done => {
                    *asleep = None;
                    return None;
                }
            }
        }
    }

    /// kill -9: gone without shutdown (the spool's lock is released, as by the kernel).
    pub(in crate::notify) fn crash(mut self) {
        self.worker = Run::Stopped;
    }
}
