//! Driving a listener as supervisord does (lock-step frames, exact answers), and what the
//! bench reads of it: its CPU placement, its end (wait4), its peak RSS, its CPU time, and
//! stopping a mailing row between its turns. A watchdog kills a child that stalls.

use std::fs;
use std::io::{self, Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::*;

/// Kills a child that stops making progress, so that a hung listener fails the bench
/// instead of hanging it. Only the armed pid is ever signalled, and a child is disarmed
/// before it is reaped (both under the same lock): a reaped, maybe reused pid is never hit.
#[derive(Clone)]
pub(crate) struct Watchdog {
    pub(crate) armed: Arc<Mutex<Option<i32>>>,
    pub(crate) progress: Arc<AtomicU64>,
    pub(crate) fired: Arc<Mutex<Option<i32>>>,
}

impl Watchdog {
    pub(crate) fn start() -> Watchdog {
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

    pub(crate) fn arm(&self, pid: i32) {
        if let Ok(mut a) = self.armed.lock() {
            *a = Some(pid);
        }
    }

    pub(crate) fn tick(&self) {
        self.progress.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn disarm(&self) {
        if let Ok(mut a) = self.armed.lock() {
            *a = None;
        }
    }

    pub(crate) fn fired_on(&self, pid: i32) -> bool {
        self.fired.lock().is_ok_and(|f| *f == Some(pid))
    }
}

/// In the split placement, the CPU the children are moved to (usize::MAX: none).
pub(crate) static CHILD_CPU: AtomicUsize = AtomicUsize::new(usize::MAX);

/// sched_setaffinity(2) to one CPU; pid 0 is this thread.
pub(crate) fn pin(pid: i32, cpu: usize) -> io::Result<()> {
    pin_set(pid, &[cpu])
}

pub(crate) fn pin_set(pid: i32, cpus: &[usize]) -> io::Result<()> {
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
pub(crate) fn allowed_cpus() -> Vec<usize> {
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
pub(crate) struct Ended {
    pub(crate) status: libc::c_int,
    pub(crate) maxrss_kib: u64,
    pub(crate) cpu: Duration,
}

impl Ended {
    pub(crate) fn describe(&self) -> String {
        if libc::WIFEXITED(self.status) {
            format!("exit status {}", libc::WEXITSTATUS(self.status))
        } else if libc::WIFSIGNALED(self.status) {
            format!("signal {}", libc::WTERMSIG(self.status))
        } else {
            format!("wait status {:#x}", self.status)
        }
    }

    pub(crate) fn clean(&self) -> bool {
        libc::WIFEXITED(self.status) && libc::WEXITSTATUS(self.status) == 0
    }
}

pub(crate) fn timeval(t: libc::timeval) -> Duration {
    Duration::from_secs(t.tv_sec.max(0) as u64) + Duration::from_micros(t.tv_usec.max(0) as u64)
}

/// wait4(2): the exit status, and the child's own peak RSS and CPU time.
pub(crate) fn reap(pid: i32) -> io::Result<Ended> {
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
pub(crate) struct Running {
    pub(crate) pid: i32,
    pub(crate) stdin: Option<ChildStdin>,
    pub(crate) stdout: ChildStdout,
    pub(crate) label: &'static str,
    pub(crate) dog: Watchdog,
    pub(crate) reaped: bool,
    /// Events answered, and the time spent in their round trips.
    pub(crate) events: u64,
    pub(crate) busy: Duration,
}

impl Running {
    pub(crate) fn spawn(v: &Variant, dog: &Watchdog) -> Result<Running, String> {
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
    pub(crate) fn expect(&mut self, want: &[u8]) -> Result<(), String> {
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
    pub(crate) fn event(&mut self, frame: &[u8]) -> Result<(), String> {
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
    pub(crate) fn pause(&mut self) -> Result<(), String> {
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
    pub(crate) fn resume(&mut self) -> Result<(), String> {
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

    pub(crate) fn signal(&mut self, sig: libc::c_int) -> Result<(), String> {
        // SAFETY: kill(2) on our own child, not reaped yet.
        if unsafe { libc::kill(self.pid, sig) } == 0 {
            Ok(())
        } else {
            let e = io::Error::last_os_error();
            Err(self.fail(format!("cannot send it signal {sig}: {e}")))
        }
    }

    /// Kill and reap after a fault; the message says what happened and how the child ended.
    pub(crate) fn fail(&mut self, what: String) -> String {
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
    pub(crate) fn finish(mut self) -> Result<Ended, String> {
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
pub(crate) enum Shape {
    /// PROCESS_STATE_RUNNING, from STARTING.
    Running,
    /// PROCESS_STATE_EXITED, from RUNNING, with `expected:1` or `expected:0` (a crash).
    Exited { expected: bool },
    /// TICK_5, five seconds after the last.
    Tick,
}

/// A PROCESS_STATE_RUNNING or _EXITED (or TICK_5) frame as supervisord 4 writes it: header and payload
/// together.
pub(crate) struct Frames {
    pub(crate) frame: Vec<u8>,
    pub(crate) payload: Vec<u8>,
}

impl Frames {
    pub(crate) fn make(&mut self, shape: Shape, n: u64, pid: u32) -> &[u8] {
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

pub(crate) fn score(pid: u32) -> io::Result<i32> {
    let text = fs::read_to_string(format!("/proc/{pid}/oom_score_adj"))?;
    text.trim()
        .parse()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{text:?}: {e}")))
}

pub(crate) fn set_score(pid: u32, value: i32) -> io::Result<()> {
    fs::write(format!("/proc/{pid}/oom_score_adj"), format!("{value}\n"))
}

/// The peak RSS of the process's current address space (since its exec).
pub(crate) fn vm_hwm_kib(pid: i32) -> Option<u64> {
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
pub(crate) const SETTLE: Duration = Duration::from_millis(100);
/// Pauses that gave up waiting for a process to stop (reported: it may have slowed another
/// row).
pub(crate) static SETTLE_TIMEOUTS: AtomicU64 = AtomicU64::new(0);

/// The state letter of a task, from its `stat` file (`R`, `S`, `D`, `T`, `Z`, ...).
pub(crate) fn task_state(stat: &Path) -> Option<u8> {
    let text = fs::read(stat).ok()?;
    let close = text.iter().rposition(|&b| b == b')')?;
    text.get(close + 2).copied()
}

/// Wait until every thread of `pid` is stopped (or has exited); false at the deadline.
pub(crate) fn wait_stopped(pid: i32, deadline: Instant) -> bool {
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
pub(crate) fn children(pid: i32) -> Vec<i32> {
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
pub(crate) fn proc_cpu(pid: i32) -> Option<Duration> {
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

/// Where the bench and its listeners run (BENCH_PIN). A lock-step round trip takes a few
/// microseconds when the driver and the listener share a CPU, and several times that when
/// each wake-up crosses CPUs; left to the scheduler, the placement flips between the two
/// from round to round and swamps what the listeners themselves cost (docs/performance.md).
#[derive(Clone, Copy)]
pub(crate) enum Placement {
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
    pub(crate) fn parse_list(text: &str, cpus: &[usize]) -> Result<Vec<Placement>, String> {
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

    pub(crate) fn name(self) -> &'static str {
        match self {
            Placement::Same(_) => "same CPU",
            Placement::Split(..) => "split CPUs",
            Placement::Off => "unpinned",
        }
    }

    pub(crate) fn describe(self) -> String {
        match self {
            Placement::Same(c) => format!("same CPU: the bench and every listener on CPU {c}"),
            Placement::Split(a, b) => {
                format!("split CPUs: the bench on CPU {a}, every listener on CPU {b}")
            }
            Placement::Off => "unpinned: left to the scheduler".into(),
        }
    }

    /// Pin this thread (children inherit it) and set where new children go.
    pub(crate) fn apply(self, all: &[usize]) -> Result<(), String> {
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
