//! The listeners benchmark (issue #2 §4 and issue #3's "Benchmark"; what it measures, how to
//! read it and the latest figures: docs/performance.md). Run it with
//! `cargo bench --bench listeners`.
//!
//! The machines this runs on are shared and noisy, so every figure is printed next to a
//! baseline measured in the same run, and the targets are judged on ratios and medians:
//! - the floor: this very executable re-run with `--minimal-listener`, a listener that only
//!   frames (buffered stdin, one unbuffered write per answer) and does nothing else;
//! - `superlance oom_score_adj -p nomatch -s 500` fed RUNNING events that do not match;
//! - `superlance oom_score_adj -a -s 500` fed RUNNING events naming a real child of ours (the
//!   action path: parent check, /proc read, write, read back, one log line per event);
//! - when a venv with supervisor exists, a Python listener on `supervisor.childutils`, the way
//!   superlance's listeners are written today;
//! - issue #3: `superlance crashmail -a -m ... --max-mails 0` three ways: fed expected exits
//!   (the no-mail path), and fed crashes (`expected:0`), each mailed while the events are
//!   answered, through a sendmail command (`sh -c` per mail) or over SMTP to a sink in this
//!   bench ([`SmtpSink`]). A mailing listener is stopped, with its sendmail commands, between
//!   its turns ([`Running::pause`]), so that its delivery work slows only its own answers.
//!
//! Each listener is driven in lock-step as supervisord drives one: a frame, then wait for
//! `RESULT 2\nOKREADY\n`, then the next frame. Within a round all variants run at once and
//! take turns in small chunks of events (order alternating), so a burst of noise from other
//! processes hits them alike; the medians over rounds are reported. Rounds run in each CPU
//! placement ([`Placement`]): the scheduler's choice of placement moves the figures more than
//! the listeners do, so it is fixed rather than left to chance. This is a benchmark, not a
//! test: it fails only when a child crashes, hangs or writes anything but the expected bytes;
//! the targets get a printed verdict.
//!
//! - issue #5: memmon's tick at 500 supervised programs, against supervisord's own answer
//!   (tests/bench/memmon.rs; `BENCH_ONLY=memmon` runs only that).
//! - issue 14: `superlance metrics` fed RUNNING events beside the floor, and one scrape at 500
//!   programs (tests/bench/metrics.rs; `BENCH_ONLY=metrics` runs the floor, the non-matching
//!   row, the metrics row and the scrape rows only).
//! - `BENCH_ONLY=soak`: instead of all the above, one million events through each listener
//!   with its memory sampled (issue #7; tests/bench/soak.rs).
//!
//! Knobs (environment): BENCH_EVENTS (events per round for the floor and the non-matching
//! listener), BENCH_SLOW_EVENTS (for the action and Python rows), BENCH_CRASH_EVENTS (for the
//! crashmail rows), BENCH_ROUNDS (per placement), BENCH_CHUNKS (turns per round),
//! BENCH_CRASH_TURNS (turns per round of the mailing rows), BENCH_SPAWNS (spawns per variant
//! for time to first READY), BENCH_PIN (placements, a list of same, split, off; default
//! same,split), BENCH_PYTHON (a python with supervisor 4 installed, instead of
//! <repo>/.venv/bin/python), BENCH_LOG_DIR (keep the listeners' logs there, one file per row).

mod channels;
mod closing_dot;
mod memmon;
mod metrics;
mod soak;
mod storm;

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::mem::ManuallyDrop;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

const MINIMAL_FLAG: &str = "--minimal-listener";
const READY: &[u8] = b"READY\n";
/// What superlance answers to an event: RESULT and the next READY in one write.
const ANSWER: &[u8] = b"RESULT 2\nOKREADY\n";
/// The score the action row sets; the bench resets it to 0 before each event.
const SCORE: i32 = 500;
/// A child that neither answers nor exits for this long is killed and reported.
const STALL: Duration = Duration::from_secs(15);

// The targets of issue #2 §4.
const TARGET_RATIO: f64 = 0.8;
const TARGET_READY_MS: f64 = 5.0;
const TARGET_RSS_MIB: f64 = 4.0;
// The target of issue #3: crash events answered per second, mail delivery going on.
const TARGET_CRASH_PER_S: f64 = 10_000.0;

/// A Python listener as superlance's are written today: childutils framing, the payload
/// parsed with childutils.get_headers, a name compared. It exits 0 at end of input (childutils
/// alone dies there with a KeyError on the empty header line).
const PYTHON_LISTENER: &str = r#"import sys
from supervisor import childutils

def main():
    programs = {"nomatch"}
    while True:
        try:
            headers, payload = childutils.listener.wait(sys.stdin, sys.stdout)
        except KeyError:
            return 0
        if headers["eventname"] == "PROCESS_STATE_RUNNING":
            fields = childutils.get_headers(payload)
            if fields["processname"] in programs:
                sys.stderr.write("would set the score of %s\n" % fields["pid"])
        childutils.listener.ok(sys.stdout)

sys.exit(main())
"#;

fn main() -> ExitCode {
    // cargo passes `--bench` (and any filter) to a harness=false bench: ignored.
    if std::env::args().nth(1).as_deref() == Some(MINIMAL_FLAG) {
        return match minimal_listener() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("minimal listener: {e}");
                ExitCode::FAILURE
            }
        };
    }
    match bench() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}

// ---------------------------------------------------------------------------------------
// The floor: a listener that only frames.

/// READY; then per event: the header line, `len` (counted in bytes) from it, the payload,
/// and `RESULT 2\nOKREADY\n` in one write(2). Buffered stdin with superlance's buffer size
/// (64 KiB), unbuffered stdout. Clean end of input between frames ends it.
fn minimal_listener() -> io::Result<()> {
    // SAFETY: fds 0 and 1 stay open for the life of the process; ManuallyDrop never closes them.
    let stdin = ManuallyDrop::new(unsafe { File::from_raw_fd(0) });
    // SAFETY: as above.
    let mut stdout = ManuallyDrop::new(unsafe { File::from_raw_fd(1) });
    let mut input = BufReader::with_capacity(64 * 1024, &*stdin);
    let mut line = Vec::with_capacity(256);
    let mut payload = Vec::with_capacity(4096);
    stdout.write_all(READY)?;
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        let len = header_len(&line).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("no len in {:?}", String::from_utf8_lossy(&line)),
            )
        })?;
        payload.resize(len, 0);
        input.read_exact(&mut payload)?;
        stdout.write_all(ANSWER)?;
    }
}

fn header_len(line: &[u8]) -> Option<usize> {
    let token = line
        .split(|b| b.is_ascii_whitespace())
        .find_map(|t| t.strip_prefix(b"len:"))?;
    std::str::from_utf8(token).ok()?.parse().ok()
}

// ---------------------------------------------------------------------------------------
// Variants, and the machinery that drives them.

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Floor,
    NoMatch,
    Action,
    Python,
    /// crashmail configured to mail, fed expected exits: acknowledged without a mail.
    NoMail,
    /// crashmail fed unexpected exits, each mailed through the sendmail command.
    CrashSendmail,
    /// The same, mailed over SMTP to the bench's sink ([`SmtpSink`]).
    CrashSmtp,
    /// The same with every kind of channel at once (issue 12): mail over SMTP, a webhook and
    /// a command, each with its own queue and delivery thread (tests/bench/channels.rs).
    CrashChannels,
    /// A batch mailer (issue #4) fed expected exits: nothing to collect.
    BatchQuiet,
    /// A batch mailer fed crashes: each line collected for the next batch (no TICK comes).
    BatchCollect,
    /// memmon or httpok (issue #5) fed RUNNING events: not acted on.
    WorkerQuiet,
    /// memmon or httpok fed TICK_5: each handed to its background worker (checks against an
    /// absent supervisord, so they fail fast and are coalesced while one runs).
    WorkerTick,
    /// metrics (issue 14) fed RUNNING events: each counted (a transition, the state, the pid)
    /// under the mutex its HTTP server shares.
    Metrics,
}

