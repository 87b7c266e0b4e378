//! The channel options every notifying listener shares (issue 12): `--webhook`, `--slack`,
//! `--discord`, `--teams`, `--telegram`, `--ntfy`, `--alertmanager`, `--command`, their secret
//! files, `--hostname` and `--proxy`; and what they build: the channels besides mail, for the
//! listener's [`crate::notify::Notifier`]. Mail has its own options (channel/mail/options.rs).
//!
//! Being built: today no channel option exists yet, so [`channels`] builds none.

use std::sync::Arc;

use clap::{Arg, ArgMatches};

use crate::notify::Channel;
use crate::Error;

/// `--hostname NAME`: the host name put in every chat and webhook message.
pub const HOSTNAME: &str = "hostname";

/// The shared channel options, as clap `Arg`s (help and man pages come from them).
pub fn args() -> Vec<Arg> {
    vec![Arg::new(HOSTNAME)
        .long("hostname")
        .value_name("NAME")
        .help("The host name in chat and webhook notifications [default: this machine's name]")]
}

/// `--hostname`, else this machine's short name.
pub fn hostname(m: &ArgMatches) -> String {
    m.try_get_one::<String>(HOSTNAME)
        .ok()
        .flatten()
        .cloned()
        .unwrap_or_else(crate::hostname::short)
}

/// The channels the options name, besides mail, for the listener `listener`; checked now
/// (URLs, secret files, headers), so that a mistake is found at start.
pub fn channels(_m: &ArgMatches, _listener: &str) -> Result<Vec<Arc<dyn Channel>>, Error> {
    Ok(Vec::new())
}
