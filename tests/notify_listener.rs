//! The `notify` listener as a user sees it (issue 12, "The `notify` listener", "Crash
//! context"): the mails that arrive at a real SMTP server (`common::smtp`) from programs that
//! go FATAL, exit expectedly and unexpectedly, write to stderr, and come back, under a real
//! supervisord 4.3.0.
//!
//! Named `notify_listener` because tests/notify.rs is the channels' (docs/notify.md likewise).
//!
//! Listeners run with `startsecs=0` and the programs with `autostart=false`, started once the
//! listener is RUNNING: supervisord only dispatches to RUNNING listeners. supervisord hands a
//! pool its events in order and the listener mails in order, so once a later event's mail is
//! in, the mail of an earlier event would be too: that is how the tests see that something
//! was not mailed.

use std::time::Duration;

use serde_json::Value;

use crate::common::alertmanager::Alertmanager;
use crate::common::pipe;
use crate::common::smtp::{ReceivedMail, SmtpServer};
use crate::common::{self, Supervisord};

/// Longest wait for a program or listener to reach a state.
const START: Duration = Duration::from_secs(15);

/// Longest wait for mail from a healthy, fast server, with slack for a 2-core machine running
/// many tests at once.
const ARRIVE: Duration = Duration::from_secs(30);

/// `startsecs` of a program that must go FATAL by exiting at once: supervisord 4.3.0 may notice
/// an exit only at its next poll, up to 1 s late, and with `startsecs=1` it then takes the
/// crashed run for RUNNING ("has stayed up for > than 1 seconds").
const STARTSECS: u32 = 3;

/// An `[eventlistener:notify]` section running `notify ARGS` on every process state change,
/// mailing ops@example.com through `server` with flood control off, as host `testhost`.
fn listener(server: &SmtpServer, args: &str) -> String {
    common::eventlistener(
        "notify",
        &format!(
            "notify {args} -m ops@example.com --smtp-host {} --smtp-tls none --max-mails 0 \
             --hostname testhost",
            server.host_port()
        ),
        "PROCESS_STATE",
    )
}

/// A `[program:NAME]` running `sh %(here)s/NAME.sh`, not started with supervisord, never
/// restarted on its own, RUNNING after `startsecs`.
fn program(name: &str, startsecs: u32, exitcodes: &str) -> String {
    format!(
        "[program:{name}]\n\
         command=sh %(here)s/{name}.sh\n\
         autostart=false\n\
         autorestart=false\n\
         startsecs={startsecs}\n\
         startretries=1\n\
         exitcodes={exitcodes}\n"
    )
}

fn subjects(mails: &[ReceivedMail]) -> Vec<&str> {
    mails
        .iter()
        .map(|m| m.header("Subject").unwrap_or("(no subject)"))
        .collect()
}

/// The mails so far, once `n` have arrived and a moment has passed for a late extra one.
fn settled(server: &SmtpServer, n: usize) -> Vec<ReceivedMail> {
    server.wait_for_mails(n, ARRIVE);
    std::thread::sleep(Duration::from_millis(500));
    server.mails()
}

#[test]
fn a_fatal_program_is_mailed_in_the_template_s_words() {
    // Fails if FATAL is not mailed, if the template's fields are not filled (the text is the
    // mail body), if the subject loses the host or the state, or if BACKOFF (not in -e, and
    // before FATAL) is mailed too.
    let server = SmtpServer::start();
    let sv = Supervisord::config(
        &[
            program("broken", STARTSECS, "0"),
            listener(
                &server,
                "-e FATAL -p broken --template 'FATAL={program} ({namespec}) on {hostname} \
                 went {from_state} -> {to_state}'",
            ),
        ]
        .join("\n"),
    )
    .file("broken.sh", "exit 1\n")
    .start();
    let pid = sv.wait_running("notify", START);
    sv.ctl(&["start", "broken"]);
    sv.wait_state("broken", "FATAL", START);
    let mails = settled(&server, 1);
    assert_eq!(subjects(&mails), ["testhost: broken:broken is FATAL"]);
    let m = &mails[0];
    assert_eq!(
        m.body.trim_end(),
        "broken (broken:broken) on testhost went BACKOFF -> FATAL"
    );
    assert_eq!(m.rcpt_to, ["ops@example.com"]);
    sv.wait_stderr_line(
        "notify",
        &[
            "mailed \"testhost: broken:broken is FATAL\"",
            "to ops@example.com",
        ],
        START,
    );
    sv.assert_listener_up("notify", pid);
}

