"""The provider's endpoints: from the settings, or else from its discovery document
(``<OIDC_OP_ISSUER>/.well-known/openid-configuration``), read at first use and kept for the process."""

from __future__ import annotations

import threading

import requests
from django.conf import settings

# setting -> the discovery document's field (OpenID Connect Discovery 1.0, RP-Initiated Logout 1.0)
FIELDS = {
    "OIDC_OP_AUTHORIZATION_ENDPOINT": "authorization_endpoint",
    "OIDC_OP_TOKEN_ENDPOINT": "token_endpoint",
    "OIDC_OP_USER_ENDPOINT": "userinfo_endpoint",
    "OIDC_OP_JWKS_ENDPOINT": "jwks_uri",
    "OIDC_OP_LOGOUT_ENDPOINT": "end_session_endpoint",
}
_documents: dict[str, dict] = {}
_lock = threading.Lock()


class DiscoveryFailed(Exception):
    """The provider's discovery document could not be read, or is not the configured issuer's."""


def discovery_document(issuer: str) -> dict:
    with _lock:
        if issuer in _documents:
            return _documents[issuer]
    url = f"{issuer}/.well-known/openid-configuration"
    try:
        response = requests.get(url, timeout=settings.OIDC_TIMEOUT, headers={"Accept": "application/json"})
        response.raise_for_status()
        document = response.json()
    except (requests.RequestException, ValueError) as exc:
        raise DiscoveryFailed(f"The identity provider's discovery document ({url}) could not be read.") from exc
    if not isinstance(document, dict) or str(document.get("issuer", "")).rstrip("/") != issuer:
        raise DiscoveryFailed(f"The discovery document at {url} is not the issuer {issuer}'s.")
    with _lock:
        _documents[issuer] = document
    return document


def endpoint(setting: str) -> str:
    """The configured endpoint, else the one the provider's discovery document names ("" for none)."""
    configured = getattr(settings, setting, "")
    if configured:
        return configured
    issuer = getattr(settings, "OIDC_OP_ISSUER", "")
    if not issuer:
        return ""
    value = discovery_document(issuer).get(FIELDS[setting])
    return value if isinstance(value, str) and value.startswith(("https://", "http://")) else ""


def discovery_forget() -> None:
    """Read the documents again at their next use (a provider that changed its endpoints; the tests)."""
    with _lock:
        _documents.clear()
