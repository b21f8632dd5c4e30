"""A real OpenID Connect provider for the tests: npm ``oidc-provider`` (OpenID Certified) run by Node with
``provider.mjs``, on a free local port, with test users and a groups claim.

The package is installed by ``.ci/run`` into ``var/npm-sso`` (``QMS_OIDC_NPM_DIR`` names another
``node_modules`` folder). ``sign_in_at_provider`` plays the person at the provider's sign-in page over HTTP
(the browser test uses Chromium instead).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import urljoin

import pytest
import requests

from qms.roles import Role

ROOT = Path(__file__).resolve().parents[4]
NPM_DIR = Path(os.environ.get("QMS_OIDC_NPM_DIR", ROOT / "var" / "npm-sso" / "node_modules"))
ENTRY = NPM_DIR / "oidc-provider" / "lib" / "index.js"
SCRIPT = Path(__file__).with_name("provider.mjs")
INSTALL = "npm install --prefix var/npm-sso oidc-provider@9.13.3 (see .ci/run)"
CLIENT_ID, CLIENT_SECRET = "qms-portal", "qms-portal-test-secret"
ROLE_MAP = {"qms-leads": Role.LEAD, "qms-oncall": Role.ONCALL, "qms-security": Role.SECURITY}

USERS = [
    {"sub": "sub-alice", "username": "alice", "password": "alice-pw", "email": "alice@example.com",
     "name": "Alice Lead", "groups": ["qms-leads", "staff"]},
    {"sub": "sub-bob", "username": "bob", "password": "bob-pw", "email": "bob@example.com",
     "name": "Bob Oncall", "groups": ["qms-oncall"]},
    # A provider answering with an authentication 15 minutes old, whatever max_age asked.
    {"sub": "sub-stale", "username": "stale", "password": "stale-pw", "email": "stale@example.com",
     "name": "Sam Stale", "groups": ["qms-leads"], "auth_time_offset": 900},
    # Users with a second factor at the provider: the ID token's amr names it, or its acr is a strong level.
    {"sub": "sub-mara", "username": "mara", "password": "mara-pw", "email": "mara@example.com",
     "name": "Mara Multi", "groups": ["qms-leads"], "amr": ["pwd", "otp"]},
    {"sub": "sub-ada", "username": "ada", "password": "ada-pw", "email": "ada@example.com",
     "name": "Ada Acr", "groups": ["qms-leads"], "amr": ["pwd"], "acr": "urn:example:loa:mfa"},
]  # fmt: skip


class Provider:
    def __init__(self, redirect_bases: list[str]):
        node = shutil.which("node")
        if node is None:
            pytest.fail("Node.js is required for the single sign-on tests (apt-get install nodejs npm)")
        if not ENTRY.exists():
            pytest.fail(f"{ENTRY} is missing: {INSTALL}")
        self.folder = Path(tempfile.mkdtemp(prefix="qms-oidc-"))
        self.config = self.folder / "config.json"
        uris = [f"{b.rstrip('/')}{p}" for b in redirect_bases for p in
                ("/accounts/login/sso/callback/", "/accounts/sso/reauth/callback/")]  # fmt: skip
        self._bases = redirect_bases
        self.users = json.loads(json.dumps(USERS))
        self._write(uris)
        self.process = subprocess.Popen(
            [node, str(SCRIPT), str(self.config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "OIDC_PROVIDER_ENTRY": str(ENTRY), "NODE_ENV": "test"},
            text=True,
        )
        line = self.process.stdout.readline()
        match = re.match(r"listening (\S+)", line)
        if not match:
            self.stop()
            pytest.fail(f"the OpenID provider did not start: {line!r}")
        self.issuer = match.group(1)

    def _write(self, uris: list[str] | None = None) -> None:
        if uris is not None:
            logout = [f"{b.rstrip('/')}/accounts/login/" for b in self._bases]
            self._clients = [
                {
                    "client_id": CLIENT_ID,
                    "client_secret": CLIENT_SECRET,
                    "redirect_uris": uris,
                    "post_logout_redirect_uris": logout,
                }
            ]
        self.config.write_text(json.dumps({"clients": self._clients, "users": self.users}))

    def set_groups(self, username: str, groups: list[str]) -> None:
        next(u for u in self.users if u["username"] == username)["groups"] = groups
        self._write()

    def settings(self) -> dict:
        return {
            "OIDC_ENABLED": True,
            "OIDC_PROVIDER_NAME": "Test IdP",
            "OIDC_OP_ISSUER": self.issuer,
            "OIDC_OP_AUTHORIZATION_ENDPOINT": f"{self.issuer}/auth",
            "OIDC_OP_TOKEN_ENDPOINT": f"{self.issuer}/token",
            "OIDC_OP_USER_ENDPOINT": f"{self.issuer}/me",
            "OIDC_OP_JWKS_ENDPOINT": f"{self.issuer}/jwks",
            "OIDC_RP_CLIENT_ID": CLIENT_ID,
            "OIDC_RP_CLIENT_SECRET": CLIENT_SECRET,
            "QMS_OIDC_ROLE_MAP": ROLE_MAP,
            "AUTHENTICATION_BACKENDS": [
                "axes.backends.AxesStandaloneBackend",
                "django.contrib.auth.backends.ModelBackend",
                "qms.sso.backend.PortalOIDCBackend",
            ],
        }

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        shutil.rmtree(self.folder, ignore_errors=True)


def sign_in_at_provider(authorize_url: str, username: str, password: str, *, cancel: bool = False, session=None) -> str:
    """Follow the provider from its authorisation URL through its sign-in page; return the URL it sends
    the browser back to (the portal's callback, with a code or an error). ``session`` (a requests
    Session) keeps the provider's cookies, as a browser would, across calls."""
    issuer = re.match(r"https?://[^/]+", authorize_url).group(0)
    session, url = session or requests.Session(), authorize_url
    for _ in range(12):
        response = session.get(url, allow_redirects=False, timeout=10)
        if response.is_redirect:
            url = urljoin(url, response.headers["Location"])
            if not url.startswith(issuer):
                return url
            continue
        match = re.search(r'action="(/interaction/[\w-]+)/login"', response.text)
        assert match, f"unexpected page at the provider: {response.status_code} {response.text[:300]}"
        if cancel:
            response = session.post(urljoin(url, match.group(1) + "/abort"), allow_redirects=False, timeout=10)
        else:
            data = {"username": username, "password": password}
            response = session.post(
                urljoin(url, match.group(1) + "/login"), data=data, allow_redirects=False, timeout=10
            )
        assert response.is_redirect, response.text[:300]
        url = urljoin(url, response.headers["Location"])
    raise AssertionError("the provider never sent the browser back")


