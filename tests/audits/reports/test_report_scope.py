"""Compliance reports of one procedure version: two changes and their bypasses filed under two versions of one
procedure; each version's report counts only its own, the report of all procedures counts both, and the
snapshot, its page, text, CSV and PDF name what they cover. Generated from the form, the API and the command;
an unknown version is a field error and stores nothing; who may generate is unchanged. (The notifications and
training clocks of a scope: test_report_scope_people; the scheduler's scoped reports: test_scheduled_scopes.)"""

from __future__ import annotations

import copy
import csv
import io

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.urls import reverse

from audits.models import AuditEvent, ComplianceReport, Obligation
from audits.reports.services import compliance_report_build, report_generate, report_scope_resolve
from audits.services import obligations_satisfy
from emergencies.models import BypassRequest, ChangeRecord
from qms.models import Procedure
from qms.services.procedures import procedure_version_create, procedure_version_current
from tests.audits.helpers import granted_bypass, undecided_request
from tests.audits.reports.test_reports import NOW, OCTOBER, make_change, people, utc  # noqa: F401 (fixtures)
from tests.emergencies.api.test_lifecycle import as_
from tests.pdfcheck import read_pdf
from tests.problems import problem_fields

pytestmark = pytest.mark.django_db

EBW = "emergency-bypass-workflow"
V1, V2 = f"{EBW}:1", f"{EBW}:2"


@pytest.fixture
def two_versions(people):  # noqa: F811
    """October under two versions of the Emergency Bypass Workflow.

    v1: bypass b1 granted 10-02 (remediated on time), a standalone request p1 filed 10-15 and never decided,
    change c1 declared 10-05 and deployed (4 h). Then v2 is published, and under it: bypass b2 granted 10-10
    and never remediated (overdue), change c2 declared 10-12, deployed (10 h) and rolled back.
    """
    dev, lead, qms = people["dev"], people["lead"], people["qms"]
    v1 = procedure_version_current(code=EBW)
    assert v1.version == 1
    b1 = granted_bypass(
        dev, lead, requested_at=utc(2026, 10, 2, 9), decided_at=utc(2026, 10, 2, 10), repository="alpha"
    )
    obligations_satisfy(subject=b1, kinds=["remediation"], actor=dev, note="gate passed", at=utc(2026, 10, 3, 10))
    p1 = undecided_request(dev, repository="alpha", at=utc(2026, 10, 15, 9))
    c1 = make_change(
        dev,
        key="V1",
        declared=utc(2026, 10, 5, 8),
        detected=utc(2026, 10, 5, 7, 30),
        deployed=utc(2026, 10, 5, 11, 30),
        status="monitoring",
    )
    v2 = procedure_version_create(
        procedure=Procedure.objects.get(code=EBW),
        definition=copy.deepcopy(v1.definition),
        actor=qms,
        change_note="Second version.",
    )
    b2 = granted_bypass(
        dev, lead, requested_at=utc(2026, 10, 10, 9), decided_at=utc(2026, 10, 10, 10), repository="beta"
    )
    c2 = make_change(dev, key="V2", declared=utc(2026, 10, 12), deployed=utc(2026, 10, 12, 10), status="rolled_back")
    assert [x.procedure_version_id for x in (b1, p1, c1)] == [v1.pk] * 3
    assert [x.procedure_version_id for x in (b2, c2)] == [v2.pk] * 2
    return {"v1": v1, "v2": v2, "b1": b1, "p1": p1, "c1": c1, "b2": b2, "c2": c2}


def build(reference: str = "") -> dict:
    return compliance_report_build(kind="monthly", period_start=OCTOBER, now=NOW, scope=report_scope_resolve(reference))


def refs(payload, key) -> set[int]:
    return set(payload["refs"][key]["ids"])


def subjects(obligation_ids) -> set[tuple[str, int]]:
    rows = Obligation.objects.filter(pk__in=obligation_ids).values_list("subject_type", "subject_id")
    return {(ContentType.objects.get_for_id(ct).model, pk) for ct, pk in rows}


