//! The batch mailers' shared part: crashmailbatch, fatalmailbatch and crashsms are each a
//! [`Kind`] (a name, a default subject, the line a state change makes) over this module.
//!
//! # Theory of operation
//! A [`Batch`] collects one line per reported state change and sends them as one mail per
//! `--interval` minutes, through the shared delivery layer (`src/notify/`: the mail channel),
//! which delivers, retries and spools.
//!
//! When a batch is due is decided by [`BatchClock`], from the `when:` stamps of supervisord's
//! TICK events, whichever TICK_* arrives. superlance counted only the ticks named by `-e`
//! (default TICK_60), so a pool subscribed to TICK_5 never mailed anything, silently
//! (superlance.md B14, supervisor #1148). Time taken from the ticks' stamps does not depend on
//! which ticks come, nor on how late supervisord delivers them.
//!
//! A pool subscribed to no TICK at all would never flush. The listener asks the runtime to
//! wake it ([`crate::runtime::Listener::next_wakeup`]); once two intervals pass without a
//! TICK, it warns once and sends the batch by its own clock every interval until a TICK comes
//! again ([`Watchdog`]). Nothing waits forever.
//!
//! Nothing accepted is lost: a failed delivery is retried by the mail layer (superlance
//! dropped the batch: B15); with `--spool DIR` each line is noted in the spool as it is
//! accepted, so a crash or kill loses none, and the lines left by an earlier run open the
//! first batch; at SIGTERM the batch in hand is mailed (delivered or spooled) before exit.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Command};

use crate::event::{Event, StateChange};
use crate::notify::channel::mail::options::{self, Legacy};
use crate::notify::channel::mail::MailChannel;
use crate::notify::{self, Kind as NotificationKind, Notification, Notifier};
use crate::protocol::Ack;
use crate::runtime::{self, Listener};
use crate::select::{self, Selection};
use crate::Error;

/// What makes one batch mailer different from the others.
pub struct Kind {
    pub name: &'static str,
    pub about: &'static str,
    /// superlance's default subject; `None` writes no Subject header (crashsms: SMS gateways
    /// put the subject in the text).
    pub default_subject: Option<&'static str>,
    /// What it reports, for log lines and help: "unexpected exits".
    pub what: &'static str,
    /// The events its pool needs besides TICK_*, for the help's example.
    pub events: &'static str,
    /// The line for this state change at this time (supervisor's asctime), or `None` if this
    /// kind does not report it.
    pub line: fn(&StateChange, &str) -> Option<String>,
}

const INTERVAL: &str = "interval";
const TO: &str = "toEmail";
const FROM: &str = "fromEmail";
const SUBJECT: &str = "subject";
const SMTP_HOST: &str = "smtpHost";
const TICK_EVENT: &str = "tickEvent";
const USER: &str = "userName";
const PASSWORD: &str = "password";
const TLS: &str = "tls";
const SENDMAIL: &str = "sendmail_program";

/// The long options superlance's batch tools knew (the shared optparse parser,
/// process_state_email_monitor.py `_get_opt_parser`, with optparse's own `--help`): a unique
/// prefix of one of these still means it (src/legacy_argv.rs). Frozen: never add ours.
pub const SUPERLANCE_LONGS: &[&str] = &[
    "interval",
    "toEmail",
    "fromEmail",
    "subject",
    "smtpHost",
    "tickEvent",
    "userName",
    "password",
    "tls",
    "help",
];

/// The TICK events supervisord sends.
const TICKS: [&str; 3] = ["TICK_5", "TICK_60", "TICK_3600"];

