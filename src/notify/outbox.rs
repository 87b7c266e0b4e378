//! The outbox: bounded queue, delivery worker, retry with backoff, spool, flood control and
//! digests. See the theory of operation in `mail/mod.rs`; docs/mail.md tells users.
//!
//! Two threads share one `State` under a mutex. The protocol loop calls [`Outbox::submit`]:
//! flood control first (a mail held back is only counted: no rendering, no fsync, so a crash
//! loop costs next to nothing), then render, write to the spool, queue, wake the worker. The
//! worker, a thread of its own, takes the head of the queue and calls the [`Transport`]
//! without the lock; a transient failure keeps that mail at the head and retries it after
//! 1 s, 2 s, 4 s ... up to 60 s ([`Backoff`]), and the mails behind it wait, so that they
//! arrive in the order they happened. The worker also mails flood-control digests: it never
//! sleeps past the next window's end, so a digest goes out even when no event follows.
//!
//! Time comes from a [`Clock`]. The worker's decisions are one function, `Worker::step`, that
//! returns what to do next (deliver, wait until, stop): the thread loops over it with real
//! time, and the tests call it with a clock they move by hand, so that ten minutes of flood
//! window or a minute of backoff take no time at all.
//!
//! Shutdown (SIGTERM): new mails are still taken, flood windows are closed into their digests,
//! the worker delivers what it can until `shutdown_grace` is over (it does not start a wait
//! that would end after it), then reports: what is in the spool is said once with a count,
//! what was only in memory is named mail by mail in the log. Nothing is lost silently.

mod digest;
mod flood;
mod queue;
mod spool;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use crate::notify::channel::mail::message::render;
use crate::notify::channel::mail::{
    DeliveryError, FloodLimit, Mail, OutboxConfig, Rendered, Transport,
};
use crate::Error;
use flood::{Admit, Ended, Flood};
use queue::{backlog_mail, Entry, Pending, Queue};
use spool::{ReadError, Spool, Stamps};

/// How long `shutdown` waits, past the grace time, for a delivery that is under way (the
/// transport's own timeout bounds it) before it gives up and reports without it.
const JOIN_MARGIN: Duration = Duration::from_secs(1);

/// Where the outbox gets the time: [`SystemClock`], or a clock a test moves by hand.
pub trait Clock: Send + Sync {
    /// For windows, backoff and deadlines.
    fn now(&self) -> Instant;
    /// For Date headers, spool stamps and the times listed in digests.
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

/// Waits between attempts to deliver one mail: `first`, then doubled each time, at most `max`.
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

/// A listener's handle on its delivery worker.
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

impl Outbox {
    /// Start the delivery worker; mails left in the spool by an earlier run are queued first.
    pub fn start(transport: Box<dyn Transport>, config: OutboxConfig) -> Result<Outbox, Error> {
        Outbox::start_with(transport, config, Backoff::default(), Arc::new(SystemClock))
    }

    /// [`Outbox::start`] with a chosen backoff and clock. The worker sleeps in real time
    /// (a condition variable's timeout) until the instants `clock` gives: a clock other than
    /// [`SystemClock`] suits short tests only.
    pub fn start_with(
        transport: Box<dyn Transport>,
        config: OutboxConfig,
        backoff: Backoff,
        clock: Arc<dyn Clock>,
    ) -> Result<Outbox, Error> {
        let (shared, worker) = prepare(transport, config, backoff, clock)?;
        let for_worker = Arc::clone(&shared);
        let handle = std::thread::Builder::new()
            .name("mail delivery".to_owned())
            .spawn(move || {
                yield_to_the_protocol_loop();
                worker.run(&for_worker)
            })
            .map_err(|e| Error::Setup(format!("cannot start the mail delivery thread: {e}")))?;
        Ok(Outbox {
            shared,
            worker: Run::Thread(handle),
        })
    }

    /// The outbox of a listener that mails `recipients` about `about` ("restarts"), or `None`
    /// without recipients; either way, what will happen is said in the start-up log.
    pub fn for_recipients(
        recipients: &[String],
        about: &str,
        transport: Box<dyn Transport>,
        config: OutboxConfig,
    ) -> Result<Option<Outbox>, Error> {
        if recipients.is_empty() {
            log::warn!("no valid -m/--email address: {about} are logged, not mailed");
            return Ok(None);
        }
        log::info!(
            "mailing {} about {about}, via {}",
            recipients.join(", "),
            transport.describe()
        );
        Outbox::start(transport, config).map(Some)
    }

    /// Hand over a mail; never waits for delivery. Errors are logged here.
    pub fn submit(&self, mail: Mail) {
        self.hand_over(mail);
    }

    /// Batch mailers (src/batch.rs): the lines of a batch an earlier run collected and did
    /// not mail, kept in the spool (empty without one).
    pub fn batch_left(&self) -> Vec<String> {
        self.shared
            .spool
            .as_ref()
            .map(Spool::batch_left)
            .unwrap_or_default()
    }

    /// Batch mailers: `line` joins the batch being collected. With a spool it is noted there
    /// at once, so that a crash or a kill between two mails loses no line.
    pub fn batch_line(&self, line: &str) {
        let sh = &*self.shared;
        if let Some(spool) = &sh.spool {
            match spool.append_batch(line) {
                Ok(()) => sh.journal_failing.store(false, Ordering::Relaxed),
                Err(e) if !sh.journal_failing.swap(true, Ordering::Relaxed) => log::warn!(
                    "cannot note the batch's line in {}: {e}; the batch is kept in memory \
                     only until it is mailed",
                    spool.dir().display()
                ),
                Err(_) => {}
            }
        }
    }

