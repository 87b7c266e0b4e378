//! The outbox's tests: the mail channel over a fake transport, driven step by step with a
//! clock the test moves by hand (or, where it says so, on the real thread and clock).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use super::report::Leftovers;
use super::*;
use crate::notify::channel::mail::{MailChannel, Transport};
use crate::notify::channel::{DeliveryError, RenderError, Rendered};
/// A clock the test moves by hand.
pub(in crate::notify) struct TestClock {
    base: Instant,
    wall: SystemTime,
    offset: Mutex<Duration>,
}

impl TestClock {
    pub(in crate::notify) fn new() -> Arc<TestClock> {
        Arc::new(TestClock {
            base: Instant::now(),
            wall: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            offset: Mutex::new(Duration::ZERO),
        })
    }

    pub(in crate::notify) fn advance(&self, d: Duration) {
        *self.offset.lock().unwrap() += d;
    }

    /// Move to `t` (never back).
    pub(in crate::notify) fn set(&self, t: Instant) {
        let mut offset = self.offset.lock().unwrap();
        *offset = (*offset).max(t.saturating_duration_since(self.base));
    }
}

impl Clock for TestClock {
    fn now(&self) -> Instant {
        self.base + *self.offset.lock().unwrap()
    }

    fn wall(&self) -> SystemTime {
        self.wall + *self.offset.lock().unwrap()
    }
}

/// A transport that records what it is given and fails as told.
#[derive(Default)]
struct Fake {
    delivered: Vec<Rendered>,
    attempts: Vec<String>,
    /// Fail this many attempts transiently, then succeed.
    transient: u32,
    always: Option<DeliveryError>,
    /// Refuse for good mails whose summary is this.
    refuse: Option<String>,
    delay: Duration,
    /// The transient failures say when to come back (a 429's `Retry-After`).
    retry_after: Option<Duration>,
}

#[derive(Clone, Default)]
struct FakeTransport(Arc<Mutex<Fake>>);

impl FakeTransport {
    fn with(set: impl FnOnce(&mut Fake)) -> FakeTransport {
        let t = FakeTransport::default();
        set(&mut t.0.lock().unwrap());
        t
    }

    /// The mail channel to ops@example.com from supervisor@host1, over this transport.
    fn boxed(&self) -> Arc<dyn Channel> {
        Arc::new(MailChannel::new(
            vec!["ops@example.com".into()],
            Some("supervisor@host1".into()),
            Box::new(self.clone()),
        ))
    }

    fn delivered(&self) -> Vec<String> {
        let f = self.0.lock().unwrap();
        f.delivered.iter().map(|r| r.summary.clone()).collect()
    }

    fn attempts(&self) -> Vec<String> {
        self.0.lock().unwrap().attempts.clone()
    }

    /// The text of the n-th delivered mail (quoted-printable undone).
    fn text(&self, n: usize) -> String {
        let raw = self.0.lock().unwrap().delivered[n].message.clone();
        let raw = String::from_utf8_lossy(&raw).replace("=\r\n", "");
        let mut out = Vec::new();
        let mut i = 0;
        let b = raw.as_bytes();
        while i < b.len() {
            let byte = raw
                .get(i + 1..i + 3)
                .filter(|_| b[i] == b'=')
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            match byte {
                Some(byte) => {
                    out.push(byte);
                    i += 3;
                }
                None => {
                    out.push(b[i]);
                    i += 1;
                }
            }
        }
        String::from_utf8_lossy(&out).replace("\r\n", "\n")
    }
}

impl Transport for FakeTransport {
    fn deliver(&mut self, mail: &Rendered) -> Result<(), DeliveryError> {
        let delay = self.0.lock().unwrap().delay;
        if !delay.is_zero() {
            std::thread::sleep(delay);
        }
        let mut f = self.0.lock().unwrap();
        f.attempts.push(mail.summary.clone());
        if f.refuse.as_deref() == Some(mail.summary.as_str()) {
            return Err(DeliveryError::Permanent("550 no such user".into()));
        }
        if let Some(e) = &f.always {
            return Err(e.clone());
        }
        if f.transient > 0 {
            f.transient -= 1;
            if let Some(after) = f.retry_after {
                return Err(DeliveryError::Later {
                    message: "HTTP 429 Too Many Requests".into(),
                    after,
                });
            }
            return Err(DeliveryError::Transient("connection refused".into()));
        }
        f.delivered.push(mail.clone());
        Ok(())
    }

