"""Who may do what with emergencies: one set of predicates for transitions, views, templates and services.

Transition predicates take ``(change, user)`` as django-fsm calls them. Services re-check them: a
django-fsm ``permission=`` is not enforced by calling the transition.
"""

from __future__ import annotations

from qms.roles import Role

FILER_ROLES = (
    Role.ONCALL,
    Role.COMMANDER,
    Role.LEAD,
    Role.ARCHITECT,
    Role.SECURITY,
    Role.SAFETY,
    Role.CM,
    Role.ENGMANAGER,
)
WORKER_ROLES = (*FILER_ROLES, Role.RELEASE)
CLOSER_ROLES = (Role.QMS, Role.COMMANDER, Role.CM)
CONVERTER_ROLES = (Role.COMMANDER, Role.CM, Role.QMS, Role.SECURITY)
# Who shows after the fact that a skipped gate passes: an emergency's gates, a level 1-3 bypass's checks.
VALIDATOR_ROLES = (Role.QMS, Role.QUALITY, Role.ARCHITECT, Role.LEAD, Role.SECURITY, Role.CM, Role.ENGMANAGER)


def _active(user) -> bool:
    return bool(user and user.is_authenticated and user.is_active)


def can_validate_remediation(bypass, user) -> bool:
    """A validator who did not request it shows a level 1-3 bypass's skipped checks to pass again."""
    return _active(user) and user.has_role(*VALIDATOR_ROLES) and user.pk != bypass.requested_by_id


def approval_recording_refusal(bypass, user, approver=None) -> str | None:
    """Why ``user`` may not record a verbal or written approval on ``bypass`` (for ``approver``, when named),
    or None when they may. Recording is an approval act: the recorder holds a role the procedure names
    (never a read-only one), and is neither the requester, nor the implementer, nor the person recorded for.
    """
    if not _active(user):
        return "Sign in with an active account to record an approval."
    roles = bypass.rules.verbal_recorder_roles
    if not user.has_role(*roles):
        return "Recording an approval needs one of these roles: " + ", ".join(r.label for r in roles) + "."
    if user.pk == bypass.requested_by_id:
        return "The requester cannot record an approval of their own request."
    if user.pk == bypass.implementer_id:
        return "The implementer cannot record an approval of the change they implement."
    if approver is not None and approver.pk == user.pk:
        return "Sign your own approval instead of recording it."
    return None


def can_record_approval(bypass, user, approver=None) -> bool:
    """Whether ``user`` may write down someone else's verbal or written approval of ``bypass``."""
    return approval_recording_refusal(bypass, user, approver) is None


def can_view_changes(user) -> bool:
    """Anyone holding a role (auditors included) sees the emergency register."""
    return _active(user) and (user.is_superuser or bool(user.roles))


def can_file_emergency(user) -> bool:
    return _active(user) and user.has_role(*FILER_ROLES)


def can_work_on_change(change, user) -> bool:
    if not _active(user):
        return False
    return user.pk == change.author_id or user.has_role(*WORKER_ROLES)


def can_close_change(change, user) -> bool:
    return _active(user) and user.has_role(*CLOSER_ROLES)


def can_convert_change(change, user) -> bool:
    return _active(user) and user.has_role(*CONVERTER_ROLES)


def can_edit_change(change, user) -> bool:
    return change.is_open and can_work_on_change(change, user)


# Follow-up and preventive changes (a standard-change lifecycle): who approves and verifies one, never its author.
STANDARD_APPROVER_ROLES = (Role.LEAD, Role.QMS, Role.CM, Role.ENGMANAGER, Role.ARCHITECT, Role.QUALITY)


def can_approve_standard_change(change, user) -> bool:
    return _active(user) and user.pk != change.author_id and user.has_role(*STANDARD_APPROVER_ROLES)


def can_close_standard_change(change, user) -> bool:
    return _active(user) and (user.pk == change.author_id or user.has_role(*STANDARD_APPROVER_ROLES))


def only_by_signatures(change, user) -> bool:
    """The emergency bypass is authorised by the signatures on it, never by pressing a button."""
    return False
