//! Typed events: every Supervisor 4 event type with its payload tokens as fields.
//!
//! Facts from supervisor/events.py and docs/events.rst (reference: protocol.md §2). Parsing
//! never fails: a well-framed event with odd content is not a reason to lose the stream. An
//! event name we do not know becomes [`Event::Other`]. A token its type needs that is missing
//! or not valid is a [`Faults`] entry beside the event ([`Parsed`]): without `processname`,
//! `groupname`, or the `pid` of a log or communication event, or `when`, `type`, the event
//! becomes [`Event::Other`] as well; without a state's `from_state`, `pid` or `expected`, it
//! keeps its type with that field empty. Either way it is acknowledged, and the runtime says
//! which field, once per kind (issue 15). Faults are bits and static names: the valid path
//! allocates nothing.

use crate::protocol::{self, Frame};

/// The states of a supervised process (supervisor/states.py).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProcessState {
    Stopped,
    Starting,
    Running,
    Backoff,
    Stopping,
    Exited,
    Fatal,
    Unknown,
}

impl ProcessState {
    pub const ALL: [ProcessState; 8] = [
        ProcessState::Stopped,
        ProcessState::Starting,
        ProcessState::Running,
        ProcessState::Backoff,
        ProcessState::Stopping,
        ProcessState::Exited,
        ProcessState::Fatal,
        ProcessState::Unknown,
    ];

    /// The name supervisord uses (`RUNNING`, ...).
    pub fn name(self) -> &'static str {
        match self {
            ProcessState::Stopped => "STOPPED",
            ProcessState::Starting => "STARTING",
            ProcessState::Running => "RUNNING",
            ProcessState::Backoff => "BACKOFF",
            ProcessState::Stopping => "STOPPING",
            ProcessState::Exited => "EXITED",
            ProcessState::Fatal => "FATAL",
            ProcessState::Unknown => "UNKNOWN",
        }
    }

    pub fn from_name(name: &str) -> Option<ProcessState> {
        Some(match name {
            "STOPPED" => ProcessState::Stopped,
            "STARTING" => ProcessState::Starting,
            "RUNNING" => ProcessState::Running,
            "BACKOFF" => ProcessState::Backoff,
            "STOPPING" => ProcessState::Stopping,
            "EXITED" => ProcessState::Exited,
            "FATAL" => ProcessState::Fatal,
            "UNKNOWN" => ProcessState::Unknown,
            _ => return None,
        })
    }
}

/// The process an event is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Process<'a> {
    pub name: &'a str,
    pub group: &'a str,
}

impl Process<'_> {
    /// `group:name`, supervisor's "namespec".
    pub fn namespec(&self) -> String {
        format!("{}:{}", self.group, self.name)
    }
}

/// PROCESS_STATE_* payload. Which optional fields are present depends on the state:
/// `pid` for RUNNING/STOPPING/EXITED/STOPPED, `tries` for STARTING/BACKOFF, `expected` for
/// EXITED.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateChange<'a> {
    pub state: ProcessState,
    pub process: Process<'a>,
    /// `from_state`, kept as text (a future supervisord may add states).
    pub from_state: &'a str,
    pub pid: Option<u32>,
    pub tries: Option<u32>,
    /// EXITED only: whether the exit status was in the program's `exitcodes`.
    pub expected: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Stdout,
    Stderr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SupervisorState {
    Running,
    Stopping,
}

/// An event, typed, borrowing its text from the frame it was read from (no copy per event); a
/// listener that keeps something copies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event<'a> {
    ProcessState(StateChange<'a>),
    /// TICK_5, TICK_60, TICK_3600: `period` in seconds, `when` the period start (epoch seconds).
    Tick {
        period: u32,
        when: u64,
    },
    /// PROCESS_COMMUNICATION_STDOUT/STDERR: data a program sent between the capture tokens.
    ProcessCommunication {
        channel: Channel,
        process: Process<'a>,
        pid: u32,
        data: &'a str,
    },
    /// PROCESS_LOG_STDOUT/STDERR (needs `stdout_events_enabled`/`stderr_events_enabled`).
    /// ochinchina/supervisord omits the `channel` token; the event name says it anyway.
    ProcessLog {
        channel: Channel,
        process: Process<'a>,
        pid: u32,
        data: &'a str,
    },
    RemoteCommunication {
        kind: &'a str,
        data: &'a str,
    },
    SupervisorStateChange(SupervisorState),
    ProcessGroupAdded {
        group: &'a str,
    },
    ProcessGroupRemoved {
        group: &'a str,
    },
    /// Anything else: an event name we do not know, or a payload that lacks a token.
    Other {
        name: &'a str,
        payload: &'a str,
    },
}

