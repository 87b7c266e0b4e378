//! essential: shut supervisord down when a program it cannot live without fails (issue 13;
//! docs/essential.md).
//!
//! In a container supervisord keeps running while the program that matters sits in FATAL, so
//! the orchestrator never restarts the container (Supervisor #712, #733, #755, #1182, #1588).
//! The script users copy from answer to answer kills supervisord on PROCESS_STATE_FATAL; it
//! skips the other programs' graceful stop, and supervisord then exits 0, so a restart policy
//! sees a clean exit. Here supervisord is asked to shut down through XML-RPC
//! (`supervisor.shutdown`: every program stops with its own stopsignal and stopwaitsecs), or,
//! without an XML-RPC address, sent SIGTERM (which supervisord treats the same way); and the
//! failure is written where `superlance entrypoint` finds it (`SUPERLANCE_ESSENTIAL_STATUS`),
//! so that the container exits non-zero.
//!
//! Two halves, so that supervisord never waits for us:
//! - [`Essential`], the decisions, in the protocol loop: which event about which program
//!   counts, the `--grace` clock (a wake-up of the runtime ends it when no event comes), and
//!   standing down once supervisord is stopping. It only hands a [`Trigger`] over.
//! - [`Actor`], on a thread of its own: confirms with supervisord (still RUNNING itself? the
//!   process not an event-listener pool? after a grace, still not RUNNING?), then acts once:
//!   the log line, the status file, the mail (bounded wait), the shutdown.
//!
//! Effects (XML-RPC, the parent process, the mail) reach the actor through small traits, so
//! both halves are unit-tested with fakes; tests/essential.rs runs them under supervisord.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Arg, ArgAction, ArgMatches, Command};

use crate::event::{Event, ProcessState, StateChange, SupervisorState};
use crate::notify;
use crate::notify::channel::mail::options;
use crate::protocol::Ack;
use crate::rpc::{self, RpcError};
use crate::runtime::{self, Listener};
use crate::select::{self, Selection, Spec};
use crate::Error;

mod act;
pub use act::*;

/// superlance never had essential: no abbreviations of our own options are expanded.
pub const SUPERLANCE_LONGS: &[&str] = &["help"];

/// Where `superlance entrypoint` tells its children to record a failure.
pub const STATUS_ENV: &str = "SUPERLANCE_ESSENTIAL_STATUS";

/// How long one XML-RPC call may take: the calls made here are answered at once.
const RPC_TIMEOUT: Duration = Duration::from_secs(5);

const EXCLUDE: &str = "exclude";
const ON: &str = "on";
const GRACE: &str = "grace";

pub fn command() -> Command {
    Command::new("essential")
        .about("Shut supervisord down (gracefully) when an essential program fails, and record the failure for `superlance entrypoint`")
        .after_help(
            "Subscribe the pool to PROCESS_STATE (RUNNING ends a --grace) and SUPERVISOR_STATE_CHANGE \
             (nothing is done while supervisord stops):\n\n  \
             [eventlistener:essential]\n  command=essential -p web -p worker:* --on FATAL,EXITED --grace 10\n  \
             events=PROCESS_STATE,SUPERVISOR_STATE_CHANGE\n  buffer_size=100",
        )
        .arg(select::program_arg(
            Some('p'),
            "An essential program: NAME, GROUP:NAME or GROUP:* (repeatable)",
        ))
        .arg(select::any_arg(
            Some('a'),
            "Every program is essential (not this listener, nor other event-listener pools)",
        ))
        .arg(
            Arg::new(EXCLUDE)
                .short('x')
                .long("exclude")
                .value_name("NAME")
                .action(ArgAction::Append)
                .value_parser(Spec::parse)
                .help("Never essential, even if -p or -a says so: NAME, GROUP:NAME or GROUP:* (repeatable)"),
        )
        .arg(
            Arg::new(ON)
                .long("on")
                .value_name("STATES")
                .action(ArgAction::Append)
                .value_delimiter(',')
                .value_parser(On::parse)
                .default_value("FATAL")
                .help(
                    "When to act, a comma list: FATAL (could not be started), EXITED (an unexpected \
                     exit), ANY-EXIT (expected exits too), BACKOFF (exited while starting), STOPPED \
                     (stopped while supervisord runs, e.g. supervisorctl stop)",
                ),
        )
        .arg(
            Arg::new(GRACE)
                .long("grace")
                .value_name("SECS")
                .value_parser(parse_grace)
                .default_value("0")
                .help(
                    "After EXITED, ANY-EXIT or BACKOFF, wait SECS and act only if the program has \
                     not reached RUNNING again (with autorestart)",
                ),
        )
        .arg(
            options::email_arg("Mail this address (several: comma-separated) before shutting down; without it nothing is mailed"),
        )
        .arg(
            options::sendmail_program_arg(),
        )
        .arg(crate::crash_context::tail_arg(
            "the notification, read before supervisord is shut down",
        ))
        .args(options::args())
        .args(notify::options::args())
}

