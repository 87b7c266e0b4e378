//! superlance's command lines, made acceptable to clap (issue 16): argv is rewritten before
//! clap sees it, and what was tolerated is said in warnings that the dispatcher logs once
//! logging is set up.
//!
//! superlance parsed with Python's getopt (crashmail, httpok, memmon) and optparse (the batch
//! tools). Three things they accepted that clap refuses, each of which turned an ordinary
//! supervisord.conf line into a listener that exits 2 at start (FATAL: no alerts at all):
//!
//! - **a single-value option given twice** (`-m a -m b`): getopt and optparse kept the last.
//!   clap accepts it too once `Command::args_override_self(true)` is set (the dispatcher sets
//!   it); here we only count, to warn naming the option, how often, and the value used;
//! - **an abbreviated long option** (`--to=x` for `--toEmail`): both took any unique prefix of
//!   a long option. We expand unique prefixes of *superlance's* spellings for the tool only (a
//!   frozen list in each listener's file, `SUPERLANCE_LONGS`), so an option we add later never
//!   changes what an old abbreviation means. An exact name of ours is used as is; a prefix of
//!   several superlance spellings is an error naming them ([`Ambiguous`]); prefixes of our
//!   own options are left to clap, which refuses them with a "similar argument" tip;
//! - **extra operands** (crashmail's usage showed a `URL` operand that it never had): getopt
//!   and optparse returned them and the tools ignored them. For a listener without positional
//!   arguments we drop them with a warning. One with positionals (httpok's URL) gets clap's
//!   own checks: superlance's httpok refused extra operands too.
//!
//! argv is walked as getopt walks it: `--` ends the options; `--name[=value]`; short clusters
//! (`-ap foo`, `-pfoo`); an option that takes a value takes the rest of its cluster, or else
//! the next argument whatever it looks like. Unlike getopt (not optparse), options after an
//! operand are still options, as clap reads them. Which options take values, which are single
//! (`ArgAction::Set`), and the short and long names are read from the listener's clap
//! `Command`, so this module knows nothing of any listener.

use std::ffi::OsString;
use std::iter::Peekable;
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use clap::{Arg, ArgAction, Command};

/// argv as clap should see it, and what to log about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Normalised {
    pub args: Vec<OsString>,
    /// One line per tolerated oddity, to be logged at WARN.
    pub warnings: Vec<String>,
}

/// An abbreviation that starts several of superlance's spellings: getopt and optparse
/// refused it too.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'--{given}' is ambiguous: it could be {}; write the option in full", or_list(.candidates))]
pub struct Ambiguous {
    /// The abbreviation, without `--` and any `=value`.
    pub given: String,
    /// The superlance spellings it starts, in the tool's order.
    pub candidates: Vec<String>,
}

fn or_list(names: &[String]) -> String {
    let names: Vec<String> = names.iter().map(|n| format!("--{n}")).collect();
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => names.concat(),
    }
}

/// What an option does with values, as far as the walk cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Takes {
    /// A flag: `-a`, `--tls`.
    Nothing,
    /// A value, attached or the next argument.
    Value,
    /// An optional value (`--syslog[=FACILITY]`): the next argument only if it does not start
    /// with `-` and `=` is not required, as clap decides.
    Optional { require_equals: bool },
}

/// One option of the command, as the walk needs it.
#[derive(Clone, Copy)]
struct Opt<'a> {
    arg: &'a Arg,
    takes: Takes,
}

impl Opt<'_> {
    /// Single-value options are the ones whose repeats are worth a warning: the earlier
    /// values are dropped. Appending options keep all, flags lose nothing.
    fn single(&self) -> bool {
        matches!(self.arg.get_action(), ArgAction::Set)
    }

    /// `-m/--email`, `--smtp-host`, `-x`.
    fn display(&self) -> String {
        match (self.arg.get_short(), self.arg.get_long()) {
            (Some(s), Some(l)) => format!("-{s}/--{l}"),
            (Some(s), None) => format!("-{s}"),
            (None, Some(l)) => format!("--{l}"),
            (None, None) => self.arg.get_id().to_string(),
        }
    }

    /// Passwords are not written to logs.
    fn secret(&self) -> bool {
        self.arg.get_id().as_str().contains("password")
    }
}

