"""Every write a user can make on a page has an API operation calling the same service (issue 15).

The page routes come from the URL resolver, so a new page that writes fails ``test_every_page_route_is_
classified`` until it is mapped to its API operation (or listed, with the reason, as not in the API yet).
``MAPPING`` names, for each page route, the API route and the service both call; the test reads both views'
source and checks that each calls that service (one implementation, two interfaces), and, the other way
round, that every API write maps back to a page or is API-only."""

from __future__ import annotations

import inspect

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

# page route -> (API route, method, the service both call), or a list of them where one page route does several
# writes (the post-mortem's action buttons post to one route)
MAPPING = {
    "emergencies:stub-create": ("api-emergency-list", "post", "emergency_stub_file"),
    "emergencies:change-transition": ("api-change-transitions", "post", "change_record_transition"),
    "emergencies:change-checklist": ("api-change-checklist", "post", "change_record_checklist_set"),
    "emergencies:hotfix-review": ("api-hotfix-review", "post", "hotfix_review_record"),
    "emergencies:deployment-flag": ("api-deployment-checklist", "post", "change_deployment_flag_set"),
    "emergencies:rollback-reading": ("api-rollback-readings", "post", "rollback_reading_record"),
    "emergencies:documentation": ("api-documentation", "patch", "change_documentation_update"),
    "emergencies:gate-result": ("api-gate-results", "post", "gate_result_record"),
    "emergencies:bypass-create": ("api-bypass-list", "post", "bypass_request_create"),
    "emergencies:bypass-sign": ("api-bypass-sign", "post", "bypass_sign"),
    "emergencies:bypass-reject": ("api-bypass-reject", "post", "bypass_reject"),
    "emergencies:bypass-verbal": ("api-bypass-verbal-approvals", "post", "bypass_verbal_approval_record"),
    "emergencies:bypass-confirm": ("api-bypass-confirmation", "post", "signature_confirm"),
    "emergencies:bypass-withdraw": ("api-bypass-withdrawal", "post", "bypass_withdraw"),
    "emergencies:bypass-remediation": ("api-bypass-remediations", "post", "bypass_remediation_record"),
    "emergencies:ccb-vote": ("api-ccb-vote", "post", "ccb_vote_cast"),
    "emergencies:ccb-decide": ("api-ccb-decision", "post", "ccb_session_decide"),
    "emergencies:post-mortem-start": ("api-post-mortem", "post", "post_mortem_start"),
    "emergencies:post-mortem": ("api-post-mortem", "patch", "post_mortem_update"),
    "emergencies:post-mortem-action": [
        ("api-post-mortem-submission", "post", "post_mortem_submit"),
        ("api-post-mortem-reopening", "post", "post_mortem_reopen"),
        ("api-post-mortem-signatures", "post", "post_mortem_approve"),
        ("api-post-mortem-action-items", "post", "action_item_add"),
        ("api-post-mortem-preventive-measures", "post", "preventive_measure_add"),
    ],
    "emergencies:action-item-status": ("api-action-item-status", "post", "action_item_set_status"),
    "emergencies:handoff-request": ("api-handoffs", "post", "handoff_request_create"),
    "emergencies:handoff-withdraw": ("api-handoff-withdrawal", "post", "handoff_request_withdraw"),
    "qms:training-record": ("api-training-records", "post", "training_record_create"),
    "qms:training-import": ("api-training-import", "post", "training_records_import"),
    "qms:delegations": ("api-delegations", "post", "delegation_create"),
    "qms:delegation-revoke": ("api-delegation-revocation", "post", "delegation_revoke"),
    "emergencies:ccb-member-add": ("api-ccb-members", "post", "ccb_member_add"),
    "emergencies:ccb-cancel": ("api-ccb-cancellation", "post", "ccb_session_cancel"),
    "emergencies:ccb-convene": ("api-ccb-convene", "post", "ccb_session_convene"),
    "emergencies:ccb-declare": ("api-gate-1", "post", "gate_declare_record"),
    "emergencies:ccb-status-update": ("api-status-updates", "post", "status_update_post"),
    "emergencies:war-room-update": ("api-status-updates", "post", "status_update_post"),
    "emergencies:ccb-regulatory": ("api-regulatory-notifications", "post", "regulatory_notification_record"),
    "emergencies:ccb-verification": ("api-verification", "post", "change_verification_set"),
    "audits:report-list": ("api-report-list", "post", "report_generate"),
    "audits:obligation-preventive-change": (
        "api-obligation-preventive-change",
        "post",
        "obligation_preventive_change_meet",
    ),
    "audits:obligation-evidence": ("api-obligation-evidence", "post", "obligation_evidence_record"),
    "emergencies:change-authorisation-rerequest": (
        "api-authorisation-rerequest",
        "post",
        "change_authorisation_rerequest",
    ),
    "emergencies:change-proceed-deviation": ("api-proceed-deviation", "post", "change_proceed_before_authorisation"),
    "emergencies:gate-results-bulk": ("api-gate-results-bulk", "post", "gate_results_record"),
    "emergencies:github-pull-bypass": ("api-github-pull-bypass", "post", "github_bypass_request_create"),
    "emergencies:incident-edit": ("api-incident", "patch", "incident_update"),
    "emergencies:war-room-entry": ("api-war-room-entries", "post", "war_room_entry_post"),
    "emergencies:war-room-prefill": ("api-post-mortem-timeline-prefill", "post", "post_mortem_timeline_prefill"),
    "qms:user-signing-unlock": ("api-user-signing-unlock", "post", "signer_unlock"),
    "emergencies:follow-up-create": ("api-measure-follow-up", "post", "preventive_measure_follow_up_create"),
    "emergencies:patch-create": ("api-patch-package-create", "post", "patch_package_create"),
    "emergencies:patch-follow-up": ("api-follow-up-documents", "post", "follow_up_document_complete"),
    "emergencies:patch-update": ("api-patch-package-detail", "patch", "patch_package_update"),
    "emergencies:patch-artifact-upload": ("api-patch-artifact-upload", "post", "patch_artifact_upload"),
    "emergencies:patch-artifact-enter": ("api-patch-artifacts", "post", "patch_artifact_enter"),
    "emergencies:patch-artifact-verify": [
        ("api-patch-artifact-verification", "post", "patch_artifact_verify_upload"),
        ("api-patch-artifact-verification", "post", "patch_artifact_verify_entry"),
    ],
    "emergencies:patch-artifact-remove": ("api-patch-artifact", "delete", "patch_artifact_remove"),
    "emergencies:patch-approve": ("api-patch-package-signatures", "post", "patch_package_approve"),
    "emergencies:patch-withdraw": ("api-patch-package-withdrawal", "post", "patch_package_withdraw"),
    "emergencies:patch-unit-add": ("api-patch-units", "post", "unit_distribution_add"),
    "emergencies:patch-units-from-incident": (
        "api-patch-units-from-incident",
        "post",
        "unit_distributions_from_incident",
    ),
    "emergencies:patch-unit-event": [
        (f"api-patch-unit-{step}", "post", "unit_event_record")
        for step in ("send", "acknowledge", "install", "verify", "roll-back")
    ],
    "emergencies:patch-audit": ("api-patch-configuration-audit", "post", "patch_configuration_audit"),
    "qms:procedure-draft-start": ("api-procedure-drafts", "post", "procedure_draft_start"),
    "qms:procedure-draft-edit": ("api-procedure-draft", "patch", "procedure_draft_update"),
    "qms:procedure-draft-approve": ("api-procedure-signatures", "post", "procedure_draft_approve"),
    "qms:procedure-draft-action": [
        ("api-procedure-submission", "post", "procedure_draft_submit"),
        ("api-procedure-return", "post", "procedure_draft_return"),
        ("api-procedure-publication", "post", "procedure_draft_publish"),
        ("api-procedure-withdrawal", "post", "procedure_draft_withdraw"),
        ("api-procedure-schedule-cancellation", "post", "procedure_schedule_cancel"),
    ],
    "qms:oncall-rotation": ("api-oncall-rotations", "post", "rotation_create"),
    "qms:oncall-override": ("api-oncall-overrides", "post", "override_add"),
    "qms:oncall-import": ("api-oncall-imports", "post", "roster_import"),
    "qms:oncall-ack": ("api-oncall-ack", "post", "page_acknowledge"),
}

