//! The two ways a rendered mail leaves the machine: a sendmail command ([`Sendmail`]) and SMTP
//! via lettre ([`Smtp`]). Both block (the outbox's worker calls them, never the protocol loop)
//! and both are bounded by a timeout, so that a hung MTA cannot hold the worker forever.
//!
//! Each failure is classified for the worker's retry logic ([`DeliveryError`]). The rule when
//! in doubt is *transient*: a mail wrongly called transient costs a few retries and log lines;
//! one wrongly called permanent is given up, which is the one thing this layer must not do
//! lightly. Only what cannot change while the listener runs is permanent: an SMTP 5xx reply
//! (RFC 5321 §4.2.1: "do not repeat the exact request"), a sendmail command that is not there.
//!
//! lettre's own `SendmailTransport` cannot run superlance's default `/usr/sbin/sendmail -t -i`
//! (it takes one path and adds its own arguments), so [`Sendmail`] pipes the message itself.

use std::io;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::str::FromStr;
use std::time::Duration;

use lettre::address::{Address, Envelope};
use lettre::transport::smtp::authentication::Credentials as LettreCredentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::SmtpTransport;
use lettre::Transport as _;

use super::{DeliveryError, Rendered, Transport};
use crate::command::{run_shell, seconds, Finished};

/// The longest excerpt of a command's output or a server's reply put into one log line.
const EXCERPT_CHARS: usize = 600;

// ---------------------------------------------------------------------------------------------
// sendmail command

/// Pipe the message to `sh -c "<command>"`, superlance's semantics: the command reads the
/// recipients from the headers (`sendmail -t`), so the envelope is not passed.
///
/// The command runs as src/command.rs runs commands: a process group of its own, stdin,
/// stdout and stderr all piped (our stdout belongs to the supervisord protocol), the whole
/// group killed on timeout. Exit status 0 is success; its output is logged at debug level.
///
/// Exit statuses: 127 (the shell did not find the command) and 126 (found, not executable)
/// are permanent: they are configuration errors that retrying cannot cure while we run. Every
/// other non-zero status, and death by a signal, is transient: sendmail's EX_TEMPFAIL (75)
/// says so, and other MTAs use other codes (or 1) for "queue unavailable", "cannot connect to
/// the relay" and the like, where a retry is what a user wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sendmail {
    /// A shell command line, e.g. `/usr/sbin/sendmail -t -i`.
    pub command: String,
    pub timeout: Duration,
}

impl Sendmail {
    fn run(&self, input: &[u8]) -> Result<Finished, DeliveryError> {
        run_shell(&self.command, &[], Some(input), self.timeout).map_err(|e| {
            DeliveryError::Transient(format!("sendmail command {:?}: {e}", self.command))
        })
    }
}

impl Transport for Sendmail {
    fn deliver(&mut self, mail: &Rendered) -> Result<(), DeliveryError> {
        let done = self.run(&mail.message)?;
        let output = describe_output(&done.stdout, &done.stderr);
        let Some(status) = done.status else {
            return Err(DeliveryError::Transient(format!(
                "sendmail command {:?} timed out after {}, killed{}",
                self.command,
                seconds(self.timeout),
                if output.is_empty() {
                    String::new()
                } else {
                    format!(": {output}")
                }
            )));
        };
        classify_exit(&self.command, status, &output)
    }

    fn describe(&self) -> String {
        format!("sendmail command {:?}", self.command)
    }
}