#[test]
fn unexpected_only_mails_the_unexpected_exit_and_not_the_expected_one() {
    // `expected` exits 0 (in exitcodes), then `crasher` exits 3 (not in exitcodes). Fails if
    // the expected exit is mailed (it came first: its mail would be in before crasher's), or
    // if the unexpected one is not, or lacks its pid and "unexpected exit".
    let server = SmtpServer::start();
    let sv = Supervisord::config(
        &[
            program("expected", 0, "0"),
            program("crasher", 0, "0"),
            listener(&server, "-e BACKOFF,EXITED --unexpected-only -a"),
        ]
        .join("\n"),
    )
    .file("expected.sh", "sleep 0.3; exit 0\n")
    .file("crasher.sh", "sleep 0.3; exit 3\n")
    .start();
    let pid = sv.wait_running("notify", START);
    sv.ctl(&["start", "expected"]);
    sv.wait_state("expected", "EXITED", START);
    assert!(
        sv.log()
            .contains("exited: expected (exit status 0; expected)"),
        "{}",
        sv.log()
    );
    sv.ctl(&["start", "crasher"]);
    sv.wait_state("crasher", "EXITED", START);
    let mails = settled(&server, 1);
    assert_eq!(subjects(&mails), ["testhost: crasher:crasher is EXITED"]);
    let crasher_pid = sv
        .log()
        .lines()
        .find_map(|l| l.split_once(" spawned: 'crasher' with pid "))
        .map(|(_, p)| p.trim().to_owned())
        .expect("crasher's spawn in supervisord's log");
    let body = mails[0].body.trim_end();
    assert!(
        body.starts_with("Process crasher:crasher is EXITED on testhost at ")
            && body.ends_with(&format!(
                "(from RUNNING, pid {crasher_pid}, unexpected exit)"
            )),
        "{body}"
    );
    sv.assert_listener_up("notify", pid);
}

#[test]
fn tail_mails_the_exit_status_and_the_last_stderr_lines() {
    // Issue 12, "Crash context". Fails if the exit status or the last 3 stderr lines are
    // missing, if more than 3 are given, or if they are not under the text.
    let server = SmtpServer::start();
    let sv = Supervisord::config(
        &[
            program("talker", 0, "0"),
            listener(&server, "-e EXITED -p talker --tail 3"),
        ]
        .join("\n"),
    )
    .file(
        "talker.sh",
        "for i in 1 2 3 4 5; do echo \"error line $i\" >&2; done\necho to stdout\nsleep 0.3\nexit 3\n",
    )
    .start();
    let pid = sv.wait_running("notify", START);
    sv.ctl(&["start", "talker"]);
    sv.wait_state("talker", "EXITED", START);
    let mails = settled(&server, 1);
    assert_eq!(subjects(&mails), ["testhost: talker:talker is EXITED"]);
    let body = mails[0].body.trim_end();
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(
        lines.len(),
        7,
        "the text, a blank line, 5 lines of context: {body}"
    );
    assert!(
        lines[0].starts_with("Process talker:talker is EXITED on testhost at "),
        "{body}"
    );
    assert_eq!(
        lines[1], "",
        "a blank line between the text and the context: {body}"
    );
    assert_eq!(lines[2], "Exit status: 3", "{body}");
    assert!(
        lines[3].starts_with("Last 3 lines of stderr (") && lines[3].ends_with(".log):"),
        "{body}"
    );
    assert_eq!(
        lines[4..],
        ["| error line 3", "| error line 4", "| error line 5"],
        "{body}"
    );
    sv.wait_stderr_line(
        "notify",
        &["with the exit status and the last 3 lines of stderr"],
        START,
    );
    sv.assert_listener_up("notify", pid);
}

