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
//! Counting characters is counting what a lossy UTF-8 decoder yields (`String::from_utf8_lossy`):
//! a valid sequence is one character, and so is each maximal invalid piece (one U+FFFD).
//!
//! # Invalid UTF-8 is data (issue 15)
//! supervisord 4 always sends UTF-8 (it encodes a `str`), but servers that count bytes
//! (supervisord 3 on Python 2, ochinchina/supervisord) pass a program's binary or Latin-1
//! output through as it is. Such a frame is framed by its `len` like any other; a header line
//! or payload that is not UTF-8 is decoded lossily (bad bytes become U+FFFD) into a second,
//! reusable buffer, so valid frames still borrow the raw buffers and allocate nothing.
//! [`Frame::repaired`] says which part was repaired; the runtime warns once per kind. Only
//! framing errors ([`FrameError`]) end the stream.

use std::io::{self, BufRead, Write};
use std::time::Duration;

mod tokens;

use tokens::find_newline;
pub(crate) use tokens::Tokens;

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
        self.line.get(self.eventname.clone()).unwrap_or_default()
    }

    /// The header line as received (without its newline).
    pub fn line(&self) -> &'a str {
        self.line
    }

    /// Every `key:value` token in the order received, unknown keys included.
    pub fn tokens(&self) -> impl Iterator<Item = (&'a str, &'a str)> {
        // Validated by `parse`: every token has a ':' after a non-empty key.
        Tokens::new(self.line).filter_map(|t| t.pair)
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
        let mut tokens = Tokens::new(line);
        while let Some(span) = tokens.next_span() {
            any = true;
            match span.key(line) {
                None => {
                    return Err(FrameError::MalformedHeader {
                        token: quote(span.text(line)),
                        header: quote(line),
                    })
                }
                Some(b"eventname") if eventname.is_none() => {
                    eventname = Some(span.value_range());
                }
                Some(b"len") if raw_len.is_none() => raw_len = Some(span.value(line)),
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
    /// Which parts were not valid UTF-8 and are shown with U+FFFD for their bad bytes.
    pub repaired: Repaired,
}

/// Parts of a frame that were not valid UTF-8 as received (issue 15).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Repaired {
    pub header: bool,
    pub payload: bool,
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
    source: Source<I>,
    /// The raw bytes of the header line and of the payload: what a valid frame borrows.
    line: Vec<u8>,
    payload: Vec<u8>,
    /// Lossy copies, written only when the raw bytes are not UTF-8 (and then reused).
    line_repaired: String,
    payload_repaired: String,
}

/// The input and what we know about it, apart from the buffers a frame borrows.
struct Source<I: Input> {
    input: I,
    unit: LenUnit,
}

impl<I: Input> FrameReader<I> {
    pub fn new(input: I) -> Self {
        FrameReader {
            source: Source {
                input,
                unit: LenUnit::Unknown,
            },
            line: Vec::with_capacity(256),
            payload: Vec::with_capacity(1024),
            line_repaired: String::new(),
            payload_repaired: String::new(),
        }
    }

    pub fn len_unit(&self) -> LenUnit {
        self.source.unit
    }

    pub fn input_mut(&mut self) -> &mut I {
        &mut self.source.input
    }

    /// Read the next frame. An interruption before the first header byte is reported as
    /// [`Next::Interrupted`]; once a frame has begun it is read to its end (the event in hand
    /// is always finished).
    pub fn next_frame(&mut self) -> Result<Next<'_>, FrameError> {
        self.line.clear();
        match self.source.read_header_line(&mut self.line)? {
            HeaderLine::Eof => return Ok(Next::Eof),
            HeaderLine::Interrupted => return Ok(Next::Interrupted),
            HeaderLine::Line => {}
        }
        let (text, header_repaired) = decode(&self.line, &mut self.line_repaired);
        let header = Header::parse(text)?;
        self.payload.clear();
        self.source
            .read_payload(&mut self.payload, header.len, text, self.line.len() + 1)?;
        let (payload, payload_repaired) = decode(&self.payload, &mut self.payload_repaired);
        Ok(Next::Frame(Frame {
            header,
            payload,
            repaired: Repaired {
                header: header_repaired,
                payload: payload_repaired,
            },
        }))
    }
}

