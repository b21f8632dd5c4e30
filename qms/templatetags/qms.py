from datetime import UTC, datetime

from django import template
from django.utils import timezone
from django.utils.html import format_html

from qms.clock import humanize_duration

register = template.Library()


@register.filter
def when(value: datetime | None) -> str:
    """A time in the viewer's zone with the zone named, machine-readable in UTC."""
    if not value:
        return "—"
    local = timezone.localtime(value)
    return format_html(
        '<time datetime="{}" title="{} UTC">{}</time>',
        value.astimezone(UTC).isoformat(),
        value.astimezone(UTC).strftime("%Y-%m-%d %H:%M"),
        f"{local:%Y-%m-%d %H:%M} {local.tzname()}",
    )


@register.filter
def timeleft(due: datetime | None) -> str:
    if not due:
        return ""
    delta = due - timezone.now()
    if delta.total_seconds() >= 0:
        return f"{humanize_duration(delta)} left"
    return f"overdue by {humanize_duration(delta)}"


@register.simple_tag(takes_context=True)
def render_block(context, block, *args):
    request = context["request"]
    ctx = block.context(request, *args)
    return template.loader.render_to_string(block.template, {**ctx, "request": request}, request=None)


@register.filter
def utc(value: datetime | None, fmt: str) -> str:
    """Format in UTC whatever zone is active (documents and emails are read in any zone)."""
    return value.astimezone(UTC).strftime(fmt) if value else ""


@register.filter
def md(value) -> str:
    """User text inside a markdown line: it can add no heading, list item, checkbox or table row."""
    from qms.documents import md_inline

    return md_inline(value)


@register.filter
def md_block(value) -> str:
    """User text as a markdown section's body: lines kept, none of them markup."""
    from qms.documents import md_block as block

    return block(value)
