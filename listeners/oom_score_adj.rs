//! oom_score_adj: set the Linux OOM-killer score adjustment of supervisord programs when they
//! reach RUNNING (docs/oom_score_adj.md).
//!
//! Supervisor has no option for this (supervisor PR #754, requested 2016-2025); superlance's
//! fork (alecpm/superlance) writes only the main pid. Kernel facts: reference oom_score_adj.md.
//! - The value is inherited at fork, so workers forked before our write keep the old value:
//!   `-c` also writes every descendant, and on TICK_* re-checks the processes seen RUNNING so
//!   late children are covered too.
//! - supervisord re-sends an unacknowledged event to a restarted listener, so a RUNNING event
//!   can name a pid that is gone or reused: we only write to a process whose parent is our
//!   parent (the same supervisord).
//! - Lowering below the process's floor (usually 0) needs CAP_SYS_RESOURCE; without it the
//!   write fails with EACCES, as in most containers. That is logged once per process and the
//!   listener goes on (systemd ignores it the same way).
//! - We always answer OK: FAIL would make supervisord re-send a refused write forever.
//! - supervisord buffers the events of a pool that is not READY yet, and drops the oldest past
//!   `buffer_size` (10): at boot, with many programs starting before the listener, RUNNING
//!   events are lost. So before its first READY the listener asks supervisord (XML-RPC
//!   getAllProcessInfo) which selected programs already run, and scores them ([`OomScoreAdj::sweep`]).

use std::collections::HashMap;
use std::io;

use clap::{value_parser, Arg, ArgAction, ArgMatches, Command};

use crate::event::{Event, ProcessState};
use crate::procs::{Proc, ProcessTree, Procfs};
use crate::protocol::Ack;
use crate::rpc::{self, Supervisor};
use crate::runtime::{self, Listener};
use crate::select::{self, Selection};
use crate::Error;

/// The long options whose unique prefixes are accepted (src/legacy_argv.rs). superlance has
/// no oom_score_adj: these are the ones documented since our first release (docs/oom_score_adj.md),
/// frozen like the other listeners' lists so that an option added later never changes what an
/// abbreviation means.
pub const SUPERLANCE_LONGS: &[&str] = &["program", "any", "score", "children", "help"];

pub fn command() -> Command {
    Command::new("oom_score_adj")
        .about("Set the Linux OOM-killer score (oom_score_adj) of supervisord programs when they reach RUNNING")
        .after_help(
            "Subscribe the pool to PROCESS_STATE_RUNNING (and TICK_60 to re-check late children with -c):\n\n  \
             [eventlistener:oom_score_adj]\n  command=oom_score_adj -p program1 -p group1:program2 -s 500\n  \
             events=PROCESS_STATE_RUNNING",
        )
        .arg(select::program_arg(
            Some('p'),
            "Set the score of this program when it reaches RUNNING: NAME, GROUP:NAME or GROUP:* (repeatable)",
        ))
        .arg(select::any_arg(Some('a'), "Set the score of every program (overrides -p) except this listener itself"))
        .arg(
            Arg::new("score")
                .short('s')
                .long("score")
                .value_name("SCORE")
                .allow_negative_numbers(true)
                .value_parser(value_parser!(i32).range(-1000..=1000))
                .default_value("-1000")
                .help("The oom_score_adj to set, -1000..1000; -1000 exempts the process from the OOM killer, and below 0 needs CAP_SYS_RESOURCE"),
        )
        .arg(
            Arg::new("children")
                .short('c')
                .long("children")
                .action(ArgAction::SetTrue)
                .help("Also set the score of every descendant of the process, and re-check them on each TICK_* event"),
        )
}

