//! Looking things up in the registry table (listeners/mod.rs): a listener by name, and the
//! `superlance` command with every listener as a subcommand. The dispatcher (src/dispatch.rs)
//! runs what is found here; the man page and completion generator (src/generate.rs)
//! describes it. Both read this module, neither the other (issue 15: they
//! used to import each other).

use std::path::PathBuf;

use clap::{Arg, ArgAction, Command};

use crate::entry::{listener_command, Entry, VERSION};
use crate::listeners::LISTENERS;

/// The `superlance` command itself (for `--help` and, later, man pages).
pub fn superlance_command() -> Command {
    Command::new("superlance")
        .version(VERSION)
        .about("Supervisor event listeners in one binary. Run a listener as `superlance <listener> [options]` or through a link named after it.")
        .arg(Arg::new("list").long("list").action(ArgAction::SetTrue).help("Print the listener names, one per line"))
        .arg(
            Arg::new("install")
                .long("install")
                .value_name("DIR")
                .value_parser(clap::value_parser!(PathBuf))
                .help("Create a hard link named after each listener in DIR, pointing at this executable"),
        )
        .arg(
            Arg::new("symbolic")
                .short('s')
                .long("symbolic")
                .action(ArgAction::SetTrue)
                .requires("install")
                .help("With --install: create symbolic links instead"),
        )
        .arg(
            // Parsed by hand too (generate::main); declared here for --help and the man page.
            Arg::new("generate")
                .long("generate")
                .value_name("WHAT")
                .num_args(1..=3)
                .exclusive(true)
                .help("Print a man page ('--generate man [NAME]') or a completion script ('--generate completion bash|zsh|fish [NAME]') for superlance or the listener NAME"),
        )
        .subcommands(LISTENERS.iter().map(listener_command))
        .arg_required_else_help(true)
}

/// The registry line of the listener `name`.
pub fn entry(name: &str) -> Option<&'static Entry> {
    LISTENERS.iter().find(|e| e.name == name)
}
