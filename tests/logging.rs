//! Logging: the stderr line format, --syslog and its facility, reconnecting after the syslog
//! socket is re-created (syslog crate issue #21), and bad logging options.

use std::fs;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::time::Duration;

use crate::common::pipe::{
    answered, parse_log_line, running, show, Running, Sleeper, BIN, GONE_PID, READY,
};

/// A stand-in for the syslog daemon: a datagram socket bound at `path`.
fn syslogd(path: &Path) -> UnixDatagram {
    let sock = UnixDatagram::bind(path).expect("bind the syslog socket");
    sock.set_read_timeout(Some(Duration::from_secs(15)))
        .expect("read timeout");
    sock
}

/// Stop the "daemon": close its socket and remove the file, then wait until the socket is
/// really gone. A test running in parallel may have forked and not yet exec'd, and its child
/// holds a copy of every descriptor until it does: until then the old socket still accepts
/// datagrams (and the listener, rightly, sees no error).
fn stop_syslogd(daemon: UnixDatagram, path: &Path) {
    let probe = UnixDatagram::unbound().expect("probe socket");
    probe.connect(path).expect("connect the probe");
    probe.set_nonblocking(true).expect("nonblocking probe");
    drop(daemon);
    fs::remove_file(path).expect("remove the socket");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        match probe.send(b"probe") {
            Err(e) if e.kind() != std::io::ErrorKind::WouldBlock => return,
            _ => {}
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the old syslog socket never went away"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The next message the "daemon" received.
fn recv(sock: &UnixDatagram) -> String {
    let mut buf = vec![0u8; 8192];
    let n = sock
        .recv(&mut buf)
        .unwrap_or_else(|e| panic!("no syslog message arrived: {e}"));
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// Split an RFC 3164 message `<PRI>Mmm dd hh:mm:ss oom_score_adj[PID]: MESSAGE` into its
/// priority and message, checking the parts in between.
fn parse_3164(datagram: &str, pid: u32) -> (u32, String) {
    let rest = datagram
        .strip_prefix('<')
        .unwrap_or_else(|| panic!("no <PRI>: {datagram:?}"));
    let (pri, rest) = rest
        .split_once('>')
        .unwrap_or_else(|| panic!("no <PRI>: {datagram:?}"));
    let pri: u32 = pri.parse().expect("numeric PRI");
    // "Jan 02 15:04:05" (the timestamp is 15 characters), then a space.
    let (stamp, rest) = rest.split_at(15);
    let month = &stamp[..3];
    assert!(
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
            .contains(&month),
        "timestamp {stamp:?} in {datagram:?}"
    );
    assert_eq!(&stamp[6..7], " ", "{datagram:?}");
    assert_eq!((&stamp[9..10], &stamp[12..13]), (":", ":"), "{datagram:?}");
    let tag = format!(" oom_score_adj[{pid}]: ");
    let message = rest
        .strip_prefix(&tag)
        .unwrap_or_else(|| panic!("no {tag:?} after the timestamp: {datagram:?}"));
    (pri, message.to_owned())
}

/// Send a RUNNING event for a process that is gone: the listener logs one INFO line naming
/// `name`, and answers.
fn log_a_line(l: &mut Running, serial: u32, name: &str) {
    l.write(&running(serial, name, name, GONE_PID));
    l.expect_stdout(&answered(serial as usize));
}

fn gone_line(name: &str) -> String {
    format!("{name}:{name} pid {GONE_PID}: process is gone; nothing to do")
}

#[test]
fn stderr_lines_are_asctime_level_listener_message() {
    let sleeper = Sleeper::start();
    let before = sleeper.score();
    let mut l = Running::listener(&["-p", "cat", "-p", "gone", "-s", "500"]);
    l.expect_stdout(READY);
    l.write(&running(1, "cat", "cat", sleeper.pid()));
    l.expect_stdout(&answered(1));
    log_a_line(&mut l, 2, "gone");
    let f = l.finish();
    assert_eq!(f.code(), 0, "{}", f.stderr);
    let lines: Vec<(&str, &str)> = f
        .stderr_lines()
        .into_iter()
        .map(|line| {
            parse_log_line(line, "oom_score_adj").unwrap_or_else(|| {
                panic!("not `YYYY-MM-DD HH:MM:SS,mmm LEVEL oom_score_adj: message`: {line:?}")
            })
        })
        .collect();
    assert_eq!(
        lines,
        [
            (
                "INFO",
                "will set oom_score_adj 500 when these reach RUNNING: cat, gone"
            ),
            (
                "INFO",
                &*format!(
                    "cat:cat pid {}: oom_score_adj {before} -> 500",
                    sleeper.pid()
                )
            ),
            ("INFO", &*gone_line("gone")),
        ]
    );
}

#[test]
fn warn_lines_have_the_same_format() {
    let mut l = Running::listener(&[]);
    l.expect_stdout(READY);
    let f = l.finish();
    assert_eq!(f.code(), 0, "{}", f.stderr);
    let lines = f.stderr_lines();
    assert_eq!(lines.len(), 1, "{}", f.stderr);
    let (level, message) = parse_log_line(lines[0], "oom_score_adj").expect("log line format");
    assert_eq!(level, "WARN");
    assert!(message.starts_with("no -p or -a given"), "{message}");
}

#[test]
fn log_level_warn_hides_info_lines() {
    let mut l = Running::listener(&["-a", "-s", "500", "--log-level", "warn"]);
    l.expect_stdout(READY);
    log_a_line(&mut l, 1, "gone");
    let f = l.finish();
    assert_eq!(f.code(), 0, "{}", f.stderr);
    assert_eq!(f.stderr, "");
}

#[test]
fn syslog_gets_the_log_lines_with_the_daemon_facility() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("log");
    let daemon = syslogd(&path);
    let socket = path.to_str().expect("utf-8 path");
    let mut l = Running::listener(&["-a", "-s", "500", "--syslog", "--syslog-socket", socket]);
    l.expect_stdout(READY);
    let pid = l.pid();
    // daemon (3) * 8 + info (6) = 30.
    assert_eq!(
        parse_3164(&recv(&daemon), pid),
        (
            30,
            "will set oom_score_adj 500 when these reach RUNNING: every process".to_owned()
        )
    );
    log_a_line(&mut l, 1, "first");
    assert_eq!(parse_3164(&recv(&daemon), pid), (30, gone_line("first")));
    let f = l.finish();
    assert_eq!(f.code(), 0, "{}", f.stderr);
    assert_eq!(f.stderr, "", "nothing of the log on stderr");
    assert_eq!(show(&f.stdout), show(&answered(1)));
}

#[test]
fn syslog_facility_local3() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("log");
    let daemon = syslogd(&path);
    let socket = path.to_str().expect("utf-8 path");
    let mut l = Running::listener(&[
        "-a",
        "-s",
        "500",
        "--syslog=local3",
        "--syslog-socket",
        socket,
    ]);
    l.expect_stdout(READY);
    let pid = l.pid();
    // local3 (19) * 8 + info (6) = 158.
    let (pri, _) = parse_3164(&recv(&daemon), pid);
    assert_eq!(pri, 158);
    log_a_line(&mut l, 1, "x");
    assert_eq!(parse_3164(&recv(&daemon), pid), (158, gone_line("x")));
    let f = l.finish();
    assert_eq!(f.code(), 0, "{}", f.stderr);
    assert_eq!(f.stderr, "");
}

#[test]
fn syslog_reconnects_after_the_daemon_recreates_its_socket() {
    // Regression for syslog crate issue #21: the crate connects once and never again, so a
    // logger built on it alone goes silent after the syslog daemon restarts.
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("log");
    let daemon = syslogd(&path);
    let socket = path.to_str().expect("utf-8 path");
    let mut l = Running::listener(&["-a", "-s", "500", "--syslog", "--syslog-socket", socket]);
    l.expect_stdout(READY);
    let pid = l.pid();
    recv(&daemon); // the start-up line
    log_a_line(&mut l, 1, "before");
    assert_eq!(parse_3164(&recv(&daemon), pid).1, gone_line("before"));

    // The daemon restarts: its socket goes away and a new one is bound at the same path.
    stop_syslogd(daemon, &path);
    let daemon = syslogd(&path);

    log_a_line(&mut l, 2, "after");
    assert_eq!(parse_3164(&recv(&daemon), pid), (30, gone_line("after")));
    log_a_line(&mut l, 3, "again");
    assert_eq!(parse_3164(&recv(&daemon), pid).1, gone_line("again"));
    let f = l.finish();
    assert_eq!(f.code(), 0, "{}", f.stderr);
    assert_eq!(f.stderr, "", "nothing fell back to stderr");
    assert_eq!(show(&f.stdout), show(&answered(3)));
}

#[test]
fn syslog_down_falls_back_to_stderr_and_comes_back() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("log");
    let daemon = syslogd(&path);
    let socket = path.to_str().expect("utf-8 path");
    let mut l = Running::listener(&["-a", "-s", "500", "--syslog", "--syslog-socket", socket]);
    l.expect_stdout(READY);
    let pid = l.pid();
    recv(&daemon); // the start-up line

    // The daemon is down: no line is lost, they go to stderr, with one warning per outage.
    stop_syslogd(daemon, &path);
    log_a_line(&mut l, 1, "down1");
    log_a_line(&mut l, 2, "down2");
    let stderr = l.expect_stderr(&gone_line("down2"));
    let lines: Vec<(&str, &str)> = stderr
        .lines()
        .map(|line| parse_log_line(line, "oom_score_adj").expect("log line format"))
        .collect();
    let warnings = |lines: &[(&str, &str)]| {
        lines
            .iter()
            .filter(|(level, m)| *level == "WARN" && m.starts_with("syslog unreachable"))
            .count()
    };
    assert_eq!(warnings(&lines), 1, "warned once:\n{stderr}");
    let infos: Vec<&str> = lines
        .iter()
        .filter(|(level, _)| *level == "INFO")
        .map(|(_, m)| *m)
        .collect();
    assert_eq!(infos, [gone_line("down1"), gone_line("down2")], "{stderr}");

    // It comes back: the next lines go to syslog again, and nothing more to stderr.
    let daemon = syslogd(&path);
    log_a_line(&mut l, 3, "back");
    assert_eq!(parse_3164(&recv(&daemon), pid).1, gone_line("back"));
    assert_eq!(
        l.stderr(),
        stderr,
        "nothing more on stderr once syslog is back"
    );

    // A second outage is announced again.
    stop_syslogd(daemon, &path);
    log_a_line(&mut l, 4, "down3");
    let f = l.finish();
    assert_eq!(f.code(), 0, "{}", f.stderr);
    let lines: Vec<(&str, &str)> = f
        .stderr_lines()
        .into_iter()
        .map(|line| parse_log_line(line, "oom_score_adj").expect("log line format"))
        .collect();
    assert_eq!(warnings(&lines), 2, "{}", f.stderr);
    assert!(
        f.stderr.ends_with(&format!("{}\n", gone_line("down3"))),
        "{}",
        f.stderr
    );
    assert_eq!(show(&f.stdout), show(&answered(4)));
}

#[test]
fn unknown_syslog_facility_exits_2() {
    let f = Running::spawn(BIN, &["oom_score_adj", "-a", "--syslog=nonsense"]).finish();
    assert_eq!(f.code(), 2, "{}", f.stderr);
    assert_eq!(show(&f.stdout), "");
    assert!(
        f.stderr
            .contains("unknown syslog facility \"nonsense\" (try daemon, user, local0 ... local7)"),
        "{}",
        f.stderr
    );
    assert!(f.stderr.contains("--syslog"), "{}", f.stderr);
}

#[test]
fn syslog_socket_without_syslog_exits_2() {
    let f = Running::spawn(
        BIN,
        &["oom_score_adj", "-a", "--syslog-socket", "/nonexistent/log"],
    )
    .finish();
    assert_eq!(f.code(), 2, "{}", f.stderr);
    assert_eq!(show(&f.stdout), "");
    assert!(f.stderr.contains("--syslog"), "{}", f.stderr);
}