/// What an exit status means for the mail; see [`Sendmail`] for the rule.
fn classify_exit(command: &str, status: ExitStatus, output: &str) -> Result<(), DeliveryError> {
    let said = if output.is_empty() {
        " (no output)".to_owned()
    } else {
        format!(": {output}")
    };
    match (status.code(), status.signal()) {
        (Some(0), _) => {
            if !output.is_empty() {
                log::debug!("sendmail command {command:?} said: {output}");
            }
            Ok(())
        }
        (Some(127), _) => Err(DeliveryError::Permanent(format!(
            "sendmail command {command:?} not found (sh exit status 127){said}; \
             install an MTA, fix -s/--sendmail_program, or use --smtp-host"
        ))),
        (Some(126), _) => Err(DeliveryError::Permanent(format!(
            "sendmail command {command:?} cannot be executed (sh exit status 126){said}"
        ))),
        (Some(75), _) => Err(DeliveryError::Transient(format!(
            "sendmail command {command:?} exited with status 75 (EX_TEMPFAIL){said}"
        ))),
        (Some(code), _) => Err(DeliveryError::Transient(format!(
            "sendmail command {command:?} exited with status {code}{said}"
        ))),
        (None, signal) => Err(DeliveryError::Transient(format!(
            "sendmail command {command:?} was killed by signal {}{said}",
            signal.map_or_else(|| "?".to_owned(), |s| s.to_string())
        ))),
    }
}

/// stderr and stdout as one log-friendly line: `stderr: ... | stdout: ...`, empty parts left
/// out, a lone stderr without its label.
fn describe_output(stdout: &[u8], stderr: &[u8]) -> String {
    let out = excerpt(stdout);
    let err = excerpt(stderr);
    match (err.is_empty(), out.is_empty()) {
        (true, true) => String::new(),
        (false, true) => err,
        (true, false) => format!("stdout: {out}"),
        (false, false) => format!("{err} | stdout: {out}"),
    }
}

/// Bytes as one line of text: lossy UTF-8, lines joined by " / ", cut at [`EXCERPT_CHARS`].
fn excerpt(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let joined = text
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" / ");
    if joined.chars().count() > EXCERPT_CHARS {
        let cut: String = joined.chars().take(EXCERPT_CHARS).collect();
        format!("{cut}...")
    } else {
        joined
    }
}

// ---------------------------------------------------------------------------------------------
// SMTP

/// How an SMTP connection is secured (`--smtp-tls`). Certificates are always verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain text, for a trusted local relay.
    None,
    /// STARTTLS, required: a server that does not offer it is an error (no downgrade).
    Starttls,
    /// Implicit TLS from the first byte (SMTPS, port 465).
    Tls,
    /// Implicit TLS on port 465; plain text to localhost or a loopback address (the local
    /// MTA); otherwise STARTTLS when the server offers it (plain text when it does not).
    Auto,
}

impl TlsMode {
    /// The names `--smtp-tls` accepts.
    pub const NAMES: [&'static str; 4] = ["none", "starttls", "tls", "auto"];

    /// The port used when `--smtp-host` names none.
    pub fn default_port(self) -> u16 {
        match self {
            TlsMode::Tls => 465,
            TlsMode::None | TlsMode::Starttls | TlsMode::Auto => 25,
        }
    }
}

impl FromStr for TlsMode {
    type Err = String;

    fn from_str(s: &str) -> Result<TlsMode, String> {
        match s {
            "none" => Ok(TlsMode::None),
            "starttls" => Ok(TlsMode::Starttls),
            "tls" => Ok(TlsMode::Tls),
            "auto" => Ok(TlsMode::Auto),
            _ => Err(format!(
                "unknown TLS mode {s:?} (use none, starttls, tls or auto)"
            )),
        }
    }
}

/// SMTP login. Its `Debug` hides the password: settings end up in debug logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub user: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("password", &"<hidden>")
            .finish()
    }
}

/// Everything an [`Smtp`] transport is built from (the shared options produce it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpSettings {
    /// A host name or an IP address (IPv6 without brackets).
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub credentials: Option<Credentials>,
    /// Extra trusted CA certificates (PEM), added to the system's (`--smtp-ca-file`).
    pub ca_file: Option<PathBuf>,
    /// For the connection and for each command's answer.
    pub timeout: Duration,
}

