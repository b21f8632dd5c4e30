from emergencies.models.alerts import Alert, AlertPayload, AlertRoute, AlertSource
from emergencies.models.bypasses import BypassRemediation, BypassRequest
from emergencies.models.ccb import (
    CCBMember,
    CCBSession,
    GateDecision,
    RegulatoryNotification,
    StatusUpdate,
    Vote,
)
from emergencies.models.changes import (
    CVSS_VALIDATORS,
    INCIDENT_TICKET_VALIDATOR,
    ChangeRecord,
    Incident,
)
from emergencies.models.github import (
    DeploymentGateToken,
    GitHubBypassScope,
    GitHubCall,
    GitHubCommitCheck,
    GitHubDelivery,
    GitHubFinding,
    GitHubPullRequest,
    GitHubRepository,
)
from emergencies.models.handoffs import HandoffRequest
from emergencies.models.patches import (
    FollowUpDocument,
    PatchArtifact,
    PatchPackage,
    UnitDistribution,
    UnitEvent,
)
from emergencies.models.postincident import (
    ActionItem,
    GateResult,
    PostMortem,
    PreventiveMeasure,
    RollbackTriggerReading,
    TimelineEntry,
)

__all__ = [
    "CVSS_VALIDATORS",
    "INCIDENT_TICKET_VALIDATOR",
    "ActionItem",
    "BypassRemediation",
    "BypassRequest",
    "CCBMember",
    "CCBSession",
    "ChangeRecord",
    "DeploymentGateToken",
    "FollowUpDocument",
    "GateDecision",
    "GateResult",
    "GitHubBypassScope",
    "GitHubCall",
    "GitHubCommitCheck",
    "GitHubDelivery",
    "GitHubFinding",
    "GitHubPullRequest",
    "GitHubRepository",
    "HandoffRequest",
    "Incident",
    "PatchArtifact",
    "PatchPackage",
    "PostMortem",
    "PreventiveMeasure",
    "RegulatoryNotification",
    "RollbackTriggerReading",
    "StatusUpdate",
    "TimelineEntry",
    "UnitDistribution",
    "UnitEvent",
    "Vote",
]
from emergencies.models.identifiers import IdentifierCounter
from emergencies.models.warroom import WarRoomEntry

__all__ += ["Alert", "AlertPayload", "AlertRoute", "AlertSource", "IdentifierCounter", "WarRoomEntry"]
