//! Shared test helpers: the `superlance` binary, a temp dir per test, /proc readers, polling,
//! and [`Supervisord`], a real supervisord 4.3.0 run from the venv that `tests/setup.sh`
//! creates (`<repo>/.venv`, or `$SUPERLANCE_TEST_VENV`).
//!
//! A test writes only the interesting part of supervisord.conf, its `[program:x]`,
//! `[group:x]` and `[eventlistener:x]` sections, and gets a private supervisord: its own temp
//! dir, socket, logs and PATH, so tests run in parallel threads. Every listener name (from
//! `superlance --list`) is a symlink to the binary in a bin dir first on supervisord's PATH,
//! so a config line such as `command=oom_score_adj -p program1 -s 500` works verbatim, as it
//! does for a packaged install. supervisord runs at `loglevel=debug`, so its log shows every
//! event it hands to a listener (`event N sent to listener NAME`).
//!
//! Waiting is done by polling ([`wait_until`], [`poll`], [`Supervisord::wait_state`]), never by
//! fixed sleeps. Dropping a [`Supervisord`] shuts it down (SIGTERM, then SIGKILL for anything
//! left, programs' orphaned children included); if the test is failing it first prints the
//! status, supervisord's log and every child log to stderr (set `SUPERLANCE_TEST_KEEP=1` to
//! keep the temp dir as well). A missing venv is a test failure naming `tests/setup.sh`,
//! never a skip.
#![allow(dead_code)] // a toolbox shared by several test modules: not each uses every helper

pub mod alertmanager;
pub mod crash;
pub mod fixture_server;
pub mod pipe;
pub mod prom;
pub mod receiver;
pub mod smtp;

use std::ffi::OsString;
use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// The `superlance` executable cargo built for these tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_superlance");

/// `CAP_SYS_RESOURCE` (linux/capability.h): needed to lower an oom_score_adj below 0.
pub const CAP_SYS_RESOURCE: u32 = 24;

/// The resident memory of `pid` in KiB (VmRSS), if it runs.
pub fn rss_kib(pid: u32) -> Option<u64> {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()
}

/// An `[eventlistener:NAME]` section: `command` on `events`, RUNNING at once (`startsecs=0`).
pub fn eventlistener(name: &str, command: &str, events: &str) -> String {
    format!("[eventlistener:{name}]\ncommand={command}\nevents={events}\nstartsecs=0\n")
}

/// A fresh temp dir, removed when dropped.
pub fn tempdir() -> TempDir {
    tempfile::Builder::new()
        .prefix("superlance-test.")
        .tempdir()
        .unwrap_or_else(|e| panic!("cannot create a temp dir: {e}"))
}

/// The venv that `tests/setup.sh` creates: `$SUPERLANCE_TEST_VENV`, else `<repo>/.venv`.
pub fn venv() -> PathBuf {
    std::env::var_os("SUPERLANCE_TEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv"))
}

/// An executable of the venv (`supervisord`, `supervisorctl`, `python`); panics, naming the
/// setup command, if it is missing.
pub fn venv_bin(name: &str) -> PathBuf {
    let path = venv().join("bin").join(name);
    if !path.is_file() {
        panic!(
            "{} not found: run tests/setup.sh first (it installs supervisor 4.3.0 into the venv {}; \
             SUPERLANCE_TEST_VENV overrides that path)",
            path.display(),
            venv().display()
        );
    }
    path
}

/// The listener names, from `superlance --list` (asked once per test run).
pub fn listener_names() -> &'static [String] {
    static NAMES: OnceLock<Vec<String>> = OnceLock::new();
    NAMES.get_or_init(|| {
        let out = run(Command::new(BIN).arg("--list"));
        assert!(out.status.success(), "superlance --list failed: {out:?}");
        let names: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect();
        assert!(
            names.iter().any(|n| n == "oom_score_adj"),
            "superlance --list does not name oom_score_adj: {names:?}"
        );
        names
    })
}

/// Run a command to completion, panicking only if it cannot be started.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// Poll `cond` until it holds or `timeout` passes; true if it held. Polls often at first,
/// then every 200 ms.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    poll(timeout, || cond().then_some(())).is_some()
}

