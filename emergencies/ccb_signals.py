"""Domain events of the emergency CCB, gates and communication plan. Oversight (audits.ccb_receivers)
listens; the lifecycle never imports it. Sent inside the writing transaction."""

from django.dispatch import Signal

# session, actor
ccb_session_convened = Signal()
# session, member, actor
ccb_member_added = Signal()
# session, vote, actor
ccb_vote_cast = Signal()
# session, actor — "more information needed": the session stays open with its questions
ccb_session_deferred = Signal()
# session, decision (GateDecision), actor
ccb_session_decided = Signal()
# session, actor
ccb_session_cancelled = Signal()
# change, decision (GateDecision), actor
gate_decision_recorded = Signal()
# change, reason, actor — the emergency was not warranted (a false alarm in the metrics)
change_false_alarm = Signal()
# change, complete, actor
change_verification_set = Signal()
# change, update (StatusUpdate), actor
status_update_posted = Signal()
# change, notification (RegulatoryNotification), actor
regulatory_notification_recorded = Signal()
