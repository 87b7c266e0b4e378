//! A notification as an RFC 5322 message, written the way superlance's tools wrote theirs, so that
//! what reaches a mailbox, an SMS gateway or a filter on the raw body is what it was (issue 16):
//!
//! - `To` and `Subject` first, as superlance's crashmail, httpok and memmon wrote them; the
//!   addresses as the user gave them, so local names (`root`, `ops`) work as they did.
//! - `From` only when there is a sender: `--from`, a `-f`/`-r` in the sendmail command, the
//!   batch tools' `-f`, or (SMTP only) `supervisor@<fully qualified host name>`. A mail piped
//!   to sendmail without one has no From, as in superlance: the MTA writes it.
//! - `Date` (when the event happened, not when delivery finally succeeded), `Message-ID`.
//! - `MIME-Version: 1.0` and a plain text body in UTF-8: `7bit` when it is ASCII, `8bit`
//!   otherwise. Lines up to 998 octets are legal as they are (RFC 5322 §2.1.1), so a long line
//!   (every memmon restart mail) stays one line; quoted-printable only for a longer one.
//!
//! The message is kept with CRLF line ends (SMTP's); the sendmail transport turns them into
//! LF, which is what a local MTA reads on stdin.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use lettre::message::header::{
    self, ContentTransferEncoding, ContentType, HeaderName, HeaderValue, Headers,
};
use lettre::message::{Body, Mailbox};

use crate::hostname;
use crate::notify::channel::{RenderError, Rendered};

/// Check an address from the command line, for a clear message at start-up: a mailbox
/// (`ops@example.com`, `Ops <ops@example.com>`) or a local name without a domain (`root`),
/// which the local MTA (or the SMTP server) qualifies, as it did for superlance.
pub fn check_address(address: &str) -> Result<(), String> {
    let address = address.trim();
    if is_local_name(address) {
        return Ok(());
    }
    address
        .parse::<Mailbox>()
        .map(|_| ())
        .map_err(|e| format!("invalid mail address {address:?}: {e}"))
}

/// The address for the SMTP envelope: the mailbox's `user@domain`, or a local name as it is.
pub fn envelope_address(address: &str) -> String {
    let address = address.trim();
    match address.parse::<Mailbox>() {
        Ok(mailbox) => mailbox.email.to_string(),
        Err(_) => address.to_owned(),
    }
}

/// A local part without a domain (RFC 5322 dot-atom): `root`, `ops.team`, `a+b`.
fn is_local_name(text: &str) -> bool {
    const ATEXT: &str = "!#$%&'*+-/=?^_`{|}~";
    !text.is_empty()
        && !text.starts_with('.')
        && !text.ends_with('.')
        && !text.contains("..")
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || ATEXT.contains(c))
}

/// The sender we make up for SMTP when none is given: `supervisor@<fully qualified name>`.
pub fn default_from() -> String {
    format!("supervisor@{}", hostname::fqdn())
}

/// Format a mail to `to` with `subject` (`None`: no Subject header) and `body`, dated `date`,
/// from `from` (`None`: without a From header).
pub fn render(
    to: &[String],
    from: Option<&str>,
    subject: Option<&str>,
    body: &str,
    date: SystemTime,
) -> Result<Rendered, RenderError> {
    if to.is_empty() {
        return Err(RenderError("no recipient".to_owned()));
    }
    let to: Vec<&str> = to.iter().map(|a| a.trim()).collect();
    for address in &to {
        check_address(address).map_err(RenderError)?;
    }
    let from = from.map(str::trim).filter(|f| !f.is_empty());
    if let Some(from) = from {
        check_address(from).map_err(RenderError)?;
    }

    let mut headers = Headers::new();
    headers.insert_raw(raw("To", to.join(", ")));
    if let Some(subject) = subject {
        headers.set(header::Subject::from(subject.to_owned()));
    }
    if let Some(from) = from {
        headers.insert_raw(raw("From", from.to_owned()));
    }
    headers.set(header::Date::new(date));
    headers.set(header::MessageId::from(message_id(date)));
    headers.set(header::MIME_VERSION_1_0);
    headers.set(ContentType::TEXT_PLAIN);
    let encoded = plain_body(body);
    headers.set(encoded.encoding());

    let mut message = headers.to_string().into_bytes();
    message.extend_from_slice(b"\r\n");
    message.extend_from_slice(encoded.as_ref());
    let summary = subject.map_or_else(
        || body.lines().next().unwrap_or("").to_owned(),
        str::to_owned,
    );
    Ok(Rendered {
        from: from.map(envelope_address).unwrap_or_default(),
        to: to.iter().map(|a| envelope_address(a)).collect(),
        headers: Vec::new(),
        message,
        summary,
    })
}