/// A test needs `what`, from Debian's `package`, and this machine lacks it. Where
/// `SUPERLANCE_REQUIRE_PACKAGES` is set (.ci/run sets it when it runs as root, where
/// tests/setup.sh installs the package), that fails the test naming the setup command;
/// elsewhere the test is skipped with a line that names the package, and tests/run.sh says
/// before the run which packages are missing, so that a skip is never silent.
pub fn missing_package(what: &str, package: &str) {
    let message = format!(
        "no {what} on this machine: install Debian's {package} package (tests/setup.sh does, \
         as root with apt-get)"
    );
    if std::env::var_os("SUPERLANCE_REQUIRE_PACKAGES").is_some() {
        panic!("{message}; SUPERLANCE_REQUIRE_PACKAGES is set, so this is a failure");
    }
    eprintln!("SKIPPED: {message}");
}

/// Poll `f` until it gives a value or `timeout` passes.
pub fn poll<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(10);
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(200));
    }
}

// ---------------------------------------------------------------------------------------------
// /proc

/// What the tests need from `/proc/<pid>/stat`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    pub pid: u32,
    pub comm: String,
    pub ppid: u32,
    /// Clock ticks after boot: with the pid, identifies a process across pid reuse.
    pub starttime: u64,
}

/// `/proc/<pid>/stat`, or None if the process is gone.
pub fn stat(pid: u32) -> Option<Stat> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // comm is in parentheses and may hold spaces and parentheses: split at the last ')'.
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text[open + 1..close].to_owned();
    let rest: Vec<&str> = text[close + 1..].split_whitespace().collect();
    // rest[0] is field 3 (state): ppid is field 4, starttime field 22.
    Some(Stat {
        pid,
        comm,
        ppid: rest.get(1)?.parse().ok()?,
        starttime: rest.get(19)?.parse().ok()?,
    })
}

/// Every process on the machine, as one scan of `/proc/*/stat` (processes that vanish during
/// the scan are left out).
pub fn processes() -> Vec<Stat> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(stat)
        .collect()
}

/// The children of `pid` (from the ppid field of `/proc/*/stat`).
pub fn children(pid: u32) -> Vec<u32> {
    processes()
        .into_iter()
        .filter(|s| s.ppid == pid)
        .map(|s| s.pid)
        .collect()
}

/// Every descendant of `pid`, parents before their children.
pub fn descendants(pid: u32) -> Vec<Stat> {
    let all = processes();
    let mut out: Vec<Stat> = Vec::new();
    let mut frontier = vec![pid];
    while let Some(p) = frontier.pop() {
        for s in all.iter().filter(|s| s.ppid == p && s.pid != pid) {
            if !out.iter().any(|o| o.pid == s.pid) {
                frontier.push(s.pid);
                out.push(s.clone());
            }
        }
    }
    out
}

