#!/usr/bin/env python3
"""Writes a synthetic mbox of registrar notification emails for benchmarks and the
crash-safety test, and prints what a correct import of it must report.

    gen_mbox.py OUT.mbox --messages 100000 [--seed 1]

The mix: OpenSRS JSON, OPS XML with two events, AutoDNS JSON/XML/EPP/Standard text,
Gandi Python literals and test messages; about 8% exact duplicate emails, 6% the same
event again in a different email, 6% junk (newsletters, truncated JSON). The expected
summary of a first import into an empty database goes to stdout as JSON:
{"messages": N, "events_new": U, "duplicates": D, "quarantined": Q}.
"""
import argparse
import hashlib
import json
import random


def opensrs(rng, i):
    eid = hashlib.md5(f"opensrs-{i}".encode()).hexdigest()
    kind = rng.choice(["created", "ns", "transfer", "zone", "renewed"])
    dom = f"d{i}.example.com"
    if kind == "created":
        obj, ev, od = "DOMAIN", "CREATED", {"domain_name": dom, "domain_id": str(i), "expiration_date": "2027-04-01T04:00:00Z"}
    elif kind == "ns":
        obj, ev, od = "DOMAIN", "NAMESERVER_UPDATE", {"domain_name": dom, "domain_id": str(i), "nameserver_list": ["ns1.systemdns.com", "ns2.systemdns.com"]}
    elif kind == "transfer":
        obj, ev, od = "TRANSFER", "STATUS_CHANGE", {"domain_name": dom, "transfer_id": str(i), "order_id": 0, "transfer_status": rng.choice(["completed", "pending_owner", "cancelled"])}
    elif kind == "zone":
        obj, ev, od = "DOMAIN", "ZONE_CHECK_STATUS_CHANGE", {"domain_name": f"d{i}.example.de", "domain_id": str(i), "zone_check_status": rng.choice(["valid", "invalid"])}
    else:
        obj, ev, od = "DOMAIN", "RENEWED", {"domain_name": dom, "domain_id": str(i), "expiration_date": "2028-04-01T04:00:00Z", "period": 1}
    payload = {"object_data": od, "object": obj, "event_id": eid, "event": ev, "event_date": "2026-09-09T21:16:22Z"}
    subject = f"Event notification: {obj}: {ev}: {eid}"
    return "notifications@opensrs.net", subject, json.dumps(payload, separators=(",", ":")), 1


def ops_xml(rng, i):
    items = []
    for k in range(2):
        eid = hashlib.md5(f"ops-{i}-{k}".encode()).hexdigest()
        items.append(f"""        <item key="{k}">
         <dt_assoc>
          <item key="object_data"><dt_assoc><item key="domain_name">z{i}-{k}.example.fr</item><item key="domain_id">{i}</item><item key="zone_check_status">invalid</item></dt_assoc></item>
          <item key="object">DOMAIN</item>
          <item key="event_id">{eid}</item>
          <item key="event">ZONE_CHECK_STATUS_CHANGE</item>
          <item key="event_date">2026-05-27T19:29:25Z</item>
         </dt_assoc>
        </item>""")
    body = f"""<?xml version='1.0' encoding="UTF-8" standalone="no" ?>
<!DOCTYPE OPS_envelope SYSTEM "ops.dtd">
<OPS_envelope><header><version>0.9</version></header><body><data_block><dt_assoc>
<item key="protocol">XCP</item><item key="object">EVENT</item><item key="action">REPLY</item>
<item key="attributes"><dt_assoc><item key="events"><dt_array>
{chr(10).join(items)}
</dt_array></item><item key="total">2</item></dt_assoc></item>
</dt_assoc></data_block></body></OPS_envelope>"""
    return "notifications@opensrs.net", "OpenSRS event poll reply", body, 2


def autodns_json(rng, i):
    mid = 100000000 + i
    if rng.random() < 0.5:
        name = rng.choice(["transfer_start", "transfer_autoack", "autoupdate_dns_error", "ocval_reminder"])
        item = {"id": mid, "notify": {"type": name}, "stid": f"20260512-app3-{i}",
                "object": {"type": "Domain", "value": f"a{i}.example.de", "data": {"name": f"a{i}.example.de"}}}
    else:
        item = {"summary": 1, "message": {"id": mid, "job": {"id": 4295609745 + i, "domain": {"name": f"a{i}.example.com"}},
                "stid": f"20260926-stid-{i}", "object": {"type": "domain", "value": f"a{i}.example.com"},
                "status": {"code": "S0101", "type": rng.choice(["SUCCESS", "ERROR"])}}}
    payload = {"stid": f"poll-{i}", "status": {"code": "S0905", "text": "The notification was polled successfully.", "type": "SUCCESS"},
               "object": {"type": "Message", "value": str(mid), "summary": 1}, "data": [item]}
    return "noreply@autodns.com", "AutoDNS notification", json.dumps(payload, indent=2), 1


def autodns_xml(rng, i):
    mid = 200000000 + i
    body = f"""<response><result><data><summary>1</summary><message><id>{mid}</id><owner><user>reseller</user><context>4</context></owner>
<job><domain><name>x{i}.example.org</name></domain><job_id>{i}</job_id><status><code>S0101</code><type>success</type>
<object><type>domain</type><value>x{i}.example.org</value></object></status></job><created>2026-10-15 14:03:02</created></message></data>
<status><code>S0905</code><text>The notification was polled successfully.</text><type>success</type></status></result></response>"""
    return "noreply@autodns.com", "AutoDNS notification", body, 1


