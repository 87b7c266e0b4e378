//! What a listener is to the rest of the program: its registry line ([`Entry`]: name, option
//! definitions, entry point) and the full command line built from it. It knows no listener:
//! the table (listeners/mod.rs) and the listeners themselves import it, and src/registry.rs
//! looks things up in the table, so no two modules import each other.

use clap::{ArgMatches, Command};

use crate::error::Error;
use crate::logging;

/// A registry line: a listener's name, its option definitions, and its entry point.
pub struct Entry {
    pub name: &'static str,
    /// The listener's clap definition, kept apart from `run` so that help, man pages and
    /// completions can be generated from it.
    pub command: fn() -> Command,
    /// The long options superlance's tool knew, without `--`: unique prefixes of these are
    /// expanded before clap parses (src/legacy_argv.rs). A frozen list, never ours.
    pub superlance_longs: &'static [&'static str],
    pub run: fn(&ArgMatches) -> Result<(), Error>,
}

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// A listener's full command line: its own options plus those every listener shares.
pub fn listener_command(entry: &Entry) -> Command {
    full_command(entry.name, (entry.command)())
}

/// A listener's full help, as `--help` prints it, from its own definition (for usage errors
/// that show the help, as superlance's tools did).
pub fn full_help(name: &'static str, own: Command) -> String {
    full_command(name, own).render_help().to_string()
}

fn full_command(name: &'static str, own: Command) -> Command {
    own.name(name)
        .version(VERSION)
        .args(logging::args())
        // superlance (getopt, optparse) took the last of a repeated option; refusing it made
        // an ordinary supervisord.conf line a listener that never starts (issue 16).
        // legacy_argv warns about the repeats.
        .args_override_self(true)
}
