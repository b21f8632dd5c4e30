"""REST API of the emergency lifecycle, one module per sub-domain, thin over the same services and selectors
as the pages: ``changes`` (emergencies: list, detail, file), ``lifecycle`` (writes on a change), ``bypasses``
(bypass requests: list, detail, request, sign, reject and the other writes on one), ``ccb``, ``patches``
(the patch package: its files and units), ``followups``. ``urls`` mounts them under /api/v1/."""

from emergencies.api.bypasses import (
    BypassDetail,
    BypassListCreate,
    BypassReject,
    BypassSign,
    Remediations,
    SignatureConfirmation,
    VerbalApprovals,
    Withdrawal,
)
from emergencies.api.ccb.sessions import CCBSessionDetail, CCBSessionList, CCBVote
from emergencies.api.changes import EmergencyDetail, EmergencyListCreate
from emergencies.api.lifecycle import (
    ChangeChecklist,
    ChangeTransition,
    DeploymentChecklist,
    Documentation,
    GateResults,
    HotfixReview,
    RollbackReadings,
)

__all__ = [
    "BypassDetail",
    "BypassListCreate",
    "BypassReject",
    "BypassSign",
    "CCBSessionDetail",
    "CCBSessionList",
    "CCBVote",
    "ChangeChecklist",
    "ChangeTransition",
    "DeploymentChecklist",
    "Documentation",
    "EmergencyDetail",
    "EmergencyListCreate",
    "GateResults",
    "HotfixReview",
    "Remediations",
    "RollbackReadings",
    "SignatureConfirmation",
    "VerbalApprovals",
    "Withdrawal",
]
