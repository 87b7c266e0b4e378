//! `--ntfy URL`: publish to an ntfy topic (ntfy docs, "Publishing",
//! <https://docs.ntfy.sh/publish/>): `POST <topic URL>` with the message as the plain-text
//! body and the title, priority and tags as headers.
//!
//! - Headers: `X-Title`, `X-Priority` and `X-Tags`, the names the docs give first (`Title`,
//!   `Priority` and `Tags` are aliases). `X-Priority` rather than `Priority` because the plain
//!   name is also the RFC 9218 request header that proxies such as Cloudflare add, which ntfy
//!   then has to ignore (ntfy's server, `maybeIgnoreSpecialHeader`).
//! - Non-ASCII titles and tags: "ntfy supports UTF-8 in HTTP headers, but not every library
//!   does ... you may also encode any header (including the title) as RFC 2047" (same page,
//!   Message title). We send every header ASCII-only: a value with a non-ASCII character (or
//!   an `=?` that ntfy would try to decode) goes as RFC 2047 `=?UTF-8?B?...?=` encoded-words of
//!   at most 75 characters, separated by spaces, which the decoder joins.
//! - Priority (1 min, 2 low, 3 default, 4 high, 5 max; same page, Message priority), unless
//!   `Config::priority` overrides it: 4 (high) for a FATAL, UNKNOWN or unexpected EXITED
//!   program and for a batch (crashmailbatch and fatalmailbatch gather crashes); 3 (default)
//!   for a resolved problem (it closes an alert that buzzed someone), an expected exit,
//!   BACKOFF, STOPPED, a digest and an event without a state (httpok, memmon); 2 (low) for a
//!   program reported RUNNING or STARTING (the notify listener's informational events).
//! - Tags: an emoji short code (`rotating_light` for high priority, `white_check_mark` for a
//!   resolved or RUNNING program, else `warning`), then the listener's name.
//! - The body is the text and extra lines (the title is in its header). ntfy's message limit is
//!   4096 bytes (its `message-size-limit`; a larger message becomes an attachment), so the
//!   body is cut in its middle to 4096 bytes.
//! - An access token for a protected topic goes as `Authorization: Bearer`. The topic URL is a
//!   secret too ("the topic is essentially a password"): `Debug` shows its host only.

use std::fmt;

use base64::Engine as _;

use super::{body, clean, fit, one_line, title, truncate_line, utf8};
use crate::notify::{HttpPost, Kind, Notification};

/// ntfy's default message size limit, in bytes.
pub const MAX_BODY: usize = 4096;

#[derive(Clone, PartialEq, Eq)]
pub struct Config {
    /// The topic's URL, `https://ntfy.sh/mytopic`.
    pub url: String,
    /// An access token (`tk_...`) for a protected topic.
    pub token: Option<String>,
    /// A fixed priority (1-5) instead of the one derived from the notification.
    pub priority: Option<u8>,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ntfy::Config")
            .field("url", &crate::http::url::origin_of(&self.url))
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("priority", &self.priority)
            .finish()
    }
}

/// The priority ntfy gets for `n` (see the module's documentation).
pub fn priority(n: &Notification) -> u8 {
    if n.kind == Kind::Resolved {
        return 3;
    }
    match (n.kind, n.to_state.as_deref()) {
        (_, Some("FATAL" | "UNKNOWN")) => 4,
        (_, Some("EXITED")) if n.expected != Some(true) => 4,
        (_, Some("RUNNING" | "STARTING")) => 2,
        (_, Some(_)) => 3,
        (Kind::Batch, None) => 4,
        (_, None) => 3,
    }
}

