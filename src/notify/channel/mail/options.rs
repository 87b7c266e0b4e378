//! The mail options every mailing listener shares, as clap `Arg` builders (help and man pages
//! come from them), and what they build: the [`Transport`], the sender and the
//! [`OutboxConfig`] ([`MailConfig`]).
//!
//! Two stages, as ripgrep does it: clap checks each value's syntax (a port number, a TLS mode,
//! an address) and reports it as a usage error; [`from_matches`] then builds the objects and
//! checks what needs the file system or several options at once (a password file, a CA file,
//! the spool directory, conflicts), so that a listener finds every mistake at start, not at
//! the first crash it wants to mail about.
//!
//! Long names only: superlance's letters mean different things in each tool (`-p` is a program
//! in crashmail, a password in crashmailbatch; B17), so each listener declares its own letters
//! and passes what they say about mail in a [`Legacy`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::parser::ValueSource;
use clap::{Arg, ArgMatches};

use super::message::{check_address, default_from};
use super::transport::{Credentials, Sendmail, Smtp, SmtpSettings, TlsMode};
use std::sync::Arc;

use super::{MailChannel, Transport};
use crate::notify::channel::Channel;
use crate::notify::notifier::Notifier;
use crate::notify::outbox::{FloodLimit, OutboxConfig};
use crate::Error;

pub const SMTP_HOST: &str = "smtp-host";
pub const SMTP_TLS: &str = "smtp-tls";
pub const SMTP_USER: &str = "smtp-user";
pub const SMTP_PASSWORD_FILE: &str = "smtp-password-file";
pub const SMTP_CA_FILE: &str = "smtp-ca-file";
pub const MAIL_TIMEOUT: &str = "mail-timeout";
pub const FROM: &str = "from";
pub const SPOOL: &str = "spool";
pub const MAX_MAILS: &str = "max-mails";
pub const PER: &str = "per";

/// The other way to give the SMTP password (a command line is visible to every user in `ps`).
pub const PASSWORD_ENV: &str = "SUPERLANCE_SMTP_PASSWORD";

/// superlance's default sendmail command: a local MTA that reads the recipients from the
/// headers (`-t`) and does not treat a lone `.` line as the end (`-i`).
pub const DEFAULT_SENDMAIL: &str = "/usr/sbin/sendmail -t -i";

/// Mails held in memory before the oldest are folded into a digest (no spool).
const QUEUE_CAPACITY: usize = 1000;

/// At SIGTERM, how long queued mail may take; below supervisord's default `stopwaitsecs` (10).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// The shared mail options.
pub fn args() -> Vec<Arg> {
    vec![
        Arg::new(SMTP_HOST)
            .long("smtp-host")
            .value_name("HOST[:PORT]")
            .value_parser(parse_host)
            .help(
                "Send mail over SMTP to this server instead of running the sendmail command \
                 (port default: 465 with --smtp-tls tls, else 25; IPv6 as [ADDR]:PORT)",
            ),
        Arg::new(SMTP_TLS)
            .long("smtp-tls")
            .value_name("MODE")
            .value_parser(TlsMode::NAMES)
            .default_value("auto")
            .help(
                "SMTP encryption: none; starttls (required); tls (implicit, SMTPS); auto \
                 (implicit TLS on port 465, plain text to localhost, else STARTTLS if the \
                 server offers it). Certificates are always verified",
            ),
        Arg::new(SMTP_USER)
            .long("smtp-user")
            .value_name("USER")
            .help(format!(
                "Log in to the SMTP server as USER; the password comes from \
                 --smtp-password-file or the {PASSWORD_ENV} environment variable"
            )),
        Arg::new(SMTP_PASSWORD_FILE)
            .long("smtp-password-file")
            .value_name("FILE")
            .value_parser(clap::value_parser!(PathBuf))
            .help("Read the SMTP password from the first line of FILE"),
        Arg::new(SMTP_CA_FILE)
            .long("smtp-ca-file")
            .value_name("PEM")
            .value_parser(clap::value_parser!(PathBuf))
            .help("Also trust the CA certificates in this PEM file (a private CA)"),
        Arg::new(MAIL_TIMEOUT)
            .long("mail-timeout")
            .value_name("SECS")
            .value_parser(parse_seconds)
            .default_value("30")
            .help(
                "The time limit of one delivery attempt: the sendmail command is killed after \
                 SECS; an SMTP connection or reply that takes longer fails (either way the \
                 mail is retried later)",
            ),
        Arg::new(FROM)
            .long("from")
            .value_name("ADDR")
            .value_parser(parse_from)
            .help(
                "The sender address [default: a -f/-r in the sendmail command, else none (the \
                 MTA writes it); for SMTP supervisor@<fully qualified host name>]",
            ),
        Arg::new(SPOOL)
            .long("spool")
            .value_name("DIR")
            .value_parser(clap::value_parser!(PathBuf))
            .help(
                "Keep each mail in DIR until it is delivered, so that none is lost when the \
                 listener stops or crashes; mail left there is sent at the next start \
                 (created if missing)",
            ),
        Arg::new(MAX_MAILS)
            .long("max-mails")
            .value_name("N")
            .value_parser(clap::value_parser!(u32))
            .default_value("5")
            .help(
                "Flood control: at most N mails per program per window (a window starts with the first mail of that program and lasts --per); the rest are \
                 counted and reported in one digest when the window ends (0: no limit)",
            ),
        Arg::new(PER)
            .long("per")
            .value_name("MINUTES")
            .value_parser(parse_minutes)
            .default_value("10")
            .help("The flood-control window, in minutes (fractions allowed)"),
    ]
}

