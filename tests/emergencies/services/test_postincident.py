from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from audits.models import Obligation
from emergencies.documents import change_full_markdown, change_full_pdf, post_mortem_markdown
from emergencies.models import BypassRequest, ChangeRecord, GateResult, PostMortem
from emergencies.services import change_record_transition
from emergencies.services.postincident import (
    action_item_add,
    action_item_set_status,
    change_documentation_update,
    closure_problems,
    gate_catalogue,
    gate_result_record,
    hotfix_review_record,
    parse_timeline,
    post_mortem_approve,
    post_mortem_start,
    post_mortem_submit,
    post_mortem_update,
    preventive_measure_add,
    preventive_measure_follow_up_create,
    rollback_reading_record,
)
from emergencies.validation import findings
from qms.roles import Role
from tests.factories import PASSWORD, authorise, deploy_and_resolve, file_stub, proceed_unauthorised, ready_to_deploy

pytestmark = pytest.mark.django_db
S = ChangeRecord.Status
DOCS = {
    "root_cause": "Connection pool exhausted by a retry storm",
    "impact_assessment": "All checkouts failed for 42 minutes",
    "timeline": "02:40 detected; 02:45 declared; 03:10 deployed",
    "affected_artifacts": "payments-api v2.3.1",
    "resolution": "Capped retries and raised the pool size",
    "lessons_learned": "Retry budgets need alerts",
}
PM_FIELDS = {
    "why_1": "Checkout failed",
    "why_2": "Pool exhausted",
    "why_3": "Retry storm",
    "why_4": "No retry budget",
    "why_5": "Client library default never reviewed",
    "resolution": "Capped retries",
    "went_well": "Fast triage",
    "went_poorly": "Alert fired late",
    "got_lucky": "Low traffic hour",
    "users_affected": 1200,
    "revenue_impact": "EUR 30k",
    "contributing_factors": "Old client library\nNo load test",
}


@pytest.fixture
def reviewer(make_user):
    return make_user(Role.ONCALL, username="reviewer", first_name="Rae", last_name="Reviewer")


@pytest.fixture
def validator(make_user):
    return make_user(Role.QUALITY, Role.QMS, username="validator", first_name="Vera", last_name="Validator")


@pytest.fixture
def change(oncall, commander):
    change = file_stub(oncall, commander=commander)
    authorise(change, commander)
    return change


def move(change, name, actor, reason="step"):
    return change_record_transition(change_id=change.pk, transition=name, actor=actor, reason=reason)


# --- hotfix rules and deployment ------------------------------------------------------------------------


def test_deploy_is_refused_until_the_checklist_is_complete(change, oncall, reviewer):
    move(change, "start_hotfix", oncall)
    with pytest.raises(ValidationError) as exc:
        move(change, "deploy", oncall)
    text = " ".join(exc.value.messages)
    for item in (
        "Code change reviewed by second engineer",
        "Smoke test passed",
        "Rollback plan ready",
        "Monitoring dashboards open",
        "On-call team notified",
        "Deployment notification sent",
    ):
        assert item in text
    change.refresh_from_db()
    assert change.status == S.HOTFIX
    ready_to_deploy(change, reviewer)
    assert move(change, "deploy", oncall).status == S.DEPLOYED


def test_the_author_is_never_the_second_engineer(change, oncall):
    with pytest.raises(PermissionDenied):
        hotfix_review_record(change_id=change.pk, reviewer=oncall)


def test_security_incidents_also_need_the_security_scan(oncall, commander, security, reviewer):
    change = file_stub(oncall, category="critical_security", cvss_score=Decimal("9.6"), commander=commander)
    authorise(change, security, commander)
    move(change, "start_hotfix", oncall)
    ready_to_deploy(change, reviewer)  # ticks every flag, the scan included
    from emergencies.services.postincident import change_deployment_flag_set

    change_deployment_flag_set(change_id=change.pk, flag="security_scan_passed", done=False, actor=oncall)
    with pytest.raises(ValidationError, match="Security scan"):
        move(change, "deploy", oncall)


