//! supervisord's XML-RPC interface, as a listener uses it: the [`Supervisor`] trait (the calls
//! memmon and httpok make, typed) and [`Client`], which speaks it to a real supervisord.
//!
//! Theory of operation. A listener finds supervisord the way supervisor's own
//! `childutils.getRPCInterface` does: `SUPERVISOR_SERVER_URL` (`unix:///path/to.sock` or
//! `http://host:port`, set by supervisord for every child) and `SUPERVISOR_USERNAME` /
//! `SUPERVISOR_PASSWORD` (set by the user with `environment=`). Each call is one HTTP/1.1
//! `POST /RPC2` with `Content-Type: text/xml` ([`crate::http`], which also speaks HTTP over
//! the Unix socket, with `Host: localhost` as supervisor's client sends), encoded and decoded
//! by [`xml`]. No connection is kept between calls: a listener makes a few calls a minute.
//!
//! Listeners take `&mut impl Supervisor`, never a `Client`, so their decisions are tested
//! with a fake that records calls and answers from a script (effects are injected).
//!
//! Errors are values ([`RpcError`]) that say which of the things a user can fix went wrong:
//! not run by supervisord at all (superlance #128: it died with a KeyError traceback),
//! nothing listening, a refused login, an HTTP error, a reply that is not XML-RPC, or a fault.
//! Every message names the server URL and what to do. A fault keeps supervisord's code and
//! text, and [`FaultCode`] names the codes of supervisor/xmlrpc.py `Faults`, so that a
//! caller can tell "already stopped" (NOT_RUNNING) from a real failure.
//!
//! Calls with `wait = true` (`startProcess`, `stopProcess`) are answered only when the
//! process got there, which takes up to `startsecs` or `stopwaitsecs`: the client's timeout
//! ([`DEFAULT_TIMEOUT`], [`Client::with_timeout`]) must be longer than those.

pub mod xml;

use std::time::Duration;

use crate::event::ProcessState;
use crate::http::{self, HttpError, Request, Url};

pub use xml::Value;

/// The XML-RPC handler's path (xmlrpc.client.ServerProxy's default, which supervisord
/// serves).
pub const RPC_PATH: &str = "/RPC2";

/// How long a call may take, from connecting to the last byte of the reply, unless
/// [`Client::with_timeout`] says otherwise: long enough for a `stopProcess(wait=True)` of a
/// program with the default `stopwaitsecs` (10) and some more.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// The largest reply accepted. getAllProcessInfo costs about 1 KiB per process.
pub const MAX_REPLY: usize = 32 * 1024 * 1024;

/// The calls listeners make. [`Client`] is the real thing; tests implement it with fakes.
pub trait Supervisor {
    /// `supervisor.getAllProcessInfo`: every process, event-listener pools' included, in
    /// supervisord's (lexical group, name) order.
    fn get_all_process_info(&mut self) -> Result<Vec<ProcessInfo>, RpcError>;
    /// `supervisor.getProcessInfo(namespec)`.
    fn get_process_info(&mut self, namespec: &str) -> Result<ProcessInfo, RpcError>;
    /// `supervisor.getAllConfigInfo`: every configured process, flattened.
    fn get_all_config_info(&mut self) -> Result<Vec<ConfigInfo>, RpcError>;
    /// `supervisor.startProcess(namespec, wait)`; `group:*` starts a whole group.
    fn start_process(&mut self, namespec: &str, wait: bool) -> Result<(), RpcError>;
    /// `supervisor.stopProcess(namespec, wait)`; `group:*` stops a whole group.
    fn stop_process(&mut self, namespec: &str, wait: bool) -> Result<(), RpcError>;
    /// `supervisor.signalProcess(namespec, signal)`; `signal` is a name (`HUP`) or number.
    fn signal_process(&mut self, namespec: &str, signal: &str) -> Result<(), RpcError>;
    /// `supervisor.getState`.
    fn get_state(&mut self) -> Result<SupervisorState, RpcError>;
    /// `supervisor.getPID`: supervisord's own pid.
    fn get_pid(&mut self) -> Result<u32, RpcError>;
}

/// One process as `getProcessInfo` describes it (supervisor/rpcinterface.py): every field
/// supervisord 4.3.0 returns.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProcessInfo {
    pub name: String,
    pub group: String,
    /// What `supervisorctl status` shows after the state: `pid 42, uptime 0:01:02`, ...
    pub description: String,
    /// Epoch seconds of the last start (0: never started).
    pub start: i64,
    /// Epoch seconds of the last stop (0: never stopped).
    pub stop: i64,
    /// supervisord's clock when it answered.
    pub now: i64,
    /// The state's number (supervisor/states.py: RUNNING is 20).
    pub state: i64,
    /// The state's name (`RUNNING`); see [`ProcessInfo::process_state`].
    pub statename: String,
    /// Why the last spawn failed ("" if it did not).
    pub spawnerr: String,
    /// The last exit status (0 until the process exited; reset to 0 on respawn).
    pub exitstatus: i64,
    /// The stdout log file (an alias kept by supervisord for compatibility).
    pub logfile: String,
    pub stdout_logfile: String,
    pub stderr_logfile: String,
    /// 0 when not running.
    pub pid: u32,
}

impl ProcessInfo {
    /// Supervisor's namespec (supervisor/options.py `make_namespec`): `name` when the process
    /// is alone in a group of its own name, else `group:name`.
    pub fn namespec(&self) -> String {
        if self.group == self.name {
            self.name.clone()
        } else {
            format!("{}:{}", self.group, self.name)
        }
    }

