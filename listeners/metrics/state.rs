//! What the metrics listener knows, and its exposition.
//!
//! [`State`] is updated by the protocol loop from events (and seeded once from
//! getAllProcessInfo) and read by the HTTP server thread and the textfile writer, behind one
//! mutex. Programs are kept by group, then name, in `BTreeMap`s: a lookup by the event's
//! borrowed `&str` allocates nothing, and the output comes out sorted, so that two scrapes
//! list series in the same order.
//!
//! The exposition ([`render`]) is written with `crate::exposition`, which the delivery
//! figures of the notifying listeners share: the formats, the escaping of label values.

use std::collections::{BTreeMap, BTreeSet};

use super::server::{HttpFigures, CODES};
use crate::event::{Event, ProcessState, StateChange, SupervisorState};
pub use crate::exposition::Format;
use crate::exposition::{Kind, Out};
use crate::rpc::ProcessInfo;

/// One program's counters and gauges.
#[derive(Debug, Clone, Default)]
pub struct Program {
    /// The current state; `None` until an event or the seed says.
    pub state: Option<ProcessState>,
    /// The pid while it has one (RUNNING, STOPPING), else 0.
    pub pid: u32,
    /// Seconds since the epoch of the last start (supervisord's `start`, or when we saw
    /// STARTING).
    pub start_time: Option<i64>,
    /// (from, to) -> count. `from` is kept as text: a future supervisord may add states.
    pub transitions: BTreeMap<(String, &'static str), u64>,
    /// EXITED events: [not expected, expected].
    pub exits: [u64; 2],
    /// Entries into FATAL.
    pub fatal: u64,
    /// Entries into STARTING (each is a spawn attempt).
    pub starts: u64,
}

/// Everything the listener exposes.
#[derive(Debug, Clone, Default)]
pub struct State {
    /// group -> name -> program.
    pub programs: BTreeMap<String, BTreeMap<String, Program>>,
    /// Events received, by event name.
    pub events: BTreeMap<String, u64>,
    /// supervisord's own state, from SUPERVISOR_STATE_CHANGE_* or the seed.
    pub supervisord: Option<&'static str>,
    /// When this listener started (seconds since the epoch).
    pub listener_start: i64,
    /// Groups added (PROCESS_GROUP_ADDED) whose processes supervisord has not been asked
    /// about yet ([`State::seed_added`]).
    pub added: BTreeSet<String>,
    /// `--textfile` writes that failed; `None` without `--textfile`.
    pub textfile_failures: Option<u64>,
}

/// supervisord's own states as a SUPERVISOR_STATE_CHANGE event or getState names them.
const SUPERVISORD_STATES: [&str; 5] = ["RUNNING", "STOPPING", "RESTARTING", "SHUTDOWN", "FATAL"];

impl State {
    pub fn new(listener_start: i64) -> State {
        State {
            listener_start,
            ..State::default()
        }
    }

    fn program(&mut self, group: &str, name: &str) -> Option<&mut Program> {
        // Lookups by &str on the common path; an allocation only for a program seen first.
        if !self.programs.contains_key(group) {
            self.programs.insert(group.to_owned(), BTreeMap::new());
        }
        let names = self.programs.get_mut(group)?;
        if !names.contains_key(name) {
            names.insert(name.to_owned(), Program::default());
        }
        names.get_mut(name)
    }

