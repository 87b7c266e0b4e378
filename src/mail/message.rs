//! A [`Mail`] as an RFC 5322 message, formatted by lettre's builder: From, To, Subject (when
//! the listener has one), Date (when the event happened, not when delivery finally succeeded),
//! Message-ID, MIME text/plain in UTF-8. superlance's crashmail wrote only To and Subject.

use std::time::SystemTime;

use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::Message;

use super::{Mail, Rendered};

/// Why a mail could not be formatted: a bad address (a permanent error, found at start-up for
/// addresses from options, see [`check_address`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RenderError(String);

/// Check an address from the command line, for a clear message at start-up.
pub fn check_address(address: &str) -> Result<Mailbox, String> {
    address
        .trim()
        .parse::<Mailbox>()
        .map_err(|e| format!("invalid mail address {address:?}: {e}"))
}

/// The default sender: `supervisor@<hostname>`.
pub fn default_from() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned());
    format!("supervisor@{host}")
}

/// Format `mail`, dated `date`, from `mail.from` or else `default_from`.
pub fn render(mail: &Mail, default_from: &str, date: SystemTime) -> Result<Rendered, RenderError> {
    let from_text = mail.from.as_deref().unwrap_or(default_from);
    let from = check_address(from_text).map_err(RenderError)?;
    let mut builder = Message::builder()
        .from(from)
        .date(date)
        .message_id(None)
        .header(ContentType::TEXT_PLAIN);
    if mail.to.is_empty() {
        return Err(RenderError("no recipient".to_owned()));
    }
    for to in &mail.to {
        builder = builder.to(check_address(to).map_err(RenderError)?);
    }
    if let Some(subject) = &mail.subject {
        builder = builder.subject(subject.as_str());
    }
    let message = builder
        .body(mail.body.clone())
        .map_err(|e| RenderError(format!("cannot format the mail: {e}")))?;
    let envelope = message.envelope();
    let summary = mail
        .subject
        .clone()
        .unwrap_or_else(|| mail.body.lines().next().unwrap_or("").to_owned());
    Ok(Rendered {
        from: envelope
            .from()
            .map(|a| a.to_string())
            .unwrap_or_else(|| from_text.to_owned()),
        to: envelope.to().iter().map(|a| a.to_string()).collect(),
        message: message.formatted(),
        summary,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mail(subject: Option<&str>) -> Mail {
        Mail {
            to: vec!["ops@example.com".into(), "Pager <pager@example.com>".into()],
            from: None,
            subject: subject.map(str::to_owned),
            body: "Process cat in group cat exited unexpectedly (pid 42) from state RUNNING\n"
                .into(),
            key: Some("cat:cat".into()),
        }
    }

    #[test]
    fn headers_and_envelope() {
        let r = render(
            &mail(Some("cat crashed at 2026-11-24 18:30:05,123")),
            "supervisor@host1",
            SystemTime::UNIX_EPOCH,
        )
        .unwrap();
        let text = String::from_utf8(r.message).unwrap();
        assert!(text.contains("From: supervisor@host1\r\n"), "{text}");
        assert!(
            text.contains("To: ops@example.com, \"Pager\" <pager@example.com>\r\n")
                || text.contains("To: ops@example.com, Pager <pager@example.com>\r\n"),
            "{text}"
        );
        assert!(
            text.contains("Subject: cat crashed at 2026-11-24 18:30:05,123\r\n"),
            "{text}"
        );
        assert!(
            text.contains("Date: Thu, 01 Jan 1970 00:00:00 +0000\r\n"),
            "{text}"
        );
        assert!(text.contains("Message-ID: <"), "{text}");
        assert!(text.contains("exited unexpectedly (pid 42)"), "{text}");
        assert_eq!(r.from, "supervisor@host1");
        assert_eq!(r.to, ["ops@example.com", "pager@example.com"]);
        assert_eq!(r.summary, "cat crashed at 2026-11-24 18:30:05,123");
    }

    #[test]
    fn no_subject_header_without_subject() {
        let r = render(&mail(None), "a@b.c", SystemTime::now()).unwrap();
        let text = String::from_utf8(r.message).unwrap();
        assert!(!text.contains("Subject:"), "{text}");
        assert!(r.summary.starts_with("Process cat"));
    }

    #[test]
    fn bad_addresses_are_errors() {
        let mut m = mail(None);
        m.to = vec!["not an address".into()];
        assert!(render(&m, "a@b.c", SystemTime::now()).is_err());
        m.to = vec![];
        assert!(render(&m, "a@b.c", SystemTime::now()).is_err());
        assert!(check_address("x@y").is_ok());
        assert!(check_address("None").is_err());
    }
}
