"""The provider's endpoints from its discovery document, against the real test provider (``tests/qms/sso/oidc``)."""

from __future__ import annotations

import pytest
import requests
from django.urls import reverse

from qms.roles import Role
from qms.sso import discovery
from qms.sso.discovery import DiscoveryFailed, endpoint
from qms.sso.models import ReauthProof
from tests.emergencies.services.test_bypasses import request_bypass
from tests.factories import PASSWORD, UserFactory
from tests.qms.sso.test_sso import idp, reauth, sso, sso_sign_in  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db

ENDPOINTS = list(discovery.FIELDS)


@pytest.fixture
def discovered(sso, settings, monkeypatch):  # noqa: F811
    """Only the issuer is configured; the document reads are counted."""
    for name in ENDPOINTS:
        setattr(settings, name, "")
    discovery.discovery_forget()
    reads = []
    real_get = requests.get

    def counting_get(url, *args, **kwargs):
        if url.endswith("/.well-known/openid-configuration"):
            reads.append(url)
        return real_get(url, *args, **kwargs)

    monkeypatch.setattr(discovery.requests, "get", counting_get)
    yield reads
    discovery.discovery_forget()


def test_unset_endpoints_come_from_the_discovery_document_read_once(client, discovered, sso, make_user):  # noqa: F811
    assert endpoint("OIDC_OP_TOKEN_ENDPOINT") == f"{sso.issuer}/token"
    assert endpoint("OIDC_OP_JWKS_ENDPOINT") == f"{sso.issuer}/jwks"
    assert endpoint("OIDC_OP_LOGOUT_ENDPOINT") == f"{sso.issuer}/session/end"
    user = sso_sign_in(client, "alice", "alice-pw")  # authorisation, token, JWKS and userinfo endpoints
    assert user.username == "alice"
    bypass = request_bypass(make_user(Role.ONCALL))
    back = reauth(client, bypass.get_absolute_url(), "alice", "alice-pw")
    assert back["Location"] == bypass.get_absolute_url() and ReauthProof.objects.filter(user=user).exists()
    assert discovered == [f"{sso.issuer}/.well-known/openid-configuration"]


def test_a_configured_endpoint_wins_over_the_document(discovered, sso, settings):  # noqa: F811
    settings.OIDC_OP_TOKEN_ENDPOINT = "https://idp.example/token"
    assert endpoint("OIDC_OP_TOKEN_ENDPOINT") == "https://idp.example/token"
    assert discovered == []


def test_a_document_of_another_issuer_is_refused(discovered, sso, settings):  # noqa: F811
    settings.OIDC_OP_ISSUER = f"{sso.issuer}/other"
    with pytest.raises(DiscoveryFailed):
        endpoint("OIDC_OP_TOKEN_ENDPOINT")


def test_an_unreachable_provider_is_a_clear_error_and_signs_nobody_in(client, discovered, settings):
    settings.OIDC_OP_ISSUER = "http://127.0.0.1:9179"
    response = client.get(reverse("sso-login"))
    assert response.status_code == 302 and response["Location"] == reverse("login")
    messages = [str(m) for m in response.wsgi_request._messages]
    assert any("could not be reached" in m for m in messages) and "_auth_user_id" not in client.session
    # a local password sign-in does not depend on the provider
    local = UserFactory(username="local-user")
    assert client.post(reverse("login"), {"username": local.username, "password": PASSWORD}).status_code == 302
    assert client.session["_auth_user_id"] == str(local.pk)