    fn describe(&self) -> String {
        "fake".to_owned()
    }
}

fn down() -> DeliveryError {
    DeliveryError::Transient("connection refused".into())
}

fn config(spool: Option<&std::path::Path>) -> OutboxConfig {
    OutboxConfig {
        spool: spool.map(ToOwned::to_owned),
        flood: None,
        queue_capacity: 100,
        shutdown_grace: Duration::from_secs(5),
    }
}

fn flood(max: u32, per: Duration) -> Option<FloodLimit> {
    Some(FloodLimit { max, per })
}

fn mail(subject: &str, key: Option<&str>) -> Notification {
    Notification::for_test(
        Some(subject),
        &format!("body of {subject}\nsecond line"),
        key,
    )
}

/// The mails waiting in a spool directory, by file name.
fn spooled(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".mail"))
        .collect();
    names.sort();
    names
}

#[test]
fn submit_does_not_wait_and_mail_arrives_in_order() {
    let t = FakeTransport::with(|f| f.delay = Duration::from_millis(60));
    let mut outbox = Outbox::start(t.boxed(), config(None)).unwrap();
    let started = Instant::now();
    for n in 1..=4 {
        outbox.submit(mail(&format!("m{n}"), Some("web:web_01")));
    }
    // Four deliveries take 240 ms; handing them over takes next to nothing.
    assert!(
        started.elapsed() < Duration::from_millis(50),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(outbox.stop(), Some(Leftovers::default()));
    assert_eq!(t.delivered(), ["m1", "m2", "m3", "m4"]);
    assert!(t.text(0).contains("Subject: m1\n"));
    assert!(t.text(0).contains("body of m1"));
}

#[test]
fn transient_failures_back_off_and_the_head_waits() {
    let clock = TestClock::new();
    let t = FakeTransport::with(|f| f.transient = 3);
    let mut outbox = Outbox::manual(t.boxed(), config(None), &clock).unwrap();
    outbox.submit(mail("a", None));
    outbox.submit(mail("b", None));
    let mut waits = Vec::new();
    while let Some(until) = outbox.run_pending() {
        waits.push(until.duration_since(clock.now()));
        clock.set(until);
    }
    let s = Duration::from_secs;
    assert_eq!(waits, [s(1), s(2), s(4)]);
    // b is not tried while a waits: the order is kept.
    assert_eq!(t.attempts(), ["a", "a", "a", "a", "b"]);
    assert_eq!(t.delivered(), ["a", "b"]);
}

#[test]
fn retry_after_is_waited_at_least_and_at_most_the_longest_backoff() {
    // issue 12: 429 and 503 honour Retry-After. The wait is the longer of the backoff and
    // the server's delay, never longer than the backoff's cap (60 s).
    let s = Duration::from_secs;
    for (after, want) in [
        (s(3), [s(3), s(3), s(4), s(8)]),
        (s(3600), [s(60), s(60), s(60), s(60)]),
    ] {
        let clock = TestClock::new();
        let t = FakeTransport::with(|f| {
            f.transient = 4;
            f.retry_after = Some(after);
        });
        let mut outbox = Outbox::manual(t.boxed(), config(None), &clock).unwrap();
        outbox.submit(mail("a", None));
        let mut waits = Vec::new();
        while let Some(until) = outbox.run_pending() {
            waits.push(until.duration_since(clock.now()));
            clock.set(until);
        }
        assert_eq!(waits, want, "Retry-After {after:?}");
        assert_eq!(t.attempts(), ["a"; 5]);
        assert_eq!(t.delivered(), ["a"]);
    }
}

#[test]
fn backoff_doubles_up_to_its_cap() {
    let b = Backoff::default();
    let waits: Vec<u64> = (1..=8).map(|n| b.delay(n).as_secs()).collect();
    assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60]);
    assert_eq!(b.delay(u32::MAX), Duration::from_secs(60));
}

