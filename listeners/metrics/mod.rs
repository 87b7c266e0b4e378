//! metrics: a Prometheus exporter fed by events (docs/metrics.md, issue 14).
//!
//! Exporters that poll getAllProcessInfo at scrape time miss a program that crashes and is
//! restarted between two scrapes: they see RUNNING both times. A listener sees every
//! transition, so it counts them.
//!
//! Theory of operation. The protocol loop owns nothing but a handle on the [`State`] behind a
//! mutex: each event locks it, bumps a few counters and unlocks (no I/O, no allocation once
//! a program is known). The HTTP server ([`server`]) runs on threads of its own and locks the
//! state only to render it; memory (`--memory`) is read from /proc after the lock is released.
//! `--textfile` is written (temp file + rename) by the loop on each TICK, and once at start.
//! Before its first READY the listener seeds the gauges from getAllProcessInfo and getState
//! when SUPERVISOR_SERVER_URL is set (the counters start at 0: nothing is invented), so the
//! states are right for programs that started before it. A group added later
//! (PROCESS_GROUP_ADDED: `supervisorctl update` or `add`) is seeded the same way, by a
//! [`Background`] worker started at the first such event, so the loop never waits for
//! supervisord; PROCESS_GROUP_REMOVED drops the group's series.
//! We always answer OK: nothing here is worth supervisord re-sending an event for.

pub mod server;
pub mod state;

use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use clap::{Arg, ArgAction, ArgMatches, Command};

use crate::background::Background;
use crate::event::Event;
use crate::procs::{Proc, Procfs};
use crate::protocol::Ack;
use crate::rpc::{self, Supervisor};
use crate::runtime::{self, Listener};
use crate::Error;

use server::{Auth, HttpFigures};
use state::{Format, State};

/// The default `--listen`: loopback only, and a port outside 9100-9999, which the Prometheus
/// wiki's "Default port allocations" has handed out in full (so any port there is some other
/// exporter's); 9876, the Go supervisord_exporter's default, is avoided too. Not in
/// /etc/services (IANA) either. docs/metrics.md says so.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:10011";

/// The options as first released (no superlance tool of this name existed).
pub const SUPERLANCE_LONGS: &[&str] = &[
    "listen",
    "textfile",
    "memory",
    "children",
    "web-user",
    "web-password-file",
    "help",
];

pub fn command() -> Command {
    Command::new("metrics")
        .about("Export supervisord's process states and every state change as Prometheus metrics (HTTP /metrics and/or a node_exporter textfile)")
        .after_help(
            "Subscribe the pool to PROCESS_STATE, SUPERVISOR_STATE_CHANGE, PROCESS_GROUP and TICK_5 (for --textfile), with room for bursts:\n\n  \
             [eventlistener:metrics]\n  command=superlance metrics --memory\n  \
             events=PROCESS_STATE,SUPERVISOR_STATE_CHANGE,PROCESS_GROUP,TICK_5\n  buffer_size=100",
        )
        .arg(
            Arg::new("listen")
                .long("listen")
                .value_name("ADDR:PORT")
                .help(format!("Serve GET /metrics on this address (default {DEFAULT_LISTEN}, or none when only --textfile is given); :PORT means every address")),
        )
        .arg(
            Arg::new("textfile")
                .long("textfile")
                .value_name("PATH")
                .value_parser(clap::value_parser!(PathBuf))
                .help("Also (or, without --listen, only) write the metrics to PATH on every TICK, atomically (temp file + rename), for node_exporter's textfile collector (name it *.prom)"),
        )
        .arg(
            Arg::new("memory")
                .long("memory")
                .action(ArgAction::SetTrue)
                .help("Export the resident memory (VmRSS) of every running program, read from /proc at scrape time"),
        )
        .arg(
            Arg::new("children")
                .short('c')
                .long("children")
                .action(ArgAction::SetTrue)
                .help("With --memory: count each program's descendants too"),
        )
        .arg(
            Arg::new("web-user")
                .long("web-user")
                .value_name("USER")
                .requires("web-password-file")
                .help("Require HTTP basic auth with this user name (with --web-password-file)"),
        )
        .arg(
            Arg::new("web-password-file")
                .long("web-password-file")
                .value_name("FILE")
                .value_parser(clap::value_parser!(PathBuf))
                .requires("web-user")
                .help("The basic-auth password: the first line of FILE"),
        )
}

/// How memory is read at scrape time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Memory {
    Off,
    Main,
    WithChildren,
}