# Page writes not in the API yet (each is a gap, listed so that it is seen, not forgotten).
NOT_YET: set[str] = set()  # every page write is in the API
# Writes of a mapped page route not in the API yet: (page route, the action the page posts)
NOT_YET_ACTIONS: set[tuple[str, str]] = set()

# Endpoints other systems call (alert sources, GitHub), each authenticated by its sender's signature: an
# interface of its own for machines, not a page.
MACHINE_INTAKE = {"alert-intake", "github-webhook"}

# Page routes that write nothing a record keeps, or belong to the session (sign-in, preferences, tokens).
NOT_RECORD_WRITES = {
    "login",
    "logout",
    "second-factor-setup",
    "second-factor-verify",
    "sso-login",  # single sign-on: the session's sign-in, and a re-authentication proof for a page's signature
    "sso-login-callback",
    "sso-reauth",
    "sso-reauth-callback",
    "qms:preferences",
    "qms:api-token-create",
    "qms:api-token-revoke",
    "audits:export",  # a download (itself an audit event)
}
READ_ONLY = {
    "qms:dashboard",
    "qms:procedure-list",
    "qms:procedure-version",
    "qms:procedure-draft",
    "healthz",
    "emergencies:change-list",
    "emergencies:change-detail",
    "emergencies:change-markdown",
    "emergencies:validation-list",
    "emergencies:change-export",
    "emergencies:post-mortem-export",
    "emergencies:bypass-list",
    "emergencies:bypass-level",
    "emergencies:bypass-detail",
    "emergencies:patch-detail",
    "emergencies:patch-version",
    "emergencies:patch-artifact-download",
    "emergencies:ccb-list",
    "emergencies:ccb-session-detail",
    "emergencies:ccb-session-tally",
    "emergencies:ccb-session-ics",
    "emergencies:ccb-change-gates",
    "audits:event-list",
    "audits:chain-verify",
    "audits:overdue-list",
    "audits:change-trail",
    "audits:report-detail",
    "audits:report-drill",
    "audits:report-csv",
    "audits:report-pdf",
    "emergencies:change-stub-pdf",
    "emergencies:github-pull",
    "emergencies:war-room",
    "emergencies:war-room-timeline",
    "qms:user-list",
    "qms:user-detail",
    "qms:training-matrix",
    "qms:training-evidence",
    "qms:oncall",
    "qms:oncall-role",
    "qms:oncall-gaps",
}
API_ONLY = {"api-token"}  # the password exchange for a token


