//! The supervisord event-listener wire protocol: frame reading and answer writing.
//!
//! This module is pure: it reads from any [`Input`] (a `BufRead` that can also tell whether
//! more bytes are pending) and writes to any `Write`. Exactly one other module
//! (`runtime::stdio`) connects it to the real stdin/stdout, so every rule here is
//! unit-tested on byte slices.
//!
//! A frame is one header line of space-separated `key:value` tokens, split on the FIRST `:`
//! (values may contain more colons), followed by `len` units of payload. The answer is
//! `RESULT <n>\n<body>` where `<n>` counts the bytes of `<body>`.
//!
//! # The `len` unit (docs/protocol.md)
//! supervisord 4 under Python 3 counts the payload in *characters* (Unicode code points),
//! supervisord 3 and ochinchina/supervisord count *bytes* (supervisor #1243). Both write the
//! header and payload together and then send nothing until they get our RESULT, so:
//! 1. read `len` bytes (a character-counted payload has at least that many);
//! 2. if those bytes hold exactly `len` characters (all ASCII, the usual case), both readings
//!    agree: done;
//! 3. otherwise, if more bytes are pending, the server counts characters: read on until `len`
//!    characters, and remember that (later frames are read by characters without guessing);
//!    if nothing is pending within a short settle time, the server counted bytes: done.
//!
//! Payloads are decoded as UTF-8: supervisord 4 always sends UTF-8 (it encodes a `str`).

use std::io::{self, BufRead, Write};
use std::time::Duration;

/// The largest payload we accept, in bytes or characters. supervisord's own payloads are at
/// most one read of process output (128 KiB) plus a few tokens, or `capture_maxbytes` of a
/// PROCESS_COMMUNICATION capture; 16 MiB leaves room for any sane capture. A bigger `len` is
/// refused before anything is allocated for it.
pub const MAX_PAYLOAD: usize = 16 * 1024 * 1024;

/// The longest header line we accept. Real headers are about 100 bytes; the cap keeps a
/// stream of junk without a newline from growing our memory.
pub const MAX_HEADER: usize = 4096;

/// How long a frame that is not ASCII may wait for more bytes before we decide that the
/// server counted bytes. Writes of up to PIPE_BUF bytes reach a pipe whole, so a short wait
/// suffices for them; a bigger frame may be split by a full pipe and gets a longer grace.
const SETTLE_SMALL: Duration = Duration::from_millis(2);
const SETTLE_LARGE: Duration = Duration::from_millis(500);
const PIPE_BUF: usize = 4096;

/// How much of an offending header an error message quotes.
const QUOTE: usize = 120;

/// A byte source the frame reader can ask "is anything more coming right now?".
pub trait Input: BufRead {
    /// True if at least one more byte (or end of input) can be read within `wait`.
    fn pending(&mut self, wait: Duration) -> io::Result<bool>;

    /// Stop waiting for input at `deadline` once: a read that would block past it fails with
    /// [`io::ErrorKind::Interrupted`] (as a signal does), and the deadline is cleared. Inputs
    /// that never block (byte slices) ignore it.
    fn set_deadline(&mut self, _deadline: Option<std::time::Instant>) {}
}

impl Input for &[u8] {
    fn pending(&mut self, _wait: Duration) -> io::Result<bool> {
        Ok(!self.is_empty())
    }
}

impl<T: AsRef<[u8]>> Input for io::Cursor<T> {
    fn pending(&mut self, _wait: Duration) -> io::Result<bool> {
        Ok((self.position() as usize) < self.get_ref().as_ref().len())
    }
}

