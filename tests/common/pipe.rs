//! The pipe harness: drives the real binary with piped stdio as supervisord would, reads
//! stdout and stderr in threads, and never waits without a deadline ([`Running`]); builds
//! frames; [`Sleeper`] is a child of the test process, and so a sibling of any listener the
//! test starts, which oom_score_adj's safety check requires.

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

pub(crate) use super::BIN;

/// The longest any single wait may take: far beyond what a healthy run needs, short enough
/// that a hang fails the test instead of the CI job.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(10);

/// What the listener writes first.
pub(crate) const READY: &[u8] = b"READY\n";
/// Its answer to one event: RESULT and the next READY, in one write.
pub(crate) const ANSWER: &[u8] = b"RESULT 2\nOKREADY\n";

/// stdout after start-up and `n` answered events.
pub(crate) fn answered(n: usize) -> Vec<u8> {
    let mut out = READY.to_vec();
    for _ in 0..n {
        out.extend_from_slice(ANSWER);
    }
    out
}

/// Bytes made readable in an assertion message.
pub(crate) fn show(bytes: &[u8]) -> String {
    bytes.escape_ascii().to_string()
}

/// A header line as supervisord writes it.
pub(crate) fn header(serial: u32, eventname: &str, len: usize) -> String {
    format!(
        "ver:3.0 server:supervisor serial:{serial} pool:listener poolserial:{serial} \
         eventname:{eventname} len:{len}\n"
    )
}

/// A frame whose `len` counts bytes (supervisord 3, ochinchina/supervisord).
pub(crate) fn frame(serial: u32, eventname: &str, payload: &str) -> Vec<u8> {
    let mut f = header(serial, eventname, payload.len()).into_bytes();
    f.extend_from_slice(payload.as_bytes());
    f
}

pub(crate) fn running_payload(group: &str, name: &str, pid: u32) -> String {
    format!("processname:{name} groupname:{group} from_state:STARTING pid:{pid}")
}

/// A PROCESS_STATE_RUNNING frame (ASCII names: both `len` units agree).
pub(crate) fn running(serial: u32, group: &str, name: &str, pid: u32) -> Vec<u8> {
    frame(
        serial,
        "PROCESS_STATE_RUNNING",
        &running_payload(group, name, pid),
    )
}

/// A PROCESS_STATE_EXITED frame.
pub(crate) fn exited(serial: u32, group: &str, name: &str, expected: bool, pid: u32) -> Vec<u8> {
    frame(
        serial,
        "PROCESS_STATE_EXITED",
        &format!(
            "processname:{name} groupname:{group} from_state:RUNNING expected:{} pid:{pid}",
            u8::from(expected)
        ),
    )
}

/// A TICK_`period` frame stamped `when`.
pub(crate) fn tick(serial: u32, period: u32, when: u64) -> Vec<u8> {
    frame(serial, &format!("TICK_{period}"), &format!("when:{when}"))
}

/// A pid above any pid_max: a process that is certainly gone.
pub(crate) const GONE_PID: u32 = 2_000_000_000;

/// A `sleep 30` child of the test process. The listeners the test spawns have the same
/// parent, so oom_score_adj accepts it as "a program of our supervisord". Killed on drop.
pub(crate) struct Sleeper(Child);

impl Sleeper {
    pub(crate) fn start() -> Sleeper {
        let child = Command::new("sleep")
            .arg("30")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn sleep");
        Sleeper(child)
    }

    pub(crate) fn pid(&self) -> u32 {
        self.0.id()
    }

    /// The value in /proc/<pid>/oom_score_adj.
    pub(crate) fn score(&self) -> i32 {
        let path = format!("/proc/{}/oom_score_adj", self.pid());
        let text = std::fs::read_to_string(&path).expect("read oom_score_adj");
        text.trim().parse().expect("oom_score_adj is a number")
    }
}

impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[derive(Default)]
struct Captured {
    bytes: Vec<u8>,
    ended: bool,
}

/// One output stream of the child, read by a thread of its own.
#[derive(Clone, Default)]
struct Capture(Arc<(Mutex<Captured>, Condvar)>);

impl Capture {
    fn start(mut stream: impl Read + Send + 'static) -> Capture {
        let capture = Capture::default();
        let shared = capture.clone();
        thread::spawn(move || {
            let mut buf = [0u8; 8192];
            loop {
                let n = stream.read(&mut buf).unwrap_or(0);
                let (lock, changed) = &*shared.0;
                let mut c = lock.lock().expect("capture lock");
                if n == 0 {
                    c.ended = true;
                    changed.notify_all();
                    return;
                }
                c.bytes.extend_from_slice(&buf[..n]);
                changed.notify_all();
            }
        });
        capture
    }

