"""REST API for emergencies: thin over the same services and selectors as the pages."""

from decimal import Decimal

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_field, extend_schema_view
from rest_framework import generics, serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from emergencies import permissions, selectors, services
from emergencies.api import examples as ex
from emergencies.models import INCIDENT_TICKET_VALIDATOR, BypassRequest, ChangeRecord
from emergencies.services.bypasses import (
    BypassInput,
    bypass_reject,
    bypass_request_create,
    bypass_sign,
    bypass_slot_status,
    can_request_bypass,
)
from qms.api.concurrency import ETagMixin, precondition_check
from qms.api.problems import _call_service, _raise_as_api_error
from qms.api.signatures import SignatureSerializer, SignInputSerializer
from qms.limits import COMMENT_MAX, LINE_MAX, TEXT_MAX, TITLE_MAX
from qms.models import ApiToken, User
from qms.procedures import CATEGORY_CHOICES, CHECK_CATALOGUE
from qms.roles import Role
from qms.security import signing_auth


class EmergencyStubCreateSerializer(serializers.Serializer):
    # StubInput's names for the fields this serializer names otherwise (errors go back under the API's name).
    SERVICE_FIELDS = {"procedure_code": "procedure"}

    title = serializers.CharField(max_length=TITLE_MAX)
    category = serializers.ChoiceField(choices=[c for c, _ in CATEGORY_CHOICES])
    problem_statement = serializers.CharField(max_length=TEXT_MAX)
    incident_ticket = serializers.CharField(
        required=False, allow_blank=True, max_length=40, validators=[INCIDENT_TICKET_VALIDATOR]
    )
    cvss_score = serializers.DecimalField(
        max_digits=3,
        decimal_places=1,
        required=False,
        allow_null=True,
        min_value=Decimal("0.0"),
        max_value=Decimal("10.0"),
    )
    security_involved = serializers.BooleanField(required=False, default=False)
    compliance_involved = serializers.BooleanField(required=False, default=False)
    safety_related = serializers.BooleanField(required=False, default=False)
    commander = serializers.SlugRelatedField(
        slug_field="username",
        queryset=User.objects.filter(is_active=True),
        required=False,
        allow_null=True,
        help_text="Username of the incident commander.",
    )
    procedure = serializers.SlugField(
        required=False, max_length=LINE_MAX, help_text="Procedure code; the default workflow if omitted."
    )

    def to_input(self) -> services.StubInput:
        data = dict(self.validated_data)
        procedure = data.pop("procedure", None)
        return services.StubInput(**data, **({"procedure_code": procedure} if procedure else {}))


class ChangeRecordSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="identifier", read_only=True)
    status_display = serializers.CharField(source="get_status_display", read_only=True)
    # null when the change has no incident (or no score): allow_null puts that in the OpenAPI schema.
    incident_ticket = serializers.CharField(source="incident.ticket", read_only=True, default=None, allow_null=True)
    category = serializers.CharField(source="incident.category", read_only=True, default=None, allow_null=True)
    severity = serializers.CharField(source="incident.severity", read_only=True, default=None, allow_null=True)
    cvss_score = serializers.DecimalField(
        source="incident.cvss_score", max_digits=3, decimal_places=1, read_only=True, default=None, allow_null=True
    )
    author = serializers.CharField(source="author.username", read_only=True)
    procedure = serializers.CharField(source="procedure_version.procedure.code", read_only=True)
    procedure_version = serializers.IntegerField(source="procedure_version.version", read_only=True)
    url = serializers.SerializerMethodField()

    class Meta:
        model = ChangeRecord
        fields = [
            "id",
            "title",
            "status",
            "status_display",
            "level",
            "source",
            "incident_ticket",
            "category",
            "severity",
            "cvss_score",
            "author",
            "procedure",
            "procedure_version",
            "problem_statement",
            "declared_at",
            "bypass_authorised_at",
            "deployed_at",
            "closed_at",
            "url",
        ]
        read_only_fields = fields

    def get_url(self, obj) -> str:
        return obj.get_absolute_url()


@extend_schema_view(get=extend_schema(examples=ex.response("An emergency change", ex.CHANGE)))
class EmergencyListCreate(generics.ListCreateAPIView):
    """List emergency changes, or file an emergency stub."""

    serializer_class = ChangeRecordSerializer
    token_scopes = {"POST": ApiToken.Scope.FILE_STUBS}
    orderings = {"declared_at": ("declared_at", "pk"), "-declared_at": ("-declared_at", "-pk")}
    default_ordering = "-declared_at"

    def get_queryset(self):
        if not permissions.can_view_changes(self.request.user):
            raise PermissionDenied("You hold no role in the portal.")
        return selectors.change_list(user=self.request.user, status=self.request.query_params.get("status", ""))

    @extend_schema(
        request=EmergencyStubCreateSerializer,
        responses={201: ChangeRecordSerializer},
        examples=[
            OpenApiExample(
                "File a stub",
                value={"title": "Checkout down", "category": "p1_incident", "problem_statement": "All orders fail."},
                request_only=True,
            )
        ],
    )
    def post(self, request, *args, **kwargs):
        if not permissions.can_file_emergency(request.user):
            raise PermissionDenied("Your roles do not allow filing emergency changes.")
        serializer = EmergencyStubCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            change = services.emergency_stub_file(data=serializer.to_input(), actor=request.user)
        except DjangoValidationError as exc:
            _raise_as_api_error(exc, EmergencyStubCreateSerializer.SERVICE_FIELDS)
        except DjangoPermissionDenied as exc:
            raise PermissionDenied(str(exc)) from exc
        change = selectors.change_get_for_user(identifier=change.identifier, user=request.user)
        return Response(ChangeRecordSerializer(change).data, status=status.HTTP_201_CREATED)


@extend_schema_view(get=extend_schema(examples=ex.response("An emergency change", ex.CHANGE)))
class EmergencyDetail(ETagMixin, generics.RetrieveAPIView):
    serializer_class = ChangeRecordSerializer

    def get_object(self):
        return selectors.change_get_for_user(identifier=self.kwargs["identifier"], user=self.request.user)


# --- bypass requests ----------------------------------------------------------------------------------


class BypassRequestCreateSerializer(serializers.Serializer):
    repository = serializers.CharField(max_length=200)
    pull_request = serializers.CharField(max_length=200)
    checks = serializers.ListField(child=serializers.ChoiceField(choices=list(CHECK_CATALOGUE)), allow_empty=False)
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


class RejectInputSerializer(SignInputSerializer):
    reason = serializers.CharField(max_length=COMMENT_MAX)


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
                    "checks": ["unit_tests"],
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
