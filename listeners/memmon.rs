//! memmon: restart supervisord programs that use too much memory (docs/memmon.md).
//!
//! Drop-in for superlance's memmon: the same options (and the spellings its docs show,
//! `--groupname`, `--sendmail`), sizes as supervisor's `byte_size`, the same mail subjects and
//! texts. On every TICK_* it asks supervisord for its processes (XML-RPC getAllProcessInfo),
//! reads their resident memory from /proc, and restarts through supervisord (stopProcess, then
//! startProcess) those above their limit.
//!
//! Fixed (superlance.md B3-B8): `-p group:name=SIZE` works (B3); a process is restarted at
//! most once per tick, by the most specific rule that names it (B4); `-n` is never overwritten
//! (B5); RSS comes from one read of /proc per process, or one scan of /proc per tick with `-c`,
//! never `ps` (B6, superlance #133); a fault during a restart is logged and mailed and memmon
//! carries on (B7, superlance #43); `-a` and `-g` never touch event-listener pools or memmon
//! itself unless a `-p` names them (B8); only RUNNING processes are considered.
//!
//! The protocol loop only hands the tick to a [`Background`] worker: the RPC calls and the
//! restarts (each waits for supervisord) never keep supervisord waiting for our answer
//! (superlance #41, #55). Ticks that come while a check runs are coalesced.
//!
//! `--tail N` (issue 12): the last N stderr lines of a process, read on that worker just before
//! it is restarted (what it wrote while growing is what matters), go under the restart's text.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use clap::{Arg, ArgAction, ArgMatches, Command};

use crate::background::Background;
use crate::event::{Event, ProcessState};
use crate::notify::channel::mail::options;
use crate::notify::{self, Kind, Notification, Notifier};
use crate::procs::{self, Proc, Procfs};
use crate::protocol::Ack;
use crate::rpc::{self, FaultCode, ProcessInfo, RpcError, Supervisor};
use crate::runtime::{self, Listener};
use crate::select::{Selection, Spec};
use crate::Error;

const PROGRAM: &str = "program";
const GROUP: &str = "group";
const ANY: &str = "any";
const CUMULATIVE: &str = "cumulative";
const UPTIME: &str = "uptime";
const NAME: &str = "name";

/// At SIGTERM, how long a check (and a restart in it) may go on: below supervisord's default
/// `stopwaitsecs` (10).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(8);

/// The long options superlance's memmon knew (its getopt list, memmon.py `memmon_from_args`):
/// a unique prefix of one of these still means it (src/legacy_argv.rs). Frozen: never add
/// ours. `--groupname` and `--sendmail`, which only its docs knew (getopt refused them: B18),
/// are our aliases, not in this list.
pub const SUPERLANCE_LONGS: &[&str] = &[
    "help",
    "cumulative",
    "program",
    "group",
    "any",
    "sendmail_program",
    "email",
    "uptime",
    "name",
];

pub fn command() -> Command {
    Command::new("memmon")
        .about("Restart supervisord programs whose resident memory (RSS) goes over a limit, checked at every TICK event")
        .after_help(
            "SIZE is bytes, or a number with KB, MB or GB (1024-based, no decimals), as in \
             supervisord.conf.\n\n  \
             [eventlistener:memmon]\n  command=memmon -p program1=200MB -g workers=100MB -m ops@example.com\n  \
             events=TICK_60",
        )
        .arg(
            Arg::new(PROGRAM)
                .short('p')
                .long("program")
                .value_name("NAME=SIZE")
                .action(ArgAction::Append)
                .value_parser(parse_program_rule)
                .help("Restart this program above SIZE: NAME, GROUP:NAME or GROUP:* (repeatable)"),
        )
        .arg(
            Arg::new(GROUP)
                .short('g')
                .long("group")
                .alias("groupname")
                .value_name("GROUP=SIZE")
                .action(ArgAction::Append)
                .value_parser(parse_group_rule)
                .help("Restart any process of this group above SIZE (repeatable)"),
        )
        .arg(
            Arg::new(ANY)
                .short('a')
                .long("any")
                .value_name("SIZE")
                .value_parser(parse_byte_size)
                .help("Restart any process above SIZE (not event-listener pools, nor memmon itself)"),
        )
        .arg(
            Arg::new(CUMULATIVE)
                .short('c')
                .long("cumulative")
                .action(ArgAction::SetTrue)
                .help("Count a process's RSS together with all its descendants'"),
        )
        .arg(
            options::sendmail_program_arg().alias("sendmail"),
        )
        .arg(
            options::email_arg("Mail this address (several: comma-separated) when a process is restarted or cannot be"),
        )
        .arg(
            Arg::new(UPTIME)
                .short('u')
                .long("uptime")
                .value_name("SECS")
                .value_parser(parse_uptime)
                .help("Mail a restart only if the process had been up at most SECS (suffix s, m, h or d) [default: always]"),
        )
        .arg(
            Arg::new(NAME)
                .short('n')
                .long("name")
                .value_name("NAME")
                .help("Name this memmon in mail subjects: 'memmon [NAME]: ...'"),
        )
        .arg(crate::crash_context::tail_before_restart_arg(
            "the restart notification",
        ))
        .args(options::args())
        .args(notify::options::args())
}