impl Kind {
    fn short(self) -> &'static str {
        match self {
            Kind::Floor => "floor",
            Kind::NoMatch => "nomatch",
            Kind::Action => "action",
            Kind::Python => "python",
            Kind::NoMail => "nomail",
            Kind::CrashSendmail => "crash-sendmail",
            Kind::CrashSmtp => "crash-smtp",
            Kind::CrashChannels => "crash-channels",
            Kind::BatchQuiet => "batch-quiet",
            Kind::BatchCollect => "batch-collect",
            Kind::WorkerQuiet => "worker-quiet",
            Kind::WorkerTick => "worker-tick",
            Kind::Metrics => "metrics",
        }
    }

    /// The event this variant is fed.
    fn shape(self) -> Shape {
        match self {
            Kind::Floor
            | Kind::NoMatch
            | Kind::Action
            | Kind::Python
            | Kind::WorkerQuiet
            | Kind::Metrics => Shape::Running,
            Kind::NoMail | Kind::BatchQuiet => Shape::Exited { expected: true },
            Kind::CrashSendmail | Kind::CrashSmtp | Kind::CrashChannels | Kind::BatchCollect => {
                Shape::Exited { expected: false }
            }
            Kind::WorkerTick => Shape::Tick,
        }
    }

    /// A listener that delivers mail in the background: stopped between its turns (see
    /// [`Running::pause`]).
    fn mails(self) -> bool {
        matches!(
            self,
            Kind::CrashSendmail | Kind::CrashSmtp | Kind::CrashChannels
        )
    }
}

struct Variant {
    kind: Kind,
    label: &'static str,
    program: PathBuf,
    args: Vec<String>,
    /// Extra environment (memmon and httpok need a SUPERVISOR_SERVER_URL).
    env: Vec<(&'static str, &'static str)>,
}

/// Kills a child that stops making progress, so that a hung listener fails the bench
/// instead of hanging it. Only the armed pid is ever signalled, and a child is disarmed
/// before it is reaped (both under the same lock): a reaped, maybe reused pid is never hit.
#[derive(Clone)]
struct Watchdog {
    armed: Arc<Mutex<Option<i32>>>,
    progress: Arc<AtomicU64>,
    fired: Arc<Mutex<Option<i32>>>,
}

impl Watchdog {
    fn start() -> Watchdog {
        let w = Watchdog {
            armed: Arc::new(Mutex::new(None)),
            progress: Arc::new(AtomicU64::new(0)),
            fired: Arc::new(Mutex::new(None)),
        };
        let me = w.clone();
        thread::spawn(move || {
            let mut seen = (None, u64::MAX);
            let mut since = Instant::now();
            loop {
                thread::sleep(Duration::from_millis(250));
                let Ok(armed) = me.armed.lock() else { return };
                let now = (*armed, me.progress.load(Ordering::Relaxed));
                if now != seen {
                    (seen, since) = (now, Instant::now());
                } else if let (Some(pid), true) = (now.0, since.elapsed() >= STALL) {
                    // SAFETY: kill(2) on a child of ours that is armed, hence not reaped.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                    if let Ok(mut f) = me.fired.lock() {
                        *f = Some(pid);
                    }
                    since = Instant::now();
                }
            }
        });
        w
    }

    fn arm(&self, pid: i32) {
        if let Ok(mut a) = self.armed.lock() {
            *a = Some(pid);
        }
    }

    fn tick(&self) {
        self.progress.fetch_add(1, Ordering::Relaxed);
    }

    fn disarm(&self) {
        if let Ok(mut a) = self.armed.lock() {
            *a = None;
        }
    }

    fn fired_on(&self, pid: i32) -> bool {
        self.fired.lock().is_ok_and(|f| *f == Some(pid))
    }
}

/// In the split placement, the CPU the children are moved to (usize::MAX: none).
static CHILD_CPU: AtomicUsize = AtomicUsize::new(usize::MAX);

/// sched_setaffinity(2) to one CPU; pid 0 is this thread.
fn pin(pid: i32, cpu: usize) -> io::Result<()> {
    pin_set(pid, &[cpu])
}

