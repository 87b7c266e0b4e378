//! `superlance entrypoint [--exit-code N|from-program] -- supervisord -n -c FILE` (issue 13):
//! a minimal PID-1 wrapper for container images, like tini or dumb-init, for one job: hand a
//! failure of an essential program to the container runtime as a non-zero exit status.
//!
//! # Theory of operation
//! It starts the command, forwards TERM, INT, HUP, QUIT, USR1 and USR2 to it, reaps every
//! child that ends up with it (as PID 1 the kernel gives it every orphan of the container;
//! elsewhere it asks for them with PR_SET_CHILD_SUBREAPER), and exits when the command does.
//! The signals are blocked in this (single) thread and taken with `sigtimedwait`, so no
//! handler runs at an odd moment; the command starts with an empty signal mask (set between
//! fork and exec: a mask is inherited across exec).
//!
//! The `essential` listener learns where to record a failure from `SUPERLANCE_ESSENTIAL_STATUS`
//! in its environment (set here, inherited through supervisord): a file of `key=value` lines,
//! `program=`, `state=` and, when known, `exitstatus=`. When the command exits and that file
//! exists, the exit status is `--exit-code` (default 1; `from-program`: the failed program's
//! own non-zero exit status where known, else 1) instead of the command's own: supervisord
//! exits 0 after a graceful shutdown, which `restart: on-failure` and Kubernetes would take
//! for success (Supervisor #733).
//!
//! Exit statuses: the command's (128 + N when a signal N ended it); the failure's as above;
//! 2 for a usage error; 127 when the command cannot be started.

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use clap::{Arg, ArgAction, ArgMatches};

/// The environment variable that tells the essential listener where to record a failure.
pub const STATUS_ENV: &str = "SUPERLANCE_ESSENTIAL_STATUS";

/// The signals passed on to the command.
const FORWARDED: [libc::c_int; 6] = [
    libc::SIGTERM,
    libc::SIGINT,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
];

/// How the exit status is chosen when an essential program failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureCode {
    Fixed(u8),
    FromProgram,
}

/// The subcommand's definition (help, man page).
pub fn command() -> clap::Command {
    clap::Command::new("entrypoint")
        .about("Run a command (supervisord) as a container's PID 1: forward signals, reap orphans, and exit non-zero when the essential listener recorded a failure")
        .after_help(
            "Use it as the image's entrypoint:\n\n  \
             ENTRYPOINT [\"superlance\", \"entrypoint\", \"--\"]\n  \
             CMD [\"supervisord\", \"-n\", \"-c\", \"/etc/supervisor/supervisord.conf\"]\n\n\
             with an [eventlistener:essential] section running `essential -p PROGRAM`. \
             Exit status: the command's (128+N after signal N), or --exit-code when an \
             essential program failed; 127 when the command cannot be started.",
        )
        .arg(
            Arg::new("exit-code")
                .long("exit-code")
                .value_name("N|from-program")
                .value_parser(parse_failure_code)
                .default_value("1")
                .help("The exit status when an essential program failed: a number from 1 to 255, or from-program (its own exit status where known, else 1)"),
        )
        .arg(
            Arg::new("status-file")
                .long("status-file")
                .value_name("FILE")
                .value_parser(clap::value_parser!(PathBuf))
                .help(format!(
                    "Where the essential listener records a failure (passed to it as {STATUS_ENV}) [default: a file in a new directory under $TMPDIR]"
                )),
        )
        .arg(
            Arg::new("command")
                .value_name("COMMAND")
                .num_args(1..)
                .trailing_var_arg(true)
                .allow_hyphen_values(true)
                .required(true)
                .action(ArgAction::Append)
                .value_parser(clap::value_parser!(OsString))
                .help("The command to run, after --: supervisord -n -c FILE"),
        )
}

