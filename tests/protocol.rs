//! Framing over real pipes: exact stdout bytes, refusal of bad input, signals, the `len` trap.
//!
//! Also home of the small pipe harness that `dispatch` and `logging` use too
//! ([`Running`], [`Sleeper`], the frame builders): it drives the real binary with piped stdio,
//! reads stdout and stderr in threads, and never waits without a deadline.

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------------
// The harness

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_superlance");

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
        let program = program.as_ref();
        let mut tries = 0;
        let mut child = loop {
            let spawned = Command::new(program)
                .args(args)
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
fn assert_quiet(f: &Finished) {
    for line in f.stderr_lines() {
        match parse_log_line(line, "oom_score_adj") {
            Some(("INFO", _)) => {}
            _ => panic!("unexpected stderr line {line:?}; stderr:\n{}", f.stderr),
        }
    }
    assert!(!f.stderr.contains("panicked"), "{}", f.stderr);
}

// ---------------------------------------------------------------------------------------------
// Well-formed streams

#[test]
fn a_sequence_of_event_types_is_answered_with_exact_bytes() {
    let sleeper = Sleeper::start();
    assert_ne!(sleeper.score(), 500);
    let events: Vec<Vec<u8>> = vec![
        frame(
            1,
            "PROCESS_STATE_STARTING",
            "processname:cat groupname:cat from_state:STOPPED tries:0",
        ),
        running(2, "cat", "cat", sleeper.pid()),
        frame(3, "TICK_5", "when:1700000005"),
        frame(
            4,
            "PROCESS_LOG_STDOUT",
            "processname:cat groupname:cat pid:7 channel:stdout\nsome output\nmore\n",
        ),
        frame(
            5,
            "PROCESS_COMMUNICATION_STDOUT",
            "processname:cat groupname:cat pid:7\n<data>",
        ),
        frame(6, "REMOTE_COMMUNICATION", "type:note\nhello"),
        frame(7, "SUPERVISOR_STATE_CHANGE_RUNNING", ""),
        frame(8, "PROCESS_GROUP_ADDED", "groupname:cat\n"),
        // A name this version does not know: still acknowledged.
        frame(9, "SOMETHING_NEW_IN_SUPERVISOR_9", "key:value and:more"),
        frame(
            10,
            "PROCESS_STATE_EXITED",
            "processname:other groupname:other from_state:RUNNING expected:0 pid:8",
        ),
    ];
    let mut l = Running::listener(&["-p", "cat", "-s", "500"]);
    l.expect_stdout(READY);
    // Back to back in one write: the reader must find every boundary itself.
    l.write(&events.concat());
    l.expect_stdout(&answered(events.len()));
    let f = l.finish();
    assert_eq!(f.code(), 0, "{}", f.stderr);
    assert_eq!(show(&f.stdout), show(&answered(events.len())));
    assert_eq!(sleeper.score(), 500, "the RUNNING event was acted on");
    assert_quiet(&f);
}

#[test]
fn events_written_one_at_a_time_are_each_answered_at_once() {
    let mut l = Running::listener(&["-a", "-s", "500"]);
    l.expect_stdout(READY);
    for n in 1..=5 {
        l.write(&frame(
            n,
            "TICK_5",
            &format!("when:{}", 1_700_000_000 + 5 * n),
        ));
        l.expect_stdout(&answered(n as usize));
    }
    let f = l.finish();
    assert_eq!(f.code(), 0);
    assert_eq!(show(&f.stdout), show(&answered(5)));
}

#[test]
fn clean_eof_between_frames_exits_0_with_only_start_up_lines() {
    let mut l = Running::listener(&["-p", "cat", "-s", "500"]);
    l.expect_stdout(READY);
    l.write(&frame(1, "TICK_60", "when:1700000040"));
    l.expect_stdout(&answered(1));
    let f = l.finish();
    assert_eq!(f.code(), 0, "{}", f.stderr);
    assert_eq!(show(&f.stdout), show(&answered(1)));
    assert_quiet(&f);
    for line in f.stderr_lines() {
        assert!(line.contains("will set oom_score_adj 500"), "{line:?}");
    }
}

#[test]
fn eof_before_any_event_exits_0() {
    let mut l = Running::listener(&["-a", "-s", "500"]);
    l.expect_stdout(READY);
    let f = l.finish();
    assert_eq!(f.code(), 0, "{}", f.stderr);
    assert_eq!(show(&f.stdout), show(READY));
    assert_quiet(&f);
}

#[test]
fn supervisord_closing_our_stdout_is_a_normal_end() {
    let mut child = Command::new(BIN)
        .args(["oom_score_adj", "-a", "-s", "500"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    drop(child.stdout.take()); // nobody reads our answers any more
    let mut stdin = child.stdin.take().expect("stdin");
    // The write may fail if the listener is already gone: that is fine.
    let _ = stdin.write_all(&frame(1, "TICK_5", "when:1700000005"));
    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            break s;
        }
        assert!(Instant::now() < deadline, "listener hangs after EPIPE");
        thread::sleep(Duration::from_millis(10));
    };
    let mut stderr = String::new();
    let _ = child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr);
    assert_eq!(status.code(), Some(0), "{status:?}; stderr:\n{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

// ---------------------------------------------------------------------------------------------
// Bad input: one ERROR line naming the problem and quoting the header, a non-zero exit, no
// panic, no hang, and nothing on stdout beyond what was legitimately answered.

struct Bad<'a> {
    /// Well-formed events sent (and answered) first.
    before: usize,
    input: &'a [u8],
    /// Close stdin after the input (for the EOF cases); otherwise the listener must notice
    /// the problem by itself.
    close: bool,
    /// Text the ERROR line must contain: the problem...
    problem: &'a str,
    /// ...and the quoted header (or the start of it).
    quoted: &'a str,
}

fn assert_refused(case: Bad) -> Finished {
    let mut l = Running::listener(&["-a", "-s", "500"]);
    l.expect_stdout(READY);
    for n in 0..case.before {
        l.write(&frame(n as u32 + 1, "TICK_5", "when:1700000005"));
        l.expect_stdout(&answered(n + 1));
    }
    l.write(case.input);
    if case.close {
        l.close_stdin();
    }
    let f = l.exits_within(Duration::from_secs(3));
    assert!(!f.stderr.contains("panicked"), "a panic:\n{}", f.stderr);
    let code = f.code();
    assert_ne!(code, 0, "bad input must end with a non-zero exit");
    assert_eq!(code, 1, "{}", f.stderr);
    assert_eq!(
        show(&f.stdout),
        show(&answered(case.before)),
        "stdout holds only the legitimate answers"
    );
    let errors: Vec<&str> = f
        .stderr_lines()
        .into_iter()
        .filter(|l| l.contains("ERROR"))
        .collect();
    assert_eq!(errors.len(), 1, "exactly one ERROR line:\n{}", f.stderr);
    let (level, message) = parse_log_line(errors[0], "oom_score_adj")
        .unwrap_or_else(|| panic!("not a log line: {:?}", errors[0]));
    assert_eq!(level, "ERROR");
    assert!(
        message.contains(case.problem),
        "the ERROR line names the problem {:?}: {message:?}",
        case.problem
    );
    assert!(
        message.contains(case.quoted),
        "the ERROR line quotes the header {:?}: {message:?}",
        case.quoted
    );
    assert!(
        errors[0].len() < 600,
        "the quote is truncated: {} bytes",
        errors[0].len()
    );
    f
}

#[test]
fn malformed_header_token_is_refused() {
    assert_refused(Bad {
        before: 0,
        input: b"ver:3.0 server:supervisor serial:0 hello eventname:TICK_5 len:0\n",
        close: false,
        problem: "malformed header line (token \"hello\" is not key:value)",
        quoted: "ver:3.0 server:supervisor serial:0 hello eventname:TICK_5 len:0",
    });
}

#[test]
fn missing_len_is_refused() {
    assert_refused(Bad {
        before: 0,
        input: b"ver:3.0 server:supervisor serial:0 pool:listener eventname:TICK_5\n",
        close: false,
        problem: "no len token",
        quoted: "ver:3.0 server:supervisor serial:0 pool:listener eventname:TICK_5",
    });
}

#[test]
fn missing_eventname_is_refused() {
    assert_refused(Bad {
        before: 0,
        input: b"ver:3.0 server:supervisor serial:0 len:0\n",
        close: false,
        problem: "no eventname token",
        quoted: "ver:3.0 server:supervisor serial:0 len:0",
    });
}

#[test]
fn negative_len_is_refused() {
    assert_refused(Bad {
        before: 1,
        input: header(2, "TICK_5", 0).replace("len:0", "len:-5").as_bytes(),
        close: false,
        problem: "invalid len \"-5\"",
        quoted: "eventname:TICK_5 len:-5",
    });
}

#[test]
fn non_numeric_len_is_refused() {
    assert_refused(Bad {
        before: 0,
        input: header(1, "TICK_5", 0)
            .replace("len:0", "len:ten")
            .as_bytes(),
        close: false,
        problem: "invalid len \"ten\"",
        quoted: "eventname:TICK_5 len:ten",
    });
}

#[test]
fn absurd_len_is_refused_at_once_without_allocating() {
    let start = Instant::now();
    assert_refused(Bad {
        before: 0,
        input: header(1, "TICK_5", 0)
            .replace("len:0", "len:99999999999")
            .as_bytes(),
        close: false,
        problem: "len:99999999999, above the 16777216-byte limit",
        quoted: "eventname:TICK_5 len:99999999999",
    });
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn len_beyond_u64_is_refused() {
    assert_refused(Bad {
        before: 0,
        input: header(1, "TICK_5", 0)
            .replace("len:0", "len:99999999999999999999999")
            .as_bytes(),
        close: false,
        problem: "above the 16777216-byte limit",
        quoted: "len:99999999999999999999999",
    });
}

#[test]
fn len_at_the_cap_is_not_allocated_up_front() {
    // 16 MiB is accepted, but memory grows only with what really arrives: the listener's
    // address space (VmPeak counts reservations too) must not grow by anything like 16 MiB.
    let mut l = Running::listener(&["-a", "-s", "500"]);
    l.expect_stdout(READY);
    let before = l.status_kib("VmPeak");
    let payload = b"processname:cat groupname:cat pid:7 channel:stdout\nshort";
    let mut input = header(1, "PROCESS_LOG_STDOUT", 16 * 1024 * 1024).into_bytes();
    input.extend_from_slice(payload);
    l.write(&input);
    thread::sleep(Duration::from_millis(200)); // let it read what there is
    assert!(
        !l.has_exited(),
        "len:16777216 is within the cap: {}",
        l.stderr()
    );
    let grown = l.status_kib("VmPeak").saturating_sub(before);
    assert!(
        grown < 4 * 1024,
        "VmPeak grew by {grown} KiB for a 56-byte payload"
    );
    assert!(l.status_kib("VmHWM") < 16 * 1024, "peak RSS");
    l.close_stdin();
    let f = l.exits_within(TIMEOUT);
    assert_eq!(f.code(), 1, "{}", f.stderr);
    assert_eq!(show(&f.stdout), show(READY));
    assert!(
        f.stderr
            .contains("end of input inside a payload (56 of 16777216 received)"),
        "{}",
        f.stderr
    );
}

#[test]
fn eof_inside_a_header_is_refused() {
    assert_refused(Bad {
        before: 1,
        input: b"ver:3.0 server:supervisor serial:2 pool:listener eventname:TICK_5 le",
        close: true,
        problem: "end of input inside a header line",
        quoted: "ver:3.0 server:supervisor serial:2 pool:listener eventname:TICK_5 le",
    });
}

#[test]
fn eof_inside_a_payload_is_refused() {
    let mut input = header(2, "TICK_5", 15).into_bytes();
    input.extend_from_slice(b"when:17");
    assert_refused(Bad {
        before: 1,
        input: &input,
        close: true,
        problem: "end of input inside a payload (7 of 15 received)",
        quoted: "serial:2 pool:listener poolserial:2 eventname:TICK_5 len:15",
    });
}

#[test]
fn invalid_utf8_in_the_header_is_refused() {
    assert_refused(Bad {
        before: 0,
        input: b"ver:3.0 server:supervisor serial:0 eventname:TICK\xff\xfe_5 len:0\n",
        close: false,
        problem: "header line is not valid UTF-8",
        quoted: "ver:3.0 server:supervisor serial:0 eventname:TICK",
    });
}

#[test]
fn invalid_utf8_in_the_payload_is_refused() {
    let payload = b"processname:cat groupname:cat pid:7 channel:stdout\nab\xff\xfecd";
    let mut input = header(1, "PROCESS_LOG_STDOUT", payload.len()).into_bytes();
    input.extend_from_slice(payload);
    assert_refused(Bad {
        before: 0,
        input: &input,
        close: false,
        problem: "payload is not valid UTF-8",
        quoted: "eventname:PROCESS_LOG_STDOUT len:57",
    });
}

#[test]
fn binary_junk_is_refused() {
    // Every byte value, starting with a control character: the first "line" is junk.
    let junk: Vec<u8> = (0u8..=255).cycle().skip(1).take(2000).collect();
    assert_refused(Bad {
        before: 1,
        input: &junk,
        close: false,
        problem: "malformed header line",
        quoted: "\\u{1}\\u{2}", // escaped: junk must not reach the log raw
    });
}

#[test]
fn binary_junk_that_is_not_utf8_is_refused() {
    let junk: Vec<u8> = (0u8..=255).rev().cycle().take(2000).collect();
    assert_refused(Bad {
        before: 0,
        input: &junk,
        close: false,
        problem: "header line is not valid UTF-8",
        quoted: "\u{fffd}",
    });
}

#[test]
fn empty_header_line_is_refused() {
    assert_refused(Bad {
        before: 0,
        input: b"\n",
        close: false,
        problem: "header line is empty",
        quoted: "",
    });
}

#[test]
fn header_longer_than_4096_bytes_without_newline_is_refused() {
    let mut input = b"ver:3.0 server:supervisor pad:".to_vec();
    input.extend(std::iter::repeat_n(b'x', 5000));
    let f = assert_refused(Bad {
        before: 0,
        input: &input,
        close: false,
        problem: "header line longer than 4096 bytes without a newline",
        quoted: "ver:3.0 server:supervisor pad:xxxx",
    });
    let error = f
        .stderr_lines()
        .into_iter()
        .find(|l| l.contains("ERROR"))
        .map(str::to_owned)
        .unwrap_or_default();
    assert!(error.ends_with("..."), "quote truncated: {error:?}");
}

#[test]
fn long_bad_header_is_quoted_truncated() {
    let line = format!(
        "ver:3.0 server:supervisor pad:{} eventname:TICK_5 len:abc\n",
        "y".repeat(2000)
    );
    let f = assert_refused(Bad {
        before: 0,
        input: line.as_bytes(),
        close: false,
        problem: "invalid len \"abc\"",
        quoted: "ver:3.0 server:supervisor pad:yyy",
    });
    assert!(f.stderr.contains("yyy..."), "{}", f.stderr);
}

// ---------------------------------------------------------------------------------------------
// Signals

#[test]
fn sigterm_while_waiting_exits_0_within_a_second() {
    for sig in [libc::SIGTERM, libc::SIGINT] {
        let mut l = Running::listener(&["-a", "-s", "500"]);
        l.expect_stdout(READY);
        thread::sleep(Duration::from_millis(50)); // let it block in its read
        l.signal(sig);
        let f = l.exits_within(Duration::from_secs(1));
        assert_eq!(f.code(), 0, "signal {sig}: {}", f.stderr);
        assert_eq!(show(&f.stdout), show(READY));
        assert!(!f.stderr.contains("ERROR"), "{}", f.stderr);
    }
}

#[test]
fn sigterm_mid_event_finishes_the_event_in_hand() {
    let sleeper = Sleeper::start();
    let event = running(1, "cat", "cat", sleeper.pid());
    let (first, rest) = event.split_at(event.len() - 20);
    let mut l = Running::listener(&["-p", "cat", "-s", "500"]);
    l.expect_stdout(READY);
    l.write(first); // the header and part of the payload
    thread::sleep(Duration::from_millis(100));
    l.signal(libc::SIGTERM);
    thread::sleep(Duration::from_millis(200));
    assert!(
        !l.has_exited(),
        "exited with an event in hand: {}",
        l.stderr()
    );
    l.write(rest);
    // Answered, then the end: stdin stays open, the signal alone ends the loop.
    let f = l.exits_within(Duration::from_secs(2));
    assert_eq!(f.code(), 0, "{}", f.stderr);
    assert_eq!(show(&f.stdout), show(&answered(1)));
    assert_eq!(sleeper.score(), 500, "the event in hand was acted on");
    assert!(!f.stderr.contains("ERROR"), "{}", f.stderr);
}

#[test]
fn sighup_is_survived_and_the_next_event_is_answered() {
    let sleeper = Sleeper::start();
    let mut l = Running::listener(&["-p", "cat", "-s", "500"]);
    l.expect_stdout(READY);
    thread::sleep(Duration::from_millis(50));
    l.signal(libc::SIGHUP);
    l.expect_stderr("SIGHUP: reopening logs");
    l.signal(libc::SIGHUP);
    l.write(&running(1, "cat", "cat", sleeper.pid()));
    l.expect_stdout(&answered(1));
    assert_eq!(sleeper.score(), 500);
    let f = l.finish();
    assert_eq!(f.code(), 0, "{}", f.stderr);
    assert_eq!(show(&f.stdout), show(&answered(1)));
}

#[test]
fn sighup_mid_event_still_reopens_the_logs() {
    // logrotate's `supervisorctl signal HUP` can land while a frame is being read: the event
    // must be answered, and the reopen must not be forgotten until some later signal.
    let event = frame(1, "TICK_5", "when:1700000005");
    let (first, rest) = event.split_at(event.len() - 5);
    let mut l = Running::listener(&["-a", "-s", "500"]);
    l.expect_stdout(READY);
    l.write(first);
    thread::sleep(Duration::from_millis(100));
    l.signal(libc::SIGHUP);
    thread::sleep(Duration::from_millis(100));
    l.write(rest);
    l.expect_stdout(&answered(1));
    assert!(
        l.stderr_shows_within("SIGHUP: reopening logs", Duration::from_secs(2)),
        "a SIGHUP that arrived mid-frame was never acted on; stderr:\n{}",
        l.stderr()
    );
    let f = l.finish();
    assert_eq!(f.code(), 0, "{}", f.stderr);
}

// ---------------------------------------------------------------------------------------------
// The `len` trap (protocol.md §3, supervisor #1243): a server writes one frame, then waits for
// our RESULT before the next; the listener must stay in sync whether `len` counts bytes or
// characters.

/// Non-ASCII frames of several types, ending with a RUNNING event for a non-ASCII process
/// name. `pid` is the process that event names.
fn non_ascii_payloads(pid: u32) -> Vec<(&'static str, String)> {
    vec![
        (
            "PROCESS_LOG_STDOUT",
            "processname:cat groupname:cat pid:7 channel:stdout\nhéllo wörld ✓ 😀\n".to_owned(),
        ),
        (
            "PROCESS_COMMUNICATION_STDOUT",
            "processname:cat groupname:cat pid:7\nプロセス通信".to_owned(),
        ),
        ("TICK_5", "when:1700000005".to_owned()),
        (
            "PROCESS_STATE_STARTING",
            "processname:ünïcødé groupname:grüppe from_state:STOPPED tries:0".to_owned(),
        ),
        (
            "PROCESS_STATE_RUNNING",
            running_payload("grüppe", "ünïcødé", pid),
        ),
        (
            "PROCESS_LOG_STDERR",
            "processname:ünïcødé groupname:grüppe pid:7 channel:stderr\nend ✓".to_owned(),
        ),
    ]
}

fn len_trap(count: fn(&str) -> usize) {
    let unicode = Sleeper::start();
    let ascii = Sleeper::start();
    let mut l = Running::listener(&["-p", "grüppe:ünïcødé", "-p", "cat", "-s", "500"]);
    l.expect_stdout(READY);
    let mut serial = 0;
    for (eventname, payload) in non_ascii_payloads(unicode.pid()) {
        serial += 1;
        let mut f = header(serial, eventname, count(&payload)).into_bytes();
        f.extend_from_slice(payload.as_bytes());
        l.write(&f);
        l.expect_stdout(&answered(serial as usize));
    }
    // Still in sync: a plain event after them is read and acted on.
    serial += 1;
    l.write(&running(serial, "cat", "cat", ascii.pid()));
    l.expect_stdout(&answered(serial as usize));
    assert_eq!(
        unicode.score(),
        500,
        "the non-ASCII process name was matched"
    );
    assert_eq!(ascii.score(), 500, "the listener stayed in sync");
    let f = l.finish();
    assert_eq!(f.code(), 0, "{}", f.stderr);
    assert_eq!(show(&f.stdout), show(&answered(serial as usize)));
    assert_quiet(&f);
}

#[test]
fn len_counted_in_bytes_stays_in_sync() {
    // supervisord 3 (Python 2) and ochinchina/supervisord.
    len_trap(str::len);
}

#[test]
fn len_counted_in_characters_stays_in_sync() {
    // supervisord 4 under Python 3.
    len_trap(|s| s.chars().count());
}

#[test]
fn sighup_during_the_len_settle_wait_does_not_desync() {
    // Regression: a large character-counted frame reaches the pipe in two parts. After `len`
    // bytes the reader waits (up to 500 ms) to see whether more bytes follow; a SIGHUP in that
    // wait must not be taken for "nothing more is coming" (which would read the frame short
    // and the rest of its payload as the next header).
    let sleeper = Sleeper::start();
    let payload = format!(
        "processname:cat groupname:cat pid:7 channel:stdout\n{}",
        "é".repeat(5000)
    );
    // 5051 characters, 10051 bytes: with the header above PIPE_BUF, so the long settle.
    let len = payload.chars().count();
    let mut f = header(1, "PROCESS_LOG_STDOUT", len).into_bytes();
    // Exactly `len` bytes of payload first (ending on a character boundary): nothing is
    // buffered when the reader starts to wait for the rest.
    let cut = f.len() + len;
    f.extend_from_slice(payload.as_bytes());
    let (first, rest) = f.split_at(cut);
    let mut l = Running::listener(&["-p", "cat", "-s", "500"]);
    l.expect_stdout(READY);
    l.write(first);
    thread::sleep(Duration::from_millis(100));
    l.signal(libc::SIGHUP);
    thread::sleep(Duration::from_millis(50));
    l.write(rest);
    l.expect_stdout(&answered(1));
    l.write(&running(2, "cat", "cat", sleeper.pid()));
    l.expect_stdout(&answered(2));
    assert_eq!(sleeper.score(), 500);
    let f = l.finish();
    assert_eq!(f.code(), 0, "{}", f.stderr);
    assert!(!f.stderr.contains("ERROR"), "{}", f.stderr);
}

#[test]
fn sigterm_during_the_len_settle_wait_finishes_the_event_in_hand() {
    // The same wait as above, ended by SIGTERM: the event in hand must still be read whole
    // and answered before the exit 0. Here the first `len` bytes end inside a character, so
    // a reader that stops waiting at the signal finds invalid UTF-8 and exits 1.
    let payload = format!(
        "processname:cat groupname:cat pid:7 channel:stdout\n{}",
        "é".repeat(5001)
    );
    let len = payload.chars().count();
    let mut f = header(1, "PROCESS_LOG_STDOUT", len).into_bytes();
    let cut = f.len() + len;
    f.extend_from_slice(payload.as_bytes());
    let (first, rest) = f.split_at(cut);
    let mut l = Running::listener(&["-a", "-s", "500"]);
    l.expect_stdout(READY);
    l.write(first);
    thread::sleep(Duration::from_millis(100));
    l.signal(libc::SIGTERM);
    thread::sleep(Duration::from_millis(50));
    let _ = l.try_write(rest); // EPIPE if it gave up on the frame: judged below
    let f = l.exits_within(Duration::from_secs(2));
    assert_eq!(f.code(), 0, "{}", f.stderr);
    assert_eq!(show(&f.stdout), show(&answered(1)));
    assert!(!f.stderr.contains("ERROR"), "{}", f.stderr);
}
