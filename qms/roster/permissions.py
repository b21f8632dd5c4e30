"""Who may read and who may edit the on-call roster of a key role."""

from __future__ import annotations

from qms.roles import KEY_ROLES, READ_ONLY_ROLES, Role

# Besides QMS coordinators, each role's roster is kept by the role that manages it.
ROSTER_MANAGERS: dict[Role, Role] = {
    Role.COMMANDER: Role.ENGMANAGER,
    Role.LEAD: Role.ENGMANAGER,
    Role.TESTLEAD: Role.ENGMANAGER,
    Role.OPSLEAD: Role.ENGMANAGER,
    Role.RELEASE: Role.CM,
    Role.SAFETY: Role.QUALITY,
    Role.SECURITY: Role.QUALITY,
    Role.CM: Role.QMS,
}


def can_view_roster(user) -> bool:
    """Everyone holding a role (auditors included) sees who is on call."""
    return bool(user.is_authenticated and user.is_active and user.roles)


def can_edit_roster(user, role: Role) -> bool:
    if not user.is_authenticated or role not in KEY_ROLES:
        return False
    if user.roles and user.roles <= READ_ONLY_ROLES:
        return False
    return user.has_role(Role.QMS, ROSTER_MANAGERS[role])


def can_see_gaps(user) -> bool:
    return user.is_authenticated and user.has_role(Role.QMS, Role.AUDITOR)
