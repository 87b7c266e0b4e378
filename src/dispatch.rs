//! Multi-call dispatch: which listener to run, whichever way we were reached.
//!
//! - `superlance <listener> [options]`;
//! - a link or copy named after a listener (`oom_score_adj`), or a packager's prefixed name
//!   (`superlance-crashmail`, `sv_crashmail`): a listener name that is the whole program name
//!   or follows a `-`/`_`, longest wins, never a bare prefix (`crashmail` must not swallow
//!   `crashmailbatch`);
//! - `superlance --list`, `--install [-s] DIR`, `--help`, `--version`, `help <listener>`
//!   (the busybox packager contract);
//! - `superlance --generate man [NAME]` and `--generate completion SHELL [NAME]`: a man page or
//!   a shell completion script made from the same clap definitions that parse the options
//!   (ripgrep's way: shipped inside the binary, never committed as generated files), for
//!   `superlance` itself or for a listener as a command of its own (the links);
//! - an unknown name: `<name>: unknown listener (try 'superlance --list')`, exit 127.
//!
//! This is the one place that turns results into exit statuses.

use std::ffi::OsString;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Arg, ArgAction, ArgMatches, Command};
use clap_complete::Shell;
use clap_mangen::roff::{bold, italic, roman, Roff};

use crate::error::Error;
use crate::listeners::LISTENERS;
use crate::logging;

/// A registry line: a listener's name, its option definitions, and its entry point.
pub struct Entry {
    pub name: &'static str,
    /// The listener's clap definition, kept apart from `run` so that help, man pages and
    /// completions can be generated from it.
    pub command: fn() -> Command,
    pub run: fn(&ArgMatches) -> Result<(), Error>,
}

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// A listener's full command line: its own options plus those every listener shares.
pub fn listener_command(entry: &Entry) -> Command {
    (entry.command)()
        .name(entry.name)
        .version(VERSION)
        .args(logging::args())
}

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
            // Parsed by hand too (generate_main); declared here for --help and the man page.
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

fn entry(name: &str) -> Option<&'static Entry> {
    LISTENERS.iter().find(|e| e.name == name)
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
        Some("--generate") => generate_main(&args[2..]),
        Some(first) if !first.starts_with('-') && first != "help" => match entry(first) {
            Some(e) => run_listener(e, &args[1..]),
            None => unknown(first),
        },
        None if args.len() > 1 => unknown(&args[1].to_string_lossy()),
        _ => superlance_main(&args),
    }
}

/// Parse a listener's options (args[0] is its name), set up logging, run it.
fn run_listener(entry: &Entry, args: &[OsString]) -> ExitCode {
    let matches = match listener_command(entry).try_get_matches_from(args) {
        Ok(m) => m,
        Err(e) => return clap_exit(e),
    };
    logging::init(entry.name, &logging::Config::from_matches(&matches));
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

// ---------------------------------------------------------------------------------------------
// --generate: man pages and completion scripts from the clap definitions

/// The shells `--generate completion` writes for, and where each loads completions from on
/// demand (what the Debian package installs: one file per command name).
pub const SHELLS: [(&str, Shell); 3] = [
    ("bash", Shell::Bash),
    ("zsh", Shell::Zsh),
    ("fish", Shell::Fish),
];

/// What `--generate` was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Artifact {
    Man,
    Completion(Shell),
}

/// Parse `--generate`'s arguments: `man [NAME]` or `completion SHELL [NAME]`; NAME defaults
/// to `superlance` and is otherwise a listener name. Returns the artifact and the listener
/// (None: superlance itself); anything else is a usage error (exit 2).
pub fn parse_generate(args: &[&str]) -> Result<(Artifact, Option<&'static Entry>), Error> {
    let (artifact, name) = match args {
        ["man"] => (Artifact::Man, None),
        ["man", name] => (Artifact::Man, Some(*name)),
        ["completion", shell] | ["completion", shell, _] => {
            let Some((_, sh)) = SHELLS.iter().find(|(n, _)| n == shell) else {
                return Err(Error::Usage(format!(
                    "--generate completion: unknown shell '{shell}' (bash, zsh or fish)"
                )));
            };
            (Artifact::Completion(*sh), args.get(2).copied())
        }
        _ => return Err(Error::Usage(
            "usage: superlance --generate man [NAME] | --generate completion bash|zsh|fish [NAME] \
                 (NAME: superlance, the default, or a listener from 'superlance --list')"
                .to_owned(),
        )),
    };
    match name {
        None | Some("superlance") => Ok((artifact, None)),
        Some(name) => entry(name).map(|e| (artifact, Some(e))).ok_or_else(|| {
            Error::Usage(format!(
                "--generate: unknown listener '{name}' (try 'superlance --list', or 'superlance' for the superlance command itself)"
            ))
        }),
    }
}