/// SMTP via lettre's blocking client, one connection per message (notifications are rare;
/// a pooled connection would only have to notice that the server closed it meanwhile).
#[derive(Debug, Clone)]
pub struct Smtp {
    transport: SmtpTransport,
    /// `host:port` for messages, `[v6]:port` for IPv6.
    endpoint: String,
    description: String,
    timeout: Duration,
}

impl Smtp {
    /// Build the transport; reads and checks the CA file and builds the TLS configuration now,
    /// so that a bad one is reported at start, not at the first crash. The error names what
    /// was wrong.
    pub fn new(settings: SmtpSettings) -> Result<Smtp, String> {
        let SmtpSettings {
            host,
            port,
            tls,
            credentials,
            ca_file,
            timeout,
        } = settings;
        let endpoint = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let (tls, label) = match tls {
            TlsMode::None => (Tls::None, "no TLS"),
            TlsMode::Starttls => (Tls::Required(tls_parameters(&host, &ca_file)?), "STARTTLS"),
            TlsMode::Tls => (Tls::Wrapper(tls_parameters(&host, &ca_file)?), "TLS"),
            TlsMode::Auto if port == 465 => (Tls::Wrapper(tls_parameters(&host, &ca_file)?), "TLS"),
            // The local MTA: encryption protects nothing on the loopback interface, and a stock
            // Debian postfix offers STARTTLS with a self-signed "snakeoil" certificate that
            // verification would refuse, so no mail would ever leave (superlance's batch tools
            // send to localhost in plain text by default).
            TlsMode::Auto if is_loopback(&host) => (Tls::None, "no TLS: loopback"),
            TlsMode::Auto => (
                Tls::Opportunistic(tls_parameters(&host, &ca_file)?),
                "STARTTLS if offered",
            ),
        };
        let mut description = format!("SMTP {endpoint} ({label})");
        let mut builder = SmtpTransport::builder_dangerous(host.as_str())
            .port(port)
            .tls(tls)
            .timeout(Some(timeout));
        if let Some(c) = credentials {
            description.push_str(&format!(", user {}", c.user));
            builder = builder.credentials(LettreCredentials::new(c.user, c.password));
        }
        Ok(Smtp {
            transport: builder.build(),
            endpoint,
            description,
            timeout,
        })
    }
}

/// `localhost` or an address of the loopback interface (127.0.0.0/8, ::1).
fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// TLS for `host`: the system's CA certificates plus those of `ca_file`; verification on.
fn tls_parameters(host: &str, ca_file: &Option<PathBuf>) -> Result<TlsParameters, String> {
    let mut builder = TlsParameters::builder(host.to_owned());
    if let Some(path) = ca_file {
        let name = path.display();
        let pem =
            std::fs::read(path).map_err(|e| format!("cannot read the CA file {name}: {e}"))?;
        // lettre accepts a file without any certificate; it would only fail at the handshake.
        if !pem
            .windows(b"-----BEGIN CERTIFICATE-----".len())
            .any(|w| w == b"-----BEGIN CERTIFICATE-----")
        {
            return Err(format!(
                "the CA file {name} holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
            ));
        }
        let cert = Certificate::from_pem(&pem)
            .map_err(|e| format!("the CA file {name} is not valid PEM: {e}"))?;
        builder = builder.add_root_certificate(cert);
    }
    builder.build().map_err(|e| match ca_file {
        Some(path) => format!("cannot use the CA file {}: {e}", path.display()),
        None => format!("cannot set up TLS for {host}: {e}"),
    })
}

impl Transport for Smtp {
    fn deliver(&mut self, mail: &Rendered) -> Result<(), DeliveryError> {
        let envelope = envelope(mail)?;
        match self.transport.send_raw(&envelope, &mail.message) {
            Ok(response) => {
                log::debug!(
                    "SMTP {}: {} {}",
                    self.endpoint,
                    response.code(),
                    response.message().collect::<Vec<_>>().join(" ")
                );
                Ok(())
            }
            Err(e) => Err(classify_smtp(&self.endpoint, self.timeout, &e)),
        }
    }

