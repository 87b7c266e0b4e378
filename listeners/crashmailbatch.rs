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
}
