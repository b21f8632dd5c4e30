"""API of running an emergency CCB, each write calling the same service as its page (emergencies.views.ccb):
convening a session for a change's gate, seating a member, cancelling a session, Gate 1 (signed), status
updates, regulatory notifications and the verification flag. A session write answers the session as
``GET /ccb/sessions/{pk}/`` does; a change write answers the change as ``GET /emergencies/{id}/`` does."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from emergencies import selectors
from emergencies.api.ccb.sessions import CCBSessionDetailSerializer, _detail
from emergencies.api.lifecycle import ChangeAction, _post
from emergencies.models import RegulatoryNotification, StatusUpdate
from emergencies.models.ccb import Gate
from emergencies.selectors import ccb as selectors_ccb
from emergencies.services import ccb, communication, gates
from qms.api.concurrency import ETagMixin, precondition_check
from qms.api.problems import _call_service
from qms.limits import COMMENT_MAX, LINE_MAX, TEXT_MAX
from qms.models import ApiToken, User
from qms.roles import Role
from qms.security import signing_auth

ROLE_CHOICES = [r.value for r in Role]
ACTIVE_USERS = User.objects.filter(is_active=True)


def _session_doc(request_serializer, summary: str, example: dict, created: bool = False):
    return extend_schema(
        request=request_serializer,
        responses={(201 if created else 200): CCBSessionDetailSerializer},
        summary=summary,
        examples=[OpenApiExample(summary, value=example, request_only=True)],
    )


class SeatInput(serializers.Serializer):
    user = serializers.SlugRelatedField(slug_field="username", queryset=ACTIVE_USERS)
    role = serializers.ChoiceField(choices=ROLE_CHOICES)


class ConveneInput(serializers.Serializer):
    gate = serializers.ChoiceField(choices=[g for g in Gate.values if g != Gate.DECLARE])
    chair = serializers.SlugRelatedField(
        slug_field="username", queryset=ACTIVE_USERS, required=False, allow_null=True, help_text="You if omitted."
    )
    scheduled_at = serializers.DateTimeField(help_text="With its time zone.")
    duration_minutes = serializers.IntegerField(min_value=15, max_value=480, default=60)
    location = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")
    agenda = serializers.CharField(max_length=TEXT_MAX, required=False, allow_blank=True, default="")
    members = SeatInput(many=True, required=False, default=list, max_length=50)


class MemberInput(SeatInput):
    pass


class CancelInput(serializers.Serializer):
    reason = serializers.CharField(max_length=COMMENT_MAX)


class CCBConvene(ETagMixin, generics.GenericAPIView):
    """Convene an emergency CCB session to decide one gate of the change (a configuration manager, §7.1)."""

    serializer_class = ConveneInput
    token_scopes = {"POST": ApiToken.Scope.INTEGRATIONS}

    @_session_doc(
        ConveneInput,
        "Convene a CCB session",
        {
            "gate": "fast_track",
            "chair": "cm",
            "scheduled_at": "2030-01-01T09:00:00Z",
            "members": [{"user": "eng", "role": "engmanager"}],
        },
        created=True,
    )
    def post(self, request, identifier):
        change = selectors.change_get_for_user(identifier=identifier, user=request.user)
        if not ccb.can_convene(request.user, change):
            raise PermissionDenied(
                "Only a configuration manager convenes an emergency CCB, for a procedure that has one."
            )
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        session = _call_service(
            ccb.ccb_session_convene,
            change_id=change.pk,
            actor=request.user,
            data=ccb.SessionInput(
                gate=values["gate"],
                scheduled_at=values["scheduled_at"],
                duration_minutes=values["duration_minutes"],
                location=values["location"],
                agenda=values["agenda"],
                members=tuple((m["user"], Role(m["role"])) for m in values["members"]),
                chair=values.get("chair"),
            ),
        )
        session = selectors_ccb.ccb_session_get_for_user(pk=session.pk, user=request.user)
        return Response(_detail(session), status=status.HTTP_201_CREATED)


class SessionAction(ETagMixin, generics.GenericAPIView):
    """A write on an open session: validate, check If-Match, call the page's service, answer the session."""

    token_scopes = {"POST": ApiToken.Scope.INTEGRATIONS}
    success_status = status.HTTP_200_OK

    def act(self, request, pk, perform):
        session = selectors_ccb.ccb_session_get_for_user(pk=pk, user=request.user)
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        precondition_check(request, lambda: _detail(session))
        _call_service(perform, session=session, data=data.validated_data)
        session = selectors_ccb.ccb_session_get_for_user(pk=pk, user=request.user)
        return Response(_detail(session), status=self.success_status)


class CCBMembers(SessionAction):
    """Seat one more member on an open session (the chair or a configuration manager); they are invited."""

    serializer_class = MemberInput
    success_status = status.HTTP_201_CREATED

    @_session_doc(MemberInput, "Seat a member", {"user": "safety", "role": "safety"}, created=True)
    def post(self, request, pk):
        return self.act(
            request,
            pk,
            lambda *, session, data: ccb.ccb_member_add(
                session_id=session.pk, user=data["user"], role=Role(data["role"]), actor=request.user
            ),
        )


class CCBCancellation(SessionAction):
    """Cancel an open session, saying why (the chair or a configuration manager); the members are told."""

    serializer_class = CancelInput

    @_session_doc(CancelInput, "Cancel a session", {"reason": "The fix was rolled back; nothing to decide."})
    def post(self, request, pk):
        return self.act(
            request,
            pk,
            lambda *, session, data: ccb.ccb_session_cancel(
                session_id=session.pk, actor=request.user, reason=data["reason"]
            ),
        )


