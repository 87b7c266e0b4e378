//! Typed events: every Supervisor 4 event type with its payload tokens as fields.
//!
//! Facts from supervisor/events.py and docs/events.rst (reference: protocol.md §2). Parsing
//! never fails: a frame whose event name we do not know, or whose payload lacks a token its
//! type should carry, becomes [`Event::Other`] (and is acknowledged like any other), because a
//! well-framed event with odd content is not a reason to lose the stream.

use crate::protocol::Frame;

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
        ProcessState::ALL.into_iter().find(|s| s.name() == name)
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
    pub fn from_frame(frame: &Frame<'a>) -> Event<'a> {
        let name = frame.header.eventname();
        parse(name, frame.payload).unwrap_or(Event::Other {
            name,
            payload: frame.payload,
        })
    }
}

fn parse<'a>(name: &'a str, payload: &'a str) -> Option<Event<'a>> {
    let (tokens, data) = match payload.split_once('\n') {
        Some((t, d)) => (t, d),
        None => (payload, ""),
    };
    let tokens = Tokens(tokens);
    if let Some(state) = name.strip_prefix("PROCESS_STATE_") {
        let state = ProcessState::from_name(state)?;
        return Some(Event::ProcessState(StateChange {
            state,
            process: tokens.process()?,
            from_state: tokens.get("from_state").unwrap_or(""),
            pid: tokens.number("pid"),
            tries: tokens.number("tries"),
            expected: tokens.number::<u8>("expected").map(|e| e != 0),
        }));
    }
    let event = match name {
        "TICK_5" | "TICK_60" | "TICK_3600" => Event::Tick {
            period: name[5..].parse().ok()?,
            when: tokens.number("when")?,
        },
        "PROCESS_COMMUNICATION_STDOUT" | "PROCESS_COMMUNICATION_STDERR" => {
            Event::ProcessCommunication {
                channel: channel_of(name),
                process: tokens.process()?,
                pid: tokens.number("pid")?,
                data,
            }
        }
        "PROCESS_LOG_STDOUT" | "PROCESS_LOG_STDERR" => Event::ProcessLog {
            channel: channel_of(name),
            process: tokens.process()?,
            pid: tokens.number("pid")?,
            data,
        },
        "REMOTE_COMMUNICATION" => Event::RemoteCommunication {
            kind: tokens.get("type")?,
            data,
        },
        "SUPERVISOR_STATE_CHANGE_RUNNING" => Event::SupervisorStateChange(SupervisorState::Running),
        "SUPERVISOR_STATE_CHANGE_STOPPING" => {
            Event::SupervisorStateChange(SupervisorState::Stopping)
        }
        "PROCESS_GROUP_ADDED" => Event::ProcessGroupAdded {
            group: tokens.get("groupname")?,
        },
        "PROCESS_GROUP_REMOVED" => Event::ProcessGroupRemoved {
            group: tokens.get("groupname")?,
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

/// The `key:value` token line of a payload.
struct Tokens<'a>(&'a str);

impl<'a> Tokens<'a> {
    fn get(&self, key: &str) -> Option<&'a str> {
        self.0
            .split_ascii_whitespace()
            .find_map(|t| match t.split_once(':') {
                Some((k, v)) if k == key => Some(v),
                _ => None,
            })
    }

    fn number<N: std::str::FromStr>(&self, key: &str) -> Option<N> {
        self.get(key)?.parse().ok()
    }

    fn process(&self) -> Option<Process<'a>> {
        Some(Process {
            name: self.get("processname")?,
            group: self.get("groupname")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev<'a>(name: &'a str, payload: &'a str) -> Event<'a> {
        parse(name, payload).unwrap_or(Event::Other { name, payload })
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
