//! The one mail layer every mailing listener shares (crashmail, crashmailbatch, fatalmailbatch,
//! crashsms, httpok, memmon). docs/mail.md describes it for users.
//!
//! # Theory of operation
//! A listener turns an event into a [`Mail`] and hands it to its [`Outbox`] with
//! [`Outbox::submit`], which never blocks on delivery: supervisord is waiting for our RESULT.
//! `submit` applies flood control, writes the mail to the spool directory first when there is
//! one (so that an acknowledged notification survives a crash), and queues it for the delivery
//! worker, a thread of its own. The worker renders nothing new: it delivers what it was given
//! through the one [`Transport`] the options chose (a sendmail command, or SMTP via lettre),
//! retries transient failures with backoff, and deletes a spooled copy once delivered.
//!
//! ```text
//!  protocol loop ── submit ──▶ flood control ──▶ spool (opt.) ──▶ bounded queue ──▶ worker ──▶ Transport
//!        ▲  RESULT OK at once                                                     retry/backoff
//! ```
//!
//! Nothing accepted is lost silently: a full queue (no spool) folds the oldest mails into one
//! digest; flood control counts what it holds back and mails one digest when its window ends;
//! at shutdown (SIGTERM) queued mail is delivered within a deadline, or spooled, and anything
//! that can be neither is named in the log.
//!
//! Modules: `message` (a [`Mail`] as RFC 5322 bytes, with From, Date, Message-ID), `transport`
//! (sendmail command and SMTP), `outbox` (queue, worker, retry, spool, flood control), `options`
//! (the shared command-line flags and what they build).

pub mod message;
pub mod options;
pub mod transport;

/// One notification, as a listener composes it. The texts are the listener's own (they keep
/// superlance's wording so that users' mail filters go on working).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    /// Recipients (superlance's `-m`/`--email`, or the batch tools' `--toEmail` list).
    pub to: Vec<String>,
    /// The sender; `None` uses the outbox's default (see [`OutboxConfig::default_from`]).
    pub from: Option<String>,
    /// `None` writes no Subject header (crashsms, for SMS gateways).
    pub subject: Option<String>,
    pub body: String,
    /// What flood control counts against, e.g. the `group:name` of the program; `None` is never
    /// held back (a digest, a batch).
    pub key: Option<String>,
}

/// A mail ready to go: the envelope and the full RFC 5322 message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The envelope sender; empty when the mail has none (piped to sendmail, which decides).
    pub from: String,
    pub to: Vec<String>,
    /// Headers and body, CRLF line ends, as sent over SMTP (the sendmail transport turns them
    /// into LF).
    pub message: Vec<u8>,
    /// For log lines: the subject, or the first line of the body.
    pub summary: String,
}

/// Why a delivery failed, and whether trying again may help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// The server is down or slow, the command timed out, a 4xx reply: retry later.
    #[error("{0} (will retry)")]
    Transient(String),
    /// The message itself is refused (a 5xx reply to a recipient, an invalid address): retrying
    /// would fail forever.
    #[error("{0}")]
    Permanent(String),
}

/// A way to deliver a rendered mail. Implementations block (the worker thread calls them);
/// each has its own timeouts so that a hung server cannot hold the worker forever.
pub trait Transport: Send {
    fn deliver(&mut self, mail: &Rendered) -> Result<(), DeliveryError>;
    /// For log lines: `sendmail command "/usr/sbin/sendmail -t -i"`, `SMTP smtp.example.com:587 (STARTTLS)`.
    fn describe(&self) -> String;
}

/// Flood control: at most `max` mails per key in any window of `per`; what is held back is
/// counted and mailed as one digest when the window ends (superlance #99, #108).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FloodLimit {
    pub max: u32,
    pub per: std::time::Duration,
}

/// How an [`crate::notify::outbox::Outbox`] behaves; built from the shared options (`options`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxConfig {
    /// The sender of mails whose `from` is `None`: `--from`, a `-f`/`-r` in the sendmail
    /// command, `supervisor@<fqdn>` for SMTP; `None` writes no From header (the local MTA
    /// fills it, as it did for superlance).
    pub default_from: Option<String>,
    /// `--spool DIR`: persist each mail before it is acknowledged.
    pub spool: Option<std::path::PathBuf>,
    /// `None`: flood control off (`--max-mails 0`).
    pub flood: Option<FloodLimit>,
    /// Mails held in memory before the oldest are folded into a digest (no spool).
    pub queue_capacity: usize,
    /// At shutdown, how long to keep trying to deliver before spooling or giving up. supervisord
    /// sends SIGKILL `stopwaitsecs` (default 10 s) after SIGTERM, so this stays below that.
    pub shutdown_grace: std::time::Duration,
}
