"""Scoped API tokens (issue 15): created, named, scoped and revoked in the preferences; they expire; each
use is attributable in the audit trail; request.auth is the token, which knows if it passed a second factor."""

import contextvars
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from audits.models import AuditEvent
from emergencies.models import BypassRequest, ChangeRecord
from qms.api.authentication import PerTokenRateThrottle, ScopedTokenAuthentication
from qms.models import ApiToken
from qms.roles import Role
from tests.factories import PASSWORD, api_token, file_stub

pytestmark = pytest.mark.django_db

STUB = {"title": "Checkout down", "category": "p1_incident", "problem_statement": "All orders fail."}


@pytest.fixture
def filer(make_user):
    return make_user(Role.ONCALL, Role.SECURITY, username="filer")


def _api(secret):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    return client


def _create_on_the_page(client, **data):
    data = {"name": "CI deploy", "scopes": ["read", "file_stubs"], "expires_in_days": "30", **data}
    return client.post(reverse("qms:api-token-create"), data)


def test_a_user_creates_a_token_in_preferences_and_sees_its_secret_once(client, filer):
    client.force_login(filer)
    response = _create_on_the_page(client)
    assert response.status_code == 200
    secret = response.context["new_token"]["secret"]
    assert secret.startswith("qms_") and secret in response.content.decode()
    token = ApiToken.objects.get(user=filer)
    assert token.name == "CI deploy" and token.scopes == ["read", "file_stubs"]
    assert secret not in token.secret_hash and token.secret_hash != secret
    assert token.second_factor_verified is False
    assert timedelta(days=29) < token.expires_at - timezone.now() <= timedelta(days=30)
    page = client.get(reverse("qms:preferences")).content.decode()
    assert "CI deploy" in page and secret not in page
    event = AuditEvent.objects.get(action="api_token.created")
    assert event.actor == filer and event.after["api_token"] == {"id": token.pk, "name": "CI deploy"}


def test_bad_token_form_is_a_field_error_and_creates_nothing(client, filer):
    client.force_login(filer)
    response = _create_on_the_page(client, name="", scopes=["root"], expires_in_days="400")
    assert response.status_code == 400
    assert {"name", "scopes", "expires_in_days"} <= set(response.context["token_form"].errors)
    assert not ApiToken.objects.exists()


def test_a_token_created_from_a_second_factor_session_says_so(client, filer):
    device = TOTPDevice.objects.create(user=filer, name="app", confirmed=True)
    client.force_login(filer)
    session = client.session
    session["otp_device_id"] = device.persistent_id
    session.save()
    _create_on_the_page(client)
    assert ApiToken.objects.get(user=filer).second_factor_verified is True


def test_request_auth_is_the_token_instance(filer):
    contextvars.copy_context().run(_request_auth_is_the_token_instance, filer)


