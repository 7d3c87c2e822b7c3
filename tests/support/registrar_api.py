#!/usr/bin/env python3
"""Test doubles of the registrars' poll APIs, as their documentation describes them.

  --kind opensrs      XCP over HTTP POST: OPS_envelope XML, X-Username and X-Signature
                      (md5_hex(md5_hex(body + key) + key)) checked; EVENT POLL honours
                      `limit` (1..100) and serves the oldest unacknowledged events until
                      each is ACKed by event_id. Errors: is_success 0 with code and text.
  --kind autodns-json GET /poll (basic auth and X-Domainrobot-Context checked) serves
                      the oldest unconfirmed message with `summary` = queue length;
                      PUT /poll/{id} confirms. Errors: status.type ERROR, code, text.
  --kind autodns-xml  POST <request><auth>...</auth><task><code>0905|0906</code>...

State lives in --dir: queue.json (a list of messages; for OpenSRS event objects, for
AutoDNS JSON data items, for AutoDNS XML the text of a <message> element, each with
"id"), acked.json (ids acknowledged, survives restarts), requests.jsonl (one line per
request: what was asked and answered; never the secret), faults.json (optional:
{"hang_ack": true} holds every acknowledgement until the flag is cleared, then answers
503; {"fail": N} answers the next requests with HTTP 500; {"forget_acks": true} answers
acknowledgements with success but keeps the messages queued).
Prints READY once listening; exits when stdin closes (--exit-on-stdin-eof).
"""
import argparse
import base64
import hashlib
import http.server
import json
import os
import socket
import sys
import threading
import time
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

LOCK = threading.Lock()


def load(path, default):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return default


def save(path, value):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(value, f)
    os.replace(tmp, path)


def ops_value(v, indent="     "):
    if isinstance(v, dict):
        items = "".join(
            f'{indent} <item key="{escape(str(k))}">{ops_value(x, indent + "  ")}</item>\n'
            for k, x in v.items()
        )
        return f"\n{indent}<dt_assoc>\n{items}{indent}</dt_assoc>\n{indent[:-1]}"
    if isinstance(v, list):
        items = "".join(
            f'{indent} <item key="{i}">{ops_value(x, indent + "  ")}</item>\n'
            for i, x in enumerate(v)
        )
        return f"\n{indent}<dt_array>\n{items}{indent}</dt_array>\n{indent[:-1]}"
    return escape(str(v))


def ops_reply(code, text, success, attributes=None):
    body = {
        "protocol": "XCP",
        "object": "EVENT",
        "response_code": str(code),
        "is_success": "1" if success else "0",
        "response_text": text,
        "transaction_id": time.strftime("%Y-%m-%d %H:%M:%S ") + str(time.monotonic_ns() % 100000),
        "action": "REPLY",
    }
    if attributes is not None:
        body["attributes"] = attributes
    return (
        "<?xml version='1.0' encoding=\"UTF-8\" standalone=\"no\" ?>\n"
        '<!DOCTYPE OPS_envelope SYSTEM "ops.dtd">\n'
        "<OPS_envelope>\n <header>\n  <version>0.9</version>\n </header>\n <body>\n  <data_block>"
        + ops_value(body, "   ")
        + " </data_block>\n </body>\n</OPS_envelope>\n"
    )


