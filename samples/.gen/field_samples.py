#!/usr/bin/env python3
"""Golden samples for issue 10 ("read what registrars really send"): writes
samples/field/NAME.eml beside samples/field/NAME.json.

Payloads come from the registrars' own documentation and from registry fixtures:
- InterNetX help, "Notify Object" (every notification type), "OCVAL notifications"
  (domain_deactivation_warning, JSON and XML), "TransferOut notifications",
  "AutoDNS messages" (job status types Success / Failed / Running), "Domain Prereg
  Confirm" (immediate reply, JSON and XML), "Processing Transfer-In and Ownerchange
  Jobs" (the Standard text reply with <system> and <reply>);
- OpenSRS API guide event pages (MESSAGE_STATUS_CHANGE, ICANN_TRADE_STATUS_CHANGE, the
  status values of TRANSFER STATUS_CHANGE and REGISTRANT_VERIFICATION_STATUS_CHANGE);
- EPP: RFC 5730/5731 (msgQ, panData, trnData), Net::DRI's registry fixtures for DNS
  Belgium (dnsbe:pollRes), Norid and nic.at (message type=…), and .se IIS
  (iis:deleteNotify/domain:delete, iis:transferNotify/domain:trnData,
  iis:updateNotify/domain:infData).

Every golden field is a literal here, written from those pages and docs/EVENTS.md;
only `data` is computed, and only by the documented mapping (the JSON payload item
itself, or the XML element by the XML-to-JSON rule of docs/EVENTS.md). Never from
mailroom's output.

    python3 samples/.gen/field_samples.py
"""
import json
import os
from xml.dom import minidom

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(os.path.dirname(HERE), "field")
COUNT = [0]


# ------------------------------------------------------------------ helpers

def xml_json(el):
    """The documented XML-to-JSON rule: attributes as `@name` (namespace declarations
    left out), children by qualified name (repeats become an array), `#text`; an
    element with neither attributes nor children is its trimmed text."""
    attrs = [(k, v) for k, v in el.attributes.items() if k != "xmlns" and not k.startswith("xmlns:")]
    kids = [c for c in el.childNodes if c.nodeType == c.ELEMENT_NODE]
    text = "".join(c.data for c in el.childNodes
                   if c.nodeType in (c.TEXT_NODE, c.CDATA_SECTION_NODE)).strip()
    if not attrs and not kids:
        return text
    m = {}
    for k, v in attrs:
        m["@" + k] = v
    for c in kids:
        v = xml_json(c)
        if c.tagName in m:
            if isinstance(m[c.tagName], list):
                m[c.tagName].append(v)
            else:
                m[c.tagName] = [m[c.tagName], v]
        else:
            m[c.tagName] = v
    if text:
        m["#text"] = text
    return m


def child(el, local):
    for c in el.childNodes:
        if c.nodeType == c.ELEMENT_NODE and c.tagName.split(":")[-1] == local:
            return c
    return None


def ev(registrar, event_id, kind, obj, type_, topic, domain, status, status_text,
       occurred_at, fmt, data, domains=None):
    return {
        "registrar": registrar,
        "event_id": event_id,
        "kind": kind,
        "object": obj,
        "type": type_,
        "topic": topic,
        "domain": domain,
        "domains": domains if domains is not None else ([domain] if domain else []),
        "status": status,
        "status_text": status_text,
        "occurred_at": occurred_at,
        "format": fmt,
        "data": data,
    }


def mail(frm, subject, date, body, ctype="text/plain; charset=UTF-8", mid=None):
    COUNT[0] += 1
    host = frm.split("@")[-1].rstrip(">")
    mid = mid or "<field-%03d.issue10@%s>" % (COUNT[0], host)
    head = [
        "Date: " + date,
        "From: " + frm,
        "To: Domain Ops <domains@reseller.example>",
        "Subject: " + subject,
        "Message-ID: " + mid,
        "MIME-Version: 1.0",
        "Content-Type: " + ctype,
        "Content-Transfer-Encoding: 8bit",
    ]
    return "\n".join(head) + "\n\n" + body.rstrip("\n") + "\n"


def write(name, eml, events):
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, name + ".eml"), "w", encoding="utf-8", newline="\n") as f:
        f.write(eml)
    with open(os.path.join(OUT, name + ".json"), "w", encoding="utf-8", newline="\n") as f:
        f.write(json.dumps(events, indent=2, ensure_ascii=False) + "\n")


AUTODNS = "AutoDNS <noreply@autodns.com>"
OPENSRS = "OpenSRS <notifications@opensrs.net>"
DATE = "Mon, 02 Nov 2026 09:00:00 +0100"


# ------------------------------------------------------------------ AutoDNS notify types

def poll(items, value):
    return {
        "stid": "20261102-app3-9001",
        "status": {"code": "S0905", "text": "The notification was polled successfully.",
                   "type": "SUCCESS"},
        "object": {"type": "Message", "value": value, "summary": len(items)},
        "data": items,
    }


# (type, topic, object, status, created (UTC), object of the message or None)
NOTIFY = [
    ("transfer_autoack_success", "transfer.out", "domain", "success", "example-ack.com"),
    ("transfer_autoack_failed", "transfer.out", "domain", "error", "example-ack-fail.com"),
    ("transfer_autonack_pending", "transfer.out", "domain", "pending", "example-nack.net"),
    ("transfer_autonack_success", "transfer.out", "domain", "success", "example-nack.org"),
    ("transfer_autonack_failed", "transfer.out", "domain", "error", "example-nack-fail.org"),
    ("domain_expire", "domain.expired", "domain", "expired", "expired-name.de"),
    ("domain_expire_warning", "domain.renewal_reminder", "domain", "pending", "expiring-soon.com"),
    ("domain_registrar_status_update", "domain.status_changed", "domain", None, "status-change.eu"),
    ("domain_deactivation_warning", "contact.validation", "domain", "pending", "example.com"),
    ("authinfo_delete", "domain.authinfo", "domain", "pending", "authinfo-start.net"),
    ("authinfo_deleted", "domain.authinfo", "domain", "completed", "authinfo-gone.net"),
    ("tmch_claim_notice_reminder", "trademark.claim_notice", "domain", "pending", "brandname.shop"),
    ("domain_prereg_failed", "domain.preregistration", "domain", "error", "example.web"),
    ("domain_prereg_decline", "domain.preregistration", "domain", "rejected", "declined.web"),
    ("domain_prereg_accept", "domain.preregistration", "domain", "approved", "accepted.app"),
    ("domain_prereg_sent", "domain.preregistration", "domain", "pending", "sent-prereg.app"),
]


