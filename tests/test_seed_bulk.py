"""seed_bulk: realistic data at scale that the portal's own rules accept (small N here; 10^5 in the bench)."""

import re
from collections import Counter
from datetime import UTC, datetime

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import override_settings
from django.urls import reverse

from audits.management.bulk import PATHS, seed_bulk
from audits.models import AuditEvent, Obligation
from audits.receivers.lifecycle import VOIDED_BYPASS_NOTE
from audits.services import audit_chain_verify
from emergencies.models import (
    ActionItem,
    BypassRemediation,
    BypassRequest,
    CCBMember,
    CCBSession,
    ChangeRecord,
    GateDecision,
    GateResult,
    Incident,
    PostMortem,
    Vote,
)
from emergencies.selectors.ccb import ccb_session_tally
from emergencies.services.bypasses import bypass_slot_status
from emergencies.services.bypasses.requests import _validate_request
from emergencies.services.gates import ccb_closure_problems
from emergencies.services.postincident import POST_MORTEM_APPROVER_ROLES, gates_not_cleared
from qms.models import Notification, Signature, User
from qms.procedures import CHECK_CATALOGUE
from qms.roles import Role
from qms.services import content_hash
from tests.factories import file_stub

Status = ChangeRecord.Status
IDENTIFIER = re.compile(r"^CHG-EMG-\d{8}-\d{4}(-\d{2})?$")
TICKET = re.compile(r"^INC-\d{8}-\d{4}(-\d{2})?$")
BYPASS_ID = re.compile(r"^BYPASS-(L1|L2|L3|E)-\d{8}-\d{6}(-\d{2})?$")
AUTHORISED = {s for s, path in PATHS.items() if "authorize_bypass" in path}


@pytest.fixture
def seeded(db, oncall):
    # A change filed the normal way first: the seed must append to an existing chain, not start one.
    filed = file_stub(oncall)
    filed.chain_position_before_seed = AuditEvent.objects.order_by("-position").values_list("position", flat=True)[0]
    filed.bypass = BypassRequest.objects.get(change=filed)
    call_command("seed_bulk", changes=200, force=True, verbosity=0)
    return filed


def _of(model, pk) -> dict:
    return {"subject_type": ContentType.objects.get_for_model(model), "subject_id": pk}


def test_every_state_is_present_with_consistent_fields(seeded):
    changes = ChangeRecord.objects.exclude(pk=seeded.pk)
    assert changes.count() == 200
    # Every state of the emergency lifecycle (the standard lifecycle's are follow-ups', which this seed leaves out).
    standard_only = {Status.DRAFT, Status.APPROVED, Status.IMPLEMENTED, Status.VERIFIED}
    assert set(changes.values_list("status", flat=True)) == set(Status.values) - standard_only
    assert Incident.objects.count() == 201
    for change in changes.select_related("incident", "procedure_version"):
        assert IDENTIFIER.match(change.identifier), change.identifier
        assert TICKET.match(change.incident.ticket), change.incident.ticket
        assert change.identifier.startswith(f"CHG-EMG-{change.declared_at.astimezone(UTC):%Y%m%d-%H%M}")
        path = PATHS[change.status]
        assert (change.bypass_authorised_at is not None) == ("authorize_bypass" in path)
        assert (change.deployed_at is not None) == ("deploy" in path)
        assert (change.resolved_at is not None) == ("resolve" in path)
        assert change.resolved_at == change.incident.resolved_at
        assert (change.closed_at is not None) == (change.status == Status.CLOSED)
        assert change.level == ("standard" if change.status == Status.CONVERTED else "emergency")
        if change.status == Status.CLOSED:
            assert change.documentation_completed_at is not None and change.lessons_learned
        if change.documentation_completed_at:
            assert change.resolved_at < change.documentation_completed_at < (change.closed_at or datetime.now(UTC))
    one_per_state = {c.status: c for c in changes}
    for change in one_per_state.values():
        # The model's own validation and constraints accept what was generated (status is FSM-protected).
        change.full_clean(exclude=["status"])


def test_history_follows_each_transition(seeded):
    for change in ChangeRecord.objects.exclude(pk=seeded.pk):
        rows = list(change.history.order_by("history_date", "history_id"))
        steps = PATHS[change.status]
        documented = 1 if change.documentation_completed_at else 0
        assert len(rows) == 1 + len(steps) + documented, change.identifier
        assert rows[0].history_type == "+" and rows[0].status == Status.STUB
        assert rows[-1].status == change.status
        assert all(r.history_user_id for r in rows), "history names who did it"


