//! The two ways a rendered mail leaves the machine: a sendmail command ([`Sendmail`],
//! `sendmail.rs`) and SMTP ([`Smtp`], `smtp.rs`). Both block (the outbox's worker calls them,
//! never the protocol loop) and both are bounded by a timeout, so that a hung MTA cannot hold
//! the worker forever.
//!
//! Each failure is classified for the worker's retry logic ([`crate::notify::DeliveryError`]). The rule when
//! in doubt is *transient*: a mail wrongly called transient costs a few retries and log lines;
//! one wrongly called permanent is given up, which is the one thing this layer must not do
//! lightly. Only what cannot change while the listener runs is permanent: an SMTP 5xx reply
//! (RFC 5321 §4.2.1: "do not repeat the exact request"), a sendmail command that is not there.

mod sendmail;
mod smtp;

pub use sendmail::Sendmail;
pub use smtp::{Credentials, Smtp, SmtpSettings, TlsMode};

/// The longest excerpt of a command's output or a server's reply put into one log line.
const EXCERPT_CHARS: usize = 600;

/// stderr and stdout as one log-friendly line: `stderr: ... | stdout: ...`, empty parts left
/// out, a lone stderr without its label.
fn describe_output(stdout: &[u8], stderr: &[u8]) -> String {
    let out = excerpt(stdout);
    let err = excerpt(stderr);
    match (err.is_empty(), out.is_empty()) {
        (true, true) => String::new(),
        (false, true) => err,
        (true, false) => format!("stdout: {out}"),
        (false, false) => format!("{err} | stdout: {out}"),
    }
}

/// Bytes as one line of text: lossy UTF-8, lines joined by " / ", cut at [`EXCERPT_CHARS`].
fn excerpt(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let joined = text
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" / ");
    if joined.chars().count() > EXCERPT_CHARS {
        let cut: String = joined.chars().take(EXCERPT_CHARS).collect();
        format!("{cut}...")
    } else {
        joined
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_are_one_bounded_line() {
        assert_eq!(excerpt(b"a\n\nb  \r\nc"), "a / b / c");
        assert_eq!(excerpt(&[b'x'; 1000]).len(), EXCERPT_CHARS + 3);
    }
}