    /// The state, typed; `None` for a name this version does not know.
    pub fn process_state(&self) -> Option<ProcessState> {
        ProcessState::from_name(&self.statename)
    }

    /// Decode one struct. `name`, `group`, `state` and `pid` must be there (every decision
    /// rests on them); any other field may be missing (another supervisord implementation
    /// may leave it out) and is then empty or 0. A field of the wrong type is an error.
    fn from_value(value: &Value) -> Result<ProcessInfo, String> {
        let s = Fields::of(value, "process info")?;
        Ok(ProcessInfo {
            name: s.string("name", true)?,
            group: s.string("group", true)?,
            description: s.string("description", false)?,
            start: s.int("start", false)?,
            stop: s.int("stop", false)?,
            now: s.int("now", false)?,
            state: s.int("state", true)?,
            statename: s.string("statename", false)?,
            spawnerr: s.string("spawnerr", false)?,
            exitstatus: s.int("exitstatus", false)?,
            logfile: s.string("logfile", false)?,
            stdout_logfile: s.string("stdout_logfile", false)?,
            stderr_logfile: s.string("stderr_logfile", false)?,
            pid: u32::try_from(s.int("pid", true)?).map_err(|_| "a negative pid".to_owned())?,
        })
    }
}

/// supervisord's default `priority` of an `[eventlistener:x]` section (programs default to
/// 999): the only thing in [`ConfigInfo`] that tells a listener pool's process from a
/// program's (supervisor 4.3.0). httpok and memmon keep their own copy of this number.
pub const LISTENER_PRIORITY: i64 = -1;

/// One process's configuration as `getAllConfigInfo` describes it: the fields a listener may
/// use. Nothing in it marks an `[eventlistener:x]` pool's process as such (supervisor 4.3.0);
/// only `group_prio` differs by default (-1 for listener pools, 999 for programs), and a
/// `priority=` line changes that.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConfigInfo {
    pub name: String,
    pub group: String,
    pub command: String,
    pub autostart: bool,
    /// Whether the group is in use (added to the running supervisord).
    pub inuse: bool,
    pub group_prio: i64,
    pub process_prio: i64,
    pub startsecs: i64,
    pub startretries: i64,
    pub stopsignal: i64,
    pub stopwaitsecs: i64,
    pub killasgroup: bool,
    pub exitcodes: Vec<i64>,
}

impl ConfigInfo {
    /// Supervisor's namespec, as [`ProcessInfo::namespec`].
    pub fn namespec(&self) -> String {
        if self.group == self.name {
            self.name.clone()
        } else {
            format!("{}:{}", self.group, self.name)
        }
    }

    fn from_value(value: &Value) -> Result<ConfigInfo, String> {
        let s = Fields::of(value, "config info")?;
        let exitcodes = match s.get("exitcodes") {
            None => Vec::new(),
            Some(v) => v
                .as_array()
                .and_then(|codes| codes.iter().map(Value::as_int).collect::<Option<Vec<_>>>())
                .ok_or_else(|| "field exitcodes is not an array of integers".to_owned())?,
        };
        Ok(ConfigInfo {
            name: s.string("name", true)?,
            group: s.string("group", true)?,
            command: s.string("command", false)?,
            autostart: s.boolean("autostart")?,
            inuse: s.boolean("inuse")?,
            group_prio: s.int("group_prio", false)?,
            process_prio: s.int("process_prio", false)?,
            startsecs: s.int("startsecs", false)?,
            startretries: s.int("startretries", false)?,
            stopsignal: s.int("stopsignal", false)?,
            stopwaitsecs: s.int("stopwaitsecs", false)?,
            killasgroup: s.boolean("killasgroup")?,
            exitcodes,
        })
    }
}

/// supervisord's own state (`getState`): `RUNNING` (1), `RESTARTING` (0), `SHUTDOWN` (-1),
/// `FATAL` (2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupervisorState {
    pub code: i64,
    pub name: String,
}

/// The fields of a struct, read with their expected types.
struct Fields<'a>(&'a std::collections::BTreeMap<String, Value>);

impl<'a> Fields<'a> {
    fn of(value: &'a Value, what: &str) -> Result<Fields<'a>, String> {
        value
            .as_struct()
            .map(Fields)
            .ok_or_else(|| format!("{what} is a {}, not a struct", value.kind()))
    }

    fn get(&self, name: &str) -> Option<&'a Value> {
        self.0.get(name)
    }

    fn field<T>(
        &self,
        name: &str,
        required: bool,
        kind: &str,
        read: impl Fn(&'a Value) -> Option<T>,
    ) -> Result<Option<T>, String> {
        match self.0.get(name) {
            None if required => Err(format!("field {name} is missing")),
            None => Ok(None),
            Some(v) => read(v)
                .map(Some)
                .ok_or_else(|| format!("field {name} is a {}, not {kind}", v.kind())),
        }
    }

    fn string(&self, name: &str, required: bool) -> Result<String, String> {
        Ok(self
            .field(name, required, "a string", |v| {
                v.as_str().map(str::to_owned)
            })?
            .unwrap_or_default())
    }

    fn int(&self, name: &str, required: bool) -> Result<i64, String> {
        Ok(self
            .field(name, required, "an integer", Value::as_int)?
            .unwrap_or_default())
    }

    fn boolean(&self, name: &str) -> Result<bool, String> {
        Ok(self
            .field(name, false, "a boolean", Value::as_bool)?
            .unwrap_or_default())
    }
}

/// The fault codes of supervisor/xmlrpc.py `Faults` (supervisor 4.3.0), and any other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultCode {
    UnknownMethod,
    IncorrectParameters,
    BadArguments,
    SignatureUnsupported,
    ShutdownState,
    BadName,
    BadSignal,
    NoFile,
    NotExecutable,
    Failed,
    AbnormalTermination,
    SpawnError,
    AlreadyStarted,
    NotRunning,
    Success,
    AlreadyAdded,
    StillRunning,
    CantReread,
    /// A code supervisor 4.3.0 does not define.
    Other(i64),
}

