//! httpok as a user sees it (issue 5), under a real supervisord 4.3.0: a web server run by
//! supervisord (`tests/fixtures/httpok/server.py`) that answers 500, the wrong body, or
//! nothing at all; httpok on TICK_5 restarts it (a new pid, as supervisorctl shows it) and
//! the mail with superlance's subject and action log arrives at a real SMTP server. A healthy
//! server is left alone; `-E` with a stopped `group:name` checks nothing (superlance B9); a
//! failing restart is reported and httpok stays up; `-a` leaves event listeners alone (B8).
//! An HTTPS server with a self-signed certificate (issue 16): not trusted, it restarts
//! nothing and is mailed once; trusted with `--ca-file` or `SSL_CERT_FILE`, it is checked;
//! with `--restart-on-tls-error` it is restarted. The last tests run the binary without
//! supervisord.
//!
//! Every check happens on a TICK_5, so each test waits a few ticks at most; the servers start
//! with `startsecs=1`, so that a restart (stop, then start with wait) takes a real second.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tempfile::TempDir;

use crate::common::smtp::{ReceivedMail, SmtpServer};
use crate::common::{self, eventlistener, free_port, poll, venv_bin, wait_until, Supervisord, BIN};

/// Longest wait for a program or listener to reach RUNNING.
const START: Duration = Duration::from_secs(10);

/// Longest wait for something that needs a TICK_5 or two (a check, a restart, its mail).
const TICKS: Duration = Duration::from_secs(30);

const TO: &str = "ops@example.com";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/httpok")
        .join(name)
}

/// A `[program:NAME]` running server.py on `port` in `mode` (`ok`, `500`, `body`, `hang`),
/// with more `args` and more section `keys`.
fn server(name: &str, port: u16, mode: &str, args: &str, keys: &str) -> String {
    format!(
        "[program:{name}]\n\
         command={} {} {port} {mode} {args}\n\
         startsecs=1\n\
         stopwaitsecs=3\n\
         {keys}\n",
        venv_bin("python").display(),
        fixture("server.py").display(),
    )
}

/// The httpok pool on TICK_5.
fn httpok(args: &str) -> String {
    eventlistener("httpok", &format!("httpok {args}"), "TICK_5")
}

/// Mail to [`TO`] through this server, every mail (no flood control).
fn smtp_to(smtp: &SmtpServer) -> String {
    format!(
        "-m {TO} --smtp-host {} --smtp-tls none --max-mails 0",
        smtp.host_port()
    )
}

fn url(port: u16) -> String {
    format!("http://127.0.0.1:{port}/health?full=1")
}

/// The requests server `name` got, as it logged them.
fn requests(sv: &Supervisord, name: &str) -> Vec<String> {
    sv.child_log(name, "stdout")
        .lines()
        .filter(|l| l.starts_with("GET "))
        .map(str::to_owned)
        .collect()
}

/// The first mail whose body has `part`, waiting for it; panics with every mail if none
/// comes.
fn wait_mail(smtp: &SmtpServer, part: &str) -> ReceivedMail {
    wait_mail_with(smtp, &[part])
}

/// The first mail whose body has every one of `parts`, waiting for it.
fn wait_mail_with(smtp: &SmtpServer, parts: &[&str]) -> ReceivedMail {
    poll(TICKS, || {
        smtp.mails()
            .into_iter()
            .find(|m| parts.iter().all(|p| m.body.contains(p)))
    })
    .unwrap_or_else(|| {
        panic!(
            "no mail with {parts:?} within {TICKS:?}; mails: {:#?}",
            smtp.mails()
        )
    })
}

/// The pid of program `name` once it has one. httpok may be restarting it meanwhile (every
/// TICK while the URL fails), so any pid will do, RUNNING or STARTING: the test then waits
/// for another.
fn some_pid(sv: &Supervisord, name: &str) -> u32 {
    poll(START, || sv.pid(name)).unwrap_or_else(|| {
        panic!(
            "{name} got no pid within {START:?}\n{}",
            sv.ctl(&["status"])
        )
    })
}

