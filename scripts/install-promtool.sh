#!/usr/bin/env bash
# Unpacks `promtool` from Debian's prometheus package into a folder of the tests' own
# (the package would also install and start a Prometheus server): fetched with
# `apt-get download`, unpacked with `dpkg -x`. tests/metrics.rs checks /metrics and
# contrib/alerts.yml with it.
#
#   scripts/install-promtool.sh [DEST]   DEST defaults to $MAILROOM_PROMTOOL_DIR or
#                                        /opt/mailroom-test/prometheus
# Idempotent and quiet: does nothing when DEST already holds a working promtool.
set -euo pipefail

dest=${1:-${MAILROOM_PROMTOOL_DIR:-/opt/mailroom-test/prometheus}}
tool=$dest/usr/bin/promtool
[ -x "$tool" ] && "$tool" --version >/dev/null 2>&1 && exit 0

log=$(mktemp)
work=$(mktemp -d)
trap 'rm -rf "$work" "$log"' EXIT
fail() {
    echo "install-promtool: $*" >&2
    [ -s "$log" ] && tail -n 40 "$log" >&2
    exit 1
}
command -v apt-get >/dev/null 2>&1 || fail "needs apt-get (Debian or Ubuntu)"
SUDO=""
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi
chmod 777 "$work"   # apt's sandbox user writes the download
download() { (cd "$work" && apt-get download prometheus) >>"$log" 2>&1; }
if ! download; then
    $SUDO apt-get update >>"$log" 2>&1 || fail "apt-get update failed"
    download || fail "apt-get download prometheus failed"
fi
$SUDO mkdir -p "$dest"
$SUDO dpkg -x "$work"/prometheus_*.deb "$dest" >>"$log" 2>&1 || fail "dpkg -x failed"
"$tool" --version >/dev/null 2>&1 || fail "no working promtool at $tool after unpacking"
exit 0
