//! memmon as a user sees it (issue 5, "Proof"), under a real supervisord 4.3.0: programs that
//! grow past their limit get a new pid from supervisord and a mail arrives at a real SMTP
//! server (aiosmtpd on 127.0.0.1); one under its limit keeps its pid; a fault during a restart
//! is mailed and memmon stays up; once over http with a username and password.
//!
//! The growing program is tests/fixtures/memmon/grow.py MB: it takes MB megabytes, 10 MB every
//! 0.1 s, then idles. The pools are subscribed to TICK_5, so a check runs every 5 s.

use std::time::Duration;

use crate::common::smtp::{ReceivedMail, SmtpServer};
use crate::common::{self, Supervisord};

/// Longest wait for a program or listener to reach RUNNING.
const START: Duration = Duration::from_secs(15);

/// Longest wait for a restart: a few ticks and slack for a busy machine.
const ACT: Duration = Duration::from_secs(40);

const GROW_PY: &str = include_str!("fixtures/memmon/grow.py");

/// A `[program:NAME]` running grow.py MB, started by the test.
fn grower(name: &str, mb: u32) -> String {
    format!(
        "[program:{name}]\ncommand=python3 %(here)s/grow.py {mb}\nautostart=false\nstartsecs=0\n"
    )
}

fn start(sections: &[String]) -> Supervisord {
    Supervisord::config(&sections.join("\n"))
        .file("grow.py", GROW_PY)
        .start()
}

/// Wait until supervisord shows `name` RUNNING with a pid other than `old`.
fn wait_new_pid(sv: &Supervisord, name: &str, old: u32) -> u32 {
    common::poll(ACT, || {
        sv.pid(name)
            .filter(|&p| p != old && sv.state(name).as_deref() == Some("RUNNING"))
    })
    .unwrap_or_else(|| panic!("{name} (pid {old}) was not restarted within {ACT:?}"))
}

/// The mail with this subject, waiting for it.
fn wait_mail(server: &SmtpServer, subject: &str) -> ReceivedMail {
    common::poll(ACT, || {
        server
            .mails()
            .into_iter()
            .find(|m| m.header("Subject") == Some(subject))
    })
    .unwrap_or_else(|| panic!("no mail {subject:?} within {ACT:?}: {:#?}", server.mails()))
}

#[test]
fn programs_over_their_limit_are_restarted_and_mailed_one_under_is_left_alone() {
    // Issue 5, proof 1: `-p group:name=SIZE` (superlance B3 died of a KeyError on it) and
    // `-g GROUP=SIZE` both restart a program that grows past 60 MB; a program of 20 MB under
    // the same rules keeps its pid. Fails if a restart does not happen (same pid), happens to
    // the small one, or is not mailed with superlance's subject and text.
    let server = SmtpServer::start();
    let sv = start(&[
        grower("hog", 150),
        "[group:web]\nprograms=hog\n".to_owned(),
        grower("worker", 150),
        grower("small", 20),
        "[group:workers]\nprograms=worker,small\n".to_owned(),
        common::eventlistener(
            "memmon",
            &format!(
                "memmon -p web:hog=60MB -g workers=60MB -m ops@example.com \
                 --smtp-host {} --smtp-tls none",
                server.host_port()
            ),
            "TICK_5",
        ),
    ]);
    let memmon = sv.wait_running("memmon", START);
    sv.ctl(&["start", "web:hog", "workers:*"]);
    let hog = sv.wait_running("web:hog", START);
    let worker = sv.wait_running("workers:worker", START);
    let small = sv.wait_running("workers:small", START);
    wait_new_pid(&sv, "web:hog", hog);
    wait_new_pid(&sv, "workers:worker", worker);
    for name in ["web:hog", "workers:worker"] {
        let m = wait_mail(&server, &format!("memmon: process {name} restarted"));
        assert!(
            m.body
                .starts_with(&format!("memmon.py restarted the process named {name} at "))
                && m.body
                    .contains("because it was consuming too much memory ("),
            "{m:#?}"
        );
        assert_eq!(m.rcpt_to, ["ops@example.com"]);
        // `at Sat Dec  5 10:00:00 2026 UTC because`: superlance's asctime and time zone
        // (issue 16: the zone was missing).
        let at = m
            .body
            .split(" at ")
            .nth(1)
            .and_then(|r| r.split(" because").next());
        let words: Vec<&str> = at.unwrap_or_default().split_whitespace().collect();
        assert_eq!(words.len(), 6, "{m:#?}");
        assert_eq!(
            words[5],
            superlance::time::zone_abbreviation(std::time::SystemTime::now())
        );
        // One line, unencoded, as superlance sent it (issue 16).
        assert!(
            m.header("Content-Transfer-Encoding") != Some("quoted-printable"),
            "{m:#?}"
        );
    }
    // Two more checks: the small one is still the same process.
    std::thread::sleep(Duration::from_secs(11));
    sv.assert_still_running("workers:small", small);
    let text = sv.stderr_log("memmon");
    assert!(!text.contains("Restarting workers:small"), "{text}");
    sv.assert_listener_up("memmon", memmon);
}

