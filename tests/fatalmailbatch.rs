//! fatalmailbatch as a user sees it (issue 4, "Proof"): programs that cannot start, under a real
//! supervisord 4.3.0, reported in a batched mail at a real SMTP server (aiosmtpd on 127.0.0.1).

use std::time::Duration;

use crate::common::crash::{crasher, is_asctime, start, wait_crashes_done};
use crate::common::smtp::SmtpServer;
use crate::common::{self};

/// Longest wait for a program or listener to reach a state.
const START: Duration = Duration::from_secs(20);

/// Longest wait for a batch: two flushes (20 s) and slack for a busy machine.
const ARRIVE: Duration = Duration::from_secs(45);

#[test]
fn programs_that_cannot_start_are_mailed_by_name() {
    // Issue 4, proof 2. "missing" names a command that does not exist (spawn error; started
    // with supervisord, since supervisorctl refuses to start it: its events wait in the pool's
    // buffer until the listener is RUNNING); "quits" exits before startsecs, twice. Both go FATAL; "crasher" crashes while RUNNING, which is
    // crashmailbatch's business, not ours. Fails if a FATAL program is not named exactly once
    // with superlance's line, if the subject changes, or if a crash is reported as FATAL.
    let server = SmtpServer::start();
    let sv = start(&[
        "[program:missing]\ncommand=/nonexistent/program\nstartretries=1\n".to_owned(),
        "[program:quits]\ncommand=sh -c 'exit 1'\nautostart=false\nstartsecs=1\nstartretries=1\n"
            .to_owned(),
        crasher("crasher", 2, "0.2"),
        common::eventlistener(
            "fatalmailbatch",
            &format!(
                "fatalmailbatch -t ops@example.com -f supervisor@example.com -H {} -i 0.1",
                server.host_port()
            ),
            "PROCESS_STATE,TICK_5",
        ),
    ]);
    let pid = sv.wait_running("fatalmailbatch", START);
    sv.ctl(&["start", "quits", "crasher"]);
    sv.wait_state("missing", "FATAL", START);
    sv.wait_state("quits", "FATAL", START);
    wait_crashes_done(&sv, "crasher", 2);
    let mails = common::poll(ARRIVE, || {
        let mails = server.mails();
        let n: usize = mails.iter().map(|m| m.body.lines().count()).sum();
        (n >= 2).then_some(mails)
    })
    .unwrap_or_else(|| panic!("no FATAL mail within {ARRIVE:?}: {:#?}", server.mails()));
    let mut named = Vec::new();
    for m in &mails {
        assert_eq!(
            m.header("Subject"),
            Some("Fatal start alert from supervisord")
        );
        assert_eq!(m.header("From"), Some("supervisor@example.com"));
        assert_eq!(m.rcpt_to, ["ops@example.com"]);
        for line in m.body.lines() {
            let (at, rest) = line
                .split_once(" -- Process ")
                .unwrap_or_else(|| panic!("not a fatalmailbatch line: {line:?}"));
            assert!(is_asctime(at), "{line:?}");
            let spec = rest
                .strip_suffix(" failed to start too many times")
                .unwrap_or_else(|| panic!("not a fatalmailbatch line: {line:?}"));
            named.push(spec.to_owned());
        }
    }
    named.sort();
    assert_eq!(named, ["missing:missing", "quits:quits"], "{mails:#?}");
    // Another flush passes: nothing more (the crasher's crashes are not FATAL).
    let flushes = |s: &str| s.matches("TICK_5: mailing").count();
    let before = flushes(&sv.stderr_log("fatalmailbatch"));
    std::thread::sleep(Duration::from_secs(11));
    assert_eq!(server.mails().len(), mails.len(), "{:#?}", server.mails());
    assert_eq!(flushes(&sv.stderr_log("fatalmailbatch")), before);
    sv.assert_listener_up("fatalmailbatch", pid);
}

#[test]
fn pipe_issue_15_fatal_states_past_max_lines_are_counted() {
    // Issue 15, over pipes: 7 FATAL events of one program with --max-lines 2; the batch mailed
    // at end of input to a real SMTP server lists 2 and ends with "g:db: 5 more FATAL states
    // between T1 and T2". Fails if more are listed, the count is off, or the noun is wrong.
    use crate::common::pipe::{self, Running};
    let server = SmtpServer::start();
    let hp = server.host_port();
    let mut l = Running::spawn(
        crate::common::BIN,
        &[
            "fatalmailbatch",
            "-t",
            "ops@example.com",
            "-f",
            "sv@example.com",
            "-H",
            &hp,
            "--max-lines",
            "2",
        ],
    );
    l.expect_stdout(pipe::READY);
    for serial in 1..=7u32 {
        l.write(&pipe::frame(
            serial,
            "PROCESS_STATE_FATAL",
            "processname:db groupname:g from_state:BACKOFF",
        ));
    }
    l.expect_stdout(&pipe::answered(7));
    l.close_stdin();
    let mails = server.wait_for_mails(1, ARRIVE);
    let body: Vec<&str> = mails[0].body.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(body.len(), 3, "{body:#?}");
    for line in &body[..2] {
        let (at, rest) = line.split_once(" -- ").unwrap();
        assert!(is_asctime(at), "{line}");
        assert_eq!(rest, "Process g:db failed to start too many times");
    }
    let rest = body[2]
        .strip_prefix("g:db: 5 more FATAL states between ")
        .unwrap_or_else(|| panic!("{body:#?}"));
    let (t1, t2) = rest.split_once(" and ").unwrap();
    assert!(is_asctime(t1) && is_asctime(t2) && t1 <= t2, "{rest}");
    assert_eq!(l.finish().code(), 0);
}
