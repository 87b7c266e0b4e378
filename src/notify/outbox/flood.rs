//! Flood control (superlance #99, #108: a crash loop sent thousands of mails): at most `max`
//! notifications per key in a window of `per`, the rest held back, counted, and sent as one
//! digest when the window ends.
//!
//! The window is fixed, not sliding: it starts with the key's first mail and ends `per` later,
//! whatever happens in between; the key's next mail after that starts a new one. So a program
//! that crashes without end yields at most `max` mails plus one digest per `per`, and a
//! digest always covers one whole window, which makes it easy to read ("3 more between 18:30
//! and 18:40"). A sliding window would let mails through at the same average rate but never
//! gives a moment at which "the window ends" and a digest is due.
//!
//! Time is passed in (`now`), never read here: the worker's clock is injectable for tests.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

use super::digest::{notifications, span, Digest, Span};
use crate::notify::channel::Words;
use crate::notify::notification::Notification;
use crate::time::LocalTime;

/// Flood control: at most `max` notifications per key in any window of `per`; what is held
/// back is counted and sent as one digest when the window ends (superlance #99, #108).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FloodLimit {
    pub max: u32,
    pub per: Duration,
}

/// One notification held back, as much of it as its digest lists (and the spool's journal
/// keeps, so that a restart does not lose the count).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct HeldMail {
    pub when: SystemTime,
    pub subject: Option<String>,
    pub first_line: String,
}

impl HeldMail {
    pub fn of(n: &Notification, when: SystemTime) -> HeldMail {
        HeldMail {
            when,
            subject: n.subject.clone(),
            first_line: n.text.lines().next().unwrap_or("").to_owned(),
        }
    }

    /// Listed in `digest`, or counted there for `key` (then `key`'s count so far).
    pub fn add_to(&self, digest: &mut Digest, key: &str) -> Option<Span> {
        let (summary, text) = match &self.subject {
            Some(subject) => (subject.as_str(), self.first_line.as_str()),
            None => (self.first_line.as_str(), ""),
        };
        digest.add(self.when, Some(key), summary, text)
    }
}

/// What [`Flood::admit`] decided.
#[derive(Debug)]
pub(super) enum Admit {
    Send,
    /// Held back in window `window` (an id for the spool's journal); `first` is the first mail
    /// held in this window, `until` when the window ends. `counted`: the digest does not list
    /// it, only counts it (the window's count of those so far): the journal keeps the count.
    Hold {
        window: u64,
        first: bool,
        until: SystemTime,
        held: HeldMail,
        counted: Option<Span>,
    },
}

struct Window {
    id: u64,
    started: SystemTime,
    end: Instant,
    sent: u32,
    held: Digest,
}

/// A window that ended with notifications held back: one digest to send.
#[derive(Debug)]
pub(super) struct Ended {
    pub key: String,
    /// The journal's id of the window.
    pub window: u64,
    /// `None`: recovered from the spool's journal after a restart.
    pub started: Option<SystemTime>,
    pub held: Digest,
}

impl Ended {
    /// A window's held mails found in the spool's journal at start: the listener stopped (or
    /// was killed) before the window ended.
    pub fn recovered(key: String, window: u64, mails: &[HeldMail], counted: Option<Span>) -> Ended {
        let mut held = Digest::default();
        for mail in mails {
            mail.add_to(&mut held, &key);
        }
        if let Some(span) = counted {
            held.add_counted(&key, span);
        }
        Ended {
            key,
            window,
            started: None,
            held,
        }
    }

