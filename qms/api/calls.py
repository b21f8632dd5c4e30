"""A service called from an API view: its ValidationError answers 400, each field error under the name the
client sent, and its PermissionDenied 403. Every app's API calls its services through ``_call_service``."""

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework.exceptions import PermissionDenied, ValidationError


def _raise_as_api_error(exc: DjangoValidationError, fields: dict[str, str] | None = None):
    """A service's ValidationError as a 400, each field error keyed by the name the client sent (``fields``
    maps the service's names to the API's where they differ)."""
    fields = fields or {}
    if hasattr(exc, "error_dict"):
        raise ValidationError(
            {fields.get(k, k): [m for e in v for m in e.messages] for k, v in exc.error_dict.items()}
        ) from exc
    raise ValidationError({"non_field_errors": exc.messages}) from exc


def _call_service(fn, **kwargs):
    try:
        return fn(**kwargs)
    except DjangoValidationError as exc:
        _raise_as_api_error(exc)
    except DjangoPermissionDenied as exc:
        raise PermissionDenied(str(exc)) from exc
