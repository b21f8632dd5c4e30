"""The bypass requests' API: the requests themselves (``requests``: list, request one, detail) and the writes
on one (``actions``: sign, reject, a recorded approval and its confirmation, withdrawal, remediation)."""

from emergencies.api.bypasses.actions import (
    BypassReject,
    BypassSign,
    Remediations,
    SignatureConfirmation,
    VerbalApprovals,
    Withdrawal,
)
from emergencies.api.bypasses.requests import BypassDetail, BypassListCreate

__all__ = [
    "BypassDetail",
    "BypassListCreate",
    "BypassReject",
    "BypassSign",
    "Remediations",
    "SignatureConfirmation",
    "VerbalApprovals",
    "Withdrawal",
]
