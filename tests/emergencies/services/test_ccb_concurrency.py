"""Many members voting at the same moment on PostgreSQL: one current vote each, none lost."""

import threading

import pytest
from django.db import connection

from emergencies.models import CCBSession, Vote
from emergencies.services import ccb as services
from qms.models import Signature
from qms.roles import Role
from tests.conftest import requires_postgres
from tests.emergencies.services.test_ccb import cmwf_change, convene, make_board
from tests.factories import PASSWORD, pass_gates

pytestmark = [requires_postgres, pytest.mark.django_db(transaction=True)]
ADVISERS = 12


def run_at_once(calls):
    barrier = threading.Barrier(len(calls))
    errors = []

    def run(call):
        try:
            barrier.wait(timeout=10)
            call()
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return errors


def cast(session, user, choice, comment):
    return lambda: services.ccb_vote_cast(
        session_id=session.pk, voter=user, password=PASSWORD, choice=choice, comment=comment
    )


def test_many_members_voting_at_once_each_keep_one_current_vote(make_user):
    board = make_board(make_user)
    session = convene(cmwf_change(board.cm, severity="HIGH"), board)
    advisers = [make_user(Role.RELEASE, username=f"release{i}") for i in range(ADVISERS)]
    for adviser in advisers:
        services.ccb_member_add(session_id=session.pk, user=adviser, role=Role.RELEASE, actor=board.cm)
    voters = [board.cm, board.eng, board.quality, *advisers]
    calls = [cast(session, user, "approve", f"{user.username} approves") for user in voters]
    # One member votes twice at the same moment: both votes are kept, one supersedes the other.
    calls.append(cast(session, board.eng, "more_info", "second thoughts"))

    errors = run_at_once(calls)

    assert errors == []
    votes = list(Vote.objects.filter(session=session))
    assert len(votes) == len(voters) + 1  # none lost
    current = [v for v in votes if not Vote.objects.filter(supersedes=v).exists()]
    assert sorted(v.voter_id for v in current) == sorted(u.pk for u in voters)  # one current vote each
    eng_votes = [v for v in votes if v.voter_id == board.eng.pk]
    assert len(eng_votes) == 2 and sum(1 for v in eng_votes if v.supersedes_id) == 1
    assert Signature.objects.filter(subject_id=session.pk).count() == len(votes)
    session = CCBSession.objects.select_related("change__incident", "change__procedure_version").get(pk=session.pk)
    tally = services.ccb_tally(session, *services.session_members_and_votes(session))
    assert tally.voted == len(voters) and sum(tally.counts.values()) == len(voters)


def test_two_configuration_managers_convening_the_same_gate_get_one_session(make_user):
    board = make_board(make_user)
    change = cmwf_change(board.cm, severity="HIGH")
    pass_gates(change, "declare", actor=board.cm)
    members = ((board.eng, Role.ENGMANAGER), (board.quality, Role.QUALITY))

    def convene_as(actor):
        data = services.SessionInput(gate="fast_track", scheduled_at=change.declared_at, members=members, chair=actor)
        return lambda: services.ccb_session_convene(change_id=change.pk, data=data, actor=actor)

    errors = run_at_once([convene_as(board.cm), convene_as(board.cm2)])

    assert len(errors) == 1 and "already open" in str(errors[0])
    assert CCBSession.objects.filter(change=change).count() == 1
