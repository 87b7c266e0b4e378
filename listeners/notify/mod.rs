//! notify: a router for the process state changes people want to hear about (issue 12, "The
//! `notify` listener"; docs/notify-listener.md). `-e FATAL,BACKOFF,EXITED` picks the states,
//! `-p`/`-a` the programs (the one matcher, src/select.rs), `--template STATE=TEXT` the words
//! (src/template.rs), and every channel of the shared delivery layer says it: mail (`-m`, the
//! shared mail options) and whatever `notify::options` builds (webhook, chat, Alertmanager,
//! command), with the Notifier's flood control.
//!
//! Resolve: when a program we reported in a problem state (FATAL, BACKOFF, UNKNOWN, an
//! unexpected EXITED) reaches RUNNING, one `Kind::Resolved` notification says so ("is RUNNING
//! again"; Alertmanager ends the alert). The programs with an open problem are a map keyed by
//! `group:name`: at most one entry per program supervisord has, so it is bounded by
//! supervisord's configuration.
//!
//! Crash context (`--tail N`): the exit status and the last N stderr lines come from
//! supervisord over XML-RPC, which may take seconds; supervisord waits for our RESULT, so the
//! calls run on one worker thread (`tail`) behind a bounded queue that keeps every job
//! in order. With `--tail`, every notification goes through that queue (not only crashes), so
//! that a resolve is never sent before the crash it resolves.
//!
//! Not in superlance; its peers are supervisor-discord (a message format per program, Discord
//! only) and superslacker (Slack only, batched at each TICK).
//!
//! The crash-context worker and the delivery are shared with crashmail and the batch mailers
//! (src/crash_context/worker.rs).

use std::collections::HashMap;
use std::time::SystemTime;

use clap::{Arg, ArgAction, ArgMatches, Command};

use crate::event::{Event, ProcessState, StateChange};
use crate::notify::channel::mail::options;
use crate::notify::{Kind, Notification, Notifier};
use crate::protocol::Ack;
use crate::runtime::{self, Listener};
use crate::select::{self, Selection};
use crate::template::{self, Template, Values};
use crate::time::LocalTime;
use crate::Error;

use crate::crash_context::worker::{Context, Delivery};

/// The listener's name, in every notification.
const NAME: &str = "notify";

/// A listener superlance never had: its long options as first released (frozen).
pub const SUPERLANCE_LONGS: &[&str] = &[
    "help",
    "events",
    "unexpected-only",
    "program",
    "any",
    "email",
    "sendmail_program",
    "template",
    "tail",
    "no-resolve",
];

const EVENTS: &str = "events";
const UNEXPECTED_ONLY: &str = "unexpected-only";
const TEMPLATE: &str = "template";
const NO_RESOLVE: &str = "no-resolve";

pub fn command() -> Command {
    Command::new(NAME)
        .about(
            "Notify (mail, webhook, chat, Alertmanager, command) when supervisord programs reach \
             chosen states; say when they are RUNNING again",
        )
        .after_help(
            "Subscribe the pool to PROCESS_STATE:\n\n  \
             [eventlistener:notify]\n  \
             command=notify -e FATAL,BACKOFF,EXITED --unexpected-only -a -m ops@example.com --tail 20\n  \
             events=PROCESS_STATE",
        )
        .arg(
            Arg::new(EVENTS)
                .short('e')
                .long("events")
                .value_name("STATE,...")
                .required(true)
                .action(ArgAction::Append)
                .value_delimiter(',')
                .value_parser(parse_state)
                .help(
                    "Notify when a selected program reaches one of these states: FATAL, \
                     BACKOFF, EXITED, STOPPED, RUNNING, STARTING, STOPPING, UNKNOWN \
                     (comma-separated, repeatable)",
                ),
        )
        .arg(
            Arg::new(UNEXPECTED_ONLY)
                .long("unexpected-only")
                .action(ArgAction::SetTrue)
                .help("EXITED only when supervisord did not expect the exit (expected:0, an exit code not in exitcodes); other states unaffected"),
        )
        .arg(select::program_arg(
            Some('p'),
            "Notify about this program: NAME, GROUP:NAME or GROUP:* (repeatable)",
        ))
        .arg(select::any_arg(
            Some('a'),
            "Notify about every program (overrides -p; never this listener itself)",
        ))
        .arg(
            Arg::new(TEMPLATE)
                .long("template")
                .value_name("STATE=TEXT")
                .action(ArgAction::Append)
                .value_parser(template::parse_state_template)
                .help(format!(
                    "The text of a STATE's notification (the mail body, the chat message); \
                     fields {}; RUNNING=TEXT also words the resolve (repeatable)",
                    template::FIELDS.map(|f| format!("{{{f}}}")).join(" ")
                )),
        )
        .arg(crate::crash_context::tail_arg("EXITED, FATAL and BACKOFF notifications"))
        .arg(
            Arg::new(NO_RESOLVE)
                .long("no-resolve")
                .action(ArgAction::SetTrue)
                .help("Do not notify when a program reported FATAL, BACKOFF, UNKNOWN or unexpectedly EXITED is RUNNING again"),
        )
        .arg(
            options::sendmail_program_arg(),
        )
        .arg(
            options::email_arg("Mail this address (several: comma-separated)"),
        )
        .args(options::args())
        .args(crate::notify::options::args())
}

