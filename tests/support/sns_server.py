#!/usr/bin/env python3
"""A test double of Amazon SNS's HTTP(S) delivery side, as AWS documents it.

Docs followed:
  https://docs.aws.amazon.com/sns/latest/dg/sns-message-and-json-formats.html
  https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html
  https://docs.aws.amazon.com/sns/latest/dg/sns-message-delivery-retries.html
  https://docs.aws.amazon.com/sns/latest/api/API_ConfirmSubscription.html

HTTPS on 127.0.0.1:--port with the given certificate (--cert, --key):
  GET /SimpleNotificationService-<32 hex>.pem   the signing certificate (PEM): a
      self-signed X.509 certificate of an RSA 2048 key made at start (CN
      sns.amazonaws.com); a second, unrelated key's certificate is served too, so a
      message can be signed by a key that is not the one its SigningCertURL names.
  GET /?Action=ConfirmSubscription&TopicArn=…&Token=…   confirms a subscription whose
      token matches (ConfirmSubscriptionResponse XML with its SubscriptionArn); a wrong
      token is 400 InvalidParameter "Invalid token", as SNS answers.

Deliveries: POST to the subscribed endpoint, Content-Type text/plain; charset=UTF-8,
User-Agent "Amazon Simple Notification Service Agent", headers x-amz-sns-message-type,
x-amz-sns-message-id, x-amz-sns-topic-arn (and x-amz-sns-subscription-arn for
notifications); the JSON body with the documented keys; Signature over the documented
string to sign (Notification: Message, MessageId, Subject if present, Timestamp,
TopicArn, Type; confirmations: Message, MessageId, SubscribeURL, Timestamp, Token,
TopicArn, Type; each "Key\\nValue\\n"), SignatureVersion 1 = SHA1withRSA, 2 =
SHA256withRSA. A delivery is retried with the very same body when the answer is a
failure SNS retries (5xx, a status outside 200-599, no answer within 15 s, a connection
error), never after 2xx or 4xx: --retries times, --retry-delay seconds apart.

Control (plain HTTP on 127.0.0.1:--control-port, JSON in and out):
  POST /subscribe  {topic, endpoint, version?}     -> {status, subscription}
  GET  /confirmed?topic=&endpoint=                  -> {confirmed}
  POST /publish    {topic, message, subject?, version} -> {message_id}
  GET  /attempts?message_id=                        -> [{attempt, status, error}]
  POST /envelope   {type, topic, message, subject?, version, timestamp?, signer}
                   -> the signed envelope, not sent (signer "sns" or "other")
Prints READY once listening; exits when stdin closes (--exit-on-stdin-eof).
"""
import argparse
import base64
import datetime
import json
import os
import secrets
import ssl
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

LOCK = threading.Lock()
STATE = {
    "subscriptions": {},  # (topic, endpoint) -> {token, confirmed, arn}
    "attempts": {},  # message id -> [{attempt, status, error}]
}
ARGS = None
KEYS = {}


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
    path = "/SimpleNotificationService-%s.pem" % secrets.token_hex(16)
    KEYS[name] = {
        "key": key,
        "pem": cert.public_bytes(serialization.Encoding.PEM),
        "path": path,
    }


def base():
    return "https://127.0.0.1:%d" % ARGS.port


