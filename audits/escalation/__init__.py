"""Obligations climb the procedure's escalation ladder: the set-based sweep (``sweep``), the digests it sends
(``digests``) to the role holders it reads once (``directory``), the repeat-bypass patterns it looks for
(``patterns``) and the beat's fan-out of it over the worker processes (``fanout``)."""

from audits.escalation.digests import DIGEST_ITEMS, OVERDUE_TEMPLATE
from audits.escalation.directory import compliance_definition
from audits.escalation.fanout import (
    BATCHES_TASK,
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
from audits.escalation.patterns import (
    PREVENTIVE_KIND,
    RepeatPattern,
    pattern_key,
    repeat_bypass_sweep,
    repeat_patterns,
)
from audits.escalation.sweep import CANDIDATE_FIELDS, SweepResult, obligation_sweep

__all__ = [
    "BATCHES_TASK",
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
