"""Response examples of the API's reads and body-less writes, as the OpenAPI schema shows them (one record each;
a list's example is wrapped in its page by the schema generator)."""

from __future__ import annotations

from qms.api.examples import response as response  # re-exported: the APIs here wrap their examples with it

CHANGE = {
    "id": "EC-2026-0042",
    "title": "Checkout down",
    "status": "hotfix",
    "status_display": "Hotfix in progress",
    "level": "L2",
    "source": "manual",
    "incident_ticket": "INC-7781",
    "category": "p1_incident",
    "severity": "critical",
    "cvss_score": None,
    "author": "oncall.ana",
    "procedure": "EMERGENCY-CHANGE",
    "procedure_version": 3,
    "problem_statement": "All orders fail at payment.",
    "declared_at": "2026-11-30T02:14:00Z",
    "bypass_authorised_at": "2026-11-30T02:31:00Z",
    "deployed_at": None,
    "closed_at": None,
    "url": "/emergencies/EC-2026-0042/",
}

SIGNATURE = {
    "id": 311,
    "signer": "sec.lee",
    "signer_name": "Lee Park",
    "on_behalf_of": None,
    "on_behalf_of_name": None,
    "training_deviation": False,
    "role": "security",
    "meaning": "approve",
    "signed_at": "2026-11-30T02:29:00Z",
}

BYPASS = {
    "id": "BR-2026-0017",
    "level": "L2",
    "status": "approved",
    "decision_branch": "production impact high, tests skipped",
    "repository": "shop/checkout",
    "pull_request": "#812",
    "checks": ["code_quality_minor"],
    "requested_by": "oncall.ana",
    "requested_at": "2026-11-30T02:20:00Z",
    "change": "EC-2026-0042",
    "decided_at": "2026-11-30T02:31:00Z",
    "rejection_reason": "",
    "remediation_due": "2026-12-07",
    "slots": [{"roles": ["security"], "signed_by": "sec.lee"}, {"roles": ["qms"], "signed_by": "qms.kim"}],
    "signatures": [SIGNATURE],
}

CCB_SESSION = {
    "id": "CCB-2026-0009",
    "pk": 9,
    "change": "EC-2026-0042",
    "gate": "post_deploy_review",
    "status": "open",
    "outcome": "",
    "chair": "qms.kim",
    "scheduled_at": "2026-11-30T09:00:00Z",
    "duration_minutes": 30,
    "location": "Bridge call",
    "decided_by": None,
    "decided_at": None,
    "decision_reason": "",
    "questions": "Was the rollback plan tested?",
    "waivers": "",
    "interim_approval": False,
    "fast_track_authority": "",
    "member_count": 3,
    "vote_count": 1,
    "url": "/emergencies/ccb/9/",
}

TALLY = {
    "counts": {"approve": 1},
    "voted": 1,
    "missing_roles": ["quality", "executive"],
    "rule_outcome": None,
    "decidable": False,
    "decider_role": "qms",
    "members": [
        {
            "user": "sec.lee",
            "role": "security",
            "required": True,
            "choice": "approve",
            "comment": "Rollback verified in staging.",
            "cast_at": "2026-11-30T09:05:00Z",
            "signature": 318,
            "superseded_votes": 0,
        }
    ],
}

POST_MORTEM = {
    "id": 5,
    "change": "EC-2026-0042",
    "status": "draft",
    "author": "oncall.ana",
    "incident_start": "2026-11-30T02:05:00Z",
    "incident_end": "2026-11-30T03:10:00Z",
    "users_affected": 12000,
    "duration_hours": "1.1",
    "revenue_impact": "About 40k in lost orders.",
    "reputational_impact": "Complaints on social media.",
    "why_1": "Payments failed.",
    "why_2": "The payment provider refused our TLS certificate.",
    "why_3": "The certificate had expired.",
    "why_4": "Its renewal job had been failing silently.",
    "why_5": "The job's failures paged no one.",
    "contributing_factors": "Night shift; renewal owner on leave.",
    "resolution": "Certificate renewed and deployed.",
    "went_well": "Bypass signed within 15 minutes.",
    "went_poorly": "Detection took 9 minutes.",
    "got_lucky": "Low traffic at night.",
    "post_mortem_date": "2026-12-01",
    "timeline": ["2026-11-30 02:05 Payment errors start", "2026-11-30 03:10 Orders flow again"],
    "action_items": [],
    "preventive_measures": [],
    "signatures": [],
}