/// How often a single-value option was given, and its last value.
struct Seen {
    id: String,
    display: String,
    secret: bool,
    count: usize,
    last: Option<OsString>,
}

struct Walk<'a> {
    options: Vec<Opt<'a>>,
    seen: Vec<Seen>,
}

impl<'a> Walk<'a> {
    fn new(cmd: &'a Command) -> Walk<'a> {
        let options = cmd
            .get_arguments()
            .filter(|a| !a.is_positional())
            .map(|arg| {
                let range = arg.get_num_args();
                let takes = if !arg.get_action().takes_values()
                    || range.is_some_and(|r| !r.takes_values())
                {
                    Takes::Nothing
                } else if range.is_some_and(|r| r.min_values() == 0) {
                    Takes::Optional {
                        require_equals: arg.is_require_equals_set(),
                    }
                } else {
                    Takes::Value
                };
                Opt { arg, takes }
            })
            .collect();
        Walk {
            options,
            seen: Vec::new(),
        }
    }

    fn long(&self, name: &str) -> Option<Opt<'a>> {
        self.options.iter().copied().find(|o| {
            o.arg.get_long() == Some(name)
                || o.arg
                    .get_all_aliases()
                    .is_some_and(|aliases| aliases.contains(&name))
        })
    }

    fn short(&self, c: char) -> Option<Opt<'a>> {
        self.options.iter().copied().find(|o| {
            o.arg.get_short() == Some(c)
                || o.arg
                    .get_all_short_aliases()
                    .is_some_and(|aliases| aliases.contains(&c))
        })
    }

    /// One warning per single-value option given more than once.
    fn repeats(&self) -> Vec<String> {
        self.seen
            .iter()
            .filter(|s| s.count > 1)
            .map(|s| {
                let used = match (&s.last, s.secret) {
                    (_, true) => "the last one (value not shown)".to_owned(),
                    (Some(v), false) => format!("the last one: '{}'", v.to_string_lossy()),
                    (None, false) => "the last one (no value)".to_owned(),
                };
                format!("{} given {} times; using {used}", s.display, s.count)
            })
            .collect()
    }

    /// Count one use of `opt` if it is single-valued, with the value it was given.
    fn record(&mut self, opt: Opt<'_>, value: Option<&[u8]>) {
        if !opt.single() {
            return;
        }
        let id = opt.arg.get_id().as_str();
        let last = value.map(|v| OsString::from_vec(v.to_vec()));
        match self.seen.iter_mut().find(|s| s.id == id) {
            Some(s) => {
                s.count += 1;
                s.last = last;
            }
            None => self.seen.push(Seen {
                id: id.to_owned(),
                display: opt.display(),
                secret: opt.secret(),
                count: 1,
                last,
            }),
        }
    }
}

