//! Test doubles for httpok's unit tests (check, probe, certificate): supervisord, the web
//! server and the core dumper as scripts, and a policy to start from.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::check::{Cores, Policy, LISTENER_PRIORITY};
use super::probe::{Web, RETRY_INTERVAL};
use crate::event::ProcessState;
use crate::http::{HttpError, Response, Url};
use crate::rpc::{ConfigInfo, Fault, ProcessInfo, RpcError, Supervisor, SupervisorState};
use crate::select::Spec;

/// supervisord as a script: a process table, and what each call did.
#[derive(Default)]
pub struct FakeSupervisor {
    pub processes: Vec<ProcessInfo>,
    pub configs: Vec<ConfigInfo>,
    pub calls: Vec<String>,
    /// Calls (`stop g:p`, `start g:p`, `list`) that fail with this fault code.
    pub faults: Vec<(String, i64)>,
    pub unreachable: bool,
}

impl FakeSupervisor {
    pub fn with(processes: &[(&str, &str, ProcessState)]) -> FakeSupervisor {
        let mut sv = FakeSupervisor::default();
        for (i, (group, name, state)) in processes.iter().enumerate() {
            sv.processes.push(ProcessInfo {
                name: (*name).into(),
                group: (*group).into(),
                statename: state.name().into(),
                pid: if *state == ProcessState::Running {
                    100 + i as u32
                } else {
                    0
                },
                ..ProcessInfo::default()
            });
            sv.configs.push(ConfigInfo {
                name: (*name).into(),
                group: (*group).into(),
                group_prio: 999,
                ..ConfigInfo::default()
            });
        }
        sv
    }

    pub fn listener_pool(mut self, group: &str) -> FakeSupervisor {
        for c in self.configs.iter_mut().filter(|c| c.group == group) {
            c.group_prio = LISTENER_PRIORITY;
        }
        self
    }

    fn fail(&mut self, call: &str) -> Result<(), RpcError> {
        self.calls.push(call.to_owned());
        if self.unreachable {
            return Err(RpcError::Unreachable {
                source: HttpError::Refused {
                    url: "unix:///s.sock".into(),
                },
            });
        }
        match self.faults.iter().find(|(c, _)| c == call) {
            Some((_, code)) => Err(RpcError::Fault {
                method: format!("supervisor.{}", call.split(' ').next().unwrap_or("")),
                fault: Fault {
                    code: *code,
                    text: format!("FAULT {code}"),
                },
            }),
            None => Ok(()),
        }
    }
}

impl Supervisor for FakeSupervisor {
    fn get_all_process_info(&mut self) -> Result<Vec<ProcessInfo>, RpcError> {
        self.fail("list")?;
        Ok(self.processes.clone())
    }
    fn get_process_info(&mut self, _: &str) -> Result<ProcessInfo, RpcError> {
        unreachable!("httpok does not ask for one process")
    }
    fn get_all_config_info(&mut self) -> Result<Vec<ConfigInfo>, RpcError> {
        self.fail("config")?;
        Ok(self.configs.clone())
    }
    fn start_process(&mut self, n: &str, wait: bool) -> Result<(), RpcError> {
        assert!(wait, "httpok starts with wait=true");
        self.fail(&format!("start {n}"))
    }
    fn stop_process(&mut self, n: &str, wait: bool) -> Result<(), RpcError> {
        assert!(wait, "httpok stops with wait=true");
        self.fail(&format!("stop {n}"))
    }
    fn signal_process(&mut self, _: &str, _: &str) -> Result<(), RpcError> {
        unreachable!()
    }
    fn get_state(&mut self) -> Result<SupervisorState, RpcError> {
        unreachable!()
    }
    fn get_pid(&mut self) -> Result<u32, RpcError> {
        unreachable!()
    }
}

/// The web server as a script: each GET takes the next answer.
pub struct FakeWeb {
    pub answers: VecDeque<Result<Response, HttpError>>,
    pub gets: Vec<Duration>,
}

impl FakeWeb {
    pub fn new(answers: Vec<Result<Response, HttpError>>) -> FakeWeb {
        FakeWeb {
            answers: answers.into(),
            gets: Vec::new(),
        }
    }
}

impl Web for FakeWeb {
    fn get(&mut self, _: &Url, timeout: Duration) -> Result<Response, HttpError> {
        self.gets.push(timeout);
        self.answers.pop_front().expect("no more scripted answers")
    }
}

#[derive(Default)]
pub struct FakeCores(pub Vec<(PathBuf, u32)>);

impl Cores for FakeCores {
    fn dump(&mut self, corefile: &Path, pid: u32) -> String {
        self.0.push((corefile.to_owned(), pid));
        format!("saved corefile {}.{pid}", corefile.display())
    }
}

pub fn answer(status: u16, reason: &str, body: &str) -> Result<Response, HttpError> {
    Ok(Response {
        status,
        reason: reason.into(),
        headers: Vec::new(),
        body: body.as_bytes().to_vec(),
    })
}

pub fn refused() -> Result<Response, HttpError> {
    Err(HttpError::Refused { url: URL.into() })
}

pub const URL: &str = "http://127.0.0.1:8080/health?full=1";

pub fn policy(programs: &[&str], any: bool) -> Policy {
    Policy {
        url: Url::parse(URL).unwrap(),
        timeout: Duration::from_secs(10),
        retry_interval: RETRY_INTERVAL,
        codes: vec![200],
        body: None,
        programs: programs.iter().map(|s| Spec::parse(s).unwrap()).collect(),
        any,
        own: Some(("httpok".into(), "httpok".into())),
        eager: true,
        name: None,
        coredir: None,
        restart_on_tls_error: false,
    }
}
