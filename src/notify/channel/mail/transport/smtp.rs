//! SMTP: a session of our own on lettre's SMTP connection (lettre does the protocol, TLS and
//! AUTH; we say what is sent), so that what superlance users sent still goes (issue 16):
//!
//! - envelope addresses as given, local names included (`RCPT TO:<ops>`, which Python's
//!   smtplib sent for `-t ops`; lettre's envelope type requires a domain);
//! - `BODY=8BITMIME` for an 8-bit body where the server offers it, and the body re-encoded
//!   as quoted-printable where it does not (channel/mail/message.rs writes plain 8-bit text);
//! - with `--smtp-tls auto` (the default, "TLS was not asked for"), a STARTTLS that fails for
//!   a TLS reason (a relay's internal certificate that cannot be verified) falls back to plain
//!   text, as superlance sent without `--tls`, with one WARN; `--tls`/`--smtp-tls starttls`
//!   never fall back. One connection per message: notifications are rare.

use std::io;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use lettre::transport::smtp::authentication::{
    Credentials as LettreCredentials, DEFAULT_MECHANISMS,
};
use lettre::transport::smtp::client::{Certificate, SmtpConnection, TlsParameters};
use lettre::transport::smtp::extension::{ClientId, Extension};

use super::output::excerpt;
use crate::command::seconds;
use crate::notify::channel::mail::message::as_quoted_printable;
use crate::notify::channel::mail::Transport;
use crate::notify::channel::{DeliveryError, Rendered};

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

/// How one session is secured, from [`TlsMode`] and the port.
#[derive(Clone)]
enum Security {
    Plain,
    /// STARTTLS, required.
    Starttls(TlsParameters),
    /// STARTTLS when offered; a TLS failure falls back to plain text (`--smtp-tls auto`).
    Opportunistic(TlsParameters),
    /// Implicit TLS.
    Wrapper(TlsParameters),
}

/// Why a session failed: at STARTTLS for a TLS reason (may fall back), or anything else.
enum Failure {
    Tls(lettre::transport::smtp::Error),
    Other(lettre::transport::smtp::Error),
}

/// The SMTP transport: one connection per message.
pub struct Smtp {
    host: String,
    port: u16,
    security: Security,
    credentials: Option<LettreCredentials>,
    hello: ClientId,
    /// `host:port` for messages, `[v6]:port` for IPv6.
    endpoint: String,
    description: String,
    timeout: Duration,
    /// Whether the plain-text fallback of `auto` has been announced (once per run).
    fell_back: bool,
}

impl std::fmt::Debug for Smtp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.description)
    }
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
        let params = || tls_parameters(&host, &ca_file);
        let (security, label) = match tls {
            TlsMode::None => (Security::Plain, "no TLS"),
            TlsMode::Starttls => (Security::Starttls(params()?), "STARTTLS"),
            TlsMode::Tls => (Security::Wrapper(params()?), "TLS"),
            TlsMode::Auto if port == 465 => (Security::Wrapper(params()?), "TLS"),
            // The local MTA: encryption protects nothing on the loopback interface, and a stock
            // Debian postfix offers STARTTLS with a self-signed "snakeoil" certificate that
            // verification would refuse, so no mail would ever leave (superlance's batch tools
            // send to localhost in plain text by default).
            TlsMode::Auto if is_loopback(&host) => (Security::Plain, "no TLS: loopback"),
            TlsMode::Auto => (Security::Opportunistic(params()?), "STARTTLS if offered"),
        };
        let mut description = format!("SMTP {endpoint} ({label})");
        if let Some(c) = &credentials {
            description.push_str(&format!(", user {}", c.user));
        }
        Ok(Smtp {
            host,
            port,
            security,
            credentials: credentials.map(|c| LettreCredentials::new(c.user, c.password)),
            hello: ClientId::default(),
            endpoint,
            description,
            timeout,
            fell_back: false,
        })
    }

    /// One session: connect, secure, log in, send `mail`, quit.
    fn session(&self, security: &Security, mail: &Rendered) -> Result<(), Failure> {
        let wrapper = match security {
            Security::Wrapper(p) => Some(p),
            _ => None,
        };
        let mut conn = SmtpConnection::connect(
            (self.host.as_str(), self.port),
            Some(self.timeout),
            &self.hello,
            wrapper,
            None,
        )
        .map_err(Failure::Other)?;
        let starttls = match security {
            Security::Starttls(p) => Some(p),
            Security::Opportunistic(p) if conn.can_starttls() => Some(p),
            _ => None,
        };
        if let Some(p) = starttls {
            conn.starttls(p, &self.hello).map_err(|e| {
                if is_tls_failure(&e) {
                    Failure::Tls(e)
                } else {
                    Failure::Other(e)
                }
            })?;
        }
        let other = Failure::Other;
        if let Some(c) = &self.credentials {
            conn.auth(DEFAULT_MECHANISMS, c).map_err(other)?;
        }
        let eight_bit = !mail.message.is_ascii();
        let server_8bit = conn.server_info().supports_feature(Extension::EightBitMime);
        let reencoded = (eight_bit && !server_8bit)
            .then(|| as_quoted_printable(&mail.message))
            .flatten();
        let body_8bit = if eight_bit && server_8bit {
            " BODY=8BITMIME"
        } else {
            ""
        };
        conn.command(format!("MAIL FROM:<{}>{body_8bit}\r\n", mail.from))
            .map_err(other)?;
        for to in &mail.to {
            conn.command(format!("RCPT TO:<{to}>\r\n")).map_err(other)?;
        }
        conn.command("DATA\r\n").map_err(other)?;
        let message = reencoded.as_deref().unwrap_or(&mail.message);
        // The data and its closing `.` in one write. lettre's `message` writes them in two,
        // and its socket has no TCP_NODELAY (nor a way to set it): Nagle then holds the `.`
        // until the server acknowledges the data, which a server that delays its ACKs does
        // after 40 ms, per mail (docs/performance.md, "The closing dot"). `command` writes
        // its text in one `write_all`. A message that is not UTF-8 (a spool file edited by
        // hand) cannot be a `command`: it goes the two-write way.
        let response = match data_section(message) {
            Some(data) => conn.command(data),
            // lettre ends the data with CRLF.CRLF itself: a message's own last CRLF would
            // become an extra blank line.
            None => conn.message(message.strip_suffix(b"\r\n").unwrap_or(message)),
        }
        .map_err(other)?;
        log::debug!(
            "SMTP {}: {} {}",
            self.endpoint,
            response.code(),
            response.message().collect::<Vec<_>>().join(" ")
        );
        let _ = conn.quit();
        Ok(())
    }
}

