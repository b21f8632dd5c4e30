"""API of the post-mortem of an emergency change (Emergency Bypass Workflow §4.2), each write calling the same
service as its page (emergencies.views.postincident): start, read, update (If-Match), submit for review,
reopen, approve by electronic signature, action items and their status. Each answers the post-mortem as
``GET /emergencies/{id}/post-mortem/`` does, with its ETag."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_field, extend_schema_view
from rest_framework import generics, serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from emergencies import permissions, selectors
from emergencies.api import examples as ex
from emergencies.models import ActionItem, PostMortem, PreventiveMeasure
from emergencies.services import postincident
from qms.api.concurrency import ETagMixin, precondition_check
from qms.api.problems import _call_service
from qms.api.signatures import SignatureSerializer, SignInputSerializer
from qms.limits import COMMENT_MAX, TEXT_MAX
from qms.models import ApiToken, User
from qms.roles import Role
from qms.security import signing_auth
from qms.services import signatures_for


class ActionItemSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.username", read_only=True)

    class Meta:
        model = ActionItem
        fields = ["id", "number", "action", "owner", "due_date", "status"]
        read_only_fields = fields


class PreventiveMeasureSerializer(serializers.ModelSerializer):
    follow_up = serializers.CharField(source="follow_up.identifier", read_only=True, default=None, allow_null=True)

    class Meta:
        model = PreventiveMeasure
        fields = ["id", "measure", "category", "priority", "follow_up"]
        read_only_fields = fields


class PostMortemSerializer(serializers.ModelSerializer):
    id = serializers.IntegerField(read_only=True)
    change = serializers.CharField(source="change.identifier", read_only=True)
    author = serializers.CharField(source="author.username", read_only=True)
    timeline = serializers.SerializerMethodField()
    action_items = ActionItemSerializer(many=True, read_only=True)
    preventive_measures = PreventiveMeasureSerializer(many=True, read_only=True)
    signatures = serializers.SerializerMethodField()

    class Meta:
        model = PostMortem
        fields = [
            *("id", "change", "status", "author"),
            *postincident.POST_MORTEM_FIELDS,
            *("timeline", "action_items", "preventive_measures", "signatures"),
        ]
        read_only_fields = fields

    def get_timeline(self, obj) -> list[str]:
        return [f"{row.at:%Y-%m-%d %H:%M} {row.event}" for row in obj.timeline.all()]

    @extend_schema_field(SignatureSerializer(many=True))
    def get_signatures(self, obj) -> list[dict]:
        return SignatureSerializer(signatures_for(obj), many=True).data


class PostMortemUpdateInput(serializers.ModelSerializer):
    timeline_text = serializers.CharField(
        max_length=TEXT_MAX,
        required=False,
        allow_blank=True,
        help_text="One event per line: YYYY-MM-DD HH:MM what happened (UTC).",
    )

    class Meta:
        model = PostMortem
        fields = [*postincident.POST_MORTEM_FIELDS, "timeline_text"]
        extra_kwargs = {name: {"required": False} for name in postincident.POST_MORTEM_FIELDS}


class ReopenInput(serializers.Serializer):
    reason = serializers.CharField(max_length=COMMENT_MAX)


class ActionItemInput(serializers.Serializer):
    action = serializers.CharField(max_length=300)
    owner = serializers.SlugRelatedField(slug_field="username", queryset=User.objects.filter(is_active=True))
    due_date = serializers.DateField()


class PreventiveMeasureInput(serializers.Serializer):
    measure = serializers.CharField(max_length=300)
    category = serializers.ChoiceField(choices=PreventiveMeasure.Category.values)
    priority = serializers.ChoiceField(
        choices=PreventiveMeasure.Priority.values, default=PreventiveMeasure.Priority.MEDIUM
    )


class ActionItemStatusInput(serializers.Serializer):
    status = serializers.ChoiceField(choices=ActionItem.Status.values)


def _post_mortem(request, identifier) -> PostMortem:
    change = selectors.change_get_for_user(identifier=identifier, user=request.user)
    post_mortem = PostMortem.objects.select_related("author", "change").filter(change=change).first()
    if post_mortem is None:
        raise Http404("This change has no post-mortem yet.")
    return post_mortem


def _answer(request, identifier, code=status.HTTP_200_OK) -> Response:
    return Response(PostMortemSerializer(_post_mortem(request, identifier)).data, status=code)


def _doc(request_serializer, summary: str, example: dict | None = None, created: bool = False):
    return extend_schema(
        request=request_serializer,
        responses={(201 if created else 200): PostMortemSerializer},
        summary=summary,
        examples=[
            *([OpenApiExample(summary, value=example, request_only=True)] if example else []),
            *ex.response("The post-mortem after it", ex.POST_MORTEM),
        ],
    )


class PostMortemWrite(ETagMixin, generics.GenericAPIView):
    """A write on a post-mortem: validate, check If-Match, call the page's service, answer the post-mortem."""

    token_scopes = {"POST": ApiToken.Scope.INTEGRATIONS, "PATCH": ApiToken.Scope.INTEGRATIONS}

    def write(self, request, identifier, perform, code=status.HTTP_200_OK):
        post_mortem = _post_mortem(request, identifier)
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        precondition_check(request, lambda: PostMortemSerializer(post_mortem).data)
        _call_service(perform, post_mortem=post_mortem, data=data.validated_data)
        return _answer(request, identifier, code)


