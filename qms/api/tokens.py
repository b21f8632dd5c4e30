"""The anonymous exchange of a username and password for a scoped API token, and the token scheme in the
OpenAPI schema."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth import authenticate
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import exceptions, permissions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from qms.models import ApiToken
from qms.services.tokens import api_token_create


class ScopedTokenScheme(OpenApiAuthenticationExtension):
    target_class = "qms.api.authentication.ScopedTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Token qms_…` (or `Bearer qms_…`): a scoped token from your preferences page.",
        }


class TokenObtainInput(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=128, style={"input_type": "password"}, write_only=True)
    name = serializers.CharField(max_length=100, required=False, default="API token")
    scopes = serializers.ListField(
        child=serializers.ChoiceField(choices=ApiToken.Scope.values),
        required=False,
        allow_empty=False,
        max_length=len(ApiToken.Scope.values),
        help_text="Default: read, file_stubs and sign.",
    )
    expires_in_days = serializers.IntegerField(required=False, min_value=1, max_value=366, default=30)


class TokenObtainOutput(serializers.Serializer):
    token = serializers.CharField(help_text="The secret, shown once.")
    id = serializers.IntegerField()
    name = serializers.CharField()
    scopes = serializers.ListField(child=serializers.CharField())
    expires_at = serializers.DateTimeField()
    second_factor_verified = serializers.BooleanField()


DEFAULT_PASSWORD_SCOPES = [ApiToken.Scope.READ, ApiToken.Scope.FILE_STUBS, ApiToken.Scope.SIGN]


class TokenObtain(APIView):
    """Exchange a username and password for a scoped token (no second factor: the token cannot sign where
    the second factor is required; create such a token from a verified session in your preferences)."""

    authentication_classes: list = []
    permission_classes = [permissions.AllowAny]
    throttle_scope = "anon"

    @extend_schema(
        request=TokenObtainInput,
        responses={200: TokenObtainOutput},
        auth=[],
        examples=[
            OpenApiExample(
                "Scoped token for a runbook", value={"username": "oncall", "password": "…", "scopes": ["read"]}
            )
        ],
    )
    def post(self, request):
        data = TokenObtainInput(data=request.data)
        data.is_valid(raise_exception=True)
        # The DRF request, as DRF's own token view passes it: a locked-out username answers this problem
        # (django-axes marks the DRF request, not the page's, so no HTML lockout page replaces it).
        user = authenticate(request, username=data.validated_data["username"], password=data.validated_data["password"])
        if user is None or not user.is_active:
            raise exceptions.ValidationError({"non_field_errors": ["Unable to log in with the credentials given."]})
        token, raw = api_token_create(
            user=user,
            name=data.validated_data["name"],
            scopes=data.validated_data.get("scopes") or list(DEFAULT_PASSWORD_SCOPES),
            expires_at=timezone.now() + timedelta(days=data.validated_data["expires_in_days"]),
            second_factor_verified=False,
            created_via=ApiToken.CreatedVia.PASSWORD,
        )
        return Response(
            {
                "token": raw,
                "id": token.pk,
                "name": token.name,
                "scopes": token.scopes,
                "expires_at": token.expires_at,
                "second_factor_verified": token.second_factor_verified,
            }
        )
