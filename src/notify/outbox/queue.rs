//! The delivery queue, in order, with its memory bound.
//!
//! A mail in the spool is queued as its file's stamp only and read back when it reaches the
//! head: with `--spool` the disk is the queue, and memory holds 8 bytes per waiting mail
//! however long the backlog (the transport's retry loop reads one file per delivery, nothing
//! next to the delivery itself). Re-reading files in batches as the queue drains would save
//! those few bytes at the cost of a second source of truth; we keep it simple.
//!
//! A mail without a spool copy (no `--spool`, or the write failed) lives in memory as the
//! listener's notification, shared with the other channels' queues ([`Arc`]) and rendered by
//! the worker when it reaches the head: a backlog costs one copy of each notification however
//! many channels hold it, and rendering costs the protocol loop nothing. At most
//! `capacity` of them and [`MAX_BYTES`] of their text (a batch mailer's mails can be large;
//! the soak in docs/performance.md found the count alone let a backlog of them grow). Beyond
//! either bound the oldest are folded into one backlog digest at the head of the queue, which
//! grows (within [`Digest`]'s budget) until the worker takes it: a notification is merged,
//! never dropped silently. The newest mail is never merged, however large.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::SystemTime;

use super::digest::{notifications, span, Digest};
use crate::notify::channel::Words;
use crate::notify::notification::Notification;

/// The most text (rendered messages and the bodies kept for digests) that mails waiting in
/// memory may hold before the oldest are merged.
pub(super) const MAX_BYTES: usize = 8 * 1024 * 1024;

/// A mail waiting for the worker.
#[derive(Debug)]
pub(super) enum Entry {
    /// In the spool only, by its stamp.
    Spooled(u64),
    /// In memory only.
    Memory(Box<Pending>),
    /// Mails merged because the queue was full (boxed: an entry stays two words, and a
    /// thousand of them in the queue's ring cost 16 KB, not a digest's size each).
    Backlog(Box<Digest>),
}

/// A notification kept in memory as the listener wrote it (shared with the other channels),
/// rendered by the worker when its turn comes, or merged into a backlog digest.
#[derive(Debug)]
pub(super) struct Pending {
    pub notification: Arc<Notification>,
    pub date: SystemTime,
}

impl Pending {
    /// What it holds in memory, roughly: the listener's words (the rendered message is about
    /// as large again, but only for the one being delivered).
    fn bytes(&self) -> usize {
        let n = &self.notification;
        n.text.len()
            + n.subject.as_ref().map_or(0, String::len)
            + n.extra.iter().map(String::len).sum::<usize>()
    }

    fn add_to(&self, digest: &mut Digest) {
        let n = &self.notification;
        // The summary is the subject, or the text's first line when there is no subject.
        let text = if n.subject.is_some() {
            n.text.as_str()
        } else {
            n.text.split_once('\n').map_or("", |(_, rest)| rest)
        };
        digest.origin(n);
        digest.add(self.date, n.key.as_deref(), &n.summary(), text);
    }
}

pub(super) struct Queue {
    entries: VecDeque<Entry>,
    /// Entries held in memory (`Memory` and `Backlog`).
    in_memory: usize,
    /// Bytes of the `Memory` entries ([`Pending::bytes`]).
    bytes: usize,
    /// How many `Memory` entries.
    pending: usize,
    capacity: usize,
    max_bytes: usize,
    /// Merging is going on (for one warning when it starts).
    merging: bool,
}

impl Queue {
    pub fn new(capacity: usize) -> Queue {
        Queue::with_limits(capacity, MAX_BYTES)
    }

    fn with_limits(capacity: usize, max_bytes: usize) -> Queue {
        Queue {
            entries: VecDeque::new(),
            in_memory: 0,
            bytes: 0,
            pending: 0,
            capacity: capacity.max(1),
            max_bytes,
            merging: false,
        }
    }

