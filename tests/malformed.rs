//! Bad input for every listener (issue 7): truncated frames, bad, absent and huge `len`,
//! header garbage, binary junk, a RESULT-sized flood (our own answers looped back), stdin
//! closed mid-payload, and a flood of well-formed events.
//! For each listener `superlance --list` names: one ERROR line naming the problem and quoting
//! the header, exit status 1, no panic, no hang, and nothing on stdout but the answers to the
//! well-formed events before it. supervisord puts a listener that writes anything else into
//! its UNKNOWN state, where it never gets another event.
//!
//! The listeners run with the least options that let them start ([`argv`]); a listener added
//! to the registry without an entry there fails these tests until it has one.

use std::time::{Duration, Instant};

use crate::common::pipe::{self, answered, frame, header, parse_log_line, show, Running};
use crate::common::{self, BIN};

/// Every listener name and the options it needs to start and reach the protocol loop without
/// acting on anything: mail goes nowhere, supervisord's URL is never called (no TICK is sent).
fn argv(name: &str) -> Vec<&'static str> {
    match name {
        "crashmail" => vec!["-s", "cat >/dev/null"],
        "crashmailbatch" | "fatalmailbatch" | "crashsms" => vec![
            "-t",
            "ops@example.com",
            "-f",
            "sv@example.com",
            "--sendmail_program",
            "cat >/dev/null",
        ],
        "essential" => vec!["-p", "web"],
        "httpok" => vec!["-p", "web", "http://127.0.0.1:9/"],
        "memmon" => vec!["-a", "1GB"],
        "notify" => vec!["-e", "FATAL,EXITED", "-a", "--tail", "5"],
        "oom_score_adj" => vec!["-a", "-s", "500"],
        other => panic!("listener {other}: add the options it needs to tests/malformed.rs argv()"),
    }
}

/// `superlance NAME ARGS` over pipes, as supervisord's child (an unreachable supervisord URL).
fn start(name: &str) -> Running {
    let mut args = vec![name];
    args.extend(argv(name));
    Running::spawn_env(
        BIN,
        &args,
        &[(
            "SUPERVISOR_SERVER_URL",
            "unix:///nonexistent/supervisor.sock",
        )],
    )
}

/// A well-formed event no listener acts on.
fn harmless(serial: u32) -> Vec<u8> {
    frame(serial, "SUPERVISOR_STATE_CHANGE_RUNNING", "")
}

struct Case {
    what: &'static str,
    /// Well-formed events sent (and answered) first.
    before: usize,
    input: Vec<u8>,
    /// Close stdin after the input (the end-of-input cases); otherwise the listener must
    /// notice the problem by itself.
    close: bool,
    /// Text the ERROR line must contain: the problem...
    problem: &'static str,
    /// ...and the quoted header (or the start of it).
    quoted: &'static str,
}

