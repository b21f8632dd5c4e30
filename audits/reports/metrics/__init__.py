"""The metrics of the compliance reports, as set-based queries.

QMS Emergency Bypass Procedures v1.0 ("Metrics and KPIs", "Audit Report Generation") and CM-WF-EMERGENCY §16.
Every function here runs a fixed number of queries (one or two), whatever the number of rows, and returns
the figures together with the ids of the records behind them, so a report can link each number to its records.

Definitions (a period is [start, end) in UTC; ``as_of`` is the end of the period, or the generation time for a
period still running; "granted" means a bypass request that became active, dated by its decision):

- bypasses per repository / level distribution: granted bypasses decided in the period, by repository (emergency
  stubs, which name no repository, are grouped as "(emergency stubs)") and by level.
- repeat patterns: repository/check pairs granted ``min_bypasses`` times or more in the ``window_days`` before
  ``as_of`` (the escalation sweep's own rule).
- remediation time (mean, 90th percentile): from the start of each remediation clock (the bypass's activation) to
  its completion, over remediation clocks completed in the period. The 90th percentile interpolates linearly
  (PostgreSQL's percentile_cont).
- remediation completion rate: remediation clocks due in the period (before ``as_of``) that were completed by
  ``as_of``, over all of them.
- on-time rate per kind of obligation: clocks due in the period (before ``as_of``) met by their due time, over all
  of them; a clock still open at ``as_of`` counts as late.
- overdue: clocks due before ``as_of`` and still open at ``as_of``.
- critical escalations: clocks whose latest escalation, in the period, reached the QMS coordinator or above.
- rollback rate: emergency changes deployed in the period that were rolled back at any point, over all of them.
- response time: identification (the incident's detection time, else its declaration) to deployment, over
  changes deployed in the period.
- effectiveness, issue resolution rate (CM-WF-EMERGENCY §16.2): changes deployed in the period whose issue was
  resolved (the change marked resolved: ``resolved_at``) by ``as_of``, over all changes deployed in the period;
  a change rolled back and later resolved counts as resolved, one not yet resolved at ``as_of`` does not.
- follow-up and preventive changes: those opened in the period, counted done (verified or closed) or open
  (draft, approved, implemented) as they stand when the report is generated.
- stakeholder notifications: outbox rows written in the period, by what they were about; a report of one
  procedure counts those about its changes, bypass requests, status updates and CCB sessions. Regulatory
  notifications: certification authorities notified in the period about the changes in scope.
- 30-day follow-up documentation compliance: "follow_up_documentation" clocks due in the period met on time.
- false alarms: emergencies declared in the period that were converted to the standard process or judged not
  warranted (Gate 1 or a ratification session: ``false_alarm``), and their share of all emergencies declared in
  the period.

The metrics come in families, a module each: ``bypasses``, ``obligations``, ``changes`` and ``stakeholders``
(the notifications), on the period and the references of ``common``.
"""

from audits.reports.metrics.bypasses import (
    GRANTED,
    NO_REPOSITORY,
    bypass_requests_new,
    bypass_trend,
    bypasses_active,
    bypasses_granted,
    repeat_patterns,
)
from audits.reports.metrics.changes import deployments, false_alarms, follow_up_changes
from audits.reports.metrics.common import MAX_IDS, Refs, Window, percentile, rate
from audits.reports.metrics.obligations import (
    critical_escalations,
    follow_up_compliance,
    kind_group,
    on_time_by_kind,
    overdue,
    remediation,
    remediation_progress,
)
from audits.reports.metrics.stakeholders import notifications, regulatory_notifications

__all__ = [
    "GRANTED",
    "MAX_IDS",
    "NO_REPOSITORY",
    "Refs",
    "Window",
    "bypass_requests_new",
    "bypass_trend",
    "bypasses_active",
    "bypasses_granted",
    "critical_escalations",
    "deployments",
    "false_alarms",
    "follow_up_changes",
    "follow_up_compliance",
    "kind_group",
    "notifications",
    "on_time_by_kind",
    "overdue",
    "percentile",
    "rate",
    "regulatory_notifications",
    "remediation",
    "remediation_progress",
    "repeat_patterns",
]
