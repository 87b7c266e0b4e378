//! The end of the line, at shutdown: what was not delivered is in the spool (said with a
//! count, sent at the next start), put there now if it was only in memory, or else named in
//! the log as lost. Nothing is lost without a word.

use super::figures::Outcome;
use super::queue::Entry;
use super::state::Shared;
use crate::notify::channel::Rendered;

/// What shutdown could not deliver.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct Leftovers {
    /// In the spool, for the next start.
    pub spooled: usize,
    /// Named in the log as lost (no spool, or it could not take them).
    pub lost: Vec<String>,
}

/// A notification taken off the queue and not delivered (the worker's current one).
pub(super) struct Unsent {
    pub rendered: Rendered,
    /// Its spool file.
    pub stamp: Option<u64>,
    /// What to name if it is lost: its summary, or a backlog digest's summaries.
    pub names: Vec<String>,
}

impl Shared {
    /// Report `entries` and `current`, not delivered: in the spool they wait for the next
    /// start (said with a count); one only in memory is put in the spool if there is one,
    /// else named in the log as lost.
    pub fn report(&self, entries: Vec<Entry>, current: Option<Unsent>) -> Leftovers {
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
                Entry::Memory(p) => match self.channel.render(&p.notification) {
                    Ok(r) => {
                        let names = vec![r.summary.clone()];
                        rescue(r, names, &mut left);
                    }
                    Err(_) => left.lost.push(p.notification.summary()),
                },
                Entry::Backlog(d) => match self.render_backlog(&d) {
                    Ok(r) => rescue(r, d.names(), &mut left),
                    Err(_) => left.lost.extend(d.names()),
                },
            }
        }
        // Only once closed: the queue is drained.
        self.figures.queued(0);
        self.figures.count(Outcome::Spooled, left.spooled as u64);
        self.figures.count(Outcome::Failed, left.lost.len() as u64);
        let w = self.words;
        if let Some(spool) = &self.spool {
            if left.spooled > 0 {
                log::warn!(
                    "shutdown: {} not delivered yet {} in the spool {}; {} sent when the listener starts again",
                    w.count(left.spooled),
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
            log::info!("shutdown: {} delivered", w.all);
        }
        left
    }
}
