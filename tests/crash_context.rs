//! `--tail N` on the listeners that report a process (issue 12, "Crash context"), as a user
//! sees it under a real supervisord 4.3.0: the mail that arrives at a real SMTP server
//! (`common::smtp`) and the webhook JSON at a real HTTP receiver (`common::receiver`) carry the
//! program's exit status and its last stderr lines; with supervisord unreachable the mail
//! still arrives, saying why the context is missing; a batch carries the context of its crash;
//! memmon's and httpok's restart mails carry what the process wrote before the restart, and
//! essential's notification what it knew before the shutdown. Also
//! (issue 12, channel-only listeners):
//! a listener given channels and no mail recipient says nothing about sendmail.
//!
//! The notify listener's own `--tail` tests are in tests/notify_listener.rs.
//!
//! The programs write five numbered lines to stderr and exit 3 (not in `exitcodes`), with
//! `autorestart=false` so that supervisord keeps the exit status for the listener to read.
//! Listeners run with `startsecs=0` and the programs with `autostart=false`, started once the
//! listener is RUNNING: supervisord only dispatches to RUNNING listeners.

use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::common::receiver::Receiver;
use crate::common::smtp::{ReceivedMail, SmtpServer};
use crate::common::{self, Supervisord, BIN};

/// Longest wait for a program or listener to reach a state.
const START: Duration = Duration::from_secs(15);

/// Longest wait for a notification from a healthy receiver, with slack for a 2-core machine
/// running many tests at once.
const ARRIVE: Duration = Duration::from_secs(30);

/// Five numbered lines on stderr, one on stdout, then exit 3.
const TALKER_SH: &str =
    "for i in 1 2 3 4 5; do echo \"error line $i\" >&2; done\necho to stdout\nsleep 0.3\nexit 3\n";

/// `[program:talker]`: TALKER_SH once, started by the test, not restarted.
const TALKER: &str = "[program:talker]\n\
     command=sh %(here)s/talker.sh\n\
     autostart=false\n\
     autorestart=false\n\
     startsecs=0\n\
     exitcodes=0\n";

/// An `[eventlistener:NAME]` running `superlance NAME ARGS` on `events`, with `more` lines.
fn listener(name: &str, args: &str, events: &str, more: &str) -> String {
    let mut s = common::eventlistener(name, &format!("{name} {args}"), events);
    s.push_str(more);
    s
}

/// A supervisord with talker and `listener`, talker started once the listener runs, and
/// waited for until it has EXITED.
fn talker_exits(listener_name: &str, listener: String) -> (Supervisord, u32) {
    let sv = Supervisord::config(&[TALKER.to_owned(), listener].join("\n"))
        .file("talker.sh", TALKER_SH)
        .start();
    let pid = sv.wait_running(listener_name, START);
    sv.ctl(&["start", "talker"]);
    sv.wait_state("talker", "EXITED", START);
    (sv, pid)
}

fn smtp(server: &SmtpServer) -> String {
    format!(
        "-m ops@example.com --smtp-host {} --smtp-tls none --max-mails 0",
        server.host_port()
    )
}

/// The body's lines after superlance's text and the blank line under it (the last blank line:
/// httpok's action log has some of its own; the context has none).
fn context_of(mail: &ReceivedMail) -> Vec<String> {
    let body = mail.body.trim_end();
    let (_, context) = body
        .rsplit_once("\n\n")
        .unwrap_or_else(|| panic!("no blank line, so no context, in: {body}"));
    context.lines().map(str::to_owned).collect()
}

/// Exit status 3 and the last 3 of the five stderr lines, as `--tail 3` shows them.
fn assert_exit_3_and_the_last_3_lines(lines: &[String]) {
    assert_eq!(lines.len(), 5, "{lines:#?}");
    assert_eq!(lines[0], "Exit status: 3", "{lines:#?}");
    assert!(
        lines[1].starts_with("Last 3 lines of stderr (") && lines[1].ends_with(".log):"),
        "{lines:#?}"
    );
    assert_eq!(
        lines[2..],
        ["| error line 3", "| error line 4", "| error line 5"],
        "{lines:#?}"
    );
}

