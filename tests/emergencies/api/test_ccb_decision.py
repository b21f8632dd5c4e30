"""The CCB's signed decision through the API (issue 15): the page's service, so only the decider, only with
their password, only as the votes give it; the answer is the session as the schema says."""

import pytest

from emergencies.models import CCBSession
from qms.models import Signature
from tests.api_schema import assert_conforms, served_schema
from tests.emergencies.api.test_lifecycle import as_
from tests.emergencies.services.test_ccb import cmwf_change, convene, everyone_votes, make_board
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db
PATH = "/api/v1/ccb/sessions/{id}/decision/"


def test_decision_by_the_decider_with_their_password_as_the_votes_give_it(make_user, client):
    board = make_board(make_user)
    session = convene(cmwf_change(board.cm, severity="HIGH"), board)
    everyone_votes(session, "approve", board)
    url = f"/api/v1/ccb/sessions/{session.pk}/decision/"
    decision = {"outcome": "approve", "reason": "as voted", "password": PASSWORD}
    before = Signature.objects.count()

    # not the decider; the decider with a wrong password; an outcome the votes do not give: nothing signed
    assert as_(board.quality, token=True).post(url, decision, format="json").status_code == 403
    wrong = as_(board.cm, token=True).post(url, {**decision, "password": "nope"}, format="json")
    assert wrong.status_code in (400, 403)
    against = as_(board.cm, token=True).post(url, {**decision, "outcome": "standard_process"}, format="json")
    assert against.status_code == 400 and against["Content-Type"] == "application/problem+json"
    assert Signature.objects.count() == before and CCBSession.objects.get(pk=session.pk).is_open

    decided = as_(board.cm, token=True).post(url, decision, format="json")
    assert decided.status_code == 200, decided.content
    assert Signature.objects.count() == before + 1 and not CCBSession.objects.get(pk=session.pk).is_open
    assert_conforms(served_schema(client, board.cm), "POST", PATH, decided)
