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
//!
//! And per program (issue 15): at most [`PER_PROGRAM`] notifications of one program (its
//! flood-control key) are listed; the rest are counted with their first and last time, and the
//! digest ends with one line per such program, `web:web_01: 4812 more between T1 and T2`. So a
//! digest holds at most a few KiB per program however long the storm, and one program's storm
//! does not push the others out of the listing.

use std::collections::BTreeMap;
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
/// Notifications of one program listed in a digest; the rest are counted (issue 15).
pub(super) const PER_PROGRAM: usize = 20;

/// Notifications counted, not listed: how many, the first and last time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Span {
    pub count: u64,
    pub first: SystemTime,
    pub last: SystemTime,
}

impl Span {
    fn merge(this: &mut Option<Span>, other: Span) -> Span {
        *this.insert(match *this {
            Some(s) => Span {
                count: s.count + other.count,
                first: s.first.min(other.first),
                last: s.last.max(other.last),
            },
            None => other,
        })
    }
}

/// One program's share of a digest.
#[derive(Debug, Clone, Default)]
struct Program {
    listed: usize,
    unlisted: Option<Span>,
}

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
    /// By program (flood-control key; "" for notifications without one).
    programs: BTreeMap<String, Program>,
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

    /// Add one notification of `program` (its key): `summary` is its subject (or first
    /// line), `text` what follows. Listed, or counted: then the program's count so far.
    pub fn add(
        &mut self,
        when: SystemTime,
        program: Option<&str>,
        summary: &str,
        text: &str,
    ) -> Option<Span> {
        self.seen(when, 1);
        let key = program.unwrap_or("");
        let p = match self.programs.get_mut(key) {
            Some(p) => p,
            None => self.programs.entry(key.to_owned()).or_default(),
        };
        // Notifications without a program (batches, digests) are bounded by the size only.
        let over = !key.is_empty() && p.listed >= PER_PROGRAM;
        if p.unlisted.is_some() || over || self.listing.len() >= LISTED {
            let one = Span {
                count: 1,
                first: when,
                last: when,
            };
            return Some(Span::merge(&mut p.unlisted, one));
        }
        p.listed += 1;
        // Writing to a String cannot fail.
        let _ = writeln!(self.listing, "{}  {summary}", LocalTime::at(when));
        if self.listing.len() < FULL_TEXT {
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                let _ = writeln!(self.listing, "    {line}");
            }
        }
        if self.names.len() < NAMES {
            self.names.push(summary.to_owned());
        }
        None
    }

    /// Add notifications of `program` that were counted, not listed (a journal's count).
    pub fn add_counted(&mut self, program: &str, span: Span) {
        if span.count == 0 {
            return;
        }
        self.seen(span.first, span.count);
        self.seen(span.last, 0);
        let p = self.programs.entry(program.to_owned()).or_default();
        Span::merge(&mut p.unlisted, span);
    }

    fn seen(&mut self, when: SystemTime, n: u64) {
        self.first = Some(self.first.map_or(when, |f| f.min(when)));
        self.last = Some(self.last.map_or(when, |l| l.max(when)));
        self.count += n;
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
        for (program, span) in self
            .programs
            .iter()
            .filter_map(|(k, p)| Some((k, p.unlisted?)))
        {
            let when = if span.count == 1 {
                format!("at {}", LocalTime::at(span.first))
            } else {
                format!(
                    "between {} and {}",
                    LocalTime::at(span.first),
                    LocalTime::at(span.last)
                )
            };
            if program.is_empty() {
                let _ = writeln!(
                    body,
                    "... and {} more {when}, counted but not listed (a digest is kept to a bounded size).",
                    span.count
                );
            } else {
                let _ = writeln!(
                    body,
                    "{program}: {} more {when}, counted but not listed (at most {PER_PROGRAM} per program are listed).",
                    span.count
                );
            }
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
                None,
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
        assert!(mail
            .text
            .contains("counted but not listed (a digest is kept to a bounded size)"));
        assert!(mail.text.len() < LISTED + 2000, "{}", mail.text.len());
        assert_eq!(mail.kind, Kind::Digest);
        assert_eq!(mail.key, None);
        assert_eq!(d.names().len(), NAMES + 1);
        assert_eq!(d.names()[NAMES], "... and 4000 more");
    }

    #[test]
    fn issue_15_per_program_the_first_are_listed_the_rest_counted_with_their_times() {
        let mut d = Digest::default();
        let at = |s| UNIX_EPOCH + Duration::from_secs(s);
        let mut counted = None;
        for i in 0..10_000u64 {
            let program = if i % 2 == 0 { "web:a" } else { "web:b" };
            counted = d.add(
                at(i),
                Some(program),
                &format!("{program} crashed #{i}"),
                "text",
            );
        }
        assert_eq!(counted.map(|s| s.count), Some(5000 - PER_PROGRAM as u64));
        d.add_counted(
            "web:c",
            Span {
                count: 7,
                first: at(5),
                last: at(9),
            },
        );
        assert_eq!(d.count(), 10_007);
        let mail = d.notification("x".into(), "Intro.", UNIX_EPOCH);
        assert_eq!(mail.text.matches(" crashed #").count(), 2 * PER_PROGRAM);
        let tail: Vec<&str> = mail.text.lines().rev().take(3).collect();
        assert!(
            tail[2].starts_with(&format!("web:a: {} more between ", 5000 - PER_PROGRAM)),
            "{tail:?}"
        );
        assert!(tail[1].starts_with("web:b: 4980 more between "), "{tail:?}");
        assert!(tail[0].starts_with("web:c: 7 more between "), "{tail:?}");
        assert!(mail.text.len() < 8 * 1024, "{}", mail.text.len());
        assert_eq!(d.names().len(), 2 * PER_PROGRAM + 1);
    }
}