/// Rewrite `args` (`args[0]` is the program name) for `cmd`, the listener's full clap
/// command; `superlance_longs` are the long options superlance's tool knew (without `--`).
pub fn normalise(
    cmd: &Command,
    superlance_longs: &[&str],
    args: &[OsString],
) -> Result<Normalised, Ambiguous> {
    // Built: clap adds --help and --version, and settles each option's number of values.
    let mut cmd = cmd.clone();
    cmd.build();
    let has_positionals = cmd.get_positionals().next().is_some();
    let mut walk = Walk::new(&cmd);
    let mut out: Vec<OsString> = args.iter().take(1).cloned().collect();
    let mut ignored: Vec<OsString> = Vec::new();
    let mut rest = args.iter().skip(1).peekable();

    // Set just after an option whose optional value needs `=` (`--syslog`) came without one:
    // an operand there was probably meant as its value, so clap refuses it, as before, rather
    // than us ignoring it (`--syslog local0` must not log to daemon).
    let mut after_bare_optional = false;
    while let Some(token) = rest.next() {
        let bytes = token.as_bytes();
        let operand_is_a_value = std::mem::take(&mut after_bare_optional);
        if bytes == b"--" {
            // The end of the options: what follows is operands.
            out.push(token.clone());
            if has_positionals {
                out.extend(rest.by_ref().cloned());
            } else {
                ignored.extend(rest.by_ref().cloned());
            }
            break;
        }
        if let Some(body) = bytes.strip_prefix(b"--") {
            let (name, value) = match body.iter().position(|&b| b == b'=') {
                Some(i) => (&body[..i], Some(&body[i + 1..])),
                None => (body, None),
            };
            let Some(name) = std::str::from_utf8(name).ok().filter(|n| !n.is_empty()) else {
                out.push(token.clone()); // not an option of ours: clap says so
                continue;
            };
            let opt = match resolve_long(&walk, superlance_longs, name)? {
                Long::Exact(opt) => {
                    out.push(token.clone());
                    opt
                }
                Long::Abbreviated(full, opt) => {
                    out.push(expanded(full, value));
                    opt
                }
                Long::Unknown => {
                    // A prefix of one of our options, or no option at all: clap's to refuse.
                    out.push(token.clone());
                    continue;
                }
            };
            let value: Option<Vec<u8>> = match (value, opt.takes) {
                (Some(v), _) => Some(v.to_vec()),
                (None, Takes::Value) => take_next(&mut rest, &mut out, |_| true),
                (None, Takes::Optional { require_equals }) if !require_equals => {
                    take_next(&mut rest, &mut out, |next| !next.starts_with(b"-"))
                }
                (None, Takes::Optional { .. }) => {
                    after_bare_optional = true;
                    None
                }
                (None, Takes::Nothing) => None,
            };
            walk.record(opt, value.as_deref());
            continue;
        }
        if bytes.len() > 1 && bytes[0] == b'-' {
            // A cluster of short options: flags, then perhaps one that takes a value.
            out.push(token.clone());
            let mut at = 1;
            while let Some(&b) = bytes.get(at) {
                let Some(opt) = b.is_ascii().then(|| walk.short(char::from(b))).flatten() else {
                    break; // unknown: clap says so
                };
                let attached = &bytes[at + 1..];
                match opt.takes {
                    Takes::Nothing => {
                        walk.record(opt, None);
                        at += 1;
                        continue;
                    }
                    Takes::Value if attached.is_empty() => {
                        let value = take_next(&mut rest, &mut out, |_| true);
                        walk.record(opt, value.as_deref());
                    }
                    Takes::Optional { .. } if attached.is_empty() => walk.record(opt, None),
                    // clap reads `-m=x` as `x` (and `-m=` as an empty value).
                    Takes::Value | Takes::Optional { .. } => {
                        walk.record(opt, Some(attached.strip_prefix(b"=").unwrap_or(attached)))
                    }
                }
                break;
            }
            continue;
        }
        // An operand (`-` alone is one too).
        if has_positionals || operand_is_a_value {
            out.push(token.clone());
        } else {
            ignored.push(token.clone());
        }
    }

    let mut warnings = walk.repeats();
    if !ignored.is_empty() {
        let quoted: Vec<String> = ignored
            .iter()
            .map(|a| format!("'{}'", a.to_string_lossy()))
            .collect();
        warnings.push(format!(
            "ignoring {} {}: {} takes no positional arguments (superlance ignored them too)",
            if ignored.len() == 1 {
                "the argument".to_owned()
            } else {
                format!("{} arguments", ignored.len())
            },
            quoted.join(" "),
            cmd.get_name(),
        ));
    }
    Ok(Normalised {
        args: out,
        warnings,
    })
}

