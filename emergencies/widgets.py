from emergencies import permissions, selectors


def awaiting_widget(request) -> dict:
    return {"changes": selectors.changes_awaiting_action(user=request.user)}


def my_open_widget(request) -> dict:
    return {
        "changes": selectors.my_open_changes(user=request.user),
        "can_file": permissions.can_file_emergency(request.user),
    }
