#!/usr/bin/env python3
"""Golden samples for issue 20 A ("extraction that silently corrupts or misses"):
notifications as they arrive after a person's mail client relayed them. Writes
samples/relayed/NAME.eml beside samples/relayed/NAME.json.

- format=flowed with DelSp=yes (RFC 3676), as Apple Mail sends it: lines soft-broken
  inside the event id, the domain, a number and a date;
- Outlook HTML-only forwards: `<p class=MsoNormal>` / `<div>` per line, `&nbsp;`
  indentation, the "From: / Sent: / To: / Subject:" block, quoted-printable;
- replies quoting an AutoDNS "Standard" text mail (`> `, nested `> > `, Outlook's
  "prefix each line" with its "-----Original Message-----" block);
- InterNetX's poll reply whose `</text>` closing tag lost its `<`.

Payloads are the registrars' published examples: OpenSRS "Event Notifications"
(/work/shared/seeds/002_*, the NAMESERVER_UPDATE and TRANSFER STATUS_CHANGE mails),
InterNetX "System notifications" (/work/shared/seeds/001_*: the JSON and XML poll
replies), InterNetX "TransferOut notifications" (transfer_start, JSON), "Processing
Transfer-Out Jobs" (the 1403 and 1403008 Standard mails) and "Processing Transfer-In
and Ownerchange Jobs" (the S0104001 Standard mail). Every golden field is a literal
written from those pages and docs/EVENTS.md; `data` is the payload itself (JSON), the
`<system>`/`<reply>` key-value lines as written, or the XML element by the documented
XML-to-JSON rule. Never from mailroom's output.

    python3 samples/.gen/relayed_samples.py
"""
import json
import os
import quopri
from xml.dom import minidom

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(os.path.dirname(HERE), "relayed")


def ev(registrar, event_id, kind, obj, type_, topic, domain, status, status_text,
       occurred_at, fmt, data):
    return {
        "registrar": registrar,
        "event_id": event_id,
        "kind": kind,
        "object": obj,
        "type": type_,
        "topic": topic,
        "domain": domain,
        "domains": [domain] if domain else [],
        "status": status,
        "status_text": status_text,
        "occurred_at": occurred_at,
        "format": fmt,
        "data": data,
    }


def mail(headers, body):
    """CRLF line ends throughout, as on the wire (trailing spaces matter here)."""
    return "\r\n".join(headers) + "\r\n\r\n" + body.replace("\n", "\r\n")


def write(name, eml, events):
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, name + ".eml"), "w", encoding="utf-8", newline="") as f:
        f.write(eml)
    with open(os.path.join(OUT, name + ".json"), "w", encoding="utf-8", newline="\n") as f:
        f.write(json.dumps(events, indent=2, ensure_ascii=False) + "\n")


def soft_broken(text, breaks):
    """`text` flowed with DelSp=yes: the client ends a line where `breaks` says (a
    substring followed by `|`) with one added space, which DelSp=yes deletes again."""
    parts = breaks.split("|")
    assert "".join(parts) == text, "breaks must spell the text"
    lines = [p + " " for p in parts[:-1]] + [parts[-1]]
    for line in lines:
        assert len(line) <= 78, line
    return "\n".join(lines)


def xml_json(el):
    """The documented XML-to-JSON rule (docs/EVENTS.md, samples/.gen/field_samples.py)."""
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


# ------------------------------------------------------------------ published payloads

