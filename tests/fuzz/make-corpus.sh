#!/usr/bin/env bash
# Record the seed corpora from a real supervisord 4.3.0 (the venv tests/setup.sh makes):
# seeds/frames/: the bytes supervisord wrote to a listener's stdin (process state changes of a
# crashing and a non-ASCII program, TICK_5, PROCESS_LOG with non-ASCII text, group added);
# seeds/xmlrpc/: its XML-RPC answers (getAllProcessInfo, getProcessInfo, getAllConfigInfo,
# getState, faults). Run from anywhere; it rewrites the corpus files it makes.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
venv=${SUPERLANCE_TEST_VENV:-$repo/.venv}
[ -x "$venv/bin/supervisord" ] || { echo "no $venv/bin/supervisord: run tests/setup.sh first" >&2; exit 1; }
dir=$(mktemp -d)
trap 'kill $(cat "$dir/supervisord.pid" 2>/dev/null) 2>/dev/null || true; rm -rf "$dir"' EXIT
cat >"$dir/record.py" <<'PY'
import sys
# A listener that answers OK to everything and keeps the raw stream.
out = open(sys.argv[1], "ab")
stdin = sys.stdin.buffer
sys.stdout.write("READY\n"); sys.stdout.flush()
while True:
    line = stdin.readline()
    if not line:
        break
    out.write(line)
    headers = dict(t.split(b":", 1) for t in line.split())
    # supervisord 4 on Python 3 counts len in characters: read them as text.
    n = int(headers[b"len"])
    payload = b""
    while len(payload.decode("utf-8", "ignore")) < n:
        payload += stdin.read(1)
    out.write(payload); out.flush()
    sys.stdout.write("RESULT 2\nOKREADY\n"); sys.stdout.flush()
PY
cat >"$dir/supervisord.conf" <<CONF
[unix_http_server]
file=$dir/sock
[supervisord]
logfile=$dir/supervisord.log
pidfile=$dir/supervisord.pid
childlogdir=$dir
[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface
[program:crasher]
command=sh -c 'echo "héllo ✓"; sleep 0.3; exit 3'
startsecs=0
stdout_events_enabled=true
[program:prôgram]
command=sleep 1000
[eventlistener:record]
command=$venv/bin/python $dir/record.py $dir/stream
events=EVENT
buffer_size=100
CONF
"$venv/bin/supervisord" -c "$dir/supervisord.conf"
sleep 12
call() { # name method params-xml
    curl -s --unix-socket "$dir/sock" -H 'Content-Type: text/xml' \
        --data "<?xml version='1.0'?><methodCall><methodName>$2</methodName><params>$3</params></methodCall>" \
        http://localhost/RPC2 >"$here/seeds/xmlrpc/$1"
}
s() { echo "<param><value><string>$1</string></value></param>"; }
call getAllProcessInfo supervisor.getAllProcessInfo ""
call getProcessInfo supervisor.getProcessInfo "$(s crasher)"
call getAllConfigInfo supervisor.getAllConfigInfo ""
call getState supervisor.getState ""
call fault-bad-name supervisor.getProcessInfo "$(s nosuch)"
call fault-not-running supervisor.stopProcess "$(s crasher:nosuch)"
call fault-unknown-method supervisor.noSuchMethod ""
call startGroup supervisor.startProcessGroup "$(s crasher)"
# The stream, whole and cut into frames of up to 8 events each.
cp "$dir/stream" "$here/seeds/frames/stream"
python3 - "$dir/stream" "$here/seeds/frames" <<'PY'
import sys
data = open(sys.argv[1], "rb").read()
frames, i = [], 0
while i < len(data):
    nl = data.index(b"\n", i)
    head = data[i:nl + 1]
    n = int(dict(t.split(b":", 1) for t in head.split())[b"len"])
    j = nl + 1
    while len(data[nl + 1:j].decode("utf-8", "ignore")) < n:
        j += 1
    frames.append(data[i:j]); i = j
for k in range(0, len(frames), 8):
    open(f"{sys.argv[2]}/frames-{k // 8:02}", "wb").write(b"".join(frames[k:k + 8]))
PY
# What supervisord 4 cannot send (bytes that are not UTF-8, issue 15): made by hand.
python3 "$here/utf8-seeds.py"
ls -l "$here/seeds/frames" "$here/seeds/xmlrpc"