    fn bytes(&self) -> Vec<u8> {
        self.0 .0.lock().expect("capture lock").bytes.clone()
    }

    /// Wait until `done` holds for the bytes so far, the stream ends, or `timeout` passes.
    /// Returns the bytes and whether `done` held.
    fn wait(&self, timeout: Duration, done: impl Fn(&[u8]) -> bool) -> (Vec<u8>, bool) {
        let deadline = Instant::now() + timeout;
        let (lock, changed) = &*self.0;
        let mut c = lock.lock().expect("capture lock");
        loop {
            if done(&c.bytes) {
                return (c.bytes.clone(), true);
            }
            let now = Instant::now();
            if c.ended || now >= deadline {
                return (c.bytes.clone(), false);
            }
            c = changed
                .wait_timeout(c, deadline - now)
                .expect("capture lock")
                .0;
        }
    }
}

/// How a run ended.
#[derive(Debug)]
pub(crate) struct Finished {
    pub(crate) status: ExitStatus,
    pub(crate) stdout: Vec<u8>,
    pub(crate) stderr: String,
}

impl Finished {
    /// The exit code; a death by signal fails the test.
    pub(crate) fn code(&self) -> i32 {
        match self.status.code() {
            Some(c) => c,
            None => panic!(
                "killed by signal {:?}; stderr:\n{}",
                self.status.signal(),
                self.stderr
            ),
        }
    }

    pub(crate) fn stderr_lines(&self) -> Vec<&str> {
        self.stderr.lines().collect()
    }
}

/// The binary (or a link to it) running with piped stdin, stdout and stderr. Killed on drop
/// if it is still running.
pub(crate) struct Running {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Capture,
    stderr: Capture,
    exit: Option<ExitStatus>,
}

impl Running {
    /// Start `program` with `args` (argv[0] is the program path, as a shell would pass it).
    pub(crate) fn spawn<S: AsRef<OsStr>>(program: impl AsRef<OsStr>, args: &[S]) -> Running {
        Running::spawn_env(program, args, &[])
    }

