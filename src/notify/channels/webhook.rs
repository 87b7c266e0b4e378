//! `--webhook URL`: a generic JSON POST in superlance's own versioned schema, for receivers of
//! one's own (superhooks users, n8n, a small script). The schema, with a full example, is in
//! docs/notify.md ("Webhook schema v1"):
//!
//! ```text
//! {"version":1, "hostname":..., "listener":..., "notifications":[{"kind", "event", "group",
//!  "program", "namespec", "from_state", "to_state", "pid", "expected", "time", "unix_time",
//!  "subject", "text", "extra"}]}
//! ```
//!
//! Every key is always present: a field that does not apply is `null` (a batch has no
//! `program`, httpok's check no `from_state`), so that a receiver can index without testing
//! for presence; `text` is always a string and `extra` always an array. `time` is RFC 3339 in
//! UTC with milliseconds, `unix_time` whole seconds. Keys may be added within version 1;
//! renaming, removing or changing the meaning of one makes version 2.
//!
//! `--webhook-header 'Name: value'` (repeatable) adds headers, typically a token. They are
//! validated here, once, when the options are read: the name must be an HTTP token (RFC 9110
//! §5.1), the value must hold no CR, LF or other control character (a header injection), and
//! the headers that frame the request (`Content-Type`, `Content-Length`, `Host`,
//! `Transfer-Encoding`, `Connection`) are superlance's own. Errors name the header, never its
//! value, which is usually a secret.

use std::fmt;
use std::str::FromStr;

use serde_json::{json, Value};

use super::json_post;
use crate::notify::{HttpPost, Notification};
use crate::time::{rfc3339_utc, unix_seconds};

/// The `version` of the schema this module writes.
pub const SCHEMA_VERSION: u64 = 1;

/// Where to post, with the user's extra headers.
#[derive(Clone, PartialEq, Eq)]
pub struct Config {
    pub url: String,
    pub headers: Vec<Header>,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("webhook::Config")
            .field("url", &crate::http::url::origin_of(&self.url))
            .field("headers", &self.headers)
            .finish()
    }
}

/// One `--webhook-header`, validated.
#[derive(Clone, PartialEq, Eq)]
pub struct Header {
    pub name: String,
    pub value: String,
}

impl fmt::Debug for Header {
    /// The name only: the value is usually a token.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: <redacted>", self.name)
    }
}

/// Why a `--webhook-header` was refused. The messages never include the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("--webhook-header must be 'Name: value' (this one has no colon)")]
    NoColon,
    #[error("--webhook-header has an empty name: write 'Name: value'")]
    EmptyName,
    #[error(
        "--webhook-header name {0:?} is not an HTTP header name: use letters, digits and \
         !#$%&'*+-.^_`|~ only"
    )]
    BadName(String),
    #[error(
        "--webhook-header {0}: the value holds a line break or another control character, \
         which would end the header early; remove it"
    )]
    BadValue(String),
    #[error("--webhook-header {0}: superlance writes this header itself; it cannot be set")]
    Reserved(String),
}

/// The headers that frame the request: the HTTP client writes them.
const RESERVED: [&str; 5] = [
    "content-type",
    "content-length",
    "host",
    "transfer-encoding",
    "connection",
];

/// RFC 9110 §5.6.2: `tchar`.
fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

impl Header {
    /// Parses `Name: value` (spaces and tabs around the value are not part of it).
    pub fn parse(s: &str) -> Result<Header, HeaderError> {
        let (name, value) = s.split_once(':').ok_or(HeaderError::NoColon)?;
        if name.is_empty() {
            return Err(HeaderError::EmptyName);
        }
        if !name.chars().all(is_tchar) {
            return Err(HeaderError::BadName(name.to_owned()));
        }
        if RESERVED.contains(&name.to_ascii_lowercase().as_str()) {
            return Err(HeaderError::Reserved(name.to_owned()));
        }
        let value = value.trim_matches([' ', '\t']);
        // HTAB is allowed inside a field value (RFC 9110 §5.5); no other control character.
        if value.chars().any(|c| c.is_control() && c != '\t') {
            return Err(HeaderError::BadValue(name.to_owned()));
        }
        Ok(Header {
            name: name.to_owned(),
            value: value.to_owned(),
        })
    }
}

impl FromStr for Header {
    type Err = HeaderError;
    fn from_str(s: &str) -> Result<Header, HeaderError> {
        Header::parse(s)
    }
}

/// One notification in the schema (the elements of `notifications`).
pub fn notification(n: &Notification) -> Value {
    json!({
        "kind": n.kind.name(),
        "event": n.event,
        "group": n.group,
        "program": n.program,
        "namespec": n.namespec(),
        "from_state": n.from_state,
        "to_state": n.to_state,
        "pid": n.pid,
        "expected": n.expected,
        "time": rfc3339_utc(n.time),
        "unix_time": unix_seconds(n.time),
        "subject": n.subject,
        "text": n.text,
        "extra": n.extra,
    })
}

/// The POST for one notification.
pub fn render(n: &Notification, cfg: &Config) -> HttpPost {
    post(&n.hostname, &n.listener, vec![notification(n)], cfg)
}

/// The POST for several notifications of one listener on one host (a batch delivered at once):
/// `hostname` and `listener` are the first one's. `None` for none.
pub fn render_all(ns: &[Notification], cfg: &Config) -> Option<HttpPost> {
    let first = ns.first()?;
    Some(post(
        &first.hostname,
        &first.listener,
        ns.iter().map(notification).collect(),
        cfg,
    ))
}

