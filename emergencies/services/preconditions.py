"""What must hold before each lifecycle step, as the change's procedure version says (``"transitions"``).

One list serves the service that refuses a step (nothing written, every missing item named) and the change
page that shows, before anyone tries, which steps are open and what blocks the others.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError

from emergencies.models import BypassRequest, ChangeRecord, GateDecision, PatchPackage
from emergencies.models.patches import patch_package_required
from emergencies.services.bypasses import bypass_slot_status
from emergencies.services.postincident import closure_problems
from qms.procedures import PRECONDITION_LABELS

AUTHORISED = (BypassRequest.Status.ACTIVE, BypassRequest.Status.REMEDIATED)


@dataclass(frozen=True)
class Condition:
    code: str
    label: str
    missing: tuple[str, ...]
    note: str = ""

    @property
    def met(self) -> bool:
        return not self.missing


def emergency_bypass(change: ChangeRecord) -> BypassRequest | None:
    """The change's latest emergency bypass (a re-requested authorisation replaces a rejected one)."""
    cached = getattr(change, "_emergency_bypass", False)
    if cached is not False:
        return cached
    bypass = (
        BypassRequest.objects.select_related("procedure_version", "incident")
        .filter(change=change, level=BypassRequest.Level.EMERGENCY)
        .order_by("-requested_at", "-pk")
        .first()
    )
    change._emergency_bypass = bypass
    return bypass


def is_authorised(change: ChangeRecord) -> bool:
    bypass = emergency_bypass(change)
    return bypass is not None and bypass.status in AUTHORISED


def slot_status(bypass: BypassRequest) -> list:
    """Who has signed the bypass and who still must, read once per request and kept on the instance."""
    cached = getattr(bypass, "_slot_status", None)
    if cached is None:
        cached = bypass._slot_status = bypass_slot_status(bypass)
    return cached


def authorisation_missing(change: ChangeRecord) -> list[str]:
    """Who still has to authorise, or why the authorisation ended (empty once it is complete)."""
    bypass = emergency_bypass(change)
    if bypass is None:
        return ["No emergency authorisation has been requested: re-request it."]
    if bypass.status in AUTHORISED:
        return []
    if bypass.status == BypassRequest.Status.PENDING:
        waiting = [slot.label for slot in slot_status(bypass) if not slot.filled]
        return [f"{bypass.identifier} still needs the signature of: {', '.join(waiting)}."]
    return [
        f"{bypass.identifier} was {bypass.get_status_display().lower()}: re-request the authorisation "
        "or convert the change to the standard process."
    ]


def deviation_allows(change: ChangeRecord, transition: str) -> bool:
    rule = change.rules.proceed_before_authorisation
    return change.proceed_deviation_at is not None and transition in rule.get("transitions", [])


def _emergency_authorised(change: ChangeRecord, transition: str) -> tuple[list[str], str]:
    missing = authorisation_missing(change)
    bypass = emergency_bypass(change)
    pending = bypass is not None and bypass.status == BypassRequest.Status.PENDING
    if missing and pending and deviation_allows(change, transition):
        by = change.proceed_deviation_by.display_name if change.proceed_deviation_by_id else "the incident commander"
        return [], f"Proceeding before authorisation on the deviation signed by {by} (EMG-E001 stays open)."
    return missing, ""


def _patch_package_approved(change: ChangeRecord) -> list[str]:
    if not patch_package_required(change):
        return []
    released = (PatchPackage.Status.APPROVED, PatchPackage.Status.DISTRIBUTED)
    if PatchPackage.objects.filter(change=change, status__in=released).exists():
        return []
    return ["No approved patch package yet: add the files, verify every hash and have it approved (§8.2)."]


def _rollback_triggers_clear(change: ChangeRecord) -> list[str]:
    reading = change.rollback_readings.order_by("-recorded_at", "-pk").first()
    if reading is None:
        return []
    fired = [f"{label} → {action}" for label, action in reading.triggered(change.rules.rollback_triggers)]
    if any(action == "Rollback" for _, action in reading.triggered(change.rules.rollback_triggers)):
        return [f"The latest reading calls for a rollback ({'; '.join(fired)}): roll back, or record a new reading."]
    return []