/// The states `--on` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum On {
    Fatal,
    Exited,
    AnyExit,
    Backoff,
    Stopped,
}

impl On {
    fn parse(text: &str) -> Result<On, String> {
        match text.trim().to_ascii_uppercase().as_str() {
            "FATAL" => Ok(On::Fatal),
            "EXITED" => Ok(On::Exited),
            "ANY-EXIT" | "ANY_EXIT" => Ok(On::AnyExit),
            "BACKOFF" => Ok(On::Backoff),
            "STOPPED" => Ok(On::Stopped),
            _ => Err(format!(
                "unknown state {text:?}: expected FATAL, EXITED, ANY-EXIT, BACKOFF or STOPPED"
            )),
        }
    }

    fn name(self) -> &'static str {
        match self {
            On::Fatal => "FATAL",
            On::Exited => "EXITED",
            On::AnyExit => "ANY-EXIT",
            On::Backoff => "BACKOFF",
            On::Stopped => "STOPPED",
        }
    }
}

fn parse_grace(text: &str) -> Result<Duration, String> {
    text.trim()
        .parse::<f64>()
        .ok()
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .filter(|d| *d <= Duration::from_secs(86_400))
        .ok_or_else(|| format!("invalid --grace {text:?}: seconds from 0 to 86400"))
}

pub fn run(m: &ArgMatches) -> Result<(), Error> {
    let own = Selection::own_from_env();
    let selection = Selection::from_matches(m).excluding_own(own.clone());
    if selection.is_empty() {
        return Err(Error::Usage(
            "no essential program: name them with -p NAME (GROUP:NAME, GROUP:*), or -a for every program"
                .to_owned(),
        ));
    }
    let exclude = Selection::new(
        m.get_many::<Spec>(EXCLUDE)
            .map(|v| v.cloned().collect())
            .unwrap_or_default(),
        false,
    );
    let mut on: Vec<On> = Vec::new();
    for o in m.get_many::<On>(ON).into_iter().flatten() {
        if !on.contains(o) {
            on.push(*o);
        }
    }
    let grace = m.get_one::<Duration>(GRACE).copied().unwrap_or_default();
    let rpc = match rpc::Client::from_env() {
        Ok(client) => Some(client.with_timeout(RPC_TIMEOUT)),
        Err(RpcError::NoServerUrl) => None,
        Err(e) => {
            log::warn!("{e}; supervisord will be sent SIGTERM instead of an XML-RPC shutdown");
            None
        }
    };
    let status = std::env::var_os(STATUS_ENV)
        .filter(|p| !p.is_empty())
        .map(PathBuf::from);
    log::info!(
        "shutting supervisord down when an essential program ({}{}) is {}{}, through {}; {}",
        if m.get_flag(select::ANY) && rpc.is_some() {
            "every program but event-listener pools".to_owned()
        } else if m.get_flag(select::ANY) {
            "every process but this listener".to_owned()
        } else {
            selection.describe()
        },
        if exclude.is_empty() {
            String::new()
        } else {
            format!(" except {}", exclude.describe())
        },
        on.iter().map(|o| o.name()).collect::<Vec<_>>().join(" or "),
        if grace.is_zero() {
            String::new()
        } else {
            format!(
                " (EXITED, BACKOFF: unless RUNNING again within {})",
                seconds(grace)
            )
        },
        match &rpc {
            Some(c) => format!("supervisor.shutdown at {}", c.url()),
            None => "SIGTERM to supervisord (no usable SUPERVISOR_SERVER_URL)".to_owned(),
        },
        match &status {
            Some(p) => format!("the failure is written to {}", p.display()),
            None => format!("no {STATUS_ENV}: the failure is only logged"),
        }
    );
    if rpc.is_none() && m.get_flag(select::ANY) {
        // Without XML-RPC nothing tells a listener pool's process from a program's.
        log::warn!(
            "without SUPERVISOR_SERVER_URL event-listener pools cannot be told from programs: -a \
             counts them too; exclude them with -x NAME or name the programs with -p"
        );
    }
    // Mail is set up only with -m or another channel: without them the mail layer's
    // start-up checks (a missing sendmail) would only be noise.
    let others = notify::options::channels(m, "essential")?;
    let mut notifier = if m.contains_id(options::EMAIL) || !others.is_empty() {
        let options::PerEventMail {
            recipients,
            transport,
            config,
        } = options::per_event_mail(m)?;
        options::notifier_for(
            &recipients,
            "essential programs' failures",
            transport,
            config,
            others,
        )?
    } else {
        log::info!("no -m/--email: failures are logged, not mailed");
        None
    };
    notify::options::export_figures(m, "essential", notifier.as_mut())?;
    let tail = crate::crash_context::tail_lines(m).filter(|_| notifier.is_some());
    if let Some(lines) = tail {
        log::info!("with the exit status and the last {lines} lines of stderr (--tail)");
    }
    let flags = Arc::new(Shared::default());
    let actor = Actor {
        rpc,
        parent: ParentProcess,
        notify: Mailer {
            notifier,
            context: tail.map(crate::crash_context::from_supervisord),
            hostname: notify::options::hostname(m),
        },
        status,
        shared: Arc::clone(&flags),
        acted: false,
    };
    let worker = Worker::start(actor)?;
    let mut listener = Essential::new(selection, exclude, own, on, grace, flags, worker);
    runtime::run(&mut listener)
}