/// `bytes` as text: borrowed when it is UTF-8 (validated once, nothing copied), else decoded
/// lossily into `repaired` (each maximal invalid piece becomes one U+FFFD, as
/// `String::from_utf8_lossy` does). True if it had to be repaired.
fn decode<'b>(bytes: &'b [u8], repaired: &'b mut String) -> (&'b str, bool) {
    match std::str::from_utf8(bytes) {
        Ok(text) => (text, false),
        Err(_) => {
            repaired.clear();
            for chunk in bytes.utf8_chunks() {
                repaired.push_str(chunk.valid());
                if !chunk.invalid().is_empty() {
                    repaired.push(char::REPLACEMENT_CHARACTER);
                }
            }
            (repaired.as_str(), true)
        }
    }
}

impl<I: Input> Source<I> {
    fn read_header_line(&mut self, line: &mut Vec<u8>) -> Result<HeaderLine, FrameError> {
        loop {
            let available = match self.input.fill_buf() {
                Ok(buf) => buf,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                    if line.is_empty() {
                        return Ok(HeaderLine::Interrupted);
                    }
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            if available.is_empty() {
                if line.is_empty() {
                    return Ok(HeaderLine::Eof);
                }
                return Err(FrameError::EofInHeader {
                    header: quote_bytes(line),
                });
            }
            let (used, done) = match find_newline(available) {
                Some(i) => (i + 1, true),
                None => (available.len(), false),
            };
            let room = MAX_HEADER.saturating_sub(line.len());
            let body = if done { used - 1 } else { used };
            if body > room {
                line.extend_from_slice(&available[..room]);
                return Err(FrameError::HeaderTooLong {
                    header: quote_bytes(line),
                });
            }
            line.extend_from_slice(&available[..body]);
            self.input.consume(used);
            if done {
                return Ok(HeaderLine::Line);
            }
        }
    }

    /// Read the payload of a frame whose header (`text`, `header_bytes` long on the wire with
    /// its newline) announced `len`.
    fn read_payload(
        &mut self,
        buf: &mut Vec<u8>,
        len: usize,
        text: &str,
        header_bytes: usize,
    ) -> Result<(), FrameError> {
        // Never trust len for an allocation: the buffer grows with what really arrives.
        let mut count = Utf8Count::default();
        let eof = |got: usize| FrameError::EofInPayload {
            got,
            len,
            header: quote(text),
        };
        let settle = if header_bytes + len <= PIPE_BUF {
            SETTLE_SMALL
        } else {
            SETTLE_LARGE
        };

        if self.unit == LenUnit::Unknown {
            // Step 1: len bytes.
            self.take(buf, &mut count, len, Goal::Bytes, settle)
                .map_err(|e| e.or_eof(eof(buf.len())))?;
            if count.chars == len && count.complete() {
                return Ok(());
            }
            // Step 3: more characters owed (or the last one is cut short). Are they on their
            // way?
            if !self.pending(settle)? {
                return Ok(()); // the server counted bytes
            }
        }
        // Character mode: read until len complete characters.
        let bytes_before = buf.len();
        match self.take(buf, &mut count, len, Goal::Chars, settle) {
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

    fn pending(&mut self, wait: Duration) -> io::Result<bool> {
        loop {
            match self.input.pending(wait) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => return other,
            }
        }
    }

    /// Move bytes from the input into `buf` until the goal is met.
    ///
    /// By characters, a payload may end inside a sequence that is cut short (invalid UTF-8,
    /// one U+FFFD): bytes that continue it are taken if they are there within `settle`, and
    /// a byte that cannot continue it belongs to the next frame. So a frame that ends in
    /// bad bytes never makes us wait for bytes the server will not send before our answer.
    fn take(
        &mut self,
        buf: &mut Vec<u8>,
        count: &mut Utf8Count,
        len: usize,
        goal: Goal,
        settle: Duration,
    ) -> Result<(), Take> {
        loop {
            let reached = match goal {
                Goal::Bytes => buf.len() >= len,
                Goal::Chars => count.chars >= len && count.complete(),
            };
            if reached {
                return Ok(());
            }
            let last_cut_short = matches!(goal, Goal::Chars) && count.chars >= len;
            if last_cut_short && !self.pending(settle).map_err(Take::Io)? {
                return Ok(());
            }
            let available = match self.input.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Take::Io(e)),
            };
            if available.is_empty() {
                if last_cut_short {
                    return Ok(()); // the frame was whole; the end of input comes next
                }
                return Err(Take::Eof);
            }
            let n = match goal {
                Goal::Bytes => available.len().min(len - buf.len()),
                Goal::Chars => count.bytes_for(available, len),
            };
            if n == 0 {
                return Ok(()); // the next byte starts the next frame
            }
            count.feed(&available[..n]);
            buf.extend_from_slice(&available[..n]);
            self.input.consume(n);
        }
    }
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

/// Counts characters the way a lossy UTF-8 decoder yields them, byte by byte, without
/// validating anything else: a valid sequence is one character, and so is each maximal
/// piece of an invalid one (the Unicode "maximal subpart" practice that
/// `String::from_utf8_lossy` follows; it becomes one U+FFFD). For valid UTF-8 this is the
/// number of code points, which is what supervisord 4 counts.
#[derive(Clone, Copy)]
struct Utf8Count {
    chars: usize,
    /// Continuation bytes the current sequence still needs...
    need: u8,
    /// ...and the range the next one must be in (narrower after E0, ED, F0, F4).
    lo: u8,
    hi: u8,
}

impl Default for Utf8Count {
    fn default() -> Self {
        Utf8Count {
            chars: 0,
            need: 0,
            lo: 0x80,
            hi: 0xBF,
        }
    }
}

impl Utf8Count {
    fn complete(&self) -> bool {
        self.need == 0
    }

