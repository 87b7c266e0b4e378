//! The crash-context worker (`--tail N`): one thread that gathers each notification's
//! crash context over XML-RPC and submits it, in the order the events came, so that
//! supervisord never waits for a call; the [`Sink`] notifications end in; and [`Delivery`],
//! how a listener that notifies from its protocol loop (notify, crashmail, the batch mailers)
//! sends, with `--tail` or without.
//!
//! A batch mailer reports a crash only at the end of its interval, but the exit status is
//! only known until supervisord starts the program again: it gathers at the crash
//! ([`TailWorker::gather_ahead`]), and the lines wait in the worker for the next notification
//! it sends, the batch's, each program's under a line naming it.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::notify::{Kind, Notification, Notifier};
use crate::Error;

use super::Gather;

/// Notifications waiting for their crash context, at most. A job is one notification (a few
/// hundred bytes); beyond this, supervisord is not answering fast enough for context to help.
pub const TAIL_QUEUE: usize = 100;

/// At shutdown, how long the tail worker may go on gathering; what is left then goes out
/// without context (a call in flight gets 1 s more). The notifier's own grace (5 s) follows:
/// 8 s in all, within supervisord's default `stopwaitsecs` (10 s).
pub const TAIL_SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// At shutdown, past the grace time, how long a call in flight may still take before its
/// notification goes out without context.
const LAST_CALL_WAIT: Duration = Duration::from_secs(1);

/// The line of a notification whose context was not gathered because the listener stopped.
const STOPPING: &str = "Crash context skipped: the listener is stopping.";

/// Where finished notifications go: the notifier (shared by the protocol loop and the tail
/// worker), or a recorder in tests.
pub trait Sink: Send + Sync {
    fn submit(&self, n: Notification);
    /// Deliver or spool what is queued; runs once, at the end.
    fn shutdown(&self) {}
}

/// The notifier behind a lock: `submit` is cheap (render and queue, no delivery), and the
/// lock is only contended when the protocol loop and the worker submit at the same moment.
pub struct Out(Mutex<Notifier>);

impl Out {
    pub fn new(n: Notifier) -> Out {
        Out(Mutex::new(n))
    }

    /// The notifier itself (a batch mailer notes its lines in the spool through it).
    pub fn lock(&self) -> MutexGuard<'_, Notifier> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Sink for Out {
    fn submit(&self, n: Notification) {
        // A batch's notification also clears the lines it noted in the spool as they came.
        match n.kind {
            Kind::Batch => self.lock().submit_batch(n),
            _ => self.lock().submit(n),
        }
    }

    fn shutdown(&self) {
        self.lock().shutdown();
    }
}

/// Which process a job's context is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    pub namespec: String,
    pub pid: Option<u32>,
}

impl Context {
    /// The line over this process's context in a batch: `Crash context of web:web_01 (pid 42):`.
    pub fn heading(&self) -> String {
        match self.pid {
            Some(pid) => format!("Crash context of {} (pid {pid}):", self.namespec),
            None => format!("Crash context of {}:", self.namespec),
        }
    }
}

/// One notification on its way through the worker: with `context`, its crash context is
/// gathered first.
pub struct Job {
    pub n: Notification,
    pub context: Option<Context>,
}

/// What the worker does next: a notification to send (after its context, if any), or a
/// context to gather for the next notification (a batch's).
enum Task {
    Send(Box<Job>),
    Ahead(Context),
}

struct Queue {
    jobs: VecDeque<Task>,
    /// Context gathered ahead, each under its heading: it goes with the next notification sent.
    held: Vec<String>,
    /// Set at shutdown: finish the queue (gathering until the instant, if any), then stop.
    stop: Option<Instant>,
    /// The worker has returned.
    done: bool,
    /// Notifications sent without waiting for context since the queue was last full.
    overflowed: u64,
    /// The notification whose context is being gathered, as it would go without it: at
    /// shutdown, if the calls outlast the grace time, the listener sends this one on and the
    /// worker drops its own when it is done (none lost, none sent twice).
    current: Option<Notification>,
}

