//! The channel options every notifying listener shares (issue 12): `--webhook`, `--slack`,
//! `--discord`, `--teams`, `--telegram`, `--ntfy`, `--alertmanager`, `--command`, their secret
//! files, `--hostname`, `--proxy`, `--notify-ca-file` and `--notify-timeout`; and what they
//! build: the channels besides mail, for the listener's [`crate::notify::Notifier`]. Also
//! `--metrics-textfile` ([`export_figures`]), which reports on every channel, mail included.
//! Mail has its own options (channel/mail/options.rs). docs/notify.md ("Options") describes
//! them for users.
//!
//! Secrets (a webhook URL is its own credential; a bot or access token) can be kept off the
//! command line, where every user sees them in `ps`. Precedence, per secret:
//! 1. the option itself (`--slack URL`),
//! 2. else its file (`--slack-url-file FILE`: the whole file, surrounding white space trimmed),
//! 3. else its environment variable (`SUPERLANCE_SLACK_URL`), which also turns the channel on.
//!
//! Giving both the option and its file is an error (which one was meant?). `--webhook` is
//! repeatable; `--webhook-url-file` and `SUPERLANCE_WEBHOOK_URL` are one more webhook each
//! way (the variable only when neither option is given). Every mistake is found here, at
//! start, as [`Error::Usage`] (exit 2), and a message names a URL by its origin only.
//!
//! Names clash with no listener's own: httpok's `--ca-file` is its health URL's, hence
//! `--notify-ca-file`; mail's are `--smtp-*` and `--mail-timeout`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Arg, ArgAction, ArgMatches};

use crate::http::{Client, Options, Proxies};
use crate::notify::channel::command::{CommandChannel, DEFAULT_TIMEOUT as COMMAND_TIMEOUT};
use crate::notify::channel::mail::options::parse_seconds;
use crate::notify::channel::{alertmanager, discord, ntfy, slack, teams, telegram, webhook};
use crate::notify::channels::telegram::{parse_token, DEFAULT_API};
use crate::notify::channels::webhook::Header;
use crate::notify::textfile::Textfile;
use crate::notify::{Channel, Notifier};
use crate::Error;

/// `--hostname NAME`: the host name put in every chat and webhook message.
pub const HOSTNAME: &str = "hostname";
pub const WEBHOOK: &str = "webhook";
pub const WEBHOOK_URL_FILE: &str = "webhook-url-file";
pub const WEBHOOK_HEADER: &str = "webhook-header";
pub const SLACK: &str = "slack";
pub const SLACK_URL_FILE: &str = "slack-url-file";
pub const DISCORD: &str = "discord";
pub const DISCORD_URL_FILE: &str = "discord-url-file";
pub const TEAMS: &str = "teams";
pub const TEAMS_URL_FILE: &str = "teams-url-file";
pub const TELEGRAM: &str = "telegram";
pub const TELEGRAM_TOKEN_FILE: &str = "telegram-token-file";
pub const TELEGRAM_API: &str = "telegram-api";
pub const NTFY: &str = "ntfy";
pub const NTFY_TOKEN_FILE: &str = "ntfy-token-file";
pub const ALERTMANAGER: &str = "alertmanager";
pub const COMMAND: &str = "command";
pub const COMMAND_TIMEOUT_ARG: &str = "command-timeout";
pub const PROXY: &str = "proxy";
pub const NOTIFY_CA_FILE: &str = "notify-ca-file";
pub const NOTIFY_TIMEOUT: &str = "notify-timeout";
pub const METRICS_TEXTFILE: &str = "metrics-textfile";

/// The environment's way to give each secret.
pub const SLACK_ENV: &str = "SUPERLANCE_SLACK_URL";
pub const DISCORD_ENV: &str = "SUPERLANCE_DISCORD_URL";
pub const TEAMS_ENV: &str = "SUPERLANCE_TEAMS_URL";
pub const WEBHOOK_ENV: &str = "SUPERLANCE_WEBHOOK_URL";
pub const TELEGRAM_TOKEN_ENV: &str = "SUPERLANCE_TELEGRAM_TOKEN";