fn pin_set(pid: i32, cpus: &[usize]) -> io::Result<()> {
    // SAFETY: cpu_set_t is plain old data, for which zeroes are a valid (empty) value.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &cpu in cpus {
        // SAFETY: set is a valid cpu_set_t; CPU_SET checks the index against its size.
        unsafe { libc::CPU_SET(cpu, &mut set) };
    }
    // SAFETY: set is valid for reads of size_of::<cpu_set_t>() bytes.
    let r = unsafe { libc::sched_setaffinity(pid, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The CPUs this process may run on.
fn allowed_cpus() -> Vec<usize> {
    // SAFETY: as in `pin`.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: set is valid for writes of size_of::<cpu_set_t>() bytes.
    let r = unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if r != 0 {
        return Vec::new();
    }
    // SAFETY: set is a valid cpu_set_t; CPU_ISSET checks the index against its size.
    (0..libc::CPU_SETSIZE as usize)
        .filter(|&c| unsafe { libc::CPU_ISSET(c, &set) })
        .collect()
}

/// How a child ended, from wait4(2).
struct Ended {
    status: libc::c_int,
    maxrss_kib: u64,
    cpu: Duration,
}

impl Ended {
    fn describe(&self) -> String {
        if libc::WIFEXITED(self.status) {
            format!("exit status {}", libc::WEXITSTATUS(self.status))
        } else if libc::WIFSIGNALED(self.status) {
            format!("signal {}", libc::WTERMSIG(self.status))
        } else {
            format!("wait status {:#x}", self.status)
        }
    }

    fn clean(&self) -> bool {
        libc::WIFEXITED(self.status) && libc::WEXITSTATUS(self.status) == 0
    }
}

fn timeval(t: libc::timeval) -> Duration {
    Duration::from_secs(t.tv_sec.max(0) as u64) + Duration::from_micros(t.tv_usec.max(0) as u64)
}

/// wait4(2): the exit status, and the child's own peak RSS and CPU time.
fn reap(pid: i32) -> io::Result<Ended> {
    let mut status = 0;
    // SAFETY: rusage is plain old data, for which zeroes are a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: status and usage are valid for writes for the duration of the call.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r == pid {
            return Ok(Ended {
                status,
                // Linux reports ru_maxrss in KiB.
                maxrss_kib: usage.ru_maxrss.max(0) as u64,
                cpu: timeval(usage.ru_utime) + timeval(usage.ru_stime),
            });
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// One spawned listener with its pipes. Dropped before `finish`, it is killed and reaped.
struct Running {
    pid: i32,
    stdin: Option<ChildStdin>,
    stdout: ChildStdout,
    label: &'static str,
    dog: Watchdog,
    reaped: bool,
    /// Events answered, and the time spent in their round trips.
    events: u64,
    busy: Duration,
}

impl Running {
    fn spawn(v: &Variant, dog: &Watchdog) -> Result<Running, String> {
        // Logs (crashmail writes a line per crash) go nowhere, or for a look at what the
        // listeners said, to BENCH_LOG_DIR/<row>.log, appended.
        let stderr = match std::env::var_os("BENCH_LOG_DIR") {
            Some(dir) => {
                let path = Path::new(&dir).join(format!("{}.log", v.kind.short()));
                let file = fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
                    .map_err(|e| format!("BENCH_LOG_DIR: cannot open {}: {e}", path.display()))?;
                Stdio::from(file)
            }
            None => Stdio::null(),
        };
        let mut child: Child = Command::new(&v.program)
            .args(&v.args)
            .envs(v.env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("{}: cannot spawn {}: {e}", v.label, v.program.display()))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("{}: spawned without pipes", v.label));
        };
        let pid = child.id() as i32;
        let cpu = CHILD_CPU.load(Ordering::Relaxed);
        if cpu != usize::MAX {
            // The child may run a moment on the bench's CPU before this lands; it is still
            // starting then.
            if let Err(e) = pin(pid, cpu) {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{}: cannot pin to CPU {cpu}: {e}", v.label));
            }
        }
        dog.arm(pid);
        // From here on the child is reaped by wait4 (for its rusage), never through `child`.
        drop(child);
        Ok(Running {
            pid,
            stdin: Some(stdin),
            stdout,
            label: v.label,
            dog: dog.clone(),
            reaped: false,
            events: 0,
            busy: Duration::ZERO,
        })
    }

    /// Read exactly `want` from the child's stdout, or say what came instead.
    fn expect(&mut self, want: &[u8]) -> Result<(), String> {
        let mut buf = [0u8; 64];
        let mut got = 0;
        while got < want.len() {
            match self.stdout.read(&mut buf[got..want.len()]) {
                Ok(0) => {
                    return Err(self.fail(format!(
                        "stdout closed after {:?} while waiting for {:?}",
                        String::from_utf8_lossy(&buf[..got]),
                        String::from_utf8_lossy(want)
                    )))
                }
                Ok(n) => {
                    got += n;
                    if buf[..got] != want[..got] {
                        return Err(self.fail(format!(
                            "wrote {:?} where {:?} was expected",
                            String::from_utf8_lossy(&buf[..got]),
                            String::from_utf8_lossy(want)
                        )));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.fail(format!("reading its stdout: {e}"))),
            }
        }
        Ok(())
    }

    /// One lock-step round trip, timed: the frame written, the exact answer read.
    fn event(&mut self, frame: &[u8]) -> Result<(), String> {
        let t = Instant::now();
        let sent = match self.stdin.as_mut() {
            Some(stdin) => stdin.write_all(frame),
            None => Err(io::ErrorKind::BrokenPipe.into()),
        };
        if let Err(e) = sent {
            return Err(self.fail(format!("writing a frame to it: {e}")));
        }
        self.expect(ANSWER)?;
        self.busy += t.elapsed();
        self.events += 1;
        self.dog.tick();
        Ok(())
    }

    /// Stop a mailing listener after its turn, with everything it started: SIGSTOP to the
    /// listener (all its threads, the delivery worker too), then to each of its
    /// descendants, a sendmail command in flight included. So its delivery work runs in its
    /// own turns only, where it competes with its answers, and never in another row's.
    /// Only the children of a stopped process are signalled: none of them can be reaped,
    /// so none of their pids can have been reused.
    fn pause(&mut self) -> Result<(), String> {
        self.signal(libc::SIGSTOP)?;
        let deadline = Instant::now() + SETTLE;
        let mut frontier = vec![self.pid];
        while let Some(pid) = frontier.pop() {
            if !wait_stopped(pid, deadline) {
                SETTLE_TIMEOUTS.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            for child in children(pid) {
                // SAFETY: kill(2) on a child of a stopped process: it cannot be reaped.
                unsafe { libc::kill(child, libc::SIGSTOP) };
                frontier.push(child);
            }
        }
        Ok(())
    }

    /// Continue after [`Running::pause`]: the descendants first, then the listener.
    fn resume(&mut self) -> Result<(), String> {
        let mut tree = Vec::new();
        let mut frontier = children(self.pid);
        while let Some(pid) = frontier.pop() {
            frontier.extend(children(pid));
            tree.push(pid);
        }
        for pid in tree.into_iter().rev() {
            // SAFETY: kill(2) on a descendant whose parent is still stopped (parents are
            // continued after their children): it cannot have been reaped.
            unsafe { libc::kill(pid, libc::SIGCONT) };
        }
        self.signal(libc::SIGCONT)
    }

    fn signal(&mut self, sig: libc::c_int) -> Result<(), String> {
        // SAFETY: kill(2) on our own child, not reaped yet.
        if unsafe { libc::kill(self.pid, sig) } == 0 {
            Ok(())
        } else {
            let e = io::Error::last_os_error();
            Err(self.fail(format!("cannot send it signal {sig}: {e}")))
        }
    }

    /// Kill and reap after a fault; the message says what happened and how the child ended.
    fn fail(&mut self, what: String) -> String {
        self.stdin = None;
        // SAFETY: kill(2) on our own child, not reaped yet (that happens right below).
        unsafe { libc::kill(self.pid, libc::SIGKILL) };
        let stalled = self.dog.fired_on(self.pid);
        self.dog.disarm();
        self.reaped = true;
        let how = match reap(self.pid) {
            Ok(end) => end.describe(),
            Err(e) => format!("an error from wait4: {e}"),
        };
        let note = if stalled {
            format!(
                " (no answer for {} s: killed by the watchdog)",
                STALL.as_secs()
            )
        } else {
            String::new()
        };
        format!(
            "{} (pid {}) misbehaved: {what}; it ended with {how}{note}",
            self.label, self.pid
        )
    }

    /// Close stdin (clean end of input), check that nothing more is written and that the
    /// child exits 0, and reap it.
    fn finish(mut self) -> Result<Ended, String> {
        self.stdin = None;
        self.dog.arm(self.pid);
        let mut extra = [0u8; 64];
        loop {
            match self.stdout.read(&mut extra) {
                Ok(0) => break,
                Ok(n) => {
                    return Err(self.fail(format!(
                        "wrote {:?} after its last answer",
                        String::from_utf8_lossy(&extra[..n])
                    )))
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.fail(format!("reading its stdout: {e}"))),
            }
        }
        self.dog.disarm();
        self.reaped = true;
        let end = reap(self.pid).map_err(|e| format!("{}: wait4: {e}", self.label))?;
        if !end.clean() {
            let how = if self.dog.fired_on(self.pid) {
                format!(
                    "did not exit within {} s: killed by the watchdog",
                    STALL.as_secs()
                )
            } else {
                format!("ended with {} instead of exit status 0", end.describe())
            };
            return Err(format!(
                "{} (pid {}) misbehaved: at end of input it {how}",
                self.label, self.pid
            ));
        }
        Ok(end)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if !self.reaped {
            self.stdin = None;
            // SAFETY: kill(2) on our own child, not reaped yet.
            unsafe { libc::kill(self.pid, libc::SIGKILL) };
            self.dog.disarm();
            let _ = reap(self.pid);
        }
    }
}

/// The event a variant is fed.
#[derive(Clone, Copy)]
enum Shape {
    /// PROCESS_STATE_RUNNING, from STARTING.
    Running,
    /// PROCESS_STATE_EXITED, from RUNNING, with `expected:1` or `expected:0` (a crash).
    Exited { expected: bool },
    /// TICK_5, five seconds after the last.
    Tick,
}

/// A PROCESS_STATE_RUNNING or _EXITED (or TICK_5) frame as supervisord 4 writes it: header and payload
/// together.
struct Frames {
    frame: Vec<u8>,
    payload: Vec<u8>,
}

impl Frames {
    fn make(&mut self, shape: Shape, n: u64, pid: u32) -> &[u8] {
        self.payload.clear();
        // A program named `cat` as in Supervisor's docs: never selected by `-p nomatch`.
        let eventname = match shape {
            Shape::Running => {
                let _ = write!(
                    self.payload,
                    "processname:cat groupname:cat from_state:STARTING pid:{pid}"
                );
                "PROCESS_STATE_RUNNING"
            }
            Shape::Exited { expected } => {
                let _ = write!(
                    self.payload,
                    "processname:cat groupname:cat from_state:RUNNING expected:{} pid:{pid}",
                    u8::from(expected)
                );
                "PROCESS_STATE_EXITED"
            }
            Shape::Tick => {
                let _ = write!(self.payload, "when:{}", 1_700_000_000 + n * 5);
                "TICK_5"
            }
        };
        self.frame.clear();
        // Other pools get events too: the global serial runs ahead of this pool's poolserial.
        let _ = writeln!(
            self.frame,
            "ver:3.0 server:supervisor serial:{} pool:listener poolserial:{n} eventname:{eventname} len:{}",
            n * 3 + 17,
            self.payload.len()
        );
        self.frame.extend_from_slice(&self.payload);
        &self.frame
    }
}

fn score(pid: u32) -> io::Result<i32> {
    let text = fs::read_to_string(format!("/proc/{pid}/oom_score_adj"))?;
    text.trim()
        .parse()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{text:?}: {e}")))
}

fn set_score(pid: u32, value: i32) -> io::Result<()> {
    fs::write(format!("/proc/{pid}/oom_score_adj"), format!("{value}\n"))
}

/// The peak RSS of the process's current address space (since its exec).
fn vm_hwm_kib(pid: i32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()
}

/// How long [`Running::pause`] waits for a listener and its children to stop.
const SETTLE: Duration = Duration::from_millis(100);
/// Pauses that gave up waiting for a process to stop (reported: it may have slowed another
/// row).
static SETTLE_TIMEOUTS: AtomicU64 = AtomicU64::new(0);

/// The state letter of a task, from its `stat` file (`R`, `S`, `D`, `T`, `Z`, ...).
fn task_state(stat: &Path) -> Option<u8> {
    let text = fs::read(stat).ok()?;
    let close = text.iter().rposition(|&b| b == b')')?;
    text.get(close + 2).copied()
}

/// Wait until every thread of `pid` is stopped (or has exited); false at the deadline.
fn wait_stopped(pid: i32, deadline: Instant) -> bool {
    loop {
        let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
            return true; // gone
        };
        let stopped = tasks.flatten().all(|t| {
            matches!(
                task_state(&t.path().join("stat")),
                None | Some(b'T' | b't' | b'Z' | b'X' | b'x')
            )
        });
        if stopped {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_micros(50));
    }
}

/// The children of every thread of `pid`.
fn children(pid: i32) -> Vec<i32> {
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|t| fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|list| {
            list.split_whitespace()
                .filter_map(|c| c.parse().ok())
                .collect::<Vec<i32>>()
        })
        .collect()
}

/// The user+system CPU time of all threads of `pid` so far, living and ended, without its
/// children (`/proc/<pid>/stat`, in clock ticks: 10 ms steps).
fn proc_cpu(pid: i32) -> Option<Duration> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = text.rsplit_once(')')?;
    // After the comm field: state is field 3, utime 14, stime 15.
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    // SAFETY: sysconf has no memory effects.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (hz > 0).then(|| Duration::from_secs_f64((utime + stime) as f64 / hz as f64))
}

