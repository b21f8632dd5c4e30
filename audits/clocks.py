"""Every kind of clock (obligation) the portal opens, with the record or action that meets it and what voids
it. ``audits.services.obligations_open`` refuses a kind that is not listed here, so no clock can start
without a way to be met or voided (a test walks this table)."""

from __future__ import annotations

from dataclasses import dataclass

CONVERSION = "voided when the change is converted to the standard process (or leaves the emergency path)"
BYPASS_VOID = "voided when the change leaves the emergency path, or the request is rejected or withdrawn"
SEVERITY_VOID = "voided with the reason when the incident's severity changes (the new class's actions open); " + (
    CONVERSION
)
EVIDENCE = "recorded done with its evidence from the change's Clocks panel"


@dataclass(frozen=True)
class ClockKind:
    met_by: str
    voided_by: str


OBLIGATION_KINDS: dict[str, ClockKind] = {
    # the procedure's clocks on a change (qms.procedures, "clocks")
    "triage": ClockKind("the emergency bypass authorised, or the hotfix started", CONVERSION),
    "hotfix": ClockKind("the change marked deployed", CONVERSION),
    "documentation": ClockKind("the full CHG documentation complete (documentation page)", CONVERSION),
    "post_mortem": ClockKind("the post-mortem approved by signature", CONVERSION),
    "external_notification": ClockKind("a regulatory notification or an external status update sent", CONVERSION),
    "follow_up_documentation": ClockKind("the last §11.2 follow-up document recorded (patch page)", CONVERSION),
    "full_regression": ClockKind("the full regression gate validated retroactively", CONVERSION),
    # bypass requests
    "review": ClockKind(
        "the reviewer's signature (or confirmed verbal approval) on the request, or the request decided", BYPASS_VOID
    ),
    "remediation": ClockKind("each skipped check shown to pass again (gate result or remediation record)", CONVERSION),
    "verbal_confirmation": ClockKind("the giver's confirming signature of the verbal approval", BYPASS_VOID),
    "preventive_change": ClockKind(
        "a preventive change linked or opened from the repeat-bypass pattern's page", "not voidable: a pattern"
    ),
    # post-incident
    "action_item": ClockKind("the post-mortem action item marked done", CONVERSION),
    # emergency CCB and communication (CM-WF-EMERGENCY)
    "status_update": ClockKind("the next internal status update posted", CONVERSION + ", or the change closed"),
    "regulatory_notification": ClockKind("the regulatory notification recorded", CONVERSION),
    "regulatory_follow_up": ClockKind(f"the follow-up documentation sent to the regulator {EVIDENCE}", CONVERSION),
    "ccb_vote": ClockKind("the member's signed vote", "the session cancelled or decided"),
    "ccb_decision": ClockKind("the session's signed decision", "the session cancelled"),
    "follow_up_doc": ClockKind("that §11.2 follow-up document recorded (patch page)", CONVERSION),
    # post-incident actions of the incident's severity class (QMS Emergency Bypass Procedures, S1-S4)
    "board_notification": ClockKind(f"the board notification {EVIDENCE}", SEVERITY_VOID),
    "incident_review": ClockKind(f"the incident review {EVIDENCE}", SEVERITY_VOID),
    "executive_summary": ClockKind(f"the executive summary {EVIDENCE}", SEVERITY_VOID),
    "team_notification": ClockKind(f"the team notification {EVIDENCE}", SEVERITY_VOID),
    "technical_debt": ClockKind(f"the technical-debt item {EVIDENCE}", SEVERITY_VOID),
    # CM-WF-EMERGENCY §11 after deployment
    "post_deployment_monitoring": ClockKind(
        f"the monitoring outcome {EVIDENCE}, after at least one status update since deployment", CONVERSION
    ),
    "root_cause_analysis": ClockKind("the post-mortem (its root cause analysis) approved by signature", CONVERSION),
    "lessons_learned": ClockKind(f"the lessons learned, shared with the program, {EVIDENCE}", CONVERSION),
    "formal_release": ClockKind(
        f"the formal release naming the scheduled release and its CCB approval {EVIDENCE}", CONVERSION
    ),
    # people: training that qualifies signers (qms.models.training)
    "recertification": ClockKind(
        "a new training record of the course (recorded by a QMS coordinator or imported)",
        "not voidable: the certification lapses",
    ),
    "training_deviation": ClockKind(
        "a training record of the missing course, after signing without it in an emergency",
        "not voidable: a finding",
    ),
}
# The clocks on a person for a course, keyed "<course>:…" (audits.receivers.training opens them).
TRAINING_KINDS = ["recertification", "training_deviation"]

# The clocks a severity class opens (voided and reopened when the severity changes).
SEVERITY_ACTION_KINDS = frozenset(
    {"board_notification", "incident_review", "executive_summary", "team_notification", "technical_debt"}
)
# Kinds met by a person recording them done with evidence (audits.services.obligation_evidence_record).
EVIDENCE_KINDS = SEVERITY_ACTION_KINDS | {
    "post_deployment_monitoring",
    "lessons_learned",
    "formal_release",
    "regulatory_follow_up",
}


def kind_of(kind: str) -> ClockKind | None:
    """The entry for a kind; ``review:<name>`` clocks share the ``review`` entry."""
    return OBLIGATION_KINDS.get(kind) or OBLIGATION_KINDS.get(kind.split(":", 1)[0])
