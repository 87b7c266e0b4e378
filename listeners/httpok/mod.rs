//! httpok: restart supervisord programs when a URL stops answering as expected
//! (docs/httpok.md).
//!
//! Drop-in for superlance's httpok: same options, subjects and action log. On every TICK
//! event the URL is fetched (GET, `User-Agent: httpok`, redirects not followed); a status not
//! in `-c`, a body without `-b`, or no answer within `-t` restarts the RUNNING processes that
//! `-p`/`-a` select and mails what was done. Fixed (superlance.md §1.5): `-b` works on
//! Python 3's bytes (B10); HTTPS verifies certificates and sends SNI (B11); `-E` understands
//! `group:name` and `-a` (B9); `-t` below 1 is refused (B12); refused connections are retried
//! portably (B13); `-a` leaves listener pools and httpok itself alone (B8); an RPC fault is
//! reported, never fatal; mail can go over SMTP (B16).
//!
//! Since certificates are verified, a server certificate that cannot be verified is no proof
//! of an unhealthy program (issue 16): it is reported once and restarts nothing, unless
//! `--restart-on-tls-error`; `--ca-file` (or `SSL_CERT_FILE`) trusts a self-signed or
//! private-CA certificate.
//!
//! The check, the restarts and the mail run on a [`Background`] worker: `handle` answers
//! supervisord at once, however slow the web server or a restart is (superlance #41).
//! The decisions are in `check` (unit-tested with the doubles of `fakes`), the GET and its
//! verdict in `probe`, the certificate failures in `certificate`, the core dumps in `gcore`.

mod certificate;
mod check;
#[cfg(test)]
mod fakes;
mod gcore;
mod probe;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Command};

use crate::background::{Background, Requested};
use crate::event::Event;
use crate::http::{Address, HttpError, Url};
use crate::notify::channel::mail::options;
use crate::notify::{self, Kind, Notification, Notifier};
use crate::protocol::Ack;
use crate::rpc;
use crate::runtime::{self, Listener};
use crate::select::{self, Selection, Spec};
use crate::Error;

use certificate::Memory;
use check::{Policy, Report};
use gcore::Gcore;
use probe::{HttpWeb, RETRY_INTERVAL};

/// superlance's default `-g`.
pub const DEFAULT_GCORE: &str = "/usr/bin/gcore -o";

/// At shutdown, how long a check in progress (a restart, say) may take to finish. With the
/// outbox's own 5 s for the mail it stays below supervisord's default `stopwaitsecs` (10).
const JOB_GRACE: Duration = Duration::from_secs(4);

/// The longest `-t`: a day (larger values would be a typo, and overflow no clock).
const MAX_TIMEOUT: u64 = 24 * 60 * 60;

const URL: &str = "url";
const TIMEOUT: &str = "timeout";
const CODE: &str = "code";
const BODY: &str = "body";
const GCORE: &str = "gcore";
const COREDIR: &str = "coredir";
const EAGER: &str = "eager";
const NOT_EAGER: &str = "not-eager";
const NAME: &str = "name";
const CA_FILE: &str = "ca-file";
const RESTART_ON_TLS_ERROR: &str = "restart-on-tls-error";

/// The long options superlance's httpok knew (its getopt list, httpok.py `main`): a unique
/// prefix of one of these still means it (src/legacy_argv.rs). Frozen: never add ours.
pub const SUPERLANCE_LONGS: &[&str] = &[
    "help",
    "program",
    "any",
    "timeout",
    "code",
    "body",
    "sendmail_program",
    "email",
    "gcore",
    "coredir",
    "eager",
    "not-eager",
    "name",
];

