#!/usr/bin/env python3
"""A test double of Gandi's notification API (XML-RPC, API v3), as Gandi documents it.

POST /xmlrpc/ with an XML-RPC methodCall (stdlib xmlrpc.server). Every method takes the
API key as its first argument; a key that is not 24 characters of [a-z0-9] is refused
with Gandi's data fault 501237 `Error on object : OBJECT_STRING (CAUSE_BADPARAMETER)
[string '...' does not match '^[a-z0-9]{24}$']` (the key echoed, as Gandi does), a
well-formed wrong one with 510150 `Error on object : OBJECT_ACCOUNT (CAUSE_NORIGHT)
[Invalid API key]`.

  notification.list(apikey)        the notifications of --dir/notifications.json (a copy
                                   of --fixture: the list in Gandi's documentation)
  notification.count(apikey)       how many there are
  notification.test(apikey, NAME)  True; then the documented test message ("Hello, this
                                   is a Gandi Notification test message for notification
                                   NAME") is mailed to every subscribed address: when
                                   NAME is active with its smtp channel active, one mail
                                   is APPENDed by IMAP (--imap HOST:PORT, --imap-user,
                                   --imap-password, --imap-folder: a Dovecot folder) or
                                   written into the Maildir --maildir (tmp/ then new/).
                                   An unknown NAME: data fault 500037.

State in --dir: notifications.json (replace it to change the list), faults.json
(optional: {"drop_test_mail": true} answers notification.test but sends nothing;
{"fail": N} answers the next N requests with HTTP 500), requests.jsonl (one line per
call: method, the notification asked about, the fault code; never the key).
Prints READY once listening; exits when stdin closes (--exit-on-stdin-eof).
"""
import argparse
import email.utils
import imaplib
import json
import os
import re
import shutil
import socket
import sys
import threading
import time
import xmlrpc.client
from socketserver import ThreadingMixIn
from xmlrpc.server import SimpleXMLRPCRequestHandler, SimpleXMLRPCServer

LOCK = threading.Lock()
KEY_FORMAT = "^[a-z0-9]{24}$"


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


class Handler(SimpleXMLRPCRequestHandler):
    rpc_paths = ("/xmlrpc/",)

    def setup(self):
        super().setup()
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, fmt, *args):
        sys.stderr.write("%s\n" % (fmt % args))

    def do_POST(self):
        faults_path = os.path.join(self.server.dir, "faults.json")
        with LOCK:
            faults = load(faults_path, {})
            fail = int(faults.get("fail", 0) or 0)
            if fail > 0:
                faults["fail"] = fail - 1
                save(faults_path, faults)
        if fail > 0:
            self.send_response(500)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        super().do_POST()


class Server(ThreadingMixIn, SimpleXMLRPCServer):
    daemon_threads = True


class Api:
    def __init__(self, args):
        self.args = args
        self.dir = args.dir

    def log(self, **entry):
        with LOCK:
            with open(os.path.join(self.dir, "requests.jsonl"), "a") as f:
                f.write(json.dumps(entry) + "\n")

    def check_key(self, method, apikey):
        if not isinstance(apikey, str) or not re.match(KEY_FORMAT, apikey):
            self.log(method=method, fault=501237)
            raise xmlrpc.client.Fault(
                501237,
                "Error on object : OBJECT_STRING (CAUSE_BADPARAMETER) "
                f"[string '{apikey}' does not match '{KEY_FORMAT}']",
            )
        if apikey != self.args.apikey:
            self.log(method=method, fault=510150)
            raise xmlrpc.client.Fault(
                510150, "Error on object : OBJECT_ACCOUNT (CAUSE_NORIGHT) [Invalid API key]"
            )

    def notifications(self):
        return load(os.path.join(self.dir, "notifications.json"), [])

    def list(self, apikey):
        self.check_key("notification.list", apikey)
        self.log(method="notification.list")
        return self.notifications()

    def count(self, apikey):
        self.check_key("notification.count", apikey)
        self.log(method="notification.count")
        return len(self.notifications())

    def test(self, apikey, name):
        self.check_key("notification.test", apikey)
        found = [n for n in self.notifications() if n.get("name") == name]
        if not found:
            self.log(method="notification.test", notification=name, fault=500037)
            raise xmlrpc.client.Fault(
                500037,
                f"Error on object : OBJECT_UNKNOWN (CAUSE_BADPARAMETER) [unknown notification '{name}']",
            )
        n = found[0]
        smtp = n.get("active") and any(
            c.get("name") == "smtp" and c.get("status") == "active" for c in n.get("channels", [])
        )
        dropped = bool(load(os.path.join(self.dir, "faults.json"), {}).get("drop_test_mail"))
        mailed = bool(smtp and not dropped)
        if mailed:
            self.mail(name)
        self.log(method="notification.test", notification=name, mailed=mailed)
        return True

    def mail(self, name):
        sentence = f"Hello, this is a Gandi Notification test message for notification {name}"
        stamp = time.time_ns()
        message = (
            "Return-Path: <bounce@gandi.net>\r\n"
            f"Date: {email.utils.formatdate(localtime=False)}\r\n"
            "From: Gandi <noreply@gandi.net>\r\n"
            f"To: {self.args.mail_to}\r\n"
            "Subject: [GANDI] Notification test\r\n"
            f"Message-ID: <test.{stamp}.{os.getpid()}@gandi.net>\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: 7bit\r\n"
            "\r\n"
            f"{sentence}\r\n"
        ).encode()
        if self.args.imap:
            host, port = self.args.imap.rsplit(":", 1)
            conn = imaplib.IMAP4(host, int(port), timeout=10)
            try:
                conn.login(self.args.imap_user, self.args.imap_password)
                conn.append(self.args.imap_folder, None, None, message)
            finally:
                conn.logout()
        if self.args.maildir:
            tmp = os.path.join(self.args.maildir, "tmp")
            new = os.path.join(self.args.maildir, "new")
            os.makedirs(tmp, exist_ok=True)
            os.makedirs(new, exist_ok=True)
            file = f"{stamp}.{os.getpid()}.gandi"
            with open(os.path.join(tmp, file), "wb") as f:
                f.write(message)
            os.replace(os.path.join(tmp, file), os.path.join(new, file))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--dir", required=True)
    p.add_argument("--apikey", required=True)
    p.add_argument("--fixture", required=True)
    p.add_argument("--mail-to", default="Domain Ops <domains@reseller.example>")
    p.add_argument("--maildir")
    p.add_argument("--imap")
    p.add_argument("--imap-user")
    p.add_argument("--imap-password")
    p.add_argument("--imap-folder", default="INBOX")
    p.add_argument("--exit-on-stdin-eof", action="store_true")
    args = p.parse_args()
    listed = os.path.join(args.dir, "notifications.json")
    if not os.path.exists(listed):
        shutil.copyfile(args.fixture, listed)
    api = Api(args)
    server = Server(("127.0.0.1", args.port), requestHandler=Handler, logRequests=True, allow_none=False)
    server.dir = args.dir
    server.register_function(api.list, "notification.list")
    server.register_function(api.count, "notification.count")
    server.register_function(api.test, "notification.test")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print("READY", flush=True)
    if args.exit_on_stdin_eof:
        sys.stdin.read()
    else:
        threading.Event().wait()
    server.shutdown()


if __name__ == "__main__":
    main()
