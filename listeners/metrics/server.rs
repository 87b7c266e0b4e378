//! The HTTP side of the metrics listener: `GET /metrics` for Prometheus.
//!
//! Theory of operation. One thread serves every connection, with non-blocking sockets and
//! poll(2): at most [`CONNECTIONS`] are open at once, and one that finds them all taken is
//! closed at once (counted: `supervisor_listener_http_connections_refused_total`). Each
//! connection gets one request: its head (request line and headers) must arrive within
//! [`HEAD_DEADLINE`] and fit in [`MAX_HEAD`] bytes, the answer must be taken within
//! [`WRITE_TIMEOUT`], and the connection is closed (`Connection: close`; a scraper reconnects
//! every interval anyway). At most [`IN_FLIGHT`] rendered expositions are held at once; a
//! request for one more waits for a place. So threads, sockets and buffers are bounded
//! whatever comes: a port scanner costs an accept and a close, a slowloris client holds one of
//! the [`CONNECTIONS`] places (not a thread) for at most [`HEAD_DEADLINE`] while the others are
//! served, and nothing here ever waits on the protocol loop: the loop's state is read under
//! its mutex only while the exposition is rendered, which takes well under a millisecond per
//! hundred programs.
//!
//! Why one thread and not an accept thread with workers (the first design): each thread costs
//! its stack, its malloc arena and the pages of code that start and park it, which put the
//! listener's resident memory over the 4 MB of issue 14 (docs/performance.md, "metrics"); and
//! a slow client no longer holds a whole worker.
//!
//! The request reader is ours, not the project's (src/http/ parses responses, the tests'
//! fixture server reads whole requests without limits): it needs a deadline for the whole
//! head, a size cap, and nothing of bodies, keep-alive or chunking.
//!
//! Answers: 200 for `GET`/`HEAD /metrics`, a short pointer for `/`, 400 for a request that is
//! not HTTP/1.x, 431 for a head over the cap, 404 for another path, 405 (with `Allow`) for
//! another method, 401 when basic auth is configured and the request lacks it.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::exposition::Format;

/// Connections open at once; more are closed at once.
pub const CONNECTIONS: usize = 16;
/// Rendered expositions held at once (each is the whole answer: ~600 KiB at 500 programs).
pub const IN_FLIGHT: usize = 2;
/// The request head (request line and headers) must fit in this.
pub const MAX_HEAD: usize = 8192;
/// ... and arrive within this, counted from the accept.
pub const HEAD_DEADLINE: Duration = Duration::from_secs(5);
/// A client that does not read its answer is dropped after this (also the longest wait for a
/// place among the [`IN_FLIGHT`]).
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// After the answer, what the client still sends is read and dropped for this long, and this
/// much, so that closing does not reset the connection before the client has read the answer.
const DRAIN: Duration = Duration::from_millis(200);
const MAX_DRAIN: usize = 64 * 1024;
/// The thread's stack: it parses heads and renders text on the heap.
const STACK: usize = 128 * 1024;

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

/// The status codes answered, in the order of [`HttpFigures::answers`].
pub const CODES: [u16; 6] = [200, 400, 401, 404, 405, 431];

/// The server's own figures, exported with the rest (docs/metrics.md).
#[derive(Debug, Default)]
pub struct HttpFigures {
    /// Answers by [`CODES`].
    pub answers: [AtomicU64; 6],
    /// Connections closed at once: every place was taken.
    pub refused: AtomicU64,
}

impl HttpFigures {
    fn answered(&self, code: u16) {
        if let Some(i) = CODES.iter().position(|&c| c == code) {
            self.answers[i].fetch_add(1, Relaxed);
        }
    }
}