/// Wait until process `name` runs with a pid other than `old`; that pid.
fn wait_new_pid(sv: &Supervisord, name: &str, old: u32) -> u32 {
    poll(TICKS, || sv.pid(name).filter(|&p| p != old)).unwrap_or_else(|| {
        panic!(
            "{name} was not restarted: still pid {old} after {TICKS:?}\n{}",
            sv.ctl(&["status"])
        )
    })
}

/// A self-signed certificate for 127.0.0.1 as a user makes one, `openssl req -x509` (which
/// marks it as a CA: basicConstraints CA:TRUE), in a temp dir: `cert.pem` and `key.pem`.
fn self_signed_certificate() -> TempDir {
    let dir = common::tempdir();
    let out = common::run(
        Command::new("openssl")
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
            .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"])
            .args(["-keyout", "key.pem", "-out", "cert.pem", "-subj", "/CN=web"])
            .args(["-addext", "subjectAltName=IP:127.0.0.1"])
            .current_dir(dir.path()),
    );
    assert!(
        out.status.success(),
        "openssl failed (is the openssl command installed?): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir
}

/// server.py's arguments for HTTPS with the certificate in `certs`.
fn tls_args(certs: &TempDir) -> String {
    format!(
        "--tls {} {}",
        certs.path().join("cert.pem").display(),
        certs.path().join("key.pem").display()
    )
}

fn https_url(port: u16, path: &str) -> String {
    format!("https://127.0.0.1:{port}{path}")
}

/// How many TLS handshakes server `name` saw fail: a client that refuses the certificate
/// sends no GET, so these count the checks.
fn failed_handshakes(sv: &Supervisord, name: &str) -> usize {
    sv.child_log(name, "stdout")
        .matches("TLS handshake failed: ")
        .count()
}

/// superlance's mail: To, our From/Date headers, and the subject.
fn assert_mail(m: &ReceivedMail, subject: &str) {
    assert_eq!(m.header("Subject"), Some(subject), "{m:#?}");
    assert_eq!(m.header("To"), Some(TO));
    assert_eq!(m.rcpt_to, [TO]);
    assert!(
        m.header("Date").is_some() && m.header("From").is_some(),
        "{m:#?}"
    );
}

#[test]
fn bad_status_restarts_the_program_and_mails_the_action_log() {
    let smtp = SmtpServer::start();
    let port = free_port();
    let sv = Supervisord::start(&format!(
        "{}{}",
        server("web", port, "500", "", ""),
        httpok(&format!("-p web -t 2 {} {}", smtp_to(&smtp), url(port)))
    ));
    let listener = sv.wait_running("httpok", START);
    let old = some_pid(&sv, "web");
    let new = wait_new_pid(&sv, "web", old);
    assert_ne!(new, old);

    let m = wait_mail(&smtp, "web restarted");
    let url = url(port);
    assert_mail(&m, &format!("httpok: {url}: bad status returned"));
    assert_eq!(
        m.body.trim_end(),
        format!(
            "status contacting {url}: 500 Internal Server Error\n\
             Restarting selected processes ['web']\n\
             web is in RUNNING state, restarting\n\
             web restarted"
        )
    );
    // GET, the path and query of the URL, superlance's User-Agent.
    let got = requests(&sv, "web");
    assert!(!got.is_empty());
    assert!(
        got.iter()
            .all(|r| r == "GET /health?full=1 User-Agent: httpok"),
        "{got:?}"
    );
    sv.wait_stderr_line("httpok", &["web is in RUNNING state, restarting"], TICKS);
    sv.assert_listener_up("httpok", listener);
}

#[test]
fn bad_body_with_a_name_and_the_sendmail_command() {
    // superlance B10: on Python 3, -b crashed httpok whenever the status was fine.
    let smtp = SmtpServer::start();
    let port = free_port();
    let sv = Supervisord::start(&format!(
        "{}{}",
        server("web", port, "body", "", ""),
        httpok(&format!(
            "-n shop -p web -b 'all is well' -m {TO} -s '{}' {}",
            smtp.sendmail_command(),
            url(port)
        ))
    ));
    let listener = sv.wait_running("httpok", START);
    let old = some_pid(&sv, "web");
    wait_new_pid(&sv, "web", old);

    let m = wait_mail(&smtp, "web restarted");
    let url = url(port);
    assert_mail(&m, &format!("httpok [shop]: {url}: bad body returned"));
    assert_eq!(
        m.body.trim_end(),
        format!(
            "status contacting {url}: 200 OK\n\
             Restarting selected processes ['web']\n\
             web is in RUNNING state, restarting\n\
             web restarted"
        )
    );
    sv.assert_listener_up("httpok", listener);
}

#[test]
fn a_hung_server_gets_a_core_dump_and_a_restart() {
    let smtp = SmtpServer::start();
    let cores = common::tempdir();
    let port = free_port();
    let sv = Supervisord::start(&format!(
        "{}{}",
        server("web", port, "hang", "", ""),
        httpok(&format!(
            "-p web -t 1 -d {} -g 'sh {}' {} {}",
            cores.path().display(),
            fixture("gcore.sh").display(),
            smtp_to(&smtp),
            url(port)
        ))
    ));
    let listener = sv.wait_running("httpok", START);

    let m = wait_mail(&smtp, "web restarted");
    let url = url(port);
    assert_mail(&m, &format!("httpok: {url}: bad status returned"));
    let lines: Vec<&str> = m.body.trim_end().split('\n').collect();
    // The first entry is superlance's, then the HTTP client's own words for the timeout.
    let error = format!("error contacting {url}:");
    assert_eq!(lines[..2], [error.as_str(), ""], "{}", m.body);
    assert!(
        lines[2].starts_with(&format!(" {url}: ")) && lines[2].contains("1 s"),
        "{}",
        m.body
    );
    // The pid the core was taken of is the one that was restarted.
    let core_line = lines
        .iter()
        .find_map(|l| l.strip_prefix(" Saved corefile "))
        .unwrap_or_else(|| panic!("no gcore output in {}", m.body));
    let dumped: u32 = core_line
        .rsplit('.')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("{core_line:?}"));
    let corefile = cores.path().join(format!("web.{dumped}"));
    assert_eq!(core_line, corefile.display().to_string());
    assert_eq!(
        std::fs::read_to_string(&corefile).unwrap_or_default(),
        format!("core of {dumped}\n")
    );
    assert_eq!(
        lines[3..],
        [
            "Restarting selected processes ['web']",
            "gcore output for web:",
            "",
            &format!(" Saved corefile {}", corefile.display()),
            "warning: fake gcore, no real core",
            "web is in RUNNING state, restarting",
            "web restarted"
        ]
    );
    wait_new_pid(&sv, "web", dumped);
    sv.assert_listener_up("httpok", listener);
}

