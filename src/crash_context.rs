//! Crash context (issue 12, `--tail N`): what an on-call person wants first when a program
//! crashes, its exit status and the last lines it wrote to stderr, asked of supervisord over
//! XML-RPC (`getProcessInfo`, `tailProcessStderrLog`; `tailProcessStdoutLog` when the
//! program's stderr goes to its stdout log, `redirect_stderr=true`).
//!
//! The lines go under a notification's text (`Notification::extra`). Nothing here may cost the
//! notification itself: every failure (no `SUPERVISOR_SERVER_URL`, supervisord not answering,
//! a log set to `NONE`) becomes a line saying why the context is missing.
//!
//! The exit status is only known until supervisord starts the program again: its `spawn()`
//! resets it. A pid other than the one that exited means that has happened, and the status
//! is then said to be unknown rather than a misleading 0.
//!
//! Every listener that reports a process takes the one `--tail N` option ([`tail_arg`]) and
//! gathers the one way ([`from_supervisord`], a client of its own with a short timeout), off
//! the protocol loop: notify, crashmail and the batch mailers through the [`worker`] thread;
//! memmon, httpok and essential on the thread that already does their slow work, just before
//! they restart the program or shut supervisord down.
//!
//! Modules: `worker` (the thread that gathers in order, and [`worker::Delivery`]).

pub mod worker;

use std::time::Duration;

use clap::{value_parser, Arg, ArgMatches};

use crate::rpc::{self, FaultCode, ProcessInfo, RpcError};

/// The option's id and long name (no letter: superlance's letters are taken differently in
/// each tool).
pub const TAIL: &str = "tail";

/// Processes whose context one notification carries, at most (a batch, httpok's `-a`): a crash
/// storm must not make a mail of megabytes.
pub const MAX_PROGRAMS: usize = 10;

/// One crash context's XML-RPC calls, at most each: a context that needs longer is worth less
/// than the notification it delays.
pub const RPC_TIMEOUT: Duration = Duration::from_secs(5);

/// `--tail N`: one definition for every listener that reports a process; `what` says which
/// notifications get the lines ("the crash mail").
pub fn tail_arg(what: &str) -> Arg {
    tail(format!(
        "Add the exit status and the last N lines of the program's stderr log (stdout with \
         redirect_stderr) to {what}, asked of supervisord over XML-RPC; 0: the exit status \
         only. Without an answer the notification goes out saying why"
    ))
}

/// `--tail N` for a listener that restarts running processes (memmon, httpok): no exit status
/// to tell, the lines are read before the restart.
pub fn tail_before_restart_arg(what: &str) -> Arg {
    tail(format!(
        "Add the last N lines of the process's stderr log (stdout with redirect_stderr), read \
         just before it is restarted, to {what}, asked of supervisord over XML-RPC. Without \
         an answer the notification goes out saying why"
    ))
}

fn tail(help: String) -> Arg {
    Arg::new(TAIL)
        .long(TAIL)
        .value_name("N")
        .value_parser(value_parser!(u16).range(0..=1000))
        .help(help)
}

/// `--tail`'s N, if given.
pub fn tail_lines(m: &ArgMatches) -> Option<usize> {
    m.try_get_one::<u16>(TAIL)
        .ok()
        .flatten()
        .map(|n| usize::from(*n))
}

/// The crash context of a process (`group:name`, the pid that stopped, if known): lines to add.
pub type Gather = Box<dyn FnMut(&str, Option<u32>) -> Vec<String> + Send>;

/// The crash context of one process, from the supervisord we run under (`SUPERVISOR_SERVER_URL`),
/// each call bounded by [`RPC_TIMEOUT`]; a client that cannot be made says why in the lines,
/// as [`gather`] does for a failed call.
pub fn from_supervisord(lines: usize) -> Gather {
    let mut client = rpc::Client::from_env().map(|c| c.with_timeout(RPC_TIMEOUT));
    if let Err(e) = &client {
        log::warn!("--tail: {e}; notifications go out without crash context");
    }
    Box::new(move |namespec, pid| match &mut client {
        Ok(c) => gather(c, namespec, pid, lines),
        Err(e) => vec![format!("Crash context unavailable: {e}")],
    })
}

/// How much of the log end is asked for: enough for a few dozen long lines, small enough to
/// keep a crash storm cheap.
const TAIL_BYTES: usize = 16 * 1024;

/// The longest line kept (a program that writes one huge line must not make a huge mail).
const MAX_LINE_CHARS: usize = 500;

/// Which capture log to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// What crash context needs of supervisord. [`rpc::Client`] is the real thing.
pub trait LogSource {
    fn process_info(&mut self, namespec: &str) -> Result<ProcessInfo, RpcError>;
    /// The last `bytes` of a process's capture log (`tailProcess{Stdout,Stderr}Log`).
    fn tail(&mut self, namespec: &str, stream: Stream, bytes: usize) -> Result<String, RpcError>;
}