/// The decisions, in the protocol loop.
pub struct Essential<S: Submit> {
    selection: Selection,
    exclude: Selection,
    own: Option<(String, String)>,
    on: Vec<On>,
    grace: Duration,
    /// Programs waiting out `--grace`, by namespec.
    pending: HashMap<String, (Instant, Trigger)>,
    shared: Arc<Shared>,
    submit: S,
}

impl<S: Submit> Essential<S> {
    pub fn new(
        selection: Selection,
        exclude: Selection,
        own: Option<(String, String)>,
        on: Vec<On>,
        grace: Duration,
        shared: Arc<Shared>,
        submit: S,
    ) -> Self {
        Essential {
            selection,
            exclude,
            own,
            on,
            grace,
            pending: HashMap::new(),
            shared,
            submit,
        }
    }

    fn standing_down(&self) -> bool {
        self.shared.stopping.load(Ordering::SeqCst) || self.shared.done.load(Ordering::SeqCst)
    }

    /// Whether the process is one of ours to watch: selected, not excluded, not ourselves.
    fn essential(&self, group: &str, name: &str) -> bool {
        let own = self
            .own
            .as_ref()
            .is_some_and(|(g, n)| g == group && n == name);
        !own && self.selection.matches(group, name) && !self.exclude.matches(group, name)
    }

    /// The trigger this state change is, per `--on`; `None` if it is not one.
    fn trigger(&self, c: &StateChange) -> Option<Trigger> {
        let on = |o: On| self.on.contains(&o);
        let pid = c.pid.map_or_else(|| "?".to_owned(), |p| p.to_string());
        let reason = match c.state {
            ProcessState::Fatal if on(On::Fatal) => {
                "supervisord gave up starting it (too many start retries)".to_owned()
            }
            ProcessState::Exited
                if c.expected == Some(false) && (on(On::Exited) || on(On::AnyExit)) =>
            {
                format!("it exited unexpectedly (pid {pid})")
            }
            ProcessState::Exited if on(On::AnyExit) => {
                format!("it exited (pid {pid}, an expected exit status; --on ANY-EXIT)")
            }
            ProcessState::Backoff if on(On::Backoff) => format!(
                "it exited while starting (try {}), before startsecs",
                c.tries.map_or_else(|| "?".to_owned(), |t| t.to_string())
            ),
            ProcessState::Stopped if on(On::Stopped) => {
                "it was stopped while supervisord runs (supervisorctl stop or XML-RPC)".to_owned()
            }
            _ => return None,
        };
        Some(Trigger {
            group: c.process.group.to_owned(),
            name: c.process.name.to_owned(),
            state: c.state,
            reason,
            grace: None,
        })
    }

