"""REST API for emergencies: thin over the same services and selectors as the pages. The emergency changes:
list, file a stub, detail."""

from decimal import Decimal

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view
from rest_framework import generics, serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from emergencies import permissions, selectors, services
from emergencies.api import examples as ex
from emergencies.models import INCIDENT_TICKET_VALIDATOR, ChangeRecord
from qms.api.concurrency import ETagMixin
from qms.api.problems import _raise_as_api_error
from qms.limits import LINE_MAX, TEXT_MAX, TITLE_MAX
from qms.models import ApiToken, User
from qms.procedures import CATEGORY_CHOICES


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
