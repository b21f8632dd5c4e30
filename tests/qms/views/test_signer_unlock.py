"""A security officer unlocks a locked signer from the user's page, with a reason; audited, and the user told."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from audits.models import AuditEvent
from qms.models import Notification, SignerState
from qms.roles import Role
from qms.services import SigningLocked, signer_authenticate, signer_unlock
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def lock(user):
    for _ in range(5):
        with pytest.raises((ValidationError, SigningLocked)):
            signer_authenticate(user=user, password="wrong")
    assert SignerState.objects.get(user=user).locked_at is not None


def test_a_security_officer_unlocks_from_the_users_page(
    client, make_user, security, django_capture_on_commit_callbacks
):
    lead = make_user(Role.LEAD, username="lead")
    lock(lead)
    page = reverse("qms:user-detail", args=[lead.pk])
    client.force_login(security)
    assert lead.username in client.get(reverse("qms:user-list")).content.decode()
    body = client.get(page).content.decode()
    assert 'data-testid="unlock-form"' in body and "Locked since" in body
    refused = client.post(reverse("qms:user-signing-unlock", args=[lead.pk]), {"reason": " "}, follow=True)
    assert "Say why" in refused.content.decode()
    assert SignerState.objects.get(user=lead).locked_at is not None
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("qms:user-signing-unlock", args=[lead.pk]), {"reason": "Called back on the roster number"})
    assert SignerState.objects.get(user=lead).locked_at is None
    event = AuditEvent.objects.get(action="signature.unlocked")
    assert event.actor == security and "Called back on the roster number" in event.reason
    told = Notification.objects.get(recipient=lead, dedupe_key__startswith="signing-unlocked:")
    assert "unlocked by" in told.subject
    signer_authenticate(user=lead, password=PASSWORD)  # signs again


def test_only_security_officers_unlock_and_others_do_not_see_the_page(client, make_user, security, auditor):
    lead = make_user(Role.LEAD, username="lead")
    lock(lead)
    with pytest.raises(PermissionDenied):
        signer_unlock(user=lead, actor=lead, reason="me")
    client.force_login(auditor)
    assert client.get(reverse("qms:user-detail", args=[lead.pk])).status_code == 404
    assert client.post(reverse("qms:user-signing-unlock", args=[lead.pk]), {"reason": "x"}).status_code == 404
    assert client.get(reverse("qms:user-list")).status_code == 403
    client.force_login(lead)  # their own page: the state, no unlock button
    body = client.get(reverse("qms:user-detail", args=[lead.pk])).content.decode()
    assert "Locked since" in body and 'data-testid="unlock-form"' not in body
    assert client.post(reverse("qms:user-signing-unlock", args=[lead.pk]), {"reason": "x"}).status_code == 403
    assert SignerState.objects.get(user=lead).locked_at is not None
    with pytest.raises(ValidationError, match="not locked"):
        signer_unlock(user=security, actor=security, reason="x")
