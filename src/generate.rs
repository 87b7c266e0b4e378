//! `superlance --generate man [NAME]` and `--generate completion SHELL [NAME]`: a man page or
//! a shell completion script made from the same clap definitions that parse the options
//! (ripgrep's way: shipped inside the binary, never committed as generated files), for
//! `superlance` itself or for a listener as a command of its own (the links). The Debian
//! package (packaging/build-deb.sh) installs what this prints; docs/packaging.md.

use std::ffi::OsString;
use std::io;
use std::process::ExitCode;

use clap::Command;
use clap_complete::Shell;
use clap_mangen::roff::{bold, italic, roman, Roff};

use crate::entry::{listener_command, Entry, VERSION};
use crate::error::Error;
use crate::listeners::LISTENERS;
use crate::registry::{entry, superlance_command};

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
pub fn main(rest: &[OsString]) -> ExitCode {
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

/// The title line and clap_mangen's NAME, SYNOPSIS and DESCRIPTION: how every page starts.
fn head(man: &clap_mangen::Man) -> Vec<u8> {
    let mut out = Vec::new();
    section(&mut out, |w| man.render_title(w));
    section(&mut out, |w| man.render_name_section(w));
    section(&mut out, |w| man.render_synopsis_section(w));
    section(&mut out, |w| man.render_description_section(w));
    out
}

/// A listener's page: clap_mangen's NAME, SYNOPSIS, DESCRIPTION and OPTIONS from the same
/// definition that parses its options, then the sections clap cannot know.
fn listener_man(e: &Entry) -> Vec<u8> {
    let cmd = listener_command(e);
    let notes = cmd.get_after_help().map(|s| s.to_string());
    let man = man_for(cmd, e.name);
    let mut out = head(&man);
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
    let mut out = head(&man);
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
