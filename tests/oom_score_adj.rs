//! The oom_score_adj listener as a user sees it: the value in /proc/<pid>/oom_score_adj, the
//! state in supervisorctl, the listener's log lines. First over pipes (the binary on its own),
//! then under a real supervisord 4.3.0 (issue 2, sections 3 and 4), including the protocol's
//! `len` trap (reference protocol.md section 3).
//!
//! Scores are positive (500): these machines run as root WITHOUT CAP_SYS_RESOURCE, where the
//! kernel refuses negative values; that refusal has a test of its own. Every program inherits
//! supervisord's value, which inherits this test process's ([`base`]), so a program the
//! listener must not touch keeps [`base`].

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{self, oom_score_adj, Supervisord, BIN, CAP_SYS_RESOURCE};

/// The score the tests set: allowed without CAP_SYS_RESOURCE and different from [`base`].
const SCORE: i32 = 500;

/// How long a listener may take to act on an event supervisord has already emitted: far more
/// than it needs, little enough to keep a test under ~20 s.
const ACT: Duration = Duration::from_secs(10);

/// The value every process here starts with (supervisord and its programs inherit it).
fn base() -> i32 {
    let own = oom_score_adj(std::process::id());
    assert_ne!(
        own, SCORE,
        "this test process already has oom_score_adj {SCORE}: the tests could not tell a set score from an inherited one"
    );
    own
}

/// Wait until `pid`'s score is `want`; panics with what it is instead.
fn wait_score(sv: &Supervisord, what: &str, pid: u32, want: i32) {
    if !common::wait_until(ACT, || common::try_oom_score_adj(pid) == Some(want)) {
        panic!(
            "{what} (pid {pid}) has oom_score_adj {:?}, expected {want} within {ACT:?}\nlistener logs:\n{}",
            common::try_oom_score_adj(pid),
            listener_logs(sv)
        );
    }
}

fn listener_logs(sv: &Supervisord) -> String {
    ["oom_score_adj", "with_children", "main_only"]
        .iter()
        .map(|n| sv.stderr_log(n))
        .collect()
}

/// The listener was neither restarted nor confused: same pid as at the start, RUNNING, no
/// protocol error in its log, never exited or UNKNOWN according to supervisord.
fn assert_listener_undisturbed(sv: &Supervisord, name: &str, pid: u32) {
    sv.assert_still_running(name, pid);
    let log = sv.stderr_log(name);
    assert!(!log.contains("protocol error"), "{name}'s log:\n{log}");
    assert!(!log.contains(" ERROR "), "{name}'s log:\n{log}");
    let main = sv.log();
    for bad in [
        format!("exited: {name} "),
        format!("{name} has entered the UNKNOWN state"),
        "overflowed".to_owned(),
    ] {
        assert!(!main.contains(&bad), "supervisord.log has {bad:?}:\n{main}");
    }
}

// ---------------------------------------------------------------------------------------------
// Over pipes: the listener started by this test process, so a process this test starts is a
// "child of the same supervisord" as far as the listener can tell.

/// A RUNNING event frame as supervisord 4.3.0 writes it.
fn running_frame(name: &str, pid: u32) -> Vec<u8> {
    let payload = format!("processname:{name} groupname:{name} from_state:STARTING pid:{pid}");
    let mut frame = format!(
        "ver:3.0 server:supervisor serial:1 pool:oom_score_adj poolserial:1 eventname:PROCESS_STATE_RUNNING len:{}\n",
        payload.chars().count()
    )
    .into_bytes();
    frame.extend_from_slice(payload.as_bytes());
    frame
}

