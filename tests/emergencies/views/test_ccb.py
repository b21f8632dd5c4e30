"""The emergency CCB pages: who sees and does what, the live tally partial, and the query budgets."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from emergencies.models import CCBSession, GateDecision, RegulatoryNotification, StatusUpdate, Vote
from emergencies.services import ccb as services
from qms.roles import Role
from tests.emergencies.services.test_ccb import NON_WAIVABLE, cmwf_change, convene, everyone_votes, make_board, vote
from tests.factories import PASSWORD, file_stub, pass_gates
from tests.problems import problem_fields

pytestmark = pytest.mark.django_db


@pytest.fixture
def board(make_user):
    return make_board(make_user)


@pytest.fixture
def session(board):
    return convene(cmwf_change(board.cm, severity="HIGH"), board)


def url(name, session, **kwargs):
    return reverse(f"emergencies:{name}", kwargs={"pk": session.pk, **kwargs})


# --- who sees what ------------------------------------------------------------------------------------------


def test_member_sees_the_change_the_evidence_the_roles_and_a_signed_vote_form(client, board, session):
    client.force_login(board.eng)
    response = client.get(session.get_absolute_url())
    assert response.status_code == 200
    page = response.content.decode()
    assert session.identifier in page and session.change.identifier in page
    assert "Approve the expedited process?" in page
    assert "Every required role must be represented" in page  # the decision rule, shown
    assert 'data-testid="tally"' in page and 'hx-trigger="every 2s"' in page
    assert "Sign and cast my vote" in page and "Record the decision" not in page
    for label in ("Configuration manager", "Engineering manager", "Quality manager"):
        assert label in page


def test_chair_gets_the_decision_form_with_only_the_waivable_steps(client, board, session):
    client.force_login(board.cm)
    response = client.get(session.get_absolute_url())
    form = response.context["decision_form"]
    assert form is not None
    offered = {code for code, _ in form.fields["waivers"].choices}
    assert offered == {
        "extended_verification",
        "full_compliance_documentation",
        "standard_ccb_cycle",
        "distribution_controls",
    }
    assert not offered & set(NON_WAIVABLE)
    assert "Never waived:" in response.content.decode()


@pytest.mark.parametrize("role", [Role.AUDITOR, Role.LEGAL, Role.ONCALL])
def test_people_with_a_role_follow_a_session_read_only(client, make_user, session, role):
    client.force_login(make_user(role))
    response = client.get(session.get_absolute_url())
    assert response.status_code == 200
    assert response.context["vote_form"] is None and response.context["decision_form"] is None
    assert "You are not a member of this session" in response.content.decode()
    assert (
        client.post(
            url("ccb-vote", session), {"vote-choice": "approve", "vote-comment": "x", "vote-password": PASSWORD}
        ).status_code
        == 403
    )
    assert not Vote.objects.exists()


def test_without_a_role_sessions_are_not_found(client, make_user, session):
    client.force_login(make_user())
    assert client.get(session.get_absolute_url()).status_code == 404
    assert client.get(url("ccb-session-tally", session)).status_code == 404
    assert client.get(reverse("emergencies:ccb-list")).status_code == 403


def test_session_list_shows_open_sessions_first_with_their_votes(client, board, session):
    vote(session, board.eng, "approve")
    client.force_login(board.quality)
    response = client.get(reverse("emergencies:ccb-list"))
    assert response.status_code == 200
    row = response.context["page"].object_list[0]
    assert row == session and (row.vote_count, row.member_count) == (1, 3)
    assert 'href="/emergencies/ccb/"' in response.content.decode()  # the CCB link in the navigation
    mine = client.get(reverse("emergencies:ccb-list"), {"mine": "1"}).context["page"].object_list
    assert list(mine) == [session]


# --- convening ---------------------------------------------------------------------------------------------


def test_convene_page_for_a_configuration_manager(client, board):
    change = cmwf_change(board.cm, severity="HIGH")
    pass_gates(change, "declare", actor=board.cm)
    client.force_login(board.cm)
    page = client.get(reverse("emergencies:ccb-convene", args=[change.identifier]))
    assert page.status_code == 200
    assert "Required representation" in page.content.decode()
    response = client.post(
        reverse("emergencies:ccb-convene", args=[change.identifier]),
        {
            "gate": "fast_track",
            "chair": board.cm.pk,
            "scheduled_at": timezone.localtime().strftime("%Y-%m-%dT%H:%M"),
            "duration_minutes": "45",
            "location": "https://meet.example.com/ccb",
            "seat_engmanager": board.eng.pk,
            "seat_quality": board.quality.pk,
            "advisers": [f"{board.program.pk}:program"],
        },
    )
    created = CCBSession.objects.get()
    assert response.status_code == 302 and response.url == created.get_absolute_url()
    assert sorted(created.members.values_list("role", flat=True)) == ["cm", "engmanager", "program", "quality"]


@pytest.mark.parametrize("role", [Role.ENGMANAGER, Role.AUDITOR, Role.QUALITY])
def test_only_configuration_managers_may_convene(client, make_user, board, role):
    change = cmwf_change(board.cm)
    client.force_login(make_user(role))
    assert client.get(reverse("emergencies:ccb-convene", args=[change.identifier])).status_code == 403


def test_no_convening_for_a_procedure_without_a_ccb(client, board):
    change = file_stub(board.cm)
    client.force_login(board.cm)
    assert client.get(reverse("emergencies:ccb-convene", args=[change.identifier])).status_code == 403
    assert client.get(reverse("emergencies:ccb-change-gates", args=[change.identifier])).status_code == 403
    detail = client.get(change.get_absolute_url()).content.decode()
    assert 'data-testid="ccb-panel"' not in detail


def test_the_change_page_shows_its_gates_and_sessions(client, board, session):
    client.force_login(board.cm)
    detail = client.get(session.change.get_absolute_url()).content.decode()
    assert 'data-testid="ccb-panel"' in detail and session.identifier in detail
    assert "Gate 1" in detail and "Gate 4" in detail


# --- voting and deciding through the page ------------------------------------------------------------------


def test_vote_through_the_page_with_a_password(client, board, session):
    client.force_login(board.eng)
    wrong = client.post(
        url("ccb-vote", session), {"vote-choice": "approve", "vote-comment": "go", "vote-password": "nope"}
    )
    assert wrong.status_code == 400 and "attempts left" in wrong.content.decode()
    ok = client.post(
        url("ccb-vote", session), {"vote-choice": "approve", "vote-comment": "go", "vote-password": PASSWORD}
    )
    assert ok.status_code == 302
    assert Vote.objects.get().choice == "approve"
    page = client.get(session.get_absolute_url()).content.decode()
    assert "Sign and change my vote" in page and "A new signed vote supersedes this one" in page


def test_signing_needs_a_verified_session_when_the_second_factor_is_required(client, board, session, settings):
    settings.QMS_REQUIRE_TOTP_FOR_SIGNERS = True
    client.force_login(board.eng)
    data = {"vote-choice": "approve", "vote-comment": "go", "vote-password": PASSWORD}
    assert client.post(url("ccb-vote", session), data).status_code == 403
    assert not Vote.objects.exists()


def test_decide_through_the_page(client, board, session):
    everyone_votes(session, "approve", board)
    client.force_login(board.cm)
    refused = client.post(
        url("ccb-decide", session),
        {
            "decision-outcome": "approve",
            "decision-reason": "go",
            "decision-password": PASSWORD,
            "decision-waivers": ["hash_verification"],
        },
    )
    assert refused.status_code == 400  # not even offered: the form refuses it
    response = client.post(
        url("ccb-decide", session),
        {
            "decision-outcome": "approve",
            "decision-reason": "Risk of waiting is higher",
            "decision-password": PASSWORD,
            "decision-waivers": ["extended_verification"],
            "decision-interim_approval": "on",
            "decision-fast_track_authority": "on",
        },
    )
    assert response.status_code == 302
    session.refresh_from_db()
    assert session.status == CCBSession.Status.DECIDED and session.waivers == ["extended_verification"]
    page = client.get(session.get_absolute_url()).content.decode()
    assert "Decided: Approve emergency process" in page and "hx-trigger" not in page


def test_decision_against_the_votes_shows_the_rule(client, board, session):
    vote(session, board.cm, "approve")
    vote(session, board.eng, "standard")
    vote(session, board.quality, "standard")
    client.force_login(board.cm)
    response = client.post(
        url("ccb-decide", session),
        {"decision-outcome": "approve", "decision-reason": "go", "decision-password": PASSWORD},
    )
    assert response.status_code == 400
    assert "must agree" in response.content.decode()
    assert not GateDecision.objects.filter(session__isnull=False).exists()


def test_member_add_and_cancel_through_the_page(client, board, session):
    client.force_login(board.cm)
    added = client.post(url("ccb-member-add", session), {"member-member": f"{board.program.pk}:program"})
    assert added.status_code == 302
    assert session.members.filter(user=board.program, role="program").exists()
    client.force_login(board.eng)
    assert client.post(url("ccb-cancel", session), {"cancel-reason": "x"}).status_code == 403
    client.force_login(board.cm)
    assert client.post(url("ccb-cancel", session), {"cancel-reason": "Wrong gate"}).status_code == 302
    assert CCBSession.objects.get().status == CCBSession.Status.CANCELLED


def test_calendar_invitation_download(client, board, session):
    client.force_login(board.eng)
    response = client.get(url("ccb-session-ics", session))
    assert response["Content-Type"] == "text/calendar"
    assert f"UID:{session.identifier}@" in response.content.decode()


# --- the live tally ----------------------------------------------------------------------------------------


def test_tally_partial_updates_and_asks_for_a_reload_once_the_session_moved_on(client, board, session):
    client.force_login(board.quality)
    state = {"state": "open-0"}
    partial = client.get(url("ccb-session-tally", session), state, HTTP_HX_REQUEST="true")
    assert partial.status_code == 200 and "0 of 3" in partial.content.decode()
    vote(session, board.eng, "approve")
    partial = client.get(url("ccb-session-tally", session), state, HTTP_HX_REQUEST="true").content.decode()
    assert "1 of 3" in partial and "waiting for the configuration manager and the quality manager" in partial
    vote(session, board.cm, "approve")
    vote(session, board.quality, "approve")
    partial = client.get(url("ccb-session-tally", session), state, HTTP_HX_REQUEST="true").content.decode()
    assert "Ready to decide" in partial
    services.ccb_session_decide(
        session_id=session.pk,
        decider=board.cm,
        password=PASSWORD,
        data=services.DecisionInput(outcome="approve", reason="go"),
    )
    moved_on = client.get(url("ccb-session-tally", session), state, HTTP_HX_REQUEST="true")
    assert moved_on["HX-Refresh"] == "true"


# --- gates and communication page ---------------------------------------------------------------------------


def test_gates_page_records_gate_1_updates_and_a_regulatory_notification(client, board):
    change = cmwf_change(board.cm, safety_related=True)
    gates = reverse("emergencies:ccb-change-gates", args=[change.identifier])
    client.force_login(board.safety)
    page = client.get(gates)
    assert page.status_code == 200 and page.context["declare_form"] is not None
    assert "Cadence: <strong>hourly</strong>" in page.content.decode()
    response = client.post(
        reverse("emergencies:ccb-declare", args=[change.identifier]),
        {
            "gate1-warranted": "yes",
            "gate1-severity": "CRITICAL",
            "gate1-criteria": ["Immediate threat to life or spacecraft"],
            "gate1-role": "safety",
            "gate1-reason": "Uncommanded pitch in mode 3",
            "gate1-password": PASSWORD,
        },
    )
    assert response.status_code == 302
    assert GateDecision.objects.get().gate == "declare"
    response = client.post(
        reverse("emergencies:ccb-status-update", args=[change.identifier]),
        {
            "update-audience": "internal",
            "update-current_status": "Fleet grounded",
            "update-next_steps": "Patch in test",
        },
    )
    assert response.status_code == 302 and StatusUpdate.objects.count() == 1
    client.force_login(board.certlead)
    response = client.post(
        reverse("emergencies:ccb-regulatory", args=[change.identifier]),
        {
            "regulatory-authority": "EASA",
            "regulatory-notified_at": timezone.localtime().strftime("%Y-%m-%dT%H:%M"),
            "regulatory-reference": "EASA-2026-118",
            "regulatory-description": "Mode 3 hazard, patch 4.2.1",
            "regulatory-emergency_approval_requested": "on",
            "regulatory-follow_up_commitment": "Compliance evidence within 30 days",
        },
    )
    assert response.status_code == 302 and RegulatoryNotification.objects.count() == 1
    page = client.get(gates).content.decode()
    assert "EASA-2026-118" in page and "Fleet grounded" in page


def test_gate_1_form_errors_are_field_errors(client, board):
    change = cmwf_change(board.cm)
    client.force_login(board.cm)
    response = client.post(
        reverse("emergencies:ccb-declare", args=[change.identifier]),
        {
            "gate1-warranted": "yes",
            "gate1-severity": "HIGH",
            "gate1-role": "cm",
            "gate1-reason": "x",
            "gate1-password": PASSWORD,
        },
    )
    assert response.status_code == 400
    assert "criteria" in response.context["declare_form"].errors


def test_verification_toggle(client, board):
    change = cmwf_change(board.cm)
    client.force_login(board.eng)
    response = client.post(reverse("emergencies:ccb-verification", args=[change.identifier]), {"complete": "1"})
    assert response.status_code == 302
    change.refresh_from_db()
    assert change.verification_complete
    assert change.history.first().history_change_reason == "verification complete"


# --- query budgets -------------------------------------------------------------------------------------------


def _seat_many(session, board, make_user, n):
    for i in range(n):
        user = make_user(Role.RELEASE, username=f"adviser{i}")
        services.ccb_member_add(session_id=session.pk, user=user, role=Role.RELEASE, actor=board.cm)
        if i % 2 == 0:
            vote(session, user, "approve")
            vote(session, user, "more_info", "changed my mind")  # superseded votes on the page too


def _count(client, path, **headers) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(path, **headers)
    assert response.status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize("viewer", ["cm", "eng"])
def test_session_page_and_tally_have_a_fixed_query_budget(client, board, make_user, viewer):
    small = convene(cmwf_change(board.cm, severity="HIGH"), board)  # 3 members
    large = convene(cmwf_change(board.cm, severity="HIGH"), board)
    _seat_many(large, board, make_user, 17)  # 20 members
    everyone_votes(small, "approve", board)
    for member in large.members.filter(role__in=["cm", "engmanager", "quality"]).select_related("user"):
        vote(large, member.user, "approve")
    assert large.members.count() == 20
    client.force_login(getattr(board, viewer))
    client.get(small.get_absolute_url())  # warm the session and content-type caches
    page_small = _count(client, small.get_absolute_url())
    page_large = _count(client, large.get_absolute_url())
    assert page_small == page_large <= 20
    tally_small = _count(client, url("ccb-session-tally", small), HTTP_HX_REQUEST="true")
    tally_large = _count(client, url("ccb-session-tally", large), HTTP_HX_REQUEST="true")
    assert tally_small == tally_large <= 8


def test_session_list_has_a_fixed_query_budget(client, board):
    first = convene(cmwf_change(board.cm, severity="HIGH"), board)
    client.force_login(board.cm)
    client.get(reverse("emergencies:ccb-list"))
    one = _count(client, reverse("emergencies:ccb-list"))
    for _ in range(4):
        convene(cmwf_change(board.cm, severity="HIGH"), board)
    assert _count(client, reverse("emergencies:ccb-list")) == one
    assert first.pk


# --- API -------------------------------------------------------------------------------------------------------


def test_api_lists_sessions_shows_the_tally_and_takes_a_signed_vote(board, session):
    api = APIClient()
    api.force_authenticate(board.eng)
    listed = api.get(reverse("api-ccb-session-list")).json()
    assert listed["results"][0]["id"] == session.identifier and listed["results"][0]["member_count"] == 3
    detail_url = reverse("api-ccb-session-detail", args=[session.pk])
    tally = api.get(detail_url).json()["tally"]
    assert tally["voted"] == 0 and sorted(tally["missing_roles"]) == ["cm", "engmanager", "quality"]
    vote_url = reverse("api-ccb-vote", args=[session.pk])
    wrong = api.post(vote_url, {"choice": "approve", "comment": "go", "password": "nope"}, format="json")
    assert wrong.status_code == 400 and "password" in problem_fields(wrong)
    ok = api.post(vote_url, {"choice": "approve", "comment": "go", "password": PASSWORD}, format="json")
    assert ok.status_code == 200
    tally = ok.json()["tally"]
    assert tally["counts"]["approve"] == 1 and tally["missing_roles"] == ["cm", "quality"]
    again = api.post(vote_url, {"choice": "standard", "comment": "no", "password": PASSWORD}, format="json").json()
    eng = next(m for m in again["tally"]["members"] if m["user"] == "eng")
    assert eng["choice"] == "standard" and eng["superseded_votes"] == 1
    api.force_authenticate(board.program)  # not a member
    assert (
        api.post(vote_url, {"choice": "approve", "comment": "x", "password": PASSWORD}, format="json").status_code
        == 403
    )


def test_the_signed_decision_form_starts_empty_and_the_signer_chooses(client, board, session):
    """Nothing in a signed decision is pre-selected: not the outcome the votes give, not a consequence."""
    import re

    everyone_votes(session, "approve", board)
    client.force_login(board.cm)
    page = client.get(session.get_absolute_url()).content.decode()
    start = page.index(f'action="{url("ccb-decide", session)}"')
    form_html = page[start : page.index("</form>", start)]
    assert "Authorise interim approval" in form_html and "Grant fast-track deployment authority" in form_html
    assert 'name="decision-outcome"' in form_html
    assert not re.search(r"<input[^>]*\bchecked\b", form_html)
    assert "The votes give" in page  # the votes' outcome is shown as a hint beside the form
    response = client.post(
        url("ccb-decide", session),
        {"decision-outcome": "approve", "decision-reason": "go", "decision-password": PASSWORD},
    )
    assert response.status_code == 302
    session.refresh_from_db()
    assert (session.interim_approval, session.fast_track_authority, session.waivers) == (False, False, [])


def test_no_signed_form_pre_selects_a_choice():
    from emergencies import forms
    from emergencies.forms import ccb as forms_ccb
    from emergencies.forms import patches as forms_patch

    signed = [
        cls
        for module in (forms, forms_ccb, forms_patch)
        for cls in vars(module).values()
        if isinstance(cls, type) and issubclass(cls, forms_ccb.forms.Form) and "password" in cls.base_fields
    ]
    assert forms_ccb.DecisionForm in signed and forms_ccb.VoteForm in signed
    for cls in signed:
        for name, field in cls.base_fields.items():
            if isinstance(field, (forms_ccb.forms.BooleanField, forms_ccb.forms.MultipleChoiceField)):
                assert not field.initial, f"{cls.__name__}.{name} starts ticked"
            if isinstance(field.widget, forms_ccb.forms.RadioSelect):
                assert field.initial is None, f"{cls.__name__}.{name} starts selected"