/// A header written as given (folded, and RFC 2047-encoded where it is not ASCII).
fn raw(name: &'static str, value: String) -> HeaderValue {
    HeaderValue::new(HeaderName::new_from_ascii_str(name), value)
}

/// The body as plain text: 7bit when ASCII, 8bit otherwise, quoted-printable only when a line
/// is longer than SMTP allows (998 octets) or holds a NUL or a lone CR. (lettre's own choice
/// encodes any line over 76 characters, which superlance never did.)
fn plain_body(text: &str) -> Body {
    let crlf = text.replace("\r\n", "\n").replace('\n', "\r\n");
    let plain = crlf
        .split("\r\n")
        .all(|line| line.len() <= MAX_LINE_OCTETS && !line.contains(['\0', '\r']));
    if !plain {
        return Body::new_with_encoding(crlf, ContentTransferEncoding::QuotedPrintable)
            .unwrap_or_else(Body::new);
    }
    let encoding = if crlf.is_ascii() {
        ContentTransferEncoding::SevenBit
    } else {
        ContentTransferEncoding::EightBit
    };
    Body::dangerous_pre_encoded(crlf.into_bytes(), encoding)
}

/// The longest line RFC 5322 §2.1.1 allows, without its CRLF.
const MAX_LINE_OCTETS: usize = 998;

/// `<seconds.nanos.pid.counter@host>`: unique per mail on this host.
fn message_id(date: SystemTime) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let since = date
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    format!(
        "<{}.{:09}.{}.{n}@{}>",
        since.as_secs(),
        since.subsec_nanos(),
        std::process::id(),
        hostname::short()
    )
}

/// `message` as a local MTA reads it on stdin: LF line ends.
pub fn with_lf_line_ends(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len());
    let mut bytes = message.iter().peekable();
    while let Some(&b) = bytes.next() {
        if b == b'\r' && bytes.peek() == Some(&&b'\n') {
            continue;
        }
        out.push(b);
    }
    out
}

