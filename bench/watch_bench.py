#!/usr/bin/env python3
"""IMAP catch-up speed and IDLE latency of `mailroom watch`, against a real Dovecot on
loopback (run as root; scripts/install-test-deps.sh installs Dovecot).

    bench/watch_bench.py [--messages 20000] [--idle-samples 100]

1. Loads N notification emails into a Dovecot Maildir (written directly, as Dovecot's
   own tools do), then times a bare IMAP fetch of the folder (Python imaplib,
   UID FETCH 1:* BODY.PEEK[], nothing else done with the bytes) and
   `mailroom watch --once` catching up into a fresh database (peak RSS from
   /usr/bin/time).
2. Starts `mailroom watch`, APPENDs messages one at a time over IMAP and measures the
   time from the APPEND's completion to the event being in the database: median and
   99th percentile. (Dovecot itself waits ~0.5 s before it pushes EXISTS to IDLE.)
"""
import argparse
import glob
import imaplib
import os
import pwd
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import gen_mbox  # noqa: E402


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def start_dovecot(t):
    os.chmod(t, 0o755)
    nobody = pwd.getpwnam("nobody")
    mail = os.path.join(t, "mail")
    os.makedirs(mail)
    os.chown(mail, nobody.pw_uid, nobody.pw_gid)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=localhost", "-keyout", f"{t}/key.pem", "-out", f"{t}/cert.pem"],
                   check=True, capture_output=True)
    with open(f"{t}/users", "w") as f:
        f.write("reseller:{PLAIN}secret::::::\n")
    port = free_port()
    conf = f"""protocols = imap
listen = 127.0.0.1
base_dir = {t}/run
state_dir = {t}/state
log_path = {t}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
mail_fsync = never
mail_location = maildir:{t}/mail/%n
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {t}/users
}}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup home={t}/mail/%n
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
"""
    with open(f"{t}/dovecot.conf", "w") as f:
        f.write(conf)
    proc = subprocess.Popen(["dovecot", "-F", "-c", f"{t}/dovecot.conf"], start_new_session=True)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    raise SystemExit("dovecot did not start: " + open(f"{t}/dovecot.log").read())


def load(t, n):
    """N emails from the synthetic mix into INBOX/cur (unseen: as in any mailbox a
    client has opened once; Dovecot rescans a new/ of 20,000 files on every change),
    chowned to nobody."""
    import random
    nobody = pwd.getpwnam("nobody")
    inbox = os.path.join(t, "mail", "reseller")
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(inbox, sub), exist_ok=True)
    rng = random.Random(3)
    kinds = [k for k, _ in gen_mbox.KINDS]
    weights = [w for _, w in gen_mbox.KINDS]
    for i in range(n):
        fn = rng.choices(kinds, weights)[0]
        sender, subject, body, _ = fn(rng, i)
        raw = gen_mbox.email(sender, subject, body, i).replace("\n", "\r\n").encode()
        name = f"{1700000000 + i:012d}.M{i}P1.bench"
        tmp = os.path.join(inbox, "tmp", name)
        with open(tmp, "wb") as f:
            f.write(raw)
        os.rename(tmp, os.path.join(inbox, "cur", name + ":2,"))
    for root, dirs, files in os.walk(os.path.join(t, "mail")):
        for x in dirs + files:
            os.chown(os.path.join(root, x), nobody.pw_uid, nobody.pw_gid)
        os.chown(root, nobody.pw_uid, nobody.pw_gid)


