//! The crash-context worker (`--tail N`): one thread that gathers each notification's
//! crash context over XML-RPC and submits it, in the order the events came, so that
//! supervisord never waits for a call; and the [`Sink`] notifications end in.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::notify::{Notification, Notifier};
use crate::Error;

/// One crash context's XML-RPC calls, at most each: a context that needs longer is worth less
/// than the notification it delays.
pub const RPC_TIMEOUT: Duration = Duration::from_secs(5);

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

    fn lock(&self) -> MutexGuard<'_, Notifier> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Sink for Out {
    fn submit(&self, n: Notification) {
        self.lock().submit(n);
    }

    fn shutdown(&self) {
        self.lock().shutdown();
    }
}

/// The crash context of a process (`group:name`, the pid that stopped): lines to add.
pub type Gather = Box<dyn FnMut(&str, Option<u32>) -> Vec<String> + Send>;

/// Which process a job's context is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    pub namespec: String,
    pub pid: Option<u32>,
}

/// One notification on its way through the worker: with `context`, its crash context is
/// gathered first.
pub struct Job {
    pub n: Notification,
    pub context: Option<Context>,
}

struct Queue {
    jobs: VecDeque<Job>,
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
                while let Some((job, gather_until)) = next_job(&sh) {
                    let Job { mut n, context } = job;
                    if let Some(c) = context {
                        if gather_until.is_none_or(|t| Instant::now() < t) {
                            n.extra.extend(gather(&c.namespec, c.pid));
                        } else {
                            n.extra.push(STOPPING.into());
                        }
                        if sh.lock().current.take().is_none() {
                            continue; // sent on without its context at shutdown
                        }
                    }
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
            q.jobs.push_back(job);
            self.shared.changed.notify_all();
            return;
        }
        q.overflowed += 1;
        if q.overflowed == 1 {
            log::warn!(
                "--tail: {} notifications are waiting for crash context; more go out without it",
                q.jobs.len()
            );
        }
        drop(q);
        let Job { mut n, context } = job;
        if context.is_some() {
            n.extra.push(format!(
                "Crash context skipped: {} notifications were waiting for theirs.",
                self.capacity
            ));
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
                for Job { mut n, context } in q.jobs.drain(..) {
                    if context.is_some() {
                        n.extra.push(STOPPING.into());
                    }
                    self.sink.submit(n);
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

/// The worker's next job and whether to gather context for it (until the shutdown deadline);
/// `None`: stopped and nothing is left.
fn next_job(sh: &TailShared) -> Option<(Job, Option<Instant>)> {
    let mut q = sh.lock();
    loop {
        if let Some(job) = q.jobs.pop_front() {
            q.current = job.context.as_ref().map(|_| job.n.clone());
            return Some((job, q.stop));
        }
        if q.stop.is_some() {
            return None;
        }
        q = sh.changed.wait(q).unwrap_or_else(PoisonError::into_inner);
    }
}

#[cfg(test)]
pub(super) mod tests {
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
}
