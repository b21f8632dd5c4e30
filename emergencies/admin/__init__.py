"""The Django admin of the lifecycle (read-only history), one module per sub-domain."""

import emergencies.admin.ccb
import emergencies.admin.changes
import emergencies.admin.patches  # noqa: F401
