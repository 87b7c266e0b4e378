//! The channels beyond mail as a user sees them (issue 12, "Proof"): crashmail under a real
//! supervisord 4.3.0 notifying a real HTTP receiver (`common::receiver`), a real Alertmanager
//! (`common::alertmanager`) and a command; no `-m`, so the channels alone carry every
//! notification. What arrives is parsed (serde_json) and held against each service's
//! documented shape; retries, Retry-After, a hanging receiver, kill -9 with a spool, a dead
//! channel beside a live one, and secrets kept out of the listener's log.
//!
//! Crashers come from `common::crash` (crash.sh; each crash an EXITED event, its pid in
//! supervisord's log), started once the listener is RUNNING, as in tests/crashmail.rs.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::common::alertmanager::Alertmanager;
use crate::common::crash::{crasher, is_asctime, start, wait_crashes_done, Crash};
use crate::common::receiver::{Receiver, Request};
use crate::common::{self, Supervisord, BIN};

/// Longest wait for a program or listener to reach RUNNING.
const START: Duration = Duration::from_secs(10);

/// Longest wait for a notification from a healthy receiver: far more than it needs, with slack
/// for a 2-core machine running many tests at once.
const ARRIVE: Duration = Duration::from_secs(30);

/// The host name every notification carries (`--hostname`).
const HOST: &str = "testhost";

/// crashmail on `crasher`'s unexpected exits, every one notified (`--max-mails 0`), with
/// `args`; `env`: the listener's `environment=` line, if any.
fn listener(args: &str, env: Option<&str>) -> String {
    let mut s = common::eventlistener(
        "crashmail",
        &format!("crashmail -p crasher --hostname {HOST} --max-mails 0 {args}"),
        "PROCESS_STATE_EXITED",
    );
    if let Some(env) = env {
        s.push_str(&format!("environment={env}\n"));
    }
    s
}

/// Start the crasher once the listener runs; wait for its `n` crashes and its last, lasting run.
fn crash(sv: &Supervisord, n: usize) -> Vec<Crash> {
    sv.wait_running("crashmail", START);
    sv.ctl(&["start", "crasher"]);
    wait_crashes_done(sv, "crasher", n)
}

fn json(r: &Request) -> Value {
    serde_json::from_slice(&r.body)
        .unwrap_or_else(|e| panic!("{} sent a body that is not JSON ({e}): {r:#?}", r.target))
}

/// The one request whose target starts with `prefix`.
fn to<'a>(got: &'a [Request], prefix: &str) -> &'a Request {
    let hits: Vec<&Request> = got
        .iter()
        .filter(|r| r.target.starts_with(prefix))
        .collect();
    assert_eq!(hits.len(), 1, "requests to {prefix}: {got:#?}");
    hits[0]
}

/// A POST of `content_type` (its media type, before any `;`).
fn assert_post(r: &Request, content_type: &str) {
    assert_eq!(r.method, "POST", "{r:#?}");
    let ct = r.header("content-type").unwrap_or_default();
    assert_eq!(ct.split(';').next(), Some(content_type), "{r:#?}");
    assert!(
        r.header("user-agent")
            .is_some_and(|u| u.starts_with("superlance/")),
        "{r:#?}"
    );
}

/// Seconds between two requests, by the receiver's clock.
fn gap(a: &Request, b: &Request) -> f64 {
    (b.at_ns as f64 - a.at_ns as f64) / 1e9
}

/// The `.mail` files of a spool directory (notify/outbox/spool.rs).
fn spooled(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |d| {
        d.filter_map(|e| e.ok())
            .filter(|e| {
                let name = e.file_name();
                let name = name.to_string_lossy();
                !name.starts_with('.') && name.ends_with(".mail")
            })
            .count()
    })
}

/// crashmail's subject: `crasher crashed at <asctime>` (the time crashmail handled the crash,
/// a moment after supervisord logged it).
fn assert_subject(s: &str) {
    let at = s.strip_prefix("crasher crashed at ").unwrap_or_default();
    assert!(
        is_asctime(at),
        "{s:?} is not 'crasher crashed at <asctime>'"
    );
}

/// The chat text every preset carries: `[testhost] crasher crashed at <time>`, then the body.
fn assert_chat_text(text: &str, crash: &Crash) {
    assert!(
        text.starts_with(&format!("[{HOST}] crasher crashed at ")),
        "{text:?}"
    );
    assert!(
        text.contains(&format!(
            "Process crasher in group crasher exited unexpectedly (pid {}) from state RUNNING",
            crash.pid
        )),
        "{text:?}"
    );
}

