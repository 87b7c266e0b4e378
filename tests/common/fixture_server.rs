//! Starting a Python test server from tests/fixtures/ (the SMTP server, the HTTP receiver):
//! it runs with the venv's python, logs to a file in its temp dir, dies with the test process
//! (PR_SET_PDEATHSIG), and writes its port to `DIR/ready` once it listens.

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::poll;

/// `cmd` (a python with the fixture and its arguments) started with stdout and stderr
/// appended to `log`; waits for `ready` to hold the port. Panics, with the log, if it exits
/// or does not listen within 20 s.
pub fn launch(mut cmd: Command, log: &Path, ready: &Path, what: &str) -> (Child, u16) {
    let _ = fs::remove_file(ready);
    let out = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", log.display()));
    let err = out
        .try_clone()
        .unwrap_or_else(|e| panic!("cannot dup {}: {e}", log.display()));
    cmd.stdin(Stdio::null()).stdout(out).stderr(err);
    // SAFETY: only prctl(2), async-signal-safe, between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            // A test process killed without dropping us takes the server along.
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let read_log = || fs::read_to_string(log).unwrap_or_default();
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    let port = poll(Duration::from_secs(20), || {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited at startup ({status}):\n{}", read_log());
        }
        fs::read_to_string(ready).ok()?.trim().parse::<u16>().ok()
    });
    let Some(port) = port else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("{what} did not listen within 20 s:\n{}", read_log());
    };
    (child, port)
}
