//! `--alertmanager URL`: alerts to a Prometheus Alertmanager, API v2 (Prometheus docs,
//! "Alerts API", <https://prometheus.io/docs/alerting/latest/alerts_api/>, and "Sending
//! alerts", <https://prometheus.io/docs/alerting/latest/clients/>): `POST
//! <base>/api/v2/alerts` with a JSON array of alerts, each with `labels`, `annotations`,
//! `startsAt` and optionally `endsAt`, timestamps in RFC 3339.
//!
//! Labels identify an alert ("used to identify identical instances of an alert and to perform
//! deduplication"), so they hold only what names the problem:
//! - `alertname`: `SupervisorProcess` and the state the program went to, in CamelCase
//!   (`SupervisorProcessFatal`, `SupervisorProcessExited`, `SupervisorProcessBackoff`, ...),
//!   from `to_state`, else from a `PROCESS_STATE_*` event; for a notification about no process
//!   state, `Superlance` and the listener's name (`SuperlanceHttpok`, `SuperlanceMemmon`,
//!   `SuperlanceCrashmailbatch`), and `SuperlanceDigest` for a digest.
//! - `instance`: the hostname; `group` and `program` when known (absent, not empty, when not:
//!   Alertmanager treats an empty label as absent anyway); `listener`.
//!
//! Annotations carry the words: `summary` (the subject, else the text's first line) and
//! `description` (the text and the extra lines, cut in the middle to [`MAX_DESCRIPTION`]
//! characters), plus `event`, `from_state`, `to_state` and `pid` when known, for templates.
//!
//! Firing: `startsAt` is the event's time. `endsAt` is left out unless `Config::firing_for`
//! is set: Alertmanager then ends the alert after its `resolve_timeout` (5 minutes by
//! default), since superlance does not re-send alerts ("clients are expected to continuously
//! re-send alerts as long as they are still active").
//!
//! Resolved ([`Kind::Resolved`], the notify listener seeing the program RUNNING again): the
//! same labels with `endsAt` = the time, so that Alertmanager resolves the alert the earlier
//! notification opened. Which state that was is not known when the program runs again, so
//! one alert is sent for each problem state ([`PROBLEM_STATES`]): `SupervisorProcessFatal`,
//! `...Exited`, `...Backoff`, `...Stopped`, `...Unknown`, with the program's labels. Ending an
//! alert Alertmanager never saw firing notifies no one (its notification log has nothing to
//! resolve). The labels match exactly only when the same listener sent both, as the notify
//! listener does.

use std::fmt;
use std::time::Duration;

use serde_json::{json, Map, Value};

use super::{chars, fit, full_text, json_post};
use crate::notify::{HttpPost, Kind, Notification};
use crate::time::rfc3339_utc;

/// The states a program can be in that a resolve ends.
pub const PROBLEM_STATES: [&str; 5] = ["FATAL", "EXITED", "BACKOFF", "STOPPED", "UNKNOWN"];

/// The longest `description`, in characters.
pub const MAX_DESCRIPTION: usize = 16_384;

/// The API path, after the base URL.
pub const PATH: &str = "/api/v2/alerts";

#[derive(Clone, PartialEq, Eq)]
pub struct Config {
    /// Alertmanager's base URL, `http://alertmanager:9093` (a URL already ending in
    /// `/api/v2/alerts` is taken as it is).
    pub url: String,
    /// When set, a firing alert carries `endsAt` = its time plus this, instead of leaving the
    /// end to Alertmanager's `resolve_timeout`.
    pub firing_for: Option<Duration>,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("alertmanager::Config")
            .field("url", &crate::http::url::origin_of(&self.url))
            .field("firing_for", &self.firing_for)
            .finish()
    }
}

/// `FATAL` -> `Fatal`, `oom_score_adj` -> `OomScoreAdj`: letters and digits only.
fn camel(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in s.split(|c: char| !c.is_ascii_alphanumeric()) {
        let mut cs = word.chars();
        if let Some(first) = cs.next() {
            out.push(first.to_ascii_uppercase());
            out.extend(cs.map(|c| c.to_ascii_lowercase()));
        }
    }
    out
}

fn alertname_for_state(state: &str) -> String {
    format!("SupervisorProcess{}", camel(state))
}

