//! The fan-out: a listener submits each [`Notification`] once, to its [`Notifier`], which hands
//! it to one [`Outbox`] per channel. Each outbox has its own queue, worker thread, retry and
//! spool, so a dead channel (a webhook that times out, an SMTP server that is down) never
//! holds back another: its notifications wait in its own queue while the others' go out.
//!
//! # Spools
//! With `--spool DIR`, each channel spools into [`Channel::spool_dir`]: mail into `DIR`
//! itself (where mail was always spooled, so that what an earlier version left is sent at the
//! next start), every other channel into `DIR/<name>/`. Each directory is locked by its own
//! outbox. The batch mailers' noted lines (`DIR/batch.lines`) belong to the first channel,
//! mail: a batch's lines are forgotten once the first channel holds the batch.
//!
//! # Flood control counts a program once, whatever the channels
//! Each outbox keeps its own flood control, with the same limit, and the notifier makes their
//! decisions identical: it reads the clock once per notification and hands every outbox the
//! same notification at the same `now`. A window's decision (send, or hold back and count) is
//! a function of the key's earlier notifications and their times only: a window opens with
//! the key's first notification after the last one ended and ends `--per` later, whoever
//! closes it (a later notification, or the worker at its end: the same result). So every
//! channel sends the same `--max-mails` notifications of a program per window, holds back the
//! same ones, and its digest reports the same count: a crash is counted once per channel
//! that tells it, never once per channel in one count. Each channel does get its own digest,
//! as it gets its own notifications: a webhook's receiver must hear about what was held back
//! as much as a mailbox does.
//!
//! Why not one flood control in front of the fan-out: its held-back notes and its digest
//! timer would need a spool and a thread of their own, outside every outbox, for nothing the
//! identical decisions do not already give. Each outbox already keeps its journal
//! (`held/`) in its own spool, so that a channel killed mid-window still sends its digest.
//!
//! # Shutdown
//! The outboxes stop together, not one after the other: each gets the grace time
//! (5 s) from the same moment, so that two channels still fit in supervisord's
//! `stopwaitsecs`.

use std::sync::Arc;

use crate::notify::channel::Channel;
use crate::notify::notification::Notification;
use crate::notify::outbox::{Backoff, Clock, Counted, Kept, Outbox, OutboxConfig, SystemClock};
use crate::notify::textfile::{Exporter, Textfile};
use crate::Error;

/// A listener's handle on its channels: one outbox each.
pub struct Notifier {
    /// In the order the channels were given; the first holds the batch lines.
    outboxes: Vec<Outbox>,
    clock: Arc<dyn Clock>,
    /// `--metrics-textfile`. After `outboxes`: dropped after them, so that its last write
    /// shows what they left.
    exporter: Option<Exporter>,
}