pub fn run(m: &ArgMatches) -> Result<(), Error> {
    let options = Options {
        selection: Selection::from_matches(m).excluding_own(Selection::own_from_env()),
        score: m.get_one::<i32>("score").copied().unwrap_or(-1000),
        children: m.get_flag("children"),
    };
    options.log_start();
    let sweep = !options.selection.is_empty();
    let mut listener = OomScoreAdj::new(
        options,
        Proc::default(),
        std::os::unix::process::parent_id(),
    );
    // Without SUPERVISOR_SERVER_URL (run by hand, or a supervisord that does not set it) the
    // events alone drive the listener, as before.
    if sweep && std::env::var_os("SUPERVISOR_SERVER_URL").is_some() {
        match rpc::Client::from_env() {
            Ok(client) => listener.sweep(&mut client.with_timeout(SWEEP_TIMEOUT)),
            Err(e) => log::warn!("cannot look for programs already running: {e}"),
        }
    }
    runtime::run(&mut listener)
}

/// The start-up sweep delays the first READY by at most this (supervisord answers in ~100 ms
/// at 500 programs).
const SWEEP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct Options {
    pub selection: Selection,
    pub score: i32,
    pub children: bool,
}

impl Options {
    fn log_start(&self) {
        if self.selection.is_empty() {
            log::warn!("no -p or -a given: no program is selected, so no score will be set (see oom_score_adj --help)");
            return;
        }
        log::info!(
            "will set oom_score_adj {} when these reach RUNNING: {}{}",
            self.score,
            self.selection.describe(),
            if self.children {
                " (and their descendants)"
            } else {
                ""
            }
        );
        if self.score < 0
            && crate::procs::has_capability(crate::procs::CAP_SYS_RESOURCE) == Some(false)
        {
            log::warn!(
                "score {} is negative and this process lacks CAP_SYS_RESOURCE: the kernel will refuse to lower a score below 0 (give supervisord that capability, or use a score >= 0)",
                self.score
            );
        }
    }
}

/// A process seen RUNNING, re-checked on TICK events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Watched {
    pid: u32,
    /// The kernel refused our write (no CAP_SYS_RESOURCE): do not retry it every tick.
    refused: bool,
}

pub struct OomScoreAdj<P: Procfs> {
    options: Options,
    procs: P,
    /// Our parent, which is the supervisord that runs the programs we may touch.
    supervisord: u32,
    watched: HashMap<String, Watched>,
}

/// What happened to one process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Done,
    Refused,
    Gone,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trigger {
    Running,
    Tick,
}

impl<P: Procfs> OomScoreAdj<P> {
    pub fn new(options: Options, procs: P, supervisord: u32) -> Self {
        OomScoreAdj {
            options,
            procs,
            supervisord,
            watched: HashMap::new(),
        }
    }

    fn tree(&self) -> Option<ProcessTree> {
        if !self.options.children {
            return None;
        }
        match self.procs.tree() {
            Ok(t) => Some(t),
            Err(e) => {
                log::warn!("cannot scan /proc for child processes: {e}");
                None
            }
        }
    }

    /// Set the score on `pid` (and its descendants with -c) after checking it is ours.
    fn apply(
        &self,
        namespec: &str,
        pid: u32,
        tree: Option<&ProcessTree>,
        trigger: Trigger,
    ) -> Outcome {
        match self.procs.parent(pid) {
            Ok(parent) if parent == self.supervisord => {}
            Ok(parent) => {
                log::warn!(
                    "{namespec} pid {pid}: not a child of our supervisord (its parent is {parent}, ours is {}): a stale or re-sent event? skipped",
                    self.supervisord
                );
                return Outcome::Gone;
            }
            Err(e) if is_gone(&e) => {
                log::info!("{namespec} pid {pid}: process is gone; nothing to do");
                return Outcome::Gone;
            }
            Err(e) => {
                log::warn!("{namespec} pid {pid}: cannot read /proc/{pid}/stat: {e}; skipped");
                return Outcome::Done;
            }
        }
        let mut outcome = self.set_one(namespec, pid, None, trigger);
        if outcome == Outcome::Done {
            for child in tree.map(|t| t.descendants(pid)).unwrap_or_default() {
                if self.set_one(namespec, child, Some(pid), trigger) == Outcome::Refused {
                    outcome = Outcome::Refused;
                }
            }
        }
        outcome
    }

