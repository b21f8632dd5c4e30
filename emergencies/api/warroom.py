"""API of an emergency's war room, each write calling the same service as its page (emergencies.views.warroom):
the responders' entries (listed with a cursor, posted, corrected by a new entry, never edited) and picking
timeline rows for the post-mortem."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view
from rest_framework import generics, serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from emergencies import permissions, selectors
from emergencies.api import examples as ex
from emergencies.api.postmortem import PostMortemSerializer, _post_mortem
from emergencies.models import WarRoomEntry
from emergencies.services import warroom
from qms.api.concurrency import ETagMixin, precondition_check
from qms.api.pagination import ListPagination
from qms.api.problems import _call_service
from qms.models import ApiToken


class WarRoomEntrySerializer(serializers.ModelSerializer):
    posted_by = serializers.CharField(source="posted_by.username", read_only=True)
    corrects = serializers.IntegerField(source="corrects_id", read_only=True, allow_null=True)

    class Meta:
        model = WarRoomEntry
        fields = ["id", "kind", "text", "posted_by", "posted_at", "corrects"]
        read_only_fields = fields


class WarRoomEntryInput(serializers.Serializer):
    kind = serializers.ChoiceField(choices=WarRoomEntry.Kind.values, default=WarRoomEntry.Kind.NOTE)
    text = serializers.CharField(max_length=4000)
    corrects = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, help_text="The id of the entry this one corrects."
    )


class PrefillInput(serializers.Serializer):
    rows = serializers.ListField(
        child=serializers.CharField(max_length=100),
        allow_empty=False,
        max_length=500,
        help_text="Keys of rows of the war-room timeline.",
    )


class EntryPagination(ListPagination):
    page_size = 50


@extend_schema_view(get=extend_schema(examples=ex.response("A war-room entry", ex.WAR_ROOM_ENTRY)))
class WarRoomEntries(generics.ListCreateAPIView):
    """The responders' entries of the change's war room (oldest first by default), or post one: a note,
    decision, call or action, with the server's time; a correction names the entry it corrects."""

    serializer_class = WarRoomEntrySerializer
    pagination_class = EntryPagination
    orderings = {"posted_at": ("posted_at", "pk"), "-posted_at": ("-posted_at", "-pk")}
    default_ordering = "posted_at"
    token_scopes = {"POST": ApiToken.Scope.INTEGRATIONS}

    def get_queryset(self):
        change = selectors.change_get_for_user(identifier=self.kwargs["identifier"], user=self.request.user)
        return WarRoomEntry.objects.filter(change=change).select_related("posted_by")

    @extend_schema(
        request=WarRoomEntryInput,
        responses={201: WarRoomEntrySerializer},
        summary="Post a war-room entry",
        examples=[
            OpenApiExample(
                "Post a war-room entry", value={"kind": "decision", "text": "Roll back to 4.1"}, request_only=True
            )
        ],
    )
    def post(self, request, identifier):
        change = selectors.change_get_for_user(identifier=identifier, user=request.user)
        if not warroom.can_post_war_room(request.user, change):
            raise PermissionDenied("You may not write in this war room.")
        data = WarRoomEntryInput(data=request.data)
        data.is_valid(raise_exception=True)
        corrects = data.validated_data.get("corrects")
        if corrects is not None and not WarRoomEntry.objects.filter(change=change, pk=corrects).exists():
            raise serializers.ValidationError({"corrects": ["No such entry in this war room."]})
        entry = _call_service(
            warroom.war_room_entry_post,
            change_id=change.pk,
            kind=data.validated_data["kind"],
            text=data.validated_data["text"],
            corrects_id=corrects,
            actor=request.user,
        )
        entry = WarRoomEntry.objects.select_related("posted_by").get(pk=entry.pk)
        return Response(WarRoomEntrySerializer(entry).data, status=status.HTTP_201_CREATED)


class PostMortemTimelinePrefill(ETagMixin, generics.GenericAPIView):
    """Add picked rows of the war-room timeline to the post-mortem's timeline (each once), while a draft."""

    serializer_class = PrefillInput
    token_scopes = {"POST": ApiToken.Scope.INTEGRATIONS}

    @extend_schema(
        request=PrefillInput,
        responses={200: PostMortemSerializer},
        summary="Post-mortem timeline from the war room",
        examples=[
            OpenApiExample(
                "Post-mortem timeline from the war room", value={"rows": ["inc-12-detected"]}, request_only=True
            )
        ],
    )
    def post(self, request, identifier):
        change = selectors.change_get_for_user(identifier=identifier, user=request.user)
        post_mortem = _post_mortem(request, identifier)
        if not permissions.can_work_on_change(change, request.user):
            raise PermissionDenied("Start the post-mortem first; only those working on the change edit it.")
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        precondition_check(request, lambda: PostMortemSerializer(post_mortem).data)
        _call_service(
            warroom.post_mortem_timeline_prefill,
            post_mortem_id=post_mortem.pk,
            keys=data.validated_data["rows"],
            actor=request.user,
        )
        return Response(PostMortemSerializer(_post_mortem(request, identifier)).data)