    /// Batch mailers: the collected batch as one mail. Its noted lines are forgotten once the
    /// mail itself is in the spool (or could not be made at all: that is logged).
    pub fn submit_batch(&self, mail: Mail) {
        if self.hand_over(mail) != Kept::InMemory {
            if let Some(spool) = &self.shared.spool {
                spool.clear_batch();
            }
        }
    }

    /// [`Outbox::submit`], saying where the mail went.
    fn hand_over(&self, mail: Mail) -> Kept {
        let sh = &*self.shared;
        let now = sh.clock.now();
        let wall = sh.clock.wall();
        if let Some(key) = mail.key.as_deref() {
            if sh.hold_back(key, &mail, now, wall) {
                return Kept::HeldBack;
            }
        }
        let rendered = match render(&mail, sh.default_from.as_deref(), wall) {
            Ok(r) => r,
            Err(e) => {
                log::error!(
                    "cannot mail \"{}\" to {}: {e}; not mailed",
                    summary_of(&mail),
                    mail.to.join(", ")
                );
                return Kept::Refused;
            }
        };
        let entry = sh.keep(rendered, mail, wall);
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
                mails(waiting),
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
                // The transport is stuck past its grace: report the rest without waiting for
                // it (the thread is left to finish or die with the process).
                st.closed = true;
                let rest = st.queue.drain();
                let ended = st
                    .flood
                    .as_mut()
                    .map(|f| f.take_ended(sh.clock.now(), true))
                    .unwrap_or_default();
                drop(st);
                log::error!(
                    "shutdown: delivery via {} is still under way after {}; not waiting for it",
                    sh.transport,
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

/// Where [`Outbox::hand_over`] put a mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kept {
    /// Counted for a flood-control digest.
    HeldBack,
    /// Could not be made (an invalid address); logged.
    Refused,
    Spooled,
    InMemory,
}

/// Build the shared state and the worker; queue the spool's leftovers.
fn prepare(
    transport: Box<dyn Transport>,
    config: OutboxConfig,
    backoff: Backoff,
    clock: Arc<dyn Clock>,
) -> Result<(Arc<Shared>, Worker), Error> {
    // A spool that another listener holds is reported and not used: a listener that does not
    // start goes FATAL in supervisord and reports nothing at all.
    let spool = config
        .spool
        .as_deref()
        .and_then(|dir| match Spool::open(dir) {
            Ok(spool) => Some(spool),
            Err(e) => {
                log::error!("{e}; mail is kept in memory only (lost if the listener dies)");
                None
            }
        });
    let stamps = Stamps::default();
    let mut queue = Queue::new(config.queue_capacity);
    let capacity = queue.capacity();
    let mut journals = Vec::new();
    if let Some(spool) = &spool {
        let left = spool.leftovers();
        journals = spool.held_left();
        for stamp in left.iter().chain(journals.iter().map(|(w, _, _)| w)) {
            stamps.raise(*stamp);
        }
        if !left.is_empty() {
            log::info!(
                "{} left in the spool {} by an earlier run: sending {} first",
                mails(left.len()),
                spool.dir().display(),
                if left.len() == 1 { "it" } else { "them" }
            );
        }
        for stamp in left {
            queue.push(Entry::Spooled(stamp));
        }
    }
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            queue,
            flood: config.flood.map(Flood::new),
            deadline: None,
            closed: false,
            worker_done: false,
            changes: 0,
        }),
        changed: Condvar::new(),
        clock,
        spool,
        stamps,
        default_from: config.default_from,
        flood_limit: config.flood,
        grace: config.shutdown_grace,
        capacity,
        transport: transport.describe(),
        journal_failing: AtomicBool::new(false),
    });
    for (window, key, held) in journals {
        let ended = Ended::recovered(key, window, &held);
        if let Some(entry) = shared.digest_entry(ended) {
            shared.enqueue(entry);
        }
    }
    let worker = Worker {
        transport,
        backoff,
        current: None,
    };
    Ok((shared, worker))
}

/// Lower the delivery thread's priority (nice 10; the sendmail commands it starts inherit it).
/// Answering supervisord is what must not wait: on a busy machine the bench measured the
/// protocol thread queued behind `sh`/`cat` for ~40 us per event at equal priority, and at
/// nice 10 the crash path answered ~2x faster (docs/performance.md). Mail goes out a little
/// later under load, which the queue, the spool and the digests absorb.
fn yield_to_the_protocol_loop() {
    // SAFETY: gettid and setpriority take plain integers and touch no memory of ours.
    let failed = unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, 10) != 0
    };
    if failed {
        log::debug!(
            "cannot lower the mail delivery thread's priority: {}",
            std::io::Error::last_os_error()
        );
    }
}

/// What the protocol thread and the worker share.
struct Shared {
    state: Mutex<State>,
    /// Signalled on every change of `State` the other side may wait for.
    changed: Condvar,
    clock: Arc<dyn Clock>,
    spool: Option<Spool>,
    stamps: Stamps,
    default_from: Option<String>,
    flood_limit: Option<FloodLimit>,
    grace: Duration,
    /// Mails kept in memory before merging (for the backlog digest's text).
    capacity: usize,
    /// The transport's description, for log lines.
    transport: String,
    /// Flood control's journal cannot be written: said once, not once per held mail.
    journal_failing: AtomicBool,
}