    /// The digest, made at `now`: `<key>: N more notifications suppressed (flood control: max
    /// M per P)`. `limit` is the configured one (`None`: turned off since they were held);
    /// `words` name what the channel sends (`mails`).
    pub fn notification(
        &self,
        limit: Option<FloodLimit>,
        words: Words,
        now: SystemTime,
    ) -> Notification {
        let n = self.held.count();
        let rule = match limit {
            Some(l) => format!("flood control: max {} per {}", l.max, describe(l.per)),
            None => "flood control".to_owned(),
        };
        let subject = format!(
            "{}: {} more {} suppressed ({rule})",
            self.key,
            n,
            if n == 1 {
                "notification"
            } else {
                "notifications"
            }
        );
        let why = match (self.started, limit) {
            (Some(started), Some(l)) => format!(
                "At most {} {} are sent per {} for each program\n\
                 (--max-mails, --per); the window began at {}.",
                l.max,
                words.many,
                describe(l.per),
                LocalTime::at(started)
            ),
            (Some(started), None) => format!("The window began at {}.", LocalTime::at(started)),
            (None, _) => "The listener stopped before the window ended; these were\n\
                          found in its spool when it started again."
                .to_owned(),
        };
        let intro = format!(
            "Flood control held back {} for {}\n{}.\n{why}\n\nThe notifications held back:",
            notifications(n),
            self.key,
            span(&self.held)
        );
        self.held.notification(subject, &intro, now)
    }
}

/// `10 minutes`, `1 minute`, `90 seconds`.
pub(super) fn describe(per: Duration) -> String {
    let secs = per.as_secs();
    if per.subsec_nanos() != 0 || secs == 0 {
        format!("{} ms", per.as_millis())
    } else if secs % 60 == 0 {
        let m = secs / 60;
        if m == 1 {
            "1 minute".to_owned()
        } else {
            format!("{m} minutes")
        }
    } else if secs == 1 {
        "1 second".to_owned()
    } else {
        format!("{secs} seconds")
    }
}

/// The windows of every key that has one.
pub(super) struct Flood {
    limit: FloodLimit,
    windows: HashMap<String, Window>,
    /// Windows that ended while a notification was admitted, for the worker to send.
    ended: Vec<Ended>,
}

impl Flood {
    pub fn new(limit: FloodLimit) -> Flood {
        Flood {
            limit,
            windows: HashMap::new(),
            ended: Vec::new(),
        }
    }

    /// Send `n` (of `key`) now, or hold it back. `new_id` names a new window.
    pub fn admit(
        &mut self,
        key: &str,
        n: &Notification,
        now: Instant,
        wall: SystemTime,
        new_id: impl FnOnce() -> u64,
    ) -> Admit {
        if self.windows.get(key).is_some_and(|w| now >= w.end) {
            // Its end has come before the worker looked: close it here, the worker mails it.
            if let Some(w) = self.windows.remove(key) {
                self.close(key.to_owned(), w);
            }
        }
        let per = self.limit.per;
        let w = self
            .windows
            .entry(key.to_owned())
            .or_insert_with(|| Window {
                id: new_id(),
                started: wall,
                end: now + per,
                sent: 0,
                held: Digest::default(),
            });
        if w.sent < self.limit.max {
            w.sent += 1;
            return Admit::Send;
        }
        let held = HeldMail::of(n, wall);
        w.held.origin(n);
        let counted = held.add_to(&mut w.held, key);
        Admit::Hold {
            window: w.id,
            first: w.held.count() == 1,
            until: wall + w.end.saturating_duration_since(now),
            held,
            counted,
        }
    }

    fn close(&mut self, key: String, w: Window) {
        if w.held.count() > 0 {
            self.ended.push(Ended {
                key,
                window: w.id,
                started: Some(w.started),
                held: w.held,
            });
        }
    }

    /// Windows that are over at `now` (every window when `all`: at shutdown), with what they
    /// held back. Windows that held nothing back are forgotten.
    pub fn take_ended(&mut self, now: Instant, all: bool) -> Vec<Ended> {
        let over: Vec<String> = self
            .windows
            .iter()
            .filter(|(_, w)| all || now >= w.end)
            .map(|(k, _)| k.clone())
            .collect();
        for key in over {
            if let Some(w) = self.windows.remove(&key) {
                self.close(key, w);
            }
        }
        std::mem::take(&mut self.ended)
    }