/// `-p NAME=SIZE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramRule {
    pub spec: Spec,
    pub text: String,
    pub size: u64,
}

fn split_rule(value: &str) -> Result<(&str, u64), String> {
    // superlance: value.split('=') must give exactly two parts.
    let Some((name, size)) = value.split_once('=').filter(|(_, s)| !s.contains('=')) else {
        return Err(format!("{value:?} is not NAME=SIZE"));
    };
    Ok((name, parse_byte_size(size)?))
}

fn parse_program_rule(value: &str) -> Result<ProgramRule, String> {
    let (name, size) = split_rule(value)?;
    Ok(ProgramRule {
        spec: Spec::parse(name)?,
        text: name.to_owned(),
        size,
    })
}

fn parse_group_rule(value: &str) -> Result<(String, u64), String> {
    let (group, size) = split_rule(value)?;
    if group.is_empty() || group.contains([':', ' ']) {
        return Err(format!("{group:?} is not a group name"));
    }
    Ok((group.to_owned(), size))
}

/// supervisor's `byte_size` (supervisor/datatypes.py): an integer, optionally followed by
/// `KB`, `MB` or `GB` in any case, 1024-based. No decimals, no `K`/`M`.
pub fn parse_byte_size(text: &str) -> Result<u64, String> {
    let lower = text.trim().to_ascii_lowercase();
    let (number, unit) = match lower.len().checked_sub(2).map(|i| lower.split_at(i)) {
        Some((n, "kb")) => (n, 1u64 << 10),
        Some((n, "mb")) => (n, 1 << 20),
        Some((n, "gb")) => (n, 1 << 30),
        _ => (lower.as_str(), 1),
    };
    number
        .trim()
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(unit))
        .ok_or_else(|| {
            format!("{text:?} is not a size (bytes, or a whole number with KB, MB or GB)")
        })
}

/// superlance's `-u`: an integer with an optional `s`, `m`, `h` or `d`.
fn parse_uptime(text: &str) -> Result<u64, String> {
    let lower = text.trim().to_ascii_lowercase();
    let (number, unit) = match lower.chars().last() {
        Some('s') => (&lower[..lower.len() - 1], 1u64),
        Some('m') => (&lower[..lower.len() - 1], 60),
        Some('h') => (&lower[..lower.len() - 1], 3600),
        Some('d') => (&lower[..lower.len() - 1], 86_400),
        _ => (lower.as_str(), 1),
    };
    number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(unit))
        .ok_or_else(|| format!("{text:?} is not a time (seconds, or a number with s, m, h or d)"))
}

/// Which limits apply, from `-p`, `-g`, `-a`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rules {
    pub programs: Vec<ProgramRule>,
    pub groups: Vec<(String, u64)>,
    pub any: Option<u64>,
}

impl Rules {
    fn is_empty(&self) -> bool {
        self.programs.is_empty() && self.groups.is_empty() && self.any.is_none()
    }

    /// The limit for a process and the rule it comes from: the most specific rule that names
    /// it (a `-p` rule, then `-g`, then `-a`), so `-p big=1GB -a 200MB` lets `big` use 1 GB.
    /// `-g` and `-a` skip `protected` processes (event-listener pools, memmon itself).
    pub fn limit(&self, group: &str, name: &str, protected: bool) -> Option<(u64, String)> {
        if let Some(r) = self.programs.iter().find(|r| r.spec.matches(group, name)) {
            return Some((r.size, format!("-p {}={}", r.text, r.size)));
        }
        if protected {
            return None;
        }
        if let Some((g, size)) = self.groups.iter().find(|(g, _)| g == group) {
            return Some((*size, format!("-g {g}={size}")));
        }
        self.any.map(|size| (size, format!("-a {size}")))
    }