struct State {
    queue: Queue,
    flood: Option<Flood>,
    /// Set by shutdown: deliver until then, then report.
    deadline: Option<Instant>,
    /// The leftovers have been reported: a mail queued now is reported at once.
    closed: bool,
    worker_done: bool,
    /// Bumped on each change, so that the worker never sleeps through one.
    changes: u64,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere must not take the mail down with it.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Flood control: true when `mail` is held back (counted for its window's digest, noted
    /// in the spool's journal).
    fn hold_back(&self, key: &str, mail: &Mail, now: Instant, wall: SystemTime) -> bool {
        let mut guard = self.lock();
        let st = &mut *guard;
        // Once the worker has reported, nothing may wait in a window that nobody closes: the
        // mail goes on, and `enqueue` reports it.
        if st.closed {
            return false;
        }
        let Some(flood) = st.flood.as_mut() else {
            return false;
        };
        let admit = flood.admit(key, mail, now, wall, || self.stamps.next(wall));
        // Wake the worker when a digest is due now, or when a window holds its first mail: the
        // worker may be asleep with no end in sight, and must now wake when this window ends.
        if flood.has_ended() || matches!(admit, Admit::Hold { first: true, .. }) {
            st.changes += 1;
            self.changed.notify_all();
        }
        let Admit::Hold {
            window,
            first,
            until,
            held,
        } = admit
        else {
            return false;
        };
        // Under the lock, so that the worker cannot close the window (and delete its journal)
        // between the decision and the note.
        if let Some(spool) = &self.spool {
            match spool.append_held(window, key, &held) {
                Ok(()) => self.journal_failing.store(false, Ordering::Relaxed),
                Err(e) if !self.journal_failing.swap(true, Ordering::Relaxed) => log::warn!(
                    "flood control: cannot note a held-back mail in {}/held: {e}; \
                     the count is kept in memory only",
                    spool.dir().display()
                ),
                Err(_) => {}
            }
        }
        drop(guard);
        if first {
            log::warn!(
                "flood control: {key} has had its {} mails for this window; holding back its \
                 mails until {}, then mailing one digest",
                flood_max(self.flood_limit),
                crate::time::LocalTime::at(until)
            );
        } else {
            log::debug!("flood control: {key}: held back: {}", summary_of(mail));
        }
        true
    }

    /// A rendered mail as a queue entry: in the spool when there is one (durably, before the
    /// caller acknowledges its event), else in memory.
    fn keep(&self, rendered: Rendered, mail: Mail, date: SystemTime) -> Entry {
        if let Some(spool) = &self.spool {
            let stamp = self.stamps.next(date);
            match spool.write(stamp, &rendered) {
                Ok(()) => return Entry::Spooled(stamp),
                Err(e) => log::error!(
                    "cannot write \"{}\" to the spool {}: {e}; keeping it in memory only \
                     (it is lost if the listener is killed before it is sent)",
                    rendered.summary,
                    spool.dir().display()
                ),
            }
        }
        Entry::Memory(Box::new(Pending {
            rendered,
            mail,
            date,
        }))
    }

    /// Queue `entry` and wake the worker.
    fn enqueue(&self, entry: Entry) {
        let mut st = self.lock();
        if st.closed {
            drop(st);
            self.report(vec![entry], None);
            return;
        }
        let merging = st.queue.push(entry);
        st.changes += 1;
        self.changed.notify_all();
        drop(st);
        if merging {
            log::warn!(
                "the mail queue is full ({} mails or {} MiB waiting in memory) while delivery \
                 via {} is failing or slow: merging the oldest notifications into one digest \
                 mail (--spool DIR would keep every mail on disk instead)",
                self.capacity,
                queue::MAX_BYTES >> 20,
                self.transport
            );
        }
    }

    /// A flood-control window's digest, rendered and kept (spooled when possible); its
    /// journal is deleted once the digest is in safe hands.
    fn digest_entry(&self, ended: Ended) -> Option<Entry> {
        let mail = ended.mail(self.flood_limit);
        let wall = self.clock.wall();
        let entry = match render(&mail, self.default_from.as_deref(), wall) {
            Ok(rendered) => {
                log::info!(
                    "flood control: {}: {} held back, mailing one digest",
                    ended.key,
                    digest::notifications(ended.held.count())
                );
                Some(self.keep(rendered, mail, wall))
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

    /// Wait until `until` (forever: `None`) or a change after `seen`.
    fn wait(&self, until: Option<Instant>, seen: u64) {
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

    /// The end of the line for mails not delivered: in the spool they wait for the next
    /// start (said with a count); a mail only in memory is put in the spool if there is one,
    /// else named in the log as lost.
    fn report(&self, entries: Vec<Entry>, current: Option<Current>) -> Leftovers {
        let mut left = Leftovers::default();
        let rescue = |rendered: Rendered, names: Vec<String>, left: &mut Leftovers| {
            if let Some(spool) = &self.spool {
                match spool.write(self.stamps.next(self.clock.wall()), &rendered) {
                    Ok(()) => {
                        left.spooled += 1;
                        return;
                    }
                    Err(e) => log::error!(
                        "shutdown: cannot write \"{}\" to the spool {}: {e}",
                        rendered.summary,
                        spool.dir().display()
                    ),
                }
            }
            left.lost.extend(names);
        };
        if let Some(cur) = current {
            match cur.stamp {
                Some(_) => left.spooled += 1,
                None => rescue(cur.rendered, cur.names, &mut left),
            }
        }
        for entry in entries {
            match entry {
                Entry::Spooled(_) => left.spooled += 1,
                Entry::Memory(p) => {
                    let names = vec![p.rendered.summary.clone()];
                    rescue(p.rendered, names, &mut left);
                }
                Entry::Backlog(d) => {
                    let mail = backlog_mail(&d, self.capacity, &self.transport);
                    match render(&mail, self.default_from.as_deref(), self.clock.wall()) {
                        Ok(r) => rescue(r, d.names(), &mut left),
                        Err(_) => left.lost.extend(d.names()),
                    }
                }
            }
        }
        if let Some(spool) = &self.spool {
            if left.spooled > 0 {
                log::warn!(
                    "shutdown: {} not delivered yet {} in the spool {}; {} sent when the listener starts again",
                    mails(left.spooled),
                    if left.spooled == 1 { "is" } else { "are" },
                    spool.dir().display(),
                    if left.spooled == 1 { "it is" } else { "they are" }
                );
            }
        }
        for name in &left.lost {
            log::error!("shutdown: not delivered, and lost: \"{name}\"");
        }
        if left.spooled == 0 && left.lost.is_empty() {
            log::info!("shutdown: all mail delivered");
        }
        left
    }
}

/// What shutdown could not deliver.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Leftovers {
    /// In the spool, for the next start.
    spooled: usize,
    /// Named in the log as lost (no spool, or it could not take them).
    lost: Vec<String>,
}

/// The worker's own state: the transport and the mail at the head.
struct Worker {
    transport: Box<dyn Transport>,
    backoff: Backoff,
    current: Option<Current>,
}

/// The mail being delivered, taken off the queue.
struct Current {
    rendered: Rendered,
    /// Its spool file.
    stamp: Option<u64>,
    /// What to name if it is lost: its summary, or a backlog digest's summaries.
    names: Vec<String>,
    failures: u32,
    next_try: Instant,
}

/// What the worker does next.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    Again,
    /// Sleep until then (`None`: until woken), or until `changes` moves past `seen`.
    Wait {
        until: Option<Instant>,
        seen: u64,
    },
    Done,
}

impl Worker {
    fn run(mut self, sh: &Shared) -> Leftovers {
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
    fn step(&mut self, sh: &Shared) -> Step {
        let now = sh.clock.now();
        let mut st = sh.lock();
        if st.closed {
            return Step::Done;
        }
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
                    drop(st);
                    self.current = self.load(sh, entry, now);
                    Step::Again
                }
                None if stopping => Step::Done,
                None => Step::Wait {
                    until: next_end,
                    seen: st.changes,
                },
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
            let result = self.transport.deliver(&cur.rendered);
            self.settle(sh, cur, result);
        }
        Step::Again
    }

    /// The head of the queue as a mail to deliver (`None`: nothing to deliver after all).
    fn load(&self, sh: &Shared, entry: Entry, now: Instant) -> Option<Current> {
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
                            "spool file {} is not a mail this program can send ({why}); {moved}",
                            path.display()
                        );
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
            Entry::Memory(p) => {
                let names = vec![p.rendered.summary.clone()];
                (p.rendered, None, names)
            }
            Entry::Backlog(d) => {
                let mail = backlog_mail(&d, sh.capacity, &sh.transport);
                match render(&mail, sh.default_from.as_deref(), sh.clock.wall()) {
                    Ok(r) => (r, None, d.names()),
                    Err(e) => {
                        log::error!(
                            "cannot format the digest of merged notifications: {e}; these are lost: {}",
                            quoted(&d.names())
                        );
                        return None;
                    }
                }
            }
        };
        Some(Current {
            rendered,
            stamp,
            names,
            failures: 0,
            next_try: now,
        })
    }

