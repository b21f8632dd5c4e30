"""API of the emergency patch package (CM-WF-EMERGENCY §8.2, §10, §15), each write calling the same service
as its page (emergencies.views.patch): start a version, edit its texts (If-Match), add files by upload or by
an entered hash, verify an entered hash (the file, or a second person's re-entry), remove a file from the
draft, approve by electronic signature, withdraw, audit the configuration. Reads: the packages (filtered,
ordered, cursor-paginated, one query a page), one package with its files and signatures, its files.

An entered hash is shown only to the one who entered it until it is verified, as on the page: the second
entry stays blind. Units and their distribution are in ``emergencies.api.patch_units``."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Count
from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import generics, serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from emergencies import permissions, selectors
from emergencies.api.changes import SignatureSerializer, SignInputSerializer, _raise_as_api_error
from emergencies.models.patch import PatchArtifact, PatchPackage, patch_package_required
from emergencies.services import patch as services
from qms.api.concurrency import ETagMixin, precondition_check
from qms.api.cursor import BoundedCursorPagination
from qms.limits import COMMENT_MAX, LINE_MAX, TEXT_MAX
from qms.models import ApiToken
from qms.roles import Role
from qms.security import signing_auth
from qms.services import signatures_for

PACKAGE_RELATED = ("change", "author", "approved_by", "configuration_audited_by")


def call(fn, fields: dict[str, str] | None = None, **kwargs):
    """A service call: its ValidationError a 400 under the API's field names, its PermissionDenied a 403."""
    try:
        return fn(**kwargs)
    except DjangoValidationError as exc:
        _raise_as_api_error(exc, fields)
    except DjangoPermissionDenied as exc:
        raise PermissionDenied(str(exc)) from exc


# --- lookups -------------------------------------------------------------------------------------------


def change_with_packages(request, identifier):
    """The change, if the user may see it and its procedure has patch packages (404 otherwise, as the page)."""
    change = selectors.change_get_for_user(identifier=identifier, user=request.user)
    if not patch_package_required(change):
        raise Http404("This change's procedure has no patch package.")
    return change


def package_get(request, package_id: str) -> PatchPackage:
    """The package named ``PATCH-…-vN``, if the user may see its change (404 otherwise)."""
    if not permissions.can_view_changes(request.user):
        raise Http404
    package = PatchPackage.objects.select_related(*PACKAGE_RELATED).filter(identifier=package_id).first()
    if package is None:
        raise Http404("No such patch package.")
    package.change = selectors.change_get_for_user(identifier=package.change.identifier, user=request.user)
    return package


def require_edit(request, package: PatchPackage) -> None:
    if not services.can_edit_patch(package.change, request.user):
        raise PermissionDenied("You may not change this patch package.")


# --- answers -------------------------------------------------------------------------------------------


class ManifestEntrySerializer(serializers.Serializer):
    filename = serializers.CharField()
    kind = serializers.CharField()
    size = serializers.IntegerField(allow_null=True)
    sha256 = serializers.CharField()


class AuditRowSerializer(serializers.Serializer):
    serial_number = serializers.CharField()
    install_status = serializers.CharField()
    reported = serializers.CharField(allow_blank=True)
    approved = serializers.CharField(allow_blank=True)
    ok = serializers.BooleanField()


class PatchArtifactSerializer(serializers.ModelSerializer):
    sha256 = serializers.SerializerMethodField(help_text="Hidden from others until an entered hash is verified.")
    added_by = serializers.CharField(source="added_by.username", read_only=True)
    verified_by = serializers.CharField(source="verified_by.username", read_only=True, default=None, allow_null=True)
    verified = serializers.BooleanField(source="is_verified", read_only=True)
    has_file = serializers.SerializerMethodField()
    verification_method = serializers.CharField(
        read_only=True, help_text="computed, upload_matched or second_entry; empty while unverified."
    )

    class Meta:
        model = PatchArtifact
        fields = ["id", "filename", "kind", "size", "sha256", "hash_source", "location", "has_file"]
        fields += ["added_by", "added_at", "verified", "verified_by", "verified_at", "verification_method"]
        read_only_fields = fields

    def get_sha256(self, obj) -> str | None:
        user = self.context.get("user")
        return obj.sha256 if obj.is_verified or (user is not None and obj.added_by_id == user.pk) else None

    def get_has_file(self, obj) -> bool:
        return bool(obj.file)


class PatchPackageSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="identifier", read_only=True)
    change = serializers.CharField(source="change.identifier", read_only=True)
    author = serializers.CharField(source="author.username", read_only=True)
    approved_by = serializers.CharField(source="approved_by.username", read_only=True, default=None, allow_null=True)
    approved_hashes = ManifestEntrySerializer(many=True, read_only=True)
    configuration_audited_by = serializers.CharField(
        source="configuration_audited_by.username", read_only=True, default=None, allow_null=True
    )
    configuration_audit = AuditRowSerializer(many=True, read_only=True)
    artifact_count = serializers.IntegerField(read_only=True)
    unit_count = serializers.IntegerField(read_only=True)
    url = serializers.CharField(source="get_absolute_url", read_only=True)

    class Meta:
        model = PatchPackage
        fields = ["id", "change", "version", "status", "author", "created_at", *PatchPackage.TEXT_FIELDS]
        fields += ["approved_by", "approved_at", "approved_hashes", "distributed_at", "withdrawn_at"]
        fields += ["withdrawal_reason", "configuration_audited_at", "configuration_audited_by"]
        fields += ["configuration_audit", "artifact_count", "unit_count", "url"]
        read_only_fields = fields


class PatchPackageDetailSerializer(PatchPackageSerializer):
    artifacts = serializers.SerializerMethodField()
    signatures = serializers.SerializerMethodField()
    approval_problems = serializers.SerializerMethodField(help_text="What must be done before approval.")

    class Meta(PatchPackageSerializer.Meta):
        fields = [*PatchPackageSerializer.Meta.fields, "artifacts", "signatures", "approval_problems"]
        read_only_fields = fields

    @extend_schema_field(PatchArtifactSerializer(many=True))
    def get_artifacts(self, obj):
        return PatchArtifactSerializer(self.context["artifacts"], many=True, context=self.context).data

    @extend_schema_field(SignatureSerializer(many=True))
    def get_signatures(self, obj):
        return SignatureSerializer(signatures_for(obj), many=True).data

    def get_approval_problems(self, obj) -> list[str]:
        return services.patch_approval_problems(obj, self.context["artifacts"]) if obj.is_draft else []


def package_data(request, package: PatchPackage) -> dict:
    artifacts = list(package.artifacts.select_related("added_by", "verified_by").order_by("kind", "filename"))
    package.artifact_count, package.unit_count = len(artifacts), package.units.count()
    context = {"user": request.user, "artifacts": artifacts}
    return PatchPackageDetailSerializer(package, context=context).data


def fresh_package_data(request, package_id: str) -> dict:
    return package_data(request, package_get(request, package_id))


def artifact_data(request, artifact: PatchArtifact) -> dict:
    return PatchArtifactSerializer(artifact, context={"user": request.user}).data


# --- inputs --------------------------------------------------------------------------------------------


class PackageTextsInput(serializers.Serializer):
    summary = serializers.CharField(max_length=TEXT_MAX, required=False, allow_blank=True)
    installation_procedure = serializers.CharField(max_length=TEXT_MAX, required=False, allow_blank=True)
    verification_procedure = serializers.CharField(max_length=TEXT_MAX, required=False, allow_blank=True)
    rollback_procedure = serializers.CharField(max_length=TEXT_MAX, required=False, allow_blank=True)
    rollback_verification = serializers.CharField(max_length=TEXT_MAX, required=False, allow_blank=True)
    rollback_criteria = serializers.CharField(max_length=TEXT_MAX, required=False, allow_blank=True)
    release_notice = serializers.CharField(max_length=TEXT_MAX, required=False, allow_blank=True)


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


class ReasonInput(serializers.Serializer):
    reason = serializers.CharField(max_length=COMMENT_MAX)


def _doc(request, summary: str, example=None, *, created=False, response=PatchPackageDetailSerializer):
    return extend_schema(
        request=request,
        responses={(201 if created else 200): response},
        summary=summary,
        examples=[OpenApiExample(summary, value=example, request_only=True)] if example is not None else None,
    )


# --- reads ---------------------------------------------------------------------------------------------


class PatchPackageList(generics.ListAPIView):
    """The patch packages of every change you may see; filter by change and status."""

    serializer_class = PatchPackageSerializer
    pagination_class = BoundedCursorPagination
    ordering_choices = {
        "-created_at": ("-created_at", "-pk"),
        "created_at": ("created_at", "pk"),
        "identifier": ("identifier",),
        "-identifier": ("-identifier",),
    }
    default_ordering = "-created_at"

    def get_queryset(self):
        if not permissions.can_view_changes(self.request.user):
            raise PermissionDenied("You hold no role in the portal.")
        params = self.request.query_params
        qs = PatchPackage.objects.select_related(*PACKAGE_RELATED)
        if params.get("status"):
            if params["status"] not in PatchPackage.Status.values:
                raise serializers.ValidationError({"status": ["Not a patch package status."]})
            qs = qs.filter(status=params["status"])
        if params.get("change"):
            qs = qs.filter(change__identifier=params["change"][:60])
        return qs.annotate(artifact_count=Count("artifacts", distinct=True), unit_count=Count("units", distinct=True))

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "status",
                enum=PatchPackage.Status.values,
                required=False,
                examples=[OpenApiExample("Approved", value="approved")],
            ),
            OpenApiParameter(
                "change",
                str,
                description="The change's identifier.",
                required=False,
                examples=[OpenApiExample("One change", value="CHG-20261201-0310")],
            ),
        ],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class PatchPackageCreate(generics.GenericAPIView):
    """Start the next version of the change's patch package (a new version copies the last one's texts)."""

    serializer_class = PackageTextsInput
    token_scopes = {"POST": ApiToken.Scope.INTEGRATIONS}

    @_doc(PackageTextsInput, "Start a patch package", {"summary": "Bounds check on the altitude filter"}, created=True)
    def post(self, request, identifier):
        change = change_with_packages(request, identifier)
        if not services.can_edit_patch(change, request.user):
            raise PermissionDenied("You may not build a patch package for this change.")
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        package = call(
            services.patch_package_create, change_id=change.pk, actor=request.user, texts=dict(data.validated_data)
        )
        return Response(fresh_package_data(request, package.identifier), status=status.HTTP_201_CREATED)


