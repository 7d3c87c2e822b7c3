#!/usr/bin/env python3
"""A test double of Amazon SNS's HTTP(S) delivery side, as AWS documents it.

Docs followed:
  https://docs.aws.amazon.com/sns/latest/dg/http-subscription-confirmation-json.html
  https://docs.aws.amazon.com/sns/latest/dg/http-notification-json.html
  https://docs.aws.amazon.com/sns/latest/dg/http-unsubscribe-confirmation-json.html
  https://docs.aws.amazon.com/sns/latest/dg/http-header.html
  https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html
  https://docs.aws.amazon.com/sns/latest/dg/sns-message-delivery-retries.html
  https://docs.aws.amazon.com/sns/latest/api/API_ConfirmSubscription.html
  https://docs.aws.amazon.com/sns/latest/api/API_Unsubscribe.html
  https://docs.aws.amazon.com/sns/latest/api/CommonErrors.html

SNS's own endpoint: HTTPS on 127.0.0.1:--port with the given certificate (--cert, --key);
the TLS handshake is made on the connection's own thread, so a silent client holds up
nobody. Every request is recorded (GET /requests on the control port).
  GET /SimpleNotificationService-<32 hex>.pem   the signing certificate (PEM): a
      self-signed X.509 certificate of an RSA 2048 key made at start (CN
      sns.amazonaws.com). A second, unrelated key's certificate is served too, at
      another such path, so a message can be signed by a key that is not the one its
      SigningCertURL names. Any other path: 404.
  GET or POST /?Action=ConfirmSubscription&TopicArn=…&Token=…   (the SubscribeURL)
      confirms the subscription whose token it is: ConfirmSubscriptionResponse XML with
      its SubscriptionArn (again when already confirmed). A token of no subscription of
      that topic: 400 InvalidParameter "Invalid token"; a topic nobody subscribed to:
      404 NotFound "Topic does not exist"; TopicArn or Token missing: 400
      ValidationError. Query API errors are AWS's ErrorResponse XML.
  GET or POST /?Action=Unsubscribe&SubscriptionArn=…   (the UnsubscribeURL)
      ends deliveries to that subscription (UnsubscribeResponse XML) and posts it an
      UnsubscribeConfirmation whose SubscribeURL confirms it again; an unknown
      subscription: 404 NotFound "Subscription does not exist".
  Any other Action: 400 InvalidAction.

Deliveries: POST to the subscribed endpoint URL (http:// or https://, the --ca trusted;
user:password@ in the URL is sent as Basic authorization, as SNS does; no proxy, no
redirect followed). Headers as documented: x-amz-sns-message-type,
x-amz-sns-message-id, x-amz-sns-topic-arn, x-amz-sns-subscription-arn (notifications
and unsubscribe confirmations), Content-Type text/plain; charset=UTF-8, Connection
Keep-Alive, User-Agent "Amazon Simple Notification Service Agent". The body is the JSON
document laid out as SNS sends it (2-space indent, `"Key" : "Value"`, the documented key
order; UTF-8, not \\u-escaped). Signature over the documented string to sign
(Notification: Message, MessageId, Subject if present, Timestamp, TopicArn, Type;
confirmations: Message, MessageId, SubscribeURL, Timestamp, Token, TopicArn, Type; each
"Key\\nValue\\n"), SignatureVersion 1 = SHA1withRSA, 2 = SHA256withRSA (PKCS#1 v1.5),
base64. One Publish is one MessageId, Timestamp and Signature for all its subscribers
(only UnsubscribeURL differs per subscription).

Retries, as SNS's delivery policy: an attempt has failed when the answer is 500-599 or
outside 200-599, when no answer came within --timeout seconds (SNS: 15; the Rust
harness passes 5), or on any connection or TLS error; a failed attempt is retried with
the very same bytes --retries times, --retry-delay seconds apart. A 2xx or 4xx answer
ends the delivery (SNS does not retry client errors). Every attempt is recorded in
memory and in --dir/attempts.jsonl (message id, endpoint, attempt number, status or
error).

Control (plain HTTP on 127.0.0.1:--control-port, JSON in and out; errors are
{"error": …} with status 400 (bad request) or 500 (bug, traceback in the log)):
  POST /subscribe   {topic, endpoint, version?}   -> {status, message_id, subscription_arn}
        posts a SubscriptionConfirmation and answers after the first attempt (status 0:
        no answer); retries go on in the background. An endpoint already confirmed on
        the topic gets nothing, as with SNS: {status: 0, message_id: null, …}.
  GET  /confirmed?topic=&endpoint=              -> {confirmed}
  POST /unsubscribe {topic, endpoint}           -> {message_id} (as visiting UnsubscribeURL)
  POST /publish     {topic, message, subject?, version} -> {message_id, deliveries}
        Publish's own checks: a non-empty message of at most 256 KiB, a subject of
        ASCII printable characters, 1-99 of them (else 400 InvalidParameter).
  GET  /attempts?message_id=                    -> [{attempt, status, error, endpoint}]
  GET  /delivery?message_id=                    -> {attempts, settled}
  GET  /sent?message_id=                        -> [{endpoint, headers, body}] one per
        delivery (every attempt of it sent exactly these bytes)
  POST /envelope    {type, topic, message, subject?, version, timestamp?, signer?,
                     message_id?, token?}         -> the signed envelope, not sent
        signer "sns" (default) or "other": "other" signs with the second key while
        SigningCertURL still names the first one's certificate.
  GET  /certs                                   -> {sns: {url, pem}, other: {url, pem}}
  GET  /requests                                -> [{method, path, status}] SNS's own
        endpoint's requests (certificate fetches, SubscribeURL visits)
Prints READY once listening; exits when stdin closes (--exit-on-stdin-eof) or on SIGTERM.
"""
import argparse
import base64
import datetime
import http.client
import json
import os
import secrets
import socket
import ssl
import sys
import threading
import time
import traceback
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.sax.saxutils import escape

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

