"""Every figure of a report of one procedure version honours its scope: the stakeholder notifications about its
own changes, bypasses, status updates and CCB sessions, the certification authorities notified about its
changes, and the training clocks of the certifications it asks of a role (on the people holding that role)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from audits.models import Obligation
from audits.reports.services import compliance_report_build, report_scope_resolve
from audits.services import obligations_open
from emergencies.models import RegulatoryNotification, StatusUpdate
from qms.models import Notification
from tests.audits.reports.test_report_scope import EBW, V1, V2, two_versions  # noqa: F401 (fixture)
from tests.audits.reports.test_reports import NOW, OCTOBER, people, utc  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db


def this_week(reference: str = "") -> dict:
    """The weekly report of the running week (the outbox rows are written now)."""
    now = timezone.now()
    return compliance_report_build(kind="weekly", period_start=now, now=now, scope=report_scope_resolve(reference))


def note(key: str, person) -> Notification:
    return Notification.objects.create(recipient=person, dedupe_key=key, subject=key, body=key)


def figures(payload) -> dict:
    return {f["key"]: f["value"] for s in payload["sections"] for f in s.get("figures", [])}


def ids(payload, key) -> set[int]:
    return set(payload["refs"].get(key, {}).get("ids", []))


def test_a_versions_report_counts_the_notifications_about_its_own_changes(two_versions, people):  # noqa: F811
    t, qms = two_versions, people["qms"]
    filed_v1 = note(f"change-filed:{t['c1'].pk}:{qms.pk}", qms)
    filed_v2 = note(f"change-filed:{t['c2'].pk}:{qms.pk}", qms)
    update = StatusUpdate.objects.create(
        change=t["c2"],
        change_status=t["c2"].status,
        current_status="Rolled back, investigating.",
        posted_by=qms,
        posted_at=timezone.now(),
    )
    update_v2 = note(f"status-update:{update.pk}:int:{qms.pk}", qms)
    # A key whose record number is another model's: a CCB session of the same pk is not the change.
    session_like = note(f"ccb-convened:{t['c1'].pk}:{qms.pk}", qms)
    unpinned = note(f"signing-locked:{qms.pk}:2026-12-01T00:00:00", qms)
    RegulatoryNotification.objects.create(
        change=t["c1"],
        authority="EASA",
        notified_at=timezone.now(),
        reference="EASA-1",
        description="The issue and the patch.",
        follow_up_commitment="Full documentation in 30 days.",
        recorded_by=qms,
        recorded_at=timezone.now(),
    )
    v1, v2, everything = this_week(V1), this_week(V2), this_week()
    assert ids(v1, "notify:change-filed") == {filed_v1.pk}
    assert ids(v2, "notify:change-filed") == {filed_v2.pk}
    assert ids(v2, "notify:status-update") == {update_v2.pk} and not ids(v1, "notify:status-update")
    assert not ids(v1, "notify:ccb-convened") and not ids(v1, "notify:signing-locked")
    assert ids(everything, "notify:change-filed") == {filed_v1.pk, filed_v2.pk}
    assert ids(everything, "notify:signing-locked") == {unpinned.pk}
    assert ids(everything, "notify:ccb-convened") == {session_like.pk}
    v1_notes = set().union(*(set(e["ids"]) for k, e in v1["refs"].items() if k.startswith("notify:")))
    assert figures(v1)["notified"] == len(v1_notes) and unpinned.pk not in v1_notes
    assert figures(everything)["notified"] == Notification.objects.count()
    # The authorities notified: on v1's change only.
    assert (figures(v1)["regulatory"], figures(v2)["regulatory"], figures(everything)["regulatory"]) == (1, 0, 1)
    assert v1["refs"]["regulatory"]["ids"] == [t["c1"].pk] and v2["refs"]["regulatory"]["ids"] == []
    section = next(s for s in v2["sections"] if s["key"] == "notifications")
    assert "incidents and people" in section["notes"][0]
    assert "notes" not in next(s for s in everything["sections"] if s["key"] == "notifications")


def test_a_versions_report_counts_the_training_clocks_of_the_certifications_it_requires(two_versions, people):  # noqa: F811
    """The Emergency Bypass Workflow asks a development lead for qms_bypass_procedures_basic, nothing of the
    on-call developer, and never emergency_patch_training (a CM-WF-EMERGENCY course)."""
    lead, dev = people["lead"], people["dev"]
    due = utc(2026, 10, 20)

    def clock(person, course, kind="recertification"):
        (made,) = obligations_open(
            subject=person,
            specs=[{"kind": kind, "key": f"{course}:{due:%Y-%m-%d}", "label": course, "owner": person, "due_at": due}],
            started_at=due - timedelta(days=30),
            actor=None,
        )
        return made.pk

    required = clock(lead, "qms_bypass_procedures_basic")
    deviation = clock(lead, "qms_bypass_procedures_basic", kind="training_deviation")
    other_course = clock(lead, "emergency_patch_training")
    not_their_role = clock(dev, "qms_bypass_procedures_basic")

    def overdue(reference):
        payload = compliance_report_build(
            kind="monthly", period_start=OCTOBER, now=NOW, scope=report_scope_resolve(reference)
        )
        return {pk for pk in ids(payload, "overdue") if Obligation.objects.get(pk=pk).subject_type.model == "user"}

    assert overdue(V2) == overdue(EBW) == {required, deviation}
    assert overdue("") == {required, deviation, other_course, not_their_role}
    assert overdue("cm-wf-emergency") == set()  # its team does not include development leads