def stamp(t=None):
    t = t or datetime.datetime.now(datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (t.microsecond // 1000)


def string_to_sign(m):
    if m["Type"] == "Notification":
        keys = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
    else:
        keys = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
    out = ""
    for k in keys:
        if k in m:
            out += "%s\n%s\n" % (k, m[k])
    return out.encode("utf-8")


def sign(m, version, signer="sns"):
    m["SignatureVersion"] = str(version)
    # The certificate named is always the real key's: "other" signs with another key.
    m["SigningCertURL"] = base() + KEYS["sns"]["path"]
    digest = hashes.SHA1() if int(version) == 1 else hashes.SHA256()
    sig = KEYS[signer]["key"].sign(string_to_sign(m), padding.PKCS1v15(), digest)
    m["Signature"] = base64.b64encode(sig).decode()
    return m


def envelope(kind, topic, message, subject=None, version=1, timestamp=None, signer="sns",
             token=None):
    m = {"Type": kind, "MessageId": str(uuid.uuid4()), "TopicArn": topic, "Message": message,
         "Timestamp": timestamp or stamp()}
    if kind == "Notification":
        if subject is not None:
            m["Subject"] = subject
        m["UnsubscribeURL"] = base() + "/?" + urllib.parse.urlencode(
            {"Action": "Unsubscribe", "SubscriptionArn": topic + ":sub"})
    else:
        m["Token"] = token or secrets.token_hex(64)
        m["SubscribeURL"] = base() + "/?" + urllib.parse.urlencode(
            {"Action": "ConfirmSubscription", "TopicArn": topic, "Token": m["Token"]})
    return sign(m, version, signer)


def log_attempt(mid, attempt, status, error):
    with LOCK:
        STATE["attempts"].setdefault(mid, []).append(
            {"attempt": attempt, "status": status, "error": error})
    with open(os.path.join(ARGS.dir, "attempts.jsonl"), "a") as f:
        f.write(json.dumps({"message_id": mid, "attempt": attempt, "status": status,
                            "error": error}) + "\n")


def post(endpoint, m, subscription_arn=None):
    """One delivery with SNS's retries; returns the first attempt's status."""
    body = json.dumps(m).encode("utf-8")
    headers = {
        "Content-Type": "text/plain; charset=UTF-8",
        "User-Agent": "Amazon Simple Notification Service Agent",
        "x-amz-sns-message-type": m["Type"],
        "x-amz-sns-message-id": m["MessageId"],
        "x-amz-sns-topic-arn": m["TopicArn"],
    }
    if subscription_arn:
        headers["x-amz-sns-subscription-arn"] = subscription_arn
    first = None
    for attempt in range(1, ARGS.retries + 2):
        status, error = None, None
        try:
            req = urllib.request.Request(endpoint, data=body, headers=headers, method="POST")
            with urllib.request.urlopen(req, timeout=15, context=client_tls()) as r:
                status = r.status
        except urllib.error.HTTPError as e:
            status = e.code
        except Exception as e:  # connection refused, timeout
            error = str(e)
        log_attempt(m["MessageId"], attempt, status, error)
        if first is None:
            first = status if status is not None else 0
        retry = status is None or status >= 500 or status < 200 or status > 599
        if not retry:
            break
        time.sleep(ARGS.retry_delay)
    return first


def client_tls():
    ctx = ssl.create_default_context(cafile=ARGS.ca) if ARGS.ca else ssl.create_default_context()
    return ctx


class Sns(BaseHTTPRequestHandler):
    def log_message(self, fmt, *a):
        sys.stderr.write("sns: " + (fmt % a) + "\n")

    def reply(self, status, body, ctype="text/xml"):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        u = urllib.parse.urlparse(self.path)
        for k in KEYS.values():
            if u.path == k["path"]:
                return self.reply(200, k["pem"], "application/x-pem-file")
        q = dict(urllib.parse.parse_qsl(u.query))
        if u.path == "/" and q.get("Action") == "ConfirmSubscription":
            with LOCK:
                for (topic, endpoint), s in STATE["subscriptions"].items():
                    if topic == q.get("TopicArn") and s["token"] == q.get("Token"):
                        s["confirmed"] = True
                        arn = s["arn"]
                        break
                else:
                    arn = None
            if arn is None:
                return self.reply(400, "<ErrorResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\"><Error><Type>Sender</Type><Code>InvalidParameter</Code><Message>Invalid token</Message></Error><RequestId>%s</RequestId></ErrorResponse>" % uuid.uuid4())
            return self.reply(200, "<ConfirmSubscriptionResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\"><ConfirmSubscriptionResult><SubscriptionArn>%s</SubscriptionArn></ConfirmSubscriptionResult><ResponseMetadata><RequestId>%s</RequestId></ResponseMetadata></ConfirmSubscriptionResponse>" % (arn, uuid.uuid4()))
        return self.reply(404, "<Error>Not Found</Error>")


class Control(BaseHTTPRequestHandler):
    def log_message(self, fmt, *a):
        sys.stderr.write("control: " + (fmt % a) + "\n")

    def reply(self, value):
        data = json.dumps(value).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(n) or b"{}")

    def do_GET(self):
        u = urllib.parse.urlparse(self.path)
        q = dict(urllib.parse.parse_qsl(u.query))
        if u.path == "/confirmed":
            with LOCK:
                s = STATE["subscriptions"].get((q.get("topic"), q.get("endpoint")))
                return self.reply({"confirmed": bool(s and s["confirmed"])})
        if u.path == "/attempts":
            with LOCK:
                return self.reply(STATE["attempts"].get(q.get("message_id"), []))
        self.reply({"error": "unknown"})

    def do_POST(self):
        u = urllib.parse.urlparse(self.path)
        b = self.body()
        if u.path == "/subscribe":
            token = secrets.token_hex(64)
            arn = "%s:%s" % (b["topic"], uuid.uuid4())
            with LOCK:
                STATE["subscriptions"][(b["topic"], b["endpoint"])] = {
                    "token": token, "confirmed": False, "arn": arn}
            m = envelope("SubscriptionConfirmation", b["topic"],
                         "You have chosen to subscribe to the topic %s.\nTo confirm the subscription, visit the SubscribeURL included in this message." % b["topic"],
                         version=b.get("version", 1), token=token)
            status = post(b["endpoint"], m)
            return self.reply({"status": status, "subscription": arn})
        if u.path == "/publish":
            m = envelope("Notification", b["topic"], b["message"], b.get("subject"),
                         b.get("version", 1))
            with LOCK:
                targets = [(e, s["arn"]) for (t, e), s in STATE["subscriptions"].items()
                           if t == b["topic"] and s["confirmed"]]
            for endpoint, arn in targets:
                threading.Thread(target=post, args=(endpoint, m, arn), daemon=True).start()
            return self.reply({"message_id": m["MessageId"]})
        if u.path == "/envelope":
            m = envelope(b["type"], b["topic"], b["message"], b.get("subject"),
                         b.get("version", 1), b.get("timestamp"), b.get("signer", "sns"))
            return self.reply(m)
        self.reply({"error": "unknown"})


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
    p.add_argument("--exit-on-stdin-eof", action="store_true")
    ARGS = p.parse_args()
    make_key("sns")
    make_key("other")
    sns = ThreadingHTTPServer(("127.0.0.1", ARGS.port), Sns)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(ARGS.cert, ARGS.key)
    sns.socket = ctx.wrap_socket(sns.socket, server_side=True)
    control = ThreadingHTTPServer(("127.0.0.1", ARGS.control_port), Control)
    for s in (sns, control):
        threading.Thread(target=s.serve_forever, daemon=True).start()
    print("READY", flush=True)
    if ARGS.exit_on_stdin_eof:
        sys.stdin.read()
    else:
        threading.Event().wait()


if __name__ == "__main__":
    main()
