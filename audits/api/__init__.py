"""API of oversight, each write calling the same service as its page: compliance reports (listed with a
cursor, read, generated; audits.reports.views) and meeting an obligation (audits.views): the preventive
change a repeat-bypass pattern asks for, or a post-incident / post-deployment action done with evidence."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view
from rest_framework import generics, serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from audits import services
from audits.clocks import EVIDENCE_KINDS
from audits.models import ComplianceReport, Obligation
from audits.reports import selectors as report_selectors
from audits.reports import services as report_services
from audits.reports.periods import KINDS
from audits.selectors import can_oversee
from emergencies.api import examples as ex
from emergencies.permissions import can_view_changes
from qms.api.concurrency import ETagMixin, precondition_check
from qms.api.pagination import ListPagination
from qms.api.problems import _call_service
from qms.limits import TEXT_MAX, TITLE_MAX
from qms.models import ApiToken


class ReportSerializer(serializers.ModelSerializer):
    generated_by = serializers.CharField(source="generated_by.username", read_only=True, default=None, allow_null=True)
    procedure = serializers.CharField(source="procedure.code", read_only=True, default=None, allow_null=True)
    procedure_version = serializers.IntegerField(
        source="procedure_version.version", read_only=True, default=None, allow_null=True
    )
    url = serializers.SerializerMethodField()

    class Meta:
        model = ComplianceReport
        fields = [
            "id",
            "kind",
            "period_start",
            "period_end",
            "procedure",
            "procedure_version",
            "generated_at",
            "generated_by",
            "sha256",
            "url",
        ]
        read_only_fields = fields

    def get_url(self, obj) -> str:
        return f"/audits/reports/{obj.pk}/"


class ReportDetailSerializer(ReportSerializer):
    class Meta(ReportSerializer.Meta):
        fields = [*ReportSerializer.Meta.fields, "payload"]
        read_only_fields = fields


class ReportInput(serializers.Serializer):
    kind = serializers.ChoiceField(choices=list(KINDS))
    date = serializers.DateField(help_text="A day of the period.")
    email = serializers.BooleanField(required=False, default=False, help_text="Mail the snapshot to its readers.")
    procedure_version = serializers.CharField(
        max_length=100,
        required=False,
        allow_blank=True,
        default="",
        help_text="Count only what was filed under one procedure version (CODE:N, e.g. "
        "emergency-bypass-workflow:2) or under every version of one procedure (CODE). Blank: all procedures.",
    )


class ReportPagination(ListPagination):
    page_size = 50


def _require_oversight(user) -> None:
    if not can_oversee(user):
        raise PermissionDenied("Compliance reports are for QMS coordinators, quality, executives and auditors.")


@extend_schema_view(get=extend_schema(examples=ex.response("A compliance report", ex.REPORT)))
class Reports(generics.ListCreateAPIView):
    """Compliance report snapshots (newest period first), or generate one (QMS coordinators)."""

    serializer_class = ReportSerializer
    pagination_class = ReportPagination
    orderings = {
        "-period_start": ("-period_start", "-pk"),
        "period_start": ("period_start", "pk"),
        "-generated_at": ("-generated_at", "-pk"),
    }
    default_ordering = "-period_start"
    token_scopes = {"POST": ApiToken.Scope.INTEGRATIONS}

    def get_queryset(self):
        _require_oversight(self.request.user)
        kind = self.request.query_params.get("kind", "")
        return report_selectors.report_list(user=self.request.user, kind=kind if kind in KINDS else "")

    @extend_schema(
        request=ReportInput,
        responses={201: ReportDetailSerializer},
        summary="Generate a compliance report",
        examples=[
            OpenApiExample(
                "Generate a compliance report", value={"kind": "weekly", "date": "2030-01-06"}, request_only=True
            ),
            OpenApiExample(
                "Generate a report of one procedure version",
                value={"kind": "monthly", "date": "2030-01-06", "procedure_version": "emergency-bypass-workflow:2"},
                request_only=True,
            ),
        ],
    )
    def post(self, request):
        _require_oversight(request.user)
        if not report_services.can_generate_reports(request.user):
            raise PermissionDenied("Only QMS coordinators generate compliance reports.")
        data = ReportInput(data=request.data)
        data.is_valid(raise_exception=True)
        report = _call_service(
            report_services.report_generate,
            kind=data.validated_data["kind"],
            period_start=data.validated_data["date"],
            actor=request.user,
            email=data.validated_data["email"],
            procedure_version=data.validated_data["procedure_version"],
        )
        report = report_selectors.report_get_for_user(pk=report.pk, user=request.user)
        return Response(ReportDetailSerializer(report).data, status=status.HTTP_201_CREATED)


@extend_schema_view(get=extend_schema(examples=ex.response("A compliance report", ex.REPORT_DETAIL)))
class ReportDetail(ETagMixin, generics.RetrieveAPIView):
    """One snapshot with its figures (immutable; its SHA-256 is that of its payload)."""

    serializer_class = ReportDetailSerializer

    def get_object(self):
        return report_selectors.report_get_for_user(pk=self.kwargs["pk"], user=self.request.user)


# --- obligations --------------------------------------------------------------------------------------


class ObligationSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.username", read_only=True, default=None, allow_null=True)
    satisfied_by = serializers.CharField(source="satisfied_by.username", read_only=True, default=None, allow_null=True)

    class Meta:
        model = Obligation
        fields = [
            "id",
            "kind",
            "label",
            "subject_label",
            "subject_url",
            "owner",
            "owner_role",
            "started_at",
            "due_at",
            "satisfied_at",
            "satisfied_by",
            "satisfaction_note",
            "escalation_level",
        ]
        read_only_fields = fields


class PreventiveChangeInput(serializers.Serializer):
    change = serializers.CharField(
        max_length=40, required=False, allow_blank=True, default="", help_text="An existing change to link."
    )
    title = serializers.CharField(
        max_length=TITLE_MAX, required=False, allow_blank=True, default="", help_text="Or a new change's title."
    )


class EvidenceInput(serializers.Serializer):
    evidence = serializers.CharField(max_length=TEXT_MAX, help_text="A link, a document, the minutes' reference.")


class ObligationAction(ETagMixin, generics.GenericAPIView):
    kinds: tuple = ()
    token_scopes = {"POST": ApiToken.Scope.INTEGRATIONS}

    def act(self, request, obligation_id, perform):
        obligation = Obligation.objects.filter(pk=obligation_id, kind__in=self.kinds).first()
        if obligation is None or not can_view_changes(request.user):
            raise Http404("No such obligation.")
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        precondition_check(request, lambda: ObligationSerializer(obligation).data)
        _call_service(perform, obligation=obligation, data=data.validated_data)
        obligation = Obligation.objects.select_related("owner", "satisfied_by").get(pk=obligation.pk)
        return Response(ObligationSerializer(obligation).data)


class ObligationPreventiveChange(ObligationAction):
    """Meet a repeat-bypass pattern's obligation: link an existing change, or open a new preventive change."""

    serializer_class = PreventiveChangeInput
    kinds = ("preventive_change",)

    @extend_schema(
        request=PreventiveChangeInput,
        responses={200: ObligationSerializer},
        summary="Preventive change for a pattern",
        examples=[
            OpenApiExample(
                "Preventive change for a pattern",
                value={"title": "Stabilise the flaky checkout tests"},
                request_only=True,
            )
        ],
    )
    def post(self, request, obligation_id):
        return self.act(
            request,
            obligation_id,
            lambda *, obligation, data: services.obligation_preventive_change_meet(
                obligation_id=obligation.pk, actor=request.user, change_identifier=data["change"], title=data["title"]
            ),
        )


class ObligationEvidence(ObligationAction):
    """Record a post-incident or post-deployment action done, with what shows it; the clock is met."""

    serializer_class = EvidenceInput
    kinds = tuple(EVIDENCE_KINDS)

    @extend_schema(
        request=EvidenceInput,
        responses={200: ObligationSerializer},
        summary="Evidence of an action done",
        examples=[
            OpenApiExample("Evidence of an action done", value={"evidence": "Minutes CCB-2030-004"}, request_only=True)
        ],
    )
    def post(self, request, obligation_id):
        return self.act(
            request,
            obligation_id,
            lambda *, obligation, data: services.obligation_evidence_record(
                obligation_id=obligation.pk, actor=request.user, evidence=data["evidence"]
            ),
        )