#[test]
fn a_fatal_program_fixed_and_started_again_is_resolved_once() {
    // FATAL; the command file fixed; `supervisorctl start` → RUNNING: one "is RUNNING again"
    // mail. Then a restart (RUNNING again, no open problem) and a new FATAL: fails if the
    // restart is mailed as a second resolve (it would arrive before the second FATAL), or if
    // the resolve is missing or not worded as one.
    let server = SmtpServer::start();
    let sv = Supervisord::config(
        &[
            program("flaky", STARTSECS, "0"),
            listener(&server, "-e FATAL -p flaky"),
        ]
        .join("\n"),
    )
    .file("flaky.sh", "exit 1\n")
    .start();
    let pid = sv.wait_running("notify", START);
    sv.ctl(&["start", "flaky"]);
    sv.wait_state("flaky", "FATAL", START);
    server.wait_for_mails(1, ARRIVE);

    std::fs::write(sv.dir().join("flaky.sh"), "exec sleep 1000\n").expect("fix flaky.sh");
    sv.ctl(&["start", "flaky"]);
    let running = sv.wait_running("flaky", START);
    let mails = server.wait_for_mails(2, ARRIVE);
    assert_eq!(
        subjects(&mails),
        [
            "testhost: flaky:flaky is FATAL",
            "testhost: flaky:flaky is RUNNING again"
        ]
    );
    let body = mails[1].body.trim_end();
    assert!(
        body.starts_with("Process flaky:flaky is RUNNING again on testhost at ")
            && body.ends_with(&format!("(from STARTING, pid {running})")),
        "{body}"
    );

    sv.ctl(&["restart", "flaky"]);
    let restarted = sv.wait_running("flaky", START);
    assert_ne!(restarted, running);
    std::fs::write(sv.dir().join("flaky.sh"), "exit 1\n").expect("break flaky.sh");
    sv.ctl(&["stop", "flaky"]);
    sv.ctl(&["start", "flaky"]);
    sv.wait_state("flaky", "FATAL", START);
    let mails = settled(&server, 3);
    assert_eq!(
        subjects(&mails),
        [
            "testhost: flaky:flaky is FATAL",
            "testhost: flaky:flaky is RUNNING again",
            "testhost: flaky:flaky is FATAL"
        ]
    );
    sv.assert_listener_up("notify", pid);
}

// ---------------------------------------------------------------------------------------------
// Over pipes, without supervisord.

#[test]
fn pipe_tail_without_supervisord_still_mails_in_order_saying_why() {
    // Issue 12: "RPC failure never loses the notification: it goes out without the context,
    // saying why." SUPERVISOR_SERVER_URL names a socket that does not exist. An unexpected
    // exit, then RUNNING (its resolve), then an unselected program's crash: two mails, crash
    // first, the crash saying why it has no context, the resolve with none; stdout only the
    // protocol's answers. Fails if the failed call costs the mail, if the resolve overtakes
    // the crash (it needs no call), or if a byte other than protocol reaches stdout.
    let server = SmtpServer::start();
    let hp = server.host_port();
    let args = [
        "notify",
        "-e",
        "EXITED",
        "-p",
        "web:*",
        "--tail",
        "5",
        "-m",
        "ops@example.com",
        "--smtp-host",
        &hp,
        "--smtp-tls",
        "none",
        "--max-mails",
        "0",
        "--hostname",
        "h1",
    ];
    let mut l = pipe::Running::spawn_env(
        common::BIN,
        &args,
        &[(
            "SUPERVISOR_SERVER_URL",
            "unix:///nonexistent/supervisor.sock",
        )],
    );
    l.expect_stdout(pipe::READY);
    let mut input = pipe::exited(1, "web", "web_01", false, 101);
    input.extend(pipe::running(2, "web", "web_01", 102));
    input.extend(pipe::exited(3, "db", "db", false, 103));
    l.write(&input);
    l.expect_stdout(&pipe::answered(3));
    server.wait_for_mails(2, ARRIVE);
    let f = l.finish();
    assert_eq!(f.code(), 0, "{}", f.stderr);
    assert_eq!(pipe::show(&f.stdout), pipe::show(&pipe::answered(3)));
    let mails = server.mails();
    assert_eq!(
        subjects(&mails),
        [
            "h1: web:web_01 is EXITED",
            "h1: web:web_01 is RUNNING again"
        ],
        "{}",
        f.stderr
    );
    let crash: Vec<&str> = mails[0].body.trim_end().lines().collect();
    assert!(
        crash[0].ends_with("(from RUNNING, pid 101, unexpected exit)"),
        "{crash:?}"
    );
    assert_eq!(crash[1], "", "{crash:?}");
    assert!(
        crash[2].starts_with("Crash context unavailable: ")
            && crash[2].contains("/nonexistent/supervisor.sock"),
        "{crash:?}"
    );
    assert_eq!(crash.len(), 3, "{crash:?}");
    let resolve = mails[1].body.trim_end();
    assert!(
        resolve.starts_with("Process web:web_01 is RUNNING again on h1 at ")
            && resolve.ends_with("(from STARTING, pid 102)"),
        "{resolve}"
    );
}