    /// After an attempt: done, retry later, or give up.
    fn settle(&mut self, sh: &Shared, mut cur: Current, result: Result<(), DeliveryError>) {
        let summary = &cur.rendered.summary;
        let to = cur.rendered.to.join(", ");
        match result {
            Ok(()) => {
                if let (Some(spool), Some(stamp)) = (&sh.spool, cur.stamp) {
                    if let Err(e) = spool.remove(stamp) {
                        log::warn!(
                            "mailed \"{summary}\" but cannot delete {}: {e}; it will be sent again at the next start",
                            spool.path(stamp).display()
                        );
                    }
                }
                let after = if cur.failures > 0 {
                    format!(" (attempt {})", cur.failures + 1)
                } else {
                    String::new()
                };
                log::info!("mailed \"{summary}\" to {to} via {}{after}", sh.transport);
            }
            // The error's own text: a transient one ends "(will retry)".
            Err(why @ DeliveryError::Transient(_)) => {
                cur.failures = cur.failures.saturating_add(1);
                let delay = self.backoff.delay(cur.failures);
                cur.next_try = sh.clock.now() + delay;
                let behind = sh.lock().queue.len();
                let behind = if behind > 0 {
                    format!("; {} waiting behind it", mails(behind))
                } else {
                    String::new()
                };
                log::warn!(
                    "cannot deliver \"{summary}\" via {} (attempt {}): {why}; next attempt in {}{behind}",
                    sh.transport,
                    cur.failures,
                    human(delay)
                );
                self.current = Some(cur);
            }
            Err(why @ DeliveryError::Permanent(_)) => {
                let kept = match (&sh.spool, cur.stamp) {
                    (Some(spool), Some(stamp)) => match spool.fail(stamp) {
                        Ok(p) => format!("; the message is kept in {}", p.display()),
                        Err(e) => format!("; cannot move it to failed/: {e}"),
                    },
                    _ => String::new(),
                };
                log::error!(
                    "{} refused \"{summary}\" to {to}: {why}; giving up on this mail{kept}",
                    sh.transport
                );
            }
        }
    }

