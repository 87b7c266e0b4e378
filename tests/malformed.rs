//! Bad input for every listener (issue 7): truncated frames, bad, absent and huge `len`,
//! header garbage, binary junk, a RESULT-sized flood (our own answers looped back), stdin
//! closed mid-payload, and a flood of well-formed events.
//! For each listener `superlance --list` names: one ERROR line naming the problem and quoting
//! the header, exit status 1, no panic, no hang, and nothing on stdout but the answers to the
//! well-formed events before it. supervisord puts a listener that writes anything else into
//! its UNKNOWN state, where it never gets another event.
//!
//! Odd but well-framed input is accepted (issue 15): a header or payload that is not UTF-8
//! (servers that count `len` in bytes pass program output through as it is), a payload token
//! that is missing or not valid. The listener answers every such event, stays up, and says
//! each kind of problem in exactly one WARN line, however many events carry it.
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
        "metrics" => vec!["--listen", "127.0.0.1:0"],
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
            what: "binary junk",
            before: 1,
            // Every byte value, starting with a control character.
            input: (0u8..=255).cycle().skip(1).take(2000).collect(),
            close: false,
            problem: "malformed header line",
            quoted: "\\u{1}\\u{2}", // escaped: junk must not reach the log raw
        },
        Case {
            // Not UTF-8 is no longer fatal (issue 15): the line, read with U+FFFD for its
            // bad bytes, is refused for not being key:value tokens.
            what: "binary junk that is not UTF-8",
            before: 0,
            input: (0u8..=255).rev().cycle().take(2000).collect(),
            close: false,
            problem: "malformed header line",
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
    // In characters: quotes are cut after 120 of them, and U+FFFD takes 3 bytes.
    assert!(
        errors[0].chars().count() < 600,
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

/// Odd but well-framed input (issue 15), accepted: one event, and the WARN line it (and every
/// other of its kind) gives, once.
struct Odd {
    what: &'static str,
    /// The header line without its `len` token, and the payload.
    head: &'static [u8],
    payload: &'static [u8],
    /// Text of the one WARN line for this kind.
    warn: &'static str,
}

/// Events no listener acts on (no TICK: httpok and memmon would call the unreachable
/// supervisord), grouped by the kind of WARN they give; several events per kind.
fn odd() -> Vec<Odd> {
    const PAYLOAD: &str = "an event payload was not valid UTF-8";
    const HEADER: &str = "an event header line was not valid UTF-8";
    vec![
        Odd {
            what: "Latin-1 and binary program output",
            head: b"ver:3.0 server:supervisor serial:1 pool:listener poolserial:1 eventname:PROCESS_LOG_STDOUT",
            payload: b"processname:cat groupname:cat pid:7 channel:stdout\n\xff\xfe caf\xe9 \xe2\x9c\x93\n",
            warn: PAYLOAD,
        },
        Odd {
            what: "a captured communication cut inside a character",
            head: b"ver:3.0 server:supervisor serial:2 pool:listener poolserial:2 eventname:PROCESS_COMMUNICATION_STDOUT",
            payload: b"processname:cat groupname:cat pid:7\n<data>\xe2\x9c",
            warn: PAYLOAD,
        },
        Odd {
            what: "a program name that is not UTF-8",
            head: b"ver:3.0 server:supervisor serial:3 pool:listener poolserial:3 eventname:PROCESS_STATE_EXITED",
            payload: b"processname:caf\xe9 groupname:caf\xe9 from_state:RUNNING expected:1 pid:7",
            warn: PAYLOAD,
        },
        Odd {
            what: "a bad byte in a header value",
            head: b"ver:3.0 server:sup\xe9rvisor serial:4 pool:l\xff poolserial:4 eventname:SUPERVISOR_STATE_CHANGE_RUNNING",
            payload: b"",
            warn: HEADER,
        },
        Odd {
            what: "a bad byte in the event name",
            head: b"ver:3.0 server:supervisor serial:5 pool:listener poolserial:5 eventname:PROCESS_GROUP_ADDED\xff",
            payload: b"groupname:g\n",
            warn: HEADER,
        },
        Odd {
            what: "an EXITED event without expected",
            head: b"ver:3.0 server:supervisor serial:6 pool:listener poolserial:6 eventname:PROCESS_STATE_EXITED",
            payload: b"processname:cat groupname:cat from_state:RUNNING pid:7",
            warn: "a PROCESS_STATE_EXITED event has no expected token",
        },
        Odd {
            what: "a log event with pid -1",
            head: b"ver:3.0 server:supervisor serial:7 pool:listener poolserial:7 eventname:PROCESS_LOG_STDERR",
            payload: b"processname:cat groupname:cat pid:-1\nline\n",
            warn: "a PROCESS_LOG_STDERR event has an invalid pid token",
        },
        Odd {
            what: "a group event without groupname",
            head: b"ver:3.0 server:supervisor serial:8 pool:listener poolserial:8 eventname:PROCESS_GROUP_ADDED",
            payload: b"group:g",
            warn: "a PROCESS_GROUP_ADDED event has no groupname token",
        },
    ]
}

/// The frame of `odd`, `len` counted in bytes or (as a lossy decoder sees them) characters.
fn odd_frame(odd: &Odd, chars: bool) -> Vec<u8> {
    let len = if chars {
        String::from_utf8_lossy(odd.payload).chars().count()
    } else {
        odd.payload.len()
    };
    let mut f = odd.head.to_vec();
    f.extend_from_slice(format!(" len:{len}\n").as_bytes());
    f.extend_from_slice(odd.payload);
    f
}

/// The WARN messages `name` gives on start-up with these options (crashmail's "no -p or -a
/// given", ...): not ours to count.
fn start_up_warnings(name: &str) -> Vec<String> {
    let mut l = start(name);
    l.expect_stdout(pipe::READY);
    l.write(&harmless(1));
    l.expect_stdout(&answered(1));
    let f = l.finish();
    warnings(&f, name)
}

fn warnings(f: &pipe::Finished, name: &str) -> Vec<String> {
    f.stderr_lines()
        .into_iter()
        .filter_map(|l| parse_log_line(l, name))
        .filter(|(level, _)| *level == "WARN")
        .map(|(_, m)| m.to_owned())
        .collect()
}

/// Every odd event `rounds` times, one at a time as a server sends them, each answered before
/// the next; then the end of input.
fn accept(name: &str, chars: bool, rounds: usize) {
    let ctx = format!(
        "{name}, len in {}",
        if chars { "characters" } else { "bytes" }
    );
    let odd = odd();
    let mut l = start(name);
    l.expect_stdout(pipe::READY);
    let mut n = 0;
    for _ in 0..rounds {
        for case in &odd {
            l.write(&odd_frame(case, chars));
            n += 1;
            l.expect_stdout(&answered(n));
            // In sync: a plain event right after is answered too.
            l.write(&harmless(n as u32));
            n += 1;
            l.expect_stdout(&answered(n));
        }
    }
    let f = l.finish();
    assert!(!f.stderr.contains("panicked"), "{ctx}: {}", f.stderr);
    assert_eq!(
        f.code(),
        0,
        "{ctx}: stayed up to the end of input; {}",
        f.stderr
    );
    assert_eq!(
        show(&f.stdout),
        show(&answered(n)),
        "{ctx}: stdout only protocol"
    );
    assert!(!f.stderr.contains("ERROR"), "{ctx}: {}", f.stderr);
    let baseline = start_up_warnings(name);
    let ours: Vec<String> = warnings(&f, name)
        .into_iter()
        .filter(|w| !baseline.contains(w))
        .collect();
    let mut kinds: Vec<&str> = odd.iter().map(|o| o.warn).collect();
    kinds.dedup();
    for kind in &kinds {
        let lines: Vec<&String> = ours.iter().filter(|w| w.starts_with(kind)).collect();
        assert_eq!(
            lines.len(),
            1,
            "{ctx}: one WARN for {kind:?}:\n{}",
            f.stderr
        );
    }
    assert_eq!(
        ours.len(),
        kinds.len(),
        "{ctx}: no other WARN:\n{}",
        f.stderr
    );
    for case in &odd {
        assert!(
            ours.iter().any(|w| w.starts_with(case.warn)),
            "{ctx}, {}: said",
            case.what
        );
    }
}

#[test]
fn every_listener_accepts_odd_but_well_framed_input_and_warns_once_per_kind() {
    // Issue 15: before, a payload or header that was not UTF-8 made every listener exit 1,
    // and supervisord's restart met the next such event: a crash loop of our own making.
    std::thread::scope(|s| {
        for name in listeners() {
            s.spawn(move || {
                accept(name, false, 5);
                accept(name, true, 5);
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
