"""API of the people's signing state, calling the same service as its page (qms.views): a security officer
reads a user's signing lock and lifts it, with a reason."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view
from rest_framework import generics, serializers
from rest_framework.response import Response

from qms.api import examples as ex
from qms.api.concurrency import ETagMixin, precondition_check
from qms.api.problems import _call_service
from qms.models import ApiToken, SignerState, User
from qms.roles import Role
from qms.services import signer_unlock


class SigningStateSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    consecutive_failures = serializers.IntegerField()
    locked_at = serializers.DateTimeField(allow_null=True)


class UnlockInput(serializers.Serializer):
    reason = serializers.CharField(max_length=1000, help_text="How the user's identity was checked.")


def _user(request, user_id: int) -> User:
    user = User.objects.filter(pk=user_id).first()
    if user is None or not (request.user.pk == user.pk or request.user.has_role(Role.SECURITY)):
        raise Http404("No such user.")
    return user


def _state(user: User) -> dict:
    state = SignerState.objects.filter(user=user).first()
    return SigningStateSerializer(
        {
            "id": user.pk,
            "username": user.username,
            "consecutive_failures": state.consecutive_failures if state else 0,
            "locked_at": state.locked_at if state else None,
        }
    ).data


@extend_schema_view(get=extend_schema(examples=ex.response("A signer's signing state", ex.SIGNING_STATE)))
class SigningState(ETagMixin, generics.GenericAPIView):
    """A user's signing state (yourself, or anyone for a security officer)."""

    serializer_class = SigningStateSerializer

    def get(self, request, user_id):
        return Response(_state(_user(request, user_id)))


class SigningUnlock(ETagMixin, generics.GenericAPIView):
    """Lift a user's signing lock (security officers), saying why; the user is told."""

    serializer_class = UnlockInput
    token_scopes = {"POST": ApiToken.Scope.INTEGRATIONS}

    @extend_schema(
        request=UnlockInput,
        responses={200: SigningStateSerializer},
        summary="Unlock signing",
        examples=[
            OpenApiExample("Unlock signing", value={"reason": "Identity checked by video call"}, request_only=True)
        ],
    )
    def post(self, request, user_id):
        user = _user(request, user_id)
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        precondition_check(request, lambda: _state(user))
        _call_service(signer_unlock, user=user, actor=request.user, reason=data.validated_data["reason"])
        return Response(_state(user))
