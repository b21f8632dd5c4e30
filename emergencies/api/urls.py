from django.urls import path, register_converter

from emergencies.api import (
    bypasses,
    changes,
    followups,
    handoffs,
    incidents,
    lifecycle,
    postmortem,
    warroom,
)
from emergencies.api.ccb import manage as ccb_manage
from emergencies.api.ccb import sessions as ccb
from emergencies.api.patches import artifacts as patch_artifacts
from emergencies.api.patches import packages as patches
from emergencies.api.patches import units as patch_units
from emergencies.api.patches.common import PackageIdConverter, SerialConverter
from emergencies.urls import RecordIdConverter  # noqa: F401  (registers the converter)
from emergencies.views import deployment
from qms.api import users

register_converter(PackageIdConverter, "patchid")
register_converter(SerialConverter, "serial")

CHANGE = "emergencies/<recordid:identifier>/"
BYPASS = "bypasses/<recordid:identifier>/"
POST_MORTEM = CHANGE + "post-mortem/"
PACKAGE = "patch-packages/<patchid:package>/"
UNIT = PACKAGE + "units/<serial:serial>/"
urlpatterns = [
    path("emergencies/", changes.EmergencyListCreate.as_view(), name="api-emergency-list"),
    path(CHANGE, changes.EmergencyDetail.as_view(), name="api-emergency-detail"),
    path(CHANGE + "transitions/", lifecycle.ChangeTransition.as_view(), name="api-change-transitions"),
    path(CHANGE + "checklist/", lifecycle.ChangeChecklist.as_view(), name="api-change-checklist"),
    path(CHANGE + "hotfix-review/", lifecycle.HotfixReview.as_view(), name="api-hotfix-review"),
    path(CHANGE + "deployment-checklist/", lifecycle.DeploymentChecklist.as_view(), name="api-deployment-checklist"),
    path(CHANGE + "rollback-readings/", lifecycle.RollbackReadings.as_view(), name="api-rollback-readings"),
    path(CHANGE + "documentation/", lifecycle.Documentation.as_view(), name="api-documentation"),
    path(CHANGE + "gate-results/", lifecycle.GateResults.as_view(), name="api-gate-results"),
    path(POST_MORTEM, postmortem.PostMortemDetail.as_view(), name="api-post-mortem"),
    path(POST_MORTEM + "submission/", postmortem.PostMortemSubmission.as_view(), name="api-post-mortem-submission"),
    path(POST_MORTEM + "reopening/", postmortem.PostMortemReopening.as_view(), name="api-post-mortem-reopening"),
    path(POST_MORTEM + "signatures/", postmortem.PostMortemSignatures.as_view(), name="api-post-mortem-signatures"),
    path(POST_MORTEM + "action-items/", postmortem.ActionItems.as_view(), name="api-post-mortem-action-items"),
    path(
        POST_MORTEM + "action-items/<int:item_id>/status/",
        postmortem.ActionItemStatus.as_view(),
        name="api-action-item-status",
    ),
    path(CHANGE + "handoffs/", handoffs.Handoffs.as_view(), name="api-handoffs"),
    path("handoffs/<int:pk>/withdrawal/", handoffs.HandoffWithdrawal.as_view(), name="api-handoff-withdrawal"),
    path("bypasses/", bypasses.BypassListCreate.as_view(), name="api-bypass-list"),
    path(BYPASS, bypasses.BypassDetail.as_view(), name="api-bypass-detail"),
    path(BYPASS + "sign/", bypasses.BypassSign.as_view(), name="api-bypass-sign"),
    path(BYPASS + "reject/", bypasses.BypassReject.as_view(), name="api-bypass-reject"),
    path(BYPASS + "verbal-approvals/", bypasses.VerbalApprovals.as_view(), name="api-bypass-verbal-approvals"),
    path(
        BYPASS + "signatures/<int:signature_id>/confirmation/",
        bypasses.SignatureConfirmation.as_view(),
        name="api-bypass-confirmation",
    ),
    path(BYPASS + "withdrawal/", bypasses.Withdrawal.as_view(), name="api-bypass-withdrawal"),
    path(BYPASS + "remediations/", bypasses.Remediations.as_view(), name="api-bypass-remediations"),
    path("ccb/sessions/", ccb.CCBSessionList.as_view(), name="api-ccb-session-list"),
    path("ccb/sessions/<int:pk>/", ccb.CCBSessionDetail.as_view(), name="api-ccb-session-detail"),
    path("ccb/sessions/<int:pk>/vote/", ccb.CCBVote.as_view(), name="api-ccb-vote"),
    path("gates/deployment", deployment.DeploymentGate.as_view(), name="api-deployment-gate"),
    path("ccb/sessions/<int:pk>/decision/", ccb.CCBDecision.as_view(), name="api-ccb-decision"),
    # running the CCB, a change's gates and communication
    path(CHANGE + "ccb-sessions/", ccb_manage.CCBConvene.as_view(), name="api-ccb-convene"),
    path("ccb/sessions/<int:pk>/members/", ccb_manage.CCBMembers.as_view(), name="api-ccb-members"),
    path("ccb/sessions/<int:pk>/cancellation/", ccb_manage.CCBCancellation.as_view(), name="api-ccb-cancellation"),
    path(CHANGE + "gate-1/", ccb_manage.Gate1Declaration.as_view(), name="api-gate-1"),
    path(CHANGE + "status-updates/", ccb_manage.StatusUpdates.as_view(), name="api-status-updates"),
    path(
        CHANGE + "regulatory-notifications/",
        ccb_manage.RegulatoryNotifications.as_view(),
        name="api-regulatory-notifications",
    ),
    path(CHANGE + "verification/", ccb_manage.Verification.as_view(), name="api-verification"),
    # authorisation, incident, gates in bulk, GitHub
    path(CHANGE + "proceed-deviation/", incidents.ProceedDeviation.as_view(), name="api-proceed-deviation"),
    path(
        CHANGE + "authorisation-requests/",
        incidents.AuthorisationRerequest.as_view(),
        name="api-authorisation-rerequest",
    ),
    path(CHANGE + "gate-results/bulk/", incidents.GateResultsBulk.as_view(), name="api-gate-results-bulk"),
    path(CHANGE + "incident/", incidents.IncidentUpdate.as_view(), name="api-incident"),
    path(
        "github/<int:repository_id>/pulls/<int:number>/bypasses/",
        incidents.GitHubPullBypass.as_view(),
        name="api-github-pull-bypass",
    ),
    # the war room
    path(CHANGE + "war-room/entries/", warroom.WarRoomEntries.as_view(), name="api-war-room-entries"),
    path(
        POST_MORTEM + "timeline-prefill/",
        warroom.PostMortemTimelinePrefill.as_view(),
        name="api-post-mortem-timeline-prefill",
    ),
    path(
        POST_MORTEM + "preventive-measures/",
        postmortem.PreventiveMeasures.as_view(),
        name="api-post-mortem-preventive-measures",
    ),
    # people
    path("users/<int:user_id>/signing/", users.SigningState.as_view(), name="api-user-signing"),
    path("users/<int:user_id>/signing/unlock/", users.SigningUnlock.as_view(), name="api-user-signing-unlock"),
    # patch packages of CM-WF-EMERGENCY changes (emergencies.api.patches.packages, .patch_units, .followups)
    path(CHANGE + "patch-packages/", patches.PatchPackageCreate.as_view(), name="api-patch-package-create"),
    path(CHANGE + "follow-up-documents/", followups.FollowUpDocuments.as_view(), name="api-follow-up-documents"),
    path(
        POST_MORTEM + "measures/<int:measure_id>/follow-up/",
        followups.MeasureFollowUp.as_view(),
        name="api-measure-follow-up",
    ),
    path("patch-packages/", patches.PatchPackageList.as_view(), name="api-patch-package-list"),
    path(PACKAGE, patches.PatchPackageDetail.as_view(), name="api-patch-package-detail"),
    path(PACKAGE + "artifacts/", patch_artifacts.PatchArtifacts.as_view(), name="api-patch-artifacts"),
    path(
        PACKAGE + "artifacts/upload/", patch_artifacts.PatchArtifactUpload.as_view(), name="api-patch-artifact-upload"
    ),
    path(
        PACKAGE + "artifacts/<int:artifact_id>/",
        patch_artifacts.PatchArtifactDetail.as_view(),
        name="api-patch-artifact",
    ),
    path(
        PACKAGE + "artifacts/<int:artifact_id>/verification/",
        patch_artifacts.PatchArtifactVerification.as_view(),
        name="api-patch-artifact-verification",
    ),
    path(PACKAGE + "signatures/", patches.PatchPackageSignatures.as_view(), name="api-patch-package-signatures"),
    path(PACKAGE + "withdrawal/", patches.PatchPackageWithdrawal.as_view(), name="api-patch-package-withdrawal"),
    path(PACKAGE + "configuration-audit/", patches.ConfigurationAudit.as_view(), name="api-patch-configuration-audit"),
    path(PACKAGE + "units/", patch_units.Units.as_view(), name="api-patch-units"),
    path(
        PACKAGE + "units/from-incident/", patch_units.UnitsFromIncident.as_view(), name="api-patch-units-from-incident"
    ),
    path(UNIT, patch_units.UnitDetail.as_view(), name="api-patch-unit"),
    path(UNIT + "send/", patch_units.UnitSend.as_view(), name="api-patch-unit-send"),
    path(UNIT + "acknowledge/", patch_units.UnitAcknowledge.as_view(), name="api-patch-unit-acknowledge"),
    path(UNIT + "install/", patch_units.UnitInstall.as_view(), name="api-patch-unit-install"),
    path(UNIT + "verify/", patch_units.UnitVerify.as_view(), name="api-patch-unit-verify"),
    path(UNIT + "roll-back/", patch_units.UnitRollBack.as_view(), name="api-patch-unit-roll-back"),
]