    /// For the start-up log: `programs web=104857600; groups workers=...; any=...`.
    fn describe(&self) -> String {
        let mut parts = Vec::new();
        if !self.programs.is_empty() {
            let p: Vec<String> = self
                .programs
                .iter()
                .map(|r| format!("{}={}", r.text, r.size))
                .collect();
            parts.push(format!("programs {}", p.join(", ")));
        }
        if !self.groups.is_empty() {
            let g: Vec<String> = self
                .groups
                .iter()
                .map(|(g, s)| format!("{g}={s}"))
                .collect();
            parts.push(format!("groups {}", g.join(", ")));
        }
        if let Some(a) = self.any {
            parts.push(format!("any={a}"));
        }
        parts.join("; ")
    }
}

/// Where memmon's notifications go: the notifier, or a recorder in tests.
pub type Notify = Box<dyn Fn(Notification) + Send>;

/// The decisions and the actions of one tick; runs on the [`Background`] worker.
pub struct Memmon {
    pub rules: Rules,
    pub cumulative: bool,
    pub rpc: Box<dyn Supervisor + Send>,
    pub procs: Box<dyn Procfs + Send>,
    pub notify: Option<Notify>,
    /// This machine's name, for the notifications.
    pub hostname: String,
    /// `-n`: `memmon [NAME]: ...` in subjects.
    pub name: Option<String>,
    /// `-u`: mail a restart only if the process had been up at most this long (seconds).
    pub uptime_limit: u64,
    /// memmon's own (group, name).
    pub own: Option<(String, String)>,
    /// `--tail`: the crash context of a process about to be restarted, for its notification.
    pub context: Option<crate::crash_context::Gather>,
    /// Event-listener pools' processes (`group:name`), and the processes they were found
    /// among: asked again when those change.
    pools: Option<(Vec<String>, HashSet<String>)>,
    /// supervisord could not be reached at the last tick (said once per outage).
    unreachable: bool,
}

/// What one tick did (for tests and the log).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TickReport {
    pub checked: usize,
    /// `group:name` of each process restarted.
    pub restarted: Vec<String>,
    pub failed: Vec<String>,
}

