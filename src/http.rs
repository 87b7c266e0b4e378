//! A small blocking HTTP/1.1 client: one request per connection, over TCP, TLS or a Unix
//! socket. Two users: the supervisord XML-RPC client ([`crate::rpc`]), which must speak HTTP
//! over supervisord's Unix socket (no maintained Rust HTTP client does that without an async
//! runtime), and httpok's health checks (`http://`, `https://`).
//!
//! Theory of operation. [`Client::send`] connects, writes the whole request with
//! `Connection: close`, reads one response ([`response::read_response`], pure over `BufRead`)
//! and drops the connection. No keep-alive and no pooling: a listener makes a handful of
//! requests a minute, and a fresh connection is one less state to get wrong. Redirects are
//! never followed: the caller sees the 3xx (a health check must not be fooled by one).
//!
//! Time: every request has one deadline, [`Options::timeout`] from the start. Each socket read
//! and write is given the time left until then, so a server that trickles a byte at a time
//! cannot stretch a request past it. Connecting is also bounded by
//! [`Options::connect_timeout`]. Host name resolution (getaddrinfo) cannot be bounded from
//! std and is not; connecting to a Unix socket does not block.
//!
//! Size: the response header and body are bounded ([`Options::max_header`],
//! [`Options::max_body`]); a larger response is an error, never truncated silently.
//!
//! TLS is rustls with the ring provider, already compiled in for lettre: certificates are
//! verified against the system's store (rustls-native-certs, which honours `SSL_CERT_FILE` and
//! `SSL_CERT_DIR`) plus an optional CA file, and the host name is sent as SNI
//! (`src/http/tls.rs`, which also trusts a self-signed CA-marked certificate that is itself in
//! the store). The trust store is loaded on the first `https` request, so a client that only
//! talks to a Unix socket never reads it.
//!
//! Errors ([`HttpError`]) tell apart what a caller acts on differently: nothing listening
//! (refused, or no socket file), timeout, a certificate that could not be verified, other TLS
//! failures, a malformed or oversized response, other I/O.
//! Each message names the URL and says what to check.

pub mod response;
mod tls;

use std::fmt;
use std::io::{self, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use base64::Engine as _;
use rustls::pki_types::{CertificateDer, ServerName};

pub use response::{Limits, Response};
pub use tls::Trust;

use response::ParseError;

/// Where a request goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// Plain TCP. `host` is a name or an IP address (IPv6 without brackets).
    Http { host: String, port: u16 },
    /// TLS over TCP.
    Https { host: String, port: u16 },
    /// A Unix stream socket.
    Unix(PathBuf),
}

/// A parsed `http://host[:port][/path]`, `https://...` or `unix:///path/to.sock` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    address: Address,
    /// The request target for this URL: path and query, `/` if none (always `/` for unix).
    path: String,
    text: String,
}

