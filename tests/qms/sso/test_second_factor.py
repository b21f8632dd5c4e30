"""Single sign-on with a second factor required for signers: a re-authentication at the provider counts as
one when its ID token says so (``amr`` names a second factor, or ``acr`` is a configured level)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from qms.models import Signature
from qms.roles import Role
from qms.services import SigningAuth, signer_authenticate
from qms.services.signatures import SSO_PROOF_PREFIX, SecondFactorRequired
from qms.sso.config import reauth_second_factor
from qms.sso.models import ReauthProof
from qms.sso.reauth import PROOF_KEY
from tests.emergencies.services.test_bypasses import request_bypass
from tests.factories import certify
from tests.qms.sso.test_sso import idp, reauth, sso, sso_sign_in  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db


@pytest.fixture
def totp_required(sso, settings):  # noqa: F811
    settings.QMS_REQUIRE_TOTP_FOR_SIGNERS = True
    return sso


def _reauth_and_sign(client, make_user, username: str):
    signer = sso_sign_in(client, username, f"{username}-pw")
    certify(signer)
    bypass = request_bypass(make_user(Role.ONCALL))
    page = bypass.get_absolute_url()
    back = reauth(client, page, username, f"{username}-pw")
    assert back["Location"] == page
    proof = SSO_PROOF_PREFIX + client.session[PROOF_KEY]["secret"]
    response = client.post(
        reverse("emergencies:bypass-sign", args=[bypass.identifier]), {"role": "lead", "password": proof}
    )
    return signer, bypass, response


def test_a_reauthentication_whose_amr_names_a_second_factor_signs(client, totp_required, make_user):
    signer, _bypass, response = _reauth_and_sign(client, make_user, "mara")
    assert response.status_code == 302
    signature = Signature.objects.get(signer=signer)
    assert signature.method == Signature.Method.SSO_REAUTH
    proof = ReauthProof.objects.get(user=signer)
    assert proof.second_factor and proof.used_at is not None


def test_a_reauthentication_with_a_password_alone_cannot_sign(client, totp_required, make_user):
    signer, bypass, response = _reauth_and_sign(client, make_user, "alice")
    assert response.status_code in (400, 403)
    assert not Signature.objects.exists()
    proof = ReauthProof.objects.get(user=signer)
    assert not proof.second_factor and proof.used_at is None  # refused before it was used up
    with pytest.raises(SecondFactorRequired):
        secret = client.session[PROOF_KEY]["secret"]
        page = reverse("emergencies:bypass-sign", args=[bypass.identifier])
        signer_authenticate(
            user=signer, password=SSO_PROOF_PREFIX + secret, auth=SigningAuth(page=page, sso_proof=secret)
        )


def test_an_acr_counts_only_when_it_is_a_configured_level(client, totp_required, make_user, settings):
    _signer, _bypass, response = _reauth_and_sign(client, make_user, "ada")  # amr "pwd", acr unconfigured
    assert response.status_code in (400, 403) and not Signature.objects.exists()
    client.logout()
    settings.QMS_SSO_SECOND_FACTOR_ACR = ["urn:example:loa:mfa"]
    signer, _bypass, response = _reauth_and_sign(client, make_user, "ada")
    assert response.status_code == 302
    assert Signature.objects.get(signer=signer).method == Signature.Method.SSO_REAUTH


def test_a_proof_with_a_second_factor_signs_only_on_its_page(client, totp_required, make_user):
    signer = sso_sign_in(client, "mara", "mara-pw")
    bypass = request_bypass(make_user(Role.ONCALL))
    reauth(client, bypass.get_absolute_url(), "mara", "mara-pw")
    secret = client.session[PROOF_KEY]["secret"]
    elsewhere = SigningAuth(page="/emergencies/bypasses/BYP-OTHER/sign/", sso_proof=secret)
    with pytest.raises(SecondFactorRequired):
        signer_authenticate(user=signer, password=SSO_PROOF_PREFIX + secret, auth=elsewhere)
    assert ReauthProof.objects.get().used_at is None


@pytest.mark.parametrize(
    ("claims", "expected"),
    [
        ({"amr": ["pwd", "otp"]}, True),
        ({"amr": ["hwk"]}, True),
        ({"amr": "mfa"}, True),
        ({"amr": ["pwd"]}, False),
        ({"amr": [{"otp": 1}]}, False),
        ({}, False),
        ({"acr": "urn:example:loa:mfa"}, False),
    ],
)
def test_which_claims_name_a_second_factor(claims, expected):
    assert reauth_second_factor(claims) is expected