    /// Whether `b` continues the current sequence.
    fn continues(&self, b: u8) -> bool {
        self.need > 0 && (self.lo..=self.hi).contains(&b)
    }

    fn feed(&mut self, bytes: &[u8]) {
        // The usual payload is ASCII: counted a word at a time, not byte by byte.
        if self.need == 0 && bytes.is_ascii() {
            self.chars += bytes.len();
            return;
        }
        for &b in bytes {
            self.step(b);
        }
    }

    fn step(&mut self, b: u8) {
        if self.continues(b) {
            self.need -= 1;
            self.lo = 0x80;
            self.hi = 0xBF;
            return;
        }
        // Anything else starts a character, and cuts short a sequence still in progress
        // (which was one U+FFFD, counted at its first byte).
        self.chars += 1;
        (self.need, self.lo, self.hi) = match b {
            0xC2..=0xDF => (1, 0x80, 0xBF),
            0xE0 => (2, 0xA0, 0xBF),
            0xE1..=0xEC | 0xEE..=0xEF => (2, 0x80, 0xBF),
            0xED => (2, 0x80, 0x9F),
            0xF0 => (3, 0x90, 0xBF),
            0xF1..=0xF3 => (3, 0x80, 0xBF),
            0xF4 => (3, 0x80, 0x8F),
            // ASCII, or a byte that cannot start a sequence (one U+FFFD on its own).
            _ => (0, 0x80, 0xBF),
        };
    }

