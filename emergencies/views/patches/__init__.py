"""The patch package page of a change and its actions: the page (``page``), the package, its files and its
approval (``packages``), its units, configuration audit and follow-up documents (``units``)."""

from emergencies.views.patches.packages import (
    artifact_download,
    artifact_enter,
    artifact_remove,
    artifact_upload,
    artifact_verify,
    patch_approve,
    patch_create,
    patch_update,
    patch_withdraw,
)
from emergencies.views.patches.page import patch_detail
from emergencies.views.patches.units import (
    configuration_audit,
    follow_up_complete,
    unit_add,
    unit_event,
    units_from_incident,
)

__all__ = [
    "artifact_download",
    "artifact_enter",
    "artifact_remove",
    "artifact_upload",
    "artifact_verify",
    "configuration_audit",
    "follow_up_complete",
    "patch_approve",
    "patch_create",
    "patch_detail",
    "patch_update",
    "patch_withdraw",
    "unit_add",
    "unit_event",
    "units_from_incident",
]
