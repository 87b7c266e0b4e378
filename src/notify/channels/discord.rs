//! `--discord URL`: a Discord webhook, Execute Webhook with its minimal documented body
//! `{"content": ...}` (Discord developer docs, Webhook resource, "Execute Webhook",
//! <https://discord.com/developers/docs/resources/webhook#execute-webhook>: "content: the
//! message contents (up to 2000 characters)").
//!
//! Over 2000 characters we truncate, cutting the middle out with [`CUT_MARKER`] (the head
//! says what happened, the tail holds the stderr lines nearest the crash), rather than split:
//! one notification stays one request, so a retry after a 429 or a 5xx never posts half of a
//! message twice, and one crash never uses up the webhook's rate limit. The limit counts
//! characters (Unicode scalar values), not bytes: 2000 `é` fit.
//!
//! `allowed_mentions: {"parse": []}` (same page, "Allowed Mentions Object") keeps a program's
//! output from pinging anyone: a stderr line with `@everyone` or `<@id>` shows as text.
//! Markdown in the text is left as it is: Discord has no escape that reads well, and at worst
//! a word shows in italics.
//!
//! [`CUT_MARKER`]: super::CUT_MARKER

use std::fmt;

use serde_json::json;

use super::{chars, chat_text, fit, json_post};
use crate::notify::{HttpPost, Notification};

/// Discord's limit on `content`, in characters.
pub const MAX_CONTENT: usize = 2000;

/// The webhook's URL (a secret: its path holds the webhook's token).
#[derive(Clone, PartialEq, Eq)]
pub struct Config {
    pub url: String,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("discord::Config")
            .field("url", &crate::http::url::origin_of(&self.url))
            .finish()
    }
}

pub fn render(n: &Notification, cfg: &Config) -> HttpPost {
    let content = fit(&chat_text(n), MAX_CONTENT, chars);
    json_post(
        &cfg.url,
        Vec::new(),
        &json!({
            "content": content,
            "allowed_mentions": { "parse": [] },
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::channels::tests::{crash, parse};
    use crate::notify::channels::CUT_MARKER;

    fn cfg() -> Config {
        Config {
            url: "https://discord.com/api/webhooks/123456/tok-en_secret".into(),
        }
    }

    #[test]
    fn a_crash_is_content_without_mentions() {
        let post = render(&crash(), &cfg());
        assert_eq!(post.url, cfg().url);
        let v = parse(&post);
        assert_eq!(
            v["content"],
            "[host1] crashmail alert from supervisord on host1\n\
             Process web:web_01 (pid 4242) died unexpectedly\nexit status 1\nstderr: boom"
        );
        assert_eq!(v["allowed_mentions"], json!({ "parse": [] }));
        assert_eq!(v.as_object().unwrap().len(), 2);
    }

    /// A notification whose content is exactly `len` characters, all multi-byte but the
    /// title.
    fn of_length(len: usize) -> Notification {
        let mut n = crash();
        n.extra.clear();
        n.subject = None;
        n.text = "t".into();
        let title = "[host1] t\n".chars().count();
        n.text.push('\n');
        n.text.push_str(&"é".repeat(len - title));
        n
    }

    #[test]
    fn the_limit_counts_characters_not_bytes() {
        let v = parse(&render(&of_length(MAX_CONTENT), &cfg()));
        let content = v["content"].as_str().unwrap();
        assert_eq!(content.chars().count(), MAX_CONTENT);
        assert!(content.len() > MAX_CONTENT, "multi-byte");
        assert!(!content.contains(CUT_MARKER));
    }

    #[test]
    fn one_character_over_is_cut_with_a_marker() {
        let v = parse(&render(&of_length(MAX_CONTENT + 1), &cfg()));
        let content = v["content"].as_str().unwrap();
        assert_eq!(content.chars().count(), MAX_CONTENT);
        assert!(content.contains(CUT_MARKER));
        assert!(content.starts_with("[host1] t\n") && content.ends_with('é'));
        // Emoji (two UTF-16 units, four bytes) still count one each.
        let mut n = crash();
        n.extra = vec!["😀".repeat(3000)];
        let v = parse(&render(&n, &cfg()));
        assert_eq!(v["content"].as_str().unwrap().chars().count(), MAX_CONTENT);
    }

    #[test]
    fn text_is_escaped_in_json_and_mentions_stay_text() {
        let mut n = crash();
        n.extra = vec!["@everyone \"q\" \\ \t \u{0}".into()];
        let v = parse(&render(&n, &cfg()));
        assert!(v["content"]
            .as_str()
            .unwrap()
            .ends_with("@everyone \"q\" \\ \t \u{fffd}"));
    }

    #[test]
    fn debug_hides_the_token() {
        let d = format!("{:?}", cfg());
        assert!(!d.contains("secret") && !d.contains("123456"), "{d}");
    }
}
