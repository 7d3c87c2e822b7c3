#!/usr/bin/env bash
# Install what the real-server integration tests need, if missing:
#   - dovecot (IMAP/IMAPS server)       via apt-get (dovecot-imapd)
#   - Cyrus IMAP (a second IMAP server) unpacked from Debian's packages into
#     /opt/mailroom-test/cyrus by scripts/install-cyrus.sh (it conflicts with
#     dovecot-imapd as a package, so it is not installed system-wide)
#   - openssl (throwaway test CAs)      via apt-get
#   - chromium (web console tests)      via apt-get (Debian's chromium, run headless)
#   - postgresql (migrate tests)        via apt-get (the tests run initdb and pg_ctl
#                                       themselves, in temp dirs, on loopback ports)
#   - pgbouncer (a pool in transaction mode before PostgreSQL; the test starts its own)
#                                       via apt-get
#   - aiosmtpd (SMTP sink)              via pip, for the python3 on PATH
#   - prometheus_client (parses /metrics in tests/metrics.rs) likewise
# Idempotent: does nothing (and prints nothing) when everything is present.
# Quiet on success; on failure prints the captured output and exits non-zero.
set -euo pipefail

log=$(mktemp)
trap 'rm -f "$log"' EXIT

fail() {
    echo "install-test-deps: $*" >&2
    if [ -s "$log" ]; then
        echo "---- output ----" >&2
        tail -n 60 "$log" >&2
        echo "----------------" >&2
    fi
    exit 1
}

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi
fi

apt_pkgs=()
command -v dovecot >/dev/null 2>&1 || apt_pkgs+=(dovecot-imapd)
command -v openssl >/dev/null 2>&1 || apt_pkgs+=(openssl)
command -v chromium >/dev/null 2>&1 || apt_pkgs+=(chromium)
# PostgreSQL's server programs (initdb, pg_ctl; the tests start their own server) and psql.
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || apt_pkgs+=(postgresql)
command -v psql >/dev/null 2>&1 || apt_pkgs+=(postgresql-client)
command -v runuser >/dev/null 2>&1 || apt_pkgs+=(util-linux)
[ -x /usr/sbin/pgbouncer ] || apt_pkgs+=(pgbouncer)

if [ "${#apt_pkgs[@]}" -gt 0 ]; then
    command -v apt-get >/dev/null 2>&1 || fail "need ${apt_pkgs[*]} but apt-get is not available"
    $SUDO apt-get update >>"$log" 2>&1 || fail "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends \
        "${apt_pkgs[@]}" >>"$log" 2>&1 || fail "apt-get install ${apt_pkgs[*]} failed"
    command -v dovecot >/dev/null 2>&1 || fail "dovecot still not on PATH after install"
    command -v openssl >/dev/null 2>&1 || fail "openssl still not on PATH after install"
    command -v chromium >/dev/null 2>&1 || fail "chromium still not on PATH after install"
    ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || fail "PostgreSQL's initdb still missing after install"
    [ -x /usr/sbin/pgbouncer ] || fail "pgbouncer still missing after install"
fi

bash "$(dirname "$0")/install-cyrus.sh" 2>>"$log" || fail "unpacking Cyrus IMAP failed"
bash "$(dirname "$0")/install-promtool.sh" 2>>"$log" || fail "unpacking promtool failed"

command -v python3 >/dev/null 2>&1 || fail "python3 is not on PATH"
# python_module MODULE PIP_NAME DEBIAN_PACKAGE: pip, else Debian's package for its python.
python_module() {
    python3 -c "import $1" >/dev/null 2>&1 && return 0
    py=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null || true)
    if python3 -m pip install --quiet --disable-pip-version-check "$2" >>"$log" 2>&1; then
        :
    elif [ "$py" = /usr/bin/python3 ] || [ "${py#/usr/bin/python3}" != "$py" ]; then
        # Debian's own python (no pip, or PEP 668 "externally managed"):
        # its packaged module is the one it sees.
        command -v apt-get >/dev/null 2>&1 || fail "pip install $2 failed for $py"
        $SUDO apt-get update >>"$log" 2>&1 || fail "apt-get update failed"
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends \
            "$3" >>"$log" 2>&1 || fail "apt-get install $3 failed"
    else
        fail "pip install $2 failed (python3 = ${py:-$(command -v python3)})"
    fi
    # pyenv shims: make sure the new module is visible to the python3 on PATH.
    if command -v pyenv >/dev/null 2>&1; then pyenv rehash >/dev/null 2>&1 || true; fi
    python3 -c "import $1" >>"$log" 2>&1 \
        || fail "$2 installed but 'python3 -c import $1' still fails"
}
python_module aiosmtpd aiosmtpd python3-aiosmtpd
python_module prometheus_client prometheus_client python3-prometheus-client
python_module cryptography cryptography python3-cryptography
exit 0
