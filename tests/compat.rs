//! superlance's command lines start (issue 16): a repeated single-value option (the last
//! wins, with a WARN line), an abbreviated superlance long option (`--to=` for `--toEmail`),
//! and an operand crashmail never took (its usage text showed a `URL`). Each command line
//! here made the listener exit 2 at start, so supervisord marked it FATAL and no alert ever
//! came. Over pipes: the listener answers READY and acknowledges an event, says on stderr
//! what it tolerated, and the value that won is seen where it acts (the mail, its recipients,
//! the start-up line, /proc).
//!
//! Ambiguous abbreviations (several superlance spellings), prefixes of our own options, and
//! httpok's extra operands remain usage errors (exit 2).
//!
//! Then the mail as superlance wrote it: local names (`-m root`, `-t ops`, `-f supervisor`),
//! the sender from the sendmail command's `-f`, no From of ours through sendmail, plain 7bit
//! text with MIME-Version and LF line ends, and a relay whose certificate cannot be verified.
//!
//! Issue 16's points that need a running supervisord are proven beside their listener:
//! memmon's restart mail with its time zone, on one unencoded line (tests/memmon.rs,
//! `programs_over_their_limit_are_restarted_and_mailed...`); httpok on a self-signed HTTPS
//! URL: no restart, one mail, `--ca-file`, `SSL_CERT_FILE`, `--restart-on-tls-error`
//! (tests/httpok.rs); VmRSS (src/procs.rs unit tests, read against /proc/self/status); 8-bit
//! bodies and the STARTTLS fallback at the transport (tests/mail.rs).

use std::fs;
use std::path::Path;
use std::time::Duration;

use crate::common::pipe::{self, Finished, Running, Sleeper};
use crate::common::smtp::SmtpServer;
use crate::common::{self, BIN};

/// Longest wait for mail at the test SMTP server.
const ARRIVE: Duration = Duration::from_secs(30);

/// `superlance ARGS...` over pipes, under an unreachable supervisord (its URL is only called
/// on a TICK, and none is sent).
fn start(args: &[&str]) -> Running {
    Running::spawn_env(
        BIN,
        args,
        &[(
            "SUPERVISOR_SERVER_URL",
            "unix:///nonexistent/supervisor.sock",
        )],
    )
}

/// Start, answer READY, acknowledge `event`, end: how it ended (exit 0 asserted).
fn acknowledges(args: &[&str], event: &[u8]) -> Finished {
    let mut l = start(args);
    l.expect_stdout(pipe::READY);
    l.write(event);
    l.expect_stdout(&pipe::answered(1));
    let f = l.finish();
    assert_eq!(f.code(), 0, "{args:?}: {}", f.stderr);
    assert_eq!(pipe::show(&f.stdout), pipe::show(&pipe::answered(1)));
    f
}

/// An event no listener acts on.
fn harmless() -> Vec<u8> {
    pipe::frame(1, "SUPERVISOR_STATE_CHANGE_RUNNING", "")
}

/// A usage error: exit 2, nothing on stdout (the protocol's), stderr returned.
fn refused(args: &[&str]) -> String {
    let f = start(args).exits_within(Duration::from_secs(10));
    assert_eq!(f.code(), 2, "{args:?}: {}", f.stderr);
    assert!(f.stdout.is_empty(), "{args:?}: {}", pipe::show(&f.stdout));
    f.stderr
}

fn assert_logged(f: &Finished, line: &str) {
    assert!(
        f.stderr.contains(line),
        "no {line:?} in stderr:\n{}",
        f.stderr
    );
}

/// The mails a `cat >> FILE` sendmail command wrote, one string per mail (each starts with
/// its To: header).
fn mails_in(file: &Path) -> Vec<String> {
    let text = fs::read_to_string(file).unwrap_or_default();
    text.split("To: ")
        .skip(1)
        .map(|m| format!("To: {m}"))
        .collect()
}

#[test]
fn crashmail_repeated_m_mails_only_the_last_address() {
    // superlance: `-m a@x -m b@y` mailed b@y. Fails if we exit 2 (clap's "cannot be used
    // multiple times"), mail a@x, or say nothing.
    let dir = common::tempdir();
    let file = dir.path().join("mail");
    let sendmail = format!("cat >> {}", file.display());
    let f = acknowledges(
        &[
            "crashmail",
            "-m",
            "a@x.example",
            "-m",
            "b@y.example",
            "-s",
            &sendmail,
        ],
        &pipe::exited(1, "web", "web_01", false, 101),
    );
    assert_logged(
        &f,
        "WARN crashmail: -m/--email given 2 times; using the last one: 'b@y.example'",
    );
    let mails = mails_in(&file);
    assert_eq!(mails.len(), 1, "{mails:#?}\n{}", f.stderr);
    assert!(mails[0].starts_with("To: b@y.example"), "{}", mails[0]);
    assert!(!mails[0].contains("a@x.example"), "{}", mails[0]);
}