/// Run `superlance ARGS` with `input` on stdin (then EOF); returns (exit code, stdout, stderr).
fn over_pipes(args: &[&str], input: &[u8]) -> (Option<i32>, Vec<u8>, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {BIN}: {e}"));
    if let Some(mut stdin) = child.stdin.take() {
        // A listener that refuses its options exits at once: EPIPE here is its answer.
        let _ = stdin.write_all(input);
    }
    let deadline = Instant::now() + ACT;
    while matches!(child.try_wait(), Ok(None)) {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("superlance {args:?} did not exit at end of input within {ACT:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("cannot collect the output of {args:?}: {e}"));
    (
        out.status.code(),
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A `sleep` that is killed when dropped.
struct Sleeper(std::process::Child);

impl Sleeper {
    fn start() -> Sleeper {
        Sleeper(
            Command::new("sleep")
                .arg("1000")
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start sleep: {e}")),
        )
    }
    fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn pipe_running_event_sets_the_score_reads_it_back_and_answers_ok() {
    let base = base();
    let target = Sleeper::start();
    let pid = target.pid();
    let (code, stdout, stderr) = over_pipes(
        &["oom_score_adj", "-p", "web", "-s", "500"],
        &running_frame("web", pid),
    );
    assert_eq!(oom_score_adj(pid), SCORE, "{stderr}");
    assert_eq!(
        stdout.escape_ascii().to_string(),
        "READY\\nRESULT 2\\nOKREADY\\n"
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains(&format!("web:web pid {pid}: oom_score_adj {base} -> 500")),
        "{stderr}"
    );
}

#[test]
fn pipe_a_pid_that_is_not_a_sibling_is_left_alone() {
    // supervisord re-sends events after a listener restart, so a RUNNING event can name a pid
    // that is gone or now belongs to someone else: here a grandchild of this test, whose
    // parent is not the listener's parent.
    let base = base();
    let mut sh = Command::new("sh")
        .args(["-c", "sleep 1000 & echo $!; wait"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start sh: {e}"));
    let mut line = String::new();
    if let Some(out) = sh.stdout.take() {
        std::io::BufRead::read_line(&mut std::io::BufReader::new(out), &mut line)
            .unwrap_or_else(|e| panic!("cannot read the grandchild's pid: {e}"));
    }
    let grandchild: u32 = line
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("sh printed {line:?}: {e}"));
    let (code, stdout, stderr) = over_pipes(
        &["oom_score_adj", "-a", "-s", "500"],
        &running_frame("web", grandchild),
    );
    let after = oom_score_adj(grandchild);
    // SAFETY: kill(2) on our grandchild, still alive (we just read its score).
    unsafe { libc::kill(grandchild as libc::pid_t, libc::SIGKILL) };
    let _ = sh.wait();
    assert_eq!(after, base, "{stderr}");
    assert_eq!(
        stdout.escape_ascii().to_string(),
        "READY\\nRESULT 2\\nOKREADY\\n"
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("not a child of our supervisord"),
        "{stderr}"
    );
}

#[test]
fn pipe_a_score_out_of_range_is_refused_at_start() {
    for bad in ["1001", "-1001", "lots"] {
        let (code, stdout, stderr) = over_pipes(&["oom_score_adj", "-a", "-s", bad], b"");
        assert_eq!(code, Some(2), "-s {bad}: {stderr}");
        assert!(stdout.is_empty(), "-s {bad} wrote to stdout: {stdout:?}");
        assert!(stderr.contains(bad), "-s {bad}: {stderr}");
    }
}

// ---------------------------------------------------------------------------------------------
// Under a real supervisord 4.3.0.

#[test]
fn seed_configuration_sets_program1_and_group1_program2_only() {
    // The seed's example verbatim (seed-oom_score_adj.rst), but for the score: 500 instead of
    // -100, which needs CAP_SYS_RESOURCE.
    let base = base();
    let sv = Supervisord::start(
        "[program:program1]\n\
         command=sleep 1001\n\
         \n\
         [group:group1]\n\
         programs=program2,program3\n\
         \n\
         [program:program2]\n\
         command=sleep 1002\n\
         \n\
         [program:program3]\n\
         command=sleep 1003\n\
         \n\
         [program:unselected]\n\
         command=sleep 1004\n\
         \n\
         [eventlistener:oom_score_adj]\n\
         command=oom_score_adj -p program1 -p group1:program2 -s 500\n\
         events=PROCESS_STATE_RUNNING\n",
    );
    let start = Duration::from_secs(10);
    let p1 = sv.wait_running("program1", start);
    let p2 = sv.wait_running("group1:program2", start);
    let p3 = sv.wait_running("group1:program3", start);
    let other = sv.wait_running("unselected", start);
    let listener = sv.wait_running("oom_score_adj", start);

    wait_score(&sv, "program1", p1, SCORE);
    wait_score(&sv, "group1:program2", p2, SCORE);
    // A barrier: the RUNNING events of program3 and unselected were emitted before this
    // restart's, and supervisord hands a pool its events in order, so once the new program1
    // has its score the listener has seen (and ignored) those two.
    sv.ctl(&["restart", "program1"]);
    let p1_again = sv.wait_running("program1", start);
    assert_ne!(p1_again, p1, "restart gave program1 the same pid");
    wait_score(&sv, "program1 after a restart", p1_again, SCORE);
    assert_eq!(oom_score_adj(p3), base, "group1:program3 was not selected");
    assert_eq!(oom_score_adj(other), base, "unselected was not selected");

    let log = sv.stderr_log("oom_score_adj");
    for (namespec, pid) in [
        ("program1:program1", p1),
        ("group1:program2", p2),
        ("program1:program1", p1_again),
    ] {
        let line = format!("{namespec} pid {pid}: oom_score_adj {base} -> 500");
        assert!(
            log.contains(&line),
            "no {line:?} in the listener's log:\n{log}"
        );
    }
    assert!(
        !log.contains("program3") && !log.contains("unselected"),
        "{log}"
    );
    assert_listener_undisturbed(&sv, "oom_score_adj", listener);
}

#[test]
fn any_covers_every_program_and_overrides_p() {
    let sv = Supervisord::start(
        "[program:alpha]\n\
         command=sleep 1041\n\
         \n\
         [program:beta]\n\
         command=sleep 1042\n\
         \n\
         [group:grp]\n\
         programs=gamma\n\
         \n\
         [program:gamma]\n\
         command=sleep 1043\n\
         \n\
         [eventlistener:oom_score_adj]\n\
         command=oom_score_adj -a -p alpha -s 500\n\
         events=PROCESS_STATE_RUNNING\n\
         startsecs=0\n",
    );
    let start = Duration::from_secs(10);
    for name in ["alpha", "beta", "grp:gamma"] {
        let pid = sv.wait_running(name, start);
        wait_score(&sv, name, pid, SCORE);
    }
    let listener = sv.wait_running("oom_score_adj", start);
    assert_listener_undisturbed(&sv, "oom_score_adj", listener);
}

#[test]
fn programs_running_before_the_listener_are_scored_at_start() {
    // supervisord keeps at most buffer_size events for a pool whose listener is not READY and
    // drops the oldest (at boot, with many programs, RUNNING events are lost). Here the
    // listener starts after four programs run, with buffer_size=1: three RUNNING events are
    // dropped. The start-up sweep (XML-RPC getAllProcessInfo) scores all four anyway. Fails
    // if any keeps its inherited score.
    let base = base();
    let sv = Supervisord::start(
        "[program:w]\n\
         command=sleep 1051\n\
         numprocs=4\n\
         process_name=%(program_name)s_%(process_num)d\n\
         startsecs=0\n\
         \n\
         [eventlistener:oom_score_adj]\n\
         command=oom_score_adj -p w:* -s 500\n\
         events=PROCESS_STATE_RUNNING\n\
         buffer_size=1\n\
         autostart=false\n\
         startsecs=0\n",
    );
    let start = Duration::from_secs(10);
    let pids: Vec<u32> = (0..4)
        .map(|i| sv.wait_running(&format!("w:w_{i}"), start))
        .collect();
    for &pid in &pids {
        assert_eq!(oom_score_adj(pid), base);
    }
    sv.ctl(&["start", "oom_score_adj"]);
    let listener = sv.wait_running("oom_score_adj", start);
    for (i, &pid) in pids.iter().enumerate() {
        wait_score(&sv, &format!("w:w_{i}"), pid, SCORE);
    }
    sv.wait_stderr_line(
        "oom_score_adj",
        &["start-up: 4 selected programs were already running"],
        ACT,
    );
    assert!(
        sv.log().contains("event buffer overflowed"),
        "no event was dropped: the test proves nothing\n{}",
        sv.log()
    );
    sv.assert_still_running("oom_score_adj", listener);
}

#[test]
fn children_forked_during_startsecs_get_the_score_with_c_only() {
    // `sleep 1021 &` is forked before supervisord declares the program RUNNING, so it does not
    // inherit a score written afterwards: -c must find it. The second listener (without -c)
    // shows the child really would have kept its old value.
    let base = base();
    let sv = Supervisord::start(
        "[program:worker]\n\
         command=sh -c 'sleep 1021 & exec sleep 1022'\n\
         \n\
         [program:worker2]\n\
         command=sh -c 'sleep 1023 & exec sleep 1024'\n\
         \n\
         [eventlistener:with_children]\n\
         command=oom_score_adj -p worker -c -s 500\n\
         events=PROCESS_STATE_RUNNING\n\
         startsecs=0\n\
         \n\
         [eventlistener:main_only]\n\
         command=oom_score_adj -p worker2 -s 500\n\
         events=PROCESS_STATE_RUNNING\n\
         startsecs=0\n",
    );
    let start = Duration::from_secs(10);
    let worker = sv.wait_running("worker", start);
    let worker2 = sv.wait_running("worker2", start);
    let child = only_child(worker, "sleep 1021");
    let child2 = only_child(worker2, "sleep 1023");

    wait_score(&sv, "worker", worker, SCORE);
    wait_score(&sv, "worker's child (sleep 1021)", child, SCORE);
    wait_score(&sv, "worker2", worker2, SCORE);
    // main_only answered the event that set worker2's score: it will not come back for the
    // child (it is not subscribed to TICK either).
    assert_eq!(
        oom_score_adj(child2),
        base,
        "without -c the child must keep its value"
    );
    let log = sv.stderr_log("with_children");
    let line =
        format!("worker:worker pid {child} (descendant of {worker}): oom_score_adj {base} -> 500");
    assert!(log.contains(&line), "no {line:?} in:\n{log}");
}

/// The one child of `parent` whose command line is `cmd`; panics if there is not exactly one.
fn only_child(parent: u32, cmd: &str) -> u32 {
    let found: Vec<u32> = common::children(parent)
        .into_iter()
        .filter(|&c| common::cmdline(c) == cmd)
        .collect();
    match found.as_slice() {
        [one] => *one,
        _ => panic!(
            "expected one child {cmd:?} of {parent}, found {found:?} among {:?}",
            common::descendants(parent)
        ),
    }
}

#[test]
fn a_child_forked_after_running_gets_the_score_on_a_following_tick() {
    // The program forks a worker 2 s after it started, so after supervisord declared it
    // RUNNING (startsecs=1) and the listener set its score. A fork inherits the parent's
    // value, so the worker resets its own, as PostgreSQL backends do (PG_OOM_ADJUST_FILE);
    // only a TICK re-check can bring it back (without TICK_5 in `events` this test fails).
    let base = base();
    let sv = Supervisord::start(&format!(
        "[program:forker]\n\
         command=sh -c 'sleep 2; sh -c \"echo {base} >/proc/self/oom_score_adj; exec sleep 1012\" & exec sleep 1011'\n\
         startsecs=1\n\
         \n\
         [eventlistener:oom_score_adj]\n\
         command=oom_score_adj -p forker -c -s 500\n\
         events=PROCESS_STATE_RUNNING,TICK_5\n\
         startsecs=0\n"
    ));
    let forker = sv.wait_running("forker", Duration::from_secs(10));
    wait_score(&sv, "forker", forker, SCORE);
    let late = common::poll(ACT, || {
        common::children(forker)
            .into_iter()
            .find(|&c| common::cmdline(c) == "sleep 1012")
    })
    .unwrap_or_else(|| {
        panic!(
            "forker {forker} never forked its worker: {:?}",
            common::descendants(forker)
        )
    });
    // TICK_5 comes at the next multiple of 5 s: at most 5 s (and ACT is 10 s) away.
    wait_score(&sv, "the late worker (sleep 1012)", late, SCORE);
    let line = sv.wait_stderr_line(
        "oom_score_adj",
        &[&format!(
            "forker:forker pid {late} (descendant of {forker}): oom_score_adj {base} -> 500"
        )],
        ACT,
    );
    assert!(!line.is_empty());
}

#[test]
fn negative_score_without_cap_sys_resource_is_refused_and_the_listener_stays() {
    // The seed's own score, -100. Without CAP_SYS_RESOURCE (as on these machines; dropped
    // explicitly so the test means the same on a machine that has it) the kernel answers
    // EACCES. The listener must say so, answer OK, and keep serving.
    let base = base();
    let sv = Supervisord::config(
        "[program:program1]\n\
         command=sleep 1031\n\
         \n\
         [program:program2]\n\
         command=sleep 1032\n\
         autostart=false\n\
         startsecs=0\n\
         \n\
         [eventlistener:oom_score_adj]\n\
         command=oom_score_adj -p program1 -p program2 -s -100\n\
         events=PROCESS_STATE_RUNNING\n\
         startsecs=0\n",
    )
    .without_capability(CAP_SYS_RESOURCE)
    .start();
    let start = Duration::from_secs(10);
    let listener = sv.wait_running("oom_score_adj", start);
    let p1 = sv.wait_running("program1", start);
    let refusal = |pid: u32| {
        sv.wait_stderr_line(
            "oom_score_adj",
            &[
                &format!("pid {pid}: cannot set oom_score_adj {base} -> -100"),
                "CAP_SYS_RESOURCE",
            ],
            ACT,
        )
    };
    refusal(p1);
    assert_eq!(oom_score_adj(p1), base);
    assert_listener_undisturbed(&sv, "oom_score_adj", listener);

    // It still serves: a later event gets its own (refused) answer, from the same process.
    sv.ctl(&["start", "program2"]);
    let p2 = sv.wait_running("program2", start);
    refusal(p2);
    assert_eq!(oom_score_adj(p2), base);
    assert_listener_undisturbed(&sv, "oom_score_adj", listener);
}

/// A listener that counts `len` in BYTES, as every byte-oriented reader does (superlance's
/// Python listeners read text and count characters): the control experiment for the len
/// trap. On the first header line it cannot parse it prints `desync after serial:N` (the
/// event it under-read) and exits 1.
const BYTE_COUNTING_LISTENER: &str = r#"
import sys
out, inp = sys.stdout.buffer, sys.stdin.buffer
serial = b"?"
while True:
    out.write(b"READY\n")
    out.flush()
    line = inp.readline()
    if not line:
        sys.exit(0)
    tokens = line.split()
    try:
        header = dict(t.split(b":", 1) for t in tokens)
        if not tokens[0].startswith(b"ver:") or b"eventname" not in header:
            raise ValueError
        n = int(header[b"len"])
    except (ValueError, KeyError, IndexError):
        sys.stderr.write("desync after serial:%s; header line %r\n" % (serial.decode(), line[:100]))
        sys.stderr.flush()
        sys.exit(1)
    serial = header.get(b"serial", b"?")
    inp.read(n)
    out.write(b"RESULT 2\nOK")
    out.flush()
"#;

/// Non-ASCII output in bursts of 1, 20, 150 (about 7 KB, above PIPE_BUF) and 3 lines, each
/// burst one or a few PROCESS_LOG_STDOUT events; no `:` anywhere, so a reader that loses
/// sync cannot mistake a leftover line for a header.
const CHATTY: &str = "line='héllo wörld ✓ 😀 ünïcödé'\n\
burst() { i=0; while [ $i -lt $1 ]; do printf '%s %s\\n' $i \"$line\"; i=$((i+1)); done; }\n\
burst 1; sleep 0.2; burst 20; sleep 0.2; burst 150; sleep 0.2; burst 3\n\
echo done chatting\n\
exec sleep 1051\n";

#[test]
fn len_trap_listener_stays_in_sync_after_non_ascii_events() {
    // supervisord 4 (Python 3) counts `len` in characters (protocol.md section 3): a listener
    // that reads `len` bytes stops short inside a non-ASCII payload and reads the rest as the
    // next header. Here the pool gets PROCESS_LOG events of non-ASCII text and PROCESS_STATE
    // events of a program with a non-ASCII name; afterwards a program started by hand must
    // still get its score from the same, never restarted listener.
    //
    // How we know this test can fail. (1) The `bytecount` pool is a control: a listener that
    // counts bytes, fed the same PROCESS_LOG events; the test requires it to lose sync and
    // die, so these events really carry a character-counted len. (2) With src/protocol.rs
    // changed (in a scratch copy) to read exactly `len` bytes, this test failed twice over:
    // the RUNNING event of `späť` was cut to `pid:1` (the sibling check refused pid 1, and
    // späť kept its score), and with späť renamed to `spat` the listener logged "protocol error:
    // header line is not valid UTF-8: � 😀 ünïcödé", was restarted, and failed the pid check.
    let sv = Supervisord::config(&format!(
        "[program:chatty]\n\
         command=sh %(here)s/chatty.sh\n\
         stdout_events_enabled=true\n\
         autorestart=false\n\
         \n\
         [program:späť]\n\
         command=sleep 1052\n\
         startsecs=0\n\
         \n\
         [program:later]\n\
         command=sleep 1053\n\
         autostart=false\n\
         startsecs=0\n\
         \n\
         [eventlistener:oom_score_adj]\n\
         command=oom_score_adj -p later -p späť -s 500 --log-level debug\n\
         events=PROCESS_LOG,PROCESS_STATE\n\
         buffer_size=100\n\
         startsecs=0\n\
         \n\
         [eventlistener:bytecount]\n\
         command={python} %(here)s/bytecount.py\n\
         events=PROCESS_LOG\n\
         buffer_size=100\n\
         startsecs=0\n\
         autorestart=false\n",
        python = common::venv_bin("python").display(),
    ))
    .file("chatty.sh", CHATTY)
    .file("bytecount.py", BYTE_COUNTING_LISTENER)
    .start();
    let start = Duration::from_secs(10);
    let listener = sv.wait_running("oom_score_adj", start);
    let spat = sv.wait_running("späť", start);
    wait_score(&sv, "späť", spat, SCORE);

    // Once supervisord has logged the last line, it has emitted every PROCESS_LOG event.
    assert!(
        common::wait_until(ACT, || sv
            .child_log("chatty", "stdout")
            .contains("done chatting")),
        "chatty did not finish:\n{}",
        sv.child_log("chatty", "stdout")
    );
    assert!(sv
        .child_log("chatty", "stdout")
        .contains("149 héllo wörld ✓ 😀 ünïcödé"));
    // The control lost sync on these very events.
    assert!(
        common::wait_until(ACT, || sv
            .log()
            .contains("exited: bytecount (exit status 1")),
        "the byte-counting control listener did not lose sync: were the events non-ASCII?\n{}",
        sv.stderr_log("bytecount")
    );
    // ... and our listener was handed that very event (the serial is supervisord's, shared by
    // all pools).
    let control = sv.stderr_log("bytecount");
    let serial: String = control
        .split("desync after serial:")
        .nth(1)
        .map(|rest| rest.chars().take_while(char::is_ascii_digit).collect())
        .unwrap_or_default();
    assert!(!serial.is_empty(), "{control}");
    let sent = format!("event {serial} sent to listener oom_score_adj\n");
    assert!(
        common::wait_until(ACT, || sv.log().contains(&sent)),
        "supervisord never sent event {serial} (the one a byte counter under-reads) to oom_score_adj"
    );

    // Events reach a pool in order: `later`'s RUNNING comes after every log event above.
    sv.ctl(&["start", "later"]);
    let later = sv.wait_running("later", start);
    wait_score(&sv, "later", later, SCORE);
    assert_listener_undisturbed(&sv, "oom_score_adj", listener);
    let log = sv.stderr_log("oom_score_adj");
    assert_eq!(
        log.matches("will set oom_score_adj 500").count(),
        1,
        "{log}"
    );
}
