#!/usr/bin/env python3
"""Writes the second golden corpus, samples/extra/: every NAME.eml beside NAME.json, the
events the registrars' documentation says the email holds (docs/EVENTS.md gives the
rules). Written independently of make_samples.py (samples/) and of mailroom's code, as
a second oracle.

    python3 samples/.gen/corpus.py
"""
import base64
import hashlib
import json
import os
import quopri
import random
from datetime import datetime, timedelta, timezone
from xml.dom import minidom
from zoneinfo import ZoneInfo

from add_status_text import with_status_text  # issue 10: the event's status_text field

OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "extra")
SAMPLES = []


# ---------------------------------------------------------------- helpers

def utc(ts, zone=None):
    """A registrar timestamp as RFC 3339 UTC (docs/EVENTS.md)."""
    if ts is None:
        return None
    for fmt in ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%fZ"):
        try:
            return datetime.strptime(ts, fmt).strftime("%Y-%m-%dT%H:%M:%SZ")
        except ValueError:
            pass
    for fmt in ("%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z"):
        try:
            return datetime.strptime(ts, fmt).astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        except ValueError:
            pass
    local = datetime.strptime(ts, "%Y-%m-%d %H:%M:%S").replace(tzinfo=ZoneInfo(zone))
    return local.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def derived_id(data):
    canon = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canon.encode("utf-8")).hexdigest()


def event(registrar, event_id, kind, obj, type_, topic, domain, status, occurred_at, fmt, data, domains=None):
    if domains is None:
        domains = [domain] if domain else []
    return {
        "registrar": registrar, "event_id": event_id, "kind": kind, "object": obj, "type": type_,
        "topic": topic, "domain": domain, "domains": domains, "status": status,
        "occurred_at": occurred_at, "format": fmt, "data": data,
    }


N = [0]


def headers(sender, subject, extra=None, date="Sun, 22 Nov 2026 08:15:00 +0100"):
    N[0] += 1
    h = [
        ("Return-Path", "<" + sender.split("<")[-1].strip(">") + ">"),
        ("Received", "from mx.registrar.example (mx.registrar.example [192.0.2.25]) by mail.reseller.example with ESMTPS; " + date),
        ("From", sender),
        ("To", "Reseller Ops <notifications@reseller.example>"),
        ("Subject", subject),
        ("Date", date),
        ("Message-ID", f"<{N[0]:04d}.{hashlib.md5(subject.encode()).hexdigest()[:10]}@registrar.example>"),
        ("MIME-Version", "1.0"),
    ]
    return h + (extra or [])


def render(hs, body, crlf=True):
    nl = "\r\n" if crlf else "\n"
    head = nl.join(f"{k}: {v}" for k, v in hs)
    if isinstance(body, str):
        body = body.replace("\r\n", "\n").replace("\n", nl).encode("utf-8")
    return head.encode() + (nl + nl).encode() + body


def simple(sender, subject, body, ctype="text/plain; charset=utf-8", cte="7bit", crlf=True):
    hs = headers(sender, subject, [("Content-Type", ctype), ("Content-Transfer-Encoding", cte)])
    return render(hs, body, crlf)


def add(name, eml, events):
    SAMPLES.append((name, eml, events))


OPENSRS = "OpenSRS Notifications <do_not_reply@opensrs.net>"
AUTODNS = "AutoDNS <noreply@autodns.com>"
INTERNETX = "InterNetX Domain Robot <robot@internetx.com>"
GANDI = "Gandi <noreply@gandi.net>"

# ---------------------------------------------------------------- OpenSRS

OPENSRS_TOPICS = {
    ("DOMAIN", "CREATED"): "domain.created",
    ("DOMAIN", "EXPIRED"): "domain.expired",
    ("DOMAIN", "NAMESERVER_UPDATE"): "domain.nameservers_changed",
    ("DOMAIN", "REGISTERED"): "domain.registered",
    ("DOMAIN", "REGISTRANT_VERIFICATION_STATUS_CHANGE"): "domain.registrant_verification",
    ("DOMAIN", "RENEWED"): "domain.renewed",
    ("DOMAIN", "ZONE_CHECK_STATUS_CHANGE"): "domain.zone_check",
    ("DOMAIN", "DELETED"): "domain.deleted",
    ("ORDER", "CLAIM_STATUS_CHANGE"): "order.claim",
    ("ORDER", "STATUS_CHANGE"): "order.status",
    ("TRANSFER", "STATUS_CHANGE"): "transfer.in",
}


def opensrs_payload(obj, ev, eid, date, **od):
    return {"object_data": od, "object": obj, "event_id": eid, "event": ev, "event_date": date}


def opensrs_event(p, fmt="json"):
    od = p["object_data"]
    status = next((v.lower() for k, v in od.items() if k.endswith("_status") and isinstance(v, str)), None)
    return event("opensrs", p["event_id"], "event", p["object"].lower(), p["event"],
                 OPENSRS_TOPICS[(p["object"], p["event"])], od.get("domain_name"), status,
                 utc(p["event_date"]), fmt, p)


def subject(p):
    return f"Event notification: {p['object']}: {p['event']}: {p['event_id']}"


def js(p):
    return json.dumps(p, separators=(",", ":"), ensure_ascii=False)


