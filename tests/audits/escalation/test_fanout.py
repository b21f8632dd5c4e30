"""The beat tick of the escalation sweep: narrowed after a drained run, a backlog fanned out, each clock once."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from audits.escalation.fanout import FULL_EVERY, SLACK, narrowing, obligation_sweep_batches, obligation_tick
from audits.models import AuditEvent, Obligation, SweepMark
from audits.services import audit_chain_verify, obligations_reanchor
from qms.roles import Role
from tests.audits.helpers import open_clocks
from tests.conftest import requires_postgres
from tests.factories import file_stub

pytestmark = pytest.mark.django_db


@pytest.fixture
def oncall(make_user):
    for name in ("lead", "qms", "executive"):
        make_user(Role(name), username=name)
    return make_user(Role.ONCALL, username="oncall")


def escalated_clocks() -> Counter:
    events = AuditEvent.objects.filter(action__in=["obligation.escalated", "obligation.overdue"])
    return Counter(clock["obligation"] for e in events for clock in e.after["obligations"])


def test_a_drained_tick_sets_the_mark_and_the_next_one_is_narrowed(oncall):
    change = file_stub(oncall)
    now = timezone.now()
    open_clocks(change, owner=oncall, due_at=now - timedelta(hours=80), count=3, kind="a")
    assert narrowing(now) == (None, [])  # no mark: a full sweep
    first = obligation_tick(now=now, fan_out=False)
    assert first.escalated == 3 and first.drained
    mark = SweepMark.objects.get()
    assert mark.swept_until == now and mark.full_at == now
    since, _ = narrowing(now + timedelta(minutes=5))
    assert since == now - SLACK  # clocks written within SLACK of the mark are looked at again, harmlessly
    assert obligation_tick(now=now + timedelta(minutes=5), fan_out=False).escalated == 0


def test_a_narrowed_tick_escalates_what_became_due_and_what_was_written_since(oncall):
    change = file_stub(oncall)
    now = timezone.now()
    soon = open_clocks(change, owner=oncall, due_at=now + timedelta(minutes=2), count=2, kind="a")
    obligation_tick(now=now, fan_out=False)
    assert not Obligation.objects.filter(escalation_level__gt=0).exists()
    # Written after the mark with a due time long past: only the "written since" half finds it.
    later = now + timedelta(minutes=5)
    late = open_clocks(change, owner=oncall, due_at=now - timedelta(hours=80), count=1, kind="b")
    assert late[0].pk in narrowing(later)[1]
    result = obligation_tick(now=later, fan_out=False)
    assert result.escalated == 3
    assert {o.pk: o.escalation_level for o in Obligation.objects.filter(kind__in=["a", "b"])} == {
        soon[0].pk: 1,
        soon[1].pk: 1,
        late[0].pk: 4,
    }
    assert set(escalated_clocks().values()) == {1}
    assert audit_chain_verify().ok


def test_a_reanchored_clock_climbs_the_ladder_again_on_a_narrowed_tick(oncall):
    change = file_stub(oncall)
    now = timezone.now()
    clock = open_clocks(change, owner=oncall, due_at=now - timedelta(hours=80), count=1, kind="a")[0]
    obligation_tick(now=now, fan_out=False)
    clock.refresh_from_db()
    assert clock.escalation_level == 4
    obligations_reanchor(subject=change, due_by_kind={"a": now - timedelta(hours=2)}, actor=None)
    later = timezone.now() + timedelta(minutes=1)
    assert clock.pk in narrowing(later)[1]
    obligation_tick(now=later, fan_out=False)
    clock.refresh_from_db()
    assert clock.escalation_level == 1


def test_an_old_mark_makes_the_tick_a_full_sweep(oncall):
    now = timezone.now()
    SweepMark.objects.create(name="escalation", swept_until=now, full_at=now - FULL_EVERY)
    assert narrowing(now + timedelta(minutes=1)) == (None, [])
    SweepMark.objects.update(full_at=now)
    assert narrowing(now - timedelta(minutes=1)) == (None, [])  # a mark ahead of the clock is not trusted


@pytest.fixture
def eager_tasks():
    """Celery runs each task where it is sent (the worker's code, in this process)."""
    from qms.celery import app

    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


def test_a_backlog_is_fanned_out_to_batch_tasks_and_each_clock_escalated_once(oncall, eager_tasks):
    change = file_stub(oncall)
    now = timezone.now()
    open_clocks(change, owner=oncall, due_at=now - timedelta(hours=80), count=23, kind="a")
    first = obligation_tick(now=now, batch=5, max_batches=None)
    assert first.escalated == 5 and not first.drained  # the rest went to the batch tasks
    assert not Obligation.objects.filter(kind="a", escalation_level=0).exists()
    clocks = escalated_clocks()
    assert len(clocks) == 23 and set(clocks.values()) == {1}
    assert not SweepMark.objects.exists()  # only a run that drains in place moves the mark
    assert obligation_tick(now=now, batch=5).drained


@requires_postgres
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_batch_tasks_never_escalate_a_clock_twice_and_leave_none(oncall):
    change = file_stub(oncall)
    now = timezone.now()
    open_clocks(change, owner=oncall, due_at=now - timedelta(hours=80), count=40, kind="a")
    open_clocks(change, owner=oncall, due_at=now - timedelta(hours=2), count=40, kind="c")
    barrier, results, errors = threading.Barrier(2), [], []

    def run():
        try:
            barrier.wait()
            results.append(obligation_sweep_batches(now=now, batch=4))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert sum(r.escalated for r in results) == 80
    assert not Obligation.objects.filter(kind__in=["a", "c"], escalation_level=0).exists()
    clocks = escalated_clocks()
    assert len(clocks) == 80 and set(clocks.values()) == {1}
    assert Obligation.history.filter(kind__in=["a", "c"], history_type="~").count() == 80
    assert audit_chain_verify().ok
