#!/usr/bin/env bash
# The demo (README.md): a real supervisord 4.3.0 runs four programs and the oom_score_adj
# listener with the seed's configuration (score 500: machines without CAP_SYS_RESOURCE cannot
# set negative scores), then shows the score of every program as /proc reports it, and the
# listener's log. A second listener asks for -100 to show how a refusal looks.
# Everything lives in a temporary directory that is removed at the end.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
venv=${SUPERLANCE_TEST_VENV:-$repo/.venv}

"$repo/tests/setup.sh" >/dev/null
cargo build --quiet --release --locked --manifest-path "$repo/Cargo.toml"

work=$(mktemp -d /tmp/superlance-demo.XXXXXX)
ctl() { "$venv/bin/supervisorctl" -c "$work/supervisord.conf" "$@"; }
cleanup() {
  ctl shutdown >/dev/null 2>&1 || true
  for _ in $(seq 50); do [ -e "$work/supervisord.pid" ] || break; sleep 0.1; done
  rm -rf "$work"
}
trap cleanup EXIT

# The listeners on PATH as links to the one binary, as a package would install them.
mkdir "$work/bin"
"$repo/target/release/superlance" --install -s "$work/bin" >/dev/null

cat >"$work/supervisord.conf" <<EOF
[unix_http_server]
file=$work/supervisor.sock

[supervisord]
logfile=$work/supervisord.log
pidfile=$work/supervisord.pid
childlogdir=$work
environment=PATH="$work/bin:%(ENV_PATH)s"

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://$work/supervisor.sock

[program:program1]
command=sleep 600

[group:group1]
programs=program2,program3

[program:program2]
command=sleep 601

[program:program3]
command=sleep 602

[program:other]
command=sleep 603

; The seed's example, with 500 instead of -100 (no CAP_SYS_RESOURCE here).
[eventlistener:oom_score_adj]
command=oom_score_adj -p program1 -p group1:program2 -s 500
events=PROCESS_STATE_RUNNING
stderr_logfile=$work/oom_score_adj.log

; A negative score, as on a real host; refused here, and the listener stays up.
[eventlistener:oom_negative]
command=oom_score_adj -p other -s -100
events=PROCESS_STATE_RUNNING
stderr_logfile=$work/oom_negative.log
EOF

echo "== starting supervisord $("$venv/bin/supervisord" --version) in $work"
"$venv/bin/supervisord" -c "$work/supervisord.conf"

# Wait until the programs are RUNNING and both listeners have logged their verdicts.
for _ in $(seq 100); do
  if [ "$(ctl status 2>/dev/null | grep -c RUNNING)" -ge 6 ] &&
     grep -q "group1:program2 pid" "$work/oom_score_adj.log" 2>/dev/null &&
     grep -q "other:other pid" "$work/oom_negative.log" 2>/dev/null; then
    break
  fi
  sleep 0.2
done

echo
echo "== supervisorctl status"
ctl status
echo
echo "== oom_score_adj of each program, read from /proc"
printf '%-18s %-8s %s\n' PROGRAM PID OOM_SCORE_ADJ
for p in program1 group1:program2 group1:program3 other; do
  pid=$(ctl pid "$p")
  printf '%-18s %-8s %s\n' "$p" "$pid" "$(cat "/proc/$pid/oom_score_adj")"
done
echo
echo "== log of [eventlistener:oom_score_adj] (-p program1 -p group1:program2 -s 500)"
cat "$work/oom_score_adj.log"
echo
echo "== log of [eventlistener:oom_negative] (-p other -s -100)"
cat "$work/oom_negative.log"
