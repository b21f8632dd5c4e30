"""Idempotency-Key on API writes (issue 15): a retried request files, signs or votes once and gets the first
answer again; the same key for another request is 422; keys are per token or user."""

import pytest
from rest_framework.test import APIClient

from emergencies.models import BypassRequest, ChangeRecord, Vote
from qms.models import IdempotencyRecord, Signature
from qms.roles import Role
from tests.emergencies.services.test_ccb import cmwf_change, convene, make_board
from tests.factories import PASSWORD, api_token, file_stub

pytestmark = pytest.mark.django_db

STUB = {"title": "Checkout down", "category": "p1_incident", "problem_statement": "All orders fail."}


@pytest.fixture
def filer(make_user):
    return make_user(Role.ONCALL, username="filer")


def _token_client(user, **kwargs):
    _, secret = api_token(user, **kwargs)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    return client


def test_a_retried_filing_files_once_and_answers_the_same(filer):
    api = _token_client(filer)
    first = api.post("/api/v1/emergencies/", STUB, format="json", HTTP_IDEMPOTENCY_KEY="file-1")
    again = api.post("/api/v1/emergencies/", STUB, format="json", HTTP_IDEMPOTENCY_KEY="file-1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    assert ChangeRecord.objects.count() == 1
    other = api.post("/api/v1/emergencies/", STUB, format="json", HTTP_IDEMPOTENCY_KEY="file-2")
    assert other.status_code == 201 and ChangeRecord.objects.count() == 2


def test_the_same_key_with_another_body_is_422_and_files_nothing(filer):
    api = _token_client(filer)
    api.post("/api/v1/emergencies/", STUB, format="json", HTTP_IDEMPOTENCY_KEY="k")
    response = api.post("/api/v1/emergencies/", {**STUB, "title": "Other"}, format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert response.status_code == 422 and response["Content-Type"] == "application/problem+json"
    assert ChangeRecord.objects.count() == 1


def test_keys_are_per_principal(filer, make_user):
    other = make_user(Role.ONCALL, username="other")
    first = _token_client(filer).post("/api/v1/emergencies/", STUB, format="json", HTTP_IDEMPOTENCY_KEY="k")
    second = _token_client(other).post("/api/v1/emergencies/", STUB, format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert first.status_code == second.status_code == 201 and first.json()["id"] != second.json()["id"]
    session = APIClient()
    session.force_login(filer)
    third = session.post("/api/v1/emergencies/", STUB, format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert third.status_code == 201 and ChangeRecord.objects.count() == 3
    assert session.post("/api/v1/emergencies/", STUB, format="json", HTTP_IDEMPOTENCY_KEY="k").json() == third.json()
    assert ChangeRecord.objects.count() == 3


def test_a_retried_signature_signs_once(filer, make_user):
    commander = make_user(Role.COMMANDER, username="ic")
    change = file_stub(filer, commander=commander)
    bypass = BypassRequest.objects.get(change=change)
    api = _token_client(commander)
    url = f"/api/v1/bypasses/{bypass.identifier}/sign/"
    body = {"password": PASSWORD, "role": "commander"}
    first = api.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="sign-1")
    again = api.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="sign-1")
    assert first.status_code == again.status_code == 200 and again.json() == first.json()
    assert Signature.objects.filter(signer=commander).count() == 1


def test_a_retried_vote_votes_once(make_user):
    board = make_board(make_user)
    session = convene(cmwf_change(board.cm, severity="HIGH"), board)
    api = _token_client(board.eng)
    url = f"/api/v1/ccb/sessions/{session.pk}/vote/"
    body = {"choice": "approve", "comment": "go", "password": PASSWORD}
    first = api.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="vote-1")
    again = api.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="vote-1")
    assert first.status_code == again.status_code == 200
    assert Vote.objects.filter(session=session).count() == 1


def test_an_invalid_answer_is_replayed_but_a_refusal_frees_the_key(filer, make_user):
    api = _token_client(filer)
    bad = api.post("/api/v1/emergencies/", {}, format="json", HTTP_IDEMPOTENCY_KEY="bad")
    assert bad.status_code == 400
    assert api.post("/api/v1/emergencies/", {}, format="json", HTTP_IDEMPOTENCY_KEY="bad")["Idempotent-Replayed"]
    auditor = _token_client(make_user(Role.AUDITOR))
    assert auditor.post("/api/v1/emergencies/", STUB, format="json", HTTP_IDEMPOTENCY_KEY="no").status_code == 403
    assert not IdempotencyRecord.objects.filter(key="no").exists()


def test_a_key_still_in_progress_is_409(filer):
    token, secret = api_token(filer)
    IdempotencyRecord.objects.create(
        principal=f"token:{token.pk}", key="busy", request_hash="x", method="POST", path="/api/v1/emergencies/"
    )
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    response = api.post("/api/v1/emergencies/", STUB, format="json", HTTP_IDEMPOTENCY_KEY="busy")
    assert response.status_code in (409, 422)
    assert not ChangeRecord.objects.exists()


def test_a_malformed_key_is_400(filer):
    api = _token_client(filer)
    response = api.post("/api/v1/emergencies/", STUB, format="json", HTTP_IDEMPOTENCY_KEY="x" * 300)
    assert response.status_code == 400 and not ChangeRecord.objects.exists()
