//! crashmailbatch: one mail per interval listing the programs that exited unexpectedly
//! (docs/crashmailbatch.md). The batching, the TICK clock and the options are the shared
//! batch mailer's (src/batch.rs); this file is what makes it crashmailbatch.

use clap::{ArgMatches, Command};

use crate::batch::{self, Kind};
use crate::event::{ProcessState, StateChange};
use crate::Error;

static KIND: Kind = Kind {
    name: "crashmailbatch",
    about: "Mail, once per interval, the list of supervisord programs that exited unexpectedly",
    default_subject: Some("Crash alert from supervisord"),
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

/// superlance's text (crashmailbatch.py), so that mail filters keep working.
fn line(c: &StateChange, asctime: &str) -> Option<String> {
    if c.state != ProcessState::Exited || c.expected != Some(false) {
        return None;
    }
    let pid = c.pid.map_or_else(|| "?".to_owned(), |p| p.to_string());
    Some(format!(
        "{asctime} -- Process {}:{} (pid {pid}) died unexpectedly",
        c.process.group, c.process.name
    ))
}

/// The batch's last line for a program over `--max-lines` (ours: superlance listed every
/// line), in the style of the lines above it.
fn more(program: &str, n: u64, first: &str, last: &str) -> String {
    if n == 1 {
        format!("{program}: 1 more crash at {first}")
    } else {
        format!("{program}: {n} more crashes between {first} and {last}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Process;

    fn change(state: ProcessState, expected: Option<bool>) -> StateChange<'static> {
        StateChange {
            state,
            process: Process {
                name: "web_01",
                group: "web",
            },
            from_state: "RUNNING",
            pid: Some(4242),
            tries: None,
            expected,
        }
    }

    #[test]
    fn superlance_line_for_unexpected_exits_only() {
        let at = "2026-11-29 11:40:05,123";
        assert_eq!(
            line(&change(ProcessState::Exited, Some(false)), at).as_deref(),
            Some("2026-11-29 11:40:05,123 -- Process web:web_01 (pid 4242) died unexpectedly")
        );
        assert_eq!(line(&change(ProcessState::Exited, Some(true)), at), None);
        assert_eq!(line(&change(ProcessState::Fatal, None), at), None);
    }

    #[test]
    fn issue_15_the_more_line() {
        let (a, b) = ("2026-11-29 11:40:05,123", "2026-11-29 11:41:00,001");
        assert_eq!(
            more("web:web_01", 4812, a, b),
            "web:web_01: 4812 more crashes between 2026-11-29 11:40:05,123 and 2026-11-29 11:41:00,001"
        );
        assert_eq!(
            more("web:web_01", 1, a, a),
            "web:web_01: 1 more crash at 2026-11-29 11:40:05,123"
        );
    }
}
