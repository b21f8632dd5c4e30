"""How long user-supplied text may be: one place for every model field, form and API serializer.

Everything a user types ends up in the exports (markdown, PDF, the auditor's zip), and a megabyte of
problem statement costs seconds of worker time per PDF. The limits are far above what anyone writes by
hand; a longer text is refused with a field error and nothing is saved.

Model fields declare these as ``max_length`` (a ``TextField``'s ``max_length`` is not enforced by Django
or the database, so :func:`text_limit_errors` checks it before every save of the portal's models); forms
and serializers use the same numbers so that the error comes back on the field that was too long.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models

TITLE_MAX = 200  # titles, names of things
LINE_MAX = 500  # a one-line answer: a location, a URL, a short label
COMMENT_MAX = 5_000  # a signature's comment, a reason, a note
TEXT_MAX = 20_000  # a statement, a plan, a documentation or post-mortem section, evidence
LIST_MAX = 100_000  # a list one item a line (systems or serial numbers of a fleet)

# The apps whose rows users write (oversight's rows are written by the portal itself).
CHECKED_APPS = frozenset({"qms", "emergencies", "audits"})


def too_long_message(*, limit: int, length: int) -> str:
    return f"At most {limit:,} characters, please (this has {length:,})."


def text_limit_errors(instance: models.Model) -> dict[str, list[str]]:
    """The text fields of ``instance`` longer than their ``max_length``, as field errors."""
    errors: dict[str, list[str]] = {}
    for field in instance._meta.concrete_fields:
        if not isinstance(field, models.CharField | models.TextField) or not field.max_length:
            continue
        value = getattr(instance, field.attname, None)
        if isinstance(value, str) and len(value) > field.max_length:
            errors[field.name] = [too_long_message(limit=field.max_length, length=len(value))]
    return errors


def enforce_text_limits(sender, instance, raw=False, **kwargs) -> None:
    """``pre_save`` receiver: refuse to save any of the portal's rows with a text over its limit, whichever
    path wrote it (service, admin, task). The service's transaction rolls back, so nothing changes."""
    if raw or sender._meta.app_label not in CHECKED_APPS or getattr(sender, "instance_type", None) is not None:
        return  # fixtures; other apps; django-simple-history's copies (their source row was checked)
    errors = text_limit_errors(instance)
    if errors:
        raise ValidationError(errors)
