//! Issue 12's crash row: `crashmail` with three channels at once, mail over SMTP, a webhook
//! and a command, each with its own queue and delivery thread, fed a crash per event. The
//! main table drives it like the other crash rows (stopped between its turns with what it
//! started); this file holds its sinks and its verdicts (docs/performance.md, "Every channel
//! at once").
//!
//! The sinks: a second [`SmtpSink`] (the SMTP crash row has its own, so that the counts do
//! not mix), a local HTTP server that answers every POST with 200, and a count file the
//! command appends a byte to per notification, as the sendmail row's does.

use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;

use crate::{verdict, Serving, SmtpSink, STALL};

/// The targets for this row: peak RSS and the size of the executable (the crash
/// path's rate is the crash rows' shared target, judged with them).
const TARGET_RSS_MIB: f64 = 4.0;
const TARGET_BINARY_MB: f64 = 6.0;

pub struct Sinks {
    pub smtp: SmtpSink,
    pub http: HttpSink,
    pub command_count: tempfile::NamedTempFile,
}

/// What the row's sinks are serving, for one round.
pub struct Served {
    _smtp: Serving,
    _http: Serving,
}

impl Sinks {
    pub fn bind() -> Result<Sinks, String> {
        Ok(Sinks {
            smtp: SmtpSink::bind()?,
            http: HttpSink::bind()?,
            command_count: tempfile::Builder::new()
                .prefix("bench-command-count-")
                .tempfile()
                .map_err(|e| format!("cannot create the command's count file: {e}"))?,
        })
    }

    /// The row's channel options, after crashmail's own.
    pub fn args(&self) -> Vec<String> {
        vec![
            "--smtp-host".into(),
            self.smtp.addr.to_string(),
            "--smtp-tls".into(),
            "none".into(),
            "--webhook".into(),
            format!("http://{}/hook", self.http.addr),
            "--command".into(),
            format!(
                "cat >/dev/null; printf . >>'{}'",
                self.command_count.path().display()
            ),
        ]
    }

    pub fn serve(&self) -> Result<Served, String> {
        Ok(Served {
            _smtp: self.smtp.serve()?,
            _http: self.http.serve()?,
        })
    }

    pub fn reset(&self) -> Result<(), String> {
        self.smtp.received.store(0, Ordering::Relaxed);
        self.http.received.store(0, Ordering::Relaxed);
        self.command_count
            .as_file()
            .set_len(0)
            .map_err(|e| format!("cannot empty {}: {e}", self.command_count.path().display()))
    }

    /// Deliveries so far this round, every channel together.
    pub fn count(&self) -> u64 {
        self.split().iter().sum()
    }

    /// Deliveries so far this round: mail, webhook, command.
    pub fn split(&self) -> [u64; 3] {
        [
            self.smtp.received.load(Ordering::Relaxed),
            self.http.received.load(Ordering::Relaxed),
            fs::metadata(self.command_count.path()).map_or(0, |m| m.len()),
        ]
    }
}

/// A local HTTP server that answers every request with `200 OK` and counts them: the
/// webhook's receiver. One connection at a time (the channel's worker posts one at a time,
/// `Connection: close`), on a thread of the bench like the SMTP sink.
pub struct HttpSink {
    listener: TcpListener,
    pub addr: SocketAddr,
    pub received: Arc<AtomicU64>,
}

impl HttpSink {
    fn bind() -> Result<HttpSink, String> {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .map_err(|e| format!("HTTP sink: cannot listen on 127.0.0.1: {e}"))?;
        let addr = listener
            .local_addr()
            .map_err(|e| format!("HTTP sink: {e}"))?;
        Ok(HttpSink {
            listener,
            addr,
            received: Arc::new(AtomicU64::new(0)),
        })
    }

    fn serve(&self) -> Result<Serving, String> {
        let listener = self
            .listener
            .try_clone()
            .map_err(|e| format!("HTTP sink: {e}"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let (received, stopping) = (Arc::clone(&self.received), Arc::clone(&stop));
        let handle = thread::Builder::new()
            .name("http-sink".into())
            .spawn(move || {
                for stream in listener.incoming() {
                    if stopping.load(Ordering::Relaxed) {
                        return;
                    }
                    if let Ok(stream) = stream {
                        let _ = http_exchange(stream, &received);
                    }
                }
            })
            .map_err(|e| format!("HTTP sink: cannot start its thread: {e}"))?;
        Ok(Serving {
            stop,
            addr: self.addr,
            handle: Some(handle),
        })
    }
}

/// One request: the head up to its blank line, a body of `Content-Length` bytes, then 200.
fn http_exchange(stream: TcpStream, received: &AtomicU64) -> io::Result<()> {
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(STALL))?;
    let mut out = stream.try_clone()?;
    let mut input = BufReader::new(stream);
    let mut line = String::with_capacity(128);
    let mut length = 0usize;
    loop {
        line.clear();
        if input.read_line(&mut line)? == 0 {
            return Ok(());
        }
        if line == "\r\n" || line == "\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            }
        }
    }
    io::copy(&mut input.by_ref().take(length as u64), &mut io::sink())?;
    received.fetch_add(1, Ordering::Relaxed);
    out.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
}

/// The row's own targets: its peak RSS (the worse of VmHWM and wait4's maxrss over all
/// rounds) and the executable's size.
pub fn verdicts(peak_kib: u64, floor_kib: u64, binary: &Path) {
    let mib = peak_kib as f64 / 1024.0;
    verdict(
        mib <= TARGET_RSS_MIB,
        &format!(
            "crash path with mail + webhook + command: peak RSS <= {TARGET_RSS_MIB} MiB: {mib:.2} MiB ({:.2} MB; floor {:.2} MiB)",
            peak_kib as f64 * 1024.0 / 1e6,
            floor_kib as f64 / 1024.0
        ),
    );
    match fs::metadata(binary) {
        Ok(m) => {
            let mb = m.len() as f64 / 1e6;
            verdict(
                mb <= TARGET_BINARY_MB,
                &format!(
                    "executable <= {TARGET_BINARY_MB} MB: {mb:.2} MB ({} bytes, {})",
                    m.len(),
                    binary.display()
                ),
            );
        }
        Err(e) => println!("executable size: cannot read {}: {e}", binary.display()),
    }
}