/// A framing error: the stream cannot be trusted any more, so the listener exits non-zero and
/// supervisord restarts it. Every message quotes the offending header, truncated.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("malformed header line (token {token:?} is not key:value): {header}")]
    MalformedHeader { token: String, header: String },
    #[error("header line has no len token: {header}")]
    MissingLen { header: String },
    #[error("header line has no eventname token: {header}")]
    MissingEventName { header: String },
    #[error("header line has an invalid len {value:?} (expected a whole number 0..={max}): {header}", max = MAX_PAYLOAD)]
    BadLen { value: String, header: String },
    #[error("header line announces len:{len}, above the {max}-byte limit; refusing it: {header}", max = MAX_PAYLOAD)]
    TooLarge { len: u64, header: String },
    #[error("header line longer than {max} bytes without a newline: {header}", max = MAX_HEADER)]
    HeaderTooLong { header: String },
    #[error("header line is empty (expected key:value tokens)")]
    EmptyHeader,
    #[error("header line is not valid UTF-8: {header}")]
    HeaderNotUtf8 { header: String },
    #[error("payload is not valid UTF-8 (supervisord sends UTF-8) after header: {header}")]
    PayloadNotUtf8 { header: String },
    #[error("end of input inside a header line: {header}")]
    EofInHeader { header: String },
    #[error("end of input inside a payload ({got} of {len} received) after header: {header}")]
    EofInPayload {
        got: usize,
        len: usize,
        header: String,
    },
    #[error("reading from supervisord failed: {0}")]
    Io(#[from] io::Error),
}

/// The parsed header line, borrowed from the reader's buffer: `eventname` and `len` are
/// located once, every token (known or not) is found on demand; nothing is allocated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header<'a> {
    line: &'a str,
    eventname: std::ops::Range<usize>,
    pub len: usize,
}

impl<'a> Header<'a> {
    pub fn eventname(&self) -> &'a str {
        &self.line[self.eventname.clone()]
    }

    /// The header line as received (without its newline).
    pub fn line(&self) -> &'a str {
        self.line
    }

    /// Every `key:value` token in the order received, unknown keys included.
    pub fn tokens(&self) -> impl Iterator<Item = (&'a str, &'a str)> {
        // Validated by `parse`: every token has a ':' after a non-empty key.
        self.line
            .split_ascii_whitespace()
            .filter_map(|t| t.split_once(':'))
    }

    /// The value of a header token, e.g. `serial` or `pool`.
    pub fn get(&self, key: &str) -> Option<&'a str> {
        self.tokens().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// Parse one header line (without its newline).
    pub fn parse(line: &'a str) -> Result<Header<'a>, FrameError> {
        let mut eventname = None;
        let mut raw_len = None;
        let mut any = false;
        for token in line.split_ascii_whitespace() {
            any = true;
            match token.split_once(':') {
                Some(("", _)) | None => {
                    return Err(FrameError::MalformedHeader {
                        token: quote(token),
                        header: quote(line),
                    })
                }
                Some(("eventname", v)) if eventname.is_none() => {
                    let start = v.as_ptr() as usize - line.as_ptr() as usize;
                    eventname = Some(start..start + v.len());
                }
                Some(("len", v)) if raw_len.is_none() => raw_len = Some(v),
                Some(_) => {}
            }
        }
        if !any {
            return Err(FrameError::EmptyHeader);
        }
        let eventname = match eventname {
            Some(range) if !range.is_empty() => range,
            _ => {
                return Err(FrameError::MissingEventName {
                    header: quote(line),
                })
            }
        };
        let raw_len = raw_len.ok_or_else(|| FrameError::MissingLen {
            header: quote(line),
        })?;
        let len = parse_len(raw_len).map_err(|too_large| match too_large {
            Some(len) => FrameError::TooLarge {
                len,
                header: quote(line),
            },
            None => FrameError::BadLen {
                value: quote(raw_len),
                header: quote(line),
            },
        })?;
        Ok(Header {
            line,
            eventname,
            len,
        })
    }
}

/// `Err(None)`: not a number; `Err(Some(n))`: a number above the cap.
fn parse_len(raw: &str) -> Result<usize, Option<u64>> {
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(None);
    }
    // Digits only: the one way to fail is overflow, which is "too large" as well.
    let n: u64 = raw.parse().unwrap_or(u64::MAX);
    if n > MAX_PAYLOAD as u64 {
        return Err(Some(n));
    }
    Ok(n as usize)
}

