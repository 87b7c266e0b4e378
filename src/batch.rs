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
//!
//! Memory is bounded in a crash storm (issue 15): per program and batch, `--max-lines` lines
//! are listed and the rest only counted ([`limit`]), the counts noted in the spool too; and a
//! batch that falls due while the previous one still waits in memory for the mail server is
//! not queued beside it: it goes on collecting (within the same bound) and goes out at the
//! next due time after the previous one was delivered. So an outage costs one waiting mail
//! and one bounded batch, not a mail per interval.
//!
//! `--tail N` adds the crash context of the programs a batch lists (`tail`).

mod tail;

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

mod clock;
mod limit;
mod sink;

pub use clock::{BatchClock, Due, Watchdog};
pub use limit::{Decision, Limit, Tally};
use sink::LogOnly;
pub use sink::Sink;

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
    /// The batch's last line for a program whose lines went over `--max-lines`: the program
    /// (`group:name`), how many more, the first and last time (as in `line`).
    pub more: fn(&str, u64, &str, &str) -> String,
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
const MAX_LINES: &str = "max-lines";

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
        .arg(
            Arg::new(MAX_LINES)
                .long(MAX_LINES)
                .value_name("N")
                .value_parser(clap::value_parser!(u32))
                .default_value("20")
                .help(
                    "List at most N lines per program in one batch; further ones are counted, \
                     and the batch ends with one line per such program saying how many more \
                     there were and between which times (0: no limit)",
                ),
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
        .arg(crate::crash_context::tail_arg(
            "the batch, for each program's first report in it (at most 10 programs)",
        ))
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
    let tail = crate::crash_context::tail_lines(m);
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
        // No recipient: no transport is built (nor a word said about one).
        let config = options::without_mail(m, "-t/--toEmail", None)?;
        for c in &others {
            log::info!("notifying about {} via {}", kind.what, c.describe());
        }
        let mut notifier = Notifier::start(others, config.outbox)?;
        notify::options::export_figures(m, kind.name, Some(&mut notifier))?;
        tail::sink(notifier, tail)?
    } else {
        let (transport, config) = options::from_matches(m, legacy)?;
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
        tail::sink(notifier, tail)?
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
            max_lines: m.get_one::<u32>(MAX_LINES).copied().unwrap_or(20),
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
    /// `--max-lines`: lines listed per program and batch (0: all).
    pub max_lines: u32,
}

