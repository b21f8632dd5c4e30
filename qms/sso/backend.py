"""The sign-in backend: mozilla-django-oidc's code flow, with the portal's own user matching (by the
provider's issuer and subject, never by e-mail) and roles from the group claim."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import SuspiciousOperation
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from qms.sso.config import sso_enabled
from qms.sso.discovery import DiscoveryFailed, endpoint
from qms.sso.models import SSOIdentity
from qms.sso.services import sso_user_sign_in


def id_token_check(payload: dict) -> dict:
    """The checks mozilla-django-oidc leaves to the client: the issuer and the audience."""
    issuer = getattr(settings, "OIDC_OP_ISSUER", "")
    if issuer and payload.get("iss") != issuer:
        raise SuspiciousOperation("The ID token was issued by another provider.")
    audience = payload.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if settings.OIDC_RP_CLIENT_ID not in audiences:
        raise SuspiciousOperation("The ID token is not for this portal.")
    if not payload.get("sub"):
        raise SuspiciousOperation("The ID token has no subject.")
    return payload


class PortalOIDCBackend(OIDCAuthenticationBackend):
    # Django builds every backend for every sign-in, the password ones too: the provider's endpoints are
    # read only when a provider's answer is handled (qms.sso.discovery, cached).
    endpoints_loaded = False

    def endpoints_load(self) -> None:
        """Raises DiscoveryFailed when the provider's discovery document cannot be read."""
        if not self.endpoints_loaded:
            self.OIDC_OP_TOKEN_ENDPOINT = endpoint("OIDC_OP_TOKEN_ENDPOINT")
            self.OIDC_OP_USER_ENDPOINT = endpoint("OIDC_OP_USER_ENDPOINT")
            self.OIDC_OP_JWKS_ENDPOINT = endpoint("OIDC_OP_JWKS_ENDPOINT")
            self.endpoints_loaded = True

    def authenticate(self, request, **kwargs):
        if not sso_enabled() or request is None or not request.GET.get("code"):
            return None
        try:
            self.endpoints_load()
        except DiscoveryFailed:
            return None
        return super().authenticate(request, **kwargs)

    def verify_token(self, token, **kwargs):
        return id_token_check(super().verify_token(token, **kwargs))

    def get_userinfo(self, access_token, id_token, payload):
        info = super().get_userinfo(access_token, id_token, payload)
        if info.get("sub") != payload["sub"]:
            raise SuspiciousOperation("The userinfo is not the ID token's subject.")
        # The ID token's claims first (issuer, subject), then the userinfo's profile and groups.
        return {**payload, **info, "iss": payload["iss"], "sub": payload["sub"]}

    def verify_claims(self, claims):
        return bool(claims.get("sub") and claims.get("iss"))

    def filter_users_by_claims(self, claims):
        identities = SSOIdentity.objects.filter(issuer=claims["iss"], subject=claims["sub"]).select_related("user")
        return [identity.user for identity in identities]

    def create_user(self, claims):
        return sso_user_sign_in(claims=claims)

    def update_user(self, user, claims):
        return sso_user_sign_in(claims=claims, user=user)
