"""Housekeeping jobs of the worker: used or expired re-authentication proofs and expired API idempotency
records are deleted after their retention, and nothing else."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from qms.models import IdempotencyRecord
from qms.sso.models import ReauthProof
from qms.sso.tasks import sso_reauth_proofs_purge_task
from qms.tasks import idempotency_records_purge_task

pytestmark = pytest.mark.django_db


def _proof(user, name: str, *, expires_in: timedelta, used_ago: timedelta | None = None) -> ReauthProof:
    now = timezone.now()
    return ReauthProof.objects.create(
        user=user,
        secret_hash=name.ljust(64, "0"),
        intent="/emergencies/",
        subject="sub",
        auth_time=now - timedelta(minutes=1),
        expires_at=now + expires_in,
        used_at=now - used_ago if used_ago is not None else None,
    )


def test_proofs_used_or_expired_beyond_the_retention_are_purged(make_user, settings):
    settings.QMS_SSO_PROOF_RETENTION_HOURS = 24
    user = make_user()
    day, hour = timedelta(hours=24), timedelta(hours=1)
    gone = [
        _proof(user, "a", expires_in=-(day + hour)),  # expired unused, 25 h ago
        _proof(user, "b", expires_in=-(day + hour), used_ago=day + 2 * hour),  # used 26 h ago
        _proof(user, "c", expires_in=hour, used_ago=day + hour),  # used 25 h ago (its expiry is irrelevant)
    ]
    kept = [
        _proof(user, "d", expires_in=timedelta(minutes=5)),  # still usable
        _proof(user, "e", expires_in=-(day - hour)),  # expired 23 h ago
        _proof(user, "f", expires_in=-hour, used_ago=2 * hour),  # used 2 h ago
    ]
    assert sso_reauth_proofs_purge_task() == len(gone)
    assert set(ReauthProof.objects.values_list("pk", flat=True)) == {p.pk for p in kept}
    settings.QMS_SSO_PROOF_RETENTION_HOURS = 0
    assert sso_reauth_proofs_purge_task() == 2  # "e" and "f"; the usable one stays
    assert list(ReauthProof.objects.values_list("pk", flat=True)) == [kept[0].pk]


def _record(key: str, age: timedelta) -> IdempotencyRecord:
    return IdempotencyRecord.objects.create(
        principal="token:1",
        key=key,
        request_hash="x" * 64,
        method="POST",
        path="/api/",
        created_at=timezone.now() - age,
    )


def test_expired_idempotency_records_are_purged(settings):
    settings.API_IDEMPOTENCY_HOURS = 24
    _record("old", timedelta(hours=25))
    _record("older", timedelta(days=9))
    kept = {_record("recent", timedelta(hours=23)).pk, _record("now", timedelta(0)).pk}
    assert idempotency_records_purge_task() == 2
    assert set(IdempotencyRecord.objects.values_list("pk", flat=True)) == kept
    assert idempotency_records_purge_task() == 0


def test_the_worker_schedules_both_jobs():
    from qms.celery import app

    app.loader.import_default_modules()
    for name in ("sso-reauth-proofs-purge", "idempotency-records-purge"):
        assert settings.CELERY_BEAT_SCHEDULE[name]["task"] in app.tasks, name
