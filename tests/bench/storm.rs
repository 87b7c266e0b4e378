//! Crash storm (issue 15): one million crash events over 100 programs while the mail server is
//! down, then the server comes up and the mails that follow are checked.
//! `BENCH_ONLY=storm cargo bench --bench listeners`.
//!
//! For each of crashmailbatch, fatalmailbatch, crashsms (default `--max-lines`, 20) and
//! crashmail (flood control on, its defaults: 5 mails per program per 10 minutes):
//! - **idle**: the listener started, READY, half a second later: its resident memory;
//! - **quiet**: the same listener fed 1M events it does not report (expected exits; for
//!   fatalmailbatch, which reports FATAL, expected exits too), the mail server down;
//! - **storm**: fed 1M crashes (`PROCESS_STATE_EXITED expected:0`, `PROCESS_STATE_FATAL` for
//!   fatalmailbatch), 10,000 for each of 100 programs, with a TICK_60 every 10,000 events so
//!   that a batch falls due 100 times, while SMTP connections to it are refused (a port with
//!   nothing listening). Then an SMTP sink of this bench starts on that port; once the
//!   listener's retry has delivered, one more TICK_60, then end of input (the listener's
//!   shutdown closes flood windows and delivers what is left within its grace time).
//!
//! The events are written as fast as the listener takes them, by a thread, and the answers
//! read here. VmRSS is sampled every 20 ms from start to exit, and VmHWM (the kernel's own
//! peak) read last. Every mail that arrives is parsed: per program, the lines listed plus the
//! counts ("p07:p07: 9980 more crashes between ...", flood control's "p07:p07: 9995 more
//! notifications suppressed") must equal the crashes sent. Verdicts: peak RSS <= 8 MB in the
//! storm, every crash accounted for.
//!
//! Knobs: BENCH_STORM_EVENTS (crash events, default 1,000,000), BENCH_STORM_PROGRAMS (100),
//! BENCH_STORM_ONLY (a comma-separated list of listeners), BENCH_STORM_BIN (another
//! superlance executable to measure instead, e.g. one built from an earlier commit: the
//! options passed are all older than issue 15), BENCH_STORM_ARGS (more options for every
//! listener, e.g. `--max-mails 1`), BENCH_LOG_DIR (keep the listeners' logs).

use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