XMLNS = "http://sns.amazonaws.com/doc/2010-03-31/"
USER_AGENT = "Amazon Simple Notification Service Agent"
# The documented key order of each message type (as in AWS's examples).
ORDER = {
    "Notification": ["Type", "MessageId", "TopicArn", "Subject", "Message", "Timestamp",
                     "SignatureVersion", "Signature", "SigningCertURL", "UnsubscribeURL"],
    "SubscriptionConfirmation": ["Type", "MessageId", "Token", "TopicArn", "Message",
                                 "SubscribeURL", "Timestamp", "SignatureVersion",
                                 "Signature", "SigningCertURL"],
}
ORDER["UnsubscribeConfirmation"] = ORDER["SubscriptionConfirmation"]

LOCK = threading.Lock()
SUBSCRIPTIONS = {}  # subscription arn -> {topic, endpoint, token, confirmed, arn}
ATTEMPTS = {}  # message id -> [{attempt, status, error, endpoint}]
PENDING = {}  # message id -> deliveries not finished
SENT = {}  # message id -> [{endpoint, headers, body}]
REQUESTS = []  # SNS endpoint requests: {method, path, status}
ARGS = None
KEYS = {}


class BadRequest(Exception):
    pass


def log(msg):
    sys.stderr.write("%s %s\n" % (stamp(), msg))
    sys.stderr.flush()


def make_key(name):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    KEYS[name] = {
        "key": key,
        "pem": cert.public_bytes(serialization.Encoding.PEM),
        "path": "/SimpleNotificationService-%s.pem" % secrets.token_hex(16),
    }


def base():
    return "https://127.0.0.1:%d" % ARGS.port


