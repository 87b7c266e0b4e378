//! Running a shell command for a listener: the sendmail command
//! (src/notify/channel/mail/transport/sendmail.rs) and httpok's gcore
//! (listeners/httpok/gcore.rs).
//!
//! The command is `/bin/sh -c SCRIPT NAME ARGS...` (so a user's command line with arguments
//! means what it does in a shell, while values of ours go in as positional parameters, never
//! spliced into the script). It never inherits our stdout, which belongs to the supervisord
//! protocol: stdin is the given bytes (or /dev/null), stdout and stderr are piped and kept (the
//! first [`OUTPUT_LIMIT`] bytes of each). It runs in a process group of its own, and when the
//! time limit passes the whole group is killed, so a hung command (an MTA waiting for a relay,
//! gdb stuck on a process) cannot hold a listener's worker forever.

use std::ffi::OsStr;
use std::io::{self, Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// The most of each output stream kept.
pub const OUTPUT_LIMIT: u64 = 16 * 1024;

/// After the command ends, how long to wait for its output: a background process it started
/// may hold the pipes open.
const OUTPUT_GRACE: Duration = Duration::from_secs(1);

/// What a command did within its time.
#[derive(Debug)]
pub struct Finished {
    /// `None`: killed when the time limit passed.
    pub status: Option<ExitStatus>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// Run `sh -c script name args...` with `input` on stdin (`None`: /dev/null), for at most
/// `timeout`. An error is one from starting or watching it (the group is killed then).
pub fn run_shell(
    script: &str,
    positional: &[&OsStr],
    input: Option<&[u8]>,
    timeout: Duration,
) -> io::Result<Finished> {
    run_shell_with_env(script, positional, &[], input, timeout)
}

/// [`run_shell`] with `env` added to our environment (the command channel's `SUPERLANCE_*`).
pub fn run_shell_with_env(
    script: &str,
    positional: &[&OsStr],
    env: &[(String, String)],
    input: Option<&[u8]>,
    timeout: Duration,
) -> io::Result<Finished> {
    let mut child = Command::new("/bin/sh")
        .arg("-c")
        .arg(script)
        .args(positional)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own group, so that a timeout kills the shell and everything it started.
        .process_group(0)
        .spawn()?;
    match supervise(&mut child, input.unwrap_or_default(), timeout) {
        Ok(finished) => Ok(finished),
        Err(e) => {
            kill_group(&mut child);
            Err(e)
        }
    }
}

/// Feed stdin, collect stdout and stderr (each in a thread: the command may write before it
/// has read everything), wait for the exit until the deadline, kill the group after it.
fn supervise(child: &mut Child, input: &[u8], timeout: Duration) -> io::Result<Finished> {
    let deadline = Instant::now() + timeout;
    if let Some(mut stdin) = child.stdin.take() {
        let input = input.to_vec();
        thread::Builder::new()
            .name("command stdin".into())
            .spawn(move || {
                // A command that exits without reading all of it gives EPIPE: its exit
                // status tells what happened, not this write.
                let _ = stdin.write_all(&input);
            })?;
    }
    let stdout = collect(child.stdout.take())?;
    let stderr = collect(child.stderr.take())?;
    let exit = ExitWatch::new(child.id());
    let mut pause = Duration::from_millis(1);
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        let now = Instant::now();
        if now >= deadline {
            kill_group(child);
            break None;
        }
        exit.wait(pause.min(deadline - now));
        pause = (pause * 2).min(Duration::from_millis(50));
    };
    let grace = Instant::now() + OUTPUT_GRACE;
    Ok(Finished {
        status,
        stdout: stdout.map(|rx| receive(&rx, grace)).unwrap_or_default(),
        stderr: stderr.map(|rx| receive(&rx, grace)).unwrap_or_default(),
    })
}

/// Waits for a child's exit without reaping it (so that its process group can still be
/// killed safely): poll(2) on a pidfd, which wakes the moment the child exits. Where
/// pidfd_open is missing (Linux before 5.3), a plain sleep, and the caller's try_wait finds
/// the exit a little later. The pidfd made the sendmail transport ~2x faster per mail than
/// sleeping 1, 2, 4 ... ms between checks.
struct ExitWatch(Option<std::os::fd::OwnedFd>);

impl ExitWatch {
    fn new(pid: u32) -> ExitWatch {
        use std::os::fd::FromRawFd;
        let Ok(pid) = libc::pid_t::try_from(pid) else {
            return ExitWatch(None);
        };
        // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        match std::os::fd::RawFd::try_from(fd) {
            // SAFETY: the kernel just gave us this descriptor; nobody else owns it.
            Ok(fd) if fd >= 0 => ExitWatch(Some(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })),
            _ => ExitWatch(None),
        }
    }

    /// Until the child exits or `at_most` passes.
    fn wait(&self, at_most: Duration) {
        use std::os::fd::AsRawFd;
        let Some(fd) = &self.0 else {
            thread::sleep(at_most);
            return;
        };
        let mut pfd = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = libc::c_int::try_from(at_most.as_millis().max(1)).unwrap_or(libc::c_int::MAX);
        // SAFETY: one valid pollfd for the duration of the call.
        unsafe { libc::poll(&mut pfd, 1, ms) };
    }
}

