//! The sendmail command: superlance's transport (`-s/--sendmail_program`).
//!
//! lettre's own `SendmailTransport` cannot run superlance's default `/usr/sbin/sendmail -t -i`
//! (it takes one path and adds its own arguments), so [`Sendmail`] pipes the message itself,
//! with LF line ends, as a local MTA reads it and as superlance wrote it.

use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::time::Duration;

use super::output::describe_output;
use crate::command::{run_shell, seconds, Finished};
use crate::notify::channel::mail::message::with_lf_line_ends;
use crate::notify::channel::mail::Transport;
use crate::notify::channel::{DeliveryError, Rendered};

/// Pipe the message to `sh -c "<command>"`, superlance's semantics: the command reads the
/// recipients from the headers (`sendmail -t`), so the envelope is not passed.
///
/// The command runs as src/command.rs runs commands: a process group of its own, stdin,
/// stdout and stderr all piped (our stdout belongs to the supervisord protocol), the whole
/// group killed on timeout. Exit status 0 is success; its output is logged at debug level.
///
/// Exit statuses: 127 (the shell did not find the command) and 126 (found, not executable)
/// are permanent: they are configuration errors that retrying cannot cure while we run. Every
/// other non-zero status, and death by a signal, is transient: sendmail's EX_TEMPFAIL (75)
/// says so, and other MTAs use other codes (or 1) for "queue unavailable", "cannot connect to
/// the relay" and the like, where a retry is what a user wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sendmail {
    /// A shell command line, e.g. `/usr/sbin/sendmail -t -i`.
    pub command: String,
    pub timeout: Duration,
}

impl Sendmail {
    fn run(&self, input: &[u8]) -> Result<Finished, DeliveryError> {
        run_shell(&self.command, &[], Some(input), self.timeout).map_err(|e| {
            DeliveryError::Transient(format!("sendmail command {:?}: {e}", self.command))
        })
    }
}

impl Transport for Sendmail {
    fn deliver(&mut self, mail: &Rendered) -> Result<(), DeliveryError> {
        let done = self.run(&with_lf_line_ends(&mail.message))?;
        let output = describe_output(&done.stdout, &done.stderr);
        let Some(status) = done.status else {
            return Err(DeliveryError::Transient(format!(
                "sendmail command {:?} timed out after {}, killed{}",
                self.command,
                seconds(self.timeout),
                if output.is_empty() {
                    String::new()
                } else {
                    format!(": {output}")
                }
            )));
        };
        classify_exit(&self.command, status, &output)
    }

    fn describe(&self) -> String {
        format!("sendmail command {:?}", self.command)
    }
}

