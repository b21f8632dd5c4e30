"""REST API for the emergency CCB: sessions (list, detail with the live tally) and signed votes. Thin over
the same services and selectors as the pages."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_field, extend_schema_view
from rest_framework import generics, serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from emergencies import permissions
from emergencies.api import examples as ex
from emergencies.models import CCBSession
from emergencies.models.ccb import Choice
from emergencies.selectors import ccb as selectors_ccb
from emergencies.services import ccb
from qms.api.concurrency import ETagMixin, precondition_check
from qms.api.problems import _call_service
from qms.limits import COMMENT_MAX, TEXT_MAX
from qms.models import ApiToken
from qms.security import signing_auth

# The gates a session decides (its enum in the schema, named in ENUM_NAME_OVERRIDES).
SESSION_GATE_CHOICES = CCBSession._meta.get_field("gate").choices


class CCBSessionSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="identifier", read_only=True)
    pk = serializers.IntegerField(read_only=True)
    change = serializers.CharField(source="change.identifier", read_only=True)
    chair = serializers.CharField(source="chair.username", read_only=True)
    decided_by = serializers.CharField(source="decided_by.username", read_only=True, default=None, allow_null=True)
    decided_on_behalf_of = serializers.CharField(
        source="decision_signature.on_behalf_of.username",
        read_only=True,
        default=None,
        allow_null=True,
        help_text="Whom a delegate decided for (username).",
    )
    # blank while the session is open
    outcome = serializers.ChoiceField(choices=Choice.choices, read_only=True, allow_blank=True)
    member_count = serializers.IntegerField(read_only=True, default=None, allow_null=True)
    vote_count = serializers.IntegerField(read_only=True, default=None, allow_null=True)
    url = serializers.SerializerMethodField()

    class Meta:
        model = CCBSession
        fields = [
            "id",
            "pk",
            "change",
            "gate",
            "status",
            "outcome",
            "chair",
            "scheduled_at",
            "duration_minutes",
            "location",
            "decided_by",
            "decided_on_behalf_of",
            "decided_at",
            "decision_reason",
            "questions",
            "waivers",
            "interim_approval",
            "fast_track_authority",
            "member_count",
            "vote_count",
            "url",
        ]
        read_only_fields = fields

    def get_url(self, obj) -> str:
        return obj.get_absolute_url()


class MemberVoteSerializer(serializers.Serializer):
    user = serializers.CharField()
    role = serializers.CharField()
    required = serializers.BooleanField()
    choice = serializers.CharField(allow_null=True)
    comment = serializers.CharField(allow_null=True)
    cast_at = serializers.DateTimeField(allow_null=True)
    signature = serializers.IntegerField(allow_null=True)
    on_behalf_of = serializers.CharField(allow_null=True, help_text="Whom a delegate voted for (username).")
    on_behalf_of_name = serializers.CharField(allow_null=True)
    superseded_votes = serializers.IntegerField()


class TallySerializer(serializers.Serializer):
    counts = serializers.DictField(child=serializers.IntegerField())
    voted = serializers.IntegerField()
    missing_roles = serializers.ListField(child=serializers.CharField())
    rule_outcome = serializers.CharField(allow_null=True)
    decidable = serializers.BooleanField()
    decider_role = serializers.CharField()
    members = MemberVoteSerializer(many=True)


class CCBSessionDetailSerializer(CCBSessionSerializer):
    tally = serializers.SerializerMethodField()

    class Meta(CCBSessionSerializer.Meta):
        fields = [*CCBSessionSerializer.Meta.fields, "tally"]
        read_only_fields = fields

    @extend_schema_field(TallySerializer)
    def get_tally(self, obj) -> dict:
        tally = self.context["tally"]
        return TallySerializer(
            {
                "counts": tally.counts,
                "voted": tally.voted,
                "missing_roles": [s.seat.role.value for s in tally.missing],
                "rule_outcome": tally.rule_outcome,
                "decidable": tally.decidable_outcome is not None,
                "decider_role": tally.decider_role.value,
                "members": [
                    {
                        "user": m.member.user.username,
                        "role": m.member.role,
                        "required": m.required,
                        "choice": m.vote.choice if m.vote else None,
                        "comment": m.vote.comment if m.vote else None,
                        "cast_at": m.vote.cast_at if m.vote else None,
                        "signature": m.vote.signature_id if m.vote else None,
                        "on_behalf_of": _behalf(m.vote.signature) if m.vote else None,
                        "on_behalf_of_name": (m.vote.signature.on_behalf_of_name or None) if m.vote else None,
                        "superseded_votes": len(m.earlier),
                    }
                    for m in tally.members
                ],
            }
        ).data


def _behalf(signature) -> str | None:
    return signature.on_behalf_of.username if signature and signature.on_behalf_of_id else None


def _detail(session: CCBSession) -> dict:
    tally = selectors_ccb.ccb_session_tally(session=session)
    return CCBSessionDetailSerializer(session, context={"tally": tally}).data


@extend_schema_view(get=extend_schema(examples=ex.response("A CCB session", ex.CCB_SESSION)))
class CCBSessionList(generics.ListAPIView):
    """Emergency CCB sessions, the latest scheduled first (``?status=open`` for the open ones)."""

    serializer_class = CCBSessionSerializer
    orderings = {"scheduled_at": ("scheduled_at", "pk"), "-scheduled_at": ("-scheduled_at", "-pk")}
    default_ordering = "-scheduled_at"

    def get_queryset(self):
        if not permissions.can_view_changes(self.request.user):
            raise PermissionDenied("You hold no role in the portal.")
        status = self.request.query_params.get("status", "")
        return selectors_ccb.ccb_session_list(
            user=self.request.user, status=status if status in CCBSession.Status.values else ""
        )


@extend_schema_view(get=extend_schema(examples=ex.response("A CCB session with its tally", ex.CCB_SESSION_DETAIL)))
class CCBSessionDetail(ETagMixin, generics.GenericAPIView):
    """One session with its live tally: each member's current vote, the missing roles, what the votes give."""

    serializer_class = CCBSessionDetailSerializer

    def get(self, request, pk):
        return Response(_detail(selectors_ccb.ccb_session_get_for_user(pk=pk, user=request.user)))