/// The command line: superlance's options (same letters, spellings and defaults; its shared
/// optparse parser, process_state_email_monitor.py), then ours in long form only (superlance's
/// `-p` is the password here: B17).
pub fn command(kind: &Kind) -> Command {
    let subject_help = match kind.default_subject {
        Some(s) => format!("The mail's subject [default: {s}]"),
        None => {
            "The mail's subject [default: none: no Subject header, for SMS gateways]".to_owned()
        }
    };
    Command::new(kind.name)
        .about(kind.about)
        .after_help(format!(
            "Subscribe the pool to {events} and a TICK event:\n\n  \
             [eventlistener:{name}]\n  command={name} -t ops@example.com -f supervisor@example.com -i 5\n  \
             events={events},TICK_60\n\n\
             -t and -f (or --from) are required.",
            events = kind.events,
            name = kind.name,
        ))
        .arg(
            Arg::new(INTERVAL)
                .short('i')
                .long("interval")
                .value_name("MINUTES")
                .value_parser(options::parse_minutes)
                .default_value("1")
                .help("Mail what was collected every MINUTES minutes (fractions allowed), timed by the TICK events"),
        )
        .arg(
            Arg::new(TO)
                .short('t')
                .long("toEmail")
                .value_name("ADDRESSES")
                .help("Mail these addresses (comma-separated) [required]"),
        )
        .arg(
            Arg::new(FROM)
                .short('f')
                .long("fromEmail")
                .value_name("ADDRESS")
                .value_parser(options::parse_from)
                .help("The sender address [required, unless --from is given]"),
        )
        .arg(
            Arg::new(SUBJECT)
                .short('s')
                .long("subject")
                .value_name("TEXT")
                .help(subject_help),
        )
        .arg(
            Arg::new(SMTP_HOST)
                .short('H')
                .long("smtpHost")
                .value_name("HOST[:PORT]")
                .default_value("localhost")
                .help("The SMTP server (--smtp-host is the same, and wins)"),
        )
        .arg(
            Arg::new(TICK_EVENT)
                .short('e')
                .long("tickEvent")
                .value_name("TICK_N")
                .value_parser(TICKS)
                .default_value("TICK_60")
                .help(
                    "The TICK event the pool is subscribed to. Accepted for compatibility: \
                     the batch is timed by whichever TICK_* arrives",
                ),
        )
        .arg(
            Arg::new(USER)
                .short('u')
                .long("userName")
                .value_name("USER")
                .help("Log in to the SMTP server as USER (--smtp-user is the same)"),
        )
        .arg(
            Arg::new(PASSWORD)
                .short('p')
                .long("password")
                .value_name("PASSWORD")
                .help(format!(
                    "The SMTP password (visible in ps: prefer --smtp-password-file or the {} \
                     environment variable)",
                    options::PASSWORD_ENV
                )),
        )
        .arg(
            Arg::new(TLS)
                .long("tls")
                .action(ArgAction::SetTrue)
                .help("Require STARTTLS (with or without a login)"),
        )
        .arg(
            Arg::new(SENDMAIL)
                .long("sendmail_program")
                .value_name("COMMAND")
                .help(format!(
                    "Send through this sendmail command instead of SMTP (e.g. '{}')",
                    options::DEFAULT_SENDMAIL
                )),
        )
        .arg(select::program_arg(
            None,
            "Report only this program: NAME, GROUP:NAME or GROUP:* (repeatable) [default: every program]",
        ))
        .arg(select::any_arg(None, "Report every program (the default)"))
        // Flood control counts mails per program; a batch is one mail for all of them.
        .args(
            options::args()
                .into_iter()
                .filter(|a| ![options::MAX_MAILS, options::PER].contains(&a.get_id().as_str())),
        )
        .args(notify::options::args())
}

