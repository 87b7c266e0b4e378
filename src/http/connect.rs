//! Connections: a Unix socket, TCP, or TLS over TCP, each held to the request's one deadline
//! ([`Timed`]), directly or through an HTTP proxy (a CONNECT tunnel for `https`), and the I/O
//! errors met on them as the [`HttpError`] a caller acts on.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;

use super::response::{self, Limits, ParseError};
use super::{tls, Address, Client, HttpError, Proxy, Url};

impl Client {
    /// A connection for a request to `url`, through `proxy` if given; `label` names the
    /// request in errors.
    pub(super) fn connect(
        &self,
        url: &Url,
        proxy: Option<&Proxy>,
        label: &str,
        deadline: Instant,
    ) -> Result<Box<dyn Stream>, HttpError> {
        let timeout = self.options.timeout;
        let fail = |during| {
            let label = label.to_owned();
            move |e: io::Error| classify(label, during, timeout, e)
        };
        match url.address() {
            Address::Unix(path) => {
                let socket = UnixStream::connect(path).map_err(|e| match e.kind() {
                    io::ErrorKind::NotFound => HttpError::NoSocket {
                        url: label.to_owned(),
                    },
                    _ => fail("connecting")(e),
                })?;
                Ok(Box::new(Timed::new(socket, deadline)))
            }
            Address::Http { host, port } => {
                // Through a proxy, the request itself names the server (its absolute URL).
                let socket = match proxy {
                    Some(p) => self.connect_tcp(label, p.host(), p.port(), deadline)?,
                    None => self.connect_tcp(label, host, *port, deadline)?,
                };
                Ok(Box::new(Timed::new(socket, deadline)))
            }
            Address::Https { host, port } => {
                let config = self
                    .tls()
                    .map_err(|reason| HttpError::Certificate {
                        url: label.to_owned(),
                        reason,
                    })?
                    .config
                    .clone();
                let name = ServerName::try_from(host.clone()).map_err(|e| HttpError::Tls {
                    url: label.to_owned(),
                    reason: format!("{host:?} is not a valid server name: {e}"),
                })?;
                let session =
                    rustls::ClientConnection::new(config, name).map_err(|e| HttpError::Tls {
                        url: label.to_owned(),
                        reason: e.to_string(),
                    })?;
                // Through a proxy: a tunnel to the server, then TLS with the server itself
                // (verified, SNI: the proxy sees only the host name and encrypted bytes).
                let socket = match proxy {
                    Some(p) => self.tunnel(label, p, host, *port, deadline)?,
                    None => self.connect_tcp(label, host, *port, deadline)?,
                };
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

    /// A TCP connection through `proxy` to `host:port` (RFC 9110 §9.3.6 CONNECT), ready for
    /// the TLS handshake with the server.
    fn tunnel(
        &self,
        label: &str,
        proxy: &Proxy,
        host: &str,
        port: u16,
        deadline: Instant,
    ) -> Result<TcpStream, HttpError> {
        let socket = self.connect_tcp(label, proxy.host(), proxy.port(), deadline)?;
        let fail = |during| {
            let label = label.to_owned();
            let timeout = self.options.timeout;
            move |e: io::Error| classify(label, during, timeout, e)
        };
        let authority = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        // The user agent is checked when the request's own head is made; these values come
        // from parsed URLs (no white space or control characters) and base64.
        let user_agent = self.options.user_agent.replace(['\r', '\n', '\0'], " ");
        let mut head = format!(
            "CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: {user_agent}\r\n"
        );
        if let Some(credentials) = proxy.authorization() {
            head.push_str(&format!("Proxy-Authorization: {credentials}\r\n"));
        }
        head.push_str("\r\n");
        let mut timed = Timed::new(socket, deadline);
        timed
            .write_all(head.as_bytes())
            .and_then(|()| timed.flush())
            .map_err(fail("asking the proxy for a tunnel"))?;
        let reply = read_head(&mut timed, self.options.max_header).map_err(|e| match e {
            ParseError::Io(e) => fail("reading the proxy's answer")(e),
            other => parse_error(label, other),
        })?;
        let limits = Limits {
            max_header: self.options.max_header,
            max_body: 0,
        };
        // A 2xx answer to CONNECT has no body (RFC 9110 §9.3.6): the tunnel starts after the
        // header, which `read_head` did not read past.
        let answer = response::read_response(&mut &reply[..], limits, true)
            .map_err(|e| parse_error(label, e))?;
        if !(200..300).contains(&answer.status) {
            return Err(HttpError::Proxy {
                url: label.to_owned(),
                status: answer.status,
                reason: answer.reason,
            });
        }
        Ok(timed.socket)
    }

    fn connect_tcp(
        &self,
        label: &str,
        host: &str,
        port: u16,
        deadline: Instant,
    ) -> Result<TcpStream, HttpError> {
        let timeout = self.options.connect_timeout.min(self.options.timeout);
        let addresses = (host, port).to_socket_addrs().map_err(|e| HttpError::Io {
            url: label.to_owned(),
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
        Err(classify(label.to_owned(), "connecting", timeout, e))
    }
}

/// A response header, read a byte at a time up to its empty line and not one byte further
/// (what follows a proxy's answer to CONNECT is the server's).
pub(super) fn read_head(reader: &mut impl Read, limit: usize) -> Result<Vec<u8>, ParseError> {
    let mut head = Vec::new();
    let mut byte = [0; 1];
    while !(head.ends_with(b"\r\n\r\n") || head.ends_with(b"\n\n")) {
        if head.len() >= limit {
            return Err(ParseError::TooLarge {
                what: "header",
                limit,
            });
        }
        if reader.read(&mut byte)? == 0 {
            return Err(ParseError::Malformed(
                "the proxy closed the connection before it answered CONNECT".to_owned(),
            ));
        }
        head.push(byte[0]);
    }
    Ok(head)
}

/// A response that could not be read, as the [`HttpError`] that names `label`.
pub(super) fn parse_error(label: &str, e: ParseError) -> HttpError {
    match e {
        ParseError::Malformed(reason) => HttpError::Malformed {
            url: label.to_owned(),
            reason,
        },
        ParseError::TooLarge { what, limit } => HttpError::TooLarge {
            url: label.to_owned(),
            what,
            limit,
        },
        ParseError::Io(e) => HttpError::Io {
            url: label.to_owned(),
            during: "reading the response",
            source: e,
        },
    }
}

/// An I/O error as the [`HttpError`] a caller acts on.
pub(super) fn classify(
    url: String,
    during: &'static str,
    timeout: Duration,
    e: io::Error,
) -> HttpError {
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
pub(super) trait Stream: Read + Write {}
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
