from emergencies.tasks.github import (
    github_call_deliver_task,
    github_calls_dispatch_task,
    github_deliveries_pending_task,
    github_delivery_process_task,
    github_scopes_expire_task,
)

__all__ = [
    "github_call_deliver_task",
    "github_calls_dispatch_task",
    "github_deliveries_pending_task",
    "github_delivery_process_task",
    "github_scopes_expire_task",
]