    /// [`Listener::handle`] at `now`.
    fn handle_at(&mut self, event: &Event, now: Instant) {
        match event {
            Event::SupervisorStateChange(SupervisorState::Stopping) => {
                if !self.shared.stopping.swap(true, Ordering::SeqCst) {
                    log::info!("supervisord is stopping: nothing more will be acted on");
                }
                self.pending.clear();
            }
            Event::ProcessState(c) => self.state_change(c, now),
            _ => {}
        }
    }

    fn state_change(&mut self, c: &StateChange, now: Instant) {
        if self.standing_down() || !self.essential(c.process.group, c.process.name) {
            return;
        }
        let namespec = c.process.namespec();
        if c.state == ProcessState::Running {
            if self.pending.remove(&namespec).is_some() {
                log::info!("{namespec} is RUNNING again within the grace: not acting");
            }
            return;
        }
        let Some(trigger) = self.trigger(c) else {
            log::debug!("{namespec} is {}: not a state to act on", c.state.name());
            return;
        };
        let waits = matches!(c.state, ProcessState::Exited | ProcessState::Backoff);
        if waits && !self.grace.is_zero() {
            if !self.pending.contains_key(&namespec) {
                log::info!(
                    "{namespec} is {}: {}; acting unless it is RUNNING again within {}",
                    c.state.name(),
                    trigger.reason,
                    seconds(self.grace)
                );
                self.pending.insert(namespec, (now + self.grace, trigger));
            }
            return;
        }
        self.pending.remove(&namespec);
        self.submit.submit(trigger);
    }
}

impl<S: Submit> Listener for Essential<S> {
    fn handle(&mut self, event: &Event) -> Ack {
        self.handle_at(event, Instant::now());
        Ack::Ok
    }

    fn next_wakeup(&self) -> Option<Instant> {
        self.pending.values().map(|(at, _)| *at).min()
    }

