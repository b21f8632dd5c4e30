"""API writes on a bypass request, each calling the same service as its page (emergencies.views.bypasses):
signing and rejecting it, a recorded verbal or written approval, its confirmation by the approver's signature,
withdrawal and remediation. Each answers the bypass as ``GET /bypasses/{id}/`` does (with its ETag) and
honours If-Match."""

from __future__ import annotations

from datetime import UTC

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from emergencies import permissions, selectors
from emergencies.api.bypasses.requests import BypassRequestSerializer, _with_signatures
from emergencies.services import bypasses as services
from emergencies.services.bypasses import bypass_reject, bypass_sign
from qms.api.concurrency import ETagMixin, precondition_check
from qms.api.fields import gate_code_field
from qms.api.problems import _call_service
from qms.api.signatures import SignInputSerializer
from qms.limits import COMMENT_MAX
from qms.models import ApiToken, Signature, User
from qms.roles import Role
from qms.security import signing_auth


class VerbalApprovalInput(serializers.Serializer):
    approver = serializers.SlugRelatedField(
        slug_field="username",
        queryset=User.objects.filter(is_active=True),
        help_text="Username of the person who gave the approval.",
    )
    role = serializers.ChoiceField(choices=[r.value for r in Role], help_text="The role they approved in.")
    method = serializers.ChoiceField(choices=[Signature.Method.VERBAL, Signature.Method.WRITTEN], default="verbal")
    approved_at = serializers.DateTimeField(help_text="When the approval was given (not before the request).")
    comment = serializers.CharField(max_length=COMMENT_MAX, help_text="How and why the approval was given.")
    password = serializers.CharField(
        write_only=True, max_length=128, style={"input_type": "password"}, help_text="Yours: you sign as the recorder."
    )


class PasswordInput(serializers.Serializer):
    password = serializers.CharField(write_only=True, max_length=128)


class WithdrawInput(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)


class RemediationInput(serializers.Serializer):
    gate = gate_code_field(help_text="A check the bypass skipped: a gate code of the bypass's procedure version.")
    evidence = serializers.CharField(max_length=4000)


class BypassAction(ETagMixin, generics.GenericAPIView):
    token_scopes = {"POST": ApiToken.Scope.INTEGRATIONS}
    success_status = status.HTTP_200_OK

    def perform(self, request, bypass, data, **kwargs) -> None:
        raise NotImplementedError

    def refusal(self, request, bypass) -> str:
        """Why this user may not take this action at all, before their input is read ("" when they may)."""
        return ""

    def act(self, request, identifier, **kwargs):
        bypass = selectors.bypass_get_for_user(identifier=identifier, user=request.user)
        refusal = self.refusal(request, bypass)
        if refusal:
            raise PermissionDenied(refusal)
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        precondition_check(request, lambda: _with_signatures(BypassRequestSerializer, bypass))
        _call_service(self.perform, request=request, bypass=bypass, data=data.validated_data, **kwargs)
        bypass = selectors.bypass_get_for_user(identifier=identifier, user=request.user)
        return Response(_with_signatures(BypassRequestSerializer, bypass), status=self.success_status)


def _post(input_serializer, summary: str, example: dict | None = None):
    return extend_schema(
        request=input_serializer,
        responses={200: BypassRequestSerializer, 201: BypassRequestSerializer},
        summary=summary,
        examples=[OpenApiExample(summary, value=example, request_only=True)] if example else None,
    )


class VerbalApprovals(BypassAction):
    """Record an approval given by voice or in writing during an emergency (signed with your password); the
    approver owes a confirming signature."""

    serializer_class = VerbalApprovalInput
    token_scopes = {"POST": ApiToken.Scope.SIGN}
    success_status = status.HTTP_201_CREATED

    @_post(
        VerbalApprovalInput,
        "Verbal approval",
        {
            "approver": "commander",
            "role": "commander",
            "method": "verbal",
            "approved_at": "2026-12-01T03:10:00Z",
            "comment": "Approved by phone on the bridge",
            "password": "…",
        },
    )
    def post(self, request, identifier):
        return self.act(request, identifier)

    def refusal(self, request, bypass) -> str:
        return permissions.approval_recording_refusal(bypass, request.user) or ""

    def perform(self, request, bypass, data):
        services.bypass_verbal_approval_record(
            bypass_id=bypass.pk,
            approver=data["approver"],
            role=Role(data["role"]),
            approved_at=data["approved_at"].astimezone(UTC),
            recorded_by=request.user,
            password=data["password"],
            comment=data["comment"],
            method=data["method"],
            auth=signing_auth(request),
        )


