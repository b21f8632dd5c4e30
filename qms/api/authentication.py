"""API tokens on the wire: authentication (``Authorization: Token qms_…`` or ``Bearer qms_…``), what each
scope allows, and the rate limit per token.

``request.auth`` is the ``ApiToken`` in use (signing code reads ``second_factor_verified`` from it); a
session-authenticated request has no token and no scope limit (the page and the API then allow the same).
Each request made with a token names it in the audit events it writes (``qms.api.context``).
"""

from __future__ import annotations

from rest_framework import authentication, exceptions, permissions, throttling

from qms.api.context import current_api_token
from qms.models import ApiToken
from qms.services.tokens import api_token_touch, token_find

KEYWORDS = ("token", "bearer")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class ScopedTokenAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower().decode(errors="replace") not in KEYWORDS:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Send one token: Authorization: Token <secret>.")
        try:
            raw = header[1].decode()
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("The token is not valid.") from None
        token = token_find(raw)
        if token is None:
            raise exceptions.AuthenticationFailed("The token is not valid.")
        if token.revoked_at is not None:
            raise exceptions.AuthenticationFailed("This token was revoked.")
        if token.is_expired:
            raise exceptions.AuthenticationFailed("This token has expired; create a new one in your preferences.")
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("The token's user is deactivated.")
        api_token_touch(token=token)
        current_api_token.set({"id": token.pk, "name": token.name})
        return token.user, token

    def authenticate_header(self, request):
        return 'Token realm="api"'


def required_scope(request, view) -> str:
    """The scope an operation needs: the view's ``token_scopes`` for the method, else read for reads and
    integrations for any other write."""
    scopes = getattr(view, "token_scopes", None) or {}
    if request.method in scopes:
        return scopes[request.method]
    return ApiToken.Scope.READ if request.method in SAFE_METHODS else ApiToken.Scope.INTEGRATIONS


class TokenScopePermission(permissions.BasePermission):
    """A token may do only what its scopes allow; a session is not limited by scopes."""

    def has_permission(self, request, view):
        token = request.auth
        if not isinstance(token, ApiToken):
            return True
        scope = required_scope(request, view)
        if token.has_scope(scope):
            return True
        self.message = f"This token lacks the “{scope}” scope ({ApiToken.Scope(scope).label})."
        return False


class PerTokenRateThrottle(throttling.SimpleRateThrottle):
    """``API_TOKEN_RATE`` per token; sessions keep the per-user rate."""

    scope = "token"

    def get_cache_key(self, request, view):
        if not isinstance(request.auth, ApiToken):
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.auth.pk}


class PerUserSessionRateThrottle(throttling.UserRateThrottle):
    """The per-user rate, for requests not made with a token (a token has its own)."""

    def get_cache_key(self, request, view):
        if isinstance(request.auth, ApiToken):
            return None
        return super().get_cache_key(request, view)