#[test]
fn a_refused_mail_is_dropped_and_kept_in_failed() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::new();
    let t = FakeTransport::with(|f| f.refuse = Some("bad".into()));
    let mut outbox = Outbox::manual(t.boxed(), config(Some(dir.path())), &clock).unwrap();
    outbox.submit(mail("bad", None));
    outbox.submit(mail("good", None));
    assert_eq!(outbox.run_pending(), None);
    assert_eq!(t.delivered(), ["good"]);
    assert!(spooled(dir.path()).is_empty());
    let failed = spooled(&dir.path().join("failed"));
    assert_eq!(failed.len(), 1);
    let kept = std::fs::read_to_string(dir.path().join("failed").join(&failed[0])).unwrap();
    assert!(kept.contains("Subject: bad"), "{kept}");
    // Without a spool, only the log says so; the next mail goes on.
    let t = FakeTransport::with(|f| f.refuse = Some("bad".into()));
    let mut outbox = Outbox::manual(t.boxed(), config(None), &clock).unwrap();
    outbox.submit(mail("bad", None));
    outbox.submit(mail("good", None));
    outbox.run_pending();
    assert_eq!(t.delivered(), ["good"]);
}

#[test]
fn spool_file_is_written_before_submit_returns_and_deleted_once_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::new();
    let t = FakeTransport::default();
    let mut outbox = Outbox::manual(t.boxed(), config(Some(dir.path())), &clock).unwrap();
    outbox.submit(mail("a", Some("web:web_01")));
    let files = spooled(dir.path());
    assert_eq!(files.len(), 1);
    let text = std::fs::read_to_string(dir.path().join(&files[0])).unwrap();
    assert!(text.starts_with(
        "superlance-spool 1\nfrom supervisor@host1\nto ops@example.com\nsummary a\n\n"
    ));
    assert!(text.contains("Subject: a\r\n"), "{text}");
    assert!(t.delivered().is_empty());
    outbox.run_pending();
    assert_eq!(t.delivered(), ["a"]);
    assert!(spooled(dir.path()).is_empty());
}

#[test]
fn mails_left_by_a_killed_listener_are_sent_first_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::new();
    let broken = FakeTransport::with(|f| f.always = Some(down()));
    let mut first = Outbox::manual(broken.boxed(), config(Some(dir.path())), &clock).unwrap();
    first.submit(mail("a", None));
    first.submit(mail("b", None));
    assert!(first.run_pending().is_some(), "waiting to retry");
    first.crash();
    assert_eq!(spooled(dir.path()).len(), 2);
    // Killed while writing a third: a half-written file, never acknowledged.
    std::fs::write(
        dir.path().join(".tmp-00000000000000000001.mail"),
        "superlance-spool 1\nfrom",
    )
    .unwrap();
    // And a file that is not ours: set aside, not sent.
    std::fs::write(dir.path().join("00000000000000000005.mail"), "garbage").unwrap();

    let t = FakeTransport::default();
    let mut second = Outbox::manual(t.boxed(), config(Some(dir.path())), &clock).unwrap();
    second.submit(mail("c", None));
    second.run_pending();
    assert_eq!(t.delivered(), ["a", "b", "c"]);
    assert_eq!(
        spooled(&dir.path().join("failed")),
        ["00000000000000000005.mail"]
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        3,
        "only .lock, failed/, held/"
    );
}

