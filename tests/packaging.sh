#!/usr/bin/env bash
# The Debian package, built and installed on this machine, and used the way an ops engineer
# would use it (issue 6). Run by .ci/run after tests/run.sh; needs root (dpkg -i).
#
#   tests/packaging.sh
#
# 1. installs what the checks need from Debian's packages (man-db, groff-base,
#    bash-completion, zsh, fish) and, through tests/setup.sh, supervisord 4.3.0 and aiosmtpd
#    into .venv;
# 2. builds the .deb with packaging/build-deb.sh (cargo-deb) and installs it with dpkg -i;
# 3. checks /usr/bin/superlance and, for every listener `superlance --list` names, the
#    symlink /usr/bin/<name> resolving to it, `man -w <name>`, and its bash, zsh and fish
#    completions (loaded the way each shell loads them: by command name), the docs and the
#    example conf.d snippet;
# 4. starts a private supervisord (the PyPI one in .venv, its own config and socket in a temp
#    dir) that [include]s the installed example snippet, copied into a conf.d dir with the
#    SMTP server's address added to crashmail's line: /usr/bin/oom_score_adj must give the
#    program `worker` oom_score_adj 500, and /usr/bin/crashmail must mail the crash of the
#    program `crasher` to the SMTP server (tests/fixtures/mail/smtpd.py);
# 5. removes the package (dpkg --purge) and checks that the links and pages went with it.
#
# Every check prints a line; a failed one names what is missing, and the script goes on where
# it can. It ends with "packaging: N passed, M failed" and exits 1 if anything failed. It
# stops its supervisord and SMTP server and removes the package whatever happens (a package
# that was installed before the run is left installed, at this build's version).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
repo=$PWD
venv=${SUPERLANCE_TEST_VENV:-$repo/.venv}
started=$SECONDS
passed=0
failed=0

say() { echo "packaging: $*"; }
ok() {
    passed=$((passed + 1))
    echo "packaging: ok: $*"
}
not_ok() {
    failed=$((failed + 1))
    echo "packaging: FAIL: $*" >&2
}
# check DESCRIPTION COMMAND...: runs COMMAND (quietly) and counts the result.
check() {
    local what=$1
    shift
    if "$@" >/dev/null 2>&1; then ok "$what"; else not_ok "$what"; fi
}
die() {
    echo "packaging: FAIL: $*" >&2
    failed=$((failed + 1))
    exit 1
}

