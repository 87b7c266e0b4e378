//! `superlance --generate` (issue 6): man pages and completion scripts made from the clap
//! definitions, for superlance and for every listener from `superlance --list` (never a
//! hard-coded list), and clear errors for what it cannot make.

use std::process::{Command, Output};

use superlance::entry::listener_command;
use superlance::listeners::LISTENERS;

use crate::common::{listener_names, run, BIN};

/// `superlance --generate ARGS...`.
fn generate(args: &[&str]) -> Output {
    run(Command::new(BIN).arg("--generate").args(args))
}

/// The output of a `--generate` that must succeed, with nothing on stderr.
fn generated(args: &[&str]) -> String {
    let out = generate(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "--generate {args:?} failed: {stderr}");
    assert_eq!(stderr, "", "--generate {args:?} wrote to stderr");
    let text = String::from_utf8(out.stdout).expect("--generate writes UTF-8");
    assert!(!text.trim().is_empty(), "--generate {args:?} wrote nothing");
    text
}

/// Every option a listener shows in its help, as `--long` and `-s`: what its man page and its
/// completions must name. Taken from the registry's own definition (the one the binary parses
/// with), so a new option or listener is checked without touching this test.
fn options_of(name: &str) -> Vec<String> {
    let entry = LISTENERS
        .iter()
        .find(|e| e.name == name)
        .unwrap_or_else(|| panic!("superlance --list names {name}, the registry does not"));
    let cmd = listener_command(entry);
    let options: Vec<String> = cmd
        .get_arguments()
        .filter(|a| !a.is_hide_set())
        .flat_map(|a| {
            let long = a.get_long().map(|l| format!("--{l}"));
            let short = a.get_short().map(|s| format!("-{s}"));
            long.into_iter().chain(short)
        })
        .collect();
    assert!(
        options.len() >= 4,
        "{name} has too few options: {options:?}"
    );
    options
}

/// A man page's text with roff's escaped hyphens made plain (`\-\-program` → `--program`).
fn plain(roff: &str) -> String {
    roff.replace("\\-", "-")
}

/// Checks a page the way `man -l` reads it: groff (Debian's groff-base, which man-db needs)
/// formats it with every warning on, and none may appear.
fn assert_groff_accepts(name: &str, page: &str) {
    use std::io::Write;
    let mut child = Command::new("groff")
        .args(["-man", "-Tutf8", "-ww", "-z"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run groff ({e}): install Debian's groff-base (man-db needs it)")
        });
    child
        .stdin
        .take()
        .expect("groff's stdin")
        .write_all(page.as_bytes())
        .expect("write the page to groff");
    let out = child.wait_with_output().expect("groff finished");
    let warnings = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && warnings.is_empty(),
        "groff rejects the man page of {name}:\n{warnings}"
    );
}

#[test]
fn every_listener_has_a_man_page_naming_each_of_its_options() {
    for name in listener_names() {
        let page = generated(&["man", name]);
        assert!(
            page.starts_with(&format!(".TH {} 1 ", name.to_uppercase())),
            "{name}.1 does not start with its .TH title line:\n{}",
            &page[..page.len().min(200)]
        );
        let text = plain(&page);
        for section in ["NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "SEE ALSO"] {
            assert!(
                text.lines()
                    .any(|l| l.starts_with(".SH ") && l[4..].trim_matches('"') == section),
                "{name}.1 has no {section} section"
            );
        }
        assert!(
            text.contains(&format!("{name} - ")),
            "{name}.1's NAME section does not name it"
        );
        for option in options_of(name) {
            assert!(text.contains(&option), "{name}.1 does not name {option}");
        }
        assert_groff_accepts(name, &page);
    }
}