/// An HTTP channel's whole-request timeout unless `--notify-timeout` says otherwise.
pub const DEFAULT_HTTP_TIMEOUT: Duration = Duration::from_secs(10);

fn url_arg(id: &'static str, help: &'static str) -> Arg {
    Arg::new(id).long(id).value_name("URL").help(help)
}

fn file_arg(id: &'static str, help: impl Into<String>) -> Arg {
    Arg::new(id)
        .long(id)
        .value_name("FILE")
        .value_parser(clap::value_parser!(PathBuf))
        .help(help.into())
}

/// The shared channel options, as clap `Arg`s (help and man pages come from them).
pub fn args() -> Vec<Arg> {
    vec![
        Arg::new(HOSTNAME)
            .long("hostname")
            .value_name("NAME")
            .help("The host name in chat and webhook notifications [default: this machine's name]"),
        url_arg(WEBHOOK, "POST each notification as JSON (schema v1, docs/notify.md) to URL (repeatable)")
            .action(ArgAction::Append),
        file_arg(WEBHOOK_URL_FILE, format!("One more webhook, its URL read from FILE [or ${WEBHOOK_ENV}]")),
        Arg::new(WEBHOOK_HEADER)
            .long(WEBHOOK_HEADER)
            .value_name("'NAME: VALUE'")
            .action(ArgAction::Append)
            .help("Add this header to every webhook request, e.g. a token (repeatable)"),
        url_arg(SLACK, "Post to this Slack incoming webhook URL"),
        file_arg(SLACK_URL_FILE, format!("Read the Slack webhook URL from FILE [or ${SLACK_ENV}]")),
        url_arg(DISCORD, "Post to this Discord webhook URL"),
        file_arg(DISCORD_URL_FILE, format!("Read the Discord webhook URL from FILE [or ${DISCORD_ENV}]")),
        url_arg(TEAMS, "Post an Adaptive Card to this Teams Workflows webhook URL"),
        file_arg(TEAMS_URL_FILE, format!("Read the Teams webhook URL from FILE [or ${TEAMS_ENV}]")),
        Arg::new(TELEGRAM)
            .long(TELEGRAM)
            .value_name("CHAT_ID")
            .help("Send to this Telegram chat (numeric id or @channel) with the bot token from --telegram-token-file"),
        file_arg(TELEGRAM_TOKEN_FILE, format!("Read the Telegram bot token from FILE [or ${TELEGRAM_TOKEN_ENV}]")),
        url_arg(TELEGRAM_API, "The Telegram Bot API's base URL [default: https://api.telegram.org]"),
        url_arg(NTFY, "Publish to this ntfy topic URL, e.g. https://ntfy.sh/mytopic"),
        file_arg(NTFY_TOKEN_FILE, "Read an ntfy access token from FILE (for a protected topic)"),
        url_arg(ALERTMANAGER, "Post alerts to this Prometheus Alertmanager, e.g. http://localhost:9093"),
        Arg::new(COMMAND)
            .long(COMMAND)
            .value_name("CMD")
            .action(ArgAction::Append)
            .help("Run 'sh -c CMD' per notification: its text on stdin, SUPERLANCE_* variables in the environment (repeatable)"),
        Arg::new(COMMAND_TIMEOUT_ARG)
            .long(COMMAND_TIMEOUT_ARG)
            .value_name("SECS")
            .value_parser(parse_seconds)
            .help("Kill a --command still running after SECS seconds, and retry [default: 30]"),
        url_arg(PROXY, "Send the HTTP channels through this proxy [default: $HTTPS_PROXY/$HTTP_PROXY, except $NO_PROXY]"),
        file_arg(NOTIFY_CA_FILE, "Also trust these PEM CA certificates for the HTTP channels (a private CA)"),
        Arg::new(NOTIFY_TIMEOUT)
            .long(NOTIFY_TIMEOUT)
            .value_name("SECS")
            .value_parser(parse_seconds)
            .help("Give up on an HTTP channel's request after SECS seconds, and retry [default: 10]"),
        Arg::new(METRICS_TEXTFILE)
            .long(METRICS_TEXTFILE)
            .value_name("PATH")
            .value_parser(clap::value_parser!(PathBuf))
            .help("Keep the delivery figures (delivered, failed, retries, queue) in PATH for node_exporter's textfile collector (name it *.prom)"),
    ]
}