/// Read a pipe to its end in a thread; the first [`OUTPUT_LIMIT`] bytes arrive on the channel.
fn collect(
    pipe: Option<impl Read + Send + 'static>,
) -> io::Result<Option<mpsc::Receiver<Vec<u8>>>> {
    let Some(mut pipe) = pipe else {
        return Ok(None);
    };
    let (tx, rx) = mpsc::channel();
    thread::Builder::new()
        .name("command output".into())
        .spawn(move || {
            let mut kept = Vec::new();
            let _ = (&mut pipe).take(OUTPUT_LIMIT).read_to_end(&mut kept);
            let _ = io::copy(&mut pipe, &mut io::sink());
            let _ = tx.send(kept);
        })?;
    Ok(Some(rx))
}

fn receive(rx: &mpsc::Receiver<Vec<u8>>, until: Instant) -> Vec<u8> {
    rx.recv_timeout(until.saturating_duration_since(Instant::now()))
        .unwrap_or_default()
}

/// SIGKILL the child's process group (its pid: it leads the group), then reap the child.
/// The child is not reaped before the kill, so its pid, and so the group id, cannot have been
/// reused by another process.
fn kill_group(child: &mut Child) {
    if let Ok(pid) = libc::pid_t::try_from(child.id()) {
        // SAFETY: kill(2) with a negative pid signals the group our unreaped child leads.
        unsafe { libc::kill(-pid, libc::SIGKILL) };
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// `60 s`, `0.3 s`: a time limit in a message.
pub fn seconds(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str, args: &[&str], input: Option<&[u8]>, ms: u64) -> Finished {
        let args: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
        run_shell(script, &args, input, Duration::from_millis(ms)).unwrap()
    }

    #[test]
    fn input_output_status_and_positional_arguments() {
        let f = sh(
            "cat; echo \"[$1]\" >&2; exit 3",
            &["me", "a b;$(x)"],
            Some(b"hi\n"),
            5000,
        );
        assert_eq!(f.stdout, b"hi\n");
        assert_eq!(f.stderr, b"[a b;$(x)]\n");
        assert_eq!(f.status.and_then(|s| s.code()), Some(3));
        let f = sh("cat", &[], None, 5000);
        assert!(f.stdout.is_empty(), "stdin is /dev/null");
    }

    #[test]
    fn a_hung_command_is_killed_with_its_group() {
        let started = Instant::now();
        let f = sh("sleep 30 & wait", &[], None, 300);
        assert!(f.status.is_none());
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn output_is_capped() {
        let f = sh("head -c 100000 /dev/zero", &[], None, 5000);
        assert_eq!(f.stdout.len() as u64, OUTPUT_LIMIT);
        assert_eq!(seconds(Duration::from_millis(300)), "0.3 s");
        assert_eq!(seconds(Duration::from_secs(60)), "60 s");
    }
}