def test_each_versions_report_counts_only_what_was_filed_under_it(two_versions):
    t = two_versions
    v1, v2, everything = build(V1), build(V2), build()
    # Bypasses: granted, requested, by repository.
    assert refs(v1, "bypasses_granted") == {t["b1"].pk}
    assert refs(v2, "bypasses_granted") == {t["b2"].pk}
    assert refs(everything, "bypasses_granted") == {t["b1"].pk, t["b2"].pk}
    # A standalone request (no change) carries its own version: the daily report of its day.
    day_v1, day_v2 = (
        compliance_report_build(kind="daily", period_start=utc(2026, 10, 15), now=NOW, scope=report_scope_resolve(r))
        for r in (V1, V2)
    )
    assert refs(day_v1, "requests_new") == {t["p1"].pk} and refs(day_v2, "requests_new") == set()
    assert refs(day_v1, "active") == set() and refs(day_v2, "active") == {t["b2"].pk}
    assert "repo:beta" not in v1["refs"] and "repo:alpha" not in v2["refs"]
    # Changes: declared, deployed, rolled back.
    assert refs(v1, "declared") == {t["c1"].pk} and refs(v2, "declared") == {t["c2"].pk}
    assert refs(everything, "declared") == {t["c1"].pk, t["c2"].pk}
    assert refs(v1, "deployed") == {t["c1"].pk} and refs(v2, "rolled_back") == {t["c2"].pk}
    assert refs(v1, "rolled_back") == set()
    figures = {
        v: {f["key"]: f["value"] for s in p["sections"] for f in s.get("figures", [])}
        for v, p in (("v1", v1), ("v2", v2), ("all", everything))
    }
    assert (figures["v1"]["rollback_rate"], figures["v2"]["rollback_rate"], figures["all"]["rollback_rate"]) == (
        0.0,
        1.0,
        0.5,
    )
    assert (figures["v1"]["response_mean"], figures["v2"]["response_mean"]) == (4.0, 10.0)
    # Clocks: only those on the version's own records, never another version's.
    v1_subjects = {("bypassrequest", t["b1"].pk), ("bypassrequest", t["p1"].pk), ("changerecord", t["c1"].pk)}
    v2_subjects = {("bypassrequest", t["b2"].pk), ("changerecord", t["c2"].pk)}
    v1_clocks = set().union(*(set(e["ids"]) for e in v1["refs"].values() if e["model"] == "obligation" and "ids" in e))
    v2_clocks = set().union(*(set(e["ids"]) for e in v2["refs"].values() if e["model"] == "obligation" and "ids" in e))
    assert v1_clocks and subjects(v1_clocks) <= v1_subjects
    assert v2_clocks and subjects(v2_clocks) <= v2_subjects
    assert refs(v2, "overdue:remediation") == set(
        Obligation.objects.filter(subject_id=t["b2"].pk, kind="remediation").values_list("pk", flat=True)
    )
    assert refs(v1, "overdue:remediation") == set()
    assert refs(everything, "remediation_due") == refs(v1, "remediation_due") | refs(v2, "remediation_due")
    # The trend counts per month, per version.
    chart = {
        p: next(c for s in p_["sections"] for c in s.get("charts", []) if c["id"] == "chart-trend")
        for p, p_ in (("v1", v1), ("v2", v2), ("all", everything))
    }
    assert [s["values"][-1] for s in chart["v1"]["series"]] == [1, 1]
    assert [s["values"][-1] for s in chart["all"]["series"]] == [2, 2]
    # A procedure's code alone: every version of it.
    assert refs(build(EBW), "declared") == refs(everything, "declared")
    assert v1["procedure"] == {
        "code": EBW,
        "title": "Emergency Bypass Workflow",
        "version": 1,
        "label": "Emergency Bypass Workflow v1",
    }
    assert everything["procedure"] is None