    fn set_one(
        &self,
        namespec: &str,
        pid: u32,
        ancestor: Option<u32>,
        trigger: Trigger,
    ) -> Outcome {
        let score = self.options.score;
        let label = match ancestor {
            None => format!("{namespec} pid {pid}"),
            Some(a) => format!("{namespec} pid {pid} (descendant of {a})"),
        };
        let before = match self.procs.oom_score_adj(pid) {
            Ok(v) => v,
            Err(e) if is_gone(&e) => return self.gone(&label, ancestor),
            Err(e) => {
                log::warn!("{label}: cannot read /proc/{pid}/oom_score_adj: {e}");
                return Outcome::Done;
            }
        };
        if before == score {
            if trigger == Trigger::Running && ancestor.is_none() {
                log::info!("{label}: oom_score_adj already {score}");
            }
            return Outcome::Done;
        }
        match self.procs.set_oom_score_adj(pid, score) {
            Ok(()) => {
                match self.procs.oom_score_adj(pid) {
                    Ok(after) if after == score => {
                        log::info!("{label}: oom_score_adj {before} -> {after}")
                    }
                    Ok(after) => {
                        log::warn!("{label}: wrote oom_score_adj {score} but it reads {after}")
                    }
                    Err(e) => log::warn!(
                        "{label}: wrote oom_score_adj {score} but cannot read it back: {e}"
                    ),
                }
                Outcome::Done
            }
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                log::warn!(
                    "{label}: cannot set oom_score_adj {before} -> {score}: {e}; lowering a score below the process's floor (usually 0) needs CAP_SYS_RESOURCE, which supervisord does not have here (common in containers); the process keeps {before}"
                );
                Outcome::Refused
            }
            Err(e) if is_gone(&e) => self.gone(&label, ancestor),
            Err(e) => {
                log::error!("{label}: cannot write /proc/{pid}/oom_score_adj: {e}");
                Outcome::Done
            }
        }
    }

    fn gone(&self, label: &str, ancestor: Option<u32>) -> Outcome {
        log::info!("{label}: process is gone; nothing to do");
        // A vanished descendant says nothing about the watched process itself.
        if ancestor.is_some() {
            Outcome::Done
        } else {
            Outcome::Gone
        }
    }

    /// Score the selected programs that already run (their RUNNING events may have been
    /// dropped before we were READY), and watch them as if their events had come.
    pub fn sweep(&mut self, rpc: &mut dyn Supervisor) {
        let infos = match rpc.get_all_process_info() {
            Ok(infos) => infos,
            Err(e) => {
                log::warn!("cannot look for programs already running: {e}; scoring them when their RUNNING events come");
                return;
            }
        };
        let tree = self.tree();
        let mut scored = 0;
        for info in infos {
            if info.pid == 0
                || info.process_state() != Some(ProcessState::Running)
                || !self.options.selection.matches(&info.group, &info.name)
            {
                continue;
            }
            let namespec = info.namespec();
            let outcome = self.apply(&namespec, info.pid, tree.as_ref(), Trigger::Running);
            if outcome != Outcome::Gone {
                scored += 1;
                self.watched.insert(
                    namespec,
                    Watched {
                        pid: info.pid,
                        refused: outcome == Outcome::Refused,
                    },
                );
            }
        }
        log::info!("start-up: {scored} selected programs were already running");
    }

    fn on_tick(&mut self) {
        if self.watched.is_empty() {
            return;
        }
        let tree = self.tree();
        let mut forget = Vec::new();
        for (namespec, w) in &self.watched {
            if w.refused {
                continue;
            }
            match self.apply(namespec, w.pid, tree.as_ref(), Trigger::Tick) {
                Outcome::Done => {}
                Outcome::Refused => forget.push((namespec.clone(), true)),
                Outcome::Gone => forget.push((namespec.clone(), false)),
            }
        }
        for (namespec, refused) in forget {
            if refused {
                if let Some(w) = self.watched.get_mut(&namespec) {
                    w.refused = true;
                }
            } else {
                self.watched.remove(&namespec);
            }
        }
    }
}

fn is_gone(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ESRCH)
}

