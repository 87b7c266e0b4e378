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
//! calls run on one worker thread ([`TailWorker`]) behind a bounded queue that keeps every job
//! in order. With `--tail`, every notification goes through that queue (not only crashes), so
//! that a resolve is never sent before the crash it resolves.
//!
//! Not in superlance; its peers are supervisor-discord (per-state templates, Discord only) and
//! superslacker (Slack only).

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use clap::{value_parser, Arg, ArgAction, ArgMatches, Command};

use crate::event::{Event, ProcessState, StateChange};
use crate::notify::channel::mail::options::{self, DEFAULT_SENDMAIL};
use crate::notify::channel::mail::MailChannel;
use crate::notify::{
    Channel, DeliveryError, Kind, Notification, Notifier, RenderError, Rendered, Words,
};
use crate::protocol::Ack;
use crate::runtime::{self, Listener};
use crate::select::{self, Selection};
use crate::template::{self, Template, Values};
use crate::time::LocalTime;
use crate::Error;

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
const TAIL: &str = "tail";
const NO_RESOLVE: &str = "no-resolve";

/// Notifications waiting for their crash context, at most. A job is one notification (a few
/// hundred bytes); beyond this, supervisord is not answering fast enough for context to help.
const TAIL_QUEUE: usize = 100;

/// One crash context's XML-RPC calls, at most each: a context that needs longer is worth less
/// than the notification it delays.
const TAIL_RPC_TIMEOUT: Duration = Duration::from_secs(5);

/// At shutdown, how long the tail worker may go on gathering; what is left then goes out
/// without context. The notifier's own grace (5 s) follows, within supervisord's default
/// `stopwaitsecs` (10 s).
const TAIL_SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

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
        .arg(
            Arg::new(TAIL)
                .long("tail")
                .value_name("N")
                .value_parser(value_parser!(u16).range(0..=1000))
                .help(
                    "Add the exit status and the last N lines of the program's stderr log \
                     (stdout with redirect_stderr) to EXITED, FATAL and BACKOFF notifications, \
                     asked of supervisord over XML-RPC; 0: the exit status only",
                ),
        )
        .arg(
            Arg::new(NO_RESOLVE)
                .long("no-resolve")
                .action(ArgAction::SetTrue)
                .help("Do not notify when a program reported FATAL, BACKOFF, UNKNOWN or unexpectedly EXITED is RUNNING again"),
        )
        .arg(
            Arg::new(options::SENDMAIL_PROGRAM)
                .short('s')
                .long("sendmail_program")
                .value_name("COMMAND")
                .help(format!(
                    "The command that sends a mail given on stdin with its headers [default: {DEFAULT_SENDMAIL}]; ignored with --smtp-host"
                )),
        )
        .arg(
            Arg::new(options::EMAIL)
                .short('m')
                .long("email")
                .value_name("ADDRESS")
                .help("Mail this address (several: comma-separated)"),
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
    let tail = m.get_one::<u16>(TAIL).copied().map(usize::from);
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
    let delivery = match (notifier, tail) {
        (None, _) => Delivery::Log,
        (Some(n), None) => Delivery::Direct(Arc::new(Out::new(n))),
        (Some(n), Some(lines)) => {
            let sink: Arc<dyn Sink> = Arc::new(Out::new(n));
            Delivery::Tail(TailWorker::start(
                sink,
                supervisord_context(lines),
                TAIL_QUEUE,
            )?)
        }
    };
    let mut listener = Notify::new(rules, delivery);
    runtime::run(&mut listener)
}