/// `--metrics-textfile PATH`: have `notifier` (`None`: the listener notifies nobody, which is
/// said) keep its delivery figures there, labelled with `listener` and the process name
/// supervisord gave us.
pub fn export_figures(
    m: &ArgMatches,
    listener: &str,
    notifier: Option<&mut Notifier>,
) -> Result<(), Error> {
    let Some(path) = one::<PathBuf>(m, METRICS_TEXTFILE) else {
        return Ok(());
    };
    let Some(notifier) = notifier else {
        log::warn!(
            "--metrics-textfile {}: no channel to notify through, so no delivery figures; not written",
            path.display()
        );
        return Ok(());
    };
    let process = std::env::var("SUPERVISOR_PROCESS_NAME")
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| listener.to_owned());
    notifier.export(Textfile {
        path,
        listener: listener.to_owned(),
        process,
    })
}

/// `--hostname`, else this machine's short name.
pub fn hostname(m: &ArgMatches) -> String {
    m.try_get_one::<String>(HOSTNAME)
        .ok()
        .flatten()
        .cloned()
        .unwrap_or_else(crate::hostname::short)
}

/// The channels the options name, besides mail, for the listener `listener`; checked now
/// (URLs, secret files, headers), so that a mistake is found at start.
pub fn channels(m: &ArgMatches, listener: &str) -> Result<Vec<Arc<dyn Channel>>, Error> {
    build(m, |name| std::env::var(name).ok()).map_err(|e| {
        log::debug!("{listener}: a channel option is wrong: {e}");
        Error::Usage(e)
    })
}

/// A value of ours from `m`, or None (also for a listener without [`args`]).
fn one<T: Clone + Send + Sync + 'static>(m: &ArgMatches, id: &str) -> Option<T> {
    m.try_get_one::<T>(id).ok().flatten().cloned()
}

fn many(m: &ArgMatches, id: &str) -> Vec<String> {
    m.try_get_many::<String>(id)
        .ok()
        .flatten()
        .map(|v| v.cloned().collect())
        .unwrap_or_default()
}

/// A secret file's content, trimmed; the message never quotes it.
fn read_secret(flag: &str, path: &PathBuf) -> Result<String, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("--{flag} {}: cannot read it: {e}", path.display()))?;
    let text = text.trim();
    if text.is_empty() {
        return Err(format!("--{flag} {}: the file is empty", path.display()));
    }
    Ok(text.to_owned())
}

/// The option, else its file, else its environment variable (see the module documentation).
fn secret(
    m: &ArgMatches,
    option: &str,
    file: &str,
    env: &str,
    var: &impl Fn(&str) -> Option<String>,
) -> Result<Option<String>, String> {
    let given = one::<String>(m, option);
    let path = one::<PathBuf>(m, file);
    match (given, path) {
        (Some(_), Some(_)) => Err(format!(
            "--{option} and --{file} both given: give the URL one way only"
        )),
        (Some(v), None) => Ok(Some(v)),
        (None, Some(p)) => read_secret(file, &p).map(Some),
        (None, None) => Ok(var(env)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())),
    }
}

