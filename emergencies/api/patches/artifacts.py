"""API of a patch package's files, each write calling the same service as its page (emergencies.views.patches):
add one by upload (the portal computes its SHA-256 as it streams) or by an entered hash (a file kept
elsewhere), verify an entered hash (the file uploaded, or a second person's blind re-entry), remove one from
the draft. Reads: the files (cursor-paginated) and one file; an entered hash is shown only to its author until
verified."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response

from emergencies.api import examples as ex
from emergencies.api.patches.common import (
    ARTIFACT_PARAM,
    PACKAGE_PARAM,
    PackageWrite,
    PatchArtifactSerializer,
    artifact_data,
    call,
    package_get,
    require_edit,
)
from emergencies.api.patches.common import (
    doc as _doc,
)
from emergencies.models.patches import PatchArtifact, PatchPackage
from emergencies.services import patches as services
from qms.api.concurrency import ETagMixin, precondition_check
from qms.api.pagination import ListPagination
from qms.limits import LINE_MAX
from qms.models import ApiToken


class ArtifactUploadInput(serializers.Serializer):
    file = serializers.FileField()
    kind = serializers.ChoiceField(choices=PatchArtifact.Kind.choices, default=PatchArtifact.Kind.PATCH)
    expected_sha256 = serializers.CharField(
        max_length=100, required=False, allow_blank=True, default="", help_text="The upload is refused if it differs."
    )


class ArtifactEnterInput(serializers.Serializer):
    filename = serializers.CharField(max_length=255)
    sha256 = serializers.CharField(max_length=100)
    kind = serializers.ChoiceField(choices=PatchArtifact.Kind.choices, default=PatchArtifact.Kind.PATCH)
    size = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=2**62)
    location = serializers.CharField(max_length=LINE_MAX, required=False, allow_blank=True, default="")


class ArtifactVerifyInput(serializers.Serializer):
    file = serializers.FileField(required=False, help_text="The file: its SHA-256 is computed and compared.")
    sha256 = serializers.CharField(
        max_length=100, required=False, allow_blank=True, help_text="…or the hash re-entered from your own source."
    )

    def validate(self, attrs):
        if bool(attrs.get("file")) == bool((attrs.get("sha256") or "").strip()):
            raise serializers.ValidationError("Upload the file or re-enter the hash (one of the two).")
        return attrs


class ArtifactHashInput(serializers.Serializer):
    sha256 = serializers.CharField(max_length=100, help_text="The hash re-entered from your own source.")


class PatchArtifacts(PackageWrite, generics.ListAPIView):
    """The package's files; add one by its hash (a file kept elsewhere: unverified until checked)."""

    serializer_class = ArtifactEnterInput
    pagination_class = ListPagination
    orderings = {"filename": ("filename",), "-filename": ("-filename",), "added_at": ("added_at", "pk")}
    default_ordering = "filename"

    def get_queryset(self):
        package = package_get(self.request, self.kwargs["package"])
        qs = package.artifacts.select_related("added_by", "verified_by")
        kind = self.request.query_params.get("kind")
        if kind:
            if kind not in PatchArtifact.Kind.values:
                raise serializers.ValidationError({"kind": ["Not a kind of artifact."]})
            qs = qs.filter(kind=kind)
        return qs

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "user": self.request.user}

    @extend_schema(
        responses={200: PatchArtifactSerializer(many=True)},
        examples=ex.response("A file", ex.ARTIFACT),
        parameters=[
            PACKAGE_PARAM,
            OpenApiParameter(
                "kind",
                enum=PatchArtifact.Kind.values,
                required=False,
                examples=[OpenApiExample("Patch files", value="patch")],
            ),
        ],
    )
    def get(self, request, package):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(
            PatchArtifactSerializer(page, many=True, context={"user": request.user}).data
        )

    @_doc(
        ArtifactEnterInput,
        "Enter a file's hash",
        {"filename": "fw-2.4.1.bin", "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"},
        created=True,
        response=PatchArtifactSerializer,
    )
    def post(self, request, package):
        return self.write(
            request,
            package,
            lambda *, package, data: call(
                services.patch_artifact_enter, package_id=package.pk, actor=request.user, **data
            ),
            status.HTTP_201_CREATED,
            answer=lambda artifact: artifact_data(request, artifact),
        )