    /// [`Running::spawn`] with these environment variables set too.
    pub(crate) fn spawn_env<S: AsRef<OsStr>>(
        program: impl AsRef<OsStr>,
        args: &[S],
        env: &[(&str, &str)],
    ) -> Running {
        let program = program.as_ref();
        let mut tries = 0;
        let mut child = loop {
            let spawned = Command::new(program)
                .args(args)
                .envs(env.iter().copied())
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn();
            match spawned {
                Ok(child) => break child,
                // A freshly written copy of the binary can be "busy" while another test thread
                // forks with the copy's write descriptor still open (rust-lang/rust#114554).
                Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) && tries < 50 => {
                    tries += 1;
                    thread::sleep(Duration::from_millis(20));
                }
                Err(e) => panic!("cannot start {program:?}: {e}"),
            }
        };
        let stdout = Capture::start(child.stdout.take().expect("piped stdout"));
        let stderr = Capture::start(child.stderr.take().expect("piped stderr"));
        Running {
            stdin: child.stdin.take(),
            child,
            stdout,
            stderr,
            exit: None,
        }
    }

    /// `superlance oom_score_adj ARGS...`
    pub(crate) fn listener(args: &[&str]) -> Running {
        let mut all = vec!["oom_score_adj"];
        all.extend_from_slice(args);
        Running::spawn(BIN, &all)
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Write bytes to the listener's stdin in one write.
    pub(crate) fn write(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin is open");
        stdin.write_all(bytes).expect("write to the listener");
        stdin.flush().expect("flush to the listener");
    }

    /// Write bytes, tolerating a listener that has already gone (EPIPE): for tests whose
    /// point is what the listener did before that.
    pub(crate) fn try_write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let stdin = self.stdin.as_mut().expect("stdin is open");
        stdin.write_all(bytes)?;
        stdin.flush()
    }

    /// Close the listener's stdin: supervisord went away.
    pub(crate) fn close_stdin(&mut self) {
        self.stdin = None;
    }

    pub(crate) fn stdout(&self) -> Vec<u8> {
        self.stdout.bytes()
    }

    pub(crate) fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.bytes()).into_owned()
    }

    /// Wait until stdout holds as many bytes as `want`, then insist that they are `want`.
    pub(crate) fn expect_stdout(&self, want: &[u8]) {
        let (got, _) = self.stdout.wait(TIMEOUT, |b| b.len() >= want.len());
        assert_eq!(
            show(&got),
            show(want),
            "stdout (left) is not what was expected (right); stderr:\n{}",
            self.stderr()
        );
    }

    /// Wait until stderr contains `needle`; returns all of stderr.
    pub(crate) fn expect_stderr(&self, needle: &str) -> String {
        let (got, found) = self
            .stderr
            .wait(TIMEOUT, |b| String::from_utf8_lossy(b).contains(needle));
        let text = String::from_utf8_lossy(&got).into_owned();
        assert!(found, "stderr never showed {needle:?}; stderr:\n{text}");
        text
    }

    /// Whether stderr comes to contain `needle` within `timeout`.
    pub(crate) fn stderr_shows_within(&self, needle: &str, timeout: Duration) -> bool {
        self.stderr
            .wait(timeout, |b| String::from_utf8_lossy(b).contains(needle))
            .1
    }

    pub(crate) fn signal(&self, sig: libc::c_int) {
        // SAFETY: kill(2) has no memory-safety preconditions; the pid is our unreaped child.
        let r = unsafe { libc::kill(self.pid() as libc::pid_t, sig) };
        assert_eq!(r, 0, "kill: {}", std::io::Error::last_os_error());
    }

    /// Reap the child if it exits within `timeout`.
    fn reap(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.exit.is_none() {
            self.exit = self.child.try_wait().expect("try_wait");
            if self.exit.is_none() {
                if Instant::now() >= deadline {
                    return false;
                }
                thread::sleep(Duration::from_millis(5));
            }
        }
        true
    }

    /// A `kB` field of /proc/<pid>/status (`VmPeak`, `VmHWM`, ...), in KiB.
    pub(crate) fn status_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("read /proc/<pid>/status");
        status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.trim().strip_suffix("kB")?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {field} in /proc/<pid>/status"))
    }

    /// Whether the process has exited (without waiting).
    pub(crate) fn has_exited(&mut self) -> bool {
        self.reap(Duration::ZERO)
    }

    /// Wait for the process to exit on its own (stdin stays open) within `within`; fails the
    /// test if it does not.
    pub(crate) fn exits_within(&mut self, within: Duration) -> Finished {
        if !self.reap(within) {
            panic!(
                "still running after {within:?}: a hang; stdout {:?}; stderr:\n{}",
                show(&self.stdout()),
                self.stderr()
            );
        }
        // The pipes close with the process (it has no children of its own).
        let (stdout, _) = self.stdout.wait(TIMEOUT, |_| false);
        let (stderr, _) = self.stderr.wait(TIMEOUT, |_| false);
        Finished {
            status: self.exit.expect("reaped"),
            stdout,
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        }
    }

    /// Close stdin and wait for the end.
    pub(crate) fn finish(&mut self) -> Finished {
        self.close_stdin();
        self.exits_within(TIMEOUT)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.exit.is_none() {
            let _ = self.child.kill();
            self.reap(TIMEOUT);
        }
    }
}

/// Whether `line` has the stderr log format `YYYY-MM-DD HH:MM:SS,mmm LEVEL name: message`;
/// returns the level and the message.
pub(crate) fn parse_log_line<'a>(line: &'a str, name: &str) -> Option<(&'a str, &'a str)> {
    let stamp = line.get(..23)?;
    let shape = "dddd-dd-dd dd:dd:dd,ddd";
    let ok = stamp.bytes().zip(shape.bytes()).all(|(c, s)| match s {
        b'd' => c.is_ascii_digit(),
        _ => c == s,
    });
    if !ok {
        return None;
    }
    let rest = line[23..].strip_prefix(' ')?;
    let (level, rest) = rest.split_once(' ')?;
    if !["ERROR", "WARN", "INFO", "DEBUG", "TRACE"].contains(&level) {
        return None;
    }
    let message = rest.strip_prefix(name)?.strip_prefix(": ")?;
    Some((level, message))
}

/// Every stderr line is a well-formed log line, and none is at ERROR or WARN level.
pub(crate) fn assert_quiet(f: &Finished) {
    for line in f.stderr_lines() {
        match parse_log_line(line, "oom_score_adj") {
            Some(("INFO", _)) => {}
            _ => panic!("unexpected stderr line {line:?}; stderr:\n{}", f.stderr),
        }
    }
    assert!(!f.stderr.contains("panicked"), "{}", f.stderr);
}
