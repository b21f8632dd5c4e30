"""API of the follow-up work after an emergency change, each write calling the same service as its page:
a §11.2 follow-up document of a patch-package change completed with its evidence
(``emergencies.views.patches.follow_up_complete``), and the follow-up change for a preventive measure of the
post-mortem (``emergencies.views.postincident.follow_up_create``)."""

from __future__ import annotations

from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view
from rest_framework import generics, serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from emergencies import selectors
from emergencies.api import examples as ex
from emergencies.api.changes import ChangeRecordSerializer
from emergencies.api.patches.common import call, change_with_packages
from emergencies.models import PostMortem, PreventiveMeasure
from emergencies.models.patches import FOLLOW_UP_LABELS, FollowUpDocument
from emergencies.services import patches as patch_services
from emergencies.services import postincident
from qms.api.pagination import ListPagination
from qms.limits import TEXT_MAX
from qms.models import ApiToken


class FollowUpDocumentSerializer(serializers.ModelSerializer):
    change = serializers.CharField(source="change.identifier", read_only=True)
    label = serializers.CharField(source="get_key_display", read_only=True)
    completed_by = serializers.CharField(source="completed_by.username", read_only=True)

    class Meta:
        model = FollowUpDocument
        fields = ["id", "change", "key", "label", "evidence", "reference", "completed_by", "completed_at"]
        read_only_fields = fields


class FollowUpDocumentInput(serializers.Serializer):
    key = serializers.ChoiceField(choices=list(FOLLOW_UP_LABELS), help_text="Which §11.2 document.")
    evidence = serializers.CharField(max_length=TEXT_MAX, help_text="What was produced, and where it is.")
    reference = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


@extend_schema_view(
    get=extend_schema(
        summary="List the follow-up documents done",
        responses={200: FollowUpDocumentSerializer(many=True)},
        examples=[
            OpenApiExample(
                "A follow-up document",
                value={
                    "id": 3,
                    "change": "EC-2026-0042",
                    "key": "sbom",
                    "label": "Updated SBOM",
                    "evidence": "SBOM 2.4.1 in the release register",
                    "reference": "DOC-4411",
                    "completed_by": "oncall.ana",
                    "completed_at": "2026-12-01T10:00:00Z",
                },
                response_only=True,
            )
        ],
    )
)
class FollowUpDocuments(generics.ListAPIView):
    """The §11.2 follow-up documents recorded as done for the change (in the order they were done), or record
    one of the eight as done (from the deployment on; written once)."""

    serializer_class = FollowUpDocumentInput
    token_scopes = {"POST": ApiToken.Scope.INTEGRATIONS}
    pagination_class = ListPagination
    orderings = {
        "completed_at": ("completed_at", "pk"),
        "-completed_at": ("-completed_at", "-pk"),
        "key": ("key", "pk"),
    }
    default_ordering = "completed_at"

    def get_serializer_class(self):
        return FollowUpDocumentSerializer if self.request.method == "GET" else FollowUpDocumentInput

    def get_queryset(self):
        change = change_with_packages(self.request, self.kwargs["identifier"])
        return FollowUpDocument.objects.filter(change=change).select_related("change", "completed_by")

    @extend_schema(
        request=FollowUpDocumentInput,
        responses={201: FollowUpDocumentSerializer},
        summary="Complete a follow-up document",
        examples=[
            OpenApiExample(
                "Updated SBOM",
                value={"key": "sbom", "evidence": "SBOM 2.4.1 in the release register", "reference": "DOC-4411"},
                request_only=True,
            )
        ],
    )
    def post(self, request, identifier):
        change = change_with_packages(request, identifier)
        if not patch_services.can_edit_patch(change, request.user):
            raise PermissionDenied("You may not record follow-up documentation for this change.")
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        document = call(
            patch_services.follow_up_document_complete, change_id=change.pk, actor=request.user, **data.validated_data
        )
        return Response(FollowUpDocumentSerializer(document).data, status=status.HTTP_201_CREATED)


class MeasureFollowUp(generics.GenericAPIView):
    """Create the follow-up change for a preventive measure of the post-mortem, linked both ways (once: a
    second call answers the same change, 200)."""

    serializer_class = serializers.Serializer
    token_scopes = {"POST": ApiToken.Scope.FILE_STUBS}

    @extend_schema(
        request=None,
        responses={201: ChangeRecordSerializer, 200: ChangeRecordSerializer},
        summary="Create the measure's follow-up change",
        examples=[
            OpenApiExample("No body", value={}, request_only=True),
            *ex.response("The follow-up change", ex.CHANGE),
        ],
    )
    def post(self, request, identifier, measure_id):
        change = selectors.change_get_for_user(identifier=identifier, user=request.user)
        post_mortem = PostMortem.objects.filter(change=change).first()
        if post_mortem is None:
            raise Http404("This change has no post-mortem.")
        measure = get_object_or_404(PreventiveMeasure, pk=measure_id, post_mortem=post_mortem)
        existed = measure.follow_up_id is not None
        follow_up = call(postincident.preventive_measure_follow_up_create, measure_id=measure.pk, actor=request.user)
        follow_up = selectors.change_get_for_user(identifier=follow_up.identifier, user=request.user)
        code = status.HTTP_200_OK if existed else status.HTTP_201_CREATED
        return Response(ChangeRecordSerializer(follow_up).data, status=code)