def test_deploying_defers_full_regression_as_an_obligation(change, oncall, reviewer):
    move(change, "start_hotfix", oncall)
    ready_to_deploy(change, reviewer)
    move(change, "deploy", oncall)
    regression = Obligation.objects.get(kind="full_regression", subject_id=change.pk)
    assert regression.owner == oncall
    assert regression.satisfied_at is None


@pytest.mark.parametrize(
    ("error", "ratio", "critical", "actions"),
    [
        ("5.00", "2.00", 0, []),
        ("5.01", "1.00", 0, ["Rollback"]),
        ("0", "2.01", 0, ["Evaluate"]),
        ("0", "1.0", 1, ["Rollback"]),
        ("7", "3", 2, ["Rollback", "Evaluate", "Rollback"]),
    ],
)
def test_rollback_triggers_show_the_action_they_call_for(change, oncall, reviewer, error, ratio, critical, actions):
    move(change, "start_hotfix", oncall)
    ready_to_deploy(change, reviewer)
    move(change, "deploy", oncall)
    reading = rollback_reading_record(
        change_id=change.pk,
        actor=oncall,
        error_rate_increase_pct=Decimal(error),
        response_time_ratio=Decimal(ratio),
        new_critical_errors=critical,
    )
    assert [a for _, a in reading.triggered()] == actions


def test_rollback_moves_the_change_to_rolled_back_with_its_reason(change, oncall, reviewer):
    move(change, "start_hotfix", oncall)
    ready_to_deploy(change, reviewer)
    move(change, "deploy", oncall)
    with pytest.raises(ValidationError):
        move(change, "roll_back", oncall, reason="")
    change = move(change, "roll_back", oncall, reason="Error rate +7% after deploy")
    assert change.status == S.ROLLED_BACK
    assert change.history.first().history_change_reason == "Error rate +7% after deploy"


# --- documentation and resolution clocks ------------------------------------------------------------------


def test_documentation_and_post_mortem_clocks_run_from_resolution(change, oncall, commander, reviewer):
    change = deploy_and_resolve(change, reviewer=reviewer, commander=commander)
    assert change.resolved_at is not None
    docs = Obligation.objects.get(kind="documentation", subject_id=change.pk)
    pm = Obligation.objects.get(kind="post_mortem", subject_id=change.pk)
    assert docs.due_at == change.resolved_at + timedelta(hours=24)
    assert pm.due_at == change.resolved_at + timedelta(hours=72)


def test_completing_the_documentation_meets_its_clock(change, oncall):
    change_documentation_update(change_id=change.pk, actor=oncall, sections=dict(list(DOCS.items())[:3]))
    assert Obligation.objects.get(kind="documentation", subject_id=change.pk).satisfied_at is None
    change = change_documentation_update(change_id=change.pk, actor=oncall, sections=DOCS)
    assert change.documentation_completed_at is not None
    assert Obligation.objects.get(kind="documentation", subject_id=change.pk).satisfied_at is not None
    with pytest.raises(ValidationError):
        change_documentation_update(change_id=change.pk, actor=oncall, sections={"problem_statement": " "})


# --- post-mortem ------------------------------------------------------------------------------------------


@pytest.fixture
def resolved(change, commander, reviewer):
    return deploy_and_resolve(change, reviewer=reviewer, commander=commander)


def _full_post_mortem(change, oncall):
    pm = post_mortem_start(change_id=change.pk, actor=oncall)
    post_mortem_update(
        post_mortem_id=pm.pk,
        actor=oncall,
        fields=PM_FIELDS,
        timeline_text="2026-11-23 02:40 Incident detected\n2026-11-23 02:45 P1 declared",
    )
    return pm