impl Url {
    /// Parse `text`. Schemes: `http`, `https`, `unix` (case-insensitive). A fragment is
    /// dropped; user information (`user:pass@`) is refused, credentials are passed apart.
    pub fn parse(text: &str) -> Result<Url, HttpError> {
        let bad = |reason: &str| HttpError::BadUrl {
            url: text.to_owned(),
            reason: reason.to_owned(),
        };
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("it contains white space or control characters"));
        }
        let Some((scheme, rest)) = text.split_once("://") else {
            return Err(bad(
                "expected http://host:port, https://host:port or unix:///path",
            ));
        };
        let scheme = scheme.to_ascii_lowercase();
        if scheme == "unix" {
            if rest.is_empty() {
                return Err(bad(
                    "unix:// needs a socket path, as in unix:///run/supervisor.sock",
                ));
            }
            return Ok(Url {
                address: Address::Unix(PathBuf::from(rest)),
                path: "/".to_owned(),
                text: text.to_owned(),
            });
        }
        let tls = match scheme.as_str() {
            "http" => false,
            "https" => true,
            _ => return Err(bad("the scheme must be http, https or unix")),
        };
        let rest = rest.split('#').next().unwrap_or_default();
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(split);
        if authority.contains('@') {
            return Err(bad("user information in the URL is not supported"));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let Some((host, after)) = v6.split_once(']') else {
                return Err(bad("an IPv6 address needs its closing ]"));
            };
            (host, after.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(bad("no host name"));
        }
        let port = match port {
            None | Some("") => {
                if tls {
                    443
                } else {
                    80
                }
            }
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|&p| p != 0)
                .ok_or_else(|| bad("the port must be a number from 1 to 65535"))?,
        };
        let host = host.to_owned();
        let path = match path {
            "" => "/".to_owned(),
            p if p.starts_with('?') => format!("/{p}"),
            p => p.to_owned(),
        };
        Ok(Url {
            address: if tls {
                Address::Https { host, port }
            } else {
                Address::Http { host, port }
            },
            path,
            text: text.to_owned(),
        })
    }

    pub fn address(&self) -> &Address {
        &self.address
    }

    /// The request target the URL names (`/` when it names none).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The URL as given.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The `Host` header: `localhost` for a Unix socket (as supervisor's own client sends),
    /// else the host, bracketed if IPv6, with the port unless it is the scheme's default.
    fn host_header(&self) -> String {
        let (host, port, default) = match &self.address {
            Address::Unix(_) => return "localhost".to_owned(),
            Address::Http { host, port } => (host, *port, 80),
            Address::Https { host, port } => (host, *port, 443),
        };
        let host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.clone()
        };
        if port == default {
            host
        } else {
            format!("{host}:{port}")
        }
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// One request. Build with [`Request::get`] or [`Request::post`], then add to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<'a> {
    pub method: &'a str,
    /// The request target: path and query (`/RPC2`, `/health?full=1`).
    pub path: &'a str,
    /// Extra header fields. `Host`, `User-Agent`, `Connection`, `Content-Length` and
    /// `Authorization` (from [`Request::basic_auth`]) are written by the client.
    pub headers: Vec<(&'a str, &'a str)>,
    pub body: &'a [u8],
    pub basic_auth: Option<(&'a str, &'a str)>,
}

impl<'a> Request<'a> {
    pub fn get(path: &'a str) -> Request<'a> {
        Request {
            method: "GET",
            path,
            headers: Vec::new(),
            body: &[],
            basic_auth: None,
        }
    }

    pub fn post(path: &'a str, content_type: &'a str, body: &'a [u8]) -> Request<'a> {
        Request {
            method: "POST",
            path,
            headers: vec![("Content-Type", content_type)],
            body,
            basic_auth: None,
        }
    }

    pub fn header(mut self, name: &'a str, value: &'a str) -> Request<'a> {
        self.headers.push((name, value));
        self
    }

    pub fn basic_auth(mut self, user: &'a str, password: &'a str) -> Request<'a> {
        self.basic_auth = Some((user, password));
        self
    }

    /// The request's bytes up to the body. Refuses CR, LF and NUL in any part of it: they
    /// would let a configured value inject header lines.
    fn head(&self, url: &Url, user_agent: &str) -> Result<Vec<u8>, HttpError> {
        let mut fields = vec![
            ("Host".to_owned(), url.host_header()),
            ("User-Agent".to_owned(), user_agent.to_owned()),
        ];
        if let Some((user, password)) = self.basic_auth {
            let token =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            fields.push(("Authorization".to_owned(), format!("Basic {token}")));
        }
        for (name, value) in &self.headers {
            fields.push(((*name).to_owned(), (*value).to_owned()));
        }
        if !self.body.is_empty() || matches!(self.method, "POST" | "PUT" | "PATCH") {
            fields.push(("Content-Length".to_owned(), self.body.len().to_string()));
        }
        fields.push(("Connection".to_owned(), "close".to_owned()));

        let bad = |what: &str| HttpError::BadRequest {
            url: url.to_string(),
            reason: format!("{what} contains a line break or NUL"),
        };
        let unsafe_text = |s: &str| s.contains(['\r', '\n', '\0']);
        if self.method.is_empty() || self.method.contains(|c: char| !c.is_ascii_alphabetic()) {
            return Err(HttpError::BadRequest {
                url: url.to_string(),
                reason: format!("bad method {:?}", self.method),
            });
        }
        if unsafe_text(self.path) || self.path.contains(' ') || self.path.is_empty() {
            return Err(HttpError::BadRequest {
                url: url.to_string(),
                reason: format!("bad request target {:?}", self.path),
            });
        }
        let mut head = format!("{} {} HTTP/1.1\r\n", self.method, self.path);
        for (name, value) in fields {
            if unsafe_text(&name) || name.contains(':') || unsafe_text(&value) {
                return Err(bad(&format!("header {name:?}")));
            }
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        Ok(head.into_bytes())
    }
}

/// How a [`Client`] behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The most one connection attempt may take (each address of a host name gets the time
    /// left, up to this).
    pub connect_timeout: Duration,
    /// The whole request, from connecting to the last byte of the response.
    pub timeout: Duration,
    /// The most bytes of status line and header fields accepted.
    pub max_header: usize,
    /// The most body bytes accepted; a larger body is an error ([`HttpError::TooLarge`]).
    pub max_body: usize,
    /// PEM CA certificates trusted for `https` besides the system's.
    pub ca_file: Option<PathBuf>,
    pub user_agent: String,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(30),
            max_header: 64 * 1024,
            max_body: 16 * 1024 * 1024,
            ca_file: None,
            user_agent: concat!("superlance/", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }
}