    /// After the last step: report what was not delivered, and say that the worker is done.
    fn finish(mut self, sh: &Shared) -> Leftovers {
        let (rest, ended) = {
            let mut st = sh.lock();
            let already = st.closed;
            st.closed = true;
            let rest = st.queue.drain();
            let ended = st
                .flood
                .as_mut()
                .map(|f| f.take_ended(sh.clock.now(), true))
                .unwrap_or_default();
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
        let left = sh.report(rest, self.current.take());
        sh.lock().worker_done = true;
        sh.changed.notify_all();
        left
    }
}

fn summary_of(mail: &Mail) -> String {
    mail.subject
        .clone()
        .unwrap_or_else(|| mail.body.lines().next().unwrap_or("").to_owned())
}

fn flood_max(limit: Option<FloodLimit>) -> u32 {
    limit.map_or(0, |l| l.max)
}

fn mails(n: usize) -> String {
    if n == 1 {
        "1 mail".to_owned()
    } else {
        format!("{n} mails")
    }
}

fn quoted(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("\"{n}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `250 ms`, `4 s`, `1 min 30 s`.
fn human(d: Duration) -> String {
    let secs = d.as_secs();
    if secs == 0 {
        format!("{} ms", d.as_millis())
    } else if secs < 60 {
        format!("{secs} s")
    } else if secs % 60 == 0 {
        format!("{} min", secs / 60)
    } else {
        format!("{} min {} s", secs / 60, secs % 60)
    }
}

#[cfg(test)]
impl Outbox {
    /// An outbox without a thread: the test runs the worker ([`Outbox::run_pending`]) and
    /// moves the clock.
    fn manual(
        transport: Box<dyn Transport>,
        config: OutboxConfig,
        clock: &Arc<tests::TestClock>,
    ) -> Result<Outbox, Error> {
        let (shared, worker) = prepare(transport, config, Backoff::default(), clock.clone())?;
        Ok(Outbox {
            shared,
            worker: Run::Manual(Box::new(worker), Arc::clone(clock), None),
        })
    }

    /// Run the worker until it would wait; returns until when (`None`: until woken). Like
    /// the thread, a worker that waits stays asleep until its time comes or the state
    /// changes: a change that forgets to wake it shows here too.
    fn run_pending(&mut self) -> Option<Instant> {
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
    fn crash(mut self) {
        self.worker = Run::Stopped;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A clock the test moves by hand.
    pub(super) struct TestClock {
        base: Instant,
        wall: SystemTime,
        offset: Mutex<Duration>,
    }

    impl TestClock {
        pub(super) fn new() -> Arc<TestClock> {
            Arc::new(TestClock {
                base: Instant::now(),
                wall: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
                offset: Mutex::new(Duration::ZERO),
            })
        }

        pub(super) fn advance(&self, d: Duration) {
            *self.offset.lock().unwrap() += d;
        }

        /// Move to `t` (never back).
        pub(super) fn set(&self, t: Instant) {
            let mut offset = self.offset.lock().unwrap();
            *offset = (*offset).max(t.saturating_duration_since(self.base));
        }
    }

    impl Clock for TestClock {
        fn now(&self) -> Instant {
            self.base + *self.offset.lock().unwrap()
        }

        fn wall(&self) -> SystemTime {
            self.wall + *self.offset.lock().unwrap()
        }
    }

    /// A transport that records what it is given and fails as told.
    #[derive(Default)]
    struct Fake {
        delivered: Vec<Rendered>,
        attempts: Vec<String>,
        /// Fail this many attempts transiently, then succeed.
        transient: u32,
        always: Option<DeliveryError>,
        /// Refuse for good mails whose summary is this.
        refuse: Option<String>,
        delay: Duration,
    }

    #[derive(Clone, Default)]
    struct FakeTransport(Arc<Mutex<Fake>>);

    impl FakeTransport {
        fn with(set: impl FnOnce(&mut Fake)) -> FakeTransport {
            let t = FakeTransport::default();
            set(&mut t.0.lock().unwrap());
            t
        }

        fn boxed(&self) -> Box<dyn Transport> {
            Box::new(self.clone())
        }

        fn delivered(&self) -> Vec<String> {
            let f = self.0.lock().unwrap();
            f.delivered.iter().map(|r| r.summary.clone()).collect()
        }

        fn attempts(&self) -> Vec<String> {
            self.0.lock().unwrap().attempts.clone()
        }

        /// The text of the n-th delivered mail (quoted-printable undone).
        fn text(&self, n: usize) -> String {
            let raw = self.0.lock().unwrap().delivered[n].message.clone();
            let raw = String::from_utf8_lossy(&raw).replace("=\r\n", "");
            let mut out = Vec::new();
            let mut i = 0;
            let b = raw.as_bytes();
            while i < b.len() {
                let byte = raw
                    .get(i + 1..i + 3)
                    .filter(|_| b[i] == b'=')
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match byte {
                    Some(byte) => {
                        out.push(byte);
                        i += 3;
                    }
                    None => {
                        out.push(b[i]);
                        i += 1;
                    }
                }
            }
            String::from_utf8_lossy(&out).replace("\r\n", "\n")
        }
    }

    impl Transport for FakeTransport {
        fn deliver(&mut self, mail: &Rendered) -> Result<(), DeliveryError> {
            let delay = self.0.lock().unwrap().delay;
            if !delay.is_zero() {
                std::thread::sleep(delay);
            }
            let mut f = self.0.lock().unwrap();
            f.attempts.push(mail.summary.clone());
            if f.refuse.as_deref() == Some(mail.summary.as_str()) {
                return Err(DeliveryError::Permanent("550 no such user".into()));
            }
            if let Some(e) = &f.always {
                return Err(e.clone());
            }
            if f.transient > 0 {
                f.transient -= 1;
                return Err(DeliveryError::Transient("connection refused".into()));
            }
            f.delivered.push(mail.clone());
            Ok(())
        }

        fn describe(&self) -> String {
            "fake".to_owned()
        }
    }

    fn down() -> DeliveryError {
        DeliveryError::Transient("connection refused".into())
    }

    fn config(spool: Option<&std::path::Path>) -> OutboxConfig {
        OutboxConfig {
            default_from: Some("supervisor@host1".into()),
            spool: spool.map(ToOwned::to_owned),
            flood: None,
            queue_capacity: 100,
            shutdown_grace: Duration::from_secs(5),
        }
    }

    fn flood(max: u32, per: Duration) -> Option<FloodLimit> {
        Some(FloodLimit { max, per })
    }

    fn mail(subject: &str, key: Option<&str>) -> Mail {
        Mail {
            to: vec!["ops@example.com".into()],
            from: None,
            subject: Some(subject.into()),
            body: format!("body of {subject}\nsecond line"),
            key: key.map(str::to_owned),
        }
    }

    /// The mails waiting in a spool directory, by file name.
    fn spooled(dir: &std::path::Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".mail"))
            .collect();
        names.sort();
        names
    }

    #[test]
    fn submit_does_not_wait_and_mail_arrives_in_order() {
        let t = FakeTransport::with(|f| f.delay = Duration::from_millis(60));
        let mut outbox = Outbox::start(t.boxed(), config(None)).unwrap();
        let started = Instant::now();
        for n in 1..=4 {
            outbox.submit(mail(&format!("m{n}"), Some("web:web_01")));
        }
        // Four deliveries take 240 ms; handing them over takes next to nothing.
        assert!(
            started.elapsed() < Duration::from_millis(50),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(outbox.stop(), Some(Leftovers::default()));
        assert_eq!(t.delivered(), ["m1", "m2", "m3", "m4"]);
        assert!(t.text(0).contains("Subject: m1\n"));
        assert!(t.text(0).contains("body of m1"));
    }

    #[test]
    fn transient_failures_back_off_and_the_head_waits() {
        let clock = TestClock::new();
        let t = FakeTransport::with(|f| f.transient = 3);
        let mut outbox = Outbox::manual(t.boxed(), config(None), &clock).unwrap();
        outbox.submit(mail("a", None));
        outbox.submit(mail("b", None));
        let mut waits = Vec::new();
        while let Some(until) = outbox.run_pending() {
            waits.push(until.duration_since(clock.now()));
            clock.set(until);
        }
        let s = Duration::from_secs;
        assert_eq!(waits, [s(1), s(2), s(4)]);
        // b is not tried while a waits: the order is kept.
        assert_eq!(t.attempts(), ["a", "a", "a", "a", "b"]);
        assert_eq!(t.delivered(), ["a", "b"]);
    }

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let b = Backoff::default();
        let waits: Vec<u64> = (1..=8).map(|n| b.delay(n).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(b.delay(u32::MAX), Duration::from_secs(60));
    }

    #[test]
    fn a_refused_mail_is_dropped_and_kept_in_failed() {
        let dir = tempfile::tempdir().unwrap();
        let clock = TestClock::new();
        let t = FakeTransport::with(|f| f.refuse = Some("bad".into()));
        let mut outbox = Outbox::manual(t.boxed(), config(Some(dir.path())), &clock).unwrap();
        outbox.submit(mail("bad", None));
        outbox.submit(mail("good", None));
        assert_eq!(outbox.run_pending(), None);
        assert_eq!(t.delivered(), ["good"]);
        assert!(spooled(dir.path()).is_empty());
        let failed = spooled(&dir.path().join("failed"));
        assert_eq!(failed.len(), 1);
        let kept = std::fs::read_to_string(dir.path().join("failed").join(&failed[0])).unwrap();
        assert!(kept.contains("Subject: bad"), "{kept}");
        // Without a spool, only the log says so; the next mail goes on.
        let t = FakeTransport::with(|f| f.refuse = Some("bad".into()));
        let mut outbox = Outbox::manual(t.boxed(), config(None), &clock).unwrap();
        outbox.submit(mail("bad", None));
        outbox.submit(mail("good", None));
        outbox.run_pending();
        assert_eq!(t.delivered(), ["good"]);
    }

    #[test]
    fn spool_file_is_written_before_submit_returns_and_deleted_once_delivered() {
        let dir = tempfile::tempdir().unwrap();
        let clock = TestClock::new();
        let t = FakeTransport::default();
        let mut outbox = Outbox::manual(t.boxed(), config(Some(dir.path())), &clock).unwrap();
        outbox.submit(mail("a", Some("web:web_01")));
        let files = spooled(dir.path());
        assert_eq!(files.len(), 1);
        let text = std::fs::read_to_string(dir.path().join(&files[0])).unwrap();
        assert!(text.starts_with(
            "superlance-spool 1\nfrom supervisor@host1\nto ops@example.com\nsummary a\n\n"
        ));
        assert!(text.contains("Subject: a\r\n"), "{text}");
        assert!(t.delivered().is_empty());
        outbox.run_pending();
        assert_eq!(t.delivered(), ["a"]);
        assert!(spooled(dir.path()).is_empty());
    }

    #[test]
    fn mails_left_by_a_killed_listener_are_sent_first_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let clock = TestClock::new();
        let broken = FakeTransport::with(|f| f.always = Some(down()));
        let mut first = Outbox::manual(broken.boxed(), config(Some(dir.path())), &clock).unwrap();
        first.submit(mail("a", None));
        first.submit(mail("b", None));
        assert!(first.run_pending().is_some(), "waiting to retry");
        first.crash();
        assert_eq!(spooled(dir.path()).len(), 2);
        // Killed while writing a third: a half-written file, never acknowledged.
        std::fs::write(
            dir.path().join(".tmp-00000000000000000001.mail"),
            "superlance-spool 1\nfrom",
        )
        .unwrap();
        // And a file that is not ours: set aside, not sent.
        std::fs::write(dir.path().join("00000000000000000005.mail"), "garbage").unwrap();

        let t = FakeTransport::default();
        let mut second = Outbox::manual(t.boxed(), config(Some(dir.path())), &clock).unwrap();
        second.submit(mail("c", None));
        second.run_pending();
        assert_eq!(t.delivered(), ["a", "b", "c"]);
        assert_eq!(
            spooled(&dir.path().join("failed")),
            ["00000000000000000005.mail"]
        );
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            3,
            "only .lock, failed/, held/"
        );
    }

    #[test]
    fn a_spool_in_use_by_a_running_listener_is_not_shared() {
        let dir = tempfile::tempdir().unwrap();
        let clock = TestClock::new();
        let broken = FakeTransport::with(|f| f.always = Some(down()));
        let first = Outbox::manual(broken.boxed(), config(Some(dir.path())), &clock).unwrap();
        first.submit(mail("first's", None));
        // The second one is told (in the log) and keeps its mail in memory.
        let t = FakeTransport::default();
        let mut second = Outbox::manual(t.boxed(), config(Some(dir.path())), &clock).unwrap();
        second.submit(mail("second's", None));
        assert_eq!(spooled(dir.path()).len(), 1);
        second.run_pending();
        assert_eq!(t.delivered(), ["second's"]);
        first.crash();
    }

    #[test]
    fn a_full_queue_without_spool_merges_the_oldest_into_one_digest() {
        let clock = TestClock::new();
        let t = FakeTransport::default();
        let mut cfg = config(None);
        cfg.queue_capacity = 3;
        let mut outbox = Outbox::manual(t.boxed(), cfg, &clock).unwrap();
        for n in 1..=10 {
            outbox.submit(mail(&format!("m{n}"), None));
        }
        outbox.run_pending();
        assert_eq!(
            t.delivered(),
            ["8 notifications merged (delivery backlog)", "m9", "m10"]
        );
        let digest = t.text(0);
        for n in 1..=8 {
            assert!(
                digest.contains(&format!("  m{n}\n    body of m{n}\n    second line\n")),
                "m{n} missing: {digest}"
            );
        }
        assert!(!digest.contains("  m9\n"));
        assert!(digest.contains("To: ops@example.com"));
    }

    #[test]
    fn flood_control_holds_back_per_key_and_mails_one_digest_when_the_window_ends() {
        let clock = TestClock::new();
        let t = FakeTransport::default();
        let mut cfg = config(None);
        cfg.flood = flood(2, Duration::from_secs(600));
        let mut outbox = Outbox::manual(t.boxed(), cfg, &clock).unwrap();
        let start = clock.now();
        for n in 1..=5 {
            outbox.submit(mail(&format!("web_01 crashed #{n}"), Some("web:web_01")));
            clock.advance(Duration::from_secs(1));
        }
        outbox.submit(mail("db crashed", Some("db:db")));
        outbox.submit(mail("unkeyed 1", None));
        outbox.submit(mail("unkeyed 2", None));
        outbox.submit(mail("unkeyed 3", None));
        // With nothing else to do, the worker sleeps until the window ends, not forever.
        assert_eq!(outbox.run_pending(), Some(start + Duration::from_secs(600)));
        assert_eq!(
            t.delivered(),
            [
                "web_01 crashed #1",
                "web_01 crashed #2",
                "db crashed",
                "unkeyed 1",
                "unkeyed 2",
                "unkeyed 3"
            ]
        );
        clock.set(start + Duration::from_secs(600));
        assert_eq!(outbox.run_pending(), None);
        let delivered = t.delivered();
        assert_eq!(delivered.len(), 7);
        assert_eq!(
            delivered[6],
            "web:web_01: 3 more notifications suppressed (flood control: max 2 per 10 minutes)"
        );
        let digest = t.text(6);
        for n in 3..=5 {
            assert!(
                digest.contains(&format!(
                    "  web_01 crashed #{n}\n    body of web_01 crashed #{n}\n"
                )),
                "#{n} missing: {digest}"
            );
        }
        assert!(!digest.contains("second line"), "first lines only");
        // A new window: the next crash is mailed again.
        outbox.submit(mail("web_01 crashed #6", Some("web:web_01")));
        outbox.run_pending();
        assert_eq!(t.delivered()[7], "web_01 crashed #6");
    }

    #[test]
    fn a_held_mail_sets_the_sleeping_workers_alarm() {
        let clock = TestClock::new();
        let t = FakeTransport::default();
        let mut cfg = config(None);
        cfg.flood = flood(1, Duration::from_secs(600));
        let mut outbox = Outbox::manual(t.boxed(), cfg, &clock).unwrap();
        let start = clock.now();
        outbox.submit(mail("k1", Some("k")));
        assert_eq!(outbox.run_pending(), None, "delivered, nothing due: asleep");
        outbox.submit(mail("k2", Some("k")));
        assert_eq!(outbox.run_pending(), Some(start + Duration::from_secs(600)));
        clock.set(start + Duration::from_secs(600));
        outbox.run_pending();
        assert_eq!(t.delivered().len(), 2);
    }

    #[test]
    fn the_window_digest_goes_out_with_no_further_event() {
        // The real thread and clock: the worker must wake on its own when the window ends.
        let t = FakeTransport::default();
        let mut cfg = config(None);
        cfg.flood = flood(1, Duration::from_millis(50));
        let mut outbox = Outbox::start(t.boxed(), cfg).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        let wait_for = |n: usize| {
            while t.delivered().len() < n && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(2));
            }
        };
        outbox.submit(mail("k1", Some("k")));
        // The worker has delivered k1 and sleeps with nothing due: held-back mails must give it
        // a time to wake at.
        wait_for(1);
        std::thread::sleep(Duration::from_millis(5));
        outbox.submit(mail("k2", Some("k")));
        outbox.submit(mail("k3", Some("k")));
        wait_for(2);
        assert_eq!(
            t.delivered(),
            [
                "k1",
                "k: 2 more notifications suppressed (flood control: max 1 per 50 ms)"
            ]
        );
        assert_eq!(outbox.stop(), Some(Leftovers::default()));
    }

