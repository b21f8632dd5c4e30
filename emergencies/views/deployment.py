"""The deployment gate's endpoint: ``GET /api/v1/gates/deployment``, opened by a repository's gate token
(``Authorization: Bearer qmsgate_…``) and by nothing else — no session, no API token."""

from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import authentication, exceptions, serializers
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from emergencies.api import examples as ex
from emergencies.services import deployment


def _answer(**kwargs):
    try:
        return deployment.deployment_gate_evaluate(**kwargs)
    except DjangoValidationError as exc:
        raise exceptions.ValidationError(exc.message_dict) from exc
    except DjangoPermissionDenied as exc:
        raise exceptions.PermissionDenied(str(exc)) from exc


class GateTokenAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer qmsgate_…``: the token of one repository; it signs nobody in."""

    def authenticate(self, request):
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return None
        token = deployment.deployment_gate_token_authenticate(header.removeprefix("Bearer ").strip())
        if token is None:
            raise exceptions.AuthenticationFailed("Unknown or revoked deployment gate token.")
        return AnonymousUser(), token

    def authenticate_header(self, request):
        return 'Bearer realm="deployment-gate"'


class GateTokenScheme(OpenApiAuthenticationExtension):
    target_class = GateTokenAuthentication
    name = "deploymentGateToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "A repository's deployment gate token."}


class HasGateToken(BasePermission):
    def has_permission(self, request, view):
        return isinstance(request.auth, deployment.DeploymentGateToken)


class GateAnswerSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(choices=["allowed", "prevented", "pending"])
    repository = serializers.CharField()
    sha = serializers.CharField()
    environment = serializers.CharField()
    reasons = serializers.ListField(child=serializers.CharField())
    bypass = serializers.JSONField(allow_null=True)
    change = serializers.JSONField(allow_null=True)


@extend_schema_view(get=extend_schema(examples=ex.response("A deployment allowed", ex.GATE_ANSWER)))
class DeploymentGate(APIView):
    """May this commit be deployed? ``allowed``, ``prevented`` or ``pending``, with the reasons."""

    authentication_classes = [GateTokenAuthentication]
    permission_classes = [HasGateToken]

    @extend_schema(
        parameters=[
            OpenApiParameter("repository", str, required=True, description="owner/name"),
            OpenApiParameter("sha", str, required=True, description="the full commit SHA"),
            OpenApiParameter("environment", str, required=True, description="e.g. production"),
        ],
        responses={
            200: GateAnswerSerializer,
            400: OpenApiResponse(description="A missing or malformed parameter"),
            401: OpenApiResponse(description="No or an unknown gate token"),
            403: OpenApiResponse(description="The token is for another repository"),
        },
    )
    def get(self, request):
        answer = _answer(
            token=request.auth,
            repository=request.query_params.get("repository", "")[:200],
            sha=request.query_params.get("sha", "")[:100],
            environment=request.query_params.get("environment", "")[:100],
        )
        return Response(GateAnswerSerializer(answer).data)