/// (variant, code, supervisor's name), from supervisor/xmlrpc.py.
const FAULTS: [(FaultCode, i64, &str); 18] = [
    (FaultCode::UnknownMethod, 1, "UNKNOWN_METHOD"),
    (FaultCode::IncorrectParameters, 2, "INCORRECT_PARAMETERS"),
    (FaultCode::BadArguments, 3, "BAD_ARGUMENTS"),
    (FaultCode::SignatureUnsupported, 4, "SIGNATURE_UNSUPPORTED"),
    (FaultCode::ShutdownState, 6, "SHUTDOWN_STATE"),
    (FaultCode::BadName, 10, "BAD_NAME"),
    (FaultCode::BadSignal, 11, "BAD_SIGNAL"),
    (FaultCode::NoFile, 20, "NO_FILE"),
    (FaultCode::NotExecutable, 21, "NOT_EXECUTABLE"),
    (FaultCode::Failed, 30, "FAILED"),
    (FaultCode::AbnormalTermination, 40, "ABNORMAL_TERMINATION"),
    (FaultCode::SpawnError, 50, "SPAWN_ERROR"),
    (FaultCode::AlreadyStarted, 60, "ALREADY_STARTED"),
    (FaultCode::NotRunning, 70, "NOT_RUNNING"),
    (FaultCode::Success, 80, "SUCCESS"),
    (FaultCode::AlreadyAdded, 90, "ALREADY_ADDED"),
    (FaultCode::StillRunning, 91, "STILL_RUNNING"),
    (FaultCode::CantReread, 92, "CANT_REREAD"),
];

impl FaultCode {
    pub fn from_code(code: i64) -> FaultCode {
        FAULTS
            .iter()
            .find(|(_, c, _)| *c == code)
            .map_or(FaultCode::Other(code), |(f, _, _)| *f)
    }

    pub fn code(self) -> i64 {
        match self {
            FaultCode::Other(code) => code,
            known => FAULTS
                .iter()
                .find(|(f, _, _)| *f == known)
                .map_or(0, |(_, c, _)| *c),
        }
    }

    /// Supervisor's name for the code (`BAD_NAME`); `UNKNOWN` for others, as
    /// supervisor's `getFaultDescription` says.
    pub fn name(self) -> &'static str {
        FAULTS
            .iter()
            .find(|(f, _, _)| *f == self)
            .map_or("UNKNOWN", |(_, _, n)| n)
    }
}

/// A fault as supervisord sent it. Its text starts with the code's name: `BAD_NAME: foo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub code: i64,
    pub text: String,
}

impl Fault {
    pub fn kind(&self) -> FaultCode {
        FaultCode::from_code(self.code)
    }
}

/// Why a call failed. Each message is one line that names the server and what to do.
#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    /// superlance #128: run outside supervisord, the Python listeners died with a KeyError.
    #[error(
        "SUPERVISOR_SERVER_URL is not set: this listener must run under supervisord, as the \
         command of an [eventlistener:x] section (supervisord sets the variable for its \
         children; to run it by hand, set it to supervisord's unix:// or http:// URL)"
    )]
    NoServerUrl,
    #[error(
        "SUPERVISOR_SERVER_URL {url:?} is not a supervisord address ({reason}); it must be \
         unix:///path/to.sock or http://host:port"
    )]
    BadServerUrl { url: String, reason: String },
    /// Nothing listens at the address (refused, or no socket file).
    #[error(
        "cannot reach supervisord: {source}; check that supervisord runs and that \
         SUPERVISOR_SERVER_URL (or the section's serverurl=) names its [unix_http_server] or \
         [inet_http_server]"
    )]
    Unreachable { source: HttpError },
    /// The call did not complete: timeout, TLS, I/O, an HTTP response that is not HTTP.
    #[error("supervisord call {method} failed: {source}")]
    Transport { method: String, source: HttpError },
    #[error(
        "supervisord at {url} refused our login (401 Unauthorized): check SUPERVISOR_USERNAME \
         and SUPERVISOR_PASSWORD (environment= in the [eventlistener:x] section) against the \
         username and password of its http server section"
    )]
    Unauthorized { url: String },
    #[error(
        "supervisord at {url} answered {method} with HTTP {status} {reason}: check that the \
         URL is supervisord's and that its config has the [rpcinterface:supervisor] section"
    )]
    Status {
        url: String,
        method: String,
        status: u16,
        reason: String,
    },
    /// The reply is not the XML-RPC we expect (not XML-RPC at all, or a value of the wrong
    /// shape).
    #[error(
        "supervisord at {url} sent a reply to {method} that we cannot read: {reason}; is that \
         a supervisord 3 or 4?"
    )]
    Malformed {
        url: String,
        method: String,
        reason: String,
    },
    #[error("supervisord refused {method}: {} (fault {})", fault.text, fault.code)]
    Fault { method: String, fault: Fault },
}

impl RpcError {
    /// The fault's code if supervisord answered with a fault.
    pub fn fault_code(&self) -> Option<FaultCode> {
        match self {
            RpcError::Fault { fault, .. } => Some(fault.kind()),
            _ => None,
        }
    }
}