const ANSWER: &[u8] = b"RESULT 2\nOKREADY\n";
const TICK_EVERY: u64 = 10_000;
/// The target: peak RSS in the storm, in bytes (8 MB).
const TARGET_BYTES: u64 = 8_000_000;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One listener under test.
struct Tool {
    name: &'static str,
    /// The crash event's name and payload for program `p` (its pid `pid`).
    crash: fn(&str, u64) -> (&'static str, String),
    /// The crashes a mail reports, per program name: listed lines and counts.
    account: fn(&Mail, &mut BTreeMap<String, u64>, &mut u64),
}

fn exited(p: &str, pid: u64, expected: u8) -> String {
    format!("processname:{p} groupname:{p} from_state:RUNNING expected:{expected} pid:{pid}")
}

fn crash_exit(p: &str, pid: u64) -> (&'static str, String) {
    ("PROCESS_STATE_EXITED", exited(p, pid, 0))
}

fn crash_fatal(p: &str, _pid: u64) -> (&'static str, String) {
    (
        "PROCESS_STATE_FATAL",
        format!("processname:{p} groupname:{p} from_state:BACKOFF"),
    )
}

/// A mail as the sink took it: headers unfolded, body lines.
struct Mail {
    subject: String,
    body: Vec<String>,
}

fn parse_mail(data: &[u8]) -> Mail {
    let text = String::from_utf8_lossy(data);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut subject = String::new();
    let mut in_subject = false;
    for line in head.split("\r\n") {
        if let Some(s) = line.strip_prefix("Subject: ") {
            subject = s.to_owned();
            in_subject = true;
        } else if in_subject && line.starts_with([' ', '\t']) {
            subject.push_str(line);
        } else {
            in_subject = false;
        }
    }
    let body = body
        .split("\r\n")
        .map(|l| {
            l.strip_prefix('.')
                .filter(|r| r.starts_with('.'))
                .unwrap_or(l)
        })
        .map(str::to_owned)
        .collect();
    Mail { subject, body }
}

/// `p07:p07` → `p07`.
fn name_of(namespec: &str) -> String {
    namespec
        .rsplit_once(':')
        .map_or(namespec, |(_, n)| n)
        .to_owned()
}

/// `<program>: <n> more ...` (the batch mails' count line) → (program, n).
fn more_line(line: &str) -> Option<(String, u64)> {
    let (program, rest) = line.split_once(": ")?;
    let n = rest.split_once(" more ")?.0.parse().ok()?;
    Some((name_of(program), n))
}

fn account_batch(
    m: &Mail,
    per: &mut BTreeMap<String, u64>,
    unknown: &mut u64,
    listed: fn(&str) -> Option<&str>,
) {
    for line in &m.body {
        if line.is_empty() {
            continue;
        }
        if let Some(program) = listed(line) {
            *per.entry(name_of(program)).or_default() += 1;
        } else if let Some((program, n)) = more_line(line) {
            *per.entry(program).or_default() += n;
        } else {
            *unknown += 1;
        }
    }
}

fn account_crashmailbatch(m: &Mail, per: &mut BTreeMap<String, u64>, unknown: &mut u64) {
    account_batch(m, per, unknown, |l| {
        l.split_once(" -- Process ")?
            .1
            .strip_suffix(" died unexpectedly")?
            .split_once(" (pid ")
            .map(|(p, _)| p)
    });
}

fn account_fatalmailbatch(m: &Mail, per: &mut BTreeMap<String, u64>, unknown: &mut u64) {
    account_batch(m, per, unknown, |l| {
        l.split_once(" -- Process ")?
            .1
            .strip_suffix(" failed to start too many times")
    });
}

fn account_crashsms(m: &Mail, per: &mut BTreeMap<String, u64>, unknown: &mut u64) {
    for line in m.body.iter().filter(|l| !l.is_empty()) {
        let Some((program, rest)) = line.strip_prefix('[').and_then(|l| l.split_once(']')) else {
            *unknown += 1;
            continue;
        };
        if rest.contains(") exited unexpectedly ") {
            *per.entry(name_of(program)).or_default() += 1;
        } else if let Some(n) = rest
            .strip_prefix(' ')
            .and_then(|r| r.split_once(" more "))
            .and_then(|(n, _)| n.parse::<u64>().ok())
        {
            *per.entry(name_of(program)).or_default() += n;
        } else {
            *unknown += 1;
        }
    }
}

fn account_crashmail(m: &Mail, per: &mut BTreeMap<String, u64>, unknown: &mut u64) {
    if let Some((name, _)) = m.subject.split_once(" crashed at ") {
        *per.entry(name.to_owned()).or_default() += 1;
    } else if let Some((program, n)) = m
        .subject
        .split_once(": ")
        .and_then(|(p, rest)| Some((p, rest.split_once(" more notifications")?.0)))
        .and_then(|(p, n)| Some((name_of(p), n.parse::<u64>().ok()?)))
    {
        *per.entry(program).or_default() += n;
    } else {
        // A backlog digest ("N notifications merged") does not say whose: not accounted.
        *unknown += 1;
    }
}

const TOOLS: [Tool; 4] = [
    Tool {
        name: "crashmailbatch",
        crash: crash_exit,
        account: account_crashmailbatch,
    },
    Tool {
        name: "fatalmailbatch",
        crash: crash_fatal,
        account: account_fatalmailbatch,
    },
    Tool {
        name: "crashsms",
        crash: crash_exit,
        account: account_crashsms,
    },
    Tool {
        name: "crashmail",
        crash: crash_exit,
        account: account_crashmail,
    },
];

fn args(tool: &str, port: u16) -> Vec<String> {
    let host = format!("127.0.0.1:{port}");
    let v: Vec<&str> = match tool {
        "crashmail" => vec![
            "-a",
            "-m",
            "ops@example.com",
            "--smtp-host",
            &host,
            "--smtp-tls",
            "none",
        ],
        _ => vec!["-t", "ops@example.com", "-f", "sv@example.com", "-H", &host],
    };
    let extra = std::env::var("BENCH_STORM_ARGS").unwrap_or_default();
    v.into_iter()
        .chain(extra.split_whitespace())
        .map(str::to_owned)
        .collect()
}

fn frame(out: &mut Vec<u8>, serial: u64, eventname: &str, payload: &str) {
    let _ = write!(
        out,
        "ver:3.0 server:supervisor serial:{serial} pool:storm poolserial:{serial} eventname:{eventname} len:{}\n{payload}",
        payload.chars().count()
    );
}

fn tick(out: &mut Vec<u8>, serial: u64, k: u64) {
    frame(
        out,
        serial,
        "TICK_60",
        &format!("when:{}", 1_700_000_040 + k * 60),
    );
}

fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()
}