    /// How many of `bytes` to take so that we end with `len` characters: up to the byte that
    /// would start character `len + 1` (or all of them, if that is not enough).
    fn bytes_for(&self, bytes: &[u8], len: usize) -> usize {
        let mut probe = *self;
        for (i, &b) in bytes.iter().enumerate() {
            if probe.chars >= len && !probe.continues(b) {
                return i;
            }
            probe.step(b);
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
        repaired: Repaired,
    }

    impl Got {
        fn of(f: &Frame) -> Got {
            Got {
                line: f.header.line().to_owned(),
                payload: f.payload.to_owned(),
                repaired: f.repaired,
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
        // Not UTF-8 and not key:value either: refused for the latter, quoted lossily.
        let e = err_of(b"\xff\xfe junk\n");
        assert!(e.contains("not key:value") && e.contains('\u{fffd}'), "{e}");
        assert!(err_of(b"eventname:X len:\xff\n").contains("invalid len \"\u{fffd}\""));
    }

    #[test]
    fn eof_inside_a_frame() {
        assert!(err_of(b"eventname:X len:10\nabc").contains("3 of 10"));
        assert!(err_of(b"eventname:X len:").contains("inside a header"));
    }

    // Issue 15: invalid UTF-8 is data, not a reason to die.

    /// A frame with a payload of raw bytes; `len` counts bytes, or characters as a lossy
    /// decoder sees them.
    fn raw_frame(name: &str, payload: &[u8], chars: bool) -> Vec<u8> {
        let len = if chars {
            String::from_utf8_lossy(payload).chars().count()
        } else {
            payload.len()
        };
        let mut f = hdr(name, len).into_bytes();
        f.extend_from_slice(payload);
        f
    }

    /// Like [`Writes`], from raw bytes: one write per frame.
    fn raw_writes(writes: &[Vec<u8>]) -> Writes {
        Writes {
            writes: writes.iter().cloned().collect(),
            pos: 0,
        }
    }

    fn lossy(bytes: &[u8]) -> String {
        String::from_utf8_lossy(bytes).into_owned()
    }

    #[test]
    fn invalid_utf8_payload_is_repaired_and_the_next_frame_read() {
        let got = frames(b"eventname:X len:3\na\xffbeventname:Y len:2\nok");
        let f = got[0].as_ref().unwrap();
        assert_eq!(f.payload, "a\u{fffd}b");
        assert_eq!(
            f.repaired,
            Repaired {
                header: false,
                payload: true
            }
        );
        let g = got[1].as_ref().unwrap();
        assert_eq!(
            (g.payload.as_str(), g.repaired),
            ("ok", Repaired::default())
        );
    }

    #[test]
    fn header_with_bad_bytes_in_values_is_accepted() {
        let input = b"ver:3.0 server:sup\xe9rvisor serial:1 pool:l\xff\xfe poolserial:1 eventname:TICK_5 len:15\nwhen:1700000000";
        let got = frames(input);
        assert_eq!(got.len(), 1, "{got:?}");
        let f = got[0].as_ref().unwrap();
        assert_eq!(f.header().eventname(), "TICK_5");
        assert_eq!(f.header().get("pool"), Some("l\u{fffd}\u{fffd}"));
        assert_eq!(f.header().get("server"), Some("sup\u{fffd}rvisor"));
        assert_eq!(f.payload, "when:1700000000");
        assert!(f.repaired.header && !f.repaired.payload);
        // A bad byte in the event name itself: an event name nobody knows, read on.
        let got = frames(b"eventname:TICK\xff_5 len:2\nabeventname:Z len:0\n");
        assert_eq!(
            got[0].as_ref().unwrap().header().eventname(),
            "TICK\u{fffd}_5"
        );
        assert_eq!(got[1].as_ref().unwrap().header().eventname(), "Z");
    }

    #[test]
    fn byte_counted_stream_with_invalid_utf8_in_data_and_program_name() {
        // supervisord 3 / ochinchina pass program output through as bytes: Latin-1, binary,
        // a sequence cut short at the end. The len unit stays unknown (nothing is pending
        // after len bytes), so the valid non-ASCII frame after them is still read by bytes.
        let log = b"processname:cat groupname:cat pid:7 channel:stdout\n\xff\xfe caf\xe9\n";
        let cut = b"processname:cat groupname:cat pid:7 channel:stdout\nend \xe2\x82";
        let name = b"processname:caf\xe9 groupname:caf\xe9 from_state:STARTING pid:9";
        let valid = "processname:x groupname:x pid:1 channel:stdout\nhéllo wörld ✓";
        let writes = [
            raw_frame("PROCESS_LOG_STDOUT", log, false),
            raw_frame("PROCESS_LOG_STDOUT", cut, false),
            raw_frame("PROCESS_STATE_RUNNING", name, false),
            raw_frame("PROCESS_LOG_STDOUT", valid.as_bytes(), false),
            raw_frame("TICK_5", b"when:1700000005", false),
        ];
        let mut reader = FrameReader::new(raw_writes(&writes));
        let mut got = Vec::new();
        while let Next::Frame(f) = reader.next_frame().unwrap() {
            got.push(Got::of(&f));
            assert_eq!(
                reader.len_unit(),
                LenUnit::Unknown,
                "after frame {}",
                got.len()
            );
        }
        assert_eq!(got.len(), 5, "{got:?}");
        assert_eq!(got[0].payload, lossy(log));
        assert!(got[0].payload.ends_with("\u{fffd}\u{fffd} caf\u{fffd}\n"));
        assert_eq!(got[1].payload, lossy(cut));
        assert_eq!(got[2].payload, lossy(name));
        assert!(got[..3].iter().all(|g| g.repaired.payload));
        assert_eq!(got[3].payload, valid);
        assert!(!got[3].repaired.payload);
        assert_eq!(got[4].payload, "when:1700000005");
    }

    #[test]
    fn char_counted_stream_with_invalid_utf8_in_data_and_program_name() {
        // supervisord 4 never sends invalid UTF-8; a server that counts characters and did
        // would count what a lossy decoder sees. Before and after the unit is known.
        let first = "processname:x groupname:x pid:1 channel:stdout\nünïcödé ✓";
        let log =
            b"processname:cat groupname:cat pid:7 channel:stdout\n\xff\xfe caf\xe9 \xc3\xa9t\xc3\n";
        let name = b"processname:\xe2\x82caf\xc3\xa9 groupname:g from_state:STARTING pid:9";
        let last = "processname:ünï groupname:ünï from_state:STARTING pid:7";
        for lead in [true, false] {
            let mut writes = Vec::new();
            if lead {
                writes.push(raw_frame("PROCESS_LOG_STDOUT", first.as_bytes(), true));
            }
            writes.push(raw_frame("PROCESS_LOG_STDOUT", log, true));
            writes.push(raw_frame("PROCESS_STATE_RUNNING", name, true));
            writes.push(raw_frame("PROCESS_STATE_RUNNING", last.as_bytes(), true));
            writes.push(raw_frame("TICK_5", b"when:1700000005", true));
            let mut reader = FrameReader::new(raw_writes(&writes));
            let mut got = Vec::new();
            while let Next::Frame(f) = reader.next_frame().unwrap() {
                got.push(Got::of(&f));
            }
            assert_eq!(reader.len_unit(), LenUnit::Chars, "lead {lead}");
            let got: Vec<String> = got.into_iter().map(|g| g.payload).collect();
            let mut want = vec![
                lossy(log),
                lossy(name),
                last.to_owned(),
                "when:1700000005".into(),
            ];
            if lead {
                want.insert(0, first.to_owned());
            }
            assert_eq!(got, want, "lead {lead}");
        }
    }

    #[test]
    fn char_counted_payload_ending_in_a_cut_short_sequence_takes_no_byte_of_the_next_frame() {
        // The last character is a sequence cut short (one U+FFFD): the reader must neither
        // wait for bytes that would complete it nor take the next header's first byte.
        let first = "ünï ✓";
        let cut = b"data \xf0\x9f\x98";
        let mut input = raw_frame("A", first.as_bytes(), true);
        input.extend(raw_frame("B", cut, true));
        input.extend(raw_frame("C", b"tail \xe2", true));
        let got = frames(&input);
        let payloads: Vec<&str> = got
            .iter()
            .map(|g| g.as_ref().unwrap().payload.as_str())
            .collect();
        assert_eq!(payloads, [first, "data \u{fffd}", "tail \u{fffd}"]);
    }

    #[test]
    fn valid_frames_never_touch_the_repair_buffers() {
        // The common path borrows the raw buffers: no allocation per event.
        let p = "processname:x groupname:x pid:1 channel:stdout\nhéllo ✓";
        let writes = [
            raw_frame("PROCESS_LOG_STDOUT", p.as_bytes(), false),
            raw_frame("PROCESS_LOG_STDOUT", p.as_bytes(), true),
            raw_frame("TICK_5", b"", false),
        ];
        let mut reader = FrameReader::new(raw_writes(&writes));
        while let Next::Frame(f) = reader.next_frame().unwrap() {
            assert_eq!(f.repaired, Repaired::default());
        }
        assert_eq!(reader.line_repaired.capacity(), 0);
        assert_eq!(reader.payload_repaired.capacity(), 0);
        // A repaired frame reuses its buffer from then on.
        let mut reader = FrameReader::new(&b"eventname:X len:1\n\xffeventname:X len:1\n\xfe"[..]);
        let mut seen = Vec::new();
        while let Next::Frame(f) = reader.next_frame().unwrap() {
            seen.push(f.payload.as_ptr());
        }
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0], seen[1]);
    }

    #[test]
    fn the_fuzz_seeds_for_invalid_utf8_read_cleanly() {
        // tests/fuzz/utf8-seeds.py: each seed is a stream a server could write, so it must
        // read to its end without a framing error, repairing what is not UTF-8.
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz/seeds/frames");
        let mut seen = 0;
        let mut repaired = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if !name.starts_with("utf8-") {
                continue;
            }
            seen += 1;
            let got = frames(&std::fs::read(&path).unwrap());
            assert!(
                !got.is_empty() && got.iter().all(Result::is_ok),
                "{name}: {got:?}"
            );
            repaired += got
                .iter()
                .flatten()
                .filter(|g| g.repaired.header || g.repaired.payload)
                .count();
        }
        assert_eq!(seen, 13, "the seeds utf8-seeds.py writes");
        assert!(repaired >= 12, "{repaired} repaired frames");
    }

