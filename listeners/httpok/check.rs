//! httpok's decisions, apart from every effect: is the URL healthy, which processes to restart,
//! and the action log that becomes the mail. The web server ([`Web`]), supervisord
//! ([`rpc::Supervisor`]) and the core dumper ([`Cores`]) come in as traits, so that the unit
//! tests below drive all of it with fakes (`fakes`), and the integration tests run the same
//! code for real.
//!
//! One check ([`Policy::tick`]) is superlance's, step for step (SL:superlance/httpok.py
//! `runforever`, `act`, `restart`), with the texts of its action log kept so that mail filters
//! go on working:
//!
//! 1. With `-E`, ask supervisord whether a monitored process is RUNNING; if none is, stop here.
//! 2. GET the URL and judge the answer (`probe`).
//! 3. A status not in `-c`, or a body without `-b` (compared as bytes: B10), fails the check:
//!    the monitored processes that are RUNNING are restarted (after a core dump with `-d`),
//!    and every step is written to the action log.
//!
//! Not superlance's: a server certificate that cannot be verified restarts nothing unless
//! `--restart-on-tls-error` is given, and is reported once per episode (`certificate`, which
//! keeps the one thing a check remembers for the next, [`Memory`]).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::certificate::Memory;
use super::probe::{Verdict, Web};
use crate::crash_context::{Gather, MAX_PROGRAMS};
use crate::event::ProcessState;
use crate::http::Url;
use crate::rpc::{ProcessInfo, RpcError, Supervisor};
use crate::select::Spec;

/// supervisord's default `priority` of an `[eventlistener:x]` section (programs default to
/// 999). `getAllConfigInfo` has nothing else that tells a listener pool's process from a
/// program's (supervisor 4.3.0), so `-a` takes a process whose group priority is -1 for a
/// listener (superlance B8: `-a` restarted listener pools, httpok itself included).
pub const LISTENER_PRIORITY: i64 = -1;

/// Writes a core file of a hung process before it is restarted (`-d`, `-g`).
pub trait Cores {
    /// Dump process `pid` into `corefile`; what the dumper said, for the action log.
    fn dump(&mut self, corefile: &Path, pid: u32) -> String;
}

/// What a user configured: every option that decides something.
#[derive(Debug, Clone)]
pub struct Policy {
    pub url: Url,
    /// `-t`: the time one GET may take, and the budget of the refused-connection retries.
    pub timeout: Duration,
    pub retry_interval: Duration,
    /// `-c`: the accepted status codes.
    pub codes: Vec<u16>,
    /// `-b`: text the body must contain; `None` (or empty) does not look at the body.
    pub body: Option<String>,
    /// `-p`, in the order given.
    pub programs: Vec<Spec>,
    /// `-a`.
    pub any: bool,
    /// Our own process (group, name), never restarted by `-a`.
    pub own: Option<(String, String)>,
    /// `-e` (true, the default) / `-E`.
    pub eager: bool,
    /// `-n`: in the subject.
    pub name: Option<String>,
    /// `-d`, when a `-g` command is set: dump cores here before restarting.
    pub coredir: Option<PathBuf>,
    /// `--restart-on-tls-error`: a server certificate that cannot be verified fails the check
    /// like a bad status, instead of being reported once (`certificate`).
    pub restart_on_tls_error: bool,
}

/// A failed check, as it is mailed: superlance's subject and action log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub subject: String,
    /// The action log, one entry per step (an entry may hold several lines).
    pub lines: Vec<String>,
    /// `--tail`: what each restarted process wrote to stderr last, read before its restart.
    pub extra: Vec<String>,
}

impl Report {
    /// The mail body: the entries joined by newlines, as superlance did.
    pub fn body(&self) -> String {
        self.lines.join("\n")
    }
}

/// The processes httpok acts on, as supervisord listed them, and the `-p` values that named
/// none of them.
#[derive(Debug, Clone, Default)]
struct Selected {
    processes: Vec<ProcessInfo>,
    missing: Vec<Spec>,
}

