"""The requests awaiting one's signature are read a batch at a time, newest first, until the widget is full:
the same requests, in the same order, whatever the batch, and none read twice when they share a time."""

import pytest
from django.utils import timezone

from emergencies import selectors
from emergencies.models import BypassRequest
from emergencies.selectors import bypasses as bypass_selectors
from qms.roles import Role
from tests.factories import file_stub

pytestmark = pytest.mark.django_db


@pytest.fixture
def pending(oncall, commander):
    """Seven emergency stubs filed in the same minute, their bypasses pending the commander's signature."""
    now = timezone.now().replace(second=0, microsecond=0)
    for _ in range(7):
        file_stub(oncall, commander=commander, now=now)
    return list(BypassRequest.objects.filter(status=BypassRequest.Status.PENDING).order_by("-requested_at", "-pk"))


@pytest.mark.parametrize("batch", [1, 2, 3, 7, 50])
def test_every_batch_size_finds_the_same_requests_in_the_same_order(pending, commander, monkeypatch, batch):
    monkeypatch.setattr(bypass_selectors, "AWAITING_BATCH", batch)
    assert len(pending) == 7
    assert selectors.bypasses_awaiting_signature(user=commander) == pending
    assert selectors.bypasses_awaiting_signature(user=commander, limit=3) == pending[:3]
    assert selectors.bypasses_awaiting_signature(user=commander, scan=4) == pending[:4]


def test_the_search_stops_once_the_widget_is_full(pending, commander, monkeypatch, django_assert_max_num_queries):
    monkeypatch.setattr(bypass_selectors, "AWAITING_BATCH", 2)
    selectors.bypasses_awaiting_signature(user=commander, limit=2)  # warm the content types' cache
    # One batch: the delegations, the requests, their procedure versions and their signatures.
    with django_assert_max_num_queries(4):
        assert selectors.bypasses_awaiting_signature(user=commander, limit=2) == pending[:2]


def test_nobody_asked_to_sign_reads_no_signatures(pending, make_user):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    quality = make_user(Role.QUALITY)  # not asked to sign an emergency stub of these incidents
    assert not any(Role.QUALITY in b.rules.bypass_slots(b.level, b.incident.flags) for b in pending[:1])
    with CaptureQueriesContext(connection) as queries:
        assert selectors.bypasses_awaiting_signature(user=quality) == []
    assert not [q for q in queries.captured_queries if "qms_signature" in q["sql"]]


def test_the_requester_never_sees_their_own_request(pending, oncall):
    assert selectors.bypasses_awaiting_signature(user=oncall) == []
