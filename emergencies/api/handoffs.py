"""API of hand-off requests ("waiting for you"): ask a named person, or anyone holding a role, for one step of
a change, and withdraw the request; the same predicate and services as the page (emergencies.views.handoffs)."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.response import Response

from emergencies import selectors
from emergencies.models import HandoffRequest
from emergencies.services.handoffs import can_request_handoff, handoff_request_create, handoff_request_withdraw
from qms.api.concurrency import ETagMixin, precondition_check
from qms.api.problems import _call_service
from qms.models import ApiToken, User

ROLE_CHOICES = [""] + [value for value, _ in HandoffRequest._meta.get_field("role").choices]


class HandoffSerializer(serializers.ModelSerializer):
    change = serializers.CharField(source="change.identifier", read_only=True, default=None, allow_null=True)
    assignee = serializers.CharField(source="assignee.username", read_only=True, default=None, allow_null=True)
    requested_by = serializers.CharField(source="requested_by.username", read_only=True)
    role = serializers.CharField(read_only=True, help_text="The role asked, or empty when a person is named.")

    class Meta:
        model = HandoffRequest
        fields = ["id", "kind", "change", "subject_label", "assignee", "role", "note", "requested_by"]
        fields += ["requested_at", "status", "closed_at", "close_note"]
        read_only_fields = fields


class HandoffInput(serializers.Serializer):
    kind = serializers.ChoiceField(choices=HandoffRequest.Kind.values)
    assignee = serializers.SlugRelatedField(
        slug_field="username", queryset=User.objects.filter(is_active=True), required=False, allow_null=True
    )
    role = serializers.ChoiceField(choices=ROLE_CHOICES, required=False, default="")
    note = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="")


class HandoffWithdrawInput(serializers.Serializer):
    reason = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


class Handoffs(generics.GenericAPIView):
    """Ask the next person (or anyone in a role) for a step of the change; they are notified."""

    serializer_class = HandoffInput
    token_scopes = {"POST": ApiToken.Scope.INTEGRATIONS}

    @extend_schema(
        request=HandoffInput,
        responses={201: HandoffSerializer},
        examples=[OpenApiExample("Ask", value={"kind": "hotfix_review", "role": "oncall"}, request_only=True)],
    )
    def post(self, request, identifier):
        change = selectors.change_get_for_user(identifier=identifier, user=request.user)
        if not can_request_handoff(request.user, change):
            raise PermissionDenied("Your roles do not allow asking for steps on this change.")
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        assignee = data.validated_data.get("assignee")
        candidates = selectors.handoff_candidates(change=change, exclude=request.user)
        if assignee is not None and not candidates.filter(pk=assignee.pk).exists():
            raise ValidationError({"assignee": ["This person cannot be asked for a step of this change."]})
        handoff = _call_service(
            handoff_request_create,
            change_id=change.pk,
            kind=data.validated_data["kind"],
            assignee=assignee,
            role=data.validated_data["role"],
            note=data.validated_data["note"],
            actor=request.user,
        )
        return Response(HandoffSerializer(handoff).data, status=status.HTTP_201_CREATED)


class HandoffWithdrawal(ETagMixin, generics.GenericAPIView):
    """Withdraw a request you made (or, as QMS coordinator, any)."""

    serializer_class = HandoffWithdrawInput
    token_scopes = {"POST": ApiToken.Scope.INTEGRATIONS}

    @extend_schema(
        request=HandoffWithdrawInput,
        responses={200: HandoffSerializer},
        examples=[OpenApiExample("Withdraw", value={"reason": "Done by someone else"}, request_only=True)],
    )
    def post(self, request, pk):
        handoff = get_object_or_404(HandoffRequest.objects.select_related("change"), pk=pk)
        if handoff.change is not None:
            selectors.change_get_for_user(identifier=handoff.change.identifier, user=request.user)
        elif handoff.requested_by_id != request.user.pk:
            raise PermissionDenied("Only the person who asked withdraws a request.")
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        precondition_check(request, lambda: HandoffSerializer(handoff).data)
        _call_service(
            handoff_request_withdraw, request_id=handoff.pk, actor=request.user, reason=data.validated_data["reason"]
        )
        return Response(HandoffSerializer(HandoffRequest.objects.get(pk=pk)).data)
