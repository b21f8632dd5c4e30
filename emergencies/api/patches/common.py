"""What the patch package API's modules share (emergencies.api.patches.packages, .patch_artifacts, .patch_units): the
lookups (a package is seen by whoever sees its change, 404 otherwise), the answers (a package with its files
and signatures; a file, whose entered hash stays hidden from all but its author until verified, as on the
page), the service call that turns a service's refusal into a problem, and the base of every package write."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import generics, serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from emergencies import permissions, selectors
from emergencies.api import examples as ex
from emergencies.models.patches import PatchArtifact, PatchPackage, patch_package_required
from emergencies.services import patches as services
from qms.api.concurrency import ETagMixin, precondition_check
from qms.api.problems import _raise_as_api_error
from qms.api.signatures import SignatureSerializer
from qms.models import ApiToken
from qms.services import signatures_for

PACKAGE_RELATED = ("change", "author", "approved_by", "configuration_audited_by")
PACKAGE_ID_REGEX = r"PATCH-[A-Z0-9]+(?:-[A-Z0-9]+)*-v[0-9]{1,9}"
SERIAL_REGEX = r"[^/]{1,100}"


class PackageIdConverter:
    """``PATCH-…-v<version>`` in a URL (the OpenAPI schema gives it as the parameter's pattern)."""

    regex = PACKAGE_ID_REGEX

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


class SerialConverter(PackageIdConverter):
    """A unit's serial number: up to 100 characters, no slash."""

    regex = SERIAL_REGEX


PACKAGE_PARAM = OpenApiParameter(
    "package",
    str,
    OpenApiParameter.PATH,
    description="The package's identifier: PATCH-…-v<version>.",
    pattern=f"^{PACKAGE_ID_REGEX}$",
    examples=[OpenApiExample("A package", value="PATCH-EMG-20261201-0310-v1")],
)
ARTIFACT_PARAM = OpenApiParameter(
    "artifact_id", int, OpenApiParameter.PATH, examples=[OpenApiExample("A file", value=1)]
)


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


def doc(request, summary: str, example=None, *, created=False, response=PatchPackageDetailSerializer):
    return extend_schema(
        request=request,
        responses={(201 if created else 200): response},
        summary=summary,
        examples=[
            *([OpenApiExample(summary, value=example, request_only=True)] if example is not None else []),
            *ex.response("The package after it", ex.PACKAGE_DETAIL),
        ],
    )