/// The real thing: calls supervisord over HTTP. See the module documentation.
#[derive(Debug)]
pub struct Client {
    http: http::Client,
    url: Url,
    credentials: Option<(String, String)>,
}

impl Client {
    /// A client for the supervisord at `server_url` (`unix:///path` or `http://host:port`).
    /// `credentials` (user, password) are sent as HTTP basic auth.
    pub fn new(
        server_url: &str,
        credentials: Option<(String, String)>,
    ) -> Result<Client, RpcError> {
        let bad = |reason: String| RpcError::BadServerUrl {
            url: server_url.to_owned(),
            reason,
        };
        let url = Url::parse(server_url).map_err(|e| match e {
            HttpError::BadUrl { reason, .. } => bad(reason),
            other => bad(other.to_string()),
        })?;
        // supervisor's SupervisorTransport takes unix:// and http:// only.
        if let http::Address::Https { .. } = url.address() {
            return Err(bad("supervisord serves no https".to_owned()));
        }
        let http = http::Client::new(http::Options {
            timeout: DEFAULT_TIMEOUT,
            max_body: MAX_REPLY,
            ..http::Options::default()
        })
        .map_err(|e| bad(e.to_string()))?;
        Ok(Client {
            http,
            url,
            credentials,
        })
    }

    /// The client supervisord's environment describes: `SUPERVISOR_SERVER_URL`, and
    /// `SUPERVISOR_USERNAME` / `SUPERVISOR_PASSWORD` when either is set (missing one is "",
    /// as supervisor's childutils has it).
    pub fn from_env() -> Result<Client, RpcError> {
        let var = |name| std::env::var(name).ok();
        Client::from_vars(
            var("SUPERVISOR_SERVER_URL"),
            var("SUPERVISOR_USERNAME"),
            var("SUPERVISOR_PASSWORD"),
        )
    }

    fn from_vars(
        url: Option<String>,
        user: Option<String>,
        password: Option<String>,
    ) -> Result<Client, RpcError> {
        let url = url.filter(|u| !u.is_empty()).ok_or(RpcError::NoServerUrl)?;
        let credentials = match (user, password) {
            (None, None) => None,
            (user, password) => Some((user.unwrap_or_default(), password.unwrap_or_default())),
        };
        Client::new(&url, credentials)
    }

    /// Bound each call to `timeout` instead of [`DEFAULT_TIMEOUT`].
    pub fn with_timeout(mut self, timeout: Duration) -> Client {
        let options = http::Options {
            timeout,
            ..self.http.options().clone()
        };
        // Only a CA file can make http::Client::new fail, and supervisord's client has none.
        if let Ok(http) = http::Client::new(options) {
            self.http = http;
        }
        self
    }

    /// The server URL, as given.
    pub fn url(&self) -> &str {
        self.url.as_str()
    }

    /// `supervisor.shutdown`: supervisord stops every process (each with its own stopsignal and
    /// stopwaitsecs, listener pools last) and exits. Answered at once, before anything stops;
    /// a supervisord already stopping answers with the fault SHUTDOWN_STATE. Here and not in
    /// [`Supervisor`]: only essential calls it, and the fakes of that trait need not know it.
    pub fn shutdown(&self) -> Result<(), RpcError> {
        self.call_as("supervisor.shutdown", &[], |v| match v {
            Value::Bool(true) => Ok(()),
            other => Err(format!("a {} where true was expected", other.kind())),
        })
    }

    /// Call `method` with `params`: the reply's value, or the error.
    pub fn call(&self, method: &str, params: &[Value]) -> Result<Value, RpcError> {
        let body = xml::encode_call(method, params);
        let mut request = Request::post(RPC_PATH, "text/xml", body.as_bytes());
        if let Some((user, password)) = &self.credentials {
            request = request.basic_auth(user, password);
        }
        let url = || self.url.to_string();
        let response = self.http.send(&self.url, &request).map_err(|e| {
            if e.is_unreachable() {
                RpcError::Unreachable { source: e }
            } else {
                RpcError::Transport {
                    method: method.to_owned(),
                    source: e,
                }
            }
        })?;
        match response.status {
            200 => {}
            401 => return Err(RpcError::Unauthorized { url: url() }),
            status => {
                return Err(RpcError::Status {
                    url: url(),
                    method: method.to_owned(),
                    status,
                    reason: response.reason,
                })
            }
        }
        match xml::decode_response(&response.body) {
            Ok(xml::Reply::Value(value)) => Ok(value),
            Ok(xml::Reply::Fault { code, string }) => Err(RpcError::Fault {
                method: method.to_owned(),
                fault: Fault { code, text: string },
            }),
            Err(e) => Err(RpcError::Malformed {
                url: url(),
                method: method.to_owned(),
                reason: e.to_string(),
            }),
        }
    }

    /// Call, and convert the value with `read`; a value of the wrong shape is
    /// [`RpcError::Malformed`].
    fn call_as<T>(
        &self,
        method: &str,
        params: &[Value],
        read: impl FnOnce(&Value) -> Result<T, String>,
    ) -> Result<T, RpcError> {
        let value = self.call(method, params)?;
        read(&value).map_err(|reason| RpcError::Malformed {
            url: self.url.to_string(),
            method: method.to_owned(),
            reason,
        })
    }
}

