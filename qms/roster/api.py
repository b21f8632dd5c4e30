"""API of the on-call roster: who is on call, and its writes (rotations, overrides, iCalendar imports,
acknowledgements) through the same services as the pages (qms.roster.views)."""

from __future__ import annotations

from datetime import timedelta

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.response import Response

from qms.limits import COMMENT_MAX, LIST_MAX, TITLE_MAX
from qms.models import ApiToken, User
from qms.roles import KEY_ROLES, Role
from qms.roster import services
from qms.roster.models import OnCallImport, OnCallPage, OnCallRotation, OnCallShift, Slot
from qms.roster.permissions import can_edit_roster, can_view_roster
from qms.roster.schedule import _coverage, roster_load


def _call(fn, **kwargs):
    try:
        return fn(**kwargs)
    except DjangoValidationError as exc:
        if hasattr(exc, "error_dict"):
            raise ValidationError({k: [m for e in v for m in e.messages] for k, v in exc.error_dict.items()}) from exc
        raise ValidationError({"non_field_errors": exc.messages}) from exc
    except DjangoPermissionDenied as exc:
        raise PermissionDenied(str(exc)) from exc


def _key_role(value: str) -> Role:
    if value not in {r.value for r in KEY_ROLES}:
        raise NotFound("No such key role.")
    return Role(value)


def _editable_role(request, value: str) -> Role:
    """The key role named in the path, once the caller may edit its roster (before reading the body)."""
    role = _key_role(value)
    if not can_edit_roster(request.user, role):
        raise PermissionDenied(f"Only QMS coordinators and the role's manager edit the {role.label} roster.")
    return role


USERNAME = serializers.SlugRelatedField(slug_field="username", queryset=User.objects.filter(is_active=True))


class CoverageSerializer(serializers.Serializer):
    role = serializers.CharField()
    label = serializers.CharField()
    has_roster = serializers.BooleanField()
    primary = serializers.CharField(allow_null=True, help_text="Username, or null when nobody is on call.")
    backup = serializers.CharField(allow_null=True)


class RotationSerializer(serializers.ModelSerializer):
    members = serializers.SerializerMethodField()

    class Meta:
        model = OnCallRotation
        fields = ["id", "role", "slot", "name", "starts_at", "ends_at", "period_days", "members", "created_at"]
        read_only_fields = fields

    def get_members(self, rotation) -> list[str]:
        return [m.user.username for m in rotation.memberships.select_related("user").order_by("position")]


class RotationInput(serializers.Serializer):
    slot = serializers.ChoiceField(choices=Slot.choices)
    name = serializers.CharField(max_length=TITLE_MAX)
    members = serializers.ListField(child=serializers.CharField(max_length=150), min_length=1, max_length=52)
    starts_at = serializers.DateTimeField()
    period_days = serializers.IntegerField(min_value=1, max_value=28, default=7)
    ends_at = serializers.DateTimeField(required=False, allow_null=True, default=None)


class ShiftSerializer(serializers.ModelSerializer):
    user = serializers.CharField(source="user.username", read_only=True)

    class Meta:
        model = OnCallShift
        fields = ["id", "role", "slot", "user", "starts_at", "ends_at", "kind", "reason", "created_at"]
        read_only_fields = fields


class OverrideInput(serializers.Serializer):
    slot = serializers.ChoiceField(choices=Slot.choices)
    user = serializers.CharField(max_length=150, help_text="Username of an active holder of the role.")
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    reason = serializers.CharField(max_length=COMMENT_MAX)


class ImportSerializer(serializers.ModelSerializer):
    class Meta:
        model = OnCallImport
        fields = ["id", "role", "filename", "sha256", "shift_count", "horizon_end", "imported_at"]
        read_only_fields = fields


class ImportInput(serializers.Serializer):
    ics = serializers.CharField(max_length=LIST_MAX, trim_whitespace=False, help_text="The iCalendar text.")
    filename = serializers.CharField(max_length=TITLE_MAX, required=False, allow_blank=True, default="")


