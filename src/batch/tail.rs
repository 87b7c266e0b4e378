//! `--tail N` for the batch mailers (issue 12): the crash context of the programs a batch
//! lists, under its lines.
//!
//! A batch is sent at the end of its interval, but supervisord forgets a program's exit status
//! as soon as it starts it again (autorestart: a second later). So the context is gathered at
//! the crash, on the crash-context worker (never on the protocol loop), and waits there for the
//! batch ([`TailWorker::gather_ahead`]). What a batch carries, so that a crash storm cannot
//! make a mail of megabytes: the context of each program's first crash in the batch, under a
//! line naming it, for at most [`MAX_PROGRAMS`] programs; the others are counted in one line.

use std::cell::RefCell;
use std::sync::Arc;

use super::Sink;
use crate::crash_context::worker::{
    Context, Job, Out, TailWorker, TAIL_QUEUE, TAIL_SHUTDOWN_GRACE,
};
use crate::crash_context::MAX_PROGRAMS;
use crate::event::StateChange;
use crate::notify::{Notification, Notifier};
use crate::Error;

/// The batch sink with `--tail`: the notifier behind the crash-context worker.
pub struct WithContext {
    out: Arc<Out>,
    worker: TailWorker,
    /// The batch being collected: the programs whose context is gathered, and those left out.
    batch: RefCell<Programs>,
}

/// Which programs of the batch being collected have their context gathered.
#[derive(Debug, Default)]
struct Programs {
    gathered: Vec<String>,
    left_out: Vec<String>,
}

impl Programs {
    /// Whether to gather the context of this report of `namespec`: its first in the batch,
    /// within the bound.
    fn wants(&mut self, namespec: &str) -> bool {
        if self
            .gathered
            .iter()
            .chain(&self.left_out)
            .any(|p| p == namespec)
        {
            return false; // its first report's context is the one that matters
        }
        if self.gathered.len() >= MAX_PROGRAMS {
            self.left_out.push(namespec.to_owned());
            return false;
        }
        self.gathered.push(namespec.to_owned());
        true
    }

    /// The batch is sent: the line about the programs left out, if any; start again.
    fn finish(&mut self) -> Option<String> {
        let b = std::mem::take(self);
        (!b.left_out.is_empty()).then(|| {
            format!(
                "No crash context for {} (at most {MAX_PROGRAMS} programs a batch).",
                b.left_out.join(", ")
            )
        })
    }
}

/// `notifier` as a batch sink: as it is, or with `--tail` behind the crash-context worker
/// gathering the exit status and `tail` lines from the supervisord we run under.
pub fn sink(notifier: Notifier, tail: Option<usize>) -> Result<Box<dyn Sink>, Error> {
    let Some(lines) = tail else {
        return Ok(Box::new(notifier));
    };
    log::info!(
        "with the exit status and the last {lines} lines of stderr of each program's first \
         report in a batch (--tail; at most {MAX_PROGRAMS} programs a batch)"
    );
    let out = Arc::new(Out::new(notifier));
    let gather = crate::crash_context::from_supervisord(lines);
    let worker = TailWorker::start(out.clone(), gather, TAIL_QUEUE)?;
    Ok(Box::new(WithContext::new(out, worker)))
}

impl WithContext {
    fn new(out: Arc<Out>, worker: TailWorker) -> WithContext {
        WithContext {
            out,
            worker,
            batch: RefCell::new(Programs::default()),
        }
    }
}

impl Sink for WithContext {
    fn left(&self) -> Vec<String> {
        self.out.lock().batch_left()
    }

    fn line(&self, line: &str) {
        self.out.lock().batch_line(line);
    }

    fn context(&self, change: &StateChange) {
        let namespec = change.process.namespec();
        if self.batch.borrow_mut().wants(&namespec) {
            self.worker.gather_ahead(Context {
                namespec,
                pid: change.pid,
            });
        }
    }

    fn send(&self, mut batch: Notification) {
        if let Some(line) = self.batch.borrow_mut().finish() {
            batch.extra.push(line);
        }
        self.worker.push(Job {
            n: batch,
            context: None,
        });
    }

    fn shutdown(&mut self) {
        self.worker.shutdown(TAIL_SHUTDOWN_GRACE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_gathers_each_program_s_first_report_within_a_bound() {
        let mut b = Programs::default();
        assert!(b.wants("g:a"));
        assert!(!b.wants("g:a"), "only its first report");
        for i in 1..MAX_PROGRAMS {
            assert!(b.wants(&format!("g:p{i}")));
        }
        assert!(!b.wants("g:late"));
        assert!(!b.wants("g:late"));
        assert!(!b.wants("g:later"));
        assert_eq!(
            b.finish().as_deref(),
            Some("No crash context for g:late, g:later (at most 10 programs a batch).")
        );
        // The next batch starts afresh.
        assert!(b.wants("g:a"));
        assert_eq!(b.finish(), None);
    }
}