    /// Whether a digest is ready for the worker now.
    pub fn has_ended(&self) -> bool {
        !self.ended.is_empty()
    }

    /// When the next digest is due: the worker sleeps no longer than this, so that a window's
    /// digest goes out even if no other event ever comes.
    pub fn next_end(&self) -> Option<Instant> {
        self.windows
            .values()
            .filter(|w| w.held.count() > 0)
            .map(|w| w.end)
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn mail(key: &str, n: u32) -> Notification {
        Notification::for_test(
            Some(&format!("{key} crashed #{n}")),
            &format!("line one of {n}\nline two"),
            Some(key),
        )
    }

    #[test]
    fn fixed_window_then_digest_then_new_window() {
        let limit = FloodLimit {
            max: 2,
            per: Duration::from_secs(600),
        };
        let mut f = Flood::new(limit);
        let t0 = Instant::now();
        let w0 = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut ids = 0;
        let mut admit = |f: &mut Flood, key: &str, n: u32, secs: u64| {
            let at = Duration::from_secs(secs);
            f.admit(key, &mail(key, n), t0 + at, w0 + at, || {
                ids += 1;
                ids
            })
        };
        assert!(matches!(admit(&mut f, "a", 1, 0), Admit::Send));
        assert!(matches!(admit(&mut f, "a", 2, 1), Admit::Send));
        match admit(&mut f, "a", 3, 2) {
            Admit::Hold {
                first, until, held, ..
            } => {
                assert!(first);
                assert_eq!(until, w0 + Duration::from_secs(600));
                assert_eq!(held.subject.as_deref(), Some("a crashed #3"));
            }
            Admit::Send => panic!("not held"),
        }
        assert!(matches!(
            admit(&mut f, "a", 4, 3),
            Admit::Hold { first: false, .. }
        ));
        assert!(matches!(admit(&mut f, "b", 1, 3), Admit::Send));
        assert_eq!(f.next_end(), Some(t0 + Duration::from_secs(600)));
        assert!(f
            .take_ended(t0 + Duration::from_secs(599), false)
            .is_empty());
        let ended = f.take_ended(t0 + Duration::from_secs(600), false);
        assert_eq!(ended.len(), 1);
        let digest = ended[0].notification(Some(limit), Words::NOTIFICATION, w0);
        assert_eq!(
            digest.subject.as_deref(),
            Some("a: 2 more notifications suppressed (flood control: max 2 per 10 minutes)")
        );
        assert!(digest.text.contains("  a crashed #3\n    line one of 3\n"));
        assert!(digest.text.contains("  a crashed #4\n"));
        assert!(!digest.text.contains("line two"));
        assert_eq!(digest.key, None, "a digest is never held back");
        assert_eq!(f.next_end(), None);
        // A new window: mails go through again.
        assert!(matches!(admit(&mut f, "a", 5, 601), Admit::Send));
    }

    #[test]
    fn a_late_mail_closes_the_old_window() {
        let limit = FloodLimit {
            max: 1,
            per: Duration::from_secs(60),
        };
        let mut f = Flood::new(limit);
        let t0 = Instant::now();
        let w0 = UNIX_EPOCH;
        f.admit("a", &mail("a", 1), t0, w0, || 1);
        f.admit("a", &mail("a", 2), t0, w0, || 2);
        assert!(!f.has_ended());
        let late = Duration::from_secs(61);
        assert!(matches!(
            f.admit("a", &mail("a", 3), t0 + late, w0 + late, || 3),
            Admit::Send
        ));
        assert!(f.has_ended());
        let ended = f.take_ended(t0 + late, false);
        assert_eq!(ended.len(), 1);
        assert_eq!(ended[0].held.count(), 1);
        assert_eq!(ended[0].window, 1);
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(describe(Duration::from_secs(600)), "10 minutes");
        assert_eq!(describe(Duration::from_secs(60)), "1 minute");
        assert_eq!(describe(Duration::from_secs(90)), "90 seconds");
        assert_eq!(describe(Duration::from_millis(50)), "50 ms");
    }
}