/// Why a request failed. Every message names the URL.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("invalid URL {url:?}: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("cannot send a request to {url}: {reason}")]
    BadRequest { url: String, reason: String },
    #[error("cannot use the CA file {path}: {reason}")]
    CaFile { path: PathBuf, reason: String },
    /// Nothing listens at the address: the TCP port refused, or the Unix socket file is
    /// stale.
    #[error("{url}: connection refused (nothing listens there: is the server running?)")]
    Refused { url: String },
    /// The Unix socket file does not exist.
    #[error("{url}: no such socket file (is the server running, and is the path right?)")]
    NoSocket { url: String },
    /// `timeout`: the limit that ran out, [`Options::timeout`] or, while connecting,
    /// [`Options::connect_timeout`] if shorter.
    #[error("{url}: no answer within {} (is the server hung or overloaded, or does a firewall drop the packets?)", seconds(*.timeout))]
    Timeout { url: String, timeout: Duration },
    #[error("{url}: TLS: {reason}")]
    Tls { url: String, reason: String },
    /// The server's certificate could not be verified (untrusted, wrong name, expired), or
    /// there is nothing to verify it with: says nothing about the server's health.
    #[error("{url}: TLS: the server's certificate could not be verified: {reason}")]
    Certificate { url: String, reason: String },
    #[error("{url}: malformed HTTP response: {reason}")]
    Malformed { url: String, reason: String },
    #[error("{url}: the response {what} is larger than the limit of {limit} bytes; refused")]
    TooLarge {
        url: String,
        what: &'static str,
        limit: usize,
    },
    #[error("{url}: {during}: {source}")]
    Io {
        url: String,
        during: &'static str,
        source: io::Error,
    },
}

impl HttpError {
    /// Whether nothing was listening: the request never reached a server.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, HttpError::Refused { .. } | HttpError::NoSocket { .. })
    }

    /// Whether the server's certificate could not be verified: a server answered, but who it
    /// is, is not known.
    pub fn is_certificate(&self) -> bool {
        matches!(self, HttpError::Certificate { .. })
    }
}