/// An ASCII header value: as it is when it is printable ASCII without `=?`, else RFC 2047
/// base64 encoded-words (each at most 75 characters: 45 bytes of UTF-8 per word).
pub fn header_value(s: &str) -> String {
    if s.chars().all(|c| c.is_ascii() && !c.is_ascii_control()) && !s.contains("=?") {
        return s.to_owned();
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut words = Vec::new();
    let mut start = 0;
    let mut end = 0;
    for (i, c) in s.char_indices() {
        if i + c.len_utf8() - start > 45 {
            words.push(format!("=?UTF-8?B?{}?=", b64.encode(&s[start..end])));
            start = i;
        }
        end = i + c.len_utf8();
    }
    if end > start {
        words.push(format!("=?UTF-8?B?{}?=", b64.encode(&s[start..end])));
    }
    words.join(" ")
}

fn tags(n: &Notification, priority: u8) -> String {
    let emoji = if n.kind == Kind::Resolved || n.to_state.as_deref() == Some("RUNNING") {
        "white_check_mark"
    } else if priority >= 4 {
        "rotating_light"
    } else {
        "warning"
    };
    let listener: String = one_line(&n.listener).replace(',', " ");
    let mut tags = vec![emoji.to_owned()];
    if !listener.is_empty() {
        tags.push(header_value(&listener));
    }
    tags.join(",")
}

pub fn render(n: &Notification, cfg: &Config) -> HttpPost {
    let priority = cfg.priority.map_or_else(|| priority(n), |p| p.clamp(1, 5));
    let title = truncate_line(&title(n), 250);
    let mut text = clean(&body(n));
    if text.trim().is_empty() {
        // An empty body would be published as "triggered".
        text = title.clone();
    }
    let mut headers = vec![
        ("X-Title".to_owned(), header_value(&title)),
        ("X-Priority".to_owned(), priority.to_string()),
        ("X-Tags".to_owned(), tags(n, priority)),
    ];
    if let Some(token) = &cfg.token {
        headers.push(("Authorization".to_owned(), format!("Bearer {token}")));
    }
    HttpPost {
        url: cfg.url.clone(),
        headers,
        content_type: "text/plain; charset=utf-8".to_owned(),
        body: fit(&text, MAX_BODY, utf8).into_bytes(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::channels::tests::crash;
    use crate::notify::channels::CUT_MARKER;

    fn cfg() -> Config {
        Config {
            url: "https://ntfy.sh/phil_alerts_s3cr3t".into(),
            token: None,
            priority: None,
        }
    }

    fn header<'a>(post: &'a HttpPost, name: &str) -> Option<&'a str> {
        post.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// RFC 2047 `B` words decoded and joined, as ntfy's (Go's) decoder does.
    fn decode(v: &str) -> String {
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut out = Vec::new();
        for word in v.split(' ') {
            let inner = word
                .strip_prefix("=?UTF-8?B?")
                .and_then(|w| w.strip_suffix("?="))
                .expect("an encoded-word");
            out.extend(b64.decode(inner).unwrap());
        }
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn a_crash_with_title_priority_and_tags() {
        let post = render(&crash(), &cfg());
        assert_eq!(post.url, "https://ntfy.sh/phil_alerts_s3cr3t");
        assert_eq!(post.content_type, "text/plain; charset=utf-8");
        assert_eq!(
            post.headers,
            vec![
                (
                    "X-Title".to_owned(),
                    "[host1] crashmail alert from supervisord on host1".to_owned()
                ),
                ("X-Priority".to_owned(), "4".to_owned()),
                ("X-Tags".to_owned(), "rotating_light,crashmail".to_owned()),
            ]
        );
        assert_eq!(
            String::from_utf8(post.body).unwrap(),
            "Process web:web_01 (pid 4242) died unexpectedly\nexit status 1\nstderr: boom"
        );
    }

    #[test]
    fn priorities() {
        let mut n = crash();
        assert_eq!(priority(&n), 4, "unexpected exit");
        n.expected = Some(true);
        assert_eq!(priority(&n), 3, "expected exit");
        n.to_state = Some("FATAL".into());
        assert_eq!(priority(&n), 4);
        n.to_state = Some("BACKOFF".into());
        assert_eq!(priority(&n), 3);
        n.to_state = Some("RUNNING".into());
        assert_eq!(priority(&n), 2);
        n.kind = Kind::Resolved;
        assert_eq!(priority(&n), 3);
        n.kind = Kind::Batch;
        n.to_state = None;
        assert_eq!(priority(&n), 4);
        n.kind = Kind::Digest;
        assert_eq!(priority(&n), 3);
        // The override wins, kept within 1-5.
        let cfg = Config {
            priority: Some(9),
            ..cfg()
        };
        assert_eq!(header(&render(&n, &cfg), "X-Priority"), Some("5"));
    }

    #[test]
    fn resolved_is_tagged_as_such() {
        let mut n = crash();
        n.kind = Kind::Resolved;
        n.to_state = Some("RUNNING".into());
        let post = render(&n, &cfg());
        assert_eq!(header(&post, "X-Tags"), Some("white_check_mark,crashmail"));
        assert_eq!(header(&post, "X-Priority"), Some("3"));
    }

    #[test]
    fn non_ascii_titles_are_rfc_2047() {
        let mut n = crash();
        n.subject = Some("Äpfel 😀 crashed: ünïcödé ".repeat(4) + "\r\nInjected: yes");
        let post = render(&n, &cfg());
        let v = header(&post, "X-Title").unwrap();
        assert!(v.is_ascii() && !v.contains(['\r', '\n']), "{v}");
        assert!(v.split(' ').all(|w| w.len() <= 75), "{v}");
        assert!(v.split(' ').count() > 1, "{v}");
        assert_eq!(
            decode(v),
            format!(
                "[host1] {}",
                ("Äpfel 😀 crashed: ünïcödé ".repeat(4) + "  Injected: yes").trim()
            )
        );
        // ASCII that ntfy would take for an encoded-word is encoded too.
        assert_eq!(decode(&header_value("=?x?=")), "=?x?=");
        assert_eq!(header_value("plain"), "plain");
    }

    #[test]
    fn the_body_limit_is_in_bytes() {
        let mut n = crash();
        n.subject = None;
        n.text = "t\n".into();
        n.extra = vec!["é".repeat(MAX_BODY / 2)];
        let body = render(&n, &cfg()).body;
        assert_eq!(body.len(), MAX_BODY);
        n.extra = vec!["é".repeat(MAX_BODY / 2), "x".into()];
        let body = String::from_utf8(render(&n, &cfg()).body).unwrap();
        assert!(body.len() <= MAX_BODY && body.contains(CUT_MARKER) && body.ends_with('x'));
        // Nothing but a title: the title is the body.
        n.extra.clear();
        n.text = "only a title".into();
        assert_eq!(render(&n, &cfg()).body, b"[host1] only a title");
    }

    #[test]
    fn the_token_is_a_bearer_and_never_shown() {
        let cfg = Config {
            token: Some("tk_s3cr3t".into()),
            ..cfg()
        };
        let post = render(&crash(), &cfg);
        assert_eq!(header(&post, "Authorization"), Some("Bearer tk_s3cr3t"));
        let d = format!("{cfg:?}");
        assert!(!d.contains("s3cr3t") && !d.contains("phil"), "{d}");
    }
}
