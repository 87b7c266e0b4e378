//! Slow work off the protocol loop: a thread that runs one job at a time, latest request wins.
//!
//! memmon and httpok act on TICK events by talking to supervisord (XML-RPC), to a web server,
//! and by restarting programs (stop, then start, each waiting for supervisord): seconds of
//! work, during which supervisord would wait for our RESULT and buffer, then drop, events
//! (superlance #41, #55: "event buffer overflowed"). So `handle` only hands the tick to a
//! [`Background`] worker and answers OK at once.
//!
//! Requests coalesce: if a job is running, a new request replaces any request still waiting
//! (the newest tick says all an older one would), so a slow supervisord never builds a backlog.
//! A running job is never interrupted: a restart that stopped a program must also start it
//! again (superlance #43 left programs stopped). At shutdown the running job is given a grace
//! time to finish; a waiting one is dropped, with a log line.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::Error;

/// What became of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requested {
    /// The worker was idle: it starts on it now.
    Started,
    /// A job is running: this request waits for it (replacing an older waiting one, if any).
    Queued { replaced: bool },
}

struct State<T> {
    waiting: Option<T>,
    running: bool,
    stop: bool,
    /// The worker thread has returned.
    done: bool,
}

struct Shared<T> {
    state: Mutex<State<T>>,
    changed: Condvar,
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A worker thread running `job(request)` for one request at a time.
pub struct Background<T: Send + 'static> {
    shared: Arc<Shared<T>>,
    thread: Option<JoinHandle<()>>,
    name: String,
}

impl<T: Send + 'static> Background<T> {
    /// Start the thread, named `name` (for logs and `top -H`).
    pub fn start(name: &str, mut job: impl FnMut(T) + Send + 'static) -> Result<Self, Error> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                waiting: None,
                running: false,
                stop: false,
                done: false,
            }),
            changed: Condvar::new(),
        });
        let for_thread = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                let sh = &*for_thread;
                loop {
                    let request = {
                        let mut st = sh.lock();
                        loop {
                            if st.stop {
                                st.done = true;
                                sh.changed.notify_all();
                                return;
                            }
                            if let Some(r) = st.waiting.take() {
                                st.running = true;
                                break r;
                            }
                            st = sh.changed.wait(st).unwrap_or_else(PoisonError::into_inner);
                        }
                    };
                    job(request);
                    let mut st = sh.lock();
                    st.running = false;
                    sh.changed.notify_all();
                }
            })
            .map_err(|e| Error::Setup(format!("cannot start the {name} thread: {e}")))?;
        Ok(Background {
            shared,
            thread: Some(thread),
            name: name.to_owned(),
        })
    }

    /// Hand over a request; never waits.
    pub fn request(&self, request: T) -> Requested {
        let mut st = self.shared.lock();
        let busy = st.running || st.waiting.is_some();
        let replaced = st.waiting.replace(request).is_some();
        self.shared.changed.notify_all();
        if busy {
            Requested::Queued { replaced }
        } else {
            Requested::Started
        }
    }

    /// True while a job runs or waits.
    pub fn busy(&self) -> bool {
        let st = self.shared.lock();
        st.running || st.waiting.is_some()
    }

    /// Let the running job finish (up to `grace`), drop a waiting one, stop the thread. True if
    /// everything finished in time; otherwise the log says what was left.
    pub fn shutdown(&mut self, grace: Duration) -> bool {
        let deadline = Instant::now() + grace;
        let mut st = self.shared.lock();
        if st.waiting.take().is_some() {
            log::info!(
                "shutdown: the {} waiting for its turn is dropped",
                self.name
            );
        }
        st.stop = true;
        self.shared.changed.notify_all();
        while !st.done {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                log::warn!(
                    "shutdown: the {} still running after {} s is abandoned",
                    self.name,
                    grace.as_secs()
                );
                return false;
            }
            st = self
                .shared
                .changed
                .wait_timeout(st, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        drop(st);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        true
    }
}

impl<T: Send + 'static> Drop for Background<T> {
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        st.waiting = None;
        st.stop = true;
        self.shared.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn requests_run_in_order_and_coalesce_while_busy() {
        let (gate_tx, gate_rx) = mpsc::channel::<()>();
        let (done_tx, done_rx) = mpsc::channel::<u32>();
        let mut bg = Background::start("test job", move |n: u32| {
            gate_rx.recv().unwrap();
            done_tx.send(n).unwrap();
        })
        .unwrap();
        assert_eq!(bg.request(1), Requested::Started);
        assert!(wait(|| bg.shared.lock().running));
        // 1 runs (held at the gate); 2 waits; 3 replaces 2.
        assert_eq!(bg.request(2), Requested::Queued { replaced: false });
        assert_eq!(bg.request(3), Requested::Queued { replaced: true });
        assert!(bg.busy());
        gate_tx.send(()).unwrap();
        gate_tx.send(()).unwrap();
        assert_eq!(done_rx.recv().unwrap(), 1);
        assert_eq!(done_rx.recv().unwrap(), 3);
        assert!(wait(|| !bg.busy()));
        assert!(bg.shutdown(Duration::from_secs(5)));
        assert!(done_rx.try_recv().is_err(), "2 never ran");
    }

    #[test]
    fn shutdown_lets_the_running_job_finish_and_drops_the_waiting_one() {
        let (done_tx, done_rx) = mpsc::channel::<u32>();
        let mut bg = Background::start("test job", move |n: u32| {
            std::thread::sleep(Duration::from_millis(200));
            done_tx.send(n).unwrap();
        })
        .unwrap();
        bg.request(1);
        assert!(wait(|| bg.shared.lock().running));
        bg.request(2);
        assert!(bg.shutdown(Duration::from_secs(5)));
        assert_eq!(done_rx.recv().unwrap(), 1, "the running job finished");
        assert!(done_rx.try_recv().is_err(), "the waiting one was dropped");
    }

    #[test]
    fn shutdown_gives_up_after_the_grace_time() {
        let mut bg = Background::start("stuck job", |(): ()| {
            std::thread::sleep(Duration::from_secs(3));
        })
        .unwrap();
        bg.request(());
        assert!(wait(|| bg.shared.lock().running));
        let started = Instant::now();
        assert!(!bg.shutdown(Duration::from_millis(100)));
        assert!(started.elapsed() < Duration::from_secs(2));
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
}