    fn describe(&self) -> String {
        self.description.clone()
    }
}

fn envelope(mail: &Rendered) -> Result<Envelope, DeliveryError> {
    let from = Address::from_str(&mail.from)
        .map_err(|e| DeliveryError::Permanent(format!("invalid sender {:?}: {e}", mail.from)))?;
    let to = mail
        .to
        .iter()
        .map(|a| {
            Address::from_str(a)
                .map_err(|e| DeliveryError::Permanent(format!("invalid recipient {a:?}: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Envelope::new(Some(from), to)
        .map_err(|e| DeliveryError::Permanent(format!("cannot build the envelope: {e}")))
}

/// An SMTP failure: a 5xx reply and a client-side refusal (no usable AUTH mechanism, an
/// address or body the server lacks the extension for) are permanent; a 4xx reply, a refused
/// or timed-out connection, a TLS failure (an expired certificate gets renewed), a server
/// that does not offer the STARTTLS we require (fixed later, or stripped by a man in the
/// middle) are transient.
///
/// Authentication failures (530, 534, 535, 538) are 5xx and so permanent: the credentials
/// are read at start, so every retry during this run would fail the same way; the message
/// says which options to check.
fn classify_smtp(
    endpoint: &str,
    timeout: Duration,
    e: &lettre::transport::smtp::Error,
) -> DeliveryError {
    let code = e.status().map(|c| c.to_string());
    let text = excerpt(e.to_string().as_bytes());
    if e.is_permanent() {
        let hint = match code.as_deref() {
            Some("530") => {
                "; the server wants a login (--smtp-user) or encryption (--smtp-tls) first"
            }
            Some("534" | "535" | "538") => {
                "; authentication failed: check --smtp-user and the password (--smtp-password-file \
                 or SUPERLANCE_SMTP_PASSWORD)"
            }
            _ => "",
        };
        return DeliveryError::Permanent(format!("SMTP {endpoint}: {text}{hint}"));
    }
    if e.is_client() && text.contains("STARTTLS is not supported") {
        // A server fixed later, or a man in the middle stripping STARTTLS: retry, never send
        // in plain text.
        return DeliveryError::Transient(format!(
            "SMTP {endpoint}: the server does not offer STARTTLS, which --smtp-tls starttls \
             requires ({text})"
        ));
    }
    if e.is_client() {
        let hint = if text.contains("authentication mechanism") {
            "; the server offers no AUTH mechanism we use (PLAIN, LOGIN): many offer AUTH only \
             over TLS, try --smtp-tls starttls"
        } else {
            ""
        };
        return DeliveryError::Permanent(format!("SMTP {endpoint}: {text}{hint}"));
    }
    if timed_out(e) {
        return DeliveryError::Transient(format!(
            "SMTP {endpoint}: no answer within {} ({text})",
            seconds(timeout)
        ));
    }
    let hint = if text.contains("invalid peer certificate") {
        "; a server with a certificate from a private CA needs --smtp-ca-file"
    } else {
        ""
    };
    DeliveryError::Transient(format!("SMTP {endpoint}: {text}{hint}"))
}

/// Whether an I/O timeout is behind `e`. A socket read timeout shows as `WouldBlock` on
/// Linux (EAGAIN), a connect timeout as `TimedOut`.
fn timed_out(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<io::Error>() {
            return matches!(
                io.kind(),
                io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
            );
        }
        source = err.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::thread;
    use std::time::Instant;

    fn mail() -> Rendered {
        Rendered {
            from: "supervisor@host1".into(),
            to: vec!["ops@example.com".into()],
            message: b"To: ops@example.com\r\nSubject: test\r\n\r\nbody\r\n".to_vec(),
            summary: "test".into(),
        }
    }

    fn sendmail(command: &str, timeout_ms: u64) -> Sendmail {
        Sendmail {
            command: command.into(),
            timeout: Duration::from_millis(timeout_ms),
        }
    }

    #[test]
    fn exit_0_delivers_and_the_message_reaches_stdin() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("got");
        let mut t = sendmail(&format!("cat > '{}'", file.display()), 5000);
        t.deliver(&mail()).unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), mail().message);
    }

    #[test]
    fn tempfail_and_other_codes_are_transient_with_stderr() {
        let mut t = sendmail("cat >/dev/null; echo 'queue is full' >&2; exit 75", 5000);
        match t.deliver(&mail()) {
            Err(DeliveryError::Transient(m)) => {
                assert!(m.contains("status 75 (EX_TEMPFAIL)"), "{m}");
                assert!(m.contains("queue is full"), "{m}");
            }
            other => panic!("{other:?}"),
        }
        let mut t = sendmail("echo out; echo 'relay down' >&2; exit 1", 5000);
        match t.deliver(&mail()) {
            Err(DeliveryError::Transient(m)) => {
                assert!(m.contains("status 1: relay down | stdout: out"), "{m}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_missing_command_is_permanent() {
        let mut t = sendmail("/nonexistent/sendmail -t -i", 5000);
        match t.deliver(&mail()) {
            Err(DeliveryError::Permanent(m)) => {
                assert!(m.contains("not found (sh exit status 127)"), "{m}");
                assert!(m.contains("/nonexistent/sendmail"), "{m}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_hung_command_is_killed_with_its_group() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("pid");
        // The shell starts a grandchild and waits for it: both must die.
        let mut t = sendmail(
            &format!("sleep 10 & echo $! > '{}'; wait", pidfile.display()),
            500,
        );
        let started = Instant::now();
        match t.deliver(&mail()) {
            Err(DeliveryError::Transient(m)) => {
                assert!(m.contains("timed out after 0.5 s, killed"), "{m}");
            }
            other => panic!("{other:?}"),
        }
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // The grandchild is not ours to reap (sh was its parent): it is gone or a zombie
        // of init's, shortly.
        let gone = (0..100).any(|_| {
            let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let dead = state.is_empty() || state.contains(") Z ");
            if !dead {
                thread::sleep(Duration::from_millis(20));
            }
            dead
        });
        assert!(gone, "sleep {pid} survived the kill");
    }

    #[test]
    fn a_command_that_does_not_read_stdin_is_fine() {
        let mut t = sendmail("exit 0", 5000);
        let mut big = mail();
        big.message = vec![b'x'; 1 << 20];
        t.deliver(&big).unwrap();
    }

    #[test]
    fn signals_are_transient() {
        let mut t = sendmail("kill -TERM $$", 5000);
        match t.deliver(&mail()) {
            Err(DeliveryError::Transient(m)) => assert!(m.contains("signal 15"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn describe_names_the_command() {
        assert_eq!(
            sendmail("/usr/sbin/sendmail -t -i", 1).describe(),
            "sendmail command \"/usr/sbin/sendmail -t -i\""
        );
    }

    #[test]
    fn excerpts_are_one_bounded_line() {
        assert_eq!(excerpt(b"a\n\nb  \r\nc"), "a / b / c");
        assert_eq!(excerpt(&[b'x'; 1000]).len(), EXCERPT_CHARS + 3);
        assert_eq!(seconds(Duration::from_secs(30)), "30 s");
        assert_eq!(seconds(Duration::from_millis(1500)), "1.5 s");
    }

    fn settings(tls: TlsMode, port: u16) -> SmtpSettings {
        SmtpSettings {
            host: "127.0.0.1".into(),
            port,
            tls,
            credentials: None,
            ca_file: None,
            timeout: Duration::from_secs(2),
        }
    }

    #[test]
    fn smtp_describe() {
        let d = |tls, port| Smtp::new(settings(tls, port)).unwrap().describe();
        assert_eq!(d(TlsMode::None, 25), "SMTP 127.0.0.1:25 (no TLS)");
        assert_eq!(d(TlsMode::Starttls, 587), "SMTP 127.0.0.1:587 (STARTTLS)");
        assert_eq!(d(TlsMode::Tls, 465), "SMTP 127.0.0.1:465 (TLS)");
        assert_eq!(d(TlsMode::Auto, 465), "SMTP 127.0.0.1:465 (TLS)");
        assert_eq!(d(TlsMode::Auto, 25), "SMTP 127.0.0.1:25 (no TLS: loopback)");
        let mut s = settings(TlsMode::Auto, 25);
        s.host = "mx.example.com".into();
        assert_eq!(
            Smtp::new(s).unwrap().describe(),
            "SMTP mx.example.com:25 (STARTTLS if offered)"
        );
        for host in ["localhost", "LOCALHOST", "127.0.0.1", "127.0.1.1", "::1"] {
            assert!(is_loopback(host), "{host}");
        }
        for host in ["10.0.0.1", "localhost.example.com", "::2", "mx"] {
            assert!(!is_loopback(host), "{host}");
        }
        let mut s = settings(TlsMode::Starttls, 587);
        s.host = "::1".into();
        s.credentials = Some(Credentials {
            user: "alice".into(),
            password: "secret".into(),
        });
        assert!(!format!("{s:?}").contains("secret"));
        assert_eq!(
            Smtp::new(s).unwrap().describe(),
            "SMTP [::1]:587 (STARTTLS), user alice"
        );
    }

    #[test]
    fn bad_ca_files_are_reported_at_construction() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = settings(TlsMode::Starttls, 587);
        s.ca_file = Some(dir.path().join("missing.pem"));
        let e = Smtp::new(s.clone()).unwrap_err();
        assert!(
            e.contains("cannot read the CA file") && e.contains("missing.pem"),
            "{e}"
        );
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "no certificate here\n").unwrap();
        s.ca_file = Some(empty);
        let e = Smtp::new(s.clone()).unwrap_err();
        assert!(e.contains("holds no PEM certificate"), "{e}");
        let garbage = dir.path().join("garbage.pem");
        std::fs::write(
            &garbage,
            "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        s.ca_file = Some(garbage);
        assert!(Smtp::new(s).is_err());
    }

    #[test]
    fn connection_refused_is_transient_and_quick() {
        // A port nobody listens on: bind, note the port, close.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut t = Smtp::new(settings(TlsMode::None, port)).unwrap();
        let started = Instant::now();
        match t.deliver(&mail()) {
            Err(DeliveryError::Transient(m)) => {
                assert!(m.starts_with(&format!("SMTP 127.0.0.1:{port}: ")), "{m}");
                assert!(m.to_lowercase().contains("refused"), "{m}");
            }
            other => panic!("{other:?}"),
        }
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn a_silent_server_times_out() {
        // Accepts the connection (the kernel does, from the backlog) and never says a word.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut s = settings(TlsMode::None, port);
        s.timeout = Duration::from_millis(300);
        let mut t = Smtp::new(s).unwrap();
        let started = Instant::now();
        match t.deliver(&mail()) {
            Err(DeliveryError::Transient(m)) => {
                assert!(m.contains("no answer within 0.3 s"), "{m}")
            }
            other => panic!("{other:?}"),
        }
        assert!(started.elapsed() < Duration::from_secs(2));
        drop(listener);
    }

    #[test]
    fn tls_modes_parse() {
        for name in TlsMode::NAMES {
            assert!(name.parse::<TlsMode>().is_ok());
        }
        assert!("ssl".parse::<TlsMode>().is_err());
        assert_eq!(TlsMode::Tls.default_port(), 465);
        assert_eq!(TlsMode::Auto.default_port(), 25);
    }
}
