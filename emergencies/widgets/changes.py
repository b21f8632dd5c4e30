"""The lifecycle's dashboard widgets: the bypass requests awaiting your signature, and your open changes."""

from emergencies import permissions, selectors


def awaiting_widget(request) -> dict:
    return {"bypasses": selectors.bypasses_awaiting_signature(user=request.user)}


def my_open_widget(request) -> dict:
    return {
        "changes": selectors.my_open_changes(user=request.user),
        "can_file": permissions.can_file_emergency(request.user),
    }
