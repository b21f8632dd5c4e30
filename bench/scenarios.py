"""What the benchmark measures. Adding a page or a job is one line here.

A page names its URL (``reverse()`` name plus, for a record's page, the record to show). A page whose URL
name does not resolve yet, or whose model does not exist yet, is listed as "not built yet"; one whose
records the seed does not write yet is "no data". Either way the table shows it, so a page that lands
is measured from its first run. A ``kwargs`` callable may also create the record it needs through the
real service (it gets the bench context) when the seed does not write that kind of record.

Personas are seeded users (``audits.management.bulk.world``): ``commander`` (incident commander: the awaiting
widget, their own open changes and clocks), ``qms`` (QMS coordinator: every overdue clock, the
reports) and ``oncall`` (files stubs).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.errors import NoData
from bench.jobs import audit_chain_full, audit_chain_incremental, call, escalation_idle_tick, escalation_sweep


@dataclass(frozen=True)
class Page:
    name: str
    url_name: str
    kwargs: Callable[[Any], dict] | None = None  # called with the bench context; returns reverse() kwargs
    persona: str = "commander"
    method: str = "GET"
    data: Callable[[int], dict] | None = None  # POST body of the i-th request
    expect: int = 200
    samples: int | None = None  # default: the run's --samples
    target_p95_ms: float | None = None
    baseline: bool = False
    # Issue 21's targets: the p50 as a multiple of the trivial view's in the same run, and a query budget.
    target_ratio: float | None = 10.0
    target_queries: int | None = None


@dataclass(frozen=True)
class Job:
    """A set-based operation timed once on the seeded data: ``run(ctx)`` returns what it did, in words."""

    name: str
    run: Callable[[Any], dict]
    target_seconds: float | None = None
    sizes: str = "all"  # "all" or "largest"
    notes: list[str] = field(default_factory=list)


def stub_form(i: int) -> dict:
    return {
        "title": f"Bench: checkout API returns 500 (#{i})",
        "category": "p1_incident",
        "problem_statement": "Every order fails since the last deploy.",
    }


def record(label: str, field_name: str, *alternatives: dict, **filters) -> Callable[[Any], dict]:
    """kwargs for a record's page: the newest row of ``app_label.Model`` matching ``filters``, else the newest
    matching the first of ``alternatives`` (filter dicts) that has one. A filter value that is a callable is
    called with the bench context (``persona("commander")`` is that persona's user)."""

    options = (filters, *alternatives)

    def kwargs(ctx) -> dict:
        for n, option in enumerate(options, start=1):
            resolved = {k: v(ctx) if callable(v) else v for k, v in option.items()}
            try:
                return {field_name: ctx.newest(label, field_name, **resolved)}
            except NoData:
                if n == len(options):
                    raise
        raise AssertionError("unreachable")

    return kwargs


def persona(name: str) -> Callable[[Any], Any]:
    return lambda ctx: ctx.users[name]


PAGES: list[Page] = [
    Page("trivial view (/healthz)", "healthz", baseline=True, target_ratio=None),
    Page("dashboard", "qms:dashboard", target_p95_ms=150, target_ratio=6.0),
    Page("change list", "emergencies:change-list", target_p95_ms=150, target_ratio=6.0),
    Page(
        "change detail", "emergencies:change-detail", record("emergencies.ChangeRecord", "identifier", status="closed")
    ),
    # 20 samples: with the 70 of the load test's burst, under the id scheme's 99 filings per minute.
    Page(
        "stub filing (POST)",
        "emergencies:stub-create",
        persona="oncall",
        method="POST",
        data=stub_form,
        expect=302,
        samples=20,
        target_ratio=8.0,
        target_queries=15,
    ),
    # Seeded records, not the stubs filed above (whose emergency bypasses are the newest): a level 2 bypass
    # with its two signatures, remediation clocks and history; an open CCB session with signed votes, on which
    # the persona sits (the vote form shows), else any open one with votes.
    Page("bypass request list", "emergencies:bypass-list"),
    Page(
        "bypass request detail",
        "emergencies:bypass-detail",
        record("emergencies.BypassRequest", "identifier", level="L2", status="active"),
    ),
    Page(
        "CCB session page",
        "emergencies:ccb-session-detail",
        record(
            "emergencies.CCBSession",
            "pk",
            {"status": "open", "votes__isnull": False},
            status="open",
            votes__isnull=False,
            members__user=persona("commander"),
        ),
    ),
    Page("report page", "audits:report-list", persona="qms"),
    Page("overdue clocks", "audits:overdue-list", persona="qms"),
    Page("API list", "api-emergency-list"),
]


def _monthly_report(ctx) -> dict:
    # Point this at the compliance report's service when it lands (audits/reports*).
    return call("audits.reports:compliance_report_build", kind="monthly", period_start=ctx.last_month_start)


JOBS: list[Job] = [
    Job("escalation sweep (per 10^5 overdue clocks)", escalation_sweep, target_seconds=5.0),
    Job("escalation beat tick, nothing new", escalation_idle_tick, target_seconds=0.1),
    Job("monthly report", _monthly_report, target_seconds=1.0),
    # Report-only: the nightly walk grows with the trail; what must stay fast is the walk from a checkpoint.
    Job("audit chain, full verification", audit_chain_full),
    Job("audit chain, incremental from a checkpoint (a day appended)", audit_chain_incremental, target_seconds=1.0),
]
