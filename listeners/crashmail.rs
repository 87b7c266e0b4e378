//! crashmail: mail when a supervisord program exits unexpectedly (docs/crashmail.md).
//!
//! Drop-in for superlance's crashmail: same options, subject and body, so existing mail
//! filters keep working. Fixed: `-p` and `-a` are honoured (superlance #18, #125: superlance
//! parsed them and mailed every crash anyway); without `-m` nothing is mailed and the start-up
//! log says so (superlance piped a mail `To: None`); mail goes through the shared mail layer,
//! so SMTP works too (superlance #28) and delivery never blocks supervisord.
//!
//! `--tail N` (issue 12) adds the exit status and the last N stderr lines under superlance's
//! body, gathered over XML-RPC by the crash-context worker (src/crash_context/worker.rs), so
//! that supervisord never waits for a call; without it the mail is superlance's, byte for byte.

use clap::{Arg, ArgMatches, Command};

use std::time::SystemTime;

use crate::crash_context::{self, worker::Context, worker::Delivery};
use crate::event::{Event, ProcessState, StateChange};
use crate::notify::channel::mail::options;
use crate::notify::{self, Notification};
use crate::protocol::Ack;
use crate::runtime::{self, Listener};
use crate::select::{self, Selection};
use crate::Error;

/// The long options superlance's crashmail knew (its getopt list, crashmail.py `main`): a
/// unique prefix of one of these still means it (src/legacy_argv.rs). Frozen: never add ours.
pub const SUPERLANCE_LONGS: &[&str] = &[
    "help",
    "program",
    "any",
    "optionalheader",
    "sendmail_program",
    "email",
];

pub fn command() -> Command {
    Command::new("crashmail")
        .about("Mail when a supervisord program exits unexpectedly (PROCESS_STATE_EXITED with expected:0)")
        .after_help(
            "Subscribe the pool to PROCESS_STATE_EXITED (or PROCESS_STATE):\n\n  \
             [eventlistener:crashmail]\n  command=crashmail -p program1 -p group1:program2 -m dev@example.com\n  \
             events=PROCESS_STATE_EXITED",
        )
        .arg(select::program_arg(
            Some('p'),
            "Mail when this program exits unexpectedly: NAME, GROUP:NAME or GROUP:* (repeatable)",
        ))
        .arg(select::any_arg(Some('a'), "Mail when any program exits unexpectedly (overrides -p)"))
        .arg(
            Arg::new("optionalheader")
                .short('o')
                .long("optionalheader")
                .value_name("STRING")
                .help("A prefix for the mail subject: '<STRING>: <program> crashed at <time>'"),
        )
        .arg(
            options::sendmail_program_arg(),
        )
        .arg(
            options::email_arg("Mail this address (several: comma-separated); without it nothing is mailed"),
        )
        .arg(crash_context::tail_arg("the crash mail (and every channel's message)"))
        .args(options::args())
        .args(notify::options::args())
}

pub fn run(m: &ArgMatches) -> Result<(), Error> {
    let selection = Selection::from_matches(m);
    let options::PerEventMail {
        recipients,
        transport,
        config,
    } = options::per_event_mail(m)?;

    if selection.is_empty() {
        // superlance's effective behaviour (it never read -p/-a), now said out loud.
        log::warn!("no -p or -a given: mailing the unexpected exit of every program");
    }
    let about = format!(
        "unexpected exits of {}",
        if selection.is_empty() {
            "every process".to_owned()
        } else {
            selection.describe()
        }
    );
    let others = notify::options::channels(m, "crashmail")?;
    let mut notifier = options::notifier_for(&recipients, &about, transport, config, others)?;
    notify::options::export_figures(m, "crashmail", notifier.as_mut())?;
    let tail = crash_context::tail_lines(m);
    if let (Some(n), Some(_)) = (tail, &notifier) {
        log::info!("with the exit status and the last {n} lines of stderr (--tail)");
    }
    let mut listener = Crashmail {
        selection: if selection.is_empty() {
            Selection::any()
        } else {
            selection
        },
        prefix: m.get_one::<String>("optionalheader").cloned(),
        hostname: notify::options::hostname(m),
        verb: if recipients.is_empty() {
            "notifying"
        } else {
            "mailing"
        },
        delivery: Delivery::start(notifier, tail)?,
    };
    runtime::run(&mut listener)
}

pub struct Crashmail {
    selection: Selection,
    prefix: Option<String>,
    /// This machine's name, for the notification (read once: not per crash).
    hostname: String,
    /// The log's word for handing a crash over: `mailing` with `-m`, else `notifying` (other
    /// channels only).
    verb: &'static str,
    /// The notifier, behind the crash-context worker with `--tail`.
    delivery: Delivery,
}

impl Crashmail {
    /// The notification of this exit, at `time`: superlance's subject and body as its
    /// subject and text.
    fn compose(&self, exit: &StateChange, asctime: &str, time: SystemTime) -> Notification {
        let name = exit.process.name;
        let subject = match &self.prefix {
            Some(prefix) => format!("{prefix}: {name} crashed at {asctime}"),
            None => format!("{name} crashed at {asctime}"),
        };
        let pid = exit.pid.map_or_else(|| "?".to_owned(), |p| p.to_string());
        let body = format!(
            "Process {name} in group {} exited unexpectedly (pid {pid}) from state {}",
            exit.process.group, exit.from_state
        );
        Notification {
            subject: Some(subject),
            text: body,
            ..Notification::state_change("crashmail", &self.hostname, exit, time)
        }
    }
}

