#!/usr/bin/env python3
"""Golden corpus for mailroom: writes samples/NAME.eml beside samples/NAME.json and the
hostile messages of samples/malformed/.

The expected events are written down here from the registrars' documentation
(/work/shared/seeds) and docs/EVENTS.md, NOT from mailroom's output: every golden field
except `data` is a literal in this file; `data` is the payload object the email was
serialized from (or, for XML, the documented XML-to-JSON mapping of the element, and for
Python literals `ast.literal_eval`, i.e. Python's own reading of the literal).

    python3 samples/.gen/make_samples.py          # rewrites the corpus byte for byte

Every .eml is byte-exact and deterministic (no clock, seeded randomness). At the end the
script checks every golden event against the topic table of docs/EVENTS.md and its
general rules (shape, UTC timestamps, sha256 ids, lower-case domains).
"""
import ast
import base64
import hashlib
import html
import json
import os
import quopri
import random
import re
from datetime import datetime, timezone
from email.utils import format_datetime
from xml.dom import minidom
from zoneinfo import ZoneInfo

from add_status_text import with_status_text  # issue 10: the event's status_text field

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.dirname(HERE)
MAL = os.path.join(OUT, "malformed")
EVENTS_MD = os.path.join(os.path.dirname(OUT), "docs", "EVENTS.md")

CRLF, LF = "\r\n", "\n"
WRITTEN = {}  # name -> events


# ------------------------------------------------------------------ small helpers

def hexid(seed, n=32):
    """A deterministic registrar-looking hex id."""
    return hashlib.md5(seed.encode()).hexdigest()[:n]


def msgid(seed, host):
    return "<%s.%s@%s>" % (hexid("message-id:" + seed, 16), hexid("m" + seed, 8), host)


def rfc2822(s):
    """'2026-11-03 14:22:09 +0000' -> 'Tue, 03 Nov 2026 14:22:09 +0000'"""
    return format_datetime(datetime.strptime(s, "%Y-%m-%d %H:%M:%S %z"))


def utc_local(s, zone):
    """A zoneless registrar timestamp in the registrar's local time -> UTC (EVENTS.md)."""
    dt = datetime.strptime(s, "%Y-%m-%d %H:%M:%S").replace(tzinfo=ZoneInfo(zone))
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def utc_offset(s):
    """'2018-09-26T15:11:21.000+0200' or '...Z' -> '2018-09-26T13:11:21Z'."""
    s = re.sub(r"\.\d+", "", s).replace("Z", "+0000")
    dt = datetime.strptime(s, "%Y-%m-%dT%H:%M:%S%z")
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def gandi_id(data):
    canon = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canon.encode("utf-8")).hexdigest()


