//! crashmailbatch as a user sees it (issue 4, "Proof"): the batched mails that arrive at a real
//! SMTP server (aiosmtpd on 127.0.0.1) under a real supervisord 4.3.0, every crash listed once
//! across them; an SMTP outage during a flush; the spool across kill -9 and SIGTERM. The last
//! tests drive the binary over pipes, without supervisord.
//!
//! The pools are subscribed to TICK_5 and run with the default `-e TICK_60`: superlance would
//! never mail anything so configured (B14), so each arriving batch also proves that fix.
//! `-i 0.1` (6 s) with TICK_5 mails every second tick, ten seconds apart.

use std::time::Duration;

use crate::common::crash::{crasher, is_asctime, start, wait_crashes_done, Crash};
use crate::common::pipe::{self, Running};
use crate::common::smtp::{self, ReceivedMail, SmtpServer};
use crate::common::{self, BIN};

/// Longest wait for a program or listener to reach RUNNING.
const START: Duration = Duration::from_secs(10);

/// Longest wait for a batch: two flushes (20 s) and slack for a busy machine.
const ARRIVE: Duration = Duration::from_secs(45);

/// The pool: crashmailbatch ARGS on process states and TICK_5.
fn pool(args: &str) -> String {
    common::eventlistener(
        "crashmailbatch",
        &format!("crashmailbatch {args}"),
        "PROCESS_STATE,TICK_5",
    )
}

/// One line of a crashmailbatch mail, parsed.
#[derive(Debug, Clone, PartialEq)]
struct Line {
    at: String,
    group: String,
    name: String,
    pid: u32,
}

/// `<asctime> -- Process <group>:<name> (pid <pid>) died unexpectedly`, or a panic naming the
/// line.
fn parse_line(line: &str) -> Line {
    let parsed = || -> Option<Line> {
        let (at, rest) = line.split_once(" -- Process ")?;
        let (spec, rest) = rest.split_once(" (pid ")?;
        let pid = rest.strip_suffix(") died unexpectedly")?.parse().ok()?;
        let (group, name) = spec.split_once(':')?;
        is_asctime(at).then(|| Line {
            at: at.to_owned(),
            group: group.to_owned(),
            name: name.to_owned(),
            pid,
        })
    };
    parsed().unwrap_or_else(|| panic!("not a crashmailbatch line: {line:?}"))
}

/// Every line of every mail, in order.
fn lines(mails: &[ReceivedMail]) -> Vec<Line> {
    mails
        .iter()
        .flat_map(|m| m.body.lines().filter(|l| !l.is_empty()).map(parse_line))
        .collect()
}

/// Wait until the mails at `server` list `n` lines in all; returns the mails.
fn wait_lines(server: &SmtpServer, n: usize) -> Vec<ReceivedMail> {
    common::poll(ARRIVE, || {
        let mails = server.mails();
        (lines(&mails).len() >= n).then_some(mails)
    })
    .unwrap_or_else(|| {
        panic!(
            "the mails did not list {n} crashes within {ARRIVE:?}: {:#?}",
            server.mails()
        )
    })
}

