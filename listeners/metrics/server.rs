//! The HTTP side of the metrics listener: `GET /metrics` for Prometheus.
//!
//! Theory of operation. One accept thread hands each connection to a queue of
//! [`QUEUE`] places; [`WORKERS`] threads take them one at a time. A connection that finds the
//! queue full is closed at once. Each connection gets one request: its head (request line and
//! headers) must arrive within [`HEAD_DEADLINE`] and fit in [`MAX_HEAD`] bytes, the answer is
//! written with a [`WRITE_TIMEOUT`], and the connection is closed (`Connection: close`; a
//! scraper reconnects every interval anyway). So threads, sockets and buffers are bounded
//! whatever comes: a port scanner costs an accept and a close, a slowloris client holds one
//! worker for at most [`HEAD_DEADLINE`], and nothing here ever waits on the protocol loop: the
//! loop's state is read under its mutex only while the exposition is rendered, which takes
//! well under a millisecond per hundred programs.
//!
//! The request reader is ours, not the project's (src/http/ parses responses, the tests'
//! fixture server reads whole requests without limits): it needs a deadline for the whole
//! head, a size cap, and nothing of bodies, keep-alive or chunking.
//!
//! Answers: 200 for `GET`/`HEAD /metrics`, a short pointer for `/`, 400 for a request that is
//! not HTTP/1.x, 431 for a head over the cap, 404 for another path, 405 (with `Allow`) for
//! another method, 401 when basic auth is configured and the request lacks it.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::state::Format;

/// Connections waiting for a worker; more are closed at once.
pub const QUEUE: usize = 16;
/// Threads answering requests.
pub const WORKERS: usize = 2;
/// The request head (request line and headers) must fit in this.
pub const MAX_HEAD: usize = 8192;
/// ... and arrive within this, counted from the accept.
pub const HEAD_DEADLINE: Duration = Duration::from_secs(5);
/// A client that does not read its answer is dropped after this.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// The stack of each thread here: they parse a head and render text on the heap.
const STACK: usize = 256 * 1024;

/// What the server answers with: the exposition in a format, rendered on demand.
pub type Render = dyn Fn(Format) -> String + Send + Sync;

/// Basic auth credentials the requests must carry.
#[derive(Clone)]
pub struct Auth {
    pub user: String,
    pub password: String,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Auth {{ user: {:?}, password: <hidden> }}", self.user)
    }
}

/// Start the accept thread and the workers on `listener`; they run until the process ends.
pub fn spawn(listener: TcpListener, render: Arc<Render>, auth: Option<Auth>) -> io::Result<()> {
    let (tx, rx) = mpsc::sync_channel::<TcpStream>(QUEUE);
    let rx = Arc::new(Mutex::new(rx));
    let auth = Arc::new(auth);
    for i in 0..WORKERS {
        let rx = Arc::clone(&rx);
        let render = Arc::clone(&render);
        let auth = Arc::clone(&auth);
        std::thread::Builder::new()
            .name(format!("metrics http {i}"))
            .stack_size(STACK)
            .spawn(move || worker(&rx, &*render, auth.as_ref().as_ref()))?;
    }
    std::thread::Builder::new()
        .name("metrics accept".into())
        .stack_size(STACK)
        .spawn(move || accept(&listener, &tx))?;
    Ok(())
}