/// `--generate ...`: the artifact on stdout. Asked for by a person or a packaging script on the
/// command line, never on a listener's path, so stdout is free here.
fn generate_main(rest: &[OsString]) -> ExitCode {
    let args: Vec<&str> = rest
        .iter()
        .map(|a| a.to_str().unwrap_or("\u{fffd}"))
        .collect();
    let (artifact, listener) = match parse_generate(&args) {
        Ok(parsed) => parsed,
        Err(e) => {
            eprintln!("superlance: {e}");
            return e.exit_code();
        }
    };
    let text = generate(artifact, listener);
    let mut out = io::stdout().lock();
    match io::Write::write_all(&mut out, &text).and_then(|()| io::Write::flush(&mut out)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("superlance: --generate: cannot write to stdout: {e}");
            ExitCode::from(1)
        }
    }
}

/// The man page or completion script for `listener` (None: superlance itself).
pub fn generate(artifact: Artifact, listener: Option<&Entry>) -> Vec<u8> {
    match artifact {
        Artifact::Man => match listener {
            Some(e) => listener_man(e),
            None => superlance_man(),
        },
        Artifact::Completion(shell) => {
            let (mut cmd, name) = match listener {
                // A link named after the listener is a command of its own, with its own script
                // (bash-completion and fish load completions by command name).
                Some(e) => (listener_command(e), e.name),
                None => (superlance_command(), "superlance"),
            };
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut cmd, name, &mut out);
            out
        }
    }
}

/// `clap_mangen` with this project's title line: the name in capitals, no date (the page is
/// the same for the same version: reproducible packages), "superlance VERSION" as the source.
fn man_for(cmd: Command, name: &str) -> clap_mangen::Man {
    clap_mangen::Man::new(cmd)
        .title(name.to_uppercase())
        .source(format!("superlance {VERSION}"))
        .manual("superlance")
}

/// Renders one section with `clap_mangen`; writing to a `Vec` cannot fail.
fn section(out: &mut Vec<u8>, render: impl FnOnce(&mut Vec<u8>) -> io::Result<()>) {
    let _ = render(out);
}

/// clap_mangen starts each separately rendered section with the same two-line preamble (a
/// string definition for the apostrophe, `\*(Aq`). One is enough, and it goes after the `.TH`
/// line so that a page starts with its title, as man pages do.
fn tidy_preamble(page: Vec<u8>) -> Vec<u8> {
    const PREAMBLE: &str = ".ie \\n(.g .ds Aq \\(aq\n.el .ds Aq '\n";
    let text = String::from_utf8_lossy(&page).replace(PREAMBLE, "");
    match text.split_once('\n') {
        Some((title, rest)) if title.starts_with(".TH ") => {
            format!("{title}\n{PREAMBLE}{rest}").into_bytes()
        }
        _ => page,
    }
}

/// A listener's page: clap_mangen's NAME, SYNOPSIS, DESCRIPTION and OPTIONS from the same
/// definition that parses its options, then the sections clap cannot know.
fn listener_man(e: &Entry) -> Vec<u8> {
    let cmd = listener_command(e);
    let notes = cmd.get_after_help().map(|s| s.to_string());
    let man = man_for(cmd, e.name);
    let mut out = Vec::new();
    section(&mut out, |w| man.render_title(w));
    section(&mut out, |w| man.render_name_section(w));
    section(&mut out, |w| man.render_synopsis_section(w));
    section(&mut out, |w| man.render_description_section(w));
    let mut roff = Roff::new();
    roff.control("PP", [])
        .text([
            bold(e.name),
            roman(" is a supervisord event listener, one of those carried by "),
            bold("superlance"),
            roman("(1): it is run by supervisord from an "),
            bold(format!("[eventlistener:{}]", e.name)),
            roman(" section, reads events on its standard input and answers on its standard output, and logs to standard error (or syslog). Run it as "),
            bold(e.name),
            roman(" (a link to superlance) or as "),
            bold(format!("superlance {}", e.name)),
            roman("."),
        ]);
    out.extend(roff.to_roff().into_bytes());
    section(&mut out, |w| man.render_options_section(w));
    let mut roff = Roff::new();
    if let Some(notes) = notes {
        roff.control("SH", ["SUPERVISORD CONFIGURATION"]);
        text_with_examples(&mut roff, &notes);
    }
    roff.control("SH", ["EXIT STATUS"])
        .text([roman(
            "0 at the end of its input or after SIGTERM (supervisord stopping it); 1 when it cannot start or the protocol breaks (supervisord restarts it); 2 for an invalid option.",
        )]);
    see_also(&mut roff, Some(e.name));
    out.extend(roff.to_roff().into_bytes());
    section(&mut out, |w| man.render_version_section(w));
    tidy_preamble(out)
}