impl Listener for Crashmail {
    fn handle(&mut self, event: &Event) -> Ack {
        let Event::ProcessState(exit) = event else {
            return Ack::Ok;
        };
        if exit.state != ProcessState::Exited
            || exit.expected != Some(false)
            || !self.selection.matches_process(&exit.process)
        {
            return Ack::Ok;
        }
        let n = self.compose(exit, &crate::time::asctime(), SystemTime::now());
        if self.delivery.sends() {
            log::info!(
                "{}: unexpected exit, {}: {}",
                exit.process.namespec(),
                self.verb,
                n.subject.as_deref().unwrap_or("")
            );
            let context = Context {
                namespec: exit.process.namespec(),
                pid: exit.pid,
            };
            self.delivery.send(n, Some(context));
        } else {
            log::info!(
                "{}: unexpected exit (not mailed: no -m/--email): {}",
                exit.process.namespec(),
                n.text
            );
        }
        Ack::Ok
    }

    fn shutdown(&mut self) {
        self.delivery.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Process;
    use crate::select::Spec;

    fn listener(specs: &[&str], any: bool, prefix: Option<&str>) -> Crashmail {
        let selection =
            Selection::new(specs.iter().map(|s| Spec::parse(s).unwrap()).collect(), any);
        Crashmail {
            selection,
            prefix: prefix.map(str::to_owned),
            hostname: "host1".into(),
            verb: "mailing",
            delivery: Delivery::Log,
        }
    }

    fn exited<'a>(group: &'a str, name: &'a str, expected: bool) -> StateChange<'a> {
        StateChange {
            state: ProcessState::Exited,
            process: Process { name, group },
            from_state: "RUNNING",
            pid: Some(4242),
            tries: None,
            expected: Some(expected),
        }
    }

    #[test]
    fn superlance_subject_and_body() {
        let l = listener(&[], true, None);
        let at = SystemTime::UNIX_EPOCH;
        let m = l.compose(
            &exited("web", "web_01", false),
            "2026-11-24 18:30:05,123",
            at,
        );
        assert_eq!(
            m.subject.as_deref(),
            Some("web_01 crashed at 2026-11-24 18:30:05,123")
        );
        assert_eq!(
            m.text,
            "Process web_01 in group web exited unexpectedly (pid 4242) from state RUNNING"
        );
        assert_eq!(m.key.as_deref(), Some("web:web_01"));
        // The structured fields every channel renders.
        assert_eq!(m.listener, "crashmail");
        assert_eq!(m.hostname, "host1");
        assert_eq!(m.event.as_deref(), Some("PROCESS_STATE_EXITED"));
        assert_eq!(m.group.as_deref(), Some("web"));
        assert_eq!(m.program.as_deref(), Some("web_01"));
        assert_eq!(m.from_state.as_deref(), Some("RUNNING"));
        assert_eq!(m.to_state.as_deref(), Some("EXITED"));
        assert_eq!((m.pid, m.expected, m.time), (Some(4242), Some(false), at));
        let l = listener(&[], true, Some("prod-db1"));
        let m = l.compose(&exited("web", "web_01", false), "T", at);
        assert_eq!(m.subject.as_deref(), Some("prod-db1: web_01 crashed at T"));
    }

    #[test]
    fn only_selected_unexpected_exits_count() {
        // superlance #18, #125: -p was parsed and ignored.
        let mut l = listener(&["group1:program2"], false, None);
        let selected = |l: &Crashmail, c: &StateChange| {
            c.state == ProcessState::Exited
                && c.expected == Some(false)
                && l.selection.matches_process(&c.process)
        };
        assert!(selected(&l, &exited("group1", "program2", false)));
        assert!(!selected(&l, &exited("group1", "program2", true)));
        assert!(!selected(&l, &exited("group2", "program2", false)));
        assert_eq!(
            l.handle(&Event::ProcessState(exited("group1", "program2", false))),
            Ack::Ok
        );
        assert_eq!(l.handle(&Event::Tick { period: 5, when: 0 }), Ack::Ok);
    }

    #[test]
    fn with_tail_the_crash_s_context_follows_superlance_s_text() {
        use crate::crash_context::worker::tests::Recorder;
        use crate::crash_context::worker::TailWorker;
        use std::sync::Arc;
        let rec = Arc::new(Recorder::default());
        let gather: crate::crash_context::Gather =
            Box::new(|namespec, pid| vec![format!("Exit status: 3 ({namespec} {pid:?})")]);
        let mut l = listener(&[], true, None);
        l.delivery = Delivery::Tail(TailWorker::start(rec.clone(), gather, 10).unwrap());
        l.handle(&Event::ProcessState(exited("web", "web_01", true)));
        l.handle(&Event::ProcessState(exited("web", "web_01", false)));
        l.shutdown();
        assert_eq!(
            rec.texts(),
            [
                "Process web_01 in group web exited unexpectedly (pid 4242) from state RUNNING \
              [\"Exit status: 3 (web:web_01 Some(4242))\"]"
            ]
        );
    }
}