/// The pids listed for program `name` (its own group) are exactly those of its `crashes`:
/// each crash once, none twice, each line dated at (or just after) its crash.
fn assert_each_crash_once(all: &[Line], crashes: &[Crash], name: &str) {
    let mine: Vec<&Line> = all.iter().filter(|l| l.name == name).collect();
    let mut pids: Vec<u32> = mine.iter().map(|l| l.pid).collect();
    pids.sort_unstable();
    let mut want: Vec<u32> = crashes.iter().map(|c| c.pid).collect();
    want.sort_unstable();
    assert_eq!(
        pids, want,
        "the pids listed for {name} (left) are not those of its crashes in supervisord's log \
         (right): a crash listed twice, or not at all"
    );
    for line in mine {
        assert_eq!(line.group, name);
        let crash = crashes.iter().find(|c| c.pid == line.pid);
        let crash = crash.unwrap_or_else(|| panic!("no crash of pid {}", line.pid));
        // Both are local asctimes of the same day: compare as text, to the second.
        assert!(
            line.at[..19] >= crash.at[..19],
            "line time {} before the crash at {}",
            line.at,
            crash.at
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Under a real supervisord 4.3.0.

#[test]
fn crash_loopers_are_batched_and_every_crash_is_listed_once() {
    // Issue 4, proof 1. Two programs crash 14 and 4 times; crash1's crashes span ~20 s (one
    // every ~1.5 s: 0.5 s up, then supervisord's 1 s poll), so they cross at least one of the
    // flushes, which come every 10 s (8 crashes, ~10.5 s, sometimes fitted in one window). Fails if a crash is missing or listed twice across the mails (pids against
    // supervisord's log), if the line or the subject lose superlance's wording, if headers
    // are wrong (From is -f, To both -t addresses, Date, distinct Message-IDs), if crashes
    // are not batched (one mail each), or if nothing is mailed with TICK_5 and the default
    // -e TICK_60 (B14).
    let server = SmtpServer::start();
    let sv = start(&[
        crasher("crash1", 14, "0.5"),
        crasher("crash2", 4, "0.5"),
        pool(&format!(
            "-t ops@example.com,dev@example.com -f supervisor@example.com -H {} -i 0.1",
            server.host_port()
        )),
    ]);
    let pid = sv.wait_running("crashmailbatch", START);
    sv.ctl(&["start", "crash1", "crash2"]);
    let c1 = wait_crashes_done(&sv, "crash1", 14);
    let c2 = wait_crashes_done(&sv, "crash2", 4);
    let mails = wait_lines(&server, 18);
    let all = lines(&mails);
    assert_eq!(all.len(), 18, "{all:#?}");
    assert_each_crash_once(&all, &c1, "crash1");
    assert_each_crash_once(&all, &c2, "crash2");
    assert!(
        (2..18).contains(&mails.len()),
        "{} mails for 18 crashes over ~20 s, batched every 10 s",
        mails.len()
    );
    let mut ids = Vec::new();
    for m in &mails {
        assert_eq!(m.header("Subject"), Some("Crash alert from supervisord"));
        assert_eq!(m.header("From"), Some("supervisor@example.com"));
        assert_eq!(m.mail_from, "supervisor@example.com");
        assert_eq!(m.header("To"), Some("ops@example.com, dev@example.com"));
        assert_eq!(m.rcpt_to, ["ops@example.com", "dev@example.com"]);
        assert!(m.header("Date").is_some_and(|d| !d.is_empty()), "{m:#?}");
        ids.push(m.header("Message-ID").unwrap_or_default().to_owned());
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), mails.len(), "Message-IDs repeat or are missing");
    // The batches followed TICK_5, not the listener's own clock.
    let log = sv.stderr_log("crashmailbatch");
    assert!(log.contains("TICK_5: mailing "), "{log}");
    assert!(!log.contains("no TICK"), "{log}");
    sv.assert_listener_up("crashmailbatch", pid);
}

#[test]
fn smtp_down_for_a_flush_the_kept_batch_arrives_when_it_is_back() {
    // Issue 4, proof 4 (superlance B15 threw a batch away when sending failed). The server is
    // down while the first batch is flushed; it comes back; that batch arrives, complete, and
    // so do later ones. Fails if the failed batch is dropped, sent twice, or split.
    let mut server = SmtpServer::start();
    let port = server.port();
    server.stop();
    assert!(smtp::wait_closed(port), "the SMTP server still listens");
    let sv = start(&[
        crasher("crasher", 3, "0.2"),
        pool(&format!(
            "-t ops@example.com -f supervisor@example.com -H {} -i 0.1",
            server.host_port()
        )),
    ]);
    let pid = sv.wait_running("crashmailbatch", START);
    sv.ctl(&["start", "crasher"]);
    let first = wait_crashes_done(&sv, "crasher", 3);
    sv.wait_stderr_line(
        "crashmailbatch",
        &[
            "WARN",
            "cannot deliver",
            &format!("SMTP 127.0.0.1:{port}"),
            "next attempt in",
        ],
        ARRIVE,
    );
    assert!(server.mails().is_empty());
    server.restart();
    let mails = wait_lines(&server, 3);
    let all = lines(&mails);
    assert_each_crash_once(&all, &first, "crasher");
    // Three crashes, in one batch or two (a flush may fall between them): each kept whole and
    // delivered once, which the pids above show.
    assert!((1..=2).contains(&mails.len()), "{mails:#?}");
    sv.wait_stderr_line(
        "crashmailbatch",
        &["mailed \"Crash alert", "(attempt "],
        START,
    );
    sv.assert_listener_up("crashmailbatch", pid);
}

#[test]
fn spooled_lines_survive_kill_9_and_sigterm_mails_them() {
    // "Nothing is lost": with --spool each line is noted as it is accepted. The batch is an
    // hour long, so nothing is flushed by time: kill -9 the listener with three lines in
    // hand; supervisord restarts it; the new process takes the lines over; stopping it
    // (SIGTERM) mails them. Fails if a line is lost with the killed process, or if the
    // pending batch is not sent at SIGTERM.
    let server = SmtpServer::start();
    let dir = common::tempdir();
    let spool = dir.path().join("spool");
    let sv = start(&[
        crasher("crasher", 3, "0.2"),
        pool(&format!(
            "-t ops@example.com -f supervisor@example.com -H {} -i 60 --spool {}",
            server.host_port(),
            spool.display()
        )),
    ]);
    let first = sv.wait_running("crashmailbatch", START);
    sv.ctl(&["start", "crasher"]);
    let crashes = wait_crashes_done(&sv, "crasher", 3);
    assert!(
        common::wait_until(ARRIVE, || {
            sv.stderr_log("crashmailbatch")
                .matches("(mailed with the next batch)")
                .count()
                == 3
        }),
        "{}",
        sv.stderr_log("crashmailbatch")
    );
    let noted = std::fs::read_to_string(spool.join("batch.lines")).unwrap_or_default();
    assert_eq!(noted.lines().count(), 3, "{noted:?}");
    // SAFETY: kill(2) with a pid and a signal number.
    assert_eq!(unsafe { libc::kill(first as i32, libc::SIGKILL) }, 0);
    let second = common::poll(START, || sv.pid("crashmailbatch").filter(|&p| p != first))
        .unwrap_or_else(|| panic!("supervisord did not restart the listener"));
    sv.wait_stderr_line(
        "crashmailbatch",
        &["3 lines collected by the last run and not mailed yet"],
        START,
    );
    assert!(
        server.mails().is_empty(),
        "an hour-long batch went out early"
    );
    sv.ctl(&["stop", "crashmailbatch"]);
    let mails = wait_lines(&server, 3);
    assert_eq!(mails.len(), 1, "{mails:#?}");
    assert_each_crash_once(&lines(&mails), &crashes, "crasher");
    assert!(
        !spool.join("batch.lines").exists(),
        "noted lines kept after the batch was mailed"
    );
    let log = sv.stderr_log("crashmailbatch");
    assert!(log.contains("stopping: mailing 3 lines"), "{log}");
    assert_ne!(first, second);
}

/// A body's last line `<group>:<name>: N more crashes between T1 and T2` (issue 15), parsed:
/// (program, N, T1, T2).
fn parse_more(line: &str) -> (String, usize, String, String) {
    let parsed = || -> Option<(String, usize, String, String)> {
        let (program, rest) = line.split_once(": ")?;
        let (n, rest) = rest.split_once(" more crashes between ")?;
        let (t1, t2) = rest.split_once(" and ")?;
        let n = n.parse().ok()?;
        (is_asctime(t1) && is_asctime(t2))
            .then(|| (program.to_owned(), n, t1.to_owned(), t2.to_owned()))
    };
    parsed().unwrap_or_else(|| panic!("not a \"more crashes\" line: {line:?}"))
}

#[test]
fn issue_15_a_crash_looper_past_max_lines_is_listed_n_times_then_counted() {
    // Issue 15: a program crashes 8 times in one (hour-long) batch with --max-lines 3; the
    // batch mailed at SIGTERM lists its first 3 crashes (their pids, from supervisord's log)
    // and ends with "looper:looper: 5 more crashes between T1 and T2", T1 and T2 the 4th and
    // the 8th crash. Fails if more than 3 are listed, if the count is not what supervisord
    // logged, or if the times are not those of the counted crashes.
    let server = SmtpServer::start();
    let sv = start(&[
        crasher("looper", 8, "0.1"),
        crasher("calm", 1, "0.1"),
        pool(&format!(
            "-t ops@example.com -f supervisor@example.com -H {} -i 60 --max-lines 3",
            server.host_port()
        )),
    ]);
    sv.wait_running("crashmailbatch", START);
    sv.ctl(&["start", "looper", "calm"]);
    let looped = wait_crashes_done(&sv, "looper", 8);
    let calm = wait_crashes_done(&sv, "calm", 1);
    sv.wait_stderr_line(
        "crashmailbatch",
        &["(counted, not listed: looper:looper has had 3 lines in this batch"],
        ARRIVE,
    );
    sv.ctl(&["stop", "crashmailbatch"]);
    let mails = server.wait_for_mails(1, ARRIVE);
    assert_eq!(mails.len(), 1, "{mails:#?}");
    assert_eq!(
        mails[0].header("Subject"),
        Some("Crash alert from supervisord")
    );
    let body: Vec<&str> = mails[0].body.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(body.len(), 5, "3 + 1 listed, one count line: {body:#?}");
    let listed: Vec<Line> = body[..4].iter().map(|l| parse_line(l)).collect();
    assert_each_crash_once(&listed, &looped[..3], "looper");
    assert_each_crash_once(&listed, &calm, "calm");
    let (program, n, t1, t2) = parse_more(body[4]);
    assert_eq!((program.as_str(), n), ("looper:looper", 5), "{body:#?}");
    // Local asctimes of the same day: compare as text, to the second.
    assert!(
        t1[..19] >= looped[3].at[..19],
        "{t1} before the 4th crash {:?}",
        looped[3]
    );
    assert!(
        t2[..19] >= looped[7].at[..19],
        "{t2} before the 8th crash {:?}",
        looped[7]
    );
    assert!(t1 <= t2);
}

#[test]
fn issue_15_counts_survive_kill_9_with_a_spool_and_the_file_stays_small() {
    // Issue 15: with --spool, lines past --max-lines are not appended to batch.lines but
    // counted in batch.counts, which survives kill -9: the restarted listener mails the 2
    // listed crashes and "4 more crashes" at SIGTERM. Fails if batch.lines grows past the
    // limit, if a count is lost with the killed process, or if it is mailed twice.
    let server = SmtpServer::start();
    let dir = common::tempdir();
    let spool = dir.path().join("spool");
    let sv = start(&[
        crasher("looper", 6, "0.1"),
        pool(&format!(
            "-t ops@example.com -f supervisor@example.com -H {} -i 60 --max-lines 2 \
             --spool {} --log-level debug",
            server.host_port(),
            spool.display()
        )),
    ]);
    let first = sv.wait_running("crashmailbatch", START);
    sv.ctl(&["start", "looper"]);
    let crashes = wait_crashes_done(&sv, "looper", 6);
    assert!(
        common::wait_until(ARRIVE, || {
            sv.stderr_log("crashmailbatch")
                .matches("(counted, not listed")
                .count()
                == 4
        }),
        "{}",
        sv.stderr_log("crashmailbatch")
    );
    let noted = std::fs::read_to_string(spool.join("batch.lines")).unwrap_or_default();
    assert_eq!(noted.lines().count(), 2, "{noted:?}");
    let counts = std::fs::read_to_string(spool.join("batch.counts")).unwrap_or_default();
    assert_eq!(
        counts.lines().count(),
        1,
        "one record per program: {counts:?}"
    );
    // SAFETY: kill(2) with a pid and a signal number.
    assert_eq!(unsafe { libc::kill(first as i32, libc::SIGKILL) }, 0);
    common::poll(START, || sv.pid("crashmailbatch").filter(|&p| p != first))
        .unwrap_or_else(|| panic!("supervisord did not restart the listener"));
    sv.wait_stderr_line(
        "crashmailbatch",
        &["looper:looper: 4 lines counted beyond --max-lines by the last run"],
        START,
    );
    sv.ctl(&["stop", "crashmailbatch"]);
    let mails = server.wait_for_mails(1, ARRIVE);
    assert_eq!(mails.len(), 1, "{mails:#?}");
    let body: Vec<&str> = mails[0].body.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(body.len(), 3, "{body:#?}");
    let listed: Vec<Line> = body[..2].iter().map(|l| parse_line(l)).collect();
    assert_each_crash_once(&listed, &crashes[..2], "looper");
    let (program, n, t1, _) = parse_more(body[2]);
    assert_eq!((program.as_str(), n), ("looper:looper", 4), "{body:#?}");
    assert!(t1[..19] >= crashes[2].at[..19], "{t1} before the 3rd crash");
    assert!(
        !spool.join("batch.counts").exists(),
        "counts kept after the batch was mailed"
    );
    assert!(!spool.join("batch.lines").exists());
}

// ---------------------------------------------------------------------------------------------
// Over pipes.

/// `superlance crashmailbatch ARGS...` over pipes.
fn crashmailbatch(args: &[&str]) -> Running {
    let mut all = vec!["crashmailbatch"];
    all.extend_from_slice(args);
    Running::spawn(BIN, &all)
}

#[test]
fn pipe_batch_clock_follows_tick_stamps() {
    // Issue 4: the batch clock runs on the TICK events' own when: stamps. -i 1 with TICK_5
    // stamps 5 s apart, sent at once: the 12th tick closes the minute. Fails if the clock
    // counted only -e's TICK_60 (B14), or the wall clock (the ticks come within a second).
    let server = SmtpServer::start();
    let hp = server.host_port();
    let mut l = crashmailbatch(&["-t", "ops@example.com", "-f", "sv@example.com", "-H", &hp]);
    l.expect_stdout(pipe::READY);
    l.write(&pipe::exited(1, "web", "web_01", false, 101));
    l.write(&pipe::exited(2, "web", "web_02", true, 102));
    for i in 1..=11u32 {
        l.write(&pipe::tick(2 + i, 5, 1_700_000_000 + 5 * u64::from(i)));
    }
    l.expect_stdout(&pipe::answered(13));
    assert!(server.mails().is_empty(), "{:#?}", server.mails());
    l.write(&pipe::tick(14, 5, 1_700_000_060));
    l.expect_stdout(&pipe::answered(14));
    let mails = server.wait_for_mails(1, Duration::from_secs(10));
    let all = lines(&mails);
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(
        (all[0].group.as_str(), all[0].name.as_str(), all[0].pid),
        ("web", "web_01", 101)
    );
    let f = l.finish();
    assert_eq!(f.code(), 0, "{}", f.stderr);
}

#[test]
fn pipe_without_ticks_warns_once_and_mails_by_its_own_clock() {
    // Issue 4: a pool subscribed to no TICK never mailed anything with superlance, silently.
    // We warn once after two intervals and mail anyway. -i 0.02 is 1.2 s.
    let server = SmtpServer::start();
    let hp = server.host_port();
    let mut l = crashmailbatch(&[
        "-t",
        "ops@example.com",
        "-f",
        "sv@example.com",
        "-H",
        &hp,
        "-i",
        "0.02",
    ]);
    l.expect_stdout(pipe::READY);
    l.write(&pipe::exited(1, "web", "web_01", false, 101));
    l.expect_stdout(&pipe::answered(1));
    let mails = server.wait_for_mails(1, Duration::from_secs(10));
    assert_eq!(lines(&mails).len(), 1);
    let warning = l.expect_stderr("no TICK event for");
    assert!(
        warning.contains("events=PROCESS_STATE_EXITED,TICK_60"),
        "{warning}"
    );
    l.write(&pipe::exited(2, "web", "web_01", false, 103));
    l.expect_stdout(&pipe::answered(2));
    server.wait_for_mails(2, Duration::from_secs(10));
    let f = l.finish();
    assert_eq!(f.code(), 0, "{}", f.stderr);
    assert_eq!(
        f.stderr.matches("no TICK event for").count(),
        1,
        "{}",
        f.stderr
    );
    assert_eq!(f.stdout, pipe::answered(2), "{}", pipe::show(&f.stdout));
}

#[test]
fn pipe_missing_required_options_print_the_help() {
    // superlance printed its help and exited non-zero when -t or -f was missing; so do we
    // (exit 2, on stderr: stdout is the protocol's), for each batch mailer.
    for name in ["crashmailbatch", "fatalmailbatch", "crashsms"] {
        for (args, missing) in [
            (
                vec![name, "-f", "sv@example.com"],
                "-t/--toEmail is required",
            ),
            (
                vec![name, "-t", "ops@example.com"],
                "-f/--fromEmail is required",
            ),
        ] {
            let f = Running::spawn(BIN, &args).exits_within(Duration::from_secs(10));
            assert_eq!(f.code(), 2, "{args:?}: {}", f.stderr);
            assert!(f.stderr.contains(missing), "{args:?}: {}", f.stderr);
            assert!(
                f.stderr.contains(&format!("Usage: {name} [OPTIONS]")),
                "{}",
                f.stderr
            );
            assert!(f.stdout.is_empty(), "{}", pipe::show(&f.stdout));
        }
        // --from stands in for -f.
        let mut l = Running::spawn(
            BIN,
            &[
                name,
                "-t",
                "ops@example.com",
                "--from",
                "sv@example.com",
                "--sendmail_program",
                "cat",
            ],
        );
        l.expect_stdout(pipe::READY);
        assert_eq!(l.finish().code(), 0);
        // Bad values are usage errors too.
        for bad in [["-i", "0"], ["-i", "soon"], ["-e", "TICK_7"]] {
            let mut args = vec![name, "-t", "ops@example.com", "-f", "sv@example.com"];
            args.extend_from_slice(&bad);
            let f = Running::spawn(BIN, &args).exits_within(Duration::from_secs(10));
            assert_eq!(f.code(), 2, "{args:?}: {}", f.stderr);
            assert!(f.stdout.is_empty());
        }
    }
}
