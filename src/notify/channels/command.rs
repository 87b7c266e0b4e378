//! `--command CMD`: what a user's command gets, for anything superlance has no preset for (a
//! pager script, `logger`, `ntfy send`, supervisor-alert's way). Rendering only: running it
//! (`sh -c`, a timeout, the exit status checked) is `src/command.rs`'s `run_shell` and the
//! outbox's.
//!
//! - Standard input: the text and the extra lines, one per line, ending in a newline.
//! - The environment: every field as `SUPERLANCE_*`, always set, empty when the field does not
//!   apply (so that a script under `set -u` does not stop on a batch, which has no program):
//!   `SUPERLANCE_KIND` (`event`, `resolved`, `batch`, `digest`), `SUPERLANCE_LISTENER`,
//!   `SUPERLANCE_HOSTNAME`, `SUPERLANCE_EVENT`, `SUPERLANCE_GROUP`, `SUPERLANCE_PROGRAM`,
//!   `SUPERLANCE_NAMESPEC` (`group:name`), `SUPERLANCE_FROM_STATE`, `SUPERLANCE_TO_STATE`,
//!   `SUPERLANCE_PID`, `SUPERLANCE_EXPECTED` (`1`, `0` or empty), `SUPERLANCE_TIME` (RFC 3339
//!   UTC, as in the webhook), `SUPERLANCE_UNIX_TIME`, `SUPERLANCE_SUBJECT` (the mail subject,
//!   empty without one), `SUPERLANCE_SUMMARY` (the subject, else the text's first line).
//! - The values are the text exactly, except NUL, which no environment value can hold: it
//!   becomes U+FFFD (exec would refuse the whole command otherwise).
//!
//! The values come from supervisord and the programs it runs: a script must quote them
//! (`"$SUPERLANCE_PROGRAM"`), and they never become part of the command line itself.

use std::fmt;

use super::full_text;
use crate::notify::Notification;
use crate::time::{rfc3339_utc, unix_seconds};

/// The user's command line, run as `sh -c CMD`.
#[derive(Clone, PartialEq, Eq)]
pub struct Config {
    pub command: String,
}

impl fmt::Debug for Config {
    /// The command's first word only: its arguments may hold a token (`curl -H 'Authorization:
    /// ...'`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let first = self.command.split_whitespace().next().unwrap_or("");
        let more = if self.command.trim() != first {
            " …"
        } else {
            ""
        };
        f.debug_struct("command::Config")
            .field("command", &format!("{first}{more}"))
            .finish()
    }
}

/// What to run for one notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// The script for `sh -c`.
    pub script: String,
    /// Added to the listener's own environment.
    pub env: Vec<(String, String)>,
    /// The command's standard input.
    pub stdin: Vec<u8>,
}

fn value(s: &str) -> String {
    s.replace('\0', "\u{fffd}")
}

fn opt(s: &Option<String>) -> String {
    s.as_deref().map(value).unwrap_or_default()
}

/// The `SUPERLANCE_*` variables for `n`, in a fixed order.
pub fn environment(n: &Notification) -> Vec<(String, String)> {
    let expected = match n.expected {
        Some(true) => "1",
        Some(false) => "0",
        None => "",
    };
    [
        ("KIND", n.kind.name().to_owned()),
        ("LISTENER", value(&n.listener)),
        ("HOSTNAME", value(&n.hostname)),
        ("EVENT", opt(&n.event)),
        ("GROUP", opt(&n.group)),
        ("PROGRAM", opt(&n.program)),
        ("NAMESPEC", opt(&n.namespec())),
        ("FROM_STATE", opt(&n.from_state)),
        ("TO_STATE", opt(&n.to_state)),
        ("PID", n.pid.map(|p| p.to_string()).unwrap_or_default()),
        ("EXPECTED", expected.to_owned()),
        ("TIME", rfc3339_utc(n.time)),
        ("UNIX_TIME", unix_seconds(n.time).to_string()),
        ("SUBJECT", opt(&n.subject)),
        ("SUMMARY", value(&n.summary())),
    ]
    .into_iter()
    .map(|(k, v)| (format!("SUPERLANCE_{k}"), v))
    .collect()
}