/// Check the options, start the mail layer, serve events.
pub fn run(kind: &'static Kind, m: &ArgMatches) -> Result<(), Error> {
    let missing = |what: &str| {
        // superlance printed its help when a required option was missing; so do we (on
        // stderr: stdout is the protocol's).
        Error::Usage(format!(
            "{what}\n\n{}",
            crate::entry::full_help(kind.name, command(kind))
        ))
    };
    let others = notify::options::channels(m, kind.name)?;
    // -t and -f are required for mail, as superlance had them; a batch that goes only to
    // other channels (--webhook, ...) needs neither.
    let to = m.get_one::<String>(TO);
    let from = m.get_one::<String>(FROM).cloned();
    if others.is_empty() || to.is_some() {
        if to.is_none() {
            return Err(missing("-t/--toEmail is required: the addresses to mail"));
        }
        if from.is_none() && !given(m, options::FROM) {
            return Err(missing("-f/--fromEmail is required: the sender address"));
        }
    }
    let recipients = to
        .map(|to| options::recipients(to, "-t/--toEmail"))
        .unwrap_or_default();

    let sendmail = m.get_one::<String>(SENDMAIL).cloned();
    let legacy = Legacy {
        // -H has a default (localhost): a sendmail command given alone must not lose to it.
        smtp_host: if sendmail.is_some() && !given(m, SMTP_HOST) {
            None
        } else {
            m.get_one::<String>(SMTP_HOST).cloned()
        },
        sendmail,
        user: m.get_one::<String>(USER).cloned(),
        password: m.get_one::<String>(PASSWORD).cloned(),
        // superlance applied --tls only with a user and a password (B15).
        starttls: m.get_flag(TLS),
    };
    let (transport, config) = options::from_matches(m, legacy)?;
    let interval = m
        .get_one::<Duration>(INTERVAL)
        .copied()
        .unwrap_or(Duration::from_secs(60));
    let tick_event = m
        .get_one::<String>(TICK_EVENT)
        .cloned()
        .unwrap_or_else(|| "TICK_60".to_owned());
    let selection = Selection::from_matches(m);
    let selection = if selection.is_empty() {
        Selection::any()
    } else {
        selection
    }
    .excluding_own(Selection::own_from_env());

    let has_others = !others.is_empty();
    let sink: Box<dyn Sink> = if recipients.is_empty() && others.is_empty() {
        log::warn!(
            "no valid -t/--toEmail address: {} will be logged, not mailed",
            kind.what
        );
        notify::options::export_figures(m, kind.name, None)?;
        Box::new(LogOnly)
    } else if recipients.is_empty() {
        log::info!(
            "collecting {} of {} every {}, not mailed",
            kind.what,
            selection.describe(),
            minutes(interval)
        );
        for c in &others {
            log::info!("notifying about {} via {}", kind.what, c.describe());
        }
        let mut notifier = Notifier::start(others, config.outbox)?;
        notify::options::export_figures(m, kind.name, Some(&mut notifier))?;
        Box::new(notifier)
    } else {
        log::info!(
            "collecting {} of {} and mailing them to {} every {}, via {}",
            kind.what,
            selection.describe(),
            recipients.join(", "),
            minutes(interval),
            transport.describe()
        );
        // -f is the sender; without it, --from (checked above).
        let channel = MailChannel::new(recipients.clone(), from.or(config.default_from), transport);
        let mut channels: Vec<Arc<dyn notify::Channel>> = vec![Arc::new(channel)];
        for c in &others {
            log::info!("notifying about {} via {}", kind.what, c.describe());
        }
        channels.extend(others);
        let mut notifier = Notifier::start(channels, config.outbox)?;
        notify::options::export_figures(m, kind.name, Some(&mut notifier))?;
        Box::new(notifier)
    };
    let mut batch = Batch::new(
        kind,
        Settings {
            selection,
            to: recipients,
            others: has_others,
            subject: m
                .get_one::<String>(SUBJECT)
                .cloned()
                .or(kind.default_subject.map(str::to_owned)),
            interval,
            tick_event,
        },
        sink,
        Instant::now(),
    );
    batch.hostname = notify::options::hostname(m);
    runtime::run(&mut batch)
}

/// Given on the command line (not a default).
fn given(m: &ArgMatches, id: &str) -> bool {
    m.try_get_raw(id).ok().flatten().is_some()
        && m.value_source(id) == Some(ValueSource::CommandLine)
}

