//! essential's acting half: what it does, once, on a thread of its own, when the deciding half
//! (mod.rs) hands it a failure: the checks over XML-RPC, the log line, the status file for
//! `superlance entrypoint`, the notification, and the shutdown (XML-RPC, else SIGTERM to a
//! parent that is supervisord). Every effect is behind a small trait, so it is tested with
//! fakes.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::event::ProcessState;
use crate::notify::{Kind, Notification, Notifier};
use crate::rpc::{self, FaultCode, ProcessInfo, RpcError, Supervisor, LISTENER_PRIORITY};
use crate::Error;

/// At our own SIGTERM, how long the actor may still take (its mail wait is ~6 s); below
/// supervisord's default stopwaitsecs (10).
pub(super) const ACTOR_GRACE: Duration = Duration::from_secs(8);

/// State both halves see.
#[derive(Debug, Default)]
pub struct Shared {
    /// SUPERVISOR_STATE_CHANGE_STOPPING was seen: supervisord is going down anyway.
    pub(super) stopping: AtomicBool,
    /// The actor has acted: nothing more will be.
    pub(super) done: AtomicBool,
}

/// A failure that counts, handed from the protocol loop to the actor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trigger {
    pub group: String,
    pub name: String,
    /// FATAL, EXITED, BACKOFF or STOPPED.
    pub state: ProcessState,
    /// Why this counts, for the log line and the mail.
    pub reason: String,
    /// The grace that passed without RUNNING, if any.
    pub grace: Option<Duration>,
}

impl Trigger {
    pub fn namespec(&self) -> String {
        format!("{}:{}", self.group, self.name)
    }
}

/// Where the deciding half (`Essential`) hands a [`Trigger`]: the actor's thread ([`Worker`]), or a test's list.
pub trait Submit {
    fn submit(&mut self, trigger: Trigger);
    /// The listener stops: let the actor finish (bounded).
    fn finish(&mut self) {}
}

// ---------------------------------------------------------------------------------------------
// The actor

/// The XML-RPC calls the actor makes.
pub trait Control {
    /// `supervisor.getState` says RUNNING (not shutting down or restarting).
    fn running(&mut self) -> Result<bool, RpcError>;
    /// The process belongs to an event-listener pool (`getAllConfigInfo`, priority -1).
    fn listener_pool(&mut self, group: &str, name: &str) -> Result<bool, RpcError>;
    fn process_info(&mut self, namespec: &str) -> Result<ProcessInfo, RpcError>;
    fn shutdown(&mut self) -> Result<(), RpcError>;
}

impl Control for rpc::Client {
    fn running(&mut self) -> Result<bool, RpcError> {
        // supervisor/states.py SupervisorStates: RUNNING is 1.
        self.get_state().map(|s| s.code == 1)
    }

    fn listener_pool(&mut self, group: &str, name: &str) -> Result<bool, RpcError> {
        Ok(self
            .get_all_config_info()?
            .iter()
            .any(|c| c.group == group && c.name == name && c.group_prio == LISTENER_PRIORITY))
    }

    fn process_info(&mut self, namespec: &str) -> Result<ProcessInfo, RpcError> {
        self.get_process_info(namespec)
    }

    fn shutdown(&mut self) -> Result<(), RpcError> {
        rpc::Client::shutdown(self)
    }
}

/// Our parent, supervisord, for the SIGTERM way.
pub trait Parent {
    /// Send supervisord SIGTERM, after checking that our parent is supervisord: its pid.
    fn terminate(&mut self) -> Result<u32, String>;
}

pub struct ParentProcess;

impl Parent for ParentProcess {
    fn terminate(&mut self) -> Result<u32, String> {
        let ppid = std::os::unix::process::parent_id();
        if ppid == 0 {
            return Err("we have no parent process to send SIGTERM to".to_owned());
        }
        let cmdline = fs::read(format!("/proc/{ppid}/cmdline"))
            .map_err(|e| format!("cannot read /proc/{ppid}/cmdline: {e}"))?;
        if !is_supervisord(&cmdline) {
            return Err(format!(
                "our parent, pid {ppid} ({}), is not supervisord: not sending it SIGTERM",
                String::from_utf8_lossy(&cmdline).replace('\0', " ").trim()
            ));
        }
        let pid = libc::pid_t::try_from(ppid).map_err(|_| format!("pid {ppid} out of range"))?;
        // SAFETY: kill(2) with a pid we just read and a valid signal number.
        if unsafe { libc::kill(pid, libc::SIGTERM) } != 0 {
            return Err(format!(
                "cannot send SIGTERM to supervisord (pid {ppid}): {}",
                io::Error::last_os_error()
            ));
        }
        Ok(ppid)
    }
}

