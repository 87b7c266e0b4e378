//! The rows of the main table: what each variant runs ([`Kind`], [`Variant`]) and the list
//! the bench runs, with the sinks its crash rows deliver to.

use std::fs;
use std::path::PathBuf;

use crate::*;

// Variants, and the machinery that drives them.

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Floor,
    NoMatch,
    Action,
    Python,
    /// crashmail configured to mail, fed expected exits: acknowledged without a mail.
    NoMail,
    /// crashmail fed unexpected exits, each mailed through the sendmail command.
    CrashSendmail,
    /// The same, mailed over SMTP to the bench's sink ([`SmtpSink`]).
    CrashSmtp,
    /// The same with every kind of channel at once (issue 12): mail over SMTP, a webhook and
    /// a command, each with its own queue and delivery thread (tests/bench/channels.rs).
    CrashChannels,
    /// A batch mailer (issue #4) fed expected exits: nothing to collect.
    BatchQuiet,
    /// A batch mailer fed crashes: each line collected for the next batch (no TICK comes).
    BatchCollect,
    /// memmon or httpok (issue #5) fed RUNNING events: not acted on.
    WorkerQuiet,
    /// memmon or httpok fed TICK_5: each handed to its background worker (checks against an
    /// absent supervisord, so they fail fast and are coalesced while one runs).
    WorkerTick,
    /// metrics (issue 14) fed RUNNING events: each counted (a transition, the state, the pid)
    /// under the mutex its HTTP server shares.
    Metrics,
}

impl Kind {
    pub(crate) fn short(self) -> &'static str {
        match self {
            Kind::Floor => "floor",
            Kind::NoMatch => "nomatch",
            Kind::Action => "action",
            Kind::Python => "python",
            Kind::NoMail => "nomail",
            Kind::CrashSendmail => "crash-sendmail",
            Kind::CrashSmtp => "crash-smtp",
            Kind::CrashChannels => "crash-channels",
            Kind::BatchQuiet => "batch-quiet",
            Kind::BatchCollect => "batch-collect",
            Kind::WorkerQuiet => "worker-quiet",
            Kind::WorkerTick => "worker-tick",
            Kind::Metrics => "metrics",
        }
    }

    /// The event this variant is fed.
    pub(crate) fn shape(self) -> Shape {
        match self {
            Kind::Floor
            | Kind::NoMatch
            | Kind::Action
            | Kind::Python
            | Kind::WorkerQuiet
            | Kind::Metrics => Shape::Running,
            Kind::NoMail | Kind::BatchQuiet => Shape::Exited { expected: true },
            Kind::CrashSendmail | Kind::CrashSmtp | Kind::CrashChannels | Kind::BatchCollect => {
                Shape::Exited { expected: false }
            }
            Kind::WorkerTick => Shape::Tick,
        }
    }

    /// A listener that delivers mail in the background: stopped between its turns (see
    /// [`Running::pause`]).
    pub(crate) fn mails(self) -> bool {
        matches!(
            self,
            Kind::CrashSendmail | Kind::CrashSmtp | Kind::CrashChannels
        )
    }
}

pub(crate) struct Variant {
    pub(crate) kind: Kind,
    pub(crate) label: &'static str,
    pub(crate) program: PathBuf,
    pub(crate) args: Vec<String>,
    /// Extra environment (memmon and httpok need a SUPERVISOR_SERVER_URL).
    pub(crate) env: Vec<(&'static str, &'static str)>,
}

/// The rows to run and what they need kept alive meanwhile.
pub(crate) struct Rows {
    pub(crate) variants: Vec<Variant>,
    pub(crate) sinks: Sinks,
    pub(crate) superlance: PathBuf,
    /// Lines for the run's header: the Python row, the sinks.
    pub(crate) notes: Vec<String>,
    /// BENCH_ONLY=metrics or channels: a subset.
    pub(crate) only_metrics: bool,
    pub(crate) only_channels: bool,
    /// The Python row's script, deleted when dropped.
    pub(crate) _script: tempfile::NamedTempFile,
}