def firing_rollback_triggers(change: ChangeRecord) -> list[str]:
    """The triggers of the latest reading that call for a rollback (empty when none does)."""
    reading = change.rollback_readings.order_by("-recorded_at", "-pk").first()
    if reading is None:
        return []
    return [label for label, action in reading.triggered(change.rules.rollback_triggers) if action == "Rollback"]


def _gate(change: ChangeRecord, code: str) -> tuple[str, list[str]]:
    from emergencies.services.gates import ccb_available, latest_decision

    if not ccb_available(change):
        return code, []
    try:
        gate = change.rules.ccb_gate(code)
    except KeyError:
        return code, []
    decision = latest_decision(change, gate.code)
    if decision is not None and decision.result == GateDecision.Result.PASSED:
        return gate.label, []
    if decision is not None:
        return gate.label, [f"{gate.label} was decided against ({decision.get_result_display().lower()})."]
    return gate.label, [f"{gate.label} not yet passed."]


def transition_conditions(change: ChangeRecord, transition: str) -> list[Condition]:
    """Every precondition of a step under the change's procedure version, met or not."""
    conditions = []
    for code in change.rules.transition_preconditions(transition):
        note = ""
        if code == "emergency_authorised":
            missing, note = _emergency_authorised(change, transition)
            label = PRECONDITION_LABELS[code]
        elif code == "deployment_checklist":
            missing, label = change.deployment_problems(), PRECONDITION_LABELS[code]
        elif code == "patch_package_approved":
            missing, label = _patch_package_approved(change), PRECONDITION_LABELS[code]
        elif code == "rollback_triggers_clear":
            missing, label = _rollback_triggers_clear(change), PRECONDITION_LABELS[code]
        elif code == "closure_checklist":
            missing, label = closure_problems(change), PRECONDITION_LABELS[code]
        elif code.startswith("gate:"):
            label, missing = _gate(change, code[5:])
        else:  # a code this portal does not know is never silently met
            missing, label = [f"Unknown precondition {code!r}."], code
        conditions.append(Condition(code, label, tuple(missing), note))
    return conditions


def transition_missing(change: ChangeRecord, transition: str) -> list[str]:
    return [item for condition in transition_conditions(change, transition) for item in condition.missing]


def transition_check(change: ChangeRecord, transition: str) -> None:
    """Refuse a step whose preconditions are not met, naming every missing item."""
    missing = transition_missing(change, transition)
    if missing:
        raise ValidationError([f"Not yet: {item}" for item in missing], code="precondition")


@dataclass
class TransitionOption:
    """A step the viewer may take from the current state: allowed now, or blocked with what is missing."""

    name: str
    label: str
    custom: dict
    missing: list[str]
    notes: list[str]
    highlight: bool = False

    @property
    def allowed(self) -> bool:
        return not self.missing


def transition_options(change: ChangeRecord, user, names) -> list[TransitionOption]:
    """Each of ``names`` whose source is the current state and whose permission the user holds."""
    from django_fsm import can_proceed

    options = []
    firing = firing_rollback_triggers(change) if change.status in ("deployed", "monitoring") else []
    for name in names:
        method = getattr(change, name)
        if not can_proceed(method, check_conditions=False):
            continue
        spec = method._django_fsm.get_transition(change.status)
        if not spec.has_perm(change, user):
            continue
        conditions = transition_conditions(change, name)
        missing = [item for c in conditions for item in c.missing]
        if not missing and not can_proceed(method):
            missing = ["Not yet possible."]
        options.append(
            TransitionOption(
                name=name,
                label=spec.custom.get("label", name),
                custom=spec.custom,
                missing=missing,
                notes=[c.note for c in conditions if c.note],
                highlight=name == "roll_back" and bool(firing),
            )
        )
    return options