OPENSRS_NS_UPDATE = {
    "object_data": {"domain_name": "domainregistered.com", "domain_id": "38391945",
                    "nameserver_list": ["ns1.systemdns.com", "ns2.systemdns.com"]},
    "object": "DOMAIN", "event_id": "dc3295cdca977bbd227fda140ca7f4dc",
    "event": "NAMESERVER_UPDATE", "event_date": "2014-09-09T21:17:48Z",
}
OPENSRS_TRANSFER = {
    "object_data": {"domain_name": "domainregistered.com", "transfer_id": "8646809",
                    "order_id": 0, "transfer_status": "completed"},
    "object": "TRANSFER", "event_id": "70ee0bd48660c737cc1b08501e214236",
    "event": "STATUS_CHANGE", "event_date": "2014-09-09T21:16:23Z",
}
AUTODNS_TRANSFER_START_ITEM = {
    "id": 1012054052,
    "notify": {"type": "transfer_start", "object": {"type": "Transfer", "data": {
        "gainingRegistrar": "greg", "loosingRegistrar": "lreg",
        "start": "2022-01-19T10:54:42.000+0100", "reminder": "2022-01-22T10:54:42.000+0100",
        "end": "2022-01-24T10:54:42.000+0100"}}},
    "object": {"type": "Domain", "value": "example.org", "data": {"name": "example.org"}},
}
AUTODNS_TRANSFER_START = {
    "stid": "20220119-app3-dev-5016",
    "status": {"code": "S0905", "text": "The notification was polled successfully.",
               "type": "SUCCESS"},
    "object": {"type": "Message", "value": "1012054052", "summary": 1},
    "data": [AUTODNS_TRANSFER_START_ITEM],
}
# The seed's JSON poll reply, exactly as published (4-space indentation).
AUTODNS_JOB_JSON = """{
    "stid": "20180926-stid",
    "status": {
        "code": "S0905",
        "text": "The notification was polled successfully.",
        "type": "SUCCESS"
    },
    "object": {
        "type": "message",
        "value": "1819917"
    },
    "data": [
        {
            "summary": 1,
            "message": {
                "id": 1819917,
                "job": {
                    "id": 4295609745,
                    "domain": {
                        "created": "2018-09-26T15:11:21.000+0200",
                        "owner": {},
                        "updater": {},
                        "name": "example.com",
                        "expire": "2019-09-26T15:11:20.000+0200",
                        "payable": "2019-09-26T15:11:21.000+0200",
                        "ownerc": {
                            "id": 100
                        },
                        "adminc": {
                            "id": 100
                        },
                        "techc": {
                            "id": 100
                        },
                        "registryStatus": "LOCK",
                        "nameServers": [
                            {
                                "name": "a.ns14.net"
                            },
                            {
                                "name": "b.ns14.net"
                            },
                            {
                                "name": "c.ns14.net"
                            },
                            {
                                "name": "d.ns14.net"
                            }
                        ],
                        "lastAction": "CREATE",
                        "authinfo": "gg9o3FFL/hzNbuPw",
                        "autoRenewStatus": "TRUE",
                        "registrarStatus": "ACTIVE",
                        "rddsOptIn": "NOT_SET"
                    }
                },
                "stid": "20180926-stid",
                "object": {
                    "type": "domain",
                    "value": "example.com"
                },
                "status": {
                    "code": "S0101",
                    "type": "SUCCESS"
                }
            }
        }
    ]
}"""
# The seed's XML poll reply, as published.
AUTODNS_JOB_XML = """<response>
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
</response>"""

# "Processing Transfer-Out Jobs": 1403 Transfer-Start and 1403008 Transfer-AutoACK.
STANDARD_1403 = """<system>
user: sample_user
task: 1403
status: S1403 [Outgoing transfer was started.]
success_value: domain: example.com
transaction: 1189217872
</system>"""
STANDARD_1403_DATA = {"system": {
    "user": "sample_user", "task": "1403", "status": "S1403 [Outgoing transfer was started.]",
    "success_value": "domain: example.com", "transaction": "1189217872"}}
STANDARD_1403008 = """<system>
user: sample_user
task: 1403008
status: S1403008 [The domain was removed from your inventory]
success_value: domain: example.com
transaction: 1189217877
</system>"""
STANDARD_1403008_DATA = {"system": {
    "user": "sample_user", "task": "1403008",
    "status": "S1403008 [The domain was removed from your inventory]",
    "success_value": "domain: example.com", "transaction": "1189217877"}}
