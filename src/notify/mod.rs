//! The delivery layer for every channel (issue 12): a listener composes a [`Notification`];
//! each channel (mail, webhook, chat services, Alertmanager, a command) renders it in its own
//! format and delivers it with the guarantees of the outbox (never blocking the protocol loop,
//! retries, spool, flood control).
//!
//! Being reshaped out of `src/mail/`: today this holds the notification model that every
//! channel renders, the outbox (`outbox`, still carrying mail) and the mail channel
//! (`channel/mail.rs`), moved here as they were.

pub mod channel;
pub mod notification;
pub mod outbox;

pub use notification::{HttpPost, Kind, Notification};
