"""Sign-in hardening: lockout, fresh sessions, idle and absolute timeouts, the optional second factor, headers."""

from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from audits.models import AuditEvent
from qms.roles import Role
from qms.security import second_factor_satisfied_for_signing

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"
START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def _sign_in(client, username, password="pw-correct-horse"):
    return client.post(LOGIN, {"username": username, "password": password})


# --- brute force -------------------------------------------------------------------------------------


def test_five_failures_lock_the_account_even_for_the_right_password(client, oncall, time_machine):
    time_machine.move_to(START, tick=False)
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert _sign_in(client, "oncall", "wrong").status_code == 200
    locked = _sign_in(client, "oncall", "wrong")
    assert locked.status_code == 429
    assert "locked" in locked.content.decode()
    assert _sign_in(client, "oncall").status_code == 429  # the right password does not get through
    assert "_auth_user_id" not in client.session
    assert AuditEvent.objects.filter(action="auth.locked_out", subject_label="oncall").exists()
    assert AuditEvent.objects.filter(action="auth.login_failed").count() >= settings.AXES_FAILURE_LIMIT

    time_machine.move_to(START + settings.AXES_COOLOFF_TIME + timedelta(seconds=1), tick=False)
    assert _sign_in(client, "oncall").status_code == 302  # the lock lifts after the cool-off
    assert client.session["_auth_user_id"] == str(oncall.pk)


def test_a_success_resets_the_count(client, oncall):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        _sign_in(client, "oncall", "wrong")
    assert _sign_in(client, "oncall").status_code == 302
    client.post(reverse("logout"))
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        _sign_in(client, "oncall", "wrong")
    assert _sign_in(client, "oncall").status_code == 302


def test_the_api_token_endpoint_is_locked_too(client, oncall, security):
    url = reverse("api-token")
    assert "token" in client.post(url, {"username": "security", "password": "pw-correct-horse"}).json()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(url, {"username": "oncall", "password": "wrong"}, REMOTE_ADDR="10.0.0.9")
    response = client.post(url, {"username": "oncall", "password": "pw-correct-horse"}, REMOTE_ADDR="10.0.0.10")
    assert response.status_code in (400, 403, 429)
    assert "token" not in response.json()


# --- sessions ----------------------------------------------------------------------------------------


def test_signing_in_gives_a_fresh_session(client, oncall):
    client.get(LOGIN)
    session = client.session
    session["planted"] = "by someone else"
    session.save()
    before = session.session_key
    assert _sign_in(client, "oncall").status_code == 302
    assert client.session.session_key != before
    assert client.get(reverse("qms:dashboard")).status_code == 200


def test_an_idle_session_ends(client, oncall, time_machine):
    time_machine.move_to(START, tick=False)
    _sign_in(client, "oncall")
    dashboard = reverse("qms:dashboard")
    time_machine.move_to(START + timedelta(seconds=settings.SESSION_IDLE_TIMEOUT - 60), tick=False)
    assert client.get(dashboard).status_code == 200  # activity just before the limit keeps it alive
    time_machine.move_to(START + timedelta(seconds=2 * settings.SESSION_IDLE_TIMEOUT - 120), tick=False)
    assert client.get(dashboard).status_code == 200
    time_machine.move_to(START + timedelta(seconds=3 * settings.SESSION_IDLE_TIMEOUT), tick=False)
    response = client.get(dashboard)
    assert response.status_code == 302
    assert response["Location"].startswith(f"{LOGIN}?next=")
    assert "_auth_user_id" not in client.session
    assert client.get(dashboard).status_code == 302
    expired = AuditEvent.objects.get(action="auth.session_expired")
    assert (expired.actor, expired.reason) == (oncall, "idle timeout")


