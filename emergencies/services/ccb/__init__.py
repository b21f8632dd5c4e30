"""Emergency CCB sessions (CM-WF-EMERGENCY §7, §14, §15): convening with a calendar invitation, signed
votes that supersede one another, the live tally, and the decision that must agree with the procedure's
decision rule. Every rule (who sits, who decides, the decision rule, the waivers) comes from the change's
procedure version (``qms.procedures.ccb``); the gates' preconditions and Gate 1 are in
:mod:`emergencies.services.gates`.

Signing follows the bypass pattern: check → ask for the password outside the transaction (a wrong
password is committed even though the signing fails) → lock → check again → signature → effects.
"""

from emergencies.services.ccb.decision import (
    DecisionInput,
    ccb_decider_label,
    ccb_session_decide,
)
from emergencies.services.ccb.invitations import (
    ccb_session_ics,
)
from emergencies.services.ccb.sessions import (
    MAX_DURATION_MINUTES,
    SessionInput,
    can_convene,
    ccb_member_add,
    ccb_session_cancel,
    ccb_session_convene,
)
from emergencies.services.ccb.tally import (
    MemberState,
    SeatState,
    Tally,
    ccb_tally,
    session_members_and_votes,
)
from emergencies.services.ccb.voting import (
    MEANING,
    ccb_vote_cast,
)

__all__ = [
    "MAX_DURATION_MINUTES",
    "MEANING",
    "DecisionInput",
    "MemberState",
    "SeatState",
    "SessionInput",
    "Tally",
    "can_convene",
    "ccb_decider_label",
    "ccb_member_add",
    "ccb_session_cancel",
    "ccb_session_convene",
    "ccb_session_decide",
    "ccb_session_ics",
    "ccb_tally",
    "ccb_vote_cast",
    "session_members_and_votes",
]
