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

// Files: variants.rs (the rows of the main table), round.rs (one round of them), drive.rs
// (driving one listener, its placement, what is read of it), sinks.rs (where the crash rows'
// mail goes); the other sections: channels.rs, closing_dot.rs, memmon.rs, metrics.rs,
// soak.rs, storm.rs.
mod channels;
mod closing_dot;
mod drive;
mod memmon;
mod metrics;
mod round;
mod sinks;
mod soak;
mod storm;
mod variants;

use drive::*;
use round::*;
use sinks::*;
use variants::*;

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::mem::ManuallyDrop;
use std::os::fd::FromRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::Ordering;
use std::time::Duration;

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

    let Rows {
        variants,
        sinks,
        superlance,
        notes,
        only_metrics,
        only_channels,
        _script,
    } = rows()?;
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
    for note in &notes {
        println!("{note}");
    }
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