#[test]
fn a_spool_in_use_by_a_running_listener_is_not_shared() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::new();
    let broken = FakeTransport::with(|f| f.always = Some(down()));
    let first = Outbox::manual(broken.boxed(), config(Some(dir.path())), &clock).unwrap();
    first.submit(mail("first's", None));
    // The second one is told (in the log) and keeps its mail in memory.
    let t = FakeTransport::default();
    let mut second = Outbox::manual(t.boxed(), config(Some(dir.path())), &clock).unwrap();
    second.submit(mail("second's", None));
    assert_eq!(spooled(dir.path()).len(), 1);
    second.run_pending();
    assert_eq!(t.delivered(), ["second's"]);
    first.crash();
}

#[test]
fn a_full_queue_without_spool_merges_the_oldest_into_one_digest() {
    let clock = TestClock::new();
    let t = FakeTransport::default();
    let mut cfg = config(None);
    cfg.queue_capacity = 3;
    let mut outbox = Outbox::manual(t.boxed(), cfg, &clock).unwrap();
    for n in 1..=10 {
        outbox.submit(mail(&format!("m{n}"), None));
    }
    outbox.run_pending();
    assert_eq!(
        t.delivered(),
        ["8 notifications merged (delivery backlog)", "m9", "m10"]
    );
    let digest = t.text(0);
    for n in 1..=8 {
        assert!(
            digest.contains(&format!("  m{n}\n    body of m{n}\n    second line\n")),
            "m{n} missing: {digest}"
        );
    }
    assert!(!digest.contains("  m9\n"));
    assert!(digest.contains("To: ops@example.com"));
}

#[test]
fn flood_control_holds_back_per_key_and_mails_one_digest_when_the_window_ends() {
    let clock = TestClock::new();
    let t = FakeTransport::default();
    let mut cfg = config(None);
    cfg.flood = flood(2, Duration::from_secs(600));
    let mut outbox = Outbox::manual(t.boxed(), cfg, &clock).unwrap();
    let start = clock.now();
    for n in 1..=5 {
        outbox.submit(mail(&format!("web_01 crashed #{n}"), Some("web:web_01")));
        clock.advance(Duration::from_secs(1));
    }
    outbox.submit(mail("db crashed", Some("db:db")));
    outbox.submit(mail("unkeyed 1", None));
    outbox.submit(mail("unkeyed 2", None));
    outbox.submit(mail("unkeyed 3", None));
    // With nothing else to do, the worker sleeps until the window ends, not forever.
    assert_eq!(outbox.run_pending(), Some(start + Duration::from_secs(600)));
    assert_eq!(
        t.delivered(),
        [
            "web_01 crashed #1",
            "web_01 crashed #2",
            "db crashed",
            "unkeyed 1",
            "unkeyed 2",
            "unkeyed 3"
        ]
    );
    clock.set(start + Duration::from_secs(600));
    assert_eq!(outbox.run_pending(), None);
    let delivered = t.delivered();
    assert_eq!(delivered.len(), 7);
    assert_eq!(
        delivered[6],
        "web:web_01: 3 more notifications suppressed (flood control: max 2 per 10 minutes)"
    );
    let digest = t.text(6);
    for n in 3..=5 {
        assert!(
            digest.contains(&format!(
                "  web_01 crashed #{n}\n    body of web_01 crashed #{n}\n"
            )),
            "#{n} missing: {digest}"
        );
    }
    assert!(!digest.contains("second line"), "first lines only");
    // A new window: the next crash is mailed again.
    outbox.submit(mail("web_01 crashed #6", Some("web:web_01")));
    outbox.run_pending();
    assert_eq!(t.delivered()[7], "web_01 crashed #6");
}

#[test]
fn a_held_mail_sets_the_sleeping_workers_alarm() {
    let clock = TestClock::new();
    let t = FakeTransport::default();
    let mut cfg = config(None);
    cfg.flood = flood(1, Duration::from_secs(600));
    let mut outbox = Outbox::manual(t.boxed(), cfg, &clock).unwrap();
    let start = clock.now();
    outbox.submit(mail("k1", Some("k")));
    assert_eq!(outbox.run_pending(), None, "delivered, nothing due: asleep");
    outbox.submit(mail("k2", Some("k")));
    assert_eq!(outbox.run_pending(), Some(start + Duration::from_secs(600)));
    clock.set(start + Duration::from_secs(600));
    outbox.run_pending();
    assert_eq!(t.delivered().len(), 2);
}

