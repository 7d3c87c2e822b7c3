#!/usr/bin/env bash
# The whole test suite, on a fresh machine too: installs the real servers the
# integration tests start (Dovecot, aiosmtpd, headless Chromium for the web console; see
# scripts/install-test-deps.sh), then
# runs every test. Extra arguments go to the test runner (e.g. a test name).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-test-deps.sh
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --lib --bins --tests --no-fail-fast "$@"
    cargo test --doc --quiet
else
    cargo test --lib --bins --tests --no-fail-fast "$@"
fi
