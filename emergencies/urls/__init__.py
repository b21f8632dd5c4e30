from django.urls import path, register_converter

from emergencies.views import authorisation, bypasses, changes, handoffs, incident, postincident
from emergencies.views import ccb as ccb_views


class RecordIdConverter:
    regex = r"[A-Z]+(?:-[A-Z0-9]+)+"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(RecordIdConverter, "recordid")

app_name = "emergencies"
urlpatterns = [
    path("", changes.change_list, name="change-list"),
    path("new/", changes.stub_create, name="stub-create"),
    path("<recordid:identifier>.md", changes.change_markdown, name="change-markdown"),
    path("<recordid:identifier>.pdf", changes.change_stub_pdf, name="change-stub-pdf"),
    path("<recordid:identifier>/", changes.change_detail, name="change-detail"),
    path("<recordid:identifier>/checklist/", changes.change_checklist, name="change-checklist"),
    path("<recordid:identifier>/actions/<slug:transition>/", changes.change_transition, name="change-transition"),
    path(
        "<recordid:identifier>/proceed-before-authorisation/",
        authorisation.proceed_deviation,
        name="change-proceed-deviation",
    ),
    path(
        "<recordid:identifier>/authorisation/re-request/",
        authorisation.authorisation_rerequest,
        name="change-authorisation-rerequest",
    ),
    path("<recordid:identifier>/incident/", incident.incident_edit, name="incident-edit"),
    path("validation/", postincident.validation_list, name="validation-list"),
    path("<recordid:identifier>/handoffs/", handoffs.handoff_request, name="handoff-request"),
    path("handoffs/<int:pk>/withdraw/", handoffs.handoff_withdraw, name="handoff-withdraw"),
    path("<recordid:identifier>/hotfix-review/", postincident.hotfix_review, name="hotfix-review"),
    path("<recordid:identifier>/deployment/", postincident.deployment_flag, name="deployment-flag"),
    path("<recordid:identifier>/rollback-readings/", postincident.rollback_reading, name="rollback-reading"),
    path("<recordid:identifier>/documentation/", postincident.documentation_edit, name="documentation"),
    path("<recordid:identifier>/gates/", postincident.gate_result, name="gate-result"),
    path("<recordid:identifier>/gates/bulk/", postincident.gate_results_bulk, name="gate-results-bulk"),
    path("<recordid:identifier>/document.<str:fmt>", postincident.change_export, name="change-export"),
    path("<recordid:identifier>/post-mortem/", postincident.post_mortem_detail, name="post-mortem"),
    path("<recordid:identifier>/post-mortem/start/", postincident.post_mortem_start, name="post-mortem-start"),
    path("<recordid:identifier>/post-mortem.<str:fmt>", postincident.post_mortem_export, name="post-mortem-export"),
    path(
        "<recordid:identifier>/post-mortem/actions/<int:item_id>/",
        postincident.action_item_status,
        name="action-item-status",
    ),
    path(
        "<recordid:identifier>/post-mortem/measures/<int:measure_id>/follow-up/",
        postincident.follow_up_create,
        name="follow-up-create",
    ),
    path(
        "<recordid:identifier>/post-mortem/<slug:action>/", postincident.post_mortem_action, name="post-mortem-action"
    ),
    path("bypasses/", bypasses.bypass_list, name="bypass-list"),
    path("bypasses/new/", bypasses.bypass_create, name="bypass-create"),
    path("bypasses/level/", bypasses.bypass_level_preview, name="bypass-level"),
    path("bypasses/<recordid:identifier>/", bypasses.bypass_detail, name="bypass-detail"),
    path("bypasses/<recordid:identifier>/sign/", bypasses.bypass_sign, name="bypass-sign"),
    path("bypasses/<recordid:identifier>/reject/", bypasses.bypass_reject, name="bypass-reject"),
    path("bypasses/<recordid:identifier>/verbal/", bypasses.bypass_verbal, name="bypass-verbal"),
    path("bypasses/<recordid:identifier>/withdraw/", bypasses.bypass_withdraw, name="bypass-withdraw"),
    path("bypasses/<recordid:identifier>/remediation/", bypasses.bypass_remediation, name="bypass-remediation"),
    path(
        "bypasses/<recordid:identifier>/confirm/<int:signature_id>/",
        bypasses.bypass_confirm,
        name="bypass-confirm",
    ),
]

# The patch package of a CM-WF-EMERGENCY change (emergencies.views.patches).
from emergencies.views import patches as patch_views  # noqa: E402