# The three examples of OpenSRS's own documentation, as sent.
p = opensrs_payload("DOMAIN", "CREATED", "75675eb3d5010da7c8dbd1c638f7ca55", "2014-09-09T21:16:22Z",
                    domain_name="domainregistered.com", domain_id="38391945", expiration_date="2015-04-01T04:00:00Z")
add("opensrs-domain-created", simple(OPENSRS, subject(p), js(p) + "\n"), [opensrs_event(p)])

p = opensrs_payload("TRANSFER", "STATUS_CHANGE", "70ee0bd48660c737cc1b08501e214236", "2014-09-09T21:16:23Z",
                    domain_name="domainregistered.com", transfer_id="8646809", order_id=0, transfer_status="completed")
add("opensrs-transfer-status-change", simple(OPENSRS, subject(p), js(p) + "\n", crlf=False), [opensrs_event(p)])

# Nameserver update, quoted-printable with soft line breaks through the JSON.
p = opensrs_payload("DOMAIN", "NAMESERVER_UPDATE", "dc3295cdca977bbd227fda140ca7f4dc", "2014-09-09T21:17:48Z",
                    domain_name="domainregistered.com", domain_id="38391945",
                    nameserver_list=["ns1.systemdns.com", "ns2.systemdns.com"])
qp = quopri.encodestring(js(p).encode(), quotetabs=False).decode().replace('"domain_id"', '=22domain_id=22')
add("opensrs-domain-nameserver-update-qp",
    simple(OPENSRS, subject(p), qp + "\n", cte="quoted-printable"), [opensrs_event(p)])

# Expired, base64 body.
p = opensrs_payload("DOMAIN", "EXPIRED", "0b2c9d1e4f5a6b7c8d9e0f1a2b3c4d5e", "2026-03-01T05:00:04Z",
                    domain_name="forgotten-shop.com", domain_id="44120311", expiration_date="2026-03-01T05:00:00Z")
b64 = base64.encodebytes(js(p).encode()).decode()
add("opensrs-domain-expired-base64", simple(OPENSRS, subject(p), b64, cte="base64"), [opensrs_event(p)])

# Registered, HTML only: the JSON in <pre> with entities.
p = opensrs_payload("DOMAIN", "REGISTERED", "5d41402abc4b2a76b9719d911017c592", "2026-06-12T14:02:11Z",
                    domain_name="new-brand.io", domain_id="51234001", expiration_date="2028-06-12T14:02:10Z", period=2)
html = ("<!DOCTYPE html><html><head><style>pre{font-size:11px}</style></head><body>\n"
        "<p>Dear Reseller,</p>\n<pre>" + js(p).replace('"', "&quot;").replace("&quot;:&quot;", "&quot;: &quot;") +
        "</pre>\n<p>OpenSRS &amp; Tucows</p></body></html>\n")
add("opensrs-domain-registered-html-only",
    simple(OPENSRS, subject(p), html, ctype="text/html; charset=utf-8"), [opensrs_event(p)])

# Registrant verification, UTF-8 IDN, between a preamble and a signature.
p = opensrs_payload("DOMAIN", "REGISTRANT_VERIFICATION_STATUS_CHANGE", "9e107d9d372bb6826bd81d3542a419d6",
                    "2026-07-01T09:30:00Z", domain_name="bücher-beispiel.de", domain_id="60011223",
                    verification_status="pending")
body = ("Hello,\n\nthe registrant verification status of one of your domains changed.\n"
        "The machine-readable details follow.\n\n" + js(p) + "\n\n-- \nOpenSRS Reseller Support\nsupport@opensrs.com\n")
add("opensrs-registrant-verification-utf8-preamble",
    simple(OPENSRS, subject(p), body, cte="8bit"), [opensrs_event(p)])

# Renewed: the JSON attached as event_data….json, a human text body.
p = opensrs_payload("DOMAIN", "RENEWED", "e4d909c290d0fb1ca068ffaddf22cbd0", "2026-08-20T02:14:55Z",
                    domain_name="example-renew.net", domain_id="38391999", expiration_date="2028-09-01T04:00:00Z", period=2)
boundary = "----=_Part_18237_1200"
mixed = (f"--{boundary}\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 7bit\n\n"
         "The domain example-renew.net was renewed for 2 years.\nThe event data is attached.\n\n"
         f"--{boundary}\nContent-Type: application/json; name=\"event_data_e4d909c2.json\"\n"
         "Content-Transfer-Encoding: base64\nContent-Disposition: attachment; filename=\"event_data_e4d909c2.json\"\n\n"
         + base64.encodebytes(json.dumps(p, indent=2).encode()).decode() + f"\n--{boundary}--\n")
add("opensrs-domain-renewed-attachment",
    render(headers(OPENSRS, subject(p), [("Content-Type", f'multipart/mixed; boundary="{boundary}"')]), mixed),
    [opensrs_event(p)])

# Zone check failing, forwarded by a colleague as message/rfc822.
p = opensrs_payload("DOMAIN", "ZONE_CHECK_STATUS_CHANGE", "3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c", "2026-05-27T19:29:25Z",
                    domain_name="boulangerie-exemple.fr", domain_id="801744", zone_check_status="invalid")