/// superlance's `-s/--sendmail_program` and `-m/--email`, as crashmail, httpok and memmon
/// name them (and the listeners that mail per event like them); these are their ids.
pub const SENDMAIL_PROGRAM: &str = "sendmail_program";
pub const EMAIL: &str = "email";

/// `-s/--sendmail_program COMMAND`: one definition for every listener that has it.
pub fn sendmail_program_arg() -> Arg {
    Arg::new(SENDMAIL_PROGRAM)
        .short('s')
        .long("sendmail_program")
        .value_name("COMMAND")
        .help(format!(
            "The command that sends a mail given on stdin with its headers [default: \
             {DEFAULT_SENDMAIL}]; ignored with --smtp-host"
        ))
}

/// `-m/--email ADDRESS`, with the listener's own words for what it mails and when.
pub fn email_arg(help: &'static str) -> Arg {
    Arg::new(EMAIL)
        .short('m')
        .long("email")
        .value_name("ADDRESS")
        .help(help)
}

/// What the shared options build besides the transport: the sender and the outbox settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailConfig {
    /// The sender of mails: `--from`, a `-f`/`-r` in the sendmail command, `supervisor@<fqdn>`
    /// for SMTP; `None` writes no From header (the local MTA fills it, as it did for
    /// superlance). The batch tools' `-f` wins over it.
    pub default_from: Option<String>,
    pub outbox: OutboxConfig,
}

/// What crashmail, httpok and memmon need for mail: the `-m` recipients (invalid ones logged
/// and left out), and the transport and outbox settings from `-s` and the shared options.
pub struct PerEventMail {
    pub recipients: Vec<String>,
    /// `None` without a recipient: a listener that notifies through other channels only builds
    /// no transport and says nothing about one (no sendmail warning).
    pub transport: Option<Box<dyn Transport>>,
    pub config: MailConfig,
}

/// Read [`PerEventMail`] from the options of crashmail, httpok or memmon.
pub fn per_event_mail(m: &ArgMatches) -> Result<PerEventMail, Error> {
    let recipients = get::<String>(m, EMAIL)
        .map(|list| recipients(&list, "-m/--email"))
        .unwrap_or_default();
    if recipients.is_empty() {
        let given = get::<String>(m, SENDMAIL_PROGRAM).is_some();
        return Ok(PerEventMail {
            recipients,
            transport: None,
            config: without_mail(m, "-m/--email", given.then_some("-s/--sendmail_program"))?,
        });
    }
    let legacy = Legacy {
        sendmail: get::<String>(m, SENDMAIL_PROGRAM),
        ..Legacy::default()
    };
    let (transport, config) = from_matches(m, legacy)?;
    Ok(PerEventMail {
        recipients,
        transport: Some(transport),
        config,
    })
}

/// The outbox settings of a listener that mails no one (no valid `recipients_flag`): no
/// transport is built. Mail options given anyway are named in one warning line, `legacy` (a
/// listener's own mail option that was given) among them.
pub fn without_mail(
    m: &ArgMatches,
    recipients_flag: &str,
    legacy: Option<&str>,
) -> Result<MailConfig, Error> {
    let mut unused: Vec<String> = legacy.map(str::to_owned).into_iter().collect();
    for id in [
        SMTP_HOST,
        SMTP_TLS,
        SMTP_USER,
        SMTP_PASSWORD_FILE,
        SMTP_CA_FILE,
        MAIL_TIMEOUT,
        FROM,
    ] {
        if from_command_line(m, id) {
            unused.push(format!("--{id}"));
        }
    }
    if !unused.is_empty() {
        log::warn!(
            "{} not used: there is no mail recipient ({recipients_flag})",
            unused.join(", ")
        );
    }
    Ok(MailConfig {
        default_from: None,
        outbox: outbox_config(m)?,
    })
}

/// The notifier of a listener that mails `recipients` about `about` ("restarts") and notifies
/// through `others` (the channels of `crate::notify::options`), mail first; `None` with
/// neither. Either way, what will happen is said in the start-up log.
pub fn notifier_for(
    recipients: &[String],
    about: &str,
    transport: Option<Box<dyn Transport>>,
    config: MailConfig,
    others: Vec<Arc<dyn Channel>>,
) -> Result<Option<Notifier>, Error> {
    let mut channels: Vec<Arc<dyn Channel>> = Vec::with_capacity(others.len() + 1);
    match transport.filter(|_| !recipients.is_empty()) {
        None if others.is_empty() => {
            log::warn!("no valid -m/--email address: {about} are logged, not mailed");
            return Ok(None);
        }
        None => log::info!("no -m/--email: {about} are not mailed"),
        Some(transport) => {
            log::info!(
                "mailing {} about {about}, via {}",
                recipients.join(", "),
                transport.describe()
            );
            let mail = MailChannel::new(recipients.to_vec(), config.default_from, transport);
            channels.push(Arc::new(mail));
        }
    }
    for c in &others {
        log::info!("notifying about {about} via {}", c.describe());
    }
    channels.extend(others);
    Notifier::start(channels, config.outbox).map(Some)
}