/// A state name as supervisord spells it, in any case, `PROCESS_STATE_` prefix allowed.
fn parse_state(text: &str) -> Result<ProcessState, String> {
    let upper = text.trim().to_ascii_uppercase();
    let name = upper.strip_prefix("PROCESS_STATE_").unwrap_or(&upper);
    ProcessState::from_name(name).ok_or_else(|| {
        format!(
            "{text:?} is not a process state; the states are {}",
            ProcessState::ALL.map(ProcessState::name).join(", ")
        )
    })
}

pub fn run(m: &ArgMatches) -> Result<(), Error> {
    let rules = Rules::from_matches(m)?;
    let about = rules.describe();
    let tail = crate::crash_context::tail_lines(m);
    let notifier = notifier(m, &about)?;
    log::info!(
        "notifying about {about}{}{}",
        if rules.resolve {
            "; and when they are RUNNING again"
        } else {
            ""
        },
        match tail {
            Some(n) => format!("; with the exit status and the last {n} lines of stderr"),
            None => String::new(),
        }
    );
    let mut listener = Notify::new(rules, Delivery::start(notifier, tail)?);
    runtime::run(&mut listener)
}

/// Mail (`-m`) and the channels `notify::options` builds, in one notifier; `None` when there is
/// no channel at all (what would have been sent is logged).
fn notifier(m: &ArgMatches, about: &str) -> Result<Option<Notifier>, Error> {
    let options::PerEventMail {
        recipients,
        transport,
        config,
    } = options::per_event_mail(m)?;
    let others = crate::notify::options::channels(m, NAME)?;
    let mut notifier = options::notifier_for(&recipients, about, transport, config, others)?;
    crate::notify::options::export_figures(m, NAME, notifier.as_mut())?;
    Ok(notifier)
}

// ---------------------------------------------------------------------------------------------
// What is notified, and in which words.

/// The decisions, from the options: which changes notify, and what they say.
#[derive(Debug, Clone)]
struct Rules {
    selection: Selection,
    states: Vec<ProcessState>,
    unexpected_only: bool,
    resolve: bool,
    /// By state: the text of its notification (RUNNING's also words the resolve).
    templates: HashMap<ProcessState, Template>,
    /// `--hostname`, else this machine's name: in the mail subject and every message.
    hostname: String,
}