fn cases() -> Vec<Case> {
    let with_len = |len: &str| header(2, "TICK_5", 0).replace("len:0", len);
    let mut eof_payload = header(2, "TICK_5", 15).into_bytes();
    eof_payload.extend_from_slice(b"when:17");
    let bad_utf8_payload = b"processname:cat groupname:cat pid:7 channel:stdout\nab\xff\xfecd";
    let mut bad_payload = header(1, "PROCESS_LOG_STDOUT", bad_utf8_payload.len()).into_bytes();
    bad_payload.extend_from_slice(bad_utf8_payload);
    let mut long = b"ver:3.0 server:supervisor pad:".to_vec();
    long.extend(std::iter::repeat_n(b'x', 5000));
    vec![
        Case {
            what: "a header token that is not key:value",
            before: 0,
            input: b"ver:3.0 server:supervisor serial:0 hello eventname:TICK_5 len:0\n".to_vec(),
            close: false,
            problem: "malformed header line (token \"hello\" is not key:value)",
            quoted: "ver:3.0 server:supervisor serial:0 hello eventname:TICK_5 len:0",
        },
        Case {
            what: "no len",
            before: 1,
            input: b"ver:3.0 server:supervisor serial:2 pool:listener eventname:TICK_5\n".to_vec(),
            close: false,
            problem: "no len token",
            quoted: "ver:3.0 server:supervisor serial:2 pool:listener eventname:TICK_5",
        },
        Case {
            what: "no eventname",
            before: 0,
            input: b"ver:3.0 server:supervisor serial:0 len:0\n".to_vec(),
            close: false,
            problem: "no eventname token",
            quoted: "ver:3.0 server:supervisor serial:0 len:0",
        },
        Case {
            what: "a negative len",
            before: 1,
            input: with_len("len:-5").into_bytes(),
            close: false,
            problem: "invalid len \"-5\"",
            quoted: "eventname:TICK_5 len:-5",
        },
        Case {
            what: "a len that is no number",
            before: 0,
            input: with_len("len:ten").into_bytes(),
            close: false,
            problem: "invalid len \"ten\"",
            quoted: "eventname:TICK_5 len:ten",
        },
        Case {
            what: "a huge len",
            before: 0,
            input: with_len("len:99999999999").into_bytes(),
            close: false,
            problem: "len:99999999999, above the 16777216-byte limit",
            quoted: "eventname:TICK_5 len:99999999999",
        },
        Case {
            what: "a len beyond u64",
            before: 0,
            input: with_len("len:99999999999999999999999").into_bytes(),
            close: false,
            problem: "above the 16777216-byte limit",
            quoted: "len:99999999999999999999999",
        },
        Case {
            what: "stdin closed inside a header",
            before: 1,
            input: b"ver:3.0 server:supervisor serial:2 pool:listener eventname:TICK_5 le".to_vec(),
            close: true,
            problem: "end of input inside a header line",
            quoted: "ver:3.0 server:supervisor serial:2 pool:listener eventname:TICK_5 le",
        },
        Case {
            what: "stdin closed inside a payload",
            before: 1,
            input: eof_payload,
            close: true,
            problem: "end of input inside a payload (7 of 15 received)",
            quoted: "serial:2 pool:listener poolserial:2 eventname:TICK_5 len:15",
        },
        Case {
            what: "a header that is not UTF-8",
            before: 0,
            input: b"ver:3.0 server:supervisor serial:0 eventname:TICK\xff\xfe_5 len:0\n".to_vec(),
            close: false,
            problem: "header line is not valid UTF-8",
            quoted: "ver:3.0 server:supervisor serial:0 eventname:TICK",
        },
        Case {
            what: "a payload that is not UTF-8",
            before: 0,
            input: bad_payload,
            close: false,
            problem: "payload is not valid UTF-8",
            quoted: "eventname:PROCESS_LOG_STDOUT len:57",
        },
        Case {
            what: "binary junk",
            before: 1,
            // Every byte value, starting with a control character.
            input: (0u8..=255).cycle().skip(1).take(2000).collect(),
            close: false,
            problem: "malformed header line",
            quoted: "\\u{1}\\u{2}", // escaped: junk must not reach the log raw
        },
        Case {
            what: "binary junk that is not UTF-8",
            before: 0,
            input: (0u8..=255).rev().cycle().take(2000).collect(),
            close: false,
            problem: "header line is not valid UTF-8",
            quoted: "\u{fffd}",
        },
        Case {
            what: "an empty header line",
            before: 0,
            input: b"\n".to_vec(),
            close: false,
            problem: "header line is empty",
            quoted: "",
        },
        Case {
            // Our own answers looped back to us (a miswired pipe): a flood of RESULT frames.
            what: "a flood of RESULT answers on stdin",
            before: 1,
            input: "RESULT 2\nOKREADY\n".repeat(20_000).into_bytes(),
            close: false,
            problem: "malformed header line (token \"RESULT\" is not key:value)",
            quoted: "RESULT 2",
        },
        Case {
            what: "a header of 5000 bytes without a newline",
            before: 0,
            input: long,
            close: false,
            problem: "header line longer than 4096 bytes without a newline",
            quoted: "ver:3.0 server:supervisor pad:xxxx",
        },
    ]
}