fn parse_failure_code(text: &str) -> Result<FailureCode, String> {
    if text == "from-program" {
        return Ok(FailureCode::FromProgram);
    }
    match text.parse::<u8>() {
        Ok(n) if n > 0 => Ok(FailureCode::Fixed(n)),
        _ => Err(format!(
            "{text:?}: give a number from 1 to 255, or from-program"
        )),
    }
}

/// `superlance entrypoint ARGS` (`args` without `superlance entrypoint`).
pub fn main(args: &[OsString]) -> ExitCode {
    let argv = std::iter::once(OsString::from("superlance entrypoint")).chain(args.iter().cloned());
    let m = match command().try_get_matches_from(argv) {
        Ok(m) => m,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(e.exit_code().clamp(0, 255) as u8);
        }
    };
    match run(&m) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("superlance entrypoint: {e}");
            ExitCode::from(127)
        }
    }
}

fn run(m: &ArgMatches) -> Result<u8, String> {
    let failure_code = m
        .get_one::<FailureCode>("exit-code")
        .copied()
        .unwrap_or(FailureCode::Fixed(1));
    let argv: Vec<OsString> = m
        .get_many::<OsString>("command")
        .map(|v| v.cloned().collect())
        .unwrap_or_default();
    let Some((program, rest)) = argv.split_first() else {
        return Err("no command given (superlance entrypoint -- supervisord -n -c FILE)".into());
    };
    let (status_file, own_dir) = match m.get_one::<PathBuf>("status-file") {
        Some(p) => (p.clone(), None),
        None => {
            let dir = private_dir()?;
            (dir.join("essential-failure"), Some(dir))
        }
    };
    match std::fs::remove_file(&status_file) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(format!(
                "cannot remove the old status file {}: {e}",
                status_file.display()
            ))
        }
    }

    let forwarded = signal_set(&FORWARDED, true);
    block(&forwarded)?;
    if std::process::id() != 1 {
        // SAFETY: prctl with integer arguments; affects only this process.
        if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } != 0 {
            let e = io::Error::last_os_error();
            eprintln!("superlance entrypoint: cannot become a subreaper ({e}); orphans will not be reaped here");
        }
    }
    let mut command = Command::new(program);
    command.args(rest).env(STATUS_ENV, &status_file);
    // The command must not inherit our blocked signals (a blocked SIGTERM would never reach
    // supervisord's handler).
    // SAFETY: only sigemptyset and sigprocmask, async-signal-safe, between fork and exec.
    unsafe {
        use std::os::unix::process::CommandExt;
        command.pre_exec(|| {
            let mut empty: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut empty);
            if libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut()) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = command
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", program.to_string_lossy()))?;
    let pid = child.id() as libc::pid_t;
    // Reaped by waitpid below, not by `Child`.
    drop(child);
    let status = supervise(pid, &forwarded);
    let code = exit_code(status, &status_file, failure_code);
    if let Some(dir) = own_dir {
        let _ = std::fs::remove_dir_all(dir);
    }
    Ok(code)
}

/// A new directory of ours (mode 0700) under $TMPDIR for the status file.
fn private_dir() -> Result<PathBuf, String> {
    use std::os::unix::fs::DirBuilderExt;
    let dir = std::env::temp_dir().join(format!("superlance-entrypoint.{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    Ok(dir)
}

/// The signals in `list`, plus SIGCHLD when `with_child`.
fn signal_set(list: &[libc::c_int], with_child: bool) -> libc::sigset_t {
    // SAFETY: sigemptyset initialises the set; sigaddset takes valid signal numbers.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for &s in list {
            libc::sigaddset(&mut set, s);
        }
        if with_child {
            libc::sigaddset(&mut set, libc::SIGCHLD);
        }
        set
    }
}

fn block(set: &libc::sigset_t) -> Result<(), String> {
    // SAFETY: a valid, initialised set; this program has one thread at this point.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, set, std::ptr::null_mut()) };
    if rc != 0 {
        return Err(format!(
            "cannot block signals: {}",
            io::Error::from_raw_os_error(rc)
        ));
    }
    Ok(())
}

