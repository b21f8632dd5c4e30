"""GitHub as its own published descriptions say it is, for the tests.

- ``GitHubAPIServer``: a local HTTP server on a free port that answers every route of GitHub's REST API
  description (npm ``@octokit/openapi``, ``generated/api.github.com.json``). Each request is validated against
  the description with openapi-core (path, method, parameters, body); the answer is the operation's own
  documented example, adjusted to the request (the state and SHA of a status, the title of an issue), and is
  validated against the documented response schema too. A call the description does not allow is recorded
  as an error and answered 404/422, and the ``github_api`` fixture fails the test on any error.
- Webhooks: the example payloads of npm ``@octokit/webhooks-examples``, signed with the configured secret;
  a payload the tests derive from an example (a merged pull request, a revert) is first validated against
  the webhook's schema in the same REST description (``x-webhooks``).

The packages are installed by ``.ci/run`` into ``var/npm`` (``QMS_NPM_DIR`` names another folder).
"""

from __future__ import annotations

import copy
import functools
import hashlib
import hmac
import itertools
import json
import os
import re
import socket
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

NPM_DIR = Path(os.environ.get("QMS_NPM_DIR", Path(__file__).resolve().parents[2] / "var" / "npm" / "node_modules"))
OPENAPI = NPM_DIR / "@octokit" / "openapi" / "generated" / "api.github.com.json"
EXAMPLES = NPM_DIR / "@octokit" / "webhooks-examples" / "api.github.com" / "index.json"
INSTALL = "npm install --prefix var/npm @octokit/openapi@23.0.2 @octokit/webhooks-examples@7.6.1 (see .ci/run)"


def _require(path: Path) -> Path:
    if not path.exists():
        pytest.fail(f"{path} is missing: {INSTALL}")
    return path


@functools.cache
def description() -> dict:
    return json.loads(_require(OPENAPI).read_text())


@functools.cache
def _examples() -> dict[str, list[dict]]:
    return {e["name"]: e["examples"] for e in json.loads(_require(EXAMPLES).read_text())}


def webhook_examples(event: str, action: str | None = None) -> list[dict]:
    return [copy.deepcopy(x) for x in _examples()[event] if action is None or x.get("action") == action]


def webhook_example(event: str, action: str | None = None, *, index: int = 0) -> dict:
    return webhook_examples(event, action)[index]


def _webhook_errors(name: str, payload: dict) -> set[tuple[str, str]]:
    from openapi_schema_validator import OAS30Validator

    spec = description()
    schema = spec["x-webhooks"][name]["post"]["requestBody"]["content"]["application/json"]["schema"]
    validator = OAS30Validator({**schema, "components": spec["components"]})
    return {("/".join(map(str, e.absolute_path)), e.message[:200]) for e in validator.iter_errors(payload)}


def validate_webhook(name: str, payload: dict, *, example: dict) -> None:
    """A payload derived from an example must be one GitHub could send: checked against ``x-webhooks[name]``,
    it has no error its example does not already have (some examples predate fields the schema now requires)."""
    new = _webhook_errors(name, payload) - _webhook_errors(name, example)
    assert not new, f"not a valid {name} payload: {sorted(new)[:5]}"


def sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def deliver(client, event: str, payload: dict, *, secret: str | None, delivery_id: str | None = None, **headers):
    """POST a delivery the way GitHub does (``secret=None``: unsigned)."""
    body = json.dumps(payload).encode()
    extra = {
        "HTTP_X_GITHUB_EVENT": event,
        "HTTP_X_GITHUB_DELIVERY": delivery_id or str(uuid.uuid4()),
        "HTTP_X_GITHUB_HOOK_ID": "1",
        "HTTP_USER_AGENT": "GitHub-Hookshot/test",
    }
    if secret is not None:
        extra["HTTP_X_HUB_SIGNATURE_256"] = sign(body, secret)
    extra.update(headers)
    return client.post("/integrations/github/webhook", data=body, content_type="application/json", **extra)


# --- the REST API ---------------------------------------------------------------------------------------------


def _resolve(spec: dict, node):
    while isinstance(node, dict) and "$ref" in node:
        target = spec
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = target
    return node


