"""API tokens: created and revoked by their owner, each one a named set of scopes with an expiry.

The secret is ``qms_<prefix>_<random>``: the prefix finds the row, the SHA-256 of the whole secret proves it
(a 256-bit random secret needs no slow hash). Only the hash is stored; the secret is shown once."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.dispatch import Signal
from django.utils import timezone

from qms.models import ApiToken, User

# token, action ("created", "revoked"), actor
api_token_event = Signal()

TOKEN_PREFIX = "qms_"
MAX_LIFETIME = timedelta(days=366)
DEFAULT_LIFETIME = timedelta(days=90)
MAX_ACTIVE_TOKENS = 25


def token_digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def token_split(raw: str) -> str | None:
    """The prefix of a well-formed secret, else None."""
    if not raw.startswith(TOKEN_PREFIX) or len(raw) > 120:
        return None
    prefix, _, secret = raw[len(TOKEN_PREFIX) :].partition("_")
    return prefix if prefix and secret else None


def token_find(raw: str) -> ApiToken | None:
    """The token a secret belongs to (revoked and expired ones too: the caller says why it is refused)."""
    prefix = token_split(raw)
    if prefix is None:
        return None
    token = ApiToken.objects.select_related("user").filter(prefix=prefix).first()
    if token is None or not hmac.compare_digest(token.secret_hash, token_digest(raw)):
        return None
    return token


@transaction.atomic
def api_token_create(
    *,
    user: User,
    name: str,
    scopes: list[str],
    expires_at: datetime | None,
    second_factor_verified: bool,
    created_via: str = ApiToken.CreatedVia.SESSION,
) -> tuple[ApiToken, str]:
    """A new token and its secret (shown once)."""
    name = (name or "").strip()
    errors = {}
    if not name:
        errors["name"] = "Give the token a name (what uses it)."
    elif len(name) > 100:
        errors["name"] = "At most 100 characters."
    unknown = sorted(set(scopes) - set(ApiToken.Scope.values))
    if not scopes:
        errors["scopes"] = "Choose at least one scope."
    elif unknown:
        errors["scopes"] = f"Unknown scopes: {', '.join(unknown)}."
    now = timezone.now()
    if expires_at is None:
        expires_at = now + DEFAULT_LIFETIME
    if expires_at <= now:
        errors["expires_at"] = "The expiry must be in the future."
    elif expires_at > now + MAX_LIFETIME:
        errors["expires_at"] = "A token lives at most a year."
    if errors:
        raise ValidationError(errors)
    if not user.is_active:
        raise PermissionDenied("An inactive user cannot create tokens.")
    User.objects.select_for_update().get(pk=user.pk)  # one count at a time per user
    active = ApiToken.objects.filter(user=user, revoked_at__isnull=True, expires_at__gt=now).count()
    if active >= MAX_ACTIVE_TOKENS:
        raise ValidationError(f"You have {active} active tokens; revoke one first.")
    prefix = secrets.token_hex(6)
    raw = f"{TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    token = ApiToken.objects.create(
        user=user,
        name=name,
        prefix=prefix,
        secret_hash=token_digest(raw),
        scopes=[s for s in ApiToken.Scope.values if s in scopes],
        expires_at=expires_at,
        second_factor_verified=second_factor_verified,
        created_via=created_via,
    )
    api_token_event.send(sender=ApiToken, token=token, action="created", actor=user)
    return token, raw


@transaction.atomic
def api_token_revoke(*, token_id: int, actor: User) -> ApiToken:
    """Revoke one of the actor's own tokens (a revoked token stays listed, for the trail)."""
    token = ApiToken.objects.select_for_update().filter(pk=token_id, user=actor).first()
    if token is None:
        raise PermissionDenied("No such token of yours.")
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        api_token_event.send(sender=ApiToken, token=token, action="revoked", actor=actor)
    return token


def api_token_touch(*, token: ApiToken) -> None:
    """Remember when a token was last used (at most one write a minute per token)."""
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= timedelta(minutes=1):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now


def api_token_list(*, user: User):
    return ApiToken.objects.filter(user=user).order_by("-created_at", "-pk")
