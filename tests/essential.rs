//! essential as a user sees it (issue 13, "Proof"), under a real supervisord 4.3.0: when an
//! essential program fails, supervisord stops every other program gracefully (its log says
//! `stopped: sleeper (terminated by SIGTERM)`, a program that traps SIGTERM wrote its file)
//! and exits, and the status file for `superlance entrypoint` names the program and state.
//! A program that recovers within `--grace`, one that is not essential, one excluded with `-x`
//! and an event-listener pool leave supervisord up. Without SUPERVISOR_SERVER_URL the listener
//! sends supervisord SIGTERM, with the same graceful stop.
//!
//! Tests that expect nothing to happen end by making an essential program fail on purpose, so
//! that they also prove the listener was alive and would have acted.

use std::time::{Duration, Instant};

use crate::common::smtp::SmtpServer;
use crate::common::Supervisord;

/// Longest wait for a program or listener to reach RUNNING.
const START: Duration = Duration::from_secs(15);

/// Longest wait for supervisord to be shut down after a failure.
const ACT: Duration = Duration::from_secs(40);

/// Writes `got SIGTERM` to $1 when it gets SIGTERM, after a listing of the directory $2 (the
/// mails that had arrived by then), and exits 0.
const TRAP_SH: &str = "#!/bin/sh\n\
    trap 'ls \"$2\" > \"$1\" 2>/dev/null; echo \"got SIGTERM\" >> \"$1\"; exit 0' TERM\n\
    while :; do sleep 0.2; done\n";

/// Exits 1 once (leaving the marker file $1 behind), then stays up.
const FLAKY_SH: &str = "#!/bin/sh\n\
    if [ ! -e \"$1\" ]; then touch \"$1\"; sleep 2; exit 1; fi\n\
    exec sleep 1000\n";

/// The essential listener with `args`, its status file at `status` in supervisord's dir, and
/// `env` added to its environment (`,KEY=VALUE...`).
fn essential(args: &str, env: &str) -> String {
    format!(
        "[eventlistener:essential]\n\
         command=essential {args}\n\
         events=PROCESS_STATE,SUPERVISOR_STATE_CHANGE\n\
         buffer_size=100\n\
         startsecs=0\n\
         environment=SUPERLANCE_ESSENTIAL_STATUS=\"%(here)s/status\"{env}\n"
    )
}

/// Programs that are not essential and must be stopped gracefully: `sleeper` (logged as
/// terminated by SIGTERM) and `trapper` (writes trapper.out when it gets SIGTERM; `mails`
/// is the directory it lists then, "" for none).
fn bystanders(mails: &str) -> String {
    format!(
        "[program:sleeper]\ncommand=sleep 1000\n\n\
         [program:trapper]\ncommand=sh %(here)s/trap.sh %(here)s/trapper.out {mails}\n"
    )
}

/// A program whose command does not exist: FATAL after one retry.
fn broken(name: &str) -> String {
    format!("[program:{name}]\ncommand=/nonexistent/{name}\nstartretries=1\n")
}

fn start(sections: &[String]) -> Supervisord {
    Supervisord::config(&sections.join("\n"))
        .file("trap.sh", TRAP_SH)
        .file("flaky.sh", FLAKY_SH)
        .start()
}

/// Wait for supervisord to exit; panics (with its logs) if it does not within [`ACT`].
fn wait_shut_down(sv: &mut Supervisord) {
    let status = sv
        .wait_exit(ACT)
        .unwrap_or_else(|| panic!("supervisord still runs {ACT:?} after the failure"));
    // supervisord's own status after a shutdown request is 0: handing the failure on is the
    // status file's job (superlance entrypoint).
    assert!(status.success(), "supervisord exited with {status}");
}

/// The other programs were stopped by supervisord, gracefully, and so was the listener.
fn assert_graceful_stop(sv: &Supervisord) {
    let log = sv.log();
    for line in [
        "stopped: sleeper (terminated by SIGTERM)",
        "stopped: trapper (exit status 0)",
        "stopped: essential (exit status 0)",
    ] {
        assert!(log.contains(line), "no {line:?} in supervisord.log:\n{log}");
    }
    assert!(
        sv.file("trapper.out").ends_with("got SIGTERM\n"),
        "trapper did not get SIGTERM: {:?}",
        sv.file("trapper.out")
    );
}