#[test]
fn a_healthy_server_is_left_alone() {
    let smtp = SmtpServer::start();
    let port = free_port();
    let sv = Supervisord::start(&format!(
        "{}{}",
        server("web", port, "ok", "", ""),
        httpok(&format!(
            "-p web -b 'all is well' -c 204 -c 200 {} {}",
            smtp_to(&smtp),
            url(port)
        ))
    ));
    let listener = sv.wait_running("httpok", START);
    let pid = sv.wait_running("web", START);
    // Three checks, three TICKs.
    assert!(
        wait_until(TICKS, || requests(&sv, "web").len() >= 3),
        "web was asked {} times",
        requests(&sv, "web").len()
    );
    // The worker mails after the GET: give a third check's mail the time to arrive.
    std::thread::sleep(Duration::from_secs(1));
    sv.assert_still_running("web", pid);
    assert!(smtp.mails().is_empty(), "{:#?}", smtp.mails());
    sv.assert_listener_up("httpok", listener);
}

#[test]
fn not_eager_checks_nothing_while_the_group_member_is_stopped() {
    // superlance B9: -E compared bare names, so `-p shop:web` was never "running" and the URL
    // was never checked, even with shop:web running.
    let smtp = SmtpServer::start();
    let port = free_port();
    let sv = Supervisord::start(&format!(
        "[group:shop]\nprograms=web\n\n\
         [program:web]\ncommand=sleep 1000\nstartsecs=0\nautostart=false\n\n\
         {}{}",
        server("probe", port, "500", "", ""),
        httpok(&format!(
            "-E -p shop:web --log-level debug {} {}",
            smtp_to(&smtp),
            url(port)
        ))
    ));
    let listener = sv.wait_running("httpok", START);
    sv.wait_running("probe", START);
    let skipped = "-E: no monitored process is RUNNING; not checking";
    assert!(
        wait_until(TICKS, || sv.stderr_log("httpok").matches(skipped).count()
            >= 2),
        "two TICKs without a check:\n{}",
        sv.stderr_log("httpok")
    );
    assert_eq!(requests(&sv, "probe"), Vec::<String>::new());
    assert!(smtp.mails().is_empty(), "{:#?}", smtp.mails());

    // Once shop:web runs, the failing URL restarts it.
    sv.ctl(&["start", "shop:web"]);
    let old = some_pid(&sv, "shop:web");
    wait_new_pid(&sv, "shop:web", old);
    let m = wait_mail(&smtp, "shop:web restarted");
    assert_mail(&m, &format!("httpok: {}: bad status returned", url(port)));
    assert!(
        m.body
            .contains("Restarting selected processes ['shop:web']\nshop:web is in RUNNING state"),
        "{}",
        m.body
    );
    assert!(!requests(&sv, "probe").is_empty());
    sv.assert_listener_up("httpok", listener);
}