    #[test]
    fn utf8_count_agrees_with_the_lossy_decoder_on_tricky_bytes() {
        for bytes in [
            &b"\xe0\x80"[..],
            b"\xed\xa0\x80",
            b"\xf4\x90\x80\x80",
            b"\xf0\x9f\x98",
            b"\xc0\xaf",
            b"\xf8\x88\x80\x80\x80",
            b"\x80\xbf\xfe\xff",
            b"a\xc3",
            b"\xe2\x82\xac\xe2\x82",
        ] {
            let mut c = Utf8Count::default();
            c.feed(bytes);
            assert_eq!(c.chars, lossy(bytes).chars().count(), "{bytes:?}");
        }
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
            fn utf8_count_is_the_lossy_decoders_character_count(
                bytes in prop::collection::vec(any::<u8>(), 0..64)
            ) {
                let mut c = Utf8Count::default();
                c.feed(&bytes);
                prop_assert_eq!(c.chars, String::from_utf8_lossy(&bytes).chars().count());
            }

            #[test]
            fn streams_of_any_bytes_read_back_lossily_by_bytes_or_characters(
                frames in prop::collection::vec(
                    (eventname(), prop::collection::vec(any::<u8>(), 0..200)),
                    1..12,
                ),
                chars: bool,
            ) {
                let writes: Vec<Vec<u8>> = frames
                    .iter()
                    .map(|(name, payload)| raw_frame(name, payload, chars))
                    .collect();
                let got = read_all(FrameReader::new(raw_writes(&writes)));
                prop_assert_eq!(got.len(), frames.len());
                for (g, (name, payload)) in got.iter().zip(&frames) {
                    prop_assert_eq!(g.header().eventname(), name.as_str());
                    prop_assert_eq!(&g.payload, &String::from_utf8_lossy(payload));
                    prop_assert_eq!(g.repaired.payload, std::str::from_utf8(payload).is_err());
                }
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
