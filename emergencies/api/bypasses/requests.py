"""The bypass requests in the API: list, request one, detail, each answered with its signatures and the
slots still to sign."""

from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_field, extend_schema_view
from rest_framework import generics, serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from emergencies import permissions, selectors
from emergencies.api import examples as ex
from emergencies.models import BypassRequest
from emergencies.services.bypasses import BypassInput, bypass_request_create, bypass_slot_status, can_request_bypass
from qms.api.concurrency import ETagMixin
from qms.api.fields import gate_code_field
from qms.api.problems import _call_service
from qms.api.signatures import SignatureSerializer
from qms.limits import TEXT_MAX
from qms.models import ApiToken, User
from qms.procedures import GATE_CATALOGUE_MAX


class BypassRequestCreateSerializer(serializers.Serializer):
    repository = serializers.CharField(max_length=200)
    pull_request = serializers.CharField(max_length=200)
    checks = serializers.ListField(
        child=gate_code_field(of="the procedure's current"),
        allow_empty=False,
        max_length=GATE_CATALOGUE_MAX,
        help_text="The failing checks to skip: gate codes of the procedure version in force.",
    )
    production_impact = serializers.ChoiceField(choices=BypassRequest.Impact.values)
    security_involved = serializers.BooleanField(required=False, default=False)
    compliance_involved = serializers.BooleanField(required=False, default=False)
    code_quality_only = serializers.BooleanField(required=False, default=False)
    incident_ticket = serializers.CharField(required=False, allow_blank=True, max_length=40)
    implementer = serializers.SlugRelatedField(
        slug_field="username", queryset=User.objects.filter(is_active=True), required=False, allow_null=True
    )
    reason = serializers.CharField(required=False, allow_blank=True, max_length=TEXT_MAX)
    impact_assessment = serializers.CharField(required=False, allow_blank=True, max_length=TEXT_MAX)
    risk_evaluation = serializers.CharField(required=False, allow_blank=True, max_length=TEXT_MAX)
    complexity_score = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=10)
    test_coverage_impact = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=100)
    integration_risk = serializers.CharField(required=False, allow_blank=True, max_length=TEXT_MAX)
    rollback_feasibility = serializers.ChoiceField(
        choices=BypassRequest.Feasibility.values, required=False, allow_blank=True
    )
    business_factors = serializers.CharField(required=False, allow_blank=True, max_length=TEXT_MAX)
    business_justification = serializers.CharField(required=False, allow_blank=True, max_length=TEXT_MAX)
    stakeholder_notification_plan = serializers.CharField(required=False, allow_blank=True, max_length=TEXT_MAX)
    security_impact_analysis = serializers.CharField(required=False, allow_blank=True, max_length=TEXT_MAX)
    legal_compliance_assessment = serializers.CharField(required=False, allow_blank=True, max_length=TEXT_MAX)
    remediation_roadmap = serializers.CharField(required=False, allow_blank=True, max_length=TEXT_MAX)
    incident_response_plan = serializers.CharField(required=False, allow_blank=True, max_length=TEXT_MAX)
    communication_strategy = serializers.CharField(required=False, allow_blank=True, max_length=TEXT_MAX)
    remediation_plan = serializers.CharField(required=False, allow_blank=True, max_length=TEXT_MAX)
    remediation_due = serializers.DateField(required=False, allow_null=True)
    tracking_issue = serializers.CharField(required=False, allow_blank=True, max_length=300)
    success_criteria = serializers.CharField(required=False, allow_blank=True, max_length=TEXT_MAX)

    TOP_LEVEL = (
        "repository",
        "pull_request",
        "checks",
        "production_impact",
        "security_involved",
        "compliance_involved",
        "code_quality_only",
        "incident_ticket",
        "implementer",
    )

    def to_input(self) -> BypassInput:
        data = dict(self.validated_data)
        top = {k: data.pop(k) for k in self.TOP_LEVEL if k in data}
        details = {k: v for k, v in data.items() if v not in (None, "")}
        return BypassInput(**top, details=details)


class SlotSerializer(serializers.Serializer):
    roles = serializers.ListField(child=serializers.CharField())
    signed_by = serializers.CharField(allow_null=True)


class BypassRequestSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="identifier", read_only=True)
    requested_by = serializers.CharField(source="requested_by.username", read_only=True)
    change = serializers.CharField(source="change.identifier", read_only=True, default=None, allow_null=True)
    signatures = serializers.SerializerMethodField()
    slots = serializers.SerializerMethodField()

    class Meta:
        model = BypassRequest
        fields = [
            "id",
            "level",
            "status",
            "decision_branch",
            "repository",
            "pull_request",
            "checks",
            "requested_by",
            "requested_at",
            "change",
            "decided_at",
            "rejection_reason",
            "remediation_due",
            "slots",
            "signatures",
        ]
        read_only_fields = fields

    def _signatures(self, obj):
        cache = self.context.setdefault("signatures", {})
        return cache.get(obj.pk, [])

    @extend_schema_field(SignatureSerializer(many=True))
    def get_signatures(self, obj):
        return SignatureSerializer(self._signatures(obj), many=True).data

    @extend_schema_field(SlotSerializer(many=True))
    def get_slots(self, obj):
        slots = bypass_slot_status(obj, self._signatures(obj))
        return [
            {"roles": [r.value for r in s.roles], "signed_by": s.signature.signer.username if s.filled else None}
            for s in slots
        ]


def _with_signatures(serializer_class, objects, many=False):
    items = objects if many else [objects]
    context = {"signatures": selectors.signatures_by_subject(list(items))}
    return serializer_class(objects, many=many, context=context).data


@extend_schema_view(get=extend_schema(examples=ex.response("A bypass request", ex.BYPASS)))
class BypassListCreate(generics.ListCreateAPIView):
    """List bypass requests, or request one (the level comes from the decision tree)."""

    serializer_class = BypassRequestSerializer
    token_scopes = {"POST": ApiToken.Scope.FILE_STUBS}
    orderings = {"requested_at": ("requested_at", "pk"), "-requested_at": ("-requested_at", "-pk")}
    default_ordering = "-requested_at"

    def get_queryset(self):
        if not permissions.can_view_changes(self.request.user):
            raise PermissionDenied("You hold no role in the portal.")
        return selectors.bypass_list(user=self.request.user, status=self.request.query_params.get("status", ""))

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(_with_signatures(BypassRequestSerializer, page, many=True))

    @extend_schema(
        request=BypassRequestCreateSerializer,
        responses={201: BypassRequestSerializer},
        examples=[
            OpenApiExample(
                "Request a bypass",
                value={
                    "repository": "shop/checkout",
                    "pull_request": "#812",
                    "checks": ["code_quality_minor"],
                    "production_impact": "high",
                },
                request_only=True,
            )
        ],
    )
    def post(self, request, *args, **kwargs):
        if not can_request_bypass(request.user):
            raise PermissionDenied("Your roles do not allow requesting bypasses.")
        serializer = BypassRequestCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        bypass = _call_service(bypass_request_create, data=serializer.to_input(), actor=request.user)
        return Response(_with_signatures(BypassRequestSerializer, bypass), status=status.HTTP_201_CREATED)


@extend_schema_view(get=extend_schema(examples=ex.response("A bypass request", ex.BYPASS)))
class BypassDetail(ETagMixin, generics.RetrieveAPIView):
    serializer_class = BypassRequestSerializer

    def get_object(self):
        return selectors.bypass_get_for_user(identifier=self.kwargs["identifier"], user=self.request.user)

    def retrieve(self, request, *args, **kwargs):
        return Response(_with_signatures(BypassRequestSerializer, self.get_object()))