fn post(hostname: &str, listener: &str, notifications: Vec<Value>, cfg: &Config) -> HttpPost {
    let body = json!({
        "version": SCHEMA_VERSION,
        "hostname": hostname,
        "listener": listener,
        "notifications": notifications,
    });
    let headers = cfg
        .headers
        .iter()
        .map(|h| (h.name.clone(), h.value.clone()))
        .collect();
    json_post(&cfg.url, headers, &body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::channels::tests::{crash, parse};
    use crate::notify::Kind;

    fn cfg() -> Config {
        Config {
            url: "https://hooks.example.com/superlance/s3cr3t".into(),
            headers: vec![Header::parse("Authorization: Bearer tok-123").unwrap()],
        }
    }

    #[test]
    fn a_crash_in_schema_v1() {
        let post = render(&crash(), &cfg());
        assert_eq!(post.url, "https://hooks.example.com/superlance/s3cr3t");
        assert_eq!(
            post.headers,
            vec![("Authorization".to_owned(), "Bearer tok-123".to_owned())]
        );
        let v = parse(&post);
        assert_eq!(
            v,
            json!({
                "version": 1,
                "hostname": "host1",
                "listener": "crashmail",
                "notifications": [{
                    "kind": "event",
                    "event": "PROCESS_STATE_EXITED",
                    "group": "web",
                    "program": "web_01",
                    "namespec": "web:web_01",
                    "from_state": "RUNNING",
                    "to_state": "EXITED",
                    "pid": 4242,
                    "expected": false,
                    "time": "2026-12-04T15:01:55.123Z",
                    "unix_time": 1_796_396_515_i64,
                    "subject": "crashmail alert from supervisord on host1",
                    "text": "Process web:web_01 (pid 4242) died unexpectedly",
                    "extra": ["exit status 1", "stderr: boom"],
                }]
            })
        );
    }

    #[test]
    fn absent_fields_are_null_and_every_key_is_there() {
        let mut n = crash();
        n.kind = Kind::Batch;
        n.listener = "crashmailbatch".into();
        n.event = None;
        n.group = None;
        n.program = None;
        n.from_state = None;
        n.to_state = None;
        n.pid = None;
        n.expected = None;
        n.subject = None;
        n.extra.clear();
        let v = parse(&render(&n, &cfg()));
        let got = &v["notifications"][0];
        let keys: Vec<&str> = got
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys.len(), 14, "{keys:?}");
        for k in [
            "event",
            "group",
            "program",
            "namespec",
            "from_state",
            "to_state",
            "pid",
            "expected",
            "subject",
        ] {
            assert_eq!(got[k], Value::Null, "{k}");
        }
        assert_eq!(got["kind"], "batch");
        assert_eq!(got["extra"], json!([]));
        assert!(got["text"].is_string());
    }

    #[test]
    fn text_is_escaped_and_comes_back_exact() {
        let mut n = crash();
        n.text = "quote \" backslash \\ newline \n tab \t nul \0 esc \u{1b}[31m é 😀".into();
        n.extra = vec!["</script>".into()];
        let post = render(&n, &cfg());
        // Control characters are escaped, never raw in the body.
        assert!(!post.body.iter().any(|&b| b < 0x20), "raw control byte");
        let v = parse(&post);
        assert_eq!(v["notifications"][0]["text"], n.text.as_str());
        assert_eq!(v["notifications"][0]["extra"][0], "</script>");
    }

    #[test]
    fn several_notifications_in_one_post() {
        let a = crash();
        let mut b = crash();
        b.program = Some("web_02".into());
        let v = parse(&render_all(&[a, b], &cfg()).unwrap());
        assert_eq!(v["notifications"].as_array().unwrap().len(), 2);
        assert_eq!(v["notifications"][1]["namespec"], "web:web_02");
        assert!(render_all(&[], &cfg()).is_none());
    }

    #[test]
    fn headers_are_validated() {
        let h = Header::parse("X-Token:\t abc def \t").unwrap();
        assert_eq!((h.name.as_str(), h.value.as_str()), ("X-Token", "abc def"));
        assert_eq!(Header::parse("X-Empty:").unwrap().value, "");
        // A colon in the value is part of it.
        assert_eq!(
            Header::parse("X-Url: http://a:1").unwrap().value,
            "http://a:1"
        );
        assert_eq!(Header::parse("no colon"), Err(HeaderError::NoColon));
        assert_eq!(Header::parse(": v"), Err(HeaderError::EmptyName));
        for bad in ["X Token: v", "X-Tök: v", "X-Token : v", "(x): v", "\nX: v"] {
            assert!(
                matches!(Header::parse(bad), Err(HeaderError::BadName(_))),
                "{bad:?}"
            );
        }
        for bad in [
            "X: a\r\nEvil: 1",
            "X: a\nb",
            "X: a\rb",
            "X: a\0b",
            "X: a\u{7f}",
        ] {
            assert_eq!(
                Header::parse(bad),
                Err(HeaderError::BadValue("X".into())),
                "{bad:?}"
            );
        }
        for reserved in ["Content-Type: text/plain", "content-length: 1", "HOST: x"] {
            assert!(matches!(
                Header::parse(reserved),
                Err(HeaderError::Reserved(_))
            ));
        }
        // The error never shows the value.
        let e = Header::parse("X-Token: s3cr3t\n").unwrap_err().to_string();
        assert!(!e.contains("s3cr3t"), "{e}");
        assert!("X-A: b".parse::<Header>().is_ok());
    }

    #[test]
    fn debug_hides_the_url_path_and_header_values() {
        let d = format!("{:?}", cfg());
        assert!(!d.contains("s3cr3t"), "{d}");
        assert!(!d.contains("tok-123"), "{d}");
        assert!(
            d.contains("hooks.example.com") && d.contains("Authorization"),
            "{d}"
        );
    }
}