/// The listener: collects lines, mails them when the [`BatchClock`] or the [`Watchdog`] says.
pub struct Batch {
    kind: &'static Kind,
    settings: Settings,
    clock: BatchClock,
    watchdog: Watchdog,
    lines: Vec<String>,
    /// `--max-lines`: which lines are listed, the others' counts.
    limit: Limit,
    /// A due batch was held because the previous one still waits (logged once per wait).
    held: bool,
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
        let mut limit = Limit::new(settings.max_lines);
        for (program, tally) in sink.left_counts() {
            log::info!(
                "{program}: {} counted beyond --max-lines by the last run: counted in this batch",
                plural_u64(tally.count, "line")
            );
            limit.restore(program, tally);
        }
        Batch {
            kind,
            clock: BatchClock::new(settings.interval),
            watchdog: Watchdog::new(settings.interval, now),
            settings,
            lines,
            limit,
            held: false,
            sink,
            hostname: String::new(),
        }
    }

    /// Mail the lines collected so far as one mail (nothing if there are none).
    /// `stopping`: the last one, sent whatever waits before it.
    fn flush(&mut self, why: &str, stopping: bool) {
        if self.lines.is_empty() && !self.limit.counted() {
            return;
        }
        let s = &self.settings;
        if s.to.is_empty() && !s.others {
            self.lines.clear();
            self.limit.take();
            return;
        }
        if !stopping && self.sink.behind() {
            // Queued beside it, this batch would wait in memory too, and so would every
            // batch until the server answers: it goes on collecting instead, within
            // --max-lines, and goes out once the previous one is delivered.
            if !std::mem::replace(&mut self.held, true) {
                let bound = match self.settings.max_lines {
                    0 => "every line: --max-lines 0".to_owned(),
                    n => format!(
                        "at most {} per program, the rest counted",
                        plural(n as usize, "line")
                    ),
                };
                log::warn!(
                    "{why}: the previous batch is not delivered yet: this one goes on \
                     collecting ({bound}) and is sent once it is"
                );
            }
            return;
        }
        self.held = false;
        let counted = self.limit.take();
        let more: u64 = counted.iter().map(|(_, t)| t.count).sum();
        let listed = plural(self.lines.len(), "line");
        let listed = if more > 0 {
            format!("{listed} (and {more} more counted)")
        } else {
            listed
        };
        if s.to.is_empty() {
            log::info!("{why}: sending {listed}");
        } else {
            log::info!("{why}: mailing {listed} to {}", s.to.join(", "));
        }
        let mut body = std::mem::take(&mut self.lines).join("\n");
        for (program, t) in counted {
            let first = crate::time::LocalTime::at(t.first).to_string();
            let last = crate::time::LocalTime::at(t.last).to_string();
            if !body.is_empty() {
                body.push('\n');
            }
            body.push_str(&(self.kind.more)(&program, t.count, &first, &last));
        }
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
        let now = SystemTime::now();
        let Some(line) = (self.kind.line)(change, &crate::time::LocalTime::at(now).to_string())
        else {
            return;
        };
        if self.settings.to.is_empty() && !self.settings.others {
            log::info!("{line} (not mailed: no valid -t/--toEmail)");
            return;
        }
        let program = format!("{}:{}", change.process.group, change.process.name);
        if let Decision::Count(tally) = self.limit.admit(&program, now) {
            if tally.count == 1 {
                log::info!(
                    "{line} (counted, not listed: {program} has had {} in this batch; \
                     --max-lines)",
                    plural(self.settings.max_lines as usize, "line")
                );
            } else {
                log::debug!("{line} (counted, not listed)");
            }
            self.sink.count(&program, &tally);
            return;
        }
        if self.settings.to.is_empty() {
            log::info!("{line} (sent with the next batch)");
        } else {
            log::info!("{line} (mailed with the next batch)");
        }
        self.sink.line(&line);
        self.sink.context(change);
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
                    self.flush(&format!("TICK_{period}"), false);
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
                self.flush("no TICK", false);
            }
            Due::Flush => self.flush("no TICK", false),
        }
    }

    fn shutdown(&mut self) {
        self.flush("stopping", true);
        self.sink.shutdown();
    }
}

