#!/usr/bin/env bash
# The test command (README.md, .ci/run): install what the tests need, then run every test.
# tests/setup.sh puts supervisord 4.3.0 and aiosmtpd into a local venv (.venv); the
# end-to-end tests fail, naming that script, if it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
tests/setup.sh
# Tests that need a distribution package skip without it (tests/common/mod.rs,
# missing_package); say which before the run, so that no skip goes unseen.
skipped() {
  echo "run: no $1 here: the tests that need it are SKIPPED (Debian package $2; tests/setup.sh installs it as root)" >&2
}
command -v prometheus-alertmanager >/dev/null 2>&1 || command -v alertmanager >/dev/null 2>&1 \
  || skipped alertmanager prometheus-alertmanager
command -v promtool >/dev/null 2>&1 || skipped promtool prometheus
command -v prometheus >/dev/null 2>&1 || skipped prometheus prometheus
# Unit tests, then the integration binary (no doc tests: the crate has none, and an empty
# "0 passed" as the closing line would read as "no test ran").
cargo test --locked --lib --test tests "$@"
