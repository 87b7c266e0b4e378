//! `superlance entrypoint` (issue 13): the container's PID 1 for supervisord, run here as an
//! ordinary process (no container engine needed: the same command line). It passes signals
//! on, reaps orphans, and turns a failure that the essential listener recorded into a
//! non-zero exit; otherwise the command's own status is its status.

use std::process::Command;
use std::time::Duration;

use crate::common::{run, stat, tempdir, wait_until, Supervisord, BIN};

const WAIT: Duration = Duration::from_secs(30);

/// A program that, on SIGTERM, writes `term` in supervisord's dir and exits 0: proof of a
/// graceful stop.
fn trapper() -> String {
    "[program:trapper]\n\
     command=sh -c 'trap \"echo got-TERM > %(here)s/term; exit 0\" TERM; while true; do sleep 0.1; done'\n\
     startsecs=0\n"
        .to_owned()
}

#[test]
fn sigterm_stops_every_program_gracefully_and_exits_0() {
    let mut sv = Supervisord::config(&trapper()).entrypoint(&[]).start();
    sv.wait_running("trapper", WAIT);
    sv.signal(libc::SIGTERM);
    let status = sv
        .wait_exit(WAIT)
        .expect("the entrypoint did not exit after SIGTERM");
    assert_eq!(status.code(), Some(0), "{status:?}\n{}", sv.log());
    assert_eq!(
        sv.file("term").trim(),
        "got-TERM",
        "trapper did not get SIGTERM"
    );
    assert!(
        sv.log().contains("stopped: trapper (exit status 0)"),
        "{}",
        sv.log()
    );
}

#[test]
fn other_signals_are_passed_on() {
    // SIGHUP to the entrypoint reaches supervisord, which reloads its config (and says so).
    let mut sv = Supervisord::config(&trapper()).entrypoint(&[]).start();
    sv.wait_running("trapper", WAIT);
    sv.signal(libc::SIGHUP);
    let reloaded = wait_until(WAIT, || {
        sv.log()
            .contains("received SIGHUP indicating restart request")
    });
    assert!(reloaded, "supervisord never got SIGHUP:\n{}", sv.log());
    sv.signal(libc::SIGINT);
    let status = sv.wait_exit(WAIT).expect("no exit after SIGINT");
    assert_eq!(status.code(), Some(0), "{status:?}");
    assert!(
        sv.log().contains("received SIGINT indicating exit request"),
        "{}",
        sv.log()
    );
}

#[test]
fn an_orphaned_grandchild_is_reaped() {
    // The program leaves a `sleep 2` behind and exits: the sleep is orphaned, handed to the
    // entrypoint (PID 1 in a container; the subreaper here), and reaped when it ends: no
    // zombie is left.
    let mut sv = Supervisord::config(
        "[program:leaver]\n\
         command=sh -c 'sleep 2 & echo $! > %(here)s/orphan; exit 0'\n\
         startsecs=0\n\
         autorestart=false\n",
    )
    .entrypoint(&[])
    .start();
    let entrypoint = {
        let sup = sv.pid_of_supervisord();
        stat(sup).expect("supervisord is gone").ppid
    };
    let orphan = crate::common::poll(WAIT, || sv.file("orphan").trim().parse::<u32>().ok())
        .expect("the program never wrote its child's pid");
    let adopted = wait_until(WAIT, || stat(orphan).is_some_and(|s| s.ppid == entrypoint));
    assert!(
        adopted,
        "the orphan {orphan} was not handed to the entrypoint {entrypoint}"
    );
    let reaped = wait_until(WAIT, || stat(orphan).is_none());
    assert!(
        reaped,
        "the orphan {orphan} ended but was never reaped: {:?}",
        std::fs::read_to_string(format!("/proc/{orphan}/stat"))
    );
    sv.signal(libc::SIGTERM);
    assert_eq!(sv.wait_exit(WAIT).and_then(|s| s.code()), Some(0));
}

#[test]
fn a_recorded_failure_is_a_non_zero_exit() {
    // What the essential listener does, done by a program: it writes the failure to the file
    // that $SUPERLANCE_ESSENTIAL_STATUS names (supervisord passes its environment on), then
    // supervisord stops cleanly (exit 0). The entrypoint exits with --exit-code instead.
    for (args, want) in [
        (&[][..], 1),
        (&["--exit-code", "70"][..], 70),
        (&["--exit-code", "from-program"][..], 42),
    ] {
        let mut sv = Supervisord::config(
            "[program:failer]\n\
             command=sh -c 'printf \"program=web:failer\\nstate=EXITED\\nexitstatus=42\\n\" > \"$SUPERLANCE_ESSENTIAL_STATUS\"; exec sleep 1000'\n\
             startsecs=0\n",
        )
        .entrypoint(args)
        .start();
        sv.wait_running("failer", WAIT);
        sv.signal(libc::SIGTERM);
        let status = sv.wait_exit(WAIT).expect("no exit after SIGTERM");
        assert_eq!(
            status.code(),
            Some(want),
            "{args:?}: {status:?}\n{}",
            sv.file("supervisord.out")
        );
        assert!(
            sv.file("supervisord.out")
                .contains("essential program web:failer failed (EXITED)"),
            "{}",
            sv.file("supervisord.out")
        );
    }
}