pub fn command() -> Command {
    Command::new("httpok")
        .about(
            "Restart supervisord programs when a URL stops answering as expected (checked on \
             every TICK event)",
        )
        .after_help(
            "Subscribe the pool to a TICK event (TICK_60, or TICK_5):\n\n  \
             [eventlistener:httpok]\n  \
             command=httpok -p web -m ops@example.com http://localhost:8080/health\n  \
             events=TICK_60\n\n\
             The URL is the last argument.",
        )
        .arg(select::program_arg(
            Some('p'),
            "Restart this program when the check fails, if it is RUNNING: NAME, GROUP:NAME or \
             GROUP:* (repeatable)",
        ))
        .arg(select::any_arg(
            Some('a'),
            "Restart every RUNNING process when the check fails, except event listeners and \
             httpok itself (unless named with -p)",
        ))
        .arg(
            Arg::new(GCORE)
                .short('g')
                .long("gcore")
                .value_name("COMMAND")
                .default_value(DEFAULT_GCORE)
                .help(
                    "With -d: the command that writes a core file, run as COMMAND FILE PID by \
                     /bin/sh",
                ),
        )
        .arg(
            Arg::new(COREDIR)
                .short('d')
                .long("coredir")
                .value_name("DIR")
                .value_parser(clap::value_parser!(PathBuf))
                .help(
                    "Before restarting a process, write its core file to DIR/<namespec> with \
                     the -g command; its output goes into the mail",
                ),
        )
        .arg(
            Arg::new(TIMEOUT)
                .short('t')
                .long("timeout")
                .value_name("SECS")
                .default_value("10")
                .allow_negative_numbers(true)
                .value_parser(parse_timeout)
                .help(
                    "The time the URL has to answer, whole seconds from 1; also the time within \
                     which a refused connection is retried, every 10 s",
                ),
        )
        .arg(
            Arg::new(CODE)
                .short('c')
                .long("code")
                .value_name("STATUS")
                .action(ArgAction::Append)
                .default_value("200")
                .value_parser(parse_code)
                .help("An HTTP status that means healthy (repeatable)"),
        )
        .arg(
            Arg::new(BODY)
                .short('b')
                .long("body")
                .value_name("TEXT")
                .help("Text the response body must contain"),
        )
        .arg(options::sendmail_program_arg())
        .arg(options::email_arg(
            "Mail what was done to this address (several: comma-separated); without \
                     it nothing is mailed",
        ))
        .arg(
            Arg::new(EAGER)
                .short('e')
                .long("eager")
                .action(ArgAction::SetTrue)
                .overrides_with(NOT_EAGER)
                .help("Check the URL even if no monitored process is RUNNING (the default)"),
        )
        .arg(
            Arg::new(NOT_EAGER)
                .short('E')
                .long("not-eager")
                .action(ArgAction::SetTrue)
                .overrides_with(EAGER)
                .help("Check the URL only while a monitored process is RUNNING"),
        )
        .arg(
            Arg::new(NAME)
                .short('n')
                .long("name")
                .value_name("NAME")
                .help("Name this check in the mail subject: 'httpok [NAME]: ...'"),
        )
        .arg(
            Arg::new(CA_FILE)
                .long(CA_FILE)
                .value_name("PEM")
                .value_parser(clap::value_parser!(PathBuf))
                .help(
                    "Also trust the certificates in this PEM file for an https:// URL: a \
                     self-signed server certificate, or a private CA",
                ),
        )
        .arg(
            Arg::new(RESTART_ON_TLS_ERROR)
                .long(RESTART_ON_TLS_ERROR)
                .action(ArgAction::SetTrue)
                .help(
                    "Restart when the server's certificate cannot be verified, as on a bad \
                     status (by default that is reported once and restarts nothing)",
                ),
        )
        .arg(
            Arg::new(URL)
                .value_name("URL")
                .required(true)
                .value_parser(parse_url)
                .help("The http:// or https:// URL to GET; the last argument"),
        )
        .arg(crate::crash_context::tail_before_restart_arg(
            "the notification, for each process restarted (at most 10)",
        ))
        .args(options::args())
        .args(notify::options::args())
}

fn parse_timeout(text: &str) -> Result<Duration, String> {
    // superlance B12: with -t 0 no request was ever sent, and every check failed.
    match text.trim().parse::<u64>() {
        Ok(secs @ 1..=MAX_TIMEOUT) => Ok(Duration::from_secs(secs)),
        _ => Err(format!(
            "the timeout is a whole number of seconds from 1 to {MAX_TIMEOUT}"
        )),
    }
}

fn parse_code(text: &str) -> Result<u16, String> {
    match text.trim().parse::<u16>() {
        Ok(code @ 100..=999) => Ok(code),
        _ => Err("an HTTP status is a number from 100 to 999".to_owned()),
    }
}