def stamp(t=None):
    """2012-04-26T20:45:04.751Z: UTC, milliseconds."""
    t = t or datetime.datetime.now(datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (t.microsecond // 1000)


def query_url(action, **params):
    # As SNS writes them: ARNs' colons are not percent-encoded.
    q = "&".join("%s=%s" % (k, urllib.parse.quote(v, safe=":")) for k, v in params.items())
    return "%s/?Action=%s&%s" % (base(), action, q)


def string_to_sign(m):
    if m["Type"] == "Notification":
        keys = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
    else:
        keys = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn",
                "Type"]
    return "".join("%s\n%s\n" % (k, m[k]) for k in keys if k in m).encode("utf-8")


def sign(m, version, signer="sns"):
    if str(version) not in ("1", "2"):
        raise BadRequest("SignatureVersion must be 1 or 2, not %r" % (version,))
    if signer not in KEYS:
        raise BadRequest("signer must be sns or other, not %r" % (signer,))
    digest = hashes.SHA1() if str(version) == "1" else hashes.SHA256()
    sig = KEYS[signer]["key"].sign(string_to_sign(m), padding.PKCS1v15(), digest)
    m["SignatureVersion"] = str(version)
    m["Signature"] = base64.b64encode(sig).decode()
    # Always the real key's certificate: "other" is a signature by a key it does not name.
    m["SigningCertURL"] = base() + KEYS["sns"]["path"]
    return m


def ordered(m):
    keys = ORDER.get(m["Type"], [])
    return {k: m[k] for k in keys + [k for k in m if k not in keys] if k in m}


def envelope(kind, topic, message, subject=None, version=1, timestamp=None, signer="sns",
             token=None, message_id=None, subscription_arn=None):
    if kind not in ORDER:
        raise BadRequest("unknown message type %r" % (kind,))
    m = {"Type": kind, "MessageId": message_id or str(uuid.uuid4()), "TopicArn": topic,
         "Message": message, "Timestamp": timestamp or stamp()}
    if kind == "Notification":
        if subject is not None:
            m["Subject"] = subject
    else:
        m["Token"] = token or secrets.token_hex(128)
        m["SubscribeURL"] = query_url("ConfirmSubscription", TopicArn=topic, Token=m["Token"])
    sign(m, version, signer)
    if kind == "Notification":
        m["UnsubscribeURL"] = query_url(
            "Unsubscribe", SubscriptionArn=subscription_arn or "%s:%s" % (topic, uuid.uuid4()))
    return ordered(m)


def body_of(m):
    """The JSON document as SNS lays it out."""
    lines = ["  %s : %s" % (json.dumps(k), json.dumps(v, ensure_ascii=False))
             for k, v in ordered(m).items()]
    return ("{\n" + ",\n".join(lines) + "\n}").encode("utf-8")


# ---------------------------------------------------------------------------
# deliveries
# ---------------------------------------------------------------------------

def record_attempt(mid, endpoint, attempt, status, error):
    rec = {"attempt": attempt, "status": status, "error": error, "endpoint": endpoint}
    with LOCK:
        ATTEMPTS.setdefault(mid, []).append(rec)
        with open(os.path.join(ARGS.dir, "attempts.jsonl"), "a") as f:
            f.write(json.dumps(dict(rec, message_id=mid, at=stamp())) + "\n")
    log("delivery %s to %s attempt %d: %s" % (mid, endpoint, attempt,
                                               status if status is not None else error))


def attempt_once(endpoint, headers, body):
    """One POST; (status, None) or (None, error)."""
    u = urllib.parse.urlsplit(endpoint)
    conn = None
    try:
        if u.scheme == "https":
            conn = http.client.HTTPSConnection(u.hostname, u.port or 443, timeout=ARGS.timeout,
                                               context=client_tls())
        elif u.scheme == "http":
            conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=ARGS.timeout)
        else:
            return None, "unsupported endpoint scheme %r" % u.scheme
        target = (u.path or "/") + ("?" + u.query if u.query else "")
        conn.putrequest("POST", target, skip_accept_encoding=True)
        for k, v in headers:
            conn.putheader(k, v)
        if u.username is not None:
            cred = "%s:%s" % (urllib.parse.unquote(u.username),
                              urllib.parse.unquote(u.password or ""))
            conn.putheader("Authorization", "Basic " + base64.b64encode(cred.encode()).decode())
        conn.endheaders(body)
        r = conn.getresponse()
        r.read(1 << 20)
        return r.status, None
    except socket.timeout:
        return None, "no answer within %gs" % ARGS.timeout
    except Exception as e:  # refused, reset, TLS, malformed answer
        return None, "%s: %s" % (type(e).__name__, e)
    finally:
        if conn is not None:
            conn.close()


def failed(status):
    return status is None or 500 <= status <= 599 or not 200 <= status <= 599