impl Policy {
    /// One check, on a TICK: `None` when nothing was wrong (or nothing was checked, or a
    /// certificate failure was already reported), else the report of what was wrong and what
    /// was done about it. `memory` is what the last check left; `context` (`--tail`) reads a
    /// process's last stderr lines before it is restarted.
    pub fn tick(
        &self,
        memory: &mut Memory,
        sv: &mut impl Supervisor,
        web: &mut impl Web,
        cores: &mut impl Cores,
        context: &mut Option<Gather>,
    ) -> Option<Report> {
        if !self.eager {
            // superlance B9: its pre-check compared bare names, so with `-p group:name` or
            // `-a` nothing was ever "running" and the URL was never checked.
            match self.selected(sv) {
                Ok(s) if s.processes.iter().any(is_running) => {}
                Ok(_) => {
                    log::debug!(
                        "-E: no monitored process is RUNNING; not checking {}",
                        self.url
                    );
                    return None;
                }
                Err(e) => {
                    log::warn!(
                        "-E: cannot tell whether a monitored process is RUNNING, so not \
                         checking {} this time: {e}",
                        self.url
                    );
                    return None;
                }
            }
        }
        let probe = self.probe(web);
        let verified_again = probe.answered && self.verified(memory);
        let said = probe.said;
        let what = match probe.verdict {
            Verdict::Healthy => {
                log::debug!("{said}: healthy");
                return verified_again.then(|| self.verified_again(&said));
            }
            Verdict::Untrusted(error) if !self.restart_on_tls_error => {
                return self.untrusted(memory, &said, &error);
            }
            Verdict::BadStatus | Verdict::Untrusted(_) => "bad status returned",
            Verdict::BadBody => "bad body returned",
        };
        let text = format!("{}: {what}", self.url);
        log::warn!("{text}");
        Some(self.act(self.subject(&text), said, sv, cores, context))
    }

    /// superlance's subject: `httpok: <text>`, or `httpok [NAME]: <text>` with `-n`.
    pub fn subject(&self, text: &str) -> String {
        match &self.name {
            Some(name) => format!("httpok [{name}]: {text}"),
            None => format!("httpok: {text}"),
        }
    }

    /// Restart what is selected and RUNNING; the report of it all.
    fn act(
        &self,
        subject: String,
        said: String,
        sv: &mut impl Supervisor,
        cores: &mut impl Cores,
        context: &mut Option<Gather>,
    ) -> Report {
        let mut log = ActionLog(Vec::new());
        let mut extra = Vec::new();
        log.info(said);
        let selected = match self.selected(sv) {
            Ok(s) => s,
            Err(e) => {
                // superlance returned here without mailing; the mail is the news here.
                log.warn(format!("Exception retrieving process info {e}, not acting"));
                return Report {
                    subject,
                    lines: log.0,
                    extra,
                };
            }
        };
        if self.any {
            log.info("Restarting all running processes".to_owned());
        } else {
            let names: Vec<String> = self.programs.iter().map(spec_text).collect();
            log.info(format!("Restarting selected processes {}", py_list(&names)));
        }
        let mut read = 0;
        for p in &selected.processes {
            // Read before the restart, for at most MAX_PROGRAMS processes (`-a` may name many).
            if let Some(gather) = context.as_mut().filter(|_| is_running(p)) {
                read += 1;
                if read <= MAX_PROGRAMS {
                    extra.push(format!(
                        "{} (pid {}) before the restart:",
                        p.namespec(),
                        p.pid
                    ));
                    extra.extend(gather(&p.namespec(), Some(p.pid)));
                } else if read == MAX_PROGRAMS + 1 {
                    extra.push(format!(
                        "No more stderr tails (at most {MAX_PROGRAMS} processes a check)."
                    ));
                }
            }
            self.restart(p, sv, cores, &mut log);
        }
        if !selected.missing.is_empty() {
            let names: Vec<String> = selected.missing.iter().map(spec_text).collect();
            log.warn(format!(
                "Programs not restarted because they did not exist: {}",
                py_list(&names)
            ));
        }
        Report {
            subject,
            lines: log.0,
            extra,
        }
    }

