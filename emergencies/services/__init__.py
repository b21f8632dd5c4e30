"""Every write of the emergency lifecycle. Each is one transaction with an explicit actor."""

from emergencies.services.stub import (
    CHECKLIST_ITEMS,
    TRANSITIONS,
    StubInput,
    change_record_checklist_set,
    change_record_transition,
    emergency_stub_file,
)

__all__ = [
    "CHECKLIST_ITEMS",
    "TRANSITIONS",
    "StubInput",
    "change_record_checklist_set",
    "change_record_transition",
    "emergency_stub_file",
]
