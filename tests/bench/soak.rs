//! Soak (issue 7): one million events through each listener over pipes, with its resident
//! memory sampled along the way. `BENCH_ONLY=soak cargo bench --bench listeners`.
//!
//! Each listener gets a mix that keeps its action path busy, not only the no-op path:
//! - oom_score_adj `-p soak -s 500`: RUNNING of a real child of ours (the sibling check
//!   passes, the score is read and found set), TICK_5 (re-check), other programs' events;
//! - crashmail `-a`, mail to `cat >/dev/null`: crashes of 10 programs; flood control sends 5 per
//!   program per window and counts the rest for its digest;
//! - crashmailbatch, crashsms, fatalmailbatch: one event in 100 a crash or FATAL of one of 10
//!   programs (the rest expected exits, not reported), and a TICK_60 every 5000 events that
//!   mails the batch: 200 batches of 50 lines, each through `cat >/dev/null` (more often, and
//!   the soak would measure the mail queue's backlog, not a leak: delivery through a command
//!   runs at ~300 mails/s);
//! - memmon `-a 100GB` and httpok `-a <closed port>`: TICK_5 every 10 events, each handed to the
//!   background worker against a supervisord that is not there (the failure is logged once);
//!   other events.
//!
//! The events are written by a thread as fast as the listener takes them; the answers are read
//! and counted here. VmRSS is sampled every 50,000 answers. The verdict: RSS at the end at most
//! [`GROWTH_BOUND_KIB`] above RSS after the first 100,000 events (warm-up: buffers, the mail
//! worker, flood windows), and every event answered.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Instant;

const GROWTH_BOUND_KIB: u64 = 1024;
const SAMPLE_EVERY: u64 = 50_000;
const WARM_UP: u64 = 100_000;
const ANSWER: &[u8] = b"RESULT 2\nOKREADY\n";

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn vm_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()
}

fn frame(out: &mut Vec<u8>, serial: u64, eventname: &str, payload: &str) {
    let _ = write!(
        out,
        "ver:3.0 server:supervisor serial:{serial} pool:soak poolserial:{serial} eventname:{eventname} len:{}\n{payload}",
        payload.chars().count()
    );
}

/// The `n`-th event of a listener's mix.
fn event(out: &mut Vec<u8>, name: &str, n: u64, child: u32) {
    out.clear();
    let program = format!("p{}", n % 10);
    let exited = |p: &str| {
        format!(
            "processname:{p} groupname:{p} from_state:RUNNING expected:0 pid:{}",
            1000 + n % 30000
        )
    };
    let other = |out: &mut Vec<u8>| frame(out, n, "PROCESS_GROUP_ADDED", "groupname:soak");
    match name {
        "oom_score_adj" => match n % 3 {
            0 => frame(
                out,
                n,
                "PROCESS_STATE_RUNNING",
                &format!("processname:soak groupname:soak from_state:STARTING pid:{child}"),
            ),
            1 => frame(out, n, "TICK_5", &format!("when:{}", 1_700_000_000 + n * 5)),
            _ => other(out),
        },
        "crashmail" => frame(out, n, "PROCESS_STATE_EXITED", &exited(&program)),
        "crashmailbatch" | "crashsms" | "fatalmailbatch" if n % 5000 != 4999 && n % 100 != 0 => {
            frame(
                out,
                n,
                "PROCESS_STATE_EXITED",
                &exited(&program).replace("expected:0", "expected:1"),
            )
        }
        "crashmailbatch" | "crashsms" if n % 5000 != 4999 => {
            frame(out, n, "PROCESS_STATE_EXITED", &exited(&program))
        }
        "fatalmailbatch" if n % 5000 != 4999 => frame(
            out,
            n,
            "PROCESS_STATE_FATAL",
            &format!("processname:{program} groupname:{program} from_state:BACKOFF"),
        ),
        "crashmailbatch" | "crashsms" | "fatalmailbatch" => frame(
            out,
            n,
            "TICK_60",
            &format!("when:{}", 1_700_000_000 + (n / 5000 + 1) * 60),
        ),
        "memmon" | "httpok" if n % 10 == 0 => {
            frame(out, n, "TICK_5", &format!("when:{}", 1_700_000_000 + n / 2))
        }
        _ => other(out),
    }
}

/// The least options that start `name` and give it something to do (see the module doc).
fn args(name: &str) -> Option<Vec<&'static str>> {
    let sink = "cat >/dev/null";
    Some(match name {
        "oom_score_adj" => vec!["-p", "soak", "-s", "500"],
        "crashmail" => vec!["-a", "-m", "ops@example.com", "-s", sink],
        "crashmailbatch" | "crashsms" | "fatalmailbatch" => {
            vec![
                "-t",
                "ops@example.com",
                "-f",
                "sv@example.com",
                "--sendmail_program",
                sink,
            ]
        }
        "memmon" => vec!["-a", "100GB"],
        "httpok" => vec!["-a", "http://127.0.0.1:9/"],
        _ => return None,
    })
}

struct Row {
    name: String,
    events: u64,
    secs: f64,
    start_kib: u64,
    warm_kib: u64,
    max_kib: u64,
    end_kib: u64,
    ok: bool,
}

