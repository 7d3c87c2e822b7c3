#!/usr/bin/env python3
"""The HTTP server at size: console pages, the feed API and /metrics over a database of
about 100,000 events, timed with a real HTTP client beside a floor (/healthz, answered
from memory).

    python3 bench/http_bench.py [--messages 120000] [--reps 20] [--consumers 100]

A synthetic mbox from gen_mbox.py (cached under /var/tmp; 120,000 mails make about
100,000 events) is imported by `mailroom import` into a fresh database, which is kept
beside it for the next run. `target/release/mailroom serve` then serves it on loopback
with feed consumers made by POST (half of them acknowledged part of the way), and
every URL below is fetched REPS times, each over a new connection as a browser or a
scraper would; the table gives the median and the slowest, in milliseconds.
"""
import argparse
import http.client
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CACHE = "/var/tmp/mailroom-bench-corpora"


def mailroom():
    target = os.environ.get("CARGO_TARGET_DIR", f"{ROOT}/target")
    return f"{target}/release/mailroom"


def database(n):
    """A database of an n-message mbox, imported once and kept."""
    os.makedirs(CACHE, exist_ok=True)
    mbox = f"{CACHE}/{n}.mbox"
    if not os.path.exists(mbox):
        with open(mbox + ".expected", "w") as out:
            subprocess.run([sys.executable, f"{HERE}/gen_mbox.py", mbox + ".tmp", "--messages", str(n)],
                           check=True, stdout=out)
        os.rename(mbox + ".tmp", mbox)
    db = f"{CACHE}/{n}.http.db"
    if not os.path.exists(db):
        work = tempfile.mkdtemp(prefix="http-bench-")
        t = time.monotonic()
        subprocess.run([mailroom(), "--db", f"{work}/m.db", "import", "--json", mbox],
                       cwd=work, check=True, stdout=subprocess.DEVNULL)
        print(f"imported {mbox} in {time.monotonic() - t:.0f} s", file=sys.stderr)
        for f in os.listdir(work):
            if f.startswith("m.db"):
                shutil.move(f"{work}/{f}", db + f[len("m.db"):])
        shutil.rmtree(work)
    return db


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(port, method, target, body=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Content-Type": "application/json"} if body is not None else {}
    t = time.perf_counter()
    c.request(method, target, body=body, headers=headers)
    r = c.getresponse()
    data = r.read()
    ms = (time.perf_counter() - t) * 1000
    c.close()
    return r.status, data, ms


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=120000)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--consumers", type=int, default=100)
    args = ap.parse_args()

    db = database(args.messages)
    work = tempfile.mkdtemp(prefix="http-bench-")
    for f in os.listdir(os.path.dirname(db)):
        if f.startswith(os.path.basename(db)):
            shutil.copy(f"{os.path.dirname(db)}/{f}", f"{work}/m.db" + f[len(os.path.basename(db)):])
    port = free_port()
    with open(f"{work}/mailroom.toml", "w") as f:
        f.write(f'db = "m.db"\nrules = "rules"\n[http]\nlisten = "127.0.0.1:{port}"\n')
    os.makedirs(f"{work}/rules")
    server = subprocess.Popen([mailroom(), "--config", f"{work}/mailroom.toml", "serve"], cwd=work,
                              stdout=subprocess.DEVNULL, stderr=open(f"{work}/serve.log", "w"))
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if request(port, "GET", "/healthz")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                sys.exit(open(f"{work}/serve.log").read())
            time.sleep(0.1)

        events = json.loads(request(port, "GET", "/api/v1/events?limit=1")[1])
        last = json.loads(request(port, "GET", f"/api/v1/events?after={events['next']}&limit=1000")[1])
        for i in range(args.consumers):
            status, data, _ = request(port, "POST", "/api/v1/consumers", json.dumps({"name": f"c{i}"}))
            assert status in (200, 201), data
            if i % 2:
                # Half acknowledge up to a point in the first thousand events.
                cursor = last["cursors"][(i * 7) % len(last["cursors"])]
                status, data, _ = request(port, "POST", f"/api/v1/consumers/c{i}/ack",
                                          json.dumps({"cursor": cursor}))
                assert status == 200, data

        stored = int(re.search(rb"of (\d+), newest first", request(port, "GET", "/events")[1]).group(1))
        deep = request(port, "GET", "/events?page=1000")[1].decode()
        older = re.search(r'rel="next" href="([^"]+)"', deep).group(1).replace("&amp;", "&")
        listed = request(port, "GET", "/domains")[1].decode()
        domain = re.search(r'href="/domains/([^"]+)"', listed).group(1)
        part = domain.split(".")[0][-6:]
        urls = [
            ("floor: /healthz", "/healthz"),
            ("console: needs attention", "/"),
            ("console: /events", "/events"),
            ("console: /events?page=1000", "/events?page=1000"),
            ("console: page 1001 by its Older link", older),
            ("console: /events?page=18446744073709551615", "/events?page=18446744073709551615"),
            ("console: /events?topic=transfer", "/events?topic=transfer"),
            ("console: /events?registrar=opensrs&page=500", "/events?registrar=opensrs&page=500"),
            ("console: /events?since=30d", "/events?since=30d"),
            (f"console: /events?q={part} (search)", f"/events?q={part}"),
            ("console: /events?q=nameserver (search, many)", "/events?q=nameserver"),
            ("console: /domains", "/domains"),
            (f"console: /domains?q={part}", f"/domains?q={part}"),
            (f"console: /domains/{domain}", f"/domains/{domain}"),
            ("console: /digests", "/digests"),
            ("console: /quarantine", "/quarantine"),
            ("console: /outbox", "/outbox"),
            ("console: /sources", "/sources"),
            ("api: /api/v1/events?limit=100", "/api/v1/events?limit=100"),
            (f"api: /api/v1/consumers ({args.consumers})", "/api/v1/consumers"),
            ("api: /api/v1/consumers/c0/poll", "/api/v1/consumers/c0/poll?limit=100"),
            ("/metrics", "/metrics"),
        ]
        rows = []
        for label, url in urls:
            times = []
            for _ in range(args.reps):
                status, data, ms = request(port, "GET", url)
                assert status == 200, (url, status, data[:300])
                times.append(ms)
            rows.append((label, statistics.median(times), max(times)))
        print(f"{stored} events stored; {args.reps} requests each, a new connection each; ms\n")
        print("| request | median | slowest |")
        print("|---|---|---|")
        for label, med, mx in rows:
            print(f"| {label} | {med:.1f} | {mx:.1f} |")
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
