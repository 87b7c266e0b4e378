//! Mail with the crash context under the text (see [`MailWithContext`]).

use std::path::{Path, PathBuf};

use crate::notify::channel::mail::MailChannel;
use crate::notify::{Channel, DeliveryError, Notification, RenderError, Rendered, Words};

/// Mail that shows the crash context: the mail channel renders a notification's `text` only
/// (superlance's bodies, byte for byte), so this adds the `extra` lines under the text, after
/// a blank line. Every other behaviour is the mail channel's.
///
/// Belongs in the mail channel itself (render `extra` when there is any: no superlance
/// listener sets it, so their mail is unchanged), which another branch owns; then this goes.
pub struct MailWithContext(pub MailChannel);

impl Channel for MailWithContext {
    fn name(&self) -> &str {
        self.0.name()
    }

    fn render(&self, n: &Notification) -> Result<Rendered, RenderError> {
        if n.extra.is_empty() {
            return self.0.render(n);
        }
        let mut with = n.clone();
        with.text = format!("{}\n\n{}", n.text.trim_end(), n.extra.join("\n"));
        with.extra.clear();
        self.0.render(&with)
    }

    fn deliver(&self, r: &Rendered) -> Result<(), DeliveryError> {
        self.0.deliver(r)
    }

    fn describe(&self) -> String {
        self.0.describe()
    }

    fn words(&self) -> Words {
        self.0.words()
    }

    fn envelope(&self) -> bool {
        self.0.envelope()
    }

    fn recipients(&self, r: &Rendered) -> String {
        self.0.recipients(r)
    }

    fn spool_dir(&self, dir: &Path) -> PathBuf {
        self.0.spool_dir(dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn mail_shows_the_crash_context_under_the_text() {
        let mail = MailWithContext(MailChannel::new(
            vec!["ops@example.com".into()],
            None,
            Box::new(crate::notify::channel::mail::transport::Sendmail {
                command: "true".into(),
                timeout: Duration::from_secs(1),
            }),
        ));
        let mut n = Notification::for_test(Some("s"), "web crashed", None);
        let plain = String::from_utf8(mail.render(&n).unwrap().message).unwrap();
        assert!(plain.ends_with("\r\n\r\nweb crashed"), "{plain:?}");
        assert!(!plain.contains("Exit status"));
        n.extra = vec!["Exit status: 3".into(), "| boom".into()];
        let with = String::from_utf8(mail.render(&n).unwrap().message).unwrap();
        assert!(
            with.contains("web crashed\r\n\r\nExit status: 3\r\n| boom"),
            "{with}"
        );
        assert_eq!(mail.name(), "mail");
        assert_eq!(mail.words().one, "mail");
    }
}
