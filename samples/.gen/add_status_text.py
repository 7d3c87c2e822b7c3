#!/usr/bin/env python3
"""One-off migration for issue 10: adds the `status_text` field (DESIGN §3) to every
golden event written before it existed, right after `status`.

The value is what the registrars' documentation says carries their own words, read from
the golden event's own `data` (the documented payload), never from mailroom's output:
- AutoDNS JSON/XML messages: the message's `status.text` (for XML jobs the job's
  `status` block when it has the code), else the job's `status.text`, else null;
- AutoDNS Standard text: the bracketed text of the status line (`S0104 [text]`), the
  `<system>` block's coded status first;
- EPP poll messages: the `msgQ` `<msg>` text;
- OpenSRS and Gandi payloads carry no such text: null.

    python3 samples/.gen/add_status_text.py samples/*.json samples/extra/*.json
"""
import json
import re
import sys


def norm(t):
    if not isinstance(t, str):
        return None
    t = " ".join(t.split())
    return t or None


def text_of(v):
    if isinstance(v, dict):
        return v.get("#text")
    return v


def autodns_json(data):
    msg = data.get("message") if isinstance(data.get("message"), dict) else data
    st = msg.get("status")
    if isinstance(st, dict) and st.get("text"):
        return st["text"]
    job = msg.get("job")
    if isinstance(job, dict) and isinstance(job.get("status"), dict):
        return job["status"].get("text")
    return None


def autodns_xml(ev, data):
    if ev["kind"] == "job":
        job = data.get("job")
        if isinstance(job, dict) and isinstance(job.get("status"), dict) and "code" in job["status"]:
            return job["status"].get("text")
    st = data.get("status")
    if isinstance(st, dict):
        return st.get("text")
    return None


CODE = re.compile(r"^[SEN]\d{4,}$")


def autodns_text(data):
    lines = []
    for block in ("system", "reply"):
        v = (data.get(block) or {}).get("status")
        if isinstance(v, list):
            v = v[0] if v else None
        if isinstance(v, str):
            lines.append(v)
    line = next((l for l in lines if l.split() and CODE.match(l.split()[0])), None)
    if line is None:
        reply = (data.get("reply") or {}).get("status")
        line = reply if isinstance(reply, str) else None
    if not line or "[" not in line:
        return None
    rest = line[line.index("[") + 1:]
    if "]" in rest:
        rest = rest[: rest.rindex("]")]
    return rest


def status_text(ev):
    data = ev.get("data")
    if not isinstance(data, dict):
        return None
    if ev["registrar"] == "autodns":
        if ev["format"] == "json":
            return autodns_json(data)
        if ev["format"] == "xml":
            return autodns_xml(ev, data)
        if ev["format"] == "text":
            return autodns_text(data)
        if ev["format"] == "epp":
            q = data.get("msgQ")
            return text_of(q.get("msg")) if isinstance(q, dict) else None
    return None


def with_status_text(ev):
    """The event with `status_text` right after `status` (kept when already there)."""
    if "status_text" in ev:
        return ev
    new = {}
    for k, v in ev.items():
        new[k] = v
        if k == "status":
            new["status_text"] = norm(status_text(ev))
    return new


def migrate(path):
    with open(path, encoding="utf-8") as f:
        events = json.load(f)
    out = []
    for ev in events:
        if "status_text" in ev:
            out.append(ev)
            continue
        new = {}
        for k, v in ev.items():
            new[k] = v
            if k == "status":
                new["status_text"] = norm(status_text(ev))
        out.append(new)
    with open(path, "w", encoding="utf-8") as f:
        f.write(json.dumps(out, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    for p in sys.argv[1:]:
        migrate(p)
