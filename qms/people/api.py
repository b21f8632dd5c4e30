"""API of the people sub-domain: record and import training, delegate a signing role and end a delegation;
the same services as the pages (qms.people.views)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.response import Response

from qms.limits import COMMENT_MAX, LINE_MAX
from qms.models import ApiToken, Delegation, TrainingRecord, User
from qms.roles import Role
from qms.services.delegation import delegation_create, delegation_revoke
from qms.services.training import (
    CSV_MAX_BYTES,
    TrainingInput,
    can_record_training,
    training_record_create,
    training_records_import,
)


def _call(fn, **kwargs):
    try:
        return fn(**kwargs)
    except DjangoValidationError as exc:
        raise ValidationError(exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}) from exc
    except DjangoPermissionDenied as exc:
        raise PermissionDenied(str(exc)) from exc


def _check_recorder(user) -> None:
    if not can_record_training(user):
        raise PermissionDenied("Only a QMS coordinator records training.")


class TrainingRecordSerializer(serializers.ModelSerializer):
    user = serializers.CharField(source="user.username", read_only=True)
    recorded_by = serializers.CharField(source="recorded_by.username", read_only=True)

    class Meta:
        model = TrainingRecord
        fields = ["id", "user", "course", "completed_on", "expires_on", "evidence_reference", "evidence_sha256"]
        fields += ["note", "source", "recorded_by", "recorded_at"]
        read_only_fields = fields


class TrainingRecordInput(serializers.Serializer):
    user = serializers.SlugRelatedField(slug_field="username", queryset=User.objects.all())
    course = serializers.CharField(max_length=64)
    completed_on = serializers.DateField()
    expires_on = serializers.DateField(required=False, allow_null=True, default=None)
    evidence_reference = serializers.CharField(max_length=LINE_MAX)
    note = serializers.CharField(max_length=COMMENT_MAX, required=False, allow_blank=True, default="")


class TrainingImportInput(serializers.Serializer):
    csv = serializers.CharField(max_length=CSV_MAX_BYTES, help_text="The CSV text, header row first.")


class TrainingImportResult(serializers.Serializer):
    imported = serializers.IntegerField()


class TrainingRecords(generics.GenericAPIView):
    """Record one completed course of a person (QMS coordinators; never your own)."""

    serializer_class = TrainingRecordInput
    token_scopes = {"POST": ApiToken.Scope.INTEGRATIONS}

    @extend_schema(
        request=TrainingRecordInput,
        responses={201: TrainingRecordSerializer},
        examples=[
            OpenApiExample(
                "Record",
                value={
                    "user": "commander",
                    "course": "tabletop_exercise",
                    "completed_on": "2026-11-30",
                    "evidence_reference": "TTX-2026-11",
                },
                request_only=True,
            )
        ],
    )
    def post(self, request):
        _check_recorder(request.user)
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        record = _call(training_record_create, data=TrainingInput(**data.validated_data), actor=request.user)
        return Response(TrainingRecordSerializer(record).data, status=status.HTTP_201_CREATED)


class TrainingImport(generics.GenericAPIView):
    """Import training records from CSV: every row checked first, nothing imported if any row is bad."""

    serializer_class = TrainingImportInput
    token_scopes = {"POST": ApiToken.Scope.INTEGRATIONS}

    @extend_schema(
        request=TrainingImportInput,
        responses={201: TrainingImportResult},
        examples=[
            OpenApiExample(
                "Import",
                value={
                    "csv": "username,course,completed_on,expires_on,evidence_reference\n"
                    "commander,incident_response_protocols,2026-11-30,,LMS-4411\n"
                },
                request_only=True,
            )
        ],
    )
    def post(self, request):
        _check_recorder(request.user)
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        created = _call(training_records_import, text=data.validated_data["csv"], actor=request.user)
        return Response({"imported": len(created)}, status=status.HTTP_201_CREATED)


class DelegationSerializer(serializers.ModelSerializer):
    delegator = serializers.CharField(source="delegator.username", read_only=True)
    delegate = serializers.CharField(source="delegate.username", read_only=True)

    class Meta:
        model = Delegation
        fields = ["id", "delegator", "delegate", "role", "starts_at", "ends_at", "reason", "created_at"]
        fields += ["revoked_at", "revoke_reason"]
        read_only_fields = fields


class DelegationInput(serializers.Serializer):
    delegate = serializers.SlugRelatedField(slug_field="username", queryset=User.objects.filter(is_active=True))
    role = serializers.ChoiceField(choices=[r.value for r in Role])
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    reason = serializers.CharField(max_length=COMMENT_MAX)


class DelegationRevokeInput(serializers.Serializer):
    reason = serializers.CharField(max_length=COMMENT_MAX)


class Delegations(generics.GenericAPIView):
    """Delegate one of your signing roles to a qualified colleague for a period (a token with the sign scope)."""

    serializer_class = DelegationInput
    token_scopes = {"POST": ApiToken.Scope.SIGN}

    @extend_schema(
        request=DelegationInput,
        responses={201: DelegationSerializer},
        examples=[
            OpenApiExample(
                "Delegate while on leave",
                value={
                    "delegate": "architect",
                    "role": "lead",
                    "starts_at": "2026-12-14T08:00:00Z",
                    "ends_at": "2026-12-28T18:00:00Z",
                    "reason": "Annual leave; the core architect signs development-lead approvals",
                },
                request_only=True,
            )
        ],
    )
    def post(self, request):
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        delegation = _call(delegation_create, delegator=request.user, actor=request.user, **data.validated_data)
        return Response(DelegationSerializer(delegation).data, status=status.HTTP_201_CREATED)


class DelegationRevocation(generics.GenericAPIView):
    """End a delegation early (its delegator) or decline it (its delegate)."""

    serializer_class = DelegationRevokeInput
    token_scopes = {"POST": ApiToken.Scope.SIGN}

    @extend_schema(
        request=DelegationRevokeInput,
        responses={200: DelegationSerializer},
        examples=[OpenApiExample("Back early", value={"reason": "Back from leave early"}, request_only=True)],
    )
    def post(self, request, pk):
        delegation = get_object_or_404(Delegation, pk=pk)
        if request.user.pk not in (delegation.delegator_id, delegation.delegate_id):
            raise NotFound()
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        revoked = _call(delegation_revoke, delegation_id=pk, actor=request.user, reason=data.validated_data["reason"])
        return Response(DelegationSerializer(revoked).data)