inner = render(headers(OPENSRS, subject(p), [("Content-Type", "text/plain; charset=utf-8")]), js(p) + "\n")
boundary = "fwd-7c1e"
outer = (f"--{boundary}\nContent-Type: text/plain; charset=utf-8\n\nFYI, see below. Can you fix the zone?\n\n"
         f"--{boundary}\nContent-Type: message/rfc822\nContent-Disposition: attachment; filename=\"notification.eml\"\n\n"
         ).encode() + inner + f"\n--{boundary}--\n".encode()
hs = [("From", "Alice Colleague <alice@reseller.example>"), ("To", "ops@reseller.example"),
      ("Subject", "Fwd: " + subject(p)), ("Date", "Mon, 25 May 2026 21:00:00 +0200"),
      ("Message-ID", "<fwd-zone-1@reseller.example>"), ("MIME-Version", "1.0"),
      ("Content-Type", f'multipart/mixed; boundary="{boundary}"')]
add("opensrs-zone-check-forwarded-rfc822", b"\r\n".join(f"{k}: {v}".encode() for k, v in hs) + b"\r\n\r\n" + outer,
    [opensrs_event(p)])

# Deleted: multipart/alternative, the same payload in text and HTML: one event.
p = opensrs_payload("DOMAIN", "DELETED", "8f14e45fceea167a5a36dedd4bea2543", "2026-04-02T10:00:00Z",
                    domain_name="old-campaign.com", domain_id="30000001", reason="expired",
                    deletion_date="2026-04-02T10:00:00Z", redemption_grace_period_end_date="2026-05-02T10:00:00Z")
boundary = "alt-41"
alt = (f"--{boundary}\nContent-Type: text/plain; charset=utf-8\n\n{js(p)}\n\n"
       f"--{boundary}\nContent-Type: text/html; charset=utf-8\n\n<html><body><pre>"
       + js(p).replace('"', "&quot;") + f"</pre></body></html>\n--{boundary}--\n")
add("opensrs-domain-deleted-alternative",
    render(headers(OPENSRS, subject(p), [("Content-Type", f'multipart/alternative; boundary="{boundary}"')]), alt),
    [opensrs_event(p)])

p = opensrs_payload("ORDER", "CLAIM_STATUS_CHANGE", "c9f0f895fb98ab9159f51fd0297e236d", "2026-02-10T16:45:00Z",
                    order_id="9876543", domain_name="trademark-brand.shop", claim_status="accepted")
add("opensrs-order-claim-status-change", simple(OPENSRS, subject(p), js(p)), [opensrs_event(p)])

# Two ORDER STATUS_CHANGE notifications in one body (a digest-style mail).
p1 = opensrs_payload("ORDER", "STATUS_CHANGE", "45c48cce2e2d7fbdea1afc51c7c6ad26", "2026-02-11T08:00:00Z",
                     order_id="9876600", domain_name="first-order.com", order_status="completed", order_reg_type="new")
p2 = opensrs_payload("ORDER", "STATUS_CHANGE", "d3d9446802a44259755d38e6d163e820", "2026-02-11T08:05:00Z",
                     order_id="9876601", domain_name="second-order.net", order_status="declined", order_reg_type="transfer")
add("opensrs-two-order-status-changes",
    simple(OPENSRS, "Event notifications: 2 order updates", js(p1) + "\n\n" + js(p2) + "\n"),
    [opensrs_event(p1), opensrs_event(p2)])

# OPS XML poll reply with three events (the documentation's zone check plus two).
ops_events = [
    opensrs_payload("DOMAIN", "ZONE_CHECK_STATUS_CHANGE", "6887c7d3838dcaec7517c531df527bb7", "2014-05-27T19:29:25Z",
                    domain_name="abc-fictional.de", domain_id="801743", zone_check_status="invalid"),
    opensrs_payload("TRANSFER", "STATUS_CHANGE", "6887c7d3838dcaec7517c531df527bb8", "2014-05-27T19:31:02Z",
                    domain_name="moving-in.com", transfer_id="8646810", order_id="0", transfer_status="pending_owner"),
    opensrs_payload("DOMAIN", "NAMESERVER_UPDATE", "6887c7d3838dcaec7517c531df527bb9", "2014-05-27T19:40:00Z",
                    domain_name="abc-fictional.de", domain_id="801743", nameserver_list=["ns1.example.de", "ns2.example.de"]),
]


def ops_value(v, indent):
    pad = " " * indent
    if isinstance(v, dict):
        inner = "".join(f'{pad} <item key="{k}">{ops_value(x, indent + 2)}</item>\n' for k, x in v.items())
        return f"\n{pad}<dt_assoc>\n{inner}{pad}</dt_assoc>\n{pad[:-1]}"
    if isinstance(v, list):
        inner = "".join(f'{pad} <item key="{i}">{ops_value(x, indent + 2)}</item>\n' for i, x in enumerate(v))
        return f"\n{pad}<dt_array>\n{inner}{pad}</dt_array>\n{pad[:-1]}"
    return str(v)


def ops_strings(v):
    """OPS XML carries every scalar as text."""
    if isinstance(v, dict):
        return {k: ops_strings(x) for k, x in v.items()}
    if isinstance(v, list):
        return [ops_strings(x) for x in v]
    return str(v)