WAR_ROOM_ENTRY = {
    "id": 77,
    "kind": "decision",
    "text": "Roll forward with the renewed certificate; no rollback.",
    "posted_by": "oncall.ana",
    "posted_at": "2026-11-30T02:40:00Z",
    "corrects": None,
}

GATE_ANSWER = {
    "decision": "allowed",
    "repository": "shop/checkout",
    "sha": "9fceb02d0ae598e95dc970b74767f19372d61af8",
    "environment": "production",
    "reasons": ["Bypass BR-2026-0017 is approved for this commit."],
    "bypass": {"id": "BR-2026-0017", "status": "approved"},
    "change": {"id": "EC-2026-0042", "status": "hotfix"},
}

REPORT = {
    "id": 12,
    "kind": "monthly",
    "period_start": "2026-11-01",
    "period_end": "2026-11-30",
    "procedure": "emergency-bypass-workflow",
    "procedure_version": 2,
    "generated_at": "2026-12-01T06:00:00Z",
    "generated_by": "qms.kim",
    "sha256": "3f79bb7b435b05321651daefd374cdc681dc06faa65e374e38337b88ca046dea",
    "url": "/audits/reports/12/",
}


CCB_SESSION_DETAIL = {**CCB_SESSION, "tally": TALLY}
REPORT_DETAIL = {**REPORT, "payload": {"changes": 4, "bypasses": 2, "overdue_remediations": 0}}


ARTIFACT = {
    "id": 21,
    "filename": "fw-2.4.1.bin",
    "kind": "patch",
    "size": 524288,
    "sha256": "9b74c9897bac770ffc029102a200c5de3c1a5d8e8e5b1f4c0a7e4d2b9f3a6c10",
    "hash_source": "computed",
    "location": "",
    "has_file": True,
    "added_by": "oncall.ana",
    "added_at": "2026-11-30T04:00:00Z",
    "verified": True,
    "verified_by": "cm.raj",
    "verified_at": "2026-11-30T04:20:00Z",
    "verification_method": "independent_hash",
}

PACKAGE = {
    "id": "PATCH-EC-2026-0042-v1",
    "change": "EC-2026-0042",
    "version": 1,
    "status": "approved",
    "author": "oncall.ana",
    "created_at": "2026-11-30T03:50:00Z",
    "summary": "Bounds check on the altitude filter",
    "installation_procedure": "Load fw-2.4.1.bin from the maintenance port.",
    "verification_procedure": "Run BIT; the version page shows 2.4.1.",
    "rollback_procedure": "Reload fw-2.4.0.bin from the maintenance port.",
    "rollback_verification": "The version page shows 2.4.0.",
    "rollback_criteria": "BIT fails after the install.",
    "release_notice": "Fixes the altitude filter bound.",
    "approved_by": "cm.raj",
    "approved_at": "2026-11-30T04:30:00Z",
    "approved_hashes": [{"filename": "fw-2.4.1.bin", "sha256": ARTIFACT["sha256"]}],
    "distributed_at": None,
    "withdrawn_at": None,
    "withdrawal_reason": "",
    "configuration_audited_at": None,
    "configuration_audited_by": None,
    "configuration_audit": [],
    "artifact_count": 1,
    "unit_count": 2,
    "url": "/emergencies/EC-2026-0042/patch-packages/PATCH-EC-2026-0042-v1/",
}
PACKAGE_DETAIL = {**PACKAGE, "artifacts": [ARTIFACT], "signatures": [], "approval_problems": []}

UNIT = {
    "id": 31,
    "package": PACKAGE["id"],
    "serial_number": "SN-100",
    "description": "flight computer, tail 4",
    "listed_on_incident": True,
    "sent_at": "2026-11-30T05:00:00Z",
    "channel": "encrypted_link",
    "acknowledged_at": None,
    "acknowledged_by": "",
    "install_status": "pending",
    "installed_at": None,
    "installed_artifact": None,
    "reported_hash": "",
    "expected_hash": ARTIFACT["sha256"],
    "hash_matches": None,
    "post_install_verified": False,
    "verification_notes": "",
    "verified_at": None,
    "events": [
        {
            "kind": "sent",
            "occurred_at": "2026-11-30T05:00:00Z",
            "recorded_at": "2026-11-30T05:01:00Z",
            "actor": "oncall.ana",
            "channel": "encrypted_link",
            "reported_hash": "",
            "detail": "Link sent to the line station",
        }
    ],
}
