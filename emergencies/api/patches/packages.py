"""API of the emergency patch package (CM-WF-EMERGENCY §8.2, §10, §15), each write calling the same service
as its page (emergencies.views.patches): start a version, edit its texts (If-Match), approve it by electronic
signature, withdraw it, audit the configuration. Reads: the packages (filtered, ordered, cursor-paginated,
one query a page) and one package with its files and signatures. Its files are in
``emergencies.api.patches.artifacts``, its units in ``emergencies.api.patches.units``."""

from __future__ import annotations

from django.db.models import Count
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from emergencies import permissions
from emergencies.api import examples as ex
from emergencies.api.patches.common import (
    PACKAGE_PARAM,
    PACKAGE_RELATED,
    PackageWrite,
    PatchPackageDetailSerializer,
    PatchPackageSerializer,
    call,
    change_with_packages,
    fresh_package_data,
    package_data,
    package_get,
)
from emergencies.api.patches.common import (
    doc as _doc,
)
from emergencies.models.patches import PatchPackage
from emergencies.services import patches as services
from qms.api.pagination import ListPagination
from qms.api.signatures import SignInputSerializer
from qms.limits import COMMENT_MAX, TEXT_MAX
from qms.models import ApiToken
from qms.roles import Role
from qms.security import signing_auth


class PackageTextsInput(serializers.Serializer):
    summary = serializers.CharField(max_length=TEXT_MAX, required=False, allow_blank=True)
    installation_procedure = serializers.CharField(max_length=TEXT_MAX, required=False, allow_blank=True)
    verification_procedure = serializers.CharField(max_length=TEXT_MAX, required=False, allow_blank=True)
    rollback_procedure = serializers.CharField(max_length=TEXT_MAX, required=False, allow_blank=True)
    rollback_verification = serializers.CharField(max_length=TEXT_MAX, required=False, allow_blank=True)
    rollback_criteria = serializers.CharField(max_length=TEXT_MAX, required=False, allow_blank=True)
    release_notice = serializers.CharField(max_length=TEXT_MAX, required=False, allow_blank=True)


class ReasonInput(serializers.Serializer):
    reason = serializers.CharField(max_length=COMMENT_MAX)


# --- reads ---------------------------------------------------------------------------------------------


class PatchPackageList(generics.ListAPIView):
    """The patch packages of every change you may see; filter by change and status."""

    serializer_class = PatchPackageSerializer
    pagination_class = ListPagination
    orderings = {
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
        examples=ex.response("A patch package", ex.PACKAGE),
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


class PatchPackageDetail(PackageWrite):
    """One package with its files, signatures and what blocks its approval; edit a draft's texts."""

    serializer_class = PackageTextsInput

    @extend_schema(
        responses={200: PatchPackageDetailSerializer},
        parameters=[PACKAGE_PARAM],
        examples=ex.response("A patch package", ex.PACKAGE_DETAIL),
    )
    def get(self, request, package):
        return Response(package_data(request, package_get(request, package)))

    @_doc(PackageTextsInput, "Edit the texts", {"rollback_procedure": "Reload fw-2.4.0.bin from the maintenance port."})
    def patch(self, request, package):
        def perform(*, package, data):
            texts = {name: data[name] for name in PatchPackage.TEXT_FIELDS if name in data}
            return call(services.patch_package_update, package_id=package.pk, actor=request.user, texts=texts)

        return self.write(request, package, perform)


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
