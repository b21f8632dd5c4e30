"""Users from the identity provider: created at their first sign-in, their roles re-read at every one."""

from __future__ import annotations

import hashlib

from django.contrib.auth.models import Group
from django.core.exceptions import SuspiciousOperation
from django.db import transaction
from django.utils import timezone

from qms.models import User
from qms.roles import ROLE_LABELS, Role
from qms.sso import signals
from qms.sso.config import roles_from_claims
from qms.sso.models import SSOIdentity


def _username(claims: dict) -> str:
    """The provider's preferred username when no portal user has it yet (never an existing account: a
    local account is not taken over by a provider's claim), else one derived from the subject."""
    wanted = str(claims.get("preferred_username") or "").strip()[:120]
    if wanted and not User.objects.filter(username__iexact=wanted).exists():
        return wanted
    digest = hashlib.sha256(f"{claims['iss']} {claims['sub']}".encode()).hexdigest()[:10]
    return f"{(wanted or 'sso')[:120]}-{digest}"


def _names(claims: dict) -> dict:
    first, last = str(claims.get("given_name") or "")[:150], str(claims.get("family_name") or "")[:150]
    if not (first or last) and claims.get("name"):
        first, _, last = str(claims["name"]).strip().partition(" ")
    email = str(claims.get("email") or "")[:254] if claims.get("email_verified", True) else ""
    return {"first_name": first[:150], "last_name": last[:150], "email": email}


@transaction.atomic
def sso_user_sign_in(*, claims: dict, user: User | None = None) -> User:
    """Create or update the user of a verified sign-in (``claims``: the ID token's ``iss`` and ``sub`` and
    the userinfo). Their portal roles become exactly those the group claim maps to; a change is an audit
    event. Other groups and the staff flags are the portal's own and are left as they are."""
    issuer, subject = str(claims.get("iss") or ""), str(claims.get("sub") or "")
    if not issuer or not subject or len(issuer) > 255 or len(subject) > 255:
        raise SuspiciousOperation("The identity provider's answer has no usable issuer and subject.")
    now = timezone.now()
    if user is None:
        user = User(username=_username(claims), **_names(claims))
        user.set_unusable_password()
        user._change_reason = "created at the first single sign-on"
        user.save()
        SSOIdentity.objects.create(user=user, issuer=issuer, subject=subject, last_sign_in_at=now)
        signals.sso_user_created.send(sender=SSOIdentity, user=user, claims={"iss": issuer, "sub": subject})
    else:
        user = User.objects.select_for_update().get(pk=user.pk)
        identity = SSOIdentity.objects.select_for_update().get(user=user, issuer=issuer, subject=subject)
        changed = {k: v for k, v in _names(claims).items() if v and getattr(user, k) != v}
        if changed:
            for key, value in changed.items():
                setattr(user, key, value)
            user._change_reason = "updated from the identity provider at sign-in"
            user.save(update_fields=list(changed))
        identity.last_sign_in_at = now
        identity.save(update_fields=["last_sign_in_at"])
    _roles_apply(user, claims)
    return user


def _roles_apply(user: User, claims: dict) -> None:
    groups, wanted = roles_from_claims(claims)
    role_names = set(ROLE_LABELS.values())
    current = {g.name for g in user.groups.filter(name__in=role_names)}
    before = sorted(r.value for r in Role if r.group_name in current)
    after = sorted(r.value for r in wanted)
    if before == after:
        return
    user.groups.remove(*Group.objects.filter(name__in=current - {r.group_name for r in wanted}))
    user.groups.add(*[Group.objects.get_or_create(name=r.group_name)[0] for r in wanted])
    user.__dict__.pop("roles", None)
    signals.sso_roles_changed.send(sender=SSOIdentity, user=user, before=before, after=after, groups=groups)