impl<P: Procfs> Listener for OomScoreAdj<P> {
    fn handle(&mut self, event: &Event) -> Ack {
        match event {
            Event::ProcessState(change) => {
                if !self.options.selection.matches_process(&change.process) {
                    return Ack::Ok; // the common case: cheap, no allocation
                }
                let namespec = change.process.namespec();
                if change.state != ProcessState::Running {
                    self.watched.remove(&namespec);
                    return Ack::Ok;
                }
                let Some(pid) = change.pid.filter(|&p| p > 0) else {
                    log::warn!("{namespec}: RUNNING event without a pid; skipped");
                    return Ack::Ok;
                };
                let tree = self.tree();
                match self.apply(&namespec, pid, tree.as_ref(), Trigger::Running) {
                    Outcome::Gone => {
                        self.watched.remove(&namespec);
                    }
                    outcome => {
                        self.watched.insert(
                            namespec,
                            Watched {
                                pid,
                                refused: outcome == Outcome::Refused,
                            },
                        );
                    }
                }
            }
            Event::Tick { .. } => self.on_tick(),
            _ => {}
        }
        Ack::Ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Process, StateChange};
    use crate::select::Spec;
    use std::cell::RefCell;
    use std::collections::HashMap;

    /// A fake /proc: processes with parents and scores; writes below `floor` are refused.
    struct FakeProc {
        parent: RefCell<HashMap<u32, u32>>,
        score: RefCell<HashMap<u32, i32>>,
        floor: i32,
    }

    impl FakeProc {
        fn new(procs: &[(u32, u32)], floor: i32) -> FakeProc {
            FakeProc {
                parent: RefCell::new(procs.iter().copied().collect()),
                score: RefCell::new(procs.iter().map(|&(p, _)| (p, 0)).collect()),
                floor,
            }
        }
        fn score(&self, pid: u32) -> i32 {
            self.score.borrow()[&pid]
        }
    }

    fn not_found() -> io::Error {
        io::ErrorKind::NotFound.into()
    }

    impl Procfs for &FakeProc {
        fn parent(&self, pid: u32) -> io::Result<u32> {
            self.parent
                .borrow()
                .get(&pid)
                .copied()
                .ok_or_else(not_found)
        }
        fn tree(&self) -> io::Result<ProcessTree> {
            Ok(ProcessTree::from_pairs(
                self.parent.borrow().iter().map(|(&a, &b)| (a, b)),
            ))
        }
        fn rss(&self, _: u32) -> io::Result<u64> {
            Err(io::ErrorKind::Unsupported.into())
        }
        fn oom_score_adj(&self, pid: u32) -> io::Result<i32> {
            self.score.borrow().get(&pid).copied().ok_or_else(not_found)
        }
        fn set_oom_score_adj(&self, pid: u32, score: i32) -> io::Result<()> {
            if !self.score.borrow().contains_key(&pid) {
                return Err(not_found());
            }
            if score < self.floor {
                return Err(io::ErrorKind::PermissionDenied.into());
            }
            self.score.borrow_mut().insert(pid, score);
            Ok(())
        }
    }

    const SUPERVISORD: u32 = 100;