events_xml = "".join(f'        <item key="{i}">{ops_value(e, 10)}</item>\n' for i, e in enumerate(ops_events))
ops = f"""<?xml version='1.0' encoding="UTF-8" standalone="no" ?>
<!DOCTYPE OPS_envelope SYSTEM "ops.dtd">
<OPS_envelope>
 <header>
  <version>0.9</version>
  </header>
 <body>
  <data_block>
   <dt_assoc>
    <item key="protocol">XCP</item>
    <item key="object">EVENT</item>
    <item key="response_code">200</item>
    <item key="is_success">1</item>
    <item key="response_text">Command successful</item>
    <item key="transaction_id">2014-05-29 11:14:02 23004 101</item>
    <item key="action">REPLY</item>
    <item key="attributes">
     <dt_assoc>
      <item key="events">
       <dt_array>
{events_xml}       </dt_array>
      </item>
      <item key="total">3</item>
     </dt_assoc>
    </item>
   </dt_assoc>
  </data_block>
 </body>
</OPS_envelope>
"""
add("opensrs-ops-xml-poll-three-events",
    simple(OPENSRS, "OpenSRS event poll reply (saved)", "Saved poll reply:\n\n" + ops),
    [opensrs_event(ops_strings(e), "ops-xml") for e in ops_events])

# ---------------------------------------------------------------- XML to JSON (docs/EVENTS.md)


def xml_json(el):
    attrs = [(k, v) for k, v in el.attributes.items() if k != "xmlns" and not k.startswith("xmlns:")]
    children = [c for c in el.childNodes if c.nodeType == c.ELEMENT_NODE]
    text = "".join(c.data for c in el.childNodes if c.nodeType in (c.TEXT_NODE, c.CDATA_SECTION_NODE)).strip()
    if not attrs and not children:
        return text
    out = {}
    for k, v in attrs:
        out["@" + k] = v
    for c in children:
        v = xml_json(c)
        if c.tagName in out:
            if isinstance(out[c.tagName], list):
                out[c.tagName].append(v)
            else:
                out[c.tagName] = [out[c.tagName], v]
        else:
            out[c.tagName] = v
    if text:
        out["#text"] = text
    return out


def first(el, name):
    return next(c for c in el.childNodes if c.nodeType == c.ELEMENT_NODE and c.tagName == name)


# ---------------------------------------------------------------- AutoDNS

AUTODNS_EVENTS = {
    "transfer_start": ("transfer.out", "pending"),
    "transfer_autoack": ("transfer.out", "approved"),
    "transfer_autonack": ("transfer.out", "rejected"),
    "transfer_reminder": ("transfer.out", "pending"),
    "domain_away": ("transfer.out", "completed"),
    "autoupdate_dns_error": ("domain.zone_check", "error"),
    "autoupdate_dns_success": ("domain.zone_check", "success"),
    "autoupdate_deferred_success": ("domain.zone_check", "success"),
    "autoupdate_deferred_error": ("domain.zone_check", "error"),
    "ocval_reminder": ("contact.validation", "pending"),
    "ocval_activation": ("contact.validation", "suspended"),
    "ocval_deactivation": ("contact.validation", "restored"),
}


def poll(items, value):
    return {"stid": "20260512-app3-10824", "status": {"code": "S0905", "text": "The notification was polled successfully.",
            "type": "SUCCESS"}, "object": {"type": "Message", "value": str(value), "summary": len(items)}, "data": items}


def autodns_notify_item(mid, name, domain, notify_object=None, created=None):
    item = {"id": mid, "notify": {"type": name}, "stid": f"20260512-app3-{mid % 100000}",
            "object": {"type": "Domain", "value": domain, "data": {"name": domain}}}
    if notify_object:
        item["notify"]["object"] = notify_object
    if created:
        item["created"] = created
    return item


def autodns_notify_event(item, fmt="json"):
    name = item["notify"]["type"].replace("deffered", "deferred")
    topic, status = AUTODNS_EVENTS[name]
    return event("autodns", str(item["id"]), "event", "domain", name, topic, item["object"]["value"], status,
                 utc(item.get("created")) if item.get("created") else None, fmt, item)


transfer_data = {"gainingRegistrar": "greg", "loosingRegistrar": "lreg", "start": "2026-01-19T10:54:42.000+0100",
                 "reminder": "2026-01-22T10:54:42.000+0100", "end": "2026-01-24T10:54:42.000+0100"}
mid = 1012054052
for name in AUTODNS_EVENTS:
    domain = f"{name.split('_')[0]}-{mid % 1000}.example.org" if not name.startswith("ocval") else f"ocval-{mid % 1000}.de"
    nobj = {"type": "Transfer", "data": transfer_data} if name.startswith("transfer") or name == "domain_away" else None
    created = "2026-01-19T10:54:42.000+0100" if name == "transfer_start" else None
    sent_name = name.replace("deferred", "deffered") if name == "autoupdate_deferred_error" else name
    item = autodns_notify_item(mid, sent_name, domain, nobj, created)
    body = json.dumps(poll([item], mid), indent=4)
    add(f"autodns-notify-{name.replace('_', '-')}" + ("-german-spelling" if sent_name != name else ""),
        simple(AUTODNS, f"AutoDNS Benachrichtigung: {sent_name} {domain}", body + "\n"),
        [autodns_notify_event(item)])
    mid += 7

