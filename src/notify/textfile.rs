//! `--metrics-textfile PATH`: a notifying listener's delivery figures (one outbox's
//! [`Figures`] per channel) as a node_exporter textfile, the fleet way: node_exporter's
//! textfile collector serves them with the host's other metrics, and no server of ours is
//! needed (docs/notify.md, "Delivery figures"; issue 14).
//!
//! Theory of operation. A writer thread of its own writes the file at start, then whenever a
//! figure changed, at most once per [`MIN_INTERVAL`]; the shutdown path writes it a last time
//! after the outboxes have stopped (what was spooled or lost then). A change only sets a flag
//! and, when the flag was clear, unparks the writer: the outboxes' code (on the protocol
//! loop, for a queued notification) never waits for the disk. The file is replaced
//! atomically (`exposition::write_textfile`).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{JoinHandle, Thread};
use std::time::{Duration, Instant};

use crate::exposition::{Format, Kind, Out};
use crate::notify::outbox::{Figures, Outbox, Outcome};

/// The file is written at most this often.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);
/// The writer's stack: it formats a few lines and writes a file.
const STACK: usize = 128 * 1024;

/// Where the figures go, and what names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Textfile {
    pub path: PathBuf,
    /// The `listener` label: crashmail, memmon, ...
    pub listener: String,
    /// The `process` label: the name supervisord gives the listener's process
    /// (`SUPERVISOR_PROCESS_NAME`), else the listener's. Two listeners of one kind on a host
    /// (two crashmail pools) are told apart by it, as node_exporter requires.
    pub process: String,
}

/// What a change needs to reach the writer.
struct Wake {
    dirty: AtomicBool,
    stop: AtomicBool,
    writer: Thread,
}

impl Wake {
    fn changed(&self) {
        if !self.dirty.swap(true, Ordering::AcqRel) {
            self.writer.unpark();
        }
    }
}

/// The running writer of one listener's textfile.
pub struct Exporter {
    file: Arc<File>,
    wake: Arc<Wake>,
    thread: Option<JoinHandle<()>>,
}

/// The file and the figures it shows.
struct File {
    textfile: Textfile,
    /// (channel name, its figures), in the order the channels were given.
    channels: Vec<(String, Arc<Figures>)>,
    /// A write failed: said once, until one succeeds again.
    failing: AtomicBool,
}

impl Exporter {
    /// Write the file once now, then keep it up to date on a thread of its own.
    pub fn start(textfile: Textfile, outboxes: &[Outbox]) -> std::io::Result<Exporter> {
        let file = Arc::new(File {
            textfile,
            channels: outboxes
                .iter()
                .map(|o| (o.channel_name().to_owned(), Arc::clone(o.figures())))
                .collect(),
            failing: AtomicBool::new(false),
        });
        file.write();
        let (tx, rx) = std::sync::mpsc::sync_channel::<Arc<Wake>>(1);
        let for_thread = Arc::clone(&file);
        let thread = std::thread::Builder::new()
            .name("metrics textfile".into())
            .stack_size(STACK)
            .spawn(move || {
                if let Ok(wake) = rx.recv() {
                    writer(&for_thread, &wake);
                }
            })?;
        let wake = Arc::new(Wake {
            dirty: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            writer: thread.thread().clone(),
        });
        let _ = tx.send(Arc::clone(&wake));
        for (_, figures) in &file.channels {
            let w = Arc::clone(&wake);
            figures.watch(Box::new(move || w.changed()));
        }
        log::info!(
            "writing the delivery figures to {} (at most once per second, when they change)",
            file.textfile.path.display()
        );
        Ok(Exporter {
            file,
            wake,
            thread: Some(thread),
        })
    }

