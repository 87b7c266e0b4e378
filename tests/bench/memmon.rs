//! memmon's tick at 500 supervised programs (issue 5, "Benchmark").
//!
//! A real supervisord 4.3.0 (from <repo>/.venv, or BENCH_SUPERVISORD) runs 500 `sleep`
//! processes (one program, `numprocs=500`). memmon's check ([`Memmon::tick`], the very code the
//! listener's worker runs) is timed against it, with `-a 100GB` (every process is checked,
//! none is over), plain and with `-c`. Its supervisord calls go through a wrapper that times
//! them, so each tick splits into supervisord's part (getAllProcessInfo; getAllConfigInfo only
//! on the first tick, to learn the pools) and memmon's own work (the rest: decoding nothing
//! more, reading /proc, deciding). The target is memmon's own work <= 20 ms per tick;
//! supervisord's answer is printed beside it, measured in the same rounds.
//!
//! Knobs: BENCH_MEMMON_PROGRAMS (default 500), BENCH_MEMMON_TICKS (default 15).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use superlance::listeners::memmon::{Memmon, Rules};
use superlance::procs::Proc;
use superlance::rpc::{self, ConfigInfo, ProcessInfo, RpcError, Supervisor, SupervisorState};

const TARGET_OWN_MS: f64 = 20.0;

/// Times every call it passes on.
struct Timed {
    inner: rpc::Client,
    spent: Arc<Mutex<Duration>>,
}

impl Timed {
    fn time<T>(&mut self, f: impl FnOnce(&mut rpc::Client) -> T) -> T {
        let start = Instant::now();
        let out = f(&mut self.inner);
        *self.spent.lock().unwrap_or_else(|p| p.into_inner()) += start.elapsed();
        out
    }
}

impl Supervisor for Timed {
    fn get_all_process_info(&mut self) -> Result<Vec<ProcessInfo>, RpcError> {
        self.time(|c| c.get_all_process_info())
    }
    fn get_process_info(&mut self, n: &str) -> Result<ProcessInfo, RpcError> {
        self.time(|c| c.get_process_info(n))
    }
    fn get_all_config_info(&mut self) -> Result<Vec<ConfigInfo>, RpcError> {
        self.time(|c| c.get_all_config_info())
    }
    fn start_process(&mut self, n: &str, w: bool) -> Result<(), RpcError> {
        self.time(|c| c.start_process(n, w))
    }
    fn stop_process(&mut self, n: &str, w: bool) -> Result<(), RpcError> {
        self.time(|c| c.stop_process(n, w))
    }
    fn signal_process(&mut self, n: &str, s: &str) -> Result<(), RpcError> {
        self.time(|c| c.signal_process(n, s))
    }
    fn get_state(&mut self) -> Result<SupervisorState, RpcError> {
        self.time(|c| c.get_state())
    }
    fn get_pid(&mut self) -> Result<u32, RpcError> {
        self.time(|c| c.get_pid())
    }
}

/// A supervisord in a temp dir, killed on drop.
struct Supervisord {
    child: Child,
    dir: PathBuf,
}

