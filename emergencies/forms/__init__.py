"""The forms of the emergency lifecycle, one module per sub-domain."""

from emergencies.forms.bypasses import (
    BypassRequestForm,
    PasswordForm,
    RejectForm,
    RemediationForm,
    SignForm,
    VerbalApprovalForm,
    WithdrawForm,
)
from emergencies.forms.ccb import (
    PASSWORD_HELP,
    CancelForm,
    ConveneForm,
    DecisionForm,
    DeclareForm,
    MemberAddForm,
    RegulatoryForm,
    StatusUpdateForm,
    VoteForm,
)
from emergencies.forms.changes import EmergencyStubForm, TransitionForm
from emergencies.forms.handoffs import HandoffRequestForm
from emergencies.forms.incidents import IncidentForm
from emergencies.forms.patches import (
    HASH_ATTRS,
    WHEN,
    ApproveForm,
    ArtifactEnterForm,
    ArtifactUploadForm,
    ArtifactVerifyForm,
    FollowUpForm,
    PackageTextsForm,
    ReasonForm,
    UnitAddForm,
    UnitEventForm,
)
from emergencies.forms.postincident import (
    ActionItemForm,
    DocumentationForm,
    GateResultForm,
    PostMortemForm,
    PreventiveMeasureForm,
    RollbackReadingForm,
)
from emergencies.forms.warroom import WarRoomEntryForm

__all__ = [
    "HASH_ATTRS",
    "PASSWORD_HELP",
    "WHEN",
    "ActionItemForm",
    "ApproveForm",
    "ArtifactEnterForm",
    "ArtifactUploadForm",
    "ArtifactVerifyForm",
    "BypassRequestForm",
    "CancelForm",
    "ConveneForm",
    "DecisionForm",
    "DeclareForm",
    "DocumentationForm",
    "EmergencyStubForm",
    "FollowUpForm",
    "GateResultForm",
    "HandoffRequestForm",
    "IncidentForm",
    "MemberAddForm",
    "PackageTextsForm",
    "PasswordForm",
    "PostMortemForm",
    "PreventiveMeasureForm",
    "ReasonForm",
    "RegulatoryForm",
    "RejectForm",
    "RemediationForm",
    "RollbackReadingForm",
    "SignForm",
    "StatusUpdateForm",
    "TransitionForm",
    "UnitAddForm",
    "UnitEventForm",
    "VerbalApprovalForm",
    "VoteForm",
    "WarRoomEntryForm",
    "WithdrawForm",
]