impl Memmon {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        rules: Rules,
        cumulative: bool,
        rpc: Box<dyn Supervisor + Send>,
        procs: Box<dyn Procfs + Send>,
        notify: Option<Notify>,
        hostname: String,
        name: Option<String>,
        uptime_limit: u64,
        own: Option<(String, String)>,
    ) -> Memmon {
        Memmon {
            rules,
            cumulative,
            rpc,
            procs,
            notify,
            hostname,
            name,
            uptime_limit,
            own,
            context: None,
            pools: None,
            unreachable: false,
        }
    }

    /// Check every process once; restart those over their limit.
    pub fn tick(&mut self) -> TickReport {
        let mut report = TickReport::default();
        let infos = match self.rpc.get_all_process_info() {
            Ok(infos) => {
                if std::mem::take(&mut self.unreachable) {
                    log::info!("supervisord answers again");
                }
                infos
            }
            Err(e) => {
                if !std::mem::replace(&mut self.unreachable, true) {
                    log::error!("cannot check memory: {e}; trying again at the next TICK");
                }
                return report;
            }
        };
        let pools = self.pools(&infos);
        let tree = if self.cumulative {
            match self.procs.tree() {
                Ok(t) => Some(t),
                Err(e) => {
                    log::error!("cannot read /proc: {e}; skipping this check");
                    return report;
                }
            }
        } else {
            None
        };
        let mut over = Vec::new();
        for info in &infos {
            if info.pid == 0 || info.process_state() != Some(ProcessState::Running) {
                continue;
            }
            let pname = format!("{}:{}", info.group, info.name);
            let protected = pools.contains(&pname)
                || self
                    .own
                    .as_ref()
                    .is_some_and(|(g, n)| *g == info.group && *n == info.name);
            let Some((limit, rule)) = self.rules.limit(&info.group, &info.name, protected) else {
                continue;
            };
            let rss = match &tree {
                Some(t) => procs::rss_with_descendants(&*self.procs, t, info.pid),
                None => self.procs.rss(info.pid).ok(),
            };
            // Gone since supervisord answered: nothing to do.
            let Some(rss) = rss else { continue };
            report.checked += 1;
            log::debug!("RSS of {pname} is {rss}");
            if rss > limit {
                over.push((pname, rss, limit, rule));
            }
        }
        // One restart per process per tick (B4): `over` has each process once.
        for (pname, rss, limit, rule) in over {
            if self.restart(&pname, rss, limit, &rule) {
                report.restarted.push(pname);
            } else {
                report.failed.push(pname);
            }
        }
        report
    }

    /// The event-listener pools' processes, by supervisord's default priority for
    /// `[eventlistener:x]` (-1; programs have 999): nothing else in the RPC interface tells
    /// them apart. Asked again only when the set of processes changes.
    fn pools(&mut self, infos: &[ProcessInfo]) -> HashSet<String> {
        if self.rules.groups.is_empty() && self.rules.any.is_none() {
            return HashSet::new();
        }
        let names: Vec<String> = infos
            .iter()
            .map(|i| format!("{}:{}", i.group, i.name))
            .collect();
        if let Some((seen, pools)) = &self.pools {
            if *seen == names {
                return pools.clone();
            }
        }
        match self.rpc.get_all_config_info() {
            Ok(configs) => {
                let pools: HashSet<String> = configs
                    .iter()
                    .filter(|c| c.group_prio == -1)
                    .map(|c| format!("{}:{}", c.group, c.name))
                    .collect();
                if !pools.is_empty() {
                    let mut list: Vec<&String> = pools.iter().collect();
                    list.sort();
                    log::debug!("event-listener pools, left alone by -g and -a: {list:?}");
                }
                self.pools = Some((names, pools.clone()));
                pools
            }
            Err(e) => {
                log::warn!(
                    "cannot tell event-listener pools apart ({e}); -g and -a may reach them \
                     this time"
                );
                HashSet::new()
            }
        }
    }

    fn subject(&self, what: &str) -> String {
        match &self.name {
            Some(n) => format!("memmon [{n}]: {what}"),
            None => format!("memmon: {what}"),
        }
    }

    fn mail(&self, pname: &str, subject: String, body: String, extra: Vec<String>) {
        if let Some(notify) = &self.notify {
            notify(
                Notification {
                    subject: Some(subject),
                    text: body,
                    extra,
                    key: Some(pname.to_owned()),
                    ..Notification::new(Kind::Event, "memmon", &self.hostname, SystemTime::now())
                }
                .with_namespec(pname),
            );
        }
    }

    /// Restart `pname` through supervisord. False if it could not be done (said in the log
    /// and, with -m, by mail).
    fn restart(&mut self, pname: &str, rss: u64, limit: u64, rule: &str) -> bool {
        let (uptime, pid) = match self.rpc.get_process_info(pname) {
            Ok(info) if info.process_state() != Some(ProcessState::Running) => {
                log::info!(
                    "{pname} is {} now: not restarting it",
                    info.statename.to_lowercase()
                );
                return false;
            }
            Ok(info) => (u64::try_from(info.now - info.start).unwrap_or(0), info.pid),
            Err(e) if e.fault_code() == Some(FaultCode::BadName) => {
                log::info!("{pname} is gone from supervisord: not restarting it");
                return false;
            }
            Err(e) => return self.failed(pname, "stop", rss, &e, Vec::new()),
        };
        // Before the restart: what the process wrote while it grew. Only when it is notified.
        let extra = match (&mut self.context, &self.notify) {
            (Some(gather), Some(_)) => gather(pname, Some(pid)),
            _ => Vec::new(),
        };
        log::info!("Restarting {pname}: RSS {rss} bytes is over {limit} ({rule})");
        match self.rpc.stop_process(pname, true) {
            Ok(()) => {}
            // It stopped or exited meanwhile (B7: superlance died here); supervisord's own
            // autorestart decides what happens next.
            Err(e) if e.fault_code() == Some(FaultCode::NotRunning) => {
                log::info!("{pname} had already stopped: not starting it");
                return false;
            }
            Err(e) => return self.failed(pname, "stop", rss, &e, extra),
        }
        match self.rpc.start_process(pname, true) {
            Ok(()) => {}
            // supervisord's autorestart got there first.
            Err(e) if e.fault_code() == Some(FaultCode::AlreadyStarted) => {}
            Err(e) => return self.failed(pname, "start", rss, &e, extra),
        }
        log::info!("restarted {pname}");
        if uptime <= self.uptime_limit {
            // superlance's text, date and time zone included (Python's time.asctime() and
            // time.strftime('%Z'); issue 16: the zone was missing).
            let at = std::time::SystemTime::now();
            let now = format!(
                "{} {}",
                crate::time::LocalTime::at(at).c_asctime(),
                crate::time::zone_abbreviation(at)
            );
            self.mail(
                pname,
                self.subject(&format!("process {pname} restarted")),
                format!(
                    "memmon.py restarted the process named {pname} at {now} because it was \
                     consuming too much memory ({rss} bytes RSS)"
                ),
                extra,
            );
        } else {
            log::debug!("{pname} had been up {uptime} s (more than -u): restart not mailed");
        }
        true
    }

    /// A stop or start that failed: logged and mailed; memmon goes on (B7).
    fn failed(&self, pname: &str, step: &str, rss: u64, e: &RpcError, extra: Vec<String>) -> bool {
        let msg = match step {
            "stop" => format!("Failed to stop process {pname} (RSS {rss}): {e}"),
            _ => format!("Failed to start process {pname} after stopping it: {e}"),
        };
        log::error!("{msg}");
        self.mail(
            pname,
            self.subject(&format!("failed to {step} process {pname}")),
            msg,
            extra,
        );
        false
    }
}