// ---------------------------------------------------------------------------------------
// Where the crash rows' mail goes.

/// The sinks of the mailing rows: a file that the sendmail command appends a byte to per
/// mail, and a local SMTP server.
struct Sinks {
    count_file: tempfile::NamedTempFile,
    smtp: Option<SmtpSink>,
    /// The every-channel row's (issue 12).
    channels: Option<channels::Sinks>,
}

impl Sinks {
    /// Zero the counts, before a round.
    fn reset(&self) -> Result<(), String> {
        self.count_file
            .as_file()
            .set_len(0)
            .map_err(|e| format!("cannot empty {}: {e}", self.count_file.path().display()))?;
        if let Some(smtp) = &self.smtp {
            smtp.received.store(0, Ordering::Relaxed);
        }
        match &self.channels {
            Some(c) => c.reset(),
            None => Ok(()),
        }
    }

    /// The mails delivered so far this round by a mailing row.
    fn count(&self, kind: Kind) -> u64 {
        match (kind, &self.smtp) {
            (Kind::CrashSendmail, _) => fs::metadata(self.count_file.path()).map_or(0, |m| m.len()),
            (Kind::CrashSmtp, Some(smtp)) => smtp.received.load(Ordering::Relaxed),
            (Kind::CrashChannels, _) => self.channels.as_ref().map_or(0, channels::Sinks::count),
            _ => 0,
        }
    }
}

/// A local SMTP server that takes every mail and throws it away, with just enough of the
/// protocol for lettre without TLS: 220 on connect, 354 to DATA, 250 after the closing `.`,
/// 221 to QUIT, 250 to anything else (EHLO, MAIL, RCPT). One connection at a time, as the
/// delivery worker sends one mail at a time. It runs as a thread of the bench, started for
/// each round, so it shares the bench's CPU in every placement, as a local MTA would share
/// the machine with supervisord.
struct SmtpSink {
    listener: TcpListener,
    addr: SocketAddr,
    received: Arc<AtomicU64>,
}

