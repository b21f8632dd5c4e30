"""The second-factor rule for signers, on every signing path.

Each path (a bypass signature, rejection, recorded verbal approval and its confirmation, a CCB vote and
decision, Gate 1, a post-mortem approval, a patch package approval, the commander's proceed-before-authorisation
deviation) is walked through its page and, where
there is one, its API, with ``QMS_REQUIRE_TOTP_FOR_SIGNERS`` off and on. The rule is decided by the one
signing service (``qms.services.signatures``), so a path that forgot it would sign here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from emergencies.models import BypassRequest
from emergencies.services import bypasses as bypass_services
from emergencies.services import patches as patch_services
from emergencies.services import postincident as pi
from qms.models import Signature
from qms.roles import Role
from qms.services import PASSWORD_ONLY, SecondFactorRequired, SigningAuth, signature_record
from tests.emergencies.services.test_bypasses import request_bypass
from tests.emergencies.services.test_ccb import cmwf_change, convene, everyone_votes, make_board
from tests.emergencies.services.test_postincident import PM_FIELDS
from tests.factories import PASSWORD, api_token, authorise, deploy_and_resolve, file_stub

pytestmark = pytest.mark.django_db

PATCH_TEXTS = {
    "summary": "Fixes the pitch limiter",
    "installation_procedure": "Load via the maintenance port",
    "verification_procedure": "Run BIT",
    "rollback_procedure": "Reload 2.4.0",
    "rollback_verification": "BIT green on 2.4.0",
    "rollback_criteria": "Any BIT failure",
    "release_notice": "Emergency release 2.4.1",
}


@dataclass
class Prepared:
    signer: object
    form: tuple[str, dict]
    api: tuple[str, dict] | None = None


def _bypass_sign(make_user):
    bypass = request_bypass(make_user(Role.ONCALL))
    lead = make_user(Role.LEAD)
    return Prepared(
        lead,
        (reverse("emergencies:bypass-sign", args=[bypass.identifier]), {"role": "lead", "password": PASSWORD}),
        (reverse("api-bypass-sign", args=[bypass.identifier]), {"role": "lead", "password": PASSWORD}),
    )


def _bypass_reject(make_user):
    bypass = request_bypass(make_user(Role.ONCALL))
    lead = make_user(Role.LEAD)
    return Prepared(
        lead,
        (
            reverse("emergencies:bypass-reject", args=[bypass.identifier]),
            {"role": "lead", "password": PASSWORD, "comment": "not this way"},
        ),
        (
            reverse("api-bypass-reject", args=[bypass.identifier]),
            {"role": "lead", "password": PASSWORD, "reason": "not this way"},
        ),
    )


def _stub(make_user):
    oncall = make_user(Role.ONCALL)
    commander = make_user(Role.COMMANDER)
    change = file_stub(oncall, commander=commander)
    return BypassRequest.objects.get(change=change), commander


def _bypass_verbal(make_user):
    bypass, commander = _stub(make_user)
    recorder = make_user(Role.QMS)
    common = {"role": "commander", "method": "verbal", "comment": "IC approved on the bridge", "password": PASSWORD}
    return Prepared(
        recorder,
        (
            reverse("emergencies:bypass-verbal", args=[bypass.identifier]),
            {**common, "approver": commander.pk, "approved_at": timezone.localtime().strftime("%Y-%m-%dT%H:%M")},
        ),
        (
            reverse("api-bypass-verbal-approvals", args=[bypass.identifier]),
            {**common, "approver": commander.username, "approved_at": timezone.now().isoformat()},
        ),
    )


def _bypass_confirm(make_user):
    bypass, commander = _stub(make_user)
    bypass_services.bypass_verbal_approval_record(
        bypass_id=bypass.pk,
        approver=commander,
        role=Role.COMMANDER,
        approved_at=timezone.now(),
        recorded_by=make_user(Role.QMS),
        password=PASSWORD,
        comment="on the bridge",
    )
    verbal = Signature.objects.get(method="verbal")
    return Prepared(
        commander, (reverse("emergencies:bypass-confirm", args=[bypass.identifier, verbal.pk]), {"password": PASSWORD})
    )


def _ccb_vote(make_user):
    board = make_board(make_user)
    session = convene(cmwf_change(board.cm, severity="HIGH"), board)
    return Prepared(
        board.eng,
        (
            reverse("emergencies:ccb-vote", kwargs={"pk": session.pk}),
            {"vote-choice": "approve", "vote-comment": "go", "vote-password": PASSWORD},
        ),
        (
            reverse("api-ccb-vote", kwargs={"pk": session.pk}),
            {"choice": "approve", "comment": "go", "password": PASSWORD},
        ),
    )


def _ccb_decide(make_user):
    board = make_board(make_user)
    session = convene(cmwf_change(board.cm, severity="HIGH"), board)
    everyone_votes(session, "approve", board)
    return Prepared(
        board.cm,
        (
            reverse("emergencies:ccb-decide", kwargs={"pk": session.pk}),
            {"decision-outcome": "approve", "decision-reason": "as voted", "decision-password": PASSWORD},
        ),
        (
            reverse("api-ccb-decision", kwargs={"pk": session.pk}),
            {"outcome": "approve", "reason": "as voted", "password": PASSWORD},
        ),
    )


def _gate_declare(make_user):
    board = make_board(make_user)
    change = cmwf_change(board.cm, safety_related=True)
    return Prepared(
        board.safety,
        (
            reverse("emergencies:ccb-declare", args=[change.identifier]),
            {
                "gate1-warranted": "yes",
                "gate1-severity": "CRITICAL",
                "gate1-criteria": ["Immediate threat to life or spacecraft"],
                "gate1-role": "safety",
                "gate1-reason": "Uncommanded pitch in mode 3",
                "gate1-password": PASSWORD,
            },
        ),
        (
            reverse("api-gate-1", args=[change.identifier]),
            {
                "warranted": True,
                "severity": "CRITICAL",
                "criteria": ["Immediate threat to life or spacecraft"],
                "role": "safety",
                "reason": "Uncommanded pitch in mode 3",
                "password": PASSWORD,
            },
        ),
    )


def _post_mortem_approve(make_user):
    oncall = make_user(Role.ONCALL)
    commander = make_user(Role.COMMANDER)
    change = file_stub(oncall, commander=commander)
    authorise(change, commander)
    change = deploy_and_resolve(change, reviewer=make_user(Role.ONCALL), commander=commander)
    pm = pi.post_mortem_start(change_id=change.pk, actor=oncall)
    pi.post_mortem_update(
        post_mortem_id=pm.pk, actor=oncall, fields=PM_FIELDS, timeline_text="2026-11-23 02:40 Incident detected"
    )
    pi.post_mortem_submit(post_mortem_id=pm.pk, actor=oncall)
    return Prepared(
        commander,
        (
            reverse("emergencies:post-mortem-action", args=[change.identifier, "approve"]),
            {"role": "commander", "password": PASSWORD},
        ),
        (reverse("api-post-mortem-signatures", args=[change.identifier]), {"role": "commander", "password": PASSWORD}),
    )


def _patch_approve(make_user):
    oncall = make_user(Role.ONCALL)
    cm = make_user(Role.CM)
    change = file_stub(oncall, procedure_code="cm-wf-emergency", affected_systems="SN-100 — flight computer\n")
    authorise(change, cm, make_user(Role.PROGRAM))
    package = patch_services.patch_package_create(change_id=change.pk, actor=oncall, texts=PATCH_TEXTS)
    patch_services.patch_artifact_upload(
        package_id=package.pk, actor=oncall, file=SimpleUploadedFile("fw.bin", b"firmware 2.4.1\n")
    )
    other_cm = make_user(Role.CM)
    url = reverse("emergencies:patch-approve", kwargs={"identifier": change.identifier, "version": package.version})
    return Prepared(
        other_cm,
        (url, {"approve-role": "cm", "approve-password": PASSWORD}),
        (reverse("api-patch-package-signatures", args=[package.identifier]), {"role": "cm", "password": PASSWORD}),
    )


def _proceed_deviation(make_user):
    oncall = make_user(Role.ONCALL)
    commander = make_user(Role.COMMANDER)
    change = file_stub(oncall, commander=commander)
    url = reverse("emergencies:change-proceed-deviation", args=[change.identifier])
    api = reverse("api-proceed-deviation", args=[change.identifier])
    body = {"password": PASSWORD, "reason": "Checkout down, verbal go-ahead"}
    return Prepared(commander, (url, body), (api, body))


def _procedure_approve(make_user):
    from qms.services import procedure_drafts
    from tests.qms.procedures.helpers import draft_in_review

    draft = draft_in_review(make_user(Role.QMS))
    quality = make_user(Role.QUALITY)
    assert procedure_drafts.approver_roles()
    data = {"role": "quality", "password": PASSWORD}
    return Prepared(
        quality,
        (reverse("qms:procedure-draft-approve", args=[draft.pk]), data),
        (reverse("api-procedure-signatures", args=[draft.pk]), data),
    )


PATHS: dict[str, Callable] = {
    "bypass-sign": _bypass_sign,
    "bypass-reject": _bypass_reject,
    "bypass-verbal": _bypass_verbal,
    "bypass-confirm": _bypass_confirm,
    "ccb-vote": _ccb_vote,
    "ccb-decide": _ccb_decide,
    "gate-declare": _gate_declare,
    "post-mortem-approve": _post_mortem_approve,
    "patch-approve": _patch_approve,
    "proceed-deviation": _proceed_deviation,
    "procedure-approve": _procedure_approve,
}
API_SIGNING = {
    "bypass-sign",
    "bypass-reject",
    "bypass-verbal",
    "ccb-vote",
    "ccb-decide",
    "post-mortem-approve",
    "gate-declare",
    "proceed-deviation",
    "patch-approve",
    "procedure-approve",
}
API_PATHS = [name for name in PATHS if name in API_SIGNING]


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def _verified_session(client, user):
    """A session that entered a code from a confirmed device (as django-otp's login records it)."""
    device = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()


@pytest.mark.parametrize(
    ("required", "session", "signs"),
    [(False, "password", True), (True, "password", False), (True, "verified", True)],
    ids=["not-required", "required-password-session", "required-verified-session"],
)
@pytest.mark.parametrize("path", list(PATHS))
def test_every_signing_form_follows_the_second_factor_rule(client, make_user, settings, path, required, session, signs):
    prepared = PATHS[path](make_user)
    settings.QMS_REQUIRE_TOTP_FOR_SIGNERS = required
    if session == "verified":
        _verified_session(client, prepared.signer)
    else:
        client.force_login(prepared.signer)
    before = Signature.objects.count()
    url, data = prepared.form
    response = client.post(url, data)
    if signs:
        assert response.status_code == 302, response.content.decode()[:2000]
        assert Signature.objects.count() == before + 1
    else:
        assert response.status_code == 403
        assert Signature.objects.count() == before


TOKEN_CASES = {
    # name: (rule on, QMS_API_TOKENS_MAY_SIGN, token created from a second-factor session, signs)
    "not-required": (False, False, False, True),
    "required-plain-token": (True, False, False, False),
    "required-plain-token-tokens-allowed": (True, True, False, False),
    "required-second-factor-token-tokens-not-allowed": (True, False, True, False),
    "required-second-factor-token-tokens-allowed": (True, True, True, True),
}


@pytest.mark.parametrize("case", list(TOKEN_CASES))
@pytest.mark.parametrize("path", API_PATHS)
def test_every_signing_api_follows_the_second_factor_rule(make_user, settings, path, case):
    required, tokens_may_sign, second_factor_token, signs = TOKEN_CASES[case]
    prepared = PATHS[path](make_user)
    settings.QMS_REQUIRE_TOTP_FOR_SIGNERS = required
    settings.QMS_API_TOKENS_MAY_SIGN = tokens_may_sign
    api = APIClient()
    # second_factor_verified: what a token created from a code-verified session carries
    _, secret = api_token(prepared.signer, second_factor_verified=second_factor_token)
    api.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    before = Signature.objects.count()
    url, data = prepared.api
    response = api.post(url, data, format="json")
    if signs:
        assert response.status_code in (200, 201), response.content
        assert Signature.objects.count() == before + 1
    else:
        assert response.status_code == 403, response.content
        assert "token" in response.json()["detail"].lower()
        assert Signature.objects.count() == before


@pytest.mark.parametrize(("session", "signs"), [("password", False), ("verified", True)])
@pytest.mark.parametrize("path", API_PATHS)
def test_the_api_through_a_browser_session_follows_the_rule(make_user, settings, path, session, signs):
    prepared = PATHS[path](make_user)
    settings.QMS_REQUIRE_TOTP_FOR_SIGNERS = True
    api = APIClient()
    if session == "verified":
        _verified_session(api, prepared.signer)
    else:
        api.force_login(prepared.signer)
    before = Signature.objects.count()
    url, data = prepared.api
    response = api.post(url, data, format="json")
    assert response.status_code in ((200, 201) if signs else (403,)), response.content
    assert Signature.objects.count() == before + (1 if signs else 0)


def test_signature_record_itself_refuses_without_a_second_factor(make_user, settings):
    """A path that skipped signer_authenticate still cannot write a signature while the rule is on."""
    bypass = request_bypass(make_user(Role.ONCALL))
    lead = make_user(Role.LEAD)
    settings.QMS_REQUIRE_TOTP_FOR_SIGNERS = True
    kwargs = {
        "subject": bypass,
        "content": bypass.signable_content(),
        "signer": lead,
        "role": Role.LEAD,
        "meaning": "approved",
    }
    for auth in (None, PASSWORD_ONLY, SigningAuth(token=SimpleNamespace())):
        with pytest.raises(SecondFactorRequired), transaction.atomic():
            signature_record(**kwargs, auth=auth)
    assert not Signature.objects.exists()
    signature_record(**kwargs, auth=SigningAuth(second_factor=True))
    assert Signature.objects.count() == 1


def test_a_refused_signing_does_not_count_as_a_wrong_password(make_user, settings):
    from qms.models import SignerState

    bypass = request_bypass(make_user(Role.ONCALL))
    lead = make_user(Role.LEAD)
    settings.QMS_REQUIRE_TOTP_FOR_SIGNERS = True
    for _ in range(6):
        with pytest.raises(SecondFactorRequired):
            bypass_services.bypass_sign(bypass_id=bypass.pk, signer=lead, password="wrong", role=Role.LEAD)
    state = SignerState.objects.filter(user=lead).first()
    assert state is None or (state.consecutive_failures == 0 and state.locked_at is None)