@extend_schema_view(get=extend_schema(examples=ex.response("A post-mortem", ex.POST_MORTEM)))
class PostMortemDetail(PostMortemWrite):
    """The post-mortem: start it (with the timeline so far), read it, or update its sections while a draft."""

    serializer_class = PostMortemUpdateInput

    @extend_schema(responses={200: PostMortemSerializer})
    def get(self, request, identifier):
        return _answer(request, identifier)

    @_doc(None, "Start the post-mortem", created=True)
    def post(self, request, identifier):
        change = selectors.change_get_for_user(identifier=identifier, user=request.user)
        if not permissions.can_edit_change(change, request.user):
            raise PermissionDenied("You may not update this change.")
        _call_service(postincident.post_mortem_start, change_id=change.pk, actor=request.user)
        return _answer(request, identifier, status.HTTP_201_CREATED)

    @_doc(PostMortemUpdateInput, "Update the post-mortem", {"why_1": "The certificate expired unnoticed."})
    def patch(self, request, identifier):
        def perform(*, post_mortem, data):
            data = dict(data)
            timeline_text = data.pop("timeline_text", None)
            postincident.post_mortem_update(
                post_mortem_id=post_mortem.pk, actor=request.user, fields=data, timeline_text=timeline_text
            )

        return self.write(request, identifier, perform)


class PostMortemSubmission(PostMortemWrite):
    """Submit the draft for review (refused, with what is missing, while it is incomplete)."""

    serializer_class = serializers.Serializer

    @_doc(None, "Submit for review")
    def post(self, request, identifier):
        return self.write(
            request,
            identifier,
            lambda *, post_mortem, data: postincident.post_mortem_submit(
                post_mortem_id=post_mortem.pk, actor=request.user
            ),
        )


class PostMortemReopening(PostMortemWrite):
    """Send a post-mortem in review back to draft, saying what must change."""

    serializer_class = ReopenInput

    @_doc(ReopenInput, "Reopen", {"reason": "The timeline misses the rollback."})
    def post(self, request, identifier):
        return self.write(
            request,
            identifier,
            lambda *, post_mortem, data: postincident.post_mortem_reopen(
                post_mortem_id=post_mortem.pk, actor=request.user, reason=data["reason"]
            ),
        )


class PostMortemSignatures(PostMortemWrite):
    """Approve the post-mortem in review by electronic signature (your password; never its author)."""

    serializer_class = SignInputSerializer
    token_scopes = {"POST": ApiToken.Scope.SIGN}

    @_doc(SignInputSerializer, "Approve by signature", {"password": "…", "role": "incident_commander"})
    def post(self, request, identifier):
        return self.write(
            request,
            identifier,
            lambda *, post_mortem, data: postincident.post_mortem_approve(
                post_mortem_id=post_mortem.pk,
                signer=request.user,
                password=data["password"],
                role=Role(data["role"]),
                comment=data["comment"],
                auth=signing_auth(request),
            ),
        )


class ActionItems(PostMortemWrite):
    """Add an action item (what, who, by when) to the post-mortem."""

    serializer_class = ActionItemInput

    @_doc(
        ActionItemInput,
        "Add an action item",
        {"action": "Alert on expiry", "owner": "oncall", "due_date": "2030-01-31"},
        created=True,
    )
    def post(self, request, identifier):
        return self.write(
            request,
            identifier,
            lambda *, post_mortem, data: postincident.action_item_add(
                post_mortem_id=post_mortem.pk, actor=request.user, **data
            ),
            status.HTTP_201_CREATED,
        )


class ActionItemStatus(PostMortemWrite):
    """Set an action item's status (its owner or the change team)."""

    serializer_class = ActionItemStatusInput

    @_doc(ActionItemStatusInput, "Action item status", {"status": "done"})
    def post(self, request, identifier, item_id):
        item = _post_mortem(request, identifier).action_items.filter(pk=item_id).first()
        if item is None:
            raise Http404("No such action item on this post-mortem.")
        return self.write(
            request,
            identifier,
            lambda *, post_mortem, data: postincident.action_item_set_status(
                item_id=item.pk, actor=request.user, status=data["status"]
            ),
        )


class PreventiveMeasures(PostMortemWrite):
    """Add a preventive measure (monitoring, hardening, tests, documentation, process) to the post-mortem."""

    serializer_class = PreventiveMeasureInput

    @_doc(
        PreventiveMeasureInput,
        "Add a preventive measure",
        {"measure": "Alert 30 days before a certificate expires", "category": "monitoring", "priority": "High"},
        created=True,
    )
    def post(self, request, identifier):
        return self.write(
            request,
            identifier,
            lambda *, post_mortem, data: postincident.preventive_measure_add(
                post_mortem_id=post_mortem.pk, actor=request.user, **data
            ),
            status.HTTP_201_CREATED,
        )
