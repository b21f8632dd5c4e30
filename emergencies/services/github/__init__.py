"""GitHub webhooks in: signature and replay checks, stored deliveries, and what each event means for a bypass.

A delivery is verified and stored by the request (nothing else happens there) and handled by the worker
(``github_delivery_process``), once: a processed delivery is never handled again, and a failed one keeps its
error and can be replayed from the admin.
"""

from emergencies.services.github.deliveries import (
    WebhookRefused,
    github_deliveries_pending,
    github_delivery_process,
    github_delivery_receive,
    github_delivery_replay,
    github_signature_valid,
)
from emergencies.services.github.events import (
    EVENT_HANDLERS,
    HANDLED_EVENTS,
    REVERT,
)
from emergencies.services.github.pulls import (
    github_bypass_request_create,
    github_pull_failing_checks,
)

__all__ = [
    "EVENT_HANDLERS",
    "HANDLED_EVENTS",
    "REVERT",
    "WebhookRefused",
    "github_bypass_request_create",
    "github_deliveries_pending",
    "github_delivery_process",
    "github_delivery_receive",
    "github_delivery_replay",
    "github_pull_failing_checks",
    "github_signature_valid",
]
