//! metrics (issue 14): counters equal supervisord's own log under a real supervisord 4.3.0,
//! a crash and restart between two scrapes is counted, the output passes `promtool check
//! metrics`, a real Prometheus scrapes it, the shipped alert rules pass `promtool check rules`,
//! and 1000 garbage connections leave events answered.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::pipe::{self, Running, BIN, READY};
use crate::common::prom::{check_metrics, promtool, sum};
use crate::common::{free_port, poll, run, tempdir, wait_until, Supervisord};

/// One HTTP GET over a fresh connection: (status code, whole response text).
fn get(port: u16, path: &str, extra: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{extra}\r\n"
    )
    .ok()?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).ok()?;
    let text = String::from_utf8(out).ok()?;
    let code = text.get(9..12)?.parse().ok()?;
    Some((code, text))
}

/// The body of `GET /metrics` (panics on anything but a 200).
fn scrape(port: u16) -> String {
    let (code, text) = poll(Duration::from_secs(10), || get(port, "/metrics", ""))
        .unwrap_or_else(|| panic!("no answer from 127.0.0.1:{port}/metrics"));
    assert_eq!(code, 200, "{text}");
    let (_, body) = text.split_once("\r\n\r\n").unwrap_or_default();
    body.to_owned()
}

/// Lines of supervisord's log containing `needle`.
fn log_count(sv: &Supervisord, needle: &str) -> u64 {
    sv.log().lines().filter(|l| l.contains(needle)).count() as u64
}

fn listener_section(port: u16) -> String {
    format!(
        "[eventlistener:metrics]\ncommand=metrics --listen 127.0.0.1:{port} --memory\n\
         events=PROCESS_STATE,SUPERVISOR_STATE_CHANGE,PROCESS_GROUP,TICK_5\nstartsecs=0\nbuffer_size=1000\n"
    )
}

#[test]
fn counters_equal_supervisord_log_and_a_crash_between_scrapes_is_counted() {
    let port = free_port();
    let sv = Supervisord::start(&format!(
        "{}\n\
         [program:looper]\ncommand=sh -c 'sleep 1.2; exit 3'\nstartsecs=1\nautorestart=true\nstartretries=100\n\n\
         [program:doomed]\ncommand=sh -c 'exit 1'\nstartsecs=1\nstartretries=1\n\n\
         [program:steady]\ncommand=sleep 600\nstartsecs=0\n",
        listener_section(port)
    ));
    let listener = sv.wait_running("metrics", Duration::from_secs(20));
    sv.wait_state("doomed", "FATAL", Duration::from_secs(30));
    let text = poll(Duration::from_secs(30), || {
        let t = scrape(port);
        (sum(&t, "supervisor_process_exits_total", &[("name", "looper")]) >= 2).then_some(t)
    })
    .expect("looper exited twice");
    assert_eq!(
        sum(
            &text,
            "supervisor_process_state",
            &[("name", "doomed"), ("state", "FATAL")]
        ),
        1,
        "{text}"
    );
    assert_eq!(
        sum(
            &text,
            "supervisor_process_fatal_total",
            &[("name", "doomed")]
        ),
        1
    );
    check_metrics(&text);

    // A crash and restart between two scrapes: the state says RUNNING both times, the
    // counters say what happened.
    let pid = sv.wait_running("steady", Duration::from_secs(10));
    let before = scrape(port);
    assert_eq!(
        sum(
            &before,
            "supervisor_process_state",
            &[("name", "steady"), ("state", "RUNNING")]
        ),
        1
    );
    assert_eq!(
        sum(&before, "supervisor_process_pid", &[("name", "steady")]),
        u64::from(pid)
    );
    assert!(
        sum(
            &before,
            "supervisor_process_resident_memory_bytes",
            &[("name", "steady")]
        ) > 0
    );
    sv.ctl(&["signal", "KILL", "steady"]);
    assert!(wait_until(Duration::from_secs(10), || {
        sv.pid("steady").is_some_and(|p| p != pid)
    }));
    let crash = |t: &str| {
        (
            sum(
                t,
                "supervisor_process_exits_total",
                &[("name", "steady"), ("expected", "false")],
            ),
            sum(t, "supervisor_process_starts_total", &[("name", "steady")]),
        )
    };
    let (exits, starts) = crash(&before);
    let after = poll(Duration::from_secs(10), || {
        let t = scrape(port);
        (crash(&t) == (exits + 1, starts + 1)).then_some(t)
    })
    .unwrap_or_else(|| panic!("the crash was not counted:\n{}", scrape(port)));
    assert_eq!(
        sum(
            &after,
            "supervisor_process_state",
            &[("name", "steady"), ("state", "RUNNING")]
        ),
        1
    );

    // Quiesce the crash-looper, then every counter equals supervisord's log exactly.
    sv.ctl(&["stop", "looper"]);
    sv.wait_state("looper", "STOPPED", Duration::from_secs(10));
    let expect = |name: &str| {
        [
            log_count(&sv, &format!("spawned: '{name}' with pid")),
            log_count(&sv, &format!("success: {name} entered RUNNING state")),
            log_count(&sv, &format!("exited: {name} (")),
            log_count(&sv, &format!("gave up: {name} entered FATAL state")),
        ]
    };
    let seen = |t: &str, name: &str| {
        [
            sum(t, "supervisor_process_starts_total", &[("name", name)]),
            sum(
                t,
                "supervisor_process_transitions_total",
                &[("name", name), ("to", "RUNNING")],
            ),
            sum(t, "supervisor_process_exits_total", &[("name", name)])
                + sum(
                    t,
                    "supervisor_process_transitions_total",
                    &[("name", name), ("from", "STARTING"), ("to", "BACKOFF")],
                ),
            sum(t, "supervisor_process_fatal_total", &[("name", name)]),
        ]
    };
    let settled = poll(Duration::from_secs(10), || {
        let t = scrape(port);
        let received = sum(&t, "supervisor_listener_events_total", &[]);
        let sent = log_count(&sv, "sent to listener metrics");
        let all = ["looper", "doomed", "steady"]
            .iter()
            .all(|n| seen(&t, n) == expect(n));
        (all && received == sent).then_some(t)
    });
    let Some(text) = settled else {
        let t = scrape(port);
        for n in ["looper", "doomed", "steady"] {
            eprintln!("{n}: listener {:?}, log {:?}", seen(&t, n), expect(n));
        }
        panic!(
            "counters differ from supervisord's log (events received {}, sent {}):\n{t}",
            sum(&t, "supervisor_listener_events_total", &[]),
            log_count(&sv, "sent to listener metrics")
        );
    };
    assert!(
        expect("looper")[2] >= 2 && expect("doomed")[0] == 2,
        "{}",
        sv.log()
    );
    assert_eq!(
        sum(
            &text,
            "supervisor_process_transitions_total",
            &[("name", "looper"), ("to", "STOPPED")]
        ),
        1
    );
    sv.assert_listener_up("metrics", listener);
}

