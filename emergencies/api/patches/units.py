"""API of a patch package's distribution to the affected units (CM-WF-EMERGENCY §10), each write calling the
same service as the page's per-unit form (``unit_event_record``, emergencies.views.patches): add a unit by its
serial number, add every unit the incident lists, and record what happened at one unit, one operation per
step: ``send``, ``acknowledge``, ``install`` (or its failure), ``verify`` (passed or failed), ``roll-back``.
A unit is named by its serial number: ``/patch-packages/{package}/units/{serial}/install/``.

Reads: the units (filtered by installation status, ordered, cursor-paginated, with their events, two queries a
page whatever its size) and one unit. Each write on a unit answers the unit, with its ETag, and honours If-Match.
"""

from __future__ import annotations

from django.db.models import Prefetch
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import generics, serializers, status
from rest_framework.response import Response

from emergencies.api import examples as ex
from emergencies.api.patches.common import PACKAGE_PARAM, SERIAL_REGEX, PackageWrite, call, package_get, require_edit
from emergencies.models.patches import PatchPackage, UnitDistribution, UnitEvent
from emergencies.services import patches as services
from qms.api.concurrency import ETagMixin, precondition_check
from qms.api.pagination import ListPagination
from qms.limits import COMMENT_MAX
from qms.models import ApiToken

Kind = UnitEvent.Kind
SERIAL_PARAM = OpenApiParameter(
    "serial",
    str,
    OpenApiParameter.PATH,
    description="The unit's serial number.",
    pattern=f"^{SERIAL_REGEX}$",
    examples=[OpenApiExample("A unit", value="SN-100")],
)


class UnitEventSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor.username", read_only=True)
    channel = serializers.CharField(read_only=True, help_text="How the package was sent (a send); else empty.")

    class Meta:
        model = UnitEvent
        fields = ["kind", "occurred_at", "recorded_at", "actor", "channel", "reported_hash", "detail"]
        read_only_fields = fields


class UnitSerializer(serializers.ModelSerializer):
    package = serializers.CharField(source="package.identifier", read_only=True)
    installed_artifact = serializers.CharField(
        source="installed_artifact.filename", read_only=True, default=None, allow_null=True
    )
    expected_hash = serializers.SerializerMethodField(help_text="The approved hash this unit must report.")
    hash_matches = serializers.SerializerMethodField(help_text="null until the unit reports a hash.")
    events = serializers.SerializerMethodField()
    channel = serializers.CharField(read_only=True, help_text="How the package was sent; empty until it is.")

    class Meta:
        model = UnitDistribution
        fields = ["id", "package", "serial_number", "description", "listed_on_incident", "sent_at", "channel"]
        fields += ["acknowledged_at", "acknowledged_by", "install_status", "installed_at", "installed_artifact"]
        fields += ["reported_hash", "expected_hash", "hash_matches", "post_install_verified"]
        fields += ["verification_notes", "verified_at", "events"]
        read_only_fields = fields

    def get_expected_hash(self, obj) -> str:
        return obj.expected_hash(obj.package)

    def get_hash_matches(self, obj) -> bool | None:
        return obj.hash_matches(obj.package)

    @extend_schema_field(UnitEventSerializer(many=True))
    def get_events(self, obj):
        events = getattr(obj, "event_list", None)
        if events is None:
            events = list(obj.events.select_related("actor").order_by("occurred_at", "pk"))
        return UnitEventSerializer(events, many=True).data


def units_of(package: PatchPackage):
    events = UnitEvent.objects.select_related("actor").order_by("occurred_at", "pk")
    return package.units.select_related("installed_artifact").prefetch_related(
        Prefetch("events", queryset=events, to_attr="event_list")
    )


def unit_get(package: PatchPackage, serial: str) -> UnitDistribution:
    unit = get_object_or_404(units_of(package), serial_number=serial)
    unit.package = package
    return unit


def unit_data(unit: UnitDistribution) -> dict:
    return UnitSerializer(unit).data


# --- inputs --------------------------------------------------------------------------------------------

WHEN = {
    "required": False,
    "allow_null": True,
    "default": None,
    "help_text": "When it happened at the unit; empty: now.",
}


