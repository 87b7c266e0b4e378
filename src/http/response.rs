//! Reading one HTTP/1.1 response from bytes: status line, headers, body. Pure over
//! `impl BufRead`, so the tests feed byte slices and the client feeds a socket.
//!
//! The body is framed as RFC 9112 §6.3 says, in its order of precedence: no body for a
//! response to HEAD and for 1xx, 204 and 304; `Transfer-Encoding: chunked`; `Content-Length`;
//! else everything until the server closes the connection. Interim 1xx responses (a `100
//! Continue` we did not ask for) are read and dropped. Everything is bounded: the status line,
//! headers and chunk-size lines together by [`Limits::max_header`] (per response, trailers
//! included), the body by [`Limits::max_body`], so a hostile or broken server costs at most
//! that much memory. A body announced larger than the limit is refused before it is read.

use std::io::{self, BufRead, Read};

/// What a response may cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Status line, header lines and chunk-size lines, in bytes.
    pub max_header: usize,
    /// The body (after chunked decoding), in bytes.
    pub max_body: usize,
}

/// A response as read: what the server said, unmodified except for chunked decoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// The reason phrase (`OK`), as sent; may be empty.
    pub reason: String,
    /// Header fields in the order received, names as sent (compare them case-insensitively:
    /// [`Response::header`] does).
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The value of the first header field named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Why a response could not be read.
#[derive(Debug)]
pub enum ParseError {
    /// Not HTTP/1.x, or a framing error: the text says what.
    Malformed(String),
    /// The header (`what` = "header") or body ("body") exceeds its limit of `limit` bytes.
    TooLarge { what: &'static str, limit: usize },
    /// The transport failed (including its timeouts).
    Io(io::Error),
}

impl From<io::Error> for ParseError {
    fn from(e: io::Error) -> ParseError {
        ParseError::Io(e)
    }
}

fn malformed(text: impl Into<String>) -> ParseError {
    ParseError::Malformed(text.into())
}

/// Read one response. `head`: the request was HEAD, so the response has no body whatever its
/// headers say.
pub fn read_response(
    reader: &mut impl BufRead,
    limits: Limits,
    head: bool,
) -> Result<Response, ParseError> {
    let mut budget = limits.max_header;
    loop {
        let (status, reason) = status_line(reader, &mut budget, limits.max_header)?;
        let headers = header_fields(reader, &mut budget, limits.max_header)?;
        // RFC 9110 §15.2: interim responses precede the final one; 101 (a protocol switch we
        // never ask for) is final and has no body.
        if (100..200).contains(&status) && status != 101 {
            continue;
        }
        let mut response = Response {
            status,
            reason,
            headers,
            body: Vec::new(),
        };
        if !(head || status < 200 || status == 204 || status == 304) {
            response.body = body(reader, &response, &mut budget, limits)?;
        }
        return Ok(response);
    }
}

/// One line ending in LF (CR LF or a bare LF, RFC 9112 §2.2), without its ending, charged to
/// `budget`. `Ok(None)` at end of input before the first byte.
fn read_line(
    reader: &mut impl BufRead,
    budget: &mut usize,
    limit: usize,
) -> Result<Option<Vec<u8>>, ParseError> {
    let mut line = Vec::new();
    let cap = u64::try_from(*budget).unwrap_or(u64::MAX);
    let n = reader.by_ref().take(cap).read_until(b'\n', &mut line)?;
    *budget -= n;
    if line.last() != Some(&b'\n') {
        if n == 0 {
            return Ok(None);
        }
        if *budget == 0 {
            return Err(ParseError::TooLarge {
                what: "header",
                limit,
            });
        }
        return Err(malformed(
            "the connection closed in the middle of the response header",
        ));
    }
    line.pop();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Ok(Some(line))
}

fn status_line(
    reader: &mut impl BufRead,
    budget: &mut usize,
    limit: usize,
) -> Result<(u16, String), ParseError> {
    let Some(line) = read_line(reader, budget, limit)? else {
        return Err(malformed(
            "the server closed the connection without sending a response",
        ));
    };
    let text = String::from_utf8_lossy(&line);
    let mut parts = text.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    let code = parts.next().unwrap_or_default();
    let reason = parts.next().unwrap_or_default().trim().to_owned();
    let valid_code = code.len() == 3 && code.bytes().all(|b| b.is_ascii_digit());
    if !version.starts_with("HTTP/1.") || !valid_code {
        return Err(malformed(format!(
            "not an HTTP/1.x status line: {:?}",
            excerpt(&text)
        )));
    }
    let status = code
        .parse()
        .map_err(|_| malformed(format!("bad status code {code:?}")))?;
    Ok((status, reason))
}

fn header_fields(
    reader: &mut impl BufRead,
    budget: &mut usize,
    limit: usize,
) -> Result<Vec<(String, String)>, ParseError> {
    let mut fields: Vec<(String, String)> = Vec::new();
    loop {
        let Some(line) = read_line(reader, budget, limit)? else {
            return Err(malformed(
                "the connection closed in the middle of the response header",
            ));
        };
        if line.is_empty() {
            return Ok(fields);
        }
        let text = String::from_utf8_lossy(&line);
        if text.starts_with([' ', '\t']) {
            // Obsolete line folding (RFC 9112 §5.2): a continuation of the previous value.
            match fields.last_mut() {
                Some((_, value)) => {
                    value.push(' ');
                    value.push_str(text.trim());
                    continue;
                }
                None => return Err(malformed("the header starts with a continuation line")),
            }
        }
        let Some((name, value)) = text.split_once(':') else {
            return Err(malformed(format!(
                "header line without a colon: {:?}",
                excerpt(&text)
            )));
        };
        if name.is_empty() || name.contains(|c: char| c.is_whitespace()) {
            return Err(malformed(format!("bad header name {:?}", excerpt(name))));
        }
        fields.push((name.to_owned(), value.trim().to_owned()));
    }
}

fn body(
    reader: &mut impl BufRead,
    response: &Response,
    budget: &mut usize,
    limits: Limits,
) -> Result<Vec<u8>, ParseError> {
    if let Some(coding) = response.header("transfer-encoding") {
        if coding.trim().eq_ignore_ascii_case("chunked") {
            return chunked(reader, budget, limits);
        }
        // We send no TE nor Accept-Encoding header, so anything else is unexpected.
        return Err(malformed(format!(
            "unsupported Transfer-Encoding {:?}",
            excerpt(coding)
        )));
    }
    match content_length(response)? {
        Some(length) => {
            if length > limits.max_body as u64 {
                return Err(ParseError::TooLarge {
                    what: "body",
                    limit: limits.max_body,
                });
            }
            let mut body = Vec::new();
            reader.by_ref().take(length).read_to_end(&mut body)?;
            if (body.len() as u64) < length {
                return Err(malformed(format!(
                    "the connection closed after {} of the {length} body bytes announced",
                    body.len()
                )));
            }
            Ok(body)
        }
        None => until_close(reader, limits.max_body),
    }
}

/// `Content-Length`, if any; several fields must agree (RFC 9112 §6.3 item 5).
fn content_length(response: &Response) -> Result<Option<u64>, ParseError> {
    let mut length = None;
    for (_, value) in response
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("content-length"))
    {
        for item in value.split(',') {
            let item = item.trim();
            let n: u64 = item
                .parse()
                .ok()
                .filter(|_| item.bytes().all(|b| b.is_ascii_digit()))
                .ok_or_else(|| malformed(format!("bad Content-Length {:?}", excerpt(value))))?;
            if length.is_some_and(|l| l != n) {
                return Err(malformed("conflicting Content-Length values"));
            }
            length = Some(n);
        }
    }
    Ok(length)
}

