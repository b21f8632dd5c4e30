"""Signing out of the portal also ends the session at the identity provider (RP-initiated logout), against
the real test provider (``tests/qms/sso/oidc``)."""

from __future__ import annotations

import pytest
import requests
from django.urls import reverse

from qms.roles import Role
from qms.sso import discovery
from tests.qms.sso.oidc.idp import end_session_at_provider, provider_session_active, sign_in_at_provider
from tests.qms.sso.test_sso import _local, idp, sso  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("configured", [True, False])
def test_sign_out_ends_the_providers_session_too(client, sso, settings, configured):  # noqa: F811
    if configured:
        settings.OIDC_OP_LOGOUT_ENDPOINT = f"{sso.issuer}/session/end"
    else:
        settings.OIDC_OP_LOGOUT_ENDPOINT = ""
        discovery.discovery_forget()
    browser = requests.Session()  # the browser's cookies at the provider
    start = client.get(reverse("sso-login"))
    back = client.get(_local(sign_in_at_provider(start["Location"], "alice", "alice-pw", session=browser)))
    assert back.status_code == 302 and "_auth_user_id" in client.session
    assert provider_session_active(sso.issuer, browser)

    response = client.post(reverse("logout"))
    assert "_auth_user_id" not in client.session
    location = response["Location"]
    assert location.startswith(f"{sso.issuer}/session/end?") and "id_token_hint=" in location
    assert end_session_at_provider(location, browser) == "http://testserver/accounts/login/"
    assert not provider_session_active(sso.issuer, browser)


def test_a_local_users_sign_out_stays_in_the_portal(client, sso, make_user):  # noqa: F811
    client.force_login(make_user(Role.LEAD))
    response = client.post(reverse("logout"))
    assert response.status_code == 302 and response["Location"] == reverse("login")
    assert "_auth_user_id" not in client.session
