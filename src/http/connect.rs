//! Connections: a Unix socket, TCP, or TLS over TCP, each held to the request's one deadline
//! ([`Timed`]), and the I/O errors met on them as the [`HttpError`] a caller acts on.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;

use super::{tls, Address, Client, HttpError, Url};

impl Client {
    pub(super) fn connect(
        &self,
        url: &Url,
        deadline: Instant,
    ) -> Result<Box<dyn Stream>, HttpError> {
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