/// What an exit status means for the mail; see [`Sendmail`] for the rule.
fn classify_exit(command: &str, status: ExitStatus, output: &str) -> Result<(), DeliveryError> {
    let said = if output.is_empty() {
        " (no output)".to_owned()
    } else {
        format!(": {output}")
    };
    match (status.code(), status.signal()) {
        (Some(0), _) => {
            if !output.is_empty() {
                log::debug!("sendmail command {command:?} said: {output}");
            }
            Ok(())
        }
        (Some(127), _) => Err(DeliveryError::Permanent(format!(
            "sendmail command {command:?} not found (sh exit status 127){said}; \
             install an MTA, fix -s/--sendmail_program, or use --smtp-host"
        ))),
        (Some(126), _) => Err(DeliveryError::Permanent(format!(
            "sendmail command {command:?} cannot be executed (sh exit status 126){said}"
        ))),
        (Some(75), _) => Err(DeliveryError::Transient(format!(
            "sendmail command {command:?} exited with status 75 (EX_TEMPFAIL){said}"
        ))),
        (Some(code), _) => Err(DeliveryError::Transient(format!(
            "sendmail command {command:?} exited with status {code}{said}"
        ))),
        (None, signal) => Err(DeliveryError::Transient(format!(
            "sendmail command {command:?} was killed by signal {}{said}",
            signal.map_or_else(|| "?".to_owned(), |s| s.to_string())
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::thread;
    use std::time::Instant;

    fn mail() -> Rendered {
        Rendered {
            from: "supervisor@host1".into(),
            to: vec!["ops@example.com".into()],
            headers: Vec::new(),
            message: b"To: ops@example.com\r\nSubject: test\r\n\r\nbody\r\n".to_vec(),
            summary: "test".into(),
        }
    }

    fn sendmail(command: &str, timeout_ms: u64) -> Sendmail {
        Sendmail {
            command: command.into(),
            timeout: Duration::from_millis(timeout_ms),
        }
    }

    #[test]
    fn exit_0_delivers_and_the_message_reaches_stdin() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("got");
        let mut t = sendmail(&format!("cat > '{}'", file.display()), 5000);
        t.deliver(&mail()).unwrap();
        // LF line ends, as a local MTA reads them and superlance wrote them (issue 16).
        assert_eq!(
            std::fs::read(&file).unwrap(),
            b"To: ops@example.com\nSubject: test\n\nbody\n"
        );
    }

    #[test]
    fn tempfail_and_other_codes_are_transient_with_stderr() {
        let mut t = sendmail("cat >/dev/null; echo 'queue is full' >&2; exit 75", 5000);
        match t.deliver(&mail()) {
            Err(DeliveryError::Transient(m)) => {
                assert!(m.contains("status 75 (EX_TEMPFAIL)"), "{m}");
                assert!(m.contains("queue is full"), "{m}");
            }
            other => panic!("{other:?}"),
        }
        let mut t = sendmail("echo out; echo 'relay down' >&2; exit 1", 5000);
        match t.deliver(&mail()) {
            Err(DeliveryError::Transient(m)) => {
                assert!(m.contains("status 1: relay down | stdout: out"), "{m}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_missing_command_is_permanent() {
        let mut t = sendmail("/nonexistent/sendmail -t -i", 5000);
        match t.deliver(&mail()) {
            Err(DeliveryError::Permanent(m)) => {
                assert!(m.contains("not found (sh exit status 127)"), "{m}");
                assert!(m.contains("/nonexistent/sendmail"), "{m}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_hung_command_is_killed_with_its_group() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("pid");
        // The shell starts a grandchild and waits for it: both must die.
        let mut t = sendmail(
            &format!("sleep 10 & echo $! > '{}'; wait", pidfile.display()),
            500,
        );
        let started = Instant::now();
        match t.deliver(&mail()) {
            Err(DeliveryError::Transient(m)) => {
                assert!(m.contains("timed out after 0.5 s, killed"), "{m}");
            }
            other => panic!("{other:?}"),
        }
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // The grandchild is not ours to reap (sh was its parent): it is gone or a zombie
        // of init's, shortly.
        let gone = (0..100).any(|_| {
            let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let dead = state.is_empty() || state.contains(") Z ");
            if !dead {
                thread::sleep(Duration::from_millis(20));
            }
            dead
        });
        assert!(gone, "sleep {pid} survived the kill");
    }

    #[test]
    fn a_command_that_does_not_read_stdin_is_fine() {
        let mut t = sendmail("exit 0", 5000);
        let mut big = mail();
        big.message = vec![b'x'; 1 << 20];
        t.deliver(&big).unwrap();
    }

    #[test]
    fn signals_are_transient() {
        let mut t = sendmail("kill -TERM $$", 5000);
        match t.deliver(&mail()) {
            Err(DeliveryError::Transient(m)) => assert!(m.contains("signal 15"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn describe_names_the_command() {
        assert_eq!(
            sendmail("/usr/sbin/sendmail -t -i", 1).describe(),
            "sendmail command \"/usr/sbin/sendmail -t -i\""
        );
    }

    #[test]
    fn seconds_read_well() {
        assert_eq!(seconds(Duration::from_secs(30)), "30 s");
        assert_eq!(seconds(Duration::from_millis(1500)), "1.5 s");
    }
}