/// Run `case` through listener `name`; panics with what went wrong.
fn refuse(name: &str, case: &Case) {
    let mut l = start(name);
    l.expect_stdout(pipe::READY);
    for n in 0..case.before {
        l.write(&harmless(n as u32 + 1));
        l.expect_stdout(&answered(n + 1));
    }
    // The listener may give up (and exit) before a long input is all written.
    if let Err(e) = l.try_write(&case.input) {
        assert_eq!(
            e.kind(),
            std::io::ErrorKind::BrokenPipe,
            "{name}, {}: {e}",
            case.what
        );
    }
    if case.close {
        l.close_stdin();
    }
    let started = Instant::now();
    let f = l.exits_within(Duration::from_secs(5));
    let ctx = format!("{name}, {}", case.what);
    assert!(
        !f.stderr.contains("panicked"),
        "{ctx}: a panic:\n{}",
        f.stderr
    );
    assert_eq!(f.code(), 1, "{ctx}: exit status; stderr:\n{}", f.stderr);
    assert_eq!(
        show(&f.stdout),
        show(&answered(case.before)),
        "{ctx}: stdout holds only the legitimate answers"
    );
    let errors: Vec<&str> = f
        .stderr_lines()
        .into_iter()
        .filter(|l| l.contains("ERROR"))
        .collect();
    assert_eq!(
        errors.len(),
        1,
        "{ctx}: exactly one ERROR line:\n{}",
        f.stderr
    );
    let (level, message) = parse_log_line(errors[0], name)
        .unwrap_or_else(|| panic!("{ctx}: not a log line: {:?}", errors[0]));
    assert_eq!(level, "ERROR");
    assert!(
        message.contains(case.problem) && message.contains(case.quoted),
        "{ctx}: the ERROR line names {:?} and quotes {:?}: {message:?}",
        case.problem,
        case.quoted
    );
    assert!(
        errors[0].len() < 600,
        "{ctx}: quote not truncated: {}",
        errors[0]
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{ctx}: took {:?} to give up",
        started.elapsed()
    );
}

fn listeners() -> &'static [String] {
    common::listener_names()
}

#[test]
fn every_listener_refuses_every_kind_of_bad_input_with_one_clear_line() {
    // Listeners in parallel, cases one after another in each: ~15 short runs per listener.
    let cases = cases();
    std::thread::scope(|s| {
        for name in listeners() {
            let cases = &cases;
            s.spawn(move || {
                for case in cases {
                    refuse(name, case);
                }
            });
        }
    });
}

#[test]
fn every_listener_answers_a_flood_of_events_written_at_once() {
    // supervisord never sends an event before the answer to the last one, but a listener must
    // not depend on that: 5000 events written in one go (harmless ones, a TICK-free mix of
    // event types) are each answered once, in order, and end of input ends it with status 0.
    let mut flood = Vec::new();
    for i in 0..5000u32 {
        flood.extend(match i % 4 {
            0 => harmless(i + 1),
            1 => frame(i + 1, "PROCESS_GROUP_ADDED", "groupname:g"),
            2 => frame(
                i + 1,
                "PROCESS_LOG_STDOUT",
                "processname:x groupname:x pid:1 channel:stdout\nline\n",
            ),
            _ => frame(i + 1, "SOME_FUTURE_EVENT", "whatever: it says"),
        });
    }
    std::thread::scope(|s| {
        for name in listeners() {
            let flood = &flood;
            s.spawn(move || {
                let mut l = start(name);
                l.expect_stdout(pipe::READY);
                l.write(flood);
                l.expect_stdout(&answered(5000));
                let f = l.finish();
                assert_eq!(f.code(), 0, "{name}: {}", f.stderr);
                assert_eq!(
                    f.stdout.len(),
                    answered(5000).len(),
                    "{name}: extra bytes on stdout"
                );
                assert!(!f.stderr.contains("ERROR"), "{name}: {}", f.stderr);
            });
        }
    });
}
