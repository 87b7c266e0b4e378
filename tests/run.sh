#!/usr/bin/env bash
# The test command (README.md, .ci/run): install what the tests need, then run every test.
# tests/setup.sh puts supervisord 4.3.0 and aiosmtpd into a local venv (.venv); the
# end-to-end tests fail, naming that script, if it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
tests/setup.sh
cargo test --locked "$@"