/// `30 s`, `0.5 s`.
fn seconds(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// Sends requests; see the module documentation. Cheap to keep: the TLS trust store is loaded
/// once, on first use.
#[derive(Debug)]
pub struct Client {
    options: Options,
    extra_roots: Vec<CertificateDer<'static>>,
    tls: OnceLock<Result<tls::Tls, String>>,
}

impl Client {
    /// A client; reads and checks the CA file now, so that a bad one is reported at start.
    pub fn new(options: Options) -> Result<Client, HttpError> {
        let extra_roots = match &options.ca_file {
            Some(path) => tls::read_ca_file(path)?,
            None => Vec::new(),
        };
        Ok(Client {
            options,
            extra_roots,
            tls: OnceLock::new(),
        })
    }

    pub fn options(&self) -> &Options {
        &self.options
    }

    /// Load the TLS trust store now (else the first `https` request does) and say what it
    /// holds, for a start-up log; the error says why nothing at all is trusted.
    pub fn trust(&self) -> Result<Trust, String> {
        self.tls().map(|tls| tls.trust.clone())
    }

    fn tls(&self) -> Result<&tls::Tls, String> {
        self.tls
            .get_or_init(|| tls::build(&self.extra_roots))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Send `request` to `url`'s address and read the response, whatever its status.
    pub fn send(&self, url: &Url, request: &Request) -> Result<Response, HttpError> {
        let deadline = Instant::now() + self.options.timeout;
        let head = request.head(url, &self.options.user_agent)?;
        let stage = |during| {
            let url = url.to_string();
            let timeout = self.options.timeout;
            move |e: io::Error| classify(url, during, timeout, e)
        };
        let mut stream = self.connect(url, deadline)?;
        let mut message = head;
        message.extend_from_slice(request.body);
        stream
            .write_all(&message)
            .and_then(|()| stream.flush())
            .map_err(stage("sending the request"))?;
        let limits = Limits {
            max_header: self.options.max_header,
            max_body: self.options.max_body,
        };
        let mut reader = BufReader::new(stream);
        let head_request = request.method.eq_ignore_ascii_case("HEAD");
        response::read_response(&mut reader, limits, head_request).map_err(|e| match e {
            ParseError::Malformed(reason) => HttpError::Malformed {
                url: url.to_string(),
                reason,
            },
            ParseError::TooLarge { what, limit } => HttpError::TooLarge {
                url: url.to_string(),
                what,
                limit,
            },
            ParseError::Io(e) => stage("reading the response")(e),
        })
    }

    fn connect(&self, url: &Url, deadline: Instant) -> Result<Box<dyn Stream>, HttpError> {
        let timeout = self.options.timeout;
        let fail = |during| {
            let url = url.to_string();
            move |e: io::Error| classify(url, during, timeout, e)
        };
        match url.address() {
            Address::Unix(path) => {
                let socket = UnixStream::connect(path).map_err(|e| match e.kind() {
                    io::ErrorKind::NotFound => HttpError::NoSocket {
                        url: url.to_string(),
                    },
                    _ => fail("connecting")(e),
                })?;
                Ok(Box::new(Timed::new(socket, deadline)))
            }
            Address::Http { host, port } => {
                let socket = self.connect_tcp(url, host, *port, deadline)?;
                Ok(Box::new(Timed::new(socket, deadline)))
            }
            Address::Https { host, port } => {
                let config = self
                    .tls()
                    .map_err(|reason| HttpError::Certificate {
                        url: url.to_string(),
                        reason,
                    })?
                    .config
                    .clone();
                let name = ServerName::try_from(host.clone()).map_err(|e| HttpError::Tls {
                    url: url.to_string(),
                    reason: format!("{host:?} is not a valid server name: {e}"),
                })?;
                let session =
                    rustls::ClientConnection::new(config, name).map_err(|e| HttpError::Tls {
                        url: url.to_string(),
                        reason: e.to_string(),
                    })?;
                let socket = self.connect_tcp(url, host, *port, deadline)?;
                let mut stream = rustls::StreamOwned::new(session, Timed::new(socket, deadline));
                // The handshake now, so that its failure reads as a TLS error, not as a failed
                // write of the request.
                while stream.conn.is_handshaking() {
                    stream
                        .conn
                        .complete_io(&mut stream.sock)
                        .map_err(fail("TLS handshake"))?;
                }
                Ok(Box::new(stream))
            }
        }
    }

    fn connect_tcp(
        &self,
        url: &Url,
        host: &str,
        port: u16,
        deadline: Instant,
    ) -> Result<TcpStream, HttpError> {
        let timeout = self.options.connect_timeout.min(self.options.timeout);
        let addresses = (host, port).to_socket_addrs().map_err(|e| HttpError::Io {
            url: url.to_string(),
            during: "cannot resolve the host name",
            source: e,
        })?;
        let mut last = None;
        for address in addresses {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match TcpStream::connect_timeout(&address, left.min(self.options.connect_timeout)) {
                Ok(socket) => {
                    // Requests are written whole: no Nagle delay to wait for.
                    let _ = socket.set_nodelay(true);
                    return Ok(socket);
                }
                Err(e) => last = Some(e),
            }
        }
        let e = last.unwrap_or_else(|| io::Error::from(io::ErrorKind::TimedOut));
        Err(classify(url.to_string(), "connecting", timeout, e))
    }
}

/// An I/O error as the [`HttpError`] a caller acts on.
fn classify(url: String, during: &'static str, timeout: Duration, e: io::Error) -> HttpError {
    match e.kind() {
        // A socket timeout shows as WouldBlock (EAGAIN) on Linux; the deadline as TimedOut.
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => {
            return HttpError::Timeout { url, timeout }
        }
        io::ErrorKind::ConnectionRefused => return HttpError::Refused { url },
        _ => {}
    }
    if let Some(tls) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        return tls::classify(url, tls);
    }
    HttpError::Io {
        url,
        during,
        source: e,
    }
}

/// A connection: TCP, TLS over TCP, or a Unix socket.
trait Stream: Read + Write {}
impl<T: Read + Write> Stream for T {}

/// A socket whose per-operation timeout can be set.
trait Socket: Read + Write {
    fn set_timeouts(&self, timeout: Duration) -> io::Result<()>;
}

impl Socket for TcpStream {
    fn set_timeouts(&self, timeout: Duration) -> io::Result<()> {
        self.set_read_timeout(Some(timeout))?;
        self.set_write_timeout(Some(timeout))
    }
}

impl Socket for UnixStream {
    fn set_timeouts(&self, timeout: Duration) -> io::Result<()> {
        self.set_read_timeout(Some(timeout))?;
        self.set_write_timeout(Some(timeout))
    }
}

/// A socket held to one deadline: each read and write may take only the time left.
struct Timed<S> {
    socket: S,
    deadline: Instant,
}

impl<S: Socket> Timed<S> {
    fn new(socket: S, deadline: Instant) -> Timed<S> {
        Timed { socket, deadline }
    }

    fn arm(&self) -> io::Result<()> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::from(io::ErrorKind::TimedOut));
        }
        self.socket.set_timeouts(left)
    }
}