/// The crash context of one process, from the supervisord we run under; a client that cannot
/// be made says why in the lines, as [`crate::crash_context::gather`] does for a failed call.
fn supervisord_context(lines: usize) -> Gather {
    let mut client = crate::rpc::Client::from_env().map(|c| c.with_timeout(TAIL_RPC_TIMEOUT));
    if let Err(e) = &client {
        log::warn!("--tail: {e}; notifications go out without crash context");
    }
    Box::new(move |namespec, pid| match &mut client {
        Ok(c) => crate::crash_context::gather(c, namespec, pid, lines),
        Err(e) => vec![format!("Crash context unavailable: {e}")],
    })
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
    // Not `options::notifier_for`: it builds a notifier with mail only, and its mail would
    // drop the crash context (see `MailWithContext`).
    let mut channels: Vec<Arc<dyn Channel>> = Vec::new();
    if !recipients.is_empty() {
        log::info!(
            "mailing {} about {about}, via {}",
            recipients.join(", "),
            transport.describe()
        );
        let mail = MailChannel::new(recipients, config.default_from, transport);
        channels.push(Arc::new(MailWithContext(mail)));
    }
    for c in &others {
        log::info!("notifying about {about} via {}", c.describe());
    }
    channels.extend(others);
    if channels.is_empty() {
        log::warn!("no -m/--email and no other channel: {about} are logged, not sent");
        return Ok(None);
    }
    Notifier::start(channels, config.outbox).map(Some)
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
                "notify: say which programs: -p NAME (repeatable) or -a for every one".to_owned(),
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

/// Where the notifications go.
enum Delivery {
    /// No channel: logged only.
    Log,
    /// Straight to the notifier (no `--tail`).
    Direct(Arc<dyn Sink>),
    /// Through the crash-context worker, in order.
    Tail(TailWorker),
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
        match &mut self.delivery {
            Delivery::Log => log::info!("{summary} (not sent: no channel): {}", n.text),
            Delivery::Direct(sink) => {
                log::info!("notifying: {summary}");
                sink.submit(n);
            }
            Delivery::Tail(worker) => {
                log::info!("notifying: {summary}");
                worker.push(Job { n, context });
            }
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
        match &mut self.delivery {
            Delivery::Log => {}
            Delivery::Direct(sink) => sink.shutdown(),
            Delivery::Tail(worker) => worker.shutdown(TAIL_SHUTDOWN_GRACE),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Delivery: the notifier, and the crash-context worker in front of it.

/// Where finished notifications go: the notifier (shared by the protocol loop and the tail
/// worker), or a recorder in tests.
trait Sink: Send + Sync {
    fn submit(&self, n: Notification);
    /// Deliver or spool what is queued; runs once, at the end.
    fn shutdown(&self) {}
}

/// The notifier behind a lock: `submit` is cheap (render and queue, no delivery), and the
/// lock is only contended when the protocol loop and the worker submit at the same moment.
struct Out(Mutex<Notifier>);

impl Out {
    fn new(n: Notifier) -> Out {
        Out(Mutex::new(n))
    }

    fn lock(&self) -> MutexGuard<'_, Notifier> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Sink for Out {
    fn submit(&self, n: Notification) {
        self.lock().submit(n);
    }

    fn shutdown(&self) {
        self.lock().shutdown();
    }
}

/// The crash context of a process (`group:name`, the pid that stopped): lines to add.
type Gather = Box<dyn FnMut(&str, Option<u32>) -> Vec<String> + Send>;

/// Which process a job's context is about.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Context {
    namespec: String,
    pid: Option<u32>,
}

/// One notification on its way through the worker: with `context`, its crash context is
/// gathered first.
struct Job {
    n: Notification,
    context: Option<Context>,
}

struct Queue {
    jobs: VecDeque<Job>,
    /// Set at shutdown: finish the queue (gathering until the instant, if any), then stop.
    stop: Option<Instant>,
    /// The worker has returned.
    done: bool,
    /// Notifications sent without waiting for context since the queue was last full.
    overflowed: u64,
}

struct TailShared {
    queue: Mutex<Queue>,
    changed: Condvar,
}

impl TailShared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One thread that gathers crash context and submits, in the order the events came.
///
/// Unlike [`crate::background::Background`] (latest request wins: a newer tick says all an
/// older one would), every job here is a notification of its own: all are kept, in order, up
/// to `capacity`. Beyond it (supervisord answering our calls too slowly for the events it
/// sends), a notification does not wait for context: it is submitted at once with a line
/// saying why it has none, counted, and the log says how many went out that way once the
/// queue has room again. Nothing is lost; only those notifications overtake the queued ones.
struct TailWorker {
    shared: Arc<TailShared>,
    sink: Arc<dyn Sink>,
    thread: Option<JoinHandle<()>>,
    capacity: usize,
}

impl TailWorker {
    fn start(sink: Arc<dyn Sink>, mut gather: Gather, capacity: usize) -> Result<Self, Error> {
        let shared = Arc::new(TailShared {
            queue: Mutex::new(Queue {
                jobs: VecDeque::new(),
                stop: None,
                done: false,
                overflowed: 0,
            }),
            changed: Condvar::new(),
        });
        let (sh, out) = (Arc::clone(&shared), Arc::clone(&sink));
        let thread = std::thread::Builder::new()
            .name("crash context".to_owned())
            .spawn(move || {
                while let Some((job, gather_until)) = next_job(&sh) {
                    let Job { mut n, context } = job;
                    if let Some(c) = context {
                        if gather_until.is_none_or(|t| Instant::now() < t) {
                            n.extra.extend(gather(&c.namespec, c.pid));
                        } else {
                            n.extra
                                .push("Crash context skipped: the listener is stopping.".into());
                        }
                    }
                    out.submit(n);
                }
                let mut q = sh.lock();
                q.done = true;
                sh.changed.notify_all();
            })
            .map_err(|e| Error::Setup(format!("cannot start the crash context thread: {e}")))?;
        Ok(TailWorker {
            shared,
            sink,
            thread: Some(thread),
            capacity,
        })
    }

    /// Queue `job`; never waits. A full queue sends it on at once, without context.
    fn push(&self, job: Job) {
        let mut q = self.shared.lock();
        if q.jobs.len() < self.capacity {
            if q.overflowed > 0 && q.jobs.len() < self.capacity / 2 {
                log::warn!(
                    "--tail: {} notifications went out without crash context (supervisord was \
                     answering too slowly); the queue has room again",
                    q.overflowed
                );
                q.overflowed = 0;
            }
            q.jobs.push_back(job);
            self.shared.changed.notify_all();
            return;
        }
        q.overflowed += 1;
        if q.overflowed == 1 {
            log::warn!(
                "--tail: {} notifications are waiting for crash context; more go out without it",
                q.jobs.len()
            );
        }
        drop(q);
        let Job { mut n, context } = job;
        if context.is_some() {
            n.extra.push(format!(
                "Crash context skipped: {} notifications were waiting for theirs.",
                self.capacity
            ));
        }
        self.sink.submit(n);
    }

    /// Let the worker finish the queue, gathering context for up to `grace`; then submit what
    /// is left without it, and shut the notifier down (deliver or spool).
    fn shutdown(&mut self, grace: Duration) {
        let deadline = Instant::now() + grace;
        let mut q = self.shared.lock();
        q.stop = Some(deadline);
        self.shared.changed.notify_all();
        // The worker stops gathering at the deadline; submitting the rest is quick. A call in
        // flight may take its own timeout: wait for it a little longer, then go on without it.
        let hard = deadline + TAIL_RPC_TIMEOUT;
        while !q.done {
            let left = hard.saturating_duration_since(Instant::now());
            if left.is_zero() {
                let n = q.jobs.len();
                log::warn!(
                    "shutdown: crash context still being gathered; {n} queued notifications go \
                     out without it"
                );
                for Job { mut n, context } in q.jobs.drain(..) {
                    if context.is_some() {
                        n.extra
                            .push("Crash context skipped: the listener is stopping.".into());
                    }
                    self.sink.submit(n);
                }
                break;
            }
            q = self
                .shared
                .changed
                .wait_timeout(q, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        let finished = q.done;
        drop(q);
        if finished {
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        }
        self.sink.shutdown();
    }
}

/// The worker's next job and whether to gather context for it (until the shutdown deadline);
/// `None`: stopped and nothing is left.
fn next_job(sh: &TailShared) -> Option<(Job, Option<Instant>)> {
    let mut q = sh.lock();
    loop {
        if let Some(job) = q.jobs.pop_front() {
            return Some((job, q.stop));
        }
        if q.stop.is_some() {
            return None;
        }
        q = sh.changed.wait(q).unwrap_or_else(PoisonError::into_inner);
    }
}

// ---------------------------------------------------------------------------------------------

/// Mail that shows the crash context: the mail channel renders a notification's `text` only
/// (superlance's bodies, byte for byte), so this adds the `extra` lines under the text, after
/// a blank line. Every other behaviour is the mail channel's.
///
/// Belongs in the mail channel itself (render `extra` when there is any: no superlance
/// listener sets it, so their mail is unchanged), which another branch owns; then this goes.
struct MailWithContext(MailChannel);

impl Channel for MailWithContext {
    fn name(&self) -> &str {
        self.0.name()
    }

    fn render(&self, n: &Notification) -> Result<Rendered, RenderError> {
        if n.extra.is_empty() {
            return self.0.render(n);
        }
        let mut with = n.clone();
        with.text = format!("{}\n\n{}", n.text.trim_end(), n.extra.join("\n"));
        with.extra.clear();
        self.0.render(&with)
    }

    fn deliver(&self, r: &Rendered) -> Result<(), DeliveryError> {
        self.0.deliver(r)
    }

    fn describe(&self) -> String {
        self.0.describe()
    }

    fn words(&self) -> Words {
        self.0.words()
    }

    fn envelope(&self) -> bool {
        self.0.envelope()
    }

    fn recipients(&self, r: &Rendered) -> String {
        self.0.recipients(r)
    }

    fn spool_dir(&self, dir: &Path) -> PathBuf {
        self.0.spool_dir(dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Process;
    use std::sync::mpsc;

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

    /// A sink that keeps what it is given.
    #[derive(Default)]
    struct Recorder {
        got: Mutex<Vec<Notification>>,
        shut: Mutex<bool>,
    }

    impl Sink for Recorder {
        fn submit(&self, n: Notification) {
            self.got.lock().unwrap().push(n);
        }
        fn shutdown(&self) {
            *self.shut.lock().unwrap() = true;
        }
    }

    impl Recorder {
        fn texts(&self) -> Vec<String> {
            self.got
                .lock()
                .unwrap()
                .iter()
                .map(|n| format!("{} {:?}", n.text, n.extra))
                .collect()
        }
    }

    fn job(text: &str, context: bool) -> Job {
        Job {
            n: Notification::for_test(None, text, None),
            context: context.then(|| Context {
                namespec: format!("g:{text}"),
                pid: Some(1),
            }),
        }
    }

    fn wait(mut cond: impl FnMut() -> bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if cond() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        false
    }

    #[test]
    fn the_tail_worker_keeps_every_job_in_order() {
        let rec = Arc::new(Recorder::default());
        let (gate, opened) = mpsc::channel::<()>();
        let gather: Gather = Box::new(move |namespec, pid| {
            opened.recv().unwrap();
            vec![format!("context of {namespec} pid {pid:?}")]
        });
        let mut w = TailWorker::start(rec.clone(), gather, 10).unwrap();
        // Held at the gate: the first job gathers, the rest wait, none overtakes.
        w.push(job("a", true));
        w.push(job("b", false));
        w.push(job("c", true));
        assert!(rec.texts().is_empty(), "submitted before its context");
        gate.send(()).unwrap();
        gate.send(()).unwrap();
        assert!(wait(|| rec.texts().len() == 3));
        assert_eq!(
            rec.texts(),
            [
                "a [\"context of g:a pid Some(1)\"]",
                "b []",
                "c [\"context of g:c pid Some(1)\"]"
            ]
        );
        w.shutdown(Duration::from_secs(1));
        assert!(*rec.shut.lock().unwrap(), "the notifier is shut down too");
    }

    #[test]
    fn past_its_bound_the_tail_worker_sends_without_context() {
        let rec = Arc::new(Recorder::default());
        let (gate, opened) = mpsc::channel::<()>();
        let (started, running) = mpsc::channel::<()>();
        let gather: Gather = Box::new(move |namespec, _| {
            started.send(()).unwrap();
            opened.recv().unwrap();
            vec![format!("ctx {namespec}")]
        });
        let mut w = TailWorker::start(rec.clone(), gather, 2).unwrap();
        w.push(job("1", true));
        running.recv().unwrap(); // 1 is being gathered: the queue is empty again
        w.push(job("2", true));
        w.push(job("3", true));
        // Full: 4 and 5 go out at once, counted, saying why they have no context.
        w.push(job("4", true));
        w.push(job("5", false));
        assert_eq!(w.shared.lock().overflowed, 2);
        assert_eq!(
            rec.texts(),
            [
                "4 [\"Crash context skipped: 2 notifications were waiting for theirs.\"]",
                "5 []"
            ]
        );
        for _ in 0..3 {
            gate.send(()).unwrap();
        }
        assert!(wait(|| rec.texts().len() == 5));
        assert_eq!(
            rec.texts()[2..],
            ["1 [\"ctx g:1\"]", "2 [\"ctx g:2\"]", "3 [\"ctx g:3\"]"]
        );
        // Room again: the count is reported and reset at the next push.
        w.push(job("6", false));
        assert_eq!(w.shared.lock().overflowed, 0);
        w.shutdown(Duration::from_secs(1));
        assert_eq!(rec.texts().len(), 6, "6 went out before the worker stopped");
    }

    #[test]
    fn a_stuck_context_does_not_hold_shutdown_forever() {
        let rec = Arc::new(Recorder::default());
        let gather: Gather = Box::new(|_, _| {
            std::thread::sleep(Duration::from_millis(300));
            vec!["late".into()]
        });
        let mut w = TailWorker::start(rec.clone(), gather, 10).unwrap();
        for t in ["a", "b", "c"] {
            w.push(job(t, true));
        }
        let started = Instant::now();
        w.shutdown(Duration::from_millis(100));
        assert!(started.elapsed() < Duration::from_secs(3));
        // a was gathered (begun before the deadline); b and c go out without context.
        let texts = rec.texts();
        assert_eq!(texts.len(), 3, "{texts:?}");
        assert_eq!(texts[0], "a [\"late\"]");
        assert!(texts[1..]
            .iter()
            .all(|t| t.contains("Crash context skipped: the listener is stopping.")));
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

    #[test]
    fn mail_shows_the_crash_context_under_the_text() {
        let mail = MailWithContext(MailChannel::new(
            vec!["ops@example.com".into()],
            None,
            Box::new(crate::notify::channel::mail::transport::Sendmail {
                command: "true".into(),
                timeout: Duration::from_secs(1),
            }),
        ));
        let mut n = Notification::for_test(Some("s"), "web crashed", None);
        let plain = String::from_utf8(mail.render(&n).unwrap().message).unwrap();
        assert!(plain.ends_with("\r\n\r\nweb crashed"), "{plain:?}");
        assert!(!plain.contains("Exit status"));
        n.extra = vec!["Exit status: 3".into(), "| boom".into()];
        let with = String::from_utf8(mail.render(&n).unwrap().message).unwrap();
        assert!(
            with.contains("web crashed\r\n\r\nExit status: 3\r\n| boom"),
            "{with}"
        );
        assert_eq!(mail.name(), "mail");
        assert_eq!(mail.words().one, "mail");
    }
}