#[test]
fn superlance_man_page_lists_every_listener_page_and_the_packager_options() {
    let page = generated(&["man"]);
    assert_eq!(
        page,
        generated(&["man", "superlance"]),
        "man and man superlance differ"
    );
    assert!(
        page.starts_with(".TH SUPERLANCE 1 "),
        "{}",
        &page[..page.len().min(200)]
    );
    let text = plain(&page);
    for option in ["--list", "--install", "--symbolic", "--generate"] {
        assert!(text.contains(option), "superlance.1 does not name {option}");
    }
    for name in listener_names() {
        assert!(
            text.contains(&format!("\\fB{name}\\fR(1)")),
            "superlance.1 does not refer to {name}(1)"
        );
    }
    assert_groff_accepts("superlance", &page);
}

#[test]
fn completions_for_each_shell_name_each_listeners_options() {
    for shell in ["bash", "zsh", "fish"] {
        for name in listener_names() {
            let script = generated(&["completion", shell, name]);
            // Registered for the listener's own name (the link), not for superlance.
            let registered = match shell {
                "bash" => script.lines().any(|l| {
                    l.trim_start().starts_with(&format!("complete -F _{name} "))
                        && l.ends_with(&format!(" {name}"))
                }),
                "zsh" => script.starts_with(&format!("#compdef {name}\n")),
                _ => script.contains(&format!("complete -c {name} ")),
            };
            assert!(
                registered,
                "{shell} completion of {name} does not register for {name}"
            );
            for option in options_of(name) {
                // fish spells options as `-s x` / `-l long`; bash and zsh as typed.
                let spelled = match (shell, option.strip_prefix("--")) {
                    ("fish", Some(long)) => format!("-l {long}"),
                    ("fish", None) => format!("-s {}", &option[1..]),
                    _ => option.clone(),
                };
                assert!(
                    script.contains(&spelled),
                    "{shell} completion of {name} does not offer {option}"
                );
            }
        }
        // superlance's own script completes the listener names and their options.
        let script = generated(&["completion", shell]);
        assert_eq!(script, generated(&["completion", shell, "superlance"]));
        for name in listener_names() {
            assert!(
                script.contains(name.as_str()),
                "{shell}: superlance's script lacks {name}"
            );
        }
        assert!(
            script.contains("generate"),
            "{shell}: superlance's script lacks --generate"
        );
    }
}

#[test]
fn bash_completion_completes_a_listener_option() {
    // The generated bash script, sourced and asked as bash-completion would ask it.
    let script = generated(&["completion", "bash", "crashmail"]);
    let out = run(Command::new("bash").arg("-c").arg(format!(
        "{script}\nCOMP_WORDS=(crashmail --sendm); COMP_CWORD=1; _crashmail crashmail --sendm crashmail; \
         printf '%s\\n' \"${{COMPREPLY[@]}}\""
    )));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "--sendmail_program\n");
}

#[test]
fn unknown_shell_is_a_usage_error() {
    let out = generate(&["completion", "tcsh", "crashmail"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(out.stdout, b"", "nothing on stdout");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("unknown shell 'tcsh'") && stderr.contains("bash, zsh or fish"),
        "{stderr}"
    );
}

#[test]
fn unknown_listener_is_a_usage_error() {
    for args in [&["man", "nosuch"][..], &["completion", "bash", "nosuch"]] {
        let out = generate(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert_eq!(out.stdout, b"", "{args:?}: nothing on stdout");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("unknown listener 'nosuch'") && stderr.contains("superlance --list"),
            "{args:?}: {stderr}"
        );
    }
}

#[test]
fn malformed_generate_is_a_usage_error() {
    for args in [
        &[][..],
        &["completion"],
        &["pdf"],
        &["man", "crashmail", "extra"],
    ] {
        let out = generate(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert_eq!(out.stdout, b"", "{args:?}: nothing on stdout");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("usage: superlance --generate"),
            "{args:?}"
        );
    }
}

#[test]
fn help_lists_generate() {
    let out = run(Command::new(BIN).arg("--help"));
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("--generate"));
}
