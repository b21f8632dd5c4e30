"""API of procedures under document control: drafts of the next version (start, import YAML, edit), submit for
review, approve by electronic signature, send back, publish now or at a date, withdraw. Each write calls the
service of ``qms.services.procedure_drafts``; each answers the draft as ``GET /procedure-drafts/{id}/`` does."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_field, extend_schema_view
from rest_framework import generics, serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from qms.api import examples as ex
from qms.api.problems import _call_service
from qms.api.signatures import SignatureSerializer, SignInputSerializer
from qms.limits import COMMENT_MAX, TITLE_MAX
from qms.models import ApiToken, ProcedureDraft
from qms.procedures.yaml import YAML_MAX_BYTES, yaml_to_definition
from qms.roles import Role
from qms.security import signing_auth
from qms.services import procedure_drafts as pd
from qms.services import signatures_for
from qms.services.procedure_schedule import procedure_schedule_cancel


class ProcedureDraftSerializer(serializers.ModelSerializer):
    procedure = serializers.CharField(source="procedure.code", read_only=True)
    title = serializers.CharField(source="procedure.title", read_only=True)
    base_version = serializers.IntegerField(source="base_version.version", read_only=True, default=None)
    published_version = serializers.IntegerField(source="published_version.version", read_only=True, default=None)
    author = serializers.CharField(source="author.username", read_only=True)
    changes = serializers.SerializerMethodField(help_text="The changes from the version in force, in words.")
    missing_roles = serializers.SerializerMethodField(help_text="Approver roles that have not signed yet.")
    signatures = serializers.SerializerMethodField()

    class Meta:
        model = ProcedureDraft
        fields = [
            *("id", "procedure", "title", "base_version", "status", "author", "change_note", "definition"),
            *("submitted_at", "effective_from", "published_version", "changes", "missing_roles", "signatures"),
        ]
        read_only_fields = fields

    def get_changes(self, obj) -> list[str]:
        return pd.draft_diff(obj)

    def get_missing_roles(self, obj) -> list[str]:
        return [r.value for r in pd.draft_missing_roles(obj)] if obj.status == ProcedureDraft.Status.IN_REVIEW else []

    @extend_schema_field(SignatureSerializer(many=True))
    def get_signatures(self, obj) -> list[dict]:
        return SignatureSerializer(signatures_for(obj), many=True).data


class DraftCreateInput(serializers.Serializer):
    procedure = serializers.SlugField(
        max_length=64, required=False, help_text="Start from this procedure's version in force (or the new code)."
    )
    yaml = serializers.CharField(
        max_length=YAML_MAX_BYTES, required=False, help_text="A procedure file (schema qms-procedure/1) to import."
    )
    title = serializers.CharField(max_length=TITLE_MAX, required=False, help_text="A new procedure's title.")
    copy_from = serializers.SlugField(max_length=64, required=False, help_text="A new procedure copies this one.")
    change_note = serializers.CharField(max_length=COMMENT_MAX, required=False, allow_blank=True, default="")

    def validate(self, attrs):
        if not attrs.get("yaml") and not attrs.get("procedure"):
            raise serializers.ValidationError({"procedure": ["Name the procedure, or give a YAML file."]})
        return attrs


class DraftUpdateInput(serializers.Serializer):
    definition = serializers.JSONField(required=False, help_text="The whole definition.")
    definition_yaml = serializers.CharField(
        max_length=YAML_MAX_BYTES, required=False, help_text="The whole definition, as YAML."
    )
    change_note = serializers.CharField(max_length=COMMENT_MAX, required=False, allow_blank=True)


class PublishInput(serializers.Serializer):
    effective_from = serializers.DateTimeField(required=False, allow_null=True, help_text="Now when absent.")


class DraftReasonInput(serializers.Serializer):
    reason = serializers.CharField(max_length=COMMENT_MAX)


def _visible(request):
    if not request.user.roles:
        raise PermissionDenied("You hold no role in the portal.")
    return ProcedureDraft.objects.select_related("procedure", "base_version", "author", "published_version")


def _answer(draft, code=status.HTTP_200_OK):
    draft = ProcedureDraft.objects.select_related("procedure", "base_version", "author", "published_version").get(
        pk=draft.pk
    )
    return Response(ProcedureDraftSerializer(draft).data, status=code)


@extend_schema_view(get=extend_schema(examples=ex.response("A draft", ex.DRAFT)))
class ProcedureDraftList(generics.ListAPIView):
    """List procedure drafts, or start one: from a procedure's version in force, a YAML file, or a new
    procedure (give ``title``; blank, or a copy of ``copy_from``)."""

    serializer_class = ProcedureDraftSerializer
    orderings = {"created_at": ("created_at", "pk"), "-created_at": ("-created_at", "-pk")}
    default_ordering = "-created_at"

    def get_queryset(self):
        drafts = _visible(self.request)
        if self.request.query_params.get("status"):
            drafts = drafts.filter(status=self.request.query_params["status"])
        return drafts

    @extend_schema(
        request=DraftCreateInput,
        responses={201: ProcedureDraftSerializer},
        examples=[
            OpenApiExample(
                "Start a draft",
                value={"procedure": "emergency-bypass-workflow", "change_note": "Security signs every L2 bypass."},
                request_only=True,
            ),
            *ex.response("The draft", ex.DRAFT),
        ],
    )
    def post(self, request):
        if not request.user.has_role(*pd.EDITOR_ROLES):
            raise PermissionDenied("Only a QMS coordinator or a quality manager edits procedures.")
        data = DraftCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        if v.get("yaml"):
            draft = _call_service(pd.procedure_draft_import, text=v["yaml"], actor=request.user)
        elif v.get("title"):
            draft = _call_service(
                pd.procedure_create,
                code=v["procedure"],
                title=v["title"],
                copy_from=v.get("copy_from", ""),
                change_note=v["change_note"],
                actor=request.user,
            )
        else:
            draft = _call_service(
                pd.procedure_draft_start,
                procedure_code=v["procedure"],
                actor=request.user,
                change_note=v["change_note"],
            )
        return _answer(draft, status.HTTP_201_CREATED)


class ProcedureDraftDetail(generics.GenericAPIView):
    """A draft with its changes in words; PATCH edits it (its author, while it is a draft)."""

    serializer_class = ProcedureDraftSerializer

    def get_object(self):
        draft = _visible(self.request).filter(pk=self.kwargs["draft_id"]).first()
        if draft is None:
            raise Http404
        return draft

    @extend_schema(examples=ex.response("A draft", ex.DRAFT))
    def get(self, request, draft_id):
        return _answer(self.get_object())

    @extend_schema(
        request=DraftUpdateInput,
        responses={200: ProcedureDraftSerializer},
        examples=[
            OpenApiExample(
                "Edit the draft",
                value={"change_note": "Security signs every L2 bypass; quality reviews."},
                request_only=True,
            ),
            *ex.response("The draft", ex.DRAFT),
        ],
    )
    def patch(self, request, draft_id):
        draft = self.get_object()
        data = DraftUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        if "definition_yaml" in v:
            definition = _call_service(yaml_to_definition, text=v["definition_yaml"])
        else:
            definition = v.get("definition", draft.definition)
        draft = _call_service(
            pd.procedure_draft_update,
            draft_id=draft.pk,
            actor=request.user,
            definition=definition,
            change_note=v.get("change_note", draft.change_note),
        )
        return _answer(draft)


class _DraftAction(ProcedureDraftDetail):
    http_method_names = ["post", "options"]


class ProcedureDraftSubmission(_DraftAction):
    """Submit the draft for review (its author; refused with the fields at fault while the engine cannot run it)."""

    @extend_schema(
        request=None, responses={200: ProcedureDraftSerializer}, examples=[*ex.response("The draft", ex.DRAFT)]
    )
    def post(self, request, draft_id):
        draft = self.get_object()
        return _answer(_call_service(pd.procedure_draft_submit, draft_id=draft.pk, actor=request.user))


class ProcedureDraftSignatures(_DraftAction):
    """Approve the draft in review by electronic signature (your password; never its author)."""

    token_scopes = {"POST": ApiToken.Scope.SIGN}

    @extend_schema(
        request=SignInputSerializer,
        responses={200: ProcedureDraftSerializer},
        examples=[
            OpenApiExample(
                "Approve by signature",
                value={"password": "…", "role": "quality", "comment": "Reviewed"},
                request_only=True,
            ),
            *ex.response("The draft", ex.DRAFT),
        ],
    )
    def post(self, request, draft_id):
        draft = self.get_object()
        data = SignInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        draft = _call_service(
            pd.procedure_draft_approve,
            draft_id=draft.pk,
            signer=request.user,
            password=v["password"],
            role=Role(v["role"]),
            comment=v["comment"],
            auth=signing_auth(request),
        )
        return _answer(draft)


class _ReasonedAction(_DraftAction):
    """A draft action whose only input is a reason."""

    def reasoned(self, request, service):
        draft = self.get_object()
        data = DraftReasonInput(data=request.data)
        data.is_valid(raise_exception=True)
        reason = data.validated_data["reason"]
        return _answer(_call_service(service, draft_id=draft.pk, actor=request.user, reason=reason))


class ProcedureDraftReturn(_ReasonedAction):
    """Send a draft in review back to its author, saying why; approvals given lapse."""

    @extend_schema(
        request=DraftReasonInput,
        responses={200: ProcedureDraftSerializer},
        examples=[
            OpenApiExample("Return to the author", value={"reason": "The L3 signers are missing."}, request_only=True),
            *ex.response("The draft", ex.DRAFT),
        ],
    )
    def post(self, request, draft_id):
        return self.reasoned(request, pd.procedure_draft_return)


class ProcedureDraftPublication(_DraftAction):
    """Publish an approved draft as the next version, in force now or from ``effective_from``."""

    @extend_schema(
        request=PublishInput,
        responses={200: ProcedureDraftSerializer},
        examples=[
            OpenApiExample("Publish", value={"effective_from": "2026-12-15T00:00:00Z"}, request_only=True),
            *ex.response("The draft", ex.DRAFT),
        ],
    )
    def post(self, request, draft_id):
        draft = self.get_object()
        data = PublishInput(data=request.data)
        data.is_valid(raise_exception=True)
        return _answer(
            _call_service(
                pd.procedure_draft_publish,
                draft_id=draft.pk,
                actor=request.user,
                effective_from=data.validated_data.get("effective_from"),
            )
        )


class ProcedureDraftWithdrawal(_ReasonedAction):
    """The author withdraws an unpublished draft, saying why."""

    @extend_schema(
        request=DraftReasonInput,
        responses={200: ProcedureDraftSerializer},
        examples=[
            OpenApiExample("Withdraw", value={"reason": "Superseded by draft 5."}, request_only=True),
            *ex.response("The draft", ex.DRAFT),
        ],
    )
    def post(self, request, draft_id):
        return self.reasoned(request, pd.procedure_draft_withdraw)


class ProcedureScheduleCancellation(_ReasonedAction):
    """Cancel a scheduled version before its date, saying why (a QMS coordinator or quality manager); the
    version in force stays in force and the cancelled one never takes effect."""

    @extend_schema(
        request=DraftReasonInput,
        responses={200: ProcedureDraftSerializer},
        examples=[
            OpenApiExample(
                "Cancel before it takes effect", value={"reason": "Wrong effective date"}, request_only=True
            ),
            *ex.response("The draft", ex.DRAFT),
        ],
    )
    def post(self, request, draft_id):
        return self.reasoned(request, procedure_schedule_cancel)