/// Renders the exposition from the shared state (and /proc for memory): what the server and
/// the textfile writer share.
pub struct Exposition<P: Procfs> {
    pub state: Arc<Mutex<State>>,
    pub memory: Memory,
    pub procs: P,
    /// The HTTP server's own figures, when it serves.
    pub http: Option<Arc<HttpFigures>>,
}

impl<P: Procfs> Exposition<P> {
    pub fn render(&self, format: Format) -> String {
        if self.memory == Memory::Off {
            return state::render(&lock(&self.state), None, self.http.as_deref(), format);
        }
        let pids = lock(&self.state).running_pids();
        // /proc is read without the lock: the protocol loop never waits for it.
        let tree = match self.memory {
            Memory::WithChildren => self.procs.tree().ok(),
            _ => None,
        };
        let memory: Vec<(String, String, u64)> = pids
            .into_iter()
            .filter_map(|(g, n, pid)| {
                let bytes = match &tree {
                    Some(t) => crate::procs::rss_with_descendants(&self.procs, t, pid),
                    None => self.procs.rss(pid).ok(),
                }?;
                Some((g, n, bytes))
            })
            .collect();
        state::render(
            &lock(&self.state),
            Some(&memory),
            self.http.as_deref(),
            format,
        )
    }
}

/// The state, even if a thread panicked while holding it (its counters are still counters).
fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

fn now() -> i64 {
    crate::time::unix_seconds(SystemTime::now())
}

/// The address `--listen` names: `ADDR:PORT`, `[v6]:PORT`, `HOST:PORT` or `:PORT`.
pub fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    let full = match text.strip_prefix(':') {
        Some(port) => format!("0.0.0.0:{port}"),
        None => text.to_owned(),
    };
    full.to_socket_addrs()
        .map_err(|e| {
            format!("--listen {text:?}: {e} (expected ADDR:PORT, such as {DEFAULT_LISTEN})")
        })?
        .next()
        .ok_or_else(|| format!("--listen {text:?}: names no address"))
}

pub fn run(m: &ArgMatches) -> Result<(), Error> {
    let textfile = m.get_one::<PathBuf>("textfile").cloned();
    let listen = match (m.get_one::<String>("listen"), &textfile) {
        (Some(l), _) => Some(parse_listen(l).map_err(Error::Usage)?),
        (None, Some(_)) => None,
        (None, None) => Some(parse_listen(DEFAULT_LISTEN).map_err(Error::Usage)?),
    };
    let auth = match (
        m.get_one::<String>("web-user"),
        m.get_one::<PathBuf>("web-password-file"),
    ) {
        (Some(user), Some(file)) => {
            let text = std::fs::read_to_string(file).map_err(|e| {
                Error::Setup(format!(
                    "cannot read --web-password-file {}: {e}",
                    file.display()
                ))
            })?;
            let password = text.lines().next().unwrap_or_default().to_owned();
            if password.is_empty() {
                return Err(Error::Setup(format!(
                    "--web-password-file {}: the first line (the password) is empty",
                    file.display()
                )));
            }
            Some(Auth {
                user: user.clone(),
                password,
            })
        }
        _ => None,
    };
    let memory = match (m.get_flag("memory"), m.get_flag("children")) {
        (false, false) => Memory::Off,
        (false, true) => {
            log::warn!("-c/--children without --memory does nothing");
            Memory::Off
        }
        (true, false) => Memory::Main,
        (true, true) => Memory::WithChildren,
    };

    one_malloc_arena();
    let shared = Arc::new(Mutex::new(State::new(now())));
    let mut reseed = Reseed::Off;
    if std::env::var_os("SUPERVISOR_SERVER_URL").is_some() {
        match rpc::Client::from_env() {
            Ok(client) => {
                let mut client = client.with_timeout(SEED_TIMEOUT);
                seed(&shared, &mut client);
                reseed = Reseed::Ready(Box::new(client));
            }
            Err(e) => log::warn!(
                "cannot ask supervisord for the current states: {e}; they fill in as events come"
            ),
        }
    } else {
        log::info!("SUPERVISOR_SERVER_URL is not set: process states fill in as events come");
    }
    if textfile.is_some() {
        lock(&shared).textfile_failures = Some(0);
    }
    let http = Arc::new(HttpFigures::default());
    let exposition = Arc::new(Exposition {
        state: Arc::clone(&shared),
        memory,
        procs: Proc::default(),
        http: listen.is_some().then(|| Arc::clone(&http)),
    });
    if let Some(addr) = listen {
        let listener = TcpListener::bind(addr).map_err(|e| {
            Error::Setup(format!(
                "cannot listen on {addr}: {e} (is another process using the port? choose another with --listen)"
            ))
        })?;
        let bound = listener.local_addr().unwrap_or(addr);
        let e = Arc::clone(&exposition);
        server::spawn(
            listener,
            Arc::new(move |f| e.render(f)),
            auth.clone(),
            Arc::clone(&http),
        )
        .map_err(|e| Error::Setup(format!("cannot start the HTTP server threads: {e}")))?;
        log::info!(
            "serving Prometheus metrics at http://{bound}/metrics{}",
            if auth.is_some() { " (basic auth)" } else { "" }
        );
        if !bound.ip().is_loopback() && auth.is_none() {
            log::warn!("listening on {bound}, which is not loopback, without authentication: anyone who can reach it reads the process list (set --web-user and --web-password-file, or a firewall)");
        }
    }
    let mut listener = Metrics {
        state: shared,
        textfile,
        exposition,
        now,
        reseed,
    };
    if let Some(path) = &listener.textfile {
        log::info!("writing the metrics to {} on every TICK", path.display());
        listener.write_textfile();
    }
    runtime::run(&mut listener)
}