/// [`channels`] with the environment read through `var` (tests give their own).
fn build(
    m: &ArgMatches,
    var: impl Fn(&str) -> Option<String>,
) -> Result<Vec<Arc<dyn Channel>>, String> {
    let mut out: Vec<Arc<dyn Channel>> = Vec::new();
    let client = || -> Result<Arc<Client>, String> {
        let proxy = Proxies::from_vars(one::<String>(m, PROXY).as_deref(), &var)
            .map_err(|e| format!("--{PROXY}: {e}"))?;
        let timeout = one::<Duration>(m, NOTIFY_TIMEOUT).unwrap_or(DEFAULT_HTTP_TIMEOUT);
        let options = Options {
            connect_timeout: timeout.min(Options::default().connect_timeout),
            timeout,
            ca_file: one::<PathBuf>(m, NOTIFY_CA_FILE),
            proxy,
            ..Options::default()
        };
        Client::new(options)
            .map(Arc::new)
            .map_err(|e| format!("--{NOTIFY_CA_FILE}: {e}"))
    };
    // Built once, shared by every HTTP channel, and only when there is one: a bad proxy or
    // CA file is an error only where it would be used.
    let mut shared: Option<Arc<Client>> = None;
    let http = |shared: &mut Option<Arc<Client>>| -> Result<Arc<Client>, String> {
        if let Some(c) = shared {
            return Ok(Arc::clone(c));
        }
        let c = client()?;
        *shared = Some(Arc::clone(&c));
        Ok(c)
    };

    // --webhook (repeatable), --webhook-url-file, $SUPERLANCE_WEBHOOK_URL.
    let mut urls = many(m, WEBHOOK);
    if let Some(p) = one::<PathBuf>(m, WEBHOOK_URL_FILE) {
        urls.push(read_secret(WEBHOOK_URL_FILE, &p)?);
    }
    if urls.is_empty() {
        urls.extend(
            var(WEBHOOK_ENV)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty()),
        );
    }
    let headers = many(m, WEBHOOK_HEADER)
        .iter()
        .map(|h| Header::parse(h).map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    if urls.is_empty() && !headers.is_empty() {
        return Err(format!(
            "--{WEBHOOK_HEADER} needs a webhook (--{WEBHOOK}, --{WEBHOOK_URL_FILE} or ${WEBHOOK_ENV})"
        ));
    }
    for (i, url) in urls.into_iter().enumerate() {
        let name = numbered(WEBHOOK, i);
        let c = webhook::channel(name, url, headers.clone(), http(&mut shared)?)?;
        out.push(Arc::new(c));
    }

    type Preset = fn(
        String,
        String,
        Arc<Client>,
    ) -> Result<crate::notify::channel::http::HttpChannel, String>;
    let presets: [(&str, &str, &str, Preset); 3] = [
        (SLACK, SLACK_URL_FILE, SLACK_ENV, slack::channel),
        (DISCORD, DISCORD_URL_FILE, DISCORD_ENV, discord::channel),
        (TEAMS, TEAMS_URL_FILE, TEAMS_ENV, teams::channel),
    ];
    for (option, file, env, make) in presets {
        if let Some(url) = secret(m, option, file, env, &var)? {
            out.push(Arc::new(make(option.to_owned(), url, http(&mut shared)?)?));
        }
    }

    // --telegram CHAT_ID with its token.
    match one::<String>(m, TELEGRAM) {
        Some(chat) => {
            let chat = chat.trim().to_owned();
            if chat.is_empty() {
                return Err(format!(
                    "--{TELEGRAM}: give a chat id (a number, or @channel)"
                ));
            }
            let token = match one::<PathBuf>(m, TELEGRAM_TOKEN_FILE) {
                Some(p) => read_secret(TELEGRAM_TOKEN_FILE, &p)?,
                None => var(TELEGRAM_TOKEN_ENV).ok_or_else(|| {
                    format!(
                        "--{TELEGRAM} needs the bot token: --{TELEGRAM_TOKEN_FILE} FILE or ${TELEGRAM_TOKEN_ENV}"
                    )
                })?,
            };
            let token = parse_token(&token).map_err(|e| e.to_string())?;
            let api = one::<String>(m, TELEGRAM_API).unwrap_or_else(|| DEFAULT_API.to_owned());
            out.push(Arc::new(telegram::channel(
                TELEGRAM.to_owned(),
                api,
                token,
                chat,
                http(&mut shared)?,
            )?));
        }
        None => {
            for id in [TELEGRAM_TOKEN_FILE, TELEGRAM_API] {
                if one::<PathBuf>(m, id).is_some() || one::<String>(m, id).is_some() {
                    return Err(format!("--{id} needs --{TELEGRAM} CHAT_ID"));
                }
            }
        }
    }

    // --ntfy URL, its token.
    let ntfy_token = match one::<PathBuf>(m, NTFY_TOKEN_FILE) {
        Some(p) => Some(read_secret(NTFY_TOKEN_FILE, &p)?),
        None => None,
    };
    match one::<String>(m, NTFY) {
        Some(url) => out.push(Arc::new(ntfy::channel(
            NTFY.to_owned(),
            url,
            ntfy_token,
            http(&mut shared)?,
        )?)),
        None if ntfy_token.is_some() => {
            return Err(format!("--{NTFY_TOKEN_FILE} needs --{NTFY} URL"));
        }
        None => {}
    }

    if let Some(url) = one::<String>(m, ALERTMANAGER) {
        out.push(Arc::new(alertmanager::channel(
            ALERTMANAGER.to_owned(),
            url,
            http(&mut shared)?,
        )?));
    }

    let timeout = one::<Duration>(m, COMMAND_TIMEOUT_ARG);
    let commands = many(m, COMMAND);
    for (i, cmd) in commands.iter().enumerate() {
        if cmd.trim().is_empty() {
            return Err(format!("--{COMMAND}: the command is empty"));
        }
        out.push(Arc::new(CommandChannel::new(
            numbered(COMMAND, i),
            cmd.clone(),
            timeout.unwrap_or(COMMAND_TIMEOUT),
        )));
    }
    if commands.is_empty() && timeout.is_some() {
        return Err(format!("--{COMMAND_TIMEOUT_ARG} needs --{COMMAND}"));
    }
    if shared.is_none() {
        for id in [PROXY, NOTIFY_TIMEOUT, NOTIFY_CA_FILE] {
            if m.try_contains_id(id).unwrap_or(false) {
                return Err(format!(
                    "--{id} is for the HTTP channels, and none is given (--webhook, --slack, ...)"
                ));
            }
        }
    }
    Ok(out)
}