@functools.cache
def _routes() -> list[tuple[re.Pattern, str, str]]:
    routes = []
    for template, item in description()["paths"].items():
        regex = re.sub(r"\{[^}]+\}", "[^/]+", template)
        for method in item:
            if method in ("get", "post", "put", "patch", "delete"):
                routes.append((re.compile(f"^{regex}$"), method.upper(), template))
    # Literal segments win over parameters (/repos/{o}/{r}/issues/comments before .../issues/{number}).
    routes.sort(key=lambda r: r[2].count("{"))
    return routes


@functools.cache
def _openapi(base_url: str):
    from openapi_core import Config, OpenAPI

    spec = {**description(), "servers": [{"url": base_url}]}
    return OpenAPI.from_dict(spec, config=Config(spec_validator_cls=None))


class GitHubAPIServer:
    def __init__(self):
        self.requests: list[dict] = []
        self.issues: list[dict] = []  # the issues GitHub created (what a listing returns)
        self.errors: list[str] = []
        self.down = False  # answer 503, as GitHub does during an outage
        self.rate_limited = False  # answer 403 with x-ratelimit-remaining: 0
        self._numbers = itertools.count(1347)
        self._lock = threading.Lock()
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._api = _openapi(self.url)
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()

    def calls(self, operation_id: str) -> list[dict]:
        return [r for r in self.requests if r["operation"] == operation_id]

    # --- one request --------------------------------------------------------------------------------------

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, headers, payload = server.answer(self.command, self.path, dict(self.headers), body)
                data = json.dumps(payload).encode() if payload is not None else b""
                self.send_response(status)
                for name, value in {"Content-Type": "application/json; charset=utf-8", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        return Handler

    def _werkzeug_request(self, method, target, headers, body):
        from werkzeug.test import EnvironBuilder
        from werkzeug.wrappers import Request

        path, _, query = target.partition("?")
        builder = EnvironBuilder(
            method=method, base_url=self.url, path=path, query_string=query, headers=headers, data=body
        )
        return Request(builder.get_environ())

    def answer(self, method: str, target: str, headers: dict, body: bytes):
        from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse
        from werkzeug.wrappers import Response

        path = target.partition("?")[0]
        route = next(((m, t) for rx, m, t in _routes() if m == method and rx.match(path)), None)
        if route is None:
            self.errors.append(f"{method} {path}: not in GitHub's REST description")
            return 404, {}, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}
        spec = description()
        operation = spec["paths"][route[1]][method.lower()]
        request = self._werkzeug_request(method, target, headers, body)
        result = self._api.unmarshal_request(WerkzeugOpenAPIRequest(request))
        if result.errors:
            self.errors.append(f"{operation['operationId']}: request refused by the description: {result.errors}")
            return 422, {}, {"message": "Validation Failed", "documentation_url": "https://docs.github.com/rest"}
        sent = json.loads(body) if body else None
        with self._lock:
            self.requests.append(
                {
                    "operation": operation["operationId"],
                    "method": method,
                    "path": path,
                    "body": sent,
                    "headers": headers,
                }
            )
        if self.down:
            return 503, {}, {"message": "Service Unavailable"}
        if self.rate_limited:
            return 403, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1"}, {"message": "API rate limit exceeded"}
        status, payload = self._example(operation, sent or {})
        response = Response(json.dumps(payload), status=status, mimetype="application/json")
        checked = self._api.unmarshal_response(WerkzeugOpenAPIRequest(request), WerkzeugOpenAPIResponse(response))
        if checked.errors:
            self.errors.append(f"{operation['operationId']}: example answer not valid: {checked.errors}")
        return status, {}, payload

    def _example(self, operation: dict, sent: dict):
        spec = description()
        status = next(code for code in operation["responses"] if code.startswith("2"))
        content = _resolve(spec, operation["responses"][status]).get("content", {}).get("application/json")
        if content is None:
            return int(status), None
        example = copy.deepcopy(_resolve(spec, next(iter(content["examples"].values())))["value"])
        op = operation["operationId"]
        if op == "repos/create-commit-status":
            example.update({k: sent[k] for k in ("state", "description", "target_url", "context") if k in sent})
        elif op == "issues/create":
            number = next(self._numbers)
            example.update({"title": sent["title"], "body": sent.get("body"), "number": number})
            example["html_url"] = f"https://github.com/octocat/Hello-World/issues/{number}"
            self.issues.append(example)
        elif op == "issues/list-for-repo":
            example = copy.deepcopy(self.issues)
        return int(status), example