#[test]
fn a_failed_restart_is_mailed_and_httpok_stays_up() {
    // The second start of web exits at once: startProcess(wait) answers with a fault.
    let smtp = SmtpServer::start();
    let port = free_port();
    let marker = common::tempdir();
    let sv = Supervisord::start(&format!(
        "{}{}",
        server(
            "web",
            port,
            "500",
            &format!("--once {}", marker.path().join("started").display()),
            "startretries=0\nautorestart=false"
        ),
        httpok(&format!(
            "-p web -p nosuch {} {}",
            smtp_to(&smtp),
            url(port)
        ))
    ));
    let listener = sv.wait_running("httpok", START);

    let m = wait_mail(&smtp, "Failed to start process web: ");
    assert_mail(&m, &format!("httpok: {}: bad status returned", url(port)));
    let failed = m
        .body
        .lines()
        .find(|l| l.starts_with("Failed to start process web: "))
        .unwrap_or_default();
    // supervisord says SPAWN_ERROR ("Exited too quickly") or ABNORMAL_TERMINATION, as the
    // exit and its answer cross.
    assert!(
        failed.contains(": SPAWN_ERROR: web (fault 50)")
            || failed.contains(": ABNORMAL_TERMINATION: web (fault 40)"),
        "{}",
        m.body
    );
    assert!(
        m.body
            .contains("web is in RUNNING state, restarting\nFailed to start process web: "),
        "{}",
        m.body
    );
    assert!(
        m.body
            .trim_end()
            .ends_with("Programs not restarted because they did not exist: ['nosuch']"),
        "{}",
        m.body
    );
    sv.wait_stderr_line("httpok", &["Failed to start process web: "], TICKS);
    // The next check finds nothing listening and web not running, and says so.
    let error = format!("error contacting {}:\n\n", url(port));
    let m = wait_mail_with(&smtp, &[&error, "web not in RUNNING state, NOT restarting"]);
    assert!(m.body.starts_with(&error), "{}", m.body);
    sv.assert_listener_up("httpok", listener);
}

#[test]
fn any_restarts_programs_but_no_event_listener() {
    // superlance B8: -a restarted every process, listener pools and httpok itself included.
    // `other` is told apart by its group priority (-1, a listener's default), httpok by
    // SUPERVISOR_GROUP_NAME/SUPERVISOR_PROCESS_NAME.
    let smtp = SmtpServer::start();
    let port = free_port();
    let sv = Supervisord::start(&format!(
        "{}{}{}",
        server("web", port, "500", "", ""),
        eventlistener("other", "crashmail -a", "PROCESS_STATE_EXITED"),
        // A priority of its own: only the own-process rule keeps httpok out of -a then.
        httpok(&format!("-a {} {}", smtp_to(&smtp), url(port))) + "priority=100\n"
    ));
    let listener = sv.wait_running("httpok", START);
    let other = sv.wait_running("other", START);
    let old = some_pid(&sv, "web");
    wait_new_pid(&sv, "web", old);
    let m = wait_mail(&smtp, "web restarted");
    assert_eq!(
        m.body.trim_end(),
        format!(
            "status contacting {}: 500 Internal Server Error\n\
             Restarting all running processes\n\
             web is in RUNNING state, restarting\n\
             web restarted",
            url(port)
        )
    );
    for m in smtp.mails() {
        assert!(
            !m.body.contains("httpok") && !m.body.contains("other"),
            "{}",
            m.body
        );
    }
    sv.assert_listener_up("httpok", listener);
    sv.assert_listener_up("other", other);
}

