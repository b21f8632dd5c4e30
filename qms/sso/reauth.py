"""Re-authentication at the identity provider for a signature (``prompt=login``, ``max_age=0``).

``reauth_begin`` remembers (in the session) who asked, for which page, with which state, nonce and PKCE
verifier, and returns the provider's authorisation URL. ``reauth_complete`` takes the provider's answer:
a cancelled, stale or someone else's authentication is refused and counted toward the signing lockout
(``signer_failure_record``); an accepted one becomes a one-time proof for that page (``qms.sso.proofs``).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from urllib.parse import urlencode

import requests
from django.conf import settings
from django.core.exceptions import PermissionDenied, SuspiciousOperation, ValidationError
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import get_random_string
from mozilla_django_oidc.utils import absolutify, generate_code_challenge

from qms.models import SignerState, User
from qms.services.signatures import signer_failure_record
from qms.sso import signals
from qms.sso.backend import PortalOIDCBackend
from qms.sso.config import reauth_max_age, reauth_second_factor, sso_enabled
from qms.sso.discovery import DiscoveryFailed, endpoint
from qms.sso.models import SSOIdentity
from qms.sso.proofs import proof_create

PENDING_KEY = "qms_sso_reauth"
PROOF_KEY = "qms_sso_proof"
PENDING_SECONDS = 15 * 60
CLOCK_LEEWAY = 60


class ReauthUnavailable(PermissionDenied):
    pass


def _identity(user: User) -> SSOIdentity:
    if not sso_enabled():
        raise ReauthUnavailable("Single sign-on is not enabled.")
    identity = SSOIdentity.objects.filter(user=user).first()
    if identity is None:
        raise ReauthUnavailable("You do not sign in through the identity provider: sign with your password.")
    return identity


def reauth_begin(request, *, intent: str) -> str:
    _identity(request.user)
    if SignerState.objects.filter(user=request.user, locked_at__isnull=False).exists():
        raise ReauthUnavailable("Your signing is locked after repeated failures; ask a security officer.")
    state, nonce, verifier = get_random_string(32), get_random_string(32), get_random_string(64)
    request.session[PENDING_KEY] = {
        "state": state,
        "nonce": nonce,
        "verifier": verifier,
        "intent": intent,
        "user": request.user.pk,
        "started": time.time(),
    }
    params = {
        "response_type": "code",
        "scope": "openid",
        "client_id": settings.OIDC_RP_CLIENT_ID,
        "redirect_uri": absolutify(request, reverse("sso-reauth-callback")),
        "state": state,
        "nonce": nonce,
        "prompt": "login",
        "max_age": "0",
        "login_hint": request.user.username,
        "code_challenge": generate_code_challenge(verifier, "S256"),
        "code_challenge_method": "S256",
    }
    if getattr(settings, "QMS_SSO_SECOND_FACTOR_ACR", None):
        params["acr_values"] = " ".join(settings.QMS_SSO_SECOND_FACTOR_ACR)
    try:
        authorization = endpoint("OIDC_OP_AUTHORIZATION_ENDPOINT")
    except DiscoveryFailed as exc:
        raise ReauthUnavailable("The identity provider could not be reached; try again.") from exc
    return f"{authorization}?{urlencode(params)}"


def _refuse(user: User, reason: str, intent: str) -> None:
    signals.sso_reauth_event.send(sender=SSOIdentity, user=user, outcome="refused", reason=reason, intent=intent)
    signer_failure_record(user=user, reason=reason)


def reauth_complete(request) -> str:
    """The provider's answer. Returns the page to go back to; raises ValidationError (counted, with the
    attempts left), SigningLocked, or PermissionDenied (an answer this session did not ask for, not counted)."""
    user = request.user
    identity = _identity(user)
    pending = request.session.pop(PENDING_KEY, None)
    state = request.GET.get("state", "")
    if (
        not pending
        or pending.get("user") != user.pk
        or not state
        or state != pending.get("state")
        or time.time() - pending.get("started", 0) > PENDING_SECONDS
    ):
        raise PermissionDenied("This answer of the identity provider was not asked for here; start again.")
    intent = pending["intent"]
    if request.GET.get("error"):
        _refuse(user, "Re-authentication cancelled at the identity provider", intent)
    code = request.GET.get("code", "")
    if not code:
        _refuse(user, "The identity provider sent no re-authentication", intent)
    backend = PortalOIDCBackend()
    try:
        backend.endpoints_load()
    except DiscoveryFailed as exc:
        raise ValidationError("The identity provider could not be reached; try again.") from exc
    try:
        tokens = backend.get_token(
            {
                "client_id": settings.OIDC_RP_CLIENT_ID,
                "client_secret": settings.OIDC_RP_CLIENT_SECRET,
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": absolutify(request, reverse("sso-reauth-callback")),
                "code_verifier": pending["verifier"],
            }
        )
    except requests.RequestException as exc:
        raise ValidationError("The identity provider could not be reached; try again.") from exc
    try:
        claims = backend.verify_token(tokens.get("id_token") or "", nonce=pending["nonce"])
    except (SuspiciousOperation, ValueError, requests.RequestException):
        _refuse(user, "The identity provider's answer could not be verified", intent)
    if claims.get("iss") != identity.issuer or claims.get("sub") != identity.subject:
        _refuse(user, "Re-authenticated as someone else at the identity provider", intent)
    auth_time = claims.get("auth_time")
    if not isinstance(auth_time, int | float):
        _refuse(user, "The identity provider did not say when you authenticated", intent)
    authenticated = datetime.fromtimestamp(auth_time, tz=UTC)
    age = (timezone.now() - authenticated).total_seconds()
    if age > reauth_max_age() or age < -CLOCK_LEEWAY:
        _refuse(user, "Your authentication at the identity provider is not fresh", intent)
    secret = proof_create(
        user=user,
        intent=intent,
        subject=identity.subject,
        auth_time=authenticated,
        second_factor=reauth_second_factor(claims),
    )
    request.session[PROOF_KEY] = {"secret": secret, "intent": intent}
    signals.sso_reauth_event.send(sender=SSOIdentity, user=user, outcome="accepted", reason="", intent=intent)
    return intent