    fn wake(&mut self, now: Instant) {
        let due: Vec<String> = self
            .pending
            .iter()
            .filter(|(_, (at, _))| *at <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for key in due {
            if let Some((_, mut trigger)) = self.pending.remove(&key) {
                if self.standing_down() {
                    continue;
                }
                trigger.grace = Some(self.grace);
                self.submit.submit(trigger);
            }
        }
    }

    fn shutdown(&mut self) {
        self.submit.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Process;
    use crate::rpc::{FaultCode, ProcessInfo};
    use std::cell::RefCell;
    use std::fs;
    use std::rc::Rc;

    fn sel(specs: &[&str], any: bool) -> Selection {
        Selection::new(specs.iter().map(|s| Spec::parse(s).unwrap()).collect(), any)
    }

    #[derive(Default)]
    struct Sent(Vec<Trigger>);
    impl Submit for &mut Sent {
        fn submit(&mut self, t: Trigger) {
            self.0.push(t);
        }
    }

    struct Setup {
        specs: Vec<&'static str>,
        any: bool,
        exclude: Vec<&'static str>,
        on: Vec<On>,
        grace: u64,
    }

    impl Default for Setup {
        fn default() -> Self {
            Setup {
                specs: vec!["web"],
                any: false,
                exclude: Vec::new(),
                on: vec![On::Fatal],
                grace: 0,
            }
        }
    }

    fn essential(s: Setup, sent: &mut Sent) -> Essential<&mut Sent> {
        let own = Some(("essential".to_owned(), "essential".to_owned()));
        Essential::new(
            sel(&s.specs, s.any).excluding_own(own.clone()),
            sel(&s.exclude, false),
            own,
            s.on,
            Duration::from_secs(s.grace),
            Arc::new(Shared::default()),
            sent,
        )
    }

    fn change<'a>(state: ProcessState, group: &'a str, name: &'a str) -> Event<'a> {
        Event::ProcessState(StateChange {
            state,
            process: Process { name, group },
            from_state: "RUNNING",
            pid: Some(42),
            tries: Some(1),
            expected: (state == ProcessState::Exited).then_some(false),
        })
    }

    fn expected_exit<'a>(group: &'a str, name: &'a str) -> Event<'a> {
        let Event::ProcessState(mut c) = change(ProcessState::Exited, group, name) else {
            unreachable!()
        };
        c.expected = Some(true);
        Event::ProcessState(c)
    }

    fn names(sent: &Sent) -> Vec<String> {
        sent.0
            .iter()
            .map(|t| format!("{} {}", t.namespec(), t.state.name()))
            .collect()
    }

    #[test]
    fn fatal_by_default_only_for_selected_programs() {
        let mut sent = Sent::default();
        let mut e = essential(Setup::default(), &mut sent);
        let t = Instant::now();
        for st in [
            ProcessState::Exited,
            ProcessState::Backoff,
            ProcessState::Stopped,
        ] {
            e.handle_at(&change(st, "web", "web"), t);
        }
        e.handle_at(&change(ProcessState::Fatal, "db", "db"), t);
        e.handle_at(&change(ProcessState::Fatal, "web", "web"), t);
        assert_eq!(names(&sent), ["web:web FATAL"]);
    }

    #[test]
    fn on_selects_the_states() {
        let mut sent = Sent::default();
        let mut e = essential(
            Setup {
                on: vec![On::Exited, On::Backoff, On::Stopped],
                ..Setup::default()
            },
            &mut sent,
        );
        let t = Instant::now();
        e.handle_at(&expected_exit("web", "web"), t);
        e.handle_at(&change(ProcessState::Fatal, "web", "web"), t);
        e.handle_at(&change(ProcessState::Exited, "web", "web"), t);
        e.handle_at(&change(ProcessState::Backoff, "web", "web"), t);
        e.handle_at(&change(ProcessState::Stopped, "web", "web"), t);
        assert_eq!(
            names(&sent),
            ["web:web EXITED", "web:web BACKOFF", "web:web STOPPED"]
        );
        let mut sent = Sent::default();
        let mut e = essential(
            Setup {
                on: vec![On::AnyExit],
                ..Setup::default()
            },
            &mut sent,
        );
        e.handle_at(&expected_exit("web", "web"), t);
        e.handle_at(&change(ProcessState::Exited, "web", "web"), t);
        assert_eq!(names(&sent), ["web:web EXITED", "web:web EXITED"]);
        assert!(sent.0[0].reason.contains("expected"), "{:?}", sent.0[0]);
        assert!(sent.0[1].reason.contains("unexpectedly"), "{:?}", sent.0[1]);
    }

    #[test]
    fn grace_is_cancelled_by_running_and_ends_in_a_wakeup() {
        let mut sent = Sent::default();
        let mut e = essential(
            Setup {
                on: vec![On::Exited, On::Fatal],
                grace: 5,
                ..Setup::default()
            },
            &mut sent,
        );
        let t0 = Instant::now();
        e.handle_at(&change(ProcessState::Exited, "web", "web"), t0);
        assert_eq!(e.next_wakeup(), Some(t0 + Duration::from_secs(5)));
        // A second exit within the grace does not push the deadline back.
        e.handle_at(
            &change(ProcessState::Exited, "web", "web"),
            t0 + Duration::from_secs(2),
        );
        assert_eq!(e.next_wakeup(), Some(t0 + Duration::from_secs(5)));
        e.handle_at(
            &change(ProcessState::Running, "web", "web"),
            t0 + Duration::from_secs(3),
        );
        assert_eq!(e.next_wakeup(), None, "RUNNING cancels the grace");
        e.wake(t0 + Duration::from_secs(6));

        // Not RUNNING again: acted on when the grace ends, not before.
        e.handle_at(&change(ProcessState::Exited, "web", "web"), t0);
        e.wake(t0 + Duration::from_secs(4));
        assert!(e.submit.0.is_empty());
        e.wake(t0 + Duration::from_secs(5));
        assert_eq!(e.next_wakeup(), None);
        // FATAL within a grace acts at once.
        e.handle_at(&change(ProcessState::Exited, "web", "web"), t0);
        e.handle_at(&change(ProcessState::Fatal, "web", "web"), t0);
        assert_eq!(e.next_wakeup(), None);
        drop(e);
        assert_eq!(names(&sent), ["web:web EXITED", "web:web FATAL"]);
        assert_eq!(sent.0[0].grace, Some(Duration::from_secs(5)));
        assert_eq!(sent.0[1].grace, None);
    }

    #[test]
    fn exclude_and_own_process_are_never_essential() {
        let mut sent = Sent::default();
        let mut e = essential(
            Setup {
                specs: vec!["essential:essential"],
                any: true,
                exclude: vec!["batch", "tools:*"],
                ..Setup::default()
            },
            &mut sent,
        );
        let t = Instant::now();
        for (g, n) in [
            ("batch", "batch"),
            ("tools", "a"),
            ("essential", "essential"),
            ("web", "web"),
        ] {
            e.handle_at(&change(ProcessState::Fatal, g, n), t);
        }
        assert_eq!(names(&sent), ["web:web FATAL"]);
    }

    #[test]
    fn nothing_while_supervisord_stops() {
        let mut sent = Sent::default();
        let mut e = essential(
            Setup {
                on: vec![On::Exited, On::Stopped],
                grace: 5,
                ..Setup::default()
            },
            &mut sent,
        );
        let t = Instant::now();
        e.handle_at(&change(ProcessState::Exited, "web", "web"), t);
        e.handle_at(&Event::SupervisorStateChange(SupervisorState::Stopping), t);
        assert_eq!(e.next_wakeup(), None, "the grace is dropped");
        e.handle_at(&change(ProcessState::Stopped, "web", "web"), t);
        e.wake(t + Duration::from_secs(10));
        assert!(e.shared.stopping.load(Ordering::SeqCst));
        drop(e);
        assert!(sent.0.is_empty());
    }

    #[test]
    fn nothing_more_once_acted() {
        let mut sent = Sent::default();
        let mut e = essential(Setup::default(), &mut sent);
        let t = Instant::now();
        e.handle_at(&change(ProcessState::Fatal, "web", "web"), t);
        e.shared.done.store(true, Ordering::SeqCst);
        e.handle_at(&change(ProcessState::Fatal, "web", "web"), t);
        drop(e);
        assert_eq!(sent.0.len(), 1);
    }

    #[test]
    fn on_and_grace_parse() {
        assert_eq!(On::parse("fatal"), Ok(On::Fatal));
        assert_eq!(On::parse("ANY-EXIT"), Ok(On::AnyExit));
        assert!(On::parse("CRASHED").is_err());
        assert_eq!(parse_grace("2.5"), Ok(Duration::from_millis(2500)));
        for bad in ["-1", "x", "NaN", "1e9"] {
            assert!(parse_grace(bad).is_err(), "{bad}");
        }
        let m = command()
            .try_get_matches_from([
                "essential",
                "-a",
                "--on",
                "exited,BACKOFF",
                "--on",
                "STOPPED",
            ])
            .unwrap();
        let on: Vec<On> = m.get_many::<On>(ON).unwrap().copied().collect();
        assert_eq!(on, [On::Exited, On::Backoff, On::Stopped]);
        let m = command().try_get_matches_from(["essential", "-a"]).unwrap();
        let on: Vec<On> = m.get_many::<On>(ON).unwrap().copied().collect();
        assert_eq!(on, [On::Fatal]);
    }

    #[test]
    fn supervisords_command_line_is_recognised() {
        let yes: [&[u8]; 4] = [
            b"/usr/bin/supervisord\0-n\0-c\0/etc/supervisor/supervisord.conf\0",
            b"/usr/bin/python3\0/usr/bin/supervisord\0-n\0",
            b"/venv/bin/python\0-m\0supervisor.supervisord\0",
            b"supervisord\0",
        ];
        for c in yes {
            assert!(is_supervisord(c), "{}", String::from_utf8_lossy(c));
        }
        let no: [&[u8]; 4] = [
            b"superlance\0entrypoint\0--\0supervisord\0-n\0",
            b"/bin/sh\0-c\0supervisord -n\0",
            b"bash\0",
            b"",
        ];
        for c in no {
            assert!(!is_supervisord(c), "{}", String::from_utf8_lossy(c));
        }
    }

    // ---- the actor, with fakes

    type Journal = Rc<RefCell<Vec<String>>>;

    struct FakeRpc {
        journal: Journal,
        running: Result<bool, ()>,
        pools: Vec<(&'static str, &'static str)>,
        info: Option<ProcessInfo>,
        shutdown: Result<(), FaultCode>,
    }

    fn fault(code: FaultCode) -> RpcError {
        RpcError::Fault {
            method: "m".into(),
            fault: rpc::Fault {
                code: code.code(),
                text: code.name().into(),
            },
        }
    }

    impl Control for FakeRpc {
        fn running(&mut self) -> Result<bool, RpcError> {
            self.journal.borrow_mut().push("getState".into());
            self.running.map_err(|()| fault(FaultCode::Failed))
        }
        fn listener_pool(&mut self, group: &str, name: &str) -> Result<bool, RpcError> {
            self.journal.borrow_mut().push("getAllConfigInfo".into());
            Ok(self.pools.iter().any(|(g, n)| *g == group && *n == name))
        }
        fn process_info(&mut self, namespec: &str) -> Result<ProcessInfo, RpcError> {
            self.journal
                .borrow_mut()
                .push(format!("getProcessInfo {namespec}"));
            self.info.clone().ok_or_else(|| fault(FaultCode::BadName))
        }
        fn shutdown(&mut self) -> Result<(), RpcError> {
            self.journal.borrow_mut().push("shutdown".into());
            self.shutdown.map_err(fault)
        }
    }

    struct FakeParent(Journal, Result<u32, String>);
    impl Parent for FakeParent {
        fn terminate(&mut self) -> Result<u32, String> {
            self.0.borrow_mut().push("SIGTERM".into());
            self.1.clone()
        }
    }

    struct FakeNotify(Journal);
    impl Notify for FakeNotify {
        fn notify(&mut self, t: &Trigger, text: &str) {
            self.0
                .borrow_mut()
                .push(format!("notify {}: {text}", t.namespec()));
        }
    }

    fn info(state: &str, exitstatus: i64) -> ProcessInfo {
        ProcessInfo {
            name: "web".into(),
            group: "web".into(),
            statename: state.into(),
            exitstatus,
            ..ProcessInfo::default()
        }
    }

    fn rpc(journal: &Journal) -> FakeRpc {
        FakeRpc {
            journal: Rc::clone(journal),
            running: Ok(true),
            pools: vec![("crashmail", "crashmail")],
            info: Some(info("FATAL", 0)),
            shutdown: Ok(()),
        }
    }

    fn actor(
        rpc: Option<FakeRpc>,
        journal: &Journal,
        status: Option<PathBuf>,
    ) -> Actor<FakeRpc, FakeParent, FakeNotify> {
        Actor {
            rpc,
            parent: FakeParent(Rc::clone(journal), Ok(1)),
            notify: FakeNotify(Rc::clone(journal)),
            status,
            shared: Arc::new(Shared::default()),
            acted: false,
        }
    }

    fn trigger(group: &str, name: &str, state: ProcessState) -> Trigger {
        Trigger {
            group: group.into(),
            name: name.into(),
            state,
            reason: "because".into(),
            grace: None,
        }
    }

    #[test]
    fn acts_once_status_then_mail_then_shutdown() {
        let dir = tempfile::tempdir().unwrap();
        let status = dir.path().join("status");
        let journal = Journal::default();
        let mut a = actor(Some(rpc(&journal)), &journal, Some(status.clone()));
        assert_eq!(
            a.act(&trigger("web", "web", ProcessState::Fatal)),
            Outcome::Acted
        );
        assert_eq!(
            fs::read_to_string(&status).unwrap(),
            "program=web:web\nstate=FATAL\n"
        );
        let j = journal.borrow().clone();
        assert_eq!(
            j,
            [
                "getState",
                "getAllConfigInfo",
                "getProcessInfo web:web",
                "notify web:web: essential program web:web is FATAL: because; shutting supervisord down",
                "shutdown"
            ]
        );
        assert!(a.shared.done.load(Ordering::SeqCst));
        // Never twice.
        assert!(matches!(
            a.act(&trigger("db", "db", ProcessState::Fatal)),
            Outcome::Declined(_)
        ));
        assert_eq!(journal.borrow().len(), j.len());
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp file left"
        );
    }

    #[test]
    fn exit_status_only_while_not_restarted() {
        let dir = tempfile::tempdir().unwrap();
        let status = dir.path().join("status");
        let cases = [
            ("EXITED", 3, "exitstatus=3\n"),
            ("EXITED", -1, ""),  // killed by a signal: no exit status
            ("STARTING", 0, ""), // restarted: the status was reset
            ("BACKOFF", 0, ""),
        ];
        for (state, es, line) in cases {
            let journal = Journal::default();
            let mut r = rpc(&journal);
            r.info = Some(info(state, es));
            let mut a = actor(Some(r), &journal, Some(status.clone()));
            assert_eq!(
                a.act(&trigger("web", "web", ProcessState::Exited)),
                Outcome::Acted
            );
            assert_eq!(
                fs::read_to_string(&status).unwrap(),
                format!("program=web:web\nstate=EXITED\n{line}"),
                "{state} {es}"
            );
        }
    }

    #[test]
    fn declines_listener_pools_a_stopping_supervisord_and_a_recovered_program() {
        let journal = Journal::default();
        let mut a = actor(Some(rpc(&journal)), &journal, None);
        let out = a.act(&trigger("crashmail", "crashmail", ProcessState::Fatal));
        assert!(
            matches!(out, Outcome::Declined(ref w) if w.contains("listener")),
            "{out:?}"
        );
        assert!(!a.acted, "a later failure is still acted on");

        let mut r = rpc(&journal);
        r.running = Ok(false);
        let mut a = actor(Some(r), &journal, None);
        assert!(matches!(
            a.act(&trigger("web", "web", ProcessState::Fatal)),
            Outcome::Declined(_)
        ));

        let mut r = rpc(&journal);
        r.info = Some(info("RUNNING", 0));
        let mut a = actor(Some(r), &journal, None);
        let mut t = trigger("web", "web", ProcessState::Exited);
        t.grace = Some(Duration::from_secs(5));
        assert!(matches!(a.act(&t), Outcome::Declined(ref w) if w.contains("RUNNING")));

        let mut a = actor(Some(rpc(&journal)), &journal, None);
        a.shared.stopping.store(true, Ordering::SeqCst);
        assert!(matches!(
            a.act(&trigger("web", "web", ProcessState::Stopped)),
            Outcome::Declined(_)
        ));
        assert!(!journal
            .borrow()
            .iter()
            .any(|c| c == "shutdown" || c == "SIGTERM"));
    }

    #[test]
    fn sigterm_without_xmlrpc_or_when_shutdown_fails() {
        let journal = Journal::default();
        let mut a = actor(None, &journal, None);
        assert_eq!(
            a.act(&trigger("web", "web", ProcessState::Fatal)),
            Outcome::Acted
        );
        assert_eq!(journal.borrow().last().map(String::as_str), Some("SIGTERM"));

        let journal = Journal::default();
        let mut r = rpc(&journal);
        r.shutdown = Err(FaultCode::Failed);
        let mut a = actor(Some(r), &journal, None);
        a.act(&trigger("web", "web", ProcessState::Fatal));
        let j = journal.borrow().clone();
        assert_eq!(j[j.len() - 2..], ["shutdown", "SIGTERM"]);

        // Already shutting down: no SIGTERM on top.
        let journal = Journal::default();
        let mut r = rpc(&journal);
        r.shutdown = Err(FaultCode::ShutdownState);
        let mut a = actor(Some(r), &journal, None);
        a.act(&trigger("web", "web", ProcessState::Fatal));
        assert_eq!(
            journal.borrow().last().map(String::as_str),
            Some("shutdown")
        );
    }

    #[test]
    fn rpc_errors_do_not_stop_the_shutdown() {
        let journal = Journal::default();
        let mut r = rpc(&journal);
        r.running = Err(());
        r.info = None;
        let mut a = actor(Some(r), &journal, None);
        assert_eq!(
            a.act(&trigger("web", "web", ProcessState::Fatal)),
            Outcome::Acted
        );
        assert_eq!(
            journal.borrow().last().map(String::as_str),
            Some("shutdown")
        );
    }
}
