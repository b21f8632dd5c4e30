"""The escalation sweep: owner, lead, QMS coordinator, executive — each step once, whatever runs it."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audits.escalation import PREVENTIVE_KIND, obligation_sweep, repeat_bypass_sweep
from audits.models import AuditEvent, Obligation
from audits.services import audit_chain_verify
from audits.services import obligation_sweep as obligation_sweep_count
from qms.models import Notification
from qms.procedures import COMPLIANCE_POLICY, escalation_steps, parse_duration
from qms.roles import Role
from qms.services import notification_deliver
from tests.audits.helpers import granted_bypass, open_clocks
from tests.conftest import requires_postgres
from tests.factories import file_stub

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(make_user, oncall, commander):
    return {
        "oncall": oncall,
        "commander": commander,
        "lead": make_user(Role.LEAD, username="lead"),
        "lead2": make_user(Role.LEAD, username="lead2"),
        "engmanager": make_user(Role.ENGMANAGER, username="engmanager"),
        "qms": make_user(Role.QMS, username="qms"),
        "executive": make_user(Role.EXECUTIVE, username="executive"),
    }


def keys() -> list[str]:
    return sorted(
        Notification.objects.filter(dedupe_key__startswith="obligation-overdue:").values_list("dedupe_key", flat=True)
    )


def told(obligation=None) -> Counter:
    """(obligation pk, step, username) -> how many messages listed it (each digest lists its clocks)."""
    digests = Notification.objects.filter(dedupe_key__startswith="obligation-overdue:").select_related("recipient")
    return Counter(
        (item["obligation"], item["level"], n.recipient.username)
        for n in digests
        for item in n.context["items"]
        if obligation is None or item["obligation"] == obligation.pk
    )


def recipients(obligation, level) -> list[str]:
    return sorted(name for (_, step, name), n in told(obligation).items() for _ in range(n) if step == level)


def escalations_of(obligation, action="obligation.escalated"):
    """The audit events that escalated this clock (one event per record and batch lists its clocks)."""
    return AuditEvent.objects.filter(action=action, after__obligations__contains=[{"obligation": obligation.pk}])


def escalated_clocks() -> Counter:
    """Obligation pk -> how many escalation events list it."""
    events = AuditEvent.objects.filter(action__in=["obligation.escalated", "obligation.overdue"])
    return Counter(clock["obligation"] for e in events for clock in e.after["obligations"])


def delivered(notification: Notification) -> Notification:
    """The worker renders a digest when it sends it."""
    notification_deliver(notification_id=notification.pk)
    notification.refresh_from_db()
    return notification


def test_ladder_comes_from_the_procedure_data():
    steps = escalation_steps()
    assert [(s.level, s.to, s.after) for s in steps] == [
        (1, "owner", timedelta(0)),
        (2, "lead", timedelta(hours=24)),
        (3, "qms", timedelta(hours=48)),
        (4, "executive", timedelta(hours=72)),
    ]
    assert steps[1].roles == ("lead",) and steps[1].fallback_roles == ("engmanager",)
    assert parse_duration("30m") == timedelta(minutes=30)
    with pytest.raises(ValueError, match="sooner"):
        escalation_steps(
            {
                "compliance": {
                    "escalation": [{"level": 1, "after": "5h", "to": "owner"}, {"level": 2, "after": "1h", "to": "qms"}]
                }
            }
        )


def test_sweep_notifies_each_overdue_owner_once(people):
    """(Moved from test_audit_chain.) The first step: the owner, once, whatever the number of runs."""
    declared = timezone.now() - timedelta(hours=5)
    change = file_stub(people["oncall"], commander=people["commander"], now=declared)
    Notification.objects.all().delete()
    assert obligation_sweep_count() == 2  # triage (commander) and hotfix (oncall) are overdue
    assert obligation_sweep_count() == 0
    assert sorted(Notification.objects.values_list("recipient__username", flat=True)) == ["commander", "oncall"]
    triage = Obligation.objects.get(subject_id=change.pk, kind="triage")
    assert triage.escalation_level == 1
    assert triage.history.first().history_change_reason == "overdue: owner notified"
    # One event on the subject (the change's trail shows it) for both clocks, and in the chain.
    (event,) = AuditEvent.objects.filter(action="obligation.overdue")
    assert (event.subject_type, event.subject_id) == ("emergencies.changerecord", str(change.pk))
    assert sorted(c["kind"] for c in event.after["obligations"]) == ["hotfix", "triage"]
    assert event.after["notified"] == ["commander", "oncall"]
    assert event.reason.startswith("2 clocks overdue, escalated to Owner: ")
    assert audit_chain_verify().ok


def test_sweep_climbs_the_ladder_one_step_at_a_time(people):
    declared = timezone.now() - timedelta(hours=1)
    change = file_stub(people["oncall"], commander=people["commander"], now=declared)
    (item,) = open_clocks(change, owner=people["oncall"], due_at=declared, count=1)
    Notification.objects.all().delete()

    for hours_late, level, expected in [
        (1, 1, ["oncall"]),
        (25, 2, ["lead", "lead2"]),
        (49, 3, ["qms"]),
        (73, 4, ["executive"]),
    ]:
        now = declared + timedelta(hours=hours_late)
        obligation_sweep(now=now)
        obligation_sweep(now=now)  # a second run of the same beat tick changes nothing
        item.refresh_from_db()
        assert item.escalation_level == level
        assert item.last_escalated_at == now
        assert recipients(item, level) == expected
    assert len([k for k in keys() if k.startswith(f"obligation-overdue:{item.pk}:")]) == 5
    reasons = list(item.history.order_by("history_id").values_list("history_change_reason", flat=True))
    assert reasons[1:] == [
        "overdue: owner notified",
        "overdue: escalated to level 2 (Owner's lead)",
        "overdue: escalated to level 3 (QMS coordinator)",
        "overdue: escalated to level 4 (Executive)",
    ]
    assert sorted(e.after["escalation_level"] for e in escalations_of(item)) == [2, 3, 4]
    assert escalations_of(item, "obligation.overdue").count() == 1
    assert audit_chain_verify().ok
    # The mail says to whom and why.
    exec_mail = delivered(Notification.objects.get(dedupe_key__startswith=f"obligation-overdue:{item.pk}:4:"))
    assert exec_mail.subject.startswith("[ESCALATED to Executive]")
    assert "overdue for more than 72 h" in exec_mail.body
    assert "Action item 0" in exec_mail.html_body


def test_a_backlog_jumps_to_its_step_and_every_step_is_told_once(people):
    change = file_stub(people["oncall"], commander=people["commander"])
    due = timezone.now() - timedelta(hours=100)
    (item,) = open_clocks(change, owner=people["oncall"], due_at=due, count=1)
    result = obligation_sweep()
    item.refresh_from_db()
    assert item.escalation_level == 4
    assert result.by_level[4] >= 1
    assert [recipients(item, level) for level in (1, 2, 3, 4)] == [
        ["oncall"],
        ["lead", "lead2"],
        ["qms"],
        ["executive"],
    ]
    event = escalations_of(item).get()
    (clock,) = [c for c in event.after["obligations"] if c["obligation"] == item.pk]
    assert clock["to"] == ["owner", "lead", "qms", "executive"]
    assert event.before["escalation_levels"][str(item.pk)] == 0


def test_without_development_leads_the_engineering_managers_are_the_leads(make_user, oncall):
    engmanager = make_user(Role.ENGMANAGER, username="engmanager")
    change = file_stub(oncall)
    (item,) = open_clocks(change, owner=oncall, due_at=timezone.now() - timedelta(hours=30), count=1)
    obligation_sweep()
    assert recipients(item, 2) == [engmanager.username]


def test_clocks_owned_by_a_role_notify_its_holders_and_met_clocks_are_left_alone(people):
    change = file_stub(people["oncall"], commander=people["commander"])
    due = timezone.now() - timedelta(hours=2)
    from audits.services import obligations_open, obligations_satisfy
    from tests.audits.helpers import register_test_kinds

    register_test_kinds("done")
    obligations_open(
        subject=change,
        specs=[
            {"kind": "review:lead_review", "label": "Lead review", "owner_role": "lead", "due_at": due},
            {"kind": "done", "label": "Already met", "owner": people["oncall"], "due_at": due},
        ],
        started_at=due - timedelta(hours=2),
        actor=None,
    )
    obligations_satisfy(subject=change, kinds=["done"], actor=people["oncall"], note="done", at=due)
    obligation_sweep()
    review = Obligation.objects.get(kind="review:lead_review")
    assert recipients(review, 1) == ["lead", "lead2"]
    assert Obligation.objects.get(kind="done").escalation_level == 0


def test_sweep_queries_do_not_grow_with_the_backlog(people):
    change = file_stub(people["oncall"], commander=people["commander"])
    late = timezone.now() - timedelta(hours=50)

    def sweep_queries(count, kind):
        open_clocks(change, owner=people["oncall"], due_at=late, count=count, kind=kind)
        with CaptureQueriesContext(connection) as ctx:
            result = obligation_sweep()
        assert result.escalated >= count
        return len(ctx.captured_queries)

    obligation_sweep()  # the stub's own clocks first
    few, many = sweep_queries(2, "few"), sweep_queries(40, "many")
    assert few == many, (few, many)


def test_batches_are_bounded_and_the_backlog_drains(people):
    change = file_stub(people["oncall"], commander=people["commander"])
    open_clocks(change, owner=people["oncall"], due_at=timezone.now() - timedelta(hours=3), count=25)
    first = obligation_sweep(batch=10, max_batches=1)
    assert first.escalated == 10 and first.batches == 1
    rest = obligation_sweep(batch=10)
    assert first.escalated + rest.escalated == Obligation.objects.filter(escalation_level__gt=0).count()
    assert not Obligation.objects.filter(
        satisfied_at__isnull=True, due_at__lt=timezone.now(), escalation_level=0
    ).exists()


def test_a_backlog_is_one_digest_per_recipient_rendered_at_delivery(people):
    change = file_stub(people["oncall"], commander=people["commander"])
    items = open_clocks(change, owner=people["oncall"], due_at=timezone.now() - timedelta(hours=50), count=40)
    Notification.objects.all().delete()
    result = obligation_sweep()
    assert result.escalated == 40
    # owner, the two leads, the QMS coordinator: one message each for the 40 clocks, not 40 each.
    digests = Notification.objects.filter(dedupe_key__startswith="obligation-overdue:")
    assert sorted(digests.values_list("recipient__username", flat=True)) == ["lead", "lead2", "oncall", "qms"]
    assert result.notifications == 4
    qms = digests.get(recipient=people["qms"])
    assert qms.subject == "[ESCALATED to QMS coordinator] 40 overdue clocks need you"
    assert qms.body == "" and qms.template == "obligation_overdue"  # rendered by the worker, when sent
    assert qms.context["total"] == 40 and qms.context["more"] == 15 and len(qms.context["items"]) == 25
    assert qms.link.endswith("/audit/overdue/")
    qms = delivered(qms)
    assert "40 clocks you answer for are overdue" in qms.body
    assert "- 40 escalated to you as QMS coordinator (overdue for more than 48 h)" in qms.body
    assert qms.body.count('"Action item') == 25 and "... and 15 more." in qms.body
    assert "All overdue clocks: http" in qms.body
    assert "<table" in qms.html_body and "… and 15 more." in qms.html_body
    assert qms.sent_at is not None
    from django.core import mail

    assert mail.outbox[-1].subject == qms.subject and mail.outbox[-1].to == [people["qms"].email]
    # The owner's message says the clocks are theirs; each clock's audit event names everyone told.
    owner = delivered(digests.get(recipient=people["oncall"]))
    assert "- 40 that you own" in owner.body
    assert '"Action item 0", due ' in owner.body and "; you own it, now escalated to QMS coordinator" in owner.body
    (event,) = AuditEvent.objects.filter(action="obligation.escalated")  # one record: one event for its 40 clocks
    assert sorted(c["obligation"] for c in event.after["obligations"]) == sorted(o.pk for o in items)
    assert event.after["notified"] == ["lead", "lead2", "oncall", "qms"]
    assert event.reason.endswith(" and 34 more")
    assert audit_chain_verify().ok
    # Each key names the message's most overdue (clock, step), escalated in exactly one batch.
    first = min(o.pk for o in items)
    assert keys() == sorted(
        f"obligation-overdue:{first}:{level}:{people[name].pk}"
        for name, level in [("oncall", 1), ("lead", 2), ("lead2", 2), ("qms", 3)]
    )


def test_an_owner_who_is_also_the_lead_is_told_once_at_the_higher_step(people):
    change = file_stub(people["oncall"], commander=people["commander"])
    (item,) = open_clocks(change, owner=people["lead"], due_at=timezone.now() - timedelta(hours=30), count=1)
    Notification.objects.all().delete()
    obligation_sweep()
    assert told(item) == Counter({(item.pk, 2, "lead"): 1, (item.pk, 2, "lead2"): 1})
    event = escalations_of(item).get()
    assert event.after["notified"] == ["lead", "lead2"] and event.after["obligations"][0]["to"] == ["owner", "lead"]


@requires_postgres
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_sweep_drains_a_backlog_over_two_connections_each_clock_once(make_user):
    oncall = make_user(Role.ONCALL, username="oncall")
    for name in ("lead", "qms", "executive"):
        make_user(Role(name), username=name)
    change = file_stub(oncall)
    now = timezone.now()
    open_clocks(change, owner=oncall, due_at=now - timedelta(hours=80), count=45, kind="a")
    open_clocks(change, owner=oncall, due_at=now - timedelta(hours=2), count=45, kind="c")
    result = obligation_sweep(now=now, batch=6, connections=2)
    assert result.escalated == 90 and result.batches >= 15
    assert result.by_level == {4: 45, 1: 45}
    assert not Obligation.objects.filter(kind__in=["a", "c"], escalation_level=0).exists()
    listed = told()
    assert len(listed) == 45 * 4 + 45 and set(listed.values()) == {1}
    clocks = escalated_clocks()
    assert len(clocks) == 90 and set(clocks.values()) == {1}
    history = Obligation.history.filter(kind__in=["a", "c"], history_type="~")
    assert history.count() == 90 and {h.history_date for h in history} == {now}
    assert audit_chain_verify().ok
    assert obligation_sweep(now=now, batch=6, connections=2).escalated == 0


# --- repeat-bypass patterns ---------------------------------------------------------------------------------


def test_three_bypasses_of_one_check_in_30_days_require_a_preventive_change(people):
    now = timezone.now()
    dev, lead = people["oncall"], people["lead"]
    b = [
        granted_bypass(dev, lead, requested_at=now - timedelta(days=d), decided_at=now - timedelta(days=d, hours=-1))
        for d in (40, 20, 10)
    ]
    other_repo = granted_bypass(
        dev, lead, requested_at=now - timedelta(days=5), decided_at=now - timedelta(days=5), repository="search"
    )
    assert repeat_bypass_sweep(now=now) == 0  # only two inside the window for payments-api
    third = granted_bypass(dev, lead, requested_at=now - timedelta(days=2), decided_at=now - timedelta(days=2))

    assert repeat_bypass_sweep(now=now) == 1
    obligation = Obligation.objects.get(kind=PREVENTIVE_KIND)
    assert obligation.subject_id == third.pk
    assert obligation.owner_role == "lead"
    assert "Code quality (minor) bypassed 3× in payments-api" in obligation.label
    notified = Notification.objects.filter(dedupe_key__startswith=f"repeat-bypass:{obligation.pk}:")
    assert sorted(notified.values_list("recipient__username", flat=True)) == ["lead", "lead2", "qms"]
    event = AuditEvent.objects.get(action="bypass.repeat_pattern")
    assert event.after["bypasses"] == [b[1].identifier, b[2].identifier, third.identifier]
    assert event.subject_id == str(third.pk)

    # Idempotent, and a fourth bypass while the follow-up is open does not open another.
    assert repeat_bypass_sweep(now=now) == 0
    granted_bypass(dev, lead, requested_at=now - timedelta(days=1), decided_at=now - timedelta(days=1))
    assert repeat_bypass_sweep(now=now + timedelta(minutes=1)) == 0
    assert Obligation.objects.filter(kind=PREVENTIVE_KIND).count() == 1
    assert other_repo.repository == "search"
    assert COMPLIANCE_POLICY["repeat_bypass"]["min_bypasses"] == 3


def test_preventive_change_climbs_the_ladder_when_late(people):
    now = timezone.now()
    for d in (20, 19, 18):
        granted_bypass(
            people["oncall"], people["lead"], requested_at=now - timedelta(days=d), decided_at=now - timedelta(days=d)
        )
    repeat_bypass_sweep(now=now - timedelta(days=17))
    obligation = Obligation.objects.get(kind=PREVENTIVE_KIND)
    assert obligation.due_at < now
    obligation_sweep(now=now)
    obligation.refresh_from_db()
    assert obligation.escalation_level == 4  # 17 days late
    # The leads own it (level 1) and are its lead step (level 2): told once, at the higher step.
    assert recipients(obligation, 1) == [] and recipients(obligation, 2) == ["lead", "lead2"]
    assert recipients(obligation, 3) == ["qms"] and recipients(obligation, 4) == ["executive"]


# --- concurrency --------------------------------------------------------------------------------------------


@requires_postgres
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_sweeps_at_once_send_each_notification_once(make_user):
    oncall = make_user(Role.ONCALL, username="oncall")
    commander = make_user(Role.COMMANDER, username="commander")
    for name in ("lead", "qms", "executive"):
        make_user(Role(name), username=name)
    change = file_stub(oncall, commander=commander)
    now = timezone.now()
    open_clocks(change, owner=oncall, due_at=now - timedelta(hours=80), count=30, kind="a")
    open_clocks(change, owner=oncall, due_at=now - timedelta(hours=30), count=30, kind="b")
    open_clocks(change, owner=oncall, due_at=now - timedelta(hours=1), count=30, kind="c")
    Notification.objects.all().delete()

    barrier, results, errors = threading.Barrier(2), [], []

    def run():
        try:
            barrier.wait(10)
            results.append(obligation_sweep(now=now, batch=7))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    # Each obligation escalated exactly once, by one of the two sweeps.
    assert sum(r.escalated for r in results) == 90  # the stub's own clocks are not due yet
    # a: owner + lead + qms + executive; b: owner + lead; c: owner; each told once, in one digest or another.
    listed = told()
    assert len(listed) == 30 * 4 + 30 * 2 + 30 * 1
    assert set(listed.values()) == {1}
    by_kind = Counter(Obligation.objects.get(pk=pk).kind for pk, _, _ in listed)
    assert by_kind == {"a": 120, "b": 60, "c": 30}
    clocks = escalated_clocks()
    assert len(clocks) == 90 and set(clocks.values()) == {1}
    assert audit_chain_verify().ok
