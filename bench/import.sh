#!/usr/bin/env bash
# Import throughput and peak memory: a synthetic mbox of N mixed notification emails
# (with duplicates and junk, see gen_mbox.py) imported into a fresh on-disk database.
#   bench/import.sh [MESSAGES]        default 100000
# Prints messages/s and peak RSS; also the time to just read the input (cat) for
# reference. Set BIG=1 to also import a ~1 GB mbox and report its peak RSS.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-100000}
work=$(mktemp -d /var/tmp/mailroom-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
cargo build --release --quiet
bin=$PWD/target/release/mailroom
# Run where no rules/ directory is: the import stores events only (RULES=1 keeps the
# bundled rules, which also queue forwards and digest entries).
repo=$PWD
[ "${RULES:-0}" = 1 ] || cd "$work"
echo "generating $n messages…"
python3 "$repo/bench/gen_mbox.py" "$work/in.mbox" --messages "$n" > "$work/expected.json"
size=$(stat -c %s "$work/in.mbox")
echo "mbox: $((size / 1024 / 1024)) MiB; expected first-import summary: $(cat "$work/expected.json")"
sync
start=$(date +%s.%N); cat "$work/in.mbox" > /dev/null; end=$(date +%s.%N)
echo "read input only: $(echo "$end - $start" | bc) s"
for run in 1 2 3; do
  rm -f "$work"/m.db*
  sync
  /usr/bin/time -f "%e %M" -o "$work/time" "$bin" --db "$work/m.db" import --json "$work/in.mbox" > "$work/summary.json"
  read -r secs rss < "$work/time"
  echo "run $run: $(cat "$work/summary.json") in ${secs} s = $(echo "$n / $secs" | bc) messages/s, peak RSS $((rss / 1024)) MiB"
done
cmp -s <(python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1])), sort_keys=True))' "$work/expected.json") \
       <(python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1])), sort_keys=True))' "$work/summary.json") \
  && echo "summary matches the generator's expectation" || echo "SUMMARY DIFFERS from the generator's expectation"
/usr/bin/time -f "%e %M" -o "$work/time" "$bin" --db "$work/m.db" import --json "$work/in.mbox" > "$work/summary2.json"
read -r secs rss < "$work/time"
echo "second import (all known): $(cat "$work/summary2.json") in ${secs} s"
if [ "${BIG:-0}" = 1 ]; then
  big=$((n * 15))
  echo "generating ~1 GB mbox ($big messages)…"
  python3 "$repo/bench/gen_mbox.py" "$work/big.mbox" --messages "$big" > /dev/null
  echo "big mbox: $(( $(stat -c %s "$work/big.mbox") / 1024 / 1024 )) MiB"
  rm -f "$work"/m.db*
  /usr/bin/time -f "%e %M" -o "$work/time" "$bin" --db "$work/m.db" import --json "$work/big.mbox" > /dev/null
  read -r secs rss < "$work/time"
  echo "big import: ${secs} s = $(echo "$big / $secs" | bc) messages/s, peak RSS $((rss / 1024)) MiB"
fi
