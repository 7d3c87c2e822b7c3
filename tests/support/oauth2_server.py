#!/usr/bin/env python3
"""A small OAuth 2.0 authorization server for mailroom's tests, as the RFCs describe it.

  POST /token        RFC 6749 §3.2 (form POST; JSON answers §5.1, errors §5.2):
                     grant_type=refresh_token (§6), authorization_code (§4.1.3, with the
                     PKCE S256 code_verifier of RFC 7636 §4.5/4.6) and
                     urn:ietf:params:oauth:grant-type:device_code (RFC 8628 §3.4/3.5).
                     Client authentication (§2.3.1): client_id in the form; a confidential
                     client's secret by HTTP Basic or by the form field, never both.
  POST /devicecode   RFC 8628 §3.1/3.2: device_code, user_code, verification_uri,
                     verification_uri_complete, expires_in, interval.
  GET|POST /device   RFC 8628 §3.3: the verification page; POST user_code=...&action=
                     approve|deny answers as the user authorize_user.
  GET  /authorize    RFC 6749 §4.1.1/4.1.2 + RFC 7636 §4.3 + RFC 8252 §7.3 (loopback
                     redirect URIs, any port): 302 to redirect_uri with code and state, or
                     with error=access_denied when so configured; a bad client_id or
                     redirect_uri is answered 400 here, never redirected (§4.1.2.1).
  POST /introspect   RFC 7662 §2.1/2.2 (HTTP Basic of the resource server required):
                     {"active": true, "username", "scope", "exp", ...} for a live access
                     token, {"active": false} for anything else.
  POST /revoke       RFC 7009 §2.1: revokes a refresh or access token and its grant.
  /admin/...         JSON, for the tests (see Admin below).

Access tokens are opaque (no dots: never taken for a JWT) and short-lived (expires_in);
refresh tokens belong to a grant (user, client, scope). With rotation on, each refresh
answers a new refresh token and the old one is void (invalid_grant). Revoking a token
voids its whole grant: every refresh and access token issued from it (RFC 7009 §2.1).

State (clients, grants, tokens, counters, events) is kept in --dir/state.json after every
change, so a restart on the same dir keeps it. Never logs a token or a secret.
Prints READY once listening; exits when stdin closes (--exit-on-stdin-eof).
"""
import argparse
import base64
import hashlib
import http.server
import json
import os
import re
import secrets
import socket
import sys
import threading
import time
import urllib.parse

LOCK = threading.RLock()
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
# RFC 7636 §4.1: code_verifier = 43*128unreserved; the S256 challenge is 43 base64url.
VERIFIER = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
CHALLENGE = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")


def now():
    return time.time()


def token(prefix):
    # base64url without dots: opaque, never a JWT (Dovecot validates JWTs locally).
    return prefix + secrets.token_urlsafe(24)


def user_code():
    # RFC 8628 §6.1: base-20 letters without vowels, shown as XXXX-XXXX.
    letters = "BCDFGHJKLMNPQRSTVWXZ"
    code = "".join(secrets.choice(letters) for _ in range(8))
    return code[:4] + "-" + code[4:]


def s256(verifier):
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class OAuthError(Exception):
    """An RFC 6749 §5.2 error answer."""

    def __init__(self, error, description, status=400, www_authenticate=None):
        super().__init__(error)
        self.error = error
        self.description = description
        self.status = status
        self.www_authenticate = www_authenticate


