//! The two ways a rendered mail leaves the machine: a sendmail command ([`Sendmail`],
//! `sendmail.rs`) and SMTP ([`Smtp`], `smtp.rs`). Both block (the outbox's worker calls them,
//! never the protocol loop) and both are bounded by a timeout, so that a hung MTA cannot hold
//! the worker forever.
//!
//! Each failure is classified for the worker's retry logic ([`crate::notify::DeliveryError`]).
//! The rule when in doubt is *transient*: a mail wrongly called transient costs a few retries and log lines;
//! one wrongly called permanent is given up, which is the one thing this layer must not do
//! lightly. Only what cannot change while the listener runs is permanent: an SMTP 5xx reply
//! (RFC 5321 §4.2.1: "do not repeat the exact request"), a sendmail command that is not there.

// The command channel (channel/command.rs) words its output the same way.
pub(crate) mod output;
mod sendmail;
mod smtp;

pub use sendmail::Sendmail;
pub use smtp::{Credentials, Smtp, SmtpSettings, TlsMode};