/// Forward signals to `pid` and reap children until `pid` ends; its wait status.
fn supervise(pid: libc::pid_t, set: &libc::sigset_t) -> libc::c_int {
    let timeout = libc::timespec {
        tv_sec: 1,
        tv_nsec: 0,
    };
    loop {
        // SAFETY: a valid set and timeout; the siginfo is not needed.
        let sig = unsafe { libc::sigtimedwait(set, std::ptr::null_mut(), &timeout) };
        if FORWARDED.contains(&sig) {
            // SAFETY: kill(2) on our child, which is not reaped until waitpid says so.
            unsafe { libc::kill(pid, sig) };
        }
        // SIGCHLD, a time-out (a lost SIGCHLD: signals do not queue), or after forwarding.
        if let Some(status) = reap(pid) {
            return status;
        }
    }
}

/// Reap every child that has ended; the wait status of `main` if it is one of them.
fn reap(main: libc::pid_t) -> Option<libc::c_int> {
    let mut main_status = None;
    loop {
        let mut status: libc::c_int = 0;
        // SAFETY: waitpid with a valid status pointer.
        let got = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if got <= 0 {
            return main_status;
        }
        if got == main {
            main_status = Some(status);
        }
    }
}

/// The exit status: the failure's when the essential listener recorded one, else the
/// command's own.
fn exit_code(status: libc::c_int, status_file: &Path, failure: FailureCode) -> u8 {
    let own = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status) as u8
    } else if libc::WIFSIGNALED(status) {
        128u8.saturating_add(libc::WTERMSIG(status) as u8)
    } else {
        1
    };
    let Ok(text) = std::fs::read_to_string(status_file) else {
        return own;
    };
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
            .map(str::trim)
    };
    let code = match failure {
        FailureCode::Fixed(n) => n,
        FailureCode::FromProgram => field("exitstatus")
            .and_then(|s| s.parse::<u8>().ok())
            .filter(|&n| n > 0)
            .unwrap_or(1),
    };
    eprintln!(
        "superlance entrypoint: essential program {} failed ({}); the command exited with \
         status {own}; exiting with {code}",
        field("program").unwrap_or("?"),
        field("state").unwrap_or("?"),
    );
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wait_status_exited(code: i32) -> libc::c_int {
        code << 8
    }

    #[test]
    fn exit_codes() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        // No failure: the command's own status; a signal is 128+N.
        assert_eq!(
            exit_code(wait_status_exited(0), &file, FailureCode::Fixed(1)),
            0
        );
        assert_eq!(
            exit_code(wait_status_exited(3), &file, FailureCode::Fixed(1)),
            3
        );
        assert_eq!(exit_code(libc::SIGKILL, &file, FailureCode::Fixed(1)), 137);
        // A failure: --exit-code wins over supervisord's clean 0.
        std::fs::write(&file, "program=web:web_01\nstate=EXITED\nexitstatus=42\n").unwrap();
        assert_eq!(
            exit_code(wait_status_exited(0), &file, FailureCode::Fixed(1)),
            1
        );
        assert_eq!(
            exit_code(wait_status_exited(0), &file, FailureCode::Fixed(70)),
            70
        );
        assert_eq!(
            exit_code(wait_status_exited(0), &file, FailureCode::FromProgram),
            42
        );
        std::fs::write(&file, "program=web:web_01\nstate=FATAL\n").unwrap();
        assert_eq!(
            exit_code(wait_status_exited(0), &file, FailureCode::FromProgram),
            1
        );
    }

    #[test]
    fn failure_codes_parse() {
        assert_eq!(
            parse_failure_code("from-program"),
            Ok(FailureCode::FromProgram)
        );
        assert_eq!(parse_failure_code("3"), Ok(FailureCode::Fixed(3)));
        assert!(parse_failure_code("0").is_err());
        assert!(parse_failure_code("256").is_err());
        assert!(parse_failure_code("x").is_err());
        command().debug_assert();
    }
}
