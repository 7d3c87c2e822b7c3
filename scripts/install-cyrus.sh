#!/usr/bin/env bash
# Unpacks Cyrus IMAP from Debian's packages into a folder of the tests' own, so the
# IMAP tests can run it beside Dovecot (as packages they conflict: both provide
# imap-server). Nothing is installed system-wide and nothing is started: the packages
# are fetched with `apt-get download` and unpacked with `dpkg -x`, together with the
# few libraries they need that a Dovecot machine lacks (libical3, libpcre3,
# libxapian30); tests/support/cyrus.rs runs the unpacked master with LD_LIBRARY_PATH.
#
#   scripts/install-cyrus.sh [DEST]      DEST defaults to $MAILROOM_CYRUS or
#                                        /opt/mailroom-test/cyrus
# Idempotent and quiet: does nothing when DEST already holds a working imapd.
set -euo pipefail

dest=${1:-${MAILROOM_CYRUS:-/opt/mailroom-test/cyrus}}
bin=$dest/usr/lib/cyrus/bin
libpath=$dest/usr/lib/x86_64-linux-gnu:$dest/lib/x86_64-linux-gnu

works() {
    [ -x "$bin/master" ] && [ -x "$bin/imapd" ] || return 1
    ! LD_LIBRARY_PATH=$libpath ldd "$bin/imapd" "$bin/master" 2>/dev/null | grep -q "not found"
}
works && exit 0

log=$(mktemp)
work=$(mktemp -d)
trap 'rm -rf "$work" "$log"' EXIT
fail() {
    echo "install-cyrus: $*" >&2
    [ -s "$log" ] && tail -n 40 "$log" >&2
    exit 1
}
command -v apt-get >/dev/null 2>&1 || fail "needs apt-get (Debian or Ubuntu)"
SUDO=""
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi

pkgs=(cyrus-imapd cyrus-common libical3 libpcre3 libxapian30)
chmod 777 "$work"   # apt's sandbox user writes the downloads
download() { (cd "$work" && apt-get download "${pkgs[@]}") >>"$log" 2>&1; }
if ! download; then
    $SUDO apt-get update >>"$log" 2>&1 || fail "apt-get update failed"
    download || fail "apt-get download ${pkgs[*]} failed"
fi
$SUDO mkdir -p "$dest"
for deb in "$work"/*.deb; do
    $SUDO dpkg -x "$deb" "$dest" >>"$log" 2>&1 || fail "dpkg -x $deb failed"
done
missing=$(LD_LIBRARY_PATH=$libpath ldd "$bin/imapd" "$bin/master" 2>&1 | grep "not found" | sort -u || true)
[ -z "$missing" ] || fail "unpacked Cyrus still misses libraries: $missing"
works || fail "no working imapd under $bin after unpacking"
exit 0