def test_post_mortem_starts_with_the_timeline_so_far(resolved, oncall):
    pm = post_mortem_start(change_id=resolved.pk, actor=oncall)
    events = [row.event for row in pm.timeline.all()]
    assert events == [
        "Incident declared, emergency stub filed",
        "Bypass authorized",
        "Hotfix deployed",
        "Resolution confirmed",
    ]


def test_timeline_lines_are_parsed_or_refused():
    rows = parse_timeline("2026-11-23 02:45 P1 declared\n\n2026-11-23 02:40 — Incident detected")
    assert [e for _, e in rows] == ["Incident detected", "P1 declared"]
    with pytest.raises(ValidationError) as exc:
        parse_timeline("yesterday something broke")
    assert "Line 1" in exc.value.message_dict["timeline"][0]


def test_submit_needs_the_five_whys(resolved, oncall):
    pm = post_mortem_start(change_id=resolved.pk, actor=oncall)
    with pytest.raises(ValidationError, match="EMG-W003"):
        post_mortem_submit(post_mortem_id=pm.pk, actor=oncall)


def test_post_mortem_is_approved_by_signature_never_by_its_author(resolved, oncall, commander, make_user):
    both = make_user(Role.ONCALL, Role.COMMANDER)
    pm = _full_post_mortem(resolved, oncall)
    post_mortem_submit(post_mortem_id=pm.pk, actor=oncall)
    with pytest.raises(PermissionDenied):
        post_mortem_approve(post_mortem_id=pm.pk, signer=oncall, password=PASSWORD, role=Role.ONCALL)
    with pytest.raises(ValidationError):
        post_mortem_approve(post_mortem_id=pm.pk, signer=commander, password="wrong", role=Role.COMMANDER)
    pm = post_mortem_approve(post_mortem_id=pm.pk, signer=commander, password=PASSWORD, role=Role.COMMANDER)
    assert pm.status == PostMortem.Status.APPROVED
    assert Obligation.objects.get(kind="post_mortem", subject_id=resolved.pk).satisfied_at is not None
    del both


def test_action_items_are_obligations_with_owner_and_due_date(resolved, oncall, reviewer):
    pm = _full_post_mortem(resolved, oncall)
    due = timezone.now().date() + timedelta(days=7)
    item = action_item_add(
        post_mortem_id=pm.pk, actor=oncall, action="Add retry budget alert", owner=reviewer, due_date=due
    )
    obligation = Obligation.objects.get(kind="action_item", key=str(item.pk))
    assert obligation.owner == reviewer
    assert obligation.due_at == datetime.combine(due, datetime.min.time().replace(hour=23, minute=59), tzinfo=UTC)
    with pytest.raises(ValidationError):
        action_item_add(post_mortem_id=pm.pk, actor=oncall, action="x", owner=reviewer, due_date=date(2000, 1, 1))
    action_item_set_status(item_id=item.pk, actor=reviewer, status="done")
    obligation.refresh_from_db()
    assert obligation.satisfied_at is not None


def test_preventive_measure_becomes_a_linked_follow_up_in_one_click(resolved, oncall):
    pm = _full_post_mortem(resolved, oncall)
    measure = preventive_measure_add(
        post_mortem_id=pm.pk, actor=oncall, measure="Alert on retry storms", category="monitoring", priority="High"
    )
    follow_up = preventive_measure_follow_up_create(measure_id=measure.pk, actor=oncall)
    assert follow_up.identifier.startswith("CHG-") and not follow_up.identifier.startswith("CHG-EMG-")
    assert follow_up.parent == resolved
    assert follow_up.source == ChangeRecord.Source.PREVENTIVE
    assert follow_up.level == ChangeRecord.Level.STANDARD
    assert list(resolved.follow_ups.all()) == [follow_up]
    measure.refresh_from_db()
    assert measure.follow_up == follow_up
    assert preventive_measure_follow_up_create(measure_id=measure.pk, actor=oncall) == follow_up  # one, not two
    assert not BypassRequest.objects.filter(change=follow_up).exists()


