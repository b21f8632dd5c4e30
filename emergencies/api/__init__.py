"""REST API of the emergency lifecycle, one module per sub-domain, thin over the same services and selectors
as the pages: ``changes`` (emergencies and bypass requests: list, detail, file, sign, reject), ``lifecycle``
(writes on a change), ``bypasses`` (writes on a bypass), ``ccb``, ``patches``, ``patch_artifacts`` and
``patch_units`` (the patch package), ``followups``. ``urls`` mounts them under /api/v1/."""

from emergencies.api.bypasses import Remediations, SignatureConfirmation, VerbalApprovals, Withdrawal
from emergencies.api.ccb.sessions import CCBSessionDetail, CCBSessionList, CCBVote
from emergencies.api.changes import (
    BypassDetail,
    BypassListCreate,
    BypassReject,
    BypassSign,
    EmergencyDetail,
    EmergencyListCreate,
)
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