def notify_samples():
    mid = 1012500000
    for i, (type_, topic, obj, status, domain) in enumerate(NOTIFY):
        mid += 1
        object_type = "DomainPrereg" if type_.startswith("domain_prereg") else "Domain"
        item = {
            "id": mid,
            "notify": {"type": type_},
            "stid": "20261101-app3-%d" % (100 + i),
            "object": {"type": object_type, "value": domain, "data": {"name": domain}},
            "created": "2026-11-01T10:%02d:00.000+0100" % i,
        }
        body = json.dumps(poll([item], str(mid)), indent=4)
        eml = mail(AUTODNS, "AutoDNS Notification %d: %s %s" % (mid, type_, domain), DATE, body)
        write("autodns-notify-" + type_.replace("_", "-"), eml, [
            ev("autodns", str(mid), "event", obj, type_, topic, domain, status, None,
               "2026-11-01T09:%02d:00Z" % i, "json", item)])

    # The TMCH notifications are about a trademark mark, not a domain.
    for i, (type_, status) in enumerate([("tmch_status_update", "pending"),
                                         ("tmch_status_update_success", "success"),
                                         ("tmch_status_update_failed", "error")]):
        mid += 1
        item = {
            "id": mid,
            "notify": {"type": type_},
            "object": {"type": "TmchMark", "value": "0000061236-1"},
        }
        body = json.dumps(poll([item], str(mid)), indent=4)
        eml = mail(AUTODNS, "AutoDNS Notification %d: %s" % (mid, type_), DATE, body)
        write("autodns-notify-" + type_.replace("_", "-"), eml, [
            ev("autodns", str(mid), "event", "trademark", type_, "trademark.status", None,
               status, None, None, "json", item)])

    # XML twins (the <notify> shape of the TransferOut and OCVAL pages).
    for mid, type_, topic, status, domain, inner in [
        ("1005360901", "transfer_autonack_pending", "transfer.out", "pending", "example-nack.de",
         "<transfer><gaining_registrar>greg</gaining_registrar><loosing_registrar>lreg</loosing_registrar>"
         "<start>2021-05-03 11:05:56</start><end>2021-05-08 11:05:56</end></transfer>"),
        ("1005360902", "domain_expire_warning", "domain.renewal_reminder", "pending",
         "expiring-soon.de", "<expire>2021-06-01 00:00:00</expire>"),
    ]:
        xml = ("<response><result><data><summary>1</summary><message><id>%s</id><owner />"
               "<notify><domain><name>%s</name></domain>%s<type>%s</type></notify>"
               "<created>2021-05-03 11:05:56</created></message></data>"
               "<status><code>S0905</code><text>The notification was polled successfully.</text>"
               "<type>success</type><object><type>message</type><value>%s</value></object></status>"
               "</result><stid>20210503-app3-1</stid></response>") % (mid, domain, inner, type_, mid)
        msg = child(child(child(minidom.parseString(xml).documentElement, "result"), "data"), "message")
        write("autodns-notify-xml-" + type_.replace("_", "-"),
              mail(AUTODNS, "AutoDNS Notification %s" % mid, DATE, xml, "text/xml; charset=UTF-8"),
              [ev("autodns", mid, "event", "domain", type_, topic, domain, status, None,
                  "2021-05-03T09:05:56Z", "xml", xml_json(msg))])

    # The OCVAL reminder as the help page shows it, JSON ...
    item = {
        "id": 1005368401,
        "notify": {"type": "domain_deactivation_warning"},
        "object": {"type": "Domain", "value": "example.com",
                   "data": {"owner": {"context": 4, "user": "normal_user"}, "name": "example.com"}},
    }
    body = json.dumps({
        "stid": "20210506-app3-dev-11105",
        "status": {"code": "S0905", "text": "The notification was polled successfully.", "type": "SUCCESS"},
        "object": {"type": "Message", "value": "1005368401", "summary": 1},
        "data": [item],
    }, indent=2)
    write("autodns-ocval-reminder-deactivation-warning-json",
          mail(AUTODNS, "AutoDNS Notification 1005368401", DATE, body),
          [ev("autodns", "1005368401", "event", "domain", "domain_deactivation_warning",
              "contact.validation", "example.com", "pending", None, None, "json", item)])
    # ... and XML.
    xml = """<response>
   <result>
      <data>
         <summary>1</summary>
         <message>
            <id>1005368401</id>
            <owner>
               <user>normal_user</user>
               <context>4</context>
            </owner>
            <notify>
               <reason>ocval</reason>
               <deactivation>2021-05-11 15:29:00</deactivation>
               <domain>
                  <name>example.com</name>
                  <owner>
                     <user>normal_user</user>
                     <context>4</context>
                  </owner>
               </domain>
               <type>domain_deactivation_warning</type>
               <status>
                  <code>S0102006</code>
                  <type>success</type>
               </status>
            </notify>
         </message>
      </data>
      <status>
         <code>S0905</code>
         <text>The notification was polled successfully.</text>
         <type>success</type>
         <object>
            <type>message</type>
            <value>1005368401</value>
         </object>
      </status>
   </result>
   <stid>20210506-app3-dev-11105</stid>
</response>"""
    msg = child(child(child(minidom.parseString(xml).documentElement, "result"), "data"), "message")
    write("autodns-ocval-reminder-deactivation-warning-xml",
          mail(AUTODNS, "AutoDNS Notification 1005368401", DATE, xml, "text/xml; charset=UTF-8"),
          [ev("autodns", "1005368401", "event", "domain", "domain_deactivation_warning",
              "contact.validation", "example.com", "pending", None, None, "xml", xml_json(msg))])


# ------------------------------------------------------------------ AutoDNS job shapes

