//! The event loop every listener runs in.
//!
//! # Theory of operation
//! A listener is a value implementing [`Listener`]: `handle` takes one typed event and says
//! OK or "send it again later"; `shutdown` runs once at the end (the mail layer flushes its
//! queue there). Everything a listener needs (options, mail worker, /proc, RPC client) is built
//! before [`run`] is called; the loop itself only reads a frame, dispatches, and writes
//! `RESULT`+`READY` in one write.
//!
//! supervisord waits for our RESULT before it sends the next event to this listener, and
//! buffers (and, past `buffer_size`, drops) events meanwhile. So `handle` must not do slow
//! work: a listener that talks to a slow server hands the work to a thread of its own and
//! answers at once.
//!
//! Ending: clean end of input between frames → exit 0. A framing error → one line on stderr
//! and a non-zero exit: supervisord restarts us and re-sends the event in hand. SIGTERM/SIGINT
//! → the event in hand is finished, `shutdown` runs, exit 0. SIGHUP → logs are reopened.
//! The loop waits for the next event in a plain read(2), one system call like the floor's
//! (docs/performance.md). A signal still ends that wait, and none is missed between a check
//! and the read: the handler sets `O_NONBLOCK` on stdin for a read about to start or being
//! restarted, and sends a signal that landed on another thread on to the loop's
//! ([`Wakeup`]). While a timer is set ([`Listener::next_wakeup`]) the read waits in poll(2)
//! on stdin and a self-pipe the handlers write to.
//!
//! Odd but well-framed input is acknowledged, never fatal (issue 15): a header or payload that
//! is not UTF-8 (a server that passes program output through as bytes) arrives repaired, with
//! U+FFFD for its bad bytes; an event without a token its type needs is handled as well as it
//! can be. Each kind of such problem is said once, at WARN ([`Said`]), however many events
//! carry it: the log must not grow with the stream.
//!
//! Timers: a listener that must act although no event comes (a batch mailer whose pool gets
//! no TICK) names the instant in [`Listener::next_wakeup`]; the read of the next frame stops
//! waiting then, and [`Listener::wake`] runs between events. There is no other thread here.
//!
//! Only [`Stdin`] and [`Stdout`] touch the real file descriptors 0 and 1.

use std::fs::File;
use std::io::{self, BufRead, Read, Write};
use std::mem::ManuallyDrop;
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::event::{Event, Fault, Faults, Field, Parsed};
use crate::protocol::{self, Ack, FrameReader, Input, Next};

/// One listener: its reaction to events.
pub trait Listener {
    /// React to one event. Return [`Ack::Retry`] only for a transient condition worth
    /// supervisord re-sending the event for; a listener's own failures (a refused write, an
    /// unreachable server) are logged and acknowledged with [`Ack::Ok`].
    fn handle(&mut self, event: &Event) -> Ack;

    /// When the listener wants [`Listener::wake`] called even if no event comes (a batch
    /// that must go out although supervisord sends no TICK). `None`: never. Asked before each
    /// read, so it may change after every event.
    fn next_wakeup(&self) -> Option<Instant> {
        None
    }

    /// Called once `next_wakeup` has passed, between events (never while supervisord waits
    /// for our answer to one). Must not block: it runs in the protocol loop.
    fn wake(&mut self, _now: Instant) {}

    /// Runs once when the loop ends, whatever the reason.
    fn shutdown(&mut self) {}
}

/// The signal state the loop looks at.
#[derive(Debug, Clone, Default)]
pub struct Flags {
    terminate: Arc<AtomicBool>,
    hangup: Arc<AtomicBool>,
}

impl Flags {
    pub fn terminating(&self) -> bool {
        self.terminate.load(Ordering::SeqCst)
    }

    fn take_hangup(&self) -> bool {
        // A plain load first: this runs for every event, and a SIGHUP is rare.
        self.hangup.load(Ordering::Relaxed) && self.hangup.swap(false, Ordering::SeqCst)
    }

    /// Ask the loop to stop after the event in hand (as SIGTERM does).
    pub fn request_stop(&self) {
        self.terminate.store(true, Ordering::SeqCst);
    }
}