/// One malloc arena for the whole process (glibc's `M_ARENA_MAX`), set before any thread
/// starts. glibc gives each thread that allocates an arena of its own; the HTTP thread's
/// first allocation (its first request) then creates one, and the code that does so alone
/// cost ~150-240 KiB of resident libc pages, besides the arena's own heap, putting the
/// listener over the 4 MB of issue 14 (docs/performance.md, "metrics"). The loop and the
/// server allocate rarely (a program seen first; one answer per scrape), so sharing the one
/// arena costs no measurable contention.
fn one_malloc_arena() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt takes two integers and changes a setting of the allocator; no
        // other thread runs yet.
        if unsafe { libc::mallopt(libc::M_ARENA_MAX, 1) } != 1 {
            log::debug!("mallopt(M_ARENA_MAX, 1) failed; threads keep arenas of their own");
        }
    }
}

/// The start-up seed delays the first READY by at most this.
const SEED_TIMEOUT: Duration = Duration::from_secs(5);

/// Seed the gauges from supervisord (getAllProcessInfo, getState).
pub fn seed(state: &Mutex<State>, rpc: &mut dyn Supervisor) {
    let infos = match rpc.get_all_process_info() {
        Ok(infos) => infos,
        Err(e) => {
            log::warn!(
                "cannot ask supervisord for the current states: {e}; they fill in as events come"
            );
            return;
        }
    };
    let supervisord = rpc.get_state().ok().map(|s| s.name);
    lock(state).seed(&infos, supervisord.as_deref());
    log::info!("start-up: {} processes known from supervisord", infos.len());
}

/// Seed the processes of the groups added since the last time ([`State::seed_added`]).
pub fn seed_added(state: &Mutex<State>, rpc: &mut dyn Supervisor) {
    match rpc.get_all_process_info() {
        Ok(infos) => {
            let n = lock(state).seed_added(&infos);
            log::info!("added group: {n} processes known from supervisord");
        }
        Err(e) => log::warn!(
            "cannot ask supervisord about the added group: {e}; its states fill in as events come"
        ),
    }
}

/// How groups added after the start are seeded.
enum Reseed {
    /// Not under supervisord: their states fill in as events come.
    Off,
    /// No group added yet: the client, for the worker the first one starts.
    Ready(Box<dyn Supervisor + Send>),
    Running(Background<()>),
}

/// The worker gets this long at shutdown to finish a question under way.
const RESEED_GRACE: Duration = Duration::from_secs(1);

/// The listener: the protocol loop's side.
pub struct Metrics<P: Procfs> {
    state: Arc<Mutex<State>>,
    textfile: Option<PathBuf>,
    exposition: Arc<Exposition<P>>,
    now: fn() -> i64,
    reseed: Reseed,
}

impl<P: Procfs> Metrics<P> {
    /// A group was added: have its processes seeded, off the loop. Requests coalesce (one
    /// getAllProcessInfo answers for every group added meanwhile).
    fn reseed(&mut self) {
        if let Reseed::Ready(_) = self.reseed {
            let Reseed::Ready(mut rpc) = std::mem::replace(&mut self.reseed, Reseed::Off) else {
                return;
            };
            let state = Arc::clone(&self.state);
            match Background::start("metrics seed", move |()| seed_added(&state, &mut *rpc)) {
                Ok(worker) => self.reseed = Reseed::Running(worker),
                Err(e) => log::warn!("{e}; the states of added groups fill in as events come"),
            }
        }
        if let Reseed::Running(worker) = &self.reseed {
            worker.request(());
        }
    }