#[test]
fn each_preset_sends_its_service_s_shape_and_no_secret_reaches_the_log() {
    let r = Receiver::start();
    let slack_url = r.url("/services/T000/B000/slack-s3cr3t");
    let args = [
        format!("--webhook {}", r.url("/hook/webhook-s3cr3t")),
        "--webhook-header 'Authorization: Bearer hdr-s3cr3t'".to_owned(),
        "--slack-url-file %(here)s/slack.url".to_owned(),
        format!("--discord {}", r.url("/api/webhooks/1/discord-s3cr3t")),
        format!("--teams {}", r.url("/workflows/teams-s3cr3t/invoke?sig=x")),
        format!("--telegram=-100123 --telegram-api {}", r.url("")),
        format!("--ntfy {}", r.url("/ntfy-topic-s3cr3t")),
        "--command 'cat > %(here)s/command.out; echo \"program=$SUPERLANCE_PROGRAM\" >> %(here)s/command.out'"
            .to_owned(),
    ]
    .join(" ");
    let sv = Supervisord::config(
        &[
            crasher("crasher", 1, "0.2"),
            listener(
                &args,
                Some("SUPERLANCE_TELEGRAM_TOKEN=\"123456:tg-s3cr3t-token\""),
            ),
        ]
        .join("\n"),
    )
    .file("crash.sh", common::crash::CRASH_SH)
    .file("slack.url", &format!("{slack_url}\n"))
    .start();
    let crashes = crash(&sv, 1);
    let c = &crashes[0];
    let got = r.wait_for(6, ARRIVE);
    assert_eq!(got.len(), 6, "one request per HTTP channel: {got:#?}");

    // --webhook: schema v1, the header added.
    let w = to(&got, "/hook/webhook-s3cr3t");
    assert_post(w, "application/json");
    assert_eq!(w.header("authorization"), Some("Bearer hdr-s3cr3t"));
    let v = json(w);
    assert_eq!(v["version"], 1);
    assert_eq!(v["hostname"], HOST);
    assert_eq!(v["listener"], "crashmail");
    let n = &v["notifications"][0];
    assert_eq!(v["notifications"].as_array().map(Vec::len), Some(1));
    assert_eq!(n["kind"], "event");
    assert_eq!(n["event"], "PROCESS_STATE_EXITED");
    assert_eq!(
        (&n["group"], &n["program"], &n["namespec"]),
        (
            &Value::from("crasher"),
            &Value::from("crasher"),
            &Value::from("crasher:crasher")
        )
    );
    assert_eq!(
        (&n["from_state"], &n["to_state"]),
        (&Value::from("RUNNING"), &Value::from("EXITED"))
    );
    assert_eq!(n["pid"], c.pid);
    assert_eq!(n["expected"], false);
    assert_subject(n["subject"].as_str().unwrap_or_default());
    assert!(n["unix_time"].as_u64().is_some_and(|t| t > 1_700_000_000));

    // --slack (from a file): {"text"}.
    let s = to(&got, "/services/T000/B000/slack-s3cr3t");
    assert_post(s, "application/json");
    assert_chat_text(json(s)["text"].as_str().unwrap_or_default(), c);
    // --discord: {"content", "allowed_mentions": {"parse": []}}: no @everyone from a log line.
    let d = json(to(&got, "/api/webhooks/1/discord-s3cr3t"));
    assert_chat_text(d["content"].as_str().unwrap_or_default(), c);
    assert_eq!(d["allowed_mentions"]["parse"], Value::Array(vec![]));
    // --teams: a message with one Adaptive Card.
    let t = to(&got, "/workflows/teams-s3cr3t/invoke?sig=x");
    assert_post(t, "application/json");
    let t = json(t);
    assert_eq!(t["type"], "message");
    let card = &t["attachments"][0];
    assert_eq!(
        card["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert_eq!(card["content"]["type"], "AdaptiveCard");
    assert!(
        t.to_string()
            .contains(&format!("[{HOST}] crasher crashed at ")),
        "{t}"
    );
    // --telegram (the token from the environment): sendMessage with a numeric chat_id.
    let tg = to(&got, "/bot123456:tg-s3cr3t-token/sendMessage");
    assert_post(tg, "application/json");
    let tg = json(tg);
    assert_eq!(tg["chat_id"], -100123);
    assert_chat_text(tg["text"].as_str().unwrap_or_default(), c);
    // --ntfy: the text as a plain body, title, priority and tags as headers.
    let nt = to(&got, "/ntfy-topic-s3cr3t");
    assert_post(nt, "text/plain");
    let title = nt.header("x-title").unwrap_or_default();
    assert_subject(title.strip_prefix(&format!("[{HOST}] ")).unwrap_or(title));
    assert_eq!(nt.header("x-priority"), Some("4"), "an unexpected exit");
    assert_eq!(nt.header("x-tags"), Some("rotating_light,crashmail"));
    assert!(
        nt.text().contains(&format!("(pid {})", c.pid)),
        "{}",
        nt.text()
    );

    // --command: the text on stdin, the fields in the environment.
    let out = sv.dir().join("command.out");
    assert!(
        common::wait_until(ARRIVE, || std::fs::read_to_string(&out)
            .is_ok_and(|t| t.contains("program="))),
        "the command did not run"
    );
    assert_eq!(
        std::fs::read_to_string(&out).unwrap_or_default(),
        format!(
            "Process crasher in group crasher exited unexpectedly (pid {}) from state RUNNING\n\
             program=crasher\n",
            c.pid
        )
    );

    // The log says what was sent where, by origin, and never a secret.
    let origin = format!("http://127.0.0.1:{}", r.port());
    for channel in ["webhook", "slack", "discord", "teams", "telegram", "ntfy"] {
        sv.wait_stderr_line(
            "crashmail",
            &[
                "sent \"crasher crashed at",
                &format!("via {channel} {origin}"),
            ],
            ARRIVE,
        );
    }
    sv.wait_stderr_line(
        "crashmail",
        &["sent \"crasher crashed at", "via command \"cat …\""],
        ARRIVE,
    );
    sv.wait_stderr_line(
        "crashmail",
        &["unexpected exit, notifying: crasher crashed at"],
        ARRIVE,
    );
    let log = sv.stderr_log("crashmail");
    for secret in ["s3cr3t", "hdr-s3cr3t", "tg-s3cr3t-token", "sig=x"] {
        assert!(
            !log.contains(secret),
            "{secret:?} in the listener's log:\n{log}"
        );
    }
    sv.assert_listener_up("crashmail", sv.pid("crashmail").unwrap_or_default());
}

#[test]
fn a_500_is_retried_and_a_429_s_retry_after_is_waited() {
    // issue 12: 5xx transient, 429 honours Retry-After. The first answer is 429 with
    // Retry-After: 2, where the backoff alone would wait 1 s: the second attempt must come at
    // least 2 s later. Then a 500 (backoff 2 s), then delivered: the same body three times.
    let r = Receiver::start();
    r.then(&["429 2", "500"]);
    let sv = start(&[
        crasher("crasher", 1, "0.2"),
        listener(&format!("--webhook {}", r.url("/hook")), None),
    ]);
    let c = crash(&sv, 1);
    let got = r.wait_for(3, ARRIVE);
    let answered: Vec<&str> = got.iter().map(|g| g.answered.as_str()).collect();
    assert_eq!(answered, ["429 2", "500", "200"]);
    assert!(got.iter().all(|g| g.body == got[0].body), "{got:#?}");
    assert_eq!(json(&got[2])["notifications"][0]["pid"], c[0].pid);
    let (first, second) = (gap(&got[0], &got[1]), gap(&got[1], &got[2]));
    assert!(
        first >= 2.0,
        "the 429's Retry-After: 2 was not waited: {first:.3} s"
    );
    assert!(second >= 2.0, "the second backoff is 2 s: {second:.3} s");
    sv.wait_stderr_line(
        "crashmail",
        &["HTTP 429", "retry after 2 s", "next attempt in 2 s"],
        ARRIVE,
    );
    sv.wait_stderr_line(
        "crashmail",
        &["sent \"crasher crashed at", "(attempt 3)"],
        ARRIVE,
    );
    // Nothing more: delivered once.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(r.requests().len(), 3);
}

#[test]
fn a_4xx_is_given_up_kept_in_failed_and_the_next_one_goes_on() {
    // A 404 (a deleted webhook) is permanent: logged, never retried, its spool file moved to
    // DIR/webhook/failed/ for an operator; the next crash is delivered as usual.
    let r = Receiver::start();
    r.then(&["404"]);
    let sv = start(&[
        crasher("crasher", 2, "0.5"),
        listener(
            &format!("--webhook {} --spool %(here)s/spool", r.url("/hook")),
            None,
        ),
    ]);
    let crashes = crash(&sv, 2);
    let got = r.wait_for(2, ARRIVE);
    let answered: Vec<&str> = got.iter().map(|g| g.answered.as_str()).collect();
    assert_eq!(answered, ["404", "200"]);
    let pids: Vec<Value> = got
        .iter()
        .map(|g| json(g)["notifications"][0]["pid"].clone())
        .collect();
    let want: Vec<Value> = crashes.iter().map(|c| Value::from(c.pid)).collect();
    assert_eq!(pids, want, "the refused one is not tried again");
    sv.wait_stderr_line(
        "crashmail",
        &[
            "refused \"crasher crashed at",
            "HTTP 404",
            "giving up",
            "failed",
        ],
        ARRIVE,
    );
    let spool = sv.dir().join("spool").join("webhook");
    assert!(
        common::wait_until(START, || spooled(&spool) == 0),
        "left in {}",
        spool.display()
    );
    assert_eq!(spooled(&spool.join("failed")), 1);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(r.requests().len(), 2);
}

#[test]
fn a_hanging_receiver_times_out_then_the_notification_is_delivered() {
    // The first request is never answered: the channel gives up after --notify-timeout 2 and
    // tries again (backoff 1 s), when the receiver answers.
    let r = Receiver::start();
    r.then(&["hang"]);
    let sv = start(&[
        crasher("crasher", 1, "0.2"),
        listener(
            &format!("--webhook {} --notify-timeout 2", r.url("/hook")),
            None,
        ),
    ]);
    crash(&sv, 1);
    let got = r.wait_for(2, ARRIVE);
    let answered: Vec<&str> = got.iter().map(|g| g.answered.as_str()).collect();
    assert_eq!(answered, ["hang", "200"]);
    assert_eq!(got[0].body, got[1].body);
    let waited = gap(&got[0], &got[1]);
    assert!(
        waited >= 2.0,
        "retried before the 2 s timeout: {waited:.3} s"
    );
    sv.wait_stderr_line(
        "crashmail",
        &["no answer within 2 s", "(attempt 1)"],
        ARRIVE,
    );
    sv.wait_stderr_line(
        "crashmail",
        &["sent \"crasher crashed at", "(attempt 2)"],
        ARRIVE,
    );
}

#[test]
fn spooled_webhooks_survive_kill_9_and_are_delivered_once() {
    // The receiver is down: three crash notifications wait in DIR/webhook/. kill -9 the
    // listener; supervisord restarts it; the receiver comes back: each is delivered once,
    // in order, and the spool is emptied.
    let mut r = Receiver::start();
    r.stop();
    let sv = start(&[
        crasher("crasher", 3, "0.2"),
        listener(
            &format!("--webhook {} --spool %(here)s/spool", r.url("/hook/s3cr3t")),
            None,
        ),
    ]);
    let spool = sv.dir().join("spool").join("webhook");
    let first = sv.wait_running("crashmail", START);
    let crashes = crash(&sv, 3);
    assert!(
        common::wait_until(ARRIVE, || spooled(&spool) == 3),
        "{} holds {} notifications, expected 3",
        spool.display(),
        spooled(&spool)
    );
    // SAFETY: kill(2) on the listener, a RUNNING process of our supervisord.
    unsafe { libc::kill(first as libc::pid_t, libc::SIGKILL) };
    let second = common::poll(START, || sv.pid("crashmail").filter(|&p| p != first))
        .unwrap_or_else(|| panic!("not restarted: {}", sv.ctl(&["status"])));
    sv.wait_stderr_line(
        "crashmail",
        &["3 notifications left in the spool", "by an earlier run"],
        START,
    );
    r.restart();
    let got = r.wait_for(3, ARRIVE);
    let pids: Vec<Value> = got
        .iter()
        .map(|g| json(g)["notifications"][0]["pid"].clone())
        .collect();
    let want: Vec<Value> = crashes.iter().map(|c| Value::from(c.pid)).collect();
    assert_eq!(pids, want, "each crash once, in order");
    assert!(
        common::wait_until(START, || spooled(&spool) == 0),
        "delivered notifications left in {}",
        spool.display()
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(r.requests().len(), 3, "a notification came twice");
    assert_eq!(sv.pid("crashmail"), Some(second));
    assert!(!sv.stderr_log("crashmail").contains("s3cr3t"));
}

#[test]
fn a_dead_channel_never_holds_back_a_live_one() {
    // One webhook hangs (each attempt waits the whole --notify-timeout of 60 s); the other
    // answers. The live one gets all three crashes at once, while the dead one is still on
    // its first request: were they one queue, the live one would wait a minute per crash.
    let dead = Receiver::start();
    dead.answer("hang");
    let live = Receiver::start();
    let sv = start(&[
        crasher("crasher", 3, "0.2"),
        listener(
            &format!(
                "--webhook {} --webhook {} --notify-timeout 60",
                dead.url("/dead"),
                live.url("/live")
            ),
            None,
        ),
    ]);
    let crashes = crash(&sv, 3);
    let got = live.wait_for(3, Duration::from_secs(10));
    let pids: Vec<Value> = got
        .iter()
        .map(|g| json(g)["notifications"][0]["pid"].clone())
        .collect();
    let want: Vec<Value> = crashes.iter().map(|c| Value::from(c.pid)).collect();
    assert_eq!(pids, want);
    assert_eq!(
        dead.requests().len(),
        1,
        "the dead one is still on its first"
    );
}

#[test]
fn crashmailbatch_sends_its_batch_to_a_webhook_without_t_or_f() {
    // The batch mailers take the channels too (src/batch.rs): no -t/-f, a webhook only; two
    // crashes in one batch, one request whose text lists both (their pids, in order).
    let r = Receiver::start();
    let sv = start(&[
        crasher("crasher", 2, "0.2"),
        common::eventlistener(
            "crashmailbatch",
            &format!(
                "crashmailbatch --hostname {HOST} -i 0.1 --webhook {}",
                r.url("/batch")
            ),
            "PROCESS_STATE,TICK_5",
        ),
    ]);
    sv.wait_running("crashmailbatch", START);
    sv.ctl(&["start", "crasher"]);
    let crashes = wait_crashes_done(&sv, "crasher", 2);
    let got = common::poll(ARRIVE, || {
        let got = r.requests();
        let all = got
            .iter()
            .map(|g| json(g)["notifications"][0]["text"].to_string())
            .collect::<String>();
        crashes
            .iter()
            .all(|c| all.contains(&format!("(pid {})", c.pid)))
            .then_some(got)
    })
    .unwrap_or_else(|| panic!("the batch did not come: {:#?}", r.requests()));
    let v = json(&got[0]);
    assert_eq!(v["listener"], "crashmailbatch");
    assert_eq!(v["hostname"], HOST);
    let n = &v["notifications"][0];
    assert_eq!(n["kind"], "batch");
    let text = n["text"].as_str().unwrap_or_default();
    let pids: Vec<String> = crashes.iter().map(|c| format!("(pid {})", c.pid)).collect();
    assert!(
        got.len() == 1 && text.find(&pids[0]) < text.find(&pids[1]),
        "both crashes in one batch, in order: {got:#?}"
    );
    sv.wait_stderr_line("crashmailbatch", &["sending 2 lines"], ARRIVE);
}

#[test]
fn alertmanager_shows_the_alert_with_its_labels() {
    let Some(am) = Alertmanager::start() else {
        return;
    };
    let sv = start(&[
        crasher("crasher", 1, "0.2"),
        listener(&format!("--alertmanager {}", am.url()), None),
    ]);
    let c = crash(&sv, 1);
    let alerts = common::poll(ARRIVE, || {
        let v: Value = serde_json::from_str(&am.alerts_json()).ok()?;
        let found = v
            .as_array()?
            .iter()
            .find(|a| a["labels"]["program"] == "crasher")
            .cloned();
        found
    })
    .unwrap_or_else(|| panic!("no alert for crasher in {}", am.alerts_json()));
    let labels = &alerts["labels"];
    assert_eq!(labels["alertname"], "SupervisorProcessExited");
    assert_eq!(labels["instance"], HOST);
    assert_eq!(labels["group"], "crasher");
    assert_eq!(labels["program"], "crasher");
    assert_eq!(labels["listener"], "crashmail");
    assert_subject(
        alerts["annotations"]["summary"]
            .as_str()
            .unwrap_or_default(),
    );
    assert_eq!(alerts["annotations"]["pid"], c[0].pid.to_string().as_str());
    assert_eq!(alerts["status"]["state"], "active");
}

#[test]
fn a_wrong_channel_option_is_one_line_at_start_exit_2_without_the_secret() {
    for (args, says) in [
        (vec!["--slack", "ftp://hooks.example/s3cr3t"], "--slack"),
        (vec!["--telegram", "1"], "--telegram-token-file"),
        (
            vec![
                "--webhook",
                "http://x/",
                "--webhook-header",
                "no colon s3cr3t",
            ],
            "--webhook-header",
        ),
        (
            vec!["--slack-url-file", "/nonexistent/slack.url"],
            "cannot read",
        ),
    ] {
        let out = common::run(
            Command::new(BIN)
                .arg("crashmail")
                .args(&args)
                .env_remove("SUPERLANCE_TELEGRAM_TOKEN"),
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(!err.contains("s3cr3t"), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "stdout is the protocol's");
    }
}
