//! The mail layer's two transports against a real SMTP server (aiosmtpd, `common::smtp`):
//! what arrives, over which TLS, with which login, and how each failure is classified
//! (transient: retry later; permanent: give up) and how fast it is reported.

use std::time::{Duration, Instant, SystemTime};

use clap::Command;
use superlance::notify::channel::mail::options;
use superlance::notify::channel::mail::transport::{
    Credentials, Sendmail, Smtp, SmtpSettings, TlsMode,
};
use superlance::notify::channel::mail::{message, Transport};
use superlance::notify::{DeliveryError, RenderError, Rendered};

use crate::common::smtp::SmtpServer;
use crate::common::tempdir;

/// A mail as these tests write it.
struct Mail {
    to: Vec<String>,
    from: Option<String>,
    subject: Option<String>,
    body: String,
    #[allow(dead_code)]
    key: Option<String>,
}

/// The mail channel's rendering of `mail`: from its sender, else `default_from`.
fn render(
    mail: &Mail,
    default_from: Option<&str>,
    date: SystemTime,
) -> Result<Rendered, RenderError> {
    message::render(
        &mail.to,
        mail.from.as_deref().or(default_from),
        mail.subject.as_deref(),
        &mail.body,
        date,
    )
}

/// 2026-09-21 14:13:20 UTC: a fixed Date header to assert on.
fn date() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_790_000_000)
}

fn mail(subject: &str) -> Rendered {
    let mail = Mail {
        to: vec!["ops@example.com".into(), "Pager <pager@example.com>".into()],
        from: None,
        subject: Some(subject.to_owned()),
        body: "Process web_01 in group web exited unexpectedly (pid 4242) from state RUNNING"
            .into(),
        key: Some("web:web_01".into()),
    };
    render(&mail, Some("supervisor@test.example"), date()).unwrap()
}

fn smtp(server: &SmtpServer, tls: TlsMode) -> SmtpSettings {
    SmtpSettings {
        host: "127.0.0.1".into(),
        port: server.port(),
        tls,
        credentials: None,
        ca_file: None,
        timeout: Duration::from_secs(5),
    }
}

fn deliver(settings: SmtpSettings, mail: &Rendered) -> Result<(), DeliveryError> {
    Smtp::new(settings).unwrap().deliver(mail)
}

fn transient(result: Result<(), DeliveryError>) -> String {
    match result {
        Err(DeliveryError::Transient(m)) => m,
        other => panic!("expected a transient failure, got {other:?}"),
    }
}

fn permanent(result: Result<(), DeliveryError>) -> String {
    match result {
        Err(DeliveryError::Permanent(m)) => m,
        other => panic!("expected a permanent failure, got {other:?}"),
    }
}

const WAIT: Duration = Duration::from_secs(5);

#[test]
fn smtp_delivers_with_headers_and_body() {
    let server = SmtpServer::start();
    deliver(smtp(&server, TlsMode::None), &mail("web_01 crashed at T")).unwrap();
    let got = server.wait_for_mails(1, WAIT);
    let m = &got[0];
    assert_eq!(m.mail_from, "supervisor@test.example");
    assert_eq!(m.rcpt_to, ["ops@example.com", "pager@example.com"]);
    assert_eq!(m.header("From"), Some("supervisor@test.example"));
    let to = m.header("To").unwrap();
    assert!(
        to == "ops@example.com, Pager <pager@example.com>"
            || to == "ops@example.com, \"Pager\" <pager@example.com>",
        "{to}"
    );
    assert_eq!(m.header("Subject"), Some("web_01 crashed at T"));
    assert_eq!(m.header("Date"), Some("Mon, 21 Sep 2026 14:13:20 +0000"));
    let id = m.header("Message-ID").unwrap();
    assert!(
        id.starts_with('<') && id.ends_with('>') && id.contains('@'),
        "{id}"
    );
    assert_eq!(
        m.body.trim_end(),
        "Process web_01 in group web exited unexpectedly (pid 4242) from state RUNNING"
    );
    assert_eq!(m.tls, "none");
    assert_eq!(m.auth, "");
}

