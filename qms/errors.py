"""A lost database answers a clear 503 page, not a 500, and the page is rendered without the database.

Services own their transactions, so a request that loses its connection half-way through a write rolls
back whole: nothing half-written stays behind. The page says what happened and what to do.

A database error can surface in two places:

- in a view: ``process_exception`` answers it;
- in a middleware (the session and the signed-in user are loaded there, the session is saved there):
  Django has already turned it into a 500 response by the time it comes back out here, so a
  ``got_request_exception`` receiver marks the request and ``__call__`` swaps the 500 for the 503.

The middleware sits just inside ``SecurityMiddleware``, outside everything that may query.
"""

from __future__ import annotations

import logging
import sys

from django.core.signals import got_request_exception
from django.db import InterfaceError, OperationalError
from django.dispatch import receiver
from django.http import HttpResponse
from django.template.loader import render_to_string
from django.views import defaults

logger = logging.getLogger(__name__)

# OperationalError covers a refused or dropped connection, a connect timeout and a terminated backend;
# InterfaceError a connection Django already knows to be closed.
DATABASE_ERRORS = (OperationalError, InterfaceError)
RETRY_AFTER_SECONDS = 30
API_MESSAGE = (
    "The portal cannot reach its database. Nothing from this request was saved; retry in a minute "
    "(check the emergency list first if you were filing)."
)
_MARK = "_qms_database_unavailable"


def database_unavailable_response(request) -> HttpResponse:
    if request.path.startswith("/api/"):
        from qms.api.problems import problem_response  # DRF loads its settings on import: not at startup

        response = problem_response(request, 503, API_MESSAGE)
    else:
        # No request context: context processors and the signed-in user would query the database.
        response = HttpResponse(render_to_string("503.html"), status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    return response


@receiver(got_request_exception, dispatch_uid="qms.errors.mark_database_error")
def _mark_database_error(sender, request=None, **kwargs) -> None:
    # Sent while the exception is being handled, so sys.exc_info() names it.
    if request is not None and isinstance(sys.exc_info()[1], DATABASE_ERRORS):
        setattr(request, _MARK, True)


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if getattr(request, _MARK, False):
            return database_unavailable_response(request)
        return response

    def process_exception(self, request, exception):
        if isinstance(exception, DATABASE_ERRORS):
            logger.warning("Database unavailable during %s %s: %s", request.method, request.path, exception)
            return database_unavailable_response(request)
        return None


def permission_denied(request, exception):
    """403: the view's own reason on the portal's page (JSON under /api/, as the schema documents)."""
    reason = str(exception or "").strip()
    if request.path.startswith("/api/"):
        from qms.api.problems import problem_response  # DRF loads its settings on import: not at startup

        return problem_response(request, 403, reason or "You do not have permission to perform this action.")
    return defaults.permission_denied(request, exception)


class ExpectedRefusalFilter(logging.Filter):
    """A 403 or 404 is the portal answering as it should: log its one line, not a traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "status_code", None) in (403, 404):
            record.exc_info, record.exc_text = None, None
        return True
