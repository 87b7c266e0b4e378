//! (being written) The outbox: bounded queue, delivery worker, retry with backoff, spool, flood
//! control and digests. See the theory of operation in `mail/mod.rs`.

use super::{Mail, OutboxConfig, Transport};
use crate::Error;

/// A listener's handle on its delivery worker.
pub struct Outbox {
    _config: OutboxConfig,
    _transport: Box<dyn Transport>,
}

impl Outbox {
    /// Start the delivery worker; mails left in the spool by an earlier run are queued first.
    pub fn start(transport: Box<dyn Transport>, config: OutboxConfig) -> Result<Outbox, Error> {
        Ok(Outbox {
            _config: config,
            _transport: transport,
        })
    }

    /// Hand over a mail; never waits for delivery. Errors are logged here.
    pub fn submit(&self, mail: Mail) {
        let _ = mail;
    }

    /// Deliver what is queued within the grace time, spool the rest, stop the worker.
    pub fn shutdown(&mut self) {}
}
