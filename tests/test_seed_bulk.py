"""seed_bulk: realistic data at scale that the portal's own rules accept (small N here; 10^5 in the bench)."""

import re
from collections import Counter
from datetime import UTC, datetime

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.urls import reverse

from audits.models import AuditEvent, Obligation
from audits.services import audit_chain_verify
from bench.seeding import PATHS, seed_bulk
from emergencies.models import ChangeRecord, Incident
from qms.models import Notification, User
from tests.factories import file_stub

Status = ChangeRecord.Status
IDENTIFIER = re.compile(r"^CHG-EMG-\d{8}-\d{4}(-\d{2})?$")
TICKET = re.compile(r"^INC-\d{8}-\d{4}(-\d{2})?$")


@pytest.fixture
def seeded(db, oncall):
    # A change filed the normal way first: the seed must append to an existing chain, not start one.
    filed = file_stub(oncall)
    filed.chain_position_before_seed = AuditEvent.objects.order_by("-position").values_list("position", flat=True)[0]
    call_command("seed_bulk", changes=200, force=True, verbosity=0)
    return filed


def test_every_state_is_present_with_consistent_fields(seeded):
    changes = ChangeRecord.objects.exclude(pk=seeded.pk)
    assert changes.count() == 200
    assert set(changes.values_list("status", flat=True)) == set(Status.values)
    assert Incident.objects.count() == 201
    for change in changes.select_related("incident", "procedure_version"):
        assert IDENTIFIER.match(change.identifier), change.identifier
        assert TICKET.match(change.incident.ticket), change.incident.ticket
        assert change.identifier.startswith(f"CHG-EMG-{change.declared_at.astimezone(UTC):%Y%m%d-%H%M}")
        path = PATHS[change.status]
        assert (change.bypass_authorised_at is not None) == ("authorize_bypass" in path)
        assert (change.deployed_at is not None) == ("deploy" in path)
        assert (change.closed_at is not None) == (change.status == Status.CLOSED)
        assert change.level == ("standard" if change.status == Status.CONVERTED else "emergency")
        if change.bypass_authorised_by_id:
            assert change.bypass_authorised_by_id != change.author_id, "nobody authorises their own stub"
    one_per_state = {c.status: c for c in changes}
    for change in one_per_state.values():
        # The model's own validation and constraints accept what was generated (status is FSM-protected).
        change.full_clean(exclude=["status"])


def test_history_follows_each_transition(seeded):
    for change in ChangeRecord.objects.exclude(pk=seeded.pk):
        rows = list(change.history.order_by("history_date", "history_id"))
        steps = PATHS[change.status]
        documented = 1 if change.status == Status.CLOSED else 0
        assert len(rows) == 1 + len(steps) + documented, change.identifier
        assert rows[0].history_type == "+" and rows[0].status == Status.STUB
        assert rows[-1].status == change.status
        assert all(r.history_user_id for r in rows), "history names who did it"


def test_clocks_are_met_or_open_as_the_state_implies(seeded):
    ct = ContentType.objects.get_for_model(ChangeRecord)
    changes = ChangeRecord.objects.exclude(pk=seeded.pk).select_related("incident", "procedure_version")
    for change in changes:
        obligations = {o.kind: o for o in Obligation.objects.filter(subject_type=ct, subject_id=change.pk)}
        clocks = change.rules.clocks(change.incident.severity)
        assert set(obligations) == {c.kind for c in clocks}
        if change.status in (Status.CLOSED, Status.CONVERTED):
            assert all(o.satisfied_at is not None for o in obligations.values()), change.identifier
        if change.status == Status.STUB:
            assert all(o.satisfied_at is None for o in obligations.values())
        if change.status == Status.POST_INCIDENT and "triage" in obligations:
            assert obligations["triage"].satisfied_at is not None
            assert obligations["triage"].satisfied_by_id == change.bypass_authorised_by_id
        for o in obligations.values():
            assert o.escalation_level == 0, "overdue clocks are left for the sweep"
            assert o.history.count() == (2 if o.satisfied_at else 1)
    assert Obligation.objects.filter(satisfied_at__isnull=True, due_at__lt=datetime.now(UTC)).exists()


def test_audit_trail_is_a_valid_chain_appended_to_the_existing_one(seeded):
    report = audit_chain_verify()
    assert report.ok, report.problem
    appended = AuditEvent.objects.filter(position__gt=seeded.chain_position_before_seed)
    assert not appended.filter(subject_id=str(seeded.pk)).exists(), "the seed appended after what was there"
    actions = Counter(appended.values_list("action", flat=True))
    assert actions["change.filed"] == 200
    assert actions["obligation.opened"] == 200
    transitions = sum(
        len(PATHS[s]) for s in ChangeRecord.objects.exclude(pk=seeded.pk).values_list("status", flat=True)
    )
    assert sum(n for a, n in actions.items() if a.startswith("change.") and a != "change.filed") == transitions


def test_notifications_are_sent_once_per_recipient(seeded):
    notifications = Notification.objects.exclude(dedupe_key__startswith=f"change-filed:{seeded.pk}:")
    assert notifications.count() == 200
    assert notifications.filter(sent_at__isnull=False, attempts=1).count() >= 199  # the newest may be in flight


def test_pages_render_the_seeded_data(seeded, client):
    client.force_login(User.objects.get(username="seed-commander-1"))
    closed = ChangeRecord.objects.filter(status=Status.CLOSED).first()
    for url in (
        reverse("qms:dashboard"),
        reverse("emergencies:change-list"),
        reverse("emergencies:change-detail", kwargs={"identifier": closed.identifier}),
    ):
        response = client.get(url)
        assert response.status_code == 200, url


def test_same_minute_identifiers_get_suffixes_and_the_chain_holds(db):
    now = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    seed_bulk(changes=40, days=1, now=now, seed=1)
    seed_bulk(changes=40, days=1, now=now, seed=1)  # the very same times again
    identifiers = list(ChangeRecord.objects.values_list("identifier", flat=True))
    assert len(set(identifiers)) == 80
    assert sum(1 for i in identifiers if i.endswith("-02")) >= 40
    assert len(set(Incident.objects.values_list("ticket", flat=True))) == 80
    assert audit_chain_verify().ok


@override_settings(DEBUG=False)
def test_refuses_without_debug_unless_forced(db):
    with pytest.raises(CommandError, match="--force"):
        call_command("seed_bulk", changes=1, verbosity=0)
    assert not ChangeRecord.objects.exists()
