"""Optimistic concurrency on API writes (issue 15): the ETag of a record, If-Match, 412 on a stale write."""

from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from emergencies.models import BypassRequest, Vote
from emergencies.services.bypasses import bypass_sign
from qms.models import Signature
from qms.roles import Role
from tests.emergencies.services.test_ccb import cmwf_change, convene, make_board
from tests.factories import PASSWORD, file_stub

pytestmark = pytest.mark.django_db


def test_a_stale_if_match_is_412_and_signs_nothing(make_user):
    oncall = make_user(Role.ONCALL, username="dev")
    commander = make_user(Role.COMMANDER, username="ic")
    security = make_user(Role.SECURITY, username="sec")
    change = file_stub(oncall, commander=commander, category="critical_security", cvss_score=Decimal("9.5"))
    bypass = BypassRequest.objects.get(change=change)
    api = APIClient()
    api.force_login(commander)
    url = f"/api/v1/bypasses/{bypass.identifier}/"
    etag = api.get(url)["ETag"]
    assert etag and api.get(url)["ETag"] == etag
    bypass_sign(bypass_id=bypass.pk, signer=security, password=PASSWORD, role=Role.SECURITY)
    assert api.get(url)["ETag"] != etag
    body = {"password": PASSWORD, "role": "commander"}
    stale = api.post(url + "sign/", body, format="json", HTTP_IF_MATCH=etag)
    assert stale.status_code == 412 and stale["Content-Type"] == "application/problem+json"
    assert not Signature.objects.filter(signer=commander).exists()
    fresh = api.post(url + "sign/", body, format="json", HTTP_IF_MATCH=api.get(url)["ETag"])
    assert fresh.status_code == 200 and fresh["ETag"] == api.get(url)["ETag"]
    assert Signature.objects.filter(signer=commander).count() == 1


def test_if_match_star_and_no_if_match_are_unconditional(make_user):
    oncall = make_user(Role.ONCALL, username="dev")
    commander = make_user(Role.COMMANDER, username="ic")
    bypass = BypassRequest.objects.get(change=file_stub(oncall, commander=commander))
    api = APIClient()
    api.force_login(commander)
    url = f"/api/v1/bypasses/{bypass.identifier}/sign/"
    response = api.post(url, {"password": PASSWORD, "role": "commander"}, format="json", HTTP_IF_MATCH="*")
    assert response.status_code == 200


def test_a_vote_on_a_session_that_moved_on_is_412(make_user):
    board = make_board(make_user)
    session = convene(cmwf_change(board.cm, severity="HIGH"), board)
    eng, quality = APIClient(), APIClient()
    eng.force_login(board.eng)
    quality.force_login(board.quality)
    url = f"/api/v1/ccb/sessions/{session.pk}/"
    etag = eng.get(url)["ETag"]
    body = {"choice": "approve", "comment": "go", "password": PASSWORD}
    assert quality.post(url + "vote/", body, format="json").status_code == 200
    assert eng.post(url + "vote/", body, format="json", HTTP_IF_MATCH=etag).status_code == 412
    assert Vote.objects.filter(session=session).count() == 1