class UnitAddInput(serializers.Serializer):
    serial_number = serializers.CharField(max_length=100)
    description = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class SendInput(serializers.Serializer):
    channel = serializers.ChoiceField(choices=UnitDistribution.Channel.choices)
    occurred_at = serializers.DateTimeField(**WHEN)
    detail = serializers.CharField(max_length=COMMENT_MAX, required=False, allow_blank=True, default="")


class AcknowledgeInput(serializers.Serializer):
    acknowledged_by = serializers.CharField(max_length=200, help_text="Who acknowledged receipt at the unit.")
    occurred_at = serializers.DateTimeField(**WHEN)
    detail = serializers.CharField(max_length=COMMENT_MAX, required=False, allow_blank=True, default="")


class InstallInput(serializers.Serializer):
    succeeded = serializers.BooleanField(default=True, help_text="false: the installation failed (say how).")
    reported_hash = serializers.CharField(
        max_length=100, required=False, allow_blank=True, default="", help_text="What the unit reports as deployed."
    )
    artifact = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        min_value=1,
        max_value=2**62,
        help_text="The id of the patch file installed (required when the package has several).",
    )
    occurred_at = serializers.DateTimeField(**WHEN)
    detail = serializers.CharField(max_length=COMMENT_MAX, required=False, allow_blank=True, default="")


class VerifyInput(serializers.Serializer):
    passed = serializers.BooleanField(default=True)
    detail = serializers.CharField(
        max_length=COMMENT_MAX, required=False, allow_blank=True, default="", help_text="Required when it failed."
    )
    occurred_at = serializers.DateTimeField(**WHEN)


class RollbackInput(serializers.Serializer):
    reason = serializers.CharField(max_length=COMMENT_MAX)
    reported_hash = serializers.CharField(
        max_length=100, required=False, allow_blank=True, default="", help_text="What the unit runs afterwards."
    )
    occurred_at = serializers.DateTimeField(**WHEN)


def _doc(request, summary: str, example: dict, *, created=False, response=UnitSerializer):
    return extend_schema(
        request=request,
        responses={(201 if created else 200): response},
        summary=summary,
        examples=[
            OpenApiExample(summary, value=example, request_only=True),
            *ex.response(
                "The unit after it", [ex.UNIT] if isinstance(response, serializers.ListSerializer) else ex.UNIT
            ),
        ],
    )


# --- the units of a package ----------------------------------------------------------------------------


class Units(PackageWrite, generics.ListAPIView):
    """The package's units with their events; add one by its serial number."""

    serializer_class = UnitAddInput
    pagination_class = ListPagination
    orderings = {
        "serial_number": ("serial_number",),
        "-serial_number": ("-serial_number",),
        "created_at": ("created_at", "pk"),
    }
    default_ordering = "serial_number"

    @extend_schema(
        responses={200: UnitSerializer(many=True)},
        examples=ex.response("A unit", ex.UNIT),
        parameters=[
            PACKAGE_PARAM,
            OpenApiParameter(
                "install_status",
                enum=UnitDistribution.InstallStatus.values,
                required=False,
                examples=[OpenApiExample("Not installed yet", value="pending")],
            ),
        ],
    )
    def get(self, request, package):
        package = package_get(request, package)
        qs = units_of(package)
        wanted = request.query_params.get("install_status")
        if wanted:
            if wanted not in UnitDistribution.InstallStatus.values:
                raise serializers.ValidationError({"install_status": ["Not an installation status."]})
            qs = qs.filter(install_status=wanted)
        page = self.paginate_queryset(qs)
        for unit in page:
            unit.package = package
        return self.get_paginated_response(UnitSerializer(page, many=True).data)

    @_doc(
        UnitAddInput, "Add a unit", {"serial_number": "SN-100", "description": "flight computer, tail 4"}, created=True
    )
    def post(self, request, package):
        return self.write(
            request,
            package,
            lambda *, package, data: call(
                services.unit_distribution_add, package_id=package.pk, actor=request.user, **data
            ),
            status.HTTP_201_CREATED,
            answer=lambda unit: unit_data(unit_get(package_get(request, unit.package.identifier), unit.serial_number)),
        )


