"""The scheduler's reports of one procedure (version): QMS_SCHEDULED_REPORT_SCOPES names them; each period the
beat writes the report of all procedures and one of each scope, once (a second run, or a second beat process,
writes nothing); a scope naming no procedure is logged and skipped, the others are still written."""

from __future__ import annotations

import logging

import pytest
from django.db import IntegrityError, transaction

from audits.models import AuditEvent, ComplianceReport
from audits.tasks import compliance_report_task
from tests.audits.reports.test_report_scope import EBW, V2, two_versions  # noqa: F401 (fixture)
from tests.audits.reports.test_reports import people  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db


def test_each_scheduled_scope_is_written_once_per_period(two_versions, people, settings, caplog):  # noqa: F811
    settings.QMS_SCHEDULED_REPORT_SCOPES = [V2, EBW, "no-such-procedure:1", V2]
    with caplog.at_level(logging.ERROR, logger="audits.reports.services"):
        first = compliance_report_task("monthly", "2026-10-01")
    assert "no-such-procedure:1" in caplog.text and "No procedure" in caplog.text
    reports = {(r.procedure_id, r.procedure_version_id): r for r in ComplianceReport.objects.all()}
    v2 = two_versions["v2"]
    assert set(reports) == {(None, None), (v2.procedure_id, v2.pk), (v2.procedure_id, None)}
    assert all(r.generated_by is None for r in reports.values())
    assert first == reports[(None, None)].pk
    assert set(reports[(v2.procedure_id, v2.pk)].payload["refs"]["declared"]["ids"]) == {two_versions["c2"].pk}
    assert reports[(v2.procedure_id, v2.pk)].payload["procedure"]["label"] == "Emergency Bypass Workflow v2"
    assert set(reports[(v2.procedure_id, None)].payload["refs"]["declared"]["ids"]) == {
        two_versions["c1"].pk,
        two_versions["c2"].pk,
    }
    # Running again (another day of the same period, or a retry) writes nothing more.
    assert compliance_report_task("monthly", "2026-10-20") == first
    assert ComplianceReport.objects.count() == 3
    assert AuditEvent.objects.filter(action="report.generated", reason="scheduled").count() == 3
    # Another period: three more.
    compliance_report_task("monthly", "2026-09-01")
    assert ComplianceReport.objects.count() == 6


def test_the_database_keeps_one_scheduled_snapshot_per_period_and_scope(two_versions, people):  # noqa: F811
    """Two beat processes racing past the lookup: the second insert of a scope is refused by the database;
    a coordinator's snapshots of the same scope are not limited."""
    scope_v2 = {"procedure": two_versions["v2"].procedure, "procedure_version": two_versions["v2"]}
    compliance_report_task("monthly", "2026-10-01")
    (everything,) = ComplianceReport.objects.all()
    row = {
        f: getattr(everything, f)
        for f in ("kind", "period_start", "period_end", "generated_at", "payload", "html", "text", "sha256")
    }
    ComplianceReport.objects.create(**row, **scope_v2)
    for scope in ({}, scope_v2):
        with pytest.raises(IntegrityError), transaction.atomic():
            ComplianceReport.objects.create(**row, **scope)
    ComplianceReport.objects.create(**row, **scope_v2, generated_by=people["qms"])
    ComplianceReport.objects.create(**row, **scope_v2, generated_by=people["qms"])
    assert ComplianceReport.objects.count() == 4