def _walk(patterns, namespace=None):
    for p in patterns:
        if isinstance(p, URLResolver):
            ns = f"{namespace}:{p.namespace}" if namespace and p.namespace else (p.namespace or namespace)
            yield from _walk(p.url_patterns, ns)
        elif isinstance(p, URLPattern) and p.name:
            yield (f"{namespace}:{p.name}" if namespace else p.name), p.callback


ROUTES = dict(_walk(get_resolver().url_patterns))
PAGES = {n: v for n, v in ROUTES.items() if not n.startswith(("admin:", "api-"))}
API = {n: v for n, v in ROUTES.items() if n.startswith("api-") and n != "api-schema"}


def _source(view) -> str:
    cls = getattr(view, "view_class", None) or getattr(view, "cls", None)
    target = cls if cls is not None else inspect.unwrap(view)
    parts = [inspect.getsource(target)]
    if cls is not None:  # the helpers it inherits from (ChangeAction.act, …) stay in the same module
        parts += [inspect.getsource(base) for base in cls.__mro__[1:] if base.__module__.startswith("emergencies")]
    return "\n".join(parts)


def test_every_page_route_is_classified():
    known = set(MAPPING) | NOT_YET | NOT_RECORD_WRITES | READ_ONLY | MACHINE_INTAKE
    assert sorted(set(PAGES) - known) == [], "Classify these page routes: an API operation, or not yet"
    assert sorted(known - set(PAGES)) == [], "These page routes no longer exist"


def _mapped(page):
    entries = MAPPING[page]
    return entries if isinstance(entries, list) else [entries]


MAPPED = [(page, *entry) for page in sorted(MAPPING) for entry in _mapped(page)]


@pytest.mark.parametrize(("page", "api_name", "method", "service"), MAPPED, ids=[f"{p} {a}" for p, a, _, _ in MAPPED])
def test_page_write_and_api_operation_call_the_same_service(page, api_name, method, service):
    view_class = API[api_name].view_class
    assert hasattr(view_class, method), f"{api_name} has no {method.upper()}"
    assert f"{service}(" in _source(PAGES[page]) or f".{service}," in _source(PAGES[page]), (
        f"{page} does not call {service}"
    )
    assert service in _source(API[api_name]), f"{api_name} does not call {service}"


@pytest.mark.parametrize(("page", "action"), sorted(NOT_YET_ACTIONS))
def test_actions_not_in_the_api_yet_still_exist(page, action):
    assert page in MAPPING and f'"{action}"' in _source(PAGES[page])


def test_every_api_write_maps_back_to_a_page():
    mapped = {api for _, api, _, _ in MAPPED}
    writes = {
        name
        for name, view in API.items()
        if any(hasattr(view.view_class, m) for m in ("post", "put", "patch", "delete"))
    }
    assert sorted(writes - mapped - API_ONLY) == [], "API writes with no page: map them or mark them API-only"