/// Samples VmRSS every 20 ms and VmHWM, until stopped or the process is gone.
struct Sampler {
    stop: Arc<AtomicBool>,
    max_rss: Arc<AtomicU64>,
    hwm: Arc<AtomicU64>,
    handle: Option<thread::JoinHandle<()>>,
}

impl Sampler {
    fn start(pid: u32) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let max_rss = Arc::new(AtomicU64::new(0));
        let hwm = Arc::new(AtomicU64::new(0));
        let (s, m, h) = (Arc::clone(&stop), Arc::clone(&max_rss), Arc::clone(&hwm));
        let handle = thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match (status_kib(pid, "VmRSS:"), status_kib(pid, "VmHWM:")) {
                    (Some(rss), Some(peak)) => {
                        m.fetch_max(rss, Ordering::Relaxed);
                        h.fetch_max(peak, Ordering::Relaxed);
                    }
                    _ => return,
                }
                thread::sleep(Duration::from_millis(20));
            }
        });
        Sampler {
            stop,
            max_rss,
            hwm,
            handle: Some(handle),
        }
    }

    /// (max VmRSS, VmHWM) in KiB.
    fn finish(mut self) -> (u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
        (
            self.max_rss.load(Ordering::Relaxed),
            self.hwm.load(Ordering::Relaxed),
        )
    }
}

/// A port with nothing listening: connections to it are refused.
fn closed_port() -> Result<u16, String> {
    let l = TcpListener::bind(("127.0.0.1", 0)).map_err(|e| format!("bind: {e}"))?;
    let port = l.local_addr().map_err(|e| e.to_string())?.port();
    drop(l);
    Ok(port)
}

/// An SMTP server that keeps every message (the DATA, dot-unstuffed later).
struct Sink {
    mails: Arc<Mutex<Vec<Vec<u8>>>>,
    stop: Arc<AtomicBool>,
    port: u16,
    handle: Option<thread::JoinHandle<()>>,
}

impl Sink {
    fn start(port: u16) -> Result<Sink, String> {
        // std sets SO_REUSEADDR on Unix: the port the listener has been failing on.
        let listener = TcpListener::bind(("127.0.0.1", port))
            .map_err(|e| format!("SMTP sink: cannot listen on port {port}: {e}"))?;
        let mails = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (m, s) = (Arc::clone(&mails), Arc::clone(&stop));
        let handle = thread::spawn(move || {
            for stream in listener.incoming() {
                if s.load(Ordering::Relaxed) {
                    return;
                }
                if let Ok(stream) = stream {
                    let _ = session(stream, &m);
                }
            }
        });
        Ok(Sink {
            mails,
            stop,
            port,
            handle: Some(handle),
        })
    }

    fn count(&self) -> usize {
        self.mails.lock().map_or(0, |m| m.len())
    }