def test_the_emergency_bypass_follows_its_change(seeded):
    """Pending while a stub, active once every authoriser the procedure names has signed (the last one
    authorises the change), remediated when every bypassed gate is validated: always before closure."""
    for change in ChangeRecord.objects.exclude(pk=seeded.pk).select_related("incident", "procedure_version"):
        (bypass,) = BypassRequest.objects.filter(change=change).select_related("procedure_version", "incident")
        assert BYPASS_ID.match(bypass.identifier) and bypass.level == "E"
        assert bypass.checks == list(CHECK_CATALOGUE) and bypass.requested_at == change.declared_at
        slots = bypass_slot_status(bypass)  # the service's own reading: current signatures matching the content
        signatures = Signature.objects.filter(**_of(BypassRequest, bypass.pk), meaning="approved")
        assert all(s.signer_id != change.author_id for s in signatures), "nobody approves their own request"
        if change.status not in AUTHORISED:
            assert bypass.status == "pending" and not all(s.filled for s in slots)
            assert not Obligation.objects.filter(**_of(BypassRequest, bypass.pk), kind="remediation").exists()
            continue
        assert all(s.filled for s in slots), (change.identifier, [(s.label, s.filled) for s in slots])
        assert bypass.decided_at == change.bypass_authorised_at
        last = signatures.order_by("-signed_at").first()
        assert change.bypass_authorised_by_id == (last.recorded_by_id or last.signer_id)
        remediation = Obligation.objects.filter(**_of(BypassRequest, bypass.pk), kind="remediation")
        assert sorted(remediation.values_list("key", flat=True)) == sorted(CHECK_CATALOGUE)
        cleared = set(GateResult.objects.filter(change=change).values_list("gate", flat=True))
        met = remediation.filter(satisfied_at__isnull=False)
        if change.status == Status.CONVERTED:  # leaving the emergency path voids the bypass's clocks
            assert not cleared and met.count() == len(CHECK_CATALOGUE)
            assert set(met.values_list("satisfaction_note", flat=True)) == {VOIDED_BYPASS_NOTE}
        else:
            assert set(met.values_list("key", flat=True)) == cleared
        assert (bypass.status == "remediated") == (not gates_not_cleared(change))
        assert bypass.status in ("active", "remediated")
        if change.status == Status.CLOSED:
            assert bypass.status == "remediated"
        if change.status in (Status.CONVERTED, Status.BYPASS_AUTHORISED, Status.HOTFIX):
            assert not cleared, "gates are validated after the deploy"
        kinds = [r.history_change_reason for r in bypass.history.order_by("history_date", "history_id")]
        assert kinds[0] == "Emergency bypass requested" and kinds[1].startswith("active: signed by")
        assert len(kinds) == (3 if bypass.status == "remediated" else 2)


def test_standalone_bypasses_pass_the_services_own_checks(seeded):
    standalone = BypassRequest.objects.filter(change__isnull=True).select_related("procedure_version")
    assert 90 <= standalone.count() <= 110  # about half as many as changes
    assert set(standalone.values_list("level", flat=True)) == {"L1", "L2", "L3"}
    assert {"active", "remediated", "rejected", "withdrawn"} <= set(standalone.values_list("status", flat=True))
    for bypass in standalone:
        assert BYPASS_ID.match(bypass.identifier) and bypass.identifier.startswith(f"BYPASS-{bypass.level}-")
        # The decision tree gives its level, and the request carries what that level requires.
        level, branch = bypass.rules.decide_bypass_level(
            production_impact=bypass.production_impact,
            security_or_compliance=bypass.security_involved or bypass.compliance_involved,
            code_quality_only=bypass.code_quality_only,
        )
        assert (level, branch) == (bypass.level, bypass.decision_branch)
        assert _validate_request(bypass, now=bypass.requested_at) == {}, bypass.identifier
        bypass.full_clean(exclude=["status"])
        slots = bypass_slot_status(bypass)
        clocks = Obligation.objects.filter(**_of(BypassRequest, bypass.pk))
        reviews = clocks.filter(kind__startswith="review:")
        assert reviews.count() == len(bypass.rules.bypass_reviews(bypass.level, bypass.flags))
        refusals = Signature.objects.filter(**_of(BypassRequest, bypass.pk), meaning="rejected")
        if bypass.status == "pending":
            assert not all(s.filled for s in slots) and bypass.decided_at is None
            assert not reviews.filter(satisfied_at__isnull=False).exists()
        else:
            assert all(r.satisfied_at == bypass.decided_at for r in reviews)
        granted = bypass.status in ("active", "remediated")
        assert granted == all(s.filled for s in slots)
        assert refusals.count() == (1 if bypass.status == "rejected" else 0)
        assert bool(bypass.rejection_reason) == (bypass.status == "rejected")
        remediation = clocks.filter(kind="remediation")
        assert sorted(remediation.values_list("key", flat=True)) == (sorted(bypass.checks) if granted else [])
        # A remediation clock is met exactly when a lead other than the requester showed its check to pass,
        # and the bypass is remediated once every check it skipped is.
        records = {r.gate: r for r in BypassRemediation.objects.filter(bypass=bypass).select_related("validated_by")}
        assert set(remediation.filter(satisfied_at__isnull=False).values_list("key", flat=True)) == set(records)
        assert all(r.validated_by_id != bypass.requested_by_id for r in records.values())
        assert all(r.validated_by.has_role(Role.LEAD) and r.validated_at >= bypass.decided_at for r in records.values())
        assert (bypass.status == "remediated") == (granted and set(records) == set(bypass.checks))
        owner = bypass.owner_of_remediation
        assert all(o.owner_id == owner.pk for o in remediation)