/// `message` with its body re-encoded as quoted-printable, for an SMTP server that does not
/// take 8-bit data (no 8BITMIME). `None` if it is not one of ours.
pub fn as_quoted_printable(message: &[u8]) -> Option<Vec<u8>> {
    let split = message.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&message[..split]).ok()?;
    let body = std::str::from_utf8(&message[split + 4..]).ok()?;
    let cte = "Content-Transfer-Encoding: 8bit";
    if !head.lines().any(|l| l == cte) {
        return None;
    }
    let body = Body::new_with_encoding(
        body.replace("\r\n", "\n"),
        ContentTransferEncoding::QuotedPrintable,
    )
    .ok()?;
    let mut out = head
        .replace(cte, "Content-Transfer-Encoding: quoted-printable")
        .into_bytes();
    out.extend_from_slice(b"\r\n\r\n");
    out.extend_from_slice(body.as_ref());
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A mail as these tests write it: what `render` is given.
    struct Mail {
        to: Vec<String>,
        from: Option<String>,
        subject: Option<String>,
        body: String,
    }

    /// `render` of `mail`, from its sender, else `default_from` (as the channel resolves it).
    fn render(
        mail: &Mail,
        default_from: Option<&str>,
        date: SystemTime,
    ) -> Result<Rendered, RenderError> {
        super::render(
            &mail.to,
            mail.from.as_deref().or(default_from),
            mail.subject.as_deref(),
            &mail.body,
            date,
        )
    }

    fn mail(subject: Option<&str>) -> Mail {
        Mail {
            to: vec!["ops@example.com".into(), "Pager <pager@example.com>".into()],
            from: None,
            subject: subject.map(str::to_owned),
            body: "Process cat in group cat exited unexpectedly (pid 42) from state RUNNING".into(),
        }
    }

    fn text(r: &Rendered) -> String {
        String::from_utf8(r.message.clone()).unwrap()
    }

    #[test]
    fn headers_and_envelope() {
        let r = render(
            &mail(Some("cat crashed at 2026-11-24 18:30:05,123")),
            Some("supervisor@host1"),
            SystemTime::UNIX_EPOCH,
        )
        .unwrap();
        let text = text(&r);
        assert!(
            text.starts_with(
                "To: ops@example.com, Pager <pager@example.com>\r\n\
                 Subject: cat crashed at 2026-11-24 18:30:05,123\r\n\
                 From: supervisor@host1\r\n\
                 Date: Thu, 01 Jan 1970 00:00:00 +0000\r\n\
                 Message-ID: <0.000000000."
            ),
            "{text}"
        );
        assert!(
            text.ends_with(
                "\r\nMIME-Version: 1.0\r\n\
                 Content-Type: text/plain; charset=utf-8\r\n\
                 Content-Transfer-Encoding: 7bit\r\n\
                 \r\n\
                 Process cat in group cat exited unexpectedly (pid 42) from state RUNNING"
            ),
            "{text}"
        );
        assert_eq!(r.from, "supervisor@host1");
        assert_eq!(r.to, ["ops@example.com", "pager@example.com"]);
        assert_eq!(r.summary, "cat crashed at 2026-11-24 18:30:05,123");
    }

    #[test]
    fn no_subject_header_without_subject_and_no_from_without_a_sender() {
        let r = render(&mail(None), None, SystemTime::now()).unwrap();
        let text = text(&r);
        assert!(!text.contains("Subject:"), "{text}");
        assert!(!text.contains("From:"), "{text}");
        assert_eq!(r.from, "");
        assert!(r.summary.starts_with("Process cat"));
    }

    #[test]
    fn local_names_are_addresses() {
        // issue 16: `-m root`, `-t ops`, `-f supervisor` worked with superlance.
        let mut m = mail(None);
        m.to = vec!["root".into(), " ops ".into()];
        m.from = Some("supervisor".into());
        let r = render(&m, None, SystemTime::now()).unwrap();
        let text = text(&r);
        assert!(text.starts_with("To: root, ops\r\n"), "{text}");
        assert!(text.contains("\r\nFrom: supervisor\r\n"), "{text}");
        assert_eq!(r.to, ["root", "ops"]);
        assert_eq!(r.from, "supervisor");
    }

    #[test]
    fn long_and_non_ascii_lines_stay_plain_text() {
        // issue 16: every memmon restart mail has a line over 76 characters; quoted-printable
        // broke it with `=` and raw-body filters stopped matching.
        let line = format!(
            "memmon.py restarted the process named {} at ...",
            "x".repeat(200)
        );
        let mut m = mail(Some("Grüße"));
        m.body = format!("{line}\nZürich ✓\n");
        let r = render(&m, None, SystemTime::now()).unwrap();
        let text = text(&r);
        assert!(
            text.contains("Content-Transfer-Encoding: 8bit\r\n"),
            "{text}"
        );
        assert!(
            text.ends_with(&format!("\r\n\r\n{line}\r\nZürich ✓\r\n")),
            "{text}"
        );
        assert!(text.contains("Subject: =?utf-8?"), "{text}");
        // Past 998 octets a line must be encoded.
        m.body = "y".repeat(1200);
        let text = String::from_utf8(render(&m, None, SystemTime::now()).unwrap().message).unwrap();
        assert!(
            text.contains("Content-Transfer-Encoding: quoted-printable\r\n"),
            "{text}"
        );
    }

    #[test]
    fn lf_for_sendmail_and_quoted_printable_for_7bit_servers() {
        let mut m = mail(Some("s"));
        m.body = "a\nZürich\n".into();
        let r = render(&m, None, SystemTime::now()).unwrap();
        let lf = String::from_utf8(with_lf_line_ends(&r.message)).unwrap();
        assert!(
            !lf.contains('\r') && lf.ends_with("\n\na\nZürich\n"),
            "{lf}"
        );
        let qp = String::from_utf8(as_quoted_printable(&r.message).unwrap()).unwrap();
        assert!(
            qp.contains("Content-Transfer-Encoding: quoted-printable\r\n"),
            "{qp}"
        );
        assert!(qp.ends_with("\r\n\r\na\r\nZ=C3=BCrich\r\n"), "{qp}");
        assert!(qp.is_ascii());
        let ascii = render(&mail(None), None, SystemTime::now()).unwrap();
        assert_eq!(as_quoted_printable(&ascii.message), None);
    }

    #[test]
    fn bad_addresses_are_errors() {
        let mut m = mail(None);
        m.to = vec!["not an address".into()];
        assert!(render(&m, None, SystemTime::now()).is_err());
        m.to = vec![];
        assert!(render(&m, None, SystemTime::now()).is_err());
        assert!(check_address("x@y").is_ok());
        assert!(check_address("root").is_ok());
        assert!(check_address("a..b").is_err());
        assert!(check_address("two words").is_err());
        assert!(check_address("").is_err());
    }
}
