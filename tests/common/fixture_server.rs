//! A Python test server from tests/fixtures/ (the SMTP server, the HTTP receiver) as a
//! process: it runs with the venv's python in a temp dir of its own, logs to `DIR/<name>.log`,
//! dies with the test process (PR_SET_PDEATHSIG), writes its port to `DIR/ready` once it
//! listens, can be stopped and started again on the same port, and is killed on drop.

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use std::time::Duration;
use tempfile::TempDir;

use super::{poll, tempdir, venv_bin};

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

/// One fixture server process and its temp dir; [`FixtureProcess::start`] runs the script.
pub struct FixtureProcess {
    dir: TempDir,
    /// `smtpd`, `receiver`: the script is `<name>.py`, the log `<name>.log`.
    name: &'static str,
    port: u16,
    child: Option<Child>,
}

impl FixtureProcess {
    pub fn new(name: &'static str) -> FixtureProcess {
        FixtureProcess {
            dir: tempdir(),
            name,
            port: 0,
            child: None,
        }
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// 0 until it first listened.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// What the server wrote to stdout and stderr.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir().join(format!("{}.log", self.name))).unwrap_or_default()
    }

    /// Run `script --dir DIR --port PORT ARGS...` with the venv's python (the same port as
    /// before when it ran already) and wait until it listens.
    pub fn start(&mut self, script: &Path, args: impl FnOnce(&mut Command)) {
        let dir = self.dir().to_owned();
        let mut cmd = Command::new(venv_bin("python"));
        cmd.arg(script)
            .arg("--dir")
            .arg(&dir)
            .arg("--port")
            .arg(self.port.to_string());
        args(&mut cmd);
        let (child, port) = launch(
            cmd,
            &dir.join(format!("{}.log", self.name)),
            &dir.join("ready"),
            &format!("{}.py", self.name),
        );
        assert!(
            self.port == 0 || self.port == port,
            "{}.py restarted on port {port} instead of {}",
            self.name,
            self.port
        );
        self.port = port;
        self.child = Some(child);
    }

    /// Kill it: connections are refused until it is started again.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for FixtureProcess {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "---- {} in {} (port {}) ----\n{}",
                self.name,
                self.dir().display(),
                self.port,
                self.log()
            );
        }
        self.stop();
    }
}