    #[test]
    fn shutdown_mails_the_flood_digests_at_once() {
        let clock = TestClock::new();
        let t = FakeTransport::default();
        let mut cfg = config(None);
        cfg.flood = flood(1, Duration::from_secs(600));
        let mut outbox = Outbox::manual(t.boxed(), cfg, &clock).unwrap();
        for n in 1..=3 {
            outbox.submit(mail(&format!("k{n}"), Some("k")));
        }
        assert_eq!(outbox.stop(), Some(Leftovers::default()));
        assert_eq!(
            t.delivered(),
            [
                "k1",
                "k: 2 more notifications suppressed (flood control: max 1 per 10 minutes)"
            ]
        );
    }

    #[test]
    fn shutdown_delivers_what_is_queued_within_the_grace_time() {
        let t = FakeTransport::with(|f| f.delay = Duration::from_millis(10));
        let mut outbox = Outbox::start(t.boxed(), config(None)).unwrap();
        for n in 1..=5 {
            outbox.submit(mail(&format!("m{n}"), None));
        }
        assert_eq!(outbox.stop(), Some(Leftovers::default()));
        assert_eq!(t.delivered(), ["m1", "m2", "m3", "m4", "m5"]);
        // Twice is harmless, and so is the drop that follows.
        assert_eq!(outbox.stop(), None);
        outbox.shutdown();
    }