#[test]
fn crashmail_tail_mails_superlance_s_text_then_the_exit_status_and_stderr() {
    // Fails if superlance's body changes, or the exit status or the last 3 stderr lines are
    // missing or not under it after a blank line.
    let server = SmtpServer::start();
    let (sv, pid) = talker_exits(
        "crashmail",
        listener(
            "crashmail",
            &format!("-p talker --tail 3 {}", smtp(&server)),
            "PROCESS_STATE_EXITED",
            "",
        ),
    );
    let mails = server.wait_for_mails(1, ARRIVE);
    let first = mails[0].body.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("Process talker in group talker exited unexpectedly (pid ")
            && first.ends_with(") from state RUNNING"),
        "{}",
        mails[0].body
    );
    assert_exit_3_and_the_last_3_lines(&context_of(&mails[0]));
    sv.assert_listener_up("crashmail", pid);
}

#[test]
fn crashmail_tail_with_supervisord_unreachable_mails_saying_why() {
    // RPC failure never loses the notification (issue 12): the listener's SUPERVISOR_SERVER_URL
    // names a socket that does not exist. Fails if no mail comes or it does not say why.
    let server = SmtpServer::start();
    let (sv, pid) = talker_exits(
        "crashmail",
        listener(
            "crashmail",
            &format!("-p talker --tail 3 {}", smtp(&server)),
            "PROCESS_STATE_EXITED",
            "environment=SUPERVISOR_SERVER_URL=\"unix:///nonexistent/supervisor.sock\"\n",
        ),
    );
    let mails = server.wait_for_mails(1, ARRIVE);
    let context = context_of(&mails[0]);
    assert_eq!(context.len(), 1, "{context:#?}");
    assert!(
        context[0].starts_with("Crash context unavailable: ")
            && context[0].contains("/nonexistent/supervisor.sock"),
        "{context:#?}"
    );
    assert!(mails[0]
        .body
        .starts_with("Process talker in group talker exited unexpectedly"));
    sv.assert_listener_up("crashmail", pid);
}

