#!/usr/bin/env python3
"""`mailroom import` side by side with the straightforward Python peer and the floor,
in one run, at several sizes (rotated order, REPS repetitions each).

    python3 bench/import_bench.py [--sizes 20000,100000,500000] [--reps 3] [--no-peer]

For each size a synthetic mbox from gen_mbox.py (cached under /var/tmp) is imported
into a fresh database on disk by:
  mailroom  target/release/mailroom import --json (run where no rules/ folder is)
  peer      bench/peer_import.py (mailbox + email + json/ast/ElementTree + sqlite3)
  floor     bench/floor_import.py (read the mbox, one bulk insert of the raw bytes)
and once more as a Maildir (mailroom only). Prints seconds, messages/s, peak RSS
(/usr/bin/time), database size against the mbox size, mailroom's time against the
floor's, and the time of the largest size against the 100k one.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CACHE = "/var/tmp/mailroom-bench-corpora"


def corpus(n):
    os.makedirs(CACHE, exist_ok=True)
    path = f"{CACHE}/{n}.mbox"
    if not os.path.exists(path):
        with open(path + ".expected", "w") as out:
            subprocess.run([sys.executable, f"{HERE}/gen_mbox.py", path + ".tmp", "--messages", str(n)],
                           check=True, stdout=out)
        os.rename(path + ".tmp", path)
    return path


def maildir_of(mbox, n):
    d = f"{CACHE}/{n}.maildir"
    if os.path.isdir(d):
        return d
    tmp = d + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    for sub in ("cur", "new", "tmp"):
        os.makedirs(f"{tmp}/{sub}")
    data = open(mbox, "rb").read()
    starts = [0]
    i = data.find(b"\nFrom ")
    while i >= 0:
        starts.append(i + 1)
        i = data.find(b"\nFrom ", i + 1)
    starts.append(len(data))
    for k in range(len(starts) - 1):
        msg = data[starts[k]:starts[k + 1]]
        msg = msg[msg.index(b"\n") + 1:]  # the "From " line is mbox framing
        with open(f"{tmp}/cur/{k:08d}.bench:2,S", "wb") as f:
            f.write(msg.replace(b"\n>From ", b"\nFrom "))
    os.rename(tmp, d)
    return d


def timed(cmd, cwd):
    tf = tempfile.NamedTemporaryFile(delete=False)
    tf.close()
    subprocess.run(["sync"])
    p = subprocess.run(["/usr/bin/time", "-f", "%e %M", "-o", tf.name] + cmd, cwd=cwd,
                       capture_output=True, text=True)
    if p.returncode not in (0,):
        sys.exit(f"{cmd[0]} failed ({p.returncode}): {p.stderr[-2000:]}")
    secs, rss = open(tf.name).read().split()[-2:]
    os.unlink(tf.name)
    return float(secs), int(rss) // 1024, p.stdout


def db_size(work):
    return sum(os.path.getsize(os.path.join(work, f)) for f in os.listdir(work)
               if f.startswith("m.db"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="20000,100000,500000")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--no-peer", action="store_true")
    ap.add_argument("--peer-max", type=int, default=100000,
                    help="run the peer only up to this size (it takes minutes per 100k)")
    ap.add_argument("--peer-reps", type=int, default=1)
    ap.add_argument("--no-maildir", action="store_true")
    args = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    mailroom = f"{ROOT}/target/release/mailroom"
    print(f"machine: {os.cpu_count()} CPUs, {open('/proc/cpuinfo').read().split('model name')[1].split(':')[1].splitlines()[0].strip()}")
    results = {}
    for n in [int(s) for s in args.sizes.split(",")]:
        mbox = corpus(n)
        size = os.path.getsize(mbox)
        expected = json.load(open(mbox + ".expected"))
        runners = {
            "mailroom": lambda w: [mailroom, "--db", f"{w}/m.db", "import", "--json", mbox],
            "floor": lambda w: [sys.executable, f"{HERE}/floor_import.py", f"{w}/m.db", mbox],
        }
        if not args.no_peer and n <= args.peer_max:
            runners["peer"] = lambda w: [sys.executable, f"{HERE}/peer_import.py", f"{w}/m.db", mbox]
        if not args.no_maildir:
            md = maildir_of(mbox, n)
            runners["maildir"] = lambda w: [mailroom, "--db", f"{w}/m.db", "import", "--json", md]
        names = list(runners)
        for rep in range(args.reps):
            order = names[rep % len(names):] + names[:rep % len(names)]
            for name in order:
                if name == "peer" and rep >= args.peer_reps:
                    continue
                work = tempfile.mkdtemp(dir="/var/tmp", prefix="mailroom-bench-")
                secs, rss, out = timed(runners[name](work), work)
                dbs = db_size(work)
                shutil.rmtree(work)
                if name in ("mailroom", "maildir"):
                    got = json.loads(out)
                    if got != expected:
                        print(f"  WARNING {name} summary {got} differs from {expected}")
                results.setdefault((n, name), []).append((secs, rss, dbs))
                print(f"  {n:>7} {name:<8} rep {rep + 1}: {secs:7.2f} s {n / secs:9.0f} msg/s "
                      f"RSS {rss:4d} MiB db {dbs / size:4.2f}x mbox", flush=True)
        print(f"size {n}: mbox {size / 2**20:.0f} MiB")
        for name in names:
            rs = results[(n, name)]
            t = statistics.median(r[0] for r in rs)
            print(f"  {name:<8} median {t:7.2f} s = {n / t:9.0f} msg/s, peak RSS max {max(r[1] for r in rs)} MiB,"
                  f" db {statistics.median(r[2] for r in rs) / size:.2f}x the mbox")
        tm = statistics.median(r[0] for r in results[(n, "mailroom")])
        tf = statistics.median(r[0] for r in results[(n, "floor")])
        print(f"  mailroom / floor time: {tm / tf:.2f}x")
        if (n, "peer") in results:
            tp = statistics.median(r[0] for r in results[(n, "peer")])
            print(f"  peer / mailroom time: {tp / tm:.1f}x")
        if (n, "maildir") in results:
            td = statistics.median(r[0] for r in results[(n, "maildir")])
            print(f"  maildir / mbox time: {td / tm:.2f}x")
    sizes = sorted({n for n, _ in results})
    if 100000 in sizes and sizes[-1] > 100000:
        big = sizes[-1]
        t1 = statistics.median(r[0] for r in results[(100000, "mailroom")])
        t5 = statistics.median(r[0] for r in results[(big, "mailroom")])
        print(f"linearity: {big} takes {t5 / t1:.2f}x the time of 100000 ({big / 100000:.0f}x the messages)")


if __name__ == "__main__":
    main()
