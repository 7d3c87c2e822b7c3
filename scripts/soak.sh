#!/usr/bin/env bash
# A week of faults in twenty minutes (issue 25): `mailroom watch` with Dovecot (two
# accounts), the SMTP sink, a webhook sink, the OpenSRS and AutoDNS test servers,
# pushes, the console and a feed consumer, under faults drawn from a seed, on a clock
# running SPEED times as fast. See tests/soak.rs for what it checks.
#
#   scripts/soak.sh [--minutes N] [--speed S] [--seed K] [--summary FILE]
#
# Defaults: 20 minutes, speed 500 (about a week on mailroom's clock), seed 1, the
# summary in target/soak-summary.md (and watch's log beside it when something broke).
# Exits non-zero on any breach. Installs the servers when missing, like scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=20 speed=500 seed=1 summary="$PWD/target/soak-summary.md"
while [ $# -gt 0 ]; do
    case "$1" in
        --minutes) minutes="$2"; shift 2 ;;
        --speed) speed="$2"; shift 2 ;;
        --seed) seed="$2"; shift 2 ;;
        --summary) summary="$2"; shift 2 ;;
        -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
        *) echo "soak.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
scripts/install-test-deps.sh
SOAK_MINUTES="$minutes" SOAK_SPEED="$speed" SOAK_SEED="$seed" SOAK_SUMMARY="$summary" \
    cargo test --release --test soak -- --ignored --nocapture --test-threads 1