class PageSerializer(serializers.ModelSerializer):
    primary = serializers.CharField(source="primary.username", read_only=True)
    backup = serializers.CharField(source="backup.username", read_only=True, default=None, allow_null=True)
    acknowledged_by = serializers.CharField(
        source="acknowledged_by.username", read_only=True, default=None, allow_null=True
    )

    class Meta:
        model = OnCallPage
        fields = ["id", "role", "subject", "link", "severity", "primary", "backup", "paged_at", "respond_by"]
        fields += ["escalated_at", "acknowledged_at", "acknowledged_by", "acknowledged_via"]
        read_only_fields = fields


class AcknowledgeInput(serializers.Serializer):
    pass


def _users(names: list[str]) -> list[User]:
    found = {u.username: u for u in User.objects.filter(username__in=names)}
    unknown = [n for n in names if n not in found]
    if unknown:
        raise ValidationError({"members": [f"No such user: {', '.join(unknown[:10])}."]})
    return [found[n] for n in names]


AT_RANGE_DAYS = 10 * 365


def _moment(value: str | None):
    if not value:
        return timezone.now()
    try:
        moment = parse_datetime(value)
    except ValueError:
        moment = None
    if moment is None:
        raise ValidationError({"at": ["A date and time, e.g. 2026-03-02T09:00:00Z."]})
    if timezone.is_naive(moment):
        try:
            moment = timezone.make_aware(moment, timezone.get_default_timezone())
        except (OverflowError, ValueError):
            moment = None
    if moment is None or abs(moment - timezone.now()) > timedelta(days=AT_RANGE_DAYS):
        raise ValidationError({"at": [f"A moment within {AT_RANGE_DAYS // 365} years of now."]})
    return moment


class OnCallNow(generics.GenericAPIView):
    """Who is primary and backup for each key role now (or at ``at``)."""

    serializer_class = CoverageSerializer
    pagination_class = None

    @extend_schema(
        parameters=[
            OpenApiParameter("at", OpenApiTypes.DATETIME, description="The moment asked about (default: now).")
        ],
        responses={200: CoverageSerializer(many=True)},
        examples=[
            OpenApiExample(
                "Covered with a backup",
                value=[
                    {
                        "role": "commander",
                        "label": "Incident commander",
                        "has_roster": True,
                        "primary": "commander.kim",
                        "backup": "commander.ana",
                    }
                ],
                response_only=True,
            )
        ],
    )
    def get(self, request):
        if not can_view_roster(request.user):
            raise PermissionDenied("You hold no role in the portal.")
        now = _moment(request.query_params.get("at"))
        rows = []
        for role, roster in roster_load(start=now, end=now + timedelta(seconds=1)).items():
            coverage = _coverage(roster, now)
            rows.append(
                {
                    "role": role.value,
                    "label": role.label,
                    "has_roster": roster.exists,
                    "primary": coverage.primary.username if coverage.primary else None,
                    "backup": coverage.backup.username if coverage.backup else None,
                }
            )
        return Response(CoverageSerializer(rows, many=True).data)


class Rotations(generics.GenericAPIView):
    """Create a rotation: people taking turns (weekly by default) in one slot of a key role."""

    serializer_class = RotationInput
    token_scopes = {"POST": ApiToken.Scope.INTEGRATIONS}

    @extend_schema(
        request=RotationInput,
        responses={201: RotationSerializer},
        examples=[
            OpenApiExample(
                "Weekly",
                value={
                    "slot": "primary",
                    "name": "Weekly",
                    "members": ["ana", "ben"],
                    "starts_at": "2026-01-05T09:00Z",
                },
                request_only=True,
            )
        ],
    )
    def post(self, request, role):
        role = _editable_role(request, role)
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        rotation = _call(
            services.rotation_create,
            role=role.value,
            slot=values["slot"],
            name=values["name"],
            members=_users(values["members"]),
            starts_at=values["starts_at"],
            period_days=values["period_days"],
            ends_at=values["ends_at"],
            actor=request.user,
        )
        return Response(RotationSerializer(rotation).data, status=status.HTTP_201_CREATED)