#[test]
fn openmetrics_on_request_http_errors_and_the_textfile() {
    let port = free_port();
    let sv = Supervisord::start(&format!(
        "{}\n[program:steady]\ncommand=sleep 600\nstartsecs=0\n",
        listener_section(port).replace(
            "--memory\n",
            "--memory --textfile %(here)s/supervisor.prom\n"
        )
    ));
    let listener = sv.wait_running("metrics", Duration::from_secs(20));
    sv.wait_running("steady", Duration::from_secs(10));
    // The textfile (written at start, then on every TICK_5) says steady is RUNNING, and
    // passes promtool like the HTTP answer.
    let prom = sv.dir().join("supervisor.prom");
    let textfile = poll(Duration::from_secs(15), || {
        let t = std::fs::read_to_string(&prom).ok()?;
        (sum(
            &t,
            "supervisor_process_state",
            &[("name", "steady"), ("state", "RUNNING")],
        ) == 1
            && sum(
                &t,
                "supervisor_listener_events_total",
                &[("event", "TICK_5")],
            ) >= 1)
            .then_some(t)
    })
    .unwrap_or_else(|| {
        panic!(
            "{} never showed steady RUNNING after a TICK",
            prom.display()
        )
    });
    check_metrics(&textfile);
    // Seeded from getAllProcessInfo: steady is RUNNING whether or not its events came first.
    let (code, text) = get(
        port,
        "/metrics",
        "Accept: application/openmetrics-text; version=1.0.0\r\n",
    )
    .expect("an answer");
    assert_eq!(code, 200, "{text}");
    assert!(
        text.contains("Content-Type: application/openmetrics-text; version=1.0.0"),
        "{text}"
    );
    assert!(
        text.contains("# TYPE supervisor_process_starts counter\n"),
        "{text}"
    );
    assert!(text.ends_with("# EOF\n"), "{text}");
    assert!(
        text.contains("supervisor_supervisord_state{state=\"RUNNING\"} 1\n"),
        "{text}"
    );
    assert_eq!(get(port, "/nothing", "").expect("an answer").0, 404);
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.write_all(b"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
        .expect("write");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    assert!(out.starts_with("HTTP/1.1 405 "), "{out}");
    // `supervisorctl remove`: the group's series end.
    sv.ctl(&["stop", "steady"]);
    sv.ctl(&["remove", "steady"]);
    let gone = poll(Duration::from_secs(10), || {
        let t = scrape(port);
        (!t.contains("name=\"steady\"")).then_some(t)
    });
    assert!(
        gone.is_some(),
        "steady still listed after remove:\n{}",
        scrape(port)
    );
    sv.assert_listener_up("metrics", listener);
}

#[test]
fn a_real_prometheus_scrapes_the_counter() {
    let Ok(true) = Command::new("prometheus")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
    else {
        crate::common::missing_package("prometheus binary", "prometheus");
        return;
    };
    let port = free_port();
    let sv = Supervisord::start(&format!(
        "{}\n[program:steady]\ncommand=sleep 600\nstartsecs=0\n",
        listener_section(port)
    ));
    sv.wait_running("metrics", Duration::from_secs(20));
    let pid = sv.wait_running("steady", Duration::from_secs(10));
    sv.ctl(&["signal", "KILL", "steady"]);
    assert!(wait_until(Duration::from_secs(10), || {
        sv.pid("steady").is_some_and(|p| p != pid)
    }));
    let dir = tempdir();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: supervisor\n    \
             static_configs:\n      - targets: ['127.0.0.1:{port}']\n"
        ),
    )
    .expect("write prometheus.yml");
    let web = free_port();
    let log = std::fs::File::create(dir.path().join("prometheus.log")).expect("log");
    let mut prom = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{web}"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start prometheus");
    let query = "/api/v1/query?query=supervisor_process_exits_total%7Bname%3D%22steady%22%2Cexpected%3D%22false%22%7D";
    let answer = poll(Duration::from_secs(60), || {
        let (code, text) = get(web, query, "")?;
        (code == 200 && text.contains("\"result\":[{")).then_some(text)
    });
    let _ = prom.kill();
    let _ = prom.wait();
    let answer = answer.unwrap_or_else(|| {
        panic!(
            "Prometheus never returned the counter; its log:\n{}",
            std::fs::read_to_string(dir.path().join("prometheus.log")).unwrap_or_default()
        )
    });
    assert!(answer.contains("\"job\":\"supervisor\""), "{answer}");
    assert!(answer.contains(",\"1\"]"), "the counter is 1: {answer}");
}