class PackageWrite(ETagMixin, generics.GenericAPIView):
    """A write on a package: look it up, refuse who may not, validate, check If-Match, call the service."""

    token_scopes = {"POST": ApiToken.Scope.INTEGRATIONS, "PATCH": ApiToken.Scope.INTEGRATIONS}
    serializer_class = serializers.Serializer

    def refuse(self, request, package) -> None:
        require_edit(request, package)

    def write(self, request, package_id, perform, code=status.HTTP_200_OK, answer=None):
        package = package_get(request, package_id)
        self.refuse(request, package)
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        precondition_check(request, lambda: package_data(request, package))
        result = perform(package=package, data=data.validated_data)
        body = answer(result) if answer else fresh_package_data(request, package_id)
        return Response(body, status=code)


class PatchPackageDetail(PackageWrite):
    """One package with its files, signatures and what blocks its approval; edit a draft's texts."""

    serializer_class = PackageTextsInput

    @extend_schema(responses={200: PatchPackageDetailSerializer})
    def get(self, request, package):
        return Response(package_data(request, package_get(request, package)))

    @_doc(PackageTextsInput, "Edit the texts", {"rollback_procedure": "Reload fw-2.4.0.bin from the maintenance port."})
    def patch(self, request, package):
        def perform(*, package, data):
            texts = {name: data[name] for name in PatchPackage.TEXT_FIELDS if name in data}
            return call(services.patch_package_update, package_id=package.pk, actor=request.user, texts=texts)

        return self.write(request, package, perform)


class PatchArtifacts(PackageWrite, generics.ListAPIView):
    """The package's files; add one by its hash (a file kept elsewhere: unverified until checked)."""

    serializer_class = ArtifactEnterInput
    pagination_class = BoundedCursorPagination
    ordering_choices = {"filename": ("filename",), "-filename": ("-filename",), "added_at": ("added_at", "pk")}
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
        parameters=[OpenApiParameter("kind", enum=PatchArtifact.Kind.values, required=False)],
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
        examples=[OpenApiExample("Upload a file", value={"kind": "patch"}, request_only=True)],
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

    def get(self, request, package, artifact_id):
        return Response(artifact_data(request, self.artifact(request, package, artifact_id)[1]))

    @extend_schema(responses={204: None}, summary="Remove a file from the draft")
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


class PatchPackageSignatures(PackageWrite):
    """Approve the draft by electronic signature (a configuration or release manager, never its author): the
    signature covers every file and freezes their hashes."""

    serializer_class = SignInputSerializer
    token_scopes = {"POST": ApiToken.Scope.SIGN}

    def refuse(self, request, package) -> None:
        if not services.can_approve_patch(package, request.user):
            raise PermissionDenied("You may not approve this patch package.")

    @_doc(SignInputSerializer, "Approve by signature", {"password": "…", "role": "cm", "comment": "Hashes checked"})
    def post(self, request, package):
        return self.write(
            request,
            package,
            lambda *, package, data: call(
                services.patch_package_approve,
                package_id=package.pk,
                signer=request.user,
                password=data["password"],
                role=Role(data["role"]),
                comment=data["comment"],
                auth=signing_auth(request),
            ),
        )


class PatchPackageWithdrawal(PackageWrite):
    """Withdraw the package, saying why; a new version can then be built."""

    serializer_class = ReasonInput

    @_doc(ReasonInput, "Withdraw", {"reason": "Wrong build: the filter bound is off by one"})
    def post(self, request, package):
        return self.write(
            request,
            package,
            lambda *, package, data: call(
                services.patch_package_withdraw, package_id=package.pk, actor=request.user, reason=data["reason"]
            ),
        )


class ConfigurationAudit(PackageWrite):
    """Compare what every unit reports as deployed with the approved hashes, and keep the result."""

    @_doc(None, "Configuration audit")
    def post(self, request, package):
        return self.write(
            request,
            package,
            lambda *, package, data: call(
                services.patch_configuration_audit, package_id=package.pk, actor=request.user
            ),
        )