/// Whether a /proc/PID/cmdline is supervisord's: its program is `supervisord` (any path), or a
/// Python interpreter running it (`python3 /usr/bin/supervisord`, `python -m
/// supervisor.supervisord`). A wrapper that merely names it in its arguments (`superlance
/// entrypoint -- supervisord ...`, `sh -c ...`) is not.
pub fn is_supervisord(cmdline: &[u8]) -> bool {
    let args: Vec<String> = cmdline
        .split(|&b| b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    let base = |a: &str| a.rsplit('/').next().unwrap_or(a).to_owned();
    let is_it = |a: &str| base(a).contains("supervisord");
    match args.split_first() {
        Some((program, _)) if is_it(program) => true,
        Some((program, rest)) if base(program).starts_with("python") => {
            rest.iter().take(3).any(|a| is_it(a))
        }
        _ => false,
    }
}

/// Tells people (mail today; the notify channels when they land).
pub trait Notify {
    /// Deliver `text` about `trigger` before returning, or give up after a bounded wait.
    fn notify(&mut self, trigger: &Trigger, text: &str);
}

/// Notification through the shared delivery layer: our only use of it.
pub struct Mailer {
    pub(super) notifier: Option<Notifier>,
    /// `--tail`: the program's exit status and last stderr lines, read before supervisord is
    /// asked to shut down (it answers no more after).
    pub(super) context: Option<crate::crash_context::Gather>,
    /// `--hostname`, for the notification (the mail's subject keeps this machine's name).
    pub(super) hostname: String,
}

impl Notify for Mailer {
    fn notify(&mut self, trigger: &Trigger, text: &str) {
        let Some(mut notifier) = self.notifier.take() else {
            return;
        };
        let hostname = crate::hostname::short();
        let mut n = Notification::new(
            Kind::Event,
            "essential",
            &self.hostname,
            std::time::SystemTime::now(),
        )
        .with_namespec(&trigger.namespec());
        n.event = Some(format!("PROCESS_STATE_{}", trigger.state.name()));
        n.to_state = Some(trigger.state.name().to_owned());
        n.subject = Some(format!(
            "{hostname}: essential program {} is {}, supervisord shut down",
            trigger.namespec(),
            trigger.state.name()
        ));
        n.text = format!("{} {text}\n", crate::time::asctime());
        if let Some(gather) = self.context.as_mut() {
            n.extra = gather(&trigger.namespec(), None);
        }
        notifier.submit(n);
        // The shutdown delivers what it can within its grace (5 s; a delivery under way gets
        // 1 s more), then spools (--spool) or names in the log what it could not.
        notifier.shutdown();
    }
}

/// What became of a trigger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Acted,
    /// Not acted on, and why.
    Declined(String),
}

/// Acts on a trigger, once.
pub struct Actor<C: Control, P: Parent, N: Notify> {
    pub(super) rpc: Option<C>,
    pub(super) parent: P,
    pub(super) notify: N,
    pub(super) status: Option<PathBuf>,
    pub(super) shared: Arc<Shared>,
    pub(super) acted: bool,
}

