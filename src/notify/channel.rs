//! A channel: one way a [`Notification`] leaves the machine: mail, a webhook, a chat service,
//! Alertmanager or a command (issue 12). The outbox carries notifications to
//! exactly one channel each; the [`super::Notifier`] fans a listener's notifications out to
//! one outbox per channel. docs/adding-a-channel.md says how to add one.
//!
//! A channel has two halves, because they run on two threads:
//! - [`Channel::render`] runs on the protocol loop's thread, inside `submit`, while supervisord
//!   waits for our RESULT: it must be cheap and must not touch the network or the disk. It
//!   turns the notification into a [`Rendered`] payload, which is what the outbox spools,
//!   queues and retries: a rendered notification is sent as it is, however late.
//! - [`Channel::deliver`] runs on the outbox's worker thread: it may block, but within its own
//!   timeout, so that a hung server cannot hold the worker forever. It says whether a failure
//!   is worth retrying ([`DeliveryError`]).
//!
//! Both take `&self` so that one channel object serves both threads: a channel whose delivery
//! keeps state between attempts keeps it behind a lock only the worker takes (mail does), so
//! rendering never waits for a delivery.
//!
//! The registry: one `pub mod` line per channel below (one file each, under `channel/`).
//! The HTTP channels are one [`http::HttpChannel`] each over their pure renderer in
//! `src/notify/channels/` (`fn(&Notification, &Config) -> HttpPost`); their files are thin
//! constructors. `command` runs `sh -c CMD`.

pub mod alertmanager;
pub mod command;
pub mod discord;
pub mod http;
pub mod mail;
pub mod ntfy;
pub mod slack;
pub mod teams;
pub mod telegram;
pub mod webhook;

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::notification::Notification;

/// A notification as a channel will send it: what the outbox spools, queues and retries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// Mail: the envelope sender; empty when the mail has none (piped to sendmail, which
    /// decides). Empty for other channels.
    pub from: String,
    /// Mail: the envelope recipients. Empty for other channels.
    pub to: Vec<String>,
    /// Other channels: request headers (`Name`, `value`) that depend on the notification (a
    /// title, a priority). Empty for mail, whose headers are in `message`.
    pub headers: Vec<(String, String)>,
    /// The bytes the channel sends. Mail: headers and body, CRLF line ends, as sent over SMTP
    /// (the sendmail transport turns them into LF). A webhook: the request body.
    pub message: Vec<u8>,
    /// For log lines: the subject, or the first line of the text.
    pub summary: String,
}

/// Why a notification could not be rendered: something about it that no retry changes (a
/// mail without a recipient, an invalid address). Logged, and the notification dropped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RenderError(pub String);

/// Why a delivery failed, and whether trying again may help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// The server is down or slow, the command timed out, a 4xx reply: retry later.
    #[error("{0} (will retry)")]
    Transient(String),
    /// Transient, and the server said when to come back (HTTP 429 or 503 with
    /// `Retry-After`): the worker waits at least `after` (at most its longest backoff) before
    /// the next attempt.
    #[error("{message} (will retry)")]
    Later { message: String, after: Duration },
    /// The message itself is refused (a 5xx reply to a recipient, an invalid address): retrying
    /// would fail forever.
    #[error("{0}")]
    Permanent(String),
}

/// How log lines and digests name what a channel sends. Mail keeps the words its users' log
/// filters know ("mailed", "the mail queue is full"); other channels say "notification".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Words {
    /// One of them: `mail`.
    pub one: &'static str,
    /// Several: `mails`.
    pub many: &'static str,
    /// All of them, uncounted: `all mail`.
    pub all: &'static str,
    /// Uncounted, with its verb: `mail is` (kept in memory only).
    pub mass: &'static str,
    /// Delivered: `mailed`.
    pub sent: &'static str,
    /// Being sent: `mailing`.
    pub sending: &'static str,
}

impl Words {
    /// The words of every channel but mail.
    pub const NOTIFICATION: Words = Words {
        one: "notification",
        many: "notifications",
        all: "all notifications",
        mass: "notifications are",
        sent: "sent",
        sending: "sending",
    };

    /// `1 mail`, `3 mails`.
    pub fn count(&self, n: usize) -> String {
        if n == 1 {
            format!("1 {}", self.one)
        } else {
            format!("{n} {}", self.many)
        }
    }
}

/// One way to deliver notifications. See the module's documentation for the two halves.
pub trait Channel: Send + Sync {
    /// Short, lowercase, unique among channels: `mail`, `webhook`, `slack`. Names the spool
    /// subdirectory and the worker thread, so never `failed` or `held` (mail's spool, which is
    /// `DIR` itself, has those).
    fn name(&self) -> &str;

    /// The notification as this channel sends it. Cheap: no I/O (it runs while supervisord
    /// waits). An error drops the notification (logged): only for what no retry can fix.
    fn render(&self, n: &Notification) -> Result<Rendered, RenderError>;

    /// Send one rendered notification; may block, within the channel's own timeout. A
    /// failure that may pass (network, timeout, 5xx, 408, 429) is `Transient`; one that
    /// cannot (a refused recipient, another 4xx) is `Permanent`. docs/adding-a-channel.md.
    fn deliver(&self, r: &Rendered) -> Result<(), DeliveryError>;

    /// For log lines: `SMTP smtp.example.com:587 (STARTTLS)`, `webhook hooks.example.com`.
    /// Never a secret (a token in a URL): name the host only.
    fn describe(&self) -> String;

    /// How log lines and digests name what this channel sends.
    fn words(&self) -> Words {
        Words::NOTIFICATION
    }

    /// Whether what it renders carries a mail envelope (`Rendered::to`): a spooled one without
    /// a recipient is then not one of ours.
    fn envelope(&self) -> bool {
        false
    }

    /// Log lines: who a delivered notification went to (mail: ` to ops@example.com`), or
    /// nothing.
    fn recipients(&self, _r: &Rendered) -> String {
        String::new()
    }

    /// This channel's spool under `--spool DIR`: `DIR/<name>/`, so that each channel has its
    /// own queue on disk. Mail keeps `DIR` itself, where existing spools are.
    fn spool_dir(&self, dir: &Path) -> PathBuf {
        dir.join(self.name())
    }
}