    fn finish(mut self) -> Vec<Vec<u8>> {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
        std::mem::take(&mut *self.mails.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

fn session(stream: TcpStream, mails: &Mutex<Vec<Vec<u8>>>) -> io::Result<()> {
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(Duration::from_secs(15)))?;
    let mut out = stream.try_clone()?;
    let mut input = BufReader::new(stream);
    let mut line = Vec::with_capacity(256);
    out.write_all(b"220 storm-sink ESMTP\r\n")?;
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        let verb = line.get(..4).map(<[u8]>::to_ascii_uppercase);
        match verb.as_deref() {
            Some(b"DATA") => {
                out.write_all(b"354 end with <CRLF>.<CRLF>\r\n")?;
                let mut data = Vec::new();
                loop {
                    line.clear();
                    if input.read_until(b'\n', &mut line)? == 0 {
                        return Ok(());
                    }
                    if line == b".\r\n" {
                        break;
                    }
                    data.extend_from_slice(&line);
                }
                if let Ok(mut m) = mails.lock() {
                    m.push(data);
                }
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

fn spawn(bin: &Path, tool: &str, port: u16, log: &str) -> Result<(Child, u32), String> {
    let stderr = match std::env::var_os("BENCH_LOG_DIR") {
        Some(dir) => std::fs::File::create(Path::new(&dir).join(format!("storm-{tool}-{log}.log")))
            .map(Stdio::from)
            .map_err(|e| e.to_string())?,
        None => Stdio::null(),
    };
    let child = Command::new(bin)
        .arg(tool)
        .args(args(tool, port))
        .env(
            "SUPERVISOR_SERVER_URL",
            "unix:///nonexistent/supervisor.sock",
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .map_err(|e| format!("cannot start {tool}: {e}"))?;
    let pid = child.id();
    Ok((child, pid))
}

fn ready(child: &mut Child, tool: &str) -> Result<std::process::ChildStdout, String> {
    let mut stdout = child.stdout.take().ok_or("no stdout")?;
    let mut buf = [0u8; 6];
    stdout
        .read_exact(&mut buf)
        .map_err(|e| format!("{tool}: no READY: {e}"))?;
    if &buf != b"READY\n" {
        return Err(format!("{tool}: started with {buf:?}"));
    }
    Ok(stdout)
}

/// Read `n` answers; anything else on stdout is an error.
fn answers(stdout: &mut impl Read, n: u64, tool: &str) -> Result<(), String> {
    let mut answered = 0u64;
    let mut pending = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    while answered < n {
        let got = stdout
            .read(&mut chunk)
            .map_err(|e| format!("{tool}: {e}"))?;
        if got == 0 {
            return Err(format!("{tool}: stdout closed after {answered} answers"));
        }
        pending.extend_from_slice(&chunk[..got]);
        let whole = pending.len() / ANSWER.len();
        if pending[..whole * ANSWER.len()]
            .chunks(ANSWER.len())
            .any(|a| a != ANSWER)
        {
            return Err(format!(
                "{tool}: unexpected bytes on stdout after {answered} answers"
            ));
        }
        pending.drain(..whole * ANSWER.len());
        answered += whole as u64;
    }
    Ok(())
}

/// Write the event stream on a thread; gives stdin back when done.
fn feed(
    mut stdin: ChildStdin,
    tool: &'static Tool,
    crashes: u64,
    programs: u64,
    quiet: bool,
) -> thread::JoinHandle<io::Result<(ChildStdin, u64)>> {
    thread::spawn(move || {
        let (mut buf, mut batch) = (Vec::with_capacity(256), Vec::with_capacity(64 * 1024));
        let mut serial = 0u64;
        let mut ticks = 0u64;
        for n in 0..crashes {
            let p = format!("p{:02}", n % programs);
            let pid = 1000 + n % 30_000;
            serial += 1;
            buf.clear();
            if quiet {
                frame(
                    &mut buf,
                    serial,
                    "PROCESS_STATE_EXITED",
                    &exited(&p, pid, 1),
                );
            } else {
                let (name, payload) = (tool.crash)(&p, pid);
                frame(&mut buf, serial, name, &payload);
            }
            batch.extend_from_slice(&buf);
            if (n + 1) % TICK_EVERY == 0 {
                serial += 1;
                ticks += 1;
                buf.clear();
                tick(&mut buf, serial, ticks);
                batch.extend_from_slice(&buf);
            }
            if batch.len() > 32 * 1024 {
                stdin.write_all(&batch)?;
                batch.clear();
            }
        }
        stdin.write_all(&batch)?;
        Ok((stdin, serial))
    })
}

fn wait_exit(child: &mut Child, within: Duration) -> Result<(), String> {
    let until = Instant::now() + within;
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => return Err(format!("exited with {status}")),
            Ok(None) if Instant::now() > until => {
                let _ = child.kill();
                let _ = child.wait();
                return Err("did not exit in time: killed".into());
            }
            Ok(None) => thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(e.to_string()),
        }
    }
}

struct Figures {
    idle_kib: u64,
    quiet: (u64, u64),
    quiet_rate: f64,
    storm: (u64, u64),
    storm_rate: f64,
    mails: usize,
    listed_counted: u64,
    sent: u64,
    unknown: u64,
    wrong: Vec<String>,
    delivery_secs: f64,
}

fn idle(bin: &Path, tool: &str) -> Result<u64, String> {
    let (mut child, pid) = spawn(bin, tool, closed_port()?, "idle")?;
    let _stdout = ready(&mut child, tool)?;
    thread::sleep(Duration::from_millis(500));
    let rss = status_kib(pid, "VmRSS:").unwrap_or(0);
    drop(child.stdin.take());
    wait_exit(&mut child, Duration::from_secs(20)).map_err(|e| format!("{tool} idle: {e}"))?;
    Ok(rss)
}

/// The quiet baseline: 1M events not reported. (max RSS, HWM) in KiB, events/s.
fn quiet(
    bin: &Path,
    tool: &'static Tool,
    crashes: u64,
    programs: u64,
) -> Result<((u64, u64), f64), String> {
    let (mut child, pid) = spawn(bin, tool.name, closed_port()?, "quiet")?;
    let sampler = Sampler::start(pid);
    let mut stdout = ready(&mut child, tool.name)?;
    let stdin = child.stdin.take().ok_or("no stdin")?;
    let started = Instant::now();
    let writer = feed(stdin, tool, crashes, programs, true);
    let events = crashes + crashes / TICK_EVERY;
    answers(&mut stdout, events, tool.name)?;
    let rate = events as f64 / started.elapsed().as_secs_f64();
    let (stdin, _) = writer
        .join()
        .map_err(|_| "writer panicked")?
        .map_err(|e| e.to_string())?;
    drop(stdin);
    wait_exit(&mut child, Duration::from_secs(30))
        .map_err(|e| format!("{} quiet: {e}", tool.name))?;
    Ok((sampler.finish(), rate))
}

fn storm(
    bin: &Path,
    tool: &'static Tool,
    crashes: u64,
    programs: u64,
    f: &mut Figures,
) -> Result<(), String> {
    let port = closed_port()?;
    let (mut child, pid) = spawn(bin, tool.name, port, "storm")?;
    let sampler = Sampler::start(pid);
    let mut stdout = ready(&mut child, tool.name)?;
    let stdin = child.stdin.take().ok_or("no stdin")?;
    let started = Instant::now();
    let writer = feed(stdin, tool, crashes, programs, false);
    let events = crashes + crashes / TICK_EVERY;
    answers(&mut stdout, events, tool.name)?;
    f.storm_rate = events as f64 / started.elapsed().as_secs_f64();
    let (mut stdin, mut serial) = writer
        .join()
        .map_err(|_| "writer panicked")?
        .map_err(|e| e.to_string())?;
    // The server comes up; the listener's next retry (backoff up to a minute) delivers.
    let up = Instant::now();
    let sink = Sink::start(port)?;
    while sink.count() == 0 {
        if up.elapsed() > Duration::from_secs(120) {
            return Err(format!(
                "{}: no mail 120 s after the server came up",
                tool.name
            ));
        }
        thread::sleep(Duration::from_millis(50));
    }
    // Let the worker drain what it holds, then a due TICK sends the batch collected meanwhile.
    let mut settled = (sink.count(), Instant::now());
    while settled.1.elapsed() < Duration::from_secs(1) {
        thread::sleep(Duration::from_millis(100));
        if sink.count() != settled.0 {
            settled = (sink.count(), Instant::now());
        }
    }
    serial += 1;
    let mut buf = Vec::new();
    tick(&mut buf, serial, crashes / TICK_EVERY + 1);
    stdin.write_all(&buf).map_err(|e| e.to_string())?;
    answers(&mut stdout, 1, tool.name)?;
    thread::sleep(Duration::from_secs(1));
    drop(stdin);
    wait_exit(&mut child, Duration::from_secs(30))
        .map_err(|e| format!("{} storm: {e}", tool.name))?;
    f.delivery_secs = up.elapsed().as_secs_f64();
    f.storm = sampler.finish();
    let mails = sink.finish();
    f.mails = mails.len();
    let mut per = BTreeMap::new();
    for m in &mails {
        (tool.account)(&parse_mail(m), &mut per, &mut f.unknown);
    }
    f.sent = crashes;
    f.listed_counted = per.values().sum();
    for i in 0..programs {
        let p = format!("p{i:02}");
        let want = crashes / programs + u64::from(i < crashes % programs);
        let got = per.get(&p).copied().unwrap_or(0);
        if got != want {
            f.wrong.push(format!("{p}: {got} of {want}"));
        }
    }
    Ok(())
}

fn mib(kib: u64) -> String {
    format!("{:.2}", kib as f64 / 1024.0)
}

fn mb(kib: u64) -> String {
    format!("{:.2}", kib as f64 * 1024.0 / 1e6)
}

/// Run the storm for every tool; prints the table and the verdicts.
pub fn bench(bin: &Path) -> Result<bool, String> {
    let other = std::env::var_os("BENCH_STORM_BIN").map(std::path::PathBuf::from);
    let bin = other.as_deref().unwrap_or(bin);
    println!("storm: measuring {}", bin.display());
    let crashes = env_u64("BENCH_STORM_EVENTS", 1_000_000);
    let programs = env_u64("BENCH_STORM_PROGRAMS", 100).max(1);
    let only = std::env::var("BENCH_STORM_ONLY").unwrap_or_default();
    println!();
    println!(
        "storm: {crashes} crashes over {programs} programs, a TICK_60 every {TICK_EVERY}, SMTP refused until all are answered; then a sink"
    );
    let mut rows = Vec::new();
    for tool in TOOLS
        .iter()
        .filter(|t| only.is_empty() || only.split(',').any(|o| o == t.name))
    {
        let mut f = Figures {
            idle_kib: idle(bin, tool.name)?,
            quiet: (0, 0),
            quiet_rate: 0.0,
            storm: (0, 0),
            storm_rate: 0.0,
            mails: 0,
            listed_counted: 0,
            sent: 0,
            unknown: 0,
            wrong: Vec::new(),
            delivery_secs: 0.0,
        };
        (f.quiet, f.quiet_rate) = quiet(bin, tool, crashes, programs)?;
        storm(bin, tool, crashes, programs, &mut f)?;
        eprintln!("storm: {} done", tool.name);
        rows.push((tool.name, f));
    }
    println!(
        "| listener | idle RSS MiB | quiet 1M: peak RSS MiB (MB) | quiet HWM MiB | quiet events/s | storm 1M: peak RSS MiB (MB) | storm HWM MiB (MB) | storm events/s | mails after | listed + counted / sent | delivery s |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    let (mut all_small, mut all_counted) = (true, true);
    for (name, f) in &rows {
        let peak = f.storm.0.max(f.storm.1);
        all_small &= peak * 1024 <= TARGET_BYTES;
        all_counted &= f.wrong.is_empty() && f.unknown == 0 && f.listed_counted == f.sent;
        println!(
            "| {name} | {} | {} ({}) | {} | {:.0} | {} ({}) | {} ({}) | {:.0} | {} | {} / {} | {:.1} |",
            mib(f.idle_kib),
            mib(f.quiet.0),
            mb(f.quiet.0),
            mib(f.quiet.1),
            f.quiet_rate,
            mib(f.storm.0),
            mb(f.storm.0),
            mib(f.storm.1),
            mb(f.storm.1),
            f.storm_rate,
            f.mails,
            f.listed_counted,
            f.sent,
            f.delivery_secs
        );
        if !f.wrong.is_empty() || f.unknown > 0 {
            let more = f.wrong.len().saturating_sub(5);
            println!(
                "  {name}: {} lines or mails not understood (a backlog digest does not say whose); {} programs not fully accounted for: {}{}",
                f.unknown,
                f.wrong.len(),
                f.wrong[..f.wrong.len().min(5)].join(", "),
                if more > 0 { format!(", ... and {more} more") } else { String::new() }
            );
        }
    }
    crate::verdict(
        all_small,
        "peak RSS (max of sampled VmRSS and VmHWM) <= 8 MB (7.63 MiB) in the storm, every listener",
    );
    crate::verdict(
        all_counted,
        "every crash accounted for in the mails that followed (listed or counted), per program",
    );
    Ok(all_small && all_counted)
}
