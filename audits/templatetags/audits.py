from django import template

from audits.selectors import can_oversee as _can_oversee

register = template.Library()


@register.filter
def can_oversee(user) -> bool:
    """The navigation offers the audit trail and the reports only to those who may open them."""
    return bool(user and user.is_authenticated and _can_oversee(user))