/// The addresses of a comma-separated list (`-m`, `--toEmail`), blanks trimmed. An invalid
/// one is logged as an error naming `flag` and left out; the listener stays up (one that
/// exits at start goes FATAL in supervisord and then reports nothing at all).
pub fn recipients(list: &str, flag: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .filter(|a| match check_address(a) {
            Ok(_) => true,
            Err(e) => {
                log::error!(
                    "{flag}: {e}; not mailing it (fix the address and restart the listener)"
                );
                false
            }
        })
        .map(str::to_owned)
        .collect()
}

/// What a listener's superlance-compatible options say about mail. Empty strings count as not
/// given (superlance's batch tools default `-u` and `-p` to "").
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Legacy {
    /// crashmail/httpok/memmon `-s/--sendmail_program`; [`DEFAULT_SENDMAIL`] when neither this
    /// nor an SMTP host is given.
    pub sendmail: Option<String>,
    /// The batch tools' `-H/--smtpHost` (`HOST[:PORT]`). `--smtp-host` wins over it, so a
    /// listener may pass its default (`localhost`) here.
    pub smtp_host: Option<String>,
    /// The batch tools' `-u/--userName`.
    pub user: Option<String>,
    /// The batch tools' `-p/--password`: superlance took the password on the command line
    /// there, so we accept it, only there.
    pub password: Option<String>,
    /// The batch tools' `--tls`: STARTTLS. superlance applied it only with credentials (B15);
    /// it is always applied here.
    pub starttls: bool,
}

impl std::fmt::Debug for Legacy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Legacy")
            .field("sendmail", &self.sendmail)
            .field("smtp_host", &self.smtp_host)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<hidden>"))
            .field("starttls", &self.starttls)
            .finish()
    }
}

/// Build the transport and the outbox settings from the shared options (which `m` must come
/// from a command with [`args`]) and the listener's legacy ones. Reports every problem at
/// start: a usage error (exit 2) for a bad value or a conflict, a setup error (exit 1) for a
/// spool directory that cannot be created or written.
///
/// Which transport, when several are named:
/// - `--smtp-host` (or a legacy `-H`) selects SMTP; a sendmail command given with `-s` as well
///   is not used, with a warning (the listener's help says "ignored with --smtp-host").
/// - `--smtp-host` wins over a legacy `-H`; `--smtp-user` over `-u`.
/// - The password: `--smtp-password-file`, else a legacy `-p`, else `$SUPERLANCE_SMTP_PASSWORD`.
/// - `--smtp-user` without any password is an error; a legacy `-u` without `-p` does not log
///   in, with a warning, as superlance did (it logged in only with both).
/// - SMTP-only options (`--smtp-user`, `--smtp-password-file`, `--smtp-ca-file`, an explicit
///   `--smtp-tls`) without an SMTP host are errors: they would silently do nothing.
/// - A legacy `--tls` with an explicit `--smtp-tls` other than `starttls` is an error.
pub fn from_matches(
    m: &ArgMatches,
    legacy: Legacy,
) -> Result<(Box<dyn Transport>, MailConfig), Error> {
    build(m, legacy, std::env::var(PASSWORD_ENV).ok())
}

/// [`from_matches`] with the environment's password passed in (for tests).
fn build(
    m: &ArgMatches,
    legacy: Legacy,
    env_password: Option<String>,
) -> Result<(Box<dyn Transport>, MailConfig), Error> {
    let timeout = get::<Duration>(m, MAIL_TIMEOUT).unwrap_or(Duration::from_secs(30));
    let (transport, sender) = transport(m, legacy, env_password, timeout)?;
    Ok((
        transport,
        MailConfig {
            default_from: get::<String>(m, FROM).or(sender),
            outbox: outbox_config(m)?,
        },
    ))
}