def test_signatures_are_valid_and_each_has_its_audit_event(seeded):
    signatures = Signature.objects.exclude(**_of(ChangeRecord, seeded.pk)).select_related("signer", "recorded_by")
    assert signatures.count() > 500
    meanings = Counter(signatures.values_list("meaning", "method"))
    assert (
        meanings["approved", "e_signature"] and meanings["approved", "verbal"] and meanings["confirmed", "e_signature"]
    )
    assert meanings["rejected", "e_signature"] and meanings["reviewed", "e_signature"]
    for signature in signatures:
        signature.full_clean()
        assert signature.signer.has_role(Role(signature.role)), "signed in a role the signer holds"
        assert signature.signer_name == signature.signer.display_name and len(signature.content_hash) == 64
        assert (signature.recorded_by_id is not None) == (signature.method != "e_signature")
        assert signature.approved_at <= signature.signed_at
    for verbal in signatures.filter(method="verbal"):
        confirmed = Signature.objects.filter(confirms=verbal, meaning="confirmed", signer=verbal.signer).exists()
        clock = Obligation.objects.get(
            **_of(BypassRequest, verbal.subject_id), kind="verbal_confirmation", key=str(verbal.pk)
        )
        assert clock.owner_id == verbal.signer_id and (clock.satisfied_at is not None) == confirmed
    appended = AuditEvent.objects.filter(position__gt=seeded.chain_position_before_seed)
    assert appended.filter(action__startswith="signature.").count() == signatures.count()


def test_ccb_sessions_for_the_procedure_that_has_a_board(seeded):
    sessions = CCBSession.objects.select_related("change__incident", "change__procedure_version", "chair")
    cm_wf = ChangeRecord.objects.filter(procedure_version__procedure__code="cm-wf-emergency")
    assert set(sessions.values_list("change__procedure_version__procedure__code", flat=True)) == {"cm-wf-emergency"}
    assert set(sessions.filter(gate="fast_track").values_list("change_id", flat=True)) == set(
        cm_wf.values_list("pk", flat=True)
    )
    assert GateDecision.objects.filter(gate="declare").count() == cm_wf.count()
    statuses = Counter(sessions.values_list("status", flat=True))
    assert statuses["decided"] and statuses["open"]
    assert sessions.filter(status="open", votes__isnull=False).exists(), "the session page has live data"
    for session in sessions:
        session.full_clean(exclude=["status"])
        tally = ccb_session_tally(session=session)
        members = CCBMember.objects.filter(session=session)
        assert members.filter(user=session.chair, role=Role.CM).exists()
        assert {s.seat.role.value for s in tally.seats} <= set(members.values_list("role", flat=True))
        clocks = Obligation.objects.filter(**_of(CCBSession, session.pk))
        assert clocks.filter(kind="ccb_vote").count() == members.count()
        voted = {str(m.member.user_id) for m in tally.members if m.vote}
        met = set(clocks.filter(kind="ccb_vote", satisfied_at__isnull=False).values_list("key", flat=True))
        for vote in Vote.objects.filter(session=session).select_related("signature"):
            assert vote.signature.signer_id == vote.voter_id and vote.signature.role == vote.role
            assert vote.supersedes is None or vote.supersedes.member_id == vote.member_id
        if session.status == "decided":
            # The decision agrees with the decision rule for the votes, signed, and passes or fails the gate.
            assert tally.quorum and tally.rule_outcome == session.outcome, (session, tally.counts)
            assert session.decision_signature.signer_id == session.decided_by_id
            assert session.decided_by_id in tally.decider_user_ids
            decision = GateDecision.objects.get(session=session)
            assert decision.result == ("passed" if session.outcome == "approve" else "failed")
            assert not clocks.filter(satisfied_at__isnull=True).exists()
        else:
            assert met == voted
            assert clocks.get(kind="ccb_decision").satisfied_at is None
            if session.outcome == "more_info":
                assert session.deferrals == 1 and session.questions and session.decision_signature_id
    for change in cm_wf.filter(status=Status.CONVERTED):
        assert change.false_alarm and GateDecision.objects.filter(change=change, gate="fast_track", result="failed")
    for change in cm_wf.filter(status=Status.CLOSED).select_related("procedure_version", "incident"):
        assert ccb_closure_problems(change) == [], "Gate 4 passed before closure"


