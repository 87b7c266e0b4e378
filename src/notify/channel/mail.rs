//! The mail channel: superlance's mail, byte for byte (issue 16), for every listener that
//! notifies (crashmail, crashmailbatch, fatalmailbatch, crashsms, httpok, memmon).
//! docs/mail.md describes it for users.
//!
//! A [`MailChannel`] is the recipients and the sender (`-m`, `--toEmail`, `--fromEmail`,
//! `--from`, a `-f` in the sendmail command: `options`), the rendering of a notification as an
//! RFC 5322 message (`message`: its `subject` and `text` are the Subject and the body) and the
//! one [`Transport`] the options chose (`transport`: a sendmail command, or SMTP via lettre).
//!
//! Modules: `message` (a notification as RFC 5322 bytes, with From, Date, Message-ID),
//! `transport` (sendmail command and SMTP), `options` (the shared command-line flags and what
//! they build).

pub mod message;
pub mod options;
pub mod transport;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use super::{Channel, DeliveryError, RenderError, Rendered, Words};
use crate::notify::notification::Notification;

/// A way to deliver a rendered mail. Implementations block (the worker thread calls them);
/// each has its own timeouts so that a hung server cannot hold the worker forever.
pub trait Transport: Send {
    fn deliver(&mut self, mail: &Rendered) -> Result<(), DeliveryError>;
    /// For log lines: `sendmail command "/usr/sbin/sendmail -t -i"`, `SMTP smtp.example.com:587 (STARTTLS)`.
    fn describe(&self) -> String;
}

/// What log lines and digests have always said about mail.
pub const MAIL_WORDS: Words = Words {
    one: "mail",
    many: "mails",
    all: "all mail",
    mass: "mail is",
    sent: "mailed",
    sending: "mailing",
};

/// Mail to fixed recipients from a fixed sender, through one transport.
pub struct MailChannel {
    to: Vec<String>,
    /// `None` writes no From header (the local MTA fills it, as it did for superlance).
    from: Option<String>,
    /// Only the worker locks it (in `deliver`): rendering never waits for a delivery.
    transport: Mutex<Box<dyn Transport>>,
    description: String,
}

impl MailChannel {
    /// `from`: the batch tools' `-f`, else `--from`, a `-f`/`-r` in the sendmail command,
    /// `supervisor@<fqdn>` for SMTP (`options`), else none.
    pub fn new(to: Vec<String>, from: Option<String>, transport: Box<dyn Transport>) -> Self {
        MailChannel {
            description: transport.describe(),
            to,
            from,
            transport: Mutex::new(transport),
        }
    }
}

impl Channel for MailChannel {
    fn name(&self) -> &str {
        "mail"
    }

    fn render(&self, n: &Notification) -> Result<Rendered, RenderError> {
        // The text is superlance's body, byte for byte; extra lines (crash context, `--tail`)
        // follow it after a blank line, only when there are some.
        let body = if n.extra.is_empty() {
            std::borrow::Cow::Borrowed(n.text.as_str())
        } else {
            let text = n.text.trim_end_matches('\n');
            std::borrow::Cow::Owned(format!("{text}\n\n{}\n", n.extra.join("\n")))
        };
        message::render(
            &self.to,
            self.from.as_deref(),
            n.subject.as_deref(),
            &body,
            n.time,
        )
    }

    fn deliver(&self, r: &Rendered) -> Result<(), DeliveryError> {
        if r.to.is_empty() {
            // A spool file without a recipient (written by hand?): no retry will help.
            return Err(DeliveryError::Permanent("no recipient".to_owned()));
        }
        self.transport
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .deliver(r)
    }

    fn describe(&self) -> String {
        self.description.clone()
    }

    fn words(&self) -> Words {
        MAIL_WORDS
    }

    fn envelope(&self) -> bool {
        true
    }

    fn recipients(&self, r: &Rendered) -> String {
        format!(" to {}", r.to.join(", "))
    }

    /// `--spool DIR` itself: where mail has always been spooled, so that mail left by an
    /// earlier version is sent at the next start.
    fn spool_dir(&self, dir: &Path) -> PathBuf {
        dir.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::notification::Notification;
    use std::time::Duration;

    fn channel() -> MailChannel {
        MailChannel::new(
            vec!["ops@example.com".into()],
            Some("supervisor@host1".into()),
            Box::new(transport::Sendmail {
                command: "true".into(),
                timeout: Duration::from_secs(1),
            }),
        )
    }

    #[test]
    fn mail_keeps_the_spool_directory_itself() {
        // Existing spools of mail are in --spool DIR: they are read at the next start.
        let dir = Path::new("/var/spool/superlance");
        assert_eq!(channel().spool_dir(dir), dir);
        assert_eq!(channel().name(), "mail");
        assert!(channel().envelope());
    }

    #[test]
    fn a_notification_is_rendered_as_superlance_mailed_it() {
        let n = Notification::for_test(
            Some("web_01 crashed at 2026-11-24 18:30:05,123"),
            "Process web_01 in group web exited unexpectedly (pid 4242) from state RUNNING",
            Some("web:web_01"),
        );
        let r = channel().render(&n).unwrap();
        let text = String::from_utf8(r.message.clone()).unwrap();
        assert!(
            text.starts_with(
                "To: ops@example.com\r\n\
                 Subject: web_01 crashed at 2026-11-24 18:30:05,123\r\n\
                 From: supervisor@host1\r\n\
                 Date: Thu, 01 Jan 1970 00:00:00 +0000\r\n"
            ),
            "{text}"
        );
        assert!(text.ends_with(
            "\r\n\r\nProcess web_01 in group web exited unexpectedly (pid 4242) from state RUNNING"
        ));
        assert_eq!(
            (r.from.as_str(), r.to.as_slice()),
            ("supervisor@host1", &["ops@example.com".to_owned()][..])
        );
        assert!(r.headers.is_empty());
        assert_eq!(channel().recipients(&r), " to ops@example.com");
        // A spooled mail without a recipient (by hand?) is refused for good, not retried.
        let mut bare = r.clone();
        bare.to.clear();
        assert!(matches!(
            channel().deliver(&bare),
            Err(DeliveryError::Permanent(_))
        ));
    }

    #[test]
    fn crash_context_follows_the_text_after_a_blank_line() {
        let mut n = Notification::for_test(Some("s"), "Process web_01 exited\n", None);
        n.extra = vec!["Exit status: 3".into(), "| boom".into()];
        let text = String::from_utf8(channel().render(&n).unwrap().message).unwrap();
        assert!(
            text.ends_with("\r\n\r\nProcess web_01 exited\r\n\r\nExit status: 3\r\n| boom\r\n"),
            "{text}"
        );
    }
}