    fn listener<'a>(
        p: &'a FakeProc,
        specs: &[&str],
        any: bool,
        score: i32,
        children: bool,
    ) -> OomScoreAdj<&'a FakeProc> {
        let selection =
            Selection::new(specs.iter().map(|s| Spec::parse(s).unwrap()).collect(), any);
        OomScoreAdj::new(
            Options {
                selection,
                score,
                children,
            },
            p,
            SUPERVISORD,
        )
    }

    fn running<'a>(group: &'a str, name: &'a str, pid: u32) -> Event<'a> {
        state(ProcessState::Running, group, name, pid)
    }

    fn state<'a>(s: ProcessState, group: &'a str, name: &'a str, pid: u32) -> Event<'a> {
        Event::ProcessState(StateChange {
            state: s,
            process: Process { name, group },
            from_state: "STARTING",
            pid: Some(pid),
            tries: None,
            expected: None,
        })
    }

    const TICK: Event = Event::Tick { period: 5, when: 0 };

    /// supervisord's process list, for the start-up sweep.
    struct Listing(Vec<crate::rpc::ProcessInfo>);

    impl Supervisor for Listing {
        fn get_all_process_info(
            &mut self,
        ) -> Result<Vec<crate::rpc::ProcessInfo>, crate::rpc::RpcError> {
            Ok(self.0.clone())
        }
        fn get_process_info(
            &mut self,
            _: &str,
        ) -> Result<crate::rpc::ProcessInfo, crate::rpc::RpcError> {
            unimplemented!()
        }
        fn get_all_config_info(
            &mut self,
        ) -> Result<Vec<crate::rpc::ConfigInfo>, crate::rpc::RpcError> {
            unimplemented!()
        }
        fn start_process(&mut self, _: &str, _: bool) -> Result<(), crate::rpc::RpcError> {
            unimplemented!()
        }
        fn stop_process(&mut self, _: &str, _: bool) -> Result<(), crate::rpc::RpcError> {
            unimplemented!()
        }
        fn signal_process(&mut self, _: &str, _: &str) -> Result<(), crate::rpc::RpcError> {
            unimplemented!()
        }
        fn get_state(&mut self) -> Result<crate::rpc::SupervisorState, crate::rpc::RpcError> {
            unimplemented!()
        }
        fn get_pid(&mut self) -> Result<u32, crate::rpc::RpcError> {
            unimplemented!()
        }
    }

    fn listed(group: &str, name: &str, pid: u32, state: &str) -> crate::rpc::ProcessInfo {
        crate::rpc::ProcessInfo {
            group: group.into(),
            name: name.into(),
            pid,
            statename: state.into(),
            ..Default::default()
        }
    }

    #[test]
    fn sweep_scores_selected_programs_already_running_and_watches_them() {
        let p = FakeProc::new(
            &[(11, SUPERVISORD), (12, SUPERVISORD), (13, SUPERVISORD)],
            0,
        );
        let mut l = listener(&p, &["group1:*"], false, 500, false);
        l.sweep(&mut Listing(vec![
            listed("group1", "a", 11, "RUNNING"),
            listed("group1", "b", 12, "STARTING"),
            listed("other", "c", 13, "RUNNING"),
            listed("group1", "d", 0, "STOPPED"),
        ]));
        assert_eq!((p.score(11), p.score(12), p.score(13)), (500, 0, 0));
        assert!(l.watched.contains_key("group1:a"));
        // The TICK re-check covers it like one seen in an event.
        p.score.borrow_mut().insert(11, 7);
        l.handle(&TICK);
        assert_eq!(p.score(11), 500);
    }

    #[test]
    fn seed_selection_sets_only_selected_programs() {
        // The seed's example: -p program1 -p group1:program2.
        let p = FakeProc::new(
            &[
                (10, SUPERVISORD),
                (11, SUPERVISORD),
                (12, SUPERVISORD),
                (13, SUPERVISORD),
            ],
            0,
        );
        let mut l = listener(&p, &["program1", "group1:program2"], false, 500, false);
        for e in [
            running("program1", "program1", 10),
            running("group1", "program2", 11),
            running("group2", "program2", 12),
            running("other", "other", 13),
        ] {
            assert_eq!(l.handle(&e), Ack::Ok);
        }
        assert_eq!(
            (p.score(10), p.score(11), p.score(12), p.score(13)),
            (500, 500, 0, 0)
        );
    }

    #[test]
    fn any_covers_all_and_other_events_are_ignored() {
        let p = FakeProc::new(&[(10, SUPERVISORD), (11, SUPERVISORD)], 0);
        let mut l = listener(&p, &[], true, 300, false);
        assert_eq!(
            l.handle(&state(ProcessState::Starting, "a", "a", 10)),
            Ack::Ok
        );
        assert_eq!(p.score(10), 0);
        l.handle(&running("a", "a", 10));
        l.handle(&running("b", "b", 11));
        assert_eq!((p.score(10), p.score(11)), (300, 300));
    }

    #[test]
    fn no_selection_touches_nothing() {
        let p = FakeProc::new(&[(10, SUPERVISORD)], 0);
        let mut l = listener(&p, &[], false, 300, false);
        l.handle(&running("a", "a", 10));
        assert_eq!(p.score(10), 0);
    }

    #[test]
    fn stale_pid_of_another_parent_is_skipped() {
        // supervisord re-sends events after a listener restart; the pid may be reused.
        let p = FakeProc::new(&[(10, 1)], 0);
        let mut l = listener(&p, &["a"], false, 300, false);
        assert_eq!(l.handle(&running("a", "a", 10)), Ack::Ok);
        assert_eq!(p.score(10), 0);
        assert!(l.watched.is_empty());
    }

    #[test]
    fn vanished_process_is_acknowledged() {
        let p = FakeProc::new(&[], 0);
        let mut l = listener(&p, &["a"], false, 300, false);
        assert_eq!(l.handle(&running("a", "a", 10)), Ack::Ok);
        assert!(l.watched.is_empty());
    }

    #[test]
    fn children_get_the_score_with_c_and_late_children_on_tick() {
        let p = FakeProc::new(
            &[(10, SUPERVISORD), (20, 10), (21, 20), (30, SUPERVISORD)],
            0,
        );
        let mut l = listener(&p, &["web"], false, 500, true);
        l.handle(&running("web", "web", 10));
        assert_eq!(
            (p.score(10), p.score(20), p.score(21), p.score(30)),
            (500, 500, 500, 0)
        );
        // A worker forked later (inheriting a value set before ours, say 0).
        p.parent.borrow_mut().insert(22, 10);
        p.score.borrow_mut().insert(22, 0);
        l.handle(&TICK);
        assert_eq!(p.score(22), 500);
    }

    #[test]
    fn without_c_children_keep_their_value_but_main_pid_is_rechecked_on_tick() {
        let p = FakeProc::new(&[(10, SUPERVISORD), (20, 10)], 0);
        let mut l = listener(&p, &["web"], false, 500, false);
        l.handle(&running("web", "web", 10));
        assert_eq!((p.score(10), p.score(20)), (500, 0));
        p.score.borrow_mut().insert(10, 7); // someone reset it
        l.handle(&TICK);
        assert_eq!((p.score(10), p.score(20)), (500, 0));
    }

    #[test]
    fn refused_negative_score_is_acknowledged_and_not_retried_every_tick() {
        let p = FakeProc::new(&[(10, SUPERVISORD)], 0);
        let mut l = listener(&p, &["a"], false, -100, true);
        assert_eq!(l.handle(&running("a", "a", 10)), Ack::Ok);
        assert_eq!(p.score(10), 0);
        assert_eq!(
            l.watched["a:a"],
            Watched {
                pid: 10,
                refused: true
            }
        );
        assert_eq!(l.handle(&TICK), Ack::Ok);
    }

    #[test]
    fn stopped_processes_are_forgotten() {
        let p = FakeProc::new(&[(10, SUPERVISORD)], 0);
        let mut l = listener(&p, &["a"], false, 500, false);
        l.handle(&running("a", "a", 10));
        assert!(l.watched.contains_key("a:a"));
        l.handle(&state(ProcessState::Exited, "a", "a", 10));
        assert!(l.watched.is_empty());
    }

    #[test]
    fn score_option_range_is_enforced() {
        let cmd = || {
            crate::entry::listener_command(&crate::entry::Entry {
                name: "oom_score_adj",
                command,
                superlance_longs: SUPERLANCE_LONGS,
                run,
            })
        };
        for bad in ["-1001", "1001", "abc", "1.5"] {
            let e = cmd()
                .try_get_matches_from(["oom_score_adj", "-s", bad])
                .unwrap_err();
            assert_eq!(e.exit_code(), 2, "{bad}");
        }
        let m = cmd()
            .try_get_matches_from(["oom_score_adj", "-s", "-100", "-p", "a"])
            .unwrap();
        assert_eq!(m.get_one::<i32>("score"), Some(&-100));
        let m = cmd().try_get_matches_from(["oom_score_adj"]).unwrap();
        assert_eq!(m.get_one::<i32>("score"), Some(&-1000));
    }
}
