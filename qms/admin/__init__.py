"""The portal core's admin: the base classes other apps' admins use (``bases``), the core's registrations
(``core``) and the on-call roster's (``qms.roster.admin``); importing the package registers them all."""

import qms.admin.core
import qms.roster.admin  # noqa: F401  (the on-call roster registers its own)
from qms.admin.bases import NoRevertHistoryAdmin, ReadOnlyAdmin, ReadOnlyHistoryAdmin

__all__ = ["NoRevertHistoryAdmin", "ReadOnlyAdmin", "ReadOnlyHistoryAdmin"]