_PATCH = "<recordid:identifier>/patch/"
_PATCH_V = _PATCH + "v<int:version>/"
urlpatterns += [
    path(_PATCH, patch_views.patch_detail, name="patch-detail"),
    path(_PATCH + "new/", patch_views.patch_create, name="patch-create"),
    path(_PATCH + "follow-up/<slug:key>/", patch_views.follow_up_complete, name="patch-follow-up"),
    path(_PATCH_V, patch_views.patch_detail, name="patch-version"),
    path(_PATCH_V + "edit/", patch_views.patch_update, name="patch-update"),
    path(_PATCH_V + "artifacts/upload/", patch_views.artifact_upload, name="patch-artifact-upload"),
    path(_PATCH_V + "artifacts/enter/", patch_views.artifact_enter, name="patch-artifact-enter"),
    path(_PATCH_V + "artifacts/<int:artifact_id>/", patch_views.artifact_download, name="patch-artifact-download"),
    path(_PATCH_V + "artifacts/<int:artifact_id>/verify/", patch_views.artifact_verify, name="patch-artifact-verify"),
    path(_PATCH_V + "artifacts/<int:artifact_id>/remove/", patch_views.artifact_remove, name="patch-artifact-remove"),
    path(_PATCH_V + "approve/", patch_views.patch_approve, name="patch-approve"),
    path(_PATCH_V + "withdraw/", patch_views.patch_withdraw, name="patch-withdraw"),
    path(_PATCH_V + "units/", patch_views.unit_add, name="patch-unit-add"),
    path(_PATCH_V + "units/from-incident/", patch_views.units_from_incident, name="patch-units-from-incident"),
    path(_PATCH_V + "units/<int:unit_id>/events/", patch_views.unit_event, name="patch-unit-event"),
    path(_PATCH_V + "audit/", patch_views.configuration_audit, name="patch-audit"),
    # Emergency CCB (CM-WF-EMERGENCY §7, §12, §14, §15)
    path("ccb/", ccb_views.ccb_session_list, name="ccb-list"),
    path("ccb/<int:pk>/", ccb_views.ccb_session_detail, name="ccb-session-detail"),
    path("ccb/<int:pk>/tally/", ccb_views.ccb_session_tally, name="ccb-session-tally"),
    path("ccb/<int:pk>/vote/", ccb_views.ccb_vote, name="ccb-vote"),
    path("ccb/<int:pk>/decide/", ccb_views.ccb_decide, name="ccb-decide"),
    path("ccb/<int:pk>/members/", ccb_views.ccb_member_add, name="ccb-member-add"),
    path("ccb/<int:pk>/cancel/", ccb_views.ccb_cancel, name="ccb-cancel"),
    path("ccb/<int:pk>/invitation.ics", ccb_views.ccb_session_ics, name="ccb-session-ics"),
    path("ccb/convene/<recordid:identifier>/", ccb_views.ccb_session_convene, name="ccb-convene"),
    path("ccb/change/<recordid:identifier>/", ccb_views.ccb_change_gates, name="ccb-change-gates"),
    path("ccb/change/<recordid:identifier>/gate-1/", ccb_views.ccb_declare, name="ccb-declare"),
    path("ccb/change/<recordid:identifier>/updates/", ccb_views.ccb_status_update, name="ccb-status-update"),
    path("ccb/change/<recordid:identifier>/regulatory/", ccb_views.ccb_regulatory, name="ccb-regulatory"),
    path("ccb/change/<recordid:identifier>/verification/", ccb_views.ccb_verification, name="ccb-verification"),
]

# The war room (emergencies.views.warroom).
from emergencies.views import warroom as warroom_views  # noqa: E402

urlpatterns += [
    path("<recordid:identifier>/war-room/", warroom_views.war_room, name="war-room"),
    path("<recordid:identifier>/war-room/timeline/", warroom_views.war_room_timeline, name="war-room-timeline"),
    path("<recordid:identifier>/war-room/entries/", warroom_views.war_room_entry, name="war-room-entry"),
    path("<recordid:identifier>/war-room/updates/", warroom_views.war_room_update, name="war-room-update"),
    path("<recordid:identifier>/war-room/post-mortem/", warroom_views.war_room_prefill, name="war-room-prefill"),
]

# GitHub: a pull request as the webhooks describe it, and the bypass request prefilled from it.
from emergencies.views import github as github_views  # noqa: E402

urlpatterns += [
    path("github/<int:repository_id>/pulls/<int:number>/", github_views.pull_detail, name="github-pull"),
    path(
        "github/<int:repository_id>/pulls/<int:number>/bypass/",
        github_views.pull_bypass_create,
        name="github-pull-bypass",
    ),
]