impl Rules {
    fn from_matches(m: &ArgMatches) -> Result<Rules, Error> {
        let selection = Selection::from_matches(m).excluding_own(Selection::own_from_env());
        if selection.is_empty() {
            return Err(Error::Usage(
                "say which programs: -p NAME (repeatable), or -a for every one".to_owned(),
            ));
        }
        let mut states: Vec<ProcessState> = Vec::new();
        for s in m.get_many::<ProcessState>(EVENTS).into_iter().flatten() {
            if !states.contains(s) {
                states.push(*s);
            }
        }
        let resolve = !m.get_flag(NO_RESOLVE);
        let mut templates = HashMap::new();
        for (state, text) in m
            .get_many::<(String, Template)>(TEMPLATE)
            .into_iter()
            .flatten()
        {
            let s = parse_state(state).map_err(|e| Error::Usage(format!("--template: {e}")))?;
            let used = states.contains(&s) || (s == ProcessState::Running && resolve);
            if !used {
                return Err(Error::Usage(format!(
                    "--template {state}=...: {state} is not in -e, so it would never be used \
                     (add it to -e, or drop the template)"
                )));
            }
            if templates.insert(s, text.clone()).is_some() {
                log::warn!("--template {state} given twice: the last one is used");
            }
        }
        Ok(Rules {
            selection,
            states,
            unexpected_only: m.get_flag(UNEXPECTED_ONLY),
            resolve,
            templates,
            hostname: crate::notify::options::hostname(m),
        })
    }

    /// For log lines: `FATAL, EXITED (unexpected only) of web:*`.
    fn describe(&self) -> String {
        let states: Vec<String> = self
            .states
            .iter()
            .map(|s| match s {
                ProcessState::Exited if self.unexpected_only => "EXITED (unexpected only)".into(),
                s => s.name().to_owned(),
            })
            .collect();
        format!("{} of {}", states.join(", "), self.selection.describe())
    }

    /// Whether `change` is notified as an event of its own.
    fn notifies(&self, change: &StateChange) -> bool {
        self.states.contains(&change.state)
            && !(change.state == ProcessState::Exited
                && self.unexpected_only
                && change.expected != Some(false))
    }

    /// The notification of `change`, of `kind`, at `time`.
    fn compose(&self, change: &StateChange, kind: Kind, time: SystemTime) -> Notification {
        let namespec = change.process.namespec();
        let host = &self.hostname;
        let asctime = LocalTime::at(time).to_string();
        let values = Values {
            program: change.process.name.to_owned(),
            group: change.process.group.to_owned(),
            from_state: change.from_state.to_owned(),
            to_state: change.state.name().to_owned(),
            pid: change.pid,
            hostname: host.clone(),
            time: asctime.clone(),
            expected: change.expected,
        };
        let state = change.state.name();
        let again = if kind == Kind::Resolved { " again" } else { "" };
        let subject = format!("{host}: {namespec} is {state}{again}");
        let text = match self.templates.get(&change.state) {
            Some(t) => t.render(&values),
            None => {
                let mut how = vec![format!("from {}", change.from_state)];
                if let Some(pid) = change.pid {
                    how.push(format!("pid {pid}"));
                }
                match change.expected {
                    Some(true) => how.push("expected exit".into()),
                    Some(false) => how.push("unexpected exit".into()),
                    None => {}
                }
                format!(
                    "Process {namespec} is {state}{again} on {host} at {asctime} ({})",
                    how.join(", ")
                )
            }
        };
        Notification {
            kind,
            subject: Some(subject),
            text,
            ..Notification::state_change(NAME, host, change, time)
        }
    }
}

/// A state change that leaves a program in trouble, as far as a resolve is concerned. STOPPED
/// and STOPPING are somebody's decision; an expected exit is the program's job done.
fn is_problem(change: &StateChange) -> bool {
    match change.state {
        ProcessState::Fatal | ProcessState::Backoff | ProcessState::Unknown => true,
        ProcessState::Exited => change.expected == Some(false),
        _ => false,
    }
}

/// The states whose notification carries crash context with `--tail`.
fn wants_context(state: ProcessState) -> bool {
    matches!(
        state,
        ProcessState::Exited | ProcessState::Fatal | ProcessState::Backoff
    )
}

// ---------------------------------------------------------------------------------------------
// The listener.

pub struct Notify {
    rules: Rules,
    /// The programs (`group:name`) whose problem we reported and that have not been RUNNING
    /// since, with the last problem state reported. At most one entry per program supervisord
    /// runs: bounded by its configuration, whatever the events.
    open: HashMap<String, ProcessState>,
    delivery: Delivery,
}