fn parse_url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|e| e.to_string())?;
    match url.address() {
        Address::Http { .. } | Address::Https { .. } => Ok(url),
        Address::Unix(_) => Err("httpok checks http:// and https:// URLs".to_owned()),
    }
}

/// The decisions the options make; `own` is our own (group, name), from the environment.
fn policy(m: &ArgMatches, own: Option<(String, String)>) -> Result<Policy, Error> {
    url_is_last(m)?;
    let url = m
        .get_one::<Url>(URL)
        .cloned()
        .ok_or_else(|| Error::Usage("the URL to check is missing".to_owned()))?;
    let gcore = m.get_one::<String>(GCORE).map_or("", String::as_str);
    Ok(Policy {
        url,
        timeout: m
            .get_one::<Duration>(TIMEOUT)
            .copied()
            .unwrap_or(Duration::from_secs(10)),
        retry_interval: RETRY_INTERVAL,
        codes: m
            .get_many::<u16>(CODE)
            .map(|c| c.copied().collect())
            .unwrap_or_else(|| vec![200]),
        body: m.get_one::<String>(BODY).filter(|b| !b.is_empty()).cloned(),
        programs: m
            .get_many::<Spec>(select::PROGRAM)
            .map(|v| v.cloned().collect())
            .unwrap_or_default(),
        any: m.get_flag(select::ANY),
        own,
        eager: !m.get_flag(NOT_EAGER),
        name: m.get_one::<String>(NAME).cloned(),
        // superlance: no dump with an empty -g.
        coredir: m
            .get_one::<PathBuf>(COREDIR)
            .filter(|_| !gcore.trim().is_empty())
            .cloned(),
        restart_on_tls_error: m.get_flag(RESTART_ON_TLS_ERROR),
    })
}

/// superlance's rule: the URL is the last argument (its getopt stopped at the first operand,
/// so anything after the URL was an error there too).
fn url_is_last(m: &ArgMatches) -> Result<(), Error> {
    let Some(url_at) = m.index_of(URL) else {
        return Ok(());
    };
    for id in m.ids() {
        let id = id.as_str();
        if id == URL || m.value_source(id) != Some(ValueSource::CommandLine) {
            continue;
        }
        if m.indices_of(id).and_then(Iterator::max) > Some(url_at) {
            return Err(Error::Usage(format!(
                "the URL must be the last argument: move --{id} before it"
            )));
        }
    }
    Ok(())
}

pub fn run(m: &ArgMatches) -> Result<(), Error> {
    let policy = policy(m, Selection::own_from_env())?;
    // A CA file that cannot be used is a usage error now, as --smtp-ca-file's is.
    let ca_file = m.get_one::<PathBuf>(CA_FILE).cloned();
    let web = HttpWeb::new(ca_file.clone(), policy.timeout).map_err(|e| match e {
        HttpError::CaFile { .. } => Error::Usage(format!("--ca-file: {e}")),
        e => Error::Setup(e.to_string()),
    })?;
    let options::PerEventMail {
        recipients,
        transport,
        config,
    } = options::per_event_mail(m)?;
    // superlance printed "httpok must be run as a supervisor event listener" and went on.
    let supervisor = rpc::Client::from_env().map_err(|e| Error::Setup(e.to_string()))?;
    let cores = Gcore {
        command: m.get_one::<String>(GCORE).cloned().unwrap_or_default(),
        timeout: gcore::TIMEOUT,
    };

    log::info!("{}", describe(&policy, &cores));
    web.log_trust(&policy.url, ca_file.is_some());
    if policy.programs.is_empty() && !policy.any {
        log::warn!(
            "no -p or -a given: a failed check is {} but nothing is restarted{}",
            if recipients.is_empty() {
                "logged"
            } else {
                "mailed"
            },
            if policy.eager {
                ""
            } else {
                "; with -E and nothing to watch, the URL is never checked"
            }
        );
    }
    if let Some(dir) = &policy.coredir {
        if !dir.is_dir() {
            log::warn!(
                "-d {}: not a directory; gcore will fail to write core files there",
                dir.display()
            );
        }
    }
    let others = notify::options::channels(m, "httpok")?;
    let others_too = !others.is_empty();
    let mut outbox =
        options::notifier_for(&recipients, "failed checks", transport, config, others)?;
    notify::options::export_figures(m, "httpok", outbox.as_mut())?;
    let notifies = outbox.is_some();
    let outbox = Arc::new(Mutex::new(outbox));
    let mailer = Mailer {
        recipients,
        others: others_too,
        outbox: Arc::clone(&outbox),
        key: format!("httpok {}", policy.url),
        hostname: notify::options::hostname(m),
    };
    let mut supervisor = supervisor;
    let mut web = web;
    let mut cores = cores;
    let mut memory = Memory::default();
    let tail = crate::crash_context::tail_lines(m).filter(|_| notifies);
    let mut context = tail.map(|lines| {
        log::info!("with the last {lines} lines of stderr of each process it restarts (--tail)");
        crate::crash_context::from_supervisord(lines)
    });
    let worker = Background::start("httpok check", move |()| {
        let report = policy.tick(
            &mut memory,
            &mut supervisor,
            &mut web,
            &mut cores,
            &mut context,
        );
        if let Some(report) = report {
            mailer.send(report);
        }
    })?;
    let mut listener = Httpok { worker, outbox };
    runtime::run(&mut listener)
}