    #[test]
    fn shutdown_with_the_server_down_leaves_the_spool_for_the_next_start() {
        let dir = tempfile::tempdir().unwrap();
        let clock = TestClock::new();
        let t = FakeTransport::with(|f| f.always = Some(down()));
        let mut outbox = Outbox::manual(t.boxed(), config(Some(dir.path())), &clock).unwrap();
        outbox.submit(mail("a", None));
        outbox.submit(mail("b", None));
        let start = clock.now();
        let left = outbox.stop().unwrap();
        assert_eq!(
            left,
            Leftovers {
                spooled: 2,
                lost: vec![]
            }
        );
        assert_eq!(spooled(dir.path()).len(), 2);
        // Tried at 0 s, 1 s and 3 s; the next try (7 s) would be past the 5 s of grace.
        assert_eq!(t.attempts(), ["a", "a", "a"]);
        assert!(clock.now() < start + Duration::from_secs(5));
    }

    #[test]
    fn shutdown_without_spool_names_each_lost_mail() {
        let clock = TestClock::new();
        let t = FakeTransport::with(|f| f.always = Some(down()));
        let mut cfg = config(None);
        cfg.queue_capacity = 2;
        let mut outbox = Outbox::manual(t.boxed(), cfg, &clock).unwrap();
        for n in 1..=4 {
            outbox.submit(mail(&format!("m{n}"), None));
        }
        let left = outbox.stop().unwrap();
        assert_eq!(left.spooled, 0);
        assert_eq!(left.lost, ["m1", "m2", "m3", "m4"]);
    }