impl Notify {
    fn new(rules: Rules, delivery: Delivery) -> Notify {
        Notify {
            rules,
            open: HashMap::new(),
            delivery,
        }
    }

    /// What `change` gives rise to: nothing, an event, or a resolve (at most one).
    fn decide(&mut self, change: &StateChange) -> Option<Kind> {
        if !self.rules.selection.matches_process(&change.process) {
            return None;
        }
        let notifies = self.rules.notifies(change);
        let namespec = change.process.namespec();
        if change.state == ProcessState::Running {
            // A RUNNING that ends a reported problem is its resolve, whether or not RUNNING
            // is in -e: one notification, never two, and Alertmanager's alert ends.
            if self.open.remove(&namespec).is_some() {
                return Some(Kind::Resolved);
            }
            return notifies.then_some(Kind::Event);
        }
        if !notifies {
            return None;
        }
        if self.rules.resolve && is_problem(change) {
            self.open.insert(namespec, change.state);
        }
        Some(Kind::Event)
    }

    fn send(&mut self, n: Notification, context: Option<Context>) {
        let summary = n.summary();
        if self.delivery.sends() {
            log::info!("notifying: {summary}");
            self.delivery.send(n, context);
        } else {
            log::info!("{summary} (not sent: no channel): {}", n.text);
        }
    }
}

impl Listener for Notify {
    fn handle(&mut self, event: &Event) -> Ack {
        let Event::ProcessState(change) = event else {
            return Ack::Ok;
        };
        let Some(kind) = self.decide(change) else {
            return Ack::Ok;
        };
        let n = self.rules.compose(change, kind, SystemTime::now());
        let context = (kind == Kind::Event && wants_context(change.state)).then(|| Context {
            namespec: change.process.namespec(),
            pid: change.pid,
        });
        self.send(n, context);
        Ack::Ok
    }