/// The start-up line: what will be checked and what done.
fn describe(p: &Policy, cores: &Gcore) -> String {
    let codes: Vec<String> = p.codes.iter().map(u16::to_string).collect();
    let body = p
        .body
        .as_ref()
        .map(|b| format!(" and a body containing {b:?}"))
        .unwrap_or_default();
    let targets = if p.any {
        let named: Vec<String> = p.programs.iter().map(check::spec_text).collect();
        if named.is_empty() {
            "every RUNNING process except event listeners and httpok itself".to_owned()
        } else {
            format!(
                "every RUNNING process except event listeners and httpok itself, and {}",
                named.join(", ")
            )
        }
    } else if p.programs.is_empty() {
        "nothing".to_owned()
    } else {
        let named: Vec<String> = p.programs.iter().map(check::spec_text).collect();
        format!("{} (when RUNNING)", named.join(", "))
    };
    let dumps = p
        .coredir
        .as_ref()
        .map(|d| {
            format!(
                ", after writing core files to {} with {:?}",
                d.display(),
                cores.command
            )
        })
        .unwrap_or_default();
    let when = if p.eager {
        "on every TICK event"
    } else {
        "on every TICK event while a monitored process is RUNNING (-E)"
    };
    let certificate = match (p.url.address(), p.restart_on_tls_error) {
        (Address::Https { .. }, false) => {
            "; a server certificate that cannot be verified is reported once and restarts \
             nothing"
        }
        (Address::Https { .. }, true) => {
            "; so does a server certificate that cannot be verified (--restart-on-tls-error)"
        }
        _ => "",
    };
    format!(
        "checking {} {when}: GET within {} s, expecting status {}{body}; when that fails, \
         restarting {targets}{dumps}{certificate}",
        p.url,
        p.timeout.as_secs(),
        codes.join(" or "),
    )
}

/// Hands a report to the notifier (the worker thread's side of it).
struct Mailer {
    recipients: Vec<String>,
    /// Channels besides mail (`crate::notify::options`) were given.
    others: bool,
    /// Shared with the listener, which takes it out at shutdown.
    outbox: Arc<Mutex<Option<Notifier>>>,
    /// What flood control counts against: this check.
    key: String,
    /// This machine's name, for the notification.
    hostname: String,
}

impl Mailer {
    fn send(&self, report: Report) {
        if self.recipients.is_empty() && !self.others {
            return;
        }
        let mail = Notification {
            subject: Some(report.subject.clone()),
            text: report.body(),
            extra: report.extra.clone(),
            key: Some(self.key.clone()),
            ..Notification::new(
                Kind::Event,
                "httpok",
                &self.hostname,
                std::time::SystemTime::now(),
            )
        };
        let outbox = self.outbox.lock().unwrap_or_else(PoisonError::into_inner);
        match &*outbox {
            Some(outbox) => {
                let verb = if self.recipients.is_empty() {
                    "notifying"
                } else {
                    "mailing"
                };
                log::info!("{verb}: {}", report.subject);
                outbox.submit(mail);
            }
            None => log::warn!("shutting down: not mailed: {}", report.subject),
        }
    }
}