/// What the signal handlers share with [`Stdin`], which reads on the loop's thread.
///
/// The reader blocks in a plain read(2), not in poll(2): one system call per event fewer
/// (docs/performance.md). A signal must still end a blocked read, and must not be lost
/// between the reader's last look at the flags and its read. So:
/// - the handler sets `woken`, then, if the reader is `reading`, sets `O_NONBLOCK` on the
///   input: a read not yet entered, or restarted after the handler (SA_RESTART), then fails
///   with EAGAIN at once instead of blocking;
/// - the reader sets `reading`, then looks at `woken`; the handler sets `woken`, then looks
///   at `reading` (all SeqCst): a signal is either seen before the read or sets `O_NONBLOCK`
///   for it;
/// - a signal that lands on another thread (a listener's worker) is sent on to the loop's
///   thread (tgkill), whose blocked read only that ends.
///
/// The reader clears `O_NONBLOCK` again before it next looks at `woken`. With a deadline
/// (a timer of the listener) the reader polls stdin and the self-pipe the handlers also
/// write to, as before.
struct Wakeup {
    woken: AtomicBool,
    reading: AtomicBool,
    /// The input the reader reads (fd 0).
    fd: RawFd,
    /// The loop's thread, from gettid(2).
    tid: libc::pid_t,
    /// The write end of the self-pipe.
    pipe: UnixStream,
}

impl Wakeup {
    /// The work of a handler for `sig`, which has just set its flag. Async-signal-safe: atomics
    /// and system calls only (signal-hook keeps errno).
    fn on_signal(&self, sig: libc::c_int, forwarded: &AtomicBool) {
        // SAFETY: gettid has no preconditions.
        let tid = unsafe { libc::gettid() };
        self.woken.store(true, Ordering::SeqCst);
        // SAFETY: a one-byte send on a socket we own; MSG_DONTWAIT: if the pipe is full, a
        // wake-up is already waiting in it.
        unsafe {
            libc::send(
                self.pipe.as_raw_fd(),
                [1u8].as_ptr().cast(),
                1,
                libc::MSG_DONTWAIT,
            )
        };
        if self.reading.load(Ordering::SeqCst) {
            set_nonblocking(self.fd, true);
            if tid != self.tid {
                forwarded.store(true, Ordering::SeqCst);
                // SAFETY: tgkill has no memory preconditions; the loop's thread lives as long
                // as the process runs the loop.
                unsafe { libc::tgkill(libc::getpid(), self.tid, sig) };
            }
        }
    }
}

/// Set or clear `O_NONBLOCK` on `fd` (fcntl(2): async-signal-safe).
fn set_nonblocking(fd: RawFd, on: bool) {
    // SAFETY: F_GETFL/F_SETFL on an fd number; a closed fd only makes them fail.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags < 0 {
            return;
        }
        let wanted = if on {
            flags | libc::O_NONBLOCK
        } else {
            flags & !libc::O_NONBLOCK
        };
        if wanted != flags {
            libc::fcntl(fd, libc::F_SETFL, wanted);
        }
    }
}

/// Install SIGTERM/SIGINT/SIGHUP handlers: each sets its flag, then wakes the reader
/// ([`Wakeup`]). Called on the loop's thread.
fn install_signals() -> io::Result<(Flags, Arc<Wakeup>, UnixStream)> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let flags = Flags::default();
    let (wake_read, wake_write) = UnixStream::pair()?;
    wake_read.set_nonblocking(true)?;
    let wakeup = Arc::new(Wakeup {
        woken: AtomicBool::new(false),
        reading: AtomicBool::new(false),
        fd: 0,
        // SAFETY: gettid has no preconditions.
        tid: unsafe { libc::gettid() },
        pipe: wake_write,
    });
    for (sig, flag) in [
        (SIGTERM, &flags.terminate),
        (SIGINT, &flags.terminate),
        (SIGHUP, &flags.hangup),
    ] {
        let flag = Arc::clone(flag);
        let wakeup = Arc::clone(&wakeup);
        // A signal this handler sent on to the loop's thread: there it has nothing left to
        // do (the read it ends sees O_NONBLOCK), and must not count twice (one SIGHUP, one
        // reopen).
        let forwarded = AtomicBool::new(false);
        let action = move || {
            // SAFETY: gettid has no preconditions.
            let on_loop = unsafe { libc::gettid() } == wakeup.tid;
            if on_loop && forwarded.swap(false, Ordering::SeqCst) {
                return;
            }
            flag.store(true, Ordering::SeqCst);
            wakeup.on_signal(sig, &forwarded);
        };
        // SAFETY: the action is async-signal-safe (atomics and system calls, no allocation,
        // no lock).
        unsafe { signal_hook::low_level::register(sig, action) }?;
    }
    Ok((flags, wakeup, wake_read))
}

