//! Logging: stderr by default, syslog with `--syslog[=FACILITY]`.
//!
//! Listeners log through the `log` facade. stdout belongs to the protocol, so nothing here ever
//! writes to it. supervisord captures a listener's stderr into its `stderr_logfile`; there we
//! write one line per message: `<asctime> <LEVEL> <listener>: <message>`.
//!
//! The `syslog` crate connects once and never reconnects: after the syslog daemon restarts
//! (and re-creates /dev/log) every message fails (syslog crate issue #21). Our syslog logger
//! drops a connection that fails, reconnects and resends once, and SIGHUP also drops it
//! (see [`reopen`]). A message that still cannot be sent goes to stderr rather than nowhere.

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

use clap::{Arg, ArgAction, ArgMatches};
use log::{Level, LevelFilter, Log, Metadata, Record};
use syslog::{Facility, Formatter3164, LoggerBackend};

pub const SYSLOG: &str = "syslog";
pub const SYSLOG_SOCKET: &str = "syslog-socket";
pub const LOG_LEVEL: &str = "log-level";

/// The logging options every listener has.
pub fn args() -> [Arg; 3] {
    [
        Arg::new(SYSLOG)
            .long("syslog")
            .value_name("FACILITY")
            .num_args(0..=1)
            .require_equals(true)
            .default_missing_value("daemon")
            .value_parser(parse_facility)
            .help("Log to syslog instead of stderr (default facility: daemon)"),
        Arg::new(SYSLOG_SOCKET)
            .long("syslog-socket")
            .value_name("PATH")
            .value_parser(clap::value_parser!(PathBuf))
            .requires(SYSLOG)
            .help("The syslog socket (default: /dev/log, /var/run/syslog or /var/run/log)"),
        Arg::new(LOG_LEVEL)
            .long("log-level")
            .value_name("LEVEL")
            .default_value("info")
            .value_parser(["error", "warn", "info", "debug"])
            .action(ArgAction::Set)
            .help("The least severe messages to log"),
    ]
}

fn parse_facility(text: &str) -> Result<Facility, String> {
    text.parse().map_err(|()| {
        format!("unknown syslog facility {text:?} (try daemon, user, local0 ... local7)")
    })
}

/// Where and what to log.
#[derive(Debug, Clone)]
pub struct Config {
    pub syslog: Option<(Facility, Option<PathBuf>)>,
    pub level: LevelFilter,
}

impl Config {
    pub fn from_matches(m: &ArgMatches) -> Config {
        let level = match m.get_one::<String>(LOG_LEVEL).map(String::as_str) {
            Some("error") => LevelFilter::Error,
            Some("warn") => LevelFilter::Warn,
            Some("debug") => LevelFilter::Debug,
            _ => LevelFilter::Info,
        };
        let syslog = m
            .get_one::<Facility>(SYSLOG)
            .map(|f| (*f, m.get_one::<PathBuf>(SYSLOG_SOCKET).cloned()));
        Config { syslog, level }
    }
}

static LOGGER: OnceLock<Logger> = OnceLock::new();

/// Install the logger for listener `name`. Called once, before the listener runs.
pub fn init(name: &str, config: &Config) {
    crate::time::init();
    let sink = match &config.syslog {
        None => Sink::Stderr,
        Some((facility, socket)) => Sink::Syslog(Syslog {
            formatter: Formatter3164 {
                facility: *facility,
                hostname: None,
                process: name.to_owned(),
                pid: std::process::id(),
            },
            socket: socket.clone(),
            conn: Mutex::new(None),
            failing: AtomicBool::new(false),
        }),
    };
    let logger = LOGGER.get_or_init(|| Logger {
        name: name.to_owned(),
        sink,
    });
    if log::set_logger(logger).is_ok() {
        log::set_max_level(config.level);
    }
}

/// SIGHUP: drop the syslog connection so that the next message opens a new one (log rotation
/// and syslog daemon restarts). stderr needs nothing: supervisord owns that file.
pub fn reopen() {
    if let Some(Logger {
        sink: Sink::Syslog(s),
        ..
    }) = LOGGER.get()
    {
        if let Ok(mut conn) = s.conn.lock() {
            *conn = None;
        }
    }
}

struct Logger {
    name: String,
    sink: Sink,
}

enum Sink {
    Stderr,
    Syslog(Syslog),
}

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        match &self.sink {
            Sink::Stderr => stderr_line(&self.name, record.level(), record.args()),
            Sink::Syslog(s) => {
                match s.send(record.level(), record.args()) {
                    Ok(()) => s.failing.store(false, Ordering::Relaxed),
                    Err(e) => {
                        // Say so once per outage, not once per message.
                        if !s.failing.swap(true, Ordering::Relaxed) {
                            let why = format!(
                                "syslog unreachable ({e}); logging to stderr until it is back"
                            );
                            stderr_line(&self.name, Level::Warn, &why);
                        }
                        stderr_line(&self.name, record.level(), record.args());
                    }
                }
            }
        }
    }

    fn flush(&self) {}
}

/// One line on stderr, written in one call so lines from threads do not interleave.
pub fn stderr_line(name: &str, level: Level, message: &dyn std::fmt::Display) {
    let line = format!(
        "{} {} {}: {}\n",
        crate::time::asctime(),
        level,
        name,
        message
    );
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

struct Syslog {
    formatter: Formatter3164,
    socket: Option<PathBuf>,
    conn: Mutex<Option<syslog::Logger<LoggerBackend, Formatter3164>>>,
    failing: AtomicBool,
}

impl Syslog {
    fn connect(&self) -> syslog::Result<syslog::Logger<LoggerBackend, Formatter3164>> {
        match &self.socket {
            Some(path) => syslog::unix_custom(self.formatter.clone(), path),
            None => syslog::unix(self.formatter.clone()),
        }
    }

    /// Send, reconnecting once if the connection is gone or fails.
    fn send(&self, level: Level, message: &std::fmt::Arguments) -> Result<(), String> {
        let mut conn = self
            .conn
            .lock()
            .map_err(|_| "logger lock poisoned".to_owned())?;
        let text = message.to_string();
        let mut last = String::new();
        for _ in 0..2 {
            if conn.is_none() {
                match self.connect() {
                    Ok(c) => *conn = Some(c),
                    Err(e) => {
                        last = e.to_string();
                        continue;
                    }
                }
            }
            if let Some(c) = conn.as_mut() {
                let sent = match level {
                    Level::Error => c.err(&text),
                    Level::Warn => c.warning(&text),
                    Level::Info => c.info(&text),
                    Level::Debug | Level::Trace => c.debug(&text),
                };
                match sent {
                    Ok(()) => return Ok(()),
                    Err(e) => {
                        last = e.to_string();
                        *conn = None;
                    }
                }
            }
        }
        Err(last)
    }
}