/// The transport, and the sender it implies when `--from` is not given (issue 16): a
/// `-f`/`-r` in the sendmail command (superlance's documented way to set the sender), else
/// none for sendmail (no From header: the MTA writes it, as for superlance), and
/// `supervisor@<fully qualified host name>` for SMTP, which needs one.
fn transport(
    m: &ArgMatches,
    legacy: Legacy,
    env_password: Option<String>,
    timeout: Duration,
) -> Result<(Box<dyn Transport>, Option<String>), Error> {
    let given = |s: Option<String>| s.filter(|s| !s.is_empty());
    let legacy_host = given(legacy.smtp_host)
        .map(|h| parse_host(&h).map_err(|e| Error::Usage(format!("SMTP host: {e}"))))
        .transpose()?;
    let Some((host, port)) = get::<HostPort>(m, SMTP_HOST)
        .map(|h| (h.host, h.port))
        .or(legacy_host.map(|h| (h.host, h.port)))
    else {
        for id in [SMTP_USER, SMTP_PASSWORD_FILE, SMTP_CA_FILE, SMTP_TLS] {
            if from_command_line(m, id) {
                return Err(Error::Usage(format!(
                    "--{id} needs --smtp-host: without it mail goes to the sendmail command"
                )));
            }
        }
        let command = given(legacy.sendmail).unwrap_or_else(|| DEFAULT_SENDMAIL.to_owned());
        if let Some(problem) = missing_program(&command) {
            log::warn!(
                "the sendmail command {command:?} will fail: {problem}; install an MTA, \
                 give another command, or use --smtp-host"
            );
        }
        let sender = sendmail_sender(&command);
        return Ok((Box::new(Sendmail { command, timeout }), sender));
    };
    if let Some(command) = given(legacy.sendmail) {
        log::warn!("--smtp-host given: the sendmail command {command:?} is not used");
    }

    let flag_tls = get::<String>(m, SMTP_TLS)
        .map(|s| s.parse::<TlsMode>())
        .transpose()
        .map_err(Error::Usage)?
        .unwrap_or(TlsMode::Auto);
    let tls = if legacy.starttls {
        if from_command_line(m, SMTP_TLS) && flag_tls != TlsMode::Starttls {
            return Err(Error::Usage(format!(
                "--tls asks for STARTTLS, --smtp-tls for {}: give one of them",
                get::<String>(m, SMTP_TLS).unwrap_or_default()
            )));
        }
        TlsMode::Starttls
    } else {
        flag_tls
    };

    let flag_user = get::<String>(m, SMTP_USER).filter(|u| !u.is_empty());
    let legacy_user = given(legacy.user);
    let file_password = get::<PathBuf>(m, SMTP_PASSWORD_FILE)
        .map(|p| read_password(&p))
        .transpose()?;
    let legacy_password = given(legacy.password);
    let from_file = file_password.is_some();
    let password = file_password
        .or(legacy_password.clone())
        .or(env_password.filter(|p| !p.is_empty()));
    let credentials = match (flag_user.clone().or(legacy_user), password) {
        (Some(user), Some(password)) => Some(Credentials { user, password }),
        (Some(user), None) if flag_user.is_some() => {
            return Err(Error::Usage(format!(
                "--smtp-user {user} needs a password: --smtp-password-file FILE or the \
                 {PASSWORD_ENV} environment variable"
            )));
        }
        (Some(user), None) => {
            log::warn!("SMTP user {user} given without a password: not logging in");
            None
        }
        (None, Some(_)) if from_file => {
            return Err(Error::Usage(
                "--smtp-password-file needs --smtp-user (the name to log in with)".to_owned(),
            ));
        }
        (None, Some(_)) => {
            if legacy_password.is_some() {
                log::warn!("SMTP password given without a user name: not logging in");
            }
            None
        }
        (None, None) => None,
    };
    if credentials.is_some() && tls == TlsMode::None {
        log::warn!("--smtp-tls none: the SMTP password goes over the network unencrypted");
    }
    let ca_file = get::<PathBuf>(m, SMTP_CA_FILE);
    if ca_file.is_some() && tls == TlsMode::None {
        log::warn!("--smtp-ca-file has no use with --smtp-tls none");
    }
    let smtp = Smtp::new(SmtpSettings {
        port: port.unwrap_or(tls.default_port()),
        host,
        tls,
        credentials,
        ca_file,
        timeout,
    })
    .map_err(Error::Usage)?;
    Ok((Box::new(smtp), Some(default_from())))
}

/// The sender a sendmail command line sets: the value of its `-f ADDR`, `-fADDR`, `-r ADDR`
/// or `-rADDR` (words split on blanks, quotes around a word removed).
fn sendmail_sender(command: &str) -> Option<String> {
    let unquote = |w: &str| {
        w.strip_prefix('\'')
            .and_then(|w| w.strip_suffix('\''))
            .or_else(|| w.strip_prefix('"').and_then(|w| w.strip_suffix('"')))
            .unwrap_or(w)
            .to_owned()
    };
    let mut words = command.split_whitespace().skip(1).map(unquote);
    while let Some(word) = words.next() {
        match word.as_str() {
            "-f" | "-r" => return words.next().filter(|a| check_address(a).is_ok()),
            "--" => return None,
            w if w.starts_with("-f") || w.starts_with("-r") => {
                return Some(w[2..].to_owned()).filter(|a| check_address(a).is_ok());
            }
            _ => {}
        }
    }
    None
}

fn outbox_config(m: &ArgMatches) -> Result<OutboxConfig, Error> {
    // A spool that cannot be used is reported loudly, but the listener still starts and keeps
    // mail in memory: a listener that exits at start goes FATAL in supervisord and then reports
    // nothing at all (issue 3: "an unwritable spool directory ... listener stays up").
    let spool = get::<PathBuf>(m, SPOOL).filter(|dir| match check_spool(dir) {
        Ok(()) => true,
        Err(e) => {
            log::error!("{e}; mail will be kept in memory only (lost if the listener dies) until this is fixed and the listener restarted");
            false
        }
    });
    let max = get::<u32>(m, MAX_MAILS).unwrap_or(5);
    let per = get::<Duration>(m, PER).unwrap_or(Duration::from_secs(600));
    Ok(OutboxConfig {
        spool,
        flood: (max > 0).then_some(FloodLimit { max, per }),
        queue_capacity: QUEUE_CAPACITY,
        shutdown_grace: SHUTDOWN_GRACE,
    })
}