/// A close-delimited body. A TLS peer that closes without close_notify gives UnexpectedEof:
/// taken as the end, as browsers and curl do for such bodies (a truncated body can only make
/// a caller's check fail, never pass).
fn until_close(reader: &mut impl BufRead, max_body: usize) -> Result<Vec<u8>, ParseError> {
    let mut body = Vec::new();
    let cap = u64::try_from(max_body)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    match reader.by_ref().take(cap).read_to_end(&mut body) {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {}
        Err(e) => return Err(e.into()),
    }
    if body.len() > max_body {
        return Err(ParseError::TooLarge {
            what: "body",
            limit: max_body,
        });
    }
    Ok(body)
}

/// RFC 9112 §7.1: `size[;ext] CRLF data CRLF` ..., `0 CRLF`, trailer fields, `CRLF`.
fn chunked(
    reader: &mut impl BufRead,
    budget: &mut usize,
    limits: Limits,
) -> Result<Vec<u8>, ParseError> {
    let closed = || malformed("the connection closed in the middle of a chunked body");
    let mut body = Vec::new();
    loop {
        let line = read_line(reader, budget, limits.max_header)?.ok_or_else(closed)?;
        let text = String::from_utf8_lossy(&line);
        let digits = text.split(';').next().unwrap_or_default().trim();
        let size = u64::from_str_radix(digits, 16)
            .ok()
            .filter(|_| !digits.is_empty() && !digits.starts_with('+'))
            .ok_or_else(|| malformed(format!("bad chunk size line {:?}", excerpt(&text))))?;
        if size == 0 {
            // Trailer fields, read and dropped, up to the empty line.
            loop {
                let line = read_line(reader, budget, limits.max_header)?.ok_or_else(closed)?;
                if line.is_empty() {
                    return Ok(body);
                }
            }
        }
        if size > (limits.max_body - body.len()) as u64 {
            return Err(ParseError::TooLarge {
                what: "body",
                limit: limits.max_body,
            });
        }
        let before = body.len();
        reader.by_ref().take(size).read_to_end(&mut body)?;
        if ((body.len() - before) as u64) < size {
            return Err(closed());
        }
        let end = read_line(reader, budget, limits.max_header)?.ok_or_else(closed)?;
        if !end.is_empty() {
            return Err(malformed("a chunk is longer than its size line says"));
        }
    }
}