#[test]
fn an_essential_program_going_fatal_shuts_supervisord_down_gracefully_after_the_mail() {
    // Issue 13, proof 1. The SMTP server answers DATA only after 2 s, so the mail is in its
    // mails dir before trapper's SIGTERM only if it was delivered before the shutdown.
    let smtp = SmtpServer::builder().delay(Duration::from_secs(2)).start();
    let mails = smtp.mails_dir();
    let mut sv = start(&[
        broken("broken"),
        bystanders(&mails.display().to_string()),
        essential(
            &format!(
                "-p broken -m ops@example.com --smtp-host {} --smtp-tls none",
                smtp.host_port()
            ),
            "",
        ),
    ]);
    wait_shut_down(&mut sv);
    let log = sv.log();
    assert!(log.contains("gave up: broken entered FATAL state"), "{log}");
    assert_graceful_stop(&sv);
    // Through XML-RPC, not a signal.
    assert!(
        !log.contains("received SIGTERM indicating exit request"),
        "{log}"
    );
    assert_eq!(sv.file("status"), "program=broken:broken\nstate=FATAL\n");
    let listing = sv.file("trapper.out");
    assert!(
        listing.lines().count() >= 2,
        "the mail had not arrived when trapper got SIGTERM: {listing:?}"
    );
    let mail = &smtp.mails()[0];
    assert_eq!(
        mail.header("Subject")
            .map(|s| s.contains("essential program broken:broken is FATAL, supervisord shut down")),
        Some(true),
        "{:?}",
        mail.header("Subject")
    );
    let own = sv.stderr_log("essential");
    assert!(
        own.lines().any(|l| l.contains(" ERROR ")
            && l.contains(
                "essential program broken:broken is FATAL: supervisord gave up starting it"
            )),
        "{own}"
    );
}

#[test]
fn a_mail_slower_than_the_bounded_wait_does_not_hold_the_shutdown_up() {
    let smtp = SmtpServer::builder().delay(Duration::from_secs(60)).start();
    let mut sv = start(&[
        broken("broken"),
        bystanders(""),
        essential(
            &format!(
                "-p broken -m ops@example.com --smtp-host {} --smtp-tls none",
                smtp.host_port()
            ),
            "",
        ),
    ]);
    wait_shut_down(&mut sv);
    assert_graceful_stop(&sv);
    assert_eq!(sv.file("status"), "program=broken:broken\nstate=FATAL\n");
    let own = sv.stderr_log("essential");
    assert!(
        own.contains("still under way") && own.contains("not waiting for it"),
        "{own}"
    );
    assert!(smtp.mails().is_empty());
}

#[test]
fn on_exited_a_program_killed_with_sigkill_shuts_supervisord_down() {
    // Issue 13, proof 1 again with `--on EXITED`. Death by a signal has no exit status, so
    // the status file has none.
    let mut sv = start(&[
        "[program:victim]\ncommand=sleep 1000\n".to_owned(),
        bystanders(""),
        essential("-p victim --on EXITED", ""),
    ]);
    let pid = sv.wait_running("victim", START);
    sv.wait_running("trapper", START);
    // SAFETY: kill(2) on the pid supervisorctl gave for our own test program.
    assert_eq!(unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) }, 0);
    wait_shut_down(&mut sv);
    let log = sv.log();
    assert!(
        log.contains("exited: victim (terminated by SIGKILL; not expected)"),
        "{log}"
    );
    assert_graceful_stop(&sv);
    assert_eq!(sv.file("status"), "program=victim:victim\nstate=EXITED\n");
}

#[test]
fn an_exit_status_is_recorded_when_supervisord_still_has_it() {
    // autorestart=false: the program stays EXITED, so its exit status is still the one
    // supervisord reports.
    let mut sv = start(&[
        "[program:quitter]\ncommand=sh -c 'sleep 2; exit 3'\nautorestart=false\n".to_owned(),
        bystanders(""),
        essential("-p quitter --on EXITED", ""),
    ]);
    wait_shut_down(&mut sv);
    assert_graceful_stop(&sv);
    assert_eq!(
        sv.file("status"),
        "program=quitter:quitter\nstate=EXITED\nexitstatus=3\n"
    );
}

