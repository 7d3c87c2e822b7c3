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
                 [--oauth2-introspect URL]  # require AUTH XOAUTH2/OAUTHBEARER
                 [--oauth2-scope SCOPE]   # the scope named in error challenges
                 [--exit-on-stdin-eof]    # exit when the parent closes stdin

With --auth, MAIL FROM before a successful AUTH gets "530 5.7.0 Authentication
required".

With --oauth2-introspect, AUTH XOAUTH2 (Google's and Microsoft's mechanism) and
AUTH OAUTHBEARER (RFC 7628) are offered and required (PLAIN/LOGIN only with --auth
too), with or without an initial response. The bearer token is checked at URL, an
RFC 7662 introspection endpoint (POST token=...; HTTP Basic from URL's user:password):
it must be active and its `username` the user the client named. A refused token is
answered as the providers and RFC 7628 §3.2.2/§4.3 do: "334 <base64 JSON error>"
(XOAUTH2: {"status":"401","schemes":"bearer","scope":...}; OAUTHBEARER:
{"status":"invalid_token","scope":...}), then, after the client's dummy response
(XOAUTH2: an empty line; OAUTHBEARER: "AQ==", a single %x01, as §3.2.3 requires;
anything else there gets 501), "535 5.7.8". An introspection endpoint that cannot
be reached gives "454 4.7.0 Temporary authentication failure" (RFC 4954). Tokens are
never logged; every AUTH is logged as "AUTH <MECH> for '<user>': ok|refused (why)". With --starttls, AUTH is only offered/accepted after STARTTLS; with
--implicit-tls or without any TLS, AUTH is accepted right away.

Prints "READY" on stdout once the socket is listening; logs to stderr; exits 0
on SIGTERM or SIGINT.
"""

import argparse
import asyncio
import base64
import json
import logging
import os
import signal
import ssl
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

from aiosmtpd.smtp import MISSING, SMTP, AuthResult, LoginPassword

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


class IntrospectionDown(Exception):
    pass


def introspect(url, token):
    """RFC 7662 §2.1: POST token=... (HTTP Basic from the URL's userinfo). Returns the
    JSON answer; raises IntrospectionDown when there is none."""
    u = urllib.parse.urlsplit(url)
    netloc = u.hostname + (":%d" % u.port if u.port else "")
    clean = urllib.parse.urlunsplit((u.scheme, netloc, u.path, u.query, ""))
    req = urllib.request.Request(
        clean,
        data=urllib.parse.urlencode({"token": token, "token_type_hint": "access_token"}).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
        method="POST",
    )
    if u.username is not None:
        cred = "%s:%s" % (urllib.parse.unquote(u.username), urllib.parse.unquote(u.password or ""))
        req.add_header("Authorization", "Basic " + base64.b64encode(cred.encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return json.loads(r.read())
    except (OSError, ValueError) as e:
        raise IntrospectionDown(type(e).__name__)


def parse_xoauth2(raw):
    """user=U^Aauth=Bearer T^A^A -> (user, token), or None."""
    if not raw.endswith(b"\x01\x01"):
        return None
    fields = {}
    for part in raw[:-2].split(b"\x01"):
        k, sep, v = part.partition(b"=")
        if not sep:
            return None
        fields[k.decode("utf-8", "replace")] = v.decode("utf-8", "replace")
    auth = fields.get("auth", "")
    scheme, _, tok = auth.partition(" ")
    if "user" not in fields or scheme.lower() != "bearer" or not tok:
        return None
    return fields["user"], tok


def parse_oauthbearer(raw):
    """RFC 7628 §3.1: gs2-header ^A kvpairs ^A -> (authzid or None, token), or None."""
    text = raw.decode("utf-8", "replace")
    head, sep, rest = text.partition("\x01")
    if not sep or not rest.endswith("\x01"):
        return None
    gs2 = head.split(",")
    # gs2-cbind-flag: n or y (no channel binding here); then [a=saslname]; then empty.
    if len(gs2) != 3 or gs2[0] not in ("n", "y") or gs2[2] != "":
        return None
    user = None
    if gs2[1]:
        if not gs2[1].startswith("a="):
            return None
        user = gs2[1][2:].replace("=2C", ",").replace("=3D", "=")
    fields = {}
    for kv in rest[:-1].split("\x01"):
        if kv == "":
            continue
        k, sep, v = kv.partition("=")
        if not sep:
            return None
        fields[k] = v
    scheme, _, tok = fields.get("auth", "").partition(" ")
    if scheme.lower() != "bearer" or not tok:
        return None
    return user, tok


class OAuthMaildirSink(MaildirSink):
    """The Maildir sink with AUTH XOAUTH2 and OAUTHBEARER (aiosmtpd calls a handler's
    auth_<MECH> methods with the SMTP session and the AUTH arguments)."""

    def __init__(self, maildir, data_delay, introspect_url, scope):
        super().__init__(maildir, data_delay)
        self.introspect_url = introspect_url
        self.scope = scope

    async def _initial(self, server, args):
        if len(args) == 2:
            try:
                return base64.b64decode(args[1], validate=True)
            except ValueError:
                await server.push("501 5.5.2 Can't decode base64")
                return MISSING
        # No initial response: an empty challenge asks for it (RFC 4954).
        return await server.challenge_auth("")

    async def _check(self, server, mechanism, user, tok):
        """None when the token is good for user, else why not; raises IntrospectionDown."""
        loop = asyncio.get_running_loop()
        answer = await loop.run_in_executor(None, introspect, self.introspect_url, tok)
        if answer.get("active") is not True:
            return "token not active"
        if user is not None and answer.get("username") != user:
            return "token of another user"
        return None

    async def _oauth(self, server, args, mechanism):
        raw = await self._initial(server, args)
        if raw is MISSING:
            return AuthResult(success=False, handled=True)
        parsed = parse_xoauth2(raw) if mechanism == "XOAUTH2" else parse_oauthbearer(raw)
        if parsed is None:
            log.info("AUTH %s: malformed initial response", mechanism)
            await server.push("501 5.5.2 Malformed %s initial response" % mechanism)
            return AuthResult(success=False, handled=True)
        user, tok = parsed
        try:
            why = await self._check(server, mechanism, user, tok)
        except IntrospectionDown as e:
            log.info("AUTH %s for %r: refused (introspection endpoint down: %s)", mechanism, user, e)
            return AuthResult(success=False, handled=False, message="454 4.7.0 Temporary authentication failure")
        if why is None:
            log.info("AUTH %s for %r: ok", mechanism, user)
            return AuthResult(success=True, auth_data=LoginPassword((user or "").encode(), b""))
        log.info("AUTH %s for %r: refused (%s)", mechanism, user, why)
        if mechanism == "XOAUTH2":
            error = {"status": "401", "schemes": "bearer", "scope": self.scope}
        else:
            error = {"status": "invalid_token", "scope": self.scope}
        reply = await server.challenge_auth(json.dumps(error, separators=(",", ":")))
        if reply is MISSING:  # "*": aiosmtpd answered 501 already
            return AuthResult(success=False, handled=True)
        if mechanism == "OAUTHBEARER" and reply != b"\x01":
            log.info("AUTH OAUTHBEARER: the client answered the error challenge with %d bytes, not %%x01", len(reply))
            return AuthResult(success=False, handled=False,
                              message="501 5.5.2 Expected %x01 after the error challenge (RFC 7628 3.2.3)")
        if mechanism == "XOAUTH2":
            return AuthResult(success=False, handled=False,
                              message="535 5.7.8 Username and Password not accepted.")
        return AuthResult(success=False, handled=False, message="535 5.7.8 Authentication credentials invalid")

    async def auth_XOAUTH2(self, server, args):
        return await self._oauth(server, args, "XOAUTH2")

    async def auth_OAUTHBEARER(self, server, args):
        return await self._oauth(server, args, "OAUTHBEARER")


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
    p.add_argument("--oauth2-introspect", metavar="URL")
    p.add_argument("--oauth2-scope", default="https://mail.google.com/")
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
    if a.oauth2_introspect:
        handler = OAuthMaildirSink(a.maildir, a.data_delay, a.oauth2_introspect, a.oauth2_scope)
    else:
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
    if a.auth is not None or a.oauth2_introspect:
        if a.auth is not None:
            user, password = a.auth.split(":", 1)
            smtp_kwargs["authenticator"] = make_authenticator(user, password)
        else:
            # OAuth2 only: no password to check, so no PLAIN/LOGIN offered.
            smtp_kwargs["auth_exclude_mechanism"] = ["PLAIN", "LOGIN"]
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
    log.info("listening on %s:%d mode=%s require_starttls=%s auth=%s oauth2=%s maildir=%s",
             a.host, a.port, mode, a.require_starttls, a.auth is not None,
             bool(a.oauth2_introspect), a.maildir)
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