impl<'a> Event<'a> {
    /// The event, whatever its faults (see [`Parsed::from_frame`] for them).
    pub fn from_frame(frame: &Frame<'a>) -> Event<'a> {
        Parsed::from_frame(frame).event
    }
}

/// An event and what was wrong with its tokens (nothing, nearly always).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed<'a> {
    pub event: Event<'a>,
    pub faults: Faults,
}

impl<'a> Parsed<'a> {
    pub fn from_frame(frame: &Frame<'a>) -> Parsed<'a> {
        parse(frame.header.eventname(), frame.payload)
    }
}

/// A payload token that some event type needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    ProcessName,
    GroupName,
    FromState,
    Pid,
    Tries,
    Expected,
    When,
    Type,
}

impl Field {
    pub const ALL: [Field; 8] = [
        Field::ProcessName,
        Field::GroupName,
        Field::FromState,
        Field::Pid,
        Field::Tries,
        Field::Expected,
        Field::When,
        Field::Type,
    ];

    /// The token's key, as supervisord writes it.
    pub fn key(self) -> &'static str {
        match self {
            Field::ProcessName => "processname",
            Field::GroupName => "groupname",
            Field::FromState => "from_state",
            Field::Pid => "pid",
            Field::Tries => "tries",
            Field::Expected => "expected",
            Field::When => "when",
            Field::Type => "type",
        }
    }

    /// The field whose token key is `key`, if any.
    fn from_key(key: &[u8]) -> Option<Field> {
        Some(match key {
            b"processname" => Field::ProcessName,
            b"groupname" => Field::GroupName,
            b"from_state" => Field::FromState,
            b"pid" => Field::Pid,
            b"tries" => Field::Tries,
            b"expected" => Field::Expected,
            b"when" => Field::When,
            b"type" => Field::Type,
            _ => return None,
        })
    }

    fn bit(self) -> u16 {
        1 << self as u16
    }
}

/// What was wrong with a well-framed event of a known type: the tokens that were missing and
/// those whose value was not valid (a `pid` that is no number), and whether the event could
/// not be typed at all because of them. Copyable bits, no allocation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Faults {
    /// The event name, as a static string, when there is a fault (the key a runtime uses to
    /// say each kind once).
    event: &'static str,
    missing: u16,
    invalid: u16,
    ignored: bool,
}

/// What is wrong with one field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Missing,
    Invalid,
}

impl Faults {
    pub fn is_empty(&self) -> bool {
        self.missing == 0 && self.invalid == 0
    }

    /// The name of the event type the faults are in (empty if there are none).
    pub fn event(&self) -> &'static str {
        self.event
    }

    /// True if the event became [`Event::Other`] for want of these fields (a listener does
    /// not act on it); false if it kept its type with the fields empty.
    pub fn ignored(&self) -> bool {
        self.ignored
    }

    /// Each faulty field, in [`Field::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = (Field, Fault)> + '_ {
        Field::ALL.into_iter().filter_map(|f| {
            if self.missing & f.bit() != 0 {
                Some((f, Fault::Missing))
            } else if self.invalid & f.bit() != 0 {
                Some((f, Fault::Invalid))
            } else {
                None
            }
        })
    }
}