#[test]
fn shipped_alert_rules_pass_promtool() {
    let Some(promtool) = promtool() else { return };
    let rules = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/packaging/superlance-alerts.yml"
    );
    let out = run(Command::new(promtool).args(["check", "rules", rules]));
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The rules in docs/metrics.md are the same file.
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/metrics.md"))
        .expect("docs/metrics.md");
    let shipped = std::fs::read_to_string(rules).expect("rules");
    assert!(
        doc.contains(shipped.trim()),
        "docs/metrics.md does not quote packaging/superlance-alerts.yml verbatim"
    );
}

#[test]
fn a_thousand_garbage_connections_leave_events_answered() {
    let port = free_port();
    let mut l = Running::spawn(BIN, &["metrics", "--listen", &format!("127.0.0.1:{port}")]);
    l.expect_stdout(READY);
    assert!(wait_until(Duration::from_secs(10), || TcpStream::connect(
        ("127.0.0.1", port)
    )
    .is_ok()));
    let threads = l.status_kib_threads();
    let rss_before = l.status_kib("VmRSS");
    let started = Instant::now();
    let hammer = std::thread::spawn(move || {
        // Slow clients that never finish their request, held through half the flood: first
        // the queue is full and new connections are closed at once, then the workers answer
        // the garbage.
        let mut slow: Option<Vec<TcpStream>> = (0..20)
            .filter_map(|_| {
                let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
                s.write_all(b"GET /metrics HTTP/1.1\r\nX-Slow: ").ok()?;
                Some(s)
            })
            .collect::<Vec<_>>()
            .into();
        let mut answered = 0;
        for i in 0..1000u32 {
            if i == 500 {
                slow.take();
            }
            let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
                continue;
            };
            let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
            if i % 4 == 0 {
                continue; // connect and close: a port scanner
            }
            let _ = match i % 4 {
                1 => s.write_all(b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03garbage"),
                2 => s.write_all(&[b'A'; 20_000]),
                _ => s.write_all(b"DELETE /metrics HTTP/1.1\r\n\r\n"),
            };
            let mut sink = [0u8; 512];
            if matches!(s.read(&mut sink), Ok(n) if n > 0) {
                answered += 1;
            }
        }
        answered
    });
    // Events flow, lock-step in batches, for as long as the flood lasts (2000 at least, 50 000
    // at most: each check compares all the output so far).
    let mut n: u32 = 0;
    let mut want = READY.to_vec();
    while n < 2000
        || (n < 50_000 && !hammer.is_finished() && started.elapsed() < Duration::from_secs(60))
    {
        l.write(&pipe::running(n + 1, "g", "p", 1000 + n));
        want.extend_from_slice(pipe::ANSWER);
        n += 1;
        if n % 100 == 0 {
            l.expect_stdout(&want);
        }
    }
    l.expect_stdout(&want);
    let answered = hammer.join().expect("the hammer thread");
    // Garbage got answers too (400, 405, 431), not only closed connections.
    assert!(answered > 0, "no garbage connection was answered");
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(60), "took {elapsed:?}");
    // Memory does not grow with the connections (the workers' buffers are on their stacks).
    let rss_after = l.status_kib("VmRSS");
    assert!(
        rss_after < rss_before + 1024,
        "VmRSS grew from {rss_before} to {rss_after} KiB"
    );
    let text = scrape(port);
    assert_eq!(
        sum(
            &text,
            "supervisor_listener_events_total",
            &[("event", "PROCESS_STATE_RUNNING")]
        ),
        u64::from(n),
        "{text}"
    );
    assert_eq!(l.status_kib_threads(), threads, "threads grew");
    // The server's own figures: garbage answered with 400, methods with 405, heads over the
    // cap with 431, and connections over the limit refused.
    for code in ["400", "405", "431"] {
        assert!(
            sum(
                &text,
                "supervisor_listener_http_requests_total",
                &[("code", code)]
            ) > 0,
            "{code}: {text}"
        );
    }
    check_metrics(&text);
    let finished = l.finish();
    assert_eq!(finished.code(), 0, "{}", finished.stderr);
    assert!(!finished.stderr.contains("panicked"), "{}", finished.stderr);
}