/// Shorten text for an error message, on a character boundary, with control characters
/// escaped (junk input must not put terminal escapes or line breaks into the log).
pub fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(QUOTE * 2));
    for (i, c) in text.chars().enumerate() {
        if i == QUOTE {
            out.push_str("...");
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

fn quote_bytes(bytes: &[u8]) -> String {
    quote(&String::from_utf8_lossy(
        &bytes[..bytes.len().min(QUOTE * 4)],
    ))
}

/// One event as received: its header and its payload text, borrowed from the reader's buffers
/// (reused from frame to frame, so the steady state allocates nothing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame<'a> {
    pub header: Header<'a>,
    pub payload: &'a str,
}

/// What the next read produced.
#[derive(Debug)]
pub enum Next<'a> {
    Frame(Frame<'a>),
    /// Clean end of input between frames: supervisord closed our stdin.
    Eof,
    /// The input was interrupted (a signal) before any byte of a frame arrived.
    Interrupted,
}

/// How the server counts `len`, as far as we know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LenUnit {
    /// Not known yet: ASCII frames cannot tell.
    Unknown,
    /// Proven by a non-ASCII frame whose remaining bytes were pending (supervisord 4).
    Chars,
}

/// Reads frames one after another, remembering what it learnt about the `len` unit.
pub struct FrameReader<I: Input> {
    input: I,
    unit: LenUnit,
    line: Vec<u8>,
    payload: Vec<u8>,
}

impl<I: Input> FrameReader<I> {
    pub fn new(input: I) -> Self {
        FrameReader {
            input,
            unit: LenUnit::Unknown,
            line: Vec::with_capacity(256),
            payload: Vec::with_capacity(1024),
        }
    }

    pub fn len_unit(&self) -> LenUnit {
        self.unit
    }

    pub fn input_mut(&mut self) -> &mut I {
        &mut self.input
    }

