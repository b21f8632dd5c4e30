"""Every kind of clock is met through the UI or the API, the way its people meet it: a page POST by the right
role (Django test client, logged in) or an API call. Set-up goes through the services; the step that meets the
clock never does. A kind added to ``audits.clocks.OBLIGATION_KINDS`` without a test here (or one named in
ELSEWHERE) fails ``test_every_kind_has_a_test_that_meets_it``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from importlib import import_module

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from audits.clocks import OBLIGATION_KINDS
from audits.models import Obligation
from emergencies.models import ActionItem, BypassRequest, FollowUpDocument
from emergencies.models.patches import FOLLOW_UP_ITEMS
from emergencies.services import change_record_transition, communication, patches
from emergencies.services import postincident as pi
from emergencies.services.incident import incident_update
from qms.models import Notification, Signature
from qms.roles import Role
from tests.audits.helpers import granted_bypass
from tests.audits.test_post_deployment_clocks import deployed_cm_wf_change
from tests.emergencies.services.test_bypasses import l2
from tests.emergencies.services.test_ccb import cmwf_change, convene, everyone_votes, make_board
from tests.emergencies.services.test_postincident import PM_FIELDS
from tests.factories import PASSWORD, UserFactory, api_token, authorise, deploy_and_resolve, file_stub, ready_to_deploy

pytestmark = pytest.mark.django_db
QMS_V1 = "qms-emergency-bypass-v1"
# Kinds met through the UI by a test elsewhere (module::function).
ELSEWHERE = {
    "preventive_change": "tests.audits.test_clocks::test_the_preventive_change_is_opened_from_the_patterns_page",
}
KINDS = {k for k, entry in OBLIGATION_KINDS.items() if not entry.met_by.startswith("test set-up")}
MEET = {}


def meets(*kinds):
    def register(fn):
        for kind in kinds:
            MEET[kind] = fn
        return fn

    return register


def user(*roles: Role, **kwargs):
    return UserFactory(roles=[r.value for r in roles], **kwargs)


def page(actor) -> Client:
    client = Client()
    client.force_login(actor)
    return client


def api(actor) -> APIClient:
    client = APIClient()
    _, secret = api_token(actor)
    client.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    return client


def of_kind(kind: str):
    return (
        Obligation.objects.filter(kind=kind)
        if kind != "review"
        else Obligation.objects.filter(kind__startswith="review:")
    )


def _errors(response) -> str:
    import re

    text = response.content.decode()
    found = re.findall(r'class="(?:errorlist|error[^"]*|field-error)"[^>]*>(.*?)</', text, re.S)
    return f"{response.status_code}: {found or text[:300]}"


@dataclass
class Meeting:
    kind: str

    def __call__(self, action, *, by=None) -> None:
        """Run ``action`` (a request) and check it met an open clock of this kind, by this person."""
        waiting = list(of_kind(self.kind).filter(satisfied_at__isnull=True))
        assert waiting, f"no open {self.kind} clock before the step that meets it"
        response = action()
        assert response.status_code in (200, 201, 302), _errors(response)
        met = of_kind(self.kind).filter(pk__in=[o.pk for o in waiting], satisfied_at__isnull=False)
        assert met.exists(), f"{self.kind}: still open after the step"
        if by is not None:
            assert all(o.satisfied_by == by for o in met), [(o.label, o.satisfied_by) for o in met]
        assert not any(o.satisfaction_note.startswith("Voided") for o in met)


def people():
    return user(Role.ONCALL), user(Role.COMMANDER), user(Role.ONCALL)


def change_url(change, tail=""):
    return f"/api/v1/emergencies/{change.identifier}/{tail}"


# --- the procedure's clocks on a change ------------------------------------------------------------------------


@meets("triage")
def _triage(meet):
    author, commander, _ = people()
    change = file_stub(author, commander=commander)
    bypass = BypassRequest.objects.get(change=change)
    url = reverse("emergencies:bypass-sign", args=[bypass.identifier])
    meet(lambda: page(commander).post(url, {"role": "commander", "password": PASSWORD}), by=commander)


@meets("hotfix")
def _hotfix(meet):
    author, commander, reviewer = people()
    change = file_stub(author, commander=commander)
    authorise(change, commander)
    change_record_transition(change_id=change.pk, transition="start_hotfix", actor=author)
    ready_to_deploy(change, reviewer)
    url = reverse("emergencies:change-transition", args=[change.identifier, "deploy"])
    meet(lambda: page(author).post(url, {"reason": "deployed"}), by=author)


def resolved_change():
    author, commander, reviewer = people()
    change = file_stub(author, commander=commander)
    authorise(change, commander)
    return deploy_and_resolve(change, reviewer=reviewer, commander=commander), commander


@meets("documentation")
def _documentation(meet):
    change, _ = resolved_change()
    sections = {
        "problem_statement": "Checkout failed for every order",
        "root_cause": "Expired certificate",
        "impact_assessment": "All orders for 40 minutes",
        "timeline": "02:40 detected, 03:20 fixed",
        "affected_artifacts": "payments-api",
        "resolution": "Certificate renewed",
        "rollback_plan": "Revert the release",
        "lessons_learned": "Alert on expiry",
    }
    url = reverse("emergencies:documentation", args=[change.identifier])
    meet(lambda: page(change.author).post(url, sections), by=change.author)


def submitted_post_mortem(change):
    pm = pi.post_mortem_start(change_id=change.pk, actor=change.author)
    pi.post_mortem_update(post_mortem_id=pm.pk, actor=change.author, fields=PM_FIELDS)
    return pi.post_mortem_submit(post_mortem_id=pm.pk, actor=change.author)


@meets("post_mortem")
def _post_mortem(meet):
    change, commander = resolved_change()
    submitted_post_mortem(change)
    url = reverse("emergencies:post-mortem-action", args=[change.identifier, "approve"])
    meet(lambda: page(commander).post(url, {"role": "commander", "password": PASSWORD}), by=commander)


@meets("root_cause_analysis")
def _root_cause_analysis(meet):
    change = deployed_cm_wf_change(user(Role.ONCALL), make_board(user_factory))
    for name in ("start_monitoring", "resolve"):
        change_record_transition(change_id=change.pk, transition=name, actor=change.author, reason=name)
    submitted_post_mortem(change)
    commander = user(Role.COMMANDER)
    body = {"role": "commander", "password": PASSWORD}
    meet(lambda: api(commander).post(change_url(change, "post-mortem/signatures/"), body, format="json"), by=commander)


@meets("action_item")
def _action_item(meet):
    change, _ = resolved_change()
    pm = pi.post_mortem_start(change_id=change.pk, actor=change.author)
    owner = user(Role.ONCALL)
    due = (timezone.now() + timedelta(days=7)).date()
    pi.action_item_add(post_mortem_id=pm.pk, actor=change.author, action="Alert on expiry", owner=owner, due_date=due)
    item = ActionItem.objects.get(post_mortem=pm)
    url = reverse("emergencies:action-item-status", args=[change.identifier, item.pk])
    meet(lambda: page(owner).post(url, {"status": "done"}), by=owner)


@meets("full_regression")
def _full_regression(meet):
    change, _ = resolved_change()
    qms = user(Role.QMS)
    body = {"gate": "full_regression", "result": "passed", "evidence": "Nightly regression run 4411 green"}
    meet(lambda: api(qms).post(change_url(change, "gate-results/"), body, format="json"), by=qms)


# --- bypass requests -----------------------------------------------------------------------------------------------


@meets("review")
def _review(meet):
    bypass = l2(user(Role.ONCALL))
    architect = user(Role.ARCHITECT)
    url = reverse("emergencies:bypass-sign", args=[bypass.identifier])
    meet(lambda: page(architect).post(url, {"role": "architect", "password": PASSWORD}), by=architect)


@meets("remediation")
def _remediation(meet):
    now = timezone.now()
    lead = user(Role.LEAD)  # a validator; never the requester of the bypass
    bypass = granted_bypass(user(Role.ONCALL), lead, requested_at=now - timedelta(hours=2), decided_at=now)
    url = reverse("emergencies:bypass-remediation", args=[bypass.identifier])
    body = {"gate": bypass.checks[0], "evidence": "CI run 812: the lint rule passes again"}
    meet(lambda: page(lead).post(url, body), by=lead)


@meets("verbal_confirmation")
def _verbal_confirmation(meet):
    author, commander, _ = people()
    change = file_stub(author, commander=commander)
    bypass = BypassRequest.objects.get(change=change)
    verbal = {
        "approver": commander.username,
        "role": "commander",
        "method": "verbal",
        "approved_at": bypass.requested_at.isoformat(),
        "comment": "By phone on the bridge",
        "password": PASSWORD,
    }
    base = f"/api/v1/bypasses/{bypass.identifier}/"
    assert api(user(Role.SECURITY)).post(base + "verbal-approvals/", verbal, format="json").status_code == 201
    signature = Signature.objects.get(subject_id=bypass.pk, method="verbal")
    url = reverse("emergencies:bypass-confirm", args=[bypass.identifier, signature.pk])
    meet(lambda: page(commander).post(url, {"password": PASSWORD}), by=commander)


# --- the emergency CCB and communication (CM-WF-EMERGENCY) ------------------------------------------------------------


def user_factory(*roles, **kwargs):
    return user(*roles, **kwargs)


@meets("ccb_vote")
def _ccb_vote(meet):
    board = make_board(user_factory)
    session = convene(cmwf_change(board.cm, severity="HIGH"), board)
    url = reverse("emergencies:ccb-vote", args=[session.pk])
    body = {"vote-choice": "approve", "vote-comment": "small revert", "vote-password": PASSWORD}
    meet(lambda: page(board.eng).post(url, body), by=board.eng)


@meets("ccb_decision")
def _ccb_decision(meet):
    board = make_board(user_factory)
    session = convene(cmwf_change(board.cm, severity="HIGH"), board)
    everyone_votes(session, "approve", board)
    url = f"/api/v1/ccb/sessions/{session.pk}/decision/"
    body = {"outcome": "approve", "reason": "as voted", "password": PASSWORD}
    meet(lambda: api(board.cm).post(url, body, format="json"), by=board.cm)


def posted_and_sent(client, change, audience):
    """Post a status update from the CCB page, then deliver its messages (the outbox worker's job)."""
    from qms.services import notification_deliver

    url = reverse("emergencies:ccb-status-update", args=[change.identifier])
    body = {"update-audience": audience, "update-current_status": "Fleet grounded", "update-next_steps": "Patch"}
    response = client.post(url, body)
    for row in Notification.objects.filter(dedupe_key__startswith="status-update:"):
        notification_deliver(notification_id=row.pk)
    return response


@meets("status_update")
def _status_update(meet):
    board = make_board(user_factory)
    change = cmwf_change(board.cm)
    meet(lambda: posted_and_sent(page(board.eng), change, "internal"), by=board.eng)


@meets("external_notification")
def _external_notification(meet):
    from qms.models import NotificationChannel

    board = make_board(user_factory)
    change = cmwf_change(board.cm)
    NotificationChannel.objects.create(
        name="Operators", kind="email", destination="ops@example.com", audience="external", events=["status_update"]
    )
    meet(lambda: posted_and_sent(page(board.program), change, "external"), by=board.program)


def regulatory_form(**extra):
    return {
        "regulatory-authority": "EASA",
        "regulatory-notified_at": timezone.localtime().strftime("%Y-%m-%dT%H:%M"),
        "regulatory-reference": "EASA-2026-118",
        "regulatory-description": "Mode 3 hazard, patch 4.2.1",
        "regulatory-follow_up_commitment": "Compliance evidence within 30 days",
        **extra,
    }


@meets("regulatory_notification")
def _regulatory_notification(meet):
    board = make_board(user_factory)
    change = cmwf_change(board.cm, safety_related=True)
    url = reverse("emergencies:ccb-regulatory", args=[change.identifier])
    meet(lambda: page(board.certlead).post(url, regulatory_form()), by=board.certlead)


# --- the patch package's follow-up documentation (CM-WF-EMERGENCY §11.2) ------------------------------------------


def follow_up_post(change, actor, key):
    url = reverse("emergencies:patch-follow-up", args=[change.identifier, key])
    return page(actor).post(url, {f"fu-{key}-evidence": f"{key} in the DMS", f"fu-{key}-reference": "DMS-77"})


@meets("follow_up_doc")
def _follow_up_doc(meet):
    change = deployed_cm_wf_change(user(Role.ONCALL), make_board(user_factory))
    meet(lambda: follow_up_post(change, change.author, "sbom"), by=change.author)


@meets("follow_up_documentation")
def _follow_up_documentation(meet):
    change = deployed_cm_wf_change(user(Role.ONCALL), make_board(user_factory))
    *first, (last, _label) = FOLLOW_UP_ITEMS
    for key, _label in first:
        patches.follow_up_document_complete(
            change_id=change.pk, key=key, actor=change.author, evidence="e", reference=""
        )
    assert FollowUpDocument.objects.filter(change=change).count() == len(first)
    meet(lambda: follow_up_post(change, change.author, last), by=change.author)


# --- clocks met by recording them done with evidence (the change's Clocks panel) -------------------------------------


def evidence_post(kind, actor):
    obligation = of_kind(kind).filter(satisfied_at__isnull=True).get()
    url = reverse("audits:obligation-evidence", args=[obligation.pk])
    return page(actor).post(url, {"evidence": f"{kind}: done, see DMS-101"})


SEVERITY_OF = {
    "board_notification": "S1",
    "incident_review": "S1",
    "executive_summary": "S2",
    "team_notification": "S3",
    "technical_debt": "S4",
}


@meets(*SEVERITY_OF)
def _severity_action(meet):
    kind = meet.kind
    author, commander, _ = people()
    change = file_stub(author, procedure_code=QMS_V1, commander=commander)
    if SEVERITY_OF[kind] != "S1":
        incident_update(
            incident_id=change.incident_id, actor=commander, reason="reclassified", severity=SEVERITY_OF[kind]
        )
    meet(lambda: evidence_post(kind, commander), by=commander)


@meets("post_deployment_monitoring", "lessons_learned", "formal_release")
def _post_deployment(meet):
    change = deployed_cm_wf_change(user(Role.ONCALL), make_board(user_factory))
    communication.status_update_post(
        change_id=change.pk,
        data=communication.StatusUpdateInput(current_status="Day 30: no new issues, no rollback"),
        actor=change.author,
    )
    recorder = user(Role.RELEASE) if meet.kind == "formal_release" else user(Role.QMS)
    meet(lambda: evidence_post(meet.kind, recorder), by=recorder)


@meets("regulatory_follow_up")
def _regulatory_follow_up(meet):
    board = make_board(user_factory)
    change = cmwf_change(board.cm, safety_related=True)
    due = (timezone.now() + timedelta(days=30)).date().isoformat()
    form = regulatory_form(
        **{"regulatory-follow_up_commitment": "Evidence in 30 days", "regulatory-follow_up_due": due}
    )
    page(board.certlead).post(reverse("emergencies:ccb-regulatory", args=[change.identifier]), form)
    meet(lambda: evidence_post("regulatory_follow_up", board.certlead), by=board.certlead)


# --- people: training that qualifies signers --------------------------------------------------------------------


@meets("recertification")
def _recertification(meet):
    from audits.receivers.training import training_expiry_sweep
    from tests.factories import certify

    holder, coordinator = user(Role.COMMANDER, trained=False), user(Role.QMS)
    today = timezone.localdate()
    certify(holder, ["incident_response_protocols"], completed_on=today - timedelta(days=350))
    assert training_expiry_sweep() >= 1
    form = {"user": holder.pk, "course": "incident_response_protocols", "completed_on": today.isoformat()}
    form["evidence_reference"] = "LMS-2026-118"
    meet(lambda: page(coordinator).post(reverse("qms:training-record"), form), by=coordinator)


@meets("training_deviation")
def _training_deviation(meet):
    author, commander, _ = people()
    change = file_stub(author, commander=commander)  # the Emergency Bypass Workflow allows the deviation
    bypass = BypassRequest.objects.get(change=change)
    untrained = user(Role.COMMANDER, trained=False)
    url = reverse("emergencies:bypass-sign", args=[bypass.identifier])
    response = page(untrained).post(url, {"role": "commander", "password": PASSWORD})
    assert response.status_code == 302, _errors(response)
    coordinator = user(Role.QMS)
    courses = bypass.rules.required_courses(Role.COMMANDER)
    body = {"user": untrained.username, "completed_on": timezone.localdate().isoformat(), "evidence_reference": "C-1"}

    def record_all():
        for course in courses:
            response = api(coordinator).post(reverse("api-training-records"), {**body, "course": course}, format="json")
        return response

    meet(record_all, by=coordinator)


# --- the tests ------------------------------------------------------------------------------------------------------


def test_every_kind_has_a_test_that_meets_it():
    missing = KINDS - set(MEET) - set(ELSEWHERE)
    assert not missing, f"no test meets these kinds through the UI or API: {sorted(missing)}"
    assert not (set(MEET) | set(ELSEWHERE)) - KINDS, "a test for a kind that no longer exists"
    for ref in ELSEWHERE.values():
        module, name = ref.split("::")
        assert callable(getattr(import_module(module), name, None)), ref


@pytest.mark.parametrize("kind", sorted(MEET))
def test_the_kind_is_met_through_the_ui_or_api(kind):
    MEET[kind](Meeting(kind))