/// What a `--name` means.
enum Long<'a, 's> {
    /// One of our long names or aliases (superlance's are among them).
    Exact(Opt<'a>),
    /// A unique prefix of this superlance spelling.
    Abbreviated(&'s str, Opt<'a>),
    Unknown,
}

fn resolve_long<'a, 's>(
    walk: &Walk<'a>,
    superlance_longs: &[&'s str],
    name: &str,
) -> Result<Long<'a, 's>, Ambiguous> {
    if let Some(opt) = walk.long(name) {
        return Ok(Long::Exact(opt));
    }
    let candidates: Vec<&str> = superlance_longs
        .iter()
        .copied()
        .filter(|l| l.starts_with(name))
        .collect();
    match candidates[..] {
        // Every superlance spelling is one of our options (a test checks each listener's).
        [full] => Ok(walk
            .long(full)
            .map_or(Long::Unknown, |opt| Long::Abbreviated(full, opt))),
        [] => Ok(Long::Unknown),
        _ => Err(Ambiguous {
            given: name.to_owned(),
            candidates: candidates.iter().map(|c| (*c).to_owned()).collect(),
        }),
    }
}

/// `--full` or `--full=value`.
fn expanded(full: &str, value: Option<&[u8]>) -> OsString {
    let mut bytes = format!("--{full}").into_bytes();
    if let Some(v) = value {
        bytes.push(b'=');
        bytes.extend_from_slice(v);
    }
    OsString::from_vec(bytes)
}

/// Pass the next argument through as an option's value, if there is one and `wanted` accepts
/// it; returns it.
fn take_next<'t>(
    rest: &mut Peekable<impl Iterator<Item = &'t OsString>>,
    out: &mut Vec<OsString>,
    wanted: impl Fn(&[u8]) -> bool,
) -> Option<Vec<u8>> {
    let next = rest.next_if(|n| wanted(n.as_bytes()))?;
    out.push(next.clone());
    Some(next.as_bytes().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::listener_command;
    use crate::registry::entry;

    /// A command with every kind of option the walk tells apart.
    fn tool() -> Command {
        let set = |id: &'static str, short: char| Arg::new(id).short(short).long(id);
        Command::new("tool")
            .arg(set("program", 'p').action(ArgAction::Append))
            .arg(set("any", 'a').action(ArgAction::SetTrue))
            .arg(set("email", 'm'))
            .arg(set("subject", 's'))
            .arg(set("toEmail", 't'))
            .arg(set("tickEvent", 'e'))
            .arg(set("smtpHost", 'H'))
            .arg(set("password", 'P'))
            .arg(Arg::new("tls").long("tls").action(ArgAction::SetTrue))
            .arg(Arg::new("smtp-host").long("smtp-host"))
            .arg(
                set("group", 'g')
                    .alias("groupname")
                    .action(ArgAction::Append),
            )
            .arg(
                Arg::new("syslog")
                    .long("syslog")
                    .num_args(0..=1)
                    .require_equals(true),
            )
            .arg(Arg::new("level").long("level").num_args(0..=1))
            .args_override_self(true)
    }

    /// superlance's spellings for [`tool`]: not `smtp-host`, `syslog`, `level` (ours).
    const LONGS: &[&str] = &[
        "help",
        "program",
        "any",
        "email",
        "subject",
        "toEmail",
        "tickEvent",
        "smtpHost",
        "password",
        "tls",
        "group",
    ];

    fn with_url() -> Command {
        tool().arg(Arg::new("url").required(true))
    }

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    fn os_s(args: &[&str]) -> Vec<String> {
        args.iter().map(|a| (*a).to_owned()).collect()
    }

    /// The rewritten argv (without argv[0]) and the warnings.
    fn norm(cmd: &Command, longs: &[&str], args: &[&str]) -> (Vec<String>, Vec<String>) {
        let mut all = vec!["tool"];
        all.extend_from_slice(args);
        let n = normalise(cmd, longs, &os(&all)).unwrap();
        assert_eq!(n.args[0], "tool");
        let args = n.args[1..]
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        (args, n.warnings)
    }

    fn ambiguous(cmd: &Command, longs: &[&str], args: &[&str]) -> String {
        let mut all = vec!["tool"];
        all.extend_from_slice(args);
        normalise(cmd, longs, &os(&all)).unwrap_err().to_string()
    }

    /// A listener's full command and its superlance spellings, from the registry.
    fn listener(name: &str) -> (Command, &'static [&'static str]) {
        let e = entry(name).unwrap();
        (listener_command(e), e.superlance_longs)
    }

    #[test]
    fn an_ordinary_command_line_is_left_alone() {
        let args = [
            "-p",
            "web",
            "-a",
            "-m",
            "ops@x",
            "--tls",
            "--smtp-host",
            "h",
            "--syslog",
        ];
        assert_eq!(norm(&tool(), LONGS, &args), (os_s(&args), vec![]));
    }

    #[test]
    fn a_repeated_single_value_option_warns_with_the_value_used() {
        let args = ["-m", "a@x", "--email=b@y", "-mc@z", "-t", "1", "-t", "2"];
        assert_eq!(
            norm(&tool(), LONGS, &args),
            (
                os_s(&args),
                vec![
                    "-m/--email given 3 times; using the last one: 'c@z'".to_owned(),
                    "-t/--toEmail given 2 times; using the last one: '2'".to_owned(),
                ]
            )
        );
    }

    #[test]
    fn repeatable_options_and_flags_repeat_silently() {
        let args = [
            "-p",
            "a",
            "-p",
            "b",
            "-a",
            "-a",
            "--tls",
            "--tls",
            "-g",
            "x=1",
            "--groupname=y=2",
        ];
        assert_eq!(norm(&tool(), LONGS, &args), (os_s(&args), vec![]));
    }

    #[test]
    fn passwords_are_counted_but_not_shown() {
        assert_eq!(
            norm(&tool(), LONGS, &["-P", "s3cret", "--password", "t0p"]).1,
            ["-P/--password given 2 times; using the last one (value not shown)"]
        );
    }

    #[test]
    fn a_unique_prefix_of_a_superlance_spelling_is_expanded_in_both_forms() {
        assert_eq!(
            norm(
                &tool(),
                LONGS,
                &["--to=a@x", "--em", "b@y", "--g", "w=1", "--an"]
            ),
            (
                os_s(&["--toEmail=a@x", "--email", "b@y", "--group", "w=1", "--any"]),
                vec![]
            )
        );
        // Expanded options are counted with their full spelling.
        assert_eq!(
            norm(&tool(), LONGS, &["--su", "one", "-s", "two"]).1,
            ["-s/--subject given 2 times; using the last one: 'two'"]
        );
    }

    #[test]
    fn a_superlance_prefix_wins_over_our_options_but_an_exact_name_of_ours_is_kept() {
        // --smtp starts --smtpHost (superlance's) and --smtp-host (ours): superlance meant
        // --smtpHost, and an option we add can never change that.
        assert_eq!(
            norm(&tool(), LONGS, &["--smtp=h1", "--smtp-host", "h2"]).0,
            os_s(&["--smtpHost=h1", "--smtp-host", "h2"])
        );
        // Our alias is an exact name: kept (clap maps it).
        assert_eq!(
            norm(&tool(), LONGS, &["--groupname", "w=1"]).0,
            os_s(&["--groupname", "w=1"])
        );
    }

    #[test]
    fn prefixes_of_our_own_options_are_left_to_clap() {
        // --smtp-h, --sys, --lev start only options superlance never had: passed through for
        // clap to refuse with its "similar argument" tip.
        let args = ["--smtp-h=x", "--sys", "--lev"];
        assert_eq!(norm(&tool(), LONGS, &args), (os_s(&args), vec![]));
    }

    #[test]
    fn an_ambiguous_prefix_is_refused_naming_the_candidates() {
        assert_eq!(
            ambiguous(&tool(), LONGS, &["--t=a@x"]),
            "'--t' is ambiguous: it could be --toEmail, --tickEvent or --tls; write the option \
             in full"
        );
        assert_eq!(
            ambiguous(&tool(), LONGS, &["--s", "x"]),
            "'--s' is ambiguous: it could be --subject or --smtpHost; write the option in full"
        );
    }

    #[test]
    fn short_clusters_as_getopt_reads_them() {
        // -ap foo: a flag, then -p taking the next argument; -pfoo: the rest is the value;
        // -am=x: clap reads the value as 'x'; -s= is an empty subject, 'op' an operand.
        let args = ["-ap", "foo", "-pbar", "-am=x", "-mz", "-a", "-s=", "op"];
        assert_eq!(
            norm(&tool(), LONGS, &args),
            (
                os_s(&args[..7]),
                vec![
                    "-m/--email given 2 times; using the last one: 'z'".to_owned(),
                    "ignoring the argument 'op': tool takes no positional arguments (superlance \
                     ignored them too)"
                        .to_owned()
                ]
            )
        );
    }

    #[test]
    fn a_value_is_taken_whatever_it_looks_like() {
        // The value of -s is '--sub', not an abbreviation; '-m' after -t is -t's value; the
        // operand after --email's value is still an operand.
        let (args, warnings) = norm(
            &tool(),
            LONGS,
            &["-s", "--sub", "-t", "-m", "--email", "x", "op"],
        );
        assert_eq!(args, os_s(&["-s", "--sub", "-t", "-m", "--email", "x"]));
        assert_eq!(
            warnings,
            [
                "ignoring the argument 'op': tool takes no positional arguments (superlance \
              ignored them too)"
            ]
        );
    }

    #[test]
    fn operands_are_dropped_with_one_warning_when_the_command_has_none() {
        let (args, warnings) = norm(
            &tool(),
            LONGS,
            &["http://example.com/", "-m", "a@x", "-", "--", "-m", "b@y"],
        );
        assert_eq!(args, os_s(&["-m", "a@x", "--"]));
        assert_eq!(
            warnings,
            [
                "ignoring 4 arguments 'http://example.com/' '-' '-m' 'b@y': tool takes no \
              positional arguments (superlance ignored them too)"
            ]
        );
    }

    #[test]
    fn operands_are_left_to_clap_when_the_command_has_positionals() {
        let args = ["-m", "a@x", "http://a/", "http://b/", "--", "-x"];
        assert_eq!(norm(&with_url(), LONGS, &args), (os_s(&args), vec![]));
    }

    #[test]
    fn optional_values() {
        // --syslog needs '=': an operand after it stays for clap to refuse (it is probably
        // meant as the facility); --level takes the next argument unless it is an option.
        assert_eq!(
            norm(&tool(), LONGS, &["--syslog", "local0"]),
            (os_s(&["--syslog", "local0"]), vec![])
        );
        assert_eq!(
            norm(
                &tool(),
                LONGS,
                &["--level", "x", "--level", "-a", "--level=y"]
            ),
            (
                os_s(&["--level", "x", "--level", "-a", "--level=y"]),
                vec!["--level given 3 times; using the last one: 'y'".to_owned()]
            )
        );
        assert_eq!(
            norm(&tool(), LONGS, &["--level=y", "--level"]).1,
            ["--level given 2 times; using the last one (no value)"]
        );
    }

    #[test]
    fn unknown_options_pass_through() {
        // For clap to refuse; the walk goes on after them ('-x1' is not taken as a value).
        let args = ["-x", "-ax", "--nope=1", "--=1", "-m", "a", "-m", "b"];
        assert_eq!(
            norm(&tool(), LONGS, &args),
            (
                os_s(&args),
                vec!["-m/--email given 2 times; using the last one: 'b'".to_owned()]
            )
        );
    }

    #[test]
    fn bytes_that_are_not_utf8_survive() {
        use std::os::unix::ffi::OsStrExt;
        let value = std::ffi::OsStr::from_bytes(b"a\xffb");
        let args = vec![OsString::from("tool"), OsString::from("--em"), value.into()];
        let n = normalise(&tool(), LONGS, &args).unwrap();
        assert_eq!(
            n.args,
            vec![
                OsString::from("tool"),
                OsString::from("--email"),
                value.into()
            ]
        );
        let with_eq = vec![OsString::from("tool"), {
            let mut t = b"--em=".to_vec();
            t.extend_from_slice(b"a\xffb");
            OsString::from_vec(t)
        }];
        let n = normalise(&tool(), LONGS, &with_eq).unwrap();
        assert_eq!(n.args[1].as_bytes(), b"--email=a\xffb");
    }

    // The listeners' own commands, from the registry (issue 16's command lines).

    #[test]
    fn batch_tools_expand_superlance_spellings() {
        let (cmd, longs) = listener("crashmailbatch");
        assert_eq!(
            norm(
                &cmd,
                longs,
                &[
                    "--to=ops@x",
                    "--fr",
                    "sv@x",
                    "--smtp=h:25",
                    "--int=5",
                    "--ti",
                    "TICK_5",
                    "--he"
                ]
            ),
            (
                os_s(&[
                    "--toEmail=ops@x",
                    "--fromEmail",
                    "sv@x",
                    "--smtpHost=h:25",
                    "--interval=5",
                    "--tickEvent",
                    "TICK_5",
                    "--help"
                ]),
                vec![]
            )
        );
        // --from and --smtp-host are ours, exactly.
        assert_eq!(
            norm(&cmd, longs, &["--from", "sv@x", "--smtp-host", "h"]).0,
            os_s(&["--from", "sv@x", "--smtp-host", "h"])
        );
        assert_eq!(
            ambiguous(&cmd, longs, &["--t", "x"]),
            "'--t' is ambiguous: it could be --toEmail, --tickEvent or --tls; write the option \
             in full"
        );
    }

    #[test]
    fn crashmail_memmon_httpok_expand_getopt_spellings() {
        let (cmd, longs) = listener("crashmail");
        assert_eq!(
            norm(
                &cmd,
                longs,
                &["--em=a@x", "--optional=PFX", "--prog=web", "--p", "db"]
            )
            .0,
            os_s(&[
                "--email=a@x",
                "--optionalheader=PFX",
                "--program=web",
                "--program",
                "db"
            ])
        );
        // --smtp is no crashmail spelling of superlance's: left to clap.
        assert_eq!(norm(&cmd, longs, &["--smtp=h"]).0, os_s(&["--smtp=h"]));

        let (cmd, longs) = listener("memmon");
        assert_eq!(
            norm(
                &cmd,
                longs,
                &["--groupname=w=1MB", "--sendm", "cat", "--cum"]
            )
            .0,
            os_s(&[
                "--groupname=w=1MB",
                "--sendmail_program",
                "cat",
                "--cumulative"
            ])
        );
        // --groupn starts only our alias: not inferred.
        assert_eq!(
            norm(&cmd, longs, &["--groupn=w=1"]).0,
            os_s(&["--groupn=w=1"])
        );

        let (cmd, longs) = listener("httpok");
        assert_eq!(
            norm(&cmd, longs, &["--tim", "5", "--not", "http://h/"]).0,
            os_s(&["--timeout", "5", "--not-eager", "http://h/"])
        );
        assert_eq!(
            ambiguous(&cmd, longs, &["--e", "x@y", "http://h/"]),
            "'--e' is ambiguous: it could be --email or --eager; write the option in full"
        );
    }
}