fn accept(listener: &TcpListener, tx: &SyncSender<TcpStream>) {
    let mut said_full = false;
    loop {
        match listener.accept() {
            Ok((stream, _)) => match tx.try_send(stream) {
                Ok(()) => said_full = false,
                Err(TrySendError::Full(stream)) => {
                    if !said_full {
                        log::warn!("metrics: {QUEUE} connections are waiting for an answer; closing new ones until they are served (a flood or slow clients?)");
                        said_full = true;
                    }
                    drop(stream);
                }
                Err(TrySendError::Disconnected(_)) => return,
            },
            // Out of file descriptors, or a connection reset before we took it: pause, so as
            // not to spin, and go on.
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

fn worker(rx: &Mutex<Receiver<TcpStream>>, render: &Render, auth: Option<&Auth>) {
    loop {
        let stream = {
            let rx = rx.lock().unwrap_or_else(|p| p.into_inner());
            rx.recv()
        };
        let Ok(stream) = stream else { return };
        // Errors here are the client's (gone, too slow): nothing to tell anyone.
        let _ = serve(stream, render, auth);
    }
}

/// A parsed request head: what we look at.
#[derive(Debug, PartialEq, Eq)]
pub struct Head<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub accept: Option<&'a str>,
    pub authorization: Option<&'a str>,
}

/// Parse a request head (without the blank line). `None`: not an HTTP/1.x request.
pub fn parse_head(head: &[u8]) -> Option<Head<'_>> {
    let text = std::str::from_utf8(head).ok()?;
    let mut lines = text.split("\r\n");
    let mut request = lines.next()?.split(' ');
    let (method, target, version) = (request.next()?, request.next()?, request.next()?);
    if request.next().is_some()
        || method.is_empty()
        || !method.bytes().all(|b| b.is_ascii_uppercase())
        || !target.starts_with('/')
        || !matches!(version, "HTTP/1.0" | "HTTP/1.1")
    {
        return None;
    }
    let path = target.split('?').next().unwrap_or(target);
    let mut out = Head {
        method,
        path,
        accept: None,
        authorization: None,
    };
    for line in lines {
        let (name, value) = line.split_once(':')?;
        if name.is_empty() || name.bytes().any(|b| b.is_ascii_whitespace()) {
            return None;
        }
        let value = value.trim();
        if name.eq_ignore_ascii_case("accept") {
            out.accept = Some(value);
        } else if name.eq_ignore_ascii_case("authorization") {
            out.authorization = Some(value);
        }
    }
    Some(out)
}

/// Whether `authorization` (the header's value) carries `auth`'s user and password.
pub fn authorized(authorization: Option<&str>, auth: &Auth) -> bool {
    use base64::Engine as _;
    let Some(encoded) = authorization.and_then(|a| {
        let (scheme, rest) = a.split_once(' ')?;
        scheme.eq_ignore_ascii_case("basic").then_some(rest.trim())
    }) else {
        return false;
    };
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded) else {
        return false;
    };
    let mut want = Vec::with_capacity(auth.user.len() + 1 + auth.password.len());
    want.extend_from_slice(auth.user.as_bytes());
    want.push(b':');
    want.extend_from_slice(auth.password.as_bytes());
    // Compared in full whatever the first difference, so that the time taken says nothing
    // about how much of a guess was right.
    decoded.len() == want.len()
        && decoded
            .iter()
            .zip(&want)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// Read the head: up to the blank line, within the deadline and the cap.
fn read_head(stream: &mut TcpStream, buf: &mut [u8]) -> Result<usize, Status> {
    let deadline = Instant::now() + HEAD_DEADLINE;
    let mut len = 0;
    loop {
        if let Some(end) = find_blank_line(&buf[..len]) {
            return Ok(end);
        }
        // Garbage (a TLS hello, a scanner's probe) is answered as soon as it shows, not after
        // the deadline.
        if !plausible_start(&buf[..len]) {
            return Err(Status::BadRequest);
        }
        if len == buf.len() {
            return Err(Status::TooLarge);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Status::Gone);
        }
        stream
            .set_read_timeout(Some(left))
            .map_err(|_| Status::Gone)?;
        match stream.read(&mut buf[len..]) {
            Ok(0) | Err(_) => return Err(Status::Gone),
            Ok(n) => len += n,
        }
    }
}