# --- a change's gates and communication ------------------------------------------------------------------


class DeclareInput(serializers.Serializer):
    warranted = serializers.BooleanField(help_text="Is the emergency process warranted?")
    severity = serializers.CharField(max_length=32, help_text="A severity of the procedure's scale (§4).")
    criteria = serializers.ListField(
        child=serializers.CharField(max_length=LINE_MAX), required=False, default=list, max_length=50
    )
    role = serializers.ChoiceField(choices=ROLE_CHOICES, help_text="The role you sign in.")
    reason = serializers.CharField(max_length=COMMENT_MAX)
    password = serializers.CharField(write_only=True, style={"input_type": "password"})


class StatusUpdateInput(serializers.Serializer):
    audience = serializers.ChoiceField(choices=StatusUpdate.Audience.values, default=StatusUpdate.Audience.INTERNAL)
    current_status = serializers.CharField(max_length=TEXT_MAX)
    actions_taken = serializers.CharField(max_length=TEXT_MAX, required=False, allow_blank=True, default="")
    next_steps = serializers.CharField(max_length=TEXT_MAX, required=False, allow_blank=True, default="")


class RegulatoryInput(serializers.Serializer):
    authority = serializers.ChoiceField(choices=RegulatoryNotification.Authority.values)
    authority_name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    notified_at = serializers.DateTimeField(help_text="With its time zone.")
    reference = serializers.CharField(max_length=200)
    description = serializers.CharField(max_length=TEXT_MAX)
    emergency_approval_requested = serializers.BooleanField(required=False, default=True)
    follow_up_commitment = serializers.CharField(max_length=TEXT_MAX)
    follow_up_due = serializers.DateField(required=False, allow_null=True, default=None)


class VerificationInput(serializers.Serializer):
    complete = serializers.BooleanField()


class CCBChangeAction(ChangeAction):
    """A write on a change whose procedure has a CCB and decision gates (the page refuses the others)."""

    editable = False  # each service checks its own rights

    def act(self, request, identifier):
        change = selectors.change_get_for_user(identifier=identifier, user=request.user)
        if not change.rules.ccb_required:
            raise PermissionDenied(
                f"{change.procedure_version.procedure.title} has no change control board or decision gates."
            )
        return super().act(request, identifier)


class Gate1Declaration(CCBChangeAction):
    """Gate 1 (§14.1): is the emergency process warranted, against the severity criteria of §4; signed with
    your password (a safety manager, security officer or configuration manager)."""

    serializer_class = DeclareInput
    token_scopes = {"POST": ApiToken.Scope.SIGN}
    success_status = status.HTTP_201_CREATED

    @_post(
        DeclareInput,
        "Gate 1",
        {
            "warranted": True,
            "severity": "CRITICAL",
            "criteria": ["Immediate threat to life or spacecraft"],
            "role": "safety",
            "reason": "Uncommanded pitch in mode 3",
            "password": "…",
        },
    )
    def post(self, request, identifier):
        return self.act(request, identifier)

    def perform(self, request, change, data):
        gates.gate_declare_record(
            change_id=change.pk,
            actor=request.user,
            password=data["password"],
            data=gates.DeclareInput(
                warranted=data["warranted"],
                severity=data["severity"],
                criteria=tuple(data["criteria"]),
                reason=data["reason"],
                role=Role(data["role"]),
            ),
            auth=signing_auth(request),
        )


class StatusUpdates(ChangeAction):
    """Post a status update (§12) to one of the procedure's audiences; it counts once it has been sent."""

    serializer_class = StatusUpdateInput
    editable = False
    success_status = status.HTTP_201_CREATED

    @_post(
        StatusUpdateInput,
        "Status update",
        {"audience": "internal", "current_status": "Hotfix deployed, monitoring", "next_steps": "Review at 10:00"},
    )
    def post(self, request, identifier):
        change = selectors.change_get_for_user(identifier=identifier, user=request.user)
        if not communication.can_post_status_update(request.user, change):
            raise PermissionDenied("You may not post updates on this change.")
        return self.act(request, identifier)

    def perform(self, request, change, data):
        communication.status_update_post(
            change_id=change.pk, data=communication.StatusUpdateInput(**data), actor=request.user
        )


class RegulatoryNotifications(CCBChangeAction):
    """Record the notification of a certification authority (§7.3)."""

    serializer_class = RegulatoryInput
    success_status = status.HTTP_201_CREATED

    @_post(
        RegulatoryInput,
        "Regulatory notification",
        {
            "authority": "EASA",
            "notified_at": "2030-01-01T08:00:00Z",
            "reference": "EASA-2030-0001",
            "description": "Pitch limiter fault; patch 2.4.1 proposed",
            "follow_up_commitment": "Full report within 30 days",
        },
    )
    def post(self, request, identifier):
        return self.act(request, identifier)

    def perform(self, request, change, data):
        communication.regulatory_notification_record(
            change_id=change.pk, data=communication.RegulatoryInput(**data), actor=request.user
        )


class Verification(CCBChangeAction):
    """Mark the change's verification complete (or reopen it), for the closure gate."""

    serializer_class = VerificationInput

    @_post(VerificationInput, "Verification", {"complete": True})
    def post(self, request, identifier):
        return self.act(request, identifier)

    def perform(self, request, change, data):
        gates.change_verification_set(change_id=change.pk, complete=data["complete"], actor=request.user)