impl SmtpSink {
    fn bind() -> Result<SmtpSink, String> {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .map_err(|e| format!("SMTP sink: cannot listen on 127.0.0.1: {e}"))?;
        let addr = listener
            .local_addr()
            .map_err(|e| format!("SMTP sink: {e}"))?;
        Ok(SmtpSink {
            listener,
            addr,
            received: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Serve until the returned guard is dropped; the thread inherits this thread's CPUs.
    fn serve(&self) -> Result<Serving, String> {
        let listener = self
            .listener
            .try_clone()
            .map_err(|e| format!("SMTP sink: {e}"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let (received, stopping) = (Arc::clone(&self.received), Arc::clone(&stop));
        let handle = thread::Builder::new()
            .name("smtp-sink".into())
            .spawn(move || {
                for stream in listener.incoming() {
                    if stopping.load(Ordering::Relaxed) {
                        return;
                    }
                    // A broken session is the listener's to report (it retries the mail).
                    if let Ok(stream) = stream {
                        let _ = smtp_session(stream, &received);
                    }
                }
            })
            .map_err(|e| format!("SMTP sink: cannot start its thread: {e}"))?;
        Ok(Serving {
            stop,
            addr: self.addr,
            handle: Some(handle),
        })
    }
}

/// A running [`SmtpSink`]; dropped, it stops it.
struct Serving {
    stop: Arc<AtomicBool>,
    addr: SocketAddr,
    handle: Option<thread::JoinHandle<()>>,
}

impl Drop for Serving {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the blocked accept.
        let _ = TcpStream::connect(self.addr);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Acknowledge what arrives at once. lettre 0.11.23 writes a message's body and its closing
/// `.` in two writes without TCP_NODELAY, so Nagle holds the `.` until the body is
/// acknowledged; a server that delays its ACK (Linux: 40 ms) costs 40 ms per mail, and the
/// worker would spend its turns waiting instead of working (docs/performance.md). superlance's
/// transport now writes both in one (tests/bench/closing_dot.rs measures it against a server
/// without this); the sink keeps acknowledging at once, so that its figures compare with the
/// earlier runs'.
fn quickack(stream: &TcpStream) {
    let on: libc::c_int = 1;
    // SAFETY: a valid socket and a c_int option value that outlives the call.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_QUICKACK,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
}

fn smtp_session(stream: TcpStream, received: &AtomicU64) -> io::Result<()> {
    stream.set_nodelay(true)?;
    // A client that goes silent (a listener killed mid-session closes the socket) does not
    // hold the sink forever.
    stream.set_read_timeout(Some(STALL))?;
    let mut out = stream.try_clone()?;
    let mut input = BufReader::new(stream);
    let mut line = Vec::with_capacity(256);
    out.write_all(b"220 bench-sink ESMTP\r\n")?;
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        let verb = line.get(..4).map(<[u8]>::to_ascii_uppercase);
        match verb.as_deref() {
            Some(b"DATA") => {
                out.write_all(b"354 end with <CRLF>.<CRLF>\r\n")?;
                quickack(&out);
                loop {
                    line.clear();
                    if input.read_until(b'\n', &mut line)? == 0 {
                        return Ok(());
                    }
                    if line == b".\r\n" || line == b".\n" {
                        break;
                    }
                }
                received.fetch_add(1, Ordering::Relaxed);
                out.write_all(b"250 2.0.0 taken\r\n")?;
            }
            Some(b"QUIT") => {
                out.write_all(b"221 2.0.0 bye\r\n")?;
                return Ok(());
            }
            _ => out.write_all(b"250 ok\r\n")?,
        }
    }
}

/// The figures of one variant in one round.
struct RunFigures {
    events_per_s: f64,
    /// From wait4 (the whole life, reaped children included); for a mailing listener, its
    /// own threads' CPU up to its last answer instead (see [`proc_cpu`]).
    cpu: Duration,
    hwm_kib: u64,
    maxrss_kib: u64,
    /// Mailing rows: mails that reached the sink during the row's turns, and after its last
    /// answer (the queue delivered at end of input).
    mails: Option<(u64, u64)>,
}

/// The events of chunk `c` (of `chunks`) for a variant that takes `turns` turns of `count`
/// events in all, spread evenly over the chunks; 0 in chunks where it has no turn.
fn share(count: u64, c: u64, turns: u64, chunks: u64) -> u64 {
    let turns = turns.clamp(1, chunks);
    let (from, to) = (c * turns / chunks, (c + 1) * turns / chunks);
    count * to / turns - count * from / turns
}

/// One round: every variant spawned, `counts[i]` events fed to variant `i` in `chunks` turns
/// (order alternating; a mailing row in `crash_turns` longer ones, see
/// docs/performance.md), then every variant ended cleanly. For the action row, `target` is
/// the child whose score the listener sets; the bench resets it to 0 before each event,
/// outside the timed round trip, so that every event takes the write path. A mailing
/// listener is stopped between its turns ([`Running::pause`]) and counts its mails in
/// `sinks`.
fn round(
    variants: &[Variant],
    counts: &[u64],
    chunks: u64,
    crash_turns: u64,
    target: u32,
    dog: &Watchdog,
    sinks: &Sinks,
) -> Result<Vec<RunFigures>, String> {
    // Declared before `live`, so dropped after it: every listener is gone when it stops.
    let serving = match (
        &sinks.smtp,
        variants.iter().any(|v| v.kind == Kind::CrashSmtp),
    ) {
        (Some(smtp), true) => Some(smtp.serve()?),
        _ => None,
    };
    let serving_channels = match (
        &sinks.channels,
        variants.iter().any(|v| v.kind == Kind::CrashChannels),
    ) {
        (Some(c), true) => Some(c.serve()?),
        _ => None,
    };
    sinks.reset()?;
    let mut live = Vec::with_capacity(variants.len());
    for v in variants {
        let mut r = Running::spawn(v, dog)?;
        r.expect(READY)?;
        live.push(r);
    }
    let mut frames = Frames {
        frame: Vec::with_capacity(256),
        payload: Vec::with_capacity(128),
    };
    for c in 0..chunks {
        let mut order: Vec<usize> = (0..variants.len()).collect();
        if c % 2 == 1 {
            order.reverse();
        }
        for i in order {
            let r = &mut live[i];
            let kind = variants[i].kind;
            let action = kind == Kind::Action;
            r.dog.arm(r.pid);
            let turns = if kind.mails() { crash_turns } else { chunks };
            let share = share(counts[i], c, turns, chunks);
            if share == 0 {
                continue;
            }
            if kind.mails() {
                r.resume()?;
            }
            for _ in 0..share {
                let n = r.events;
                let pid = if action {
                    if let Err(e) = set_score(target, 0) {
                        return Err(r.fail(format!("resetting the score of {target}: {e}")));
                    }
                    target
                } else {
                    // Plausible pids of programs that come and go.
                    2000 + (n * 7919 % 60000) as u32
                };
                r.event(frames.make(kind.shape(), n, pid))?;
            }
            if kind.mails() {
                r.pause()?;
            }
        }
    }
    // What the turns did, read while every listener waits for its next event.
    let mut taken = Vec::with_capacity(live.len());
    for (v, r) in variants.iter().zip(&mut live) {
        if v.kind == Kind::Action {
            match score(target) {
                Ok(SCORE) => {}
                other => {
                    return Err(r.fail(format!(
                        "after its last event /proc/{target}/oom_score_adj reads {other:?}, not {SCORE}"
                    )))
                }
            }
        }
        // See docs/performance.md for why wait4's ru_maxrss alone is not enough.
        let hwm_kib = vm_hwm_kib(r.pid).unwrap_or(0);
        let (cpu, mails) = if v.kind.mails() {
            let cpu = proc_cpu(r.pid);
            let mails = sinks.count(v.kind);
            r.resume()?;
            (cpu, Some((mails, 0)))
        } else {
            (None, None)
        };
        // End of input for all at once: the mailing listeners deliver their queues
        // together (up to the 5 s grace each), not one after the other.
        r.stdin = None;
        taken.push((r.events, r.busy, hwm_kib, cpu, mails));
    }
    let mut figures = Vec::with_capacity(live.len());
    for (r, (events, busy, hwm_kib, cpu, mails)) in live.into_iter().zip(taken) {
        let end = r.finish()?;
        figures.push(RunFigures {
            events_per_s: events as f64 / busy.as_secs_f64(),
            cpu: cpu.unwrap_or(end.cpu),
            hwm_kib,
            maxrss_kib: end.maxrss_kib,
            mails,
        });
    }
    drop(serving);
    drop(serving_channels);
    for (v, f) in variants.iter().zip(&mut figures) {
        if let Some((during, after)) = f.mails.as_mut() {
            *after = sinks.count(v.kind).saturating_sub(*during);
        }
    }
    Ok(figures)
}

/// Spawn → `READY\n` read; then end it cleanly. Also returns the CPU time the child used.
fn first_ready(v: &Variant, dog: &Watchdog) -> Result<(Duration, Duration), String> {
    let t = Instant::now();
    let mut child = Running::spawn(v, dog)?;
    child.expect(READY)?;
    let took = t.elapsed();
    let end = child.finish()?;
    Ok((took, end.cpu))
}

/// `sleep 600`, our child: the target of the action row. Killed and reaped on drop.
struct Sleeper(Child);

impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

// ---------------------------------------------------------------------------------------
// The run.

fn env_u64(name: &str, default: u64) -> Result<u64, String> {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| format!("{name}={v:?}: expected a whole number > 0")),
        Err(_) => Ok(default),
    }
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// One variant's figures over the whole run: per placement, then independent of it.
#[derive(Default)]
struct Tally {
    events_per_s: Vec<Vec<f64>>,
    ratio: Vec<Vec<f64>>,
    cpu_us_per_event: Vec<Vec<f64>>,
    /// Mailing rows: mails delivered during the turns, the same per second of round trips,
    /// mails delivered at end of input.
    mails: Vec<Vec<(f64, f64, f64)>>,
    ready_ms: Vec<f64>,
    startup_cpu_ms: Vec<f64>,
    hwm_kib: u64,
    maxrss_kib: u64,
}

/// Where the bench and its listeners run (BENCH_PIN). A lock-step round trip takes a few
/// microseconds when the driver and the listener share a CPU, and several times that when
/// each wake-up crosses CPUs; left to the scheduler, the placement flips between the two
/// from round to round and swamps what the listeners themselves cost (docs/performance.md).
#[derive(Clone, Copy)]
enum Placement {
    /// The bench and every listener on one CPU: each round trip is the CPU work of both
    /// sides, so a listener's own cost shows fully. The strict view.
    Same(usize),
    /// The bench on one CPU, the listeners on another: every answer and every frame is a
    /// cross-CPU wake-up, as with supervisord and a listener on two idle cores.
    Split(usize, usize),
    /// Left to the scheduler (noisy; for comparison only).
    Off,
}

impl Placement {
    fn parse_list(text: &str, cpus: &[usize]) -> Result<Vec<Placement>, String> {
        let mut out = Vec::new();
        for word in text.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            out.push(match (word, cpus) {
                ("same", [.., last]) => Placement::Same(*last),
                ("split", [.., a, b]) => Placement::Split(*a, *b),
                ("off", _) => Placement::Off,
                ("same" | "split", _) => {
                    return Err(format!(
                        "BENCH_PIN: {word} needs more CPUs than the {cpus:?} allowed"
                    ))
                }
                _ => {
                    return Err(format!(
                        "BENCH_PIN: {word:?} is not one of same, split, off"
                    ))
                }
            });
        }
        if out.is_empty() {
            return Err("BENCH_PIN is empty (try same,split)".into());
        }
        Ok(out)
    }

    fn name(self) -> &'static str {
        match self {
            Placement::Same(_) => "same CPU",
            Placement::Split(..) => "split CPUs",
            Placement::Off => "unpinned",
        }
    }

    fn describe(self) -> String {
        match self {
            Placement::Same(c) => format!("same CPU: the bench and every listener on CPU {c}"),
            Placement::Split(a, b) => {
                format!("split CPUs: the bench on CPU {a}, every listener on CPU {b}")
            }
            Placement::Off => "unpinned: left to the scheduler".into(),
        }
    }

    /// Pin this thread (children inherit it) and set where new children go.
    fn apply(self, all: &[usize]) -> Result<(), String> {
        let (me, child) = match self {
            Placement::Same(c) => (vec![c], usize::MAX),
            Placement::Split(a, b) => (vec![a], b),
            Placement::Off => (all.to_vec(), usize::MAX),
        };
        pin_set(0, &me).map_err(|e| format!("cannot pin the bench to CPUs {me:?}: {e}"))?;
        CHILD_CPU.store(child, Ordering::Relaxed);
        Ok(())
    }
}

/// The Python for the reference row, if there is one with supervisor installed.
fn python() -> Result<Option<PathBuf>, String> {
    let candidate = match std::env::var_os("BENCH_PYTHON") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python"),
    };
    if !candidate.exists() {
        return Ok(None);
    }
    let ok = Command::new(&candidate)
        .args(["-c", "import supervisor.childutils"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("cannot run {}: {e}", candidate.display()))?
        .success();
    if ok {
        Ok(Some(candidate))
    } else {
        Err(format!(
            "{} cannot import supervisor.childutils (run tests/setup.sh, or unset BENCH_PYTHON)",
            candidate.display()
        ))
    }
}

fn bench() -> Result<(), String> {
    if std::env::var("BENCH_ONLY").as_deref() == Ok("memmon") {
        print_machine();
        return memmon::bench().map(|_| ());
    }
    if std::env::var("BENCH_ONLY").as_deref() == Ok("smtp") {
        print_machine();
        return closing_dot::bench(Path::new(env!("CARGO_BIN_EXE_superlance")));
    }
    if std::env::var("BENCH_ONLY").as_deref() == Ok("storm") {
        // issue 15: a million crashes with the mail server down (tests/bench/storm.rs).
        print_machine();
        return storm::bench(Path::new(env!("CARGO_BIN_EXE_superlance"))).map(|_| ());
    }
    if std::env::var("BENCH_ONLY").as_deref() == Ok("soak") {
        print_machine();
        let bin = PathBuf::from(env!("CARGO_BIN_EXE_superlance"));
        let out = Command::new(&bin)
            .arg("--list")
            .output()
            .map_err(|e| format!("{}: {e}", bin.display()))?;
        let names: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect();
        return soak::bench(&bin, &names).map(|_| ());
    }
    let events = env_u64("BENCH_EVENTS", 100_000)?;
    let slow_events = env_u64("BENCH_SLOW_EVENTS", (events / 5).max(1))?;
    let crash_events = env_u64("BENCH_CRASH_EVENTS", slow_events)?;
    let crash_turns = env_u64("BENCH_CRASH_TURNS", 5)?;
    let rounds = env_u64("BENCH_ROUNDS", 3)?;
    let chunks = env_u64("BENCH_CHUNKS", 50)?;
    let spawns = env_u64("BENCH_SPAWNS", 30)?;
    let cpus = allowed_cpus();
    let placements = Placement::parse_list(
        &std::env::var("BENCH_PIN").unwrap_or_else(|_| {
            if cpus.len() >= 2 {
                "same,split"
            } else {
                "same"
            }
            .into()
        }),
        &cpus,
    )?;
    placements[0].apply(&cpus)?;
    let dog = &Watchdog::start();

    let me = std::env::current_exe().map_err(|e| format!("cannot find this executable: {e}"))?;
    // Built by cargo with this bench's profile, `bench`, which inherits `release`.
    let superlance = PathBuf::from(env!("CARGO_BIN_EXE_superlance"));
    let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let mut variants = vec![
        Variant {
            kind: Kind::Floor,
            label: "floor: minimal framing listener",
            program: me,
            args: args(&[MINIMAL_FLAG]),
            env: Vec::new(),
        },
        Variant {
            kind: Kind::NoMatch,
            label: "superlance oom_score_adj -p nomatch -s 500: no match",
            program: superlance.clone(),
            args: args(&["oom_score_adj", "-p", "nomatch", "-s", "500"]),
            env: Vec::new(),
        },
        Variant {
            kind: Kind::Action,
            label: "superlance oom_score_adj -a -s 500: sets the score",
            program: superlance.clone(),
            args: args(&["oom_score_adj", "-a", "-s", "500"]),
            env: Vec::new(),
        },
    ];
    let script = tempfile::Builder::new()
        .prefix("bench-childutils-")
        .suffix(".py")
        .tempfile()
        .map_err(|e| format!("cannot create the Python listener script: {e}"))?;
    let python_note = match python()? {
        Some(py) => {
            fs::write(script.path(), PYTHON_LISTENER)
                .map_err(|e| format!("cannot write {}: {e}", script.path().display()))?;
            let note = format!("python row: {} with supervisor.childutils", py.display());
            variants.push(Variant {
                kind: Kind::Python,
                label: "python supervisor.childutils listener: no match",
                program: py,
                args: vec![script.path().display().to_string()],
                env: Vec::new(),
            });
            note
        }
        None => format!(
            "python row skipped: no {}/.venv/bin/python (tests/setup.sh creates it) and no BENCH_PYTHON",
            env!("CARGO_MANIFEST_DIR")
        ),
    };
    // The crashmail rows. All three run the same listener, configured to mail every crash
    // (`--max-mails 0`: flood control off), so the rows differ only in the events they get
    // and where the mail goes.
    let (smtp, smtp_note) = match SmtpSink::bind() {
        Ok(sink) => {
            let note = format!("smtp row: SINK is the bench's SMTP sink at {}", sink.addr);
            (Some(sink), note)
        }
        Err(e) => (None, format!("smtp row skipped: {e}")),
    };
    let sinks = Sinks {
        count_file: tempfile::Builder::new()
            .prefix("bench-sendmail-count-")
            .tempfile()
            .map_err(|e| format!("cannot create the sendmail count file: {e}"))?,
        smtp,
        channels: match channels::Sinks::bind() {
            Ok(c) => Some(c),
            Err(e) => {
                println!("every-channel row skipped: {e}");
                None
            }
        },
    };
    // The sendmail command reads the mail and appends one byte per mail to the count file.
    let sendmail = format!(
        "cat >/dev/null; printf . >>'{}'",
        sinks.count_file.path().display()
    );
    let crashmail = |more: &[&str]| {
        let mut a = args(&[
            "crashmail",
            "-a",
            "-m",
            "ops@example.com",
            "--max-mails",
            "0",
        ]);
        a.extend(more.iter().map(|s| s.to_string()));
        a
    };
    variants.push(Variant {
        kind: Kind::NoMail,
        label: "superlance crashmail -a -m ops@example.com --max-mails 0 -s SINK: expected exits, no mail",
        program: superlance.clone(),
        args: crashmail(&["-s", &sendmail]),
        env: Vec::new(),
    });
    variants.push(Variant {
        kind: Kind::CrashSendmail,
        label: "superlance crashmail -a -m ops@example.com --max-mails 0 -s SINK: crashes, mailed via sendmail command",
        program: superlance.clone(),
        args: crashmail(&["-s", &sendmail]),
        env: Vec::new(),
    });
    if let Some(smtp) = &sinks.smtp {
        variants.push(Variant {
            kind: Kind::CrashSmtp,
            label: "superlance crashmail -a -m ops@example.com --max-mails 0 --smtp-host SINK --smtp-tls none: crashes, mailed via SMTP",
            program: superlance.clone(),
            args: crashmail(&["--smtp-host", &smtp.addr.to_string(), "--smtp-tls", "none"]),
            env: Vec::new(),
        });
    }
    if let Some(c) = &sinks.channels {
        let mut more = args(&[]);
        more.extend(c.args());
        let more: Vec<&str> = more.iter().map(String::as_str).collect();
        variants.push(Variant {
            kind: Kind::CrashChannels,
            label: "superlance crashmail -a -m ops@example.com --max-mails 0 --smtp-host SINK --smtp-tls none --webhook URL --command CMD: crashes, each sent by mail, webhook and command",
            program: superlance.clone(),
            args: crashmail(&more),
            env: Vec::new(),
        });
    }
    // Issues #4 and #5: the batch mailers, memmon and httpok, each on its quiet path and its
    // action path.
    for (name, batch) in [
        ("crashmailbatch", true),
        ("crashsms", true),
        ("fatalmailbatch", true),
        ("memmon", false),
        ("httpok", false),
    ] {
        let (quiet, act, argv): (&'static str, &'static str, Vec<String>) = match name {
            "crashmailbatch" => ("superlance crashmailbatch -t .. -f .. --sendmail_program SINK: expected exits", "superlance crashmailbatch: crashes, collected for the next batch", args(&["crashmailbatch", "-t", "ops@example.com", "-f", "sv@example.com", "--sendmail_program", &sendmail])),
            "crashsms" => ("superlance crashsms -t .. -f .. --sendmail_program SINK: expected exits", "superlance crashsms: crashes, collected for the next batch", args(&["crashsms", "-t", "ops@example.com", "-f", "sv@example.com", "--sendmail_program", &sendmail])),
            // fatalmailbatch reports FATAL only: exits of either kind are its quiet path, and
            // its action path is measured on crashes' shape by crashmailbatch.
            "fatalmailbatch" => ("superlance fatalmailbatch -t .. -f .. --sendmail_program SINK: exits (it reports FATAL)", "", args(&["fatalmailbatch", "-t", "ops@example.com", "-f", "sv@example.com", "--sendmail_program", &sendmail])),
            "memmon" => ("superlance memmon -a 100GB: RUNNING events (not acted on)", "superlance memmon -a 100GB: TICK_5, each handed to its worker", args(&["memmon", "-a", "100GB"])),
            _ => ("superlance httpok -a URL: RUNNING events (not acted on)", "superlance httpok -a URL: TICK_5, each handed to its worker", args(&["httpok", "-a", "http://127.0.0.1:9/"])),
        };
        let env = if batch {
            Vec::new()
        } else {
            vec![(
                "SUPERVISOR_SERVER_URL",
                "unix:///nonexistent/supervisor.sock",
            )]
        };
        variants.push(Variant {
            kind: if batch {
                Kind::BatchQuiet
            } else {
                Kind::WorkerQuiet
            },
            label: quiet,
            program: superlance.clone(),
            args: argv.clone(),
            env: env.clone(),
        });
        if !act.is_empty() {
            variants.push(Variant {
                kind: if batch {
                    Kind::BatchCollect
                } else {
                    Kind::WorkerTick
                },
                label: act,
                program: superlance.clone(),
                args: argv,
                env,
            });
        }
    }
    // Issue 14: the metrics listener, on a port of its own choosing.
    variants.push(Variant {
        kind: Kind::Metrics,
        label: "superlance metrics --listen 127.0.0.1:0: RUNNING events (counted)",
        program: superlance.clone(),
        args: args(&["metrics", "--listen", "127.0.0.1:0"]),
        env: Vec::new(),
    });
    // BENCH_ONLY=metrics: the floor, the non-matching row and metrics, then the scrape rows.
    let only_metrics = std::env::var("BENCH_ONLY").as_deref() == Ok("metrics");
    if only_metrics {
        variants.retain(|v| matches!(v.kind, Kind::Floor | Kind::NoMatch | Kind::Metrics));
    }
    // BENCH_ONLY=channels: the floor, the non-matching row and the crashmail rows but the
    // sendmail one (issue 12's row beside the crash rows it extends).
    let only_channels = std::env::var("BENCH_ONLY").as_deref() == Ok("channels");
    if only_channels {
        variants.retain(|v| {
            matches!(
                v.kind,
                Kind::Floor | Kind::NoMatch | Kind::NoMail | Kind::CrashSmtp | Kind::CrashChannels
            )
        });
    }
    let counts: Vec<u64> = variants
        .iter()
        .map(|v| match v.kind {
            Kind::Floor | Kind::NoMatch | Kind::Metrics => events,
            Kind::Action | Kind::Python => slow_events,
            Kind::NoMail | Kind::CrashSendmail | Kind::CrashSmtp | Kind::CrashChannels => {
                crash_events
            }
            Kind::BatchQuiet | Kind::BatchCollect | Kind::WorkerQuiet | Kind::WorkerTick => {
                slow_events
            }
        })
        .collect();

    let sleeper = Sleeper(
        Command::new("sleep")
            .arg("600")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot spawn `sleep 600`: {e}"))?,
    );
    let target = sleeper.0.id();

    print_machine();
    println!("superlance: {}", superlance.display());
    println!(
        "build: debug assertions {} (this bench and the binary share the `bench` profile, which inherits `release`)",
        if cfg!(debug_assertions) { "ON, not an optimized build!" } else { "off" }
    );
    println!(
        "events per round: {events} (action and python rows: {slow_events}; crashmail rows: {crash_events}) in {chunks} turns (crash rows: {crash_turns}); {rounds} rounds per placement; {spawns} spawns per variant for first READY"
    );
    for p in &placements {
        println!("placement: {}", p.describe());
    }
    println!("{python_note}");
    println!("sendmail row: SINK is {sendmail:?}");
    println!("{smtp_note}");
    println!("crash rows: stopped (SIGSTOP) with their sendmail commands between their turns, so their mail delivery runs only while they answer");
    println!("action target: `sleep 600`, pid {target}, its score reset to 0 before each event");
    println!();

    let mut tally: Vec<Tally> = variants
        .iter()
        .map(|_| Tally {
            events_per_s: vec![Vec::new(); placements.len()],
            ratio: vec![Vec::new(); placements.len()],
            cpu_us_per_event: vec![Vec::new(); placements.len()],
            mails: vec![Vec::new(); placements.len()],
            ..Tally::default()
        })
        .collect();

    // Time to first READY (and the CPU a bare start costs), spawns interleaved, in the first
    // placement.
    for _ in 0..spawns {
        for (v, t) in variants.iter().zip(&mut tally) {
            let (ready, cpu) = first_ready(v, dog)?;
            t.ready_ms.push(ready.as_secs_f64() * 1e3);
            t.startup_cpu_ms.push(cpu.as_secs_f64() * 1e3);
        }
    }

    for (pi, placement) in placements.iter().enumerate() {
        placement.apply(&cpus)?;
        for r in 0..rounds {
            let figures = round(&variants, &counts, chunks, crash_turns, target, dog, &sinks)?;
            let floor = figures[0].events_per_s;
            let mut line = format!("{} round {}/{rounds}:", placement.name(), r + 1);
            for (((v, t), f), &n) in variants.iter().zip(&mut tally).zip(&figures).zip(&counts) {
                // CPU per event, less what a bare start costs (measured above).
                let start_ms = median(&t.startup_cpu_ms);
                let cpu_us = (f.cpu.as_secs_f64() * 1e3 - start_ms).max(0.0) * 1e3 / n as f64;
                t.events_per_s[pi].push(f.events_per_s);
                t.ratio[pi].push(f.events_per_s / floor);
                t.cpu_us_per_event[pi].push(cpu_us);
                t.hwm_kib = t.hwm_kib.max(f.hwm_kib);
                t.maxrss_kib = t.maxrss_kib.max(f.maxrss_kib);
                line += &format!(
                    " {} {:.0}/s {:.2}x {:.1} us CPU",
                    v.kind.short(),
                    f.events_per_s,
                    f.events_per_s / floor,
                    cpu_us
                );
                if let Some((during, after)) = f.mails {
                    // The row's turns last about as long as its round trips.
                    let per_s = during as f64 * f.events_per_s / n as f64;
                    t.mails[pi].push((during as f64, per_s, after as f64));
                    line += &format!(
                        " ({during} mails while answering, {per_s:.0}/s; {after} at the end)"
                    );
                }
                line += ";";
            }
            println!("{}", line.trim_end_matches(';'));
        }
    }
    println!("load average at the end: {}", loadavg());
    println!();

    // The table.
    let mib = |kib: u64| kib as f64 / 1024.0;
    let mut head = String::from("| variant |");
    let mut rule = String::from("| --- |");
    for p in &placements {
        head += &format!(" events/s, {0} | ratio to floor, {0} |", p.name());
        rule += " ---: | ---: |";
    }
    head += &format!(
        " CPU per event, {} (us) | first READY (ms) | peak RSS (MiB) | wait4 ru_maxrss (MiB) |",
        placements[0].name()
    );
    rule += " ---: | ---: | ---: | ---: |";
    println!("{head}\n{rule}");
    for (v, t) in variants.iter().zip(&tally) {
        let mut row = format!("| {} |", v.label);
        for pi in 0..placements.len() {
            row += &format!(
                " {:.0} | {:.2}x |",
                median(&t.events_per_s[pi]),
                median(&t.ratio[pi])
            );
        }
        row += &format!(
            " {:.1} | {:.2} | {:.2} | {:.2} |",
            median(&t.cpu_us_per_event[0]),
            median(&t.ready_ms),
            mib(t.hwm_kib),
            mib(t.maxrss_kib)
        );
        println!("{row}");
    }
    println!();
    println!("events/s: lock-step round trips (frame written -> exact answer read), median of {rounds} rounds; ratio: median of the per-round ratios to the floor.");
    println!("CPU per event: the listener's user+system time (wait4) less a bare start's, per event; crash rows: its own threads' (worker included,");
    println!("sendmail commands not) up to its last answer, from /proc/<pid>/stat in 10 ms ticks. first READY: median of {spawns} spawns, spawn -> READY\\n read.");
    println!("peak RSS: the listener's VmHWM after its last event, the highest over all rounds. wait4's ru_maxrss never reads below the spawning");
    println!(
        "process's own peak (Linux counts the parent's address space into a spawned child's maxrss until exec); this bench's peak is {:.2} MiB.",
        mib(vm_hwm_kib(std::process::id() as i32).unwrap_or(0))
    );
    println!();
    // What the crash rows' delivery workers did meanwhile.
    for (v, t) in variants.iter().zip(&tally).filter(|(v, _)| v.kind.mails()) {
        for (pi, p) in placements.iter().enumerate() {
            let column = |f: fn(&(f64, f64, f64)) -> f64| {
                median(&t.mails[pi].iter().map(f).collect::<Vec<_>>())
            };
            println!(
                "{} mails, {}: {:.0} delivered while answering ({:.0}/s), {:.0} more from the queue at end of input (medians)",
                v.kind.short(),
                p.name(),
                column(|m| m.0),
                column(|m| m.1),
                column(|m| m.2),
            );
        }
    }
    let timeouts = SETTLE_TIMEOUTS.load(Ordering::Relaxed);
    if timeouts > 0 {
        println!(
            "note: {timeouts} pauses of a crash row gave up after {} ms with its children still running: they may have slowed the next row",
            SETTLE.as_millis()
        );
    }
    println!();

    let (floor, nomatch) = (&tally[0], &tally[1]);
    let per_placement: Vec<(f64, String)> = placements
        .iter()
        .enumerate()
        .map(|(pi, p)| {
            let ratio = median(&nomatch.ratio[pi]);
            let text = format!(
                "{} {ratio:.2}x ({:.0}/s vs {:.0}/s)",
                p.name(),
                median(&nomatch.events_per_s[pi]),
                median(&floor.events_per_s[pi])
            );
            (ratio, text)
        })
        .collect();
    verdict(
        per_placement.iter().all(|(r, _)| *r >= TARGET_RATIO),
        &format!(
            "events/s on non-matching events >= {TARGET_RATIO}x the floor's, in every placement: {}",
            per_placement
                .iter()
                .map(|(_, t)| t.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        ),
    );
    let ready = median(&nomatch.ready_ms);
    verdict(
        ready <= TARGET_READY_MS,
        &format!(
            "first READY <= {TARGET_READY_MS} ms: {ready:.2} ms (floor {:.2} ms)",
            median(&floor.ready_ms)
        ),
    );
    // Both superlance rows, both measures: the worst counts.
    let worst = variants
        .iter()
        .zip(&tally)
        .filter(|(v, _)| matches!(v.kind, Kind::NoMatch | Kind::Action))
        .map(|(_, t)| t.hwm_kib.max(t.maxrss_kib))
        .max()
        .unwrap_or(0);
    verdict(
        mib(worst) <= TARGET_RSS_MIB,
        &format!(
            "peak RSS <= {TARGET_RSS_MIB} MiB: {:.2} MiB, the worst of both superlance rows by either measure (floor {:.2} MiB)",
            mib(worst),
            mib(floor.hwm_kib)
        ),
    );
    // issue 14: the metrics row against the same floor, and its memory.
    if let Some(i) = variants.iter().position(|v| v.kind == Kind::Metrics) {
        let m = &tally[i];
        let parts: Vec<(f64, String)> = placements
            .iter()
            .enumerate()
            .map(|(pi, p)| {
                let ratio = median(&m.ratio[pi]);
                let text = format!(
                    "{} {ratio:.2}x ({:.0}/s vs {:.0}/s)",
                    p.name(),
                    median(&m.events_per_s[pi]),
                    median(&floor.events_per_s[pi])
                );
                (ratio, text)
            })
            .collect();
        verdict(
            parts.iter().all(|(r, _)| *r >= TARGET_RATIO),
            &format!(
                "metrics events path >= {TARGET_RATIO}x the floor's, in every placement: {}",
                parts
                    .iter()
                    .map(|(_, t)| t.as_str())
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        );
        let peak = m.hwm_kib.max(m.maxrss_kib);
        verdict(
            mib(peak) <= TARGET_RSS_MIB,
            &format!(
                "metrics peak RSS <= {TARGET_RSS_MIB} MiB on the events path: {:.2} MiB (floor {:.2} MiB)",
                mib(peak),
                mib(floor.hwm_kib)
            ),
        );
    }
    if only_metrics {
        drop(sleeper);
        return metrics::bench(&superlance).map(|_| ());
    }
    // issue #3: every crash row, in every placement.
    let nomail = variants.iter().position(|v| v.kind == Kind::NoMail);
    let mut met = true;
    let mut texts = Vec::new();
    for (pi, p) in placements.iter().enumerate() {
        let mut parts = Vec::new();
        for (v, t) in variants.iter().zip(&tally).filter(|(v, _)| v.kind.mails()) {
            let rate = median(&t.events_per_s[pi]);
            met &= rate >= TARGET_CRASH_PER_S;
            parts.push(format!(
                "{} {rate:.0}/s ({:.2}x the floor)",
                v.kind.short(),
                median(&t.ratio[pi])
            ));
        }
        if let Some(i) = nomail {
            parts.push(format!(
                "no-mail path {:.0}/s",
                median(&tally[i].events_per_s[pi])
            ));
        }
        texts.push(format!("{} {}", p.name(), parts.join(", ")));
    }
    verdict(
        met,
        &format!(
            "crash path answered >= {TARGET_CRASH_PER_S} events/s, every crash row in every placement: {}",
            texts.join("; ")
        ),
    );
    if let Some(i) = variants.iter().position(|v| v.kind == Kind::CrashChannels) {
        let t = &tally[i];
        channels::verdicts(t.hwm_kib.max(t.maxrss_kib), floor.hwm_kib, &superlance);
    }
    if only_channels {
        return Ok(());
    }
    drop(sleeper);
    if let Err(e) = metrics::bench(&superlance) {
        println!("metrics scrape rows: {e}");
    }
    if let Err(e) = memmon::bench() {
        println!("memmon rows: {e}");
    }
    Ok(())
}

fn verdict(met: bool, what: &str) {
    println!("target {}: {what}", if met { "MET   " } else { "MISSED" });
}

fn loadavg() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn print_machine() {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("?", |(_, m)| m.trim())
        .to_owned();
    // Not available_parallelism: that reads our affinity, which the placement narrows.
    // SAFETY: sysconf has no memory effects.
    let nproc = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    println!("date: {}", utc_now());
    println!(
        "machine: {nproc} CPUs, {model}, Linux {}; load average {}",
        kernel.trim(),
        loadavg()
    );
}

fn utc_now() -> String {
    // SAFETY: time(NULL) only returns the time.
    let now = unsafe { libc::time(std::ptr::null_mut()) };
    // SAFETY: tm is plain old data, for which zeroes are a valid value.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the duration of the call.
    if unsafe { libc::gmtime_r(&now, &mut tm) }.is_null() {
        return "?".into();
    }
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02} UTC",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min
    )
}