    fn shutdown(&mut self) {
        self.delivery.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crash_context::worker::tests::Recorder;
    use crate::crash_context::worker::TailWorker;
    use crate::crash_context::Gather;
    use crate::event::Process;
    use std::sync::Arc;
    use std::time::Duration;

    fn rules(argv: &[&str]) -> Result<Rules, Error> {
        let m = command()
            .try_get_matches_from(std::iter::once("notify").chain(argv.iter().copied()))
            .map_err(|e| Error::Usage(e.to_string()))?;
        let mut r = Rules::from_matches(&m)?;
        r.hostname = "host1".into();
        Ok(r)
    }

    fn listener(argv: &[&str]) -> Notify {
        Notify::new(rules(argv).unwrap(), Delivery::Log)
    }

    fn change<'a>(
        name: &'a str,
        state: ProcessState,
        from: &'a str,
        expected: Option<bool>,
    ) -> StateChange<'a> {
        StateChange {
            state,
            process: Process { name, group: name },
            from_state: from,
            pid: matches!(state, ProcessState::Exited | ProcessState::Running).then_some(4242),
            tries: None,
            expected,
        }
    }

    use ProcessState::{Backoff, Exited, Fatal, Running, Starting, Stopped};

    #[test]
    fn states_parse_in_any_spelling() {
        assert_eq!(parse_state("fatal"), Ok(Fatal));
        assert_eq!(parse_state("PROCESS_STATE_BACKOFF"), Ok(Backoff));
        assert!(parse_state("CRASHED")
            .unwrap_err()
            .contains("FATAL, UNKNOWN"));
        let r = rules(&["-e", "FATAL,exited", "-e", "FATAL", "-a"]).unwrap();
        assert_eq!(r.states, [Fatal, Exited]);
    }

    #[test]
    fn a_selection_and_states_are_required() {
        let e = rules(&["-e", "FATAL"]).err().unwrap();
        assert!(e.to_string().contains("-p NAME"), "{e}");
        assert!(rules(&["-a"]).is_err());
        assert!(rules(&["-e", "CRASHED", "-a"]).is_err());
    }

    #[test]
    fn only_the_chosen_states_of_the_selected_programs_notify() {
        let mut l = listener(&["-e", "FATAL,EXITED", "-p", "web"]);
        assert_eq!(
            l.decide(&change("web", Fatal, "BACKOFF", None)),
            Some(Kind::Event)
        );
        assert_eq!(
            l.decide(&change("web", Exited, "RUNNING", Some(true))),
            Some(Kind::Event)
        );
        assert_eq!(l.decide(&change("web", Backoff, "STARTING", None)), None);
        assert_eq!(l.decide(&change("web", Stopped, "STOPPING", None)), None);
        assert_eq!(l.decide(&change("db", Fatal, "BACKOFF", None)), None);
        assert_eq!(l.handle(&Event::Tick { period: 5, when: 0 }), Ack::Ok);
    }

    #[test]
    fn unexpected_only_filters_exits_and_nothing_else() {
        let mut l = listener(&["-e", "EXITED,FATAL", "--unexpected-only", "-a"]);
        assert_eq!(
            l.decide(&change("web", Exited, "RUNNING", Some(true))),
            None
        );
        assert_eq!(
            l.decide(&change("web", Exited, "RUNNING", Some(false))),
            Some(Kind::Event)
        );
        assert_eq!(
            l.decide(&change("db", Fatal, "BACKOFF", None)),
            Some(Kind::Event)
        );
        assert_eq!(
            l.rules.describe(),
            "EXITED (unexpected only), FATAL of every process"
        );
    }

    #[test]
    fn default_words_and_templates() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let asctime = LocalTime::at(at).to_string();
        let r = rules(&["-e", "FATAL,EXITED", "-a"]).unwrap();
        let n = r.compose(
            &change("web", Exited, "RUNNING", Some(false)),
            Kind::Event,
            at,
        );
        assert_eq!(n.subject.as_deref(), Some("host1: web:web is EXITED"));
        assert_eq!(
            n.text,
            format!(
                "Process web:web is EXITED on host1 at {asctime} (from RUNNING, pid 4242, \
                 unexpected exit)"
            )
        );
        assert_eq!(
            (n.kind, n.listener.as_str(), n.key.as_deref()),
            (Kind::Event, "notify", Some("web:web"))
        );
        assert_eq!(n.to_state.as_deref(), Some("EXITED"));
        let n = r.compose(&change("web", Fatal, "BACKOFF", None), Kind::Event, at);
        assert_eq!(
            n.text,
            format!("Process web:web is FATAL on host1 at {asctime} (from BACKOFF)")
        );

        // supervisor-discord users' style; the mail keeps its subject.
        let r = rules(&[
            "-e",
            "FATAL",
            "-a",
            "--template",
            "FATAL=:red_circle: **{program}** ({group}) is {to_state} on {hostname} (was {from_state}, {expected})",
            "--template",
            "running={namespec} is back, pid {pid} at {time}",
        ])
        .unwrap();
        let n = r.compose(&change("web", Fatal, "BACKOFF", None), Kind::Event, at);
        assert_eq!(
            n.text,
            ":red_circle: **web** (web) is FATAL on host1 (was BACKOFF, )"
        );
        assert_eq!(n.subject.as_deref(), Some("host1: web:web is FATAL"));
        let n = r.compose(
            &change("web", Running, "STARTING", None),
            Kind::Resolved,
            at,
        );
        assert_eq!(n.text, format!("web:web is back, pid 4242 at {asctime}"));
        assert_eq!(
            n.subject.as_deref(),
            Some("host1: web:web is RUNNING again")
        );
        assert_eq!(n.kind, Kind::Resolved);
    }

    #[test]
    fn a_template_for_a_state_never_notified_is_refused() {
        let e = rules(&["-e", "FATAL", "-a", "--template", "BACKOFF=x"])
            .err()
            .unwrap();
        assert!(e.to_string().contains("BACKOFF is not in -e"), "{e}");
        // RUNNING words the resolve, unless there is none.
        assert!(rules(&["-e", "FATAL", "-a", "--template", "RUNNING=x"]).is_ok());
        assert!(rules(&[
            "-e",
            "FATAL",
            "-a",
            "--no-resolve",
            "--template",
            "RUNNING=x"
        ])
        .is_err());
        assert!(rules(&["-e", "FATAL", "-a", "--template", "FATAL={programm}"]).is_err());
    }

    #[test]
    fn a_reported_problem_resolves_once() {
        let mut l = listener(&["-e", "FATAL,BACKOFF,EXITED", "-a"]);
        let running = change("web", Running, "STARTING", None);
        // No problem reported: RUNNING is nothing.
        assert_eq!(l.decide(&running), None);
        assert_eq!(
            l.decide(&change("web", Backoff, "STARTING", None)),
            Some(Kind::Event)
        );
        assert_eq!(
            l.decide(&change("web", Fatal, "BACKOFF", None)),
            Some(Kind::Event)
        );
        assert_eq!(l.open.get("web:web"), Some(&Fatal));
        assert_eq!(l.decide(&change("web", Starting, "FATAL", None)), None);
        assert_eq!(l.decide(&running), Some(Kind::Resolved));
        assert_eq!(l.decide(&running), None, "resolved once");
        assert!(l.open.is_empty());
        // An expected exit is not a problem: reported, never resolved.
        assert_eq!(
            l.decide(&change("web", Exited, "RUNNING", Some(true))),
            Some(Kind::Event)
        );
        assert_eq!(l.decide(&running), None);
        // An unexpected one is.
        l.decide(&change("web", Exited, "RUNNING", Some(false)));
        assert_eq!(l.decide(&running), Some(Kind::Resolved));
        // Only reported problems: BACKOFF is not in -e here.
        let mut l = listener(&["-e", "FATAL", "-a"]);
        assert_eq!(l.decide(&change("web", Backoff, "STARTING", None)), None);
        assert_eq!(l.decide(&running), None);
    }

    #[test]
    fn with_running_in_e_a_resolve_replaces_the_event() {
        let mut l = listener(&["-e", "FATAL,RUNNING", "-a"]);
        let running = change("web", Running, "STARTING", None);
        assert_eq!(l.decide(&running), Some(Kind::Event));
        l.decide(&change("web", Fatal, "BACKOFF", None));
        assert_eq!(l.decide(&running), Some(Kind::Resolved));
        assert_eq!(l.decide(&running), Some(Kind::Event));
    }

    #[test]
    fn no_resolve_keeps_nothing() {
        let mut l = listener(&["-e", "FATAL", "-a", "--no-resolve"]);
        l.decide(&change("web", Fatal, "BACKOFF", None));
        assert!(l.open.is_empty());
        assert_eq!(l.decide(&change("web", Running, "STARTING", None)), None);
    }

    #[test]
    fn with_tail_a_resolve_follows_its_crash_with_context_only_for_crashes() {
        let rec = Arc::new(Recorder::default());
        let gather: Gather = Box::new(|namespec, pid| vec![format!("ctx {namespec} {pid:?}")]);
        let worker = TailWorker::start(rec.clone(), gather, 10).unwrap();
        let mut l = Notify::new(
            rules(&["-e", "FATAL,EXITED,STOPPED", "-a"]).unwrap(),
            Delivery::Tail(worker),
        );
        for c in [
            change("web", Exited, "RUNNING", Some(false)),
            change("web", Running, "STARTING", None),
            change("web", Stopped, "STOPPING", None),
        ] {
            assert_eq!(l.handle(&Event::ProcessState(c)), Ack::Ok);
        }
        l.shutdown();
        let got = rec.got.lock().unwrap();
        let kinds: Vec<(Kind, &str, &[String])> = got
            .iter()
            .map(|n| (n.kind, n.to_state.as_deref().unwrap(), n.extra.as_slice()))
            .collect();
        assert_eq!(
            kinds,
            [
                (
                    Kind::Event,
                    "EXITED",
                    &["ctx web:web Some(4242)".to_owned()][..]
                ),
                (Kind::Resolved, "RUNNING", &[][..]),
                (Kind::Event, "STOPPED", &[][..]),
            ]
        );
    }
}
