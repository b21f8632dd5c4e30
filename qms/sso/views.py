"""Single sign-on pages: sign-in through the identity provider, and re-authentication there to sign."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import redirect, resolve_url
from django.urls import Resolver404, resolve
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from qms.services.signatures import SigningLocked
from qms.sso.config import sso_enabled
from qms.sso.discovery import DiscoveryFailed, endpoint
from qms.sso.reauth import ReauthUnavailable, reauth_begin, reauth_complete


class _Enabled:
    def dispatch(self, request, *args, **kwargs):
        if not sso_enabled():
            raise Http404("Single sign-on is not enabled.")
        return super().dispatch(request, *args, **kwargs)


class SignInStart(_Enabled, OIDCAuthenticationRequestView):
    """``GET /accounts/login/sso/``: off to the identity provider."""

    def get(self, request):
        try:
            self.OIDC_OP_AUTH_ENDPOINT = endpoint("OIDC_OP_AUTHORIZATION_ENDPOINT")
        except DiscoveryFailed:
            messages.error(request, "The identity provider could not be reached; try again later.")
            return redirect("login")
        return super().get(request)


class SignInCallback(_Enabled, OIDCAuthenticationCallbackView):
    """``GET /accounts/login/sso/callback/``: the provider's answer; the user is created or updated."""

    @property
    def failure_url(self):
        return resolve_url(self.get_settings("LOGIN_REDIRECT_URL_FAILURE", "login"))

    def login_failure(self):
        messages.error(self.request, "Sign-in through the identity provider did not succeed.")
        return super().login_failure()


def _intent(request) -> str:
    """The page a signature will be given on: a path of this portal with a view behind it."""
    path = request.GET.get("next", "")
    if not path.startswith("/") or not url_has_allowed_host_and_scheme(path, allowed_hosts=None) or len(path) > 500:
        raise ValidationError("Say which page the signature is for.")
    path = path.split("?", 1)[0].split("#", 1)[0]
    try:
        resolve(path)
    except Resolver404:
        raise ValidationError("Say which page the signature is for.") from None
    if path == "/":
        raise ValidationError("Say which page the signature is for.")
    return path


@require_GET
def reauth_start(request):
    """``GET /accounts/sso/reauth/?next=<page>``: re-authenticate at the provider to sign on that page. A
    link, not a form: the page's content security policy sends forms only to the portal."""
    if not sso_enabled():
        raise Http404("Single sign-on is not enabled.")
    try:
        intent = _intent(request)
        return HttpResponseRedirect(reauth_begin(request, intent=intent))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    except ReauthUnavailable as exc:
        messages.error(request, str(exc))
        return redirect(request.GET.get("next") if _safe(request) else "qms:dashboard")
    return redirect("qms:dashboard")


def _safe(request) -> bool:
    try:
        _intent(request)
    except ValidationError:
        return False
    return True


@require_GET
def reauth_callback(request):
    """``GET /accounts/sso/reauth/callback/``: the provider's answer, then back to the signing page."""
    if not sso_enabled():
        raise Http404("Single sign-on is not enabled.")
    intent = (request.session.get("qms_sso_reauth") or {}).get("intent")
    try:
        page = reauth_complete(request)
    except SigningLocked as exc:
        messages.error(request, str(exc))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    except ReauthUnavailable as exc:
        messages.error(request, str(exc))
        return redirect("qms:dashboard")
    except PermissionDenied as exc:
        messages.error(request, str(exc))
        return redirect("qms:dashboard")
    else:
        messages.success(request, "Re-authenticated at the identity provider: sign now.")
        return redirect(page)
    return redirect(intent or "qms:dashboard")
