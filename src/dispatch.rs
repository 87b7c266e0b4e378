//! Multi-call dispatch: which listener to run, whichever way we were reached.
//!
//! - `superlance <listener> [options]`;
//! - a link or copy named after a listener (`oom_score_adj`), or a packager's prefixed name
//!   (`superlance-crashmail`, `sv_crashmail`): a listener name that is the whole program name
//!   or follows a `-`/`_`, longest wins, never a bare prefix (`crashmail` must not swallow
//!   `crashmailbatch`);
//! - `superlance --list`, `--install [-s] DIR`, `--help`, `--version`, `help <listener>`
//!   (the busybox packager contract);
//! - `superlance --generate man|completion ...`: man pages and completion scripts from the
//!   same clap definitions (src/generate.rs);
//! - an unknown name: `<name>: unknown listener (try 'superlance --list')`, exit 127.
//!
//! This is the one place that turns results into exit statuses.

use std::ffi::OsString;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::ExitCode;

use clap::error::ErrorKind;

use crate::entry::{listener_command, Entry};
use crate::legacy_argv;
use crate::listeners::LISTENERS;
use crate::logging;
use crate::registry::{entry, superlance_command};

/// The listener a program name means: the name itself, or a listener name that follows a
/// `-` or `_` at its end; the longest such name wins.
pub fn resolve<'a>(program: &str, names: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    names
        .into_iter()
        .filter(|name| {
            program == *name
                || program
                    .strip_suffix(*name)
                    .is_some_and(|head| head.ends_with('-') || head.ends_with('_'))
        })
        .max_by_key(|name| name.len())
}

fn unknown(name: &str) -> ExitCode {
    eprintln!("{name}: unknown listener (try 'superlance --list')");
    ExitCode::from(127)
}

pub fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    let argv0 = args
        .first()
        .map(Path::new)
        .and_then(Path::file_name)
        .and_then(|n| n.to_str())
        .unwrap_or("superlance");
    if let Some(name) = resolve(argv0, LISTENERS.iter().map(|e| e.name)) {
        if let Some(e) = entry(name) {
            return run_listener(e, &args);
        }
    }
    if !argv0.starts_with("superlance") {
        return unknown(argv0);
    }
    match args.get(1).and_then(|a| a.to_str()) {
        Some("--install") => install_main(&args[2..]),
        Some("--generate") => crate::generate::main(&args[2..]),
        // Not a listener: `--list` leaves it out (issue 13).
        Some("entrypoint") => crate::entrypoint::main(&args[2..]),
        Some(first) if !first.starts_with('-') && first != "help" => match entry(first) {
            Some(e) => run_listener(e, &args[1..]),
            None => unknown(first),
        },
        None if args.len() > 1 => unknown(&args[1].to_string_lossy()),
        _ => superlance_main(&args),
    }
}

/// Parse a listener's options (args[0] is its name), set up logging, run it. superlance's
/// command lines are made acceptable first (src/legacy_argv.rs); what that tolerated is
/// logged once logging is set up.
fn run_listener(entry: &Entry, args: &[OsString]) -> ExitCode {
    let mut command = listener_command(entry);
    let legacy = match legacy_argv::normalise(&command, entry.superlance_longs, args) {
        Ok(n) => n,
        Err(e) => return clap_exit(command.error(ErrorKind::UnknownArgument, e)),
    };
    let matches = match command.try_get_matches_from(&legacy.args) {
        Ok(m) => m,
        Err(e) => return clap_exit(e),
    };
    logging::init(entry.name, &logging::Config::from_matches(&matches));
    for warning in &legacy.warnings {
        log::warn!("{warning}");
    }
    match (entry.run)(&matches) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::error!("{e}");
            e.exit_code()
        }
    }
}

/// clap prints help/version to stdout (exit 0) and errors to stderr (exit 2).
fn clap_exit(e: clap::Error) -> ExitCode {
    let _ = e.print();
    ExitCode::from(e.exit_code().clamp(0, 255) as u8)
}

#[allow(clippy::print_stdout)] // `--list` is for people and packagers, not a listener path
fn superlance_main(args: &[OsString]) -> ExitCode {
    let matches = match superlance_command().try_get_matches_from(args) {
        Ok(m) => m,
        Err(e) => return clap_exit(e),
    };
    if matches.get_flag("list") {
        for e in LISTENERS {
            println!("{}", e.name);
        }
        return ExitCode::SUCCESS;
    }
    // Only `help <listener>` reaches here with a subcommand, and clap handles that itself;
    // `--install` is parsed by hand (busybox allows `--install -s DIR`).
    let _ = superlance_command().print_help();
    ExitCode::from(2)
}