struct TailShared {
    queue: Mutex<Queue>,
    changed: Condvar,
}

impl TailShared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One thread that gathers crash context and submits, in the order the events came.
///
/// Unlike [`crate::background::Background`] (latest request wins: a newer tick says all an
/// older one would), every job here is a notification of its own: all are kept, in order, up
/// to `capacity`. Beyond it (supervisord answering our calls too slowly for the events it
/// sends), a notification does not wait for context: it is submitted at once with a line
/// saying why it has none, counted, and the log says how many went out that way once the
/// queue has room again. Nothing is lost; only those notifications overtake the queued ones.
pub struct TailWorker {
    shared: Arc<TailShared>,
    sink: Arc<dyn Sink>,
    thread: Option<JoinHandle<()>>,
    capacity: usize,
}

impl TailWorker {
    pub fn start(sink: Arc<dyn Sink>, mut gather: Gather, capacity: usize) -> Result<Self, Error> {
        let shared = Arc::new(TailShared {
            queue: Mutex::new(Queue {
                jobs: VecDeque::new(),
                held: Vec::new(),
                stop: None,
                done: false,
                overflowed: 0,
                current: None,
            }),
            changed: Condvar::new(),
        });
        let (sh, out) = (Arc::clone(&shared), Arc::clone(&sink));
        let thread = std::thread::Builder::new()
            .name("crash context".to_owned())
            .spawn(move || {
                while let Some((task, gather_until)) = next_job(&sh) {
                    let in_time = gather_until.is_none_or(|t| Instant::now() < t);
                    let Job { mut n, context } = match task {
                        Task::Ahead(c) => {
                            let mut lines = vec![c.heading()];
                            if in_time {
                                lines.extend(gather(&c.namespec, c.pid));
                            } else {
                                lines.push(STOPPING.into());
                            }
                            sh.lock().held.extend(lines);
                            continue;
                        }
                        Task::Send(job) => *job,
                    };
                    if let Some(c) = context {
                        if in_time {
                            n.extra.extend(gather(&c.namespec, c.pid));
                        } else {
                            n.extra.push(STOPPING.into());
                        }
                        if sh.lock().current.take().is_none() {
                            continue; // sent on without its context at shutdown
                        }
                    }
                    with_held(&mut n, &mut sh.lock().held);
                    out.submit(n);
                }
                let mut q = sh.lock();
                q.done = true;
                sh.changed.notify_all();
            })
            .map_err(|e| Error::Setup(format!("cannot start the crash context thread: {e}")))?;
        Ok(TailWorker {
            shared,
            sink,
            thread: Some(thread),
            capacity,
        })
    }

    /// Queue `job`; never waits. A full queue sends it on at once, without context.
    pub fn push(&self, job: Job) {
        if let Some(job) = self.queue(Task::Send(Box::new(job))) {
            self.overflow(job);
        }
    }

    /// Gather the context of `c` now, for the next notification pushed (a batch's); never
    /// waits. A full queue notes, for that notification, that it was skipped.
    pub fn gather_ahead(&self, c: Context) {
        if self.queue(Task::Ahead(c.clone())).is_some() {
            let skipped = self.skipped();
            self.shared.lock().held.extend([c.heading(), skipped]);
        }
    }

    /// Queue `task`, or give it back when the queue is full (counted, and said once).
    fn queue(&self, task: Task) -> Option<Task> {
        let mut q = self.shared.lock();
        if q.jobs.len() < self.capacity {
            if q.overflowed > 0 && q.jobs.len() < self.capacity / 2 {
                log::warn!(
                    "--tail: {} notifications went out without crash context (supervisord was \
                     answering too slowly); the queue has room again",
                    q.overflowed
                );
                q.overflowed = 0;
            }
            q.jobs.push_back(task);
            self.shared.changed.notify_all();
            return None;
        }
        q.overflowed += 1;
        if q.overflowed == 1 {
            log::warn!(
                "--tail: {} notifications are waiting for crash context; more go out without it",
                q.jobs.len()
            );
        }
        Some(task)
    }

