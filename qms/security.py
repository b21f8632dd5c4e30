"""The optional second factor (TOTP through django-otp): enrolment, the sign-in step, and the predicate
that signing code asks before it accepts a signature.

A user without a device signs in with a password alone. Once they have confirmed a device, a sign-in is
finished only after a code (``qms.middleware.SecondFactorMiddleware`` holds every other page back). With
``QMS_REQUIRE_TOTP_FOR_SIGNERS`` on, a signature needs a session verified with a code.

Oversight hears about enrolments and codes through ``second_factor_event`` (it never is imported here).
"""

from __future__ import annotations

from base64 import b32encode

import segno
from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.validators import RegexValidator
from django.db import transaction
from django.dispatch import Signal
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from qms.models import User
from qms.services.signatures import SSO_PROOF_PREFIX, SigningAuth, signing_refusal

# user, action ("enrolled", "verified", "failed", "removed"), request
second_factor_event = Signal()

HAS_DEVICE_SESSION_KEY = "_qms_has_otp_device"
DEVICE_NAME = "Authenticator app"


def user_has_verified_second_factor(request) -> bool:
    """True when this session's user entered a valid code from a confirmed device."""
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_authenticated and getattr(user, "is_verified", lambda: False)())


def signing_auth(request) -> SigningAuth:
    """What this request tells the signing service about its authentication: an API token (DRF puts it
    in ``request.auth``), or a browser session, verified with a code or not."""
    token = getattr(request, "auth", None)
    if token is not None:
        return SigningAuth(second_factor=False, token=token)
    return SigningAuth(
        second_factor=user_has_verified_second_factor(request), page=request.path, sso_proof=_sso_proof(request)
    )


def _sso_proof(request) -> str:
    """A re-authentication proof a signing form posts in its password field (single sign-on), or ""."""
    if request.method != "POST" or not getattr(request, "content_type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        return ""
    password = request.POST.get("password", "")
    return password.removeprefix(SSO_PROOF_PREFIX) if password.startswith(SSO_PROOF_PREFIX) else ""


def second_factor_satisfied_for_signing(request) -> bool:
    """Whether this request could sign (always true while the setting is off); the signing service decides."""
    return signing_refusal(signing_auth(request)) is None


def user_has_confirmed_device(user: User) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def second_factor_pending(request) -> bool:
    """Signed in with a password, holding a confirmed device, but no code entered yet."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or user_has_verified_second_factor(request):
        return False
    cached = request.session.get(HAS_DEVICE_SESSION_KEY)
    if not cached or cached[0] != user.pk:
        cached = [user.pk, user_has_confirmed_device(user)]
        request.session[HAS_DEVICE_SESSION_KEY] = cached
    return bool(cached[1])


class TokenForm(forms.Form):
    token = forms.CharField(
        label="Code from your authenticator app",
        max_length=6,
        validators=[RegexValidator(r"^\d{6}$", "Enter the six digits your authenticator app shows.")],
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "one-time-code", "pattern": r"\d{6}"}),
    )


def _throttled_message(device: TOTPDevice) -> str | None:
    allowed, _ = device.verify_is_allowed()
    if allowed:
        return None
    return "Too many wrong codes. Wait a little and try again."


@transaction.atomic
def totp_device_pending_get_or_create(*, user: User) -> TOTPDevice:
    """The unconfirmed device a user is enrolling (one at a time; its secret is shown until confirmed)."""
    device = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=False).order_by("pk").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=False)
    return device


@transaction.atomic
def totp_device_confirm(*, user: User, token: str) -> TOTPDevice | None:
    """Confirm the user's pending device with a code from it; ``None`` if the code is wrong."""
    device = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=False).order_by("pk").first()
    if device is None or not device.verify_token(token):
        return None
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    return device


def _verify_confirmed(user: User, token: str) -> tuple[TOTPDevice | None, str]:
    for device in TOTPDevice.objects.filter(user=user, confirmed=True).order_by("pk"):
        throttled = _throttled_message(device)
        if throttled:
            return None, throttled
        if device.verify_token(token):
            return device, ""
    return None, "That code is not valid. Check your device's clock and try the current code."


def _safe_next(request, default: str = "/") -> str:
    target = request.POST.get("next") or request.GET.get("next") or default
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return default


@require_http_methods(["GET", "POST"])
def second_factor_setup(request):
    """Enrol an authenticator app, or remove it (with a current code)."""
    user = request.user
    has_device = user_has_confirmed_device(user)
    form = TokenForm(request.POST if request.method == "POST" else None)
    if has_device:
        if request.method == "POST" and form.is_valid():
            device, error = _verify_confirmed(user, form.cleaned_data["token"])
            if device is None:
                form.add_error("token", error)
                second_factor_event.send(sender=User, user=user, action="failed", request=request)
            else:
                TOTPDevice.objects.filter(user=user).delete()
                request.session.pop(HAS_DEVICE_SESSION_KEY, None)
                second_factor_event.send(sender=User, user=user, action="removed", request=request)
                messages.success(request, "Your authenticator app was removed.")
                return redirect("second-factor-setup")
        return render(
            request,
            "registration/second_factor_setup.html",
            {"form": form, "enrolled": True, "required": settings.QMS_REQUIRE_TOTP_FOR_SIGNERS},
            status=400 if form.errors else 200,
        )

    device = totp_device_pending_get_or_create(user=user)
    if request.method == "POST" and form.is_valid():
        confirmed = totp_device_confirm(user=user, token=form.cleaned_data["token"])
        if confirmed is None:
            form.add_error("token", "That code is not valid. Scan the code again and enter the current six digits.")
        else:
            request.session.cycle_key()
            otp_login(request, confirmed)
            request.session[HAS_DEVICE_SESSION_KEY] = [user.pk, True]
            second_factor_event.send(sender=User, user=user, action="enrolled", request=request)
            messages.success(request, "Your authenticator app is set up. You will be asked for a code at sign-in.")
            return redirect("second-factor-setup")
    config_url = device.config_url
    return render(
        request,
        "registration/second_factor_setup.html",
        {
            "form": form,
            "enrolled": False,
            "required": settings.QMS_REQUIRE_TOTP_FOR_SIGNERS,
            "qr": segno.make(config_url, error="m").svg_data_uri(scale=4),
            "secret": b32encode(device.bin_key).decode(),
        },
        status=400 if form.errors else 200,
    )


@require_http_methods(["GET", "POST"])
def second_factor_verify(request):
    """The sign-in step after the password, for users with a confirmed device."""
    user = request.user
    if user_has_verified_second_factor(request) or not user_has_confirmed_device(user):
        return redirect(_safe_next(request))
    form = TokenForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        device, error = _verify_confirmed(user, form.cleaned_data["token"])
        if device is None:
            form.add_error("token", error)
            second_factor_event.send(sender=User, user=user, action="failed", request=request)
        else:
            request.session.cycle_key()  # a new key for the now fully signed-in session
            otp_login(request, device)
            second_factor_event.send(sender=User, user=user, action="verified", request=request)
            return redirect(_safe_next(request))
    return render(
        request,
        "registration/second_factor_verify.html",
        {"form": form, "next": _safe_next(request)},
        status=400 if form.errors else 200,
    )