fn plural_u64(n: u64, what: &str) -> String {
    plural(usize::try_from(n).unwrap_or(usize::MAX), what)
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
        left_counts: Vec<(String, Tally)>,
        lines: Vec<String>,
        counts: Vec<(String, Tally)>,
        mails: Vec<Notification>,
        shut: bool,
        behind: bool,
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
        fn count(&self, program: &str, tally: &Tally) {
            self.0
                .borrow_mut()
                .counts
                .push((program.to_owned(), *tally));
        }
        fn left_counts(&self) -> Vec<(String, Tally)> {
            self.0.borrow().left_counts.clone()
        }
        fn behind(&self) -> bool {
            self.0.borrow().behind
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
        more: |p, n, a, b| format!("{p}: {n} more between {a} and {b}"),
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
                max_lines: 20,
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

    fn tick(b: &mut Batch, when: u64) {
        b.handle(&Event::Tick { period: 60, when });
    }

    #[test]
    fn issue_15_past_max_lines_a_program_is_counted_and_the_mail_says_how_many() {
        let rec = Recorder::default();
        let mut b = batch(&rec, &["ops@example.com"], Selection::any());
        b.settings.max_lines = 3;
        b.limit = Limit::new(3);
        for _ in 0..10 {
            b.handle(&exited("a", false));
        }
        b.handle(&exited("b", false));
        {
            let r = rec.0.borrow();
            assert_eq!(r.lines.len(), 4, "3 of a, 1 of b noted as lines");
            assert_eq!(r.counts.len(), 7, "each counted one noted as a count");
            assert_eq!(r.counts[6].0, "a:a");
            assert_eq!(r.counts[6].1.count, 7);
        }
        tick(&mut b, 1_055);
        let mails = std::mem::take(&mut rec.0.borrow_mut().mails);
        assert_eq!(mails.len(), 1);
        let body: Vec<&str> = mails[0].text.split('\n').collect();
        assert_eq!(body.len(), 5, "{body:?}");
        assert!(body[..3].iter().all(|l| l.ends_with(" a:a")), "{body:?}");
        assert!(body[3].ends_with(" b:b"), "{body:?}");
        assert!(body[4].starts_with("a:a: 7 more between 20"), "{body:?}");
        // The next batch lists again.
        b.handle(&exited("a", false));
        tick(&mut b, 1_115);
        let mails = std::mem::take(&mut rec.0.borrow_mut().mails);
        assert!(mails[0].text.ends_with(" a:a") && !mails[0].text.contains('\n'));
    }

    #[test]
    fn issue_15_a_batch_due_while_the_last_waits_in_memory_goes_on_collecting() {
        let rec = Recorder::default();
        let mut b = batch(&rec, &["ops@example.com"], Selection::any());
        b.limit = Limit::new(2);
        b.settings.max_lines = 2;
        b.handle(&exited("a", false));
        tick(&mut b, 1_055);
        assert_eq!(rec.0.borrow().mails.len(), 1);
        // The server is down: the first batch waits; the next ones are held, not queued.
        rec.0.borrow_mut().behind = true;
        for when in [1_115, 1_175, 1_235] {
            for _ in 0..5 {
                b.handle(&exited("a", false));
            }
            tick(&mut b, when);
        }
        assert_eq!(rec.0.borrow().mails.len(), 1, "held while behind");
        rec.0.borrow_mut().behind = false;
        tick(&mut b, 1_295);
        let r = rec.0.borrow();
        assert_eq!(r.mails.len(), 2);
        let body: Vec<&str> = r.mails[1].text.split('\n').collect();
        assert_eq!(body.len(), 3, "{body:?}");
        assert!(body[2].starts_with("a:a: 13 more between "), "{body:?}");
        drop(r);
        // At shutdown the batch goes out even when behind (the outbox reports it).
        rec.0.borrow_mut().behind = true;
        b.handle(&exited("a", false));
        b.shutdown();
        assert_eq!(rec.0.borrow().mails.len(), 3);
    }

    #[test]
    fn issue_15_counts_left_by_an_earlier_run_are_mailed_and_go_on() {
        let rec = Recorder::default();
        let t = |s| std::time::UNIX_EPOCH + Duration::from_secs(s);
        rec.0.borrow_mut().left = vec!["old a:a".into()];
        rec.0.borrow_mut().left_counts = vec![(
            "a:a".to_owned(),
            Tally {
                count: 4812,
                first: t(1_700_000_000),
                last: t(1_700_000_100),
            },
        )];
        let mut b = batch(&rec, &["ops@example.com"], Selection::any());
        b.handle(&exited("a", false));
        assert_eq!(rec.0.borrow().counts[0].1.count, 4813, "counted on top");
        b.shutdown();
        let text = rec.0.borrow().mails[0].text.clone();
        let lines: Vec<&str> = text.split('\n').collect();
        assert_eq!(lines[0], "old a:a");
        assert!(lines[1].starts_with("a:a: 4813 more between "), "{text}");
    }

    #[test]
    fn issue_15_a_batch_of_counts_only_is_still_sent() {
        let rec = Recorder::default();
        let mut b = batch(&rec, &["ops@example.com"], Selection::any());
        b.limit.restore(
            "a:a".into(),
            Tally {
                count: 2,
                first: SystemTime::now(),
                last: SystemTime::now(),
            },
        );
        tick(&mut b, 1_055);
        assert_eq!(rec.0.borrow().mails.len(), 1);
    }
}
