#!/usr/bin/env bash
# Import into PostgreSQL beside import into SQLite, the same mbox, in one run (this
# machine is noisy: compare within a run). A PostgreSQL of the bench's own (Debian's
# packages, initdb in a temporary folder, a loopback port, default settings).
#   bench/pg_import.sh [MESSAGES] [REPS]     defaults 100000 and 3
# With PGBOUNCER=1, also through PgBouncer in transaction mode ([store] pool_mode =
# "transaction", Debian's pgbouncer, a pool of 4 server connections).
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-100000}
reps=${2:-3}
bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$bindir/initdb" ] || scripts/install-test-deps.sh
bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
work=$(mktemp -d /var/tmp/mailroom-pgbench.XXXXXX)
chmod 755 "$work"
port=$((20000 + RANDOM % 20000))
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
cleanup() {
    [ -f "$work/pgb.pid" ] && kill "$(cat "$work/pgb.pid")" 2>/dev/null || true
    as_pg "$bindir/pg_ctl" -D "$work/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
[ "$(id -u)" = 0 ] && chown postgres "$work"
as_pg "$bindir/initdb" -D "$work/data" -A trust -U mailroom >/dev/null
as_pg "$bindir/pg_ctl" -D "$work/data" -l "$work/pg.log" -w \
    -o "-p $port -c listen_addresses=127.0.0.1 -k $work" start >/dev/null
if [ "${PGBOUNCER:-}" = 1 ]; then
    bport=$((port + 1))
    printf '%s\n' "[databases]" "* = host=127.0.0.1 port=$port user=mailroom" "[pgbouncer]" \
        "listen_addr = 127.0.0.1" "listen_port = $bport" "unix_socket_dir =" "auth_type = any" \
        "pool_mode = transaction" "default_pool_size = 4" "logfile = $work/pgb.log" \
        "pidfile = $work/pgb.pid" > "$work/pgb.ini"
    [ "$(id -u)" = 0 ] && chown postgres "$work/pgb.ini"
    as_pg /usr/sbin/pgbouncer -d "$work/pgb.ini"
fi
cargo build --release --quiet
bin=$PWD/target/release/mailroom
python3 bench/gen_mbox.py "$work/in.mbox" --messages "$n" > "$work/expected.json"
echo "expected: $(cat "$work/expected.json")"
cd "$work"
for run in $(seq "$reps"); do
    rm -f "$work"/m.db*
    /usr/bin/time -f "%e %M" -o "$work/t" "$bin" --db "$work/m.db" import --json in.mbox >/dev/null
    read -r s1 r1 < "$work/t"
    as_pg "$bindir/psql" -h 127.0.0.1 -p "$port" -U mailroom -d postgres -qc "DROP DATABASE IF EXISTS b" -c "CREATE DATABASE b" >/dev/null
    url="postgres://mailroom@127.0.0.1:$port/b"
    "$bin" --db "$url" status >/dev/null 2>&1 || true   # the schema, outside the timing
    /usr/bin/time -f "%e %M" -o "$work/t" "$bin" --db "$url" import --json in.mbox > "$work/pg.json"
    read -r s2 r2 < "$work/t"
    echo "run $run: SQLite ${s1} s = $(echo "$n / $s1" | bc) msg/s, peak $((r1 / 1024)) MiB;" \
        "PostgreSQL ${s2} s = $(echo "$n / $s2" | bc) msg/s, peak $((r2 / 1024)) MiB," \
        "$(echo "scale=2; $s2 / $s1" | bc)x SQLite; $(cat "$work/pg.json")"
    if [ "${PGBOUNCER:-}" = 1 ]; then
        as_pg "$bindir/psql" -h 127.0.0.1 -p "$port" -U mailroom -d postgres -qc "CREATE DATABASE c$run" >/dev/null
        printf 'db = "postgres://mailroom@127.0.0.1:%s/c'"$run"'"\n[store]\npool_mode = "transaction"\n' "$bport" > "$work/pooled.toml"
        PGPASSWORD=x "$bin" --config "$work/pooled.toml" status >/dev/null 2>&1 || true
        PGPASSWORD=x /usr/bin/time -f "%e %M" -o "$work/t" "$bin" --config "$work/pooled.toml" import --json in.mbox > "$work/pgb.json"
        read -r s3 r3 < "$work/t"
        echo "  through PgBouncer (transaction mode): ${s3} s = $(echo "$n / $s3" | bc) msg/s, peak $((r3 / 1024)) MiB," \
            "$(echo "scale=2; $s3 / $s2" | bc)x direct; $(cat "$work/pgb.json")"
    fi
done