/// The listener: hands each TICK to the worker.
pub struct MemmonListener {
    worker: Background<()>,
    /// Shared with the worker, which submits; a Mutex because a Notifier is Send, not Sync.
    outbox: Option<Arc<Mutex<Notifier>>>,
}

impl Listener for MemmonListener {
    fn handle(&mut self, event: &Event) -> Ack {
        if let Event::Tick { .. } = event {
            if let crate::background::Requested::Queued { replaced: true } = self.worker.request(())
            {
                log::debug!("a check is still running: this TICK is folded into the next one");
            }
        }
        Ack::Ok
    }

    fn shutdown(&mut self) {
        self.worker.shutdown(SHUTDOWN_GRACE);
        // The worker's copy is gone with it: this is the last, and dropping the outbox
        // delivers (or spools, or names) what is queued.
        if let Some(outbox) = self.outbox.take() {
            match Arc::try_unwrap(outbox) {
                Ok(o) => o
                    .into_inner()
                    .unwrap_or_else(PoisonError::into_inner)
                    .shutdown(),
                Err(_) => {
                    log::warn!("the check still running holds the mail queue; not waiting for it")
                }
            }
        }
    }
}

pub fn run(m: &ArgMatches) -> Result<(), Error> {
    let rules = Rules {
        programs: m
            .get_many::<ProgramRule>(PROGRAM)
            .map(|v| v.cloned().collect())
            .unwrap_or_default(),
        groups: m
            .get_many::<(String, u64)>(GROUP)
            .map(|v| v.cloned().collect())
            .unwrap_or_default(),
        any: m.get_one::<u64>(ANY).copied(),
    };
    if rules.is_empty() {
        return Err(Error::Usage(format!(
            "nothing to watch: give -p NAME=SIZE, -g GROUP=SIZE or -a SIZE\n\n{}",
            crate::entry::full_help("memmon", command())
        )));
    }
    let rpc = rpc::Client::from_env().map_err(|e| Error::Setup(e.to_string()))?;
    let options::PerEventMail {
        recipients,
        transport,
        config,
    } = options::per_event_mail(m)?;
    let cumulative = m.get_flag(CUMULATIVE);
    log::info!(
        "checking {}{} at every TICK, via {}",
        rules.describe(),
        if cumulative {
            " (RSS of each process with its descendants)"
        } else {
            ""
        },
        rpc.url()
    );
    let others = notify::options::channels(m, "memmon")?;
    let mut outbox = options::notifier_for(&recipients, "restarts", transport, config, others)?;
    notify::options::export_figures(m, "memmon", outbox.as_mut())?;
    let outbox = outbox.map(|o| Arc::new(Mutex::new(o)));
    let notify: Option<Notify> = outbox.clone().map(|o| -> Notify {
        Box::new(move |mail| {
            o.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .submit(mail)
        })
    });
    let mut memmon = Memmon::new(
        rules,
        cumulative,
        Box::new(rpc),
        Box::new(Proc::default()),
        notify,
        notify::options::hostname(m),
        m.get_one::<String>(NAME).cloned(),
        m.get_one::<u64>(UPTIME).copied().unwrap_or(u64::MAX),
        Selection::own_from_env(),
    );
    if let Some(lines) = crate::crash_context::tail_lines(m) {
        log::info!("with the last {lines} lines of stderr of a process it restarts (--tail)");
        memmon.context = Some(crate::crash_context::from_supervisord(lines));
    }
    let worker = Background::start("memory check", move |()| {
        let report = memmon.tick();
        log::debug!("checked {} processes", report.checked);
    })?;
    let mut listener = MemmonListener { worker, outbox };
    runtime::run(&mut listener)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::procs::ProcessTree;
    use crate::rpc::{ConfigInfo, Fault, SupervisorState};
    use std::io;

    #[test]
    fn byte_sizes_as_supervisor() {
        assert_eq!(parse_byte_size("100"), Ok(100));
        assert_eq!(parse_byte_size("200MB"), Ok(200 << 20));
        assert_eq!(parse_byte_size("1gb"), Ok(1 << 30));
        assert_eq!(parse_byte_size("10Kb"), Ok(10 << 10));
        for bad in ["", "1.5MB", "10M", "MB", "-5", "ten"] {
            assert!(parse_byte_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn uptimes_with_suffixes() {
        assert_eq!(parse_uptime("90"), Ok(90));
        assert_eq!(parse_uptime("90s"), Ok(90));
        assert_eq!(parse_uptime("2m"), Ok(120));
        assert_eq!(parse_uptime("1h"), Ok(3600));
        assert_eq!(parse_uptime("1D"), Ok(86_400));
        assert!(parse_uptime("1w").is_err());
        assert!(parse_uptime("").is_err());
    }

    #[test]
    fn options_parse_with_superlance_spellings() {
        let m = command()
            .try_get_matches_from([
                "memmon",
                "-p",
                "foo:bar=1MB",
                "--program=web=2MB",
                "--groupname=workers=3MB",
                "-a",
                "1GB",
                "--sendmail",
                "cat",
                "-n",
                "Project 1",
                "-u",
                "1h",
                "-c",
            ])
            .unwrap();
        let programs: Vec<&ProgramRule> = m.get_many(PROGRAM).unwrap().collect();
        assert_eq!(programs.len(), 2);
        assert_eq!(programs[0].spec, Spec::parse("foo:bar").unwrap());
        assert_eq!(programs[0].size, 1 << 20);
        assert_eq!(
            m.get_one::<String>(options::SENDMAIL_PROGRAM)
                .map(String::as_str),
            Some("cat")
        );
        assert_eq!(
            m.get_one::<String>(NAME).map(String::as_str),
            Some("Project 1")
        );
        assert_eq!(m.get_one::<u64>(UPTIME), Some(&3600));
        assert!(m.get_flag(CUMULATIVE));
        for bad in [
            ["-p", "foo"],
            ["-p", "foo=1=2"],
            ["-g", "a:b=1MB"],
            ["-a", "lots"],
        ] {
            assert!(
                command()
                    .try_get_matches_from(["memmon", bad[0], bad[1]])
                    .is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn the_most_specific_rule_wins_and_protected_processes_need_a_p() {
        let rules = Rules {
            programs: vec![parse_program_rule("web:big=1GB").unwrap()],
            groups: vec![("web".into(), 300 << 20)],
            any: Some(200 << 20),
        };
        assert_eq!(rules.limit("web", "big", false).map(|l| l.0), Some(1 << 30));
        assert_eq!(
            rules.limit("web", "small", false).map(|l| l.0),
            Some(300 << 20)
        );
        assert_eq!(rules.limit("db", "db", false).map(|l| l.0), Some(200 << 20));
        // A pool (or memmon itself): only a -p reaches it (B8).
        assert_eq!(rules.limit("db", "db", true), None);
        assert_eq!(rules.limit("web", "big", true).map(|l| l.0), Some(1 << 30));
    }

    // A fake supervisord: processes, the calls made, faults to answer.
    #[derive(Default)]
    struct Fake {
        infos: Vec<ProcessInfo>,
        configs: Vec<ConfigInfo>,
        calls: Arc<Mutex<Vec<String>>>,
        stop_fault: Option<i64>,
        start_fault: Option<i64>,
        down: bool,
    }

    fn fault(method: &str, code: i64) -> RpcError {
        RpcError::Fault {
            method: method.into(),
            fault: Fault {
                code,
                text: FaultCode::from_code(code).name().into(),
            },
        }
    }

    impl Supervisor for Fake {
        fn get_all_process_info(&mut self) -> Result<Vec<ProcessInfo>, RpcError> {
            if self.down {
                return Err(RpcError::NoServerUrl);
            }
            Ok(self.infos.clone())
        }
        fn get_process_info(&mut self, namespec: &str) -> Result<ProcessInfo, RpcError> {
            self.infos
                .iter()
                .find(|i| format!("{}:{}", i.group, i.name) == namespec)
                .cloned()
                .ok_or_else(|| fault("getProcessInfo", 10))
        }
        fn get_all_config_info(&mut self) -> Result<Vec<ConfigInfo>, RpcError> {
            self.calls.lock().unwrap().push("config".into());
            Ok(self.configs.clone())
        }
        fn start_process(&mut self, namespec: &str, _: bool) -> Result<(), RpcError> {
            self.calls.lock().unwrap().push(format!("start {namespec}"));
            self.start_fault
                .map_or(Ok(()), |c| Err(fault("startProcess", c)))
        }
        fn stop_process(&mut self, namespec: &str, _: bool) -> Result<(), RpcError> {
            self.calls.lock().unwrap().push(format!("stop {namespec}"));
            self.stop_fault
                .map_or(Ok(()), |c| Err(fault("stopProcess", c)))
        }
        fn signal_process(&mut self, _: &str, _: &str) -> Result<(), RpcError> {
            unimplemented!()
        }
        fn get_state(&mut self) -> Result<SupervisorState, RpcError> {
            unimplemented!()
        }
        fn get_pid(&mut self) -> Result<u32, RpcError> {
            Ok(1)
        }
    }

    /// RSS by pid; pid 40 has children 41 and 42.
    struct FakeProcs;

    impl Procfs for FakeProcs {
        fn parent(&self, _: u32) -> io::Result<u32> {
            Ok(1)
        }
        fn tree(&self) -> io::Result<ProcessTree> {
            Ok(ProcessTree::from_pairs([
                (10, 1),
                (20, 1),
                (30, 1),
                (40, 1),
                (41, 40),
                (42, 41),
            ]))
        }
        fn rss(&self, pid: u32) -> io::Result<u64> {
            match pid {
                10 => Ok(50 << 20),
                20 | 30 => Ok(500 << 20),
                40 => Ok(10 << 20),
                41 | 42 => Ok(60 << 20),
                _ => Err(io::ErrorKind::NotFound.into()),
            }
        }
        fn oom_score_adj(&self, _: u32) -> io::Result<i32> {
            Ok(0)
        }
        fn set_oom_score_adj(&self, _: u32, _: i32) -> io::Result<()> {
            Ok(())
        }
    }

    fn info(group: &str, name: &str, pid: u32, state: &str) -> ProcessInfo {
        ProcessInfo {
            name: name.into(),
            group: group.into(),
            statename: state.into(),
            pid,
            start: 1000,
            now: 1100,
            ..ProcessInfo::default()
        }
    }

    fn memmon(
        fake: Fake,
        rules: Rules,
        cumulative: bool,
    ) -> (Memmon, Arc<Mutex<Vec<Notification>>>) {
        let mails = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&mails);
        let m = Memmon::new(
            rules,
            cumulative,
            Box::new(fake),
            Box::new(FakeProcs),
            Some(Box::new(move |mail| sink.lock().unwrap().push(mail))),
            "host1".into(),
            None,
            u64::MAX,
            Some(("memmon".into(), "memmon".into())),
        );
        (m, mails)
    }

    fn world() -> Fake {
        Fake {
            infos: vec![
                info("small", "small", 10, "RUNNING"),
                info("web", "big", 20, "RUNNING"),
                info("pool", "pool", 30, "RUNNING"),
                info("tree", "tree", 40, "RUNNING"),
                info("memmon", "memmon", 30, "RUNNING"),
                info("stopping", "stopping", 20, "STOPPING"),
                info("stopped", "stopped", 0, "STOPPED"),
            ],
            configs: vec![ConfigInfo {
                group: "pool".into(),
                name: "pool".into(),
                group_prio: -1,
                ..ConfigInfo::default()
            }],
            ..Fake::default()
        }
    }

    #[test]
    fn b3_b4_group_name_rule_restarts_once_with_the_superlance_mail() {
        let fake = world();
        let calls = Arc::clone(&fake.calls);
        let rules = Rules {
            programs: vec![
                parse_program_rule("web:big=100MB").unwrap(),
                parse_program_rule("big=100MB").unwrap(),
            ],
            groups: vec![("web".into(), 1)],
            any: Some(1),
        };
        let (mut m, mails) = memmon(fake, rules, false);
        let r = m.tick();
        // -a 1 byte would restart everything but the pool, memmon and the non-RUNNING ones.
        assert_eq!(r.restarted, ["small:small", "web:big", "tree:tree"]);
        let calls = calls.lock().unwrap().clone();
        assert_eq!(
            calls.iter().filter(|c| *c == "stop web:big").count(),
            1,
            "{calls:?}"
        );
        let mails = mails.lock().unwrap();
        let big = mails
            .iter()
            .find(|m| m.key.as_deref() == Some("web:big"))
            .unwrap();
        assert_eq!(
            big.subject.as_deref(),
            Some("memmon: process web:big restarted")
        );
        assert!(big
            .text
            .starts_with("memmon.py restarted the process named web:big at "));
        assert!(big
            .text
            .ends_with(" because it was consuming too much memory (524288000 bytes RSS)"));
        let zone = crate::time::zone_abbreviation(std::time::SystemTime::now());
        assert!(
            big.text.contains(&format!(" {zone} because")),
            "{}",
            big.text
        );
    }

    #[test]
    fn tail_reads_the_context_before_the_restart_into_the_notification() {
        // Issue 12: the stderr tail before the restart is what matters.
        let fake = world();
        let calls = Arc::clone(&fake.calls);
        let rules = Rules {
            programs: vec![parse_program_rule("web:big=1MB").unwrap()],
            ..Rules::default()
        };
        let (mut m, mails) = memmon(fake, rules, false);
        let log = Arc::clone(&calls);
        m.context = Some(Box::new(move |namespec, pid| {
            log.lock().unwrap().push(format!("context {namespec}"));
            vec![format!(
                "Last 1 lines of stderr of {namespec} (pid {pid:?}):"
            )]
        }));
        assert_eq!(m.tick().restarted, ["web:big"]);
        let calls = calls.lock().unwrap().clone();
        let at = |c: &str| calls.iter().position(|x| x == c).unwrap();
        assert!(at("context web:big") < at("stop web:big"), "{calls:?}");
        assert_eq!(
            mails.lock().unwrap()[0].extra,
            ["Last 1 lines of stderr of web:big (pid Some(20)):"]
        );
    }

    #[test]
    fn under_the_limit_nothing_happens_and_n_names_the_subject() {
        let fake = world();
        let calls = Arc::clone(&fake.calls);
        let rules = Rules {
            programs: vec![parse_program_rule("web:big=1GB").unwrap()],
            ..Rules::default()
        };
        let (mut m, mails) = memmon(fake, rules, false);
        m.name = Some("Project 1".into());
        assert_eq!(m.tick().restarted, Vec::<String>::new());
        assert!(
            calls.lock().unwrap().is_empty(),
            "no config asked without -g/-a"
        );
        assert!(mails.lock().unwrap().is_empty());
        m.rules.programs[0].size = 1;
        m.tick();
        let mails = mails.lock().unwrap();
        assert_eq!(
            mails[0].subject.as_deref(),
            Some("memmon [Project 1]: process web:big restarted")
        );
    }

    #[test]
    fn cumulative_counts_descendants() {
        let rules = Rules {
            programs: vec![parse_program_rule("tree=100MB").unwrap()],
            ..Rules::default()
        };
        let (mut m, _) = memmon(world(), rules.clone(), false);
        assert!(m.tick().restarted.is_empty(), "10 MB alone");
        let (mut m, _) = memmon(world(), rules, true);
        assert_eq!(
            m.tick().restarted,
            ["tree:tree"],
            "130 MB with its children"
        );
    }

    #[test]
    fn b7_faults_are_mailed_and_memmon_goes_on() {
        let rules = Rules {
            programs: vec![parse_program_rule("web:big=1MB").unwrap()],
            ..Rules::default()
        };
        let mut fake = world();
        fake.start_fault = Some(50);
        let (mut m, mails) = memmon(fake, rules.clone(), false);
        let r = m.tick();
        assert_eq!(r.failed, ["web:big"]);
        {
            let mails = mails.lock().unwrap();
            assert_eq!(
                mails[0].subject.as_deref(),
                Some("memmon: failed to start process web:big")
            );
            assert!(mails[0].text.contains("SPAWN_ERROR"), "{}", mails[0].text);
        }
        // Stopped between the check and the stop: not an error, nothing started.
        let mut fake = world();
        fake.stop_fault = Some(70);
        let calls = Arc::clone(&fake.calls);
        let (mut m, mails) = memmon(fake, rules.clone(), false);
        assert_eq!(m.tick().failed, ["web:big"]);
        assert!(!calls.lock().unwrap().iter().any(|c| c.starts_with("start")));
        assert!(mails.lock().unwrap().is_empty());
        // Already started again by autorestart: fine.
        let mut fake = world();
        fake.start_fault = Some(60);
        let (mut m, _) = memmon(fake, rules.clone(), false);
        assert_eq!(m.tick().restarted, ["web:big"]);
        // supervisord unreachable: nothing, and the next tick tries again.
        let mut fake = world();
        fake.down = true;
        let (mut m, _) = memmon(fake, rules, false);
        assert_eq!(m.tick(), TickReport::default());
        assert_eq!(m.tick(), TickReport::default());
    }

    #[test]
    fn u_limits_mail_to_early_restarts() {
        let rules = Rules {
            programs: vec![parse_program_rule("web:big=1MB").unwrap()],
            ..Rules::default()
        };
        let (mut m, mails) = memmon(world(), rules, false);
        m.uptime_limit = 99; // up 100 s
        assert_eq!(m.tick().restarted, ["web:big"]);
        assert!(mails.lock().unwrap().is_empty());
        m.uptime_limit = 100;
        m.tick();
        assert_eq!(mails.lock().unwrap().len(), 1);
    }
}
