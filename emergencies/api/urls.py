from django.urls import path

from emergencies.api import bypasses, ccb, changes, handoffs, lifecycle, postmortem
from emergencies.urls import RecordIdConverter  # noqa: F401  (registers the converter)
from emergencies.views import deployment

CHANGE = "emergencies/<recordid:identifier>/"
BYPASS = "bypasses/<recordid:identifier>/"
POST_MORTEM = CHANGE + "post-mortem/"
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
    path("bypasses/", changes.BypassListCreate.as_view(), name="api-bypass-list"),
    path(BYPASS, changes.BypassDetail.as_view(), name="api-bypass-detail"),
    path(BYPASS + "sign/", changes.BypassSign.as_view(), name="api-bypass-sign"),
    path(BYPASS + "reject/", changes.BypassReject.as_view(), name="api-bypass-reject"),
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
]