    /// Write the textfile atomically (`exposition::write_textfile`). Failures are logged.
    fn write_textfile(&self) {
        let Some(path) = &self.textfile else { return };
        let text = self.exposition.render(Format::Text);
        if let Err(e) = crate::exposition::write_textfile(path, &text) {
            if let Some(n) = lock(&self.state).textfile_failures.as_mut() {
                *n += 1;
            }
            log::warn!("cannot write {}: {e}", path.display());
        }
    }
}

impl<P: Procfs> Listener for Metrics<P> {
    fn handle(&mut self, event: &Event) -> Ack {
        let unknown_group = {
            let mut state = lock(&self.state);
            state.apply(event, self.now);
            !state.added.is_empty()
        };
        match event {
            Event::Tick { .. } => self.write_textfile(),
            Event::ProcessGroupAdded { .. } if unknown_group => self.reseed(),
            _ => {}
        }
        Ack::Ok
    }

    fn shutdown(&mut self) {
        if let Reseed::Running(worker) = &mut self.reseed {
            worker.shutdown(RESEED_GRACE);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses() {
        assert_eq!(
            parse_listen(DEFAULT_LISTEN).unwrap().to_string(),
            DEFAULT_LISTEN
        );
        assert_eq!(parse_listen(":9999").unwrap().to_string(), "0.0.0.0:9999");
        assert_eq!(parse_listen("[::1]:80").unwrap().to_string(), "[::1]:80");
        assert!(parse_listen("nonsense").is_err());
        assert!(parse_listen("127.0.0.1:99999").is_err());
    }

    /// A fake /proc: 10 has children 11 and 12 (12 gone meanwhile), 20 has none.
    struct Table;
    impl Procfs for Table {
        fn parent(&self, _: u32) -> std::io::Result<u32> {
            Ok(1)
        }
        fn tree(&self) -> std::io::Result<crate::procs::ProcessTree> {
            Ok(crate::procs::ProcessTree::from_pairs([
                (10, 1),
                (11, 10),
                (12, 10),
                (20, 1),
            ]))
        }
        fn rss(&self, pid: u32) -> std::io::Result<u64> {
            match pid {
                10 => Ok(1000),
                11 => Ok(200),
                20 => Ok(7),
                _ => Err(std::io::ErrorKind::NotFound.into()),
            }
        }
        fn oom_score_adj(&self, _: u32) -> std::io::Result<i32> {
            Ok(0)
        }
        fn set_oom_score_adj(&self, _: u32, _: i32) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn memory_is_read_at_render_time_with_or_without_children() {
        let state = Arc::new(Mutex::new(State::new(0)));
        for (name, pid) in [("a", 10), ("b", 20), ("gone", 30)] {
            let payload = format!("processname:{name} groupname:g from_state:STARTING pid:{pid}");
            lock(&state).apply(
                &crate::event::parse("PROCESS_STATE_RUNNING", &payload).event,
                || 0,
            );
        }
        let line = |memory, name: &str| {
            let e = Exposition {
                state: Arc::clone(&state),
                memory,
                procs: Table,
                http: None,
            };
            let text = e.render(Format::Text);
            let prefix =
                format!("supervisor_process_resident_memory_bytes{{group=\"g\",name=\"{name}\"}} ");
            text.lines()
                .find_map(|l| l.strip_prefix(&prefix).map(str::to_owned))
        };
        assert_eq!(line(Memory::Main, "a").as_deref(), Some("1000"));
        assert_eq!(line(Memory::WithChildren, "a").as_deref(), Some("1200"));
        assert_eq!(line(Memory::WithChildren, "b").as_deref(), Some("7"));
        assert_eq!(line(Memory::Main, "gone"), None);
        assert_eq!(line(Memory::Off, "a"), None);
    }

    #[test]
    fn textfile_is_written_on_tick() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("supervisor.prom");
        let state = Arc::new(Mutex::new(State::new(5)));
        let mut l = Metrics {
            state: Arc::clone(&state),
            textfile: Some(path.clone()),
            exposition: Arc::new(Exposition {
                state,
                memory: Memory::Off,
                procs: Proc::default(),
                http: None,
            }),
            now: || 1,
            reseed: Reseed::Off,
        };
        let e = crate::event::parse(
            "PROCESS_STATE_STARTING",
            "processname:a groupname:a from_state:STOPPED tries:0",
        )
        .event;
        assert_eq!(l.handle(&e), Ack::Ok);
        assert!(!path.exists());
        let t = crate::event::parse("TICK_5", "when:5").event;
        l.handle(&t);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.contains("supervisor_process_starts_total{group=\"a\",name=\"a\"} 1\n"),
            "{text}"
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
