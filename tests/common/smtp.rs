//! A real SMTP server for the mail tests: aiosmtpd 1.4.6 from the venv that `tests/setup.sh`
//! makes, running `tests/fixtures/mail/smtpd.py` on 127.0.0.1 in a temp dir of its own.
//!
//! Every message it accepts becomes a directory in that temp dir (envelope, raw data, whether
//! TLS and AUTH were used); [`SmtpServer::wait_for_mails`] polls for them and parses them into
//! [`ReceivedMail`]s, so tests assert on the mail that arrived, as a user would see it. The
//! builder sets the server's behaviour: STARTTLS or implicit TLS with a certificate made at
//! test time by the `openssl` command (its CA is [`SmtpServer::ca_file`], for
//! `--smtp-ca-file`), required AUTH, a delay per message, 550 for every recipient, or total
//! silence. [`SmtpServer::stop`] and [`SmtpServer::restart`] (same port) make "server down,
//! then up". `tests/fixtures/mail/sendmail.py` is a sendmail-compatible command that relays
//! to the server ([`SmtpServer::sendmail_command`]). The server is killed on drop.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::fixture_server::FixtureProcess;
use super::{poll, run, venv_bin, wait_until};

/// The fixtures: smtpd.py and sendmail.py.
fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/mail")
        .join(name)
}

/// How the server secures connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ServerTls {
    #[default]
    None,
    /// Offers STARTTLS (and AUTH only after it).
    Starttls,
    /// TLS from the first byte (SMTPS).
    Implicit,
}

/// What an [`SmtpServer`] is started with; see [`SmtpServer::builder`].
#[derive(Debug, Clone, Default)]
pub struct Builder {
    tls: ServerTls,
    auth: Option<(String, String)>,
    auth_exclude: Vec<String>,
    delay: Option<Duration>,
    reject_recipients: bool,
    silent: bool,
}

impl Builder {
    pub fn starttls(mut self) -> Builder {
        self.tls = ServerTls::Starttls;
        self
    }

    pub fn implicit_tls(mut self) -> Builder {
        self.tls = ServerTls::Implicit;
        self
    }

    /// Require AUTH (PLAIN or LOGIN) with this user and password before MAIL FROM.
    pub fn auth(mut self, user: &str, password: &str) -> Builder {
        self.auth = Some((user.to_owned(), password.to_owned()));
        self
    }

    /// Do not offer this AUTH mechanism (`PLAIN`, `LOGIN`).
    pub fn without_mechanism(mut self, mechanism: &str) -> Builder {
        self.auth_exclude.push(mechanism.to_owned());
        self
    }

    /// Answer each DATA only after `delay`: a slow server.
    pub fn delay(mut self, delay: Duration) -> Builder {
        self.delay = Some(delay);
        self
    }

    /// Answer every RCPT TO with `550 5.1.1 ... User unknown`.
    pub fn reject_recipients(mut self) -> Builder {
        self.reject_recipients = true;
        self
    }

    /// Accept connections and never answer: a hung server.
    pub fn silent(mut self) -> Builder {
        self.silent = true;
        self
    }

    pub fn start(self) -> SmtpServer {
        let process = FixtureProcess::new("smtpd");
        let ca_file = match self.tls {
            ServerTls::None => None,
            ServerTls::Starttls | ServerTls::Implicit => Some(make_certificates(process.dir())),
        };
        let mut server = SmtpServer {
            process,
            options: self,
            ca_file,
        };
        server.launch();
        server
    }
}

/// A private CA and a server certificate for `localhost` and 127.0.0.1 signed by it (webpki
/// refuses a CA certificate as the server's own, so a lone self-signed one will not do).
/// Returns the CA's PEM file.
fn make_certificates(dir: &Path) -> PathBuf {
    let openssl = |args: &[&str]| {
        let out = run(Command::new("openssl").args(args).current_dir(dir));
        assert!(
            out.status.success(),
            "openssl {} failed (is the openssl command installed?):\n{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    openssl(
        &[
            &["req", "-x509"][..],
            &ec,
            &["-keyout", "ca.key", "-out", "ca.pem", "-days", "2"],
            &["-subj", "/CN=superlance test CA"],
            &["-addext", "basicConstraints=critical,CA:TRUE"],
            &["-addext", "keyUsage=critical,keyCertSign,cRLSign"],
        ]
        .concat(),
    );
    openssl(
        &[
            &["req"][..],
            &ec,
            &[
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=localhost",
            ],
        ]
        .concat(),
    );
    fs::write(
        dir.join("server.ext"),
        "basicConstraints=critical,CA:FALSE\n\
         keyUsage=critical,digitalSignature,keyEncipherment\n\
         extendedKeyUsage=serverAuth\n\
         subjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .unwrap_or_else(|e| panic!("cannot write server.ext: {e}"));
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-set_serial",
        "4242",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "server.ext",
    ]);
    dir.join("ca.pem")
}

