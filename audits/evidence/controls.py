"""The control index of an auditor's export (``controls/index.json``): for each control, the evidence of each
change, as file paths inside the zip and JSON pointers (RFC 6901) into them, with who and when.

- SOC 2 CC8.1 (change management), for an emergency change: its authorisation, testing evidence, approval,
  deployment and post-implementation review.
- HIPAA 164.312(b) (audit controls): the hash-chained trail of each change, the chain segment and the signed
  checkpoints that anchor it.
- 21 CFR Part 11 §11.50 (signature manifestations: printed name, date and time, meaning) and §11.70
  (signature/record linking: the record signed, the SHA-256 of the content signed, the chained event).

Everything is read from the change's exported JSON, so the index says nothing the records do not.
"""

from __future__ import annotations

from django.contrib.contenttypes.models import ContentType

INDEX_FORMAT = "qms-control-index/1"
CC81_STEPS = ("authorisation", "testing", "approval", "deployment", "post_implementation_review")
# Which chained events are evidence of which CC8.1 step (an action, or an action and the start of its reason).
CC81_EVENTS: dict[str, tuple[tuple[str, str], ...]] = {
    "authorisation": (("change.authorize_bypass", ""), ("bypass.activate", ""), ("ccb.decided", "")),
    "testing": (
        ("change.hotfix_reviewed", ""),
        ("change.checklist", "smoke_test_passed"),
        ("change.checklist", "security_scan_passed"),
        ("change.rollback_reading", ""),
        ("gate.passed", ""),
        ("gate.failed", ""),
        ("gate.waived", ""),
    ),
    "approval": (("signature.approved", ""), ("signature.confirmed", ""), ("signature.rejected", ""), ("ccb.vote", "")),
    "deployment": (("change.deploy", ""), ("change.roll_back", ""), ("change.start_monitoring", "")),
    "post_implementation_review": (
        ("change.resolve", ""),
        ("change.documentation_complete", ""),
        ("post_mortem.submit", ""),
        ("post_mortem.approve", ""),
        ("change.gates_validated", ""),
        ("change.close", ""),
    ),
}
CONTROLS = {
    "SOC2-CC8.1": "SOC 2 CC8.1 — changes are authorised, tested, approved, implemented and reviewed",
    "HIPAA-164.312(b)": "HIPAA §164.312(b) — audit controls record and examine activity",
    "21CFR11-11.50": "21 CFR Part 11 §11.50 — signature manifestations (printed name, date and time, meaning)",
    "21CFR11-11.70": "21 CFR Part 11 §11.70 — signatures linked to their records",
}
MEANINGS = {
    "authored": "Authored",
    "reviewed": "Reviewed",
    "approved": "Approved",
    "rejected": "Rejected",
    "confirmed": "Confirmed verbal approval",
}


def _type_label(type_id) -> str:
    try:
        ct = ContentType.objects.get_for_id(type_id)
    except ContentType.DoesNotExist:
        return str(type_id)
    return f"{ct.app_label}.{ct.model}"


def _step_of(event: dict) -> str | None:
    for step, patterns in CC81_EVENTS.items():
        for action, reason in patterns:
            if event.get("action") == action and (event.get("reason") or "").startswith(reason):
                return step
    return None


def _record_pointer(data: dict, label: str, pk, section_of: dict[str, str]) -> str | None:
    if label == "emergencies.changerecord" and data.get("change", {}).get("id") == pk:
        return "/change"
    section = section_of.get(label)
    for i, row in enumerate(data.get(section, []) if section else []):
        if row.get("id") == pk:
            return f"/{section}/{i}"
    return None


