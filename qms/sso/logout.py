"""Signing out: of the portal, and of the identity provider for a user who signed in through it."""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.views import LogoutView
from django.http import HttpResponseRedirect
from django.shortcuts import resolve_url

from qms.sso.config import sso_enabled
from qms.sso.discovery import DiscoveryFailed, endpoint


class PortalLogoutView(LogoutView):
    """``POST /accounts/logout/``: signs out of the portal; a user who signed in through the identity
    provider is then sent to its ``end_session_endpoint`` (RP-Initiated Logout 1.0) to end that session
    too, and comes back to the sign-in page."""

    def post(self, request, *args, **kwargs):
        id_token = request.session.get("oidc_id_token", "") if sso_enabled() else ""
        response = super().post(request, *args, **kwargs)
        if not id_token:
            return response
        try:
            end_session = endpoint("OIDC_OP_LOGOUT_ENDPOINT")
        except DiscoveryFailed:
            end_session = ""
        if not end_session:
            return response
        params = {
            "id_token_hint": id_token,
            "client_id": settings.OIDC_RP_CLIENT_ID,
            "post_logout_redirect_uri": request.build_absolute_uri(resolve_url("login")),
        }
        return HttpResponseRedirect(f"{end_session}?{urlencode(params)}")