/// "minute", "5 minutes", "0.1 minutes (6 s)" (for "every ...").
fn minutes(d: Duration) -> String {
    // Three decimals at most: 0.07 minutes is 4.2 s, not 4.2000000000000002.
    let short = |x: f64| {
        let text = format!("{x:.3}");
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    };
    let secs = d.as_secs_f64();
    let m = secs / 60.0;
    if m == 1.0 {
        "minute".to_owned()
    } else if m.fract() == 0.0 {
        format!("{} minutes", short(m))
    } else {
        format!("{} minutes ({} s)", short(m), short(secs))
    }
}

/// When a batch is due, by the `when:` stamps of the TICK events (seconds since 1970 by
/// supervisord's clock, a multiple of the tick's period).
///
/// A TICK_N stamped `when` stands for the N seconds before it: the first tick opens the batch
/// at `when - N`. So `-i 1` with TICK_60 mails at every TICK_60 and with TICK_5 at every 12th,
/// as superlance did when `-e` matched; any mix of TICK_5/TICK_60/TICK_3600 works the same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchClock {
    interval_ms: u64,
    /// When the batch being collected began, by supervisord's clock (seconds).
    start: Option<u64>,
}

impl BatchClock {
    pub fn new(interval: Duration) -> BatchClock {
        BatchClock {
            interval_ms: u64::try_from(interval.as_millis()).unwrap_or(u64::MAX),
            start: None,
        }
    }

    /// A TICK_`period` stamped `when` arrived: true when the batch is due (the next one starts
    /// now).
    pub fn tick(&mut self, period: u32, when: u64) -> bool {
        let start = *self
            .start
            .get_or_insert(when.saturating_sub(u64::from(period)));
        if when < start {
            // supervisord's clock was set back: start over from here.
            self.start = Some(when);
            return false;
        }
        if (when - start).saturating_mul(1000) >= self.interval_ms {
            self.start = Some(when);
            return true;
        }
        false
    }
}

/// Flushes by the listener's own clock while no TICK comes (see the module doc). Its times
/// are passed in, so tests run without sleeping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watchdog {
    interval: Duration,
    last_tick: Instant,
    /// On our own clock since this flush; `None` while TICKs come.
    own: Option<Instant>,
    warned: bool,
}

/// What the [`Watchdog`] says when woken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    Nothing,
    /// No TICK for two intervals: warn (the first time) and flush.
    NoTicks {
        first: bool,
    },
    /// On our own clock: flush.
    Flush,
}

impl Watchdog {
    /// The listener's own clock never runs faster than once a second.
    const MIN_INTERVAL: Duration = Duration::from_secs(1);

    pub fn new(interval: Duration, now: Instant) -> Watchdog {
        Watchdog {
            interval: interval.max(Self::MIN_INTERVAL),
            last_tick: now,
            own: None,
            warned: false,
        }
    }

    /// A TICK came. True if we were on our own clock until now.
    pub fn ticked(&mut self, now: Instant) -> bool {
        self.last_tick = now;
        self.own.take().is_some()
    }

    pub fn next(&self) -> Instant {
        match self.own {
            None => self.last_tick + self.interval * 2,
            Some(flushed) => flushed + self.interval,
        }
    }

    pub fn wake(&mut self, now: Instant) -> Due {
        if now < self.next() {
            return Due::Nothing;
        }
        let was_own = self.own.replace(now).is_some();
        if was_own {
            return Due::Flush;
        }
        let first = !self.warned;
        self.warned = true;
        Due::NoTicks { first }
    }
}

/// Where a batch goes: the delivery layer, or (no valid address) the log.
pub trait Sink {
    /// Lines collected by an earlier run and not mailed.
    fn left(&self) -> Vec<String>;
    /// A line joined the batch.
    fn line(&self, line: &str);
    /// The batch, as one notification.
    fn send(&self, batch: Notification);
    fn shutdown(&mut self);
}