/// The `alertname` of a firing notification (see the module's documentation).
pub fn alertname(n: &Notification) -> String {
    if n.kind == Kind::Digest {
        return "SuperlanceDigest".to_owned();
    }
    let state = n.to_state.as_deref().or_else(|| {
        n.event
            .as_deref()
            .and_then(|e| e.strip_prefix("PROCESS_STATE_"))
    });
    match state {
        Some(s) if !camel(s).is_empty() => alertname_for_state(s),
        _ => format!("Superlance{}", camel(&n.listener)),
    }
}

/// The labels of `n`'s alert, with `alertname` as given.
pub fn labels(n: &Notification, alertname: &str) -> Map<String, Value> {
    let mut labels = Map::new();
    labels.insert("alertname".into(), json!(alertname));
    labels.insert("instance".into(), json!(n.hostname));
    if let Some(group) = &n.group {
        labels.insert("group".into(), json!(group));
    }
    if let Some(program) = &n.program {
        labels.insert("program".into(), json!(program));
    }
    labels.insert("listener".into(), json!(n.listener));
    labels
}

fn annotations(n: &Notification) -> Value {
    let mut a = Map::new();
    a.insert("summary".into(), json!(n.summary()));
    a.insert(
        "description".into(),
        json!(fit(&full_text(n), MAX_DESCRIPTION, chars)),
    );
    for (key, value) in [
        ("event", &n.event),
        ("from_state", &n.from_state),
        ("to_state", &n.to_state),
    ] {
        if let Some(v) = value {
            a.insert(key.into(), json!(v));
        }
    }
    if let Some(pid) = n.pid {
        a.insert("pid".into(), json!(pid.to_string()));
    }
    Value::Object(a)
}

/// The alerts for `n`: one when firing, one per problem state when resolved.
pub fn alerts(n: &Notification, cfg: &Config) -> Vec<Value> {
    let time = rfc3339_utc(n.time);
    if n.kind == Kind::Resolved {
        return PROBLEM_STATES
            .iter()
            .map(|state| {
                json!({
                    "labels": labels(n, &alertname_for_state(state)),
                    "annotations": annotations(n),
                    "startsAt": time,
                    "endsAt": time,
                })
            })
            .collect();
    }
    let mut alert = json!({
        "labels": labels(n, &alertname(n)),
        "annotations": annotations(n),
        "startsAt": time,
    });
    if let Some(end) = cfg.firing_for.and_then(|d| n.time.checked_add(d)) {
        alert["endsAt"] = json!(rfc3339_utc(end));
    }
    vec![alert]
}

/// The API's URL for a base URL.
pub fn url(base: &str) -> String {
    if base.trim_end_matches('/').ends_with(PATH) {
        base.trim_end_matches('/').to_owned()
    } else {
        super::join_url(base, PATH)
    }
}