# --- retroactive gates ------------------------------------------------------------------------------------


def test_every_bypassed_gate_gets_a_result_that_meets_its_remediation(resolved, oncall, validator):
    bypass = BypassRequest.objects.get(change=resolved)
    gates = gate_catalogue(resolved)
    assert gates == bypass.checks
    with pytest.raises(PermissionDenied):
        gate_result_record(change_id=resolved.pk, gate=gates[0], result="passed", evidence="CI run", actor=oncall)
    with pytest.raises(ValidationError):
        gate_result_record(change_id=resolved.pk, gate=gates[0], result="passed", evidence=" ", actor=validator)
    gate_result_record(change_id=resolved.pk, gate=gates[0], result="failed", evidence="lint fails", actor=validator)
    remediation = Obligation.objects.get(subject_id=bypass.pk, kind="remediation", key=gates[0])
    assert remediation.satisfied_at is None  # a failed gate does not satisfy it
    for gate in gates:
        gate_result_record(
            change_id=resolved.pk, gate=gate, result="passed", evidence=f"run for {gate}", actor=validator
        )
    remediation.refresh_from_db()
    assert remediation.satisfied_at is not None
    bypass.refresh_from_db()
    assert bypass.status == BypassRequest.Status.REMEDIATED
    assert Obligation.objects.get(kind="full_regression", subject_id=resolved.pk).satisfied_at is not None
    assert GateResult.objects.filter(change=resolved).count() == len(gates) + 1  # nothing overwritten


def test_waiving_a_gate_needs_a_qms_coordinator(resolved, make_user):
    quality_only = make_user(Role.QUALITY)
    gate = gate_catalogue(resolved)[0]
    with pytest.raises(PermissionDenied):
        gate_result_record(change_id=resolved.pk, gate=gate, result="waived", evidence="n/a", actor=quality_only)


def test_unknown_gate_is_refused(resolved, validator):
    with pytest.raises(ValidationError):
        gate_result_record(change_id=resolved.pk, gate="made_up", result="passed", evidence="x", actor=validator)


# --- closure ----------------------------------------------------------------------------------------------


def _complete_everything(change, oncall, commander, validator):
    change_documentation_update(change_id=change.pk, actor=oncall, sections=DOCS)
    pm = _full_post_mortem(change, oncall)
    measure = preventive_measure_add(
        post_mortem_id=pm.pk, actor=oncall, measure="Retry alert", category="monitoring", priority="High"
    )
    preventive_measure_follow_up_create(measure_id=measure.pk, actor=oncall)
    post_mortem_submit(post_mortem_id=pm.pk, actor=oncall)
    post_mortem_approve(post_mortem_id=pm.pk, signer=commander, password=PASSWORD, role=Role.COMMANDER)
    for gate in gate_catalogue(change):
        gate_result_record(change_id=change.pk, gate=gate, result="passed", evidence="ok", actor=validator)
    from emergencies.services.postincident import change_deployment_flag_set

    change_deployment_flag_set(change_id=change.pk, flag="stakeholders_notified", done=True, actor=oncall)