/// superlance(1): the multi-call binary, its packager options, and the listeners.
fn superlance_man() -> Vec<u8> {
    let man = man_for(
        superlance_command().disable_help_subcommand(true),
        "superlance",
    );
    let mut out = Vec::new();
    section(&mut out, |w| man.render_title(w));
    section(&mut out, |w| man.render_name_section(w));
    section(&mut out, |w| man.render_synopsis_section(w));
    section(&mut out, |w| man.render_description_section(w));
    let mut roff = Roff::new();
    roff.control("PP", []).text([
        roman("A listener is reached three ways, all equivalent: "),
        bold("superlance "),
        italic("listener"),
        roman(" [options]; a link named after it ("),
        bold("crashmail"),
        roman("); or a packager's prefixed name ("),
        bold("superlance-crashmail"),
        roman(", "),
        bold("sv_crashmail"),
        roman("). Any other name exits with status 127."),
    ]);
    out.extend(roff.to_roff().into_bytes());
    section(&mut out, |w| man.render_options_section(w));
    let mut roff = Roff::new();
    roff.control("SH", ["LISTENERS"]);
    for e in LISTENERS {
        let cmd = listener_command(e);
        roff.control("TP", []).text([bold(e.name), roman("(1)")]);
        if let Some(about) = cmd.get_about() {
            roff.text([roman(about.to_string())]);
        }
    }
    roff.control("SH", ["EXAMPLES"]);
    for (example, what) in [
        ("superlance --install -s /usr/local/bin", "a symbolic link per listener in /usr/local/bin (without -s: hard links)"),
        ("superlance --generate man crashmail", "crashmail's man page, on standard output (--generate man: this page)"),
        ("superlance --generate completion bash memmon", "the bash completion script for memmon as a command of its own (a link); without memmon, for superlance"),
    ] {
        roff.control("TP", []).text([bold(example)]).text([roman(what)]);
    }
    see_also(&mut roff, None);
    out.extend(roff.to_roff().into_bytes());
    section(&mut out, |w| man.render_version_section(w));
    tidy_preamble(out)
}

/// Help text after the options: paragraphs, and lines indented by two spaces (a
/// supervisord.conf example) kept as they are.
fn text_with_examples(roff: &mut Roff, text: &str) {
    let mut in_example = false;
    for line in text.lines() {
        if let Some(example) = line.strip_prefix("  ") {
            if !in_example {
                roff.control("PP", [])
                    .control("RS", ["4"])
                    .control("nf", []);
                in_example = true;
            }
            roff.text([roman(example)]);
        } else {
            if in_example {
                roff.control("fi", []).control("RE", []);
                in_example = false;
            }
            if line.trim().is_empty() {
                continue;
            }
            roff.control("PP", []).text([roman(line)]);
        }
    }
    if in_example {
        roff.control("fi", []).control("RE", []);
    }
}

/// SEE ALSO: the other pages, supervisord, and where the long documentation is.
fn see_also(roff: &mut Roff, this: Option<&str>) {
    roff.control("SH", ["SEE ALSO"]);
    let mut refs: Vec<&str> = Vec::new();
    if this.is_some() {
        refs.push("superlance");
    }
    refs.extend(
        LISTENERS
            .iter()
            .map(|e| e.name)
            .filter(|n| Some(*n) != this),
    );
    refs.push("supervisord");
    let mut inlines = Vec::new();
    for (i, name) in refs.iter().enumerate() {
        if i > 0 {
            inlines.push(roman(", "));
        }
        inlines.push(bold(*name));
        inlines.push(roman("(1)"));
    }
    roff.text(inlines);
    let page = this.map_or("README.md".to_owned(), |n| format!("docs/{n}.md"));
    roff.control("PP", []).text([
        roman("The full documentation, with every option's details and the differences from Python superlance: "),
        italic(format!("/usr/share/doc/superlance/{page}")),
        roman(" (Debian package), or "),
        italic(page),
        roman(" in the source. Moving from Python superlance: "),
        italic("docs/migrating-from-superlance.md"),
        roman(", in the same places."),
    ]);
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
    fn every_listener_command_is_valid() {
        for e in LISTENERS {
            listener_command(e).debug_assert();
        }
        superlance_command().debug_assert();
    }
}
