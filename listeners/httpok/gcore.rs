//! `-d`/`-g`: a core file of a hung process, written by the `gcore` command before the restart.
//!
//! superlance ran `<gcore> "<coredir>/<namespec>" <pid>` through the shell (`os.popen`) and
//! put its stdout into the mail. We keep the shell, so that a `-g` value with arguments
//! (`/usr/bin/gcore -o`, the default) means what it did, but pass the file name and the pid as
//! the shell's positional parameters: `sh -c '<gcore> "$1" "$2"' httpok FILE PID`, so that no
//! program name can inject shell syntax. The command never inherits our stdout (it belongs to
//! the supervisord protocol): stdin is /dev/null, stdout and stderr go to one pipe whose text
//! goes into the mail. It runs in a process group of its own, killed whole after
//! [`TIMEOUT`] (gdb attached to a process can hang).

use std::ffi::OsStr;
use std::io;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::ExitStatus;
use std::time::Duration;

use crate::command::{run_shell, seconds};

use super::check::Cores;

/// The longest a core dump may take. gcore writes the whole address space: seconds for a
/// typical service, more for a big one.
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// The real dumper: a shell command line (`-g`).
#[derive(Debug, Clone)]
pub struct Gcore {
    pub command: String,
    pub timeout: Duration,
}

impl Cores for Gcore {
    fn dump(&mut self, corefile: &Path, pid: u32) -> String {
        let (status, output) = match self.run(corefile, pid) {
            Ok(done) => done,
            Err(e) => return format!("cannot run the gcore command {:?}: {e}", self.command),
        };
        let output = output.trim_end();
        let end = match status {
            Some(s) if s.success() => return output.to_owned(),
            Some(s) => match (s.code(), s.signal()) {
                (Some(code), _) => format!("(the gcore command exited with status {code})"),
                (None, Some(sig)) => format!("(the gcore command was killed by signal {sig})"),
                (None, None) => format!("(the gcore command ended: {s})"),
            },
            None => format!(
                "(the gcore command did not finish within {} and was killed)",
                seconds(self.timeout)
            ),
        };
        log::warn!("gcore for pid {pid}: {end}");
        if output.is_empty() {
            end
        } else {
            format!("{output}\n{end}")
        }
    }
}

impl Gcore {
    /// Run it: the exit status (`None`: killed after the timeout) and its output, stdout and
    /// stderr together as the command wrote them.
    fn run(&self, corefile: &Path, pid: u32) -> io::Result<(Option<ExitStatus>, String)> {
        let script = format!("exec 2>&1\n{} \"$1\" \"$2\"", self.command);
        let pid = pid.to_string();
        let args = [OsStr::new("httpok"), corefile.as_os_str(), OsStr::new(&pid)];
        let done = run_shell(&script, &args, None, self.timeout)?;
        Ok((
            done.status,
            String::from_utf8_lossy(&done.stdout).into_owned(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn gcore(command: &str, timeout_ms: u64) -> Gcore {
        Gcore {
            command: command.into(),
            timeout: Duration::from_millis(timeout_ms),
        }
    }

    #[test]
    fn arguments_are_passed_safely_and_both_outputs_kept() {
        let said = gcore("printf '%s|%s\\n'", 5000).dump(Path::new("/c/g:$(x) y"), 42);
        assert_eq!(said, "/c/g:$(x) y|42");
        let said = gcore("echo out; echo err >&2; true", 5000).dump(Path::new("/c/p"), 1);
        assert_eq!(said, "out\nerr");
    }

    #[test]
    fn failures_are_said() {
        let said = gcore("echo no such process; exit 3; :", 5000).dump(Path::new("/c/p"), 1);
        assert_eq!(
            said,
            "no such process\n(the gcore command exited with status 3)"
        );
        let said = gcore("/nonexistent/gcore", 5000).dump(Path::new("/c/p"), 1);
        assert!(said.contains("not found"), "{said}");
        assert!(
            said.ends_with("(the gcore command exited with status 127)"),
            "{said}"
        );
    }

    #[test]
    fn a_hung_command_is_killed_with_its_group() {
        let started = Instant::now();
        let said = gcore("sleep 30 & wait; echo", 300).dump(Path::new("/c/p"), 1);
        assert_eq!(
            said,
            "(the gcore command did not finish within 0.3 s and was killed)"
        );
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