impl Notifier {
    /// Start one outbox per channel (at least one). `config.spool` is `--spool DIR`; each
    /// channel spools into its own [`Channel::spool_dir`] of it.
    pub fn start(channels: Vec<Arc<dyn Channel>>, config: OutboxConfig) -> Result<Notifier, Error> {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let outboxes = channels
            .into_iter()
            .map(|channel| {
                let config = for_channel(&config, channel.as_ref());
                Outbox::start_with(channel, config, Backoff::default(), Arc::clone(&clock))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if outboxes.is_empty() {
            return Err(Error::Setup("no channel to notify through".to_owned()));
        }
        Ok(Notifier {
            outboxes,
            clock,
            exporter: None,
        })
    }

    /// Keep the channels' delivery figures in `textfile` (`--metrics-textfile`) from now on.
    pub fn export(&mut self, textfile: Textfile) -> Result<(), Error> {
        let exporter = Exporter::start(textfile, &self.outboxes).map_err(|e| {
            Error::Setup(format!(
                "cannot start the --metrics-textfile writer thread: {e}"
            ))
        })?;
        self.exporter = Some(exporter);
        Ok(())
    }

    /// Hand `n` to every channel; never waits for delivery.
    pub fn submit(&self, n: Notification) {
        let (now, wall) = (self.clock.now(), self.clock.wall());
        // One copy, shared by every channel's queue.
        let n = Arc::new(n);
        for outbox in &self.outboxes {
            outbox.hand_over(Arc::clone(&n), now, wall);
        }
    }

    /// Batch mailers (src/batch.rs): the lines of a batch an earlier run collected and did
    /// not send (the first channel's spool keeps them).
    pub fn batch_left(&self) -> Vec<String> {
        self.outboxes
            .first()
            .map(Outbox::batch_left)
            .unwrap_or_default()
    }

    /// Batch mailers: `line` joins the batch being collected (noted in the first channel's
    /// spool, so that a kill between two batches loses no line).
    pub fn batch_line(&self, line: &str) {
        if let Some(first) = self.outboxes.first() {
            first.batch_line(line);
        }
    }

    /// Batch mailers: a program's lines beyond `--max-lines`, counted (noted in the first
    /// channel's spool, as the lines are).
    pub fn batch_count(&self, c: &Counted) {
        if let Some(first) = self.outboxes.first() {
            first.batch_count(c);
        }
    }

    /// Batch mailers: the counts of a batch an earlier run collected and did not send.
    pub fn batch_counts_left(&self) -> Vec<Counted> {
        self.outboxes
            .first()
            .map(Outbox::batch_counts_left)
            .unwrap_or_default()
    }

    /// Every channel's earlier notification still waits in memory (their servers are down
    /// or slow): a batch mailer holds its next batch meanwhile. One channel behind alone does
    /// not hold the others back (issue 12: a dead webhook never delays mail): the batch goes
    /// to all, and the slow one's queue keeps it within its bound (1000 or 8 MiB, the oldest
    /// merged into a digest).
    pub fn behind_in_memory(&self) -> bool {
        self.outboxes.iter().all(Outbox::behind_in_memory)
    }

    /// Batch mailers: the collected batch, to every channel. Its noted lines are forgotten
    /// once the first channel holds it in its spool (or could not make it at all).
    pub fn submit_batch(&self, n: Notification) {
        self.submit_batch_keeping(n, &[]);
    }

    /// Batch mailers with `--tail`: [`Notifier::submit_batch`] for a batch that waited for its
    /// crash context while later lines, `keep`, were noted: those stay noted.
    pub fn submit_batch_keeping(&self, n: Notification, keep: &[String]) {
        let (now, wall) = (self.clock.now(), self.clock.wall());
        let Some((first, rest)) = self.outboxes.split_first() else {
            return;
        };
        let n = Arc::new(n);
        for outbox in rest {
            outbox.hand_over(Arc::clone(&n), now, wall);
        }
        if first.hand_over(n, now, wall) != Kept::InMemory {
            match keep {
                [] => first.clear_batch(),
                keep => first.keep_batch(keep),
            }
        }
    }

    /// Deliver what is queued within the grace time, spool the rest, stop every worker: all
    /// at once, each on a thread of its own.
    pub fn shutdown(&mut self) {
        self.stop_outboxes();
        // What the outboxes left (spooled, lost) is in the figures now.
        if let Some(exporter) = self.exporter.as_mut() {
            exporter.finish();
        }
    }

    fn stop_outboxes(&mut self) {
        if let [only] = self.outboxes.as_mut_slice() {
            only.shutdown();
            return;
        }
        std::thread::scope(|scope| {
            for outbox in &mut self.outboxes {
                let spawned = std::thread::Builder::new()
                    .name("shutdown".to_owned())
                    .spawn_scoped(scope, || outbox.shutdown());
                if let Err(e) = spawned {
                    // Cannot happen in practice; the outbox is then stopped at its drop.
                    log::warn!(
                        "shutdown: cannot start a thread ({e}); one channel waits for the others"
                    );
                }
            }
        });
        // An outbox whose thread could not start: stopped now, after the others.
        for outbox in &mut self.outboxes {
            outbox.shutdown();
        }
    }
}

/// `config` for `channel`: its own spool directory.
fn for_channel(config: &OutboxConfig, channel: &dyn Channel) -> OutboxConfig {
    OutboxConfig {
        spool: config.spool.as_deref().map(|dir| channel.spool_dir(dir)),
        ..config.clone()
    }
}

#[cfg(test)]
impl Notifier {
    /// Outboxes without threads, for tests: run them with [`Notifier::run_pending`].
    fn manual(
        channels: Vec<Arc<dyn Channel>>,
        config: OutboxConfig,
        clock: &Arc<crate::notify::outbox::tests::TestClock>,
    ) -> Notifier {
        let outboxes = channels
            .into_iter()
            .map(|channel| {
                let config = for_channel(&config, channel.as_ref());
                Outbox::manual(channel, config, clock).unwrap()
            })
            .collect();
        Notifier {
            outboxes,
            clock: Arc::clone(clock) as Arc<dyn Clock>,
            exporter: None,
        }
    }

    /// Run each outbox's worker until it would wait; the earliest time one wants to wake.
    fn run_pending(&mut self) -> Option<std::time::Instant> {
        self.outboxes
            .iter_mut()
            .filter_map(Outbox::run_pending)
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::channel::{DeliveryError, RenderError, Rendered};
    use crate::notify::outbox::tests::TestClock;
    use crate::notify::outbox::FloodLimit;
    use std::sync::Mutex;
    use std::time::Duration;

    /// A channel that records what it delivers, or fails every attempt.
    struct Recorder {
        name: &'static str,
        down: bool,
        delivered: Mutex<Vec<String>>,
        attempts: Mutex<u32>,
        renders: Mutex<u32>,
    }

    impl Recorder {
        fn new(name: &'static str, down: bool) -> Arc<Recorder> {
            Arc::new(Recorder {
                name,
                down,
                delivered: Mutex::new(Vec::new()),
                attempts: Mutex::new(0),
                renders: Mutex::new(0),
            })
        }

        fn delivered(&self) -> Vec<String> {
            self.delivered.lock().unwrap().clone()
        }
    }

    impl Channel for Recorder {
        fn name(&self) -> &str {
            self.name
        }

        fn render(&self, n: &Notification) -> Result<Rendered, RenderError> {
            *self.renders.lock().unwrap() += 1;
            Ok(Rendered {
                from: String::new(),
                to: Vec::new(),
                headers: vec![("Title".into(), n.summary())],
                message: n.text.clone().into_bytes(),
                summary: n.summary(),
            })
        }

        fn deliver(&self, r: &Rendered) -> Result<(), DeliveryError> {
            *self.attempts.lock().unwrap() += 1;
            if self.down {
                return Err(DeliveryError::Transient("connection refused".into()));
            }
            self.delivered.lock().unwrap().push(r.summary.clone());
            Ok(())
        }

        fn describe(&self) -> String {
            format!("test channel {}", self.name)
        }
    }

    fn config(spool: Option<&std::path::Path>, flood: Option<FloodLimit>) -> OutboxConfig {
        OutboxConfig {
            spool: spool.map(ToOwned::to_owned),
            flood,
            queue_capacity: 100,
            shutdown_grace: Duration::from_secs(5),
        }
    }

    fn crash(n: u32) -> Notification {
        Notification::for_test(
            Some(&format!("web_01 crashed #{n}")),
            &format!("Process web_01 exited #{n}"),
            Some("web:web_01"),
        )
    }

    fn files(dir: &std::path::Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".mail"))
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_dead_channel_does_not_hold_back_a_live_one() {
        let clock = TestClock::new();
        let dead = Recorder::new("dead", true);
        let live = Recorder::new("live", false);
        let channels: Vec<Arc<dyn Channel>> = vec![dead.clone(), live.clone()];
        let mut notifier = Notifier::manual(channels, config(None, None), &clock);
        for n in 1..=3 {
            notifier.submit(crash(n));
            // The live channel has it at once, while the dead one waits to retry.
            let due = notifier.run_pending();
            assert_eq!(live.delivered().len(), n as usize);
            assert!(due.is_some(), "the dead channel waits for its next attempt");
        }
        assert_eq!(
            live.delivered(),
            [
                "web_01 crashed #1",
                "web_01 crashed #2",
                "web_01 crashed #3"
            ]
        );
        assert!(dead.delivered().is_empty());
        assert!(*dead.attempts.lock().unwrap() >= 1);
    }

    #[test]
    fn without_a_spool_the_protocol_loop_only_queues_and_each_worker_renders() {
        let clock = TestClock::new();
        let (a, b) = (Recorder::new("a", false), Recorder::new("b", false));
        let channels: Vec<Arc<dyn Channel>> = vec![a.clone(), b.clone()];
        let mut notifier = Notifier::manual(channels, config(None, None), &clock);
        notifier.submit(crash(1));
        notifier.submit(crash(2));
        assert_eq!(*a.renders.lock().unwrap() + *b.renders.lock().unwrap(), 0);
        notifier.run_pending();
        for r in [&a, &b] {
            assert_eq!(*r.renders.lock().unwrap(), 2);
            assert_eq!(r.delivered(), ["web_01 crashed #1", "web_01 crashed #2"]);
        }
        // With a spool, each channel renders at once: the file is written before the event
        // is acknowledged.
        let dir = tempfile::tempdir().unwrap();
        let c = Recorder::new("c", true);
        let channels: Vec<Arc<dyn Channel>> = vec![c.clone()];
        let spooled = Notifier::manual(channels, config(Some(dir.path()), None), &clock);
        spooled.submit(crash(3));
        assert_eq!(*c.renders.lock().unwrap(), 1);
    }

    #[test]
    fn a_batch_is_held_only_while_every_channel_is_behind() {
        let clock = TestClock::new();
        let (dead, live) = (Recorder::new("dead", true), Recorder::new("live", false));
        let channels: Vec<Arc<dyn Channel>> = vec![dead.clone(), live.clone()];
        let mut notifier = Notifier::manual(channels, config(None, None), &clock);
        notifier.submit_batch(Notification::for_test(Some("batch 1"), "line 1", None));
        notifier.run_pending();
        assert_eq!(live.delivered(), ["batch 1"]);
        assert!(
            !notifier.behind_in_memory(),
            "a dead webhook must not hold back the mail's next batch"
        );
        let (a, b) = (Recorder::new("a", true), Recorder::new("b", true));
        let channels: Vec<Arc<dyn Channel>> = vec![a, b];
        let mut notifier = Notifier::manual(channels, config(None, None), &clock);
        notifier.submit_batch(Notification::for_test(Some("batch 1"), "line 1", None));
        notifier.run_pending();
        assert!(notifier.behind_in_memory(), "every channel is behind");
    }

    #[test]
    fn the_same_on_real_threads_and_time() {
        let dead = Recorder::new("dead", true);
        let live = Recorder::new("live", false);
        let channels: Vec<Arc<dyn Channel>> = vec![dead.clone(), live.clone()];
        let mut cfg = config(None, None);
        cfg.shutdown_grace = Duration::from_millis(200);
        let mut notifier = Notifier::start(channels, cfg).unwrap();
        let started = std::time::Instant::now();
        for n in 1..=5 {
            notifier.submit(crash(n));
        }
        while live.delivered().len() < 5 && started.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(2));
        }
        assert_eq!(live.delivered().len(), 5, "{:?}", live.delivered());
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "the live channel was held back: {:?}",
            started.elapsed()
        );
        notifier.shutdown();
        // Both stopped together, within about one grace time, not two.
        assert!(started.elapsed() < Duration::from_secs(3));
        assert!(dead.delivered().is_empty());
    }

    #[test]
    fn each_channel_spools_in_its_own_directory() {
        let dir = tempfile::tempdir().unwrap();
        let clock = TestClock::new();
        // Both down: everything stays in the spools.
        let mail_like = Recorder::new("first", true);
        let hook = Recorder::new("hook", true);
        let channels: Vec<Arc<dyn Channel>> = vec![mail_like.clone(), hook.clone()];
        let notifier = Notifier::manual(channels, config(Some(dir.path()), None), &clock);
        notifier.submit(crash(1));
        notifier.submit(crash(2));
        assert_eq!(files(&dir.path().join("first")).len(), 2);
        assert_eq!(files(&dir.path().join("hook")).len(), 2);
        assert!(files(dir.path()).is_empty());
        assert!(dir.path().join("hook").join(".lock").exists());
        let text = std::fs::read_to_string(
            dir.path()
                .join("hook")
                .join(&files(&dir.path().join("hook"))[0]),
        )
        .unwrap();
        assert!(
            text.starts_with(
                "superlance-spool 1\nfrom \nheader Title: web_01 crashed #1\nsummary web_01 crashed #1\n\nProcess web_01 exited #1"
            ),
            "{text:?}"
        );
        // Batch lines belong to the first channel.
        notifier.batch_line("line 1");
        assert!(dir.path().join("first").join("batch.lines").exists());
        assert_eq!(notifier.batch_left(), ["line 1"]);
        // issue 15: and so do the counts of lines beyond --max-lines.
        let t0 = std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let counted = |count| Counted {
            program: "web:web_01".into(),
            count,
            first: t0,
            last: t0 + Duration::from_secs(count),
        };
        notifier.batch_count(&counted(1));
        notifier.batch_count(&counted(2));
        assert!(dir.path().join("first").join("batch.counts").exists());
        assert_eq!(notifier.batch_counts_left(), [counted(2)]);
        notifier.submit_batch(Notification::for_test(Some("batch"), "line 1", None));
        assert!(notifier.batch_left().is_empty());
        assert!(notifier.batch_counts_left().is_empty());
        assert!(!dir.path().join("first").join("batch.counts").exists());
        assert_eq!(files(&dir.path().join("hook")).len(), 3);
        for o in notifier.outboxes {
            o.crash();
        }
        // A restart sends what each left, each to its own channel.
        let first = Recorder::new("first", false);
        let hook = Recorder::new("hook", false);
        let channels: Vec<Arc<dyn Channel>> = vec![first.clone(), hook.clone()];
        let mut notifier = Notifier::manual(channels, config(Some(dir.path()), None), &clock);
        notifier.run_pending();
        let expected = ["web_01 crashed #1", "web_01 crashed #2", "batch"];
        assert_eq!(first.delivered(), expected);
        assert_eq!(hook.delivered(), expected);
    }

    #[test]
    fn a_batch_handed_over_late_keeps_the_next_batch_s_lines_noted() {
        let dir = tempfile::tempdir().unwrap();
        let clock = TestClock::new();
        let channels: Vec<Arc<dyn Channel>> = vec![Recorder::new("first", true)];
        let notifier = Notifier::manual(channels, config(Some(dir.path()), None), &clock);
        // --tail: a batch handed over after the next one's lines were noted keeps those.
        for l in ["line 2", "line 3", "line 4"] {
            notifier.batch_line(l);
        }
        let keep = ["line 4".to_owned()];
        notifier.submit_batch_keeping(Notification::for_test(Some("batch"), "line 2", None), &keep);
        assert_eq!(notifier.batch_left(), ["line 4"]);
        notifier.submit_batch_keeping(Notification::for_test(Some("batch"), "line 4", None), &[]);
        assert!(notifier.batch_left().is_empty());
    }

    #[test]
    fn each_channel_gets_its_own_spool_directory() {
        let dir = std::path::Path::new("/var/spool/superlance");
        let hook = Recorder::new("webhook", false);
        let cfg = config(Some(dir), None);
        assert_eq!(
            for_channel(&cfg, hook.as_ref()).spool,
            Some(dir.join("webhook"))
        );
        assert_eq!(for_channel(&config(None, None), hook.as_ref()).spool, None);
    }

    #[test]
    fn flood_control_counts_a_program_once_whatever_the_channels() {
        let clock = TestClock::new();
        let a = Recorder::new("a", false);
        let b = Recorder::new("b", false);
        let channels: Vec<Arc<dyn Channel>> = vec![a.clone(), b.clone()];
        let limit = FloodLimit {
            max: 2,
            per: Duration::from_secs(600),
        };
        let mut notifier = Notifier::manual(channels, config(None, Some(limit)), &clock);
        let start = clock.now();
        for n in 1..=5 {
            notifier.submit(crash(n));
            clock.advance(Duration::from_secs(1));
        }
        assert_eq!(
            notifier.run_pending(),
            Some(start + Duration::from_secs(600))
        );
        clock.set(start + Duration::from_secs(600));
        notifier.run_pending();
        let expected = [
            "web_01 crashed #1",
            "web_01 crashed #2",
            "web:web_01: 3 more notifications suppressed (flood control: max 2 per 10 minutes)",
        ];
        assert_eq!(a.delivered(), expected);
        assert_eq!(b.delivered(), expected);
    }
}