/// Every event name we type, so that faults can name one without borrowing the frame.
const KNOWN: [&str; 20] = [
    "PROCESS_STATE_STOPPED",
    "PROCESS_STATE_STARTING",
    "PROCESS_STATE_RUNNING",
    "PROCESS_STATE_BACKOFF",
    "PROCESS_STATE_STOPPING",
    "PROCESS_STATE_EXITED",
    "PROCESS_STATE_FATAL",
    "PROCESS_STATE_UNKNOWN",
    "TICK_5",
    "TICK_60",
    "TICK_3600",
    "PROCESS_COMMUNICATION_STDOUT",
    "PROCESS_COMMUNICATION_STDERR",
    "PROCESS_LOG_STDOUT",
    "PROCESS_LOG_STDERR",
    "REMOTE_COMMUNICATION",
    "SUPERVISOR_STATE_CHANGE_RUNNING",
    "SUPERVISOR_STATE_CHANGE_STOPPING",
    "PROCESS_GROUP_ADDED",
    "PROCESS_GROUP_REMOVED",
];

pub(crate) fn parse<'a>(name: &'a str, payload: &'a str) -> Parsed<'a> {
    let (mut tokens, data) = Tokens::split(payload);
    let event = typed(name, &mut tokens, data);
    let mut faults = tokens.faults;
    if !faults.is_empty() {
        // Only names we type record faults, so this always finds it.
        faults.event = KNOWN.into_iter().find(|k| *k == name).unwrap_or("?");
        faults.ignored = event.is_none();
    }
    Parsed {
        event: event.unwrap_or(Event::Other { name, payload }),
        faults,
    }
}

/// The typed event, or `None` for a name we do not know or a token it cannot do without.
fn typed<'a>(name: &'a str, tokens: &mut Tokens<'a>, data: &'a str) -> Option<Event<'a>> {
    if let Some(state) = name.strip_prefix("PROCESS_STATE_") {
        let state = ProcessState::from_name(state)?;
        // What supervisord 4 and ochinchina/supervisord always send: a pid while a process
        // runs and when it exits (STOPPED may lack it: ochinchina omits pid 0), `expected`
        // on EXITED, `from_state` everywhere. `tries` no listener needs: only checked if
        // present.
        use ProcessState::{Exited, Running, Stopping};
        let process = tokens.process();
        let from_state = tokens.text(Field::FromState).unwrap_or("");
        let pid = tokens.number(Field::Pid, matches!(state, Running | Stopping | Exited));
        let tries = tokens.number(Field::Tries, false);
        let expected = tokens.number::<u8>(Field::Expected, state == Exited);
        return Some(Event::ProcessState(StateChange {
            state,
            process: process?,
            from_state,
            pid,
            tries,
            expected: expected.map(|e| e != 0),
        }));
    }
    let event = match name {
        "TICK_5" | "TICK_60" | "TICK_3600" => Event::Tick {
            period: name[5..].parse().ok()?,
            when: tokens.number(Field::When, true)?,
        },
        "PROCESS_COMMUNICATION_STDOUT" | "PROCESS_COMMUNICATION_STDERR" => {
            let process = tokens.process();
            Event::ProcessCommunication {
                channel: channel_of(name),
                pid: tokens.number(Field::Pid, true)?,
                process: process?,
                data,
            }
        }
        "PROCESS_LOG_STDOUT" | "PROCESS_LOG_STDERR" => {
            let process = tokens.process();
            Event::ProcessLog {
                channel: channel_of(name),
                pid: tokens.number(Field::Pid, true)?,
                process: process?,
                data,
            }
        }
        "REMOTE_COMMUNICATION" => Event::RemoteCommunication {
            kind: tokens.text(Field::Type)?,
            data,
        },
        "SUPERVISOR_STATE_CHANGE_RUNNING" => Event::SupervisorStateChange(SupervisorState::Running),
        "SUPERVISOR_STATE_CHANGE_STOPPING" => {
            Event::SupervisorStateChange(SupervisorState::Stopping)
        }
        "PROCESS_GROUP_ADDED" => Event::ProcessGroupAdded {
            group: tokens.text(Field::GroupName)?,
        },
        "PROCESS_GROUP_REMOVED" => Event::ProcessGroupRemoved {
            group: tokens.text(Field::GroupName)?,
        },
        _ => return None,
    };
    Some(event)
}

fn channel_of(name: &str) -> Channel {
    if name.ends_with("STDERR") {
        Channel::Stderr
    } else {
        Channel::Stdout
    }
}

