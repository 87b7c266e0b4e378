//! The listeners benchmark (issue #2 §4; what it measures, how to read it and the latest
//! figures: docs/performance.md). Run it with `cargo bench --bench listeners`.
//!
//! The machines this runs on are shared and noisy, so every figure is printed next to a
//! baseline measured in the same run, and the targets are judged on ratios and medians:
//! - the floor: this very executable re-run with `--minimal-listener`, a listener that only
//!   frames (buffered stdin, one unbuffered write per answer) and does nothing else;
//! - `superlance oom_score_adj -p nomatch -s 500` fed RUNNING events that do not match;
//! - `superlance oom_score_adj -a -s 500` fed RUNNING events naming a real child of ours (the
//!   action path: parent check, /proc read, write, read back, one log line per event);
//! - when a venv with supervisor exists, a Python listener on `supervisor.childutils`, the way
//!   superlance's listeners are written today.
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
//! Knobs (environment): BENCH_EVENTS (events per round for the floor and the non-matching
//! listener), BENCH_SLOW_EVENTS (for the action and Python rows), BENCH_ROUNDS (per
//! placement), BENCH_CHUNKS (turns per round), BENCH_SPAWNS (spawns per variant for time to
//! first READY), BENCH_PIN (placements, a list of same, split, off; default same,split),
//! BENCH_PYTHON (a python with supervisor 4 installed, instead of <repo>/.venv/bin/python).

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::mem::ManuallyDrop;
use std::os::fd::FromRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
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
}

impl Kind {
    fn short(self) -> &'static str {
        match self {
            Kind::Floor => "floor",
            Kind::NoMatch => "nomatch",
            Kind::Action => "action",
            Kind::Python => "python",
        }
    }
}

struct Variant {
    kind: Kind,
    label: &'static str,
    program: PathBuf,
    args: Vec<String>,
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
        let mut child: Child = Command::new(&v.program)
            .args(&v.args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
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

/// A PROCESS_STATE_RUNNING frame as supervisord 4 writes it: header and payload together.
struct Frames {
    frame: Vec<u8>,
    payload: Vec<u8>,
}

impl Frames {
    fn make(&mut self, n: u64, pid: u32) -> &[u8] {
        self.payload.clear();
        // A program named `cat` as in Supervisor's docs: never selected by `-p nomatch`.
        let _ = write!(
            self.payload,
            "processname:cat groupname:cat from_state:STARTING pid:{pid}"
        );
        self.frame.clear();
        // Other pools get events too: the global serial runs ahead of this pool's poolserial.
        let _ = writeln!(
            self.frame,
            "ver:3.0 server:supervisor serial:{} pool:listener poolserial:{n} eventname:PROCESS_STATE_RUNNING len:{}",
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

/// The figures of one variant in one round.
struct RunFigures {
    events_per_s: f64,
    cpu: Duration,
    hwm_kib: u64,
    maxrss_kib: u64,
}

/// One round: every variant spawned, `counts[i]` events fed to variant `i` in `chunks` turns
/// (order alternating), then every variant ended cleanly. For the action row, `target` is
/// the child whose score the listener sets; the bench resets it to 0 before each event,
/// outside the timed round trip, so that every event takes the write path.
fn round(
    variants: &[Variant],
    counts: &[u64],
    chunks: u64,
    target: u32,
    dog: &Watchdog,
) -> Result<Vec<RunFigures>, String> {
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
            let action = variants[i].kind == Kind::Action;
            r.dog.arm(r.pid);
            let share = counts[i] * (c + 1) / chunks - counts[i] * c / chunks;
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
                r.event(frames.make(n, pid))?;
            }
        }
    }
    let mut figures = Vec::with_capacity(live.len());
    for (v, mut r) in variants.iter().zip(live) {
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
        // Read while the listener waits for its next event: see docs/performance.md for why
        // wait4's ru_maxrss alone is not enough.
        let hwm_kib = vm_hwm_kib(r.pid).unwrap_or(0);
        let (events, busy) = (r.events, r.busy);
        let end = r.finish()?;
        figures.push(RunFigures {
            events_per_s: events as f64 / busy.as_secs_f64(),
            cpu: end.cpu,
            hwm_kib,
            maxrss_kib: end.maxrss_kib,
        });
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
    let events = env_u64("BENCH_EVENTS", 100_000)?;
    let slow_events = env_u64("BENCH_SLOW_EVENTS", (events / 5).max(1))?;
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
        },
        Variant {
            kind: Kind::NoMatch,
            label: "superlance oom_score_adj -p nomatch -s 500: no match",
            program: superlance.clone(),
            args: args(&["oom_score_adj", "-p", "nomatch", "-s", "500"]),
        },
        Variant {
            kind: Kind::Action,
            label: "superlance oom_score_adj -a -s 500: sets the score",
            program: superlance.clone(),
            args: args(&["oom_score_adj", "-a", "-s", "500"]),
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
            });
            note
        }
        None => format!(
            "python row skipped: no {}/.venv/bin/python (tests/setup.sh creates it) and no BENCH_PYTHON",
            env!("CARGO_MANIFEST_DIR")
        ),
    };
    let counts: Vec<u64> = variants
        .iter()
        .map(|v| match v.kind {
            Kind::Floor | Kind::NoMatch => events,
            Kind::Action | Kind::Python => slow_events,
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
        "events per round: {events} (action and python rows: {slow_events}) in {chunks} turns; {rounds} rounds per placement; {spawns} spawns per variant for first READY"
    );
    for p in &placements {
        println!("placement: {}", p.describe());
    }
    println!("{python_note}");
    println!("action target: `sleep 600`, pid {target}, its score reset to 0 before each event");
    println!();

    let mut tally: Vec<Tally> = variants
        .iter()
        .map(|_| Tally {
            events_per_s: vec![Vec::new(); placements.len()],
            ratio: vec![Vec::new(); placements.len()],
            cpu_us_per_event: vec![Vec::new(); placements.len()],
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
            let figures = round(&variants, &counts, chunks, target, dog)?;
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
                    " {} {:.0}/s {:.2}x {:.1} us CPU;",
                    v.kind.short(),
                    f.events_per_s,
                    f.events_per_s / floor,
                    cpu_us
                );
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
    println!("CPU per event: the listener's user+system time (wait4) less a bare start's, per event. first READY: median of {spawns} spawns, spawn -> READY\\n read.");
    println!("peak RSS: the listener's VmHWM after its last event, the highest over all rounds. wait4's ru_maxrss never reads below the spawning");
    println!(
        "process's own peak (Linux counts the parent's address space into a spawned child's maxrss until exec); this bench's peak is {:.2} MiB.",
        mib(vm_hwm_kib(std::process::id() as i32).unwrap_or(0))
    );
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
    let worst = tally[1..3]
        .iter()
        .map(|t| t.hwm_kib.max(t.maxrss_kib))
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
    drop(sleeper);
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
