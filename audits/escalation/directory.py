"""What an escalation sweep reads once, before its batches: the compliance procedure's definition in force
and the active users by role (``_Directory``), with the owners of each batch's clocks."""

from __future__ import annotations

from collections import defaultdict

from audits.models import clock_owner_label
from qms.models import User
from qms.procedures import COMPLIANCE_PROCEDURE_CODE
from qms.roles import Role


def compliance_definition() -> dict:
    """The definition whose compliance settings rule (QMS Emergency Bypass Procedures, current version)."""
    from qms.services import procedure_version_current

    version = procedure_version_current(code=COMPLIANCE_PROCEDURE_CODE)
    return version.definition if version is not None else {}


class _Directory:
    """Active users by role, read once per sweep (two queries whatever the number of obligations), and the
    owners of a batch's obligations (one query per batch)."""

    def __init__(self, roles: set[str]):
        self.by_role: dict[str, list[User]] = defaultdict(list)
        self.by_pk: dict[int, User] = {}
        wanted = {Role(r).group_name: Role(r).value for r in roles if r in Role._value2member_map_}
        users = User.objects.filter(is_active=True, groups__name__in=wanted).distinct().prefetch_related("groups")
        for user in users:
            self.by_pk[user.pk] = user
            for group in user.groups.all():
                if group.name in wanted:
                    self.by_role[wanted[group.name]].append(user)

    def holders(self, roles: tuple[str, ...] | list[str], fallback: tuple[str, ...] = ()) -> list[User]:
        people = {u.pk: u for r in roles for u in self.by_role.get(r, [])}
        if not people:
            people = {u.pk: u for r in fallback for u in self.by_role.get(r, [])}
        return list(people.values())

    def load(self, pks: set[int]) -> None:
        """Read the users among ``pks`` not known yet, in one query (run it every batch: a constant count)."""
        missing = pks - self.by_pk.keys()
        for user in User.objects.filter(pk__in=missing):
            self.by_pk[user.pk] = user

    def owner_label(self, row: dict) -> str:
        return clock_owner_label(self.by_pk.get(row["owner_id"]) if row["owner_id"] else None, row["owner_role"])