def test_post_mortems_and_action_items_for_resolved_changes(seeded):
    post_mortems = PostMortem.objects.select_related("change__procedure_version__procedure")
    assert set(post_mortems.values_list("change__status", flat=True)) == {Status.CLOSED, Status.POST_INCIDENT}
    closed = ChangeRecord.objects.filter(status=Status.CLOSED)
    assert set(closed.values_list("pk", flat=True)) <= set(post_mortems.values_list("change_id", flat=True))
    assert set(post_mortems.values_list("status", flat=True)) == {"draft", "in_review", "approved"}
    for pm in post_mortems:
        pm.full_clean(exclude=["status"])
        change = pm.change
        assert pm.timeline.count() == 4 and pm.incident_end == change.resolved_at
        # The procedure's post-mortem clock, where it has one (CM-WF-EMERGENCY does not).
        clock = Obligation.objects.filter(**_of(ChangeRecord, change.pk), kind="post_mortem").first()
        assert (clock is None) == (change.procedure_version.procedure.code == "cm-wf-emergency")
        signatures = Signature.objects.filter(**_of(PostMortem, pm.pk))
        if pm.status == "approved":
            (signature,) = signatures
            assert signature.content_hash == content_hash(pm.signable_content()), "signed this very content"
            assert signature.signer_id != pm.author_id and Role(signature.role) in POST_MORTEM_APPROVER_ROLES
            assert clock is None or clock.satisfied_at > pm.approved_at
        else:
            assert not signatures.exists() and (clock is None or clock.satisfied_at is None)
        if change.status == Status.CLOSED:
            assert pm.status == "approved" and pm.approved_at < change.closed_at
        for item in pm.action_items.all():
            obligation = Obligation.objects.get(**_of(ChangeRecord, change.pk), kind="action_item", key=str(item.pk))
            assert obligation.owner_id == item.owner_id
            assert (obligation.satisfied_at is not None) == (item.status == ActionItem.Status.DONE)
            assert obligation.due_at.date() == item.due_date
    assert set(ActionItem.objects.values_list("status", flat=True)) == {"pending", "in_progress", "done"}


def test_clocks_are_met_or_open_as_the_state_implies(seeded):
    changes = ChangeRecord.objects.exclude(pk=seeded.pk).select_related("incident", "procedure_version")
    for change in changes:
        obligations = Obligation.objects.filter(**_of(ChangeRecord, change.pk))
        clocks = {c.kind: c for c in change.rules.clocks(change.incident.severity)}
        procedure = {o.kind: o for o in obligations if o.kind in clocks}
        assert set(procedure) == set(clocks)
        deferred = obligations.filter(kind="full_regression")
        assert deferred.count() == (1 if change.deployed_at else 0)
        if deferred and change.status == Status.CLOSED:
            assert deferred.get().satisfied_at is not None
        if change.status in (Status.CLOSED, Status.CONVERTED):
            assert all(o.satisfied_at is not None for o in procedure.values()), change.identifier
        if change.status == Status.STUB:
            assert all(o.satisfied_at is None for o in procedure.values())
        if change.status == Status.POST_INCIDENT and "triage" in procedure:
            assert procedure["triage"].satisfied_at is not None
            assert procedure["triage"].satisfied_by_id == change.bypass_authorised_by_id
        if "documentation" in procedure and change.status != Status.CONVERTED:  # converted: voided
            assert (procedure["documentation"].satisfied_at is not None) == bool(change.documentation_completed_at)
        for kind, o in procedure.items():
            rows = o.history.count()
            if change.resolved_at and clocks[kind].anchor == "resolved":
                assert o.due_at == clocks[kind].due(change.resolved_at), "re-anchored at resolution"
                assert rows == 2 + (1 if o.satisfied_at else 0)
            else:
                assert rows == (2 if o.satisfied_at else 1)
    assert set(Obligation.objects.values_list("escalation_level", flat=True)) == {0}, "left for the sweep"
    assert Obligation.objects.filter(satisfied_at__isnull=True, due_at__lt=datetime.now(UTC)).exists()