@pytest.mark.parametrize(
    "missing",
    [
        "Full CHG document complete",
        "Post-mortem conducted",
        "All gates retroactively validated",
        "Follow-up CHGs created",
        "Stakeholders notified",
    ],
)
def test_every_closure_refusal(resolved, oncall, commander, validator, qms_coordinator, missing):
    steps = {
        "Full CHG document complete": lambda: change_documentation_update(
            change_id=resolved.pk, actor=oncall, sections=DOCS
        ),
        "Stakeholders notified": lambda: __import__(
            "emergencies.services.postincident", fromlist=["x"]
        ).change_deployment_flag_set(change_id=resolved.pk, flag="stakeholders_notified", done=True, actor=oncall),
        "All gates retroactively validated": lambda: [
            gate_result_record(change_id=resolved.pk, gate=g, result="passed", evidence="ok", actor=validator)
            for g in gate_catalogue(resolved)
        ],
    }
    for name, step in steps.items():
        if name != missing:
            step()
    pm = _full_post_mortem(resolved, oncall)
    if missing != "Follow-up CHGs created":
        measure = preventive_measure_add(
            post_mortem_id=pm.pk, actor=oncall, measure="Retry alert", category="monitoring", priority="High"
        )
        preventive_measure_follow_up_create(measure_id=measure.pk, actor=oncall)
    if missing != "Post-mortem conducted":
        post_mortem_submit(post_mortem_id=pm.pk, actor=oncall)
        post_mortem_approve(post_mortem_id=pm.pk, signer=commander, password=PASSWORD, role=Role.COMMANDER)
    assert missing in closure_problems(resolved)
    with pytest.raises(ValidationError, match=missing):
        move(resolved, "close", qms_coordinator)
    resolved.refresh_from_db()
    assert resolved.status == S.POST_INCIDENT


def test_closure_when_everything_is_done(resolved, oncall, commander, validator, qms_coordinator):
    _complete_everything(resolved, oncall, commander, validator)
    resolved.refresh_from_db()
    assert closure_problems(resolved) == []
    change = move(resolved, "close", qms_coordinator, "closure checklist complete")
    assert change.status == S.CLOSED
    assert findings(change) == []


def test_closure_hooks_block_closure(resolved, oncall, commander, validator, qms_coordinator):
    from emergencies.services import postincident

    _complete_everything(resolved, oncall, commander, validator)
    postincident.CLOSURE_HOOKS.append(lambda change: ["Configuration audit: unit SN-1 reports a different hash"])
    try:
        with pytest.raises(ValidationError, match="Configuration audit"):
            move(resolved, "close", qms_coordinator)
    finally:
        postincident.CLOSURE_HOOKS.pop()


# --- EMG codes ---------------------------------------------------------------------------------------------


def codes(change, **kwargs):
    return [f.code for f in findings(change, **kwargs)]


def test_emg_e001_raised_by_hotfix_without_authorisation_and_cleared_by_it(oncall, commander):
    change = file_stub(oncall, commander=commander)
    proceed_unauthorised(change, commander)
    change = move(change, "start_hotfix", oncall)
    assert "EMG-E001" in codes(change)
    authorise(change, commander)
    assert "EMG-E001" not in codes(change)


def test_emg_e002_raised_when_the_criteria_no_longer_hold_and_cleared_by_conversion(change, commander):
    incident = change.incident
    incident.category = "p2_incident"
    incident.save()
    assert "EMG-E002" in codes(change)
    move(change, "convert_to_standard", commander, "P2 after all")
    change.refresh_from_db()
    assert "EMG-E002" not in codes(change)


def test_emg_e003_and_w001(change):
    assert "EMG-E003" not in codes(change) and "EMG-W001" not in codes(change)
    change.problem_statement = ""
    change.incident = None
    assert "EMG-E003" in codes(change) and "EMG-W001" in codes(change)


def test_emg_e004_e005_w002_w003(resolved, oncall, commander, validator, qms_coordinator):
    later = resolved.resolved_at + timedelta(hours=73)
    assert codes(resolved, now=resolved.resolved_at + timedelta(hours=1)) == []
    assert {"EMG-E004", "EMG-E005"} <= set(codes(resolved, now=later))
    pm = post_mortem_start(change_id=resolved.pk, actor=oncall)
    assert "EMG-W003" in codes(resolved)
    post_mortem_update(post_mortem_id=pm.pk, actor=oncall, fields=PM_FIELDS)
    assert "EMG-W003" not in codes(resolved)
    measure = preventive_measure_add(
        post_mortem_id=pm.pk, actor=oncall, measure="Alert", category="monitoring", priority="High"
    )
    assert "EMG-W002" in codes(resolved)
    preventive_measure_follow_up_create(measure_id=measure.pk, actor=oncall)
    assert "EMG-W002" not in codes(resolved)
    _complete_everything_after_pm(resolved, pm, oncall, commander, validator)
    move(resolved, "close", qms_coordinator)
    resolved.refresh_from_db()
    assert codes(resolved, now=later) == []


