"""What every metric of the compliance reports works with: the period (``Window``), the records behind each
number (``Refs``) and the arithmetic of rates and percentiles."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from audits.reports.scope import Scope

MAX_IDS = 5000  # ids kept per figure in a snapshot; the drill-down says when there were more


@dataclass
class Window:
    start: datetime
    end: datetime
    as_of: datetime
    scope: Scope = field(default_factory=Scope)  # the procedure (version) counted; default: all

    @property
    def due_until(self) -> datetime:
        return min(self.end, self.as_of)


@dataclass
class Refs:
    """The records behind each number, by reference key: {"model": ..., "ids": [...], "total": n, "title": ...}."""

    items: dict[str, dict] = field(default_factory=dict)

    def add(self, key: str, model: str, ids, title: str, *, total: int | None = None) -> str:
        """``ids`` in order; ``total`` when the query kept only the first ``MAX_IDS`` of them."""
        ids = list(ids)
        total = len(ids) if total is None else total
        self.items[key] = {"model": model, "ids": ids[:MAX_IDS], "total": total, "title": title}
        return key

    def add_range(self, key: str, model: str, start: datetime, end: datetime, total: int, title: str) -> str:
        """Records by period: granted bypasses by decision time, emergencies by declaration time."""
        self.items[key] = {
            "model": model,
            "range": [start.isoformat(), end.isoformat()],
            "total": total,
            "title": title,
        }
        return key


def _hours(delta: timedelta | None) -> float | None:
    return None if delta is None else round(delta.total_seconds() / 3600, 2)


def percentile(values: list[float], p: float) -> float | None:
    """Linear interpolation between closest ranks, as PostgreSQL's percentile_cont(p)."""
    if not values:
        return None
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * p
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def rate(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(part / whole, 4)