/// `webhook`, `webhook-2`, `webhook-3`: each channel's name (its spool directory) is unique.
fn numbered(base: &str, i: usize) -> String {
    if i == 0 {
        base.to_owned()
    } else {
        format!("{base}-{}", i + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn matches(argv: &[&str]) -> ArgMatches {
        clap::Command::new("crashmail")
            .args(args())
            .try_get_matches_from(std::iter::once("crashmail").chain(argv.iter().copied()))
            .unwrap()
    }

    fn names(argv: &[&str], env: &[(&str, &str)]) -> Result<Vec<(String, String)>, String> {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        build(&matches(argv), |k| env.get(k).cloned()).map(|cs| {
            cs.iter()
                .map(|c| (c.name().to_owned(), c.describe()))
                .collect()
        })
    }

    fn secret_file(text: &str) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), text).unwrap();
        f
    }

    #[test]
    fn no_option_no_channel() {
        assert_eq!(names(&[], &[]).unwrap(), []);
    }

    #[test]
    fn every_channel_by_its_option_named_uniquely_and_shown_by_origin() {
        let token = secret_file("123:abc_DEF\n");
        let got = names(
            &[
                "--webhook=https://a.example/x/s3cr3t",
                "--webhook=https://b.example/y",
                "--webhook-header=Authorization: Bearer t0k3n",
                "--slack=https://hooks.slack.com/services/T/B/s3cr3t",
                "--discord=https://discord.com/api/webhooks/1/s3cr3t",
                "--teams=https://x.logic.azure.com/workflows/s3cr3t",
                "--telegram=-100123",
                &format!("--telegram-token-file={}", token.path().display()),
                "--ntfy=https://ntfy.sh/s3cr3t",
                "--alertmanager=http://am:9093",
                "--command=logger -t superlance",
                "--command=true",
            ],
            &[],
        )
        .unwrap();
        let want = [
            ("webhook", "webhook https://a.example"),
            ("webhook-2", "webhook https://b.example"),
            ("slack", "slack https://hooks.slack.com"),
            ("discord", "discord https://discord.com"),
            ("teams", "teams https://x.logic.azure.com"),
            ("telegram", "telegram https://api.telegram.org"),
            ("ntfy", "ntfy https://ntfy.sh"),
            ("alertmanager", "alertmanager http://am:9093"),
            ("command", "command \"logger …\""),
            ("command-2", "command \"true\""),
        ];
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn secrets_precedence_option_then_file_then_environment() {
        let file = secret_file("https://file.example/s3cr3t\n");
        let env = [(SLACK_ENV, "https://env.example/s3cr3t")];
        let f = format!("--slack-url-file={}", file.path().display());
        assert_eq!(
            names(&["--slack=https://opt.example/x"], &env).unwrap()[0].1,
            "slack https://opt.example"
        );
        assert_eq!(
            names(&[&f], &env).unwrap()[0].1,
            "slack https://file.example"
        );
        assert_eq!(names(&[], &env).unwrap()[0].1, "slack https://env.example");
        let both = names(&["--slack=https://opt.example/x", &f], &env).unwrap_err();
        assert!(both.contains("both given"), "{both}");
        // Telegram: the file, else the environment; without either, an error.
        assert_eq!(
            names(&["--telegram=@ops"], &[(TELEGRAM_TOKEN_ENV, "1:x")]).unwrap()[0].0,
            "telegram"
        );
        let e = names(&["--telegram=@ops"], &[]).unwrap_err();
        assert!(e.contains("--telegram-token-file"), "{e}");
        // The webhook's variable only when no option names one.
        let env = [(WEBHOOK_ENV, "https://env.example/h")];
        assert_eq!(names(&[], &env).unwrap().len(), 1);
        assert_eq!(
            names(&["--webhook=https://opt.example/h"], &env).unwrap()[0].1,
            "webhook https://opt.example"
        );
    }

    #[test]
    fn mistakes_are_found_at_start_without_the_secret() {
        for (argv, says) in [
            (vec!["--slack=ftp://x.example/s3cr3t"], "--slack"),
            (vec!["--webhook=not a url s3cr3t"], "--webhook"),
            (vec!["--webhook-header=X: s3cr3t"], "needs a webhook"),
            (
                vec!["--webhook=http://x/", "--webhook-header=X\nY: s3cr3t"],
                "--webhook-header",
            ),
            (vec!["--ntfy-token-file=/nonexistent/token"], "cannot read"),
            (vec!["--command-timeout=5"], "needs --command"),
            (vec!["--proxy=http://p:3128"], "HTTP channels"),
            (
                vec!["--webhook=http://x/", "--proxy=ftp://p/s3cr3t"],
                "--proxy",
            ),
            (
                vec!["--telegram=1", "--telegram-api=http://x/s3cr3t"],
                "bot token",
            ),
        ] {
            let e = names(&argv, &[]).unwrap_err();
            assert!(e.contains(says), "{argv:?}: {e}");
            assert!(!e.contains("s3cr3t"), "{argv:?}: {e}");
        }
        // As an Error: a usage error, exit 2.
        let m = matches(&["--command-timeout=5"]);
        assert!(matches!(channels(&m, "crashmail"), Err(Error::Usage(_))));
    }
}