def job_samples():
    # Unwrapped job message with a status block, about a contact: no domain.
    item = {
        "id": 1012077001,
        "job": {"id": 4295700001},
        "stid": "20260201-app1-5001",
        "object": {"type": "Contact", "value": "23334071"},
        "status": {"code": "S0301", "text": "Domain contact has been successfully created.",
                   "type": "SUCCESS"},
        "created": "2026-02-01T10:00:00.000+0100",
    }
    write("autodns-job-unwrapped-contact-json",
          mail(AUTODNS, "AutoDNS Notification 1012077001: S0301", DATE,
               json.dumps(poll([item], "1012077001"), indent=4)),
          [ev("autodns", "1012077001", "job", "contact", "S0301", "job.result", None, "success",
              "Domain contact has been successfully created.", "2026-02-01T09:00:00Z", "json", item)])

    # Wrapped job message with only the job's own state (RUNNING), domain from the transfer.
    item = {"message": {
        "id": 1012077002,
        "job": {"id": 4295700002, "status": "RUNNING", "transfer": {"domain": "example.net"}},
        "stid": "20260202-app1-5002",
        "created": "2026-02-02T11:00:00.000+0100",
    }}
    write("autodns-job-wrapped-running-json",
          mail(AUTODNS, "AutoDNS Notification 1012077002", DATE,
               json.dumps(poll([item], "1012077002"), indent=4)),
          [ev("autodns", "1012077002", "job", "domain", "RUNNING", "job.result", "example.net",
              "running", None, "2026-02-02T10:00:00Z", "json", item)])

    # Unwrapped job message with only job.status FAILED (German docs: failed = error).
    item = {
        "id": 1012077003,
        "job": {"id": 4295700003, "status": "FAILED", "domain": {"name": "fehlgeschlagen.de"}},
        "stid": "20260203-app1-5003",
        "created": "2026-02-03T12:00:00.000+0100",
    }
    write("autodns-job-unwrapped-failed-json",
          mail(AUTODNS, "AutoDNS Notification 1012077003", DATE,
               json.dumps(poll([item], "1012077003"), indent=4)),
          [ev("autodns", "1012077003", "job", "domain", "FAILED", "job.result",
              "fehlgeschlagen.de", "error", None, "2026-02-03T11:00:00Z", "json", item)])

    # Unwrapped job message, only job.status SUCCESS, domain in the object.
    item = {
        "id": 1012077004,
        "job": {"id": 4295700004, "status": "SUCCESS"},
        "object": {"type": "Domain", "value": "renewed-name.com"},
    }
    write("autodns-job-unwrapped-success-json",
          mail(AUTODNS, "AutoDNS Notification 1012077004", DATE,
               json.dumps(poll([item], "1012077004"), indent=4)),
          [ev("autodns", "1012077004", "job", "domain", "SUCCESS", "job.result",
              "renewed-name.com", "success", None, None, "json", item)])

    # The immediate reply of "Domain Prereg Confirm" (help page), JSON ...
    reply = {
        "stid": "20210827-app-88305",
        "status": {"code": "N0110007",
                   "text": "The confirmation of the preregistration was started successfully.",
                   "type": "NOTIFY"},
        "object": {"type": "DomainPrereg", "value": "example.web",
                   "data": {"name": "example.web", "orderReference": "1c3d6112-c4ac"}},
    }
    write("autodns-reply-prereg-confirm-json",
          mail(AUTODNS, "AutoDNS: N0110007 example.web", DATE, json.dumps(reply, indent=4)),
          [ev("autodns", "20210827-app-88305", "job", "domainprereg", "N0110007", "job.result",
              "example.web", "pending",
              "The confirmation of the preregistration was started successfully.", None, "json",
              reply)])

    # ... and XML.
    xml = """<response>
    <result>
        <data>
            <domain_prereg>
                <order_reference>1b3d6110-c4ac</order_reference>
            </domain_prereg>
        </data>
        <status>
            <code>N0110007</code>
            <text>The confirmation of the preregistration was started successfully.</text>
            <type>notify</type>
            <object>
                <type>domain_prereg</type>
                <value>example.web</value>
            </object>
        </status>
    </result>
    <stid>20210827-app-88480</stid>
</response>"""
    write("autodns-reply-prereg-confirm-xml",
          mail(AUTODNS, "AutoDNS: N0110007 example.web", DATE, xml, "text/xml; charset=UTF-8"),
          [ev("autodns", "20210827-app-88480", "job", "domain_prereg", "N0110007", "job.result",
              "example.web", "pending",
              "The confirmation of the preregistration was started successfully.", None, "xml",
              xml_json(minidom.parseString(xml).documentElement))])

    # Immediate reply that reports on a job started for a domain (transfer).
    reply = {
        "stid": "20260301-app1-4242",
        "status": {"code": "N0104", "text": "The domain transfer was started successfully.",
                   "type": "NOTIFY"},
        "object": {"type": "Domain", "value": "incoming-transfer.com"},
        "data": [{"id": 4295700010, "status": "RUNNING"}],
    }
    write("autodns-reply-transfer-started-json",
          mail(AUTODNS, "AutoDNS: N0104 incoming-transfer.com", DATE, json.dumps(reply, indent=4)),
          [ev("autodns", "20260301-app1-4242", "job", "domain", "N0104", "job.result",
              "incoming-transfer.com", "pending", "The domain transfer was started successfully.",
              None, "json", reply)])

    # The real-time reply to a domain update (help page "Domain Update"), JSON ...
    reply = {
        "stid": "20190701-app3-dev-9048",
        "status": {"code": "N0102", "text": "Domain-Aktualisierung erfolgreich gestartet.",
                   "type": "NOTIFY"},
        "object": {"type": "Domain", "value": "example.com"},
        "data": [{
            "created": "2019-07-01T09:41:58.000+0200",
            "updated": "2019-07-01T09:41:58.000+0200",
            "owner": {"context": 4, "user": "customer"},
            "updater": {"context": 4, "user": "customer"},
            "status": "RUNNING",
            "execution": "2019-07-01T09:41:57.000+0200",
            "id": 4297543151,
        }],
    }
    write("autodns-reply-domain-update-started-json",
          mail(AUTODNS, "AutoDNS: N0102 example.com", DATE, json.dumps(reply, indent=4)),
          [ev("autodns", "20190701-app3-dev-9048", "job", "domain", "N0102", "job.result",
              "example.com", "pending", "Domain-Aktualisierung erfolgreich gestartet.", None,
              "json", reply)])
    # ... and XML (the job inside <domain_job>, state NOT_SET).
    xml = """<response>
\t<result>
\t\t<data>
\t\t\t<domain_job>
\t\t\t\t<job>
\t\t\t\t\t<id>4295210826</id>
\t\t\t\t\t<status>NOT_SET</status>
\t\t\t\t</job>
\t\t\t</domain_job>
\t\t</data>
\t\t<status>
\t\t\t<code>N0102</code>
\t\t\t<text>Domain-Aktualisierung erfolgreich gestartet</text>
\t\t\t<type>notify</type>
\t\t\t<object>
\t\t\t\t<type>domain</type>
\t\t\t\t<value>example.com</value>
\t\t\t</object>
\t\t</status>
\t</result>
\t<stid>20180213-app2-17296</stid>
</response>"""
    write("autodns-reply-domain-update-started-xml",
          mail(AUTODNS, "AutoDNS: N0102 example.com", DATE, xml, "text/xml; charset=UTF-8"),
          [ev("autodns", "20180213-app2-17296", "job", "domain", "N0102", "job.result",
              "example.com", "pending", "Domain-Aktualisierung erfolgreich gestartet", None, "xml",
              xml_json(minidom.parseString(xml).documentElement))])

    # A certificate job polled (help page "Polling"): only the job's state; the
    # certificate's object value names the domain.
    item = {
        "id": 51646140,
        "job": {
            "created": "2021-05-05T10:22:04.000+0200",
            "updated": "2021-05-05T10:22:12.000+0200",
            "status": "SUCCESS",
            "execution": "2021-05-05T10:22:04.000+0200",
            "subType": "BASIC_SSL",
            "action": "create",
            "id": 28983240,
        },
        "stid": "20210505-app1-102766",
        "object": {"type": "Certificate", "value": "domain.de",
                   "data": {"created": "2021-05-05T00:00:00.000+0200",
                            "updated": "2021-05-05T10:22:12.000+0200",
                            "id": 2452924, "partnerOrderId": "IX-CC-28983240",
                            "orderId": "033328606"}},
    }
    body = json.dumps({
        "stid": "20210505-app4-106167",
        "status": {"code": "S0905", "text": "The notification was polled successfully.", "type": "SUCCESS"},
        "object": {"type": "Message", "value": "51646140", "summary": 1},
        "data": [item],
    }, indent=4)
    write("autodns-job-certificate-state-only-json",
          mail(AUTODNS, "AutoDNS Notification 51646140", DATE, body),
          [ev("autodns", "51646140", "job", "certificate", "SUCCESS", "job.result", "domain.de",
              "success", None, None, "json", item)])

    # XML job message with only the job's state.
    xml = """<response>
  <result>
    <data>
      <summary>1</summary>
      <message>
        <id>1012077020</id>
        <job>
          <job_id>4295700020</job_id>
          <status>SUCCESS</status>
          <domain>
            <name>example.org</name>
          </domain>
        </job>
        <object>
          <type>domain</type>
          <value>example.org</value>
        </object>
        <created>2026-03-02 10:00:00</created>
      </message>
    </data>
  </result>
  <stid>20260302-app1-6001</stid>
</response>"""
    msg = child(child(child(minidom.parseString(xml).documentElement, "result"), "data"), "message")
    write("autodns-job-xml-job-status-only",
          mail(AUTODNS, "AutoDNS Notification 1012077020", DATE, xml, "text/xml; charset=UTF-8"),
          [ev("autodns", "1012077020", "job", "domain", "SUCCESS", "job.result", "example.org",
              "success", None, "2026-03-02T09:00:00Z", "xml", xml_json(msg))])

    # XML job message whose status block sits in the message, with its text.
    xml = """<response>
  <result>
    <data>
      <summary>1</summary>
      <message>
        <id>1012077021</id>
        <job>
          <job_id>4295700021</job_id>
          <domain>
            <name>updated-name.de</name>
          </domain>
        </job>
        <status>
          <code>S0102</code>
          <text>The domain has been updated successfully.</text>
          <type>success</type>
          <object>
            <type>domain</type>
            <value>updated-name.de</value>
          </object>
        </status>
        <created>2026-07-01 10:00:00</created>
      </message>
    </data>
  </result>
  <stid>20260701-app1-6002</stid>
</response>"""
    msg = child(child(child(minidom.parseString(xml).documentElement, "result"), "data"), "message")
    write("autodns-job-xml-message-status-text",
          mail(AUTODNS, "AutoDNS Notification 1012077021", DATE, xml, "text/xml; charset=UTF-8"),
          [ev("autodns", "1012077021", "job", "domain", "S0102", "job.result", "updated-name.de",
              "success", "The domain has been updated successfully.", "2026-07-01T08:00:00Z", "xml",
              xml_json(msg))])

    # A mistyped closing tag (</sitd>): read by the tolerant pass, marked recovered.
    good = xml.replace("1012077021", "1012077022").replace("6002", "6003")
    broken = good.replace("<stid>20260701-app1-6003</stid>", "<stid>20260701-app1-6003</sitd>")
    msg = child(child(child(minidom.parseString(good).documentElement, "result"), "data"), "message")
    data = xml_json(msg)
    data["recovered"] = True
    write("autodns-job-xml-mistyped-closing-tag",
          mail(AUTODNS, "AutoDNS Notification 1012077022", DATE, broken, "text/xml; charset=UTF-8"),
          [ev("autodns", "1012077022", "job", "domain", "S0102", "job.result", "updated-name.de",
              "success", "The domain has been updated successfully.", "2026-07-01T08:00:00Z", "xml",
              data)])