class Delivery:
    """One message to one endpoint, with SNS's retries; the same bytes every time."""

    def __init__(self, endpoint, m, subscription_arn=None):
        self.endpoint = endpoint
        self.mid = m["MessageId"]
        self.body = body_of(m)
        self.headers = [
            ("x-amz-sns-message-type", m["Type"]),
            ("x-amz-sns-message-id", m["MessageId"]),
            ("x-amz-sns-topic-arn", m["TopicArn"]),
        ]
        if subscription_arn:
            self.headers.append(("x-amz-sns-subscription-arn", subscription_arn))
        self.headers += [
            ("Content-Length", str(len(self.body))),
            ("Content-Type", "text/plain; charset=UTF-8"),
            ("Connection", "Keep-Alive"),
            ("User-Agent", USER_AGENT),
        ]
        with LOCK:
            PENDING[self.mid] = PENDING.get(self.mid, 0) + 1
            ATTEMPTS.setdefault(self.mid, [])
            SENT.setdefault(self.mid, []).append(
                {"endpoint": endpoint, "headers": self.headers, "body": self.body.decode()})

    def attempt(self, n):
        status, error = attempt_once(self.endpoint, self.headers, self.body)
        record_attempt(self.mid, self.endpoint, n, status, error)
        return status

    def finish(self):
        with LOCK:
            PENDING[self.mid] -= 1

    def retries(self, after):
        try:
            for n in range(after + 1, ARGS.retries + 2):
                time.sleep(ARGS.retry_delay)
                if not failed(self.attempt(n)):
                    break
        finally:
            self.finish()

    def first_then_background(self):
        """The first attempt now (its status, 0 for none); retries in the background."""
        try:
            status = self.attempt(1)
        except BaseException:
            self.finish()
            raise
        if failed(status) and ARGS.retries > 0:
            threading.Thread(target=self.retries, args=(1,), daemon=True).start()
        else:
            self.finish()
        return status or 0

    def background(self):
        threading.Thread(target=self.retries, args=(0,), daemon=True).start()


def client_tls():
    return ssl.create_default_context(cafile=ARGS.ca) if ARGS.ca else ssl.create_default_context()


def find_subscription(topic, endpoint):
    for s in SUBSCRIPTIONS.values():
        if s["topic"] == topic and s["endpoint"] == endpoint:
            return s
    return None


def subscribe(topic, endpoint, version=1):
    check_topic(topic)
    with LOCK:
        s = find_subscription(topic, endpoint)
        if s and s["confirmed"]:
            return {"status": 0, "message_id": None, "subscription_arn": s["arn"]}
        if s is None:
            s = {"topic": topic, "endpoint": endpoint, "arn": "%s:%s" % (topic, uuid.uuid4()),
                 "confirmed": False}
            SUBSCRIPTIONS[s["arn"]] = s
        s["token"] = secrets.token_hex(128)
        token, arn = s["token"], s["arn"]
    m = envelope(
        "SubscriptionConfirmation", topic,
        "You have chosen to subscribe to the topic %s.\n"
        "To confirm the subscription, visit the SubscribeURL included in this message." % topic,
        version=version, token=token)
    status = Delivery(endpoint, m).first_then_background()
    return {"status": status, "message_id": m["MessageId"], "subscription_arn": arn}


def unsubscribe(arn):
    """What visiting an UnsubscribeURL does; the UnsubscribeConfirmation's message id."""
    with LOCK:
        s = SUBSCRIPTIONS.get(arn)
        if s is None or not s["confirmed"]:
            return None
        s["confirmed"] = False
        s["token"] = secrets.token_hex(128)
        topic, endpoint, token = s["topic"], s["endpoint"], s["token"]
    m = envelope(
        "UnsubscribeConfirmation", topic,
        "You have chosen to deactivate subscription %s.\n"
        "To cancel this operation and restore the subscription, visit the SubscribeURL "
        "included in this message." % arn,
        token=token)
    Delivery(endpoint, m, arn).background()
    return m["MessageId"]


def check_topic(topic):
    parts = (topic or "").split(":")
    if len(parts) != 6 or parts[:3] != ["arn", "aws", "sns"] or not parts[5]:
        raise BadRequest("not a topic ARN: %r" % (topic,))


def publish(topic, message, subject=None, version=1):
    check_topic(topic)
    if not isinstance(message, str) or not message:
        raise BadRequest("InvalidParameter: Empty message")
    if len(message.encode("utf-8")) > 256 * 1024:
        raise BadRequest("InvalidParameter: Message too long")
    if subject is not None and not (
            0 < len(subject) < 100 and all(" " <= c <= "~" for c in subject)):
        raise BadRequest("InvalidParameter: Subject must be ASCII text that begins with a "
                         "letter, number, or punctuation mark; must not include line breaks "
                         "or control characters; and must be less than 100 characters long.")
    m = envelope("Notification", topic, message, subject, version)
    with LOCK:
        targets = [(s["endpoint"], s["arn"]) for s in SUBSCRIPTIONS.values()
                   if s["topic"] == topic and s["confirmed"]]
        PENDING.setdefault(m["MessageId"], 0)
        ATTEMPTS.setdefault(m["MessageId"], [])
    for endpoint, arn in targets:
        per = dict(m, UnsubscribeURL=query_url("Unsubscribe", SubscriptionArn=arn))
        Delivery(endpoint, per, arn).background()
    return {"message_id": m["MessageId"], "deliveries": len(targets)}