impl LogSource for rpc::Client {
    fn process_info(&mut self, namespec: &str) -> Result<ProcessInfo, RpcError> {
        rpc::Supervisor::get_process_info(self, namespec)
    }

    fn tail(&mut self, namespec: &str, stream: Stream, bytes: usize) -> Result<String, RpcError> {
        let method = match stream {
            Stream::Stdout => "supervisor.tailProcessStdoutLog",
            Stream::Stderr => "supervisor.tailProcessStderrLog",
        };
        let length = i64::try_from(bytes).unwrap_or(i64::MAX);
        let value = self.call(method, &[namespec.into(), 0i64.into(), length.into()])?;
        // [text, offset, overflow]
        match value.as_array().and_then(|a| a.first()) {
            Some(rpc::Value::String(text)) => Ok(text.clone()),
            _ => Err(RpcError::Malformed {
                url: self.url().to_owned(),
                method: method.to_owned(),
                reason: format!(
                    "a {} where [text, offset, overflow] was expected",
                    value.kind()
                ),
            }),
        }
    }
}

/// The context lines for `namespec`, whose process `pid` just stopped: its exit status (or
/// spawn error) and the last `lines` lines of its stderr (stdout when redirected). Never
/// fails: what cannot be had is said in a line.
pub fn gather(
    source: &mut dyn LogSource,
    namespec: &str,
    pid: Option<u32>,
    lines: usize,
) -> Vec<String> {
    let info = match source.process_info(namespec) {
        Ok(info) => info,
        Err(e) => return vec![format!("Crash context unavailable: {}", reason(&e))],
    };
    let mut out = Vec::new();
    let restarted = info.pid != 0 && pid.is_some_and(|p| p != info.pid);
    // supervisord keeps no status of a run that ended before `startsecs` (BACKOFF, then
    // FATAL): it sets this spawn error and reports the status as 0.
    let too_quickly = info.spawnerr.starts_with("Exited too quickly");
    if too_quickly && info.pid == 0 {
        out.push(
            "Exit status: not kept by supervisord (it exited too quickly, within startsecs)"
                .to_owned(),
        );
    } else if restarted {
        out.push(format!(
            "Exit status: unknown (supervisord has started it again, pid {})",
            info.pid
        ));
    } else if info.pid == 0 && info.start != 0 {
        out.push(format!("Exit status: {}", info.exitstatus));
    }
    // supervisord also notes an unexpected exit there ("Bad exit code 3"): said above.
    if !info.spawnerr.is_empty() && !info.spawnerr.starts_with("Bad exit code") && !too_quickly {
        out.push(format!("Spawn error: {}", info.spawnerr));
    }
    if lines == 0 {
        return out;
    }
    let (stream, file) = if info.stderr_logfile.is_empty() {
        (Stream::Stdout, info.stdout_logfile.as_str())
    } else {
        (Stream::Stderr, info.stderr_logfile.as_str())
    };
    match source.tail(namespec, stream, TAIL_BYTES) {
        Ok(text) => {
            let tail = last_lines(&text, lines);
            let from = if file.is_empty() {
                stream.name().to_owned()
            } else {
                format!("{} ({file})", stream.name())
            };
            if tail.is_empty() {
                out.push(format!("Nothing in {from}."));
            } else {
                out.push(format!("Last {} lines of {from}:", tail.len()));
                out.extend(tail.into_iter().map(|l| format!("| {l}")));
            }
        }
        Err(e) if e.fault_code() == Some(FaultCode::NoFile) => {
            out.push(format!(
                "No {} log to show (it is not kept: NONE or not written yet).",
                stream.name()
            ));
        }
        Err(e) => out.push(format!(
            "The {} log is unavailable: {}",
            stream.name(),
            reason(&e)
        )),
    }
    out
}

/// The last `n` complete lines of `text` (a partial first line, cut by the byte window, is
/// left out), each cut to [`MAX_LINE_CHARS`] and stripped of control characters.
fn last_lines(text: &str, n: usize) -> Vec<String> {
    let mut all: Vec<&str> = text.lines().collect();
    if text.len() >= TAIL_BYTES && all.len() > 1 {
        all.remove(0);
    }
    let start = all.len().saturating_sub(n);
    all[start..]
        .iter()
        .map(|l| {
            let clean: String = l
                .chars()
                .map(|c| {
                    if c.is_control() && c != '\t' {
                        '\u{fffd}'
                    } else {
                        c
                    }
                })
                .collect();
            if clean.chars().count() > MAX_LINE_CHARS {
                let cut: String = clean.chars().take(MAX_LINE_CHARS).collect();
                format!("{cut}...")
            } else {
                clean
            }
        })
        .collect()
}

