"""The dashboard's coverage-gap widget for QMS coordinators (a fixed number of queries: qms.roster.schedule)."""

from __future__ import annotations

from qms.roles import Role
from qms.roster.schedule import coverage_gaps

WIDGET_DAYS = 14


def gaps_widget(request) -> dict:
    if not request.user.has_role(Role.QMS):
        return {"show": False}
    return {"show": True, "gaps": coverage_gaps(days=WIDGET_DAYS), "days": WIDGET_DAYS}
