#!/usr/bin/env python3
"""A test double of eight chat services, checking each request as the service documents it.

One threaded HTTP/1.1 server on 127.0.0.1 (stdlib only); each service under its own path
prefix. Configured by --config FILE (JSON: the secrets each service accepts, see
ChatServer::start in chat.rs); prints READY once listening; exits on stdin EOF
(--exit-on-stdin-eof); logs to --log FILE (default stderr).

Every request is appended to --dir/requests.jsonl: service, method, path (the secret part
replaced by <secret>), headers, body, "json" (the payload as the service read it), status,
response, problems (what breaks the service's documented rules), fault (the injected answer,
if any), posted (the id of the message the service shows, or null). No line of it, nor of the
log, holds a configured secret: every occurrence is replaced by <secret> (Basic credentials
holding one read "Basic <secret>"); a secret sent in a request body is also a problem.

A request that breaks a documented rule is answered with the service's documented error and
its problems are recorded. Where the service itself accepts what its documentation says is
wrong (it ignores, truncates, splits or drops it later), the answer is the service's success
answer and the problems are still recorded: such a request is not "delivered" (see chat.rs).

Faults: POST /_control/fail/SERVICE with a JSON list of answers to give, one per request,
before behaving normally: "429" or "429:SECONDS" (answered the way that service rate-limits,
default 1 s), any other status such as "500" or "503" (a plain server error), "hang" or
"hang:SECONDS" (no answer; the connection is closed after SECONDS, default 30), "close"
(the connection is closed at once). A faulted request is still checked (problems recorded)
but changes nothing (Matrix does not remember its txnId). GET /_control/faults shows the queues.

Services, the documentation followed, and the rules checked
-----------------------------------------------------------
slack        POST /slack/services/TEAM/HOOK/SECRET
  Docs: https://api.slack.com/messaging/webhooks (Sending messages using incoming webhooks,
  Handling errors); https://api.slack.com/changelog/2016-05-17-changes-to-errors-for-incoming-webhooks;
  https://api.slack.com/docs/rate-limits; Block Kit reference
  https://api.slack.com/reference/block-kit/blocks and .../composition-objects#text.
  Checked: unknown TEAM/HOOK -> 404 no_service; wrong SECRET -> 403 invalid_token; POST only;
  body application/json (or a form with payload=JSON), a JSON object, else 400 invalid_payload;
  neither text nor blocks (nor attachments) -> 400 no_text; attachments without text/fallback
  -> 400 missing_text_or_fallback_or_attachments; over 100 attachments -> 400
  too_many_attachments; blocks not an array -> 400 invalid_blocks_format; blocks: at most 50,
  known block types, block_id <= 255 and unique, section text (plain_text/mrkdwn, 1..3000) or
  fields (<= 10, each <= 2000), context elements 1..10 (text objects or images), header
  plain_text <= 150, image image_url + alt_text, actions elements 1..25, markdown text <= 12000
  -> else 400 invalid_blocks. Accepted (200 "ok") but recorded: blocks without a top-level text
  (the notification fallback), text over 40,000 characters (truncated).
  429: Retry-After header (seconds), body "rate_limited".
mattermost   POST /mattermost/hooks/HOOK
  Docs: https://developers.mattermost.com/integrate/webhooks/incoming/ ;
  https://docs.mattermost.com/developers/integrate/reference/message-attachments ; the
  server's HandleIncomingWebhook in https://github.com/mattermost/mattermost (its
  web.incoming_webhook.* errors and their order).
  Checked: JSON body (Content-Type application/json), or payload= (form, or no Content-Type),
  a JSON object with typed fields, else 400 web.incoming_webhook.parse.app_error; empty text and
  no attachments -> 400 web.incoming_webhook.text.app_error; unknown HOOK -> 400
  web.incoming_webhook.invalid.app_error (in this order, as the server does). Errors are
  Mattermost AppError JSON {id, message, detailed_error, request_id, status_code}. Success 200
  text/plain "ok". Recorded: attachments without fallback (documented as required), text over
  16383 characters (split into several posts). 429 (rate limiting): Retry-After and
  X-Ratelimit-* headers, body "limit exceeded".
teams        POST /teams/workflows/ID/triggers/manual/paths/invoke?api-version=..&sp=..&sv=..&sig=SIG
  Docs: https://learn.microsoft.com/en-us/microsoftteams/platform/webhooks-and-connectors/how-to/connectors-using
  (Known issues: Workflows support Adaptive Cards only, not the connector message card);
  https://learn.microsoft.com/en-us/connectors/teams/#microsoft-teams-webhook (the "When a
  Teams webhook request is received" trigger); https://adaptivecards.io/explorer/ ; Teams
  message size limit 28 KB; Logic Apps/Power Automate request-trigger error bodies.
  Checked: unknown ID -> 404 WorkflowNotFound; no api-version -> 400 MissingApiVersionParameter;
  no sig -> 401 DirectApiAuthorizationRequired; wrong sig -> 401
  DirectApiInvalidAuthorizationSignature; POST only (405 TriggerRequestMethodNotValid);
  unparsable JSON -> 400 InvalidRequestContent; not {"type":"message","attachments":[{
  "contentType":"application/vnd.microsoft.card.adaptive","content":{...}}]} (e.g. an O365
  connector MessageCard, top level or as an attachment) -> 400 TriggerInputSchemaMismatch.
  Success 202 Accepted, empty body. Recorded (the trigger answers 202 but the flow does not
  post it, or posts it badly): content not type AdaptiveCard, version missing or above 1.5,
  $schema other than http://adaptivecards.io/schemas/adaptive-card.json, empty body, unknown
  element/action types, TextBlock without text, FactSet facts not {title,value} strings,
  Action.OpenUrl without url, payload over 28 KB, Content-Type not application/json.
  429: Retry-After header, {"error":{"code":"WorkflowRequestsThrottled",...}}.
discord      POST /discord/api[/vN]/webhooks/ID/TOKEN[?wait=true]
  Docs: https://discord.com/developers/docs/resources/webhook#execute-webhook ;
  https://discord.com/developers/docs/resources/message#embed-object-embed-limits ;
  https://docs.discord.com/developers/topics/rate-limits ;
  https://discord.com/developers/docs/topics/opcodes-and-status-codes#json-json-error-codes .
  Checked: unknown ID -> 404 {code 10015 Unknown Webhook}; wrong TOKEN -> 401 {code 50027
  Invalid Webhook Token}; POST only; JSON (or form / multipart payload_json); invalid JSON ->
  400 {code 50109}; content <= 2000, embeds <= 10, per embed title <= 256, description <= 4096,
  fields <= 25 (name 1..256, value 1..1024), footer.text <= 2048, author.name <= 256, url
  http(s), color 0..0xFFFFFF, ISO8601 timestamp, all embeds together <= 6000 characters,
  username 1..80 -> 400 {code 50035 Invalid Form Body, errors:{...}}; nothing to send -> 400
  {code 50006 Cannot send an empty message}; wait not a boolean -> 400 50035.
  Success: 204 No Content, or 200 with the message object when ?wait=true.
  429: Retry-After header (seconds), X-RateLimit-* headers, JSON {message, retry_after
  (seconds, float), global:false}.
google_chat  POST /google_chat/v1/spaces/SPACE/messages?key=KEY&token=TOKEN
  Docs: https://developers.google.com/workspace/chat/api/reference/rest/v1/spaces.messages/create
  (webhook requests; 32,000 bytes; Message, CardWithId: cardId required with several cards);
  https://developers.google.com/workspace/chat/api/reference/rest/v1/cards (100 widgets per
  card); https://developers.google.com/workspace/chat/limits (429, exponential backoff).
  Checked: no key -> 403 PERMISSION_DENIED; wrong key -> 400 INVALID_ARGUMENT; wrong token or
  space -> 401 UNAUTHENTICATED; POST only; Content-Type application/json; JSON object with only
  Message fields (unknown name -> 400 "Invalid JSON payload received. Unknown name ...");
  text a string, cardsV2 a list of {cardId (required with several cards), card} with known
  card fields and widgets of one known kind; neither text nor cardsV2/cards -> 400 "Message
  cannot be empty"; over 32,000 bytes -> 400. Errors are Google API JSON {error:{code,
  message, status}}. Success 200 with the Message JSON. Recorded: over 100 widgets in a card
  (ignored). 429: RESOURCE_EXHAUSTED, no Retry-After (Google documents exponential backoff).
ntfy         POST or PUT /ntfy/TOPIC (body = message), or POST /ntfy/ with a JSON message
  Docs: https://docs.ntfy.sh/publish/ (headers Title/X-Title/t, Priority/X-Priority/p,
  Tags/X-Tags/ta, Click/X-Click, Markdown/X-Markdown/md, Message; access tokens; publish as
  JSON; limitations: 4,096-byte messages); the server's error table, server/errors.go in
  https://github.com/binwiederhier/ntfy (codes 40007, 40017, 40101, 40301, 42901).
  Checked: topic name [-_A-Za-z0-9]{1,64}; no credentials -> 403 {code 40301}; wrong token
  (Authorization: Bearer tk_..., or Basic with the token as password, or ?auth=) -> 401
  {code 40101}; another topic -> 403 40301; Priority 1-5 or min/low/default/high/urgent/max ->
  else 400 {code 40007}; JSON publish: a JSON object with topic (400 40017 otherwise).
  Headers may be RFC 2047 encoded (=?UTF-8?B?...?=). Success 200 with the message JSON (id,
  time, expires, event "message", topic, message, title, priority, tags, click,
  content_type "text/markdown" when Markdown). Recorded: a body over 4,096 bytes or not UTF-8
  (ntfy turns it into an attachment, answered as such). 429: {code 42901}, no Retry-After.
matrix       PUT /matrix/_matrix/client/v3/rooms/ROOM/send/EVENTTYPE/TXNID (homeserver /matrix)
  Docs: https://spec.matrix.org/latest/client-server-api/#put_matrixclientv3roomsroomidsendeventtypetxnid ;
  #transaction-identifiers ; #standard-error-response ; #rate-limiting ; #mroommessage-msgtypes
  (m.text, format org.matrix.custom.html, the recommended HTML tags).
  Checked: unknown endpoint -> 404 M_UNRECOGNIZED; PUT only (405 M_UNRECOGNIZED); no token ->
  401 M_MISSING_TOKEN; wrong token -> 401 M_UNKNOWN_TOKEN (soft_logout false); another room
  -> 403 M_FORBIDDEN; body not JSON -> 400 M_NOT_JSON, not an object -> 400 M_BAD_JSON.
  The same txnId with the same access token answers the SAME event_id and posts nothing new.
  Success 200 {"event_id"}. Recorded (the homeserver stores them as sent): event type not
  m.room.message, msgtype not m.text/m.notice/m.emote, body missing or empty,
  formatted_body without format org.matrix.custom.html (or the reverse), HTML tags outside
  the spec's list, r0 paths, the deprecated access_token query parameter, a txnId reused
  with a different body (the homeserver answers the earlier event: this message is lost).
  429: M_LIMIT_EXCEEDED with retry_after_ms and a Retry-After header.
telegram     POST (or GET) /telegram/bot<TOKEN>/sendMessage (API base /telegram); getMe too
  Docs: https://core.telegram.org/bots/api#making-requests ; #sendmessage ;
  #formatting-options (HTML style, MarkdownV2 style) ; #responseparameters .
  Checked: malformed token path -> 404 Not Found; wrong token -> 401 Unauthorized; unknown
  method -> 404; parameters from query, JSON, form or multipart; chat_id missing -> 400
  "chat_id is empty", another chat -> 400 "chat not found"; text missing/empty -> 400 "message
  text is empty"; over 4096 characters after entity parsing -> 400 "message is too long";
  parse_mode other than HTML/MarkdownV2/Markdown -> 400 "unsupported parse_mode"; HTML: only
  b strong i em u ins s strike del tg-spoiler span.tg-spoiler a[href] tg-emoji[emoji-id]
  code[class] pre blockquote[expandable], properly closed and nested, every <, > and & not
  part of a tag or of &lt; &gt; &amp; &quot; &#N; escaped; MarkdownV2: reserved characters
  _*[]()~`>#+-=|{}.! escaped with a backslash unless markup, entities closed -> else 400
  "can't parse entities: ...". Answers {"ok":true,"result":{message}} or {"ok":false,
  "error_code","description"}. 429: {"parameters":{"retry_after":N}}, no Retry-After header.

Where the documentation leaves a detail open, the answer follows what the service is seen to
answer, and these are assumptions: Slack's 429 body ("rate_limited"; its rate-limit page only
promises Retry-After); the Teams trigger's error codes (Logic Apps'; the schema check stands in
for the template's, which the documentation does not print); Google Chat's answer to a wrong
webhook token (401 UNAUTHENTICATED) and to an oversized message; the wording after "can't
parse entities:" for Telegram; Telegram's 4096 counted in code points.
"""
import argparse
import base64
import binascii
import email.header
import email.parser
import email.policy
import html
import html.parser
import json
import math
import os
import random
import re
import socket
import string
import sys
import threading
import time
import traceback
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.RLock()
RNG = random.SystemRandom()
SERVICES = ("slack", "mattermost", "teams", "discord", "google_chat", "ntfy", "matrix", "telegram")
LOG = sys.stderr