# Two messages in one poll: a notify and a job.
n_item = autodns_notify_item(1005491836, "autoupdate_dns_success", "example.aq")
j_item = {"summary": 2, "message": {"id": 1005491837, "job": {"id": 4295609800, "domain": {"name": "second-job.com"}},
          "stid": "20260512-stid", "object": {"type": "domain", "value": "second-job.com"},
          "status": {"code": "S0102", "type": "SUCCESS"}}}
add("autodns-poll-two-messages",
    simple(AUTODNS, "AutoDNS: 2 unconfirmed notifications", json.dumps(poll([n_item, j_item], 1005491836)) + "\n"),
    [autodns_notify_event(n_item),
     event("autodns", "1005491837", "job", "domain", "S0102", "job.result", "second-job.com", "success", None, "json", j_item)])


def job_item(mid, code, typ, domain, created=None):
    msg = {"id": mid, "job": {"id": 4295609745, "domain": {"created": "2018-09-26T15:11:21.000+0200", "owner": {},
           "updater": {}, "name": domain, "expire": "2019-09-26T15:11:20.000+0200",
           "nameServers": [{"name": "a.ns14.net"}, {"name": "b.ns14.net"}], "lastAction": "CREATE",
           "authinfo": "gg9o3FFL/hzNbuPw", "autoRenewStatus": "TRUE"}},
           "stid": "20180926-stid", "object": {"type": "domain", "value": domain}, "status": {"code": code, "type": typ}}
    if created:
        msg["created"] = created
    return {"summary": 1, "message": msg}


it = job_item(1819917, "S0101", "SUCCESS", "example.com")
add("autodns-job-success-json", simple(AUTODNS, "AutoDNS job result: domain create example.com",
    json.dumps(poll([it], 1819917), indent=4)),
    [event("autodns", "1819917", "job", "domain", "S0101", "job.result", "example.com", "success", None, "json", it)])
it = job_item(1819920, "E0101", "ERROR", "taken-name.com", created="2026-03-03T10:00:00.000+0100")
add("autodns-job-error-json", simple(AUTODNS, "AutoDNS job result: domain create taken-name.com",
    json.dumps(poll([it], 1819920), indent=4)),
    [event("autodns", "1819920", "job", "domain", "E0101", "job.result", "taken-name.com", "error",
           "2026-03-03T09:00:00Z", "json", it)])
it = job_item(1819921, "E0105", "failed", "kaputt-beispiel.de")
add("autodns-job-failed-german", simple(AUTODNS, "AutoDNS Auftragsbenachrichtigung: fehlgeschlagen",
    "Sehr geehrter Kunde,\n\nder Auftrag wurde nicht erfolgreich bearbeitet:\n\n" + json.dumps(poll([it], 1819921), indent=2)
    + "\n\nMit freundlichen Grüßen\nIhr AutoDNS Team\n", cte="8bit"),
    [event("autodns", "1819921", "job", "domain", "E0105", "job.result", "kaputt-beispiel.de", "error", None, "json", it)])

# The documentation's XML job message.
xml_job = """<response>
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
                        <ownerc>100</ownerc>
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
                        <period>1</period>
                        <autorenew>true</autorenew>
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
msg = first(first(first(minidom.parseString(xml_job).documentElement, "result"), "data"), "message")
add("autodns-job-xml", simple(AUTODNS, "AutoDNS job result (XML)", xml_job),
    [event("autodns", "1855680", "job", "domain", "S0101", "job.result", "example.com", "success",
           "2018-10-15T12:03:02Z", "xml", xml_json(msg))])

xml_notify = """<?xml version="1.0" encoding="utf-8"?>
<response>
   <result>
      <data>
         <summary>1</summary>
         <message>
            <id>1005360835</id>
            <owner />
            <notify>
               <domain>
                  <name>leaving.example.com</name>
               </domain>
               <transfer>
                  <gaining_registrar>greg</gaining_registrar>
                  <loosing_registrar>lreg</loosing_registrar>
                  <start>2026-05-03 11:05:56</start>
                  <reminder>2026-05-06 11:05:56</reminder>
                  <autonack>2026-05-08 05:05:56</autonack>
                  <end>2026-05-08 11:05:56</end>
               </transfer>
               <type>transfer_reminder</type>
            </notify>
            <created>2026-05-06 11:05:56</created>
         </message>
      </data>
      <status>
         <code>S0905</code>
         <text>The notification was polled successfully.</text>
         <type>success</type>
      </status>
   </result>
