"""Local stand-ins for the outside systems the portal posts to, each on a free port, validating what the
portal really sends (the real slack_sdk client, the real HTTP requests):

- Slack Web API ``chat.postMessage``. No machine-readable Slack Web API description is installable from a
  package registry (Slack's own OpenAPI repository is archived and not published), so the server checks the
  documented contract of https://api.slack.com/methods/chat.postMessage and the Block Kit reference
  (https://api.slack.com/reference/block-kit/blocks): a bearer token, a JSON body with ``channel`` and
  ``text`` or ``blocks``, at most 50 blocks of known types, text objects of type plain_text/mrkdwn, header
  text plain_text ≤ 150 chars, section text ≤ 3000, ≤ 10 section fields of ≤ 2000, buttons with
  plain_text ≤ 75 and a url ≤ 3000. It answers as Slack does: HTTP 200 with ``{"ok": false, "error": …}``.
- A Microsoft Teams incoming webhook / Workflows URL: ``{"type": "message", "attachments": [{"contentType":
  "application/vnd.microsoft.card.adaptive", "content": <AdaptiveCard>}]}``, the card checked against the
  required properties of the Adaptive Card schema (type, version, body elements' types; FactSet facts with
  title and value; Action.OpenUrl with url).
- A generic webhook receiver that checks the HMAC-SHA256 signature the portal documents.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BLOCK_TYPES = {"header", "section", "divider", "actions", "context", "image", "input", "rich_text", "file", "video"}
CARD_ELEMENTS = {"TextBlock", "FactSet", "ColumnSet", "Container", "Image", "ImageSet", "RichTextBlock", "Table"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Server:
    """Records every request; ``fail_next`` answers that many requests with a failure first."""

    path = "/"

    def __init__(self):
        self.port = free_port()
        self.received: list[dict] = []
        self.rejected: list[str] = []
        self.fail_next = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, body = outer.handle(self.path, headers, raw)
                data = json.dumps(body).encode() if not isinstance(body, bytes) else body
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.handler = Handler
        self.httpd = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    def start(self):
        # Bound only now: before it, nothing listens on the port (a receiver that is down).
        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), self.handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def stop(self):
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None

    def _failing(self) -> bool:
        if self.fail_next > 0:
            self.fail_next -= 1
            return True
        return False


class SlackServer(_Server):
    path = "/api/"

    def __init__(self, token: str = "xoxb-test-token"):
        super().__init__()
        self.token = token

    def handle(self, path, headers, raw):
        if path != "/api/chat.postMessage":
            return 404, {"ok": False, "error": "unknown_method"}
        if self._failing():
            return 500, b"upstream error"
        if headers.get("authorization") != f"Bearer {self.token}":
            return 200, {"ok": False, "error": "invalid_auth"}
        if not headers.get("content-type", "").startswith("application/json"):
            return 200, {"ok": False, "error": "invalid_content_type"}
        try:
            message = json.loads(raw)
        except ValueError:
            return 200, {"ok": False, "error": "invalid_json"}
        problems = validate_post_message(message)
        if problems:
            self.rejected.extend(problems)
            return 200, {"ok": False, "error": "invalid_blocks", "errors": problems}
        self.received.append(message)
        return 200, {"ok": True, "channel": message["channel"], "ts": f"1700000000.{len(self.received):06d}"}

    def texts(self) -> list[str]:
        return [m.get("text", "") for m in self.received]


def _text_object(obj, where: str, *, plain_only=False, limit=3000) -> list[str]:
    if not isinstance(obj, dict) or obj.get("type") not in ({"plain_text"} if plain_only else {"plain_text", "mrkdwn"}):
        return [f"{where}: a text object of type {'plain_text' if plain_only else 'plain_text or mrkdwn'}"]
    if not isinstance(obj.get("text"), str) or not obj["text"] or len(obj["text"]) > limit:
        return [f"{where}.text: 1-{limit} characters"]
    return []


def validate_post_message(message: dict) -> list[str]:
    problems = []
    if not isinstance(message.get("channel"), str) or not message["channel"]:
        problems.append("channel is required")
    blocks = message.get("blocks")
    if not message.get("text") and not blocks and not message.get("attachments"):
        problems.append("text, blocks or attachments is required")
    if blocks is None:
        return problems
    if not isinstance(blocks, list) or not 0 < len(blocks) <= 50:
        return [*problems, "blocks: a list of 1-50 blocks"]
    for n, block in enumerate(blocks):
        where = f"blocks[{n}]"
        kind = block.get("type") if isinstance(block, dict) else None
        if kind not in BLOCK_TYPES:
            problems.append(f"{where}.type: unknown block type {kind!r}")
            continue
        if kind == "header":
            problems += _text_object(block.get("text"), f"{where}.text", plain_only=True, limit=150)
        elif kind == "section":
            if "text" not in block and "fields" not in block:
                problems.append(f"{where}: text or fields is required")
            if "text" in block:
                problems += _text_object(block["text"], f"{where}.text")
            fields = block.get("fields", [])
            if not isinstance(fields, list) or len(fields) > 10:
                problems.append(f"{where}.fields: at most 10")
            for i, f in enumerate(fields if isinstance(fields, list) else []):
                problems += _text_object(f, f"{where}.fields[{i}]", limit=2000)
        elif kind == "actions":
            elements = block.get("elements")
            if not isinstance(elements, list) or not 0 < len(elements) <= 25:
                problems.append(f"{where}.elements: 1-25 elements")
                continue
            for i, element in enumerate(elements):
                if element.get("type") == "button":
                    problems += _text_object(
                        element.get("text"), f"{where}.elements[{i}].text", plain_only=True, limit=75
                    )
                    if "url" in element and (not isinstance(element["url"], str) or len(element["url"]) > 3000):
                        problems.append(f"{where}.elements[{i}].url: at most 3000 characters")
    return problems


class TeamsReceiver(_Server):
    path = "/webhookb2/qms"

    def handle(self, path, headers, raw):
        if self._failing():
            return 503, b"try later"
        try:
            message = json.loads(raw)
        except ValueError:
            return 400, {"error": "not JSON"}
        problems = validate_teams_message(message)
        if problems:
            self.rejected.extend(problems)
            return 400, {"error": problems}
        self.received.append(message)
        return 202, {}


def validate_teams_message(message: dict) -> list[str]:
    if (
        message.get("type") != "message"
        or not isinstance(message.get("attachments"), list)
        or not message["attachments"]
    ):
        return ['{"type": "message", "attachments": [...]} expected']
    problems = []
    for n, attachment in enumerate(message["attachments"]):
        if attachment.get("contentType") != "application/vnd.microsoft.card.adaptive":
            problems.append(f"attachments[{n}].contentType")
            continue
        card = attachment.get("content") or {}
        if card.get("type") != "AdaptiveCard" or not isinstance(card.get("version"), str):
            problems.append(f"attachments[{n}].content: type AdaptiveCard and a version are required")
        for i, element in enumerate(card.get("body", [])):
            if element.get("type") not in CARD_ELEMENTS:
                problems.append(f"body[{i}].type {element.get('type')!r}")
            if element.get("type") == "TextBlock" and not isinstance(element.get("text"), str):
                problems.append(f"body[{i}].text is required")
            if element.get("type") == "FactSet":
                for fact in element.get("facts", []):
                    if not isinstance(fact.get("title"), str) or not isinstance(fact.get("value"), str):
                        problems.append(f"body[{i}].facts: title and value strings")
        for i, action in enumerate(card.get("actions", [])):
            if action.get("type") == "Action.OpenUrl" and not action.get("url"):
                problems.append(f"actions[{i}].url is required")
    return problems


class WebhookReceiver(_Server):
    path = "/hooks/qms"

    def __init__(self, secret: str):
        super().__init__()
        self.secret = secret
        self.deliveries: set[str] = set()

    def handle(self, path, headers, raw):
        if self._failing():
            return 502, b"bad gateway"
        timestamp = headers.get("x-qms-timestamp", "")
        expected = (
            "sha256=" + hmac.new(self.secret.encode(), timestamp.encode() + b"." + raw, hashlib.sha256).hexdigest()
        )
        if not hmac.compare_digest(expected, headers.get("x-qms-signature", "")):
            self.rejected.append("bad signature")
            return 401, {"error": "bad signature"}
        delivery = headers.get("x-qms-delivery", "")
        if delivery in self.deliveries:
            return 200, {"duplicate": True}
        self.deliveries.add(delivery)
        self.received.append(json.loads(raw))
        return 200, {}
