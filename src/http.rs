//! A small blocking HTTP/1.1 client: one request per connection, over TCP, TLS or a Unix
//! socket. Three users: the supervisord XML-RPC client ([`crate::rpc`]), which must speak HTTP
//! over supervisord's Unix socket (no maintained Rust HTTP client does that without an async
//! runtime), httpok's health checks (`http://`, `https://`), and the notification channels
//! of issue 12 (webhook, Slack, Discord, Teams, Telegram, ntfy, Alertmanager), which POST
//! through [`post::deliver`].
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
//! Proxies ([`Options::proxy`], none by default; [`proxy`] says which requests take one):
//! `http` is sent to the proxy with the absolute URL as its target, `https` goes through a
//! CONNECT tunnel and then TLS with the server itself, verified as without a proxy.
//!
//! Errors ([`HttpError`]) tell apart what a caller acts on differently: nothing listening
//! (refused, or no socket file), timeout, a certificate that could not be verified, other TLS
//! failures, a proxy that refused the tunnel, a malformed or oversized response, other I/O.
//! Each message names the URL (only its origin when it was parsed as a secret, see [`url`]),
//! the proxy if one was used, and says what to check.
//!
//! The parts: [`url`] (what a URL names), [`request`] (the bytes we send), `connect` (sockets,
//! proxies, TLS and the deadline), [`response`] (the bytes we read), `tls` (what is trusted),
//! [`proxy`] (which proxy), [`post`] (a notification's POST and what its answer means).

mod connect;
pub mod post;
pub mod proxy;
pub mod request;
pub mod response;
mod tls;
pub mod url;

use std::io::{self, BufReader, Write};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use rustls::pki_types::CertificateDer;

pub use post::{deliver, Post, PostError};
pub use proxy::{Proxies, Proxy};
pub use request::Request;
pub use response::{Limits, Response};
pub use tls::Trust;
pub use url::{Address, Url};

use connect::classify;
use response::ParseError;

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
    /// Which requests go through a proxy; none by default ([`Proxies::from_env`] reads
    /// `--proxy` and the environment, for the notification channels).
    pub proxy: Proxies,
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
            proxy: Proxies::none(),
        }
    }
}

/// Why a request failed. Every message names the URL (its origin only if secret).
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
    /// The proxy would not open a tunnel to the server: it answered CONNECT with `status`.
    #[error("{url}: the proxy refused to connect to the server: {status} {reason}{}", proxy_hint(*.status))]
    Proxy {
        url: String,
        status: u16,
        reason: String,
    },
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

/// What to check when a proxy refuses a tunnel.
fn proxy_hint(status: u16) -> &'static str {
    match status {
        407 => {
            " (the proxy wants credentials: give them in the proxy URL, \
                http://user:password@host:port)"
        }
        403 => {
            " (the proxy does not allow this server or port: ask its administrator, or \
                list the server in NO_PROXY)"
        }
        _ => " (can the proxy reach the server?)",
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
        let proxy = self.options.proxy.for_url(url);
        // What errors name: the URL (only its origin if secret), and the proxy if any.
        let label = match proxy {
            Some(p) => format!("{url} (through the proxy {p})"),
            None => url.to_string(),
        };
        let head = request.head(url, &self.options.user_agent, proxy)?;
        let stage = |during| {
            let label = label.clone();
            let timeout = self.options.timeout;
            move |e: io::Error| classify(label, during, timeout, e)
        };
        let mut stream = self.connect(url, proxy, &label, deadline)?;
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
            ParseError::Io(e) => stage("reading the response")(e),
            other => connect::parse_error(&label, other),
        })
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