    /// Stop the writer and write the file a last time (after the outboxes have stopped).
    pub fn finish(&mut self) {
        let Some(thread) = self.thread.take() else {
            return;
        };
        self.wake.stop.store(true, Ordering::Release);
        thread.thread().unpark();
        let _ = thread.join();
        self.file.write();
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Write when a figure changed, at most once per [`MIN_INTERVAL`], until told to stop.
fn writer(file: &File, wake: &Wake) {
    let stop = || wake.stop.load(Ordering::Acquire);
    loop {
        while !wake.dirty.load(Ordering::Acquire) && !stop() {
            std::thread::park();
        }
        if stop() {
            return;
        }
        wake.dirty.store(false, Ordering::Release);
        file.write();
        let next = Instant::now() + MIN_INTERVAL;
        loop {
            let left = next.saturating_duration_since(Instant::now());
            if left.is_zero() || stop() {
                break;
            }
            std::thread::park_timeout(left);
        }
    }
}

impl File {
    fn write(&self) {
        let path = &self.textfile.path;
        match crate::exposition::write_textfile(path, &self.render()) {
            Ok(()) => {
                if self.failing.swap(false, Ordering::Relaxed) {
                    log::info!("{} is written again", path.display());
                }
            }
            Err(e) => {
                if !self.failing.swap(true, Ordering::Relaxed) {
                    log::error!(
                        "cannot write --metrics-textfile {}: {e}; the delivery figures are not \
                         exported until it can be written (is the directory there, and ours to write?)",
                        path.display()
                    );
                }
            }
        }
    }

    fn render(&self) -> String {
        render(&self.textfile, &self.channels)
    }
}

/// The exposition of `channels`' figures (text format 0.0.4, as node_exporter reads it).
fn render(t: &Textfile, channels: &[(String, Arc<Figures>)]) -> String {
    let mut text = String::with_capacity(1024 + channels.len() * 1024);
    let mut o = Out {
        text: &mut text,
        format: Format::Text,
    };
    let figures: Vec<_> = channels.iter().map(|(c, f)| (c, f.snapshot())).collect();
    const NOTIFICATIONS: &str = "superlance_notifications_total";
    o.family(
        NOTIFICATIONS,
        Kind::Counter,
        "Notifications of this listener by channel and what became of them: delivered, failed (given up), spooled (left for the next start), merged (into a backlog digest, the queue being full), held (by flood control, for a digest).",
    );
    for (channel, s) in &figures {
        let [l, p, c] = base(t, channel);
        for (i, outcome) in Outcome::ALL.iter().enumerate() {
            o.sample(
                NOTIFICATIONS,
                &[l, p, c, ("outcome", outcome.name())],
                s.outcomes[i],
            );
        }
    }
    const RETRIES: &str = "superlance_notification_retries_total";
    o.family(
        RETRIES,
        Kind::Counter,
        "Delivery attempts that failed and will be tried again (connection refused, timeout, HTTP 5xx, ...).",
    );
    for (channel, s) in &figures {
        o.sample(RETRIES, &base(t, channel), s.retries);
    }
    const QUEUE: &str = "superlance_notification_queue_length";
    o.family(
        QUEUE,
        Kind::Gauge,
        "Notifications waiting to be delivered, the one being tried included (a digest counts as one).",
    );
    for (channel, s) in &figures {
        o.sample(QUEUE, &base(t, channel), s.waiting);
    }
    const LAST: &str = "superlance_notification_last_success_timestamp_seconds";
    o.family(
        LAST,
        Kind::Gauge,
        "When the channel last delivered a notification, in seconds since the epoch (no sample before the first).",
    );
    for (channel, s) in &figures {
        if let Some(at) = s.last_success {
            o.sample(LAST, &base(t, channel), at);
        }
    }
    o.finish();
    text
}

fn base<'a>(t: &'a Textfile, channel: &'a str) -> [(&'static str, &'a str); 3] {
    [
        ("listener", &t.listener),
        ("process", &t.process),
        ("channel", channel),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;

    #[test]
    fn figures_render_per_channel_and_outcome() {
        let mail = Arc::new(Figures::default());
        let hook = Arc::new(Figures::default());
        mail.delivered(SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000));
        hook.retry();
        hook.in_hand(true);
        let t = Textfile {
            path: PathBuf::from("x.prom"),
            listener: "crashmail".into(),
            process: "mail\"er".into(),
        };
        let text = render(&t, &[("mail".into(), mail), ("webhook".into(), hook)]);
        let l = |c: &str| format!("listener=\"crashmail\",process=\"mail\\\"er\",channel=\"{c}\"");
        for line in [
            format!(
                "superlance_notifications_total{{{},outcome=\"delivered\"}} 1\n",
                l("mail")
            ),
            format!(
                "superlance_notifications_total{{{},outcome=\"held\"}} 0\n",
                l("webhook")
            ),
            format!(
                "superlance_notification_retries_total{{{}}} 1\n",
                l("webhook")
            ),
            format!(
                "superlance_notification_queue_length{{{}}} 1\n",
                l("webhook")
            ),
            format!("superlance_notification_queue_length{{{}}} 0\n", l("mail")),
            format!(
                "superlance_notification_last_success_timestamp_seconds{{{}}} 1800000000\n",
                l("mail")
            ),
            "# TYPE superlance_notifications_total counter\n".to_owned(),
        ] {
            assert!(text.contains(&line), "{line:?} not in:\n{text}");
        }
        assert!(!text.contains(&format!("timestamp_seconds{{{}}}", l("webhook"))));
    }
}