#[test]
fn crashmail_abbreviations_and_a_url_operand() {
    // `--em=`, `--optional=`, `--prog=` as getopt accepted them, and the URL operand
    // crashmail's own usage text suggested: the mail goes to the address, with the subject
    // prefix, for the selected program only (the other crash is not mailed).
    let dir = common::tempdir();
    let file = dir.path().join("mail");
    let sendmail = format!("cat >> {}", file.display());
    let mut l = start(&[
        "crashmail",
        "--em=ops@example.com",
        "--optional=PFX",
        "--prog=web_01",
        "--send",
        &sendmail,
        "http://localhost:8080/",
    ]);
    l.expect_stdout(pipe::READY);
    let mut input = pipe::exited(1, "db", "db", false, 100);
    input.extend(pipe::exited(2, "web", "web_01", false, 101));
    l.write(&input);
    l.expect_stdout(&pipe::answered(2));
    let f = l.finish();
    assert_eq!(f.code(), 0, "{}", f.stderr);
    assert_logged(
        &f,
        "WARN crashmail: ignoring the argument 'http://localhost:8080/': crashmail takes no \
         positional arguments (superlance ignored them too)",
    );
    let mails = mails_in(&file);
    assert_eq!(mails.len(), 1, "{mails:#?}\n{}", f.stderr);
    assert!(mails[0].starts_with("To: ops@example.com"), "{}", mails[0]);
    assert!(
        mails[0].contains("Subject: PFX: web_01 crashed at "),
        "{}",
        mails[0]
    );
}

#[test]
fn crashmail_repeated_smtp_host_uses_the_last() {
    // One of our own options repeated: the first host is a closed port, the last the test
    // server, where the mail arrives.
    let server = SmtpServer::start();
    let hp = server.host_port();
    let f = acknowledges(
        &[
            "crashmail",
            "-m",
            "ops@example.com",
            "--smtp-host",
            "127.0.0.1:1",
            "--smtp-host",
            &hp,
            "--smtp-tls",
            "none",
        ],
        &pipe::exited(1, "web", "web_01", false, 101),
    );
    assert_logged(
        &f,
        &format!("WARN crashmail: --smtp-host given 2 times; using the last one: '{hp}'"),
    );
    let mails = server.wait_for_mails(1, ARRIVE);
    assert_eq!(mails[0].rcpt_to, ["ops@example.com"], "{}", f.stderr);
}

#[test]
fn batch_abbreviations_and_repeats() {
    // optparse's `--to=`, `--fr`, `--smtp=` (which means --smtpHost although we also have
    // --smtp-host), `--sub=`; -t and -s given twice: the last wins. The batch in hand is
    // mailed at the end of input.
    for name in ["crashmailbatch", "fatalmailbatch", "crashsms"] {
        let server = SmtpServer::start();
        let smtp = format!("--smtp={}", server.host_port());
        let event = match name {
            "fatalmailbatch" => pipe::frame(
                1,
                "PROCESS_STATE_FATAL",
                "processname:web_01 groupname:web from_state:BACKOFF",
            ),
            _ => pipe::exited(1, "web", "web_01", false, 101),
        };
        let f = acknowledges(
            &[
                name,
                "--to=first@example.com",
                "-t",
                "last@example.com",
                "--fr",
                "sv@example.com",
                &smtp,
                "--sub=S1",
                "-s",
                "S2",
            ],
            &event,
        );
        assert_logged(
            &f,
            &format!(
                "WARN {name}: -t/--toEmail given 2 times; using the last one: 'last@example.com'"
            ),
        );
        assert_logged(
            &f,
            &format!("WARN {name}: -s/--subject given 2 times; using the last one: 'S2'"),
        );
        let mails = server.wait_for_mails(1, ARRIVE);
        assert_eq!(mails.len(), 1, "{name}: {mails:#?}");
        assert_eq!(mails[0].rcpt_to, ["last@example.com"], "{name}");
        assert_eq!(mails[0].mail_from, "sv@example.com", "{name}");
        assert_eq!(mails[0].header("Subject"), Some("S2"), "{name}");
        assert!(
            mails[0].body.contains("web_01"),
            "{name}: {}",
            mails[0].body
        );
    }
}