    #[test]
    fn an_unwritable_spool_keeps_mail_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        std::fs::write(&file, "").unwrap();
        let clock = TestClock::new();
        let t = FakeTransport::default();
        let mut outbox =
            Outbox::manual(t.boxed(), config(Some(&file.join("spool"))), &clock).unwrap();
        outbox.submit(mail("a", None));
        outbox.run_pending();
        assert_eq!(t.delivered(), ["a"]);
        assert_eq!(outbox.stop(), Some(Leftovers::default()));
    }

    #[test]
    fn mails_held_back_survive_a_kill_as_one_digest() {
        let dir = tempfile::tempdir().unwrap();
        let clock = TestClock::new();
        let t = FakeTransport::default();
        let mut cfg = config(Some(dir.path()));
        cfg.flood = flood(1, Duration::from_secs(600));
        let mut first = Outbox::manual(t.boxed(), cfg.clone(), &clock).unwrap();
        for n in 1..=3 {
            first.submit(mail(&format!("k{n}"), Some("web:k")));
        }
        first.run_pending();
        assert_eq!(t.delivered(), ["k1"]);
        first.crash();

        let mut second = Outbox::manual(t.boxed(), cfg, &clock).unwrap();
        second.run_pending();
        let delivered = t.delivered();
        assert_eq!(
            delivered[1],
            "web:k: 2 more notifications suppressed (flood control: max 1 per 10 minutes)"
        );
        let digest = t.text(1);
        assert!(digest.contains("  k2\n    body of k2\n"), "{digest}");
        assert!(digest.contains("  k3\n"), "{digest}");
        assert!(
            digest.contains("stopped before the window ended"),
            "{digest}"
        );
        assert_eq!(
            std::fs::read_dir(dir.path().join("held")).unwrap().count(),
            0
        );
        assert!(spooled(dir.path()).is_empty());
    }

    #[test]
    fn a_mail_that_cannot_be_formatted_is_not_queued() {
        let clock = TestClock::new();
        let t = FakeTransport::default();
        let mut outbox = Outbox::manual(t.boxed(), config(None), &clock).unwrap();
        let mut bad = mail("no recipient", None);
        bad.to.clear();
        outbox.submit(bad);
        outbox.submit(mail("good", None));
        outbox.run_pending();
        assert_eq!(t.delivered(), ["good"]);
    }

    #[test]
    fn a_mail_after_shutdown_is_not_lost_silently() {
        let dir = tempfile::tempdir().unwrap();
        let clock = TestClock::new();
        let t = FakeTransport::default();
        let mut outbox = Outbox::manual(t.boxed(), config(Some(dir.path())), &clock).unwrap();
        outbox.stop();
        outbox.submit(mail("late", Some("k")));
        assert_eq!(spooled(dir.path()).len(), 1, "kept for the next start");
    }
}