# ---------------------------------------------------------------------------
# SNS's own HTTPS endpoint
# ---------------------------------------------------------------------------

def error_xml(kind, code, message):
    return ("<ErrorResponse xmlns=\"%s\">\n  <Error>\n    <Type>%s</Type>\n    <Code>%s</Code>\n"
            "    <Message>%s</Message>\n  </Error>\n  <RequestId>%s</RequestId>\n"
            "</ErrorResponse>\n" % (XMLNS, kind, code, escape(message), uuid.uuid4()))


def response_xml(action, result):
    inner = "  <%sResult>\n%s  </%sResult>\n" % (action, result, action) if result else ""
    return ("<%sResponse xmlns=\"%s\">\n%s  <ResponseMetadata>\n    <RequestId>%s</RequestId>\n"
            "  </ResponseMetadata>\n</%sResponse>\n" % (action, XMLNS, inner, uuid.uuid4(),
                                                         action))


def query_action(q):
    """(status, xml) for a query API request."""
    action = q.get("Action")
    if action == "ConfirmSubscription":
        topic, token = q.get("TopicArn"), q.get("Token")
        if not topic or not token:
            missing = "topicArn" if not topic else "token"
            return 400, error_xml("Sender", "ValidationError",
                                  "1 validation error detected: Value null at '%s' failed to "
                                  "satisfy constraint: Member must not be null" % missing)
        with LOCK:
            subs = [s for s in SUBSCRIPTIONS.values() if s["topic"] == topic]
            match = [s for s in subs if s.get("token") == token]
            if match:
                match[0]["confirmed"] = True
                arn = match[0]["arn"]
        if not subs:
            return 404, error_xml("Sender", "NotFound", "Topic does not exist")
        if not match:
            return 400, error_xml("Sender", "InvalidParameter", "Invalid token")
        log("subscription %s confirmed" % arn)
        return 200, response_xml("ConfirmSubscription",
                                 "    <SubscriptionArn>%s</SubscriptionArn>\n" % escape(arn))
    if action == "Unsubscribe":
        arn = q.get("SubscriptionArn")
        if not arn:
            return 400, error_xml("Sender", "ValidationError",
                                  "1 validation error detected: Value null at "
                                  "'subscriptionArn' failed to satisfy constraint: Member must "
                                  "not be null")
        with LOCK:
            known = arn in SUBSCRIPTIONS
        if not known:
            return 404, error_xml("Sender", "NotFound", "Subscription does not exist")
        unsubscribe(arn)
        return 200, response_xml("Unsubscribe", None)
    return 400, error_xml("Sender", "InvalidAction",
                          "The action %s is not valid for this web service." % action)


class TlsServer(ThreadingHTTPServer):
    daemon_threads = True

    def get_request(self):
        sock, addr = self.socket.accept()
        return self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr

    def handle_error(self, request, client_address):
        log("sns: %s: %s" % (client_address, sys.exc_info()[1]))


class Sns(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 10

    def setup(self):
        self.request.settimeout(self.timeout)
        self.request.do_handshake()
        super().setup()

    def log_message(self, fmt, *a):
        log("sns: " + (fmt % a))

    def reply(self, status, body, ctype="text/xml"):
        data = body.encode() if isinstance(body, str) else body
        with LOCK:
            REQUESTS.append({"method": self.command, "path": self.path, "status": status})
        self.send_response(status)
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def handle_query(self, q):
        u = urllib.parse.urlsplit(self.path)
        if u.path != "/":
            return self.reply(404, error_xml("Sender", "NotFound", "Not Found"))
        self.reply(*query_action(q))

    def do_GET(self):
        u = urllib.parse.urlsplit(self.path)
        for k in KEYS.values():
            if u.path == k["path"]:
                return self.reply(200, k["pem"], "application/x-x509-ca-cert")
        if u.path == "/" and u.query:
            return self.handle_query(dict(urllib.parse.parse_qsl(u.query)))
        self.reply(404, error_xml("Sender", "NotFound", "Not Found"))

    do_HEAD = do_GET

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        form = self.rfile.read(n).decode("utf-8", "replace")
        q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))
        q.update(urllib.parse.parse_qsl(form))
        self.handle_query(q)