tmp=$(mktemp -d /tmp/superlance-packaging.XXXXXX)
supervisord_pid=""
smtpd_pid=""
we_installed=""
cleanup() {
    local status=$?
    if [ -n "$supervisord_pid" ] && kill -0 "$supervisord_pid" 2>/dev/null; then
        kill -TERM "$supervisord_pid" 2>/dev/null
        for _ in $(seq 50); do kill -0 "$supervisord_pid" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$supervisord_pid" 2>/dev/null
    fi
    if [ -n "$smtpd_pid" ]; then kill "$smtpd_pid" 2>/dev/null; fi
    if [ -n "$we_installed" ] && dpkg -s superlance >/dev/null 2>&1; then
        dpkg --purge superlance >/dev/null 2>&1 || echo "packaging: cleanup: dpkg --purge superlance failed" >&2
    fi
    rm -rf "$tmp"
    say "done in $((SECONDS - started)) s"
    echo "packaging: $passed passed, $failed failed"
    if [ "$failed" -gt 0 ] && [ "$status" -eq 0 ]; then status=1; fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" = 0 ] || die "must run as root: it installs the package with dpkg -i (and removes it at the end)"

# --- 1. tools ----------------------------------------------------------------------------
need=()
command -v man >/dev/null 2>&1 || need+=(man-db)
command -v groff >/dev/null 2>&1 || need+=(groff-base)
[ -f /usr/share/bash-completion/bash_completion ] || need+=(bash-completion)
command -v zsh >/dev/null 2>&1 || need+=(zsh)
command -v fish >/dev/null 2>&1 || need+=(fish)
command -v dpkg-shlibdeps >/dev/null 2>&1 || need+=(dpkg-dev)
if [ ${#need[@]} -gt 0 ]; then
    say "installing from Debian's packages: ${need[*]}"
    apt-get update -qq || die "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null ||
        die "apt-get install ${need[*]} failed"
fi
tests/setup.sh >/dev/null || die "tests/setup.sh (supervisord and aiosmtpd into $venv) failed"

# --- 2. build and install -------------------------------------------------------------------
say "building the package (packaging/build-deb.sh)"
deb=$(packaging/build-deb.sh | tail -n 1)
[ -f "$deb" ] || die "packaging/build-deb.sh made no .deb"
ok "built $(basename "$deb") ($(du -k "$deb" | cut -f1) KiB)"
check "Recommends: supervisor" grep -qx 'supervisor' <(dpkg-deb -f "$deb" Recommends)
check "Conflicts: crashmail (Debian's FidoNet crashmail owns /usr/bin/crashmail)" \
    grep -qw 'crashmail' <(dpkg-deb -f "$deb" Conflicts | tr ',' '\n' | tr -d ' ')
check "Conflicts: ruby-notify (it owns /usr/bin/notify and notify.1)" \
    grep -qx 'ruby-notify' <(dpkg-deb -f "$deb" Conflicts | tr ',' '\n' | tr -d ' ')

if dpkg -s superlance >/dev/null 2>&1; then
    say "superlance was installed before this run: it is reinstalled from this build and left installed"
else
    we_installed=yes
fi
dpkg -i "$deb" >"$tmp/dpkg.log" 2>&1 || { cat "$tmp/dpkg.log" >&2; die "dpkg -i $deb failed"; }
ok "dpkg -i $(basename "$deb")"

# --- 3. what the package installed -----------------------------------------------------------
version=$(dpkg-deb -f "$deb" Version)
version=${version%-*}
check "/usr/bin/superlance is an executable file owned by superlance" \
    bash -c '[ -f /usr/bin/superlance ] && [ ! -L /usr/bin/superlance ] && [ -x /usr/bin/superlance ] &&
             dpkg -S /usr/bin/superlance | grep -q "^superlance:"'
names=$(/usr/bin/superlance --list) || die "/usr/bin/superlance --list failed"
[ -n "$names" ] || die "/usr/bin/superlance --list named no listener"
say "listeners: $(tr '\n' ' ' <<<"$names")"
for name in $names; do
    link=/usr/bin/$name
    if [ -L "$link" ] && [ "$(readlink -f "$link")" = /usr/bin/superlance ]; then
        ok "$link -> $(readlink "$link") (resolves to /usr/bin/superlance)"
    else
        not_ok "$link is missing or does not resolve to /usr/bin/superlance ($(ls -l "$link" 2>&1))"
    fi
    check "$link --version says '$name $version'" \
        bash -c "[ \"\$($link --version)\" = '$name $version' ]"
    check "$link is the package's (dpkg -S)" bash -c "dpkg -S $link | grep -q '^superlance:'"
done

for name in superlance $names; do
    page=$(man -w "$name" 2>&1)
    if [ "$page" = "/usr/share/man/man1/$name.1.gz" ]; then
        ok "man -w $name: $page"
    else
        not_ok "man -w $name gave '$page', not /usr/share/man/man1/$name.1.gz (a path-exclude in /etc/dpkg/dpkg.cfg.d/ drops man pages?)"
    fi
    # man formats it (man-db, groff) and the page's NAME line names the command.
    check "man $name renders" bash -c "MANWIDTH=100 man -P cat $name 2>/dev/null | grep -Eq '^ *$name +- '"
done

# Completions: one file per command name, where each shell looks for it on demand.
for name in superlance $names; do
    for file in "/usr/share/bash-completion/completions/$name" \
        "/usr/share/zsh/vendor-completions/_$name" \
        "/usr/share/fish/vendor_completions.d/$name.fish"; do
        check "completion file $file" test -s "$file"
    done
    # bash-completion's on-demand loader finds the file by the command's name and registers it.
    check "bash-completion loads the completion of $name on demand" bash -c "
        source /usr/share/bash-completion/bash_completion
        _completion_loader $name
        complete -p $name | grep -q -- '-F _$name $name\$'"
    # zsh's compinit finds _$name in its fpath (Debian's zsh includes vendor-completions).
    check "zsh's compinit registers _$name for $name" zsh -f -c "
        autoload -U compinit && compinit -u -d $tmp/zcompdump
        [[ \${_comps[$name]} == _$name ]]"
    check "zsh parses _$name" zsh -n "/usr/share/zsh/vendor-completions/_$name"
    # fish loads $name.fish when completing $name; every listener has --help.
    check "fish completes '$name --hel' to --help" bash -c \
        "HOME=$tmp fish -c \"complete -C '$name --hel'\" | grep -q '^--help'"
done
# Two completions, done as each shell does them for a user at the prompt.
# shellcheck disable=SC2016 # expanded by the inner bash
check "bash: crashmail --sendm<TAB> gives --sendmail_program" bash -c '
    source /usr/share/bash-completion/bash_completion
    _completion_loader crashmail
    COMP_WORDS=(crashmail --sendm); COMP_CWORD=1; COMP_LINE="crashmail --sendm"; COMP_POINT=${#COMP_LINE}
    _crashmail crashmail --sendm crashmail
    [ "${COMPREPLY[*]}" = --sendmail_program ]'
check "fish: superlance oom_score_adj --sc<TAB> gives --score" bash -c \
    "HOME=$tmp fish -c \"complete -C 'superlance oom_score_adj --sc'\" | grep -q '^--score'"

doc=/usr/share/doc/superlance
check "$doc/README.md" test -s "$doc/README.md"
check "$doc/copyright" test -s "$doc/copyright"
for md in docs/*.md; do
    check "$doc/$md" cmp -s "$md" "$doc/$md"
done
for name in $names; do
    if [ -f "docs/$name.md" ]; then ok "$name has docs/$name.md"; else not_ok "no docs/$name.md for $name"; fi
done
example=$doc/examples/superlance.conf
check "$example" test -s "$example"
check "the example uses /usr/bin/oom_score_adj and /usr/bin/crashmail (enabled sections)" bash -c "
    grep -q '^command=/usr/bin/oom_score_adj ' $example && grep -q '^command=/usr/bin/crashmail ' $example"
check "the example is not enabled anywhere (nothing in /etc/supervisor/conf.d from us)" \
    bash -c "! dpkg -L superlance | grep -q '^/etc/'"

# --- 4. the installed listeners under a real supervisord ---------------------------------------
mkdir -p "$tmp/smtp" "$tmp/conf.d" "$tmp/logs"
"$venv/bin/python" tests/fixtures/mail/smtpd.py --dir "$tmp/smtp" >"$tmp/smtpd.log" 2>&1 &
smtpd_pid=$!
for _ in $(seq 100); do [ -s "$tmp/smtp/ready" ] && break; sleep 0.1; done
port=$(cat "$tmp/smtp/ready" 2>/dev/null) || die "the SMTP server did not start: $(cat "$tmp/smtpd.log")"

# As an admin would: copy the example in and point crashmail at the mail server.
sed "s|^command=/usr/bin/crashmail .*|& --smtp-host 127.0.0.1:$port|" "$example" >"$tmp/conf.d/superlance.conf"
cat >"$tmp/supervisord.conf" <<EOF
[unix_http_server]
file=$tmp/supervisor.sock

[supervisord]
nodaemon=true
logfile=$tmp/supervisord.log
pidfile=$tmp/supervisord.pid
childlogdir=$tmp/logs
loglevel=info

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://$tmp/supervisor.sock

[program:worker]
command=/bin/sleep 600
startsecs=1

[program:crasher]
command=/bin/sh -c 'sleep 3; exit 3'
startsecs=1
autorestart=false

[include]
files=$tmp/conf.d/*.conf
EOF
"$venv/bin/supervisord" -c "$tmp/supervisord.conf" >"$tmp/supervisord.out" 2>&1 &
supervisord_pid=$!
ctl() { "$venv/bin/supervisorctl" -c "$tmp/supervisord.conf" "$@" 2>/dev/null; }

# Poll for up to $1 seconds until the command succeeds.
wait_for() {
    local limit=$1
    shift
    local deadline=$((SECONDS + limit))
    while [ $SECONDS -lt $deadline ]; do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    return 1
}
listener_pid() { ctl pid "$1:$1"; }
for name in oom_score_adj crashmail; do
    if wait_for 20 bash -c "[ \"\$('$venv/bin/supervisorctl' -c '$tmp/supervisord.conf' status $name:$name | awk '{print \$2}')\" = RUNNING ]"; then
        pid=$(listener_pid "$name")
        exe=$(tr '\0' ' ' <"/proc/$pid/cmdline")
        case $exe in
            "/usr/bin/$name "*) ok "supervisord runs the installed listener: $exe" ;;
            *) not_ok "listener $name runs '$exe', not /usr/bin/$name" ;;
        esac
    else
        not_ok "listener $name is not RUNNING under supervisord: $(ctl status)"
    fi
done

worker=""
wait_for 20 bash -c "[ \"\$('$venv/bin/supervisorctl' -c '$tmp/supervisord.conf' pid worker)\" -gt 0 ]" &&
    worker=$(ctl pid worker)
if [ -n "$worker" ] && wait_for 20 bash -c "[ \"\$(cat /proc/$worker/oom_score_adj)\" = 500 ]"; then
    ok "/usr/bin/oom_score_adj set worker (pid $worker) to oom_score_adj 500"
else
    not_ok "worker (pid ${worker:-none}) has oom_score_adj $(cat "/proc/$worker/oom_score_adj" 2>/dev/null), not 500"
fi

mail=""
find_mail() { grep -l -s 'crasher crashed at' "$tmp"/smtp/mails/*/data | head -n 1; }
if wait_for 30 bash -c "grep -q -s 'crasher crashed at' $tmp/smtp/mails/*/data"; then
    mail=$(find_mail)
    ok "/usr/bin/crashmail mailed the crash: $(grep -m1 '^Subject:' "$mail")"
    check "the mail went to ops@example.com" grep -qx 'ops@example.com' "$(dirname "$mail")/to"
    check "the mail says what happened" \
        grep -q 'Process crasher in group crasher exited unexpectedly' "$mail"
else
    not_ok "no crash mail from /usr/bin/crashmail at the SMTP server within 30 s; status: $(ctl status | tr '\n' ';') crashmail's log: $(tail -n 5 "$tmp"/logs/crashmail*stderr*.log 2>/dev/null)"
fi
if [ "$failed" -gt 0 ]; then
    say "supervisord's log:"
    tail -n 30 "$tmp/supervisord.log" >&2
    for f in "$tmp"/logs/*; do
        say "$f:"
        tail -n 10 "$f" >&2
    done
fi
ctl shutdown >/dev/null
wait_for 20 bash -c "! kill -0 $supervisord_pid" && supervisord_pid=""

# --- 5. removal ----------------------------------------------------------------------------------
if [ -n "$we_installed" ]; then
    if dpkg --purge superlance >"$tmp/dpkg.log" 2>&1; then
        ok "dpkg --purge superlance"
    else
        not_ok "dpkg --purge superlance: $(cat "$tmp/dpkg.log")"
    fi
    left=""
    for name in superlance $names; do
        for f in "/usr/bin/$name" "/usr/share/man/man1/$name.1.gz" \
            "/usr/share/bash-completion/completions/$name"; do
            if [ -e "$f" ] || [ -L "$f" ]; then left="$left $f"; fi
        done
    done
    if [ -z "$left" ]; then ok "removal took every link, page and completion with it"; else not_ok "left after removal:$left"; fi
fi
