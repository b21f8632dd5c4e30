"""The rules form's on-call response times: per severity of the scale and otherwise, written into the draft as
edited, read by the roster's paging, shown in words in the diff and refused at the field when the engine could
not page with them."""

from datetime import timedelta

import pytest

from qms.procedures.validation import validate_definition
from qms.roster.response import response_time
from tests.qms.procedures.helpers import rules_form_refused, rules_form_saved

pytestmark = pytest.mark.django_db
QMS_V1, CM_WF = "qms-emergency-bypass-v1", "cm-wf-emergency"


def test_a_severitys_response_time_is_shortened_and_the_paging_reads_it(client, start):
    draft = start(CM_WF)
    _, changes = rules_form_saved(client, draft, **{"oncall-CRITICAL-amount": "30", "oncall-CRITICAL-unit": "minutes"})
    assert draft.definition["oncall_response"]["by_severity"]["CRITICAL"] == {"amount": 30, "unit": "minutes"}
    assert response_time(draft.definition, "CRITICAL") == timedelta(minutes=30)
    assert response_time(draft.definition, "HIGH") == timedelta(hours=2)
    assert validate_definition(draft.definition) == []
    assert changes == ["On-call response by severity for CRITICAL: 1 h → 30 min."], changes


def test_a_version_without_its_own_times_gets_them_only_when_one_changes(client, start):
    draft = start(QMS_V1)
    assert "oncall_response" not in draft.definition
    rules_form_saved(client, draft)
    assert "oncall_response" not in draft.definition
    _, changes = rules_form_saved(client, draft, **{"oncall-S1-amount": "15", "oncall-S1-unit": "minutes"})
    assert draft.definition["oncall_response"]["by_severity"] == {"S1": {"amount": 15, "unit": "minutes"}}
    assert response_time(draft.definition, "S1") == timedelta(minutes=15)
    assert response_time(draft.definition, "S3") == timedelta(hours=2)
    assert validate_definition(draft.definition) == [] and changes


def test_emptying_a_severitys_time_falls_back_to_the_default(client, start):
    draft = start(CM_WF)
    rules_form_saved(client, draft, **{"oncall-HIGH-amount": ""})
    assert "HIGH" not in draft.definition["oncall_response"]["by_severity"]
    assert response_time(draft.definition, "HIGH") == timedelta(hours=2)


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"oncall-default-amount": "100"}, "oncall-default-amount", "at most 72 hours"),
        ({"oncall-CRITICAL-amount": "0"}, "oncall-CRITICAL-amount", "positive"),
        ({"oncall-default-amount": ""}, "oncall-default-amount", "This field is required"),
    ],
)
def test_response_times_the_paging_cannot_use_are_refused_at_the_field(client, start, changes, field, message):
    rules_form_refused(client, start(CM_WF), field, message, **changes)