/// A value of ours from `m`, or None (also when a listener forgot to add [`args`]: its
/// defaults then apply, rather than a panic).
fn get<T: Clone + Send + Sync + 'static>(m: &ArgMatches, id: &str) -> Option<T> {
    m.try_get_one::<T>(id).ok().flatten().cloned()
}

fn from_command_line(m: &ArgMatches, id: &str) -> bool {
    m.ids().any(|i| i.as_str() == id) && m.value_source(id) == Some(ValueSource::CommandLine)
}

/// `--spool DIR`: created if missing, and it must take a file now.
fn check_spool(dir: &Path) -> Result<(), String> {
    let name = dir.display();
    std::fs::create_dir_all(dir)
        .map_err(|e| format!("--spool {name}: cannot create the directory: {e}"))?;
    if !dir.is_dir() {
        return Err(format!("--spool {name}: not a directory"));
    }
    let probe = dir.join(format!(".write-test.{}", std::process::id()));
    std::fs::write(&probe, b"").map_err(|e| {
        format!(
            "--spool {name}: cannot write there ({e}); fix its permissions or choose another \
             directory"
        )
    })?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// The first line of the password file, without its line end (spaces are kept: they may be
/// part of the password).
fn read_password(path: &Path) -> Result<String, Error> {
    let name = path.display();
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Usage(format!("--smtp-password-file {name}: cannot read it: {e}")))?;
    let line = text.lines().next().unwrap_or("");
    if line.is_empty() {
        return Err(Error::Usage(format!(
            "--smtp-password-file {name}: the first line is empty"
        )));
    }
    Ok(line.to_owned())
}

/// Why the sendmail command's program cannot run, if that can be told without running it: its
/// first word, when the command is a plain `program args...`, is not an executable file.
fn missing_program(command: &str) -> Option<String> {
    let first = command.split_whitespace().next()?;
    if first.contains(|c: char| "'\"$`\\;&|<>(){}=*?~".contains(c)) {
        return None; // shell syntax: let sh judge
    }
    let executable = |p: &Path| {
        use std::os::unix::fs::PermissionsExt;
        p.metadata()
            .is_ok_and(|md| md.is_file() && md.permissions().mode() & 0o111 != 0)
    };
    if first.contains('/') {
        return (!executable(Path::new(first)))
            .then(|| format!("{first} is not an executable file"));
    }
    let path = std::env::var_os("PATH")?;
    let found = std::env::split_paths(&path).any(|dir| executable(&dir.join(first)));
    (!found && !is_shell_builtin(first)).then(|| format!("{first} is not on PATH"))
}

fn is_shell_builtin(word: &str) -> bool {
    matches!(
        word,
        "exit"
            | "true"
            | "false"
            | "echo"
            | "printf"
            | "read"
            | "exec"
            | ":"
            | "test"
            | "["
            | "eval"
            | "cd"
            | "kill"
    )
}

/// An SMTP server as `--smtp-host` gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    /// A host name or an IP address; IPv6 without brackets.
    pub host: String,
    /// `None`: the TLS mode's default.
    pub port: Option<u16>,
}

/// `HOST`, `HOST:PORT`, `[IPV6]`, `[IPV6]:PORT`, or a bare IPv6 address (no port then).
pub fn parse_host(text: &str) -> Result<HostPort, String> {
    let bad = |why: &str| format!("{text:?} is not HOST[:PORT]: {why}");
    let port = |p: &str| match p.parse::<u16>() {
        Ok(0) | Err(_) => Err(bad("the port must be a number from 1 to 65535")),
        Ok(n) => Ok(Some(n)),
    };
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let Some((host, after)) = rest.split_once(']') else {
            return Err(bad("no ']' after the IPv6 address"));
        };
        match after {
            "" => (host, None),
            _ => match after.strip_prefix(':') {
                Some(p) => (host, port(p)?),
                None => return Err(bad("expected ':PORT' after ']'")),
            },
        }
    } else if text.matches(':').count() > 1 {
        (text, None) // a bare IPv6 address
    } else {
        match text.split_once(':') {
            Some((host, p)) => (host, port(p)?),
            None => (text, None),
        }
    };
    if host.is_empty() {
        return Err(bad("the host is empty"));
    }
    if host
        .chars()
        .any(|c| c.is_whitespace() || c == '/' || c == '@')
    {
        return Err(bad("a host name has no spaces, '/' or '@'"));
    }
    Ok(HostPort {
        host: host.to_owned(),
        port,
    })
}

/// A positive number of seconds, fractions allowed, at most a day.
pub fn parse_seconds(text: &str) -> Result<Duration, String> {
    positive(text, 1.0, 86_400.0, "seconds")
}

/// A positive number of minutes, fractions allowed, at most a week.
pub fn parse_minutes(text: &str) -> Result<Duration, String> {
    positive(text, 60.0, 7.0 * 86_400.0, "minutes")
}