/// A running aiosmtpd on 127.0.0.1; killed on drop.
pub struct SmtpServer {
    process: FixtureProcess,
    options: Builder,
    ca_file: Option<PathBuf>,
}

impl SmtpServer {
    /// A plain server: no TLS, no AUTH, answers at once.
    pub fn start() -> SmtpServer {
        Builder::default().start()
    }

    /// `SmtpServer::builder().starttls().auth("u", "p").start()`.
    pub fn builder() -> Builder {
        Builder::default()
    }

    pub fn port(&self) -> u16 {
        self.process.port()
    }

    /// `127.0.0.1:<port>`, for `--smtp-host`.
    pub fn host_port(&self) -> String {
        format!("127.0.0.1:{}", self.process.port())
    }

    /// The CA certificate that signed the server's (STARTTLS and implicit TLS servers only).
    pub fn ca_file(&self) -> &Path {
        self.ca_file
            .as_deref()
            .unwrap_or_else(|| panic!("this SMTP server has no TLS, so no CA file"))
    }

    /// A sendmail-compatible command line that relays to this server (for `-s`).
    pub fn sendmail_command(&self) -> String {
        format!(
            "{} {} --port {} -t -i",
            venv_bin("python").display(),
            fixture("sendmail.py").display(),
            self.process.port()
        )
    }

    /// The directory a mail appears in (one subdirectory per mail) once its DATA is answered:
    /// a program can look at it, e.g. to show that a mail came before its SIGTERM.
    pub fn mails_dir(&self) -> PathBuf {
        self.process.dir().join("mails")
    }

    /// The mails that have arrived so far, in arrival order.
    pub fn mails(&self) -> Vec<ReceivedMail> {
        let Ok(dir) = fs::read_dir(self.process.dir().join("mails")) else {
            return Vec::new();
        };
        let mut dirs: Vec<PathBuf> = dir.filter_map(|e| e.ok().map(|e| e.path())).collect();
        dirs.sort();
        dirs.iter().map(|d| ReceivedMail::read(d)).collect()
    }

    /// Wait until at least `n` mails have arrived and return them all; panics with what did
    /// arrive (and the server's log) if they do not within `timeout`.
    pub fn wait_for_mails(&self, n: usize, timeout: Duration) -> Vec<ReceivedMail> {
        poll(timeout, || {
            let mails = self.mails();
            (mails.len() >= n).then_some(mails)
        })
        .unwrap_or_else(|| {
            let mails = self.mails();
            panic!(
                "{} of {n} mails arrived at the SMTP server within {timeout:?}: {:#?}\n\
                 ---- smtpd log ----\n{}",
                mails.len(),
                mails,
                self.log()
            )
        })
    }

    /// What the server wrote to stdout and stderr (aiosmtpd logs little; tracebacks land here).
    pub fn log(&self) -> String {
        self.process.log()
    }

    /// Kill the server: connections are refused until [`SmtpServer::restart`].
    pub fn stop(&mut self) {
        self.process.stop();
    }

    /// Start the server again on the same port (stopping it first if it runs); mails received
    /// before are kept.
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }

    fn launch(&mut self) {
        let dir = self.process.dir().to_owned();
        let o = self.options.clone();
        self.process.start(&fixture("smtpd.py"), |cmd| {
            let pair = |cmd: &mut Command, flag: &str| {
                cmd.arg(flag)
                    .arg(dir.join("server.pem"))
                    .arg(dir.join("server.key"));
            };
            match o.tls {
                ServerTls::None => {}
                ServerTls::Starttls => pair(cmd, "--starttls"),
                ServerTls::Implicit => pair(cmd, "--tls"),
            }
            if let Some((user, password)) = &o.auth {
                cmd.arg("--auth").arg(format!("{user}:{password}"));
            }
            for m in &o.auth_exclude {
                cmd.arg("--auth-exclude").arg(m);
            }
            if let Some(delay) = o.delay {
                cmd.arg("--delay").arg(delay.as_secs_f64().to_string());
            }
            if o.reject_recipients {
                cmd.arg("--reject-recipients");
            }
            if o.silent {
                cmd.arg("--silent");
            }
        });
    }
}