/// The alerts Alertmanager's API lists (`GET /api/v2/alerts`: active ones, not those that
/// ended) for `program` named `alertname`.
fn listed(am: &Alertmanager, program: &str, alertname: &str) -> Vec<Value> {
    let all: Value = serde_json::from_str(&am.alerts_json())
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", am.alerts_json()));
    all.as_array()
        .map(|a| {
            a.iter()
                .filter(|a| {
                    a["labels"]["program"] == program && a["labels"]["alertname"] == alertname
                })
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn alertmanager_alert_of_a_fatal_program_is_resolved_when_it_runs_again() {
    // Issue 12, Alertmanager resolve end to end: FATAL → an active SupervisorProcessFatal
    // alert in a real Alertmanager's API; the program fixed and started (RUNNING) → the alert
    // is resolved: it leaves the API's list of alerts. Fails if the alert never fires, or if
    // it stays active; without an Alertmanager, see `common::missing_package`.
    let Some(am) = Alertmanager::start() else {
        return;
    };
    let sv = Supervisord::config(
        &[
            program("flaky", STARTSECS, "0"),
            common::eventlistener(
                "notify",
                &format!(
                    "notify -e FATAL -p flaky --alertmanager {} --max-mails 0 --hostname testhost",
                    am.url()
                ),
                "PROCESS_STATE",
            ),
        ]
        .join("\n"),
    )
    .file("flaky.sh", "exit 1\n")
    .start();
    let pid = sv.wait_running("notify", START);
    sv.ctl(&["start", "flaky"]);
    sv.wait_state("flaky", "FATAL", START);
    let firing = common::poll(ARRIVE, || {
        let a = listed(&am, "flaky", "SupervisorProcessFatal");
        (!a.is_empty()).then_some(a)
    })
    .unwrap_or_else(|| panic!("no FATAL alert for flaky: {}", am.alerts_json()));
    assert_eq!(firing.len(), 1, "{firing:#?}");
    assert_eq!(firing[0]["status"]["state"], "active", "{firing:#?}");
    assert_eq!(firing[0]["labels"]["instance"], "testhost", "{firing:#?}");
    assert_eq!(firing[0]["labels"]["listener"], "notify", "{firing:#?}");

    std::fs::write(sv.dir().join("flaky.sh"), "exec sleep 1000\n").expect("fix flaky.sh");
    sv.ctl(&["start", "flaky"]);
    sv.wait_running("flaky", START);
    let resolved = common::wait_until(ARRIVE, || {
        listed(&am, "flaky", "SupervisorProcessFatal").is_empty()
    });
    assert!(
        resolved,
        "the FATAL alert is still active after flaky is RUNNING: {}\n---- notify ----\n{}",
        am.alerts_json(),
        sv.stderr_log("notify")
    );
    let log = sv.stderr_log("notify");
    assert!(log.contains("is RUNNING again"), "{log}");
    assert!(!log.to_lowercase().contains("sendmail"), "{log}");
    sv.assert_listener_up("notify", pid);
}
