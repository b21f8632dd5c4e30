from django import template

register = template.Library()


@register.filter
def tick(value) -> str:
    return "x" if value else " "


@register.filter
def can_file(user) -> bool:
    from emergencies.permissions import can_file_emergency

    return can_file_emergency(user)


@register.filter
def table_cell(value) -> str:
    """Keep a value inside its markdown table cell (and make it plain text there)."""
    from qms.documents import md_inline

    return md_inline(value)


@register.filter
def can_view_changes(user) -> bool:
    from emergencies.permissions import can_view_changes as _can_view_changes

    return _can_view_changes(user)


@register.filter
def status_badge(change) -> str:
    """A change's status as its coloured badge (a filter, not an included template: lists show one per row)."""
    from django.utils.html import format_html

    return format_html('<span class="status status-{}">{}</span>', change.status, change.get_status_display())