#[test]
fn the_command_s_own_status_passes_through() {
    let out = run(Command::new(BIN).args(["entrypoint", "--", "sh", "-c", "exit 3"]));
    assert_eq!(out.status.code(), Some(3));
    let out = run(Command::new(BIN).args(["entrypoint", "--", "sh", "-c", "kill -KILL $$"]));
    assert_eq!(out.status.code(), Some(137), "128 + SIGKILL");
    // Nothing of ours on stdout: it is the command's.
    let out = run(Command::new(BIN).args(["entrypoint", "--", "echo", "hello"]));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello\n");
    assert_eq!(out.status.code(), Some(0));
    // The status file of a run is in a directory of its own, removed at the end.
    let dir = tempdir();
    let file = dir.path().join("status");
    let out = run(Command::new(BIN)
        .args(["entrypoint", "--status-file"])
        .arg(&file)
        .args(["--", "sh", "-c", "echo \"$SUPERLANCE_ESSENTIAL_STATUS\""]));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        file.display().to_string()
    );
}

#[test]
fn usage_errors() {
    let out = run(Command::new(BIN).arg("entrypoint"));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("COMMAND"));
    let out = run(Command::new(BIN).args(["entrypoint", "--exit-code", "0", "--", "true"]));
    assert_eq!(out.status.code(), Some(2));
    let out = run(Command::new(BIN).args(["entrypoint", "--", "/nonexistent/supervisord"]));
    assert_eq!(out.status.code(), Some(127));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot start /nonexistent/supervisord"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Not a listener: --list does not name it.
    let out = run(Command::new(BIN).arg("--list"));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("entrypoint"));
}

/// Issue 13's proof, whole: `superlance entrypoint -- supervisord -n -c conf` with the
/// essential listener and an essential program that goes FATAL (a command that does not
/// exist, startretries=1): supervisord stops the other programs gracefully (trapper got
/// SIGTERM), exits 0, and the entrypoint exits 1, or the chosen code.
#[test]
fn an_essential_program_going_fatal_makes_the_entrypoint_exit_non_zero() {
    for (args, want) in [(&[][..], 1), (&["--exit-code", "3"][..], 3)] {
        let fragment = format!(
            "{}\n\
             [program:broken]\ncommand=/nonexistent/broken\nstartretries=1\n\n\
             [eventlistener:essential]\ncommand=essential -p broken\n\
             events=PROCESS_STATE,SUPERVISOR_STATE_CHANGE\nbuffer_size=100\nstartsecs=0\n",
            trapper()
        );
        let mut sv = Supervisord::config(&fragment).entrypoint(args).start();
        let status = sv
            .wait_exit(Duration::from_secs(60))
            .unwrap_or_else(|| panic!("{args:?}: still running 60 s after the start"));
        assert_eq!(
            status.code(),
            Some(want),
            "{args:?}\n{}",
            sv.file("supervisord.out")
        );
        assert_eq!(
            sv.file("term").trim(),
            "got-TERM",
            "trapper was not stopped gracefully"
        );
        assert!(
            sv.log().contains("stopped: trapper (exit status 0)"),
            "{}",
            sv.log()
        );
        let out = sv.file("supervisord.out");
        assert!(
            out.contains("essential program broken") && out.contains("failed (FATAL)"),
            "{out}"
        );
    }
}

/// With `--on EXITED` and `--exit-code from-program`, the program's own exit status (7) is the
/// container's.
#[test]
fn from_program_hands_on_the_program_s_exit_status() {
    let fragment = format!(
        "{}\n\
         [program:quitter]\ncommand=sh -c 'sleep 2; exit 7'\nstartsecs=0\nautorestart=false\n\n\
         [eventlistener:essential]\ncommand=essential -p quitter --on EXITED\n\
         events=PROCESS_STATE,SUPERVISOR_STATE_CHANGE\nbuffer_size=100\nstartsecs=0\n",
        trapper()
    );
    let mut sv = Supervisord::config(&fragment)
        .entrypoint(&["--exit-code", "from-program"])
        .start();
    let status = sv
        .wait_exit(Duration::from_secs(60))
        .expect("still running 60 s after the start");
    assert_eq!(status.code(), Some(7), "{}", sv.file("supervisord.out"));
    assert_eq!(sv.file("term").trim(), "got-TERM");
}

/// The same with `--on EXITED` and a program killed with SIGKILL: the entrypoint exits 1.
#[test]
fn an_essential_program_killed_with_sigkill_makes_the_entrypoint_exit_1() {
    let fragment = format!(
        "{}\n\
         [program:victim]\ncommand=sleep 1000\nstartsecs=0\n\n\
         [eventlistener:essential]\ncommand=essential -p victim --on EXITED\n\
         events=PROCESS_STATE,SUPERVISOR_STATE_CHANGE\nbuffer_size=100\nstartsecs=0\n",
        trapper()
    );
    let mut sv = Supervisord::config(&fragment).entrypoint(&[]).start();
    let pid = sv.wait_running("victim", WAIT);
    sv.wait_running("essential", WAIT);
    // SAFETY: kill(2) on a process of this test's supervisord.
    unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
    let status = sv
        .wait_exit(Duration::from_secs(60))
        .expect("still running 60 s after the kill");
    assert_eq!(status.code(), Some(1), "{}", sv.file("supervisord.out"));
    assert_eq!(sv.file("term").trim(), "got-TERM");
    assert!(sv.file("supervisord.out").contains("failed (EXITED)"));
}