</response>
"""
msg = first(first(first(minidom.parseString(xml_notify).documentElement, "result"), "data"), "message")
add("autodns-notify-xml-transfer-reminder", simple(AUTODNS, "AutoDNS notification (XML)", xml_notify),
    [event("autodns", "1005360835", "event", "domain", "transfer_reminder", "transfer.out", "leaving.example.com",
           "pending", "2026-05-06T09:05:56Z", "xml", xml_json(msg))])

epp = """<?xml version="1.0" encoding="UTF-8"?>
<epp xmlns="urn:ietf:params:xml:ns:epp-1.0" xmlns:domain="urn:ietf:params:xml:ns:domain-1.0" xmlns:domainrobot="urn:org:domainrobot:ns:ext-1.0">
  <response>
    <result code="1301">
      <msg lang="en">Command completed successfully; ack to dequeue</msg>
    </result>
    <msgQ count="1" id="880369">
      <qDate>2017-07-14T13:46:33.000Z</qDate>
    </msgQ>
    <resData>
      <domain:panData>
        <domain:name paResult="1">domain.com</domain:name>
        <domain:paTRID>
          <clTRID>EXAMPLE-123456789</clTRID>
          <svTRID>20170731-app1-10001</svTRID>
        </domain:paTRID>
        <domain:paDate>2017-07-31T13:46:33.000Z</domain:paDate>
      </domain:panData>
      <domain:infData>
        <domain:name>domain.com</domain:name>
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
      </domain:infData>
    </resData>
    <extension>
      <domainrobot:domain>
        <domainrobot:zonec>23022508</domainrobot:zonec>
        <domainrobot:trustee>0</domainrobot:trustee>
      </domainrobot:domain>
    </extension>
    <trID>
      <clTRID>a2d8e98e-c703-4368-a986-a1fdfa42b8fe</clTRID>
      <svTRID>12345678</svTRID>
    </trID>
  </response>
</epp>
"""
resp = first(minidom.parseString(epp).documentElement, "response")
add("autodns-epp-pandata", simple(AUTODNS, "AutoDNS EPP poll message not acknowledged within 24 hours", epp),
    [event("autodns", "880369", "job", "domain", "panData", "job.result", "domain.com", "success",
           "2017-07-31T13:46:33Z", "epp", xml_json(resp))])

# The "Standard" format: text with <system> and <reply> key-value blocks.
std_job = """Sehr geehrte Damen und Herren,

der folgende Auftrag wurde bearbeitet.

<system>
user: reseller42
context: 4
task: 0104 Domain Transfer
status: S0104 [Der Domaintransfer wurde
  erfolgreich abgeschlossen.]
stid: 20260301-app2-55012
</system>
<reply>
success_value: domain: umzug-beispiel.de
kk_answer: AUTOACK
</reply>

Mit freundlichen Gruessen
Ihr AutoDNS Team
"""
std_job_data = {"system": {"user": "reseller42", "context": "4", "task": "0104 Domain Transfer",
                           "status": "S0104 [Der Domaintransfer wurde erfolgreich abgeschlossen.]",
                           "stid": "20260301-app2-55012"},
                "reply": {"success_value": "domain: umzug-beispiel.de", "kk_answer": "AUTOACK"}}
add("autodns-standard-text-job", simple(INTERNETX, "AutoDNS: Auftrag 0104 Domain Transfer umzug-beispiel.de", std_job),
    [event("autodns", "20260301-app2-55012", "job", "domain", "S0104", "job.result", "umzug-beispiel.de", "success",
           None, "text", std_job_data)])

std_notify = """Dear customer,

an outgoing transfer of one of your domains was confirmed automatically.

<system>
user: reseller42
context: 4
notify: transfer_autoack
id: 1012099001
</system>
<reply>
domain: weg-damit.com
gaining_registrar: OTHER-REGISTRAR
kk_answer: AUTOACK
</reply>