    /// Over a bound: too many entries in memory, or too many bytes in more than one mail.
    fn over(&self) -> bool {
        self.in_memory > self.capacity || (self.bytes > self.max_bytes && self.pending > 1)
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Entries held in memory (not in the spool).
    pub fn in_memory(&self) -> usize {
        self.in_memory
    }

    /// Queue `entry` last. Returns true when this started merging mails into a backlog digest
    /// (the caller warns once).
    pub fn push(&mut self, entry: Entry) -> bool {
        match &entry {
            Entry::Spooled(_) => {}
            Entry::Memory(p) => {
                self.in_memory += 1;
                self.pending += 1;
                self.bytes += p.bytes();
            }
            Entry::Backlog(_) => self.in_memory += 1,
        }
        self.entries.push_back(entry);
        let mut started = false;
        while self.over() {
            if !matches!(self.entries.front(), Some(Entry::Backlog(_))) {
                // At the head, where the oldest merged mail was. With a spool whose writes
                // fail, it may pass spooled mails: their order matters less than not losing
                // these.
                self.entries.push_front(Entry::Backlog(Box::default()));
                self.in_memory += 1;
                started = !self.merging;
                self.merging = true;
            }
            let oldest = self
                .entries
                .iter()
                .skip(1)
                .position(|e| matches!(e, Entry::Memory(_)));
            let Some(Entry::Memory(pending)) = oldest.and_then(|i| self.entries.remove(i + 1))
            else {
                break;
            };
            self.in_memory -= 1;
            self.pending -= 1;
            self.bytes -= pending.bytes();
            if let Some(Entry::Backlog(digest)) = self.entries.front_mut() {
                pending.add_to(digest);
            }
        }
        started
    }

    /// The head, for the worker.
    pub fn pop(&mut self) -> Option<Entry> {
        let entry = self.entries.pop_front()?;
        match &entry {
            Entry::Spooled(_) => {}
            Entry::Memory(p) => {
                self.in_memory -= 1;
                self.pending -= 1;
                self.bytes -= p.bytes();
            }
            Entry::Backlog(_) => self.in_memory -= 1,
        }
        // Warn again only for a new backlog: once the queue has drained to half, not each
        // time a digest goes out while the queue is still full.
        if self.in_memory <= self.capacity / 2 {
            self.merging = false;
        }
        Some(entry)
    }

    /// How many notifications the backlog digest at the head holds (0: none): what `push`
    /// merged is the difference (for the delivery figures).
    pub fn backlog(&self) -> u64 {
        match self.entries.front() {
            Some(Entry::Backlog(d)) => d.count(),
            _ => 0,
        }
    }

    /// Everything still queued, in order (at shutdown).
    pub fn drain(&mut self) -> Vec<Entry> {
        self.in_memory = 0;
        self.pending = 0;
        self.bytes = 0;
        self.entries.drain(..).collect()
    }
}

/// The backlog digest as a notification made at `now`: `N notifications merged (delivery
/// backlog)`. `channel` describes the channel, `words` name what it sends (`mail`).
pub(super) fn backlog_notification(
    digest: &Digest,
    capacity: usize,
    channel: &str,
    words: Words,
    now: SystemTime,
) -> Notification {
    let n = digest.count();
    let intro = format!(
        "The {one} queue was full ({capacity} {many} or {} MiB waiting in memory) because\n\
         delivery via {channel} was failing or slow, so the oldest\n\
         notifications were merged into this one {one}: {} {}.\n\
         (--spool DIR keeps every {one} on disk instead.)",
        MAX_BYTES >> 20,
        notifications(n),
        span(digest),
        one = words.one,
        many = words.many,
    );
    digest.notification(
        format!("{} merged (delivery backlog)", notifications(n)),
        &intro,
        now,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn pending(n: u32) -> Entry {
        sized(n, 0)
    }

    /// A mail whose body is `extra` bytes longer than `body of m<n>`.
    fn sized(n: u32, extra: usize) -> Entry {
        let notification = Notification::for_test(
            Some(&format!("m{n}")),
            &format!("body of m{n}{}", "x".repeat(extra)),
            None,
        );
        Entry::Memory(Box::new(Pending {
            notification: Arc::new(notification),
            date: UNIX_EPOCH,
        }))
    }

    fn shape(q: &Queue) -> Vec<String> {
        q.entries
            .iter()
            .map(|e| match e {
                Entry::Spooled(s) => format!("s{s}"),
                Entry::Memory(p) => p.notification.summary(),
                Entry::Backlog(d) => format!("backlog({})", d.names().join(",")),
            })
            .collect()
    }

    #[test]
    fn oldest_are_merged_newest_kept() {
        let mut q = Queue::new(3);
        let mut started = Vec::new();
        for n in 1..=10 {
            started.push(q.push(pending(n)));
        }
        assert_eq!(shape(&q), ["backlog(m1,m2,m3,m4,m5,m6,m7,m8)", "m9", "m10"]);
        assert_eq!(started.iter().filter(|s| **s).count(), 1);
        assert!(q.in_memory <= 3);
        let Some(Entry::Backlog(d)) = q.pop() else {
            panic!("no backlog")
        };
        let mail = backlog_notification(&d, 3, "test", Words::NOTIFICATION, UNIX_EPOCH);
        assert_eq!(
            mail.subject.as_deref(),
            Some("8 notifications merged (delivery backlog)")
        );
        for n in 1..=8 {
            assert!(mail.text.contains(&format!("  m{n}\n    body of m{n}\n")));
        }
        // A new episode makes a new backlog.
        q.push(pending(11));
        q.push(pending(12));
        assert_eq!(shape(&q), ["backlog(m9,m10)", "m11", "m12"]);
    }

    #[test]
    fn the_backlog_warning_comes_once_per_backlog_not_once_per_digest() {
        // Found by the bench: a worker that takes each digest while the queue stays full
        // logged the "queue is full" warning hundreds of times.
        let mut q = Queue::new(4);
        let mut warnings = 0;
        for n in 1..=40 {
            warnings += usize::from(q.push(pending(n)));
            if n % 5 == 0 {
                q.pop(); // the worker takes the head (a digest) while the queue is still full
            }
        }
        assert_eq!(warnings, 1);
        while q.pop().is_some() {}
        for n in 41..=50 {
            warnings += usize::from(q.push(pending(n)));
        }
        assert_eq!(
            warnings, 2,
            "a new backlog after draining is announced again"
        );
    }

    #[test]
    fn large_mails_are_merged_by_their_bytes_but_the_newest_is_kept() {
        // The soak: batch mails of a thousand lines each, produced faster than delivered.
        let mut q = Queue::with_limits(1000, 10_000);
        for n in 1..=5 {
            q.push(sized(n, 3000));
        }
        // 3000+ bytes each: at most three fit in 10_000.
        assert_eq!(shape(&q), ["backlog(m1,m2)", "m3", "m4", "m5"]);
        assert!(q.bytes <= 10_000, "{}", q.bytes);
        // One mail above the bound on its own is never merged.
        let mut q = Queue::with_limits(1000, 10_000);
        q.push(sized(1, 50_000));
        assert_eq!(shape(&q), ["m1"]);
        q.push(pending(2));
        assert_eq!(shape(&q), ["backlog(m1)", "m2"]);
        assert_eq!(q.bytes, "body of m2".len() + "m2".len());
        while q.pop().is_some() {}
        assert_eq!((q.bytes, q.pending, q.in_memory), (0, 0, 0));
    }

    #[test]
    fn spooled_entries_do_not_count() {
        let mut q = Queue::new(1);
        for s in 1..=5 {
            assert!(!q.push(Entry::Spooled(s)));
        }
        q.push(pending(1));
        assert_eq!(q.len(), 6);
        assert_eq!(q.in_memory, 1);
    }
}
