"""Role × endpoint matrix: every URL of the project, for every role (plus a user with no role and an
anonymous visitor), for GET and for POST where the endpoint writes.

URLs come from the resolver, so a new endpoint is covered the moment it exists. Until it is given an
expected outcome per role in ``EXPECTED`` (``test_every_endpoint_is_classified`` fails until it is), it is
still held to the rules every endpoint obeys: no server error for anyone, a visitor is sent to sign in (or
told 401/403 by the API), a user without a role never sees a record, and an auditor's POST writes nothing.
The expected sets are written out here on purpose, not imported from the permission modules, so that a
change of who may do what shows up as a failing cell.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.apps import apps
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.urls.converters import IntConverter

from qms.roles import Role
from tests.factories import UserFactory, file_stub

pytestmark = pytest.mark.django_db

ANON, NO_ROLE = "anonymous", "no-role"
PRINCIPALS = [ANON, NO_ROLE, *[r.value for r in Role]]

ROLES = frozenset(r.value for r in Role)
FILERS = frozenset({"oncall", "commander", "lead", "architect", "security", "safety", "cm", "engmanager"})
WORKERS = FILERS | {"release"}
REQUESTERS = frozenset({"oncall", "lead", "architect", "engmanager", "security", "commander"})
OVERSIGHT = frozenset({"qms", "auditor", "executive", "quality"})
EXPORTERS = frozenset({"qms", "auditor"})
VALIDATORS = frozenset({"qms", "quality", "architect", "lead", "security", "cm", "engmanager"})
WAR_ROOM = WORKERS | {"commander", "legal", "qms", "program", "certlead", "quality", "executive"}
# Who may write down someone else's verbal approval (the procedure's recorder roles; never the auditor).
RECORDERS = frozenset({"oncall", "commander", "lead", "architect", "engmanager", "security", "qms"})
# Who edits the sample role's on-call roster (the incident commander's).
ROSTER_EDITORS = frozenset({"qms", "engmanager"})


def by_role(allowed: frozenset[str], yes: int, no: int, *, none: int | None = None, anon: int = 302):
    """Outcome for principals: ``yes`` for roles in ``allowed``, ``no`` for other roles, ``none`` for a
    signed-in user without any role (defaults to ``no``), ``anon`` for a visitor."""

    def outcome(who: str) -> int:
        if who == ANON:
            return anon
        if who == NO_ROLE:
            return no if none is None else none
        return yes if who in allowed else no

    return outcome


def every(status: int, *, anon: int = 302):
    return by_role(ROLES, status, status, none=status, anon=anon)


@dataclass(frozen=True)
class Case:
    get: Callable[[str], int]
    post: Callable[[str], int] | None = None  # None: the endpoint does not write, or only with GET refused
    data: dict | None = None
    json: bool = False


SEEN = by_role(ROLES, 200, 200, none=404)  # records: any role sees them; a user with no role gets 404
LIST = by_role(ROLES, 200, 200, none=403)
API = 401  # anonymous API calls: authentication required (token auth answers 401)

EXPECTED: dict[str, Case] = {
    # project
    "qms:dashboard": Case(every(200)),
    "qms:preferences": Case(every(200), post=every(400)),  # an empty form is told what is missing, nothing saved
    "qms:user-list": Case(by_role(frozenset({"security"}), 200, 403)),
    "qms:user-detail": Case(every(404)),  # no such user
    "qms:user-signing-unlock": Case(every(405), post=every(404)),
    "qms:api-token-create": Case(every(405), post=every(400)),  # no name, no scope: nothing created
    "qms:api-token-revoke": Case(every(405), post=every(403)),  # not a token of theirs
    # people: training records (QMS coordinators record; oversight reads the matrix) and delegations
    "qms:training-matrix": Case(by_role(OVERSIGHT, 200, 403)),
    "qms:training-record": Case(by_role(frozenset({"qms"}), 200, 403), post=by_role(frozenset({"qms"}), 400, 403)),
    "qms:training-import": Case(by_role(frozenset({"qms"}), 200, 403), post=by_role(frozenset({"qms"}), 400, 403)),
    "qms:training-evidence": Case(every(404)),  # no such record
    "qms:delegations": Case(every(200), post=every(400)),  # an empty form: told what is missing
    "qms:delegation-revoke": Case(every(405), post=every(404)),  # no such delegation
    "api-training-records": Case(
        every(405, anon=API), post=by_role(frozenset({"qms"}), 400, 403, anon=API), data={}, json=True
    ),
    "api-training-import": Case(
        every(405, anon=API), post=by_role(frozenset({"qms"}), 400, 403, anon=API), data={}, json=True
    ),
    "api-delegations": Case(every(405, anon=API), post=every(400, anon=API), data={}, json=True),
    "api-delegation-revocation": Case(every(405, anon=API), post=every(404, anon=API), json=True),
    "login": Case(every(302, anon=200)),
    "logout": Case(every(405), post=every(302)),  # posted last: it ends the session
    "healthz": Case(every(200, anon=200)),
    "second-factor-setup": Case(every(200), post=every(400), data={"token": "12"}),
    "second-factor-verify": Case(every(302), post=every(302)),  # no device: straight on
    # single sign-on: off by default (404); when on, see tests/qms/sso/test_sso.py
    "sso-login": Case(every(404, anon=404)),
    "sso-login-callback": Case(every(404, anon=404)),
    "sso-reauth": Case(every(404)),
    "sso-reauth-callback": Case(every(404)),
    "api-token": Case(every(405, anon=405), post=every(400, anon=400), data={}, json=True),
    "api-schema": Case(every(200, anon=API)),
    # alert intake: each tool authenticates itself; the sample source "x" does not exist
    "alert-intake": Case(every(405, anon=405), post=every(404, anon=404)),
    # emergencies: change records
    "emergencies:change-list": Case(LIST),
    "emergencies:stub-create": Case(
        by_role(FILERS, 200, 403), post=by_role(FILERS, 400, 403), data={"title": "", "category": "p1_incident"}
    ),
    "emergencies:change-detail": Case(SEEN),
    "emergencies:change-markdown": Case(SEEN),
    "emergencies:change-stub-pdf": Case(SEEN),
    "emergencies:change-checklist": Case(
        every(405),
        post=by_role(WORKERS, 302, 403, none=404),
        data={"item": "hotfix_in_progress", "done": "1"},
    ),
    "emergencies:change-transition": Case(every(405), post=by_role(WORKERS, 302, 403, none=404)),
    "emergencies:incident-edit": Case(
        every(405), post=by_role(frozenset({"oncall", "commander", "qms"}), 302, 403, none=404)
    ),
    # an empty deviation: the incident commander is told the reason is missing; everyone else is refused
    "emergencies:change-proceed-deviation": Case(
        every(405), post=by_role(frozenset({"commander"}), 302, 403, none=404)
    ),
    # nothing to re-request while the authorisation is pending: said on the page; others refused
    "emergencies:change-authorisation-rerequest": Case(every(405), post=by_role(WORKERS, 302, 403, none=404)),
    "api-emergency-list": Case(
        by_role(ROLES, 200, 200, none=403, anon=API),
        post=by_role(FILERS, 400, 403, anon=API),
        data={},
        json=True,
    ),
    "api-emergency-detail": Case(by_role(ROLES, 200, 200, none=404, anon=API)),
    # API writes on a change (empty bodies: a field error for those who may act, never a write; the hotfix
    # review needs no body, so a worker's POST records it, as the page's does)
    "api-change-transitions": Case(every(405, anon=API), post=by_role(ROLES, 400, 400, none=404, anon=API), json=True),
    "api-change-checklist": Case(every(405, anon=API), post=by_role(ROLES, 400, 400, none=404, anon=API), json=True),
    "api-hotfix-review": Case(every(405, anon=API), post=by_role(WORKERS, 200, 403, none=404, anon=API), json=True),
    "api-deployment-checklist": Case(
        every(405, anon=API), post=by_role(WORKERS, 400, 403, none=404, anon=API), json=True
    ),
    "api-rollback-readings": Case(every(405, anon=API), post=by_role(WORKERS, 400, 403, none=404, anon=API), json=True),
    "api-documentation": Case(every(405, anon=API), post=every(405, anon=API), json=True),  # PATCH only
    "api-gate-results": Case(every(405, anon=API), post=by_role(VALIDATORS, 400, 403, none=404, anon=API), json=True),
    # emergencies: bypass requests (empty posts: a form error for those who see the request, never a write)
    "emergencies:bypass-list": Case(LIST),
    "emergencies:bypass-create": Case(
        by_role(REQUESTERS, 200, 403), post=by_role(REQUESTERS, 400, 403), data={"reason": ""}
    ),
    "emergencies:bypass-level": Case(by_role(REQUESTERS, 200, 403)),
    "emergencies:bypass-detail": Case(SEEN),
    "emergencies:bypass-sign": Case(every(405), post=by_role(ROLES, 400, 400, none=404)),
    "emergencies:bypass-reject": Case(every(405), post=by_role(ROLES, 400, 400, none=404)),
    "emergencies:bypass-verbal": Case(every(405), post=by_role(RECORDERS, 400, 403, none=404)),
    "emergencies:bypass-withdraw": Case(every(405), post=by_role(ROLES, 400, 400, none=404)),
    "emergencies:bypass-remediation": Case(every(405), post=by_role(ROLES, 400, 400, none=404)),
    "emergencies:bypass-confirm": Case(every(405), post=every(404)),  # no such signature
    "api-bypass-list": Case(
        by_role(ROLES, 200, 200, none=403, anon=API),
        post=by_role(REQUESTERS, 400, 403, anon=API),
        data={},
        json=True,
    ),
    "api-bypass-detail": Case(by_role(ROLES, 200, 200, none=404, anon=API)),
    "api-bypass-sign": Case(every(405, anon=API), post=by_role(ROLES, 400, 400, none=404, anon=API), json=True),
    "api-bypass-reject": Case(every(405, anon=API), post=by_role(ROLES, 400, 400, none=404, anon=API), json=True),
    "api-bypass-verbal-approvals": Case(
        every(405, anon=API), post=by_role(RECORDERS, 400, 403, none=404, anon=API), data={}, json=True
    ),
    # emergencies: GitHub. The sample pull request does not exist; the webhook needs a signature, the
    # deployment gate a repository's gate token (no session or API token opens it).
    "emergencies:github-pull": Case(every(404), post=every(405)),
    "emergencies:github-pull-bypass": Case(every(404), post=every(404)),
    "github-webhook": Case(every(405, anon=405), post=every(401, anon=401), data={}, json=True),
    "api-deployment-gate": Case(every(401, anon=401), post=every(401, anon=401), json=True),
    **{
        name: Case(every(405, anon=API), post=by_role(ROLES, 400, 400, none=404, anon=API), json=True)
        for name in (
            "api-bypass-confirmation",
            "api-bypass-withdrawal",
            "api-bypass-remediations",
        )
    },
    # emergencies: after the fix. The sample change is a fresh stub with no post-mortem and no patch package.
    "emergencies:validation-list": Case(LIST),
    "emergencies:hotfix-review": Case(every(405), post=by_role(WORKERS, 302, 403, none=404)),
    "emergencies:deployment-flag": Case(every(405), post=by_role(WORKERS, 302, 403, none=404)),
    "emergencies:rollback-reading": Case(every(405), post=by_role(WORKERS, 302, 403, none=404)),
    "emergencies:documentation": Case(by_role(WORKERS, 200, 403, none=404), post=by_role(WORKERS, 400, 403, none=404)),
    "emergencies:gate-result": Case(every(405), post=by_role(VALIDATORS, 302, 403, none=404)),
    "emergencies:gate-results-bulk": Case(every(405), post=by_role(VALIDATORS, 302, 403, none=404)),
    # asking the next person for a step: whoever works on the change, or coordinates quality
    "emergencies:handoff-request": Case(every(405), post=by_role(WORKERS | {"qms", "quality"}, 302, 403, none=404)),
    "emergencies:handoff-withdraw": Case(every(405), post=every(404)),  # no such request
    "api-handoffs": Case(
        every(405, anon=API), post=by_role(WORKERS | {"qms", "quality"}, 400, 403, none=404, anon=API), json=True
    ),
    "api-handoff-withdrawal": Case(every(405, anon=API), post=every(404, anon=API), json=True),
    "emergencies:change-export": Case(SEEN),
    "emergencies:post-mortem-start": Case(every(405), post=by_role(WORKERS, 302, 403, none=404)),
    "emergencies:post-mortem": Case(every(404), post=every(404)),
    # Started by the POST to post-mortem-start just before (endpoints run in URL order).
    "emergencies:post-mortem-export": Case(by_role(WORKERS, 200, 404)),
    "emergencies:post-mortem-action": Case(every(405), post=every(404)),
    "emergencies:action-item-status": Case(every(405), post=every(404)),
    # the post-mortem in the API (the sample change has none until a worker starts it, by page or API)
    "api-post-mortem": Case(
        by_role(WORKERS, 200, 404, none=404, anon=API),
        post=by_role(WORKERS, 201, 403, none=404, anon=API),
        json=True,
    ),
    # empty bodies (a field error) where a worker started the post-mortem; the others never see one
    **{
        name: Case(every(405, anon=API), post=by_role(WORKERS, 400, 404, none=404, anon=API), json=True)
        for name in (
            "api-post-mortem-submission",
            "api-post-mortem-reopening",
            "api-post-mortem-signatures",
            "api-post-mortem-action-items",
        )
    },
    "api-action-item-status": Case(every(405, anon=API), post=every(404, anon=API), json=True),
    "emergencies:follow-up-create": Case(every(405), post=every(404)),
    # emergencies: patch packages (the sample change's procedure has none).
    "emergencies:patch-detail": Case(every(404)),
    "emergencies:patch-version": Case(every(404)),
    "emergencies:patch-artifact-download": Case(every(404)),
    **{
        f"emergencies:patch-{n}": Case(every(405), post=every(404))
        for n in (
            "create",
            "follow-up",
            "update",
            "artifact-upload",
            "artifact-enter",
            "artifact-verify",
            "artifact-remove",
            "approve",
            "withdraw",
            "unit-add",
            "units-from-incident",
            "unit-event",
            "audit",
        )
    },
    # emergencies: the emergency CCB. The sample change runs under a procedure without a CCB (its gates
    # pages refuse everyone with a role), and the sample session does not exist.
    "emergencies:ccb-list": Case(LIST),
    "emergencies:ccb-session-detail": Case(every(404)),
    "emergencies:ccb-session-tally": Case(every(404)),
    "emergencies:ccb-session-ics": Case(every(404)),
    "emergencies:ccb-vote": Case(every(405), post=every(404)),
    "emergencies:ccb-decide": Case(every(405), post=every(404)),
    "emergencies:ccb-member-add": Case(every(405), post=every(404)),
    "emergencies:ccb-cancel": Case(every(405), post=every(404)),
    "emergencies:ccb-convene": Case(by_role(ROLES, 403, 403, none=404), post=by_role(ROLES, 403, 403, none=404)),
    "emergencies:ccb-change-gates": Case(by_role(ROLES, 403, 403, none=404)),
    "emergencies:ccb-declare": Case(every(405), post=by_role(ROLES, 403, 403, none=404)),
    "emergencies:ccb-status-update": Case(every(405), post=by_role(ROLES, 403, 403, none=404)),
    "emergencies:ccb-regulatory": Case(every(405), post=by_role(ROLES, 403, 403, none=404)),
    "emergencies:ccb-verification": Case(every(405), post=by_role(ROLES, 403, 403, none=404)),
    "api-ccb-session-list": Case(by_role(ROLES, 200, 200, none=403, anon=API)),
    "api-ccb-session-detail": Case(every(404, anon=API)),
    "api-ccb-vote": Case(every(405, anon=API), post=every(404, anon=API), json=True),
    "api-ccb-decision": Case(every(405, anon=API), post=every(404, anon=API), json=True),
    # patch packages in the API: the sample change's procedure has none (404 for everyone who sees the change),
    # the sample package, unit "x" and file 999999 do not exist
    "api-patch-package-list": Case(by_role(ROLES, 200, 200, none=403, anon=API), post=every(405, anon=API), json=True),
    **{
        name: Case(every(404, anon=API), post=every(405, anon=API), json=True)
        for name in ("api-patch-package-detail", "api-patch-artifact", "api-patch-unit")
    },
    **{
        name: Case(every(404, anon=API), post=every(404, anon=API), json=True)
        for name in ("api-patch-artifacts", "api-patch-units", "api-follow-up-documents")
    },
    **{
        name: Case(every(405, anon=API), post=every(404, anon=API), json=True)
        for name in (
            "api-patch-package-create",
            "api-measure-follow-up",
            "api-patch-artifact-upload",
            "api-patch-artifact-verification",
            "api-patch-package-signatures",
            "api-patch-package-withdrawal",
            "api-patch-configuration-audit",
            "api-patch-units-from-incident",
            "api-patch-unit-send",
            "api-patch-unit-acknowledge",
            "api-patch-unit-install",
            "api-patch-unit-verify",
            "api-patch-unit-roll-back",
        )
    },
    # emergencies: the war room (the sample change's procedure has no communication plan; the post-mortem
    # was started by the POST to post-mortem-start before, so picking no rows is told so and redirected)
    "emergencies:war-room": Case(SEEN),
    "emergencies:war-room-timeline": Case(SEEN),
    "emergencies:war-room-entry": Case(every(405), post=by_role(WAR_ROOM, 400, 403, none=404)),
    "emergencies:war-room-update": Case(every(405), post=by_role(WORKERS, 400, 403, none=404)),
    "emergencies:war-room-prefill": Case(every(405), post=by_role(WORKERS, 302, 403, none=404)),
    # the CCB, a change's gates and communication, the war room, oversight and people in the API (the sample
    # change's procedure has no CCB; the sample session, pull request, report, obligation and user do not exist)
    "api-ccb-convene": Case(every(405, anon=API), post=by_role(ROLES, 403, 403, none=404, anon=API), json=True),
    "api-ccb-members": Case(every(405, anon=API), post=every(404, anon=API), json=True),
    "api-ccb-cancellation": Case(every(405, anon=API), post=every(404, anon=API), json=True),
    **{
        name: Case(every(405, anon=API), post=by_role(ROLES, 403, 403, none=404, anon=API), json=True)
        for name in ("api-gate-1", "api-regulatory-notifications", "api-verification")
    },
    "api-status-updates": Case(every(405, anon=API), post=by_role(WORKERS, 400, 403, none=404, anon=API), json=True),
    # an empty deviation is a field error; the service refuses everyone but the change's commander
    "api-proceed-deviation": Case(every(405, anon=API), post=by_role(ROLES, 400, 400, none=404, anon=API), json=True),
    "api-authorisation-rerequest": Case(
        every(405, anon=API), post=by_role(WORKERS, 400, 403, none=404, anon=API), json=True
    ),
    "api-gate-results-bulk": Case(
        every(405, anon=API), post=by_role(VALIDATORS, 400, 403, none=404, anon=API), json=True
    ),
    "api-incident": Case(every(405, anon=API), post=every(405, anon=API), json=True),  # PATCH only
    "api-github-pull-bypass": Case(every(405, anon=API), post=every(404, anon=API), json=True),
    "api-war-room-entries": Case(
        by_role(ROLES, 200, 200, none=404, anon=API),
        post=by_role(WAR_ROOM, 400, 403, none=404, anon=API),
        json=True,
    ),
    **{
        name: Case(every(405, anon=API), post=by_role(WORKERS, 400, 404, none=404, anon=API), json=True)
        for name in ("api-post-mortem-timeline-prefill", "api-post-mortem-preventive-measures")
    },
    "api-report-list": Case(
        by_role(OVERSIGHT, 200, 403, anon=API),
        post=by_role(frozenset({"qms"}), 400, 403, anon=API),
        data={"kind": "weekly", "date": "not-a-date"},
        json=True,
    ),
    "api-report-detail": Case(every(404, anon=API)),
    "api-obligation-preventive-change": Case(every(405, anon=API), post=every(404, anon=API), json=True),
    "api-obligation-evidence": Case(every(405, anon=API), post=every(404, anon=API), json=True),
    "api-user-signing": Case(every(404, anon=API)),
    "api-user-signing-unlock": Case(every(405, anon=API), post=every(404, anon=API), json=True),
    # procedures under document control (the sample draft does not exist; a POST with no body is a field error
    # for an editor, refused to everyone else)
    "api-procedure-drafts": Case(
        by_role(ROLES, 200, 200, none=403, anon=API),
        post=by_role(frozenset({"qms", "quality"}), 400, 403, anon=API),
        data={},
        json=True,
    ),
    "qms:procedure-list": Case(LIST),
    "qms:procedure-version": Case(by_role(ROLES, 404, 404, none=403)),
    "qms:procedure-draft-start": Case(every(405), post=by_role(frozenset({"qms", "quality"}), 302, 403)),
    "qms:procedure-draft": Case(by_role(ROLES, 404, 404, none=403)),
    **{
        f"qms:procedure-draft-{action}": Case(every(405), post=by_role(ROLES, 404, 404, none=403))
        for action in ("edit", "action", "approve")
    },
    "api-procedure-draft": Case(by_role(ROLES, 404, 404, none=403, anon=API)),
    **{
        f"api-procedure-{action}": Case(
            every(405, anon=API), post=by_role(ROLES, 404, 404, none=403, anon=API), json=True
        )
        for action in ("submission", "signatures", "return", "publication", "withdrawal", "schedule-cancellation")
    },
    # oversight
    "audits:event-list": Case(by_role(OVERSIGHT, 200, 403)),
    "audits:chain-verify": Case(by_role(OVERSIGHT, 200, 403)),
    "audits:overdue-list": Case(every(200)),
    "audits:export": Case(
        by_role(EXPORTERS, 200, 403),
        post=by_role(EXPORTERS, 200, 403),
        data={"date_from": "2020-01-01", "date_to": "2030-12-31"},
    ),
    "audits:change-trail": Case(SEEN),
    "audits:report-list": Case(
        by_role(OVERSIGHT, 200, 403),
        post=by_role(frozenset({"qms"}), 400, 403),
        data={"kind": "weekly", "date": "not-a-date"},
    ),
    "audits:obligation-preventive-change": Case(every(405), post=every(404)),  # no such clock
    "audits:obligation-evidence": Case(every(405), post=every(404)),  # no such clock
    "audits:report-detail": Case(every(404)),
    "audits:report-drill": Case(every(404)),
    "audits:report-csv": Case(every(404)),
    "audits:report-pdf": Case(every(404)),
    # the on-call roster (sample role: the incident commander's, kept by QMS coordinators and engineering managers)
    "qms:oncall": Case(LIST),
    "qms:oncall-role": Case(LIST),
    "qms:oncall-gaps": Case(by_role(frozenset({"qms", "auditor"}), 200, 403)),
    "qms:oncall-ack": Case(every(404, anon=404), post=every(404, anon=404)),  # a token that is not signed
    "qms:oncall-rotation": Case(every(405), post=by_role(ROSTER_EDITORS, 400, 403)),
    "qms:oncall-override": Case(every(405), post=by_role(ROSTER_EDITORS, 400, 403)),
    "qms:oncall-import": Case(every(405), post=by_role(ROSTER_EDITORS, 400, 403)),
    "api-oncall": Case(by_role(ROLES, 200, 200, none=403, anon=API)),
    "api-oncall-ack": Case(every(405, anon=API), post=every(404, anon=API), json=True),
    "api-oncall-rotations": Case(every(405, anon=API), post=by_role(ROSTER_EDITORS, 400, 403, anon=API), json=True),
    "api-oncall-overrides": Case(every(405, anon=API), post=by_role(ROSTER_EDITORS, 400, 403, anon=API), json=True),
    "api-oncall-imports": Case(every(405, anon=API), post=by_role(ROSTER_EDITORS, 400, 403, anon=API), json=True),
}

# The Django admin: staff only. Nobody in the matrix is staff, so every admin page sends them to the
# admin's own sign-in (a visitor to the portal's), except these.
ADMIN_EXCEPTIONS = {
    "admin:login": every(200),  # "you are not authorised", a form for another account
}
ADMIN_DEFAULT = every(302, anon=302)

SAMPLE_KWARGS = {
    "transition": "start_hotfix",
    "signature_id": 999999,
    "app_label": "qms",
    "fmt": "md",
    "role": "commander",
    "package": "PATCH-MISSING-v1",  # a patch package that does not exist
}


def _walk(patterns, prefix: str = "", namespace: str | None = None):
    for p in patterns:
        if isinstance(p, URLResolver):
            ns = namespace
            if p.namespace:
                ns = f"{namespace}:{p.namespace}" if namespace else p.namespace
            yield from _walk(p.url_patterns, prefix + str(p.pattern), ns)
        elif isinstance(p, URLPattern):
            name = f"{namespace}:{p.name}" if namespace and p.name else p.name
            yield name, prefix + str(p.pattern), p


def all_endpoints():
    return list(_walk(get_resolver().url_patterns))


_ROUTES = {name: route for name, route, _ in all_endpoints() if name}


def test_every_endpoint_is_classified():
    unclassified = [
        name or route
        for name, route, _ in all_endpoints()
        if not (name in EXPECTED or (name or "").startswith("admin:") or route.startswith("admin/"))
    ]
    assert unclassified == [], "Give these endpoints an expected outcome per role in EXPECTED"
    stale = sorted(set(EXPECTED) - {name for name, _, _ in all_endpoints()})
    assert stale == [], "These endpoints no longer exist"


def _params(pattern: URLPattern) -> list[str]:
    return list(pattern.pattern.regex.groupindex)


def _url(name: str, pattern: URLPattern, records: dict[str, str]) -> str | None:
    params = _params(pattern)
    positional = pattern.pattern.regex.groups - len(params)
    if positional:
        return reverse(name, args=["1"] * positional)
    if not params:
        return reverse(name)
    kwargs = {}
    for param in params:
        if param == "identifier":
            kwargs[param] = records["bypass" if "bypass" in name else "change"]
        elif param in SAMPLE_KWARGS:
            kwargs[param] = SAMPLE_KWARGS[param]
        elif name.startswith("admin:"):
            kwargs[param] = "999999"
        else:  # a record that does not exist: the endpoint must still answer as the rules say
            converter = getattr(pattern.pattern, "converters", {}).get(param)
            kwargs[param] = 999999 if isinstance(converter, IntConverter) else "x"
    return reverse(name, kwargs=kwargs)


@pytest.fixture
def records(make_user):
    author = make_user(Role.ONCALL, username="author")
    change = file_stub(author)
    bypass_model = apps.get_model("emergencies", "BypassRequest")
    bypass = bypass_model.objects.order_by("pk").first()
    return {"change": change.identifier, "bypass": bypass.identifier if bypass else "BYPASS-E-MISSING"}


def _principal(client, who: str):
    if who == ANON:
        return
    user = UserFactory(username=f"who-{who}", roles=[] if who == NO_ROLE else [who])
    client.force_login(user)


# the webhooks authenticate themselves; the single sign-on pages are the sign-in's own
PUBLIC = {
    "login",
    "sso-login",
    "sso-login-callback",
    "healthz",
    "api-token",
    "github-webhook",
    "alert-intake",
    "qms:oncall-ack",
}  # the webhooks and the acknowledgement link authenticate themselves; the single sign-on pages are the sign-in's own


def _generic(name: str, url: str, method: str, who: str, status: int, location: str) -> str | None:
    """The rules every endpoint obeys, classified or not; the problem, or None."""
    if status >= 500:
        return "server error"
    if who == ANON and name not in PUBLIC:
        if url.startswith("/api/"):
            return None if status in (401, 403, 405) else "the API answered a visitor"
        if status != 302 or not location.startswith(("/accounts/login/", "/admin/login/")):
            return "a visitor was not sent to sign in"
    if who == NO_ROLE and method == "get" and "<recordid:" in _ROUTES.get(name, "") and status == 200:
        return "a user without a role saw a record"
    return None


def _written_rows() -> int:
    """Rows of everything the portal never rewrites: history, audit events, signatures."""
    from simple_history.models import HistoricalChanges

    models = [m for m in apps.get_models() if issubclass(m, HistoricalChanges)]
    models += [m for m in (apps.get_model("qms", "Signature"),) if m is not None]
    return sum(m.objects.count() for m in models)


def _request(client, method: str, url: str, case: Case):
    if method == "get":
        return client.get(url)
    data = {} if case.data is None else case.data
    if case.json:
        return client.post(url, json.dumps(data), content_type="application/json")
    return client.post(url, data)


@pytest.mark.parametrize("who", PRINCIPALS)
def test_role_endpoint_matrix(client, records, who):
    _principal(client, who)
    mismatches = []
    endpoints = sorted(all_endpoints(), key=lambda e: e[0] == "logout")
    full_admin = who in (ANON, NO_ROLE, "auditor")  # the admin is the same wall for every non-staff user
    for name, _route, pattern in endpoints:
        if name is None:
            continue  # unnamed admin redirects; the named admin pages cover the wall
        if name.startswith("admin:"):
            if not full_admin and name != "admin:index":
                continue
            case = Case(ADMIN_EXCEPTIONS.get(name, ADMIN_DEFAULT))
        else:
            # Not classified yet: only the rules every endpoint obeys (GET, and an empty POST).
            case = EXPECTED.get(name) or Case(lambda who: None, post=lambda who: None)
        url = _url(name, pattern, records)
        for method, expect in (("get", case.get), ("post", case.post)):
            if expect is None:
                continue
            before = _written_rows() if who == "auditor" and method == "post" and name != "logout" else None
            label = f"{method.upper()} {url} ({name})"
            try:
                response = _request(client, method, url, case)
            except Exception as exc:  # a server error; keep going to report every cell
                mismatches.append(f"{label}: raised {exc.__class__.__name__}: {exc}")
                continue
            want = expect(who)
            if want is not None and response.status_code != want:
                mismatches.append(f"{label}: {response.status_code}, expected {want}")
            problem = _generic(name, url, method, who, response.status_code, response.get("Location", ""))
            if problem:
                mismatches.append(f"{label}: {response.status_code}, {problem}")
            if before is not None and _written_rows() != before:
                mismatches.append(f"{label}: an auditor's POST wrote history or a signature")
    assert mismatches == [], "\n".join(mismatches)