/// Run `listener` on the real stdin/stdout until the end of input or a signal.
pub fn run(listener: &mut dyn Listener) -> Result<(), Error> {
    let (flags, wakeup, pipe) = install_signals()
        .map_err(|e| Error::Setup(format!("cannot install signal handlers: {e}")))?;
    let result = serve(
        listener,
        Stdin::new(Some((wakeup, pipe))),
        Stdout::new(),
        &flags,
    );
    listener.shutdown();
    result
}

/// The loop, over any input and output (tests drive it with byte slices).
pub fn serve<I: Input, W: Write>(
    listener: &mut dyn Listener,
    input: I,
    mut out: W,
    flags: &Flags,
) -> Result<(), Error> {
    let mut frames = FrameReader::new(input);
    let mut unit = frames.len_unit();
    let mut said = Said::default();
    match out.write_all(protocol::READY).and_then(|()| out.flush()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(()),
        other => other.map_err(Error::Output)?,
    }
    while !flags.terminating() {
        // Checked each turn: a SIGHUP may have come while a frame was being read.
        if flags.take_hangup() {
            log::info!("SIGHUP: reopening logs");
            crate::logging::reopen();
        }
        // Checked each turn too, not only when the read times out: a steady stream of events
        // would otherwise keep a due wake-up waiting.
        let wakeup = listener.next_wakeup();
        if let Some(at) = wakeup {
            let now = Instant::now();
            if now >= at {
                listener.wake(now);
                continue;
            }
        }
        frames.input_mut().set_deadline(wakeup);
        let frame = match frames.next_frame()? {
            Next::Frame(frame) => frame,
            Next::Eof => break,
            Next::Interrupted => continue,
        };
        let parsed = Parsed::from_frame(&frame);
        said.odd_input(&frame, &parsed.faults, |m| log::warn!("{m}"));
        let ack = listener.handle(&parsed.event);
        match protocol::write_result_ready(&mut out, ack) {
            // supervisord went away: a normal end (it re-sends unacknowledged events).
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => break,
            other => other.map_err(Error::Output)?,
        }
        if frames.len_unit() != unit {
            unit = frames.len_unit();
            log::info!("supervisord counts len in characters (supervisord 4 on Python 3); reading frames accordingly");
        }
    }
    Ok(())
}

/// The kinds of odd input already reported: one WARN line per kind, not per event.
#[derive(Debug, Default)]
struct Said {
    header_not_utf8: bool,
    payload_not_utf8: bool,
    /// (event name, field) pairs said: at most 20 names times 8 fields.
    fields: Vec<(&'static str, Field)>,
}

impl Said {
    /// Say (through `warn`) what was odd about `frame` and its `faults`, each kind once.
    fn odd_input(
        &mut self,
        frame: &protocol::Frame,
        faults: &Faults,
        mut warn: impl FnMut(String),
    ) {
        if !frame.repaired.header && !frame.repaired.payload && faults.is_empty() {
            return; // the valid path: nothing to look up
        }
        if frame.repaired.header && !self.header_not_utf8 {
            self.header_not_utf8 = true;
            warn(format!(
                "an event header line was not valid UTF-8: {}; its bad bytes are read as U+FFFD and \
                 the event is handled as usual; further ones are not reported",
                protocol::quote(frame.header.line())
            ));
        }
        if frame.repaired.payload && !self.payload_not_utf8 {
            self.payload_not_utf8 = true;
            let tokens = frame.payload.split('\n').next().unwrap_or_default();
            warn(format!(
                "an event payload was not valid UTF-8 (from a server that passes program output \
                 through as bytes, such as supervisord 3 or ochinchina/supervisord): {} ({}); its \
                 bad bytes are shown as U+FFFD; further ones are not reported",
                protocol::quote(frame.header.eventname()),
                protocol::quote(tokens)
            ));
        }
        for (field, fault) in faults.iter() {
            let kind = (faults.event(), field);
            if self.fields.contains(&kind) {
                continue;
            }
            self.fields.push(kind);
            let problem = match fault {
                Fault::Missing => "has no",
                Fault::Invalid => "has an invalid",
            };
            let outcome = if faults.ignored() {
                "the event is acknowledged and otherwise ignored"
            } else {
                "the event is handled without it"
            };
            let tokens = frame.payload.split('\n').next().unwrap_or_default();
            warn(format!(
                "a {} event {problem} {} token ({}); {outcome}; further {0} events without a \
                 valid {1} are not reported",
                faults.event(),
                field.key(),
                protocol::quote(tokens)
            ));
        }
    }
}

/// fd 0, buffered, with signal wake-ups and a deadline ([`Input::set_deadline`]). Not
/// `std::io::Stdin`: we need to poll the fd and to know whether bytes are buffered.
pub struct Stdin {
    fd: RawFd,
    buf: Box<[u8]>,
    pos: usize,
    end: usize,
    /// What the signal handlers share with us, and the self-pipe's read end.
    signals: Option<(Arc<Wakeup>, UnixStream)>,
    deadline: Option<Instant>,
}

impl Stdin {
    fn new(signals: Option<(Arc<Wakeup>, UnixStream)>) -> Stdin {
        Stdin {
            fd: 0,
            buf: vec![0; 64 * 1024].into_boxed_slice(),
            pos: 0,
            end: 0,
            signals,
            deadline: None,
        }
    }

