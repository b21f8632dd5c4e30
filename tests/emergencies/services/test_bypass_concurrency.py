"""Two approvers signing at the same moment on PostgreSQL: both signatures kept, one activation."""

import threading

import pytest
from django.db import connection

from audits.models import Obligation
from emergencies.models import BypassRequest
from emergencies.services.bypasses import bypass_sign
from qms.models import Signature
from qms.roles import Role
from tests.conftest import requires_postgres
from tests.emergencies.services.test_bypasses import L2_DETAILS, request_bypass
from tests.factories import PASSWORD

pytestmark = [requires_postgres, pytest.mark.django_db(transaction=True)]


def test_two_approvers_signing_at_once_keep_both_signatures(make_user):
    developer = make_user(Role.ONCALL)
    architect, coordinator = make_user(Role.ARCHITECT), make_user(Role.QMS)
    bypass = request_bypass(
        developer, impact="high", quality_only=False, checks=["dor_dod", "code_quality_major"], details=L2_DETAILS
    )
    barrier = threading.Barrier(2)
    errors = []

    def approve(user, role):
        try:
            barrier.wait(timeout=10)
            bypass_sign(bypass_id=bypass.pk, signer=user, password=PASSWORD, role=role)
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=approve, args=(architect, Role.ARCHITECT)),
        threading.Thread(target=approve, args=(coordinator, Role.QMS)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert errors == []
    assert Signature.objects.filter(subject_id=bypass.pk, meaning="approved").count() == 2
    bypass = BypassRequest.objects.get(pk=bypass.pk)
    assert bypass.status == BypassRequest.Status.ACTIVE
    assert bypass.history.filter(status="active").count() == 1
    assert Obligation.objects.filter(kind="remediation", subject_id=bypass.pk).count() == 2