def test_a_busy_session_still_ends_at_its_absolute_lifetime(client, oncall, time_machine):
    time_machine.move_to(START, tick=False)
    _sign_in(client, "oncall")
    step = timedelta(seconds=settings.SESSION_IDLE_TIMEOUT // 2)
    at = START
    while at + step < START + timedelta(seconds=settings.SESSION_COOKIE_AGE):
        at += step
        time_machine.move_to(at, tick=False)
        assert client.get(reverse("qms:dashboard")).status_code == 200
    time_machine.move_to(START + timedelta(seconds=settings.SESSION_COOKIE_AGE), tick=False)
    assert client.get(reverse("qms:dashboard")).status_code == 302
    assert AuditEvent.objects.get(action="auth.session_expired").reason == "session lifetime reached"


def test_session_expiry_answers_the_api_with_401(client, oncall, time_machine):
    time_machine.move_to(START, tick=False)
    _sign_in(client, "oncall")
    assert client.get("/api/v1/emergencies/").status_code == 200
    time_machine.move_to(START + timedelta(seconds=settings.SESSION_IDLE_TIMEOUT + 1), tick=False)
    assert client.get("/api/v1/emergencies/").status_code == 401


def test_token_calls_do_not_create_sessions(client, oncall):
    from django.contrib.sessions.models import Session

    from tests.factories import api_token

    _, secret = api_token(oncall)
    response = client.get("/api/v1/emergencies/", HTTP_AUTHORIZATION=f"Token {secret}")
    assert response.status_code == 200
    assert not Session.objects.exists()


# --- second factor -----------------------------------------------------------------------------------


def _code(device: TOTPDevice) -> str:
    """What the user's authenticator app shows now (the clock is frozen by time_machine)."""
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"


def _wrong(device: TOTPDevice) -> str:
    return f"{(int(_code(device)) + 1) % 1_000_000:06d}"


def _enrol(client, user, time_machine):
    time_machine.move_to(START, tick=False)
    client.force_login(user)
    page = client.get(reverse("second-factor-setup"))
    assert page.status_code == 200
    assert 'src="data:image/svg+xml' in page.content.decode()
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    wrong = client.post(reverse("second-factor-setup"), {"token": _wrong(device)})
    assert wrong.status_code == 400
    time_machine.move_to(START + timedelta(seconds=5), tick=False)  # past the throttle's back-off
    done = client.post(reverse("second-factor-setup"), {"token": _code(device)})
    assert done.status_code == 302
    device.refresh_from_db()
    assert device.confirmed
    return device


def test_enrolment_then_every_sign_in_needs_a_code(client, security, time_machine):
    device = _enrol(client, security, time_machine)
    assert AuditEvent.objects.filter(action="auth.second_factor_enrolled", actor=security).exists()
    client.post(reverse("logout"))

    _sign_in(client, "security")
    dashboard = reverse("qms:dashboard")
    held = client.get(dashboard)
    assert held.status_code == 302
    assert held["Location"].startswith(reverse("second-factor-verify"))
    assert client.get("/api/v1/emergencies/").status_code == 403
    bad = client.post(reverse("second-factor-verify"), {"token": "12345", "next": dashboard})
    assert bad.status_code == 400
    time_machine.move_to(START + timedelta(seconds=60), tick=False)
    assert client.post(reverse("second-factor-verify"), {"token": _wrong(device)}).status_code == 400
    assert AuditEvent.objects.filter(action="auth.second_factor_failed").exists()
    time_machine.move_to(START + timedelta(seconds=120), tick=False)  # past the throttle's back-off
    ok = client.post(reverse("second-factor-verify"), {"token": _code(device), "next": dashboard})
    assert ok.status_code == 302
    assert ok["Location"] == dashboard
    assert client.get(dashboard).status_code == 200
    assert AuditEvent.objects.filter(action="auth.second_factor_verified").exists()


def test_verify_refuses_an_offsite_next(client, security, time_machine):
    device = _enrol(client, security, time_machine)
    client.post(reverse("logout"))
    _sign_in(client, "security")
    time_machine.move_to(START + timedelta(seconds=60), tick=False)
    ok = client.post(reverse("second-factor-verify"), {"token": _code(device), "next": "https://evil.example"})
    assert ok["Location"] == "/"


def test_users_without_a_device_sign_in_with_a_password(client, oncall):
    _sign_in(client, "oncall")
    assert client.get(reverse("qms:dashboard")).status_code == 200


def test_signing_predicate_follows_the_setting(rf, client, security, settings, time_machine):
    time_machine.move_to(START, tick=False)
    request = rf.get("/")
    request.user = security
    security.is_verified = lambda: False
    settings.QMS_REQUIRE_TOTP_FOR_SIGNERS = False
    assert second_factor_satisfied_for_signing(request)
    settings.QMS_REQUIRE_TOTP_FOR_SIGNERS = True
    assert not second_factor_satisfied_for_signing(request)
    security.is_verified = lambda: True
    assert second_factor_satisfied_for_signing(request)


def test_removing_the_device_needs_a_current_code(client, security, time_machine):
    device = _enrol(client, security, time_machine)
    time_machine.move_to(START + timedelta(seconds=60), tick=False)
    assert client.post(reverse("second-factor-setup"), {"token": _wrong(device)}).status_code == 400
    assert TOTPDevice.objects.filter(user=security).exists()
    time_machine.move_to(START + timedelta(seconds=180), tick=False)
    done = client.post(reverse("second-factor-setup"), {"token": _code(device)})
    assert done.status_code == 302
    assert not TOTPDevice.objects.filter(user=security).exists()
    assert AuditEvent.objects.filter(action="auth.second_factor_removed").exists()


# --- headers -----------------------------------------------------------------------------------------


def test_pages_carry_a_content_security_policy_and_safe_cookies(client, make_user):
    response = client.get(LOGIN)
    csp = response["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    _sign_in(client, make_user(Role.ONCALL, username="someone").username)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie["httponly"]
    assert cookie["samesite"] == "Lax"