#[test]
fn the_window_digest_goes_out_with_no_further_event() {
    // The real thread and clock: the worker must wake on its own when the window ends.
    let t = FakeTransport::default();
    let mut cfg = config(None);
    cfg.flood = flood(1, Duration::from_millis(50));
    let mut outbox = Outbox::start(t.boxed(), cfg).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let wait_for = |n: usize| {
        while t.delivered().len() < n && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
    };
    outbox.submit(mail("k1", Some("k")));
    // The worker has delivered k1 and sleeps with nothing due: held-back mails must give it
    // a time to wake at.
    wait_for(1);
    std::thread::sleep(Duration::from_millis(5));
    outbox.submit(mail("k2", Some("k")));
    outbox.submit(mail("k3", Some("k")));
    wait_for(2);
    assert_eq!(
        t.delivered(),
        [
            "k1",
            "k: 2 more notifications suppressed (flood control: max 1 per 50 ms)"
        ]
    );
    assert_eq!(outbox.stop(), Some(Leftovers::default()));
}

#[test]
fn shutdown_mails_the_flood_digests_at_once() {
    let clock = TestClock::new();
    let t = FakeTransport::default();
    let mut cfg = config(None);
    cfg.flood = flood(1, Duration::from_secs(600));
    let mut outbox = Outbox::manual(t.boxed(), cfg, &clock).unwrap();
    for n in 1..=3 {
        outbox.submit(mail(&format!("k{n}"), Some("k")));
    }
    assert_eq!(outbox.stop(), Some(Leftovers::default()));
    assert_eq!(
        t.delivered(),
        [
            "k1",
            "k: 2 more notifications suppressed (flood control: max 1 per 10 minutes)"
        ]
    );
}

#[test]
fn shutdown_delivers_what_is_queued_within_the_grace_time() {
    let t = FakeTransport::with(|f| f.delay = Duration::from_millis(10));
    let mut outbox = Outbox::start(t.boxed(), config(None)).unwrap();
    for n in 1..=5 {
        outbox.submit(mail(&format!("m{n}"), None));
    }
    assert_eq!(outbox.stop(), Some(Leftovers::default()));
    assert_eq!(t.delivered(), ["m1", "m2", "m3", "m4", "m5"]);
    // Twice is harmless, and so is the drop that follows.
    assert_eq!(outbox.stop(), None);
    outbox.shutdown();
}

#[test]
fn shutdown_with_the_server_down_leaves_the_spool_for_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::new();
    let t = FakeTransport::with(|f| f.always = Some(down()));
    let mut outbox = Outbox::manual(t.boxed(), config(Some(dir.path())), &clock).unwrap();
    outbox.submit(mail("a", None));
    outbox.submit(mail("b", None));
    let start = clock.now();
    let left = outbox.stop().unwrap();
    assert_eq!(
        left,
        Leftovers {
            spooled: 2,
            lost: vec![]
        }
    );
    assert_eq!(spooled(dir.path()).len(), 2);
    // Tried at 0 s, 1 s and 3 s; the next try (7 s) would be past the 5 s of grace.
    assert_eq!(t.attempts(), ["a", "a", "a"]);
    assert!(clock.now() < start + Duration::from_secs(5));
}

#[test]
fn shutdown_without_spool_names_each_lost_mail() {
    let clock = TestClock::new();
    let t = FakeTransport::with(|f| f.always = Some(down()));
    let mut cfg = config(None);
    cfg.queue_capacity = 2;
    let mut outbox = Outbox::manual(t.boxed(), cfg, &clock).unwrap();
    for n in 1..=4 {
        outbox.submit(mail(&format!("m{n}"), None));
    }
    let left = outbox.stop().unwrap();
    assert_eq!(left.spooled, 0);
    assert_eq!(left.lost, ["m1", "m2", "m3", "m4"]);
}