def test_the_snapshot_names_its_version_on_the_page_in_the_text_csv_and_pdf(client, two_versions, people):  # noqa: F811
    qms = people["qms"]
    report = report_generate(kind="monthly", period_start=OCTOBER, actor=qms, now=NOW, procedure_version=V2)
    assert (report.procedure, report.procedure_version) == (two_versions["v2"].procedure, two_versions["v2"])
    assert report.procedure_label == "Emergency Bypass Workflow v2"
    assert AuditEvent.objects.get(action="report.generated").after["procedure"] == "Emergency Bypass Workflow v2"
    # The text body: title, period, what it covers, then the sections.
    lines = report.text.splitlines()
    assert lines[0] == "Monthly compliance report"
    assert lines[1].startswith("2026-10-01 00:00")
    assert lines[2] == "Procedure: Emergency Bypass Workflow v2"
    headings = [line for line in lines if line.startswith("== ")]
    assert headings[0] == "== Executive dashboard metrics ==" and len(headings) == 4
    assert "Rollback rate: 100.0 %" in lines
    client.force_login(people["auditor"])
    page = client.get(reverse("audits:report-detail", kwargs={"pk": report.pk})).content.decode()
    assert (
        'data-procedure="emergency-bypass-workflow:2">Procedure: <strong>Emergency Bypass Workflow v2</strong>' in page
    )
    listing = client.get(reverse("audits:report-list")).content.decode()
    assert "<td>Emergency Bypass Workflow v2</td>" in listing
    rows = list(
        csv.reader(io.StringIO(client.get(reverse("audits:report-csv", kwargs={"pk": report.pk})).content.decode()))
    )
    assert rows[0][-2:] == ["procedure", "Emergency Bypass Workflow v2"]
    pdf = read_pdf(client.get(reverse("audits:report-pdf", kwargs={"pk": report.pk})).content)
    assert "Procedure: Emergency Bypass Workflow v2" in pdf.flat
    assert "Rollback rate 100.0 %" in pdf.flat
    # A trend point's drill-down lists only the version's records of that month.
    drill = client.get(reverse("audits:report-drill", kwargs={"pk": report.pk, "ref": "trend:c:Oct 26"}))
    assert [c.identifier for c in drill.context["records"]] == [two_versions["c2"].identifier]
    # The report of all procedures says so.
    everything = report_generate(kind="monthly", period_start=OCTOBER, actor=qms, now=NOW)
    assert everything.text.splitlines()[2] == "Procedure: all procedures"
    assert (
        "Procedure: all procedures"
        in read_pdf(client.get(reverse("audits:report-pdf", kwargs={"pk": everything.pk})).content).flat
    )


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        (f"{EBW}:9", "has no version 9"),
        ("no-such-procedure:1", "No procedure"),
        ("no-such-procedure", "No procedure"),
        (f"{EBW}:two", "not a procedure version"),
        (f"{EBW}:-1", "not a procedure version"),
        (f"{EBW}:99999999999999999999", "not a procedure version"),
        ("'; DROP TABLE audits_compliancereport; --", "No procedure"),
    ],
)
def test_an_unknown_version_is_a_field_error_and_nothing_is_stored(two_versions, people, reference, message):  # noqa: F811
    with pytest.raises(ValidationError) as exc:
        report_generate(kind="monthly", period_start=OCTOBER, actor=people["qms"], now=NOW, procedure_version=reference)
    assert message in " ".join(exc.value.message_dict["procedure_version"])
    assert not ComplianceReport.objects.exists() and not AuditEvent.objects.filter(action="report.generated").exists()


def test_read_only_roles_do_not_generate_reports_of_one_procedure(two_versions, people):  # noqa: F811
    from django.core.exceptions import PermissionDenied

    for role in ("auditor", "executive", "dev", "lead"):
        with pytest.raises(PermissionDenied):
            report_generate(kind="monthly", period_start=OCTOBER, actor=people[role], now=NOW, procedure_version=V1)
    assert not ComplianceReport.objects.exists()


def test_the_generation_form_takes_a_procedure_version(client, two_versions, people):  # noqa: F811
    client.force_login(people["qms"])
    form = client.get(reverse("audits:report-list")).content.decode()
    assert f'<option value="{V2}">Emergency Bypass Workflow v2</option>' in form
    assert f'<option value="{EBW}">Emergency Bypass Workflow, all versions</option>' in form
    response = client.post(
        reverse("audits:report-list"), {"kind": "monthly", "date": "2026-10-09", "procedure_version": V1}
    )
    report = ComplianceReport.objects.get()
    assert response.status_code == 302 and report.procedure_version == two_versions["v1"]
    assert set(report.payload["refs"]["declared"]["ids"]) == {two_versions["c1"].pk}
    bad = client.post(
        reverse("audits:report-list"), {"kind": "monthly", "date": "2026-10-09", "procedure_version": f"{EBW}:7"}
    )
    body = bad.content.decode()
    assert bad.status_code == 400 and 'id="g-procedure-error"' in body and "has no version 7" in body
    assert f'<option value="{EBW}:7"' not in body  # the hostile value is not echoed as a choice
    assert ComplianceReport.objects.count() == 1
    client.force_login(people["auditor"])
    refused = client.post(
        reverse("audits:report-list"), {"kind": "monthly", "date": "2026-10-09", "procedure_version": V2}
    )
    assert refused.status_code == 403 and ComplianceReport.objects.count() == 1
    assert "g-procedure" not in client.get(reverse("audits:report-list")).content.decode()


