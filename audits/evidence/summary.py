"""The one-page PDF summary of a change in the auditor's export, rendered with WeasyPrint from an HTML
template (``audits/evidence/change_summary.html``), from the same evidence the control index holds."""

from __future__ import annotations

from datetime import UTC, datetime

from django.template.loader import render_to_string

MAX_PER_STEP = 4
MAX_SIGNATURES = 8
STEP_LABELS = {
    "authorisation": "Authorisation",
    "testing": "Testing evidence",
    "approval": "Approval",
    "deployment": "Deployment",
    "post_implementation_review": "Post-implementation review",
}
STATUS_LABELS = {
    "stub": "In progress",
    "bypass_authorised": "Bypass authorised",
    "hotfix_in_progress": "Hotfix in progress",
    "deployed": "Deployed",
    "monitoring": "Monitoring",
    "post_incident": "Post-incident documentation",
    "closed": "Closed",
    "rolled_back": "Rolled back",
    "converted_standard": "Converted to standard process",
}


def when(value) -> str:
    """A timestamp as the summary prints it (UTC, to the second); '—' when there is none."""
    if not value:
        return "—"
    moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _short(text: str, limit: int) -> str:
    text = " ".join(str(text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def summary_context(*, data: dict, evidence: dict, names: dict[int, str], file_sha256: str, export: dict) -> dict:
    change = data["change"]
    incident = data.get("incident") or {}
    steps = []
    for step, label in STEP_LABELS.items():
        entries = evidence["cc81"]["steps"][step]
        steps.append(
            {
                "label": label,
                "entries": [
                    {"what": _short(e["what"], 110), "who": e.get("who") or "—", "when": when(e.get("when"))}
                    for e in entries[:MAX_PER_STEP]
                ],
                "more": max(0, len(entries) - MAX_PER_STEP),
            }
        )
    links = {link["signature"]: link for link in evidence["links"]}
    signatures = [
        {
            "name": s["printed_name"],
            "role": s["role"],
            "recorded_by": s["recorded_by"],
            "meaning": s["meaning"],
            "method": {
                "e_signature": "",
                "sso_reauth": "re-authenticated at the identity provider",
                "verbal": "verbal, recorded",
                "written": "written, recorded",
            }.get(s["method"], s["method"]),
            "when": when(s["signed_at"]),
            "record": links[s["pointer"]]["record_label"],
            "content_hash": links[s["pointer"]]["content_sha256"],
        }
        for s in evidence["signatures"][:MAX_SIGNATURES]
    ]
    procedure = data.get("procedure") or {}
    return {
        "change": change,
        "status": STATUS_LABELS.get(change.get("status"), change.get("status")),
        "procedure": f"{procedure.get('code', '')} v{procedure.get('version', '')}",
        "incident": _short(f"{incident.get('ticket', '')} {incident.get('title', '')}", 80) if incident else "—",
        "author": names.get(change.get("author_id"), "—"),
        "problem": _short(change.get("problem_statement", ""), 240),
        "times": {
            "declared": when(change.get("declared_at")),
            "authorised": when(change.get("bypass_authorised_at")),
            "deployed": when(change.get("deployed_at")),
            "resolved": when(change.get("resolved_at")),
            "closed": when(change.get("closed_at")),
        },
        "steps": steps,
        "signatures": signatures,
        "signatures_more": max(0, len(evidence["signatures"]) - MAX_SIGNATURES),
        "trail": evidence["audit_trail"],
        "file": evidence["file"],
        "file_sha256": file_sha256,
        "export_range": f"{export['from']} to {export['to']}",
        "generated_at": when(export["generated_at"]),
        "footer": f"{change['identifier']} · summary of {evidence['file']} · SHA-256 {file_sha256}",
    }


def summary_pdf(context: dict) -> bytes:
    from weasyprint import HTML  # imported when an export is made: it loads Pango

    html = render_to_string("audits/evidence/change_summary.html", context)
    return HTML(string=html).write_pdf()