    /// poll(2) on stdin and the self-pipe. Returns (stdin ready, woken by a signal).
    fn poll(&self, timeout: Option<Duration>) -> io::Result<(bool, bool)> {
        let pipe = self.signals.as_ref().map(|(_, pipe)| pipe);
        let mut fds = [
            libc::pollfd {
                fd: self.fd,
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: pipe.map_or(-1, |p| p.as_raw_fd()),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        let ms = timeout.map_or(-1, |t| t.as_millis().min(i32::MAX as u128) as libc::c_int);
        // SAFETY: fds is a valid array of 2 pollfd for the duration of the call; a negative fd
        // is ignored by poll.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, ms) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let ready = fds[0].revents != 0;
        let woken = fds[1].revents != 0;
        if woken {
            if let Some(mut p) = pipe {
                let mut sink = [0u8; 64];
                while matches!(p.read(&mut sink), Ok(n) if n > 0) {}
            }
        }
        Ok((ready, woken))
    }

    /// Wait for input until the deadline, a signal, or input: poll(2), then read(2).
    fn read_by_deadline(&mut self, deadline: Instant) -> io::Result<usize> {
        if let Some((wakeup, _)) = &self.signals {
            if wakeup.woken.swap(false, Ordering::SeqCst) {
                set_nonblocking(self.fd, false);
                return Err(io::ErrorKind::Interrupted.into());
            }
        }
        let (ready, woken) = self.poll(Some(deadline.saturating_duration_since(Instant::now())))?;
        if woken {
            return Err(io::ErrorKind::Interrupted.into());
        }
        if !ready {
            // The deadline passed (once: a frame being read goes on waiting).
            self.deadline = None;
            return Err(io::ErrorKind::Interrupted.into());
        }
        read_fd(self.fd, &mut self.buf)
    }

    /// Wait for input or a signal in read(2) alone ([`Wakeup`] says why that is safe).
    fn read_blocking(&mut self) -> io::Result<usize> {
        let Some((wakeup, _)) = &self.signals else {
            return read_fd(self.fd, &mut self.buf);
        };
        wakeup.reading.store(true, Ordering::SeqCst);
        if wakeup.woken.swap(false, Ordering::SeqCst) {
            wakeup.reading.store(false, Ordering::SeqCst);
            set_nonblocking(self.fd, false);
            return Err(io::ErrorKind::Interrupted.into());
        }
        let result = read_fd(self.fd, &mut self.buf);
        wakeup.reading.store(false, Ordering::SeqCst);
        match result {
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock
                ) =>
            {
                // A signal set O_NONBLOCK (or ended the read): blocking again before the next
                // look at `woken`, so that no later signal's O_NONBLOCK is undone unseen.
                set_nonblocking(self.fd, false);
                Err(io::ErrorKind::Interrupted.into())
            }
            other => other,
        }
    }
}

/// One read(2) of `fd` into `buf`.
fn read_fd(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: buf is valid for writes of buf.len() bytes.
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n as usize)
}

impl Read for Stdin {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(out.len());
        out[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for Stdin {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.pos == self.end {
            let n = match self.deadline {
                Some(deadline) => self.read_by_deadline(deadline)?,
                None => self.read_blocking()?,
            };
            self.pos = 0;
            self.end = n;
        }
        Ok(&self.buf[self.pos..self.end])
    }

    fn consume(&mut self, amount: usize) {
        self.pos = (self.pos + amount).min(self.end);
    }
}

impl Input for Stdin {
    fn set_deadline(&mut self, deadline: Option<Instant>) {
        self.deadline = deadline;
    }