class Overrides(generics.GenericAPIView):
    """Put a named holder of the role in a slot for a period, over the rotation and the calendar."""

    serializer_class = OverrideInput
    token_scopes = {"POST": ApiToken.Scope.INTEGRATIONS}

    @extend_schema(
        request=OverrideInput,
        responses={201: ShiftSerializer},
        examples=[
            OpenApiExample(
                "Cover a day off",
                value={
                    "slot": "primary",
                    "user": "commander.kim",
                    "starts_at": "2026-12-24T08:00:00Z",
                    "ends_at": "2026-12-25T08:00:00Z",
                    "reason": "Swap with Ana for Christmas Eve",
                },
                request_only=True,
            )
        ],
    )
    def post(self, request, role):
        role = _editable_role(request, role)
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        user = User.objects.filter(username=values["user"]).first()
        if user is None:
            raise ValidationError({"user": ["No such user."]})
        shift = _call(
            services.override_add,
            role=role.value,
            slot=values["slot"],
            user=user,
            starts_at=values["starts_at"],
            ends_at=values["ends_at"],
            reason=values["reason"],
            actor=request.user,
        )
        return Response(ShiftSerializer(shift).data, status=status.HTTP_201_CREATED)


class Imports(generics.GenericAPIView):
    """Import an iCalendar schedule for a role; it replaces the role's earlier import. All or nothing."""

    serializer_class = ImportInput
    token_scopes = {"POST": ApiToken.Scope.INTEGRATIONS}

    @extend_schema(
        request=ImportInput,
        responses={201: ImportSerializer},
        examples=[
            OpenApiExample(
                "Weekly primary from the team calendar",
                value={
                    "ics": "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Team//On call//EN\r\nBEGIN:VEVENT\r\n"
                    "UID:oncall-1@example.com\r\nDTSTAMP:20261201T000000Z\r\nDTSTART:20261207T080000Z\r\n"
                    "DTEND:20261214T080000Z\r\nRRULE:FREQ=WEEKLY;COUNT=4\r\nSUMMARY:Primary: commander.kim\r\n"
                    "END:VEVENT\r\nEND:VCALENDAR\r\n",
                    "filename": "incident-commanders.ics",
                },
                request_only=True,
            )
        ],
    )
    def post(self, request, role):
        role = _editable_role(request, role)
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        imported = _call(
            services.roster_import,
            role=role.value,
            content=data.validated_data["ics"].encode("utf-8"),
            filename=data.validated_data["filename"],
            actor=request.user,
        )
        return Response(ImportSerializer(imported).data, status=status.HTTP_201_CREATED)


class PageAcknowledgement(generics.GenericAPIView):
    """The paged on-call person acknowledges the page (once; the backup is then not paged)."""

    serializer_class = AcknowledgeInput
    token_scopes = {"POST": ApiToken.Scope.INTEGRATIONS}

    @extend_schema(
        request=None,
        responses={200: PageSerializer},
        examples=[
            OpenApiExample(
                "Acknowledged",
                value={
                    "id": 57,
                    "role": "commander",
                    "subject": "EC-2026-0042 needs its incident commander",
                    "link": "/emergencies/EC-2026-0042/",
                    "severity": "critical",
                    "primary": "commander.kim",
                    "backup": "commander.ana",
                    "paged_at": "2026-11-30T02:15:00Z",
                    "respond_by": "2026-11-30T03:15:00Z",
                    "escalated_at": None,
                    "acknowledged_at": "2026-11-30T02:19:00Z",
                    "acknowledged_by": "commander.kim",
                    "acknowledged_via": "api",
                },
                response_only=True,
            )
        ],
    )
    def post(self, request, pk):
        page = OnCallPage.objects.filter(pk=pk).first()
        if page is None or request.user.pk not in {page.primary_id, page.backup_id}:
            raise NotFound("No such page of yours.")
        _call(services.page_acknowledge, page_id=page.pk, actor=request.user, via=OnCallPage.Via.API)
        page = OnCallPage.objects.select_related("primary", "backup", "acknowledged_by").get(pk=pk)
        return Response(PageSerializer(page).data)