def end_session_at_provider(end_session_url: str, session) -> str:
    """Confirm the provider's sign-out page reached by RP-initiated logout; return where it sends the
    browser back to."""
    response = session.get(end_session_url, allow_redirects=False, timeout=10)
    assert response.status_code == 200, response.text[:300]
    action = re.search(r'action="([^"]+)"', response.text).group(1)
    fields = dict(re.findall(r'name="(\w+)" value="([^"]*)"', response.text))
    fields["logout"] = "yes"
    answer = session.post(urljoin(end_session_url, action), data=fields, allow_redirects=False, timeout=10)
    assert answer.is_redirect, answer.text[:300]
    back = urljoin(end_session_url, answer.headers["Location"])
    issuer = re.match(r"https?://[^/]+", end_session_url).group(0)
    while back.startswith(issuer):  # the provider's own success steps
        answer = session.get(back, allow_redirects=False, timeout=10)
        assert answer.is_redirect, answer.text[:300]
        back = urljoin(back, answer.headers["Location"])
    return back


def provider_session_active(issuer: str, session) -> bool:
    """Whether the provider still has a signed-in session in ``session`` (an authorisation without
    prompt=login goes straight back to the client)."""
    params = {"response_type": "code", "scope": "openid", "client_id": CLIENT_ID,
              "redirect_uri": "http://testserver/accounts/login/sso/callback/", "state": "probe"}  # fmt: skip
    url = f"{issuer}/auth"
    response = session.get(url, params=params, allow_redirects=False, timeout=10)
    for _ in range(6):
        if not response.is_redirect:
            return False
        location = urljoin(url, response.headers["Location"])
        if not location.startswith(issuer):
            return "code=" in location
        if "/interaction/" in location:
            return False
        url = location
        response = session.get(url, allow_redirects=False, timeout=10)
    return False
