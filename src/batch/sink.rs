//! Where a batch goes: the delivery layer ([`Notifier`]), or the log alone ([`LogOnly`]).

use super::limit::Tally;
use crate::event::StateChange;
use crate::notify::{self, Notification, Notifier};

/// Where a batch goes: the delivery layer, or (no valid address) the log.
pub trait Sink {
    /// Lines collected by an earlier run and not mailed.
    fn left(&self) -> Vec<String>;
    /// A line joined the batch.
    fn line(&self, line: &str);
    /// The batch, as one notification.
    fn send(&self, batch: Notification);
    /// A line about `change` joined the batch: gather its crash context now (`--tail`).
    fn context(&self, _change: &StateChange) {}
    fn shutdown(&mut self);
    /// `program`'s lines beyond `--max-lines` in this batch so far (noted, as lines are).
    fn count(&self, _program: &str, _tally: &Tally) {}
    /// Counts noted by an earlier run and not mailed.
    fn left_counts(&self) -> Vec<(String, Tally)> {
        Vec::new()
    }
    /// An earlier batch still waits in memory for delivery (the server is down or slow).
    fn behind(&self) -> bool {
        false
    }
}

impl Sink for Notifier {
    fn left(&self) -> Vec<String> {
        self.batch_left()
    }

    fn line(&self, line: &str) {
        self.batch_line(line);
    }

    fn send(&self, batch: Notification) {
        self.submit_batch(batch);
    }

    fn shutdown(&mut self) {
        Notifier::shutdown(self);
    }

    fn count(&self, program: &str, t: &Tally) {
        self.batch_count(&notify::Counted {
            program: program.to_owned(),
            count: t.count,
            first: t.first,
            last: t.last,
        });
    }

    fn left_counts(&self) -> Vec<(String, Tally)> {
        self.batch_counts_left()
            .into_iter()
            .map(|c| {
                let tally = Tally {
                    count: c.count,
                    first: c.first,
                    last: c.last,
                };
                (c.program, tally)
            })
            .collect()
    }

    fn behind(&self) -> bool {
        self.behind_in_memory()
    }
}

/// No valid recipient: each line is logged when it happens (by [`Batch`]), nothing mailed.
pub(super) struct LogOnly;

impl Sink for LogOnly {
    fn left(&self) -> Vec<String> {
        Vec::new()
    }
    fn line(&self, _: &str) {}
    fn send(&self, _: Notification) {}
    fn shutdown(&mut self) {}
}