#[test]
fn webhook_only_crashmail_carries_the_context_and_says_nothing_of_sendmail() {
    // Issue 12: the webhook's `extra` has the context; and with a channel and no -m no mail
    // transport is built: the log a user sees names no sendmail (this machine has no MTA, so
    // the old start-up check warned "the sendmail command ... will fail").
    let receiver = Receiver::start();
    let (sv, pid) = talker_exits(
        "crashmail",
        listener(
            "crashmail",
            &format!(
                "-a --tail 3 --max-mails 0 --hostname testhost --webhook {}",
                receiver.url("/hook")
            ),
            "PROCESS_STATE_EXITED",
            "",
        ),
    );
    let got = receiver.wait_for(1, ARRIVE);
    let body: Value = serde_json::from_slice(&got[0].body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", got[0].text()));
    let n = &body["notifications"][0];
    assert_eq!(n["program"], "talker", "{body:#}");
    assert_eq!(n["to_state"], "EXITED", "{body:#}");
    let extra: Vec<String> = n["extra"]
        .as_array()
        .unwrap_or_else(|| panic!("no extra: {body:#}"))
        .iter()
        .map(|l| l.as_str().unwrap_or_default().to_owned())
        .collect();
    assert_exit_3_and_the_last_3_lines(&extra);
    let log = sv.stderr_log("crashmail");
    assert!(!log.to_lowercase().contains("sendmail"), "{log}");
    assert!(log.contains("via webhook"), "{log}");
    sv.assert_listener_up("crashmail", pid);
}

#[test]
fn crashmailbatch_tail_carries_the_context_of_the_crash_in_its_batch() {
    // The batch goes out at a TICK, after supervisord could have forgotten the exit status:
    // it must have been read at the crash. Fails if the batch lacks the program's heading,
    // its exit status or its last stderr lines.
    let server = SmtpServer::start();
    let (sv, pid) = talker_exits(
        "crashmailbatch",
        listener(
            "crashmailbatch",
            &format!(
                "-t ops@example.com -f supervisor@example.com --smtp-host {} --smtp-tls none \
                 -i 0.05 --tail 2",
                server.host_port()
            ),
            "PROCESS_STATE_EXITED,TICK_5",
            "",
        ),
    );
    let mails = server.wait_for_mails(1, Duration::from_secs(45));
    let body = mails[0].body.trim_end();
    let lines: Vec<&str> = body.lines().collect();
    assert!(
        lines[0].contains(" -- Process talker:talker (pid ")
            && lines[0].ends_with("died unexpectedly"),
        "{body}"
    );
    let context = context_of(&mails[0]);
    assert!(
        context[0].starts_with("Crash context of talker:talker (pid "),
        "{body}"
    );
    assert_eq!(context[1], "Exit status: 3", "{body}");
    assert!(context[2].starts_with("Last 2 lines of stderr ("), "{body}");
    assert_eq!(context[3..], ["| error line 4", "| error line 5"], "{body}");
    sv.assert_listener_up("crashmailbatch", pid);
}

#[test]
fn listeners_given_only_a_channel_never_mention_sendmail() {
    // Issue 12: every notifying listener, given --webhook and no mail recipient, starts without
    // a word about sendmail (this machine has no /usr/sbin/sendmail). Over pipes: each reaches
    // READY, its start-up log is read, stdin is closed.
    let hook = "http://127.0.0.1:9/hook";
    for argv in [
        vec!["crashmail", "-a"],
        vec!["crashmailbatch"],
        vec!["fatalmailbatch"],
        vec!["crashsms"],
        vec!["memmon", "-a", "1GB"],
        vec!["httpok", "-p", "web", "http://127.0.0.1:9/health"],
        vec!["essential", "-p", "web"],
        vec!["notify", "-e", "FATAL", "-a"],
    ] {
        let out = common::run(
            Command::new(BIN)
                .arg(argv[0])
                .args(["--webhook", hook, "--tail", "3"])
                .args(&argv[1..])
                .env(
                    "SUPERVISOR_SERVER_URL",
                    "unix:///nonexistent/supervisor.sock",
                )
                .stdin(std::process::Stdio::null()),
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{argv:?}: {stderr}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "READY\n",
            "{argv:?}: {stderr}"
        );
        assert!(
            !stderr.to_lowercase().contains("sendmail"),
            "{argv:?} mentions sendmail: {stderr}"
        );
        assert!(stderr.contains("via webhook"), "{argv:?}: {stderr}");
    }
}

#[test]
fn httpok_tail_mails_what_the_process_wrote_before_its_restart() {
    // The stderr tail before the restart is what matters (issue 12): read before httpok
    // restarts the process. Fails if the restart's mail lacks it, or shows the new run's.
    let server = SmtpServer::start();
    let port = common::free_port();
    let sv = Supervisord::config(
        &[
            "[program:hung]\n\
             command=sh %(here)s/hung.sh\n\
             autostart=false\n\
             startsecs=0\n"
                .to_owned(),
            listener(
                "httpok",
                &format!(
                    "-p hung -t 1 --tail 2 {} http://127.0.0.1:{port}/health",
                    smtp(&server)
                ),
                "TICK_5",
                "",
            ),
        ]
        .join("\n"),
    )
    .file(
        "hung.sh",
        "echo \"run $$ says 1\" >&2\necho \"run $$ says 2\" >&2\nexec sleep 1000\n",
    )
    .start();
    let pid = sv.wait_running("httpok", START);
    sv.ctl(&["start", "hung"]);
    let first = sv.wait_running("hung", START);
    // A TICK may come before hung is started: that check restarts nothing.
    let mail = common::poll(ARRIVE, || {
        server
            .mails()
            .into_iter()
            .find(|m| m.body.contains("hung restarted"))
    })
    .unwrap_or_else(|| panic!("no restart mailed: {:#?}", server.mails()));
    let context = context_of(&mail);
    assert_eq!(
        context[0],
        format!("hung (pid {first}) before the restart:")
    );
    assert!(
        context[1].starts_with("Last 2 lines of stderr ("),
        "{context:#?}"
    );
    assert_eq!(
        context[2..],
        [
            format!("| run {first} says 1"),
            format!("| run {first} says 2")
        ],
        "{context:#?}"
    );
    sv.assert_listener_up("httpok", pid);
}

#[test]
fn memmon_tail_mails_what_the_process_wrote_before_its_restart() {
    // The stderr tail before the restart (issue 12): fails if the restart's mail lacks the
    // lines the old run wrote, or shows the new run's.
    let server = SmtpServer::start();
    let sv = Supervisord::config(
        &[
            "[program:hog]\n\
             command=sh %(here)s/hog.sh\n\
             autostart=false\n\
             startsecs=0\n"
                .to_owned(),
            listener(
                "memmon",
                &format!("-p hog=60MB --tail 2 {}", smtp(&server)),
                "TICK_5",
                "",
            ),
        ]
        .join("\n"),
    )
    .file("grow.py", include_str!("fixtures/memmon/grow.py"))
    .file(
        "hog.sh",
        "echo \"run $$ says 1\" >&2\necho \"run $$ says 2\" >&2\n\
         exec python3 \"$(dirname \"$0\")/grow.py\" 150\n",
    )
    .start();
    let pid = sv.wait_running("memmon", START);
    sv.ctl(&["start", "hog"]);
    let first = sv.wait_running("hog", START);
    let mail = common::poll(Duration::from_secs(40), || {
        server
            .mails()
            .into_iter()
            .find(|m| m.header("Subject") == Some("memmon: process hog:hog restarted"))
    })
    .unwrap_or_else(|| {
        let got: Vec<String> = server
            .mails()
            .iter()
            .map(|m| format!("{:?}: {}", m.header("Subject"), m.body))
            .collect();
        panic!("no restart mailed: {got:#?}")
    });
    assert!(
        mail.body
            .starts_with("memmon.py restarted the process named hog:hog at "),
        "{}",
        mail.body
    );
    let context = context_of(&mail);
    assert!(
        context[0].starts_with("Last 2 lines of stderr ("),
        "{context:#?}"
    );
    assert_eq!(
        context[1..],
        [
            format!("| run {first} says 1"),
            format!("| run {first} says 2")
        ],
        "{context:#?}"
    );
    sv.assert_listener_up("memmon", pid);
}

#[test]
fn essential_tail_notifies_the_exit_status_and_stderr_before_the_shutdown() {
    // essential asks before supervisord is shut down (it answers nothing after): fails if the
    // webhook lacks exit status 3 or the last stderr lines, or supervisord stays up.
    let receiver = Receiver::start();
    let mut sv = Supervisord::config(
        &[
            TALKER.to_owned(),
            listener(
                "essential",
                &format!(
                    "-p talker --on EXITED --tail 3 --webhook {}",
                    receiver.url("/hook")
                ),
                "PROCESS_STATE,SUPERVISOR_STATE_CHANGE",
                "buffer_size=100\n",
            ),
        ]
        .join("\n"),
    )
    .file("talker.sh", TALKER_SH)
    .start();
    sv.wait_running("essential", START);
    sv.ctl(&["start", "talker"]);
    let got = receiver.wait_for(1, ARRIVE);
    let body: Value = serde_json::from_slice(&got[0].body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", got[0].text()));
    let n = &body["notifications"][0];
    assert_eq!(body["listener"], "essential", "{body:#}");
    assert_eq!(n["program"], "talker", "{body:#}");
    let extra: Vec<String> = n["extra"]
        .as_array()
        .unwrap_or_else(|| panic!("no extra: {body:#}"))
        .iter()
        .map(|l| l.as_str().unwrap_or_default().to_owned())
        .collect();
    assert_exit_3_and_the_last_3_lines(&extra);
    assert!(
        sv.wait_exit(ARRIVE).is_some(),
        "supervisord was not shut down"
    );
}