#[test]
fn smtp_starttls_with_a_private_ca() {
    let server = SmtpServer::builder().starttls().start();
    let mut s = smtp(&server, TlsMode::Starttls);
    s.ca_file = Some(server.ca_file().to_owned());
    deliver(s.clone(), &mail("over STARTTLS")).unwrap();
    // auto to the local MTA: plain text although STARTTLS is offered (a stock postfix offers
    // it with a self-signed certificate that verification would refuse). Away from loopback,
    // auto takes STARTTLS when offered (transport.rs unit tests: no test server listens
    // anywhere but 127.0.0.1).
    s.tls = TlsMode::Auto;
    s.host = "localhost".into();
    s.ca_file = None;
    deliver(s, &mail("auto")).unwrap();
    let got = server.wait_for_mails(2, WAIT);
    assert_eq!(got[0].tls, "starttls");
    assert_eq!(got[1].tls, "none");
    assert_eq!(got[1].header("Subject"), Some("auto"));
}

#[test]
fn smtp_verifies_certificates() {
    let server = SmtpServer::builder().starttls().start();
    // Without --smtp-ca-file the private CA is unknown: a TLS failure, retried (a
    // certificate gets fixed), and nothing is sent.
    let m = transient(deliver(smtp(&server, TlsMode::Starttls), &mail("x")));
    assert!(m.contains("invalid peer certificate"), "{m}");
    assert!(m.contains("--smtp-ca-file"), "{m}");
    assert_eq!(server.mails().len(), 0);
}

/// issue 16: a batch tool with `-H remote-relay` and no `--tls` (`--smtp-tls auto`) whose
/// relay has an internal certificate: superlance sent in plain text; we try STARTTLS and,
/// when the certificate cannot be verified, fall back to plain text instead of never
/// delivering. `--smtp-tls starttls` (and `--tls`) never fall back.
#[test]
fn smtp_auto_falls_back_to_plain_text_on_an_unverifiable_certificate() {
    let server = SmtpServer::builder().starttls().start();
    let mut s = smtp(&server, TlsMode::Auto);
    // Not a loopback name (so auto tries STARTTLS), yet it reaches the 127.0.0.1 server.
    s.host = "::ffff:127.0.0.1".into();
    let mut t = Smtp::new(s.clone()).unwrap();
    assert!(
        t.describe().ends_with("(STARTTLS if offered)"),
        "{}",
        t.describe()
    );
    t.deliver(&mail("first")).unwrap();
    t.deliver(&mail("second")).unwrap();
    let got = server.wait_for_mails(2, WAIT);
    assert_eq!((got[0].tls.as_str(), got[1].tls.as_str()), ("none", "none"));
    assert_eq!(got[1].header("Subject"), Some("second"));
    s.tls = TlsMode::Starttls;
    let m = transient(deliver(s, &mail("never in plain text")));
    assert!(m.contains("invalid peer certificate"), "{m}");
    assert_eq!(server.mails().len(), 2);
}

/// issue 16: local names without a domain (`-t ops`, `-f supervisor`) go into the envelope
/// as given, as Python's smtplib sent them; the body is 8-bit plain text where the server
/// takes it (aiosmtpd offers 8BITMIME), its long line unbroken.
#[test]
fn smtp_local_names_and_plain_8bit_text() {
    let server = SmtpServer::start();
    let line = format!(
        "memmon.py restarted the process named web at {} because",
        "x".repeat(100)
    );
    let m = Mail {
        to: vec!["ops".into(), "root".into()],
        from: Some("supervisor".into()),
        subject: Some("Zürich".into()),
        body: format!("{line}\nGrüße\n"),
        key: None,
    };
    let rendered = render(&m, None, date()).unwrap();
    deliver(smtp(&server, TlsMode::None), &rendered).unwrap();
    let got = server.wait_for_mails(1, WAIT);
    assert_eq!(got[0].mail_from, "supervisor");
    assert_eq!(got[0].rcpt_to, ["ops", "root"]);
    assert_eq!(got[0].header("To"), Some("ops, root"));
    assert_eq!(got[0].header("From"), Some("supervisor"));
    assert_eq!(got[0].header("MIME-Version"), Some("1.0"));
    assert_eq!(got[0].header("Content-Transfer-Encoding"), Some("8bit"));
    let data = String::from_utf8(got[0].data.clone()).unwrap();
    assert!(
        data.ends_with(&format!("\r\n\r\n{line}\r\nGrüße\r\n")),
        "{data:?}"
    );
}

#[test]
fn smtp_starttls_required_but_not_offered() {
    let server = SmtpServer::start();
    let m = transient(deliver(smtp(&server, TlsMode::Starttls), &mail("x")));
    assert!(
        m.starts_with(&format!("SMTP 127.0.0.1:{}: ", server.port())),
        "{m}"
    );
    assert_eq!(server.mails().len(), 0, "no downgrade to plain text");
}