#[test]
fn an_untrusted_certificate_restarts_nothing_and_is_mailed_once() {
    // Issue 16: superlance never verified certificates (B11), so a self-signed one worked;
    // here it cannot be verified, which says nothing about the program's health.
    let smtp = SmtpServer::start();
    let certs = self_signed_certificate();
    let port = free_port();
    let url = https_url(port, "/health");
    let sv = Supervisord::start(&format!(
        "{}{}",
        server("web", port, "ok", &tls_args(&certs), ""),
        httpok(&format!("-p web -t 2 {} {url}", smtp_to(&smtp)))
    ));
    let listener = sv.wait_running("httpok", START);
    let pid = sv.wait_running("web", START);
    // Three checks, three TICKs, each refusing the certificate.
    assert!(
        wait_until(TICKS, || failed_handshakes(&sv, "web") >= 3),
        "web saw {} failed handshakes:\n{}",
        failed_handshakes(&sv, "web"),
        sv.stderr_log("httpok")
    );
    // The worker mails after the handshake: give a third check's mail the time to arrive.
    std::thread::sleep(Duration::from_secs(1));
    sv.assert_still_running("web", pid);
    assert_eq!(requests(&sv, "web"), Vec::<String>::new());

    let mails = smtp.mails();
    assert_eq!(mails.len(), 1, "{mails:#?}");
    let m = &mails[0];
    assert_mail(m, &format!("httpok: {url}: certificate not verified"));
    assert!(
        m.body.starts_with(&format!(
            "error contacting {url}:\n\n {url}: TLS: the server's certificate could not be \
             verified: it is a CA certificate (basicConstraints CA:TRUE"
        )),
        "{}",
        m.body
    );
    for says in [
        "nothing was restarted",
        "--ca-file",
        "SSL_CERT_FILE",
        "--restart-on-tls-error",
        "reported once",
    ] {
        assert!(m.body.contains(says), "{says:?} not in {}", m.body);
    }
    let log = sv.stderr_log("httpok");
    let errors: Vec<&str> = log.lines().filter(|l| l.contains(" ERROR ")).collect();
    assert_eq!(errors.len(), 1, "one ERROR line:\n{log}");
    assert!(
        errors[0].contains("certificate could not be verified") && errors[0].contains("--ca-file"),
        "{}",
        errors[0]
    );
    sv.assert_listener_up("httpok", listener);
}

#[test]
fn a_certificate_trusted_with_ca_file_or_ssl_cert_file_is_checked() {
    // Issue 16: the self-signed certificate itself, given with --ca-file to one listener and
    // in SSL_CERT_FILE to another; each asks for its own path.
    let smtp = SmtpServer::start();
    let certs = self_signed_certificate();
    let cert = certs.path().join("cert.pem");
    let port = free_port();
    let sv = Supervisord::start(&format!(
        "{}{}{}",
        server("web", port, "ok", &tls_args(&certs), ""),
        eventlistener(
            "by_ca_file",
            &format!(
                "httpok -p web -t 2 --ca-file {} {} {}",
                cert.display(),
                smtp_to(&smtp),
                https_url(port, "/ca-file")
            ),
            "TICK_5"
        ),
        eventlistener(
            "by_env",
            &format!(
                "httpok -p web -t 2 {} {}",
                smtp_to(&smtp),
                https_url(port, "/env")
            ),
            "TICK_5"
        ) + &format!(
            // SSL_CERT_DIR emptied: this machine's own may be set (it would add its CAs).
            "environment=SSL_CERT_FILE=\"{}\",SSL_CERT_DIR=\"\"\n",
            cert.display()
        )
    ));
    let by_ca_file = sv.wait_running("by_ca_file", START);
    let by_env = sv.wait_running("by_env", START);
    let pid = sv.wait_running("web", START);
    let asked = |path: &str| {
        let line = format!("GET {path} User-Agent: httpok");
        requests(&sv, "web").iter().filter(|r| **r == line).count()
    };
    // A TICK that came before web listened was a refused connection, mailed as superlance
    // did: only what follows the first answered check counts.
    assert!(
        wait_until(TICKS, || asked("/ca-file") >= 1 && asked("/env") >= 1),
        "web was never asked"
    );
    let before = smtp.mails();
    assert!(
        before.iter().all(|m| m.body.contains("connection refused")),
        "{before:#?}"
    );
    assert!(
        wait_until(TICKS, || asked("/ca-file") >= 3 && asked("/env") >= 3),
        "web was asked {} times by --ca-file, {} by SSL_CERT_FILE; {} failed handshakes",
        asked("/ca-file"),
        asked("/env"),
        failed_handshakes(&sv, "web")
    );
    std::thread::sleep(Duration::from_secs(1));
    sv.assert_still_running("web", pid);
    assert_eq!(failed_handshakes(&sv, "web"), 0);
    assert_eq!(smtp.mails().len(), before.len(), "{:#?}", smtp.mails());
    // What each trusts, said at start.
    sv.wait_stderr_line(
        "by_ca_file",
        &["INFO", "trusting ", " and 1 of the CA file"],
        START,
    );
    sv.wait_stderr_line(
        "by_env",
        &[
            "INFO",
            &format!(
                "trusting 1 CA certificates of SSL_CERT_FILE={}",
                cert.display()
            ),
        ],
        START,
    );
    sv.assert_listener_up("by_ca_file", by_ca_file);
    sv.assert_listener_up("by_env", by_env);
}