/// `--install [-s] DIR` (also `--install DIR -s`).
fn install_main(rest: &[OsString]) -> ExitCode {
    let symbolic = rest.iter().any(|a| a == "-s" || a == "--symbolic");
    let dirs: Vec<&OsString> = rest
        .iter()
        .filter(|a| *a != "-s" && *a != "--symbolic")
        .collect();
    let [dir] = dirs.as_slice() else {
        eprintln!("superlance: usage: superlance --install [-s] DIR");
        return ExitCode::from(2);
    };
    match install(Path::new(dir), symbolic) {
        Ok(0) => ExitCode::SUCCESS,
        Ok(_) => ExitCode::from(1),
        Err(e) => {
            eprintln!("superlance: --install {}: {e}", Path::new(dir).display());
            ExitCode::from(1)
        }
    }
}

/// Create one link per listener in `dir`; returns how many could not be created.
#[allow(clippy::print_stdout)] // reports what it did, like install(1) -v
fn install(dir: &Path, symbolic: bool) -> io::Result<usize> {
    let exe = fs::read_link("/proc/self/exe")?;
    let exe_meta = fs::metadata(&exe)?;
    if !fs::metadata(dir)?.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::NotADirectory,
            "not a directory",
        ));
    }
    let mut failures = 0;
    for e in LISTENERS {
        let link = dir.join(e.name);
        match link_one(&link, &exe, &exe_meta, symbolic) {
            Ok(true) => println!("{} -> {}", link.display(), exe.display()),
            Ok(false) => {}
            Err(err) => {
                eprintln!("superlance: {}: {err}", link.display());
                failures += 1;
            }
        }
    }
    Ok(failures)
}

/// Returns whether a link was (re)created; refuses to replace anything that is not ours.
fn link_one(link: &Path, exe: &Path, exe_meta: &fs::Metadata, symbolic: bool) -> io::Result<bool> {
    if let Ok(existing) = fs::symlink_metadata(link) {
        let ours = fs::metadata(link)
            .is_ok_and(|m| m.dev() == exe_meta.dev() && m.ino() == exe_meta.ino());
        if !ours {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!(
                    "exists and is not a link to {}; not overwriting it (remove it first)",
                    exe.display()
                ),
            ));
        }
        let is_symlink = existing.file_type().is_symlink();
        if is_symlink == symbolic && (!symbolic || fs::read_link(link).is_ok_and(|t| t == exe)) {
            return Ok(false); // already installed as asked
        }
        fs::remove_file(link)?;
    }
    let made = if symbolic {
        std::os::unix::fs::symlink(exe, link)
    } else {
        fs::hard_link(exe, link)
    };
    made.map_err(|e| match e.raw_os_error() {
        Some(libc::EXDEV) => io::Error::new(
            e.kind(),
            "cannot hard-link across file systems; use --install -s DIR",
        ),
        _ => e,
    })?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAMES: [&str; 5] = [
        "crashmail",
        "crashmailbatch",
        "oom_score_adj",
        "memmon",
        "mon",
    ];

    #[test]
    fn exact_and_prefixed_names() {
        assert_eq!(resolve("oom_score_adj", NAMES), Some("oom_score_adj"));
        assert_eq!(resolve("superlance-crashmail", NAMES), Some("crashmail"));
        assert_eq!(resolve("sv_crashmail", NAMES), Some("crashmail"));
        assert_eq!(
            resolve("superlance-oom_score_adj", NAMES),
            Some("oom_score_adj")
        );
    }

    #[test]
    fn never_a_bare_prefix_or_suffix() {
        // crashmail must not swallow crashmailbatch, nor match inside a word.
        assert_eq!(resolve("crashmailbatch", NAMES), Some("crashmailbatch"));
        assert_eq!(resolve("sv-crashmailbatch", NAMES), Some("crashmailbatch"));
        assert_eq!(resolve("crashmailx", NAMES), None);
        assert_eq!(resolve("xcrashmail", NAMES), None);
        assert_eq!(resolve("superlance", NAMES), None);
    }

    #[test]
    fn longest_wins() {
        // "sv_memmon" ends with both "memmon" and "mon"; "mon" follows no separator anyway,
        // but "sv_mem_mon" ends with "_mon" only.
        assert_eq!(resolve("sv_memmon", NAMES), Some("memmon"));
        assert_eq!(resolve("sv_mem_mon", NAMES), Some("mon"));
        assert_eq!(
            resolve("x-memmon", ["memmon", "x-memmon"]),
            Some("x-memmon")
        );
    }

    #[test]
    fn every_superlance_spelling_is_an_option_of_ours() {
        // legacy_argv expands an abbreviation to a superlance spelling: it must exist.
        for e in LISTENERS {
            let cmd = listener_command(e);
            for long in e.superlance_longs {
                let known =
                    *long == "help" || cmd.get_arguments().any(|a| a.get_long() == Some(long));
                assert!(known, "{}: --{long} is not an option", e.name);
            }
        }
    }

    #[test]
    fn every_listener_command_is_valid() {
        for e in LISTENERS {
            listener_command(e).debug_assert();
        }
        superlance_command().debug_assert();
    }
}
