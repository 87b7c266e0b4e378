//! Where the crash rows' mail goes: a count file for the sendmail command, and a local SMTP
//! server ([`SmtpSink`]).

use std::fs;
use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;

use crate::*;

/// The sinks of the mailing rows: a file that the sendmail command appends a byte to per
/// mail, and a local SMTP server.
pub(crate) struct Sinks {
    pub(crate) count_file: tempfile::NamedTempFile,
    pub(crate) smtp: Option<SmtpSink>,
    /// The every-channel row's (issue 12).
    pub(crate) channels: Option<channels::Sinks>,
}

impl Sinks {
    /// Zero the counts, before a round.
    pub(crate) fn reset(&self) -> Result<(), String> {
        self.count_file
            .as_file()
            .set_len(0)
            .map_err(|e| format!("cannot empty {}: {e}", self.count_file.path().display()))?;
        if let Some(smtp) = &self.smtp {
            smtp.received.store(0, Ordering::Relaxed);
        }
        match &self.channels {
            Some(c) => c.reset(),
            None => Ok(()),
        }
    }

    /// The mails delivered so far this round by a mailing row.
    pub(crate) fn count(&self, kind: Kind) -> u64 {
        match (kind, &self.smtp) {
            (Kind::CrashSendmail, _) => fs::metadata(self.count_file.path()).map_or(0, |m| m.len()),
            (Kind::CrashSmtp, Some(smtp)) => smtp.received.load(Ordering::Relaxed),
            (Kind::CrashChannels, _) => self.channels.as_ref().map_or(0, channels::Sinks::count),
            _ => 0,
        }
    }
}

/// A local SMTP server that takes every mail and throws it away, with just enough of the
/// protocol for lettre without TLS: 220 on connect, 354 to DATA, 250 after the closing `.`,
/// 221 to QUIT, 250 to anything else (EHLO, MAIL, RCPT). One connection at a time, as the
/// delivery worker sends one mail at a time. It runs as a thread of the bench, started for
/// each round, so it shares the bench's CPU in every placement, as a local MTA would share
/// the machine with supervisord.
pub(crate) struct SmtpSink {
    pub(crate) listener: TcpListener,
    pub(crate) addr: SocketAddr,
    pub(crate) received: Arc<AtomicU64>,
}

impl SmtpSink {
    pub(crate) fn bind() -> Result<SmtpSink, String> {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .map_err(|e| format!("SMTP sink: cannot listen on 127.0.0.1: {e}"))?;
        let addr = listener
            .local_addr()
            .map_err(|e| format!("SMTP sink: {e}"))?;
        Ok(SmtpSink {
            listener,
            addr,
            received: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Serve until the returned guard is dropped; the thread inherits this thread's CPUs.
    pub(crate) fn serve(&self) -> Result<Serving, String> {
        let listener = self
            .listener
            .try_clone()
            .map_err(|e| format!("SMTP sink: {e}"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let (received, stopping) = (Arc::clone(&self.received), Arc::clone(&stop));
        let handle = thread::Builder::new()
            .name("smtp-sink".into())
            .spawn(move || {
                for stream in listener.incoming() {
                    if stopping.load(Ordering::Relaxed) {
                        return;
                    }
                    // A broken session is the listener's to report (it retries the mail).
                    if let Ok(stream) = stream {
                        let _ = smtp_session(stream, &received, true);
                    }
                }
            })
            .map_err(|e| format!("SMTP sink: cannot start its thread: {e}"))?;
        Ok(Serving {
            stop,
            addr: self.addr,
            handle: Some(handle),
        })
    }
}

/// A running [`SmtpSink`]; dropped, it stops it.
pub(crate) struct Serving {
    pub(crate) stop: Arc<AtomicBool>,
    pub(crate) addr: SocketAddr,
    pub(crate) handle: Option<thread::JoinHandle<()>>,
}

impl Drop for Serving {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the blocked accept.
        let _ = TcpStream::connect(self.addr);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Acknowledge what arrives at once. lettre 0.11.23 writes a message's body and its closing
/// `.` in two writes without TCP_NODELAY, so Nagle holds the `.` until the body is
/// acknowledged; a server that delays its ACK (Linux: 40 ms) costs 40 ms per mail, and the
/// worker would spend its turns waiting instead of working (docs/performance.md). superlance's
/// transport now writes both in one (tests/bench/closing_dot.rs measures it against a server
/// without this); the sink keeps acknowledging at once, so that its figures compare with the
/// earlier runs'.
pub(crate) fn quickack(stream: &TcpStream) {
    let on: libc::c_int = 1;
    // SAFETY: a valid socket and a c_int option value that outlives the call.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_QUICKACK,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
}

/// One SMTP session of the sink; `quickack`: acknowledge the data at once ([`quickack`]), as
/// the crash rows' sink does (closing_dot.rs measures a server that does not).
pub(crate) fn smtp_session(
    stream: TcpStream,
    received: &AtomicU64,
    with_quickack: bool,
) -> io::Result<()> {
    stream.set_nodelay(true)?;
    // A client that goes silent (a listener killed mid-session closes the socket) does not
    // hold the sink forever.
    stream.set_read_timeout(Some(STALL))?;
    let mut out = stream.try_clone()?;
    let mut input = BufReader::new(stream);
    let mut line = Vec::with_capacity(256);
    out.write_all(b"220 bench-sink ESMTP\r\n")?;
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        let verb = line.get(..4).map(<[u8]>::to_ascii_uppercase);
        match verb.as_deref() {
            Some(b"DATA") => {
                out.write_all(b"354 end with <CRLF>.<CRLF>\r\n")?;
                if with_quickack {
                    quickack(&out);
                }
                loop {
                    line.clear();
                    if input.read_until(b'\n', &mut line)? == 0 {
                        return Ok(());
                    }
                    if line == b".\r\n" || line == b".\n" {
                        break;
                    }
                }
                received.fetch_add(1, Ordering::Relaxed);
                out.write_all(b"250 2.0.0 taken\r\n")?;
            }
            Some(b"QUIT") => {
                out.write_all(b"221 2.0.0 bye\r\n")?;
                return Ok(());
            }
            _ => out.write_all(b"250 ok\r\n")?,
        }
    }
}
