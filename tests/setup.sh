#!/bin/sh
# Test setup: the Python tools the end-to-end tests run, in a venv of their own.
#
#   tests/setup.sh
#
# Creates a venv (python3 -m venv) and installs into it, at pinned versions:
#   supervisor==4.3.0   the real supervisord/supervisorctl the end-to-end tests start
#   aiosmtpd==1.4.6     an SMTP server for the mail-sending listeners' tests
# and, from Debian's packages where this machine allows (root, apt-get): prometheus-alertmanager
# (a real Alertmanager for the notification tests) and prometheus (promtool).
# Idempotent: a venv that already has both at these versions is left alone. It prints what it
# did. A new machine needs only python3 (3.11 here) with its venv module, and PyPI.
#
# Environment:
#   SUPERLANCE_TEST_VENV  the venv's path (default: <repo>/.venv). The tests read the same
#                         variable (tests/common/mod.rs), so set it for both or for neither.
#   PYTHON                the interpreter that creates the venv (default: python3).
set -eu

repo=$(cd "$(dirname "$0")/.." && pwd)
venv=${SUPERLANCE_TEST_VENV:-$repo/.venv}
python=${PYTHON:-python3}
# One line per requirement: the distribution name and its pinned version.
requirements="supervisor==4.3.0
aiosmtpd==1.4.6"

# Several test runs may start at once: one setup at a time per venv.
# The lock lives inside the venv folder, which `python3 -m venv` accepts existing.
mkdir -p "$venv"
if command -v flock >/dev/null 2>&1; then
    exec 9>"$venv/.setup-lock"
    flock 9
fi

# Prints the requirements the venv lacks (missing or at another version), one per line.
missing() {
    "$venv/bin/python" - "$@" <<'EOF'
import sys
from importlib.metadata import PackageNotFoundError, version

for req in sys.argv[1:]:
    name, want = req.split("==")
    try:
        have = version(name)
    except PackageNotFoundError:
        have = None
    if have != want:
        print(req)
EOF
}

if [ -x "$venv/bin/python" ]; then
    echo "setup: venv $venv exists"
else
    echo "setup: creating venv $venv ($("$python" --version 2>&1))"
    "$python" -m venv "$venv"
fi

# shellcheck disable=SC2086 # the requirements are words without spaces
todo=$(missing $requirements)
if [ -z "$todo" ]; then
    echo "setup: already installed:" $requirements
else
    echo "setup: installing:" $todo
    # shellcheck disable=SC2086
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check $todo
    # shellcheck disable=SC2086
    still=$(missing $requirements)
    if [ -n "$still" ]; then
        echo "setup: still missing after pip install:" $still >&2
        exit 1
    fi
    echo "setup: installed:" $todo
fi
# The TLS tests make their certificates with the openssl command (in this project's machine
# image; installed from Debian's packages if a machine lacks it).
if ! command -v openssl >/dev/null 2>&1; then
    echo "setup: installing openssl (apt-get)"
    apt-get update -qq && apt-get install -y -qq openssl >/dev/null
fi
# The notification and metrics tests talk to a real Alertmanager and check their output with
# promtool: Debian's prometheus-alertmanager and prometheus packages, installed where this
# machine can (root with apt-get). Where it cannot, those tests say so and name the package.
if ! command -v prometheus-alertmanager >/dev/null 2>&1 || ! command -v promtool >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "setup: installing prometheus-alertmanager and prometheus (apt-get)"
        if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
                --no-install-recommends prometheus-alertmanager prometheus >/dev/null; }; then
            echo "setup: could not install prometheus-alertmanager/prometheus; the tests that need them will say so" >&2
        fi
    else
        echo "setup: prometheus-alertmanager/prometheus not installed (needs root and apt-get); the tests that need them will say so"
    fi
fi
echo "setup: $("$venv/bin/supervisord" --version | sed 's/^/supervisord /') ready in $venv"
