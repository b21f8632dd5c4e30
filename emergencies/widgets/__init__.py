"""Dashboard widgets and subject panels of the lifecycle, one module per sub-domain."""

from emergencies.widgets.ccb import (
    awaiting_vote_widget,
    change_panel,
)
from emergencies.widgets.changes import awaiting_widget, my_open_widget
from emergencies.widgets.handoffs import handoff_change_panel, handoff_subject_panel, waiting_for_you_widget

__all__ = [
    "awaiting_vote_widget",
    "awaiting_widget",
    "change_panel",
    "handoff_change_panel",
    "handoff_subject_panel",
    "my_open_widget",
    "waiting_for_you_widget",
]
