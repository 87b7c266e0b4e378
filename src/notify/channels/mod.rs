//! Each chat and webhook service's message, as pure functions (issue 12, "Channels"): one file
//! per channel, each with its `Config` and `render(&Notification, &Config) -> HttpPost` (the
//! command channel: the environment and standard input of its `sh -c`). Nothing here does I/O
//! or reads a clock; queueing, retries, the spool and HTTP are the outbox's. What each channel
//! sends, with an example request per service: docs/notify.md.
//!
//! The rules the channels share, so that they agree with each other:
//! - A chat message starts with the title line `[hostname] summary` (issue 12 wants the
//!   hostname in every chat message), then the text and the extra lines (crash context). When a
//!   notification has no subject, its text's first line is the summary and is not repeated.
//! - Chat services show text to people: control characters other than newline and tab become
//!   U+FFFD (an ANSI colour sequence from a stderr tail stays visible as `�[31m` instead of
//!   garbling the client), and `\r` is dropped. The machine channels (webhook, Alertmanager,
//!   command) keep the text exact; JSON escapes what it must.
//! - Over a service's limit, the middle is cut out and replaced by [`CUT_MARKER`]: the head
//!   (the title and what happened) and the tail (the last lines of a stderr tail, the ones
//!   nearest the crash) both survive, in one message. One notification is one request, so a
//!   retry never sends half of a split message twice. Each channel counts in the unit its
//!   service counts in (characters, UTF-16 code units, bytes).
//! - URLs and tokens are secrets (issue 12): the `Debug` of every config shows a URL's scheme
//!   and host only ([`crate::http::url::origin_of`]) and never a token, so a config can be logged with `{:?}`.

use serde_json::Value;

use super::{HttpPost, Notification};

pub mod alertmanager;
pub mod command;
pub mod discord;
pub mod ntfy;
pub mod slack;
pub mod teams;
pub mod telegram;
pub mod webhook;

/// What replaces the middle of a message that is over its service's limit.
pub const CUT_MARKER: &str = "\n[… cut: too long …]\n";

/// The JSON content type every JSON channel sends.
pub const JSON: &str = "application/json";

/// The title line of a chat message: `[hostname] summary`, on one line; when the notification
/// has neither a subject nor text, what it is about (the namespec, else the event, else the
/// kind).
pub fn title(n: &Notification) -> String {
    let mut summary = n.summary();
    if summary.trim().is_empty() {
        summary = n
            .namespec()
            .or_else(|| n.event.clone())
            .unwrap_or_else(|| n.kind.name().to_owned());
    }
    format!("[{}] {}", one_line(&n.hostname), one_line(&summary))
}

/// The text and the extra lines, one per line; without the text's first line when that line
/// is already the title (no subject).
pub fn body(n: &Notification) -> String {
    let mut out = body_text(n).trim_end_matches('\n').to_owned();
    for line in &n.extra {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(line);
    }
    out
}

/// The text without its first line when that line is the title (no subject).
pub fn body_text(n: &Notification) -> &str {
    if n.subject.is_some() {
        n.text.as_str()
    } else {
        n.text.split_once('\n').map_or("", |(_, rest)| rest)
    }
}

/// The text and the extra lines exactly, one per line: the whole story for the machine
/// channels (the webhook's text stays separate; this is Alertmanager's `description` and the
/// command's standard input).
pub fn full_text(n: &Notification) -> String {
    let mut out = n.text.clone();
    for line in &n.extra {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(line);
    }
    out
}

/// A chat message's whole text: the title line, then the body, for people (see [`clean`]).
pub fn chat_text(n: &Notification) -> String {
    let body = body(n);
    let mut out = title(n);
    if !body.is_empty() {
        out.push('\n');
        out.push_str(&body);
    }
    clean(&out)
}

/// Text for people: `\r` dropped, control characters other than `\n` and `\t` shown as U+FFFD.
pub fn clean(s: &str) -> String {
    s.chars()
        .filter(|&c| c != '\r')
        .map(|c| {
            if c.is_control() && c != '\n' && c != '\t' {
                char::REPLACEMENT_CHARACTER
            } else {
                c
            }
        })
        .collect()
}

/// One line for a header or a title: every control character (newlines too) becomes a space.
pub fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_owned()
}