    fn pending(&mut self, wait: Duration) -> io::Result<bool> {
        if self.pos < self.end {
            return Ok(true);
        }
        // A signal wakes poll early; that says nothing about stdin, so wait out the rest.
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.poll(Some(left)) {
                Ok((true, _)) => return Ok(true),
                Ok((false, _)) if left.is_zero() => return Ok(false),
                Ok((false, _)) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// fd 1, unbuffered: every answer is one write(2).
pub struct Stdout(ManuallyDrop<File>);

impl Stdout {
    pub fn new() -> Stdout {
        // SAFETY: fd 1 is open for the life of the process; ManuallyDrop keeps us from closing it.
        Stdout(ManuallyDrop::new(unsafe { File::from_raw_fd(1) }))
    }
}

impl Default for Stdout {
    fn default() -> Self {
        Stdout::new()
    }
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Event;

    /// Records each event as its Debug text (events borrow the reader's buffers).
    struct Recorder(Vec<String>, Ack);

    impl Listener for Recorder {
        fn handle(&mut self, event: &Event) -> Ack {
            self.0.push(format!("{event:?}"));
            self.1
        }
    }

    #[test]
    fn answers_each_event_and_ends_on_eof() {
        let input =
            b"ver:3.0 eventname:TICK_5 len:15\nwhen:1700000000eventname:SOMETHING_NEW len:3\nabc";
        let mut l = Recorder(Vec::new(), Ack::Ok);
        let mut out = Vec::new();
        serve(&mut l, &input[..], &mut out, &Flags::default()).unwrap();
        assert_eq!(out, b"READY\nRESULT 2\nOKREADY\nRESULT 2\nOKREADY\n");
        let tick = Event::Tick {
            period: 5,
            when: 1700000000,
        };
        assert_eq!(l.0[0], format!("{tick:?}"));
        let other = Event::Other {
            name: "SOMETHING_NEW",
            payload: "abc",
        };
        assert_eq!(l.0[1], format!("{other:?}"));
    }

    /// Every WARN line `Said` gives for `input`, a stream of frames.
    fn warnings(input: &[u8]) -> Vec<String> {
        let mut frames = FrameReader::new(input);
        let mut said = Said::default();
        let mut lines = Vec::new();
        while let Next::Frame(frame) = frames.next_frame().unwrap() {
            let parsed = Parsed::from_frame(&frame);
            said.odd_input(&frame, &parsed.faults, |m| lines.push(m));
        }
        lines
    }

    /// A frame with `len` in bytes, its header line `head` without the len.
    fn fr(head: &[u8], payload: &[u8]) -> Vec<u8> {
        let mut f = head.to_vec();
        f.extend_from_slice(format!(" len:{}\n", payload.len()).as_bytes());
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn odd_input_is_said_once_per_kind() {
        // Issue 15: 3 payloads and 3 headers that are not UTF-8, 3 EXITED events without
        // `expected`, 3 PROCESS_LOG events with a bad pid: one line for each kind.
        let mut input = Vec::new();
        for _ in 0..3 {
            input.extend(fr(
                b"eventname:PROCESS_LOG_STDOUT",
                b"processname:cat groupname:cat pid:7 channel:stdout\n\xff\xfe caf\xe9\n",
            ));
            input.extend(fr(b"pool:l\xff eventname:TICK_5", b"when:1700000000"));
            input.extend(fr(
                b"eventname:PROCESS_STATE_EXITED",
                b"processname:a groupname:a from_state:RUNNING pid:9",
            ));
            input.extend(fr(
                b"eventname:PROCESS_LOG_STDERR",
                b"processname:a groupname:a pid:-1\nx",
            ));
        }
        let lines = warnings(&input);
        assert_eq!(lines.len(), 4, "{lines:#?}");
        assert!(
            lines[0].contains("payload was not valid UTF-8")
                && lines[0].contains(
                    "PROCESS_LOG_STDOUT (processname:cat groupname:cat pid:7 channel:stdout)"
                ),
            "{}",
            lines[0]
        );
        assert!(
            lines[1].contains("header line was not valid UTF-8: pool:l\u{fffd}"),
            "{}",
            lines[1]
        );
        assert_eq!(
            lines[2],
            "a PROCESS_STATE_EXITED event has no expected token (processname:a groupname:a \
             from_state:RUNNING pid:9); the event is handled without it; further \
             PROCESS_STATE_EXITED events without a valid expected are not reported"
        );
        assert!(
            lines[3].starts_with(
                "a PROCESS_LOG_STDERR event has an invalid pid token (processname:a groupname:a \
                 pid:-1); the event is acknowledged and otherwise ignored"
            ),
            "{}",
            lines[3]
        );
        // The same field in another event type is another kind.
        let mut input = fr(
            b"eventname:PROCESS_STATE_RUNNING",
            b"processname:a groupname:a pid:x",
        );
        input.extend(fr(
            b"eventname:PROCESS_STATE_STOPPING",
            b"processname:a groupname:a from_state:RUNNING",
        ));
        let more = warnings(&input);
        assert_eq!(more.len(), 3, "{more:#?}");
        assert!(
            more[0].contains("RUNNING event has no from_state"),
            "{}",
            more[0]
        );
        assert!(
            more[1].contains("RUNNING event has an invalid pid"),
            "{}",
            more[1]
        );
        assert!(more[2].contains("STOPPING event has no pid"), "{}", more[2]);
    }

    #[test]
    fn valid_input_says_nothing() {
        let mut input = fr(
            b"eventname:PROCESS_STATE_EXITED",
            b"processname:a groupname:a from_state:RUNNING expected:0 pid:9",
        );
        // ochinchina/supervisord leaves out pid 0 (a program stopped from BACKOFF).
        input.extend(fr(
            b"eventname:PROCESS_STATE_STOPPED",
            b"processname:a groupname:a from_state:BACKOFF",
        ));
        input.extend(fr(b"eventname:SOMETHING_NEW", b"abc"));
        assert_eq!(warnings(&input), Vec::<String>::new());
    }

    #[test]
    fn retry_is_fail() {
        let mut l = Recorder(Vec::new(), Ack::Retry);
        let mut out = Vec::new();
        serve(
            &mut l,
            &b"eventname:X len:0\n"[..],
            &mut out,
            &Flags::default(),
        )
        .unwrap();
        assert_eq!(out, b"READY\nRESULT 4\nFAILREADY\n");
    }

    #[test]
    fn framing_error_stops_after_ready_only() {
        let mut l = Recorder(Vec::new(), Ack::Ok);
        let mut out = Vec::new();
        let err = serve(
            &mut l,
            &b"eventname:X len:-1\n"[..],
            &mut out,
            &Flags::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("invalid len"), "{err}");
        assert_eq!(out, b"READY\n");
        assert!(l.0.is_empty());
    }

    #[test]
    fn a_due_wakeup_runs_between_events() {
        /// Due at once until woken; counts events and wake-ups in order.
        struct Timer(Vec<&'static str>, bool);
        impl Listener for Timer {
            fn handle(&mut self, _: &Event) -> Ack {
                self.0.push("event");
                Ack::Ok
            }
            fn next_wakeup(&self) -> Option<Instant> {
                self.1.then(Instant::now)
            }
            fn wake(&mut self, _: Instant) {
                self.0.push("wake");
                self.1 = false;
            }
        }
        let mut l = Timer(Vec::new(), true);
        let mut out = Vec::new();
        let input = b"eventname:X len:0\neventname:Y len:0\n";
        serve(&mut l, &input[..], &mut out, &Flags::default()).unwrap();
        assert_eq!(l.0, ["wake", "event", "event"]);
        assert_eq!(out, b"READY\nRESULT 2\nOKREADY\nRESULT 2\nOKREADY\n");
    }

    #[test]
    fn stop_request_finishes_the_event_in_hand() {
        struct StopAfterFirst(Flags, usize);
        impl Listener for StopAfterFirst {
            fn handle(&mut self, _: &Event) -> Ack {
                self.1 += 1;
                self.0.request_stop();
                Ack::Ok
            }
        }
        let flags = Flags::default();
        let mut l = StopAfterFirst(flags.clone(), 0);
        let mut out = Vec::new();
        serve(
            &mut l,
            &b"eventname:X len:0\neventname:Y len:0\n"[..],
            &mut out,
            &flags,
        )
        .unwrap();
        assert_eq!(l.1, 1);
        assert_eq!(out, b"READY\nRESULT 2\nOKREADY\n");
    }
}
