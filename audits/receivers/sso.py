"""Single sign-on into the audit trail: users created at their first sign-in, every change of their roles
from the provider's group claim, and each re-authentication at signing (refusals are also counted, by
``signature.reauth_refused`` / ``signature.locked``, through the signing lockout)."""

from django.dispatch import receiver

from audits import services
from qms.sso.signals import sso_reauth_event, sso_roles_changed, sso_user_created


@receiver(sso_user_created, dispatch_uid="audits.on_sso_user_created")
def on_sso_user_created(sender, *, user, claims, **kwargs):
    services.audit_event_record(
        action="auth.sso_user_created",
        actor=user,
        subject=user,
        reason="Created at the first sign-in through the identity provider",
        after={"issuer": claims["iss"], "subject": claims["sub"], "username": user.username},
    )


@receiver(sso_roles_changed, dispatch_uid="audits.on_sso_roles_changed")
def on_sso_roles_changed(sender, *, user, before, after, groups, **kwargs):
    services.audit_event_record(
        action="auth.sso_roles_changed",
        actor=user,
        subject=user,
        reason="Roles from the identity provider's group claim at sign-in",
        before={"roles": before},
        after={"roles": after, "groups": groups[:50]},
    )


@receiver(sso_reauth_event, dispatch_uid="audits.on_sso_reauth")
def on_sso_reauth(sender, *, user, outcome, reason, intent, **kwargs):
    if outcome == "accepted":
        services.audit_event_record(
            action="auth.sso_reauth_accepted",
            actor=user,
            subject=user,
            reason="Re-authenticated at the identity provider to sign",
            after={"page": intent},
        )
