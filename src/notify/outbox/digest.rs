//! A digest: many notifications told in one. Flood control sends one per key when its window
//! ends (`flood`); a full queue without a spool folds its oldest notifications into one
//! (`queue`). A digest is itself a [`Notification`] (kind [`Kind::Digest`]), which the
//! channel renders like any other.
//!
//! Both list each notification with its time, summary and text, within a size budget: the
//! digest of a crash loop that ran all night must not take the memory that the queue bound and
//! flood control were there to save. The first [`FULL_TEXT`] bytes list the notifications with
//! their text, the next ones up to [`LISTED`] with their summary line only, and the rest are
//! counted; the count in the subject is always the full count.

use std::fmt::Write as _;
use std::time::SystemTime;

use crate::notify::notification::{Kind, Notification};
use crate::time::LocalTime;

/// Notifications are listed with their text while the listing is shorter than this...
const FULL_TEXT: usize = 32 * 1024;
/// ...then with their summary line only, while it is shorter than this; beyond, only counted.
const LISTED: usize = 128 * 1024;
/// Summaries kept for log lines (shutdown names each mail it could not deliver).
const NAMES: usize = 1000;

/// Notifications gathered for one digest.
#[derive(Debug, Clone, Default)]
pub(super) struct Digest {
    count: u64,
    /// The listener and host of the first notification (empty: recovered from a journal).
    listener: String,
    hostname: String,
    first: Option<SystemTime>,
    last: Option<SystemTime>,
    listing: String,
    unlisted: u64,
    names: Vec<String>,
}

impl Digest {
    /// Say who the digest is from: the listener and host of `n`, if not known yet.
    pub fn origin(&mut self, n: &Notification) {
        if self.listener.is_empty() {
            self.listener.clone_from(&n.listener);
            self.hostname.clone_from(&n.hostname);
        }
    }

    /// Add one notification: `summary` is its subject (or first line), `text` what follows.
    pub fn add(&mut self, when: SystemTime, summary: &str, text: &str) {
        if self.count == 0 {
            self.first = Some(when);
        }
        self.count += 1;
        self.last = Some(when);
        if self.listing.len() < LISTED {
            // Writing to a String cannot fail.
            let _ = writeln!(self.listing, "{}  {summary}", LocalTime::at(when));
            if self.listing.len() < FULL_TEXT {
                for line in text.lines().filter(|l| !l.trim().is_empty()) {
                    let _ = writeln!(self.listing, "    {line}");
                }
            }
        } else {
            self.unlisted += 1;
        }
        if self.names.len() < NAMES {
            self.names.push(summary.to_owned());
        }
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn first(&self) -> Option<SystemTime> {
        self.first
    }

    pub fn last(&self) -> Option<SystemTime> {
        self.last
    }

    /// The digest as a notification made at `now` (never flood-limited: its key is `None`).
    pub fn notification(&self, subject: String, intro: &str, now: SystemTime) -> Notification {
        let mut body = String::with_capacity(intro.len() + self.listing.len() + 100);
        body.push_str(intro.trim_end());
        body.push_str("\n\n");
        body.push_str(&self.listing);
        if self.unlisted > 0 {
            let _ = writeln!(
                body,
                "... and {} more, counted but not listed (a digest is kept to a bounded size).",
                self.unlisted
            );
        }
        let hostname = if self.hostname.is_empty() {
            crate::hostname::short()
        } else {
            self.hostname.clone()
        };
        Notification {
            subject: Some(subject),
            text: body,
            ..Notification::new(Kind::Digest, &self.listener, &hostname, now)
        }
    }

    /// For log lines: each summary, and how many more there were.
    pub fn names(&self) -> Vec<String> {
        let mut names = self.names.clone();
        let more = self.count.saturating_sub(names.len() as u64);
        if more > 0 {
            names.push(format!("... and {more} more"));
        }
        names
    }
}

/// `n notification` or `n notifications`.
pub(super) fn notifications(n: u64) -> String {
    if n == 1 {
        "1 notification".to_owned()
    } else {
        format!("{n} notifications")
    }
}

/// The time span of a digest for its intro: `at T` or `from T1 to T2`.
pub(super) fn span(d: &Digest) -> String {
    match (d.first(), d.last()) {
        (Some(a), Some(b)) if a != b => {
            format!("from {} to {}", LocalTime::at(a), LocalTime::at(b))
        }
        (Some(a), _) => format!("at {}", LocalTime::at(a)),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn lists_each_then_counts_within_budget() {
        let mut d = Digest::default();
        let text = "x".repeat(1000);
        for i in 0..5000u64 {
            d.add(
                UNIX_EPOCH + Duration::from_secs(i),
                &format!("mail {i}"),
                &text,
            );
        }
        assert_eq!(d.count(), 5000);
        let mail = d.notification("5000 things".into(), "Intro.", UNIX_EPOCH);
        assert!(mail.text.starts_with("Intro.\n\n"));
        assert!(mail.text.contains("  mail 0\n    xxxx"));
        // Past the full-text budget: summary lines only, then a count.
        assert!(mail.text.contains("  mail 100\n"));
        assert!(!mail.text.contains("  mail 100\n    x"));
        assert!(mail.text.contains("more, counted but not listed"));
        assert!(mail.text.len() < LISTED + 2000, "{}", mail.text.len());
        assert_eq!(mail.kind, Kind::Digest);
        assert_eq!(mail.key, None);
        assert_eq!(d.names().len(), NAMES + 1);
        assert_eq!(d.names()[NAMES], "... and 4000 more");
    }
}
