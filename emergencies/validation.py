"""The error and warning codes of the Emergency Bypass Workflow (§5), computed for a change."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from emergencies.models import BypassRequest, ChangeRecord, PostMortem
from qms.clock import deadline

S = ChangeRecord.Status
AFTER_HOTFIX = (S.HOTFIX, S.DEPLOYED, S.MONITORING, S.POST_INCIDENT, S.CLOSED, S.ROLLED_BACK)
EMERGENCY_ID_PREFIX = "CHG-EMG-"


@dataclass(frozen=True)
class Finding:
    code: str
    message: str
    resolution: str

    @property
    def is_error(self) -> bool:
        return self.code.startswith("EMG-E")


CODES = {
    "EMG-E001": ("Emergency not authorized", "Obtain IC authorization"),
    "EMG-E002": ("Non-critical using bypass", "Use standard gate process"),
    "EMG-E003": ("Emergency stub missing", "Create CHG-EMG stub"),
    "EMG-E004": ("Post-mortem overdue", "Complete within 72h"),
    "EMG-E005": ("Emergency CHG not closed", "Complete closure checklist"),
    "EMG-W001": ("Incident reference missing", "Add INC-XXX"),
    "EMG-W002": ("Preventive CHG not created", "Create follow-up CHG"),
    "EMG-W003": ("Post-mortem missing RCA", "Complete 5-Whys"),
}


def _finding(code: str, detail: str = "") -> Finding:
    title, resolution = CODES[code]
    return Finding(code, f"{title}{': ' + detail if detail else ''}", resolution)


def _root_cause_due(change: ChangeRecord) -> datetime | None:
    """CM-WF-EMERGENCY §11.4: the root cause analysis (the post-mortem) is due 60 days after deployment."""
    rca = next((d for d in change.rules.deferred_on_deploy if d["kind"] == "root_cause_analysis"), None)
    if rca is None or change.deployed_at is None:
        return None
    return deadline(change.deployed_at, amount=rca["amount"], unit=rca["unit"])


def _post_mortem_due(change: ChangeRecord) -> datetime | None:
    if change.resolved_at is None:
        return None
    clock = next(
        (
            c
            for c in change.rules.clocks(change.incident.severity if change.incident_id else "")
            if c.kind == "post_mortem"
        ),
        None,
    )
    return clock.due(change.resolved_at) if clock else None


def findings(
    change: ChangeRecord,
    *,
    now: datetime | None = None,
    check_postmortem: bool = True,
    bypass: BypassRequest | None = None,
    post_mortem: PostMortem | None = None,
    prefetched: bool = False,
) -> list[Finding]:
    """Every code that applies to ``change`` now. Pass ``bypass``/``post_mortem`` with ``prefetched`` to
    avoid queries when checking many changes."""
    now = now or timezone.now()
    if change.level != ChangeRecord.Level.EMERGENCY and change.source != ChangeRecord.Source.EMERGENCY:
        return []
    if not prefetched:
        bypass = BypassRequest.objects.filter(change=change, level=BypassRequest.Level.EMERGENCY).first()
        post_mortem = PostMortem.objects.filter(change=change).first()
    result: list[Finding] = []
    authorised = bypass is not None and bypass.status in (BypassRequest.Status.ACTIVE, BypassRequest.Status.REMEDIATED)
    if change.status in AFTER_HOTFIX and not authorised:
        result.append(_finding("EMG-E001", f"{change.identifier} is {change.get_status_display().lower()}"))
    incident = change.incident
    if incident is not None and change.status != S.CONVERTED:
        refusal = change.rules.emergency_refusal(incident.category, incident.cvss_score)
        if refusal is not None or getattr(change, "false_alarm", False):
            result.append(_finding("EMG-E002", refusal.message if refusal else "ratified as unwarranted"))
    if not change.identifier.startswith(EMERGENCY_ID_PREFIX) or not change.problem_statement.strip():
        result.append(_finding("EMG-E003", "no CHG-EMG stub with a problem statement"))
    if incident is None:
        result.append(_finding("EMG-W001"))
    if check_postmortem:
        due = _post_mortem_due(change)
        approved = post_mortem is not None and post_mortem.status == PostMortem.Status.APPROVED
        if due is not None and now > due and not approved and change.status != S.CONVERTED:
            result.append(_finding("EMG-E004", f"due {due:%Y-%m-%d %H:%M} UTC"))
        elif (rca_due := _root_cause_due(change)) and now > rca_due and not approved and change.status != S.CONVERTED:
            result.append(_finding("EMG-E004", f"root cause analysis due {rca_due:%Y-%m-%d %H:%M} UTC (§11.4)"))
        if due is not None and now > due and change.status not in (S.CLOSED, S.CONVERTED):
            result.append(_finding("EMG-E005", f"resolved {change.resolved_at:%Y-%m-%d %H:%M} UTC, still open"))
        if post_mortem is not None:
            measures = list(post_mortem.preventive_measures.all())
            if (post_mortem.status == PostMortem.Status.APPROVED and not measures) or any(
                m.follow_up_id is None for m in measures
            ):
                result.append(_finding("EMG-W002"))
            if not post_mortem.has_root_cause_analysis:
                result.append(_finding("EMG-W003"))
    return result