impl Drop for Supervisord {
    fn drop(&mut self) {
        // SAFETY: kill(2) with a pid and a signal number.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn start_supervisord(bin: &Path, programs: usize) -> Result<(Supervisord, rpc::Client), String> {
    let dir = std::env::temp_dir().join(format!("superlance-bench-memmon-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let sock = dir.join("supervisor.sock");
    let conf = dir.join("supervisord.conf");
    let text = format!(
        "[unix_http_server]\nfile={sock}\n\n[supervisord]\nlogfile={d}/supervisord.log\n\
         pidfile={d}/supervisord.pid\nchildlogdir={d}\nnodaemon=true\nminfds=4096\n\n\
         [rpcinterface:supervisor]\n\
         supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n\n\
         [program:p]\ncommand=sleep 100000\nnumprocs={programs}\n\
         process_name=%(program_name)s_%(process_num)03d\nstartsecs=0\n\
         stdout_logfile=NONE\nstderr_logfile=NONE\n",
        sock = sock.display(),
        d = dir.display(),
    );
    std::fs::write(&conf, text).map_err(|e| format!("{}: {e}", conf.display()))?;
    let child = Command::new(bin)
        .args(["-c"])
        .arg(&conf)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
    let sv = Supervisord { child, dir };
    let mut client =
        rpc::Client::new(&format!("unix://{}", sock.display()), None).map_err(|e| e.to_string())?;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Ok(infos) = client.get_all_process_info() {
            let running = infos.iter().filter(|i| i.statename == "RUNNING").count();
            if running == programs {
                return Ok((sv, client));
            }
        }
        if Instant::now() > deadline {
            return Err(format!(
                "supervisord did not run {programs} programs within 120 s"
            ));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Run the memmon rows; prints a table and the verdict. Returns whether the target was met.
pub fn bench() -> Result<bool, String> {
    let programs = env_usize("BENCH_MEMMON_PROGRAMS", 500);
    let ticks = env_usize("BENCH_MEMMON_TICKS", 15).max(3);
    let bin = std::env::var_os("BENCH_SUPERVISORD")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/supervisord"));
    if !bin.exists() {
        return Err(format!(
            "memmon rows need supervisord: no {} (tests/setup.sh creates it) and no BENCH_SUPERVISORD",
            bin.display()
        ));
    }
    println!(
        "memmon: starting supervisord with {programs} programs ({})",
        bin.display()
    );
    let (sv, url_client) = start_supervisord(&bin, programs)?;
    let url = url_client.url().to_owned();
    println!();
    println!("memmon tick at {programs} supervised programs, -a 100GB (all checked, none over); median of {ticks} ticks");
    println!(
        "{:<28} {:>14} {:>16} {:>14}",
        "row", "whole tick ms", "supervisord ms", "memmon's own ms"
    );
    let mut met = true;
    let mut bare_call = Vec::new();
    for cumulative in [false, true] {
        let spent = Arc::new(Mutex::new(Duration::ZERO));
        let client = rpc::Client::new(&url, None).map_err(|e| e.to_string())?;
        let mut memmon = Memmon::new(
            Rules {
                any: Some(100 << 30),
                ..Rules::default()
            },
            cumulative,
            Box::new(Timed {
                inner: client,
                spent: Arc::clone(&spent),
            }),
            Box::new(Proc::default()),
            None,
            "bench".into(),
            None,
            u64::MAX,
            None,
        );
        let (mut whole, mut rpc_ms, mut own) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..=ticks {
            *spent.lock().unwrap_or_else(|p| p.into_inner()) = Duration::ZERO;
            let start = Instant::now();
            let report = memmon.tick();
            let total = start.elapsed();
            let in_rpc = *spent.lock().unwrap_or_else(|p| p.into_inner());
            if report.checked != programs {
                return Err(format!(
                    "memmon checked {} of {programs} processes",
                    report.checked
                ));
            }
            // The first tick also learns the pools (getAllConfigInfo): not a steady tick.
            if i == 0 {
                continue;
            }
            whole.push(total.as_secs_f64() * 1e3);
            rpc_ms.push(in_rpc.as_secs_f64() * 1e3);
            own.push(total.saturating_sub(in_rpc).as_secs_f64() * 1e3);
            // A bare getAllProcessInfo, interleaved, for the same-run baseline.
            if !cumulative {
                let mut c = rpc::Client::new(&url, None).map_err(|e| e.to_string())?;
                let t = Instant::now();
                c.get_all_process_info().map_err(|e| e.to_string())?;
                bare_call.push(t.elapsed().as_secs_f64() * 1e3);
            }
        }
        let own_ms = median(own);
        met &= own_ms <= TARGET_OWN_MS;
        println!(
            "{:<28} {:>14.1} {:>16.1} {:>14.2}",
            if cumulative {
                "memmon -c (tree of each)"
            } else {
                "memmon"
            },
            median(whole),
            median(rpc_ms),
            own_ms
        );
    }
    println!(
        "{:<28} {:>14} {:>16.1} {:>14}",
        "getAllProcessInfo alone",
        "",
        median(bare_call),
        ""
    );
    println!("supervisord ms: time inside XML-RPC calls (the request, supervisord's work, the reply and its decoding);");
    println!("memmon's own ms: the rest of the tick (/proc reads, or one /proc scan with -c, and the decisions).");
    drop(sv);
    crate::verdict(
        met,
        &format!(
            "memmon's own work per tick at {programs} programs <= {TARGET_OWN_MS} ms, plain and -c"
        ),
    );
    Ok(met)
}
