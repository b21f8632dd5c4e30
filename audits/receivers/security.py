"""Security events into the audit trail: sign-ins and sign-outs, lockouts, expired sessions and the second factor."""

from axes.signals import user_locked_out
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from audits import services
from qms.models import User
from qms.security import second_factor_event
from qms.services.tokens import api_token_event


@receiver(user_logged_in)
def on_login(sender, request, user, **kwargs):
    services.audit_event_record(action="auth.login", actor=user, subject=user)


@receiver(user_logged_out)
def on_logout(sender, request, user, **kwargs):
    if user is not None:
        services.audit_event_record(action="auth.logout", actor=user, subject=user)


@receiver(user_login_failed)
def on_login_failed(sender, credentials, request=None, **kwargs):
    services.audit_event_record(
        action="auth.login_failed",
        reason="Wrong username or password",
        after={"username": str(credentials.get("username", ""))[:150]},
    )


@receiver(user_locked_out, dispatch_uid="audits.on_locked_out")
def on_locked_out(sender, request=None, username=None, ip_address=None, **kwargs):
    user = User.objects.filter(username=username).first() if username else None
    services.audit_event_record(
        action="auth.locked_out",
        subject=user,
        subject_label=str(username or "")[:100],
        reason="Too many failed sign-ins",
        after={"username": str(username or "")[:150]},
        ip_address=ip_address or None,
    )


@receiver(user_logged_out, dispatch_uid="audits.on_session_expired")
def on_session_expired(sender, request=None, user=None, **kwargs):
    reason = getattr(request, "logout_reason", "")
    if reason and user is not None:
        services.audit_event_record(action="auth.session_expired", actor=user, subject=user, reason=reason)


SECOND_FACTOR_ACTIONS = {
    "enrolled": "Authenticator app set up",
    "verified": "Sign-in completed with an authenticator code",
    "failed": "Wrong authenticator code",
    "removed": "Authenticator app removed",
}


@receiver(second_factor_event, dispatch_uid="audits.on_second_factor")
def on_second_factor(sender, *, user, action, request=None, **kwargs):
    services.audit_event_record(
        action=f"auth.second_factor_{action}", actor=user, subject=user, reason=SECOND_FACTOR_ACTIONS.get(action, "")
    )


@receiver(api_token_event, dispatch_uid="audits.on_api_token")
def on_api_token(sender, *, token, action, actor, **kwargs):
    services.audit_event_record(
        action=f"api_token.{action}",
        actor=actor,
        subject=token.user,
        reason=f"API token #{token.pk} “{token.name}”",
        after={
            "api_token": {"id": token.pk, "name": token.name},
            "scopes": token.scopes,
            "expires_at": token.expires_at.isoformat() if token.expires_at else None,
            "second_factor_verified": token.second_factor_verified,
            "created_via": token.created_via,
        },
    )