#[test]
fn smtp_implicit_tls() {
    let server = SmtpServer::builder().implicit_tls().start();
    let mut s = smtp(&server, TlsMode::Tls);
    s.ca_file = Some(server.ca_file().to_owned());
    deliver(s, &mail("over TLS")).unwrap();
    let got = server.wait_for_mails(1, WAIT);
    assert_eq!(got[0].tls, "implicit");
    assert_eq!(got[0].header("Subject"), Some("over TLS"));
}

#[test]
fn smtp_auth_plain_and_login() {
    let server = SmtpServer::builder()
        .starttls()
        .auth("alice", "s3cret pw")
        .start();
    let mut s = smtp(&server, TlsMode::Starttls);
    s.ca_file = Some(server.ca_file().to_owned());
    s.credentials = Some(Credentials {
        user: "alice".into(),
        password: "s3cret pw".into(),
    });
    deliver(s, &mail("logged in")).unwrap();
    let got = server.wait_for_mails(1, WAIT);
    assert_eq!(got[0].auth, "alice");
    assert_eq!(got[0].tls, "starttls");

    // A server that offers LOGIN only.
    let server = SmtpServer::builder()
        .auth("bob", "pw")
        .without_mechanism("PLAIN")
        .start();
    let mut s = smtp(&server, TlsMode::None);
    s.credentials = Some(Credentials {
        user: "bob".into(),
        password: "pw".into(),
    });
    deliver(s, &mail("login")).unwrap();
    assert_eq!(server.wait_for_mails(1, WAIT)[0].auth, "bob");
}

/// A wrong password is 535, a 5xx: permanent (the password is read at start, so every retry
/// in this run would fail the same way), and the message names the options to check.
#[test]
fn smtp_auth_failures_are_permanent() {
    let server = SmtpServer::builder().auth("alice", "right").start();
    let mut s = smtp(&server, TlsMode::None);
    s.credentials = Some(Credentials {
        user: "alice".into(),
        password: "wrong".into(),
    });
    let m = permanent(deliver(s.clone(), &mail("x")));
    assert!(m.contains("535"), "{m}");
    assert!(m.contains("check --smtp-user and the password"), "{m}");
    // No credentials at all: 530 "authentication required".
    s.credentials = None;
    let m = permanent(deliver(s, &mail("x")));
    assert!(m.contains("530") && m.contains("wants a login"), "{m}");
    assert_eq!(server.mails().len(), 0);
}

/// Over STARTTLS-less plain text a server that requires TLS for AUTH offers no mechanism.
#[test]
fn smtp_auth_without_a_mechanism_is_permanent() {
    let server = SmtpServer::builder().starttls().auth("alice", "pw").start();
    let mut s = smtp(&server, TlsMode::None);
    s.credentials = Some(Credentials {
        user: "alice".into(),
        password: "pw".into(),
    });
    let m = permanent(deliver(s, &mail("x")));
    assert!(m.contains("no AUTH mechanism"), "{m}");
}

#[test]
fn smtp_server_down_is_transient_at_once_then_up_delivers() {
    let mut server = SmtpServer::start();
    server.stop();
    let mut t = Smtp::new(smtp(&server, TlsMode::Auto)).unwrap();
    let started = Instant::now();
    let m = transient(t.deliver(&mail("while down")));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(m.to_lowercase().contains("refused"), "{m}");
    server.restart();
    t.deliver(&mail("back up")).unwrap();
    let got = server.wait_for_mails(1, WAIT);
    assert_eq!(got[0].header("Subject"), Some("back up"));
}

#[test]
fn smtp_550_is_permanent() {
    let server = SmtpServer::builder().reject_recipients().start();
    let m = permanent(deliver(smtp(&server, TlsMode::None), &mail("x")));
    assert!(m.contains("550"), "{m}");
    assert!(m.contains("User unknown"), "{m}");
}

#[test]
fn smtp_silent_server_times_out() {
    let server = SmtpServer::builder().silent().start();
    let mut s = smtp(&server, TlsMode::None);
    s.timeout = Duration::from_secs(1);
    let started = Instant::now();
    let m = transient(deliver(s, &mail("x")));
    let took = started.elapsed();
    assert!(m.contains("no answer within 1 s"), "{m}");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(3),
        "{took:?}"
    );
}

#[test]
fn smtp_slow_server() {
    let server = SmtpServer::builder()
        .delay(Duration::from_millis(1500))
        .start();
    // Within the timeout: delivered, however slow.
    deliver(smtp(&server, TlsMode::None), &mail("slow")).unwrap();
    server.wait_for_mails(1, WAIT);
    // Beyond it: transient, after the timeout, not after the server's delay.
    let mut s = smtp(&server, TlsMode::None);
    s.timeout = Duration::from_millis(500);
    let started = Instant::now();
    let m = transient(deliver(s, &mail("too slow")));
    assert!(m.contains("no answer within 0.5 s"), "{m}");
    assert!(started.elapsed() < Duration::from_millis(1400));
}