def test_audit_trail_is_a_valid_chain_appended_to_the_existing_one(seeded):
    report = audit_chain_verify()
    assert report.ok, report.problem
    appended = AuditEvent.objects.filter(position__gt=seeded.chain_position_before_seed)
    assert not appended.filter(subject_id=str(seeded.pk), subject_type="emergencies.changerecord").exists()
    actions = Counter(appended.values_list("action", flat=True))
    assert actions["change.filed"] == 200
    transitions = sum(
        len(PATHS[s]) for s in ChangeRecord.objects.exclude(pk=seeded.pk).values_list("status", flat=True)
    )
    steps = {name for path in PATHS.values() for name in path}
    assert sum(actions[f"change.{name}"] for name in steps) == transitions
    bypasses = BypassRequest.objects.exclude(pk=seeded.bypass.pk)
    assert actions["bypass.requested"] == bypasses.count()
    assert actions["bypass.activate"] == bypasses.exclude(status__in=["pending", "rejected", "withdrawn"]).count()
    assert actions["bypass.mark_remediated"] == bypasses.filter(status="remediated").count()
    assert actions["ccb.vote"] == Vote.objects.count() and actions["ccb.convened"] == CCBSession.objects.count()
    assert actions["post_mortem.approve"] == PostMortem.objects.filter(status="approved").count()
    assert sum(actions[a] for a in ("gate.passed", "gate.waived")) == GateResult.objects.count()
    opened = sum(len(e.after["clocks"]) for e in appended.filter(action="obligation.opened"))
    assert opened == Obligation.objects.count() - Obligation.objects.filter(**_of(ChangeRecord, seeded.pk)).count()
    satisfied = Obligation.objects.filter(satisfied_at__isnull=False).exclude(**_of(ChangeRecord, seeded.pk))
    assert actions["obligation.satisfied"] == satisfied.count()


def test_every_foreign_key_and_constraint_holds(seeded):
    # The foreign keys are deferred to the end of the transaction, which a test never reaches: check them now.
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def test_notifications_are_sent_once_per_recipient(seeded):
    notifications = Notification.objects.exclude(dedupe_key__startswith=f"change-filed:{seeded.pk}:")
    assert notifications.count() == 200
    assert notifications.filter(sent_at__isnull=False, attempts=1).count() >= 199  # the newest may be in flight


def test_pages_render_the_seeded_data(seeded, client):
    client.force_login(User.objects.get(username="seed-commander-1"))
    closed = ChangeRecord.objects.filter(status=Status.CLOSED, procedure_version__procedure__code="cm-wf-emergency")
    change = closed.first()
    session = CCBSession.objects.filter(status="open", votes__isnull=False).first()
    urls = [
        reverse("qms:dashboard"),
        reverse("emergencies:change-list"),
        reverse("emergencies:change-detail", kwargs={"identifier": change.identifier}),
        reverse("emergencies:post-mortem", kwargs={"identifier": change.identifier}),
        reverse("emergencies:ccb-change-gates", kwargs={"identifier": change.identifier}),
        reverse("emergencies:bypass-list"),
        reverse("emergencies:ccb-list"),
        reverse("emergencies:validation-list"),
        session.get_absolute_url(),
        *(b.get_absolute_url() for b in BypassRequest.objects.filter(level__in=["E", "L2"], status="active")[:2]),
    ]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
    page = client.get(session.get_absolute_url()).content.decode()
    voter = Vote.objects.filter(session=session).select_related("voter").first().voter
    assert voter.display_name in page


def test_same_minute_identifiers_get_suffixes_and_the_chain_holds(db):
    now = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    seed_bulk(changes=40, days=1, now=now, seed=1)
    seed_bulk(changes=40, days=1, now=now, seed=1)  # the very same times again
    identifiers = list(ChangeRecord.objects.values_list("identifier", flat=True))
    assert len(set(identifiers)) == 80
    assert sum(1 for i in identifiers if i.endswith("-02")) >= 40
    assert len(set(Incident.objects.values_list("ticket", flat=True))) == 80
    bypasses = list(BypassRequest.objects.values_list("identifier", flat=True))
    assert sum(1 for i in bypasses if i.endswith("-02")) >= len(bypasses) // 2
    assert audit_chain_verify().ok


@override_settings(DEBUG=False)
def test_refuses_without_debug_unless_forced(db):
    with pytest.raises(CommandError, match="--force"):
        call_command("seed_bulk", changes=1, verbosity=0)
    assert not ChangeRecord.objects.exists()