def compact(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def pretty(obj, indent=4):
    return json.dumps(obj, indent=indent, ensure_ascii=False)


def nl(text, eol):
    """Text written with \\n -> the file's line ending."""
    return text.replace("\r\n", "\n").replace("\n", eol)


def b64(data, eol):
    return base64.encodebytes(data).decode("ascii").replace("\n", eol)


def qp(data, eol, also=b""):
    """Quoted-printable (RFC 2045) by hand: '=' and 8-bit bytes always escaped, the
    bytes in `also` escaped too (e.g. b'"' -> =22), lines soft-broken at 76 columns."""
    out = []
    for line in data.split(b"\n"):
        toks = []
        for i, b in enumerate(line):
            last = i == len(line) - 1
            if b == 0x3D or b in also or b > 126 or (b < 32 and b != 9) or (b in (9, 32) and last):
                toks.append("=%02X" % b)
            else:
                toks.append(chr(b))
        cur = ""
        for t in toks:
            if len(cur) + len(t) > 75:
                out.append(cur + "=")
                cur = ""
            cur += t
        out.append(cur)
    enc = eol.join(out)
    assert quopri.decodestring(enc.replace("\r\n", "\n").encode()) == data
    return enc


def headers(pairs, eol):
    """Header lines; a value may hold '\\n\\t' for folding."""
    return "".join("%s: %s%s" % (k, v.replace("\n", eol), eol) for k, v in pairs).encode("ascii")


def envelope(frm, to, subject, date, mid, received=None, extra=()):
    h = []
    if received:
        h.append(("Return-Path", "<%s>" % received[0]))
        h.append(("Received", "from %s (%s [%s])\n\tby mx1.reseller.example (Postfix) with ESMTPS id %s\n\tfor <domains@reseller.example>; %s"
                  % (received[1], received[1], received[2], hexid(mid, 10).upper(), rfc2822(date))))
    h += [("Date", rfc2822(date)), ("From", frm), ("To", to), ("Subject", subject),
          ("Message-ID", mid), ("MIME-Version", "1.0")]
    h += list(extra)
    return h


def single(hdrs, ctype, cte, payload, eol):
    """A one-part message: payload (bytes, lines separated by \\n) encoded with cte."""
    if cte == "base64":
        body = b64(payload, eol).encode("ascii")
    elif cte == "quoted-printable":
        body = qp(payload, eol, also=b'"').encode("ascii") + eol.encode()
    else:
        body = payload.replace(b"\r\n", b"\n").replace(b"\n", eol.encode())
    h = hdrs + [("Content-Type", ctype), ("Content-Transfer-Encoding", cte)]
    return headers(h, eol) + eol.encode() + body


def part(ctype, cte, payload, eol, extra=()):
    h = [("Content-Type", ctype)] + list(extra)
    if cte:
        h.append(("Content-Transfer-Encoding", cte))
    if cte == "base64":
        body = b64(payload, eol).encode("ascii")
    elif cte == "quoted-printable":
        body = qp(payload, eol).encode("ascii") + eol.encode()
    else:
        body = payload.replace(b"\r\n", b"\n").replace(b"\n", eol.encode())
    return headers(h, eol) + eol.encode() + body


def multipart(hdrs, subtype, boundary, parts, eol, preamble="This is a multi-part message in MIME format."):
    e = eol.encode()
    h = hdrs + [("Content-Type", 'multipart/%s;\n\tboundary="%s"' % (subtype, boundary))]
    body = preamble.encode() + e
    for p in parts:
        body += b"--" + boundary.encode() + e + p
        if not p.endswith(e):
            body += e
    body += b"--" + boundary.encode() + b"--" + e
    return headers(h, eol) + e + body


def ev(registrar, event_id, kind, obj, type_, topic, domain, domains, status, occurred_at, fmt, data):
    return {
        "registrar": registrar, "event_id": event_id, "kind": kind, "object": obj,
        "type": type_, "topic": topic, "domain": domain, "domains": domains,
        "status": status, "occurred_at": occurred_at, "format": fmt, "data": data,
    }


def sample(name, eml, events):
    assert name not in WRITTEN, name
    WRITTEN[name] = events
    with open(os.path.join(OUT, name + ".eml"), "wb") as f:
        f.write(eml)
    with open(os.path.join(OUT, name + ".json"), "w", encoding="utf-8", newline="\n") as f:
        f.write(json.dumps([with_status_text(e) for e in events], indent=2, ensure_ascii=False) + "\n")


# ------------------------------------------------------------------ XML -> JSON (the mappings of the brief)

def xml_json(el, epp=False):
    """AutoDNS XML: element -> object of children, repeated children -> array, leaf text
    -> string, empty element -> "", attributes ignored, mixed text ignored.
    EPP (epp=True): the same with prefixes kept in names (`domain:panData`), attributes
    as `@name` keys, and the text as `#text` when the element also has attributes."""
    kids = [c for c in el.childNodes if c.nodeType == c.ELEMENT_NODE]
    attrs = {}
    if epp and el.attributes is not None:
        for k, v in el.attributes.items():
            if k != "xmlns" and not k.startswith("xmlns:"):
                attrs["@" + k] = v
    if kids:
        obj = dict(attrs)
        names = [k.tagName for k in kids]
        for k in kids:
            v = xml_json(k, epp)
            if names.count(k.tagName) > 1:
                obj.setdefault(k.tagName, []).append(v)
            else:
                obj[k.tagName] = v
        return obj
    text = "".join(c.data for c in el.childNodes if c.nodeType in (c.TEXT_NODE, c.CDATA_SECTION_NODE)).strip()
    if attrs:
        assert text, "attribute-only empty element: ambiguous, not used in the corpus"
        attrs["#text"] = text
        return attrs
    return text


def find(el, *path):
    for p in path:
        el = [c for c in el.childNodes if c.nodeType == c.ELEMENT_NODE and c.tagName == p][0]
    return el


def ops_value(item):
    kids = [c for c in item.childNodes if c.nodeType == c.ELEMENT_NODE]
    if not kids:
        return "".join(c.data for c in item.childNodes if c.nodeType == c.TEXT_NODE)
    (k,) = kids
    items = [c for c in k.childNodes if c.nodeType == c.ELEMENT_NODE and c.tagName == "item"]
    if k.tagName == "dt_assoc":
        return {i.getAttribute("key"): ops_value(i) for i in items}
    assert k.tagName == "dt_array"
    return [ops_value(i) for i in sorted(items, key=lambda i: int(i.getAttribute("key")))]


def ops_xml(value, depth):
    """A Python value -> OPS XML (dt_assoc / dt_array / item text), seed indentation."""
    pad = " " * depth
    if isinstance(value, dict):
        lines = [pad + "<dt_assoc>"]
        for k, v in value.items():
            lines += ops_item(k, v, depth + 1)
        return lines + [pad + "</dt_assoc>"]
    lines = [pad + "<dt_array>"]
    for i, v in enumerate(value):
        lines += ops_item(str(i), v, depth + 1)
    return lines + [pad + "</dt_array>"]


def ops_item(key, value, depth):
    pad = " " * depth
    if isinstance(value, (dict, list)):
        return [pad + '<item key="%s">' % key] + ops_xml(value, depth + 1) + [pad + "</item>"]
    return [pad + '<item key="%s">%s</item>' % (key, html.escape(str(value), quote=False))]


def strings(v):
    """OPS XML carries every leaf as text."""
    if isinstance(v, dict):
        return {k: strings(x) for k, x in v.items()}
    if isinstance(v, list):
        return [strings(x) for x in v]
    return str(v)


# ================================================================== OpenSRS

OSRS_FROM = "OpenSRS <notifications@opensrs.net>"
OSRS_RCVD = ("bounces@opensrs.net", "smtp-out2.opensrs.net", "216.40.47.26")
TO = "Domain Ops <domains@reseller.example>"


def osrs(obj, event, eid, date, object_data):
    return {"object_data": object_data, "object": obj, "event_id": eid, "event": event, "event_date": date}


def osrs_subject(p):
    return "Event notification: %s: %s: %s" % (p["object"], p["event"], p["event_id"])


def osrs_event(p, domain, status, topic, fmt="json", data=None):
    return ev("opensrs", p["event_id"], "event", p["object"].lower(), p["event"], topic, domain,
              [domain], status, p["event_date"], fmt, p if data is None else data)


# 1. DOMAIN CREATED: plain JSON body, exactly as the OpenSRS page shows it.
p = osrs("DOMAIN", "CREATED", hexid("osrs-created"), "2026-11-03T14:22:07Z",
         {"domain_name": "example.com", "domain_id": "38391945", "expiration_date": "2027-11-03T04:00:00Z"})
sample("opensrs-domain-created",
       single(envelope(OSRS_FROM, TO, osrs_subject(p), "2026-11-03 14:22:09 +0000",
                       msgid("osrs-created", "opensrs.net"), OSRS_RCVD),
              "text/plain; charset=UTF-8", "7bit", (compact(p) + "\n").encode(), CRLF),
       [osrs_event(p, "example.com", None, "domain.created")])

# 2. DOMAIN EXPIRED: body base64.
p = osrs("DOMAIN", "EXPIRED", hexid("osrs-expired"), "2026-11-05T04:00:12Z",
         {"domain_name": "example.net", "domain_id": "40211877", "expiration_date": "2026-11-05T04:00:00Z"})
sample("opensrs-domain-expired-base64",
       single(envelope(OSRS_FROM, TO, osrs_subject(p), "2026-11-05 04:00:15 +0000",
                       msgid("osrs-expired", "opensrs.net"), OSRS_RCVD),
              'text/plain; charset="utf-8"', "base64", (compact(p) + "\n").encode(), CRLF),
       [osrs_event(p, "example.net", None, "domain.expired")])

# 3. DOMAIN NAMESERVER_UPDATE: body quoted-printable, soft breaks inside the JSON, every
#    double quote written =22.
p = osrs("DOMAIN", "NAMESERVER_UPDATE", hexid("osrs-ns"), "2026-11-06T09:41:55Z",
         {"domain_name": "example.org", "domain_id": "38391950",
          "nameserver_list": ["ns1.systemdns.com", "ns2.systemdns.com", "ns3.systemdns.com"]})
sample("opensrs-domain-nameserver-update-qp",
       single(envelope(OSRS_FROM, TO, osrs_subject(p), "2026-11-06 09:41:58 +0000",
                       msgid("osrs-ns", "opensrs.net"), OSRS_RCVD),
              "text/plain; charset=us-ascii", "quoted-printable", compact(p).encode(), CRLF),
       [osrs_event(p, "example.org", None, "domain.nameservers_changed")])

# 4. DOMAIN REGISTERED: HTML-only body, JSON in <pre> with &quot; entities.
p = osrs("DOMAIN", "REGISTERED", hexid("osrs-registered"), "2026-11-07T17:03:41Z",
         {"domain_name": "example.co", "domain_id": "40212050", "expiration_date": "2028-11-07T04:00:00Z",
          "period": 2})
page = ("<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n<title>Event notification</title>\n</head>\n"
        "<body style=\"font-family: Arial, sans-serif;\">\n<p>Event notification</p>\n<pre>%s</pre>\n</body>\n</html>\n"
        % html.escape(compact(p), quote=True))
assert "&quot;" in page
sample("opensrs-domain-registered-html-only",
       single(envelope(OSRS_FROM, TO, osrs_subject(p), "2026-11-07 17:03:44 +0000",
                       msgid("osrs-registered", "opensrs.net"), OSRS_RCVD),
              "text/html; charset=UTF-8", "7bit", page.encode(), CRLF),
       [osrs_event(p, "example.co", None, "domain.registered")])

# 5. DOMAIN REGISTRANT_VERIFICATION_STATUS_CHANGE: customised message template, the JSON
#    after a text preamble and before a signature ("-- " line).
p = osrs("DOMAIN", "REGISTRANT_VERIFICATION_STATUS_CHANGE", hexid("osrs-rv"), "2026-11-07T18:10:30Z",
         {"domain_name": "example.us", "domain_id": "40212077", "verification_status": "verified"})
body = ("Hello,\n\nThe following event notification was generated for your reseller account.\n"
        "The data below is meant for your scripts.\n\n%s\n\nPlease do not reply to this message.\n\n-- \nSupport team\n"
        % compact(p))
sample("opensrs-domain-registrant-verification-preamble-signature",
       single(envelope(OSRS_FROM, TO, osrs_subject(p), "2026-11-07 18:10:33 +0000",
                       msgid("osrs-rv", "opensrs.net"), OSRS_RCVD),
              "text/plain; charset=UTF-8; format=flowed", "7bit", body.encode(), LF),
       [osrs_event(p, "example.us", "verified", "domain.registrant_verification")])

# 6. DOMAIN RENEWED: JSON attached as event_data_<id>.json (application/json, base64), a
#    human text body.
p = osrs("DOMAIN", "RENEWED", hexid("osrs-renewed"), "2026-11-08T11:30:02Z",
         {"domain_name": "example.biz", "domain_id": "38391960", "expiration_date": "2027-11-08T04:00:00Z",
          "period": 1})
text = ("Dear reseller,\n\nthe domain example.biz has been renewed for 1 year.\n"
        "The event data is attached to this message.\n\nRegards,\nOpenSRS\n")
fname = "event_data_%s.json" % p["event_id"]
sample("opensrs-domain-renewed-attachment",
       multipart(envelope(OSRS_FROM, TO, osrs_subject(p), "2026-11-08 11:30:05 +0000",
                          msgid("osrs-renewed", "opensrs.net"), OSRS_RCVD),
                 "mixed", "----=_Part_48213_1930472215.1794137405000",
                 [part("text/plain; charset=UTF-8", "7bit", text.encode(), CRLF),
                  part('application/json; name="%s"' % fname, "base64", compact(p).encode(), CRLF,
                       [("Content-Disposition", 'attachment; filename="%s"' % fname)])], CRLF),
       [osrs_event(p, "example.biz", None, "domain.renewed")])

# 7. DOMAIN ZONE_CHECK_STATUS_CHANGE (.fr): the notification forwarded by a colleague as
#    a message/rfc822 part.
p = osrs("DOMAIN", "ZONE_CHECK_STATUS_CHANGE", hexid("osrs-zone-fr"), "2026-11-09T06:12:45Z",
         {"domain_name": "example.fr", "domain_id": "801744", "zone_check_status": "valid"})
inner = single(envelope(OSRS_FROM, "Marie Dupont <marie@reseller.example>", osrs_subject(p),
                        "2026-11-09 06:12:48 +0000", msgid("osrs-zone-fr", "opensrs.net")),
               "text/plain; charset=UTF-8", "7bit", (compact(p) + "\n").encode(), CRLF)
sample("opensrs-domain-zone-check-forwarded-rfc822",
       multipart(envelope("Marie Dupont <marie@reseller.example>", TO, "Fwd: " + osrs_subject(p),
                          "2026-11-09 08:30:00 +0100", msgid("osrs-zone-fr-fwd", "reseller.example"),
                          extra=[("User-Agent", "Mozilla Thunderbird")]),
                 "mixed", "------------8Dq3vC0BNfFA2mH3J0aqK2zB",
                 [part("text/plain; charset=UTF-8; format=flowed", "7bit",
                       b"FYI: the zone check of example.fr passes again, see the forwarded\nnotification.\n\nMarie\n", CRLF),
                  part("message/rfc822", None, inner, CRLF,
                       [("Content-Disposition", 'attachment; filename="Event notification.eml"')])], CRLF),
       [osrs_event(p, "example.fr", "valid", "domain.zone_check")])

# 8. DOMAIN DELETED: multipart/alternative, text and HTML versions of the same payload:
#    ONE event.
p = osrs("DOMAIN", "DELETED", hexid("osrs-deleted"), "2026-11-10T04:02:19Z",
         {"domain_name": "example.info", "domain_id": "38391971", "reason": "expired",
          "deletion_date": "2026-11-10T04:00:00Z", "redemption_grace_period_end_date": "2026-12-10T04:00:00Z"})
sample("opensrs-domain-deleted-alternative",
       multipart(envelope(OSRS_FROM, TO, osrs_subject(p), "2026-11-10 04:02:22 +0000",
                          msgid("osrs-deleted", "opensrs.net"), OSRS_RCVD),
                 "alternative", "b1_7f3e0c2a9d4b5e6f708192a3b4c5d6e7",
                 [part("text/plain; charset=UTF-8", "7bit", (compact(p) + "\n").encode(), CRLF),
                  part("text/html; charset=UTF-8", "7bit",
                       ("<html><body><pre>%s</pre></body></html>\n" % html.escape(compact(p), quote=True)).encode(), CRLF)],
                 CRLF),
       [osrs_event(p, "example.info", None, "domain.deleted")])

# 9. ORDER CLAIM_STATUS_CHANGE.
p = osrs("ORDER", "CLAIM_STATUS_CHANGE", hexid("osrs-claim"), "2026-11-11T13:45:00Z",
         {"order_id": "3378122", "domain_name": "example.app", "claim_status": "accepted"})
sample("opensrs-order-claim-status-change",
       single(envelope(OSRS_FROM, TO, osrs_subject(p), "2026-11-11 13:45:03 +0000",
                       msgid("osrs-claim", "opensrs.net"), OSRS_RCVD),
              "text/plain; charset=UTF-8", "7bit", (compact(p) + "\n").encode(), CRLF),
       [osrs_event(p, "example.app", "accepted", "order.claim")])

# 10. ORDER STATUS_CHANGE.
p = osrs("ORDER", "STATUS_CHANGE", hexid("osrs-order"), "2026-11-11T15:02:44Z",
         {"order_id": "3378125", "domain_name": "example.io", "order_status": "pending",
          "order_reg_type": "transfer"})
sample("opensrs-order-status-change",
       single(envelope(OSRS_FROM, TO, osrs_subject(p), "2026-11-11 15:02:46 +0000",
                       msgid("osrs-order", "opensrs.net"), OSRS_RCVD),
              "text/plain; charset=UTF-8", "7bit", (compact(p) + "\n").encode(), LF),
       [osrs_event(p, "example.io", "pending", "order.status")])

# 11. TRANSFER STATUS_CHANGE, as on the OpenSRS page (order_id a number).
p = osrs("TRANSFER", "STATUS_CHANGE", hexid("osrs-transfer"), "2026-11-13T21:16:23Z",
         {"domain_name": "example.eu", "transfer_id": "8646810", "order_id": 0, "transfer_status": "completed"})
sample("opensrs-transfer-status-change",
       single(envelope(OSRS_FROM, TO, osrs_subject(p), "2026-11-13 21:16:26 +0000",
                       msgid("osrs-transfer", "opensrs.net"), OSRS_RCVD),
              "text/plain; charset=UTF-8", "7bit", (compact(p) + "\n").encode(), CRLF),
       [osrs_event(p, "example.eu", "completed", "transfer.in")])

# 12. Two different notifications one after another in one body -> two events. The
#     first names its domain in mixed case (domain is lower-cased, data keeps it).
p1 = osrs("ORDER", "STATUS_CHANGE", hexid("osrs-two-1"), "2026-11-12T10:00:01Z",
          {"order_id": "3378130", "domain_name": "Example-Store.NET", "order_status": "completed",
           "order_reg_type": "new"})
p2 = osrs("DOMAIN", "REGISTERED", hexid("osrs-two-2"), "2026-11-12T10:00:03Z",
          {"domain_name": "example-store.net", "domain_id": "40213001", "expiration_date": "2027-11-12T04:00:00Z",
           "period": 1})
sample("opensrs-two-notifications-in-one-body",
       single(envelope(OSRS_FROM, TO, "Event notifications (2)", "2026-11-12 10:00:06 +0000",
                       msgid("osrs-two", "opensrs.net"), OSRS_RCVD),
              "text/plain; charset=UTF-8", "7bit", (compact(p1) + "\n\n" + compact(p2) + "\n").encode(), CRLF),
       [osrs_event(p1, "example-store.net", "completed", "order.status"),
        osrs_event(p2, "example-store.net", None, "domain.registered")])

# 13. OPS XML poll REPLY, three events in one dt_array.
e1 = {"object_data": {"domain_name": "example.de", "domain_id": "801743", "zone_check_status": "invalid"},
      "object": "DOMAIN", "event_id": hexid("ops-1"), "event": "ZONE_CHECK_STATUS_CHANGE",
      "event_date": "2026-11-14T19:29:25Z"}
e2 = {"object_data": {"domain_name": "example.ca", "domain_id": "38391999",
                      "nameserver_list": ["ns1.example-dns.net", "ns2.example-dns.net"]},
      "object": "DOMAIN", "event_id": hexid("ops-2"), "event": "NAMESERVER_UPDATE",
      "event_date": "2026-11-14T19:40:02Z"}
e3 = {"object_data": {"domain_name": "example.me", "transfer_id": "8646900", "order_id": "3378200",
                      "transfer_status": "pending_owner"},
      "object": "TRANSFER", "event_id": hexid("ops-3"), "event": "STATUS_CHANGE",
      "event_date": "2026-11-14T19:55:41Z"}
reply = {"protocol": "XCP", "object": "EVENT", "response_code": "200", "is_success": "1",
         "response_text": "Command successful", "transaction_id": "2026-11-14 20:00:02 23004 101",
         "action": "REPLY", "attributes": {"events": [e1, e2, e3], "total": "3"}}
xml = "\n".join(["<?xml version='1.0' encoding=\"UTF-8\" standalone=\"no\" ?>",
                 '<!DOCTYPE OPS_envelope SYSTEM "ops.dtd">', "<OPS_envelope>", " <header>",
                 "  <version>0.9</version>", "  </header>", " <body>", "  <data_block>"]
                + ops_xml(reply, 3) + ["  </data_block>", " </body>", "</OPS_envelope>"]) + "\n"
doc = minidom.parseString(xml.encode())
parsed = ops_value(find(doc.documentElement, "body", "data_block"))
assert parsed == strings(reply), "OPS XML round trip"
events = parsed["attributes"]["events"]
sample("opensrs-ops-xml-poll-reply-three-events",
       single(envelope("Reseller cron <cron@reseller.example>", TO,
                       "OpenSRS EVENT POLL reply: 3 events", "2026-11-14 20:00:05 +0000",
                       msgid("ops-poll", "reseller.example")),
              "text/plain; charset=UTF-8", "7bit", xml.encode(), LF),
       [osrs_event(e1, "example.de", "invalid", "domain.zone_check", "ops-xml", events[0]),
        osrs_event(e2, "example.ca", None, "domain.nameservers_changed", "ops-xml", events[1]),
        osrs_event(e3, "example.me", "pending_owner", "transfer.in", "ops-xml", events[2])])


# ================================================================== AutoDNS / InterNetX

ADNS_FROM = "AutoDNS <noreply@autodns.com>"
ADNS_RCVD = ("bounce@autodns.com", "mout.autodns.com", "62.116.129.200")


def poll(stid, items, first_id):
    return {"stid": stid,
            "status": {"code": "S0905", "text": "The notification was polled successfully.", "type": "SUCCESS"},
            "object": {"type": "Message", "value": str(first_id), "summary": len(items)},
            "data": items}


def adns_json_mail(name, subject, date, body_obj, eol=CRLF, charset="UTF-8", cte="7bit", encoding="utf-8",
                   frm=ADNS_FROM):
    text = pretty(body_obj) + "\n"
    return single(envelope(frm, TO, subject, date, msgid(name, "autodns.com"), ADNS_RCVD),
                  "text/plain; charset=%s" % charset, cte, text.encode(encoding), eol)


def notify_ev(item, type_, topic, status, domain, occurred_at, fmt="json", data=None):
    return ev("autodns", str(item["id"]) if data is None else data["id"], "event", "domain", type_, topic,
              domain, [domain], status, occurred_at, fmt, item if data is None else data)


# 14. Job message, success: the poll response of the AutoDNS page, verbatim.
seed_job = {
    "summary": 1,
    "message": {
        "id": 1819917,
        "job": {"id": 4295609745, "domain": {
            "created": "2018-09-26T15:11:21.000+0200", "owner": {}, "updater": {}, "name": "example.com",
            "expire": "2019-09-26T15:11:20.000+0200", "payable": "2019-09-26T15:11:21.000+0200",
            "ownerc": {"id": 100}, "adminc": {"id": 100}, "techc": {"id": 100}, "registryStatus": "LOCK",
            "nameServers": [{"name": "a.ns14.net"}, {"name": "b.ns14.net"}, {"name": "c.ns14.net"},
                            {"name": "d.ns14.net"}],
            "lastAction": "CREATE", "authinfo": "gg9o3FFL/hzNbuPw", "autoRenewStatus": "TRUE",
            "registrarStatus": "ACTIVE", "rddsOptIn": "NOT_SET"}},
        "stid": "20180926-stid",
        "object": {"type": "domain", "value": "example.com"},
        "status": {"code": "S0101", "type": "SUCCESS"}}}
resp = {"stid": "20180926-stid",
        "status": {"code": "S0905", "text": "The notification was polled successfully.", "type": "SUCCESS"},
        "object": {"type": "message", "value": "1819917"}, "data": [seed_job]}
sample("autodns-job-success-json",
       adns_json_mail("adns-job-ok", "AutoDNS Notification 1819917: S0101 example.com", "2018-09-27 15:12:00 +0200", resp),
       [ev("autodns", "1819917", "job", "domain", "S0101", "job.result", "example.com", ["example.com"],
           "success", None, "json", seed_job)])

# 15. Job message, status type ERROR, with a message-level `created` (offset -> UTC).
item = {"summary": 1, "message": {
    "id": 1819921,
    "job": {"id": 4295609800, "domain": {"name": "example.net", "ownerc": {"id": 100}, "adminc": {"id": 100},
                                          "techc": {"id": 100},
                                          "nameServers": [{"name": "a.ns14.net"}, {"name": "b.ns14.net"}]}},
    "stid": "20180926-app2-10042",
    "object": {"type": "domain", "value": "example.net"},
    "status": {"code": "E0101", "text": "The domain could not be created.", "type": "ERROR"},
    "messages": [{"text": "Domain already exists at the registry.", "code": "EF01022", "type": "ERROR",
                  "objects": [{"type": "domain", "value": "example.net"}]}],
    "created": "2018-09-26T15:11:21.000+0200"}}
sample("autodns-job-error-json",
       adns_json_mail("adns-job-err", "AutoDNS Notification 1819921: E0101 example.net", "2018-09-26 15:11:30 +0200",
                      poll("20180926-app2-10077", [item], 1819921)),
       [ev("autodns", "1819921", "job", "domain", "E0101", "job.result", "example.net", ["example.net"],
           "error", "2018-09-26T13:11:21Z", "json", item)])

# 16. Job message with the German documentation's final status `failed` -> error.
item = {"summary": 1, "message": {
    "id": 1820044,
    "job": {"id": 4295610123, "domain": {"name": "example-verein.de",
                                          "nameServers": [{"name": "ns1.example-hosting.de"},
                                                          {"name": "ns2.example-hosting.de"}]}},
    "stid": "20181002-app1-5512",
    "object": {"type": "domain", "value": "example-verein.de"},
    "status": {"code": "E0102", "text": "Die Domain konnte nicht geändert werden.", "type": "failed"},
    "created": "2018-10-02T09:30:12.000+0200"}}
sample("autodns-job-failed-german",
       adns_json_mail("adns-job-failed", "AutoDNS Systembenachrichtigung 1820044: E0102 example-verein.de",
                      "2018-10-02 09:30:20 +0200", poll("20181002-app1-5519", [item], 1820044),
                      charset="utf-8", cte="8bit"),
       [ev("autodns", "1820044", "job", "domain", "E0102", "job.result", "example-verein.de",
           ["example-verein.de"], "error", "2018-10-02T07:30:12Z", "json", item)])

# 17. Job message with status type NOTIFY (processing started) -> pending.
item = {"summary": 1, "message": {
    "id": 1820101,
    "job": {"id": 4295610200, "domain": {"name": "example.shop"}},
    "stid": "20181003-app3-7001",
    "object": {"type": "domain", "value": "example.shop"},
    "status": {"code": "N0101", "text": "The domain registration has been started.", "type": "NOTIFY"}}}
sample("autodns-job-notify-pending-json",
       adns_json_mail("adns-job-notify", "AutoDNS Notification 1820101: N0101 example.shop", "2018-10-03 11:00:04 +0200",
                      poll("20181003-app3-7002", [item], 1820101), eol=LF),
       [ev("autodns", "1820101", "job", "domain", "N0101", "job.result", "example.shop", ["example.shop"],
           "pending", None, "json", item)])

# 18. Job message, success, compact JSON sent quoted-printable: soft breaks split the
#     JSON, the authinfo's '=' becomes =3D and every '"' =22.
item = {"summary": 1, "message": {
    "id": 1820230,
    "job": {"id": 4295610377, "domain": {"name": "example.org", "authinfo": "k3T=9xQ+Zr/2Lm==",
                                          "nameServers": [{"name": "a.ns14.net"}, {"name": "b.ns14.net"}],
                                          "lastAction": "UPDATE", "registryStatus": "ACTIVE"}},
    "stid": "20181004-app1-8123",
    "object": {"type": "domain", "value": "example.org"},
    "status": {"code": "S0102", "type": "SUCCESS"},
    "created": "2018-10-04T16:45:09.000+0200"}}
body = compact(poll("20181004-app1-8130", [item], 1820230)).encode()
eml = single(envelope(ADNS_FROM, TO, "AutoDNS Notification 1820230: S0102 example.org", "2018-10-04 16:45:15 +0200",
                      msgid("adns-job-qp", "autodns.com"), ADNS_RCVD),
             "application/json; charset=UTF-8", "quoted-printable", body, CRLF)
assert b"=3D" in eml and b"=22" in eml and b"=\r\n" in eml
sample("autodns-job-success-json-qp", eml,
       [ev("autodns", "1820230", "job", "domain", "S0102", "job.result", "example.org", ["example.org"],
           "success", "2018-10-04T14:45:09Z", "json", item)])

# 19. XML job message: the task 0905 response of the AutoDNS page, verbatim.
XML_JOB = """<response>
    <result>
        <data>
            <summary>1</summary>
            <message>
                <id>1855680</id>
                <owner>
                    <user>alex_normal_plus</user>
                    <context>4</context>
                </owner>
                <job>
                    <domain>
                        <name>example.com</name>
                        <expire>2019-10-15 14:02:40</expire>
                        <payable>2019-10-15 14:02:41</payable>
                        <ownerc>100</ownerc>
                        <adminc>100</adminc>
                        <techc>100</techc>
                        <nic_member_label>VGRS-TEST</nic_member_label>
                        <registry_status>LOCK</registry_status>
                        <nserver>
                            <name>a.ns14.net</name>
                        </nserver>
                        <nserver>
                            <name>b.ns14.net</name>
                        </nserver>
                        <nserver>
                            <name>c.ns14.net</name>
                        </nserver>
                        <nserver>
                            <name>d.ns14.net</name>
                        </nserver>
                        <period>1</period>
                        <authinfo>S0Lygv+ZkNbniICm</authinfo>
                        <autorenew>true</autorenew>
                        <confirm_order>1</confirm_order>
                        <confirm_owner_consent>0</confirm_owner_consent>
                        <registrar_status>ACTIVE</registrar_status>
                        <rdds_opt_in>NOT_SET</rdds_opt_in>
                        <owner/>
                        <updater/>
                        <created>2018-10-15 14:02:41</created>
                    </domain>
                    <job_id>4295625406</job_id>
                    <status>
                        <code>S0101</code>
                        <type>success</type>
                        <object>
                            <type>domain</type>
                            <value>example.com</value>
                        </object>
                    </status>
                    <stid>20181015-app1-3788</stid>
                </job>
                <created>2018-10-15 14:03:02</created>
            </message>
        </data>
        <status>
            <code>S0905</code>
            <text>The notification was polled successfully.</text>
            <type>success</type>
            <object>
                <type>message</type>
                <value>1855680</value>
            </object>
        </status>
    </result>
    <stid>20181015-app1-3805</stid>
</response>
"""
data = xml_json(find(minidom.parseString(XML_JOB).documentElement, "result", "data", "message"))
assert data["owner"] == {"user": "alex_normal_plus", "context": "4"} and data["job"]["domain"]["owner"] == ""
assert len(data["job"]["domain"]["nserver"]) == 4 and data["created"] == "2018-10-15 14:03:02"
sample("autodns-job-success-xml",
       single(envelope(ADNS_FROM, TO, "AutoDNS Notification 1855680: S0101 example.com", "2018-10-15 14:03:10 +0200",
                       msgid("adns-job-xml", "autodns.com"), ADNS_RCVD),
              "text/xml; charset=UTF-8", "7bit", XML_JOB.encode(), CRLF),
       [ev("autodns", "1855680", "job", "domain", "S0101", "job.result", "example.com", ["example.com"],
           "success", "2018-10-15T12:03:02Z", "xml", data)])

# 20. XML event message (notify) transfer_start: InterNetX's XML twin.
XML_NOTIFY = """<?xml version="1.0" encoding="UTF-8"?>
<response>
  <result>
    <data>
      <summary>1</summary>
      <message>
        <id>1005360835</id>
        <owner/>
        <notify>
          <domain>
            <name>example.com</name>
          </domain>
          <transfer>
            <gaining_registrar>greg</gaining_registrar>
            <loosing_registrar>lreg</loosing_registrar>
            <start>2021-05-03 11:05:56</start>
            <reminder>2021-05-06 11:05:56</reminder>
            <end>2021-05-08 11:05:56</end>
          </transfer>
          <type>transfer_start</type>
        </notify>
        <created>2021-05-03 11:05:56</created>
      </message>
    </data>
    <status>
      <code>S0905</code>
      <text>The notification was polled successfully.</text>
      <type>success</type>
      <object>
        <type>message</type>
        <value>1005360835</value>
      </object>
    </status>
  </result>
  <stid>20210503-app2-4417</stid>
</response>
"""
data = xml_json(find(minidom.parseString(XML_NOTIFY.encode()).documentElement, "result", "data", "message"))
assert data == {"id": "1005360835", "owner": "",
                "notify": {"domain": {"name": "example.com"},
                           "transfer": {"gaining_registrar": "greg", "loosing_registrar": "lreg",
                                        "start": "2021-05-03 11:05:56", "reminder": "2021-05-06 11:05:56",
                                        "end": "2021-05-08 11:05:56"},
                           "type": "transfer_start"},
                "created": "2021-05-03 11:05:56"}
sample("autodns-notify-xml-transfer-start",
       single(envelope(ADNS_FROM, TO, "AutoDNS Notification 1005360835: transfer_start example.com",
                       "2021-05-04 11:06:00 +0200", msgid("adns-xml-notify", "autodns.com"), ADNS_RCVD),
              "application/xml; charset=UTF-8", "7bit", XML_NOTIFY.encode(), CRLF),
       [notify_ev(None, "transfer_start", "transfer.out", "pending", "example.com", "2021-05-03T09:05:56Z",
                  "xml", data)])

# 21. EPP poll message with panData (the AutoDNS page's EPP response, domain renamed).
EPP = """<?xml version="1.0" encoding="UTF-8"?>
<epp xmlns="urn:ietf:params:xml:ns:epp-1.0" xmlns:domain="urn:ietf:params:xml:ns:domain-1.0" xmlns:domainrobot="urn:org:domainrobot:ns:ext-1.0" xmlns:contact="urn:ietf:params:xml:ns:contact-1.0" xmlns:ro="urn:org:domainrobot:ns:contact:ro-1.0" xmlns:xxx="urn:org:domainrobot:ns:contact:xxx-1.0" xmlns:ca="urn:org:domainrobot:ns:contact:ca-1.0" xmlns:cat="urn:org:domainrobot:ns:contact:cat-1.0" xmlns:jobs="urn:org:domainrobot:ns:contact:jobs-1.0" xmlns:rgp="urn:ietf:params:xml:ns:rgp-1.0" xmlns:aero="urn:org:domainrobot:ns:contact:aero-1.0" xmlns:secDNS="urn:ietf:params:xml:ns:secDNS-1.1" xmlns:host="urn:ietf:params:xml:ns:host-1.0" xmlns:hk="urn:org:domainrobot:ns:contact:hk-1.0" xmlns:bank="urn:org:domainrobot:ns:contact:bank-1.0" xmlns:it="urn:org:domainrobot:ns:contact:it-1.0" xmlns:barcelona="urn:org:domainrobot:ns:contact:barcelona-1.0" xmlns:au="urn:org:domainrobot:ns:contact:au-1.0" xmlns:uk="urn:org:domainrobot:ns:contact:uk-1.0" xmlns:swiss="urn:org:domainrobot:ns:contact:swiss-1.0" xmlns:ru="urn:org:domainrobot:ns:contact:ru-1.0">
  <response>
    <result code="1301">
      <msg lang="en">Command completed successfully; ack to dequeue</msg>
    </result>
    <msgQ count="1" id="880369">
      <qDate>2017-07-14T13:46:33.000Z</qDate>
    </msgQ>
    <resData>
      <domain:panData>
        <domain:name paResult="1">example.net</domain:name>
        <domain:paTRID>
          <clTRID>EXAMPLE-123456789</clTRID>
          <svTRID>20170731-app1-10001</svTRID>
        </domain:paTRID>
        <domain:paDate>2017-07-31T13:46:33.000Z</domain:paDate>
      </domain:panData>
      <domain:infData>
        <domain:name>example.net</domain:name>
        <domain:registrant>23022508</domain:registrant>
        <domain:contact type="admin">23022508</domain:contact>
        <domain:contact type="tech">23022508</domain:contact>
        <domain:ns>
          <domain:hostAttr>
            <domain:hostName>c.ns14.net</domain:hostName>
          </domain:hostAttr>
          <domain:hostAttr>
            <domain:hostName>d.ns14.net</domain:hostName>
          </domain:hostAttr>
        </domain:ns>
        <domain:crDate>2017-07-14T13:46:23.000Z</domain:crDate>
        <domain:exDate>2019-07-14T13:46:23.000Z</domain:exDate>
        <domain:authInfo>
          <domain:pw>L14HY+jaa45odO0v</domain:pw>
        </domain:authInfo>
      </domain:infData>
    </resData>
    <extension>
      <domainrobot:domain>
        <domainrobot:zonec>23022508</domainrobot:zonec>
        <domainrobot:trustee>0</domainrobot:trustee>
        <domainrobot:privacy>0</domainrobot:privacy>
      </domainrobot:domain>
    </extension>
    <trID>
      <clTRID>a2d8e98e-c703-4368-a986-a1fdfa42b8fe</clTRID>
      <svTRID>12345678</svTRID>
    </trID>
  </response>
</epp>
"""
data = xml_json(find(minidom.parseString(EPP.encode()).documentElement, "response"), epp=True)
assert data["resData"]["domain:panData"]["domain:name"] == {"@paResult": "1", "#text": "example.net"}
assert data["msgQ"] == {"@count": "1", "@id": "880369", "qDate": "2017-07-14T13:46:33.000Z"}
assert data["resData"]["domain:infData"]["domain:contact"][1] == {"@type": "tech", "#text": "23022508"}
sample("autodns-epp-pandata",
       single(envelope(ADNS_FROM, TO, "AutoDNS EPP poll message 880369", "2017-08-01 13:47:00 +0200",
                       msgid("adns-epp", "autodns.com"), ADNS_RCVD),
              "text/plain; charset=UTF-8", "7bit", EPP.encode(), CRLF),
       [ev("autodns", "880369", "job", "domain", "panData", "job.result", "example.net", ["example.net"],
           "success", "2017-07-31T13:46:33Z", "epp", data)])

# 22-35. JSON event messages (notify), one per documented name.
def transfer_notify(mid, type_, domain, created, start):
    it = {"id": mid,
          "notify": {"type": type_, "object": {"type": "Transfer", "data": {
              "gainingRegistrar": "greg", "loosingRegistrar": "lreg", "start": start[0],
              "reminder": start[1], "end": start[2]}}},
          "object": {"type": "Domain", "value": domain, "data": {"name": domain}}}
    if created:
        it["created"] = created
    return it


# transfer_start: InterNetX's example item verbatim (no `created`: occurred_at null).
item = transfer_notify(1012054052, "transfer_start", "example.org", None,
                       ("2022-01-19T10:54:42.000+0100", "2022-01-22T10:54:42.000+0100", "2022-01-24T10:54:42.000+0100"))
sample("autodns-notify-transfer-start",
       adns_json_mail("adns-ts", "AutoDNS Notification 1012054052: transfer_start example.org",
                      "2022-01-20 10:55:00 +0100", poll("20220119-app3-dev-5016", [item], 1012054052)),
       [notify_ev(item, "transfer_start", "transfer.out", "pending", "example.org", None)])

item = transfer_notify(1012060117, "transfer_autoack", "example.com", "2022-01-24T10:54:43.000+0100",
                       ("2022-01-19T10:54:42.000+0100", "2022-01-22T10:54:42.000+0100", "2022-01-24T10:54:42.000+0100"))
sample("autodns-notify-transfer-autoack",
       adns_json_mail("adns-ack", "AutoDNS Notification 1012060117: transfer_autoack example.com",
                      "2022-01-25 10:55:00 +0100", poll("20220124-app1-2231", [item], 1012060117)),
       [notify_ev(item, "transfer_autoack", "transfer.out", "approved", "example.com", "2022-01-24T09:54:43Z")])

item = transfer_notify(1012071450, "transfer_autonack", "example.net", "2022-02-07T16:20:00.000+0100",
                       ("2022-02-02T16:19:58.000+0100", "2022-02-05T16:19:58.000+0100", "2022-02-07T16:19:58.000+0100"))
sample("autodns-notify-transfer-autonack",
       adns_json_mail("adns-nack", "AutoDNS Notification 1012071450: transfer_autonack example.net",
                      "2022-02-08 16:21:00 +0100", poll("20220207-app2-6610", [item], 1012071450)),
       [notify_ev(item, "transfer_autonack", "transfer.out", "rejected", "example.net", "2022-02-07T15:20:00Z")])

item = transfer_notify(1012054990, "transfer_reminder", "example.org", "2022-01-22T10:54:42.000+0100",
                       ("2022-01-19T10:54:42.000+0100", "2022-01-22T10:54:42.000+0100", "2022-01-24T10:54:42.000+0100"))
sample("autodns-notify-transfer-reminder",
       adns_json_mail("adns-rem", "AutoDNS Notification 1012054990: transfer_reminder example.org",
                      "2022-01-23 10:55:00 +0100", poll("20220122-app3-1180", [item], 1012054990), eol=LF),
       [notify_ev(item, "transfer_reminder", "transfer.out", "pending", "example.org", "2022-01-22T09:54:42Z")])

item = {"id": 1012199001, "notify": {"type": "domain_away"}, "stid": "20220602-app1-0815",
        "object": {"type": "Domain", "value": "example.info", "data": {"name": "example.info"}},
        "created": "2022-06-02T08:15:30.000+0200"}
sample("autodns-notify-domain-away",
       adns_json_mail("adns-away", "AutoDNS Notification 1012199001: domain_away example.info",
                      "2022-06-03 08:16:00 +0200", poll("20220602-app1-0822", [item], 1012199001)),
       [notify_ev(item, "domain_away", "transfer.out", "completed", "example.info", "2022-06-02T06:15:30Z")])


def autoupdate(mid, type_, domain, created=None):
    it = {"id": mid, "notify": {"type": type_}, "stid": "20220711-app2-%d" % (mid % 10000),
          "object": {"type": "Domain", "value": domain, "data": {
              "name": domain, "created": "2022-07-01T10:00:00.000+0200", "updated": "2022-07-10T22:05:13.000+0200",
              "nameServers": [{"name": "ns1.example-hosting.de"}, {"name": "ns2.example-hosting.de"}],
              "registryStatus": "ACTIVE", "ownerc": {"id": 23022508}, "adminc": {"id": 23022508},
              "techc": {"id": 23022509}, "zonec": {"id": 23022509}}}}
    if created:
        it["created"] = created
    return it


# The domain's own `created` inside object.data is not the message's: occurred_at null.
item = autoupdate(1012300011, "autoupdate_dns_error", "example.de")
sample("autodns-notify-autoupdate-dns-error",
       adns_json_mail("adns-au-err", "AutoDNS Notification 1012300011: autoupdate_dns_error example.de",
                      "2022-07-11 04:00:00 +0200", poll("20220711-app2-3302", [item], 1012300011)),
       [notify_ev(item, "autoupdate_dns_error", "domain.zone_check", "error", "example.de", None)])

# autoupdate_dns_success for an IDN, UTF-8, 8bit.
item = autoupdate(1012300042, "autoupdate_dns_success", "bücher-beispiel.de",
                  "2022-07-11T03:00:12.000+0200")
sample("autodns-notify-autoupdate-dns-success-idn-utf8",
       adns_json_mail("adns-au-ok", "=?UTF-8?Q?AutoDNS_Notification_1012300042:_autoupdate=5Fdns=5Fsuccess_b=C3=BCcher-beispiel.de?=",
                      "2022-07-11 04:00:00 +0200", poll("20220711-app2-3310", [item], 1012300042),
                      charset="utf-8", cte="8bit"),
       [notify_ev(item, "autoupdate_dns_success", "domain.zone_check", "success", "bücher-beispiel.de",
                  "2022-07-11T01:00:12Z")])

item = autoupdate(1012300077, "autoupdate_deferred_success", "example-shop.de", "2022-07-11T03:12:09.000+0200")
sample("autodns-notify-autoupdate-deferred-success",
       adns_json_mail("adns-def-ok", "AutoDNS Notification 1012300077: autoupdate_deferred_success example-shop.de",
                      "2022-07-12 03:13:00 +0200", poll("20220711-app2-3390", [item], 1012300077)),
       [notify_ev(item, "autoupdate_deferred_success", "domain.zone_check", "success", "example-shop.de",
                  "2022-07-11T01:12:09Z")])

item = autoupdate(1012300078, "autoupdate_deferred_error", "example-firma.de", "2022-07-11T03:12:10.000+0200")
sample("autodns-notify-autoupdate-deferred-error",
       adns_json_mail("adns-def-err", "AutoDNS Notification 1012300078: autoupdate_deferred_error example-firma.de",
                      "2022-07-12 03:13:00 +0200", poll("20220711-app2-3391", [item], 1012300078)),
       [notify_ev(item, "autoupdate_deferred_error", "domain.zone_check", "error", "example-firma.de",
                  "2022-07-11T01:12:10Z")])

# The German documentation's spelling: data keeps `deffered`, type is `deferred`.
item = autoupdate(1012300079, "autoupdate_deffered_error", "example-verein.de", "2022-12-05T03:12:11.000+0100")
sample("autodns-notify-autoupdate-deffered-error-german-spelling",
       adns_json_mail("adns-deff-err", "AutoDNS Systembenachrichtigung 1012300079: autoupdate_deffered_error example-verein.de",
                      "2022-12-06 03:13:00 +0100", poll("20221205-app1-0042", [item], 1012300079)),
       [notify_ev(item, "autoupdate_deferred_error", "domain.zone_check", "error", "example-verein.de",
                  "2022-12-05T02:12:11Z")])


def ocval(mid, type_, domain, created, ownerc=None):
    it = {"id": mid, "notify": {"type": type_}, "stid": "20220815-app3-%d" % (mid % 10000),
          "object": {"type": "Domain", "value": domain,
                     "data": {"name": domain, "ownerc": ownerc or {"id": 23022600}}},
          "created": created}
    return it


item = ocval(1012400100, "ocval_reminder", "example.biz", "2022-08-15T06:00:00.000+0200")
sample("autodns-notify-ocval-reminder",
       adns_json_mail("adns-ocval-rem", "AutoDNS Notification 1012400100: ocval_reminder example.biz",
                      "2022-08-16 06:01:00 +0200", poll("20220815-app3-0101", [item], 1012400100)),
       [notify_ev(item, "ocval_reminder", "contact.validation", "pending", "example.biz", "2022-08-15T04:00:00Z")])

# ocval_activation in ISO-8859-1 (8bit): the owner's name and city hold umlauts.
item = ocval(1012400155, "ocval_activation", "mueller-example.de", "2022-08-20T06:00:00.000+0200",
             {"id": 23022650, "type": "PERSON", "fname": "Jörg", "lname": "Müller",
              "organization": "Müller Bau GmbH", "address": ["Hauptstraße 5"], "pcode": "80331",
              "city": "München", "country": "DE"})
eml = adns_json_mail("adns-ocval-act",
                     "=?ISO-8859-1?Q?AutoDNS_Benachrichtigung:_ocval=5Factivation_f=FCr_mueller-example.de?=",
                     "2022-08-21 06:01:00 +0200", poll("20220820-app3-0155", [item], 1012400155),
                     charset="ISO-8859-1", cte="8bit", encoding="latin-1")
assert "Müller".encode("latin-1") in eml and "Müller".encode("utf-8") not in eml
sample("autodns-notify-ocval-activation-latin1", eml,
       [notify_ev(item, "ocval_activation", "contact.validation", "suspended", "mueller-example.de",
                  "2022-08-20T04:00:00Z")])

item = ocval(1012400201, "ocval_deactivation", "example.biz", "2022-08-25T14:30:00.000+0200")
sample("autodns-notify-ocval-deactivation",
       adns_json_mail("adns-ocval-deact", "AutoDNS Notification 1012400201: ocval_deactivation example.biz",
                      "2022-08-26 14:31:00 +0200", poll("20220825-app3-0201", [item], 1012400201)),
       [notify_ev(item, "ocval_deactivation", "contact.validation", "restored", "example.biz", "2022-08-25T12:30:00Z")])

# One poll response, two messages in `data` -> two events.
a = transfer_notify(1012500300, "transfer_reminder", "example.net", "2022-03-14T09:00:00.000+0100",
                    ("2022-03-11T09:00:00.000+0100", "2022-03-14T09:00:00.000+0100", "2022-03-16T09:00:00.000+0100"))
b = {"id": 1012500377, "notify": {"type": "domain_away"}, "stid": "20220316-app2-7777",
     "object": {"type": "Domain", "value": "example.tv", "data": {"name": "example.tv"}},
     "created": "2022-03-16T09:00:05.000+0100"}
sample("autodns-poll-two-messages",
       adns_json_mail("adns-two", "AutoDNS Notifications (2)", "2022-03-17 09:01:00 +0100",
                      poll("20220317-app2-0001", [a, b], 1012500300)),
       [notify_ev(a, "transfer_reminder", "transfer.out", "pending", "example.net", "2022-03-14T08:00:00Z"),
        notify_ev(b, "domain_away", "transfer.out", "completed", "example.tv", "2022-03-16T08:00:05Z")])

# "Standard" email format: text with <system> and <reply> blocks of key: value lines.
STD_JOB = """Dear customer,

this is an automatically generated message from AutoDNS.
Your request has been processed. The details follow.

<system>
id: 1012061187
stid: 20220124-app1-4711
user: reseller_api
context: 4
</system>
<reply>
task: 0104 Domain Transfer
status: S0104 [The domain transfer has been completed
successfully.]
success_value: domain: example.org
kk_answer: AUTOACK
</reply>

Kind regards
Your AutoDNS team
"""
sample("autodns-standard-text-job",
       single(envelope(ADNS_FROM, TO, "AutoDNS: S0104 Domain Transfer example.org", "2022-01-24 11:02:00 +0100",
                       msgid("adns-std-job", "autodns.com"), ADNS_RCVD),
              "text/plain; charset=UTF-8", "7bit", STD_JOB.encode(), CRLF),
       [ev("autodns", "1012061187", "job", "domain", "S0104", "job.result", "example.org", ["example.org"],
           "success", None, "text",
           {"system": {"id": "1012061187", "stid": "20220124-app1-4711", "user": "reseller_api", "context": "4"},
            "reply": {"task": "0104 Domain Transfer",
                      "status": "S0104 [The domain transfer has been completed successfully.]",
                      "success_value": "domain: example.org", "kk_answer": "AUTOACK"}})])

STD_NOTIFY = """Dear customer,

an event concerning one of your domains has occurred.

<system>
notify_id: 1012061205
stid: 20220124-app2-4720
</system>
<reply>
notify: transfer_autoack
domain: example.net
gaining_registrar: greg
loosing_registrar: lreg
</reply>

Kind regards
Your AutoDNS team
"""
sample("autodns-standard-text-notify",
       single(envelope(ADNS_FROM, TO, "AutoDNS: transfer_autoack example.net", "2022-01-24 11:05:00 +0100",
                       msgid("adns-std-notify", "autodns.com"), ADNS_RCVD),
              "text/plain; charset=UTF-8", "7bit", STD_NOTIFY.encode(), LF),
       [ev("autodns", "1012061205", "event", "domain", "transfer_autoack", "transfer.out", "example.net",
           ["example.net"], "approved", None, "text",
           {"system": {"notify_id": "1012061205", "stid": "20220124-app2-4720"},
            "reply": {"notify": "transfer_autoack", "domain": "example.net", "gaining_registrar": "greg",
                      "loosing_registrar": "lreg"}})])


# ================================================================== Gandi

GANDI_FROM = "Gandi <noreply@gandi.net>"
GANDI_RCVD = ("bounce@gandi.net", "mail1.gandi.net", "217.70.183.201")

TOPIC_OF = {  # EVENTS.md, Gandi rows: name -> (topic, object, default status)
    "domain.delete_foa": ("domain.deleted", "domain", "pending"),
    "domain.delete_foa_reselle": ("domain.deleted", "domain", "pending"),
    "domain.delete_done_reseller": ("domain.deleted", "domain", "completed"),
    "domain.transfer_out": ("transfer.out", "domain", "pending"),
    "domain.transfer_out_reselle": ("transfer.out", "domain", "pending"),
    "domain.transfer_out_done_reselle": ("transfer.out", "domain", "completed"),
    "domain.reachability_reseller": ("domain.registrant_verification", "domain", None),
    "domain.contact_validation": ("contact.validation", "domain", "pending"),
    "iaas.create": ("server.created", "server", None),
    "iaas.update": ("server.updated", "server", None),
    "paas.create": ("hosting.created", "hosting", None),
    "site.create": ("site.created", "site", None),
    "ssl.backend": ("certificate.order", "certificate", None),
    "domain.renewal_reminder": ("domain.renewal_reminder", "domain", None),
    "domain.automatic_renewal": ("domain.renewed", "domain", None),
    "contact.update": ("contact.updated", "contact", None),
    "billing.new_invoice": ("billing.invoice", "billing", None),
}


def gandi_ev(literal, domain, domains, status, occurred_at):
    data = ast.literal_eval(literal)          # Python's own reading of the literal
    name = data["source_notification"]
    topic, obj, _ = TOPIC_OF[name]
    return ev("gandi", gandi_id(data), "event", obj, name, topic, domain, domains, status, occurred_at,
              "python-literal", data)


def gandi_mail(name, literal, date, eol=LF, cte="7bit", subject=None):
    n = ast.literal_eval(literal)["source_notification"]
    return single(envelope(GANDI_FROM, TO, subject or "[GANDI] Notification %s" % n, date,
                           msgid(name, "gandi.net"), GANDI_RCVD),
                  "text/plain; charset=utf-8", cte, (literal + "\n").encode(), eol)


def gandi(name, literal, date, domain, domains, status, occurred_at, **kw):
    sample(name, gandi_mail(name, literal, date, **kw), [gandi_ev(literal, domain, domains, status, occurred_at)])


gandi("gandi-domain-delete-foa", """{'platform': 'production',
 'domain': u'example.com',
 'date': '2016-02-11 16:20:45',
 'date_end': '2016-02-25 16:20:45',
 'handle': 'XXXX1234-GANDI',
 'source_notification': 'domain.delete_foa'}""", "2016-02-11 16:20:47 +0100",
      "example.com", ["example.com"], "pending", "2016-02-11T15:20:45Z")

# One line, sent quoted-printable: the soft breaks split the literal.
gandi("gandi-domain-delete-foa-reselle-qp",
      "{'platform': 'production', 'domain': u'example.net', 'date': '2016-03-29 09:12:00', "
      "'date_end': '2016-04-12 09:12:00', 'handle': 'XXXX1234-GANDI', 'reseller': 'RESE5678-GANDI', "
      "'source_notification': 'domain.delete_foa_reselle'}", "2016-03-29 09:12:02 +0200",
      "example.net", ["example.net"], "pending", "2016-03-29T07:12:00Z", eol=CRLF, cte="quoted-printable")

gandi("gandi-domain-delete-done-reseller", """{'platform': 'production',
 'domains': u"['example.org']",
 'date': '2016-04-13 02:00:07',
 'reseller': 'RESE5678-GANDI',
 'source_notification': 'domain.delete_done_reseller'}""", "2016-04-13 02:00:09 +0200",
      "example.org", ["example.org"], "completed", "2016-04-13T00:00:07Z")

gandi("gandi-domain-transfer-out", """{'platform': 'production',
 'domain': u'example.fr',
 'date': '2016-05-02 18:44:10',
 'date_end': '2016-05-07 18:44:10',
 'handle': 'XXXX1234-GANDI',
 'source_notification': 'domain.transfer_out'}""", "2016-05-02 18:44:12 +0200",
      "example.fr", ["example.fr"], "pending", "2016-05-02T16:44:10Z")

gandi("gandi-domain-transfer-out-reselle", """{'platform': 'production',
 'domains': "['example.be']",
 'date': '2016-05-02 18:44:11',
 'date_end': '2016-05-07 18:44:11',
 'reseller': 'RESE5678-GANDI',
 'source_notification': 'domain.transfer_out_reselle'}""", "2016-05-02 18:44:13 +0200",
      "example.be", ["example.be"], "pending", "2016-05-02T16:44:11Z", eol=CRLF)

# The Gandi page's sample verbatim: no date -> occurred_at null.
gandi("gandi-domain-transfer-out-done-reselle", """{'platform': 'production',
 'domain': 'pizzza.xyz',
 'source_notification': 'domain.transfer_out_done_reselle'}""", "2016-05-08 09:00:02 +0200",
      "pizzza.xyz", ["pizzza.xyz"], "completed", None)

# domain.reachability_reseller: the three samples of the Gandi page verbatim.
REACH_PENDING = """{'status': 'pending',
 'handle': 'XXXX1234-GANDI',
 'platform': 'production',
 'date_end': '2016-01-01 08:36:32',
 'date': '2015-12-17 08:39:06',
 'source_notification': 'domain.reachability_reseller',
 'domains': "['pizzza.xyz']",
 'date_created': '2015-12-17 08:35:20'}"""
REACH_DONE = """{'status': 'done',
 'handle': 'XXXX1234-GANDI',
 'platform': 'production',
 'date_end': '2015-12-17 08:37:20',
 'date': '2015-12-17 10:48:27',
 'source_notification': 'domain.reachability_reseller',
 'domains': u"['pizzza.xyz']",
 'date_created': '2015-12-17 08:35:20'}"""
REACH_FAILED = """{'status': 'failed',
 'handle': 'XXXX1234-GANDI',
 'platform': 'production',
 'date_end': '2015-12-17 10:55:59',
 'date': '2015-12-17 10:59:06',
 'source_notification': 'domain.reachability_reseller',
 'domains': u"['pizzza.xyz']",
 'date_created': '2015-12-17 10:53:59'}"""

# pending: relayed by an SNS email-json subscription (the SNS envelope as the body).
SNS_FROM = "AWS Notifications <no-reply@sns.amazonaws.com>"
ARN = "arn:aws:sns:eu-west-1:123456789012:gandi-notifications"
sns = {"Type": "Notification", "MessageId": "a3c1f9e2-5b7d-5e0a-9c4f-2d8e6b1a7f30", "TopicArn": ARN,
       "Message": REACH_PENDING, "Timestamp": "2015-12-17T07:39:07.412Z", "SignatureVersion": "1",
       "Signature": base64.b64encode(hashlib.sha512(b"sns-signature").digest() * 4).decode(),
       "SigningCertURL": "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-bb750dd426d95ee9390147a5624348ee.pem",
       "UnsubscribeURL": "https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=%s:6f1d2c3b-4a5e-4f60-8172-93a4b5c6d7e8" % ARN}
sample("gandi-reachability-pending-sns-envelope",
       single(envelope(SNS_FROM, TO, "AWS Notification Message", "2015-12-17 07:39:08 +0000",
                       "<0100015fa1b2c3d4-%s-000000@email.amazonses.com>" % hexid("sns-pending", 12),
                       ("0100015fa1b2c3d4@amazonses.com", "a8-31.smtp-out.amazonses.com", "54.240.8.31")),
              "text/plain; charset=UTF-8", "7bit",
              (json.dumps(sns, indent=2, separators=(",", " : ")) + "\n").encode(), CRLF),
       [gandi_ev(REACH_PENDING, "pizzza.xyz", ["pizzza.xyz"], "pending", "2015-12-17T07:39:06Z")])

# done: relayed by an SNS plain "email" subscription: the message, then SNS's footer.
body = REACH_DONE + """

--
If you wish to stop receiving notifications from this topic, please click or visit the link below to unsubscribe:
https://sns.eu-west-1.amazonaws.com/unsubscribe.html?SubscriptionArn=%s:6f1d2c3b-4a5e-4f60-8172-93a4b5c6d7e8&Endpoint=domains@reseller.example

Please do not reply directly to this email. If you have any questions or comments regarding this email, please contact us at https://aws.amazon.com/support
""" % ARN
sample("gandi-reachability-done-sns-email",
       single(envelope(SNS_FROM, TO, "AWS Notification Message", "2015-12-17 09:48:28 +0000",
                       "<0100015fa1b2c3d5-%s-000000@email.amazonses.com>" % hexid("sns-done", 12),
                       ("0100015fa1b2c3d5@amazonses.com", "a8-32.smtp-out.amazonses.com", "54.240.8.32")),
              "text/plain; charset=UTF-8", "7bit", body.encode(), CRLF),
       [gandi_ev(REACH_DONE, "pizzza.xyz", ["pizzza.xyz"], "done", "2015-12-17T09:48:27Z")])

gandi("gandi-reachability-failed", REACH_FAILED, "2015-12-17 10:59:08 +0100",
      "pizzza.xyz", ["pizzza.xyz"], "failed", "2015-12-17T09:59:06Z")

# Python 2 repr escapes a non-ASCII character: u'Fran\xe7ois' is "François".
gandi("gandi-domain-contact-validation", r"""{'platform': 'production',
 'domain': u'example.co.uk',
 'date': '2016-11-04 11:05:33',
 'date_end': '2016-11-18 11:05:33',
 'handle': 'FD123-GANDI',
 'contact_name': u'Fran\xe7ois Dupont',
 'validated': False,
 'source_notification': 'domain.contact_validation'}""", "2016-11-04 11:05:35 +0100",
      "example.co.uk", ["example.co.uk"], "pending", "2016-11-04T10:05:33Z")

gandi("gandi-iaas-create", """{'platform': 'production',
 'source_notification': 'iaas.create',
 'date': '2016-06-14 10:02:33',
 'vm_id': 314159,
 'hostname': u'web-01',
 'datacenter': 'FR-SD3',
 'cores': 2,
 'memory': 2048,
 'ai_active': True,
 'console': False,
 'description': None}""", "2016-06-14 10:02:35 +0200", None, [], None, "2016-06-14T08:02:33Z")

gandi("gandi-iaas-update", """{'platform': 'production',
 'source_notification': 'iaas.update',
 'date': '2016-06-14 10:15:02',
 'vm_id': 314159,
 'hostname': u'web-01',
 'memory': 4096,
 'status': u'Running'}""", "2016-06-14 10:15:04 +0200", None, [], "running", "2016-06-14T08:15:02Z")

gandi("gandi-paas-create", """{'platform': 'production',
 'source_notification': 'paas.create',
 'date': '2016-07-01 12:00:45',
 'paas_id': 27182,
 'name': u'shop-prod',
 'type': u'phpmysql',
 'size': u's+',
 'datacenter': 'FR-SD5',
 'duration': u'1m'}""", "2016-07-01 12:00:47 +0200", None, [], None, "2016-07-01T10:00:45Z")

gandi("gandi-site-create", """{'platform': 'production',
 'source_notification': 'site.create',
 'date': '2016-07-04 09:30:00',
 'site_id': 1618,
 'domain': u'example.org',
 'template': u'portfolio'}""", "2016-07-04 09:30:02 +0200", "example.org", ["example.org"], None,
      "2016-07-04T07:30:00Z")

gandi("gandi-ssl-backend", """{'platform': 'production',
 'source_notification': 'ssl.backend',
 'date': '2016-08-22 15:47:12',
 'cert_id': 1203,
 'domain': u'www.example.com',
 'product': u'standard',
 'status': u'valid'}""", "2016-08-22 15:47:14 +0200", "www.example.com", ["www.example.com"], "valid",
      "2016-08-22T13:47:12Z")

# Not yet available names (the Gandi page lists them): still mapped, still extracted.
gandi("gandi-domain-renewal-reminder", """{'platform': 'production',
 'source_notification': 'domain.renewal_reminder',
 'date': '2016-09-01 06:00:00',
 'domains': [u'example.com', u'example.net'],
 'date_expire': '2016-10-01 00:00:00',
 'days_left': 30}""", "2016-09-01 06:00:02 +0200", "example.com", ["example.com", "example.net"], None,
      "2016-09-01T04:00:00Z")

gandi("gandi-billing-new-invoice", """{'platform': 'production',
 'source_notification': 'billing.new_invoice',
 'date': '2016-12-01 00:05:12',
 'invoice_id': u'FR-2016-0312345',
 'amount': u'24.00',
 'currency': 'EUR',
 'handle': 'XXXX1234-GANDI'}""", "2016-12-01 00:05:14 +0100", None, [], None, "2016-11-30T23:05:12Z")

gandi("gandi-contact-update", """{'platform': 'production',
 'source_notification': 'contact.update',
 'date': '2017-01-09 14:00:00',
 'handle': 'XXXX1234-GANDI',
 'fields': [u'phone', u'streetaddr']}""", "2017-01-09 14:00:02 +0100", None, [], None, "2017-01-09T13:00:00Z")

gandi("gandi-domain-automatic-renewal", """{'platform': 'production',
 'source_notification': 'domain.automatic_renewal',
 'date': '2017-02-01 03:00:00',
 'domain': u'example.net',
 'duration': 1,
 'date_expire': '2018-02-15 00:00:00'}""", "2017-02-01 03:00:02 +0100", "example.net", ["example.net"], None,
      "2017-02-01T02:00:00Z")

# The test message of notification.test().
sentence = "Hello, this is a Gandi Notification test message for notification paas.create"
tdata = {"notification": "paas.create", "message": sentence}
sample("gandi-test-message",
       single(envelope(GANDI_FROM, TO, "[GANDI] Notification test", "2016-07-01 11:58:00 +0200",
                       msgid("gandi-test", "gandi.net"), GANDI_RCVD),
              "text/plain; charset=utf-8", "7bit", (sentence + "\n").encode(), LF),
       [ev("gandi", gandi_id(tdata), "test", "hosting", "paas.create", "test", None, [], None, None, "text", tdata)])


# ================================================================== malformed (no event, quarantined)

def mal(name, raw):
    with open(os.path.join(MAL, name + ".eml"), "wb") as f:
        f.write(raw)


full = compact(osrs("DOMAIN", "CREATED", hexid("mal-trunc"), "2026-11-15T08:00:00Z",
                    {"domain_name": "example.com", "domain_id": "38391946", "expiration_date": "2027-11-15T04:00:00Z"}))
mal("truncated-json",
    single(envelope(OSRS_FROM, TO, "Event notification: DOMAIN: CREATED: %s" % hexid("mal-trunc"),
                    "2026-11-15 08:00:03 +0000", msgid("mal-trunc", "opensrs.net"), OSRS_RCVD),
           "text/plain; charset=UTF-8", "7bit", full[:len(full) // 2].encode(), CRLF))

lol = ['<!ENTITY lol "lol">'] + ['<!ENTITY lol%d "%s">' % (i, ("&lol%s;" % ("" if i == 2 else i - 1)) * 10)
                                 for i in range(2, 10)]
bomb = ("<?xml version='1.0' encoding=\"UTF-8\" standalone=\"no\" ?>\n<!DOCTYPE OPS_envelope [\n "
        + "\n ".join(lol) + "\n]>\n" + "\n".join(
            ["<OPS_envelope>", " <header>", "  <version>0.9</version>", "  </header>", " <body>", "  <data_block>"]
            + ops_xml({"protocol": "XCP", "object": "EVENT", "response_code": "200", "is_success": "1",
                       "action": "REPLY", "attributes": {"events": [
                           {"object_data": {"domain_name": "&lol9;", "domain_id": "801743",
                                            "zone_check_status": "invalid"},
                            "object": "DOMAIN", "event_id": hexid("mal-bomb"), "event": "ZONE_CHECK_STATUS_CHANGE",
                            "event_date": "2026-11-15T09:00:00Z"}], "total": "1"}}, 3)
            + ["  </data_block>", " </body>", "</OPS_envelope>"]) + "\n")
bomb = bomb.replace("&amp;lol9;", "&lol9;")
assert "&lol9;" in bomb and "&lol8;&lol8;" in bomb
mal("xml-entity-bomb",
    single(envelope("Reseller cron <cron@reseller.example>", TO, "OpenSRS EVENT POLL reply: 1 event",
                    "2026-11-15 09:00:05 +0000", msgid("mal-bomb", "reseller.example")),
           "text/plain; charset=UTF-8", "7bit", bomb.encode(), LF))

rng = random.Random(20261115)
mal("binary-garbage", bytes(rng.getrandbits(8) for _ in range(4096)))

mal("empty", b"")

# Headers only, no blank line and no body; the subject names an event.
mal("headers-only", headers(envelope(OSRS_FROM, TO, "Event notification: TRANSFER: STATUS_CHANGE: %s" % hexid("mal-hdr"),
                                     "2026-11-15 10:00:00 +0000", msgid("mal-hdr", "opensrs.net"), OSRS_RCVD)
                            + [("Content-Type", "text/plain; charset=UTF-8")], CRLF))

mal("marketing-no-payload",
    single(envelope("Gandi <newsletter@gandi.net>", TO, "New: .app and .dev domains, 30% off this week",
                    "2026-11-15 11:00:00 +0100", msgid("mal-news", "gandi.net"), GANDI_RCVD),
           "text/plain; charset=utf-8", "quoted-printable",
           "Hello,\n\nthis week only, register your .app and .dev domains at 30% off (first year).\n"
           "Every domain comes with free email forwarding, DNSSEC and our LiveDNS service.\n\n"
           "Renewals, transfers and your notifications are not affected by this offer.\n\n"
           "See you soon,\nThe Gandi team\n\n--\nYou receive this newsletter because you subscribed to it.\n"
           "Unsubscribe: https://www.gandi.net/newsletter/unsubscribe\n".encode(), CRLF))

mal("html-newsletter",
    single(envelope("InterNetX Newsletter <newsletter@internetx.com>", TO,
                    "=?UTF-8?Q?InterNetX_Newsletter_November:_Neuigkeiten_f=C3=BCr_Reseller?=",
                    "2026-11-15 12:00:00 +0100", msgid("mal-html", "internetx.com"),
                    ("bounce@internetx.com", "mout.internetx.com", "62.116.129.201")),
           "text/html; charset=UTF-8", "quoted-printable",
           """<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
<style type="text/css">
body { margin: 0; font-family: Helvetica, Arial, sans-serif; color: #333333; }
.button { background-color: #0064a8; color: #ffffff; padding: 10px 20px; }
</style>
</head>
<body>
<h1>Neuigkeiten für Reseller</h1>
<p>Ab sofort unterstützt AutoDNS die automatische Verlängerung für 40 weitere TLDs.
Außerdem: neue Preise für .de-Domains ab 1. Dezember.</p>
<p><a class="button" href="https://www.internetx.com/news">Jetzt lesen</a></p>
<p style="font-size: 11px;">InterNetX GmbH, Johanna-Dachs-Str. 55, 93055 Regensburg</p>
</body>
</html>
""".encode("utf-8"), CRLF))

mal("json-not-a-notification",
    single(envelope("Dev Team <dev@reseller.example>", TO, "webhook payload test",
                    "2026-11-15 13:00:00 +0100", msgid("mal-json", "reseller.example")),
           "application/json", "7bit", b'{"hello":"world"}\n', LF))


# ================================================================== self-checks against docs/EVENTS.md

def topic_table():
    rows = {}
    for line in open(EVENTS_MD, encoding="utf-8"):
        m = re.match(r"\| (opensrs|autodns|gandi) \| ([^|]+) \| ([^|]+) \| ([^|]+) \| ([^|]+) \|", line)
        if m:
            reg, typ, topic, obj, st = (x.strip() for x in m.groups())
            rows[(reg, typ)] = (topic, obj, None if st.startswith("–") or st.startswith("(") or st == "from status type" else st)
    return rows


TABLE = topic_table()
KEYS = ["registrar", "event_id", "kind", "object", "type", "topic", "domain", "domains", "status",
        "occurred_at", "format", "data"]
n_events = 0
for name, events in WRITTEN.items():
    assert events, name
    for e in events:
        n_events += 1
        assert list(e) == KEYS, name
        assert isinstance(e["event_id"], str) and e["event_id"], name
        if e["registrar"] == "gandi":
            assert e["event_id"] == gandi_id(e["data"]), name
            assert re.fullmatch(r"sha256:[0-9a-f]{64}", e["event_id"]), name
        if e["occurred_at"] is not None:
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", e["occurred_at"]), name
        assert e["domain"] is None or e["domain"] == e["domain"].lower(), name
        assert (e["domains"][:1] == [e["domain"]]) if e["domain"] else e["domains"] == [], name
        assert e["status"] is None or e["status"] == e["status"].lower(), name
        d = e["data"]
        # timestamps, recomputed from the payload by the conversion rules
        if e["registrar"] == "opensrs":
            assert e["occurred_at"] == d["event_date"], name
            key = "%s %s" % (d["object"], d["event"])
            assert e["object"] == d["object"].lower() and e["type"] == d["event"], name
            assert e["domain"] == d["object_data"]["domain_name"].lower(), name
            st = [v for k, v in d["object_data"].items() if k.endswith("_status")]
            assert e["status"] == (st[0].lower() if st else None), name
        elif e["registrar"] == "gandi" and e["kind"] == "event":
            assert e["occurred_at"] == (utc_local(d["date"], "Europe/Paris") if "date" in d else None), name
            key = e["type"]
            if "status" in d:
                assert e["status"] == d["status"].lower(), name
        elif e["registrar"] == "autodns" and e["format"] in ("json", "xml"):
            msg = d.get("message", d)
            c = msg.get("created")
            want = None if c is None else (utc_offset(c) if "T" in c else utc_local(c, "Europe/Berlin"))
            assert e["occurred_at"] == want, name
            key = e["type"] if e["kind"] == "event" else "(job status code, e.g. S0101)"
        elif e["format"] == "epp":
            key = "panData (EPP)"
        elif e["kind"] == "job":
            key = "(job status code, e.g. S0101)"
        elif e["kind"] == "test":
            key = "(test message)"
        else:
            key = e["type"]
        topic, obj, default = TABLE[(e["registrar"], key)]
        assert e["topic"] == topic, (name, e["topic"], topic)
        if not obj.startswith("("):
            assert e["object"] == obj, (name, e["object"], obj)
        if e["registrar"] == "autodns" and e["kind"] == "event":
            assert e["status"] == default, name
        if e["registrar"] == "gandi" and e["kind"] == "event" and "status" not in d:
            assert e["status"] == default, name

# every documented name has a sample
have = {(e["registrar"], e["type"]) for evs in WRITTEN.values() for e in evs}
have |= {("opensrs", "%s %s" % (e["data"]["object"], e["type"])) for evs in WRITTEN.values() for e in evs
         if e["registrar"] == "opensrs"}
# issue 10: the names added since are sampled in samples/field/ (field_samples.py)
FIELD = os.path.join(OUT, "field")
for fname in sorted(os.listdir(FIELD)) if os.path.isdir(FIELD) else []:
    if fname.endswith(".json"):
        with open(os.path.join(FIELD, fname), encoding="utf-8") as f:
            for e in json.load(f):
                have.add((e["registrar"], e["type"]))
                if e["registrar"] == "opensrs":
                    have.add(("opensrs", "%s %s" % (e["data"]["object"], e["type"])))
for (reg, typ) in TABLE:
    if typ.startswith("(") or typ in ("trnData (EPP)", "panData (EPP)"):
        continue
    if reg == "gandi" and typ not in TOPIC_OF:
        continue  # not-yet-available names beyond the ones sampled
    name = typ.split(" (")[0] if reg == "autodns" else typ
    assert (reg, name) in have, (reg, typ)

print("%d samples, %d events, %d malformed" % (len(WRITTEN), n_events, len(os.listdir(MAL))))
