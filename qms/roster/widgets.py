"""The dashboard's coverage-gap widget for QMS coordinators (a fixed number of queries: qms.roster.schedule)."""

from __future__ import annotations

from qms.roles import Role
from qms.roster.schedule import coverage_gaps

WIDGET_DAYS = 14


def gaps_widget(request) -> dict:
    if not request.user.has_role(Role.QMS):
        return {"show": False}
    gaps = coverage_gaps(days=WIDGET_DAYS)
    unrostered = list(dict.fromkeys(g.role.label for g in gaps if g.no_roster))
    return {"show": True, "gaps": [g for g in gaps if not g.no_roster], "no_roster": unrostered, "days": WIDGET_DAYS}