#[test]
fn grace_spares_a_program_that_recovers_and_acts_on_one_that_does_not() {
    // Issue 13, proof 1 with `--grace 5`: flaky exits 1 once and is RUNNING again 1 s later
    // (autorestart): nothing happens, also after the grace. doomed is killed and never
    // restarted (autorestart=false): supervisord is shut down when its grace ends, by the
    // runtime's wake-up (no event comes).
    let mut sv = start(&[
        "[program:flaky]\ncommand=sh %(here)s/flaky.sh %(here)s/flaky.marker\nautorestart=true\n"
            .to_owned(),
        "[program:doomed]\ncommand=sleep 1000\nautorestart=false\n".to_owned(),
        bystanders(""),
        essential("-p flaky -p doomed --on EXITED --grace 5", ""),
    ]);
    sv.wait_stderr_line(
        "essential",
        &[
            "flaky:flaky is EXITED",
            "unless it is RUNNING again within 5 s",
        ],
        START,
    );
    sv.wait_stderr_line(
        "essential",
        &["flaky:flaky is RUNNING again within the grace: not acting"],
        START,
    );
    let exited = sv.wait_exit(Duration::from_secs(7));
    assert!(exited.is_none(), "supervisord exited ({exited:?})");
    let flaky = sv.wait_running("flaky", START);
    assert_eq!(sv.file("status"), "", "no failure recorded");

    let doomed = sv.wait_running("doomed", START);
    let killed = Instant::now();
    // SAFETY: kill(2) on the pid supervisorctl gave for our own test program.
    assert_eq!(
        unsafe { libc::kill(doomed as libc::pid_t, libc::SIGKILL) },
        0
    );
    sv.wait_stderr_line("essential", &["doomed:doomed is EXITED"], START);
    assert!(
        sv.state("flaky").as_deref() == Some("RUNNING") && sv.pid("flaky") == Some(flaky),
        "flaky was touched"
    );
    wait_shut_down(&mut sv);
    assert!(
        killed.elapsed() >= Duration::from_millis(4500),
        "shut down {:?} after the kill, before the grace ended",
        killed.elapsed()
    );
    assert_graceful_stop(&sv);
    assert_eq!(sv.file("status"), "program=doomed:doomed\nstate=EXITED\n");
    let own = sv.stderr_log("essential");
    assert!(own.contains("and not RUNNING again within 5 s"), "{own}");
}

#[test]
fn a_program_not_essential_and_one_excluded_going_fatal_leave_supervisord_up() {
    // Issue 13, proof 2: `bystander` is not named, `side:excluded` is named by `side:*` and
    // excluded with -x. Both go FATAL first; then web is stopped with supervisorctl
    // (`--on STOPPED`): the shutdown that follows, and the status file naming web, show that
    // the listener saw the two failures (events come in order) and did not act on them.
    let mut sv = start(&[
        "[program:web]\ncommand=sleep 1000\n".to_owned(),
        broken("bystander"),
        "[group:side]\nprograms=excluded\n".to_owned(),
        broken("excluded"),
        bystanders(""),
        essential("-p web -p side:* -x side:excluded --on FATAL,STOPPED", ""),
    ]);
    sv.wait_state("bystander", "FATAL", START);
    sv.wait_state("side:excluded", "FATAL", START);
    let own = sv.stderr_log("essential");
    assert!(!own.contains("ERROR"), "{own}");
    assert_eq!(sv.file("status"), "");
    sv.ctl(&["stop", "web"]);
    wait_shut_down(&mut sv);
    assert_graceful_stop(&sv);
    assert_eq!(sv.file("status"), "program=web:web\nstate=STOPPED\n");
}

#[test]
fn any_never_acts_on_an_event_listener_pool() {
    // `-a`: another listener pool going FATAL is not a program (supervisord's priority -1 for
    // [eventlistener:x], asked over XML-RPC); the stop of a program afterwards is acted on.
    let mut sv = start(&[
        "[program:web]\ncommand=sleep 1000\n".to_owned(),
        "[eventlistener:dud]\ncommand=/nonexistent/dud\nevents=TICK_60\nstartretries=1\n"
            .to_owned(),
        bystanders(""),
        essential("-a --on FATAL,STOPPED", ""),
    ]);
    sv.wait_state("dud", "FATAL", START);
    sv.wait_stderr_line(
        "essential",
        &["dud:dud is FATAL: not acting", "event-listener pool"],
        START,
    );
    sv.wait_running("web", START);
    sv.ctl(&["stop", "web"]);
    wait_shut_down(&mut sv);
    assert_graceful_stop(&sv);
    assert_eq!(sv.file("status"), "program=web:web\nstate=STOPPED\n");
}

#[test]
fn without_supervisor_server_url_supervisord_gets_sigterm_and_stops_gracefully() {
    // Issue 13, proof 4: supervisord lets environment= override the SUPERVISOR_SERVER_URL it
    // sets; empty means none. The listener checks that its parent is supervisord and sends
    // it SIGTERM.
    let mut sv = start(&[
        broken("broken"),
        bystanders(""),
        essential("-p broken", ",SUPERVISOR_SERVER_URL=\"\""),
    ]);
    wait_shut_down(&mut sv);
    let log = sv.log();
    assert!(
        log.contains("received SIGTERM indicating exit request"),
        "{log}"
    );
    assert_graceful_stop(&sv);
    assert_eq!(sv.file("status"), "program=broken:broken\nstate=FATAL\n");
    let own = sv.stderr_log("essential");
    assert!(
        own.contains("through SIGTERM to supervisord (no usable SUPERVISOR_SERVER_URL)")
            && own.contains("sent SIGTERM to supervisord (pid "),
        "{own}"
    );
}