pub fn render(n: &Notification, cfg: &Config) -> HttpPost {
    json_post(&url(&cfg.url), Vec::new(), &Value::Array(alerts(n, cfg)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::channels::tests::{crash, parse};

    fn cfg() -> Config {
        Config {
            url: "http://am.example:9093/".into(),
            firing_for: None,
        }
    }

    fn fatal() -> Notification {
        let mut n = crash();
        n.listener = "notify".into();
        n.event = Some("PROCESS_STATE_FATAL".into());
        n.from_state = Some("BACKOFF".into());
        n.to_state = Some("FATAL".into());
        n.pid = None;
        n.expected = None;
        n
    }

    #[test]
    fn a_fatal_program_fires_an_alert() {
        let post = render(&fatal(), &cfg());
        assert_eq!(post.url, "http://am.example:9093/api/v2/alerts");
        let v = parse(&post);
        assert_eq!(
            v,
            json!([{
                "labels": {
                    "alertname": "SupervisorProcessFatal",
                    "instance": "host1",
                    "group": "web",
                    "program": "web_01",
                    "listener": "notify",
                },
                "annotations": {
                    "summary": "crashmail alert from supervisord on host1",
                    "description": "Process web:web_01 (pid 4242) died unexpectedly\n\
                                    exit status 1\nstderr: boom",
                    "event": "PROCESS_STATE_FATAL",
                    "from_state": "BACKOFF",
                    "to_state": "FATAL",
                },
                "startsAt": "2026-12-04T15:01:55.123Z",
            }])
        );
    }

    #[test]
    fn the_resolve_has_the_firing_alerts_labels() {
        let firing = parse(&render(&fatal(), &cfg()));
        // What the notify listener sends when web_01 is RUNNING again, later, with a new pid.
        let mut resolved = fatal();
        resolved.kind = Kind::Resolved;
        resolved.event = Some("PROCESS_STATE_RUNNING".into());
        resolved.from_state = Some("STARTING".into());
        resolved.to_state = Some("RUNNING".into());
        resolved.pid = Some(5151);
        resolved.time += Duration::from_secs(60);
        resolved.subject = Some("web_01 is running again".into());
        let v = parse(&render(&resolved, &cfg()));
        let alerts = v.as_array().unwrap();
        assert_eq!(alerts.len(), PROBLEM_STATES.len());
        let matching: Vec<&Value> = alerts
            .iter()
            .filter(|a| a["labels"] == firing[0]["labels"])
            .collect();
        assert_eq!(
            matching.len(),
            1,
            "exactly one alert resolves the firing one"
        );
        assert_eq!(matching[0]["endsAt"], "2026-12-04T15:02:55.123Z");
        assert_eq!(matching[0]["startsAt"], "2026-12-04T15:02:55.123Z");
        // Every alert of the resolve ends, and each names a problem state of this program.
        for a in alerts {
            assert_eq!(a["endsAt"], "2026-12-04T15:02:55.123Z");
            assert_eq!(a["labels"]["program"], "web_01");
            assert_eq!(a["labels"]["listener"], "notify");
        }
        // So does an EXITED alert's.
        let mut exited = fatal();
        exited.to_state = Some("EXITED".into());
        let exited = parse(&render(&exited, &cfg()));
        assert_eq!(exited[0]["labels"]["alertname"], "SupervisorProcessExited");
        assert!(alerts.iter().any(|a| a["labels"] == exited[0]["labels"]));
    }

    #[test]
    fn alertnames() {
        let mut n = crash();
        assert_eq!(alertname(&n), "SupervisorProcessExited");
        n.to_state = None;
        n.event = Some("PROCESS_STATE_BACKOFF".into());
        assert_eq!(alertname(&n), "SupervisorProcessBackoff");
        n.event = Some("TICK_60".into());
        n.listener = "httpok".into();
        assert_eq!(alertname(&n), "SuperlanceHttpok");
        n.event = None;
        n.listener = "oom_score_adj".into();
        assert_eq!(alertname(&n), "SuperlanceOomScoreAdj");
        n.kind = Kind::Digest;
        assert_eq!(alertname(&n), "SuperlanceDigest");
    }

    #[test]
    fn absent_group_and_program_are_absent_labels() {
        let mut n = crash();
        n.kind = Kind::Batch;
        n.listener = "crashmailbatch".into();
        n.group = None;
        n.program = None;
        n.to_state = None;
        n.event = None;
        n.pid = None;
        let v = parse(&render(&n, &cfg()));
        assert_eq!(
            v[0]["labels"],
            json!({
                "alertname": "SuperlanceCrashmailbatch",
                "instance": "host1",
                "listener": "crashmailbatch",
            })
        );
        assert_eq!(v[0]["annotations"].get("pid"), None);
    }

    #[test]
    fn firing_for_sets_ends_at_and_the_url_is_not_doubled() {
        let cfg = Config {
            url: "https://am.example/api/v2/alerts/".into(),
            firing_for: Some(Duration::from_secs(3600)),
        };
        let post = render(&fatal(), &cfg);
        assert_eq!(post.url, "https://am.example/api/v2/alerts");
        assert_eq!(parse(&post)[0]["endsAt"], "2026-12-04T16:01:55.123Z");
    }

    #[test]
    fn the_description_is_exact_and_bounded() {
        let mut n = fatal();
        n.text = "quote \" backslash \\ tab \t esc \u{1b} é 😀".into();
        n.extra = vec!["x".repeat(MAX_DESCRIPTION)];
        let v = parse(&render(&n, &cfg()));
        let d = v[0]["annotations"]["description"].as_str().unwrap();
        assert!(d.starts_with("quote \" backslash \\ tab \t esc \u{1b} é 😀\n"));
        assert_eq!(d.chars().count(), MAX_DESCRIPTION);
    }

    #[test]
    fn debug_shows_the_host_only() {
        let cfg = Config {
            url: "https://user:pass@am.example/".into(),
            firing_for: None,
        };
        let d = format!("{cfg:?}");
        assert!(!d.contains("pass") && d.contains("am.example"), "{d}");
    }
}