impl Sink for Notifier {
    fn left(&self) -> Vec<String> {
        self.batch_left()
    }

    fn line(&self, line: &str) {
        self.batch_line(line);
    }

    fn send(&self, batch: Notification) {
        self.submit_batch(batch);
    }

    fn shutdown(&mut self) {
        Notifier::shutdown(self);
    }
}

/// No valid recipient: each line is logged when it happens (by [`Batch`]), nothing mailed.
struct LogOnly;

impl Sink for LogOnly {
    fn left(&self) -> Vec<String> {
        Vec::new()
    }
    fn line(&self, _: &str) {}
    fn send(&self, _: Notification) {}
    fn shutdown(&mut self) {}
}

/// A batch mailer's settings, from its options.
pub struct Settings {
    pub selection: Selection,
    /// The recipients (the mail channel's too): none, and without `others` lines are only
    /// logged.
    pub to: Vec<String>,
    /// Channels besides mail were given (`--webhook`, ...): the batch goes to them even
    /// without recipients.
    pub others: bool,
    pub subject: Option<String>,
    pub interval: Duration,
    /// `-e`, for the hint when no TICK comes.
    pub tick_event: String,
}

/// The listener: collects lines, mails them when the [`BatchClock`] or the [`Watchdog`] says.
pub struct Batch {
    kind: &'static Kind,
    settings: Settings,
    clock: BatchClock,
    watchdog: Watchdog,
    lines: Vec<String>,
    sink: Box<dyn Sink>,
    /// This machine's name, for the notification.
    hostname: String,
}

impl Batch {
    pub fn new(
        kind: &'static Kind,
        settings: Settings,
        sink: Box<dyn Sink>,
        now: Instant,
    ) -> Batch {
        let lines = sink.left();
        if !lines.is_empty() {
            log::info!(
                "{} collected by the last run and not mailed yet: they open this batch",
                plural(lines.len(), "line")
            );
        }
        Batch {
            kind,
            clock: BatchClock::new(settings.interval),
            watchdog: Watchdog::new(settings.interval, now),
            settings,
            lines,
            sink,
            hostname: String::new(),
        }
    }

    /// Mail the lines collected so far as one mail (nothing if there are none).
    fn flush(&mut self, why: &str) {
        if self.lines.is_empty() {
            return;
        }
        let s = &self.settings;
        if s.to.is_empty() && !s.others {
            self.lines.clear();
            return;
        }
        if s.to.is_empty() {
            log::info!("{why}: sending {}", plural(self.lines.len(), "line"));
        } else {
            log::info!(
                "{why}: mailing {} to {}",
                plural(self.lines.len(), "line"),
                s.to.join(", ")
            );
        }
        let body = std::mem::take(&mut self.lines).join("\n");
        // Never held back by flood control: no key.
        self.sink.send(Notification {
            subject: s.subject.clone(),
            text: body,
            ..Notification::new(
                NotificationKind::Batch,
                self.kind.name,
                &self.hostname,
                SystemTime::now(),
            )
        });
    }

    fn state_change(&mut self, change: &StateChange) {
        if !self.settings.selection.matches_process(&change.process) {
            return;
        }
        let Some(line) = (self.kind.line)(change, &crate::time::asctime()) else {
            return;
        };
        if self.settings.to.is_empty() && !self.settings.others {
            log::info!("{line} (not mailed: no valid -t/--toEmail)");
            return;
        }
        if self.settings.to.is_empty() {
            log::info!("{line} (sent with the next batch)");
        } else {
            log::info!("{line} (mailed with the next batch)");
        }
        self.sink.line(&line);
        self.lines.push(line);
    }
}

impl Listener for Batch {
    fn handle(&mut self, event: &Event) -> Ack {
        match event {
            Event::ProcessState(change) => self.state_change(change),
            Event::Tick { period, when } => {
                if self.watchdog.ticked(Instant::now()) {
                    log::info!("TICK events arrive again: batches follow them");
                }
                if self.clock.tick(*period, *when) {
                    self.flush(&format!("TICK_{period}"));
                }
            }
            _ => {}
        }
        Ack::Ok
    }

