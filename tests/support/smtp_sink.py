#!/usr/bin/env python3
"""A real SMTP server (aiosmtpd) for mailroom's integration tests.

Every message it accepts is written, raw, into the Maildir DIR (tmp/ then
renamed into new/), with two headers prepended:

    X-MailFrom: <envelope sender>
    X-RcptTo: <recipient>[, <recipient>...]

File names sort in arrival order (nanosecond timestamp + sequence number), also
across restarts on the same Maildir.

Usage:
    smtp_sink.py --port P --maildir DIR
                 [--host 127.0.0.1]
                 [--tls-cert C --tls-key K]
                 [--implicit-tls]         # TLS from the first byte (SMTPS)
                 [--starttls]             # offer STARTTLS on a plain port
                 [--require-starttls]     # refuse MAIL etc. before STARTTLS
                 [--auth USER:PASS]       # require AUTH PLAIN/LOGIN
                 [--exit-on-stdin-eof]    # exit when the parent closes stdin

With --auth, MAIL FROM before a successful AUTH gets "530 5.7.0 Authentication
required". With --starttls, AUTH is only offered/accepted after STARTTLS; with
--implicit-tls or without any TLS, AUTH is accepted right away.

Prints "READY" on stdout once the socket is listening; logs to stderr; exits 0
on SIGTERM or SIGINT.
"""

import argparse
import asyncio
import logging
import os
import signal
import ssl
import sys
import time

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

log = logging.getLogger("smtp_sink")


class MaildirSink:
    def __init__(self, maildir, data_delay=0.0):
        self.maildir = maildir
        self.data_delay = data_delay
        for sub in ("tmp", "new", "cur"):
            os.makedirs(os.path.join(maildir, sub), exist_ok=True)
        self.seq = 0

    async def handle_DATA(self, server, session, envelope):
        if self.data_delay:
            # A slow server: the message is taken only after this long.
            await asyncio.sleep(self.data_delay)
        content = envelope.original_content
        if content is None:
            content = envelope.content
        if isinstance(content, str):
            content = content.encode("utf-8", "surrogateescape")
        nl = b"\r\n" if b"\r\n" in content[:4096] or not content else b"\n"
        mail_from = envelope.mail_from or ""
        header = (
            b"X-MailFrom: " + mail_from.encode("utf-8", "surrogateescape") + nl
            + b"X-RcptTo: "
            + ", ".join(envelope.rcpt_tos).encode("utf-8", "surrogateescape")
            + nl
        )
        self.seq += 1
        name = "%020d.%06d.%d.smtp_sink" % (time.time_ns(), self.seq, os.getpid())
        tmp = os.path.join(self.maildir, "tmp", name)
        with open(tmp, "wb") as f:
            f.write(header)
            f.write(content)
        os.rename(tmp, os.path.join(self.maildir, "new", name))
        auth = getattr(session, "auth_data", None)
        login = auth.login.decode("utf-8", "replace") if isinstance(auth, LoginPassword) else None
        log.info(
            "received message %s from=%r rcpt=%r bytes=%d auth=%r tls=%s",
            name, mail_from, envelope.rcpt_tos, len(content), login,
            bool(session.ssl),
        )
        return "250 OK: queued as %s" % name


def make_authenticator(user, password):
    want_user = user.encode("utf-8")
    want_pass = password.encode("utf-8")

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == want_user
            and auth_data.password == want_pass
        )
        log.info("AUTH %s for %r: %s", mechanism,
                 getattr(auth_data, "login", None), "ok" if ok else "refused")
        # handled=False: let aiosmtpd answer "535 5.7.8 Authentication
        # credentials invalid" itself (handled=True would send nothing and
        # leave the client hanging).
        if ok:
            return AuthResult(success=True, auth_data=auth_data)
        return AuthResult(success=False, handled=False)

    return authenticator


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--maildir", required=True)
    p.add_argument("--tls-cert")
    p.add_argument("--tls-key")
    p.add_argument("--implicit-tls", action="store_true")
    p.add_argument("--starttls", action="store_true")
    p.add_argument("--require-starttls", action="store_true")
    p.add_argument("--auth", metavar="USER:PASS")
    p.add_argument("--data-delay", type=float, default=0.0,
                   help="seconds to wait before answering DATA")
    p.add_argument("--exit-on-stdin-eof", action="store_true",
                   help="exit when stdin closes (the parent test process died)")
    a = p.parse_args(argv)
    needs_tls = a.implicit_tls or a.starttls or a.require_starttls
    if needs_tls and not (a.tls_cert and a.tls_key):
        p.error("--implicit-tls/--starttls/--require-starttls need --tls-cert and --tls-key")
    if a.implicit_tls and (a.starttls or a.require_starttls):
        p.error("--implicit-tls cannot be combined with --starttls/--require-starttls")
    if a.require_starttls:
        a.starttls = True
    if a.auth is not None and ":" not in a.auth:
        p.error("--auth takes USER:PASS")
    return a


async def main(argv):
    a = parse_args(argv)
    handler = MaildirSink(a.maildir, a.data_delay)

    ctx = None
    if a.tls_cert and a.tls_key:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(a.tls_cert, a.tls_key)

    smtp_kwargs = dict(
        hostname="localhost",  # avoid socket.getfqdn(), which can be slow
        ident="mailroom-test-smtp-sink",
        decode_data=False,
        enable_SMTPUTF8=True,
        timeout=60,
    )
    if a.starttls:
        smtp_kwargs["tls_context"] = ctx
        smtp_kwargs["require_starttls"] = a.require_starttls
    if a.auth is not None:
        user, password = a.auth.split(":", 1)
        smtp_kwargs["authenticator"] = make_authenticator(user, password)
        smtp_kwargs["auth_required"] = True
        # aiosmtpd only counts STARTTLS as "TLS"; with implicit TLS (or with
        # no TLS at all) AUTH must be allowed on the connection as it is.
        smtp_kwargs["auth_require_tls"] = bool(a.starttls)
    else:
        # No --auth: keep AUTH out of the plain-text EHLO (aiosmtpd would
        # otherwise advertise AUTH and then refuse every login). After
        # STARTTLS it is still advertised and always answers 535.
        smtp_kwargs["auth_require_tls"] = True

    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, **smtp_kwargs),
        host=a.host,
        port=a.port,
        ssl=ctx if a.implicit_tls else None,
        reuse_address=True,
    )

    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if a.exit_on_stdin_eof:
        # Our parent holds the write end of stdin and never writes: EOF (or an
        # error) means it is gone. A loop reader, not a thread: a daemon thread
        # stuck in a buffered stdin read makes interpreter shutdown abort.
        def on_stdin():
            try:
                data = os.read(0, 4096)
            except OSError:
                data = b""
            if not data:
                loop.remove_reader(0)
                stop.set()
        loop.add_reader(0, on_stdin)

    mode = "implicit-tls" if a.implicit_tls else ("starttls" if a.starttls else "plain")
    log.info("listening on %s:%d mode=%s require_starttls=%s auth=%s maildir=%s",
             a.host, a.port, mode, a.require_starttls, a.auth is not None, a.maildir)
    sys.stdout.write("READY\n")
    sys.stdout.flush()

    await stop.wait()
    log.info("stopping")
    server.close()
    try:
        await asyncio.wait_for(server.wait_closed(), 2)
    except asyncio.TimeoutError:
        pass


if __name__ == "__main__":
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    try:
        asyncio.run(main(sys.argv[1:]))
    except KeyboardInterrupt:
        pass
    sys.exit(0)