def raw_fetch(port, chunk=1000):
    """The floor: a plain socket that logs in, selects, and sends every `UID FETCH
    lo:hi BODY.PEEK[]` of `chunk` UIDs at once (pipelined), reading and discarding the
    bytes until the last tagged OK. Counts the FETCH responses."""
    start = time.perf_counter()
    s = socket.create_connection(("127.0.0.1", port))
    f = s.makefile("rb", buffering=1 << 20)

    def until(tag):
        while True:
            line = f.readline()
            if not line:
                raise SystemExit("raw fetch: connection closed")
            if line.startswith(tag + b" "):
                return line

    f.readline()
    s.sendall(b"a LOGIN reseller secret\r\nb SELECT INBOX\r\n")
    until(b"a")
    exists = 0
    while True:
        line = f.readline()
        if line.endswith(b" EXISTS\r\n"):
            exists = int(line.split()[1])
        if line.startswith(b"b "):
            break
    cmds = []
    for k, lo in enumerate(range(1, exists + 1, chunk)):
        cmds.append(f"f{k} FETCH {lo}:{min(lo + chunk - 1, exists)} (UID BODY.PEEK[])\r\n".encode())
    s.sendall(b"".join(cmds))
    count = 0
    last = f"f{len(cmds) - 1}".encode()
    while True:
        line = f.readline()
        if not line:
            raise SystemExit("raw fetch: connection closed")
        if line.startswith(b"* ") and b" FETCH " in line:
            count += 1
        if line.endswith(b"}\r\n"):
            n = int(line[line.rindex(b"{") + 1:-3])
            f.read(n)
        elif line.startswith(last + b" "):
            break
    s.sendall(b"z LOGOUT\r\n")
    s.close()
    return time.perf_counter() - start, count


def idle_floor(port, samples, first_uid):
    """What Dovecot alone takes: a bare client IDLEs on INBOX, another APPENDs; time
    from the APPEND's completion to the end of the commands mailroom then sends (DONE,
    UID SEARCH UID n:*, UID FETCH n BODY.PEEK[])."""
    s = socket.create_connection(("127.0.0.1", port))
    f = s.makefile("rb")

    def until(tag):
        while True:
            line = f.readline()
            if not line:
                raise SystemExit("idle floor: connection closed")
            if line.endswith(b"}\r\n"):
                f.read(int(line[line.rindex(b"{") + 1:-3]))
            if line.startswith(tag + b" "):
                return

    f.readline()
    s.sendall(b"a LOGIN reseller secret\r\nb SELECT INBOX\r\n")
    until(b"b")
    m = imaplib.IMAP4("127.0.0.1", port)
    m.login("reseller", "secret")
    lat = []
    uid = first_uid
    for i in range(samples):
        s.sendall(b"c IDLE\r\n")
        f.readline()
        m.append("INBOX", None, None, b"From: x@example.com\r\nSubject: floor\r\n\r\nbody\r\n")
        start = time.perf_counter()
        while b"EXISTS" not in f.readline():
            pass
        s.sendall(b"DONE\r\n")
        until(b"c")
        s.sendall(f"d UID SEARCH UID {uid}:*\r\n".encode())
        until(b"d")
        s.sendall(f"e UID FETCH {uid} (UID BODY.PEEK[])\r\n".encode())
        until(b"e")
        lat.append(time.perf_counter() - start)
        uid += 1
        time.sleep(1.0)
    m.logout()
    s.close()
    return lat


def bare_fetch(port):
    start = time.perf_counter()
    m = imaplib.IMAP4("127.0.0.1", port)
    m.login("reseller", "secret")
    m.select("INBOX", readonly=True)
    typ, data = m.uid("FETCH", "1:*", "(BODY.PEEK[])")
    count = sum(1 for d in data if isinstance(d, tuple))
    m.logout()
    return time.perf_counter() - start, count