/// Start the server's thread on `listener`; it runs until the process ends.
pub fn spawn(
    listener: TcpListener,
    render: Arc<Render>,
    auth: Option<Auth>,
    figures: Arc<HttpFigures>,
) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    // Built here, not on the thread: a thread's first allocation gives it a malloc arena of
    // its own, which the server then needs only once a request comes.
    let server = Server {
        listener,
        render,
        auth,
        figures,
        conns: Vec::with_capacity(CONNECTIONS),
        fds: Vec::with_capacity(CONNECTIONS + 1),
        said_full: false,
    };
    std::thread::Builder::new()
        .name("metrics http".into())
        .stack_size(STACK)
        .spawn(move || server.run())?;
    Ok(())
}

/// Where a connection is.
enum Phase {
    /// Reading the head.
    Head(Vec<u8>),
    /// A well-read head asking for the exposition, waiting for a place among the
    /// [`IN_FLIGHT`]: (format, HEAD request).
    Waiting(Format, bool),
    /// Writing the answer from `pos`; `big`: it holds an exposition.
    Write { out: Vec<u8>, pos: usize, big: bool },
    /// Answered, half-closed: reading what the client still sends.
    Drain(usize),
}

struct Conn {
    stream: TcpStream,
    phase: Phase,
    /// When the phase must be over; past it the connection is closed without a word.
    deadline: Instant,
}

struct Server {
    listener: TcpListener,
    render: Arc<Render>,
    auth: Option<Auth>,
    figures: Arc<HttpFigures>,
    conns: Vec<Conn>,
    /// poll(2)'s array: the listener, then one per connection.
    fds: Vec<libc::pollfd>,
    said_full: bool,
}