/// At most 80 characters of `text`, for an error message.
fn excerpt(text: &str) -> String {
    if text.chars().count() > 80 {
        let cut: String = text.chars().take(80).collect();
        format!("{cut}...")
    } else {
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_header: 1024,
        max_body: 100,
    };

    fn parse(bytes: &[u8]) -> Result<Response, ParseError> {
        read_response(&mut &bytes[..], LIMITS, false)
    }

    fn malformed_text(bytes: &[u8]) -> String {
        match parse(bytes) {
            Err(ParseError::Malformed(m)) => m,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn content_length_body() {
        let r = parse(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 5\r\n\r\nhelloEXTRA",
        )
        .unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.reason, "OK");
        assert_eq!(r.header("content-type"), Some("text/xml"));
        assert_eq!(r.body, b"hello");
    }

    #[test]
    fn chunked_body_with_extensions_and_trailers() {
        let r = parse(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n\
              5;ext=1\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\nX-Trailer: y\r\n\r\n",
        )
        .unwrap();
        assert_eq!(r.body, b"hello 0123456789");
    }

    #[test]
    fn close_delimited_body_and_bare_lf() {
        let r = parse(b"HTTP/1.0 404 Not Found\nServer: x\n\nthe rest").unwrap();
        assert_eq!((r.status, r.reason.as_str()), (404, "Not Found"));
        assert_eq!(r.body, b"the rest");
    }

    #[test]
    fn no_body_for_head_204_304_and_interim_responses_are_skipped() {
        let bytes = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n";
        let r = read_response(&mut &bytes[..], LIMITS, true).unwrap();
        assert!(r.body.is_empty());
        let r = parse(b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n").unwrap();
        assert!(r.body.is_empty());
        let r = parse(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok",
        )
        .unwrap();
        assert_eq!((r.status, r.body.as_slice()), (201, &b"ok"[..]));
    }

    #[test]
    fn folded_headers_and_empty_reason() {
        let r = parse(b"HTTP/1.1 200\r\nX-A: one\r\n  two\r\nContent-Length: 0\r\n\r\n").unwrap();
        assert_eq!(r.reason, "");
        assert_eq!(r.header("x-a"), Some("one two"));
    }

    #[test]
    fn oversized_bodies_are_refused() {
        let too_large = |bytes: &[u8]| match parse(bytes) {
            Err(ParseError::TooLarge { what, limit }) => (what, limit),
            other => panic!("{other:?}"),
        };
        // Announced: refused before reading.
        assert_eq!(
            too_large(b"HTTP/1.1 200 OK\r\nContent-Length: 101\r\n\r\n"),
            ("body", 100)
        );
        let mut close = b"HTTP/1.1 200 OK\r\n\r\n".to_vec();
        close.extend([b'x'; 101]);
        assert_eq!(too_large(&close), ("body", 100));
        let mut exact = b"HTTP/1.1 200 OK\r\n\r\n".to_vec();
        exact.extend([b'x'; 100]);
        assert_eq!(parse(&exact).unwrap().body.len(), 100);
        assert_eq!(
            too_large(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n65\r\n"),
            ("body", 100)
        );
        let mut chunks = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        for _ in 0..3 {
            chunks.extend(b"30\r\n");
            chunks.extend([b'x'; 48]);
            chunks.extend(b"\r\n");
        }
        assert_eq!(too_large(&chunks), ("body", 100));
        let mut header = b"HTTP/1.1 200 OK\r\nX-Big: ".to_vec();
        header.extend([b'x'; 2000]);
        assert_eq!(too_large(&header), ("header", 1024));
        // Many small interim responses share one header budget.
        let interim = b"HTTP/1.1 100 Continue\r\n\r\n".repeat(100);
        assert_eq!(too_large(&interim), ("header", 1024));
    }

    #[test]
    fn malformed_responses() {
        assert!(malformed_text(b"").contains("without sending a response"));
        assert!(malformed_text(b"SSH-2.0-OpenSSH\r\n").contains("not an HTTP/1.x status line"));
        assert!(malformed_text(b"HTTP/1.1 2000 OK\r\n\r\n").contains("status line"));
        assert!(malformed_text(b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n").contains("colon"));
        assert!(malformed_text(b"HTTP/1.1 200 OK\r\nContent-Le").contains("closed"));
        assert!(
            malformed_text(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort")
                .contains("after 5 of the 10 body bytes")
        );
        assert!(malformed_text(
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"
        )
        .contains("conflicting"));
        assert!(
            malformed_text(b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n")
                .contains("bad Content-Length")
        );
        assert!(
            malformed_text(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
                .contains("bad chunk size")
        );
        assert!(malformed_text(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n"
        )
        .contains("longer than its size"));
        assert!(
            malformed_text(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab")
                .contains("chunked body")
        );
        assert!(
            malformed_text(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n")
                .contains("Transfer-Encoding")
        );
        // A chunk size that overflows u64.
        assert!(malformed_text(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffffff\r\n"
        )
        .contains("bad chunk size"));
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A cheap deterministic sweep (the fuzzer does the real work): every prefix of a
        // valid chunked response and a few byte flips of it.
        let good = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
        for end in 0..good.len() {
            let _ = parse(&good[..end]);
        }
        for i in 0..good.len() {
            for b in [0u8, b'\n', b'\r', b':', b' ', 0xff, b'0', b'f'] {
                let mut bytes = good.to_vec();
                bytes[i] = b;
                let _ = parse(&bytes);
            }
        }
    }
}
