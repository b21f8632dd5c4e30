"""The parts a compliance report is made of: figures, bar and line charts and tables, as plain dicts a
snapshot stores (``audits.reports.build`` lays them out; ``audits.reports.rendering`` draws them)."""

from __future__ import annotations

KIND_LABELS = {
    "remediation": "Remediations",
    "review": "Bypass reviews",
    "triage": "Triage",
    "hotfix": "Hotfix deployed",
    "documentation": "CHG documentation",
    "post_mortem": "Post-mortem",
    "follow_up_documentation": "30-day follow-up documentation",
    "action_item": "Post-mortem action items",
    "preventive_change": "Preventive follow-up changes",
    "verbal_confirmation": "Verbal approval confirmations",
    "external_notification": "External notification",
    "update_cadence": "Status update cadence",
    "full_regression": "Deferred full regression",
}


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f} %"


def _h(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} h"


def figure(
    key: str,
    label: str,
    value,
    *,
    display: str | None = None,
    ref: str | None = None,
    hint: str = "",
    alert: bool = False,
) -> dict:
    return {
        "key": key,
        "label": label,
        "value": value,
        "display": display if display is not None else ("—" if value is None else str(value)),
        "ref": ref if value is not None else None,
        "hint": hint,
        "alert": alert,
    }


def _kind_label(kind: str) -> str:
    return KIND_LABELS.get(kind, kind.replace("_", " ").capitalize())


def _level_chart(chart_id: str, title: str, levels: list[dict]) -> dict:
    return {
        "id": chart_id,
        "type": "bar",
        "title": title,
        "desc": ", ".join(f"{lv['label']}: {lv['value']}" for lv in levels) or "none",
        "unit": "",
        "bars": [{"label": lv["label"], "value": lv["value"], "ref": lv["ref"]} for lv in levels],
    }


def _trend_chart(chart_id: str, title: str, points: list[dict]) -> dict:
    return {
        "id": chart_id,
        "type": "line",
        "title": title,
        "desc": "; ".join(f"{p['label']}: {p['bypasses']} bypasses, {p['emergencies']} emergencies" for p in points),
        "labels": [p["label"] for p in points],
        "series": [
            {
                "name": "Bypasses granted",
                "values": [p["bypasses"] for p in points],
                "refs": [p["bypass_ref"] for p in points],
            },
            {
                "name": "Emergencies declared",
                "values": [p["emergencies"] for p in points],
                "refs": [p["change_ref"] for p in points],
            },
        ],
    }


def _on_time_table(on_time: list[dict], thresholds: dict) -> tuple[dict, dict]:
    table = {
        "title": "On-time rate by kind of obligation",
        "columns": ["Kind", "Due", "On time", "Late or open", "On-time rate"],
        "rows": [
            [
                _kind_label(r["kind"]),
                {"text": str(r["due"]), "ref": r["due_ref"]},
                str(r["on_time"]),
                {"text": str(r["late"]), "ref": r["late_ref"]},
                _pct(r["rate"]),
            ]
            for r in on_time
        ],
    }
    chart = {
        "id": "chart-on-time",
        "type": "bar",
        "title": "On-time rate by kind of obligation",
        "desc": ", ".join(f"{_kind_label(r['kind'])}: {_pct(r['rate'])}" for r in on_time) or "no clocks were due",
        "unit": "%",
        "bars": [
            {
                "label": _kind_label(r["kind"]),
                "value": r["rate"],
                "ref": r["late_ref"],
                "alert": r["rate"] is not None and r["rate"] < thresholds["on_time_rate_min"],
            }
            for r in on_time
        ],
    }
    return table, chart


def _overdue_parts(overdue: dict) -> tuple[dict, dict]:
    chart = {
        "id": "chart-overdue-kind",
        "type": "bar",
        "title": "Overdue at period end, by kind",
        "desc": ", ".join(f"{_kind_label(r['label'])}: {r['value']}" for r in overdue["by_kind"]) or "nothing overdue",
        "unit": "",
        "bars": [
            {"label": _kind_label(r["label"]), "value": r["value"], "ref": r["ref"], "alert": True}
            for r in overdue["by_kind"]
        ],
    }
    table = {
        "title": "Overdue at period end, by escalation level",
        "columns": ["Escalation level", "Obligations"],
        "rows": [[_level_label(r["label"]), {"text": str(r["value"]), "ref": r["ref"]}] for r in overdue["by_level"]],
    }
    return chart, table


def _level_label(label: str) -> str:
    """ "level 3" → "3 — QMS coordinator" (the ladder's names)."""
    from qms.procedures import escalation_steps

    level = int(label.split()[-1])
    names = {0: "not escalated yet", **{step.level: step.label for step in escalation_steps()}}
    return f"{level} — {names.get(level, '')}"


def _patterns_table(patterns: list[dict]) -> dict:
    return {
        "title": "Repeat-bypass patterns",
        "columns": ["Repository", "Check", "Bypasses"],
        "rows": [[p["repository"], p["check"], {"text": str(p["count"]), "ref": p["ref"]}] for p in patterns],
        "empty": "No repository and check was bypassed often enough to form a pattern.",
    }