def log(msg):
    LOG.write(STATE.scrub(msg) + "\n")
    LOG.flush()


def rand_id(n, alphabet=string.ascii_lowercase + string.digits):
    return "".join(RNG.choice(alphabet) for _ in range(n))


def rfc3339(t=None):
    t = time.time() if t is None else t
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%06dZ" % int((t % 1) * 1e6)


REASONS = {
    200: "OK", 202: "Accepted", 204: "No Content", 400: "Bad Request", 401: "Unauthorized",
    403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 410: "Gone",
    413: "Payload Too Large", 429: "Too Many Requests", 500: "Internal Server Error",
    502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout",
}


class Answer:
    def __init__(self, status, body=b"", ctype=None, headers=None):
        self.status = status
        self.body = body.encode("utf-8") if isinstance(body, str) else body
        self.headers = list(headers or [])
        if ctype and self.body:
            self.headers.append(("Content-Type", ctype))
        self.problems = []
        self.payload = None
        self.posted = None
        self.commit = None
        self.fault = None

    def with_problems(self, problems):
        self.problems.extend(problems)
        return self


def plain(status, text, ctype="text/plain; charset=utf-8", headers=None):
    return Answer(status, text, ctype, headers)


def js(status, obj, headers=None, indent=None):
    text = json.dumps(obj, ensure_ascii=False, indent=indent, separators=None if indent else (",", ":"))
    return Answer(status, text, "application/json; charset=utf-8" if indent else "application/json", headers)


class Req:
    def __init__(self, method, raw_path, headers, body):
        self.method = method
        self.raw_path = raw_path
        split = urllib.parse.urlsplit(raw_path)
        self.path = split.path
        self.query_string = split.query
        self.query = urllib.parse.parse_qs(split.query, keep_blank_values=True)
        self.headers = headers
        self.body = body
        ctype = self.header("content-type") or ""
        self.ctype = ctype.split(";")[0].strip().lower()
        self.ctype_full = ctype

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def q(self, name):
        v = self.query.get(name)
        return v[0] if v else None

    def text(self):
        return self.body.decode("utf-8", errors="replace")


def fix_header(v):
    """http.server reads header bytes as Latin-1; raw UTF-8 values are re-decoded."""
    try:
        return v.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return v


def parse_form(body):
    return {k: v[0] for k, v in urllib.parse.parse_qs(body.decode("utf-8", errors="replace"),
                                                       keep_blank_values=True).items()}


def parse_multipart(ctype_full, body):
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + ctype_full.encode("latin-1", errors="replace") + b"\r\n\r\n" + body)
    out = {}
    if not msg.is_multipart():
        return None
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name is None:
            continue
        payload = part.get_payload(decode=True) or b""
        if part.get_filename() is None:
            out[name] = payload.decode("utf-8", errors="replace")
        else:
            out[name] = {"filename": part.get_filename(), "size": len(payload)}
    return out


# ---------------------------------------------------------------------------------------
# state: faults, log, secrets
# ---------------------------------------------------------------------------------------

class State:
    def __init__(self):
        self.faults = {s: [] for s in SERVICES}
        self.secrets = []
        self.log_path = None

    def scrub(self, text):
        for s in self.secrets:
            if s:
                text = text.replace(s, "<secret>")
        return text

    def pop_fault(self, service):
        q = self.faults.get(service)
        return q.pop(0) if q else None

    def record(self, entry):
        line = self.scrub(json.dumps(entry, ensure_ascii=False))
        with open(self.log_path, "a", encoding="utf-8") as f:
            f.write(line + "\n")


STATE = State()

FAULT_RE = re.compile(r"^(?:(\d{3})(?::(\d+(?:\.\d+)?))?|hang(?::(\d+(?:\.\d+)?))?|close)$")


class Service:
    name = ""
    prefix = ""

    def redact(self, raw_path):
        return raw_path

    def handle(self, req):
        raise NotImplementedError

    def rate_limited(self, seconds):
        return plain(429, "Too Many Requests", headers=[("Retry-After", str(math.ceil(seconds)))])

    def server_error(self, status):
        reason = REASONS.get(status, "Error")
        return plain(status, f"{status} {reason}\n")


def replace_query(raw_path, names):
    split = urllib.parse.urlsplit(raw_path)
    if not split.query:
        return raw_path
    parts = []
    for item in split.query.split("&"):
        k, sep, _v = item.partition("=")
        parts.append(f"{k}=<secret>" if urllib.parse.unquote_plus(k) in names and sep else item)
    return urllib.parse.urlunsplit(("", "", split.path, "&".join(parts), ""))


# ---------------------------------------------------------------------------------------
# Slack
# ---------------------------------------------------------------------------------------

SLACK_BLOCK_TYPES = {"actions", "context", "context_actions", "divider", "file", "header",
                     "image", "input", "markdown", "rich_text", "section", "table", "video"}


def slack_text_object(o, where, max_len, plain_only=False):
    if not isinstance(o, dict):
        return [f"{where}: not a text object"]
    errs = []
    t = o.get("type")
    if t not in ("plain_text", "mrkdwn"):
        errs.append(f"{where}.type {t!r}: a text object is plain_text or mrkdwn")
    elif plain_only and t != "plain_text":
        errs.append(f"{where}.type {t!r}: must be plain_text")
    s = o.get("text")
    if not isinstance(s, str) or s == "":
        errs.append(f"{where}.text: missing or empty (at least 1 character)")
    elif len(s) > max_len:
        errs.append(f"{where}.text: {len(s)} characters, more than {max_len}")
    if "emoji" in o and t != "plain_text":
        errs.append(f"{where}.emoji: only for plain_text")
    if "verbatim" in o and t != "mrkdwn":
        errs.append(f"{where}.verbatim: only for mrkdwn")
    return errs


def slack_blocks(blocks):
    errs = []
    if len(blocks) > 50:
        errs.append(f"blocks: {len(blocks)} blocks, more than 50")
    ids = set()
    for i, b in enumerate(blocks):
        w = f"blocks[{i}]"
        if not isinstance(b, dict):
            errs.append(f"{w}: not an object")
            continue
        t = b.get("type")
        if t not in SLACK_BLOCK_TYPES:
            errs.append(f"{w}.type {t!r}: not a Block Kit block type")
            continue
        bid = b.get("block_id")
        if bid is not None:
            if not isinstance(bid, str) or not 1 <= len(bid) <= 255:
                errs.append(f"{w}.block_id: a string of 1..255 characters")
            elif bid in ids:
                errs.append(f"{w}.block_id {bid!r}: not unique in the message")
            else:
                ids.add(bid)
        if t == "section":
            if "text" not in b and "fields" not in b:
                errs.append(f"{w}: a section needs text or fields")
            if "text" in b:
                errs += slack_text_object(b["text"], f"{w}.text", 3000)
            if "fields" in b:
                f = b["fields"]
                if not isinstance(f, list) or not f:
                    errs.append(f"{w}.fields: a non-empty array")
                else:
                    if len(f) > 10:
                        errs.append(f"{w}.fields: {len(f)} items, more than 10")
                    for j, x in enumerate(f):
                        errs += slack_text_object(x, f"{w}.fields[{j}]", 2000)
            if "accessory" in b and not (isinstance(b["accessory"], dict) and "type" in b["accessory"]):
                errs.append(f"{w}.accessory: an element object with a type")
        elif t == "context":
            el = b.get("elements")
            if not isinstance(el, list) or not el:
                errs.append(f"{w}.elements: a non-empty array")
            else:
                if len(el) > 10:
                    errs.append(f"{w}.elements: {len(el)} items, more than 10")
                for j, x in enumerate(el):
                    if isinstance(x, dict) and x.get("type") == "image":
                        if not (x.get("image_url") or x.get("slack_file")) or not x.get("alt_text"):
                            errs.append(f"{w}.elements[{j}]: an image needs image_url (or slack_file) and alt_text")
                    else:
                        errs += slack_text_object(x, f"{w}.elements[{j}]", 3000)
        elif t == "header":
            errs += slack_text_object(b.get("text"), f"{w}.text", 150, plain_only=True)
        elif t == "image":
            if not (b.get("image_url") or b.get("slack_file")):
                errs.append(f"{w}: an image block needs image_url or slack_file")
            if not isinstance(b.get("alt_text"), str) or not b.get("alt_text"):
                errs.append(f"{w}.alt_text: required")
            if "title" in b:
                errs += slack_text_object(b["title"], f"{w}.title", 2000, plain_only=True)
        elif t == "actions":
            el = b.get("elements")
            if not isinstance(el, list) or not el or len(el) > 25:
                errs.append(f"{w}.elements: an array of 1..25 elements")
        elif t == "markdown":
            s = b.get("text")
            if not isinstance(s, str) or not s or len(s) > 12000:
                errs.append(f"{w}.text: a string of 1..12000 characters")
        elif t == "rich_text":
            if not isinstance(b.get("elements"), list):
                errs.append(f"{w}.elements: an array")
    return errs