    /// Restart one process if it is RUNNING: stop and start, each waiting for supervisord.
    /// A fault in either is written down and the rest goes on (superlance #43: a fault must
    /// not leave the listener dead).
    fn restart(
        &self,
        p: &ProcessInfo,
        sv: &mut impl Supervisor,
        cores: &mut impl Cores,
        log: &mut ActionLog,
    ) {
        let ns = p.namespec();
        if !is_running(p) {
            log.info(format!("{ns} not in RUNNING state, NOT restarting"));
            return;
        }
        if let Some(dir) = &self.coredir {
            let said = cores.dump(&dir.join(&ns), p.pid);
            log.info(format!("gcore output for {ns}:\n\n {said}"));
        }
        log.info(format!("{ns} is in RUNNING state, restarting"));
        if let Err(e) = sv.stop_process(&ns, true) {
            log.warn(format!("Failed to stop process {ns}: {e}"));
        }
        match sv.start_process(&ns, true) {
            Ok(()) => log.info(format!("{ns} restarted")),
            Err(e) => log.warn(format!("Failed to start process {ns}: {e}")),
        }
    }

    /// The processes to act on, in supervisord's order: those a `-p` names (whatever they
    /// are), and with `-a` every other one except our own process and listener pools.
    fn selected(&self, sv: &mut impl Supervisor) -> Result<Selected, RpcError> {
        let all = sv.get_all_process_info()?;
        let named = |p: &ProcessInfo| self.programs.iter().any(|s| s.matches(&p.group, &p.name));
        let pools: HashSet<(String, String)> = if self.any && !all.iter().all(named) {
            sv.get_all_config_info()?
                .into_iter()
                .filter(|c| c.group_prio == LISTENER_PRIORITY)
                .map(|c| (c.group, c.name))
                .collect()
        } else {
            HashSet::new()
        };
        let own = |p: &ProcessInfo| {
            self.own
                .as_ref()
                .is_some_and(|(g, n)| *g == p.group && *n == p.name)
        };
        let missing = self
            .programs
            .iter()
            .filter(|s| !all.iter().any(|p| s.matches(&p.group, &p.name)))
            .cloned()
            .collect();
        let processes = all
            .into_iter()
            .filter(|p| {
                named(p)
                    || (self.any && !own(p) && !pools.contains(&(p.group.clone(), p.name.clone())))
            })
            .collect();
        Ok(Selected { processes, missing })
    }
}

fn is_running(p: &ProcessInfo) -> bool {
    p.process_state() == Some(ProcessState::Running)
}

/// The action log: each entry is also logged as it happens (superlance wrote each to stderr),
/// on one line.
struct ActionLog(Vec<String>);

impl ActionLog {
    fn info(&mut self, entry: String) {
        log::info!("{}", one_line(&entry));
        self.0.push(entry);
    }

    fn warn(&mut self, entry: String) {
        log::warn!("{}", one_line(&entry));
        self.0.push(entry);
    }
}

/// `error contacting URL:\n\n TEXT` as `error contacting URL: TEXT`; other line breaks as ` | `.
fn one_line(entry: &str) -> String {
    entry.replace(":\n\n ", ": ").replace('\n', " | ")
}

/// A `-p` value as the user wrote it.
pub fn spec_text(s: &Spec) -> String {
    match s {
        Spec::Name(n) => n.clone(),
        Spec::Member { group, name } => format!("{group}:{name}"),
        Spec::Group(g) => format!("{g}:*"),
    }
}