/// A list of structs, each read with `read`.
fn list<T>(value: &Value, read: impl Fn(&Value) -> Result<T, String>) -> Result<Vec<T>, String> {
    value
        .as_array()
        .ok_or_else(|| format!("a {} where an array was expected", value.kind()))?
        .iter()
        .enumerate()
        .map(|(i, v)| read(v).map_err(|e| format!("item {i}: {e}")))
        .collect()
}

/// What start/stop/signal return: `true` for one process; for a group (`group:*`, or a group
/// name given to signalProcess) an array of `{name, group, status, description}`, one per
/// process it acted on (supervisord skips those already in the wanted state, so the array may
/// be empty), where a status other than SUCCESS is that process's fault: the first one is
/// the call's, its text `group:name: FAULT_NAME: detail`.
fn done(method: &str, value: &Value) -> Result<Result<(), RpcError>, String> {
    match value {
        Value::Bool(true) => Ok(Ok(())),
        Value::Array(results) => {
            for result in results {
                let s = Fields::of(result, "a result")?;
                let status = s.int("status", true)?;
                if status != FaultCode::Success.code() {
                    let name = s.string("name", false)?;
                    let group = s.string("group", false)?;
                    let description = s.string("description", false)?;
                    let namespec = if group == name {
                        name
                    } else {
                        format!("{group}:{name}")
                    };
                    return Ok(Err(RpcError::Fault {
                        method: method.to_owned(),
                        fault: Fault {
                            code: status,
                            text: format!("{namespec}: {description}"),
                        },
                    }));
                }
            }
            Ok(Ok(()))
        }
        other => Err(format!("a {} where true was expected", other.kind())),
    }
}

impl Supervisor for Client {
    fn get_all_process_info(&mut self) -> Result<Vec<ProcessInfo>, RpcError> {
        self.call_as("supervisor.getAllProcessInfo", &[], |v| {
            list(v, ProcessInfo::from_value)
        })
    }

    fn get_process_info(&mut self, namespec: &str) -> Result<ProcessInfo, RpcError> {
        self.call_as(
            "supervisor.getProcessInfo",
            &[namespec.into()],
            ProcessInfo::from_value,
        )
    }

    fn get_all_config_info(&mut self) -> Result<Vec<ConfigInfo>, RpcError> {
        self.call_as("supervisor.getAllConfigInfo", &[], |v| {
            list(v, ConfigInfo::from_value)
        })
    }

    fn start_process(&mut self, namespec: &str, wait: bool) -> Result<(), RpcError> {
        let method = "supervisor.startProcess";
        self.call_as(method, &[namespec.into(), wait.into()], |v| done(method, v))?
    }

    fn stop_process(&mut self, namespec: &str, wait: bool) -> Result<(), RpcError> {
        let method = "supervisor.stopProcess";
        self.call_as(method, &[namespec.into(), wait.into()], |v| done(method, v))?
    }

    fn signal_process(&mut self, namespec: &str, signal: &str) -> Result<(), RpcError> {
        let method = "supervisor.signalProcess";
        self.call_as(method, &[namespec.into(), signal.into()], |v| {
            done(method, v)
        })?
    }

    fn get_state(&mut self) -> Result<SupervisorState, RpcError> {
        self.call_as("supervisor.getState", &[], |v| {
            let s = Fields::of(v, "the state")?;
            Ok(SupervisorState {
                code: s.int("statecode", true)?,
                name: s.string("statename", true)?,
            })
        })
    }