class SignatureConfirmation(BypassAction):
    """Confirm, with your own signature, an approval someone recorded for you."""

    serializer_class = PasswordInput
    token_scopes = {"POST": ApiToken.Scope.SIGN}

    @_post(PasswordInput, "Confirm a recorded approval", {"password": "…"})
    def post(self, request, identifier, signature_id):
        return self.act(request, identifier, signature_id=signature_id)

    def perform(self, request, bypass, data, signature_id):
        signature = get_object_or_404(Signature, pk=signature_id, subject_id=bypass.pk)
        services.signature_confirm(
            signature_id=signature.pk, signer=request.user, password=data["password"], auth=signing_auth(request)
        )


class Withdrawal(BypassAction):
    """Withdraw your request."""

    serializer_class = WithdrawInput

    @_post(WithdrawInput, "Withdraw", {"reason": "Fixed the failing check instead"})
    def post(self, request, identifier):
        return self.act(request, identifier)

    def perform(self, request, bypass, data):
        services.bypass_withdraw(bypass_id=bypass.pk, actor=request.user, reason=data["reason"])


class Remediations(BypassAction):
    """Record the evidence that a skipped check passes again (a validator other than the requester)."""

    serializer_class = RemediationInput
    success_status = status.HTTP_201_CREATED

    @_post(RemediationInput, "Remediation", {"gate": "code_quality_minor", "evidence": "Sonar run 4411 green"})
    def post(self, request, identifier):
        return self.act(request, identifier)

    def perform(self, request, bypass, data):
        services.bypass_remediation_record(
            bypass_id=bypass.pk, gate=data["gate"], evidence=data["evidence"], actor=request.user
        )


class RejectInputSerializer(SignInputSerializer):
    reason = serializers.CharField(max_length=COMMENT_MAX)


class BypassSign(ETagMixin, generics.GenericAPIView):
    """Approve with an electronic signature: the signer's password again, and the role signed in."""

    serializer_class = SignInputSerializer
    token_scopes = {"POST": ApiToken.Scope.SIGN}

    @extend_schema(
        request=SignInputSerializer,
        responses={200: BypassRequestSerializer},
        examples=[
            OpenApiExample(
                "Sign", value={"role": "lead", "password": "…", "comment": "Reviewed the diff"}, request_only=True
            )
        ],
    )
    def post(self, request, identifier):
        bypass = selectors.bypass_get_for_user(identifier=identifier, user=request.user)
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        precondition_check(request, lambda: _with_signatures(BypassRequestSerializer, bypass))
        bypass = _call_service(
            bypass_sign,
            bypass_id=bypass.pk,
            signer=request.user,
            password=data.validated_data["password"],
            role=Role(data.validated_data["role"]),
            comment=data.validated_data["comment"],
            auth=signing_auth(request),
        )
        return Response(_with_signatures(BypassRequestSerializer, bypass))


class BypassReject(ETagMixin, generics.GenericAPIView):
    """Reject with a signed reason; the request ends."""

    serializer_class = RejectInputSerializer
    token_scopes = {"POST": ApiToken.Scope.SIGN}

    @extend_schema(
        request=RejectInputSerializer,
        responses={200: BypassRequestSerializer},
        examples=[
            OpenApiExample(
                "Reject", value={"role": "lead", "password": "…", "reason": "No rollback plan"}, request_only=True
            )
        ],
    )
    def post(self, request, identifier):
        bypass = selectors.bypass_get_for_user(identifier=identifier, user=request.user)
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        precondition_check(request, lambda: _with_signatures(BypassRequestSerializer, bypass))
        bypass = _call_service(
            bypass_reject,
            bypass_id=bypass.pk,
            signer=request.user,
            password=data.validated_data["password"],
            role=Role(data.validated_data["role"]),
            reason=data.validated_data["reason"],
            auth=signing_auth(request),
        )
        return Response(_with_signatures(BypassRequestSerializer, bypass))