#[test]
fn an_ambiguous_abbreviation_names_the_candidates() {
    // optparse refused `--t` too: it starts --toEmail, --tickEvent and --tls.
    for name in ["crashmailbatch", "fatalmailbatch", "crashsms"] {
        let stderr = refused(&[name, "--t=ops@example.com", "-f", "sv@example.com"]);
        assert!(
            stderr.contains(
                "error: '--t' is ambiguous: it could be --toEmail, --tickEvent or --tls; write \
                 the option in full"
            ),
            "{name}: {stderr}"
        );
    }
    let stderr = refused(&["httpok", "--e", "ops@example.com", "http://127.0.0.1:9/"]);
    assert!(
        stderr.contains("'--e' is ambiguous: it could be --email or --eager"),
        "{stderr}"
    );
}

#[test]
fn prefixes_of_our_own_options_are_not_guessed() {
    // Only superlance's frozen spellings are expanded: `--smtp-h` (ours) and crashmail's
    // `--smtp` (superlance's crashmail had no SMTP) stay errors with clap's tip.
    let stderr = refused(&[
        "crashmailbatch",
        "-t",
        "ops@example.com",
        "-f",
        "sv@example.com",
        "--smtp-h=localhost",
    ]);
    assert!(
        stderr.contains("unexpected argument '--smtp-h'") && stderr.contains("'--smtp-host'"),
        "{stderr}"
    );
    let stderr = refused(&["crashmail", "--smtp=localhost"]);
    assert!(stderr.contains("unexpected argument '--smtp'"), "{stderr}");
}

#[test]
fn httpok_repeats_and_abbreviations() {
    // -t and -n twice, --prog= and --tim: the start-up line shows the timeout that won.
    let f = acknowledges(
        &[
            "httpok",
            "-t",
            "5",
            "--tim",
            "6",
            "-n",
            "a",
            "-n",
            "b",
            "--prog=web",
            "http://127.0.0.1:9/",
        ],
        &harmless(),
    );
    assert_logged(
        &f,
        "WARN httpok: -t/--timeout given 2 times; using the last one: '6'",
    );
    assert_logged(
        &f,
        "WARN httpok: -n/--name given 2 times; using the last one: 'b'",
    );
    assert_logged(
        &f,
        "INFO httpok: checking http://127.0.0.1:9/ on every TICK event: GET within 6 s",
    );
    assert_logged(&f, "restarting web (when RUNNING)");
}

#[test]
fn httpok_still_refuses_a_second_url() {
    // superlance's httpok printed its usage for extra operands; clap says which.
    let stderr = refused(&["httpok", "http://127.0.0.1:9/", "http://127.0.0.1:10/"]);
    assert!(
        stderr.contains("unexpected argument 'http://127.0.0.1:10/'"),
        "{stderr}"
    );
}

#[test]
fn memmon_repeated_a_uses_the_last_size() {
    let f = acknowledges(
        &["memmon", "--an=1GB", "-a", "2GB", "--cum", "-c"],
        &harmless(),
    );
    assert_logged(
        &f,
        "WARN memmon: -a/--any given 2 times; using the last one: '2GB'",
    );
    assert_logged(
        &f,
        "INFO memmon: checking any=2147483648 (RSS of each process with its descendants) at \
         every TICK",
    );
}

#[test]
fn oom_score_adj_repeated_s_sets_the_last_score() {
    // The score in /proc is the last -s; `--prog=` and `--sc=` abbreviate its own options.
    let sleeper = Sleeper::start();
    let f = acknowledges(
        &["oom_score_adj", "--prog=cat", "--sc=100", "-s", "200"],
        &pipe::running(1, "cat", "cat", sleeper.pid()),
    );
    assert_logged(
        &f,
        "WARN oom_score_adj: -s/--score given 2 times; using the last one: '200'",
    );
    assert_eq!(sleeper.score(), 200, "{}", f.stderr);
}

// ---------------------------------------------------------------------------------------------
// What arrives: the mail as superlance wrote it (issue 16).

/// The header block and the body of a mail a `cat >> FILE` command received.
fn split_mail(mail: &str) -> (&str, &str) {
    mail.split_once("\n\n")
        .unwrap_or_else(|| panic!("no blank line after the headers: {mail:?}"))
}

#[test]
fn crashmail_to_a_local_name_via_sendmail_is_superlances_mail() {
    // `-m root` (a local mailbox, no domain) was refused; the mail went out with our
    // `From: supervisor@<host>` over the MTA's, quoted-printable, CRLF. superlance piped
    // `To: root\nSubject: ...\n\n<body>` and the MTA did the rest.
    let dir = common::tempdir();
    let file = dir.path().join("mail");
    let sendmail = format!("cat >> {}", file.display());
    let f = acknowledges(
        &["crashmail", "-m", "root", "-s", &sendmail],
        &pipe::exited(1, "web", "web_01", false, 101),
    );
    assert!(!f.stderr.contains("ERROR"), "{}", f.stderr);
    let mails = mails_in(&file);
    assert_eq!(mails.len(), 1, "{mails:#?}\n{}", f.stderr);
    let mail = &mails[0];
    assert!(!mail.contains('\r'), "LF line ends to sendmail: {mail:?}");
    let (head, body) = split_mail(mail);
    let lines: Vec<&str> = head.lines().collect();
    assert_eq!(lines[0], "To: root", "{mail}");
    assert!(
        lines[1].starts_with("Subject: web_01 crashed at "),
        "{mail}"
    );
    assert!(
        !head.contains("\nFrom:"),
        "no From: the MTA writes it\n{mail}"
    );
    for header in [
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 7bit",
    ] {
        assert!(lines.contains(&header), "no {header:?} in\n{mail}");
    }
    assert_eq!(
        body,
        "Process web_01 in group web exited unexpectedly (pid 101) from state RUNNING"
    );
}

