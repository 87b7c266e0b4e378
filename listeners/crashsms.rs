//! crashsms: one short message per interval listing the programs that exited unexpectedly,
//! for an e-mail-to-SMS gateway: no Subject header unless `-s` is given, one short line per
//! exit (docs/crashsms.md). The batching, the TICK clock and the options are the shared batch
//! mailer's (src/batch.rs); this file is what makes it crashsms.

use clap::{ArgMatches, Command};

use crate::batch::{self, Kind};
use crate::event::{ProcessState, StateChange};
use crate::Error;

static KIND: Kind = Kind {
    name: "crashsms",
    about: "Send, once per interval, a short message (e-mail to an SMS gateway) listing the supervisord programs that exited unexpectedly",
    default_subject: None,
    what: "unexpected exits",
    events: "PROCESS_STATE_EXITED",
    line,
    more,
};

/// superlance's spellings: the batch tools' shared parser's.
pub const SUPERLANCE_LONGS: &[&str] = batch::SUPERLANCE_LONGS;

pub fn command() -> Command {
    batch::command(&KIND)
}

pub fn run(m: &ArgMatches) -> Result<(), Error> {
    batch::run(&KIND, m)
}

/// superlance's text (crashsms.py), so that what arrives on the phone does not change.
fn line(c: &StateChange, asctime: &str) -> Option<String> {
    if c.state != ProcessState::Exited || c.expected != Some(false) {
        return None;
    }
    let pid = c.pid.map_or_else(|| "?".to_owned(), |p| p.to_string());
    Some(format!(
        "[{}:{}]({pid}) exited unexpectedly {asctime}",
        c.process.group, c.process.name
    ))
}

/// The message's last line for a program over `--max-lines` (ours: superlance listed every
/// line), short like the lines above it.
fn more(program: &str, n: u64, first: &str, last: &str) -> String {
    if n == 1 {
        format!("[{program}] 1 more crash {first}")
    } else {
        format!("[{program}] {n} more crashes {first} to {last}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Process;

    #[test]
    fn superlance_line_for_unexpected_exits_only() {
        let mut c = StateChange {
            state: ProcessState::Exited,
            process: Process {
                name: "web_01",
                group: "web",
            },
            from_state: "RUNNING",
            pid: Some(4242),
            tries: None,
            expected: Some(false),
        };
        assert_eq!(
            line(&c, "2026-11-29 11:40:05,123").as_deref(),
            Some("[web:web_01](4242) exited unexpectedly 2026-11-29 11:40:05,123")
        );
        c.expected = Some(true);
        assert_eq!(line(&c, "T"), None);
    }

    #[test]
    fn issue_15_the_more_line_is_short_too() {
        let (a, b) = ("2026-11-29 11:40:05,123", "2026-11-29 11:41:00,001");
        assert_eq!(
            more("web:web_01", 4812, a, b),
            "[web:web_01] 4812 more crashes 2026-11-29 11:40:05,123 to 2026-11-29 11:41:00,001"
        );
        assert_eq!(
            more("web:web_01", 1, a, a),
            "[web:web_01] 1 more crash 2026-11-29 11:40:05,123"
        );
    }
}
