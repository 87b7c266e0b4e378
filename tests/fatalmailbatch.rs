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