#[test]
fn crashmail_takes_the_sender_from_the_sendmail_command() {
    // superlance's documented way to set the sender: `-s '/usr/sbin/sendmail -t -i -f
    // sender@domain'`. We wrote our own From over it; now it is the From.
    let server = SmtpServer::start();
    let sendmail = format!("{} -f sender@domain.example", server.sendmail_command());
    acknowledges(
        &["crashmail", "-m", "ops@example.com", "-s", &sendmail],
        &pipe::exited(1, "web", "web_01", false, 101),
    );
    let mails = server.wait_for_mails(1, ARRIVE);
    assert_eq!(mails[0].header("From"), Some("sender@domain.example"));
    assert_eq!(mails[0].mail_from, "sender@domain.example");
    assert_eq!(mails[0].rcpt_to, ["ops@example.com"]);
}

#[test]
fn batch_tools_with_local_names() {
    // `-t ops -f supervisor` over SMTP: smtplib sent `MAIL FROM:<supervisor>` and
    // `RCPT TO:<ops>`; we refused the addresses and exited 2.
    for name in ["crashmailbatch", "crashsms"] {
        let server = SmtpServer::start();
        let f = acknowledges(
            &[
                name,
                "-t",
                "ops",
                "-f",
                "supervisor",
                "-H",
                &server.host_port(),
            ],
            &pipe::exited(1, "web", "web_01", false, 101),
        );
        let mails = server.wait_for_mails(1, ARRIVE);
        assert_eq!(mails[0].rcpt_to, ["ops"], "{name}: {}", f.stderr);
        assert_eq!(mails[0].mail_from, "supervisor", "{name}");
        assert_eq!(mails[0].header("To"), Some("ops"), "{name}");
        assert_eq!(mails[0].header("From"), Some("supervisor"), "{name}");
        assert_eq!(mails[0].header("Content-Transfer-Encoding"), Some("7bit"));
        assert!(
            mails[0].body.contains("web_01"),
            "{name}: {}",
            mails[0].body
        );
    }
}

#[test]
fn batch_tool_to_a_relay_with_an_internal_certificate_still_mails() {
    // `-H remote-relay` without `--tls`: superlance spoke plain text; we tried STARTTLS,
    // refused the relay's private certificate, and lost the batch at shutdown. Now: STARTTLS
    // tried, plain text after a verification failure, one WARN. (`::ffff:127.0.0.1` is not a
    // loopback name, so auto tries STARTTLS, and it reaches the test server on 127.0.0.1.)
    let server = SmtpServer::builder().starttls().start();
    let host = format!("[::ffff:127.0.0.1]:{}", server.port());
    let f = acknowledges(
        &[
            "crashmailbatch",
            "-t",
            "ops@example.com",
            "-f",
            "sv@example.com",
            "-H",
            &host,
        ],
        &pipe::exited(1, "web", "web_01", false, 101),
    );
    let mails = server.wait_for_mails(1, ARRIVE);
    assert_eq!(mails[0].tls, "none");
    assert!(mails[0].body.contains("web_01"), "{}", mails[0].body);
    assert_logged(&f, "STARTTLS failed (");
    assert_logged(&f, "sending in plain text, as superlance did without --tls");
    assert_eq!(
        f.stderr.matches("STARTTLS failed").count(),
        1,
        "{}",
        f.stderr
    );

    // With --tls the user asked for TLS: never plain text (retried, kept, said).
    let mut l = start(&[
        "crashmailbatch",
        "-t",
        "ops@example.com",
        "-f",
        "sv@example.com",
        "-H",
        &host,
        "--tls",
    ]);
    l.expect_stdout(pipe::READY);
    l.write(&pipe::exited(1, "web", "web_02", false, 102));
    l.expect_stdout(&pipe::answered(1));
    let f = l.finish();
    assert!(
        f.stderr.contains("invalid peer certificate"),
        "{}",
        f.stderr
    );
    assert_eq!(
        server.mails().len(),
        1,
        "a mail in plain text despite --tls"
    );
}