    fn next_wakeup(&self) -> Option<Instant> {
        Some(self.watchdog.next())
    }

    fn wake(&mut self, now: Instant) {
        match self.watchdog.wake(now) {
            Due::Nothing => {}
            Due::NoTicks { first } => {
                if first {
                    log::warn!(
                        "no TICK event for {}: is the pool subscribed to one \
                         (events={},{})? Until one arrives, batches are mailed every {} by \
                         this listener's own clock",
                        minutes(self.settings.interval * 2),
                        self.kind.events,
                        self.settings.tick_event,
                        minutes(self.settings.interval),
                    );
                }
                self.flush("no TICK");
            }
            Due::Flush => self.flush("no TICK"),
        }
    }

    fn shutdown(&mut self) {
        self.flush("stopping");
        self.sink.shutdown();
    }
}

fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Process, ProcessState};
    use std::cell::RefCell;
    use std::rc::Rc;

    const MIN: u64 = 60;

    #[test]
    fn tick_60_with_one_minute_mails_at_every_tick() {
        let mut c = BatchClock::new(Duration::from_secs(60));
        let t0 = 1_700_000_040;
        assert!(
            c.tick(60, t0),
            "the first TICK_60 closes the minute before it"
        );
        assert!(c.tick(60, t0 + MIN));
        assert!(c.tick(60, t0 + 2 * MIN));
    }

    #[test]
    fn tick_5_with_one_minute_mails_at_every_twelfth() {
        let mut c = BatchClock::new(Duration::from_secs(60));
        let due: Vec<u64> = (1..=36)
            .map(|i| 1_700_000_000 + 5 * i)
            .filter(|&when| c.tick(5, when))
            .collect();
        assert_eq!(due, [1_700_000_060, 1_700_000_120, 1_700_000_180]);
    }

    #[test]
    fn b14_any_tick_advances_the_clock_whatever_tick_event_says() {
        // superlance with the default -e TICK_60 and a pool on TICK_5 never mailed (B14): the
        // clock here does not know -e at all. Five minutes of TICK_5 at -i 5 → one batch.
        let mut c = BatchClock::new(Duration::from_secs(5 * 60));
        let due = (1..=60)
            .filter(|i| c.tick(5, 1_700_000_000 + 5 * i))
            .count();
        assert_eq!(due, 1);
    }

    #[test]
    fn mixed_ticks_count_time_once() {
        // A pool on TICK_5 and TICK_60: both arrive at the minute, with the same stamp.
        let mut c = BatchClock::new(Duration::from_secs(60));
        let mut due = Vec::new();
        for i in 1..=24u64 {
            let when = 1_700_000_000 + 5 * i;
            if c.tick(5, when) {
                due.push((5, when));
            }
            if when % 60 == 0 && c.tick(60, when) {
                due.push((60, when));
            }
        }
        // 1_700_000_040 is a whole minute: the first TICK_5 opened the batch at ..000.
        assert_eq!(due, [(5, 1_700_000_060), (5, 1_700_000_120)]);
    }

    #[test]
    fn fractional_and_coarse_intervals() {
        // -i 0.1: six seconds; TICK_5 → every second tick (10 s >= 6 s).
        let mut c = BatchClock::new(Duration::from_secs(6));
        let due: Vec<bool> = (1..=4).map(|i| c.tick(5, 1_000 + 5 * i)).collect();
        assert_eq!(due, [false, true, false, true]);
        // Ticks coarser than the interval: every tick is due.
        let mut c = BatchClock::new(Duration::from_secs(60));
        assert!(c.tick(3600, 7200));
        assert!(c.tick(3600, 10_800));
    }

    #[test]
    fn clock_set_back_starts_over() {
        let mut c = BatchClock::new(Duration::from_secs(60));
        assert!(c.tick(60, 10_000));
        assert!(!c.tick(60, 5_000), "stamp before the batch began");
        assert!(c.tick(60, 5_060));
        // A jump forward is simply a due batch.
        assert!(c.tick(60, 90_000));
    }

    #[test]
    fn watchdog_warns_once_then_keeps_its_own_clock_until_a_tick() {
        let t0 = Instant::now();
        let i = Duration::from_secs(60);
        let mut w = Watchdog::new(i, t0);
        assert_eq!(w.next(), t0 + 2 * i);
        assert_eq!(w.wake(t0 + i), Due::Nothing);
        assert_eq!(w.wake(t0 + 2 * i), Due::NoTicks { first: true });
        assert_eq!(w.next(), t0 + 3 * i);
        assert_eq!(w.wake(t0 + 3 * i), Due::Flush);
        // A TICK: back to watching.
        assert!(w.ticked(t0 + 3 * i + Duration::from_secs(1)));
        assert!(!w.ticked(t0 + 4 * i));
        assert_eq!(w.wake(t0 + 5 * i), Due::Nothing);
        assert_eq!(w.wake(t0 + 6 * i), Due::NoTicks { first: false });
        // Never faster than once a second, whatever -i says.
        let w = Watchdog::new(Duration::from_millis(10), t0);
        assert_eq!(w.next(), t0 + Duration::from_secs(2));
    }

    #[test]
    fn minutes_are_said_plainly() {
        assert_eq!(minutes(Duration::from_secs(60)), "minute");
        assert_eq!(minutes(Duration::from_secs(300)), "5 minutes");
        assert_eq!(minutes(Duration::from_secs(6)), "0.1 minutes (6 s)");
        assert_eq!(minutes(Duration::from_millis(4200)), "0.07 minutes (4.2 s)");
    }

    /// Records what the batch hands on.
    #[derive(Default, Clone)]
    struct Recorder(Rc<RefCell<Recorded>>);

    #[derive(Default)]
    struct Recorded {
        left: Vec<String>,
        lines: Vec<String>,
        mails: Vec<Notification>,
        shut: bool,
    }

    impl Sink for Recorder {
        fn left(&self) -> Vec<String> {
            self.0.borrow().left.clone()
        }
        fn line(&self, line: &str) {
            self.0.borrow_mut().lines.push(line.to_owned());
        }
        fn send(&self, mail: Notification) {
            self.0.borrow_mut().mails.push(mail);
        }
        fn shutdown(&mut self) {
            self.0.borrow_mut().shut = true;
        }
    }

    fn exit_line(c: &StateChange, at: &str) -> Option<String> {
        (c.state == ProcessState::Exited && c.expected == Some(false))
            .then(|| format!("{at} {}:{}", c.process.group, c.process.name))
    }

    static KIND: Kind = Kind {
        name: "testbatch",
        about: "",
        default_subject: Some("Alert"),
        what: "unexpected exits",
        events: "PROCESS_STATE_EXITED",
        line: exit_line,
    };

    fn batch(rec: &Recorder, to: &[&str], selection: Selection) -> Batch {
        Batch::new(
            &KIND,
            Settings {
                selection,
                to: to.iter().map(|s| s.to_string()).collect(),
                others: false,
                subject: Some("Alert".into()),
                interval: Duration::from_secs(60),
                tick_event: "TICK_60".into(),
            },
            Box::new(rec.clone()),
            Instant::now(),
        )
    }

    fn exited<'a>(name: &'a str, expected: bool) -> Event<'a> {
        Event::ProcessState(StateChange {
            state: ProcessState::Exited,
            process: Process { name, group: name },
            from_state: "RUNNING",
            pid: Some(7),
            tries: None,
            expected: Some(expected),
        })
    }

    #[test]
    fn lines_go_out_as_one_mail_per_due_tick() {
        let rec = Recorder::default();
        let mut b = batch(&rec, &["ops@example.com"], Selection::any());
        for e in [exited("a", false), exited("b", true), exited("c", false)] {
            assert_eq!(b.handle(&e), Ack::Ok);
        }
        assert_eq!(rec.0.borrow().lines.len(), 2, "noted as they come");
        b.handle(&Event::Tick {
            period: 5,
            when: 1_000,
        });
        assert!(rec.0.borrow().mails.is_empty(), "not due yet");
        b.handle(&Event::Tick {
            period: 60,
            when: 1_055,
        });
        let mails = std::mem::take(&mut rec.0.borrow_mut().mails);
        assert_eq!(mails.len(), 1);
        let body: Vec<&str> = mails[0].text.split('\n').collect();
        assert_eq!(body.len(), 2);
        assert!(
            body[0].ends_with(" a:a") && body[1].ends_with(" c:c"),
            "{body:?}"
        );
        assert_eq!(mails[0].subject.as_deref(), Some("Alert"));
        assert_eq!(mails[0].key, None, "never held back by flood control");
        assert_eq!(mails[0].kind, NotificationKind::Batch);
        assert_eq!(mails[0].listener, "testbatch");
        // An empty batch sends nothing.
        b.handle(&Event::Tick {
            period: 60,
            when: 1_115,
        });
        assert!(rec.0.borrow().mails.is_empty());
    }

    #[test]
    fn selection_limits_what_is_collected() {
        let rec = Recorder::default();
        let spec = crate::select::Spec::parse("b").unwrap();
        let mut b = batch(
            &rec,
            &["ops@example.com"],
            Selection::new(vec![spec], false),
        );
        b.handle(&exited("a", false));
        b.handle(&exited("b", false));
        assert_eq!(rec.0.borrow().lines.len(), 1);
        assert!(rec.0.borrow().lines[0].ends_with(" b:b"));
    }

    #[test]
    fn leftovers_open_the_batch_and_shutdown_sends_it() {
        let rec = Recorder::default();
        rec.0.borrow_mut().left = vec!["old 1".into(), "old 2".into()];
        let mut b = batch(&rec, &["ops@example.com"], Selection::any());
        b.handle(&exited("a", false));
        b.shutdown();
        let r = rec.0.borrow();
        assert!(r.shut);
        assert_eq!(r.mails.len(), 1);
        assert!(
            r.mails[0].text.starts_with("old 1\nold 2\n"),
            "{}",
            r.mails[0].text
        );
    }

    #[test]
    fn without_ticks_the_watchdog_sends_the_batch() {
        let rec = Recorder::default();
        let t0 = Instant::now();
        let mut b = batch(&rec, &["ops@example.com"], Selection::any());
        b.handle(&exited("a", false));
        let due = b.next_wakeup().unwrap();
        assert!(due >= t0 + Duration::from_secs(120));
        b.wake(due);
        assert_eq!(rec.0.borrow().mails.len(), 1);
    }

    #[test]
    fn without_recipients_nothing_is_collected() {
        let rec = Recorder::default();
        let mut b = batch(&rec, &[], Selection::any());
        b.handle(&exited("a", false));
        b.shutdown();
        assert!(rec.0.borrow().lines.is_empty());
        assert!(rec.0.borrow().mails.is_empty());
    }

    #[test]
    fn without_recipients_but_with_other_channels_the_batch_still_goes_out() {
        // issue 12: `crashmailbatch --webhook URL` without -t sends its batches there.
        let rec = Recorder::default();
        let mut b = batch(&rec, &[], Selection::any());
        b.settings.others = true;
        b.handle(&exited("a", false));
        assert_eq!(rec.0.borrow().lines.len(), 1);
        b.handle(&Event::Tick {
            period: 60,
            when: 1_055,
        });
        let mails = std::mem::take(&mut rec.0.borrow_mut().mails);
        assert_eq!(mails.len(), 1);
        assert!(mails[0].text.ends_with(" a:a"), "{:?}", mails[0].text);
    }
}