def _complete_everything_after_pm(change, pm, oncall, commander, validator):
    from emergencies.services.postincident import change_deployment_flag_set

    change_documentation_update(change_id=change.pk, actor=oncall, sections=DOCS)
    post_mortem_update(post_mortem_id=pm.pk, actor=oncall, fields={}, timeline_text="2026-11-23 02:40 detected")
    post_mortem_submit(post_mortem_id=pm.pk, actor=oncall)
    post_mortem_approve(post_mortem_id=pm.pk, signer=commander, password=PASSWORD, role=Role.COMMANDER)
    for gate in gate_catalogue(change):
        gate_result_record(change_id=change.pk, gate=gate, result="passed", evidence="ok", actor=validator)
    change_deployment_flag_set(change_id=change.pk, flag="stakeholders_notified", done=True, actor=oncall)


def test_validate_emergency_command_exit_codes(oncall, commander, capsys):
    change = file_stub(oncall, commander=commander)
    proceed_unauthorised(change, commander)
    move(change, "start_hotfix", oncall)
    with pytest.raises(SystemExit) as exc:
        call_command("validate_emergency", change.identifier)
    assert exc.value.code == 1
    assert "EMG-E001" in capsys.readouterr().err
    authorise(change, commander)
    call_command("validate_emergency", change.identifier, "--check-postmortem")
    assert "no errors" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        call_command("validate_emergency", change.identifier, "--retroactive")
    assert "not validated" in capsys.readouterr().err


# --- exports ------------------------------------------------------------------------------------------------


def test_post_mortem_markdown_has_the_template_shape(resolved, oncall, commander, reviewer):
    pm = _full_post_mortem(resolved, oncall)
    post_mortem_update(
        post_mortem_id=pm.pk,
        actor=oncall,
        fields={
            "incident_start": datetime(2026, 11, 23, 2, 40, tzinfo=UTC),
            "incident_end": datetime(2026, 11, 23, 3, 22, tzinfo=UTC),
            "post_mortem_date": date(2026, 11, 24),
            "duration_hours": Decimal("0.70"),
            "reputational_impact": "",
        },
    )
    action_item_add(
        post_mortem_id=pm.pk, actor=oncall, action="Retry | budget alert", owner=reviewer, due_date=date(2099, 12, 1)
    )
    measure = preventive_measure_add(
        post_mortem_id=pm.pk, actor=oncall, measure="Alert on retry storms", category="monitoring", priority="High"
    )
    follow_up = preventive_measure_follow_up_create(measure_id=measure.pk, actor=oncall)
    post_mortem_submit(post_mortem_id=pm.pk, actor=oncall)
    pm = post_mortem_approve(post_mortem_id=pm.pk, signer=commander, password=PASSWORD, role=Role.COMMANDER)
    text = post_mortem_markdown(pm)
    head, signatures = text.split("\n## Signatures\n")
    assert (
        head
        == f"""---
title: "Post-Mortem: {resolved.identifier}"
tags:
  - post-mortem
  - incident-review
custom_fields:
  chg_reference: {resolved.identifier}
  incident_ticket: {resolved.incident.ticket}
  post_mortem_date: 2026-11-24
---

# Post-Mortem: {resolved.identifier}

## Incident Summary
- **Duration**: 2026-11-23 02:40 UTC to 2026-11-23 03:22 UTC
- **Impact**: 1200 users affected, EUR 30k
- **Severity**: P1 Incident

## Timeline
| Time | Event |
|------|-------|
| 02:40 | Incident detected |
| 02:45 | P1 declared |

## Root Cause Analysis

### 5-Whys
1. Why? Checkout failed
2. Why? Pool exhausted
3. Why? Retry storm
4. Why? No retry budget
5. Why? (Root cause) Client library default never reviewed

### Contributing Factors
- Old client library
- No load test

## Impact Assessment
- Users affected: 1200
- Duration: 0.70
- Revenue impact: EUR 30k
- Reputational impact: n/a

## Resolution
Capped retries

## Lessons Learned
1. What went well: Fast triage
2. What went poorly: Alert fired late
3. Where we got lucky: Low traffic hour

## Action Items
| ID | Action | Owner | Due Date | Status |
|----|--------|-------|----------|--------|
| 1 | Retry \\| budget alert | Rae Reviewer | 2099-12-01 | Pending |

## Preventive Measures
| Measure | CHG Reference | Priority |
|---------|---------------|----------|
| Alert on retry storms | {follow_up.identifier} | High |
"""
    )
    assert signatures.startswith("- Carlos Commander (Incident commander), approved, ")
    assert "SHA-256 " in signatures