# ---------------------------------------------------------------------------
# control
# ---------------------------------------------------------------------------

class Control(BaseHTTPRequestHandler):
    def log_message(self, fmt, *a):
        log("control: " + (fmt % a))

    def reply(self, value, status=200):
        data = json.dumps(value, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def guarded(self, fn):
        try:
            self.reply(fn())
        except (BadRequest, KeyError, ValueError, TypeError) as e:
            log("control: bad request %s: %r" % (self.path, e))
            self.reply({"error": "%s: %s" % (type(e).__name__, e)}, 400)
        except Exception as e:
            log("control: %s failed:\n%s" % (self.path, traceback.format_exc()))
            self.reply({"error": "%s: %s" % (type(e).__name__, e)}, 500)

    def do_GET(self):
        self.guarded(self.get)

    def do_POST(self):
        self.guarded(self.post)

    def get(self):
        u = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(u.query))
        with LOCK:
            if u.path == "/confirmed":
                s = find_subscription(q["topic"], q["endpoint"])
                return {"confirmed": bool(s and s["confirmed"])}
            if u.path == "/attempts":
                return list(ATTEMPTS.get(q["message_id"], []))
            if u.path == "/delivery":
                mid = q["message_id"]
                return {"attempts": list(ATTEMPTS.get(mid, [])),
                        "settled": mid in PENDING and PENDING[mid] == 0}
            if u.path == "/sent":
                return [{"endpoint": s["endpoint"], "headers": s["headers"], "body": s["body"]}
                        for s in SENT.get(q["message_id"], [])]
            if u.path == "/certs":
                return {name: {"url": base() + k["path"], "pem": k["pem"].decode()}
                        for name, k in KEYS.items()}
            if u.path == "/requests":
                return list(REQUESTS)
        raise BadRequest("unknown control path %s" % u.path)

    def post(self):
        n = int(self.headers.get("Content-Length") or 0)
        b = json.loads(self.rfile.read(n) or b"{}")
        u = urllib.parse.urlsplit(self.path)
        if u.path == "/subscribe":
            return subscribe(b["topic"], b["endpoint"], b.get("version") or 1)
        if u.path == "/unsubscribe":
            with LOCK:
                s = find_subscription(b["topic"], b["endpoint"])
            return {"message_id": unsubscribe(s["arn"]) if s else None}
        if u.path == "/publish":
            return publish(b["topic"], b["message"], b.get("subject"), b.get("version") or 1)
        if u.path == "/envelope":
            return envelope(b["type"], b["topic"], b["message"], b.get("subject"),
                            b.get("version") or 1, b.get("timestamp"), b.get("signer") or "sns",
                            token=b.get("token"), message_id=b.get("message_id"))
        raise BadRequest("unknown control path %s" % u.path)


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--control-port", type=int, required=True)
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--ca", help="CA to trust when delivering to https endpoints")
    p.add_argument("--dir", required=True)
    p.add_argument("--retries", type=int, default=3)
    p.add_argument("--retry-delay", type=float, default=0.3)
    p.add_argument("--timeout", type=float, default=15.0,
                   help="seconds an endpoint has to answer (SNS: 15)")
    p.add_argument("--exit-on-stdin-eof", action="store_true")
    ARGS = p.parse_args()
    make_key("sns")
    make_key("other")
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(ARGS.cert, ARGS.key)
    tls.set_alpn_protocols(["http/1.1"])
    sns = TlsServer(("127.0.0.1", ARGS.port), Sns)
    sns.tls = tls
    control = ThreadingHTTPServer(("127.0.0.1", ARGS.control_port), Control)
    control.daemon_threads = True
    for s in (sns, control):
        threading.Thread(target=s.serve_forever, daemon=True).start()
    log("listening on %s, control on 127.0.0.1:%d; certificates %s (sns), %s (other)"
        % (base(), ARGS.control_port, KEYS["sns"]["path"], KEYS["other"]["path"]))
    print("READY", flush=True)
    if ARGS.exit_on_stdin_eof:
        sys.stdin.read()
        log("stdin closed: exiting")
    else:
        threading.Event().wait()


if __name__ == "__main__":
    main()