    /// Count one event and update the gauges it speaks of. `now` reads the clock in seconds
    /// since the epoch, for the start time of a program seen entering STARTING (only then:
    /// the other events need no clock).
    pub fn apply(&mut self, event: &Event, now: impl FnOnce() -> i64) {
        let name = event_name(event);
        match self.events.get_mut(name.as_ref()) {
            Some(n) => *n += 1,
            None => {
                self.events.insert(name.into_owned(), 1);
            }
        }
        match event {
            Event::ProcessState(change) => self.state_change(change, now),
            Event::SupervisorStateChange(s) => {
                self.supervisord = Some(match s {
                    SupervisorState::Running => "RUNNING",
                    SupervisorState::Stopping => "STOPPING",
                })
            }
            // `supervisorctl add` or `update`: the listener asks supervisord about the group's
            // processes, off the loop (listeners/metrics/mod.rs), and `seed_added` fills them.
            // supervisord also announces every group at its start: those the start-up seed
            // knows already need no question.
            Event::ProcessGroupAdded { group } if !self.programs.contains_key(*group) => {
                self.added.insert((*group).to_owned());
            }
            // `supervisorctl remove` or `update`: every series of the group ends, its counters
            // too (docs/metrics.md, "Groups added and removed"): a FATAL gauge of a program that
            // no longer exists would alert forever, and series kept for every name ever
            // configured would grow without bound. A group added again starts at 0, which
            // rate() and increase() take as a counter reset.
            Event::ProcessGroupRemoved { group } => {
                self.programs.remove(*group);
                self.added.remove(*group);
            }
            _ => {}
        }
    }

    fn state_change(&mut self, change: &StateChange, now: impl FnOnce() -> i64) {
        let Some(p) = self.program(change.process.group, change.process.name) else {
            return;
        };
        let to = change.state;
        p.state = Some(to);
        let key_found = p
            .transitions
            .iter_mut()
            .find(|((from, t), _)| *t == to.name() && from == change.from_state);
        match key_found {
            Some((_, n)) => *n += 1,
            None => {
                p.transitions
                    .insert((change.from_state.to_owned(), to.name()), 1);
            }
        }
        match to {
            ProcessState::Starting => {
                p.starts += 1;
                p.start_time = Some(now());
                p.pid = 0;
            }
            ProcessState::Running | ProcessState::Stopping => {
                if let Some(pid) = change.pid.filter(|&p| p > 0) {
                    p.pid = pid;
                }
            }
            ProcessState::Exited => {
                p.exits[usize::from(change.expected == Some(true))] += 1;
                p.pid = 0;
            }
            ProcessState::Fatal => {
                p.fatal += 1;
                p.pid = 0;
            }
            ProcessState::Stopped | ProcessState::Backoff | ProcessState::Unknown => p.pid = 0,
        }
    }

    /// Seed the gauges from getAllProcessInfo: state, pid and start time of every process.
    /// No counter is invented: they count what we see from now on (at 0 for every program).
    pub fn seed(&mut self, infos: &[ProcessInfo], supervisord: Option<&str>) {
        for info in infos {
            let Some(p) = self.program(&info.group, &info.name) else {
                continue;
            };
            p.state = info.process_state();
            p.pid = info.pid;
            p.start_time = (info.start > 0).then_some(info.start);
        }
        if let Some(s) = supervisord {
            self.supervisord = SUPERVISORD_STATES.iter().copied().find(|&k| k == s);
        }
    }

    /// Seed the processes of the groups added since the last call from getAllProcessInfo
    /// `infos`, asked for after their PROCESS_GROUP_ADDED. Only what no event has told yet
    /// is filled in: an event seen meanwhile is as new as the answer or newer. A group
    /// removed meanwhile is left out (it is no longer in `added`), and one added after the
    /// question (absent from `infos`) waits for the next. Returns how many were seeded.
    pub fn seed_added(&mut self, infos: &[ProcessInfo]) -> usize {
        let mut seeded = 0;
        let mut found = BTreeSet::new();
        for info in infos {
            if !self.added.contains(&info.group) {
                continue;
            }
            found.insert(info.group.clone());
            let Some(p) = self.program(&info.group, &info.name) else {
                continue;
            };
            if p.state.is_none() {
                p.state = info.process_state();
                p.pid = info.pid;
                p.start_time = (info.start > 0).then_some(info.start);
                seeded += 1;
            }
        }
        self.added.retain(|g| !found.contains(g));
        seeded
    }