    /// Read the next frame. An interruption before the first header byte is reported as
    /// [`Next::Interrupted`]; once a frame has begun it is read to its end (the event in hand
    /// is always finished).
    pub fn next_frame(&mut self) -> Result<Next<'_>, FrameError> {
        self.line.clear();
        match self.read_header_line()? {
            HeaderLine::Eof => return Ok(Next::Eof),
            HeaderLine::Interrupted => return Ok(Next::Interrupted),
            HeaderLine::Line => {}
        }
        // The header borrows `line` while `payload` is filled: take both out of self meanwhile.
        let line = std::mem::take(&mut self.line);
        let mut payload = std::mem::take(&mut self.payload);
        payload.clear();
        let read = self.read_frame(&line, &mut payload);
        self.line = line;
        self.payload = payload;
        let (eventname, len) = read?;
        let text = header_text(&self.line)?;
        let payload =
            std::str::from_utf8(&self.payload).map_err(|_| FrameError::PayloadNotUtf8 {
                header: quote(text),
            })?;
        Ok(Next::Frame(Frame {
            header: Header {
                line: text,
                eventname,
                len,
            },
            payload,
        }))
    }

    /// Parse the header in `line` and read its payload into `payload`.
    fn read_frame(
        &mut self,
        line: &[u8],
        payload: &mut Vec<u8>,
    ) -> Result<(std::ops::Range<usize>, usize), FrameError> {
        let text = header_text(line)?;
        let header = Header::parse(text)?;
        self.read_payload(payload, header.len, text)?;
        Ok((header.eventname, header.len))
    }

    fn read_header_line(&mut self) -> Result<HeaderLine, FrameError> {
        loop {
            let available = match self.input.fill_buf() {
                Ok(buf) => buf,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                    if self.line.is_empty() {
                        return Ok(HeaderLine::Interrupted);
                    }
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            if available.is_empty() {
                if self.line.is_empty() {
                    return Ok(HeaderLine::Eof);
                }
                return Err(FrameError::EofInHeader {
                    header: quote_bytes(&self.line),
                });
            }
            let (used, done) = match available.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (available.len(), false),
            };
            let room = MAX_HEADER.saturating_sub(self.line.len());
            let body = if done { used - 1 } else { used };
            if body > room {
                self.line.extend_from_slice(&available[..room]);
                return Err(FrameError::HeaderTooLong {
                    header: quote_bytes(&self.line),
                });
            }
            self.line.extend_from_slice(&available[..body]);
            self.input.consume(used);
            if done {
                return Ok(HeaderLine::Line);
            }
        }
    }

    fn read_payload(
        &mut self,
        buf: &mut Vec<u8>,
        len: usize,
        text: &str,
    ) -> Result<(), FrameError> {
        // Never trust len for an allocation: the buffer grows with what really arrives.
        let mut count = Utf8Count::default();
        let eof = |got: usize| FrameError::EofInPayload {
            got,
            len,
            header: quote(text),
        };

        if self.unit == LenUnit::Unknown {
            // Step 1: len bytes.
            self.take(buf, &mut count, len, Goal::Bytes)
                .map_err(|e| e.or_eof(eof(buf.len())))?;
            if count.chars == len && count.complete() {
                return Ok(());
            }
            // Step 3: more characters owed. Are they on their way?
            let settle = if header_len(text) + len <= PIPE_BUF {
                SETTLE_SMALL
            } else {
                SETTLE_LARGE
            };
            if !self.pending(settle)? {
                return Ok(()); // the server counted bytes
            }
        }
        // Character mode: read until len complete characters.
        let bytes_before = buf.len();
        match self.take(buf, &mut count, len, Goal::Chars) {
            Ok(()) => {
                if buf.len() > bytes_before {
                    self.unit = LenUnit::Chars;
                }
                Ok(())
            }
            // End of input right after exactly len bytes: that was a byte-counted last frame.
            Err(Take::Eof) if bytes_before == len && self.unit == LenUnit::Unknown => Ok(()),
            Err(e) => Err(e.or_eof(eof(count.chars))),
        }
    }

    fn pending(&mut self, wait: Duration) -> Result<bool, FrameError> {
        loop {
            match self.input.pending(wait) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => return Ok(other?),
            }
        }
    }

    /// Move bytes from the input into `buf` until the goal is met.
    fn take(
        &mut self,
        buf: &mut Vec<u8>,
        count: &mut Utf8Count,
        len: usize,
        goal: Goal,
    ) -> Result<(), Take> {
        loop {
            let reached = match goal {
                Goal::Bytes => buf.len() >= len,
                Goal::Chars => count.chars >= len && count.complete(),
            };
            if reached {
                return Ok(());
            }
            let available = match self.input.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Take::Io(e)),
            };
            if available.is_empty() {
                return Err(Take::Eof);
            }
            let n = match goal {
                Goal::Bytes => available.len().min(len - buf.len()),
                Goal::Chars => count.bytes_for(available, len),
            };
            count.feed(&available[..n]);
            buf.extend_from_slice(&available[..n]);
            self.input.consume(n);
        }
    }
}

fn header_len(text: &str) -> usize {
    text.len() + 1
}

fn header_text(line: &[u8]) -> Result<&str, FrameError> {
    std::str::from_utf8(line).map_err(|_| FrameError::HeaderNotUtf8 {
        header: quote_bytes(line),
    })
}

enum HeaderLine {
    Line,
    Eof,
    Interrupted,
}

#[derive(Clone, Copy)]
enum Goal {
    Bytes,
    Chars,
}

enum Take {
    Eof,
    Io(io::Error),
}

impl Take {
    fn or_eof(self, eof: FrameError) -> FrameError {
        match self {
            Take::Eof => eof,
            Take::Io(e) => FrameError::Io(e),
        }
    }
}

/// Counts UTF-8 characters by their lead bytes, and how many continuation bytes the last one
/// still owes, without validating (validation happens once, on the whole payload).
#[derive(Default)]
struct Utf8Count {
    chars: usize,
    owed: usize,
}

