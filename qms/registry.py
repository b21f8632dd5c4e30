"""Where the apps above ``qms`` plug their pieces into shared pages.

Dependencies point one way (audits → emergencies → qms), so the dashboard and a record's page cannot
import what the upper apps show. Instead each app registers widgets and panels in ``AppConfig.ready``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Block:
    name: str
    template: str
    context: Callable[..., dict[str, Any]]
    order: int = 50


_dashboard: list[Block] = []
_subject_panels: dict[str, list[Block]] = {}


def register_dashboard_widget(block: Block) -> None:
    if all(b.name != block.name for b in _dashboard):
        _dashboard.append(block)
        _dashboard.sort(key=lambda b: b.order)


def dashboard_widgets() -> list[Block]:
    return list(_dashboard)


def register_subject_panel(model_label: str, block: Block) -> None:
    panels = _subject_panels.setdefault(model_label.lower(), [])
    if all(b.name != block.name for b in panels):
        panels.append(block)
        panels.sort(key=lambda b: b.order)


def subject_panels(model_label: str) -> list[Block]:
    return list(_subject_panels.get(model_label.lower(), []))


# Rows the apps above contribute to an emergency's war-room timeline: ``source(change) -> list[dict]`` with
# keys ``key`` (unique, stable), ``at``, ``kind``, ``who`` and ``text``.
_timeline_sources: dict[str, Callable[..., list[dict]]] = {}


def register_timeline_source(name: str, source: Callable[..., list[dict]]) -> None:
    _timeline_sources.setdefault(name, source)


def timeline_sources() -> list[Callable[..., list[dict]]]:
    return list(_timeline_sources.values())
