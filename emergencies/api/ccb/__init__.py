"""The emergency CCB in the API: sessions and votes (``sessions``), convening and the change's CCB steps
(``manage``)."""

import emergencies.api.ccb.manage
import emergencies.api.ccb.sessions  # noqa: F401
