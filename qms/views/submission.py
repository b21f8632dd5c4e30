"""The round every posted form makes: form → service → message, the caller then redirecting or showing the
form again."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError

from qms.forms.base import apply_validation_error


@dataclass(frozen=True)
class Submitted:
    """A form that went through, with what the service returned (whatever it is, the submission is truthy)."""

    result: Any


def form_submit(
    request, form: forms.Form, act: Callable[[forms.Form], Any], success: str | Callable[[Any], str]
) -> Submitted | None:
    """Run ``act(form)`` (the service call) when the bound form is valid. On success the message is shown
    and a ``Submitted`` holding the service's result comes back: the caller redirects. On invalid input or
    a refusal (the service's ``ValidationError``, put on the form's fields) nothing was saved and ``None``
    comes back: the caller shows the form again with its errors."""
    if form.is_bound and form.is_valid():
        try:
            result = act(form)
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, success(result) if callable(success) else success)
            return Submitted(result)
    return None