/// `message` as SMTP data, ready to follow DATA's 354: every line that starts with `.` gets
/// another (RFC 5321 4.5.2, "transparency"), and it ends with `CRLF.CRLF` (after a CRLF of
/// its own, or one added). `None` when it is not UTF-8.
fn data_section(message: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(message).ok()?;
    let mut data = String::with_capacity(text.len() + 16);
    for line in text.split_inclusive("\r\n") {
        if line.starts_with('.') {
            data.push('.');
        }
        data.push_str(line);
    }
    if !data.ends_with("\r\n") {
        data.push_str("\r\n");
    }
    data.push_str(".\r\n");
    Some(data)
}

/// A failure of the TLS layer itself (certificate, handshake), not of the network.
fn is_tls_failure(e: &lettre::transport::smtp::Error) -> bool {
    if e.is_tls() {
        return true;
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if err.downcast_ref::<rustls::Error>().is_some() {
            return true;
        }
        if let Some(inner) = err.downcast_ref::<io::Error>().and_then(|io| io.get_ref()) {
            if inner.downcast_ref::<rustls::Error>().is_some() {
                return true;
            }
        }
        source = err.source();
    }
    false
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
        let classify =
            |e: &lettre::transport::smtp::Error| classify_smtp(&self.endpoint, self.timeout, e);
        let tls_error = match self.session(&self.security, mail) {
            Ok(()) => return Ok(()),
            Err(Failure::Other(e)) => return Err(classify(&e)),
            Err(Failure::Tls(e)) => e,
        };
        if !matches!(self.security, Security::Opportunistic(_)) {
            return Err(classify(&tls_error));
        }
        // issue 16: a relay with an internal certificate, used in plain text before.
        let said = excerpt(tls_error.to_string().as_bytes());
        let result = self.session(&Security::Plain, mail).map_err(|f| match f {
            Failure::Tls(e) | Failure::Other(e) => classify(&e),
        });
        if !self.fell_back {
            self.fell_back = true;
            log::warn!(
                "SMTP {}: STARTTLS failed ({said}); sending in plain text, as superlance did \
                 without --tls. Give --smtp-ca-file to trust the server's certificate, or \
                 --tls / --smtp-tls starttls to never send in plain text",
                self.endpoint
            );
        }
        result
    }

    fn describe(&self) -> String {
        self.description.clone()
    }
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

    #[test]
    fn the_data_section_is_dot_stuffed_and_closed_in_one_piece() {
        let message = b"Subject: x\r\n\r\n.hidden\r\nmid.dle\r\n..two\r\n.";
        assert_eq!(
            data_section(message).as_deref(),
            Some("Subject: x\r\n\r\n..hidden\r\nmid.dle\r\n...two\r\n..\r\n.\r\n")
        );
        // A message's own last CRLF is not doubled; one is added where it is missing, as
        // lettre's `message` did.
        assert_eq!(data_section(b"a\r\n").as_deref(), Some("a\r\n.\r\n"));
        assert_eq!(data_section(b"a").as_deref(), Some("a\r\n.\r\n"));
        assert_eq!(data_section(b"").as_deref(), Some("\r\n.\r\n"));
        assert_eq!(data_section(b"caf\xe9\r\n"), None, "not UTF-8");
    }
    use std::time::Instant;

    fn mail() -> Rendered {
        Rendered {
            from: "supervisor@host1".into(),
            to: vec!["ops@example.com".into()],
            headers: Vec::new(),
            message: b"To: ops@example.com\r\nSubject: test\r\n\r\nbody\r\n".to_vec(),
            summary: "test".into(),
        }
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