fn soak_one(bin: &Path, name: &str, events: u64, child: u32) -> Result<Row, String> {
    let args =
        args(name).ok_or_else(|| format!("{name}: add its soak options to tests/bench/soak.rs"))?;
    let mut listener: Child = Command::new(bin)
        .arg(name)
        .args(&args)
        .env(
            "SUPERVISOR_SERVER_URL",
            "unix:///nonexistent/supervisor.sock",
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {name}: {e}"))?;
    let pid = listener.id();
    let mut stdin = listener.stdin.take().ok_or("no stdin")?;
    let mut stdout = listener.stdout.take().ok_or("no stdout")?;
    let mut ready = [0u8; 6];
    stdout
        .read_exact(&mut ready)
        .map_err(|e| format!("{name}: no READY: {e}"))?;
    if &ready != b"READY\n" {
        return Err(format!("{name}: started with {ready:?}"));
    }
    let start_kib = vm_rss_kib(pid).unwrap_or(0);
    let writer_name = name.to_owned();
    // The writer keeps stdin open until told: the last RSS sample is taken while the listener
    // still runs.
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let writer = std::thread::spawn(move || -> std::io::Result<()> {
        let mut buf = Vec::with_capacity(256);
        let mut batch = Vec::with_capacity(64 * 1024);
        for n in 1..=events {
            event(&mut buf, &writer_name, n, child);
            batch.extend_from_slice(&buf);
            if batch.len() > 32 * 1024 || n == events {
                stdin.write_all(&batch)?;
                batch.clear();
            }
        }
        let _ = done_rx.recv();
        Ok(()) // stdin closes here: end of input ends the listener
    });
    let started = Instant::now();
    let mut answered = 0u64;
    let mut pending = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let (mut warm_kib, mut max_kib) = (0u64, start_kib);
    while answered < events {
        let n = stdout
            .read(&mut chunk)
            .map_err(|e| format!("{name}: {e}"))?;
        if n == 0 {
            return Err(format!("{name}: stdout closed after {answered} answers"));
        }
        pending.extend_from_slice(&chunk[..n]);
        let whole = pending.len() / ANSWER.len();
        if pending[..whole * ANSWER.len()]
            .chunks(ANSWER.len())
            .any(|a| a != ANSWER)
        {
            return Err(format!(
                "{name}: unexpected bytes on stdout after {answered} answers"
            ));
        }
        pending.drain(..whole * ANSWER.len());
        let before = answered;
        answered += whole as u64;
        if answered / SAMPLE_EVERY != before / SAMPLE_EVERY {
            let rss = vm_rss_kib(pid).unwrap_or(0);
            max_kib = max_kib.max(rss);
            if before < WARM_UP && answered >= WARM_UP {
                warm_kib = rss;
            }
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let end_kib = vm_rss_kib(pid).unwrap_or(0);
    max_kib = max_kib.max(end_kib);
    let _ = done_tx.send(());
    writer
        .join()
        .map_err(|_| format!("{name}: writer panicked"))?
        .map_err(|e| format!("{name}: writing events: {e}"))?;
    let status = listener.wait().map_err(|e| e.to_string())?;
    let ok = status.success() && end_kib <= warm_kib + GROWTH_BOUND_KIB;
    Ok(Row {
        name: name.to_owned(),
        events,
        secs,
        start_kib,
        warm_kib,
        max_kib,
        end_kib,
        ok,
    })
}

/// Run the soak for every listener; prints the table and a verdict.
pub fn bench(bin: &Path, listeners: &[String]) -> Result<bool, String> {
    let events = env_u64("BENCH_SOAK_EVENTS", 1_000_000);
    // A real child of ours, so that oom_score_adj's sibling check passes.
    let mut child = Command::new("sleep")
        .arg("3600")
        .spawn()
        .map_err(|e| format!("cannot start sleep: {e}"))?;
    println!();
    println!("soak: {events} events through each listener over pipes; VmRSS sampled every {SAMPLE_EVERY} answers");
    println!(
        "{:<16} {:>9} {:>8} {:>10} {:>12} {:>10} {:>10} {:>10}  verdict",
        "listener", "events", "secs", "events/s", "start KiB", "@100k KiB", "max KiB", "end KiB"
    );
    let mut all_ok = true;
    for name in listeners {
        let row = soak_one(bin, name, events, child.id())?;
        all_ok &= row.ok;
        println!(
            "{:<16} {:>9} {:>8.1} {:>10.0} {:>12} {:>10} {:>10} {:>10}  {}",
            row.name,
            row.events,
            row.secs,
            row.events as f64 / row.secs,
            row.start_kib,
            row.warm_kib,
            row.max_kib,
            row.end_kib,
            if row.ok { "ok" } else { "GREW" }
        );
    }
    let _ = child.kill();
    let _ = child.wait();
    crate::verdict(
        all_ok,
        &format!(
            "every listener answered {events} events and its RSS at the end is at most {GROWTH_BOUND_KIB} KiB above its RSS after {WARM_UP}"
        ),
    );
    Ok(all_ok)
}
