"""One-time proofs of a re-authentication at the identity provider, for electronic signatures.

After the provider's callback has checked that the authentication is fresh and is the signer's
(``qms.sso.reauth``), a proof is stored: a random secret (only its SHA-256 is kept) bound to the user,
to the page the signature is given on and to a short lifetime (the freshness window, counted from the
provider's ``auth_time``). The signing form posts it in place of the password
(``qms.services.signatures.SSO_PROOF_PREFIX``); ``signer_authenticate`` uses it up with :func:`proof_use`,
so every signing path that takes a password takes a proof, and ``signature_record`` records the method.
Proofs are for the portal's pages: an API request (a token) cannot use one.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from qms.models import User
from qms.sso.config import reauth_max_age
from qms.sso.models import ReauthProof


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def proof_create(*, user: User, intent: str, subject: str, auth_time: datetime, second_factor: bool = False) -> str:
    """Store a proof and return its secret (shown to nobody: it goes back to the signing form)."""
    secret = secrets.token_urlsafe(32)
    ReauthProof.objects.create(
        user=user,
        secret_hash=_hash(secret),
        intent=intent[:500],
        subject=subject[:255],
        auth_time=auth_time,
        expires_at=auth_time + timedelta(seconds=reauth_max_age()),
        second_factor=second_factor,
    )
    return secret


def proof_pending(*, user: User, secret: str, page: str) -> ReauthProof | None:
    """An unused, unexpired proof of this user for this page (what the signing form may post), or None."""
    if not secret or not user.is_authenticated:
        return None
    proof = ReauthProof.objects.filter(secret_hash=_hash(secret), user=user, used_at__isnull=True).first()
    if proof is None or proof.expires_at <= timezone.now() or proof.intent != page:
        return None
    return proof


def proof_use(*, user: User, secret: str, auth) -> str | None:
    """Use up a proof in the caller's transaction: None when it signs for ``user`` on ``auth.page``, else
    why not (the caller counts the refusal as a wrong password)."""
    if auth is None or getattr(auth, "token", None) is not None or not auth.page:
        return "A re-authentication at the identity provider signs on the portal's pages only"
    if not secret or auth.sso_proof != secret:
        return "This re-authentication was not posted by the signing form"
    proof = ReauthProof.objects.select_for_update().filter(secret_hash=_hash(secret)).first()
    if proof is None or proof.user_id != user.pk:
        return "This re-authentication at the identity provider is not yours"
    if proof.used_at is not None:
        return "This re-authentication was already used for a signature; re-authenticate again"
    now = timezone.now()
    if proof.expires_at <= now:
        return "Your re-authentication at the identity provider is too old; re-authenticate again"
    if not _within(auth.page, proof.intent):
        return "This re-authentication was given for another page; re-authenticate here"
    proof.used_at = now
    proof.save(update_fields=["used_at"])
    return None


def _within(page: str, intent: str) -> bool:
    """The signature is posted to the page the re-authentication was asked from, or to one of its actions."""
    intent = intent if intent.endswith("/") else intent + "/"
    return len(intent) > 1 and (page == intent or page.startswith(intent))


def proof_used_by(*, secret: str, user: User) -> bool:
    """Whether this proof was used up by ``user`` (``signature_record`` asks, in the same request)."""
    return ReauthProof.objects.filter(secret_hash=_hash(secret), user=user, used_at__isnull=False).exists()


def proof_second_factor(*, secret: str, page: str) -> bool:
    """Whether this proof records a re-authentication with a second factor, for this page (its user and
    single use are checked where it is used up, :func:`proof_use`)."""
    if not secret or not page:
        return False
    proof = ReauthProof.objects.filter(secret_hash=_hash(secret), second_factor=True).first()
    return proof is not None and _within(page, proof.intent)


def proofs_purge(*, now: datetime | None = None) -> int:
    """Delete the proofs used or expired more than ``QMS_SSO_PROOF_RETENTION_HOURS`` ago (a beat job); a
    proof still usable, or used or expired within the retention, stays. Returns how many went. The
    signature itself records its method, and the audit trail the accepted re-authentication."""
    cutoff = (now or timezone.now()) - timedelta(hours=settings.QMS_SSO_PROOF_RETENTION_HOURS)
    deleted, _ = ReauthProof.objects.filter(Q(used_at__lt=cutoff) | Q(expires_at__lt=cutoff)).delete()
    return deleted