    /// The running programs' pids, for memory read at scrape time: (group, name, pid).
    pub fn running_pids(&self) -> Vec<(String, String, u32)> {
        let mut out = Vec::new();
        for (group, names) in &self.programs {
            for (name, p) in names {
                if p.pid > 0 {
                    out.push((group.clone(), name.clone(), p.pid));
                }
            }
        }
        out
    }
}

/// The event's name as supervisord sent it (typed events carry no copy of it).
fn event_name<'a>(event: &Event<'a>) -> std::borrow::Cow<'a, str> {
    use crate::event::Channel;
    use std::borrow::Cow;
    Cow::Borrowed(match event {
        Event::ProcessState(s) => match s.state {
            ProcessState::Stopped => "PROCESS_STATE_STOPPED",
            ProcessState::Starting => "PROCESS_STATE_STARTING",
            ProcessState::Running => "PROCESS_STATE_RUNNING",
            ProcessState::Backoff => "PROCESS_STATE_BACKOFF",
            ProcessState::Stopping => "PROCESS_STATE_STOPPING",
            ProcessState::Exited => "PROCESS_STATE_EXITED",
            ProcessState::Fatal => "PROCESS_STATE_FATAL",
            ProcessState::Unknown => "PROCESS_STATE_UNKNOWN",
        },
        Event::Tick { period, .. } => match period {
            5 => "TICK_5",
            60 => "TICK_60",
            3600 => "TICK_3600",
            p => return Cow::Owned(format!("TICK_{p}")),
        },
        Event::ProcessCommunication { channel, .. } => match channel {
            Channel::Stdout => "PROCESS_COMMUNICATION_STDOUT",
            Channel::Stderr => "PROCESS_COMMUNICATION_STDERR",
        },
        Event::ProcessLog { channel, .. } => match channel {
            Channel::Stdout => "PROCESS_LOG_STDOUT",
            Channel::Stderr => "PROCESS_LOG_STDERR",
        },
        Event::RemoteCommunication { .. } => "REMOTE_COMMUNICATION",
        Event::SupervisorStateChange(SupervisorState::Running) => "SUPERVISOR_STATE_CHANGE_RUNNING",
        Event::SupervisorStateChange(SupervisorState::Stopping) => {
            "SUPERVISOR_STATE_CHANGE_STOPPING"
        }
        Event::ProcessGroupAdded { .. } => "PROCESS_GROUP_ADDED",
        Event::ProcessGroupRemoved { .. } => "PROCESS_GROUP_REMOVED",
        Event::Other { name, .. } => return Cow::Borrowed(name),
    })
}

/// Memory read at scrape time: (group, name, resident bytes).
pub type Memory = [(String, String, u64)];