class UnitsFromIncident(PackageWrite):
    """Add a unit for every serial number the incident lists that has none yet; answers those added."""

    pagination_class = None  # it answers the units it added, all of them

    @_doc(None, "Add the incident's units", {}, response=UnitSerializer(many=True))
    def post(self, request, package):
        def answer(units):
            for unit in units:
                unit.event_list = []
            return UnitSerializer(units, many=True).data

        return self.write(
            request,
            package,
            lambda *, package, data: call(
                services.unit_distributions_from_incident, package_id=package.pk, actor=request.user
            ),
            answer=answer,
        )


class UnitDetail(ETagMixin, generics.GenericAPIView):
    """One unit of the package, with every event recorded for it."""

    serializer_class = UnitSerializer

    @extend_schema(parameters=[PACKAGE_PARAM, SERIAL_PARAM], examples=ex.response("A unit", ex.UNIT))
    def get(self, request, package, serial):
        return Response(unit_data(unit_get(package_get(request, package), serial)))


class UnitAction(ETagMixin, generics.GenericAPIView):
    """One step at one unit, recorded through the page's per-unit service."""

    token_scopes = {"POST": ApiToken.Scope.INTEGRATIONS}
    fields: dict[str, str] = {}  # the service's error keys -> this operation's field names

    def kind(self, data) -> str:
        raise NotImplementedError

    def event_data(self, data) -> dict:
        return dict(data)

    def act(self, request, package, serial):
        package = package_get(request, package)
        require_edit(request, package)
        unit = unit_get(package, serial)
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        precondition_check(request, lambda: unit_data(unit))
        call(
            services.unit_event_record,
            self.fields,
            distribution_id=unit.pk,
            actor=request.user,
            kind=self.kind(data.validated_data),
            data=self.event_data(data.validated_data),
        )
        return Response(unit_data(unit_get(package, serial)))


class UnitSend(UnitAction):
    """The package went to the unit by a secure channel (the first send distributes the package)."""

    serializer_class = SendInput

    def kind(self, data):
        return Kind.SENT

    @_doc(SendInput, "Sent", {"channel": "encrypted_link", "detail": "Link sent to the line station"})
    def post(self, request, package, serial):
        return self.act(request, package, serial)


class UnitAcknowledge(UnitAction):
    """The unit's operator acknowledged receipt."""

    serializer_class = AcknowledgeInput

    def kind(self, data):
        return Kind.ACKNOWLEDGED

    @_doc(AcknowledgeInput, "Receipt acknowledged", {"acknowledged_by": "J. Smith, line maintenance"})
    def post(self, request, package, serial):
        return self.act(request, package, serial)


class UnitInstall(UnitAction):
    """The result of the installation and the hash the unit reports as deployed (a mismatch blocks closure)."""

    serializer_class = InstallInput

    def kind(self, data):
        return Kind.INSTALLED if data["succeeded"] else Kind.INSTALL_FAILED

    @_doc(
        InstallInput,
        "Installed",
        {"succeeded": True, "reported_hash": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"},
    )
    def post(self, request, package, serial):
        return self.act(request, package, serial)


class UnitVerify(UnitAction):
    """The post-installation verification, per the package's verification procedure."""

    serializer_class = VerifyInput

    def kind(self, data):
        return Kind.VERIFIED if data["passed"] else Kind.VERIFICATION_FAILED

    @_doc(VerifyInput, "Verified", {"passed": True, "detail": "BIT green"})
    def post(self, request, package, serial):
        return self.act(request, package, serial)


class UnitRollBack(UnitAction):
    """The unit went back to its previous version; ``reported_hash`` is what it runs afterwards."""

    serializer_class = RollbackInput
    fields = {"detail": "reason"}

    def kind(self, data):
        return Kind.ROLLED_BACK

    def event_data(self, data):
        return {**data, "detail": data["reason"]}

    @_doc(RollbackInput, "Rolled back", {"reason": "BIT failed after the install"})
    def post(self, request, package, serial):
        return self.act(request, package, serial)