impl Utf8Count {
    fn complete(&self) -> bool {
        self.owed == 0
    }

    fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.step(b);
        }
    }

    fn step(&mut self, b: u8) {
        if b & 0xC0 == 0x80 {
            self.owed = self.owed.saturating_sub(1);
        } else {
            self.chars += 1;
            self.owed = match b {
                0xC0..=0xDF => 1,
                0xE0..=0xEF => 2,
                0xF0..=0xFF => 3,
                _ => 0,
            };
        }
    }

    /// How many of `bytes` to take so that we end with `len` complete characters (or all of
    /// them, if that is not enough).
    fn bytes_for(&self, bytes: &[u8], len: usize) -> usize {
        let mut probe = Utf8Count {
            chars: self.chars,
            owed: self.owed,
        };
        for (i, &b) in bytes.iter().enumerate() {
            // A lead byte beyond the len-th character belongs to the next frame.
            if b & 0xC0 != 0x80 && probe.chars >= len && probe.owed == 0 {
                return i;
            }
            probe.step(b);
            if probe.chars >= len && probe.owed == 0 {
                return i + 1;
            }
        }
        bytes.len()
    }
}

/// The listener's answer to one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ack {
    /// Handled (or deliberately ignored): the normal answer.
    Ok,
    /// A transient failure: supervisord re-queues the event and sends it again later. Never
    /// for permanent errors, which would be re-sent forever.
    Retry,
}

pub const READY: &[u8] = b"READY\n";

impl Ack {
    /// The exact bytes of the RESULT message (`<n>` counts bytes).
    pub fn result(self) -> &'static [u8] {
        match self {
            Ack::Ok => b"RESULT 2\nOK",
            Ack::Retry => b"RESULT 4\nFAIL",
        }
    }
}