def epp(rng, i):
    mid = 300000000 + i
    body = f"""<?xml version="1.0" encoding="UTF-8"?>
<epp xmlns="urn:ietf:params:xml:ns:epp-1.0" xmlns:domain="urn:ietf:params:xml:ns:domain-1.0"><response>
<result code="1301"><msg lang="en">Command completed successfully; ack to dequeue</msg></result>
<msgQ count="1" id="{mid}"><qDate>2026-07-14T13:46:33.000Z</qDate></msgQ>
<resData><domain:panData><domain:name paResult="1">e{i}.example.net</domain:name>
<domain:paTRID><clTRID>C-{i}</clTRID><svTRID>S-{i}</svTRID></domain:paTRID><domain:paDate>2026-07-31T13:46:33.000Z</domain:paDate></domain:panData></resData>
<trID><clTRID>c-{i}</clTRID><svTRID>{i}</svTRID></trID></response></epp>"""
    return "noreply@autodns.com", "EPP poll message", body, 1


def standard_text(rng, i):
    body = f"""Dear customer,

the following job has been processed.

<system>
task: 0104 Domain Transfer
status: S0104 [The domain transfer was
  completed successfully]
stid: 20261001-app1-{i}
</system>
<reply>
success_value: domain: t{i}.example.de
kk_answer: AUTOACK
</reply>

Kind regards
Your AutoDNS team"""
    return "support@internetx.com", "AutoDNS: job result", body, 1


def gandi(rng, i):
    status = rng.choice(["pending", "done", "failed"])
    body = f"""Hello,

{{'status': '{status}',
 'handle': 'XX{i}-GANDI',
 'platform': 'production',
 'date_end': '2026-01-01 08:36:32',
 'date': '2026-12-17 08:39:06',
 'source_notification': 'domain.reachability_reseller',
 'domains': u"['g{i}.example.xyz']",
 'date_created': '2026-12-17 08:35:20'}}

-- 
Gandi"""
    return "noreply@gandi.net", "[Gandi] domain.reachability_reseller", body, 1


def gandi_test(rng, i):
    name = rng.choice(["paas.create", "iaas.create", "domain.transfer_out", "site.create", "ssl.backend"])
    # Each test names its notification; identical tests are the same event.
    return "noreply@gandi.net", "Gandi notification test", f"Hello, this is a Gandi Notification test message for notification {name}\n", 1


def junk(rng, i):
    if rng.random() < 0.5:
        return "news@registrar.example", "Our autumn newsletter", "Dear reseller,\n\nnew TLDs are here!\n\nRegards\n", 0
    return "notifications@opensrs.net", f"Event notification: DOMAIN: CREATED: junk{i}", '{"object_data":{"domain_name":"trunc' + str(i), 0


KINDS = [(opensrs, 40), (ops_xml, 5), (autodns_json, 14), (autodns_xml, 6), (epp, 5),
         (standard_text, 5), (gandi, 12), (gandi_test, 1)]


def email(sender, subject, body, n):
    return (f"From: {sender}\nTo: reseller@example.com\nSubject: {subject}\n"
            f"Date: Sun, 22 Nov 2026 09:00:00 +0000\nMessage-ID: <synth-{n}@mailroom.test>\n"
            f"MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n{body}\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--messages", type=int, default=100000)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    weights = [w for _, w in KINDS]
    written = []            # (raw, events, event keys)
    seen_events = set()
    seen_raw = {}
    summary = {"messages": 0, "events_new": 0, "duplicates": 0, "quarantined": 0}
    gandi_tests = set()
    with open(a.out, "w", encoding="utf-8", newline="\n") as f:
        for n in range(a.messages):
            r = rng.random()
            if written and r < 0.08:
                raw, keys = rng.choice(written)          # the very same email again
            elif written and r < 0.14:
                old_raw, keys = rng.choice(written)      # the same event in another email
                head, _, body = old_raw.partition("\n\n")
                raw = "From: forwarder@example.com\nTo: reseller@example.com\nSubject: Fwd: notification\n" \
                      f"Message-ID: <fwd-{n}@mailroom.test>\nContent-Type: text/plain; charset=utf-8\n\n" \
                      "---------- Forwarded message ---------\n" + body
                if not keys:
                    keys = []
            elif r < 0.20:
                raw, keys = email(*junk(rng, n)[:3], n), []
            else:
                fn = rng.choices([k for k, _ in KINDS], weights)[0]
                sender, subject, body, count = fn(rng, n)
                raw = email(sender, subject, body, n)
                keys = [("x", n, k) for k in range(count)]
                if fn is gandi_test:
                    keys = [("gandi-test", body)]
                written.append((raw, keys))
            summary["messages"] += 1
            if not keys:
                summary["quarantined"] += 1
            for k in keys:
                if k in seen_events:
                    summary["duplicates"] += 1
                else:
                    seen_events.add(k)
                    summary["events_new"] += 1
            f.write(f"From mailroom-synth Sun Nov 22 09:00:{n % 60:02d} 2026\n")
            for line in raw.split("\n"):
                if line.lstrip(">").startswith("From "):
                    line = ">" + line
                f.write(line + "\n")
            f.write("\n")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