impl Server {
    fn run(mut self) {
        let mut fds = std::mem::take(&mut self.fds);
        loop {
            let now = Instant::now();
            self.conns.retain(|c| c.deadline > now);
            self.start_waiting(now);
            fds.clear();
            fds.push(pollfd(self.listener.as_raw_fd(), libc::POLLIN));
            for c in &self.conns {
                let events = match c.phase {
                    Phase::Head(_) | Phase::Drain(_) => libc::POLLIN,
                    Phase::Write { .. } => libc::POLLOUT,
                    Phase::Waiting(..) => 0,
                };
                fds.push(pollfd(c.stream.as_raw_fd(), events));
            }
            let timeout = self.conns.iter().map(|c| c.deadline).min().map_or(-1, |d| {
                let ms = d.saturating_duration_since(now).as_millis() + 1;
                i32::try_from(ms).unwrap_or(i32::MAX)
            });
            // SAFETY: `fds` is a valid array of `fds.len()` pollfd structures for the call.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
            if n < 0 {
                if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                // Cannot happen with valid arguments; do not spin if it does.
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
            // Connections first (their indexes are those of `fds` less one), last to first so
            // that closing one does not move those still to be looked at.
            for i in (0..self.conns.len()).rev() {
                let ready = fds.get(i + 1).map_or(0, |f| f.revents);
                // A connection waiting for a place asks poll for nothing, but hears of a reset
                // all the same: closed now, or poll would return at once until its deadline.
                let broken = ready & (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) != 0
                    && self
                        .conns
                        .get(i)
                        .is_some_and(|c| matches!(c.phase, Phase::Waiting(..)));
                if ready != 0 && (broken || !self.advance(i)) {
                    self.conns.swap_remove(i);
                }
            }
            if fds.first().is_some_and(|f| f.revents != 0) {
                self.accept();
            }
        }
    }

    fn accept(&mut self) {
        loop {
            match self.listener.accept() {
                Ok((stream, _)) => {
                    if self.conns.len() >= CONNECTIONS {
                        self.figures.refused.fetch_add(1, Relaxed);
                        if !self.said_full {
                            log::warn!("metrics: {CONNECTIONS} connections are open; closing new ones until they are served (a flood or slow clients?)");
                            self.said_full = true;
                        }
                        continue; // dropped: closed
                    }
                    self.said_full = false;
                    if stream.set_nonblocking(true).is_ok() {
                        self.conns.push(Conn {
                            stream,
                            phase: Phase::Head(Vec::new()),
                            deadline: Instant::now() + HEAD_DEADLINE,
                        });
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // Out of file descriptors, or a connection reset before we took it: pause,
                // so as not to spin, and go on.
                Err(_) => {
                    std::thread::sleep(Duration::from_millis(20));
                    return;
                }
            }
        }
    }

    /// Render the exposition for connections waiting for a place, while there is one.
    fn start_waiting(&mut self, now: Instant) {
        let mut busy = self
            .conns
            .iter()
            .filter(|c| matches!(c.phase, Phase::Write { big: true, .. }))
            .count();
        for c in &mut self.conns {
            if busy >= IN_FLIGHT {
                return;
            }
            if let Phase::Waiting(format, head_only) = c.phase {
                let body = (self.render)(format);
                self.figures.answered(200);
                c.phase = answer(200, "OK", "", format.content_type(), &body, head_only, true);
                c.deadline = now + WRITE_TIMEOUT;
                busy += 1;
            }
        }
    }

    /// Go on with connection `i`, which poll says is ready; false: close it.
    fn advance(&mut self, i: usize) -> bool {
        let Some(c) = self.conns.get_mut(i) else {
            return false;
        };
        match &mut c.phase {
            Phase::Head(buf) => {
                let status = match read_head(&mut c.stream, buf) {
                    Read_::More => return true,
                    Read_::Gone => return false,
                    Read_::Done(end) => route(&buf[..end], self.auth.as_ref()),
                    Read_::Bad(status) => Err(status),
                };
                let now = Instant::now();
                c.deadline = now + WRITE_TIMEOUT;
                c.phase = match status {
                    Ok(Route::Metrics(format, head_only)) => Phase::Waiting(format, head_only),
                    Ok(Route::Index(head_only)) => {
                        self.figures.answered(200);
                        answer(
                            200,
                            "OK",
                            "",
                            Format::Text.content_type(),
                            "superlance metrics: the metrics are at /metrics\n",
                            head_only,
                            false,
                        )
                    }
                    Err(s) => {
                        let (code, reason, extra) = s.line();
                        self.figures.answered(code);
                        answer(
                            code,
                            reason,
                            extra,
                            "text/plain; charset=utf-8",
                            &format!("{code} {reason}\n"),
                            false,
                            false,
                        )
                    }
                };
                // The answer may well go out at once.
                if matches!(c.phase, Phase::Write { .. }) {
                    return self.advance(i);
                }
                true
            }
            Phase::Write { out, pos, .. } => {
                while *pos < out.len() {
                    match c.stream.write(&out[*pos..]) {
                        Ok(0) => return false,
                        Ok(n) => *pos += n,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(_) => return false,
                    }
                }
                // Half-close, then let the client read the rest: closing with unread request
                // bytes would make the kernel send a reset that may destroy the answer in flight.
                let _ = c.stream.shutdown(Shutdown::Write);
                c.phase = Phase::Drain(0);
                c.deadline = Instant::now() + DRAIN;
                true
            }
            Phase::Drain(total) => {
                let mut sink = [0u8; 4096];
                loop {
                    match c.stream.read(&mut sink) {
                        Ok(0) => return false,
                        Ok(n) => {
                            *total += n;
                            if *total >= MAX_DRAIN {
                                return false;
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(_) => return false,
                    }
                }
            }
            Phase::Waiting(..) => true,
        }
    }
}

fn pollfd(fd: i32, events: i16) -> libc::pollfd {
    libc::pollfd {
        fd,
        events,
        revents: 0,
    }
}

/// The answer's bytes, to write.
fn answer(
    code: u16,
    reason: &str,
    extra: &str,
    content_type: &str,
    body: &str,
    head_only: bool,
    big: bool,
) -> Phase {
    let head = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n",
        body.len()
    );
    let mut out = Vec::with_capacity(head.len() + if head_only { 0 } else { body.len() });
    out.extend_from_slice(head.as_bytes());
    if !head_only {
        out.extend_from_slice(body.as_bytes());
    }
    Phase::Write { out, pos: 0, big }
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

/// What reading a head gave.
enum Read_ {
    /// Not complete yet: wait for more.
    More,
    /// Complete: the head is `buf[..end]`.
    Done(usize),
    /// Not a request we answer with 200.
    Bad(Status),
    /// The client went away: no answer.
    Gone,
}

/// Read what is there of the head into `buf`, up to the blank line and the cap.
fn read_head(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Read_ {
    let mut chunk = [0u8; 2048];
    loop {
        if let Some(end) = find_blank_line(buf) {
            return Read_::Done(end);
        }
        // Garbage (a TLS hello, a scanner's probe) is answered as soon as it shows, not after
        // the deadline.
        if !plausible_start(buf) {
            return Read_::Bad(Status::BadRequest);
        }
        if buf.len() >= MAX_HEAD {
            return Read_::Bad(Status::TooLarge);
        }
        let room = (MAX_HEAD - buf.len()).min(chunk.len());
        match stream.read(&mut chunk[..room]) {
            Ok(0) => return Read_::Gone,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Read_::More,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Read_::Gone,
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
}

impl Status {
    /// Code, reason and extra header lines.
    fn line(self) -> (u16, &'static str, &'static str) {
        match self {
            Status::BadRequest => (400, "Bad Request", ""),
            Status::Unauthorized => (
                401,
                "Unauthorized",
                "WWW-Authenticate: Basic realm=\"superlance metrics\", charset=\"UTF-8\"\r\n",
            ),
            Status::NotFound => (404, "Not Found", ""),
            Status::MethodNotAllowed => (405, "Method Not Allowed", "Allow: GET, HEAD\r\n"),
            Status::TooLarge => (431, "Request Header Fields Too Large", ""),
        }
    }
}

/// What a well-read head asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    /// The exposition, in a format; true for HEAD.
    Metrics(Format, bool),
    /// `/`: a pointer to `/metrics`.
    Index(bool),
}

/// The answer to a well-read head, or why there is none.
fn route(head: &[u8], auth: Option<&Auth>) -> Result<Route, Status> {
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
        "/metrics" => Ok(Route::Metrics(Format::from_accept(h.accept), head_only)),
        "/" => Ok(Route::Index(head_only)),
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
        let figures = Arc::new(HttpFigures::default());
        spawn(l, render, None, Arc::clone(&figures)).unwrap();
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
        let answers: Vec<u64> = figures.answers.iter().map(|a| a.load(Relaxed)).collect();
        // 200: GET, OpenMetrics, HEAD; 400, 404, 405, 431 once each.
        assert_eq!(answers, [3, 1, 0, 1, 1, 1]);
    }

    #[test]
    fn slow_clients_hold_places_not_the_server() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let figures = Arc::new(HttpFigures::default());
        spawn(
            l,
            Arc::new(|_| "m 1\n".to_owned()),
            None,
            Arc::clone(&figures),
        )
        .unwrap();
        // CONNECTIONS - 1 clients that never finish their head: the last place still serves.
        let slow: Vec<TcpStream> = (0..CONNECTIONS - 1)
            .map(|_| {
                let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
                s.write_all(b"GET /metrics HTTP/1.1\r\nX-Slow: ").unwrap();
                s
            })
            .collect();
        let started = Instant::now();
        let ok = request(port, b"GET /metrics HTTP/1.1\r\n\r\n");
        assert!(ok.ends_with("\r\n\r\nm 1\n"), "{ok}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        // All places taken: the next connections are closed at once, without an answer.
        let more: Vec<TcpStream> = (0..2)
            .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
            .collect();
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let _ = s.write_all(b"GET /metrics HTTP/1.1\r\n\r\n");
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        assert!(out.is_empty(), "{}", out.escape_ascii());
        assert!(figures.refused.load(Relaxed) >= 2);
        drop((slow, more));
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
        spawn(l, render, Some(auth), Arc::default()).unwrap();
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
