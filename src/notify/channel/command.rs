//! `--command CMD`: anything else a user has (a pager script, `logger`, `ntfy send`). Each
//! notification runs `sh -c CMD` with its text on standard input and its fields in the
//! environment (`SUPERLANCE_PROGRAM`, `SUPERLANCE_GROUP`, ...: `crate::notify::channels::command`),
//! for at most `--command-timeout` (the whole process group is killed after it).
//!
//! The exit status is classified as the sendmail transport classifies it: 0 delivered; 126
//! (cannot be executed) and 127 (not found) permanent, since no retry will make the command
//! appear; any other status, a signal and the timeout transient. The command never gets our
//! stdout (src/command.rs).
//!
//! The spool holds the environment as the rendered headers (`SUPERLANCE_NAME: value`, each on
//! one line there: a line break in a value becomes a space in a spooled copy) and the standard
//! input as the message; the command line itself is the channel's, never spooled. Log lines
//! show the command's first word only: its arguments may hold a token.

use std::time::Duration;

use super::mail::transport::output::describe_output;
use super::{Channel, DeliveryError, RenderError, Rendered};
use crate::command::{run_shell_with_env, seconds};
use crate::notify::channels::command::{render, Config};
use crate::notify::notification::Notification;

/// `--command-timeout`'s default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

pub struct CommandChannel {
    name: String,
    config: Config,
    timeout: Duration,
    /// `command "notify-pager …"`.
    description: String,
}

impl CommandChannel {
    pub fn new(name: String, command: String, timeout: Duration) -> CommandChannel {
        // The first word only, as `command::Config`'s Debug shows it: the rest may hold a
        // token (`curl -H 'Authorization: ...'`).
        let first = command.split_whitespace().next().unwrap_or("");
        let more = if command.trim() != first { " …" } else { "" };
        let first = format!("{first}{more}");
        let config = Config { command };
        CommandChannel {
            description: format!("command {first:?}"),
            name,
            config,
            timeout,
        }
    }

    fn failed(&self, why: String) -> DeliveryError {
        DeliveryError::Transient(format!("{}: {why}", self.description))
    }
}

impl Channel for CommandChannel {
    fn name(&self) -> &str {
        &self.name
    }

    fn render(&self, n: &Notification) -> Result<Rendered, RenderError> {
        let inv = render(n, &self.config);
        Ok(Rendered {
            from: String::new(),
            to: Vec::new(),
            headers: inv.env,
            message: inv.stdin,
            summary: n.summary(),
        })
    }

    fn deliver(&self, r: &Rendered) -> Result<(), DeliveryError> {
        let done = run_shell_with_env(
            &self.config.command,
            &[],
            &r.headers,
            Some(&r.message),
            self.timeout,
        )
        .map_err(|e| self.failed(e.to_string()))?;
        let output = describe_output(&done.stdout, &done.stderr);
        let said = if output.is_empty() {
            String::new()
        } else {
            format!(": {output}")
        };
        let Some(status) = done.status else {
            return Err(self.failed(format!(
                "timed out after {}, killed{said}",
                seconds(self.timeout)
            )));
        };
        match status.code() {
            Some(0) => Ok(()),
            Some(code @ (126 | 127)) => Err(DeliveryError::Permanent(format!(
                "{}: {} (sh exit status {code}){said}",
                self.description,
                if code == 127 {
                    "not found"
                } else {
                    "cannot be executed"
                }
            ))),
            Some(code) => Err(self.failed(format!("exited with status {code}{said}"))),
            None => Err(self.failed(format!("was killed by a signal{said}"))),
        }
    }

    fn describe(&self) -> String {
        self.description.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(cmd: &str, timeout: Duration) -> Result<(), DeliveryError> {
        let c = CommandChannel::new("command".into(), cmd.into(), timeout);
        let n = Notification::for_test(Some("web crashed"), "the text", Some("web:web_01"));
        let r = c.render(&n).unwrap();
        c.deliver(&r)
    }

    #[test]
    fn stdin_and_environment_reach_the_command() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let cmd = format!(
            "cat > {0}; echo \"$SUPERLANCE_SUBJECT|$SUPERLANCE_LISTENER\" >> {0}",
            out.display()
        );
        run(&cmd, Duration::from_secs(5)).unwrap();
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            "the text\nweb crashed|crashmail\n"
        );
    }

    #[test]
    fn exit_statuses_are_classified_as_sendmail_s() {
        let s = Duration::from_secs(5);
        assert!(matches!(
            run("exit 127", s),
            Err(DeliveryError::Permanent(m)) if m.contains("not found")
        ));
        assert!(matches!(
            run("exit 126", s),
            Err(DeliveryError::Permanent(_))
        ));
        assert!(matches!(
            run("echo nope >&2; exit 3", s),
            Err(DeliveryError::Transient(m)) if m.contains("status 3") && m.contains("nope")
        ));
        assert!(matches!(
            run("sleep 5", Duration::from_millis(200)),
            Err(DeliveryError::Transient(m)) if m.contains("timed out")
        ));
    }

    #[test]
    fn the_description_shows_the_first_word_only() {
        let c = CommandChannel::new(
            "command".into(),
            "curl -H 'Authorization: s3cr3t' https://x".into(),
            DEFAULT_TIMEOUT,
        );
        assert_eq!(c.describe(), "command \"curl …\"");
    }
}