/// Every row of the table (or BENCH_ONLY's subset), its sinks bound.
pub(crate) fn rows() -> Result<Rows, String> {
    let mut notes = Vec::new();
    let me = std::env::current_exe().map_err(|e| format!("cannot find this executable: {e}"))?;
    // Built by cargo with this bench's profile, `bench`, which inherits `release`.
    let superlance = PathBuf::from(env!("CARGO_BIN_EXE_superlance"));
    let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let mut variants = vec![
        Variant {
            kind: Kind::Floor,
            label: "floor: minimal framing listener",
            program: me,
            args: args(&[MINIMAL_FLAG]),
            env: Vec::new(),
        },
        Variant {
            kind: Kind::NoMatch,
            label: "superlance oom_score_adj -p nomatch -s 500: no match",
            program: superlance.clone(),
            args: args(&["oom_score_adj", "-p", "nomatch", "-s", "500"]),
            env: Vec::new(),
        },
        Variant {
            kind: Kind::Action,
            label: "superlance oom_score_adj -a -s 500: sets the score",
            program: superlance.clone(),
            args: args(&["oom_score_adj", "-a", "-s", "500"]),
            env: Vec::new(),
        },
    ];
    let script = tempfile::Builder::new()
        .prefix("bench-childutils-")
        .suffix(".py")
        .tempfile()
        .map_err(|e| format!("cannot create the Python listener script: {e}"))?;
    let python_note = match python()? {
        Some(py) => {
            fs::write(script.path(), PYTHON_LISTENER)
                .map_err(|e| format!("cannot write {}: {e}", script.path().display()))?;
            let note = format!("python row: {} with supervisor.childutils", py.display());
            variants.push(Variant {
                kind: Kind::Python,
                label: "python supervisor.childutils listener: no match",
                program: py,
                args: vec![script.path().display().to_string()],
                env: Vec::new(),
            });
            note
        }
        None => format!(
            "python row skipped: no {}/.venv/bin/python (tests/setup.sh creates it) and no BENCH_PYTHON",
            env!("CARGO_MANIFEST_DIR")
        ),
    };
    // The crashmail rows. All three run the same listener, configured to mail every crash
    // (`--max-mails 0`: flood control off), so the rows differ only in the events they get
    // and where the mail goes.
    let (smtp, smtp_note) = match SmtpSink::bind() {
        Ok(sink) => {
            let note = format!("smtp row: SINK is the bench's SMTP sink at {}", sink.addr);
            (Some(sink), note)
        }
        Err(e) => (None, format!("smtp row skipped: {e}")),
    };
    let sinks = Sinks {
        count_file: tempfile::Builder::new()
            .prefix("bench-sendmail-count-")
            .tempfile()
            .map_err(|e| format!("cannot create the sendmail count file: {e}"))?,
        smtp,
        channels: match channels::Sinks::bind() {
            Ok(c) => Some(c),
            Err(e) => {
                notes.push(format!("every-channel row skipped: {e}"));
                None
            }
        },
    };
    // The sendmail command reads the mail and appends one byte per mail to the count file.
    let sendmail = format!(
        "cat >/dev/null; printf . >>'{}'",
        sinks.count_file.path().display()
    );
    let crashmail = |more: &[&str]| {
        let mut a = args(&[
            "crashmail",
            "-a",
            "-m",
            "ops@example.com",
            "--max-mails",
            "0",
        ]);
        a.extend(more.iter().map(|s| s.to_string()));
        a
    };
    variants.push(Variant {
        kind: Kind::NoMail,
        label: "superlance crashmail -a -m ops@example.com --max-mails 0 -s SINK: expected exits, no mail",
        program: superlance.clone(),
        args: crashmail(&["-s", &sendmail]),
        env: Vec::new(),
    });
    variants.push(Variant {
        kind: Kind::CrashSendmail,
        label: "superlance crashmail -a -m ops@example.com --max-mails 0 -s SINK: crashes, mailed via sendmail command",
        program: superlance.clone(),
        args: crashmail(&["-s", &sendmail]),
        env: Vec::new(),
    });
    if let Some(smtp) = &sinks.smtp {
        variants.push(Variant {
            kind: Kind::CrashSmtp,
            label: "superlance crashmail -a -m ops@example.com --max-mails 0 --smtp-host SINK --smtp-tls none: crashes, mailed via SMTP",
            program: superlance.clone(),
            args: crashmail(&["--smtp-host", &smtp.addr.to_string(), "--smtp-tls", "none"]),
            env: Vec::new(),
        });
    }
    if let Some(c) = &sinks.channels {
        let mut more = args(&[]);
        more.extend(c.args());
        let more: Vec<&str> = more.iter().map(String::as_str).collect();
        variants.push(Variant {
            kind: Kind::CrashChannels,
            label: "superlance crashmail -a -m ops@example.com --max-mails 0 --smtp-host SINK --smtp-tls none --webhook URL --command CMD: crashes, each sent by mail, webhook and command",
            program: superlance.clone(),
            args: crashmail(&more),
            env: Vec::new(),
        });
    }
    // Issues #4 and #5: the batch mailers, memmon and httpok, each on its quiet path and its
    // action path.
    for (name, batch) in [
        ("crashmailbatch", true),
        ("crashsms", true),
        ("fatalmailbatch", true),
        ("memmon", false),
        ("httpok", false),
    ] {
        let (quiet, act, argv): (&'static str, &'static str, Vec<String>) = match name {
            "crashmailbatch" => ("superlance crashmailbatch -t .. -f .. --sendmail_program SINK: expected exits", "superlance crashmailbatch: crashes, collected for the next batch", args(&["crashmailbatch", "-t", "ops@example.com", "-f", "sv@example.com", "--sendmail_program", &sendmail])),
            "crashsms" => ("superlance crashsms -t .. -f .. --sendmail_program SINK: expected exits", "superlance crashsms: crashes, collected for the next batch", args(&["crashsms", "-t", "ops@example.com", "-f", "sv@example.com", "--sendmail_program", &sendmail])),
            // fatalmailbatch reports FATAL only: exits of either kind are its quiet path, and
            // its action path is measured on crashes' shape by crashmailbatch.
            "fatalmailbatch" => ("superlance fatalmailbatch -t .. -f .. --sendmail_program SINK: exits (it reports FATAL)", "", args(&["fatalmailbatch", "-t", "ops@example.com", "-f", "sv@example.com", "--sendmail_program", &sendmail])),
            "memmon" => ("superlance memmon -a 100GB: RUNNING events (not acted on)", "superlance memmon -a 100GB: TICK_5, each handed to its worker", args(&["memmon", "-a", "100GB"])),
            _ => ("superlance httpok -a URL: RUNNING events (not acted on)", "superlance httpok -a URL: TICK_5, each handed to its worker", args(&["httpok", "-a", "http://127.0.0.1:9/"])),
        };
        let env = if batch {
            Vec::new()
        } else {
            vec![(
                "SUPERVISOR_SERVER_URL",
                "unix:///nonexistent/supervisor.sock",
            )]
        };
        variants.push(Variant {
            kind: if batch {
                Kind::BatchQuiet
            } else {
                Kind::WorkerQuiet
            },
            label: quiet,
            program: superlance.clone(),
            args: argv.clone(),
            env: env.clone(),
        });
        if !act.is_empty() {
            variants.push(Variant {
                kind: if batch {
                    Kind::BatchCollect
                } else {
                    Kind::WorkerTick
                },
                label: act,
                program: superlance.clone(),
                args: argv,
                env,
            });
        }
    }
    // Issue 14: the metrics listener, on a port of its own choosing.
    variants.push(Variant {
        kind: Kind::Metrics,
        label: "superlance metrics --listen 127.0.0.1:0: RUNNING events (counted)",
        program: superlance.clone(),
        args: args(&["metrics", "--listen", "127.0.0.1:0"]),
        env: Vec::new(),
    });
    // BENCH_ONLY=metrics: the floor, the non-matching row and metrics, then the scrape rows.
    let only_metrics = std::env::var("BENCH_ONLY").as_deref() == Ok("metrics");
    if only_metrics {
        variants.retain(|v| matches!(v.kind, Kind::Floor | Kind::NoMatch | Kind::Metrics));
    }
    // BENCH_ONLY=channels: the floor, the non-matching row and the crashmail rows but the
    // sendmail one (issue 12's row beside the crash rows it extends).
    let only_channels = std::env::var("BENCH_ONLY").as_deref() == Ok("channels");
    if only_channels {
        variants.retain(|v| {
            matches!(
                v.kind,
                Kind::Floor | Kind::NoMatch | Kind::NoMail | Kind::CrashSmtp | Kind::CrashChannels
            )
        });
    }
    notes.push(python_note);
    notes.push(format!("sendmail row: SINK is {sendmail:?}"));
    notes.push(smtp_note);
    Ok(Rows {
        variants,
        sinks,
        superlance,
        notes,
        only_metrics,
        only_channels,
        _script: script,
    })
}