/// A mail as the server received it.
#[derive(Debug, Clone)]
pub struct ReceivedMail {
    /// The envelope: MAIL FROM and RCPT TO.
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    /// The message as received, line ends and all.
    pub data: Vec<u8>,
    /// Header fields in order, continuation lines unfolded.
    pub headers: Vec<(String, String)>,
    /// The body, decoded from quoted-printable or base64 if it was, with `\n` line ends.
    pub body: String,
    /// How the message came: `none`, `starttls` or `implicit`.
    pub tls: String,
    /// The user that logged in, "" for none.
    pub auth: String,
}

impl ReceivedMail {
    fn read(dir: &Path) -> ReceivedMail {
        let file = |name: &str| {
            fs::read(dir.join(name))
                .unwrap_or_else(|e| panic!("cannot read {}/{name}: {e}", dir.display()))
        };
        let text = |name: &str| String::from_utf8_lossy(&file(name)).into_owned();
        let session = text("session");
        let field = |key: &str| {
            session
                .lines()
                .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
                .unwrap_or("")
                .to_owned()
        };
        let data = file("data");
        let (headers, raw_body) = parse_message(&String::from_utf8_lossy(&data));
        let encoding = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("Content-Transfer-Encoding"))
            .map(|(_, v)| v.to_ascii_lowercase());
        let body = match encoding.as_deref() {
            Some("quoted-printable") => decode_quoted_printable(&raw_body),
            Some("base64") => decode_base64(&raw_body),
            _ => raw_body,
        };
        ReceivedMail {
            mail_from: text("from"),
            rcpt_to: text("to").lines().map(str::to_owned).collect(),
            data,
            headers,
            body,
            tls: field("tls"),
            auth: field("auth"),
        }
    }

    /// The first header field of this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every header field of this name.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// Headers (unfolded) and the body (`\n` line ends) of an RFC 5322 message.
fn parse_message(text: &str) -> (Vec<(String, String)>, String) {
    let text = text.replace("\r\n", "\n");
    let (head, body) = text.split_once("\n\n").unwrap_or((text.as_str(), ""));
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in head.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some((_, v)) = headers.last_mut() {
                v.push(' ');
                v.push_str(line.trim());
            }
        } else if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_owned(), v.trim().to_owned()));
        }
    }
    (headers, body.to_owned())
}

fn decode_quoted_printable(text: &str) -> String {
    let mut out = Vec::new();
    for line in text.split('\n') {
        let (line, soft) = match line.strip_suffix('=') {
            Some(l) => (l, true),
            None => (line, false),
        };
        let bytes = line.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            match (bytes[i], hex) {
                (b'=', Some(b)) => {
                    out.push(b);
                    i += 3;
                }
                (c, _) => {
                    out.push(c);
                    i += 1;
                }
            }
        }
        if !soft {
            out.push(b'\n');
        }
    }
    out.pop(); // the split adds one line end too many
    String::from_utf8_lossy(&out).into_owned()
}

fn decode_base64(text: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in text.bytes() {
        let Some(v) = ALPHABET.iter().position(|&a| a == c) else {
            continue; // line ends, padding
        };
        acc = (acc << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    String::from_utf8_lossy(&out).replace("\r\n", "\n")
}

/// Whether something listens on 127.0.0.1:`port` (for "the server is down" checks).
pub fn listening(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
}

/// Wait until nothing listens on `port` any more.
pub fn wait_closed(port: u16) -> bool {
    wait_until(Duration::from_secs(5), || !listening(port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mail_body_decoders() {
        assert_eq!(decode_quoted_printable("caf=C3=A9 =\nok\n"), "café ok\n");
        assert_eq!(decode_base64("aGVsbG8g\nd29ybGQ=\n"), "hello world");
        let (h, b) = parse_message("A: 1\r\nB: x\r\n y\r\n\r\nbody\r\n");
        let pair = |k: &str, v: &str| (k.to_owned(), v.to_owned());
        assert_eq!(h, vec![pair("A", "1"), pair("B", "x y")]);
        assert_eq!(b, "body\n");
    }
}