/// The whole exposition of `state` (and `memory`, when `--memory` gave one; the server's
/// figures when it serves) in `format`.
pub fn render(
    state: &State,
    memory: Option<&Memory>,
    http: Option<&HttpFigures>,
    format: Format,
) -> String {
    let mut text = String::with_capacity(4096 + state.programs.len() * 2048);
    let mut o = Out {
        text: &mut text,
        format,
    };
    let each = |f: &mut dyn FnMut(&str, &str, &Program)| {
        for (group, names) in &state.programs {
            for (name, p) in names {
                f(group, name, p);
            }
        }
    };

    o.family(
        "supervisor_process_transitions_total",
        Kind::Counter,
        "Process state changes seen by this listener, by from and to state.",
    );
    each(&mut |g, n, p| {
        for ((from, to), count) in &p.transitions {
            o.sample(
                "supervisor_process_transitions_total",
                &[("group", g), ("name", n), ("from", from), ("to", to)],
                count,
            );
        }
    });
    o.family(
        "supervisor_process_starts_total",
        Kind::Counter,
        "Times a process entered STARTING (spawn attempts).",
    );
    each(&mut |g, n, p| {
        o.sample(
            "supervisor_process_starts_total",
            &[("group", g), ("name", n)],
            p.starts,
        )
    });
    o.family(
        "supervisor_process_exits_total",
        Kind::Counter,
        "Times a process exited from RUNNING (EXITED), by whether the exit status was in exitcodes.",
    );
    each(&mut |g, n, p| {
        for (expected, count) in [("false", p.exits[0]), ("true", p.exits[1])] {
            o.sample(
                "supervisor_process_exits_total",
                &[("group", g), ("name", n), ("expected", expected)],
                count,
            );
        }
    });
    o.family(
        "supervisor_process_fatal_total",
        Kind::Counter,
        "Times a process entered FATAL (gave up after startretries).",
    );
    each(&mut |g, n, p| {
        o.sample(
            "supervisor_process_fatal_total",
            &[("group", g), ("name", n)],
            p.fatal,
        )
    });
    o.family(
        "supervisor_process_state",
        Kind::Gauge,
        "The process's current state: 1 for the state it is in, 0 for the others.",
    );
    each(&mut |g, n, p| {
        let Some(current) = p.state else { return };
        for s in ProcessState::ALL {
            o.sample(
                "supervisor_process_state",
                &[("group", g), ("name", n), ("state", s.name())],
                u8::from(s == current),
            );
        }
    });
    o.family(
        "supervisor_process_pid",
        Kind::Gauge,
        "The process's pid; 0 when it has none (not running).",
    );
    each(&mut |g, n, p| {
        o.sample(
            "supervisor_process_pid",
            &[("group", g), ("name", n)],
            p.pid,
        )
    });
    o.family(
        "supervisor_process_start_time_seconds",
        Kind::Gauge,
        "When the process was last started, in seconds since the epoch.",
    );
    each(&mut |g, n, p| {
        if let Some(t) = p.start_time {
            o.sample(
                "supervisor_process_start_time_seconds",
                &[("group", g), ("name", n)],
                t,
            )
        }
    });
    if let Some(memory) = memory {
        o.family(
            "supervisor_process_resident_memory_bytes",
            Kind::Gauge,
            "Resident memory (VmRSS) of the running process, read at scrape time.",
        );
        for (g, n, bytes) in memory {
            o.sample(
                "supervisor_process_resident_memory_bytes",
                &[("group", g), ("name", n)],
                bytes,
            );
        }
    }
    o.family(
        "supervisor_supervisord_state",
        Kind::Gauge,
        "supervisord's own state: 1 for the state it is in, 0 for the others.",
    );
    if let Some(current) = state.supervisord {
        for s in SUPERVISORD_STATES {
            o.sample(
                "supervisor_supervisord_state",
                &[("state", s)],
                u8::from(s == current),
            );
        }
    }
    o.family(
        "supervisor_listener_events_total",
        Kind::Counter,
        "Events this listener received, by event name.",
    );
    for (event, count) in &state.events {
        o.sample(
            "supervisor_listener_events_total",
            &[("event", event)],
            count,
        );
    }
    o.family(
        "supervisor_listener_start_time_seconds",
        Kind::Gauge,
        "When this listener started, in seconds since the epoch (its counters start at 0 then).",
    );
    o.sample(
        "supervisor_listener_start_time_seconds",
        &[],
        state.listener_start,
    );
    if let Some(http) = http {
        use std::sync::atomic::Ordering::Relaxed;
        o.family(
            "supervisor_listener_http_requests_total",
            Kind::Counter,
            "Requests this listener's HTTP server answered, by status code.",
        );
        for (code, n) in CODES.iter().zip(&http.answers) {
            o.sample(
                "supervisor_listener_http_requests_total",
                &[("code", &code.to_string())],
                n.load(Relaxed),
            );
        }
        o.family(
            "supervisor_listener_http_connections_refused_total",
            Kind::Counter,
            "Connections closed unanswered because every place was taken (a flood, or slow clients).",
        );
        o.sample(
            "supervisor_listener_http_connections_refused_total",
            &[],
            http.refused.load(Relaxed),
        );
    }
    if let Some(failures) = state.textfile_failures {
        o.family(
            "supervisor_listener_textfile_write_failures_total",
            Kind::Counter,
            "Writes of the --textfile that failed (see the listener's log).",
        );
        o.sample(
            "supervisor_listener_textfile_write_failures_total",
            &[],
            failures,
        );
    }
    o.finish();
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::parse;

    fn feed(s: &mut State, name: &str, payload: &str) {
        s.apply(&parse(name, payload).event, || 1_700_000_000);
    }

    fn crash_loop(s: &mut State) {
        for (name, payload) in [
            (
                "PROCESS_STATE_STARTING",
                "processname:web groupname:web from_state:STOPPED tries:0",
            ),
            (
                "PROCESS_STATE_RUNNING",
                "processname:web groupname:web from_state:STARTING pid:42",
            ),
            (
                "PROCESS_STATE_EXITED",
                "processname:web groupname:web from_state:RUNNING expected:0 pid:42",
            ),
            (
                "PROCESS_STATE_STARTING",
                "processname:web groupname:web from_state:EXITED tries:0",
            ),
            (
                "PROCESS_STATE_BACKOFF",
                "processname:web groupname:web from_state:STARTING tries:1",
            ),
            (
                "PROCESS_STATE_STARTING",
                "processname:web groupname:web from_state:BACKOFF tries:1",
            ),
            (
                "PROCESS_STATE_BACKOFF",
                "processname:web groupname:web from_state:STARTING tries:2",
            ),
            (
                "PROCESS_STATE_FATAL",
                "processname:web groupname:web from_state:BACKOFF",
            ),
            ("TICK_5", "when:1700000005"),
            ("SUPERVISOR_STATE_CHANGE_RUNNING", ""),
        ] {
            feed(s, name, payload);
        }
    }

    #[test]
    fn counters_and_gauges_follow_the_events() {
        let mut s = State::new(1_699_999_999);
        crash_loop(&mut s);
        let p = &s.programs["web"]["web"];
        assert_eq!(p.starts, 3);
        assert_eq!(p.exits, [1, 0]);
        assert_eq!(p.fatal, 1);
        assert_eq!(p.state, Some(ProcessState::Fatal));
        assert_eq!(p.pid, 0);
        assert_eq!(p.transitions[&("BACKOFF".to_owned(), "STARTING")], 1);
        assert_eq!(p.transitions[&("STARTING".to_owned(), "BACKOFF")], 2);
        assert_eq!(s.events["PROCESS_STATE_STARTING"], 3);
        assert_eq!(s.events["TICK_5"], 1);
        assert_eq!(s.supervisord, Some("RUNNING"));
        let text = render(&s, None, None, Format::Text);
        for line in [
            "supervisor_process_transitions_total{group=\"web\",name=\"web\",from=\"STARTING\",to=\"BACKOFF\"} 2\n",
            "supervisor_process_starts_total{group=\"web\",name=\"web\"} 3\n",
            "supervisor_process_exits_total{group=\"web\",name=\"web\",expected=\"false\"} 1\n",
            "supervisor_process_exits_total{group=\"web\",name=\"web\",expected=\"true\"} 0\n",
            "supervisor_process_fatal_total{group=\"web\",name=\"web\"} 1\n",
            "supervisor_process_state{group=\"web\",name=\"web\",state=\"FATAL\"} 1\n",
            "supervisor_process_state{group=\"web\",name=\"web\",state=\"RUNNING\"} 0\n",
            "supervisor_process_pid{group=\"web\",name=\"web\"} 0\n",
            "supervisor_process_start_time_seconds{group=\"web\",name=\"web\"} 1700000000\n",
            "supervisor_supervisord_state{state=\"RUNNING\"} 1\n",
            "supervisor_listener_events_total{event=\"PROCESS_STATE_FATAL\"} 1\n",
            "supervisor_listener_start_time_seconds 1699999999\n",
            "# TYPE supervisor_process_transitions_total counter\n",
        ] {
            assert!(text.contains(line), "{line:?} not in:\n{text}");
        }
        assert!(!text.contains("# EOF"));
        let om = render(&s, None, None, Format::OpenMetrics);
        assert!(om.contains("# TYPE supervisor_process_transitions counter\n"));
        assert!(om.contains("supervisor_process_fatal_total{group=\"web\",name=\"web\"} 1\n"));
        assert!(om.ends_with("# EOF\n"));
    }

    #[test]
    fn seed_sets_gauges_only() {
        let mut s = State::new(0);
        s.seed(
            &[ProcessInfo {
                group: "g".into(),
                name: "a".into(),
                statename: "RUNNING".into(),
                pid: 7,
                start: 1_600_000_000,
                ..Default::default()
            }],
            Some("RUNNING"),
        );
        let p = &s.programs["g"]["a"];
        assert_eq!(
            (p.state, p.pid, p.start_time),
            (Some(ProcessState::Running), 7, Some(1_600_000_000))
        );
        assert_eq!((p.starts, p.exits, p.fatal), (0, [0, 0], 0));
        assert!(p.transitions.is_empty() && s.events.is_empty());
        assert_eq!(s.running_pids(), vec![("g".into(), "a".into(), 7)]);
        let text = render(
            &s,
            Some(&[("g".into(), "a".into(), 4096)]),
            None,
            Format::Text,
        );
        assert!(text
            .contains("supervisor_process_resident_memory_bytes{group=\"g\",name=\"a\"} 4096\n"));
        assert!(text.contains("supervisor_process_starts_total{group=\"g\",name=\"a\"} 0\n"));
    }

    #[test]
    fn label_values_are_escaped_and_utf8_kept() {
        let mut s = State::new(0);
        feed(
            &mut s,
            "PROCESS_STATE_STARTING",
            "processname:we\"b\\ groupname:grüppe from_state:STOPPED tries:0",
        );
        let text = render(&s, None, None, Format::Text);
        assert!(
            text.contains(
                "supervisor_process_starts_total{group=\"grüppe\",name=\"we\\\"b\\\\\"} 1\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn a_removed_group_is_forgotten() {
        let mut s = State::new(0);
        crash_loop(&mut s);
        feed(
            &mut s,
            "PROCESS_STATE_STARTING",
            "processname:b groupname:other from_state:STOPPED tries:0",
        );
        feed(&mut s, "PROCESS_GROUP_REMOVED", "groupname:web\n");
        assert!(!s.programs.contains_key("web"));
        assert!(s.programs.contains_key("other"));
        assert!(!render(&s, None, None, Format::Text).contains("name=\"web\""));
        assert_eq!(s.events["PROCESS_GROUP_REMOVED"], 1);
    }

    #[test]
    fn an_added_group_is_seeded_once_without_overwriting_what_events_said() {
        let info = |group: &str, name: &str, statename: &str, pid| ProcessInfo {
            group: group.into(),
            name: name.into(),
            statename: statename.into(),
            pid,
            start: 1_600_000_000,
            ..Default::default()
        };
        let mut s = State::new(0);
        feed(&mut s, "PROCESS_GROUP_ADDED", "groupname:late\n");
        feed(&mut s, "PROCESS_GROUP_ADDED", "groupname:gone\n");
        feed(&mut s, "PROCESS_GROUP_ADDED", "groupname:later\n");
        // An event for late:b came before the answer: it stays as the event said.
        feed(
            &mut s,
            "PROCESS_STATE_STOPPING",
            "processname:b groupname:late from_state:RUNNING pid:9",
        );
        feed(&mut s, "PROCESS_GROUP_REMOVED", "groupname:gone\n");
        let infos = [
            info("late", "a", "RUNNING", 7),
            info("late", "b", "RUNNING", 9),
            info("gone", "x", "RUNNING", 8),
            info("old", "o", "FATAL", 0),
        ];
        assert_eq!(s.seed_added(&infos), 1);
        let a = &s.programs["late"]["a"];
        assert_eq!((a.state, a.pid), (Some(ProcessState::Running), 7));
        assert_eq!(s.programs["late"]["b"].state, Some(ProcessState::Stopping));
        assert!(!s.programs.contains_key("gone") && !s.programs.contains_key("old"));
        // `later` was not in the answer: it waits for the next one.
        assert_eq!(s.added.iter().collect::<Vec<_>>(), ["later"]);
        assert_eq!(s.seed_added(&infos), 0, "late is seeded once");
        let text = render(&s, None, None, Format::Text);
        assert!(text
            .contains("supervisor_process_state{group=\"late\",name=\"a\",state=\"RUNNING\"} 1\n"));
        assert!(text.contains("supervisor_process_starts_total{group=\"late\",name=\"a\"} 0\n"));
    }

    #[test]
    fn unknown_events_are_counted_by_name() {
        let mut s = State::new(0);
        feed(&mut s, "SOMETHING_NEW", "x");
        feed(&mut s, "SOMETHING_NEW", "y");
        assert_eq!(s.events["SOMETHING_NEW"], 2);
    }
}
