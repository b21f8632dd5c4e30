"""The patch package API: packages (``packages``), their files (``artifacts``), their units (``units``) and
what they share (``common``)."""

import emergencies.api.patches.artifacts
import emergencies.api.patches.common
import emergencies.api.patches.packages
import emergencies.api.patches.units  # noqa: F401