class Slack(Service):
    name = "slack"
    prefix = "/slack/"

    def __init__(self, cfg):
        self.team, self.hook, self.secret = cfg["team"], cfg["hook"], cfg["secret"]

    def redact(self, raw_path):
        parts = raw_path.split("/")
        if len(parts) >= 6 and parts[2] == "services":
            parts[5] = "<secret>" + ("?" + parts[5].split("?", 1)[1] if "?" in parts[5] else "")
        return "/".join(parts)

    @staticmethod
    def err(status, code, problem):
        return plain(status, code, "text/html").with_problems([problem])

    def rate_limited(self, seconds):
        return plain(429, "rate_limited", "text/html", [("Retry-After", str(math.ceil(seconds)))])

    def handle(self, req):
        parts = req.path.split("/")[3:] if req.path.startswith("/slack/services/") else []
        if len(parts) != 3:
            return self.err(404, "no_service", "not an incoming-webhook URL /services/T../B../secret")
        team, hook, secret = parts
        if (team, hook) != (self.team, self.hook):
            return self.err(404, "no_service", "unknown workspace or webhook in the URL")
        if secret != self.secret:
            return self.err(403, "invalid_token", "wrong webhook secret in the URL")
        if req.method != "POST":
            return self.err(405, "invalid_method", f"method {req.method}: incoming webhooks take POST")
        if req.ctype == "application/json":
            raw = req.text()
        elif req.ctype == "application/x-www-form-urlencoded":
            form = parse_form(req.body)
            if "payload" not in form:
                return self.err(400, "invalid_payload", "form body without a payload field")
            raw = form["payload"]
        else:
            return self.err(400, "invalid_payload",
                            f"Content-Type {req.ctype_full!r}: send application/json (or a form with payload=)")
        try:
            payload = json.loads(raw)
        except ValueError as e:
            return self.err(400, "invalid_payload", f"body is not JSON: {e}")
        if not isinstance(payload, dict):
            return self.err(400, "invalid_payload", "the payload is not a JSON object")
        text = payload.get("text")
        if text is not None and not isinstance(text, str):
            return self.err(400, "invalid_payload", "text is not a string")
        blocks = payload.get("blocks")
        attachments = payload.get("attachments")
        if blocks is not None:
            if not isinstance(blocks, list):
                return self.err(400, "invalid_blocks_format", "blocks is not an array")
            errs = slack_blocks(blocks)
            if errs:
                return plain(400, "invalid_blocks", "text/html").with_problems(errs)
        if attachments is not None:
            if not isinstance(attachments, list):
                return self.err(400, "invalid_payload", "attachments is not an array")
            if len(attachments) > 100:
                return self.err(400, "too_many_attachments", f"{len(attachments)} attachments, more than 100")
        has_text = isinstance(text, str) and text.strip() != ""
        if not has_text and not blocks:
            if attachments:
                if not any(isinstance(a, dict) and (a.get("fallback") or a.get("text") or a.get("blocks"))
                           for a in attachments):
                    return self.err(400, "missing_text_or_fallback_or_attachments",
                                    "no text, no blocks, and no attachment with text or fallback")
            else:
                return self.err(400, "no_text", "neither text nor blocks")
        ans = plain(200, "ok", "text/html")
        if blocks and not has_text:
            ans.problems.append("blocks without a top-level text: Slack shows text in notifications "
                                "(the fallback); always include it with blocks")
        if has_text and len(text) > 40000:
            ans.problems.append(f"text is {len(text)} characters: Slack truncates it at 40,000")
        ans.payload = payload
        ans.posted = "slack-" + rand_id(16)
        return ans


# ---------------------------------------------------------------------------------------
# Mattermost
# ---------------------------------------------------------------------------------------

class Mattermost(Service):
    name = "mattermost"
    prefix = "/mattermost/"

    def __init__(self, cfg):
        self.hook = cfg["hook"]

    def redact(self, raw_path):
        if raw_path.startswith("/mattermost/hooks/"):
            rest = raw_path[len("/mattermost/hooks/"):]
            q = ("?" + rest.split("?", 1)[1]) if "?" in rest else ""
            return "/mattermost/hooks/<secret>" + q
        return raw_path

    @staticmethod
    def app_error(status, ident, message, problem):
        return js(status, {"id": ident, "message": message, "detailed_error": "",
                           "request_id": rand_id(26), "status_code": status}).with_problems([problem])

    def rate_limited(self, seconds):
        s = str(math.ceil(seconds))
        return plain(429, "limit exceeded\n", headers=[
            ("Retry-After", s), ("X-Ratelimit-Limit", "10"), ("X-Ratelimit-Remaining", "0"),
            ("X-Ratelimit-Reset", s)])

    def parse_error(self, problem):
        return self.app_error(400, "web.incoming_webhook.parse.app_error", "Unable to parse incoming data.", problem)

    def handle(self, req):
        if not req.path.startswith("/mattermost/hooks/") or "/" in req.path[len("/mattermost/hooks/"):]:
            return plain(404, "404 page not found\n").with_problems(["not /hooks/ID"])
        hook = req.path[len("/mattermost/hooks/"):]
        if req.method != "POST":
            return plain(405, "").with_problems([f"method {req.method}: incoming webhooks take POST"])
        problems = []
        if req.ctype == "application/json":
            raw = req.text()
        elif req.ctype == "application/x-www-form-urlencoded":
            raw = parse_form(req.body).get("payload", "")
        elif req.ctype == "multipart/form-data":
            raw = (parse_multipart(req.ctype_full, req.body) or {}).get("payload", "")
        elif req.ctype == "":
            t = req.text()
            if not t.startswith("payload="):
                return self.parse_error("no Content-Type and the body does not start with payload=")
            raw = urllib.parse.unquote_plus(t[len("payload="):])
        else:
            return self.parse_error(f"Content-Type {req.ctype_full!r}: send application/json")
        try:
            payload = json.loads(raw)
        except ValueError as e:
            return self.parse_error(f"body is not JSON: {e}")
        if not isinstance(payload, dict):
            return self.parse_error("the payload is not a JSON object")
        for field in ("text", "channel", "username", "icon_url", "icon_emoji", "type"):
            if field in payload and payload[field] is not None and not isinstance(payload[field], str):
                return self.parse_error(f"{field} is not a string")
        if "props" in payload and payload["props"] is not None and not isinstance(payload["props"], dict):
            return self.parse_error("props is not an object")
        attachments = payload.get("attachments")
        if attachments is not None:
            if not isinstance(attachments, list) or not all(isinstance(a, dict) for a in attachments):
                return self.parse_error("attachments is not an array of objects")
        text = payload.get("text") or ""
        if text == "" and attachments is None:
            return self.app_error(400, "web.incoming_webhook.text.app_error", "No text specified.",
                                  "neither text nor attachments")
        if hook != self.hook:
            return self.app_error(400, "web.incoming_webhook.invalid.app_error", "Invalid webhook.",
                                  "unknown webhook id in the URL")
        for i, a in enumerate(attachments or []):
            if not a.get("fallback"):
                problems.append(f"attachments[{i}] has no fallback (documented as a required plain-text summary)")
        if len(text) > 16383:
            problems.append(f"text is {len(text)} characters: Mattermost splits it into several posts (16383 each)")
        ans = plain(200, "ok").with_problems(problems)
        ans.payload = payload
        ans.posted = "mm-" + rand_id(26)
        return ans


# ---------------------------------------------------------------------------------------
# Microsoft Teams (Workflows webhook, Adaptive Cards)
# ---------------------------------------------------------------------------------------

AC_ELEMENTS = {"TextBlock", "Image", "Media", "RichTextBlock", "Container", "ColumnSet", "FactSet",
               "ImageSet", "ActionSet", "Table", "Input.Text", "Input.Number", "Input.Date",
               "Input.Time", "Input.Toggle", "Input.ChoiceSet", "Icon", "Badge", "CodeBlock"}
AC_ACTIONS = {"Action.OpenUrl", "Action.Submit", "Action.ShowCard", "Action.ToggleVisibility",
              "Action.Execute"}
ADAPTIVE = "application/vnd.microsoft.card.adaptive"


def ac_actions(actions, where):
    if not isinstance(actions, list):
        return [f"{where}: not an array"]
    errs = []
    for i, a in enumerate(actions):
        w = f"{where}[{i}]"
        if not isinstance(a, dict):
            errs.append(f"{w}: not an object")
            continue
        t = a.get("type")
        if t not in AC_ACTIONS:
            errs.append(f"{w}.type {t!r}: not an Adaptive Card action")
        elif t == "Action.OpenUrl" and not isinstance(a.get("url"), str):
            errs.append(f"{w}: Action.OpenUrl needs url")
        elif t == "Action.ShowCard" and isinstance(a.get("card"), dict):
            errs += ac_elements(a["card"].get("body", []), f"{w}.card.body")
    return errs


def ac_elements(elements, where):
    if not isinstance(elements, list):
        return [f"{where}: not an array"]
    errs = []
    for i, e in enumerate(elements):
        w = f"{where}[{i}]"
        if not isinstance(e, dict):
            errs.append(f"{w}: not an object")
            continue
        t = e.get("type")
        if t not in AC_ELEMENTS:
            errs.append(f"{w}.type {t!r}: not an Adaptive Card element")
            continue
        if t == "TextBlock" and not isinstance(e.get("text"), str):
            errs.append(f"{w}: a TextBlock needs text (a string)")
        elif t == "FactSet":
            facts = e.get("facts")
            if not isinstance(facts, list) or not all(
                    isinstance(f, dict) and isinstance(f.get("title"), str) and isinstance(f.get("value"), str)
                    for f in facts):
                errs.append(f"{w}.facts: an array of {{title, value}} strings")
        elif t == "Image" and not isinstance(e.get("url"), str):
            errs.append(f"{w}: an Image needs url")
        elif t == "Container":
            errs += ac_elements(e.get("items"), f"{w}.items")
        elif t == "ColumnSet":
            for j, c in enumerate(e.get("columns", [])):
                if not isinstance(c, dict) or c.get("type", "Column") != "Column":
                    errs.append(f"{w}.columns[{j}]: not a Column")
                else:
                    errs += ac_elements(c.get("items", []), f"{w}.columns[{j}].items")
        elif t == "ActionSet":
            errs += ac_actions(e.get("actions"), f"{w}.actions")
        elif t == "RichTextBlock" and not isinstance(e.get("inlines"), list):
            errs.append(f"{w}.inlines: an array")
        elif t.startswith("Input.") and not isinstance(e.get("id"), str):
            errs.append(f"{w}: an input needs id")
    return errs


