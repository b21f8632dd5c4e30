"""Obligations climb the procedure's escalation ladder: the set-based sweep (``sweep``) and the beat's
fan-out of it over the worker processes (``fanout``)."""

from audits.escalation.fanout import (
    FULL_EVERY,
    MARK,
    RECENT_LIMIT,
    SLACK,
    SWEEP_REASON_PREFIX,
    mark_swept,
    narrowing,
    obligation_sweep_batches,
    obligation_tick,
    patterns_may_have_changed,
    worker_processes,
)
from audits.escalation.sweep import (
    CANDIDATE_FIELDS,
    DIGEST_ITEMS,
    OVERDUE_TEMPLATE,
    PREVENTIVE_KIND,
    RepeatPattern,
    SweepResult,
    compliance_definition,
    obligation_sweep,
    pattern_key,
    repeat_bypass_sweep,
    repeat_patterns,
)

__all__ = [
    "CANDIDATE_FIELDS",
    "DIGEST_ITEMS",
    "FULL_EVERY",
    "MARK",
    "OVERDUE_TEMPLATE",
    "PREVENTIVE_KIND",
    "RECENT_LIMIT",
    "SLACK",
    "SWEEP_REASON_PREFIX",
    "RepeatPattern",
    "SweepResult",
    "compliance_definition",
    "mark_swept",
    "narrowing",
    "obligation_sweep",
    "obligation_sweep_batches",
    "obligation_tick",
    "pattern_key",
    "patterns_may_have_changed",
    "repeat_bypass_sweep",
    "repeat_patterns",
    "worker_processes",
]