def test_full_chg_document_and_pdfs(client, resolved, oncall):
    resolved = change_documentation_update(change_id=resolved.pk, actor=oncall, sections=DOCS)
    text = change_full_markdown(resolved)
    assert text.startswith(f"---\nid: {resolved.identifier}\n")
    for heading in (
        "## Root Cause Analysis",
        "## Impact Assessment",
        "## Timeline of Events",
        "## Affected Artifacts",
        "## Resolution",
        "## Lessons Learned",
        "## Emergency Deployment Checklist",
        "## Emergency CHG Closure Checklist",
        "## Signatures",
    ):
        assert heading in text
    assert "- [x] Root cause analysis" in text
    assert "Carlos Commander (Incident commander), approved" in text  # the authorisation signature
    pdf = change_full_pdf(resolved)
    assert pdf.startswith(b"%PDF-")
    client.force_login(oncall)
    response = client.get(reverse("emergencies:change-export", args=[resolved.identifier, "pdf"]))
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert client.get(reverse("emergencies:change-export", args=[resolved.identifier, "docx"])).status_code == 404
    _full_post_mortem(resolved, oncall)
    response = client.get(reverse("emergencies:post-mortem-export", args=[resolved.identifier, "md"]))
    assert response["Content-Disposition"] == f'attachment; filename="POST_MORTEM-{resolved.identifier}.md"'
    response = client.get(reverse("emergencies:post-mortem-export", args=[resolved.identifier, "pdf"]))
    assert response.content.startswith(b"%PDF-")


# --- pages --------------------------------------------------------------------------------------------------


def test_change_page_and_validation_page(client, resolved, oncall, auditor):
    client.force_login(oncall)
    page = client.get(resolved.get_absolute_url()).content.decode()
    assert "Closure checklist" in page and "Retroactive gate validation" in page and "Start the post-mortem" in page
    client.force_login(auditor)
    page = client.get(resolved.get_absolute_url()).content.decode()
    assert "Start the post-mortem" not in page and "Edit documentation" not in page
    assert client.post(reverse("emergencies:post-mortem-start", args=[resolved.identifier])).status_code == 403
    assert client.get(reverse("emergencies:validation-list")).status_code == 200


def test_validation_list_query_budget(client, oncall, commander, django_assert_max_num_queries):
    for _ in range(15):
        change = file_stub(oncall, commander=commander)
        proceed_unauthorised(change, commander)
        move(change, "start_hotfix", oncall)
    client.force_login(oncall)
    client.get(reverse("qms:dashboard"))
    with django_assert_max_num_queries(12):
        response = client.get(reverse("emergencies:validation-list"))
    assert response.content.decode().count("EMG-E001") == 15
