"""Each procedure without a CCB walks its whole emergency lifecycle, every step first refused with its
preconditions unmet (nothing written, each missing item named) and then allowed once they are met, up to
closure. CM-WF-EMERGENCY's gates are walked in tests/emergencies/services/test_preconditions.py and in the browser
(tests/browser/test_cmwf_gates_journey.py)."""

from decimal import Decimal

import pytest

from emergencies.models import ChangeRecord
from emergencies.services import postincident as pi
from emergencies.services.preconditions import transition_missing
from qms.roles import Role
from tests.emergencies.services.test_postincident import PM_FIELDS
from tests.emergencies.services.test_preconditions import move, refused
from tests.factories import PASSWORD, authorise, file_stub, ready_to_deploy

pytestmark = pytest.mark.django_db
S = ChangeRecord.Status
SECTIONS = {
    "root_cause": "Expired certificate",
    "impact_assessment": "All orders for 40 minutes",
    "timeline": "02:40 detected, 03:20 fixed",
    "affected_artifacts": "payments-api",
    "resolution": "Certificate renewed",
    "lessons_learned": "Alert on expiry",
}


@pytest.mark.parametrize(
    ("code", "signer_roles", "waiting"),
    [
        ("emergency-bypass-workflow", [Role.COMMANDER], "Incident commander"),
        ("qms-emergency-bypass-v1", [Role.EXECUTIVE, Role.COMMANDER], "Executive"),
        ("eng-proc-004", [Role.LEAD, Role.SECURITY], "Development lead"),
    ],
)
def test_every_step_is_refused_until_its_preconditions_are_met(oncall, make_user, code, signer_roles, waiting):
    commander = make_user(Role.COMMANDER)
    coordinator = make_user(Role.QMS)
    change = file_stub(oncall, procedure_code=code, commander=commander)

    refused(change, "start_hotfix", oncall, "still needs the signature of:", waiting)
    authorise(change, *[commander if r == Role.COMMANDER else make_user(r) for r in signer_roles])
    assert transition_missing(change, "start_hotfix") == []
    change = move(change, "start_hotfix", oncall)
    assert change.status == S.HOTFIX

    refused(change, "deploy", oncall, "Code change reviewed by second engineer", "Smoke test passed")
    ready_to_deploy(change, make_user(Role.ONCALL))
    change = move(change, "deploy", oncall)
    change = move(change, "start_monitoring", oncall)
    assert change.status == S.MONITORING

    pi.rollback_reading_record(
        change_id=change.pk,
        actor=oncall,
        error_rate_increase_pct=Decimal("12"),
        response_time_ratio=Decimal("1"),
        new_critical_errors=0,
    )
    refused(change, "resolve", commander, "calls for a rollback", "Error rate +12")
    pi.rollback_reading_record(
        change_id=change.pk,
        actor=oncall,
        error_rate_increase_pct=Decimal("0"),
        response_time_ratio=Decimal("1"),
        new_critical_errors=0,
    )
    change = move(change, "resolve", commander)
    assert change.status == S.POST_INCIDENT

    text = refused(change, "close", coordinator, "Post-mortem conducted", "Full CHG document complete")
    pi.change_documentation_update(change_id=change.pk, actor=oncall, sections=SECTIONS)
    pm = pi.post_mortem_start(change_id=change.pk, actor=oncall)
    pi.post_mortem_update(post_mortem_id=pm.pk, actor=oncall, fields=PM_FIELDS)
    measure = pi.preventive_measure_add(
        post_mortem_id=pm.pk, actor=oncall, measure="m", category="process", priority="Low"
    )
    pi.preventive_measure_follow_up_create(measure_id=measure.pk, actor=oncall)
    pi.post_mortem_submit(post_mortem_id=pm.pk, actor=oncall)
    pi.post_mortem_approve(post_mortem_id=pm.pk, signer=commander, password=PASSWORD, role=Role.COMMANDER)
    still = refused(change, "close", coordinator)
    assert "Post-mortem conducted" not in still and len(still) < len(text)
    for gate in pi.gate_catalogue(change):
        pi.gate_result_record(change_id=change.pk, gate=gate, result="passed", evidence="ok", actor=coordinator)
    pi.change_deployment_flag_set(change_id=change.pk, flag="stakeholders_notified", done=True, actor=oncall)
    assert transition_missing(ChangeRecord.objects.get(pk=change.pk), "close") == []
    change = move(change, "close", coordinator)
    assert change.status == S.CLOSED and change.closed_at is not None