/// Threads of a running listener.
trait Threads {
    fn status_kib_threads(&self) -> u64;
}

impl Threads for Running {
    fn status_kib_threads(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("read /proc/<pid>/status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("Threads:"))
            .and_then(|v| v.trim().parse().ok())
            .expect("Threads in /proc/<pid>/status")
    }
}

#[test]
fn option_errors_and_the_non_loopback_warning() {
    // A port in use is a clear error at start, before READY.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let mut l = Running::spawn(BIN, &["metrics", "--listen", &format!("127.0.0.1:{port}")]);
    let f = l.exits_within(pipe::TIMEOUT);
    assert_eq!(f.code(), 1, "{}", f.stderr);
    assert!(f.stdout.is_empty(), "{}", pipe::show(&f.stdout));
    assert!(
        f.stderr
            .contains(&format!("cannot listen on 127.0.0.1:{port}")),
        "{}",
        f.stderr
    );
    // A user without a password file, and a bad address: usage errors.
    for args in [
        &["metrics", "--web-user", "prom"][..],
        &["metrics", "--listen", "nowhere"],
    ] {
        let f = Running::spawn(BIN, args).exits_within(pipe::TIMEOUT);
        assert_eq!(f.code(), 2, "{args:?}: {}", f.stderr);
        assert!(f.stdout.is_empty());
    }
    // Every address without auth: served, with a warning.
    let mut l = Running::spawn(BIN, &["metrics", "--listen", "0.0.0.0:0"]);
    l.expect_stdout(READY);
    l.expect_stderr("which is not loopback, without authentication");
    let f = l.finish();
    assert_eq!(f.code(), 0, "{}", f.stderr);
    // With auth: no warning.
    let dir = tempdir();
    let file = dir.path().join("password");
    std::fs::write(&file, "s3cret\n").expect("write");
    let mut l = Running::spawn(
        BIN,
        &[
            "metrics",
            "--listen",
            "0.0.0.0:0",
            "--web-user",
            "prom",
            "--web-password-file",
            &file.display().to_string(),
        ],
    );
    l.expect_stdout(READY);
    l.expect_stderr("(basic auth)");
    let f = l.finish();
    assert_eq!(f.code(), 0, "{}", f.stderr);
    assert!(!f.stderr.contains("not loopback"), "{}", f.stderr);
}

#[test]
fn gauges_are_seeded_from_supervisord_and_no_counter_is_invented() {
    // Subscribed to TICK_5 only: whatever the gauges say about steady comes from the seed
    // (getAllProcessInfo, getState), not from its events.
    let port = free_port();
    let sv = Supervisord::start(&format!(
        "[program:steady]\ncommand=sleep 600\nstartsecs=0\npriority=1\n\n\
         [eventlistener:metrics]\ncommand=metrics --listen 127.0.0.1:{port}\nevents=TICK_5\n\
         startsecs=0\nautostart=false\n"
    ));
    let pid = sv.wait_running("steady", Duration::from_secs(10));
    sv.ctl(&["start", "metrics"]);
    let listener = sv.wait_running("metrics", Duration::from_secs(20));
    let text = scrape(port);
    assert_eq!(
        sum(
            &text,
            "supervisor_process_state",
            &[("name", "steady"), ("state", "RUNNING")]
        ),
        1,
        "{text}"
    );
    assert_eq!(
        sum(&text, "supervisor_process_pid", &[("name", "steady")]),
        u64::from(pid)
    );
    assert!(
        sum(
            &text,
            "supervisor_process_start_time_seconds",
            &[("name", "steady")]
        ) > 1_700_000_000
    );
    assert_eq!(
        sum(
            &text,
            "supervisor_process_starts_total",
            &[("name", "steady")]
        ),
        0
    );
    assert_eq!(
        sum(&text, "supervisor_process_transitions_total", &[]),
        0,
        "{text}"
    );
    assert!(
        text.contains("supervisor_supervisord_state{state=\"RUNNING\"} 1\n"),
        "{text}"
    );
    // The listener's own process is seeded too (it was STARTING or RUNNING when it asked).
    assert!(
        text.contains("supervisor_process_pid{group=\"metrics\",name=\"metrics\"}"),
        "{text}"
    );
    sv.wait_stderr_line(
        "metrics",
        &["start-up:", "processes known from supervisord"],
        Duration::from_secs(5),
    );
    sv.assert_listener_up("metrics", listener);
}

#[test]
fn a_group_added_by_update_is_seeded_and_a_removed_one_dropped() {
    // Subscribed to PROCESS_GROUP only: what the gauges say about `late` comes from the
    // getAllProcessInfo its PROCESS_GROUP_ADDED triggers, not from its state events.
    let port = free_port();
    let sv = Supervisord::start(&format!(
        "[program:steady]\ncommand=sleep 600\nstartsecs=0\n\n\
         [eventlistener:metrics]\ncommand=metrics --listen 127.0.0.1:{port}\nevents=PROCESS_GROUP\n\
         startsecs=0\n"
    ));
    let listener = sv.wait_running("metrics", Duration::from_secs(20));
    assert!(!scrape(port).contains("name=\"late\""));
    let conf = std::fs::read_to_string(sv.conf()).expect("read supervisord.conf");
    let with_late = format!("{conf}\n[program:late]\ncommand=sleep 600\nstartsecs=0\n");
    std::fs::write(sv.conf(), &with_late).expect("write supervisord.conf");
    sv.ctl(&["update"]);
    let pid = sv.wait_running("late", Duration::from_secs(10));
    // Seeded from supervisord's answer: a state (STARTING or RUNNING when it asked), counters
    // at 0 (it counts what it sees, and it saw no transition of late).
    let text = poll(Duration::from_secs(10), || {
        let t = scrape(port);
        (sum(&t, "supervisor_process_state", &[("name", "late")]) == 1).then_some(t)
    })
    .unwrap_or_else(|| panic!("late never got a state:\n{}", scrape(port)));
    let running = sum(
        &text,
        "supervisor_process_state",
        &[("name", "late"), ("state", "RUNNING")],
    );
    if running == 1 {
        assert_eq!(
            sum(&text, "supervisor_process_pid", &[("name", "late")]),
            u64::from(pid)
        );
    }
    assert!(
        text.contains("supervisor_process_starts_total{group=\"late\",name=\"late\"} 0\n"),
        "{text}"
    );
    // supervisord announced steady's and the listener's own groups at its start too.
    assert_eq!(
        sum(
            &text,
            "supervisor_listener_events_total",
            &[("event", "PROCESS_GROUP_ADDED")]
        ),
        3,
        "{text}"
    );
    check_metrics(&text);
    // Gone from the configuration: `update` stops and removes it, and its series end.
    std::fs::write(sv.conf(), &conf).expect("write supervisord.conf");
    sv.ctl(&["update"]);
    let gone = poll(Duration::from_secs(10), || {
        let t = scrape(port);
        (!t.contains("name=\"late\"")).then_some(t)
    })
    .unwrap_or_else(|| panic!("late is still listed after its removal:\n{}", scrape(port)));
    assert!(gone.contains("name=\"steady\""), "{gone}");
    sv.wait_stderr_line(
        "metrics",
        &["added group: 1 processes known from supervisord"],
        Duration::from_secs(5),
    );
    sv.assert_listener_up("metrics", listener);
}