def change_evidence(
    *, file_name: str, data: dict, section_of: dict[str, str], names: dict[int, str], summary: str | None
) -> dict:
    """Everything the index says about one exported change (``data`` is its JSON, ``file_name`` its path)."""
    identifier = data["change"]["identifier"]
    steps: dict[str, list[dict]] = {step: [] for step in CC81_STEPS}
    events = data.get("events", [])
    for i, event in enumerate(events):
        step = _step_of(event)
        if step is None or (step == "approval" and event.get("subject_type") == "emergencies.postmortem"):
            continue
        steps[step].append(
            {
                "what": f"{event['action']}" + (f": {event['reason']}" if event.get("reason") else ""),
                "who": event.get("actor_name", ""),
                "role": event.get("actor_roles", ""),
                "when": event["occurred_at"],
                "file": file_name,
                "pointer": f"/events/{i}",
                "chain_position": event["position"],
            }
        )
    for i, gate in enumerate(data.get("gate_results", [])):
        steps["testing"].append(
            {
                "what": f"gate {gate['gate']}: {gate['result']}"
                + (" (retroactive)" if gate.get("retroactive") else ""),
                "who": names.get(gate.get("validated_by_id"), ""),
                "who_user_id": gate.get("validated_by_id"),
                "when": gate.get("validated_at"),
                "file": file_name,
                "pointer": f"/gate_results/{i}",
            }
        )
    manifestations, links = [], []
    signature_events = {
        (e.get("subject_type"), e.get("subject_id"), e.get("actor_name")): i
        for i, e in enumerate(events)
        if str(e.get("action", "")).startswith("signature.")
    }
    for i, sig in enumerate(data.get("signatures", [])):
        label = _type_label(sig.get("subject_type_id"))
        pointer = f"/signatures/{i}"
        entry = {
            "change": identifier,
            "file": file_name,
            "pointer": pointer,
            "printed_name": sig.get("signer_name", ""),
            "signed_at": sig.get("signed_at"),
            "approved_at": sig.get("approved_at"),
            "meaning": MEANINGS.get(sig.get("meaning"), sig.get("meaning")),
            "role": sig.get("role", ""),
            "method": sig.get("method", ""),
            "recorded_by": names.get(sig.get("recorded_by_id"), "") if sig.get("recorded_by_id") else "",
            "summary": summary,
        }
        manifestations.append(entry)
        if label == "emergencies.postmortem":
            steps["post_implementation_review"].append(
                {
                    "what": f"post-mortem signed: {entry['meaning']}",
                    "who": entry["printed_name"],
                    "role": entry["role"],
                    "when": entry["signed_at"],
                    "file": file_name,
                    "pointer": pointer,
                }
            )
        event_index = signature_events.get((label, str(sig.get("subject_id")), sig.get("signer_name")))
        links.append(
            {
                "change": identifier,
                "file": file_name,
                "signature": pointer,
                "record_type": label,
                "record_label": sig.get("subject_label", ""),
                "record": _record_pointer(data, label, sig.get("subject_id"), section_of),
                "content_sha256": sig.get("content_hash", ""),
                "chained_event": f"/events/{event_index}" if event_index is not None else None,
                "chain_position": events[event_index]["position"] if event_index is not None else None,
            }
        )
    positions = [e["position"] for e in events]
    return {
        "change": identifier,
        "file": file_name,
        "summary": summary,
        "cc81": {
            "steps": steps,
            "missing": [step for step in CC81_STEPS if not steps[step]],
        },
        "audit_trail": {
            "file": file_name,
            "events": "/events",
            "history": "/history",
            "count": len(events),
            "first_position": min(positions) if positions else None,
            "last_position": max(positions) if positions else None,
        },
        "signatures": manifestations,
        "links": links,
    }


def control_index(*, changes: list[dict], chain: dict, generated_at: str) -> dict:
    """The index of the whole export, from each change's ``change_evidence`` and the chain segment's manifest
    entry."""
    return {
        "format": INDEX_FORMAT,
        "generated_at": generated_at,
        "controls": {
            "SOC2-CC8.1": {
                "title": CONTROLS["SOC2-CC8.1"],
                "steps": list(CC81_STEPS),
                "changes": [
                    {"change": c["change"], "file": c["file"], "summary": c["summary"], **c["cc81"]} for c in changes
                ],
            },
            "HIPAA-164.312(b)": {
                "title": CONTROLS["HIPAA-164.312(b)"],
                "chain": {
                    "event_files": chain["event_files"],
                    "checkpoint_files": chain["checkpoint_files"],
                    "from_position": chain["from_position"],
                    "to_position": chain["to_position"],
                    "verify": "manage.py verify_audit_export <zip> --public-key <published key>",
                },
                "changes": [{"change": c["change"], **c["audit_trail"]} for c in changes],
            },
            "21CFR11-11.50": {
                "title": CONTROLS["21CFR11-11.50"],
                "signatures": [s for c in changes for s in c["signatures"]],
            },
            "21CFR11-11.70": {
                "title": CONTROLS["21CFR11-11.70"],
                "links": [link for c in changes for link in c["links"]],
            },
        },
    }