/// Whether `b` can still become a request head: a method of capitals and a space, and a
/// first line that parses once it is complete.
fn plausible_start(b: &[u8]) -> bool {
    let method_len = b.iter().take_while(|c| c.is_ascii_uppercase()).count();
    if method_len < b.len() && (method_len == 0 || b[method_len] != b' ') {
        return false;
    }
    match b.windows(2).position(|w| w == b"\r\n") {
        Some(end) => parse_head(&b[..end]).is_some(),
        None => true,
    }
}

fn find_blank_line(b: &[u8]) -> Option<usize> {
    b.windows(4).position(|w| w == b"\r\n\r\n")
}

/// Why a request gets no 200.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    BadRequest,
    Unauthorized,
    NotFound,
    MethodNotAllowed,
    TooLarge,
    /// The client went away or was too slow: no answer.
    Gone,
}

fn serve(mut stream: TcpStream, render: &Render, auth: Option<&Auth>) -> io::Result<()> {
    stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
    let mut buf = [0u8; MAX_HEAD];
    let answer = match read_head(&mut stream, &mut buf) {
        Ok(end) => route(&buf[..end], render, auth),
        Err(status) => Err(status),
    };
    let (code, reason, extra, content_type, body, head_only) = match answer {
        Ok((format, body, head_only)) => (200, "OK", "", format.content_type(), body, head_only),
        Err(Status::Gone) => return Ok(()),
        Err(s) => {
            let (code, reason, extra) = match s {
                Status::BadRequest => (400, "Bad Request", ""),
                Status::Unauthorized => (
                    401,
                    "Unauthorized",
                    "WWW-Authenticate: Basic realm=\"superlance metrics\", charset=\"UTF-8\"\r\n",
                ),
                Status::NotFound => (404, "Not Found", ""),
                Status::MethodNotAllowed => (405, "Method Not Allowed", "Allow: GET, HEAD\r\n"),
                Status::TooLarge => (431, "Request Header Fields Too Large", ""),
                Status::Gone => return Ok(()),
            };
            (
                code,
                reason,
                extra,
                "text/plain; charset=utf-8",
                format!("{code} {reason}\n"),
                false,
            )
        }
    };
    let head = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    if !head_only {
        stream.write_all(body.as_bytes())?;
    }
    stream.flush()?;
    // Half-close, then let the client read the rest: closing with unread request bytes would
    // make the kernel send a reset that may destroy the answer in flight.
    let _ = stream.shutdown(std::net::Shutdown::Write);
    drain(&mut stream);
    Ok(())
}

/// Read and drop what the client still sends (the rest of an oversized head, a body), for
/// at most [`DRAIN`] and [`MAX_DRAIN`] bytes, so that closing does not reset the connection
/// before the client has read our answer.
fn drain(stream: &mut TcpStream) {
    let deadline = Instant::now() + DRAIN;
    let mut sink = [0u8; 4096];
    let mut total = 0;
    while total < MAX_DRAIN {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return;
        }
        match stream.read(&mut sink) {
            Ok(0) | Err(_) => return,
            Ok(n) => total += n,
        }
    }
}

/// How long, and how much, [`drain`] reads after the answer.
const DRAIN: Duration = Duration::from_millis(200);
const MAX_DRAIN: usize = 64 * 1024;