/// A list of strings as Python prints one (`['a', 'g:b']`): superlance wrote its lists so.
fn py_list(items: &[String]) -> String {
    let quoted: Vec<String> = items
        .iter()
        .map(|s| {
            if s.contains('\'') && !s.contains('"') {
                format!("\"{s}\"")
            } else {
                format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
            }
        })
        .collect();
    format!("[{}]", quoted.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::HttpError;
    use crate::listeners::httpok::fakes::{
        answer, policy, FakeCores, FakeSupervisor, FakeWeb, URL,
    };

    use ProcessState::{Running, Stopped};

    #[test]
    fn a_healthy_url_changes_nothing() {
        let mut sv = FakeSupervisor::with(&[("web", "web", Running)]);
        let mut web = FakeWeb::new(vec![answer(200, "OK", "fine")]);
        let report = policy(&["web"], false).tick(
            &mut Memory::default(),
            &mut sv,
            &mut web,
            &mut FakeCores::default(),
            &mut None,
        );
        assert_eq!(report, None);
        assert!(sv.calls.is_empty(), "eager: no RPC at all: {:?}", sv.calls);
        assert_eq!(web.gets, [Duration::from_secs(10)]);
    }

    #[test]
    fn a_bad_status_restarts_the_selected_running_processes() {
        let mut sv = FakeSupervisor::with(&[
            ("shop", "web", Running),
            ("shop", "worker", Stopped),
            ("web", "web", Running),
            ("other", "other", Running),
        ]);
        let mut web = FakeWeb::new(vec![answer(500, "Internal Server Error", "")]);
        let report = policy(&["shop:*", "web", "gone"], false)
            .tick(
                &mut Memory::default(),
                &mut sv,
                &mut web,
                &mut FakeCores::default(),
                &mut None,
            )
            .unwrap();
        assert_eq!(
            report.subject,
            "httpok: http://127.0.0.1:8080/health?full=1: bad status returned"
        );
        assert_eq!(
            report.body(),
            "status contacting http://127.0.0.1:8080/health?full=1: 500 Internal Server Error\n\
             Restarting selected processes ['shop:*', 'web', 'gone']\n\
             shop:web is in RUNNING state, restarting\n\
             shop:web restarted\n\
             shop:worker not in RUNNING state, NOT restarting\n\
             web is in RUNNING state, restarting\n\
             web restarted\n\
             Programs not restarted because they did not exist: ['gone']"
        );
        assert_eq!(
            sv.calls,
            [
                "list",
                "stop shop:web",
                "start shop:web",
                "stop web",
                "start web"
            ]
        );
    }

    #[test]
    fn tail_reads_each_restarted_process_s_stderr_before_its_restart() {
        // Issue 12: the stderr tail before the restart, of the RUNNING processes restarted.
        let mut sv = FakeSupervisor::with(&[("shop", "web", Running), ("shop", "worker", Stopped)]);
        let mut web = FakeWeb::new(vec![answer(500, "Internal Server Error", "")]);
        let mut context: Option<Gather> = Some(Box::new(|namespec, pid| {
            vec![format!("| last words of {namespec} {pid:?}")]
        }));
        let report = policy(&["shop:*"], false)
            .tick(
                &mut Memory::default(),
                &mut sv,
                &mut web,
                &mut FakeCores::default(),
                &mut context,
            )
            .unwrap();
        assert_eq!(
            report.extra,
            [
                "shop:web (pid 100) before the restart:",
                "| last words of shop:web Some(100)"
            ]
        );
        assert!(report.body().contains("shop:web restarted"));
    }

    #[test]
    fn name_goes_into_the_subject() {
        let mut p = policy(&[], false);
        p.name = Some("shop".into());
        let mut sv = FakeSupervisor::with(&[]);
        let mut web = FakeWeb::new(vec![answer(200, "OK", "x")]);
        p.body = Some("y".into());
        let r = p
            .tick(
                &mut Memory::default(),
                &mut sv,
                &mut web,
                &mut FakeCores::default(),
                &mut None,
            )
            .unwrap();
        assert_eq!(
            r.subject,
            "httpok [shop]: http://127.0.0.1:8080/health?full=1: bad body returned"
        );
        assert_eq!(
            r.body(),
            "status contacting http://127.0.0.1:8080/health?full=1: 200 OK\n\
             Restarting selected processes []"
        );
    }

    #[test]
    fn errors_fail_the_check_with_their_text() {
        let mut sv = FakeSupervisor::with(&[("web", "web", Running)]);
        let timeout = || HttpError::Timeout {
            url: URL.into(),
            timeout: Duration::from_secs(10),
        };
        let mut web = FakeWeb::new(vec![Err(timeout())]);
        let r = policy(&["web"], false)
            .tick(
                &mut Memory::default(),
                &mut sv,
                &mut web,
                &mut FakeCores::default(),
                &mut None,
            )
            .unwrap();
        assert!(r.subject.ends_with(": bad status returned"));
        // superlance's shape, our error's text (which names the URL again).
        assert_eq!(
            r.lines[0],
            format!("error contacting {URL}:\n\n {}", timeout())
        );
        assert_eq!(r.lines[2], "web is in RUNNING state, restarting");
    }

    #[test]
    fn any_skips_listener_pools_and_ourselves_unless_named() {
        // superlance B8.
        let procs = [
            ("crashmail", "crashmail", Running),
            ("httpok", "httpok", Running),
            ("web", "web", Running),
        ];
        let mut sv = FakeSupervisor::with(&procs)
            .listener_pool("crashmail")
            .listener_pool("httpok");
        let mut web = FakeWeb::new(vec![answer(503, "Busy", "")]);
        let r = policy(&[], true)
            .tick(
                &mut Memory::default(),
                &mut sv,
                &mut web,
                &mut FakeCores::default(),
                &mut None,
            )
            .unwrap();
        assert_eq!(
            r.lines[1..],
            [
                "Restarting all running processes",
                "web is in RUNNING state, restarting",
                "web restarted"
            ]
        );
        assert_eq!(sv.calls, ["list", "config", "stop web", "start web"]);

        // Named explicitly: restarted, -a or not.
        let mut sv = FakeSupervisor::with(&procs).listener_pool("crashmail");
        let mut web = FakeWeb::new(vec![answer(503, "Busy", "")]);
        policy(&["crashmail"], true).tick(
            &mut Memory::default(),
            &mut sv,
            &mut web,
            &mut FakeCores::default(),
            &mut None,
        );
        assert_eq!(
            sv.calls,
            [
                "list",
                "config",
                "stop crashmail",
                "start crashmail",
                "stop web",
                "start web"
            ]
        );
    }

    #[test]
    fn not_eager_checks_only_when_a_monitored_process_runs() {
        // superlance B9: `-E -p group:name` compared bare names and never checked.
        let mut p = policy(&["shop:web"], false);
        p.eager = false;
        let mut web = FakeWeb::new(vec![answer(500, "Oops", ""), answer(500, "Oops", "")]);
        let mut sv = FakeSupervisor::with(&[("shop", "web", Stopped), ("web", "web", Running)]);
        assert_eq!(
            p.tick(
                &mut Memory::default(),
                &mut sv,
                &mut web,
                &mut FakeCores::default(),
                &mut None
            ),
            None
        );
        assert!(web.gets.is_empty(), "checked although shop:web is stopped");

        let mut sv = FakeSupervisor::with(&[("shop", "web", Running)]);
        let r = p
            .tick(
                &mut Memory::default(),
                &mut sv,
                &mut web,
                &mut FakeCores::default(),
                &mut None,
            )
            .unwrap();
        assert_eq!(web.gets.len(), 1);
        assert_eq!(r.lines.last().unwrap(), "shop:web restarted");

        // -E -a: our own process and listener pools do not count as "running".
        let mut p = policy(&[], true);
        p.eager = false;
        let mut sv = FakeSupervisor::with(&[
            ("crashmail", "crashmail", Running),
            ("httpok", "httpok", Running),
            ("web", "web", Stopped),
        ])
        .listener_pool("crashmail");
        assert_eq!(
            p.tick(
                &mut Memory::default(),
                &mut sv,
                &mut web,
                &mut FakeCores::default(),
                &mut None
            ),
            None
        );
        assert_eq!(web.gets.len(), 1, "checked with only listeners running");
        sv.processes[2].statename = "RUNNING".into();
        assert!(p
            .tick(
                &mut Memory::default(),
                &mut sv,
                &mut web,
                &mut FakeCores::default(),
                &mut None
            )
            .is_some());
        assert_eq!(web.gets.len(), 2);

        // supervisord unreachable: no check (nothing could be restarted anyway).
        let mut sv = FakeSupervisor::with(&[("web", "web", Running)]);
        sv.unreachable = true;
        assert_eq!(
            p.tick(
                &mut Memory::default(),
                &mut sv,
                &mut web,
                &mut FakeCores::default(),
                &mut None
            ),
            None
        );
        assert_eq!(web.gets.len(), 2);
    }

    #[test]
    fn faults_are_written_down_and_the_rest_goes_on() {
        let mut sv = FakeSupervisor::with(&[("a", "a", Running), ("b", "b", Running)]);
        sv.faults = vec![("stop a".into(), 70), ("start a".into(), 50)];
        let mut web = FakeWeb::new(vec![answer(500, "Oops", "")]);
        let r = policy(&["a", "b"], false)
            .tick(
                &mut Memory::default(),
                &mut sv,
                &mut web,
                &mut FakeCores::default(),
                &mut None,
            )
            .unwrap();
        assert_eq!(
            r.lines[2..],
            [
                "a is in RUNNING state, restarting",
                "Failed to stop process a: supervisord refused supervisor.stop: FAULT 70 (fault 70)",
                "Failed to start process a: supervisord refused supervisor.start: FAULT 50 \
                 (fault 50)",
                "b is in RUNNING state, restarting",
                "b restarted"
            ]
        );
        assert_eq!(sv.calls, ["list", "stop a", "start a", "stop b", "start b"]);
    }

    #[test]
    fn an_unreachable_supervisord_is_reported_not_acted_on() {
        let mut sv = FakeSupervisor::with(&[("web", "web", Running)]);
        sv.unreachable = true;
        let mut web = FakeWeb::new(vec![answer(500, "Oops", "")]);
        let r = policy(&["web"], false)
            .tick(
                &mut Memory::default(),
                &mut sv,
                &mut web,
                &mut FakeCores::default(),
                &mut None,
            )
            .unwrap();
        assert_eq!(r.lines.len(), 2);
        assert!(
            r.lines[1].starts_with("Exception retrieving process info cannot reach supervisord")
                && r.lines[1].ends_with(", not acting"),
            "{}",
            r.lines[1]
        );
    }

    #[test]
    fn cores_are_dumped_before_the_restart() {
        let mut p = policy(&["shop:web"], false);
        p.coredir = Some(PathBuf::from("/var/cores"));
        let mut sv = FakeSupervisor::with(&[("shop", "web", Running)]);
        let mut cores = FakeCores::default();
        let mut web = FakeWeb::new(vec![answer(500, "Oops", "")]);
        let r = p
            .tick(
                &mut Memory::default(),
                &mut sv,
                &mut web,
                &mut cores,
                &mut None,
            )
            .unwrap();
        assert_eq!(cores.0, [(PathBuf::from("/var/cores/shop:web"), 100)]);
        assert_eq!(
            r.lines[2..4],
            [
                "gcore output for shop:web:\n\n saved corefile /var/cores/shop:web.100",
                "shop:web is in RUNNING state, restarting"
            ]
        );
    }

    #[test]
    fn log_lines_are_one_line() {
        assert_eq!(
            one_line("gcore output for web:\n\n Saved corefile c.1\nwarning: x"),
            "gcore output for web: Saved corefile c.1 | warning: x"
        );
    }

    #[test]
    fn python_lists() {
        assert_eq!(py_list(&[]), "[]");
        assert_eq!(
            py_list(&["a".into(), "g:*".into(), "it's".into()]),
            "['a', 'g:*', \"it's\"]"
        );
    }
}