/// The command's standard input: the text and the extra lines, ending in a newline (empty when
/// there is nothing to say).
pub fn stdin(n: &Notification) -> Vec<u8> {
    let mut text = full_text(n);
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.into_bytes()
}

pub fn render(n: &Notification, cfg: &Config) -> Invocation {
    Invocation {
        script: cfg.command.clone(),
        env: environment(n),
        stdin: stdin(n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::channels::tests::crash;
    use crate::notify::Kind;

    fn get<'a>(env: &'a [(String, String)], k: &str) -> &'a str {
        env.iter()
            .find(|(name, _)| name == k)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("{k} is not set"))
    }

    #[test]
    fn every_field_is_in_the_environment() {
        let env = environment(&crash());
        let expect = [
            ("SUPERLANCE_KIND", "event"),
            ("SUPERLANCE_LISTENER", "crashmail"),
            ("SUPERLANCE_HOSTNAME", "host1"),
            ("SUPERLANCE_EVENT", "PROCESS_STATE_EXITED"),
            ("SUPERLANCE_GROUP", "web"),
            ("SUPERLANCE_PROGRAM", "web_01"),
            ("SUPERLANCE_NAMESPEC", "web:web_01"),
            ("SUPERLANCE_FROM_STATE", "RUNNING"),
            ("SUPERLANCE_TO_STATE", "EXITED"),
            ("SUPERLANCE_PID", "4242"),
            ("SUPERLANCE_EXPECTED", "0"),
            ("SUPERLANCE_TIME", "2026-12-04T15:01:55.123Z"),
            ("SUPERLANCE_UNIX_TIME", "1796396515"),
            (
                "SUPERLANCE_SUBJECT",
                "crashmail alert from supervisord on host1",
            ),
            (
                "SUPERLANCE_SUMMARY",
                "crashmail alert from supervisord on host1",
            ),
        ];
        let got: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(got, expect);
    }

    #[test]
    fn absent_fields_are_set_and_empty() {
        let mut n = crash();
        n.kind = Kind::Batch;
        n.group = None;
        n.program = None;
        n.pid = None;
        n.expected = None;
        n.subject = None;
        n.event = None;
        let env = environment(&n);
        assert_eq!(env.len(), 15);
        for k in [
            "SUPERLANCE_GROUP",
            "SUPERLANCE_PROGRAM",
            "SUPERLANCE_NAMESPEC",
            "SUPERLANCE_PID",
            "SUPERLANCE_EXPECTED",
            "SUPERLANCE_SUBJECT",
            "SUPERLANCE_EVENT",
        ] {
            assert_eq!(get(&env, k), "", "{k}");
        }
        assert_eq!(get(&env, "SUPERLANCE_KIND"), "batch");
        assert_eq!(
            get(&env, "SUPERLANCE_SUMMARY"),
            "Process web:web_01 (pid 4242) died unexpectedly"
        );
        n.expected = Some(true);
        assert_eq!(get(&environment(&n), "SUPERLANCE_EXPECTED"), "1");
    }

    #[test]
    fn stdin_is_the_text_and_extra_lines() {
        let n = crash();
        assert_eq!(
            stdin(&n),
            b"Process web:web_01 (pid 4242) died unexpectedly\nexit status 1\nstderr: boom\n"
        );
        let mut n = crash();
        n.text.clear();
        n.extra.clear();
        assert_eq!(stdin(&n), b"");
    }

    #[test]
    fn values_are_exact_but_for_nul() {
        let mut n = crash();
        n.program = Some("we'b \"$(rm -rf /)\" \n é\0x".into());
        let inv = render(
            &n,
            &Config {
                command: "logger -t superlance".into(),
            },
        );
        assert_eq!(inv.script, "logger -t superlance");
        assert_eq!(
            get(&inv.env, "SUPERLANCE_PROGRAM"),
            "we'b \"$(rm -rf /)\" \n é\u{fffd}x"
        );
        assert!(inv
            .env
            .iter()
            .all(|(k, v)| !k.contains('\0') && !v.contains('\0')));
    }

    #[test]
    fn debug_shows_the_first_word_only() {
        let cfg = Config {
            command: "curl -H 'Authorization: Bearer s3cr3t' https://x".into(),
        };
        let d = format!("{cfg:?}");
        assert!(d.contains("curl …") && !d.contains("s3cr3t"), "{d}");
    }
}