/// Write RESULT for the event in hand and READY for the next, in one write: supervisord parses
/// the result and then the READY from the same read.
pub fn write_result_ready<W: Write>(out: &mut W, ack: Ack) -> io::Result<()> {
    let result = ack.result();
    let mut msg = [0u8; 32];
    msg[..result.len()].copy_from_slice(result);
    msg[result.len()..result.len() + READY.len()].copy_from_slice(READY);
    out.write_all(&msg[..result.len() + READY.len()])?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frame copied out of the reader's buffers.
    #[derive(Debug)]
    struct Got {
        line: String,
        payload: String,
    }

    impl Got {
        fn of(f: &Frame) -> Got {
            Got {
                line: f.header.line().to_owned(),
                payload: f.payload.to_owned(),
            }
        }
        fn header(&self) -> Header<'_> {
            Header::parse(&self.line).unwrap()
        }
    }

    fn frames(input: &[u8]) -> Vec<Result<Got, String>> {
        let mut reader = FrameReader::new(input);
        let mut out = Vec::new();
        loop {
            match reader.next_frame() {
                Ok(Next::Frame(f)) => out.push(Ok(Got::of(&f))),
                Ok(Next::Eof) => return out,
                Ok(Next::Interrupted) => unreachable!(),
                Err(e) => {
                    out.push(Err(e.to_string()));
                    return out;
                }
            }
        }
    }

    fn hdr(name: &str, len: usize) -> String {
        format!("ver:3.0 server:supervisor serial:21 pool:listener poolserial:10 eventname:{name} len:{len}\n")
    }

    #[test]
    fn reads_ascii_frames_back_to_back() {
        let p1 = "processname:cat groupname:cat from_state:STARTING pid:2766";
        let p2 = "when:1700000000";
        let input = format!(
            "{}{}{}{}",
            hdr("PROCESS_STATE_RUNNING", p1.len()),
            p1,
            hdr("TICK_5", p2.len()),
            p2
        );
        let got = frames(input.as_bytes());
        assert_eq!(got.len(), 2);
        let f = got[0].as_ref().unwrap();
        assert_eq!(f.header().eventname(), "PROCESS_STATE_RUNNING");
        assert_eq!(f.header().get("serial"), Some("21"));
        assert_eq!(f.header().get("pool"), Some("listener"));
        assert_eq!(f.payload, p1);
        assert_eq!(got[1].as_ref().unwrap().payload, p2);
    }

    #[test]
    fn tokens_in_any_order_split_on_first_colon_unknown_kept() {
        let h = Header::parse("len:0 custom:a:b:c eventname:TICK_5 ver:3.0").unwrap();
        assert_eq!(h.eventname(), "TICK_5");
        assert_eq!(h.len, 0);
        assert_eq!(h.get("custom"), Some("a:b:c"));
        assert_eq!(h.tokens().count(), 4);
    }

    /// Input as a server writes it: one write per frame, the next only after our answer. At
    /// the end of a write nothing is pending (the server waits for RESULT); reading on gets the
    /// next write, as if we had answered.
    struct Writes {
        writes: std::collections::VecDeque<Vec<u8>>,
        pos: usize,
    }

    impl Writes {
        fn new(writes: &[String]) -> Writes {
            Writes {
                writes: writes.iter().map(|w| w.as_bytes().to_vec()).collect(),
                pos: 0,
            }
        }
    }

    impl io::Read for Writes {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = {
                let b = self.fill_buf()?;
                let n = b.len().min(out.len());
                out[..n].copy_from_slice(&b[..n]);
                n
            };
            self.consume(n);
            Ok(n)
        }
    }

    impl BufRead for Writes {
        fn fill_buf(&mut self) -> io::Result<&[u8]> {
            while self.writes.front().is_some_and(|w| self.pos == w.len()) {
                self.writes.pop_front();
                self.pos = 0;
            }
            Ok(self.writes.front().map_or(&[][..], |w| &w[self.pos..]))
        }
        fn consume(&mut self, n: usize) {
            self.pos += n;
        }
    }

    impl Input for Writes {
        fn pending(&mut self, _wait: Duration) -> io::Result<bool> {
            Ok(self.writes.front().is_some_and(|w| self.pos < w.len()))
        }
    }

    fn read_all<I: Input>(mut reader: FrameReader<I>) -> Vec<Got> {
        let mut out = Vec::new();
        while let Next::Frame(f) = reader.next_frame().unwrap() {
            out.push(Got::of(&f));
        }
        out
    }

    #[test]
    fn byte_counted_non_ascii_frame_then_next_frame() {
        // supervisord 3 / ochinchina: len counts bytes. "héllo wörld" is 11 chars, 13 bytes.
        let p1 = "processname:x groupname:x pid:1 channel:stdout\nhéllo wörld";
        let p2 = "when:1700000005";
        let p3 = "processname:ünï groupname:ünï from_state:STARTING pid:7";
        let writes = [
            format!("{}{}", hdr("PROCESS_LOG_STDOUT", p1.len()), p1),
            format!("{}{}", hdr("TICK_5", p2.len()), p2),
            format!("{}{}", hdr("PROCESS_STATE_RUNNING", p3.len()), p3),
        ];
        let got = read_all(FrameReader::new(Writes::new(&writes)));
        assert_eq!(got.len(), 3, "{got:?}");
        assert_eq!(got[0].payload, p1);
        assert_eq!(got[1].header().eventname(), "TICK_5");
        assert_eq!(got[2].payload, p3);
    }

    #[test]
    fn byte_counted_last_frame_then_eof() {
        let p = "héllo";
        let input = format!("{}{}", hdr("X", p.len()), p);
        let got = frames(input.as_bytes());
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].as_ref().unwrap().payload, p);
    }

    #[test]
    fn char_counted_frames_as_separate_writes() {
        let p1 = "processname:x groupname:x pid:1 channel:stdout\nünïcödé ✓✓✓ 😀";
        let p2 = "when:1700000005";
        let writes = [
            format!("{}{}", hdr("PROCESS_LOG_STDOUT", p1.chars().count()), p1),
            format!("{}{}", hdr("TICK_5", p2.len()), p2),
        ];
        let mut reader = FrameReader::new(Writes::new(&writes));
        let Next::Frame(f) = reader.next_frame().unwrap() else {
            panic!()
        };
        assert_eq!(f.payload, p1);
        assert_eq!(reader.len_unit(), LenUnit::Chars);
        let got = read_all(reader);
        assert_eq!(got[0].payload, p2);
    }

    #[test]
    fn char_counted_non_ascii_frame_then_next_frame() {
        // supervisord 4 on Python 3: len counts characters.
        let p1 = "processname:x groupname:x pid:1 channel:stdout\nhéllo wörld ✓ 😀";
        let p2 = "processname:ünï groupname:ünï from_state:STARTING pid:7";
        let input = format!(
            "{}{}{}{}",
            hdr("PROCESS_LOG_STDOUT", p1.chars().count()),
            p1,
            hdr("PROCESS_STATE_RUNNING", p2.chars().count()),
            p2
        );
        let mut reader = FrameReader::new(input.as_bytes());
        let Next::Frame(f1) = reader.next_frame().unwrap() else {
            panic!()
        };
        assert_eq!(f1.payload, p1);
        assert_eq!(reader.len_unit(), LenUnit::Chars);
        let Next::Frame(f2) = reader.next_frame().unwrap() else {
            panic!()
        };
        assert_eq!(f2.payload, p2);
        assert!(matches!(reader.next_frame().unwrap(), Next::Eof));
    }

    #[test]
    fn byte_counted_payload_ending_on_a_multibyte_char() {
        let p = "data ✓";
        let input = format!("{}{}", hdr("X", p.len()), p);
        let got = frames(input.as_bytes());
        assert_eq!(got[0].as_ref().unwrap().payload, p);
    }

    #[test]
    fn empty_payload() {
        let input = format!(
            "{}{}",
            hdr("SUPERVISOR_STATE_CHANGE_RUNNING", 0),
            hdr("TICK_5", 0)
        );
        let got = frames(input.as_bytes());
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].as_ref().unwrap().payload, "");
    }

    fn err_of(input: &[u8]) -> String {
        match frames(input).pop() {
            Some(Err(e)) => e,
            other => panic!("expected an error, got {other:?}"),
        }
    }

    #[test]
    fn bad_len_values_are_refused() {
        for (len, want) in [
            ("-5", "invalid len \"-5\""),
            ("abc", "invalid len \"abc\""),
            ("", "invalid len \"\""),
            ("1e3", "invalid len"),
            ("99999999999999999999999", "above the"),
            ("16777217", "above the"),
        ] {
            let e = err_of(format!("eventname:X len:{len}\n").as_bytes());
            assert!(e.contains(want), "len {len:?}: {e}");
            assert!(e.contains("eventname:X"), "quotes the header: {e}");
        }
    }

    #[test]
    fn missing_tokens_and_garbage() {
        assert!(err_of(b"eventname:X\n").contains("no len"));
        assert!(err_of(b"len:3\nabc").contains("no eventname"));
        assert!(err_of(b"hello world\n").contains("not key:value"));
        assert!(err_of(b":x eventname:X len:0\n").contains("not key:value"));
        assert!(err_of(b"\n").contains("empty"));
        assert!(err_of(b"eventname:\xff len:0\n").contains("not valid UTF-8"));
    }

    #[test]
    fn eof_inside_a_frame() {
        assert!(err_of(b"eventname:X len:10\nabc").contains("3 of 10"));
        assert!(err_of(b"eventname:X len:").contains("inside a header"));
    }

    #[test]
    fn invalid_utf8_payload() {
        assert!(err_of(b"eventname:X len:3\na\xffb").contains("payload is not valid UTF-8"));
    }

    #[test]
    fn header_without_newline_is_capped() {
        let junk = vec![b'x'; MAX_HEADER * 3];
        assert!(err_of(&junk).contains("longer than"));
    }

    #[test]
    fn long_header_quote_is_truncated() {
        let line = format!("eventname:X len:abc pad:{}\n", "y".repeat(1000));
        let e = err_of(line.as_bytes());
        assert!(e.len() < 400, "{e}");
        assert!(e.ends_with("..."), "{e}");
    }

    #[test]
    fn control_characters_are_escaped_in_messages() {
        assert_eq!(quote("a\u{1b}[31mb\rc"), "a\\u{1b}[31mb\\rc");
    }

    #[test]
    fn answers_are_exact_bytes() {
        let mut out = Vec::new();
        write_result_ready(&mut out, Ack::Ok).unwrap();
        write_result_ready(&mut out, Ack::Retry).unwrap();
        assert_eq!(out, b"RESULT 2\nOKREADY\nRESULT 4\nFAILREADY\n");
    }

    /// Property tests (proptest): whatever supervisord writes, the reader gives it back, and
    /// no input makes it panic or loop. The fuzz target tests/fuzz/fuzz_targets/frames.rs
    /// goes further, unbounded in time; these run with every `cargo test`.
    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// An event name as supervisord writes them, or any token without spaces or colons.
        fn eventname() -> impl Strategy<Value = String> {
            prop_oneof![
                Just("PROCESS_STATE_RUNNING".to_owned()),
                Just("PROCESS_LOG_STDOUT".to_owned()),
                Just("TICK_5".to_owned()),
                "[A-Z_0-9]{1,40}",
            ]
        }

        /// A stream as supervisord writes it: one write per frame, `len` counted in characters
        /// (supervisord 4 on Python 3) or in bytes (supervisord 3, other implementations).
        fn stream(frames: &[(String, String)], chars: bool) -> Writes {
            let writes: Vec<String> = frames
                .iter()
                .map(|(name, payload)| {
                    let len = if chars {
                        payload.chars().count()
                    } else {
                        payload.len()
                    };
                    format!("{}{payload}", hdr(name, len))
                })
                .collect();
            Writes::new(&writes)
        }

        fn round_trip(frames: &[(String, String)], chars: bool) -> Result<(), TestCaseError> {
            let got = read_all(FrameReader::new(stream(frames, chars)));
            prop_assert_eq!(got.len(), frames.len());
            for (g, (name, payload)) in got.iter().zip(frames) {
                prop_assert_eq!(g.header().eventname(), name.as_str());
                prop_assert_eq!(&g.payload, payload);
            }
            Ok(())
        }

        proptest! {
            #[test]
            fn character_counted_streams_read_back_exactly(
                frames in prop::collection::vec((eventname(), "(\\PC|\n){0,200}"), 1..12)
            ) {
                round_trip(&frames, true)?;
            }

            #[test]
            fn byte_counted_streams_read_back_exactly(
                frames in prop::collection::vec((eventname(), "(\\PC|\n){0,200}"), 1..12)
            ) {
                round_trip(&frames, false)?;
            }

            #[test]
            fn any_bytes_end_in_frames_then_eof_or_one_error(
                input in prop::collection::vec(any::<u8>(), 0..4096)
            ) {
                let got = frames(&input);
                // Each frame takes at least one line: the reader always moves on.
                let lines = input.iter().filter(|&&b| b == b'\n').count();
                prop_assert!(got.len() <= lines + 1);
                // Only the last can be an error.
                prop_assert!(got.iter().rev().skip(1).all(Result::is_ok));
            }

            #[test]
            fn damaged_streams_never_panic(
                sent in prop::collection::vec((eventname(), "(\\PC|\n){0,64}"), 1..6),
                edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
            ) {
                let mut bytes: Vec<u8> = sent
                    .iter()
                    .flat_map(|(n, p)| format!("{}{p}", hdr(n, p.chars().count())).into_bytes())
                    .collect();
                for (at, byte) in edits {
                    let i = at.index(bytes.len());
                    bytes[i] = byte;
                }
                let _ = frames(&bytes);
            }
        }
    }
}