#[test]
fn any_never_restarts_event_listener_pools_or_memmon_itself() {
    // superlance B8: -a restarted every process over the size, event-listener pools and memmon
    // itself included. With -a 2MB, the other pool (a crashmail of ~4 MB) and memmon (~4 MB)
    // are over the size too; only the growing program may be restarted. Fails if either
    // listener gets a new pid, or if the program is not restarted (the rule did not apply).
    let sv = start(&[
        grower("hog", 150),
        common::eventlistener("watcher", "crashmail -a", "PROCESS_STATE_EXITED"),
        common::eventlistener("memmon", "memmon -a 2MB", "TICK_5"),
    ]);
    let memmon = sv.wait_running("memmon", START);
    let watcher = sv.wait_running("watcher", START);
    for (name, pid) in [("memmon", memmon), ("watcher", watcher)] {
        assert!(
            common::rss_kib(pid).is_some_and(|k| k > 2048),
            "{name} is under 2 MB: the test proves nothing"
        );
    }
    sv.ctl(&["start", "hog"]);
    let hog = sv.wait_running("hog", START);
    wait_new_pid(&sv, "hog", hog);
    // One more tick after the restart.
    std::thread::sleep(Duration::from_secs(6));
    sv.assert_listener_up("memmon", memmon);
    sv.assert_listener_up("watcher", watcher);
    let log = sv.stderr_log("memmon");
    assert!(
        !log.contains("Restarting watcher") && !log.contains("Restarting memmon"),
        "{log}"
    );
}

#[test]
fn a_fault_during_a_restart_is_mailed_and_memmon_stays_up() {
    // Issue 5, proof: superlance's memmon died on any XML-RPC fault (B7, superlance #43). The
    // program's script is made non-executable while it runs: memmon stops it, and
    // startProcess answers NOT_EXECUTABLE. Fails if memmon exits (new pid, or not RUNNING), or
    // if the failure is neither logged nor mailed.
    let server = SmtpServer::start();
    let sv = Supervisord::config(&format!(
        "[program:hog]\ncommand=%(here)s/hog.py 150\nautostart=false\nstartsecs=0\n\n{}",
        common::eventlistener(
            "memmon",
            &format!(
                "memmon -p hog=60MB -m ops@example.com --smtp-host {} --smtp-tls none",
                server.host_port()
            ),
            "TICK_5",
        )
    ))
    .start();
    let script = sv.dir().join("hog.py");
    std::fs::write(&script, format!("#!/usr/bin/env python3\n{GROW_PY}")).unwrap();
    set_mode(&script, 0o755);
    let memmon = sv.wait_running("memmon", START);
    sv.ctl(&["start", "hog"]);
    sv.wait_running("hog", START);
    set_mode(&script, 0o644);
    let m = wait_mail(&server, "memmon: failed to start process hog:hog");
    assert!(
        m.body
            .starts_with("Failed to start process hog:hog after stopping it: ")
            && m.body.contains("NOT_EXECUTABLE"),
        "{m:#?}"
    );
    sv.wait_stderr_line("memmon", &["ERROR", "Failed to start process hog:hog"], ACT);
    // The next ticks come and go; memmon is the same process.
    std::thread::sleep(Duration::from_secs(6));
    sv.assert_listener_up("memmon", memmon);
}

