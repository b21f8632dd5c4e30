"""The Django admin of the lifecycle (read-only history), one module per sub-domain."""

# Each part of the lifecycle registers its own models.
import emergencies.admin.alerts
import emergencies.admin.bypasses
import emergencies.admin.ccb
import emergencies.admin.changes
import emergencies.admin.github
import emergencies.admin.handoffs
import emergencies.admin.patches
import emergencies.admin.warroom  # noqa: F401
