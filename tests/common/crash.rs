//! Crashing programs for the crash-reporting listeners' end-to-end tests (crashmail and the
//! batch mailers), and the crashes they had, read from supervisord's log.
//!
//! A crashing program runs `crash.sh NAME TIMES PAUSE` ([`CRASH_SH`]): each run sleeps PAUSE
//! seconds and exits with status 3 (not in `exitcodes`, so supervisord says `expected:0`); from
//! run TIMES+1 on it stays up. With `startsecs=0` every run is RUNNING at once, so each crash is
//! an EXITED event from state RUNNING, and a bounded number of crashes makes "each crash
//! reported once" an exact count. Which crashes happened, with which pids, comes from
//! supervisord's log (`spawned: 'x' with pid N`, `exited: x (exit status 3; not expected)`):
//! [`crashes`].
//!
//! supervisord 4.3.0 (Python 3) does not wake up for SIGCHLD: it notices an exit and sends the
//! event at its next poll, which times out after 1 s. So a crash loop runs at about one crash
//! per PAUSE + 1 s.

use std::time::Duration;

use super::Supervisord;

/// Longest wait for a program or listener to reach RUNNING.
const START: Duration = Duration::from_secs(10);

/// Longest wait for crashes (about 1.5 s each): far more than they need, with slack for a
/// 2-core machine running many tests at once.
const ARRIVE: Duration = Duration::from_secs(60);

/// The crashing program (see the module doc). Written next to supervisord.conf; the config
/// runs it as `sh %(here)s/crash.sh NAME TIMES PAUSE`.
pub const CRASH_SH: &str = "\
# crash.sh NAME TIMES PAUSE: the first TIMES runs exit with status 3 after PAUSE seconds;
# later runs stay up. The runs are counted in NAME.runs next to this script.
runs=\"$(dirname \"$0\")/$1.runs\"
echo run >>\"$runs\"
if [ \"$(wc -l <\"$runs\")\" -gt \"$2\" ]; then exec sleep 1000; fi
sleep \"$3\"
exit 3
";

/// A `[program:NAME]` section running crash.sh: `times` crashes, `pause` seconds each; not
/// started with supervisord (the test starts it once its listener is RUNNING).
pub fn crasher(name: &str, times: u32, pause: &str) -> String {
    format!(
        "[program:{name}]\n\
         command=sh %(here)s/crash.sh {name} {times} {pause}\n\
         startsecs=0\n\
         autostart=false\n\
         autorestart=true\n"
    )
}

/// A supervisord with these sections and crash.sh.
pub fn start(sections: &[String]) -> Supervisord {
    Supervisord::config(&sections.join("\n"))
        .file("crash.sh", CRASH_SH)
        .start()
}

/// One crash, from supervisord's log.
#[derive(Debug, Clone, PartialEq)]
pub struct Crash {
    /// When supervisord logged the exit (its asctime, local time).
    pub at: String,
    pub pid: u32,
}

/// The crashes of program `name` in supervisord's log, in order: each `exited: NAME (exit
/// status 3; not expected)` line with the pid of the `spawned: 'NAME' with pid N` line before it.
pub fn crashes(sv: &Supervisord, name: &str) -> Vec<Crash> {
    let spawned = format!(" spawned: '{name}' with pid ");
    let exited = format!(" exited: {name} (exit status 3; not expected)");
    let mut pid = None;
    let mut out = Vec::new();
    for line in sv.log().lines() {
        if let Some((_, p)) = line.split_once(&spawned) {
            pid = p.trim().parse::<u32>().ok();
        } else if line.ends_with(&exited) {
            let pid = pid.unwrap_or_else(|| panic!("{name} exited before it was spawned: {line}"));
            out.push(Crash {
                at: line[..23].to_owned(),
                pid,
            });
        }
    }
    out
}

/// Wait until program `name` has crashed `n` times; returns its crashes.
pub fn wait_crashes(sv: &Supervisord, name: &str, n: usize) -> Vec<Crash> {
    super::poll(ARRIVE, || {
        let c = crashes(sv, name);
        (c.len() >= n).then_some(c)
    })
    .unwrap_or_else(|| {
        panic!(
            "{name} crashed {} times within {ARRIVE:?}, expected {n}",
            crashes(sv, name).len()
        )
    })
}

/// Wait until program `name` has crashed all its `n` times and its next run stays up: no more
/// crashes will come. Returns the crashes.
pub fn wait_crashes_done(sv: &Supervisord, name: &str, n: usize) -> Vec<Crash> {
    wait_crashes(sv, name, n);
    let settled = super::wait_until(ARRIVE, || {
        sv.log()
            .lines()
            .filter(|l| l.contains(&format!(" spawned: '{name}' with pid ")))
            .count()
            > n
    });
    assert!(settled, "{name} was not started a last time");
    sv.wait_running(name, START);
    let all = crashes(sv, name);
    assert_eq!(all.len(), n, "{name} crashed more than {n} times: {all:?}");
    all
}

/// `YYYY-MM-DD HH:MM:SS,mmm`, supervisor's asctime.
pub fn is_asctime(s: &str) -> bool {
    let shape = "dddd-dd-dd dd:dd:dd,ddd";
    s.len() == shape.len()
        && s.bytes().zip(shape.bytes()).all(|(c, f)| match f {
            b'd' => c.is_ascii_digit(),
            _ => c == f,
        })
}
