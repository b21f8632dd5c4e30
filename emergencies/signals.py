"""Domain events of the lifecycle. Oversight (audits) listens; the lifecycle never imports it.

They are sent inside the writing transaction, so what a receiver writes commits or rolls back with it.
Transitions are announced by django-fsm's own ``post_transition``.
"""

from django.dispatch import Signal

# change, actor
change_record_filed = Signal()
# change, actor, item, done
change_record_checklist_changed = Signal()
# bypass, actor
bypass_requested = Signal()
# bypass, actor, at
bypass_activated = Signal()
# bypass, signature, role, actor — an electronic signature on a bypass (approval), before any activation
bypass_signed = Signal()
# remediation (BypassRemediation), actor — a level 1-3 bypass's skipped check shown to pass again
bypass_remediation_recorded = Signal()
# bypass, signature, actor, due
verbal_approval_recorded = Signal()
# bypass, signature, actor
verbal_approval_confirmed = Signal()
# change, name, actor, at — a documented step of the procedure reached (documentation_complete, ...)
change_record_milestone = Signal()
# result (GateResult), bypass (the emergency bypass or None), actor
gate_result_recorded = Signal()
# item (ActionItem), actor
action_item_saved = Signal()
# alert (Alert), action (fired / re-fired / resolved / updated), actor
alert_received = Signal()
# entry (WarRoomEntry), actor
war_room_entry_posted = Signal()

# GitHub (emergencies.services.github): repository, actor — a repository linked or its link changed
github_repository_linked = Signal()
# scope (GitHubBypassScope), event, actor, details — the GitHub side of a bypass: granted, superseded by new
# commits, expired, merged, reverted
github_scope_event = Signal()
# finding (GitHubFinding) — a merge with failing required checks and no bypass for its commit
github_unauthorised_merge = Signal()
# token (DeploymentGateToken), action ("created" / "revoked"), actor
deployment_gate_token_changed = Signal()
# request (HandoffRequest), actor — a step asked of a named person or a role
handoff_requested = Signal()
# request (HandoffRequest), actor (None when the system closed it) — done or withdrawn
handoff_closed = Signal()
# change, signature, actor, reason — the incident commander signed "proceed before authorisation"
change_proceed_deviation_signed = Signal()
# incident, changes ({field: (before, after)}), actor, reason — the incident completed or corrected after filing
incident_updated = Signal()

# The emergency CCB, gates and communication plan (CM-WF-EMERGENCY; oversight: audits.receivers.ccb)
# session, actor
ccb_session_convened = Signal()
# session, member, actor
ccb_member_added = Signal()
# session, vote, actor
ccb_vote_cast = Signal()
# session, actor — "more information needed": the session stays open with its questions
ccb_session_deferred = Signal()
# session, decision (GateDecision), actor
ccb_session_decided = Signal()
# session, actor
ccb_session_cancelled = Signal()
# change, decision (GateDecision), actor
gate_decision_recorded = Signal()
# change, reason, actor — the emergency was not warranted (a false alarm in the metrics)
change_false_alarm = Signal()
# change, complete, actor
change_verification_set = Signal()
# change, update (StatusUpdate), actor
status_update_posted = Signal()
# change, notification (RegulatoryNotification), actor
regulatory_notification_recorded = Signal()

# The patch package (CM-WF-EMERGENCY §8.2-§11.2; oversight: audits.receivers.patches). Package transitions
# (approve, distribute, withdraw) are announced by django-fsm's ``post_transition``.
# package, actor
patch_package_created = Signal()
# package, actor, fields
patch_package_updated = Signal()
# artifact (None when refused before it existed), package, actor,
# action ("added", "verified", "removed", "verification_failed"), detail
patch_artifact_changed = Signal()
# unit, package, actor, action ("added" or a UnitEvent kind), event (UnitEvent or None)
patch_unit_changed = Signal()
# package, actor, rows, ok
patch_configuration_audited = Signal()
# change, document (FollowUpDocument), actor, all_done
patch_follow_up_completed = Signal()