class State:
    DEFAULTS = {
        "expires_in": 3600,
        "rotate": False,
        "device_interval": 5,
        "device_expires_in": 600,
        "code_expires_in": 600,
        "authorize": "approve",
        "authorize_user": "reseller",
        "offline_access_required": False,
        "fail": 0,
        "delay": 0.0,
    }

    def __init__(self, path, config):
        self.path = path
        saved = None
        try:
            with open(path) as f:
                saved = json.load(f)
        except (OSError, ValueError):
            pass
        if saved is not None:
            self.__dict__.update(saved)
            self.path = path
            return
        self.config = dict(self.DEFAULTS)
        self.config.update({k: v for k, v in config.items() if k in self.DEFAULTS})
        # client_id -> {"secret": str|None}
        self.clients = {c["client_id"]: {"secret": c.get("client_secret")} for c in config.get("clients", [])}
        self.introspect_auth = config.get("introspect_auth")  # [user, password] or None
        self.grants = {}  # grant id -> {user, client_id, scope, revoked}
        self.refresh = {}  # token -> {grant, active, why}
        self.access = {}  # token -> {grant, exp, iat}
        self.codes = {}  # code -> {client_id, redirect_uri, challenge, scope, user, exp, used, grant}
        self.devices = {}  # device_code -> {client_id, scope, user_code, exp, interval, last_poll, status, user, grant}
        self.counters = {}
        self.events = []

    def save(self):
        data = {k: v for k, v in self.__dict__.items() if k != "path"}
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(data, f)
        os.replace(tmp, self.path)

    def count(self, name, n=1):
        self.counters[name] = self.counters.get(name, 0) + n

    def event(self, **e):
        e["at"] = round(now(), 3)
        self.events.append(e)
        del self.events[:-500]

    def new_grant(self, user, client_id, scope):
        gid = "g%d" % (len(self.grants) + 1)
        self.grants[gid] = {"user": user, "client_id": client_id, "scope": scope, "revoked": False}
        return gid

    def issue(self, gid, with_refresh=True):
        """Tokens of grant `gid`: an access token, and a refresh token if asked."""
        g = self.grants[gid]
        at = token("at-")
        self.access[at] = {"grant": gid, "iat": int(now()), "exp": now() + self.config["expires_in"]}
        answer = {
            "access_token": at,
            "token_type": "Bearer",
            "expires_in": self.config["expires_in"],
            "scope": g["scope"],
        }
        if with_refresh:
            rt = token("rt-")
            self.refresh[rt] = {"grant": gid, "active": True, "why": ""}
            answer["refresh_token"] = rt
        return answer

    def revoke_grant(self, gid, why):
        g = self.grants[gid]
        g["revoked"] = True
        for rt in self.refresh.values():
            if rt["grant"] == gid and rt["active"]:
                rt["active"] = False
                rt["why"] = why
        for at in self.access.values():
            if at["grant"] == gid:
                at["exp"] = 0

    def access_info(self, at):
        """The live access token's grant, or None (unknown, expired, revoked)."""
        a = self.access.get(at)
        if a is None or a["exp"] <= now():
            return None
        g = self.grants[a["grant"]]
        if g["revoked"]:
            return None
        return a, g


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "oauth2-test/1"

    def setup(self):
        super().setup()
        # Headers and body go out in separate writes: without this, Nagle and delayed
        # ACK add 40 ms to every request.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, fmt, *args):
        # The request line holds /authorize's query (code_challenge, state): path only.
        sys.stderr.write("%s %s %s\n" % (self.address_string(), self.command, self.path.split("?")[0]))

    @property
    def st(self):
        return self.server.state

    # -- plumbing ------------------------------------------------------------------
    def send(self, status, body, ctype="application/json;charset=UTF-8", headers=()):
        data = body if isinstance(body, bytes) else body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def send_json(self, status, obj, headers=()):
        # RFC 6749 §5.1: token answers are not cached.
        headers = [("Cache-Control", "no-store"), ("Pragma", "no-cache")] + list(headers)
        self.send(status, json.dumps(obj), headers=headers)

    def send_error_json(self, e):
        body = {"error": e.error}
        if e.description:
            body["error_description"] = e.description
        headers = [("WWW-Authenticate", e.www_authenticate)] if e.www_authenticate else []
        self.send_json(e.status, body, headers)

    def raw_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def form(self):
        """The form parameters (RFC 6749 §3.2: urlencoded, each at most once, an empty
        value is as if left out)."""
        body = self.raw_body()
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype != "application/x-www-form-urlencoded":
            raise OAuthError("invalid_request", "the body must be application/x-www-form-urlencoded")
        try:
            pairs = urllib.parse.parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body))
        except (UnicodeDecodeError, ValueError):
            raise OAuthError("invalid_request", "the body is not a valid form")
        form = {}
        for k, v in pairs:
            if k in form:
                raise OAuthError("invalid_request", "parameter %s repeated" % k)
            form[k] = v
        return {k: v for k, v in form.items() if v != ""}

    def basic_auth(self):
        """(user, password) from an HTTP Basic header (RFC 6749 §2.3.1: both
        form-urlencoded before base64), None without one."""
        h = self.headers.get("Authorization")
        if not h:
            return None
        scheme, _, value = h.partition(" ")
        if scheme.lower() != "basic":
            raise OAuthError("invalid_client", "only Basic client authentication is supported", 401,
                             'Basic realm="oauth2-test"')
        try:
            user, _, password = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            raise OAuthError("invalid_client", "malformed Basic credentials", 401, 'Basic realm="oauth2-test"')
        return urllib.parse.unquote_plus(user), urllib.parse.unquote_plus(password)

    def client(self, form):
        """The authenticated client's id (RFC 6749 §2.3.1, §3.2.1)."""
        basic = self.basic_auth()
        if basic is not None and "client_secret" in form:
            raise OAuthError("invalid_request", "more than one client authentication method")
        if basic is not None:
            client_id, secret = basic
            if "client_id" in form and form["client_id"] != client_id:
                raise OAuthError("invalid_request", "client_id differs from the authenticated client")
            how = "basic"
        else:
            client_id, secret, how = form.get("client_id"), form.get("client_secret"), "form"
        challenge = 'Basic realm="oauth2-test"' if how == "basic" else None
        if not client_id:
            raise OAuthError("invalid_client", "no client authentication included", 401, 'Basic realm="oauth2-test"')
        c = self.st.clients.get(client_id)
        if c is None:
            raise OAuthError("invalid_client", "unknown client", 401, challenge)
        if c["secret"] is None:
            if secret is not None:
                # As Microsoft's identity platform does (AADSTS700025).
                raise OAuthError("invalid_client", "the client is public: no client_secret must be presented",
                                 401, challenge)
        elif secret is None:
            raise OAuthError("invalid_client", "client authentication required (confidential client)", 401,
                             'Basic realm="oauth2-test"')
        elif not secrets.compare_digest(secret, c["secret"]):
            raise OAuthError("invalid_client", "client authentication failed", 401, challenge)
        return client_id

    def scope_within(self, asked, granted):
        """RFC 6749 §6: no scope asked is the scope granted; a wider one is refused. A
        grant made by /admin/issue without a scope has no limit (any scope is fine)."""
        if asked is None or granted is None:
            return asked if asked is not None else granted
        if not set(asked.split()) <= set((granted or "").split()):
            raise OAuthError("invalid_scope", "the scope asked exceeds the scope granted")
        return asked

    def offline(self, scope):
        return not self.st.config["offline_access_required"] or "offline_access" in (scope or "").split()

    # -- /token ----------------------------------------------------------------------
    def token_endpoint(self):
        st = self.st
        form = self.form()
        grant_type = form.get("grant_type")
        if grant_type is None:
            raise OAuthError("invalid_request", "grant_type missing")
        client_id = self.client(form)
        if grant_type == "refresh_token":
            return self.refresh_grant(form, client_id)
        if grant_type == "authorization_code":
            return self.code_grant(form, client_id)
        if grant_type == DEVICE_GRANT:
            return self.device_grant(form, client_id)
        st.count("unsupported_grant_type")
        raise OAuthError("unsupported_grant_type", "grant_type %s is not supported" % grant_type)

    def refresh_grant(self, form, client_id):
        st = self.st
        rt = form.get("refresh_token")
        if rt is None:
            raise OAuthError("invalid_request", "refresh_token missing")
        r = st.refresh.get(rt)
        if r is None:
            st.count("refresh_refused")
            st.event(endpoint="token", grant_type="refresh_token", client_id=client_id, result="invalid_grant",
                     why="unknown")
            raise OAuthError("invalid_grant", "unknown refresh token")
        g = st.grants[r["grant"]]
        if g["client_id"] != client_id:
            st.count("refresh_refused")
            st.event(endpoint="token", grant_type="refresh_token", client_id=client_id, user=g["user"],
                     result="invalid_grant", why="other client")
            raise OAuthError("invalid_grant", "the refresh token was issued to another client")
        if not r["active"]:
            st.count("refresh_refused")
            st.event(endpoint="token", grant_type="refresh_token", client_id=client_id, user=g["user"],
                     result="invalid_grant", why=r["why"])
            raise OAuthError("invalid_grant", "the refresh token was %s" % r["why"])
        scope = self.scope_within(form.get("scope"), g["scope"])
        answer = st.issue(r["grant"], with_refresh=st.config["rotate"])
        answer["scope"] = scope
        if st.config["rotate"]:
            r["active"] = False
            r["why"] = "rotated"
        st.count("refresh_grants")
        st.event(endpoint="token", grant_type="refresh_token", client_id=client_id, user=g["user"], result="ok",
                 scope=form.get("scope"), rotated=st.config["rotate"])
        return answer

    def code_grant(self, form, client_id):
        st = self.st
        code = form.get("code")
        if code is None:
            raise OAuthError("invalid_request", "code missing")
        c = st.codes.get(code)

        def refuse(why):
            st.count("code_refused")
            st.event(endpoint="token", grant_type="authorization_code", client_id=client_id, result="invalid_grant",
                     why=why)
            return OAuthError("invalid_grant", why)

        if c is None:
            raise refuse("unknown authorization code")
        if c["used"]:
            # §4.1.2: a code used twice is refused and what it gave is revoked.
            if c.get("grant"):
                st.revoke_grant(c["grant"], "revoked (its authorization code was used twice)")
            raise refuse("the authorization code was already used")
        c["used"] = True
        if c["exp"] <= now():
            raise refuse("the authorization code expired")
        if c["client_id"] != client_id:
            raise refuse("the authorization code was issued to another client")
        # §4.1.3: redirect_uri required and identical when the authorization request had one.
        if form.get("redirect_uri") != c["redirect_uri"]:
            raise refuse("redirect_uri does not match the authorization request")
        verifier = form.get("code_verifier")
        if verifier is None:
            raise refuse("code_verifier missing (PKCE)")
        if not VERIFIER.match(verifier) or s256(verifier) != c["challenge"]:
            raise refuse("code_verifier does not match the code_challenge")
        gid = st.new_grant(c["user"], client_id, c["scope"])
        c["grant"] = gid
        st.count("code_grants")
        st.event(endpoint="token", grant_type="authorization_code", client_id=client_id, user=c["user"], result="ok")
        return st.issue(gid, with_refresh=self.offline(c["scope"]))

    def device_grant(self, form, client_id):
        st = self.st
        dc = form.get("device_code")
        if dc is None:
            raise OAuthError("invalid_request", "device_code missing")
        d = st.devices.get(dc)
        if d is None or d["client_id"] != client_id:
            raise OAuthError("invalid_grant", "unknown device code")
        st.count("device_polls")
        t = time.monotonic()
        last = d["last_poll"] if d["last_poll"] is not None else d["issued_mono"]
        d["last_poll"] = t
        if d["status"] == "used":
            raise OAuthError("invalid_grant", "the device code was already used")
        if d["exp"] <= now():
            st.event(endpoint="token", grant_type="device_code", client_id=client_id, result="expired_token")
            raise OAuthError("expired_token", "the device code expired")
        if d["status"] == "denied":
            d["status"] = "used"
            st.event(endpoint="token", grant_type="device_code", client_id=client_id, result="access_denied")
            raise OAuthError("access_denied", "the user declined the authorization request")
        if d["status"] == "pending":
            # RFC 8628 §3.5: polled sooner than the interval: slow_down, and the interval
            # grows by 5 s for this and every later request. (10 ms for clock granularity.)
            if t - last < d["interval"] - 0.01:
                d["interval"] += 5
                st.count("slow_downs")
                st.event(endpoint="token", grant_type="device_code", client_id=client_id, result="slow_down")
                raise OAuthError("slow_down", "polled faster than the interval")
            raise OAuthError("authorization_pending", "the user has not yet completed the authorization")
        # approved
        d["status"] = "used"
        gid = st.new_grant(d["user"], client_id, d["scope"])
        st.count("device_grants")
        st.event(endpoint="token", grant_type="device_code", client_id=client_id, user=d["user"], result="ok")
        return st.issue(gid, with_refresh=self.offline(d["scope"]))

    # -- /devicecode -----------------------------------------------------------------
    def device_authorization(self):
        st = self.st
        form = self.form()
        client_id = self.client(form)
        dc = token("dc-")
        uc = user_code()
        cfg = st.config
        st.devices[dc] = {
            "client_id": client_id,
            "scope": form.get("scope"),
            "user_code": uc,
            "exp": now() + cfg["device_expires_in"],
            "interval": cfg["device_interval"],
            "issued_mono": time.monotonic(),
            "last_poll": None,
            "status": "pending",
            "user": None,
        }
        st.count("device_authorizations")
        st.event(endpoint="devicecode", client_id=client_id, user_code=uc, scope=form.get("scope"))
        base = "http://127.0.0.1:%d/device" % self.server.server_address[1]
        return {
            "device_code": dc,
            "user_code": uc,
            "verification_uri": base,
            "verification_uri_complete": base + "?user_code=" + uc,
            "expires_in": cfg["device_expires_in"],
            "interval": cfg["device_interval"],
        }

    # -- /device: the verification page (RFC 8628 §3.3) --------------------------------
    def device_page(self, query):
        """GET: a page asking for the user code (prefilled from verification_uri_complete).
        POST user_code=...&action=approve|deny: the user, signed in as authorize_user,
        answers the request (tests may use /admin/device instead)."""
        if self.command == "GET":
            q = dict(urllib.parse.parse_qsl(query))
            code = "".join(c for c in q.get("user_code", "") if c.isalnum() or c == "-")
            return self.send(200, "<html><body><form method=post>Code: <input name=user_code value='%s'>"
                                  "<button name=action value=approve>Allow</button>"
                                  "<button name=action value=deny>Deny</button></form></body></html>\n" % code,
                             "text/html;charset=UTF-8")
        form = self.form()
        st = self.st
        want = form.get("user_code", "").upper().replace(" ", "")
        for d in st.devices.values():
            if d["user_code"] == want and d["status"] == "pending" and d["exp"] > now():
                if form.get("action") == "deny":
                    d["status"] = "denied"
                else:
                    d["status"] = "approved"
                    d["user"] = st.config["authorize_user"]
                st.event(endpoint="device", action=form.get("action") or "approve")
                return self.send(200, "Done: you can return to your device.\n", "text/plain")
        return self.send(400, "Unknown or expired code.\n", "text/plain")

    # -- /authorize ------------------------------------------------------------------
    def authorize(self, query):
        st = self.st
        q = {}
        for k, v in urllib.parse.parse_qsl(query, keep_blank_values=True):
            if k in q:
                return self.send(400, "parameter %s repeated\n" % k, "text/plain")
            q[k] = v
        st.count("authorize_requests")
        client_id = q.get("client_id")
        if not client_id or client_id not in st.clients:
            st.event(endpoint="authorize", result="unknown client")
            return self.send(400, "unknown client_id: not redirected (RFC 6749 §4.1.2.1)\n", "text/plain")
        redirect = q.get("redirect_uri", "")
        u = urllib.parse.urlsplit(redirect)
        # RFC 8252 §7.3: loopback IP literals, any port; http only.
        if u.scheme != "http" or u.hostname not in ("127.0.0.1", "::1") or u.fragment or u.port is None:
            st.event(endpoint="authorize", client_id=client_id, result="bad redirect_uri")
            return self.send(400, "redirect_uri must be http://127.0.0.1:PORT/... or http://[::1]:PORT/...: "
                                  "not redirected (RFC 6749 §4.1.2.1)\n", "text/plain")

        def back(params):
            params = dict(params)
            if "state" in q:
                params["state"] = q["state"]
            sep = "&" if u.query else "?"
            location = redirect + sep + urllib.parse.urlencode(params)
            self.send(302, "", "text/plain", headers=[("Location", location)])

        if q.get("response_type") != "code":
            st.event(endpoint="authorize", client_id=client_id, result="unsupported_response_type")
            return back({"error": "unsupported_response_type"})
        challenge = q.get("code_challenge")
        method = q.get("code_challenge_method", "plain")
        if not challenge:
            st.event(endpoint="authorize", client_id=client_id, result="invalid_request", why="no code_challenge")
            return back({"error": "invalid_request", "error_description": "code challenge required"})
        if method != "S256":
            st.event(endpoint="authorize", client_id=client_id, result="invalid_request", why="method")
            return back({"error": "invalid_request", "error_description": "transform algorithm not supported"})
        if not CHALLENGE.match(challenge):
            st.event(endpoint="authorize", client_id=client_id, result="invalid_request", why="challenge")
            return back({"error": "invalid_request", "error_description": "malformed code_challenge"})
        if st.config["authorize"] == "deny":
            st.event(endpoint="authorize", client_id=client_id, result="access_denied")
            return back({"error": "access_denied", "error_description": "the resource owner denied the request"})
        code = token("ac-")
        st.codes[code] = {
            "client_id": client_id,
            "redirect_uri": redirect,
            "challenge": challenge,
            "scope": q.get("scope"),
            "user": st.config["authorize_user"],
            "exp": now() + st.config["code_expires_in"],
            "used": False,
            "grant": None,
        }
        st.event(endpoint="authorize", client_id=client_id, user=st.config["authorize_user"], result="code",
                 scope=q.get("scope"), access_type=q.get("access_type"))
        return back({"code": code})

    # -- /introspect and /revoke ---------------------------------------------------------
    def resource_server_ok(self):
        want = self.st.introspect_auth
        if want is None:
            return True
        h = self.headers.get("Authorization") or ""
        scheme, _, value = h.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            got = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return False
        return secrets.compare_digest(got, "%s:%s" % (want[0], want[1]))

    def introspect(self):
        st = self.st
        if not self.resource_server_ok():
            st.count("introspections_unauthorized")
            return self.send_json(401, {"error": "invalid_client", "error_description": "resource server "
                                        "authentication required"}, [("WWW-Authenticate", 'Basic realm="oauth2-test"')])
        form = self.form()
        at = form.get("token")
        if at is None:
            raise OAuthError("invalid_request", "token missing")
        st.count("introspections")
        info = st.access_info(at)
        if info is None:
            st.event(endpoint="introspect", active=False)
            return self.send_json(200, {"active": False})
        a, g = info
        st.count("introspections_active")
        st.event(endpoint="introspect", active=True, user=g["user"])
        return self.send_json(200, {
            "active": True,
            "scope": g["scope"] or "",
            "client_id": g["client_id"],
            "username": g["user"],
            "sub": g["user"],
            "token_type": "Bearer",
            "exp": int(a["exp"]),
            "iat": a["iat"],
        })

    def revoke(self):
        st = self.st
        form = self.form()
        client_id = self.client(form)
        t = form.get("token")
        if t is None:
            raise OAuthError("invalid_request", "token missing")
        gid = (st.refresh.get(t) or st.access.get(t) or {}).get("grant")
        if gid is not None and st.grants[gid]["client_id"] == client_id:
            st.revoke_grant(gid, "revoked")
            st.count("revocations")
        # §2.2: 200 also for a token that is unknown or already void.
        return self.send(200, "", "text/plain")

    # -- admin -----------------------------------------------------------------------
    def admin(self, path):
        st = self.st
        if self.command == "GET" and path == "/admin/state":
            pending = [{"user_code": d["user_code"], "client_id": d["client_id"], "scope": d["scope"],
                        "interval": d["interval"]}
                       for d in st.devices.values() if d["status"] == "pending" and d["exp"] > now()]
            return self.send(200, json.dumps({"config": st.config, "counters": st.counters, "events": st.events,
                                              "pending_devices": pending}))
        try:
            req = json.loads(self.raw_body() or b"{}")
        except ValueError:
            return self.send(400, json.dumps({"error": "not JSON"}))
        if path == "/admin/issue":
            client_id = req.get("client_id") or next(iter(st.clients))
            if client_id not in st.clients:
                return self.send(400, json.dumps({"error": "unknown client"}))
            gid = st.new_grant(req["user"], client_id, req.get("scope"))
            answer = st.issue(gid)
            st.event(endpoint="admin", action="issue", user=req["user"], client_id=client_id)
            return self.send(200, json.dumps(answer))
        if path == "/admin/revoke":
            gids = set()
            if "token" in req:
                t = req["token"]
                gid = (st.refresh.get(t) or st.access.get(t) or {}).get("grant")
                if gid is not None:
                    gids.add(gid)
            if "user" in req:
                gids |= {gid for gid, g in st.grants.items() if g["user"] == req["user"]}
            for gid in gids:
                st.revoke_grant(gid, req.get("why") or "revoked")
            st.event(endpoint="admin", action="revoke", grants=len(gids))
            return self.send(200, json.dumps({"revoked": len(gids)}))
        if path == "/admin/expire-access":
            n = 0
            for a in st.access.values():
                g = st.grants[a["grant"]]
                if a["exp"] > now() and req.get("user") in (None, g["user"]):
                    a["exp"] = now() - 1
                    n += 1
            st.event(endpoint="admin", action="expire-access", tokens=n)
            return self.send(200, json.dumps({"expired": n}))
        if path == "/admin/device":
            for d in st.devices.values():
                if d["user_code"] == req["user_code"] and d["status"] == "pending":
                    if req["action"] == "approve":
                        d["status"] = "approved"
                        d["user"] = req["user"]
                    elif req["action"] == "deny":
                        d["status"] = "denied"
                    elif req["action"] == "expire":
                        d["exp"] = now() - 1
                    else:
                        return self.send(400, json.dumps({"error": "action: approve, deny or expire"}))
                    st.event(endpoint="admin", action="device-" + req["action"], user_code=req["user_code"])
                    return self.send(200, json.dumps({"ok": True}))
            return self.send(404, json.dumps({"error": "no pending device code %s" % req.get("user_code")}))
        if path == "/admin/config":
            unknown = set(req) - set(State.DEFAULTS)
            if unknown:
                return self.send(400, json.dumps({"error": "unknown settings %s" % sorted(unknown)}))
            st.config.update(req)
            return self.send(200, json.dumps(st.config))
        if path == "/admin/client":
            st.clients[req["client_id"]] = {"secret": req.get("client_secret")}
            return self.send(200, json.dumps({"ok": True}))
        return self.send(404, json.dumps({"error": "unknown admin path"}))

    # -- dispatch --------------------------------------------------------------------
    def faulty(self, path):
        """Configured faults of the token and device endpoints (an outage of the
        provider's sign-in service; introspection stays up): a delay, then N answers
        of HTTP 503."""
        if path not in ("/token", "/devicecode"):
            return False
        cfg = self.st.config
        if cfg["delay"]:
            time.sleep(cfg["delay"])
        with LOCK:
            if cfg["fail"] > 0:
                cfg["fail"] -= 1
                self.st.count("failed_on_purpose")
                self.st.save()
                self.raw_body()
                self.send(503, "<html><body>Service Unavailable</body></html>", "text/html")
                return True
        return False

    def dispatch(self):
        path, _, query = self.path.partition("?")
        try:
            if self.faulty(path):
                return
            with LOCK:
                try:
                    if path.startswith("/admin/"):
                        return self.admin(path)
                    if self.command == "GET" and path == "/authorize":
                        return self.authorize(query)
                    if path == "/device" and self.command in ("GET", "POST"):
                        return self.device_page(query)
                    routes = {
                        "/token": self.token_endpoint,
                        "/devicecode": self.device_authorization,
                        "/introspect": self.introspect,
                        "/revoke": self.revoke,
                    }
                    if path not in routes and path != "/authorize":
                        return self.send(404, "not found\n", "text/plain")
                    if self.command != "POST" or path == "/authorize":
                        self.raw_body()
                        allow = "GET" if path == "/authorize" else "POST"
                        return self.send(405, "use %s\n" % allow, "text/plain", headers=[("Allow", allow)])
                    answer = routes[path]()
                    if answer is not None:
                        self.send_json(200, answer)
                except OAuthError as e:
                    self.send_error_json(e)
                finally:
                    self.st.save()
        except BrokenPipeError:
            pass

    def do_GET(self):
        self.dispatch()

    def do_POST(self):
        self.dispatch()

    def do_PUT(self):
        self.dispatch()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--dir", required=True)
    p.add_argument("--config", required=True, help="JSON: clients, introspect_auth, and settings")
    p.add_argument("--exit-on-stdin-eof", action="store_true")
    args = p.parse_args()
    with open(args.config) as f:
        config = json.load(f)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.state = State(os.path.join(args.dir, "state.json"), config)
    with LOCK:
        server.state.save()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print("READY", flush=True)
    if args.exit_on_stdin_eof:
        sys.stdin.read()
    else:
        threading.Event().wait()
    server.shutdown()


if __name__ == "__main__":
    main()
