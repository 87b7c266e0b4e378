//! metrics' scrape at 500 programs (issue 14, "Benchmark").
//!
//! The real binary, `superlance metrics --listen 127.0.0.1:PORT` (and with `--memory`), is
//! fed over its pipes a STARTING and a RUNNING event for each of 500 programs (each in a group
//! of its own, each RUNNING as the bench's `sleep` child, so that `--memory` reads a real
//! /proc entry per program), then scraped over loopback. What a scrape costs the listener is
//! the CPU time of all its threads, from `/proc/<pid>/task/*/schedstat` (nanoseconds, unlike
//! the 10 ms ticks of `/proc/<pid>/stat`), before and after the scrapes, divided by their
//! number. The scrapes are sequential, each on a fresh connection, as Prometheus does them.
//! The target: <= 10 ms of CPU per scrape. Peak RSS (VmHWM) is printed beside it.
//!
//! Knobs: BENCH_METRICS_PROGRAMS (default 500), BENCH_METRICS_SCRAPES (default 50).

use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{env_u64, median, verdict, vm_hwm_kib};

const TARGET_SCRAPE_CPU_MS: f64 = 10.0;

/// CPU time of every thread of `pid` so far (schedstat's first field), in nanoseconds.
fn cpu_ns(pid: u32) -> Result<u64, String> {
    let mut total = 0;
    let tasks =
        fs::read_dir(format!("/proc/{pid}/task")).map_err(|e| format!("/proc/{pid}/task: {e}"))?;
    for t in tasks.flatten() {
        let text = fs::read_to_string(t.path().join("schedstat")).unwrap_or_default();
        total += text
            .split_whitespace()
            .next()
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0);
    }
    Ok(total)
}

fn frame(serial: u64, eventname: &str, payload: &str) -> Vec<u8> {
    let mut f = format!(
        "ver:3.0 server:supervisor serial:{serial} pool:metrics poolserial:{serial} eventname:{eventname} len:{}\n",
        payload.len()
    )
    .into_bytes();
    f.extend_from_slice(payload.as_bytes());
    f
}

struct Figures {
    cpu_ms: f64,
    wall_ms: f64,
    bytes: usize,
    hwm_kib: u64,
}

fn one(
    bin: &Path,
    memory: bool,
    programs: u64,
    scrapes: u64,
    target: u32,
) -> Result<Figures, String> {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("cannot find a free port: {e}"))?
        .port();
    let mut args = vec![
        "metrics".to_owned(),
        "--listen".into(),
        format!("127.0.0.1:{port}"),
    ];
    if memory {
        args.push("--memory".into());
    }
    let mut child: Child = Command::new(bin)
        .args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("{}: {e}", bin.display()))?;
    let pid = child.id();
    let result = (|| {
        let mut stdin = child.stdin.take().ok_or("no stdin")?;
        let mut stdout = child.stdout.take().ok_or("no stdout")?;
        let mut ready = [0u8; 6];
        stdout
            .read_exact(&mut ready)
            .map_err(|e| format!("READY: {e}"))?;
        let mut answer = [0u8; 17];
        let mut serial = 0;
        for i in 0..programs {
            for (name, payload) in [
                (
                    "PROCESS_STATE_STARTING",
                    format!("processname:prog{i} groupname:group{i} from_state:STOPPED tries:0"),
                ),
                (
                    "PROCESS_STATE_RUNNING",
                    format!(
                        "processname:prog{i} groupname:group{i} from_state:STARTING pid:{target}"
                    ),
                ),
            ] {
                serial += 1;
                stdin
                    .write_all(&frame(serial, name, &payload))
                    .map_err(|e| format!("write: {e}"))?;
                stdout
                    .read_exact(&mut answer)
                    .map_err(|e| format!("answer: {e}"))?;
                if &answer != b"RESULT 2\nOKREADY\n" {
                    return Err(format!(
                        "unexpected answer {:?}",
                        answer.escape_ascii().to_string()
                    ));
                }
            }
        }
        let scrape = || -> Result<usize, String> {
            let mut s =
                TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
            s.set_read_timeout(Some(Duration::from_secs(10)))
                .map_err(|e| e.to_string())?;
            s.write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                .map_err(|e| format!("request: {e}"))?;
            let mut out = Vec::new();
            s.read_to_end(&mut out)
                .map_err(|e| format!("response: {e}"))?;
            if !out.starts_with(b"HTTP/1.1 200 ") {
                return Err(format!(
                    "not a 200: {:?}",
                    String::from_utf8_lossy(&out[..out.len().min(200)])
                ));
            }
            Ok(out.len())
        };
        let bytes = scrape()?; // warm-up: the first render sizes the buffers
        let mut walls = Vec::new();
        let before = cpu_ns(pid)?;
        for _ in 0..scrapes {
            let start = Instant::now();
            scrape()?;
            walls.push(start.elapsed().as_secs_f64() * 1e3);
        }
        let after = cpu_ns(pid)?;
        let hwm_kib = vm_hwm_kib(pid as i32).unwrap_or(0);
        drop(stdin);
        Ok(Figures {
            cpu_ms: (after - before) as f64 / 1e6 / scrapes as f64,
            wall_ms: median(&walls),
            bytes,
            hwm_kib,
        })
    })();
    let _ = child.kill();
    let _ = child.wait();
    result
}

pub fn bench(bin: &Path) -> Result<(), String> {
    let programs = env_u64("BENCH_METRICS_PROGRAMS", 500)?;
    let scrapes = env_u64("BENCH_METRICS_SCRAPES", 50)?.max(1);
    let mut sleeper = Command::new("sleep")
        .arg("600")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot spawn `sleep 600`: {e}"))?;
    let target = sleeper.id();
    println!();
    println!("metrics scrape: {programs} programs (each STARTING then RUNNING, pid {target}), {scrapes} sequential scrapes over loopback, each on a new connection");
    println!("| row | CPU per scrape (ms) | wall per scrape, median (ms) | response (KiB) | peak RSS (MiB) |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    let mut worst: f64 = 0.0;
    let mut result = Ok(());
    for memory in [false, true] {
        match one(bin, memory, programs, scrapes, target) {
            Ok(f) => {
                worst = worst.max(f.cpu_ms);
                println!(
                    "| superlance metrics{}: GET /metrics, {programs} programs | {:.2} | {:.2} | {:.0} | {:.2} |",
                    if memory { " --memory" } else { "" },
                    f.cpu_ms,
                    f.wall_ms,
                    f.bytes as f64 / 1024.0,
                    f.hwm_kib as f64 / 1024.0
                );
            }
            Err(e) => result = Err(e),
        }
    }
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    result?;
    println!("CPU per scrape: all of the listener's threads (schedstat), accept and render and write, per scrape; peak RSS: VmHWM after the scrapes.");
    verdict(
        worst <= TARGET_SCRAPE_CPU_MS,
        &format!("one scrape at {programs} programs <= {TARGET_SCRAPE_CPU_MS} ms of the listener's CPU: {worst:.2} ms (the worse of both rows)"),
    );
    Ok(())
}
