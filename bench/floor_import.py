#!/usr/bin/env python3
"""The floor for `mailroom import`: read the mbox, split it into messages, and insert
every message's raw bytes into SQLite with one bulk insert (one transaction, WAL,
synchronous = FULL, as mailroom's store). No parsing, no hashing, no dedup: what any
importer must at least do with the same input and the same storage.

    floor_import.py DB MBOX
"""
import sqlite3
import sys


def messages(path):
    data = open(path, "rb").read()
    start = 0
    while True:
        nxt = data.find(b"\nFrom ", start)
        if nxt < 0:
            yield data[start:]
            return
        yield data[start:nxt + 1]
        start = nxt + 1


def main():
    db, mbox = sys.argv[1], sys.argv[2]
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("CREATE TABLE raw (id INTEGER PRIMARY KEY, raw BLOB NOT NULL)")
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO raw (raw) VALUES (?)", ((m,) for m in messages(mbox)))
    conn.execute("COMMIT")
    n = conn.execute("SELECT COUNT(*) FROM raw").fetchone()[0]
    print(n)


if __name__ == "__main__":
    main()