class VoteInputSerializer(serializers.Serializer):
    choice = serializers.ChoiceField(choices=Choice.values)
    comment = serializers.CharField(max_length=COMMENT_MAX)
    password = serializers.CharField(write_only=True, style={"input_type": "password"})


class CCBVote(ETagMixin, generics.GenericAPIView):
    """Cast (or change) your vote, signed with your password. A changed vote supersedes the earlier one."""

    serializer_class = VoteInputSerializer
    token_scopes = {"POST": ApiToken.Scope.SIGN}

    @extend_schema(
        request=VoteInputSerializer,
        responses={200: CCBSessionDetailSerializer},
        examples=[
            OpenApiExample(
                "Vote", value={"choice": "approve", "comment": "Risk understood", "password": "…"}, request_only=True
            )
        ],
    )
    def post(self, request, pk):
        session = selectors_ccb.ccb_session_get_for_user(pk=pk, user=request.user)
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        precondition_check(request, lambda: _detail(session))
        _call_service(
            ccb.ccb_vote_cast,
            session_id=session.pk,
            voter=request.user,
            password=data.validated_data["password"],
            choice=data.validated_data["choice"],
            comment=data.validated_data["comment"],
            auth=signing_auth(request),
        )
        return Response(_detail(selectors_ccb.ccb_session_get_for_user(pk=pk, user=request.user)))


class DecisionInputSerializer(serializers.Serializer):
    outcome = serializers.CharField(max_length=32, help_text="One of the outcomes the session's gate offers.")
    reason = serializers.CharField(max_length=COMMENT_MAX)
    questions = serializers.CharField(max_length=TEXT_MAX, required=False, allow_blank=True, default="")
    waivers = serializers.ListField(
        child=serializers.CharField(max_length=64), required=False, default=list, max_length=50
    )
    interim_approval = serializers.BooleanField(required=False, default=False)
    fast_track_authority = serializers.BooleanField(required=False, default=False)
    password = serializers.CharField(write_only=True, style={"input_type": "password"})


class CCBDecision(ETagMixin, generics.GenericAPIView):
    """Record the session's decision, signed with your password (the chair, or the program manager for
    critical severity); it must agree with the procedure's decision rule for the votes cast."""

    serializer_class = DecisionInputSerializer
    token_scopes = {"POST": ApiToken.Scope.SIGN}

    @extend_schema(
        request=DecisionInputSerializer,
        responses={200: CCBSessionDetailSerializer},
        examples=[
            OpenApiExample(
                "Decide", value={"outcome": "approve", "reason": "As voted", "password": "…"}, request_only=True
            )
        ],
    )
    def post(self, request, pk):
        session = selectors_ccb.ccb_session_get_for_user(pk=pk, user=request.user)
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        precondition_check(request, lambda: _detail(session))
        values = dict(data.validated_data)
        password = values.pop("password")
        values["waivers"] = tuple(values["waivers"])
        _call_service(
            ccb.ccb_session_decide,
            session_id=session.pk,
            decider=request.user,
            password=password,
            data=ccb.DecisionInput(**values),
            auth=signing_auth(request),
        )
        return Response(_detail(selectors_ccb.ccb_session_get_for_user(pk=pk, user=request.user)))