class PatchArtifactUpload(PackageWrite):
    """Upload a file to the draft (multipart): the portal computes its SHA-256 as it streams."""

    serializer_class = ArtifactUploadInput

    @extend_schema(
        request={"multipart/form-data": ArtifactUploadInput},
        responses={201: PatchArtifactSerializer},
        summary="Upload a file",
        examples=[
            OpenApiExample(
                "Upload a file",
                value={"file": "fw-2.4.1.bin", "kind": "patch"},
                request_only=True,
                media_type="multipart/form-data",
            ),
            *ex.response("The file uploaded", ex.ARTIFACT),
        ],
    )
    def post(self, request, package):
        return self.write(
            request,
            package,
            lambda *, package, data: call(
                services.patch_artifact_upload, package_id=package.pk, actor=request.user, **data
            ),
            status.HTTP_201_CREATED,
            answer=lambda artifact: artifact_data(request, artifact),
        )


class ArtifactWrite(ETagMixin, generics.GenericAPIView):
    token_scopes = {"POST": ApiToken.Scope.INTEGRATIONS, "DELETE": ApiToken.Scope.INTEGRATIONS}

    def artifact(self, request, package_id, artifact_id) -> tuple[PatchPackage, PatchArtifact]:
        package = package_get(request, package_id)
        artifact = get_object_or_404(
            PatchArtifact.objects.select_related("added_by", "verified_by"), pk=artifact_id, package=package
        )
        return package, artifact


class PatchArtifactDetail(ArtifactWrite):
    """One file; remove it from the draft (its history keeps that it was there)."""

    serializer_class = PatchArtifactSerializer

    @extend_schema(parameters=[PACKAGE_PARAM, ARTIFACT_PARAM], examples=ex.response("A file", ex.ARTIFACT))
    def get(self, request, package, artifact_id):
        return Response(artifact_data(request, self.artifact(request, package, artifact_id)[1]))

    @extend_schema(
        responses={204: None},
        summary="Remove a file from the draft",
    )
    def delete(self, request, package, artifact_id):
        package, artifact = self.artifact(request, package, artifact_id)
        require_edit(request, package)
        precondition_check(request, lambda: artifact_data(request, artifact))
        call(services.patch_artifact_remove, artifact_id=artifact.pk, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class PatchArtifactVerification(ArtifactWrite):
    """Verify an entered hash: upload the file (multipart), or, as a second person, re-enter the hash (JSON)."""

    serializer_class = ArtifactVerifyInput

    @extend_schema(
        request={"application/json": ArtifactHashInput, "multipart/form-data": ArtifactVerifyInput},
        responses={200: PatchArtifactSerializer},
        summary="Verify a hash",
        examples=[
            OpenApiExample(
                "Re-enter the hash",
                value={"sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"},
                request_only=True,
            )
        ],
    )
    def post(self, request, package, artifact_id):
        package, artifact = self.artifact(request, package, artifact_id)
        require_edit(request, package)
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        precondition_check(request, lambda: artifact_data(request, artifact))
        if data.validated_data.get("file"):
            call(
                services.patch_artifact_verify_upload,
                artifact_id=artifact.pk,
                actor=request.user,
                file=data.validated_data["file"],
            )
        else:
            call(
                services.patch_artifact_verify_entry,
                artifact_id=artifact.pk,
                actor=request.user,
                sha256=data.validated_data["sha256"],
            )
        return Response(artifact_data(request, self.artifact(request, package.identifier, artifact.pk)[1]))