#[test]
fn over_http_with_a_username_and_password() {
    // Issue 5: the XML-RPC client over http://, with basic auth, as supervisord serves it with
    // [inet_http_server] username/password. Fails if memmon cannot log in or act.
    let sv = Supervisord::config(&grower("hog", 150))
        .file("grow.py", GROW_PY)
        .inet_http_server("alice", "s3cret")
        .start();
    // The port is known once supervisord runs: add the listener as a user would, with
    // `supervisorctl update`.
    let url = sv.inet_url().unwrap_or_default();
    let section = format!(
        "\n{}serverurl={url}\nenvironment=SUPERVISOR_USERNAME=\"alice\",SUPERVISOR_PASSWORD=\"s3cret\"\n",
        common::eventlistener("memmon", "memmon -a 60MB", "TICK_5")
    );
    let mut conf = std::fs::OpenOptions::new()
        .append(true)
        .open(sv.conf())
        .unwrap();
    std::io::Write::write_all(&mut conf, section.as_bytes()).unwrap();
    sv.ctl(&["update"]);
    let memmon = sv.wait_running("memmon", START);
    sv.ctl(&["start", "hog"]);
    let hog = sv.wait_running("hog", START);
    wait_new_pid(&sv, "hog", hog);
    let text = sv.stderr_log("memmon");
    assert!(text.contains("Restarting hog:hog"), "{text}");
    // It talked to supervisord over http, not the unix socket.
    assert!(text.contains(&format!("via {url}")), "{text}");
    sv.assert_listener_up("memmon", memmon);
}

#[test]
fn supervisord_unreachable_for_a_while_is_said_once_and_memmon_acts_when_it_is_back() {
    // Issue 7, faults: supervisord's XML-RPC socket gone. It is moved aside while memmon runs
    // (supervisord still listens on it; connecting by its path fails), then put back. Fails if
    // memmon crashes, logs the failure at every tick, or does not act once it is back.
    let sv = Supervisord::config(&format!(
        "{}\n{}autostart=false\n",
        grower("hog", 150),
        common::eventlistener("memmon", "memmon -p hog=60MB", "TICK_5")
    ))
    .file("grow.py", GROW_PY)
    .inet_http_server("ops", "pw")
    .start();
    let inet = sv.inet_url().unwrap_or_default();
    // supervisorctl over http while the unix socket is away.
    let ctl = |args: &[&str]| {
        let mut all = vec!["-s", inet.as_str(), "-u", "ops", "-p", "pw"];
        all.extend_from_slice(args);
        sv.ctl(&all)
    };
    sv.ctl(&["start", "hog"]);
    let hog = sv.wait_running("hog", START);
    assert!(
        common::wait_until(ACT, || common::rss_kib(hog).is_some_and(|k| k > 100 * 1024)),
        "hog did not grow"
    );
    let sock = sv.dir().join("supervisor.sock");
    let away = sv.dir().join("supervisor.sock.away");
    std::fs::rename(&sock, &away).unwrap();
    let out = ctl(&["start", "memmon"]);
    assert!(out.contains("memmon: started"), "{out}");
    sv.wait_stderr_line(
        "memmon",
        &["ERROR", "cannot check memory", "cannot reach supervisord"],
        ACT,
    );
    // Two more ticks: still one error line, and the hog untouched.
    std::thread::sleep(Duration::from_secs(11));
    let log = sv.stderr_log("memmon");
    assert_eq!(log.matches("cannot check memory").count(), 1, "{log}");
    assert!(!log.contains("Restarting"), "{log}");
    std::fs::rename(&away, &sock).unwrap();
    sv.wait_stderr_line("memmon", &["supervisord answers again"], ACT);
    wait_new_pid(&sv, "hog", hog);
    let memmon = sv.wait_running("memmon", START);
    sv.assert_listener_up("memmon", memmon);
}

#[test]
fn not_under_supervisord_says_so_and_exits_non_zero() {
    // superlance #128: a KeyError traceback. Ours: one line naming what to do, exit 1.
    let out = std::process::Command::new(common::BIN)
        .args(["memmon", "-a", "1GB"])
        .env_remove("SUPERVISOR_SERVER_URL")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("SUPERVISOR_SERVER_URL is not set") && stderr.contains("[eventlistener:"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
    // No rule at all: the help, exit 2.
    let out = std::process::Command::new(common::BIN)
        .args(["memmon", "-c"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing to watch"));
}

fn set_mode(path: &std::path::Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}
