from django.core.exceptions import PermissionDenied

from audits.context import current_ip


def client_ip(request) -> str:
    return request.META.get("REMOTE_ADDR", "")


class AuditContextMiddleware:
    """Remember the client address for the audit events this request writes; record refusals."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = current_ip.set(client_ip(request))
        try:
            response = self.get_response(request)
            if (
                response.status_code == 403
                and getattr(request, "user", None) is not None
                and request.user.is_authenticated
                and not getattr(request, "_refusal_recorded", False)
            ):
                self._record_refusal(request, "")
            return response
        finally:
            current_ip.reset(token)

    def process_exception(self, request, exception):
        if isinstance(exception, PermissionDenied):
            self._record_refusal(request, str(exception))
            request._refusal_recorded = True
        return None

    @staticmethod
    def _record_refusal(request, reason: str) -> None:
        from audits.services import audit_event_record

        user = request.user if request.user.is_authenticated else None
        audit_event_record(
            action="permission.refused",
            actor=user,
            reason=reason or "Access refused",
            after={"method": request.method, "path": request.path[:300]},
        )