/// The command line of `pid`, arguments joined by spaces ("" if gone).
pub fn cmdline(pid: u32) -> String {
    fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            String::from_utf8_lossy(&b)
                .split('\0')
                .filter(|a| !a.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

/// `/proc/<pid>/oom_score_adj`, or None if the process is gone.
pub fn try_oom_score_adj(pid: u32) -> Option<i32> {
    fs::read_to_string(format!("/proc/{pid}/oom_score_adj"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// `/proc/<pid>/oom_score_adj`; panics if the process is gone.
pub fn oom_score_adj(pid: u32) -> i32 {
    try_oom_score_adj(pid).unwrap_or_else(|| panic!("cannot read /proc/{pid}/oom_score_adj"))
}

/// Whether `pid` has capability `cap` in its effective set (`CapEff` in /proc/<pid>/status).
pub fn has_capability(pid: u32, cap: u32) -> bool {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .is_some_and(|bits| bits & (1 << cap) != 0)
}

// ---------------------------------------------------------------------------------------------
// supervisord

/// What a [`Supervisord`] is started with; see [`Supervisord::config`].
#[derive(Debug, Clone)]
pub struct Config {
    fragment: String,
    files: Vec<(String, String)>,
    drop_capabilities: Vec<u32>,
    /// `[inet_http_server]` on 127.0.0.1: (port, username, password).
    inet: Option<(u16, String, String)>,
    /// Run supervisord under `superlance entrypoint ARGS --` (issue 13).
    entrypoint: Option<Vec<String>>,
}

impl Config {
    /// Write `contents` to `name` in the temp dir before supervisord starts; the config can
    /// refer to it as `%(here)s/<name>` (supervisord expands `%(here)s` to the config's dir).
    pub fn file(mut self, name: &str, contents: &str) -> Config {
        self.files.push((name.to_owned(), contents.to_owned()));
        self
    }

    /// Start supervisord (and so every program and listener) without capability `cap`: it is
    /// dropped from the bounding set before exec, so even root cannot regain it. Makes a test
    /// of "no CAP_SYS_RESOURCE" behave the same on a machine that has it.
    pub fn without_capability(mut self, cap: u32) -> Config {
        self.drop_capabilities.push(cap);
        self
    }

    /// Also serve XML-RPC over TCP: an `[inet_http_server]` on 127.0.0.1 at a free port,
    /// with this username and password (the unix socket and supervisorctl stay as they are).
    /// [`Supervisord::inet_url`] gives its URL.
    pub fn inet_http_server(mut self, username: &str, password: &str) -> Config {
        self.inet = Some((free_port(), username.to_owned(), password.to_owned()));
        self
    }

    /// Start supervisord as `superlance entrypoint ARGS -- supervisord -n -c ...`: the process
    /// the test holds ([`Supervisord::wait_exit`], [`Supervisord::signal`]) is the entrypoint,
    /// supervisord its child.
    pub fn entrypoint(mut self, args: &[&str]) -> Config {
        self.entrypoint = Some(args.iter().map(|a| (*a).to_owned()).collect());
        self
    }

    pub fn start(self) -> Supervisord {
        Supervisord::launch(self)
    }
}

/// A TCP port on 127.0.0.1 that nothing listened on a moment ago (bound, noted, closed).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("cannot find a free port: {e}"))
}

/// A real supervisord in a temp dir of its own; shut down when dropped.
pub struct Supervisord {
    dir: Option<TempDir>,
    path: PathBuf,
    conf: PathBuf,
    /// supervisord, or the entrypoint that runs it.
    child: Child,
    /// supervisord's own pid.
    supervisord: u32,
    ctl: PathBuf,
    inet_port: Option<u16>,
}

impl Supervisord {
    /// Start a supervisord whose config is the fixed frame (socket, logs, pidfile in the temp
    /// dir, `nodaemon`, `loglevel=debug`) plus `fragment`: program, group and eventlistener
    /// sections. Returns once supervisorctl gets an answer from it.
    ///
    /// Start and drop it in the test's own thread: supervisord gets SIGTERM when the thread
    /// that started it ends (PR_SET_PDEATHSIG), so that a killed test run leaks nothing.
    pub fn start(fragment: &str) -> Supervisord {
        Supervisord::config(fragment).start()
    }

    /// Like [`Supervisord::start`], with extra settings: `Supervisord::config(f).file(..).start()`.
    pub fn config(fragment: &str) -> Config {
        Config {
            fragment: fragment.to_owned(),
            files: Vec::new(),
            drop_capabilities: Vec::new(),
            inet: None,
            entrypoint: None,
        }
    }

    fn launch(config: Config) -> Supervisord {
        let supervisord = venv_bin("supervisord");
        let ctl = venv_bin("supervisorctl");
        let dir = tempdir();
        let path = dir.path().to_owned();
        let bin = path.join("bin");
        let logs = path.join("logs");
        for d in [&bin, &logs] {
            fs::create_dir(d).unwrap_or_else(|e| panic!("cannot create {}: {e}", d.display()));
        }
        for name in listener_names() {
            std::os::unix::fs::symlink(BIN, bin.join(name))
                .unwrap_or_else(|e| panic!("cannot link {name} to {BIN}: {e}"));
        }
        for (name, contents) in &config.files {
            fs::write(path.join(name), contents)
                .unwrap_or_else(|e| panic!("cannot write {name}: {e}"));
        }
        let sock = path.join("supervisor.sock");
        let conf = path.join("supervisord.conf");
        let text = format!(
            "[unix_http_server]\n\
             file={sock}\n\
             \n\
             [supervisord]\n\
             logfile={dir}/supervisord.log\n\
             pidfile={dir}/supervisord.pid\n\
             childlogdir={logs}\n\
             nodaemon=true\n\
             loglevel=debug\n\
             \n\
             [rpcinterface:supervisor]\n\
             supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n\
             \n\
             [supervisorctl]\n\
             serverurl=unix://{sock}\n\
             \n\
             {fragment}\n",
            sock = sock.display(),
            dir = path.display(),
            logs = logs.display(),
            fragment = config.fragment,
        );
        let text = match &config.inet {
            None => text,
            Some((port, username, password)) => format!(
                "{text}\n[inet_http_server]\nport=127.0.0.1:{port}\nusername={username}\n\
                 password={password}\n"
            ),
        };
        fs::write(&conf, text).unwrap_or_else(|e| panic!("cannot write supervisord.conf: {e}"));

        let mut search = OsString::from(&bin);
        if let Some(old) = std::env::var_os("PATH") {
            search.push(":");
            search.push(old);
        }
        let out = fs::File::create(path.join("supervisord.out"))
            .unwrap_or_else(|e| panic!("cannot create supervisord.out: {e}"));
        let err = out
            .try_clone()
            .unwrap_or_else(|e| panic!("cannot dup supervisord.out: {e}"));
        let mut cmd = match &config.entrypoint {
            None => Command::new(&supervisord),
            Some(args) => {
                let mut cmd = Command::new(BIN);
                cmd.arg("entrypoint").args(args).arg("--").arg(&supervisord);
                cmd
            }
        };
        cmd.arg("-n")
            .arg("-c")
            .arg(&conf)
            .current_dir(&path)
            .env("PATH", search)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        let drop_caps = config.drop_capabilities.clone();
        // SAFETY: the closure runs in the forked child before exec and makes only
        // async-signal-safe system calls (prctl).
        unsafe {
            cmd.pre_exec(move || {
                // If the test process dies without dropping us (killed by a timeout, say),
                // supervisord gets SIGTERM and stops its programs instead of leaking them.
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                for &cap in &drop_caps {
                    if libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", supervisord.display()));
        let mut sv = Supervisord {
            dir: Some(dir),
            path,
            conf,
            child,
            supervisord: 0,
            ctl,
            inet_port: config.inet.as_ref().map(|(port, _, _)| *port),
        };
        let started = sv.child.id();
        let wrapped = config.entrypoint.is_some();
        let answered = wait_until(Duration::from_secs(20), || {
            if let Ok(Some(status)) = sv.child.try_wait() {
                panic!(
                    "supervisord exited at startup ({status}):\n{}\n{}",
                    sv.file("supervisord.out"),
                    sv.log()
                );
            }
            let Ok(pid) = sv.ctl(&["pid"]).trim().parse::<u32>() else {
                return false;
            };
            let ours = if wrapped {
                stat(pid).is_some_and(|s| s.ppid == started)
            } else {
                pid == started
            };
            if ours {
                sv.supervisord = pid;
            }
            ours
        });
        let pid = sv.supervisord;
        assert!(
            answered,
            "supervisord did not answer supervisorctl within 20 s"
        );
        for &cap in &config.drop_capabilities {
            assert!(
                !has_capability(pid, cap),
                "supervisord still has capability {cap} after dropping it"
            );
        }
        sv
    }

    /// The temp dir: supervisord.conf, supervisord.log, bin/, logs/ (child logs).
    pub fn dir(&self) -> &Path {
        &self.path
    }

    pub fn conf(&self) -> &Path {
        &self.conf
    }

    /// The `unix://` URL of supervisord's socket, as supervisord gives it to its children in
    /// SUPERVISOR_SERVER_URL.
    pub fn unix_url(&self) -> String {
        format!("unix://{}", self.path.join("supervisor.sock").display())
    }

    /// `http://127.0.0.1:PORT` of the [`Config::inet_http_server`], if it was asked for.
    pub fn inet_url(&self) -> Option<String> {
        self.inet_port
            .map(|port| format!("http://127.0.0.1:{port}"))
    }

    /// supervisord's own pid: the parent of every program and listener.
    pub fn pid_of_supervisord(&self) -> u32 {
        self.supervisord
    }

    /// Send `signal` to the process the test started (supervisord, or its entrypoint).
    pub fn signal(&self, signal: libc::c_int) {
        // SAFETY: kill(2) on our own child, not reaped before the test is done with it.
        unsafe { libc::kill(self.child.id() as libc::pid_t, signal) };
    }

    /// Wait for the process the test started (supervisord, or its entrypoint) to exit, e.g.
    /// after a listener shut supervisord down: its status, or `None` if it still runs after
    /// `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        poll(timeout, || self.child.try_wait().ok().flatten())
    }

    /// `supervisorctl -c <conf> ARGS...`: its stdout and stderr, whatever its exit status
    /// (supervisorctl 4 exits non-zero when a process is not running).
    pub fn ctl(&self, args: &[&str]) -> String {
        let out = run(Command::new(&self.ctl).arg("-c").arg(&self.conf).args(args));
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        text
    }

    /// The pid of process `name` (`program`, `group:program` or a listener pool's name);
    /// None if it is not running or unknown.
    pub fn pid(&self, name: &str) -> Option<u32> {
        self.ctl(&["pid", name])
            .trim()
            .parse()
            .ok()
            .filter(|&p| p != 0)
    }

    /// The state of process `name` as `supervisorctl status` shows it (`RUNNING`, `STOPPED`,
    /// `EXITED`, ...); None if supervisorctl does not know it.
    pub fn state(&self, name: &str) -> Option<String> {
        let out = self.ctl(&["status", name]);
        let line = out.lines().next()?;
        let mut words = line.split_whitespace();
        let shown = words.next()?;
        let state = words.next()?;
        // `status x` prints the full `group:name`; `x: ERROR (no such process)` otherwise.
        let known = shown == name || shown.ends_with(&format!(":{name}"));
        (known && state.chars().all(|c| c.is_ascii_uppercase())).then(|| state.to_owned())
    }

    /// Wait until process `name` is in `state`; panics with the full status and the logs if it
    /// does not get there within `timeout`.
    pub fn wait_state(&self, name: &str, state: &str, timeout: Duration) {
        if !wait_until(timeout, || self.state(name).as_deref() == Some(state)) {
            panic!(
                "{name} did not reach {state} within {timeout:?}; status:\n{}",
                self.ctl(&["status"])
            );
        }
    }

    /// Wait until process `name` is RUNNING and return its pid.
    pub fn wait_running(&self, name: &str, timeout: Duration) -> u32 {
        self.wait_state(name, "RUNNING", timeout);
        self.pid(name)
            .unwrap_or_else(|| panic!("{name} is RUNNING but supervisorctl gives no pid"))
    }

    /// A file in the temp dir ("" if it does not exist).
    pub fn file(&self, name: &str) -> String {
        fs::read_to_string(self.path.join(name)).unwrap_or_default()
    }

    /// supervisord's main log.
    pub fn log(&self) -> String {
        self.file("supervisord.log")
    }

    /// A child log supervisord wrote for process `name` (its process name, not `group:name`)
    /// and channel `stdout`/`stderr` (AUTO log files in `logs/`, named
    /// `<name>-<channel>---supervisor-<random>.log`); "" if there is none yet. A listener's
    /// own log lines are its `stderr`.
    pub fn child_log(&self, name: &str, channel: &str) -> String {
        let prefix = format!("{name}-{channel}---");
        let mut text = String::new();
        if let Ok(dir) = fs::read_dir(self.path.join("logs")) {
            let mut files: Vec<PathBuf> = dir
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with(&prefix))
                })
                .collect();
            files.sort();
            for f in files {
                text.push_str(&fs::read_to_string(f).unwrap_or_default());
            }
        }
        text
    }

    /// The log lines (stderr) of listener or program `name`.
    pub fn stderr_log(&self, name: &str) -> String {
        self.child_log(name, "stderr")
    }

    /// The listener is still the process it was (never exited, never restarted), RUNNING, and
    /// supervisord never had to drop an event for it nor saw it write anything but protocol.
    pub fn assert_listener_up(&self, name: &str, pid: u32) {
        self.assert_still_running(name, pid);
        let main = self.log();
        for bad in [
            format!("exited: {name} "),
            format!("{name} has entered the UNKNOWN state"),
            format!("pool {name} event buffer overflowed"),
        ] {
            assert!(!main.contains(&bad), "supervisord.log has {bad:?}:\n{main}");
        }
        let log = self.stderr_log(name);
        assert!(!log.contains("panicked"), "{name}'s log:\n{log}");
    }

    /// Program `name` is RUNNING and still the process `pid`: it never exited, was never
    /// restarted.
    pub fn assert_still_running(&self, name: &str, pid: u32) {
        assert_eq!(
            self.state(name).as_deref(),
            Some("RUNNING"),
            "{name}: {}",
            self.ctl(&["status"])
        );
        assert_eq!(self.pid(name), Some(pid), "{name} was restarted");
    }

    /// Wait until the stderr log of program `name` has a line containing every one of
    /// `parts`; returns that line, or panics with the log.
    pub fn wait_stderr_line(&self, name: &str, parts: &[&str], timeout: Duration) -> String {
        let find = || {
            self.stderr_log(name)
                .lines()
                .find(|l| parts.iter().all(|p| l.contains(p)))
                .map(str::to_owned)
        };
        poll(timeout, find).unwrap_or_else(|| {
            panic!(
                "no line with {parts:?} in {name}'s log within {timeout:?}:\n{}",
                self.stderr_log(name)
            )
        })
    }

    /// Print what helps to understand a failure: status, supervisord's log, every child log.
    fn dump(&self) {
        let mut report = format!(
            "---- supervisord in {} ----\n$ supervisorctl status\n{}",
            self.path.display(),
            self.ctl(&["status"])
        );
        report.push_str(&format!(
            "---- supervisord.log (last 80 lines) ----\n{}",
            tail(&self.log(), 80)
        ));
        if let Ok(dir) = fs::read_dir(self.path.join("logs")) {
            let mut files: Vec<PathBuf> = dir.filter_map(|e| e.ok().map(|e| e.path())).collect();
            files.sort();
            for f in files {
                let text = fs::read_to_string(&f).unwrap_or_default();
                report.push_str(&format!(
                    "---- {} (last 30 lines) ----\n{}",
                    f.display(),
                    tail(&text, 30)
                ));
            }
        }
        eprintln!("{report}");
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    let mut out = all[all.len().saturating_sub(lines)..].join("\n");
    out.push('\n');
    out
}

impl Drop for Supervisord {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.dump();
        }
        let pid = self.child.id();
        // Programs' own children (`sleep 1000 &`) outlive a stop: remember everything below
        // supervisord now, by pid and start time, to kill what is left afterwards.
        let below = descendants(pid);
        if matches!(self.child.try_wait(), Ok(None)) {
            // SAFETY: kill(2) on our own child, which has not been reaped yet.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
            let exited = wait_until(Duration::from_secs(15), || {
                matches!(self.child.try_wait(), Ok(Some(_)))
            });
            if !exited {
                eprintln!("supervisord {pid} ignored SIGTERM for 15 s; killing it");
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
        for s in below {
            if stat(s.pid).is_some_and(|now| now.starttime == s.starttime) {
                // SAFETY: kill(2) on a process we saw below our supervisord (same start time).
                unsafe { libc::kill(s.pid as libc::pid_t, libc::SIGKILL) };
            }
        }
        if std::env::var_os("SUPERLANCE_TEST_KEEP").is_some() {
            if let Some(dir) = self.dir.take() {
                eprintln!("keeping {}", dir.keep().display());
            }
        }
    }
}