/// The answer to a well-read head: (format, body, HEAD request) or a status.
fn route(
    head: &[u8],
    render: &Render,
    auth: Option<&Auth>,
) -> Result<(Format, String, bool), Status> {
    let h = parse_head(head).ok_or(Status::BadRequest)?;
    let head_only = match h.method {
        "GET" => false,
        "HEAD" => true,
        _ => return Err(Status::MethodNotAllowed),
    };
    if let Some(auth) = auth {
        if !authorized(h.authorization, auth) {
            return Err(Status::Unauthorized);
        }
    }
    match h.path {
        "/metrics" => {
            let format = Format::from_accept(h.accept);
            Ok((format, render(format), head_only))
        }
        "/" => Ok((
            Format::Text,
            "superlance metrics: the metrics are at /metrics\n".to_owned(),
            head_only,
        )),
        _ => Err(Status::NotFound),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_are_parsed_and_garbage_refused() {
        let h = parse_head(b"GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\naccept: application/openmetrics-text\r\nAuthorization: Basic eDp5").unwrap();
        assert_eq!(
            h,
            Head {
                method: "GET",
                path: "/metrics",
                accept: Some("application/openmetrics-text"),
                authorization: Some("Basic eDp5"),
            }
        );
        for bad in [
            &b""[..],
            b"\x16\x03\x01\x02\x00",
            b"GET /metrics",
            b"GET metrics HTTP/1.1",
            b"GET /metrics HTTP/2.0",
            b"get /metrics HTTP/1.1",
            b"GET /metrics HTTP/1.1 extra",
            b"GET /metrics HTTP/1.1\r\nno colon here",
            b"GET /metrics HTTP/1.1\r\nBad Name: x",
            b"GET /\xff HTTP/1.1",
        ] {
            assert_eq!(parse_head(bad), None, "{}", bad.escape_ascii());
        }
    }

    #[test]
    fn basic_auth() {
        let auth = Auth {
            user: "prom".into(),
            password: "s3cr:et".into(),
        };
        // base64("prom:s3cr:et")
        assert!(authorized(Some("Basic cHJvbTpzM2NyOmV0"), &auth));
        assert!(authorized(Some("basic  cHJvbTpzM2NyOmV0"), &auth));
        assert!(!authorized(Some("Basic cHJvbTpzM2NyOmV1"), &auth));
        assert!(!authorized(Some("Bearer cHJvbTpzM2NyOmV0"), &auth));
        assert!(!authorized(Some("Basic !!!"), &auth));
        assert!(!authorized(None, &auth));
    }

    fn request(port: u16, raw: &[u8]) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(raw).unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn answers_over_tcp() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let render: Arc<Render> = Arc::new(|f: Format| format!("m 1\n{f:?}\n"));
        spawn(l, render, None).unwrap();
        let ok = request(port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
        assert!(ok.contains("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
        assert!(ok.ends_with("\r\n\r\nm 1\nText\n"), "{ok}");
        let om = request(
            port,
            b"GET /metrics HTTP/1.1\r\nAccept: application/openmetrics-text; version=1.0.0\r\n\r\n",
        );
        assert!(om.ends_with("OpenMetrics\n"), "{om}");
        let head = request(port, b"HEAD /metrics HTTP/1.0\r\n\r\n");
        assert!(
            head.starts_with("HTTP/1.1 200 OK\r\n") && head.ends_with("\r\n\r\n"),
            "{head}"
        );
        for (raw, status) in [
            (&b"POST /metrics HTTP/1.1\r\n\r\n"[..], "405"),
            (b"GET /nope HTTP/1.1\r\n\r\n", "404"),
            (b"garbage\r\n\r\n", "400"),
        ] {
            let r = request(port, raw);
            assert!(r.starts_with(&format!("HTTP/1.1 {status} ")), "{r}");
        }
        let big = [b'A'; MAX_HEAD + 10];
        let r = request(port, &big);
        assert!(r.starts_with("HTTP/1.1 431 "), "{r}");
    }

    #[test]
    fn auth_is_required_when_configured() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let render: Arc<Render> = Arc::new(|_| "m 1\n".to_owned());
        let auth = Auth {
            user: "prom".into(),
            password: "s3cr:et".into(),
        };
        spawn(l, render, Some(auth)).unwrap();
        let r = request(port, b"GET /metrics HTTP/1.1\r\n\r\n");
        assert!(
            r.starts_with("HTTP/1.1 401 ") && r.contains("WWW-Authenticate: Basic"),
            "{r}"
        );
        let r = request(
            port,
            b"GET /metrics HTTP/1.1\r\nAuthorization: Basic cHJvbTpzM2NyOmV0\r\n\r\n",
        );
        assert!(r.starts_with("HTTP/1.1 200 "), "{r}");
    }
}