fn reason(e: &RpcError) -> String {
    e.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rpc::Fault;

    /// Answers, or the fault code to answer with.
    struct Fake {
        info: Result<ProcessInfo, i64>,
        tail: Result<String, i64>,
        asked: Vec<Stream>,
    }

    impl LogSource for Fake {
        fn process_info(&mut self, _: &str) -> Result<ProcessInfo, RpcError> {
            self.info.clone().map_err(fault)
        }
        fn tail(&mut self, _: &str, stream: Stream, _: usize) -> Result<String, RpcError> {
            self.asked.push(stream);
            self.tail.clone().map_err(fault)
        }
    }

    fn exited(status: i64) -> ProcessInfo {
        ProcessInfo {
            name: "web_01".into(),
            group: "web".into(),
            start: 100,
            stop: 110,
            statename: "EXITED".into(),
            exitstatus: status,
            stdout_logfile: "/var/log/web-stdout.log".into(),
            stderr_logfile: "/var/log/web-stderr.log".into(),
            ..ProcessInfo::default()
        }
    }

    fn fault(code: i64) -> RpcError {
        RpcError::Fault {
            method: "supervisor.tailProcessStderrLog".into(),
            fault: Fault {
                code,
                text: "NO_FILE".into(),
            },
        }
    }

    #[test]
    fn exit_status_and_the_stderr_tail() {
        let mut f = Fake {
            info: Ok(exited(3)),
            tail: Ok("one\ntwo\nthree\nTraceback: boom\n".into()),
            asked: vec![],
        };
        let lines = gather(&mut f, "web:web_01", Some(42), 2);
        assert_eq!(
            lines,
            [
                "Exit status: 3",
                "Last 2 lines of stderr (/var/log/web-stderr.log):",
                "| three",
                "| Traceback: boom"
            ]
        );
        assert_eq!(f.asked, [Stream::Stderr]);
    }

    #[test]
    fn redirected_stderr_reads_stdout() {
        let mut info = exited(1);
        info.stderr_logfile = String::new();
        let mut f = Fake {
            info: Ok(info),
            tail: Ok("x\n".into()),
            asked: vec![],
        };
        let lines = gather(&mut f, "web:web_01", Some(42), 5);
        assert_eq!(
            lines[1],
            "Last 1 lines of stdout (/var/log/web-stdout.log):"
        );
        assert_eq!(f.asked, [Stream::Stdout]);
    }

    #[test]
    fn a_restarted_program_has_no_exit_status_to_tell() {
        let mut info = exited(0);
        info.pid = 77;
        info.statename = "STARTING".into();
        let mut f = Fake {
            info: Ok(info),
            tail: Ok(String::new()),
            asked: vec![],
        };
        let lines = gather(&mut f, "web:web_01", Some(42), 3);
        assert_eq!(
            lines,
            [
                "Exit status: unknown (supervisord has started it again, pid 77)",
                "Nothing in stderr (/var/log/web-stderr.log)."
            ]
        );
    }

    #[test]
    fn failures_are_lines_not_errors() {
        let mut f = Fake {
            info: Err(10),
            tail: Ok(String::new()),
            asked: vec![],
        };
        let lines = gather(&mut f, "nope", None, 3);
        assert_eq!(lines.len(), 1);
        assert!(
            lines[0].starts_with("Crash context unavailable: "),
            "{lines:?}"
        );

        let mut info = exited(2);
        info.spawnerr = "can't find command 'nope'".into();
        let mut f = Fake {
            info: Ok(info),
            tail: Err(FaultCode::NoFile.code()),
            asked: vec![],
        };
        let lines = gather(&mut f, "web:web_01", None, 3);
        assert_eq!(lines[1], "Spawn error: can't find command 'nope'");
        assert!(lines[2].starts_with("No stderr log to show"), "{lines:?}");
    }

    #[test]
    fn long_and_binary_lines_are_tamed() {
        let text = format!("{}\n\u{1b}[31mred\n", "x".repeat(2000));
        let lines = last_lines(&text, 5);
        assert_eq!(lines[0].chars().count(), MAX_LINE_CHARS + 3);
        assert_eq!(lines[1], "\u{fffd}[31mred");
        // A window cut mid-line drops the partial first line.
        let full = format!("{}\nlast\n", "y".repeat(TAIL_BYTES));
        assert_eq!(last_lines(&full, 5), ["last"]);
    }

    #[test]
    fn a_run_that_ended_within_startsecs_has_no_status_to_tell() {
        // supervisord 4.3.0 process.py: exitstatus None, reported as 0, and this spawnerr.
        let mut info = exited(0);
        info.statename = "FATAL".into();
        info.spawnerr = "Exited too quickly (process log may have details)".into();
        let mut f = Fake {
            info: Ok(info),
            tail: Ok("cannot open db.conf\n".into()),
            asked: vec![],
        };
        let lines = gather(&mut f, "backend:db", None, 1);
        assert_eq!(
            lines,
            [
                "Exit status: not kept by supervisord (it exited too quickly, within startsecs)",
                "Last 1 lines of stderr (/var/log/web-stderr.log):",
                "| cannot open db.conf"
            ]
        );
    }
}
