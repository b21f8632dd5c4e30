"""The on-call roster: rotations, overrides, iCalendar import (valid and invalid), coverage gaps and who may
edit it (QMS coordinators and the role's manager; auditors and everyone else read)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError

from audits.models import AuditEvent
from qms.procedures import PRESETS, validate_definition
from qms.roles import KEY_ROLES, Role
from qms.roster.models import OnCallImport, OnCallRotation, OnCallShift
from qms.roster.response import response_time
from qms.roster.schedule import coverage_gaps, on_call_now
from qms.roster.services import override_add, roster_import, rotation_create
from tests.qms.roster_helpers import ical, ical_event

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday


@pytest.fixture
def qms(make_user):
    return make_user(Role.QMS, username="qmsc")


@pytest.fixture
def ics(make_user):
    ana = make_user(Role.COMMANDER, username="ana", email="ana@example.com")
    ben = make_user(Role.COMMANDER, username="ben", email="ben@example.com")
    cleo = make_user(Role.COMMANDER, username="cleo", email="cleo@example.com")
    return ana, ben, cleo


def weekly(actor, members, *, slot="primary", role=Role.COMMANDER, start=NOW):
    return rotation_create(
        role=role.value, slot=slot, name="Weekly", members=members, starts_at=start, period_days=7, actor=actor
    )


def test_the_key_roles_exist_as_groups_and_old_roles_stay():
    names = set(Group.objects.values_list("name", flat=True))
    assert {"Test lead", "Operations lead", "Incident commander", "Development lead"} <= names
    assert {r.value for r in KEY_ROLES} >= {"testlead", "opslead", "commander", "safety", "security", "cm"}


def test_a_weekly_rotation_hands_over_each_week_and_round_again(qms, ics):
    ana, ben, cleo = ics
    weekly(qms, [ana, ben, cleo])
    weekly(qms, [ben, cleo, ana], slot="backup")
    assert on_call_now(role=Role.COMMANDER, at=NOW)[0].primary == ana
    assert on_call_now(role=Role.COMMANDER, at=NOW + timedelta(days=6, hours=23))[0].primary == ana
    coverage, exists = on_call_now(role=Role.COMMANDER, at=NOW + timedelta(days=7))
    assert exists and coverage.primary == ben and coverage.backup == cleo
    assert on_call_now(role=Role.COMMANDER, at=NOW + timedelta(days=21))[0].primary == ana
    assert on_call_now(role=Role.COMMANDER, at=NOW - timedelta(minutes=1))[0].primary is None
    assert on_call_now(role=Role.SAFETY, at=NOW) == (on_call_now(role=Role.SAFETY, at=NOW)[0], False)
    event = AuditEvent.objects.filter(action="oncall.rotation_created").earliest("pk")
    assert event.after["members"] == ["ana", "ben", "cleo"] and event.actor == qms


def test_an_override_wins_for_its_period_only(qms, ics):
    ana, ben, _ = ics
    weekly(qms, [ana])
    shift = override_add(
        role="commander",
        slot="primary",
        user=ben,
        starts_at=NOW + timedelta(days=1),
        ends_at=NOW + timedelta(days=2),
        reason="Ana at the dentist",
        actor=qms,
        now=NOW,
    )
    assert on_call_now(role=Role.COMMANDER, at=NOW + timedelta(days=1, hours=1))[0].primary == ben
    assert on_call_now(role=Role.COMMANDER, at=NOW + timedelta(days=2))[0].primary == ana
    assert shift.history.count() == 1
    assert AuditEvent.objects.filter(action="oncall.override_added", reason="Ana at the dentist").exists()


@pytest.mark.parametrize(
    "change, field",
    [
        ({"ends_at": NOW}, "ends_at"),  # ends when it starts
        ({"starts_at": NOW - timedelta(days=3), "ends_at": NOW - timedelta(days=2)}, "ends_at"),  # the past
        ({"ends_at": NOW + timedelta(days=120)}, "ends_at"),
        ({"reason": "  "}, "reason"),
        ({"reason": "x" * 5001}, "reason"),
        ({"slot": "tertiary"}, "slot"),
        ({"role": "legal"}, "role"),  # not a key role
        ({"role": "'; DROP TABLE"}, "role"),
    ],
)
def test_a_bad_override_is_refused_with_its_field_and_nothing_saved(qms, ics, change, field):
    values = {
        "role": "commander",
        "slot": "primary",
        "user": ics[0],
        "starts_at": NOW,
        "ends_at": NOW + timedelta(days=1),
        "reason": "swap",
        "actor": qms,
        "now": NOW,
    }
    with pytest.raises(ValidationError) as exc:
        override_add(**{**values, **change})
    assert field in exc.value.message_dict
    assert not OnCallShift.objects.exists()


def test_only_holders_of_the_role_go_on_call(qms, make_user, ics):
    outsider = make_user(Role.LEGAL, username="lou")
    gone = make_user(Role.COMMANDER, username="gone", is_active=False)
    for person in (outsider, gone):
        with pytest.raises(ValidationError, match="Not an active Incident commander"):
            weekly(qms, [ics[0], person])
    with pytest.raises(ValidationError, match="repeated"):
        weekly(qms, [ics[0], ics[0]])
    assert not OnCallRotation.objects.exists()


@pytest.mark.parametrize("who", ["auditor", "oncall", "commander", "legal", "engmanager_for_safety", "none"])
def test_who_may_not_edit_the_roster(make_user, ics, who):
    role = Role.SAFETY if who == "engmanager_for_safety" else Role.COMMANDER
    actor = {
        "auditor": lambda: make_user(Role.AUDITOR),
        "oncall": lambda: make_user(Role.ONCALL),
        "commander": lambda: ics[0],  # the people on call do not write their own roster
        "legal": lambda: make_user(Role.LEGAL),
        "engmanager_for_safety": lambda: make_user(Role.ENGMANAGER),
        "none": lambda: make_user(),
    }[who]()
    safety = make_user(Role.SAFETY)
    members = [safety] if role is Role.SAFETY else [ics[0]]
    before = AuditEvent.objects.count()
    with pytest.raises(PermissionDenied):
        weekly(actor, members, role=role)
    with pytest.raises(PermissionDenied):
        roster_import(role=role.value, content=b"BEGIN:VCALENDAR", actor=actor, now=NOW)
    assert not OnCallRotation.objects.exists() and AuditEvent.objects.count() == before


def test_the_roles_manager_and_the_qms_coordinator_edit(make_user, ics, qms):
    engmanager = make_user(Role.ENGMANAGER)
    auditor_and_qms = make_user(Role.AUDITOR, Role.QMS)
    weekly(engmanager, [ics[0]])
    weekly(qms, [ics[1]], slot="backup")
    weekly(auditor_and_qms, [ics[2]], slot="backup")
    assert OnCallRotation.objects.count() == 3


def _roster_file(ana="ana@example.com", ben="ben"):
    return ical(
        ical_event(
            uid="p@example.com",
            start=NOW,
            end=NOW + timedelta(days=7),
            summary="Primary",
            attendee=ana,
            rrule="FREQ=WEEKLY;INTERVAL=2;COUNT=6",
        ),
        ical_event(
            uid="b@example.com",
            start=NOW + timedelta(days=7),
            end=NOW + timedelta(days=14),
            summary=f"Primary: {ben}",
            rrule="FREQ=WEEKLY;INTERVAL=2;COUNT=6",
        ),
    )


def test_an_ical_roster_with_recurring_events_is_imported(qms, ics):
    ana, ben, cleo = ics
    imported = roster_import(role="commander", content=_roster_file(), filename="ic.ics", actor=qms, now=NOW)
    assert imported.shift_count == 12
    assert on_call_now(role=Role.COMMANDER, at=NOW + timedelta(hours=1))[0].primary == ana
    assert on_call_now(role=Role.COMMANDER, at=NOW + timedelta(days=8))[0].primary == ben
    assert on_call_now(role=Role.COMMANDER, at=NOW + timedelta(days=14, hours=1))[0].primary == ana
    event = AuditEvent.objects.get(action="oncall.imported")
    assert event.after["shifts"] == 12 and event.after["sha256"] == imported.sha256
    # a newer file replaces the earlier one
    roster_import(role="commander", content=_roster_file(ana="cleo@example.com"), actor=qms, now=NOW)
    assert on_call_now(role=Role.COMMANDER, at=NOW + timedelta(hours=1))[0].primary == cleo


@pytest.mark.parametrize(
    "content, message",
    [
        (b"this is not a calendar", "not an iCalendar file"),
        (b"\xff\xfe\x00bad", "not UTF-8"),
        (ical(), "no events"),
        (
            ical(
                ical_event(
                    uid="x", start=NOW, end=NOW + timedelta(days=1), summary="On duty", attendee="ana@example.com"
                )
            ),
            "must start with “Primary” or “Backup”",
        ),
        (
            ical(
                ical_event(uid="x", start=NOW, end=NOW + timedelta(days=1), summary="Primary", attendee="zed@evil.test")
            ),
            "zed@evil.test is not an active user holding the role Incident commander",
        ),
        (ical(ical_event(uid="x", start=NOW, end=NOW + timedelta(days=1), summary="Backup")), "no person"),
        (
            ical(ical_event(uid="x", start=NOW, end=None, summary="Primary", attendee="ana@example.com")),
            "no end",
        ),
        (
            ical(
                ical_event(
                    uid="x", start=NOW - timedelta(days=30), end=NOW - timedelta(days=29), summary="Primary: ana"
                )
            ),
            "No event falls between",
        ),
        (b"x" * 100_001, "at most 100,000"),
    ],
)
def test_a_bad_ical_file_is_refused_with_a_clear_error_and_nothing_imported(qms, ics, content, message):
    before = AuditEvent.objects.count()
    with pytest.raises(ValidationError) as exc:
        roster_import(role="commander", content=content, actor=qms, now=NOW)
    assert any(message in m for m in exc.value.message_dict["file"]), exc.value.message_dict
    assert not OnCallImport.objects.exists() and not OnCallShift.objects.exists()
    assert AuditEvent.objects.count() == before


def test_a_person_of_another_role_in_the_file_is_refused(qms, ics, make_user):
    make_user(Role.SAFETY, username="sam", email="sam@example.com")
    with pytest.raises(ValidationError, match=r"sam@example\.com is not an active user holding the role Incident"):
        roster_import(role="commander", content=_roster_file(ana="sam@example.com"), actor=qms, now=NOW)


def test_coverage_gaps_name_each_uncovered_period(qms, ics):
    ana, ben, _ = ics
    rotation_create(
        role="commander",
        slot="primary",
        name="Two weeks",
        members=[ana],
        starts_at=NOW,
        ends_at=NOW + timedelta(days=5),
        actor=qms,
    )
    weekly(qms, [ben], slot="backup")
    gaps = [g for g in coverage_gaps(days=7, now=NOW) if g.role is Role.COMMANDER]
    assert [(g.slot, g.start, g.end) for g in gaps] == [("primary", NOW + timedelta(days=5), NOW + timedelta(days=7))]
    override_add(
        role="commander",
        slot="primary",
        user=ben,
        starts_at=NOW + timedelta(days=5),
        ends_at=NOW + timedelta(days=7),
        reason="cover",
        actor=qms,
        now=NOW,
    )
    assert not [g for g in coverage_gaps(days=7, now=NOW) if g.role is Role.COMMANDER]
    # roles without a roster are a gap over the whole period, primary and backup
    safety = [g for g in coverage_gaps(days=7, now=NOW) if g.role is Role.SAFETY]
    assert [(g.slot, g.hours) for g in safety] == [("primary", 168.0), ("backup", 168.0)]


def test_response_times_come_from_the_procedure():
    cm_wf = next(p["definition"] for p in PRESETS if p["code"] == "cm-wf-emergency")
    assert response_time(cm_wf, "CRITICAL") == timedelta(hours=1)
    assert response_time(cm_wf, "HIGH") == timedelta(hours=2)
    assert response_time(None, "CRITICAL") == timedelta(hours=1)  # versions written before the block existed
    assert validate_definition(cm_wf) == []
    broken = {**cm_wf, "oncall_response": {"by_severity": {"URGENT": {"amount": 0, "unit": "weeks"}}}}
    problems = validate_definition(broken)
    assert "oncall_response.by_severity.URGENT: unknown severity (not in severity_scale)." in problems
    assert "oncall_response.by_severity.URGENT: the unit must be minutes or hours." in problems