def _request_auth_is_the_token_instance(filer):  # in its own context: authenticating names the token there
    token, secret = api_token(filer, second_factor_verified=True)
    request = RequestFactory().get("/api/v1/emergencies/", HTTP_AUTHORIZATION=f"Token {secret}")
    user, auth = ScopedTokenAuthentication().authenticate(request)
    assert user == filer and auth == token and getattr(auth, "second_factor_verified", False) is True
    bearer = RequestFactory().get("/", HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert ScopedTokenAuthentication().authenticate(bearer)[1] == token


def test_scopes_limit_what_a_token_may_do(filer):
    file_stub(filer)
    _, read_only = api_token(filer, scopes=["read"])
    _, stubs_only = api_token(filer, scopes=["file_stubs"])
    assert _api(read_only).get("/api/v1/emergencies/").status_code == 200
    refused = _api(read_only).post("/api/v1/emergencies/", STUB, format="json")
    assert refused.status_code == 403 and "file_stubs" in refused.json()["detail"]
    assert _api(stubs_only).get("/api/v1/emergencies/").status_code == 403
    assert _api(stubs_only).post("/api/v1/emergencies/", STUB, format="json").status_code == 201
    assert ChangeRecord.objects.count() == 2


def test_signing_needs_the_sign_scope(filer, make_user):
    commander = make_user(Role.COMMANDER, username="ic")
    change = file_stub(filer, commander=commander)
    bypass = BypassRequest.objects.get(change=change)
    _, no_sign = api_token(commander, scopes=["read", "integrations"])
    url = f"/api/v1/bypasses/{bypass.identifier}/sign/"
    body = {"password": PASSWORD, "role": "commander"}
    response = _api(no_sign).post(url, body, format="json")
    assert response.status_code == 403 and "sign" in response.json()["detail"]
    _, signer = api_token(commander, scopes=["sign"])
    assert _api(signer).post(url, body, format="json").status_code == 200


def test_expired_and_revoked_tokens_are_refused(filer):
    token, secret = api_token(filer)
    assert _api(secret).get("/api/v1/emergencies/").status_code == 200
    token.expires_at = timezone.now() - timedelta(seconds=1)
    token.save()
    response = _api(secret).get("/api/v1/emergencies/")
    assert response.status_code == 401 and "expired" in response.json()["detail"]
    other, other_secret = api_token(filer, name="bot")
    client = APIClient()
    client.force_login(filer)
    assert client.post(reverse("qms:api-token-revoke", args=[other.pk])).status_code == 302
    response = _api(other_secret).get("/api/v1/emergencies/")
    assert response.status_code == 401 and "revoked" in response.json()["detail"]
    assert AuditEvent.objects.filter(action="api_token.revoked", actor=filer).count() == 1
    assert _api(other_secret[:-2] + "xx").get("/api/v1/emergencies/").status_code == 401


def test_nobody_revokes_someone_elses_token(client, filer, make_user):
    token, secret = api_token(filer)
    client.force_login(make_user(Role.SECURITY, username="other"))
    assert client.post(reverse("qms:api-token-revoke", args=[token.pk])).status_code == 403
    assert _api(secret).get("/api/v1/emergencies/").status_code == 200


def test_each_use_is_attributable_in_the_audit_trail(filer):
    token, secret = api_token(filer, name="runbook bot")
    response = _api(secret).post("/api/v1/emergencies/", STUB, format="json")
    assert response.status_code == 201
    events = AuditEvent.objects.filter(subject_label=response.json()["id"])
    assert events.exists()
    assert all(e.after.get("api_token") == {"id": token.pk, "name": "runbook bot"} for e in events)
    token.refresh_from_db()
    assert token.last_used_at is not None
    # a session request right after names no token
    client = APIClient()
    client.force_login(filer)
    session_id = client.post("/api/v1/emergencies/", STUB, format="json").json()["id"]
    assert not AuditEvent.objects.filter(subject_label=session_id, after__has_key="api_token").exists()


def test_the_password_exchange_issues_a_scoped_token_without_second_factor(filer):
    response = APIClient().post(
        "/api/v1/auth/token/", {"username": "filer", "password": PASSWORD, "scopes": ["read"]}, format="json"
    )
    assert response.status_code == 200
    body = response.json()
    token = ApiToken.objects.get(pk=body["id"])
    assert token.scopes == ["read"] and token.second_factor_verified is False
    assert token.created_via == "password"
    assert _api(body["token"]).get("/api/v1/emergencies/").status_code == 200


def test_rate_limit_is_per_token(filer, monkeypatch):
    cache.clear()
    monkeypatch.setattr(PerTokenRateThrottle, "THROTTLE_RATES", {"token": "2/minute"})
    _, first = api_token(filer, name="one")
    _, second = api_token(filer, name="two")
    assert [_api(first).get("/api/v1/emergencies/").status_code for _ in range(3)] == [200, 200, 429]
    throttled = _api(first).get("/api/v1/emergencies/")
    assert throttled["Content-Type"] == "application/problem+json" and "Retry-After" in throttled
    assert _api(second).get("/api/v1/emergencies/").status_code == 200
    cache.clear()