impl<S: Socket> Read for Timed<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.arm()?;
        self.socket.read(buf)
    }
}

impl<S: Socket> Write for Timed<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.arm()?;
        self.socket.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.socket.flush()
    }
}

/// Tests' servers (here and in src/rpc.rs): one HTTP request read off `socket`, headers and
/// the Content-Length body, as bytes.
#[cfg(test)]
pub(crate) fn read_test_request(socket: impl std::io::Read) -> Vec<u8> {
    use std::io::{BufRead, Read};
    let mut reader = std::io::BufReader::new(socket);
    let mut request = Vec::new();
    let mut length = 0;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap();
        }
        request.extend(line.as_bytes());
        if line == "\r\n" || line.is_empty() {
            break;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    request.extend(body);
    request
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::os::unix::net::UnixListener;
    use std::thread;

    fn options(timeout_ms: u64) -> Options {
        Options {
            timeout: Duration::from_millis(timeout_ms),
            ..Options::default()
        }
    }

    /// A one-connection server on 127.0.0.1: reads the request head (and a body of the
    /// Content-Length it announces), hands it to the test through the join handle, and
    /// answers `reply`.
    fn serve_once(reply: Vec<u8>) -> (Url, thread::JoinHandle<Vec<u8>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = Url::parse(&format!(
            "http://127.0.0.1:{}/",
            listener.local_addr().unwrap().port()
        ))
        .unwrap();
        let handle = thread::spawn(move || {
            let (socket, _) = listener.accept().unwrap();
            let request = read_test_request(&socket);
            (&socket).write_all(&reply).unwrap();
            request
        });
        (url, handle)
    }

    #[test]
    fn urls_parse() {
        let u = Url::parse("http://localhost:9001").unwrap();
        assert_eq!(
            u.address(),
            &Address::Http {
                host: "localhost".into(),
                port: 9001
            }
        );
        assert_eq!(
            (u.path(), u.host_header().as_str()),
            ("/", "localhost:9001")
        );
        let u = Url::parse("HTTPS://example.com/health?x=1#frag").unwrap();
        assert_eq!(
            u.address(),
            &Address::Https {
                host: "example.com".into(),
                port: 443
            }
        );
        assert_eq!(
            (u.path(), u.host_header().as_str()),
            ("/health?x=1", "example.com")
        );
        let u = Url::parse("http://[::1]:8080?q").unwrap();
        assert_eq!(
            u.address(),
            &Address::Http {
                host: "::1".into(),
                port: 8080
            }
        );
        assert_eq!((u.path(), u.host_header().as_str()), ("/?q", "[::1]:8080"));
        let u = Url::parse("unix:///run/supervisor.sock").unwrap();
        assert_eq!(u.address(), &Address::Unix("/run/supervisor.sock".into()));
        assert_eq!((u.path(), u.host_header().as_str()), ("/", "localhost"));
        assert_eq!(u.to_string(), "unix:///run/supervisor.sock");
        for bad in [
            "localhost:9001",
            "ftp://host/",
            "http://",
            "http://:80/",
            "http://host:0/",
            "http://host:99999/",
            "http://host:x/",
            "http://user:pw@host/",
            "http://[::1/",
            "http://host/a b",
            "unix://",
        ] {
            match Url::parse(bad) {
                Err(HttpError::BadUrl { url, .. }) => assert_eq!(url, bad),
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn request_bytes() {
        let (url, server) = serve_once(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_vec());
        let client = Client::new(options(5000)).unwrap();
        let request = Request::post("/RPC2", "text/xml", b"<x/>").basic_auth("user", "pass");
        let response = client.send(&url, &request).unwrap();
        assert_eq!(
            (response.status, response.body.as_slice()),
            (200, &b"ok"[..])
        );
        let port = url
            .as_str()
            .trim_start_matches("http://127.0.0.1:")
            .trim_end_matches('/');
        let sent = String::from_utf8(server.join().unwrap()).unwrap();
        assert_eq!(
            sent,
            format!(
                "POST /RPC2 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: superlance/{}\r\n\
                 Authorization: Basic dXNlcjpwYXNz\r\nContent-Type: text/xml\r\n\
                 Content-Length: 4\r\nConnection: close\r\n\r\n<x/>",
                env!("CARGO_PKG_VERSION")
            )
        );
    }

    #[test]
    fn header_injection_is_refused() {
        let client = Client::new(options(5000)).unwrap();
        let url = Url::parse("http://127.0.0.1:1/").unwrap();
        for request in [
            Request::get("/x\r\nEvil: 1"),
            Request::get("/").header("X-A", "1\r\nEvil: 1"),
            Request::get("/a b"),
            Request {
                method: "GET /",
                ..Request::get("/")
            },
        ] {
            assert!(
                matches!(
                    client.send(&url, &request),
                    Err(HttpError::BadRequest { .. })
                ),
                "{request:?}"
            );
        }
    }

    #[test]
    fn chunked_and_close_delimited_responses() {
        let client = Client::new(options(5000)).unwrap();
        let (url, _server) = serve_once(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
                .to_vec(),
        );
        assert_eq!(
            client.send(&url, &Request::get("/")).unwrap().body,
            b"abcde"
        );
        let (url, _server) = serve_once(b"HTTP/1.0 503 Busy\r\n\r\nuntil close".to_vec());
        let r = client.send(&url, &Request::get("/")).unwrap();
        assert_eq!((r.status, r.reason.as_str()), (503, "Busy"));
        assert_eq!(r.body, b"until close");
    }

    #[test]
    fn redirects_are_not_followed() {
        let client = Client::new(options(5000)).unwrap();
        let (url, _server) = serve_once(
            b"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:1/\r\nContent-Length: 0\r\n\r\n"
                .to_vec(),
        );
        let r = client.send(&url, &Request::get("/")).unwrap();
        assert_eq!(
            (r.status, r.header("location")),
            (302, Some("http://127.0.0.1:1/"))
        );
    }

    #[test]
    fn oversized_response_is_refused() {
        let client = Client::new(Options {
            max_body: 10,
            ..options(5000)
        })
        .unwrap();
        let (url, _server) = serve_once(b"HTTP/1.1 200 OK\r\n\r\n0123456789X".to_vec());
        let e = client.send(&url, &Request::get("/")).unwrap_err();
        assert!(
            matches!(
                e,
                HttpError::TooLarge {
                    what: "body",
                    limit: 10,
                    ..
                }
            ),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            format!("{url}: the response body is larger than the limit of 10 bytes; refused")
        );
    }

    #[test]
    fn malformed_response_names_the_url() {
        let client = Client::new(options(5000)).unwrap();
        let (url, _server) = serve_once(b"220 smtp.example.com ESMTP\r\n".to_vec());
        let e = client.send(&url, &Request::get("/")).unwrap_err();
        assert!(matches!(e, HttpError::Malformed { .. }), "{e:?}");
        assert!(
            e.to_string()
                .starts_with(&format!("{url}: malformed HTTP response: not an HTTP/1.x")),
            "{e}"
        );
    }

    #[test]
    fn a_server_that_never_answers_times_out() {
        // The kernel accepts the connection from the backlog; nobody ever reads or writes.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
        let client = Client::new(options(300)).unwrap();
        let started = Instant::now();
        let e = client.send(&url, &Request::get("/")).unwrap_err();
        assert!(matches!(e, HttpError::Timeout { .. }), "{e:?}");
        assert_eq!(
            e.to_string(),
            format!(
                "{url}: no answer within 0.3 s (is the server hung or overloaded, or does a \
                 firewall drop the packets?)"
            )
        );
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(300) && took < Duration::from_secs(2),
            "{took:?}"
        );
    }

    #[test]
    fn a_trickling_server_is_held_to_the_deadline() {
        // One byte every 50 ms: each read succeeds, the request as a whole must not.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
        let server = thread::spawn(move || {
            let (socket, _) = listener.accept().unwrap();
            let _ = read_test_request(&socket);
            for _ in 0..100 {
                if (&socket).write_all(b"H").is_err() {
                    break;
                }
                thread::sleep(Duration::from_millis(50));
            }
        });
        let client = Client::new(options(400)).unwrap();
        let started = Instant::now();
        let e = client.send(&url, &Request::get("/")).unwrap_err();
        assert!(matches!(e, HttpError::Timeout { .. }), "{e:?}");
        assert!(started.elapsed() < Duration::from_secs(2));
        drop(server);
    }

    #[test]
    fn refused_port() {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = Url::parse(&format!("http://127.0.0.1:{port}")).unwrap();
        let e = Client::new(options(5000))
            .unwrap()
            .send(&url, &Request::get("/"))
            .unwrap_err();
        assert!(
            matches!(e, HttpError::Refused { .. }) && e.is_unreachable(),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            format!(
                "http://127.0.0.1:{port}: connection refused (nothing listens there: is the \
                 server running?)"
            )
        );
    }

    #[test]
    fn unix_socket_request_and_missing_or_stale_sockets() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let server = thread::spawn(move || {
            let (socket, _) = listener.accept().unwrap();
            let request = read_test_request(&socket);
            (&socket)
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nyes")
                .unwrap();
            request
        });
        let url = Url::parse(&format!("unix://{}", path.display())).unwrap();
        let client = Client::new(options(5000)).unwrap();
        let r = client.send(&url, &Request::get("/RPC2")).unwrap();
        assert_eq!(r.body, b"yes");
        let sent = String::from_utf8(server.join().unwrap()).unwrap();
        assert!(
            sent.starts_with("GET /RPC2 HTTP/1.1\r\nHost: localhost\r\n"),
            "{sent}"
        );

        // The listener is gone, its file stays: refused.
        let e = client.send(&url, &Request::get("/")).unwrap_err();
        assert!(matches!(e, HttpError::Refused { .. }), "{e:?}");
        let missing = Url::parse(&format!("unix://{}/none.sock", dir.path().display())).unwrap();
        let e = client.send(&missing, &Request::get("/")).unwrap_err();
        assert!(
            matches!(e, HttpError::NoSocket { .. }) && e.is_unreachable(),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            format!(
                "{missing}: no such socket file (is the server running, and is the path right?)"
            )
        );
    }
}
