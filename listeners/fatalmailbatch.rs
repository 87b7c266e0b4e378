//! fatalmailbatch: one mail per interval listing the programs supervisord gave up starting
//! (FATAL) (docs/fatalmailbatch.md). The batching, the TICK clock and the options are the
//! shared batch mailer's (src/batch.rs); this file is what makes it fatalmailbatch.

use clap::{ArgMatches, Command};

use crate::batch::{self, Kind};
use crate::event::{ProcessState, StateChange};
use crate::Error;

static KIND: Kind = Kind {
    name: "fatalmailbatch",
    about: "Mail, once per interval, the list of supervisord programs that could not be started (FATAL)",
    default_subject: Some("Fatal start alert from supervisord"),
    what: "failed starts (FATAL)",
    events: "PROCESS_STATE_FATAL",
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

/// superlance's text (fatalmailbatch.py), so that mail filters keep working.
fn line(c: &StateChange, asctime: &str) -> Option<String> {
    (c.state == ProcessState::Fatal).then(|| {
        format!(
            "{asctime} -- Process {}:{} failed to start too many times",
            c.process.group, c.process.name
        )
    })
}

/// The batch's last line for a program over `--max-lines` (ours: superlance listed every
/// line), in the style of the lines above it.
fn more(program: &str, n: u64, first: &str, last: &str) -> String {
    if n == 1 {
        format!("{program}: 1 more FATAL state at {first}")
    } else {
        format!("{program}: {n} more FATAL states between {first} and {last}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Process;

    #[test]
    fn superlance_line_for_fatal_only() {
        let mut c = StateChange {
            state: ProcessState::Fatal,
            process: Process {
                name: "db",
                group: "backend",
            },
            from_state: "BACKOFF",
            pid: None,
            tries: None,
            expected: None,
        };
        assert_eq!(
            line(&c, "2026-11-29 11:40:05,123").as_deref(),
            Some("2026-11-29 11:40:05,123 -- Process backend:db failed to start too many times")
        );
        c.state = ProcessState::Backoff;
        assert_eq!(line(&c, "T"), None);
    }

    #[test]
    fn issue_15_the_more_line() {
        let (a, b) = ("2026-11-29 11:40:05,123", "2026-11-29 11:41:00,001");
        assert_eq!(
            more("backend:db", 12, a, b),
            "backend:db: 12 more FATAL states between 2026-11-29 11:40:05,123 and 2026-11-29 11:41:00,001"
        );
        assert_eq!(
            more("backend:db", 1, a, a),
            "backend:db: 1 more FATAL state at 2026-11-29 11:40:05,123"
        );
    }
}