Kind regards
Your AutoDNS team
"""
std_notify_data = {"system": {"user": "reseller42", "context": "4", "notify": "transfer_autoack", "id": "1012099001"},
                   "reply": {"domain": "weg-damit.com", "gaining_registrar": "OTHER-REGISTRAR", "kk_answer": "AUTOACK"}}
add("autodns-standard-text-notify", simple(INTERNETX, "AutoDNS: transfer_autoack weg-damit.com", std_notify),
    [event("autodns", "1012099001", "event", "domain", "transfer_autoack", "transfer.out", "weg-damit.com", "approved",
           None, "text", std_notify_data)])

# ---------------------------------------------------------------- Gandi

GANDI_TOPICS = {
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
    "billing.new_invoice": ("billing.invoice", "billing", None),
    "domain.change_owner": ("domain.owner_changed", "domain", None),
    "ssl.renewal_reminder": ("certificate.renewal_reminder", "certificate", None),
}


def py_literal(d, u_domains=False):
    """A Python dict literal as Gandi prints it (pprint style)."""
    parts = []
    for k, v in d.items():
        if isinstance(v, bool) or v is None:
            r = repr(v)
        elif isinstance(v, str):
            r = repr(v)
            if k == "domains" and u_domains:
                r = 'u"' + v + '"'
            elif k == "domains":
                r = '"' + v + '"'
        else:
            r = repr(v)
        parts.append(f"'{k}': {r}")
    return "{" + ",\n ".join(parts) + "}"


def gandi_event(name, data, fmt="python-literal"):
    topic, obj, default = GANDI_TOPICS[name]
    domains = []
    if isinstance(data.get("domains"), str):
        domains = [x.strip().strip("'\"") for x in data["domains"].strip("[]").split(",") if x.strip()]
    domain = data.get("domain") or (domains[0] if domains else None)
    all_domains = ([domain] if domain else []) + [d for d in domains if d != domain]
    status = data.get("status", "").lower() or default
    when = utc(data["date"], "Europe/Paris") if data.get("date") else None
    return event("gandi", derived_id(data), "event", obj, name, topic, domain, status, when, fmt, data,
                 domains=all_domains)


def gandi_mail(name, data, u_domains=False, preamble=True, cte="7bit", charset="utf-8"):
    lit = py_literal(data, u_domains)
    body = (("Hello,\n\nYou receive this notification because you subscribed to " + name + ".\n\n") if preamble else "") \
        + lit + "\n\n-- \nGandi SAS - 63-65 boulevard Massena, Paris\n"
    if cte == "quoted-printable":
        return simple(GANDI, f"[Gandi] {name}", quopri.encodestring(body.encode(charset)).decode("ascii"),
                      ctype=f"text/plain; charset={charset}", cte=cte)
    return simple(GANDI, f"[Gandi] {name}", body, cte=cte)


# The documentation's three reachability samples.
for status, date_end, date, created, u in [("pending", "2016-01-01 08:36:32", "2015-12-17 08:39:06", "2015-12-17 08:35:20", False),
                                           ("done", "2015-12-17 08:37:20", "2015-12-17 10:48:27", "2015-12-17 08:35:20", True),
                                           ("failed", "2015-12-17 10:55:59", "2015-12-17 10:59:06", "2015-12-17 10:53:59", True)]:
    d = {"status": status, "handle": "XXXX1234-GANDI", "platform": "production", "date_end": date_end, "date": date,
         "source_notification": "domain.reachability_reseller", "domains": "['pizzza.xyz']", "date_created": created}
    add(f"gandi-reachability-{status}", gandi_mail("domain.reachability_reseller", d, u_domains=u),
        [gandi_event("domain.reachability_reseller", d)])

d = {"platform": "production", "domain": "pizzza.xyz", "source_notification": "domain.transfer_out_done_reselle"}
add("gandi-transfer-out-done-reselle", gandi_mail("domain.transfer_out_done_reselle", d, preamble=False),
    [gandi_event("domain.transfer_out_done_reselle", d)])

others = {
    "domain.delete_foa": {"platform": "production", "domain": "to-delete.fr", "date": "2026-02-01 10:00:00",
                          "foa_sent_to": "owner@to-delete.fr", "source_notification": "domain.delete_foa"},
    "domain.delete_foa_reselle": {"platform": "production", "domain": "to-delete.fr", "date": "2026-02-01 10:00:01",
                                  "source_notification": "domain.delete_foa_reselle"},
    "domain.delete_done_reseller": {"platform": "production", "domain": "to-delete.fr", "date": "2026-02-06 12:00:00",
                                    "source_notification": "domain.delete_done_reseller"},
    "domain.transfer_out": {"platform": "production", "domain": "partir.fr", "date": "2026-07-14 09:00:00",
                            "effective_in_days": 5, "source_notification": "domain.transfer_out"},
    "domain.transfer_out_reselle": {"platform": "production", "domain": "partir.fr", "date": "2026-07-14 09:00:02",
                                    "source_notification": "domain.transfer_out_reselle", "auto_ack": True},
    "domain.contact_validation": {"platform": "production", "domain": "jardin-müller.co.uk", "date": "2026-01-15 16:20:00",
                                  "contact_name": "Jürgen Müller", "handle": "JM123-GANDI",
                                  "source_notification": "domain.contact_validation"},
    "iaas.create": {"platform": "production", "vm_id": 482211, "hostname": "web1", "datacenter": "FR-SD5",
                    "date": "2026-03-10 11:11:11", "source_notification": "iaas.create"},
    "iaas.update": {"platform": "production", "vm_id": 482211, "hostname": "web1", "memory": 4096, "cores": 2,
                    "date": "2026-03-11 08:00:00", "source_notification": "iaas.update"},
    "paas.create": {"platform": "production", "paas_id": 99120, "name": "shop-frontend", "type": "nodejs",
                    "date": "2026-04-01 14:30:00", "source_notification": "paas.create"},
    "site.create": {"platform": "production", "site_id": 7712, "url": "https://www.boutique-exemple.fr",
                    "date": "2026-04-02 10:00:00", "source_notification": "site.create"},
    "ssl.backend": {"platform": "production", "cert_id": 33012, "cn": "www.boutique-exemple.fr", "step": "dcv_pending",
                    "date": "2026-04-03 09:15:00", "source_notification": "ssl.backend", "wildcard": False},
    "domain.renewal_reminder": {"platform": "production", "domains": "['rappel-un.fr', 'rappel-deux.com']",
                                "expires_in_days": 30, "date": "2026-05-01 06:00:00",
                                "source_notification": "domain.renewal_reminder"},
    "billing.new_invoice": {"platform": "production", "invoice_id": "INV-2026-0042", "amount": 42.5, "currency": "EUR",
                            "date": "2026-06-01 00:05:00", "source_notification": "billing.new_invoice", "paid": None},
    "domain.change_owner": {"platform": "production", "domain": "nouveau-proprio.fr", "date": "2026-06-15 15:00:00",
                            "source_notification": "domain.change_owner"},
}
for name, d in others.items():
    if name == "domain.contact_validation":
        # ISO-8859-1, quoted-printable: Jürgen Müller arrives as =FC.
        add("gandi-contact-validation-latin1-qp", gandi_mail(name, d, cte="quoted-printable", charset="iso-8859-1"),
            [gandi_event(name, d)])
    else:
        add("gandi-" + name.replace(".", "-").replace("_", "-"), gandi_mail(name, d, u_domains=True), [gandi_event(name, d)])

# Relayed from Amazon SNS by email: the Python literal inside the JSON envelope.
d = {"status": "pending", "handle": "YYYY9876-GANDI", "platform": "production", "date_end": "2026-09-01 08:00:00",
     "date": "2026-08-18 08:00:00", "source_notification": "domain.reachability_reseller",
     "domains": "['sns-relay.xyz']", "date_created": "2026-08-18 07:59:00"}
sns = {"Type": "Notification", "MessageId": "5c2a1f7e-0d1b-5a44-9f0c-1f2e3d4c5b6a",
       "TopicArn": "arn:aws:sns:eu-west-1:123456789012:gandi-notifications", "Subject": "domain.reachability_reseller",
       "Message": py_literal(d), "Timestamp": "2026-08-18T06:00:01.123Z", "SignatureVersion": "1",
       "Signature": "EXAMPLEpH+DcEwjAPg8O9mY8dReBSwksfg2S7WKQcikcNKWLQjwu6A4VbeS0QHVCkhRS7fUQvi2egU3N858fiTDN6bkkOxYDVrY0Ad8L10Hs3zH81mtnPk5uvvolIC1CXGu43obcgFxeL3khZl8IKvO61GWB6jI9b5+gLPoBc1Q=",
       "SigningCertURL": "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-0000000000000000000000.pem",
       "UnsubscribeURL": "https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=arn:aws:sns:eu-west-1:123456789012:gandi-notifications:0000"}
add("gandi-sns-relay", simple("AWS Notifications <no-reply@sns.amazonaws.com>", "domain.reachability_reseller",
                              json.dumps(sns, indent=2) + "\n"), [gandi_event("domain.reachability_reseller", d)])

test_sentence = "Hello, this is a Gandi Notification test message for notification paas.create"
test_data = {"notification": "paas.create", "message": test_sentence}
add("gandi-test-message", simple(GANDI, "Gandi Notification test", test_sentence + "\n"),
    [event("gandi", derived_id(test_data), "test", "hosting", "paas.create", "test", None, None, None, "text", test_data)])

# ---------------------------------------------------------------- hostile mail (no event)

MAL = []
truncated = js(opensrs_payload("DOMAIN", "CREATED", "aaaa1111", "2026-01-01T00:00:00Z", domain_name="half.example",
                                domain_id="1"))[:70]
MAL.append(("truncated-json", simple(OPENSRS, "Event notification: DOMAIN: CREATED: aaaa1111", truncated)))
bomb = ('<?xml version="1.0"?>\n<!DOCTYPE OPS_envelope [\n <!ENTITY lol "lol">\n'
        + "".join(f' <!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">\n' for i in range(1, 10))
        + ']>\n<OPS_envelope><body><data_block><dt_assoc><item key="object">EVENT</item>'
        '<item key="attributes"><dt_assoc><item key="events"><dt_array><item key="0">&lol9;</item></dt_array></item>'
        '</dt_assoc></item></dt_assoc></data_block></body></OPS_envelope>\n')
MAL.append(("xml-entity-bomb", simple(OPENSRS, "OpenSRS poll reply", bomb)))
rng = random.Random(42)
MAL.append(("binary-garbage", bytes(rng.getrandbits(8) for _ in range(8192))))
MAL.append(("empty", b""))
MAL.append(("headers-only", render(headers(OPENSRS, "Event notification: DOMAIN: CREATED: nobody"), "")[:-4]))
MAL.append(("marketing-no-payload", simple("OpenSRS <marketing@opensrs.net>", "New TLDs this month!",
            "Dear reseller,\n\nwe are happy to announce 12 new TLDs {including .shop}.\nPrices start at $9.99.\n\nThe OpenSRS team\n")))
MAL.append(("html-newsletter", simple("Gandi <newsletter@gandi.net>", "Gandi news",
            "<html><body><h1>News</h1><p>Save 20% on .fr &amp; .eu</p><script>var x = {a: 1};</script></body></html>",
            ctype="text/html; charset=utf-8")))
MAL.append(("json-not-a-notification", simple("monitor@reseller.example", "status", '{"hello": "world", "ok": true}\n')))
MAL.append(("deep-json", simple(OPENSRS, "Event notification: DOMAIN: CREATED: deep", '{"a":' * 5000 + "1" + "}" * 5000)))


def main():
    names = set()
    os.makedirs(OUT, exist_ok=True)
    for name, eml, events in SAMPLES:
        assert name not in names, name
        names.add(name)
        with open(os.path.join(OUT, name + ".eml"), "wb") as f:
            f.write(eml)
        with open(os.path.join(OUT, name + ".json"), "w", encoding="utf-8") as f:
            json.dump([with_status_text(e) for e in events], f, indent=2, ensure_ascii=False)
            f.write("\n")
    os.makedirs(OUT, exist_ok=True)
    print(f"{len(SAMPLES)} samples, {sum(len(e) for _, _, e in SAMPLES)} events")


if __name__ == "__main__":
    main()