#[test]
fn sendmail_command_delivers() {
    let server = SmtpServer::start();
    let mut t = Sendmail {
        command: server.sendmail_command(),
        timeout: Duration::from_secs(10),
    };
    t.deliver(&mail("via sendmail -t")).unwrap();
    let got = server.wait_for_mails(1, WAIT);
    let m = &got[0];
    // -t: the recipients come from the To header.
    assert_eq!(m.rcpt_to, ["ops@example.com", "pager@example.com"]);
    assert_eq!(m.mail_from, "supervisor@test.example");
    assert_eq!(m.header("Subject"), Some("via sendmail -t"));
    assert_eq!(m.header("Date"), Some("Mon, 21 Sep 2026 14:13:20 +0000"));
    assert!(m.header("Message-ID").is_some());
    assert!(
        m.body.contains("exited unexpectedly (pid 4242)"),
        "{}",
        m.body
    );
}

#[test]
fn sendmail_failures_are_transient_with_stderr() {
    let mut server = SmtpServer::start();
    let command = server.sendmail_command();
    server.stop();
    let mut t = Sendmail {
        command,
        timeout: Duration::from_secs(10),
    };
    let m = transient(t.deliver(&mail("x")));
    assert!(m.contains("status 75 (EX_TEMPFAIL)"), "{m}");
    assert!(m.contains("sendmail.py: cannot relay to 127.0.0.1"), "{m}");
    let mut t = Sendmail {
        command: "cat >/dev/null; echo 'mail queue locked' >&2; exit 1".into(),
        timeout: Duration::from_secs(10),
    };
    let m = transient(t.deliver(&mail("x")));
    assert!(m.contains("exited with status 1: mail queue locked"), "{m}");
}

#[test]
fn sendmail_not_found_is_permanent() {
    let mut t = Sendmail {
        command: "/nonexistent/sbin/sendmail -t -i".into(),
        timeout: Duration::from_secs(10),
    };
    let m = permanent(t.deliver(&mail("x")));
    assert!(m.contains("not found"), "{m}");
}

#[test]
fn sendmail_hang_is_killed_after_the_timeout() {
    let mut t = Sendmail {
        command: "sleep 10".into(),
        timeout: Duration::from_secs(1),
    };
    let started = Instant::now();
    let m = transient(t.deliver(&mail("x")));
    let took = started.elapsed();
    assert!(m.contains("timed out after 1 s, killed"), "{m}");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(3),
        "{took:?}"
    );
}

/// The shared options build a transport that delivers: STARTTLS with the private CA, a login
/// with the password from a file, the sender from --from.
#[test]
fn mail_options_build_a_working_smtp_transport() {
    let server = SmtpServer::builder()
        .starttls()
        .auth("alice", "from a file")
        .start();
    let dir = tempdir();
    let password = dir.path().join("password");
    std::fs::write(&password, "from a file\n").unwrap();
    let host = server.host_port();
    let ca = server.ca_file().display().to_string();
    let pw = password.display().to_string();
    let argv = [
        "t",
        "--smtp-host",
        &host,
        "--smtp-tls",
        "starttls",
        "--smtp-ca-file",
        &ca,
        "--smtp-user",
        "alice",
        "--smtp-password-file",
        &pw,
        "--from",
        "crash@test.example",
        "--mail-timeout",
        "5",
    ];
    let m = Command::new("t")
        .args(options::args())
        .try_get_matches_from(argv)
        .unwrap();
    let (mut transport, config) = options::from_matches(&m, options::Legacy::default()).unwrap();
    assert_eq!(
        transport.describe(),
        format!("SMTP {host} (STARTTLS), user alice")
    );
    let mail = Mail {
        to: vec!["ops@example.com".into()],
        from: None,
        subject: Some("built from options".into()),
        body: "body".into(),
        key: None,
    };
    let rendered = render(&mail, config.default_from.as_deref(), SystemTime::now()).unwrap();
    transport.deliver(&rendered).unwrap();
    let got = server.wait_for_mails(1, WAIT);
    assert_eq!(got[0].auth, "alice");
    assert_eq!(got[0].header("From"), Some("crash@test.example"));
    assert_eq!(got[0].mail_from, "crash@test.example");
}