class Teams(Service):
    name = "teams"
    prefix = "/teams/"

    def __init__(self, cfg):
        self.workflow, self.sig = cfg["workflow"], cfg["sig"]

    def redact(self, raw_path):
        return replace_query(raw_path, {"sig"})

    @staticmethod
    def error(status, code, message, problem):
        return js(status, {"error": {"code": code, "message": message}}).with_problems([problem])

    def rate_limited(self, seconds):
        s = math.ceil(seconds)
        return js(429, {"error": {"code": "WorkflowRequestsThrottled",
                                  "message": f"Rate limit is exceeded. Try again in {s} seconds."}},
                  [("Retry-After", str(s))])

    def mismatch(self, detail):
        return self.error(400, "TriggerInputSchemaMismatch",
                          "The input body for trigger 'manual' of type 'Request' did not match its schema "
                          f"definition. Error details: '{detail}'.", detail)

    def handle(self, req):
        m = re.fullmatch(r"/teams/workflows/([^/]+)/triggers/manual/paths/invoke", req.path)
        if not m or m.group(1) != self.workflow:
            wf = m.group(1) if m else "?"
            return self.error(404, "WorkflowNotFound", f"The workflow '{wf}' could not be found.",
                              "unknown workflow in the URL")
        if not req.q("api-version"):
            return self.error(400, "MissingApiVersionParameter",
                              "The api-version query parameter (?api-version=) is required for all requests.",
                              "no api-version query parameter")
        sig = req.q("sig")
        if sig is None:
            return self.error(401, "DirectApiAuthorizationRequired",
                              "The request must be authenticated only by Shared Access scheme.",
                              "no sig query parameter")
        if sig != self.sig:
            return self.error(401, "DirectApiInvalidAuthorizationSignature",
                              "The provided authorization signature is not valid.", "wrong sig")
        if req.method != "POST":
            return self.error(405, "TriggerRequestMethodNotValid",
                              f"The HTTP method for this request is not valid: expected 'Post' and actual '{req.method}'.",
                              f"method {req.method}: the trigger takes POST")
        problems = []
        if req.ctype != "application/json":
            problems.append(f"Content-Type {req.ctype_full!r}: send application/json")
        try:
            body = json.loads(req.text())
        except ValueError as e:
            return self.error(400, "InvalidRequestContent",
                              f"The request content was invalid and could not be deserialized: '{e}'.",
                              f"body is not JSON: {e}")
        if isinstance(body, dict) and (body.get("@type") == "MessageCard" or "@context" in body
                                       or "sections" in body and "attachments" not in body):
            return self.mismatch("an Office 365 connector MessageCard: Workflows take Adaptive Cards only")
        if not isinstance(body, dict):
            return self.mismatch("the body is not a JSON object")
        if body.get("type") != "message":
            return self.mismatch(f"type is {body.get('type')!r}, not 'message'")
        atts = body.get("attachments")
        if not isinstance(atts, list) or not atts:
            return self.mismatch("attachments is not a non-empty array")
        for i, a in enumerate(atts):
            if not isinstance(a, dict):
                return self.mismatch(f"attachments[{i}] is not an object")
            ct = a.get("contentType")
            if ct != ADAPTIVE:
                what = " (an Office 365 connector card)" if "o365connector" in str(ct) else ""
                return self.mismatch(f"attachments[{i}].contentType is {ct!r}{what}, not {ADAPTIVE!r}")
            if not isinstance(a.get("content"), dict):
                return self.mismatch(f"attachments[{i}].content is not an object")
            if a.get("contentUrl") is not None:
                problems.append(f"attachments[{i}].contentUrl: null for an inline card")
            c = a["content"]
            w = f"attachments[{i}].content"
            if c.get("type") != "AdaptiveCard":
                problems.append(f"{w}.type is {c.get('type')!r}, not 'AdaptiveCard'")
            sch = c.get("$schema")
            if sch is not None and sch != "http://adaptivecards.io/schemas/adaptive-card.json":
                problems.append(f"{w}.$schema {sch!r}: http://adaptivecards.io/schemas/adaptive-card.json")
            v = c.get("version")
            vm = re.fullmatch(r"1\.(\d+)", v) if isinstance(v, str) else None
            if not vm:
                problems.append(f"{w}.version {v!r}: a version string such as '1.4' is required")
            elif int(vm.group(1)) > 5:
                problems.append(f"{w}.version {v}: Teams renders Adaptive Cards up to 1.5")
            if not isinstance(c.get("body"), list) or not c.get("body"):
                problems.append(f"{w}.body: a non-empty array of elements")
            else:
                problems += ac_elements(c["body"], f"{w}.body")
            if "actions" in c:
                problems += ac_actions(c["actions"], f"{w}.actions")
        if len(req.body) > 28 * 1024:
            problems.append(f"payload is {len(req.body)} bytes: Teams messages are limited to 28 KB")
        ans = Answer(202, b"", None, [("x-ms-workflow-run-id", "08585" + rand_id(20, string.digits) + "CU00")])
        ans.problems = problems
        ans.payload = body
        ans.posted = "teams-" + rand_id(16)
        return ans


# ---------------------------------------------------------------------------------------
# Discord
# ---------------------------------------------------------------------------------------

def discord_err(errors, path, code, message):
    node = errors
    for p in path:
        node = node.setdefault(str(p), {})
    node.setdefault("_errors", []).append({"code": code, "message": message})


def discord_len(errors, obj, key, path, max_len, required=False):
    v = obj.get(key)
    if v is None:
        if required:
            discord_err(errors, path + [key], "BASE_TYPE_REQUIRED", "This field is required")
        return 0
    if not isinstance(v, str):
        discord_err(errors, path + [key], "BASE_TYPE_STRING", "Must be a string.")
        return 0
    if required and v.strip() == "":
        discord_err(errors, path + [key], "BASE_TYPE_REQUIRED", "This field is required")
    if len(v) > max_len:
        discord_err(errors, path + [key], "BASE_TYPE_MAX_LENGTH", f"Must be {max_len} or fewer in length.")
    return len(v)


def discord_url(errors, obj, key, path):
    v = obj.get(key)
    if v is not None and not (isinstance(v, str) and re.match(r"^(https?|attachment)://", v)):
        discord_err(errors, path + [key], "URL_TYPE_INVALID_URL", "Not a well formed URL.")


