"""Compliance reports: every metric against a hand-computed fixture, the snapshot, its pages and exports."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from audits.escalation import obligation_sweep
from audits.models import AuditEvent, ComplianceReport, Obligation
from audits.reports.periods import last_complete_period, period_bounds
from audits.reports.services import compliance_report_build, payload_digest, report_generate
from audits.services import obligations_open, obligations_satisfy
from audits.tasks import compliance_report_task
from emergencies.models import BypassRequest, ChangeRecord, Incident
from qms.models import Notification
from qms.roles import Role
from qms.services import procedure_version_current
from tests.audits.helpers import granted_bypass, undecided_request
from tests.conftest import requires_postgres

pytestmark = pytest.mark.django_db


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


OCTOBER = utc(2026, 10, 1)
NOW = utc(2026, 11, 5, 12)  # the October report is generated in November


def make_change(author, *, key, declared, status, deployed=None, detected=None):
    """An emergency change with its incident, at known times (the fixture's changes skip the lifecycle: only
    their dates and states matter to the metrics)."""
    incident = Incident.objects.create(
        ticket=f"INC-FIX-{key}",
        title=f"Fixture {key}",
        category="p1_incident",
        severity="P1",
        reported_by=author,
        declared_at=declared,
        detected_at=detected,
    )
    change = ChangeRecord(
        identifier=f"CHG-EMG-FIX-{key}",
        title=f"EMERGENCY: fixture {key}",
        incident=incident,
        procedure_version=procedure_version_current(code="emergency-bypass-workflow"),
        author=author,
        problem_statement="fixture",
        declared_at=declared,
        deployed_at=deployed,
        status=status,
    )
    change._history_user, change._change_reason = author, f"fixture: {status}"
    change.save()
    return change


@pytest.fixture
def people(make_user):
    return {
        "dev": make_user(Role.ONCALL, username="dev"),
        "lead": make_user(Role.LEAD, username="lead"),
        "qms": make_user(Role.QMS, username="qms", first_name="Quinn", last_name="Coordinator"),
        "executive": make_user(Role.EXECUTIVE, username="executive"),
        "auditor": make_user(Role.AUDITOR, username="auditor"),
    }


@pytest.fixture
def october(people):
    """The hand-computed month. Numbers the tests expect are worked out in the comments."""
    dev, lead = people["dev"], people["lead"]

    def bypass(repo, decided):
        return granted_bypass(dev, lead, requested_at=decided - timedelta(hours=1), decided_at=decided, repository=repo)

    # Remediation of each: started at the decision, due the day after the request, 23:59:59.
    b1 = bypass("payments-api", utc(2026, 10, 2, 10))  # due 10-03 23:59:59, met 10-03 10:00: 24 h, on time
    b2 = bypass("payments-api", utc(2026, 10, 10, 10))  # due 10-11 23:59:59, met 10-13 22:00: 84 h, late
    b3 = bypass("payments-api", utc(2026, 10, 20, 10))  # due 10-21 23:59:59, never met: overdue
    b4 = bypass("search", utc(2026, 10, 25, 10))  # due 10-26 23:59:59, met 10-26 16:00: 30 h, on time
    b5 = bypass("search", utc(2026, 9, 28, 10))  # September; met 10-01 10:00: 72 h, completed in October
    for b, met in (
        (b1, utc(2026, 10, 3, 10)),
        (b2, utc(2026, 10, 13, 22)),
        (b4, utc(2026, 10, 26, 16)),
        (b5, utc(2026, 10, 1, 10)),
    ):
        obligations_satisfy(subject=b, kinds=["remediation"], actor=dev, note="gate passed", at=met)
    # A request never decided: its lead review (due 10-15 11:00) stays open.
    b6 = undecided_request(dev, repository="payments-api", at=utc(2026, 10, 15, 9))
    # Changes: response = deployment - identification (detection, else declaration).
    c1 = make_change(
        dev,
        key="1",
        declared=utc(2026, 10, 5, 8),
        detected=utc(2026, 10, 5, 7, 30),
        deployed=utc(2026, 10, 5, 11, 30),
        status="monitoring",
    )  # 4 h
    c2 = make_change(
        dev, key="2", declared=utc(2026, 10, 12), deployed=utc(2026, 10, 12, 10), status="rolled_back"
    )  # 10 h, rolled back
    c3 = make_change(
        dev,
        key="3",
        declared=utc(2026, 10, 20),
        detected=utc(2026, 10, 19, 22),
        deployed=utc(2026, 10, 20, 4),
        status="closed",
    )  # 6 h
    # c3 was ratified as unwarranted after the fact (a ratification session's "use standard process").
    ChangeRecord.objects.filter(pk=c3.pk).update(false_alarm=True, false_alarm_reason="Ratified as unwarranted")
    c4 = make_change(dev, key="4", declared=utc(2026, 10, 22), status="converted_standard")  # false alarm
    c5 = make_change(
        dev,
        key="5",
        declared=utc(2026, 9, 30, 22),
        detected=utc(2026, 9, 30, 21),
        deployed=utc(2026, 10, 1, 1),
        status="closed",
    )  # 4 h; declared in September
    # Resolved (the issue fixed): c3 and c5 within October, c1 only on 11-02, after the period; c2 never.
    ChangeRecord.objects.filter(pk=c3.pk).update(resolved_at=utc(2026, 10, 20, 12))
    ChangeRecord.objects.filter(pk=c5.pk).update(resolved_at=utc(2026, 10, 1, 6))
    ChangeRecord.objects.filter(pk=c1.pk).update(resolved_at=utc(2026, 11, 2))
    # Follow-up and preventive changes: f1 (closed) and f2 (draft) opened in October, f3 in September.
    follow_ups = [
        make_change(dev, key=f"f{n}", declared=declared, status=status)
        for n, (declared, status) in enumerate(
            ((utc(2026, 10, 6), "closed"), (utc(2026, 10, 25), "draft"), (utc(2026, 9, 20), "implemented")), 1
        )
    ]
    ChangeRecord.objects.filter(pk__in=[f.pk for f in follow_ups]).update(
        source=ChangeRecord.Source.PREVENTIVE, level=ChangeRecord.Level.STANDARD, incident=None
    )
    # 30-day follow-up documentation: c1 met on time, c3 not met.
    for change, due in ((c1, utc(2026, 10, 15)), (c3, utc(2026, 10, 28))):
        obligations_open(
            subject=change,
            specs=[{"kind": "follow_up_documentation", "label": "30-day follow-up", "owner": dev, "due_at": due}],
            started_at=due - timedelta(days=30),
            actor=None,
            subject_url=change.get_absolute_url(),
        )
    obligations_satisfy(subject=c1, kinds=["follow_up_documentation"], actor=dev, note="done", at=utc(2026, 10, 14))
    # The sweep of 10-30 12:00 escalates what is open and late: b3's remediation (8.5 days: executive), b6's
    # review (15 days: executive), c3's follow-up (60.5 h: QMS coordinator).
    obligation_sweep(now=utc(2026, 10, 30, 12))
    return {"b": [b1, b2, b3, b4, b5, b6], "c": [c1, c2, c3, c4, c5], "f": follow_ups}


def figures(payload) -> dict:
    return {f["key"]: f for s in payload["sections"] for f in s.get("figures", [])}


def ids(payload, ref) -> list[int]:
    return payload["refs"][ref]["ids"]


def test_monthly_metrics_match_the_hand_computed_fixture(october):
    b1, b2, b3, b4, b5, b6 = october["b"]
    _, c2, c3, c4, c5 = october["c"]
    payload = compliance_report_build(kind="monthly", period_start=OCTOBER, now=NOW)
    f = figures(payload)
    assert payload["period_start"] == "2026-10-01T00:00:00+00:00"
    assert payload["period_end"] == "2026-11-01T00:00:00+00:00"
    assert payload["complete"] is True

    # Bypasses per repository per month and level distribution: b1-b4 granted in October.
    assert f["granted"]["value"] == 4
    assert sorted(ids(payload, "bypasses_granted")) == sorted([b1.pk, b2.pk, b3.pk, b4.pk])
    executive = next(s for s in payload["sections"] if s["key"] == "executive")
    repos = next(c for c in executive["charts"] if c["id"] == "chart-repositories")["bars"]
    assert [(r["label"], r["value"]) for r in repos] == [("payments-api", 3), ("search", 1)]
    levels = next(c for c in executive["charts"] if c["id"] == "chart-levels")["bars"]
    assert [(lv["label"], lv["value"]) for lv in levels] == [
        ("Level 1", 4),
        ("Level 2", 0),
        ("Level 3", 0),
        ("Emergency", 0),
    ]
    # Repeat patterns: in the 30 days before 11-01, payments-api's minor code quality check was bypassed 3 times.
    posture = next(s for s in payload["sections"] if s["key"] == "posture")
    patterns = next(t for t in posture["tables"] if t["title"] == "Repeat-bypass patterns")["rows"]
    assert [[r[0], r[1], r[2]["text"]] for r in patterns] == [["payments-api", "Code quality (minor)", "3"]]
    assert f["patterns"]["value"] == 1

    # Remediation time over the ones completed in October (b5 72 h, b1 24 h, b2 84 h, b4 30 h).
    assert f["rem_mean"]["value"] == 52.5  # (72 + 24 + 84 + 30) / 4
    assert f["rem_p90"]["value"] == 80.4  # sorted 24, 30, 72, 84: 72 + (84 - 72) x 0.7
    assert f["rem_p90"]["display"] == "80.4 h"
    # Completion: due in October b1, b2, b3, b4; completed by the end: 3.
    assert f["rem_completion"]["value"] == 0.75
    assert f["rem_completion"]["display"] == "75.0 %"
    # Rollback rate: deployed in October c1, c2, c3, c5; c2 rolled back.
    assert f["rollback_rate"]["value"] == 0.25
    assert ids(payload, "rolled_back") == [c2.pk]
    # Effectiveness (§16.2): of c1, c2, c3, c5 deployed in October, c3 and c5 resolved by its end (c1 after).
    assert f["resolution_rate"]["value"] == 0.5
    assert f["resolution_rate"]["display"] == "50.0 %"
    assert ids(payload, "resolved") == [c5.pk, c3.pk]
    # Response time: 4, 10, 6, 4 h.
    assert f["response_mean"]["value"] == 6.0
    assert f["response_p90"]["value"] == 8.8  # sorted 4, 4, 6, 10: 6 + 4 x 0.7
    # False alarms: declared in October c1-c4; c3 ratified as unwarranted, c4 converted.
    assert f["false_alarms"]["value"] == 2
    assert f["false_alarm_rate"]["value"] == 0.5
    assert ids(payload, "false_alarms") == [c3.pk, c4.pk]
    assert f["declared"]["value"] == 4
    # Follow-up and preventive changes opened in October: f1 done (closed), f2 open (draft); f3 is September's.
    f1, f2, _f3 = october["f"]
    assert (f["follow_ups_done"]["value"], f["follow_ups_open"]["value"]) == (1, 1)
    assert ids(payload, "follow_ups_done") == [f1.pk] and ids(payload, "follow_ups_open") == [f2.pk]
    # 30-day follow-up documentation: c1 on time, c3 not.
    assert f["follow_up"]["value"] == 0.5
    # On time per kind (due in October): remediation 2/4, review 4/5 (b6's never done), follow-up 1/2.
    on_time = {r[0]: (r[1]["text"], r[2], r[3]["text"], r[4]) for r in posture["tables"][0]["rows"]}
    assert on_time == {
        "30-day follow-up documentation": ("2", "1", "1", "50.0 %"),
        "Remediations": ("4", "2", "2", "50.0 %"),
        "Bypass reviews": ("5", "4", "1", "80.0 %"),
    }
    assert f["on_time"]["value"] == round(7 / 11, 4)
    # Overdue at the end of October: b3's remediation, b6's review, c3's follow-up.
    b3_rem = Obligation.objects.get(subject_id=b3.pk, kind="remediation")
    assert f["overdue_all"]["value"] == 3
    assert f["overdue_remediation"]["value"] == 1
    assert ids(payload, "overdue:remediation") == [b3_rem.pk]
    # Critical escalations: all three reached the QMS coordinator or the executive on 10-30.
    assert f["critical"]["value"] == 3
    recommendations = next(s for s in payload["sections"] if s["key"] == "recommendations")["notes"]
    assert any("payments-api" in n and "preventive" in n for n in recommendations)
    assert any("Rollback rate 25.0 %" in n for n in recommendations)
    assert b5.pk not in ids(payload, "bypasses_granted") and b6.pk not in ids(payload, "bypasses_granted")


def test_daily_and_weekly_figures(october):
    daily = figures(compliance_report_build(kind="daily", period_start=utc(2026, 10, 20), now=NOW))
    # At 10-21 00:00 only b3 has its remediation open; b6's review is the one overdue clock.
    assert daily["active"]["value"] == 1 and daily["active_L1"]["value"] == 1
    assert daily["new_requests"]["value"] == 1
    assert daily["overdue_remediation"]["value"] == 0
    assert daily["overdue_all"]["value"] == 1
    assert daily["critical"]["value"] == 0
    on_30th = figures(compliance_report_build(kind="daily", period_start=utc(2026, 10, 30), now=NOW))
    assert on_30th["critical"]["value"] == 3 and on_30th["critical_executive"]["value"] == 2

    weekly = compliance_report_build(kind="weekly", period_start=utc(2026, 10, 21), now=NOW)
    assert weekly["period_start"] == "2026-10-19T00:00:00+00:00"  # the Monday
    w = figures(weekly)
    assert w["granted"]["value"] == 2  # b3, b4
    # b3 and b4 started; b4 was met on 10-26, the next week; b3 is overdue at the week's end.
    assert w["rem_opened"]["value"] == 2 and w["rem_completed"]["value"] == 0
    assert w["rem_overdue"]["value"] == 1  # b3
    trend = next(c for s in weekly["sections"] for c in s.get("charts", []) if c["id"] == "chart-trend")
    assert len(trend["labels"]) == 8
    assert trend["series"][0]["values"][-4:] == [2, 1, 0, 2]  # weeks of 09-28 (b5, b1), 10-05 (b2), 10-12, 10-19
    notifications = next(s for s in weekly["sections"] if s["key"] == "notifications")
    assert notifications["tables"][0]["rows"] == [] or notifications["figures"][0]["value"] >= 0


def test_report_queries_do_not_grow_with_the_data(october, people):
    def queries():
        with CaptureQueriesContext(connection) as ctx:
            compliance_report_build(kind="monthly", period_start=OCTOBER, now=NOW)
        return len(ctx.captured_queries)

    before = queries()
    for day in range(3, 28, 3):
        granted_bypass(
            people["dev"],
            people["lead"],
            requested_at=utc(2026, 10, day, 8),
            decided_at=utc(2026, 10, day, 9),
            repository=f"repo-{day}",
        )
        make_change(
            people["dev"], key=f"x{day}", declared=utc(2026, 10, day), deployed=utc(2026, 10, day, 5), status="closed"
        )
    assert queries() == before


def test_snapshot_is_stored_once_per_period_mailed_and_audited(october, people):
    mail.outbox.clear()
    report = report_generate(kind="monthly", period_start=OCTOBER, now=NOW)
    again = report_generate(kind="monthly", period_start=utc(2026, 10, 17), now=NOW)
    assert again.pk == report.pk  # the beat ran twice: one snapshot
    assert report.sha256 == payload_digest(report.payload)
    assert report.period_label == "October 2026"
    assert 'id="chart-trend"' in report.html and "<svg" in report.html
    assert "Executive dashboard metrics" in report.text
    note = Notification.objects.get(dedupe_key=f"report:{report.pk}:{people['qms'].pk}")
    assert "Monthly compliance report October 2026" in note.subject
    assert "Rollback rate" in note.html_body and "Rollback rate: 25.0 %" in note.body
    assert note.attachment_name.endswith(".csv") and "Rollback rate" in note.attachment_content
    event = AuditEvent.objects.get(action="report.generated")
    assert event.after["sha256"] == report.sha256
    # A QMS coordinator's own snapshot of the same period is a new one, mailed only when asked.
    mine = report_generate(kind="monthly", period_start=OCTOBER, actor=people["qms"], now=NOW)
    assert mine.pk != report.pk and mine.generated_by == people["qms"]
    assert not Notification.objects.filter(dedupe_key__startswith=f"report:{mine.pk}:").exists()


def test_only_qms_coordinators_generate_and_future_periods_are_refused(october, people):
    from django.core.exceptions import PermissionDenied, ValidationError

    with pytest.raises(PermissionDenied):
        report_generate(kind="daily", period_start=OCTOBER, actor=people["auditor"], now=NOW)
    with pytest.raises(ValidationError, match="not started"):
        report_generate(kind="daily", period_start=utc(2026, 12, 1), now=NOW)
    with pytest.raises(ValidationError):
        report_generate(kind="yearly", period_start=OCTOBER, now=NOW)


@requires_postgres
@pytest.mark.postgres
def test_snapshots_are_append_only_in_the_database(october):
    report = report_generate(kind="daily", period_start=utc(2026, 10, 20), now=NOW)
    for sql in ("UPDATE audits_compliancereport SET html = 'x'", "DELETE FROM audits_compliancereport"):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql)
    report.refresh_from_db()
    assert report.html != "x"


def test_periods():
    assert period_bounds("weekly", utc(2026, 11, 1, 23)) == (utc(2026, 10, 26), utc(2026, 11, 2))
    assert period_bounds("monthly", utc(2026, 12, 31)) == (utc(2026, 12, 1), utc(2027, 1, 1))
    assert last_complete_period("daily", utc(2026, 11, 23, 6)) == (utc(2026, 11, 22), utc(2026, 11, 23))
    assert last_complete_period("weekly", utc(2026, 11, 23, 6, 30)) == (utc(2026, 11, 16), utc(2026, 11, 23))
    assert last_complete_period("monthly", utc(2026, 11, 1, 7)) == (utc(2026, 10, 1), utc(2026, 11, 1))


def test_beat_entries_name_registered_tasks_at_the_configured_times(settings):
    from qms.celery import app

    app.loader.import_default_modules()
    entries = {k: v for k, v in settings.CELERY_BEAT_SCHEDULE.items() if k.startswith("compliance-report-")}
    assert sorted(e["args"][0] for e in entries.values()) == ["daily", "monthly", "weekly"]
    for entry in [*entries.values(), settings.CELERY_BEAT_SCHEDULE["obligations-sweep"]]:
        assert entry["task"] in app.tasks
    weekly = entries["compliance-report-weekly"]["schedule"]
    assert weekly.day_of_week == {1} and weekly.hour == {6} and weekly.minute == {30}
    assert entries["compliance-report-monthly"]["schedule"].day_of_month == {1}


def test_task_and_command_generate_the_last_complete_period_once(october, capsys):
    pk = compliance_report_task("monthly", "2026-10-01")
    assert compliance_report_task("monthly", "2026-10-15") == pk
    call_command("compliance_report", "monthly", "--date", "2026-10-09")
    assert f"(#{pk})" in capsys.readouterr().out
    call_command("compliance_report", "weekly", "--date", "2026-10-21", "--user", "qms")
    assert ComplianceReport.objects.filter(kind="weekly", generated_by__username="qms").count() == 1


# --- pages ----------------------------------------------------------------------------------------------------


@pytest.fixture
def monthly(october):
    return report_generate(kind="monthly", period_start=OCTOBER, now=NOW)


@pytest.mark.parametrize(("username", "status"), [("qms", 200), ("auditor", 200), ("executive", 200), ("dev", 403)])
def test_report_list_per_role(client, people, monthly, username, status):
    client.force_login(people[username])
    assert client.get(reverse("audits:report-list")).status_code == status


@pytest.mark.parametrize(("username", "status"), [("qms", 200), ("auditor", 200), ("dev", 404), ("lead", 404)])
def test_report_pages_per_role(client, people, monthly, username, status):
    client.force_login(people[username])
    for name in ("audits:report-detail", "audits:report-csv", "audits:report-pdf"):
        assert client.get(reverse(name, kwargs={"pk": monthly.pk})).status_code == status


def test_report_page_shows_the_snapshot_and_links_every_number(
    client, people, october, monthly, django_assert_max_num_queries
):
    client.force_login(people["auditor"])
    with django_assert_max_num_queries(12):
        response = client.get(reverse("audits:report-detail", kwargs={"pk": monthly.pk}))
    body = response.content.decode()
    assert "Monthly compliance report — October 2026" in body
    assert '<svg class="chart" id="chart-trend" role="img"' in body and '<title id="chart-trend-t">' in body
    assert 'href="drill/overdue%3Aremediation/"' in body
    assert "style=" not in body.split('<main id="main"')[1]  # CSP: no inline styles
    drill = client.get(reverse("audits:report-drill", kwargs={"pk": monthly.pk, "ref": "overdue:remediation"}))
    b3 = october["b"][2]
    assert drill.status_code == 200
    assert b3.identifier in drill.content.decode() and "Remediate: Code quality (minor)" in drill.content.decode()
    assert client.get(reverse("audits:report-drill", kwargs={"pk": monthly.pk, "ref": "nope"})).status_code == 404
    # A trend point lists the records of its period: October's four declared emergencies.
    trend = client.get(reverse("audits:report-drill", kwargs={"pk": monthly.pk, "ref": "trend:c:Oct 26"}))
    assert trend.status_code == 200
    assert [c.identifier for c in trend.context["records"]] == [c.identifier for c in october["c"][:4]]


@pytest.mark.parametrize("rows", [1, 6])
def test_report_list_query_budget(client, people, october, rows, django_assert_max_num_queries):
    for day in range(1, rows + 1):
        report_generate(kind="daily", period_start=utc(2026, 10, day), now=NOW)
    client.force_login(people["qms"])
    with django_assert_max_num_queries(10):
        assert client.get(reverse("audits:report-list")).status_code == 200


def test_drill_down_query_budget(client, people, monthly, django_assert_max_num_queries):
    client.force_login(people["qms"])
    for ref in ("bypasses_granted", "overdue", "deployed"):
        with django_assert_max_num_queries(10):
            assert client.get(reverse("audits:report-drill", kwargs={"pk": monthly.pk, "ref": ref})).status_code == 200


def test_csv_and_pdf_exports(client, people, monthly):
    client.force_login(people["qms"])
    response = client.get(reverse("audits:report-csv", kwargs={"pk": monthly.pk}))
    assert response["X-Report-SHA256"] == monthly.sha256
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[1] == ["section", "item", "value", "records"]
    assert ["Process effectiveness analysis", "Rollback rate", "25.0 %", "1"] in rows
    assert ["Process effectiveness analysis", "90th percentile remediation time", "80.4 h", "4"] in rows
    assert ["Executive dashboard metrics", "Bypasses per repository: payments-api", "3", "3"] in rows
    assert ["Executive dashboard metrics", "Bypass level distribution: Level 1", "4", "4"] in rows
    pdf = client.get(reverse("audits:report-pdf", kwargs={"pk": monthly.pk}))
    assert pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF") and len(pdf.content) > 2000  # read back in test_pdf.py


def test_generate_from_the_ui(client, people, october):
    client.force_login(people["qms"])
    response = client.post(reverse("audits:report-list"), {"kind": "weekly", "date": "2026-10-21"})
    report = ComplianceReport.objects.get(kind="weekly")
    assert response.status_code == 302 and response["Location"] == reverse(
        "audits:report-detail", kwargs={"pk": report.pk}
    )
    assert report.generated_by == people["qms"]
    bad = client.post(reverse("audits:report-list"), {"kind": "weekly", "date": "soon"})
    assert bad.status_code == 400 and "YYYY-MM-DD" in bad.content.decode()
    client.force_login(people["auditor"])
    assert client.post(reverse("audits:report-list"), {"kind": "daily", "date": "2026-10-21"}).status_code == 403
    assert BypassRequest.objects.exists()