    fn skipped(&self) -> String {
        format!(
            "Crash context skipped: {} notifications were waiting for theirs.",
            self.capacity
        )
    }

    /// A notification the full queue had no room for: sent at once, without its context.
    fn overflow(&self, task: Task) {
        let Task::Send(job) = task else {
            return;
        };
        let Job { mut n, context } = *job;
        if context.is_some() {
            n.extra.push(self.skipped());
        }
        self.sink.submit(n);
    }

    /// Let the worker finish the queue, gathering context for up to `grace`; then submit what
    /// is left without it, and shut the notifier down (deliver or spool).
    pub fn shutdown(&mut self, grace: Duration) {
        let deadline = Instant::now() + grace;
        let mut q = self.shared.lock();
        q.stop = Some(deadline);
        self.shared.changed.notify_all();
        // The worker stops gathering at the deadline; submitting the rest is quick. A call in
        // flight may take up to its own timeout: wait a little, then send it on without context.
        let hard = deadline + LAST_CALL_WAIT;
        while !q.done {
            let left = hard.saturating_duration_since(Instant::now());
            if left.is_zero() {
                log::warn!(
                    "shutdown: crash context still being gathered; {} notifications go out \
                     without it",
                    q.jobs.len() + usize::from(q.current.is_some())
                );
                if let Some(mut n) = q.current.take() {
                    n.extra.push(STOPPING.into());
                    self.sink.submit(n);
                }
                let tasks: Vec<Task> = q.jobs.drain(..).collect();
                for task in tasks {
                    match task {
                        Task::Ahead(c) => q.held.extend([c.heading(), STOPPING.into()]),
                        Task::Send(job) => {
                            let Job { mut n, context } = *job;
                            if context.is_some() {
                                n.extra.push(STOPPING.into());
                            }
                            with_held(&mut n, &mut q.held);
                            self.sink.submit(n);
                        }
                    }
                }
                break;
            }
            q = self
                .shared
                .changed
                .wait_timeout(q, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        let finished = q.done;
        drop(q);
        if finished {
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        }
        self.sink.shutdown();
    }
}

/// Where a listener's notifications go from its protocol loop (notify, crashmail), with
/// `--tail` or without.
pub enum Delivery {
    /// No channel: the listener logs what it would have sent.
    Log,
    /// Straight to the notifier (no `--tail`).
    Direct(Arc<dyn Sink>),
    /// Through the crash-context worker, in order (`--tail`).
    Tail(TailWorker),
}

impl Delivery {
    /// `notifier` (`None`: no channel at all), behind a [`TailWorker`] gathering the exit
    /// status and `tail` lines from the supervisord we run under when `--tail` was given.
    pub fn start(notifier: Option<Notifier>, tail: Option<usize>) -> Result<Delivery, Error> {
        Ok(match (notifier, tail) {
            (None, _) => Delivery::Log,
            (Some(n), None) => Delivery::Direct(Arc::new(Out::new(n))),
            (Some(n), Some(lines)) => Delivery::Tail(TailWorker::start(
                Arc::new(Out::new(n)),
                super::from_supervisord(lines),
                TAIL_QUEUE,
            )?),
        })
    }

    /// Whether notifications go anywhere (else the listener logs them).
    pub fn sends(&self) -> bool {
        !matches!(self, Delivery::Log)
    }

    /// Send `n`; with `--tail` the crash context of `context` is gathered first, off the
    /// protocol loop. Never waits. Nothing happens without a channel ([`Delivery::sends`]).
    pub fn send(&self, n: Notification, context: Option<Context>) {
        match self {
            Delivery::Log => {}
            Delivery::Direct(sink) => sink.submit(n),
            Delivery::Tail(worker) => worker.push(Job { n, context }),
        }
    }

    /// Deliver or spool what is queued, gathering context for up to [`TAIL_SHUTDOWN_GRACE`].
    pub fn shutdown(&mut self) {
        match self {
            Delivery::Log => {}
            Delivery::Direct(sink) => sink.shutdown(),
            Delivery::Tail(worker) => worker.shutdown(TAIL_SHUTDOWN_GRACE),
        }
    }
}

/// The context gathered ahead goes first in the notification's extra lines (a batch's own
/// lines, such as how many programs were left out, follow).
fn with_held(n: &mut Notification, held: &mut Vec<String>) {
    if !held.is_empty() {
        let own = std::mem::take(&mut n.extra);
        n.extra = std::mem::take(held);
        n.extra.extend(own);
    }
}

/// The worker's next task and whether to gather context for it (until the shutdown deadline);
/// `None`: stopped and nothing is left.
fn next_job(sh: &TailShared) -> Option<(Task, Option<Instant>)> {
    let mut q = sh.lock();
    loop {
        if let Some(task) = q.jobs.pop_front() {
            q.current = match &task {
                Task::Send(job) => job.context.as_ref().map(|_| job.n.clone()),
                Task::Ahead(_) => None,
            };
            return Some((task, q.stop));
        }
        if q.stop.is_some() {
            return None;
        }
        q = sh.changed.wait(q).unwrap_or_else(PoisonError::into_inner);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::mpsc;

    /// A sink that keeps what it is given.
    #[derive(Default)]
    pub struct Recorder {
        pub got: Mutex<Vec<Notification>>,
        shut: Mutex<bool>,
    }

    impl Sink for Recorder {
        fn submit(&self, n: Notification) {
            self.got.lock().unwrap().push(n);
        }
        fn shutdown(&self) {
            *self.shut.lock().unwrap() = true;
        }
    }

    impl Recorder {
        pub fn texts(&self) -> Vec<String> {
            self.got
                .lock()
                .unwrap()
                .iter()
                .map(|n| format!("{} {:?}", n.text, n.extra))
                .collect()
        }
    }

    fn job(text: &str, context: bool) -> Job {
        Job {
            n: Notification::for_test(None, text, None),
            context: context.then(|| Context {
                namespec: format!("g:{text}"),
                pid: Some(1),
            }),
        }
    }

    fn wait(mut cond: impl FnMut() -> bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if cond() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        false
    }

    #[test]
    fn the_tail_worker_keeps_every_job_in_order() {
        let rec = Arc::new(Recorder::default());
        let (gate, opened) = mpsc::channel::<()>();
        let gather: Gather = Box::new(move |namespec, pid| {
            opened.recv().unwrap();
            vec![format!("context of {namespec} pid {pid:?}")]
        });
        let mut w = TailWorker::start(rec.clone(), gather, 10).unwrap();
        // Held at the gate: the first job gathers, the rest wait, none overtakes.
        w.push(job("a", true));
        w.push(job("b", false));
        w.push(job("c", true));
        assert!(rec.texts().is_empty(), "submitted before its context");
        gate.send(()).unwrap();
        gate.send(()).unwrap();
        assert!(wait(|| rec.texts().len() == 3));
        assert_eq!(
            rec.texts(),
            [
                "a [\"context of g:a pid Some(1)\"]",
                "b []",
                "c [\"context of g:c pid Some(1)\"]"
            ]
        );
        w.shutdown(Duration::from_secs(1));
        assert!(*rec.shut.lock().unwrap(), "the notifier is shut down too");
    }

    #[test]
    fn past_its_bound_the_tail_worker_sends_without_context() {
        let rec = Arc::new(Recorder::default());
        let (gate, opened) = mpsc::channel::<()>();
        let (started, running) = mpsc::channel::<()>();
        let gather: Gather = Box::new(move |namespec, _| {
            started.send(()).unwrap();
            opened.recv().unwrap();
            vec![format!("ctx {namespec}")]
        });
        let mut w = TailWorker::start(rec.clone(), gather, 2).unwrap();
        w.push(job("1", true));
        running.recv().unwrap(); // 1 is being gathered: the queue is empty again
        w.push(job("2", true));
        w.push(job("3", true));
        // Full: 4 and 5 go out at once, counted, saying why they have no context.
        w.push(job("4", true));
        w.push(job("5", false));
        assert_eq!(w.shared.lock().overflowed, 2);
        assert_eq!(
            rec.texts(),
            [
                "4 [\"Crash context skipped: 2 notifications were waiting for theirs.\"]",
                "5 []"
            ]
        );
        for _ in 0..3 {
            gate.send(()).unwrap();
        }
        assert!(wait(|| rec.texts().len() == 5));
        assert_eq!(
            rec.texts()[2..],
            ["1 [\"ctx g:1\"]", "2 [\"ctx g:2\"]", "3 [\"ctx g:3\"]"]
        );
        // Room again: the count is reported and reset at the next push.
        w.push(job("6", false));
        assert_eq!(w.shared.lock().overflowed, 0);
        w.shutdown(Duration::from_secs(1));
        assert_eq!(rec.texts().len(), 6, "6 went out before the worker stopped");
    }

    #[test]
    fn a_call_outlasting_shutdown_costs_its_context_not_its_notification() {
        let rec = Arc::new(Recorder::default());
        let gather: Gather = Box::new(|_, _| {
            std::thread::sleep(Duration::from_millis(1500));
            vec!["late".into()]
        });
        let mut w = TailWorker::start(rec.clone(), gather, 10).unwrap();
        w.push(job("a", true));
        w.push(job("b", true));
        assert!(wait(|| w.shared.lock().current.is_some()));
        let started = Instant::now();
        w.shutdown(Duration::from_millis(100));
        let took = started.elapsed();
        assert!(took < Duration::from_millis(1400), "{took:?}");
        let skipped = format!("[{STOPPING:?}]");
        assert_eq!(
            rec.texts(),
            [format!("a {skipped}"), format!("b {skipped}")]
        );
        // The worker's late "a" is dropped, not sent a second time.
        std::thread::sleep(Duration::from_millis(1000));
        assert_eq!(rec.texts().len(), 2, "{:?}", rec.texts());
    }

    #[test]
    fn a_stuck_context_does_not_hold_shutdown_forever() {
        let rec = Arc::new(Recorder::default());
        let gather: Gather = Box::new(|_, _| {
            std::thread::sleep(Duration::from_millis(300));
            vec!["late".into()]
        });
        let mut w = TailWorker::start(rec.clone(), gather, 10).unwrap();
        for t in ["a", "b", "c"] {
            w.push(job(t, true));
        }
        let started = Instant::now();
        w.shutdown(Duration::from_millis(100));
        assert!(started.elapsed() < Duration::from_secs(3));
        // a was gathered (begun before the deadline); b and c go out without context.
        let texts = rec.texts();
        assert_eq!(texts.len(), 3, "{texts:?}");
        assert_eq!(texts[0], "a [\"late\"]");
        assert!(texts[1..]
            .iter()
            .all(|t| t.contains("Crash context skipped: the listener is stopping.")));
    }

    #[test]
    fn context_gathered_ahead_goes_with_the_next_notification() {
        let rec = Arc::new(Recorder::default());
        let gather: Gather = Box::new(|namespec, pid| vec![format!("ctx {namespec} {pid:?}")]);
        let mut w = TailWorker::start(rec.clone(), gather, 10).unwrap();
        let c = |namespec: &str, pid| Context {
            namespec: namespec.into(),
            pid,
        };
        w.gather_ahead(c("g:a", Some(7)));
        w.gather_ahead(c("g:b", None));
        let mut batch = job("batch", false);
        batch.n.extra.push("own line".into());
        w.push(batch);
        w.push(job("next", false));
        w.shutdown(Duration::from_secs(1));
        assert_eq!(
            rec.texts(),
            [
                "batch [\"Crash context of g:a (pid 7):\", \"ctx g:a Some(7)\", \
                 \"Crash context of g:b:\", \"ctx g:b None\", \"own line\"]",
                "next []"
            ]
        );
    }
}