def discord_embed(errors, e, path):
    if not isinstance(e, dict):
        discord_err(errors, path, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
        return 0
    total = discord_len(errors, e, "title", path, 256)
    total += discord_len(errors, e, "description", path, 4096)
    discord_url(errors, e, "url", path)
    if e.get("type") not in (None, "rich"):
        discord_err(errors, path + ["type"], "BASE_TYPE_CHOICES", "Webhook embeds are of type rich.")
    color = e.get("color")
    if color is not None and (not isinstance(color, int) or isinstance(color, bool) or not 0 <= color <= 0xFFFFFF):
        discord_err(errors, path + ["color"], "NUMBER_TYPE_MAX", "int value should be <= 16777215 and >= 0.")
    ts = e.get("timestamp")
    if ts is not None:
        ok = isinstance(ts, str) and re.fullmatch(
            r"\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:?\d\d)?", ts)
        if not ok:
            discord_err(errors, path + ["timestamp"], "DATE_TIME_TYPE_PARSE", "Could not parse ISO8601 timestamp.")
    footer = e.get("footer")
    if footer is not None:
        if isinstance(footer, dict):
            total += discord_len(errors, footer, "text", path + ["footer"], 2048, required=True)
            discord_url(errors, footer, "icon_url", path + ["footer"])
        else:
            discord_err(errors, path + ["footer"], "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
    author = e.get("author")
    if author is not None:
        if isinstance(author, dict):
            total += discord_len(errors, author, "name", path + ["author"], 256, required=True)
            discord_url(errors, author, "url", path + ["author"])
            discord_url(errors, author, "icon_url", path + ["author"])
        else:
            discord_err(errors, path + ["author"], "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
    for k in ("image", "thumbnail"):
        if e.get(k) is not None:
            if isinstance(e[k], dict):
                discord_url(errors, e[k], "url", path + [k])
            else:
                discord_err(errors, path + [k], "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
    fields = e.get("fields")
    if fields is not None:
        if not isinstance(fields, list):
            discord_err(errors, path + ["fields"], "LIST_TYPE_CONVERT", "Must be an array.")
        else:
            if len(fields) > 25:
                discord_err(errors, path + ["fields"], "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
            for j, f in enumerate(fields):
                if not isinstance(f, dict):
                    discord_err(errors, path + ["fields", j], "DICT_TYPE_CONVERT",
                                "Only dictionaries may be used in a DictType")
                    continue
                total += discord_len(errors, f, "name", path + ["fields", j], 256, required=True)
                total += discord_len(errors, f, "value", path + ["fields", j], 1024, required=True)
    return total


def flatten_errors(errors, prefix=""):
    out = []
    for k, v in errors.items():
        if k == "_errors":
            out += [f"{prefix or 'body'}: {x['code']} {x['message']}" for x in v]
        else:
            out += flatten_errors(v, f"{prefix}.{k}" if prefix else k)
    return out


class Discord(Service):
    name = "discord"
    prefix = "/discord/"

    def __init__(self, cfg):
        self.id, self.token = cfg["id"], cfg["token"]

    def redact(self, raw_path):
        return re.sub(r"^(/discord/api(?:/v\d+)?/webhooks/[^/]+/)([^/?]+)", r"\1<secret>", raw_path)

    def rate_limited(self, seconds):
        return js(429, {"message": "You are being rate limited.", "retry_after": round(float(seconds), 3),
                        "global": False},
                  [("Retry-After", str(math.ceil(seconds))), ("X-RateLimit-Limit", "5"),
                   ("X-RateLimit-Remaining", "0"), ("X-RateLimit-Reset", "%.3f" % (time.time() + seconds)),
                   ("X-RateLimit-Reset-After", "%.3f" % seconds), ("X-RateLimit-Bucket", "fake" + rand_id(12)),
                   ("X-RateLimit-Scope", "shared")])

    def handle(self, req):
        m = re.fullmatch(r"/discord/api(?:/v\d+)?/webhooks/([^/]+)/([^/]+)", req.path)
        if not m:
            return js(404, {"message": "404: Not Found", "code": 0}).with_problems(["not /api/webhooks/ID/TOKEN"])
        wid, tok = m.groups()
        if wid != self.id:
            return js(404, {"message": "Unknown Webhook", "code": 10015}).with_problems(["unknown webhook id"])
        if tok != self.token:
            return js(401, {"message": "Invalid Webhook Token", "code": 50027}).with_problems(["wrong webhook token"])
        if req.method != "POST":
            return js(405, {"message": "405: Method Not Allowed", "code": 0}).with_problems(
                [f"method {req.method}: execute webhook is POST"])
        wait = req.q("wait")
        if wait is not None and wait.lower() not in ("true", "false", "1", "0"):
            errors = {}
            discord_err(errors, ["wait"], "BOOLEAN_TYPE_CONVERT", "Must be either true or false.")
            return js(400, {"message": "Invalid Form Body", "code": 50035, "errors": errors}).with_problems(
                flatten_errors(errors))
        if req.ctype == "application/json":
            try:
                payload = json.loads(req.text())
            except ValueError as e:
                return js(400, {"message": "The request body contains invalid JSON.", "code": 50109}).with_problems(
                    [f"body is not JSON: {e}"])
        elif req.ctype == "multipart/form-data":
            form = parse_multipart(req.ctype_full, req.body) or {}
            if "payload_json" in form:
                try:
                    payload = json.loads(form["payload_json"])
                except ValueError as e:
                    return js(400, {"message": "The request body contains invalid JSON.", "code": 50109}
                              ).with_problems([f"payload_json is not JSON: {e}"])
            else:
                payload = {k: v for k, v in form.items() if not isinstance(v, dict)}
            if any(isinstance(v, dict) for v in form.values()) and isinstance(payload, dict):
                payload.setdefault("_files", [k for k, v in form.items() if isinstance(v, dict)])
        elif req.ctype == "application/x-www-form-urlencoded":
            payload = parse_form(req.body)
        else:
            return js(400, {"message": "Cannot send an empty message", "code": 50006}).with_problems(
                [f"Content-Type {req.ctype_full!r}: send application/json"])
        if not isinstance(payload, dict):
            errors = {}
            discord_err(errors, [], "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
            return js(400, {"message": "Invalid Form Body", "code": 50035, "errors": errors}).with_problems(
                ["the body is not a JSON object"])
        errors = {}
        discord_len(errors, payload, "content", [], 2000)
        if "username" in payload and payload["username"] is not None:
            n = discord_len(errors, payload, "username", [], 80)
            if isinstance(payload["username"], str) and n == 0:
                discord_err(errors, ["username"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 80 in length.")
        discord_url(errors, payload, "avatar_url", [])
        embeds = payload.get("embeds")
        if embeds is not None:
            if not isinstance(embeds, list):
                discord_err(errors, ["embeds"], "LIST_TYPE_CONVERT", "Must be an array.")
                embeds = []
            elif len(embeds) > 10:
                discord_err(errors, ["embeds"], "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length.")
            total = sum(discord_embed(errors, e, ["embeds", i]) for i, e in enumerate(embeds))
            if total > 6000:
                discord_err(errors, ["embeds"], "MAX_EMBED_SIZE_EXCEEDED", "Embed size exceeds maximum size of 6000")
        if errors:
            return js(400, {"message": "Invalid Form Body", "code": 50035, "errors": errors}).with_problems(
                flatten_errors(errors))
        content = payload.get("content")
        if not content and not embeds and not payload.get("components") and not payload.get("poll") \
                and not payload.get("_files") and not payload.get("sticker_ids"):
            return js(400, {"message": "Cannot send an empty message", "code": 50006}).with_problems(
                ["nothing to send: no content, embeds, components, poll or files"])
        mid = str(RNG.randrange(10 ** 18, 2 * 10 ** 18))
        if wait is not None and wait.lower() in ("true", "1"):
            msg = {"id": mid, "type": 0, "content": content or "", "channel_id": "1100000000000000001",
                   "author": {"id": self.id, "username": payload.get("username") or "mailroom", "bot": True,
                              "discriminator": "0000", "avatar": None},
                   "attachments": [], "embeds": embeds or [], "mentions": [], "mention_roles": [],
                   "pinned": False, "mention_everyone": False, "tts": bool(payload.get("tts")),
                   "timestamp": rfc3339().replace("Z", "+00:00"), "edited_timestamp": None, "flags": 0,
                   "components": [], "webhook_id": self.id}
            ans = js(200, msg)
        else:
            ans = Answer(204)
        ans.payload = payload
        ans.posted = mid
        return ans


# ---------------------------------------------------------------------------------------
# Google Chat
# ---------------------------------------------------------------------------------------

GCHAT_MESSAGE_FIELDS = {
    "name", "sender", "createTime", "lastUpdateTime", "deleteTime", "text", "formattedText", "cards",
    "cardsV2", "annotations", "thread", "space", "fallbackText", "actionResponse", "argumentText",
    "slashCommand", "attachment", "matchedUrl", "threadReply", "clientAssignedMessageId",
    "emojiReactionSummaries", "privateMessageViewer", "deletionMetadata", "quotedMessageMetadata",
    "attachedGifs", "accessoryWidgets"}
GCHAT_CARD_FIELDS = {"header", "sections", "sectionDividerStyle", "cardActions", "name", "fixedFooter",
                     "displayStyle", "peekCardHeader"}
GCHAT_SECTION_FIELDS = {"header", "widgets", "collapsible", "uncollapsibleWidgetsCount", "collapseControl"}
GCHAT_WIDGETS = {"textParagraph", "image", "decoratedText", "buttonList", "textInput", "selectionInput",
                 "dateTimePicker", "divider", "grid", "columns", "carousel", "chipList"}
GCHAT_WIDGET_EXTRA = {"horizontalAlignment", "id", "visibility", "eventActions"}


class GoogleChat(Service):
    name = "google_chat"
    prefix = "/google_chat/"

    def __init__(self, cfg):
        self.space, self.key, self.token = cfg["space"], cfg["key"], cfg["token"]

    def redact(self, raw_path):
        return replace_query(raw_path, {"key", "token"})

    @staticmethod
    def error(code, message, status, problem):
        return js(code, {"error": {"code": code, "message": message, "status": status}}, indent=2).with_problems(
            [problem] if isinstance(problem, str) else problem)

    def rate_limited(self, seconds):
        return js(429, {"error": {"code": 429, "message": "Resource has been exhausted (e.g. check quota).",
                                  "status": "RESOURCE_EXHAUSTED"}}, indent=2)

    def unknown(self, name, at, problem=None):
        return self.error(400, f"Invalid JSON payload received. Unknown name \"{name}\" at '{at}': Cannot find field.",
                          "INVALID_ARGUMENT", problem or f"unknown field {name!r} in {at}")

    def check_cards(self, cards):
        """(fatal answer or None, problems)"""
        if not isinstance(cards, list):
            return self.error(400, "Invalid value at 'message.cards_v2' (type.googleapis.com/google.chat.v1.CardWithId), "
                                   "must be a list", "INVALID_ARGUMENT", "cardsV2 is not an array"), []
        problems = []
        for i, cw in enumerate(cards):
            at = f"message.cards_v2[{i}]"
            if not isinstance(cw, dict):
                return self.error(400, f"Invalid value at '{at}': not an object", "INVALID_ARGUMENT",
                                  f"cardsV2[{i}] is not an object"), []
            for k in cw:
                if k not in ("cardId", "card"):
                    return self.unknown(k, at), []
            if len(cards) > 1 and not cw.get("cardId"):
                return self.error(400, f"Invalid value at '{at}.card_id': a cardId is required when a message has "
                                       "several cards", "INVALID_ARGUMENT", f"cardsV2[{i}] without cardId"), []
            card = cw.get("card")
            if not isinstance(card, dict):
                return self.error(400, f"Invalid value at '{at}.card': a Card is required", "INVALID_ARGUMENT",
                                  f"cardsV2[{i}].card is missing or not an object"), []
            for k in card:
                if k not in GCHAT_CARD_FIELDS:
                    return self.unknown(k, f"{at}.card"), []
            if not card.get("sections") and not card.get("header"):
                problems.append(f"cardsV2[{i}].card has neither header nor sections: an empty card")
            widgets = 0
            for j, s in enumerate(card.get("sections") or []):
                sat = f"{at}.card.sections[{j}]"
                if not isinstance(s, dict):
                    return self.error(400, f"Invalid value at '{sat}'", "INVALID_ARGUMENT",
                                      f"cardsV2[{i}].card.sections[{j}] is not an object"), []
                for k in s:
                    if k not in GCHAT_SECTION_FIELDS:
                        return self.unknown(k, sat), []
                for n, w in enumerate(s.get("widgets") or []):
                    wat = f"{sat}.widgets[{n}]"
                    kinds = [k for k in (w if isinstance(w, dict) else {}) if k in GCHAT_WIDGETS]
                    others = [k for k in (w if isinstance(w, dict) else {})
                              if k not in GCHAT_WIDGETS and k not in GCHAT_WIDGET_EXTRA]
                    if others:
                        return self.unknown(others[0], wat), []
                    if len(kinds) != 1:
                        return self.error(400, f"Invalid value at '{wat}': a widget has exactly one of "
                                               f"{', '.join(sorted(GCHAT_WIDGETS))}", "INVALID_ARGUMENT",
                                          f"{wat}: {len(kinds)} widget kinds"), []
                    data = w[kinds[0]]
                    if kinds[0] in ("textParagraph", "decoratedText") and not (
                            isinstance(data, dict) and isinstance(data.get("text"), str)):
                        return self.error(400, f"Invalid value at '{wat}.{kinds[0]}.text'", "INVALID_ARGUMENT",
                                          f"{wat}.{kinds[0]} without text"), []
                    widgets += 1
            if widgets > 100:
                problems.append(f"cardsV2[{i}] has {widgets} widgets: Google Chat ignores those beyond 100")
        return None, problems

    def handle(self, req):
        m = re.fullmatch(r"/google_chat/v1/spaces/([^/]+)/messages", req.path)
        if not m or req.method != "POST":
            return plain(404, "Not Found").with_problems([f"{req.method} {m and 'spaces/*/messages' or 'path'}: "
                                                          "incoming webhooks are POST /v1/spaces/SPACE/messages"])
        key, token = req.q("key"), req.q("token")
        if key is None:
            return self.error(403, "The request is missing a valid API key.", "PERMISSION_DENIED", "no key parameter")
        if key != self.key:
            return self.error(400, "API key not valid. Please pass a valid API key.", "INVALID_ARGUMENT", "wrong key")
        if token != self.token or m.group(1) != self.space:
            return self.error(401, "Request had invalid authentication credentials. Expected OAuth 2 access token, "
                                   "login cookie or other valid authentication credential.", "UNAUTHENTICATED",
                              "wrong or missing token, or another space")
        if req.ctype != "application/json":
            return self.error(400, "Invalid JSON payload received. Unexpected token.", "INVALID_ARGUMENT",
                              f"Content-Type {req.ctype_full!r}: send application/json; charset=UTF-8")
        try:
            payload = json.loads(req.text())
        except ValueError as e:
            return self.error(400, f"Invalid JSON payload received. {e}", "INVALID_ARGUMENT", f"body is not JSON: {e}")
        if not isinstance(payload, dict):
            return self.error(400, "Invalid JSON payload received. Expected an object.", "INVALID_ARGUMENT",
                              "the body is not a JSON object")
        for k in payload:
            if k not in GCHAT_MESSAGE_FIELDS:
                return self.unknown(k, "message")
        if len(req.body) > 32000:
            return self.error(400, f"Message of {len(req.body)} bytes exceeds the maximum size of 32000 bytes.",
                              "INVALID_ARGUMENT", f"message is {len(req.body)} bytes, more than 32,000")
        text = payload.get("text")
        if text is not None and not isinstance(text, str):
            return self.error(400, "Invalid value at 'message.text' (TYPE_STRING)", "INVALID_ARGUMENT",
                              "text is not a string")
        problems = []
        cards = payload.get("cardsV2")
        if cards is not None:
            fatal, problems = self.check_cards(cards)
            if fatal:
                return fatal
        if not text and not cards and not payload.get("cards"):
            return self.error(400, "Message cannot be empty. Discarding empty message.", "INVALID_ARGUMENT",
                              "neither text nor cardsV2")
        mid = rand_id(11, string.ascii_letters + string.digits + "_-")
        thread = (payload.get("thread") or {}).get("name") or f"spaces/{self.space}/threads/{rand_id(11)}"
        msg = {"name": f"spaces/{self.space}/messages/{mid}.{mid}",
               "sender": {"name": "users/114022495153014004089", "displayName": "mailroom", "type": "BOT"},
               "createTime": rfc3339(), "text": text or "",
               "thread": {"name": thread}, "space": {"name": f"spaces/{self.space}", "type": "ROOM",
                                                      "spaceType": "SPACE"},
               "argumentText": text or "", "formattedText": text or ""}
        if cards:
            msg["cardsV2"] = cards
        ans = js(200, msg, indent=2).with_problems(problems)
        ans.payload = payload
        ans.posted = msg["name"]
        return ans


# ---------------------------------------------------------------------------------------
# ntfy
# ---------------------------------------------------------------------------------------

NTFY_PRIORITIES = {"1": 1, "min": 1, "2": 2, "low": 2, "3": 3, "default": 3, "4": 4, "high": 4,
                   "5": 5, "max": 5, "urgent": 5}


def ntfy_error(code, http, error, link=""):
    body = {"code": code, "http": http, "error": error}
    if link:
        body["link"] = link
    return Answer(http, json.dumps(body, separators=(",", ":")) + "\n", "application/json")


def decode_2047(v):
    if "=?" not in v:
        return v
    try:
        return str(email.header.make_header(email.header.decode_header(v)))
    except (ValueError, LookupError, binascii.Error):
        return v


class Ntfy(Service):
    name = "ntfy"
    prefix = "/ntfy/"

    def __init__(self, cfg):
        self.topic, self.token = cfg["topic"], cfg["token"]

    def redact(self, raw_path):
        return replace_query(raw_path, {"auth", "authorization"})

    def rate_limited(self, seconds):
        return ntfy_error(42901, 429, "limit reached: too many requests", "https://ntfy.sh/docs/publish/#limitations")

    def param(self, req, *names):
        for n in names:
            v = req.header(n)
            if v is not None:
                return decode_2047(v)
        for n in names:
            v = req.q(n.lower())
            if v is not None:
                return v
        return None

    def auth(self, req):
        """None if allowed, else the error answer."""
        value = req.header("authorization")
        if value is None:
            a = req.q("auth") or req.q("authorization")
            if a is not None:
                try:
                    value = base64.urlsafe_b64decode(a + "=" * (-len(a) % 4)).decode("utf-8")
                except (binascii.Error, UnicodeDecodeError):
                    return ntfy_error(40101, 401, "unauthorized", "https://ntfy.sh/docs/publish/#authentication"
                                      ).with_problems(["auth parameter is not base64"])
        if value is None:
            return ntfy_error(40301, 403, "forbidden", "https://ntfy.sh/docs/publish/#authentication").with_problems(
                ["no credentials: the topic is protected (Authorization: Bearer tk_...)"])
        scheme, _, cred = value.partition(" ")
        ok = False
        if scheme.lower() == "bearer":
            ok = cred.strip() == self.token
        elif scheme.lower() == "basic":
            try:
                user, _, pw = base64.b64decode(cred.strip()).decode("utf-8").partition(":")
                ok = user == "" and pw == self.token
            except (binascii.Error, UnicodeDecodeError):
                ok = False
        if not ok:
            return ntfy_error(40101, 401, "unauthorized", "https://ntfy.sh/docs/publish/#authentication"
                              ).with_problems(["wrong credentials (not Bearer with the access token)"])
        return None

    def message(self, topic, text, title, priority, tags, click, markdown, problems, raw_len, utf8):
        now = int(time.time())
        msg = {"id": rand_id(12, string.ascii_letters + string.digits), "time": now, "expires": now + 43200,
               "event": "message", "topic": topic}
        if raw_len > 4096 or not utf8:
            problems.append(f"body is {raw_len} bytes{'' if utf8 else ' and not UTF-8'}: ntfy publishes it as an "
                            "attachment (attachment.txt), not as the message (limit 4,096 bytes)")
            msg["message"] = "You received a file: attachment.txt"
            msg["attachment"] = {"name": "attachment.txt", "type": "text/plain; charset=utf-8", "size": raw_len,
                                 "expires": now + 10800, "url": f"https://ntfy.invalid/file/{msg['id']}.txt"}
        else:
            msg["message"] = text if text != "" else "triggered"
        if title:
            msg["title"] = title
        if priority:
            msg["priority"] = priority
        if tags:
            msg["tags"] = tags
        if click:
            msg["click"] = click
        if markdown:
            msg["content_type"] = "text/markdown"
        return msg

    def answer(self, msg, problems):
        ans = Answer(200, json.dumps(msg, ensure_ascii=False, separators=(",", ":")) + "\n",
                     "application/json").with_problems(problems)
        ans.payload = msg
        ans.posted = msg["id"]
        return ans

    def handle(self, req):
        rest = req.path[len("/ntfy/"):]
        if rest == "" and req.method in ("POST", "PUT"):
            return self.handle_json(req)
        if not re.fullmatch(r"[-_A-Za-z0-9]{1,64}", rest):
            return ntfy_error(40401, 404, "page not found").with_problems([f"not a topic URL: /{rest}"])
        if req.method not in ("POST", "PUT"):
            return ntfy_error(40401, 404, "page not found").with_problems(
                [f"method {req.method}: publishing is POST or PUT"])
        denied = self.auth(req)
        if denied:
            return denied
        if rest != self.topic:
            return ntfy_error(40301, 403, "forbidden", "https://ntfy.sh/docs/publish/#authentication").with_problems(
                [f"topic {rest!r}: the token may only publish to {self.topic!r}"])
        problems = []
        prio_raw = self.param(req, "X-Priority", "Priority", "prio", "p")
        priority = 0
        if prio_raw is not None and prio_raw.strip() != "":
            p = prio_raw.strip().lower()
            if p.startswith("u="):
                priority = 3
            elif p not in NTFY_PRIORITIES:
                return ntfy_error(40007, 400, "invalid priority parameter",
                                  "https://ntfy.sh/docs/publish/#message-priority").with_problems(
                    [f"Priority {prio_raw!r}: 1-5 or min/low/default/high/urgent/max"])
            else:
                priority = NTFY_PRIORITIES[p]
        title = self.param(req, "X-Title", "Title", "ti", "t")
        tags_raw = self.param(req, "X-Tags", "Tags", "Tag", "ta")
        tags = [t.strip() for t in tags_raw.split(",") if t.strip()] if tags_raw else []
        click = self.param(req, "X-Click", "Click")
        md_raw = self.param(req, "X-Markdown", "Markdown", "md")
        markdown = (md_raw or "").strip().lower() in ("1", "yes", "true") or req.ctype == "text/markdown"
        try:
            text = req.body.decode("utf-8")
            utf8 = True
        except UnicodeDecodeError:
            text, utf8 = "", False
        if text == "" and utf8:
            text = (self.param(req, "X-Message", "Message", "m") or "").replace("\\n", "\n")
        msg = self.message(rest, text, title, priority, tags, click, markdown, problems, len(req.body), utf8)
        return self.answer(msg, problems)

    def handle_json(self, req):
        denied = self.auth(req)
        if denied:
            return denied
        bad = ntfy_error(40017, 400, "invalid request: request body must be message JSON",
                         "https://ntfy.sh/docs/publish/#publish-as-json")
        try:
            m = json.loads(req.text())
        except ValueError as e:
            return bad.with_problems([f"body is not JSON: {e}"])
        if not isinstance(m, dict) or not isinstance(m.get("topic"), str) or not m["topic"]:
            return bad.with_problems(["JSON publishing needs an object with topic"])
        if m["topic"] != self.topic:
            return ntfy_error(40301, 403, "forbidden", "https://ntfy.sh/docs/publish/#authentication").with_problems(
                [f"topic {m['topic']!r}: the token may only publish to {self.topic!r}"])
        problems = []
        priority = m.get("priority") or 0
        if not isinstance(priority, int) or isinstance(priority, bool) or not 0 <= priority <= 5:
            return ntfy_error(40007, 400, "invalid priority parameter",
                              "https://ntfy.sh/docs/publish/#message-priority").with_problems(
                [f"priority {priority!r}: an integer 1-5"])
        tags = m.get("tags") or []
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            return bad.with_problems(["tags is not an array of strings"])
        text = m.get("message") or ""
        if not isinstance(text, str):
            return bad.with_problems(["message is not a string"])
        msg = self.message(m["topic"], text, m.get("title"), priority, tags, m.get("click"),
                           bool(m.get("markdown")), problems, len(text.encode("utf-8")), True)
        return self.answer(msg, problems)


# ---------------------------------------------------------------------------------------
# Matrix
# ---------------------------------------------------------------------------------------

MATRIX_HTML_TAGS = {"del", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "p", "a", "ul", "ol", "sup",
                    "sub", "li", "b", "i", "u", "strong", "em", "s", "code", "hr", "br", "div", "table",
                    "thead", "tbody", "tr", "th", "td", "caption", "pre", "span", "img", "details",
                    "summary", "font", "mx-reply", "strike"}


class TagCollector(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)


class Matrix(Service):
    name = "matrix"
    prefix = "/matrix/"

    def __init__(self, cfg):
        self.token, self.room, self.user = cfg["token"], cfg["room"], cfg.get("user", "@mailroom:example.org")
        self.txns = {}  # (token, txnId) -> (event_id, body)

    def redact(self, raw_path):
        return replace_query(raw_path, {"access_token"})

    @staticmethod
    def error(status, errcode, message, problem, **extra):
        body = {"errcode": errcode, "error": message}
        body.update(extra)
        return js(status, body).with_problems([problem])

    def rate_limited(self, seconds):
        return js(429, {"errcode": "M_LIMIT_EXCEEDED", "error": "Too Many Requests",
                        "retry_after_ms": int(round(seconds * 1000))},
                  [("Retry-After", str(math.ceil(seconds)))])

    def handle(self, req):
        m = re.fullmatch(r"/matrix/_matrix/client/(v3|r0)/rooms/([^/]+)/send/([^/]+)/([^/]+)", req.path)
        if not m:
            return self.error(404, "M_UNRECOGNIZED", "Unrecognized request",
                              "not PUT /_matrix/client/v3/rooms/{roomId}/send/{eventType}/{txnId}")
        if req.method != "PUT":
            return self.error(405, "M_UNRECOGNIZED", "Unrecognized request",
                              f"method {req.method}: sending an event is PUT")
        problems = []
        if m.group(1) == "r0":
            problems.append("r0 path: the client-server API is v3 since Matrix 1.1")
        auth = req.header("authorization")
        token = None
        if auth is not None:
            scheme, _, cred = auth.partition(" ")
            token = cred.strip() if scheme.lower() == "bearer" else ""
        elif req.q("access_token") is not None:
            token = req.q("access_token")
            problems.append("access_token query parameter: deprecated (Matrix 1.11); send Authorization: Bearer")
        if token is None:
            return self.error(401, "M_MISSING_TOKEN", "Missing access token", "no access token")
        if token != self.token:
            return self.error(401, "M_UNKNOWN_TOKEN", "Unrecognised access token", "wrong access token",
                              soft_logout=False)
        room = urllib.parse.unquote(m.group(2))
        etype = urllib.parse.unquote(m.group(3))
        txn = urllib.parse.unquote(m.group(4))
        if room != self.room:
            what = " (a room alias: send to the room id !...)" if room.startswith("#") else ""
            return self.error(403, "M_FORBIDDEN", f"User {self.user} not in room {room}",
                              f"room {room!r} is not the configured room{what}")
        try:
            content = json.loads(req.text())
        except ValueError as e:
            return self.error(400, "M_NOT_JSON", "Content not JSON.", f"body is not JSON: {e}")
        if not isinstance(content, dict):
            return self.error(400, "M_BAD_JSON", "Content must be a JSON object.", "the body is not a JSON object")
        if etype != "m.room.message":
            problems.append(f"event type {etype!r}: messages are m.room.message")
        else:
            msgtype = content.get("msgtype")
            if msgtype not in ("m.text", "m.notice", "m.emote"):
                problems.append(f"msgtype {msgtype!r}: a text message is m.text (or m.notice)")
            body = content.get("body")
            if not isinstance(body, str) or body == "":
                problems.append("body: a non-empty string is required (the plain-text fallback)")
            fmt, fbody = content.get("format"), content.get("formatted_body")
            if fbody is not None or fmt is not None:
                if fmt != "org.matrix.custom.html":
                    problems.append(f"format {fmt!r}: formatted_body goes with format org.matrix.custom.html")
                if not isinstance(fbody, str):
                    problems.append("format without a formatted_body string")
                else:
                    tc = TagCollector()
                    tc.feed(fbody)
                    tc.close()
                    bad = sorted({t for t in tc.tags if t not in MATRIX_HTML_TAGS})
                    if bad:
                        problems.append(f"formatted_body uses tags outside the spec's list: {', '.join(bad)}")
        key = (token, txn)
        ans_body = None
        if key in self.txns:
            event_id, first = self.txns[key]
            if first != req.body:
                problems.append(f"txnId {txn!r} reused with a different body: the homeserver answers the earlier "
                                "event and this message is not sent")
            ans_body = event_id
        else:
            event_id = "$" + rand_id(43, string.ascii_letters + string.digits + "-_")

            def commit(key=key, event_id=event_id, body=req.body):
                self.txns[key] = (event_id, body)
        ans = js(200, {"event_id": event_id}).with_problems(problems)
        if ans_body is None:
            ans.commit = commit
        ans.payload = content
        ans.posted = event_id
        return ans


# ---------------------------------------------------------------------------------------
# Telegram
# ---------------------------------------------------------------------------------------

TG_TAGS = {"b": set(), "strong": set(), "i": set(), "em": set(), "u": set(), "ins": set(), "s": set(),
           "strike": set(), "del": set(), "tg-spoiler": set(), "span": {"class"}, "a": {"href"},
           "tg-emoji": {"emoji-id"}, "code": {"class"}, "pre": set(), "blockquote": {"expandable"}}
TG_TAG_RE = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)((?:\s+[A-Za-z][A-Za-z0-9-]*"
                       r"(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s>\"']+))?)*)\s*>")
TG_ATTR_RE = re.compile(r"([A-Za-z][A-Za-z0-9-]*)(?:\s*=\s*(\"[^\"]*\"|'[^']*'|[^\s>\"']+))?")
TG_ENTITY_RE = re.compile(r"&(lt|gt|amp|quot|#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6});")


def tg_html(text):
    """(plain text, None) or (None, error) for Telegram's HTML style."""
    out, stack, i, n = [], [], 0, len(text)

    def off(k):
        return len(text[:k].encode("utf-8"))

    while i < n:
        c = text[i]
        if c == "<":
            m = TG_TAG_RE.match(text, i)
            if not m:
                nm = re.match(r"</?([^\s>/]*)", text[i:])
                return None, f'Unsupported start tag "{nm.group(1) if nm else ""}" at byte offset {off(i)}'
            closing, name, attrs = m.group(1), m.group(2).lower(), m.group(3)
            if closing:
                if attrs.strip():
                    return None, f'Unexpected attributes in end tag at byte offset {off(i)}'
                if not stack:
                    return None, f'Unexpected end tag at byte offset {off(i)}'
                if stack[-1] != name:
                    return None, (f'Unmatched end tag at byte offset {off(i)}, expected "</{stack[-1]}>", '
                                  f'found "</{name}>"')
                stack.pop()
            else:
                if name not in TG_TAGS:
                    return None, f'Unsupported start tag "{name}" at byte offset {off(i)}'
                got = {}
                for am in TG_ATTR_RE.finditer(attrs):
                    an, av = am.group(1).lower(), am.group(2)
                    if an not in TG_TAGS[name]:
                        return None, f'Unsupported attribute "{an}" in tag "{name}" at byte offset {off(i)}'
                    got[an] = html.unescape(av.strip("\"'")) if av else ""
                if name == "span" and got.get("class") != "tg-spoiler":
                    return None, f'Tag "span" must have class "tg-spoiler" at byte offset {off(i)}'
                if name == "a" and not got.get("href"):
                    return None, f'Tag "a" must have href at byte offset {off(i)}'
                if name == "tg-emoji" and not got.get("emoji-id"):
                    return None, f'Tag "tg-emoji" must have emoji-id at byte offset {off(i)}'
                if name == "code" and "class" in got and not got["class"].startswith("language-"):
                    return None, f'Tag "code" class must be "language-..." at byte offset {off(i)}'
                if "code" in stack or ("pre" in stack and name != "code"):
                    return None, f'Entity "{name}" can\'t be inside "pre" or "code" at byte offset {off(i)}'
                if name == "blockquote" and "blockquote" in stack:
                    return None, f'Blockquote entities can\'t be nested at byte offset {off(i)}'
                if name == "a" and "a" in stack:
                    return None, f'Link entities can\'t be nested at byte offset {off(i)}'
                stack.append(name)
            i = m.end()
        elif c == "&":
            m = TG_ENTITY_RE.match(text, i)
            if not m:
                return None, f'Character "&" at byte offset {off(i)} is not an entity: escape it as &amp;'
            out.append(html.unescape(m.group(0)))
            i = m.end()
        elif c == ">":
            return None, f'Character ">" at byte offset {off(i)} must be escaped as &gt;'
        else:
            out.append(c)
            i += 1
    if stack:
        return None, f'Can\'t find end tag corresponding to start tag "{stack[-1]}"'
    return "".join(out), None


MDV2_RESERVED = set("_*[]()~`>#+-=|{}.!")
MDV2_NAMES = {"*": "Bold", "_": "Italic", "__": "Underline", "~": "Strikethrough", "||": "Spoiler", "[": "TextUrl"}


def tg_markdown_v2(text):
    """(plain text, None) or (None, error) for Telegram's MarkdownV2 style."""
    out, stack, i, n = [], [], 0, len(text)

    def off(k):
        return len(text[:k].encode("utf-8"))

    def reserved(k):
        return (f"Character '{text[k]}' is reserved and must be escaped with the preceding '\\'"
                f" (byte offset {off(k)})")

    def toggle(mark, k):
        for j in range(len(stack) - 1, -1, -1):
            if stack[j][0] == mark:
                if j != len(stack) - 1:
                    top = stack[-1]
                    return f"Can't find end of {MDV2_NAMES[top[0]]} entity at byte offset {off(top[1])}"
                stack.pop()
                return None
        stack.append((mark, k))
        return None

    while i < n:
        c = text[i]
        if c == "\\":
            if i + 1 < n and 0 < ord(text[i + 1]) < 127:
                out.append(text[i + 1])
                i += 2
                continue
            return None, reserved(i)
        if c == "`":
            fence = "```" if text.startswith("```", i) else "`"
            j = i + len(fence)
            if fence == "```":
                nl = text.find("\n", j)
                j = nl + 1 if nl != -1 else j
            buf = []
            while j < n and not text.startswith(fence, j):
                if text[j] == "\\" and j + 1 < n and text[j + 1] in "`\\":
                    buf.append(text[j + 1])
                    j += 2
                    continue
                buf.append(text[j])
                j += 1
            if j >= n:
                return None, f"Can't find end of {'Pre' if fence == '```' else 'Code'} entity at byte offset {off(i)}"
            out.append("".join(buf))
            i = j + len(fence)
            continue
        if c == "_" and text.startswith("__", i):
            err = toggle("__", i)
            i += 2
        elif c in "*_~":
            err = toggle(c, i)
            i += 1
        elif c == "|":
            if not text.startswith("||", i):
                return None, reserved(i)
            err = toggle("||", i)
            i += 2
        elif c == "[":
            stack.append(("[", i))
            err = None
            i += 1
        elif c == "]":
            if not stack or stack[-1][0] != "[" or not text.startswith("(", i + 1):
                return None, reserved(i)
            j = i + 2
            while j < n and text[j] != ")":
                if text[j] == "\\" and j + 1 < n:
                    j += 2
                    continue
                j += 1
            if j >= n:
                return None, f"Can't find end of a URL at byte offset {off(i)}"
            stack.pop()
            err = None
            i = j + 1
        elif c == ">" and (i == 0 or text[i - 1] == "\n"):
            err = None
            i += 1
        elif c in MDV2_RESERVED:
            return None, reserved(i)
        else:
            out.append(c)
            err = None
            i += 1
        if err:
            return None, err
    if stack:
        mark, k = stack[-1]
        return None, f"Can't find end of {MDV2_NAMES[mark]} entity at byte offset {off(k)}"
    return "".join(out), None


class Telegram(Service):
    name = "telegram"
    prefix = "/telegram/"

    def __init__(self, cfg):
        self.token, self.chat = cfg["token"], str(cfg["chat"])
        self.bot_id = int(self.token.split(":")[0]) if ":" in self.token else 1
        self.next_id = 1

    def redact(self, raw_path):
        return re.sub(r"^/telegram/bot[^/?]*", "/telegram/bot<secret>", raw_path)

    @staticmethod
    def error(code, description, problem, **extra):
        body = {"ok": False, "error_code": code, "description": description}
        body.update(extra)
        return js(code, body).with_problems([problem])

    def rate_limited(self, seconds):
        s = max(1, math.ceil(seconds))
        return js(429, {"ok": False, "error_code": 429, "description": f"Too Many Requests: retry after {s}",
                        "parameters": {"retry_after": s}})

    def params(self, req):
        """(params dict, error answer)"""
        p = {k: v[0] for k, v in req.query.items()}
        if req.body:
            if req.ctype == "application/json":
                try:
                    data = json.loads(req.text())
                except ValueError as e:
                    return None, self.error(400, "Bad Request: can't parse JSON object", f"body is not JSON: {e}")
                if not isinstance(data, dict):
                    return None, self.error(400, "Bad Request: can't parse JSON object", "the body is not an object")
                p.update(data)
            elif req.ctype == "application/x-www-form-urlencoded":
                p.update(parse_form(req.body))
            elif req.ctype == "multipart/form-data":
                p.update(parse_multipart(req.ctype_full, req.body) or {})
            else:
                return None, self.error(400, "Bad Request: message text is empty",
                                        f"Content-Type {req.ctype_full!r}: the Bot API reads query, JSON, "
                                        "form-urlencoded or multipart parameters")
        return p, None

    def bot(self):
        return {"id": self.bot_id, "is_bot": True, "first_name": "mailroom", "username": "mailroom_test_bot"}

    def handle(self, req):
        m = re.fullmatch(r"/telegram/bot([^/]*)/([A-Za-z0-9_]*)", req.path)
        if not m or not re.fullmatch(r"\d+:[A-Za-z0-9_-]{30,}", m.group(1)):
            return self.error(404, "Not Found", "not /bot<token>/<method> with a well-formed token")
        if m.group(1) != self.token:
            return self.error(401, "Unauthorized", "wrong bot token")
        method = m.group(2).lower()
        if req.method not in ("GET", "POST"):
            return self.error(404, "Not Found", f"method {req.method}: the Bot API takes GET or POST")
        if method == "getme":
            ans = js(200, {"ok": True, "result": dict(self.bot(), can_join_groups=True,
                                                      can_read_all_group_messages=False,
                                                      supports_inline_queries=False)})
            return ans
        if method != "sendmessage":
            return self.error(404, "Not Found", f"method {m.group(2)!r} is not served here")
        p, err = self.params(req)
        if err:
            return err
        chat = p.get("chat_id")
        if chat is None or str(chat) == "":
            return self.error(400, "Bad Request: chat_id is empty", "no chat_id")
        if isinstance(chat, bool) or not isinstance(chat, (str, int)) or str(chat) != self.chat:
            return self.error(400, "Bad Request: chat not found", f"chat_id {chat!r} is not the configured chat")
        text = p.get("text")
        if not isinstance(text, str) or text == "":
            return self.error(400, "Bad Request: message text is empty", "no text")
        mode = p.get("parse_mode")
        plain_text = text
        if mode not in (None, ""):
            if not isinstance(mode, str) or mode.lower() not in ("html", "markdownv2", "markdown"):
                return self.error(400, "Bad Request: unsupported parse_mode", f"parse_mode {mode!r}")
            if mode.lower() == "html":
                plain_text, perr = tg_html(text)
            elif mode.lower() == "markdownv2":
                plain_text, perr = tg_markdown_v2(text)
            else:
                perr = None
            if perr:
                return self.error(400, f"Bad Request: can't parse entities: {perr}", f"{mode}: {perr}")
        if plain_text.strip() == "":
            return self.error(400, "Bad Request: message text is empty", "the text is empty after entity parsing")
        if len(plain_text) > 4096:
            return self.error(400, "Bad Request: message is too long",
                              f"text is {len(plain_text)} characters after entity parsing, more than 4096")
        mid = self.next_id

        def commit():
            self.next_id += 1
        chat_id = int(self.chat) if re.fullmatch(r"-?\d+", self.chat) else self.chat
        result = {"message_id": mid, "from": self.bot(),
                  "chat": {"id": chat_id, "type": "supergroup" if str(chat_id).startswith("-100") else "private",
                           "title": "mailroom tests"},
                  "date": int(time.time()), "text": plain_text}
        ans = js(200, {"ok": True, "result": result})
        ans.commit = commit
        ans.payload = p
        ans.posted = f"{self.chat}/{mid}"
        return ans


# ---------------------------------------------------------------------------------------
# HTTP plumbing
# ---------------------------------------------------------------------------------------

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "chat-fake/1"

    def setup(self):
        super().setup()
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, fmt, *args):
        log("%s %s" % (self.address_string(), fmt % args))

    def log_request(self, code="-", size="-"):
        pass  # every request is logged by dispatch(), redacted

    def read_body(self):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            chunks = []
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)
            return b"".join(chunks)
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def send(self, ans, head_only=False):
        self.send_response(ans.status, REASONS.get(ans.status))
        for k, v in ans.headers:
            self.send_header(k, v)
        if ans.status not in (204, 304):
            self.send_header("Content-Length", str(len(ans.body)))
        self.end_headers()
        if not head_only and ans.status not in (204, 304):
            self.wfile.write(ans.body)
        self.wfile.flush()

    def control(self, method, body):
        path = urllib.parse.urlsplit(self.path).path
        m = re.fullmatch(r"/_control/fail/([a-z_]+)", path)
        if method == "POST" and m:
            service = m.group(1)
            if service not in SERVICES:
                return js(404, {"error": f"unknown service {service}"})
            try:
                answers = json.loads(body.decode("utf-8"))
            except ValueError:
                return js(400, {"error": "a JSON list of answers"})
            if not isinstance(answers, list) or not all(isinstance(a, str) and FAULT_RE.match(a) for a in answers):
                return js(400, {"error": "answers: \"429\", \"429:SECONDS\", \"500\", \"hang\", \"hang:SECONDS\", \"close\""})
            with LOCK:
                STATE.faults[service].extend(answers)
                return js(200, {"queued": STATE.faults[service]})
        if method == "GET" and path == "/_control/faults":
            with LOCK:
                return js(200, STATE.faults)
        return js(404, {"error": "unknown control request"})

    def dispatch(self, method):
        try:
            body = self.read_body()
        except (ValueError, OSError) as e:
            log(f"bad request body: {e}")
            self.close_connection = True
            return
        if self.path.startswith("/_control/"):
            return self.send(self.control(method, body))
        service = next((s for s in self.server.services.values()
                        if self.path.startswith(s.prefix) or self.path == s.prefix.rstrip("/")), None)
        headers = [(k, fix_header(v)) for k, v in self.headers.items()]
        req = Req(method, self.path, headers, body)
        recorded_headers = [(k, redact_authorization(v) if k.lower() == "authorization" else v) for k, v in headers]
        hang = None
        with LOCK:
            if service is None:
                ans = plain(404, "404 Not Found\n").with_problems(["no service at this path"])
                name, path = "unknown", self.path
            else:
                name, path = service.name, service.redact(self.path)
                try:
                    ans = service.handle(req)
                except Exception as e:  # a bug here must not look like the service's answer
                    log(traceback.format_exc())
                    ans = plain(500, "chat fake server error\n").with_problems([f"fake server bug: {e!r}"])
                fault = STATE.pop_fault(service.name)
                if fault is None:
                    if ans.commit:
                        ans.commit()
                else:
                    problems, payload = ans.problems, ans.payload
                    fm = FAULT_RE.match(fault)
                    if fault == "close" or fault.startswith("hang"):
                        hang = float(fm.group(3) or 30) if fault.startswith("hang") else 0.0
                        ans = Answer(0)
                    elif fm.group(1) == "429":
                        ans = service.rate_limited(float(fm.group(2) or 1))
                    else:
                        ans = service.server_error(int(fm.group(1)))
                    ans.problems, ans.payload = problems, payload
                    ans.fault = fault
            if name != "unknown" and any(s and s in body.decode("utf-8", "replace") for s in STATE.secrets):
                ans.problems.append("a secret appears in the request body")
            entry = {
                "service": name, "method": method, "path": path,
                "headers": [[k, v] for k, v in recorded_headers],
                "body": body.decode("utf-8", errors="replace"),
                "json": ans.payload if ans.payload is not None else try_json(body),
                "status": ans.status, "response": ans.body.decode("utf-8", errors="replace"),
                "problems": ans.problems, "fault": ans.fault,
                "posted": ans.posted if ans.fault is None else None,
                "time": time.time(),
            }
            STATE.record(entry)
            log(f"{name} {method} {path} -> {ans.status}"
                + (f" fault={entry['fault']}" if entry["fault"] else "")
                + (f" problems={ans.problems}" if ans.problems else ""))
        if hang is not None:
            time.sleep(hang)
            self.close_connection = True
            try:
                self.request.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        try:
            self.send(ans, head_only=(method == "HEAD"))
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def do_GET(self):
        self.dispatch("GET")

    def do_POST(self):
        self.dispatch("POST")

    def do_PUT(self):
        self.dispatch("PUT")

    def do_PATCH(self):
        self.dispatch("PATCH")

    def do_DELETE(self):
        self.dispatch("DELETE")

    def do_HEAD(self):
        self.dispatch("HEAD")


def redact_authorization(value):
    """Basic credentials are recorded as "Basic <secret>" when they hold a configured secret."""
    scheme, _, cred = value.partition(" ")
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(cred.strip()).decode("utf-8", errors="replace")
        except (binascii.Error, ValueError):
            return value
        if STATE.scrub(decoded) != decoded:
            return f"{scheme} <secret>"
    return value


def try_json(body):
    try:
        return json.loads(body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    global LOG
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--dir", required=True, help="where requests.jsonl is written")
    p.add_argument("--config", required=True, help="JSON: the secrets each service accepts")
    p.add_argument("--log", help="log file (default stderr)")
    p.add_argument("--exit-on-stdin-eof", action="store_true")
    args = p.parse_args()
    if args.log:
        LOG = open(args.log, "a", encoding="utf-8")
    with open(args.config, encoding="utf-8") as f:
        cfg = json.load(f)
    classes = {"slack": Slack, "mattermost": Mattermost, "teams": Teams, "discord": Discord,
               "google_chat": GoogleChat, "ntfy": Ntfy, "matrix": Matrix, "telegram": Telegram}
    services = {name: cls(cfg[name]) for name, cls in classes.items()}
    secret_keys = {"slack": ["secret"], "mattermost": ["hook"], "teams": ["sig"], "discord": ["token"],
                   "google_chat": ["key", "token"], "ntfy": ["token"], "matrix": ["token"], "telegram": ["token"]}
    STATE.secrets = sorted({cfg[s][k] for s, ks in secret_keys.items() for k in ks}, key=len, reverse=True)
    STATE.log_path = os.path.join(args.dir, "requests.jsonl")
    open(STATE.log_path, "a").close()
    server = Server(("127.0.0.1", args.port), Handler)
    server.services = services
    threading.Thread(target=server.serve_forever, daemon=True).start()
    log(f"chat fake listening on 127.0.0.1:{args.port}")
    print("READY", flush=True)
    if args.exit_on_stdin_eof:
        sys.stdin.read()
    else:
        threading.Event().wait()
    server.shutdown()


if __name__ == "__main__":
    main()
