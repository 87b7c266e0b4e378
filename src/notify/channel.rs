//! The channels: one way each a notification leaves the machine. Mail is the first
//! (`channel/mail.rs`).

pub mod mail;