def test_the_api_generates_a_report_of_one_version(two_versions, people):  # noqa: F811
    body = {"kind": "monthly", "date": "2026-10-09", "procedure_version": V2}
    assert as_(people["auditor"], token=True).post("/api/v1/reports/", body, format="json").status_code == 403
    assert as_(people["dev"], token=True).post("/api/v1/reports/", body, format="json").status_code == 403
    api = as_(people["qms"], token=True)
    bad = api.post("/api/v1/reports/", {**body, "procedure_version": f"{EBW}:3"}, format="json")
    assert bad.status_code == 400 and "has no version 3" in " ".join(problem_fields(bad)["procedure_version"])
    assert not ComplianceReport.objects.exists()
    made = api.post("/api/v1/reports/", body, format="json")
    assert made.status_code == 201, made.content
    data = made.json()
    assert (data["procedure"], data["procedure_version"]) == (EBW, 2)
    assert data["payload"]["procedure"]["label"] == "Emergency Bypass Workflow v2"
    assert set(data["payload"]["refs"]["declared"]["ids"]) == {two_versions["c2"].pk}
    listed = as_(people["auditor"], token=True).get("/api/v1/reports/").json()["results"]
    assert [(r["procedure"], r["procedure_version"]) for r in listed] == [(EBW, 2)]
    everything = api.post("/api/v1/reports/", {"kind": "monthly", "date": "2026-10-09"}, format="json").json()
    assert (everything["procedure"], everything["procedure_version"]) == (None, None)


def test_the_command_generates_a_report_of_one_version(two_versions, people, capsys):  # noqa: F811
    call_command("compliance_report", "monthly", "--date", "2026-10-09", "--user", "qms", "--procedure-version", V1)
    assert "Emergency Bypass Workflow v1" in capsys.readouterr().out
    report = ComplianceReport.objects.get()
    assert report.procedure_version == two_versions["v1"] and report.generated_by == people["qms"]
    with pytest.raises(CommandError, match="has no version 5"):
        call_command(
            "compliance_report", "monthly", "--date", "2026-10-09", "--user", "qms", "--procedure-version", f"{EBW}:5"
        )
    with pytest.raises(CommandError, match="Only QMS coordinators"):
        call_command(
            "compliance_report", "monthly", "--date", "2026-10-09", "--user", "auditor", "--procedure-version", V1
        )
    assert ComplianceReport.objects.count() == 1
    # Without --user: the system's snapshot of that version, once.
    for _ in range(2):
        call_command("compliance_report", "monthly", "--date", "2026-10-09", "--procedure-version", V1)
    scheduled = ComplianceReport.objects.get(generated_by__isnull=True)
    assert scheduled.procedure_version == two_versions["v1"]
    assert BypassRequest.objects.count() == 3 and ChangeRecord.objects.count() == 2


def test_a_report_of_one_version_runs_no_more_queries_than_one_of_all(two_versions, people):  # noqa: F811
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    scope = report_scope_resolve(V2)

    def queries(**kwargs):
        with CaptureQueriesContext(connection) as ctx:
            compliance_report_build(kind="monthly", period_start=OCTOBER, now=NOW, **kwargs)
        return len(ctx.captured_queries)

    queries(scope=scope)  # the content types of the clocks' subjects, read once per process
    assert queries() == queries(scope=scope) == 13
    for day in range(3, 28, 4):
        granted_bypass(
            people["dev"], people["lead"], requested_at=utc(2026, 10, day, 8), decided_at=utc(2026, 10, day, 9)
        )
        make_change(
            people["dev"], key=f"X{day}", declared=utc(2026, 10, day), deployed=utc(2026, 10, day, 5), status="closed"
        )
    # The same queries, narrowed by subqueries: 13 for a monthly report, and one more once the period has
    # repeat-bypass patterns (their checks' labels, under the procedure versions their bypasses pinned).
    assert queries(scope=scope) == queries() == 14