# ------------------------------------------------------------------ AutoDNS Standard text

def standard_samples():
    body = """Dear customer,

the following job has been processed.

<system>
\tuser: a3qs
\ttask: 0104001
\tstatus: S0104001 [The incoming domain transfer (ACK) has been completed successfully.]
\tnotice: MSG01050 [OwnerC has been imported.]
\ttransaction: qs1258619858
\tlast_transaction: qs1258619858 
</system>
<reply>
\ttld: eu
\tsld: example
\towner: a3qs
\towner_context: 1
\towner-c: 10431169
\tadmin-c: 10431162
\ttech-c: 10431162
\tzone-c: 10431162
\tnserver: ns1.example,com
\tnserver: ns2.example.com
\tperiod: 1
\tstatus: success
\tauthinfo:
</reply>
<notify></notify>

Kind regards
Your AutoDNS team
"""
    data = {
        "system": {
            "user": "a3qs", "task": "0104001",
            "status": "S0104001 [The incoming domain transfer (ACK) has been completed successfully.]",
            "notice": "MSG01050 [OwnerC has been imported.]",
            "transaction": "qs1258619858", "last_transaction": "qs1258619858",
        },
        "reply": {
            "tld": "eu", "sld": "example", "owner": "a3qs", "owner_context": "1",
            "owner-c": "10431169", "admin-c": "10431162", "tech-c": "10431162",
            "zone-c": "10431162", "nserver": ["ns1.example,com", "ns2.example.com"],
            "period": "1", "status": "success", "authinfo": "",
        },
    }
    write("autodns-standard-transfer-in-sld-tld",
          mail(AUTODNS, "AutoDNS: S0104001 example.eu", DATE, body),
          [ev("autodns", "qs1258619858", "job", "domain", "S0104001", "job.result", "example.eu",
              "success", "The incoming domain transfer (ACK) has been completed successfully.",
              None, "text", data)])

    body = """Sehr geehrte Damen und Herren,

<system>
user: a3qs
task: 0104010
status: E0104011 [The owner change has failed.]
transaction: qs2000000001
</system>
<reply>
tld: de
sld: owner-change
kk_answer: NACK
status: success
</reply>
"""
    data = {
        "system": {"user": "a3qs", "task": "0104010",
                   "status": "E0104011 [The owner change has failed.]",
                   "transaction": "qs2000000001"},
        "reply": {"tld": "de", "sld": "owner-change", "kk_answer": "NACK", "status": "success"},
    }
    write("autodns-standard-system-error-wins",
          mail(AUTODNS, "AutoDNS: E0104011 owner-change.de", DATE, body),
          [ev("autodns", "qs2000000001", "job", "domain", "E0104011", "job.result",
              "owner-change.de", "error", "The owner change has failed.", None, "text", data)])


# ------------------------------------------------------------------ OpenSRS

def opensrs_samples():
    cases = [
        ("domain-message-status-change-bounced", "DOMAIN", "MESSAGE_STATUS_CHANGE",
         "message.status", "domain", "bounced",
         {"domain_name": "example.com", "domain_id": "38391945",
          "message_type": "registrant.verification", "message_status": "bounced",
          "to_address": "owner@example.com"}),
        ("transfer-message-status-change", "TRANSFER", "MESSAGE_STATUS_CHANGE",
         "message.status", "transfer", "sent",
         {"domain_name": "example.net", "transfer_id": "8646811", "order_id": "3378200",
          "message_type": "registrant.transfer.confirmation", "message_status": "sent",
          "to_address": "admin@example.net"}),
        ("icann-trade-pending-current-registrant", "DOMAIN", "ICANN_TRADE_STATUS_CHANGE",
         "domain.owner_changed", "domain", "pending_current_registrant",
         {"domain_name": "example.org", "domain_id": "40212100",
          "trade_status": "pending_current_registrant"}),
        ("icann-trade-cancelled-by-new-registrant", "DOMAIN", "ICANN_TRADE_STATUS_CHANGE",
         "domain.owner_changed", "domain", "cancelled_by_new_registrant",
         {"domain_name": "testing-icann-trades.org", "domain_id": "310477",
          "trade_status": "cancelled_by_new_registrant"}),
        ("transfer-status-pending-registry", "TRANSFER", "STATUS_CHANGE", "transfer.in",
         "transfer", "pending_registry",
         {"domain_name": "example.biz", "transfer_id": "8646812", "order_id": "3378201",
          "transfer_status": "pending_registry"}),
        ("transfer-status-pending-owner", "TRANSFER", "STATUS_CHANGE", "transfer.in",
         "transfer", "pending_owner",
         {"domain_name": "example.co", "transfer_id": "8646813", "order_id": "3378202",
          "transfer_status": "pending_owner"}),
        ("registrant-verification-marking-as-verified", "DOMAIN",
         "REGISTRANT_VERIFICATION_STATUS_CHANGE", "domain.registrant_verification", "domain",
         "marking_as_verified",
         {"domain_name": "example.us", "domain_id": "40212102",
          "verification_status": "marking_as_verified"}),
        ("registrant-verification-not-applicable", "DOMAIN",
         "REGISTRANT_VERIFICATION_STATUS_CHANGE", "domain.registrant_verification", "domain",
         "not_applicable",
         {"domain_name": "example.ca", "domain_id": "40212103",
          "verification_status": "not_applicable"}),
    ]
    for i, (name, obj, event, topic, lobj, status, od) in enumerate(cases):
        eid = "%032x" % (0x5e1d0000 + i)
        payload = {"object_data": od, "object": obj, "event_id": eid, "event": event,
                   "event_date": "2026-10-0%dT12:00:00Z" % (i + 1)}
        eml = mail(OPENSRS, "Event notification: %s: %s: %s" % (obj, event, eid), DATE,
                   json.dumps(payload, separators=(",", ":")))
        write("opensrs-" + name, eml, [
            ev("opensrs", eid, "event", lobj, event, topic, od["domain_name"], status, None,
               "2026-10-0%dT12:00:00Z" % (i + 1), "json", payload)])


# ------------------------------------------------------------------ EPP poll messages

