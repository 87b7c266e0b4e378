//! What a listener has to say, structured, so that each channel can say it in its own format:
//! mail keeps superlance's subjects and bodies byte for byte (`subject`, `text`), a webhook
//! gets every field as JSON, a chat service a short message, Alertmanager labels.

use std::time::SystemTime;

use crate::event::StateChange;

/// What a notification stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// One event: a crash, a restart, a failed check, a state change.
    Event,
    /// A problem is over (the program is RUNNING again): Alertmanager resolves the alert.
    Resolved,
    /// Several events told in one (a batch mailer's interval).
    Batch,
    /// What flood control or a full queue held back, counted and listed.
    Digest,
}

impl Kind {
    /// The name in the webhook schema (docs/notify.md).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Event => "event",
            Kind::Resolved => "resolved",
            Kind::Batch => "batch",
            Kind::Digest => "digest",
        }
    }
}

/// One notification, as a listener composes it. Fields that do not apply are `None`/empty
/// (a batch or a digest has no single program; httpok's check has no state change).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub kind: Kind,
    /// The listener that sent it: `crashmail`, `memmon`, `notify`, ...
    pub listener: String,
    /// `--hostname`, else the machine's name.
    pub hostname: String,
    /// The supervisord event behind it: `PROCESS_STATE_EXITED`, ...
    pub event: Option<String>,
    pub group: Option<String>,
    /// The process name (`name` of `group:name`).
    pub program: Option<String>,
    /// State names as supervisord spells them: `RUNNING`, `EXITED`, `FATAL`, ...
    pub from_state: Option<String>,
    pub to_state: Option<String>,
    pub pid: Option<u32>,
    /// For an exit: whether supervisord expected it (`expected:1`).
    pub expected: Option<bool>,
    /// When it happened (the event, not the delivery).
    pub time: SystemTime,
    /// The mail subject (superlance's text); `None`: no Subject header (crashsms).
    pub subject: Option<String>,
    /// The mail body (superlance's text): what happened, in words.
    pub text: String,
    /// More lines worth showing after the text: crash context (exit status, stderr tail).
    pub extra: Vec<String>,
    /// What flood control counts against (the program's `group:name`); `None` is never held
    /// back (a batch, a digest).
    pub key: Option<String>,
}

impl Notification {
    /// A notification of `kind` by `listener` on `hostname` at `time`, with nothing else known
    /// yet: the listener fills in what it knows, and the subject and text.
    pub fn new(kind: Kind, listener: &str, hostname: &str, time: SystemTime) -> Notification {
        Notification {
            kind,
            listener: listener.to_owned(),
            hostname: hostname.to_owned(),
            event: None,
            group: None,
            program: None,
            from_state: None,
            to_state: None,
            pid: None,
            expected: None,
            time,
            subject: None,
            text: String::new(),
            extra: Vec::new(),
            key: None,
        }
    }

    /// An event about one process state change (`PROCESS_STATE_<STATE>`): the program, its
    /// states, pid and `expected` filled in, flood control counting against its `group:name`.
    pub fn state_change(
        listener: &str,
        hostname: &str,
        change: &StateChange,
        time: SystemTime,
    ) -> Notification {
        Notification {
            event: Some(format!("PROCESS_STATE_{}", change.state.name())),
            group: Some(change.process.group.to_owned()),
            program: Some(change.process.name.to_owned()),
            from_state: Some(change.from_state.to_owned()),
            to_state: Some(change.state.name().to_owned()),
            pid: change.pid,
            expected: change.expected,
            key: Some(change.process.namespec()),
            ..Notification::new(Kind::Event, listener, hostname, time)
        }
    }

    /// Set the program from a `group:name` (or a bare name).
    pub fn with_namespec(mut self, namespec: &str) -> Notification {
        match namespec.split_once(':') {
            Some((group, name)) => {
                self.group = Some(group.to_owned());
                self.program = Some(name.to_owned());
            }
            None => self.program = Some(namespec.to_owned()),
        }
        self
    }

    /// `group:name` when both are known, else whichever is.
    pub fn namespec(&self) -> Option<String> {
        match (&self.group, &self.program) {
            (Some(g), Some(p)) => Some(format!("{g}:{p}")),
            (None, Some(p)) => Some(p.clone()),
            (Some(g), None) => Some(g.clone()),
            (None, None) => None,
        }
    }

    /// One line for a title or a log: the subject, else the text's first line.
    pub fn summary(&self) -> String {
        match &self.subject {
            Some(s) => s.clone(),
            None => self.text.lines().next().unwrap_or("").to_owned(),
        }
    }
}

#[cfg(test)]
impl Notification {
    /// A notification for tests: an event of `crashmail` on `host1` at 1970-01-01, with this
    /// subject, text and flood-control key.
    pub fn for_test(subject: Option<&str>, text: &str, key: Option<&str>) -> Notification {
        Notification {
            subject: subject.map(str::to_owned),
            text: text.to_owned(),
            key: key.map(str::to_owned),
            ..Notification::new(Kind::Event, "crashmail", "host1", SystemTime::UNIX_EPOCH)
        }
    }
}

/// An HTTP request a channel sends: the JSON (or text) body and its headers, to `url`. Its
/// `Debug` shows the URL's origin only and no header value: a webhook URL or a header holds a
/// token.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpPost {
    pub url: String,
    /// Besides `Content-Type` and `Content-Length`, which the client writes.
    pub headers: Vec<(String, String)>,
    pub content_type: String,
    pub body: Vec<u8>,
}

impl std::fmt::Debug for HttpPost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("HttpPost")
            .field("url", &crate::http::url::origin_of(&self.url))
            .field("headers", &names)
            .field("content_type", &self.content_type)
            .field("body_bytes", &self.body.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespec_and_summary() {
        let mut n = Notification {
            text: "first line\nsecond".into(),
            ..Notification::new(Kind::Event, "crashmail", "host1", SystemTime::UNIX_EPOCH)
                .with_namespec("web:web_01")
        };
        assert_eq!(n.namespec().as_deref(), Some("web:web_01"));
        assert_eq!(n.summary(), "first line");
        n.subject = Some("web_01 crashed".into());
        assert_eq!(n.summary(), "web_01 crashed");
        assert_eq!(Kind::Digest.name(), "digest");
    }

    #[test]
    fn a_post_s_debug_keeps_its_secrets() {
        let p = HttpPost {
            url: "https://hooks.slack.com/services/T0/B0/s3cr3t".into(),
            headers: vec![("Authorization".into(), "Bearer t0k3n".into())],
            content_type: "application/json".into(),
            body: b"{}".to_vec(),
        };
        let shown = format!("{p:?}");
        assert!(
            !shown.contains("s3cr3t") && !shown.contains("t0k3n"),
            "{shown}"
        );
        assert!(shown.contains("https://hooks.slack.com") && shown.contains("Authorization"));
    }
}