/// A one-line text cut to at most `limit` characters, ending in `…` when cut (for a title or a
/// header, where the multi-line [`CUT_MARKER`] does not belong).
pub fn truncate_line(s: &str, limit: usize) -> String {
    if s.chars().count() <= limit {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(limit.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Counts a character as one (Discord, Slack, Alertmanager: "characters").
pub fn chars(_: char) -> usize {
    1
}

/// Counts a character in UTF-16 code units (Telegram counts entities and lengths so).
pub fn utf16(c: char) -> usize {
    c.len_utf16()
}

/// Counts a character in UTF-8 bytes (ntfy's and Teams' limits are in bytes).
pub fn utf8(c: char) -> usize {
    c.len_utf8()
}

/// `s` if it measures at most `limit` (each character counted by `unit`), else its head and
/// tail with [`CUT_MARKER`] between them, measuring at most `limit`. Never splits a character.
pub fn fit(s: &str, limit: usize, unit: fn(char) -> usize) -> String {
    let total: usize = s.chars().map(unit).sum();
    if total <= limit {
        return s.to_owned();
    }
    let marker: usize = CUT_MARKER.chars().map(unit).sum();
    if limit <= marker {
        // No room for a marker: as much of the head as fits.
        return take_head(s, limit, unit).to_owned();
    }
    let room = limit - marker;
    let head = take_head(s, room / 2, unit);
    let tail = take_tail(s, room - room / 2, unit);
    let mut out = String::with_capacity(head.len() + CUT_MARKER.len() + tail.len());
    out.push_str(head);
    out.push_str(CUT_MARKER);
    out.push_str(tail);
    out
}

/// The longest prefix of `s` measuring at most `limit`.
fn take_head(s: &str, limit: usize, unit: fn(char) -> usize) -> &str {
    let mut used = 0;
    for (i, c) in s.char_indices() {
        used += unit(c);
        if used > limit {
            return &s[..i];
        }
    }
    s
}

/// The longest suffix of `s` measuring at most `limit`.
fn take_tail(s: &str, limit: usize, unit: fn(char) -> usize) -> &str {
    let mut used = 0;
    for (i, c) in s.char_indices().rev() {
        used += unit(c);
        if used > limit {
            return &s[i + c.len_utf8()..];
        }
    }
    s
}

/// A JSON POST of `value` to `url`.
pub fn json_post(url: &str, headers: Vec<(String, String)>, value: &Value) -> HttpPost {
    HttpPost {
        url: url.to_owned(),
        headers,
        content_type: JSON.to_owned(),
        // Serialising a `Value` (string keys only) cannot fail; an empty body would be refused
        // by the service and logged, never a panic.
        body: serde_json::to_vec(value).unwrap_or_default(),
    }
}

/// `base` without its trailing slashes, then `path` (which starts with one).
pub fn join_url(base: &str, path: &str) -> String {
    format!("{}{}", base.trim_end_matches('/'), path)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::notify::Kind;
    use std::time::{Duration, SystemTime};

    /// A crash as crashmail reports it, at 2026-12-04T15:01:55.123Z.
    pub fn crash() -> Notification {
        Notification {
            kind: Kind::Event,
            listener: "crashmail".into(),
            hostname: "host1".into(),
            event: Some("PROCESS_STATE_EXITED".into()),
            group: Some("web".into()),
            program: Some("web_01".into()),
            from_state: Some("RUNNING".into()),
            to_state: Some("EXITED".into()),
            pid: Some(4242),
            expected: Some(false),
            time: SystemTime::UNIX_EPOCH + Duration::from_millis(1_796_396_515_123),
            subject: Some("crashmail alert from supervisord on host1".into()),
            text: "Process web:web_01 (pid 4242) died unexpectedly".into(),
            extra: vec!["exit status 1".into(), "stderr: boom".into()],
            key: Some("web:web_01".into()),
        }
    }

    /// A JSON body parsed back.
    pub fn parse(post: &HttpPost) -> Value {
        assert_eq!(post.content_type, JSON);
        serde_json::from_slice(&post.body).expect("the body is JSON")
    }

    #[test]
    fn title_and_body() {
        let mut n = crash();
        assert_eq!(
            title(&n),
            "[host1] crashmail alert from supervisord on host1"
        );
        assert_eq!(
            body(&n),
            "Process web:web_01 (pid 4242) died unexpectedly\nexit status 1\nstderr: boom"
        );
        // Without a subject, the text's first line is the title and is not repeated.
        n.subject = None;
        n.text = "first line\nsecond\n".into();
        n.extra.clear();
        assert_eq!(title(&n), "[host1] first line");
        assert_eq!(body(&n), "second");
        assert_eq!(chat_text(&n), "[host1] first line\nsecond");
        // Nothing to say: the namespec stands in.
        n.text.clear();
        assert_eq!(title(&n), "[host1] web:web_01");
        assert_eq!(chat_text(&n), "[host1] web:web_01");
    }

    #[test]
    fn clean_shows_control_characters() {
        assert_eq!(
            clean("a\r\nb\tc\u{1b}[31m\0"),
            "a\nb\tc\u{fffd}[31m\u{fffd}"
        );
        assert_eq!(one_line(" a\r\nb\u{7}c "), "a  b c");
        assert_eq!(truncate_line("ééé", 3), "ééé");
        assert_eq!(truncate_line("éééé", 3), "éé…");
    }

    #[test]
    fn fit_cuts_the_middle_at_the_limit() {
        let s = "é".repeat(100);
        assert_eq!(fit(&s, 100, chars), s);
        let cut = fit(&s, 99, chars);
        assert_eq!(cut.chars().count(), 99);
        assert!(cut.contains(CUT_MARKER));
        assert!(cut.starts_with('é') && cut.ends_with('é'));
        // In bytes, never splitting a two-byte character.
        let cut = fit(&s, 101, utf8);
        assert!(cut.len() <= 101, "{}", cut.len());
        assert!(cut.contains(CUT_MARKER));
        // UTF-16: an emoji is two units.
        let s = "😀".repeat(10);
        assert_eq!(fit(&s, 20, utf16), s);
        let cut = fit(&s, 19, utf16);
        assert!(cut.chars().map(utf16).sum::<usize>() <= 19);
        // No room for the marker: the head alone.
        assert_eq!(fit("abcdef", 3, chars), "abc");
        assert_eq!(fit("", 0, chars), "");
    }

    /// Property tests (proptest): no text makes a channel panic, every JSON body parses, every
    /// limit holds, and no header carries a line break.
    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// Any text: printable, control characters, line breaks, multi-byte.
        fn text(max: usize) -> impl Strategy<Value = String> {
            proptest::string::string_regex(&format!("(\\PC|[\\x00-\\x1f\\x7f]|é|😀){{0,{max}}}"))
                .expect("a valid regex")
        }

        fn notification() -> impl Strategy<Value = Notification> {
            (
                (text(20), text(20), prop::option::of(text(20))),
                (prop::option::of(text(200)), text(3000)),
                prop::collection::vec(text(300), 0..8),
                any::<bool>(),
            )
                .prop_map(
                    |((host, program, state), (subject, body), extra, resolved)| {
                        let mut n = crash();
                        n.hostname = host;
                        n.program = Some(program);
                        n.to_state = state;
                        n.subject = subject;
                        n.text = body;
                        n.extra = extra;
                        if resolved {
                            n.kind = Kind::Resolved;
                        }
                        n
                    },
                )
        }

        fn measure(s: &str, unit: fn(char) -> usize) -> usize {
            s.chars().map(unit).sum()
        }

        proptest! {
            #[test]
            fn fit_keeps_within_the_limit(s in text(400), limit in 0usize..500, u in 0usize..3) {
                let unit: fn(char) -> usize = [chars, utf16, utf8][u];
                let got = fit(&s, limit, unit);
                if measure(&s, unit) <= limit {
                    prop_assert_eq!(&got, &s);
                } else {
                    prop_assert!(measure(&got, unit) <= limit);
                }
            }

            #[test]
            fn webhook_headers_never_carry_a_line_break(s in text(60)) {
                if let Ok(h) = webhook::Header::parse(&s) {
                    prop_assert!(!h.name.contains(['\r', '\n']) && !h.value.contains(['\r', '\n']));
                }
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(48))]

            #[test]
            fn every_channel_renders_any_notification(n in notification()) {
                let url = "https://example.com/x".to_owned();
                let webhook = webhook::render(&n, &webhook::Config { url: url.clone(), headers: vec![] });
                let v: Value = serde_json::from_slice(&webhook.body).expect("JSON");
                prop_assert_eq!(&v["notifications"][0]["text"], n.text.as_str());

                let v: Value = serde_json::from_slice(&slack::render(&n, &slack::Config { url: url.clone() }).body).expect("JSON");
                prop_assert!(v["text"].as_str().map_or(0, |t| t.chars().count()) <= slack::MAX_TEXT);

                let v: Value = serde_json::from_slice(&discord::render(&n, &discord::Config { url: url.clone() }).body).expect("JSON");
                prop_assert!(v["content"].as_str().map_or(0, |t| t.chars().count()) <= discord::MAX_CONTENT);

                let post = teams::render(&n, &teams::Config { url: url.clone() });
                prop_assert!(post.body.len() <= teams::MAX_BODY);
                let _: Value = serde_json::from_slice(&post.body).expect("JSON");

                let tg = telegram::Config::new("1:a".into(), "@c".into());
                let v: Value = serde_json::from_slice(&telegram::render(&n, &tg).body).expect("JSON");
                let t = v["text"].as_str().unwrap_or("");
                prop_assert!(!t.is_empty() && t.encode_utf16().count() <= telegram::MAX_TEXT);

                let post = ntfy::render(&n, &ntfy::Config { url: url.clone(), token: None, priority: None });
                prop_assert!(post.body.len() <= ntfy::MAX_BODY && !post.body.is_empty());
                for (name, value) in &post.headers {
                    prop_assert!(value.is_ascii() && !value.contains(['\r', '\n']), "{}: {:?}", name, value);
                }

                let am = alertmanager::Config { url: url.clone(), firing_for: None };
                let v: Value = serde_json::from_slice(&alertmanager::render(&n, &am).body).expect("JSON");
                prop_assert!(!v.as_array().expect("an array").is_empty());

                let env = command::environment(&n);
                prop_assert!(env.iter().all(|(_, v)| !v.contains('\0')));
            }
        }
    }

    #[test]
    fn urls_are_joined() {
        assert_eq!(
            join_url("http://am:9093/", "/api/v2/alerts"),
            "http://am:9093/api/v2/alerts"
        );
    }
}