#[test]
fn an_unwritable_spool_keeps_mail_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("file");
    std::fs::write(&file, "").unwrap();
    let clock = TestClock::new();
    let t = FakeTransport::default();
    let mut outbox = Outbox::manual(t.boxed(), config(Some(&file.join("spool"))), &clock).unwrap();
    outbox.submit(mail("a", None));
    outbox.run_pending();
    assert_eq!(t.delivered(), ["a"]);
    assert_eq!(outbox.stop(), Some(Leftovers::default()));
}

#[test]
fn mails_held_back_survive_a_kill_as_one_digest() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::new();
    let t = FakeTransport::default();
    let mut cfg = config(Some(dir.path()));
    cfg.flood = flood(1, Duration::from_secs(600));
    let mut first = Outbox::manual(t.boxed(), cfg.clone(), &clock).unwrap();
    for n in 1..=3 {
        first.submit(mail(&format!("k{n}"), Some("web:k")));
    }
    first.run_pending();
    assert_eq!(t.delivered(), ["k1"]);
    first.crash();

    let mut second = Outbox::manual(t.boxed(), cfg, &clock).unwrap();
    second.run_pending();
    let delivered = t.delivered();
    assert_eq!(
        delivered[1],
        "web:k: 2 more notifications suppressed (flood control: max 1 per 10 minutes)"
    );
    let digest = t.text(1);
    assert!(digest.contains("  k2\n    body of k2\n"), "{digest}");
    assert!(digest.contains("  k3\n"), "{digest}");
    assert!(
        digest.contains("stopped before the window ended"),
        "{digest}"
    );
    assert_eq!(
        std::fs::read_dir(dir.path().join("held")).unwrap().count(),
        0
    );
    assert!(spooled(dir.path()).is_empty());
}

#[test]
fn a_mail_that_cannot_be_formatted_is_not_queued() {
    let clock = TestClock::new();
    let t = FakeTransport::default();
    let mut outbox = Outbox::manual(Picky::over(&t), config(None), &clock).unwrap();
    outbox.submit(mail("no recipient", None));
    outbox.submit(mail("good", None));
    outbox.run_pending();
    assert_eq!(t.delivered(), ["good"]);
}

#[test]
fn a_mail_after_shutdown_is_not_lost_silently() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::new();
    let t = FakeTransport::default();
    let mut outbox = Outbox::manual(t.boxed(), config(Some(dir.path())), &clock).unwrap();
    outbox.stop();
    outbox.submit(mail("late", Some("k")));
    assert_eq!(spooled(dir.path()).len(), 1, "kept for the next start");
}

/// The mail channel, refusing to render a notification whose subject is "no recipient" (as a
/// mail without one is refused).
struct Picky(Arc<dyn Channel>);

impl Picky {
    fn over(t: &FakeTransport) -> Arc<dyn Channel> {
        Arc::new(Picky(t.boxed()))
    }
}

impl Channel for Picky {
    fn name(&self) -> &str {
        self.0.name()
    }

    fn render(&self, n: &Notification) -> Result<Rendered, RenderError> {
        if n.subject.as_deref() == Some("no recipient") {
            return Err(RenderError("no recipient".into()));
        }
        self.0.render(n)
    }

    fn deliver(&self, r: &Rendered) -> Result<(), DeliveryError> {
        self.0.deliver(r)
    }

    fn describe(&self) -> String {
        self.0.describe()
    }
}

