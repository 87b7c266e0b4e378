//! `--tail N` for the batch mailers (issue 12): the crash context of the programs a batch
//! lists, under its lines.
//!
//! A batch is sent at the end of its interval, but supervisord forgets a program's exit status
//! as soon as it starts it again (autorestart: a second later). So the context is gathered at
//! the crash, on the crash-context worker (never on the protocol loop), and waits there for the
//! batch ([`TailWorker::gather_ahead`]). What a batch carries, so that a crash storm cannot
//! make a mail of megabytes: the context of each program's first crash in the batch, under a
//! line naming it, for at most [`MAX_PROGRAMS`] programs; the others are counted in one line.
//!
//! Nothing accepted is lost meanwhile (src/batch.rs): each line is noted in the spool as it
//! comes, and the notes are cleared when the notifier takes a batch. A batch that waits for its
//! context may be taken after later lines were noted: those stay noted ([`Unsent`]).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::Sink;
use crate::crash_context::worker::{
    self, Context, Job, Out, TailWorker, TAIL_QUEUE, TAIL_SHUTDOWN_GRACE,
};
use crate::crash_context::MAX_PROGRAMS;
use crate::event::StateChange;
use crate::notify::{Kind, Notification, Notifier};
use crate::Error;

/// The batch sink with `--tail`: the notifier behind the crash-context worker.
pub struct WithContext {
    out: Arc<Out>,
    unsent: Arc<Mutex<Unsent>>,
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

/// The lines noted in the spool this run that no batch the notifier took holds yet: those of
/// the batches waiting in the worker for their context, in order, then those being collected.
#[derive(Debug, Default)]
struct Unsent {
    lines: VecDeque<String>,
    /// How many of `lines` each batch waiting in the worker has.
    batches: VecDeque<usize>,
}

impl Unsent {
    /// The lines collected so far make a batch, now waiting in the worker.
    fn batch_queued(&mut self) {
        let waiting: usize = self.batches.iter().sum();
        let collected = self.lines.len().saturating_sub(waiting);
        self.batches.push_back(collected);
    }

    /// The notifier takes the first waiting batch: the lines that stay noted.
    fn batch_taken(&mut self) -> Vec<String> {
        let taken = self.batches.pop_front().unwrap_or(0);
        let taken = taken.min(self.lines.len());
        self.lines.drain(..taken);
        self.lines.iter().cloned().collect()
    }
}

fn lock(unsent: &Mutex<Unsent>) -> MutexGuard<'_, Unsent> {
    unsent.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Where the worker hands a batch: to the notifier, keeping the notes of the lines no batch
/// it took holds yet. Locks the notifier, then `unsent`, as [`WithContext::line`] does.
///
/// Batches are taken in the order they were queued. The one exception is a worker queue full
/// of jobs (100: supervisord not answering for minutes), where a batch goes out at once and
/// overtakes those queued: the accounting may then forget the notes of a waiting batch, which
/// is still sent, but not recovered if the listener is killed before.
struct BatchOut {
    out: Arc<Out>,
    unsent: Arc<Mutex<Unsent>>,
}

impl worker::Sink for BatchOut {
    fn submit(&self, n: Notification) {
        let notifier = self.out.lock();
        if n.kind != Kind::Batch {
            notifier.submit(n);
            return;
        }
        let keep = lock(&self.unsent).batch_taken();
        notifier.submit_batch_keeping(n, &keep);
    }

    fn shutdown(&self) {
        self.out.lock().shutdown();
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
    let unsent = Arc::new(Mutex::new(Unsent::default()));
    let batch_out = Arc::new(BatchOut {
        out: Arc::clone(&out),
        unsent: Arc::clone(&unsent),
    });
    let gather = crate::crash_context::from_supervisord(lines);
    let worker = TailWorker::start(batch_out, gather, TAIL_QUEUE)?;
    Ok(Box::new(WithContext {
        out,
        unsent,
        worker,
        batch: RefCell::new(Programs::default()),
    }))
}

impl Sink for WithContext {
    fn left(&self) -> Vec<String> {
        self.out.lock().batch_left()
    }

    fn line(&self, line: &str) {
        let notifier = self.out.lock();
        lock(&self.unsent).lines.push_back(line.to_owned());
        notifier.batch_line(line);
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
        lock(&self.unsent).batch_queued();
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

    #[test]
    fn a_batch_taken_late_leaves_the_later_lines_noted() {
        let mut u = Unsent::default();
        let note = |u: &mut Unsent, l: &str| u.lines.push_back(l.to_owned());
        note(&mut u, "a1");
        note(&mut u, "a2");
        u.batch_queued();
        note(&mut u, "b1");
        u.batch_queued();
        note(&mut u, "c1");
        // The first batch taken while b's waits and c's is collected.
        assert_eq!(u.batch_taken(), ["b1", "c1"]);
        assert_eq!(u.batch_taken(), ["c1"]);
        u.batch_queued();
        assert!(u.batch_taken().is_empty());
        // A batch of lines left by the last run only (none noted this run).
        u.batch_queued();
        assert!(u.batch_taken().is_empty());
    }
}
