from datetime import UTC

from django import template
from django.utils import timezone
from django.utils.html import format_html

register = template.Library()


@register.filter
def get(mapping, key):
    """``{{ choices|get:code }}``: a dict's value in a template."""
    try:
        return mapping.get(key, "")
    except AttributeError:
        return ""


@register.filter
def short_when(value) -> str:
    """A time of today as HH:MM, an older one with its date; the full time in UTC on hover."""
    if not value:
        return ""
    local = timezone.localtime(value)
    text = f"{local:%H:%M}" if local.date() == timezone.localdate() else f"{local:%d %b %H:%M}"
    return format_html(
        '<time datetime="{}" title="{} UTC">{}</time>',
        value.astimezone(UTC).isoformat(),
        value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
        text,
    )
