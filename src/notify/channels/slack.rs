//! `--slack URL`: a Slack incoming webhook, in its minimal documented form `{"text": ...}`
//! (Slack, "Sending messages using incoming webhooks",
//! <https://api.slack.com/messaging/webhooks>).
//!
//! The text is mrkdwn. Slack asks for exactly three characters to be escaped as HTML entities,
//! `&` `<` `>` (Slack, "Formatting text for app surfaces", Escaping text,
//! <https://api.slack.com/reference/surfaces/formatting#escaping>); escaping more shows the
//! entities literally. Without the escape a program name or a stderr line such as
//! `<!channel>` or `<http://x|y>` would become a mention or a link. `*`, `_` and `~` have no
//! escape in mrkdwn and are left as they are: at worst a word shows in bold.
//!
//! Slack truncates a message over 40,000 characters (Slack changelog, April 2018, "Truncating
//! really long messages", <https://api.slack.com/changelog/2018-04-truncating-really-long-messages>);
//! we cut the middle before that, counting an escaped character as the
//! length of its entity, so that the marker is ours and the stderr tail's end survives.

use std::fmt;

use serde_json::json;

use super::{chat_text, fit, json_post};
use crate::notify::{HttpPost, Notification};

/// Slack's limit on `text`, in characters.
pub const MAX_TEXT: usize = 40_000;

/// The incoming webhook's URL (a secret: its path is the credential).
#[derive(Clone, PartialEq, Eq)]
pub struct Config {
    pub url: String,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("slack::Config")
            .field("url", &crate::http::url::origin_of(&self.url))
            .finish()
    }
}

/// `&`, `<` and `>` as Slack's entities; everything else as it is.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// A character's length once escaped.
fn escaped_len(c: char) -> usize {
    match c {
        '&' => 5,
        '<' | '>' => 4,
        _ => 1,
    }
}

pub fn render(n: &Notification, cfg: &Config) -> HttpPost {
    let text = escape(&fit(&chat_text(n), MAX_TEXT, escaped_len));
    json_post(&cfg.url, Vec::new(), &json!({ "text": text }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::channels::tests::{crash, parse};
    use crate::notify::channels::CUT_MARKER;

    fn cfg() -> Config {
        Config {
            url: "https://hooks.slack.com/services/T000/B000/XXXXsecret".into(),
        }
    }

    #[test]
    fn a_crash_is_one_text() {
        let post = render(&crash(), &cfg());
        assert_eq!(post.url, cfg().url);
        assert!(post.headers.is_empty());
        let v = parse(&post);
        assert_eq!(v.as_object().unwrap().len(), 1);
        assert_eq!(
            v["text"],
            "[host1] crashmail alert from supervisord on host1\n\
             Process web:web_01 (pid 4242) died unexpectedly\nexit status 1\nstderr: boom"
        );
    }

    #[test]
    fn mrkdwn_control_characters_are_escaped() {
        let mut n = crash();
        n.text = "a & b <!channel> <http://x|y> \"q\" \\ é 😀 \u{1b}[0m".into();
        n.extra.clear();
        let v = parse(&render(&n, &cfg()));
        let text = v["text"].as_str().unwrap();
        assert!(text
            .ends_with("a &amp; b &lt;!channel&gt; &lt;http://x|y&gt; \"q\" \\ é 😀 \u{fffd}[0m"));
        assert_eq!(escape("&amp;"), "&amp;amp;");
    }

    #[test]
    fn the_limit_counts_escaped_characters() {
        let mut n = crash();
        n.subject = None;
        n.extra.clear();
        // "[host1] t\n" is 10 characters; each '&' is 5 once escaped, 'é' 1.
        n.text = format!(
            "t\n{}{}",
            "&".repeat(7_000),
            "é".repeat(MAX_TEXT - 10 - 35_000)
        );
        let text = parse(&render(&n, &cfg()))["text"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(text.chars().count(), MAX_TEXT);
        assert!(!text.contains(CUT_MARKER));
        n.text.push('é');
        let text = parse(&render(&n, &cfg()))["text"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(text.chars().count() <= MAX_TEXT);
        assert!(text.contains(CUT_MARKER) && text.ends_with('é'));
    }

    #[test]
    fn long_text_is_cut_in_the_middle_within_the_limit() {
        let mut n = crash();
        n.extra = vec!["<".repeat(20_000), "last line".into()];
        let text = parse(&render(&n, &cfg()))["text"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(text.chars().count() <= MAX_TEXT, "{}", text.len());
        assert!(text.contains(CUT_MARKER));
        assert!(text.starts_with("[host1] "));
        assert!(text.ends_with("&lt;\nlast line"));
        // No entity is cut in half.
        assert!(!text.contains("&l\n") && !text.contains("&\n"));
    }

    #[test]
    fn debug_hides_the_webhook_path() {
        let d = format!("{:?}", cfg());
        assert!(!d.contains("secret") && !d.contains("T000"), "{d}");
        assert!(d.contains("hooks.slack.com"), "{d}");
    }
}
