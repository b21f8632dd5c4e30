import logging
import zoneinfo

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import SESSION_KEY, logout
from django.contrib.auth.views import redirect_to_login
from django.db import DataError
from django.http import HttpResponseBadRequest
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode

from qms.api.problems import problem_response

logger = logging.getLogger(__name__)

# Paths that must answer without a session: the login page itself, static files, the API (it answers
# 401 on its own terms), the health check for the load balancer, GitHub's webhook (signed deliveries) and
# the alert intake (each tool authenticates itself).
PUBLIC_PREFIXES = (
    "/accounts/login/",
    "/static/",
    "/api/",
    "/healthz",
    "/integrations/github/webhook",
    "/integrations/alerts/",
    # The on-call acknowledgement link: its signed, per-person token is the credential (qms.roster.views).
    "/oncall/ack/",
)


class LoginRequiredEverywhereMiddleware:
    """Every page needs a signed-in user; nothing is public by accident."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.user.is_authenticated and not request.path.startswith(PUBLIC_PREFIXES):
            return redirect_to_login(request.get_full_path(), settings.LOGIN_URL)
        return self.get_response(request)


class UserTimezoneMiddleware:
    """Show times in the user's own zone; they are stored in UTC."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        tz_name = getattr(request.user, "time_zone", None) if request.user.is_authenticated else None
        try:
            timezone.activate(zoneinfo.ZoneInfo(tz_name or settings.TIME_ZONE))
        except zoneinfo.ZoneInfoNotFoundError:
            timezone.activate(zoneinfo.ZoneInfo("UTC"))
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()


CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
        "form-action 'self'",
        "base-uri 'self'",
        "object-src 'none'",
    ]
)


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        # The admin and the API browser ship inline scripts of their own.
        if not request.path.startswith(("/admin/", "/api/")):
            response.headers.setdefault("Content-Security-Policy", CSP)
        return response


SESSION_STARTED_KEY = "_qms_session_started"
SESSION_SEEN_KEY = "_qms_session_seen"
# Last activity is written at most once a minute, so a busy page does not save the session on every request.
ACTIVITY_WRITE_INTERVAL = 60


def _login_redirect(request, message: str):
    if request.path.startswith("/api/"):
        return problem_response(request, 401, message)
    messages.info(request, message)
    return redirect_to_login(request.get_full_path(), settings.LOGIN_URL)


class SessionTimeoutMiddleware:
    """End a signed-in session after SESSION_IDLE_TIMEOUT without activity, or SESSION_COOKIE_AGE after the
    sign-in, whichever comes first, on the server's clock (a kept cookie does not keep a session alive)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.user.is_authenticated:
            now = timezone.now().timestamp()
            started = request.session.get(SESSION_STARTED_KEY)
            seen = request.session.get(SESSION_SEEN_KEY)
            reason = ""
            if started is not None and now - started >= settings.SESSION_COOKIE_AGE:
                reason = "session lifetime reached"
            elif seen is not None and now - seen >= settings.SESSION_IDLE_TIMEOUT:
                reason = "idle timeout"
            if reason:
                request.logout_reason = reason
                logout(request)
                return _login_redirect(request, f"You were signed out ({reason}). Please sign in again.")
        original_key = request.COOKIES.get(settings.SESSION_COOKIE_NAME)
        response = self.get_response(request)
        # Only sessions that carry a sign-in; a token-authenticated API call must not create one.
        session = request.session
        if SESSION_KEY in session and request.user.is_authenticated:
            now = timezone.now().timestamp()
            if session.session_key != original_key or SESSION_STARTED_KEY not in session:
                # A sign-in (the key was cycled) or a session from before this middleware: the clocks start now.
                session[SESSION_STARTED_KEY] = now
                session[SESSION_SEEN_KEY] = now
            elif now - session.get(SESSION_SEEN_KEY, 0) >= ACTIVITY_WRITE_INTERVAL:
                session[SESSION_SEEN_KEY] = now
        return response


# A half-signed-in user (password given, code not yet) may reach only these.
SECOND_FACTOR_EXEMPT_PREFIXES = (
    "/accounts/login/",
    "/accounts/logout/",
    "/accounts/2fa/verify/",
    "/static/",
    "/healthz",
)


class SecondFactorMiddleware:
    """A user with a confirmed TOTP device has finished signing in only once a code was accepted."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        from qms.security import second_factor_pending

        if not request.path.startswith(SECOND_FACTOR_EXEMPT_PREFIXES) and second_factor_pending(request):
            if request.path.startswith("/api/"):
                return problem_response(request, 403, "Enter your authenticator code to finish signing in.")
            return redirect(f"{reverse('second-factor-verify')}?{urlencode({'next': request.get_full_path()})}")
        return self.get_response(request)


class RequestSanityMiddleware:
    """Bad input is a 400 that says what is wrong, on every page and endpoint, never a 500.

    - A query string holding a NUL character (``?q=%00``, ``?status=%00``) is refused before any view reads
      it: PostgreSQL cannot compare text with a NUL in it.
    - Whatever still reaches the database with a value it cannot hold (a NUL in text, an integer beyond its
      column) answers 400 instead of a server error; the write it was part of rolls back whole.

    JSON bodies are checked by the API's parser (``qms.api.parsing``), form fields by Django's own
    ``CharField`` validators (a field error on the form).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        bad = sorted({key for key, values in request.GET.lists() for v in [key, *values] if "\x00" in v})
        if bad:
            names = ", ".join(name.replace("\x00", "\\0") for name in bad)
            return bad_request(request, f"The query parameter {names} holds a NUL character; remove it.", bad)
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, DataError):
            logger.warning("Refused %s %s: %s", request.method, request.path, exception)
            return bad_request(request, f"A value cannot be stored or searched: {str(exception).splitlines()[0]}.")
        return None


def bad_request(request, message: str, fields: list[str] | None = None):
    """A 400: a problem document under /api/, a page elsewhere (rendered without the database)."""
    if request.path.startswith("/api/"):
        errors = [{"field": f.replace("\x00", "\\0"), "pointer": None, "detail": message} for f in fields or []]
        return problem_response(request, 400, message, errors=errors or None)
    return HttpResponseBadRequest(render_to_string("qms/bad_request.html", {"message": message}))
