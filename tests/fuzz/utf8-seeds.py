#!/usr/bin/env python3
# Hand-made seeds for the `frames` target (issue 15): what servers that count `len` in bytes
# (supervisord 3, ochinchina/supervisord) send when a program writes bytes that are not UTF-8,
# which supervisord 4 never sends (it replaces them with `Undecodable: b'...'`), so
# make-corpus.sh cannot record them. Also payload tokens that are missing or invalid.
# Deterministic; run from anywhere: it rewrites seeds/frames/utf8-*.
import os

here = os.path.dirname(os.path.abspath(__file__))
out = os.path.join(here, "seeds", "frames")

EVENTS = [
    (b"PROCESS_LOG_STDOUT", b"processname:cat groupname:cat pid:7 channel:stdout\n\xff\xfe caf\xe9\n"),
    (b"PROCESS_STATE_RUNNING", b"processname:caf\xe9 groupname:caf\xe9 from_state:STARTING pid:9"),
    (b"PROCESS_COMMUNICATION_STDOUT", b"processname:cat groupname:cat pid:7\n<data>\xe2\x9c"),
    (b"PROCESS_LOG_STDERR", b"processname:cat groupname:cat pid:-1\n\x80\x80 \xc3"),
    (b"PROCESS_STATE_EXITED", b"processname:cat groupname:cat from_state:RUNNING pid:7"),
    (b"PROCESS_STATE_STOPPED", b"processname:cat groupname:cat from_state:BACKOFF"),
    (b"TICK_5", b"when:soon"),
    (b"PROCESS_GROUP_ADDED\xff", b"groupname:g\n"),
    (b"PROCESS_LOG_STDOUT", "processname:x groupname:x pid:1\nhéllo wörld ✓".encode()),
    (b"TICK_60", b"when:1700000040"),
]


def frame(serial, name, payload, chars, pool=b"listener"):
    n = len(payload.decode("utf-8", "replace")) if chars else len(payload)
    head = b"ver:3.0 server:supervisor serial:%d pool:%s poolserial:%d eventname:%s len:%d\n" % (
        serial, pool, serial, name, n)
    return head + payload


def write(name, data):
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)


# Byte-counted, as supervisord 3 and ochinchina write them: one frame per file, as one write
# each (a server sends the next frame only after our answer; back to back in one input, a
# byte-counted frame that is not ASCII reads as if counted in characters). Then a header with
# bad bytes in a value.
for i, (n, p) in enumerate(EVENTS):
    write("utf8-bytes-%02d" % i, frame(i, n, p, False))
write("utf8-bytes-%02d" % len(EVENTS),
      frame(len(EVENTS), b"SUPERVISOR_STATE_CHANGE_RUNNING", b"", False, pool=b"l\xff\xfe"))
# The same counted in characters as a lossy decoder sees them (no known server; the reader's rule).
write("utf8-chars", b"".join(frame(i, n, p, True) for i, (n, p) in enumerate(EVENTS)))
# Character-counted payloads ending in a sequence cut short, the next header right after.
write("utf8-cut", b"".join(frame(i, b"X", p, True) for i, p in enumerate(
    [b"\xf0\x9f\x98", "ünï".encode() + b"\xe2", b"\xed\xa0\x80", b"\xe0\x80"])))
