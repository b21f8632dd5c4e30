"""REST API of the emergency lifecycle, one module per sub-domain, thin over the same services and selectors
as the pages. ``urls`` mounts them under /api/v1/."""

from emergencies.api.ccb import CCBSessionDetail, CCBSessionList, CCBVote
from emergencies.api.changes import (
    BypassDetail,
    BypassListCreate,
    BypassReject,
    BypassSign,
    EmergencyDetail,
    EmergencyListCreate,
)

__all__ = [
    "BypassDetail",
    "BypassListCreate",
    "BypassReject",
    "BypassSign",
    "CCBSessionDetail",
    "CCBSessionList",
    "CCBVote",
    "EmergencyDetail",
    "EmergencyListCreate",
]