pub struct Httpok {
    worker: Background<()>,
    outbox: Arc<Mutex<Option<Notifier>>>,
}

impl Listener for Httpok {
    fn handle(&mut self, event: &Event) -> Ack {
        // superlance acted on every event whose name starts with TICK.
        let tick = match event {
            Event::Tick { .. } => true,
            Event::Other { name, .. } => name.starts_with("TICK"),
            _ => false,
        };
        if tick {
            if let Requested::Queued { .. } = self.worker.request(()) {
                log::debug!("the last check is still running: this TICK's check waits for it");
            }
        }
        Ack::Ok
    }

    fn shutdown(&mut self) {
        self.worker.shutdown(JOB_GRACE);
        let outbox = self
            .outbox
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(mut outbox) = outbox {
            outbox.shutdown();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Policy, String> {
        let m = command()
            .try_get_matches_from(std::iter::once("httpok").chain(args.iter().copied()))
            .map_err(|e| e.to_string())?;
        policy(&m, None).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_are_superlance_s() {
        let p = parse(&["http://localhost:8080/x?y=1"]).unwrap();
        assert_eq!(p.url.as_str(), "http://localhost:8080/x?y=1");
        assert_eq!(p.url.path(), "/x?y=1");
        assert_eq!(p.timeout, Duration::from_secs(10));
        assert_eq!(p.retry_interval, Duration::from_secs(10));
        assert_eq!(p.codes, [200]);
        assert_eq!(p.body, None);
        assert!(p.eager && !p.any && p.programs.is_empty());
        assert!(!p.restart_on_tls_error);
        assert_eq!((p.name, p.coredir), (None, None));
    }

    #[test]
    fn every_option() {
        let p = parse(&[
            "-p",
            "web",
            "--program",
            "shop:*",
            "-a",
            "-t",
            "3",
            "-c",
            "200",
            "--code",
            "204",
            "-b",
            "ok",
            "-E",
            "-n",
            "prod",
            "-d",
            "/var/cores",
            "-g",
            "gcore -o",
            "-m",
            "ops@example.com",
            "-s",
            "sendmail -t",
            "--ca-file",
            "/etc/ssl/private-ca.pem",
            "--restart-on-tls-error",
            "https://example.com/",
        ])
        .unwrap();
        assert!(p.restart_on_tls_error);
        assert_eq!(
            p.programs,
            [Spec::Name("web".into()), Spec::Group("shop".into())]
        );
        assert!(p.any && !p.eager);
        assert_eq!(p.timeout, Duration::from_secs(3));
        assert_eq!(p.codes, [200, 204], "-c is repeatable");
        assert_eq!(p.body.as_deref(), Some("ok"));
        assert_eq!(p.name.as_deref(), Some("prod"));
        assert_eq!(p.coredir, Some(PathBuf::from("/var/cores")));
        // The last of -e and -E wins, as in superlance's getopt loop.
        assert!(parse(&["-E", "-e", "http://h/"]).unwrap().eager);
        assert!(!parse(&["-e", "-E", "http://h/"]).unwrap().eager);
        // No dump with an empty -g (superlance).
        assert_eq!(
            parse(&["-d", "/c", "-g", "", "http://h/"]).unwrap().coredir,
            None
        );
        // An empty -b looks at nothing.
        assert_eq!(parse(&["-b", "", "http://h/"]).unwrap().body, None);
    }

    #[test]
    fn a_timeout_below_one_second_is_refused() {
        // superlance B12.
        for bad in ["0", "-1", "0.5", "x", "86401"] {
            let e = parse(&["-t", bad, "http://h/"]).unwrap_err();
            assert!(
                e.contains("the timeout is a whole number of seconds from 1 to 86400"),
                "{bad}: {e}"
            );
        }
        let e = command()
            .try_get_matches_from(["httpok", "-t", "0", "http://h/"])
            .unwrap_err();
        assert_eq!(e.exit_code(), 2, "a usage error");
        assert_eq!(
            parse(&["-t", "1", "http://h/"]).unwrap().timeout,
            Duration::from_secs(1)
        );
    }

    #[test]
    fn codes_are_http_statuses() {
        for bad in ["99", "1000", "OK", ""] {
            assert!(parse(&["-c", bad, "http://h/"]).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_url_is_required_single_and_last() {
        let e = parse(&["-p", "web"]).unwrap_err();
        assert!(e.contains("<URL>"), "{e}");
        let e = parse(&["http://a/", "http://b/"]).unwrap_err();
        assert!(e.contains("unexpected argument 'http://b/'"), "{e}");
        assert_eq!(
            parse(&["http://h/", "-p", "web"]).unwrap_err(),
            "the URL must be the last argument: move --program before it"
        );
        assert_eq!(
            parse(&["http://h/", "-E"]).unwrap_err(),
            "the URL must be the last argument: move --not-eager before it"
        );
        assert!(parse(&["-p", "web", "--", "http://h/"]).is_ok());
    }

    #[test]
    fn only_http_and_https_urls() {
        for bad in [
            "unix:///run/s.sock",
            "ftp://h/",
            "localhost:8080",
            "http://",
        ] {
            assert!(parse(&[bad]).is_err(), "{bad}");
        }
        assert!(parse(&["HTTPS://h:8443"]).is_ok());
    }

    #[test]
    fn bad_program_names_are_usage_errors() {
        let e = parse(&["-p", "a:b:c", "http://h/"]).unwrap_err();
        assert!(e.contains("invalid program"), "{e}");
    }

    #[test]
    fn the_start_up_line_says_what_will_happen() {
        let cores = Gcore {
            command: DEFAULT_GCORE.into(),
            timeout: gcore::TIMEOUT,
        };
        let p = parse(&[
            "-p",
            "web",
            "-c",
            "200",
            "-c",
            "204",
            "-b",
            "ok",
            "http://h/",
        ])
        .unwrap();
        assert_eq!(
            describe(&p, &cores),
            "checking http://h/ on every TICK event: GET within 10 s, expecting status 200 or \
             204 and a body containing \"ok\"; when that fails, restarting web (when RUNNING)"
        );
        let p = parse(&["-a", "-E", "-d", "/c", "http://h/"]).unwrap();
        assert_eq!(
            describe(&p, &cores),
            "checking http://h/ on every TICK event while a monitored process is RUNNING \
             (-E): GET within 10 s, expecting status 200; when that fails, restarting every \
             RUNNING process except event listeners and httpok itself, after writing core \
             files to /c with \"/usr/bin/gcore -o\""
        );
        let p = parse(&["-p", "web", "https://h/"]).unwrap();
        assert!(
            describe(&p, &cores).ends_with(
                "restarting web (when RUNNING); a server certificate that cannot be verified \
                 is reported once and restarts nothing"
            ),
            "{}",
            describe(&p, &cores)
        );
        let p = parse(&["-p", "web", "--restart-on-tls-error", "https://h/"]).unwrap();
        assert!(describe(&p, &cores).ends_with(
            "restarting web (when RUNNING); so does a server certificate that cannot be \
             verified (--restart-on-tls-error)"
        ));
    }

    #[test]
    fn handle_answers_at_once_and_acts_on_ticks_only() {
        let (tx, rx) = std::sync::mpsc::channel();
        let worker = Background::start("test check", move |()| {
            let _ = tx.send(());
            // A slow check: supervisord must not wait for it.
            std::thread::sleep(Duration::from_millis(300));
        })
        .unwrap();
        let mut l = Httpok {
            worker,
            outbox: Arc::new(Mutex::new(None)),
        };
        let started = Duration::from_secs(2);
        let mut handle = |event: Event| {
            let t = std::time::Instant::now();
            assert_eq!(l.handle(&event), Ack::Ok);
            assert!(t.elapsed() < Duration::from_millis(100), "{event:?} waited");
        };
        handle(Event::Tick { period: 5, when: 0 });
        assert!(rx.recv_timeout(started).is_ok(), "TICK_5 started a check");
        handle(Event::Other {
            name: "TICK_7",
            payload: "when:0",
        });
        assert!(
            rx.recv_timeout(started).is_ok(),
            "any TICK_* starts a check"
        );
        handle(Event::Other {
            name: "PROCESS_GROUP_ADDED",
            payload: "",
        });
        assert!(rx.recv_timeout(Duration::from_millis(600)).is_err());
        l.shutdown();
    }
}