# "Processing Transfer-In and Ownerchange Jobs": the reply naming the new owner; the
# status line wrapped as on the InterNetX e-mail parser page.
STANDARD_0104001 = """<system>
user: a3qs
task: 0104001
status: S0104001 [The incoming domain transfer (ACK) has been completed
successfully.]
notice: MSG01050 [OwnerC has been imported.]
transaction: qs1258619858
last_transaction: qs1258619858
</system>

<reply>
tld: eu
sld: example
owner: a3qs
owner_context: 1
owner-c: 10431169
admin-c: 10431162
tech-c: 10431162
zone-c: 10431162
nserver: ns1.example,com
nserver: ns2.example.com
period: 1
status: success
authinfo:
</reply>

<notify></notify>"""
STANDARD_0104001_DATA = {
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


def compact(v):
    return json.dumps(v, separators=(",", ":"))


def quote(text, prefix="> "):
    return "\n".join((prefix + line).rstrip() if line else prefix.rstrip()
                     for line in text.split("\n"))


# ------------------------------------------------------------------ 1. format=flowed

def flowed_samples():
    payload = compact(OPENSRS_NS_UPDATE)
    body = soft_broken(
        payload,
        '{"object_data":{"domain_name":"domainregis|tered.com","domain_id":"38391945",'
        '"nameserver_list":["ns1.systemdns.com",|"ns2.systemdns.com"]},"object":"DOMAIN",'
        '"event_id":"dc3295cdca977bbd|227fda140ca7f4dc","event":"NAMESERVER_UPDATE",'
        '"event_date":"2014-09-09T21:|17:48Z"}')
    text = ("FYI, the name servers changed.\n\n"
            "Begin forwarded message:\n\n"
            "From: OpenSRS <notifications@opensrs.net>\n"
            # A break at the sender's own space: two spaces, one of them deleted.
            "Subject: Event notification: DOMAIN: NAMESERVER_UPDATE:  \n"
            "dc3295cdca977bbd227fda140ca7f4dc\n"
            "Date: 9 September 2014 at 23:17:48 CEST\n"
            "To: Domain Ops <domains@reseller.example>\n\n"
            + body + "\n")
    eml = mail([
        "From: Jane Ops <jane@reseller.example>",
        "Content-Type: text/plain;",
        "\tcharset=us-ascii;",
        "\tdelsp=yes;",
        "\tformat=flowed",
        "Content-Transfer-Encoding: 7bit",
        "Mime-Version: 1.0 (Mac OS X Mail 16.0 \\(3774.600.62\\))",
        "Subject: Fwd: Event notification: DOMAIN: NAMESERVER_UPDATE: dc3295cdca977bbd227fda140ca7f4dc",
        "Date: Wed, 10 Sep 2014 08:02:11 +0200",
        "Message-Id: <5F1C2B7A-0D4E-4C39-9B1E-7A4D2C9E0F11@reseller.example>",
        "To: Domain Ops <domains@reseller.example>",
        "X-Mailer: Apple Mail (2.3774.600.62)",
    ], text)
    write("opensrs-nameserver-update-flowed-delsp-apple-mail", eml, [ev(
        "opensrs", "dc3295cdca977bbd227fda140ca7f4dc", "event", "domain", "NAMESERVER_UPDATE",
        "domain.nameservers_changed", "domainregistered.com", None, None,
        "2014-09-09T21:17:48Z", "json", OPENSRS_NS_UPDATE)])

    payload = compact(AUTODNS_TRANSFER_START)
    body = soft_broken(
        payload,
        '{"stid":"20220119-app3-dev-5016","status":{"code":"S0905","text":|'
        '"The notification was polled successfully.","type":"SUCCESS"},"object":|'
        '{"type":"Message","value":"1012054052","summary":1},"data":[{"id":10120|54052,'
        '"notify":{"type":"transfer_start","object":{"type":"Transfer","data":|'
        '{"gainingRegistrar":"greg","loosingRegistrar":"lreg","start":|'
        '"2022-01-19T10:54:42.000+0100","reminder":"2022-01-22T10:54:42.000+0100",|'
        '"end":"2022-01-24T10:54:42.000+0100"}}},"object":{"type":"Domain","value":|'
        '"exam|ple.org","data":{"name":"example.org"}}}]}')
    text = ("Heads-up: a transfer out of example.org has started. Did the customer ask for it?\n\n"
            "Begin forwarded message:\n\n"
            "From: AutoDNS <noreply@autodns.com>\n"
            "Subject: AutoDNS Notification 1012054052\n"
            "Date: 19 January 2022 at 10:54:42 CET\n"
            "To: Domain Ops <domains@reseller.example>\n\n"
            + body + "\n")
    # Soft-break the forwarder's own long line too (at its spaces).
    text = text.replace("started. Did", "started.  \nDid")
    eml = mail([
        "From: Jane Ops <jane@reseller.example>",
        # Parameter names and values in another case: they are case-insensitive.
        "Content-Type: text/plain; charset=us-ascii; Format=Flowed; DelSp=Yes",
        "Content-Transfer-Encoding: 7bit",
        "Mime-Version: 1.0 (Mac OS X Mail 16.0 \\(3774.600.62\\))",
        "Subject: Fwd: AutoDNS Notification 1012054052",
        "Date: Wed, 19 Jan 2022 11:20:05 +0100",
        "Message-Id: <0B3E7C51-93D2-4F5A-A0B6-2E41C7D9F304@reseller.example>",
        "To: Domain Ops <domains@reseller.example>",
        "X-Mailer: Apple Mail (2.3774.600.62)",
    ], text)
    write("autodns-notify-transfer-start-flowed-delsp-apple-mail", eml, [ev(
        "autodns", "1012054052", "event", "domain", "transfer_start", "transfer.out",
        "example.org", "pending", None, None, "json", AUTODNS_TRANSFER_START_ITEM)])


# ------------------------------------------------------------------ 2. Outlook HTML

OUTLOOK_HEAD = """<html xmlns:v="urn:schemas-microsoft-com:vml" xmlns:o="urn:schemas-microsoft-com:office:office" xmlns:w="urn:schemas-microsoft-com:office:word" xmlns:m="http://schemas.microsoft.com/office/2004/12/omml" xmlns="http://www.w3.org/TR/REC-html40">
<head>
<meta http-equiv="Content-Type" content="text/html; charset=us-ascii">
<meta name="Generator" content="Microsoft Word 15 (filtered medium)">
<style><!--
/* Font Definitions */
@font-face
	{font-family:"Cambria Math";
	panose-1:2 4 5 3 5 4 6 3 2 4;}
@font-face
	{font-family:Calibri;
	panose-1:2 15 5 2 2 2 4 3 2 4;}
/* Style Definitions */
p.MsoNormal, li.MsoNormal, div.MsoNormal
	{margin:0cm;
	font-size:11.0pt;
	font-family:"Calibri",sans-serif;}
span.EmailStyle17
	{mso-style-type:personal-compose;}
--></style><!--[if gte mso 9]><xml>
<o:shapedefaults v:ext="edit" spidmax="1026" />
</xml><![endif]-->
</head>
"""


def outlook_indent(line):
    """Outlook's plain-to-HTML rendering of leading spaces: `&nbsp;` but the last."""
    n = len(line) - len(line.lstrip(" "))
    lead = "&nbsp;" * (n - 1) + " " if n else ""
    rest = line[n:].replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")
    return lead + rest


def html_mail(headers, html):
    qp = quopri.encodestring(html.encode("ascii")).decode("ascii")
    return "\r\n".join(headers) + "\r\n\r\n" + qp.replace("\n", "\r\n")


def outlook_samples():
    pretty = json.dumps(OPENSRS_TRANSFER, indent=4)
    paras = "\n".join('<p class="MsoNormal">%s<o:p></o:p></p>' % (outlook_indent(l) or "<o:p>&nbsp;</o:p>")
                      for l in pretty.split("\n"))
    html = OUTLOOK_HEAD + """<body lang="EN-US" link="#0563C1" vlink="#954F72" style="word-wrap:break-word">
<div class="WordSection1">
<p class="MsoNormal">Transfer of domainregistered.com completed, please bill the customer.<o:p></o:p></p>
<p class="MsoNormal"><o:p>&nbsp;</o:p></p>
<p class="MsoNormal">Jane<o:p></o:p></p>
<p class="MsoNormal"><o:p>&nbsp;</o:p></p>
<div style="border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm">
<p class="MsoNormal"><b>From:</b> OpenSRS &lt;notifications@opensrs.net&gt; <br>
<b>Sent:</b> Tuesday, September 9, 2014 11:16 PM<br>
<b>To:</b> Domain Ops &lt;domains@reseller.example&gt;<br>
<b>Subject:</b> Event notification: TRANSFER: STATUS_CHANGE: 70ee0bd48660c737cc1b08501e214236<o:p></o:p></p>
</div>
<p class="MsoNormal"><o:p>&nbsp;</o:p></p>
""" + paras + """
</div>
</body>
</html>
"""
    eml = html_mail([
        "From: Jane Ops <jane@reseller.example>",
        "To: Domain Ops <domains@reseller.example>",
        "Subject: FW: Event notification: TRANSFER: STATUS_CHANGE: 70ee0bd48660c737cc1b08501e214236",
        "Thread-Topic: Event notification: TRANSFER: STATUS_CHANGE: 70ee0bd48660c737cc1b08501e214236",
        "Thread-Index: AQHYt1x2c3VwcG9ydA==",
        "Date: Wed, 10 Sep 2014 07:45:12 +0000",
        "Message-ID: <AM6PR08MB4211C0FFEE4D2A1B9C3E7F55A1@AM6PR08MB4211.eurprd08.prod.outlook.com>",
        "Accept-Language: en-US",
        "Content-Language: en-US",
        "X-MS-Has-Attach:",
        "X-MS-TNEF-Correlator:",
        "Content-Type: text/html; charset=\"us-ascii\"",
        "Content-Transfer-Encoding: quoted-printable",
        "MIME-Version: 1.0",
    ], html)
    write("opensrs-transfer-status-change-outlook-html-forward", eml, [ev(
        "opensrs", "70ee0bd48660c737cc1b08501e214236", "event", "transfer", "STATUS_CHANGE",
        "transfer.in", "domainregistered.com", "completed", None, "2014-09-09T21:16:23Z",
        "json", OPENSRS_TRANSFER)])

    # Outlook on the web: one <div> per line, <br> in the header block.
    divs = "\n".join("<div>%s</div>" % (outlook_indent(l) or "<br>")
                     for l in AUTODNS_JOB_JSON.split("\n"))
    html = """<html><head>
<meta http-equiv="Content-Type" content="text/html; charset=us-ascii">
<style type="text/css" style="display:none;"> P {margin-top:0;margin-bottom:0;} </style>
</head>
<body dir="ltr">
<div style="font-family: Calibri, Arial, Helvetica, sans-serif; font-size: 12pt; color: rgb(0, 0, 0);">
Registration of example.com done (job 4295609745).</div>
<div id="appendonsend"></div>
<hr style="display:inline-block;width:98%" tabindex="-1">
<div id="divRplyFwdMsg" dir="ltr"><font face="Calibri, sans-serif" style="font-size:11pt" color="#000000"><b>From:</b> AutoDNS &lt;noreply@autodns.com&gt;<br>
<b>Sent:</b> Wednesday, September 26, 2018 3:12 PM<br>
<b>To:</b> Domain Ops &lt;domains@reseller.example&gt;<br>
<b>Subject:</b> AutoDNS Notification 1819917</font>
<div>&nbsp;</div>
</div>
<div>
""" + divs + """
</div>
</body>
</html>
"""
    eml = html_mail([
        "From: Jane Ops <jane@reseller.example>",
        "To: Domain Ops <domains@reseller.example>",
        "Subject: Fw: AutoDNS Notification 1819917",
        "Thread-Topic: AutoDNS Notification 1819917",
        "Thread-Index: AQHY0c2pbm90aWZpY2F0aW9u",
        "Date: Thu, 27 Sep 2018 06:30:44 +0000",
        "Message-ID: <DB7PR03MB5078A1E0C4F94B2D8E6B3A9FC4E@DB7PR03MB5078.eurprd03.prod.outlook.com>",
        "Accept-Language: de-DE, en-US",
        "Content-Language: en-US",
        "X-MS-Has-Attach:",
        "Content-Type: text/html; charset=\"us-ascii\"",
        "Content-Transfer-Encoding: quoted-printable",
        "MIME-Version: 1.0",
    ], html)
    item = json.loads(AUTODNS_JOB_JSON)["data"][0]
    write("autodns-job-success-json-outlook-web-html-forward", eml, [ev(
        "autodns", "1819917", "job", "domain", "S0101", "job.result", "example.com",
        "success", None, None, "json", item)])


# ------------------------------------------------------------------ 3. quoted Standard

def standard_reply_samples():
    original = "Dear customer,\n\n" + STANDARD_1403 + "\n\nKind regards\nYour AutoDNS team"
    text = ("Hi,\n\nis this outgoing transfer expected? example.com should stay with us.\n\n"
            "Thanks,\nJane\n\n"
            "On Fri, 17 Aug 2007 at 06:04, AutoDNS <robot@autodns.com> wrote:\n"
            + quote(original) + "\n")
    eml = mail([
        "MIME-Version: 1.0",
        "Date: Fri, 17 Aug 2007 08:15:31 +0200",
        "Message-ID: <CAF8z1pN4mQ7xR2sT9vW3yZ5aB6cD8eF0gH1jK2lM3nP4qR5sT@mail.gmail.com>",
        "In-Reply-To: <1189217872.robot@autodns.com>",
        "Subject: Re: AutoDNS: S1403 Transfer-Start example.com",
        "From: Jane Ops <jane@reseller.example>",
        "To: Domain Ops <domains@reseller.example>",
        "Content-Type: text/plain; charset=\"UTF-8\"",
        "Content-Transfer-Encoding: 7bit",
    ], text)
    write("autodns-standard-transfer-start-quoted-reply", eml, [ev(
        "autodns", "1189217872", "job", "domain", "S1403", "job.result", "example.com",
        "success", "Outgoing transfer was started.", None, "text", STANDARD_1403_DATA)])

    first = ("Is this expected? The customer did not tell us.\n\n"
             "On Fri, 17 Aug 2007 at 06:04, AutoDNS <robot@autodns.com> wrote:\n"
             + quote("Dear customer,\n\n" + STANDARD_1403008 + "\n\nKind regards\nYour AutoDNS team"))
    text = ("Yes, the customer moved it on purpose. Nothing to do.\n\n"
            "On Fri, 17 Aug 2007 at 09:30, Jane Ops <jane@reseller.example> wrote:\n"
            + quote(first) + "\n")
    eml = mail([
        "MIME-Version: 1.0",
        "Date: Fri, 17 Aug 2007 10:02:09 +0200",
        "Message-ID: <CAH2k9xQ7rT4uV6wX8yZ0aB2cD4eF6gH8jK0lM2nP4qR6sT8uV@mail.gmail.com>",
        "Subject: Re: AutoDNS: S1403008 Transfer-AutoACK example.com",
        "From: Max Ops <max@reseller.example>",
        "To: Jane Ops <jane@reseller.example>",
        "Content-Type: text/plain; charset=\"UTF-8\"",
        "Content-Transfer-Encoding: 7bit",
    ], text)
    write("autodns-standard-autoack-nested-quoted-reply", eml, [ev(
        "autodns", "1189217877", "job", "domain", "S1403008", "job.result", "example.com",
        "success", "The domain was removed from your inventory", None, "text",
        STANDARD_1403008_DATA)])

    original = ("-----Original Message-----\n"
                "From: AutoDNS <robot@autodns.com>\n"
                "Sent: Thursday, November 19, 2009 9:37 AM\n"
                "To: Domain Ops <domains@reseller.example>\n"
                "Subject: AutoDNS: S0104001 example.eu\n\n"
                + STANDARD_0104001)
    text = ("The transfer of example.eu is in; please update the customer record.\n\n"
            "Jane\n\n" + quote(original) + "\n")
    eml = mail([
        "From: Jane Ops <jane@reseller.example>",
        "To: Domain Ops <domains@reseller.example>",
        "Subject: RE: AutoDNS: S0104001 example.eu",
        "Thread-Topic: AutoDNS: S0104001 example.eu",
        "Date: Thu, 19 Nov 2009 10:05:40 +0100",
        "Message-ID: <000001ca68f3$5c2b1a40$1481aec0$@reseller.example>",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=\"us-ascii\"",
        "Content-Transfer-Encoding: 7bit",
        "X-Mailer: Microsoft Office Outlook 12.0",
        "Content-Language: en-us",
    ], text)
    write("autodns-standard-transfer-in-outlook-prefixed-reply", eml, [ev(
        "autodns", "qs1258619858", "job", "domain", "S0104001", "job.result", "example.eu",
        "success", "The incoming domain transfer (ACK) has been completed successfully.",
        None, "text", STANDARD_0104001_DATA)])


# ------------------------------------------------------------------ 4. forgiving XML

def xml_samples():
    broken = AUTODNS_JOB_XML.replace(
        "<text>The notification was polled successfully.</text>",
        "<text>The notification was polled successfully./text>")
    assert broken != AUTODNS_JOB_XML
    message = minidom.parseString(AUTODNS_JOB_XML).getElementsByTagName("message")[0]
    data = xml_json(message)
    data["recovered"] = True
    eml = mail([
        "Date: Mon, 15 Oct 2018 14:03:05 +0200",
        "From: AutoDNS <noreply@autodns.com>",
        "To: Domain Ops <domains@reseller.example>",
        "Subject: AutoDNS Notification 1855680",
        "Message-ID: <20181015-app1-3805@autodns.com>",
        "MIME-Version: 1.0",
        "Content-Type: text/xml; charset=UTF-8",
        "Content-Transfer-Encoding: 8bit",
    ], broken + "\n")
    write("autodns-job-xml-closing-tag-lost-angle-bracket", eml, [ev(
        "autodns", "1855680", "job", "domain", "S0101", "job.result", "example.com",
        "success", None, "2018-10-15T12:03:02Z", "xml", data)])


if __name__ == "__main__":
    flowed_samples()
    outlook_samples()
    standard_reply_samples()
    xml_samples()