#[test]
fn issue_15_a_storm_held_back_keeps_the_journal_small_and_survives_a_kill() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::new();
    let t = FakeTransport::default();
    let mut cfg = config(Some(dir.path()));
    cfg.flood = flood(1, Duration::from_secs(600));
    let mut first = Outbox::manual(t.boxed(), cfg.clone(), &clock).unwrap();
    for n in 1..=5_001 {
        first.submit(mail(&format!("k{n}"), Some("web:k")));
    }
    first.run_pending();
    assert_eq!(t.delivered(), ["k1"]);
    let journal: u64 = std::fs::read_dir(dir.path().join("held"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    assert!(
        journal < 4096,
        "20 lines and one count, not 5000 lines: {journal}"
    );
    first.crash();

    let mut second = Outbox::manual(t.boxed(), cfg, &clock).unwrap();
    second.run_pending();
    assert_eq!(
        t.delivered()[1],
        "web:k: 5000 more notifications suppressed (flood control: max 1 per 10 minutes)"
    );
    let digest = t.text(1);
    assert!(digest.contains("  k2\n    body of k2\n"), "{digest}");
    assert!(digest.contains("  k21\n"), "{digest}");
    assert!(!digest.contains("  k22\n"), "{digest}");
    assert!(
        digest.contains("web:k: 4980 more between "),
        "the rest counted: {digest}"
    );
    assert_eq!(
        std::fs::read_dir(dir.path().join("held")).unwrap().count(),
        0
    );
}

#[test]
fn issue_15_behind_while_a_notification_waits_in_memory() {
    let clock = TestClock::new();
    let t = FakeTransport::with(|f| f.transient = 1);
    let mut outbox = Outbox::manual(t.boxed(), config(None), &clock).unwrap();
    assert!(!outbox.behind_in_memory());
    outbox.submit(mail("batch 1", None));
    assert!(outbox.behind_in_memory(), "queued");
    outbox.run_pending();
    assert!(outbox.behind_in_memory(), "in hand, being retried");
    clock.advance(Duration::from_secs(2));
    outbox.run_pending();
    assert_eq!(t.delivered(), ["batch 1"]);
    assert!(!outbox.behind_in_memory());
}

#[test]
fn delivery_figures_follow_what_happens() {
    // issue 14 (--metrics-textfile): each outcome is counted where it happens, and what
    // waits includes the notification the worker holds while it waits to retry it.
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::new();
    let t = FakeTransport::with(|f| f.transient = 2);
    let mut cfg = config(None);
    cfg.queue_capacity = 3;
    cfg.flood = flood(1, Duration::from_secs(600));
    let mut outbox = Outbox::manual(t.boxed(), cfg, &clock).unwrap();
    let figures = Arc::clone(outbox.figures());
    // [delivered, failed, spooled, merged, held]
    let outcomes = || figures.snapshot().outcomes;
    outbox.submit(mail("k1", Some("k")));
    outbox.submit(mail("k2", Some("k")));
    assert_eq!(outcomes(), [0, 0, 0, 0, 1]);
    assert_eq!(figures.snapshot().waiting, 1);
    // The first attempt fails: k1 waits in the worker's hands, not in the queue.
    let until = outbox.run_pending().unwrap();
    assert_eq!(
        (figures.snapshot().waiting, figures.snapshot().retries),
        (1, 1)
    );
    for n in 1..=5 {
        outbox.submit(mail(&format!("m{n}"), None));
    }
    // backlog(m1, m2, m3), m4, m5 queued behind k1.
    assert_eq!(outcomes(), [0, 0, 0, 3, 1]);
    assert_eq!(figures.snapshot().waiting, 4);
    clock.set(until);
    while let Some(until) = outbox.run_pending() {
        if until > clock.now() + Duration::from_secs(60) {
            break; // the flood window's end
        }
        clock.set(until);
    }
    let s = figures.snapshot();
    assert_eq!((s.outcomes[0], s.retries, s.waiting), (4, 2, 0));
    assert_eq!(s.last_success, Some(1_700_000_003));
    outbox.stop();
    // The flood digest went out at shutdown.
    assert_eq!(outcomes()[0], 5);

    // Left in the spool at shutdown, or refused for good.
    let t = FakeTransport::with(|f| {
        f.always = Some(down());
    });
    let mut outbox = Outbox::manual(Picky::over(&t), config(Some(dir.path())), &clock).unwrap();
    outbox.submit(mail("no recipient", None));
    outbox.submit(mail("a", None));
    outbox.stop();
    let s = outbox.figures().snapshot();
    assert_eq!(s.outcomes, [0, 1, 1, 0, 0]);
    assert_eq!(s.waiting, 0);
}
