"""The small things a first-time user trips over: required markers up front, the level named in the preview,
refusals that point to the path to take instead, a searchable time zone picker."""

import re

import pytest
from django.urls import reverse

from emergencies.models import ChangeRecord
from qms.procedures import DEFAULT_PROCEDURE_CODE
from qms.services import procedure_version_current

pytestmark = pytest.mark.django_db


def _required_labels(page: str) -> set[str]:
    return set(re.findall(r'<label for="id_(\w+)">[^<]*<span class="req"', page))


def test_level_2_preview_names_the_level_and_marks_every_required_field_up_front(client, oncall):
    client.force_login(oncall)
    page = client.get(reverse("emergencies:bypass-level"), {"production_impact": "high"}).content.decode()
    assert "What Level 2 asks for" in page and "What  asks for" not in page
    rules = procedure_version_current(code=DEFAULT_PROCEDURE_CODE).rules
    required = set(rules.bypass_level("L2")["required"])
    shown = {name for name in required if f'id="id_{name}"' in page}
    assert shown and shown <= _required_labels(page)  # every required field shown carries its asterisk
    assert len(shown) >= 8


def test_the_full_form_marks_the_required_plan_fields_once_the_level_is_known(client, oncall):
    client.force_login(oncall)
    page = client.post(reverse("emergencies:bypass-create"), {"production_impact": "high"}).content.decode()
    required = set(procedure_version_current(code=DEFAULT_PROCEDURE_CODE).rules.bypass_level("L2")["required"])
    assert {n for n in required if f'id="id_{n}"' in page} <= _required_labels(page)


@pytest.mark.parametrize("category", ["p2_incident", "urgent_feature"])
def test_a_category_refusal_links_to_the_bypass_and_standard_paths(client, oncall, category):
    client.force_login(oncall)
    data = {"title": "Slow search", "category": category, "problem_statement": "Search takes 4 s."}
    response = client.post(reverse("emergencies:stub-create"), data)
    assert response.status_code == 400
    page = response.content.decode()
    assert "EMG-E002" in page and 'data-testid="other-paths"' in page
    assert f'href="{reverse("emergencies:bypass-create")}"' in page
    assert not ChangeRecord.objects.exists()


def test_a_high_but_not_critical_cvss_links_to_the_expedited_path(client, oncall):
    client.force_login(oncall)
    data = {"title": "RCE", "category": "critical_security", "problem_statement": "x", "cvss_score": "8.1"}
    page = client.post(reverse("emergencies:stub-create"), data).content.decode()
    assert "expedited" in page and 'data-testid="other-paths"' in page


def test_the_time_zone_picker_is_a_searchable_list_with_the_script_that_offers_the_browser_zone(client, oncall):
    client.force_login(oncall)
    page = client.get(reverse("qms:preferences")).content.decode()
    assert 'list="tz-list"' in page and '<option value="Europe/Paris">' in page
    assert "js/timezone.js" in page and 'data-testid="browser-zone"' in page


def test_a_deciding_chair_sees_their_vote_and_the_decision_as_two_distinct_ordered_acts(client, make_user):
    from tests.emergencies.services.test_ccb import cmwf_change, convene, make_board, vote

    board = make_board(make_user)
    session = convene(cmwf_change(board.cm, severity="HIGH"), board)
    client.force_login(board.cm)
    page = client.get(session.get_absolute_url()).content.decode()
    vote_at, decide_at = page.index('data-testid="vote-card"'), page.index('data-testid="decision-card"')
    assert vote_at < decide_at
    assert "Step 1 · as a member" in page and "Step 2 · as the chair" in page
    assert "Not a vote: your signature records the outcome" in page
    # Until the chair has voted, the decision form waits folded behind its own summary.
    assert '<details class="act-later"><summary>Record the decision once the votes are in</summary>' in page
    vote(session, board.cm, "approve")
    page = client.get(session.get_absolute_url()).content.decode()
    assert "act-later" not in page and "Sign and record the decision" in page