E1 = ('<?xml version="1.0" encoding="UTF-8" standalone="no"?><epp xmlns="urn:ietf:params:xml:ns:epp-1.0" '
      'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
      'xsi:schemaLocation="urn:ietf:params:xml:ns:epp-1.0 epp-1.0.xsd">')
E2 = '</epp>'
TRID = '<trID><clTRID>ABC-12345</clTRID><svTRID>54322-XYZ</svTRID></trID>'
ACK = '<result code="1301"><msg>Command completed successfully; ack to dequeue</msg></result>'


def epp(name, mid, inner, type_, topic, domain, status, text, occurred, kind="event",
        obj="domain", broken=None, domains=None):
    doc = E1 + '<response>' + ACK + inner + TRID + '</response>' + E2
    response = child(minidom.parseString(doc).documentElement, "response")
    data = xml_json(response)
    body = doc if broken is None else broken(doc)
    if broken is not None:
        data["recovered"] = True
    write("epp-" + name,
          mail(AUTODNS, "AutoDNS Notification %s" % mid, DATE, body, "text/xml; charset=UTF-8"),
          [ev("autodns", mid, kind, obj, type_, topic, domain, status, text, occurred, "epp", data,
              domains=domains)])


def epp_samples():
    dnsbe = '<dnsbe:pollRes xmlns:dnsbe="http://www.dns.be/xml/epp/dnsbe-1.0">'
    epp("dnsbe-transfer-code-bounced", "6830",
        '<msgQ count="3" id="6830"><qDate>2008-09-18T21:29:28.179+02:00</qDate><msg>Transfer code e-mail bounced</msg></msgQ>'
        '<resData>' + dnsbe + '<dnsbe:action>BOUNCED</dnsbe:action><dnsbe:domainname>test.be</dnsbe:domainname>'
        '<dnsbe:email>john@test.be</dnsbe:email><dnsbe:returncode>1159</dnsbe:returncode><dnsbe:type>TRANSFER</dnsbe:type>'
        '</dnsbe:pollRes></resData>',
        "pollRes", "registry.message", "test.be", "bounced", "Transfer code e-mail bounced",
        "2008-09-18T19:29:28Z")
    epp("dnsbe-monitored-contact-update", "6831",
        '<msgQ count="3" id="6831"><qDate>2008-09-18T21:29:28.179+02:00</qDate><msg>Transfer code e-mail bounced</msg></msgQ>'
        '<resData>' + dnsbe + '<dnsbe:action>APPROVED</dnsbe:action><dnsbe:contact>c54321</dnsbe:contact>'
        '<dnsbe:date>2012-10-10T10:11:12.000Z</dnsbe:date><dnsbe:returncode>1502</dnsbe:returncode>'
        '<dnsbe:type>MONITORED_UPD_CONTACT</dnsbe:type></dnsbe:pollRes></resData>',
        "pollRes", "registry.message", None, "approved", "Transfer code e-mail bounced",
        "2012-10-10T10:11:12Z")
    epp("dnsbe-watermark-reached", "4682495",
        '<msgQ count="1" id="4682495"><qDate>2011-10-31T23:25:17.071Z</qDate><msg>Watermark Reached</msg></msgQ>'
        '<resData>' + dnsbe + '<dnsbe:action>REACHED</dnsbe:action><dnsbe:level>1000.00</dnsbe:level>'
        '<dnsbe:returncode>1000</dnsbe:returncode><dnsbe:type>WATERMARK</dnsbe:type></dnsbe:pollRes></resData>',
        "pollRes", "registry.message", None, "reached", "Watermark Reached", "2011-10-31T23:25:17Z")
    epp("dnsbe-email-bounced", "441",
        '<msgQ count="3" id="441"><qDate>2018-06-12T10:00:00.000Z</qDate><msg>E-mail bounced</msg></msgQ>'
        '<resData>' + dnsbe + '<dnsbe:type>EMAIL</dnsbe:type><dnsbe:action>BOUNCED</dnsbe:action>'
        '<dnsbe:email>jdoe@example.com</dnsbe:email><dnsbe:returncode>2000</dnsbe:returncode>'
        '<dnsbe:detailedcode>5.1.1</dnsbe:detailedcode><dnsbe:date>2018-06-12T09:00:00.000Z</dnsbe:date>'
        '</dnsbe:pollRes></resData>',
        "pollRes", "registry.message", None, "bounced", "E-mail bounced", "2018-06-12T09:00:00Z")
    epp("dnsbe-contact-deleted", "178168c1-d28f-4662-9a0c-9fb4e6f753a1",
        '<msgQ count="3" id="178168c1-d28f-4662-9a0c-9fb4e6f753a1"><qDate>2020-05-09T07:10:38.611Z</qDate>'
        '<msg>Contact is deleted by Registry for privacy reasons.</msg></msgQ>'
        '<resData><contact:delete xmlns:contact="urn:ietf:params:xml:ns:contact-1.0"><contact:id>FOOBAR-053148</contact:id>'
        '</contact:delete></resData>',
        "delete", "other", None, None, "Contact is deleted by Registry for privacy reasons.",
        "2020-05-09T07:10:38Z", obj="contact")

    norid = ('<message xmlns="http://www.norid.no/xsd/no-ext-result-1.0" type="%s" '
             'xsi:schemaLocation="http://www.norid.no/xsd/no-ext-result-1.0 no-ext-result-1.0.xsd">')
    nicat = ('<message xmlns="http://www.nic.at/xsd/at-ext-message-1.0" type="%s" '
             'xsi:schemaLocation="http://www.nic.at/xsd/at-ext-message-1.0 at-ext-message-1.0.xsd">')
    epp("norid-domain-transferred-away", "375338309",
        '<msgQ count="1" id="375338309"><qDate>2008-02-06T10:18:19.70Z</qDate><msg>Reg losing: blafasel.no</msg></msgQ>'
        '<resData>' + norid % "domain-transferred-away" + '<desc>Reg losing: blafasel.no</desc>'
        '<data><entry name="domain">blafasel.no</entry></data></message></resData>',
        "message", "transfer.out", "blafasel.no", None, "Reg losing: blafasel.no",
        "2008-02-06T10:18:19Z")
    epp("nicat-domain-transferred-away", "375338310",
        '<msgQ count="1" id="375338310"><qDate>2008-02-06T10:18:19.70Z</qDate><msg>Reg losing: blafasel.at</msg></msgQ>'
        '<resData>' + nicat % "domain-transferred-away" + '<desc>Reg losing: blafasel.at</desc>'
        '<data><entry name="domain">blafasel.at</entry></data></message></resData>',
        "message", "transfer.out", "blafasel.at", None, "Reg losing: blafasel.at",
        "2008-02-06T10:18:19Z")
    text = ("EPP response to a transaction executed on your behalf: objecttype [domain] "
            "command [transfer-execute] objectname [neingeist.at]")
    epp("nicat-response-copy-nested-epp", "523423542",
        '<msgQ count="1" id="523423542"><qDate>2008-06-19T07:24:58.85Z</qDate><msg>' + text + '</msg></msgQ>'
        '<resData>' + nicat % "response-copy" + '<desc>' + text + '</desc><data>'
        '<entry name="objecttype">domain</entry><entry name="command">transfer-execute</entry>'
        '<entry name="objectname">neingeist.at</entry>'
        '<epp xmlns="urn:ietf:params:xml:ns:epp-1.0" xsi:schemaLocation="urn:ietf:params:xml:ns:epp-1.0 epp-1.0.xsd">'
        '<response><result code="1000"><msg>Command completed successfully</msg></result><resData>'
        '<domain:trnData xmlns:domain="urn:ietf:params:xml:ns:domain-1.0" '
        'xsi:schemaLocation="urn:ietf:params:xml:ns:domain-1.0 domain-1.0.xsd"><domain:name>neingeist.at</domain:name>'
        '<domain:trStatus>serverApproved</domain:trStatus><domain:reID>Reg123</domain:reID>'
        '<domain:reDate>2009-01-01T01:23:51.00Z</domain:reDate><domain:acID>Reg123</domain:acID>'
        '<domain:acDate>2009-01-01T01:01:01.00Z</domain:acDate></domain:trnData></resData>'
        '<trID><clTRID>ABCD-123</clTRID><svTRID>123-ABC</svTRID></trID></response></epp></data></message></resData>',
        "message", "registry.message", "neingeist.at", None, text, "2008-06-19T07:24:58Z")
    text = ("EPP response to command with clTRID [NORID-3748-1215079064192782] and svTRID "
            "[200807031157442264480D-reg9091-NORID]")
    epp("norid-late-response-nested-trndata", "134443",
        '<msgQ count="1" id="134443"><qDate>2008-07-03T10:00:07.00Z</qDate><msg>' + text + '</msg></msgQ>'
        '<resData>' + norid % "epp-late-response" + '<desc>' + text + '</desc><data>'
        '<epp xmlns="urn:ietf:params:xml:ns:epp-1.0" xsi:schemaLocation="urn:ietf:params:xml:ns:epp-1.0 epp-1.0.xsd">'
        '<response><result code="1000"><msg>Command completed successfully</msg></result>'
        '<msgQ count="1" id="132939"/><resData><domain:trnData xmlns:domain="urn:ietf:params:xml:ns:domain-1.0" '
        'xsi:schemaLocation="urn:ietf:params:xml:ns:domain-1.0 domain-1.0.xsd"><domain:name>trond-transfer.no</domain:name>'
        '<domain:trStatus>pending</domain:trStatus><domain:reID>reg9091</domain:reID>'
        '<domain:reDate>2008-07-03T09:57:48.00Z</domain:reDate><domain:acID>reg9091</domain:acID>'
        '<domain:acDate>2008-08-02T09:57:48.00Z</domain:acDate></domain:trnData></resData>'
        '<trID><clTRID>NORID-3748-1215079064192782</clTRID><svTRID>200807031157442264480D-reg9091-NORID</svTRID></trID>'
        '</response></epp></data></message></resData>',
        "message", "registry.message", "trond-transfer.no", None, text, "2008-07-03T10:00:07Z")
    epp("norid-contact-deleted-no-domain", "375424693",
        '<msgQ count="1" id="375424693"><qDate>2016-03-10T02:35:16.69Z</qDate><msg>Domain [] has been deleted</msg></msgQ>'
        '<resData>' + norid % "domain-deleted" + '<desc>Contact object TEST FOO BAR [TEST001] has been deleted</desc>'
        '<data><entry name="objtype">Contact</entry><entry name="handle">TEST001</entry>'
        '<entry name="name">TEST FOO BAR</entry></data></message></resData>',
        "message", "domain.deleted", None, None, "Domain [] has been deleted", "2016-03-10T02:35:16Z")
    epp("norid-no-resdata", "2",
        '<msgQ count="1" id="2"><qDate>2006-09-25T09:09:11.0Z</qDate>'
        '<msg>Come to the registry office for some beer on friday</msg></msgQ>',
        "message", "registry.message", None, None,
        "Come to the registry office for some beer on friday", "2006-09-25T09:09:11Z")
    epp("nicat-domain-info-lock-customer", "375424692",
        '<msgQ count="3" id="375424692"><qDate>2008-02-06T13:37:59.63Z</qDate>'
        '<msg>ATTENTION: domain weingeist.at is marked to be locked SKW - lock customer request.</msg></msgQ>'
        '<resData>' + nicat % "domain-info-lock-customer" +
        '<desc>ATTENTION: domain weingeist.at is marked to be locked SKW - lock customer request.</desc>'
        '<data><entry name="domain">weingeist.at</entry></data></message></resData>',
        "message", "registry.message", "weingeist.at", None,
        "ATTENTION: domain weingeist.at is marked to be locked SKW - lock customer request.",
        "2008-02-06T13:37:59Z")
    text = ("Transfer process cancelled for domain: (transfer-request with client-id "
            "[NICAT-1234-1242342543566334] and server-id [20080307124235423353F9-4-nicat])")
    epp("nicat-transfer-aborted-empty-domain", "390336246",
        '<msgQ count="18" id="390336246"><qDate>2008-03-14T11:42:23.64Z</qDate><msg>' + text + '</msg></msgQ>'
        '<resData>' + nicat % "domain-transfer-aborted" + '<desc>' + text + '</desc>'
        '<reftrID><clTRID>NICAT-1234-1242342543566334</clTRID><svTRID>20080307124235423353F9-4-nicat</svTRID></reftrID>'
        '<data><entry name="domain"/></data></message></resData>',
        "message", "registry.message", None, None, text, "2008-03-14T11:42:23Z")

    # RFC 5731: a pending action completed, then the transfer data: one message, one event.
    dom = 'xmlns:domain="urn:ietf:params:xml:ns:domain-1.0"'
    epp("pandata-then-trndata-one-event", "12346",
        '<msgQ count="5" id="12346"><qDate>2000-06-08T22:10:00.0Z</qDate><msg>Pending action completed successfully.</msg></msgQ>'
        '<resData><domain:panData ' + dom + '><domain:name paResult="1">example.com</domain:name>'
        '<domain:paTRID><clTRID>ABC-12345</clTRID><svTRID>54321-XYZ</svTRID></domain:paTRID>'
        '<domain:paDate>2000-06-08T22:00:00.0Z</domain:paDate></domain:panData>'
        '<domain:trnData ' + dom + '><domain:name>example.com</domain:name><domain:trStatus>clientApproved</domain:trStatus>'
        '<domain:reID>ClientX</domain:reID><domain:reDate>2000-06-06T22:00:00.0Z</domain:reDate>'
        '<domain:acID>ClientY</domain:acID><domain:acDate>2000-06-11T22:00:00.0Z</domain:acDate>'
        '</domain:trnData></resData>',
        "panData", "job.result", "example.com", "success", "Pending action completed successfully.",
        "2000-06-08T22:00:00Z", kind="job")

    # The poll reply of the AutoDNS "Polling" page (panData followed by infData: one
    # message), then the reply to its ack (<msgQ count="0" id=…/>: no message).
    poll_doc = """<?xml version="1.0" encoding="UTF-8"?>
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
        <domain:ns>
          <domain:hostAttr>
            <domain:hostName>c.ns14.net</domain:hostName>
          </domain:hostAttr>
        </domain:ns>
      </domain:infData>
    </resData>
    <extension>
      <domainrobot:domain>
        <domainrobot:zonec>23022508</domainrobot:zonec>
      </domainrobot:domain>
    </extension>
    <trID>
      <clTRID>a2d8e98e-c703-4368-a986-a1fdfa42b8fe</clTRID>
      <svTRID>12345678</svTRID>
    </trID>
  </response>
</epp>"""
    ack_doc = """<epp xmlns="urn:ietf:params:xml:ns:epp-1.0">
    <response>
        <result code="1000">
            <msg lang="en">Command completed successfully</msg>
        </result>
        <msgQ count="0" id="627787" />
        <trID>
            <clTRID>ABC-12346</clTRID>
        </trID>
    </response>
</epp>"""
    response = child(minidom.parseString(poll_doc).documentElement, "response")
    write("epp-poll-then-ack-reply-one-event",
          mail(AUTODNS, "AutoDNS Notification 880369", DATE,
               poll_doc + "\n\n" + ack_doc, "text/xml; charset=UTF-8"),
          [ev("autodns", "880369", "job", "domain", "panData", "job.result", "domain.com",
              "success", None, "2017-07-31T13:46:33Z", "epp", xml_json(response))])

    # EURid (Net::DRI fixtures): the domain in <poll:object> when <poll:objectType> is DOMAIN.
    eurid = '<poll:pollData xmlns:poll="http://www.eurid.eu/xml/epp/poll-1.2">'
    for name, mid, qdate, text, body, domain, status, occurred in [
        ("eurid-transferred-away", "b023fc6a-aa54-422e-b61c-445ca1d8f48a", "2014-09-14T11:36:16.882Z",
         "Domain name transferred away: transfer-away.eu",
         '<poll:context>TRANSFER</poll:context><poll:objectType>DOMAIN</poll:objectType>'
         '<poll:object>transfer-away.eu</poll:object><poll:objectUnicode>transfer-away.eu</poll:objectUnicode>'
         '<poll:action>AWAY</poll:action><poll:code>2306</poll:code><poll:registrar>test_registrar</poll:registrar>',
         "transfer-away.eu", "away", "2014-09-14T11:36:16Z"),
        ("eurid-quarantined", "e0ade1eb-8dd2-42cc-a46b-fd02bab54ce4", "2014-09-14T14:59:16.901Z",
         "Domain name quarantined: domain-poll-quarantine-02.eu",
         '<poll:context>DOMAIN</poll:context><poll:objectType>DOMAIN</poll:objectType>'
         '<poll:object>domain-poll-quarantine-02.eu</poll:object>'
         '<poll:objectUnicode>domain-poll-quarantine-02.eu</poll:objectUnicode>'
         '<poll:action>QUARANTINED</poll:action><poll:code>1700</poll:code>',
         "domain-poll-quarantine-02.eu", "quarantined", "2014-09-14T14:59:16Z"),
        ("eurid-watermark-reached", "735501cd-653c-4953-971e-9f1488d0c885", "2014-09-13T11:25:38.671Z",
         "Watermark level reached: 10000",
         '<poll:context>WATERMARK</poll:context><poll:objectType>WATERMARK</poll:objectType>'
         '<poll:object>10000</poll:object><poll:objectUnicode>10000</poll:objectUnicode>'
         '<poll:action>REACHED</poll:action><poll:code>2600</poll:code>',
         None, "reached", "2014-09-13T11:25:38Z"),
    ]:
        epp(name, mid,
            '<msgQ count="1" id="%s"><qDate>%s</qDate><msg>%s</msg></msgQ>' % (mid, qdate, text)
            + '<resData>' + eurid + body + '</poll:pollData></resData>',
            "pollData", "other", domain, status, text, occurred,
            obj="domain" if domain else "unknown")

    # CoCCA (Net::DRI fixture): the message is escaped XML inside <msg>.
    epp("cocca-offline-update-cdata", "207",
        '<msgQ count="331" id="207"><qDate>2015-07-09T07:20:15.186Z</qDate><msg lang="en"><![CDATA['
        '<offlineUpdate><domain><name>domain1.com.ph</name><change>UNKNOWN</change><details></details>'
        '</domain></offlineUpdate>]]></msg></msgQ>',
        "offlineUpdate", "other", "domain1.com.ph", None, None, "2015-07-09T07:20:15Z")
    # TLD-box (Net::DRI fixture): several domains listed as entries.
    text = "The following domains have expired as of 2016-02-25: test-expire1.example, test-expire2.example"
    epp("tldbox-has-expired-two-domains", "2267",
        '<msgQ count="1" id="2267"><qDate>2016-02-25T13:46:36.879301Z</qDate><msg>' + text + '</msg> </msgQ>'
        '<resData><message xmlns="http://tld-box.at/xmlns/resdata-1.1" type="HasExpired"><desc>' + text + '</desc>'
        '<data><entry name="date">2016-02-25</entry><entry name="domain">test-expire1.example</entry>'
        '<entry name="domain">test-expire2.example</entry></data></message></resData>',
        "message", "registry.message", "test-expire1.example", None, text, "2016-02-25T13:46:36Z",
        domains=["test-expire1.example", "test-expire2.example"])
    # Nominet (Net::DRI fixture): host cancellation naming two domains; hosts never count.
    epp("nominet-host-cancellation", "123457",
        '<msgQ count="2" id="123457"><qDate>2008-04-30T13:39:13Z</qDate><msg>Host cancellation notification</msg></msgQ>'
        '<resData><n:hostCancData xmlns:n="http://www.nominet.org.uk/epp/xml/std-notifications-1.2" '
        'xsi:schemaLocation="http://www.nominet.org.uk/epp/xml/std-notifications-1.2 std-notifications-1.2.xsd">'
        '<n:hostListData noHosts="2"><n:hostObj>ns0.example.co.uk.</n:hostObj><n:hostObj>ns1.example.co.uk.</n:hostObj>'
        '</n:hostListData><n:domainListData noDomains="2"><n:domainName>example-a.co.uk</n:domainName>'
        '<n:domainName>example-b.co.uk</n:domainName></n:domainListData></n:hostCancData></resData>',
        "hostCancData", "other", "example-a.co.uk", None, "Host cancellation notification",
        "2008-04-30T13:39:13Z", domains=["example-a.co.uk", "example-b.co.uk"])

    # VeriSign RGP poll (Net::DRI fixture): the domain in the registry's own `name`.
    epp("verisign-rgp-poll-restore-pending", "12345",
        '<msgQ count="5" id="12345"><qDate>2004-05-03T20:06:17.0002Z</qDate><msg>Restore Request Pending</msg></msgQ>'
        '<resData><rgp-poll:pollData xmlns:rgp-poll="http://www.verisign.com/epp/rgp-poll-1.0" '
        'xsi:schemaLocation="http://www.verisign.com/epp/rgp-poll-1.0 rgp-poll-1.0.xsd">'
        '<rgp-poll:name>foobar.com</rgp-poll:name><rgp-poll:rgpStatus s="pendingDelete"/>'
        '<rgp-poll:reqDate>2004-05-03T20:06:17.0002Z</rgp-poll:reqDate>'
        '<rgp-poll:reportDueDate>2004-05-03T20:06:17.0002Z</rgp-poll:reportDueDate>'
        '</rgp-poll:pollData></resData>',
        "pollData", "other", "foobar.com", None, "Restore Request Pending", "2004-05-03T20:06:17Z")

    # FRED (.cz, fred-docs "Poll message types"): the element sits inside <msg>.
    def fred(name, mid, qdate, payload, type_, topic, domain, status, occurred, obj="domain"):
        epp(name, mid, '<msgQ count="1" id="%s"><qDate>%s</qDate><msg>%s</msg></msgQ>' % (mid, qdate, payload),
            type_, topic, domain, status, None, occurred, obj=obj)

    fred("fred-low-credit", "19681433", "2017-07-25T15:03:43+02:00",
         '<fred:lowCreditData xmlns:fred="http://www.nic.cz/xml/epp/fred-1.5"><fred:zone>cz</fred:zone>'
         '<fred:limit><fred:zone>cz</fred:zone><fred:credit>5000.00</fred:credit></fred:limit>'
         '<fred:credit><fred:zone>cz</fred:zone><fred:credit>4999.00</fred:credit></fred:credit>'
         '</fred:lowCreditData>',
         "lowCreditData", "billing.credit_alert", None, None, "2017-07-25T13:03:43Z", obj="billing")
    life = ('<domain:%s xmlns:domain="http://www.nic.cz/xml/epp/domain-1.4" '
            'xsi:schemaLocation="http://www.nic.cz/xml/epp/domain-1.4 domain-1.4.2.xsd">'
            '<domain:name>%s</domain:name><domain:exDate>2017-08-26</domain:exDate></domain:%s>')
    for mid, el, domain, topic, status in [
        ("19690946", "impendingExpData", "somedomain.cz", "domain.renewal_reminder", "pending"),
        ("19690947", "expData", "expired-domain.cz", "domain.expired", "expired"),
        ("19690948", "dnsOutageData", "outage-domain.cz", "domain.dns_outage", None),
        ("19690949", "delData", "deleted-domain.cz", "domain.deleted", "completed"),
    ]:
        fred("fred-" + el.lower(), mid, "2017-07-27T12:13:55+02:00", life % (el, domain, el),
             el, topic, domain, status, "2017-07-27T10:13:55Z")
    fred("fred-domain-transfer", "19681434", "2017-07-25T16:34:42+02:00",
         '<domain:trnData xmlns:domain="http://www.nic.cz/xml/epp/domain-1.4" '
         'xsi:schemaLocation="http://www.nic.cz/xml/epp/domain-1.4 domain-1.4.2.xsd">'
         '<domain:name>trdomain.cz</domain:name><domain:trDate>2017-07-25</domain:trDate>'
         '<domain:clID>REG-FRED_A</domain:clID></domain:trnData>',
         "trnData", "transfer.status", "trdomain.cz", None, "2017-07-25T14:34:42Z")
    infdata = ('<domain:infData xmlns:domain="http://www.nic.cz/xml/epp/domain-1.4" '
               'xsi:schemaLocation="http://www.nic.cz/xml/epp/domain-1.4 domain-1.4.2.xsd">'
               '<domain:name>mydomain.cz</domain:name><domain:roid>D0009907597-CZ</domain:roid>'
               '<domain:status s="serverBlocked">Domain blocked</domain:status>'
               '<domain:registrant>%s</domain:registrant><domain:admin>CID-ADMIN1</domain:admin>'
               '<domain:nsset>NID-MYNSSET</domain:nsset><domain:clID>REG-MYREG</domain:clID>'
               '<domain:exDate>2020-07-11</domain:exDate></domain:infData>')
    fred("fred-domain-update-data", "19852593", "2017-08-14T13:29:06+02:00",
         '<domain:updateData xmlns:domain="http://www.nic.cz/xml/epp/domain-1.4" '
         'xsi:schemaLocation="http://www.nic.cz/xml/epp/domain-1.4 domain-1.4.2.xsd">'
         '<domain:opTRID>ReqID-0000141228</domain:opTRID>'
         '<domain:oldData>' + infdata % "CID-MYOWN" + '</domain:oldData>'
         '<domain:newData>' + infdata % "CID-MYCONTACT" + '</domain:newData></domain:updateData>',
         "updateData", "other", "mydomain.cz", None, "2017-08-14T11:29:06Z")
    fred("fred-idle-contact-deleted", "19689674", "2017-07-26T18:28:55+02:00",
         '<contact:idleDelData xmlns:contact="http://www.nic.cz/xml/epp/contact-1.6" '
         'xsi:schemaLocation="http://www.nic.cz/xml/epp/contact-1.6 contact-1.6.2.xsd">'
         '<contact:id>CID-IDLE</contact:id></contact:idleDelData>',
         "idleDelData", "other", None, None, "2017-07-26T16:28:55Z", obj="contact")

    # .se (IIS): the domain object inside the notify element; never the host or contact.
    iis = 'xmlns:iis="urn:se:iis:xml:epp:iis-1.2"'
    epp("se-iis-delete-notify", "3020",
        '<msgQ count="1" id="3020"><qDate>2026-09-01T04:00:00.0Z</qDate><msg>Domain deleted</msg></msgQ>'
        '<resData><iis:deleteNotify ' + iis + '><domain:delete ' + dom + '>'
        '<domain:name>example.se</domain:name></domain:delete></iis:deleteNotify></resData>',
        "deleteNotify", "domain.deleted", "example.se", "completed", "Domain deleted",
        "2026-09-01T04:00:00Z")
    epp("se-iis-transfer-notify", "3021",
        '<msgQ count="1" id="3021"><qDate>2026-09-02T04:00:00.0Z</qDate><msg>Domain transferred</msg></msgQ>'
        '<resData><iis:transferNotify ' + iis + '><domain:trnData ' + dom + '>'
        '<domain:name>flyttad.se</domain:name><domain:trStatus>serverApproved</domain:trStatus>'
        '<domain:reID>registrar-b</domain:reID><domain:reDate>2026-09-02T03:00:00.0Z</domain:reDate>'
        '<domain:acID>registrar-a</domain:acID><domain:acDate>2026-09-02T03:00:00.0Z</domain:acDate>'
        '</domain:trnData></iis:transferNotify></resData>',
        "transferNotify", "transfer.out", "flyttad.se", None, "Domain transferred",
        "2026-09-02T04:00:00Z")
    epp("se-iis-update-notify-host-first", "3022",
        '<msgQ count="1" id="3022"><qDate>2026-09-03T04:00:00.0Z</qDate><msg>Domain updated</msg></msgQ>'
        '<resData><iis:updateNotify ' + iis + '><domain:infData ' + dom + '>'
        '<domain:ns><domain:hostObj>ns1.nameserver.se</domain:hostObj></domain:ns>'
        '<domain:registrant>REG-0001</domain:registrant>'
        '<domain:name>uppdaterad.se</domain:name><domain:roid>DOM-0001</domain:roid>'
        '<domain:clID>registrar-a</domain:clID></domain:infData></iis:updateNotify></resData>',
        "updateNotify", "domain.updated", "uppdaterad.se", None, "Domain updated",
        "2026-09-03T04:00:00Z")
    epp("se-iis-create-notify", "3023",
        '<msgQ count="1" id="3023"><qDate>2026-09-04T04:00:00.0Z</qDate><msg>Domain created</msg></msgQ>'
        '<resData><iis:createNotify ' + iis + '><domain:creData ' + dom + '>'
        '<domain:name>ny-doman.se</domain:name><domain:crDate>2026-09-04T03:59:00.0Z</domain:crDate>'
        '</domain:creData></iis:createNotify></resData>',
        "createNotify", "domain.created", "ny-doman.se", None, "Domain created",
        "2026-09-04T04:00:00Z")

    # A mistyped closing tag in a poll message: read by the tolerant pass, marked.
    epp("se-iis-delete-notify-mistyped-closing-tag", "3024",
        '<msgQ count="1" id="3024"><qDate>2026-09-05T04:00:00.0Z</qDate><msg>Domain deleted</msg></msgQ>'
        '<resData><iis:deleteNotify ' + iis + '><domain:delete ' + dom + '>'
        '<domain:name>borttagen.se</domain:name></domain:delete></iis:deleteNotify></resData>',
        "deleteNotify", "domain.deleted", "borttagen.se", "completed", "Domain deleted",
        "2026-09-05T04:00:00Z",
        broken=lambda d: d.replace("borttagen.se</domain:name>", "borttagen.se</domain:nmae>"))


if __name__ == "__main__":
    notify_samples()
    job_samples()
    standard_samples()
    opensrs_samples()
    epp_samples()
    print("%d samples in %s" % (COUNT[0], OUT))
