"""Time-boxed delegation: the delegate signs as themselves on behalf of the delegator, both names are kept,
and separation of duties holds against both people; a delegation never passes on further."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from audits.models import AuditEvent
from emergencies.models import BypassRequest
from emergencies.services.bypasses import bypass_reject, bypass_sign, bypass_slot_status
from qms.models import ApiToken, Delegation, Signature
from qms.pdf import Manifestation
from qms.roles import Role
from qms.services.delegation import delegated_roles, delegation_create, delegation_revoke
from qms.services.tokens import api_token_create
from tests.emergencies.services.test_bypasses import l2
from tests.factories import PASSWORD, file_stub

pytestmark = pytest.mark.django_db


def delegate(delegator, to, role, *, days=3, reason="On leave", starts=None):
    starts = starts or timezone.now()
    return delegation_create(
        delegator=delegator,
        delegate=to,
        role=role.value,
        starts_at=starts,
        ends_at=starts + timedelta(days=days),
        reason=reason,
        actor=delegator,
    )


@pytest.fixture
def people(make_user):
    class P:
        architect = make_user(Role.ARCHITECT, username="architect", first_name="Ada", last_name="Architect")
        coordinator = make_user(Role.QMS, username="coord", first_name="Quinn", last_name="Coordinator")
        colleague = make_user(Role.LEAD, username="colleague", first_name="Cole", last_name="League")
        developer = make_user(Role.ONCALL, username="dev", first_name="Dev", last_name="Eloper")

    return P


def test_a_delegate_signs_on_behalf_of_the_delegator_and_both_names_are_kept(people):
    delegation = delegate(people.architect, people.colleague, Role.ARCHITECT)
    bypass = l2(people.developer, now=timezone.now())
    assert Role.ARCHITECT in delegated_roles(people.colleague)
    bypass_sign(bypass_id=bypass.pk, signer=people.colleague, password=PASSWORD, role=Role.ARCHITECT)
    signature = Signature.objects.get(subject_id=bypass.pk, role=Role.ARCHITECT.value)
    assert signature.signer == people.colleague and signature.on_behalf_of == people.architect
    assert signature.signer_names == "Cole League on behalf of Ada Architect"
    assert Manifestation.of(signature, current_hash=signature.content_hash).printed_name == signature.signer_names
    event = AuditEvent.objects.filter(action="signature.approved").latest("position")
    assert event.after["on_behalf_of"] == "Ada Architect" and event.actor == people.colleague
    assert AuditEvent.objects.filter(action="delegation.created", after__delegation=delegation.pk).exists()


def test_the_delegator_cannot_also_sign_the_same_request_in_another_role(people, make_user):
    both = make_user(Role.ARCHITECT, Role.QMS, username="both")
    delegate(both, people.colleague, Role.ARCHITECT)
    bypass = l2(people.developer, now=timezone.now())
    bypass_sign(bypass_id=bypass.pk, signer=people.colleague, password=PASSWORD, role=Role.ARCHITECT)
    with pytest.raises(PermissionDenied, match="two required roles"):
        bypass_sign(bypass_id=bypass.pk, signer=both, password=PASSWORD, role=Role.QMS)


def test_a_delegate_cannot_fill_their_own_role_and_the_delegated_one(people, make_user):
    coordinator_delegate = make_user(Role.QMS, username="qms2")
    delegate(people.architect, coordinator_delegate, Role.ARCHITECT)
    bypass = l2(people.developer, now=timezone.now())
    bypass_sign(bypass_id=bypass.pk, signer=coordinator_delegate, password=PASSWORD, role=Role.QMS)
    with pytest.raises(PermissionDenied, match="two required roles"):
        bypass_sign(bypass_id=bypass.pk, signer=coordinator_delegate, password=PASSWORD, role=Role.ARCHITECT)
    # and the other way round: first for the delegator, then in their own role
    other = l2(people.developer, now=timezone.now())
    bypass_sign(bypass_id=other.pk, signer=coordinator_delegate, password=PASSWORD, role=Role.ARCHITECT)
    with pytest.raises(PermissionDenied, match="two required roles"):
        bypass_sign(bypass_id=other.pk, signer=coordinator_delegate, password=PASSWORD, role=Role.QMS)
    assert len(bypass_slot_status(BypassRequest.objects.get(pk=other.pk))) == 2


def test_a_delegate_cannot_approve_their_own_request_nor_one_the_delegator_made(people, make_user):
    architect_dev = make_user(Role.ARCHITECT, Role.ONCALL, username="archdev")
    delegate(architect_dev, people.colleague, Role.ARCHITECT)
    made_by_delegator = l2(architect_dev, now=timezone.now())
    with pytest.raises(PermissionDenied, match="on their behalf"):
        bypass_sign(bypass_id=made_by_delegator.pk, signer=people.colleague, password=PASSWORD, role=Role.ARCHITECT)
    with pytest.raises(PermissionDenied, match="own requester"):
        bypass_reject(
            bypass_id=made_by_delegator.pk, signer=people.colleague, password=PASSWORD, role=Role.ARCHITECT, reason="x"
        )
    requester = make_user(Role.ONCALL, Role.LEAD, username="requester")
    delegate(people.architect, requester, Role.ARCHITECT)
    own = l2(requester, now=timezone.now())
    with pytest.raises(PermissionDenied, match="Nobody approves their own request"):
        bypass_sign(bypass_id=own.pk, signer=requester, password=PASSWORD, role=Role.ARCHITECT)
    assert not Signature.objects.exists()


def test_a_delegation_never_passes_on_further(people, make_user):
    delegate(people.architect, people.colleague, Role.ARCHITECT)
    third = make_user(Role.LEAD, username="third")
    with pytest.raises(ValidationError, match="never passes on"):
        delegate(people.colleague, third, Role.ARCHITECT)


@pytest.mark.parametrize(
    ("case", "field"),
    [
        ("self", "delegate"),
        ("auditor", "delegate"),
        ("untrained", "delegate"),
        ("reason", "reason"),
        ("too_long", "ends_at"),
        ("read_only_role", "role"),
        ("over", "ends_at"),
        ("hostile_reason", "reason"),
    ],
)
def test_bad_delegations_are_refused_with_a_field_error_and_nothing_saved(people, make_user, case, field):
    now = timezone.now()
    kwargs = {
        "delegator": people.architect,
        "delegate": people.colleague,
        "role": "architect",
        "starts_at": now,
        "ends_at": now + timedelta(days=2),
        "reason": "Leave",
        "actor": people.architect,
    }
    if case == "self":
        kwargs["delegate"] = people.architect
    elif case == "auditor":
        kwargs["delegate"] = make_user(Role.AUDITOR, username="aud")
    elif case == "untrained":
        kwargs["delegate"] = make_user(Role.LEAD, username="fresh", trained=False)
    elif case == "reason":
        kwargs["reason"] = "   "
    elif case == "too_long":
        kwargs["ends_at"] = now + timedelta(days=120)
    elif case == "read_only_role":
        auditor = make_user(Role.AUDITOR, username="aud2")
        kwargs.update(delegator=auditor, actor=auditor, role="auditor")
    elif case == "over":
        kwargs.update(starts_at=now - timedelta(days=3), ends_at=now - timedelta(days=1))
    elif case == "hostile_reason":
        kwargs["reason"] = "x" * 6000
    with pytest.raises(ValidationError) as exc:
        delegation_create(**kwargs)
    assert field in exc.value.message_dict
    assert not Delegation.objects.exists()


def test_only_the_holder_delegates_and_only_the_two_people_revoke(people, make_user):
    with pytest.raises(PermissionDenied):
        delegation_create(
            delegator=people.architect,
            delegate=people.colleague,
            role="architect",
            starts_at=timezone.now(),
            ends_at=timezone.now() + timedelta(days=1),
            reason="x",
            actor=people.coordinator,
        )
    delegation = delegate(people.architect, people.colleague, Role.ARCHITECT)
    for outsider in (people.coordinator, make_user(Role.AUDITOR, username="aud")):
        with pytest.raises(PermissionDenied):
            delegation_revoke(delegation_id=delegation.pk, actor=outsider, reason="no")
    delegation_revoke(delegation_id=delegation.pk, actor=people.colleague, reason="I am away too")
    assert AuditEvent.objects.filter(action="delegation.revoked").exists()
    bypass = l2(people.developer, now=timezone.now())
    with pytest.raises(PermissionDenied, match="does not hold the role"):
        bypass_sign(bypass_id=bypass.pk, signer=people.colleague, password=PASSWORD, role=Role.ARCHITECT)


def test_a_delegation_that_has_ended_or_not_started_does_not_sign(people):
    later = delegate(people.architect, people.colleague, Role.ARCHITECT, starts=timezone.now() + timedelta(days=1))
    bypass = l2(people.developer, now=timezone.now())
    with pytest.raises(PermissionDenied, match="does not hold the role"):
        bypass_sign(bypass_id=bypass.pk, signer=people.colleague, password=PASSWORD, role=Role.ARCHITECT)
    assert later.pk


def test_an_emergency_bypass_signed_by_a_delegate(oncall, make_user):
    change = file_stub(oncall)
    bypass = BypassRequest.objects.get(change=change, level="E")
    role = bypass_slot_status(bypass)[0].roles[0]
    holder = make_user(role, username="holder")
    stand_in = make_user(Role.LEAD, username="standin")
    delegate(holder, stand_in, role)
    bypass_sign(bypass_id=bypass.pk, signer=stand_in, password=PASSWORD, role=role)
    assert Signature.objects.get(signer=stand_in).on_behalf_of == holder


def test_delegation_pages_and_api(client, people):
    client.force_login(people.architect)
    starts = timezone.localtime()
    page = client.post(
        reverse("qms:delegations"),
        {
            "role": "architect",
            "delegate": people.colleague.pk,
            "starts_at": starts.strftime("%Y-%m-%dT%H:%M"),
            "ends_at": (starts + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M"),
            "reason": "Conference",
        },
    )
    assert page.status_code == 302, page.content.decode()[:2000]
    delegation = Delegation.objects.get()
    assert client.get(reverse("qms:delegations")).status_code == 200
    response = client.post(reverse("qms:delegation-revoke", args=[delegation.pk]), {"reason": "Back early"})
    assert response.status_code == 302
    delegation.refresh_from_db()
    assert delegation.revoked_by == people.architect

    _, integration = api_token_create(
        user=people.architect,
        name="ci",
        scopes=[ApiToken.Scope.INTEGRATIONS],
        expires_at=None,
        second_factor_verified=False,
    )
    _, signer = api_token_create(
        user=people.architect, name="sign", scopes=[ApiToken.Scope.SIGN], expires_at=None, second_factor_verified=False
    )
    body = {
        "delegate": "colleague",
        "role": "architect",
        "starts_at": timezone.now().isoformat(),
        "ends_at": (timezone.now() + timedelta(days=1)).isoformat(),
        "reason": "Travel",
    }
    client.logout()
    url = reverse("api-delegations")
    refused = client.post(url, body, content_type="application/json", HTTP_AUTHORIZATION=f"Token {integration}")
    assert refused.status_code == 403
    created = client.post(url, body, content_type="application/json", HTTP_AUTHORIZATION=f"Token {signer}")
    assert created.status_code == 201, created.content
    assert created.json()["delegate"] == "colleague"
    revoke = client.post(
        reverse("api-delegation-revocation", args=[created.json()["id"]]),
        {"reason": "done"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Token {signer}",
    )
    assert revoke.status_code == 200 and revoke.json()["revoked_at"]
