"""The emergency change's closure checklist (CM-WF-EMERGENCY §4.5) and the hooks other parts add to it."""

from __future__ import annotations

from emergencies.models import (
    ChangeRecord,
    PostMortem,
)
from emergencies.services.postincident.change import documentation_missing
from emergencies.services.postincident.retroactive import gates_not_cleared

# --- closure ----------------------------------------------------------------------------------------------


def closure_checklist(change: ChangeRecord) -> list[tuple[str, bool]]:
    """The emergency CHG closure checklist of §4.5 (the status itself is the last step)."""
    post_mortem = PostMortem.objects.filter(change=change).first()
    approved = post_mortem is not None and post_mortem.status == PostMortem.Status.APPROVED
    measures = list(post_mortem.preventive_measures.all()) if post_mortem else []
    items = [
        ("Full CHG document complete", not documentation_missing(change)),
        ("Post-mortem conducted", approved),
        ("Post-mortem document created", approved and post_mortem.has_root_cause_analysis),
        ("All gates retroactively validated", not gates_not_cleared(change)),
        ("Follow-up CHGs created", bool(measures) and all(m.follow_up_id for m in measures)),
        ("Stakeholders notified", change.stakeholders_notified),
    ]
    items += [(problem, False) for problem in extra_closure_problems(change)]
    return items


# Other parts of the lifecycle (patch packages, CCB Gate 4) add their own closure conditions here.
CLOSURE_HOOKS: list = []


def extra_closure_problems(change: ChangeRecord) -> list[str]:
    return [problem for hook in CLOSURE_HOOKS for problem in hook(change)]


def closure_problems(change: ChangeRecord) -> list[str]:
    return [label for label, done in closure_checklist(change) if not done]