def start_postgres(t):
    """A PostgreSQL of the bench's own (Debian's packages; initdb in a temporary folder,
    a loopback port, default settings); returns its URL and a function that stops it."""
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "psycopg2-binary"], check=True)
    bindir = sorted(glob.glob("/usr/lib/postgresql/*/bin"))[-1]
    data = os.path.join(t, "pg")
    os.makedirs(data)
    as_pg = ["runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []
    if os.getuid() == 0:
        shutil.chown(data, "postgres")
        os.chmod(t, 0o755)
    port = free_port()
    subprocess.run(as_pg + [f"{bindir}/initdb", "-D", data, "-A", "trust", "-U", "mailroom"],
                   check=True, stdout=subprocess.DEVNULL)
    subprocess.run(as_pg + [f"{bindir}/pg_ctl", "-D", data, "-l", f"{data}/log", "-w", "-o",
                            f"-p {port} -c listen_addresses=127.0.0.1 -k {data}", "start"],
                   check=True, stdout=subprocess.DEVNULL)

    def stop():
        subprocess.run(as_pg + [f"{bindir}/pg_ctl", "-D", data, "-m", "immediate", "stop"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return f"postgres://mailroom@127.0.0.1:{port}/bench", port, stop


def reset_postgres(port):
    import psycopg2
    c = psycopg2.connect(host="127.0.0.1", port=port, user="mailroom", dbname="postgres")
    c.autocommit = True
    c.cursor().execute("DROP DATABASE IF EXISTS bench")
    c.cursor().execute("CREATE DATABASE bench")
    c.close()


def write_config(t, port, db="bench.db", name="mailroom.toml"):
    cfg = os.path.join(t, name)
    os.makedirs(os.path.join(t, "rules"), exist_ok=True)
    with open(cfg, "w") as f:
        f.write(f"""db = "{db}"
[[account]]
name = "bench"
host = "127.0.0.1"
port = {port}
tls = "none"
username = "reseller"
password_env = "BENCH_IMAP_PASSWORD"
""")
    return cfg


def idle_latency(binary, cfg, t, env, port, samples, which, pg_port):
    """APPEND → event stored, `samples` times, with `mailroom watch` running on `cfg`."""
    log = open(os.path.join(t, f"{which}.log"), "w")
    w = subprocess.Popen([binary, "--config", cfg, "watch"], cwd=t, env=env, stdout=subprocess.DEVNULL, stderr=log)
    time.sleep(2)
    if pg_port is None:
        db = sqlite3.connect(os.path.join(t, "bench.db"), timeout=30)
        ask = "SELECT 1 FROM events WHERE registrar = 'opensrs' AND event_id = ?"
    else:
        import psycopg2
        db = psycopg2.connect(host="127.0.0.1", port=pg_port, user="mailroom", dbname="bench")
        db.autocommit = True
        ask = "SELECT 1 FROM events WHERE registrar = 'opensrs' AND event_id = %s"
    lat = []
    m = imaplib.IMAP4("127.0.0.1", port)
    m.login("reseller", "secret")
    for i in range(samples):
        eid = f"idle-{which}-{i:05d}"
        raw = ("From: notifications@opensrs.net\r\nSubject: Event notification: DOMAIN: CREATED: " + eid +
               "\r\n\r\n{\"object_data\":{\"domain_name\":\"idle" + str(i) + ".example\"},\"object\":\"DOMAIN\","
               "\"event_id\":\"" + eid + "\",\"event\":\"CREATED\",\"event_date\":\"2026-01-01T00:00:00Z\"}\r\n")
        m.append("INBOX", None, None, raw.encode())
        start = time.perf_counter()
        while True:
            cur = db.cursor()
            cur.execute(ask, (eid,))
            if cur.fetchone():
                break
            if time.perf_counter() - start > 30:
                raise SystemExit("event never stored")
            time.sleep(0.002)
        lat.append(time.perf_counter() - start)
        # Appends a second apart, like real mail: Dovecot batches change
        # notifications that come right after one it just sent.
        time.sleep(1.0)
    m.logout()
    w.terminate()
    w.wait(timeout=20)
    lat.sort()
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
    engine = "PostgreSQL" if pg_port else "SQLite"
    print(f"IDLE latency on {engine} (APPEND done → event stored), {len(lat)} samples: "
          f"median {statistics.median(lat) * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, max {lat[-1] * 1000:.0f} ms",
          flush=True)
    return lat


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=20000)
    ap.add_argument("--idle-samples", type=int, default=100)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--skip-catch-up", action="store_true")
    ap.add_argument("--pg", action="store_true",
                    help="also run mailroom on a PostgreSQL of the bench's own, side by side")
    a = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    binary = os.path.join(ROOT, "target", "release", "mailroom")
    t = tempfile.mkdtemp(prefix="mailroom-watch-bench-")
    proc, port = start_dovecot(t)
    env = dict(os.environ, BENCH_IMAP_PASSWORD="secret")
    env.pop("MAILROOM_NOW", None)
    stop_pg = None
    try:
        load(t, a.messages)
        bare_fetch(port)  # let Dovecot build its index once, for both measurements alike
        cfg = write_config(t, port)
        cfgs = {"mailroom": cfg}
        if a.pg:
            pg_url, pg_port, stop_pg = start_postgres(t)
            cfgs["mailroom-pg"] = write_config(t, port, pg_url, "pg.toml")
        timing = os.path.join(t, "time")
        bare, raw, ours, report, rss_max = [], [], [], None, 0
        on_pg, pg_report, pg_rss = [], None, 0
        for rep in range(a.reps):
            # Side by side, order rotated: the machine's noise hits all alike.
            order = ["raw", "bare", "mailroom"] + (["mailroom-pg"] if a.pg else [])
            order = order[rep % len(order):] + order[:rep % len(order)]
            for which in order:
                if which == "bare":
                    secs, count = bare_fetch(port)
                    bare.append(secs)
                    print(f"  rep {rep + 1} bare IMAP fetch (imaplib): {count} messages in {secs:.2f} s", flush=True)
                    continue
                if which == "raw":
                    secs, count = raw_fetch(port)
                    raw.append(secs)
                    print(f"  rep {rep + 1} pipelined raw fetch (socket): {count} messages in {secs:.2f} s", flush=True)
                    continue
                for f in os.listdir(t):
                    if f.startswith("bench.db"):
                        os.unlink(os.path.join(t, f))
                if which == "mailroom-pg":
                    reset_postgres(pg_port)
                    # The schema, outside the timing (as the SQLite file's is not).
                    subprocess.run([binary, "--config", cfgs[which], "status"], cwd=t, env=env,
                                   capture_output=True)
                r = subprocess.run(["/usr/bin/time", "-f", "%e %M", "-o", timing, binary, "--config", cfgs[which],
                                    "watch", "--once", "--json"], cwd=t, env=env, capture_output=True, text=True)
                if r.returncode != 0:
                    raise SystemExit(r.stderr)
                secs, rss = open(timing).read().split()
                if which == "mailroom-pg":
                    on_pg.append(float(secs))
                    pg_rss = max(pg_rss, int(rss) // 1024)
                    pg_report = r.stdout.strip()
                    print(f"  rep {rep + 1} mailroom watch --once on PostgreSQL: {a.messages} messages in {float(secs):.2f} s, peak RSS {int(rss) // 1024} MiB", flush=True)
                    continue
                ours.append(float(secs))
                rss_max = max(rss_max, int(rss) // 1024)
                report = r.stdout.strip()
                print(f"  rep {rep + 1} mailroom watch --once: {a.messages} messages in {float(secs):.2f} s, peak RSS {int(rss) // 1024} MiB", flush=True)
        b, m, w = statistics.median(bare), statistics.median(ours), statistics.median(raw)
        print(f"pipelined raw fetch: median {w:.2f} s = {a.messages / w:.0f} messages/s")
        print(f"bare IMAP fetch (imaplib): median {b:.2f} s = {a.messages / b:.0f} messages/s")
        print(f"mailroom watch --once: median {m:.2f} s = {a.messages / m:.0f} messages/s, peak RSS {rss_max} MiB; {report}")
        print(f"mailroom / imaplib fetch speed: {b / m * 100:.0f} %")
        print(f"mailroom / pipelined raw fetch speed: {w / m * 100:.0f} %")
        if on_pg:
            p = statistics.median(on_pg)
            print(f"mailroom watch --once on PostgreSQL: median {p:.2f} s = {a.messages / p:.0f} messages/s, "
                  f"peak RSS {pg_rss} MiB, {p / m:.2f}x SQLite's time; {pg_report}")

        # IDLE latency.
        if a.idle_samples == 0:
            return
        lat_of = {}
        for which in cfgs:
            lat_of[which] = idle_latency(binary, cfgs[which], t, env, port, a.idle_samples, which,
                                         pg_port if which == "mailroom-pg" else None)
        lat = lat_of["mailroom"]
        # The same folder, Dovecot alone (UIDs continue after the appends above).
        floor = sorted(idle_floor(port, max(10, a.idle_samples // 3),
                                  a.messages + a.idle_samples * len(cfgs) + 1))
        fp99 = floor[min(len(floor) - 1, int(len(floor) * 0.99))]
        print(f"IDLE floor (a bare client, same folder, same commands), {len(floor)} samples: "
              f"median {statistics.median(floor) * 1000:.0f} ms, p99 {fp99 * 1000:.0f} ms; "
              f"mailroom's own part: median {(statistics.median(lat) - statistics.median(floor)) * 1000:.0f} ms")
    finally:
        if stop_pg:
            stop_pg()
        os.killpg(proc.pid, 15)
        proc.wait(timeout=10)
        shutil.rmtree(t, ignore_errors=True)


if __name__ == "__main__":
    main()
