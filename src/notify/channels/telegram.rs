//! `--telegram CHAT_ID`: the Telegram Bot API's `sendMessage` (Telegram, "Telegram Bot API",
//! sendMessage, <https://core.telegram.org/bots/api#sendmessage>): `POST
//! <api>/bot<TOKEN>/sendMessage` with the JSON `{"chat_id": ..., "text": ...}`.
//!
//! - `chat_id` is "Integer or String": a numeric id is sent as a JSON number, anything else
//!   (`@channelusername`) as a string.
//! - `text` is plain: no `parse_mode`, so nothing in a program's output is taken for
//!   formatting and nothing needs escaping beyond JSON's.
//! - `text` is "1-4096 characters after entities parsing". Telegram measures text in UTF-16
//!   code units (its MessageEntity offsets and lengths are so), so we count UTF-16 units: an
//!   emoji counts two, which can only keep us further under the limit. Over it, the middle is
//!   cut with [`CUT_MARKER`](super::CUT_MARKER). The title line makes the text never empty.
//! - The API base is overridable ([`DEFAULT_API`] by default) so that tests and a local Bot
//!   API server can be used. The token is a secret: it is in the URL's path, so a
//!   [`HttpPost`]'s URL must never be logged whole, and `Debug` of a [`Config`] hides it.

use std::fmt;

use serde_json::{json, Value};

use super::{chat_text, fit, join_url, json_post, utf16};
use crate::notify::{HttpPost, Notification};

/// Telegram's limit on `text`, counted here in UTF-16 code units.
pub const MAX_TEXT: usize = 4096;

/// The public Bot API.
pub const DEFAULT_API: &str = "https://api.telegram.org";

#[derive(Clone, PartialEq, Eq)]
pub struct Config {
    /// Where the Bot API is: [`DEFAULT_API`], or a local server.
    pub api: String,
    /// The bot's token, from `--telegram-token-file` or the environment (see [`parse_token`]).
    pub token: String,
    /// A numeric chat id, or `@channelusername`.
    pub chat_id: String,
}

impl Config {
    /// A config for the public Bot API.
    pub fn new(token: String, chat_id: String) -> Config {
        Config {
            api: DEFAULT_API.to_owned(),
            token,
            chat_id,
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("telegram::Config")
            .field("api", &crate::http::url::origin_of(&self.api))
            .field("token", &"<redacted>")
            .field("chat_id", &self.chat_id)
            .finish()
    }
}

/// Why a bot token was refused. The messages never include the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the Telegram bot token is empty")]
    Empty,
    #[error(
        "the Telegram bot token holds a character other than letters, digits, ':', '_' and \
         '-' (a token looks like 123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11)"
    )]
    BadCharacter,
}

/// A token as read from a file or the environment: surrounding whitespace (the file's final
/// newline) removed, and refused if it could not be a token, since it becomes part of the URL's
/// path (a `/`, `?` or space would send the request elsewhere).
pub fn parse_token(s: &str) -> Result<String, TokenError> {
    let t = s.trim();
    if t.is_empty() {
        return Err(TokenError::Empty);
    }
    if !t
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '_' | '-'))
    {
        return Err(TokenError::BadCharacter);
    }
    Ok(t.to_owned())
}

/// `chat_id` as the API takes it: a number when it is one.
fn chat_id(id: &str) -> Value {
    match id.trim().parse::<i64>() {
        Ok(n) => json!(n),
        Err(_) => json!(id.trim()),
    }
}

pub fn render(n: &Notification, cfg: &Config) -> HttpPost {
    let url = join_url(&cfg.api, &format!("/bot{}/sendMessage", cfg.token));
    let text = fit(&chat_text(n), MAX_TEXT, utf16);
    json_post(
        &url,
        Vec::new(),
        &json!({ "chat_id": chat_id(&cfg.chat_id), "text": text }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::channels::tests::{crash, parse};
    use crate::notify::channels::CUT_MARKER;

    const TOKEN: &str = "123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11";

    fn cfg() -> Config {
        Config::new(TOKEN.into(), "-1001234567890".into())
    }

    #[test]
    fn send_message_with_a_numeric_chat_id() {
        let post = render(&crash(), &cfg());
        assert_eq!(
            post.url,
            format!("https://api.telegram.org/bot{TOKEN}/sendMessage")
        );
        let v = parse(&post);
        assert_eq!(
            v,
            json!({
                "chat_id": -1_001_234_567_890_i64,
                "text": "[host1] crashmail alert from supervisord on host1\n\
                         Process web:web_01 (pid 4242) died unexpectedly\nexit status 1\n\
                         stderr: boom",
            })
        );
        assert_eq!(v.get("parse_mode"), None);
    }

    #[test]
    fn a_channel_name_and_a_local_api() {
        let cfg = Config {
            api: "http://127.0.0.1:8081/".into(),
            token: TOKEN.into(),
            chat_id: "@my_channel".into(),
        };
        let post = render(&crash(), &cfg);
        assert_eq!(
            post.url,
            format!("http://127.0.0.1:8081/bot{TOKEN}/sendMessage")
        );
        assert_eq!(parse(&post)["chat_id"], "@my_channel");
    }

    #[test]
    fn the_limit_in_utf16_units() {
        let mut n = crash();
        n.subject = None;
        n.extra.clear();
        // "[host1] t\n" is 10 units; fill to exactly 4096 with "xx" and two-unit emoji.
        n.text = format!("t\nxx{}", "😀".repeat((MAX_TEXT - 12) / 2));
        let text = parse(&render(&n, &cfg()))["text"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(text.encode_utf16().count(), MAX_TEXT);
        assert!(!text.contains(CUT_MARKER));
        // One more unit: cut, within the limit.
        n.text.push('y');
        let text = parse(&render(&n, &cfg()))["text"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(text.encode_utf16().count() <= MAX_TEXT);
        assert!(text.contains(CUT_MARKER) && text.ends_with('y'));
    }

    #[test]
    fn plain_text_is_escaped_in_json_only() {
        let mut n = crash();
        n.extra = vec!["<b>*_[x](y)_*</b> \"q\" \\ \u{7}".into()];
        let text = parse(&render(&n, &cfg()))["text"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(text.ends_with("<b>*_[x](y)_*</b> \"q\" \\ \u{fffd}"));
    }

    #[test]
    fn tokens_are_checked_and_never_shown() {
        assert_eq!(parse_token(&format!(" {TOKEN}\n")).unwrap(), TOKEN);
        assert_eq!(parse_token(" \n"), Err(TokenError::Empty));
        for bad in ["123/../x", "12 34", "1?x=2", "tok\u{e9}n"] {
            assert_eq!(parse_token(bad), Err(TokenError::BadCharacter), "{bad}");
        }
        let d = format!("{:?}", cfg());
        assert!(!d.contains("ABC-DEF") && !d.contains("123456:"), "{d}");
        assert!(
            d.contains("api.telegram.org") && d.contains("-1001234567890"),
            "{d}"
        );
    }
}