impl<C: Control, P: Parent, N: Notify> Actor<C, P, N> {
    pub fn act(&mut self, t: &Trigger) -> Outcome {
        let namespec = t.namespec();
        let decline = |why: String| {
            log::info!("{namespec} is {}: not acting: {why}", t.state.name());
            Outcome::Declined(why)
        };
        if self.acted || self.shared.done.load(Ordering::SeqCst) {
            return decline("already acted on an earlier failure".to_owned());
        }
        if self.shared.stopping.load(Ordering::SeqCst) {
            return decline("supervisord is stopping".to_owned());
        }
        let mut exitstatus = None;
        if let Some(rpc) = self.rpc.as_mut() {
            match rpc.running() {
                Ok(true) => {}
                Ok(false) => return decline("supervisord is shutting down or restarting".into()),
                Err(e) => log::warn!("cannot ask supervisord for its state: {e}"),
            }
            match rpc.listener_pool(&t.group, &t.name) {
                Ok(true) => {
                    return decline(format!(
                        "it is an event-listener pool's process (priority {LISTENER_PRIORITY}), \
                         and essential never acts on listeners"
                    ))
                }
                Ok(false) => {}
                Err(e) => log::warn!(
                    "cannot tell whether {namespec} is an event-listener pool ({e}); taking it \
                     for a program"
                ),
            }
            match rpc.process_info(&namespec) {
                Ok(info) => {
                    if t.grace.is_some() && info.process_state() == Some(ProcessState::Running) {
                        return decline("it is RUNNING again".to_owned());
                    }
                    // After an exit supervisord keeps its status until the next spawn resets
                    // it: EXITED means not restarted since. A death by signal is -1 there,
                    // not an exit status.
                    if t.state == ProcessState::Exited
                        && info.process_state() == Some(ProcessState::Exited)
                        && info.exitstatus >= 0
                    {
                        exitstatus = Some(info.exitstatus);
                    }
                }
                Err(e) => log::warn!("cannot ask supervisord about {namespec}: {e}"),
            }
        }
        self.acted = true;
        self.shared.done.store(true, Ordering::SeqCst);

        let mut text = format!(
            "essential program {namespec} is {}: {}",
            t.state.name(),
            t.reason
        );
        if let Some(grace) = t.grace {
            text.push_str(&format!(
                ", and not RUNNING again within {}",
                seconds(grace)
            ));
        }
        if let Some(es) = exitstatus {
            text.push_str(&format!(", exit status {es}"));
        }
        text.push_str("; shutting supervisord down");
        log::error!("{text}");
        if let Some(path) = &self.status {
            match write_status(path, t, exitstatus) {
                Ok(()) => log::info!("failure written to {}", path.display()),
                Err(e) => log::error!("cannot write the failure to {}: {e}", path.display()),
            }
        }
        self.notify.notify(t, &text);
        self.shut_down();
        Outcome::Acted
    }

    fn shut_down(&mut self) {
        if let Some(rpc) = self.rpc.as_mut() {
            match rpc.shutdown() {
                Ok(()) => {
                    log::info!("supervisord accepted supervisor.shutdown: it stops every program, then exits");
                    return;
                }
                Err(e) if e.fault_code() == Some(FaultCode::ShutdownState) => {
                    log::info!("supervisord is already shutting down");
                    return;
                }
                Err(e) => log::warn!("supervisor.shutdown failed: {e}; sending SIGTERM instead"),
            }
        }
        match self.parent.terminate() {
            Ok(pid) => log::info!(
                "sent SIGTERM to supervisord (pid {pid}): it stops every program, then exits"
            ),
            Err(e) => log::error!("cannot shut supervisord down: {e}"),
        }
    }
}

/// Write `program=`, `state=` and (when known) `exitstatus=` lines to `path`, atomically: a
/// temp file in the same directory, synced, then renamed over `path`.
pub fn write_status(path: &Path, t: &Trigger, exitstatus: Option<i64>) -> io::Result<()> {
    let mut text = format!("program={}\nstate={}\n", t.namespec(), t.state.name());
    if let Some(es) = exitstatus {
        text.push_str(&format!("exitstatus={es}\n"));
    }
    let file_name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a file name"))?;
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(file_name);
    temp_name.push(format!(".{}.tmp", std::process::id()));
    let temp = path.with_file_name(temp_name);
    let result = (|| {
        let mut f = fs::File::create(&temp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        fs::rename(&temp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

/// The actor's thread: triggers in order, until one is acted on.
pub struct Worker {
    tx: Option<mpsc::Sender<Trigger>>,
    thread: Option<JoinHandle<()>>,
}

impl Worker {
    pub fn start<C, P, N>(mut actor: Actor<C, P, N>) -> Result<Worker, Error>
    where
        C: Control + Send + 'static,
        P: Parent + Send + 'static,
        N: Notify + Send + 'static,
    {
        let (tx, rx) = mpsc::channel::<Trigger>();
        let thread = std::thread::Builder::new()
            .name("essential".to_owned())
            .spawn(move || {
                for trigger in rx {
                    actor.act(&trigger);
                }
            })
            .map_err(|e| Error::Setup(format!("cannot start the essential thread: {e}")))?;
        Ok(Worker {
            tx: Some(tx),
            thread: Some(thread),
        })
    }
}

impl Submit for Worker {
    fn submit(&mut self, trigger: Trigger) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(trigger);
        }
    }

    fn finish(&mut self) {
        self.tx = None;
        let deadline = Instant::now() + ACTOR_GRACE;
        if let Some(thread) = self.thread.take() {
            while !thread.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            if thread.is_finished() {
                let _ = thread.join();
            } else {
                log::warn!(
                    "shutdown: still acting after {}; not waiting",
                    seconds(ACTOR_GRACE)
                );
            }
        }
    }
}

/// `5 s`, `0.5 s`.
pub(super) fn seconds(d: Duration) -> String {
    format!("{} s", d.as_secs_f64())
}
