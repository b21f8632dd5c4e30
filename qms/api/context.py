"""The API token a request is authenticated with, for the audit events the request writes (set by
``qms.api.authentication``, reset after every request by ``qms.api.idempotency.ApiRequestMiddleware``)."""

from contextvars import ContextVar

# {"id": …, "name": …} of the ApiToken in use, or None
current_api_token: ContextVar[dict | None] = ContextVar("current_api_token", default=None)
