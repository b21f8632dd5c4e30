"""The identifier counters (emergencies.identifiers): one statement for a filing's identifiers, numbers after
what is already there, a taken one skipped, the 99th the last of a base."""

from datetime import UTC, datetime

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audits.models import AuditEvent
from audits.services import audit_chain_verify
from emergencies.identifiers import identifiers_allocate
from emergencies.models import BypassRequest, ChangeRecord, IdentifierCounter, Incident
from tests.factories import file_stub

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 23, 3, 41, 17, tzinfo=UTC)


def test_a_filing_allocates_its_three_identifiers_in_one_statement(oncall):
    with CaptureQueriesContext(connection) as ctx:
        change = file_stub(oncall, now=T0)
    counters = [q["sql"] for q in ctx.captured_queries if "emergencies_identifiercounter" in q["sql"]]
    assert len(counters) == 1
    assert not [q for q in ctx.captured_queries if "COUNT(*)" in q["sql"] and "identifiercounter" not in q["sql"]]
    assert (change.identifier, change.incident.ticket) == ("CHG-EMG-20261123-0341", "INC-20261123-0341")
    assert BypassRequest.objects.get(change=change).identifier == "BYPASS-E-20261123-034117"
    assert dict(IdentifierCounter.objects.values_list("base", "last")) == {
        "INC-20261123-0341": 1,
        "CHG-EMG-20261123-0341": 1,
        "BYPASS-E-20261123-034117": 1,
    }


def test_the_first_number_of_a_base_comes_after_the_records_already_there(oncall):
    first = file_stub(oncall, now=T0)
    IdentifierCounter.objects.all().delete()  # as before the counters existed (or after the bulk seed)
    second = file_stub(oncall, now=T0)
    assert second.identifier == f"{first.identifier}-02"
    assert second.incident.ticket == f"{first.incident.ticket}-02"


def test_a_number_already_taken_is_skipped(oncall):
    file_stub(oncall, now=T0, incident_ticket="INC-20261123-0341")  # a ticket typed in by hand, no counter
    change = file_stub(oncall, now=T0)
    assert change.incident.ticket == "INC-20261123-0341-02"
    assert Incident.objects.count() == 2


def test_the_hundredth_under_one_base_is_refused_and_nothing_is_written(oncall):
    IdentifierCounter.objects.create(base="CHG-EMG-20261123-0341", last=99)
    events = AuditEvent.objects.count()
    with pytest.raises(ValidationError, match="More than 99"):
        file_stub(oncall, now=T0)
    assert not ChangeRecord.objects.exists() and not Incident.objects.exists()
    assert AuditEvent.objects.count() == events
    assert IdentifierCounter.objects.get(base="CHG-EMG-20261123-0341").last == 99
    assert audit_chain_verify().ok


def test_bases_must_be_distinct_and_plain():
    with pytest.raises(ValueError):
        identifiers_allocate([(Incident, "ticket", "INC-1"), (Incident, "ticket", "INC-1")])
    with pytest.raises(ValueError):
        identifiers_allocate([(Incident, "ticket", "INC-%")])
