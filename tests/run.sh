#!/usr/bin/env bash
# The test command (README.md, .ci/run): install what the tests need, then run every test.
# tests/setup.sh puts supervisord 4.3.0 and aiosmtpd into a local venv (.venv); the
# end-to-end tests fail, naming that script, if it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
tests/setup.sh
# Unit tests, then the integration binary (no doc tests: the crate has none, and an empty
# "0 passed" as the closing line would read as "no test ran").
cargo test --locked --lib --test tests "$@"
