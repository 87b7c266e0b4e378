//! crashsms as a user sees it (issue 4, "Proof"): short lines for an e-mail-to-SMS gateway,
//! without a Subject unless -s is given, batched, under a real supervisord 4.3.0; once through
//! the sendmail command (superlance's crashsms could only use SMTP: #28), once over SMTP.

use std::time::Duration;

use crate::common::crash::{crasher, is_asctime, start, wait_crashes_done};
use crate::common::smtp::SmtpServer;
use crate::common::{self};

/// Longest wait for a program or listener to reach RUNNING.
const START: Duration = Duration::from_secs(10);

/// Longest wait for a batch: two flushes (20 s) and slack for a busy machine.
const ARRIVE: Duration = Duration::from_secs(45);

/// `[<group>:<name>](<pid>) exited unexpectedly <asctime>`: (group, name, pid).
fn parse_line(line: &str) -> (String, String, u32) {
    let parsed = || -> Option<(String, String, u32)> {
        let rest = line.strip_prefix('[')?;
        let (spec, rest) = rest.split_once("](")?;
        let (pid, at) = rest.split_once(") exited unexpectedly ")?;
        let (group, name) = spec.split_once(':')?;
        let pid = pid.parse().ok()?;
        is_asctime(at).then(|| (group.to_owned(), name.to_owned(), pid))
    };
    parsed().unwrap_or_else(|| panic!("not a crashsms line: {line:?}"))
}

#[test]
fn short_lines_every_crash_once_subject_only_with_s() {
    // Issue 4, proof 3. Two pools on the same crashes: one through the sendmail command with
    // no -s (no Subject header at all), one over SMTP with -s. Fails if a line loses
    // superlance's format, if a crash is missing or listed twice, or if a Subject appears
    // without -s (an SMS gateway would put it in the text).
    let server = SmtpServer::start();
    let sv = start(&[
        crasher("crasher", 4, "0.3"),
        common::eventlistener(
            "sms_sendmail",
            &format!(
                "crashsms -t 5551234@sms.example.com -f sv@example.com -i 0.1 \
                 --sendmail_program '{}'",
                server.sendmail_command()
            ),
            "PROCESS_STATE_EXITED,TICK_5",
        ),
        common::eventlistener(
            "sms_smtp",
            &format!(
                "crashsms -t 5559876@sms.example.com -f sv@example.com -i 0.1 -H {} -s ALERT",
                server.host_port()
            ),
            "PROCESS_STATE_EXITED,TICK_5",
        ),
    ]);
    let p1 = sv.wait_running("sms_sendmail", START);
    let p2 = sv.wait_running("sms_smtp", START);
    sv.ctl(&["start", "crasher"]);
    let crashes = wait_crashes_done(&sv, "crasher", 4);
    let mut want: Vec<u32> = crashes.iter().map(|c| c.pid).collect();
    want.sort_unstable();
    for (to, subject) in [
        ("5551234@sms.example.com", None),
        ("5559876@sms.example.com", Some("ALERT")),
    ] {
        let mails = common::poll(ARRIVE, || {
            let mails: Vec<_> = server
                .mails()
                .into_iter()
                .filter(|m| m.rcpt_to == [to])
                .collect();
            let n: usize = mails.iter().map(|m| m.body.lines().count()).sum();
            (n >= 4).then_some(mails)
        })
        .unwrap_or_else(|| panic!("{to}: not 4 lines within {ARRIVE:?}: {:#?}", server.mails()));
        let mut pids = Vec::new();
        for m in &mails {
            assert_eq!(m.header("Subject"), subject, "{to}: {m:#?}");
            assert_eq!(m.header("From"), Some("sv@example.com"));
            assert!(m.header("Date").is_some() && m.header("Message-ID").is_some());
            for line in m.body.lines() {
                let (group, name, pid) = parse_line(line);
                assert_eq!((group.as_str(), name.as_str()), ("crasher", "crasher"));
                assert!(line.len() <= 80, "{line:?} is not short");
                pids.push(pid);
            }
        }
        pids.sort_unstable();
        assert_eq!(
            pids, want,
            "{to}: crashes listed (left) vs supervisord's log (right)"
        );
    }
    sv.assert_listener_up("sms_sendmail", p1);
    sv.assert_listener_up("sms_smtp", p2);
}

#[test]
fn pipe_issue_15_crashes_past_max_lines_end_in_one_short_count_line() {
    // Issue 15, over pipes: 6 crashes of one program with --max-lines 1; the message (SMTP,
    // no Subject) lists the first and ends with "[web:web_01] 5 more crashes T1 to T2". Fails
    // if more are listed, the count is off, or a Subject appears.
    use crate::common::pipe::{self, Running};
    let server = SmtpServer::start();
    let hp = server.host_port();
    let mut l = Running::spawn(
        common::BIN,
        &[
            "crashsms",
            "-t",
            "sms@example.com",
            "-f",
            "sv@example.com",
            "-H",
            &hp,
            "--max-lines",
            "1",
        ],
    );
    l.expect_stdout(pipe::READY);
    for serial in 1..=6u32 {
        l.write(&pipe::exited(serial, "web", "web_01", false, 100 + serial));
    }
    l.expect_stdout(&pipe::answered(6));
    l.close_stdin();
    let mails = server.wait_for_mails(1, ARRIVE);
    assert_eq!(mails[0].header("Subject"), None);
    let body: Vec<&str> = mails[0].body.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(body.len(), 2, "{body:#?}");
    assert_eq!(
        parse_line(body[0]),
        ("web".to_owned(), "web_01".to_owned(), 101)
    );
    let rest = body[1]
        .strip_prefix("[web:web_01] 5 more crashes ")
        .unwrap_or_else(|| panic!("{body:#?}"));
    let (t1, t2) = rest.split_once(" to ").unwrap();
    assert!(is_asctime(t1) && is_asctime(t2) && t1 <= t2, "{rest}");
    assert_eq!(l.finish().code(), 0);
}
