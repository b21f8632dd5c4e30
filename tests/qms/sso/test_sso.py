"""Single sign-on against a real OpenID Connect provider (npm oidc-provider, ``tests/qms/sso/oidc``): users and
roles at sign-in, and re-authentication at the provider as the proof of an electronic signature."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from django.urls import reverse

from audits.models import AuditEvent
from qms.models import Signature, SignerState, User
from qms.roles import Role
from qms.services import SigningAuth, signature_record, signer_authenticate
from qms.services.signatures import SSO_PROOF_PREFIX, SigningLocked
from qms.sso.models import ReauthProof, SSOIdentity
from qms.sso.reauth import PROOF_KEY
from tests.emergencies.services.test_bypasses import request_bypass
from tests.factories import PASSWORD, UserFactory, api_token, certify
from tests.qms.sso.oidc.idp import Provider, sign_in_at_provider

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def idp():
    provider = Provider(["http://testserver"])
    yield provider
    provider.stop()


@pytest.fixture
def sso(idp, settings):
    for key, value in idp.settings().items():
        setattr(settings, key, value)
    idp.set_groups("alice", ["qms-leads", "staff"])
    return idp


def _local(url: str) -> str:
    parts = urlsplit(url)
    assert parts.netloc == "testserver", url
    return f"{parts.path}?{parts.query}"


def sso_sign_in(client, username: str, password: str) -> User:
    start = client.get(reverse("sso-login"))
    assert start.status_code == 302, start
    back = client.get(_local(sign_in_at_provider(start["Location"], username, password)))
    assert back.status_code == 302 and back["Location"] == reverse("qms:dashboard"), back
    return User.objects.get(pk=client.session["_auth_user_id"])


def reauth(client, page: str, username: str, password: str, *, cancel: bool = False):
    start = client.get(reverse("sso-reauth"), {"next": page})
    assert start.status_code == 302, start
    location = start["Location"]
    assert "prompt=login" in location and "max_age=0" in location
    return client.get(_local(sign_in_at_provider(location, username, password, cancel=cancel)))


def _failures(user) -> int:
    state = SignerState.objects.filter(user=user).first()
    return state.consecutive_failures if state else 0


# --- sign-in ----------------------------------------------------------------------------------------------


def test_sign_in_is_off_by_default(client):
    assert client.get(reverse("sso-login")).status_code == 404
    assert b"Sign in with" not in client.get(reverse("login")).content


def test_first_sign_in_creates_the_user_with_mapped_roles_and_the_next_updates_them(client, sso):
    assert b"Sign in with Test IdP" in client.get(reverse("login")).content
    user = sso_sign_in(client, "alice", "alice-pw")
    assert user.username == "alice" and user.get_full_name() == "Alice Lead" and user.email == "alice@example.com"
    assert user.roles == {Role.LEAD}  # "staff" maps to no role
    assert not user.has_usable_password()
    assert SSOIdentity.objects.get(user=user).subject == "sub-alice"
    created = AuditEvent.objects.get(action="auth.sso_user_created")
    assert created.after["subject"] == "sub-alice"
    change = AuditEvent.objects.get(action="auth.sso_roles_changed")
    assert change.before == {"roles": []} and change.after["roles"] == ["lead"]

    client.logout()
    sso.set_groups("alice", ["qms-oncall", "qms-security"])
    again = sso_sign_in(client, "alice", "alice-pw")
    assert again.pk == user.pk and User.objects.filter(username__startswith="alice").count() == 1
    assert User.objects.get(pk=user.pk).roles == {Role.ONCALL, Role.SECURITY}
    last = AuditEvent.objects.filter(action="auth.sso_roles_changed").order_by("pk").last()
    assert last.before == {"roles": ["lead"]} and last.after["roles"] == ["oncall", "security"]

    client.logout()
    sso.set_groups("alice", [])  # roles withdrawn at the provider are withdrawn here
    assert sso_sign_in(client, "alice", "alice-pw").roles == frozenset()
    client.logout()
    sso_sign_in(client, "alice", "alice-pw")  # nothing changed: no new event
    assert AuditEvent.objects.filter(action="auth.sso_roles_changed").count() == 3


def test_a_local_account_is_not_taken_over_by_the_providers_username(client, sso):
    local = UserFactory(username="alice", roles=["security"])
    user = sso_sign_in(client, "alice", "alice-pw")
    assert user.pk != local.pk and user.username.startswith("alice-")
    assert User.objects.get(pk=local.pk).roles == {Role.SECURITY}


def test_a_deactivated_user_cannot_sign_in_through_the_provider(client, sso):
    user = sso_sign_in(client, "alice", "alice-pw")
    client.logout()
    User.objects.filter(pk=user.pk).update(is_active=False)
    start = client.get(reverse("sso-login"))
    back = client.get(_local(sign_in_at_provider(start["Location"], "alice", "alice-pw")))
    assert back["Location"] == reverse("login") and "_auth_user_id" not in client.session


def test_a_forged_callback_signs_nobody_in(client, sso):
    response = client.get(reverse("sso-login-callback"), {"code": "x", "state": "forged"})
    assert response.status_code == 302 and "_auth_user_id" not in client.session


# --- re-authentication at signing --------------------------------------------------------------------------


@pytest.fixture
def lead_bypass(client, sso, make_user):
    lead = sso_sign_in(client, "alice", "alice-pw")
    certify(lead)  # the signer's training records, kept in the portal whatever the sign-in
    bypass = request_bypass(make_user(Role.ONCALL))
    return lead, bypass, bypass.get_absolute_url()


def _sign(client, bypass, password):
    return client.post(
        reverse("emergencies:bypass-sign", args=[bypass.identifier]), {"role": "lead", "password": password}
    )


def test_fresh_reauthentication_signs_once_with_the_sso_method(client, lead_bypass):
    lead, bypass, page = lead_bypass
    before = client.get(page).content.decode()
    assert "Re-authenticate to sign" in before and 'type="password"' not in before
    back = reauth(client, page, "alice", "alice-pw")
    assert back.status_code == 302 and back["Location"] == page
    shown = client.get(page).content.decode()
    proof = SSO_PROOF_PREFIX + client.session[PROOF_KEY]["secret"]
    assert f'value="{proof}"' in shown
    assert _sign(client, bypass, proof).status_code == 302
    signature = Signature.objects.get(signer=lead)
    assert signature.method == Signature.Method.SSO_REAUTH and signature.recorded_by is None
    assert "re-authenticated at the identity provider" in client.get(page).content.decode()
    assert AuditEvent.objects.filter(action="auth.sso_reauth_accepted", actor=lead).exists()
    # single use: the same proof again is refused and counted
    assert ReauthProof.objects.get(user=lead).used_at is not None
    assert _sign(client, bypass, proof).status_code == 400  # already signed
    sign_path = reverse("emergencies:bypass-sign", args=[bypass.identifier])
    with pytest.raises(Exception, match="already used"):
        signer_authenticate(user=lead, password=proof, auth=SigningAuth(page=sign_path, sso_proof=proof[10:]))
    assert _failures(lead) == 1


def test_stale_authentication_is_refused_and_counted(client, sso, make_user):
    stale = sso_sign_in(client, "stale", "stale-pw")
    bypass = request_bypass(make_user(Role.ONCALL))
    page = bypass.get_absolute_url()
    back = reauth(client, page, "stale", "stale-pw")
    assert back["Location"] == page
    assert PROOF_KEY not in client.session and not ReauthProof.objects.exists()
    assert _failures(stale) == 1
    assert AuditEvent.objects.filter(action="signature.reauth_refused", subject_id=str(stale.pk)).exists()


def test_reauthentication_as_someone_else_is_refused_and_counted(client, lead_bypass):
    lead, _bypass, page = lead_bypass
    reauth(client, page, "bob", "bob-pw")
    assert not ReauthProof.objects.exists() and _failures(lead) == 1


def test_cancelled_reauthentication_is_refused_and_counted(client, lead_bypass):
    lead, _bypass, page = lead_bypass
    back = reauth(client, page, "", "", cancel=True)
    assert back["Location"] == page and _failures(lead) == 1
    messages = [str(m) for m in back.wsgi_request._messages]
    assert any("cancelled" in m for m in messages)


def test_refused_reauthentications_lock_signing(client, lead_bypass):
    lead, _bypass, page = lead_bypass
    for _ in range(5):
        reauth(client, page, "", "", cancel=True)
    assert SignerState.objects.get(user=lead).locked_at is not None
    assert AuditEvent.objects.filter(action="signature.locked", subject_id=str(lead.pk)).exists()
    # locked: no new re-authentication starts, and a proof from before signs nothing
    response = client.get(reverse("sso-reauth"), {"next": page})
    assert response.status_code == 302 and response["Location"] == page
    with pytest.raises(SigningLocked):
        signer_authenticate(user=lead, password=SSO_PROOF_PREFIX + "x", auth=SigningAuth(page=page, sso_proof="x"))


def test_a_proof_signs_only_for_its_user_on_its_page_from_the_page(client, lead_bypass, make_user):
    lead, bypass, page = lead_bypass
    reauth(client, page, "alice", "alice-pw")
    secret = client.session[PROOF_KEY]["secret"]
    other = make_user(Role.LEAD)
    wrong_user = SigningAuth(page=reverse("emergencies:bypass-sign", args=[bypass.identifier]), sso_proof=secret)
    with pytest.raises(Exception, match="not yours"):
        signer_authenticate(user=other, password=SSO_PROOF_PREFIX + secret, auth=wrong_user)
    elsewhere = SigningAuth(page="/emergencies/bypasses/BYP-OTHER/sign/", sso_proof=secret)
    with pytest.raises(Exception, match="another page"):
        signer_authenticate(user=lead, password=SSO_PROOF_PREFIX + secret, auth=elsewhere)
    token, _ = api_token(lead)
    with pytest.raises(Exception, match="portal's pages only"):
        signer_authenticate(user=lead, password=SSO_PROOF_PREFIX + secret, auth=SigningAuth(token=token))
    with pytest.raises(Exception, match="not yours"):
        signer_authenticate(
            user=lead, password=SSO_PROOF_PREFIX + "guess", auth=SigningAuth(page=page, sso_proof="guess")
        )
    assert _failures(lead) == 3 and _failures(other) == 1
    assert ReauthProof.objects.get().used_at is None  # nothing refused used it up
    # the API takes passwords (or a token) only
    from rest_framework.test import APIClient

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token(lead)[1]}")
    refused = api.post(
        reverse("api-bypass-sign", args=[bypass.identifier]),
        {"role": "lead", "password": SSO_PROOF_PREFIX + secret},
        format="json",
    )
    assert refused.status_code in (400, 403) and not Signature.objects.exists()


def test_the_signing_service_refuses_a_proof_nobody_used(lead_bypass):
    lead, bypass, page = lead_bypass
    with pytest.raises(Exception, match="not the signer"):
        signature_record(
            subject=bypass,
            content={},
            signer=lead,
            role=Role.LEAD,
            meaning="approved",
            auth=SigningAuth(page=page, sso_proof="never-used"),
        )


def test_reauthentication_is_for_sso_users_and_real_pages(client, sso, make_user):
    local = make_user(Role.LEAD)
    client.force_login(local)
    bypass = request_bypass(make_user(Role.ONCALL))
    response = client.get(reverse("sso-reauth"), {"next": bypass.get_absolute_url()})
    assert response.status_code == 302 and response["Location"] == bypass.get_absolute_url()
    page = client.get(bypass.get_absolute_url()).content.decode()
    assert "Re-authenticate to sign" not in page  # a local user signs with their password
    assert _sign(client, bypass, PASSWORD).status_code == 302
    assert Signature.objects.get().method == Signature.Method.E_SIGNATURE
    client.logout()
    sso_sign_in(client, "alice", "alice-pw")
    for hostile in ("https://evil.example/", "//evil.example/x", "/", "/no/such/page/", "javascript:alert(1)"):
        answer = client.get(reverse("sso-reauth"), {"next": hostile})
        assert answer.status_code == 302 and answer["Location"] == reverse("qms:dashboard"), hostile
    assert "qms_sso_reauth" not in client.session


def test_a_callback_the_session_did_not_ask_for_is_refused_without_counting(client, lead_bypass):
    lead, _bypass, _page = lead_bypass
    response = client.get(reverse("sso-reauth-callback"), {"code": "x", "state": "forged"})
    assert response.status_code == 302 and _failures(lead) == 0 and not ReauthProof.objects.exists()


@pytest.mark.parametrize("text", ["leads", "leads=boss", "=lead"])
def test_a_bad_role_map_is_a_configuration_error(text):
    from django.core.exceptions import ImproperlyConfigured

    from qms.sso.config import parse_role_map

    with pytest.raises(ImproperlyConfigured):
        parse_role_map(text)


def test_a_role_map_maps_groups_to_roles():
    from qms.sso.config import parse_role_map

    assert parse_role_map("idp-leads=lead,\n team=sec = security ") == {
        "idp-leads": Role.LEAD,
        "team=sec": Role.SECURITY,
    }