    fn get_pid(&mut self) -> Result<u32, RpcError> {
        self.call_as("supervisor.getPID", &[], |v| {
            v.as_int()
                .and_then(|pid| u32::try_from(pid).ok())
                .ok_or_else(|| format!("a {} where a pid was expected", v.kind()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::TcpListener;
    use std::thread;

    /// An HTTP server on 127.0.0.1 that answers each of `replies` to one connection, and
    /// hands back the requests it got.
    fn server(replies: Vec<Vec<u8>>) -> (String, thread::JoinHandle<Vec<String>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let handle = thread::spawn(move || {
            let mut requests = Vec::new();
            for reply in replies {
                let (socket, _) = listener.accept().unwrap();
                let request = String::from_utf8(crate::http::read_test_request(&socket)).unwrap();
                (&socket).write_all(&reply).unwrap();
                requests.push(request);
            }
            requests
        });
        (url, handle)
    }

    fn http_reply(status: &str, body: &str) -> Vec<u8> {
        format!(
            "HTTP/1.0 {status}\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    }

    fn xml_reply(value: &str) -> Vec<u8> {
        http_reply(
            "200 OK",
            &format!(
                "<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n{value}\n</param>\n\
                 </params>\n</methodResponse>\n"
            ),
        )
    }

    fn fault_reply(code: i64, text: &str) -> Vec<u8> {
        http_reply(
            "200 OK",
            &format!(
                "<?xml version='1.0'?>\n<methodResponse>\n<fault>\n<value><struct>\n<member>\n\
                 <name>faultCode</name>\n<value><int>{code}</int></value>\n</member>\n<member>\n\
                 <name>faultString</name>\n<value><string>{text}</string></value>\n</member>\n\
                 </struct></value>\n</fault>\n</methodResponse>\n"
            ),
        )
    }

    fn process_struct(name: &str, group: &str, pid: u32) -> String {
        format!(
            "<value><struct>\n\
             <member>\n<name>name</name>\n<value><string>{name}</string></value>\n</member>\n\
             <member>\n<name>group</name>\n<value><string>{group}</string></value>\n</member>\n\
             <member>\n<name>description</name>\n<value><string>pid {pid}, uptime 0:00:05</string></value>\n</member>\n\
             <member>\n<name>start</name>\n<value><int>1700000000</int></value>\n</member>\n\
             <member>\n<name>stop</name>\n<value><int>0</int></value>\n</member>\n\
             <member>\n<name>now</name>\n<value><int>1700000005</int></value>\n</member>\n\
             <member>\n<name>state</name>\n<value><int>20</int></value>\n</member>\n\
             <member>\n<name>statename</name>\n<value><string>RUNNING</string></value>\n</member>\n\
             <member>\n<name>spawnerr</name>\n<value><string></string></value>\n</member>\n\
             <member>\n<name>exitstatus</name>\n<value><int>0</int></value>\n</member>\n\
             <member>\n<name>logfile</name>\n<value><string>/l/out</string></value>\n</member>\n\
             <member>\n<name>stdout_logfile</name>\n<value><string>/l/out</string></value>\n</member>\n\
             <member>\n<name>stderr_logfile</name>\n<value><string>/l/err</string></value>\n</member>\n\
             <member>\n<name>pid</name>\n<value><int>{pid}</int></value>\n</member>\n\
             </struct></value>"
        )
    }

    #[test]
    fn fault_codes_match_supervisor() {
        assert_eq!(FaultCode::from_code(10), FaultCode::BadName);
        assert_eq!(FaultCode::BadName.code(), 10);
        assert_eq!(FaultCode::CantReread.name(), "CANT_REREAD");
        assert_eq!(FaultCode::from_code(5), FaultCode::Other(5));
        assert_eq!(FaultCode::Other(5).code(), 5);
        assert_eq!(FaultCode::Other(5).name(), "UNKNOWN");
        for (f, code, _) in FAULTS {
            assert_eq!(FaultCode::from_code(code), f);
            assert_eq!(f.code(), code);
        }
    }

    #[test]
    fn namespec_follows_make_namespec() {
        let p = |name: &str, group: &str| ProcessInfo {
            name: name.into(),
            group: group.into(),
            ..ProcessInfo::default()
        };
        assert_eq!(p("web", "web").namespec(), "web");
        assert_eq!(p("web_01", "web").namespec(), "web:web_01");
    }

    #[test]
    fn get_all_process_info_sends_the_call_and_reads_the_list() {
        let (url, server) = server(vec![xml_reply(&format!(
            "<value><array><data>\n{}\n{}\n</data></array></value>",
            process_struct("caf\u{e9} &amp; co", "grp", 42),
            process_struct("solo", "solo", 0)
        ))]);
        let mut client = Client::new(&url, Some(("user".into(), "123".into()))).unwrap();
        let all = client.get_all_process_info().unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].name, "café & co");
        assert_eq!(all[0].namespec(), "grp:café & co");
        assert_eq!(all[0].pid, 42);
        assert_eq!(all[0].process_state(), Some(ProcessState::Running));
        assert_eq!(all[0].description, "pid 42, uptime 0:00:05");
        assert_eq!((all[0].start, all[0].now), (1_700_000_000, 1_700_000_005));
        assert_eq!(all[0].stderr_logfile, "/l/err");
        assert_eq!(all[1].namespec(), "solo");

        let requests = server.join().unwrap();
        let request = &requests[0];
        assert!(request.starts_with("POST /RPC2 HTTP/1.1\r\n"), "{request}");
        assert!(
            request.contains("\r\nContent-Type: text/xml\r\n"),
            "{request}"
        );
        assert!(
            request.contains("\r\nAuthorization: Basic dXNlcjoxMjM=\r\n"),
            "{request}"
        );
        assert!(
            request.ends_with(
                "<methodName>supervisor.getAllProcessInfo</methodName>\n<params>\n</params>\n\
                 </methodCall>\n"
            ),
            "{request}"
        );
    }

    #[test]
    fn calls_encode_their_arguments() {
        let (url, server) = server(vec![
            xml_reply("<value><boolean>1</boolean></value>"),
            xml_reply("<value><boolean>1</boolean></value>"),
            xml_reply("<value><boolean>1</boolean></value>"),
            xml_reply(&process_struct("p", "g", 7)),
            xml_reply(
                "<value><struct><member><name>statecode</name><value><int>1</int></value>\
                 </member><member><name>statename</name><value><string>RUNNING</string>\
                 </value></member></struct></value>",
            ),
            xml_reply("<value><int>99</int></value>"),
        ]);
        let mut client = Client::new(&url, None).unwrap();
        client.stop_process("g:p", true).unwrap();
        client.start_process("g:p", false).unwrap();
        client.signal_process("g:p", "HUP").unwrap();
        assert_eq!(client.get_process_info("g:p").unwrap().pid, 7);
        assert_eq!(
            client.get_state().unwrap(),
            SupervisorState {
                code: 1,
                name: "RUNNING".into()
            }
        );
        assert_eq!(client.get_pid().unwrap(), 99);
        let requests = server.join().unwrap();
        let param = |s: &str| format!("<param>\n<value>{s}</value>\n</param>\n");
        let expect = [
            (
                "stopProcess",
                vec!["<string>g:p</string>", "<boolean>1</boolean>"],
            ),
            (
                "startProcess",
                vec!["<string>g:p</string>", "<boolean>0</boolean>"],
            ),
            (
                "signalProcess",
                vec!["<string>g:p</string>", "<string>HUP</string>"],
            ),
            ("getProcessInfo", vec!["<string>g:p</string>"]),
            ("getState", vec![]),
            ("getPID", vec![]),
        ];
        for (request, (method, params)) in requests.iter().zip(expect) {
            let params: String = params.into_iter().map(param).collect();
            assert!(
                request.ends_with(&format!(
                    "<methodName>supervisor.{method}</methodName>\n<params>\n{params}</params>\n\
                     </methodCall>\n"
                )),
                "{request}"
            );
            // No credentials given: no Authorization header.
            assert!(!request.contains("Authorization"), "{request}");
        }
    }

    #[test]
    fn faults_are_typed() {
        let (url, _server) = server(vec![
            fault_reply(10, "BAD_NAME: nope"),
            fault_reply(70, "NOT_RUNNING: g:p"),
            fault_reply(999, "strange"),
        ]);
        let mut client = Client::new(&url, None).unwrap();
        let e = client.get_process_info("nope").unwrap_err();
        assert_eq!(e.fault_code(), Some(FaultCode::BadName));
        assert_eq!(
            e.to_string(),
            "supervisord refused supervisor.getProcessInfo: BAD_NAME: nope (fault 10)"
        );
        let e = client.stop_process("g:p", true).unwrap_err();
        assert_eq!(e.fault_code(), Some(FaultCode::NotRunning));
        let e = client.get_pid().unwrap_err();
        assert_eq!(e.fault_code(), Some(FaultCode::Other(999)));
    }

    #[test]
    fn shutdown_is_one_call_and_a_stopping_supervisord_is_a_typed_fault() {
        let (url, server) = server(vec![
            xml_reply("<value><boolean>1</boolean></value>"),
            fault_reply(6, "SHUTDOWN_STATE"),
            xml_reply("<value><int>1</int></value>"),
        ]);
        let client = Client::new(&url, None).unwrap();
        client.shutdown().unwrap();
        let e = client.shutdown().unwrap_err();
        assert_eq!(e.fault_code(), Some(FaultCode::ShutdownState));
        let e = client.shutdown().unwrap_err();
        assert!(matches!(e, RpcError::Malformed { .. }), "{e}");
        let requests = server.join().unwrap();
        assert!(
            requests[0].ends_with(
                "<methodName>supervisor.shutdown</methodName>\n<params>\n</params>\n</methodCall>\n"
            ),
            "{}",
            requests[0]
        );
    }

    #[test]
    fn group_results_report_the_first_failure() {
        let result = |name: &str, status: i64, description: &str| {
            format!(
                "<value><struct><member><name>name</name><value><string>{name}</string></value>\
                 </member><member><name>group</name><value><string>g</string></value></member>\
                 <member><name>status</name><value><int>{status}</int></value></member>\
                 <member><name>description</name><value><string>{description}</string></value>\
                 </member></struct></value>"
            )
        };
        let (url, _server) = server(vec![
            xml_reply(&format!(
                "<value><array><data>{}{}</data></array></value>",
                result("a", 80, "OK"),
                result("b", 80, "OK")
            )),
            xml_reply(&format!(
                "<value><array><data>{}{}</data></array></value>",
                result("a", 80, "OK"),
                result("b", 50, "SPAWN_ERROR: b")
            )),
        ]);
        let mut client = Client::new(&url, None).unwrap();
        client.start_process("g:*", true).unwrap();
        let e = client.start_process("g:*", true).unwrap_err();
        assert_eq!(e.fault_code(), Some(FaultCode::SpawnError));
        assert_eq!(
            e.to_string(),
            "supervisord refused supervisor.startProcess: g:b: SPAWN_ERROR: b (fault 50)"
        );
    }

    #[test]
    fn http_errors_are_told_apart() {
        let (url, _server) = server(vec![
            http_reply("401 Unauthorized", "<html>Unauthorized</html>"),
            http_reply("404 Not Found", "no"),
            http_reply("200 OK", "<html>a proxy's page</html>"),
            xml_reply("<value><string>not a list</string></value>"),
            xml_reply(
                "<value><array><data><value><struct></struct></value></data></array></value>",
            ),
        ]);
        let mut client = Client::new(&url, Some(("u".into(), "wrong".into()))).unwrap();
        let e = client.get_all_process_info().unwrap_err();
        assert!(matches!(e, RpcError::Unauthorized { .. }), "{e:?}");
        assert_eq!(
            e.to_string(),
            format!(
                "supervisord at {url} refused our login (401 Unauthorized): check \
                 SUPERVISOR_USERNAME and SUPERVISOR_PASSWORD (environment= in the \
                 [eventlistener:x] section) against the username and password of its http \
                 server section"
            )
        );
        let e = client.get_all_process_info().unwrap_err();
        assert!(matches!(e, RpcError::Status { status: 404, .. }), "{e:?}");
        assert!(
            e.to_string().starts_with(&format!(
                "supervisord at {url} answered supervisor.getAllProcessInfo with HTTP 404 Not \
                 Found: "
            )),
            "{e}"
        );
        let e = client.get_all_process_info().unwrap_err();
        assert!(matches!(e, RpcError::Malformed { .. }), "{e:?}");
        assert!(
            e.to_string()
                .contains("<html> where <methodResponse> belongs"),
            "{e}"
        );
        let e = client.get_all_process_info().unwrap_err();
        assert!(
            e.to_string()
                .contains("a string where an array was expected"),
            "{e}"
        );
        let e = client.get_all_process_info().unwrap_err();
        assert!(
            e.to_string().contains("item 0: field name is missing"),
            "{e}"
        );
    }

    #[test]
    fn process_info_fields_may_be_missing_but_not_mistyped() {
        let mut s = std::collections::BTreeMap::new();
        s.insert("name".to_owned(), Value::from("p"));
        s.insert("group".to_owned(), Value::from("g"));
        s.insert("state".to_owned(), Value::Int(0));
        s.insert("pid".to_owned(), Value::Int(0));
        let info = ProcessInfo::from_value(&Value::Struct(s.clone())).unwrap();
        assert_eq!((info.statename.as_str(), info.exitstatus), ("", 0));
        s.insert("exitstatus".to_owned(), Value::from("1"));
        assert_eq!(
            ProcessInfo::from_value(&Value::Struct(s.clone())).unwrap_err(),
            "field exitstatus is a string, not an integer"
        );
        s.insert("exitstatus".to_owned(), Value::Int(1));
        s.insert("pid".to_owned(), Value::Int(-1));
        assert_eq!(
            ProcessInfo::from_value(&Value::Struct(s.clone())).unwrap_err(),
            "a negative pid"
        );
        s.remove("pid");
        assert_eq!(
            ProcessInfo::from_value(&Value::Struct(s)).unwrap_err(),
            "field pid is missing"
        );
    }

    #[test]
    fn environment() {
        let e = Client::from_vars(None, None, None).unwrap_err();
        assert!(matches!(e, RpcError::NoServerUrl));
        assert!(
            e.to_string().contains(
                "must run under supervisord, as the command of an \
                                    [eventlistener:x] section"
            ),
            "{e}"
        );
        assert!(matches!(
            Client::from_vars(Some(String::new()), None, None),
            Err(RpcError::NoServerUrl)
        ));
        let e = Client::from_vars(Some("localhost:9001".into()), None, None).unwrap_err();
        assert!(
            e.to_string().starts_with(
                "SUPERVISOR_SERVER_URL \"localhost:9001\" is not a supervisord address"
            ),
            "{e}"
        );
        assert!(matches!(
            Client::from_vars(Some("https://h:1".into()), None, None),
            Err(RpcError::BadServerUrl { .. })
        ));
        let c = Client::from_vars(Some("unix:///tmp/s.sock".into()), None, None).unwrap();
        assert_eq!((c.url(), &c.credentials), ("unix:///tmp/s.sock", &None));
        let c = Client::from_vars(Some("http://h:1".into()), Some("u".into()), None).unwrap();
        assert_eq!(c.credentials, Some(("u".into(), String::new())));
    }

    #[test]
    fn unreachable_and_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("unix://{}/supervisor.sock", dir.path().display());
        let mut client = Client::new(&url, None).unwrap();
        let e = client.get_state().unwrap_err();
        assert!(matches!(e, RpcError::Unreachable { .. }), "{e:?}");
        assert_eq!(
            e.to_string(),
            format!(
                "cannot reach supervisord: {url}: no such socket file (is the server running, \
                 and is the path right?); check that supervisord runs and that \
                 SUPERVISOR_SERVER_URL (or the section's serverurl=) names its \
                 [unix_http_server] or [inet_http_server]"
            )
        );
        // Accepts, never answers.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let mut client = Client::new(&url, None)
            .unwrap()
            .with_timeout(Duration::from_millis(200));
        let e = client.get_state().unwrap_err();
        assert!(
            matches!(
                e,
                RpcError::Transport {
                    source: HttpError::Timeout { .. },
                    ..
                }
            ),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            format!(
                "supervisord call supervisor.getState failed: {url}: no answer within 0.2 s \
                 (is the server hung or overloaded, or does a firewall drop the packets?)"
            )
        );
    }

    /// The trait is small enough for a fake: what a listener test would write.
    #[test]
    fn a_fake_supervisor() {
        struct Fake(Vec<String>);
        impl Supervisor for Fake {
            fn get_all_process_info(&mut self) -> Result<Vec<ProcessInfo>, RpcError> {
                Ok(Vec::new())
            }
            fn get_process_info(&mut self, n: &str) -> Result<ProcessInfo, RpcError> {
                Err(RpcError::Fault {
                    method: "supervisor.getProcessInfo".into(),
                    fault: Fault {
                        code: 10,
                        text: format!("BAD_NAME: {n}"),
                    },
                })
            }
            fn get_all_config_info(&mut self) -> Result<Vec<ConfigInfo>, RpcError> {
                Ok(Vec::new())
            }
            fn start_process(&mut self, n: &str, _: bool) -> Result<(), RpcError> {
                self.0.push(format!("start {n}"));
                Ok(())
            }
            fn stop_process(&mut self, n: &str, _: bool) -> Result<(), RpcError> {
                self.0.push(format!("stop {n}"));
                Ok(())
            }
            fn signal_process(&mut self, n: &str, s: &str) -> Result<(), RpcError> {
                self.0.push(format!("signal {n} {s}"));
                Ok(())
            }
            fn get_state(&mut self) -> Result<SupervisorState, RpcError> {
                Ok(SupervisorState {
                    code: 1,
                    name: "RUNNING".into(),
                })
            }
            fn get_pid(&mut self) -> Result<u32, RpcError> {
                Ok(1)
            }
        }
        fn restart(sv: &mut impl Supervisor, name: &str) -> Result<(), RpcError> {
            match sv.stop_process(name, true) {
                Err(e) if e.fault_code() == Some(FaultCode::NotRunning) => {}
                other => other?,
            }
            sv.start_process(name, true)
        }
        let mut fake = Fake(Vec::new());
        restart(&mut fake, "g:p").unwrap();
        assert_eq!(fake.0, ["stop g:p", "start g:p"]);
        assert_eq!(
            fake.get_process_info("x").unwrap_err().fault_code(),
            Some(FaultCode::BadName)
        );
    }
}