/// The `key:value` token line of a payload, split once into the values of the fields any
/// type needs, noting the faults of the fields asked for.
///
/// One pass over the bytes, not a search per field: this runs for every event, most of which
/// a listener does not act on (docs/performance.md). A key that comes twice counts at its
/// first occurrence; tokens without `:` and unknown keys are skipped.
struct Tokens<'a> {
    values: [Option<&'a str>; Field::ALL.len()],
    faults: Faults,
}

impl<'a> Tokens<'a> {
    /// The tokens of `payload`'s first line, and the data after its first newline (`""` if
    /// there is none).
    fn split(payload: &'a str) -> (Tokens<'a>, &'a str) {
        let mut values = [None; Field::ALL.len()];
        let mut split = protocol::Tokens::new(payload);
        while let Some(span) = split.next_span() {
            if let Some(field) = span.key(payload).and_then(Field::from_key) {
                let slot = &mut values[field as usize];
                if slot.is_none() {
                    *slot = Some(span.value(payload));
                }
            }
        }
        let tokens = Tokens {
            values,
            faults: Faults::default(),
        };
        (tokens, split.rest())
    }

    fn get(&self, field: Field) -> Option<&'a str> {
        self.values[field as usize]
    }

    /// A text field the type needs: noted if missing.
    fn text(&mut self, field: Field) -> Option<&'a str> {
        let value = self.get(field);
        if value.is_none() {
            self.faults.missing |= field.bit();
        }
        value
    }

    /// A number field: noted if present but not a number, or missing when `needed`.
    fn number<N: std::str::FromStr>(&mut self, field: Field, needed: bool) -> Option<N> {
        match self.get(field) {
            None => {
                if needed {
                    self.faults.missing |= field.bit();
                }
                None
            }
            Some(text) => {
                let value = text.parse().ok();
                if value.is_none() {
                    self.faults.invalid |= field.bit();
                }
                value
            }
        }
    }

    /// `processname` and `groupname` (both looked at, so both are noted if missing).
    fn process(&mut self) -> Option<Process<'a>> {
        let name = self.text(Field::ProcessName);
        let group = self.text(Field::GroupName);
        Some(Process {
            name: name?,
            group: group?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev<'a>(name: &'a str, payload: &'a str) -> Event<'a> {
        parse(name, payload).event
    }

    /// The faults of an event, as (field key, fault) pairs, and whether it was ignored.
    fn faults(name: &str, payload: &str) -> (Vec<(&'static str, Fault)>, bool) {
        let f = parse(name, payload).faults;
        if !f.is_empty() {
            assert_eq!(f.event(), name);
        }
        (f.iter().map(|(k, v)| (k.key(), v)).collect(), f.ignored())
    }

    fn state<'a>(s: ProcessState, name: &'a str, group: &'a str) -> StateChange<'a> {
        StateChange {
            state: s,
            process: Process { name, group },
            from_state: "",
            pid: None,
            tries: None,
            expected: None,
        }
    }

    #[test]
    fn names_and_keys_read_back() {
        for s in ProcessState::ALL {
            assert_eq!(ProcessState::from_name(s.name()), Some(s));
        }
        for f in Field::ALL {
            assert_eq!(Field::from_key(f.key().as_bytes()), Some(f));
        }
        assert_eq!(ProcessState::from_name("running"), None);
        assert_eq!(Field::from_key(b"channel"), None);
    }

    #[test]
    fn first_token_of_a_key_counts_and_odd_tokens_are_skipped() {
        let Event::ProcessState(s) = ev(
            "PROCESS_STATE_RUNNING",
            "junk :x processname:a:b groupname:g\tpid:7 pid:8 processname:z\nprocessname:data",
        ) else {
            panic!()
        };
        assert_eq!(
            (s.process.name, s.process.group, s.pid),
            ("a:b", "g", Some(7))
        );
        let Event::ProcessLog { data, .. } = ev(
            "PROCESS_LOG_STDOUT",
            "processname:a groupname:g pid:7 channel:stdout\nline 1\nline 2",
        ) else {
            panic!()
        };
        assert_eq!(data, "line 1\nline 2");
    }

    #[test]
    fn every_process_state() {
        // Payloads as supervisord 4.3.0 emits them (protocol.md §2).
        let cases = [
            (
                "STARTING",
                "processname:cat groupname:cat from_state:STOPPED tries:0",
                None,
                Some(0),
                None,
            ),
            (
                "RUNNING",
                "processname:cat groupname:cat from_state:STARTING pid:2766",
                Some(2766),
                None,
                None,
            ),
            (
                "BACKOFF",
                "processname:cat groupname:cat from_state:STARTING tries:1",
                None,
                Some(1),
                None,
            ),
            (
                "STOPPING",
                "processname:cat groupname:cat from_state:RUNNING pid:2766",
                Some(2766),
                None,
                None,
            ),
            (
                "EXITED",
                "processname:cat groupname:cat from_state:RUNNING expected:0 pid:2766",
                Some(2766),
                None,
                Some(false),
            ),
            (
                "STOPPED",
                "processname:cat groupname:cat from_state:STOPPING pid:2766",
                Some(2766),
                None,
                None,
            ),
            (
                "FATAL",
                "processname:cat groupname:cat from_state:BACKOFF",
                None,
                None,
                None,
            ),
            (
                "UNKNOWN",
                "processname:cat groupname:cat from_state:BACKOFF",
                None,
                None,
                None,
            ),
        ];
        for (st, payload, pid, tries, expected) in cases {
            let name = format!("PROCESS_STATE_{st}");
            let Event::ProcessState(s) = ev(&name, payload) else {
                panic!("{st}")
            };
            assert_eq!(s.state.name(), st);
            assert_eq!(s.process.namespec(), "cat:cat");
            assert_eq!((s.pid, s.tries, s.expected), (pid, tries, expected), "{st}");
        }
        let Event::ProcessState(s) = ev(
            "PROCESS_STATE_EXITED",
            "processname:a groupname:g from_state:RUNNING expected:1 pid:9",
        ) else {
            panic!()
        };
        assert_eq!(s.expected, Some(true));
        assert_eq!(s.from_state, "RUNNING");
        let _ = state(ProcessState::Fatal, "a", "g");
    }

    #[test]
    fn tick_communication_log_remote_supervisor_group() {
        assert_eq!(
            ev("TICK_60", "when:1201063880"),
            Event::Tick {
                period: 60,
                when: 1201063880
            }
        );
        assert_eq!(
            ev("TICK_3600", "when:3600"),
            Event::Tick {
                period: 3600,
                when: 3600
            }
        );
        let p = Process {
            name: "foo",
            group: "bar",
        };
        assert_eq!(
            ev(
                "PROCESS_COMMUNICATION_STDERR",
                "processname:foo groupname:bar pid:123\nthis is the data"
            ),
            Event::ProcessCommunication {
                channel: Channel::Stderr,
                process: p.clone(),
                pid: 123,
                data: "this is the data"
            }
        );
        assert_eq!(
            ev(
                "PROCESS_LOG_STDOUT",
                "processname:foo groupname:bar pid:123 channel:stdout\nline 1\nline 2\n"
            ),
            Event::ProcessLog {
                channel: Channel::Stdout,
                process: p.clone(),
                pid: 123,
                data: "line 1\nline 2\n"
            }
        );
        // ochinchina/supervisord: no channel token.
        assert!(matches!(
            ev(
                "PROCESS_LOG_STDERR",
                "processname:foo groupname:bar pid:123\nx"
            ),
            Event::ProcessLog {
                channel: Channel::Stderr,
                ..
            }
        ));
        assert_eq!(
            ev("REMOTE_COMMUNICATION", "type:deploy\nv1.2 done"),
            Event::RemoteCommunication {
                kind: "deploy",
                data: "v1.2 done"
            }
        );
        assert_eq!(
            ev("SUPERVISOR_STATE_CHANGE_RUNNING", ""),
            Event::SupervisorStateChange(SupervisorState::Running)
        );
        assert_eq!(
            ev("SUPERVISOR_STATE_CHANGE_STOPPING", ""),
            Event::SupervisorStateChange(SupervisorState::Stopping)
        );
        assert_eq!(
            ev("PROCESS_GROUP_ADDED", "groupname:web\n"),
            Event::ProcessGroupAdded { group: "web" }
        );
        assert_eq!(
            ev("PROCESS_GROUP_REMOVED", "groupname:web"),
            Event::ProcessGroupRemoved { group: "web" }
        );
    }

    #[test]
    fn unknown_names_and_incomplete_payloads_are_other() {
        assert!(matches!(ev("SOMETHING_NEW", "a:b"), Event::Other { .. }));
        assert!(matches!(
            ev("PROCESS_STATE_SLEEPING", "processname:a groupname:a"),
            Event::Other { .. }
        ));
        assert!(matches!(
            ev("PROCESS_STATE_RUNNING", "groupname:a pid:1"),
            Event::Other { .. }
        ));
        assert!(matches!(ev("TICK_5", "when:soon"), Event::Other { .. }));
    }

    #[test]
    fn payloads_as_servers_send_them_have_no_faults() {
        // supervisord 4.3.0 (protocol.md section 2) and ochinchina/supervisord (no channel
        // token, no pid:0, no trailing newline on group events).
        for (name, payload) in [
            (
                "PROCESS_STATE_STARTING",
                "processname:a groupname:a from_state:STOPPED tries:0",
            ),
            (
                "PROCESS_STATE_RUNNING",
                "processname:a groupname:a from_state:STARTING pid:2",
            ),
            (
                "PROCESS_STATE_BACKOFF",
                "processname:a groupname:a from_state:STARTING tries:1",
            ),
            (
                "PROCESS_STATE_STOPPING",
                "processname:a groupname:a from_state:RUNNING pid:2",
            ),
            (
                "PROCESS_STATE_EXITED",
                "processname:a groupname:a from_state:RUNNING expected:0 pid:2",
            ),
            (
                "PROCESS_STATE_STOPPED",
                "processname:a groupname:a from_state:STOPPING pid:2",
            ),
            (
                "PROCESS_STATE_STOPPED",
                "processname:a groupname:a from_state:BACKOFF",
            ),
            (
                "PROCESS_STATE_FATAL",
                "processname:a groupname:a from_state:BACKOFF",
            ),
            (
                "PROCESS_STATE_UNKNOWN",
                "processname:a groupname:a from_state:BACKOFF",
            ),
            ("TICK_5", "when:1700000005"),
            (
                "PROCESS_LOG_STDOUT",
                "processname:a groupname:a pid:2 channel:stdout\nx",
            ),
            ("PROCESS_LOG_STDERR", "processname:a groupname:a pid:2\nx"),
            (
                "PROCESS_COMMUNICATION_STDOUT",
                "processname:a groupname:a pid:2\nx",
            ),
            ("REMOTE_COMMUNICATION", "type:t\nx"),
            ("SUPERVISOR_STATE_CHANGE_RUNNING", ""),
            ("PROCESS_GROUP_ADDED", "groupname:g\n"),
            ("PROCESS_GROUP_REMOVED", "groupname:g"),
            ("SOMETHING_NEW", "whatever"),
            ("PROCESS_STATE_SLEEPING", "processname:a groupname:a"),
        ] {
            let p = parse(name, payload);
            assert!(p.faults.is_empty(), "{name} {payload:?}: {:?}", p.faults);
            if !["SOMETHING_NEW", "PROCESS_STATE_SLEEPING"].contains(&name) {
                assert!(!matches!(p.event, Event::Other { .. }), "{name}");
            }
        }
    }

    #[test]
    fn missing_and_invalid_fields_are_named() {
        use Fault::{Invalid, Missing};
        /// Event name, payload, the faults named, and whether the event is ignored.
        type Case<'a> = (&'a str, &'a str, &'a [(&'a str, Fault)], bool);
        let cases: &[Case] = &[
            // Without a process the event cannot be typed: ignored.
            (
                "PROCESS_STATE_RUNNING",
                "groupname:a pid:1",
                &[("processname", Missing), ("from_state", Missing)],
                true,
            ),
            (
                "PROCESS_STATE_FATAL",
                "from_state:BACKOFF",
                &[("processname", Missing), ("groupname", Missing)],
                true,
            ),
            // Typed, with the field empty: a listener still acts (crashmail mails "pid ?").
            (
                "PROCESS_STATE_EXITED",
                "processname:a groupname:a from_state:RUNNING pid:9",
                &[("expected", Missing)],
                false,
            ),
            (
                "PROCESS_STATE_EXITED",
                "processname:a groupname:a from_state:RUNNING expected:no pid:9",
                &[("expected", Invalid)],
                false,
            ),
            (
                "PROCESS_STATE_EXITED",
                "processname:a groupname:a from_state:RUNNING expected:0",
                &[("pid", Missing)],
                false,
            ),
            (
                "PROCESS_STATE_RUNNING",
                "processname:a groupname:a from_state:STARTING pid:12ab",
                &[("pid", Invalid)],
                false,
            ),
            (
                "PROCESS_STATE_STOPPED",
                "processname:a groupname:a from_state:STOPPING pid:-1",
                &[("pid", Invalid)],
                false,
            ),
            (
                "PROCESS_STATE_BACKOFF",
                "processname:a groupname:a from_state:STARTING tries:x",
                &[("tries", Invalid)],
                false,
            ),
            (
                "PROCESS_STATE_STOPPING",
                "processname:a groupname:a",
                &[("from_state", Missing), ("pid", Missing)],
                false,
            ),
            // Log and communication events need their pid; ochinchina can send pid:-1.
            (
                "PROCESS_LOG_STDOUT",
                "processname:a groupname:a pid:-1\nx",
                &[("pid", Invalid)],
                true,
            ),
            (
                "PROCESS_LOG_STDERR",
                "processname:a pid:1\nx",
                &[("groupname", Missing)],
                true,
            ),
            (
                "PROCESS_COMMUNICATION_STDERR",
                "processname:a groupname:a\nx",
                &[("pid", Missing)],
                true,
            ),
            ("TICK_60", "when:soon", &[("when", Invalid)], true),
            ("TICK_3600", "", &[("when", Missing)], true),
            ("REMOTE_COMMUNICATION", "\nx", &[("type", Missing)], true),
            (
                "PROCESS_GROUP_ADDED",
                "group:g",
                &[("groupname", Missing)],
                true,
            ),
        ];
        for &(name, payload, want, ignored) in cases {
            let (got, was_ignored) = faults(name, payload);
            assert_eq!(got, want, "{name} {payload:?}");
            assert_eq!(was_ignored, ignored, "{name} {payload:?}");
            assert_eq!(
                matches!(ev(name, payload), Event::Other { .. }),
                ignored,
                "{name} {payload:?}"
            );
        }
        let Event::ProcessState(s) = ev(
            "PROCESS_STATE_EXITED",
            "processname:a groupname:a from_state:RUNNING expected:0 pid:x",
        ) else {
            panic!()
        };
        assert_eq!((s.pid, s.expected), (None, Some(false)));
    }

    #[test]
    fn names_repaired_from_invalid_utf8_are_data() {
        // A byte-counting server passes a Latin-1 name through; the reader shows it with
        // U+FFFD (protocol.rs), and the event is typed as usual, without faults.
        let p = parse(
            "PROCESS_STATE_RUNNING",
            "processname:caf\u{fffd} groupname:caf\u{fffd} from_state:STARTING pid:9",
        );
        assert!(p.faults.is_empty());
        let Event::ProcessState(s) = p.event else {
            panic!()
        };
        assert_eq!(s.process.namespec(), "caf\u{fffd}:caf\u{fffd}");
        let p = parse(
            "PROCESS_LOG_STDOUT",
            "processname:a groupname:a pid:7 channel:stdout\n\u{fffd}\u{fffd} caf\u{fffd}\n",
        );
        assert!(matches!(
            p.event,
            Event::ProcessLog {
                data: "\u{fffd}\u{fffd} caf\u{fffd}\n",
                ..
            }
        ));
    }

    #[test]
    fn non_ascii_names() {
        let Event::ProcessState(s) = ev(
            "PROCESS_STATE_RUNNING",
            "processname:ünï groupname:grüppe from_state:STARTING pid:5",
        ) else {
            panic!()
        };
        assert_eq!(s.process.namespec(), "grüppe:ünï");
    }
}