def ops_parse(body):
    """The request's dt_assoc as a dict (nested dt_assoc/dt_array kept)."""
    root = ET.fromstring(body)

    def value(el):
        kids = list(el)
        if not kids:
            return (el.text or "").strip()
        inner = kids[0]
        if inner.tag == "dt_assoc":
            return {i.get("key"): value(i) for i in inner.findall("item")}
        if inner.tag == "dt_array":
            return [value(i) for i in inner.findall("item")]
        return (inner.text or "").strip()

    assoc = root.find("body/data_block/dt_assoc")
    if assoc is None:
        raise ValueError("no data_block/dt_assoc")
    return {i.get("key"): value(i) for i in assoc.findall("item")}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        # Headers and body go out in separate writes: without this, Nagle and delayed
        # ACK add 40 ms to every request.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s\n" % (self.address_string(), fmt % args))

    # -- state -------------------------------------------------------------------
    def state(self):
        d = self.server.dir
        return load(os.path.join(d, "queue.json"), []), load(os.path.join(d, "acked.json"), [])

    def ack_id(self, mid):
        d = self.server.dir
        if self.faults().get("forget_acks"):
            # A registrar bug: the ACK is answered success but the message stays queued.
            return True
        with LOCK:
            queue, acked = self.state()
            known = any(str(m["id"]) == mid for m in queue)
            if known and mid not in acked:
                acked.append(mid)
                save(os.path.join(d, "acked.json"), acked)
            return known

    def pending(self):
        queue, acked = self.state()
        return [m for m in queue if str(m["id"]) not in acked]

    def record(self, **entry):
        with LOCK:
            with open(os.path.join(self.server.dir, "requests.jsonl"), "a") as f:
                f.write(json.dumps(entry) + "\n")

    def faults(self):
        return load(os.path.join(self.server.dir, "faults.json"), {})

    def hold_ack(self):
        """True when an acknowledgement must not go through (answered 503)."""
        if not self.faults().get("hang_ack"):
            return False
        self.record(action="ACK-HELD")
        deadline = time.monotonic() + 60
        while self.faults().get("hang_ack") and time.monotonic() < deadline:
            time.sleep(0.05)
        return True

    def injected_failure(self):
        with LOCK:
            f = self.faults()
            if f.get("fail", 0) > 0:
                f["fail"] -= 1
                save(os.path.join(self.server.dir, "faults.json"), f)
                return True
        return False

    def reply(self, status, body, ctype):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    # -- OpenSRS -------------------------------------------------------------------
    def opensrs(self):
        body = self.body()
        a = self.server.args
        ctype = "text/xml"
        if self.injected_failure():
            self.record(action="FAIL", status=500)
            return self.reply(500, "<html><body>Internal Server Error</body></html>", "text/html")
        inner = hashlib.md5(body + a.secret.encode()).hexdigest()
        expected = hashlib.md5((inner + a.secret).encode()).hexdigest()
        if self.headers.get("X-Username") != a.user or self.headers.get("X-Signature") != expected:
            self.record(action="AUTH", ok=False, status=401)
            return self.reply(401, ops_reply(400, "Authentication Error.", False), ctype)
        try:
            req = ops_parse(body)
        except (ET.ParseError, ValueError) as e:
            self.record(action="BAD", ok=False)
            return self.reply(200, ops_reply(400, f"Invalid XML: {e}", False), ctype)
        action = str(req.get("action", "")).upper()
        obj = str(req.get("object", "")).upper()
        attrs = req.get("attributes") or {}
        if obj != "EVENT" or action not in ("POLL", "ACK"):
            self.record(action=action, ok=False)
            return self.reply(200, ops_reply(430, "Invalid command.", False), ctype)
        if action == "POLL":
            try:
                limit = int(attrs.get("limit", 1))
            except ValueError:
                limit = 0
            if not 1 <= limit <= 100:
                self.record(action="POLL", ok=False, limit=attrs.get("limit"))
                return self.reply(200, ops_reply(465, "Invalid limit: 1 to 100", False), ctype)
            events = [dict((k, v) for k, v in m.items() if k != "id") for m in self.pending()[:limit]]
            self.record(action="POLL", ok=True, limit=limit, ids=[e["event_id"] for e in events])
            return self.reply(
                200,
                ops_reply(200, "Command successful", True, {"events": events, "total": str(len(events))}),
                ctype,
            )
        event_id = str(attrs.get("event_id", ""))
        if self.hold_ack():
            return self.reply(503, "held", "text/plain")
        if not self.ack_id(event_id):
            self.record(action="ACK", ok=False, ids=[event_id])
            return self.reply(200, ops_reply(415, f"Event {event_id} not found", False), ctype)
        self.record(action="ACK", ok=True, ids=[event_id])
        return self.reply(200, ops_reply(200, "Command successful", True, {"total": "0"}), ctype)

    # -- AutoDNS JSON ----------------------------------------------------------------
    def autodns_error(self, status, code, text):
        body = {"stid": "test-stid", "status": {"code": code, "text": text, "type": "ERROR"}}
        return self.reply(status, json.dumps(body), "application/json")

    def autodns_auth_ok(self):
        a = self.server.args
        want = "Basic " + base64.b64encode(f"{a.user}:{a.secret}".encode()).decode()
        return self.headers.get("Authorization") == want and self.headers.get("X-Domainrobot-Context") == a.context

    def autodns_json(self, method):
        if method == "POST" or method == "PUT":
            self.body()
        if self.injected_failure():
            self.record(action="FAIL", status=500)
            return self.reply(500, "<html><body>Internal Server Error</body></html>", "text/html")
        if not self.autodns_auth_ok():
            self.record(action="AUTH", ok=False, status=401)
            return self.autodns_error(401, "EF02022", "Authentication error.")
        path = self.path.split("?")[0].rstrip("/")
        base = self.server.args.base.rstrip("/")
        if method == "GET" and path == base + "/poll":
            pending = self.pending()
            self.record(action="POLL", ok=True, ids=[str(pending[0]["id"])] if pending else [])
            if not pending:
                body = {"stid": "test-stid", "status": {"code": "S0905", "text": "The notification was polled successfully.", "type": "SUCCESS"},
                        "data": [{"summary": 0}]}
                return self.reply(200, json.dumps(body), "application/json")
            first = dict(pending[0])
            mid = str(first.pop("id"))
            item = {"summary": len(pending)}
            item.update(first)
            body = {"stid": "test-stid", "status": {"code": "S0905", "text": "The notification was polled successfully.", "type": "SUCCESS"},
                    "object": {"type": "message", "value": mid}, "data": [item]}
            return self.reply(200, json.dumps(body), "application/json")
        if method == "PUT" and path.startswith(base + "/poll/"):
            mid = path[len(base + "/poll/"):]
            if self.hold_ack():
                return self.reply(503, "held", "text/plain")
            if not self.ack_id(mid):
                self.record(action="ACK", ok=False, ids=[mid])
                return self.autodns_error(404, "E0906", f"The notification {mid} could not be found.")
            self.record(action="ACK", ok=True, ids=[mid])
            body = {"stid": "test-stid", "status": {"code": "S0906", "text": "The notification was confirmed successfully.", "type": "SUCCESS"},
                    "object": {"type": "message", "value": mid}}
            return self.reply(200, json.dumps(body), "application/json")
        self.record(action="UNKNOWN", ok=False, path=path)
        return self.autodns_error(404, "E404", "Not found.")

    # -- AutoDNS XML -----------------------------------------------------------------
    def xml_reply(self, code, text, kind, data=""):
        return self.reply(
            200,
            f"<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<response><result><data>{data}</data>"
            f"<status><code>{code}</code><text>{escape(text)}</text><type>{kind}</type></status>"
            f"</result><stid>test-stid</stid></response>\n",
            "text/xml",
        )

    def autodns_xml(self):
        body = self.body()
        a = self.server.args
        if self.injected_failure():
            self.record(action="FAIL", status=500)
            return self.reply(500, "<html><body>Internal Server Error</body></html>", "text/html")
        try:
            root = ET.fromstring(body)
        except ET.ParseError as e:
            self.record(action="BAD", ok=False)
            return self.xml_reply("EF00000", f"XML parse error: {e}", "error")
        auth = root.find("auth")
        if auth is None or auth.findtext("user") != a.user or auth.findtext("password") != a.secret \
                or auth.findtext("context") != a.context:
            self.record(action="AUTH", ok=False)
            return self.xml_reply("EF02022", "Authentication error.", "error")
        code = (root.findtext("task/code") or "").strip()
        if code == "0905":
            pending = self.pending()
            self.record(action="POLL", ok=True, ids=[str(pending[0]["id"])] if pending else [])
            if not pending:
                return self.xml_reply("S0905", "The notification was polled successfully.", "success", "<summary>0</summary>")
            return self.xml_reply("S0905", "The notification was polled successfully.", "success",
                                  f"<summary>{len(pending)}</summary>{pending[0]['xml']}")
        if code == "0906":
            mid = (root.findtext("task/message/id") or "").strip()
            if self.hold_ack():
                return self.reply(503, "held", "text/plain")
            if not self.ack_id(mid):
                self.record(action="ACK", ok=False, ids=[mid])
                return self.xml_reply("E0906", f"The notification {mid} could not be found.", "error")
            self.record(action="ACK", ok=True, ids=[mid])
            return self.xml_reply("S0906", "The notification was confirmed successfully.", "success",
                                  f"<summary>{len(self.pending())}</summary><message><id>{escape(mid)}</id></message>")
        self.record(action="UNKNOWN", ok=False, code=code)
        return self.xml_reply("EF01000", f"Unknown task {code}.", "error")

    # -- dispatch ----------------------------------------------------------------------
    def dispatch(self, method):
        kind = self.server.args.kind
        try:
            if kind == "opensrs":
                if method != "POST":
                    return self.reply(405, "", "text/plain")
                return self.opensrs()
            if kind == "autodns-json":
                return self.autodns_json(method)
            if method != "POST":
                return self.reply(405, "", "text/plain")
            return self.autodns_xml()
        except BrokenPipeError:
            pass

    def do_GET(self):
        self.dispatch("GET")

    def do_POST(self):
        self.dispatch("POST")

    def do_PUT(self):
        self.dispatch("PUT")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--kind", required=True, choices=["opensrs", "autodns-json", "autodns-xml"])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--dir", required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--secret", required=True)
    p.add_argument("--context", default="4")
    p.add_argument("--base", default="/v1")
    p.add_argument("--exit-on-stdin-eof", action="store_true")
    args = p.parse_args()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.args = args
    server.dir = args.dir
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print("READY", flush=True)
    if args.exit_on_stdin_eof:
        sys.stdin.read()
    else:
        threading.Event().wait()
    server.shutdown()


if __name__ == "__main__":
    main()