fn positive(text: &str, unit_secs: f64, max_secs: f64, unit: &str) -> Result<Duration, String> {
    let n: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a number of {unit}"))?;
    let secs = n * unit_secs;
    if !(secs.is_finite() && secs > 0.0 && secs <= max_secs) {
        return Err(format!(
            "{text:?}: give more than 0 and at most {} {unit}",
            max_secs / unit_secs
        ));
    }
    Duration::try_from_secs_f64(secs).map_err(|e| format!("{text:?}: {e}"))
}

pub fn parse_from(text: &str) -> Result<String, String> {
    check_address(text).map(|_| text.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Command;

    fn command() -> Command {
        Command::new("t").args(args())
    }

    fn matches(argv: &[&str]) -> ArgMatches {
        command()
            .try_get_matches_from(std::iter::once("t").chain(argv.iter().copied()))
            .unwrap()
    }

    fn parse_error(argv: &[&str]) -> String {
        command()
            .try_get_matches_from(std::iter::once("t").chain(argv.iter().copied()))
            .unwrap_err()
            .to_string()
    }

    fn build_ok(argv: &[&str], legacy: Legacy, env: Option<&str>) -> (String, MailConfig) {
        let (t, c) = build(&matches(argv), legacy, env.map(str::to_owned)).unwrap();
        (t.describe(), c)
    }

    fn build_err(argv: &[&str], legacy: Legacy, env: Option<&str>) -> Error {
        match build(&matches(argv), legacy, env.map(str::to_owned)) {
            Ok((t, _)) => panic!("expected an error, got {}", t.describe()),
            Err(e) => e,
        }
    }

    #[test]
    fn defaults() {
        let (t, c) = build_ok(&[], Legacy::default(), Some("ignored"));
        assert_eq!(t, "sendmail command \"/usr/sbin/sendmail -t -i\"");
        // No From header: the MTA writes it, as for superlance (issue 16).
        assert_eq!(c.default_from, None);
        assert_eq!(c.outbox.spool, None);
        assert_eq!(
            c.outbox.flood,
            Some(FloodLimit {
                max: 5,
                per: Duration::from_secs(600)
            })
        );
        assert_eq!(c.outbox.queue_capacity, 1000);
        assert_eq!(c.outbox.shutdown_grace, Duration::from_secs(5));
    }

    #[test]
    fn legacy_sendmail_and_smtp_wins() {
        let legacy = Legacy {
            sendmail: Some("/bin/cat".into()),
            ..Legacy::default()
        };
        assert_eq!(
            build_ok(&[], legacy.clone(), None).0,
            "sendmail command \"/bin/cat\""
        );
        assert_eq!(
            build_ok(&["--smtp-host", "mx.example.com"], legacy, None).0,
            "SMTP mx.example.com:25 (STARTTLS if offered)"
        );
    }

    #[test]
    fn hosts_ports_and_tls_modes() {
        let d = |argv: &[&str]| build_ok(argv, Legacy::default(), None).0;
        assert_eq!(
            d(&["--smtp-host", "mx:2525", "--smtp-tls", "none"]),
            "SMTP mx:2525 (no TLS)"
        );
        assert_eq!(
            d(&["--smtp-host", "mx", "--smtp-tls", "tls"]),
            "SMTP mx:465 (TLS)"
        );
        assert_eq!(d(&["--smtp-host", "mx:465"]), "SMTP mx:465 (TLS)");
        assert_eq!(
            d(&["--smtp-host", "mx:587", "--smtp-tls", "starttls"]),
            "SMTP mx:587 (STARTTLS)"
        );
        assert_eq!(
            d(&["--smtp-host", "[::1]:2525", "--smtp-tls", "none"]),
            "SMTP [::1]:2525 (no TLS)"
        );
        // --smtp-host wins over the batch tools' -H; -H alone works, with --tls as STARTTLS.
        let legacy = Legacy {
            smtp_host: Some("localhost".into()),
            starttls: true,
            ..Legacy::default()
        };
        assert_eq!(
            build_ok(&[], legacy.clone(), None).0,
            "SMTP localhost:25 (STARTTLS)"
        );
        assert_eq!(
            build_ok(&["--smtp-host", "mx:587"], legacy.clone(), None).0,
            "SMTP mx:587 (STARTTLS)"
        );
        let e = build_err(&["--smtp-tls", "tls"], legacy, None);
        assert!(e.to_string().contains("--tls asks for STARTTLS"), "{e}");
    }

    #[test]
    fn host_syntax() {
        assert_eq!(
            parse_host("mx.example.com:587"),
            Ok(HostPort {
                host: "mx.example.com".into(),
                port: Some(587)
            })
        );
        assert_eq!(
            parse_host("::1"),
            Ok(HostPort {
                host: "::1".into(),
                port: None
            })
        );
        assert_eq!(
            parse_host("[::1]"),
            Ok(HostPort {
                host: "::1".into(),
                port: None
            })
        );
        for bad in [
            "", ":25", "mx:", "mx:0", "mx:70000", "mx:x", "[::1", "[::1]25", "a b", "u@mx",
        ] {
            assert!(parse_host(bad).is_err(), "{bad:?}");
        }
        let e = parse_error(&["--smtp-host", "mx:99999"]);
        assert!(
            e.contains("the port must be a number from 1 to 65535"),
            "{e}"
        );
        let legacy = Legacy {
            smtp_host: Some("mx:x".into()),
            ..Legacy::default()
        };
        assert!(matches!(build_err(&[], legacy, None), Error::Usage(_)));
    }

    #[test]
    fn value_syntax_errors() {
        for argv in [
            &["--smtp-tls", "ssl"][..],
            &["--mail-timeout", "0"],
            &["--mail-timeout", "-1"],
            &["--mail-timeout", "soon"],
            &["--from", "not an address"],
            &["--max-mails", "-1"],
            &["--max-mails", "many"],
            &["--per", "0"],
            &["--per", "NaN"],
        ] {
            parse_error(argv);
        }
    }

    #[test]
    fn values() {
        let m = matches(&[
            "--mail-timeout",
            "1.5",
            "--per",
            "0.5",
            "--max-mails",
            "3",
            "--from",
            "ops@example.com",
        ]);
        let (t, c) = build(&m, Legacy::default(), None).unwrap();
        assert!(t.describe().starts_with("sendmail"));
        assert_eq!(c.default_from.as_deref(), Some("ops@example.com"));
        assert_eq!(
            c.outbox.flood,
            Some(FloodLimit {
                max: 3,
                per: Duration::from_secs(30)
            })
        );
        assert_eq!(
            get::<Duration>(&m, MAIL_TIMEOUT),
            Some(Duration::from_millis(1500))
        );
        let (_, c) = build_ok(&["--max-mails", "0"], Legacy::default(), None);
        assert_eq!(c.outbox.flood, None);
    }

    #[test]
    fn credentials() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pw");
        std::fs::write(&file, "s3cret with space\nsecond line\n").unwrap();
        let file = file.to_str().unwrap();
        let smtp = ["--smtp-host", "mx:587", "--smtp-tls", "starttls"];
        fn with<'a>(extra: &[&'a str]) -> Vec<&'a str> {
            [
                &["--smtp-host", "mx:587", "--smtp-tls", "starttls"][..],
                extra,
            ]
            .concat()
        }

        let d = build_ok(
            &with(&["--smtp-user", "alice", "--smtp-password-file", file]),
            Legacy::default(),
            None,
        )
        .0;
        assert_eq!(d, "SMTP mx:587 (STARTTLS), user alice");
        let d = build_ok(
            &with(&["--smtp-user", "alice"]),
            Legacy::default(),
            Some("from-env"),
        )
        .0;
        assert_eq!(d, "SMTP mx:587 (STARTTLS), user alice");
        // The batch tools' -u/-p.
        let legacy = Legacy {
            user: Some("bob".into()),
            password: Some("pw".into()),
            ..Legacy::default()
        };
        assert_eq!(
            build_ok(&smtp, legacy, None).0,
            "SMTP mx:587 (STARTTLS), user bob"
        );
        // superlance's empty defaults, or -u without -p: no login.
        let legacy = Legacy {
            user: Some("bob".into()),
            password: Some(String::new()),
            ..Legacy::default()
        };
        assert_eq!(build_ok(&smtp, legacy, None).0, "SMTP mx:587 (STARTTLS)");

        let e = build_err(&with(&["--smtp-user", "alice"]), Legacy::default(), None);
        assert!(
            matches!(&e, Error::Usage(m) if m.contains("needs a password")),
            "{e}"
        );
        let e = build_err(
            &with(&["--smtp-password-file", file]),
            Legacy::default(),
            None,
        );
        assert!(
            matches!(&e, Error::Usage(m) if m.contains("needs --smtp-user")),
            "{e}"
        );
        let missing = dir.path().join("nope");
        let e = build_err(
            &with(&[
                "--smtp-user",
                "a",
                "--smtp-password-file",
                missing.to_str().unwrap(),
            ]),
            Legacy::default(),
            None,
        );
        assert!(
            matches!(&e, Error::Usage(m) if m.contains("cannot read it") && m.contains("nope")),
            "{e}"
        );
        let empty = dir.path().join("empty");
        std::fs::write(&empty, "\nx\n").unwrap();
        let e = build_err(
            &with(&[
                "--smtp-user",
                "a",
                "--smtp-password-file",
                empty.to_str().unwrap(),
            ]),
            Legacy::default(),
            None,
        );
        assert!(
            matches!(&e, Error::Usage(m) if m.contains("first line is empty")),
            "{e}"
        );
        assert_eq!(read_password(Path::new(file)).unwrap(), "s3cret with space");
    }

    #[test]
    fn smtp_options_need_a_host() {
        for argv in [
            &["--smtp-user", "alice"][..],
            &["--smtp-password-file", "/dev/null"],
            &["--smtp-ca-file", "/dev/null"],
            &["--smtp-tls", "tls"],
        ] {
            let e = build_err(argv, Legacy::default(), None);
            assert!(
                matches!(&e, Error::Usage(m) if m.contains("needs --smtp-host")),
                "{argv:?}: {e}"
            );
        }
    }

    #[test]
    fn bad_ca_file_is_a_usage_error() {
        let e = build_err(
            &["--smtp-host", "mx", "--smtp-ca-file", "/nonexistent/ca.pem"],
            Legacy::default(),
            None,
        );
        assert!(
            matches!(&e, Error::Usage(m) if m.contains("/nonexistent/ca.pem")),
            "{e}"
        );
        assert_eq!(e.exit_code(), std::process::ExitCode::from(2));
    }

    #[test]
    fn spool_is_created_and_must_be_writable() {
        let dir = tempfile::tempdir().unwrap();
        let spool = dir.path().join("a/b/spool");
        let (_, c) = build_ok(
            &["--spool", spool.to_str().unwrap()],
            Legacy::default(),
            None,
        );
        assert_eq!(c.outbox.spool.as_deref(), Some(spool.as_path()));
        assert!(spool.is_dir());
        assert_eq!(
            std::fs::read_dir(&spool).unwrap().count(),
            0,
            "the probe is removed"
        );
        // Below a regular file: cannot be created, whoever we are (root included).
        let file = dir.path().join("file");
        std::fs::write(&file, "").unwrap();
        // Reported (log::error!), and the listener goes on without a spool.
        let below = file.join("spool");
        assert!(check_spool(&below)
            .is_err_and(|m| m.contains("cannot create") && m.contains("file/spool")));
        let (_, c) = build_ok(
            &["--spool", below.to_str().unwrap()],
            Legacy::default(),
            None,
        );
        assert_eq!(c.outbox.spool, None);
        assert!(check_spool(&file).is_err());
        let (_, c) = build_ok(
            &["--spool", file.to_str().unwrap()],
            Legacy::default(),
            None,
        );
        assert_eq!(c.outbox.spool, None);
    }

    #[test]
    fn missing_programs_are_noticed() {
        assert!(missing_program("/nonexistent/sendmail -t -i").is_some());
        assert!(missing_program("no-such-program-here -t").is_some());
        assert_eq!(missing_program("sh -c 'cat >/dev/null'"), None);
        assert_eq!(missing_program("/bin/cat"), None);
        assert_eq!(missing_program("FOO=1 sendmail"), None);
        assert_eq!(missing_program("exit 1"), None);
    }

    #[test]
    fn legacy_debug_hides_the_password() {
        let l = Legacy {
            password: Some("hunter2".into()),
            ..Legacy::default()
        };
        assert!(!format!("{l:?}").contains("hunter2"));
    }

    #[test]
    fn the_sender_comes_from_the_sendmail_command_or_smtp() {
        // superlance's documented way to set the sender (issue 16).
        for (command, sender) in [
            (
                "/usr/sbin/sendmail -t -i -f sender@domain",
                Some("sender@domain"),
            ),
            (
                "/usr/sbin/sendmail -t -i -fsender@domain",
                Some("sender@domain"),
            ),
            (
                "sendmail -t -r 'alerts@example.com' -i",
                Some("alerts@example.com"),
            ),
            ("sendmail -t -i -f supervisor", Some("supervisor")),
            ("/usr/sbin/sendmail -t -i", None),
            ("/usr/sbin/sendmail -t -i -F 'Full Name'", None),
            ("/usr/sbin/sendmail -t -i -f", None),
        ] {
            let legacy = Legacy {
                sendmail: Some(command.to_owned()),
                ..Legacy::default()
            };
            let (_, c) = build_ok(&[], legacy.clone(), None);
            assert_eq!(c.default_from.as_deref(), sender, "{command}");
            // --from wins.
            let (_, c) = build_ok(&["--from", "x@y.z"], legacy, None);
            assert_eq!(c.default_from.as_deref(), Some("x@y.z"), "{command}");
        }
        let (_, c) = build_ok(&["--smtp-host", "127.0.0.1"], Legacy::default(), None);
        assert_eq!(c.default_from, Some(default_from()));
        assert!(default_from().starts_with("supervisor@"));
    }

    #[test]
    fn without_recipients_no_transport_is_built() {
        // Issue 12: `crashmail -a --webhook URL` must not build (nor warn about) sendmail.
        let cmd = Command::new("t")
            .args(args())
            .arg(sendmail_program_arg())
            .arg(email_arg("mail"));
        let m = |argv: &[&str]| {
            cmd.clone()
                .try_get_matches_from(std::iter::once("t").chain(argv.iter().copied()))
                .unwrap()
        };
        let mail = per_event_mail(&m(&["-s", "/nonexistent/sendmail -t"])).unwrap();
        assert!(mail.transport.is_none() && mail.recipients.is_empty());
        let mail = per_event_mail(&m(&["--max-mails", "3"])).unwrap();
        assert!(mail.transport.is_none());
        assert_eq!(mail.config.outbox.flood.map(|f| f.max), Some(3));
        let mail = per_event_mail(&m(&["-m", "ops@example.com"])).unwrap();
        assert!(mail.transport.is_some());
        // Nothing to notify through at all.
        let n = notifier_for(&[], "crashes", None, mail.config, vec![]).unwrap();
        assert!(n.is_none());
    }
}
