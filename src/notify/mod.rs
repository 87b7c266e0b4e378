//! The one delivery layer every notifying listener shares (crashmail, crashmailbatch,
//! fatalmailbatch, crashsms, httpok, memmon, essential; issue 12). docs/mail.md and
//! docs/notify.md describe it for users, docs/adding-a-channel.md for whoever adds a channel.
//!
//! # Theory of operation
//! A listener composes a [`Notification`] (what happened, structured, with the subject and
//! text superlance mailed) and hands it to its [`Notifier`] with [`Notifier::submit`], which
//! never blocks on delivery: supervisord is waiting for our RESULT. The notifier hands it to
//! one [`Outbox`] per [`Channel`] (mail, and those of `options`: webhook, chat services,
//! Alertmanager, a command). Each outbox applies flood control, has the
//! channel render the notification (cheap, no I/O), writes the rendered payload to its spool
//! directory first when there is one (so that an acknowledged notification survives a crash),
//! and queues it for its delivery worker, a thread of its own. The worker renders nothing
//! new: it delivers what it was given through [`Channel::deliver`], retries transient failures
//! with backoff, and deletes a spooled copy once delivered.
//!
//! ```text
//!                                  ┌▶ outbox(mail): flood ▶ render ▶ spool ▶ queue ▶ worker ▶ sendmail/SMTP
//!  protocol loop ── submit ──▶ Notifier                                            retry/backoff
//!        ▲  RESULT OK at once      └▶ outbox(webhook): ... DIR/webhook/ ...      ▶ worker ▶ HTTP
//! ```
//!
//! One outbox per channel, each with its own queue, worker, retry and spool: a dead channel
//! never holds back another. Nothing accepted is lost silently: a full queue (no spool) folds
//! the oldest notifications into one digest; flood control counts what it holds back and
//! sends one digest when its window ends; at shutdown (SIGTERM) what is queued is delivered
//! within a deadline, or spooled, and anything that can be neither is named in the log.
//!
//! Flood control counts a program once whatever the channels: see `notifier`.
//!
//! Modules: `notification` (what a listener says), `channel` (the [`Channel`] trait and one
//! file per channel: `channel/mail.rs`, `channel/http.rs` and its presets, `channel/command.rs`),
//! `channels` (the pure renderers of the HTTP and command channels), `outbox` (queue, worker,
//! retry, spool, flood control, digests, for one channel), `notifier` (the fan-out to every
//! channel of a listener), `options` (the channel options every notifying listener shares),
//! `textfile` (`--metrics-textfile`: the outboxes' delivery figures for node_exporter).

pub mod channel;
pub mod channels;
pub mod notification;
pub mod notifier;
pub mod options;
pub mod outbox;
pub mod textfile;

pub use channel::{Channel, DeliveryError, RenderError, Rendered, Words};
pub use notification::{HttpPost, Kind, Notification};
pub use notifier::Notifier;
pub use outbox::{Counted, FloodLimit, Outbox, OutboxConfig};
