#!/usr/bin/env python3
"""The straightforward Python peer of `mailroom import`: what a reseller would write
in an afternoon with the standard library. Reads an mbox with `mailbox`, parses each
mail with `email`, finds a JSON object, an XML document or a Python literal in the
text, and stores the message (deduplicated by SHA-256) and its event (deduplicated by
registrar and event id) in SQLite, committing once per 5,000 messages (WAL,
synchronous = FULL, like mailroom).

    peer_import.py DB MBOX
"""
import ast
import email
import email.policy
import hashlib
import json
import mailbox
import re
import sqlite3
import sys
import xml.etree.ElementTree as ET

XML_START = re.compile(rb"<\?xml|<(epp|response|OPS_envelope)\b")


def registrar_of(sender):
    s = (sender or "").lower()
    if "opensrs" in s or "tucows" in s:
        return "opensrs"
    if "autodns" in s or "internetx" in s:
        return "autodns"
    if "gandi" in s:
        return "gandi"
    return "unknown"


def first_payload(text):
    i = text.find("{")
    while i >= 0:
        try:
            obj, _ = json.JSONDecoder().raw_decode(text[i:])
            return "json", obj
        except ValueError:
            pass
        try:
            end = text.rindex("}") + 1
            return "python-literal", ast.literal_eval(text[i:end])
        except (ValueError, SyntaxError):
            pass
        i = text.find("{", i + 1)
    m = XML_START.search(text.encode())
    if m:
        try:
            root = ET.fromstring(text[m.start():].strip())
            return "xml", {root.tag: [c.tag for c in root.iter()]}
        except ET.ParseError:
            pass
    return None, None


def event_id(obj, body):
    if isinstance(obj, dict):
        for key in ("event_id", "id", "notification_id", "job_id"):
            if key in obj:
                return str(obj[key])
        for v in obj.values():
            if isinstance(v, dict):
                found = event_id(v, "")
                if found:
                    return found
    return "sha256:" + hashlib.sha256(body.encode()).hexdigest() if body else None


def main():
    db, path = sys.argv[1], sys.argv[2]
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.executescript("""
        CREATE TABLE IF NOT EXISTS messages (id INTEGER PRIMARY KEY, hash TEXT UNIQUE,
            message_id TEXT, subject TEXT, sender TEXT, raw BLOB, status TEXT);
        CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, registrar TEXT,
            event_id TEXT, format TEXT, data TEXT, message INTEGER,
            UNIQUE (registrar, event_id));
    """)
    counts = {"messages": 0, "events_new": 0, "duplicates": 0, "quarantined": 0}
    for n, msg in enumerate(mailbox.mbox(path, create=False)):
        raw = msg.as_bytes()
        counts["messages"] += 1
        h = hashlib.sha256(raw).hexdigest()
        if conn.execute("SELECT 1 FROM messages WHERE hash = ?", (h,)).fetchone():
            counts["duplicates"] += 1
            continue
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        part = parsed.get_body(preferencelist=("plain", "html"))
        body = part.get_content() if part is not None else ""
        fmt, obj = first_payload(body)
        status = "parsed" if obj is not None else "quarantined"
        cur = conn.execute(
            "INSERT INTO messages (hash, message_id, subject, sender, raw, status) VALUES (?,?,?,?,?,?)",
            (h, parsed["message-id"], parsed["subject"], parsed["from"], raw, status))
        if obj is None:
            counts["quarantined"] += 1
        else:
            reg = registrar_of(parsed["from"])
            eid = event_id(obj, body)
            done = conn.execute(
                "INSERT OR IGNORE INTO events (registrar, event_id, format, data, message) VALUES (?,?,?,?,?)",
                (reg, eid, fmt, json.dumps(obj, default=str), cur.lastrowid)).rowcount
            counts["events_new" if done else "duplicates"] += 1
        if n % 5000 == 4999:
            conn.commit()
    conn.commit()
    print(json.dumps(counts))


if __name__ == "__main__":
    main()