#[test]
fn restart_on_tls_error_restarts_on_an_untrusted_certificate() {
    let smtp = SmtpServer::start();
    let certs = self_signed_certificate();
    let port = free_port();
    let url = https_url(port, "/health");
    let sv = Supervisord::start(&format!(
        "{}{}",
        server("web", port, "ok", &tls_args(&certs), ""),
        httpok(&format!(
            "-p web -t 2 --restart-on-tls-error {} {url}",
            smtp_to(&smtp)
        ))
    ));
    let listener = sv.wait_running("httpok", START);
    let old = some_pid(&sv, "web");
    wait_new_pid(&sv, "web", old);
    let m = wait_mail(&smtp, "web restarted");
    // superlance's subject and action log, our client's words for the error.
    assert_mail(&m, &format!("httpok: {url}: bad status returned"));
    assert!(
        m.body.starts_with(&format!(
            "error contacting {url}:\n\n {url}: TLS: the server's certificate could not be \
             verified: "
        )) && m.body.trim_end().ends_with(
            "Restarting selected processes ['web']\n\
             web is in RUNNING state, restarting\n\
             web restarted"
        ),
        "{}",
        m.body
    );
    assert_eq!(requests(&sv, "web"), Vec::<String>::new());
    sv.assert_listener_up("httpok", listener);
}

#[test]
fn outside_supervisord_it_says_so_and_exits_1() {
    let out = Command::new(BIN)
        .args(["httpok", "-p", "web", "http://127.0.0.1:1/"])
        .env_remove("SUPERVISOR_SERVER_URL")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {BIN}: {e}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(out.stdout.is_empty());
    assert!(
        stderr.contains("SUPERVISOR_SERVER_URL is not set")
            && stderr.contains("must run under supervisord"),
        "{stderr}"
    );
}

#[test]
fn usage_errors_exit_2() {
    // superlance B12: -t 0 sent no request and failed every check.
    for (args, says) in [
        (&["-t", "0", "http://h/"][..], "from 1 to 86400"),
        (&["-p", "web"][..], "<URL>"),
        (
            &["http://h/", "-p", "web"][..],
            "the URL must be the last argument",
        ),
        (&["ftp://h/"][..], "http"),
        // Issue 16: checked at start, as --smtp-ca-file is.
        (
            &["--ca-file", "/nonexistent/ca.pem", "https://h/"][..],
            "--ca-file: cannot use the CA file /nonexistent/ca.pem: cannot read it",
        ),
    ] {
        let out = Command::new(BIN)
            .arg("httpok")
            .args(args)
            .env("SUPERVISOR_SERVER_URL", "unix:///nonexistent.sock")
            .output()
            .unwrap_or_else(|e| panic!("cannot run {BIN}: {e}"));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty());
    }
}
